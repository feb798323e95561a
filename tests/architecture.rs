//! The import rules of docs/architecture.md, checked: a protocol file imports only the
//! protocol API (`crate::protocol`), never the engine, network, storage, trace or the CLI; no
//! module but the CLI and the test harness touches the filesystem or the environment; and
//! only the CLI prints.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn protocols_import_only_the_protocol_api() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/protocols");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    assert!(files.len() >= 4);
    // A protocol's own tests (a `tests.rs` file, or code after `#[cfg(test)]`) may drive it
    // with the rest of the crate (the scripted driver, a simulation).
    for f in files
        .iter()
        .filter(|f| !f.ends_with("src/protocols/mod.rs") && !f.ends_with("tests.rs"))
    {
        let text = std::fs::read_to_string(f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (i, line) in code.lines().enumerate() {
            let l = line.trim_start();
            if l.contains("crate::") && !l.starts_with("//") {
                let ok = l
                    .split("crate::")
                    .skip(1)
                    .all(|rest| rest.starts_with("protocol") || rest.starts_with("kit"));
                assert!(
                    ok,
                    "{}:{}: a protocol may import only crate::protocol: {line}",
                    f.display(),
                    i + 1
                );
            }
            for banned in [
                "std::fs",
                "std::env",
                "std::time",
                "std::thread",
                "println!",
                "eprintln!",
            ] {
                assert!(
                    !l.contains(banned) || l.starts_with("//"),
                    "{}:{}: {banned} in a protocol",
                    f.display(),
                    i + 1
                );
            }
        }
    }
}

#[test]
fn only_the_cli_and_the_harness_touch_files_or_env_and_only_the_cli_prints() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let rel = f.strip_prefix(&dir).unwrap().to_str().unwrap();
        if rel.starts_with("cli/") || name == "main.rs" {
            continue;
        }
        // The test harness reads its FAULTLINE_* variables and writes failing seeds' traces;
        // it prints nothing.
        let allowed: &[&str] = if rel.starts_with("harness/") {
            &["std::fs", "std::env::var"]
        } else if rel == "trace/file.rs" {
            // The one trace-file writer, which the CLI and the harness share.
            &["std::fs"]
        } else {
            &[]
        };
        let text = std::fs::read_to_string(f).unwrap();
        // Test modules may print and use temp files; look at the code above them.
        let code = text.split("#[cfg(test)]").next().unwrap();
        for banned in [
            "std::fs",
            "std::env::var",
            "println!",
            "eprintln!",
            "std::io::stdout",
            "SystemTime",
            "Instant::now",
        ]
        .into_iter()
        .filter(|b| !allowed.contains(b))
        {
            assert!(!code.contains(banned), "{}: uses {banned}", f.display());
        }
    }
}

/// The example protocol is written as a crate user would: above its `main` (the demo and
/// the tests use the harness), it imports only `faultline::protocol`.
#[test]
fn the_example_protocol_uses_only_the_protocol_api() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gcounter.rs");
    let text = std::fs::read_to_string(&path).unwrap();
    let protocol = text.split("\nfn main()").next().unwrap();
    assert!(protocol.contains("impl Protocol for GCounter"));
    for (i, line) in protocol.lines().enumerate() {
        let l = line.trim_start();
        if l.starts_with("//") {
            continue;
        }
        assert!(
            l.split("faultline::")
                .skip(1)
                .all(|rest| rest.starts_with("protocol")),
            "{}:{}: the example protocol may import only faultline::protocol: {line}",
            path.display(),
            i + 1
        );
        for banned in [
            "std::fs",
            "std::env",
            "std::time",
            "std::thread",
            "println!",
        ] {
            assert!(
                !l.contains(banned),
                "{}:{}: {banned}",
                path.display(),
                i + 1
            );
        }
    }
}

/// A protocol's words live in its folder: no file in `src/` outside `src/protocols/`
/// (the tools' scripts and styles included, and test modules too) writes Raft's words as
/// string literals. The tools, the swarm and the engine read a protocol's vocabulary instead.
#[test]
fn no_protocol_words_outside_the_protocols() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    all_files(&src, &mut files);
    assert!(files.len() > 40);
    let words = ["role", "term", "commit", "leader", "candidate", "follower"];
    let mut found = Vec::new();
    for f in files
        .iter()
        .filter(|f| !f.starts_with(src.join("protocols")))
    {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            for w in words {
                for quoted in [format!("\"{w}\""), format!("'{w}'")] {
                    if line.contains(&quoted) {
                        found.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "protocol words outside src/protocols/:\n{}",
        found.join("\n")
    );
}

fn all_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            all_files(&p, out);
        } else {
            out.push(p);
        }
    }
}
