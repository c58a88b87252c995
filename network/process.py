"""Native process supervision: start a node detached, find it again, stop it cleanly.

Nodes outlive the CLI invocation that started them, so each one is recorded in a pid file
(JSON: pid, argv, start time) and runs in its own session; stopping sends SIGTERM to the whole
process group, waits, then SIGKILLs. A pid is trusted only if /proc still shows the same
executable, so a recycled pid is never killed by mistake.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessRecord:
    name: str
    pid: int
    argv: list[str]
    started_at: float


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [p.decode(errors="replace") for p in raw.split(b"\0") if p]


def _is_zombie(pid: int) -> bool:
    """True for a process that has exited (zombie or dead) or no longer exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists and has not exited (zombies do not count)."""
    return _cmdline(pid) is not None and not _is_zombie(pid)


def read_record(pid_file: Path) -> ProcessRecord | None:
    try:
        data = json.loads(pid_file.read_text())
        return ProcessRecord(data["name"], int(data["pid"]), list(data["argv"]), float(data["started_at"]))
    except (OSError, ValueError, KeyError):
        return None


def alive(record: ProcessRecord | None) -> bool:
    """True if the recorded process still runs the recorded program."""
    if record is None or not pid_alive(record.pid):
        return False
    cmd = _cmdline(record.pid)
    if not cmd:
        return True  # between fork and exec, or exiting: /proc shows no command line yet
    if Path(cmd[0]).name == "ip" and cmd[1:3] == ["netns", "exec"]:
        cmd = cmd[4:] or cmd  # `ip netns exec NS` about to exec the node in its namespace
    return cmd[0] == record.argv[0] or Path(cmd[0]).name == Path(record.argv[0]).name


def start(name: str, argv: Sequence[str], env: Mapping[str, str], log_file: Path, pid_file: Path,
          cwd: Path | None = None, netns: str | None = None) -> ProcessRecord:  # fmt: skip
    """Start ``argv`` detached with output appended to ``log_file``; refuse if already running.
    ``netns``: run it inside that network namespace (a host of network/hosts.py); ``ip netns
    exec`` execs the program in place, so the recorded pid and program are the node's own."""
    existing = read_record(pid_file)
    if alive(existing):
        raise RuntimeError(f"{name} is already running (pid {existing.pid})")  # type: ignore[union-attr]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    full_env.update(env)
    with open(log_file, "ab") as log:
        log.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {name}: {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            (["ip", "netns", "exec", netns] if netns else []) + list(argv),
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
        )
    record = ProcessRecord(name, proc.pid, list(argv), time.time())
    pid_file.write_text(json.dumps(record.__dict__))
    return record


def stop(pid_file: Path, timeout: float = 15.0) -> bool:
    """Stop the recorded process group; returns True if something was running."""
    record = read_record(pid_file)
    was_running = alive(record)
    if record is not None and was_running:
        _signal_group(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive(record):
            _reap(record.pid)
            time.sleep(0.1)
        if alive(record):
            _signal_group(record.pid, signal.SIGKILL)
            for _ in range(50):
                _reap(record.pid)
                if not alive(record):
                    break
                time.sleep(0.1)
    pid_file.unlink(missing_ok=True)
    return was_running


def kill(pid_file: Path) -> bool:
    """SIGKILL the node at once, as a crash would; the pid file is kept for `restart`."""
    record = read_record(pid_file)
    if not alive(record):
        return False
    _signal_group(record.pid, signal.SIGKILL)  # type: ignore[union-attr]
    for _ in range(50):
        _reap(record.pid)  # type: ignore[union-attr]
        if not alive(record):
            break
        time.sleep(0.1)
    return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect the exit status if the process is our child (started in this interpreter)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
