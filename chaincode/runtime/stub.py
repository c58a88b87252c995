"""The chaincode stub: the ledger calls a contract may make during one transaction.

``Stub`` holds everything that does not depend on where the ledger is (composite keys, JSON,
pagination rules, events, argument access); a subclass supplies the handful of primitive
calls. ``PeerStub`` (chaincode/runtime/peer_stub.py) answers them through the peer;
``MemoryStub`` (chaincode/runtime/testing.py) from an in-memory ledger for unit tests. Both
follow Fabric's semantics, with one deliberate addition:

* Fabric's peer answers reads from committed state only, so a contract that reads a key it
  already wrote in the same transaction sees the old value, and read-modify-write twice (for
  example paying three participants from one pool) silently loses updates. ``Stub`` keeps this
  transaction's writes in an overlay and answers point reads (get_state, get_private_data)
  from it first. The read set the peer records is unchanged (the first read of a key still goes
  to the peer), so endorsement and MVCC validation are exactly as without the overlay.
  Range queries and history still see committed state only.
* A transaction that ran a paginated query may not write (Fabric refuses it).
"""

from __future__ import annotations

import abc
import base64
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from chaincode.runtime import canonical, keys
from chaincode.runtime.errors import InvalidArgument
from chaincode.runtime.identity import ClientIdentity
from chaincode.runtime.proposal import TransactionContext

PUBLIC = ""  # the collection name Fabric uses for public world state
MAX_EVENT_NAME = 256


@dataclass(frozen=True)
class KV:
    key: str
    value: bytes


@dataclass(frozen=True)
class Page:
    """One page of a paginated query; ``bookmark`` is empty on the last page."""

    items: list[KV]
    bookmark: str

    @property
    def token(self) -> str:
        """The bookmark as an opaque, printable token for clients (composite keys hold U+0000)."""
        return base64.urlsafe_b64encode(self.bookmark.encode()).decode() if self.bookmark else ""

    @staticmethod
    def bookmark_from_token(token: str) -> str:
        if not token:
            return ""
        try:
            return base64.urlsafe_b64decode(token.encode()).decode()
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidArgument("bookmark is not a token returned by a previous page") from exc


@dataclass(frozen=True)
class KeyModification:
    """One historical version of a key, as ``GetHistoryForKey`` reports it."""

    tx_id: str
    value: bytes
    timestamp_seconds: int
    timestamp_nanos: int
    is_delete: bool


@dataclass(frozen=True)
class ChaincodeEvent:
    name: str
    payload: bytes


class Stub(abc.ABC):
    """Ledger access for one transaction. Contracts use only this interface."""

    def __init__(self, context: TransactionContext, args: Sequence[bytes]) -> None:
        self.context = context
        self.args = list(args)
        self.event: ChaincodeEvent | None = None
        self._paginated_query_done = False
        self._wrote = False
        self._overlay: dict[tuple[str, str], bytes | None] = {}

    # --- primitives a subclass supplies -----------------------------------------------------
    @abc.abstractmethod
    def _get(self, collection: str, key: str) -> bytes | None: ...

    @abc.abstractmethod
    def _write(self, collection: str, key: str, value: bytes | None) -> None:
        """Put ``value`` (or delete when None)."""

    @abc.abstractmethod
    def _purge(self, collection: str, key: str) -> None: ...

    @abc.abstractmethod
    def _get_hash(self, collection: str, key: str) -> bytes | None: ...

    @abc.abstractmethod
    def _range(self, collection: str, start: str, end: str, page_size: int, bookmark: str) -> Page:
        """Keys in [start, end); ``page_size`` 0 means all of them (bookmark unused)."""

    @abc.abstractmethod
    def _history(self, key: str) -> list[KeyModification]: ...

    # --- transaction facts ------------------------------------------------------------------
    @property
    def tx_id(self) -> str:
        return self.context.tx_id

    @property
    def channel_id(self) -> str:
        return self.context.channel_id

    @property
    def creator(self) -> ClientIdentity:
        return self.context.creator

    @property
    def timestamp_ms(self) -> int:
        """The transaction timestamp (client-chosen, checked by the peer): the only clock."""
        return self.context.timestamp_ms

    @property
    def transient(self) -> dict[str, bytes]:
        return self.context.transient

    # --- public state -----------------------------------------------------------------------
    def _read(self, collection: str, key: str) -> bytes | None:
        if (collection, key) in self._overlay:
            return self._overlay[(collection, key)]
        return self._get(collection, key)

    def _write_through(self, collection: str, key: str, value: bytes | None) -> None:
        self._before_write(key)
        self._overlay[(collection, key)] = value
        self._write(collection, key, value)

    def get_state(self, key: str) -> bytes | None:
        return self._read(PUBLIC, key)

    def put_state(self, key: str, value: bytes) -> None:
        if not isinstance(value, bytes):
            raise InvalidArgument("state values must be bytes")
        self._write_through(PUBLIC, key, value)

    def del_state(self, key: str) -> None:
        self._write_through(PUBLIC, key, None)

    def get_json(self, key: str) -> Any | None:
        raw = self.get_state(key)
        return None if raw is None else canonical.loads(raw)

    def put_json(self, key: str, value: Any) -> None:
        self.put_state(key, canonical.dumps(value))

    # --- composite keys and queries ---------------------------------------------------------
    @staticmethod
    def create_composite_key(object_type: str, attributes: Sequence[str]) -> str:
        return keys.create_composite_key(object_type, attributes)

    @staticmethod
    def split_composite_key(key: str) -> tuple[str, list[str]]:
        return keys.split_composite_key(key)

    def get_state_by_range(self, start: str, end: str) -> list[KV]:
        if start:
            keys.validate_simple_key(start)
        if end:
            keys.validate_simple_key(end)
        return self._range(PUBLIC, start or keys.EMPTY_KEY_SUBSTITUTE, end, 0, "").items

    def get_state_by_partial_composite_key(self, object_type: str, attributes: Sequence[str] = ()) -> list[KV]:
        start, end = keys.partial_key_range(object_type, attributes)
        return self._range(PUBLIC, start, end, 0, "").items

    def get_state_by_partial_composite_key_with_pagination(
        self, object_type: str, attributes: Sequence[str], page_size: int, bookmark: str = ""
    ) -> Page:
        """A page of keys; Fabric allows this only in read-only (evaluated) transactions."""
        if not 1 <= page_size <= 1000:
            raise InvalidArgument("page_size must be between 1 and 1000")
        if self._wrote:
            raise InvalidArgument("paginated queries are not allowed in a transaction that writes")
        self._paginated_query_done = True
        start, end = keys.partial_key_range(object_type, attributes)
        if bookmark and not (start <= bookmark < end):
            raise InvalidArgument("bookmark does not belong to this query")
        return self._range(PUBLIC, start, end, page_size, bookmark)

    def iter_partial_composite_key(self, object_type: str, attributes: Sequence[str] = ()) -> Iterator[KV]:
        yield from self.get_state_by_partial_composite_key(object_type, attributes)

    def get_history_for_key(self, key: str) -> list[KeyModification]:
        """Every committed version of ``key``, oldest first (needs the peer's history DB)."""
        return self._history(key)

    # --- private data -----------------------------------------------------------------------
    def get_private_data(self, collection: str, key: str) -> bytes | None:
        self._check_collection(collection)
        return self._read(collection, key)

    def put_private_data(self, collection: str, key: str, value: bytes) -> None:
        self._check_collection(collection)
        self._write_through(collection, key, value)

    def del_private_data(self, collection: str, key: str) -> None:
        self._check_collection(collection)
        self._write_through(collection, key, None)

    def purge_private_data(self, collection: str, key: str) -> None:
        """Delete the key and every historical version of it from every peer's private store."""
        self._check_collection(collection)
        self._before_write(key)
        self._overlay[(collection, key)] = None
        self._purge(collection, key)

    def get_private_data_hash(self, collection: str, key: str) -> bytes | None:
        """The SHA-256 of the private value, readable by orgs outside the collection."""
        self._check_collection(collection)
        return self._get_hash(collection, key)

    # --- events -----------------------------------------------------------------------------
    def set_event(self, name: str, payload: bytes) -> None:
        """Attach the transaction's chaincode event; Fabric keeps one, the last one set."""
        if not name or len(name) > MAX_EVENT_NAME:
            raise InvalidArgument("event name must be 1-256 characters")
        self.event = ChaincodeEvent(name, payload)

    # --- helpers ----------------------------------------------------------------------------
    def _before_write(self, key: str) -> None:
        if not isinstance(key, str) or not key:
            raise InvalidArgument("state key must be a non-empty string")
        if self._paginated_query_done:
            raise InvalidArgument("a transaction that ran a paginated query may not write")
        self._wrote = True

    @staticmethod
    def _check_collection(collection: str) -> None:
        if not collection:
            raise InvalidArgument("private data needs a collection name")
