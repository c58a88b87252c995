"""Binding a masked input to the committed update: the agent's side of
chaincode/contracts/binding.py (which says why and what the ledger checks).

A participant's summand in a bound round is ``bound_input``: its update on the circuits'
2^-12 grid (final weights minus the round's start weights) times its consented record count,
encoded as the masking encodes it, followed by two blinding elements it committed to. After the
ledger draws the round's point ``z`` the participant proves the summand's value there
(``prove``, the ``bind-w<N>`` circuit) and publishes the value at ``z`` of each mask it shares
with another committed participant (``pair_values``). After the reveal, each committee member
computes every included input's value at ``z`` with its self mask and the masks shared with
excluded participants removed (``unmasked_values``), and for each disputed pair the pair mask's
value (``pair_truths``); the ledger compares.
"""

from __future__ import annotations

import base64
import secrets as random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric import x25519

from agent.secagg import field
from agent.secagg.masking import pair_mask, pairwise_seed, self_mask
from agent.zk import binary

GRID = 1 << 12  # the circuits' fixed point (zk/fixed)
BLINDING_ELEMENTS = 2  # after the update's elements


@dataclass(frozen=True)
class Blinding:
    """The two uniformly random elements at the end of a bound summand and the salt of their
    commitment; kept in the participant's journal until the round ends."""

    salt: int
    rho0: int
    rho1: int

    @classmethod
    def new(cls) -> Blinding:
        return cls(random.randbelow(field.P), random.randbelow(field.P), random.randbelow(field.P))

    def to_json(self) -> dict[str, str]:
        return {"salt": str(self.salt), "rho0": str(self.rho0), "rho1": str(self.rho1)}

    @classmethod
    def from_json(cls, raw: dict[str, str]) -> Blinding:
        return cls(int(raw["salt"]), int(raw["rho0"]), int(raw["rho1"]))

    def commitment(self) -> str:
        """``Round:Commit``'s ``bind_commitment``."""
        return binary.blind_commitment(self.salt, self.rho0, self.rho1)


def grid_update(w_start: list[int], w_final: list[int]) -> np.ndarray:
    """The update the binding covers: final minus start weights, both on the 2^-12 grid (exact)."""
    return (np.asarray(w_final, dtype=np.int64) - np.asarray(w_start, dtype=np.int64)).astype(np.float64) / GRID


def bound_input(w_start: list[int], w_final: list[int], samples: int, blinding: Blinding) -> np.ndarray:
    """The participant's summand: ``samples`` times the grid update, encoded, then the blinding."""
    if samples < 1:
        raise ValueError("a bound input needs a positive sample count")
    encoded = field.encode(grid_update(w_start, w_final) * samples)
    return np.concatenate([encoded, field.from_ints([blinding.rho0, blinding.rho1])])


SMALL = 4096  # vectors up to this many elements are evaluated here; longer ones by fedledger-zk


def evaluate(v: np.ndarray, z: int) -> int:
    """sum_k v_k z^k mod P."""
    return evaluate_many([v], z)[0]


def evaluate_many(vectors: list[np.ndarray], z: int) -> list[int]:
    """The value at ``z`` of each vector (all of one length): Horner's rule here for short
    vectors, fedledger-zk's field arithmetic for long ones (a million coordinates take Python
    ints about 0.1 s per vector, the Go side a few milliseconds)."""
    if not vectors:
        return []
    n = len(vectors[0])
    if n > SMALL:
        return binary.field_values(b"".join(field.to_bytes(v) for v in vectors), n, z)
    out = []
    for v in vectors:
        acc = 0
        for c in reversed(field.ints(v)):
            acc = (acc * z + c) % field.P
        out.append(acc)
    return out


def _public(b64: str) -> x25519.X25519PublicKey:
    return x25519.X25519PublicKey.from_public_bytes(base64.b64decode(b64))


def pair_values(me: str, round_key: x25519.X25519PrivateKey, publics: dict[str, str], peers: list[str], ctx: str,
                elements: int, z: int) -> dict[str, str]:  # fmt: skip
    """The value at ``z`` of the mask ``me`` shares with each of ``peers`` (their round public
    keys in ``publics``), as ``Round:SubmitBinding`` takes them."""
    masks = [pair_mask(pairwise_seed(round_key, _public(publics[peer]), me, peer, ctx), elements) for peer in peers]
    return {peer: str(v) for peer, v in zip(peers, evaluate_many(masks, z), strict=True)}


def prove(circuit: str, pk: Path, w_start: list[int], w_final: list[int], samples: int, z: int,
          blinding: Blinding, norm_bound: int) -> dict[str, Any]:  # fmt: skip
    """The binding proof: {value (decimal), proof (base64), public (its public inputs), prove_s}."""
    out = binary.prove_binding(circuit, pk, {"w_start": w_start, "w_final": w_final, "samples": samples,
                                             "point": str(z), **blinding.to_json(),
                                             "norm_bound": str(norm_bound)})  # fmt: skip
    return {"value": out["value"], "proof": out["proof"], "public": out["public"], "prove_s": out["prove_s"]}


def unmasked_inputs(masked: dict[str, np.ndarray], self_seeds: dict[str, bytes],
                    dropped_keys: dict[str, x25519.X25519PrivateKey], publics: dict[str, str],
                    ctx: str) -> dict[str, np.ndarray]:  # fmt: skip
    """Per included participant, its masked input with its self mask and the masks it shares
    with the ``dropped`` (revealed round keys) taken off: its input plus the masks it shares
    with the other included participants, which cancel in the sum."""
    out = {}
    for i, x in masked.items():
        y = field.sub(x, self_mask(self_seeds[i], len(x)))
        for d, key in dropped_keys.items():
            m = pair_mask(pairwise_seed(key, _public(publics[i]), d, i, ctx), len(x))
            y = field.sub(y, m) if i < d else field.add(y, m)  # i added the pair's mask when it sorts first
        out[i] = y
    return out


def unmasked_values(masked: dict[str, np.ndarray], self_seeds: dict[str, bytes],
                    dropped_keys: dict[str, x25519.X25519PrivateKey], publics: dict[str, str], ctx: str,
                    z: int) -> dict[str, str]:  # fmt: skip
    """Per included participant, the value at ``z`` of ``unmasked_inputs``: what the ledger
    compares with its bound value plus its pair values."""
    return values_at(unmasked_inputs(masked, self_seeds, dropped_keys, publics, ctx), z)


def values_at(inputs: dict[str, np.ndarray], z: int) -> dict[str, str]:
    """Each vector's value at ``z`` (decimal), all in one evaluation."""
    names = sorted(inputs)
    return {i: str(v) for i, v in zip(names, evaluate_many([inputs[i] for i in names], z), strict=True)}


def pair_truths(disputes: list[dict[str, str]], revealed_keys: dict[str, x25519.X25519PrivateKey],
                publics: dict[str, str], ctx: str, elements: int, z: int) -> dict[str, str]:  # fmt: skip
    """For each disputed pair (both ends' round keys revealed), the value at ``z`` of its mask."""
    out = {}
    for d in disputes:
        a, b = d["pair"].split("|")
        seed = pairwise_seed(revealed_keys[a], _public(publics[b]), a, b, ctx)
        out[d["pair"]] = str(evaluate(pair_mask(seed, elements), z))
    return out
