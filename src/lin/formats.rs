//! Reading histories recorded elsewhere: Jepsen's etcd logs, EDN histories (Jepsen's, and
//! Porcupine's key-value logs, which are EDN maps one per line), and faultline's own JSON
//! (one object per line, or an array of them). Text in, operations out; the caller reads the
//! file.
//!
//! Every format is a sequence of events (an invocation or a completion of some process); a
//! completion belongs to the last invocation of the same process. `ok` and `fail` complete an
//! operation; `info` leaves its outcome unknown (it stays open to the end of the history).
//! Times are the events' positions unless the format carries its own (faultline's `time`).
//!
//! What `fail` means is the format's own: in Jepsen's EDN histories the operation did not
//! happen ([`Outcome::NotApplied`]: a failed compare-and-set constrains nothing); in etcd logs
//! (as Porcupine reads them) and in faultline's histories it is an observed result
//! ([`Outcome::Fail`]: a failed compare-and-set saw another value).

use super::{Op, Outcome, Val};
use std::collections::BTreeMap;
use std::fmt;

/// A history file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `INFO  jepsen.util - 3 :invoke :cas [1 2]` lines (tab- or space-separated), as
    /// Jepsen's etcd test logs. `:fail :cas` means the compare did not match.
    EtcdLog,
    /// EDN operation maps, one per line or inside one list or vector: Jepsen histories and
    /// Porcupine's key-value logs (`{:process 0, :type :invoke, :f :get, :key "6", :value nil}`).
    /// `:fail` means the operation did not happen.
    Edn,
    /// faultline's JSON Lines: `{"process": 0, "type": "invoke", "f": "put", "key": "k1",
    /// "value": "x", "time": 1200}` (`time` in microseconds, optional).
    Jsonl,
    /// The same objects as [`Format::Jsonl`], inside one JSON array.
    Json,
}

impl Format {
    /// Names accepted by `--format`.
    pub const NAMES: &'static [&'static str] =
        &["etcd-log", "edn", "porcupine-kv", "jsonl", "json"];

    /// Looks a format up by name (`porcupine-kv` is EDN).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "etcd-log" | "jepsen-log" => Some(Format::EtcdLog),
            "edn" | "porcupine-kv" | "jepsen-edn" => Some(Format::Edn),
            "jsonl" => Some(Format::Jsonl),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// The format's name, as `--format` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Format::EtcdLog => "etcd-log",
            Format::Edn => "edn",
            Format::Jsonl => "jsonl",
            Format::Json => "json",
        }
    }

    /// The format in words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Format::EtcdLog => "a Jepsen etcd log",
            Format::Edn => "EDN",
            Format::Jsonl => "JSON Lines",
            Format::Json => "a JSON array of objects",
        }
    }

    /// The formats the text could be in, most likely first, judged from its first
    /// characters: empty when there is nothing but blanks. One candidate when the start
    /// settles it (`INFO`/`jepsen.util`, `{"`, `{:`, `(`, `;`); `[` could open a JSON array or
    /// an EDN vector; anything else is tried in every format.
    pub fn candidates(text: &str) -> Vec<Self> {
        let Some(line) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
            return Vec::new();
        };
        if line.starts_with("INFO") || line.contains("jepsen.util") {
            return vec![Format::EtcdLog];
        }
        // The first three characters that are not blanks or commas.
        let mut marks = text.chars().filter(|c| !c.is_whitespace() && *c != ',');
        let start = [marks.next(), marks.next(), marks.next()];
        match start {
            [Some('{'), Some('"'), _] => vec![Format::Jsonl],
            [Some('{'), Some(':'), _] | [Some('(' | ';' | '#'), ..] => vec![Format::Edn],
            [Some('['), Some('{'), Some(':')] => vec![Format::Edn, Format::Json],
            [Some('['), ..] => vec![Format::Json, Format::Edn],
            [Some('{'), ..] => vec![Format::Jsonl, Format::Edn],
            _ => vec![Format::EtcdLog, Format::Edn, Format::Jsonl, Format::Json],
        }
    }

    /// Guesses the format from the first characters: the most likely candidate, or `None`
    /// when the text does not start like any format (see [`Format::candidates`]).
    pub fn detect(text: &str) -> Option<Self> {
        match Self::candidates(text).as_slice() {
            [] => None,
            [one] => Some(*one),
            [first, _] => Some(*first),
            _ => None,
        }
    }
}

/// Why a history whose format was not given could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DetectError {
    /// Nothing but blanks.
    Empty,
    /// Every format tried, each with why it failed (most likely format first).
    Tried(Vec<(Format, ParseError)>),
}

impl fmt::Display for DetectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetectError::Empty => f.write_str("the file is empty: no operations to check"),
            DetectError::Tried(tried) if tried.len() == 1 => write!(f, "{}", tried[0].1),
            DetectError::Tried(tried) => {
                let names: Vec<&str> = tried.iter().map(|(fm, _)| fm.name()).collect();
                write!(
                    f,
                    "not a history in any format tried ({}); give --format to choose one",
                    names.join(", ")
                )?;
                for (format, e) in tried {
                    let at = match (e.line, e.col) {
                        (0, _) => String::new(),
                        (l, 0) => format!("line {l}: "),
                        (l, c) => format!("{l}:{c}: "),
                    };
                    write!(
                        f,
                        "\n  as {} ({}): {at}{}",
                        format.describe(),
                        format.name(),
                        e.message
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// Reads a history whose format is not given: every candidate format in turn (see
/// [`Format::candidates`]), the first that reads the whole text wins.
pub fn parse_detected(text: &str) -> Result<(Format, Vec<Op>), DetectError> {
    let candidates = Format::candidates(text);
    if candidates.is_empty() {
        return Err(DetectError::Empty);
    }
    let mut tried = Vec::new();
    for format in candidates {
        match parse(text, format) {
            Ok(ops) => return Ok((format, ops)),
            Err(e) => tried.push((format, e)),
        }
    }
    Err(DetectError::Tried(tried))
}

/// A history file that cannot be read: where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line (0: the file as a whole).
    pub line: usize,
    /// 1-based column (0: the line as a whole).
    pub col: usize,
    /// What was expected.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.col) {
            (0, _) => f.write_str(&self.message),
            (l, 0) => write!(f, "{l}: {}", self.message),
            (l, c) => write!(f, "{l}:{c}: {}", self.message),
        }
    }
}

fn err(line: usize, col: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        col,
        message: message.into(),
    }
}

/// What an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl Kind {
    fn from_name(s: &str) -> Option<Self> {
        match s {
            "invoke" => Some(Kind::Invoke),
            "ok" => Some(Kind::Ok),
            "fail" => Some(Kind::Fail),
            "info" => Some(Kind::Info),
            _ => None,
        }
    }
}

/// One event of a history file.
struct Event {
    process: u64,
    kind: Kind,
    f: String,
    key: Option<String>,
    value: Val,
    time: u64,
    line: usize,
}

/// What a format means by `fail`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FailMeans {
    /// An observed result ([`Outcome::Fail`]).
    Observed,
    /// The operation did not happen ([`Outcome::NotApplied`]).
    NotApplied,
}

/// Pairs invocations with completions into operations.
fn pair(events: Vec<Event>, fail: FailMeans) -> Result<Vec<Op>, ParseError> {
    let mut ops: Vec<Op> = Vec::new();
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    for e in events {
        match e.kind {
            Kind::Invoke => {
                open.insert(e.process, ops.len());
                ops.push(Op {
                    process: e.process,
                    f: e.f,
                    key: e.key,
                    value: e.value,
                    outcome: Outcome::Unknown,
                    call: e.time,
                    ret: None,
                    line: e.line,
                });
            }
            kind => {
                let Some(i) = open.remove(&e.process) else {
                    return Err(err(
                        e.line,
                        0,
                        format!(
                            "a completion of process {} with no open invocation before it",
                            e.process
                        ),
                    ));
                };
                let op = &mut ops[i];
                if op.f != e.f {
                    return Err(err(
                        e.line,
                        0,
                        format!(
                            "process {} completes :{} but invoked :{} (line {})",
                            e.process, e.f, op.f, op.line
                        ),
                    ));
                }
                match kind {
                    Kind::Ok => {
                        op.outcome = Outcome::Ok(e.value);
                        op.ret = Some(e.time);
                    }
                    Kind::Fail => {
                        op.outcome = match fail {
                            FailMeans::Observed => Outcome::Fail(e.value),
                            FailMeans::NotApplied => Outcome::NotApplied(e.value),
                        };
                        op.ret = Some(e.time);
                    }
                    Kind::Info | Kind::Invoke => {} // stays unknown, open to the end
                }
            }
        }
    }
    Ok(ops)
}

/// Reads a history in the given format. An EDN or JSON array history may be empty (no
/// operations: trivially linearizable); an etcd log or JSON Lines file with no events is an
/// error, as it is most often a recording that never started.
pub fn parse(text: &str, format: Format) -> Result<Vec<Op>, ParseError> {
    let (events, fail) = match format {
        Format::EtcdLog => (etcd_events(text)?, FailMeans::Observed),
        Format::Edn => (edn_events(text)?, FailMeans::NotApplied),
        Format::Jsonl => (jsonl_events(text)?, FailMeans::Observed),
        Format::Json => (json_array_events(text)?, FailMeans::Observed),
    };
    if events.is_empty() && matches!(format, Format::EtcdLog | Format::Jsonl) {
        return Err(err(
            0,
            0,
            if text.trim().is_empty() || format == Format::Jsonl {
                "the history is empty: no operations found"
            } else {
                "no `jepsen.util - PROCESS :TYPE :F VALUE` line found"
            },
        ));
    }
    pair(events, fail)
}

// ---- Jepsen etcd logs ----

fn etcd_events(text: &str) -> Result<Vec<Event>, ParseError> {
    let mut events = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let Some(at) = raw.find("jepsen.util") else {
            continue; // other loggers' lines carry no operations
        };
        let rest = raw[at + "jepsen.util".len()..].trim_start();
        let Some(rest) = rest.strip_prefix('-') else {
            return Err(err(
                line,
                at + 1,
                "expected `jepsen.util - PROCESS :TYPE :F VALUE`",
            ));
        };
        let mut fields = rest.split_whitespace();
        let col = |s: &str| s.as_ptr() as usize - raw.as_ptr() as usize + 1;
        let p = fields
            .next()
            .ok_or_else(|| err(line, 0, "expected a process number after `jepsen.util -`"))?;
        let process = p.parse::<u64>().map_err(|_| {
            err(
                line,
                col(p),
                format!("expected a process number, found `{p}`"),
            )
        })?;
        let t = fields
            .next()
            .ok_or_else(|| err(line, 0, "expected :invoke, :ok, :fail or :info"))?;
        let kind = t
            .strip_prefix(':')
            .and_then(Kind::from_name)
            .ok_or_else(|| {
                err(
                    line,
                    col(t),
                    format!("expected :invoke, :ok, :fail or :info, found `{t}`"),
                )
            })?;
        let f = fields
            .next()
            .ok_or_else(|| err(line, 0, "expected the operation (:read, :write or :cas)"))?;
        let fname = f.strip_prefix(':').ok_or_else(|| {
            err(
                line,
                col(f),
                format!("expected an operation like :read, found `{f}`"),
            )
        })?;
        let value_text: Vec<&str> = fields.collect();
        if value_text.is_empty() {
            return Err(err(
                line,
                0,
                "expected a value (nil, a number, [a b] or :timed-out)",
            ));
        }
        let joined = value_text.join(" ");
        let value = edn_value_text(&joined).map_err(|m| err(line, col(value_text[0]), m))?;
        events.push(Event {
            process,
            kind,
            f: fname.to_string(),
            key: None,
            value,
            time: events.len() as u64,
            line,
        });
    }
    Ok(events)
}

// ---- EDN ----

#[derive(Clone, Debug, PartialEq)]
enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Str(String),
    Keyword(String),
    Symbol(String),
    Vec(Vec<Edn>),
    Set(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
}

struct Reader<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
    line_start: usize,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Self {
        Reader {
            text: text.as_bytes(),
            pos: 0,
            line: 1,
            line_start: 0,
        }
    }

    fn here(&self) -> (usize, usize) {
        (self.line, self.pos - self.line_start + 1)
    }

    fn fail<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        let (l, c) = self.here();
        Err(err(l, c, message))
    }

    fn skip_space(&mut self) {
        while let Some(&b) = self.text.get(self.pos) {
            match b {
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    self.line_start = self.pos;
                }
                b' ' | b'\t' | b'\r' | b',' => self.pos += 1,
                b';' => {
                    while self.text.get(self.pos).is_some_and(|&c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.text.get(self.pos).copied()
    }

    fn value(&mut self) -> Result<Edn, ParseError> {
        let Some(b) = self.peek() else {
            return self.fail("expected a value, found the end of the file");
        };
        match b {
            b'#' if self.text.get(self.pos + 1) == Some(&b'{') => {
                self.pos += 2;
                let mut items = Vec::new();
                loop {
                    match self.peek() {
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Edn::Set(items));
                        }
                        None => return self.fail("expected `}` to close the set"),
                        _ => items.push(self.value()?),
                    }
                }
            }
            b'#' if self
                .text
                .get(self.pos + 1)
                .is_some_and(u8::is_ascii_alphabetic) =>
            {
                // A tagged value (`#inst "..."`, `#jepsen.history.Op{...}`): the tag is
                // only a type name here; the value is what counts.
                while self.text.get(self.pos).is_some_and(|&c| {
                    !matches!(
                        c,
                        b' ' | b'\t' | b'\r' | b'\n' | b',' | b'{' | b'[' | b'(' | b'"'
                    )
                }) {
                    self.pos += 1;
                }
                self.value()
            }
            b'{' => {
                self.pos += 1;
                let mut entries = Vec::new();
                loop {
                    match self.peek() {
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Edn::Map(entries));
                        }
                        None => return self.fail("expected `}` to close the map"),
                        _ => {}
                    }
                    let k = self.value()?;
                    if matches!(self.peek(), Some(b'}') | None) {
                        return self.fail("a map needs a value after each key");
                    }
                    let v = self.value()?;
                    entries.push((k, v));
                }
            }
            b'[' | b'(' => {
                let close = if b == b'[' { b']' } else { b')' };
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    match self.peek() {
                        Some(c) if c == close => {
                            self.pos += 1;
                            return Ok(Edn::Vec(items));
                        }
                        None => return self.fail(format!("expected `{}` to close", close as char)),
                        _ => items.push(self.value()?),
                    }
                }
            }
            b'"' => {
                self.pos += 1;
                let mut s = Vec::new();
                loop {
                    match self.text.get(self.pos) {
                        None => return self.fail("a string is not closed"),
                        Some(b'"') => {
                            self.pos += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let c = self.text.get(self.pos + 1).copied();
                            s.push(match c {
                                Some(b'n') => b'\n',
                                Some(b't') => b'\t',
                                Some(b'r') => b'\r',
                                Some(c @ (b'"' | b'\\')) => c,
                                _ => return self.fail("unknown escape in a string"),
                            });
                            self.pos += 2;
                        }
                        Some(b'\n') => return self.fail("a string runs past the end of its line"),
                        Some(&c) => {
                            s.push(c);
                            self.pos += 1;
                        }
                    }
                }
                String::from_utf8(s)
                    .map(Edn::Str)
                    .or_else(|_| self.fail("a string is not valid UTF-8"))
            }
            _ => {
                let start = self.pos;
                while self.text.get(self.pos).is_some_and(|&c| {
                    !matches!(
                        c,
                        b' ' | b'\t'
                            | b'\r'
                            | b'\n'
                            | b','
                            | b'{'
                            | b'}'
                            | b'['
                            | b']'
                            | b'('
                            | b')'
                            | b'"'
                            | b';'
                    )
                }) {
                    self.pos += 1;
                }
                if start == self.pos {
                    return self.fail(format!("unexpected `{}`", b as char));
                }
                let word = std::str::from_utf8(&self.text[start..self.pos]).unwrap_or("");
                Ok(atom(word))
            }
        }
    }
}

fn atom(word: &str) -> Edn {
    match word {
        "nil" => Edn::Nil,
        "true" => Edn::Bool(true),
        "false" => Edn::Bool(false),
        _ => {
            if let Some(k) = word.strip_prefix(':') {
                Edn::Keyword(k.to_string())
            } else if let Ok(i) = word.trim_end_matches('N').parse::<i64>() {
                Edn::Int(i)
            } else {
                Edn::Symbol(word.to_string())
            }
        }
    }
}

fn to_val(e: &Edn) -> Result<Val, String> {
    Ok(match e {
        Edn::Nil => Val::Nil,
        Edn::Bool(b) => Val::Str(b.to_string()),
        Edn::Int(i) => Val::Int(*i),
        Edn::Str(s) => Val::Str(s.clone()),
        Edn::Keyword(k) => Val::Str(format!(":{k}")),
        Edn::Symbol(s) => Val::Str(s.clone()),
        Edn::Vec(items) => Val::List(items.iter().map(to_val).collect::<Result<_, _>>()?),
        Edn::Set(items) => {
            // A set has no order: keep its members in the values' own order.
            let mut v: Vec<Val> = items.iter().map(to_val).collect::<Result<_, _>>()?;
            v.sort();
            v.dedup();
            Val::List(v)
        }
        Edn::Map(_) => return Err("a map is not a value a model can hold".into()),
    })
}

/// A value as the command line gives it (`--initial 0`, `nil`, `"text"`, `[1 2]`): EDN.
pub fn parse_value(text: &str) -> Result<Val, String> {
    edn_value_text(text)
}

/// One EDN value written out in a line (the etcd logs' last field).
fn edn_value_text(text: &str) -> Result<Val, String> {
    let mut r = Reader::new(text);
    let v = r.value().map_err(|e| e.message)?;
    if r.peek().is_some() {
        return Err(format!(
            "expected one value, found more after it in `{text}`"
        ));
    }
    to_val(&v)
}

fn edn_events(text: &str) -> Result<Vec<Event>, ParseError> {
    let mut r = Reader::new(text);
    let mut maps: Vec<(usize, usize, Edn)> = Vec::new();
    // The operations one after another, or all inside one vector `[...]` or list `(...)`.
    let close = match r.peek() {
        Some(b'[') => Some(b']'),
        Some(b'(') => Some(b')'),
        _ => None,
    };
    if close.is_some() {
        r.pos += 1;
    }
    loop {
        match r.peek() {
            None => match close {
                Some(c) => {
                    return r.fail(format!(
                        "expected `{}` to close the history, found the end of the file",
                        c as char
                    ));
                }
                None => break,
            },
            Some(c) if Some(c) == close => {
                r.pos += 1;
                if r.peek().is_some() {
                    return r.fail(format!(
                        "expected the end of the file after the history's `{}`",
                        c as char
                    ));
                }
                break;
            }
            Some(_) => {
                let (l, c) = (r.here().0, r.pos - r.line_start + 1);
                maps.push((l, c, r.value()?));
            }
        }
    }
    let mut events = Vec::new();
    for (line, col, m) in maps {
        let Edn::Map(entries) = m else {
            return Err(err(
                line,
                col,
                "expected an operation map like {:process 0, :type :invoke, :f :read, :value nil}",
            ));
        };
        let get = |name: &str| {
            entries
                .iter()
                .find(|(k, _)| *k == Edn::Keyword(name.to_string()))
                .map(|(_, v)| v)
        };
        let process = match get("process") {
            Some(Edn::Int(p)) if *p >= 0 => *p as u64,
            // Jepsen's nemesis and other non-client processes do no operations to check.
            Some(Edn::Keyword(_)) => continue,
            Some(other) => {
                return Err(err(
                    line,
                    col,
                    format!(":process must be a number, found {other:?}"),
                ));
            }
            None => return Err(err(line, col, "an operation needs :process")),
        };
        let kind = match get("type") {
            Some(Edn::Keyword(k)) => Kind::from_name(k).ok_or_else(|| {
                err(
                    line,
                    col,
                    format!(":type must be :invoke, :ok, :fail or :info, found :{k}"),
                )
            })?,
            _ => {
                return Err(err(
                    line,
                    col,
                    "an operation needs :type (:invoke, :ok, :fail or :info)",
                ));
            }
        };
        let f = match get("f") {
            Some(Edn::Keyword(k)) => k.clone(),
            _ => {
                return Err(err(
                    line,
                    col,
                    "an operation needs :f (a keyword such as :read)",
                ));
            }
        };
        let key = match get("key") {
            None | Some(Edn::Nil) => None,
            Some(Edn::Str(s)) => Some(s.clone()),
            Some(Edn::Int(i)) => Some(i.to_string()),
            Some(Edn::Keyword(k)) => Some(k.clone()),
            Some(other) => {
                return Err(err(
                    line,
                    col,
                    format!(":key must be a string or number, found {other:?}"),
                ));
            }
        };
        let value = match get("value") {
            None => Val::Nil,
            Some(v) => to_val(v).map_err(|m| err(line, col, m))?,
        };
        events.push(Event {
            process,
            kind,
            f,
            key,
            value,
            time: events.len() as u64,
            line,
        });
    }
    Ok(events)
}

// ---- faultline JSON Lines ----

fn json_val(v: &serde_json::Value) -> Result<Val, String> {
    Ok(match v {
        serde_json::Value::Null => Val::Nil,
        serde_json::Value::Bool(b) => Val::Str(b.to_string()),
        serde_json::Value::Number(n) => Val::Int(
            n.as_i64()
                .ok_or_else(|| format!("{n} is not a whole number"))?,
        ),
        serde_json::Value::String(s) => Val::Str(s.clone()),
        serde_json::Value::Array(items) => {
            Val::List(items.iter().map(json_val).collect::<Result<_, _>>()?)
        }
        serde_json::Value::Object(_) => {
            return Err("an object is not a value a model can hold".into());
        }
    })
}

/// Reads faultline's JSON events one at a time, checking what spans events (`time`).
#[derive(Default)]
struct JsonEvents {
    events: Vec<Event>,
    last_time: u64,
    timed: Option<bool>,
}

impl JsonEvents {
    /// Adds the event `v`, found at `line` (and `col`, 0 if unknown).
    fn push(&mut self, v: &serde_json::Value, line: usize, col: usize) -> Result<(), ParseError> {
        let obj = v.as_object().ok_or_else(|| {
            err(
                line,
                col,
                "expected an object like {\"process\": 0, \"type\": \"invoke\", ...}",
            )
        })?;
        let field = |name: &str| obj.get(name);
        let process = field("process")
            .and_then(|p| p.as_u64())
            .ok_or_else(|| err(line, col, "\"process\" must be a whole number"))?;
        let kind = field("type")
            .and_then(|t| t.as_str())
            .and_then(Kind::from_name)
            .ok_or_else(|| {
                err(
                    line,
                    col,
                    "\"type\" must be \"invoke\", \"ok\", \"fail\" or \"info\"",
                )
            })?;
        let f = field("f")
            .and_then(|f| f.as_str())
            .ok_or_else(|| err(line, col, "\"f\" must be a string such as \"get\""))?
            .to_string();
        let key = match field("key") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Number(k)) => Some(k.to_string()),
            Some(_) => return Err(err(line, col, "\"key\" must be a string or a number")),
        };
        let value = match field("value") {
            None => Val::Nil,
            Some(v) => json_val(v).map_err(|m| err(line, col, format!("\"value\": {m}")))?,
        };
        let has_time = field("time").is_some();
        if *self.timed.get_or_insert(has_time) != has_time {
            return Err(err(
                line,
                col,
                "\"time\" must be on every event or on none (positions and microseconds do not mix)",
            ));
        }
        let time = match field("time") {
            None => self.events.len() as u64,
            Some(t) => {
                let t = t.as_u64().ok_or_else(|| {
                    err(line, col, "\"time\" must be a whole number of microseconds")
                })?;
                if t < self.last_time {
                    return Err(err(
                        line,
                        col,
                        format!(
                            "\"time\" {t} goes back (the event before says {}); list events in time order",
                            self.last_time
                        ),
                    ));
                }
                t
            }
        };
        self.last_time = time;
        self.events.push(Event {
            process,
            kind,
            f,
            key,
            value,
            time,
            line,
        });
        Ok(())
    }
}

/// serde's message without its own "at line 1 column N" (the position is given apart).
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    text.split(" at line ").next().unwrap_or(&text).to_string()
}

fn jsonl_events(text: &str) -> Result<Vec<Event>, ParseError> {
    let mut events = JsonEvents::default();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| err(line, e.column(), format!("not JSON: {}", json_message(&e))))?;
        if v.is_array() {
            return Err(err(
                line,
                1,
                "expected one object per line, found an array (a JSON array history is `--format json`)",
            ));
        }
        events.push(&v, line, 0)?;
    }
    Ok(events.events)
}

/// Where each element of a JSON array that is known to be valid starts: (line, column),
/// 1-based. Only nesting and strings matter to find them.
fn element_starts(text: &str) -> Vec<(usize, usize)> {
    let mut starts = Vec::new();
    let (mut line, mut line_start) = (1usize, 0usize);
    let (mut depth, mut in_string, mut escaped, mut expect) = (0usize, false, false, false);
    for (i, c) in text.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if c == '\n' {
            line += 1;
            line_start = i + 1;
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        if expect && depth == 1 && c != ']' {
            starts.push((line, text[line_start..i].chars().count() + 1));
            expect = false;
        }
        match c {
            '"' => in_string = true,
            '[' | '{' => {
                depth += 1;
                expect = depth == 1;
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => expect = true,
            _ => {}
        }
    }
    starts
}

fn json_array_events(text: &str) -> Result<Vec<Event>, ParseError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        err(
            e.line(),
            e.column(),
            format!("not JSON: {}", json_message(&e)),
        )
    })?;
    let serde_json::Value::Array(items) = v else {
        return Err(err(
            1,
            1,
            "expected an array of operation objects like [{\"process\": 0, \"type\": \"invoke\", ...}]",
        ));
    };
    let starts = element_starts(text);
    let mut events = JsonEvents::default();
    for (i, item) in items.iter().enumerate() {
        let (line, col) = starts.get(i).copied().unwrap_or((0, 0));
        events.push(item, line, col)?;
    }
    Ok(events.events)
}

/// Writes a history as faultline JSON Lines (what [`Format::Jsonl`] reads back): one event
/// per line, invocations and completions in time order. An operation that did not happen
/// ([`Outcome::NotApplied`]) is left out: it constrains nothing, and JSON Lines' `fail` would
/// say more than it did.
pub fn to_jsonl(ops: &[Op]) -> String {
    let mut events: Vec<(u64, u8, usize)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if matches!(op.outcome, Outcome::NotApplied(_)) {
            continue;
        }
        events.push((op.call, 0, i));
        if let (Outcome::Ok(_) | Outcome::Fail(_), Some(t)) = (&op.outcome, op.ret) {
            events.push((t, 1, i));
        }
    }
    // Completions before invocations at equal times would claim an order the run did not
    // show; keep invocations first, as the checker reads ties.
    events.sort_by_key(|&(t, kind, i)| (t, kind, i));
    let mut out = String::new();
    for (t, kind, i) in events {
        let op = &ops[i];
        let (ty, value) = match (kind, &op.outcome) {
            (0, _) => ("invoke", &op.value),
            (_, Outcome::Ok(v)) => ("ok", v),
            (_, Outcome::Fail(v)) => ("fail", v),
            (_, Outcome::Unknown | Outcome::NotApplied(_)) => ("info", &op.value),
        };
        let mut line = serde_json::json!({"process": op.process, "type": ty, "f": op.f});
        if let Some(k) = &op.key {
            line["key"] = serde_json::json!(k);
        }
        line["value"] = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        line["time"] = serde_json::json!(t);
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}
