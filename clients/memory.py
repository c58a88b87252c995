"""In-memory stand-ins for the systems clients/ talks to, so that unit tests can run the agent's
real code (its worker, round modes and vault) in one process without Fabric or Kubo.

* :class:`MemoryBlobStore` answers Kubo's ``add`` / ``cat`` / ``unpin`` with content-derived
  CIDs of the shape Kubo returns (CIDv1, raw, base32), shared by every hospital in a test.
* :class:`MemoryNetwork` and :class:`MemoryContract` are ``clients.fabric.Network`` and
  ``Contract``-shaped fronts of one identity on chaincode/runtime/testing.py's
  ``InMemoryLedger`` running the real contracts (``LedgerClient(MemoryNetwork(...), name)``
  works as on Fabric): ``evaluate`` commits nothing, ``submit`` commits, and a refusal raises
  the same ``EndorseError`` (with the contract's status) that a Fabric gateway raises.

Test doubles only: every behaviour that matters is also tested on the real network and Kubo.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaincode.runtime.contract import Router
from chaincode.runtime.identity import ClientIdentity
from chaincode.runtime.testing import InMemoryLedger, Result
from clients.fabric.contract import SubmitResult
from clients.fabric.errors import EndorseError, EvaluateError, PeerDetail
from clients.kubo import DEFAULT_MAX_BYTES, IPFSError


@dataclass
class MemoryBlobStore:
    blobs: dict[str, bytes] = field(default_factory=dict)
    pinned: set[str] = field(default_factory=set)

    def add(self, data: bytes, pin: bool = True) -> str:
        digest = base64.b32encode(hashlib.sha256(data).digest()).decode().lower().rstrip("=")
        cid = "bafkrei" + digest[:52]
        self.blobs[cid] = bytes(data)
        if pin:
            self.pinned.add(cid)
        return cid

    def cat(self, cid: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
        if cid not in self.blobs:
            raise IPFSError(f"cat {cid}: block not found")
        data = self.blobs[cid]
        if len(data) > max_bytes:
            raise IPFSError(f"cat {cid}: more than {max_bytes} bytes")
        return data

    def unpin(self, cid: str) -> None:
        self.pinned.discard(cid)


@dataclass
class MemoryContract:
    """One contract of the in-memory ledger as ``caller`` sees it; ``clock`` gives each call's
    transaction timestamp (ms)."""

    ledger: InMemoryLedger
    router: Router
    caller: ClientIdentity
    name: str
    clock: Callable[[], int]

    def _call(self, function: str, arg: Any | None, commit: bool, transient: dict[str, bytes] | None) -> Result:
        return self.ledger.invoke(self.router, self.caller, f"{self.name}:{function}", arg,
                                  timestamp_ms=self.clock(), transient=transient, commit=commit)  # fmt: skip

    def evaluate(self, function: str, arg: Any | None = None, *, target_orgs: Sequence[str] = ()) -> Any:
        res = self._call(function, arg, False, None)
        if not res.ok:
            raise EvaluateError(f"evaluate {self.name}:{function} failed", details=(_detail(self.caller, res),))
        return res.json()

    def submit(self, function: str, arg: Any | None = None, *, transient: dict[str, bytes] | None = None,
               endorsing_orgs: Sequence[str] = (), **_: Any) -> SubmitResult:  # fmt: skip
        res = self._call(function, arg, True, transient)
        if not res.ok:
            raise EndorseError(f"endorse {self.name}:{function} failed", details=(_detail(self.caller, res),))
        return SubmitResult(tx_id=res.tx_id, block_number=len(self.ledger.events), payload=res.payload, attempts=1)


@dataclass
class MemoryNetwork:
    """A ``clients.fabric.Network``-shaped front: ``contract`` hands out :class:`MemoryContract`
    handles of ``caller``, so that clients/ledger's ``LedgerClient`` runs on the in-memory ledger."""

    ledger: InMemoryLedger
    router: Router
    caller: ClientIdentity
    clock: Callable[[], int]

    def contract(self, chaincode: str, contract_name: str = "") -> MemoryContract:
        return MemoryContract(self.ledger, self.router, self.caller, contract_name, self.clock)


def _detail(caller: ClientIdentity, res: Result) -> PeerDetail:
    # the wording a Fabric peer uses, so that GatewayError.chaincode_status finds the status
    return PeerDetail("memory", caller.msp_id, f"chaincode response {res.status}, {res.message}")
