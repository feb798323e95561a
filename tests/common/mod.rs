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

/// A fresh temporary directory for one test.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
