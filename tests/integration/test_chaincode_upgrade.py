"""The chaincode upgraded on the running channel while a round is open (network/chaincode_upgrade.py):
nothing on the ledger is lost, the same gateway connections go on, the round finishes under the
new version, and the old chaincode services are gone."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from clients.ledger import Round
from network import lifecycle, process
from network.chaincode_upgrade import upgrade_chaincode
from network.consortium import LocalConsortium
from tests.integration.hospitals import NAMES, consortium, one_round_study

pytestmark = pytest.mark.integration


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_an_upgrade_mid_round_loses_nothing_and_the_round_finishes(network: LocalConsortium, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:6]
    sid = f"up-{run}"
    with consortium(network, tmp_path, f"up-{run}") as cons:
        _, model0 = cons.initial_model(f"{sid}/initial")
        cons.study(sid, one_round_study(model0, _h("schema"), "upgrade mid-study"))
        rnd = cons.tx(NAMES[0], Round.open(sid))
        stored = {m: h.ipfs.add(f"update of {m} {run}".encode()) for m, h in cons.hospitals.items()}

        def commit(msp: str) -> None:
            cons.tx(cons.name_of(msp), Round.commit({
                "study_id": sid, "round": 0, "update_hash": _h(stored[msp]), "step_root": _h(f"root-{msp}"),
                "sample_bucket": 7, "epsilon_micro": 900_000, "share_cids": [stored[msp]],
                "consented_records": 150}))  # fmt: skip

        first, *rest = rnd["participants"]
        commit(first)
        before = cons.ledger(NAMES[0]).evaluate(Round.get(sid, 0))
        old = network.state.read_manifest()["chaincode"]

        said: list[str] = []
        record = upgrade_chaincode(network, f"{old['version']}.{run}", say=said.append)
        assert record["sequence"] == old["sequence"] + 1 and record["generation"] == old.get("generation", 0) + 1
        assert any("committing" in line for line in said) and "old chaincode services are stopped" in said[-1]
        for org in network.topology.peer_orgs:
            assert lifecycle.committed_sequence(network.topology, network.state_of(org), org) == record["sequence"]
            gone = network.pid_file(org, network.topology.chaincode_service_name(org, old.get("generation", 0)))
            live = network.pid_file(org, network.topology.chaincode_service_name(org, record["generation"]))
            assert not process.alive(process.read_record(gone)) and process.alive(process.read_record(live))

        # the same connections read the same round, and the round goes on to the end
        assert cons.ledger(NAMES[0]).evaluate(Round.get(sid, 0)) == before
        for m in rest:
            commit(m)
        rnd = cons.tx(NAMES[0], Round.advance(sid, 0))
        assert rnd["state"] == "AGGREGATE"
        aggregator = rnd["committee"][0]
        model_cid = cons.hospitals[aggregator].ipfs.add(f"model {run}".encode())
        assert cons.tx(cons.name_of(aggregator), Round.submit_aggregate(sid, 0, model_cid, _h("model")))[
            "state"] == "FINALIZED"  # fmt: skip
        for n in NAMES:
            cons.tx(n, Round.report_validation(sid, 0, 910_000, 900_000))
        cons.tx(NAMES[1], Round.settle(sid, 0))
        final = cons.ledger(NAMES[0]).evaluate(Round.get(sid, 0))
        assert final["settled"] and set(final["commitments"]) == set(rnd["participants"])

        with pytest.raises(Exception, match="needs a new version"):
            upgrade_chaincode(network, record["version"], say=said.append)
