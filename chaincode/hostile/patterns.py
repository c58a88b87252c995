"""Strings that fully match a regular expression, drawn at random.

Hostile-input tests need *valid* values too: a call refused at the first malformed field never
reaches the logic behind it. Schemas describe text fields by regular expression, so a generator
that can produce matching strings covers every present and future field without a table of
examples. It handles the constructs the schemas use (literals, classes, categories, repeats,
groups, alternation, anchors); anything else (look-arounds, back-references) yields ``None``.
"""

from __future__ import annotations

import functools
import random
import re
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

_PRINTABLE = [chr(i) for i in range(0x21, 0x7F)]
_UNBOUNDED_EXTRA = 8  # how far past the minimum an open-ended repeat (``+``, ``*``) may go


class Unsupported(Exception):
    """The pattern uses a construct this sampler does not generate."""


def _in_category(ch: str, category: Any) -> bool:
    table = {
        sre_c.CATEGORY_DIGIT: ch.isdigit(),
        sre_c.CATEGORY_NOT_DIGIT: not ch.isdigit(),
        sre_c.CATEGORY_SPACE: ch.isspace(),
        sre_c.CATEGORY_NOT_SPACE: not ch.isspace(),
        sre_c.CATEGORY_WORD: ch.isalnum() or ch == "_",
        sre_c.CATEGORY_NOT_WORD: not (ch.isalnum() or ch == "_"),
    }
    if category not in table:
        raise Unsupported(f"category {category}")
    return table[category]


def _class_members(items: list[tuple[Any, Any]]) -> list[str]:
    negate = bool(items) and items[0][0] is sre_c.NEGATE
    body = items[1:] if negate else items

    def member(ch: str) -> bool:
        for op, arg in body:
            if op is sre_c.LITERAL and ord(ch) == arg:
                return True
            if op is sre_c.RANGE and arg[0] <= ord(ch) <= arg[1]:
                return True
            if op is sre_c.CATEGORY and _in_category(ch, arg):
                return True
            if op not in (sre_c.LITERAL, sre_c.RANGE, sre_c.CATEGORY):
                raise Unsupported(f"class item {op}")
        return False

    return [ch for ch in _PRINTABLE if member(ch) != negate]


Node = tuple[Any, ...]


def _compile(parsed: Any) -> list[Node]:
    """The parsed pattern as generator nodes, character classes resolved once."""
    nodes: list[Node] = []
    for op, arg in parsed:
        if op is sre_c.LITERAL:
            nodes.append(("chars", [chr(arg)]))
        elif op is sre_c.NOT_LITERAL:
            nodes.append(("chars", [c for c in _PRINTABLE if ord(c) != arg]))
        elif op is sre_c.ANY:
            nodes.append(("chars", _PRINTABLE))
        elif op is sre_c.IN:
            members = _class_members(arg)
            if not members:
                raise Unsupported("empty class")
            nodes.append(("chars", members))
        elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
            lo, hi, sub = arg
            nodes.append(("repeat", lo, lo + _UNBOUNDED_EXTRA if hi is sre_c.MAXREPEAT else hi, _compile(sub)))
        elif op is sre_c.SUBPATTERN:
            nodes.append(("group", _compile(arg[-1])))
        elif op is sre_c.BRANCH:
            nodes.append(("branch", [_compile(alt) for alt in arg[1]]))
        elif op is not sre_c.AT:
            raise Unsupported(f"opcode {op}")
    return nodes


@functools.cache
def _program(pattern: str) -> tuple[list[Node], re.Pattern[str]] | None:
    try:
        return _compile(sre_parse.parse(pattern)), re.compile(pattern)
    except (re.error, Unsupported):
        return None


def _gen(nodes: list[Node], rng: random.Random, longest: bool) -> str:
    out = []
    for node in nodes:
        kind = node[0]
        if kind == "chars":
            out.append(rng.choice(node[1]))
        elif kind == "repeat":
            count = node[2] if longest else rng.randint(node[1], node[2])
            out.extend(_gen(node[3], rng, longest) for _ in range(count))
        elif kind == "group":
            out.append(_gen(node[1], rng, longest))
        else:
            options = [_gen(alt, rng, longest) for alt in node[1]]
            out.append(max(options, key=len) if longest else rng.choice(options))
    return "".join(out)


def sample(pattern: str, rng: random.Random, *, min_len: int = 0, max_len: int = 1 << 20,
           longest: bool = False, tries: int = 20) -> str | None:  # fmt: skip
    """A string that ``re.fullmatch``es ``pattern`` with ``min_len <= len <= max_len``, or None.

    ``longest`` prefers the longest match (every repeat at its maximum), which is how a test
    reaches a field's size limit with otherwise valid content.
    """
    program = _program(pattern)
    if program is None:
        return None
    nodes, compiled = program
    for attempt in range(tries):
        text = _gen(nodes, rng, longest and attempt == 0)
        if min_len <= len(text) <= max_len and compiled.fullmatch(text):
            return text
    return None
