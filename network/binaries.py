"""Locating the binaries scripts/install.sh built, and running them with useful errors."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from network.state import REPO_ROOT


class ToolError(RuntimeError):
    """A Fabric tool exited non-zero; the message carries its command line and output."""


def _paths_env() -> dict[str, str]:
    path = REPO_ROOT / ".fedledger" / "paths.env"
    out: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
    return out


def setting(name: str) -> str:
    value = os.environ.get(name) or _paths_env().get(name)
    if not value:
        raise ToolError(f"{name} is not set: run 'make install' (scripts/install.sh) first")
    return value


def fabric_bin(tool: str) -> str:
    path = Path(setting("FEDLEDGER_FABRIC_BIN")) / tool
    if not path.exists():
        raise ToolError(f"{path} is missing: run 'make install' (scripts/install.sh)")
    return str(path)


def sampleconfig_dir() -> Path:
    return Path(setting("FEDLEDGER_FABRIC_SAMPLECONFIG"))


def fabric_release() -> str:
    return os.environ.get("FEDLEDGER_FABRIC_RELEASE") or _paths_env().get("FEDLEDGER_FABRIC_RELEASE", "unknown")


def run_tool(argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 120, what: str = "") -> str:
    """Run a tool to completion and return its combined output; raise ToolError on failure."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    try:
        proc = subprocess.run(list(argv), env=full_env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"{what or argv[0]} timed out after {timeout}s: {' '.join(argv)}") from exc
    output = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise ToolError(f"{what or Path(argv[0]).name} failed (exit {proc.returncode}): {' '.join(argv)}\n{tail}")
    return output
