"""The ledger's side of *binding* in secure aggregation: each masked input must be the update the
hospital committed to, and that update must be small.

Why: the committee only ever sees the sum, so without this a hospital could train and prove
honestly, then mask any vector it likes. The rules (agent side: agent/secagg/binding.py):

* **Commit.** With its masked input's hash a participant commits to its final weights
  (``final_commitment``, Poseidon2; in an audited study the last step of its proven chain) and
  to two blinding field elements (``bind_commitment``). Its masked input is
  ``u = encode(n (w_final - w_start)) || rho0 || rho1`` plus its masks, over the BN254 scalar
  field ``P`` (agent/secagg/field.py), ``n`` its consented record count.
* **Point.** When commitments close the ledger derives a point ``z`` from the commitments'
  challenge seed (:func:`bind_point`): fixed after every masked input, so no input can be
  fitted to it.
* **Bind** (``Round:SubmitBinding``, in PROVE). The participant publishes ``v = u(z)`` with a
  Groth16 proof (circuit ``bind-w<weights>``, zk/circuit/bind.go) that ``v`` is the value at
  ``z`` of the vector its commitments define and that ``||w_final - w_start||^2`` is within
  the study's bound; and, for every other committed participant ``j``, ``pi_ij``, the value
  at ``z`` of the mask it shares with ``j``. Every endorser verifies the proof (a failure
  excludes and slashes like a failed audit). Both ends of a pair publish the pair's value; if
  they disagree one of them lied, and both are excluded (:func:`disputes`; their round keys
  are revealed, so the committee can tell afterwards who lied, :func:`liars`).
* **Check** (in AGGREGATE). After the reveal each committee member computes, per included
  participant ``i``, ``y_i(z)`` where ``y_i`` is its masked input minus its self mask and the
  masks shared with excluded participants, and votes with it; on ``t`` matching votes the
  ledger checks ``y_i(z) = v_i + sum_j s_ij pi_ij`` over the other included ``j``
  (:func:`failures`; ``s_ij`` is +1 when ``i`` sorts before ``j``: the masking's sign). An
  input that fails was not the committed update: its sender is slashed and excluded, and its
  round key is revealed as well (a second reveal) so the others' masks against it come off.

Soundness rests on ``z`` being drawn after the inputs: two different vectors of ``d`` elements
agree at a random point with probability at most ``(d + 2) / P`` (about 2^-236 for a million
coordinates). The values published reveal nothing about an update: ``v_i`` is uniform because
of the blinding, and the pair values are values of pseudorandom masks.
"""

from __future__ import annotations

import hashlib
from typing import Any

from chaincode.contracts import zk_circuits
from chaincode.contracts.registry import MSP_ID
from chaincode.runtime.errors import InvalidArgument
from chaincode.runtime.schema import Field, Str

P = 21888242871839275222246405745257275088548364400416034343698204186575808495617
F = 12  # the circuits' fractional bits (zk/fixed)
DECIMAL = r"(0|[1-9][0-9]{0,76})"
MAX_ENTRIES = 64


def parse_element(name: str, value: str) -> int:
    """A decimal field element (the schema checked the digits)."""
    v = int(value)
    if v >= P:
        raise InvalidArgument(f"{name} is not below the field order")
    return v


class Element(Str):
    """A field element as a decimal string."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_len=77, pattern=DECIMAL, **kwargs)

    def check(self, name: str, value: Any) -> str:
        text = super().check(name, value)
        if text is not None:
            parse_element(name, text)
        return text


class ElementMap(Field):
    """Keys (MSP IDs, or ``A|B`` pairs of them) -> decimal field elements."""

    def __init__(self, pairs: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pairs = pairs

    def check(self, name: str, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or len(value) > MAX_ENTRIES:
            raise InvalidArgument(f"{name} must map at most {MAX_ENTRIES} keys to decimal field elements")
        out = {}
        for key, v in value.items():
            if self.pairs:
                if not isinstance(key, str) or key.count("|") != 1:
                    raise InvalidArgument(f"{name} keys must be 'A|B' pairs of MSP IDs")
                a, b = key.split("|")
                Str(max_len=64, pattern=MSP_ID).check(f"{name} key", a)
                Str(max_len=64, pattern=MSP_ID).check(f"{name} key", b)
            else:
                Str(max_len=64, pattern=MSP_ID).check(f"{name} key", key)
            out[key] = Element().check(f"{name}.{key}", v)
        return out


def bind_circuit(zk_circuit: str) -> str:
    """The binding circuit of the study's model (its weight count from the step circuit's name)."""
    return zk_circuits.bind_name(zk_circuits.parse(zk_circuit).weights)


def norm_bound(update_norm_micro: int) -> int:
    """floor((bound * 2^F)^2): the bound on sum_j (W1_j - W0_j)^2 with W on the 2^-F grid."""
    return (update_norm_micro << F) ** 2 // 10**12


def bind_point(challenge_seed_hex: str) -> int:
    """The evaluation point of a round: from its challenge seed, never zero."""
    digest = hashlib.sha256(b"fedledger-bind-point|" + bytes.fromhex(challenge_seed_hex)).digest()
    return int.from_bytes(digest, "big") % P or 1


def public_inputs(model_in: str, commit: dict[str, Any], point: int, value: int, bound: int) -> list[str]:
    """The binding proof's public inputs, in the circuit's order (zk/circuit/bind.go), each
    computed here from the ledger's records: WStart, WFinal, Blind, Samples, Point, Value,
    NormBound."""
    return [str(v) for v in (int(model_in, 16), int(commit["final_commitment"], 16),
                             int(commit["bind_commitment"], 16), commit["consented_records"], point, value,
                             bound)]  # fmt: skip


def sign(me: str, other: str) -> int:
    """+1 if ``me`` added the pair's mask (it sorts first), -1 if it subtracted it."""
    return 1 if me < other else -1


def pair_key(a: str, b: str) -> str:
    return "|".join(sorted((a, b)))


def disputes(records: dict[str, dict[str, Any]], among: list[str]) -> list[dict[str, str]]:
    """Pairs of ``among`` (participants with a verified binding) whose two published pair values
    differ: at least one of the two lied."""
    out = []
    for i, a in enumerate(sorted(among)):
        for b in sorted(among)[i + 1 :]:
            va, vb = records[a]["pair_values"][b], records[b]["pair_values"][a]
            if va != vb:
                out.append({"pair": pair_key(a, b), a: va, b: vb})
    return out


def liars(dispute: dict[str, str], truth: str) -> list[str]:
    """The ends of a disputed pair whose published value is not the committee's ``truth``."""
    a, b = dispute["pair"].split("|")
    return [m for m in (a, b) if dispute[m] != truth]


def expected(records: dict[str, dict[str, Any]], i: str, included: list[str]) -> int:
    """What ``y_i(z)`` must be: v_i + sum_j s_ij pi_ij over the other included participants."""
    total = int(records[i]["value"])
    for j in included:
        if j != i:
            total += sign(i, j) * int(records[i]["pair_values"][j])
    return total % P


def failures(evaluations: dict[str, str], records: dict[str, dict[str, Any]], included: list[str]) -> list[str]:
    """Included participants whose unmasked value at z is not their bound one."""
    return sorted(i for i in included if int(evaluations[i]) != expected(records, i, included))
