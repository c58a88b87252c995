"""A certificate as people read it: one self-contained HTML page (and the same page as a PDF).

The page shows the verification's outcome first (the checks that passed, or the one that
failed), then the statement (the model, who trained it and how, per round), then the evidence
(which transaction in which block, endorsed by whom, wrote each fact), and what a certificate
proves and assumes. It is rendered from the verifier's result, so what it shows as verified
was verified.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from provenance.certificate import Certificate
from provenance.verify import Verified

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _when(ms: int | None) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _eps(micro: int | None) -> str:
    return "" if micro is None else f"{micro / 1_000_000:.3f}"


_ENV.filters["when"] = _when
_ENV.filters["eps"] = _eps


def html(cert: Certificate, outcome: Verified | None, failure: str | None = None) -> str:
    """The page for ``cert``; ``outcome`` when it verified, else ``failure`` (why it did not)."""
    return _ENV.get_template("certificate.html.j2").render(
        cert=cert, s=cert.statement, outcome=outcome, failure=failure, short=_short
    )


def pdf(page: str) -> bytes:
    """The HTML page printed to PDF (WeasyPrint: no browser needed)."""
    import weasyprint  # loaded only when a PDF is asked for: it pulls in Pango through cffi

    # its font subsetting notes (HarfBuzz-Subset absent, fontTools used instead) are not a user's concern
    for name in ("weasyprint", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return weasyprint.HTML(string=page).write_pdf()


def _short(value: Any, n: int = 12) -> str:
    text = str(value)
    return text if len(text) <= n + 1 else text[:n] + "…"
