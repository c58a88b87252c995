"""Ledgers in every phase of the protocol, each with the hints that make calls on it meaningful.

A hostile call is only as good as the state it meets: a ``SubmitShares`` against an empty
ledger is refused before any share is looked at. This module drives the contracts the way a
consortium does (register, mint, stake, propose, approve, enroll, open rounds, commit, publish
keys and shares, aggregate, validate, settle) and keeps a snapshot at each step, with three
studies side by side so that every resting round state is present: trusted (OPEN, AGGREGATE,
FINALIZED, settled), secure (KEYS, OPEN, AGGREGATE, FINALIZED) and audited (OPEN, PROVE,
ABORTED after a missed proof). CHALLENGE and COMMIT are never resting states (``Advance`` moves
through them in one transaction), so no snapshot holds them.

Audited phases need a verifying key the verifier can load (``fedledger-zk dev-setup``); without
one they are left out. Consent phases need a credential issuer (chaincode/hostile/vc_signer.py) and
are left out without one.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chaincode.contracts import model_names, zk_circuits
from chaincode.hostile.cases import HOSPITALS, REGULATOR, Call, Hints
from chaincode.runtime.contract import Router
from chaincode.runtime.identity import ClientIdentity
from chaincode.runtime.testing import InMemoryLedger

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
TRUSTED, SECURE, AUDITED, PROPOSED = "bc-screening", "secure-study", "audited-study", "proposed-study"
STUDIES = (TRUSTED, SECURE, AUDITED, PROPOSED)
DAY_S = 86_400
AUDITED_STEPS = 8
CEREMONY = {"phase1": ["11" * 32], "phase2": ["22" * 32], "contributors": list(HOSPITALS), "beacon1": "ab",
            "beacon2": "cd"}  # fmt: skip


class ConsentIssuer(Protocol):
    """Makes signed consent credentials and revocations (a test signer; ACA-Py in production)."""

    def credential(self, grantee: str) -> bytes: ...

    def revocation(self, consent_id: str) -> bytes: ...


@dataclass(frozen=True)
class VerifyingKey:
    circuit: str
    vk_b64: str

    @property
    def vk_hash(self) -> str:
        return hashlib.sha256(base64.b64decode(self.vk_b64)).hexdigest()


@dataclass
class Phase:
    """A ledger in one protocol phase, its clock, and what makes sense to call on it."""

    name: str
    ledger: InMemoryLedger
    now_ms: int
    hints: Hints
    states: dict[str, str] = field(default_factory=dict)  # study -> state of its current round


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def cid(text: str) -> str:
    """A syntactically valid CIDv1 (base32) derived from ``text``."""
    return "bafkrei" + base64.b32encode(hashlib.sha256(text.encode()).digest()).decode().lower().rstrip("=")[:52]


def copy_ledger(ledger: InMemoryLedger) -> InMemoryLedger:
    """An independent copy (values are immutable bytes; history lists are copied)."""
    return InMemoryLedger(state=dict(ledger.state), history={k: list(v) for k, v in ledger.history.items()},
                          events=list(ledger.events), channel_id=ledger.channel_id)  # fmt: skip


def study_params(**over: Any) -> dict[str, Any]:
    params = {
        "title": "Breast cancer screening", "model": "logreg-d30-c2", "model_spec_hash": h("spec"),
        "model_cid": cid("model-0"), "model_hash": h("model-0"), "data_schema_hash": h("schema"),
        "epsilon_budget_micro": 3_000_000, "delta_e12": 10_000_000, "rounds": 5, "local_steps": AUDITED_STEPS,
        "audit_rate_ppm": 0,
        "committee_size": 3, "committee_threshold": 2, "participants_per_round": 3, "min_participants": 2,
        "min_stake": 100, "reward_pool": 5000, "reward_per_round": 1000, "missing_slash": 50, "cheat_slash": 100,
        "commit_window_s": DAY_S, "prove_window_s": DAY_S, "aggregate_window_s": DAY_S, "validation_window_s": DAY_S,
    }  # fmt: skip
    params.update(over)
    return params


def _share(participant: str, member: str, which: str) -> bytes:
    return (hashlib.sha256(f"{participant}|{member}|{which}".encode()).digest() * 3)[:68]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


class _Driver:
    """Drives the contracts the way a consortium does, refusing to go on if a step is refused."""

    def __init__(self, router: Router, ids: Mapping[str, ClientIdentity], hospitals: Sequence[str],
                 verifying_key: VerifyingKey | None = None) -> None:  # fmt: skip
        self.router, self.ids, self.hospitals = router, ids, tuple(hospitals)
        self.verifying_key = verifying_key
        self.ledger = InMemoryLedger()
        self.now = T0
        self.calls: dict[str, list[Call]] = {}
        self.seen: dict[str, list[Any]] = {}  # every argument value of every expected call so far

    def ok(self, role: str, function: str, args: dict[str, Any], transient: dict[str, bytes] | None = None) -> Any:
        self.now += 10
        res = self.ledger.invoke(self.router, self.ids[role], function, args, timestamp_ms=self.now,
                                 transient=transient)  # fmt: skip
        if not res.ok:
            raise RuntimeError(f"building the ledger: {function} by {role} refused: {res.status} {res.message}")
        return res.json()

    def get_round(self, study: str, n: int) -> dict[str, Any]:
        return self.ok(REGULATOR, "Round:Get", {"study_id": study, "round": n})

    def snapshot(self, name: str, rounds: Mapping[str, int], extra: Hints | None = None) -> Phase:
        states = {s: self.get_round(s, n)["state"] for s, n in rounds.items()}
        hints = _base_hints(self.hospitals, rounds, self.verifying_key)
        for field_name, values in self.seen.items():
            hints.fields.setdefault(field_name, []).extend(values)
        hints.calls = {k: list(v) for k, v in self.calls.items()}
        if extra:
            for k, v in extra.fields.items():
                hints.fields.setdefault(k, []).extend(v)
            for k, calls in extra.calls.items():
                hints.calls.setdefault(k, []).extend(calls)
        return Phase(name, copy_ledger(self.ledger), self.now, hints, states)

    def expect(self, calls: dict[str, list[Call]]) -> None:
        """The protocol's next legitimate steps from here (hints for the next snapshot). Their
        argument values stay hints for later phases too: a well-formed ``commitments`` or
        ``openings`` lets a call get past validation even where the protocol does not expect it."""
        self.calls = calls
        for call_list in calls.values():
            for call in call_list:
                for name, value in call.args.items():
                    known = self.seen.setdefault(name, [])
                    if value not in known and len(known) < 12:
                        known.append(value)


def _base_hints(hospitals: Sequence[str], rounds: Mapping[str, int], verifying_key: VerifyingKey | None) -> Hints:
    return Hints(fields={
        "study_id": list(STUDIES),
        "msp_id": [*hospitals, "RegulatorMSP"],
        "to": list(hospitals),
        "grantee": list(hospitals),
        "round": sorted(set(rounds.values()) | {0}),
        "mint_id": ["pending-mint", "fresh-mint"],
        "purpose": [TRUSTED],
        "ceremony": [CEREMONY],
        "circuit": [verifying_key.circuit] if verifying_key else [],
        "vk": [verifying_key.vk_b64] if verifying_key else [],
        "vk_hash": [verifying_key.vk_hash] if verifying_key else [],
        "share_cids": [[cid("share-1"), cid("share-2")]],
        "excluded": [[]],
        "complaints": [[]],
    })  # fmt: skip


def _registry_call(m: str) -> Call:
    entry = {"msp_id": m, "display_name": m, "share_key": _b64(m.encode().ljust(32, b"k")),
             "contact": f"it@{m.lower()}.org"}  # fmt: skip
    return Call(entry, f"{m}/admin")


def _commit_call(m: str, study: str, n: int, audited: bool = False) -> Call:
    args: dict[str, Any] = {"study_id": study, "round": n, "update_hash": h(f"update-{study}-{m}-{n}"),
                            "step_root": h(f"root-{study}-{m}-{n}"), "sample_bucket": 7, "epsilon_micro": 1_000_000,
                            "share_cids": [cid(f"share-{m}-{n}")], "consented_records": 150}  # fmt: skip
    if audited:
        args.update(step_count=AUDITED_STEPS, final_commitment=h(f"final-{m}-{n}"), noise_multiplier_micro=1_000_000)
    return Call(args, f"{m}/client")


def _keys_call(m: str, study: str, n: int, committee: list[str]) -> Call:
    return Call({
        "study_id": study, "round": n, "round_public": _b64(hashlib.sha256(m.encode()).digest()),
        "bundle_cid": cid(f"bundle-{m}-{n}"), "bundle_hash": h(f"bundle-{m}-{n}"),
        "commitments": {"seed": h(f"seed-{m}"), "key": h(f"key-{m}")},
        "share_hashes": {c: {w: hashlib.sha256(_share(m, c, w)).hexdigest() for w in ("seed", "key")}
                         for c in committee},
    }, f"{m}/client")  # fmt: skip


def _shares_call(member: str, study: str, n: int, reveal: dict[str, list[str]]) -> Call:
    shares = {p: _b64(_share(p, member, which)) for which in ("seed", "key") for p in reveal[which]}
    return Call({"study_id": study, "round": n, "shares": shares, "complaints": []}, f"{member}/client")


def _aggregate_call(m: str, study: str, n: int, audited: bool = False) -> Call:
    args = {"study_id": study, "round": n, "model_cid": cid(f"model-{study}-{m}-{n}"), "model_hash": h(f"agg-{n}")}
    if audited:
        args["model_commitment"] = h(f"agg-commitment-{n}")
    return Call(args, f"{m}/client")


def _proof_call(m: str, study: str, n: int, audits: list[int]) -> Call:
    leaves = sorted({i for a in audits for i in (a, a + 1) if i < AUDITED_STEPS})
    openings = [{"index": i, "w_before": h(f"w{i}"), "batch": h(f"b{i}"), "w_after": h(f"w{i + 1}"),
                 "path": [["left", h(f"p{i}")], ["right", h(f"q{i}")]]} for i in leaves]  # fmt: skip
    proofs = [{"index": a, "proof": _b64(hashlib.sha256(f"proof-{a}".encode()).digest() * 4)} for a in audits]
    return Call({"study_id": study, "round": n, "openings": openings, "proofs": proofs}, f"{m}/client")


def _validation_call(m: str, study: str, n: int) -> Call:
    return Call({"study_id": study, "round": n, "metric_ppm": 920_000, "previous_metric_ppm": 900_000}, f"{m}/client")


def _ref(study: str, n: int, role: str) -> Call:
    return Call({"study_id": study, "round": n}, role)


def served_router() -> Router:
    """A router over every contract any chaincode service serves: the governance contracts and
    the ones test and benchmark networks add (FEDLEDGER_TEST_CONTRACTS=1)."""
    from chaincode.contracts import all_contracts
    from chaincode.contracts.diagnostics import DiagnosticsContract
    from chaincode.contracts.loadtest import LoadTestContract

    contracts = list(all_contracts())
    names = {c.name for c in contracts}
    contracts += [c for c in (LoadTestContract(), DiagnosticsContract()) if c.name not in names]
    return Router(contracts)


def build_phases(router: Router, ids: Mapping[str, ClientIdentity], hospitals: Sequence[str] = HOSPITALS,
                 verifying_key: VerifyingKey | None = None,
                 consent: ConsentIssuer | None = None) -> list[Phase]:  # fmt: skip
    """Snapshots from an empty ledger to rounds finalized and settled (see the module docstring)."""
    d = _Driver(router, ids, hospitals, verifying_key)
    a, b = hospitals[0], hospitals[1]
    admin, agent = (lambda m: f"{m}/admin"), (lambda m: f"{m}/client")
    phases = []
    d.expect({"Registry:Register": [_registry_call(m) for m in hospitals]})
    phases.append(d.snapshot("empty", {}))

    for m in hospitals:
        d.ok(admin(m), "Registry:Register", dict(_registry_call(m).args))
    for m in hospitals:
        d.ok(admin(a), "Token:ProposeMint", {"mint_id": f"init-{m.lower()}", "to": m, "amount": 100_000})
        d.ok(admin(b), "Token:ApproveMint", {"mint_id": f"init-{m.lower()}"})
        d.ok(admin(m), "Token:Stake", {"amount": 2_000})
    d.ok(admin(a), "Token:ProposeMint", {"mint_id": "pending-mint", "to": b, "amount": 500})
    if verifying_key:
        d.ok(admin(a), "Zk:RegisterKey", {"circuit": verifying_key.circuit, "vk": verifying_key.vk_b64,
                                          "ceremony": CEREMONY})  # fmt: skip
    d.expect({
        "Registry:Update": [_registry_call(m) for m in hospitals],
        "Token:ApproveMint": [Call({"mint_id": "pending-mint"}, admin(m)) for m in hospitals[1:]],
        "Token:ProposeMint": [Call({"mint_id": "fresh-mint", "to": m, "amount": 10}, admin(a)) for m in hospitals],
        "Token:Stake": [Call({"amount": 10}, admin(m)) for m in hospitals],
        "Token:Unstake": [Call({"amount": 10}, admin(m)) for m in hospitals],
        "Token:Transfer": [Call({"to": b, "amount": 10}, admin(a))],
        "Study:Propose": [Call({"study_id": "new-study", **study_params()}, admin(m)) for m in hospitals],
    })  # fmt: skip
    registered = d.snapshot("registered", {})
    phases.append(registered)
    if consent is not None:
        phases.append(_consent_phase(router, ids, hospitals, registered, consent))

    d.ok(admin(b), "Study:Propose", {"study_id": PROPOSED, **study_params()})
    specs = {TRUSTED: {}, SECURE: {"aggregation": "secure", "keys_window_s": DAY_S}}
    if verifying_key:
        model = model_names.proved_by(zk_circuits.parse(verifying_key.circuit)).name
        specs[AUDITED] = {"audit_rate_ppm": 250_000, "model": model, "zk_circuit": verifying_key.circuit,
                          "zk_vk_hash": verifying_key.vk_hash, "model_commitment": h("commitment-0"),
                          "expected_batch": 2, "prove_window_s": 1}  # fmt: skip
    for study, over in specs.items():
        d.ok(admin(a), "Study:Propose", {"study_id": study, **study_params(**over)})
        d.ok(admin(b), "Study:Approve", {"study_id": study})
        for m in hospitals:
            d.ok(admin(m), "Study:Enroll", {"study_id": study})
    d.expect({
        "Study:Approve": [Call({"study_id": PROPOSED}, admin(m)) for m in hospitals if m != b],
        "Study:Withdraw": [Call({"study_id": TRUSTED}, admin(m)) for m in hospitals],
        "Round:Open": [Call({"study_id": s}, agent(m)) for s in specs for m in hospitals],
    })  # fmt: skip
    phases.append(d.snapshot("studies-active", {}))

    rounds = {s: 0 for s in specs}
    opened = {s: d.ok(agent(a), "Round:Open", {"study_id": s}) for s in specs}
    d.expect({
        "Round:Commit": [_commit_call(m, s, 0, s == AUDITED) for s in (TRUSTED, AUDITED) if s in specs
                         for m in opened[s]["participants"]],
        "Round:PublishKeys": [_keys_call(m, SECURE, 0, opened[SECURE]["committee"])
                              for m in opened[SECURE]["participants"]],
        "Round:Advance": [_ref(s, 0, agent(a)) for s in specs],
    })  # fmt: skip
    phases.append(d.snapshot("rounds-open", rounds))

    for s in (TRUSTED, AUDITED):
        if s in specs:
            for m in opened[s]["participants"]:
                d.ok(agent(m), "Round:Commit", dict(_commit_call(m, s, 0, s == AUDITED).args))
    for m in opened[SECURE]["participants"]:
        d.ok(agent(m), "Round:PublishKeys", dict(_keys_call(m, SECURE, 0, opened[SECURE]["committee"]).args))
    now = {s: d.ok(agent(a), "Round:Advance", {"study_id": s, "round": 0}) for s in specs}
    expected: dict[str, list[Call]] = {
        "Round:SubmitAggregate": [_aggregate_call(m, TRUSTED, 0) for m in now[TRUSTED]["committee"]],
        "Round:Commit": [_commit_call(m, SECURE, 0) for m in now[SECURE]["masking_set"]],
        "Round:Advance": [_ref(s, 0, agent(a)) for s in specs],
    }
    if AUDITED in specs:
        expected["Round:SubmitProof"] = [_proof_call(m, AUDITED, 0, audits)
                                         for m, audits in now[AUDITED]["audits"].items()]  # fmt: skip
    d.expect(expected)
    phases.append(d.snapshot("rounds-committed", rounds))

    for m in now[TRUSTED]["committee"][: now[TRUSTED]["threshold"]]:
        d.ok(agent(m), "Round:SubmitAggregate", dict(_aggregate_call(m, TRUSTED, 0).args))
    for m in now[SECURE]["masking_set"]:
        d.ok(agent(m), "Round:Commit", dict(_commit_call(m, SECURE, 0).args))
    secure = d.ok(agent(a), "Round:Advance", {"study_id": SECURE, "round": 0})
    if AUDITED in specs:
        d.now += 2_000  # past the audited study's one-second prove window: missing proofs fail
        d.ok(agent(a), "Round:Advance", {"study_id": AUDITED, "round": 0})
    d.expect({
        "Round:ReportValidation": [_validation_call(m, TRUSTED, 0) for m in hospitals],
        "Round:SubmitShares": [_shares_call(m, SECURE, 0, secure["reveal"]) for m in secure["committee"]],
        "Round:Settle": [_ref(TRUSTED, 0, agent(m)) for m in hospitals],
        "Round:Open": [Call({"study_id": AUDITED}, agent(m)) for m in hospitals],
    })  # fmt: skip
    phases.append(d.snapshot("rounds-aggregating", rounds))

    for m in hospitals:
        d.ok(agent(m), "Round:ReportValidation", dict(_validation_call(m, TRUSTED, 0).args))
    d.ok(agent(a), "Round:Settle", {"study_id": TRUSTED, "round": 0})
    d.ok(agent(a), "Round:Open", {"study_id": TRUSTED})
    members = secure["committee"][: secure["threshold"]]
    for m in members:
        d.ok(agent(m), "Round:SubmitShares", dict(_shares_call(m, SECURE, 0, secure["reveal"]).args))
    for m in members:
        d.ok(agent(m), "Round:SubmitAggregate", dict(_aggregate_call(m, SECURE, 0).args))
    d.expect({
        "Round:ReportValidation": [_validation_call(m, SECURE, 0) for m in hospitals],
        "Round:Settle": [_ref(SECURE, 0, agent(m)) for m in hospitals],
        "Round:Commit": [_commit_call(m, TRUSTED, 1) for m in hospitals],
        "Study:Withdraw": [Call({"study_id": s}, admin(m)) for s in specs for m in hospitals],
    })  # fmt: skip
    phases.append(d.snapshot("rounds-finalized", {TRUSTED: 1, SECURE: 0, **({AUDITED: 0} if AUDITED in specs else {})}))
    return phases


def _consent_phase(router: Router, ids: Mapping[str, ClientIdentity], hospitals: Sequence[str], registered: Phase,
                   issuer: ConsentIssuer) -> Phase:  # fmt: skip
    """Registered hospitals holding one registered consent each (Revoke, Erase, Get reach records)."""
    d = _Driver(router, ids, hospitals)
    d.ledger, d.now = copy_ledger(registered.ledger), registered.now_ms
    consent_ids = []
    for m in hospitals:
        record = d.ok(f"{m}/client", "Consent:Register", {}, {"credential": issuer.credential(m)})
        consent_ids.append(record["consent_id"])
    d.expect({
        "Consent:Register": [Call({}, f"{m}/client", {"credential": issuer.credential(m)}) for m in hospitals],
        "Consent:Revoke": [Call({"consent_id": c}, f"{m}/client", {"revocation": issuer.revocation(c)})
                           for m, c in zip(hospitals, consent_ids, strict=True)],
        "Consent:Erase": [Call({"consent_id": c}, f"{m}/admin") for m, c in zip(hospitals, consent_ids, strict=True)],
    })  # fmt: skip
    return d.snapshot("consents", {}, Hints(fields={"consent_id": consent_ids}))
