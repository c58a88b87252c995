"""The demo's federated study: three hospitals, DP training, the ledger and IPFS, end to end.

Trusted-aggregator mode (the committee of one the chaincode selects each round sees the
updates); the secure-committee mode replaces it in a later issue. Compared at the end with
centralised training on the pooled records (no privacy) and each hospital alone (no privacy),
all evaluated on the same held-out global test set.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from agent.data import demo_split
from agent.data.schema import Records, Schema, load_records
from agent.federation import Hospital, aggregate, fetch_model, participate, publish_model
from agent.gateway import Gateway, SubmitResult
from agent.keys import load_or_create_x25519, public_b64
from agent.models import LOGREG_30, get_weights
from agent.storage.ipfs_client import IPFSClient
from agent.storage.vault import KeyStore, Vault
from agent.training import DPConfig, evaluate
from network.consortium import Network
from network.topology import CHAINCODE_NAME, CHANNEL

Say = Callable[[str], None]


@dataclass
class StudyOutcome:
    study_id: str
    rounds: list[dict[str, Any]] = field(default_factory=list)
    federated: dict[str, float] = field(default_factory=dict)
    central: dict[str, float] = field(default_factory=dict)
    local: dict[str, dict[str, float]] = field(default_factory=dict)
    epsilon: dict[str, float] = field(default_factory=dict)
    ledger_s: float = 0.0
    wall_s: float = 0.0


def _sk_metrics(model: LogisticRegression, test: Records) -> dict[str, float]:
    scores = model.predict_proba(test.x)[:, 1]
    predicted = (scores >= 0.5).astype(np.float32)
    return {"accuracy": float(accuracy_score(test.y, predicted)), "f1": float(f1_score(test.y, predicted)),
            "auroc": float(roc_auc_score(test.y, scores))}  # fmt: skip


def run_study(net: Network, say: Say, rounds: int = 3, epsilon_per_round: float = 1.0) -> StudyOutcome:
    started = time.monotonic()
    names = [o.name for o in net.topology.hospitals]
    msps = [net.org(n).msp_id for n in names]
    data = demo_split.build(net.state.root / "demo-data")
    schema = Schema.load(data.schema_path)
    test = load_records(data.test_path, schema)
    outcome = StudyOutcome(study_id=f"demo-{int(time.time())}")
    gws: dict[str, tuple[Gateway, Gateway]] = {n: (net.gateway(n, "Admin"), net.gateway(n, "User1")) for n in names}
    ledger_time = [0.0]

    def c(name: str, contract: str, admin: bool = False):
        return gws[name][0 if admin else 1].network(CHANNEL).contract(CHAINCODE_NAME, contract)

    def tx(name: str, contract: str, fn: str, args: Any, admin: bool = False) -> SubmitResult:
        t = time.monotonic()
        result = c(name, contract, admin).submit(fn, args)
        for n in names:  # every hospital's own peer has it before anyone acts on it
            gws[n][1].network(CHANNEL).wait_for_commit(result.tx_id)
        ledger_time[0] += time.monotonic() - t
        return result

    hospitals = {}
    for n, m in zip(names, msps, strict=True):
        key = load_or_create_x25519(net.state.root / "keys" / net.org(n).short / "share_x25519.pem")
        ipfs = IPFSClient(net.ipfs_api(n))
        keystore = KeyStore(net.state.root / "keys" / net.org(n).short / "artifacts")
        hospitals[m] = Hospital(m, ipfs, Vault(ipfs, keystore), key, c(n, "Registry"))
    say("tokens: majority-approved mints, then each hospital stakes")
    for n, m in zip(names, msps, strict=True):  # top up on repeated demo runs: pools are escrowed
        account = c(n, "Token").evaluate("Account", {"msp_id": m})
        if account["balance"] < 2000:
            mint_id = f"{outcome.study_id}-{m.lower()}"
            tx(names[0], "Token", "ProposeMint", {"mint_id": mint_id, "to": m, "amount": 3000}, admin=True)
            tx(names[1], "Token", "ApproveMint", {"mint_id": mint_id}, admin=True)
        if account["staked"] - account["locked"] < 500:
            tx(n, "Token", "Stake", {"amount": 1000}, admin=True)

    initial = get_weights(LOGREG_30.build(seed=0))
    model0 = publish_model(hospitals[msps[0]], initial, f"{outcome.study_id}/initial",
                           {m: public_b64(h.share_key) for m, h in hospitals.items()})  # fmt: skip
    study = {
        "study_id": outcome.study_id, "title": "Breast cancer malignancy, DP logistic regression",
        "model_spec_hash": LOGREG_30.hash, "model_cid": model0["cid"], "model_hash": model0["hash"],
        "data_schema_hash": schema.hash, "epsilon_budget_micro": int(epsilon_per_round * rounds * 1_000_000) + 1000,
        "delta_e12": 10_000_000, "rounds": rounds, "local_steps": 100, "audit_rate_ppm": 0,
        "committee_size": 1, "committee_threshold": 1, "participants_per_round": 3, "min_participants": 3,
        "min_stake": 100, "reward_pool": 300 * rounds, "reward_per_round": 300, "missing_slash": 50,
        "cheat_slash": 100, "commit_window_s": 600, "prove_window_s": 600, "aggregate_window_s": 600,
        "validation_window_s": 600,
    }  # fmt: skip
    say(f"study {outcome.study_id}: proposed by {names[0]}, approved by {names[1]}, every hospital enrolls")
    tx(names[0], "Study", "Propose", study, admin=True)
    tx(names[1], "Study", "Approve", {"study_id": outcome.study_id}, admin=True)
    for n in names:
        tx(n, "Study", "Enroll", {"study_id": outcome.study_id}, admin=True)

    dp = DPConfig(epsilon=epsilon_per_round, delta=1e-5, epochs=5)
    train = {m: load_records(data.train_paths[n], schema) for n, m in zip(names, msps, strict=True)}
    validation = {m: load_records(data.validation_paths[n], schema) for n, m in zip(names, msps, strict=True)}
    previous = {m: evaluate(LOGREG_30, initial, validation[m])["accuracy"] for m in msps}
    for r in range(rounds):
        rnd = tx(names[0], "Round", "Open", {"study_id": outcome.study_id}).json()
        eps = {}
        for n, m in zip(names, msps, strict=True):
            commit, result = participate(hospitals[m], rnd, LOGREG_30, train[m], dp)
            tx(n, "Round", "Commit", commit)
            eps[m] = result.epsilon_spent
            say(f"round {r}: {n} trained on {result.sample_count} records ({len(result.steps)} DP-SGD steps, "
                f"epsilon {result.epsilon_spent:.2f}), committed")  # fmt: skip
        tx(names[0], "Round", "Advance", {"study_id": outcome.study_id, "round": r})
        full = c(names[0], "Round").evaluate("Get", {"study_id": outcome.study_id, "round": r})
        aggregator = full["committee"][0]
        agg_name = names[msps.index(aggregator)]
        model = aggregate(hospitals[aggregator], full, LOGREG_30, msps)
        published = {"study_id": outcome.study_id, "round": r, "model_cid": model["cid"], "model_hash": model["hash"]}
        tx(agg_name, "Round", "SubmitAggregate", published)
        for n, m in zip(names, msps, strict=True):
            weights = fetch_model(hospitals[m], model, LOGREG_30)
            now = evaluate(LOGREG_30, weights, validation[m])["accuracy"]
            report = {"study_id": outcome.study_id, "round": r, "metric_ppm": round(now * 1e6),
                      "previous_metric_ppm": round(previous[m] * 1e6)}  # fmt: skip
            tx(n, "Round", "ReportValidation", report)
            previous[m] = now
        settled = tx(names[1], "Round", "Settle", {"study_id": outcome.study_id, "round": r}).json()
        metrics = evaluate(LOGREG_30, fetch_model(hospitals[msps[0]], model, LOGREG_30), test)
        outcome.rounds.append({"round": r, "aggregator": aggregator, "test": metrics, "epsilon": eps,
                               "rewards": settled["rewards"]})  # fmt: skip
        say(f"round {r}: aggregated by {agg_name} (trusted-aggregator mode), global test accuracy "
            f"{metrics['accuracy']:.3f}, AUROC {metrics['auroc']:.3f}; rewards {settled['rewards']}")  # fmt: skip
        final = model
    outcome.federated = outcome.rounds[-1]["test"]
    for m in msps:
        spent = c(names[0], "Round").evaluate("Budget", {"study_id": outcome.study_id, "msp_id": m})
        outcome.epsilon[m] = spent["spent_micro"] / 1e6
    pooled = Records(np.concatenate([t.x for t in train.values()]), np.concatenate([t.y for t in train.values()]),
                     np.concatenate([t.pseudonyms for t in train.values()]))  # fmt: skip
    outcome.central = _sk_metrics(LogisticRegression(max_iter=2000).fit(pooled.x, pooled.y), test)
    for m in msps:
        outcome.local[m] = _sk_metrics(LogisticRegression(max_iter=2000).fit(train[m].x, train[m].y), test)
    outcome.ledger_s = ledger_time[0]
    outcome.wall_s = time.monotonic() - started
    assert final["hash"] == c(names[0], "Round").evaluate(
        "Get", {"study_id": outcome.study_id, "round": rounds - 1})["aggregate"]["hash"]  # fmt: skip
    for a, b in gws.values():
        a.close()
        b.close()
    return outcome
