"""Round benchmark: where a federated round's time goes, agents on the real network against an
in-process FedAvg baseline on the same data, epochs and privacy, in the same run.

Two workloads:

* **demo**: the demo's study (logistic regression, epsilon 3 over 3 rounds, as `make demo` runs
  it: 20 local steps with 10% of them audited, secure aggregation with bound inputs; one-party
  keys of the step and binding circuits instead of the consortium's ceremony).
* **reference**: the 30-16-1 MLP on an enlarged copy of each hospital's records
  (agent/data/demo_split.py ``build_enlarged``), sized so that one hospital's local training
  takes about a minute per round on this machine: the workload on which the ledger's share of a
  round must be small.

For the agents, each round's time is split on its critical path (demo/round_timing.py)
into training, IPFS, aggregation, evaluation and ledger (submit until the acting hospital's
peer committed); the round's wall time comes from the ledger's own timestamps. The baseline
trains the three hospitals one after another in this process (its per-round figure is also
given as if they had trained in parallel: the slowest hospital plus FedAvg).

Learning (``learning``): the demo's breast-cancer training and the digits task run in-process
over several seeds at epsilon 3, federated, each hospital alone and centralised
(demo/learning_baselines.py): ``fed_dp_accuracy_mean`` and its spread are the breast-cancer
federated runs, ``central_accuracy`` the network run's non-private centralised baseline; the
breast-cancer training also runs at epsilon 100 (the most a study may set: noise multiplier
about 0.3, no meaningful privacy), which separates what the privacy costs from what the
audited training rule itself reaches.
"""

from __future__ import annotations

import dataclasses
import io
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from agent.daemon.config import TrainingConfig
from agent.data import demo_split
from agent.data.schema import Records, Schema, load_records
from agent.models import MLP_30_16_1
from agent.training import evaluate
from bench.throwaway import registered_network
from demo import tasks
from demo.agent_study import StudyPlan, recipe, run_agent_study
from demo.learning_baselines import Recipe, compare, federated, pooled
from demo.round_timing import KINDS
from demo.study_report import baseline
from demo.zk_setup import dev_keys
from network.consortium import LocalConsortium

LITTLE_NOISE = 100.0  # the largest budget a study may set: its noise is small enough to show the rule's own ceiling


def inprocess_fedavg(recipe: Recipe, train: dict[str, Records], test: Records) -> dict[str, Any]:
    """FedAvg with the same DP-SGD local training, no ledger, no IPFS, no processes."""
    timings: list[dict[str, Any]] = []
    weights = federated(recipe, train, 0, timings)
    per_round = [{
        "training_s": {m: round(t, 3) for m, t in r["training_s"].items()},
        "aggregation_s": round(r["aggregation_s"], 4),
        "round_sequential_s": round(sum(r["training_s"].values()) + r["aggregation_s"], 3),
        "round_parallel_s": round(max(r["training_s"].values()) + r["aggregation_s"], 3),
    } for r in timings]  # fmt: skip
    return {"rounds": per_round, "test": evaluate(recipe.spec, weights, test)}


def _workload(net: LocalConsortium, name: str, plan: StudyPlan, test: Records, schema: Schema,
              progress: Any) -> dict[str, Any]:  # fmt: skip
    assert plan.data is not None
    progress(f"{name}: federated study through three agent processes on the ledger ({plan.rounds} rounds)")
    console = Console(file=io.StringIO(), width=120)  # the live view is not part of a benchmark's output
    run = run_agent_study(net, console, plan, study_id=f"bench-{name}-{int(time.time())}", timeout_s=3600)
    rep = run.report
    rounds = [{"round": r["round"], "wall_s": r["wall_s"], **{f"{k}_s": round(r["critical"][k], 3) for k in KINDS}}
              for r in rep.rounds]  # fmt: skip
    train = {m: load_records(plan.data.train_paths[n], schema)
             for m, n in zip(sorted(run.agents), sorted(plan.data.train_paths), strict=True)}  # fmt: skip
    progress(f"{name}: in-process FedAvg baseline, same data, epochs and epsilon")
    baseline = inprocess_fedavg(recipe(plan, rep.epsilon_budget, rep.delta), train, test)
    walls = [r["wall_s"] for r in rounds if r["wall_s"]]
    ledger = [r["ledger_s"] for r in rounds]
    out = {
        "model": plan.spec.to_dict(),
        "records_per_hospital": {m: len(t) for m, t in train.items()},
        "epochs": plan.training.epochs,
        "epsilon": rep.epsilon_budget,
        "rounds": rounds,
        "round_wall_s": round(float(np.mean(walls)), 3),
        "ledger_s_per_round": round(float(np.mean(ledger)), 3),
        "ledger_overhead_pct": round(100 * float(np.mean([lg / w for lg, w in zip(ledger, walls, strict=True)])), 2),
        "training_s_per_round": round(float(np.mean([r["training_s"] for r in rounds])), 3),
        "baseline": baseline,
        "baseline_round_sequential_s": round(float(np.mean([b["round_sequential_s"] for b in baseline["rounds"]])), 3),
        "baseline_round_parallel_s": round(float(np.mean([b["round_parallel_s"] for b in baseline["rounds"]])), 3),
        "fed_dp_accuracy": round(rep.federated["accuracy"], 4),
        "baseline_accuracy": round(baseline["test"]["accuracy"], 4),
        "central_accuracy": round(rep.central["accuracy"], 4),
        "epsilon_spent": rep.epsilon,
        "study_wall_s": round(run.wall_s, 2),
    }
    progress(
        f"{name}: round {out['round_wall_s']:.2f}s wall (ledger {out['ledger_s_per_round']:.2f}s = "
        f"{out['ledger_overhead_pct']:.1f}%, training {out['training_s_per_round']:.2f}s); baseline round "
        f"{out['baseline_round_parallel_s']:.2f}s parallel / {out['baseline_round_sequential_s']:.2f}s sequential; "
        f"accuracy fed+DP {out['fed_dp_accuracy']:.3f}, baseline {out['baseline_accuracy']:.3f}, "
        f"central {out['central_accuracy']:.3f}"
    )
    return out


def run(port_base: int, reference_factor: int, reference_epochs: int, reference_rounds: int,
        skip_reference: bool = False, progress: Any = print, aggregation: str = "secure", audit_rate: float = 0.1,
        bind: bool = True, seeds: int = 5) -> dict[str, Any]:  # fmt: skip
    with registered_network("roundbench", port_base, progress, with_aries=False) as net:
        state_root = net.state.root
        base = demo_split.build(state_root / "demo-data")
        schema = Schema.load(base.schema_path)
        test = load_records(base.test_path, schema)
        result: dict[str, Any] = {"benchmark": "round", "network": {"batch_timeout": net.batch_timeout},
                                  "aggregation": aggregation, "audit_rate": audit_rate,
                                  "bound": bind and aggregation == "secure"}  # fmt: skip
        party = net.org(net.topology.hospitals[0].name).msp_id
        keys = dev_keys(state_root / "zk-keys", "logreg-d30-b32", party) if audit_rate > 0 else None
        bound = dev_keys(state_root / "zk-keys", "bind-w31", party) if result["bound"] else None
        demo_task = tasks.breast_cancer()
        plan_demo = plan = StudyPlan(rounds=demo_task.rounds, data=base, aggregation=aggregation, zk=keys,
                                     audit_rate_ppm=round(audit_rate * 1_000_000), local_steps=demo_task.local_steps,
                                     bind=bound)  # fmt: skip
        result["demo"] = _workload(net, "demo", plan, test, schema, progress)
        if not skip_reference:
            heavy = demo_split.build_enlarged(base, state_root / "reference-data", reference_factor)
            plan = StudyPlan(rounds=reference_rounds, spec=MLP_30_16_1, data=heavy, aggregation=aggregation,
                             training=TrainingConfig(epochs=reference_epochs, learning_rate=0.1))  # fmt: skip
            result["reference"] = _workload(net, "reference", plan, test, schema, progress)
    result["round_wall_s"] = result["demo"]["round_wall_s"]
    result["ledger_s_per_round"] = result["demo"]["ledger_s_per_round"]
    result["ledger_overhead_workload"] = "reference" if "reference" in result else "demo (reference skipped)"
    result["ledger_overhead_pct"] = result.get("reference", result["demo"])["ledger_overhead_pct"]
    result["fed_dp_accuracy"] = result["demo"]["fed_dp_accuracy"]
    result["central_accuracy"] = result["demo"]["central_accuracy"]
    with tempfile.TemporaryDirectory(prefix="fedledger-learning-") as tmp:  # the network's state is gone
        result["learning"] = learning(Path(tmp), plan_demo, seeds, progress)
    bc = result["learning"]["breast-cancer"]
    result["fed_dp_accuracy_mean"] = bc["federated"]["accuracy"]["mean"]
    result["fed_dp_accuracy_std"] = bc["federated"]["accuracy"]["std"]
    result["fed_dp_seeds"] = seeds
    result["fed_little_noise_accuracy_mean"] = bc["federated_little_noise"]["accuracy"]["mean"]
    result["targets"] = {"round_wall_s": "<= 6 (demo workload)",
                         "ledger_s_per_round": "<= 2", "ledger_overhead_pct": "<= 5 (reference workload)",
                         "fed_dp_accuracy_mean": "within 0.01 of central_accuracy (no DP) at epsilon 3, delta 1e-5, "
                                                 ">= 5 seeds",
                         "digits gain_over_best_alone": ">= 0.05 at epsilon 3"}  # fmt: skip
    return result


def learning(root: Path, plan: StudyPlan, seeds: int, progress: Any) -> dict[str, Any]:
    """The demo's breast-cancer training and the digits task, each run in-process over ``seeds``
    seeds at epsilon 3: federated, each hospital alone and centralised (demo/learning_baselines.py),
    on the global test sets; the breast-cancer one also against non-private centralised training.
    The splits are written under ``root`` (the same seeds as the demo's: the same records)."""
    out: dict[str, Any] = {}
    base = demo_split.build(root / "demo-data")
    schema = Schema.load(base.schema_path)
    train = {o: load_records(p, schema) for o, p in base.train_paths.items()}
    test = load_records(base.test_path, schema)
    progress(f"breast-cancer: the demo's training in-process, {seeds} seeds")
    out["breast-cancer"] = compare(recipe(plan, 3.0, 1e-5), train, test, seeds, progress)
    out["breast-cancer"]["central_no_dp"] = baseline(pooled(train).x, pooled(train).y, test, 2)
    progress(f"breast-cancer: the same training at epsilon {LITTLE_NOISE:g} (little noise), {seeds} seeds")
    quiet = dataclasses.replace(recipe(plan, 3.0, 1e-5), epsilon=LITTLE_NOISE)
    out["breast-cancer"]["federated_little_noise"] = compare(quiet, train, test, seeds, baselines=False)["federated"]
    digits = tasks.digits()
    data = digits.data(base.root.parent / digits.folder)
    schema = Schema.load(data.schema_path)
    train = {o: load_records(p, schema) for o, p in data.train_paths.items()}
    digits_plan = StudyPlan(rounds=digits.rounds, spec=digits.spec, training=digits.training, server=digits.server,
                            prox_mu=digits.prox_mu)  # fmt: skip
    progress(f"digits: {digits.spec.name} in-process, {seeds} seeds")
    out["digits"] = compare(recipe(digits_plan, 3.0, 1e-5), train, load_records(data.test_path, schema), seeds,
                            progress)  # fmt: skip
    for name, r in out.items():
        fed, central = r["federated"]["accuracy"], r["central"]["accuracy"]
        best = r["alone:" + r["best_alone"]]["accuracy"]
        progress(f"{name}: federated {fed['mean']:.3f} +- {fed['std']:.3f}, centralised DP {central['mean']:.3f}, "
                 f"best alone {best['mean']:.3f} ({r['best_alone']})")  # fmt: skip
    return out
