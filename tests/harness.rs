//! The test harness end to end: a failing seed's trace replays with the command line, the
//! CLI command in the failure line reruns the same run, and the README's harness code is the
//! example's real code.

mod common;

use common::{cli, temp_dir};
use faultline::harness::{Harness, Knobs};
use faultline::protocols::ping::Ping;

#[test]
fn a_failing_seed_replays_with_the_cli() {
    let dir = temp_dir("harness-replay");
    let failure = Harness::<Ping>::new("ping_boot_sync")
        .bundled("ping/bug-skip-boot-sync")
        .set("network.long_delay.ratio=0.3")
        .seeds(10)
        .knobs(Knobs::default())
        .trace_dir(&dir)
        .run()
        .unwrap_err();
    let seed = failure.seed.unwrap();
    let trace = dir.join(format!("ping_boot_sync-seed{seed}.jsonl"));
    assert_eq!(failure.traces, vec![trace.clone()]);
    let trace = trace.to_str().unwrap();

    // The trace is one `faultline replay` accepts, record by record and in its summary.
    let (code, out, err) = cli(&["replay", trace]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("IDENTICAL: "), "{out}");
    assert!(out.contains("the run ends FAIL pong_matches_ping"), "{out}");

    // The line's CLI command is the same run.
    let (_, cli_part) = failure.line.split_once(" | cli: ").unwrap();
    let (command, _) = cli_part.split_once(" | trace: ").unwrap();
    assert_eq!(
        command,
        format!(
            "faultline run ping/bug-skip-boot-sync --seed {seed} --set network.long_delay.ratio=0.3"
        )
    );
    let args: Vec<&str> = command
        .split_whitespace()
        .skip(1)
        .chain(["--json"])
        .collect();
    let (code, out, _) = cli(&args);
    assert_eq!(code, 1);
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    let report = failure.report.unwrap();
    assert_eq!(
        summary["fingerprint"],
        faultline::trace::fingerprint_hex(report.fingerprint)
    );

    // `trace show` reads it.
    let (code, out, err) = cli(&["trace", "show", trace]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pong_matches_ping"), "{out}");
}

/// The rust block of the README's "Testing your own protocol" section, line by line
/// (indentation aside), is a run of lines of examples/gcounter.rs.
#[test]
fn the_readme_shows_the_example_code() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("examples/gcounter.rs")).unwrap();
    let section = readme
        .split("\n## Testing your own protocol\n")
        .nth(1)
        .expect("the README has the section");
    let block = section
        .split("```rust\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("the section has a rust block");
    let want: Vec<&str> = block.lines().map(str::trim).collect();
    let have: Vec<&str> = example.lines().map(str::trim).collect();
    assert!(want.len() > 10);
    let mut rest = &want[..];
    // Blocks of consecutive lines separated by `// ...` elisions in the README.
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|l| *l == "// ...")
            .unwrap_or(rest.len());
        let chunk = &rest[..end];
        assert!(
            chunk.is_empty() || have.windows(chunk.len()).any(|w| w == chunk),
            "README lines not found in examples/gcounter.rs:\n{}",
            chunk.join("\n")
        );
        rest = &rest[(end + 1).min(rest.len())..];
    }
}

#[test]
fn a_test_directory_goes_when_its_test_ends() {
    let path = {
        let dir = temp_dir("harness-guard");
        std::fs::write(dir.join("t.jsonl"), "x").unwrap();
        dir.to_path_buf()
    };
    assert!(!path.exists(), "{} is left behind", path.display());
}
