"""Three hospitals on the real network, driven step by step from a test: their admins (the
consortium's set-up sequence of network/admins.py: fresh share keys in the registry, tokens and
stake, studies), their agents' view of the chaincode, and their Kubo clients."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import x25519

from agent.federation import Hospital, publish_model
from agent.keys import public_b64
from agent.models import LOGREG_30, get_weights
from agent.storage.vault import KeyStore, Vault
from clients.fabric import SubmitResult
from clients.kubo import IPFSClient
from clients.ledger import Call, LedgerClient, Registry
from network.admins import Admins
from network.consortium import LocalConsortium

NAMES = ("HospitalA", "HospitalB", "HospitalC")


@dataclass
class Consortium:
    network: LocalConsortium
    admins: Admins
    agents: dict[str, LedgerClient]  # name -> the chaincode as the hospital's agent (User1) sees it
    hospitals: dict[str, Hospital]  # MSP ID -> hospital

    def ledger(self, name: str, admin: bool = False) -> LedgerClient:
        return self.admins.ledger(name) if admin else self.agents[name]

    def name_of(self, msp_id: str) -> str:
        return next(n for n in NAMES if self.network.org(n).msp_id == msp_id)

    def agent_of(self, msp_id: str) -> LedgerClient:
        return self.agents[self.name_of(msp_id)]

    def everywhere(self, result: SubmitResult) -> SubmitResult:
        """Wait until every hospital's peer committed ``result`` (cross-org steps read it next)."""
        for ledger in self.agents.values():
            ledger.wait_for_commit(result.tx_id)
        return result

    def tx(self, name: str, call: Call, admin: bool = False) -> Any:
        """Submit as ``name``'s agent (or admin), wait for every peer, return the answer."""
        return self.everywhere(self.ledger(name, admin).submit(call)).json()

    def study(self, study_id: str, params: dict[str, Any]) -> None:
        """Propose (HospitalA), approve until active, enroll everyone."""
        self.admins.create_study({"study_id": study_id, **params})

    def initial_model(self, label: str) -> tuple[Any, dict[str, str]]:
        initial = get_weights(LOGREG_30.build(seed=0))
        keys = {m: public_b64(h.share_key) for m, h in self.hospitals.items()}
        return initial, publish_model(next(iter(self.hospitals.values())), initial, label, keys)


def one_round_study(model0: dict[str, str], data_schema_hash: str, title: str) -> dict[str, Any]:
    """Parameters of a one-round trusted study of the demo's model (LOGREG_30, initial model
    ``model0``) in which all three hospitals take part."""
    return {
        "title": title, "model": LOGREG_30.name, "model_spec_hash": LOGREG_30.hash, "model_cid": model0["cid"],
        "model_hash": model0["hash"], "data_schema_hash": data_schema_hash, "epsilon_budget_micro": 6_000_000,
        "delta_e12": 10_000_000, "rounds": 1, "local_steps": 100, "audit_rate_ppm": 0, "committee_size": 1,
        "committee_threshold": 1, "participants_per_round": 3, "min_participants": 3, "min_stake": 100,
        "reward_pool": 300, "reward_per_round": 300, "missing_slash": 0, "cheat_slash": 0, "commit_window_s": 600,
        "prove_window_s": 600, "aggregate_window_s": 600, "validation_window_s": 600,
    }  # fmt: skip


@contextmanager
def consortium(network: LocalConsortium, tmp_path: Path, run: str, stake: int = 500) -> Iterator[Consortium]:
    """Register the three hospitals with fresh share keys, mint 1000 to each (mint ids
    ``<run>-<msp id>``) and have each stake ``stake``."""
    with ExitStack() as stack:
        admins = stack.enter_context(Admins(network, list(NAMES)))
        agents = {n: stack.enter_context(network.ledger(n, "User1")) for n in NAMES}
        cons = Consortium(network, admins, agents, {})
        keys = {n: x25519.X25519PrivateKey.generate() for n in NAMES}
        admins.register({n: public_b64(k) for n, k in keys.items()})
        for n in NAMES:
            msp = network.org(n).msp_id
            ipfs = IPFSClient(network.ipfs_api(n))
            vault = Vault(ipfs, KeyStore(tmp_path / n / "keys"))
            cons.hospitals[msp] = Hospital(msp, ipfs, vault, keys[n], agents[n].contract(Registry.NAME))
        admins.fund(run, 1000)
        admins.stake(stake)
        yield cons
