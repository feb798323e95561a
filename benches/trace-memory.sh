#!/bin/sh
# Peak memory of the tools that read a trace (`view`, `export`, `explain`) on one big trace.
#
# Writes a trace with `faultline run SCENARIO --set limits.time_ms=TIME_MS --trace`, runs each
# tool on it under `/usr/bin/time -v`, and prints each tool's maximum resident set size: in
# MB, in MB per 100,000 records, and as a multiple of the trace file's size. The figures in
# docs/viewer.md and docs/exports.md come from this script with its defaults (a Raft run of
# 914,686 records, 166 MB). Memory, not time, is what it measures: nothing here is
# asserted, and the run itself is not measured.
#
# usage: benches/trace-memory.sh [FAULTLINE [TIME_MS [SCENARIO]]]
#   FAULTLINE  the binary to measure (default target/release/faultline: cargo build --release)
#   TIME_MS    the run's virtual time (default 270000)
#   SCENARIO   a bundled scenario or a file (default raft/leader-crash)
# TMPDIR picks where the trace and the outputs go; they are removed at the end.
set -eu

bin=${1:-target/release/faultline}
time_ms=${2:-270000}
scenario=${3:-raft/leader-crash}
[ -x "$bin" ] || { echo "no binary at $bin (cargo build --release)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (GNU time, for -v)" >&2; exit 2; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/faultline-trace-memory.XXXXXX")
trap 'rm -rf "$dir"' EXIT INT TERM
trace="$dir/big.jsonl"

# A failed check (exit 1) still writes the whole trace.
"$bin" run "$scenario" --set "limits.time_ms=$time_ms" --trace "$trace" -q >/dev/null || [ $? -eq 1 ]
bytes=$(wc -c <"$trace")
# Every line but the header and the summary is a record.
records=$(($(wc -l <"$trace") - 2))
echo "trace: $scenario, limits.time_ms=$time_ms: $records records, $bytes bytes ($(echo "$bytes" | awk '{printf "%.1f", $1 / 1e6}') MB)"
printf '%-18s %10s %16s %14s\n' tool "peak MB" "MB/100k records" "x file size"

measure() {
    name=$1
    shift
    /usr/bin/time -v "$@" >/dev/null 2>"$dir/time" || {
        echo "$name failed:" >&2
        cat "$dir/time" >&2
        exit 1
    }
    kb=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$dir/time")
    awk -v name="$name" -v kb="$kb" -v rec="$records" -v bytes="$bytes" 'BEGIN {
        mb = kb * 1024 / 1e6
        printf "%-18s %10.0f %16.1f %14.2f\n", name, mb, mb * 100000 / rec, kb * 1024 / bytes
    }'
    rm -f "$dir/out"
}

measure "view" "$bin" view "$trace" -o "$dir/out"
measure "export perfetto" "$bin" export "$trace" --format perfetto -o "$dir/out"
measure "export shiviz" "$bin" export "$trace" --format shiviz -o "$dir/out"
measure "export jepsen" "$bin" export "$trace" --format jepsen -o "$dir/out"
measure "explain" "$bin" explain "$trace"
