"""Who may read the console: a person holding a Fabric identity of a channel member.

The TLS layer already checked that the client certificate chains to a root certificate of one
of the channel's MSPs (the server trusts exactly those roots). Here the certificate is judged as
Fabric judges an identity (its MSP, its NodeOU role, revocation lists): the serving org's
clients and admins (its compliance officers) may read, and so may the admins of the other
orgs in ``orgs``; nodes (peers, orderers), other orgs' client identities (their agents) and
connections without a certificate are refused with a page that says why. Everything the
console offers is read-only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509

from provenance.channel_config import ChannelTrust
from provenance.errors import Refused
from provenance.msp import Identity

READER_ROLES = frozenset({"client", "admin"})


@dataclass(frozen=True)
class Reader:
    msp_id: str
    name: str
    roles: frozenset[str]


class AccessDenied(Exception):
    """Why a request may not read (shown to the requester with status 403)."""


class AccessPolicy:
    """``home``'s clients and admins; admins of ``orgs`` (default: every org of the channel)."""

    def __init__(self, trust: ChannelTrust, home: str, orgs: Iterable[str] | None = None) -> None:
        self.trust = trust
        self.home = home
        self.orgs = frozenset(orgs) | {home} if orgs is not None else frozenset(trust.msps)

    def reader(self, cert_der: bytes | None) -> Reader:
        if not cert_der:
            raise AccessDenied("no client certificate: connect with your organisation's Fabric client certificate "
                               "(mutual TLS)")  # fmt: skip
        try:
            cert = x509.load_der_x509_certificate(cert_der)
        except ValueError:
            raise AccessDenied("the client certificate cannot be read") from None
        who = self._member(cert)
        if who.msp_id not in self.orgs:
            raise AccessDenied(f"{who.msp_id} may not read this console (it serves {', '.join(sorted(self.orgs))})")
        allowed = READER_ROLES if who.msp_id == self.home else frozenset({"admin"})
        if not who.roles & allowed:
            roles = "/".join(sorted(who.roles - {"member"})) or "no role"
            readers = "clients and admins" if who.msp_id == self.home else "admins"
            raise AccessDenied(f"{who.subject} of {who.msp_id} is a {roles} identity; of {who.msp_id} only "
                               f"{readers} may read this console (served by {self.home})")  # fmt: skip
        return Reader(who.msp_id, who.subject, who.roles)

    def _member(self, cert: x509.Certificate) -> Identity:
        for msp in self.trust.msps.values():
            try:
                return msp.validate(cert)
            except Refused:
                continue
        raise AccessDenied(f"{cert.subject.rfc4514_string()} is not an identity of any channel member")

    def root_bundle(self) -> bytes:
        """PEM of every channel MSP's root and intermediate certificates: what the TLS layer trusts."""
        from cryptography.hazmat.primitives.serialization import Encoding

        certs = [c for m in self.trust.msps.values() for c in (*m.roots, *m.intermediates)]
        return b"".join(c.public_bytes(Encoding.PEM) for c in certs)
