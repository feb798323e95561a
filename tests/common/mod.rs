//! Helpers shared by the integration tests.
#![allow(dead_code)]

use faultline::trace::TraceSink;
use std::cell::RefCell;
use std::rc::Rc;

/// Captures trace lines in memory.
#[derive(Clone, Default)]
pub struct MemSink(pub Rc<RefCell<Vec<String>>>);

impl TraceSink for MemSink {
    fn line(&mut self, line: &str) -> Result<(), String> {
        self.0.borrow_mut().push(line.to_string());
        Ok(())
    }
}

impl MemSink {
    /// Every captured record, parsed.
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.0
            .borrow()
            .iter()
            .map(|l| serde_json::from_str(l).expect("trace lines are JSON"))
            .collect()
    }
}

/// Runs the CLI in-process; returns (exit code, stdout, stderr).
pub fn cli(args: &[&str]) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut argv = vec!["faultline".to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    let code = faultline::cli::main(argv.into_iter().map(Into::into), &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

/// A fresh temporary directory for one test, removed when the guard is dropped at the end
/// of the test (kept if the test fails, to look at). Use it as a `&Path`.
pub fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("faultline-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// A test's directory: see [`temp_dir`].
pub struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TempDir {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

/// A Raft trace in a made-up protocol's words: its role key is `duty` (a `leader` becomes a
/// `chief`, a `candidate` a `hopeful`, a `follower` a `deputy`), its epoch `era`, its leader
/// key `boss`, its progress `settled`, its step-down reason `fenced`; the header's vocabulary
/// says so. The viewer (tests/browser.rs) and the exports (tests/exports.rs) must speak
/// these words from the vocabulary alone.
pub fn in_other_words(trace: &str) -> String {
    let keys = [
        ("role", "duty"),
        ("term", "era"),
        ("leader", "boss"),
        ("commit", "settled"),
        ("stepped_down", "fenced"),
    ];
    let roles = [
        ("leader", "chief"),
        ("candidate", "hopeful"),
        ("follower", "deputy"),
    ];
    let mut out = String::new();
    for (i, line) in trace.lines().enumerate() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        if i == 0 {
            v["vocabulary"] = serde_json::json!({
                "role": "duty", "leading": ["chief"], "contending": ["hopeful"],
                "epoch": "era", "leader": "boss", "progress": ["settled"], "step_down": "fenced",
            });
        } else if v["ev"] == "note" {
            let key = v["key"].as_str().unwrap().to_string();
            if let Some((_, new)) = keys.iter().find(|(old, _)| *old == key) {
                v["key"] = (*new).into();
            }
            if key == "role" {
                let value = v["value"].as_str().unwrap().to_string();
                let (_, new) = roles.iter().find(|(old, _)| *old == value).unwrap();
                v["value"] = (*new).into();
            }
        }
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}

impl From<&TempDir> for std::path::PathBuf {
    fn from(dir: &TempDir) -> Self {
        dir.0.clone()
    }
}

/// The overrides that turn off every bug switch a scenario turns on
/// (`protocol.params.bugs.NAME=false`), in the order the file lists them.
pub fn switches_off(doc: &faultline::scenario::Document) -> Vec<String> {
    doc.file.protocol.params["bugs"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, on)| on.as_bool() == Some(true))
        .map(|(k, _)| format!("protocol.params.bugs.{k}=false"))
        .collect()
}
