"""`fedledger network ...`: the consortium admin's commands for the local network."""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from fedledger.output_path import OutputPath
from network.binaries import ToolError
from network.consortium import LocalConsortium
from network.host_plan import HostPlan, consortium_plan
from network.state import StateDir, default_state_dir
from network.topology import ORDERER_ORG, Org, Topology

console = Console(stderr=True)

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Network state directory [default: .fedledger/network or $FEDLEDGER_NETWORK_DIR].",
)


def open_network(
    state_dir: Path | None, port_base: int | None = None, hosts: HostPlan | None = None, bft: bool = False
) -> LocalConsortium:
    """The network at ``state_dir`` as its manifest records it; a new one on ``port_base``,
    with ``hosts`` laid out on namespace hosts, with ``bft`` ordered by 4 SmartBFT orderers."""
    started = time.monotonic()

    def progress(msg: str) -> None:
        console.print(f"[dim]{time.monotonic() - started:6.1f}s[/dim] {msg}")

    state = StateDir(state_dir or default_state_dir())
    if state.read_manifest():
        return LocalConsortium.open(state_dir, progress)
    ordering: dict[str, Any] = {"orderer_count": 4, "consensus": "BFT"} if bft else {}
    base = port_base if port_base is not None else Topology.from_env().port_base
    if hosts is not None:
        return LocalConsortium.on_hosts(state, hosts, base, progress=progress, **ordering)
    return LocalConsortium(state, Topology(port_base=base, **ordering), progress)


@click.group("network")
def network_group() -> None:
    """Bring the local consortium network up and down, inspect and repair it."""


@network_group.command("up")
@state_dir_option
@click.option(
    "--port-base", type=int, default=None, help="First loopback port [default: 7100 or $FEDLEDGER_PORT_BASE]."
)
@click.option(
    "--hosts",
    "lab",
    default=None,
    metavar="LAB",
    help="Put every org on its own namespace host of lab LAB (needs root), with its own CA and state directory.",
)
@click.option("--subnet", default="10.77.0.0/24", show_default=True, help="The hosts' /24 (with --hosts).")
@click.option(
    "--consensus",
    type=click.Choice(["raft", "bft"]),
    default="raft",
    show_default=True,
    help="Ordering: 3 Raft orderers (crash faults), or 4 SmartBFT orderers (one Byzantine orderer tolerated).",
)
def up(state_dir: Path | None, port_base: int | None, lab: str | None, subnet: str, consensus: str) -> None:
    """Create (first time) or restart the consortium: 3 Raft orderers (or 4 SmartBFT ones),
    peers of HospitalA/B/C and the Regulator, channel 'fedledger', and the governance
    chaincode as a service. On one machine by default; with --hosts every org runs on a host
    of its own. A network that exists restarts as it was created (the options are ignored)."""
    plan = None
    if lab is not None:
        plan = _checked_plan(lab, subnet, Topology().application_orgs, patients=True)
    net = open_network(state_dir, port_base, plan, bft=consensus == "bft")
    try:
        net.up()
    except ToolError as exc:
        console.print(f"[red]network up failed:[/red] {exc}")
        console.print("Logs are in " + str(net.state.root / "logs"))
        sys.exit(1)
    _print_status(net)


@network_group.command("down")
@state_dir_option
@click.option("--purge", is_flag=True, help="Also delete keys, ledgers and logs.")
def down(state_dir: Path | None, purge: bool) -> None:
    """Stop every node; ledgers are kept unless --purge."""
    net = open_network(state_dir)
    from fedledger.console import stop_console

    console_stopped = stop_console(net.state.root)
    stopped = net.down(purge=purge) + (["console"] if console_stopped else [])
    console.print(f"stopped {len(stopped)} processes" + (" and deleted the network state" if purge else ""))


@network_group.command("status")
@state_dir_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(state_dir: Path | None, as_json: bool) -> None:
    """Show every node: process, port and health (operations endpoint)."""
    net = open_network(state_dir)
    if as_json:
        click.echo(json.dumps([s.__dict__ for s in net.status()], indent=2))
        return
    _print_status(net)


@network_group.command("logs")
@state_dir_option
@click.argument("node")
@click.option("-n", "--lines", default=50, show_default=True, help="How many lines from the end.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
def logs(state_dir: Path | None, node: str, lines: int, follow: bool) -> None:
    """Print a node's log (e.g. orderer1, peer0.hospitala, chaincode.hospitalb)."""
    net = open_network(state_dir)
    try:
        path = net.log_path(node)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0])) from None
    if not path.exists():
        raise click.ClickException(f"no log yet at {path}")
    with open(path, errors="replace") as fh:
        for line in deque(fh, maxlen=lines):
            click.echo(line, nl=False)
        while follow:
            line = fh.readline()
            if line:
                click.echo(line, nl=False)
            else:
                time.sleep(0.3)


@network_group.command("restart")
@state_dir_option
@click.argument("node")
def restart(state_dir: Path | None, node: str) -> None:
    """Restart one node and wait until it is healthy again."""
    net = open_network(state_dir)
    try:
        net.restart(node)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0])) from None
    except ToolError as exc:
        raise click.ClickException(str(exc)) from None
    console.print(f"{node} restarted")


@network_group.command("upgrade-chaincode")
@state_dir_option
@click.option("--version", "version", required=True, help="The new chaincode version, e.g. 1.1.")
def upgrade_chaincode_cmd(state_dir: Path | None, version: str) -> None:
    """Upgrade the chaincode on the running channel (sequence + 1), studies and agents running:
    every org starts a service of the new version beside the old one, installs and approves
    it, the definition is committed, then the old services stop."""
    from network.chaincode_upgrade import upgrade_chaincode

    net = open_network(state_dir)
    try:
        record = upgrade_chaincode(net, version, say=lambda line: console.print(f"  {line}"))
    except ToolError as exc:
        raise click.ClickException(str(exc)) from None
    console.print(f"chaincode {record['name']} {record['version']} (sequence {record['sequence']}) is live")


@network_group.command("add-orderer")
@state_dir_option
def add_orderer_cmd(state_dir: Path | None) -> None:
    """Add an orderer to the running channel's Raft consenter set (by the orderer org's admin):
    its identities, its process, the config update, its join from the latest config block."""
    from network.orderer_set import add_orderer

    net = add_orderer(open_network(state_dir), lambda line: console.print(f"  {line}", soft_wrap=True))
    console.print(f"orderers: {', '.join(n.name for n in net.topology.orderers)}")


@network_group.command("remove-orderer")
@state_dir_option
@click.argument("name")
def remove_orderer_cmd(state_dir: Path | None, name: str) -> None:
    """Take orderer NAME out of the Raft consenter set (one at a time, at least 3 stay), drop
    the channel from it and stop it."""
    from network.orderer_set import remove_orderer

    net = remove_orderer(open_network(state_dir), name, lambda line: console.print(f"  {line}", soft_wrap=True))
    console.print(f"orderers: {', '.join(n.name for n in net.topology.orderers)}")


@network_group.command("compose")
@state_dir_option
@click.option(
    "--out",
    type=OutputPath(),
    default=None,
    help="Where to write it [default: docker-compose.fabric.yml in the checkout].",
)
@click.option("--subnet", default="10.77.0.0/24", show_default=True, help="The hosts' /24, for a network not on hosts.")
def compose_cmd(state_dir: Path | None, out: Path | None, subnet: str) -> None:
    """Write docker-compose.fabric.yml: the consortium on hosts as Docker services, one profile
    per org (each org runs `docker compose --profile <org> up -d` on its own machine). From the
    network at --state-dir if it runs on hosts, else from the default hosts layout."""
    from network.compose import DEFAULT_FILE, render

    net = open_network(state_dir)
    plan = net.hosts or _checked_plan("fl", subnet, net.topology.application_orgs)
    target = out or DEFAULT_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(plan, net.topology.port_base))
    console.print(f"wrote {target}: {len(plan.members)} orgs' services; set <ORG>_CA_REGISTRAR_SECRET and "
                  "<ORG>_CHAINCODE_ID in each org's .env")  # fmt: skip


def _checked_plan(lab: str, subnet: str, orgs: Sequence[Org], patients: bool = False) -> HostPlan:
    """The hosts plan, its lab name and subnet checked before anything is made."""
    plan = consortium_plan(lab, subnet, [ORDERER_ORG, *orgs], patients=patients)
    try:
        plan.hosts()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--hosts/--subnet") from None
    return plan


def _print_status(net: LocalConsortium) -> None:
    table = Table(title=f"fedledger network ({net.state.root})")
    for col in ("node", "kind", "org", "address", "pid", "state"):
        table.add_column(col)
    for s in net.status():
        state = (
            "[green]healthy[/green]" if s.healthy else ("[yellow]starting[/yellow]" if s.running else "[red]down[/red]")
        )
        table.add_row(s.name, s.kind, s.org, f"{s.host}:{s.port}", str(s.pid or "-"), state)
    Console().print(table)
