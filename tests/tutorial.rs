//! docs/tutorial.md, run as written: every `$ faultline ...` line in its `console` blocks is
//! run in one scratch directory, in order, with the real binary. The exit code must be the
//! one the page implies (1 when the output it shows has a `FAIL` line, else 0), and every
//! output line it shows (other than `...`) must appear in the real output, in order. So the
//! lesson cannot drift away from the tool.

use std::path::Path;
use std::process::Command;

/// One command of the page and the output lines shown under it.
struct Step {
    line: usize,
    args: Vec<String>,
    shown: Vec<String>,
}

fn steps(page: &str) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut in_console = false;
    for (i, line) in page.lines().enumerate() {
        let t = line.trim_end();
        if t.starts_with("```") {
            in_console = !in_console && t == "```console";
            continue;
        }
        if !in_console {
            continue;
        }
        if let Some(cmd) = t.strip_prefix("$ ") {
            let words: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
            assert!(
                words
                    .iter()
                    .all(|w| !w.contains(['"', '\'', '|', '>', '<', '&', ';'])),
                "docs/tutorial.md:{}: keep tutorial commands free of shell syntax: {cmd}",
                i + 1
            );
            out.push(Step {
                line: i + 1,
                args: words,
                shown: Vec::new(),
            });
        } else if let Some(step) = out.last_mut() {
            let s = t.trim();
            if !s.is_empty() && s != "..." {
                step.shown.push(s.to_string());
            }
        }
    }
    out
}

#[test]
fn the_tutorial_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(root.join("docs/tutorial.md")).unwrap();
    let steps = steps(&page);
    let run: Vec<&Step> = steps.iter().filter(|s| s.args[0] == "faultline").collect();
    assert!(
        run.len() >= 10,
        "the tutorial has only {} commands",
        run.len()
    );
    let dir = std::env::temp_dir().join(format!("faultline-tutorial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for s in &steps {
        // Other commands (cargo build, opening a page) are the reader's own.
        if s.args[0] != "faultline" {
            continue;
        }
        let o = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(&s.args[1..])
            .current_dir(&dir)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let want = if s.shown.iter().any(|l| l.starts_with("FAIL ")) {
            1
        } else {
            0
        };
        assert_eq!(
            o.status.code(),
            Some(want),
            "docs/tutorial.md:{}: `{}` exited {:?}, the page implies {want}:\n{text}",
            s.line,
            s.args.join(" "),
            o.status.code()
        );
        let mut lines = text.lines();
        for shown in &s.shown {
            assert!(
                lines.any(|l| l.contains(shown.as_str())),
                "docs/tutorial.md:{}: `{}` no longer prints (in this order):\n  {shown}\nit printed:\n{text}",
                s.line,
                s.args.join(" ")
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
