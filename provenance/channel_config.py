"""What a verifier trusts: one channel configuration block.

From it come the channel's name, each org's MSP (root certificates, NodeOUs, revocation lists),
the policies by path (``/Channel/Orderer/BlockValidation``, ``/Channel/Application/Endorsement``,
``/Channel/Application/Writers``) and, for BFT ordering, the consenters by id. Evaluating a
policy path walks the configuration tree the way Fabric's policy manager does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from fabric_protos.common import common_pb2, configtx_pb2
from fabric_protos.common import configuration_pb2 as common_config
from fabric_protos.orderer import configuration_pb2 as orderer_config
from fabric_protos.peer import configuration_pb2 as peer_config
from google.protobuf.message import DecodeError

from provenance.blocks import parse_block
from provenance.errors import Refused
from provenance.msp import Identity, Msp, parse_serialized_identity
from provenance.policies import ImplicitMeta, Policy, SignaturePolicy, parse_policy

MAX_CONFIG_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Group:
    """A configuration group: its policies and its child groups, by name."""

    policies: dict[str, Policy]
    children: dict[str, Group]


@dataclass(frozen=True)
class Consenter:
    consenter_id: int
    msp_id: str
    certificate: x509.Certificate


class ChannelTrust:
    """The channel configuration as the verifier uses it."""

    def __init__(self, channel_id: str, sequence: int, msps: dict[str, Msp], root: Group,
                 consenters: dict[int, Consenter], orderer_type: str) -> None:  # fmt: skip
        self.anchor_peers: dict[str, list[str]] = {}  # application MSP -> host:port
        self.orderer_endpoints: dict[str, list[str]] = {}  # orderer MSP -> host:port
        self.orderer_orgs: set[str] = set()
        self.channel_id = channel_id
        self.sequence = sequence
        self.msps = msps
        self.root = root
        self.consenters = consenters
        self.orderer_type = orderer_type

    @classmethod
    def from_block(cls, raw: bytes) -> ChannelTrust:
        """Read a configuration block (as ``peer channel fetch config`` or qscc returns it)."""
        if len(raw) > MAX_CONFIG_BYTES:
            raise Refused(f"channel configuration block is {len(raw)} bytes; at most {MAX_CONFIG_BYTES} accepted")
        block = parse_block(raw)
        if len(block.data.data) != 1:
            raise Refused("not a configuration block: it must hold exactly one envelope")
        try:
            payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(block.data.data[0]).payload)
            header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
            if header.type != common_pb2.CONFIG:
                raise Refused(f"not a configuration block: its transaction is of type {header.type}")
            config = configtx_pb2.ConfigEnvelope.FromString(payload.data).config
        except DecodeError as exc:
            raise Refused(f"unreadable configuration block: {exc}") from None
        msps: dict[str, Msp] = {}
        root = _group(config.channel_group, msps, 0)
        consenters: dict[int, Consenter] = {}
        orderer_type = ""
        orderer = config.channel_group.groups.get("Orderer")
        if orderer is not None:
            if "ConsensusType" in orderer.values:
                orderer_type = orderer_config.ConsensusType.FromString(orderer.values["ConsensusType"].value).type
            if "Orderers" in orderer.values:
                mapping = orderer_config.Orderers.FromString(orderer.values["Orderers"].value).consenter_mapping
                for c in mapping:
                    consenters[c.id] = Consenter(c.id, c.msp_id, _consenter_cert(c.identity))
        trust = cls(header.channel_id, config.sequence, msps, root, consenters, orderer_type)
        trust._read_endpoints(config.channel_group)
        return trust

    def _read_endpoints(self, channel: configtx_pb2.ConfigGroup) -> None:
        """Anchor peers and orderer endpoints, for people to read (nothing is verified with them)."""
        for org in channel.groups.get("Application", configtx_pb2.ConfigGroup()).groups.values():
            if "MSP" in org.values and "AnchorPeers" in org.values:
                msp_id = Msp.from_config(org.values["MSP"].value).msp_id
                anchors = peer_config.AnchorPeers.FromString(org.values["AnchorPeers"].value).anchor_peers
                self.anchor_peers[msp_id] = [f"{a.host}:{a.port}" for a in anchors]
        for org in channel.groups.get("Orderer", configtx_pb2.ConfigGroup()).groups.values():
            if "MSP" in org.values:
                msp_id = Msp.from_config(org.values["MSP"].value).msp_id
                self.orderer_orgs.add(msp_id)
                if "Endpoints" in org.values:
                    addresses = common_config.OrdererAddresses.FromString(org.values["Endpoints"].value).addresses
                    self.orderer_endpoints[msp_id] = list(addresses)

    @property
    def application_orgs(self) -> list[str]:
        return sorted(self.root.children.get("Application", Group({}, {})).children)

    def identity(self, serialized: bytes) -> Identity:
        """A signer's serialized identity, validated against its MSP in this configuration."""
        msp_id, cert = parse_serialized_identity(serialized)
        msp = self.msps.get(msp_id)
        if msp is None:
            raise Refused(f"signer claims MSP {msp_id!r}, which is not in channel {self.channel_id}'s configuration")
        return msp.validate(cert)

    def consenter(self, consenter_id: int) -> Identity:
        c = self.consenters.get(consenter_id)
        if c is None:
            raise Refused(f"consenter id {consenter_id} is not in channel {self.channel_id}'s orderer set")
        msp = self.msps.get(c.msp_id)
        if msp is None:
            raise Refused(f"consenter {consenter_id} claims MSP {c.msp_id!r}, which is not in the configuration")
        return msp.validate(c.certificate)

    def satisfies(self, path: str, signers: Sequence[Identity]) -> bool:
        """Whether ``signers`` satisfy the policy at ``path`` (e.g. /Channel/Application/Endorsement)."""
        parts = path.strip("/").split("/")
        if parts[0] != "Channel":
            raise Refused(f"policy path {path} does not start at /Channel")
        group = self.root
        for name in parts[1:-1]:
            if name not in group.children:
                raise Refused(f"policy path {path}: no group {name} in the configuration")
            group = group.children[name]
        policy = group.policies.get(parts[-1])
        if policy is None:
            raise Refused(f"the configuration has no policy {path}")
        return _satisfies(group, policy, signers)

    def describe(self, path: str) -> str:
        parts = path.strip("/").split("/")
        group = self.root
        for name in parts[1:-1]:
            group = group.children[name]
        return str(group.policies.get(parts[-1], "?"))


def _satisfies(group: Group, policy: Policy, signers: Sequence[Identity]) -> bool:
    if isinstance(policy, SignaturePolicy):
        return policy.satisfied_by(signers)
    assert isinstance(policy, ImplicitMeta)
    subs = [(child, child.policies[policy.sub_policy]) for child in group.children.values()
            if policy.sub_policy in child.policies]  # fmt: skip
    met = sum(1 for child, sub in subs if _satisfies(child, sub, signers))
    return met >= policy.needed(len(subs))


def _group(g: configtx_pb2.ConfigGroup, msps: dict[str, Msp], depth: int) -> Group:
    if depth > 8:
        raise Refused("channel configuration nests deeper than 8 groups")
    if "MSP" in g.values:
        msp = Msp.from_config(g.values["MSP"].value)
        msps[msp.msp_id] = msp
    policies = {name: parse_policy(p.policy) for name, p in g.policies.items()}
    return Group(policies, {name: _group(child, msps, depth + 1) for name, child in g.groups.items()})


def _consenter_cert(raw: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(raw)
    except ValueError:
        return parse_serialized_identity(raw)[1]
