"""Bound inputs on the real network (chaincode/contracts/binding.py): every endorsing peer verifies
each binding proof and the committee's check, with real Groth16 proofs of the binding circuit.

Round 0 is the poisoning attack: a hospital trains and binds honestly but masks a different
vector; the committee's check after the reveal catches it, it is slashed on every peer, its
round key is revealed in a second reveal and the round finalizes from the others to their
weighted FedAvg. Round 1: a hospital replays its round-0 binding (another round's proof) and
fails at once; the round finalizes from the two honest hospitals. The shared secure study
(tests/integration/conftest.py) runs the honest path with the real agents."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.data import demo_split
from agent.data.schema import Schema
from agent.zk import binary
from chaincode.runtime import canonical
from chaincode.runtime.testing import Result
from clients.fabric import GatewayError
from clients.ledger import Call, Token, Zk
from network.consortium import LocalConsortium
from tests.integration.hospitals import NAMES, Consortium, consortium
from tests.unit import zk_sim
from tests.unit.bound_sim import BIND, BoundRound, bound_params
from tests.unit.consortium_sim import h

QUERIES = {"Round:Get", "Token:Account"}


class RealLedger:
    """What the round driver (tests/unit/bound_sim.py) needs, on the real network: each hospital
    acts through its own agent identity; a transaction returns once every peer committed it."""

    def __init__(self, cons: Consortium) -> None:
        self.c = cons
        self.hospitals = tuple(sorted(cons.hospitals))
        self.agents = {m: m for m in self.hospitals}
        self.regulator = self.hospitals[0]  # queries: any hospital's peer holds the same state

    def call(self, who: str, function: str, args: dict[str, Any]) -> Result:
        contract, method = function.split(":")
        ledger = self.c.agent_of(who)
        try:
            if function in QUERIES:
                payload = ledger.evaluate(Call(contract, method, args))
                return Result(200, "", canonical.dumps(payload), None, "")
            out = self.c.everywhere(ledger.submit(Call(contract, method, args)))
            return Result(200, "", canonical.dumps(out.json()), None, out.tx_id)
        except GatewayError as exc:
            return Result(exc.chaincode_status or 500, exc.chaincode_message or str(exc), b"", None, "")

    def ok(self, who: str, function: str, args: dict[str, Any]) -> Any:
        res = self.call(who, function, args)
        assert res.ok, f"{function} by {who}: {res.status} {res.message}"
        return res.json()

    def commit(self, m: str, study_id: str, n: int, **over: Any) -> Result:
        args = {"study_id": study_id, "round": n, "step_root": h(f"root-{m}-{n}"), "sample_bucket": 7,
                "epsilon_micro": 1_000_000, **over}  # fmt: skip
        return self.call(m, "Round:Commit", args)


def _staked_everywhere(cons: Consortium, msp: str) -> set[int]:
    """The hospital's staked amount as every hospital's peer reports it."""
    return {cons.ledger(n).evaluate(Token.account(msp))["staked"] for n in NAMES}


@pytest.fixture(scope="module")
def bind_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    d = tmp_path_factory.mktemp("bind-keys")
    binary.dev_setup(BIND, d / "pk", d / "vk")
    return d / "pk", base64.b64encode((d / "vk").read_bytes()).decode()


def test_a_poisoned_input_is_caught_on_every_peer_and_the_round_finalizes_from_the_others(
    network: LocalConsortium, tmp_path: Path, bind_keys: tuple[Path, str]
) -> None:
    run = uuid.uuid4().hex[:6]
    sid = f"bound-{run}"
    schema = Schema.load(demo_split.build(tmp_path / "data").schema_path)
    with consortium(network, tmp_path, f"bound-{run}") as cons:
        ceremony = {"phase1": [h("p1")], "phase2": [h("p2")], "beacon1": "00", "beacon2": "00",
                    "contributors": [network.org(NAMES[0]).msp_id]}  # fmt: skip
        try:
            cons.tx(NAMES[0], Zk.register_key(BIND, bind_keys[1], ceremony), admin=True)
        except GatewayError as exc:
            assert exc.chaincode_status == 409  # registered by an earlier run on this network
        _, model0 = cons.initial_model(f"{sid}/initial")
        params = {
            "title": "bound", "model": zk_sim.MODEL, "model_spec_hash": "0" * 64, "model_cid": model0["cid"],
            "model_hash": model0["hash"], "data_schema_hash": schema.hash, "epsilon_budget_micro": 6_000_000,
            "delta_e12": 10_000_000, "rounds": 2, "local_steps": 8, "audit_rate_ppm": 0, "min_participants": 2,
            "min_stake": 100, "reward_pool": 300, "reward_per_round": 150, "missing_slash": 10, "cheat_slash": 100,
            "commit_window_s": 600, "prove_window_s": 600, "aggregate_window_s": 600, "validation_window_s": 600,
            **bound_params(bind_keys[1], 3),
        }  # fmt: skip
        cons.study(sid, params)
        ledger = RealLedger(cons)
        a, b, c = ledger.hospitals

        # round 0: c binds its committed weights but masks an update 3000 grid steps away
        r = BoundRound(ledger, bind_keys[0], sid)
        r.to_prove(cheat={c: [w + 3000 for w in r.final[c]]})
        for m in (a, b, c):
            assert r.bind(m).json()["status"] == "verified"  # its proof is about what it committed
        staked_c = _staked_everywhere(cons, c)
        assert len(staked_c) == 1
        rnd = r.advance()
        assert rnd["state"] == "AGGREGATE" and rnd["inclusion"] == [a, b, c]
        members = rnd["committee"]
        assert r.submit_shares(members[0]).ok and r.submit_shares(members[1]).ok and r.get()["unmask_ready"]
        assert r.member_view()[2] is None  # an honest member's own check fails: no model published
        assert r.aggregate(members[0]).ok
        assert r.aggregate(members[1]).json()["state"] == "AGGREGATE"
        rnd = r.get()
        assert rnd["binding_checks"][0]["failed"] == [c] and rnd["reveal2"] == {"seed": [], "key": [c]}
        assert "not the update it bound" in rnd["dropped"][c] and rnd["bindings"][c]["status"] == "failed"
        assert _staked_everywhere(cons, c) == {next(iter(staked_c)) - 100}  # slashed on every peer
        assert r.submit_shares(members[0]).ok and r.submit_shares(members[1]).ok and r.get()["unmask_ready"]
        _, _, weights = r.member_view()
        assert weights is not None and np.max(np.abs(weights - r.expected([a, b]))) < 1e-6
        assert r.aggregate(members[0]).ok
        assert r.aggregate(members[1]).json()["state"] == "FINALIZED"
        assert r.get()["aggregate"]["members"] == sorted(members[:2])

        # round 1 starts from round 0's model; c replays its round-0 binding and fails at once
        start = [int(v) for v in np.rint(weights * 4096)]
        old = r.binding_args(c)
        r1 = BoundRound(ledger, bind_keys[0], sid, start=start)
        r1.to_prove()
        staked_c = _staked_everywhere(cons, c)
        replay = {**r1.binding_args(c), "value": old["value"], "proof": old["proof"]}
        out = ledger.ok(c, "Round:SubmitBinding", replay)
        assert out["status"] == "failed" and "does not verify" in out["reason"]
        assert _staked_everywhere(cons, c) == {next(iter(staked_c)) - 100}
        for m in (a, b):
            assert r1.bind(m).json()["status"] == "verified"
        rnd = r1.advance()
        assert rnd["state"] == "AGGREGATE" and rnd["inclusion"] == [a, b] and rnd["reveal"]["key"] == [c]
        members = rnd["committee"]
        assert r1.submit_shares(members[0]).ok and r1.submit_shares(members[1]).ok and r1.get()["unmask_ready"]
        _, _, weights = r1.member_view()
        assert np.max(np.abs(weights - r1.expected([a, b]))) < 1e-6
        assert r1.aggregate(members[0]).ok
        assert r1.aggregate(members[1]).json()["state"] == "FINALIZED"
