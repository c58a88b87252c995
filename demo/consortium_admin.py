"""What the consortium's admins do before agents can run a study: tokens, stake, the study.

Each step is a transaction by the acting org's own admin identity on its own gateway peer,
and every org's peer has committed it before the next org acts on it (peers commit blocks
independently). Used by the demo, the round benchmark and the integration tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.data.schema import Schema
from agent.federation import Hospital, publish_model
from agent.keys import load_or_create_x25519, public_b64
from agent.models import ModelSpec, get_weights
from agent.storage.vault import KeyStore, Vault
from clients.fabric import GatewayError
from clients.kubo import IPFSClient
from network.consortium import LocalConsortium
from network.topology import CHAINCODE_NAME, CHANNEL

Say = Callable[[str], None]


class Admins:
    """Every hospital's admin gateway on a local network, used as a context manager."""

    def __init__(self, net: LocalConsortium, names: list[str] | None = None) -> None:
        self.net = net
        self.names = names or [o.name for o in net.topology.hospitals if o.has_peer]
        self.msps = [net.org(n).msp_id for n in self.names]
        self._gateways = {n: net.gateway(n, "Admin") for n in self.names}

    def __enter__(self) -> Admins:
        return self

    def __exit__(self, *exc: object) -> None:
        for gw in self._gateways.values():
            gw.close()

    def contract(self, name: str, contract: str) -> Any:
        return self._gateways[name].network(CHANNEL).contract(CHAINCODE_NAME, contract)

    def tx(self, name: str, contract: str, fn: str, args: dict[str, Any]) -> Any:
        """Submit as ``name``'s admin; return once every hospital's peer has the block."""
        result = self.contract(name, contract).submit(fn, args)
        for n in self.names:
            self._gateways[n].network(CHANNEL).wait_for_commit(result.tx_id)
        return result

    def share_key_path(self, name: str) -> Path:
        return self.net.state.root / "keys" / self.net.org(name).short / "share_x25519.pem"

    def register_hospitals(self) -> list[dict[str, Any]]:
        """Each hospital's admin registers (or updates) its entry with the share key on this
        machine's key store; returns what happened per hospital."""
        out = []
        for n, m in zip(self.names, self.msps, strict=True):
            org = self.net.org(n)
            args = {"msp_id": m, "display_name": f"{n} University Hospital", "contact": f"fl-team@{org.domain}",
                    "share_key": public_b64(load_or_create_x25519(self.share_key_path(n)))}  # fmt: skip
            started = time.monotonic()
            try:
                result, action = self.tx(n, "Registry", "Register", args), "registered"
            except GatewayError as exc:
                if exc.chaincode_status != 409:
                    raise
                result, action = self.tx(n, "Registry", "Update", args), "updated"
            out.append({"msp_id": m, "action": action, "version": result.json()["version"],
                        "block": result.block_number, "latency_s": time.monotonic() - started})  # fmt: skip
        return out

    def fund_and_stake(self, tag: str, balance: int = 2000, stake: int = 500) -> None:
        """Majority-approved mints for any hospital below ``balance``, then stake up to ``stake``
        free (idempotent: repeated demo runs top up, since reward pools are escrowed)."""
        for n, m in zip(self.names, self.msps, strict=True):
            account = self.contract(n, "Token").evaluate("Account", {"msp_id": m})
            if account["balance"] < balance:
                mint_id = f"{tag}-{m.lower()}"
                self.tx(self.names[0], "Token", "ProposeMint", {"mint_id": mint_id, "to": m, "amount": balance + 1000})
                self.tx(self.names[1], "Token", "ApproveMint", {"mint_id": mint_id})
            if account["staked"] - account["locked"] < stake:
                self.tx(n, "Token", "Stake", {"amount": 2 * stake})

    def publish_initial_model(self, study_id: str, spec: ModelSpec, seed: int = 0) -> dict[str, str]:
        """The study's initial weights, encrypted on the first hospital's IPFS node for every hospital."""
        keys = {m: public_b64(load_or_create_x25519(self.share_key_path(n)))
                for n, m in zip(self.names, self.msps, strict=True)}  # fmt: skip
        first = self.net.org(self.names[0])
        ipfs = IPFSClient(self.net.ipfs_api(first.name))
        vault = Vault(ipfs, KeyStore(self.net.state.root / "keys" / first.short / "artifacts"))
        sender = load_or_create_x25519(self.share_key_path(first.name))
        hospital = Hospital(first.msp_id, ipfs, vault, sender, self.contract(first.name, "Registry"))
        return publish_model(hospital, get_weights(spec.build(seed=seed)), f"{study_id}/initial", keys)

    def create_study(self, study: dict[str, Any], say: Say = lambda m: None) -> int:
        """Propose (first hospital), approve until a majority, enroll every hospital; returns
        the block number of the proposal."""
        sid = study["study_id"]
        block = self.tx(self.names[0], "Study", "Propose", study).block_number
        say(f"study {sid} proposed by {self.names[0]}")
        for n in self.names[1:]:
            if self.contract(n, "Study").evaluate("Get", {"study_id": sid})["status"] == "ACTIVE":
                break
            self.tx(n, "Study", "Approve", {"study_id": sid})
            say(f"study {sid} approved by {n}")
        for n in self.names:
            self.tx(n, "Study", "Enroll", {"study_id": sid})
        say(f"study {sid} active; {', '.join(self.names)} enrolled")
        return block


def study_params(
    study_id: str,
    spec: ModelSpec,
    model: dict[str, str],
    schema: Schema,
    *,
    rounds: int,
    epsilon_per_round: float,
    participants: int = 3,
    title: str = "Breast cancer malignancy, DP-SGD",
    window_s: int = 600,
    aggregation: str = "trusted",
) -> dict[str, Any]:
    """Study parameters for an unaudited study: trusted aggregation by a committee of one, or
    secure aggregation by a committee of (up to) three of which any two unmask the sum."""
    committee = (min(3, participants), 2) if aggregation == "secure" else (1, 1)
    return {
        "study_id": study_id, "title": title, "model": spec.name, "model_spec_hash": spec.hash,
        "model_cid": model["cid"], "model_hash": model["hash"], "data_schema_hash": schema.hash,
        "epsilon_budget_micro": int(epsilon_per_round * rounds * 1_000_000), "delta_e12": 10_000_000,
        "rounds": rounds, "local_steps": 100, "audit_rate_ppm": 0,
        "committee_size": committee[0], "committee_threshold": committee[1],
        "participants_per_round": participants, "min_participants": participants, "min_stake": 100,
        "reward_pool": 300 * rounds, "reward_per_round": 300, "missing_slash": 50, "cheat_slash": 100,
        "commit_window_s": window_s, "prove_window_s": window_s, "aggregate_window_s": window_s,
        "validation_window_s": window_s, "aggregation": aggregation, "keys_window_s": min(window_s, 120),
    }  # fmt: skip
