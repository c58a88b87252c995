"""Run one hostile case against a ledger snapshot and check what must hold whatever the input.

* The answer is a success or a refusal (200, 400, 403, 404, 409): never a 5xx, never an
  exception out of the router. A 5xx aborts the transaction too, but says "the chaincode broke",
  hides the reason from the caller, and on the real peer is logged as a crash.
* A refusal changes nothing: world state, private data, history and events are as before, and
  no state shared between calls (a schema's default value) was touched.
* A query never writes: no put, delete, purge or event.
* After a successful transaction the ledger's invariants hold: the minted supply equals every
  balance, stake and reward pool together; no balance, stake or pool is negative; locked stake
  never exceeds stake; privacy spending stays within the study's budget and never goes down;
  every round moved only along the state machine's edges.

The stub used here adds the peer's encoding rules to the in-memory ledger: keys, collection
names, event names and the response message travel as protobuf strings, which must be valid
UTF-8, so a lone surrogate that reaches any of them fails here as it would on a real peer.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from chaincode.hostile.cases import Case, entry_points
from chaincode.hostile.phases import Phase, copy_ledger
from chaincode.runtime import canonical, keys
from chaincode.runtime.contract import Router
from chaincode.runtime.identity import ClientIdentity
from chaincode.runtime.proposal import TransactionContext
from chaincode.runtime.stub import KeyModification, Page
from chaincode.runtime.testing import InMemoryLedger, MemoryStub

ALLOWED_STATUS = frozenset({200, 400, 403, 404, 409})
CHANGED_SNAPSHOT = "the call changed the ledger it ran against"
SHARED_STATE = "state shared between calls changed"


def _utf8(*texts: str) -> None:
    for text in texts:
        text.encode("utf-8")  # raises UnicodeEncodeError exactly where protobuf would


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class PeerFaithfulStub(MemoryStub):
    """:class:`MemoryStub` that refuses what the peer's protobuf messages cannot carry."""

    def _get(self, collection: str, key: str) -> bytes | None:
        _utf8(collection, key)
        return super()._get(collection, key)

    def _write(self, collection: str, key: str, value: bytes | None) -> None:
        _utf8(collection, key)
        super()._write(collection, key, value)

    def _purge(self, collection: str, key: str) -> None:
        _utf8(collection, key)
        super()._purge(collection, key)

    def _get_hash(self, collection: str, key: str) -> bytes | None:
        _utf8(collection, key)
        return super()._get_hash(collection, key)

    def _range(self, collection: str, start: str, end: str, page_size: int, bookmark: str) -> Page:
        _utf8(collection, start, end, bookmark)
        return super()._range(collection, start, end, page_size, bookmark)

    def _history(self, key: str) -> list[KeyModification]:
        _utf8(key)
        return super()._history(key)

    @property
    def wrote(self) -> bool:
        return bool(self._writes or self._purges or self.event is not None)

    def commit_into(self, ledger: InMemoryLedger) -> None:
        """Apply this transaction's writes to ``ledger`` (a copy of the one it read)."""
        self._ledger = ledger
        self.commit()
        if self.event is not None:
            ledger.events.append(self.event)


@dataclass(frozen=True)
class Outcome:
    status: int
    message: str
    cpu_ms: float  # process CPU time of router.invoke alone
    wall_ms: float  # includes subprocesses (the zk verifier)
    problems: tuple[str, ...]  # every property the call violated (empty when all held)


@dataclass(frozen=True)
class _Frozen:
    state: dict[tuple[str, str], bytes]
    history_lengths: dict[str, int]
    events: int


def _freeze(ledger: InMemoryLedger) -> _Frozen:
    return _Frozen(dict(ledger.state), {k: len(v) for k, v in ledger.history.items()}, len(ledger.events))


def _unchanged(ledger: InMemoryLedger, frozen: _Frozen) -> bool:
    return (
        ledger.state == frozen.state
        and len(ledger.events) == frozen.events
        and {k: len(v) for k, v in ledger.history.items()} == frozen.history_lengths
    )


# --- invariants ---------------------------------------------------------------------------------
def _records(state: Mapping[tuple[str, str], bytes], object_type: str, *attrs: str) -> Iterator[tuple[list[str], Any]]:
    prefix = keys.create_composite_key(object_type, list(attrs))
    for (collection, key), value in state.items():
        if collection == "" and key.startswith(prefix):
            yield keys.split_composite_key(key)[1], canonical.loads(value)


def invariant_violations(state: Mapping[tuple[str, str], bytes],
                         before: Mapping[tuple[str, str], bytes] | None = None) -> list[str]:  # fmt: skip
    """Token conservation and signs, privacy budgets, round transitions (``before``: the state
    the transaction started from, for quantities that may only grow)."""
    from chaincode.contracts.rounds import NEXT

    out = []
    supply = next((v for _, v in _records(state, "token", "supply")), {"minted": 0})["minted"]
    held = pools = 0
    for attrs, acct in _records(state, "token", "account"):
        held += acct["balance"] + acct["staked"]
        if min(acct["balance"], acct["staked"], acct["locked"]) < 0 or acct["locked"] > acct["staked"]:
            out.append(f"account {attrs[1]} broke its invariant: {acct}")
    for attrs, pool in _records(state, "token", "pool"):
        pools += pool["balance"]
        if pool["balance"] < 0:
            out.append(f"reward pool {attrs[1]} is negative: {pool['balance']}")
    if supply != held + pools:
        out.append(f"token supply not conserved: minted {supply} != accounts {held} + pools {pools}")
    budgets = {
        attrs[0]: s["params"]["epsilon_budget_micro"] for attrs, s in _records(state, "study") if len(attrs) == 1
    }
    old = {tuple(a): v["spent_micro"] for a, v in _records(before or {}, "budget")}
    for attrs, spent in _records(state, "budget"):
        if spent["spent_micro"] > budgets.get(attrs[0], 0):
            out.append(f"privacy spend of {attrs[1]} in {attrs[0]} exceeds the budget: {spent}")
        if spent["spent_micro"] < old.get(tuple(attrs), 0):
            out.append(f"privacy spend of {attrs[1]} in {attrs[0]} went down")
    for attrs, rnd in _records(state, "round"):
        states = [t["state"] for t in rnd["transitions"]]
        if any(b not in NEXT[a] for a, b in itertools.pairwise(states)):
            out.append(f"round {attrs} took an illegal path: {states}")
    return out


@contextlib.contextmanager
def quiet_router() -> Iterator[None]:
    """Silence the router's log while hostile cases run: every refusal and crash is in the
    outcomes, and thousands of logged tracebacks would cost more than the calls themselves."""
    logger = logging.getLogger("fedledger.chaincode")
    before = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = before


# --- running cases ------------------------------------------------------------------------------
class Checker:
    """Runs cases against phases and reports what each one violated."""

    def __init__(self, router: Router, ids: Mapping[str, ClientIdentity]) -> None:
        self.router = router
        self.ids = ids
        self._tx = itertools.count()
        self._frozen: dict[int, _Frozen] = {}
        self._defaults = [(name, fname, f.default, repr(f.default))
                          for name, spec in entry_points(router).items()
                          for fname, f in spec.schema.fields.items()
                          if isinstance(f.default, (list, dict, set))]  # fmt: skip

    def _shared_state_changes(self) -> list[str]:
        """Schema defaults changed since the last call (each change is reported once)."""
        changed = [f"{name}: the default of {fname} was mutated to {d!r}" for name, fname, d, text in self._defaults
                   if repr(d) != text]  # fmt: skip
        if changed:
            self._defaults = [(name, fname, d, repr(d)) for name, fname, d, _ in self._defaults]
        return changed

    def run(self, phase: Phase, case: Case) -> Outcome:
        base = phase.ledger
        frozen = self._frozen.setdefault(id(phase), _freeze(base))
        ts = phase.now_ms + 10 + case.delay_ms
        context = TransactionContext(channel_id=base.channel_id,
                                     tx_id=hashlib.sha256(f"hostile-{next(self._tx)}".encode()).hexdigest(),
                                     timestamp_seconds=ts // 1000, timestamp_nanos=(ts % 1000) * 1_000_000,
                                     creator=self.ids[case.caller], transient=dict(case.transient))  # fmt: skip
        stub = PeerFaithfulStub(base, context, case.args)
        problems = []
        wall0, cpu0 = time.perf_counter(), time.process_time()
        try:
            status, message, _ = self.router.invoke(stub)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - escaping the router is the finding
            status, message = 599, f"exception escaped the router: {type(exc).__name__}: {exc}"
        cpu_ms = (time.process_time() - cpu0) * 1000
        wall_ms = (time.perf_counter() - wall0) * 1000
        if not _encodable(message):
            status, message = 500, f"the response message is not UTF-8 (the runtime answers ERROR): {message!r}"[:500]
        elif status < 400 and stub.event is not None and not _encodable(stub.event.name):
            status, message = 500, f"the event name is not UTF-8 (the runtime answers ERROR): {stub.event.name!r}"
        if status not in ALLOWED_STATUS:
            problems.append(f"status {status}: {message[:300]}")
        if not _unchanged(base, frozen):
            problems.append(CHANGED_SNAPSHOT)
            self._frozen[id(phase)] = _freeze(base)  # report it once, then go on from here
        problems += [f"{SHARED_STATE}: {change}" for change in self._shared_state_changes()]
        if status < 400 and not case.submit and stub.wrote:
            problems.append("a query wrote (put, delete, purge or event)")
        if status < 400 and case.submit and stub.wrote:
            after = copy_ledger(base)
            stub.commit_into(after)
            problems += invariant_violations(after.state, base.state)
        return Outcome(status, message, cpu_ms, wall_ms, tuple(problems))


def cause(outcome: Outcome) -> str:
    """A short name for why a call broke a property, equal for calls that broke it the same way
    (numbers, quoted text and positions removed), for grouping reports."""
    if not outcome.problems:
        return ""
    first = outcome.problems[0]
    crash = re.match(r"status (\d+): internal error: (\w+)", first)
    if crash:
        return f"{crash.group(1)} {crash.group(2)}"
    text = re.sub(r"'[^']*'|\"[^\"]*\"|\{.*\}|\[.*\]", "...", first)
    return re.sub(r"\d+", "N", text)[:90]


def refusal_changed_state(outcome: Outcome) -> bool:
    """A refused call that left a trace: the ledger it ran against, or state shared between calls."""
    return outcome.status >= 400 and any(p.startswith((CHANGED_SNAPSHOT, SHARED_STATE)) for p in outcome.problems)
