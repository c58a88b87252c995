"""A chaincode on a channel: queries, endorsements and submissions of its functions."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fabric_protos.common import common_pb2
from fabric_protos.peer import transaction_pb2

from clients.fabric.errors import CommitError, EndorseError
from clients.fabric.proposal import SignedProposal, build_proposal
from clients.fabric.service import GatewayService
from clients.fabric.transaction import RETRYABLE_COMMIT_CODES, Transaction, result_from_payload


@dataclass(frozen=True)
class SubmitResult:
    tx_id: str
    block_number: int
    payload: bytes
    attempts: int

    def json(self) -> Any:
        return json.loads(self.payload) if self.payload else None


class Contract:
    """A chaincode on a channel; function names are prefixed with ``contract_name:``."""

    def __init__(self, service: GatewayService, channel: str, chaincode: str, contract_name: str = "") -> None:
        self.service = service
        self.channel = channel
        self.chaincode = chaincode
        self.contract_name = contract_name

    def _args(self, function: str, arg: Any | None) -> list[bytes]:
        name = f"{self.contract_name}:{function}" if self.contract_name else function
        args = [name.encode()]
        if arg is not None:
            args.append(arg if isinstance(arg, bytes) else json.dumps(arg, sort_keys=True).encode())
        return args

    def new_proposal(
        self, function: str, arg: Any | None = None, transient: Mapping[str, bytes] | None = None
    ) -> SignedProposal:
        s = self.service
        return build_proposal(s.identity, s.signer, self.channel, self.chaincode, self._args(function, arg), transient)

    def evaluate(self, function: str, arg: Any | None = None, *, target_orgs: Sequence[str] = ()) -> Any:
        """Run a query on one peer and return its decoded JSON result."""
        raw = self.service.evaluate(self.new_proposal(function, arg), target_orgs)
        return json.loads(raw) if raw else None

    def endorse(
        self,
        proposal: SignedProposal,
        endorsing_orgs: Sequence[str] = (),
    ) -> Transaction:
        envelope = self.service.endorse(proposal, endorsing_orgs)
        payload = common_pb2.Payload()
        payload.ParseFromString(envelope.payload)
        return Transaction(self.service, self.channel, proposal.tx_id, envelope, result_from_payload(payload))

    def submit(
        self,
        function: str,
        arg: Any | None = None,
        *,
        transient: Mapping[str, bytes] | None = None,
        endorsing_orgs: Sequence[str] = (),
        max_attempts: int = 5,
    ) -> SubmitResult:
        """Endorse, order and wait for commit. Retried as a new transaction: a read conflict at
        commit (MVCC/phantom), and endorsers that answered differently because one of them had
        not yet committed the latest block ("ProposalResponsePayloads do not match")."""
        delay = 0.05
        for attempt in range(1, max_attempts + 1):
            proposal = self.new_proposal(function, arg, transient)
            try:
                tx = self.endorse(proposal, endorsing_orgs)
            except EndorseError as exc:
                if not endorsers_disagreed(exc) or attempt == max_attempts:
                    raise
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)
                continue
            code, block = tx.submit().status()
            if code == transaction_pb2.VALID:
                return SubmitResult(tx.tx_id, block, tx.result, attempt)
            if code not in RETRYABLE_COMMIT_CODES or attempt == max_attempts:
                raise CommitError(tx.tx_id, code, block)
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")


def endorsers_disagreed(exc: EndorseError) -> bool:
    """True when endorsements differed (a peer behind by a block), not when the contract refused."""
    return any("ProposalResponsePayloads do not match" in d.message for d in exc.details) or (
        "ProposalResponsePayloads do not match" in str(exc)
    )
