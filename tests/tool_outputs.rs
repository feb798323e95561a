//! The tools that read a trace write exactly what they wrote before they learned to read big
//! traces compactly: `view`, `export --format perfetto|shiviz|jepsen` and `explain`, run on
//! traces of bundled scenarios (and one cut short, as a killed run leaves it), must produce
//! the bytes whose FNV-1a hashes tests/golden/tools/outputs.txt lists. The hashes were taken
//! by tests/golden/tools/hash-outputs.py (which makes the same traces and runs the same
//! commands) with the faultline of commit 02f83ac, before the compact reading; every row but
//! Perfetto's is also what commit 7122f31 wrote (02f83ac changed the Perfetto export itself).
//! Two `view` rows (raft-leader-crash, fd-pause-and-drift) moved with the scenariolang branch:
//! the summary the page embeds says `held at the heal, T (already true then; ...)` for an
//! eventually-check that held at the heal's step, where it said `held at T`; nothing else.
//! Two `view` rows moved when protocols gained metrics the page's summary embeds:
//! abd-bug-skip-sync (61 bytes: `abd.syncs_per_op`, `abd.writes_per_op`) and
//! fd-pause-and-drift (106 bytes: the four `delivery.*` counters); nothing else.
//! Every `view` row moved with issue 19's viewer (state panel, log grid, timers, cluster view,
//! filters, embedding): the page's template, script and style changed, and its data's `evs`
//! list gained `state`, `armed` and `disarmed`. Nothing else in the data did: each new page's
//! data block, with the old `evs` list put back and filled into the template, script and style
//! of commit bb242b7, hashes to the old row.
//! The five whole-trace `view` rows moved again when the engine began writing display
//! records (`state`, `armed`, `disarmed`: issue 19's published state) into traces: the pages
//! carry them. Every other row is unchanged: the exports and `explain` skip display records,
//! and the cut trace is cut from the trace without them, as it was before they existed.
//! Issue 20 moved two groups of rows. Every `view` row: the cluster view's script names the
//! ends of a message dot `p0` and `p1` where it said `pa` and `pb` (the architecture test
//! reads `pb` as the protocol's name); same length, nothing else. The four
//! abd-bug-skip-sync rows but Jepsen's: an ABD tag's writer is now the writing client's id,
//! not the request id, so every tag in the messages is shorter (`33/1` where `33/26` was);
//! the Jepsen export carries only the client operations, which did not change.
//! `explain` names its trace in what it suggests; the path is replaced by `TRACE`.
//! Issue 23 moved every `view` and `perfetto` row, nothing else. Both carry the vocabulary,
//! which gained `serves` (what "serves again" means for the recovery metrics: 19 bytes
//! `"serves":["reply"],` for ping, fd and ABD, 41 for Raft's reply-or-commit); the page also
//! carries the summary, which gained the `recovery.*` metrics, and the viewer's script words
//! a failed sync (`# sync FAILED, N ops lost`, 55 bytes more).
//! Issue 24 moved three `view` rows, nothing else: the summary the page embeds counts the
//! property evaluations of the run (`checks_evaluated`), and checks that read only the nodes a
//! step touched are no longer evaluated on steps that touched only a client
//! (raft-first-election 102620 to 86474, one byte shorter; abd-bug-skip-sync 16003 to 13636;
//! raft-leader-crash, same length). Every other field of every record is unchanged.
//!
//! On a difference the test writes what it got into its temporary directory and names the
//! files, so they can be compared with the old binary's output.

mod common;

use common::{cli, temp_dir};
use std::path::Path;

const DIR: &str = "tests/golden/tools";

/// The traces: a name and the `run` arguments that make it (as in hash-outputs.py).
const TRACES: [(&str, &[&str]); 5] = [
    (
        "raft-leader-crash",
        &["raft/leader-crash", "--set", "limits.time_ms=3200"],
    ),
    ("raft-first-election", &["raft/first-election"]),
    ("abd-bug-skip-sync", &["abd/bug-skip-sync"]),
    ("fd-pause-and-drift", &["fd/pause-and-drift"]),
    ("ping-bridge-and-one-way", &["ping/bridge-and-one-way"]),
];

/// A trace cut short (no summary): its name, the trace it is cut from, and the lines kept.
const CUT: (&str, &str, usize) = ("raft-leader-crash-cut", "raft-leader-crash", 3000);

/// 64-bit FNV-1a, as outputs.txt records it.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `text`'s first `"KEY":VALUE` (a string or null) with VALUE replaced by `with`.
fn pin(text: &str, key: &str, with: &str) -> String {
    let at = format!("\"{key}\":");
    let Some(start) = text.find(&at).map(|i| i + at.len()) else {
        return text.to_string();
    };
    let rest = &text[start..];
    let len = if rest.starts_with("null") {
        4
    } else {
        rest[1..].find('"').expect("a closing quote") + 2
    };
    format!("{}{with}{}", &text[..start], &rest[len..])
}

/// The header names the binary that wrote the trace, and the page embeds the header: its
/// version and commit are pinned (as hash-outputs.py does).
fn pin_header(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let (head, rest) = text.split_once('\n').unwrap();
    let head = pin(&pin(head, "version", "\"0\""), "git_commit", "null");
    std::fs::write(path, format!("{head}\n{rest}")).unwrap();
}

/// What `tool` writes for `trace`: the page or export file, or `explain`'s standard output
/// with the trace's path replaced by `TRACE`.
fn output(tool: &str, trace: &str, dir: &Path) -> Vec<u8> {
    let file = dir.join("out");
    let _ = std::fs::remove_file(&file);
    let args: Vec<&str> = match tool {
        "view" => vec!["view", trace, "-o", file.to_str().unwrap()],
        "explain" => vec!["explain", trace],
        format => vec![
            "export",
            trace,
            "--format",
            format,
            "-o",
            file.to_str().unwrap(),
        ],
    };
    let (code, out, err) = cli(&args);
    assert_eq!(code, 0, "{tool} {trace}: {out}{err}");
    if tool == "explain" {
        out.replace(trace, "TRACE").into_bytes()
    } else {
        std::fs::read(&file).unwrap()
    }
}

#[test]
fn every_tool_writes_the_same_bytes_as_before() {
    let dir = temp_dir("tool-outputs");
    let listed = std::fs::read_to_string(Path::new(DIR).join("outputs.txt")).unwrap();
    for (name, args) in TRACES {
        let path = dir.join(format!("{name}.jsonl"));
        let mut run = vec!["run"];
        run.extend_from_slice(args);
        run.extend_from_slice(&["--trace", path.to_str().unwrap(), "-q"]);
        let (code, out, err) = cli(&run);
        assert!(code == 0 || code == 1, "{name}: {out}{err}");
        pin_header(&path);
    }
    let (name, of, lines) = CUT;
    let whole = std::fs::read_to_string(dir.join(format!("{of}.jsonl"))).unwrap();
    // Cut as before display records existed: the first lines of the trace without them.
    let cut: String = whole
        .split_inclusive('\n')
        .filter(|l| !faultline::trace::is_display_line(l))
        .take(lines)
        .collect();
    std::fs::write(dir.join(format!("{name}.jsonl")), cut).unwrap();
    let mut checked = 0;
    let mut differ = Vec::new();
    for line in listed
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let [trace, tool, hash, len] = line.split_whitespace().collect::<Vec<_>>()[..] else {
            panic!("outputs.txt: expected TRACE TOOL HASH LENGTH, got {line:?}");
        };
        let path = dir.join(format!("{trace}.jsonl"));
        let got = output(tool, path.to_str().unwrap(), &dir);
        let (hash, len): (u64, usize) =
            (u64::from_str_radix(hash, 16).unwrap(), len.parse().unwrap());
        if (fnv1a(&got), got.len()) != (hash, len) {
            let name = format!("{trace}.{tool}");
            std::fs::write(dir.join(&name), &got).unwrap();
            differ.push(format!(
                "{tool} {trace}: {} bytes, expected {len} (written to {})",
                got.len(),
                dir.join(&name).display()
            ));
        }
        checked += 1;
    }
    assert!(checked >= 30, "outputs.txt lists only {checked} outputs");
    assert!(differ.is_empty(), "outputs changed:\n{}", differ.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}
