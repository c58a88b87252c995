"""One hospital's local round in Flower: fedledger's own DP-SGD (agent/training.py).

The SuperNode's ``--node-config`` names the hospital's training file and schema. Flower 1.42
starts a fresh client process for every message, so the privacy history (one release per
round trained, composed under Renyi DP as the agents do) lives in the Context's state, which
the SuperNode keeps per node and run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from flwr.app import ConfigRecord, Context, Message
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import secaggplus_mod

HISTORY = "fedledger-privacy"


class HospitalClient(NumPyClient):
    def __init__(self, context: Context) -> None:
        self.context = context
        root = str(context.run_config["fedledger-root"])
        if root not in sys.path:
            sys.path.insert(0, root)

    def fit(self, parameters: list[Any], config: dict[str, Any]) -> tuple[list[Any], int, dict[str, Any]]:
        import numpy as np

        from agent.data.schema import Schema, load_records
        from agent.models import ModelSpec
        from agent.privacy import Release
        from agent.training import DPConfig, train_round

        rc, nc = self.context.run_config, self.context.node_config
        spec = ModelSpec.parse(str(rc["model"]))
        records = load_records(Path(str(nc["train-path"])), Schema.load(Path(str(nc["schema-path"]))))
        saved = self.context.state.config_records.get(HISTORY)
        history = tuple(Release.from_json(r) for r in json.loads(str(saved["releases"]))) if saved else ()
        rounds_left = max(1, int(config["num_rounds"]) - int(config["server_round"]) + 1)
        target = float(rc["epsilon"]) - 0.01  # the agents' margin below the budget
        if str(rc["audited-circuit"]):  # the audited study's fixed steps, as fedledger's agents train them
            from agent.zk import participant

            params = {"zk_circuit": str(rc["audited-circuit"]), "local_steps": int(rc["local-steps"]),
                      "learning_rate_ppm": round(float(rc["learning-rate"]) * 1e6),
                      "clip_ppm": round(float(rc["max-grad-norm"]) * 1e6), "expected_batch": int(rc["batch-size"]),
                      "delta_e12": round(float(rc["delta"]) * 1e12)}  # fmt: skip
            study = {"study_id": "flower", "params": params}
            plan: Any = participant.training_config(study, int(config["server_round"]), str(nc["hospital"]), target,
                                                    rounds_left, history)  # fmt: skip
        else:
            plan = DPConfig(epsilon=target, delta=float(rc["delta"]), max_grad_norm=float(rc["max-grad-norm"]),
                            epochs=int(rc["epochs"]), batch_size=int(rc["batch-size"]),
                            learning_rate=float(rc["learning-rate"]), rounds=rounds_left, history=history)  # fmt: skip
        result = train_round(spec, np.asarray(parameters[0], dtype=np.float32), records, plan)
        assert result.release is not None
        history = (*history, result.release)
        self.context.state.config_records[HISTORY] = ConfigRecord(
            {"releases": json.dumps([r.to_json() for r in history])}
        )
        return [result.weights.astype(np.float32)], int(result.sample_count), {"epsilon": result.epsilon_spent}


def client_fn(context: Context) -> Any:
    return HospitalClient(context).to_client()


def secagg_when_asked(msg: Message, context: Context, call_next: Any) -> Any:
    """Flower's SecAgg+ mod in the secagg variant only (it refuses plain training messages)."""
    if str(context.run_config.get("variant", "plain")) == "secagg":
        return secaggplus_mod(msg, context, call_next)
    return call_next(msg, context)


app = ClientApp(client_fn=client_fn, mods=[secagg_when_asked])
