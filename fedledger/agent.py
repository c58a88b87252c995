"""`fedledger agent ...`: what a hospital's operator runs."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from agent.daemon.config import AgentConfig
from agent.data.schema import DataError
from demo.local_agents import local_agent_config
from fedledger.network import open_network, state_dir_option
from fedledger.output_path import OutputPath

console = Console()


@click.group("agent")
def agent_group() -> None:
    """The hospital agent: trains, commits, aggregates and validates on ledger events."""


@agent_group.command("config")
@state_dir_option
@click.option("--org", "org_name", required=True, help="Hospital org, e.g. HospitalA.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder with the hospital's train.csv, validation.csv and schema.json [default: demo split].",
)
@click.option("--out", type=OutputPath(), default=None,
              help="Where to write the config [default: <state>/agents/<org>/agent.yaml].")  # fmt: skip
@click.option("--consent", type=click.Choice(["ledger", "none"]), default="ledger", show_default=True,
              help="ledger: train only on records whose patient holds a valid consent credential for the "
                   "study; none: every record (another legal basis, see docs/your-own-data.md).")  # fmt: skip
@click.option("--study", "studies", multiple=True,
              help="Serve only this study (repeatable) [default: every study the hospital enrolls in].")  # fmt: skip
def config_cmd(state_dir: Path | None, org_name: str, data_dir: Path | None, out: Path | None, consent: str,
               studies: tuple[str, ...]) -> None:  # fmt: skip
    """Write an agent.yaml for a hospital of the local network, then check its data."""
    import dataclasses

    net = open_network(state_dir)
    data_dir = data_dir.resolve() if data_dir else None  # the config resolves paths next to itself
    try:
        cfg = local_agent_config(net, org_name, data_dir)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--org") from None
    cfg = dataclasses.replace(cfg, consent=consent, studies=studies)
    path = out or cfg.state_dir / "agent.yaml"
    cfg.write(path)
    console.print(f"wrote {path}")
    from fedledger.data import report

    if not report(cfg):  # the config is written; the data must be fixed before the agent can train
        raise SystemExit(1)


@agent_group.command("run")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The agent's agent.yaml (see `fedledger agent config`).")  # fmt: skip
@click.option("--until-done", default=None, metavar="STUDY_ID", help="Exit once this study is finished here.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def run_cmd(config_path: Path, until_done: str | None, verbose: bool) -> None:
    """Run the agent: follow the ledger's events and do this hospital's part in every study it
    is enrolled in (train + commit when selected, aggregate when on the committee, validate
    every new model). State lives in the config's state_dir; restarting resumes where it was."""
    from agent.daemon.runner import AgentRunner, configure_logging

    cfg = AgentConfig.load(config_path)
    configure_logging(cfg, verbose)
    try:
        sys.exit(AgentRunner(cfg, until_done=until_done).run())
    except DataError as exc:  # every problem named, with where to see them again
        raise click.ClickException(f"{exc}\n(`fedledger data check --config {config_path}` lists them)") from None
    except KeyboardInterrupt:
        console.print("agent stopped")


@agent_group.command("status")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--study", default="", help="Only this study's actions.")
def status_cmd(config_path: Path, study: str) -> None:
    """What this agent has sent to the ledger, from its journal."""
    from agent.daemon.journal import Journal

    cfg = AgentConfig.load(config_path)
    journal = Journal(cfg.journal_path)
    table = Table(title=f"{cfg.msp_id}: ledger actions ({cfg.journal_path})")
    for col in ("action", "state", "tx id", "block", "attempts", "ledger s"):
        table.add_column(col)
    for s in journal.submissions(study):
        table.add_row(s.action, s.state, s.tx_id[:16], str(s.block or ""), str(s.attempts), f"{s.ledger_s:.2f}")
    console.print(table)
    journal.close()
