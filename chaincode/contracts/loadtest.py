"""A load-test contract for `fedledger bench ledger`: registry-style writes to many keys.

The registry holds one entry per org, so it cannot be written by 16 concurrent clients without
every write conflicting on the same key. This contract validates the same entry fields as the
registry, checks the caller the same way, writes canonical JSON and emits an event, but to a
key per (client, sequence). It is served only by chaincode services started with
FEDLEDGER_TEST_CONTRACTS=1, which only the benchmark's own throw-away network sets.

State schema::

    loadtest~<client>~<seq:012d> -> canonical JSON entry
"""

from __future__ import annotations

from typing import Any

from chaincode.contracts.access import require_hospital
from chaincode.contracts.registry import ENTRY_FIELDS, MSP_ID
from chaincode.runtime import canonical
from chaincode.runtime.contract import Contract, transaction
from chaincode.runtime.errors import Conflict
from chaincode.runtime.schema import Int, Schema, Str
from chaincode.runtime.stub import Stub

PUT = Schema({"client": Str(max_len=64, pattern=MSP_ID), "seq": Int(0, 10**11), **ENTRY_FIELDS})


class LoadTestContract(Contract):
    name = "LoadTest"

    @transaction(PUT)
    def Put(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        msp_id = require_hospital(stub)
        key = stub.create_composite_key("loadtest", [args["client"], f"{args['seq']:012d}"])
        if stub.get_state(key) is not None:
            raise Conflict("already written")
        entry = {**args, "msp_id": msp_id, "written_at_ms": stub.timestamp_ms, "tx_id": stub.tx_id}
        stub.put_json(key, entry)
        stub.set_event("loadtest.put", canonical.dumps({"client": args["client"], "seq": args["seq"]}))
        return {"seq": args["seq"]}
