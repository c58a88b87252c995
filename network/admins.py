"""What the consortium's admins do before agents can run a study: register the hospitals, fund
them by majority-approved mints, stake, and create the study (propose, approve until a
majority, enroll).

Each step is a transaction by the acting hospital's own admin identity on its own gateway peer,
and every hospital's gateway peer has committed it before the next step acts on it (peers
commit blocks independently). The demo, the benchmarks and the integration tests set up their
consortium with this one sequence; what it needs from the hospitals' side (their share keys,
a study's parameters, the initial model behind them) they build themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from clients.fabric import GatewayError, SubmitResult
from clients.ledger import Call, LedgerClient, Registry, Study, StudyParams, Token
from network.consortium import LocalConsortium, ledger_client

Say = Callable[[str], None]


class Admins:
    """The admins of ``names`` (default: every hospital that runs a peer) on a local
    consortium, each on its own gateway; a context manager that closes the gateways."""

    def __init__(self, net: LocalConsortium, names: Sequence[str] | None = None) -> None:
        self.net = net
        self.names = list(names or [o.name for o in net.topology.hospitals if o.has_peer])
        self.msps = [net.org(n).msp_id for n in self.names]
        self._gateways = {n: net.gateway(n, "Admin") for n in self.names}
        self._ledgers = {n: ledger_client(gw) for n, gw in self._gateways.items()}
        self._peers: dict[str, LedgerClient] = {}  # gateway peer -> a client on it (simulated hospitals share one)
        for n in self.names:
            self._peers.setdefault(net.topology.gateway_peer_of(net.org(n)).name, self._ledgers[n])

    def __enter__(self) -> Admins:
        return self

    def __exit__(self, *exc: object) -> None:
        for gw in self._gateways.values():
            gw.close()

    def ledger(self, name: str) -> LedgerClient:
        """The chaincode as ``name``'s admin sees it."""
        return self._ledgers[name]

    def tx(self, name: str, call: Call) -> SubmitResult:
        """Submit as ``name``'s admin; return once every hospital's gateway peer has the block."""
        result = self._ledgers[name].submit(call)
        for ledger in self._peers.values():
            ledger.wait_for_commit(result.tx_id)
        return result

    def share_key_path(self, name: str) -> Path:
        """Where this machine keeps ``name``'s X25519 share key (in the network's state directory)."""
        return self.net.state_of(self.net.org(name)).root / "keys" / self.net.org(name).short / "share_x25519.pem"

    def register(self, share_keys: Mapping[str, str]) -> list[dict[str, Any]]:
        """Each named hospital's admin registers its entry with the given share key (base64
        X25519 public key), or updates it when it is registered already; returns, per hospital,
        what happened, the entry's version, the block and the latency."""
        out = []
        for n, key in share_keys.items():
            org = self.net.org(n)
            entry = {"msp_id": org.msp_id, "display_name": f"{n} University Hospital", "share_key": key,
                     "contact": f"fl-team@{org.domain}"}  # fmt: skip
            started = time.monotonic()
            try:
                result, action = self.tx(n, Registry.register(**entry)), "registered"
            except GatewayError as exc:
                if exc.chaincode_status != 409:
                    raise
                result, action = self.tx(n, Registry.update(**entry)), "updated"
            out.append({"msp_id": org.msp_id, "action": action, "version": result.json()["version"],
                        "block": result.block_number, "latency_s": time.monotonic() - started})  # fmt: skip
        return out

    def fund(self, tag: str, amount: int, *, below: int | None = None) -> None:
        """Mint ``amount`` to every hospital (with ``below``: to those whose free balance is
        under it): the first hospital proposes mint ``<tag>-<msp id>``, the others approve
        until a majority of the registered hospitals has."""
        for n, m in zip(self.names, self.msps, strict=True):
            if below is not None and self._ledgers[n].evaluate(Token.account(m))["balance"] >= below:
                continue
            mint_id = f"{tag}-{m.lower()}"
            mint = self.tx(self.names[0], Token.propose_mint(mint_id, m, amount)).json()
            for approver in self.names[1:]:
                if mint["status"] == "EXECUTED":
                    break
                mint = self.tx(approver, Token.approve_mint(mint_id)).json()

    def stake(self, amount: int, *, below: int | None = None) -> None:
        """Every hospital stakes ``amount`` of its free tokens (with ``below``: those whose
        unlocked stake is under it)."""
        for n, m in zip(self.names, self.msps, strict=True):
            if below is not None:
                account = self._ledgers[n].evaluate(Token.account(m))
                if account["staked"] - account["locked"] >= below:
                    continue
            self.tx(n, Token.stake(amount))

    def fund_and_stake(self, tag: str, balance: int = 2000, stake: int = 500) -> None:
        """Top up, idempotently: a mint for any hospital whose balance is below ``balance``,
        then stake for any whose unlocked stake is below ``stake`` (repeated runs on one ledger
        keep working, since every study escrows its reward pool)."""
        self.fund(tag, balance + 1000, below=balance)
        self.stake(2 * stake, below=stake)

    def create_study(self, params: StudyParams, say: Say = lambda m: None, enroll: Sequence[str] | None = None) -> int:
        """The first hospital proposes, the others approve until the study is active, and
        every hospital (or those in ``enroll``) enrolls; returns the proposal's block number."""
        sid = params["study_id"]
        block = self.tx(self.names[0], Study.propose(params)).block_number
        say(f"study {sid} proposed by {self.names[0]}")
        for n in self.names[1:]:
            if self._ledgers[n].evaluate(Study.get(sid))["status"] == "ACTIVE":
                break
            self.tx(n, Study.approve(sid))
            say(f"study {sid} approved by {n}")
        members = list(enroll or self.names)
        for n in members:
            self.tx(n, Study.enroll(sid))
        say(f"study {sid} active; {', '.join(members)} enrolled")
        return block
