"""Composite keys, byte-compatible with Fabric's Go shim.

A composite key is ``\\x00`` + object type + ``\\x00`` + each attribute + ``\\x00``. Keeping the
exact encoding lets the peer's range queries, history and any Go tooling read our keys.
"""

from __future__ import annotations

from collections.abc import Sequence

from chaincode.runtime.errors import InvalidArgument

NAMESPACE = "\x00"
MIN_RUNE = "\x00"
MAX_RUNE = "\U0010ffff"
EMPTY_KEY_SUBSTITUTE = "\x01"


def _validate_part(part: str) -> None:
    if not isinstance(part, str):
        raise InvalidArgument(f"composite key parts must be strings, got {type(part).__name__}")
    if MIN_RUNE in part or MAX_RUNE in part:
        raise InvalidArgument("composite key parts may not contain U+0000 or U+10FFFF")


def create_composite_key(object_type: str, attributes: Sequence[str]) -> str:
    """Build the composite key for ``object_type`` and ``attributes``."""
    _validate_part(object_type)
    if not object_type:
        raise InvalidArgument("composite key object type must not be empty")
    key = NAMESPACE + object_type + MIN_RUNE
    for attr in attributes:
        _validate_part(attr)
        key += attr + MIN_RUNE
    return key


def split_composite_key(key: str) -> tuple[str, list[str]]:
    """Inverse of :func:`create_composite_key`."""
    if not key.startswith(NAMESPACE):
        raise InvalidArgument("not a composite key")
    parts = key[1:].split(MIN_RUNE)
    # the key ends with a separator, so the last element is always empty
    return parts[0], parts[1:-1]


def partial_key_range(object_type: str, attributes: Sequence[str]) -> tuple[str, str]:
    """Start and end keys of a range query over every key that begins with the given parts."""
    start = create_composite_key(object_type, attributes)
    return start, start + MAX_RUNE


def validate_simple_key(key: str) -> None:
    """Simple (non-composite) keys must not start with the composite-key namespace."""
    if not isinstance(key, str) or not key:
        raise InvalidArgument("state key must be a non-empty string")
    if key.startswith(NAMESPACE):
        raise InvalidArgument("simple state keys may not start with U+0000 (reserved for composite keys)")
