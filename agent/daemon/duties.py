"""What a hospital agent should do next in a study, decided from the ledger alone.

A pure function of the study and its current round as the ledger reports them (plus the
agent's clock, only to know when a deadline has passed and to set a timer): the agent is
level-triggered. Whatever happened before a crash, the next look at the ledger says what is
left, and the journal (agent/daemon/journal.py) makes sure nothing is signed twice.

Who does what:

* **Participants** (chosen by the chaincode) train and ``Commit``; the **committee** (one
  aggregator in trusted-aggregator mode) aggregates; **every enrolled hospital** validates
  each new global model on its own held-out data.
* In **secure-committee** rounds participants first publish their round keys (``keys``, in
  state KEYS) and commit masked updates (already in KEYS once every round key is in: the
  steward's Advance then waits for the commitments or the key deadline); committee members
  publish their shares (``shares``) and, once the ledger says unmask-ready, aggregate. In
  rounds that bind inputs participants also ``bind`` in PROVE, and after a failed check
  members publish the shares of a second reveal and aggregate again (``shares2``,
  ``aggregate2``).
* The round's **steward**, its first committee member, moves it along when it is complete
  (``Advance`` after the last commitment, ``Settle`` after the last validation report) and
  opens the next round. Round 0 is opened by the study's proposer.
* When a **deadline** passes, any enrolled hospital may call ``Advance``/``Settle``; the others
  wait a few seconds more in a fixed order (by MSP ID) so that they do not all race.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# how long a non-steward waits after a deadline before acting itself, per rank
DEADLINE_GRACE_MS = 2_000
RANK_STAGGER_MS = 3_000


@dataclass(frozen=True)
class Duty:
    # open | keys | commit | advance | prove | bind | shares | aggregate | shares2 | aggregate2 | validate | settle
    kind: str
    study_id: str
    round: int
    why: str

    @property
    def action(self) -> str:
        """The journal key of the ledger action this duty ends in."""
        return f"{self.study_id}/r{self.round}/{self.kind}"


@dataclass
class Plan:
    duties: list[Duty] = field(default_factory=list)
    wake_at_ms: int | None = None  # a deadline after which the plan may change without an event
    waiting: str = ""
    finished: bool = False

    def wake(self, at_ms: int | None) -> None:
        if at_ms is not None and (self.wake_at_ms is None or at_ms < self.wake_at_ms):
            self.wake_at_ms = at_ms


def plan(me: str, study: dict[str, Any], rnd: dict[str, Any] | None, now_ms: int) -> Plan:
    """The duties of ``me`` in ``study`` right now. ``rnd`` is ``Round:Get`` of the study's
    current round (None before round 0 is opened)."""
    out = Plan()
    sid = study["study_id"]
    if study["status"] == "PROPOSED":
        out.waiting = "study awaits majority approval"
        return out
    if me not in study.get("enrolled", []):
        out.waiting = f"{me} is not enrolled"
        out.finished = study["status"] != "ACTIVE"
        return out
    total_rounds = study["params"]["rounds"]
    if rnd is None:
        if study["status"] == "ACTIVE" and me == study["proposer"]:
            out.duties.append(Duty("open", sid, 0, "round 0 is opened by the study's proposer"))
        else:
            out.waiting = f"round 0 to be opened by {study['proposer']}"
        return out

    n, state = rnd["round"], rnd["state"]
    steward = rnd["committee"][0] if rnd["committee"] else study["proposer"]
    deadlines = rnd["deadlines"]
    rank = sorted(study["enrolled"]).index(me)
    grace = 0 if me == steward else DEADLINE_GRACE_MS + rank * RANK_STAGGER_MS

    def past(deadline: int | None) -> bool:
        return deadline is not None and now_ms >= deadline + grace

    secure = rnd.get("aggregation") == "secure"
    if state == "KEYS":
        keys, commitments = rnd.get("keys", {}), rnd.get("commitments", {})
        if me in rnd["participants"] and me not in keys:
            out.duties.append(Duty("keys", sid, n, "selected as a participant: deal shares to the committee"))
        complete = set(keys) >= set(rnd["participants"])
        if complete and me in rnd["participants"] and me not in commitments:  # the masking set is fixed
            out.duties.append(Duty("commit", sid, n, "selected as a participant; every round key is in"))
        committed = complete and set(commitments) >= set(rnd["participants"])
        # the Advance waits for the commitments (it would conflict with them) or the key deadline
        if (committed and me == steward) or past(deadlines["keys_ms"]):
            why = "every participant published keys and committed" if committed else "key deadline"
            out.duties.append(Duty("advance", sid, n, why))
        out.wake(None if committed else deadlines["keys_ms"] + grace)
        out.waiting = (f"round {n}: {len(commitments)}/{len(rnd['participants'])} committed" if complete
                       else f"round {n}: {len(keys)}/{len(rnd['participants'])} round keys")  # fmt: skip
    elif state == "OPEN":
        commitments = rnd.get("commitments", {})
        expected = rnd["masking_set"] if secure else rnd["participants"]
        if me in expected and me not in commitments:
            out.duties.append(Duty("commit", sid, n, "selected as a participant"))
        complete = set(commitments) >= set(expected)
        if (complete and me == steward) or past(deadlines["commit_ms"]):
            out.duties.append(Duty("advance", sid, n, "every participant committed" if complete else "commit deadline"))
        out.wake(None if complete else deadlines["commit_ms"] + grace)
        out.waiting = f"round {n}: {len(commitments)}/{len(expected)} committed"
    elif state in ("COMMIT", "CHALLENGE"):
        if me == steward:
            out.duties.append(Duty("advance", sid, n, f"{state} moves on at once"))
        out.waiting = f"round {n}: {state}"
    elif state == "PROVE":
        audits = rnd.get("audits", {})
        proofs = rnd.get("proofs", {})
        dropped = rnd.get("dropped", {})
        bindings = rnd.get("bindings", {})
        bound = bool(rnd.get("bound"))
        if bound and me in rnd["committed"] and me not in bindings and me not in dropped:
            out.duties.append(Duty("bind", sid, n, "bind the masked input to the committed update"))
        if me in audits and me not in proofs and me not in dropped:
            out.duties.append(Duty("prove", sid, n, f"audited steps {audits[me]}"))
        resolved = all(proofs.get(m, {}).get("status") in ("verified", "failed") for m in audits)
        resolved = resolved and (not bound or all(m in bindings or m in dropped for m in rnd["committed"]))
        if (resolved and me == steward) or past(deadlines["prove_ms"]):
            out.duties.append(Duty("advance", sid, n, "every audit and binding resolved" if resolved
                                   else "prove deadline"))  # fmt: skip
        out.wake((deadlines["prove_ms"] or 0) + grace if deadlines["prove_ms"] else None)
        out.waiting = f"round {n}: {'audits and bindings' if bound else 'audits'} open"
    elif state == "AGGREGATE":
        member = me in rnd["committee"]
        second = rnd.get("reveal_stage", 1) == 2  # a bound round's second reveal
        shares_kind, aggregate_kind = ("shares2", "aggregate2") if second else ("shares", "aggregate")
        if secure and member and me not in rnd.get("shares2" if second else "shares", {}):
            out.duties.append(Duty(shares_kind, sid, n, "on the committee: publish shares of the revealed secrets"))
        unmasked = not secure or rnd.get("unmask_ready")
        if member and unmasked and me not in rnd.get("aggregates2" if second else "aggregates", {}):
            # t matching aggregates finalize the round: the first t members unmask at once, the
            # others only as backups when the round is still open a while later
            backup = rnd["committee"].index(me) - rnd["threshold"]
            if not secure or backup < 0:
                out.duties.append(Duty(aggregate_kind, sid, n, "on the aggregation committee"))
            else:
                backup_at = rnd["unmask_ready_ms"] + DEADLINE_GRACE_MS + backup * RANK_STAGGER_MS
                if now_ms >= backup_at:
                    out.duties.append(Duty(aggregate_kind, sid, n, "backup member: the round still lacks t aggregates"))
                out.wake(backup_at)
        if past(deadlines["aggregate_ms"]):
            out.duties.append(Duty("advance", sid, n, "aggregate deadline"))
        out.wake(deadlines["aggregate_ms"] + grace if deadlines["aggregate_ms"] else None)
        out.waiting = f"round {n}: waiting for the committee's {'aggregate' if unmasked else 'shares'}"
    elif state == "FINALIZED" and not rnd["settled"]:
        reports = rnd.get("validations", {})
        if me not in reports:
            out.duties.append(Duty("validate", sid, n, "validate the new global model on held-out data"))
        complete = set(reports) >= set(study["enrolled"])
        if (complete and me == steward) or past(deadlines["validation_ms"]):
            out.duties.append(Duty("settle", sid, n, "every hospital reported" if complete else "validation deadline"))
        out.wake(None if complete else deadlines["validation_ms"] + grace)
        out.waiting = f"round {n}: {len(reports)}/{len(study['enrolled'])} validation reports"
    else:  # FINALIZED and settled, or ABORTED
        if n + 1 < total_rounds and study["status"] == "ACTIVE":
            if me == steward:
                out.duties.append(Duty("open", sid, n + 1, f"round {n} is {state.lower()}; its steward opens the next"))
            else:
                out.waiting = f"round {n + 1} to be opened by {steward}"
        else:
            out.finished = True
            out.waiting = (
                f"study {study['status'].lower()}: {study['rounds_finalized']}/{total_rounds} rounds finalized"
            )
    return out
