"""A :class:`Stub` whose primitive calls travel to the peer over the shim stream."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fabric_protos.ledger.queryresult import kv_query_result_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim

from chaincode.runtime.proposal import TransactionContext
from chaincode.runtime.stub import KV, KeyModification, Page, Stub

Msg = shim.ChaincodeMessage
# call(message type, serialized payload) -> RESPONSE payload; raises PeerError on ERROR
PeerCall = Callable[[int, bytes], bytes]


class PeerStub(Stub):
    """Ledger access through the peer. Writes are sent in one WRITE_BATCH_STATE message at the
    end when the peer offers write batching (Fabric >= 2.5.x), else one message each."""

    def __init__(
        self,
        context: TransactionContext,
        args: Sequence[bytes],
        call: PeerCall,
        write_batch_limit: int = 0,
    ) -> None:
        super().__init__(context, args)
        self._call = call
        self._batch_limit = write_batch_limit
        self._batch: dict[tuple[str, str], shim.WriteRecord] = {}

    # --- reads ------------------------------------------------------------------------------
    def _get(self, collection: str, key: str) -> bytes | None:
        payload = shim.GetState(key=key, collection=collection).SerializeToString()
        value = self._call(Msg.GET_STATE, payload)
        return value or None

    def _get_hash(self, collection: str, key: str) -> bytes | None:
        payload = shim.GetState(key=key, collection=collection).SerializeToString()
        value = self._call(Msg.GET_PRIVATE_DATA_HASH, payload)
        return value or None

    def _range(self, collection: str, start: str, end: str, page_size: int, bookmark: str) -> Page:
        metadata = b""
        if page_size:
            metadata = shim.QueryMetadata(pageSize=page_size, bookmark=bookmark).SerializeToString()
        request = shim.GetStateByRange(startKey=start, endKey=end, collection=collection, metadata=metadata)
        response = self._query_response(self._call(Msg.GET_STATE_BY_RANGE, request.SerializeToString()))
        items: list[KV] = []
        next_bookmark = ""
        while True:
            for result in response.results:
                kv = kv_query_result_pb2.KV()
                kv.ParseFromString(result.resultBytes)
                items.append(KV(kv.key, kv.value))
            if response.metadata:
                meta = shim.QueryResponseMetadata()
                meta.ParseFromString(response.metadata)
                next_bookmark = meta.bookmark
            if not response.has_more:
                break
            nxt = shim.QueryStateNext(id=response.id).SerializeToString()
            response = self._query_response(self._call(Msg.QUERY_STATE_NEXT, nxt))
        if page_size and len(items) < page_size:
            next_bookmark = ""
        return Page(items, next_bookmark)

    def _history(self, key: str) -> list[KeyModification]:
        request = shim.GetHistoryForKey(key=key).SerializeToString()
        response = self._query_response(self._call(Msg.GET_HISTORY_FOR_KEY, request))
        out: list[KeyModification] = []
        while True:
            for result in response.results:
                mod = kv_query_result_pb2.KeyModification()
                mod.ParseFromString(result.resultBytes)
                out.append(
                    KeyModification(mod.tx_id, mod.value, mod.timestamp.seconds, mod.timestamp.nanos, mod.is_delete)
                )
            if not response.has_more:
                break
            nxt = shim.QueryStateNext(id=response.id).SerializeToString()
            response = self._query_response(self._call(Msg.QUERY_STATE_NEXT, nxt))
        # the peer returns newest first; callers read a timeline oldest first
        out.reverse()
        return out

    @staticmethod
    def _query_response(raw: bytes) -> shim.QueryResponse:
        response = shim.QueryResponse()
        response.ParseFromString(raw)
        return response

    # --- writes -----------------------------------------------------------------------------
    def _write(self, collection: str, key: str, value: bytes | None) -> None:
        if self._batch_limit:
            kind = shim.WriteRecord.DEL_STATE if value is None else shim.WriteRecord.PUT_STATE
            self._batch[(collection, key)] = shim.WriteRecord(
                key=key, value=value or b"", collection=collection, type=kind
            )
            return
        if value is None:
            self._call(Msg.DEL_STATE, shim.DelState(key=key, collection=collection).SerializeToString())
        else:
            self._call(Msg.PUT_STATE, shim.PutState(key=key, value=value, collection=collection).SerializeToString())

    def _purge(self, collection: str, key: str) -> None:
        if self._batch_limit:
            self._batch[(collection, key)] = shim.WriteRecord(
                key=key, collection=collection, type=shim.WriteRecord.PURGE_PRIVATE_DATA
            )
            return
        self._call(Msg.PURGE_PRIVATE_DATA, shim.DelState(key=key, collection=collection).SerializeToString())

    def flush(self) -> None:
        """Send buffered writes; called once the contract function returned successfully."""
        records = list(self._batch.values())
        self._batch.clear()
        for i in range(0, len(records), max(self._batch_limit, 1)):
            chunk = shim.WriteBatchState(rec=records[i : i + self._batch_limit])
            self._call(Msg.WRITE_BATCH_STATE, chunk.SerializeToString())
