"""Consortium benchmark: a round on one machine and on hosts, a hospital joining, an upgrade.

Three throw-away networks, one after the other, in one run:

* **one machine, Raft** (loopback, cryptogen, 3 etcdraft orderers): the governance round of
  bench/governance.py with the three hospitals (Open -> 3 x Commit -> Advance -> 2 x
  SubmitAggregate -> 3 x Report -> Settle, each phase committed on every hospital's peer):
  ``round_ledger_s_raft`` (also ``round_ledger_s_one_machine``).
* **one machine, BFT** (4 SmartBFT orderers, the same batch interval): the same round,
  ``round_ledger_s_bft``.
* **on hosts** (every org in its own network namespace with its own CA, network/hosts.py): the
  same round, same workload: ``multihost_round_s``; then a fourth hospital joins the running
  channel, every step of the runbook by its party in turn (org init, propose, one more
  signature, submit, join) up to its registration committed: ``join_s``, with the signers'
  turns taking no time here (a real consortium adds the hours its admins take); then a round
  is opened and the chaincode upgraded while it is open: ``upgrade_s`` (new services started,
  installed and approved by every org, committed, every peer on the new sequence).

Nothing here is asserted on time: the figures are printed and written as JSON.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path
from typing import Any

from bench.governance import Hospital, measure_round, setup, study_args
from clients.ledger import Round
from network import org_admission
from network.admins import Admins
from network.chaincode_upgrade import upgrade_chaincode
from network.consortium import LocalConsortium
from network.host_plan import consortium_plan
from network.state import StateDir
from network.topology import ORDERER_ORG, Topology

Progress = Callable[[str], None]
HOSPITALS = ("HospitalA", "HospitalB", "HospitalC")


@contextmanager
def _network(port_base: int, lab: str | None, progress: Progress, bft: bool = False) -> Iterator[LocalConsortium]:
    root = Path(tempfile.mkdtemp(prefix="fedledger-consortium-bench-")) / "network"
    options: dict[str, Any] = {"progress": lambda m: progress(f"  network: {m}"), "with_aries": False}
    if lab is None:
        ordering = {"orderer_count": 4, "consensus": "BFT"} if bft else {}
        topology = Topology(port_base=port_base, **ordering)  # type: ignore[arg-type]
        net = LocalConsortium(StateDir(root), topology, with_ipfs=False, **options)
    else:
        plan = consortium_plan(lab, "10.77.30.0/24", [ORDERER_ORG, *Topology().application_orgs])
        net = LocalConsortium.on_hosts(StateDir(root), plan, port_base, **options)
    try:
        started = time.monotonic()
        net.up()
        progress(f"  network up in {time.monotonic() - started:.1f}s")
        yield net
    finally:  # re-opened: the topology may have grown since
        (LocalConsortium.open(root) if (root / "network.json").exists() else net).down()
        shutil.rmtree(root.parent, ignore_errors=True)


def _round(net: LocalConsortium, progress: Progress) -> dict[str, Any]:
    with ExitStack() as stack:
        admins = stack.enter_context(Admins(net, list(HOSPITALS)))
        setup(net, admins, progress)
        hospitals = [stack.enter_context(closing(Hospital(net, net.org(n).msp_id, n))) for n in HOSPITALS]
        return measure_round(admins, hospitals, 3, progress)


def _join(net: LocalConsortium, progress: Progress) -> float:
    """From `org init` to the new hospital's registration committed; returns seconds."""

    def say(line: str) -> None:
        progress(f"  join: {line}")

    started = time.monotonic()
    net = org_admission.init(net, "HospitalD", say)
    update = org_admission.propose(net, "HospitalD", "HospitalA", say)
    org_admission.sign(net, update.path, "HospitalB", say)
    net = org_admission.submit(net, update.path, "HospitalC", say)
    net = org_admission.join(net, "HospitalD", say)
    with Admins(net, ["HospitalD"]) as admins:
        admins.register({"HospitalD": base64.b64encode(os.urandom(32)).decode()})
    return time.monotonic() - started


def _upgrade_mid_round(net: LocalConsortium, progress: Progress) -> float:
    """Open a round of a fresh study, upgrade the chaincode; returns the upgrade's seconds."""
    study_id = f"upgrade-{int(time.time())}"
    with Admins(net, list(HOSPITALS)) as admins:
        admins.create_study(study_args(study_id, 3), enroll=list(HOSPITALS))
        admins.tx(HOSPITALS[0], Round.open(study_id))
    version = net.state.read_manifest()["chaincode"]["version"]
    started = time.monotonic()
    upgrade_chaincode(net, f"{version}.1", say=lambda m: progress(f"  {m}"))
    return time.monotonic() - started


def run(port_base: int, lab: str = "flbench", progress: Progress = print) -> dict[str, Any]:
    progress("one machine, 3 Raft orderers: the governance round with three hospitals")
    with _network(port_base, None, progress) as net:
        one_machine = _round(net, progress)
    progress("one machine, 4 SmartBFT orderers: the same round")
    with _network(port_base, None, progress, bft=True) as net:
        bft = _round(net, progress)
    progress(f"hosts (lab {lab}): the same round, then a hospital joins, then an upgrade mid-round")
    with _network(port_base + 1000, lab, progress) as net:
        hosts = _round(net, progress)
        join_s = _join(net, progress)
        progress(f"  HospitalD joined in {join_s:.1f}s")
        upgrade_s = _upgrade_mid_round(LocalConsortium.open(net.state.root), progress)
    return {
        "benchmark": "consortium",
        "what": "one governance round (Open .. Settle committed, 3 hospitals) on one machine with Raft and with "
        "SmartBFT ordering, and on namespace hosts; a hospital joining the running channel; a chaincode upgrade "
        "with a round open",
        "round_ledger_s_raft": one_machine["round_ledger_s"],
        "round_ledger_s_bft": bft["round_ledger_s"],
        "bft_vs_raft": round(bft["round_ledger_s"] / one_machine["round_ledger_s"], 3),
        "round_ledger_s_one_machine": one_machine["round_ledger_s"],
        "multihost_round_s": hosts["round_ledger_s"],
        "multihost_vs_one_machine": round(hosts["round_ledger_s"] / one_machine["round_ledger_s"], 3),
        "join_s": round(join_s, 3),
        "join_includes": "org init (host, CA, identities, definition), propose + sign + submit (3 admins, turns "
        "taking no time), join (peer, chaincode, Kubo), registration committed",
        "upgrade_s": round(upgrade_s, 3),
        "rounds": {"raft": one_machine, "bft": bft, "hosts": hosts},
        "targets": {"join_s": "< 60 s of machine time plus the signers' turns", "bft_vs_raft": "<= 1.5"},
    }
