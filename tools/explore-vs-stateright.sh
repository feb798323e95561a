#!/usr/bin/env bash
# The explorer beside stateright, back to back on this machine, single-threaded then with
# two threads for stateright (faultline's explorer is single-threaded): faultline's
# `cargo bench --bench explore`, then stateright 0.31.0's own examples/paxos.rs through
# tools/stateright-peer.sh. docs/scale.md ("Exhaustive exploration") reads the figures.
#
# usage: tools/explore-vs-stateright.sh [WORKDIR]   (default target/stateright-peer)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-target/stateright-peer}
echo "== load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
echo "== faultline explore (cargo bench --bench explore)"
cargo bench --bench explore --locked 2>/dev/null | grep '^faultline'
echo "== stateright 0.31.0 examples/paxos.rs check-bfs, 1 thread"
tools/stateright-peer.sh "$WORK" 1 "2 3"
if [ "$(nproc)" -ge 2 ]; then
  echo "== stateright, 2 threads"
  tools/stateright-peer.sh "$WORK" 2 "3"
fi
