"""Contracts and the router that turns a chaincode invocation into a contract call.

An invocation's first argument names ``Contract:Function``; the optional second is a JSON
object, decoded strictly (chaincode/runtime/arguments.py: size, UTF-8, depth, duplicate keys,
forbidden characters) and validated by the function's :class:`Schema`; a refusal names the
function. The return value is sent back as
canonical JSON. A :class:`ContractError` becomes an error response with its status and
message; anything else becomes status 500 with the exception's text, and in both cases the
peer discards the writes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from chaincode.runtime import canonical
from chaincode.runtime.arguments import decode_json
from chaincode.runtime.errors import ContractError, InvalidArgument, NotFound, PeerError
from chaincode.runtime.schema import EMPTY, Schema
from chaincode.runtime.stub import Stub

log = logging.getLogger("fedledger.chaincode")

MAX_ARG_BYTES = 256 * 1024  # one call's argument object; bigger artifacts belong on IPFS
MAX_ARGS = 2
MAX_FUNCTION_NAME = 80
FUNCTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*:[A-Za-z][A-Za-z0-9]*")

TxFunc = Callable[..., Any]


@dataclass(frozen=True)
class TransactionSpec:
    name: str
    schema: Schema
    submit: bool  # False for read-only queries


def transaction(schema: Schema = EMPTY, *, name: str | None = None) -> Callable[[TxFunc], TxFunc]:
    """Mark a method as a submit transaction taking ``(self, stub, args)``."""

    def mark(fn: TxFunc) -> TxFunc:
        fn.__fedledger_tx__ = TransactionSpec(name or fn.__name__, schema, True)  # type: ignore[attr-defined]
        return fn

    return mark


def query(schema: Schema = EMPTY, *, name: str | None = None) -> Callable[[TxFunc], TxFunc]:
    """Mark a method as a read-only query taking ``(self, stub, args)``."""

    def mark(fn: TxFunc) -> TxFunc:
        fn.__fedledger_tx__ = TransactionSpec(name or fn.__name__, schema, False)  # type: ignore[attr-defined]
        return fn

    return mark


class Contract:
    """Base class: a named group of transactions. Subclasses set ``name``."""

    name = ""

    def transactions(self) -> dict[str, tuple[TransactionSpec, TxFunc]]:
        found: dict[str, tuple[TransactionSpec, TxFunc]] = {}
        for attr in dir(type(self)):
            fn = getattr(self, attr)
            spec = getattr(fn, "__fedledger_tx__", None)
            if isinstance(spec, TransactionSpec):
                found[spec.name] = (spec, fn)
        return found


class Router:
    """Dispatches invocations to contracts; the chaincode's single entry point."""

    def __init__(self, contracts: Iterable[Contract]) -> None:
        self._table: dict[str, tuple[TransactionSpec, TxFunc]] = {}
        for contract in contracts:
            if not contract.name or ":" in contract.name:
                raise ValueError(f"bad contract name {contract.name!r}")
            for fname, entry in contract.transactions().items():
                self._table[f"{contract.name}:{fname}"] = entry

    @property
    def functions(self) -> list[str]:
        return sorted(self._table)

    def invoke(self, stub: Stub) -> tuple[int, str, bytes]:
        """Run one invocation; returns (status, message, payload)."""
        try:
            result = self._call(stub)
            payload = b"" if result is None else canonical.dumps(result)
            return 200, "", payload
        except ContractError as exc:
            log.info("tx %s refused (%d): %s", stub.tx_id[:12], exc.status, exc.message)
            return exc.status, exc.message, b""
        except PeerError as exc:
            log.warning("tx %s: peer refused a ledger call: %s", stub.tx_id[:12], exc)
            return 500, f"ledger call failed: {exc}", b""
        except canonical.CanonicalJSONError as exc:
            return 400, str(exc), b""
        except Exception as exc:
            log.exception("tx %s crashed", stub.tx_id[:12])
            return 500, f"internal error: {type(exc).__name__}: {exc}", b""

    def _call(self, stub: Stub) -> Any:
        args = stub.args
        if not args:
            raise InvalidArgument("no function name given")
        if len(args) > MAX_ARGS:
            raise InvalidArgument(f"expected at most {MAX_ARGS} arguments (function and one JSON object)")
        fname = self._function_name(args[0])
        entry = self._table.get(fname)
        if entry is None:
            raise NotFound(f"unknown function {fname!r}; known: {', '.join(self.functions)}")
        spec, fn = entry
        try:
            raw: Any = {}
            if len(args) == 2:
                raw = decode_json(args[1], what="argument object", max_bytes=MAX_ARG_BYTES)
            parsed = spec.schema.parse(raw)
        except InvalidArgument as exc:
            raise InvalidArgument(f"{fname}: {exc.message}") from None
        return fn(stub, parsed)

    @staticmethod
    def _function_name(raw: bytes) -> str:
        if len(raw) > MAX_FUNCTION_NAME:
            raise InvalidArgument(f"the function name is {len(raw)} bytes; the limit is {MAX_FUNCTION_NAME}")
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgument("the function name is not UTF-8") from None
        if not FUNCTION_NAME.fullmatch(name):
            raise InvalidArgument(f"{name!a} is not a function name (expected Contract:Function)")
        return name
