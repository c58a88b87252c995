"""Verifying keys of the training-step circuits, with the record of the ceremony that made them.

A hospital admin registers a key after the consortium's setup ceremony (zk/ceremony: every
hospital contributed to both phases); the key is stored under its SHA-256, which is what an
audited study pins (``zk_vk_hash``): the study's majority approval is the consortium's
acceptance of that key. The ceremony record (the SHA-256 of every phase-1 and phase-2
transcript, who contributed, the beacons) lets anyone holding the transcripts re-verify it.

State::

    zkkey~<sha256 of vk>  -> {circuit, vk (base64), ceremony, registered_by, registered_at_ms}
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

from chaincode.contracts import ledger_log, zk_audit, zk_circuits
from chaincode.contracts.access import require_hospital_admin
from chaincode.contracts.registry import MSP_ID, require_registered
from chaincode.contracts.studies import HEX64
from chaincode.runtime.contract import Contract, query, transaction
from chaincode.runtime.errors import Conflict, InvalidArgument, NotFound
from chaincode.runtime.schema import Field, Schema, Str
from chaincode.runtime.stub import Stub

CIRCUIT = zk_circuits.KEY_PATTERN
MAX_VK_BYTES = 4096


class Ceremony(Field):
    """{"phase1": [sha256...], "phase2": [sha256...], "contributors": [MSP...], "beacon1": hex,
    "beacon2": hex}"""

    def check(self, name: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or set(value) != {"phase1", "phase2", "contributors", "beacon1", "beacon2"}:
            raise InvalidArgument(f"{name} must have phase1, phase2, contributors, beacon1 and beacon2")
        out: dict[str, Any] = {}
        for phase in ("phase1", "phase2"):
            hashes = value[phase]
            if not isinstance(hashes, list) or not 1 <= len(hashes) <= 64:
                raise InvalidArgument(f"{name}.{phase} must list 1..64 transcript hashes")
            out[phase] = [Str(pattern=HEX64).check(f"{name}.{phase}[{i}]", h) for i, h in enumerate(hashes)]
        people = value["contributors"]
        if not isinstance(people, list) or not 1 <= len(people) <= 64:
            raise InvalidArgument(f"{name}.contributors must list 1..64 MSP IDs")
        out["contributors"] = [Str(max_len=64, pattern=MSP_ID).check(f"{name}.contributors", m) for m in people]
        for beacon in ("beacon1", "beacon2"):
            out[beacon] = Str(max_len=128, pattern=r"[0-9a-f]{2,128}").check(f"{name}.{beacon}", value[beacon])
        return out


def load_problem(circuit: str, vk_b64: str) -> str | None:
    """Why the verifier cannot load ``vk_b64`` (None when it can). Under a key it cannot load
    every proof would be an infrastructure failure, and every audited participant of a study
    pinning the key would fail its audit at the prove deadline and be slashed. A missing
    verifier raises :class:`zk_audit.VerifierUnavailable`, as it does for proofs."""
    path = os.environ.get("FEDLEDGER_ZK")
    if not path or not os.path.exists(path):
        raise zk_audit.VerifierUnavailable("fedledger-zk is not installed where the chaincode runs (FEDLEDGER_ZK)")
    try:
        zk_audit.verify_proofs(circuit, vk_b64, [])
    except zk_audit.VerifierUnavailable as exc:
        if not str(exc).startswith("fedledger-zk verify failed: "):
            raise  # the verifier did not run (timeout, missing): an infrastructure fault, not the key's
        return str(exc).removeprefix("fedledger-zk verify failed: ").strip()[:200]
    return None


def get_key(stub: Stub, vk_hash: str) -> dict[str, Any]:
    record = stub.get_json(stub.create_composite_key("zkkey", [vk_hash]))
    if record is None:
        raise NotFound(f"no verifying key {vk_hash[:12]}... is registered")
    return record


class ZkContract(Contract):
    name = "Zk"

    @transaction(Schema({"circuit": Str(max_len=40, pattern=CIRCUIT), "vk": Str(max_len=2 * MAX_VK_BYTES),
                         "ceremony": Ceremony()}))  # fmt: skip
    def RegisterKey(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Store a circuit's verifying key under its SHA-256, with its ceremony record."""
        msp_id = require_hospital_admin(stub)
        require_registered(stub, msp_id)
        try:
            zk_circuits.check_key_circuit(args["circuit"])
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from exc
        try:
            raw = base64.b64decode(args["vk"], validate=True)
        except ValueError as exc:
            raise InvalidArgument("vk is not valid base64") from exc
        if not 64 <= len(raw) <= MAX_VK_BYTES:
            raise InvalidArgument(f"vk must be 64..{MAX_VK_BYTES} bytes, got {len(raw)}")
        digest = hashlib.sha256(raw).hexdigest()
        key = stub.create_composite_key("zkkey", [digest])
        if stub.get_state(key) is not None:
            raise Conflict(f"verifying key {digest[:12]}... is already registered")
        problem = load_problem(args["circuit"], args["vk"])
        if problem:
            raise InvalidArgument(f"vk is not a verifying key the verifier can load: {problem}")
        record = {"vk_hash": digest, "circuit": args["circuit"], "vk": args["vk"], "ceremony": args["ceremony"],
                  "registered_by": msp_id, "registered_at_ms": stub.timestamp_ms}  # fmt: skip
        stub.put_json(key, record)
        ledger_log.record(stub, "zk.key_registered", None, {"vk_hash": digest, "circuit": args["circuit"]})
        return record

    @query(Schema({"vk_hash": Str(pattern=HEX64)}))
    def GetKey(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        return get_key(stub, args["vk_hash"])
