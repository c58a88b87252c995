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
    assert (audited.learning_rate, audited.max_grad_norm, audited.epsilon) == (0.5, 1.0, 3.0)
    digits = peer._flower_study(tasks.task("digits"), data)
    assert digits.audited_circuit == "" and digits.model == "cnn-8x8-f8x16-c10"
    assert (digits.epochs, digits.batch_size, digits.learning_rate, digits.max_grad_norm) == (5, 128, 1.0, 0.5)
    assert digits.server_momentum == 0.5 and digits.rounds == 5


def test_the_summary_has_every_field_the_benchmark_promises() -> None:
    flower = {"rounds": [{"fit_s": 10.0}, {"fit_s": 12.0}], "evaluations": [{"accuracy": 0.9}],
              "bytes": {"1": {"a": {"down": 100, "up": 120, "messages": 1}, "b": {"down": 100, "up": 80,
                                                                                    "messages": 1}}}}  # fmt: skip
    result = {"fedledger_round_s": 5.0, "fedledger_bytes_per_client": {"total": 500}, "fedledger_accuracy": 0.91,
              "central_accuracy": 0.95, "central_dp_accuracy": 0.93, "best_alone_dp_accuracy": 0.8,
              "flower_plain": flower, "flower_secagg": flower}  # fmt: skip
    s = peer._summary(result)
    for key in ("fedledger_round_s", "flower_round_s", "flower_secagg_round_s", "fedledger_bytes_per_client",
                "flower_bytes_per_client", "fedledger_accuracy", "flower_accuracy", "central_accuracy",
                "best_alone_dp_accuracy"):  # fmt: skip
        assert key in s, key
    assert s["flower_round_s"] == 11.0 and s["flower_bytes_per_client"] == 200.0


def test_without_flower_the_benchmark_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FEDLEDGER_FLOWER_VENV", str(tmp_path / "none"))
    with pytest.raises(RuntimeError, match=r"FEDLEDGER_WITH_FLOWER=1 scripts/install\.sh"):
        flower_run.venv()
