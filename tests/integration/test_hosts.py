"""Namespace hosts (network/hosts.py) as the multi-host consortium will use them: hosts reach
each other only over the lab's bridge, a cut host goes silent and comes back when restored,
and removing the lab leaves no namespace behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from network.hosts import Host, HostLab

pytestmark = pytest.mark.integration
FETCH = (
    "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).read().decode())"
)


def fetch(lab: HostLab, client: Host, url: str, timeout_s: float = 2.0) -> str | None:
    """``url`` as fetched from inside ``client``, or None when it cannot be reached."""
    done = subprocess.run(lab.exec_argv(client, [sys.executable, "-c", FETCH, url, str(timeout_s)]),
                          capture_output=True, text=True, timeout=timeout_s + 10, check=False)  # fmt: skip
    return done.stdout.strip() if done.returncode == 0 else None


def test_hosts_talk_over_the_bridge_and_a_cut_host_goes_silent_until_restored(tmp_path: Path) -> None:
    lab = HostLab("fltest", "10.77.9.0/24")
    try:
        a, b, c = lab.up(["hospitala", "hospitalb", "orderers"])
        assert [h.address for h in (a, b, c)] == ["10.77.9.10", "10.77.9.11", "10.77.9.12"]
        assert lab.namespaces() == sorted(["fltest-sw", a.namespace, b.namespace, c.namespace])
        (tmp_path / "hello.txt").write_text("from hospitala")
        server = subprocess.Popen(lab.exec_argv(a, [sys.executable, "-m", "http.server", "--bind", a.address, "8080"]),
                                  cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            url = f"http://{a.address}:8080/hello.txt"
            deadline = time.monotonic() + 20
            while fetch(lab, b, url) is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert fetch(lab, b, url) == "from hospitala"
            assert fetch(lab, c, url) == "from hospitala"
            assert fetch(lab, b, "http://127.0.0.1:8080/hello.txt") is None  # b's loopback is b's own

            lab.cut(a)
            assert lab.is_cut(a) and not lab.is_cut(b)
            assert fetch(lab, b, url, timeout_s=1.5) is None
            lab.restore(a)
            assert not lab.is_cut(a)
            deadline = time.monotonic() + 20
            while fetch(lab, b, url) is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert fetch(lab, b, url) == "from hospitala"
        finally:
            server.terminate()
            server.wait(timeout=10)
    finally:
        removed = lab.down()
    assert "fltest-sw" in removed and lab.namespaces() == []


def test_names_and_subnets_are_checked_before_anything_is_made() -> None:
    with pytest.raises(ValueError, match="lab name"):
        HostLab("Fl-Lab")
    with pytest.raises(ValueError, match="/24"):
        HostLab("fl", "10.77.0.0/16")
    with pytest.raises(ValueError, match="host name"):
        HostLab("fl").host("hospital-a", 0)
    with pytest.raises(ValueError, match="repeat"):
        HostLab("fl").up(["a", "a"])


def test_hospitals_kubo_on_their_own_hosts_share_a_cid_and_a_partition_stops_it(tmp_path: Path) -> None:
    """Two hospitals' Kubo daemons, each in its own host and listening on its own address only,
    peer across the bridge (the topology's host addresses); a CID stored at one is fetched by
    the other; while the first is cut off, content only it holds does not reach the other, and
    does once the link is back. The test talks to both from the workstation leg."""
    from clients.kubo import IPFSClient, IPFSError
    from network import ipfs_nodes, process, readiness
    from network.state import StateDir
    from network.topology import Topology

    lab = HostLab("flkubo", "10.77.8.0/24")
    state = StateDir(tmp_path / "state")
    try:
        a, b = lab.up(["hospitala", "hospitalb"], workstation=True)
        base = int(os.environ.get("FEDLEDGER_TEST_PORT_BASE", "17100")) + 800
        topo = Topology(port_base=base, hosts=(("HospitalA", a.address), ("HospitalB", b.address)))
        ipfs_nodes.init_repos(topo, lambda _org: state)
        orgs = {h.name: topo.org(h.name) for h in (a, b)}  # host names are the orgs' short names
        for host in (a, b):
            spec = ipfs_nodes.ipfs_spec(topo, state, orgs[host.name])
            assert spec.host == host.address
            process.start(spec.name, spec.argv, spec.env, state.log(spec.name), state.pid(spec.name),
                          netns=host.namespace)  # fmt: skip
            readiness.wait_healthy(state, spec)
        at_a = IPFSClient(ipfs_nodes.api_address(topo, orgs[a.name]), timeout_s=20)
        at_b = IPFSClient(ipfs_nodes.api_address(topo, orgs[b.name]), timeout_s=20)
        assert at_a.api.startswith(f"http://{a.address}:") and at_b.api.startswith(f"http://{b.address}:")
        cid = at_a.add(b"stored at hospital A")
        assert at_b.cat(cid) == b"stored at hospital A"  # bitswap from A's host to B's

        cut_off = at_a.add(b"not yet fetched when A is cut off")
        lab.cut(a)  # A's cable pulled: B and the workstation lose it alike
        with pytest.raises(IPFSError):
            IPFSClient(at_b.api, timeout_s=4).cat(cut_off)
        lab.restore(a)
        deadline = time.monotonic() + 60
        while True:
            try:
                assert IPFSClient(at_b.api, timeout_s=10).cat(cut_off) == b"not yet fetched when A is cut off"
                break
            except IPFSError:
                if time.monotonic() > deadline:
                    raise
    finally:
        for name in ("ipfs.hospitala", "ipfs.hospitalb"):
            process.stop(state.pid(name))
        lab.down()
