"""A hospital's part in an audited study: train with recorded steps, commit, later prove the
steps the ledger challenges; and, on the committee, check and commit models in fixed point.

The study fixes the circuit, the learning rate, the clipping norm, the expected batch and the
number of steps; the proving key is the ceremony's, found at ``<keys_dir>/zk/<vk sha256>.pk``.
An audited participant submits as its update exactly its committed final weights minus the
round's model (``linked``), so that the aggregator can check the update against the
committed final weights (trusted mode; secure mode cannot, see docs/verifiable-training.md).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from agent.merkle import MerkleTree
from agent.privacy import Release
from agent.training import RoundResult
from agent.zk import binary
from agent.zk.audited_training import AuditedTraining, AuditTrail
from agent.zk.circuit_grid import ONE, quantize
from chaincode.contracts import zk_audit, zk_circuits


def training_config(study: dict[str, Any], round_no: int, msp_id: str, epsilon: float, rounds: int = 1,
                    history: tuple[Release, ...] = ()) -> AuditedTraining:  # fmt: skip
    """The audited round's plan; ``epsilon`` covers ``history``, this round and ``rounds - 1``
    more (agent/privacy.py)."""
    p = study["params"]
    capacity = zk_circuits.parse(p["zk_circuit"]).capacity
    return AuditedTraining(circuit=p["zk_circuit"], capacity=capacity, steps=p["local_steps"],
                           learning_rate_ppm=p["learning_rate_ppm"], clip_ppm=p["clip_ppm"],
                           expected_batch=p["expected_batch"],
                           round_tag=zk_audit.round_tag(study["study_id"], round_no, msp_id), epsilon=epsilon,
                           delta=p["delta_e12"] / 1e12, rounds=rounds, history=history)  # fmt: skip


def sigma_micro(result: RoundResult) -> int:
    return math.ceil(result.noise_multiplier * 1_000_000)


def trail(result: RoundResult) -> AuditTrail:
    if not isinstance(result.audit, AuditTrail):
        raise ValueError("this round was not trained for an audited study: no steps were recorded to prove")
    return result.audit


def linked(result: RoundResult, weights_in: np.ndarray) -> RoundResult:
    """The result with, as its update, the committed final weights minus the round's model
    (float32): adding it back to the model and rounding to the 2^-12 grid gives exactly the
    committed final weights, which the aggregator can check (trusted mode)."""
    final = np.asarray(trail(result).snapshots[-1], dtype=np.float64) / ONE
    return dataclasses.replace(result, update=(final - np.asarray(weights_in, dtype=np.float64)).astype(np.float32))


def commit_fields(result: RoundResult) -> dict[str, Any]:
    """The audited study's extra ``Round:Commit`` arguments."""
    return {"step_count": result.step_count, "final_commitment": trail(result).final_commitment,
            "noise_multiplier_micro": sigma_micro(result)}  # fmt: skip


def saved_steps(result: RoundResult) -> dict[str, Any]:
    """What the journal keeps to prove any step later (salts as decimal strings)."""
    t = trail(result)
    return {"snapshots": t.snapshots, "batches": [{**b, "salt": str(b["salt"])} for b in t.batches],
            "leaves": [x.hex() for x in t.leaves], "sigma_micro": sigma_micro(result)}  # fmt: skip


def proving_key(keys_dir: Path, vk_hash: str) -> Path:
    path = keys_dir / "zk" / f"{vk_hash}.pk"
    if not path.exists():
        raise FileNotFoundError(f"no proving key for verifying key {vk_hash[:12]}... at {path} (from the ceremony)")
    return path


def step_inputs(params: dict[str, Any], tag: int, saved: dict[str, Any], steps: list[int]) -> list[dict[str, Any]]:
    """What ``fedledger-zk prove`` takes for each of ``steps``: the recorded step with the
    public parameters exactly as the ledger derives them from the study's ``params``."""
    lr, clip, batch = zk_audit.fixed_params(params)
    bound = str(zk_audit.noise_bound(len(saved["snapshots"][0]), saved["sigma_micro"], params["clip_ppm"]))
    return [{"w_before": saved["snapshots"][i], "w_after": saved["snapshots"][i + 1],
             "x": saved["batches"][i]["x"], "y": saved["batches"][i]["y"], "salt": saved["batches"][i]["salt"],
             "step": i, "round": str(tag), "lr": lr, "clip": clip, "expected_batch": batch, "noise_bound": bound}
            for i in steps]  # fmt: skip


def proof_args(study: dict[str, Any], round_no: int, msp_id: str, saved: dict[str, Any], audits: list[int],
               pk: Path) -> dict[str, Any]:  # fmt: skip
    """``Round:SubmitProof`` arguments: openings of each audited leaf and its successor, and
    one Groth16 proof per audited step, with exactly the public inputs the ledger computes."""
    p = study["params"]
    steps = step_inputs(p, zk_audit.round_tag(study["study_id"], round_no, msp_id), saved, audits)
    proofs = binary.prove(p["zk_circuit"], pk, steps)
    leaves = [bytes.fromhex(x) for x in saved["leaves"]]
    tree = MerkleTree(leaves)
    openings = []
    for i in sorted(zk_audit.required_leaves(audits, len(leaves))):
        raw = leaves[i]
        openings.append({"index": i, "w_before": raw[8:40].hex(), "batch": raw[40:72].hex(),
                         "w_after": raw[72:104].hex(), "path": [[s, h.hex()] for s, h in tree.proof(i)]})  # fmt: skip
    return {"study_id": study["study_id"], "round": round_no, "openings": openings,
            "proofs": [{"index": i, "proof": pr["proof"]} for i, pr in zip(audits, proofs, strict=True)]}  # fmt: skip


def weights_commitment(circuit: str, weights: np.ndarray) -> str:
    """The Poseidon2 commitment of weights rounded to the 2^-12 grid (as the circuit sees them)."""
    return binary.commitments(circuit, [quantize(weights)], [])[0][0]


def update_matches(circuit: str, weights_in: np.ndarray, update: np.ndarray, final_commitment: str) -> bool:
    """Trusted mode: does the update lead exactly to the weights the participant committed?"""
    final = np.asarray(weights_in, dtype=np.float64) + np.asarray(update, dtype=np.float64)
    return weights_commitment(circuit, final) == final_commitment
