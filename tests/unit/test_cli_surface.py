"""Every command the README names exists and explains itself (--help), and the benchmark
modules import (they run only on demand, so nothing else would notice them breaking)."""

from __future__ import annotations

import importlib

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
        ["bench", "zk"], ["bench", "hostile"], ["data", "check"],
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
