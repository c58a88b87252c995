"""Faults on the real network while agents run a study: each ends by the rules, with no write
lost or duplicated.

* A hospital's own gateway peer is killed (SIGKILL) mid-round and restarted a few seconds
  later: the hospital's agent rides through (it waits, reconnects and logs why), every round
  finalizes, and each hospital has exactly one commitment per round on the ledger.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
from rich.console import Console

from fedledger.agent_study import StudyPlan, run_agent_study
from fedledger.consortium_admin import Admins
from network.consortium import Network
from network.topology import CHAINCODE_NAME, CHANNEL

pytestmark = pytest.mark.integration


def _round_state(net: Network, study_id: str, round_no: int) -> str | None:
    with net.gateway("Regulator", "User1") as gw:
        rounds = gw.network(CHANNEL).contract(CHAINCODE_NAME, "Round")
        try:
            return rounds.evaluate("Get", {"study_id": study_id, "round": round_no})["state"]
        except Exception:  # not opened yet
            return None


def _commitments(net: Network, msp_id: str, study_id: str) -> list[int]:
    with net.gateway("Regulator", "User1") as gw:
        activity = gw.network(CHANNEL).contract(CHAINCODE_NAME, "Compliance").evaluate("OrgActivity",
                                                                                       {"msp_id": msp_id})  # fmt: skip
    return sorted(e["round"] for e in activity if e["action"] == "round.committed" and e["study"] == study_id)


def test_an_agent_rides_through_its_peer_being_killed_and_restarted(network: Network, tmp_path: Path) -> None:
    with Admins(network) as admins:
        admins.register_hospitals()
    sid = f"fault-peer-{uuid.uuid4().hex[:6]}"
    fault: dict[str, float] = {}

    def kill_and_restart() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and _round_state(network, sid, 0) is None:
            time.sleep(0.5)
        fault["killed_in"] = _round_state(network, sid, 0) or "?"
        assert network.kill("peer0.hospitalb")
        fault["killed_at"] = time.monotonic()
        time.sleep(6)
        network.restart("peer0.hospitalb")
        fault["down_s"] = time.monotonic() - fault["killed_at"]

    chaos = threading.Thread(target=kill_and_restart, daemon=True)
    chaos.start()
    run = run_agent_study(network, Console(width=120, force_terminal=False), StudyPlan(rounds=2), study_id=sid,
                          timeout_s=600)  # fmt: skip
    chaos.join(timeout=60)
    assert "down_s" in fault, "the peer was never killed and restarted"
    assert [row["state"] for row in run.report.rounds] == ["FINALIZED"] * 2
    assert run.crashes == []  # the agent did not die: it waited for its peer
    for msp in run.agents:
        assert _commitments(network, msp, sid) == [0, 1], f"{msp}: a commitment was lost or duplicated"
    b_log = next(cfg for cfg in run.agents.values() if cfg.org == "HospitalB").state_dir / "agent.log"
    text = b_log.read_text()
    assert "reconnecting" in text or "unreachable" in text, "the agent did not say why it waited"
    print(
        f"peer0.hospitalb killed in round 0 ({fault['killed_in']}), down {fault['down_s']:.1f}s; "
        f"study finished, one commitment per hospital per round"
    )
