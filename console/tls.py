"""Mutual TLS for the console: the client certificate, handed from the TLS layer to the app.

uvicorn verifies the client certificate against the CA bundle it is given but does not pass it
to the application, so this HTTP protocol class (uvicorn's own h11 protocol, subclassed) reads
it from the connection's SSL object and puts it in the ASGI scope under
``extensions["tls"]["client_cert_der"]``. Requests arriving without TLS carry no certificate
and are refused by :mod:`console.access`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


class ClientCertProtocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        inner = self.app

        async def with_cert(scope: dict[str, Any], receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})["tls"] = {"client_cert_der": der}
            await inner(scope, receive, send)

        self.app = with_cert


def client_cert(scope: dict[str, Any]) -> bytes | None:
    return (scope.get("extensions") or {}).get("tls", {}).get("client_cert_der")
