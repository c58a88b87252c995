"""Audited studies on a consortium: the circuit's keys, their registration on the ledger and
their distribution to the hospitals' agents.

``dev_keys`` makes one-party keys (for tests and benchmarks: whoever ran it could forge
proofs); the consortium's multi-party ceremony is ``fedledger-zk ceremony`` (zk/ceremony).
Either way the verifying key is registered with ``Zk:RegisterKey`` and pinned by its SHA-256 in
the study; each agent finds the proving key at ``<keys_dir>/zk/<vk sha256>.pk``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.daemon.config import AgentConfig
from agent.zk import binary
from agent.zk.participant import weights_commitment
from clients.fabric import GatewayError
from clients.ledger import Ceremony, Zk
from network.admins import Admins


@dataclass(frozen=True)
class ZkKeys:
    circuit: str
    pk: Path
    vk: Path
    ceremony: Ceremony  # the record Zk:RegisterKey stores

    @property
    def vk_b64(self) -> str:
        return base64.b64encode(self.vk.read_bytes()).decode()

    @property
    def vk_hash(self) -> str:
        return hashlib.sha256(self.vk.read_bytes()).hexdigest()


def dev_keys(directory: Path, circuit: str, party: str) -> ZkKeys:
    """One-party keys, cached in ``directory`` (tests and benchmarks only)."""
    directory.mkdir(parents=True, exist_ok=True)
    pk, vk = directory / f"{circuit}.pk", directory / f"{circuit}.vk"
    if not (pk.exists() and vk.exists()):
        binary.dev_setup(circuit, pk, vk)
    digest = hashlib.sha256(vk.read_bytes()).hexdigest()
    ceremony = {"phase1": [digest], "phase2": [digest], "contributors": [party], "beacon1": "00", "beacon2": "00"}
    return ZkKeys(circuit, pk, vk, ceremony)


def register(admins: Admins, keys: ZkKeys) -> str:
    """Register the verifying key as the first hospital's admin, committed on every hospital's
    peer before returning (idempotent); returns its SHA-256."""
    try:
        admins.tx(admins.names[0], Zk.register_key(keys.circuit, keys.vk_b64, keys.ceremony))
    except GatewayError as exc:
        if exc.chaincode_status != 409:
            raise
    return keys.vk_hash


def distribute(keys: ZkKeys, agents: dict[str, AgentConfig]) -> None:
    """Give every hospital's agent the proving key (it is public: what matters is who made it)."""
    distribute_to_keys_dirs(keys, [cfg.keys_dir for cfg in agents.values()])


def distribute_to_keys_dirs(keys: ZkKeys, keys_dirs: list[Path]) -> None:
    """Put the proving key where an agent with each of ``keys_dirs`` looks for it."""
    for keys_dir in keys_dirs:
        target = keys_dir / "zk" / f"{keys.vk_hash}.pk"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            shutil.copyfile(keys.pk, target)


def audit_params(keys: ZkKeys, initial_weights: np.ndarray, audit_rate_ppm: int, local_steps: int,
                 expected_batch: int = 16) -> dict[str, Any]:  # fmt: skip
    """The study parameters of an audited study with these keys."""
    return {"audit_rate_ppm": audit_rate_ppm, "local_steps": local_steps, "zk_circuit": keys.circuit,
            "zk_vk_hash": keys.vk_hash, "model_commitment": weights_commitment(keys.circuit, initial_weights),
            **training_rule(expected_batch)}  # fmt: skip


def training_rule(expected_batch: int = 16) -> dict[str, int]:
    """The rule every audited step of the demo's studies follows (learning rate, clipping norm,
    expected Poisson batch)."""
    return {"learning_rate_ppm": 500_000, "clip_ppm": 1_000_000, "expected_batch": expected_batch}


def _ledger_id(net: Any, org: str) -> str:
    """The channel's genesis block hash, short: ceremony caches belong to the ledger whose
    blocks gave their beacons (a purged and recreated network runs its own ceremony)."""
    from network.topology import CHANNEL

    with net.gateway(org, "User1") as gw:
        return hashlib.sha256(gw.network(CHANNEL).block_bytes(0)).hexdigest()[:12]


def _ledger_beacon(net: Any, org: str) -> str:
    """Public randomness nobody could know before the contributions: the hash of the latest
    block on the channel, read once every contribution of the phase is done."""
    from network.topology import CHANNEL

    with net.gateway(org, "User1") as gw:
        network = gw.network(CHANNEL)
        return hashlib.sha256(network.block_bytes(network.height() - 1)).hexdigest()


def _contribute_in_turn(phase: str, orgs: list[Any], work: Path, say: Any) -> tuple[list[str], list[str]]:
    """Each hospital adds its randomness to the phase's transcript in turn (``<p>-0`` is the
    start); returns the SHA-256 of every contribution and their files, in order."""
    tag = "p1" if phase == "phase1" else "p2"
    hashes, files = [], []
    for i, org in enumerate(orgs, 1):
        out = binary.call(["ceremony", f"{phase}-contribute", "--in", str(work / f"{tag}-{i - 1}"),
                           "--out", str(work / f"{tag}-{i}")])  # fmt: skip
        hashes.append(out["sha256"])
        files.append(str(work / f"{tag}-{i}"))
        say(f"  {phase}: {org.name} contributed ({out['seconds']:.0f} s), transcript {out['sha256'][:12]}...")
    return hashes, files


def setup_power(circuit: str) -> int:
    """Phase 1's size: the smallest power of two holding the circuit's constraints (gnark's
    phase 2 needs at least that many; more only costs time)."""
    return max(4, (binary.call(["info", "--circuit", circuit])["constraints"] - 1).bit_length())


def _deps_hash() -> str:
    """The zk module's dependency versions (go.sum): phase-1 files follow gnark's format, not
    our circuits, so they stay valid while only the circuits change."""
    return hashlib.sha256((Path(__file__).resolve().parents[1] / "zk" / "go.sum").read_bytes()).hexdigest()[:12]


def _phase1(net: Any, orgs: list[Any], power: int, home: Path, say: Any) -> tuple[Path, dict[str, Any]]:
    """Powers of tau for 2^power, one contribution per hospital in turn, sealed with a ledger
    beacon. Phase 1 does not depend on the circuit: the consortium runs it once per size and
    reuses it for every circuit that fits (cached per ledger, contributors, size and gnark
    version)."""
    members = hashlib.sha256("|".join(o.msp_id for o in orgs).encode()).hexdigest()[:8]
    work = home / f"phase1-2^{power}-{members}-{_deps_hash()}"
    srs, record_path = work / "srs", work / "phase1.json"
    if srs.exists() and record_path.exists():
        say(f"phase 1 (powers of tau, 2^{power}) reused: the consortium already ran it")
        return srs, json.loads(record_path.read_text())
    work.mkdir(parents=True, exist_ok=True)
    say(f"phase 1 (powers of tau, 2^{power}), one contribution per hospital")
    binary.call(["ceremony", "phase1-new", "--power", str(power), "--out", str(work / "p1-0")])
    hashes, contributions = _contribute_in_turn("phase1", orgs, work, say)
    beacon = _ledger_beacon(net, orgs[0].name)
    binary.call(["ceremony", "phase1-seal", "--power", str(power), "--beacon", beacon, "--out", str(srs),
                 *contributions])  # fmt: skip
    record = {"phase1": hashes, "beacon1": beacon}
    record_path.write_text(json.dumps(record, indent=2))
    say("  phase 1 sealed (every contribution verified)")
    return srs, record


def consortium_ceremony(net: Any, circuit: str, cache_root: Path, say: Any = print) -> ZkKeys:
    """The consortium's Groth16 setup for ``circuit``: every hospital contributes to phase 1
    (powers of tau, sized by ``setup_power``: 2^15 for the demo's circuit; shared by every
    circuit of that size, see ``_phase1``) and to the circuit's phase 2 in turn, each in its own
    process with its own randomness; each phase is sealed with a beacon read from the ledger
    after its last contribution, and sealing verifies every contribution. The keys and the
    record (transcript hashes, order of contributors, beacons) are cached under ``cache_root``
    per ledger, circuit and prover build, so the ceremony runs once per network (about 4 minutes
    for the demo's circuit, 2.5 of them phase 2)."""
    build = Path(binary.binary()).parent.parent.name  # zk-<source hash>: keys follow the circuit code
    orgs = [o for o in net.topology.hospitals if o.has_peer]
    ledger = cache_root / f"ledger-{_ledger_id(net, orgs[0].name)}"
    home = ledger / f"{circuit}-{build}"
    record_path = home / "ceremony.json"
    pk, vk = home / f"{circuit}.pk", home / f"{circuit}.vk"
    if record_path.exists() and pk.exists() and vk.exists():
        return ZkKeys(circuit, pk, vk, json.loads(record_path.read_text()))
    work = home / "transcripts"
    work.mkdir(parents=True, exist_ok=True)
    say(f"zk setup ceremony for {circuit}")
    srs, first = _phase1(net, orgs, setup_power(circuit), ledger, say)
    say("  phase 2 for the circuit, one contribution per hospital")
    binary.call(["ceremony", "phase2-new", "--circuit", circuit, "--srs", str(srs),
                 "--out", str(work / "p2-0")])  # fmt: skip
    phase2, contributions = _contribute_in_turn("phase2", orgs, work, say)
    beacon2 = _ledger_beacon(net, orgs[0].name)
    binary.call(["ceremony", "phase2-seal", "--circuit", circuit, "--srs", str(srs), "--beacon", beacon2,
                 "--pk", str(pk), "--vk", str(vk), *contributions])  # fmt: skip
    record = {"phase1": first["phase1"], "phase2": phase2, "contributors": [o.msp_id for o in orgs],
              "beacon1": first["beacon1"], "beacon2": beacon2}  # fmt: skip
    record_path.write_text(json.dumps(record, indent=2))
    say(f"  sealed: verifying key {hashlib.sha256(vk.read_bytes()).hexdigest()[:12]}...")
    return ZkKeys(circuit, pk, vk, record)


def bind_params(keys: ZkKeys, circuit: str, initial_weights: np.ndarray, update_norm: float) -> dict[str, Any]:
    """The study parameters that bind a secure study's inputs (chaincode/contracts/binding.py)
    with these keys of the binding circuit: the model's step circuit (its weight count), the
    initial model's commitment and the bound on each update's L2 norm."""
    return {"zk_circuit": circuit, "model_commitment": weights_commitment(circuit, initial_weights),
            "bind_vk_hash": keys.vk_hash, "update_norm_micro": round(update_norm * 1_000_000)}  # fmt: skip
