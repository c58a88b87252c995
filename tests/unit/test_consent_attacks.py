"""Attacks on the consent contract by a member org's own client, on the in-memory ledger.

Each test is a regression test for a class of attack: a revoked consent brought back by
re-encoding its credential, endorser CPU spent canonicalising an attacker's JSON-LD graph, and
patient identifiers (or their plain hashes) reaching the public ledger.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest

from chaincode.contracts import consent_vc
from chaincode.contracts.consent_vc import credential_id, revocation_key
from chaincode.hostile.vc_signer import Patient
from tests.unit.consortium_sim import Consortium

A, B = "HospitalAMSP", "HospitalBMSP"


def register(cons: Consortium, vc: Any, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(vc).encode()
    return cons.ledger.invoke(cons.router, cons.agents[A], "Consent:Register", {}, timestamp_ms=cons.now_ms,
                              transient={"credential": body})  # fmt: skip


def snapshot(cons: Consortium) -> tuple[Any, ...]:
    ledger = cons.ledger
    return dict(ledger.state), {k: list(v) for k, v in ledger.history.items()}, list(ledger.events)


@pytest.fixture
def cons() -> Consortium:
    c = Consortium()
    c.register_all()
    return c


def encodings(vc: dict[str, Any]) -> list[bytes]:
    """The same signed credential in other JSON forms: key order, spacing, escapes, and (for
    a credential with two categories) the set's members in the other order."""
    out = [
        json.dumps(vc, sort_keys=True).encode(),
        json.dumps(vc, indent=3).encode(),
        json.dumps(vc, ensure_ascii=True).replace('"did:key:', '"did\\u003akey:').encode(),
        json.dumps(dict(reversed(list(vc.items())))).encode(),
    ]
    swapped = copy.deepcopy(vc)
    swapped["credentialSubject"]["dataCategories"].reverse()
    out.append(json.dumps(swapped).encode())
    return out


def test_a_revoked_consent_stays_revoked_in_every_encoding(cons: Consortium) -> None:
    patient = Patient()
    vc = patient.consent(dataCategories=["tabular", "imaging"])
    first = register(cons, vc)
    assert first.ok, first.message
    consent_id = first.json()["consent_id"]
    for raw in encodings(vc):  # every re-encoding verifies, and is the same consent
        assert credential_id(json.loads(raw)) == consent_id
        consent_vc.check_consent(json.loads(raw), A, cons.now_ms)
        before = snapshot(cons)
        res = register(cons, None, raw)
        assert res.status == 409 and "already registered (active)" in res.message, res.message
        assert snapshot(cons) == before
    revoked = cons.ledger.invoke(
        cons.router,
        cons.agents[B],
        "Consent:Revoke",
        {"consent_id": consent_id},
        timestamp_ms=cons.now_ms,
        transient={"revocation": patient.revocation(consent_id, revocation_key(vc)).encode()},
    )
    assert revoked.ok, revoked.message
    for raw in encodings(vc):
        before = snapshot(cons)
        res = register(cons, None, raw)
        assert res.status == 409 and "(revoked)" in res.message, res.message
        assert snapshot(cons) == before
    items = cons.ok(cons.agents[A], "Consent:List", {"grantee": A, "purpose": "bc-screening"})["items"]
    assert [(i["consent_id"], i["status"]) for i in items] == [(consent_id, "revoked")]


def _variant(vc: dict[str, Any], change: str) -> dict[str, Any]:
    bad = copy.deepcopy(vc)
    if change == "duplicate category":
        bad["credentialSubject"]["dataCategories"] *= 2
    elif change == "reordered type":
        bad["type"].reverse()
    elif change == "member added to proof":
        bad["proof"]["nonce"] = "anything the signature does not cover"
    elif change == "member added to the credential":
        bad["id"] = "urn:uuid:00000000-0000-0000-0000-000000000000"
    elif change == "member added to the subject":
        bad["credentialSubject"]["note"] = {"@id": "_:b0", "x": {"@id": "_:b1"}}
    elif change == "proof as a list":
        bad["proof"] = [bad["proof"]]
    elif change == "issuer as an object":
        bad["issuer"] = {"id": bad["issuer"]}
    elif change == "@id in the subject":
        bad["credentialSubject"]["@id"] = bad["credentialSubject"].pop("id")
    return bad


CHANGES = ("duplicate category", "reordered type", "member added to proof", "member added to the credential",
           "member added to the subject", "proof as a list", "issuer as an object", "@id in the subject")  # fmt: skip


@pytest.mark.parametrize("change", CHANGES)
def test_members_the_signature_does_not_cover_are_refused_before_any_json_ld(
    cons: Consortium, change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    vc = Patient().consent()
    canonicalised = []
    real = consent_vc._canonize
    monkeypatch.setattr(consent_vc, "_canonize", lambda doc: canonicalised.append(1) or real(doc))
    before = snapshot(cons)
    res = register(cons, _variant(vc, change))
    assert res.status == 400, (res.status, res.message)
    assert snapshot(cons) == before
    assert canonicalised == [], f"{change}: JSON-LD work ran before the refusal"


def blank_node_bomb(vc: dict[str, Any], width: int) -> dict[str, Any]:
    """The costly shape: many blank nodes that all look alike, under a free member."""
    bad = copy.deepcopy(vc)
    bad["credentialSubject"]["evidence"] = [{"@type": "x", "p": [{"q": i % 2} for _ in range(3)]}
                                            for i in range(width)]  # fmt: skip
    return bad


def test_a_blank_node_graph_costs_no_canonicalisation(cons: Consortium, monkeypatch: pytest.MonkeyPatch) -> None:
    vc = Patient().consent()
    calls = []
    real = consent_vc._canonize
    monkeypatch.setattr(consent_vc, "_canonize", lambda doc: calls.append(1) or real(doc))
    res = register(cons, blank_node_bomb(vc, 40))
    assert res.status == 400 and "does not have: 'evidence'" in res.message, res.message
    assert calls == []
    ok = register(cons, vc)
    assert ok.ok and len(calls) == 2  # a real credential: proof options and document, once each


def test_nothing_on_the_public_ledger_links_a_consent_to_a_patient_identifier(cons: Consortium) -> None:
    patients = [Patient() for _ in range(3)]
    vcs = [p.consent() for p in patients]
    ids = [register(cons, vc).json()["consent_id"] for vc in vcs]
    p0 = patients[0]
    cons.ledger.invoke(cons.router, cons.agents[B], "Consent:Revoke", {"consent_id": ids[0]},
                       timestamp_ms=cons.now_ms,
                       transient={"revocation": p0.revocation(ids[0], revocation_key(vcs[0])).encode()})  # fmt: skip
    cons.ok(cons.admins[A], "Consent:Erase", {"consent_id": ids[1]})
    public = b"".join(k.encode() + v for (c, k), v in cons.ledger.state.items() if c == "")
    public += b"".join(k.encode() for k in cons.ledger.history)
    public += b"".join(m.value for mods in cons.ledger.history.values() for m in mods)
    public += b"".join(e.payload for e in cons.ledger.events)
    for p in patients:
        for did in (p.did, p.pairwise_did):
            digest = hashlib.sha256(did.encode()).digest()
            for needle in (did.encode(), digest.hex().encode(), digest.hex().upper().encode(), digest):
                assert needle not in public, f"{did} is linkable from the public ledger"
    assert not [k for (c, k) in cons.ledger.state if c.startswith("_implicit_org_") and k == ids[1]]


def test_a_weak_key_that_anyone_can_sign_for_is_refused(cons: Consortium) -> None:
    """The identity point as a did:key accepts the all-zero S for any message: such a
    credential would be signed by no one, and anyone could revoke it."""
    import base58

    identity = "did:key:z" + base58.b58encode(b"\xed\x01" + (1).to_bytes(32, "little")).decode()
    vc = Patient().consent()
    vc["issuer"] = identity
    vc["proof"]["verificationMethod"] = f"{identity}#{identity.removeprefix('did:key:')}"
    vc["proof"]["proofValue"] = "z" + base58.b58encode(b"\x01" + b"\x00" * 63).decode()
    before = snapshot(cons)
    res = register(cons, vc)
    assert res.status == 400 and "weak Ed25519 key" in res.message, res.message
    assert snapshot(cons) == before
