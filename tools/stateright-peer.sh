#!/usr/bin/env bash
# Run stateright 0.31.0's own examples/paxos.rs (unmodified, as shipped in the
# crates.io package) for 2 and 3 clients and print one line per run:
#
#   stateright paxos clients=C threads=T unique=U states=S seconds=X rss_bytes=R bytes_per_state=B states_per_s=V unique_per_s=W
#
# The peer of `cargo bench --bench explore` (docs/scale.md, "Exhaustive exploration"):
# tools/explore-vs-stateright.sh runs both back to back.
#
# usage: stateright.sh WORKDIR [THREADS] [CLIENT_COUNTS]
#   WORKDIR        scratch directory (created); the crate source is copied to
#                  WORKDIR/stateright-0.31.0 and built there (target/ inside it).
#   THREADS        checker threads (default 1). The example hard-codes
#                  .threads(num_cpus::get()), and num_cpus honours the CPU
#                  affinity mask, so the run is pinned with `taskset` to THREADS
#                  CPUs; THREADS may not exceed the CPUs this shell may use.
#   CLIENT_COUNTS  default "2 3".
#
# Field meanings:
#   unique   = stateright's unique_state_count() (distinct 64-bit fingerprints)
#   states   = stateright's state_count() (every successor generated, incl. revisits)
#   seconds  = checking time: first "Thread started" to last "No more work" debug
#              log line of the BFS checker threads, timestamped on arrival with
#              $EPOCHREALTIME. (The process's own wall time is NOT used: the
#              example's report() loop polls is_done() once per second, so process
#              wall time is rounded up to whole seconds; it is printed on stderr.)
#   rss_bytes = peak RSS of the process (/usr/bin/time %M, else VmHWM polled
#              from /proc/PID/status)
#   bytes_per_state = rss_bytes / unique ; states_per_s = states / seconds
#
# Works offline once stateright 0.31.0 and its dev-dependencies are in the cargo
# registry cache; otherwise it tries the registry once and fails with a message.
set -euo pipefail

VER=0.31.0
die() { echo "stateright.sh: error: $*" >&2; exit 1; }
note() { echo "stateright.sh: $*" >&2; }

[ $# -ge 1 ] || die "usage: $0 WORKDIR [THREADS] [CLIENT_COUNTS]"
WORK=$1
THREADS=${2:-1}
CLIENTS=${3:-"2 3"}
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer, got '$THREADS'"
command -v cargo >/dev/null || die "cargo not found on PATH"
command -v taskset >/dev/null || die "taskset (util-linux) not found; needed to set the example's thread count"

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}

find_src() {
    local d
    for d in "$CARGO_HOME"/registry/src/*/stateright-"$VER"; do
        [ -f "$d/Cargo.toml" ] && { echo "$d"; return 0; }
    done
    return 1
}

# 1. Locate the crate source (extract from the cache, or download, via a scratch crate).
REG_SRC=$(find_src || true)
if [ -z "$REG_SRC" ]; then
    SCRATCH="$WORK/scratch"
    if [ ! -f "$SCRATCH/Cargo.toml" ]; then
        mkdir -p "$SCRATCH/src"
        printf 'fn main() {}\n' > "$SCRATCH/src/main.rs"
        cat > "$SCRATCH/Cargo.toml" <<EOF
[package]
name = "stateright-peer-scratch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
stateright = "=$VER"
EOF
    fi
    note "stateright $VER not unpacked in $CARGO_HOME/registry/src; fetching via $SCRATCH"
    (cd "$SCRATCH" && { cargo fetch --offline >/dev/null 2>&1 || cargo fetch; }) \
        || die "could not obtain stateright $VER: not in the cargo registry cache and the registry fetch failed"
    REG_SRC=$(find_src) || die "cargo fetch succeeded but stateright-$VER was not found under $CARGO_HOME/registry/src"
fi
[ -f "$REG_SRC/examples/paxos.rs" ] || die "$REG_SRC has no examples/paxos.rs"

# 2. Copy it (the registry copy is read-only by convention) and build the example.
SRC="$WORK/stateright-$VER"
if [ ! -f "$SRC/examples/paxos.rs" ]; then
    rm -rf "$SRC"
    cp -r "$REG_SRC" "$SRC"
fi
cmp -s "$REG_SRC/examples/paxos.rs" "$SRC/examples/paxos.rs" \
    || die "$SRC/examples/paxos.rs differs from the registry copy; remove $SRC and rerun"
(cd "$SRC" && { cargo fetch --locked --offline >/dev/null 2>&1 || cargo fetch --locked; }) \
    || die "could not obtain stateright $VER's dependencies (incl. dev-dependencies env_logger, pico-args, num_cpus): not cached and the registry fetch failed"
(cd "$SRC" && cargo build --release --locked --offline --example paxos --target-dir "$SRC/target" >&2) \
    || die "cargo build of the paxos example failed"
BIN="$SRC/target/release/examples/paxos"
[ -x "$BIN" ] || die "built binary $BIN missing"

# 3. Pick THREADS CPUs from this shell's affinity mask.
ALLOWED=$(taskset -pc $$ | sed 's/.*: *//')
CPU_LIST=()
IFS=',' read -ra parts <<< "$ALLOWED"
for p in "${parts[@]}"; do
    if [[ $p == *-* ]]; then
        for ((c=${p%-*}; c<=${p#*-}; c++)); do CPU_LIST+=("$c"); done
    else
        CPU_LIST+=("$p")
    fi
done
(( THREADS <= ${#CPU_LIST[@]} )) || die "THREADS=$THREADS but only ${#CPU_LIST[@]} CPUs are available (${ALLOWED}); the example uses one checker thread per available CPU"
PIN=$(IFS=','; echo "${CPU_LIST[*]:0:$THREADS}")

HAVE_TIME=0; [ -x /usr/bin/time ] && HAVE_TIME=1
RUNDIR="$WORK/runs"; mkdir -p "$RUNDIR"
read -r LOAD1 _ < /proc/loadavg
note "load average before runs: $LOAD1 (nproc=$(nproc)); pinning to CPUs $PIN"

timestamp_lines() { local l; while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done; }

for C in $CLIENTS; do
    tag="c${C}_t${THREADS}"
    out="$RUNDIR/$tag.out"; log="$RUNDIR/$tag.log"; tf="$RUNDIR/$tag.time"
    rm -f "$out" "$log" "$tf"
    t0=$EPOCHREALTIME
    if (( HAVE_TIME )); then
        set +e
        { RUST_LOG=stateright=debug taskset -c "$PIN" /usr/bin/time -f '%M' -o "$tf" \
              "$BIN" check-bfs "$C" > "$out"; } 2>&1 | timestamp_lines > "$log"
        rc=${PIPESTATUS[0]}
        set -e
        (( rc == 0 )) || die "paxos check-bfs $C exited with $rc (see $out, $log)"
        rss_kb=$(tail -n1 "$tf")
    else
        fifo="$RUNDIR/$tag.fifo"; rm -f "$fifo"; mkfifo "$fifo"
        timestamp_lines < "$fifo" > "$log" &
        tspid=$!
        RUST_LOG=stateright=debug taskset -c "$PIN" "$BIN" check-bfs "$C" > "$out" 2> "$fifo" &
        pid=$!
        rss_kb=0
        while kill -0 "$pid" 2>/dev/null; do
            v=$(awk '/^VmHWM:/{print $2}' "/proc/$pid/status" 2>/dev/null || true)
            [ -n "$v" ] && rss_kb=$v
            sleep 0.01
        done
        set +e; wait "$pid"; rc=$?; wait "$tspid"; set -e
        rm -f "$fifo"
        (( rc == 0 )) || die "paxos check-bfs $C exited with $rc (see $out, $log)"
        note "/usr/bin/time missing: rss is VmHWM polled every 10 ms (may slightly under-read)"
    fi
    t1=$EPOCHREALTIME

    done_line=$(grep -m1 '^Done\. ' "$out") || die "no 'Done.' line in $out"
    states=$(sed -E 's/.*states=([0-9]+).*/\1/' <<< "$done_line")
    unique=$(sed -E 's/.*unique=([0-9]+).*/\1/' <<< "$done_line")
    started=$(grep -c 'Thread started' "$log" || true)
    [ "$started" -eq "$THREADS" ] || die "expected $THREADS checker threads, log shows $started (see $log)"
    grep -q 'Discovered "linearizable"' "$out" && note "WARNING: linearizability violation reported (see $out)"
    grep -q 'Discovered "value chosen"' "$out" || note "WARNING: 'value chosen' was not discovered (see $out)"
    read -r secs rate bps rss_b wall urate < <(awk -v s="$(grep 'Thread started' "$log" | head -n1 | cut -d' ' -f1)" \
        -v e="$(grep 'No more work' "$log" | tail -n1 | cut -d' ' -f1)" \
        -v n="$states" -v u="$unique" -v kb="$rss_kb" -v t0="$t0" -v t1="$t1" \
        'BEGIN { if (s == "" || e == "") { print "ERR"; exit } d = e - s; r = kb * 1024;
                 printf "%.3f %.0f %.0f %.0f %.3f %.0f\n", d, (d > 0 ? n / d : 0), r / u, r, t1 - t0, (d > 0 ? u / d : 0) }')
    [ "$secs" != "ERR" ] || die "could not find checker start/stop log lines in $log"
    note "clients=$C threads=$THREADS process_wall_s=$wall (includes the example's 1 s report polling)"
    echo "stateright paxos clients=$C threads=$THREADS unique=$unique states=$states seconds=$secs rss_bytes=$rss_b bytes_per_state=$bps states_per_s=$rate unique_per_s=$urate"
done
