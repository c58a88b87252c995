"""Exactly-once ledger actions for the agent: journal first, then send, and re-send the same
signed envelope after a crash.

``submit_once(action, ...)``:

1. If the ledger already shows the action's effect (``is_done``), nothing is sent.
2. If the journal holds an envelope for the action that may have been sent before a crash, that
   envelope is sent again: the same transaction id, which Fabric commits at most once.
3. Otherwise a fresh proposal is endorsed, its envelope journaled, and only then sent.

A contract refusal (the chaincode said no) is raised as is; a refusal because the action is
already on the ledger (409 after a lagging read) counts as done once ``is_done`` confirms it.

Fault injection for the crash test: ``FEDLEDGER_AGENT_FAULT=exit-after-send:<kind>`` makes
the process exit right after the envelope of a ``<kind>`` action left for the orderer and
before the agent learnt its fate: the worst moment to crash.
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

from agent.daemon.journal import Journal
from agent.gateway import CommitError, Contract, EndorseError
from agent.gateway.gateway import RETRYABLE_COMMIT_CODES, Transaction, endorsers_disagreed

log = logging.getLogger("fedledger.agent")
FAULT_ENV = "FEDLEDGER_AGENT_FAULT"


@dataclass(frozen=True)
class Outcome:
    tx_id: str | None  # None: the ledger already had it and nothing was sent
    block: int | None
    result: Any
    resent: bool = False


class JournaledSubmitter:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def submit_once(
        self,
        action: str,
        contract: Contract,
        function: str,
        args: dict[str, Any],
        is_done: Callable[[], bool],
        max_attempts: int = 5,
    ) -> Outcome:
        if is_done():
            self._settle_record(action)
            return Outcome(None, None, None)
        previous = self.journal.submission(action)
        if previous is not None and previous.state in ("endorsed", "sent"):
            log.info("%s: re-sending the journaled envelope of tx %s (sent before a restart?)", action, previous.tx_id)
            envelope = common_pb2.Envelope.FromString(previous.envelope)
            code, block, spent = self._send(action, Transaction(contract, previous.tx_id, envelope, b""))
            if code == transaction_pb2.VALID or is_done():
                self.journal.mark(action, "committed", code, block, spent)
                return Outcome(previous.tx_id, block, None, resent=True)
            self.journal.mark(action, "failed", code, block, spent)
            log.info("%s: journaled tx %s ended %s; endorsing afresh", action, previous.tx_id, _name(code))
        delay = 0.1
        for attempt in range(1, max_attempts + 1):
            started = time.monotonic()
            try:
                tx = contract.endorse(contract.new_proposal(function, args))
            except EndorseError as exc:
                if exc.chaincode_status == 409 and is_done():
                    return Outcome(None, None, None)
                if endorsers_disagreed(exc) and attempt < max_attempts:
                    time.sleep(delay * (1 + random.random()))
                    delay = min(delay * 2, 2.0)
                    continue
                raise
            self.journal.record_endorsed(action, tx.tx_id, tx.envelope.SerializeToString())
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

    def _send(self, action: str, tx: Transaction, already: float = 0.0) -> tuple[int, int, float]:
        started = time.monotonic()
        commit = tx.submit()
        self.journal.mark(action, "sent")
        _maybe_crash(action)
        code, block = commit.status()
        return code, block, already + time.monotonic() - started

    def _settle_record(self, action: str) -> None:
        previous = self.journal.submission(action)
        if previous is not None and previous.state != "committed":
            self.journal.mark(action, "committed")


def _maybe_crash(action: str) -> None:
    fault = os.environ.get(FAULT_ENV, "")
    if fault.startswith("exit-after-send:") and action.endswith("/" + fault.split(":", 1)[1]):
        log.warning("fault injection (%s): exiting after sending %s", fault, action)
        logging.shutdown()
        os._exit(75)


def _name(code: int) -> str:
    return transaction_pb2.TxValidationCode.Name(code)
