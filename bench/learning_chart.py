"""The learning benchmark's privacy-cost chart: what a study's model reaches at each budget.

A hospital board deciding on a budget asks one question: how much accuracy does each step of
privacy cost? The chart answers it from ``fedledger bench learning``'s JSON (bench/learning.py):
the chosen recipe's federated accuracy and log loss at each budget per hospital (mean and
standard deviation over the runs), beside scikit-learn's logistic regression fitted without
privacy on the same records, with the demo's budget marked; at the largest budget, the same
recipe centralised (the federation's share of what remains once the noise is small).
"""

from __future__ import annotations

import io
from typing import Any


def privacy_cost_png(result: dict[str, Any]) -> bytes:
    """Two panels, accuracy and log loss, against epsilon per hospital (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = sorted((float(b), m) for b, m in result["budgets"].items())
    budgets = [b for b, _ in points]
    none = result["central_no_privacy"]
    fig, panels = plt.subplots(1, 2, figsize=(11, 4), dpi=110)
    shown = (("accuracy", "accuracy"), ("log_loss", "log loss (lower is better)"))
    for ax, (metric, label) in zip(panels, shown, strict=True):
        means = [m[metric]["mean"] for _, m in points]
        spreads = [m[metric]["std"] for _, m in points]
        ax.errorbar(budgets, means, yerr=spreads, fmt="o-", capsize=3,
                    label=f"federated, {result['chosen']} (mean ± sd)")  # fmt: skip
        ax.axhline(none[metric]["mean"], color="black", linestyle=":", label="logistic regression, no privacy, pooled")
        quiet = result.get("largest_budget")
        if quiet:
            beside = quiet["epsilon"] * 1.15  # just right of the federated point at that budget, not over it
            ax.errorbar([beside], [quiet["central"][metric]["mean"]], yerr=[quiet["central"][metric]["std"]],
                        fmt="s", color="tab:green", capsize=3,
                        label=f"the same recipe, centralised, at {quiet['epsilon']:g}")  # fmt: skip
        ax.axvline(result["epsilon"], color="tab:red", alpha=0.4, label=f"the demo's budget ({result['epsilon']:g})")
        ax.set_xscale("log")
        ax.set_xticks(budgets, [f"{b:g}" for b in budgets])
        ax.set(xlabel="epsilon per hospital, whole study (log scale)", ylabel=label)
        ax.legend(fontsize=8, loc="lower right" if metric == "accuracy" else "upper right")
    runs = f"{result['seeds']} run(s)" + (f" x {result['folds']} folds" if result["folds"] > 1 else "")
    fig.suptitle(f"{result['task']}: what the privacy costs ({result['model']}; {runs}; {result['evaluated_on']})",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
