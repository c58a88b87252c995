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
import functools
import secrets as random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric import x25519

from agent.secagg import field, long_vectors
from agent.secagg.field import expand
from agent.secagg.masking import PAIR, SELF, pairwise_seed
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


def evaluate(v: np.ndarray, z: int) -> int:
    """sum_k v_k z^k mod P."""
    return evaluate_many([v], z)[0]


def evaluate_many(vectors: list[np.ndarray], z: int) -> list[int]:
    """The value at ``z`` of each vector (all of one length): Horner's rule here for short
    vectors, fedledger-zk's field arithmetic for long ones (a million coordinates take Python
    ints about 0.1 s per vector, the Go side about 20 ms)."""
    if not vectors:
        return []
    n = len(vectors[0])
    if n > long_vectors.SMALL:
        return long_vectors.values(vectors, [], n, z)
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
    seeds = [pairwise_seed(round_key, _public(publics[peer]), me, peer, ctx) for peer in peers]
    got = _mask_values([(seed, PAIR) for seed in seeds], elements, z)
    return {peer: str(v) for peer, v in zip(peers, got, strict=True)}


def _mask_values(masks: list[tuple[bytes, bytes]], elements: int, z: int) -> list[int]:
    """The value at ``z`` of each (seed, label) mask expanded to ``elements`` elements: by
    fedledger-zk for long vectors, here for short ones."""
    if elements > long_vectors.SMALL:
        return long_vectors.values([], [(seed, label, False) for seed, label in masks], elements, z)
    return evaluate_many([expand(seed, elements, label) for seed, label in masks], z)


def prove(circuit: str, pk: Path, w_start: list[int], w_final: list[int], samples: int, z: int,
          blinding: Blinding, norm_bound: int) -> dict[str, Any]:  # fmt: skip
    """The binding proof: {value (decimal), proof (base64), public (its public inputs), prove_s}."""
    out = binary.prove_binding(circuit, pk, {"w_start": w_start, "w_final": w_final, "samples": samples,
                                             "point": str(z), **blinding.to_json(),
                                             "norm_bound": str(norm_bound)})  # fmt: skip
    return {"value": out["value"], "proof": out["proof"], "public": out["public"], "prove_s": out["prove_s"]}


def unmask_and_check(masked: dict[str, np.ndarray], self_seeds: dict[str, bytes],
                     dropped_keys: dict[str, x25519.X25519PrivateKey], publics: dict[str, str], ctx: str,
                     z: int) -> tuple[dict[str, str], np.ndarray]:  # fmt: skip
    """What a member computes after the reveal, from one reading of the masked inputs: per
    included participant the value at ``z`` of its input with its self mask and the masks it
    shares with the ``dropped`` (revealed round keys) taken off, which the ledger compares with
    its bound value plus its pair values; and the unmasked sum (the masks shared among the
    included cancel in it). The values follow by linearity from those of the inputs and masks."""
    names = sorted(masked)
    n = len(masked[names[0]])
    specs: list[long_vectors.MaskSpec] = []
    owner: list[str] = []
    for i in names:
        specs.append((self_seeds[i], SELF, True))
        owner.append(i)
        for d, key in sorted(dropped_keys.items()):  # i added the pair's mask when it sorts first
            specs.append((pairwise_seed(key, _public(publics[i]), d, i, ctx), PAIR, i < d))
            owner.append(i)
    vectors = [masked[i] for i in names]
    if n > long_vectors.SMALL:
        total, got = long_vectors.masked_sum_and_values(vectors, specs, n, z)
    else:
        expanded = [expand(seed, n, label) for seed, label, _ in specs]
        total = functools.reduce(field.add, vectors)
        for (_, _, subtract), m in zip(specs, expanded, strict=True):
            total = field.sub(total, m) if subtract else field.add(total, m)
        got = evaluate_many(vectors + expanded, z)
    values = dict(zip(names, got[: len(names)], strict=True))
    for (_, _, subtract), i, v in zip(specs, owner, got[len(names) :], strict=True):
        values[i] += -v if subtract else v
    return {i: str(values[i] % field.P) for i in names}, total


def unmasked_values(masked: dict[str, np.ndarray], self_seeds: dict[str, bytes],
                    dropped_keys: dict[str, x25519.X25519PrivateKey], publics: dict[str, str], ctx: str,
                    z: int) -> dict[str, str]:  # fmt: skip
    """The values of ``unmask_and_check`` alone."""
    return unmask_and_check(masked, self_seeds, dropped_keys, publics, ctx, z)[0]


def pair_truths(disputes: list[dict[str, str]], revealed_keys: dict[str, x25519.X25519PrivateKey],
                publics: dict[str, str], ctx: str, elements: int, z: int) -> dict[str, str]:  # fmt: skip
    """For each disputed pair (both ends' round keys revealed), the value at ``z`` of its mask."""
    out = {}
    for d in disputes:
        a, b = d["pair"].split("|")
        seed = pairwise_seed(revealed_keys[a], _public(publics[b]), a, b, ctx)
        out[d["pair"]] = str(_mask_values([(seed, PAIR)], elements, z)[0])
    return out
