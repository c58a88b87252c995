"""Learning benchmark: the choices a study makes about learning, side by side at the same budget.

Each variant trains in-process over several seeds with the agents' own code
(demo/learning_baselines.py) at epsilon 3, delta 1e-5, and is scored on the hospitals' own
records, the data settings are chosen on: their pooled *validation* files, or with ``folds``
k-fold cross-validation over their training and validation files together (the global test set
is kept for the final comparison in the demo and `bench round`).

On the digits task (agent/data/digits_split.py, the CNN, the demo's rounds and epochs):

* server step: FedAvg, FedAvgM (momentum 0.5, the demo's), FedAvgM with FedProx (mu 0.01, 0.1);
* clipping, with FedAvgM: flat, per layer, adaptive (agent/clipping.py), all at the same
  epsilon (the accountant's figure is the same by construction);
* accounting, with FedAvgM: the budget split evenly over the rounds, each round calibrated on
  its own (basic composition), against rounds composed under Renyi
  DP (agent/privacy.py);
* the same model centralised and each hospital alone, for reference.

For either task, what the privacy costs (``budgets``): the chosen recipe at other budgets per
hospital (by default epsilon 1, 6, 30 and 100, the most a study may set, at which the noise
multiplier is about 0.3 on the breast-cancer rule: what the recipe reaches with little noise
and no meaningful privacy), and scikit-learn's logistic regression fitted without privacy on
the pooled training records of each split (demo/study_report.py ``baseline``, the reference the
study report gives too). At the largest budget the recipe also runs centralised and by each
hospital alone (``largest_budget``), which splits what remains of the gap once the noise is
small between the federation and the recipe.

On the breast-cancer task (the demo's audited logistic regression, whose every step the
circuit can prove), the audited rule: local steps per round, learning rate, expected batch
(at most the circuit's capacity of 32), clipping norm and rounds, each changed on its own
from the demo's rule. Its validation files hold 90 records, so accuracy moves in steps of 1.1
points, AUROC saturates, and even the log loss (mean cross-entropy, reported beside them) ranked
rules the wrong way round there: this task is compared by cross-validation (``folds`` 5).
With the budgets it also runs the rule with twice the steps at the largest budget: whether the
rule's own gap to the non-private solver closes with more steps once the noise is small.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from agent.aggregation import ServerStep
from agent.data.schema import Schema, load_records
from demo import tasks
from demo.agent_study import audited_plan
from demo.learning_baselines import Recipe, Split, compare_folds, cross_validation_folds, pooled, summarise
from demo.study_report import baseline
from demo.zk_setup import training_rule

EPSILON, DELTA = 3.0, 1e-5
BUDGETS = (1.0, 6.0, 30.0, 100.0)  # the privacy-cost curve's other budgets (100: the most a study may set)


def variants(task: tasks.Task) -> dict[str, Recipe]:
    """Each variant: the task's recipe with one choice changed."""
    base = Recipe(task.spec, task.rounds, EPSILON, DELTA, task.training, 0.0, ServerStep())
    fedavgm = dataclasses.replace(base, server=ServerStep("fedavgm", 1.0, 0.5))

    def clipping(name: str) -> Recipe:
        return dataclasses.replace(fedavgm, training=dataclasses.replace(task.training, clipping=name))

    def split_budget(target: float, rounds_left: int, history: tuple) -> Any:
        return task.training.dp(EPSILON / task.rounds - 0.01, DELTA)  # this round alone, its share

    return {
        "fedavg": base,
        "fedavgm": fedavgm,
        "fedavgm+fedprox0.01": dataclasses.replace(fedavgm, prox_mu=0.01),
        "fedavgm+fedprox0.1": dataclasses.replace(fedavgm, prox_mu=0.1),
        "fedavgm+per_layer": clipping("per_layer"),
        "fedavgm+adaptive": clipping("adaptive"),
        "fedavgm, budget split by rounds": dataclasses.replace(fedavgm, plan=split_budget),
    }


def audited_variants(task: tasks.Task) -> dict[str, Recipe]:
    """The demo's audited rule (``task.local_steps`` steps of expected batch 16, learning rate
    0.5, clipping 1, ``task.rounds`` rounds) with one choice changed, and the longer rule the
    validation files alone favoured (40 steps, 5 rounds; docs/learning.md)."""
    circuit = task.circuit
    assert circuit, "an audited task names its step circuit"

    def rule(steps: int = task.local_steps, rounds: int = task.rounds, **change: int) -> Recipe:
        make = audited_plan(circuit, steps, DELTA, {**training_rule(), **change})
        return Recipe(task.spec, rounds, EPSILON, DELTA, task.training, 0.0, ServerStep(), make)

    fewer, more = task.local_steps // 2, task.local_steps * 2
    return {
        "demo rule": rule(),
        f"{fewer} steps": rule(steps=fewer),
        f"{more} steps": rule(steps=more),
        f"{task.rounds - 1} rounds": rule(rounds=task.rounds - 1),
        f"{task.rounds + 2} rounds": rule(rounds=task.rounds + 2),
        "learning rate 1": rule(learning_rate_ppm=1_000_000),
        "learning rate 0.25": rule(learning_rate_ppm=250_000),
        "expected batch 32": rule(expected_batch=32),
        "clipping 0.5": rule(clip_ppm=500_000),
        "40 steps, 5 rounds": rule(steps=40, rounds=5),
    }


def run(root: Path, seeds: int, progress: Any = print, task_name: str = "digits", folds: int = 0,
        budgets: tuple[float, ...] = BUDGETS) -> dict[str, Any]:  # fmt: skip
    """Every variant of the task, ``seeds`` runs each, scored on the hospitals' pooled validation
    files, or (``folds`` > 1) cross-validated over the hospitals' own records: ``seeds`` runs on
    each of ``folds`` folds; then the chosen recipe at each of ``budgets``."""
    task = tasks.task(task_name)
    data = task.data(root / task.folder)
    schema = Schema.load(data.schema_path)
    train = {o: load_records(p, schema) for o, p in data.train_paths.items()}
    validation = {o: load_records(p, schema) for o, p in data.validation_paths.items()}
    splits = cross_validation_folds(train, validation, folds) if folds > 1 else [(train, pooled(validation))]
    where = (f"{folds}-fold cross-validation over the hospitals' training and validation files" if folds > 1
             else "the hospitals' pooled validation files")  # fmt: skip
    out: dict[str, Any] = {"benchmark": "learning", "task": task.name, "model": task.spec.name, "evaluated_on": where,
                           "epsilon": EPSILON, "delta": DELTA, "rounds": task.rounds, "epochs": task.training.epochs,
                           "seeds": seeds, "folds": max(folds, 1), "variants": {}}  # fmt: skip
    chosen = variants(task) if task.circuit is None else audited_variants(task)
    runs = f"{seeds} seeds" + (f" x {folds} folds" if folds > 1 else "")
    for name, recipe in chosen.items():
        progress(f"{name}: {runs}")
        out["variants"][name] = compare_folds(recipe, splits, seeds, lambda m: progress(f"  {m}"), baselines=False)
        acc = out["variants"][name]["federated"]["accuracy"]
        progress(f"{name}: federated accuracy {acc['mean']:.3f} +- {acc['std']:.3f}")
    progress(f"references (the demo's recipe): centralised and each hospital alone, {runs}")
    demo = "fedavgm" if task.circuit is None else "demo rule"
    ref = compare_folds(chosen[demo], splits, seeds, lambda m: progress(f"  {m}"))
    out["central"] = ref["central"]
    out["alone"] = each_alone(ref)
    out["chosen"] = demo
    out["budgets"], out["largest_budget"] = privacy_cost(chosen[demo], splits, seeds, budgets, progress)
    out["budgets"][f"{EPSILON:g}"] = out["variants"][demo]["federated"]
    if task.circuit is not None:
        out["longer_rule"] = longer_rule(task, chosen, splits, seeds, max(budgets), progress)
    fitted = [baseline(pooled(t).x, pooled(t).y, e, task.spec.classes) for t, e in splits]
    out["central_no_privacy"] = {"model": "scikit-learn logistic regression, no privacy, pooled training records",
                                 **summarise(fitted)}  # fmt: skip
    return out


def each_alone(compared: dict[str, Any]) -> dict[str, Any]:
    """Each hospital's own model's figures from a ``compare_folds`` result, keyed by hospital."""
    return {k.removeprefix("alone:"): v for k, v in compared.items() if k.startswith("alone:")}


def longer_rule(task: tasks.Task, chosen: dict[str, Recipe], splits: list[Split], seeds: int, budget: float,
                progress: Any = print) -> dict[str, Any]:  # fmt: skip
    """The audited rule with twice the steps per round at ``budget`` (the least noise asked
    for): whether more steps would close the rule's own gap once the noise no longer charges
    for them (at epsilon 3 the variants show what they cost)."""
    name = f"{task.local_steps * 2} steps"
    progress(f"{name} at epsilon {budget:g}: {seeds} seeds x {len(splits)} split(s)")
    at = compare_folds(dataclasses.replace(chosen[name], epsilon=budget), splits, seeds, lambda m: progress(f"  {m}"),
                       baselines=False)  # fmt: skip
    return {"variant": name, "epsilon": budget, **at["federated"]}


def privacy_cost(recipe: Recipe, splits: list[Split], seeds: int, budgets: tuple[float, ...],
                 progress: Any = print) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """The federated ``recipe`` at each budget of ``budgets`` (epsilon per hospital for the whole
    study), keyed by the budget as written (``"30"``): what a study trades for its privacy. And
    at the largest budget the same recipe centralised and by each hospital alone: once the noise
    is small, what is left between federated and centralised is the federation's (the split's
    skew), and what is left between centralised and a converged non-private model is the recipe's."""
    curve: dict[str, Any] = {}
    quiet: dict[str, Any] = {}
    for budget in budgets:
        last = budget == max(budgets)
        progress(f"the demo's recipe at epsilon {budget:g}{', also centralised and alone' if last else ''}: "
                 f"{seeds} seeds x {len(splits)} split(s)")  # fmt: skip
        at = compare_folds(dataclasses.replace(recipe, epsilon=budget), splits, seeds, lambda m: progress(f"  {m}"),
                           baselines=last)  # fmt: skip
        curve[f"{budget:g}"] = at["federated"]
        if last:
            quiet = {"epsilon": budget, "central": at["central"], "alone": each_alone(at)}
    return curve, quiet
