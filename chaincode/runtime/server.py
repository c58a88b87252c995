"""The chaincode-as-a-service gRPC server the peer dials.

Fabric's external builder hands the peer a ``connection.json`` with our address and TLS
material; the peer opens ``Chaincode.Connect`` and the stream runs the shim protocol
(chaincode/runtime/handler.py). One server can serve several peer streams; each gets its own
handler, and all share one worker pool for transactions.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from fabric_protos.peer import chaincode_shim_pb2 as shim
from fabric_protos.peer import chaincode_shim_pb2_grpc as shim_grpc

from chaincode.runtime.handler import Dispatcher, StreamHandler

log = logging.getLogger("fedledger.chaincode.server")
_CLOSE = object()


@dataclass(frozen=True)
class ServerTLS:
    """Server key pair, and the CA that signs peer client certificates when mutual TLS is on."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None


class ChaincodeService(shim_grpc.ChaincodeServicer):
    def __init__(self, chaincode_id: str, dispatch: Dispatcher, workers: int = 16) -> None:
        self._chaincode_id = chaincode_id
        self._dispatch = dispatch
        self._executor = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tx")

    def Connect(self, request_iterator: Iterator[shim.ChaincodeMessage], context: grpc.ServicerContext):
        outgoing: queue.Queue[object] = queue.Queue()
        handler = StreamHandler(self._chaincode_id, self._dispatch, outgoing.put, self._executor)
        peer = context.peer()
        log.info("peer connected from %s", peer)

        def read() -> None:
            try:
                for msg in request_iterator:
                    handler.on_message(msg)
            except grpc.RpcError:
                pass
            except Exception:
                log.exception("stream from %s failed", peer)
            finally:
                outgoing.put(_CLOSE)

        handler.register()
        threading.Thread(target=read, name="shim-reader", daemon=True).start()
        while True:
            item = outgoing.get()
            if item is _CLOSE:
                log.info("peer %s disconnected", peer)
                return
            yield item

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def serve(address: str, chaincode_id: str, dispatch: Dispatcher, tls: ServerTLS | None) -> grpc.Server:
    """Start serving on ``address`` (host:port) and return the running server."""
    options = [
        ("grpc.max_send_message_length", 100 * 1024 * 1024),
        ("grpc.max_receive_message_length", 100 * 1024 * 1024),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 5000),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="grpc"), options=options)
    service = ChaincodeService(chaincode_id, dispatch)
    shim_grpc.add_ChaincodeServicer_to_server(service, server)
    if tls is None:
        server.add_insecure_port(address)
    else:
        creds = grpc.ssl_server_credentials(
            [(tls.key_file.read_bytes(), tls.cert_file.read_bytes())],
            root_certificates=tls.client_ca_file.read_bytes() if tls.client_ca_file else None,
            require_client_auth=tls.client_ca_file is not None,
        )
        server.add_secure_port(address, creds)
    server.start()
    log.info("chaincode %s listening on %s (tls=%s)", chaincode_id, address, tls is not None)
    return server
