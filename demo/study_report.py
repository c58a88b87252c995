"""A finished study, measured: what the ledger recorded, how good the models are, where the
time went; printed as a table and written as an HTML report with plots.

Accuracy: each round's global model is opened from IPFS with the evaluating hospital's key,
checked against the hash on the ledger, and scored on the held-out global test set (records no
hospital trained on). Baselines on the same test set: at the same privacy budget, the study's
own training run in-process centralised and by each hospital alone (demo/learning_baselines.py,
when the study asks for them); without privacy, centralised training on the pooled training
records (the data would have to move) and each hospital alone, both scikit-learn logistic
regression (multinomial for a multi-class label). For a label with more
than two classes F1 is the macro average and AUROC the one-vs-rest macro average
(agent/training.py, ``classification_metrics``).
Epsilon: what each hospital's commitments put on the ledger (the accountant's figure).
Time: see demo/round_timing.py.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from agent.daemon.config import AgentConfig
from agent.daemon.journal import Journal
from agent.data.schema import Records
from agent.federation import Hospital, fetch_model
from agent.keys import load_or_create_x25519
from agent.models import ModelSpec
from agent.storage.vault import Vault
from agent.training import classification_metrics, evaluate
from clients.kubo import IPFSClient
from clients.ledger import Compliance, LedgerClient, Registry, Round, Study
from demo.round_timing import KINDS, critical_path, round_walls


@dataclass
class StudyReport:
    study_id: str
    hospitals: list[str]
    rounds: list[dict[str, Any]] = field(default_factory=list)
    federated: dict[str, float] = field(default_factory=dict)
    central: dict[str, float] = field(default_factory=dict)
    local: dict[str, dict[str, float]] = field(default_factory=dict)
    epsilon: dict[str, float] = field(default_factory=dict)
    epsilon_budget: float = 0.0
    delta: float = 0.0
    update_bytes: dict[str, int] = field(default_factory=dict)
    aggregation: str = "trusted"
    classes: int = 2  # of the study's label: more than 2 means macro F1 and one-vs-rest AUROC
    # the same training in-process at the same budget: each hospital alone and centralised
    # (demo/learning_baselines.py ``compare``), when the study asked for them
    dp_baselines: dict[str, Any] | None = None

    def quality_rows(self) -> list[tuple[str, dict[str, float], str]]:
        """(model, metrics, privacy) for the final table: the federated model, then the baselines
        at the same budget (means over their seeds), then the non-private ones."""
        budget = f"epsilon {self.epsilon_budget:g}, delta {self.delta:g}"
        rows = [("federated, DP (this study)", self.federated, f"{budget} per hospital")]
        if self.dp_baselines:
            b = self.dp_baselines
            mean = lambda run: {k: v["mean"] for k, v in run.items()}  # noqa: E731
            seeds = f"mean of {b['seeds']} in-process runs"
            rows.append(("federated, DP (in-process)", mean(b["federated"]), f"{budget}; {seeds}"))
            rows.append(("centralised, DP", mean(b["central"]), f"{budget}; {seeds}; data moved"))
            for m in self.hospitals:
                if f"alone:{m}" in b:
                    rows.append((f"{m.removesuffix('MSP')} alone, DP", mean(b[f"alone:{m}"]), f"{budget}; {seeds}"))
        rows.append(("centralised, no DP", self.central, "none (data moved)"))
        rows += [
            (f"{m.removesuffix('MSP')} alone, no DP", v, "none (own data only)") for m, v in sorted(self.local.items())
        ]
        return rows

    @property
    def ledger_s_per_round(self) -> float:
        return float(np.mean([r["critical"]["ledger"] for r in self.rounds])) if self.rounds else 0.0

    @property
    def wall_s_per_round(self) -> float:
        walls = [r["wall_s"] for r in self.rounds if r["wall_s"] is not None]
        return float(np.mean(walls)) if walls else 0.0


def sklearn_metrics(model: LogisticRegression | DummyClassifier, test: Records, classes: int = 2) -> dict[str, float]:
    """The metrics of :func:`agent.training.evaluate` for a fitted scikit-learn classifier."""
    proba = model.predict_proba(test.x).astype(np.float64)  # float32 records give float32 probabilities:
    proba /= proba.sum(axis=1, keepdims=True)  # summed in float64 they miss 1 by more than the log loss allows
    if classes == 2:
        return classification_metrics(2, test.y, proba[:, 1])
    # a hospital's records may lack some classes: its model has columns only for those it saw
    full = np.zeros((len(test), classes))
    full[:, model.classes_.astype(int)] = proba
    return classification_metrics(classes, test.y, full)


def baseline(x: np.ndarray, y: np.ndarray, test: Records, classes: int = 2) -> dict[str, float]:
    """Logistic regression (no privacy) fitted on ``x, y``, scored on ``test``. With a single
    class in ``y`` (a hospital that saw one class only) it predicts that class."""
    if classes != 2 and len(np.unique(y)) == 1:
        return sklearn_metrics(DummyClassifier(strategy="most_frequent").fit(x, y), test, classes)
    return sklearn_metrics(LogisticRegression(max_iter=2000).fit(x, y), test, classes)


def build_report(
    ledger: LedgerClient,
    evaluator: AgentConfig,
    agents: dict[str, AgentConfig],
    spec: ModelSpec,
    study_id: str,
    train: dict[str, Records],
    test: Records,
) -> StudyReport:
    """``ledger``: a read-only view of the chaincode; ``evaluator``: the hospital
    whose key opens the global models; ``agents``: every hospital's agent config (journals)."""
    study = ledger.evaluate(Study.get(study_id))
    p = study["params"]
    report = StudyReport(study_id, sorted(agents), epsilon_budget=p["epsilon_budget_micro"] / 1e6,
                         delta=p["delta_e12"] / 1e12, aggregation=p.get("aggregation", "trusted"),
                         classes=spec.classes)  # fmt: skip
    ipfs = IPFSClient(evaluator.ipfs_api)
    hospital = Hospital(evaluator.msp_id, ipfs, Vault(ipfs, None), load_or_create_x25519(evaluator.share_key_path),
                        ledger.contract(Registry.NAME))  # fmt: skip
    timings = {}
    for m, cfg in agents.items():
        journal = Journal(cfg.journal_path)
        timings[m] = journal.timings(study_id)
        for r in range(p["rounds"]):
            saved = journal.artifact(f"{study_id}/r{r}/update")
            if saved:
                report.update_bytes[saved["codec"]] = saved["update_bytes"]
        journal.close()
    walls = round_walls(ledger.evaluate(Compliance.study_timeline(study_id)))
    for r in range(study["current_round"] + 1):
        rnd = ledger.evaluate(Round.get(study_id, r))
        row: dict[str, Any] = {
            "round": r,
            "state": rnd["state"],
            "aggregator": rnd["committee"][0] if rnd["committee"] else None,
            "committee": rnd["committee"],
            "unmasked_by": (rnd.get("aggregate") or {}).get("members", []),
            "audits": {m: pr.get("status", "none") for m, pr in rnd.get("proofs", {}).items()}
            if rnd["audited"]
            else {},
            "participants": rnd["participants"],
            "excluded": (rnd.get("aggregate") or {}).get("excluded", {}),
            "bindings": {m: b.get("status", "none") for m, b in rnd.get("bindings", {}).items()},
            "binding_checks": [c["failed"] for c in rnd.get("binding_checks", [])],
            "dropped": rnd.get("dropped", {}),
            "epsilon_total": {m: c["epsilon_spent_total_micro"] / 1e6 for m, c in rnd["commitments"].items()},
            "records": {m: c["consented_records"] for m, c in rnd["commitments"].items()},
            "gains": {m: v["gain_ppm"] / 1e6 for m, v in rnd["validations"].items()},
            "rewards": rnd.get("rewards", {}),
            "critical": critical_path(timings, r),
            "wall_s": walls.get(r),
        }
        if rnd["state"] == "FINALIZED":
            row["test"] = evaluate(spec, fetch_model(hospital, rnd["aggregate"], spec), test)
        report.rounds.append(row)
    finalized = [r for r in report.rounds if "test" in r]
    report.federated = finalized[-1]["test"] if finalized else {}
    for m in agents:
        spent = ledger.evaluate(Round.budget(study_id, m))
        report.epsilon[m] = spent["spent_micro"] / 1e6
    pooled_x = np.concatenate([t.x for t in train.values()])
    pooled_y = np.concatenate([t.y for t in train.values()])
    report.central = baseline(pooled_x, pooled_y, test, spec.classes)
    for m, t in train.items():
        report.local[m] = baseline(t.x, t.y, test, spec.classes)
    return report


def plot_png(report: StudyReport) -> bytes:
    """Accuracy per round (federated vs baselines) and cumulative epsilon per hospital."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (acc, eps) = plt.subplots(1, 2, figsize=(11, 4), dpi=110)
    rounds = [r["round"] for r in report.rounds if "test" in r]
    acc.plot(rounds, [r["test"]["accuracy"] for r in report.rounds if "test" in r], "o-", label="federated + DP")
    auroc = "federated + DP (AUROC)" if report.classes == 2 else "federated + DP (AUROC, one-vs-rest macro)"
    acc.plot(rounds, [r["test"]["auroc"] for r in report.rounds if "test" in r], "s--", label=auroc)
    acc.axhline(report.central["accuracy"], color="black", linestyle=":", label="centralised, no DP (accuracy)")
    for metrics in report.local.values():
        acc.axhline(metrics["accuracy"], color="grey", alpha=0.4, linewidth=1)
    acc.plot([], [], color="grey", alpha=0.4, label="each hospital alone, no DP (accuracy)")
    shown = [r["test"][k] for r in report.rounds if "test" in r for k in ("accuracy", "auroc")]
    shown += [report.central["accuracy"], *(m["accuracy"] for m in report.local.values())]
    if report.dp_baselines:  # the same budget: what a hospital would get without federating
        b = report.dp_baselines
        acc.axhline(b["central"]["accuracy"]["mean"], color="tab:green", linestyle="--",
                    label="centralised, same DP budget (accuracy)")  # fmt: skip
        alone = [v["accuracy"]["mean"] for k, v in b.items() if k.startswith("alone:")]
        for value in alone:
            acc.axhline(value, color="tab:orange", alpha=0.6, linewidth=1)
        acc.plot([], [], color="tab:orange", alpha=0.6, label="each hospital alone, same DP budget (accuracy)")
        shown += [b["central"]["accuracy"]["mean"], *alone]
    shown = [v for v in shown if np.isfinite(v)]  # AUROC is NaN on a test set lacking a class
    acc.set(xlabel="round", ylabel="global test set", title="Model quality per round",
            ylim=(max(0.0, min(shown) - 0.05), 1.005))  # fmt: skip
    acc.set_xticks(rounds)
    acc.legend(fontsize=8, loc="lower right")
    for m in report.hospitals:
        xs = [r["round"] for r in report.rounds if m in r["epsilon_total"]]
        eps.plot(xs, [r["epsilon_total"][m] for r in report.rounds if m in r["epsilon_total"]], "o-", label=m)
    eps.axhline(report.epsilon_budget, color="red", linestyle="--", label="budget on the ledger")
    eps.set(xlabel="round", ylabel=f"epsilon spent (delta {report.delta:g})", title="Privacy spent per hospital")
    eps.set_xticks([r["round"] for r in report.rounds])
    eps.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_html(report: StudyReport, out_dir: Path, notes: list[str]) -> tuple[Path, Path]:
    """Write ``report.png`` and ``report.html`` (the PNG embedded) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = plot_png(report)
    png_path = out_dir / "report.png"
    png_path.write_bytes(png)

    def metrics(m: dict[str, float]) -> list[str]:
        return [f"{m['accuracy']:.3f}", f"{m['f1']:.3f}", f"{m['auroc']:.3f}"]

    quality = [[name, *metrics(m), privacy] for name, m, privacy in report.quality_rows()]
    per_round = [
        [str(r["round"]), r["state"], ", ".join(r["unmasked_by"] or r["committee"]),
         f"{r['test']['accuracy']:.3f}" if "test" in r else "-",
         ", ".join(f"{m}: {e:.2f}" for m, e in sorted(r["epsilon_total"].items())),
         *(f"{r['critical'][k]:.2f}" for k in KINDS),
         f"{r['wall_s']:.2f}" if r["wall_s"] is not None else "-"]
        for r in report.rounds
    ]  # fmt: skip
    title = f"fedledger study {html.escape(report.study_id)}"
    metric_names = ["F1", "AUROC"] if report.classes == 2 else ["macro F1", "AUROC (one-vs-rest macro)"]
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{background:#f3f3f3}}</style></head><body>
<h1>Study {html.escape(report.study_id)}</h1>
<img alt="accuracy and epsilon per round" src="data:image/png;base64,{base64.b64encode(png).decode()}" width="100%">
<h2>Global test set</h2>{_table(["model", "accuracy", *metric_names, "privacy"], quality)}
<h2>Rounds</h2>{_table(["round", "state", "aggregated by", "accuracy", "epsilon spent so far",
                        *(f"{k} s" for k in KINDS), "round wall s (ledger timestamps)"], per_round)}
<p>Seconds per kind of work are on the round's critical path (per phase, the slowest hospital).</p>
<ul>{"".join(f"<li>{html.escape(n)}</li>" for n in notes)}</ul>
</body></html>"""  # fmt: skip
    html_path = out_dir / "report.html"
    html_path.write_text(doc)
    return html_path, png_path
