#!/usr/bin/env bash
# The whole test suite again on Python 3.12, where pip resolves zarr 3.4 and VirtualiZarr's
# newest release (3.11 stops at zarr 3.1). The extension built by test.sh is abi3, so this
# checkout's package is used as is: a .pth file puts it on the venv's path (subprocesses of
# the tests see it too). The venv lives outside the clone, so reruns only check versions.
set -euo pipefail
cd "$(dirname "$0")/.."
PY312="${PY312:-$(pyenv prefix "$(pyenv latest 3.12)")/bin/python3.12}"
VENV="${ICECHUNK_PY312_VENV:-$HOME/.cache/icechunk-py312}"
[ -x "$VENV/bin/python" ] || "$PY312" -m venv "$VENV"
"$VENV/bin/python" - >"$VENV/requirements.txt" <<'PY'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["test"]))
PY
"$VENV/bin/pip" install --quiet --upgrade -r "$VENV/requirements.txt"
site=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo "$PWD/icechunk-python/python" >"$site/icechunk-checkout.pth"
"$VENV/bin/python" -c "import icechunk, zarr, sys; print('python', sys.version.split()[0], 'zarr', zarr.__version__, 'icechunk from', icechunk.__file__)"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests
"$VENV/bin/python" tests/zarr_suite/run.py
