"""A Python client for Fabric's Gateway service, shaped like fabric-gateway's own clients.

``Gateway`` (one gRPC connection to a peer, one identity) -> ``Network`` (a channel) ->
``Contract`` (a chaincode, optionally a named contract inside it). ``evaluate`` runs a query
on one peer; ``submit`` endorses, orders and waits for the commit, retrying on MVCC read
conflicts with a fresh transaction. The finer path ``new_proposal -> endorse -> submit ->
status`` is there for callers that must record the transaction id before it is sent (the
agent does, so that a crash never submits twice).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.peer import transaction_pb2

from clients.fabric.errors import (
    CommitError,
    CommitStatusError,
    EndorseError,
    EvaluateError,
    SubmitError,
    from_rpc_error,
)
from clients.fabric.events import ChaincodeEventStream, Checkpoint
from clients.fabric.identity import Identity, Signer, load_msp_identity
from clients.fabric.proposal import SignedProposal, build_proposal

RETRYABLE_COMMIT_CODES = {
    transaction_pb2.MVCC_READ_CONFLICT,
    transaction_pb2.PHANTOM_READ_CONFLICT,
}


@dataclass(frozen=True)
class Timeouts:
    evaluate_s: float = 30.0
    endorse_s: float = 30.0
    submit_s: float = 30.0
    commit_status_s: float = 60.0


@dataclass(frozen=True)
class SubmitResult:
    tx_id: str
    block_number: int
    payload: bytes
    attempts: int

    def json(self) -> Any:
        return json.loads(self.payload) if self.payload else None


class Gateway:
    """One identity connected to one peer's Gateway service over TLS."""

    def __init__(
        self,
        address: str,
        tls_root_cert: bytes,
        identity: Identity,
        signer: Signer,
        timeouts: Timeouts | None = None,
        server_name: str | None = None,
    ) -> None:
        self.identity = identity
        self.signer = signer
        self.timeouts = timeouts or Timeouts()
        options = [
            ("grpc.max_receive_message_length", 100 * 1024 * 1024),
            ("grpc.max_send_message_length", 100 * 1024 * 1024),
            ("grpc.keepalive_time_ms", 60_000),
        ]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        creds = grpc.ssl_channel_credentials(root_certificates=tls_root_cert)
        self._channel = grpc.secure_channel(address, creds, options=options)
        self._stub = gateway_pb2_grpc.GatewayStub(self._channel)
        self.address = address

    @classmethod
    def connect(cls, address: str, tls_root_cert_file: Path, msp_dir: Path, msp_id: str, **kw: Any) -> Gateway:
        """Connect with the identity stored in an MSP folder (signcerts/ + keystore/)."""
        identity, signer = load_msp_identity(msp_dir, msp_id)
        return cls(address, tls_root_cert_file.read_bytes(), identity, signer, **kw)

    def network(self, channel: str) -> Network:
        return Network(self, channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- raw service calls ------------------------------------------------------------------
    def _evaluate(self, proposal: SignedProposal, target_orgs: Sequence[str]) -> bytes:
        request = gateway_pb2.EvaluateRequest(
            transaction_id=proposal.tx_id,
            channel_id=proposal.channel_id,
            proposed_transaction=proposal.proto,
            target_organizations=list(target_orgs),
        )
        try:
            response = self._stub.Evaluate(request, timeout=self.timeouts.evaluate_s)
        except grpc.RpcError as err:
            raise from_rpc_error(EvaluateError, err, "evaluate") from None
        if response.result.status >= 400:
            raise EvaluateError(
                f"evaluate failed: chaincode response {response.result.status}, {response.result.message}"
            )
        return response.result.payload

    def _endorse(self, proposal: SignedProposal, endorsing_orgs: Sequence[str]) -> common_pb2.Envelope:
        request = gateway_pb2.EndorseRequest(
            transaction_id=proposal.tx_id,
            channel_id=proposal.channel_id,
            proposed_transaction=proposal.proto,
            endorsing_organizations=list(endorsing_orgs),
        )
        try:
            response = self._stub.Endorse(request, timeout=self.timeouts.endorse_s)
        except grpc.RpcError as err:
            raise from_rpc_error(EndorseError, err, "endorse") from None
        envelope = response.prepared_transaction
        envelope.signature = self.signer.sign(envelope.payload)
        return envelope

    def _submit(self, tx_id: str, channel_id: str, envelope: common_pb2.Envelope) -> None:
        request = gateway_pb2.SubmitRequest(transaction_id=tx_id, channel_id=channel_id, prepared_transaction=envelope)
        try:
            self._stub.Submit(request, timeout=self.timeouts.submit_s)
        except grpc.RpcError as err:
            raise from_rpc_error(SubmitError, err, "submit") from None

    def _commit_status(self, tx_id: str, channel_id: str) -> tuple[int, int]:
        request = gateway_pb2.CommitStatusRequest(
            transaction_id=tx_id, channel_id=channel_id, identity=self.identity.serialize()
        ).SerializeToString()
        signed = gateway_pb2.SignedCommitStatusRequest(request=request, signature=self.signer.sign(request))
        try:
            response = self._stub.CommitStatus(signed, timeout=self.timeouts.commit_status_s)
        except grpc.RpcError as err:
            raise from_rpc_error(CommitStatusError, err, "commit status") from None
        return response.result, response.block_number

    def _chaincode_events(self, request: gateway_pb2.SignedChaincodeEventsRequest):
        return self._stub.ChaincodeEvents(request)


class Network:
    """A channel seen through a gateway."""

    def __init__(self, gateway: Gateway, channel: str) -> None:
        self.gateway = gateway
        self.channel = channel

    def contract(self, chaincode: str, contract_name: str = "") -> Contract:
        return Contract(self, chaincode, contract_name)

    def wait_for_commit(self, tx_id: str) -> tuple[int, int]:
        """Block until this gateway's peer has committed ``tx_id`` (submitted by anyone);
        returns (TxValidationCode, block number). Use it before acting on another org's write:
        peers commit each block independently, so one peer can lag another by a block."""
        return self.gateway._commit_status(tx_id, self.channel)

    def _qscc(self, *args: str) -> bytes:
        gw = self.gateway
        raw_args = [a.encode() for a in args]
        return gw._evaluate(build_proposal(gw.identity, gw.signer, self.channel, "qscc", raw_args, None), ())

    def height(self) -> int:
        """The number of blocks this gateway's peer has committed (qscc GetChainInfo)."""
        from fabric_protos.common import ledger_pb2

        return ledger_pb2.BlockchainInfo.FromString(self._qscc("GetChainInfo", self.channel)).height

    def block_bytes(self, number: int) -> bytes:
        """Block ``number`` exactly as the peer stores it (qscc GetBlockByNumber), e.g. for an
        auditor's scan of everything the ledger holds."""
        return self._qscc("GetBlockByNumber", self.channel, str(number))

    def transaction_code(self, tx_id: str) -> int | None:
        """The validation code this gateway's peer recorded for ``tx_id`` (VALID, MVCC_READ_CONFLICT,
        ...), or None when its ledger holds no such transaction. Unlike ``wait_for_commit`` it
        never blocks: the way to learn whether a transaction sent before a crash landed."""
        gw = self.gateway
        args = [b"GetTransactionByID", self.channel.encode(), tx_id.encode()]
        proposal = build_proposal(gw.identity, gw.signer, self.channel, "qscc", args, None)
        try:
            raw = gw._evaluate(proposal, ())
        except EvaluateError as exc:
            if "no such transaction id" in str(exc).lower() or any(
                "no such transaction id" in d.message.lower() for d in exc.details
            ):
                return None
            raise
        return transaction_pb2.ProcessedTransaction.FromString(raw).validationCode

    def chaincode_events(self, chaincode: str, checkpoint: Checkpoint | None = None) -> ChaincodeEventStream:
        """Events of ``chaincode`` from the checkpoint on (or from now), resumable after a restart."""
        return ChaincodeEventStream(self.gateway, self.channel, chaincode, checkpoint)


@dataclass(frozen=True)
class Transaction:
    """An endorsed transaction, ready to submit. ``tx_id`` is final from here on."""

    contract: Contract
    tx_id: str
    envelope: common_pb2.Envelope
    result: bytes

    def submit(self, attempts: int = 8) -> Commit:
        """Send to the ordering service. While it has no Raft leader (start-up, fail-over) the
        gateway answers UNAVAILABLE; the same signed envelope is sent again with backoff, which
        is safe: a transaction id can commit at most once."""
        gw = self.contract.network.gateway
        delay = 0.25
        for attempt in range(1, attempts + 1):
            try:
                gw._submit(self.tx_id, self.contract.network.channel, self.envelope)
                break
            except SubmitError as exc:
                if exc.code != grpc.StatusCode.UNAVAILABLE or attempt == attempts:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        return Commit(self.contract, self.tx_id)


@dataclass(frozen=True)
class Commit:
    contract: Contract
    tx_id: str

    def status(self) -> tuple[int, int]:
        """(TxValidationCode, block number) once the transaction is committed."""
        return self.contract.network.gateway._commit_status(self.tx_id, self.contract.network.channel)


class Contract:
    """A chaincode on a channel; function names are prefixed with ``contract_name:``."""

    def __init__(self, network: Network, chaincode: str, contract_name: str = "") -> None:
        self.network = network
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
        gw = self.network.gateway
        return build_proposal(
            gw.identity, gw.signer, self.network.channel, self.chaincode, self._args(function, arg), transient
        )

    def evaluate(self, function: str, arg: Any | None = None, *, target_orgs: Sequence[str] = ()) -> Any:
        """Run a query on one peer and return its decoded JSON result."""
        raw = self.network.gateway._evaluate(self.new_proposal(function, arg), target_orgs)
        return json.loads(raw) if raw else None

    def endorse(
        self,
        proposal: SignedProposal,
        endorsing_orgs: Sequence[str] = (),
    ) -> Transaction:
        envelope = self.network.gateway._endorse(proposal, endorsing_orgs)
        payload = common_pb2.Payload()
        payload.ParseFromString(envelope.payload)
        return Transaction(self, proposal.tx_id, envelope, _result_from_payload(payload))

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


def _result_from_payload(payload: common_pb2.Payload) -> bytes:
    """The chaincode's response payload inside an endorsed transaction envelope."""
    from fabric_protos.peer import proposal_pb2 as pp
    from fabric_protos.peer import proposal_response_pb2

    tx = transaction_pb2.Transaction()
    tx.ParseFromString(payload.data)
    if not tx.actions:
        return b""
    action_payload = transaction_pb2.ChaincodeActionPayload()
    action_payload.ParseFromString(tx.actions[0].payload)
    prp = proposal_response_pb2.ProposalResponsePayload()
    prp.ParseFromString(action_payload.action.proposal_response_payload)
    cc_action = pp.ChaincodeAction()
    cc_action.ParseFromString(prp.extension)
    return cc_action.response.payload
