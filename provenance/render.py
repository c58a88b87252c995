"""A certificate as people read it: one self-contained HTML page (and the same page as a PDF).

The page shows the verification's outcome first (the checks that passed, or the one that
failed), then the statement (the model, who trained it and how, per round), then the evidence
(which transaction in which block, endorsed by whom, wrote each fact), and what a certificate
proves and assumes. It is rendered from the verifier's result, so what it shows as verified
was verified.
"""

from __future__ import annotations

import json
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


def _eps(micro: Any) -> str:
    return "" if micro is None else _micro(micro, "{:.3f}")


def _micro(value: Any, style: str = "{:g}") -> str:
    """A millionths figure as a number; anything else (a statement that failed verification may
    hold any JSON) as the text it is."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return style.format(value / 1_000_000)
    return _short(value, 40)


_ENV.filters["when"] = _when
_ENV.filters["eps"] = _eps
_ENV.filters["micro"] = _micro

# what a statement of the wrong shape raises while the page reads it
_UNREADABLE = (TypeError, AttributeError, KeyError, IndexError, ValueError, OverflowError, RecursionError,
               jinja2.UndefinedError)  # fmt: skip
RAW_SHOWN = 20_000  # characters of an unreadable statement shown as text


def html(cert: Certificate, outcome: Verified | None, failure: str | None = None) -> str:
    """The page for ``cert``; ``outcome`` when it verified, else ``failure`` (why it did not).

    A certificate that failed verification may carry a statement of any shape; when the page
    cannot read it, the page says so, with the verdict and the statement as raw text, instead
    of failing (the console would answer 500, the CLI print a trace)."""
    try:
        return _ENV.get_template("certificate.html.j2").render(
            cert=cert, s=cert.statement, outcome=outcome, failure=failure, short=_short
        )
    except _UNREADABLE as exc:
        try:
            raw = json.dumps(cert.statement, indent=1, ensure_ascii=False, default=str)
        except RecursionError:  # nested deeper than the encoder follows: the bounded file is not worth showing
            raw = "(nested too deeply to show)"
        return _ENV.get_template("unreadable.html.j2").render(
            cert=cert, outcome=outcome, failure=failure, problem=f"{type(exc).__name__}: {_short(exc, 200)}",
            raw=raw[:RAW_SHOWN], cut=max(0, len(raw) - RAW_SHOWN),
        )  # fmt: skip


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
