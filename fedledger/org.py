"""`fedledger org ...`: admitting an org to the running channel and removing one.

The runbook, one command per step and party (network/org_admission.py); each prints what it
did and who acts next. Needs a network on hosts (`fedledger network up --hosts LAB`).
"""

from __future__ import annotations

from pathlib import Path

import click

from fedledger.network import console, open_network, state_dir_option
from network import org_admission


def _say(line: str) -> None:
    console.print(f"  {line}", soft_wrap=True, highlight=False)  # paths and commands stay whole, to copy


as_option = click.option("--as", "as_org", required=True, help="The member org whose admin acts, e.g. HospitalA.")
update_option = click.option(
    "--update",
    "update",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The config update file `org propose` wrote.",
)


@click.group("org")
def org_group() -> None:
    """Admit an org to the running channel, or remove one (init, propose, sign, submit, join, leave)."""


@org_group.command("init")
@state_dir_option
@click.option("--name", required=True, help="The new org's name, e.g. HospitalD (its MSP ID is <name>MSP).")
def init_cmd(state_dir: Path | None, name: str) -> None:
    """Step 1, by the new org: its host, its own CA, its identities and its org definition."""
    org_admission.init(open_network(state_dir), name, _say)


@org_group.command("propose")
@state_dir_option
@click.option("--org", "org_name", required=True, help="The org to admit (or, with --remove, to remove).")
@click.option("--remove", is_flag=True, help="Propose removing the org instead of admitting it.")
@as_option
def propose_cmd(state_dir: Path | None, org_name: str, remove: bool, as_org: str) -> None:
    """Step 2, by a member's admin: the channel config update, signed by the proposer."""
    org_admission.propose(open_network(state_dir), org_name, as_org, _say, remove=remove)


@org_group.command("sign")
@state_dir_option
@update_option
@as_option
def sign_cmd(state_dir: Path | None, update: Path, as_org: str) -> None:
    """Step 3, by other members' admins: add a signature to the update."""
    org_admission.sign(open_network(state_dir), update, as_org, _say)


@org_group.command("submit")
@state_dir_option
@update_option
@as_option
def submit_cmd(state_dir: Path | None, update: Path, as_org: str) -> None:
    """Step 4, by a member's admin, once a majority of member admins signed (with this one)."""
    org_admission.submit(open_network(state_dir), update, as_org, _say)


@org_group.command("join")
@state_dir_option
@click.option("--org", "org_name", required=True, help="The admitted org.")
def join_cmd(state_dir: Path | None, org_name: str) -> None:
    """Step 5, by the admitted org: its peer joins, its chaincode service and Kubo run."""
    org_admission.join(open_network(state_dir), org_name, _say)


@org_group.command("leave")
@state_dir_option
@click.option("--org", "org_name", required=True, help="The removed org.")
def leave_cmd(state_dir: Path | None, org_name: str) -> None:
    """After its removal was submitted, by the removed org: stop its nodes."""
    org_admission.leave(open_network(state_dir), org_name, _say)
