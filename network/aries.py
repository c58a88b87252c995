"""ACA-Py agents: one patient-side agent and one per hospital, each on its party's host.

The patient-side agent stands for the patients' wallets (in the demo it holds many patients'
did:keys) and issues consent credentials; each hospital's agent holds the credentials it is
given. All run offline (``--no-ledger``) with askar wallets under the network's state
directory, an admin API key per agent (0600 file), and DIDComm over HTTP on the host's address
(loopback on one machine). After
start-up the patient agent connects to every hospital by out-of-band invitation.

Ports: a hospital's agent uses its peer slot (+3 DIDComm, +4 admin); the patient agent takes
the topology's patients' agent slot (+0 DIDComm, +1 admin).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path

from clients.acapy import AcaPy
from network.binaries import setting
from network.nodes import LaunchSpec
from network.state import StateDir
from network.topology import PATIENTS_AGENT_SLOT, Org, Topology

ARIES_INBOUND, ARIES_ADMIN = 3, 4
PATIENTS = "patients"


def acapy_bin() -> str:
    return setting("FEDLEDGER_ACAPY")


def aries_orgs(topology: Topology) -> list[Org]:
    """Hospitals with their own node slot (each runs an agent)."""
    return [o for o in topology.peer_orgs if o.kind == "hospital"]


def ports(topology: Topology, who: Org | str) -> tuple[int, int]:
    if who == PATIENTS:
        return topology.service_port(PATIENTS_AGENT_SLOT, 0), topology.service_port(PATIENTS_AGENT_SLOT, 1)
    assert isinstance(who, Org)
    base = topology.peer_of(who).slot_base
    return base + ARIES_INBOUND, base + ARIES_ADMIN


def _short(who: Org | str) -> str:
    return who if isinstance(who, str) else who.short


def node_name(who: Org | str) -> str:
    return f"aries.{_short(who)}"


def home(state: StateDir, who: Org | str) -> Path:
    return state.root / "aries" / _short(who)


def api_key(state: StateDir, who: Org | str) -> str:
    """The agent's admin API key, created (mode 0600) on first use."""
    path = home(state, who) / "admin-api-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(24))
    return path.read_text().strip()


def client(topology: Topology, state: StateDir, who: Org | str) -> AcaPy:
    _, admin = ports(topology, who)
    label = "patients' agent" if who == PATIENTS else f"{_short(who)} agent"
    return AcaPy(label, f"http://{_host(topology, who)}:{admin}", api_key(state, who))


def _secret_args(state: StateDir, who: Org | str) -> Path:
    """An arg file (0600) with the admin API key and the wallet key, so that neither appears
    on a command line other users of the machine could read."""
    path = home(state, who) / "secrets.yaml"
    if not path.exists():
        key = api_key(state, who)
        path.touch(mode=0o600)
        path.write_text(f"admin-api-key: {key}\nwallet-key: {secrets.token_urlsafe(24)}\n")
    return path


def aries_spec(topology: Topology, state: StateDir, who: Org | str) -> LaunchSpec:
    inbound, admin = ports(topology, who)
    host = _host(topology, who)
    label = "Patients" if who == PATIENTS else who.name  # type: ignore[union-attr]
    script = Path(acapy_bin())
    argv = [  # through the venv's python, so the process table shows what the pid file recorded
        str(script.parent / "python"), str(script), "start",
        "--arg-file", str(_secret_args(state, who)),
        "--label", label,
        "--inbound-transport", "http", host, str(inbound),
        "--outbound-transport", "http",
        "--endpoint", f"http://{host}:{inbound}",
        "--admin", host, str(admin),
        "--no-ledger",
        "--wallet-type", "askar",
        "--wallet-name", f"fedledger-{_short(who)}",
        "--auto-provision",
        "--log-level", "warning",
    ]  # fmt: skip
    if who == PATIENTS:  # the issuer side: accept connection requests, answer credential requests
        argv += ["--auto-accept-requests", "--auto-respond-credential-request"]
    else:  # a holder: accept invitations, answer offers, store what it receives
        argv += ["--auto-accept-invites", "--auto-respond-credential-offer", "--auto-store-credential"]
    env = {"ACAPY_HOME": str(home(state, who))}
    return LaunchSpec(node_name(who), argv, env, f"http://{host}:{admin}/status/ready", admin, (inbound,), host,
                      label)  # fmt: skip


def _host(topology: Topology, who: Org | str) -> str:
    """Where ``who``'s agent listens: its org's host (the patients' agent: "Patients" in the
    topology's hosts, else loopback)."""
    return topology.host_of("Patients" if who == PATIENTS else who)


def all_agents(topology: Topology) -> list[Org | str]:
    return [PATIENTS, *aries_orgs(topology)]


def connect_all(topology: Topology, state_of: Callable[[Org | str], StateDir]) -> dict[str, str]:
    """Connect the patient agent to every hospital's agent (idempotent); returns MSP ID ->
    connection id on the patient side. ``state_of``: where each agent's home is."""
    patients = client(topology, state_of(PATIENTS), PATIENTS)
    known = read_connections(state_of(PATIENTS))
    out = {}
    for org in aries_orgs(topology):
        existing = known.get(org.msp_id)
        if existing is None or not patients.connection_active(existing):
            created = patients.create_invitation(org.msp_id)
            client(topology, state_of(org), org).receive_invitation(created["invitation"], "patients")
            existing = patients.wait_invitation_used(created["invi_msg_id"])
        out[org.msp_id] = existing
    return out


def write_connections(state: StateDir, connections: dict[str, str]) -> None:
    """Record the patients' connections in the patients' agent's state directory."""
    path = state.root / "aries" / "connections.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(connections, indent=2))


def read_connections(state: StateDir) -> dict[str, str]:
    path = state.root / "aries" / "connections.json"
    return json.loads(path.read_text()) if path.exists() else {}
