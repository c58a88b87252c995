"""Checking a participant's audited training steps: Merkle openings, chaining, and Groth16
proofs verified by ``fedledger-zk verify`` (zk/), all deterministic.

For every audited step i of a commitment with n steps the participant opens leaf i and, when
i + 1 < n, leaf i + 1 (each with its SHA-256 Merkle path to the committed ``step_root``), and
proves step i. The ledger checks:

* every opened leaf is in the committed tree at its index;
* the chain around the audited step: w_after(i) = w_before(i + 1); for i = 0, w_before(0) is
  the commitment of the round's input model; for i = n - 1, w_after is the committed final
  weights;
* the proof verifies under the study's pinned verifying key for public inputs the ledger
  computes itself: the leaf's three commitments, i, the round tag (study, round, hospital),
  the study's learning rate, clipping norm and expected batch, and the noise bound from the
  noise multiplier the participant committed.

Leaf encoding (as agent/zk/audited_training.py builds it): i (8 bytes, big endian) ||
commit(w_before) || commit(batch) || commit(w_after), each commitment 32 bytes.

``Round:SubmitProof``, which applies these checks to a round, is in chaincode/contracts/rounds/audit.py.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
from typing import Any

F = 12
TAG_BITS = 248
NOISE_TAIL = 6  # ||z|| <= (sqrt(D + 1) + 6) sigma C fails for honest noise with probability < 1e-8
LEAF, NODE = b"\x00", b"\x01"  # as agent/merkle.py
# gnark's compressed BN254 Groth16 proof: Ar and Krs (32 bytes each), Bs (64), the commitment
# count (4), one commitment and its proof of knowledge (32 each). Studies size the proof
# submission with it (rounds/audit.py: proof_capacity_problem); tests/unit/test_zk_audits.py checks it.
PROOF_BYTES = 196
# the largest learning rate and clipping norm the circuit takes, at scale 2^F (zk/circuit/step.go
# publicRanges; both must also be at least 1)
MAX_LR, MAX_CLIP = 4 << F, 16 << F


class VerifierUnavailable(RuntimeError):
    """The verifier binary is missing or broke: an infrastructure fault, never a failed audit."""


def round_tag(study_id: str, round_no: int, msp_id: str) -> int:
    digest = hashlib.sha256(f"fedledger-zk|{study_id}|{round_no}|{msp_id}".encode()).digest()
    return int.from_bytes(digest, "big") >> (256 - TAG_BITS)


def fixed_params(params: dict[str, Any]) -> tuple[int, int, int]:
    """The circuit's LR, Clip (scale 2^12) and ExpectedBatch from the study's parameters."""
    return (
        (params["learning_rate_ppm"] << F) // 1_000_000,
        (params["clip_ppm"] << F) // 1_000_000,
        params["expected_batch"],
    )


def noise_bound(dim: int, sigma_micro: int, clip_ppm: int) -> int:
    """ceil(((sqrt(dim) + 6) sigma C)^2 2^(2F)), in integers: the bound on ||z||^2."""
    root_micro = math.isqrt(dim * 10**12) + 1  # >= sqrt(dim) in millionths
    a = root_micro + NOISE_TAIL * 10**6
    numerator = (a * sigma_micro * clip_ppm) ** 2 << (2 * F)
    return -(-numerator // 10**36)


def leaf_bytes(index: int, opened: dict[str, str]) -> bytes:
    return index.to_bytes(8, "big") + b"".join(bytes.fromhex(opened[k]) for k in ("w_before", "batch", "w_after"))


def merkle_verify(leaf: bytes, path: list[list[str]], root_hex: str) -> bool:
    node = hashlib.sha256(LEAF + leaf).digest()
    for side, sibling_hex in path:
        sibling = bytes.fromhex(sibling_hex)
        pair = sibling + node if side == "left" else node + sibling
        node = hashlib.sha256(NODE + pair).digest()
    return node.hex() == root_hex


def public_inputs(index: int, opened: dict[str, str], tag: int, params: dict[str, Any], sigma_micro: int,
                  dim: int) -> list[str]:  # fmt: skip
    lr, clip, batch = fixed_params(params)
    values = [int(opened["w_before"], 16), int(opened["w_after"], 16), int(opened["batch"], 16), index, tag, lr,
              clip, batch, noise_bound(dim, sigma_micro, params["clip_ppm"])]  # fmt: skip
    return [str(v) for v in values]


def verify_proofs(circuit: str, vk_b64: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run ``fedledger-zk verify``; one {valid, error?} per item."""
    path = os.environ.get("FEDLEDGER_ZK")
    if not path or not os.path.exists(path):
        raise VerifierUnavailable("fedledger-zk is not installed where the chaincode runs (FEDLEDGER_ZK)")
    request = json.dumps({"vk": vk_b64, "items": items}).encode()
    try:
        proc = subprocess.run([path, "verify", "--circuit", circuit], input=request, capture_output=True,
                              timeout=60, check=False)  # fmt: skip
    except (subprocess.TimeoutExpired, OSError) as exc:
        raise VerifierUnavailable(f"fedledger-zk verify did not run to the end: {exc}") from None
    if proc.returncode != 0:
        raise VerifierUnavailable(f"fedledger-zk verify failed: {proc.stderr.decode(errors='replace')[:300]}")
    results = json.loads(proc.stdout)["results"]
    if len(results) != len(items):
        raise VerifierUnavailable("fedledger-zk verify answered for a different number of proofs")
    return results


def check_openings(audits: list[int], steps: int, root: str, opened: dict[int, dict[str, Any]],
                   model_in: str, final: str) -> list[str]:  # fmt: skip
    """Problems with the openings (empty when every path and chain link holds)."""
    problems = []
    for i, leaf in sorted(opened.items()):
        if not merkle_verify(leaf_bytes(i, leaf), leaf["path"], root):
            problems.append(f"leaf {i} is not in the committed step tree")
    for i in audits:
        if i + 1 < steps and opened[i]["w_after"] != opened[i + 1]["w_before"]:
            problems.append(f"step {i} does not chain into step {i + 1} (weights after != weights before)")
        if i == 0 and opened[0]["w_before"] != model_in:
            problems.append("step 0 does not start from the round's model")
        if i == steps - 1 and opened[i]["w_after"] != final:
            problems.append(f"step {i} does not end at the committed final weights")
    return problems


def required_leaves(audits: list[int], steps: int) -> set[int]:
    return {i for a in audits for i in (a, a + 1) if i < steps}
