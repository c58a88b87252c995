"""Gateway errors that say which peer refused and why.

The Fabric Gateway reports failures as gRPC statuses whose details list every peer's answer
(``gateway.ErrorDetail``: address, MSP ID, message). Each error here keeps those details so
the user sees, for example, that peer0.hospitalb refused with "403: only an admin ...".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import grpc
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import transaction_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class PeerDetail:
    address: str
    msp_id: str
    message: str


class GatewayError(Exception):
    """A gateway call failed; ``code`` is the gRPC status, ``details`` each peer's message."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None, details: tuple[PeerDetail, ...] = ()):
        self.code = code
        self.details = details
        text = message
        if details:
            text += "".join(f"\n  - {d.address} ({d.msp_id}): {d.message}" for d in details)
        super().__init__(text)

    @property
    def chaincode_message(self) -> str:
        """The contract's own refusal message when a peer reported one, else the summary."""
        for d in self.details:
            if "chaincode response" in d.message:
                return d.message.split(",", 1)[-1].strip()
        return str(self)

    @property
    def chaincode_status(self) -> int | None:
        """The contract's status code (400, 403, 404, 409...) when a peer reported one."""
        for d in self.details:
            m = re.search(r"chaincode response (\d{3})", d.message)
            if m:
                return int(m.group(1))
        return None


class EndorseError(GatewayError):
    """Endorsement failed: the contract refused, or not enough peers endorsed."""


class EvaluateError(GatewayError):
    """A query (evaluate) failed."""


class SubmitError(GatewayError):
    """The endorsed transaction could not be sent to the ordering service."""


class CommitStatusError(GatewayError):
    """The commit status of a transaction could not be obtained."""


class CommitError(Exception):
    """The transaction was ordered but the peers marked it invalid (e.g. MVCC_READ_CONFLICT)."""

    def __init__(self, tx_id: str, code: int, block_number: int) -> None:
        self.tx_id = tx_id
        self.code = code
        self.code_name = transaction_pb2.TxValidationCode.Name(code)
        self.block_number = block_number
        super().__init__(f"transaction {tx_id} failed to commit in block {block_number}: {self.code_name}")


def from_rpc_error(cls: type[GatewayError], err: grpc.RpcError, what: str) -> GatewayError:
    """Translate a gRPC error from the gateway into ``cls`` with every peer's detail."""
    code = err.code() if hasattr(err, "code") else None
    message = err.details() if hasattr(err, "details") else str(err)
    details: list[PeerDetail] = []
    try:
        status = rpc_status.from_call(err)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - malformed trailers: keep the plain message
        status = None
    if status is not None:
        for any_detail in status.details:
            detail = gateway_pb2.ErrorDetail()
            if any_detail.Unpack(detail):
                details.append(PeerDetail(detail.address, detail.msp_id, detail.message))
    name = code.name if code is not None else "UNKNOWN"
    return cls(f"{what} failed ({name}): {message}", code, tuple(details))
