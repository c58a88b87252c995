"""Every command the README names exists and explains itself (--help), and the benchmark
modules import (they run only on demand, so nothing else would notice them breaking)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from fedledger.cli import cli


@pytest.mark.parametrize(
    "path",
    [
        ["network"], ["registry"], ["token"], ["study"], ["round"], ["audit"], ["demo"],
        ["agent", "run"], ["agent", "config"], ["agent", "status"],
        ["consent", "status"], ["consent", "grant"], ["consent", "revoke"], ["consent", "erase"],
        ["bench", "ledger"], ["bench", "governance"], ["bench", "round"], ["bench", "consent"], ["bench", "secagg"],
        ["bench", "zk"], ["bench", "hostile"], ["data", "check"], ["data", "schema-hash"], ["data", "fit-scaler"],
        ["data", "example"], ["study", "init"], ["study", "propose"], ["study", "enroll"], ["model", "evaluate"],
        ["zk", "ceremony"],
    ],
)  # fmt: skip
def test_command_has_help(path: list[str]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@pytest.mark.parametrize("module", ["bench.ledger", "bench.governance", "bench.round", "bench.consent",
                                    "bench.throwaway", "bench.secagg", "bench.zk", "bench.hostile"])  # fmt: skip
def test_benchmarks_import(module: str) -> None:
    importlib.import_module(module)


def test_the_study_file_fields_are_in_the_help_of_the_commands_that_use_it() -> None:
    from agent.study_file import FIELDS

    for path in (["study", "init"], ["study", "propose"]):
        text = " ".join(CliRunner().invoke(cli, [*path, "--help"]).output.split())
        assert all(f"{name}:" in text for name, _ in FIELDS), path
    doc = (Path(__file__).resolve().parents[2] / "docs" / "your-own-data.md").read_text()
    assert all(f"| `{name}` | {meaning} |" in doc for name, meaning in FIELDS), "docs/your-own-data.md is stale"


def test_data_commands_name_the_problem_without_a_traceback(tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text('{"features": ["a"], "label": "y"}')
    out = CliRunner().invoke(cli, ["data", "schema-hash", str(schema)])
    assert out.exit_code == 1 and "missing pseudonym" in out.output and "Traceback" not in out.output
    schema.write_text('{"features": ["a"], "label": "y", "pseudonym": "p"}')
    out = CliRunner().invoke(cli, ["data", "schema-hash", str(schema)])
    assert out.exit_code == 0 and len(out.output.strip()) == 64


def test_the_readme_names_every_command() -> None:
    """The README's command table lists every group and, in that group's rows, every command."""
    import click

    rows = [line for line in (Path(__file__).resolve().parents[2] / "README.md").read_text().splitlines()
            if line.startswith("|")]  # fmt: skip
    ctx = click.Context(cli)
    missing = []
    for name in cli.list_commands(ctx):
        group = cli.get_command(ctx, name)
        mine = " ".join(r for r in rows if f"`fedledger {name}" in r)
        if not mine:
            missing.append(name)
            continue
        subs = group.list_commands(ctx) if isinstance(group, click.Group) else []
        missing += [f"{name} {sub}" for sub in subs if not any(f"{pre}{sub} " in mine or f"{pre}{sub}`" in mine
                                                                for pre in (f"fedledger {name} ", "| "))]  # fmt: skip
    assert not missing, f"the README's command table lacks {missing}"


def test_every_user_error_takes_the_one_error_path(tmp_path: Path) -> None:
    """A bad config, data or schema file is one line and exit status 1, whichever command meets it."""
    missing = str(tmp_path / "nope.yaml")
    for argv in (["agent", "status", "--config", missing], ["agent", "run", "--config", missing],
                 ["data", "check", "--config", missing], ["data", "fit-scaler", "--config", missing]):  # fmt: skip
        out = CliRunner().invoke(cli, argv)
        assert out.exit_code == 1 and "cannot read agent config" in out.output, (argv, out.output)
        assert out.exception is None or isinstance(out.exception, SystemExit)


@pytest.mark.parametrize(
    "args",
    [
        ["bench", "learning", "--json", "{file}/result.json"],
        ["bench", "learning", "--plot", "{file}/chart.png"],
        ["bench", "learning", "--json", "{dir}"],
        ["bench", "round", "--json", "/proc/fedledger/result.json"],
        ["data", "example", "--out", "{file}/data"],
        ["certificate", "render", "{file}", "--channel-config", "{file}", "--html", "{file}/page.html"],
    ],
)
def test_an_output_that_cannot_be_written_is_refused_before_any_work(tmp_path: Path, args: list[str]) -> None:
    """A benchmark or study would otherwise run for minutes and end in a traceback when it saves."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    argv = [a.format(file=a_file, dir=tmp_path) for a in args]
    out = CliRunner().invoke(cli, argv)
    assert out.exit_code == 2, out.output
    assert "Invalid value for" in out.output and "Traceback" not in out.output, out.output


def test_an_output_in_folders_yet_to_be_made_is_accepted(tmp_path: Path) -> None:
    from fedledger.output_path import why_unwritable

    assert why_unwritable(tmp_path / "new" / "deeper" / "result.json") is None
    assert why_unwritable(tmp_path, want_dir=True) is None
    (tmp_path / "f").write_text("")
    assert why_unwritable(tmp_path / "f") is None
    assert why_unwritable(tmp_path / "f", want_dir=True) == "it exists and is not a folder"
    assert why_unwritable(tmp_path) == "it is a folder"
    assert "is not a folder" in (why_unwritable(tmp_path / "f" / "x.json") or "")
    assert "cannot create entries" in (why_unwritable(Path("/proc/fedledger-x.json")) or "")
