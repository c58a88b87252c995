"""The chaincode side of one shim stream with one peer.

Protocol (Fabric's shim): we send REGISTER with our chaincode id; the peer answers REGISTERED
then READY (optionally offering write batching); afterwards it sends TRANSACTION or INIT
messages, each of which we run on a worker thread. While a transaction runs, every ledger call
is a request message carrying the transaction's channel and id, answered by RESPONSE or
ERROR. The transaction ends with COMPLETED carrying a ``peer.Response`` and the chaincode
event. KEEPALIVE is echoed.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor

from fabric_protos.peer import chaincode_event_pb2, chaincode_pb2, proposal_response_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim

from chaincode.runtime.errors import PeerError
from chaincode.runtime.peer_stub import PeerStub
from chaincode.runtime.proposal import decode_signed_proposal
from chaincode.runtime.stub import Stub

log = logging.getLogger("fedledger.chaincode.handler")
Msg = shim.ChaincodeMessage

# invoke(stub) -> (status, message, payload); status >= 400 is an error
Dispatcher = Callable[[Stub], tuple[int, str, bytes]]
PEER_CALL_TIMEOUT_S = 30.0


class StreamHandler:
    """Drives one peer connection. ``send`` must be safe to call from any thread."""

    def __init__(self, chaincode_id: str, dispatch: Dispatcher, send: Callable[[Msg], None], executor: Executor):
        self._chaincode_id = chaincode_id
        self._dispatch = dispatch
        self._send = send
        self._executor = executor
        self._state = "created"
        self._waiters: dict[str, queue.Queue[Msg]] = {}
        self._lock = threading.Lock()
        self.write_batch_limit = 0

    def register(self) -> None:
        cid = chaincode_pb2.ChaincodeID(name=self._chaincode_id)
        self._send(Msg(type=Msg.REGISTER, payload=cid.SerializeToString()))

    # --- incoming ---------------------------------------------------------------------------
    def on_message(self, msg: Msg) -> None:
        if msg.type == Msg.KEEPALIVE:
            self._send(msg)
            return
        if self._state == "created":
            self._expect(msg, Msg.REGISTERED)
            self._state = "established"
        elif self._state == "established":
            self._expect(msg, Msg.READY)
            self._state = "ready"
            self._read_ready_params(msg.payload)
            log.info("registered with peer as %s (write batch limit %d)", self._chaincode_id, self.write_batch_limit)
        elif msg.type in (Msg.RESPONSE, Msg.ERROR):
            self._deliver(msg)
        elif msg.type in (Msg.TRANSACTION, Msg.INIT):
            self._executor.submit(self._run_transaction, msg)
        else:
            raise RuntimeError(f"unexpected {Msg.Type.Name(msg.type)} in state {self._state}")

    @staticmethod
    def _expect(msg: Msg, wanted: int) -> None:
        if msg.type != wanted:
            raise RuntimeError(f"peer sent {Msg.Type.Name(msg.type)}, expected {Msg.Type.Name(wanted)}")

    def _read_ready_params(self, payload: bytes) -> None:
        if not payload:
            return
        params = chaincode_pb2.ChaincodeAdditionalParams()
        params.ParseFromString(payload)
        if params.use_write_batch:
            self.write_batch_limit = max(params.max_size_write_batch, 1000)

    def _deliver(self, msg: Msg) -> None:
        with self._lock:
            waiter = self._waiters.get(msg.channel_id + msg.txid)
        if waiter is None:
            log.warning("response for unknown transaction %s/%s dropped", msg.channel_id, msg.txid[:12])
            return
        waiter.put(msg)

    # --- transactions -----------------------------------------------------------------------
    def _run_transaction(self, msg: Msg) -> None:
        key = msg.channel_id + msg.txid
        waiter: queue.Queue[Msg] = queue.Queue(maxsize=1)
        with self._lock:
            self._waiters[key] = waiter

        def call(msg_type: int, payload: bytes) -> bytes:
            self._send(Msg(type=msg_type, payload=payload, txid=msg.txid, channel_id=msg.channel_id))
            try:
                reply = waiter.get(timeout=PEER_CALL_TIMEOUT_S)
            except queue.Empty as exc:
                raise PeerError(f"peer did not answer {Msg.Type.Name(msg_type)} within {PEER_CALL_TIMEOUT_S}s") from exc
            if reply.type == Msg.ERROR:
                raise PeerError(reply.payload.decode(errors="replace"))
            return reply.payload

        try:
            reply = self._execute(msg, call)
        except Exception as exc:
            log.exception("transaction %s failed inside the runtime", msg.txid[:12])
            reply = Msg(type=Msg.ERROR, payload=str(exc).encode(), txid=msg.txid, channel_id=msg.channel_id)
        finally:
            with self._lock:
                self._waiters.pop(key, None)
        self._send(reply)

    def _execute(self, msg: Msg, call: Callable[[int, bytes], bytes]) -> Msg:
        chaincode_input = chaincode_pb2.ChaincodeInput()
        chaincode_input.ParseFromString(msg.payload)
        context = decode_signed_proposal(msg.proposal, msg.channel_id, msg.txid)
        stub = PeerStub(context, list(chaincode_input.args), call, self.write_batch_limit)
        status, message, payload = self._dispatch(stub)
        event = None
        if status < 400:
            stub.flush()
            if stub.event is not None:
                event = chaincode_event_pb2.ChaincodeEvent(
                    chaincode_id=self._chaincode_id.split(":")[0],
                    tx_id=msg.txid,
                    event_name=stub.event.name,
                    payload=stub.event.payload,
                )
        response = proposal_response_pb2.Response(status=status, message=message, payload=payload)
        return Msg(
            type=Msg.COMPLETED,
            payload=response.SerializeToString(),
            txid=msg.txid,
            channel_id=msg.channel_id,
            chaincode_event=event,
        )
