"""Peer benchmark: the same study with fedledger and with Flower, in one run.

For each workload (the demo's two tasks: breast cancer and digits) the same split, model,
local training and budget (epsilon 3 per hospital, every round composed under Renyi DP with
the agents' own code) run three ways on this machine's loopback:

* **fedledger** in the demo's default mode: the real Fabric network, three agent processes,
  the secure committee, consent through ACA-Py, zk audits and bound inputs where a circuit
  exists (breast cancer; one-party keys instead of the consortium's ceremony);
* **Flower, plain FedAvg** on its deployment engine (bench/flower_run.py), FedAvgM where the
  study uses it;
* **Flower, SecAgg+** (its ``SecAggPlusWorkflow``, 3 shares, threshold 2), same strategy.

Round time: fedledger's from the ledger's timestamps (a round's first transaction to its
last); Flower's is its fit workflow, start to end, on the server. Bytes per client per round:
fedledger's masked input up and the global model down (the payloads, as Flower's are
counted; the share bundles to the committee and the ledger's transactions are left out and
stated apart); Flower's, the payload of every message each way. Accuracy: the final model on
the global test set, over ``repeats`` runs of each system trained on the same records (every
record; the timed fedledger run trains on the patients who consented, and its accuracy is
reported apart), with the difference of the means and its 95% interval (Welch): DP noise
makes single runs differ by several points on digits. ``best_alone_dp_accuracy`` is the best
hospital alone at the same budget (demo/learning_baselines.py).
"""

from __future__ import annotations

import dataclasses
import io
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from bench import flower_run
from bench.throwaway import registered_network
from chaincode.contracts.binding import bind_circuit
from demo import tasks
from demo.agent_study import StudyPlan, run_agent_study
from demo.zk_setup import dev_keys, training_rule

EPSILON = 3.0
WORKLOADS = ("breast-cancer", "digits")


def run(port_base: int, flower_port: int, workloads: tuple[str, ...], seeds: int, repeats: int = 3,
        progress: Any = print) -> dict[str, Any]:  # fmt: skip
    flower_run.venv()  # fail before bringing anything up
    out: dict[str, Any] = {"benchmark": "peer", "epsilon": EPSILON, "workloads": {}}
    with registered_network("peerbench", port_base, progress, with_aries=True) as net:
        party = net.org(net.topology.hospitals[0].name).msp_id
        for name in workloads:
            task = tasks.task(name)
            data = task.data(net.state.root / task.folder)
            keys = bind = None
            if task.circuit:
                keys = dev_keys(net.state.root / "zk-keys", task.circuit, party)
                bind = dev_keys(net.state.root / "zk-keys", bind_circuit(task.circuit), party)
            plan = StudyPlan(rounds=task.rounds, epsilon_per_round=EPSILON / task.rounds, spec=task.spec, data=data,
                             training=task.training, server=task.server, prox_mu=task.prox_mu, consent="ledger",
                             aggregation="secure", zk=keys, audit_rate_ppm=100_000 if keys else 0,
                             local_steps=task.local_steps, bind=bind, circuit=task.circuit or "", title=task.title,
                             baseline_seeds=seeds)  # fmt: skip
            progress(f"{name}: fedledger, {task.rounds} rounds on the network (secure committee, consent"
                     f"{', audits and bound inputs' if keys else ''})")  # fmt: skip
            sid = f"peer-{name[:6]}-{int(time.time()) % 100_000}"  # mint ids derive from it: keep it short
            study = run_agent_study(net, Console(file=io.StringIO(), width=120), plan, study_id=sid, timeout_s=3600)
            result = _fedledger(study, task)
            progress(f"{name}: fedledger round {result['fedledger_round_s']:.2f} s, accuracy "
                     f"{result['consented_accuracy']:.3f} (the patients who consented)")  # fmt: skip
            flower = _flower_study(task, data)
            for variant in ("plain", "secagg"):
                progress(f"{name}: Flower {variant}, {task.rounds} rounds on its deployment engine")
                work = Path(tempfile.gettempdir()) / "fedledger-peer-flower" / f"{name}-{variant}"  # logs kept
                got = flower_run.run(flower, variant, work, flower_port)
                result[f"flower_{variant}"] = got
                progress(f"{name}: Flower {variant} round {np.mean([r['fit_s'] for r in got['rounds']]):.2f} s, "
                         f"accuracy {got['evaluations'][-1]['accuracy']:.3f}")  # fmt: skip
            result["accuracy_runs"] = _accuracy_runs(net, plan, name, flower, repeats, result["flower_plain"],
                                                     flower_port, progress)  # fmt: skip
            out["workloads"][name] = _summary(result)
    return out


def _accuracy_runs(net: Any, plan: StudyPlan, name: str, flower: flower_run.FlowerStudy, repeats: int,
                   first_flower: dict[str, Any], flower_port: int, progress: Any) -> dict[str, Any]:  # fmt: skip
    """Final accuracy over ``repeats`` runs of fedledger on the network and of Flower's plain
    FedAvg (its timed run is the first), on the same records: every record of the split, with
    no consent gate, which the Flower clients have no way to apply."""
    same_records = dataclasses.replace(plan, consent="none", baseline_seeds=0)
    ours: list[float] = []
    for i in range(repeats):
        sid = f"pa{i}-{name[:6]}-{int(time.time()) % 100_000}"
        study = run_agent_study(net, Console(file=io.StringIO(), width=120), same_records, study_id=sid, timeout_s=3600)
        ours.append(round(float(study.report.federated["accuracy"]), 4))
        progress(f"{name}: accuracy run {i + 1}/{repeats}, fedledger {ours[-1]:.3f}")
    theirs = [round(float(first_flower["evaluations"][-1]["accuracy"]), 4)]
    for i in range(1, repeats):
        work = Path(tempfile.gettempdir()) / "fedledger-peer-flower" / f"{name}-plain-{i}"
        got = flower_run.run(flower, "plain", work, flower_port)
        theirs.append(round(float(got["evaluations"][-1]["accuracy"]), 4))
        progress(f"{name}: accuracy run {i + 1}/{repeats}, Flower {theirs[-1]:.3f}")
    ci = difference_ci95(ours, theirs)
    return {"fedledger": ours, "flower": theirs, "difference": round(float(np.mean(ours) - np.mean(theirs)), 4),
            "difference_ci95": [round(v, 4) for v in ci] if ci else None}  # fmt: skip


def difference_ci95(a: list[float], b: list[float]) -> tuple[float, float] | None:
    """The 95% interval of mean(a) - mean(b) (Welch's t, unequal variances); None with a single
    run on either side, whose spread nothing tells."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return None
    d = float(np.mean(a) - np.mean(b))
    if np.var(a) == 0 and np.var(b) == 0:  # no spread at all: the difference is what it is
        return d, d
    with warnings.catch_warnings():  # one side's runs all equal: its variance is 0, not "imprecise"
        warnings.filterwarnings("ignore", message="Precision loss occurred in moment calculation")
        ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    return float(ci.low), float(ci.high)


def _flower_study(task: tasks.Task, data: Any) -> flower_run.FlowerStudy:
    """The study Flower runs: fedledger's split, model, local plan, server step and budget."""
    t = task.training
    if task.circuit:  # the audited plan: fixed steps at the study's rule
        rule = training_rule()
        return flower_run.FlowerStudy(data, task.spec.name, task.rounds, EPSILON, 1e-5, rule["clip_ppm"] / 1e6,
                                      t.epochs, rule["expected_batch"], rule["learning_rate_ppm"] / 1e6,
                                      task.server.momentum, task.circuit, task.local_steps)  # fmt: skip
    return flower_run.FlowerStudy(data, task.spec.name, task.rounds, EPSILON, 1e-5, t.max_grad_norm, t.epochs,
                                  t.batch_size, t.learning_rate, task.server.momentum)  # fmt: skip


def _fedledger(study: Any, task: tasks.Task) -> dict[str, Any]:
    r = study.report
    walls = [row["wall_s"] for row in r.rounds if row["wall_s"]]
    masked = sum(r.update_bytes.values()) / max(1, len(r.update_bytes))
    model = 4 * task.spec.parameter_count()
    baselines = r.dp_baselines or {}
    best = baselines.get("best_alone")
    return {
        "fedledger_round_s": round(float(np.mean(walls)), 3),
        "fedledger_rounds_s": walls,
        "fedledger_bytes_per_client": {"up": int(masked), "down": model, "total": int(masked) + model},
        "consented_accuracy": round(r.federated["accuracy"], 4),
        "central_accuracy": round(r.central["accuracy"], 4),
        "central_dp_accuracy": baselines.get("central", {}).get("accuracy", {}).get("mean"),
        "best_alone_dp_accuracy": baselines[f"alone:{best}"]["accuracy"]["mean"] if best else None,
        "best_alone": best,
        "fedledger_epsilon": r.epsilon,
        "fedledger_critical_path_s": {
            k: round(float(np.mean([row["critical"][k] for row in r.rounds])), 3) for k in r.rounds[0]["critical"]
        },
    }


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    """The JSON fields of one workload, then the runs' details."""
    plain, secagg, runs = result["flower_plain"], result["flower_secagg"], result["accuracy_runs"]

    def per_client(run: dict[str, Any]) -> float:
        totals = [c["down"] + c["up"] for per_node in run["bytes"].values() for c in per_node.values()]
        return round(float(np.mean(totals)), 1)

    return {
        "fedledger_round_s": result["fedledger_round_s"],
        "flower_round_s": round(float(np.mean([r["fit_s"] for r in plain["rounds"]])), 3),
        "flower_secagg_round_s": round(float(np.mean([r["fit_s"] for r in secagg["rounds"]])), 3),
        "fedledger_bytes_per_client": result["fedledger_bytes_per_client"]["total"],
        "flower_bytes_per_client": per_client(plain),
        "flower_secagg_bytes_per_client": per_client(secagg),
        "fedledger_accuracy": round(float(np.mean(runs["fedledger"])), 4),
        "flower_accuracy": round(float(np.mean(runs["flower"])), 4),
        "fedledger_accuracy_std": _std(runs["fedledger"]),
        "flower_accuracy_std": _std(runs["flower"]),
        "accuracy_difference": runs["difference"],
        "accuracy_difference_ci95": runs["difference_ci95"],
        "accuracy_runs": len(runs["fedledger"]),
        "fedledger_consented_accuracy": result["consented_accuracy"],
        "flower_secagg_accuracy": round(secagg["evaluations"][-1]["accuracy"], 4),
        "fedledger_epsilon": result["fedledger_epsilon"],
        "flower_epsilon": sorted(plain.get("epsilon", {}).values()),
        "central_accuracy": result["central_accuracy"],
        "central_dp_accuracy": result["central_dp_accuracy"],
        "best_alone_dp_accuracy": result["best_alone_dp_accuracy"],
        "details": result,
    }


def _std(values: list[float]) -> float | None:
    return round(float(np.std(values, ddof=1)), 4) if len(values) > 1 else None
