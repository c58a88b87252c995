"""Hospital registry: who is in the consortium and how to reach them.

Each hospital org keeps one entry, written only by that org's admin: display name, the X25519
key that aggregation shares are encrypted to, an optional Ed25519 signing key, its IPFS peer
id and a contact address. Everyone on the channel, the Regulator included, can read it.

State schema::

    org~<msp_id>   -> canonical JSON of the entry (see ``_entry``)

Events: ``registry.registered`` and ``registry.updated`` with ``{msp_id, version}``.
"""

from __future__ import annotations

from typing import Any

from chaincode.contracts.access import require_hospital_admin, require_own_org
from chaincode.runtime import canonical
from chaincode.runtime.contract import Contract, query, transaction
from chaincode.runtime.errors import Conflict, Forbidden, NotFound
from chaincode.runtime.schema import B64Key, Schema, Str
from chaincode.runtime.stub import Stub

ORG_KEY = "org"
MSP_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
IPFS_PEER_ID = r"(12D3KooW|Qm)[1-9A-HJ-NP-Za-km-z]{38,60}"
CONTACT = r"[^@\s]{1,64}@[A-Za-z0-9.-]{1,190}"

ENTRY_FIELDS = {
    "display_name": Str(max_len=120),
    "share_key": B64Key(32),
    "signing_key": B64Key(32, required=False),
    "ipfs_peer_id": Str(max_len=80, pattern=IPFS_PEER_ID, required=False),
    "contact": Str(max_len=254, pattern=CONTACT),
}
WRITE = Schema({"msp_id": Str(max_len=64, pattern=MSP_ID), **ENTRY_FIELDS})
GET = Schema({"msp_id": Str(max_len=64, pattern=MSP_ID)})


def registered_hospitals(stub: Stub) -> list[str]:
    """MSP IDs of every registered hospital, sorted (the electorate for majority votes)."""
    return [stub.split_composite_key(kv.key)[1][0] for kv in stub.get_state_by_partial_composite_key(ORG_KEY)]


def is_registered(stub: Stub, msp_id: str) -> bool:
    return stub.get_state(stub.create_composite_key(ORG_KEY, [msp_id])) is not None


def require_registered(stub: Stub, msp_id: str) -> None:
    if not is_registered(stub, msp_id):
        raise Forbidden(f"{msp_id} is not a registered hospital; its admin must call Registry:Register first")


def majority(n: int) -> int:
    """Smallest number of votes that is more than half of ``n``."""
    return n // 2 + 1


class RegistryContract(Contract):
    name = "Registry"

    @staticmethod
    def _key(stub: Stub, msp_id: str) -> str:
        return stub.create_composite_key(ORG_KEY, [msp_id])

    @staticmethod
    def _entry(stub: Stub, args: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "msp_id": args["msp_id"],
            "display_name": args["display_name"],
            "share_key": args["share_key"],
            "signing_key": args["signing_key"],
            "ipfs_peer_id": args["ipfs_peer_id"],
            "contact": args["contact"],
            "registered_at_ms": previous["registered_at_ms"] if previous else stub.timestamp_ms,
            "updated_at_ms": stub.timestamp_ms,
            "updated_by": stub.creator.id,
            "version": (previous["version"] + 1) if previous else 1,
            "tx_id": stub.tx_id,
        }

    def _write(self, stub: Stub, args: dict[str, Any], create: bool) -> dict[str, Any]:
        require_hospital_admin(stub)
        require_own_org(stub, args["msp_id"])
        key = self._key(stub, args["msp_id"])
        previous = stub.get_json(key)
        if create and previous is not None:
            raise Conflict(f"{args['msp_id']} is already registered (version {previous['version']}); use Update")
        if not create and previous is None:
            raise NotFound(f"{args['msp_id']} is not registered; use Register")
        entry = self._entry(stub, args, previous)
        stub.put_json(key, entry)
        event = "registry.registered" if create else "registry.updated"
        stub.set_event(event, canonical.dumps({"msp_id": entry["msp_id"], "version": entry["version"]}))
        return entry

    @transaction(WRITE)
    def Register(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Add the caller's own org to the registry (org admin only)."""
        return self._write(stub, args, create=True)

    @transaction(WRITE)
    def Update(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Replace the caller's own entry; the version number goes up by one."""
        return self._write(stub, args, create=False)

    @query(GET)
    def Get(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        entry = stub.get_json(self._key(stub, args["msp_id"]))
        if entry is None:
            raise NotFound(f"{args['msp_id']} is not registered")
        return entry

    @query()
    def List(self, stub: Stub, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Every registered org, ordered by MSP ID."""
        return [canonical.loads(kv.value) for kv in stub.get_state_by_partial_composite_key(ORG_KEY)]

    @query(GET)
    def History(self, stub: Stub, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Every committed version of an org's entry, oldest first, for compliance review."""
        out = []
        for mod in stub.get_history_for_key(self._key(stub, args["msp_id"])):
            out.append(
                {
                    "tx_id": mod.tx_id,
                    "timestamp_s": mod.timestamp_seconds,
                    "deleted": mod.is_delete,
                    "entry": None if mod.is_delete else canonical.loads(mod.value),
                }
            )
        return out
