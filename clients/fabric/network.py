"""A channel seen through a gateway: its contracts, commit waits and the peer's ledger queries
(qscc), and chaincode event streams."""

from __future__ import annotations

from fabric_protos.common import common_pb2
from fabric_protos.peer import transaction_pb2

from clients.fabric.contract import Contract
from clients.fabric.errors import EvaluateError
from clients.fabric.events import ChaincodeEventStream, Checkpoint
from clients.fabric.proposal import build_proposal
from clients.fabric.service import GatewayService
from clients.fabric.transaction import Transaction


class Network:
    """A channel seen through a gateway."""

    def __init__(self, service: GatewayService, channel: str) -> None:
        self.service = service
        self.channel = channel

    def contract(self, chaincode: str, contract_name: str = "") -> Contract:
        return Contract(self.service, self.channel, chaincode, contract_name)

    def wait_for_commit(self, tx_id: str) -> tuple[int, int]:
        """Block until this gateway's peer has committed ``tx_id`` (submitted by anyone);
        returns (TxValidationCode, block number). Use it before acting on another org's write:
        peers commit each block independently, so one peer can lag another by a block."""
        return self.service.commit_status(tx_id, self.channel)

    def prepared(self, tx_id: str, envelope: common_pb2.Envelope) -> Transaction:
        """A transaction endorsed earlier (its signed envelope kept, e.g. in a journal), to be
        sent again as is: the same transaction id commits at most once."""
        return Transaction(self.service, self.channel, tx_id, envelope, b"")

    def _qscc(self, *args: str) -> bytes:
        s = self.service
        raw_args = [a.encode() for a in args]
        return s.evaluate(build_proposal(s.identity, s.signer, self.channel, "qscc", raw_args, None), ())

    def height(self) -> int:
        """The number of blocks this gateway's peer has committed (qscc GetChainInfo)."""
        from fabric_protos.common import ledger_pb2

        return ledger_pb2.BlockchainInfo.FromString(self._qscc("GetChainInfo", self.channel)).height

    def block_bytes(self, number: int) -> bytes:
        """Block ``number`` exactly as the peer stores it (qscc GetBlockByNumber), e.g. for an
        auditor's scan of everything the ledger holds."""
        return self._qscc("GetBlockByNumber", self.channel, str(number))

    def block_of_transaction(self, tx_id: str) -> bytes:
        """The block that holds ``tx_id``, exactly as the peer stores it (qscc GetBlockByTxID)."""
        return self._qscc("GetBlockByTxID", self.channel, tx_id)

    def transaction_code(self, tx_id: str) -> int | None:
        """The validation code this gateway's peer recorded for ``tx_id`` (VALID, MVCC_READ_CONFLICT,
        ...), or None when its ledger holds no such transaction. Unlike ``wait_for_commit`` it
        never blocks: the way to learn whether a transaction sent before a crash landed."""
        s = self.service
        args = [b"GetTransactionByID", self.channel.encode(), tx_id.encode()]
        proposal = build_proposal(s.identity, s.signer, self.channel, "qscc", args, None)
        try:
            raw = s.evaluate(proposal, ())
        except EvaluateError as exc:
            if "no such transaction id" in str(exc).lower() or any(
                "no such transaction id" in d.message.lower() for d in exc.details
            ):
                return None
            raise
        return transaction_pb2.ProcessedTransaction.FromString(raw).validationCode

    def chaincode_events(self, chaincode: str, checkpoint: Checkpoint | None = None) -> ChaincodeEventStream:
        """Events of ``chaincode`` from the checkpoint on (or from now), resumable after a restart."""
        return ChaincodeEventStream(self.service, self.channel, chaincode, checkpoint)
