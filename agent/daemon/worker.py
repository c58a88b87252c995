"""Carries out one hospital's duties (agent/daemon/duties.py) against the ledger and IPFS.

Each duty ends in one ledger action sent through the journaled submitter, so it happens once
however often the agent restarts. Expensive local work is journaled too: a trained update is
stored with its commitment before anything is sent, and never recomputed (retraining would
spend privacy budget twice); an aggregate is stored before it is published on the ledger.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from agent import privacy
from agent.consent.gate import SubjectIndex, cohort_digest, consented, read_links, snapshot
from agent.daemon.config import AgentConfig, ConfigError
from agent.daemon.duties import Duty
from agent.daemon.journal import Journal
from agent.daemon.submitter import JournaledSubmitter, Outcome
from agent.data.schema import Records, Schema, load_records
from agent.federation import Hospital, fetch_model
from agent.keys import load_or_create_x25519, public_b64
from agent.models import ModelSpec
from agent.privacy import Release
from agent.rounds import RoundMode
from agent.rounds.commit import commit_args
from agent.rounds.secure import MaskedCache, SecureMode, committee_shares, publish_keys
from agent.rounds.trusted import TrustedMode
from agent.secagg import binding
from agent.secagg.protocol import RoundSecrets, context
from agent.storage.vault import KeyStore, Vault
from agent.study_fit import Fit, hospital_fit, model_fit
from agent.training import RoundResult, StepPlan, evaluate, train_round
from agent.zk import participant as zkp
from agent.zk.circuit_grid import quantize
from chaincode.contracts import binding as rules
from clients.fabric import Gateway
from clients.kubo import BlobStore, IPFSClient
from clients.ledger import Call, LedgerClient
from clients.ledger.calls import Consent, Registry, Round, Study

log = logging.getLogger("fedledger.agent")
# Opacus calibrates noise to a target epsilon within a small tolerance; aim a little below
# what is left so that the accountant's figure never exceeds the on-chain budget.
EPSILON_MARGIN = 0.01


@dataclass(frozen=True)
class Trained:
    """A round's local training before it is masked or stored: the result, the model it
    started from, the consented cohort's digest and how long fetching and training took."""

    result: RoundResult
    weights_in: np.ndarray
    cohort: dict[str, str]
    ipfs_s: float
    train_s: float


class StudyMismatch(RuntimeError):
    """The study needs a model or data schema this hospital does not have (or no consent)."""


class Submitter(Protocol):
    """Sends one ledger action at most once (agent/daemon/submitter.py on Fabric)."""

    def submit_once(self, action: str, call: Call, is_done: Callable[[], bool]) -> Outcome: ...
    def recover(self) -> list[tuple[str, str]]: ...


class HospitalWorker:
    """One hospital's duties. ``ledger``: the chaincode as this hospital's agent identity sees
    it; ``submitter`` sends each action once; ``ipfs``: the hospital's blob store.
    :meth:`connect` wires the real ones."""

    def __init__(self, cfg: AgentConfig, ledger: LedgerClient, submitter: Submitter, ipfs: BlobStore,
                 journal: Journal) -> None:  # fmt: skip
        self.cfg = cfg
        self.me = cfg.msp_id
        self.journal = journal
        self.submitter = submitter
        self.ledger = ledger
        self.links = read_links(cfg.links) if cfg.links else None
        self.subjects = SubjectIndex(ledger.contract(Consent.NAME))  # who each of our consents is about
        self.cohort: dict[str, str] = {}  # the last consented cohort's digest, sent with the commitment
        self.hospital = Hospital(self.me, ipfs, Vault(ipfs, KeyStore(cfg.artifact_keys_dir)),
                                 load_or_create_x25519(cfg.share_key_path), ledger.contract(Registry.NAME))  # fmt: skip
        self.schema = Schema.load(cfg.schema)
        self.train_records = load_records(cfg.train, self.schema)
        self.validation = load_records(cfg.validation, self.schema)
        self._masked = MaskedCache()  # a committee member's, from its shares duty to its aggregate
        # a secure round's training, started while its round key is published (and the others')
        self._trainer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trainer")
        self._training: dict[tuple[str, int], Future[Trained]] = {}
        # an audited round's step proofs, started as soon as its challenge is known (anticipate)
        self._prover = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prover")
        self._proving: dict[tuple[str, int], Future[dict[str, Any]]] = {}

    @classmethod
    def connect(cls, cfg: AgentConfig, gateway: Gateway, journal: Journal) -> HospitalWorker:
        """The worker on the hospital's Fabric gateway and Kubo node."""
        ledger = LedgerClient(gateway.network(cfg.channel), cfg.chaincode)
        return cls(cfg, ledger, JournaledSubmitter(journal, ledger), IPFSClient(cfg.ipfs_api), journal)

    # --- reading the ledger ------------------------------------------------------------------
    def check_registration(self) -> None:
        """The registry must hold this hospital with the share key this agent can decrypt with."""
        entry = self.ledger.evaluate(Registry.get(self.me))
        if entry.get("share_key") != public_b64(self.hospital.share_key):
            raise ConfigError(
                f"the registry's share key for {self.me} is not the public half of {self.cfg.share_key_path}: "
                "updates encrypted to this hospital could not be opened (re-register with `fedledger registry`)"
            )

    def study(self, study_id: str) -> dict[str, Any]:
        return self.ledger.evaluate(Study.get(study_id))

    def round(self, study_id: str, n: int) -> dict[str, Any]:
        return self.ledger.evaluate(Round.get(study_id, n))

    def current(self, study_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        study = self.study(study_id)
        n = study["current_round"]
        return study, (self.round(study_id, n) if n >= 0 else None)

    def spec_for(self, study: dict[str, Any]) -> ModelSpec:
        """The study's model, once it is known to fit this hospital's schema."""
        fit = model_fit(study["params"], self.schema)
        if not fit.ok or fit.spec is None:
            raise StudyMismatch("; ".join(fit.problems))
        return fit.spec

    def fit(self, study: dict[str, Any]) -> Fit:
        """Every reason this hospital cannot serve ``study`` (agent/study_fit.py)."""
        return hospital_fit(self.cfg, study, self.ledger.contract(Consent.NAME), self.subjects)

    # --- duties ------------------------------------------------------------------------------
    def perform(self, duty: Duty, study: dict[str, Any], rnd: dict[str, Any] | None) -> str:
        """Carry out ``duty``; returns a one-line account for the log."""
        handler = getattr(self, f"_do_{duty.kind}")
        return handler(duty, study, rnd)

    def _submit(self, duty: Duty, call: Call, is_done: Callable[[], bool], action: str | None = None) -> Outcome:
        """Send ``call`` once for ``duty`` and record the ledger time of its phase."""
        started = time.monotonic()
        outcome = self.submitter.submit_once(action or duty.action, call, is_done)
        self.journal.add_timing(duty.study_id, duty.round, duty.kind, "ledger", time.monotonic() - started)
        return outcome

    def _timed(self, study_id: str, n: int, phase: str, kind: str, started: float) -> float:
        seconds = time.monotonic() - started
        self.journal.add_timing(study_id, n, phase, kind, seconds)
        return seconds

    def _do_open(self, duty: Duty, study: dict[str, Any], rnd: dict[str, Any] | None) -> str:
        sid, n = duty.study_id, duty.round
        out = self._submit(duty, Round.open(sid), lambda: self.study(sid)["current_round"] >= n)
        return f"round {n} opened ({duty.why})" if out.tx_id else f"round {n} was already open"

    def _do_advance(self, duty: Duty, study: dict[str, Any], rnd: dict[str, Any] | None) -> str:
        assert rnd is not None
        sid, n, state = duty.study_id, duty.round, rnd["state"]
        self._submit(duty, Round.advance(sid, n), lambda: self.round(sid, n)["state"] != state,
                     action=f"{duty.action}/{state}")  # fmt: skip
        return f"round {n} advanced from {state} to {self.round(sid, n)['state']} ({duty.why})"

    def releases(self, study_id: str, before: int) -> tuple[Release, ...]:
        """This hospital's DP-SGD releases in the study's rounds before ``before`` (journaled with
        each trained update, whether or not its commitment reached the ledger)."""
        out = []
        for k in range(before):
            saved = self.journal.artifact(f"{study_id}/r{k}/update")
            if saved and saved.get("release"):
                out.append(Release.from_json(saved["release"]))
        return tuple(out)

    def _do_keys(self, duty: Duty, study: dict[str, Any], rnd: dict[str, Any] | None) -> str:
        """Secure mode: draw the round's secrets (kept in the journal until the masked update is
        committed), deal them to the committee and publish the round key."""
        assert rnd is not None
        sid, n = duty.study_id, duty.round
        name = f"{sid}/r{n}/keys"
        saved = self.journal.artifact(name)
        if saved is None:
            secrets = RoundSecrets.new()
            self.journal.put_artifact(f"{sid}/r{n}/secrets", secrets.to_json())
            t = time.monotonic()
            saved = {"args": publish_keys(self.hospital, rnd, secrets)}
            self._timed(sid, n, "keys", "ipfs", t)
            self.journal.put_artifact(name, saved)
        started = time.monotonic()
        if self.journal.artifact(f"{sid}/r{n}/update") is None and (sid, n) not in self._training:
            # train now, while the round keys are published: the commit only masks and sends
            self._training = {(sid, n): self._trainer.submit(self._train, study, rnd, "keys")}
        self.submitter.submit_once(duty.action, Round.publish_keys(saved["args"]),
                                   lambda: self.me in self.round(sid, n)["keys"])  # fmt: skip
        overlapped, trained = 0.0, ""
        training = self._training.get((sid, n))
        if training is not None:
            try:
                done = training.result()
                overlapped, trained = done.ipfs_s + done.train_s, "; trained meanwhile"
            except Exception as exc:  # noqa: BLE001 - the commit duty trains again and reports the failure
                self._training.pop((sid, n), None)
                log.warning("round %d: training ahead of the commit failed (%s); it is retried at the commit", n, exc)
        # the phase's ledger time is what it took beyond the training it overlapped
        self.journal.add_timing(sid, n, "keys", "ledger", max(0.0, time.monotonic() - started - overlapped))
        return f"round {n}: round key published, shares dealt to the committee {rnd['committee']}{trained}"

    def _train(self, study: dict[str, Any], rnd: dict[str, Any], phase: str) -> Trained:
        """The round's local training on the consented records (timed under ``phase``)."""
        sid, n = study["study_id"], rnd["round"]
        spec = self.spec_for(study)
        plan = self.plan(study, n)
        records = self.consented_records(sid, rnd)
        t = time.monotonic()
        weights_in = fetch_model(self.hospital, rnd["model_in"], spec)
        ipfs_s = self._timed(sid, n, phase, "ipfs", t)
        t = time.monotonic()
        try:
            result = train_round(spec, weights_in, records, plan)
        except privacy.BudgetExhausted as exc:  # what is left buys no round at any noise: nothing to retry
            raise StudyMismatch(f"round {n}: {exc}") from exc
        if result.audit is not None:
            result = zkp.linked(result, weights_in)
        train_s = self._timed(sid, n, phase, "training", t)
        return Trained(result, weights_in, dict(self.cohort), ipfs_s, train_s)

    def mode(self, study: dict[str, Any], rnd: dict[str, Any], bound: dict[str, Any] | None = None) -> RoundMode:
        """How this round aggregates (the round record says; agent/rounds/). ``bound``: in a
        round that binds inputs, what the participant's input is bound to (``_bind_material``)."""
        if rnd.get("aggregation") == "secure":
            summand = None
            if bound is not None:
                blinding = binding.Blinding.from_json(bound["blinding"])
                summand = lambda result: binding.bound_input(bound["w_start"], bound["w_final"],  # noqa: E731
                                                             result.sample_count, blinding)  # fmt: skip
            return SecureMode(lambda: self._round_secrets(rnd), self._masked, summand)
        # an audited update must reproduce the committed final weights exactly: never int8
        return TrustedMode("none" if study["audited"] else self.cfg.compression)

    def _round_secrets(self, rnd: dict[str, Any]) -> RoundSecrets:
        saved = self.journal.artifact(f"{rnd['study_id']}/r{rnd['round']}/secrets")
        if saved is None:
            raise StudyMismatch(f"round {rnd['round']}: this agent's round secrets are gone; it cannot mask its update")
        return RoundSecrets.from_json(saved)

    def plan(self, study: dict[str, Any], n: int) -> StepPlan:
        """The local training plan, its noise spread under Renyi DP composition over this round
        and every round left (agent/privacy.py): the audited study's fixed steps, or the agent's
        own DP-SGD."""
        p, sid = study["params"], study["study_id"]
        delta = p["delta_e12"] / 1e12
        budget = self.ledger.evaluate(Round.budget(sid, self.me))
        history = self.releases(sid, n)
        target = privacy.spendable(budget["budget_micro"] / 1e6, budget["spent_micro"] / 1e6, history, delta)
        target -= EPSILON_MARGIN
        spent = privacy.epsilon(history, delta)
        if target - spent <= 0:
            raise StudyMismatch(f"privacy budget exhausted: {spent:.3f} of {target:.3f} epsilon spent before round {n}")
        rounds_left = max(1, p["rounds"] - n)
        if study["audited"]:  # steps recorded in fixed point, to be proven when challenged
            return zkp.training_config(study, n, self.me, target, rounds_left, history)
        return self.cfg.training.dp(target, delta, p.get("prox_mu_ppm", 0) / 1e6, rounds_left, history)

    def _do_commit(self, duty: Duty, study: dict[str, Any], rnd: dict[str, Any] | None) -> str:
        assert rnd is not None
        sid, n = duty.study_id, duty.round
        name = f"{sid}/r{n}/update"
        saved = self.journal.artifact(name)
        if saved is None:
            ahead = self._training.pop((sid, n), None)
            trained = None
            if ahead is not None and ahead.exception() is None:  # (waits for it; a failure was logged)
                trained = ahead.result()
            trained = trained or self._train(study, rnd, "commit")
            result, weights_in, ipfs_s, train_s = trained.result, trained.weights_in, trained.ipfs_s, trained.train_s
            self.cohort = trained.cohort
            bound = self._bind_material(study, rnd, weights_in, result) if rnd.get("bound") else None
            t = time.monotonic()
            stored = self.mode(study, rnd, bound).store_update(self.hospital, rnd, result)
            ipfs_s += self._timed(sid, n, "commit", "ipfs", t)
            extra = {"final_commitment": bound["final_commitment"], "bind_commitment": bound["commitment"]} \
                if bound else {}  # fmt: skip
            saved = {
                "commit": {**commit_args(rnd, result, stored), **self.cohort, **extra},
                "bind": bound,
                "records": result.sample_count,
                "records_available": len(self.train_records),
                "steps": result.step_count,
                "epsilon": result.epsilon_spent,
                "noise_multiplier": result.noise_multiplier,
                "release": result.release.to_json() if result.release else None,
                "zk": zkp.saved_steps(result) if result.audit is not None else None,
                "codec": stored.codec,
                "update_bytes": stored.size,
                "train_s": train_s,
                "ipfs_s": ipfs_s,
            }
            self.journal.put_artifact(name, saved)  # before anything is sent: never retrain
            if not rnd.get("bound"):  # a bound round still needs the round key for its pair values
                self.journal.forget_artifact(f"{sid}/r{n}/secrets")  # the committee holds the shares now
        out = self._submit(duty, Round.commit(saved["commit"]), lambda: self.me in self.round(sid, n)["commitments"])
        how = "committed" if out.tx_id else "already on the ledger"
        how = "recovered from before the restart" if out.recovered else how
        return (
            f"round {n}: trained on {saved['records']} records ({saved['steps']} DP-SGD steps, epsilon "
            f"{saved['epsilon']:.2f}, {saved['train_s']:.1f}s), update {saved['codec']} on IPFS, commitment {how}"
        )

    def _bind_material(self, study: dict[str, Any], rnd: dict[str, Any], weights_in: Any,
                       result: Any) -> dict[str, Any]:  # fmt: skip
        """What a bound round's input is bound to: the round's model and the final weights on the
        circuits' grid (an audited study's: the ends of its recorded chain), the blinding and
        the commitments ``Round:Commit`` carries."""
        if result.audit is not None:
            trail = zkp.trail(result)
            w_start, w_final, final_commitment = trail.snapshots[0], trail.snapshots[-1], trail.final_commitment
        else:
            w_start = quantize(weights_in)
            w_final = quantize(weights_in + result.update)
            final_commitment = zkp.weights_commitment(study["params"]["zk_circuit"], weights_in + result.update)
        blinding = binding.Blinding.new()
        return {"w_start": w_start, "w_final": w_final, "samples": result.sample_count,
                "blinding": blinding.to_json(), "commitment": blinding.commitment(),
                "final_commitment": final_commitment}  # fmt: skip

    def _do_bind(self, duty: Duty, study: dict[str, Any], rnd: dict[str, Any] | None) -> str:
        """Bind the committed masked input: its value at the round's point with the binding
        proof, and the values of the masks shared with the other committed participants
        (journaled before sending: proving is not repeated)."""
        assert rnd is not None
        sid, n = duty.study_id, duty.round
        name = f"{sid}/r{n}/bind"
        args = self.journal.artifact(name)
        self._start_proving(study, rnd)
        if args is None:
            saved = self.journal.artifact(f"{sid}/r{n}/update")
            if saved is None or not saved.get("bind"):
                raise StudyMismatch(f"round {n}: nothing to bind (the journal lost the round's training)")
            material, p = saved["bind"], study["params"]
            z = int(rnd["bind_point"])
            pk = zkp.proving_key(self.cfg.keys_dir, p["bind_vk_hash"])
            t = time.monotonic()
            blinding = binding.Blinding.from_json(material["blinding"])
            bound_sq = rules.norm_bound(p["update_norm_micro"])
            proof = binding.prove(rules.bind_circuit(p["zk_circuit"]), pk, material["w_start"], material["w_final"],
                                  material["samples"], z, blinding, bound_sq)  # fmt: skip
            self._timed(sid, n, "bind", "proving", t)
            t = time.monotonic()
            publics = {m: rnd["keys"][m]["round_public"] for m in rnd["masking_set"]}
            peers = sorted(set(rnd["committed"]) - {self.me})
            elements = len(binding.bound_input(material["w_start"], material["w_final"], material["samples"], blinding))
            pairs = binding.pair_values(self.me, self._round_secrets(rnd).round_key, publics, peers,
                                        context(sid, n), elements, z)  # fmt: skip
            self._timed(sid, n, "bind", "pair values", t)
            args = {"study_id": sid, "round": n, "value": proof["value"], "pair_values": pairs, "proof": proof["proof"]}
            self.journal.put_artifact(name, args)
        self._submit(duty, Round.submit_binding(args), lambda: self.me in self.round(sid, n)["bindings"])
        self.journal.forget_artifact(f"{sid}/r{n}/secrets")  # bound: the round key is no longer needed
        status = self.round(sid, n)["bindings"].get(self.me, {}).get("status")
        return f"round {n}: bound the masked input to the committed update (ledger says: {status})"

    def consented_records(self, study_id: str, rnd: dict[str, Any]) -> Records:
        """The training records this round may use: those whose patient holds a consent for the
        study that is valid at the round's opening (its transaction timestamp)."""
        # re-read every round: an erasure deletes rows from the hospital's files mid-study
        self.train_records = load_records(self.cfg.train, self.schema)
        self.cohort = {}
        if self.cfg.consent == "none":
            return self.train_records
        self.links = read_links(self.cfg.links) if self.cfg.links else None
        opened_ms = rnd["transitions"][0]["ts_ms"]
        snap = snapshot(self.ledger.contract(Consent.NAME), self.me, study_id, opened_ms)
        kept = consented(self.train_records, snap, self.subjects, self.links)
        self.cohort = {"consent_digest": cohort_digest(kept, snap, self.subjects, self.links)}
        log.info("round %d: %d of %d records have a valid consent for %s at the round's start (%d consents on "
                 "the ledger are revoked, erased or outside their window)", rnd["round"], len(kept),
                 len(self.train_records), study_id, snap.invalid)  # fmt: skip
        if len(kept) == 0:
            raise StudyMismatch(f"no training record has a valid consent for {study_id}: nothing may be trained on")
        return kept

    def _do_aggregate(self, duty: Duty, study: dict[str, Any], rnd: dict[str, Any] | None, stage: int = 1) -> str:
        assert rnd is not None
        sid, n = duty.study_id, duty.round
        name = f"{sid}/r{n}/aggregate" + ("2" if stage == 2 else "")
        saved = self.journal.artifact(name)
        mode = self.mode(study, rnd)
        if saved is None:
            t = time.monotonic()
            # audited and bound studies: the next round's steps and binding start at the new model's commitment
            circuit = study["params"].get("zk_circuit") if study["audited"] or study.get("bound") else None
            done = mode.aggregate(self.hospital, rnd, self.spec_for(study), study["enrolled"], circuit)
            self._timed(sid, n, "aggregate", "aggregation", t)
            saved = {
                "model": done.model,
                "excluded": done.excluded,
                "included": len(rnd["inclusion"]) - len(done.excluded),
                "evaluations": done.evaluations,
                "pair_truths": done.pair_truths,
                "failed": done.failed,
            }
            self.journal.put_artifact(name, saved)
        for e in saved["excluded"]:
            log.warning("round %d: left %s's update out: %s", n, e["msp_id"], e["reason"])
        model = saved["model"]
        call = Round.submit_aggregate(sid, n, model.get("cid"), model.get("hash"), saved["excluded"],
                                      model.get("commitment"), saved.get("evaluations"),
                                      saved.get("pair_truths") or None)  # fmt: skip
        records = "aggregates2" if stage == 2 else "aggregates"
        self._submit(duty, call, lambda: self.me in self.round(sid, n)[records])
        if saved.get("failed"):
            log.warning("round %d: the inputs of %s are not the updates they bound; the ledger decides on the values "
                        "published", n, ", ".join(saved["failed"]))  # fmt: skip
            return f"round {n}: inputs of {', '.join(saved['failed'])} failed the binding check; values published"
        return f"round {n}: aggregated {saved['included']} updates ({mode.account()}), new model published"

    def _do_aggregate2(self, duty: Duty, study: dict[str, Any], rnd: dict[str, Any] | None) -> str:
        return self._do_aggregate(duty, study, rnd, stage=2)

    def _do_shares(self, duty: Duty, study: dict[str, Any], rnd: dict[str, Any] | None, stage: int = 1) -> str:
        """Secure mode, as a committee member: publish shares of exactly the secrets the ledger
        reveals, after checking every included masked update is there to be unmasked."""
        assert rnd is not None
        sid, n = duty.study_id, duty.round
        name = f"{sid}/r{n}/shares" + ("2" if stage == 2 else "")
        saved = self.journal.artifact(name)
        if saved is None:
            t = time.monotonic()
            spec = self.spec_for(study)
            masked = self._masked.get(self.hospital, rnd, spec) if stage == 1 else None
            saved = {"args": committee_shares(self.hospital, rnd, spec, masked, stage)}
            self._timed(sid, n, "aggregate", "shares", t)
            self.journal.put_artifact(name, saved)
        for c in saved["args"]["complaints"]:
            log.warning("round %d: share dealt by %s unusable: %s", n, c["msp_id"], c["reason"])
        records = "shares2" if stage == 2 else "shares"
        self._submit(duty, Round.submit_shares(saved["args"]), lambda: self.me in self.round(sid, n)[records])
        reveal = rnd["reveal2"] if stage == 2 else rnd["reveal"]
        whose = "whose inputs failed the binding check" if stage == 2 else "dropped"
        return (f"round {n}: shares published (seeds of {len(reveal['seed'])} included, round keys of "
                f"{len(reveal['key'])} {whose})")  # fmt: skip

    def _do_shares2(self, duty: Duty, study: dict[str, Any], rnd: dict[str, Any] | None) -> str:
        return self._do_shares(duty, study, rnd, stage=2)

    def _do_validate(self, duty: Duty, study: dict[str, Any], rnd: dict[str, Any] | None) -> str:
        assert rnd is not None
        sid, n = duty.study_id, duty.round
        spec = self.spec_for(study)
        t = time.monotonic()
        new = fetch_model(self.hospital, rnd["aggregate"], spec)
        before = fetch_model(self.hospital, rnd["model_in"], spec)
        self._timed(sid, n, "validate", "ipfs", t)
        t = time.monotonic()
        now_m, before_m = evaluate(spec, new, self.validation), evaluate(spec, before, self.validation)
        self._timed(sid, n, "validate", "evaluation", t)
        call = Round.report_validation(sid, n, round(now_m["accuracy"] * 1e6), round(before_m["accuracy"] * 1e6))
        self._submit(duty, call, lambda: self.me in self.round(sid, n)["validations"])
        return f"round {n}: validation accuracy {before_m['accuracy']:.3f} -> {now_m['accuracy']:.3f} reported"

    def _do_settle(self, duty: Duty, study: dict[str, Any], rnd: dict[str, Any] | None) -> str:
        sid, n = duty.study_id, duty.round
        self._submit(duty, Round.settle(sid, n), lambda: self.round(sid, n)["settled"])
        return f"round {n} settled: rewards {self.round(sid, n).get('rewards')}"

    def anticipate(self, study: dict[str, Any], rnd: dict[str, Any] | None) -> None:
        """Start in the background the work the ledger will ask for next. Once every commitment
        is in, ``Round:Get`` shows the round's challenge before the Advance records it: the
        audited steps are proven from then on, while the round moves to PROVE and the binding
        is sent (``_do_prove`` collects the proofs)."""
        if rnd is None:
            return
        self._forget_spent_secrets(study["study_id"], rnd)
        if rnd["state"] not in ("KEYS", "OPEN", "COMMIT", "CHALLENGE", "PROVE"):
            return
        try:
            self._start_proving(study, rnd)
        except Exception as exc:  # noqa: BLE001 - the prove duty proves again and reports the failure
            log.warning("round %d: proving ahead of the prove phase failed to start (%s)", rnd["round"], exc)

    def _forget_spent_secrets(self, sid: str, rnd: dict[str, Any]) -> None:
        """Delete round secrets nothing needs any more: those of earlier rounds, and the current
        round's once its binding is on the ledger or the round is past PROVE (the commit and bind
        duties delete them as they finish; this catches a stop in between)."""
        live = ("KEYS", "OPEN", "COMMIT", "CHALLENGE", "PROVE")
        for name in self.journal.artifact_names(f"{sid}/r"):
            head, _, kind = name.rpartition("/")
            if kind != "secrets" or not head.removeprefix(f"{sid}/r").isdigit():
                continue
            k = int(head.removeprefix(f"{sid}/r"))
            if k < rnd["round"] or (k == rnd["round"] and (rnd["state"] not in live or
                                                           self.me in rnd.get("bindings", {}))):  # fmt: skip
                self.journal.forget_artifact(name)
                log.info("round %d: round secrets deleted from the journal (no longer needed)", k)

    def _start_proving(self, study: dict[str, Any], rnd: dict[str, Any]) -> None:
        """Start proving this participant's audited steps in the background, from the round's
        recorded audits or, before the Advance records them, its early ``challenge``."""
        sid, n = study["study_id"], rnd["round"]
        audits = rnd.get("audits") or (rnd.get("challenge") or {}).get("audits") or {}
        if (sid, n) in self._proving or self.me not in audits or \
                self.journal.artifact(f"{sid}/r{n}/proof") is not None:  # fmt: skip
            return
        saved = self.journal.artifact(f"{sid}/r{n}/update")
        if saved is None or not saved.get("zk"):
            return  # _do_prove says why
        pk = zkp.proving_key(self.cfg.keys_dir, study["params"]["zk_vk_hash"])
        audits = audits[self.me]
        self._proving = {(sid, n): self._prover.submit(zkp.proof_args, study, n, self.me, saved["zk"], audits, pk)}

    def _do_prove(self, duty: Duty, study: dict[str, Any], rnd: dict[str, Any] | None) -> str:
        """Open and prove the audited steps (journaled before sending: proving is not repeated)."""
        assert rnd is not None
        sid, n = duty.study_id, duty.round
        name = f"{sid}/r{n}/proof"
        args = self.journal.artifact(name)
        audits = rnd["audits"][self.me]
        if args is None:
            ahead = self._proving.pop((sid, n), None)
            if ahead is not None:  # proven in the background while the binding was sent; what is
                t = time.monotonic()  # on the round's critical path is the wait that is left
                args = ahead.result()
            else:
                saved = self.journal.artifact(f"{sid}/r{n}/update")
                if saved is None or not saved.get("zk"):
                    raise StudyMismatch(f"round {n}: no recorded steps to prove (the journal lost the round's "
                                        "training)")  # fmt: skip
                pk = zkp.proving_key(self.cfg.keys_dir, study["params"]["zk_vk_hash"])
                t = time.monotonic()
                args = zkp.proof_args(study, n, self.me, saved["zk"], audits, pk)
            self._timed(sid, n, "prove", "proving", t)
            self.journal.put_artifact(name, args)
        self._submit(duty, Round.submit_proof(args), lambda: self.me in self.round(sid, n)["proofs"])
        status = self.round(sid, n)["proofs"].get(self.me, {}).get("status")
        return f"round {n}: proved audited steps {audits} (ledger says: {status})"
