"""An endorsed transaction on its way: sent to the ordering service (``Transaction``), then
waited for (``Commit``). Its id is final once endorsed, so it can be journaled before it is sent."""

from __future__ import annotations

import time
from dataclasses import dataclass

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.peer import transaction_pb2

from clients.fabric.errors import SubmitError
from clients.fabric.service import GatewayService

RETRYABLE_COMMIT_CODES = {
    transaction_pb2.MVCC_READ_CONFLICT,
    transaction_pb2.PHANTOM_READ_CONFLICT,
}


@dataclass(frozen=True)
class Transaction:
    """An endorsed transaction, ready to submit. ``tx_id`` is final from here on."""

    service: GatewayService
    channel: str
    tx_id: str
    envelope: common_pb2.Envelope
    result: bytes

    def submit(self, attempts: int = 8) -> Commit:
        """Send to the ordering service. While it has no Raft leader (start-up, fail-over) the
        gateway answers UNAVAILABLE; the same signed envelope is sent again with backoff, which
        is safe: a transaction id can commit at most once."""
        delay = 0.25
        for attempt in range(1, attempts + 1):
            try:
                self.service.submit(self.tx_id, self.channel, self.envelope)
                break
            except SubmitError as exc:
                if exc.code != grpc.StatusCode.UNAVAILABLE or attempt == attempts:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        return Commit(self.service, self.channel, self.tx_id)


@dataclass(frozen=True)
class Commit:
    service: GatewayService
    channel: str
    tx_id: str

    def status(self) -> tuple[int, int]:
        """(TxValidationCode, block number) once the transaction is committed."""
        return self.service.commit_status(self.tx_id, self.channel)


def result_from_payload(payload: common_pb2.Payload) -> bytes:
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
