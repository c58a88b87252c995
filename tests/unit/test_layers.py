"""The layer contracts (pyproject.toml [tool.importlinter]) hold, and they would catch the
import that matters most: an agent module reaching for the code that brings up a consortium."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("chaincode", "clients", "agent", "network", "provenance", "console", "demo", "fedledger", "bench")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    return subprocess.run([str(lint_imports), "--no-cache", "--config", str(tree / "pyproject.toml")], cwd=tree,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}, text=True,
                          capture_output=True)  # fmt: skip


def _copy(tmp: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp / name, ignore=shutil.ignore_patterns("__pycache__", "*.json", "bin"))
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    return tmp


def test_the_tree_keeps_its_layers(tmp_path: Path) -> None:
    out = _lint(_copy(tmp_path))
    assert out.returncode == 0 and "2 kept, 0 broken" in out.stdout, out.stdout + out.stderr


def test_an_agent_module_importing_the_network_code_breaks_the_contract(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    (tree / "agent" / "probe.py").write_text("from network.topology import CHANNEL\n")
    (tree / "network" / "probe.py").write_text("from agent.models import ModelSpec\n")
    out = _lint(tree)
    assert out.returncode != 0 and "BROKEN" in out.stdout
    assert "agent.probe -> network.topology" in out.stdout and "network.probe -> agent.models" in out.stdout
