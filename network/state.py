"""Where a network keeps its files: keys, rendered configs, ledgers, logs and pid files.

Everything lives under one git-ignored directory (default ``.fedledger/network`` in the
checkout, or ``$FEDLEDGER_NETWORK_DIR``) so that ``down --purge`` is one ``rm -rf``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from network.topology import Node, Org

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_state_dir() -> Path:
    return Path(os.environ.get("FEDLEDGER_NETWORK_DIR", REPO_ROOT / ".fedledger" / "network"))


@dataclass(frozen=True)
class StateDir:
    root: Path

    @property
    def crypto(self) -> Path:
        return self.root / "crypto"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def peer_config(self) -> Path:
        """FABRIC_CFG_PATH for peers and the peer CLI (holds core.yaml)."""
        return self.config / "peer"

    @property
    def orderer_config(self) -> Path:
        """FABRIC_CFG_PATH for orderers (holds orderer.yaml)."""
        return self.config / "orderer"

    @property
    def genesis_block(self) -> Path:
        return self.config / "genesis.block"

    @property
    def manifest(self) -> Path:
        return self.root / "network.json"

    def data(self, name: str) -> Path:
        return self.root / "data" / name

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def pid(self, name: str) -> Path:
        return self.root / "run" / f"{name}.pid"

    def chaincode_dir(self, org: Org) -> Path:
        return self.root / "chaincode" / org.short

    # --- crypto material produced by cryptogen ----------------------------------------------
    def org_dir(self, org: Org) -> Path:
        kind = "ordererOrganizations" if org.kind == "orderer" else "peerOrganizations"
        return self.crypto / kind / org.domain

    def node_dir(self, node: Node) -> Path:
        kind = "orderers" if node.kind == "orderer" else "peers"
        return self.org_dir(node.org) / kind / node.fqdn

    def user_dir(self, org: Org, user: str = "Admin") -> Path:
        return self.org_dir(org) / "users" / f"{user}@{org.domain}"

    def tls_ca_cert(self, org: Org) -> Path:
        return self.org_dir(org) / "tlsca" / f"tlsca.{org.domain}-cert.pem"

    def tls_ca_key(self, org: Org) -> Path:
        return self.org_dir(org) / "tlsca" / "priv_sk"

    # --- manifest ---------------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest.exists():
            return {}
        return json.loads(self.manifest.read_text())

    def write_manifest(self, data: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.manifest.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(self.manifest)
