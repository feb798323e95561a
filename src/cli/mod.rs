//! The command-line interface: `run`, `replay`, `validate`, `list`, `view` and `trace show`.
//!
//! With scenario loading, the only module that touches files, the environment or stdout.
//! [`main`] takes the arguments and two writers and returns the exit code, so tests can run
//! every command in-process.

use crate::lin;
use crate::protocols::PROTOCOLS;
use crate::scenario::{self, InputError, Scenario};
use crate::sim::{RunReport, Verdict, install_panic_capture};
use crate::tools::explain;
use crate::tools::export::{self, RecordError};
use crate::trace::doc::TraceDoc;
use crate::trace::{self, TRACE_SCHEMA, TraceSink};
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Exit codes. Part of the interface: scripts and CI rely on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Every check held (or the command succeeded).
    Ok = 0,
    /// A check failed, or a protocol panicked.
    CheckFailed = 1,
    /// Bad input: a scenario, a trace or an argument.
    BadInput = 2,
    /// A replay diverged from its trace.
    Diverged = 3,
    /// A check ran out of its budget before it could decide.
    Inconclusive = 4,
}

#[derive(Parser, Debug)]
#[command(name = "faultline", version, about = "A deterministic distributed-systems simulator", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a scenario (a path, or the name of a bundled scenario such as ping/basic).
    Run(RunArgs),
    /// Re-run a trace from its header and compare it event by event.
    Replay {
        /// A trace written by `run --trace`.
        trace: PathBuf,
    },
    /// Check a scenario without running it.
    Validate {
        /// Scenario file or bundled name.
        scenario: String,
        /// Overrides, as for `run`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Check a recorded history for linearizability (Jepsen etcd logs, EDN, Porcupine
    /// key-value logs, faultline JSON Lines).
    CheckHistory {
        /// The history file.
        file: PathBuf,
        /// etcd-log, edn (also porcupine-kv), or jsonl; guessed from the first line if absent.
        #[arg(long)]
        format: Option<String>,
        /// register or kv; guessed from the operations if absent.
        #[arg(long)]
        model: Option<String>,
        /// Search steps allowed per key before the answer is "inconclusive".
        #[arg(long, default_value_t = lin::DEFAULT_BUDGET)]
        budget: u64,
        /// Print the verdict as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Run a scenario under many seeds, spread over threads, and group the failures.
    Sweep(SweepArgs),
    /// Combine the --json outputs of sweep shards and print the grouped summary.
    Merge {
        /// Files written by `sweep --json`, one per shard.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the merged summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Hunt every bug switch of every protocol under swarm faults, without telling the sweep
    /// which switch is on, plus each protocol with none on (false alarms), and print a table.
    Hunt {
        /// Wall-clock seconds each row may sweep for.
        #[arg(long, default_value_t = 10)]
        budget_seconds: u64,
        /// Most seeds a row sweeps, whatever the time.
        #[arg(long, default_value_t = 2000)]
        seeds_max: u64,
        /// Threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Only this protocol.
        #[arg(long)]
        protocol: Option<String>,
        /// Print the table as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Shrink a failing run to a small standalone scenario that fails the same check.
    Shrink(ShrinkArgs),
    /// List bundled scenarios, protocols and network presets.
    List,
    /// Write a trace as one self-contained HTML page: a space-time diagram to step through.
    View {
        /// A trace written by `run --trace`.
        trace: PathBuf,
        /// The page to write (default: the trace's path with the extension .html).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Work with trace files.
    Trace {
        #[command(subcommand)]
        command: TraceCommand,
    },
    /// Export a trace for another tool (docs/exports.md): perfetto (ui.perfetto.dev,
    /// chrome://tracing), shiviz (vector clocks) or jepsen (the client history as EDN).
    Export {
        /// A trace written by `run --trace`.
        trace: PathBuf,
        /// perfetto, shiviz or jepsen.
        #[arg(long)]
        format: String,
        /// Write here (through FILE.partial, then renamed) instead of stdout.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Tell the story of a run from its trace in plain language.
    Explain {
        /// A trace written by `run --trace`.
        trace: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
struct ShrinkArgs {
    /// Scenario file or bundled name.
    scenario: String,
    /// The failing seed (default: the scenario's own).
    #[arg(long)]
    seed: Option<u64>,
    /// Overrides, as for `run` (baked into the shrunk scenario).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Where to write the shrunk scenario (default: <name>-seed<N>-shrunk.json here).
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// Also save it as the regression case scenarios/regressions/NAME.json (must fail the
    /// same check forever after; `cargo test` replays it).
    #[arg(long, value_name = "NAME")]
    save_regression: Option<String>,
    /// Overwrite an existing regression case.
    #[arg(long)]
    force: bool,
    /// Most candidate runs to try.
    #[arg(long, default_value_t = 10000)]
    max_runs: u32,
}

#[derive(Subcommand, Debug)]
enum TraceCommand {
    /// Print a trace as one fixed-column line per event.
    Show {
        /// A trace written by `run --trace`.
        trace: PathBuf,
        /// Only events about this node or client (n1, c2).
        #[arg(long)]
        node: Option<String>,
        /// Only events at or after this virtual time (1500ms, 1.5s, or microseconds).
        #[arg(long)]
        from: Option<String>,
        /// Only events at or before this virtual time.
        #[arg(long)]
        to: Option<String>,
    },
}

/// Runs the CLI with `args` (including the program name); returns the exit code.
pub fn main(
    args: impl IntoIterator<Item = OsString>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    install_panic_capture();
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                Exit::BadInput
            } else {
                Exit::Ok
            };
            if code == Exit::Ok {
                let _ = write!(out, "{}", e.render());
            } else {
                let _ = write!(err, "{}", e.render());
            }
            return code as i32;
        }
    };
    let exit = match cli.command {
        Command::Run(args) => cmd_run(&args, out, err),
        Command::Replay { trace } => cmd_replay(&trace, out, err),
        Command::Validate { scenario, set } => cmd_validate(&scenario, &set, out, err),
        Command::CheckHistory {
            file,
            format,
            model,
            budget,
            json,
        } => cmd_check_history(
            &file,
            format.as_deref(),
            model.as_deref(),
            budget,
            json,
            out,
            err,
        ),
        Command::Sweep(args) => cmd_sweep(&args, out, err),
        Command::Merge { files, json } => cmd_merge(&files, json, out, err),
        Command::Hunt {
            budget_seconds,
            seeds_max,
            jobs,
            protocol,
            json,
        } => cmd_hunt(
            budget_seconds,
            seeds_max,
            jobs,
            protocol.as_deref(),
            json,
            out,
            err,
        ),
        Command::Shrink(args) => cmd_shrink(&args, out, err),
        Command::List => cmd_list(out),
        Command::View { trace, output } => cmd_view(&trace, output.as_deref(), out, err),
        Command::Trace {
            command:
                TraceCommand::Show {
                    trace,
                    node,
                    from,
                    to,
                },
        } => cmd_trace_show(
            &trace,
            node.as_deref(),
            from.as_deref(),
            to.as_deref(),
            out,
            err,
        ),
        Command::Export {
            trace,
            format,
            output,
        } => cmd_export(&trace, &format, output.as_deref(), out, err),
        Command::Explain { trace } => cmd_explain(&trace, out, err),
    };
    exit as i32
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Scenario file or bundled name.
    scenario: String,
    /// Seed (default: the scenario's own).
    #[arg(long)]
    seed: Option<u64>,
    /// Write the JSON Lines trace here.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Write the client history here as JSON Lines (what `check-history` reads).
    #[arg(long)]
    history: Option<PathBuf>,
    /// Write the run as a self-contained HTML page to step through (see `faultline view`).
    #[arg(long, value_name = "FILE.html")]
    view: Option<PathBuf>,
    /// Write the scenario as this seed runs it (a swarm nemesis resolved into what it
    /// drew) to this file: running it with the same seed gives the same run.
    #[arg(long)]
    emit_scenario: Option<PathBuf>,
    /// Override one scenario field, e.g. --set network.loss=0.1 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Print only the verdict line (and the replay line on failure).
    #[arg(long, short)]
    quiet: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// After the run, tell its story in plain language (as `explain` does for a trace).
    #[arg(long, conflicts_with = "json")]
    explain: bool,
}

/// Reads a scenario from a path, or from the bundled set by name.
pub fn read_scenario(name: &str, overrides: &[String]) -> Result<Scenario, InputError> {
    let path = Path::new(name);
    if path.exists() {
        let text =
            std::fs::read(path).map_err(|e| input_error(name, format!("cannot read: {e}")))?;
        let text =
            String::from_utf8(text).map_err(|_| input_error(name, "not UTF-8 text".to_string()))?;
        return scenario::load(name, &text, overrides);
    }
    match scenario::bundled(name) {
        Some(text) => scenario::load(name, text, overrides),
        None => Err(input_error(
            name,
            format!(
                "no such file, and no bundled scenario of that name; bundled: {}",
                scenario::bundled_names().join(", ")
            ),
        )),
    }
}

fn input_error(file: &str, message: String) -> InputError {
    InputError {
        file: file.to_string(),
        line: None,
        column: None,
        field: None,
        message,
    }
}

pub use crate::scenario::replay_line;

/// Writes a whole file through `PATH.partial`, so a file under its own name is complete.
fn write_whole(path: &Path, text: &str) -> Result<(), String> {
    let mut fs = FileSink::create(path)?;
    for line in text.lines() {
        fs.line(line)?;
    }
    fs.finish()
}

/// Writes trace lines to `PATH.partial` and renames it to `PATH` once the summary is in, so
/// a trace that exists under its own name is always complete.
struct FileSink {
    writer: BufWriter<File>,
    partial: PathBuf,
    path: PathBuf,
}

impl FileSink {
    fn create(path: &Path) -> Result<FileSink, String> {
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = File::create(&partial)
            .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
        Ok(FileSink {
            writer: BufWriter::with_capacity(1 << 16, file),
            partial,
            path: path.to_path_buf(),
        })
    }

    fn complete(mut self, summary: &str) -> Result<(), String> {
        self.line(summary)?;
        self.finish()
    }

    /// Flushes and moves the finished file into place.
    fn finish(mut self) -> Result<(), String> {
        self.writer
            .flush()
            .map_err(|e| format!("cannot write {}: {e}", self.partial.display()))?;
        std::fs::rename(&self.partial, &self.path)
            .map_err(|e| format!("cannot rename to {}: {e}", self.path.display()))
    }
}

impl TraceSink for FileSink {
    fn line(&mut self, line: &str) -> Result<(), String> {
        self.writer
            .write_all(line.as_bytes())
            .and_then(|_| self.writer.write_all(b"\n"))
            .map_err(|e| format!("cannot write {}: {e}", self.partial.display()))
    }
}

/// Keeps every trace line in memory (for `run --view` and `run --explain`) and passes it on to `next`, if any.
struct Collect {
    text: std::rc::Rc<std::cell::RefCell<String>>,
    next: Option<Box<dyn TraceSink>>,
}

impl TraceSink for Collect {
    fn line(&mut self, line: &str) -> Result<(), String> {
        {
            let mut t = self.text.borrow_mut();
            t.push_str(line);
            t.push('\n');
        }
        match &mut self.next {
            Some(n) => n.line(line),
            None => Ok(()),
        }
    }
}

/// Shares a [`FileSink`] between the engine (which owns a `Box<dyn TraceSink>`) and the
/// command, which writes the header before and the summary after.
struct Shared<S>(std::rc::Rc<std::cell::RefCell<Option<S>>>);

impl<S: TraceSink> TraceSink for Shared<S> {
    fn line(&mut self, line: &str) -> Result<(), String> {
        match self.0.borrow_mut().as_mut() {
            Some(s) => s.line(line),
            None => Err("the trace was already closed".to_string()),
        }
    }
}

fn header(scn: &Scenario, seed: u64, overrides: &[String]) -> String {
    struct Header<'a>(&'a Scenario, u64, &'a [String]);
    impl crate::protocols::ProtocolVisitor for Header<'_> {
        type Output = String;
        fn visit<P: crate::protocol::Protocol>(self) -> String {
            trace::header::<P>(&self.0.source, &self.0.json, self.1, self.2)
        }
    }
    scn.with_protocol(Header(scn, seed, overrides))
}

/// The summary as JSON: the report, the fingerprint in hex, the replay line.
pub fn summary_json(report: &RunReport, replay: &str) -> serde_json::Value {
    let mut v = serde_json::to_value(report).expect("reports serialize");
    let obj = v.as_object_mut().expect("a struct serializes as an object");
    obj.insert(
        "fingerprint".into(),
        trace::fingerprint_hex(report.fingerprint).into(),
    );
    obj.insert("reproduce".into(), replay.into());
    v
}

/// Runs a loaded scenario with `seed`, streaming the trace to `sink` if given.
pub fn run_scenario(
    scn: &Scenario,
    seed: u64,
    sink: Option<Box<dyn TraceSink>>,
) -> Result<RunReport, InputError> {
    scn.run(seed, sink)
}

fn verdict_exit(v: &Verdict) -> Exit {
    match v {
        Verdict::Pass => Exit::Ok,
        Verdict::Fail(_) => Exit::CheckFailed,
        Verdict::Inconclusive { .. } => Exit::Inconclusive,
        Verdict::Aborted { .. } => Exit::BadInput,
    }
}

fn cmd_run(a: &RunArgs, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let scn = match read_scenario(&a.scenario, &a.set) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
    };
    let seed = a.seed.unwrap_or(scn.file.seed);
    // A swarm nemesis is resolved for this seed here, so the trace header holds what it drew.
    let scn = match scn.for_seed(seed) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
    };
    if let Some(path) = &a.emit_scenario {
        let mut json = scn.json.clone();
        json["seed"] = seed.into();
        let text = serde_json::to_string_pretty(&json).expect("JSON values print");
        if let Err(e) = write_whole(path, &text) {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
    }
    let replay = replay_line(&a.scenario, seed, &a.set);
    let shared = std::rc::Rc::new(std::cell::RefCell::new(None::<FileSink>));
    let sink: Option<Box<dyn TraceSink>> = match &a.trace {
        None => None,
        Some(path) => {
            let mut fs = match FileSink::create(path) {
                Ok(f) => f,
                Err(e) => {
                    let _ = writeln!(err, "error: {e}");
                    return Exit::BadInput;
                }
            };
            if let Err(e) = fs.line(&header(&scn, seed, &a.set)) {
                let _ = writeln!(err, "error: {e}");
                return Exit::BadInput;
            }
            *shared.borrow_mut() = Some(fs);
            Some(Box::new(Shared(shared.clone())))
        }
    };
    // For --view and --explain, every line also goes to memory; the page and the story are
    // drawn from them at the end.
    let collected = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
    let sink = match a.view.is_some() || a.explain {
        false => sink,
        true => {
            let c = Collect {
                text: collected.clone(),
                next: sink,
            };
            // The file sink already has its header; memory gets its own copy.
            c.text.borrow_mut().push_str(&header(&scn, seed, &a.set));
            c.text.borrow_mut().push('\n');
            Some(Box::new(c) as Box<dyn TraceSink>)
        }
    };
    let (report, ops) = match scn.run_with_history(seed, sink) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
    };
    if let Some(path) = &a.history {
        if let Err(e) = write_whole(path, &lin::formats::to_jsonl(&ops)) {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
    }
    let summary = summary_json(&report, &replay);
    let mut summary_line = summary.clone();
    summary_line
        .as_object_mut()
        .expect("object")
        .insert("ev".into(), "summary".into());
    if let Some(fs) = shared.borrow_mut().take() {
        if let Err(e) = fs.complete(&summary_line.to_string()) {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
    }
    let mut text = collected.take();
    if !text.is_empty() {
        text.push_str(&summary_line.to_string());
        text.push('\n');
    }
    if let Some(path) = &a.view {
        let written = crate::tools::view::page_from_text(&text)
            .map_err(|e| format!("the run's own trace did not read back: {e}"))
            .and_then(|page| write_whole(path, &page));
        if let Err(e) = written {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
    }
    if a.json {
        let mut summary = summary;
        summary
            .as_object_mut()
            .expect("object")
            .insert("version".into(), crate::VERSION.into());
        let _ = writeln!(out, "{summary}");
    } else {
        print_human(&scn, &report, &replay, a.trace.as_deref(), a.quiet, out);
        if let Some(o) = &scn.file.outcome {
            let _ = match o.judge(&report.verdict) {
                Ok(()) => writeln!(out, "outcome: {o}, as this regression case expects"),
                Err(why) => writeln!(out, "outcome: NOT as expected: {why}"),
            };
        }
        if a.explain {
            let story = TraceDoc::parse(&text)
                .map_err(|e| e.to_string())
                .and_then(|doc| {
                    let shown = a.trace.as_ref().map(|p| p.display().to_string());
                    explain::explain(&doc, shown.as_deref()).map_err(|e| e.to_string())
                });
            match story {
                Ok(lines) => {
                    let _ = writeln!(out);
                    for l in lines {
                        let _ = writeln!(out, "{l}");
                    }
                }
                Err(e) => {
                    let _ = writeln!(err, "error: cannot explain the run: {e}");
                    return Exit::BadInput;
                }
            }
        }
    }
    if let Verdict::Aborted { reason } = &report.verdict {
        let _ = writeln!(err, "error: the run was stopped: {reason}");
    }
    verdict_exit(&report.verdict)
}

fn cmd_shrink(a: &ShrinkArgs, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let scn = match read_scenario(&a.scenario, &a.set) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
    };
    let regression = match &a.save_regression {
        None => None,
        Some(name) => {
            let ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !ok {
                let _ = writeln!(
                    err,
                    "error: --save-regression {name:?}: use lower-case letters, digits, - and _"
                );
                return Exit::BadInput;
            }
            let path = Path::new("scenarios")
                .join("regressions")
                .join(format!("{name}.json"));
            if path.exists() && !a.force {
                let _ = writeln!(
                    err,
                    "error: {} exists; pick another name or pass --force",
                    path.display()
                );
                return Exit::BadInput;
            }
            Some((name.clone(), path))
        }
    };
    let seed = a.seed.unwrap_or(scn.file.seed);
    let _ = writeln!(
        out,
        "shrink {} seed {seed}{}",
        a.scenario,
        if a.set.is_empty() {
            String::new()
        } else {
            format!(" ({})", a.set.join(", "))
        }
    );
    let options = crate::run::shrink::Options {
        max_runs: a.max_runs,
    };
    let shrunk = match crate::run::shrink::shrink(&scn, seed, options) {
        Ok(s) => s,
        Err(crate::run::shrink::Error::Input(e)) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
        Err(crate::run::shrink::Error::NotFailing(why)) => {
            let _ = writeln!(err, "error: {why}");
            return Exit::BadInput;
        }
        Err(crate::run::shrink::Error::NotExplicit(why, explicit)) => {
            let _ = writeln!(err, "error: {why}");
            if let Some(json) = explicit {
                let path = PathBuf::from(format!("{}.explicit.json", a.scenario.replace('/', "-")));
                let text = serde_json::to_string_pretty(&json).expect("JSON values print");
                if write_whole(&path, &text).is_ok() {
                    let _ = writeln!(err, "the explicit scenario is in {}", path.display());
                }
            }
            return Exit::Inconclusive;
        }
    };
    for (i, step) in shrunk.steps.iter().enumerate() {
        let _ = writeln!(out, "  {:>3}. {step}", i + 1);
    }
    let row = |label: &str, s: &crate::run::shrink::Size| {
        format!(
            "{label:<7}{:>5} faults {:>6} operations {:>3} nodes {:>8} events {:>7} ms",
            s.faults, s.ops, s.nodes, s.events, s.time_ms
        )
    };
    let _ = writeln!(out, "{}", row("before", &shrunk.before));
    let _ = writeln!(out, "{}", row("after", &shrunk.after));
    let _ = writeln!(
        out,
        "{} candidate runs; still fails {}: {}",
        shrunk.runs, shrunk.check, shrunk.message
    );
    let mut json = shrunk.scenario.clone();
    json["outcome"] = serde_json::json!({ "fails": shrunk.check });
    let text = serde_json::to_string_pretty(&json).expect("JSON values print") + "\n";
    let stem = Path::new(&a.scenario)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "scenario".into());
    let output = a
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{stem}-seed{seed}-shrunk.json")));
    let mut written = vec![output];
    if let Some((_, path)) = &regression {
        if let Some(dir) = path.parent() {
            if let Err(e) = std::fs::create_dir_all(dir) {
                let _ = writeln!(err, "error: cannot create {}: {e}", dir.display());
                return Exit::BadInput;
            }
        }
        written.push(path.clone());
    }
    for path in &written {
        if let Err(e) = write_whole(path, &text) {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
        let _ = writeln!(out, "wrote {}", path.display());
    }
    let _ = writeln!(out, "reproduce: faultline run {}", written[0].display());
    if let Some((name, _)) = &regression {
        let _ = writeln!(
            out,
            "regression case regressions/{name}: `cargo test --test regressions` replays it and fails if it stops failing {}",
            shrunk.check
        );
    }
    Exit::Ok
}

fn print_human(
    scn: &Scenario,
    r: &RunReport,
    replay: &str,
    trace: Option<&Path>,
    quiet: bool,
    out: &mut dyn Write,
) {
    let fp = trace::fingerprint_hex(r.fingerprint);
    if !quiet {
        let f = &scn.file;
        let _ = writeln!(
            out,
            "faultline {}  scenario {}  seed {}",
            crate::VERSION,
            scn.source,
            r.seed
        );
        let _ = writeln!(
            out,
            "  protocol {}, {} nodes, {} clients",
            r.protocol, f.nodes, f.workload.clients
        );
        let _ = writeln!(
            out,
            "  steps {}  virtual time {}  faults {}  checks evaluated {}",
            r.steps, r.time_end, r.faults_injected, r.checks_evaluated
        );
        let n = &r.network;
        let _ = writeln!(
            out,
            "  messages: {} sent, {} delivered, {} duplicated, {} long-delayed; lost: {} to loss, {} to partitions, {} to down receivers",
            n.sent,
            n.delivered,
            n.duplicated,
            n.long_delayed,
            n.lost_loss,
            n.lost_partition,
            n.lost_receiver_down
        );
        let restarts: u32 = r.incarnations.iter().sum();
        let lost: u64 = r.storage.iter().map(|s| s.writes_lost).sum();
        let _ = writeln!(
            out,
            "  storage: {} syncs, {} bytes synced, {} unsynced writes lost; {} restarts",
            r.syncs(),
            r.bytes_synced(),
            lost,
            restarts
        );
        let per_node: Vec<String> = r
            .storage
            .iter()
            .enumerate()
            .map(|(i, s)| format!("n{} {}/{}B", i + 1, s.syncs, s.bytes_synced))
            .collect();
        let _ = writeln!(out, "  syncs/bytes per node: {}", per_node.join("  "));
        if r.ops.invoked > 0 {
            let o = &r.ops;
            let _ = writeln!(
                out,
                "  client ops: {} invoked, {} ok, {} failed, {} unknown, {} pending at the end",
                o.invoked, o.ok, o.fail, o.unknown, o.pending
            );
        }
        for c in &r.checks {
            let _ = writeln!(out, "  check {:<22} {:<10} {}", c.check, c.kind, c.status);
        }
        if let Some(h) = &r.history_check {
            let _ = writeln!(
                out,
                "  check {:<22} {:<10} {} ({} ops, {} ignored, {} keys, {} search steps)",
                "linearizable", "history", h.verdict, h.ops, h.ignored, h.keys, h.steps
            );
        }
        for (name, value) in &r.metrics {
            let _ = writeln!(out, "  metric {name:<30} {value}");
        }
        let _ = writeln!(out, "  fingerprint {fp}");
        if let Some(t) = trace {
            let _ = writeln!(out, "  trace {}", t.display());
        }
    }
    match &r.verdict {
        Verdict::Pass => {
            let _ = writeln!(out, "PASS seed {} fingerprint {fp}", r.seed);
        }
        Verdict::Fail(f) => {
            let nodes: Vec<String> = f.nodes.iter().map(|n| n.to_string()).collect();
            let class = f.class.name();
            let _ = writeln!(
                out,
                "FAIL {class}: check {} ({}) at step {}, t={}{}",
                f.check,
                f.kind,
                f.step,
                f.time,
                if nodes.is_empty() {
                    String::new()
                } else {
                    format!(", nodes {}", nodes.join(" "))
                }
            );
            let _ = writeln!(out, "  {}", f.message);
            let _ = writeln!(out, "reproduce: {replay}");
        }
        Verdict::Inconclusive { reason } => {
            let _ = writeln!(out, "INCONCLUSIVE seed {}: {reason}", r.seed);
            let _ = writeln!(out, "reproduce: {replay}");
        }
        Verdict::Aborted { reason } => {
            let _ = writeln!(out, "ABORTED: {reason}");
        }
    }
}

/// Compares each replayed line with the next line of the recorded trace.
struct CompareSink {
    lines: std::io::Lines<BufReader<File>>,
    compared: u64,
}

impl CompareSink {
    fn next_recorded(&mut self) -> Option<String> {
        self.lines.next().and_then(|l| l.ok())
    }
}

fn step_of(line: &str) -> String {
    let v = serde_json::from_str::<serde_json::Value>(line).ok();
    match v
        .as_ref()
        .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
    {
        Some(s) => format!("step {s}"),
        None if v
            .as_ref()
            .and_then(|v| v.get("ev"))
            .and_then(|e| e.as_str())
            == Some("summary") =>
        {
            "the summary".to_string()
        }
        None => "no step".to_string(),
    }
}

impl TraceSink for CompareSink {
    fn line(&mut self, line: &str) -> Result<(), String> {
        self.compared += 1;
        match self.next_recorded() {
            Some(recorded) if recorded == line => Ok(()),
            Some(recorded) => Err(format!(
                "diverged at record {} ({}):\n  recorded: {recorded}\n  replayed: {line}",
                self.compared,
                step_of(&recorded)
            )),
            None => Err(format!(
                "diverged at record {} ({}): the recorded trace ends here but the replay goes on:\n  replayed: {line}",
                self.compared,
                step_of(line)
            )),
        }
    }
}

fn cmd_replay(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let shown = path.display().to_string();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(err, "error: {shown}: cannot open: {e}");
            return Exit::BadInput;
        }
    };
    let mut lines = BufReader::new(file).lines();
    let head: serde_json::Value = match lines
        .next()
        .and_then(|l| l.ok())
        .map(|l| serde_json::from_str(&l))
    {
        Some(Ok(v)) => v,
        _ => {
            let _ = writeln!(
                err,
                "error: {shown}:1: the first line is not a faultline trace header"
            );
            return Exit::BadInput;
        }
    };
    if head.get("ev").and_then(|e| e.as_str()) != Some("header") {
        let _ = writeln!(
            err,
            "error: {shown}:1: the first line is not a faultline trace header"
        );
        return Exit::BadInput;
    }
    if head.get("schema").and_then(|s| s.as_u64()) != Some(u64::from(TRACE_SCHEMA)) {
        let _ = writeln!(
            err,
            "error: {shown}:1: schema: this faultline reads trace schema {TRACE_SCHEMA}, the file has {}",
            head["schema"]
        );
        return Exit::BadInput;
    }
    let Some(seed) = head.get("seed").and_then(|s| s.as_u64()) else {
        let _ = writeln!(err, "error: {shown}:1: seed: missing from the header");
        return Exit::BadInput;
    };
    let version = head.get("version").and_then(|v| v.as_str()).unwrap_or("?");
    if version != crate::VERSION {
        let _ = writeln!(
            err,
            "warning: the trace was written by faultline {version}; this is {}",
            crate::VERSION
        );
    }
    let text = head
        .get("scenario")
        .map(|s| s.to_string())
        .unwrap_or_default();
    let source = head
        .get("source")
        .and_then(|s| s.as_str())
        .unwrap_or("trace")
        .to_string();
    let scn = match scenario::load(&format!("{shown} (header scenario)"), &text, &[]) {
        Ok(mut s) => {
            s.source = source.clone();
            s
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
    };
    let compare = std::rc::Rc::new(std::cell::RefCell::new(Some(CompareSink {
        lines,
        compared: 0,
    })));
    let report = match run_scenario(&scn, seed, Some(Box::new(Shared(compare.clone())))) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
    };
    if let Verdict::Aborted { reason } = &report.verdict {
        let _ = writeln!(out, "DIVERGED: {reason}");
        return Exit::Diverged;
    }
    let overrides: Vec<String> = head
        .get("overrides")
        .and_then(|o| o.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut summary = summary_json(&report, &replay_line(&source, seed, &overrides));
    summary
        .as_object_mut()
        .expect("object")
        .insert("ev".into(), "summary".into());
    let mut sink = compare
        .borrow_mut()
        .take()
        .expect("the sink is back after the run");
    if let Err(e) = sink.line(&summary.to_string()) {
        let _ = writeln!(out, "DIVERGED in the summary: {e}");
        return Exit::Diverged;
    }
    if let Some(extra) = sink.next_recorded() {
        let _ = writeln!(
            out,
            "DIVERGED: the recorded trace has more lines after the summary: {extra}"
        );
        return Exit::Diverged;
    }
    let verdict = match &report.verdict {
        Verdict::Pass => "PASS".to_string(),
        Verdict::Fail(f) => format!("FAIL {} at step {}", f.check, f.step),
        Verdict::Inconclusive { reason } => format!("INCONCLUSIVE ({reason})"),
        Verdict::Aborted { reason } => reason.clone(),
    };
    let _ = writeln!(
        out,
        "IDENTICAL: {} records replayed, fingerprint {}, the run ends {verdict} as recorded",
        sink.compared,
        trace::fingerprint_hex(report.fingerprint)
    );
    Exit::Ok
}

fn cmd_validate(name: &str, set: &[String], out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    match read_scenario(name, set) {
        Ok(s) => {
            let f = &s.file;
            let _ = writeln!(
                out,
                "ok: {name}: protocol {}, {} nodes, {} clients, {} scheduled faults{}, {} expectations, {} ms",
                f.protocol.name,
                f.nodes,
                f.workload.clients,
                f.faults.len(),
                if f.nemesis.is_some() {
                    " and a nemesis"
                } else {
                    ""
                },
                f.expect.len(),
                f.limits.time_ms
            );
            Exit::Ok
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            Exit::BadInput
        }
    }
}

fn cmd_check_history(
    file: &Path,
    format: Option<&str>,
    model: Option<&str>,
    budget: u64,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    use lin::formats::{Format, parse};
    let shown = file.display();
    let bad = |err: &mut dyn Write, msg: String| {
        let _ = writeln!(err, "error: {msg}");
        Exit::BadInput
    };
    let text = match std::fs::read(file) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(_) => return bad(err, format!("{shown}: not UTF-8 text")),
        },
        Err(e) => return bad(err, format!("{shown}: cannot read: {e}")),
    };
    let format = match format {
        Some(name) => match Format::from_name(name) {
            Some(f) => f,
            None => {
                return bad(
                    err,
                    format!(
                        "--format {name:?}: expected one of {}",
                        Format::NAMES.join(", ")
                    ),
                );
            }
        },
        None => match Format::detect(&text) {
            Some(f) => f,
            None if text.trim().is_empty() => {
                return bad(
                    err,
                    format!("{shown}: the file is empty: no operations to check"),
                );
            }
            None => {
                return bad(
                    err,
                    format!(
                        "{shown}: cannot tell the format from the first line; give --format ({})",
                        Format::NAMES.join(", ")
                    ),
                );
            }
        },
    };
    let ops = match parse(&text, format) {
        Ok(ops) => ops,
        Err(e) if e.line == 0 => return bad(err, format!("{shown}: {}", e.message)),
        Err(e) => return bad(err, format!("{shown}:{e}")),
    };
    let model = match model {
        Some(name) => match lin::ModelKind::from_name(name) {
            Some(m) => m,
            None => {
                return bad(
                    err,
                    format!(
                        "--model {name:?}: expected one of {}",
                        lin::ModelKind::NAMES.join(", ")
                    ),
                );
            }
        },
        None => match lin::ModelKind::guess(&ops) {
            Some(m) => m,
            None => {
                return bad(
                    err,
                    format!(
                        "{shown}: cannot tell the model from operation {:?}; give --model ({})",
                        ops[0].f,
                        lin::ModelKind::NAMES.join(", ")
                    ),
                );
            }
        },
    };
    let (verdict, stats) = match lin::check(&ops, model, budget) {
        Ok(v) => v,
        Err(e) => return bad(err, format!("{shown}:{e}")),
    };
    let code = match &verdict {
        lin::LinVerdict::Linearizable => Exit::Ok,
        lin::LinVerdict::NotLinearizable(_) => Exit::CheckFailed,
        lin::LinVerdict::Inconclusive { .. } => Exit::Inconclusive,
    };
    if json {
        let v = serde_json::json!({"file": shown.to_string(), "verdict": verdict, "stats": stats});
        let _ = writeln!(out, "{v}");
        return code;
    }
    match &verdict {
        lin::LinVerdict::Linearizable => {
            let _ = writeln!(out, "linearizable");
        }
        lin::LinVerdict::NotLinearizable(c) => {
            let _ = writeln!(out, "not linearizable\n  {}", c.explain(&ops));
        }
        lin::LinVerdict::Inconclusive { key, steps } => {
            let key = key
                .as_ref()
                .map(|k| format!(" on key {k:?}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "inconclusive: the search{key} used its budget of {steps} steps; raise --budget"
            );
        }
    }
    let _ = writeln!(
        out,
        "  {} operations ({} ignored: unknown reads or definite failures), {} key(s), {} search steps",
        stats.ops, stats.ignored, stats.partitions, stats.steps
    );
    code
}

#[derive(clap::Args, Debug)]
struct SweepArgs {
    /// Scenario file or bundled name.
    scenario: String,
    /// Seeds, as A..B (both included) or one number.
    #[arg(long, default_value = "1..100")]
    seeds: String,
    /// Threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Stop once this many seeds have failed (the report covers every seed up to the last
    /// one counted, whatever --jobs is).
    #[arg(long)]
    max_failures: Option<u64>,
    /// Only the seeds congruent to K modulo N, as K/N.
    #[arg(long, conflicts_with = "shard_from_env")]
    shard: Option<String>,
    /// Take K from JOB_COMPLETION_INDEX (Kubernetes indexed Jobs) or SLURM_ARRAY_TASK_ID
    /// (minus SLURM_ARRAY_TASK_MIN), and N from --shard-count or SLURM_ARRAY_TASK_COUNT.
    #[arg(long)]
    shard_from_env: bool,
    /// N for --shard-from-env.
    #[arg(long, requires = "shard_from_env")]
    shard_count: Option<u64>,
    /// Override one scenario field, as for `run` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// One JSON line per failing seed, then a summary line (what `merge` reads).
    #[arg(long)]
    json: bool,
}

/// K and N from the batch engine's environment.
fn shard_from_env(count: Option<u64>) -> Result<(u64, u64), String> {
    shard_from_vars(|name| std::env::var(name).ok(), count)
}

fn shard_from_vars(
    lookup: impl Fn(&str) -> Option<String>,
    count: Option<u64>,
) -> Result<(u64, u64), String> {
    let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
    let number = |name: &str, v: String| {
        v.trim()
            .parse::<u64>()
            .map_err(|_| format!("{name}={v:?} is not a number"))
    };
    let (k, n_env) = if let Some(v) = var("JOB_COMPLETION_INDEX") {
        (number("JOB_COMPLETION_INDEX", v)?, None)
    } else if let Some(v) = var("SLURM_ARRAY_TASK_ID") {
        let id = number("SLURM_ARRAY_TASK_ID", v)?;
        let min = match var("SLURM_ARRAY_TASK_MIN") {
            Some(m) => number("SLURM_ARRAY_TASK_MIN", m)?,
            None => 0,
        };
        let count = match var("SLURM_ARRAY_TASK_COUNT") {
            Some(c) => Some(number("SLURM_ARRAY_TASK_COUNT", c)?),
            None => None,
        };
        (
            id.checked_sub(min)
                .ok_or("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN")?,
            count,
        )
    } else {
        return Err(
            "--shard-from-env: neither JOB_COMPLETION_INDEX nor SLURM_ARRAY_TASK_ID is set".into(),
        );
    };
    let n = count.or(n_env).ok_or(
        "--shard-from-env: give the number of shards with --shard-count (Kubernetes sets no count)",
    )?;
    if k >= n {
        return Err(format!(
            "--shard-from-env: shard index {k} is not below the count {n}"
        ));
    }
    Ok((k, n))
}

fn scenario_hash(scn: &Scenario) -> String {
    trace::fingerprint_hex(crate::base::hash::stable_hash(&scn.json.to_string()))
}

#[allow(clippy::disallowed_types)] // wall time for the progress line only; results never see it
fn cmd_sweep(a: &SweepArgs, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    use crate::run::sweep::{self, SeedSet};
    use std::io::IsTerminal;
    let bad = |err: &mut dyn Write, msg: String| {
        let _ = writeln!(err, "error: {msg}");
        Exit::BadInput
    };
    let scn = match read_scenario(&a.scenario, &a.set) {
        Ok(s) => s,
        Err(e) => return bad(err, e.to_string()),
    };
    let (from, to) = match sweep::parse_range(&a.seeds) {
        Ok(r) => r,
        Err(e) => return bad(err, format!("--seeds: {e}")),
    };
    let shard = match (&a.shard, a.shard_from_env) {
        (Some(s), _) => match sweep::parse_shard(s) {
            Ok(s) => s,
            Err(e) => return bad(err, format!("--shard: {e}")),
        },
        (None, true) => match shard_from_env(a.shard_count) {
            Ok(s) => s,
            Err(e) => return bad(err, e),
        },
        (None, false) => (0, 1),
    };
    let seeds = SeedSet { from, to, shard };
    let jobs = a.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    if jobs == 0 {
        return bad(err, "--jobs must be at least 1".into());
    }
    let hash = scenario_hash(&scn);
    let show_progress = !a.json && std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let mut progress = |p: sweep::Progress| {
        if show_progress {
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            eprint!(
                "\r  seeds {}/{}  {:.0} seeds/s  failures {}   ",
                p.done,
                p.total,
                p.done as f64 / secs,
                p.failed
            );
        }
    };
    let mut failure_lines = Vec::new();
    let mut on_failure = |f: &sweep::SeedFailure| {
        if a.json {
            failure_lines.push(f.clone());
        }
    };
    let report = sweep::sweep(
        &scn,
        seeds,
        jobs,
        a.max_failures,
        &mut progress,
        &mut on_failure,
    );
    if show_progress {
        eprintln!();
    }
    if a.json {
        // Failure lines in seed order, then the summary, so the output is the same for any
        // number of jobs.
        for f in &report.failures {
            let line = serde_json::json!({
                "ev": "failure",
                "version": crate::VERSION,
                "scenario": scn.source,
                "scenario_hash": hash,
                "seed": f.seed,
                "check": f.check,
                "class": f.class,
                "message": f.message,
                "step": f.step,
                "time_us": f.time_us,
                "reproduce": replay_line(&a.scenario, f.seed, &a.set),
                "view": format!("{} --view seed{}.html", replay_line(&a.scenario, f.seed, &a.set), f.seed),
            });
            let _ = writeln!(out, "{line}");
        }
        let summary = serde_json::json!({
            "ev": "summary",
            "version": crate::VERSION,
            "scenario": scn.source,
            "scenario_hash": hash,
            "overrides": a.set,
            "report": report,
        });
        let _ = writeln!(out, "{summary}");
    } else {
        let (k, n) = shard;
        let shard_text = if n > 1 {
            format!(" (shard {k}/{n})")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "sweep {}: seeds {from}..{to}{shard_text}, {jobs} job(s), scenario {hash}",
            scn.source
        );
        print_sweep(&report, &a.scenario, &a.set, out);
    }
    sweep_exit(&report)
}

fn print_sweep(
    report: &crate::run::sweep::SweepReport,
    source: &str,
    set: &[String],
    out: &mut dyn Write,
) {
    let _ = writeln!(
        out,
        "  {} seeds run: {} passed, {} failed{}",
        report.run,
        report.passed,
        report.failures.len(),
        match report.stopped_after {
            Some(s) => format!(" (stopped after seed {s}: --max-failures reached)"),
            None => String::new(),
        }
    );
    for g in &report.groups {
        let _ = writeln!(
            out,
            "  {} ({}): {} seed(s), smallest {}\n    reproduce: {}\n    view: {} --view seed{}.html",
            g.check,
            g.class,
            g.count,
            g.smallest_seed,
            replay_line(source, g.smallest_seed, set),
            replay_line(source, g.smallest_seed, set),
            g.smallest_seed
        );
    }
    let _ = writeln!(out, "{}", if report.all_passed() { "PASS" } else { "FAIL" });
}

fn sweep_exit(report: &crate::run::sweep::SweepReport) -> Exit {
    if report.failures.iter().any(|f| f.class != "inconclusive") {
        Exit::CheckFailed
    } else if report.failures.is_empty() {
        Exit::Ok
    } else {
        Exit::Inconclusive
    }
}

fn cmd_merge(files: &[PathBuf], json: bool, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let bad = |err: &mut dyn Write, msg: String| {
        let _ = writeln!(err, "error: {msg}");
        Exit::BadInput
    };
    let mut reports = Vec::new();
    let mut identity: Option<(String, String, String, Vec<String>)> = None;
    for path in files {
        let shown = path.display();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return bad(err, format!("{shown}: cannot read: {e}")),
        };
        let mut summary = None;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => {
                    return bad(
                        err,
                        format!("{shown}:{}:{}: not JSON: {e}", n + 1, e.column()),
                    );
                }
            };
            if v["ev"] == "summary" {
                summary = Some((n + 1, v));
            }
        }
        let Some((line, v)) = summary else {
            return bad(
                err,
                format!("{shown}: no summary line: not a complete `sweep --json` output"),
            );
        };
        let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let overrides: Vec<String> = v["overrides"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let id = (
            field("version"),
            field("scenario_hash"),
            field("scenario"),
            overrides,
        );
        match &identity {
            None => identity = Some(id),
            Some(first) if first.0 != id.0 => {
                return bad(
                    err,
                    format!(
                        "{shown}: made by faultline {}, the first file by {}",
                        id.0, first.0
                    ),
                );
            }
            Some(first) if first.1 != id.1 => {
                return bad(
                    err,
                    format!(
                        "{shown}: scenario {} differs from the first file's {}",
                        id.1, first.1
                    ),
                );
            }
            Some(_) => {}
        }
        match serde_json::from_value::<crate::run::sweep::SweepReport>(v["report"].clone()) {
            Ok(r) => reports.push(r),
            Err(e) => {
                return bad(
                    err,
                    format!("{shown}:{line}: the summary's report is malformed: {e}"),
                );
            }
        }
    }
    let merged = match crate::run::sweep::merge(&reports) {
        Ok(m) => m,
        Err(e) => return bad(err, e),
    };
    let (version, hash, source, overrides) = identity.expect("at least one file");
    if json {
        let v = serde_json::json!({
            "ev": "summary",
            "version": version,
            "scenario": source,
            "scenario_hash": hash,
            "overrides": overrides,
            "report": merged,
        });
        let _ = writeln!(out, "{v}");
    } else {
        let _ = writeln!(
            out,
            "merge of {} shard(s) of {source}: seeds {}..{}, scenario {hash}",
            files.len(),
            merged.seeds.from,
            merged.seeds.to
        );
        print_sweep(&merged, &source, &overrides, out);
    }
    sweep_exit(&merged)
}

/// One row of the hunt: a protocol with one switch on (or none), swept in growing chunks of
/// seeds until the first failure, the seed cap, or the time budget.
#[allow(clippy::disallowed_types)] // the time budget is the point of `hunt`; results are per seed
fn cmd_hunt(
    budget_seconds: u64,
    seeds_max: u64,
    jobs: Option<usize>,
    only: Option<&str>,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    use crate::run::sweep::{self, SeedSet};
    let jobs = jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let protocols: Vec<&str> = PROTOCOLS
        .iter()
        .copied()
        .filter(|p| only.is_none_or(|o| o == *p))
        .collect();
    if protocols.is_empty() {
        let _ = writeln!(
            err,
            "error: --protocol: expected one of {}",
            PROTOCOLS.join(", ")
        );
        return Exit::BadInput;
    }
    if !json {
        let _ = writeln!(
            out,
            "hunt: each row sweeps <protocol>/swarm from seed 1 for up to {budget_seconds} s or {seeds_max} seeds on {jobs} job(s); the sweep is not told which switch is on\n"
        );
        let _ = writeln!(
            out,
            "{:<6} {:<24} {:<6} {:>8} {:>9}  check (or false alarms)",
            "proto", "switch", "found", "seeds", "seconds"
        );
    }
    let mut missed_or_false = false;
    for proto in protocols {
        let name = format!("{proto}/swarm");
        if scenario::bundled(&name).is_none() {
            let _ = writeln!(err, "note: no {name} scenario: {proto} skipped");
            continue;
        }
        let mut rows: Vec<Option<String>> = vec![None];
        rows.extend(sweep::bug_switches(proto).into_iter().map(Some));
        for switch in rows {
            let set: Vec<String> = switch
                .iter()
                .map(|b| format!("protocol.params.bugs.{b}=true"))
                .collect();
            let scn = match read_scenario(&name, &set) {
                Ok(s) => s,
                Err(e) => {
                    let _ = writeln!(err, "error: {e}");
                    return Exit::BadInput;
                }
            };
            let started = std::time::Instant::now();
            let (mut next, mut chunk) = (1u64, 50u64);
            let mut first: Option<sweep::SeedFailure> = None;
            let mut failures = 0u64;
            let mut run = 0u64;
            while next <= seeds_max && started.elapsed().as_secs() < budget_seconds {
                let to = (next + chunk - 1).min(seeds_max);
                let seeds = SeedSet {
                    from: next,
                    to,
                    shard: (0, 1),
                };
                // With a switch on, stop at the first failure; with none, count them all.
                let limit = switch.is_some().then_some(1);
                let r = sweep::sweep(&scn, seeds, jobs, limit, &mut |_| {}, &mut |_| {});
                run += r.run;
                failures += r.failures.len() as u64;
                if first.is_none() {
                    first = r.failures.first().cloned();
                }
                if switch.is_some() && first.is_some() {
                    break;
                }
                next = to + 1;
                chunk = (chunk * 2).min(1000);
            }
            let secs = started.elapsed().as_secs_f64();
            let (found, detail) = match (&switch, &first) {
                (Some(_), Some(f)) => ("yes", format!("{} ({})", f.check, f.class)),
                (Some(_), None) => ("no", "-".to_string()),
                (None, _) => (
                    if failures == 0 { "-" } else { "ALARM" },
                    format!(
                        "{failures} false alarm(s) in {run} seeds{}",
                        first
                            .as_ref()
                            .map(|f| format!(", first seed {} {}", f.seed, f.check))
                            .unwrap_or_default()
                    ),
                ),
            };
            missed_or_false |= found == "no" || found == "ALARM";
            let seeds_to = match (&switch, &first) {
                (Some(_), Some(f)) => f.seed,
                _ => run,
            };
            let label = switch.clone().unwrap_or_else(|| "(none)".into());
            if json {
                let line = serde_json::json!({
                    "protocol": proto,
                    "switch": switch,
                    "found": found,
                    "seeds": seeds_to,
                    "seconds": (secs * 100.0).round() / 100.0,
                    "check": first.as_ref().map(|f| f.check.clone()),
                    "failures": failures,
                    "seeds_run": run,
                    "reproduce": first.as_ref().map(|f| replay_line(&name, f.seed, &set)),
                    "view": first.as_ref().map(|f| format!("{} --view seed{}.html", replay_line(&name, f.seed, &set), f.seed)),
                });
                let _ = writeln!(out, "{line}");
            } else {
                let _ = writeln!(
                    out,
                    "{proto:<6} {label:<24} {found:<6} {seeds_to:>8} {secs:>9.2}  {detail}"
                );
            }
        }
    }
    if missed_or_false {
        Exit::CheckFailed
    } else {
        Exit::Ok
    }
}

fn cmd_list(out: &mut dyn Write) -> Exit {
    let _ = writeln!(out, "Bundled scenarios (run with: faultline run NAME):");
    for name in scenario::bundled_names() {
        let description = scenario::bundled(name)
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .and_then(|v| {
                v.get("description")
                    .and_then(|d| d.as_str())
                    .map(String::from)
            })
            .unwrap_or_default();
        let first = description
            .split(". ")
            .next()
            .unwrap_or("")
            .trim_end_matches('.');
        let _ = writeln!(out, "  {name:<28} {first}");
    }
    let _ = writeln!(out, "\nProtocols: {}", PROTOCOLS.join(", "));
    let _ = writeln!(
        out,
        "\nNetwork presets (\"network\": {{\"preset\": NAME}}):"
    );
    for (name, what) in scenario::PRESETS {
        let _ = writeln!(out, "  {name:<12} {what}");
    }
    Exit::Ok
}

/// Parses `1500ms`, `1.5s`, `2s` or a bare number of microseconds.
pub fn parse_time(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Some(ms) = t.strip_suffix("ms") {
        return ms
            .trim()
            .parse::<u64>()
            .ok()
            .map(|v| v.saturating_mul(1_000));
    }
    if let Some(us) = t.strip_suffix("us") {
        return us.trim().parse().ok();
    }
    if let Some(s) = t.strip_suffix('s') {
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let whole: u64 = whole.parse().ok()?;
        let frac_us: u64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<6}").parse().ok()?
        };
        return whole.checked_mul(1_000_000)?.checked_add(frac_us);
    }
    t.parse().ok()
}

/// `faultline view TRACE [-o PAGE]`: the trace as one self-contained HTML page.
fn cmd_view(path: &Path, output: Option<&Path>, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let shown = path.display();
    let text = match std::fs::read(path) {
        Ok(b) => match String::from_utf8(b) {
            Ok(t) => t,
            Err(_) => {
                let _ = writeln!(err, "error: {shown}: not UTF-8 text");
                return Exit::BadInput;
            }
        },
        Err(e) => {
            let _ = writeln!(err, "error: {shown}: cannot read: {e}");
            return Exit::BadInput;
        }
    };
    let page = match crate::tools::view::page_from_text(&text) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "error: {shown}:{e}");
            return Exit::BadInput;
        }
    };
    let target = output.map_or_else(|| path.with_extension("html"), Path::to_path_buf);
    if target == path {
        let _ = writeln!(
            err,
            "error: {shown}: the page would overwrite the trace; name it with -o"
        );
        return Exit::BadInput;
    }
    if let Err(e) = write_whole(&target, &page) {
        let _ = writeln!(err, "error: {e}");
        return Exit::BadInput;
    }
    let _ = writeln!(out, "wrote {} ({} bytes)", target.display(), page.len());
    Exit::Ok
}

fn cmd_trace_show(
    path: &Path,
    node: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let shown = path.display().to_string();
    let parse = |s: Option<&str>, what: &str, default: u64| -> Result<u64, String> {
        match s {
            None => Ok(default),
            Some(s) => parse_time(s).ok_or_else(|| {
                format!(
                    "--{what} {s:?}: expected a time like 1500ms, 1.5s or 1500000 (microseconds)"
                )
            }),
        }
    };
    let (from, to) = match (parse(from, "from", 0), parse(to, "to", u64::MAX)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(err, "error: {shown}: cannot open: {e}");
            return Exit::BadInput;
        }
    };
    let _ = writeln!(
        out,
        "{:>8} {:>16} {:<5} {:<9} details",
        "step", "time", "where", "event"
    );
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let Ok(line) = line else {
            let _ = writeln!(err, "error: {shown}:{}: cannot read the line", i + 1);
            return Exit::BadInput;
        };
        let v: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                let _ = writeln!(
                    err,
                    "error: {shown}:{}:{}: not a JSON trace record: {e}",
                    i + 1,
                    e.column()
                );
                return Exit::BadInput;
            }
        };
        match v.get("ev").and_then(|e| e.as_str()) {
            Some("header") => {
                let _ = writeln!(
                    out,
                    "# trace of {} seed {} (faultline {})",
                    v["source"].as_str().unwrap_or("?"),
                    v["seed"],
                    v["version"].as_str().unwrap_or("?")
                );
                continue;
            }
            Some("summary") => {
                let verdict = v["verdict"]["verdict"].as_str().unwrap_or("?");
                let _ = writeln!(
                    out,
                    "# end: {verdict}, {} steps, fingerprint {}",
                    v["steps"],
                    v["fingerprint"].as_str().unwrap_or("?")
                );
                continue;
            }
            _ => {}
        }
        let t = v.get("t").and_then(|t| t.as_u64()).unwrap_or(0);
        if t < from || t > to {
            continue;
        }
        if let Some(n) = node {
            // Lines about no particular node (phase, check results) stay: they are context.
            let about = trace::line_endpoints(&v);
            if !about.is_empty() && !about.iter().any(|e| e == n) {
                continue;
            }
        }
        if let Some(text) = trace::format_line(&v) {
            if writeln!(out, "{text}").is_err() {
                return Exit::Ok; // stdout closed (e.g. piped into head)
            }
        }
    }
    Exit::Ok
}

/// Reads a whole trace for `export` and `explain`; errors name the file, line and column.
fn read_trace_doc(path: &Path, err: &mut dyn Write) -> Option<(String, TraceDoc)> {
    let shown = path.display();
    let text = match std::fs::read(path).map(String::from_utf8) {
        Ok(Ok(t)) => t,
        Ok(Err(_)) => {
            let _ = writeln!(err, "error: {shown}: not UTF-8 text");
            return None;
        }
        Err(e) => {
            let _ = writeln!(err, "error: {shown}: cannot open: {e}");
            return None;
        }
    };
    match TraceDoc::parse(&text) {
        Ok(doc) => Some((text, doc)),
        Err(e) => {
            let _ = writeln!(err, "error: {shown}:{e}");
            None
        }
    }
}

/// A record the export or narrative cannot read, as `FILE:LINE:1: message`: records are the
/// non-blank lines after the header, as `TraceDoc::parse` counts them.
fn record_error(path: &Path, text: &str, e: &RecordError, err: &mut dyn Write) {
    let line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .nth(e.record + 1)
        .map_or(0, |(i, _)| i + 1);
    let _ = writeln!(err, "error: {}:{line}:1: {}", path.display(), e.message);
}

fn cmd_export(
    path: &Path,
    format: &str,
    output: Option<&Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let Some(format) = export::Format::from_name(format) else {
        let _ = writeln!(
            err,
            "error: --format {format:?}: expected one of {}",
            export::Format::NAMES.join(", ")
        );
        return Exit::BadInput;
    };
    let Some((text, doc)) = read_trace_doc(path, err) else {
        return Exit::BadInput;
    };
    let result = match export::export(&doc, format) {
        Ok(r) => r,
        Err(e) => {
            record_error(path, &text, &e, err);
            return Exit::BadInput;
        }
    };
    if format == export::Format::Jepsen && result.is_empty() {
        let _ = writeln!(
            err,
            "note: {}: the run has no client operations; the history is empty",
            path.display()
        );
    }
    let written = match output {
        Some(o) => write_whole(o, &result),
        None => out.write_all(result.as_bytes()).map_err(|e| e.to_string()),
    };
    match written {
        Ok(()) => Exit::Ok,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            Exit::BadInput
        }
    }
}

fn cmd_explain(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let Some((text, doc)) = read_trace_doc(path, err) else {
        return Exit::BadInput;
    };
    match explain::explain(&doc, Some(&path.display().to_string())) {
        Ok(lines) => {
            for l in lines {
                if writeln!(out, "{l}").is_err() {
                    break; // stdout closed
                }
            }
            Exit::Ok
        }
        Err(e) => {
            record_error(path, &text, &e, err);
            Exit::BadInput
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("1500ms"), Some(1_500_000));
        assert_eq!(parse_time("1.5s"), Some(1_500_000));
        assert_eq!(parse_time("2s"), Some(2_000_000));
        assert_eq!(parse_time("17"), Some(17));
        assert_eq!(parse_time("1.1234567s"), None);
        assert_eq!(parse_time("abc"), None);
    }

    #[test]
    fn shards_come_from_kubernetes_or_slurm_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let k8s = vars(&[("JOB_COMPLETION_INDEX", "3")]);
        assert_eq!(shard_from_vars(k8s, Some(8)), Ok((3, 8)));
        assert!(
            shard_from_vars(k8s, None)
                .unwrap_err()
                .contains("--shard-count")
        );
        assert!(shard_from_vars(k8s, Some(3)).is_err(), "index 3 of 3");
        let slurm = vars(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
        ]);
        assert_eq!(shard_from_vars(slurm, None), Ok((4, 8)));
        assert!(
            shard_from_vars(vars(&[]), Some(2))
                .unwrap_err()
                .contains("neither")
        );
        let junk = vars(&[("JOB_COMPLETION_INDEX", "x")]);
        assert!(
            shard_from_vars(junk, Some(2))
                .unwrap_err()
                .contains("not a number")
        );
    }

    #[test]
    fn replay_lines_quote_what_needs_it() {
        assert_eq!(
            replay_line("ping/basic", 4, &["network.loss=0.1".into()]),
            "faultline run ping/basic --seed 4 --set network.loss=0.1"
        );
        assert_eq!(
            replay_line("my file.json", 1, &[]),
            "faultline run 'my file.json' --seed 1"
        );
    }
}
