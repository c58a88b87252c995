"""The Fabric Gateway service's five calls over one gRPC connection, signed by one identity:
the core every concept of this client (gateway, network, contract, transaction, events) is
handed, so that none of them reaches into another's internals.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc

from clients.fabric.errors import CommitStatusError, EndorseError, EvaluateError, SubmitError, from_rpc_error
from clients.fabric.identity import Identity, Signer
from clients.fabric.proposal import SignedProposal

T = TypeVar("T")


@dataclass(frozen=True)
class Timeouts:
    evaluate_s: float = 30.0
    endorse_s: float = 30.0
    submit_s: float = 30.0
    commit_status_s: float = 60.0


def _once_more_if_unavailable(call: Callable[[], T]) -> T:
    """``call``, asked a second time if the first found the connection broken (UNAVAILABLE:
    e.g. the peer's host was cut off and is back; gRPC reconnects on the next call). Only for
    the calls that change nothing (evaluate, endorse): submitting is never repeated here."""
    try:
        return call()
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.UNAVAILABLE:  # type: ignore[attr-defined]
            raise
        time.sleep(0.5)
        return call()


class GatewayService:
    """Evaluate, Endorse, Submit, CommitStatus and ChaincodeEvents of one peer's Gateway
    service, as ``identity``; gRPC failures become the errors of clients/fabric/errors.py."""

    def __init__(self, address: str, tls_root_cert: bytes, identity: Identity, signer: Signer,
                 timeouts: Timeouts | None = None, server_name: str | None = None) -> None:  # fmt: skip
        self.address = address
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

    def close(self) -> None:
        self._channel.close()

    def evaluate(self, proposal: SignedProposal, target_orgs: Sequence[str]) -> bytes:
        request = gateway_pb2.EvaluateRequest(
            transaction_id=proposal.tx_id,
            channel_id=proposal.channel_id,
            proposed_transaction=proposal.proto,
            target_organizations=list(target_orgs),
        )
        try:
            response = _once_more_if_unavailable(lambda: self._stub.Evaluate(request, timeout=self.timeouts.evaluate_s))
        except grpc.RpcError as err:
            raise from_rpc_error(EvaluateError, err, "evaluate") from None
        if response.result.status >= 400:
            raise EvaluateError(
                f"evaluate failed: chaincode response {response.result.status}, {response.result.message}"
            )
        return response.result.payload

    def endorse(self, proposal: SignedProposal, endorsing_orgs: Sequence[str]) -> common_pb2.Envelope:
        request = gateway_pb2.EndorseRequest(
            transaction_id=proposal.tx_id,
            channel_id=proposal.channel_id,
            proposed_transaction=proposal.proto,
            endorsing_organizations=list(endorsing_orgs),
        )
        try:
            response = _once_more_if_unavailable(lambda: self._stub.Endorse(request, timeout=self.timeouts.endorse_s))
        except grpc.RpcError as err:
            raise from_rpc_error(EndorseError, err, "endorse") from None
        envelope = response.prepared_transaction
        envelope.signature = self.signer.sign(envelope.payload)
        return envelope

    def submit(self, tx_id: str, channel_id: str, envelope: common_pb2.Envelope) -> None:
        request = gateway_pb2.SubmitRequest(transaction_id=tx_id, channel_id=channel_id, prepared_transaction=envelope)
        try:
            self._stub.Submit(request, timeout=self.timeouts.submit_s)
        except grpc.RpcError as err:
            raise from_rpc_error(SubmitError, err, "submit") from None

    def commit_status(self, tx_id: str, channel_id: str) -> tuple[int, int]:
        request = gateway_pb2.CommitStatusRequest(
            transaction_id=tx_id, channel_id=channel_id, identity=self.identity.serialize()
        ).SerializeToString()
        signed = gateway_pb2.SignedCommitStatusRequest(request=request, signature=self.signer.sign(request))
        try:
            response = self._stub.CommitStatus(signed, timeout=self.timeouts.commit_status_s)
        except grpc.RpcError as err:
            raise from_rpc_error(CommitStatusError, err, "commit status") from None
        return response.result, response.block_number

    def chaincode_events(
        self, request: gateway_pb2.SignedChaincodeEventsRequest
    ) -> Iterator[gateway_pb2.ChaincodeEventsResponse]:
        return self._stub.ChaincodeEvents(request)
