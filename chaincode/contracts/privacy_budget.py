"""Per-hospital differential-privacy budgets, accumulated on the ledger.

Each commitment reports the epsilon its round of DP-SGD spent (micro-epsilon, from the
hospital's privacy accountant). Spending only grows; a commitment that would take a hospital
past the study's budget is refused, and nothing of it is written. Basic composition (adding
epsilons) is the conservative accounting the ledger can check; an agent may use a tighter
accountant across rounds, which only makes the reported figures smaller.

State::

    budget~<study_id>~<msp_id> -> {"spent_micro": int, "commits": int}
"""

from __future__ import annotations

from typing import Any

from chaincode.contracts.micro_units import fmt
from chaincode.runtime.errors import Conflict
from chaincode.runtime.stub import Stub

BUDGET = "budget"


def spent(stub: Stub, study_id: str, msp_id: str) -> dict[str, Any]:
    return stub.get_json(stub.create_composite_key(BUDGET, [study_id, msp_id])) or {"spent_micro": 0, "commits": 0}


def charge(stub: Stub, study_id: str, msp_id: str, epsilon_micro: int, budget_micro: int) -> dict[str, Any]:
    """Add ``epsilon_micro`` to the hospital's spend, refusing to exceed ``budget_micro``."""
    current = spent(stub, study_id, msp_id)
    after = current["spent_micro"] + epsilon_micro
    if after > budget_micro:
        raise Conflict(
            f"privacy budget exceeded: {msp_id} has spent {fmt(current['spent_micro'])} of "
            f"{fmt(budget_micro)} epsilon in {study_id}; this commitment adds {fmt(epsilon_micro)}"
        )
    record = {"spent_micro": after, "commits": current["commits"] + 1}
    stub.put_json(stub.create_composite_key(BUDGET, [study_id, msp_id]), record)
    return record
