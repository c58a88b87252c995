"""Issue a certificate: gather, through one org's gateway peer, the evidence for a model.

The issuer derives the statement with the same function the verifier runs, reading each record
from the write set of the transaction that wrote its current value (``Compliance:RoundWrites``,
from the peer's history) inside the block that holds it (qscc). It then adds every header
between the first and the last evidence block, so the blocks link into one hash chain. Nothing
the issuer says is taken on trust: a verifier re-derives it all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chaincode.runtime import canonical
from clients.fabric import EvaluateError, Network
from clients.ledger import Compliance, LedgerClient
from provenance import statement as statements
from provenance.blocks import last_config_index, link_of, parse_block
from provenance.certificate import Certificate
from provenance.errors import Refused
from provenance.transactions import tx_id_of, unverified_writes

Progress = Callable[[str], None]


def channel_config_block(network: Network) -> bytes:
    """The channel's current configuration block, as this org's peer holds it: what a verifier
    trusts, so hand it over separately from (and before) any certificate."""
    latest = parse_block(network.block_bytes(network.height() - 1))
    return network.block_bytes(last_config_index(latest))


def find_model(ledger: LedgerClient, model_hash: str) -> tuple[str, int | None]:
    """(study, round) of the study round whose aggregate is ``model_hash``, or (study, None) for
    a study's initial model (``Compliance:FindModel``)."""
    try:
        found = ledger.evaluate(Compliance.find_model(model_hash))
    except EvaluateError as exc:
        if exc.chaincode_status == 404:
            raise Refused(f"no study on the ledger made or started from model {model_hash}") from None
        raise
    return found["study_id"], found["round"]


def issue(ledger: LedgerClient, model_hash: str, study_id: str | None = None, round_no: int | None = None,
          progress: Progress = lambda _m: None) -> Certificate:  # fmt: skip
    """The certificate of ``model_hash`` (located with :func:`find_model` unless given)."""
    if study_id is None:
        study_id, round_no = find_model(ledger, model_hash)
    network = ledger.network
    writers: dict[str, str] = {}
    loaded: set[int | None] = set()
    blocks: dict[int, bytes] = {}
    tx_block: dict[str, int] = {}

    def writes_of(n: int | None) -> None:
        if n not in loaded:
            loaded.add(n)
            for key, w in ledger.evaluate(Compliance.round_writes(study_id, n)).items():
                writers.setdefault(key, w["tx_id"])

    def read(key: str) -> dict[str, Any]:
        kind, parts = key.split("\x00")[1], key.split("\x00")[2:-1]
        writes_of(int(parts[1]) if kind != "study" and len(parts) > 1 else None)
        tx_id = writers.get(key)
        if tx_id is None:
            raise Refused(f"the ledger holds no write of {statements.printable(key)}")
        if tx_id not in tx_block:
            raw = network.block_of_transaction(tx_id)
            number = parse_block(raw).header.number
            blocks[number] = raw
            for env in parse_block(raw).data.data:
                tx_block.setdefault(tx_id_of(bytes(env)), number)
            progress(f"{statements.printable(key)}: transaction {tx_id[:12]} in block {number}")
        block = parse_block(blocks[tx_block[tx_id]])
        return _written(block, tx_id, key, ledger.chaincode)

    used: dict[str, str] = {}

    def read_and_cite(key: str) -> dict[str, Any]:
        value = read(key)
        used[key] = writers[key]
        return value

    stated = statements.derive(study_id, round_no, model_hash, read_and_cite)
    low, high = min(blocks), max(blocks)
    progress(f"hash chain: headers of blocks {low}-{high}")
    chain = []
    for n in range(low, high + 1):
        raw = blocks.get(n) or network.block_bytes(n)
        chain.append(link_of(parse_block(raw)))
    return Certificate(
        channel=network.channel,
        chaincode=ledger.chaincode,
        statement=stated,
        writes=used,
        blocks=blocks,
        chain=chain,
        issued={"by": network.service.identity.msp_id, "at": datetime.now(UTC).isoformat(timespec="seconds")},
    )


def _written(block: Any, tx_id: str, key: str, chaincode: str) -> dict[str, Any]:
    env = next(bytes(e) for e in block.data.data if tx_id_of(bytes(e)) == tx_id)
    value = unverified_writes(env).get(chaincode, {}).get(key)
    if value is None:
        raise Refused(f"transaction {tx_id} did not write {statements.printable(key)}")
    return canonical.loads(value)
