"""The certificate file: one self-contained JSON document.

    {"format": "fedledger-provenance/1",
     "channel": "...", "chaincode": "...",
     "statement": {...},                               # provenance.statement.derive
     "evidence": {"writes": {ledger key: tx id},       # which transaction wrote each record
                  "blocks": {number: base64 block},    # every block holding such a transaction
                  "chain": [[number, previous hash, data hash], ...]},  # every header in between
     "issued": {"by": MSP ID, "at": ISO time}}         # informative only: nothing rests on it

Loading bounds the size before parsing and checks the shape before anything is decoded, so a
hostile file costs at most its bounded parse.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provenance.blocks import HeaderLink
from provenance.errors import Refused

FORMAT = "fedledger-provenance/1"
MAX_BYTES = 64 * 1024 * 1024
MAX_BLOCKS = 20_000
MAX_CHAIN = 500_000
MAX_WRITES = 200_000


@dataclass
class Certificate:
    channel: str
    chaincode: str
    statement: dict[str, Any]
    writes: dict[str, str]
    blocks: dict[int, bytes]
    chain: list[HeaderLink]
    issued: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "channel": self.channel,
            "chaincode": self.chaincode,
            "statement": self.statement,
            "evidence": {
                "writes": dict(sorted(self.writes.items())),
                "blocks": {str(n): base64.b64encode(b).decode() for n, b in sorted(self.blocks.items())},
                "chain": [[h.number, h.previous_hash.hex(), h.data_hash.hex()] for h in self.chain],
            },
            "issued": self.issued,
        }

    def dumps(self) -> bytes:
        return json.dumps(self.to_json(), indent=1, sort_keys=True).encode()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(self.dumps())
        tmp.replace(path)


def load(raw: bytes) -> Certificate:
    """Parse a certificate file; Refused names what is malformed."""
    if len(raw) > MAX_BYTES:
        raise Refused(f"certificate is {len(raw)} bytes; at most {MAX_BYTES} accepted")
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise Refused(f"certificate is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise Refused(f"not a certificate of format {FORMAT}")
    ev = _field(doc, "evidence", dict)
    writes = _field(ev, "writes", dict)
    blocks = _field(ev, "blocks", dict)
    chain = _field(ev, "chain", list)
    if len(writes) > MAX_WRITES or len(blocks) > MAX_BLOCKS or len(chain) > MAX_CHAIN:
        raise Refused(f"certificate evidence too large: {len(writes)} writes, {len(blocks)} blocks, "
                      f"{len(chain)} headers (at most {MAX_WRITES}, {MAX_BLOCKS}, {MAX_CHAIN})")  # fmt: skip
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in writes.items()):
        raise Refused("evidence.writes must map ledger keys to transaction ids")
    return Certificate(
        channel=_field(doc, "channel", str),
        chaincode=_field(doc, "chaincode", str),
        statement=_field(doc, "statement", dict),
        writes=writes,
        blocks={_block_number(n): _b64(v, f"block {n}") for n, v in blocks.items()},
        chain=[_link(e) for e in chain],
        issued=doc.get("issued") if isinstance(doc.get("issued"), dict) else {},
    )


def _field(doc: dict[str, Any], name: str, kind: type) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind):
        what = {dict: "a JSON object", list: "a JSON array", str: "text"}.get(kind, kind.__name__)
        raise Refused(f"certificate field {name!r} is missing or not {what}")
    return value


def _block_number(text: str) -> int:
    if not text.isdigit() or len(text) > 19:
        raise Refused(f"evidence.blocks: {text[:40]!r} is not a block number")
    return int(text)


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise Refused(f"evidence: {what} is not base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f"evidence: {what} is not valid base64") from None


def _link(entry: Any) -> HeaderLink:
    ok = isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], int) and entry[0] >= 0
    if ok:
        try:
            return HeaderLink(entry[0], bytes.fromhex(entry[1]), bytes.fromhex(entry[2]))
        except (TypeError, ValueError):
            pass
    raise Refused(f"evidence.chain: {str(entry)[:80]} is not [number, previous hash hex, data hash hex]")
