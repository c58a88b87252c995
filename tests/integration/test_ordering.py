"""Ordering as `network up` offers it, on throw-away one-machine networks of their own (no Kubo,
no ACA-Py): 4 SmartBFT orderers order the channel and a write commits under a leader the probe
finds; on a Raft network an orderer is added from cryptogen's keys (`cryptogen extend`) and
joins the consenter set, and writes go on committing. (Orderer changes on hosts, from the
orderer org's own CA, are in test_consortium_hosts.py.)"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from network import channel, orderer_set
from network.admins import Admins
from network.consortium import LocalConsortium
from network.state import StateDir
from network.topology import ORDERER_ORG, Topology

pytestmark = pytest.mark.integration
BASE = int(os.environ.get("FEDLEDGER_TEST_PORT_BASE", "17100")) + 2000


@contextmanager
def _network(root: Path, **ordering: object) -> Iterator[LocalConsortium]:
    net = LocalConsortium(StateDir(root), Topology(port_base=BASE, **ordering),  # type: ignore[arg-type]
                          progress=lambda m: print(f"[ordering] {m}"), with_ipfs=False, with_aries=False)  # fmt: skip
    try:
        net.up()
        yield net
    finally:
        (LocalConsortium.open(root) if (root / "network.json").exists() else net).down(purge=True)


def _write(net: LocalConsortium) -> int:
    """HospitalA's admin registers (or updates) its entry; returns the block it committed in."""
    with Admins(net, ["HospitalA"]) as admins:
        return admins.register({"HospitalA": base64.b64encode(os.urandom(32)).decode()})[0]["block"]


def test_bft_ordering_commits_under_a_leader(tmp_path: Path) -> None:
    with _network(tmp_path / "bft", orderer_count=4, consensus="BFT") as net:
        assert net.wait_ordering() in [n.name for n in net.topology.orderers]
        first = _write(net)
        assert _write(net) > first
        status = channel.orderer_channel_status(net.state, net.topology.orderers[3])
        assert status["consensusRelation"] == "consenter" and status["status"] == "active"


def test_an_orderer_from_cryptogen_joins_a_raft_channel(tmp_path: Path) -> None:
    with _network(tmp_path / "raft") as net:
        _write(net)
        grown = orderer_set.add_orderer(net, print)
        assert [n.name for n in grown.topology.orderers] == ["orderer1", "orderer2", "orderer3", "orderer4"]
        orderer4 = grown.topology.node("orderer4")
        assert (grown.state_of(ORDERER_ORG).node_dir(orderer4) / "tls" / "server.crt").exists()
        _write(grown)
