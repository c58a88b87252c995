"""An audited participant for ledger tests: honest DP-SGD steps of a small logistic regression
(D = 2 features, batches of at most 4) recorded and committed exactly as the agent does, real
Groth16 proofs from ``fedledger-zk`` under one-party test keys, and the ways to cheat."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent.merkle import MerkleTree
from agent.zk import binary
from agent.zk.audited_training import leaf
from agent.zk.circuit_grid import ONE, new_salt
from chaincode.contracts import zk_audit

CIRCUIT, D, B = "logreg-d2-b4", 2, 4
MODEL = "logreg-d2-c2"  # the study's model: the one CIRCUIT proves
SIGMA_MICRO, LR_PPM, CLIP_PPM, EXPECTED_BATCH = 1_000_000, 500_000, 1_000_000, 3


@dataclass(frozen=True)
class Keys:
    pk: Path
    vk_b64: str

    @property
    def vk_hash(self) -> str:
        return hashlib.sha256(base64.b64decode(self.vk_b64)).hexdigest()


def dev_keys(directory: Path) -> Keys:
    pk, vk = directory / "pk", directory / "vk"
    if not pk.exists():
        binary.dev_setup(CIRCUIT, pk, vk)
    return Keys(pk, base64.b64encode(vk.read_bytes()).decode())


def initial_weights() -> list[int]:
    return [int(0.2 * ONE), int(-0.1 * ONE), int(0.05 * ONE)]


def commitment_of(weights: list[int]) -> str:
    return binary.commitments(CIRCUIT, [weights], [])[0][0]


@dataclass
class Participant:
    """One hospital's audited round: steps, commitments and proofs."""

    msp_id: str
    study_id: str
    round_no: int
    steps: int
    seed: int
    snapshots: list[list[int]] = field(default_factory=list)
    batches: list[dict[str, Any]] = field(default_factory=list)
    leaves: list[bytes] = field(default_factory=list)
    w_commits: list[str] = field(default_factory=list)

    @property
    def tag(self) -> int:
        return zk_audit.round_tag(self.study_id, self.round_no, self.msp_id)

    def train(self, start: list[int]) -> None:
        rng = np.random.default_rng(self.seed)
        w = np.array(start, dtype=np.float64) / ONE
        sigma, clip, lr = SIGMA_MICRO / 1e6, CLIP_PPM / 1e6, LR_PPM / 1e6
        for _ in range(self.steps):
            n = int(rng.integers(1, B + 1))
            x = np.round(rng.normal(0, 1, (n, D)) * ONE) / ONE
            y = rng.integers(0, 2, n)
            self.snapshots.append([int(v) for v in np.rint(w * ONE)])
            self.batches.append({"x": [[int(v) for v in np.rint(r * ONE)] for r in x], "y": [int(v) for v in y],
                                 "salt": new_salt()})  # fmt: skip
            grads = np.zeros(D + 1)
            for xi, yi in zip(x, y, strict=True):
                g = (1 / (1 + np.exp(-(w[:D] @ xi + w[D]))) - yi) * np.append(xi, 1.0)
                grads += g * min(1.0, clip / max(np.linalg.norm(g), 1e-12))
            w = w - lr * (grads + rng.normal(0, sigma * clip, D + 1)) / EXPECTED_BATCH
        self.snapshots.append([int(v) for v in np.rint(w * ONE)])
        self.commit_leaves()

    def commit_leaves(self) -> None:
        requests = [{"round": str(self.tag), "step": i, "salt": str(b["salt"]), "x": b["x"], "y": b["y"]}
                    for i, b in enumerate(self.batches)]  # fmt: skip
        self.w_commits, b_commits = binary.commitments(CIRCUIT, self.snapshots, requests)
        self.leaves = [leaf(i, self.w_commits[i], b_commits[i], self.w_commits[i + 1]) for i in range(self.steps)]

    @property
    def tree(self) -> MerkleTree:
        return MerkleTree(self.leaves)

    def commit_args(self) -> dict[str, Any]:
        return {"step_root": self.tree.root.hex(), "step_count": self.steps, "final_commitment": self.w_commits[-1],
                "noise_multiplier_micro": SIGMA_MICRO,
                "update_hash": hashlib.sha256(self.leaves[-1]).hexdigest()}  # fmt: skip

    def step_input(self, i: int) -> dict[str, Any]:
        lr = LR_PPM * ONE // 1_000_000
        clip = CLIP_PPM * ONE // 1_000_000
        return {"w_before": self.snapshots[i], "w_after": self.snapshots[i + 1], "x": self.batches[i]["x"],
                "y": self.batches[i]["y"], "salt": str(self.batches[i]["salt"]), "step": i, "round": str(self.tag),
                "lr": lr, "clip": clip, "expected_batch": EXPECTED_BATCH,
                "noise_bound": str(zk_audit.noise_bound(D + 1, SIGMA_MICRO, CLIP_PPM))}  # fmt: skip

    def opening(self, i: int) -> dict[str, Any]:
        raw = self.leaves[i]
        return {"index": i, "w_before": raw[8:40].hex(), "batch": raw[40:72].hex(), "w_after": raw[72:104].hex(),
                "path": [[side, h.hex()] for side, h in self.tree.proof(i)]}  # fmt: skip

    def proof_args(self, audits: list[int], keys: Keys) -> dict[str, Any]:
        proofs = binary.prove(CIRCUIT, keys.pk, [self.step_input(i) for i in audits])
        openings = [self.opening(i) for i in sorted(zk_audit.required_leaves(audits, self.steps))]
        return {"openings": openings,
                "proofs": [{"index": i, "proof": p["proof"]} for i, p in zip(audits, proofs, strict=True)]}  # fmt: skip


# --- the ways to cheat ------------------------------------------------------------------------------
CHEATS = ("fabricated update", "another hospital's proof", "another round's proof", "trained on other data",
          "skipped steps (broken chain)", "forged proof bytes")  # fmt: skip


def prepare_cheater(cheat: str, p: Participant, honest: Participant) -> None:
    """What the cheater commits to (``honest`` has already trained)."""
    if cheat == "fabricated update":  # a free-rider: no training, weights wander at random
        rng = np.random.default_rng(99)
        p.snapshots = [initial_weights()] + [[int(v) for v in rng.integers(-2000, 2000, D + 1)] for _ in range(p.steps)]
        p.batches = honest.batches
        p.commit_leaves()
        return
    p.train(initial_weights())
    if cheat == "skipped steps (broken chain)":  # every leaf ends somewhere other than where the next starts
        jump = commitment_of([w + 1 for w in p.snapshots[1]])
        p.leaves = [leaf(i, p.w_commits[i], p.leaves[i][40:72].hex(), jump) for i in range(p.steps)]


def cheating_proofs(cheat: str, p: Participant, honest: Participant, audits: list[int], keys: Keys) -> dict[str, Any]:
    """The SubmitProof arguments the cheater hands in for its audited steps."""
    needed = sorted(zk_audit.required_leaves(audits, p.steps))
    if cheat in ("fabricated update", "another hospital's proof"):
        # someone else's valid proofs of the same step numbers, with the cheater's own openings
        args = honest.proof_args(audits, keys)
        args["openings"] = [p.opening(i) for i in needed]
    elif cheat == "another round's proof":
        p.round_no += 5  # proofs made under another round's tag
        args = p.proof_args(audits, keys)
        p.round_no -= 5
    elif cheat == "trained on other data":
        original = [dict(b) for b in p.batches]
        for i in audits:
            p.batches[i] = {**p.batches[i], "x": [[v + 40 for v in row] for row in p.batches[i]["x"]]}
        args = p.proof_args(audits, keys)
        p.batches = original
    elif cheat == "skipped steps (broken chain)":
        args = {"openings": [p.opening(i) for i in needed],
                "proofs": [{"index": i, "proof": base64.b64encode(bytes(196)).decode()} for i in audits]}  # fmt: skip
    elif cheat == "forged proof bytes":
        args = p.proof_args(audits, keys)
        for item in args["proofs"]:
            raw = bytearray(base64.b64decode(item["proof"]))
            raw[40] ^= 0x01
            item["proof"] = base64.b64encode(bytes(raw)).decode()
    else:
        raise ValueError(cheat)
    return args
