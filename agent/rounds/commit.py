"""The ``Round:Commit`` arguments, in one place for every mode and for audited studies."""

from __future__ import annotations

import math
from typing import Any

from agent.rounds.mode import StoredUpdate
from agent.training import RoundResult
from agent.zk import participant as zkp


def commit_args(rnd: dict[str, Any], result: RoundResult, stored: StoredUpdate) -> dict[str, Any]:
    """The commitment to ``stored`` (the bytes of ``result``'s update as the mode stored them):
    their hash and envelope, the step Merkle root, the sample bucket and count, the epsilon
    the round spent, and, when the steps were recorded for an audit, the step count, final
    weights' commitment and noise multiplier."""
    args = {
        "study_id": rnd["study_id"],
        "round": rnd["round"],
        "update_hash": stored.data_hash,
        "step_root": result.step_root.hex(),
        "sample_bucket": min(20, int(math.log2(max(result.sample_count, 1)))),
        "epsilon_micro": max(1, math.ceil(result.epsilon_spent * 1_000_000)),  # the ledger charges >= 1
        "share_cids": [stored.envelope],
        "consented_records": result.sample_count,
    }
    if result.audit is not None:
        args.update(zkp.commit_fields(result))
    return args
