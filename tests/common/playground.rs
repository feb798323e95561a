//! A `faultline serve` started as the binary on a free port, for the tests that talk to it
//! (tests/serve.rs over plain HTTP, tests/browser.rs through Chromium), and a minimal HTTP
//! client on `std::net::TcpStream`. Included with `#[path]` where used.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running playground; the process is stopped when this is dropped.
pub struct Playground {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Playground {
    /// Starts `faultline serve --port 0 --dir DIR EXTRA...` and waits for its URL.
    pub fn start(dir: &Path, extra: &[&str]) -> Playground {
        let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["serve", "--port", "0", "--dir"])
            .arg(dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("faultline serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("faultline playground: http://")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
        Playground {
            child,
            addr: url.trim_end_matches('/').to_string(),
        }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Sends one request; returns the status, the headers (names lowercased) and the body.
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        let head = match body {
            Some(b) => format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ),
            None => String::new(),
        };
        let raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{head}\r\n{}",
            self.addr,
            body.unwrap_or("")
        );
        self.raw(raw.as_bytes())
    }

    /// Sends `bytes` as they are and reads the reply.
    pub fn raw(&self, bytes: &[u8]) -> Reply {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.write_all(bytes).unwrap();
        let mut all = Vec::new();
        // The server may answer before reading all of a refused body, and close.
        let _ = s.read_to_end(&mut all);
        Reply::parse(&all)
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &serde_json::Value) -> Reply {
        self.request("POST", path, Some(&body.to_string()))
    }
}

impl Drop for Playground {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP reply.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    fn parse(all: &[u8]) -> Reply {
        let split = all
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(all.len());
        let head = String::from_utf8_lossy(&all[..split]).to_string();
        let body = all.get(split + 4..).unwrap_or(&[]);
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_vec()
        };
        Reply {
            status,
            headers,
            body: String::from_utf8(body).expect("a UTF-8 body"),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&body[..eol]).to_string();
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        let rest = &body[eol + 2..];
        if n == 0 || rest.len() < n {
            break;
        }
        out.extend_from_slice(&rest[..n]);
        body = rest[n..].strip_prefix(b"\r\n").unwrap_or(&rest[n..]);
    }
    out
}
