"""Hospital agents' real workers (agent/daemon/worker.py) on the in-memory consortium: the real
contracts on chaincode/runtime/testing.py's ledger, one clients/memory.py blob store for every
hospital, the demo's data. Only the transport is a double; training, masking, envelopes,
aggregation, validation and every ledger argument are the agent's own."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.daemon.config import AgentConfig
from agent.daemon.duties import plan
from agent.daemon.journal import Journal
from agent.daemon.submitter import Outcome
from agent.daemon.worker import HospitalWorker
from agent.data import demo_split
from agent.data.schema import Schema
from agent.federation import publish_model, share_keys
from agent.keys import public_b64
from agent.models import LOGREG_30, get_weights
from clients.fabric import EndorseError
from clients.ledger import Call, LedgerClient
from clients.memory import MemoryBlobStore, MemoryNetwork
from tests.unit.consortium_sim import Consortium


class MemorySubmitter:
    """Sends an action at once, unless the ledger already shows it (the in-memory ledger answers
    synchronously: the journaled submitter's envelope recovery is tested on the real network).
    ``sent`` counts the transactions each action sent."""

    def __init__(self, ledger: LedgerClient) -> None:
        self.ledger = ledger
        self.sent: Counter[str] = Counter()

    def submit_once(self, action: str, call: Call, is_done: Callable[[], bool]) -> Outcome:
        if is_done():
            return Outcome(None, None, None)
        try:
            res = self.ledger.submit(call)
        except EndorseError as exc:
            if exc.chaincode_status == 409 and is_done():
                return Outcome(None, None, None)
            raise
        self.sent[action] += 1
        return Outcome(res.tx_id, res.block_number, res.json())

    def recover(self) -> list[tuple[str, str]]:
        return []  # nothing is ever in flight: the in-memory ledger answers at once


class InMemoryAgents:
    """Three demo hospitals' workers, registered with their real share keys, funded and staked."""

    def __init__(self, tmp: Path, cons: Consortium | None = None) -> None:
        self.cons = cons or Consortium()
        self.data = demo_split.build(tmp / "data")
        self.schema = Schema.load(self.data.schema_path)
        self.blobs = MemoryBlobStore()
        self.workers: dict[str, HospitalWorker] = {}
        self.submitters: dict[str, MemorySubmitter] = {}
        for msp in self.cons.hospitals:
            name = msp.removesuffix("MSP")
            cfg = AgentConfig(org=name, msp_id=msp, gateway_address="memory", tls_ca=tmp / "none",
                              msp_dir=tmp / "none", ipfs_api="memory", keys_dir=tmp / name / "keys",
                              state_dir=tmp / name / "state", schema=self.data.schema_path,
                              train=self.data.train_paths[name], validation=self.data.validation_paths[name],
                              consent="none")  # fmt: skip
            network = MemoryNetwork(self.cons.ledger, self.cons.router, self.cons.agents[msp], self._clock)
            ledger = LedgerClient(network, cfg.chaincode)  # type: ignore[arg-type]
            self.submitters[msp] = MemorySubmitter(ledger)
            journal = Journal(cfg.journal_path)
            self.workers[msp] = HospitalWorker(cfg, ledger, self.submitters[msp], self.blobs, journal)
            self.cons.ok(self.cons.admins[msp], "Registry:Register", {
                "msp_id": msp, "display_name": name, "contact": f"it@{name.lower()}.org",
                "share_key": public_b64(self.workers[msp].hospital.share_key)})  # fmt: skip
        self.cons.fund_all()
        self.cons.stake_all()

    def _clock(self) -> int:
        self.cons.tick(0.01)
        return self.cons.now_ms

    def study(self, study_id: str, **over: Any) -> dict[str, Any]:
        """An active study of the demo's model on the demo's data, its initial model published
        (by the first hospital) for every hospital, every hospital enrolled."""
        first = self.workers[self.cons.hospitals[0]].hospital
        weights = get_weights(LOGREG_30.build(seed=0))
        model = publish_model(first, weights, f"{study_id}/initial", share_keys(first.registry, list(self.workers)))
        return self.cons.active_study(study_id, model=LOGREG_30.name, model_spec_hash=LOGREG_30.hash,
                                      data_schema_hash=self.schema.hash, model_cid=model["cid"],
                                      model_hash=model["hash"], **over)  # fmt: skip

    def run(self, study_id: str, max_turns: int = 400) -> Counter[tuple[str, str, int, str]]:
        """Agents wake in turn, as ledger events would wake them, and each performs its first
        planned duty with its real worker, until every agent's plan says the study is finished.
        Returns how often each (hospital, duty kind, round, state an advance left) was performed."""
        done: Counter[tuple[str, str, int, str]] = Counter()
        finished: set[str] = set()
        for _ in range(max_turns):
            progressed = False
            for me, worker in self.workers.items():
                study, rnd = worker.current(study_id)
                p = plan(me, study, rnd, self.cons.now_ms)
                worker.anticipate(study, rnd)  # as the runner does after each look at the ledger
                if p.finished:
                    finished.add(me)
                if p.duties:
                    duty = p.duties[0]
                    worker.perform(duty, study, rnd)
                    done[(me, duty.kind, duty.round, rnd["state"] if duty.kind == "advance" and rnd else "")] += 1
                    progressed = True
            if not progressed:
                break
        assert finished == set(self.workers), f"unfinished: {set(self.workers) - finished}"
        return done
