#!/usr/bin/env bash
# Regenerates the tutorial's screenshots (docs/img/tutorial-*.png) from the tool itself: the
# runs the tutorial shows, their pages from `faultline view`, and tests/browser/shoot.mjs at
# the moments each lesson talks about. Needs /usr/bin/chromium, node and
# `npm ci --prefix tests/browser`.
#
#   tools/tutorial-shots.sh            # writes docs/img/tutorial-*.png
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
bin=target/release/faultline
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
shot() { # NAME RUN-ARGS... -- FROM_MS TO_MS [AT]
  local name=$1; shift
  local args=()
  while [ "$1" != "--" ]; do args+=("$1"); shift; done
  shift
  "$bin" run "${args[@]}" --view "$work/$name.html" -q >/dev/null || true
  node tests/browser/shoot.mjs "$work/$name.html" "docs/img/tutorial-$name.png" "$@"
  echo "docs/img/tutorial-$name.png"
}
# Lesson 1: the first election (n2 leads term 1 at 158.9 ms).
shot election raft/first-election -- 140 230 158.9
# Lesson 2: the leader crashes at 1 s and a new one is elected.
shot crash raft/leader-crash -- 950 1300 1000
# Lesson 3: the partial partition without pre-vote: the leader steps down at 1.2 s.
shot partition raft/partial-partition --set protocol.params.pre_vote=false -- 950 1500 1200
# Lesson 4: Figure 8 with the bug on, at the violation.
shot figure8 raft/figure-8 --set protocol.params.bugs.commit_old_terms=true -- 1900 3800 violation
