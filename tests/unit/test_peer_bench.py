"""The peer benchmark's parts that need no network: what Flower is asked to train (the same plan
as the agents), what the JSON reports, and a clear refusal when Flower is not installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import flower_run, peer
from demo import tasks


def test_flower_trains_the_agents_plan(tmp_path: Path) -> None:
    data = object()
    audited = peer._flower_study(tasks.task("breast-cancer"), data)
    assert (audited.audited_circuit, audited.local_steps, audited.batch_size) == ("logreg-d30-b32", 20, 16)
    assert audited.rounds == 3  # the demo's rule, as fedledger runs it
    assert (audited.learning_rate, audited.max_grad_norm, audited.epsilon) == (0.5, 1.0, 3.0)
    digits = peer._flower_study(tasks.task("digits"), data)
    assert digits.audited_circuit == "" and digits.model == "cnn-8x8-f8x16-c10"
    assert (digits.epochs, digits.batch_size, digits.learning_rate, digits.max_grad_norm) == (5, 128, 1.0, 0.5)
    assert digits.server_momentum == 0.5 and digits.rounds == 5


def test_the_summary_has_every_field_the_benchmark_promises() -> None:
    flower = {"rounds": [{"fit_s": 10.0}, {"fit_s": 12.0}], "evaluations": [{"accuracy": 0.9}],
              "bytes": {"1": {"a": {"down": 100, "up": 120, "messages": 1}, "b": {"down": 100, "up": 80,
                                                                                    "messages": 1}}}}  # fmt: skip
    runs = {"fedledger": [0.9, 0.92], "flower": [0.9, 0.88], "difference": 0.02, "difference_ci95": [-0.05, 0.09]}
    result = {"fedledger_round_s": 5.0, "fedledger_bytes_per_client": {"total": 500}, "consented_accuracy": 0.91,
              "fedledger_epsilon": {"A": 2.99}, "central_accuracy": 0.95, "central_dp_accuracy": 0.93,
              "best_alone_dp_accuracy": 0.8, "flower_plain": flower, "flower_secagg": flower,
              "accuracy_runs": runs}  # fmt: skip
    s = peer._summary(result)
    for key in ("fedledger_round_s", "flower_round_s", "flower_secagg_round_s", "fedledger_bytes_per_client",
                "flower_bytes_per_client", "fedledger_accuracy", "flower_accuracy", "central_accuracy",
                "best_alone_dp_accuracy"):  # fmt: skip
        assert key in s, key
    assert s["flower_round_s"] == 11.0 and s["flower_bytes_per_client"] == 200.0
    # accuracy: the means over the runs on the same records; the consent-gated timed run apart
    assert (s["fedledger_accuracy"], s["flower_accuracy"], s["accuracy_runs"]) == (0.91, 0.89, 2)
    assert s["fedledger_consented_accuracy"] == 0.91 and s["accuracy_difference_ci95"] == [-0.05, 0.09]


def test_the_accuracy_difference_interval_is_welchs() -> None:
    a, b = [0.80, 0.78, 0.82], [0.74, 0.70, 0.75, 0.73]
    low, high = peer.difference_ci95(a, b)  # type: ignore[misc]
    # by hand: standard error sqrt(0.0004/3 + 0.000467/4) = 0.0158, Welch's df 4.7, t = 2.64
    assert (low + high) / 2 == pytest.approx(0.8 - 0.73)
    assert (high - low) / 2 == pytest.approx(2.64 * 0.0158, rel=0.02)
    assert peer.difference_ci95([0.8], b) is None  # one run: no spread, no interval
    assert peer.difference_ci95([0.8, 0.8], [0.7, 0.7]) == pytest.approx((0.1, 0.1))


def test_without_flower_the_benchmark_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FEDLEDGER_FLOWER_VENV", str(tmp_path / "none"))
    with pytest.raises(RuntimeError, match=r"FEDLEDGER_WITH_FLOWER=1 scripts/install\.sh"):
        flower_run.venv()


def test_every_benchmark_writes_its_json_where_asked(tmp_path: Path) -> None:
    import json

    from bench.cli import save

    save({"benchmark": "x", "figure": 1.5}, tmp_path / "out" / "x.json")
    assert json.loads((tmp_path / "out" / "x.json").read_text()) == {"benchmark": "x", "figure": 1.5}
    save({"benchmark": "x"}, None)  # no file asked for: nothing written, no error


def test_the_breast_cancer_variants_change_one_choice_of_the_audited_rule_each() -> None:
    from bench.learning import audited_variants

    variants = audited_variants(tasks.task("breast-cancer"))
    base = variants["demo rule"].make_plan(3, ())
    assert (base.steps, base.learning_rate_ppm, base.expected_batch, base.clip_ppm) == (20, 500_000, 16, 1_000_000)
    assert base.circuit == "logreg-d30-b32" and variants["demo rule"].rounds == 3
    changed = {name: r.make_plan(r.rounds, ()) for name, r in variants.items()}
    assert changed["10 steps"].steps == 10 and changed["40 steps"].steps == 40
    assert variants["2 rounds"].rounds == 2 and variants["5 rounds"].rounds == 5
    assert changed["learning rate 1"].learning_rate_ppm == 1_000_000 and changed["clipping 0.5"].clip_ppm == 500_000
    assert changed["expected batch 32"].expected_batch == 32
    assert (changed["40 steps, 5 rounds"].steps, variants["40 steps, 5 rounds"].rounds) == (40, 5)
    fields = ("steps", "learning_rate_ppm", "expected_batch", "clip_ppm")
    for name, plan in changed.items():  # everything else is the demo's rule, at the same budget
        same = sum(getattr(plan, f) == getattr(base, f) for f in fields) + (variants[name].rounds == 3)
        assert same >= (3 if name == "40 steps, 5 rounds" else 4), name
        assert plan.epsilon == base.epsilon
