//! Trace files: a trace written to `PATH.partial` and renamed to `PATH` once its summary is
//! in, so a file under its own name is always complete. The command line (`run --trace`,
//! and every other file it writes) and the test harness (a failing seed's trace) write
//! through this one writer: the header line first ([`header`](super::header)), then the
//! records as the engine sends them, then the summary ([`summary_line`]).
//!
//! Besides the command line and the harness, the one module that writes files; it reads
//! none, never prints, and does not import the engine (the summary takes any serializable
//! report).

use super::{TraceSink, fingerprint_hex};
use serde::Serialize;
use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A file written line by line to a `.partial` name and moved to its own name once
/// complete.
pub struct PartialFile {
    writer: BufWriter<File>,
    partial: PathBuf,
    path: PathBuf,
}

impl PartialFile {
    /// Starts `path`, writing to `PATH.partial`. The directory must exist.
    pub fn create(path: &Path) -> Result<PartialFile, String> {
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        PartialFile::open(path, PathBuf::from(partial))
    }

    /// Starts `path`, writing to `PATH.<pid>.partial` and creating missing directories: for
    /// a writer that may race another process for the same name (two test runs at once),
    /// each with its own partial file, the last rename winning with a complete file.
    pub fn create_private(path: &Path) -> Result<PartialFile, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let mut partial = path.as_os_str().to_owned();
        partial.push(format!(".{}.partial", std::process::id()));
        PartialFile::open(path, PathBuf::from(partial))
    }

    fn open(path: &Path, partial: PathBuf) -> Result<PartialFile, String> {
        let file = File::create(&partial)
            .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
        Ok(PartialFile {
            writer: BufWriter::with_capacity(1 << 16, file),
            partial,
            path: path.to_path_buf(),
        })
    }

    /// Writes one line (the newline is added).
    pub fn line(&mut self, line: &str) -> Result<(), String> {
        self.writer
            .write_all(line.as_bytes())
            .and_then(|_| self.writer.write_all(b"\n"))
            .map_err(|e| format!("cannot write {}: {e}", self.partial.display()))
    }

    /// Flushes and moves the complete file into place.
    pub fn finish(mut self) -> Result<(), String> {
        self.writer
            .flush()
            .map_err(|e| format!("cannot write {}: {e}", self.partial.display()))?;
        std::fs::rename(&self.partial, &self.path)
            .map_err(|e| format!("cannot rename to {}: {e}", self.path.display()))
    }

    /// Gives up on an unfinished file (best effort: it is only a `.partial` file).
    pub fn discard(self) {
        let PartialFile {
            writer, partial, ..
        } = self;
        drop(writer);
        let _ = std::fs::remove_file(&partial);
    }
}

impl TraceSink for PartialFile {
    fn line(&mut self, line: &str) -> Result<(), String> {
        PartialFile::line(self, line)
    }
}

/// Writes `text` to `path` through `PATH.partial`, one line at a time (each ends with a
/// newline), so a file under its own name is complete.
pub fn write_whole(path: &Path, text: &str) -> Result<(), String> {
    let mut file = PartialFile::create(path)?;
    for line in text.lines() {
        file.line(line)?;
    }
    file.finish()
}

/// The summary that ends a trace (and that `run --json` prints): the report's fields, then
/// its fingerprint in hex and the line that reproduces the run.
pub fn summary(report: &impl Serialize, fingerprint: u64, reproduce: &str) -> serde_json::Value {
    let mut v = serde_json::to_value(report).expect("reports serialize");
    let obj = v.as_object_mut().expect("a report serializes as an object");
    obj.insert("fingerprint".into(), fingerprint_hex(fingerprint).into());
    obj.insert("reproduce".into(), reproduce.into());
    v
}

/// The summary as the trace's last line: [`summary`] marked `"ev": "summary"`.
pub fn summary_line(report: &impl Serialize, fingerprint: u64, reproduce: &str) -> String {
    let mut v = summary(report, fingerprint, reproduce);
    v.as_object_mut()
        .expect("a summary is an object")
        .insert("ev".into(), "summary".into());
    v.to_string()
}

/// A trace file being written. The header goes in when it is created; the engine writes the
/// records through [`TraceFile::sink`] (it owns its sink, so the file is shared with it);
/// [`TraceFile::finish`] writes the summary and moves the file into place.
pub struct TraceFile(Rc<RefCell<Option<PartialFile>>>);

impl TraceFile {
    /// Starts the trace `path` (through `PATH.partial`) with its `header` line.
    pub fn create(path: &Path, header: &str) -> Result<TraceFile, String> {
        TraceFile::start(PartialFile::create(path)?, header)
    }

    /// Like [`TraceFile::create`], through [`PartialFile::create_private`].
    pub fn create_private(path: &Path, header: &str) -> Result<TraceFile, String> {
        TraceFile::start(PartialFile::create_private(path)?, header)
    }

    fn start(mut file: PartialFile, header: &str) -> Result<TraceFile, String> {
        if let Err(e) = file.line(header) {
            file.discard();
            return Err(e);
        }
        Ok(TraceFile(Rc::new(RefCell::new(Some(file)))))
    }

    /// A sink that writes records into this file, for the engine.
    pub fn sink(&self) -> Box<dyn TraceSink> {
        Box::new(Shared(self.0.clone()))
    }

    /// Writes the summary line (see [`summary_line`]) and moves the complete trace into
    /// place.
    pub fn finish(self, summary_line: &str) -> Result<(), String> {
        let mut file = self
            .0
            .borrow_mut()
            .take()
            .ok_or("the trace was already closed")?;
        file.line(summary_line)?;
        file.finish()
    }

    /// Gives up on the trace: its partial file is removed.
    pub fn discard(self) {
        if let Some(file) = self.0.borrow_mut().take() {
            file.discard();
        }
    }
}

/// The engine's handle on a [`TraceFile`].
struct Shared(Rc<RefCell<Option<PartialFile>>>);

impl TraceSink for Shared {
    fn line(&mut self, line: &str) -> Result<(), String> {
        match self.0.borrow_mut().as_mut() {
            Some(file) => file.line(line),
            None => Err("the trace was already closed".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "faultline-trace-file-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[derive(Serialize)]
    struct Report {
        steps: u64,
    }

    #[test]
    fn a_trace_appears_under_its_name_only_when_complete() {
        let dir = temp("complete");
        let path = dir.join("sub/t.jsonl");
        let trace = TraceFile::create_private(&path, "{\"ev\":\"header\"}").unwrap();
        let mut sink = trace.sink();
        sink.line("{\"ev\":\"deliver\"}").unwrap();
        assert!(!path.exists(), "nothing under the name before the summary");
        assert_eq!(
            names(&dir.join("sub")),
            vec![format!("t.jsonl.{}.partial", std::process::id())]
        );
        trace
            .finish(&summary_line(&Report { steps: 3 }, 255, "faultline run x"))
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"ev\":\"header\"}\n{\"ev\":\"deliver\"}\n\
             {\"steps\":3,\"fingerprint\":\"00000000000000ff\",\"reproduce\":\"faultline run x\",\"ev\":\"summary\"}\n"
        );
        assert_eq!(names(&dir.join("sub")), vec!["t.jsonl"]);
        assert!(
            sink.line("late").unwrap_err().contains("closed"),
            "the engine's handle is closed with the file"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_discarded_trace_leaves_nothing_and_a_missing_directory_is_an_error() {
        let dir = temp("discard");
        std::fs::create_dir_all(&dir).unwrap();
        let trace = TraceFile::create(&dir.join("t.jsonl"), "{}").unwrap();
        assert_eq!(names(&dir), vec!["t.jsonl.partial"]);
        trace.discard();
        assert!(names(&dir).is_empty());
        let e = TraceFile::create(&dir.join("no/such/dir/t.jsonl"), "{}")
            .err()
            .unwrap();
        assert!(e.starts_with("cannot create "), "{e}");
        write_whole(&dir.join("w.txt"), "a\r\nb").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("w.txt")).unwrap(),
            "a\nb\n"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
