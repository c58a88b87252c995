"""What federating is worth: the study's training run in-process, federated, by each hospital
alone and centralised, all at the same privacy budget, over several seeds.

The agents' own code does the work (agent/training.py ``train_round`` with the plans the
agents make, agent/privacy.py composing rounds, agent/aggregation.py's server step), without
the ledger, IPFS or processes: the comparison a hospital board asks for ("would we do as well
alone?") needs many runs, and one run on the real network is the study itself. Each run
starts from the study's initial model (seed 0); the seed drives Poisson sampling and noise.

* **federated**: every hospital trains each round from the global model, the sample-weighted
  mean update goes through the server step; each hospital's noise is calibrated to the whole
  budget over all rounds, as its agent does.
* **alone**: one hospital, the same rounds and epochs on its own records, the same budget.
* **centralised**: the pooled records of every hospital (the data would have to move), the same
  rounds, epochs and budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.aggregation import ServerStep, TrustedAggregatorFedAvg, Update
from agent.daemon.config import TrainingConfig
from agent.daemon.worker import EPSILON_MARGIN
from agent.data.schema import Records
from agent.models import ModelSpec, get_weights
from agent.privacy import Release
from agent.training import StepPlan, evaluate, train_round

PlanMaker = Callable[[float, int, tuple[Release, ...]], StepPlan]  # (target epsilon, rounds left, history)
Split = tuple[dict[str, Records], Records]  # each hospital's training records, and what the models are scored on


@dataclass(frozen=True)
class Recipe:
    """How a study trains, apart from its data."""

    spec: ModelSpec
    rounds: int
    epsilon: float  # each hospital's budget for the whole study
    delta: float = 1e-5
    training: TrainingConfig = field(default_factory=TrainingConfig)
    prox_mu: float = 0.0
    server: ServerStep = field(default_factory=ServerStep)
    plan: PlanMaker | None = None  # default: the unaudited agent's plan from ``training``

    def make_plan(self, rounds_left: int, history: tuple[Release, ...], prox: bool = True) -> StepPlan:
        target = self.epsilon - EPSILON_MARGIN
        if self.plan is not None:
            return self.plan(target, rounds_left, history)
        return self.training.dp(target, self.delta, self.prox_mu if prox else 0.0, rounds_left, history)


def pooled(train: dict[str, Records]) -> Records:
    parts = list(train.values())
    return Records(np.concatenate([r.x for r in parts]), np.concatenate([r.y for r in parts]),
                   np.concatenate([r.pseudonyms for r in parts]))  # fmt: skip


def federated(recipe: Recipe, train: dict[str, Records], seed: int,
              timings: list[dict[str, Any]] | None = None) -> np.ndarray:  # fmt: skip
    """The final global weights of the study run in-process; ``timings`` (if given) gets, per
    round, each hospital's training seconds and the aggregation's."""
    weights = get_weights(recipe.spec.build(seed=0))
    previous = None
    history: dict[str, tuple[Release, ...]] = {m: () for m in train}
    aggregator = TrustedAggregatorFedAvg(server=recipe.server)
    for n in range(recipe.rounds):
        updates, seconds = [], {}
        for k, (m, records) in enumerate(sorted(train.items())):
            plan = recipe.make_plan(recipe.rounds - n, history[m])
            started = time.monotonic()
            result = train_round(recipe.spec, weights, records, plan, seed=_seed(seed, n, k))
            seconds[m] = time.monotonic() - started
            assert result.release is not None
            history[m] = (*history[m], result.release)
            updates.append(Update(m, result.update, result.sample_count))
        started = time.monotonic()
        previous, weights = weights, aggregator.aggregate(weights, updates, previous)
        if timings is not None:
            timings.append({"training_s": seconds, "aggregation_s": time.monotonic() - started})
    return weights


def alone(recipe: Recipe, records: Records, seed: int) -> np.ndarray:
    """One hospital's own model: the study's rounds and epochs on its records alone (its own
    rounds chain; no proximal term, there is no global model to stay near)."""
    weights = get_weights(recipe.spec.build(seed=0))
    history: tuple[Release, ...] = ()
    for n in range(recipe.rounds):
        result = train_round(recipe.spec, weights, records, recipe.make_plan(recipe.rounds - n, history, prox=False),
                             seed=_seed(seed, n, 99))  # fmt: skip
        assert result.release is not None
        history, weights = (*history, result.release), result.weights
    return weights


def compare(recipe: Recipe, train: dict[str, Records], evaluation: Records, seeds: int,
            progress: Callable[[str], None] = lambda _m: None, baselines: bool = True) -> dict[str, Any]:  # fmt: skip
    """Accuracy, macro F1, AUROC and log loss on ``evaluation`` of the federated model, each
    hospital alone and the centralised model (``baselines``), each a mean (and standard
    deviation) over ``seeds`` runs."""
    return compare_folds(recipe, [(train, evaluation)], seeds, progress, baselines)


def cross_validation_folds(train: dict[str, Records], validation: dict[str, Records], k: int,
                           seed: int = 0) -> list[Split]:  # fmt: skip
    """``k`` cross-validation folds of the hospitals' own records (their training and validation
    files together; never the global test set): in fold f each hospital trains on all but its
    f-th part, and every hospital's f-th part, pooled, is what the fold is scored on. Each
    hospital keeps its own records, so the split across hospitals (the label skew) is kept."""
    rng = np.random.default_rng(seed)
    parts = {}
    for m in sorted(train):
        mine = pooled({"t": train[m], "v": validation[m]})
        parts[m] = (mine, np.array_split(rng.permutation(len(mine)), k))
    out = []
    for f in range(k):
        held = {m: np.isin(np.arange(len(mine)), chunks[f]) for m, (mine, chunks) in parts.items()}
        out.append(({m: mine.subset(~held[m]) for m, (mine, _) in parts.items()},
                    pooled({m: mine.subset(held[m]) for m, (mine, _) in parts.items()})))  # fmt: skip
    return out


def compare_folds(recipe: Recipe, splits: list[Split], seeds: int, progress: Callable[[str], None] = lambda _m: None,
                  baselines: bool = True) -> dict[str, Any]:  # fmt: skip
    """:func:`compare` over several (training, evaluation) splits: ``seeds`` runs on each, the
    means and standard deviations taken over every run of every split."""
    hospitals = sorted(splits[0][0])
    runs: dict[str, list[dict[str, float]]] = {"federated": []}
    if baselines:
        runs.update({"central": [], **{f"alone:{m}": [] for m in hospitals}})
    for f, (train, evaluation) in enumerate(splits):
        everyone = pooled(train)
        where = f"fold {f + 1}/{len(splits)}, " if len(splits) > 1 else ""
        for s in range(seeds):
            runs["federated"].append(evaluate(recipe.spec, federated(recipe, train, s), evaluation))
            said = f"{where}seed {s + 1}/{seeds}: federated {runs['federated'][-1]['accuracy']:.3f}"
            if baselines:
                runs["central"].append(evaluate(recipe.spec, alone(recipe, everyone, s), evaluation))
                for m in hospitals:
                    runs[f"alone:{m}"].append(evaluate(recipe.spec, alone(recipe, train[m], s), evaluation))
                said += (f", centralised {runs['central'][-1]['accuracy']:.3f}, best alone "
                         f"{max(runs[f'alone:{m}'][-1]['accuracy'] for m in hospitals):.3f}")  # fmt: skip
            progress(said)
    out: dict[str, Any] = {"seeds": seeds, "folds": len(splits), "epsilon": recipe.epsilon, "delta": recipe.delta,
                           "rounds": recipe.rounds}  # fmt: skip
    for name, results in runs.items():
        out[name] = summarise(results)
    if not baselines:
        return out
    best = max(hospitals, key=lambda m: out[f"alone:{m}"]["accuracy"]["mean"])
    out["best_alone"] = best
    out["gain_over_best_alone"] = round(out["federated"]["accuracy"]["mean"] - out[f"alone:{best}"]["accuracy"]["mean"],
                                        4)  # fmt: skip
    out["gap_to_central"] = round(out["central"]["accuracy"]["mean"] - out["federated"]["accuracy"]["mean"], 4)
    return out


def summarise(results: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean, standard deviation, minimum and maximum of each metric over ``results`` (one
    evaluation per run)."""
    return {k: _stats([r[k] for r in results]) for k in ("accuracy", "f1", "auroc", "log_loss")}


def _stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    return {"mean": round(float(np.nanmean(arr)), 4), "std": round(float(np.nanstd(arr)), 4),
            "min": round(float(np.nanmin(arr)), 4), "max": round(float(np.nanmax(arr)), 4)}  # fmt: skip


def _seed(seed: int, round_no: int, hospital: int) -> int:
    return seed * 1_000_003 + round_no * 101 + hospital
