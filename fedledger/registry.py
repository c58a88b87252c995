"""`fedledger registry ...`: a hospital admin registers its org; anyone on the channel reads."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from agent.keys import load_or_create_x25519, public_b64
from clients.fabric import GatewayError
from clients.ledger import Registry
from fedledger.network import open_network, state_dir_option

console = Console(width=None if Console().is_terminal else 130)


@click.group("registry")
def registry_group() -> None:
    """The consortium's hospital registry (display names, share keys, IPFS peer ids)."""


@registry_group.command("register")
@state_dir_option
@click.option("--org", required=True, help="Your org (HospitalA, HospitalB, ...).")
@click.option("--name", "display_name", required=True, help="Display name of the hospital.")
@click.option("--contact", required=True, help="Contact e-mail of the hospital's FL team.")
@click.option("--ipfs-peer-id", default=None, help="Kubo peer id of the hospital's IPFS node.")
@click.option("--update", is_flag=True, help="Replace an existing entry instead of creating one.")
def register(
    state_dir: Path | None, org: str, display_name: str, contact: str, ipfs_peer_id: str | None, update: bool
) -> None:
    """Register (or --update) your org, as its admin. Creates the org's X25519 share key on
    first use under the network state directory and publishes its public half."""
    net = open_network(state_dir)
    o = net.topology.org(org)
    key = load_or_create_x25519(net.state.root / "keys" / o.short / "share_x25519.pem")
    entry = {"msp_id": o.msp_id, "display_name": display_name, "share_key": public_b64(key), "contact": contact,
             "ipfs_peer_id": ipfs_peer_id or None}  # fmt: skip
    with net.ledger(org, "Admin") as ledger:
        try:
            result = ledger.submit(Registry.update(**entry) if update else Registry.register(**entry))
        except GatewayError as exc:
            if exc.chaincode_status != 409 or update:
                raise click.ClickException(str(exc)) from None
            current = ledger.evaluate(Registry.get(o.msp_id))
            if current.get("share_key") != entry["share_key"]:
                raise click.ClickException(f"{o.msp_id} is registered already with another share key than this "
                                           "machine's: --update replaces it (artifacts encrypted to the old key "
                                           "can then no longer be opened here)") from None  # fmt: skip
            console.print(f"{o.msp_id} is registered already (version {current['version']}, the same share key)")
            return
    version = result.json()["version"]
    console.print(f"{o.msp_id} registered, version {version} (tx {result.tx_id[:16]}…, block {result.block_number})")


@registry_group.command("list")
@state_dir_option
@click.option("--as", "as_org", default="Regulator", show_default=True, help="Org whose identity reads.")
@click.option("--user", default="User1", show_default=True, help="User of that org (Admin or User1).")
@click.option("--json", "as_json", is_flag=True)
def list_cmd(state_dir: Path | None, as_org: str, user: str, as_json: bool) -> None:
    """List every registered hospital."""
    with open_network(state_dir).ledger(as_org, user) as ledger:
        entries = ledger.evaluate(Registry.list())
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    print_registry(entries, f"Registry as {as_org}/{user} sees it")


@registry_group.command("history")
@state_dir_option
@click.argument("msp_id")
@click.option("--as", "as_org", default="Regulator", show_default=True)
def history(state_dir: Path | None, msp_id: str, as_org: str) -> None:
    """Every committed version of an org's entry (compliance view)."""
    with open_network(state_dir).ledger(as_org, "User1") as ledger:
        click.echo(json.dumps(ledger.evaluate(Registry.history(msp_id)), indent=2))


def print_registry(entries: list[dict], title: str) -> None:
    table = Table(title=title)
    for col in ("MSP ID", "name", "contact", "share key (X25519)", "version", "updated by"):
        table.add_column(col)
    for e in entries:
        table.add_row(
            e["msp_id"],
            e["display_name"],
            e["contact"],
            e["share_key"][:16] + "…",
            str(e["version"]),
            e["updated_by"].split("::")[1].split(",")[0],
        )
    console.print(table)
