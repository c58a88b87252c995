"""An org definition: what one org hands the others so they can trust it and reach it.

In a consortium of separate organisations an org's keys never leave it; what the others need
is public: its MSP (CA and TLS CA certificates, NodeOU rules), its TLS CA certificate under
``tlsca/``, for each of its nodes the TLS root the node's certificate chains to (``tls/ca.crt``)
and, for orderers, the node's TLS certificate (a consenter is named by it), and its nodes'
endpoints. ``export`` writes that as a folder in the cryptogen layout (so the receiver's
network/state.py paths find it where its own org's files are), refusing to write anything
that holds a private key; ``receive`` checks the same and copies it into the receiver's state
directory.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from network.binaries import ToolError
from network.state import StateDir
from network.topology import Org, Topology

ENDPOINTS = "endpoints.json"


def _public_files(state: StateDir, topology: Topology, org: Org) -> dict[str, Path]:
    """Relative path in the org's crypto folder -> the file, for every file others need."""
    base = state.org_dir(org)
    wanted: dict[str, Path] = {}
    for folder in ("msp/cacerts", "msp/tlscacerts"):
        for f in sorted((base / folder).iterdir()):
            wanted[f"{folder}/{f.name}"] = f
    wanted["msp/config.yaml"] = base / "msp" / "config.yaml"
    tlsca = state.tls_ca_cert(org)
    wanted[f"tlsca/{tlsca.name}"] = tlsca
    for node in (n for n in topology.nodes if n.org == org):
        rel = state.node_dir(node).relative_to(base)
        wanted[f"{rel}/tls/ca.crt"] = state.node_dir(node) / "tls" / "ca.crt"
        if node.kind == "orderer":
            wanted[f"{rel}/tls/server.crt"] = state.node_dir(node) / "tls" / "server.crt"
    return wanted


def holds_private_key(path: Path) -> bool:
    """Whether ``path`` looks like a private key (PEM or file name): such a file never crosses."""
    if path.name in ("priv_sk", "server.key", "client.key") or path.parent.name == "keystore":
        return True
    return b"PRIVATE KEY" in path.read_bytes()


def export(state: StateDir, topology: Topology, org: Org, out: Path) -> Path:
    """Write ``org``'s definition from its own state directory to the folder ``out``."""
    files = _public_files(state, topology, org)
    shutil.rmtree(out, ignore_errors=True)
    for rel, src in files.items():
        if holds_private_key(src):
            raise ToolError(f"{src} holds a private key; it is not part of an org definition")
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    endpoints = [{"name": n.name, "kind": n.kind, "address": n.address} for n in topology.nodes if n.org == org]
    record = {"name": org.name, "msp_id": org.msp_id, "domain": org.domain, "nodes": endpoints}
    (out / ENDPOINTS).write_text(json.dumps(record, indent=2, sort_keys=True))
    return out


def receive(definition: Path, state: StateDir, org: Org) -> None:
    """Copy the definition of ``org`` (another org's) into ``state``'s crypto folder."""
    record = json.loads((definition / ENDPOINTS).read_text())
    if record.get("msp_id") != org.msp_id:
        raise ToolError(f"{definition} defines {record.get('msp_id')!r}, not {org.msp_id}")
    target = state.org_dir(org)
    for src in sorted(p for p in definition.rglob("*") if p.is_file() and p.name != ENDPOINTS):
        if holds_private_key(src):
            raise ToolError(f"{src} holds a private key; an org definition never does")
        dst = target / src.relative_to(definition)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
