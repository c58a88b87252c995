"""The demo's closing printout (fedledger/demo.py ``print_outcome``): quality, privacy, where each
round's time went, and per round the audits and the bound inputs with the committee's check."""

from __future__ import annotations

import io

from rich.console import Console

import fedledger.demo as demo_cli
from demo.agent_study import StudyRun
from demo.round_timing import KINDS
from demo.study_report import StudyReport

METRICS = {"accuracy": 0.95, "f1": 0.94, "auroc": 0.99}


def _row(n: int, failed: list[list[str]]) -> dict:
    return {"round": n, "critical": {**dict.fromkeys(KINDS, 0.25), "total": 2.0}, "wall_s": 5.5,
            "audits": {"HospitalAMSP": "verified"}, "bindings": {"HospitalAMSP": "verified", "HospitalCMSP": "failed"},
            "binding_checks": failed}  # fmt: skip


def test_the_outcome_names_each_rounds_bound_inputs_and_the_check(monkeypatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(demo_cli, "console", Console(file=out, width=200))
    report = StudyReport("s", ["HospitalAMSP"], rounds=[_row(0, [[]]), _row(1, [["HospitalCMSP"], []])],
                         federated=METRICS, central=METRICS, local={"HospitalAMSP": METRICS},
                         epsilon={"HospitalAMSP": 1.0}, epsilon_budget=3.0, update_bytes={"masked": 256})  # fmt: skip
    demo_cli.print_outcome(StudyRun("s", report, {}, 60.0, 10.0))
    text = out.getvalue()
    assert "proving" in text and "pair values" in text and "5.50" in text
    assert "round 0 inputs bound to committed updates" in text and "every included input is its bound update" in text
    assert "inputs of HospitalC were not their bound updates" in text


def test_the_final_table_compares_each_hospital_alone_and_centralised_at_the_same_budget(monkeypatch, tmp_path) -> None:
    from demo.study_report import write_html

    out = io.StringIO()
    monkeypatch.setattr(demo_cli, "console", Console(file=out, width=220))
    stat = lambda v: {k: {"mean": v, "std": 0.01, "min": v, "max": v} for k in METRICS}  # noqa: E731
    baselines = {"seeds": 3, "federated": stat(0.80), "central": stat(0.84), "alone:HospitalAMSP": stat(0.64),
                 "alone:HospitalBMSP": stat(0.50), "best_alone": "HospitalAMSP", "gain_over_best_alone": 0.16,
                 "gap_to_central": 0.04}  # fmt: skip
    row = {
        **_row(0, []),
        "test": METRICS,
        "state": "FINALIZED",
        "committee": ["HospitalAMSP"],
        "unmasked_by": [],
        "epsilon_total": {"HospitalAMSP": 2.99},
    }
    report = StudyReport("s", ["HospitalAMSP", "HospitalBMSP"], rounds=[row],
                         federated=METRICS, central=METRICS, local={"HospitalAMSP": METRICS},
                         epsilon={"HospitalAMSP": 2.99}, epsilon_budget=3.0, delta=1e-5, classes=10,
                         dp_baselines=baselines)  # fmt: skip
    demo_cli.print_outcome(StudyRun("s", report, {}, 60.0, 10.0))
    text = out.getvalue()
    assert "macro F1" in text and "HospitalB alone, DP" in text and "centralised, DP" in text
    assert "0.640" in text and "mean of 3 in-process runs" in text
    assert "+16.0 points of accuracy over the best hospital alone (HospitalA)" in text
    page, _png = write_html(report, tmp_path, [])
    assert "HospitalA alone, DP" in page.read_text() and "centralised, no DP" in page.read_text()


def test_long_work_reports_progress_in_a_log_too() -> None:
    from demo.progress import counted

    out = io.StringIO()
    with counted(Console(file=out, width=120), "patients grant consent", 25) as advance:
        for _ in range(25):
            advance()
    lines = [line for line in out.getvalue().splitlines() if "patients grant consent" in line]
    assert [line.split(":")[1].split("(")[0].strip() for line in lines] == [
        f"{k}/25" for k in (2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 25)
    ]
