"""Faults on the real network while agents run a study: each ends by the rules, with no write
lost or duplicated.

* A hospital's own gateway peer is killed (SIGKILL) mid-round and restarted a few seconds
  later: the hospital's agent rides through (it waits, reconnects and logs why), every round
  finalizes, and each hospital has exactly one commitment per round on the ledger.
* The ordering service: the Raft leader is killed in each phase of a round (keys, training and
  commitments, all in KEYS; aggregation; validation) and in the next round's KEYS, and later two
  of the three orderers are down at once (no quorum: the ledger does not move, nothing is lost)
  and come back.
* Agents: one is killed mid-training (its supervisor restarts it), a committee member is stopped
  (SIGSTOP: slow, not dead) past the validation deadline and then continued.

Each study ends by the rules; every hospital has exactly one commitment per round; every
submission an agent journaled as committed is VALID on the ledger; tokens are conserved.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from agent.daemon.journal import Journal
from clients.fabric import GatewayError
from clients.ledger import Compliance, Round, Token
from demo.agent_study import StudyPlan, StudyRun, run_agent_study
from demo.consortium_admin import register_hospitals
from network.admins import Admins
from network.consortium import LocalConsortium

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def network_whole_afterwards(network: LocalConsortium):
    """Whatever a fault test did, the next test gets every node running again: a node a failed
    test left down is restarted here, and the test is failed for it."""
    yield
    down = [s.name for s in network.status() if s.kind in ("peer", "orderer") and not s.running]
    for name in down:
        network.restart(name)
    if down:
        network.wait_ordering()
    assert not down, f"nodes left down by the test: {down}"


def _round_state(net: LocalConsortium, study_id: str, round_no: int) -> str | None:
    with net.ledger("Regulator", "User1") as regulator:
        try:
            return regulator.evaluate(Round.get(study_id, round_no))["state"]
        except GatewayError as exc:
            if exc.chaincode_status == 404:  # not opened yet
                return None
            raise


def _commitments(net: LocalConsortium, msp_id: str, study_id: str) -> list[int]:
    with net.ledger("Regulator", "User1") as regulator:
        activity = regulator.evaluate(Compliance.org_activity(msp_id))
    return sorted(e["round"] for e in activity if e["action"] == "round.committed" and e["study"] == study_id)


def _study_under_fault(
    net: LocalConsortium,
    prefix: str,
    plan: StudyPlan,
    script: Callable[[str, threading.Event], None],
    timeout_s: float,
    restarts: int = 0,
) -> StudyRun:
    """Run a study with ``script(study_id, over)`` injecting faults from a thread; once the study
    ends (or fails) ``over`` is set and the script is waited for, so no fault outlives its test."""
    with Admins(net) as admins:
        register_hospitals(admins)
    sid = f"{prefix}-{uuid.uuid4().hex[:6]}"
    over = threading.Event()
    thread = threading.Thread(target=script, args=(sid, over), daemon=True)
    thread.start()
    try:
        return run_agent_study(net, Console(width=120, force_terminal=False), plan, study_id=sid,
                               timeout_s=timeout_s, restarts=restarts)  # fmt: skip
    finally:
        over.set()
        thread.join(timeout=300)


VALID = 0  # fabric-protos TxValidationCode.VALID


def _agent_pgid(net: LocalConsortium, org: str) -> int:
    """The process group of ``org``'s running agent (started by run_agent_study)."""
    config = str(net.state.root / "agents" / org.lower())
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"agent" in cmdline and b"run" in cmdline and any(a.decode(errors="replace").startswith(config)
                                                            for a in cmdline):  # fmt: skip
            return os.getpgid(int(pid))
    raise AssertionError(f"no running agent for {org}")


class FaultScriptOver(Exception):
    """The test ended (passed or failed): its fault script must not act any more."""


def _wait_phase(net: LocalConsortium, sid: str, wanted: Callable[[int, str], bool], over: threading.Event,
                timeout_s: float = 300) -> tuple[int, str]:  # fmt: skip
    """Poll the ledger (as the Regulator) until some round's state satisfies ``wanted``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if over.is_set():
            raise FaultScriptOver(sid)
        for r in range(4, -1, -1):
            state = _round_state(net, sid, r)
            if state is not None:
                if wanted(r, state):
                    return r, state
                break
        time.sleep(0.2)
    raise AssertionError(f"{sid}: no round reached the wanted phase in {timeout_s:.0f}s")


def _check_no_loss_no_duplicate(net: LocalConsortium, run: StudyRun, rounds: int) -> None:
    assert [row["state"] for row in run.report.rounds] == ["FINALIZED"] * rounds
    with net.ledger("Regulator", "User1") as regulator:
        supply = regulator.evaluate(Token.supply())
        ledger = regulator.network
        for msp, cfg in run.agents.items():
            assert _commitments(net, msp, run.study_id) == list(range(rounds)), f"{msp}: lost or duplicated"
            journal = Journal(cfg.journal_path)
            committed = [s for s in journal.submissions(run.study_id) if s.state == "committed"]
            journal.close()
            assert committed, f"{msp} journaled nothing as committed"
            for sub in committed:  # the journal agrees with the ledger
                assert ledger.transaction_code(sub.tx_id) == VALID, f"{msp}: {sub.action} journaled, not VALID"
    assert supply["conserved"], supply


def test_an_agent_rides_through_its_peer_being_killed_and_restarted(network: LocalConsortium) -> None:
    fault: dict[str, Any] = {}

    def kill_and_restart(sid: str, over: threading.Event) -> None:
        _, fault["killed_in"] = _wait_phase(network, sid, lambda r, s: r == 0, over)
        assert network.kill("peer0.hospitalb")
        killed_at = time.monotonic()
        try:
            over.wait(6)
        finally:
            network.restart("peer0.hospitalb")
        fault["down_s"] = time.monotonic() - killed_at

    run = _study_under_fault(network, "fault-peer", StudyPlan(rounds=2), kill_and_restart, timeout_s=600)
    assert "down_s" in fault, "the peer was never killed and restarted"
    assert run.crashes == []  # the agent did not die: it waited for its peer
    _check_no_loss_no_duplicate(network, run, 2)
    b_log = next(cfg for cfg in run.agents.values() if cfg.org == "HospitalB").state_dir / "agent.log"
    text = b_log.read_text()
    assert "reconnecting" in text or "unreachable" in text, "the agent did not say why it waited"
    print(
        f"peer0.hospitalb killed in round 0 ({fault['killed_in']}), down {fault['down_s']:.1f}s; "
        f"study finished, one commitment per hospital per round"
    )


def test_the_raft_leader_killed_in_every_phase_and_two_orderers_down(network: LocalConsortium) -> None:
    faults: list[str] = []
    outage: dict[str, int] = {}

    def chaos(sid: str, over: threading.Event) -> None:
        # one leader kill per phase, in the order a round goes through them, over the study's rounds
        for phase in ("KEYS", "AGGREGATE", "FINALIZED", "KEYS"):
            r, state = _wait_phase(network, sid, lambda r, s, p=phase: s == p and r < 2, over)
            leader = network.wait_ordering()
            assert network.kill(leader)
            faults.append(f"round {r} {state}: killed leader {leader}")
            try:
                over.wait(3)
            finally:
                network.restart(leader)
            network.wait_ordering()
        # then two of three orderers down at once, while round 2 trains
        _wait_phase(network, sid, lambda r, s: r == 2 and s in ("KEYS", "OPEN"), over)
        down = [o.name for o in network.topology.orderers][:2]
        try:
            with network.ledger("Regulator", "User1") as regulator:
                net_r = regulator.network
                for name in down:
                    assert network.kill(name)
                time.sleep(2)  # blocks in flight settle
                outage["height_before"] = net_r.height()
                time.sleep(10)
                outage["height_during"] = net_r.height()
        finally:
            for name in down:
                network.restart(name)
        network.wait_ordering()
        faults.append(f"round 2: {', '.join(down)} down for 12s")

    run = _study_under_fault(network, "fault-raft", StudyPlan(rounds=3), chaos, timeout_s=900)
    print("\n".join(faults))
    assert len(faults) == 5, faults
    assert outage["height_during"] == outage["height_before"], "blocks were cut without an ordering quorum"
    assert run.crashes == []
    _check_no_loss_no_duplicate(network, run, 3)


def test_an_agent_killed_mid_training_and_a_member_stopped_past_a_deadline(network: LocalConsortium) -> None:
    events: list[str] = []

    def chaos(sid: str, over: threading.Event) -> None:
        _wait_phase(network, sid, lambda r, s: r == 0 and s == "KEYS", over)  # keys, training, commitments
        os.killpg(_agent_pgid(network, "HospitalC"), signal.SIGKILL)
        events.append("round 0 KEYS: HospitalC's agent killed (SIGKILL) while keys are published and trained on")
        _wait_phase(network, sid, lambda r, s: r == 1 and s == "AGGREGATE", over)
        stopped = _agent_pgid(network, "HospitalB")
        os.killpg(stopped, signal.SIGSTOP)
        events.append("round 1 AGGREGATE: HospitalB's agent stopped (SIGSTOP)")
        try:
            over.wait(45)  # past the round's 30 s validation window
        finally:
            os.killpg(stopped, signal.SIGCONT)
        events.append("HospitalB's agent continued after 45s")

    run = _study_under_fault(network, "fault-agent", StudyPlan(rounds=2, window_s=30), chaos, timeout_s=600,
                             restarts=1)  # fmt: skip
    print("\n".join(events))
    assert len(events) == 3, events
    assert [org for org, _ in run.crashes] == ["HospitalC"]  # killed once, restarted by its supervisor
    _check_no_loss_no_duplicate(network, run, 2)
