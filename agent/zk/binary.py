"""The agent's calls into ``fedledger-zk`` (built from zk/ by scripts/install.sh): commitments
of weights and batches, and Groth16 proofs of audited steps. JSON in, JSON out."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any


class ZkError(RuntimeError):
    """fedledger-zk refused a request or failed; the message is its own."""


def binary() -> str:
    path = os.environ.get("FEDLEDGER_ZK")
    if not path or not Path(path).exists():
        raise ZkError("fedledger-zk is not installed (run scripts/install.sh; FEDLEDGER_ZK names the binary)")
    return path


def call(args: list[str], request: dict[str, Any] | None = None, timeout: float = 600.0) -> dict[str, Any]:
    proc = subprocess.run([binary(), *args], input=json.dumps(request or {}).encode(), capture_output=True,
                          timeout=timeout, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise ZkError(proc.stderr.decode(errors="replace").strip() or f"fedledger-zk {args[0]} failed")
    return json.loads(proc.stdout)


def commitments(circuit: str, weights: list[list[int]], batches: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Poseidon2 commitments (32-byte hex) of weight vectors and of batches
    ({round, step, salt, x, y}, with round and salt as decimal strings)."""
    out = call(["commit", "--circuit", circuit], {"weights": weights, "batches": batches})
    return out["weights"], out["batches"]


def prove(circuit: str, pk: Path, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One proof per step input (see zk/circuit/native.go StepInput); each {proof, public, prove_s}."""
    return call(["prove", "--circuit", circuit, "--pk", str(pk)], {"steps": steps})["proofs"]


def verify(circuit: str, vk_b64: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return call(["verify", "--circuit", circuit], {"vk": vk_b64, "items": items})["results"]


def dev_setup(circuit: str, pk: Path, vk: Path) -> dict[str, Any]:
    """One-party keys: for tests and benchmarks only (whoever ran it can forge proofs)."""
    return call(["dev-setup", "--circuit", circuit, "--pk", str(pk), "--vk", str(vk)])


def blind_commitment(salt: int, rho0: int, rho1: int) -> str:
    """Poseidon2 commitment (32-byte hex) to a binding's blinding elements (zk/circuit/bind.go)."""
    out = call(["bind-commit"], {"salt": str(salt), "rho0": str(rho0), "rho1": str(rho1)})
    return format(int(out["blind"]), "064x")


def prove_binding(circuit: str, pk: Path, request: dict[str, Any]) -> dict[str, Any]:
    """A binding proof (zk/circuit/bind.go BindInput in, {proof, public, value, prove_s} out)."""
    return call(["bind", "--circuit", circuit, "--pk", str(pk)], request)


def raw_call(args: list[str], data: bytes, timeout: float = 600.0) -> bytes:
    """A command that takes and answers raw bytes (the field arithmetic on long vectors). The
    input goes through a temporary file: piping tens of megabytes through ``subprocess`` writes
    them a page at a time and costs more than the arithmetic."""
    with tempfile.TemporaryFile() as stdin:
        stdin.write(data)
        stdin.seek(0)
        proc = subprocess.run([binary(), *args], stdin=stdin, capture_output=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise ZkError(proc.stderr.decode(errors="replace").strip() or f"fedledger-zk {args[0]} failed")
    return proc.stdout


def field_values(raw: bytes, elements: int, point: int, masks: int = 0) -> list[int]:
    """The values at ``point`` of the vectors in ``raw`` (``elements`` 32-byte little-endian
    field elements each), then of the ``masks`` mask specs after them, expanded to ``elements``
    (zk/secagg): fast for vectors of a million coordinates."""
    out = raw_call(["field-eval", "--point", str(point), "--elements", str(elements), "--masks", str(masks)], raw)
    return [int(v) for v in json.loads(out)["values"]]
