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
