"""The fedledger chaincode on one channel, called with the catalog's :class:`Call` objects.

One ``LedgerClient`` stands for one identity's view of the chaincode (it wraps a Fabric
Gateway ``Network``, so its gateway, identity and channel); it adds no policy: queries go to
one peer, writes are endorsed, ordered and waited for exactly as ``clients.fabric.Contract``
does it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clients.fabric import Contract, Network, SubmitResult
from clients.fabric.transaction import Transaction
from clients.ledger.calls import Call


class LedgerClient:
    """The fedledger chaincode ``chaincode`` on ``network``'s channel."""

    def __init__(self, network: Network, chaincode: str) -> None:
        self.network = network
        self.chaincode = chaincode
        self._contracts: dict[str, Contract] = {}

    def contract(self, name: str) -> Contract:
        """The Gateway client's handle of one contract, e.g. for a component that takes one."""
        if name not in self._contracts:
            self._contracts[name] = self.network.contract(self.chaincode, name)
        return self._contracts[name]

    def evaluate(self, call: Call, *, target_orgs: Sequence[str] = ()) -> Any:
        """Run a query on one peer (of ``target_orgs`` if given) and return its decoded JSON answer."""
        return self.contract(call.contract).evaluate(call.function, call.args, target_orgs=target_orgs)

    def submit(
        self,
        call: Call,
        *,
        transient: Mapping[str, bytes] | None = None,
        endorsing_orgs: Sequence[str] = (),
        max_attempts: int = 5,
    ) -> SubmitResult:
        """Endorse, order and wait for the commit (read conflicts retried as new transactions).
        ``transient`` adds private data to the call's own; ``endorsing_orgs`` names the orgs that
        may endorse (a call carrying private data must name those trusted with it)."""
        return self.contract(call.contract).submit(
            call.function,
            call.args,
            transient=self._transient(call, transient),
            endorsing_orgs=endorsing_orgs,
            max_attempts=max_attempts,
        )

    def endorse(
        self, call: Call, *, transient: Mapping[str, bytes] | None = None, endorsing_orgs: Sequence[str] = ()
    ) -> Transaction:
        """Only endorse: the signed transaction, whose id is final, to submit when the caller
        chooses (to journal it first, or to time each step). ``submit`` does it all at once."""
        contract = self.contract(call.contract)
        proposal = contract.new_proposal(call.function, call.args, self._transient(call, transient))
        return contract.endorse(proposal, endorsing_orgs)

    def wait_for_commit(self, tx_id: str) -> tuple[int, int]:
        """Block until this client's peer committed ``tx_id``; (validation code, block number)."""
        return self.network.wait_for_commit(tx_id)

    @staticmethod
    def _transient(call: Call, extra: Mapping[str, bytes] | None) -> Mapping[str, bytes] | None:
        if not extra:
            return call.transient
        return {**(call.transient or {}), **extra}
