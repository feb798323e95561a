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
///
/// A `PartialFile` dropped before [`PartialFile::finish`] (an error on the way, a command
/// that gives up) removes its `.partial` file, and so does a failed `finish`: only a killed
/// process leaves one behind.
pub struct PartialFile {
    writer: Option<BufWriter<File>>,
    partial: PathBuf,
    path: PathBuf,
}

/// `PATH.partial`: where [`PartialFile::create`] writes `path` until it is complete.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    PathBuf::from(partial)
}

/// Checks, before any work, that `path` can be written as a whole file: it is not a
/// directory or a device, its directory exists, and a file can be created beside it (the
/// `.partial` file is created and removed again). `flag` names the option in the message,
/// e.g. `--trace FILE: is a directory`.
pub fn check_writable(flag: &str, path: &Path) -> Result<(), String> {
    let shown = path.display();
    let fail = |why: String| Err(format!("{flag} {shown}: {why}"));
    if path.as_os_str().is_empty() {
        return fail("an empty path".to_string());
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return fail("is a directory".to_string()),
        Ok(m) if !m.is_file() => {
            return fail("exists and is not a regular file (a device, pipe or socket)".to_string());
        }
        _ => {}
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return fail(format!("{} is not a directory", dir.display())),
        Err(_) => return fail(format!("the directory {} does not exist", dir.display())),
    }
    let partial = partial_path(path);
    let existed = partial.exists();
    match std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&partial)
    {
        Ok(_) => {
            if !existed {
                let _ = std::fs::remove_file(&partial);
            }
            Ok(())
        }
        Err(e) => fail(format!("cannot write in {}: {e}", dir.display())),
    }
}

/// Checks every output a command was asked for, before it starts work: each with
/// [`check_writable`], and no two of them the same file. `outputs` pairs each option (as
/// the message should name it) with its path.
pub fn check_outputs(outputs: &[(&str, &Path)]) -> Result<(), String> {
    for (i, (flag, path)) in outputs.iter().enumerate() {
        if let Some((other, _)) = outputs[..i].iter().find(|(_, p)| p == path) {
            return Err(format!(
                "{flag} {}: {other} writes the same file",
                path.display()
            ));
        }
        check_writable(flag, path)?;
    }
    Ok(())
}

impl PartialFile {
    /// Starts `path`, writing to `PATH.partial`. The directory must exist.
    pub fn create(path: &Path) -> Result<PartialFile, String> {
        PartialFile::open(path, partial_path(path))
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
            writer: Some(BufWriter::with_capacity(1 << 16, file)),
            partial,
            path: path.to_path_buf(),
        })
    }

    /// Writes one line (the newline is added).
    pub fn line(&mut self, line: &str) -> Result<(), String> {
        let writer = self.writer.as_mut().ok_or("the file was already closed")?;
        writer
            .write_all(line.as_bytes())
            .and_then(|_| writer.write_all(b"\n"))
            .map_err(|e| format!("cannot write {}: {e}", self.partial.display()))
    }

    /// Writes bytes that end with their own newline, as they are (the recorder's lines,
    /// see [`TraceSink::line_bytes`]).
    pub fn line_bytes(&mut self, line: &[u8]) -> Result<(), String> {
        let writer = self.writer.as_mut().ok_or("the file was already closed")?;
        writer
            .write_all(line)
            .map_err(|e| format!("cannot write {}: {e}", self.partial.display()))
    }

    /// Flushes and moves the complete file into place. On failure the `.partial` file is
    /// removed.
    pub fn finish(mut self) -> Result<(), String> {
        let writer = self.writer.take().ok_or("the file was already closed")?;
        writer
            .into_inner()
            .map_err(|e| format!("cannot write {}: {}", self.partial.display(), e.error()))
            .and_then(|file| {
                drop(file);
                std::fs::rename(&self.partial, &self.path)
                    .map_err(|e| format!("cannot rename to {}: {e}", self.path.display()))
            })
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&self.partial);
            })
    }

    /// Gives up on an unfinished file: its `.partial` file is removed (as on drop).
    pub fn discard(self) {}
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        // Still open: the file was never finished, so its partial copy goes.
        if let Some(writer) = self.writer.take() {
            drop(writer);
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

impl TraceSink for PartialFile {
    fn line(&mut self, line: &str) -> Result<(), String> {
        PartialFile::line(self, line)
    }

    fn line_bytes(&mut self, line: &[u8]) -> Result<(), String> {
        PartialFile::line_bytes(self, line)
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

    fn line_bytes(&mut self, line: &[u8]) -> Result<(), String> {
        match self.0.borrow_mut().as_mut() {
            Some(file) => file.line_bytes(line),
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
        sink.line_bytes(b"{\"ev\":\"lost\"}\n").unwrap();
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
            "{\"ev\":\"header\"}\n{\"ev\":\"deliver\"}\n{\"ev\":\"lost\"}\n\
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

    #[test]
    fn an_unfinished_or_failed_file_leaves_no_partial_behind() {
        let dir = temp("cleanup");
        std::fs::create_dir_all(&dir).unwrap();
        // Dropped before it is finished (a command that gave up on the way).
        let mut file = PartialFile::create(&dir.join("a.txt")).unwrap();
        file.line("x").unwrap();
        assert_eq!(names(&dir), vec!["a.txt.partial"]);
        drop(file);
        assert!(names(&dir).is_empty(), "{:?}", names(&dir));
        // A trace dropped with the engine's handle still out.
        let trace = TraceFile::create(&dir.join("t.jsonl"), "{}").unwrap();
        let sink = trace.sink();
        drop(trace);
        drop(sink);
        assert!(names(&dir).is_empty(), "{:?}", names(&dir));
        // A finish whose rename fails: the name became a directory meanwhile.
        let file = PartialFile::create(&dir.join("b.txt")).unwrap();
        std::fs::create_dir_all(dir.join("b.txt/inside")).unwrap();
        let e = file.finish().unwrap_err();
        assert!(e.starts_with("cannot rename to "), "{e}");
        assert_eq!(names(&dir), vec!["b.txt"], "no b.txt.partial");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn output_paths_are_checked_without_leaving_anything() {
        let dir = temp("check");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let ok = dir.join("ok.txt");
        check_outputs(&[("--trace", &ok), ("--view", &dir.join("p.html"))]).unwrap();
        assert_eq!(names(&dir), vec!["sub"], "the probe leaves nothing");
        let e = check_writable("--trace", &dir.join("sub")).unwrap_err();
        assert!(e.ends_with("sub: is a directory"), "{e}");
        let e = check_writable("-o", &dir.join("no/p.html")).unwrap_err();
        assert!(
            e.contains(": the directory ") && e.ends_with("no does not exist"),
            "{e}"
        );
        let e = check_outputs(&[("--trace", &ok), ("--view", &ok)]).unwrap_err();
        assert!(e.ends_with("ok.txt: --trace writes the same file"), "{e}");
        // A .partial file already there (a killed run's) is left as it was.
        std::fs::write(partial_path(&ok), "old").unwrap();
        check_writable("--trace", &ok).unwrap();
        assert_eq!(std::fs::read_to_string(partial_path(&ok)).unwrap(), "old");
        #[cfg(unix)]
        {
            let e = check_writable("--trace", Path::new("/dev/null")).unwrap_err();
            assert!(e.contains("is not a regular file"), "{e}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
