"""Hostile transient-map values: what a client can put next to a call without it entering the block.

The consent contract reads a W3C credential (JSON-LD) and a JWS revocation from the transient
map, so besides bytes that are not JSON, not UTF-8, huge or deeply nested, the interesting
values are credential-shaped: they pass the cheap structural checks and reach the JSON-LD
processor with extra members, blank nodes, nested contexts and keywords a naive processor
treats specially. Those cost real CPU per call, so callers draw them sparingly.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
from typing import Any

from chaincode.hostile.values import Variant, deep_mutation, to_bytes

MAX_TRANSIENT_BYTES = 16 * 1024  # the largest transient value drawn (contracts refuse far less)
LIMITS = (1024, 4 * 1024, 16 * 1024)  # sizes around the limits contracts put on transient values
_FALLBACK_CONTEXT: list[Any] = [
    "https://www.w3.org/2018/credentials/v1",
    {"@version": 1.1, "@protected": True, "fl": "https://fedledger.dev/ns/consent#"},
    "https://w3id.org/security/suites/ed25519-2020/v1",
]


def _context() -> list[Any]:
    try:
        from chaincode.contracts import consent_vc
    except ImportError:  # pragma: no cover - the consent contract is optional to this module
        return _FALLBACK_CONTEXT
    return copy.deepcopy(getattr(consent_vc, "CONTEXT", _FALLBACK_CONTEXT))


def did_key(seed: bytes) -> str:
    """A syntactically valid Ed25519 ``did:key`` derived from ``seed``."""
    import base58
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed).digest())
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "did:key:z" + base58.b58encode(b"\xed\x01" + raw).decode()


def credential_shape(grantee: str, rng: random.Random) -> dict[str, Any]:
    """A consent credential that passes every check before the signature (context, type,
    DIDs, grantee, purpose, categories, window) and carries a random, wrong signature."""
    import base58

    issuer = did_key(b"hostile-issuer")
    return {
        "@context": _context(),
        "type": ["VerifiableCredential", "ConsentCredential"],
        "issuer": issuer,
        "issuanceDate": "2025-12-01T00:00:00Z",
        "credentialSubject": {
            "id": did_key(b"hostile-subject"),
            "grantee": grantee,
            "purpose": "bc-screening",
            "dataCategories": ["tabular"],
            "consentFrom": "2025-12-01T00:00:00Z",
            "consentUntil": "2027-01-01T00:00:00Z",
        },
        "proof": {
            "type": "Ed25519Signature2020",
            "proofPurpose": "assertionMethod",
            "verificationMethod": f"{issuer}#{issuer.removeprefix('did:key:')}",
            "created": "2025-12-01T00:00:00+00:00",
            "proofValue": "z" + base58.b58encode(rng.randbytes(64)).decode(),
        },
    }


def _jsonld_mutations(vc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []

    def variant(tag: str, change: Any) -> None:
        doc = copy.deepcopy(vc)
        change(doc)
        out.append((tag, doc))

    variant("as-is", lambda d: None)
    variant("extra-member", lambda d: d.update(evil="dropped by expansion"))
    variant("extra-subject-member", lambda d: d["credentialSubject"].update(diagnosis="C50.9"))
    variant("blank-node-id", lambda d: d["credentialSubject"].update({"@id": "_:b0"}))
    variant("graph", lambda d: d.update({"@graph": [{"@id": "_:b1", "fl:purpose": "other"}]}))
    variant("included", lambda d: d.update({"@included": [{"@id": "_:b2"}]}))
    variant("reverse", lambda d: d["credentialSubject"].update({"@reverse": {"fl:grantee": {"@id": "_:b3"}}}))
    variant("nested-context", lambda d: d["credentialSubject"].update({"@context": {"purpose": "fl:other"}}))
    variant("json-literal", lambda d: d["credentialSubject"].update(
        {"fl:note": {"@type": "@json", "@value": {"a": [1, 2]}}}))  # fmt: skip
    variant("type-as-object", lambda d: d["proof"].update(type={"@id": "Ed25519Signature2020"}))
    variant("proof-array", lambda d: d.update(proof=[d["proof"], d["proof"]]))
    variant("categories-padded", lambda d: d["credentialSubject"].update(dataCategories=["tabular"] * 1400))
    return out


def _fit(doc: dict[str, Any], limit: int) -> bytes:
    """``doc`` as JSON, cut down (long lists shortened) until it is at most ``limit`` bytes."""
    raw = json.dumps(doc).encode()
    while len(raw) > limit:
        categories = doc["credentialSubject"]["dataCategories"]
        doc["credentialSubject"]["dataCategories"] = categories[: max(1, len(categories) * limit // len(raw) - 1)]
        raw = json.dumps(doc).encode()
    return raw


def _padded(doc: Any, size: int) -> bytes:
    raw = json.dumps(doc).encode()
    return raw[:-1] + b" " * (size - len(raw)) + raw[-1:] if len(raw) < size else raw


def credential_variants(grantee: str, rng: random.Random) -> list[Variant]:
    """Credential-shaped values that reach the JSON-LD processor (slow: draw few)."""
    vc = credential_shape(grantee, rng)
    out = [Variant(f"jsonld:{tag}", _fit(doc, MAX_TRANSIENT_BYTES)) for tag, doc in _jsonld_mutations(vc)]
    out += [Variant(f"limit:credential-padded-to-{size}", _padded(vc, size)) for size in LIMITS]
    return out


def mutations(genuine: bytes, rng: random.Random) -> list[Variant]:
    """A genuine transient value (a signed credential, a JWS) changed in one place: a JSON
    value deep inside it, one byte, its length, its padding to each size limit."""
    out = [
        Variant("genuine:as-is", genuine),
        Variant("genuine:truncated", genuine[: len(genuine) // 2]),
        Variant("genuine:flipped-byte", _flip(genuine, rng)),
        Variant("genuine:doubled", genuine + genuine),
    ]
    try:
        doc = json.loads(genuine)
    except ValueError:
        return out
    out += [Variant(f"limit:genuine-padded-to-{size}", _padded(doc, size)) for size in LIMITS]
    for _ in range(4):
        changed = deep_mutation(doc, rng)
        out.append(Variant(f"genuine:{changed.tag}", to_bytes(changed.value, ascii_only=rng.random() < 0.5)))
    return out


def _flip(raw: bytes, rng: random.Random) -> bytes:
    if not raw:
        return b"\x00"
    i = rng.randrange(len(raw))
    return raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1 :]


def _jws(header: Any, body: Any, signature: bytes) -> str:
    def seg(value: Any) -> str:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{seg(header)}.{seg(body)}.{seg(signature)}"


def cheap_variants(grantee: str, rng: random.Random) -> list[Variant]:
    """Transient values refused before any JSON-LD work: malformed bytes and JSON, wrong
    shapes, broken JWS revocations, and credentials that fail a structural check."""
    did = did_key(b"hostile-issuer")
    kid = f"{did}#{did.removeprefix('did:key:')}"
    body = {"consent_id": "0" * 64, "action": "revoke"}
    vc = credential_shape(grantee, rng)
    wrong_grantee = copy.deepcopy(vc)
    wrong_grantee["credentialSubject"]["grantee"] = grantee + "\u202e"
    expired = copy.deepcopy(vc)
    expired["credentialSubject"]["consentUntil"] = "2020-01-01T00:00:00Z"
    not_utc = copy.deepcopy(vc)
    not_utc["credentialSubject"]["consentFrom"] = "2025-12-01T00:00:00+01:00"
    return [
        Variant("bytes:empty", b""),
        Variant("bytes:not-json", b"not json"),
        Variant("bytes:not-utf8", b"\xff\xfe\x00{"),
        Variant("bytes:utf8-bom-json", b"\xef\xbb\xbf" + json.dumps(vc).encode()),
        Variant("bytes:utf16-json", json.dumps(vc).encode("utf-16")),
        Variant("bytes:lone-surrogate-escape", b'{"type": "\\ud800"}'),
        Variant("bytes:cesu8-surrogate", '{"type": "\ud800"}'.encode("utf-8", "surrogatepass")),
        Variant("bytes:nan", b'{"a": NaN, "b": Infinity}'),
        Variant("bytes:5000-digit-number", b'{"a": ' + b"9" * 5000 + b"}"),
        Variant("bytes:duplicate-keys", b'{"type": 1, "type": ["VerifiableCredential", "ConsentCredential"]}'),
        Variant("bytes:json-null", b"null"),
        Variant("bytes:json-array", b"[]"),
        Variant("bytes:json-string", b'"credential"'),
        Variant("bytes:json-number", b"12"),
        Variant("bytes:deep-arrays-5000", b"[" * 5000 + b"]" * 5000),
        Variant("bytes:deep-objects-5000", b'{"a":' * 5000 + b"1" + b"}" * 5000),
        *(Variant(f"limit:bytes-past-{size}", b"[" + b" " * (size - 1) + b"]") for size in LIMITS),
        Variant("limit:bytes-1mb", b"{" * (1 << 20)),
        Variant("credential:wrong-grantee", json.dumps(wrong_grantee).encode()),
        Variant("credential:expired", json.dumps(expired).encode()),
        Variant("credential:not-utc", json.dumps(not_utc).encode()),
        Variant("credential:context-string", json.dumps({**vc, "@context": "https://evil.example/ctx"}).encode()),
        Variant("credential:subject-list", json.dumps({**vc, "credentialSubject": [vc["credentialSubject"]]}).encode()),
        Variant("credential:issuer-object", json.dumps({**vc, "issuer": {"id": did}}).encode()),
        Variant("credential:no-proof", json.dumps({k: v for k, v in vc.items() if k != "proof"}).encode()),
        Variant("jws:empty-parts", b".."),
        Variant("jws:one-part", b"abc"),
        Variant("jws:four-parts", b"a.b.c.d"),
        Variant("jws:not-base64", b"!!.!!.!!"),
        Variant("jws:not-utf8", b"\xff.\xfe.\xfd"),
        Variant("jws:alg-none", _jws({"alg": "none", "kid": kid}, body, b"").encode()),
        Variant("jws:header-list", _jws([1, 2], body, b"x").encode()),
        Variant("jws:kid-not-did", _jws({"alg": "EdDSA", "kid": "https://evil.example/key"}, body, b"x").encode()),
        Variant("jws:kid-int", _jws({"alg": "EdDSA", "kid": 7}, body, b"x").encode()),
        Variant("jws:bad-signature", _jws({"alg": "EdDSA", "kid": kid}, body, rng.randbytes(64)).encode()),
        Variant("jws:body-not-json", _jws({"alg": "EdDSA", "kid": kid}, b"\xff\xfe", b"x").encode()),
        Variant("limit:jws-huge", _jws({"alg": "EdDSA", "kid": kid}, {"pad": "a" * 200_000}, b"x").encode()),
    ]
