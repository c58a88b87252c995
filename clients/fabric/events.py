"""Chaincode event streams that resume from a checkpoint.

Agents react to ledger events (round opened, commitments closed, ...) instead of polling. A
restarted agent must neither miss nor re-handle an event, so the stream starts from a
checkpoint: the block to start at and, inside it, the last transaction already handled.
(The agent keeps its checkpoint in memory: after a restart it re-reads the ledger's state,
level-triggered, so no event needs to survive a restart.)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from fabric_protos.gateway import gateway_pb2
from fabric_protos.orderer import ab_pb2

from clients.fabric.errors import GatewayError, from_rpc_error

if TYPE_CHECKING:
    from clients.fabric.service import GatewayService


@dataclass(frozen=True)
class ChaincodeEvent:
    block_number: int
    tx_id: str
    chaincode: str
    name: str
    payload: bytes

    def json(self) -> Any:
        return json.loads(self.payload) if self.payload else None


class Checkpoint:
    """In-memory checkpoint: ``block_number`` to resume from, ``tx_id`` last handled in it."""

    def __init__(self, block_number: int | None = None, tx_id: str = "") -> None:
        self.block_number = block_number
        self.tx_id = tx_id

    def after_event(self, event: ChaincodeEvent) -> None:
        self.block_number, self.tx_id = event.block_number, event.tx_id
        self.save()

    def after_block(self, block_number: int) -> None:
        self.block_number, self.tx_id = block_number + 1, ""
        self.save()

    def save(self) -> None:
        """Persist the position; the in-memory checkpoint has nothing to do."""


class ChaincodeEventStream:
    """Iterate chaincode events; ``close()`` from another thread ends the iteration."""

    def __init__(self, service: GatewayService, channel: str, chaincode: str, checkpoint: Checkpoint | None) -> None:
        self._service = service
        self._channel = channel
        self._chaincode = chaincode
        self.checkpoint = checkpoint or Checkpoint()
        self._call = None
        self._closed = threading.Event()

    def _request(self) -> gateway_pb2.SignedChaincodeEventsRequest:
        request = gateway_pb2.ChaincodeEventsRequest(
            channel_id=self._channel,
            chaincode_id=self._chaincode,
            identity=self._service.identity.serialize(),
            after_transaction_id=self.checkpoint.tx_id,
        )
        # without a start position the gateway delivers from the next block it commits
        # (it refuses SeekNewest); with a checkpoint, from the checkpoint's block on
        if self.checkpoint.block_number is not None:
            request.start_position.CopyFrom(
                ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=self.checkpoint.block_number))
            )
        raw = request.SerializeToString()
        return gateway_pb2.SignedChaincodeEventsRequest(request=raw, signature=self._service.signer.sign(raw))

    def __iter__(self) -> Iterator[ChaincodeEvent]:
        self._call = self._service.chaincode_events(self._request())
        if self._closed.is_set():
            self._call.cancel()
        try:
            for response in self._call:
                for ev in response.events:
                    event = ChaincodeEvent(
                        response.block_number, ev.tx_id, ev.chaincode_id, ev.event_name, bytes(ev.payload)
                    )
                    yield event
                    self.checkpoint.after_event(event)
                self.checkpoint.after_block(response.block_number)
        except grpc.RpcError as err:
            if self._closed.is_set() or err.code() == grpc.StatusCode.CANCELLED:
                return
            raise from_rpc_error(GatewayError, err, "chaincode events") from None

    def close(self) -> None:
        self._closed.set()
        if self._call is not None:
            self._call.cancel()
