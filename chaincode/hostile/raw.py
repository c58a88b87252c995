"""Malformed invocations and argument objects at the size limit, for hostile-input cases.

What the peer hands the router is a list of byte strings; a client controls all of them. These
are the ways that list and the argument object's bytes can be wrong before any schema looks at
them (argument count, function name, encoding, nesting, JSON syntax, size), and the ways an
argument object can sit exactly at the 256 KB limit while still having to be parsed and checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaincode.hostile.values import to_bytes
from chaincode.runtime.contract import MAX_ARG_BYTES
from chaincode.runtime.schema import Field, Str


def _pad_to(text: bytes, size: int) -> bytes:
    """A JSON object padded with insignificant whitespace to exactly ``size`` bytes."""
    return text[:1] + b" " * (size - len(text)) + text[1:]


RAW_TAGS = (
    "no-args", "empty-function", "empty-function-with-args", "unknown-function", "function-lowercase",
    "function-trailing-space", "function-nul", "function-not-utf8", "function-no-contract", "function-100k",
    "three-args", "hundred-args", "no-arg-object", "empty-bytes", "whitespace-only", "json-null", "json-number",
    "json-string", "top-level-array", "top-level-array-of-args", "not-utf8", "overlong-utf8", "cesu8-surrogate",
    "utf8-bom", "utf16", "utf32", "deep-arrays-5000", "deep-objects-5000", "deep-in-field-5000", "trailing-garbage",
    "two-objects", "trailing-comma", "single-quotes", "comment", "nul-after", "form-feed", "limit:past-arg-limit",
    "limit:far-past-arg-limit",
)  # fmt: skip


def raw_invocation(tag: str, fn: bytes, valid: bytes, first_field: str | None) -> tuple[bytes, ...]:
    """The malformed invocation ``tag`` names: a broken argument list or argument object bytes."""
    name = (first_field or "x").encode()
    text = valid.decode("utf-8", "surrogatepass")
    table: dict[str, Any] = {
        "no-args": lambda: (),
        "empty-function": lambda: (b"",),
        "empty-function-with-args": lambda: (b"", valid),
        "unknown-function": lambda: (fn + b"x", valid),
        "function-lowercase": lambda: (fn.lower(), valid),
        "function-trailing-space": lambda: (fn + b" ", valid),
        "function-nul": lambda: (fn + b"\x00", valid),
        "function-not-utf8": lambda: (b"\xff" + fn, valid),
        "function-no-contract": lambda: (fn.split(b":")[-1], valid),
        "function-100k": lambda: (b"A:" + b"B" * 100_000, valid),
        "three-args": lambda: (fn, valid, b"{}"),
        "hundred-args": lambda: (fn,) + (b"{}",) * 100,
        "no-arg-object": lambda: (fn,),
        "empty-bytes": lambda: (fn, b""),
        "whitespace-only": lambda: (fn, b" \n\t "),
        "json-null": lambda: (fn, b"null"),
        "json-number": lambda: (fn, b"1"),
        "json-string": lambda: (fn, b'"{}"'),
        "top-level-array": lambda: (fn, b"[]"),
        "top-level-array-of-args": lambda: (fn, b"[" + valid + b"]"),
        "not-utf8": lambda: (fn, b'{"' + name + b'":"\xff\xfe"}'),
        "overlong-utf8": lambda: (fn, b'{"' + name + b'":"\xc0\xaf"}'),
        "cesu8-surrogate": lambda: (fn, b'{"' + name + b'":"' + "\ud800".encode("utf-8", "surrogatepass") + b'"}'),
        "utf8-bom": lambda: (fn, b"\xef\xbb\xbf" + valid),
        "utf16": lambda: (fn, text.encode("utf-16", "surrogatepass")),
        "utf32": lambda: (fn, text.encode("utf-32", "surrogatepass")),
        "deep-arrays-5000": lambda: (fn, b"[" * 5000 + b"]" * 5000),
        "deep-objects-5000": lambda: (fn, b'{"a":' * 5000 + b"1" + b"}" * 5000),
        "deep-in-field-5000": lambda: (fn, b'{"' + name + b'":' + b"[" * 5000 + b"]" * 5000 + b"}"),
        "trailing-garbage": lambda: (fn, valid + b"x"),
        "two-objects": lambda: (fn, valid + valid),
        "trailing-comma": lambda: (fn, valid[:-1] + b",}" if valid != b"{}" else b"{,}"),
        "single-quotes": lambda: (fn, valid.replace(b'"', b"'")),
        "comment": lambda: (fn, b"/* c */" + valid),
        "nul-after": lambda: (fn, valid + b"\x00"),
        "form-feed": lambda: (fn, b"\x0c" + valid),
        "limit:past-arg-limit": lambda: (fn, _pad_to(valid, MAX_ARG_BYTES + 1)),
        "limit:far-past-arg-limit": lambda: (fn, _pad_to(valid, 4 * MAX_ARG_BYTES)),
    }
    return table[tag]()


LIMIT_TAGS = (
    "arg-object-at-limit",
    "string-fills-arg-limit",
    "unknown-fields-fill-arg-limit",
    "list-fills-arg-limit",
    "unclosed-escaped-string-at-limit",
    "escaped-quotes-fill-arg-limit",
    "empty-arrays-fill-arg-limit",
)


def limit_object(tag: str, fields: Mapping[str, Field], args: dict[str, Any]) -> bytes:
    """An argument object of exactly the size limit whose content still has to be parsed and
    checked: padding, one huge string, thousands of unknown fields, a huge list."""
    if tag == "string-fills-arg-limit":
        strs = [n for n, f in fields.items() if isinstance(f, Str)] or ["x"]
        overhead = len(to_bytes({**args, strs[0]: ""}))
        return to_bytes({**args, strs[0]: "a" * (MAX_ARG_BYTES - overhead)})
    if tag == "unknown-fields-fill-arg-limit":
        entry = len(to_bytes({"u000000": 0, "u000001": 0})) - len(to_bytes({"u000000": 0}))
        count = (MAX_ARG_BYTES - len(to_bytes(args))) // entry - 1
        return _pad_to(to_bytes({**args, **{f"u{i:06d}": 0 for i in range(count)}}), MAX_ARG_BYTES)
    if tag == "list-fills-arg-limit":
        name = next(iter(fields), "x")
        entry = len(to_bytes([0, 0])) - len(to_bytes([0]))
        count = (MAX_ARG_BYTES - len(to_bytes({**args, name: []}))) // entry
        return _pad_to(to_bytes({**args, name: [0] * count}), MAX_ARG_BYTES)
    if tag == "unclosed-escaped-string-at-limit":  # a string that never closes, full of escaped quotes
        return (b'{"x":"' + b'\\"' * MAX_ARG_BYTES)[:MAX_ARG_BYTES]
    if tag == "escaped-quotes-fill-arg-limit":
        strs = [n for n, f in fields.items() if isinstance(f, Str)] or ["x"]
        valid_empty = to_bytes({**args, strs[0]: ""})
        head, tail = valid_empty.split(b'""', 1) if b'""' in valid_empty else (b'{"x":', b"}")
        count = (MAX_ARG_BYTES - len(head) - len(tail) - 2) // 2
        return _pad_to(head + b'"' + b'\\"' * count + b'"' + tail, MAX_ARG_BYTES)
    if tag == "empty-arrays-fill-arg-limit":
        return _pad_to(b'{"x":[' + b"[]," * ((MAX_ARG_BYTES - 16) // 3) + b"1]}", MAX_ARG_BYTES)
    return _pad_to(to_bytes(args), MAX_ARG_BYTES)
