//! The harness's files: the failing seed's trace (written through the crate's one trace
//! writer, `crate::trace::file`), where traces go (`target/faultline/`), and where two traces
//! of one seed first differ.
//!
//! With the knobs, the one part of the harness that touches the filesystem or the
//! environment (cargo's `CARGO_TARGET_DIR` and `CARGO_MANIFEST_DIR`). Must not print.

use super::report::FailureKind;
use super::seeds::simulate;
use crate::protocol::Protocol;
use crate::scenario::Scenario;
use crate::sim::{RunReport, Verdict};
use crate::trace::file::{TraceFile, summary_line};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Runs `seed` again with a trace written to `path` (header, records, summary), through a
/// partial file moved into place only when complete. Returns the run's report.
pub(super) fn traced_run<P: Protocol>(
    scn: &Scenario<P>,
    seed: u64,
    path: &Path,
    overrides: &[String],
    reproduce: &str,
) -> Result<RunReport, String> {
    let resolved = scn.for_seed(seed).map_err(|e| e.to_string())?;
    let header = crate::trace::header::<P>(&resolved.source, &resolved.json, seed, overrides);
    let file = TraceFile::create_private(path, &header)?;
    let report = match simulate(|| resolved.run(seed, Some(file.sink()))) {
        Ok(r) => r,
        Err(kind) => {
            file.discard();
            return Err(match kind {
                FailureKind::Panic { message } => format!("the traced run panicked: {message}"),
                FailureKind::BadInput { message } => message,
                other => format!("{other:?}"),
            });
        }
    };
    if let Verdict::Aborted { reason } = &report.verdict {
        file.discard();
        return Err(reason.clone());
    }
    // The summary as the CLI writes it, so `faultline replay` compares it too.
    file.finish(&summary_line(&report, report.fingerprint, reproduce))?;
    Ok(report)
}

/// The first line (1-based) where two files differ, if they do.
pub(super) fn first_difference(a: &Path, b: &Path) -> Option<u64> {
    let open = |p: &Path| File::open(p).ok().map(|f| BufReader::new(f).lines());
    let (mut la, mut lb) = (open(a)?, open(b)?);
    let mut n = 0;
    loop {
        n += 1;
        match (la.next(), lb.next()) {
            (None, None) => return None,
            (Some(Ok(x)), Some(Ok(y))) if x == y => {}
            _ => return Some(n),
        }
    }
}

/// `faultline/` in the target directory (see [`target_dir`]).
pub fn default_trace_dir() -> PathBuf {
    target_dir(
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from),
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
        std::env::current_exe().ok(),
        std::env::temp_dir(),
    )
    .join("faultline")
}

/// The build's target directory: `cargo_target_dir` (the `CARGO_TARGET_DIR` variable) if
/// set; else the first `target` directory found walking up from `manifest_dir` (cargo sets
/// `CARGO_MANIFEST_DIR` when it runs tests, and a workspace's `target` is above its
/// members); else, for a test binary run without cargo, the directory above `exe` that holds
/// cargo's `CACHEDIR.TAG`; else `temp`.
pub fn target_dir(
    cargo_target_dir: Option<PathBuf>,
    manifest_dir: Option<PathBuf>,
    exe: Option<PathBuf>,
    temp: PathBuf,
) -> PathBuf {
    if let Some(dir) = cargo_target_dir.filter(|d| !d.as_os_str().is_empty()) {
        return dir;
    }
    let from_manifest = manifest_dir
        .as_deref()
        .and_then(|m| m.ancestors().map(|a| a.join("target")).find(|t| t.is_dir()));
    let from_exe = || {
        exe.as_deref().and_then(|e| {
            e.ancestors()
                .skip(1)
                .find(|a| a.join("CACHEDIR.TAG").is_file())
                .map(Path::to_path_buf)
        })
    };
    from_manifest.or_else(from_exe).unwrap_or(temp)
}
