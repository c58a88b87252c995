"""Chaincode-as-a-service packages and the TLS material of each org's chaincode service.

A ccaas package is a tar.gz holding ``metadata.json`` (type ``ccaas``, the label) and
``code.tar.gz`` with ``connection.json``. Its package id is ``label:sha256(package)``, so the
archive is written deterministically (fixed mtimes and owners) and the same inputs always give
the same id. Each org runs its own chaincode service, with a server certificate and a peer
client certificate issued by the org's TLS CA (mutual TLS between peer and service).
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import io
import ipaddress
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Package:
    path: Path
    label: str
    package_id: str


def _tar_gz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data = files[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def build_package(out_dir: Path, label: str, connection: dict[str, object]) -> Package:
    """Write the ccaas package for ``connection`` and return its id."""
    code = _tar_gz({"connection.json": json.dumps(connection, indent=2, sort_keys=True).encode()})
    metadata = json.dumps({"type": "ccaas", "label": label}).encode()
    package = _tar_gz({"metadata.json": metadata, "code.tar.gz": code})
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{label}.tar.gz"
    path.write_bytes(package)
    return Package(path, label, f"{label}:{hashlib.sha256(package).hexdigest()}")


def _load_ca(cert_file: Path, key_file: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_file} is not an EC key")
    return cert, key


def issue_tls_pair(ca_cert_file: Path, ca_key_file: Path, common_name: str, out_dir: Path, stem: str,
                   host: str = "127.0.0.1") -> None:  # fmt: skip
    """Issue ``<stem>.crt``/``<stem>.key`` from the org's TLS CA, valid for ``host`` (the org's
    host address) and loopback."""
    ca_cert, ca_key = _load_ca(ca_cert_file, ca_key_file)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.DNSName(common_name),
                    *(x509.IPAddress(ipaddress.ip_address(a)) for a in dict.fromkeys(("127.0.0.1", host))),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = out_dir / f"{stem}.key"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
