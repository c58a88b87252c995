"""Exactly-once ledger actions for the agent: journal first, then send, and re-send the same
signed envelope after a crash.

``submit_once(action, call, is_done)`` (``call``: clients/ledger's description of one
transaction):

1. If the journal holds an envelope for the action whose fate is unknown (the agent stopped
   around sending it), the ledger is asked about that transaction id (qscc); if the ledger has
   never seen it, the *same* envelope is sent again: a transaction id commits at most once.
2. If the ledger already shows the action's effect (``is_done``), nothing is sent.
3. Otherwise a fresh proposal is endorsed, its envelope journaled, and only then sent.

``recover`` does step 1 for every unresolved entry when the agent starts.

A contract refusal (the chaincode said no) is raised as is; a refusal because the action is
already on the ledger (409 after a lagging read) counts as done once ``is_done`` confirms it.

Fault injection for the crash tests: ``FEDLEDGER_AGENT_FAULT=exit-after-send:<kind>`` makes
the process exit right after the envelope of a ``<kind>`` action left for the orderer, before
the agent learnt its fate (the worst moment to crash); ``exit-after-endorse:<kind>`` exits
after the envelope was journaled but before it was sent.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fabric_protos.common import common_pb2
from fabric_protos.peer import transaction_pb2

from agent.daemon.journal import Journal, Submission
from clients.fabric import CommitError, EndorseError
from clients.fabric.contract import endorsers_disagreed
from clients.fabric.transaction import RETRYABLE_COMMIT_CODES, Transaction
from clients.ledger import Call, LedgerClient

log = logging.getLogger("fedledger.agent")
FAULT_ENV = "FEDLEDGER_AGENT_FAULT"


@dataclass(frozen=True)
class Outcome:
    tx_id: str | None  # None: the ledger already had it and nothing was sent
    block: int | None
    result: Any
    recovered: bool = False  # the transaction was sent before a restart


class JournaledSubmitter:
    def __init__(self, journal: Journal, ledger: LedgerClient) -> None:
        self.journal = journal
        self.ledger = ledger

    def submit_once(self, action: str, call: Call, is_done: Callable[[], bool], max_attempts: int = 5) -> Outcome:
        previous = self.journal.submission(action)
        if previous is not None and previous.state in ("endorsed", "sent"):
            code = self._resolve(previous)
            if code == transaction_pb2.VALID:
                return Outcome(previous.tx_id, previous.block, None, recovered=True)
        if is_done():
            return Outcome(None, None, None)
        delay = 0.1
        for attempt in range(1, max_attempts + 1):
            started = time.monotonic()
            try:
                tx = self.ledger.endorse(call)
            except EndorseError as exc:
                if exc.chaincode_status == 409 and is_done():
                    return Outcome(None, None, None)
                if endorsers_disagreed(exc) and attempt < max_attempts:
                    time.sleep(delay * (1 + random.random()))
                    delay = min(delay * 2, 2.0)
                    continue
                raise
            self.journal.record_endorsed(action, tx.tx_id, tx.envelope.SerializeToString())
            _maybe_crash("endorse", action)
            code, block, spent = self._send(action, tx, time.monotonic() - started)
            if code == transaction_pb2.VALID:
                self.journal.mark(action, "committed", code, block, spent)
                return Outcome(tx.tx_id, block, tx.result)
            self.journal.mark(action, "failed", code, block, spent)
            if is_done():
                return Outcome(None, None, None)
            if code not in RETRYABLE_COMMIT_CODES or attempt == max_attempts:
                raise CommitError(tx.tx_id, code, block)
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def recover(self) -> list[tuple[str, str]]:
        """Resolve every journaled transaction whose fate is unknown (sent, or about to be,
        when the agent stopped): look it up on the ledger, re-send the same envelope if it is not
        there, and record the outcome. Returns (action, final state) per resolved entry."""
        out = []
        for sub in self.journal.submissions():
            if sub.state in ("endorsed", "sent"):
                self._resolve(sub)
                resolved = self.journal.submission(sub.action)
                out.append((sub.action, resolved.state if resolved else "?"))
        return out

    def _resolve(self, sub: Submission) -> int:
        """Learn what became of a journaled transaction; send its envelope again if the
        ledger has never seen it (the same transaction id commits at most once)."""
        network = self.ledger.network
        code = network.transaction_code(sub.tx_id)
        spent = 0.0
        if code is None:
            log.info("%s: tx %s is not on the ledger; re-sending its journaled envelope", sub.action, sub.tx_id)
            envelope = common_pb2.Envelope.FromString(sub.envelope)
            code, _, spent = self._send(sub.action, network.prepared(sub.tx_id, envelope))
            if code != transaction_pb2.VALID:  # e.g. DUPLICATE_TXID if the first copy landed meanwhile
                code = network.transaction_code(sub.tx_id)
        else:
            log.info("%s: tx %s sent before the restart is on the ledger: %s", sub.action, sub.tx_id, _name(code))
        state = "committed" if code == transaction_pb2.VALID else "failed"
        self.journal.mark(sub.action, state, code, None, spent)
        return code if code is not None else -1

    def _send(self, action: str, tx: Transaction, already: float = 0.0) -> tuple[int, int, float]:
        started = time.monotonic()
        commit = tx.submit()
        self.journal.mark(action, "sent")
        _maybe_crash("send", action)
        code, block = commit.status()
        return code, block, already + time.monotonic() - started


def _maybe_crash(stage: str, action: str) -> None:
    fault = os.environ.get(FAULT_ENV, "")
    if fault.startswith(f"exit-after-{stage}:") and action.endswith("/" + fault.split(":", 1)[1]):
        log.warning("fault injection (%s): exiting after sending %s", fault, action)
        logging.shutdown()
        os._exit(75)


def _name(code: int) -> str:
    return transaction_pb2.TxValidationCode.Name(code)
