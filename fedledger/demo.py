"""`fedledger demo`: the main job, end to end on a real local consortium.

Today it brings the network up, has each hospital's admin register its org (with a fresh
X25519 share key), shows that the Regulator's write is refused, and prints the registry as
the Regulator sees it, then runs a federated study (fedledger/study_demo.py) and prints the
federated model against centralised and local training.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from agent.gateway import GatewayError
from agent.keys import load_or_create_x25519, public_b64
from agent.registry_cli import print_registry
from network.binaries import ToolError
from network.cli import open_network, state_dir_option
from network.topology import CHAINCODE_NAME, CHANNEL

console = Console(width=None if Console().is_terminal else 130)


@click.command("demo")
@state_dir_option
@click.option("--down/--keep", "stop_after", default=False, help="Stop the network at the end [default: keep].")
@click.option("--rounds", default=3, show_default=True, help="Rounds of the federated study (0 skips it).")
@click.option("--epsilon", default=1.0, show_default=True, help="DP epsilon each hospital spends per round.")
def demo(state_dir: Path | None, stop_after: bool, rounds: int, epsilon: float) -> None:
    """Run the main job: local consortium up, hospitals registered, registry printed."""
    t0 = time.monotonic()
    net = open_network(state_dir)
    console.rule("[bold]1. Consortium network")
    try:
        net.up()
    except ToolError as exc:
        raise click.ClickException(f"network up failed: {exc}") from None
    t_up = time.monotonic() - t0

    console.rule("[bold]2. Hospitals register (each org's admin, endorsed by a majority of orgs)")
    latencies = []
    for org in net.topology.hospitals:
        key = load_or_create_x25519(net.state.root / "keys" / org.short / "share_x25519.pem")
        args = {
            "msp_id": org.msp_id,
            "display_name": f"{org.name} University Hospital",
            "contact": f"fl-team@{org.domain}",
            "share_key": public_b64(key),
        }
        with net.gateway(org.name, "Admin") as gw:
            contract = gw.network(CHANNEL).contract(CHAINCODE_NAME, "Registry")
            start = time.monotonic()
            try:
                result = contract.submit("Register", args)
                action = "registered"
            except GatewayError as exc:
                if exc.chaincode_status != 409:
                    raise click.ClickException(str(exc)) from None
                result = contract.submit("Update", args)
                action = "updated"
            latencies.append(time.monotonic() - start)
            console.print(
                f"  {org.msp_id:<14} {action}, version {result.json()['version']}, "
                f"block {result.block_number}, {latencies[-1] * 1000:.0f} ms"
            )

    console.rule("[bold]3. The Regulator reads, and may not write")
    with net.gateway("Regulator", "Admin") as gw:
        contract = gw.network(CHANNEL).contract(CHAINCODE_NAME, "Registry")
        try:
            contract.submit(
                "Register",
                {"msp_id": "RegulatorMSP", "display_name": "x", "contact": "a@b.c", "share_key": public_b64(key)},
            )
            raise click.ClickException("the Regulator's write was accepted: access control is broken")
        except GatewayError as exc:
            console.print(f"  Regulator write refused as expected: [italic]{exc.chaincode_message}[/italic]")
    with net.gateway("Regulator", "User1") as gw:
        entries = gw.network(CHANNEL).contract(CHAINCODE_NAME, "Registry").evaluate("List")
    print_registry(entries, "Hospital registry, as the Regulator's compliance officer sees it")
    console.print(
        f"network up {t_up:.1f}s; registration commit latency "
        f"{min(latencies) * 1000:.0f}-{max(latencies) * 1000:.0f} ms; demo total {time.monotonic() - t0:.1f}s"
    )
    if rounds > 0:
        console.rule(f"[bold]4. A federated study: {rounds} rounds, DP-SGD, IPFS, the ledger (trusted-aggregator mode)")
        from fedledger.study_demo import run_study

        outcome = run_study(net, lambda m: console.print(f"  {m}"), rounds=rounds, epsilon_per_round=epsilon)
        table = Table(title=f"Global test set ({outcome.study_id})")
        for col in ("model", "accuracy", "F1", "AUROC", "privacy"):
            table.add_column(col)
        f = outcome.federated
        eps = ", ".join(f"{m.replace('MSP', '')} {e:.2f}" for m, e in outcome.epsilon.items())
        table.add_row("federated, DP", f"{f['accuracy']:.3f}", f"{f['f1']:.3f}", f"{f['auroc']:.3f}",
                      f"epsilon spent: {eps} (delta 1e-5)")  # fmt: skip
        cen = outcome.central
        table.add_row("centralised, pooled", f"{cen['accuracy']:.3f}", f"{cen['f1']:.3f}", f"{cen['auroc']:.3f}",
                      "none (data moved)")  # fmt: skip
        for m, loc in outcome.local.items():
            table.add_row(f"{m.replace('MSP', '')} alone", f"{loc['accuracy']:.3f}", f"{loc['f1']:.3f}",
                          f"{loc['auroc']:.3f}", "none (own data only)")  # fmt: skip
        console.print(table)
        console.print(
            f"study wall time {outcome.wall_s:.1f}s, of which ledger (submit until every hospital's peer "
            f"committed) {outcome.ledger_s:.1f}s"
        )
    if stop_after:
        net.down()
        console.print("network stopped (state kept; `fedledger network down --purge` deletes it)")
    else:
        console.print("The network keeps running: `scripts/fedledger network status`, `... network down [--purge]`.")
