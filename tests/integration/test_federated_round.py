"""A real federated round in trusted-aggregator mode: three hospitals train with DP-SGD on
their own non-IID records, exchange encrypted updates over their Kubo daemons, commit on the
ledger, and the chaincode-selected aggregator publishes the FedAvg model."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import x25519

from agent.data import demo_split
from agent.data.schema import Schema, load_records
from agent.federation import Hospital, fetch_model, publish_model
from agent.keys import public_b64
from agent.models import LOGREG_30, get_weights
from agent.rounds.commit import commit_args
from agent.rounds.trusted import TrustedMode
from agent.storage.vault import ArtifactError, KeyStore, Vault
from agent.training import DPConfig, evaluate, train_round
from clients.fabric import GatewayError
from clients.kubo import IPFSClient
from network.consortium import LocalConsortium
from network.topology import CHAINCODE_NAME, CHANNEL

pytestmark = pytest.mark.integration
NAMES = ("HospitalA", "HospitalB", "HospitalC")


def test_one_federated_round_with_dp_ipfs_and_the_ledger(network: LocalConsortium, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:6]
    study_id = f"fl-{run}"
    data = demo_split.build(tmp_path / "data")
    schema = Schema.load(data.schema_path)
    gws = {n: (network.gateway(n, "Admin"), network.gateway(n, "User1")) for n in NAMES}

    def c(name: str, contract: str, admin: bool = False):
        return gws[name][0 if admin else 1].network(CHANNEL).contract(CHAINCODE_NAME, contract)

    def everywhere(result):
        for n in NAMES:
            gws[n][1].network(CHANNEL).wait_for_commit(result.tx_id)
        return result

    hospitals: dict[str, Hospital] = {}
    for n in NAMES:
        msp = network.org(n).msp_id
        private = x25519.X25519PrivateKey.generate()
        entry = {"msp_id": msp, "display_name": n, "share_key": public_b64(private), "contact": f"fl@{n.lower()}.org"}
        try:
            everywhere(c(n, "Registry", True).submit("Register", entry))
        except GatewayError:
            everywhere(c(n, "Registry", True).submit("Update", entry))
        ipfs = IPFSClient(network.ipfs_api(n))
        hospitals[msp] = Hospital(msp, ipfs, Vault(ipfs, KeyStore(tmp_path / n / "keys")), private, c(n, "Registry"))
    msps = list(hospitals)
    a, b = NAMES[0], NAMES[1]
    for n in NAMES:  # tokens and stake
        mint_id = f"fl-{run}-{n.lower()}"
        everywhere(c(a, "Token", True).submit("ProposeMint", {"mint_id": mint_id, "to": network.org(n).msp_id,
                                                               "amount": 1000}))  # fmt: skip
        everywhere(c(b, "Token", True).submit("ApproveMint", {"mint_id": mint_id}))
        everywhere(c(n, "Token", True).submit("Stake", {"amount": 500}))

    # the proposer publishes the initial model for every hospital; its hash goes on the ledger
    initial = get_weights(LOGREG_30.build(seed=0))
    model0 = publish_model(
        hospitals[msps[0]], initial, f"{study_id}/initial", {m: public_b64(h.share_key) for m, h in hospitals.items()}
    )
    study = {
        "study_id": study_id, "title": "DP logistic regression", "model": LOGREG_30.name,
        "model_spec_hash": LOGREG_30.hash, "model_cid": model0["cid"], "model_hash": model0["hash"],
        "data_schema_hash": schema.hash, "epsilon_budget_micro": 6_000_000, "delta_e12": 10_000_000, "rounds": 1,
        "local_steps": 100,
        "audit_rate_ppm": 0, "committee_size": 1, "committee_threshold": 1, "participants_per_round": 3,
        "min_participants": 3, "min_stake": 100, "reward_pool": 300, "reward_per_round": 300, "missing_slash": 0,
        "cheat_slash": 0, "commit_window_s": 600, "prove_window_s": 600, "aggregate_window_s": 600,
        "validation_window_s": 600,
    }  # fmt: skip
    everywhere(c(a, "Study", True).submit("Propose", study))
    everywhere(c(b, "Study", True).submit("Approve", {"study_id": study_id}))
    for n in NAMES:
        everywhere(c(n, "Study", True).submit("Enroll", {"study_id": study_id}))
    rnd = everywhere(c(a, "Round").submit("Open", {"study_id": study_id})).json()

    dp = DPConfig(epsilon=2.0, delta=1e-5, epochs=5)
    results = {}
    for n in NAMES:
        msp = network.org(n).msp_id
        weights_in = fetch_model(hospitals[msp], rnd["model_in"], LOGREG_30)
        results[msp] = train_round(LOGREG_30, weights_in, load_records(data.train_paths[n], schema), dp, seed=1)
        commit = commit_args(rnd, results[msp], TrustedMode().store_update(hospitals[msp], rnd, results[msp]))
        assert 0 < commit["epsilon_micro"] <= 2_000_001
        everywhere(c(n, "Round").submit("Commit", commit))
    rnd = everywhere(c(a, "Round").submit("Advance", {"study_id": study_id, "round": 0})).json()
    assert rnd["state"] == "AGGREGATE"

    aggregator = rnd["committee"][0]
    outsider = next(m for m in msps if m != aggregator)
    first_update = c(a, "Round").evaluate("Get", {"study_id": study_id, "round": 0})["commitments"][outsider]
    with pytest.raises(ArtifactError, match="holds no key"):  # only the aggregator can open updates
        from agent.storage.envelope import open_envelope

        open_envelope(hospitals[outsider].ipfs, first_update["share_cids"][0], outsider, hospitals[outsider].share_key)

    full = c(a, "Round").evaluate("Get", {"study_id": study_id, "round": 0})
    done = TrustedMode().aggregate(hospitals[aggregator], full, LOGREG_30, msps)
    model1 = done.model
    assert done.excluded == []
    agg_name = next(n for n in NAMES if network.org(n).msp_id == aggregator)
    finalized = everywhere(c(agg_name, "Round").submit("SubmitAggregate", {"study_id": study_id, "round": 0,
                                                                            "model_cid": model1["cid"],
                                                                            "model_hash": model1["hash"]}))  # fmt: skip
    assert finalized.json()["state"] == "FINALIZED"

    # every hospital opens the new model, checks it against the ledger, validates on its own data
    ledger_round = c(a, "Round").evaluate("Get", {"study_id": study_id, "round": 0})
    assert ledger_round["aggregate"]["hash"] == model1["hash"]
    for n in NAMES:
        msp = network.org(n).msp_id
        new = fetch_model(hospitals[msp], ledger_round["aggregate"], LOGREG_30)
        validation = load_records(data.validation_paths[n], schema)
        now, before = evaluate(LOGREG_30, new, validation), evaluate(LOGREG_30, initial, validation)
        everywhere(c(n, "Round").submit("ReportValidation", {
            "study_id": study_id, "round": 0, "metric_ppm": round(now["accuracy"] * 1e6),
            "previous_metric_ppm": round(before["accuracy"] * 1e6)}))  # fmt: skip
    settled = c(b, "Round").submit("Settle", {"study_id": study_id, "round": 0}).json()
    assert settled["settled"] and sum(settled["rewards"].values()) <= 300

    final = fetch_model(hospitals[msps[0]], ledger_round["aggregate"], LOGREG_30)
    test = evaluate(LOGREG_30, final, load_records(data.test_path, schema))
    assert test["accuracy"] >= 0.85, test
    expected = initial + sum(r.update * r.sample_count for r in results.values()) / sum(
        r.sample_count for r in results.values()
    )
    assert np.allclose(final, expected, atol=1e-5)
    for gw_pair in gws.values():
        for gw in gw_pair:
            gw.close()
