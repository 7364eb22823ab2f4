#!/usr/bin/env bash
# Install what the tests need, build the Rust extension (maturin, editable), run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

"$PYTHON" -m pip install --quiet --editable '.[test]'
# --all-features: the `zarrs` feature of icechunk-rs (its adapter tests and example, which
# tests/test_zarrs_interop.py runs).
cargo test --workspace --all-features
# Every decoder fuzzed for 15 s on its seed corpus (libFuzzer; the build goes under
# $CARGO_TARGET_DIR/fuzz). Fails on a crash, a hang or an allocation past the bounds.
fuzz/run.sh 15
"$PYTHON" -m pytest tests
# zarr-python's own array, indexing and codec tests with icechunk.CodecPipeline on and
# IcechunkStores for its stores (the suite of the installed zarr, fetched from PyPI once).
"$PYTHON" tests/zarr_suite/run.py
# The same suite on Python 3.12 with zarr 3.4 and VirtualiZarr's newest release.
.ci/py312.sh
# The benchmark harness, at small sizes: proves it runs end to end (asserts nothing about speed).
"$PYTHON" benches/run.py --quick --name quick
