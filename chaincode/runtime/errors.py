"""Errors a contract raises to refuse a call.

A refused call must reach the client as an endorsement failure (status >= 400) with a message
that says why, and must leave no writes behind: the peer discards the simulation's write set
whenever the response status is an error.
"""

from __future__ import annotations


class ContractError(Exception):
    """A call the contract refuses: bad arguments, wrong caller, illegal state.

    ``status`` follows HTTP conventions, which Fabric copies: 400 for bad input, 403 for a
    caller without the right, 404 for a missing record, 409 for a conflict with current state.
    """

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class InvalidArgument(ContractError):
    status = 400


class Forbidden(ContractError):
    status = 403


class NotFound(ContractError):
    status = 404


class Conflict(ContractError):
    status = 409


class PeerError(Exception):
    """The peer answered a stub call with ERROR (for example a private data collection the
    peer's org is not a member of). It aborts the transaction with status 500."""
