"""Hospital agents as separate OS processes on this machine (the demo, tests, benchmarks).

Each agent is ``python -m fedledger agent run --config <its agent.yaml>``: its own process,
identity, gateway connection, IPFS node, key store and journal, exactly as a hospital would
run it; on a consortium on hosts, inside its hospital's host. Output goes to
``<state_dir>/agent.out`` next to the agent's own log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent.daemon.config import AgentConfig

REPO = Path(__file__).resolve().parents[1]


@dataclass
class AgentProcess:
    cfg: AgentConfig
    config_path: Path
    until_done: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    netns: str | None = None  # the hospital's host (network/hosts.py), or None: this machine's network
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.cfg.write(self.config_path)
        argv = [sys.executable, "-m", "fedledger", "agent", "run", "--config", str(self.config_path)]
        if self.until_done:
            argv += ["--until-done", self.until_done]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        env = {**os.environ, "PYTHONPATH": str(REPO), **self.env}
        self.cfg.state_dir.mkdir(parents=True, exist_ok=True)
        out = (self.cfg.state_dir / "agent.out").open("ab")
        when = time.strftime("%Y-%m-%dT%H:%M:%S")
        out.write(f"\n==== {when} starting {self.cfg.org}'s agent: {' '.join(argv)}\n".encode())
        out.flush()
        self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                     start_new_session=True)  # fmt: skip
        out.close()

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def wait(self, timeout: float) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL: a crash, no clean-up."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        if self.wait(timeout) is None:
            self.kill()

    def log_tail(self, lines: int = 15) -> str:
        path = self.cfg.state_dir / "agent.out"
        if not path.exists():
            return "(no output)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_all(agents: list[AgentProcess], timeout: float, poll_s: float = 0.5) -> None:
    """Wait until every agent exited; raise with the failing agent's output otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        codes = [a.returncode for a in agents]
        for a, code in zip(agents, codes, strict=True):
            if code not in (None, 0):
                raise RuntimeError(f"agent {a.cfg.org} exited with {code}:\n{a.log_tail()}")
        if all(c == 0 for c in codes):
            return
        time.sleep(poll_s)
    raise TimeoutError(f"agents still running after {timeout:.0f}s:\n" + "\n".join(a.log_tail(5) for a in agents))
