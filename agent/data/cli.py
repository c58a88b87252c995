"""`fedledger data ...`: a hospital checks its data files before it takes part in a study."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from agent.daemon.config import AgentConfig, ConfigError
from agent.data.check import Problem, check_file
from agent.data.schema import DataError, Schema

console = Console()


def data_problems(cfg: AgentConfig) -> tuple[list[Problem], dict[str, int]]:
    """Every problem of the agent's schema and data files, and the records each good file holds."""
    try:
        schema = Schema.load(cfg.schema)
    except (DataError, OSError) as exc:
        return [Problem(cfg.schema, str(exc).split(": ", 1)[-1])], {}
    checks = [check_file(path, schema) for path in (cfg.train, cfg.validation)]
    problems = [p for c in checks for p in c.problems]
    return problems, {c.path.name: c.records for c in checks}


def report(cfg: AgentConfig) -> bool:
    """Print the check's outcome; True when the data is fit to train on."""
    problems, counts = data_problems(cfg)
    if problems:
        console.print(f"[red]{len(problems)} problem(s) in {cfg.org}'s data[/red] (schema {cfg.schema}):")
        for p in problems:
            console.print(f"  - {p}")
        return False
    files = ", ".join(f"{name}: {n} records" for name, n in counts.items())
    console.print(f"{cfg.org}'s data matches its schema ({files})")
    return True


@click.group("data")
def data_group() -> None:
    """A hospital's own data: check it against its schema before taking part in a study."""


@data_group.command("check")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The agent's agent.yaml (its data section names the schema and the files).")  # fmt: skip
def check_cmd(config_path: Path) -> None:
    """List every problem of the training and validation files at once (with CSV line numbers:
    line 1 is the header); exit status 1 when there is any."""
    try:
        cfg = AgentConfig.load(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if not report(cfg):
        raise SystemExit(1)
