#!/usr/bin/env bash
# Builds the fuzz targets (libFuzzer, through the libfuzzer-sys crate) and runs each for
# SECONDS, one after the other, on its seed corpus (corpus/<target>/, committed).
#
#   fuzz/run.sh [TARGET...] SECONDS      no TARGET: every target of fuzz/Cargo.toml;
#                                        SECONDS 0: build only
#
# No cargo-fuzz and no nightly toolchain are needed: the coverage instrumentation is set with
# stable rustc flags (what `cargo fuzz build --sanitizer none` does). With cargo-fuzz installed,
# `cargo +nightly fuzz run TARGET` works on the same crate (with AddressSanitizer).
#
# Environment (defaults in brackets):
#   CARGO_TARGET_DIR   the build goes to $CARGO_TARGET_DIR/fuzz [../target/fuzz]; new inputs
#                      found go to its corpus/<target>, crashing inputs to its artifacts/
#   FUZZ_RSS_MB [512], FUZZ_MALLOC_MB [256]   libFuzzer's -rss_limit_mb, -malloc_limit_mb
#   FUZZ_TIMEOUT [5]   seconds one input may take (-timeout)
#   FUZZ_ARGS          more libFuzzer arguments
# Exits non-zero at the first target that crashes, leaks past the limits or hangs; the input
# is named in the output (and saved under artifacts/), to be added as a regression test.
set -euo pipefail
cd "$(dirname "$0")"

if [ $# -lt 1 ]; then
    echo "usage: $0 [TARGET...] SECONDS" >&2
    exit 2
fi
seconds="${*: -1}"
targets=("${@:1:$#-1}")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^icechunk-fuzz$')
fi

base="${CARGO_TARGET_DIR:-$PWD/../target}"
target_dir="$base/fuzz"
host="$(rustc -vV | sed -n 's/^host: //p')"
# --target keeps these flags off build scripts and proc macros (they would not link).
export RUSTFLAGS="${RUSTFLAGS:-} --cfg fuzzing -Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares \
 -Cdebug-assertions -Coverflow-checks"
build_start=$SECONDS
cargo build --release --locked --bins --target "$host" --target-dir "$target_dir" \
    $(printf -- '--bin %s ' "${targets[@]}")
echo "fuzz: built ${#targets[@]} targets in $((SECONDS - build_start)) s"
if [ "$seconds" -eq 0 ]; then
    exit 0
fi

summary=()
for t in "${targets[@]}"; do
    work="$target_dir/corpus/$t"
    mkdir -p "$work" "$target_dir/artifacts"
    log="$target_dir/$t.log"
    echo "fuzz: $t for ${seconds}s"
    status=0
    nice -n 10 "$target_dir/$host/release/$t" "$work" "corpus/$t" \
        -max_total_time="$seconds" -rss_limit_mb="${FUZZ_RSS_MB:-512}" \
        -malloc_limit_mb="${FUZZ_MALLOC_MB:-256}" -timeout="${FUZZ_TIMEOUT:-5}" \
        -artifact_prefix="$target_dir/artifacts/$t-" -print_final_stats=1 ${FUZZ_ARGS:-} \
        >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
    cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
    summary+=("$t: ${execs:-?} runs, ${cov:-cov ?}, peak RSS ${rss:-?} MB")
    if [ $status -ne 0 ]; then
        tail -60 "$log"
        echo "fuzz: $t FAILED (exit $status); log $log" >&2
        printf '%s\n' "${summary[@]}"
        exit 1
    fi
done
printf 'fuzz: %s\n' "${summary[@]}"
echo "fuzz: ${#targets[@]} passed, 0 failed"
