"""Decoding a caller's bytes into JSON values, strictly and at a bounded cost.

Every member org's client may be an attacker, and every endorser pays for what it parses.
So untrusted bytes (a transaction's argument object, a transient-map entry) are checked in
order of cost, cheapest first, and refused with a message that names the problem:

1. size, before anything else;
2. encoding: UTF-8 only (Python's decoder also refuses encoded surrogates), no byte-order mark;
3. the number of arrays and objects and their nesting depth, counted on the text outside strings
   before the recursive parser runs (a few KB of ``[[[[...`` would otherwise exhaust the
   parser's stack, and 80,000 empty arrays cost the parser and the checks 100 ms and more);
4. the JSON itself, with duplicate object keys refused (two parsers may keep different
   duplicates, so a signed or hashed object would mean two things) and, unless allowed, no
   floats, NaN or Infinity;
5. every string and key: no lone surrogates (JSON escapes such as ``\\ud800`` decode to code
   points that cannot be encoded again), no control characters, no bidirectional overrides
   or invisible format characters (a compliance page would render them as-is).

The forbidden code points are an explicit list, not ``unicodedata`` categories, so that every
endorser refuses the same strings whatever Unicode version its Python ships.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chaincode.runtime.errors import InvalidArgument

BOM = b"\xef\xbb\xbf"
MAX_DEPTH = 16
MAX_CONTAINERS = 4096  # arrays and objects in one argument; the largest honest call has a few hundred
# Controls (C0 including tab, DEL, C1), surrogates, every format character (zero-width and
# bidirectional formatting, word joiners, invisible operators, BOM, interlinear annotations,
# prepended concatenation marks, shorthand and musical format controls, tag characters), and
# the invisible fillers and variation selectors that render as nothing.
FORBIDDEN_CHARS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160"
    "\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ud800-\udfff\ufe00-\ufe0f\ufeff\uffa0"
    "\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)
# A string, or an unclosed one up to the end: an unclosed string must not make the regex scan
# the rest of the text again from each escaped quote inside it (quadratic).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_CONTAINERS = (list, dict)


def forbidden_char(text: str) -> str | None:
    """The first forbidden code point in ``text`` as ``U+XXXX``, or None."""
    found = FORBIDDEN_CHARS.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting in JSON text, ignoring brackets inside strings (linear)."""
    return _depth(_STRING.sub("", text))


def _depth(structure: str) -> int:
    depth = deepest = 0
    for match in _BRACKET.finditer(structure):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidArgument(f"duplicate key {key[:40]!r}: every key may appear once per object")
        out[key] = value
    return out


def _refuse_float(text: str) -> Any:
    raise InvalidArgument(f"floats are not allowed ({text[:20]}): use integers or fixed point")


def _refuse_constant(text: str) -> Any:
    raise InvalidArgument(f"{text} is not a JSON value")


def check_strings(value: Any) -> None:
    """Refuse forbidden code points in every string and key of a decoded value. The path to
    the offending string is built only once one is found, so the walk stays linear and cheap."""
    bad_path = _first_bad(value)
    if bad_path is not None:
        path, bad = bad_path
        raise InvalidArgument(f"{path} contains {bad}: control, surrogate and invisible characters are refused")


def _first_bad(value: Any) -> tuple[str, str] | None:
    # JSON decoding yields exact types; whole lists of scalars are checked in one regex pass
    if type(value) is str:
        bad = forbidden_char(value)
        return None if bad is None else ("$", bad)
    if type(value) is list:
        kinds = set(map(type, value))
        if str in kinds:
            strings = value if kinds == {str} else [item for item in value if type(item) is str]
            if FORBIDDEN_CHARS.search("".join(strings)):
                for i, item in enumerate(value):
                    if type(item) is str and (bad := forbidden_char(item)):
                        return f"$[{i}]", bad
        if list in kinds or dict in kinds:
            for i, item in enumerate(value):
                if type(item) in _CONTAINERS:
                    found = _first_bad(item)
                    if found is not None:
                        return f"$[{i}]{found[0][1:]}", found[1]
    elif type(value) is dict:
        if FORBIDDEN_CHARS.search("".join(value)):
            key = next(k for k in value if forbidden_char(k))
            return f"a key of $ ({len(key)} characters)", str(forbidden_char(key))
        for key, item in value.items():
            if type(item) is str or type(item) in _CONTAINERS:
                found = _first_bad(item)
                if found is not None:
                    return f"$.{key[:40]}{found[0][1:]}", found[1]
    return None


def decode_json(
    raw: bytes,
    *,
    what: str,
    max_bytes: int,
    max_depth: int = MAX_DEPTH,
    max_containers: int = MAX_CONTAINERS,
    allow_floats: bool = False,
) -> Any:
    """Decode untrusted JSON bytes, or raise :class:`InvalidArgument` naming ``what`` is wrong."""
    if len(raw) > max_bytes:
        raise InvalidArgument(f"the {what} is {len(raw)} bytes; the limit is {max_bytes}")
    if raw.startswith(BOM):
        raise InvalidArgument(f"the {what} starts with a byte-order mark; send plain UTF-8")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"the {what} is not valid UTF-8 (byte {exc.start})") from None
    structure = _STRING.sub("", text)  # what is left outside strings: numbers, literals, brackets
    containers = structure.count("[") + structure.count("{")
    if containers > max_containers:
        raise InvalidArgument(f"the {what} holds {containers} arrays and objects; the limit is {max_containers}")
    depth = _depth(structure)
    if depth > max_depth:
        raise InvalidArgument(f"the {what} nests {depth} levels deep; the limit is {max_depth}")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=None if allow_floats else _refuse_float,
            parse_constant=_refuse_constant,
        )
    except InvalidArgument as exc:
        raise InvalidArgument(f"the {what} is refused: {exc.message}") from None
    except (ValueError, RecursionError) as exc:
        raise InvalidArgument(f"the {what} is not valid JSON: {str(exc)[:120]}") from None
    check_strings(value)
    return value
