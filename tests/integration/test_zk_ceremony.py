"""The consortium's own Groth16 setup on the real network (demo/zk_setup.py): every
hospital contributes to both phases in its own process, the beacons come from the ledger, the
verifying key is registered with the ceremony's record, and the ledger verifies proofs made
with the ceremony's proving key, not proofs from any other setup (small circuit, 2^13); phase 1
is reused for another circuit of the same size, run through `fedledger zk ceremony` for a
study's model (registered, proving key in every hospital's key store)."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.zk import binary
from clients.ledger import Zk
from demo.consortium_admin import register_hospitals
from demo.zk_setup import consortium_ceremony, register, setup_power
from fedledger.cli import cli
from network.admins import Admins
from network.consortium import LocalConsortium
from tests.integration.zk_rounds import audited_round
from tests.unit import zk_sim

pytestmark = pytest.mark.integration


def test_every_hospital_contributes_and_the_ledger_verifies_under_the_ceremony_key(network: LocalConsortium,
                                                                                   tmp_path: Path) -> None:  # fmt: skip
    said: list[str] = []
    assert setup_power(zk_sim.CIRCUIT) == 13
    keys = consortium_ceremony(network, zk_sim.CIRCUIT, tmp_path / "cache", said.append)
    hospitals = [o.msp_id for o in network.topology.hospitals if o.has_peer]
    record = keys.ceremony
    assert record["contributors"] == hospitals and len(hospitals) == 3
    assert len(record["phase1"]) == len(record["phase2"]) == 3
    assert len(set(record["phase1"] + record["phase2"])) == 6  # every contribution changed the transcript
    assert sum("contributed" in line for line in said) == 6
    t = time.monotonic()
    again = consortium_ceremony(network, zk_sim.CIRCUIT, tmp_path / "cache", said.append)
    assert again == keys and time.monotonic() - t < 5  # cached per circuit and prover build
    with Admins(network) as admins:
        register_hospitals(admins)
        vk_hash = register(admins, keys)
        keys_dirs = [admins.share_key_path(n).parent for n in admins.names]
    with network.ledger("Regulator", "User1") as regulator:
        stored = regulator.evaluate(Zk.get_key(vk_hash))
    assert stored["ceremony"] == record and stored["circuit"] == zk_sim.CIRCUIT
    assert hashlib.sha256(keys.vk.read_bytes()).hexdigest() == vk_hash

    # `fedledger zk ceremony` for another circuit of size 2^13 (`--model` picks the circuit `study init` does)
    out = CliRunner().invoke(cli, ["zk", "ceremony", "--state-dir", str(network.state.root), "--circuit",
                                   "logreg-d2-b2", "--cache", str(tmp_path / "cache")])  # fmt: skip
    assert out.exit_code == 0, out.output
    said_text = " ".join(out.output.split())
    assert "phase 1 (powers of tau, 2^13) reused" in said_text and said_text.count("contributed") == 3
    other_hash = re.search(r"circuit logreg-d2-b2: verifying key ([0-9a-f]{64}) registered", said_text)
    assert other_hash and other_hash.group(1) != vk_hash, out.output
    with network.ledger("Regulator", "User1") as regulator:
        other = regulator.evaluate(Zk.get_key(other_hash.group(1)))
    assert other["circuit"] == "logreg-d2-b2" and other["ceremony"]["phase1"] == record["phase1"]
    assert all((d / "zk" / f"{other_hash.group(1)}.pk").exists() for d in keys_dirs)
    refused = CliRunner().invoke(cli, ["zk", "ceremony", "--state-dir", str(network.state.root), "--model",
                                       "logreg-d2-c3"])  # fmt: skip
    assert refused.exit_code == 2 and "audited studies need a binary label" in " ".join(refused.output.split())

    ceremony_keys = zk_sim.Keys(keys.pk, keys.vk_b64)
    (tmp_path / "round").mkdir()
    rnd = audited_round(network, tmp_path / "round", ceremony_keys)  # each proof verified on every peer
    assert rnd["inclusion"] == sorted(rnd["participants"]) and not rnd["dropped"]

    # a proof from another setup of the same circuit does not verify under the ceremony's key
    other = zk_sim.dev_keys(tmp_path)
    p = zk_sim.Participant("HospitalAMSP", "s", 0, 2, seed=1)
    p.train(zk_sim.initial_weights())
    proof = binary.prove(zk_sim.CIRCUIT, other.pk, [p.step_input(0)])[0]
    item = {"proof": proof["proof"], "public": proof["public"]}
    assert binary.verify(zk_sim.CIRCUIT, other.vk_b64, [item])[0]["valid"]
    assert not binary.verify(zk_sim.CIRCUIT, ceremony_keys.vk_b64, [item])[0]["valid"]
