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

The round keeps its own parallel submission: concurrent commits and reports by independent
agents, and the read conflicts they cause, are what it measures. Set-up (registration, tokens,
staking, proposing, approving and enrolling in the study) is the consortium admins' sequence
of the demo and the tests (network/admins.py), one transaction after another, and not timed.
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
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

from clients.fabric import Gateway, SubmitResult
from clients.ledger import Round, StudyParams, Token
from network.admins import Admins
from network.consortium import LocalConsortium, ledger_client
from network.state import StateDir
from network.topology import Topology

Progress = Callable[[str], None]


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _cid(text: str) -> str:
    return "bafkrei" + base64.b32encode(hashlib.sha256(text.encode()).digest()).decode().lower().rstrip("=")[:52]


class Hospital:
    """A hospital's agent (its client identity) on its gateway peer."""

    def __init__(self, net: LocalConsortium, msp_id: str, name: str) -> None:
        self.msp, self.name = msp_id, name
        self.gateway: Gateway = net.gateway(name, "User1")
        self.ledger = ledger_client(self.gateway)
        self.gateway_peer = net.topology.gateway_peer_of(net.topology.org(name)).name

    def close(self) -> None:
        self.gateway.close()


def _sync(hospitals: list[Hospital], results: list[SubmitResult]) -> None:
    """Wait until every gateway peer in use committed every given transaction."""
    seen: set[str] = set()
    for h in hospitals:
        if h.gateway_peer in seen:
            continue
        seen.add(h.gateway_peer)
        for r in results:
            h.ledger.wait_for_commit(r.tx_id)


def _parallel(fn: Callable[[Hospital], SubmitResult], hospitals: list[Hospital]) -> list[SubmitResult]:
    with ThreadPoolExecutor(max_workers=len(hospitals)) as pool:
        return list(pool.map(fn, hospitals))


def study_args(study_id: str, n: int) -> StudyParams:
    return {
        "study_id": study_id, "title": f"bench {n}", "model": "logreg-d30-c2", "model_spec_hash": _h("spec"),
        "model_cid": _cid("m0"), "model_hash": _h("w0"), "data_schema_hash": _h("schema"),
        "epsilon_budget_micro": 10_000_000, "delta_e12": 10_000_000,
        "rounds": 5, "local_steps": 100, "audit_rate_ppm": 0, "committee_size": 3, "committee_threshold": 2,
        "participants_per_round": n, "min_participants": n, "min_stake": 100, "reward_pool": 5000,
        "reward_per_round": 1000, "missing_slash": 0, "cheat_slash": 100, "commit_window_s": 600,
        "prove_window_s": 600, "aggregate_window_s": 600, "validation_window_s": 600,
    }  # fmt: skip


def setup(net: LocalConsortium, admins: Admins, progress: Progress) -> None:
    """Register every hospital, fund and stake them (not timed). A mint needs a majority of the
    registered hospitals, so the three real ones register and are funded first (one approval
    per mint) and pay the simulated hospitals once those have registered."""
    real, sims = admins.names[:3], admins.names[3:]
    keys = {n: base64.b64encode(os.urandom(32)).decode() for n in admins.names}
    progress(f"setup: registering {len(admins.names)} hospitals, minting, funding, staking")
    with Admins(net, real) as founders:
        founders.register({n: keys[n] for n in real})
        founders.fund("bench", 1_000_000)
    admins.register({n: keys[n] for n in sims})
    for i, s in enumerate(sims):
        admins.tx(real[i % len(real)], Token.transfer(net.org(s).msp_id, 10_000))
    admins.stake(5000)


def play_round(group: list[Hospital], study_id: str, n: int) -> tuple[dict[str, float], list[SubmitResult]]:
    """Round ``n`` of ``study_id`` as its agents drive it (``group``: the enrolled hospitals,
    each a participant); each phase's wall time and every transaction's result."""
    proposer = group[0]
    phases: dict[str, float] = {}
    t0 = time.monotonic()
    opened = proposer.ledger.submit(Round.open(study_id))
    _sync(group, [opened])
    phases["open_s"] = time.monotonic() - t0
    rnd = opened.json()

    t = time.monotonic()
    commits = _parallel(
        lambda h: h.ledger.submit(Round.commit(
            {"study_id": study_id, "round": n, "update_hash": _h(f"u{h.msp}{n}"), "step_root": _h(f"r{h.msp}{n}"),
             "sample_bucket": 7, "epsilon_micro": 1_000_000, "share_cids": [_cid(f"s{h.msp}{i}") for i in range(3)],
             "consented_records": 100})),
        group,
    )  # fmt: skip
    _sync(group, commits)
    phases["commit_s"] = time.monotonic() - t

    t = time.monotonic()
    _sync(group, [proposer.ledger.submit(Round.advance(study_id, n))])
    phases["advance_s"] = time.monotonic() - t

    t = time.monotonic()
    committee = [h for h in group if h.msp in rnd["committee"]][:2]
    aggregates = _parallel(
        lambda h: h.ledger.submit(Round.submit_aggregate(study_id, n, model_cid=_cid(f"g{n + 1}"),
                                                         model_hash=_h(f"{study_id}-g{n + 1}"))),
        committee,
    )  # fmt: skip
    _sync(group, aggregates)
    phases["aggregate_s"] = time.monotonic() - t

    t = time.monotonic()
    reports = _parallel(
        lambda h: h.ledger.submit(Round.report_validation(study_id, n, metric_ppm=930_000,
                                                          previous_metric_ppm=900_000)),
        group,
    )  # fmt: skip
    _sync(group, reports)
    settled = proposer.ledger.submit(Round.settle(study_id, n))
    phases["validate_settle_s"] = time.monotonic() - t
    phases["total_s"] = time.monotonic() - t0
    state = settled.json()
    assert state["state"] == "FINALIZED" and state["settled"], state["state"]
    return phases, [opened, *commits, *aggregates, *reports, settled]


def measure_round(admins: Admins, hospitals: list[Hospital], n: int, progress: Progress) -> dict[str, Any]:
    group = hospitals[:n]
    study_id = f"bench-{n}-{int(time.time())}"
    admins.create_study(study_args(study_id, n), enroll=[h.name for h in group])
    phases, results = play_round(group, study_id, 0)
    total = phases.pop("total_s")
    transactions = len(results) + 1  # and Advance
    retries = sum(r.attempts - 1 for r in results)
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
    try:
        net.up()
        with ExitStack() as stack:
            admins = stack.enter_context(Admins(net, [o.name for o in topology.hospitals]))
            setup(net, admins, progress)
            hospitals = [stack.enter_context(closing(Hospital(net, o.msp_id, o.name))) for o in topology.hospitals]
            results = [measure_round(admins, hospitals, n, progress) for n in sorted(sizes)]
    finally:
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
