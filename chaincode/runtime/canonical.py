"""Canonical JSON: the one byte encoding of values that endorsers must agree on.

Every endorsing peer runs the same contract independently; if two of them serialised the same
value with different key order or spacing, their write sets would differ and the transaction
would fail validation. Floats are refused outright: values endorsers must agree on are
integers or fixed point.
"""

from __future__ import annotations

import json
from typing import Any


class CanonicalJSONError(ValueError):
    """A value that has no canonical encoding (a float, NaN, a non-string key...)."""


def _check(value: Any, path: str) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return
    if isinstance(value, float):
        raise CanonicalJSONError(f"{path}: floats are not allowed in ledger values; use integers or fixed point")
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJSONError(f"{path}: object keys must be strings, got {type(key).__name__}")
            _check(item, f"{path}.{key}")
        return
    raise CanonicalJSONError(f"{path}: {type(value).__name__} is not a JSON value")


def dumps(value: Any) -> bytes:
    """Encode ``value`` as canonical JSON bytes (sorted keys, no spaces, UTF-8)."""
    _check(value, "$")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def loads(data: bytes | str) -> Any:
    """Decode JSON, refusing floats, NaN and Infinity so that stored values stay canonical."""

    def no_float(text: str) -> Any:
        raise CanonicalJSONError(f"floats are not allowed: {text}")

    def no_constant(text: str) -> Any:
        raise CanonicalJSONError(f"{text} is not allowed")

    return json.loads(data, parse_float=no_float, parse_constant=no_constant)
