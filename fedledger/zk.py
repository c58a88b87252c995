"""`fedledger zk ceremony`: the consortium's setup ceremony for an audited study's circuit, or for
a model's binding circuit (secure studies with bound inputs).

Every hospital of the local consortium contributes to both phases in turn (demo/zk_setup.py),
the verifying key is registered on the ledger with the ceremony's record, and each hospital's
key store receives the proving key its agent answers audits (or binds its inputs) with. The
printed key hash is what ``fedledger study init --audit-rate R --zk-key HASH`` (or
``--bind-key HASH``) takes.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.console import Console

from agent.models import ModelSpec
from agent.study_init import StudyInitError, circuit_for
from agent.zk.binary import ZkError
from chaincode.contracts import zk_circuits
from fedledger.network import open_network, state_dir_option
from fedledger.output_path import OutputPath
from network.admins import Admins

console = Console()


@click.group("zk")
def zk_group() -> None:
    """Zero-knowledge audits: the consortium's setup ceremony."""


@zk_group.command("ceremony")
@state_dir_option
@click.option(
    "--model",
    "model",
    default=None,
    help="The study's model (e.g. logreg-d10-c2): the ceremony is for the circuit that proves its steps.",
)
@click.option("--circuit", default=None,
              help="Or name the circuit itself (logreg-d<D>-b<B>, mlp-d<D>-h<H>-b<B>, bind-w<weights>).")  # fmt: skip
@click.option(
    "--binding",
    is_flag=True,
    help="With --model: the ceremony for the model's binding circuit (secure studies with bound inputs).",
)
@click.option("--cache", type=OutputPath(file_okay=False, dir_okay=True), default=None,
              help="Where keys and transcripts are kept [default: $FEDLEDGER_CACHE/zk-ceremony].")  # fmt: skip
def ceremony_cmd(state_dir: Path | None, model: str | None, circuit: str | None, binding: bool,
                 cache: Path | None) -> None:  # fmt: skip
    """Run the setup ceremony (cached per ledger, circuit and prover build), register the
    verifying key and give every hospital's agent the proving key."""
    from demo.zk_setup import consortium_ceremony, distribute_to_keys_dirs, register

    if (model is None) == (circuit is None):
        raise click.UsageError("name either --model or --circuit")
    if binding and model is None:
        raise click.UsageError("--binding goes with --model (or name the binding circuit with --circuit)")
    try:
        if model:
            name = circuit_for(ModelSpec.parse(model))
            name = zk_circuits.bind_name(zk_circuits.parse(name).weights) if binding else name
        else:
            zk_circuits.check_key_circuit(circuit or "")
            name = circuit or ""
    except (ValueError, StudyInitError) as exc:
        raise click.BadParameter(str(exc)) from None
    root = cache or Path(os.environ.get("FEDLEDGER_CACHE", Path.home() / ".cache" / "fedledger")) / "zk-ceremony"
    net = open_network(state_dir)
    try:
        keys = consortium_ceremony(net, name, root, lambda m: console.print(f"  {m}"))
    except ZkError as exc:
        raise click.ClickException(f"the ceremony failed: {exc}") from None
    with Admins(net) as admins:
        vk_hash = register(admins, keys)
        distribute_to_keys_dirs(keys, [admins.share_key_path(n).parent for n in admins.names])
    click.echo(f"circuit {name}: verifying key {vk_hash} registered; proving key given to {len(admins.names)} "
               "hospitals")  # fmt: skip
    flag = "--bind-key" if name.startswith("bind-") else "--audit-rate 0.1 --zk-key"
    click.echo(f"next: fedledger study init ... {flag} {vk_hash}")
