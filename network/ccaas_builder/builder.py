#!/usr/bin/env python3
"""fedledger's external chaincode builder for chaincode-as-a-service packages.

The peer runs bin/detect, bin/build and bin/release (symlinks to this file) when it installs
or launches a chaincode. A package of type "ccaas" carries only a connection.json that says
where the chaincode service listens and with which TLS material to reach it; this builder
checks it and hands it to the peer, which then dials the service itself.

Fabric's own ccaas builder module (github.com/hyperledger/fabric/ccaas_builder) is not served
by the Go module proxy these machines reach, hence this stdlib-only implementation of the
same external-builder contract (detect / build / release, exit code 0 on success).
"""

import json
import shutil
import sys
from pathlib import Path

REQUIRED = ("address",)


def fail(message: str) -> None:
    print(f"fedledger-ccaas: {message}", file=sys.stderr)
    sys.exit(1)


def detect(source: Path, metadata: Path) -> None:
    try:
        meta = json.loads((metadata / "metadata.json").read_text())
    except (OSError, ValueError):
        sys.exit(1)
    sys.exit(0 if str(meta.get("type", "")).lower() == "ccaas" else 1)


def build(source: Path, metadata: Path, output: Path) -> None:
    conn_file = source / "connection.json"
    try:
        conn = json.loads(conn_file.read_text())
    except (OSError, ValueError) as exc:
        fail(f"cannot read {conn_file}: {exc}")
    missing = [k for k in REQUIRED if not conn.get(k)]
    if missing:
        fail(f"connection.json lacks {', '.join(missing)}")
    if conn.get("tls_required") and not conn.get("root_cert"):
        fail("connection.json requires TLS but has no root_cert")
    if conn.get("client_auth_required") and not (conn.get("client_cert") and conn.get("client_key")):
        fail("connection.json requires client auth but lacks client_cert/client_key")
    output.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(conn_file, output / "connection.json")
    if (source / "META-INF").is_dir():
        shutil.copytree(source / "META-INF", output / "META-INF", dirs_exist_ok=True)


def release(build_output: Path, release_dir: Path) -> None:
    target = release_dir / "chaincode" / "server"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(build_output / "connection.json", target / "connection.json")
    statedb = build_output / "META-INF" / "statedb"
    if statedb.is_dir():  # CouchDB index definitions, if the package carries any
        shutil.copytree(statedb, release_dir / "statedb", dirs_exist_ok=True)


def main() -> None:
    phase = Path(sys.argv[0]).name
    args = [Path(a) for a in sys.argv[1:]]
    if phase == "detect" and len(args) == 2:
        detect(*args)
    elif phase == "build" and len(args) == 3:
        build(*args)
    elif phase == "release" and len(args) == 2:
        release(*args)
    else:
        fail(f"usage: detect SRC META | build SRC META OUT | release BUILD RELEASE (got {phase} {sys.argv[1:]})")


if __name__ == "__main__":
    main()
