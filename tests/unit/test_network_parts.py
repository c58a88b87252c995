"""Pure and local parts of the network admin: topology, packaging, the ccaas builder,
configtx rendering and process supervision."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from network import process
from network.chaincode_package import build_package
from network.configs import BUILDER_DIR, render_configtx
from network.state import StateDir
from network.topology import Topology


def test_ports_are_unique_and_follow_the_base() -> None:
    topo = Topology(port_base=20000)
    ports = []
    for node in topo.nodes:
        ports += [node.port, node.operations_port, node.chaincode_listen_port, node.chaincode_service_port]
        if node.kind == "orderer":
            ports.append(node.admin_port)
    assert len(ports) == len(set(ports))
    assert min(ports) == 20000
    assert topo.org("hospitala").msp_id == "HospitalAMSP"
    assert topo.org("RegulatorMSP").kind == "regulator"
    with pytest.raises(KeyError, match="unknown org"):
        topo.org("HospitalZ")


def test_package_is_deterministic_and_well_formed(tmp_path: Path) -> None:
    conn = {"address": "127.0.0.1:9999", "tls_required": False}
    a = build_package(tmp_path / "a", "fedledger_1.0", conn)
    b = build_package(tmp_path / "b", "fedledger_1.0", conn)
    assert a.package_id == b.package_id and a.package_id.startswith("fedledger_1.0:")
    with tarfile.open(a.path) as tar:
        assert sorted(tar.getnames()) == ["code.tar.gz", "metadata.json"]
        meta = json.loads(tar.extractfile("metadata.json").read())  # type: ignore[union-attr]
    assert meta == {"type": "ccaas", "label": "fedledger_1.0"}
    c = build_package(tmp_path / "c", "fedledger_1.0", {**conn, "address": "127.0.0.1:9998"})
    assert c.package_id != a.package_id


def _run_builder(phase: str, *args: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BUILDER_DIR / "bin" / phase), *map(str, args)], capture_output=True, text=True)


def test_ccaas_builder_detect_build_release(tmp_path: Path) -> None:
    src, meta, out, rel = (tmp_path / d for d in ("src", "meta", "out", "rel"))
    for d in (src, meta):
        d.mkdir()
    (meta / "metadata.json").write_text(json.dumps({"type": "ccaas", "label": "x"}))
    conn = {"address": "127.0.0.1:1", "tls_required": True, "root_cert": "PEM"}
    (src / "connection.json").write_text(json.dumps(conn))
    assert _run_builder("detect", src, meta).returncode == 0
    assert _run_builder("build", src, meta, out).returncode == 0
    assert _run_builder("release", out, rel).returncode == 0
    assert json.loads((rel / "chaincode" / "server" / "connection.json").read_text()) == conn
    (meta / "metadata.json").write_text(json.dumps({"type": "golang"}))
    assert _run_builder("detect", src, meta).returncode == 1
    (src / "connection.json").write_text(json.dumps({"address": "a", "tls_required": True}))
    bad = _run_builder("build", src, meta, tmp_path / "out2")
    assert bad.returncode == 1 and "root_cert" in bad.stderr


def test_configtx_renders_every_org_and_consenter(tmp_path: Path) -> None:
    topo = Topology(port_base=21000)
    path = render_configtx(topo, StateDir(tmp_path), "150ms", 321)
    doc = yaml.safe_load(path.read_text())
    profile = doc["Profiles"]["FedLedgerChannel"]
    assert [o["ID"] for o in profile["Application"]["Organizations"]] == [
        "HospitalAMSP",
        "HospitalBMSP",
        "HospitalCMSP",
        "RegulatorMSP",
    ]
    assert profile["Application"]["Policies"]["Endorsement"]["Rule"] == "MAJORITY Endorsement"
    consenters = profile["Orderer"]["EtcdRaft"]["Consenters"]
    assert [c["Port"] for c in consenters] == [n.port for n in topo.orderers]
    assert profile["Orderer"]["BatchTimeout"] == "150ms"
    assert profile["Orderer"]["BatchSize"]["MaxMessageCount"] == 321
    anchors = {o["ID"]: o["AnchorPeers"][0]["Port"] for o in profile["Application"]["Organizations"]}
    assert anchors["HospitalAMSP"] == topo.peer_of(topo.org("HospitalA")).port


def test_process_start_stop_kill(tmp_path: Path) -> None:
    pid_file, log = tmp_path / "p.pid", tmp_path / "p.log"
    argv = [sys.executable, "-c", "import time; print('hello', flush=True); time.sleep(60)"]
    record = process.start("sleeper", argv, {}, log, pid_file)
    assert process.alive(process.read_record(pid_file))
    with pytest.raises(RuntimeError, match="already running"):
        process.start("sleeper", argv, {}, log, pid_file)
    assert process.kill(pid_file)
    assert not process.pid_alive(record.pid)
    record = process.start("sleeper", argv, {}, log, pid_file)
    assert process.stop(pid_file)
    assert not process.pid_alive(record.pid) and not pid_file.exists()
    assert not process.stop(pid_file)  # stopping twice is harmless
    time.sleep(0.05)
    assert "hello" in log.read_text()


def test_every_org_listens_on_its_own_host_when_the_topology_names_one(tmp_path: Path) -> None:
    """With a host per org (namespace hosts), no node, service or channel endpoint of a hosted
    org stays on loopback; an org the topology does not name keeps loopback."""
    from network import aries, ipfs_nodes
    from network.nodes import chaincode_spec, orderer_spec, peer_spec

    hosts = (("OrdererOrg", "10.77.0.20"), ("HospitalA", "10.77.0.10"), ("HospitalB", "10.77.0.11"),
             ("HospitalC", "10.77.0.12"), ("Regulator", "10.77.0.13"), ("Patients", "10.77.0.14"))  # fmt: skip
    topo = Topology(port_base=21000, orderer_count=4, hosts=hosts)
    state = StateDir(tmp_path)
    a = topo.org("HospitalA")
    peer = topo.peer_of(a)
    assert peer.address == f"10.77.0.10:{peer.port}" and topo.orderers[0].host == "10.77.0.20"
    env = peer_spec(peer, state).env
    assert {env["CORE_PEER_LISTENADDRESS"], env["CORE_PEER_GOSSIP_EXTERNALENDPOINT"]} == {peer.address}
    assert all(v.startswith("10.77.0.10:") for k, v in env.items() if k.endswith("LISTENADDRESS"))
    orderer = orderer_spec(topo.orderers[0], state)
    assert orderer.host == "10.77.0.20" and orderer.env["ORDERER_GENERAL_LISTENADDRESS"] == "10.77.0.20"
    assert chaincode_spec(topo, a, state, "pkg:1").env["CHAINCODE_SERVER_ADDRESS"].startswith("10.77.0.10:")
    assert ipfs_nodes.api_address(topo, a).startswith("http://10.77.0.10:")
    assert aries.client(topo, state, a).admin_url.startswith("http://10.77.0.10:")
    doc = yaml.safe_load(render_configtx(topo, state, "150ms", 10).read_text())
    profile = doc["Profiles"]["FedLedgerChannel"]
    assert [c["Host"] for c in profile["Orderer"]["EtcdRaft"]["Consenters"]] == ["10.77.0.20"] * 4
    orderer_org = next(o for o in doc["Organizations"] if o["ID"] == "OrdererMSP")
    assert orderer_org["OrdererEndpoints"] == [n.address for n in topo.orderers]
    anchors = {
        o["ID"]: o["AnchorPeers"][0]["Host"] for o in profile["Application"]["Organizations"] if "AnchorPeers" in o
    }
    assert anchors == {"HospitalAMSP": "10.77.0.10", "HospitalBMSP": "10.77.0.11", "HospitalCMSP": "10.77.0.12",
                       "RegulatorMSP": "10.77.0.13"}  # fmt: skip
    assert "127.0.0.1" not in (state.config / "configtx" / "configtx.yaml").read_text()
    assert Topology(port_base=21000, orderer_count=4).peer_of(a).address == f"127.0.0.1:{peer.port}"  # loopback
