"""Strict decoding of a caller's bytes: every malformed argument is a 400 that names the
function and the problem, and changes nothing (regression tests for inputs that once gave 500)."""

from __future__ import annotations

import base64

import pytest

from chaincode.runtime.arguments import decode_json, forbidden_char, nesting_depth
from chaincode.runtime.errors import InvalidArgument
from tests.unit.consortium_sim import Consortium

A = "HospitalAMSP"
KEY = base64.b64encode(b"k" * 32).decode()


def entry(name: str) -> str:
    """A Registry:Register argument object as JSON text, with ``name`` spliced in raw."""
    return f'{{"msp_id":"{A}","display_name":"{name}","share_key":"{KEY}","contact":"it@a.org"}}'


RAW_CASES = [
    (b"[" * 5000 + b"]" * 5000, "holds 5000 arrays and objects; the limit is 4096"),
    (b'{"msp_id":[' + b"[]," * 5000 + b"1]}", "holds 5002 arrays and objects"),
    (('{"msp_id":' + '{"a":' * 30 + "1" + "}" * 30 + "}").encode(), "nests 31 levels deep"),
    (entry("\\ud800").encode(), "U+D800"),  # a lone surrogate as a JSON escape
    (entry("a\\udfffb").encode(), "U+DFFF"),
    (entry("evil\u202etxt.exe").encode(), "U+202E"),  # bidirectional override
    (entry("zero\u200bwidth").encode(), "U+200B"),
    (entry("bell\\u0007").encode(), "U+0007"),
    (b"\xef\xbb\xbf" + entry("BOM").encode(), "byte-order mark"),
    (entry("caf\xe9").encode("latin-1"), "not valid UTF-8"),
    (b'{"msp_id":"' + A.encode() + b'","msp_id":"HospitalBMSP"}', "duplicate key 'msp_id'"),
    (entry("x").replace('"contact"', '"contact":1.5,"c2"').encode(), "floats are not allowed"),
    (b'{"msp_id": NaN}', "NaN is not a JSON value"),
    (b"{", "not valid JSON"),
    (b"x" * (256 * 1024 + 1), "the limit is 262144"),
]


@pytest.mark.parametrize(("raw", "fragment"), RAW_CASES, ids=[c[1] for c in RAW_CASES])
def test_malformed_arguments_are_refused_with_the_function_named(raw: bytes, fragment: str) -> None:
    cons = Consortium()
    before = dict(cons.ledger.state)
    res = cons.ledger.invoke(cons.router, cons.admins[A], "Registry:Register", raw_args=[b"Registry:Register", raw])
    assert res.status == 400, (res.status, res.message)
    assert res.message.startswith("Registry:Register: ") and fragment in res.message, res.message
    assert cons.ledger.state == before and cons.ledger.events == []


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"Registry:Register\x00", "is not a function name"),
        (b"x" * 500, "limit is 80"),
        (b"Nope:Nothing", "unknown function"),
    ],
)
def test_bad_function_names_are_refused(name: bytes, fragment: str) -> None:
    cons = Consortium()
    res = cons.ledger.invoke(cons.router, cons.admins[A], "", raw_args=[name, b"{}"])
    assert res.status in (400, 404) and fragment in res.message, res.message


def test_the_decoder_accepts_what_is_valid_and_measures_depth_outside_strings() -> None:
    assert decode_json(b'{"a":[1,{"b":"[[[[["}]}', what="x", max_bytes=100) == {"a": [1, {"b": "[[[[["}]}
    assert nesting_depth('{"a":"\\"[[[[","b":[[1]]}') == 3
    assert forbidden_char("plain text, tabs\tare not") == "U+0009"
    assert forbidden_char("Krankenhaus Zürich – Onkologie") is None
    with pytest.raises(InvalidArgument, match="floats"):
        decode_json(b'{"a":1.0}', what="x", max_bytes=100)
    assert decode_json(b'{"@version":1.1}', what="x", max_bytes=100, allow_floats=True) == {"@version": 1.1}
