"""The `fedledger` command line: one entry point for every user of the system."""

from __future__ import annotations

import click

from agent.consent.cli import consent_group
from agent.daemon.cli import agent_group
from agent.data.cli import data_group
from agent.governance_cli import audit_group, round_group, study_group, token_group
from agent.model_cli import model_group
from agent.registry_cli import registry_group
from bench.cli import bench_group
from fedledger import __version__
from fedledger.demo import demo
from fedledger.example_data import example_cmd
from fedledger.zk_cli import zk_group
from network.cli import network_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fedledger")
def cli() -> None:
    """fedledger: hospitals train medical models together on a Hyperledger Fabric ledger,
    without moving patient data."""


cli.add_command(network_group)
cli.add_command(registry_group)
for group in (token_group, study_group, round_group, audit_group):
    cli.add_command(group)
cli.add_command(agent_group)
data_group.add_command(example_cmd)  # example data sets are not part of the agent
cli.add_command(data_group)
cli.add_command(model_group)
cli.add_command(consent_group)
cli.add_command(zk_group)
cli.add_command(demo)
cli.add_command(bench_group)


def main() -> None:
    cli(prog_name="fedledger")
