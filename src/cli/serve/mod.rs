//! `faultline serve`: the playground, a local web server (docs/playground.md).
//!
//! It lists the bundled scenarios, runs one with a seed and overrides, shows the run in the
//! viewer (the page `faultline view` writes, in an iframe), and re-runs it with one more
//! fault (a what-if) at a point the user picks, then shows both verdicts and where the runs
//! depart. Every run's scenario can be downloaded and replayed with `faultline run`.
//!
//! The HTTP server is `tiny_http`: synchronous, small, no async runtime. Requests are read
//! on its threads and answered here, one at a time, on the thread that called [`cmd_serve`];
//! a run (or what-if) goes to a worker thread, and while it runs another run request is
//! answered 503 with `Retry-After`, so at most one simulation runs at a time. `play` holds
//! what a request does apart from HTTP.
//!
//! Safety: bound to 127.0.0.1 only, requests whose `Host` is not that address (or
//! `localhost`) are refused (a page elsewhere cannot reach it through DNS rebinding), POSTs
//! must be JSON (a cross-site form cannot send one), URLs and bodies are bounded, files are
//! read and written only under the served directory, and each run has a wall-clock, record
//! and byte budget.

mod play;

use super::Exit;
use super::io::bad;
use play::{Budget, Refusal, Run, Runs};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tiny_http::{Header, Method, Request, Response, Server};

/// The longest URL (path and query) accepted.
const URL_BYTES_MAX: usize = 8 * 1024;
/// The largest request body accepted.
const BODY_BYTES_MAX: usize = 64 * 1024;
/// The most `--set` overrides one run request may carry.
const OVERRIDES_MAX: usize = 64;
/// Runs kept in memory (each with its whole trace).
const RUNS_KEPT: usize = 32;

/// The playground's page; it fetches everything else from the endpoints.
const PAGE: &str = include_str!("page.html");

#[derive(clap::Args, Debug)]
pub(super) struct ServeArgs {
    /// The port on 127.0.0.1 (default: a free one the system picks; the URL is printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The directory served (default: the working directory): scenario files are read from
    /// under it, what-ifs saved under DIR/whatifs/, nothing outside it is read or written.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Wall-clock seconds one run may take before it is stopped.
    #[arg(long, default_value_t = 60)]
    run_seconds: u64,
    /// Trace records one run may write before it is stopped.
    #[arg(long, default_value_t = 2_000_000)]
    records_max: u64,
    /// Megabytes of trace one run may write before it is stopped (its viewer page is about
    /// as large); the runs kept in memory hold at most four times this together.
    #[arg(long, default_value_t = 256)]
    trace_mb: u64,
}

/// What every request handler shares.
struct Shared {
    /// The served directory, canonical.
    dir: PathBuf,
    port: u16,
    budget: Budget,
    runs: Mutex<Runs>,
    /// Whether a run is going on.
    busy: AtomicBool,
    /// The bundled scenarios, as the page lists them.
    scenarios: Value,
}

/// `faultline serve`: serves the playground until the process is stopped.
pub(super) fn cmd_serve(a: &ServeArgs, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let dir = a.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let dir = match dir.canonicalize() {
        Ok(d) if d.is_dir() => d,
        Ok(d) => return bad(err, format!("--dir {}: not a directory", d.display())),
        Err(e) => return bad(err, format!("--dir {}: {e}", dir.display())),
    };
    if a.run_seconds == 0 || a.records_max == 0 || a.trace_mb == 0 {
        return bad(
            err,
            "--run-seconds, --records-max and --trace-mb must be at least 1",
        );
    }
    let server = match Server::http(("127.0.0.1", a.port)) {
        Ok(s) => s,
        Err(e) => return bad(err, format!("cannot listen on 127.0.0.1:{}: {e}", a.port)),
    };
    let port = server.server_addr().to_ip().map_or(a.port, |s| s.port());
    let bytes = a.trace_mb.saturating_mul(1024 * 1024);
    let shared = Arc::new(Shared {
        dir,
        port,
        budget: Budget {
            seconds: a.run_seconds,
            records: a.records_max,
            bytes,
        },
        runs: Mutex::new(Runs::new(RUNS_KEPT, bytes.saturating_mul(4))),
        busy: AtomicBool::new(false),
        scenarios: scenario_list(),
    });
    let _ = writeln!(out, "faultline playground: http://127.0.0.1:{port}/");
    let _ = writeln!(out, "serving {}", shared.dir.display());
    let _ = out.flush();
    for request in server.incoming_requests() {
        // A panic while answering (a bug here) drops the request, which tiny_http answers
        // 500, and the server goes on.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handle(&shared, request);
        }));
    }
    Exit::Ok
}

/// The bundled scenarios: name, protocol, nodes and description.
fn scenario_list() -> Value {
    let list: Vec<Value> = crate::scenario::bundled_names()
        .into_iter()
        .map(|name| {
            let v: Value = crate::scenario::bundled(name)
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or(Value::Null);
            json!({
                "name": name,
                "protocol": v["protocol"]["name"],
                "nodes": v["nodes"],
                "description": v["description"],
                "seed": v.get("seed").cloned().unwrap_or(1.into()),
            })
        })
        .collect();
    Value::Array(list)
}

/// The paths the server answers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Route {
    Page,
    Scenarios,
    Run,
    WhatIf,
    Info(u64),
    View(u64),
    Download(u64),
    Trace(u64),
}

impl Route {
    fn of(path: &str) -> Option<Route> {
        let id = |s: &str| s.parse::<u64>().ok();
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        Some(match parts.as_slice() {
            [""] => Route::Page,
            ["api", "scenarios"] => Route::Scenarios,
            ["api", "run"] => Route::Run,
            ["api", "whatif"] => Route::WhatIf,
            ["api", "runs", n] => Route::Info(id(n)?),
            ["api", "runs", n, "scenario.json"] => Route::Download(id(n)?),
            ["api", "runs", n, "trace.jsonl"] => Route::Trace(id(n)?),
            ["view", n] => Route::View(id(n)?),
            _ => return None,
        })
    }

    fn method(self) -> Method {
        match self {
            Route::Run | Route::WhatIf => Method::Post,
            _ => Method::Get,
        }
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes())
        .expect("header names and values are ASCII")
}

type Answer = Response<std::io::Cursor<Vec<u8>>>;

fn json_answer(status: u16, v: &Value) -> Answer {
    Response::from_string(v.to_string())
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json"))
}

fn refusal(r: &Refusal) -> Answer {
    json_answer(r.status, &json!({"error": r.message}))
}

fn respond<R: Read>(request: Request, answer: Response<R>) {
    let answer = answer
        .with_header(header("X-Content-Type-Options", "nosniff"))
        .with_header(header("Cache-Control", "no-store"));
    // The client may have gone; nothing to do then.
    let _ = request.respond(answer);
}

fn handle(shared: &Arc<Shared>, mut request: Request) {
    let url = request.url().to_string();
    if url.len() > URL_BYTES_MAX {
        let r = Refusal {
            status: 414,
            message: format!("the URL is longer than {URL_BYTES_MAX} bytes"),
        };
        return respond(request, refusal(&r));
    }
    if !host_ok(&request, shared.port) {
        let r = Refusal {
            status: 403,
            message: "the Host header must be 127.0.0.1 or localhost with this port".into(),
        };
        return respond(request, refusal(&r));
    }
    let path = url.split(['?', '#']).next().unwrap_or("");
    let Some(route) = Route::of(path) else {
        let r = Refusal {
            status: 404,
            message: format!("no such page: {path}"),
        };
        return respond(request, refusal(&r));
    };
    let method = request.method().clone();
    if method != route.method() {
        let allowed = route.method().to_string();
        let r = Refusal {
            status: 405,
            message: format!("{path} answers {allowed} only"),
        };
        return respond(request, refusal(&r).with_header(header("Allow", &allowed)));
    }
    let answer = match route {
        Route::Page => Ok(Response::from_string(PAGE)
            .with_header(header("Content-Type", "text/html; charset=utf-8"))),
        Route::Scenarios => Ok(json_answer(200, &shared.scenarios)),
        Route::Info(id) => kept(shared, id).map(|r| json_answer(200, &run_json(&r))),
        Route::View(id) => kept(shared, id).and_then(|r| view_page(&r)),
        Route::Download(id) => kept(shared, id).map(|r| download(&r)),
        Route::Trace(id) => {
            // Served from the kept text, not a copy of it.
            let answer = kept(shared, id).map(|r| {
                let len = r.trace.len();
                let body = std::io::Cursor::new(SharedText(r.trace.clone()));
                Response::new(200.into(), Vec::new(), body, Some(len), None)
                    .with_header(header("Content-Type", "application/x-ndjson"))
            });
            return match answer {
                Ok(a) => respond(request, a),
                Err(r) => respond(request, refusal(&r)),
            };
        }
        Route::Run | Route::WhatIf => {
            let body = match read_body(&mut request) {
                Ok(b) => b,
                Err(r) => return respond(request, refusal(&r)),
            };
            return start_run(shared, request, route, body);
        }
    };
    match answer {
        Ok(a) => respond(request, a),
        Err(r) => respond(request, refusal(&r)),
    }
}

/// A kept run's text as bytes to read from.
struct SharedText(Arc<String>);

impl AsRef<[u8]> for SharedText {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Whether the request's `Host` names this server (127.0.0.1 or localhost, this port).
fn host_ok(request: &Request, port: u16) -> bool {
    let host = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Host"))
        .map(|h| h.value.as_str().to_string());
    match host {
        Some(h) => [format!("127.0.0.1:{port}"), format!("localhost:{port}")].contains(&h),
        None => false,
    }
}

fn kept(shared: &Shared, id: u64) -> Result<Arc<Run>, Refusal> {
    shared
        .runs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(id)
}

/// A POST's body as JSON: at most [`BODY_BYTES_MAX`] bytes, sent as `application/json`.
fn read_body(request: &mut Request) -> Result<Value, Refusal> {
    let json_type = request
        .headers()
        .iter()
        .any(|h| h.field.equiv("Content-Type") && h.value.as_str().starts_with("application/json"));
    if !json_type {
        return Err(Refusal {
            status: 415,
            message: "send the request as Content-Type: application/json".into(),
        });
    }
    let too_large = || Refusal {
        status: 413,
        message: format!("the request body is larger than {BODY_BYTES_MAX} bytes"),
    };
    if request.body_length().is_some_and(|n| n > BODY_BYTES_MAX) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    request
        .as_reader()
        .take(BODY_BYTES_MAX as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| Refusal::bad(format!("cannot read the request body: {e}")))?;
    if body.len() > BODY_BYTES_MAX {
        return Err(too_large());
    }
    serde_json::from_slice(&body)
        .map_err(|e| Refusal::bad(format!("the request body is not JSON: {e}")))
}

/// Starts a run or what-if on a worker thread, or answers 503 if one is going on.
fn start_run(shared: &Arc<Shared>, request: Request, route: Route, body: Value) {
    if shared.busy.swap(true, Ordering::SeqCst) {
        let r = Refusal {
            status: 503,
            message: "a run is going on; the playground runs one at a time: try again shortly"
                .into(),
        };
        return respond(request, refusal(&r).with_header(header("Retry-After", "1")));
    }
    let worker = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("faultline-run".into())
        .spawn(move || {
            let shared = worker;
            let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match route {
                Route::WhatIf => what_if(&shared, &body),
                _ => fresh_run(&shared, &body),
            }));
            let answer = match done {
                Ok(Ok(v)) => json_answer(200, &v),
                Ok(Err(r)) => refusal(&r),
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "a panic".into());
                    refusal(&Refusal {
                        status: 500,
                        message: format!("the run panicked: {what}"),
                    })
                }
            };
            shared.busy.store(false, Ordering::SeqCst);
            respond(request, answer);
        });
    // Without a thread the request is dropped (tiny_http answers 500) and the simulator is free.
    if spawned.is_err() {
        shared.busy.store(false, Ordering::SeqCst);
    }
}

/// The fields of `body`, refusing any other.
fn fields<'a>(
    body: &'a Value,
    allowed: &[&str],
) -> Result<&'a serde_json::Map<String, Value>, Refusal> {
    let obj = body
        .as_object()
        .ok_or_else(|| Refusal::bad("the request body must be a JSON object"))?;
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Refusal::bad(format!(
            "unknown field {k:?}; expected: {}",
            allowed.join(", ")
        )));
    }
    Ok(obj)
}

/// `POST /api/run`: `{"scenario": NAME, "seed": N, "set": ["KEY=VALUE", ...]}`.
fn fresh_run(shared: &Shared, body: &Value) -> Result<Value, Refusal> {
    let obj = fields(body, &["scenario", "seed", "set"])?;
    let name = obj
        .get("scenario")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 1024)
        .ok_or_else(|| {
            Refusal::bad("scenario: expected the name of a bundled scenario or a file under the served directory")
        })?;
    let seed = match obj.get("seed") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            Refusal::bad(format!("seed: expected an integer 0 ..= 2^64-1, got {v}"))
        })?),
    };
    let set: Vec<String> = match obj.get("set") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) if items.len() <= OVERRIDES_MAX => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| Refusal::bad("set: expected strings KEY=VALUE"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(Refusal::bad(format!(
                "set: expected a list of at most {OVERRIDES_MAX} strings KEY=VALUE"
            )));
        }
    };
    let text = play::scenario_text(&shared.dir, name)?;
    let doc = play::load(name, &text, &set)?;
    let made = play::run(doc, seed, &set, &shared.budget)?;
    let id = next_id(shared);
    let label = if set.is_empty() {
        name.to_string()
    } else {
        format!("{name} --set {}", set.join(" --set "))
    };
    let run = keep(shared, id, None, label, made, None);
    Ok(run_json(&run))
}

/// `POST /api/whatif`: `{"base": RUN, "fault": {...a faults entry...}}`: the base run's
/// scenario with the fault added, run with the same seed, and where it departs.
fn what_if(shared: &Shared, body: &Value) -> Result<Value, Refusal> {
    let obj = fields(body, &["base", "fault"])?;
    let base = obj
        .get("base")
        .and_then(Value::as_u64)
        .ok_or_else(|| Refusal::bad("base: expected the id of a run"))?;
    let fault = obj.get("fault").ok_or_else(|| {
        Refusal::bad("fault: expected a faults entry, e.g. {\"at_ms\": 1200, \"crash\": \"n2\"}")
    })?;
    let base = kept(shared, base)?;
    let scenario = play::with_fault(&base.scenario, fault, base.heal_us)?;
    let id = next_id(shared);
    // The what-if is named after the file it is saved as, so that the replay line its
    // trace and page show works from the served directory.
    let name = file_name(shared, id, base.seed);
    let text = serde_json::to_string_pretty(&scenario).expect("JSON values print");
    // Errors name the field, not a place in a file that was never written.
    let unnamed = |e: crate::scenario::InputError| {
        let field = e.field.map_or(String::new(), |f| format!("{f}: "));
        Refusal::bad(format!("the what-if's scenario: {field}{}", e.message))
    };
    let doc = crate::scenario::Document::load(&name, &text, &[]).map_err(unnamed)?;
    let made = match play::run(doc, Some(base.seed), &[], &shared.budget) {
        // `NAME:LINE:COL: field: message` as the field and message.
        Err(r) if r.status == 400 => {
            let rest = r.message.strip_prefix(name.as_str()).unwrap_or(&r.message);
            let rest = rest.split_once(": ").map_or(rest, |(_, m)| m);
            Err(Refusal::bad(format!("the what-if's scenario: {rest}")))
        }
        other => other,
    }?;
    let departure = play::departure(&base.trace, &made.trace);
    let label = format!("run {} + {fault}", base.id);
    let saved = save(shared, &name, &made);
    let run = keep(shared, id, Some(base.id), label, made, saved);
    let mut v = run_json(&run);
    v["departure"] = departure;
    v["before"] = run_json(&base);
    Ok(v)
}

fn next_id(shared: &Shared) -> u64 {
    shared
        .runs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take_id()
}

fn keep(
    shared: &Shared,
    id: u64,
    parent: Option<u64>,
    label: String,
    made: play::Made,
    saved: Option<String>,
) -> Arc<Run> {
    let mut runs = shared.runs.lock().unwrap_or_else(|p| p.into_inner());
    runs.add(Run {
        id,
        parent,
        label,
        seed: made.seed,
        scenario: made.scenario,
        heal_us: made.heal_us,
        trace: Arc::new(made.trace),
        info: made.info,
        saved,
    })
}

/// The name what-if `id` is saved as, relative to the served directory:
/// `whatifs/whatif-ID-seedN.json`, or with a suffix (`-2`, ...) if that file is there
/// already (from an earlier session: run ids start at 1 each time).
fn file_name(shared: &Shared, id: u64, seed: u64) -> String {
    let name = |k: u32| match k {
        1 => format!("whatifs/whatif-{id}-seed{seed}.json"),
        k => format!("whatifs/whatif-{id}-seed{seed}-{k}.json"),
    };
    (1..100)
        .map(name)
        .find(|rel| !shared.dir.join(rel).exists())
        .unwrap_or_else(|| name(100))
}

/// Saves a what-if's scenario as `rel` under the served directory, never over a file
/// already there nor through a link that leads outside; returns `rel` if it was written,
/// `None` if not (the run is still shown and can be downloaded).
fn save(shared: &Shared, rel: &str, made: &play::Made) -> Option<String> {
    let text = serde_json::to_string_pretty(&made.scenario).ok()? + "\n";
    let folder = play::inside(&shared.dir, "whatifs").ok()?;
    std::fs::create_dir_all(&folder).ok()?;
    // Checked again once the folder exists: it may be a link.
    let path = play::inside(&shared.dir, rel).ok()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .ok()?;
    file.write_all(text.as_bytes()).ok()?;
    Some(rel.to_string())
}

/// What the page is told about a run.
fn run_json(run: &Run) -> Value {
    let mut v = run.info.clone();
    v["id"] = run.id.into();
    v["parent"] = run.parent.map_or(Value::Null, Value::from);
    v["label"] = run.label.clone().into();
    v["saved"] = run.saved.clone().map_or(Value::Null, Value::from);
    v["view"] = format!("/view/{}", run.id).into();
    v["download"] = format!("/api/runs/{}/scenario.json", run.id).into();
    v["trace"] = format!("/api/runs/{}/trace.jsonl", run.id).into();
    v
}

/// The viewer page of a kept run, as `faultline view` writes it.
fn view_page(run: &Run) -> Result<Answer, Refusal> {
    let page = crate::tools::view::page_from_text(&run.trace).map_err(|e| Refusal {
        status: 500,
        message: format!("the run's trace did not read back: {e}"),
    })?;
    Ok(Response::from_string(page).with_header(header("Content-Type", "text/html; charset=utf-8")))
}

/// The run's scenario as a file to download: `faultline run FILE` replays the run.
fn download(run: &Run) -> Answer {
    let text = serde_json::to_string_pretty(&run.scenario).expect("JSON values print") + "\n";
    let name = match run.parent {
        Some(_) => format!("whatif-{}-seed{}.json", run.id, run.seed),
        None => format!("run-{}-seed{}.json", run.id, run.seed),
    };
    Response::from_string(text)
        .with_header(header("Content-Type", "application/json"))
        .with_header(header(
            "Content-Disposition",
            &format!("attachment; filename=\"{name}\""),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(Route::of("/"), Some(Route::Page));
        assert_eq!(
            Route::of("/api/runs/7/scenario.json"),
            Some(Route::Download(7))
        );
        assert_eq!(Route::of("/view/3"), Some(Route::View(3)));
        for p in [
            "/x",
            "/view/",
            "/view/a",
            "/api/runs/1/x",
            "//",
            "/api/run/",
        ] {
            assert_eq!(Route::of(p), None, "{p}");
        }
    }
}
