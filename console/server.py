"""Run the console: connect to the org's gateway peer, read the channel configuration (whose
MSP roots the TLS layer trusts for client certificates), follow the event stream, serve HTTPS.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from clients.ledger import LedgerClient
from console import server_cert
from console.access import AccessPolicy
from console.app import create_app
from console.events import EventHub
from console.reader import LedgerReader
from provenance.channel_config import ChannelTrust
from provenance.issue import channel_config_block

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsoleSettings:
    host: str = "127.0.0.1"
    port: int = 8443
    state_dir: Path = Path(".fedledger/console")
    orgs: tuple[str, ...] | None = None  # whose members may read; None: every org of the channel
    tls_cert: Path | None = None  # the server's own HTTPS pair; None: a self-signed one in state_dir
    tls_key: Path | None = None


@dataclass(frozen=True)
class Console:
    """A console ready to serve: its uvicorn configuration, its event hub (already following),
    its ledger reader and the server certificate browsers should trust."""

    config: uvicorn.Config
    hub: EventHub
    reader: LedgerReader
    server_cert: Path


def build(ledger: LedgerClient, settings: ConsoleSettings) -> Console:
    """The console over ``ledger``, not yet listening (``uvicorn.Server(console.config)``)."""
    trust = ChannelTrust.from_block(channel_config_block(ledger.network))
    policy = AccessPolicy(trust, ledger.network.service.identity.msp_id, settings.orgs)
    hub = EventHub(lambda checkpoint: ledger.network.chaincode_events(ledger.chaincode, checkpoint))
    hub.start()
    reader = LedgerReader(ledger, trust, hub)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    roots = settings.state_dir / "client-roots.pem"
    roots.write_bytes(policy.root_bundle())
    if settings.tls_cert and settings.tls_key:
        cert, key = settings.tls_cert, settings.tls_key
    else:
        cert, key = server_cert.ensure(settings.state_dir, settings.host)
    config = uvicorn.Config(
        create_app(reader, policy),
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        ssl_ca_certs=str(roots),
        # a certificate, when given, must chain to a channel MSP (else the handshake fails); none
        # at all is let through to the app, which answers 403 saying what is missing
        ssl_cert_reqs=ssl.CERT_OPTIONAL,
        http="console.tls:ClientCertProtocol",
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    return Console(config, hub, reader, Path(cert))


def serve(ledger: LedgerClient, settings: ConsoleSettings, announce: Iterable[str] = ()) -> None:
    """Serve until interrupted."""
    console = build(ledger, settings)
    for line in announce:
        log.warning(line)
    try:
        uvicorn.Server(console.config).run()
    finally:
        console.hub.stop()
