"""Run fedledger's chaincode as an external service: ``python -m chaincode --help``.

The peer's external builder gives it our address and TLS material through the chaincode
package's connection.json; the id must be the package id the peer installed.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from chaincode.contracts import all_contracts
from chaincode.runtime.contract import Router
from chaincode.runtime.server import ServerTLS, serve


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m chaincode", description=__doc__)
    parser.add_argument("--id", default=env("CHAINCODE_ID"), help="package id (label:hash) [$CHAINCODE_ID]")
    parser.add_argument(
        "--address", default=env("CHAINCODE_SERVER_ADDRESS", "127.0.0.1:9999"), help="[$CHAINCODE_SERVER_ADDRESS]"
    )
    parser.add_argument("--tls-cert", default=env("CHAINCODE_TLS_CERT"), help="server certificate (PEM)")
    parser.add_argument("--tls-key", default=env("CHAINCODE_TLS_KEY"), help="server private key (PEM)")
    parser.add_argument(
        "--client-ca", default=env("CHAINCODE_CLIENT_CA_CERT"), help="CA of peer client certs (mutual TLS)"
    )
    parser.add_argument("--log-level", default=env("CHAINCODE_LOG_LEVEL", "INFO"))
    parser.add_argument("--check", action="store_true",
                        help="build every contract's router and exit (an installation's start-up check)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.check:
        router = Router(all_contracts())
        print(f"chaincode ready: {len(router.functions)} transaction and query functions")
        return 0
    if not args.id:
        parser.error("--id (or CHAINCODE_ID) is required")
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tls = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            parser.error("--tls-cert and --tls-key go together")
        tls = ServerTLS(Path(args.tls_cert), Path(args.tls_key), Path(args.client_ca) if args.client_ca else None)
    router = Router(all_contracts())
    server = serve(args.address, args.id, router.invoke, tls)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=2).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
