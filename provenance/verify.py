"""Verify a certificate offline against one channel configuration block.

The order of the checks follows the evidence upward: the hash chain links every header from
the first evidence block to the last; each evidence block's contents hash to its header's data
hash and the block carries orderer signatures that satisfy the channel's block validation
policy; each cited transaction is in its block, marked valid by the issuing peer, and passes the
checks of :func:`provenance.transactions.verify_transaction`; each record the statement rests on
is read from the write set of the transaction the certificate cites for it; and the statement
derived from those records is the statement the certificate makes, field by field.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from chaincode.contracts import studies
from chaincode.runtime import canonical
from provenance import statement as statements
from provenance.blocks import HeaderLink, data_hash, link_of, orderer_signatures, parse_block, validation_flags
from provenance.certificate import Certificate
from provenance.channel_config import ChannelTrust
from provenance.errors import Refused
from provenance.msp import Identity, check_signature
from provenance.transactions import EndorsedTransaction, tx_id_of, verify_transaction

BLOCK_VALIDATION = "/Channel/Orderer/BlockValidation"
STUDY_ID = re.compile(studies.STUDY_ID)


@dataclass
class Fact:
    key: str  # printable ledger key
    tx_id: str
    block: int
    endorsed_by: list[str]


@dataclass
class Verified:
    """What was checked, for the CLI and the rendering."""

    statement: dict[str, Any]
    checks: list[str] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    signed_by: dict[int, list[str]] = field(default_factory=dict)  # block -> orderers


def verify(cert: Certificate, trust: ChannelTrust) -> Verified:
    """Every check above, in order; Refused names the first that fails."""
    if cert.channel != trust.channel_id:
        raise Refused(f"the certificate is about channel {cert.channel!r}; the configuration is of "
                      f"{trust.channel_id!r}")  # fmt: skip
    out = Verified(cert.statement)
    out.checks.append(f"channel configuration: channel {trust.channel_id}, sequence {trust.sequence}, "
                      f"{len(trust.msps)} MSPs ({', '.join(sorted(trust.msps))})")  # fmt: skip
    chain = _check_chain(cert)
    out.checks.append(f"hash chain: blocks {chain[0].number}-{chain[-1].number} link ({len(chain)} headers)")
    by_number = {h.number: h for h in chain}
    envelopes: dict[str, tuple[int, int, bytes]] = {}
    for number, raw in sorted(cert.blocks.items()):
        block = parse_block(raw)
        if block.header.number != number:
            raise Refused(f"evidence block {number} is block {block.header.number}")
        if link_of(block) != by_number.get(number):
            raise Refused(f"block {number}: header differs from the hash chain's header {number}")
        if data_hash(block) != bytes(block.header.data_hash):
            raise Refused(f"block {number}: its transactions do not hash to its header's data hash")
        out.signed_by[number] = _check_orderers(block, trust)
        flags = validation_flags(block)
        for i, env in enumerate(block.data.data):
            envelopes.setdefault(tx_id_of(bytes(env)), (number, flags[i] if i < len(flags) else 255, bytes(env)))
    if chain[-1].number not in cert.blocks:
        raise Refused(f"the chain's last header {chain[-1].number} is not a full, signed evidence block")
    out.checks.append(f"{len(cert.blocks)} evidence blocks: contents match their headers; orderer signatures "
                      f"satisfy {BLOCK_VALIDATION} ({trust.describe(BLOCK_VALIDATION)})")  # fmt: skip
    txs: dict[str, tuple[int, EndorsedTransaction]] = {}
    for tx_id in sorted(set(cert.writes.values())):
        if tx_id not in envelopes:
            raise Refused(f"transaction {tx_id} is cited but is in none of the evidence blocks")
        number, flag, env = envelopes[tx_id]
        if flag != 0:
            raise Refused(f"transaction {tx_id} in block {number} was marked invalid (code {flag}): it changed nothing")
        tx = verify_transaction(env, trust)
        if cert.chaincode not in tx.namespace_writes:
            raise Refused(f"transaction {tx_id} wrote nothing to chaincode {cert.chaincode}")
        txs[tx_id] = (number, tx)
    out.checks.append(f"{len(txs)} transactions: creators may write, endorsements satisfy "
                      "/Channel/Application/Endorsement, all marked valid by the issuing peer")  # fmt: skip
    used: list[str] = []

    def read(key: str) -> dict[str, Any]:
        tx_id = cert.writes.get(key)
        if tx_id is None:
            raise Refused(f"no transaction in the certificate is cited for {statements.printable(key)}")
        number, tx = txs[tx_id]
        written = tx.namespace_writes[cert.chaincode]
        if key not in written or written[key] is None:
            raise Refused(f"transaction {tx_id} did not write {statements.printable(key)}")
        try:
            value = canonical.loads(written[key])
        except (ValueError, RecursionError) as exc:
            raise Refused(f"{statements.printable(key)} in transaction {tx_id} is not canonical JSON: {exc}") from None
        if not isinstance(value, dict):
            raise Refused(f"{statements.printable(key)} in transaction {tx_id} is not a record")
        if key not in used:
            used.append(key)
            out.facts.append(Fact(statements.printable(key), tx_id, number, _names(tx.endorsers)))
        return value

    derived = _derive(cert.statement, read)
    differences = _diff(cert.statement, derived)
    if differences:
        raise Refused("the certificate states what the ledger does not say: " + "; ".join(differences[:8]))
    unused = sorted(statements.printable(k) for k in set(cert.writes) - set(used))
    if unused:
        raise Refused(f"the certificate cites writes its statement does not rest on: {', '.join(unused[:5])}")
    out.checks.append(f"statement: every field matches the {len(used)} records the cited transactions wrote")
    return out


def _check_chain(cert: Certificate) -> list[HeaderLink]:
    chain = cert.chain
    if not chain:
        raise Refused("the certificate has no block headers")
    for prev, cur in itertools.pairwise(chain):
        if cur.number != prev.number + 1:
            raise Refused(f"hash chain: block {prev.number + 1} is missing (next header is {cur.number})")
        if cur.previous_hash != prev.hash:
            raise Refused(f"hash chain broken: block {cur.number}'s previous hash is not block {prev.number}'s hash")
    return chain


def _check_orderers(block: Any, trust: ChannelTrust) -> list[str]:
    signers: list[Identity] = []
    problems = []
    for sig in orderer_signatures(block):
        try:
            who = trust.identity(sig.creator) if sig.creator is not None else trust.consenter(sig.consenter_id or 0)
            check_signature(who.certificate, sig.signed_bytes, sig.signature)
        except Refused as exc:
            problems.append(str(exc))
            continue
        signers.append(who)
    if not trust.satisfies(BLOCK_VALIDATION, signers):
        why = f": {'; '.join(problems)}" if problems else ""
        raise Refused(f"block {block.header.number}: orderer signatures do not satisfy {BLOCK_VALIDATION}{why}")
    return _names(signers)


def _names(who: Any) -> list[str]:
    return [f"{i.msp_id}:{i.subject}" for i in who]


def _derive(stated: dict[str, Any], read: statements.Reader) -> dict[str, Any]:
    model = stated.get("model")
    if not isinstance(model, dict):
        raise Refused("the statement names no model")
    study, rnd, digest = model.get("study"), model.get("round"), model.get("hash")
    if not isinstance(study, str) or not isinstance(digest, str) or not (rnd is None or isinstance(rnd, int)):
        raise Refused("the statement's model needs study (text), round (number or null) and hash (text)")
    if not STUDY_ID.fullmatch(study):
        raise Refused(f"the statement's study {study[:60]!r} is not a study id")
    try:
        return statements.derive(study, rnd, digest, read)
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        raise Refused(f"a record the statement rests on lacks a field the chaincode writes: {exc!r}") from None


def _diff(stated: Any, derived: Any, path: str = "statement") -> list[str]:
    if isinstance(stated, dict) and isinstance(derived, dict):
        out = []
        for k in sorted(set(stated) | set(derived), key=str):
            if k not in derived:
                out.append(f"{path}.{k} is stated but not on the ledger")
            elif k not in stated:
                out.append(f"{path}.{k} is on the ledger but not stated")
            else:
                out += _diff(stated[k], derived[k], f"{path}.{k}")
        return out
    if isinstance(stated, list) and isinstance(derived, list) and len(stated) == len(derived):
        return [d for i, (a, b) in enumerate(zip(stated, derived, strict=True)) for d in _diff(a, b, f"{path}[{i}]")]
    if stated != derived or type(stated) is not type(derived):
        return [f"{path}: stated {_short(stated)}, the ledger says {_short(derived)}"]
    return []


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (ValueError, RecursionError):
        return "(a value too deeply nested to print)"
    return text if len(text) <= 80 else text[:77] + "..."
