"""Valid and hostile values for one schema field, and the raw JSON text that carries them.

A hostile call is a mostly valid call with one thing wrong, so for every field kind this module
answers two questions: what does a value that passes look like (so the rest of a call gets
through validation), and which values probe the edges (wrong JSON types, boundaries, text that
renders differently from what it is, numbers no JSON parser agrees on). Values JSON cannot
express as Python objects (NaN literals, 5000-digit numbers, duplicate keys, lone surrogates as
``\\ud800`` escapes) are written through :class:`Raw` and :class:`Pairs`.
"""

from __future__ import annotations

import base64
import copy
import json
import random
from dataclasses import dataclass
from typing import Any

from chaincode.hostile import patterns
from chaincode.runtime.errors import ContractError
from chaincode.runtime.schema import B64Key, Field, Int, Str

MAX_STRING_CHARS = 200_000  # the longest string a variant builds (the argument limit is 256 KB)


@dataclass(frozen=True)
class Raw:
    """JSON text written verbatim where a value goes."""

    text: str


@dataclass(frozen=True)
class Pairs:
    """A JSON object written as exactly these key/value pairs, in order (duplicates allowed)."""

    items: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Variant:
    """One value to put in a field, with a short tag naming what it probes."""

    tag: str
    value: Any


def to_json(value: Any, *, ascii_only: bool = True) -> str:
    """JSON text for ``value``; ``ascii_only`` writes non-ASCII (and lone surrogates) as escapes."""
    try:
        return json.dumps(value, ensure_ascii=ascii_only)
    except TypeError:  # a Raw or Pairs inside: written piece by piece below
        pass
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Pairs):
        return "{" + ",".join(f"{to_json(k, ascii_only=ascii_only)}:{to_json(v, ascii_only=ascii_only)}"
                              for k, v in value.items) + "}"  # fmt: skip
    if isinstance(value, dict):
        return to_json(Pairs(tuple(value.items())), ascii_only=ascii_only)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(to_json(v, ascii_only=ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def to_bytes(value: Any, *, ascii_only: bool = True) -> bytes:
    """The bytes a client would send; a lone surrogate written unescaped becomes invalid UTF-8."""
    return to_json(value, ascii_only=ascii_only).encode("utf-8", "surrogatepass")


def passes(field: Field, value: Any) -> bool:
    """Whether the schema accepts ``value`` for ``field`` (any non-refusal error counts as no)."""
    if isinstance(value, (Raw, Pairs)):
        return False
    try:
        field.check("f", copy.deepcopy(value))
    except ContractError:
        return False
    except Exception:  # noqa: BLE001 - a crashing check is the hostile run's to report, not this probe's
        return False
    return True


# --- valid values -------------------------------------------------------------------------------
_WORDS = ("Breast cancer screening", "Oncology", "ward", "HospitalA", "x")


def synthesize(field: Field, rng: random.Random, *, longest: bool = False) -> Any | None:
    """A value ``field`` accepts, built from its declared kind and bounds alone; None if the
    kind gives no way to build one (a contract's own Field subclass that refuses every probe)."""
    if isinstance(field, Str):
        return _valid_str(field, rng, longest)
    if isinstance(field, Int):
        if longest:
            return field.maximum
        options = [field.minimum, field.maximum, min(field.maximum, max(field.minimum, 1000))]
        options.append(min(field.maximum, max(field.minimum, (field.minimum + field.maximum) // 2)))
        return rng.choice(options)
    if isinstance(field, B64Key):
        return base64.b64encode(rng.randbytes(field.length)).decode()
    for probe in ([], {}, "", 0, False, [""], [{}]):
        if passes(field, probe):
            return probe
    return None


def _valid_str(field: Str, rng: random.Random, longest: bool) -> str | None:
    if field.choices:
        return rng.choice(field.choices)
    if field.pattern is not None:
        return patterns.sample(field.pattern.pattern, rng, min_len=field.min_len, max_len=field.max_len,
                                     longest=longest)  # fmt: skip
    if longest:
        return "a" * min(field.max_len, MAX_STRING_CHARS)
    word = rng.choice(_WORDS)
    if not field.min_len <= len(word) <= field.max_len:
        word = "a" * max(field.min_len, 1)
    return word if len(word) <= field.max_len else None


# --- hostile values -----------------------------------------------------------------------------
WRONG_TYPES: tuple[Variant, ...] = (
    Variant("type:null", None),
    Variant("type:true", True),
    Variant("type:zero", 0),
    Variant("type:float", 1.5),
    Variant("type:string", "1"),
    Variant("type:empty-list", []),
    Variant("type:empty-object", {}),
    Variant("type:nan-literal", Raw("NaN")),
    Variant("type:infinity-literal", Raw("-Infinity")),
    Variant("type:deep-200", Raw("[" * 200 + "]" * 200)),
)


def _text_variants(base: str) -> list[Variant]:
    """Text that looks like ``base`` but carries characters that render, compare or encode
    differently: control characters, bidi and zero-width marks, surrogates, key separators."""
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in base)
    return [
        Variant("text:nul", base + "\x00"),
        Variant("text:newline", base + "\n"),
        Variant("text:crlf", base + "\r\n"),
        Variant("text:ansi-escape", "\x1b[2J" + base),
        Variant("text:del", base + "\x7f"),
        Variant("text:c1-nel", base + "\x85"),
        Variant("text:line-separator", base + "\u2028"),
        Variant("text:bidi-override", "\u202e" + base),
        Variant("text:zero-width", base[:1] + "\u200b" + base[1:]),
        Variant("text:bom", "\ufeff" + base),
        Variant("text:lone-high-surrogate", base + "\ud800"),
        Variant("text:lone-low-surrogate", "\udc00" + base),
        Variant("text:max-rune", base + "\U0010ffff"),
        Variant("text:noncharacter", base + "\uffff"),
        Variant("text:emoji", base + "\U0001f3e5"),
        Variant("text:fullwidth", fullwidth),
        Variant("text:combining", base + "\u0301"),
        Variant("text:tab", base + "\t"),
        Variant("text:leading-space", " " + base),
        Variant("text:uppercase", base.upper()),
        Variant("text:injection", "' OR '1'='1"),
        Variant("text:path-traversal", "../../etc/passwd"),
        Variant("text:format-string", "%s%n{0}${x}"),
        Variant("text:json-in-string", '{"a":1}'),
    ]


def _str_variants(field: Str, valid: str | None, rng: random.Random) -> list[Variant]:
    base = valid if isinstance(valid, str) and valid else "a" * max(field.min_len, 1)
    at_max = _valid_str(field, rng, longest=True) or ""
    if len(at_max) < field.max_len:  # the pattern caps the length below max_len
        at_max_raw = "a" * min(field.max_len, MAX_STRING_CHARS)
    else:
        at_max_raw = at_max
    out = [
        Variant("str:empty", ""),
        Variant("str:whitespace-only", " " * max(field.min_len, 1)),
        Variant("limit:str-at-max-len", at_max_raw),
        Variant("limit:str-past-max-len", at_max_raw + "a"),
        Variant("limit:str-far-past-max-len", "a" * min(field.max_len * 4 + 1000, MAX_STRING_CHARS)),
    ]
    if at_max and at_max != at_max_raw:
        out.append(Variant("limit:str-longest-valid", at_max))
    if field.min_len > 1:
        out.append(Variant("str:below-min-len", "a" * (field.min_len - 1)))
    if field.choices:
        out += [
            Variant("str:choice-case", field.choices[0].upper()),
            Variant("str:choice-suffix", field.choices[0] + "x"),
        ]
    return out + _text_variants(base) + list(WRONG_TYPES)


def _int_variants(field: Int) -> list[Variant]:
    lo, hi = field.minimum, field.maximum
    return [
        Variant("int:min", lo),
        Variant("int:max", hi),
        Variant("int:below-min", lo - 1),
        Variant("int:past-max", hi + 1),
        Variant("int:zero", 0),
        Variant("int:negative", -1),
        Variant("int:int64-max", 2**63 - 1),
        Variant("int:int64-overflow", 2**63),
        Variant("int:uint64-overflow", 2**64),
        Variant("int:int64-min", -(2**63)),
        Variant("int:huge", 10**100),
        Variant("int:4000-digits", Raw("9" * 4000)),
        Variant("int:5000-digits", Raw("9" * 5000)),
        Variant("int:negative-zero", Raw("-0")),
        Variant("int:exponent", Raw("1e3")),
        Variant("int:float-integral", Raw("1.0")),
        Variant("int:leading-zero", Raw("007")),
        Variant("int:hex", Raw("0x10")),
        Variant("int:true", True),
        Variant("int:false", False),
        Variant("int:string", str(lo)),
        Variant("int:list", [lo]),
        Variant("int:operator-object", {"$gt": 0}),
        *WRONG_TYPES,
    ]


def _b64_variants(field: B64Key, valid: str | None, rng: random.Random) -> list[Variant]:
    good = valid if isinstance(valid, str) else base64.b64encode(rng.randbytes(field.length)).decode()
    raw = rng.randbytes(field.length)
    return [
        Variant("b64:short", base64.b64encode(raw[:-1]).decode()),
        Variant("b64:long", base64.b64encode(raw + b"\x00").decode()),
        Variant("b64:empty", ""),
        Variant("b64:not-base64", "!" * len(good)),
        Variant("b64:urlsafe", base64.urlsafe_b64encode(b"\xfb\xff" * field.length)[: len(good)].decode()),
        Variant("b64:no-padding", good.rstrip("=")),
        Variant("b64:inner-space", good[:4] + " " + good[4:]),
        Variant("b64:trailing-newline", good + "\n"),
        Variant("limit:b64-at-max-len", "A" * (4 * field.length)),
        Variant("limit:b64-past-max-len", "A" * (4 * field.length + 1)),
        Variant("b64:arabic-digits", "\u0663" * len(good)),
        Variant("b64:lone-surrogate", good[:-1] + "\ud800"),
        Variant("b64:byte-array", list(raw)),
        *WRONG_TYPES,
    ]


_LEAF_POOL: tuple[Any, ...] = (None, "", "\ud800", "\u202e", "a\x00b", -1, 2**64, True, [], {}, "x" * 300,
                               "A" * 92 + "==", 0)  # fmt: skip


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


def deep_mutation(valid: Any, rng: random.Random) -> Variant:
    """``valid`` with one thing changed somewhere inside it: a leaf replaced, a key removed or
    added, an element repeated past any sane count, a key made hostile, a container's type swapped."""
    value = copy.deepcopy(valid)
    paths = _paths(value)
    if not paths:
        return rng.choice(WRONG_TYPES)
    path = rng.choice(paths)
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    op = rng.choice(("leaf", "leaf", "delete", "add-key", "repeat", "hostile-key", "swap-container"))
    where = "/".join(str(p) for p in path)
    if op == "leaf":
        parent[key] = rng.choice(_LEAF_POOL)
    elif op == "delete":
        del parent[key]
    elif op == "add-key" and isinstance(parent, dict):
        parent["extra"] = parent[key]
    elif op == "add-key":
        parent.append(copy.deepcopy(parent[key]))
    elif op == "repeat" and isinstance(parent, list):
        parent.extend(copy.deepcopy(parent[key]) for _ in range(200))
    elif op == "repeat":
        for i in range(200):
            parent[f"{key}{i}"] = copy.deepcopy(parent[key])
    elif op == "hostile-key" and isinstance(parent, dict):
        parent[rng.choice(("", "\ud800", "\x00", "\u202eAMSP", "__proto__"))] = parent.pop(key)
    elif op == "hostile-key":
        parent[key] = {"0": parent[key]}
    else:
        inner = parent[key]
        parent[key] = list(inner.values()) if isinstance(inner, dict) else (
            {str(i): v for i, v in enumerate(inner)} if isinstance(inner, list) else [inner])  # fmt: skip
    return Variant(f"deep:{op}@{where}", value)


def _custom_variants(valid: Any, rng: random.Random) -> list[Variant]:
    element = valid[0] if isinstance(valid, list) and valid else "x"
    out = [
        *WRONG_TYPES,
        Variant("shape:list-of-null", [None]),
        Variant("shape:list-of-objects", [{}]),
        Variant("limit:shape-long-list", [element] * 5_000),
        Variant("limit:shape-wide-object", {f"k{i}": i for i in range(5_000)}),
    ]
    if valid is not None:
        out += [deep_mutation(valid, rng) for _ in range(6)]
    return out


def hostile(field: Field, valid: Any, rng: random.Random) -> list[Variant]:
    """Values that probe ``field``: its kind's boundaries and wrong types, hostile text, and
    (for a contract's own Field subclasses) changes deep inside a valid value."""
    if isinstance(field, Str):
        return _str_variants(field, valid, rng)
    if isinstance(field, Int):
        return _int_variants(field)
    if isinstance(field, B64Key):
        return _b64_variants(field, valid, rng)
    return _custom_variants(valid, rng)
