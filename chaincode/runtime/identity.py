"""Who is calling: the transaction creator's MSP ID, certificate, node OU and attributes.

The peer has already checked the creator's signature and channel membership before the
chaincode runs; the contract still decides what that identity may do. Roles come from
Fabric's NodeOUs (``admin``, ``client``, ``peer``, ``orderer`` in the certificate's OU) and
from Fabric CA attributes when an enrollment carries them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import NameOID
from fabric_protos.msp import identities_pb2

from chaincode.runtime.errors import InvalidArgument

# Fabric CA writes enrollment attributes into this private certificate extension as JSON.
FABRIC_CA_ATTRS_OID = x509.ObjectIdentifier("1.2.3.4.5.6.7.8.1")
NODE_OUS = ("admin", "client", "peer", "orderer")


@dataclass(frozen=True)
class ClientIdentity:
    """The submitting identity of a transaction, as the contract sees it."""

    msp_id: str
    cert_pem: bytes
    subject: str
    issuer: str
    organizational_units: tuple[str, ...]
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """Fabric's identity string: ``x509::<subject>::<issuer>``."""
        return f"x509::{self.subject}::{self.issuer}"

    @property
    def node_ou(self) -> str | None:
        """The NodeOU role (admin, client, peer, orderer) if the certificate carries one."""
        for ou in self.organizational_units:
            if ou in NODE_OUS:
                return ou
        return None

    @property
    def common_name(self) -> str:
        for part in self.subject.split(","):
            if part.startswith("CN="):
                return part[3:]
        return ""

    def attribute(self, name: str) -> str | None:
        return self.attributes.get(name)


def _rfc4514(name: x509.Name) -> str:
    return name.rfc4514_string()


def identity_from_cert(msp_id: str, cert_pem: bytes) -> ClientIdentity:
    """Build a :class:`ClientIdentity` from an MSP ID and a PEM certificate."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise InvalidArgument(f"creator certificate is not valid PEM: {exc}") from exc
    ous = tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME))
    attrs: dict[str, str] = {}
    try:
        ext = cert.extensions.get_extension_for_oid(FABRIC_CA_ATTRS_OID)
        raw = ext.value.value  # UnrecognizedExtension
        parsed = json.loads(raw)
        if isinstance(parsed, dict) and isinstance(parsed.get("attrs"), dict):
            attrs = {str(k): str(v) for k, v in parsed["attrs"].items()}
    except x509.ExtensionNotFound:
        pass
    except (ValueError, AttributeError):
        attrs = {}
    return ClientIdentity(
        msp_id=msp_id,
        cert_pem=cert_pem,
        subject=_rfc4514(cert.subject),
        issuer=_rfc4514(cert.issuer),
        organizational_units=ous,
        attributes=attrs,
    )


def identity_from_creator(creator: bytes) -> ClientIdentity:
    """Parse a serialized ``msp.SerializedIdentity`` (the proposal's creator field)."""
    sid = identities_pb2.SerializedIdentity()
    sid.ParseFromString(creator)
    return identity_from_cert(sid.mspid, sid.id_bytes)
