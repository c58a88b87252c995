"""The long-running agent: chaincode events in, duties out.

One thread follows the chaincode's events on this hospital's own peer (so an event means the
peer has committed the block that caused it); the main thread wakes on each batch of events,
on the nearest deadline, or on a slow safety timer, reads the ledger and performs whatever
duties the ledger now implies (agent/daemon/duties.py). No tight polling: between events and
deadlines the agent sleeps.

A duty that fails is logged with the reason and retried with backoff; a duty the contract
refuses (a 4xx) is retried when the study or its round changes on the ledger; a 409 ("not
yet", e.g. "only 2 enrolled hospitals have stake" while the last enrollment is still landing)
also after ``REFUSED_RETRY_S`` at the latest, while a 400/403/404 waits for the ledger to change.

A study this hospital cannot serve (agent/study_fit.py: schema, model, data, consent) is
reported once, with every reason, when the agent first sees it. The agent then keeps only the
duties that keep the study moving by its rules (opening rounds it should open, advancing and
settling after deadlines), so a round it was selected for aborts at its deadline with the
stakes released instead of waiting forever; it never trains, aggregates or validates there.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.daemon.config import AgentConfig
from agent.daemon.duties import Duty, Plan, plan
from agent.daemon.journal import Journal
from agent.daemon.worker import HospitalWorker, StudyMismatch
from agent.secagg.protocol import ProtocolError
from agent.storage.vault import ArtifactError
from agent.zk.binary import ZkError
from clients.fabric import ChaincodeEvent, Checkpoint, CommitError, Gateway, GatewayError
from clients.kubo import IPFSError
from clients.ledger.calls import Study

log = logging.getLogger("fedledger.agent")
SAFETY_WAKE_S = 30.0  # a look at the ledger even without events (e.g. while the stream reconnects)
RETRY_START_S = 2.0
RETRY_MAX_S = 60.0
REFUSED_RETRY_S = 20.0  # a duty refused with 409 is tried again after this long even if nothing changed
KEEPER_DUTIES = ("open", "advance", "settle")  # what an agent does in a study it cannot serve
EXIT_CANNOT_TAKE_PART = 3  # --until-done: the study ended for us because we could not take part
# a protocol error (a masked update or share bundle not yet fetchable, shares that do not yet
# reconstruct) is retried with backoff until the ledger's deadline settles the round
RECOVERABLE = (GatewayError, CommitError, IPFSError, ArtifactError, OSError, ProtocolError, ZkError)


@dataclass
class _Backoff:
    until: float = 0.0
    delay: float = RETRY_START_S
    ledger_seen: str = ""  # a refused duty is retried once the ledger changed (or after until)


@dataclass
class AgentRunner:
    cfg: AgentConfig
    until_done: str | None = None  # exit once this study is finished for this hospital
    stop: threading.Event = field(default_factory=threading.Event)
    fit_checked: set[str] = field(default_factory=set)  # studies found fit to serve
    clock: Callable[[], float] = time.time  # seconds; the duty planner's and the retries' notion of now

    def run(self) -> int:
        """Run until stopped (or until ``until_done`` is finished); returns an exit status."""
        if self.cfg.training.threads:
            import torch

            torch.set_num_threads(self.cfg.training.threads)
        gateway = Gateway.connect(self.cfg.gateway_address, self.cfg.tls_ca, self.cfg.msp_dir, self.cfg.msp_id)
        journal = Journal(self.cfg.journal_path)
        try:
            worker = HospitalWorker.connect(self.cfg, gateway, journal)
            if not self._start_up(worker):
                return 0
            log.info("agent for %s up: gateway %s, IPFS %s, %d training and %d validation records, journal %s",
                     self.cfg.msp_id, self.cfg.gateway_address, self.cfg.ipfs_api, len(worker.train_records),
                     len(worker.validation), self.cfg.journal_path)  # fmt: skip
            events: queue.Queue[ChaincodeEvent] = queue.Queue()
            listener = threading.Thread(target=self._listen, args=(gateway, events), daemon=True, name="events")
            listener.start()
            return self._loop(worker, events)
        finally:
            self.stop.set()
            journal.close()
            gateway.close()

    def _start_up(self, worker: HospitalWorker) -> bool:
        """Check the registration and resolve the journal's unresolved actions; while the gateway
        peer is unreachable (e.g. restarting) wait and try again rather than exit. False when
        stopped meanwhile."""
        delay = RETRY_START_S
        while not self.stop.is_set():
            try:
                worker.check_registration()
                for action, state in worker.submitter.recover():
                    log.info("journal: %s was unresolved at start-up; now %s", action, state)
                return True
            except GatewayError as exc:
                if exc.chaincode_status is not None:
                    raise  # the contract answered: not a transport failure
                log.warning("gateway peer %s unreachable at start-up (%s); the agent waits %.0fs and tries again",
                            self.cfg.gateway_address, _first_line(exc), delay)  # fmt: skip
                self.stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
        return False

    # --- events --------------------------------------------------------------------------------
    def _listen(self, gateway: Gateway, events: queue.Queue[ChaincodeEvent]) -> None:
        checkpoint = Checkpoint()
        delay = 1.0
        network = gateway.network(self.cfg.channel)
        while not self.stop.is_set():
            stream = network.chaincode_events(self.cfg.chaincode, checkpoint)
            try:
                for event in stream:
                    events.put(event)
                    delay = 1.0
                    if self.stop.is_set():
                        break
            except GatewayError as exc:
                if self.stop.is_set():
                    return
                log.warning(
                    "event stream from %s lost (%s); reconnecting in %.0fs", self.cfg.gateway_address, exc, delay
                )
                events.put(ChaincodeEvent(0, "", "", "agent.reconnected", b"{}"))  # look at the ledger once more
                self.stop.wait(delay)
                delay = min(delay * 2, 30.0)

    # --- the loop ------------------------------------------------------------------------------
    def _loop(self, worker: HospitalWorker, events: queue.Queue[ChaincodeEvent]) -> int:
        backoff: dict[str, _Backoff] = {}
        finished: set[str] = set()
        refused: dict[str, str] = {}  # studies this hospital cannot serve, and why
        last_waiting: dict[str, str] = {}
        unreachable = _Backoff()  # the gateway peer itself (e.g. restarting): wait, do not die
        while not self.stop.is_set():
            wake_at = time.time() + SAFETY_WAKE_S
            try:
                studies = self._studies(worker, finished)
            except RECOVERABLE as exc:
                if isinstance(exc, GatewayError) and exc.chaincode_status is not None:
                    raise  # the contract answered: the peer is reachable, and the refusal is a bug to see
                log.warning("gateway peer %s unreachable (%s); the agent waits %.0fs and tries again",
                            self.cfg.gateway_address, _first_line(exc), unreachable.delay)  # fmt: skip
                self.stop.wait(unreachable.delay)
                unreachable.delay = min(unreachable.delay * 2, RETRY_MAX_S)
                continue
            if unreachable.delay != RETRY_START_S:
                log.info("gateway peer %s reachable again", self.cfg.gateway_address)
                unreachable = _Backoff()
            for sid in studies:
                try:
                    p = self._reconcile(worker, sid, backoff, refused)
                except StudyMismatch as exc:
                    refused[sid] = str(exc)
                    log.error("study %s: %s cannot take part: %s; it only opens, advances and settles rounds "
                              "by their deadlines from now on", sid, self.cfg.msp_id, exc)  # fmt: skip
                    if self.until_done == sid:
                        finished.add(sid)
                    continue
                except RECOVERABLE as exc:
                    log.warning("study %s: could not read the ledger (%s); retrying", sid, exc)
                    wake_at = min(wake_at, time.time() + RETRY_START_S)
                    continue
                if p.finished:
                    finished.add(sid)
                    log.info("study %s: finished for %s (%s)", sid, self.cfg.msp_id, p.waiting)
                elif p.waiting and last_waiting.get(sid) != p.waiting:
                    log.info("study %s: waiting: %s", sid, p.waiting)
                last_waiting[sid] = p.waiting
                if p.wake_at_ms is not None:
                    wake_at = min(wake_at, p.wake_at_ms / 1000)
                for b in backoff.values():
                    if b.until > time.time():
                        wake_at = min(wake_at, b.until)
            if self.until_done is not None and self.until_done in finished:
                return EXIT_CANNOT_TAKE_PART if self.until_done in refused else 0
            try:
                events.get(timeout=max(0.05, wake_at - time.time()))
                while True:  # one look at the ledger per batch of events
                    events.get_nowait()
            except queue.Empty:
                pass
        return 0

    def _studies(self, worker: HospitalWorker, finished: set[str]) -> list[str]:
        if self.cfg.studies:
            wanted = list(self.cfg.studies)
        else:
            wanted = [s["study_id"] for s in worker.ledger.evaluate(Study.list()) if s["status"] != "PROPOSED"]
        return [s for s in wanted if s not in finished]

    def _reconcile(self, worker: HospitalWorker, sid: str, backoff: dict[str, _Backoff],
                   refused: dict[str, str]) -> Plan:  # fmt: skip
        """Perform every duty the ledger implies right now, re-reading it after each."""
        for _ in range(20):  # a duty changes the ledger; a bounded number of passes per wake-up
            study, rnd = worker.current(sid)
            mine = worker.me in study.get("enrolled", []) or sid in self.cfg.studies
            unchecked = sid not in refused and sid not in self.fit_checked
            if mine and unchecked and study["status"] == "ACTIVE":
                fit = worker.fit(study)  # at first sight: before round 0 opens, nothing is locked yet
                if not fit.ok:
                    raise StudyMismatch("; ".join(fit.problems))
                self.fit_checked.add(sid)
            p = plan(worker.me, study, rnd, int(self.clock() * 1000))
            if sid not in refused:
                worker.anticipate(study, rnd)
            progressed = False
            for duty in p.duties:
                if sid in refused and duty.kind not in KEEPER_DUTIES:
                    continue
                if not self._due(duty, study, rnd, backoff):
                    continue
                if self._attempt(worker, duty, study, rnd, backoff):
                    progressed = True
                    break  # re-read the ledger before the next duty
            if not progressed:
                return p
        return p

    @staticmethod
    def _fingerprint(study: dict[str, Any], rnd: dict[str, Any] | None) -> str:
        """What a refused duty waits to see change: the study's status, enrolment and round,
        and the round's state and submissions."""
        head = f"{study['status']}:{','.join(study.get('enrolled', []))}:{study['current_round']}"
        if rnd is None:
            return head
        counts = ":".join(str(len(rnd.get(k, {}))) for k in ("keys", "commitments", "shares", "validations"))
        return f"{head}:{rnd['round']}:{rnd['state']}:{counts}:{rnd.get('unmask_ready')}"

    def _due(self, duty: Duty, study: dict[str, Any], rnd: dict[str, Any] | None,
             backoff: dict[str, _Backoff]) -> bool:  # fmt: skip
        b = backoff.get(duty.action)
        if b is None:
            return True
        if b.ledger_seen and b.ledger_seen != self._fingerprint(study, rnd):
            return True
        return self.clock() >= b.until

    def _attempt(self, worker: HospitalWorker, duty: Duty, study: dict[str, Any], rnd: dict[str, Any] | None,
                 backoff: dict[str, _Backoff]) -> bool:  # fmt: skip
        try:
            message = worker.perform(duty, study, rnd)
        except GatewayError as exc:
            status = exc.chaincode_status
            b = backoff.setdefault(duty.action, _Backoff())
            if status is not None and status < 500:
                # the contract refused: retry when the ledger moved; a 409 ("not yet") also on a timer
                not_yet = status == 409
                b.ledger_seen = self._fingerprint(study, rnd)
                b.until = self.clock() + REFUSED_RETRY_S if not_yet else float("inf")
                later = f" or in {REFUSED_RETRY_S:.0f}s" if not_yet else ""
                log.info("%s: not now (%s): %s; trying again when the ledger changes%s", duty.action, status,
                         exc.chaincode_message, later)  # fmt: skip
            else:
                b.ledger_seen = ""
                b.until, b.delay = self.clock() + b.delay, min(b.delay * 2, RETRY_MAX_S)
                log.warning("%s failed, retrying in %.0fs: %s", duty.action, b.delay, exc)
            return False
        except RECOVERABLE as exc:
            b = backoff.setdefault(duty.action, _Backoff())
            b.ledger_seen = ""
            b.until, b.delay = self.clock() + b.delay, min(b.delay * 2, RETRY_MAX_S)
            log.warning("%s failed, retrying in %.0fs: %s", duty.action, b.delay, exc)
            return False
        backoff.pop(duty.action, None)
        if message:
            log.info("study %s: %s", duty.study_id, message)
        return bool(message)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def configure_logging(cfg: AgentConfig, verbose: bool = False) -> None:
    """Log to ``state_dir/agent.log`` and to stderr, each line naming the hospital."""
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter(f"%(asctime)s {cfg.org} %(levelname)s %(message)s", "%H:%M:%S")
    logger = logging.getLogger("fedledger.agent")
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.handlers.clear()
    for handler in (logging.FileHandler(cfg.state_dir / "agent.log"), logging.StreamHandler()):
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    logger.propagate = False
