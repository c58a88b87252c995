"""The server side: FedAvg (or FedAvgM) for N rounds, plain or inside Flower's SecAgg+.

Both variants take the same path, Flower's legacy strategy under ``DefaultWorkflow``, so that
only the aggregation protocol differs: the default fit workflow (plain) or
``SecAggPlusWorkflow`` (in flwr 1.42 SecAgg+ exists only as this workflow). Measured here: each
round's fit workflow, start to end (wall clock); the payload bytes of every message to and from
each client (its records' ``count_bytes``); the global model's accuracy on the test set after
each round. The JSON goes to ``out-path``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import Context, Message
from flwr.common import ndarrays_to_parameters
from flwr.server import LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import FedAvgM
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, Key
from flwr.server.workflow.default_workflows import default_fit_workflow

app = ServerApp()


def _record_bytes(record: Any) -> int:
    """``count_bytes`` of a record; flwr 1.42's ConfigRecord.count_bytes fails on an empty list
    (SecAgg+'s last stage sends one), counted here by the same rule (key plus value bytes)."""
    try:
        return int(record.count_bytes())
    except IndexError:
        return sum(len(k) + _value_bytes(v) for k, v in record.items())


def _value_bytes(v: Any) -> int:
    if isinstance(v, bytes | str):
        return len(v)
    if isinstance(v, list):
        return sum(_value_bytes(x) for x in v)
    return 1 if isinstance(v, bool) else 8


class MeteredGrid:
    """The Grid the SuperLink hands the ServerApp, counting each message's payload per client."""

    def __init__(self, grid: Any) -> None:
        self._grid = grid
        self.round = 0
        self.bytes: dict[int, dict[int, dict[str, int]]] = {}  # round -> node -> down/up/messages

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)

    def _count(self, node: int, direction: str, msg: Message) -> None:
        size = sum(_record_bytes(r) for r in msg.content.values()) if msg.has_content() else 0
        entry = self.bytes.setdefault(self.round, {}).setdefault(node, {"down": 0, "up": 0, "messages": 0})
        entry[direction] += size
        entry["messages"] += direction == "down"

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        messages = list(messages)
        for m in messages:
            self._count(m.metadata.dst_node_id, "down", m)
        replies = list(self._grid.send_and_receive(messages, timeout=timeout))
        for m in replies:
            self._count(m.metadata.src_node_id, "up", m)
        return replies


class RecordingFedAvgM(FedAvgM):
    """Flower's FedAvgM, keeping the epsilon each client reports with its update (the increment
    of its cumulative epsilon, as fedledger's agents commit it), to show the budget was kept."""

    def __init__(self, *, epsilons: dict[str, list[float]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.epsilons = epsilons

    def aggregate_fit(self, server_round: int, results: list[Any], failures: list[Any]) -> Any:
        for proxy, res in results:
            self.epsilons.setdefault(str(proxy.cid), []).append(float(res.metrics.get("epsilon", float("nan"))))
        return super().aggregate_fit(server_round, results, failures)


class TimedFit:
    """The fit workflow of each round, timed."""

    def __init__(self, inner: Any, grid: MeteredGrid, rounds: list[dict[str, Any]]) -> None:
        self.inner, self.grid, self.rounds = inner, grid, rounds

    def __call__(self, grid: Any, context: LegacyContext) -> None:
        n = int(context.state.config_records[MAIN_CONFIGS_RECORD][Key.CURRENT_ROUND])
        self.grid.round = n
        started = time.time()
        self.inner(self.grid, context)
        self.rounds.append({"round": n, "fit_s": time.time() - started})


@app.main()
def main(grid: Any, context: Context) -> None:
    rc = context.run_config
    if str(rc["fedledger-root"]) not in sys.path:
        sys.path.insert(0, str(rc["fedledger-root"]))
    from agent.data.schema import Schema, load_records
    from agent.models import ModelSpec, get_weights
    from agent.training import evaluate

    variant, rounds_n = str(rc["variant"]), int(rc["num-server-rounds"])
    spec = ModelSpec.parse(str(rc["model"]))
    test = load_records(Path(str(rc["test-path"])), Schema.load(Path(str(rc["schema-path"]))))
    initial = get_weights(spec.build(seed=0))
    evaluations: list[dict[str, Any]] = []

    def evaluate_fn(n: int, parameters: list[np.ndarray], config: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        metrics = evaluate(spec, np.asarray(parameters[0], dtype=np.float32).ravel(), test)
        evaluations.append({"round": n, **metrics})
        return 1.0 - metrics["accuracy"], dict(metrics)

    clients = int(rc["min-clients"])
    epsilons: dict[str, list[float]] = {}
    strategy = RecordingFedAvgM(epsilons=epsilons, fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=clients,
                                min_evaluate_clients=0, min_available_clients=clients,
                                initial_parameters=ndarrays_to_parameters([initial]), evaluate_fn=evaluate_fn,
                                on_fit_config_fn=lambda n: {"server_round": n, "num_rounds": rounds_n},
                                server_learning_rate=1.0, server_momentum=float(rc["server-momentum"]))  # fmt: skip
    legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=rounds_n), strategy=strategy)
    metered, rounds = MeteredGrid(grid), []
    inner = (SecAggPlusWorkflow(num_shares=clients, reconstruction_threshold=max(2, clients - 1))
             if variant == "secagg" else default_fit_workflow)  # fmt: skip
    started = time.time()
    DefaultWorkflow(fit_workflow=TimedFit(inner, metered, rounds))(metered, legacy)
    out = {
        "variant": variant, "flwr": __import__("flwr").__version__, "model": spec.name, "rounds": rounds,
        "workflow_s": time.time() - started, "evaluations": evaluations,
        "epsilon": {cid: round(sum(e), 4) for cid, e in epsilons.items()},
        "bytes": {str(n): {str(k): v for k, v in per.items()} for n, per in metered.bytes.items()},
    }  # fmt: skip
    path = Path(str(rc["out-path"]))
    path.with_suffix(".tmp").write_text(json.dumps(out))
    os.replace(path.with_suffix(".tmp"), path)
