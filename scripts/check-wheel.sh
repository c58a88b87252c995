#!/usr/bin/env bash
# The wheel a host installs: built from pyproject.toml, installed into a fresh virtualenv
# outside the checkout with no PYTHONPATH, it must run the command line, pass the chaincode
# service's start-up check and import the agent without the code that brings up a consortium.
# Third-party packages are the pinned set of the project's environment (a .pth file to its
# site-packages, which holds no fedledger code), so the check needs no download.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=/dev/null
source "$ROOT/.fedledger/paths.env"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
say() { printf '[wheel] %s\n' "$*"; }

# build from a copy of the working tree (setuptools writes build/ next to the sources)
mkdir "$WORK/src"
git -C "$ROOT" ls-files -co --exclude-standard -z | tar -C "$ROOT" --null -T - -cf - | tar -xf - -C "$WORK/src"
"$FEDLEDGER_VENV/bin/python" -m pip wheel --quiet --no-deps --no-build-isolation -w "$WORK/dist" "$WORK/src" \
  > "$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; exit 1; }
wheel=$(ls "$WORK"/dist/fedledger-*.whl)
say "built $(basename "$wheel")"
"$FEDLEDGER_VENV/bin/python" -m zipfile -l "$wheel" | awk '{print $1}' > "$WORK/listing"
for sub in agent/daemon agent/consent agent/storage agent/data agent/secagg agent/zk clients/fabric clients/ledger \
    chaincode/contracts chaincode/runtime chaincode/hostile network/templates network/ccaas_builder/bin demo fedledger \
    provenance/templates console/templates; do
  grep -q "^$sub/" "$WORK/listing" || { echo "[wheel] the wheel lacks $sub/" >&2; exit 1; }
done

base=$("$FEDLEDGER_VENV/bin/python" -c 'import sys; print(sys.base_prefix)')/bin/python3.11
"$base" -m venv "$WORK/venv"
site=$("$WORK/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$FEDLEDGER_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$site/pinned-dependencies.pth"
"$WORK/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-index "$wheel"
cd "$WORK"
run() { env -u PYTHONPATH PATH="$WORK/venv/bin:/usr/bin:/bin" "$@"; }
run fedledger --help > /dev/null && say "fedledger --help runs from the installed wheel"
run python - <<'PY'
import runpy
import sys

# a chaincode service installs fedledger[chaincode]: none of the agent's learning stack
for heavy in ("torch", "opacus", "numpy", "pandas", "sklearn", "pyarrow", "matplotlib"):
    sys.modules[heavy] = None
sys.argv = ["python -m chaincode", "--check"]
try:
    runpy.run_module("chaincode", run_name="__main__")
except SystemExit as exc:
    assert exc.code == 0, exc.code
print("[wheel] (without torch, opacus, numpy, pandas, scikit-learn, pyarrow or matplotlib)")
PY
run python - <<'PY'
import sys

for layer in ("network", "demo", "fedledger", "bench"):  # any import of these now fails
    sys.modules[layer] = None
import agent.daemon.runner, agent.study_fit, agent.study_init, agent.session  # noqa: E401,F401

assert "/site-packages/" in agent.__file__, f"agent imported from {agent.__file__}, not from the wheel"
print(f"[wheel] the agent imports without the network, demo, CLI or benchmark code ({agent.__file__})")
PY
