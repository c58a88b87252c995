"""The verifier's building blocks on their own: header hashing, MSP identities and roles,
signatures, policies, the certificate file's bounds and the statement's lineage rules. (The
whole verifier runs on real certificates in tests/integration/test_provenance.py.)"""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from fabric_protos.common import policies_pb2
from fabric_protos.msp import msp_principal_pb2

from provenance import certificate, render, statement
from provenance.blocks import header_bytes
from provenance.errors import Refused
from provenance.msp import Msp, check_signature
from provenance.policies import SignaturePolicy
from tests.unit import pki

N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def test_block_header_bytes_are_fabrics_der_sequence() -> None:
    assert header_bytes(0, b"", b"") == bytes.fromhex("3007" + "020100" + "0400" + "0400")
    assert header_bytes(128, b"", b"")[2:6] == bytes.fromhex("02020080")  # a sign byte before 0x80
    long = header_bytes(1, b"\x11" * 32, b"\x22" * 32)
    assert long[:2] == bytes([0x30, 3 + 34 + 34]) and long[5:7] == bytes([0x04, 32])


def _msp(name: str = "HospitalAMSP") -> tuple[Msp, tuple]:
    root = pki.ca(f"ca.{name}")
    msp = Msp(name, [root[0]], node_ous={"client": "client", "peer": "peer", "admin": "admin", "orderer": "orderer"})
    return msp, root


def test_an_identity_is_judged_by_its_msp_roots_roles_and_revocations() -> None:
    msp, root = _msp()
    client, _ = pki.leaf(root, "User1", "client")
    assert msp.validate(client).roles == {"member", "client"}
    assert msp.validate(pki.leaf(root, "peer0", "peer")[0]).roles == {"member", "peer"}
    stranger, _ = pki.leaf(pki.ca("ca.elsewhere"), "User1", "client")
    with pytest.raises(Refused, match="not issued by a CA of HospitalAMSP"):
        msp.validate(stranger)
    with pytest.raises(Refused, match="CA certificate"):
        msp.validate(root[0])  # Fabric takes no CA as an identity, not even the MSP's own root
    revoked, _ = pki.leaf(root, "gone", "client", serial=4242)
    msp.revoked.add((root[0].subject.public_bytes(), 4242))
    with pytest.raises(Refused, match="revoked"):
        msp.validate(revoked)


def test_signatures_must_match_and_have_a_low_s() -> None:
    _, root = _msp()
    cert, key = pki.leaf(root, "User1", "client")
    r, s = decode_dss_signature(key.sign(b"message", ec.ECDSA(hashes.SHA256())))
    low, high = encode_dss_signature(r, min(s, N - s)), encode_dss_signature(r, max(s, N - s))
    check_signature(cert, b"message", low)
    with pytest.raises(Refused, match="high S"):
        check_signature(cert, b"message", high)
    with pytest.raises(Refused, match="does not match"):
        check_signature(cert, b"other message", low)
    with pytest.raises(Refused, match="not DER"):
        check_signature(cert, b"message", b"\x00" * 64)


def _policy(n: int, principals: list[tuple[str, int]]) -> SignaturePolicy:
    env = policies_pb2.SignaturePolicyEnvelope(
        rule=policies_pb2.SignaturePolicy(n_out_of=policies_pb2.SignaturePolicy.NOutOf(
            n=n, rules=[policies_pb2.SignaturePolicy(signed_by=i) for i in range(len(principals))])),
        identities=[msp_principal_pb2.MSPPrincipal(
            principal_classification=msp_principal_pb2.MSPPrincipal.ROLE,
            principal=msp_principal_pb2.MSPRole(msp_identifier=m, role=role).SerializeToString())
            for m, role in principals],
    )  # fmt: skip
    return SignaturePolicy.parse(env.SerializeToString())


def test_a_signature_policy_counts_each_signer_once() -> None:
    peer = msp_principal_pb2.MSPRole.PEER
    policy = _policy(2, [("HospitalAMSP", peer), ("HospitalBMSP", peer), ("HospitalCMSP", peer)])
    a_msp, a_root = _msp("HospitalAMSP")
    b_msp, b_root = _msp("HospitalBMSP")
    a_peer = a_msp.validate(pki.leaf(a_root, "peer0", "peer")[0])
    b_peer = b_msp.validate(pki.leaf(b_root, "peer0", "peer")[0])
    b_client = b_msp.validate(pki.leaf(b_root, "User1", "client")[0])
    assert policy.satisfied_by([a_peer, b_peer])
    assert not policy.satisfied_by([a_peer, a_peer])  # one org twice is still one org
    assert not policy.satisfied_by([a_peer, b_client])  # a client is not a peer


def test_a_certificate_file_that_is_not_one_is_refused_before_any_work() -> None:
    def doc(blocks: dict[str, str], chain: list | None = None) -> bytes:
        evidence = {"writes": {}, "blocks": blocks, "chain": chain or []}
        return json.dumps({"format": certificate.FORMAT, "evidence": evidence, "channel": "c", "chaincode": "c",
                           "statement": {}}).encode()  # fmt: skip

    for raw, expected in (
        (b"{", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (json.dumps({"format": "other"}).encode(), "not a certificate"),
        (doc({"x": "y"}), "not a block number"),
        (doc({"1": "%%"}), "not valid base64"),
        (doc({}, [[1, "zz", "00"]]), "not \\[number, previous hash hex"),
        (b" " * (certificate.MAX_BYTES + 1), "at most"),
    ):
        with pytest.raises(Refused, match=expected):
            certificate.load(raw)


def _records(rounds: int, broken_at: int | None = None) -> dict[str, dict]:
    params = {"model_hash": "m0", "model_cid": "c0", "rounds": rounds, "epsilon_budget_micro": 3_000_000,
              "aggregation": "secure"}  # fmt: skip
    out = {statement.study_key("s1"): {"params": params, "proposer": "A", "approvals": ["A"], "audited": False}}
    previous = "m0"
    for n in range(rounds):
        start = "mX" if n == broken_at else previous
        out[statement.round_key("s1", n)] = {
            "state": "FINALIZED", "model_in": {"hash": start}, "aggregate": {"hash": f"m{n + 1}", "cid": f"c{n + 1}",
            "members": ["A"]}, "inclusion": ["A"], "committee": ["A"], "participants": ["A"], "dropped": {},
            "audited": False, "committed": ["A"], "transitions": [{"state": "KEYS", "ts_ms": 1}],
        }  # fmt: skip
        commit = {"commitment_hash": "h", "update_hash": "u", "epsilon_micro": 1, "epsilon_spent_total_micro": n + 1}
        out[statement.part_key("rcommit", "s1", n, "A")] = commit
        previous = f"m{n + 1}"
    return out


def test_the_statement_reaches_back_to_the_initial_model_without_a_gap() -> None:
    records = _records(3)
    s = statement.derive("s1", 2, "m3", records.__getitem__)
    assert [r["model_in"] for r in s["rounds"]] == ["m0", "m1", "m2"] and s["epsilon_spent_micro"] == {"A": 3}
    assert statement.derive("s1", None, "m0", records.__getitem__)["rounds"] == []
    with pytest.raises(Refused, match="made m3, not m9"):
        statement.derive("s1", 2, "m9", records.__getitem__)
    with pytest.raises(Refused, match="lineage broken: round 1 starts from mX, not m1"):
        statement.derive("s1", 2, "m3", _records(3, broken_at=1).__getitem__)
    with pytest.raises(Refused, match="no round 5"):
        statement.derive("s1", 5, "m3", records.__getitem__)


def test_the_statement_says_how_the_model_learned_and_the_page_shows_it() -> None:
    records = _records(2)
    records[statement.study_key("s1")]["params"].update(server_optimizer="fedavgm", server_lr_ppm=1_000_000,
                                                        server_momentum_ppm=500_000, prox_mu_ppm=10_000)  # fmt: skip
    for n in range(2):
        rnd = records[statement.round_key("s1", n)]
        rnd["server"] = {"optimizer": "fedavgm", "lr_ppm": 1_000_000, "momentum_ppm": 500_000}
        rnd["model_prev"] = {"hash": "m0", "cid": "c0"} if n else None
    s = statement.derive("s1", 1, "m2", records.__getitem__)
    assert s["study"]["learning"] == {"server_optimizer": "fedavgm", "server_lr_ppm": 1_000_000,
                                      "server_momentum_ppm": 500_000, "prox_mu_ppm": 10_000}  # fmt: skip
    assert [r["model_prev"] for r in s["rounds"]] == [None, "m0"]
    assert s["rounds"][1]["server"]["momentum_ppm"] == 500_000
    cert = certificate.Certificate("ch", "cc", s, {}, {}, [], {})
    page = " ".join(render.html(cert, None, "not checked").split())
    assert "server step FedAvgM (learning rate 1, momentum 0.5" in page and "FedProx mu 0.01" in page
    # a study from before these parameters existed states nothing about them (its certificates still verify)
    assert "learning" not in statement.derive("s1", 1, "m2", _records(2).__getitem__)["study"]


def test_the_page_of_a_certificate_that_failed_shows_a_statement_of_any_shape_as_text() -> None:
    records = _records(2)
    records[statement.study_key("s1")]["params"].update(server_optimizer="fedavgm", server_lr_ppm=1_000_000,
                                                        server_momentum_ppm=500_000, prox_mu_ppm=10_000)  # fmt: skip
    s = statement.derive("s1", 1, "m2", records.__getitem__)
    s["study"]["learning"]["server_lr_ppm"] = "<b>fast</b>"  # text where a number belongs: shown as text
    page = render.html(certificate.Certificate("ch", "cc", s, {}, {}, [], {}), None, "signature invalid")
    assert "learning rate &lt;b&gt;fast&lt;/b&gt;" in page and "momentum 0.5" in page
    for shape in ({"model": 5}, {"model": {"hash": "m"}, "study": [], "rounds": "x"}, {"x": [[[]]] * 3}):
        page = render.html(certificate.Certificate("ch", "cc", shape, {}, {}, [], {}), None, "signature <invalid>")
        assert json.dumps(shape, indent=1).replace('"', "&#34;") in page
        page = " ".join(page.split())
        assert "Not verified.</b> signature &lt;invalid&gt;" in page and "cannot be shown as a table" in page
    deep: list = []
    for _ in range(990):  # as deep as the certificate parser accepts
        deep = [deep]
    for shape in ({"model": 5, "deep": deep}, {"model": {"hash": deep}, "study": {}}):
        assert "Not verified." in render.html(certificate.Certificate("ch", "cc", shape, {}, {}, [], {}), None, "x")
    huge = {"model": 5, "pad": "y" * (render.RAW_SHOWN * 2)}
    assert "more characters not shown" in render.html(certificate.Certificate("ch", "cc", huge, {}, {}, [], {}), None)


def test_a_statement_about_a_malformed_study_or_an_unprintable_value_is_refused_by_name() -> None:
    from provenance.verify import _derive, _short

    def no_read(key: str) -> dict:
        raise AssertionError("nothing may be read for a malformed statement")

    for model, why in (({"study": "a\x00b", "round": 0, "hash": "m"}, "is not a study id"),
                       ({"study": "s1", "round": "0", "hash": "m"}, "round \\(number or null\\)")):  # fmt: skip
        with pytest.raises(Refused, match=why):
            _derive({"model": model}, no_read)
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    assert _short(deep) == "(a value too deeply nested to print)"
