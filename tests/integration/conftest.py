"""One real Fabric network per test session (native processes, TLS, Raft, ccaas).

It lives in a temporary state directory on its own ports (FEDLEDGER_TEST_PORT_BASE, default
17100), so a demo network on the default ports is never disturbed. Tearing it down is itself
checked: a node process left behind fails the session.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from rich.console import Console

from demo.agent_study import StudyPlan, StudyRun, run_agent_study
from demo.consortium_admin import register_hospitals
from demo.zk_setup import dev_keys
from network import process
from network.admins import Admins
from network.consortium import LocalConsortium
from network.state import StateDir
from network.topology import Topology


@pytest.fixture(scope="session")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalConsortium]:
    root = tmp_path_factory.mktemp("fabric") / "network"
    port_base = int(os.environ.get("FEDLEDGER_TEST_PORT_BASE", "17100"))
    started = time.monotonic()
    net = LocalConsortium(
        StateDir(root),
        Topology(port_base=port_base),
        progress=lambda m: print(f"[network] {m}"),
        test_contracts=True,
    )
    try:
        net.up()
    except Exception:
        net.down()
        raise
    print(f"[network] up in {time.monotonic() - started:.1f}s")
    yield net
    records = {s.name: s.pid for s in net.status() if s.pid}
    stopped = net.down()
    survivors = [name for name, pid in records.items() if process.pid_alive(pid)]
    assert not survivors, f"processes survived `network down`: {survivors}"
    assert sorted(stopped) == sorted(records), "down did not report every node it stopped"


@pytest.fixture(scope="session")
def registered(network: LocalConsortium) -> LocalConsortium:
    """Every hospital registered with the share key its agent holds."""
    with Admins(network) as admins:
        register_hospitals(admins)
    return network


@pytest.fixture(scope="session")
def secure_study(registered: LocalConsortium, tmp_path_factory: pytest.TempPathFactory) -> StudyRun:
    """A 3-round study in the default secure-committee mode with bound inputs (one-party keys of
    the binding circuit), run by three agent processes: run once, then checked by the study
    tests, read by the certificate and console tests."""
    bind = dev_keys(tmp_path_factory.mktemp("bind-keys"), "bind-w31", registered.org("HospitalA").msp_id)
    return run_agent_study(registered, Console(width=120, force_terminal=False),
                           StudyPlan(rounds=3, epsilon_per_round=1.0, bind=bind), study_id="agents-secure",
                           timeout_s=600)  # fmt: skip
