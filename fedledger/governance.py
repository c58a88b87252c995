"""`fedledger token|study|round|audit ...`: governance from the command line.

Hospital admins manage tokens, studies and enrolment; agents (client identities) drive
rounds; compliance officers (the Regulator, read-only) audit. Every command prints the
ledger's JSON answer, or the contract's refusal with each peer's message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click

from agent import study_file
from agent.daemon.config import AgentConfig
from clients.ledger import Call, Compliance, Round, Study, Token
from fedledger.network import open_network, state_dir_option
from fedledger.study_init import init_cmd


def _call(state_dir: Path | None, org: str, user: str, call: Call, submit: bool) -> None:
    with open_network(state_dir).ledger(org, user) as ledger:
        result = ledger.submit(call).json() if submit else ledger.evaluate(call)
    click.echo(json.dumps(result, indent=2, sort_keys=True))


def org_option(default: str | None, help_text: str) -> Callable:
    return click.option("--org", default=default, required=default is None, show_default=True, help=help_text)


def user_option(default: str) -> Callable:
    return click.option("--user", default=default, show_default=True, help="Admin or User1 of that org.")


# --- tokens -----------------------------------------------------------------------------------------
@click.group("token")
def token_group() -> None:
    """Tokens, stakes and majority-approved mints."""


@token_group.command("mint")
@state_dir_option
@org_option(None, "Proposing hospital (its admin signs).")
@click.option("--id", "mint_id", required=True, help="Mint id (lowercase, 3-40 chars).")
@click.option("--to", "to", required=True, help="Recipient MSP ID.")
@click.option("--amount", type=int, required=True)
def mint(state_dir: Path | None, org: str, mint_id: str, to: str, amount: int) -> None:
    """Propose a mint; it executes once a majority of registered hospitals approved."""
    _call(state_dir, org, "Admin", Token.propose_mint(mint_id, to, amount), True)


@token_group.command("approve-mint")
@state_dir_option
@org_option(None, "Approving hospital.")
@click.option("--id", "mint_id", required=True)
def approve_mint(state_dir: Path | None, org: str, mint_id: str) -> None:
    """Approve a proposed mint."""
    _call(state_dir, org, "Admin", Token.approve_mint(mint_id), True)


for _name, _fn, _doc in (
    ("stake", Token.stake, "Move free tokens into stake."),
    ("unstake", Token.unstake, "Move unlocked stake back to free tokens."),
):

    def _make(fn: Callable[[int], Call] = _fn, doc: str = _doc) -> Callable:
        @state_dir_option
        @org_option(None, "Your hospital (its admin signs).")
        @click.option("--amount", type=int, required=True)
        def command(state_dir: Path | None, org: str, amount: int) -> None:
            _call(state_dir, org, "Admin", fn(amount), True)

        command.__doc__ = doc
        return command

    token_group.command(_name)(_make())


@token_group.command("transfer")
@state_dir_option
@org_option(None, "Paying hospital (its admin signs).")
@click.option("--to", "to", required=True, help="Recipient MSP ID.")
@click.option("--amount", type=int, required=True)
def transfer(state_dir: Path | None, org: str, to: str, amount: int) -> None:
    """Pay free tokens to another registered hospital."""
    _call(state_dir, org, "Admin", Token.transfer(to, amount), True)


@token_group.command("account")
@state_dir_option
@org_option("Regulator", "Org whose identity reads.")
@click.argument("msp_id")
def account(state_dir: Path | None, org: str, msp_id: str) -> None:
    """Free balance, stake and locked stake of an org."""
    _call(state_dir, org, "User1", Token.account(msp_id), False)


# --- studies ----------------------------------------------------------------------------------------
@click.group("study")
def study_group() -> None:
    """Propose, approve and join studies."""


study_group.add_command(init_cmd)


@study_group.command("propose", epilog="Fields of the study file:\n\n" + study_file.help_text())
@state_dir_option
@org_option(None, "Proposing hospital (its admin signs; the reward pool comes from its balance).")
@click.option(
    "--file",
    "params_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Study file (YAML or JSON) with study_id and every study parameter; `fedledger study init` writes one.",
)
def propose(state_dir: Path | None, org: str, params_file: Path) -> None:
    """Propose a study from a study file; the ledger refuses, naming the field, any parameters
    under which a round could not complete."""
    try:
        params = study_file.load(params_file)
    except study_file.StudyFileError as exc:
        raise click.BadParameter(str(exc)) from None
    _call(state_dir, org, "Admin", Study.propose(params), True)


@study_group.command("enroll")
@state_dir_option
@org_option(None, "Your hospital (its admin signs).")
@click.option("--study", "study_id", required=True)
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your agent's agent.yaml: the study is checked against its schema, data and consents first.",
)
def enroll(state_dir: Path | None, org: str, study_id: str, config_path: Path) -> None:
    """Take part in an active study under its published rules, once your agent can: the study's
    schema and model match yours, your data passes `fedledger data check`, and (consent: ledger)
    some record has a valid consent. Otherwise nothing is sent and every problem is listed."""
    from agent.study_fit import fit_on_ledger

    cfg = AgentConfig.load(config_path)
    fit = fit_on_ledger(cfg, study_id)
    if not fit.ok:
        listed = "\n".join(f"  - {p}" for p in fit.problems)
        raise click.ClickException(f"{cfg.org} cannot take part in {study_id}; not enrolled "
                                   f"({len(fit.problems)} problem(s)):\n{listed}")  # fmt: skip
    _call(state_dir, org, "Admin", Study.enroll(study_id), True)


for _name, _study_fn, _doc in (
    ("approve", Study.approve, "Approve a proposed study (it activates on a majority)."),
    ("withdraw", Study.withdraw, "Stop being selected from the next round on."),
):

    def _make_study(fn: Callable[[str], Call] = _study_fn, doc: str = _doc) -> Callable:
        @state_dir_option
        @org_option(None, "Your hospital (its admin signs).")
        @click.option("--study", "study_id", required=True)
        def command(state_dir: Path | None, org: str, study_id: str) -> None:
            _call(state_dir, org, "Admin", fn(study_id), True)

        command.__doc__ = doc
        return command

    study_group.command(_name)(_make_study())


@study_group.command("show")
@state_dir_option
@org_option("Regulator", "Org whose identity reads.")
@click.option("--study", "study_id", required=True)
def show_study(state_dir: Path | None, org: str, study_id: str) -> None:
    """A study with its parameters, approvals, enrolment and pool."""
    _call(state_dir, org, "User1", Study.get(study_id), False)


@study_group.command("list")
@state_dir_option
@org_option("Regulator", "Org whose identity reads.")
def list_studies(state_dir: Path | None, org: str) -> None:
    """Every study and its status."""
    _call(state_dir, org, "User1", Study.list(), False)


# --- rounds -----------------------------------------------------------------------------------------
@click.group("round")
def round_group() -> None:
    """Open and advance training rounds (agents do this automatically)."""


@round_group.command("open")
@state_dir_option
@org_option(None, "Your hospital.")
@user_option("User1")
@click.option("--study", "study_id", required=True)
def open_round(state_dir: Path | None, org: str, user: str, study_id: str) -> None:
    """Open the study's next round (selects participants and committee)."""
    _call(state_dir, org, user, Round.open(study_id), True)


@round_group.command("advance")
@state_dir_option
@org_option(None, "Your hospital.")
@user_option("User1")
@click.option("--study", "study_id", required=True)
@click.option("--round", "round_no", type=int, required=True)
def advance(state_dir: Path | None, org: str, user: str, study_id: str, round_no: int) -> None:
    """Move a round forward as far as completion and deadlines allow (or say what it waits for)."""
    _call(state_dir, org, user, Round.advance(study_id, round_no), True)


@round_group.command("show")
@state_dir_option
@org_option("Regulator", "Org whose identity reads.")
@click.option("--study", "study_id", required=True)
@click.option("--round", "round_no", type=int, required=True)
def show_round(state_dir: Path | None, org: str, study_id: str, round_no: int) -> None:
    """A round with its commitments, audits, aggregates and validation reports."""
    _call(state_dir, org, "User1", Round.get(study_id, round_no), False)


# --- compliance -------------------------------------------------------------------------------------
@click.group("audit")
def audit_group() -> None:
    """Compliance queries (read-only; run as the Regulator by default)."""


@audit_group.command("timeline")
@state_dir_option
@org_option("Regulator", "Org whose identity reads.")
@click.option("--study", "study_id", required=True)
def timeline(state_dir: Path | None, org: str, study_id: str) -> None:
    """Every logged action of a study, oldest first."""
    _call(state_dir, org, "User1", Compliance.study_timeline(study_id), False)


@audit_group.command("lineage")
@state_dir_option
@org_option("Regulator", "Org whose identity reads.")
@click.option("--study", "study_id", required=True)
def lineage(state_dir: Path | None, org: str, study_id: str) -> None:
    """Model versions -> rounds -> contributors -> audit results -> consent counts."""
    _call(state_dir, org, "User1", Compliance.model_lineage(study_id), False)


@audit_group.command("activity")
@state_dir_option
@org_option("Regulator", "Org whose identity reads.")
@click.argument("msp_id")
def activity(state_dir: Path | None, org: str, msp_id: str) -> None:
    """Everything an org did or had done to it, oldest first."""
    _call(state_dir, org, "User1", Compliance.org_activity(msp_id), False)


@audit_group.command("slashings")
@state_dir_option
@org_option("Regulator", "Org whose identity reads.")
@click.option("--msp-id", default=None, help="Only this org.")
def slashings(state_dir: Path | None, org: str, msp_id: str | None) -> None:
    """Every slashing with its reason and evidence reference."""
    _call(state_dir, org, "User1", Compliance.slashings(msp_id or None), False)


@audit_group.command("supply")
@state_dir_option
@org_option("Regulator", "Org whose identity reads.")
def supply(state_dir: Path | None, org: str) -> None:
    """Minted tokens against every account and pool: the conservation check."""
    _call(state_dir, org, "User1", Token.supply(), False)
