#!/usr/bin/env bash
# Install what the tests need, build the Rust extension (maturin, editable), run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

"$PYTHON" -m pip install --quiet --editable '.[test]'
cargo test --workspace
"$PYTHON" -m pytest tests
# The benchmark harness, at small sizes: proves it runs end to end (asserts nothing about speed).
"$PYTHON" benches/run.py --quick --name quick
