"""The `fedledger` command line: one entry point for every user of the system.

One module per command group (fedledger/<group>.py). The benchmarks are the top layer: nothing
imports them, so their group is loaded by name only when ``fedledger bench`` is run (and is
absent from an installation without them).
"""

from __future__ import annotations

import importlib
import importlib.util

import click

from fedledger import __version__
from fedledger.agent import agent_group
from fedledger.certificate import certificate_group
from fedledger.consent import consent_group
from fedledger.console import console_cmd
from fedledger.data import data_group
from fedledger.demo import demo
from fedledger.errors import USER_ERRORS, as_click_error
from fedledger.governance import audit_group, round_group, study_group, token_group
from fedledger.model import model_group
from fedledger.network import network_group
from fedledger.org import org_group
from fedledger.registry import registry_group
from fedledger.zk import zk_group

LAZY = {"bench": ("bench.cli", "bench_group", "Benchmarks that print figures and write JSON.")}


class FedledgerGroup(click.Group):
    """The top-level group: eager command groups plus those in :data:`LAZY`, imported by name."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *(n for n in LAZY if _available(n))])

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:  # the CLI's one error path (fedledger/errors.py)
            raise as_click_error(exc) from None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY and _available(cmd_name):
            module, attr, _ = LAZY[cmd_name]
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, cmd_name)


def _available(name: str) -> bool:
    return importlib.util.find_spec(LAZY[name][0].split(".")[0]) is not None


@click.group(cls=FedledgerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fedledger")
def cli() -> None:
    """fedledger: hospitals train medical models together on a Hyperledger Fabric ledger,
    without moving patient data."""


for command in (network_group, org_group, registry_group, token_group, study_group, round_group, audit_group,
                agent_group, data_group, model_group, consent_group, zk_group, certificate_group, console_cmd,
                demo):  # fmt: skip
    cli.add_command(command)


def main() -> None:
    cli(prog_name="fedledger")
