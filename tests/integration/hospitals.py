"""Three hospitals on the real network, driven step by step from a test: their gateways (admin
and agent identities), fresh share keys in the registry, Kubo clients, tokens and stake."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import x25519

from agent.federation import Hospital, publish_model
from agent.keys import public_b64
from agent.models import LOGREG_30, get_weights
from agent.storage.vault import KeyStore, Vault
from clients.fabric import Contract, Gateway, GatewayError, SubmitResult
from clients.kubo import IPFSClient
from network.consortium import LocalConsortium
from network.topology import CHAINCODE_NAME, CHANNEL

NAMES = ("HospitalA", "HospitalB", "HospitalC")


@dataclass
class Consortium:
    network: LocalConsortium
    gateways: dict[str, tuple[Gateway, Gateway]]  # name -> (Admin, User1)
    hospitals: dict[str, Hospital]  # MSP ID -> hospital

    def c(self, name: str, contract: str, admin: bool = False) -> Contract:
        return self.gateways[name][0 if admin else 1].network(CHANNEL).contract(CHAINCODE_NAME, contract)

    def name_of(self, msp_id: str) -> str:
        return next(n for n in NAMES if self.network.org(n).msp_id == msp_id)

    def as_msp(self, msp_id: str, contract: str) -> Contract:
        return self.c(self.name_of(msp_id), contract)

    def everywhere(self, result: SubmitResult) -> SubmitResult:
        """Wait until every hospital's peer committed ``result`` (cross-org steps read it next)."""
        for n in NAMES:
            self.gateways[n][1].network(CHANNEL).wait_for_commit(result.tx_id)
        return result

    def submit(self, name: str, contract: str, fn: str, args: dict[str, Any], admin: bool = False) -> Any:
        return self.everywhere(self.c(name, contract, admin).submit(fn, args)).json()

    def study(self, study_id: str, params: dict[str, Any]) -> None:
        """Propose (HospitalA), approve (HospitalB), enroll everyone."""
        a, b = NAMES[0], NAMES[1]
        self.submit(a, "Study", "Propose", {"study_id": study_id, **params}, admin=True)
        self.submit(b, "Study", "Approve", {"study_id": study_id}, admin=True)
        for n in NAMES:
            self.submit(n, "Study", "Enroll", {"study_id": study_id}, admin=True)

    def initial_model(self, label: str) -> tuple[Any, dict[str, str]]:
        initial = get_weights(LOGREG_30.build(seed=0))
        keys = {m: public_b64(h.share_key) for m, h in self.hospitals.items()}
        return initial, publish_model(next(iter(self.hospitals.values())), initial, label, keys)


@contextmanager
def consortium(network: LocalConsortium, tmp_path: Path, run: str, stake: int = 500) -> Iterator[Consortium]:
    gws = {n: (network.gateway(n, "Admin"), network.gateway(n, "User1")) for n in NAMES}
    cons = Consortium(network, gws, {})
    try:
        for n in NAMES:
            msp = network.org(n).msp_id
            private = x25519.X25519PrivateKey.generate()
            entry = {"msp_id": msp, "display_name": n, "share_key": public_b64(private),
                     "contact": f"fl@{n.lower()}.org"}  # fmt: skip
            try:
                cons.submit(n, "Registry", "Register", entry, admin=True)
            except GatewayError:
                cons.submit(n, "Registry", "Update", entry, admin=True)
            ipfs = IPFSClient(network.ipfs_api(n))
            vault = Vault(ipfs, KeyStore(tmp_path / n / "keys"))
            cons.hospitals[msp] = Hospital(msp, ipfs, vault, private, cons.c(n, "Registry"))
        for n in NAMES:
            mint = {"mint_id": f"{run}-{n.lower()}", "to": network.org(n).msp_id, "amount": 1000}
            cons.submit(NAMES[0], "Token", "ProposeMint", mint, admin=True)
            cons.submit(NAMES[1], "Token", "ApproveMint", {"mint_id": mint["mint_id"]}, admin=True)
            cons.submit(n, "Token", "Stake", {"amount": stake}, admin=True)
        yield cons
    finally:
        for pair in gws.values():
            for gw in pair:
                gw.close()
