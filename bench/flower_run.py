"""Flower's deployment engine on loopback, for one run of the peer baseline.

One ``flower-superlink`` and one ``flower-supernode`` per hospital (its identity and data
through ``--node-config``), all from Flower's own virtualenv (scripts/install.sh with
FEDLEDGER_WITH_FLOWER=1), then ``flwr run`` of bench/flower_app against that SuperLink (a
connection in a private FLWR_HOME). The ServerApp writes its figures as JSON; every process
started here is stopped at the end, also on failure: Flower's SuperLink detaches a helper into
a session of its own, so this process adopts orphaned descendants (PR_SET_CHILD_SUBREAPER) and
stops everything below it.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.data.demo_split import DemoData

APP = Path(__file__).resolve().parent / "flower_app"
ROOT = Path(__file__).resolve().parents[1]
PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class FlowerStudy:
    """What one Flower run trains: the same split, model and DP-SGD settings as fedledger's."""

    data: DemoData
    model: str
    rounds: int
    epsilon: float
    delta: float
    max_grad_norm: float
    epochs: int
    batch_size: int
    learning_rate: float
    server_momentum: float = 0.0
    # an audited fedledger study trains exactly ``local_steps`` steps of expected batch
    # ``batch_size`` on its circuit's grid: the Flower clients then train the same plan
    audited_circuit: str = ""
    local_steps: int = 20


def venv() -> Path:
    """Flower's virtualenv; RuntimeError with the install command when it is missing."""
    path = Path(os.environ.get("FEDLEDGER_FLOWER_VENV", ""))
    if not (path / ".done").exists():
        raise RuntimeError("Flower is not installed: run `FEDLEDGER_WITH_FLOWER=1 scripts/install.sh`")
    return path


def run(study: FlowerStudy, variant: str, work: Path, port: int, timeout_s: float = 1800) -> dict[str, Any]:
    """One Flower run (``variant`` plain or secagg); the ServerApp's figures plus the driver's."""
    bin_dir = venv() / "bin"
    work.mkdir(parents=True, exist_ok=True)
    busy = [p for p in range(port, port + 1 + len(study.data.train_paths)) if not _port_free(p)]
    if busy:
        raise RuntimeError(f"ports already in use on 127.0.0.1: {busy}")
    _adopt_orphans()
    others = _descendants(os.getpid())  # this process's other children (a fedledger network) are left alone
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(venv()),
           "FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1", "OMP_NUM_THREADS": "1"}  # fmt: skip
    env.pop("PYTHONPATH", None)
    out = work / "server.json"
    out.unlink(missing_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    started = time.monotonic()
    try:
        procs.append(_start(work, "superlink", [str(bin_dir / "flower-superlink"), "--insecure", "--host", "127.0.0.1",
                                                "--port", str(port), "--disable-runtime-dependency-installation"],
                            env))  # fmt: skip
        _wait_port(port, 120, procs[0])
        for i, (hospital, train) in enumerate(sorted(study.data.train_paths.items()), start=1):
            config = " ".join(
                f"{k}={json.dumps(v)}"
                for k, v in (
                    ("hospital", hospital),
                    ("train-path", str(train)),
                    ("schema-path", str(study.data.schema_path)),
                )
            )
            procs.append(_start(work, f"supernode-{hospital}", [
                str(bin_dir / "flower-supernode"), "--insecure", "--superlink", f"127.0.0.1:{port}",
                "--host", "127.0.0.1", "--port", str(port + i), "--node-config", config], env))  # fmt: skip
        home = work / "flwr-home"
        home.mkdir(exist_ok=True)
        (home / "config.toml").write_text(f'[superlink]\ndefault = "bench"\n\n[superlink.bench]\n'
                                          f'address = "127.0.0.1:{port}"\ninsecure = true\n')  # fmt: skip
        settings = {"variant": variant, "num-server-rounds": study.rounds, "model": study.model,
                    "epsilon": study.epsilon, "delta": study.delta, "max-grad-norm": study.max_grad_norm,
                    "epochs": study.epochs, "batch-size": study.batch_size, "learning-rate": study.learning_rate,
                    "server-momentum": study.server_momentum, "min-clients": len(study.data.train_paths),
                    "audited-circuit": study.audited_circuit, "local-steps": study.local_steps,
                    "schema-path": str(study.data.schema_path), "test-path": str(study.data.test_path),
                    "out-path": str(out), "fedledger-root": str(ROOT)}  # fmt: skip
        config = " ".join(f"{k}={json.dumps(v)}" for k, v in settings.items())
        submitted = subprocess.run([str(bin_dir / "flwr"), "run", str(APP), "bench", "--run-config", config,
                                    "--format", "json"], env={**env, "FLWR_HOME": str(home)}, capture_output=True,
                                   text=True, timeout=300, cwd=work)  # fmt: skip
        if submitted.returncode != 0:
            raise RuntimeError(f"flwr run failed: {(submitted.stdout + submitted.stderr)[-1500:]}")
        deadline = time.monotonic() + timeout_s
        while not out.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"Flower's run gave no result in {timeout_s:.0f} s (logs in {work})")
            for p in procs:
                if p.poll() is not None:
                    raise RuntimeError(f"a Flower process exited with {p.returncode} (logs in {work})")
            time.sleep(0.5)
        result = json.loads(out.read_text())
        result["run_s"] = round(time.monotonic() - started, 2)
        return result
    finally:
        _stop(procs, others)


def _start(work: Path, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (work / f"{name}.log").open("wb")
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work, start_new_session=True)


def _adopt_orphans() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except OSError:
        pass


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _stop(procs: list[subprocess.Popen[bytes]], others: set[int]) -> None:
    """TERM every group started here and every new descendant of this process (not ``others``);
    KILL what is left."""
    for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 2.0)):
        for p in procs:
            try:
                os.killpg(p.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in _descendants(os.getpid()) - others:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            for p in procs:
                p.poll()
            left = _descendants(os.getpid()) - others
            for pid in left:  # adopted orphans that exited: reap them (only those, never ``others``)
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
            if not _descendants(os.getpid()) - others:
                return
            time.sleep(0.2)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_port(port: int, timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Flower's SuperLink exited with {proc.returncode}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"Flower's SuperLink is not listening on 127.0.0.1:{port} after {timeout_s:.0f} s")
