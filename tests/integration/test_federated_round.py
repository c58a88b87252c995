"""A real federated round in trusted-aggregator mode: three hospitals train with DP-SGD on
their own non-IID records, exchange encrypted updates over their Kubo daemons, commit on the
ledger, and the chaincode-selected aggregator publishes the FedAvg model."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from agent.data import demo_split
from agent.data.schema import Schema, load_records
from agent.federation import fetch_model
from agent.models import LOGREG_30
from agent.rounds.commit import commit_args
from agent.rounds.trusted import TrustedMode
from agent.storage.envelope import open_envelope
from agent.storage.vault import ArtifactError
from agent.training import DPConfig, evaluate, train_round
from clients.ledger import Round
from network.consortium import LocalConsortium
from tests.integration.hospitals import NAMES, consortium, one_round_study

pytestmark = pytest.mark.integration


def test_one_federated_round_with_dp_ipfs_and_the_ledger(network: LocalConsortium, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:6]
    study_id = f"fl-{run}"
    data = demo_split.build(tmp_path / "data")
    schema = Schema.load(data.schema_path)
    with consortium(network, tmp_path, f"fl-{run}") as cons:
        # the proposer publishes the initial model for every hospital; its hash goes on the ledger
        initial, model0 = cons.initial_model(f"{study_id}/initial")
        cons.study(study_id, one_round_study(model0, schema.hash, "DP logistic regression"))
        a = NAMES[0]
        rnd = cons.tx(a, Round.open(study_id))

        dp = DPConfig(epsilon=2.0, delta=1e-5, epochs=5)
        results = {}
        for n in NAMES:
            h = cons.hospitals[network.org(n).msp_id]
            weights_in = fetch_model(h, rnd["model_in"], LOGREG_30)
            results[h.msp_id] = train_round(LOGREG_30, weights_in, load_records(data.train_paths[n], schema), dp,
                                            seed=1)  # fmt: skip
            commit = commit_args(rnd, results[h.msp_id], TrustedMode().store_update(h, rnd, results[h.msp_id]))
            assert 0 < commit["epsilon_micro"] <= 2_000_001
            cons.tx(n, Round.commit(commit))
        rnd = cons.tx(a, Round.advance(study_id, 0))
        assert rnd["state"] == "AGGREGATE"

        aggregator = rnd["committee"][0]
        outsider = cons.hospitals[next(m for m in cons.hospitals if m != aggregator)]
        full = cons.ledger(a).evaluate(Round.get(study_id, 0))
        envelope = full["commitments"][outsider.msp_id]["share_cids"][0]
        with pytest.raises(ArtifactError, match="holds no key"):  # only the aggregator can open updates
            open_envelope(outsider.ipfs, envelope, outsider.msp_id, outsider.share_key)

        done = TrustedMode().aggregate(cons.hospitals[aggregator], full, LOGREG_30, list(cons.hospitals))
        assert done.excluded == []
        call = Round.submit_aggregate(study_id, 0, done.model["cid"], done.model["hash"])
        assert cons.tx(cons.name_of(aggregator), call)["state"] == "FINALIZED"

        # every hospital opens the new model, checks it against the ledger, validates on its own data
        ledger_round = cons.ledger(a).evaluate(Round.get(study_id, 0))
        assert ledger_round["aggregate"]["hash"] == done.model["hash"]
        for n in NAMES:
            new = fetch_model(cons.hospitals[network.org(n).msp_id], ledger_round["aggregate"], LOGREG_30)
            validation = load_records(data.validation_paths[n], schema)
            now, before = evaluate(LOGREG_30, new, validation), evaluate(LOGREG_30, initial, validation)
            cons.tx(n, Round.report_validation(study_id, 0, round(now["accuracy"] * 1e6),
                                               round(before["accuracy"] * 1e6)))  # fmt: skip
        settled = cons.tx(NAMES[1], Round.settle(study_id, 0))
        assert settled["settled"] and sum(settled["rewards"].values()) <= 300

        final = fetch_model(cons.hospitals[network.org(a).msp_id], ledger_round["aggregate"], LOGREG_30)
        test = evaluate(LOGREG_30, final, load_records(data.test_path, schema))
        assert test["accuracy"] >= 0.85, test
        expected = initial + sum(r.update * r.sample_count for r in results.values()) / sum(
            r.sample_count for r in results.values()
        )
        assert np.allclose(final, expected, atol=1e-5)
