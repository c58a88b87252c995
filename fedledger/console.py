"""`fedledger console`: the compliance console, served by one org over mutual TLS.

It reads the ledger only through that org's gateway peer as that org's client identity;
people reach it with their own Fabric client certificate (see docs/console.md). ``--detach``
starts it in the background (its pid in the network's run directory; ``network down`` stops
it), which is what ``make demo`` does.
"""

from __future__ import annotations

import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import click

from fedledger.network import open_network, state_dir_option
from network import process
from network.consortium import LocalConsortium


@click.command("console")
@state_dir_option
@click.option("--org", default="Regulator", show_default=True, help="The org that serves it (its gateway peer).")
@click.option("--user", default="User1", show_default=True, help="The identity it reads the ledger as.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8443, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--allow-org",
    "allow_orgs",
    multiple=True,
    help="MSP ID whose admins may read (repeat); default: every org of the channel.",
)
@click.option("--detach", is_flag=True, help="Run in the background; stop with `fedledger network down`.")
def console_cmd(state_dir: Path | None, org: str, user: str, host: str, port: int, allow_orgs: tuple[str, ...],
                detach: bool) -> None:  # fmt: skip
    """Serve the compliance console on https://HOST:PORT."""
    net = open_network(state_dir)
    home = net.state.root / "console"
    if detach:
        url = start_detached(net, org, user, host, port, allow_orgs)
        click.echo(f"console on {url} (server certificate {home / 'console-tls.crt'}; log {net.state.log('console')})")
        return
    from console.server import ConsoleSettings, serve

    settings = ConsoleSettings(host=host, port=port, state_dir=home, orgs=allow_orgs or None)
    click.echo(f"console on https://{host}:{port}/ as {user}@{org}; connect with a channel member's client "
               f"certificate; server certificate {home / 'console-tls.crt'}")  # fmt: skip
    with net.ledger(org, user) as ledger:
        serve(ledger, settings)


def start_detached(net: LocalConsortium, org: str = "Regulator", user: str = "User1", host: str = "127.0.0.1",
                   port: int = 8443, allow_orgs: Sequence[str] = ()) -> str:  # fmt: skip
    """Start the console of ``net`` in the background (a running one is left as it is); its URL."""
    running = process.read_record(net.state.pid("console"))
    if running is not None and process.alive(running):  # its own address, whatever was asked for now
        argv = running.argv
        return f"https://{argv[argv.index('--host') + 1]}:{argv[argv.index('--port') + 1]}/"
    allow = [a for o in allow_orgs for a in ("--allow-org", o)]
    argv = [sys.executable, "-m", "fedledger", "console", "--state-dir", str(net.state.root), "--org", org,
            "--user", user, "--host", host, "--port", str(port), *allow]  # fmt: skip
    process.start("console", argv, {}, net.state.log("console"), net.state.pid("console"))
    _wait_listening(host, port, net.state.log("console"))
    return f"https://{host}:{port}/"


def _wait_listening(host: str, port: int, log: Path, timeout_s: float = 60.0) -> None:
    """Until the console answers (403 without a certificate is an answer), or say why not."""
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"https://{host}:{port}/", context=ctx, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.5)
    tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
    raise click.ClickException(f"the console did not come up on {host}:{port} in {timeout_s:.0f}s:\n" + "\n".join(tail))


def stop_console(state_root: Path) -> bool:
    """Stop a detached console of the network at ``state_root`` (``network down`` calls it)."""
    return process.stop(state_root / "run" / "console.pid")
