#!/usr/bin/env bash
# Checks the generated hard histories with Porcupine, on the same files faultline checks.
#
#   cargo bench --bench lin_hard            # writes target/lin-hard/*.log, *.edn, EXPECTED.txt
#   tools/porcupine-compare.sh [--timeout 60s]
#
# Builds tools/porcupine-compare (our Go program) against Porcupine's source, from
# $PORCUPINE_SRC (a checkout) or else the commit pinned below taken from a local mirror or
# cloned from GitHub. Without `go` it says so and exits 0: nothing in CI depends on Go.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
commit=55508eb201b314c218d7e8412c3ea4b9499a5f53
dir="${FAULTLINE_LIN_HARD_DIR:-$here/target/lin-hard}"

if ! command -v go >/dev/null 2>&1; then
    echo "porcupine-compare: skipped, no 'go' on PATH (Porcupine is a Go library)"
    exit 0
fi
if [ ! -f "$dir/EXPECTED.txt" ]; then
    echo "porcupine-compare: no $dir/EXPECTED.txt; run 'cargo bench --bench lin_hard' first" >&2
    exit 2
fi

work="$here/target/porcupine-compare"
mkdir -p "$work"
src="${PORCUPINE_SRC:-}"
if [ -z "$src" ]; then
    src="$work/porcupine-$commit"
    if [ ! -f "$src/go.mod" ]; then
        rm -rf "$src" && mkdir -p "$src"
        mirror=/work/.mirror/anishathalye+porcupine/repo
        if [ -d "$mirror" ]; then
            git -C "$mirror" archive "$commit" | tar -x -C "$src"
        else
            git clone --quiet https://github.com/anishathalye/porcupine "$src"
            git -C "$src" checkout --quiet "$commit"
        fi
    fi
fi

build="$work/build"
rm -rf "$build" && mkdir -p "$build"
cp "$here/tools/porcupine-compare/main.go" "$build/"
cat > "$build/go.mod" <<MOD
module faultline/porcupine-compare

go 1.16

require github.com/anishathalye/porcupine v0.0.0

replace github.com/anishathalye/porcupine => $src
MOD
(cd "$build" && GOFLAGS=-mod=mod go build -o "$work/porcupine-compare" .)
"$work/porcupine-compare" -dir "$dir" "$@"
