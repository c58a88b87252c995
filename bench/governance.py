"""Governance benchmark: ledger time of one complete round for 3, 10 and 30 hospitals.

One throw-away network runs the real peers of HospitalA/B/C and the Regulator plus
``max(sizes) - 3`` simulated hospitals: channel members with their own CA, admin and agent
identities but no peer, whose clients use a real hospital's gateway (network/topology.py).
Endorsement stays a majority of the peer-running orgs (3 of 4), exactly the work of the demo
network. For each size, a study with every enrolled hospital as a participant (committee of 3,
threshold 2, unaudited) runs one round the way agents drive it, with concurrency where agents
act independently:

    Open -> N x Commit (parallel) -> Advance -> 2 x SubmitAggregate -> N x ReportValidation
    (parallel) -> Settle

Between phases each client's gateway peer must have committed the previous phase (as an
event-driven agent sees it). ``round_ledger_s`` is the wall time from Open to Settle committed.
Set-up (registration, tokens, staking, study approval) is not timed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from clients.fabric import Contract, Gateway, SubmitResult
from network.consortium import LocalConsortium
from network.state import StateDir
from network.topology import CHAINCODE_NAME, CHANNEL, Topology

Progress = Callable[[str], None]


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _cid(text: str) -> str:
    return "bafkrei" + base64.b32encode(hashlib.sha256(text.encode()).digest()).decode().lower().rstrip("=")[:52]


class Hospital:
    def __init__(self, net: LocalConsortium, msp_id: str, name: str) -> None:
        self.msp = msp_id
        self.admin_gw: Gateway = net.gateway(name, "Admin")
        self.agent_gw: Gateway = net.gateway(name, "User1")
        self.gateway_peer = net.topology.gateway_peer_of(net.topology.org(name)).name

    def admin(self, contract: str) -> Contract:
        return self.admin_gw.network(CHANNEL).contract(CHAINCODE_NAME, contract)

    def agent(self, contract: str) -> Contract:
        return self.agent_gw.network(CHANNEL).contract(CHAINCODE_NAME, contract)

    def close(self) -> None:
        self.admin_gw.close()
        self.agent_gw.close()


def _sync(hospitals: list[Hospital], results: list[SubmitResult]) -> None:
    """Wait until every gateway peer in use committed every given transaction."""
    seen: set[str] = set()
    for h in hospitals:
        if h.gateway_peer in seen:
            continue
        seen.add(h.gateway_peer)
        for r in results:
            h.agent_gw.network(CHANNEL).wait_for_commit(r.tx_id)


def _parallel(fn: Callable[[Hospital], SubmitResult], hospitals: list[Hospital]) -> list[SubmitResult]:
    with ThreadPoolExecutor(max_workers=len(hospitals)) as pool:
        return list(pool.map(fn, hospitals))


def _study_args(study_id: str, n: int) -> dict[str, Any]:
    return {
        "study_id": study_id, "title": f"bench {n}", "model": "logreg-d30-c2", "model_spec_hash": _h("spec"),
        "model_cid": _cid("m0"), "model_hash": _h("w0"), "data_schema_hash": _h("schema"),
        "epsilon_budget_micro": 10_000_000, "delta_e12": 10_000_000,
        "rounds": 5, "local_steps": 100, "audit_rate_ppm": 0, "committee_size": 3, "committee_threshold": 2,
        "participants_per_round": n, "min_participants": n, "min_stake": 100, "reward_pool": 5000,
        "reward_per_round": 1000, "missing_slash": 0, "cheat_slash": 100, "commit_window_s": 600,
        "prove_window_s": 600, "aggregate_window_s": 600, "validation_window_s": 600,
    }  # fmt: skip


def setup(net: LocalConsortium, progress: Progress) -> list[Hospital]:
    """Register every hospital, fund and stake them (not timed)."""
    orgs = net.topology.hospitals
    hospitals = [Hospital(net, o.msp_id, o.name) for o in orgs]
    real, sims = hospitals[:3], hospitals[3:]

    def register(h: Hospital) -> SubmitResult:
        key = base64.b64encode(os.urandom(32)).decode()
        return h.admin("Registry").submit(
            "Register", {"msp_id": h.msp, "display_name": h.msp, "share_key": key, "contact": "bench@example.org"}
        )

    progress(f"setup: registering {len(hospitals)} hospitals, minting, funding, staking")
    _sync(hospitals, _parallel(register, real))
    mints = []
    for h in real:  # majority of the 3 registered so far: the proposer plus one approval
        mint_id = f"bench-{h.msp.lower()}"
        real[0].admin("Token").submit("ProposeMint", {"mint_id": mint_id, "to": h.msp, "amount": 1_000_000})
        mints.append(real[1].admin("Token").submit("ApproveMint", {"mint_id": mint_id}))
    _sync(hospitals, mints)
    if sims:
        _sync(hospitals, _parallel(register, sims))

        def fund(payer: Hospital) -> SubmitResult:
            last = None
            for s in sims[real.index(payer) :: len(real)]:
                last = payer.admin("Token").submit("Transfer", {"to": s.msp, "amount": 10_000})
            return last  # type: ignore[return-value]

        _sync(hospitals, [r for r in _parallel(fund, real) if r is not None])
    _sync(hospitals, _parallel(lambda h: h.admin("Token").submit("Stake", {"amount": 5000}), hospitals))
    return hospitals


def measure_round(hospitals: list[Hospital], n: int, progress: Progress) -> dict[str, Any]:
    group = hospitals[:n]
    everyone = hospitals
    study_id = f"bench-{n}-{int(time.time())}"
    proposer = group[0]
    _sync(everyone, [proposer.admin("Study").submit("Propose", _study_args(study_id, n))])
    needed = len(everyone) // 2 + 1
    last = None
    for h in everyone[1:needed]:
        last = h.admin("Study").submit("Approve", {"study_id": study_id})
    if last is not None:
        _sync(everyone, [last])
    _sync(everyone, _parallel(lambda h: h.admin("Study").submit("Enroll", {"study_id": study_id}), group))

    phases: dict[str, float] = {}
    t0 = time.monotonic()
    opened = proposer.agent("Round").submit("Open", {"study_id": study_id})
    _sync(group, [opened])
    phases["open_s"] = time.monotonic() - t0
    rnd = opened.json()
    ref = {"study_id": study_id, "round": 0}

    t = time.monotonic()
    commits = _parallel(
        lambda h: h.agent("Round").submit(
            "Commit",
            {**ref, "update_hash": _h(f"u{h.msp}"), "step_root": _h(f"r{h.msp}"), "sample_bucket": 7,
             "epsilon_micro": 1_000_000, "share_cids": [_cid(f"s{h.msp}{i}") for i in range(3)],
             "consented_records": 100},
        ),
        group,
    )  # fmt: skip
    _sync(group, commits)
    phases["commit_s"] = time.monotonic() - t

    t = time.monotonic()
    _sync(group, [proposer.agent("Round").submit("Advance", ref)])
    phases["advance_s"] = time.monotonic() - t

    t = time.monotonic()
    committee = [h for h in group if h.msp in rnd["committee"]][:2]
    aggregates = _parallel(
        lambda h: h.agent("Round").submit("SubmitAggregate", {**ref, "model_cid": _cid("g1"), "model_hash": _h("g1")}),
        committee,
    )
    _sync(group, aggregates)
    phases["aggregate_s"] = time.monotonic() - t

    t = time.monotonic()
    reports = _parallel(
        lambda h: h.agent("Round").submit("ReportValidation", {**ref, "metric_ppm": 930_000,
                                                               "previous_metric_ppm": 900_000}),
        group,
    )  # fmt: skip
    _sync(group, reports)
    settled = proposer.agent("Round").submit("Settle", ref)
    phases["validate_settle_s"] = time.monotonic() - t
    total = time.monotonic() - t0
    state = settled.json()
    assert state["state"] == "FINALIZED" and state["settled"], state["state"]
    transactions = 1 + len(commits) + 1 + len(aggregates) + len(reports) + 1
    retries = sum(r.attempts - 1 for r in [opened, *commits, *aggregates, *reports, settled])
    result = {
        "hospitals": n,
        "round_ledger_s": round(total, 3),
        "transactions": transactions,
        "mvcc_retries": retries,
        **{k: round(v, 3) for k, v in phases.items()},
    }
    progress(f"{n:>3} hospitals: round ledger time {total:.2f}s over {transactions} transactions ({retries} retries)")
    return result


def run(sizes: list[int], port_base: int, progress: Progress = print) -> dict[str, Any]:
    if min(sizes) < 3:
        raise ValueError("sizes start at 3 (the three real hospitals)")
    state_root = Path(tempfile.mkdtemp(prefix="fedledger-govbench-"))
    topology = Topology(port_base=port_base, simulated_hospitals=max(sizes) - 3)
    net = LocalConsortium(
        StateDir(state_root),
        topology,
        progress=lambda m: progress(f"  network: {m}"),
        test_contracts=False,
        with_ipfs=False,
        with_aries=False,
    )
    hospitals: list[Hospital] = []
    try:
        net.up()
        hospitals = setup(net, progress)
        results = [measure_round(hospitals, n, progress) for n in sorted(sizes)]
    finally:
        for h in hospitals:
            h.close()
        net.down()
        shutil.rmtree(state_root, ignore_errors=True)
    return {
        "benchmark": "governance",
        "what": "wall time of one complete round (Open .. Settle committed), unaudited study, committee 3/t=2",
        "network": {"peers": len(topology.peers), "simulated_hospitals_without_peers": topology.simulated_hospitals,
                    "endorsement": "3 of the 4 peer-running orgs", "batch_timeout": net.batch_timeout},
        "sizes": results,
        "round_ledger_s": {str(r["hospitals"]): r["round_ledger_s"] for r in results},
    }  # fmt: skip
