//! The command-line interface, one file per group of commands: `run`; `replay`; `validate`
//! and `check-history`; `sweep`, `merge` and `hunt`; `shrink`; `list`; the trace tools
//! `trace show`, `view`, `export` and `explain`; and `serve`, the playground's web server
//! (`serve/`). `io` holds what they share.
//!
//! The only place a protocol is looked up by the name a scenario gives (through the
//! registry, `crate::protocols`): each command that needs the protocol's type reads its
//! scenario and hands it to code generic over `P`. With the test harness and the trace
//! writer, the only module that touches files or the environment, and the only one that
//! prints. [`main`] takes the arguments and two writers and returns the exit code, so tests
//! can run every command in-process.

mod explore;
mod io;
mod list;
mod replay;
mod run;
mod serve;
mod shrink;
mod sweep;
mod trace;
mod validate;

pub use crate::scenario::replay_line;
pub use io::read_scenario;
pub use trace::parse_time;

use crate::lin;
use crate::sim::install_panic_capture;
use clap::{Parser, Subcommand};
use explore::{ExploreArgs, cmd_explore};
use list::cmd_list;
use replay::cmd_replay;
use run::{RunArgs, cmd_run};
use serve::{ServeArgs, cmd_serve};
use shrink::{ShrinkArgs, cmd_shrink};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use sweep::{Hunt, SweepArgs, cmd_hunt, cmd_merge, cmd_sweep};
use trace::{TraceCommand, cmd_explain, cmd_export, cmd_trace_show, cmd_view};
use validate::{HistoryOptions, cmd_check_history, cmd_validate};

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
    /// A check ran out of its budget before it could decide, or a replay of a `.partial`
    /// trace matched as far as it goes (without the end, it cannot say the run is identical).
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
    /// Explore every interleaving of a scenario within bounds (docs/explore.md); a violation
    /// is written out as a scripted scenario that `run` replays.
    Explore(ExploreArgs),
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
    /// key-value logs, faultline JSON Lines or a JSON array), or a transactional one (Jepsen
    /// :txn operations, list-append or read-write registers) for isolation anomalies.
    CheckHistory {
        /// The history file.
        file: PathBuf,
        /// etcd-log, edn (also porcupine-kv), jsonl or json; found from the content if absent.
        #[arg(long)]
        format: Option<String>,
        /// register, kv, mutex, set, unordered-queue, fifo-queue or multi-register; guessed
        /// from the operations if absent. list-append or rw-register read the history as
        /// transactions (:txn operations are read so without it) and check isolation.
        #[arg(long)]
        model: Option<String>,
        /// For transactional histories: the isolation level to judge against
        /// (read-committed, snapshot-isolation or serializable).
        #[arg(long, value_name = "LEVEL")]
        isolation: Option<String>,
        /// The value registers start with (register, multi-register): nil, a number, or a
        /// string; nil if absent.
        #[arg(long, value_name = "VALUE")]
        initial: Option<String>,
        /// Search steps allowed per key before the answer is "inconclusive".
        #[arg(long, default_value_t = lin::DEFAULT_BUDGET)]
        budget: u64,
        /// Wall-clock seconds the linearizability search may take (decimals allowed) before
        /// the answer is "inconclusive" (never a verdict); no limit if absent.
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
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
    /// The playground: a local web server (127.0.0.1 only) to run bundled scenarios, watch
    /// them in the viewer and re-run them with a fault added where you click
    /// (docs/playground.md).
    Serve(ServeArgs),
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
        Command::Explore(args) => cmd_explore(&args, out, err),
        Command::Replay { trace } => cmd_replay(&trace, out, err),
        Command::Validate { scenario, set } => cmd_validate(&scenario, &set, out, err),
        Command::CheckHistory {
            file,
            format,
            model,
            isolation,
            initial,
            budget,
            timeout,
            json,
        } => cmd_check_history(
            &file,
            &HistoryOptions {
                format: format.as_deref(),
                model: model.as_deref(),
                isolation: isolation.as_deref(),
                initial: initial.as_deref(),
                budget,
                timeout,
                json,
            },
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
            &Hunt {
                budget_seconds,
                seeds_max,
                jobs,
                only: protocol.as_deref(),
                json,
            },
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
        Command::Serve(args) => cmd_serve(&args, out, err),
    };
    exit as i32
}
