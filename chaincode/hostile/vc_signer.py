"""A test-only issuer of consent credentials and revocations (the real issuer is ACA-Py).

It signs exactly as Ed25519Signature2020 prescribes, so tests can make valid credentials with
any terms (expired, other grantee, ...) and then tamper with them. Interoperability with
ACA-Py itself is checked by a credential ACA-Py issued (fixtures/) and by the integration test.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import base58
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chaincode.contracts import consent_vc


def did_key(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "did:key:z" + base58.b58encode(b"\xed\x01" + raw).decode()


@dataclass
class Patient:
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    pairwise: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def did(self) -> str:
        return did_key(self.key)

    @property
    def pairwise_did(self) -> str:
        return did_key(self.pairwise)

    def consent(self, grantee: str = "HospitalAMSP", purpose: str = "bc-screening", **subject: Any) -> dict[str, Any]:
        vc = {
            "@context": consent_vc.CONTEXT,
            "type": ["VerifiableCredential", "ConsentCredential"],
            "issuer": self.did,
            "issuanceDate": "2025-12-01T00:00:00Z",
            "credentialSubject": {
                "id": self.pairwise_did,
                "grantee": grantee,
                "purpose": purpose,
                "dataCategories": ["tabular"],
                "consentFrom": "2025-12-01T00:00:00Z",
                "consentUntil": "2027-01-01T00:00:00Z",
                **subject,
            },
        }
        return self.sign(vc)

    def sign(self, vc: dict[str, Any]) -> dict[str, Any]:
        proof = {
            "type": "Ed25519Signature2020",
            "proofPurpose": "assertionMethod",
            "verificationMethod": f"{self.did}#{self.did.removeprefix('did:key:')}",
            "created": "2025-12-01T00:00:00+00:00",
        }
        doc = {k: v for k, v in vc.items() if k != "proof"}
        data = hashlib.sha256(consent_vc._canonize({**proof, "@context": vc["@context"]}).encode()).digest()
        data += hashlib.sha256(consent_vc._canonize(doc).encode()).digest()
        proof["proofValue"] = "z" + base58.b58encode(self.key.sign(data)).decode()
        return {**doc, "proof": proof}

    def revocation(self, consent_id: str, revocation_key: str, key: Ed25519PrivateKey | None = None) -> str:
        signer = key or self.key
        did = did_key(signer)
        header = {"typ": "JWT", "alg": "EdDSA", "kid": f"{did}#{did.removeprefix('did:key:')}"}
        body = {"consent_id": consent_id, "action": "revoke", "key": revocation_key}
        h, b = (base64.urlsafe_b64encode(json.dumps(x).encode()).rstrip(b"=").decode() for x in (header, body))
        sig = base64.urlsafe_b64encode(signer.sign(f"{h}.{b}".encode())).rstrip(b"=").decode()
        return f"{h}.{b}.{sig}"
