"""Audited rounds on the in-memory ledger with real Groth16 proofs (``fedledger-zk`` under
one-party test keys for a small circuit): honest participants pass, every kind of cheating is
caught and slashed, incomplete or malformed submissions change nothing."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.data.schema import Records
from agent.models import ModelSpec, get_weights
from agent.training import train_round
from agent.zk import binary
from agent.zk import participant as zkp
from chaincode.contracts import zk_audit
from chaincode.contracts.studies import PROPOSE, check_params
from chaincode.runtime.errors import InvalidArgument
from tests.unit.consortium_sim import Consortium, cid, h, study_params
from tests.unit.zk_sim import (
    CHEATS,
    CIRCUIT,
    CLIP_PPM,
    EXPECTED_BATCH,
    LR_PPM,
    Keys,
    Participant,
    cheating_proofs,
    commitment_of,
    dev_keys,
    initial_weights,
    prepare_cheater,
)

SID = "bc-screening"
STEPS = 8
CEREMONY = {"phase1": [h("p1")], "phase2": [h("p2")], "contributors": ["HospitalAMSP"], "beacon1": "01",
            "beacon2": "02"}  # fmt: skip


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return dev_keys(tmp_path_factory.mktemp("zk-keys"))


def audited(keys: Keys, **over: Any) -> Consortium:
    cons = Consortium()
    cons.register_all()
    cons.fund_all()
    cons.stake_all()
    cons.ok(cons.admins["HospitalAMSP"], "Zk:RegisterKey", {"circuit": CIRCUIT, "vk": keys.vk_b64,
                                                            "ceremony": CEREMONY})  # fmt: skip
    cons.active_study(audit_rate_ppm=250_000, local_steps=STEPS, zk_circuit=CIRCUIT, zk_vk_hash=keys.vk_hash,
                      model_commitment=commitment_of(initial_weights()), learning_rate_ppm=LR_PPM, clip_ppm=CLIP_PPM,
                      expected_batch=EXPECTED_BATCH, **over)  # fmt: skip
    return cons


def to_prove(cons: Consortium, seeds: dict[str, int] | None = None) -> tuple[dict[str, Any], dict[str, Participant]]:
    """Open round 0, every participant trains honestly and commits; the round reaches PROVE."""
    rnd = cons.ok(cons.agents["HospitalAMSP"], "Round:Open", {"study_id": SID})
    people = {}
    for k, m in enumerate(rnd["participants"]):
        people[m] = Participant(m, SID, rnd["round"], STEPS, seed=(seeds or {}).get(m, 10 + k))
        people[m].train(initial_weights())
        assert cons.commit(m, SID, rnd["round"], **people[m].commit_args()).ok
    early = cons.ok(cons.regulator, "Round:Get", {"study_id": SID, "round": rnd["round"]})["challenge"]
    rnd = cons.ok(cons.agents["HospitalAMSP"], "Round:Advance", {"study_id": SID, "round": rnd["round"]})
    assert rnd["state"] == "PROVE" and all(len(a) == 2 for a in rnd["audits"].values()), rnd["audits"]
    # what agents start proving from before the Advance is what the Advance records
    assert early == {"challenge_seed": rnd["challenge_seed"], "audits": rnd["audits"]}
    return rnd, people


def submit(cons: Consortium, m: str, args: dict[str, Any]):
    return cons.call(cons.agents[m], "Round:SubmitProof", {"study_id": SID, "round": 0, **args})


def unchanged(cons: Consortium, result, status: int, fragment: str, before: dict) -> None:
    assert result.status == status, (result.status, result.message)
    assert fragment in result.message, result.message
    assert cons.ledger.state == before


def test_honest_proofs_verify_and_the_round_goes_on(keys: Keys) -> None:
    cons = audited(keys)
    rnd, people = to_prove(cons)
    calls = []
    for m, p in people.items():
        args = p.proof_args(rnd["audits"][m], keys)
        assert {len(base64.b64decode(x["proof"])) for x in args["proofs"]} == {zk_audit.PROOF_BYTES}
        calls.append((cons.agents[m], "Round:SubmitProof", {"study_id": SID, "round": 0, **args}))
    # a verified proof writes only its own record: the proofs of a round commit in one block
    for res in cons.block(calls):
        assert res.validation == "VALID" and res.json()["status"] == "verified", (res.status, res.message)
    rnd = cons.ok(cons.agents["HospitalAMSP"], "Round:Advance", {"study_id": SID, "round": 0})
    assert rnd["state"] == "AGGREGATE" and rnd["inclusion"] == sorted(people) and rnd["dropped"] == {}
    args = {"study_id": SID, "round": 0, "model_cid": cid("m"), "model_hash": h("m")}
    before = dict(cons.ledger.state)
    res = cons.call(cons.agents[rnd["committee"][0]], "Round:SubmitAggregate", args)
    unchanged(cons, res, 400, "needs model_commitment", before)
    for m in rnd["committee"][: rnd["threshold"]]:
        out = cons.ok(cons.agents[m], "Round:SubmitAggregate", {**args, "model_commitment": h("next")})
    assert out["state"] == "FINALIZED"
    assert cons.ok(cons.regulator, "Round:Get", {"study_id": SID, "round": 0})["aggregate"]["commitment"] == h("next")
    lineage = cons.ok(cons.regulator, "Compliance:ModelLineage", {"study_id": SID})["versions"][0]
    assert lineage["audits"] == {m: "verified" for m in people}


@pytest.mark.parametrize("cheat", CHEATS)
def test_a_cheater_is_caught_slashed_and_dropped_while_honest_ones_pass(keys: Keys, cheat: str) -> None:
    cons = audited(keys)
    rnd = cons.ok(cons.agents["HospitalAMSP"], "Round:Open", {"study_id": SID})
    honest_a, cheater, honest_c = rnd["participants"]
    people = {m: Participant(m, SID, 0, STEPS, seed=20 + k) for k, m in enumerate(rnd["participants"])}
    for m in (honest_a, honest_c):
        people[m].train(initial_weights())
    prepare_cheater(cheat, people[cheater], people[honest_a])
    for m, part in people.items():
        assert cons.commit(m, SID, 0, **part.commit_args()).ok
    rnd = cons.ok(cons.agents[honest_a], "Round:Advance", {"study_id": SID, "round": 0})
    args = cheating_proofs(cheat, people[cheater], people[honest_a], rnd["audits"][cheater], keys)
    staked = cons.ok(cons.regulator, "Token:Account", {"msp_id": cheater})["staked"]
    record = submit(cons, cheater, args).json()
    assert record["status"] == "failed", record
    assert cons.ok(cons.regulator, "Token:Account", {"msp_id": cheater})["staked"] == staked - 100
    assert cons.ok(cons.regulator, "Round:Reputation", {"msp_id": cheater})["failed_m"] > 0
    for m in (honest_a, honest_c):
        assert submit(cons, m, people[m].proof_args(rnd["audits"][m], keys)).json()["status"] == "verified"
    rnd = cons.ok(cons.agents[honest_a], "Round:Advance", {"study_id": SID, "round": 0})
    assert rnd["state"] == "AGGREGATE" and rnd["inclusion"] == sorted([honest_a, honest_c])
    assert cheater in rnd["dropped"] and "audit failed" in rnd["dropped"][cheater]


def test_incomplete_or_malformed_submissions_change_nothing(keys: Keys) -> None:
    cons = audited(keys)
    rnd, people = to_prove(cons)
    m = rnd["participants"][0]
    audits = rnd["audits"][m]
    full = people[m].proof_args(audits, keys)
    before = dict(cons.ledger.state)
    unchanged(cons, submit(cons, m, {**full, "openings": full["openings"][:1]}), 400, "missing openings", before)
    unchanged(cons, submit(cons, m, {**full, "proofs": full["proofs"][:1]}), 400, "need proofs", before)
    bad = {**full, "openings": [{**full["openings"][0], "batch": "zz"}, *full["openings"][1:]]}
    unchanged(cons, submit(cons, m, bad), 400, "invalid format", before)
    unchanged(cons, cons.call(cons.regulator, "Round:SubmitProof", {"study_id": SID, "round": 0, **full}), 403, "",
              before)  # fmt: skip
    # the verifier missing is an infrastructure fault: refused, nobody slashed
    saved = os.environ.pop("FEDLEDGER_ZK")
    try:
        res = submit(cons, m, full)
        assert res.status >= 500 and cons.ledger.state == before, (res.status, res.message)
    finally:
        os.environ["FEDLEDGER_ZK"] = saved
    assert submit(cons, m, full).json()["status"] == "verified"
    before = dict(cons.ledger.state)
    unchanged(cons, submit(cons, m, full), 409, "already submitted", before)


def test_commitments_of_an_audited_study_need_every_step(keys: Keys) -> None:
    cons = audited(keys)
    rnd = cons.ok(cons.agents["HospitalAMSP"], "Round:Open", {"study_id": SID})
    m = rnd["participants"][0]
    p = Participant(m, SID, 0, STEPS, seed=1)
    p.train(initial_weights())
    before = dict(cons.ledger.state)
    unchanged(cons, cons.commit(m, SID, 0, **{**p.commit_args(), "step_count": STEPS - 2}), 400,
              "not the study's local_steps", before)  # fmt: skip
    args = p.commit_args()
    del args["final_commitment"]
    unchanged(cons, cons.commit(m, SID, 0, **args), 400, "needs final_commitment", before)


def test_audited_round_without_proofs_drops_everyone_and_aborts(keys: Keys) -> None:
    cons = audited(keys)
    rnd, _ = to_prove(cons)
    cons.tick(601)
    rnd = cons.ok(cons.agents["HospitalAMSP"], "Round:Advance", {"study_id": SID, "round": 0})
    assert rnd["state"] == "ABORTED" and set(rnd["dropped"]) == set(rnd["participants"])
    for m in rnd["participants"]:
        acct = cons.ok(cons.regulator, "Token:Account", {"msp_id": m})
        assert acct["staked"] == 900 and acct["locked"] == 0
    assert cons.supply()["conserved"]


def test_an_audited_study_needs_a_registered_key_for_its_circuit(keys: Keys) -> None:
    cons = Consortium()
    cons.ready()
    from tests.unit.consortium_sim import study_params

    params = study_params(audit_rate_ppm=250_000, local_steps=STEPS, zk_circuit=CIRCUIT, zk_vk_hash=keys.vk_hash,
                          model_commitment=h("w0"), expected_batch=EXPECTED_BATCH)  # fmt: skip
    res = cons.call(cons.admins["HospitalAMSP"], "Study:Propose", {"study_id": "s-2", **params})
    assert res.status == 404 and "no verifying key" in res.message
    res = cons.call(cons.admins["HospitalAMSP"], "Study:Propose",
                    {"study_id": "s-3", **study_params(audit_rate_ppm=250_000)})  # fmt: skip
    assert res.status == 400 and "needs zk_circuit" in res.message


def test_an_mlp_study_trains_proves_and_verifies_through_the_agents_path(tmp_path: Path) -> None:
    """The 2-2-1 perceptron end to end on the ledger: the agent's own audited trainer (Opacus)
    and proof builder, the chaincode's public inputs and verifier (mlp-d2-h2-b4)."""
    circuit, spec = "mlp-d2-h2-b4", ModelSpec("mlp", 2, 2)
    binary.dev_setup(circuit, tmp_path / "pk", tmp_path / "vk")
    vk = base64.b64encode((tmp_path / "vk").read_bytes()).decode()
    w0 = get_weights(spec.build(seed=1))
    cons = Consortium()
    cons.register_all()
    cons.fund_all()
    cons.stake_all()
    cons.ok(cons.admins["HospitalAMSP"], "Zk:RegisterKey", {"circuit": circuit, "vk": vk, "ceremony": CEREMONY})
    cons.active_study(audit_rate_ppm=250_000, local_steps=STEPS, zk_circuit=circuit,
                      zk_vk_hash=hashlib.sha256(base64.b64decode(vk)).hexdigest(),
                      model_commitment=zkp.weights_commitment(circuit, w0), expected_batch=2)  # fmt: skip
    study = cons.ok(cons.regulator, "Study:Get", {"study_id": SID})
    rnd = cons.ok(cons.agents["HospitalAMSP"], "Round:Open", {"study_id": SID})
    rng = np.random.default_rng(5)
    saved = {}
    for k, m in enumerate(rnd["participants"]):
        x = rng.normal(0, 1, (40, 2)).astype(np.float32)
        records = Records(x, (x[:, 0] > 0).astype(np.float32), np.array([f"p{i}" for i in range(40)]))
        result = train_round(spec, w0, records, zkp.training_config(study, 0, m, epsilon=3.0), seed=k)
        saved[m] = zkp.saved_steps(result)
        assert cons.commit(m, SID, 0, step_root=result.step_root.hex(), **zkp.commit_fields(result)).ok
    rnd = cons.ok(cons.agents["HospitalAMSP"], "Round:Advance", {"study_id": SID, "round": 0})
    assert rnd["state"] == "PROVE"
    for m, steps in saved.items():
        args = zkp.proof_args(study, 0, m, steps, rnd["audits"][m], tmp_path / "pk")
        assert {len(base64.b64decode(x["proof"])) for x in args["proofs"]} == {zk_audit.PROOF_BYTES}
        record = cons.ok(cons.agents[m], "Round:SubmitProof", args)
        assert record["status"] == "verified", record
    rnd = cons.ok(cons.agents["HospitalAMSP"], "Round:Advance", {"study_id": SID, "round": 0})
    assert rnd["state"] == "AGGREGATE" and rnd["inclusion"] == sorted(saved)


@pytest.mark.parametrize(
    ("lr_ppm", "clip_ppm", "in_range"),
    [(244, 1_000_000, False), (500_000, 244, False), (245, 1_000_000, True), (500_000, 245, True),
     (4_000_000, 16_000_000, True)],
)  # fmt: skip
def test_propose_refuses_exactly_the_learning_rates_and_clipping_norms_the_circuit_cannot_take(
    keys: Keys, lr_ppm: int, clip_ppm: int, in_range: bool
) -> None:
    """Below 245 ppm a learning rate or clipping norm is 0 at the circuit's scale 2^12: the
    prover refuses every step under it, so no participant could ever pass an audit."""
    params = PROPOSE.parse({"study_id": SID, **study_params(audit_rate_ppm=250_000, local_steps=STEPS,
                            zk_circuit=CIRCUIT, zk_vk_hash=keys.vk_hash, model_commitment=h("w0"),
                            expected_batch=EXPECTED_BATCH, learning_rate_ppm=lr_ppm, clip_ppm=clip_ppm)})  # fmt: skip
    del params["study_id"]
    if in_range:
        check_params(params, registered=3)
    else:
        with pytest.raises(InvalidArgument, match="learning_rate_ppm" if lr_ppm < 245 else "clip_ppm"):
            check_params(params, registered=3)
    lr, clip, _ = zk_audit.fixed_params(params)
    p = Participant("HospitalAMSP", SID, 0, 1, seed=4)
    p.train(initial_weights())
    try:  # a step trained at other values may fail the noise bound, never the range check
        binary.prove(CIRCUIT, keys.pk, [{**p.step_input(0), "lr": lr, "clip": clip}])
        refused = ""
    except binary.ZkError as exc:
        refused = str(exc)
    assert ("out of range" in refused) is not in_range, refused


def test_key_registration_refuses_bad_input_and_changes_nothing(keys: Keys) -> None:
    cons = audited(keys)  # the key is registered once already
    admin = cons.admins["HospitalBMSP"]
    good = {"circuit": CIRCUIT, "vk": keys.vk_b64, "ceremony": CEREMONY}
    before = dict(cons.ledger.state)
    for args, status, fragment in [
        ({**good, "circuit": "logreg-d99-b32"}, 400, "D must be 1..64"),  # the pattern passes, the registry refuses
        ({**good, "circuit": "mlp-d30-h0-b32"}, 400, "H 1..32"),
        ({**good, "vk": "not base64!"}, 400, "not valid base64"),
        ({**good, "vk": base64.b64encode(b"short").decode()}, 400, "vk must be 64"),
        (good, 409, "already registered"),
    ]:
        unchanged(cons, cons.call(admin, "Zk:RegisterKey", args), status, fragment, before)
    res = cons.call(cons.agents["HospitalBMSP"], "Zk:RegisterKey", good)  # not an admin
    assert res.status == 403 and cons.ledger.state == before


def test_a_key_the_verifier_cannot_load_is_refused_before_any_study_can_pin_it(keys: Keys) -> None:
    """Under an unloadable key every proof would be a 500 and every audited participant would be
    slashed at the prove deadline: registration asks the verifier to load the key first."""
    cons = audited(keys)
    before = dict(cons.ledger.state)
    garbage = base64.b64encode(bytes(range(128))).decode()  # the right size, not a Groth16 key
    res = cons.call(cons.admins["HospitalBMSP"], "Zk:RegisterKey", {"circuit": CIRCUIT, "vk": garbage,
                                                                    "ceremony": CEREMONY})  # fmt: skip
    assert res.status == 400 and "verifier can load" in res.message, res.message
    assert cons.ledger.state == before
