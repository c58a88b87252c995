"""An org's own Fabric CA (network/org_ca.py): the org enrolls its admin, its peer and its
client from its CA; the certificates carry the NodeOU of each role and the peer's TLS
certificate names its host; the org definition it hands to others holds no private key; the
MSP folders load as the gateway client's identities; another org's CA does not vouch for it."""

from __future__ import annotations

import ipaddress
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID

from clients.fabric.identity import load_msp_identity
from network import process, readiness
from network.org_ca import OrgCA
from network.state import StateDir
from network.topology import HOSPITALS

pytestmark = pytest.mark.integration


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    except InvalidSignature:
        return False
    return cert.issuer == ca.subject


def _ous(cert: x509.Certificate) -> set[str]:
    return {a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)}


def _start(ca: OrgCA, state: StateDir) -> None:
    spec = ca.spec()
    process.start(spec.name, spec.argv, spec.env, state.log(spec.name), state.pid(spec.name))
    readiness.wait_healthy(state, spec, timeout=60)


def test_an_org_enrolls_its_own_identities_and_hands_out_only_certificates(tmp_path: Path) -> None:
    base = int(os.environ.get("FEDLEDGER_TEST_PORT_BASE", "17100")) + 900
    state = StateDir(tmp_path / "state")
    a, b = HOSPITALS[0], HOSPITALS[1]
    ca_a = OrgCA(a, tmp_path / "a" / "ca", tmp_path / "a" / "crypto", "127.0.0.1", base, base + 1)
    ca_b = OrgCA(b, tmp_path / "b" / "ca", tmp_path / "b" / "crypto", "127.0.0.1", base + 2, base + 3)
    try:
        _start(ca_a, state)
        _start(ca_b, state)
        peer_name = f"peer0.{a.domain}"
        admin = ca_a.enroll("Admin", "admin")
        peer = ca_a.enroll("peer0", "peer", hosts=(peer_name, "10.77.0.10"))
        user = ca_a.enroll("User1", "client")
        assert peer.msp == tmp_path / "a" / "crypto" / "peers" / peer_name / "msp"
        assert admin.tls == tmp_path / "a" / "crypto" / "users" / f"Admin@{a.domain}" / "tls"
        root = _cert(ca_a.ca_cert)
        for ident, ou in ((admin, "admin"), (peer, "peer"), (user, "client")):
            cert = _cert(ident.msp / "signcerts" / "cert.pem")
            assert _signed_by(cert, root) and ou in _ous(cert), (ident.name, _ous(cert))
            key = ident.msp / "keystore" / "priv_sk"
            assert stat.S_IMODE(key.stat().st_mode) == 0o600
            loaded, _ = load_msp_identity(ident.msp, a.msp_id)  # the gateway client takes it as is
            assert loaded.msp_id == a.msp_id
        tls = _cert(peer.tls / "server.crt")
        names = tls.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        assert peer_name in names.get_values_for_type(x509.DNSName)
        assert ipaddress.ip_address("10.77.0.10") in names.get_values_for_type(x509.IPAddress)
        assert _signed_by(tls, root) and (user.tls / "client.key").exists()

        msp = ca_a.org_msp()  # the org definition: certificates and NodeOU rules, no key
        assert sorted(p.relative_to(msp).as_posix() for p in msp.rglob("*") if p.is_file()) == [
            "cacerts/ca.pem", "config.yaml", "tlscacerts/ca.pem"]  # fmt: skip
        assert "PeerOUIdentifier" in (msp / "config.yaml").read_text()

        first = _cert(peer.msp / "signcerts" / "cert.pem").serial_number
        again = ca_a.enroll("peer0", "peer", hosts=(peer_name,))  # enrolling again renews, never fails
        renewed = _cert(again.msp / "signcerts" / "cert.pem")
        assert renewed.serial_number != first and _signed_by(renewed, root)
        other = ca_b.enroll("peer0", "peer", hosts=(f"peer0.{b.domain}",))
        assert not _signed_by(_cert(other.msp / "signcerts" / "cert.pem"), root)  # B's CA does not vouch for A
        with pytest.raises(ValueError, match="identity type"):
            ca_a.register("x", "superuser")
    finally:
        for ca in (ca_a, ca_b):
            process.stop(state.pid(ca.name))
