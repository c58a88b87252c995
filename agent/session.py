"""A hospital's connection for one command: its gateway, the chaincode, its IPFS and keys.

The long-running agent keeps one of these open for its lifetime (agent/daemon/runner.py);
one-shot commands (study init, enroll checks, model evaluation) open one from the same
agent.yaml, so they act with exactly the identity, peer and keys the agent uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from agent.daemon.config import AgentConfig
from agent.federation import Hospital
from agent.keys import load_or_create_x25519
from agent.storage.vault import KeyStore, Vault
from clients.fabric import Gateway
from clients.kubo import IPFSClient
from clients.ledger import LedgerClient, Registry


@dataclass(frozen=True)
class Session:
    cfg: AgentConfig
    ledger: LedgerClient

    def hospital(self) -> Hospital:
        """The hospital's IPFS node, vault and share key, as the agent holds them."""
        ipfs = IPFSClient(self.cfg.ipfs_api)
        return Hospital(self.cfg.msp_id, ipfs, Vault(ipfs, KeyStore(self.cfg.artifact_keys_dir)),
                        load_or_create_x25519(self.cfg.share_key_path),
                        self.ledger.contract(Registry.NAME))  # fmt: skip


@contextmanager
def hospital_session(cfg: AgentConfig) -> Iterator[Session]:
    gateway = Gateway.connect(cfg.gateway_address, cfg.tls_ca, cfg.msp_dir, cfg.msp_id)
    try:
        yield Session(cfg, LedgerClient(gateway.network(cfg.channel), cfg.chaincode))
    finally:
        gateway.close()
