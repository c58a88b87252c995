"""Runtime self-checks against a real peer: private data, purge, hashes, pagination.

The governance contracts that need these calls (consent details in private data, erasure by
purge) arrive in later issues; this contract lets the integration tests prove today that the
runtime's private-data and pagination paths work against a real peer. Like LoadTest, it is
served only by chaincode services started with FEDLEDGER_TEST_CONTRACTS=1 (the test and
benchmark networks), never by the demo's or a production network.

Private values travel in the transient map (key ``value``), so they never appear in the
transaction's arguments, and they live in the caller's implicit org collection
``_implicit_org_<MSPID>``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from chaincode.contracts.access import require_hospital
from chaincode.runtime import canonical
from chaincode.runtime.contract import Contract, query, transaction
from chaincode.runtime.errors import InvalidArgument, NotFound
from chaincode.runtime.schema import Int, Schema, Str
from chaincode.runtime.stub import Page, Stub

KEY = Schema({"key": Str(max_len=64, pattern=r"[A-Za-z0-9_-]+")})
PAGE = Schema(
    {
        "prefix": Str(max_len=64, pattern=r"[A-Za-z0-9_-]+"),
        "page_size": Int(1, 100),
        "bookmark": Str(max_len=300, min_len=0, required=False, default=""),
    }
)
FILL = Schema({"prefix": Str(max_len=64, pattern=r"[A-Za-z0-9_-]+"), "count": Int(1, 100)})


def implicit_collection(msp_id: str) -> str:
    return f"_implicit_org_{msp_id}"


class DiagnosticsContract(Contract):
    name = "Diagnostics"

    @transaction(KEY)
    def PutPrivate(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        msp_id = require_hospital(stub)
        value = stub.transient.get("value")
        if not value:
            raise InvalidArgument("the private value must be passed in the transient map under 'value'")
        stub.put_private_data(implicit_collection(msp_id), args["key"], value)
        stub.set_event("diagnostics.private_put", canonical.dumps({"key": args["key"]}))
        return {"sha256": hashlib.sha256(value).hexdigest()}

    @query(KEY)
    def GetPrivate(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        value = stub.get_private_data(implicit_collection(stub.creator.msp_id), args["key"])
        if value is None:
            raise NotFound(f"no private value under {args['key']}")
        return {"value": value.decode(errors="replace")}

    @query(Schema({"key": KEY.fields["key"], "msp_id": Str(max_len=64)}))
    def GetPrivateHash(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        digest = stub.get_private_data_hash(implicit_collection(args["msp_id"]), args["key"])
        return {"sha256": digest.hex() if digest else None}

    @transaction(KEY)
    def PurgePrivate(self, stub: Stub, args: dict[str, Any]) -> None:
        msp_id = require_hospital(stub)
        stub.purge_private_data(implicit_collection(msp_id), args["key"])

    @transaction(FILL)
    def Fill(self, stub: Stub, args: dict[str, Any]) -> None:
        require_hospital(stub)
        for i in range(args["count"]):
            stub.put_json(stub.create_composite_key("diag", [args["prefix"], f"{i:04d}"]), {"i": i})

    @query(PAGE)
    def Page(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        page = stub.get_state_by_partial_composite_key_with_pagination(
            "diag", [args["prefix"]], args["page_size"], Page.bookmark_from_token(args["bookmark"])
        )
        return {"items": [canonical.loads(kv.value)["i"] for kv in page.items], "bookmark": page.token}
