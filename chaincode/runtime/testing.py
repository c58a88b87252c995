"""An in-memory ledger for fast unit tests of contract logic.

It follows the Fabric rules contracts can observe: reads return committed state only; a
refused call (status >= 400) commits nothing; history keeps every committed version; one
event per transaction; and, for transactions ordered into one block (:meth:`InMemoryLedger.block`),
the peers' validation: a transaction that read a key, or scanned a range, that an earlier
valid transaction of the block wrote is invalid (MVCC_READ_CONFLICT, PHANTOM_READ_CONFLICT)
and commits nothing. It is a test double only: every behaviour that matters is also tested
on the real network (tests/integration).
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chaincode.runtime import canonical
from chaincode.runtime.contract import Router
from chaincode.runtime.identity import FABRIC_CA_ATTRS_OID, ClientIdentity, identity_from_cert
from chaincode.runtime.proposal import TransactionContext
from chaincode.runtime.stub import KV, ChaincodeEvent, KeyModification, Page, Stub

_Key = tuple[str, str]  # (collection, key)


def make_identity(
    msp_id: str,
    ou: str | None = "admin",
    cn: str | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
    attributes: dict[str, str] | None = None,
) -> ClientIdentity:
    """A throwaway self-signed identity with the given NodeOU (and Fabric CA attributes), for tests.
    ``ou=None`` makes a certificate without any OU, as an MSP without NodeOUs issues."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    role = [] if ou is None else [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou)]
    name = x509.Name([*role, x509.NameAttribute(NameOID.COMMON_NAME, cn or f"{ou or 'user'}@{msp_id.lower()}")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
    )
    if attributes:
        value = json.dumps({"attrs": attributes}).encode()
        builder = builder.add_extension(x509.UnrecognizedExtension(FABRIC_CA_ATTRS_OID, value), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return identity_from_cert(msp_id, cert.public_bytes(serialization.Encoding.PEM))


@dataclass
class Result:
    status: int
    message: str
    payload: bytes
    event: ChaincodeEvent | None
    tx_id: str

    validation: str = "VALID"  # what the peers recorded for it in its block (see InMemoryLedger.block)

    @property
    def ok(self) -> bool:
        return self.status < 400 and self.validation == "VALID"

    def json(self) -> Any:
        return canonical.loads(self.payload) if self.payload else None


@dataclass
class InMemoryLedger:
    state: dict[_Key, bytes] = field(default_factory=dict)
    history: dict[str, list[KeyModification]] = field(default_factory=dict)
    events: list[ChaincodeEvent] = field(default_factory=list)
    channel_id: str = "fedledger"
    _tx_counter: itertools.count = field(default_factory=itertools.count)

    def invoke(
        self,
        router: Router,
        caller: ClientIdentity,
        function: str,
        args: Any | None = None,
        *,
        timestamp_ms: int = 1_767_225_600_000,
        transient: dict[str, bytes] | None = None,
        raw_args: Sequence[bytes] | None = None,
        commit: bool = True,
    ) -> Result:
        """Run one transaction; commit its writes only if it succeeded (and ``commit``: a query,
        like a Fabric evaluate, runs the contract and commits nothing)."""
        stub = self._run(router, caller, function, args, timestamp_ms, transient, raw_args)
        status, message, payload = stub.outcome
        if status < 400 and commit:
            stub.commit()
            if stub.event is not None:
                self.events.append(stub.event)
        return Result(status, message, payload, stub.event if status < 400 else None, stub.tx_id)

    def block(self, router: Router, calls: Sequence[tuple[ClientIdentity, str, Any]], *,
              timestamp_ms: int = 1_767_225_600_000) -> list[Result]:  # fmt: skip
        """Endorse every call against the same committed state, then validate them in order as
        the peers validate one block: a transaction whose reads or range scans saw a key an
        earlier valid transaction of the block wrote is marked invalid and commits nothing."""
        endorsed = []
        for caller, function, args in calls:
            stub = self._run(router, caller, function, args, timestamp_ms, None, None)
            endorsed.append(stub)
        written: set[_Key] = set()
        out = []
        for stub in endorsed:
            status, message, payload = stub.outcome
            validation = "VALID"
            if status < 400:
                if written & stub.reads:
                    validation = "MVCC_READ_CONFLICT"
                elif any(c == rc and k >= lo and (not hi or k < hi) for c, k in written for rc, lo, hi in stub.scans):
                    validation = "PHANTOM_READ_CONFLICT"
                if validation == "VALID":
                    stub.commit()
                    written |= set(stub._writes) | stub._purges
                    if stub.event is not None:
                        self.events.append(stub.event)
            out.append(Result(status, message, payload, stub.event if status < 400 else None, stub.tx_id, validation))
        return out

    def _run(self, router: Router, caller: ClientIdentity, function: str, args: Any | None, timestamp_ms: int,
             transient: dict[str, bytes] | None, raw_args: Sequence[bytes] | None) -> MemoryStub:  # fmt: skip
        tx_id = hashlib.sha256(f"tx-{next(self._tx_counter)}".encode()).hexdigest()
        context = TransactionContext(
            channel_id=self.channel_id,
            tx_id=tx_id,
            timestamp_seconds=timestamp_ms // 1000,
            timestamp_nanos=(timestamp_ms % 1000) * 1_000_000,
            creator=caller,
            transient=transient or {},
        )
        if raw_args is None:
            raw_args = [function.encode()] + ([] if args is None else [canonical.dumps(args)])
        stub = MemoryStub(self, context, raw_args)
        stub.outcome = router.invoke(stub)
        return stub

    def public_snapshot(self) -> dict[str, bytes]:
        return {k: v for (c, k), v in self.state.items() if c == ""}


class MemoryStub(Stub):
    def __init__(self, ledger: InMemoryLedger, context: TransactionContext, args: Sequence[bytes]) -> None:
        super().__init__(context, args)
        self._ledger = ledger
        self._writes: dict[_Key, bytes | None] = {}
        self._purges: set[_Key] = set()
        self.reads: set[_Key] = set()  # committed keys read (what MVCC validation checks)
        self.scans: list[tuple[str, str, str]] = []  # (collection, start, end) of range reads (phantoms)
        self.outcome: tuple[int, str, bytes] = (500, "not run", b"")

    def _get(self, collection: str, key: str) -> bytes | None:
        self.reads.add((collection, key))
        return self._ledger.state.get((collection, key))

    def _write(self, collection: str, key: str, value: bytes | None) -> None:
        self._writes[(collection, key)] = value

    def _purge(self, collection: str, key: str) -> None:
        self._purges.add((collection, key))

    def _get_hash(self, collection: str, key: str) -> bytes | None:
        self.reads.add((collection, key))
        value = self._ledger.state.get((collection, key))
        return None if value is None else hashlib.sha256(value).digest()

    def _range(self, collection: str, start: str, end: str, page_size: int, bookmark: str) -> Page:
        lo = bookmark or start
        self.scans.append((collection, lo, end))
        keys = sorted(k for (c, k) in self._ledger.state if c == collection and k >= lo and (not end or k < end))
        if page_size:
            page, rest = keys[:page_size], keys[page_size:]
            items = [KV(k, self._ledger.state[(collection, k)]) for k in page]
            return Page(items, rest[0] if rest else "")
        return Page([KV(k, self._ledger.state[(collection, k)]) for k in keys], "")

    def _history(self, key: str) -> list[KeyModification]:
        return list(self._ledger.history.get(key, []))

    def commit(self) -> None:
        ts = self.context
        for (collection, key), value in self._writes.items():
            if value is None:
                self._ledger.state.pop((collection, key), None)
            else:
                self._ledger.state[(collection, key)] = value
            if collection == "":
                self._ledger.history.setdefault(key, []).append(
                    KeyModification(ts.tx_id, value or b"", ts.timestamp_seconds, ts.timestamp_nanos, value is None)
                )
        for collection, key in self._purges:
            self._ledger.state.pop((collection, key), None)
