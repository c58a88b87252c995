"""Patient consent on the ledger, without any patient data on it.

* ``Register`` — a hospital submits a patient's consent credential (a W3C VC signed by the
  patient's did:key, obtained through ACA-Py) in the **transient** map, so the credential never
  enters the block. Every endorser verifies it (chaincode/contracts/consent_vc.py): pinned
  contexts, no dropped terms, Ed25519Signature2020, grantee = the caller's org, validity window
  against the transaction's timestamp. The consent's id is derived from its signature (one per
  signed content, whatever the JSON encoding: a re-registration is 409, a revocation final).
  Public state keeps the terms (grantee, purpose, data categories, window, status) and a keyed
  commitment to the issuer, never a patient identifier or a plain hash of one; the credential
  itself goes to the hospital's implicit private data collection.
* ``Revoke`` — a revocation signed by the same did:key (a JWS whose payload names the consent and
  carries its revocation key, which only holders of the credential know), passed in the
  transient map; anyone may relay it, the signature decides.
* ``Erase`` — GDPR art. 17: the grantee hospital's admin purges the credential from private data
  (PurgePrivateData: no peer keeps it, history keeps only the hash); public state keeps hashes
  and the status ``erased``.
* ``Get`` / ``List`` — the status of one consent, or a page of a hospital's consents for a
  purpose (what the training gate reads).

State::

    consent~<grantee>~<purpose>~<consent_id>  -> public record (hashes, terms, status)
    consentid~<consent_id>                    -> {"grantee", "purpose"} (lookup by id)
    private _implicit_org_<grantee>: <consent_id> -> the credential (canonical JSON)
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from chaincode.contracts import ledger_log
from chaincode.contracts.access import require_hospital, require_hospital_admin
from chaincode.contracts.consent_vc import (
    CredentialError,
    check_consent,
    credential_id,
    did_key_public,
    issuer_commitment,
)
from chaincode.contracts.registry import MSP_ID
from chaincode.runtime import canonical
from chaincode.runtime.arguments import decode_json
from chaincode.runtime.contract import Contract, query, transaction
from chaincode.runtime.errors import Conflict, Forbidden, InvalidArgument, NotFound
from chaincode.runtime.schema import Int, Schema, Str
from chaincode.runtime.stub import Page, Stub

CONSENT = "consent"
CONSENT_ID = "consentid"
HEX64 = r"[0-9a-f]{64}"
PURPOSE = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
MAX_CREDENTIAL = 4 * 1024  # a consent credential is about 1.5 KB
MAX_REVOCATION = 1024  # a compact JWS of about 400 bytes
JWS_PART = re.compile(r"[A-Za-z0-9_-]{1,700}")

MAX_SUMMARY = 200_000  # consent records one summary reads at most

ID_REF = Schema({"consent_id": Str(pattern=HEX64)})
LIST = Schema(
    {
        "grantee": Str(max_len=64, pattern=MSP_ID),
        "purpose": Str(max_len=64, pattern=PURPOSE),
        "page_size": Int(1, 1000, required=False, default=1000),
        "bookmark": Str(max_len=400, min_len=0, required=False, default=""),
    }
)


def implicit_collection(msp_id: str) -> str:
    return f"_implicit_org_{msp_id}"


def _record_key(stub: Stub, grantee: str, purpose: str, consent_id: str) -> str:
    return stub.create_composite_key(CONSENT, [grantee, purpose, consent_id])


def _transient_json(stub: Stub, name: str, max_bytes: int) -> tuple[bytes, Any]:
    """The raw bytes under ``name`` in the transient map and their JSON value (strictly decoded:
    bounded size and depth, UTF-8, no duplicate keys; floats allowed, JSON-LD has ``@version``)."""
    raw = stub.transient.get(name)
    if not raw:
        raise InvalidArgument(f"pass the {name} in the transient map under '{name}' (it must not enter the block)")
    return raw, decode_json(raw, what=name, max_bytes=max_bytes, max_depth=6, allow_floats=True)


def get_consent(stub: Stub, consent_id: str) -> tuple[str, dict[str, Any]]:
    pointer = stub.get_json(stub.create_composite_key(CONSENT_ID, [consent_id]))
    if pointer is None:
        raise NotFound(f"no consent {consent_id}")
    key = _record_key(stub, pointer["grantee"], pointer["purpose"], consent_id)
    return key, stub.get_json(key)


def verify_revocation(jws: bytes, consent_id: str, commitment: str) -> str:
    """Check a compact JWS (EdDSA) by the consent's issuer asking to revoke ``consent_id``;
    returns the signer's did:key. The payload carries the consent's revocation key, which with
    the signer's DID must open the issuer commitment on the public record."""
    if len(jws) > MAX_REVOCATION:
        raise CredentialError(f"the revocation is {len(jws)} bytes; the limit is {MAX_REVOCATION}")
    try:
        parts = jws.decode("ascii").split(".")
    except UnicodeDecodeError:
        raise CredentialError("the revocation must be a compact JWS (ASCII)") from None
    if len(parts) != 3 or not all(JWS_PART.fullmatch(p) for p in parts):
        raise CredentialError("the revocation must be a compact JWS: three base64url parts")
    head_b64, body_b64, sig_b64 = parts
    try:
        header = decode_json(_b64url(head_b64), what="revocation header", max_bytes=512, max_depth=2)
        body = decode_json(_b64url(body_b64), what="revocation payload", max_bytes=512, max_depth=2)
        signature = _b64url(sig_b64)
    except (InvalidArgument, ValueError) as exc:
        raise CredentialError(f"the revocation JWS is not valid base64url JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("alg") != "EdDSA" or not isinstance(header.get("kid"), str):
        raise CredentialError("the revocation must be signed with EdDSA and name its key (kid)")
    if not isinstance(body, dict) or set(body) != {"consent_id", "action", "key"}:
        raise CredentialError("the revocation's payload must be exactly {consent_id, action, key}")
    if body["consent_id"] != consent_id or body["action"] != "revoke":
        raise CredentialError("the revocation's payload must name this consent and the action revoke")
    key = body["key"]
    if not isinstance(key, str) or not re.fullmatch(HEX64, key):
        raise CredentialError("the revocation's key must be 64 hex characters")
    did = header["kid"].split("#", 1)[0]
    if issuer_commitment(key, did) != commitment:
        raise CredentialError("the revocation is not signed by the patient who gave this consent, or its key is wrong")
    from cryptography.exceptions import InvalidSignature

    try:
        did_key_public(did).verify(signature, f"{head_b64}.{body_b64}".encode())
    except InvalidSignature:
        raise CredentialError("the revocation's signature does not verify") from None
    return did


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _day(ms: int) -> str:
    """The UTC date of a transaction timestamp, computed without the clock or time zones."""
    days = ms // 86_400_000
    # civil-from-days (proleptic Gregorian), so that every endorser gets the same text
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (1 if m <= 2 else 0)
    return f"{y:04d}-{m:02d}-{d:02d}"


class ConsentContract(Contract):
    name = "Consent"

    @transaction(Schema({}))
    def Register(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Register the consent credential in the transient map under 'credential'."""
        grantee = require_hospital(stub)
        raw, vc = _transient_json(stub, "credential", MAX_CREDENTIAL)
        try:
            terms = check_consent(vc, grantee, stub.timestamp_ms)  # the shape first, then JSON-LD
        except CredentialError as exc:
            raise InvalidArgument(f"consent credential refused: {exc}") from None
        consent_id = credential_id(vc)
        id_key = stub.create_composite_key(CONSENT_ID, [consent_id])
        if stub.get_json(id_key) is not None:  # the same signed consent, in this or any other encoding
            status = get_consent(stub, consent_id)[1]["status"]
            raise Conflict(f"consent {consent_id} is already registered ({status}); a consent is registered once")
        record = {
            "consent_id": consent_id,
            **terms,
            "status": "active",
            "registered_at_ms": stub.timestamp_ms,
            "registered_tx": stub.tx_id,
            "credential_sha256": hashlib.sha256(raw).hexdigest(),
        }
        stub.put_json(_record_key(stub, grantee, terms["purpose"], consent_id), record)
        stub.put_json(id_key, {"grantee": grantee, "purpose": terms["purpose"]})
        # the bytes exactly as verified (JSON-LD's "@version": 1.1 is a float: not canonical JSON)
        stub.put_private_data(implicit_collection(grantee), consent_id, raw)
        ledger_log.record(stub, "consent.registered", None, {"consent_id": consent_id, "purpose": terms["purpose"]})
        return record

    @transaction(ID_REF)
    def Revoke(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Relay a patient's revocation (a JWS in the transient map under 'revocation'); any
        hospital may relay it, the patient's signature decides."""
        require_hospital(stub)
        key, record = get_consent(stub, args["consent_id"])
        if record["status"] != "active":
            raise Conflict(f"consent {args['consent_id']} is already {record['status']}")
        raw = stub.transient.get("revocation")
        if not raw:
            raise InvalidArgument("pass the revocation JWS in the transient map under 'revocation'")
        try:
            verify_revocation(raw, args["consent_id"], record["issuer_commitment"])
        except CredentialError as exc:
            raise InvalidArgument(f"revocation refused: {exc}") from None
        record = {**record, "status": "revoked", "revoked_at_ms": stub.timestamp_ms, "revoked_tx": stub.tx_id}
        stub.put_json(key, record)
        ledger_log.record(stub, "consent.revoked", None, {"consent_id": args["consent_id"]}, org=record["grantee"])
        return record

    @transaction(ID_REF)
    def Erase(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Purge the credential from the grantee's private data; the grantee's admin only."""
        caller = require_hospital_admin(stub)
        key, record = get_consent(stub, args["consent_id"])
        if record["grantee"] != caller:
            raise Forbidden(f"only {record['grantee']}'s admin may erase this consent")
        if record["status"] == "erased":
            raise Conflict(f"consent {args['consent_id']} is already erased")
        stub.purge_private_data(implicit_collection(caller), args["consent_id"])
        record = {**record, "status": "erased", "erased_at_ms": stub.timestamp_ms, "erased_tx": stub.tx_id}
        stub.put_json(key, record)
        ledger_log.record(stub, "consent.erased", None, {"consent_id": args["consent_id"]})
        return record

    @query(ID_REF)
    def Get(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        return get_consent(stub, args["consent_id"])[1]

    @query(ID_REF)
    def GetCredential(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """The credential itself (its JSON text), for the grantee hospital (its own private
        data) only."""
        _, record = get_consent(stub, args["consent_id"])
        if stub.creator.msp_id != record["grantee"]:
            raise Forbidden("only the grantee hospital can read the credential")
        raw = stub.get_private_data(implicit_collection(record["grantee"]), args["consent_id"])
        if raw is None:
            raise NotFound(f"consent {args['consent_id']} has no credential in private data ({record['status']})")
        return {"credential_json": raw.decode()}

    @query(Schema({}))
    def Summary(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Counts only, for compliance officers: consents per purpose (a study), grantee, status
        and data category, and registrations, revocations and erasures per day. No consent id,
        issuer commitment or credential hash leaves in the answer."""
        counts: dict[str, dict[str, dict[str, Any]]] = {}
        days: dict[str, dict[str, int]] = {}
        scanned = 0
        for kv in stub.get_state_by_partial_composite_key(CONSENT, []):
            scanned += 1
            if scanned > MAX_SUMMARY:
                break
            r = canonical.loads(kv.value)
            row = counts.setdefault(r["purpose"], {}).setdefault(
                r["grantee"], {"active": 0, "revoked": 0, "erased": 0, "categories": {}}
            )
            row[r["status"]] = row.get(r["status"], 0) + 1
            for cat in r.get("data_categories", []):
                row["categories"][cat] = row["categories"].get(cat, 0) + 1
            for event, field in (("registered", "registered_at_ms"), ("revoked", "revoked_at_ms"),
                                 ("erased", "erased_at_ms")):  # fmt: skip
                if r.get(field) is not None:
                    day = _day(r[field])
                    days.setdefault(day, {"registered": 0, "revoked": 0, "erased": 0})[event] += 1
        return {"by_purpose": counts, "per_day": dict(sorted(days.items())),
                "truncated": scanned > MAX_SUMMARY}  # fmt: skip

    @query(LIST)
    def List(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """A page of a hospital's consents for a purpose: ids, window, status and when it was
        revoked or erased (the training gate decides validity at a round's start; the grantee
        resolves its own consents' subjects from its private data, ``GetCredential``)."""
        page = stub.get_state_by_partial_composite_key_with_pagination(
            CONSENT, [args["grantee"], args["purpose"]], args["page_size"], Page.bookmark_from_token(args["bookmark"])
        )
        fields = ("consent_id", "status", "from_ms", "until_ms", "data_categories")
        items = []
        for kv in page.items:
            record = canonical.loads(kv.value)
            items.append({**{k: record[k] for k in fields}, "revoked_at_ms": record.get("revoked_at_ms"),
                          "erased_at_ms": record.get("erased_at_ms")})  # fmt: skip
        return {"items": items, "bookmark": page.token}
