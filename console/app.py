"""The console's routes: one server-rendered page per view, live events, certificates.

Every request passes :class:`console.access.AccessPolicy` first (403 with the reason
otherwise). Path and query parameters are checked against the ledger's own formats before any
ledger call (400 naming the parameter); a record the ledger does not hold is a 404.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jinja2
from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from chaincode.contracts import registry, studies
from clients.fabric import EvaluateError, GatewayError
from console import charts
from console.access import AccessDenied, AccessPolicy
from console.events import TooManySubscribers
from console.reader import LedgerReader
from console.tls import client_cert
from provenance import render
from provenance.errors import Refused
from provenance.verify import verify

# the ledger's own formats, checked before any ledger call
STUDY_ID = re.compile(studies.STUDY_ID)
MSP_ID = re.compile(registry.MSP_ID)
HASH = re.compile(studies.HEX64)
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                          undefined=jinja2.StrictUndefined)  # fmt: skip
_ENV.filters["when"] = lambda ms: "" if ms is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000))
_ENV.filters["eps"] = lambda micro: "" if micro is None else f"{micro / 1e6:.3f}"
_ENV.filters["ppm"] = lambda v: "" if v is None else f"{v / 1e6:.3f}"


class BadRequest(Exception):
    """A parameter that is not in the ledger's format (400)."""


def page(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    body = _ENV.get_template(template).render(reader=getattr(request.state, "reader", None), path=request.url.path,
                                              charts=charts, **ctx)  # fmt: skip
    return HTMLResponse(body, status_code=status)


def _param(request: Request, name: str, pattern: re.Pattern[str]) -> str:
    value = request.path_params.get(name) or request.query_params.get(name) or ""
    if not pattern.fullmatch(value):
        raise BadRequest(f"{name} {value[:80]!r} is not a valid {name.replace('_', ' ')}")
    return value


class AccessMiddleware:
    """Refuses any request whose client certificate is not a reader's (see console.access)."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            scope.setdefault("state", {})["reader"] = self.policy.reader(client_cert(scope))
        except AccessDenied as exc:
            body = _ENV.get_template("denied.html.j2").render(reason=str(exc))
            await HTMLResponse(body, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(reader: LedgerReader, policy: AccessPolicy) -> Starlette:
    """The console over ``reader``, readable by whom ``policy`` admits."""

    def consortium(request: Request) -> Response:
        return page(request, "consortium.html.j2", c=reader.consortium())

    def studies(request: Request) -> Response:
        return page(request, "studies.html.j2", studies=reader.studies())

    def study(request: Request) -> Response:
        sid = _param(request, "study_id", STUDY_ID)
        whole = request.query_params.get("timeline") == "all"
        return page(request, "study.html.j2", sid=sid, whole_timeline=whole, **reader.study(sid))

    def round_page(request: Request) -> Response:
        sid = _param(request, "study_id", STUDY_ID)
        n = request.path_params["round"]
        if not n.isdigit() or int(n) > 999:
            raise BadRequest(f"round {n[:20]!r} is not a round number (0-999)")
        r = reader.round(sid, int(n))
        blocks = {t["tx_id"]: reader.events.block_of(t["tx_id"]) for t in r.get("transitions", [])}
        return page(request, "round.html.j2", sid=sid, r=r, blocks=blocks)

    def lineage(request: Request) -> Response:
        sid = _param(request, "study_id", STUDY_ID)
        data = reader.study(sid, timeline=False)
        graph = charts.lineage(data["lineage"]["versions"], data["study"]["params"]["model_hash"])
        return page(request, "lineage.html.j2", sid=sid, graph=graph, **data)

    def report(request: Request) -> Response:
        sid = _param(request, "study_id", STUDY_ID)
        data = reader.study(sid)
        graph = charts.lineage(data["lineage"]["versions"], data["study"]["params"]["model_hash"])
        html = _ENV.get_template("report.html.j2").render(sid=sid, graph=graph, charts=charts, reader=None, path="",
                                                          whole_timeline=True, **data)  # fmt: skip
        pdf = reader.cached(("report.pdf", sid), lambda: render.pdf(html))  # seconds of CPU: once per height
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{sid}-compliance-report.pdf"'},
        )

    def hospital(request: Request) -> Response:
        msp = _param(request, "msp_id", MSP_ID)
        return page(request, "hospital.html.j2", msp=msp, h=reader.hospital(msp))

    def consent(request: Request) -> Response:
        return page(request, "consent.html.j2", s=reader.consent())

    def search(request: Request) -> Response:
        q = request.query_params.get("q", "")
        if len(q) > 200:
            raise BadRequest("q is longer than 200 characters: search by transaction id, block number or model hash")
        return page(request, "search.html.j2", q=q, result=reader.search(q) if q.strip() else None)

    def certificate(request: Request) -> Response:
        digest, fmt = request.path_params["digest"], request.path_params["fmt"]
        if not HASH.fullmatch(digest) or fmt not in ("json", "html", "pdf"):
            raise BadRequest("a certificate is asked for as /certificate/<sha-256 of the model>.json|html|pdf")
        cert = reader.certificate(digest)
        if fmt == "json":
            return Response(
                cert.dumps(),
                media_type="application/json",
                headers={"Content-Disposition": f'attachment; filename="model-{digest[:16]}.cert.json"'},
            )

        def verified_page() -> str:
            try:
                return render.html(cert, verify(cert, reader.trust))
            except Refused as exc:  # shown as not verified, with the reason, never as verified
                return render.html(cert, None, str(exc))

        html = reader.cached(("cert.html", digest), verified_page)  # verified once per height
        if fmt == "html":
            return HTMLResponse(html)
        pdf = reader.cached(("cert.pdf", digest), lambda: render.pdf(html))
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="model-{digest[:16]}.cert.pdf"'},
        )

    async def events(request: Request) -> Response:
        try:
            queue = reader.events.subscribe()
        except TooManySubscribers as exc:
            return Response(str(exc), status_code=503, headers={"Retry-After": "30"})

        async def stream() -> AsyncIterator[dict[str, str]]:
            try:
                while True:
                    event = await queue.get()
                    yield {"event": "ledger", "data": event.json()}
            finally:  # a stream that broke off; unsubscribing twice is harmless
                reader.events.unsubscribe(queue)

        # the queue goes when the response ends, however it ends (even before the stream started)
        return EventSourceResponse(stream(), ping=15, background=BackgroundTask(reader.events.unsubscribe, queue))

    async def bad_request(request: Request, exc: Exception) -> Response:
        return page(request, "error.html.j2", status=400, title="Bad request", message=str(exc))

    async def refused(request: Request, exc: Exception) -> Response:
        status = 404
        if isinstance(exc, EvaluateError) and exc.chaincode_status not in (None, 404):
            status = 400 if (exc.chaincode_status or 500) < 500 else 502
        if isinstance(exc, GatewayError) and not isinstance(exc, EvaluateError):
            status = 503
        message = exc.chaincode_message if isinstance(exc, GatewayError) else str(exc)
        return page(request, "error.html.j2", status=status, title="Not on the ledger" if status == 404 else
                    "The ledger refused", message=message or str(exc))  # fmt: skip

    routes = [
        Route("/", consortium),
        Route("/studies", studies),
        Route("/studies/{study_id}", study),
        Route("/studies/{study_id}/lineage", lineage),
        Route("/studies/{study_id}/rounds/{round}", round_page),
        Route("/studies/{study_id}/report.pdf", report),
        Route("/hospitals/{msp_id}", hospital),
        Route("/consent", consent),
        Route("/search", search),
        Route("/certificate/{digest}.{fmt}", certificate),
        Route("/events", events),
    ]
    app = Starlette(routes=routes, exception_handlers={BadRequest: bad_request, GatewayError: refused,
                                                       Refused: refused})  # fmt: skip
    app.add_middleware(AccessMiddleware, policy=policy)
    return app
