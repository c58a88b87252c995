"""Study:Propose accepts only parameters under which rounds can complete (the rule list in
chaincode/contracts/studies.py): refusals name the fields, and every study it accepts is driven
through a round on the in-memory ledger, to settlement where no proofs are needed and, in
audited studies, to the point where each participant's proof submission must fit what
Round:SubmitProof takes.

Longer than 400 lines on purpose: the refusals and the generated proposals must run against
the same consortium builder and the same verifying keys (made once per module: each takes
seconds), so that "refused" and "accepted means completable" are judged on one ledger."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from agent.keys import public_b64
from agent.merkle import MerkleTree
from agent.models import ModelSpec
from agent.secagg.protocol import RoundSecrets, bundle_bytes, context, deal_bundle, keys_args, member_shares
from agent.zk import binary
from chaincode.contracts import model_names, zk_audit, zk_circuits
from chaincode.contracts.micro_units import SCALE
from chaincode.contracts.studies import PARAMS
from tests.unit.consortium_sim import Consortium, cid, h, study_params

SID = "s-feasible"
# small circuits, so that the test's keys take seconds to make; capacities 4 and 32
CIRCUITS = ("logreg-d2-b4", "mlp-d2-h2-b4", "logreg-d2-b32", "logreg-d13-b32")
# models any study may train; audited, none of them fits a circuit of CIRCUITS
MODELS = ("logreg-d30-c2", "logreg-d1-c2", "mlp-d2-h2-c3", "logreg-d2-c1000", "mlp-d64-h32-c2", "logreg-d65-c2",
          "cnn-8x8-f8x16-c10", "cnn-4x4-f1x1-c2",
          "mlp-d4096-h1024-c1000")  # fmt: skip
SHAPES = "binary logreg or mlp with at most 64 features (mlp: at most 32 hidden units)"
CEREMONY = {"phase1": [h("p1")], "phase2": [h("p2")], "contributors": ["HospitalAMSP"], "beacon1": "01",
            "beacon2": "02"}  # fmt: skip
NAMES = tuple(f"Hospital{c}MSP" for c in "ABCDE")


@pytest.fixture(scope="module")
def vks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A one-party test verifying key per circuit (Zk:RegisterKey loads every key it stores)."""
    out = {}
    for circuit in CIRCUITS:
        directory = tmp_path_factory.mktemp(circuit)
        binary.dev_setup(circuit, directory / "pk", directory / "vk")
        out[circuit] = base64.b64encode((directory / "vk").read_bytes()).decode()
    return out


def with_key(params: dict[str, Any], vks: dict[str, str]) -> dict[str, Any]:
    """``params`` pinning the registered key of its circuit, if it names one."""
    if not params.get("zk_circuit"):
        return params
    return {**params, "zk_vk_hash": hashlib.sha256(base64.b64decode(vks[params["zk_circuit"]])).hexdigest()}


def model_of(circuit: str) -> str:
    """The model whose steps ``circuit`` proves."""
    return model_names.proved_by(zk_circuits.parse(circuit)).name


def audited(circuit: str = "logreg-d2-b4", **over: Any) -> dict[str, Any]:
    return {"audit_rate_ppm": 250_000, "model": model_of(circuit), "zk_circuit": circuit,
            "model_commitment": h("w0"), "expected_batch": 4, **over}  # fmt: skip


@functools.cache
def _registered(hospitals: int, vks: tuple[tuple[str, str], ...]) -> Consortium:
    """Hospitals registered and the keys stored, once per consortium size (loading a key runs
    the verifier)."""
    cons = Consortium(hospitals=NAMES[:hospitals])
    cons.register_all()
    for circuit, vk in vks:
        cons.ok(cons.admins[NAMES[0]], "Zk:RegisterKey", {"circuit": circuit, "vk": vk, "ceremony": CEREMONY})
    return cons


def consortium(hospitals: int, vks: dict[str, str], min_stake: int = 100, pool: int = 3000) -> Consortium:
    """A fresh consortium of ``hospitals`` registered, funded and staked, with every key."""
    template = _registered(hospitals, tuple(sorted(vks.items())))
    cons = Consortium(hospitals=template.hospitals, now_ms=template.now_ms)  # new identities, the same orgs
    cons.ledger.state = dict(template.ledger.state)
    cons.ledger.history = {k: list(v) for k, v in template.ledger.history.items()}
    cons.fund_all(pool + 2 * min_stake + 10)
    cons.stake_all(min_stake)
    return cons


def names_a_field(message: str) -> bool:
    return any(field in message for field in PARAMS)


# --- the rules, one refusal each ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("over", "fields"),
    [
        # 65 audited steps: Round:SubmitProof takes at most 64 proofs, so nobody could prove
        (audited(local_steps=100, audit_rate_ppm=650_000), ("audit_rate_ppm", "local_steps")),
        (audited(local_steps=100_000, audit_rate_ppm=641), ("audit_rate_ppm", "local_steps")),
        # below 245 ppm the circuit's learning rate or clipping norm is 0 at scale 2^12
        (audited(learning_rate_ppm=244), ("learning_rate_ppm",)),
        (audited(clip_ppm=244), ("clip_ppm",)),
        # three registered hospitals cannot fill four places
        ({"participants_per_round": 4, "min_participants": 4}, ("min_participants",)),
        ({"committee_size": 4}, ("committee_size",)),
        ({"aggregation": "secure", "committee_size": 4, "committee_threshold": 3}, ("committee_size",)),
        # every commitment spends at least one micro-epsilon, in every round a hospital may be selected for
        ({"rounds": 3, "epsilon_budget_micro": 2}, ("epsilon_budget_micro", "rounds")),
        # a member publishes one share per masking-set participant in one call: at most 64
        ({"aggregation": "secure", "participants_per_round": 65}, ("participants_per_round",)),
        # momentum belongs to fedavgm; the step circuits prove steps without FedProx's proximal term
        ({"server_momentum_ppm": 500_000}, ("server_momentum_ppm", "fedavgm")),
        (audited(prox_mu_ppm=10_000), ("prox_mu_ppm", "audit_rate_ppm")),
    ],
)
def test_parameters_no_round_could_complete_are_refused(
    vks: dict[str, str], over: dict[str, Any], fields: tuple[str, ...]
) -> None:
    cons = consortium(3, vks)
    before = dict(cons.ledger.state)
    res = cons.call(cons.admins[NAMES[0]], "Study:Propose", {"study_id": SID, **with_key(study_params(**over), vks)})
    assert res.status == 400, (res.status, res.message)
    assert all(f in res.message for f in fields), res.message
    assert cons.ledger.state == before


@pytest.mark.parametrize(
    "over",
    [
        audited(local_steps=100, audit_rate_ppm=640_000),  # 64 audited steps
        audited(local_steps=100_000, audit_rate_ppm=640),  # 64 of the deepest tree
        audited(learning_rate_ppm=245, clip_ppm=245),
        audited(learning_rate_ppm=4_000_000, clip_ppm=16_000_000),
        {"committee_size": 3, "participants_per_round": 1000, "min_participants": 3},
        {"rounds": 3, "epsilon_budget_micro": 3},
        {"aggregation": "secure", "participants_per_round": 64},
        {
            "server_optimizer": "fedavgm",
            "server_momentum_ppm": 999_999,
            "server_lr_ppm": 10_000_000,
            "prox_mu_ppm": 100_000_000,
            "model": "cnn-8x8-f8x16-c10",
        },
    ],
)
def test_the_limits_themselves_are_accepted(vks: dict[str, str], over: dict[str, Any]) -> None:
    cons = consortium(3, vks)
    cons.ok(cons.admins[NAMES[0]], "Study:Propose", {"study_id": SID, **with_key(study_params(**over), vks)})


# --- the model: named, and audited only where a circuit proves its steps -------------------------------------
@pytest.mark.parametrize(
    "model",
    [None, "", "logreg-d30", "cnn-d30-c2", "mlp-d30-c2", "logreg-d30-h16-c2", "logreg-d30-c2 ", "LOGREG-D30-C2",
     "logreg-d0-c2", "logreg-d4097-c2", "mlp-d30-h0-c2", "mlp-d30-h1025-c2", "logreg-d30-c1", "logreg-d30-c1001",
     "logreg-d00000-c2", 30, "cnn-6x8-f8x16-c10", "cnn-8x8-f0x16-c10", "cnn-8x8-f8x16"],
)  # fmt: skip
def test_propose_refuses_a_missing_or_malformed_model(vks: dict[str, str], model: Any) -> None:
    cons = consortium(3, vks)
    before = dict(cons.ledger.state)
    params = study_params(model=model)
    if model is None:
        del params["model"]
    res = cons.call(cons.admins[NAMES[0]], "Study:Propose", {"study_id": SID, **params})
    assert res.status == 400 and re.search(r"\bmodel\b", res.message), (res.status, res.message)
    assert cons.ledger.state == before


@pytest.mark.parametrize(
    ("over", "why"),
    [
        # no circuit proves this shape: refused before asking for the circuit, key and commitment
        ({"audit_rate_ppm": 250_000, "model": "mlp-d13-h16-c3"}, "has 3 label classes, and audited studies need"),
        ({"audit_rate_ppm": 250_000, "model": "logreg-d65-c2"}, "has 65 features, more than any zk circuit takes"),
        ({"audit_rate_ppm": 250_000, "model": "mlp-d13-h33-c2"}, "has 33 hidden units, more than any zk circuit"),
        (audited(model="logreg-d65-c2"), "zk_circuit logreg-d2-b4 takes 2 features, model logreg-d65-c2 has 65"),
        # a circuit, but not for this model
        (audited(model="logreg-d2-c3"), "has 3 label classes, and audited studies need a binary label (zk_circuit "
                                        "logreg-d2-b4 proves binary models only)"),
        (audited(model="mlp-d2-h2-c2"), "zk_circuit logreg-d2-b4 proves logreg steps, not mlp"),
        (audited("mlp-d2-h2-b4", model="logreg-d2-c2"), "zk_circuit mlp-d2-h2-b4 proves mlp steps, not logreg"),
        (audited(model="logreg-d13-c2"), "zk_circuit logreg-d2-b4 takes 2 features, model logreg-d13-c2 has 13"),
        (audited("logreg-d13-b32", model="logreg-d2-c2"), "takes 13 features, model logreg-d2-c2 has 2"),
        (audited("mlp-d2-h2-b4", model="mlp-d2-h3-c2"), "mlp-d2-h2-b4 has 2 hidden units, model mlp-d2-h3-c2 has 3"),
        ({"audit_rate_ppm": 250_000, "model": "cnn-8x8-f8x16-c10"}, "is a cnn, and no zk circuit proves convolution"),
        (audited(model="cnn-4x4-f1x1-c2"), "zk_circuit logreg-d2-b4 proves logreg steps, not cnn"),
    ],
)  # fmt: skip
def test_an_audited_study_whose_model_no_circuit_proves_is_refused(
    vks: dict[str, str], over: dict[str, Any], why: str
) -> None:
    """The message says why, names the model (and the circuit, given one) and which shapes have
    circuits: the proposer learns what an audited study can train."""
    cons = consortium(3, vks)
    before = dict(cons.ledger.state)
    res = cons.call(cons.admins[NAMES[0]], "Study:Propose", {"study_id": SID, **with_key(study_params(**over), vks)})
    assert res.status == 400, (res.status, res.message)
    assert why in res.message and over["model"] in res.message and SHAPES in res.message, res.message
    assert over.get("zk_circuit", "") in res.message
    assert cons.ledger.state == before


def test_an_audited_study_of_a_shape_circuits_take_still_needs_its_circuit(vks: dict[str, str]) -> None:
    cons = consortium(3, vks)
    res = cons.call(cons.admins[NAMES[0]], "Study:Propose",
                    {"study_id": SID, **study_params(audit_rate_ppm=250_000, model="mlp-d64-h32-c2")})  # fmt: skip
    assert res.status == 400 and "needs zk_circuit, zk_vk_hash and model_commitment" in res.message, res.message


@pytest.mark.parametrize(
    "over",
    [
        audited("logreg-d13-b32", model="logreg-d13-c2", expected_batch=32),
        audited("mlp-d2-h2-b4"),
        # unaudited, any model the agent can build
        {"model": "logreg-d4096-c1000"},
        {"model": "mlp-d65-h1024-c3"},
        {"model": "logreg-d1-c2"},
    ],
)
def test_a_model_a_circuit_proves_is_accepted_audited_and_any_model_unaudited(
    vks: dict[str, str], over: dict[str, Any]
) -> None:
    cons = consortium(3, vks)
    study = cons.ok(cons.admins[NAMES[0]], "Study:Propose", {"study_id": SID, **with_key(study_params(**over), vks)})
    assert study["params"]["model"] == over["model"]
    assert study["audited"] == bool(over.get("audit_rate_ppm"))


@settings(max_examples=300, deadline=None)
@given(st.from_regex(model_names.PATTERN, fullmatch=True) | st.text(max_size=24))
def test_the_ledger_reads_a_model_name_as_the_agent_does(name: str) -> None:
    """``model_names.parse`` accepts exactly the names ``ModelSpec.parse`` accepts, as the same model."""
    try:
        spec = ModelSpec.parse(name)
    except ValueError:
        with pytest.raises(ValueError):
            model_names.parse(name)
        return
    model = model_names.parse(name)
    assert (model.kind, model.features, model.hidden, model.classes) == (spec.kind, spec.input_dim, spec.hidden,
                                                                          spec.classes)  # fmt: skip
    assert model.name == spec.name


# --- generated parameters: accepted means completable ------------------------------------------------------
def _near(value: int, lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(max(lo, value - 2), min(hi, value + 2))


def _upto(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(min(lo, hi), hi)


@st.composite
def proposals(draw: st.DrawFn, audit: bool | None = None) -> tuple[int, dict[str, Any]]:
    """A consortium size and study parameters inside the schema's ranges: each parameter
    usually what a workable study uses, sometimes at or past the limit where a rule switches.
    ``audit`` forces an audited (True) study; None draws it."""

    def pick(usual: st.SearchStrategy[int], edge: st.SearchStrategy[int]) -> int:
        return draw(edge) if draw(st.integers(0, 99)) < 8 else draw(usual)

    hospitals = pick(st.integers(2, 5), st.integers(1, 5))
    secure = draw(st.booleans())
    least = 2 if secure else 1
    size = pick(_upto(least, hospitals), st.integers(1, 32))
    per_round = pick(st.integers(1, 6), _near(64, 1, 1000) | st.integers(1, 1000))
    rounds = pick(st.integers(1, 4), st.integers(1, 1000))
    min_stake = draw(st.integers(1, 1000))
    reward = draw(st.integers(0, 1000))
    p: dict[str, Any] = {
        "committee_size": size,
        "committee_threshold": pick(_upto(least, size), st.integers(1, 32)),
        "participants_per_round": per_round,
        "min_participants": pick(_upto(least, min(per_round, hospitals)), st.integers(1, 1000)),
        "rounds": rounds,
        "epsilon_budget_micro": pick(st.integers(rounds, 100 * SCALE), _near(rounds, 1, 100 * SCALE)),
        "min_stake": min_stake,
        "missing_slash": pick(st.integers(0, min_stake), st.just(min_stake + 1)),
        "cheat_slash": pick(st.integers(0, min_stake), st.just(min_stake + 1)),
        "reward_per_round": reward,
        "reward_pool": pick(st.integers(reward * rounds, reward * rounds + 100), st.integers(0, 10**6)),
        "aggregation": "secure" if secure else "trusted",
    }
    model = "logreg-d30-c2"
    if draw(st.booleans()) if audit is None else audit:
        circuit = draw(st.sampled_from(CIRCUITS))
        model = model_of(circuit)
        # half of them at the proof submission's limits: 64 audited steps, the deepest step trees
        steps = draw(st.integers(1, 300) | st.sampled_from([63, 64, 65, 128, 65_536, 65_537, 100_000]))
        wanted = draw(st.integers(1, 6) | _near(64, 1, 100_000))  # audited steps per round, roughly
        p.update(audited(circuit), local_steps=steps,
                 audit_rate_ppm=pick(st.just(min(SCALE, -(-wanted * SCALE // steps))), st.integers(1, SCALE)),
                 learning_rate_ppm=pick(st.integers(245, 4_000_000), _near(245, 1, 4_000_000)),
                 clip_ppm=pick(st.integers(245, 16_000_000), _near(245, 1, 16_000_000)),
                 expected_batch=pick(st.integers(1, int(circuit.rsplit("-b", 1)[1])), st.integers(1, 40)))  # fmt: skip
    # the model: usually the circuit's, sometimes one no circuit here proves (any model, unaudited)
    p["model"] = pick(st.just(model), st.sampled_from(MODELS + tuple(model_of(c) for c in CIRCUITS)))
    return hospitals, study_params(**p)


@functools.lru_cache(maxsize=8)
def step_tree(steps: int) -> MerkleTree:
    return MerkleTree([i.to_bytes(8, "big") for i in range(steps)])


class Round:
    """Drives one round of an accepted study the way its agents would."""

    def __init__(self, cons: Consortium, study: dict[str, Any]) -> None:
        self.cons, self.study, self.p = cons, study, study["params"]
        self.opener = cons.agents[cons.hospitals[0]]
        self.members = {m: x25519.X25519PrivateKey.generate() for m in cons.hospitals}
        self.bundles: dict[str, Any] = {}
        self.rnd = cons.ok(self.opener, "Round:Open", {"study_id": SID})
        self.n = self.rnd["round"]

    def get(self) -> dict[str, Any]:
        return self.cons.ok(self.cons.regulator, "Round:Get", {"study_id": SID, "round": self.n})

    def advance(self) -> dict[str, Any]:
        return self.cons.ok(self.opener, "Round:Advance", {"study_id": SID, "round": self.n})

    def publish_keys(self) -> None:
        pubs = {m: public_b64(self.members[m]) for m in self.rnd["committee"]}
        for m in self.rnd["participants"]:
            bundle = deal_bundle(m, RoundSecrets.new(), pubs, self.rnd["threshold"], context(SID, self.n))
            self.bundles[m] = bundle
            raw = bundle_bytes(bundle)
            self.cons.ok(self.cons.agents[m], "Round:PublishKeys", keys_args(SID, self.n, bundle, cid(m), raw))
        assert self.advance()["state"] == "OPEN"

    def commit(self) -> None:
        extra = {}
        if self.study["audited"]:
            extra = {"step_count": self.p["local_steps"], "final_commitment": h("final"),
                     "noise_multiplier_micro": 1_000_000}  # fmt: skip
        spend = self.p["epsilon_budget_micro"] // self.p["rounds"]  # the same share in every round
        for m in self.rnd["participants"]:
            res = self.cons.commit(m, SID, self.n, epsilon_micro=spend, **extra)
            assert res.ok, (res.status, res.message)

    def submissions_fit(self, rnd: dict[str, Any]) -> None:
        """Each participant's honest SubmitProof, encoded as the agent's gateway sends it, passes
        the router's size limit and the schema: sent for a round that does not exist, it is
        refused only for that (404), never as too big or malformed (400)."""
        steps = self.p["local_steps"]
        tree = step_tree(steps)
        for m, audits in rnd["audits"].items():
            assert len(audits) == self.study["audited_steps_per_round"]
            openings = [{"index": i, "w_before": h(f"b{i}"), "batch": h(f"x{i}"), "w_after": h(f"a{i}"),
                         "path": [[side, node.hex()] for side, node in tree.proof(i)]}
                        for i in sorted(zk_audit.required_leaves(audits, steps))]  # fmt: skip
            proof = base64.b64encode(bytes(zk_audit.PROOF_BYTES)).decode()
            args = {"study_id": SID, "round": self.n + 1, "openings": openings,
                    "proofs": [{"index": i, "proof": proof} for i in audits]}  # fmt: skip
            payload = json.dumps(args, sort_keys=True).encode()  # clients/fabric/gateway.py
            res = self.cons.ledger.invoke(self.cons.router, self.cons.agents[m], "", timestamp_ms=self.cons.now_ms,
                                          raw_args=[b"Round:SubmitProof", payload])  # fmt: skip
            assert res.status == 404 and "no round" in res.message, (len(payload), res.status, res.message)

    def unmask(self) -> None:
        reveal = self.get()["reveal"]
        for m in self.rnd["committee"]:
            shares, complaints = member_shares(m, self.members[m], reveal, self.bundles, context(SID, self.n))
            assert complaints == []
            out = self.cons.ok(self.cons.agents[m], "Round:SubmitShares", {"study_id": SID, "round": self.n,
                                                                           "shares": shares})  # fmt: skip
            if out["record"]["status"] == "valid" and self.get()["unmask_ready"]:
                return
        raise AssertionError("the whole committee published its shares and the round is still not unmask-ready")

    def finish(self) -> dict[str, Any]:
        args = {"study_id": SID, "round": self.n, "model_cid": cid("model"), "model_hash": h("model")}
        for m in self.rnd["committee"][: self.rnd["threshold"]]:
            state = self.cons.ok(self.cons.agents[m], "Round:SubmitAggregate", args)["state"]
        assert state == "FINALIZED"
        for m in self.cons.hospitals:
            self.cons.ok(self.cons.agents[m], "Round:ReportValidation", {"study_id": SID, "round": self.n,
                                                                         "metric_ppm": 910_000,
                                                                         "previous_metric_ppm": 900_000})  # fmt: skip
        return self.cons.ok(self.opener, "Round:Settle", {"study_id": SID, "round": self.n})


def propose_and_run(vks: dict[str, str], hospitals: int, params: dict[str, Any]) -> None:
    """Propose; if refused, the message names a field and nothing changed; if accepted, one
    round runs: to settlement without a slash, or, audited, to PROVE with every participant's
    proof submission fitting what Round:SubmitProof takes."""
    cons = consortium(hospitals, vks, params["min_stake"], params["reward_pool"])
    before = dict(cons.ledger.state)
    res = cons.call(cons.admins[cons.hospitals[0]], "Study:Propose", {"study_id": SID, **with_key(params, vks)})
    event("refused" if not res.ok else f"accepted, {'audited' if params['audit_rate_ppm'] else 'unaudited'}, "
          f"{params['aggregation']}")  # fmt: skip
    if not res.ok:
        assert res.status == 400 and names_a_field(res.message), (res.status, res.message)
        assert cons.ledger.state == before
        return
    for m in cons.hospitals[1 : hospitals // 2 + 1]:
        cons.ok(cons.admins[m], "Study:Approve", {"study_id": SID})
    for m in cons.hospitals:
        cons.ok(cons.admins[m], "Study:Enroll", {"study_id": SID})
    study = cons.ok(cons.regulator, "Study:Get", {"study_id": SID})
    r = Round(cons, study)
    if params["aggregation"] == "secure":
        r.publish_keys()
    r.commit()
    rnd = r.advance()
    if study["audited"]:
        assert rnd["state"] == "PROVE"
        r.submissions_fit(rnd)
        event(f"{study['audited_steps_per_round']} audited steps of {params['local_steps']}")
        return  # proofs of real steps: tests/unit/test_zk_audits.py
    assert rnd["state"] == "AGGREGATE" and rnd["inclusion"] == rnd["participants"] and rnd["dropped"] == {}
    if params["aggregation"] == "secure":
        r.unmask()
    settled = r.finish()
    assert settled["settled"] and set(settled["rewards"]) == set(rnd["participants"])
    assert sum(settled["rewards"].values()) <= params["reward_per_round"]
    assert all(cons.ok(cons.regulator, "Compliance:Slashings", {"msp_id": m}) == [] for m in cons.hospitals)
    assert cons.supply()["conserved"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(proposals())
def test_every_study_propose_accepts_can_complete_a_round(vks: dict[str, str], proposal: tuple[int, Any]) -> None:
    propose_and_run(vks, *proposal)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(proposals(audit=True))
def test_every_audited_study_propose_accepts_can_take_its_proof_submissions(
    vks: dict[str, str], proposal: tuple[int, Any]
) -> None:
    propose_and_run(vks, *proposal)
