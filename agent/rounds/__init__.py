"""A hospital's part in a round, by round mode.

A round is *trusted* (the committee of one opens every update and averages them) or *secure*
(updates are masked and a committee of t-of-n unmasks only their sum); each mode is a
:class:`~agent.rounds.mode.RoundMode` that stores a trained update for its aggregator and
aggregates a round. Auditing is orthogonal to the mode: an audited study trains with the
audited plan (agent/zk/audited_training.py), commits the extra fields and proves challenged
steps (agent/zk/participant.py) in either mode. The ``Round:Commit`` arguments are built in
one place, agent/rounds/commit.py.
"""

from __future__ import annotations

from agent.rounds.mode import Aggregate, RoundMode, StoredUpdate

__all__ = ["Aggregate", "RoundMode", "StoredUpdate"]
