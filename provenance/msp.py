"""Channel members' identities as the channel configuration defines them.

An identity is a certificate; it belongs to an MSP when it chains (directly or through the
MSP's intermediates) to one of the MSP's root certificates and is on none of its revocation
lists. Its role comes from the MSP's NodeOUs (the certificate's OU says client, peer, admin or
orderer) or, for admins, from the MSP's explicit admin list. Signatures are ECDSA over SHA-256
in DER with a low S, as Fabric requires. Certificate validity periods are not checked: a
certificate is judged offline, possibly years later, so expiry after signing is expected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from fabric_protos.msp import identities_pb2, msp_config_pb2
from google.protobuf.message import DecodeError

from provenance.errors import Refused

# the group orders of the curves Fabric MSPs use: Fabric refuses a signature whose S is above half of it
_ORDERS = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16
    ),
}
_MAX_CHAIN = 4
_DER = Encoding.DER


@dataclass(frozen=True)
class Identity:
    """A verified member identity: its MSP, its roles there and its certificate."""

    msp_id: str
    roles: frozenset[str]  # "member" always, plus client | peer | admin | orderer
    certificate: x509.Certificate

    @property
    def subject(self) -> str:
        names = self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else self.certificate.subject.rfc4514_string()


@dataclass
class Msp:
    """One MSP of the channel configuration."""

    msp_id: str
    roots: list[x509.Certificate]
    intermediates: list[x509.Certificate] = field(default_factory=list)
    admins: list[bytes] = field(default_factory=list)  # DER of explicit admin certificates
    revoked: set[tuple[bytes, int]] = field(default_factory=set)  # (issuer DER name, serial)
    node_ous: dict[str, str] = field(default_factory=dict)  # role -> OU value

    @classmethod
    def from_config(cls, raw: bytes) -> Msp:
        try:
            cfg = msp_config_pb2.MSPConfig.FromString(raw)
            fab = msp_config_pb2.FabricMSPConfig.FromString(cfg.config)
        except DecodeError as exc:
            raise Refused(f"unreadable MSP configuration: {exc}") from None
        msp = cls(fab.name, [_cert(c, fab.name) for c in fab.root_certs],
                  [_cert(c, fab.name) for c in fab.intermediate_certs],
                  [_cert(c, fab.name).public_bytes(_DER) for c in fab.admins])  # fmt: skip
        for raw_crl in fab.revocation_list:
            crl = _crl(raw_crl, fab.name)
            msp.revoked |= {(crl.issuer.public_bytes(), r.serial_number) for r in crl}
        ous = fab.fabric_node_ous
        if ous.enable:
            pairs = (("client", ous.client_ou_identifier), ("peer", ous.peer_ou_identifier),
                     ("admin", ous.admin_ou_identifier), ("orderer", ous.orderer_ou_identifier))  # fmt: skip
            for role, ident in pairs:
                if ident.organizational_unit_identifier:
                    msp.node_ous[role] = ident.organizational_unit_identifier
        return msp

    def validate(self, cert: x509.Certificate) -> Identity:
        """``cert`` as an identity of this MSP, or Refused saying why it is not one."""
        if _is_ca(cert):
            raise Refused(f"certificate {_name(cert)} is a CA certificate; Fabric accepts no CA as an identity")
        issuers = self.roots + self.intermediates
        current, depth = cert, 0
        while True:
            issuer = next((c for c in issuers if _issued_by(current, c)), None)
            if issuer is None:
                raise Refused(f"certificate {_name(cert)} is not issued by a CA of {self.msp_id}")
            if (issuer.subject.public_bytes(), current.serial_number) in self.revoked:
                raise Refused(f"certificate {_name(current)} is revoked by {self.msp_id}")
            if any(issuer == r for r in self.roots):
                break
            current, depth = issuer, depth + 1
            if depth > _MAX_CHAIN:
                raise Refused(f"certificate {_name(cert)}: chain longer than {_MAX_CHAIN} in {self.msp_id}")
        ous = {str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)}
        roles = {"member"} | {role for role, ou in self.node_ous.items() if ou in ous}
        if cert.public_bytes(_DER) in self.admins:
            roles.add("admin")
        return Identity(self.msp_id, frozenset(roles), cert)


def _cert(raw: bytes, msp_id: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(raw)
    except ValueError as exc:
        raise Refused(f"{msp_id}: unreadable certificate in the channel configuration: {exc}") from None


def _crl(raw: bytes, msp_id: str) -> x509.CertificateRevocationList:
    try:
        return x509.load_pem_x509_crl(raw)
    except ValueError as exc:
        raise Refused(f"{msp_id}: unreadable revocation list in the channel configuration: {exc}") from None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _name(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def parse_serialized_identity(raw: bytes) -> tuple[str, x509.Certificate]:
    """(MSP ID, certificate) of a Fabric ``SerializedIdentity``."""
    try:
        ident = identities_pb2.SerializedIdentity.FromString(raw)
        return ident.mspid, x509.load_pem_x509_certificate(ident.id_bytes)
    except (DecodeError, ValueError) as exc:
        raise Refused(f"unreadable signer identity: {exc}") from None


def check_signature(cert: x509.Certificate, message: bytes, signature: bytes) -> None:
    """ECDSA over SHA-256 in DER with a low S, the only form Fabric accepts."""
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _ORDERS:
        raise Refused(f"{_name(cert)} does not hold an ECDSA P-256 or P-384 key")
    try:
        _, s = decode_dss_signature(signature)
    except ValueError:
        raise Refused(f"signature of {_name(cert)} is not DER-encoded ECDSA") from None
    if s > _ORDERS[key.curve.name] // 2:
        raise Refused(f"signature of {_name(cert)} has a high S (Fabric accepts only low-S signatures)")
    try:
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Refused(f"signature of {_name(cert)} does not match the signed bytes") from None
