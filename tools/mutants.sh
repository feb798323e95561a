#!/usr/bin/env bash
# Mutation testing as a routine (docs/scale.md, "Mutation testing").
#
#   tools/mutants.sh TARGET [--shard K/N] [--seeds N] [--seconds S] [--timeout S] [--out DIR] [--iterate]
#   tools/mutants.sh --report TARGET DIR...      (a report from finished runs, e.g. shards)
#
# TARGET is a protocol (ping, fd, raft, abd, paxos, multipaxos, pb, lease, twopc, saga, paxoscommit, dynamo, gossip, lamport, wal), `reliable` (src/kit/reliable/, judged by the
# fd scenarios, its only user) or `kit` (the rest of src/kit, judged by every protocol's).
# cargo-mutants mutates the target's files; each mutant is judged only by the sweep in
# tests/mutants.rs (unit tests never run), with N seeds (default 2000) and a cap of S seconds
# (default 120) per mutant; --timeout (default: twice the cap plus 60 s) is cargo-mutants' own
# limit per command, which is what stops a mutant that loops inside one step (the cap is
# looked at only between chunks of seeds).
# The mutants listed in mutants/equivalent.txt are not run again: the report counts them as
# equivalent, with the argument written there. The checks (checks.rs) and unit tests
# (tests.rs) are not mutated: a sweep of a correct protocol cannot tell a weakened oracle
# from a sound one; the bug switches and the hunt table test the oracles. For the same reason
# neither are the Protocol trait's declarations for the checks and the swarm, wherever they
# are written (ORACLE_FNS below: properties, metrics, knobs, liveness, vocabulary, the
# history check's mapping, record_bytes, check_config: what a scenario may ask, checked at
# load, which no run of a valid scenario exercises), nor the workload generators (the test's input).
#
# --iterate runs again only what the last run in DIR did not kill (cargo-mutants' own
# --iterate: caught and unviable mutants are kept from the last run), for after a check or
# scenario change meant to kill survivors.
#
# Output: DIR/mutants.out (cargo-mutants' own: caught.txt, missed.txt, timeout.txt,
# unviable.txt, logs/) and DIR/report.md. DIR defaults to target/mutants-runs/TARGET[-K-of-N].
set -euo pipefail
cd "$(dirname "$0")/.."

# The Protocol trait's functions that declare the oracle and the test's configuration rather
# than what a node does, and the workload generators (`impl Generator<P> for G`: which
# requests the test's clients make, the test's input, not the protocol) (cargo-mutants'
# --exclude-re, matched against the mutant's name).
ORACLE_FNS='(<impl Protocol for [A-Za-z]+>::(properties|metrics|knobs|liveness|vocabulary|history_check|history_call|history_value|record_bytes|check_config)|<impl Generator<[A-Za-z]+> for [A-Za-z]+>::[a-z_]+)( |$)'

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

files_of() {
    case "$1" in
        ping | fd | raft | abd | paxos | multipaxos | pb | lease | twopc | saga | paxoscommit | dynamo | gossip | lamport | wal) echo "src/protocols/$1/*.rs" ;;
        reliable) echo "src/kit/reliable/*.rs" ;;
        kit) echo "src/kit/*.rs src/kit/**/*.rs" ;;
        *) echo "unknown target '$1': expected ping, fd, raft, abd, paxos, multipaxos, pb, lease, twopc, saga, paxoscommit, dynamo, gossip, lamport, wal, reliable or kit" >&2; exit 2 ;;
    esac
}

test_of() {
    case "$1" in
        reliable) echo fd ;;
        kit) echo every_protocol ;;
        *) echo "$1" ;;
    esac
}

# The equivalent verdicts as "name<TAB>argument" lines, the name without line:column (or
# with it, for one of several mutants that share a name).
# File format: a line `- FILE: DESCRIPTION` (or `- FILE:LINE:COL: DESCRIPTION`) starts an
# entry, indented lines after it are its argument; `#` lines are comments.
verdicts() {
    awk '
        /^#/ { next }
        /^- / { if (name != "") print name "\t" why; name = substr($0, 3); why = ""; next }
        /^[ \t]+[^ \t]/ { sub(/^[ \t]+/, ""); why = (why == "" ? $0 : why " " $0); next }
        END { if (name != "") print name "\t" why }
    ' mutants/equivalent.txt
}

# Strips ":LINE:COL" after the file name of cargo-mutants' mutant names.
unlined() { sed -E 's/^([^:]+):[0-9]+:[0-9]+: /\1: /'; }

report() {
    local target="$1"; shift
    local dirs=("$@") out="${dirs[0]}/report.md"
    # (Runs from before ORACLE_FNS was excluded may list such mutants: they count nowhere.)
    # A run with --iterate keeps what earlier runs in its directory killed or found unviable in
    # DIR/carried/ (cargo-mutants itself lists them only as "previously caught").
    # Only the mutants the target's files have now count (with their line and column): an
    # earlier run's kill of a mutant that has since moved or gone is not counted twice.
    local files current
    files=$(files_of "$target")
    current=$(eval cargo mutants --list $(for f in $files; do printf -- "-f '%s' " "$f"; done) \
        -e "'src/protocols/*/checks.rs'" -e "'src/protocols/*/tests.rs'" -e "'src/kit/*/checks.rs'" --exclude-re "'$ORACLE_FNS'" 2>/dev/null | sort -u)
    cat_all() {
        for d in "${dirs[@]}"; do
            cat "$d/mutants.out/$1" "$d/carried/$1" 2>/dev/null || true
        done | { grep -Ev "$ORACLE_FNS" || true; } | sort -u | comm -12 - <(echo "$current")
    }
    local caught missed timeout unviable equivalent known
    # Verdicts apply by name without line:column, or by the whole name where the verdict
    # gives line and column; a survivor with a verdict is equivalent.
    known=$(verdicts | cut -f1 | sort -u)
    # (grep reads all its input: with -q it could stop early, and pipefail would then turn
    # the writer's broken pipe into a miss.)
    has_verdict() { { printf '%s\n' "$1"; printf '%s\n' "$1" | unlined; } | grep -xF -f <(echo "$known") >/dev/null; }
    caught=$(cat_all caught.txt | grep -c . || true)
    timeout=$(cat_all timeout.txt | grep -c . || true)
    unviable=$(cat_all unviable.txt | grep -c . || true)
    local survivors
    survivors=$(cat_all missed.txt | while IFS= read -r m; do
        has_verdict "$m" || echo "$m"
    done | sort -t: -k1,1 -k2,2n)
    missed=$(echo "$survivors" | grep -c . || true)
    # The equivalent mutants of this target's files that cargo-mutants generates and that
    # build (a verdict on an unviable mutant counts as unviable).
    equivalent=$(echo "$current" | while IFS= read -r m; do
        [ -n "$m" ] && has_verdict "$m" && echo "$m"
    done | sort -u | comm -23 - <(cat_all unviable.txt) | grep -c . || true)
    local killed=$((caught + timeout))
    local judged=$((killed + missed))
    local with without
    with=$(awk -v k=$killed -v n=$judged 'BEGIN { printf n ? "%.1f%%" : "-", 100 * k / (n ? n : 1) }')
    without=$(awk -v k=$killed -v n=$((judged + equivalent)) 'BEGIN { printf n ? "%.1f%%" : "-", 100 * k / (n ? n : 1) }')
    {
        echo "# Mutation report: $target"
        echo
        echo "Runs: ${dirs[*]}"
        for d in "${dirs[@]}"; do [ -f "$d/budget" ] && echo "Budget ($d): $(cat "$d/budget")"; done
        echo
        echo "| killed | timed out | survived | equivalent | unviable | score | score counting equivalents as survivors |"
        echo "|---|---|---|---|---|---|---|"
        echo "| $caught | $timeout | $missed | $equivalent | $unviable | $with | $without |"
        echo
        echo "Score: (killed + timed out) / (killed + timed out + survived), equivalent mutants left out;"
        echo "the last column counts them as survivors. Unviable mutants do not build and count nowhere."
        echo
        echo "## Survivors"
        echo
        echo "$survivors" | grep . | sed 's/^/- /' || true
        echo
        echo "## Timed out"
        echo
        cat_all timeout.txt | sort -t: -k1,1 -k2,2n | sed 's/^/- /'
    } >"$out"
    cat "$out"
}

if [ "${1:-}" = "--report" ]; then
    shift
    [ $# -ge 2 ] || usage
    target="$1"; shift
    report "$target" "$@"
    exit 0
fi

[ $# -ge 1 ] || usage
target="$1"; shift
shard="" seeds=2000 seconds=120 timeout="" out="" iterate=""
while [ $# -gt 0 ]; do
    case "$1" in
        --shard) shard="$2"; shift 2 ;;
        --seeds) seeds="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --timeout) timeout="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --iterate) iterate=1; shift ;;
        *) usage ;;
    esac
done
timeout=${timeout:-$((2 * seconds + 60))}
files=$(files_of "$target")
tname=$(test_of "$target")
if [ -z "$out" ]; then
    out="target/mutants-runs/$target${shard:+-${shard/\//-of-}}"
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ -n "$iterate" ]; then
    # Carry the last run's kills and unviable mutants over, since --iterate does not run them
    # again and cargo-mutants moves the last run's lists aside.
    mkdir -p "$out/carried"
    for f in caught.txt unviable.txt timeout.txt; do
        cat "$out/carried/$f" "$out/mutants.out/$f" 2>/dev/null | sort -u >"$out/carried/$f.new" || true
        mv "$out/carried/$f.new" "$out/carried/$f"
    done
    echo "$seeds seeds, ${seconds} s cap per mutant, cargo-mutants timeout ${timeout} s${shard:+, shard $shard}, iterating" >>"$out/budget"
else
    rm -rf "$out/carried"
    echo "$seeds seeds, ${seconds} s cap per mutant, cargo-mutants timeout ${timeout} s${shard:+, shard $shard}" >"$out/budget"
fi

# Mutants are built in a scratch copy of the tree that is kept between runs, one per target
# (target/mutants-scratch/TARGET, with its own target/, so runs of two targets may go at once),
# so only the first run builds everything and every later run and mutant is an incremental
# build. cargo-mutants restores each file after its mutant; the copy is brought up to date
# with the tree before every run.
scratch=target/mutants-scratch/$target
mkdir -p "$scratch"
# Only files whose content differs are copied, with a fresh modification time, so cargo
# rebuilds exactly what changed (also a file left mutated by an interrupted run).
git ls-files -co --exclude-standard | while IFS= read -r f; do
    cmp -s "$f" "$scratch/$f" 2>/dev/null || { mkdir -p "$scratch/$(dirname "$f")"; cp "$f" "$scratch/$f"; }
done
# Files the tree no longer has (moved or deleted) leave the copy too: a module moved from
# kit/reliable.rs to kit/reliable/mod.rs must not be found twice.
(cd "$scratch" && find . -path ./target -prune -o -type f -print | sed 's|^\./||' | sort) |
    comm -23 - <(git ls-files -co --exclude-standard | sort) |
    while IFS= read -r f; do rm -f "$scratch/$f"; done
args=(--in-place --dir "$scratch" --profile mutants --test-tool cargo --timeout "$timeout" --build-timeout 900
    --cargo-arg=--test=mutants --output "$out" --no-shuffle -e 'src/protocols/*/checks.rs' -e 'src/protocols/*/tests.rs' -e 'src/kit/*/checks.rs'
    --exclude-re "$ORACLE_FNS")
for f in $files; do args+=(-f "$f"); done
[ -n "$shard" ] && args+=(--shard "$shard")
[ -n "$iterate" ] && args+=(--iterate)
# Mutants with an equivalent verdict are not run again.
while IFS=$'\t' read -r name _; do
    [ -n "$name" ] || continue
    file="${name%%: *}" desc="${name#*: }" at='[0-9]+:[0-9]+'
    # A verdict that gives line and column (FILE:LINE:COL) names one mutant only.
    if [[ "$file" =~ ^(.*):([0-9]+):([0-9]+)$ ]]; then
        file="${BASH_REMATCH[1]}" at="${BASH_REMATCH[2]}:${BASH_REMATCH[3]}"
    fi
    esc=$(printf '%s' "$desc" | sed -E 's/[][\.^$*+?(){}|\\/]/\\&/g')
    args+=(-E "^${file//./\\.}:${at}: ${esc}\$")
done < <(verdicts)

export FAULTLINE_MUTANTS_SEEDS="$seeds" FAULTLINE_MUTANTS_SECONDS="$seconds"
status=0
cargo mutants "${args[@]}" -- -- --ignored --exact "$tname" || status=$?
# cargo-mutants exits 2 when mutants survived and 3 when some timed out: the report says which.
case $status in 0 | 2 | 3) ;; *) echo "cargo-mutants failed (exit $status)" >&2; exit "$status" ;; esac
report "$target" "$out"
