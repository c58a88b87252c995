"""`fedledger certificate issue|verify|render|channel-config`: provenance certificates.

A compliance officer (or anyone on the channel) issues a model's certificate through their
org's gateway peer; anyone verifies it offline with the channel's configuration block, which
``channel-config`` saves. ``verify`` prints each check and exits 1 naming what failed.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from fedledger.network import open_network, state_dir_option
from fedledger.output_path import OutputPath
from provenance import certificate, render
from provenance.channel_config import ChannelTrust
from provenance.errors import Refused
from provenance.issue import channel_config_block, issue
from provenance.verify import Verified, verify


@click.group("certificate")
def certificate_group() -> None:
    """Provenance certificates: how a model was made, verifiable offline."""


def _identity_options(fn: click.decorators.FC) -> click.decorators.FC:
    fn = click.option("--user", default="User1", show_default=True, help="Identity of that org.")(fn)
    fn = click.option("--org", default="Regulator", show_default=True, help="Org whose gateway peer is read.")(fn)
    return state_dir_option(fn)


@certificate_group.command("issue")
@_identity_options
@click.option("--model", "model_hash", required=True, help="SHA-256 of the model (an aggregate or initial model).")
@click.option("--out", type=OutputPath(), required=True, help="Certificate file (JSON).")
@click.option("--html", "html_out", type=OutputPath(), help="Also write the HTML page.")
@click.option("--pdf", "pdf_out", type=OutputPath(), help="Also write the PDF.")
def issue_cmd(state_dir: Path | None, org: str, user: str, model_hash: str, out: Path, html_out: Path | None,
              pdf_out: Path | None) -> None:  # fmt: skip
    """Gather the evidence for MODEL from the ledger and write its certificate."""
    started = time.monotonic()
    with open_network(state_dir).ledger(org, user) as ledger:
        cert = issue(ledger, model_hash.lower(), progress=lambda m: click.echo(f"  {m}"))
        config = channel_config_block(ledger.network)
    cert.save(out)
    click.echo(f"certificate of {model_hash[:16]} (study {cert.statement['model']['study']}, round "
               f"{cert.statement['model']['round']}): {out} ({out.stat().st_size / 1024:.0f} KiB, "
               f"{len(cert.blocks)} blocks, {time.monotonic() - started:.1f}s)")  # fmt: skip
    if html_out or pdf_out:
        _render(cert, ChannelTrust.from_block(config), html_out, pdf_out)


@certificate_group.command("channel-config")
@_identity_options
@click.option("--out", type=OutputPath(), required=True)
def channel_config_cmd(state_dir: Path | None, org: str, user: str, out: Path) -> None:
    """Save the channel's current configuration block: what a verifier trusts."""
    with open_network(state_dir).ledger(org, user) as ledger:
        raw = channel_config_block(ledger.network)
    trust = ChannelTrust.from_block(raw)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(raw)
    click.echo(f"channel {trust.channel_id}, configuration sequence {trust.sequence}, MSPs "
               f"{', '.join(sorted(trust.msps))}: {out}")  # fmt: skip


def _load(cert_file: Path, config_file: Path) -> tuple[certificate.Certificate, ChannelTrust]:
    return certificate.load(cert_file.read_bytes()), ChannelTrust.from_block(config_file.read_bytes())


_CERT = click.argument("cert_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
_CONFIG = click.option("--channel-config", "config_file", required=True, help="The channel's configuration block.",
                       type=click.Path(exists=True, dir_okay=False, path_type=Path))  # fmt: skip


@certificate_group.command("verify")
@_CERT
@_CONFIG
def verify_cmd(cert_file: Path, config_file: Path) -> None:
    """Check CERT_FILE offline against nothing but the channel configuration block."""
    started = time.monotonic()
    cert, trust = _load(cert_file, config_file)
    try:
        outcome = verify(cert, trust)
    except Refused as exc:
        raise click.ClickException(f"NOT verified: {exc}") from None
    for line in outcome.checks:
        click.echo(f"  ok  {line}")
    click.echo(f"verified in {time.monotonic() - started:.2f}s: model {cert.statement['model']['hash']}")


@certificate_group.command("render")
@_CERT
@_CONFIG
@click.option("--html", "html_out", type=OutputPath(), help="HTML page to write.")
@click.option("--pdf", "pdf_out", type=OutputPath(), help="PDF to write.")
def render_cmd(cert_file: Path, config_file: Path, html_out: Path | None, pdf_out: Path | None) -> None:
    """Verify CERT_FILE and write it as a page people read (a failed check shows as NOT verified)."""
    if not html_out and not pdf_out:
        raise click.UsageError("give --html, --pdf or both")
    _render(*_load(cert_file, config_file), html_out, pdf_out)


def _render(cert: certificate.Certificate, trust: ChannelTrust, html_out: Path | None, pdf_out: Path | None) -> None:
    outcome: Verified | None = None
    failure = None
    try:
        outcome = verify(cert, trust)
    except Refused as exc:
        failure = str(exc)
    page = render.html(cert, outcome, failure)
    for path, data in ((html_out, page.encode()), (pdf_out, render.pdf(page) if pdf_out else b"")):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            click.echo(f"{'verified' if outcome else 'NOT verified'}; written {path}")
