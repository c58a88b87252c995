"""An org's own certificate authority (Fabric CA), so that the org makes and keeps its keys.

In a consortium of separate organisations no process may see another org's private keys: each
org runs a ``fabric-ca-server`` on its own host and enrolls its admins, nodes and users from
it; what leaves the org is only its certificates (the org definition: CA and TLS CA
certificates). The one-machine demo keeps ``cryptogen``, which makes every org's keys in one
run: simpler where all orgs are one operator anyway.

The CA issues both kinds of certificate an identity needs: its signing certificate (the MSP;
the identity's type, ``admin``, ``peer``, ``orderer`` or ``client``, becomes its NodeOU) and,
through the CA's ``tls`` profile, its TLS certificate with the node's name and host address as
subject alternative names. The output is laid out as ``cryptogen`` lays it out
(``msp/``, ``peers|orderers/<fqdn>/{msp,tls}``, ``users/<Name>@<domain>/{msp,tls}``), so the
rest of network/ reads either the same way.

The CA's bootstrap (registrar) password and every identity's enrollment secret are random and
kept in 0600 files under the CA's home, which stays on the org's host.
"""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from network.binaries import ToolError, run_tool, setting
from network.nodes import LaunchSpec
from network.topology import Org

KINDS = ("admin", "peer", "orderer", "client")
NODE_OUS = """NodeOUs:
  Enable: true
  ClientOUIdentifier: {Certificate: cacerts/ca.pem, OrganizationalUnitIdentifier: client}
  PeerOUIdentifier: {Certificate: cacerts/ca.pem, OrganizationalUnitIdentifier: peer}
  AdminOUIdentifier: {Certificate: cacerts/ca.pem, OrganizationalUnitIdentifier: admin}
  OrdererOUIdentifier: {Certificate: cacerts/ca.pem, OrganizationalUnitIdentifier: orderer}
"""


def ca_bin(tool: str) -> str:
    """``fabric-ca-server`` or ``fabric-ca-client`` as scripts/install.sh built them."""
    path = Path(setting("FEDLEDGER_FABRIC_CA_BIN")) / tool
    if not path.exists():
        raise ToolError(f"{path} is missing: run 'make install' (scripts/install.sh)")
    return str(path)


@dataclass(frozen=True)
class Identity:
    """One enrolled identity: its MSP folder and its TLS folder (cryptogen's file names)."""

    name: str  # "peer0", "Admin", "User1"
    kind: str  # one of KINDS
    msp: Path
    tls: Path


class OrgCA:
    """The CA of ``org`` at ``host:port`` (operations on ``ops_port``), its state under ``home``,
    the org's certificates and keys written under ``crypto`` (the org's cryptogen-style folder)."""

    def __init__(self, org: Org, home: Path, crypto: Path, host: str, port: int, ops_port: int) -> None:
        self.org = org
        self.home = home
        self.crypto = crypto
        self.host = host
        self.port = port
        self.ops_port = ops_port
        self.name = f"ca-{org.short}"

    # --- the server ----------------------------------------------------------------------------
    @property
    def server_home(self) -> Path:
        return self.home / "server"

    @property
    def ca_cert(self) -> Path:
        """The CA's root certificate: trust anchor of the org's MSP and of every TLS connection."""
        return self.server_home / "ca-cert.pem"

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def _secret(self, name: str) -> str:
        """The random secret for ``name`` (created on first use, 0600)."""
        path = self.home / "secrets" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(18))
        return path.read_text().strip()

    def spec(self, registrar_secret: str | None = None) -> LaunchSpec:
        """The org's CA server: TLS on, listening on the org's host only. ``registrar_secret``:
        set in its environment instead of the org's own secret (a deployment file's
        placeholder); without it the secret is created on first use."""
        if registrar_secret is None:
            self.server_home.mkdir(parents=True, exist_ok=True)
            registrar_secret = self._secret("registrar")
        env = {
            "FABRIC_CA_SERVER_HOME": str(self.server_home),
            "FABRIC_CA_SERVER_CA_NAME": self.name,
            "FABRIC_CA_SERVER_ADDRESS": self.host,
            "FABRIC_CA_SERVER_PORT": str(self.port),
            "FABRIC_CA_SERVER_TLS_ENABLED": "true",
            "FABRIC_CA_SERVER_CSR_CN": f"ca.{self.org.domain}",
            "FABRIC_CA_SERVER_CSR_HOSTS": ",".join(dict.fromkeys((self.host, f"ca.{self.org.domain}", "localhost"))),
            "FABRIC_CA_SERVER_OPERATIONS_LISTENADDRESS": f"{self.host}:{self.ops_port}",
            "FABRIC_CA_SERVER_METRICS_PROVIDER": "disabled",
        }
        # the registrar's password in the environment (readable by the CA's user only), not on
        # the command line, which every user of the host can read in the process table
        env["FABRIC_CA_SERVER_BOOT"] = f"registrar:{registrar_secret}"
        argv = [ca_bin("fabric-ca-server"), "start"]
        return LaunchSpec(self.name, argv, env, f"http://{self.host}:{self.ops_port}/healthz", self.port, (),
                          self.host, self.org.name)  # fmt: skip

    # --- the client ----------------------------------------------------------------------------
    def _client(self, *args: str, home: Path, what: str) -> str:
        argv = [ca_bin("fabric-ca-client"), *args, "--caname", self.name, "--tls.certfiles", str(self.ca_cert),
                "--home", str(home)]  # fmt: skip
        return run_tool(argv, what=what, timeout=60)

    def _registrar(self) -> Path:
        """The registrar's client home, enrolled on first use."""
        home = self.home / "registrar"
        if not (home / "msp" / "signcerts").exists():
            self._client("enroll", "-u", f"https://registrar:{self._secret('registrar')}@{self.host}:{self.port}",
                         home=home, what=f"enroll {self.name}'s registrar")  # fmt: skip
        return home

    def register(self, name: str, kind: str) -> None:
        """Register ``name`` as a ``kind`` identity (once: registering again is a no-op)."""
        if kind not in KINDS:
            raise ValueError(f"identity type {kind!r}: one of {', '.join(KINDS)}")
        try:
            self._client("register", "-u", self.url, "--id.name", name, "--id.secret", self._secret(name),
                         "--id.type", kind, home=self._registrar(), what=f"register {name} at {self.name}")  # fmt: skip
        except ToolError as exc:
            if "already registered" not in str(exc):
                raise

    def enroll(self, name: str, kind: str, hosts: tuple[str, ...] = ()) -> Identity:
        """Register and enroll ``name``: its MSP and its TLS certificate (valid for ``hosts``),
        written where cryptogen would put them."""
        self.register(name, kind)
        where = self._identity_dir(name, kind)
        scratch = self.home / "enroll" / name
        shutil.rmtree(scratch, ignore_errors=True)
        self._client("enroll", "-u", self._login(name), "--mspdir", str(scratch / "msp"), home=scratch,
                     what=f"enroll {name} at {self.name}")  # fmt: skip
        msp, tls = where / "msp", where / "tls"
        shutil.rmtree(where, ignore_errors=True)
        _msp_folder(scratch / "msp", msp, self.ca_cert)
        shutil.rmtree(scratch)
        self.tls_pair(name, kind, hosts, tls, "server" if kind in ("peer", "orderer") else "client")
        return Identity(name, kind, msp, tls)

    def tls_pair(self, name: str, kind: str, hosts: tuple[str, ...], out: Path, stem: str) -> None:
        """A TLS certificate of ``name`` (registered as ``kind``; valid for ``hosts``, usable as
        server and client) as ``out/<stem>.crt`` and ``.key``, with the CA as ``out/ca.crt``."""
        self.register(name, kind)
        scratch = self.home / "enroll" / f"{name}-tls"
        shutil.rmtree(scratch, ignore_errors=True)
        self._client("enroll", "-u", self._login(name), "--mspdir", str(scratch / "tls"), "--enrollment.profile",
                     "tls", "--csr.hosts", ",".join(dict.fromkeys((*hosts, "localhost", "127.0.0.1"))),
                     home=scratch, what=f"enroll {name}'s TLS certificate at {self.name}")  # fmt: skip
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.ca_cert, out / "ca.crt")
        shutil.copy(_only(scratch / "tls" / "signcerts"), out / f"{stem}.crt")
        _copy_private(_only(scratch / "tls" / "keystore"), out / f"{stem}.key")
        shutil.rmtree(scratch)

    def _login(self, name: str) -> str:
        return f"https://{name}:{self._secret(name)}@{self.host}:{self.port}"

    def org_msp(self) -> Path:
        """The org definition's MSP folder (certificates only: what the org hands to others)."""
        msp = self.crypto / "msp"
        for sub in ("cacerts", "tlscacerts"):
            (msp / sub).mkdir(parents=True, exist_ok=True)
            shutil.copy(self.ca_cert, msp / sub / "ca.pem")
        (msp / "config.yaml").write_text(NODE_OUS)
        return msp

    def _identity_dir(self, name: str, kind: str) -> Path:
        if kind in ("peer", "orderer"):
            return self.crypto / f"{kind}s" / f"{name}.{self.org.domain}"
        return self.crypto / "users" / f"{name}@{self.org.domain}"


def _only(folder: Path) -> Path:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    if len(files) != 1:
        raise ToolError(f"{folder}: expected one file from fabric-ca-client, found {len(files)}")
    return files[0]


def _copy_private(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.touch(mode=0o600)
    dst.write_bytes(src.read_bytes())


def _msp_folder(enrolled: Path, msp: Path, ca_cert: Path) -> None:
    """A local MSP from what ``fabric-ca-client enroll`` wrote: one signing certificate, its key,
    the CA as trust anchor for identities and TLS, and the NodeOU rules."""
    for sub in ("signcerts", "keystore", "cacerts", "tlscacerts"):
        (msp / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy(_only(enrolled / "signcerts"), msp / "signcerts" / "cert.pem")
    _copy_private(_only(enrolled / "keystore"), msp / "keystore" / "priv_sk")
    shutil.copy(ca_cert, msp / "cacerts" / "ca.pem")
    shutil.copy(ca_cert, msp / "tlscacerts" / "ca.pem")
    (msp / "config.yaml").write_text(NODE_OUS)
