#!/usr/bin/env python3
"""Prints outputs.txt for tests/tool_outputs.rs: the FNV-1a hash and length of what each trace
tool writes for each trace the test makes, using the faultline binary given (run from the crate
root). Usage: tests/golden/tools/hash-outputs.py FAULTLINE > tests/golden/tools/outputs.txt"""
import os, re, subprocess, sys, tempfile

# Keep in step with TRACES and TOOLS in tests/tool_outputs.rs.
TRACES = [
    ("raft-leader-crash", ["raft/leader-crash", "--set", "limits.time_ms=3200"]),
    ("raft-first-election", ["raft/first-election"]),
    ("abd-bug-skip-sync", ["abd/bug-skip-sync"]),
    ("fd-pause-and-drift", ["fd/pause-and-drift"]),
    ("ping-bridge-and-one-way", ["ping/bridge-and-one-way"]),
]
CUT = ("raft-leader-crash-cut", "raft-leader-crash", 3000)
TOOLS = ["view", "perfetto", "shiviz", "jepsen", "explain"]


def fnv1a(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def pin_header(path):
    """The header names the binary that wrote the trace; the page embeds the header, so the
    version and commit are pinned (as tests/tool_outputs.rs does)."""
    with open(path) as f:
        lines = f.readlines()
    head = re.sub(r'"version":"[^"]*"', '"version":"0"', lines[0], count=1)
    lines[0] = re.sub(r'"git_commit":(null|"[0-9a-f]*")', '"git_commit":null', head, count=1)
    with open(path, "w") as f:
        f.writelines(lines)


def main():
    binary = sys.argv[1]
    d = tempfile.mkdtemp()
    print("# TRACE TOOL FNV1A-64 LENGTH, from tests/golden/tools/hash-outputs.py")
    traces = []
    for name, args in TRACES:
        path = os.path.join(d, name + ".jsonl")
        subprocess.run([binary, "run", *args, "--trace", path, "-q"], stdout=subprocess.DEVNULL)
        pin_header(path)
        traces.append((name, path))
    name, of, lines = CUT
    cut = os.path.join(d, name + ".jsonl")
    with open(os.path.join(d, of + ".jsonl")) as f, open(cut, "w") as g:
        g.writelines(f.readlines()[:lines])
    traces.append((name, cut))
    for name, path in traces:
        for tool in TOOLS:
            out = os.path.join(d, "out")
            if tool == "view":
                args = ["view", path, "-o", out]
            elif tool == "explain":
                args = ["explain", path]
            else:
                args = ["export", path, "--format", tool, "-o", out]
            r = subprocess.run([binary, *args], capture_output=True)
            if r.returncode != 0:
                continue  # the test lists only what the tool accepts
            data = r.stdout.replace(path.encode(), b"TRACE") if tool == "explain" else open(out, "rb").read()
            print(f"{name} {tool} {fnv1a(data):016x} {len(data)}")


main()
