#!/usr/bin/env bash
# Installs everything fedledger runs on, idempotently, into a per-user cache:
#   - Hyperledger Fabric's peer, orderer, configtxgen, configtxlator, cryptogen, osnadmin,
#     built from Fabric's Go module at the pinned release (scripts/versions.env);
#   - Fabric's sampleconfig (core.yaml, orderer.yaml) copied from the Go module cache;
#   - Kubo (IPFS) from its Go module;
#   - fedledger-zk from the project's own Go module zk/ (gnark circuits, prover, verifier);
#   - the project's Python 3.11 virtualenv from requirements.lock;
#   - Debian's chromium (browser tests) and Pango (PDFs), with apt-get when missing;
#   - with FEDLEDGER_WITH_FLOWER=1, Flower in a virtualenv of its own (`fedledger bench peer`).
# Each part is keyed by its pin and skipped when already present, so a second run takes
# seconds. At the end it writes .fedledger/paths.env, which scripts/with-env sources.
#
# Usage: scripts/install.sh [--quiet]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=versions.env
source "$ROOT/scripts/versions.env"
CACHE=${FEDLEDGER_CACHE:-$HOME/.cache/fedledger}
QUIET=${1:-}
PYTHON=${FEDLEDGER_PYTHON:-python3.11}

say() { [ "$QUIET" = "--quiet" ] || echo "[install] $*" >&2; }
die() { echo "[install] ERROR: $*" >&2; exit 1; }
started=$(date +%s)

command -v go >/dev/null || die "Go is required (>= 1.24) to build Fabric and Kubo; none on PATH."
command -v "$PYTHON" >/dev/null || die "$PYTHON is required; set FEDLEDGER_PYTHON to another 3.11 interpreter."

# go_build_tools DIR NAME MODULE VERSION PACKAGES...: builds PACKAGES of MODULE@VERSION into
# DIR/bin through the tools module scripts/gotools/NAME, whose committed go.sum pins the hash of
# every dependency. (`go install pkg@version` is not used: it asks the proxy for the module's
# version list, which the proxy reachable here refuses.)
go_build_tools() {
  local dir=$1 name=$2 module=$3 version=$4; shift 4
  local toolchain=${GO_BUILD_TOOLCHAIN:-local}
  mkdir -p "$dir/bin"
  grep -q "require $module $version" "$ROOT/scripts/gotools/$name/go.mod" \
    || die "scripts/gotools/$name/go.mod does not require $module $version (update it with the pin)"
  cp "$ROOT/scripts/gotools/$name/go.mod" "$ROOT/scripts/gotools/$name/go.sum" "$dir/"
  (cd "$dir" && GOTOOLCHAIN=$toolchain GOFLAGS=-mod=mod GOBIN="$dir/bin" go build -trimpath -o "$dir/bin/" "$@") \
    || die "go build of $module@$version failed (see the output above)"
}

# --- Fabric ---------------------------------------------------------------------------------
FABRIC_DIR=$CACHE/fabric-$FABRIC_RELEASE-${FABRIC_COMMIT:0:12}
if [ ! -f "$FABRIC_DIR/.done" ]; then
  say "building Hyperledger Fabric $FABRIC_RELEASE ($FABRIC_COMMIT) with go build; first time takes 1-3 min"
  pkgs=()
  for c in peer orderer configtxgen configtxlator cryptogen osnadmin; do
    pkgs+=("github.com/hyperledger/fabric/cmd/$c")
  done
  go_build_tools "$FABRIC_DIR" fabric github.com/hyperledger/fabric "$FABRIC_MODULE_VERSION" "${pkgs[@]}"
  modsrc=$(cd "$FABRIC_DIR" && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' github.com/hyperledger/fabric)
  [ -f "$modsrc/sampleconfig/core.yaml" ] || die "sampleconfig not found in $modsrc"
  rm -rf "$FABRIC_DIR/sampleconfig"
  cp -r "$modsrc/sampleconfig" "$FABRIC_DIR/sampleconfig"
  chmod -R u+w "$FABRIC_DIR/sampleconfig"
  echo "$FABRIC_RELEASE $FABRIC_COMMIT" > "$FABRIC_DIR/.done"
  say "fabric binaries ready in $FABRIC_DIR/bin"
else
  say "fabric $FABRIC_RELEASE: cached"
fi

# --- Fabric CA ------------------------------------------------------------------------------
FABRIC_CA_DIR=$CACHE/fabric-ca-$FABRIC_CA_VERSION
if [ ! -f "$FABRIC_CA_DIR/.done" ]; then
  say "building Hyperledger Fabric CA $FABRIC_CA_VERSION with go build (cgo, for its sqlite store); first time takes 1-3 min"
  go_build_tools "$FABRIC_CA_DIR" fabric-ca github.com/hyperledger/fabric-ca "$FABRIC_CA_VERSION" \
    github.com/hyperledger/fabric-ca/cmd/fabric-ca-server github.com/hyperledger/fabric-ca/cmd/fabric-ca-client
  echo "$FABRIC_CA_VERSION" > "$FABRIC_CA_DIR/.done"
  say "fabric-ca ready in $FABRIC_CA_DIR/bin"
else
  say "fabric-ca $FABRIC_CA_VERSION: cached"
fi

# --- Kubo -----------------------------------------------------------------------------------
KUBO_DIR=$CACHE/kubo-$KUBO_VERSION
if [ ! -f "$KUBO_DIR/.done" ]; then
  say "building Kubo $KUBO_VERSION with go build; first time takes 2-5 min"
  # Kubo v0.39.0 depends on cockroachdb/swiss, whose runtime hooks stop at Go 1.25; build it
  # with the Go 1.25 toolchain, which the Go module proxy serves as golang.org/toolchain.
  GO_BUILD_TOOLCHAIN=$KUBO_GO_TOOLCHAIN \
    go_build_tools "$KUBO_DIR" kubo github.com/ipfs/kubo "$KUBO_VERSION" github.com/ipfs/kubo/cmd/ipfs
  echo "$KUBO_VERSION" > "$KUBO_DIR/.done"
  say "kubo ready in $KUBO_DIR/bin"
else
  say "kubo $KUBO_VERSION: cached"
fi

# --- fedledger-zk (the project's own Go module: gnark circuits, prover, verifier) -----------
zk_hash=$(cd "$ROOT/zk" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) ! -name '*_test.go' \
  | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-12)
ZK_DIR=$CACHE/zk-$zk_hash
if [ ! -f "$ZK_DIR/.done" ]; then
  say "building fedledger-zk (zk/, gnark) with go build; first time fetches gnark and takes about a minute"
  mkdir -p "$ZK_DIR/bin"
  (cd "$ROOT/zk" && GOFLAGS=-mod=readonly go build -trimpath -o "$ZK_DIR/bin/fedledger-zk" ./cmd/fedledger-zk) \
    || die "go build of zk/cmd/fedledger-zk failed (see the output above)"
  echo "$zk_hash" > "$ZK_DIR/.done"
  say "fedledger-zk ready in $ZK_DIR/bin"
else
  say "fedledger-zk: cached"
fi

# --- Python virtualenv ----------------------------------------------------------------------
lock_hash=$(cat "$ROOT/requirements.lock" "$ROOT/requirements-torch.txt" | sha256sum | cut -c1-12)
VENV=$CACHE/venv-py311-$lock_hash
if [ ! -f "$VENV/.done" ]; then
  say "creating the Python virtualenv $VENV from requirements.lock"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  say "installing torch 2.13.0 (first time: ~2 GB of wheels from PyPI unless /opt/wheels has the CPU build)"
  find_links=()
  [ -d /opt/wheels ] && find_links=(--find-links /opt/wheels)
  "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar on "${find_links[@]}" \
    -c "$ROOT/requirements-torch.txt" torch==2.13.0
  "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar on \
    --no-deps -r "$ROOT/requirements.lock"
  "$VENV/bin/python" -m pip check || die "the pinned Python dependencies are inconsistent"
  touch "$VENV/.done"
  for old in "$CACHE"/venv-py311-*; do  # each holds ~5 GB with torch: keep only the current one
    if [ "$old" != "$VENV" ] && [ -d "$old" ]; then say "removing the outdated virtualenv $old"; rm -rf "$old"; fi
  done
else
  say "python virtualenv: cached"
fi

# --- ACA-Py (Aries Cloud Agent Python), in a virtualenv of its own ------------------------------
acapy_hash=$(sha256sum "$ROOT/requirements-acapy.lock" | cut -c1-12)
ACAPY_VENV=$CACHE/acapy-py311-$acapy_hash
if [ ! -f "$ACAPY_VENV/.done" ]; then
  say "creating ACA-Py's virtualenv $ACAPY_VENV from requirements-acapy.lock"
  rm -rf "$ACAPY_VENV"
  "$PYTHON" -m venv "$ACAPY_VENV"
  "$ACAPY_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$ACAPY_VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar on \
    --no-deps -r "$ROOT/requirements-acapy.lock"
  "$ACAPY_VENV/bin/python" -m pip check || die "ACA-Py's pinned dependencies are inconsistent"
  "$ACAPY_VENV/bin/aca-py" --version >/dev/null || die "aca-py does not start"
  touch "$ACAPY_VENV/.done"
  for old in "$CACHE"/acapy-py311-*; do
    if [ "$old" != "$ACAPY_VENV" ] && [ -d "$old" ]; then rm -rf "$old"; fi
  done
else
  say "aca-py: cached"
fi

# --- Flower, the peer baseline of `fedledger bench peer` (only with FEDLEDGER_WITH_FLOWER=1) -------
flower_hash=$(cat "$ROOT/requirements-flower.lock" "$ROOT/requirements.lock" | sha256sum | cut -c1-12)
FLOWER_VENV=$CACHE/flower-py311-$flower_hash
if [ "${FEDLEDGER_WITH_FLOWER:-0}" = "1" ] && [ ! -f "$FLOWER_VENV/.done" ]; then
  say "creating Flower's virtualenv $FLOWER_VENV from requirements-flower.lock"
  rm -rf "$FLOWER_VENV"
  "$PYTHON" -m venv "$FLOWER_VENV"
  "$FLOWER_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$FLOWER_VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar on \
    --no-deps -r "$ROOT/requirements-flower.lock"
  # torch, opacus, pandas, scikit-learn: the project's own, after Flower's packages on sys.path
  site=$("$FLOWER_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  "$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$site/zz_fedledger_venv.pth"
  "$FLOWER_VENV/bin/python" -c 'import flwr, torch, opacus, sklearn' || die "Flower's virtualenv cannot import flwr and torch"
  touch "$FLOWER_VENV/.done"
  for old in "$CACHE"/flower-py311-*; do
    if [ "$old" != "$FLOWER_VENV" ] && [ -d "$old" ]; then rm -rf "$old"; fi
  done
elif [ -f "$FLOWER_VENV/.done" ]; then
  say "flower: cached"
fi

# The two W3C JSON-LD contexts consent credentials use, exactly as ACA-Py (the issuer) bundles
# them; the consent contract checks their SHA-256 against digests pinned in its code.
JSONLD_DIR=$CACHE/jsonld-contexts-$acapy_hash
if [ ! -f "$JSONLD_DIR/.done" ]; then
  resources=$(ls -d "$ACAPY_VENV"/lib/python3*/site-packages/aries_cloudagent/vc/ld_proofs/resources)
  mkdir -p "$JSONLD_DIR"
  cp "$resources/credentials_context.jsonld" "$resources/ed25519-2020-context.jsonld" "$JSONLD_DIR/"
  touch "$JSONLD_DIR/.done"
fi

# --- Debian packages: Chromium (the console's browser tests, driven by Playwright; never a
# downloaded browser) and Pango (WeasyPrint's PDFs of certificates and reports) ----------------
DEBS=(chromium libpango-1.0-0 libpangoft2-1.0-0)
missing=()
for deb in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q "install ok installed" || missing+=("$deb")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]} (chromium: ~124 MB)"
  apt=(apt-get -y -q --no-install-recommends)
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "installing ${missing[*]} needs root: run as root, or apt-get install ${missing[*]}"
    apt=(sudo "${apt[@]}")
  fi
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >/dev/null \
    || { DEBIAN_FRONTEND=noninteractive "${apt[@]}" update >/dev/null \
         && DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >/dev/null; } \
    || die "apt-get install ${missing[*]} failed (see the output above)"
else
  say "chromium, pango: installed"
fi
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium is missing after installing the chromium package"

# --- paths for the rest of the project --------------------------------------------------------
mkdir -p "$ROOT/.fedledger"
cat > "$ROOT/.fedledger/paths.env" <<EOF
# written by scripts/install.sh; sourced by scripts/with-env
FEDLEDGER_FABRIC_BIN=$FABRIC_DIR/bin
FEDLEDGER_FABRIC_SAMPLECONFIG=$FABRIC_DIR/sampleconfig
FEDLEDGER_FABRIC_RELEASE=$FABRIC_RELEASE
FEDLEDGER_FABRIC_CA_BIN=$FABRIC_CA_DIR/bin
FEDLEDGER_IPFS_BIN=$KUBO_DIR/bin/ipfs
FEDLEDGER_ZK=$ZK_DIR/bin/fedledger-zk
FEDLEDGER_VENV=$VENV
FEDLEDGER_ACAPY=$ACAPY_VENV/bin/aca-py
FEDLEDGER_JSONLD_CONTEXTS=$JSONLD_DIR
FEDLEDGER_FLOWER_VENV=$FLOWER_VENV
EOF
say "done in $(( $(date +%s) - started )) s"
