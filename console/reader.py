"""What each console view reads from the ledger, through the org's own gateway peer.

Every answer is cached per ledger height (the highest block the event stream has seen): the
ledger cannot change without a new block, so a page asked for again at the same height costs
no ledger call. Pages never see patient data: the ledger holds none, and the consent view
reads counts only (``Consent:Summary``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from fabric_protos.common import common_pb2
from fabric_protos.peer import transaction_pb2
from google.protobuf.message import DecodeError

from clients.fabric import EvaluateError, GatewayError
from clients.ledger import Compliance, Consent, LedgerClient, Registry, Round, Study
from console.events import EventHub
from provenance import statement as statements
from provenance.blocks import link_of, orderer_signatures, parse_block, validation_flags
from provenance.certificate import Certificate
from provenance.channel_config import ChannelTrust
from provenance.errors import Refused
from provenance.issue import issue
from provenance.msp import parse_serialized_identity
from provenance.transactions import tx_id_of, unverified_writes

POLICIES = ("/Channel/Application/Endorsement", "/Channel/Application/Writers", "/Channel/Application/Admins",
            "/Channel/Application/LifecycleEndorsement", "/Channel/Orderer/BlockValidation")  # fmt: skip
MAX_AGE_S = 10
HEX64 = frozenset("0123456789abcdef")


class LedgerReader:
    def __init__(self, ledger: LedgerClient, trust: ChannelTrust, events: EventHub) -> None:
        self.ledger = ledger
        self.trust = trust
        self.events = events
        self._cache: dict[tuple, tuple[tuple[int, int], Any]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every cached answer (benchmarks measure the uncached cost this way)."""
        with self._lock:
            self._cache.clear()

    # --- caching -----------------------------------------------------------------------------
    def cached(self, key: tuple, load: Callable[[], Any]) -> Any:
        """``load()``'s answer, computed once per ledger height (and at most every MAX_AGE_S)."""
        # a new block is the only way the ledger changes; the time bucket covers a block whose
        # transactions set no event (the stream would not show it)
        height = (self.events.height, int(time.monotonic() // MAX_AGE_S))
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] == height:
            return hit[1]
        value = load()
        with self._lock:
            if len(self._cache) > 2000:
                self._cache.clear()
            self._cache[key] = (height, value)
        return value

    def _q(self, call: Any) -> Any:
        return self.cached(("q", call.contract, call.function, repr(sorted((call.args or {}).items()))),
                            lambda: self.ledger.evaluate(call))  # fmt: skip

    def height(self) -> int:
        return self.cached(("height",), self.ledger.network.height)

    # --- views ---------------------------------------------------------------------------------
    def consortium(self) -> dict[str, Any]:
        registry = {r["msp_id"]: r for r in self._q(Registry.list())}
        orgs = []
        for msp_id in sorted(self.trust.msps):
            kind = "orderer" if msp_id in self.trust.orderer_orgs else "application"
            orgs.append({"msp_id": msp_id, "kind": kind, "registered": registry.get(msp_id),
                         "anchor_peers": self.trust.anchor_peers.get(msp_id, []),
                         "orderers": self.trust.orderer_endpoints.get(msp_id, [])})  # fmt: skip
        return {
            "channel": self.trust.channel_id,
            "config_sequence": self.trust.sequence,
            "consensus": self.trust.orderer_type,
            "consenters": [{"id": c.consenter_id, "msp_id": c.msp_id} for c in self.trust.consenters.values()],
            "orgs": orgs,
            "policies": [{"path": p, "rule": self.trust.describe(p)} for p in POLICIES],
            "height": self.height(),
        }

    def studies(self) -> list[dict[str, Any]]:
        return self._q(Study.list())

    def study(self, study_id: str, timeline: bool = True) -> dict[str, Any]:
        """A study with its lineage; with ``timeline``, also its logged actions (each with its
        block), the epsilon each hospital spent (summed from the lineage's commitments) and
        its slashings."""
        study = self._q(Study.get(study_id))
        lineage = self._q(Compliance.model_lineage(study_id))
        out = {"study": study, "lineage": lineage}
        if not timeline:
            return out
        entries = self._q(Compliance.study_timeline(study_id))
        for entry in entries:
            entry["block"] = self.events.block_of(entry["tx_id"])
        spent = {m: 0 for m in study["enrolled"]}
        for v in lineage["versions"]:
            for m, e in v["epsilon_micro"].items():
                spent[m] = spent.get(m, 0) + e
        slashings = [s for s in self._q(Compliance.slashings()) if s.get("study") == study_id]
        return {**out, "timeline": entries, "spent_micro": spent, "slashings": slashings}

    def round(self, study_id: str, n: int) -> dict[str, Any]:
        return self._q(Round.get(study_id, n))

    def hospital(self, msp_id: str) -> dict[str, Any]:
        record = self._q(Compliance.org_record(msp_id))
        for entry in record["activity"]:
            entry["block"] = self.events.block_of(entry["tx_id"])
        rewards = [{"study": sid, **r} for sid, s in record["studies"].items() for r in s["rewards"]]
        return {"registered": self._q(Registry.get(msp_id)), **record,
                "rewards": sorted(rewards, key=lambda r: r["ts_ms"])}  # fmt: skip

    def certificate(self, model_hash: str) -> Certificate:
        """The provenance certificate of ``model_hash``, issued through this org's peer."""
        return self.cached(("cert", model_hash), lambda: issue(self.ledger, model_hash))

    def consent(self) -> dict[str, Any]:
        return self._q(Consent.summary())

    # --- search ----------------------------------------------------------------------------------
    def search(self, query: str) -> dict[str, Any]:
        """A transaction id, a block number or a model hash: what the ledger holds under it."""
        q = query.strip().lower()
        if q.isdigit() and len(q) < 19:
            return {"kind": "block", "block": self.block(int(q))}
        if len(q) == 64 and set(q) <= HEX64:  # a transaction id or a model hash: ask the peer for both
            found = self.transaction(q)
            if found is not None:
                return {"kind": "transaction", "transaction": found}
            model = self.model(q)
            if model is not None:
                return {"kind": "model", "hash": q, "study": model[0], "round": model[1]}
        return {"kind": "none", "query": query[:100]}

    def model(self, model_hash: str) -> tuple[str, int | None] | None:
        """(study, round; None for an initial model) that made ``model_hash``, or None."""

        def load() -> tuple[str, int | None] | None:
            try:
                found = self.ledger.evaluate(Compliance.find_model(model_hash))
            except EvaluateError as exc:
                if exc.chaincode_status == 404:
                    return None
                raise
            return found["study_id"], found["round"]

        return self.cached(("model", model_hash), load)

    def block(self, number: int) -> dict[str, Any] | None:
        """Block ``number`` summarised, or None when the peer has no such block."""
        return self.cached(("block", number), lambda: self._summary(lambda: self.ledger.network.block_bytes(number)))

    def transaction(self, tx_id: str) -> dict[str, Any] | None:
        """The transaction ``tx_id`` summarised with its block's number, or None."""

        def load() -> dict[str, Any] | None:
            summary = self._summary(lambda: self.ledger.network.block_of_transaction(tx_id))
            tx = next((t for t in (summary or {}).get("transactions", []) if t["tx_id"] == tx_id), None)
            return None if tx is None or summary is None else {**tx, "block": summary["number"]}

        return self.cached(("tx", tx_id), load)

    @staticmethod
    def _summary(fetch: Callable[[], bytes]) -> dict[str, Any] | None:
        try:
            return _block_summary(fetch())
        except GatewayError:
            return None  # the peer holds no such block or transaction


def _block_summary(raw: bytes) -> dict[str, Any]:
    block = parse_block(raw)
    link = link_of(block)
    flags = validation_flags(block)
    txs = []
    for i, env in enumerate(block.data.data):
        txs.append({**_tx_summary(bytes(env)), "valid": i < len(flags) and flags[i] == 0,
                    "code": transaction_pb2.TxValidationCode.Name(flags[i]) if i < len(flags) else "?"})  # fmt: skip
    return {
        "number": link.number,
        "hash": link.hash.hex(),
        "previous_hash": link.previous_hash.hex(),
        "data_hash": link.data_hash.hex(),
        "signatures": len(orderer_signatures(block)),
        "transactions": txs,
    }


def _tx_summary(env: bytes) -> dict[str, Any]:
    """Who sent it, when, and which ledger keys it wrote: never argument values."""
    try:
        payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(env).payload)
        ch = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        creator_bytes = common_pb2.SignatureHeader.FromString(payload.header.signature_header).creator
    except DecodeError:
        return {"tx_id": tx_id_of(env), "type": "unreadable", "creator": "", "timestamp_s": None, "keys": []}
    try:
        msp_id, cert = parse_serialized_identity(creator_bytes)
        creator = f"{msp_id} ({cert.subject.rfc4514_string()})"
    except Refused:
        creator = ""  # e.g. a genesis block's configuration carries no creator
    kind = common_pb2.HeaderType.Name(ch.type) if ch.type in common_pb2.HeaderType.values() else str(ch.type)
    keys: list[str] = []
    if ch.type == common_pb2.ENDORSER_TRANSACTION:
        try:
            keys = [f"{ns}: {statements.printable(k)}" for ns, w in unverified_writes(env).items() for k in w]
        except Refused:
            keys = []
    return {"tx_id": ch.tx_id, "type": kind, "creator": creator, "timestamp_s": ch.timestamp.seconds,
            "keys": keys[:50]}  # fmt: skip
