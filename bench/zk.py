"""Proving and verifying training steps: setup, prove and verify times, key sizes and peak memory
per circuit, and how likely audits catch a cheater.

Per circuit (``logreg-d30-b32``, the demo's model, ``logreg-d64-b32``, the largest logistic
regression, and ``mlp-d30-h16-b32``, the 30-16-1 perceptron):
one-party setup time (the ceremony's phases are measured by ``--ceremony``), proving key size
as stored for proving (uncompressed), the time to load it, median prove time over ``proofs``
honest steps (recorded by the agent's audited trainer on synthetic records), verify time per proof (from one call
verifying many, minus one verifying a single proof, so process start-up is excluded), and the
peak resident memory of the prover process. JSON keys ``prove_s``, ``verify_ms``, ``pk_mb`` are
the demo circuit's.

Detection: a cheater fakes a fraction f of its n = 100 steps (each faked step fails its own
proof); the ledger audits k steps drawn by the chaincode's own selection function from a fresh
seed; the measured catch rate over ``trials`` simulated rounds is printed beside 1 - (1 - f)^k
(the rate for independent draws; drawing without replacement catches slightly more).
"""

from __future__ import annotations

import base64
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from agent.data.schema import Records
from agent.models import ModelSpec, get_weights
from agent.training import train_round
from agent.zk import binary
from agent.zk.audited_training import AuditedTraining
from agent.zk.participant import saved_steps, step_inputs
from chaincode.contracts import selection, zk_circuits

CIRCUITS = ("logreg-d30-b32", "logreg-d64-b32", "mlp-d30-h16-b32")
DEMO = "logreg-d30-b32"


def recorded_steps(circuit: str, count: int) -> list[dict[str, Any]]:
    """``count`` steps of the agent's own audited trainer (Opacus DP-SGD, expected batch 16,
    lr 0.5, C = 1, sigma for epsilon 1 over the steps) on synthetic records, as the prover takes
    them: exactly what a hospital proves when challenged."""
    c = zk_circuits.parse(circuit)
    spec = ModelSpec(c.kind, c.features, c.hidden)
    rng = np.random.default_rng(c.features)
    x = rng.normal(0, 1, (400, c.features)).astype(np.float32)
    y = (x[:, 0] + rng.normal(0, 0.5, 400) > 0).astype(np.float32)
    params = {"learning_rate_ppm": 500_000, "clip_ppm": 1_000_000, "expected_batch": 16}
    cfg = AuditedTraining(circuit=circuit, capacity=c.capacity, steps=count, round_tag=67890, epsilon=1.0,
                          delta=1e-5, **params)  # fmt: skip
    out = train_round(spec, get_weights(spec.build()), Records(x, y, np.arange(400).astype(str)), cfg, seed=0)
    return step_inputs(params, 67890, saved_steps(out), list(range(count)))


def measure_circuit(circuit: str, workdir: Path, proofs: int, progress: Any) -> dict[str, Any]:
    info = binary.call(["info", "--circuit", circuit])
    pk, vk = workdir / f"{circuit}.pk", workdir / f"{circuit}.vk"
    t = time.perf_counter()
    binary.dev_setup(circuit, pk, vk)
    setup_s = time.perf_counter() - t
    steps = recorded_steps(circuit, proofs)
    out = binary.call(["prove", "--circuit", circuit, "--pk", str(pk)], {"steps": steps})
    peak_rss = out["peak_rss_mb"]  # the prover's own VmHWM (a forked child's rusage would count this Python)
    prove_times = [p["prove_s"] for p in out["proofs"]]
    vk_b64 = base64.b64encode(vk.read_bytes()).decode()
    items = [{"proof": p["proof"], "public": p["public"]} for p in out["proofs"]]
    many = items * max(1, 40 // len(items))
    t = time.perf_counter()
    one = binary.verify(circuit, vk_b64, items[:1])
    t_one = time.perf_counter() - t
    t = time.perf_counter()
    results = binary.verify(circuit, vk_b64, many)
    t_many = time.perf_counter() - t
    if not (one[0]["valid"] and all(r["valid"] for r in results)):
        raise AssertionError("an honest proof did not verify")
    row = {
        "circuit": circuit,
        "constraints": info["constraints"],
        "setup_s": round(setup_s, 2),
        "pk_mb": round(pk.stat().st_size / 1e6, 2),
        "vk_bytes": vk.stat().st_size,
        "pk_load_s": round(out["load_s"], 3),
        "prove_s": round(statistics.median(prove_times), 3),
        "prove_s_max": round(max(prove_times), 3),
        "verify_ms": round((t_many - t_one) / (len(many) - 1) * 1000, 2),
        "verify_process_ms": round(t_one * 1000, 1),
        "prover_peak_rss_mb": round(peak_rss, 1),
    }
    progress(
        f"{circuit}: {row['constraints']:,} constraints; setup {row['setup_s']:.1f} s; proving key "
        f"{row['pk_mb']:.1f} MB (load {row['pk_load_s']:.2f} s); prove {row['prove_s']:.2f} s (median of "
        f"{proofs}, max {row['prove_s_max']:.2f}); verify {row['verify_ms']:.2f} ms per proof "
        f"({row['verify_process_ms']:.0f} ms for a whole call with one); prover peak RSS "
        f"{row['prover_peak_rss_mb']} MB"
    )
    return row


def detection(trials: int, steps: int = 100) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    rows = []
    for f in (0.01, 0.05, 0.1, 0.2, 0.5):
        for k in (1, 2, 5, 10):
            caught = 0
            for _ in range(trials):
                faked = set(rng.choice(steps, size=max(1, round(f * steps)), replace=False).tolist())
                audited = selection.audit_indices(os.urandom(32), "HospitalAMSP", steps, k)
                caught += bool(faked & set(audited))
            rows.append({"fake_fraction": f, "audited_steps": k, "caught": round(caught / trials, 4),
                         "formula": round(1 - (1 - f) ** k, 4)})  # fmt: skip
    return rows


def ceremony(workdir: Path, progress: Any) -> dict[str, Any]:
    """A 3-party ceremony for the demo circuit (phase 1 at 2^15, phase 2), timed per step."""
    times: dict[str, float] = {}

    def step(name: str, args: list[str]) -> None:
        t = time.perf_counter()
        binary.call(["ceremony", *args])
        times[name] = round(time.perf_counter() - t, 2)
        progress(f"  ceremony {name}: {times[name]:.1f} s")

    p = str(workdir)
    step("phase1-new", ["phase1-new", "--power", "15", "--out", f"{p}/p1-0"])
    for i in (1, 2, 3):
        step(f"phase1-contribute-{i}", ["phase1-contribute", "--in", f"{p}/p1-{i - 1}", "--out", f"{p}/p1-{i}"])
    step("phase1-seal", ["phase1-seal", "--power", "15", "--beacon", "0102", "--out", f"{p}/srs", f"{p}/p1-1",
                         f"{p}/p1-2", f"{p}/p1-3"])  # fmt: skip
    step("phase2-new", ["phase2-new", "--circuit", DEMO, "--srs", f"{p}/srs", "--out", f"{p}/p2-0"])
    for i in (1, 2, 3):
        step(f"phase2-contribute-{i}", ["phase2-contribute", "--in", f"{p}/p2-{i - 1}", "--out", f"{p}/p2-{i}"])
    step("phase2-seal", ["phase2-seal", "--circuit", DEMO, "--srs", f"{p}/srs", "--beacon", "0304", "--pk",
                         f"{p}/c.pk", "--vk", f"{p}/c.vk", f"{p}/p2-1", f"{p}/p2-2", f"{p}/p2-3"])  # fmt: skip
    return {"circuit": DEMO, "contributors": 3, "steps_s": times, "total_s": round(sum(times.values()), 1)}


def run(proofs: int, trials: int, with_ceremony: bool, progress: Any = print) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure_circuit(c, Path(tmp), proofs, progress) for c in CIRCUITS]
        result: dict[str, Any] = {"benchmark": "zk", "circuits": rows}
        if with_ceremony:
            result["ceremony"] = ceremony(Path(tmp), progress)
    demo = next(r for r in rows if r["circuit"] == DEMO)
    result.update(prove_s=demo["prove_s"], verify_ms=demo["verify_ms"], pk_mb=demo["pk_mb"],
                  targets={"prove_s": 1.0, "verify_ms": 10.0, "pk_mb": 100.0},
                  detection=detection(trials))  # fmt: skip
    return result
