"""Verifying a patient's consent credential inside the chaincode, deterministically.

A consent credential is a W3C Verifiable Credential (JSON-LD) with an ``Ed25519Signature2020``
proof by the patient's ``did:key``. Every endorsing peer must reach the same verdict from the
same bytes, with no network and no clock, so:

* **Pinned contexts.** The credential's ``@context`` must be exactly
  ``[credentials v1, CONSENT_CONTEXT, ed25519-2020 v1]``. The two W3C contexts are loaded from
  files the install script takes from the ACA-Py package (the same bytes the issuer uses) and
  checked against SHA-256 digests fixed here; the consent terms are an inline context defined
  here. No other document is ever loaded.
* **No dropped terms.** JSON-LD expansion silently drops properties its context does not
  define, and a signature only covers what survives. The credential is expanded and compacted
  back; anything that does not come back unchanged is refused, so what the contract reads is
  exactly what was signed.
* **The signature.** Data Integrity with URDNA2015: the proof options (the proof without its
  ``proofValue``, under the document's context) and the document without its proof are
  canonicalised to N-Quads, hashed with SHA-256 each, and the 64 bytes ``hash(options) ||
  hash(document)`` must verify under the Ed25519 key inside the issuer's ``did:key``, which is
  also the proof's verification method.
* **Shape first.** Before any JSON-LD work the credential must have exactly the members a
  consent credential has (no others, at any level), each of its type and within its bounds, so
  that canonicalisation only ever sees the same small graph: a few blank nodes, never an
  attacker's. Its cost is bounded and measured (``fedledger bench hostile``).
* **Identity is what was signed.** A consent's id is derived from its Ed25519 signature over the
  signed content (URDNA2015 N-Quads of document and proof options). Every JSON encoding of a
  credential carries the same signature bytes, the verifier refuses S >= L (no malleated twin)
  and weak keys (small order, non-canonical), so nobody but the patient can make another
  signature for the content: a re-encoded credential is the same consent (409), and a revoked
  consent stays revoked. (A patient's deterministic RFC 8032 signer makes one signature per
  content; a signer with random nonces could make several, each a consent the patient signed.)
* **Nothing linkable on the public ledger.** The public record names no patient identifier, not
  even a hash of one: the issuer is held as a commitment keyed by a secret derived from the
  signature, which only those who have seen the credential know: the patient's wallet, the
  grantee (private data) and the endorsing peers that verified it.
* **Time** is the transaction's timestamp, passed in; validity dates are parsed as ISO 8601 UTC.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import base58
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CREDENTIALS_V1 = "https://www.w3.org/2018/credentials/v1"
ED25519_2020_V1 = "https://w3id.org/security/suites/ed25519-2020/v1"
PINNED_SHA256 = {
    CREDENTIALS_V1: ("credentials_context.jsonld", "ab4ddd9a531758807a79a5b450510d61ae8d147eab966cc9a200c07095b0cdcc"),
    ED25519_2020_V1: (
        "ed25519-2020-context.jsonld",
        "b9e1ab971fd8bf2c7553e0c4a9438e0b9450afde1ea1ca5b2492368b9f549588",
    ),
}
CONTEXTS_ENV = "FEDLEDGER_JSONLD_CONTEXTS"

# The consent terms (fedledger's own vocabulary), as an inline, protected context.
CONSENT_CONTEXT: dict[str, Any] = {
    "@version": 1.1,
    "@protected": True,
    "fl": "https://fedledger.dev/ns/consent#",
    "ConsentCredential": "fl:ConsentCredential",
    "grantee": "fl:grantee",
    "purpose": "fl:purpose",
    "dataCategories": {"@id": "fl:dataCategories", "@container": "@set"},
    "consentFrom": {"@id": "fl:consentFrom", "@type": "http://www.w3.org/2001/XMLSchema#dateTime"},
    "consentUntil": {"@id": "fl:consentUntil", "@type": "http://www.w3.org/2001/XMLSchema#dateTime"},
}
CONTEXT = [CREDENTIALS_V1, CONSENT_CONTEXT, ED25519_2020_V1]
DATA_CATEGORIES = ("tabular", "imaging", "genomic", "notes")
ED25519_MULTICODEC = b"\xed\x01"
MAX_CREDENTIAL_BYTES = 4 * 1024  # a consent credential is about 1.5 KB

# The members a consent credential has, at each level: exactly these (expirationDate optional).
TOP_MEMBERS = frozenset({"@context", "type", "issuer", "issuanceDate", "credentialSubject", "proof"})
OPTIONAL_TOP_MEMBERS = frozenset({"expirationDate"})
SUBJECT_MEMBERS = frozenset({"id", "grantee", "purpose", "dataCategories", "consentFrom", "consentUntil"})
PROOF_MEMBERS = frozenset({"type", "created", "verificationMethod", "proofPurpose", "proofValue"})
DID_KEY = re.compile(r"did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{40,50}")
TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|\+00:00)")
GRANTEE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,63}")
PURPOSE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
PROOF_VALUE = re.compile(r"z[1-9A-HJ-NP-Za-km-z]{80,100}")
ID_TAG = b"fedledger/consent/id/v1"
REVOCATION_TAG = b"fedledger/consent/revocation-key/v1"
ISSUER_TAG = b"fedledger/consent/issuer/v1"


class CredentialError(ValueError):
    """The credential is malformed, forged, tampered with, or not a valid consent."""


_contexts: dict[str, dict[str, Any]] | None = None
# pyld keeps module-level caches of processed contexts that are not safe across threads, and the
# chaincode service runs transactions concurrently: every JSON-LD step runs under this lock
# (measured: concurrent registrations failed with "invalid scoped context" without it).
_JSONLD_LOCK = threading.RLock()


def pinned_contexts() -> dict[str, dict[str, Any]]:
    """The two W3C contexts, read once and checked against their pinned digests."""
    global _contexts
    if _contexts is None:
        root = os.environ.get(CONTEXTS_ENV)
        if not root:
            raise CredentialError(f"${CONTEXTS_ENV} is not set: the pinned JSON-LD contexts are unavailable")
        loaded = {}
        for url, (name, digest) in PINNED_SHA256.items():
            raw = (Path(root) / name).read_bytes()
            if hashlib.sha256(raw).hexdigest() != digest:
                raise CredentialError(f"{name} does not match its pinned SHA-256: refusing to verify anything")
            loaded[url] = json.loads(raw)
        _contexts = loaded
    return _contexts


def _loader(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    contexts = pinned_contexts()
    if url not in contexts:
        raise CredentialError(f"context {url} is not pinned; only {sorted(contexts)} may be used")
    return {"contextUrl": None, "documentUrl": url, "document": contexts[url]}


def _jsonld() -> Any:
    from pyld import jsonld  # imported lazily: only the consent contract needs it

    return jsonld


def _canonize(doc: dict[str, Any]) -> str:
    return _jsonld().normalize(
        doc, {"algorithm": "URDNA2015", "format": "application/n-quads", "documentLoader": _loader}
    )


def did_key_public(did: str) -> Ed25519PublicKey:
    """The Ed25519 public key inside a ``did:key:z6Mk...`` identifier."""
    if not isinstance(did, str) or not did.startswith("did:key:z"):
        raise CredentialError(f"{did!r} is not a did:key")
    try:
        raw = base58.b58decode(did.removeprefix("did:key:z"))
    except ValueError:
        raise CredentialError(f"{did!r} is not base58btc") from None
    if len(raw) != 34 or not raw.startswith(ED25519_MULTICODEC):
        raise CredentialError(f"{did!r} is not an Ed25519 did:key")
    if weak_ed25519_key(raw[2:]):
        raise CredentialError(f"{did!r} is a weak Ed25519 key (small order or non-canonical): anyone could sign for it")
    return Ed25519PublicKey.from_public_bytes(raw[2:])


ED25519_P = 2**255 - 19
# y-coordinates of the points of order 1, 2, 4 and 8 (with either sign bit): a signature by such a
# "key" verifies for many messages without any secret (the identity point accepts S = 0)
SMALL_ORDER_Y = frozenset(
    {0, 1, ED25519_P - 1}
    | {
        int.from_bytes(bytes.fromhex(h), "little")
        for h in (
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        )
    }
)


def weak_ed25519_key(key: bytes) -> bool:
    """A public key encoding a point of small order, or a y-coordinate >= p (non-canonical)."""
    y = int.from_bytes(key, "little") & (2**255 - 1)
    return y >= ED25519_P or y in SMALL_ORDER_Y


def parse_time_ms(value: Any, name: str) -> int:
    if not isinstance(value, str) or not value.endswith(("Z", "+00:00")):
        raise CredentialError(f"{name} must be an ISO 8601 UTC timestamp")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CredentialError(f"{name} {value!r} is not an ISO 8601 timestamp") from None
    return int(parsed.astimezone(UTC).timestamp() * 1000)


def signature_bytes(vc: dict[str, Any]) -> bytes:
    """The 64 signature bytes in a (shape-checked) credential's proofValue."""
    try:
        raw = base58.b58decode(vc["proof"]["proofValue"][1:])
    except (KeyError, TypeError, ValueError):
        raise CredentialError("proofValue is not multibase base58btc") from None
    if len(raw) != 64:
        raise CredentialError(f"proofValue must hold a 64-byte Ed25519 signature, not {len(raw)} bytes")
    return raw


def credential_id(vc: dict[str, Any]) -> str:
    """The consent's identifier on the ledger: derived from its signature, hence from exactly
    what was signed (see the module docstring); the same in every JSON encoding."""
    return hashlib.sha256(ID_TAG + signature_bytes(vc)).hexdigest()


def revocation_key(vc: dict[str, Any]) -> str:
    """The secret a revocation must present (hex): known to whoever holds the credential."""
    return hashlib.sha256(REVOCATION_TAG + signature_bytes(vc)).hexdigest()


def issuer_commitment(key_hex: str, issuer_did: str) -> str:
    """The public stand-in for the patient's DID: unlinkable without the revocation key."""
    return hashlib.sha256(ISSUER_TAG + bytes.fromhex(key_hex) + issuer_did.encode()).hexdigest()


def verify_signature(vc: dict[str, Any]) -> None:
    """Check the Ed25519Signature2020 proof of ``vc`` (and that nothing signed was dropped)."""
    with _JSONLD_LOCK:
        _verify_signature(vc)


def _verify_signature(vc: dict[str, Any]) -> None:
    proof = vc.get("proof")
    if not isinstance(proof, dict) or proof.get("type") != "Ed25519Signature2020":
        raise CredentialError("the credential needs one Ed25519Signature2020 proof")
    issuer = vc.get("issuer")
    key = did_key_public(issuer)
    if proof.get("verificationMethod") != f"{issuer}#{issuer.removeprefix('did:key:')}":
        raise CredentialError("the proof's verification method is not the issuer's did:key")
    if proof.get("proofPurpose") != "assertionMethod":
        raise CredentialError("the proof's purpose must be assertionMethod")
    value = proof.get("proofValue")
    if not isinstance(value, str) or not value.startswith("z"):
        raise CredentialError("proofValue must be multibase base58btc")
    try:
        signature = base58.b58decode(value[1:])
    except ValueError:
        raise CredentialError("proofValue is not base58btc") from None
    document = {k: v for k, v in vc.items() if k != "proof"}
    _require_no_dropped_terms(document)
    options = {k: v for k, v in proof.items() if k not in ("proofValue", "jws", "signatureValue")}
    options["@context"] = vc["@context"]
    digest = (
        hashlib.sha256(_canonize(options).encode()).digest() + hashlib.sha256(_canonize(document).encode()).digest()
    )
    try:
        key.verify(signature, digest)
    except InvalidSignature:
        raise CredentialError("the signature does not verify: the credential was forged or altered") from None


def _require_no_dropped_terms(document: dict[str, Any]) -> None:
    jsonld = _jsonld()
    try:
        expanded = jsonld.expand(copy.deepcopy(document), {"documentLoader": _loader})
        compacted = jsonld.compact(expanded, {"@context": document["@context"]}, {"documentLoader": _loader})
    except jsonld.JsonLdError as exc:
        raise CredentialError(f"the credential is not valid JSON-LD under the pinned contexts: {exc}") from None
    compacted.pop("@context", None)
    original = {k: v for k, v in document.items() if k != "@context"}
    if compacted != original:
        missing = sorted(_paths(original) - _paths(compacted))
        raise CredentialError(f"terms not defined by the pinned contexts (they would not be signed): {missing}")


def _paths(value: Any, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        out = set()
        for k, v in value.items():
            out |= {f"{prefix}{k}"} | _paths(v, f"{prefix}{k}.")
        return out
    if isinstance(value, list):
        return set().union(*(_paths(v, prefix) for v in value)) if value else set()
    return set()


def check_shape(vc: Any) -> None:
    """Refuse anything but the exact members, types and bounds of a consent credential; cheap,
    and run before any JSON-LD work so an endorser never canonicalises an attacker's graph."""
    if not isinstance(vc, dict):
        raise CredentialError("the credential must be a JSON object")
    _exact_members(vc, TOP_MEMBERS, OPTIONAL_TOP_MEMBERS, "the credential")
    if vc["@context"] != CONTEXT:
        raise CredentialError(
            "@context must be exactly [credentials v1, the fedledger consent context, ed25519-2020 v1]"
        )
    if vc["type"] != ["VerifiableCredential", "ConsentCredential"]:
        raise CredentialError("type must be ['VerifiableCredential', 'ConsentCredential']")
    _matches(vc["issuer"], DID_KEY, "issuer (a did:key)")
    _matches(vc["issuanceDate"], TIMESTAMP, "issuanceDate")
    if "expirationDate" in vc:
        _matches(vc["expirationDate"], TIMESTAMP, "expirationDate")
    subject = vc["credentialSubject"]
    if not isinstance(subject, dict):
        raise CredentialError("credentialSubject must be an object")
    _exact_members(subject, SUBJECT_MEMBERS, frozenset(), "credentialSubject")
    _matches(subject["id"], DID_KEY, "credentialSubject.id (the patient's pairwise did:key)")
    _matches(subject["grantee"], GRANTEE, "grantee (an MSP ID)")
    _matches(subject["purpose"], PURPOSE, "purpose (a study id or purpose code, 1-64 characters)")
    categories = subject["dataCategories"]
    if (
        not isinstance(categories, list)
        or not categories
        or not all(isinstance(c, str) and c in DATA_CATEGORIES for c in categories)
        or len(set(categories)) != len(categories)
    ):
        raise CredentialError(
            f"dataCategories must be a non-empty list of distinct values from {list(DATA_CATEGORIES)}"
        )
    _matches(subject["consentFrom"], TIMESTAMP, "consentFrom")
    _matches(subject["consentUntil"], TIMESTAMP, "consentUntil")
    proof = vc["proof"]
    if not isinstance(proof, dict):
        raise CredentialError("proof must be one object")
    _exact_members(proof, PROOF_MEMBERS, frozenset(), "proof")
    if proof["type"] != "Ed25519Signature2020":
        raise CredentialError("the credential needs one Ed25519Signature2020 proof")
    _matches(proof["created"], TIMESTAMP, "proof.created")
    if proof["verificationMethod"] != f"{vc['issuer']}#{vc['issuer'].removeprefix('did:key:')}":
        raise CredentialError("the proof's verification method is not the issuer's did:key")
    if proof["proofPurpose"] != "assertionMethod":
        raise CredentialError("the proof's purpose must be assertionMethod")
    _matches(proof["proofValue"], PROOF_VALUE, "proofValue (multibase base58btc)")
    signature_bytes(vc)


def _exact_members(obj: dict[str, Any], required: frozenset[str], optional: frozenset[str], where: str) -> None:
    missing = sorted(required - obj.keys())
    extra = sorted(obj.keys() - required - optional)
    if missing:
        raise CredentialError(f"{where} lacks {', '.join(missing)}")
    if extra:
        shown = ", ".join(repr(k[:40]) for k in extra[:5])
        raise CredentialError(f"{where} has members a consent credential does not have: {shown}")


def _matches(value: Any, pattern: re.Pattern[str], name: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise CredentialError(f"{name} has an invalid format")


def check_consent(vc: Any, grantee: str, now_ms: int) -> dict[str, Any]:
    """Everything the consent contract needs to accept ``vc`` for ``grantee`` at ``now_ms``;
    returns the consent's public terms (no patient identifier, not even hashed)."""
    check_shape(vc)
    subject = vc["credentialSubject"]
    did_key_public(subject["id"])  # the patient's pairwise DID is a did:key too
    if subject["grantee"] != grantee:
        raise CredentialError(f"the consent is granted to {subject['grantee']!r}, not to {grantee}")
    start, end = (
        parse_time_ms(subject["consentFrom"], "consentFrom"),
        parse_time_ms(subject["consentUntil"], "consentUntil"),
    )
    if end <= start:
        raise CredentialError("consentUntil must be after consentFrom")
    if now_ms >= end:
        raise CredentialError("the consent has expired")
    if vc.get("expirationDate") is not None and now_ms >= parse_time_ms(vc["expirationDate"], "expirationDate"):
        raise CredentialError("the credential has expired")
    verify_signature(vc)
    return {
        "grantee": grantee,
        "purpose": subject["purpose"],
        "data_categories": sorted(subject["dataCategories"]),
        "from_ms": start,
        "until_ms": end,
        "issuer_commitment": issuer_commitment(revocation_key(vc), vc["issuer"]),
    }
