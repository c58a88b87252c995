"""Argument validation for contract entry points.

Every transaction takes one JSON object. A ``Schema`` names each field, its type and bounds,
and rejects unknown fields, so that a malformed or oversized call fails with a message that
names the field, before anything is read or written.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaincode.runtime.arguments import forbidden_char
from chaincode.runtime.errors import InvalidArgument


class Field:
    """One field of a transaction's argument object."""

    def __init__(self, required: bool = True, default: Any = None) -> None:
        self.required = required
        self.default = default

    def check(self, name: str, value: Any) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError


class Str(Field):
    def __init__(
        self,
        max_len: int = 256,
        min_len: int = 1,
        pattern: str | None = None,
        choices: tuple[str, ...] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.max_len = max_len
        self.min_len = min_len
        self.pattern = re.compile(pattern) if pattern else None
        self.choices = choices

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise InvalidArgument(f"{name} must be a string")
        if not self.min_len <= len(value) <= self.max_len:
            raise InvalidArgument(f"{name} must be {self.min_len}-{self.max_len} characters, got {len(value)}")
        bad = forbidden_char(value)
        if bad:
            raise InvalidArgument(f"{name} contains {bad}: control, surrogate and invisible characters are refused")
        if self.pattern and not self.pattern.fullmatch(value):
            raise InvalidArgument(f"{name} has an invalid format (expected {self.pattern.pattern})")
        if self.choices is not None and value not in self.choices:
            raise InvalidArgument(f"{name} must be one of {', '.join(self.choices)}")
        return value


class Int(Field):
    def __init__(self, minimum: int = 0, maximum: int = 2**63 - 1, **kw: Any) -> None:
        super().__init__(**kw)
        self.minimum = minimum
        self.maximum = maximum

    def check(self, name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgument(f"{name} must be an integer")
        if not self.minimum <= value <= self.maximum:
            raise InvalidArgument(f"{name} must be between {self.minimum} and {self.maximum}")
        return value


class B64Key(Field):
    """A base64-encoded public key of a fixed byte length (e.g. 32 for X25519)."""

    def __init__(self, length: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.length = length

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, str) or len(value) > 4 * self.length:
            raise InvalidArgument(f"{name} must be a base64 string of {self.length} bytes")
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError as exc:
            raise InvalidArgument(f"{name} is not valid base64") from exc
        if len(raw) != self.length:
            raise InvalidArgument(f"{name} must decode to {self.length} bytes, got {len(raw)}")
        return value


@dataclass(frozen=True)
class Schema:
    fields: Mapping[str, Field]

    def parse(self, raw: Any) -> dict[str, Any]:
        """Validate ``raw`` (decoded JSON) and return the cleaned argument dict."""
        if not isinstance(raw, dict):
            raise InvalidArgument("arguments must be a JSON object")
        unknown = sorted(set(raw) - set(self.fields))
        if unknown:
            shown = ", ".join(name[:40] for name in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise InvalidArgument(f"unknown field(s): {shown}{more}")
        out: dict[str, Any] = {}
        for name, spec in self.fields.items():
            if name not in raw:
                if spec.required:
                    raise InvalidArgument(f"missing field: {name}")
                out[name] = spec.default
                continue
            out[name] = spec.check(name, raw[name])
        return out


EMPTY = Schema({})
