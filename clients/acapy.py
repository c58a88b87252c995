"""A small client for an ACA-Py agent's admin API (loopback, API key).

Only what fedledger uses: DIDs (did:key, Ed25519), out-of-band connections, issue-credential
2.0 with JSON-LD proofs, the holder's W3C credential store, and JWS signing. Errors name the
agent, the call and ACA-Py's own message.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


class AcaPyError(RuntimeError):
    """An ACA-Py admin call failed."""


@dataclass(frozen=True)
class AcaPy:
    label: str
    admin_url: str  # http://<host>:<admin port>
    api_key: str
    timeout_s: float = 30.0

    def call(self, method: str, path: str, body: Any | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(  # noqa: S310 - the loopback admin API, http only
            self.admin_url + path,
            data=data,
            method=method,
            headers={"X-API-KEY": self.api_key, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 - loopback admin API
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise AcaPyError(f"{self.label}: {method} {path} -> HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise AcaPyError(f"{self.label}: {method} {path} failed: {exc}") from None
        return json.loads(raw) if raw else None

    def ready(self) -> bool:
        try:
            return bool(self.call("GET", "/status/ready").get("ready"))
        except AcaPyError:
            return False

    # --- DIDs and signatures ---------------------------------------------------------------------
    def create_did_key(self) -> str:
        """A new Ed25519 did:key held in this agent's wallet."""
        return self.call("POST", "/wallet/did/create", {"method": "key", "options": {"key_type": "ed25519"}})["result"][
            "did"
        ]

    def sign_jws(self, did: str, payload: dict[str, Any]) -> str:
        """A compact JWS (EdDSA) over ``payload`` by ``did``'s key."""
        return self.call("POST", "/wallet/jwt/sign", {"did": did, "headers": {}, "payload": payload})

    # --- connections ---------------------------------------------------------------------------
    def create_invitation(self, alias: str) -> dict[str, Any]:
        body = {"handshake_protocols": ["https://didcomm.org/didexchange/1.0"], "use_public_did": False}
        return self.call("POST", f"/out-of-band/create-invitation?alias={alias}&auto_accept=true", body)

    def receive_invitation(self, invitation: dict[str, Any], alias: str) -> dict[str, Any]:
        return self.call("POST", f"/out-of-band/receive-invitation?alias={alias}&auto_accept=true", invitation)

    def connection_active(self, connection_id: str) -> bool:
        try:
            return self.call("GET", f"/connections/{connection_id}")["state"] in ("active", "completed")
        except AcaPyError:
            return False

    def wait_invitation_used(self, invitation_msg_id: str, timeout_s: float = 30.0) -> str:
        """The id of the active connection that grew out of our invitation ``invitation_msg_id``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for c in self.call("GET", f"/connections?invitation_msg_id={invitation_msg_id}")["results"]:
                if c["state"] in ("active", "completed"):
                    return c["connection_id"]
            time.sleep(0.1)
        raise AcaPyError(
            f"{self.label}: invitation {invitation_msg_id} led to no active connection in {timeout_s:.0f}s"
        )

    # --- credentials -----------------------------------------------------------------------------
    def issue_ld_credential(self, connection_id: str, credential: dict[str, Any]) -> str:
        """Offer and issue a JSON-LD credential (Ed25519Signature2020) over DIDComm; returns
        the exchange id. The holder is expected to auto-respond and auto-store."""
        body = {
            "connection_id": connection_id,
            "filter": {"ld_proof": {"credential": credential, "options": {"proofType": "Ed25519Signature2020"}}},
            "auto_remove": False,
        }
        return self.call("POST", "/issue-credential-2.0/send", body)["cred_ex_id"]

    def wait_issued(self, cred_ex_id: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.call("GET", f"/issue-credential-2.0/records/{cred_ex_id}")["cred_ex_record"]["state"]
            if state == "done":
                return
            if state in ("abandoned", "deleted"):
                raise AcaPyError(f"{self.label}: credential exchange {cred_ex_id} ended {state}")
            time.sleep(0.05)
        raise AcaPyError(f"{self.label}: credential exchange {cred_ex_id} not done after {timeout_s:.0f}s")

    def issued_ld_credential(self, cred_ex_id: str) -> dict[str, Any]:
        """The signed credential this agent issued in exchange ``cred_ex_id`` (the issuer's copy)."""
        record = self.call("GET", f"/issue-credential-2.0/records/{cred_ex_id}")
        by_format = (record.get("cred_ex_record") or {}).get("by_format") or {}
        issued = (by_format.get("cred_issue") or {}).get("ld_proof")
        if not isinstance(issued, dict) or "proof" not in issued:
            raise AcaPyError(f"{self.label}: exchange {cred_ex_id} holds no issued JSON-LD credential")
        return issued

    def w3c_credentials(self, subject_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """Stored W3C credentials (their JSON-LD values), optionally only those about any of
        ``subject_ids`` (ACA-Py's own subject filter requires all of them at once)."""
        found = self.call("POST", "/credentials/w3c", {"max_results": 1_000_000})["results"]
        values = [r["cred_value"] for r in found]
        if subject_ids is None:
            return values
        wanted = set(subject_ids)
        return [v for v in values if v.get("credentialSubject", {}).get("id") in wanted]
