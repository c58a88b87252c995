"""A Python client for Fabric's Gateway service, shaped like fabric-gateway's own clients.

``Gateway`` (one gRPC connection to a peer, one identity) -> ``Network`` (a channel,
clients/fabric/network.py) -> ``Contract`` (a chaincode, optionally a named contract inside
it, clients/fabric/contract.py). ``evaluate`` runs a query on one peer; ``submit`` endorses,
orders and waits for the commit, retrying on MVCC read conflicts with a fresh transaction. The
finer path ``new_proposal -> endorse -> submit -> status`` (clients/fabric/transaction.py) is
there for callers that must record the transaction id before it is sent (the agent does, so
that a crash never submits twice). Every concept is handed the one ``GatewayService``
(clients/fabric/service.py) that makes the raw calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clients.fabric.identity import Identity, Signer, load_msp_identity
from clients.fabric.network import Network
from clients.fabric.service import GatewayService, Timeouts


class Gateway:
    """One identity connected to one peer's Gateway service over TLS."""

    def __init__(self, address: str, tls_root_cert: bytes, identity: Identity, signer: Signer,
                 timeouts: Timeouts | None = None, server_name: str | None = None) -> None:  # fmt: skip
        self.service = GatewayService(address, tls_root_cert, identity, signer, timeouts, server_name)

    @property
    def address(self) -> str:
        return self.service.address

    @property
    def identity(self) -> Identity:
        return self.service.identity

    @classmethod
    def connect(cls, address: str, tls_root_cert_file: Path, msp_dir: Path, msp_id: str, **kw: Any) -> Gateway:
        """Connect with the identity stored in an MSP folder (signcerts/ + keystore/)."""
        identity, signer = load_msp_identity(msp_dir, msp_id)
        return cls(address, tls_root_cert_file.read_bytes(), identity, signer, **kw)

    def network(self, channel: str) -> Network:
        return Network(self.service, channel)

    def close(self) -> None:
        self.service.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
