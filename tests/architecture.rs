//! The rules of docs/architecture.md, checked against the code. The rules are read from the
//! page itself (its "Import rules" and "Effects" tables), so the page and this test cannot
//! drift: a new module must get a row, a row for a module that is gone fails, and every
//! `crate::` path in a module's code must name a module its row allows.
//!
//! Code means what is built outside tests: a file named `tests.rs`, a file declared under
//! `#[cfg(test)]`, and everything after the first `#[cfg(test)]` in a file are test code,
//! which may use the whole crate (a protocol's tests drive it with the scripted driver).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every Rust file under `src/`, relative to it, with its non-test code.
fn sources() -> Vec<(String, String)> {
    let src = root().join("src");
    let mut files = Vec::new();
    files_under(&src, &mut files);
    let texts: BTreeMap<String, String> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|x| x == "rs"))
        .map(|f| {
            let rel = f.strip_prefix(&src).unwrap().to_str().unwrap().to_string();
            (rel, std::fs::read_to_string(f).unwrap())
        })
        .collect();
    // Files declared as test modules: `#[cfg(test)]` then `mod x;` in their parent.
    let mut test_files = BTreeSet::new();
    for (rel, text) in &texts {
        let dir = Path::new(rel).parent().unwrap();
        let own_dir = if rel.ends_with("mod.rs") || rel == "lib.rs" {
            dir.to_path_buf()
        } else {
            dir.join(Path::new(rel).file_stem().unwrap())
        };
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for w in lines.windows(2) {
            if w[0] == "#[cfg(test)]" {
                if let Some(name) = w[1]
                    .strip_prefix("mod ")
                    .or_else(|| w[1].strip_prefix("pub(crate) mod "))
                    .and_then(|x| x.strip_suffix(';'))
                {
                    for candidate in [
                        own_dir.join(format!("{name}.rs")),
                        own_dir.join(name).join("mod.rs"),
                    ] {
                        test_files.insert(candidate.to_str().unwrap().to_string());
                    }
                }
            }
        }
    }
    texts
        .into_iter()
        .filter(|(rel, _)| !rel.ends_with("/tests.rs") && !test_files.contains(rel))
        .map(|(rel, text)| {
            let code = text.split("#[cfg(test)]").next().unwrap().to_string();
            (rel, code)
        })
        .collect()
}

/// The module a source file belongs to, as the rules name it: the first path component
/// under `src/` (`world`, `sim`, `lib`), except that the protocols' folders are one module,
/// `protocols/*`, apart from the registry in `protocols/mod.rs`.
fn module_of(rel: &str) -> String {
    let mut parts = rel.split('/');
    let first = parts.next().unwrap().trim_end_matches(".rs").to_string();
    match (first.as_str(), parts.next()) {
        ("protocols", Some(second)) if second != "mod.rs" => "protocols/*".to_string(),
        _ => first,
    }
}

/// Lines of code, without comments (a `//` comment line, or the part of a line after `//`
/// outside a string; good enough for `use` lines and paths).
fn code_lines(code: &str) -> impl Iterator<Item = (usize, &str)> {
    code.lines().enumerate().filter_map(|(i, line)| {
        let l = line.trim_start();
        if l.starts_with("//") {
            return None;
        }
        let cut = match l.find("//") {
            Some(at) if !l[..at].contains('"') => &l[..at],
            _ => l,
        };
        Some((i + 1, cut))
    })
}

/// The rows of a rules table in docs/architecture.md: the table after the line
/// `<!-- rules: NAME -->`, as (first column, second column) with backticks kept.
fn rules_table(name: &str) -> Vec<(String, String)> {
    let page = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let marker = format!("<!-- rules: {name} -->");
    let after = page
        .split(&marker)
        .nth(1)
        .unwrap_or_else(|| panic!("docs/architecture.md has no `{marker}` table"));
    let rows: Vec<(String, String)> = after
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            (
                cells[0].to_string(),
                cells.get(1).unwrap_or(&"").to_string(),
            )
        })
        .collect();
    assert!(!rows.is_empty(), "the `{name}` table has no rows");
    rows
}

/// The backticked names in a cell: "`a`, `b`" gives a and b; "—" gives none.
fn names(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn every_module_imports_only_what_its_row_allows() {
    let rows = rules_table("imports");
    let mut allowed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, may) in &rows {
        let module = names(module);
        assert_eq!(module.len(), 1, "one module per row: {module:?}");
        allowed.insert(module[0].clone(), names(may).into_iter().collect());
    }
    let sources = sources();
    let on_disk: BTreeSet<String> = sources.iter().map(|(rel, _)| module_of(rel)).collect();
    let in_table: BTreeSet<String> = allowed.keys().cloned().collect();
    assert_eq!(
        on_disk, in_table,
        "the import table of docs/architecture.md must have one row per module under src/"
    );
    let mut wrong = Vec::new();
    for (rel, code) in &sources {
        let module = module_of(rel);
        let own = module.trim_end_matches("/*");
        let may = &allowed[&module];
        for (line, text) in code_lines(code) {
            assert!(
                !text.contains("crate::{"),
                "src/{rel}:{line}: write one `use crate::module::...` per module (the rules read paths)"
            );
            for path in text.split("crate::").skip(1) {
                let target: String = path
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let target = match target.as_str() {
                    "VERSION" | "GIT_COMMIT" => "lib".to_string(),
                    _ => target,
                };
                if target != own && !may.contains(&target) {
                    wrong.push(format!("src/{rel}:{line}: {module} imports {target}"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that docs/architecture.md does not allow (change the code, or the table and the reason for it):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_import_table_names_real_modules_and_keeps_the_registry_at_the_command_line() {
    let rows = rules_table("imports");
    let modules: BTreeSet<String> = rows.iter().flat_map(|(m, _)| names(m)).collect();
    for (module, may) in &rows {
        for target in names(may) {
            assert!(
                modules.contains(&target) || target == "lib",
                "{module} may import `{target}`, which is not a module of the table"
            );
        }
    }
    // The registry is consulted only at the command line.
    for (module, may) in &rows {
        if names(may).contains(&"protocols".to_string()) {
            assert!(
                ["`cli`", "`main`"].contains(&module.as_str()),
                "{module} may not import the registry (`protocols`): only the command line looks protocols up by name"
            );
        }
    }
}

#[test]
fn effects_happen_only_where_the_effects_table_allows() {
    // `what` columns: the effects a file may have, by the names below.
    let effects: &[(&str, &[&str])] = &[
        ("files", &["std::fs"]),
        ("environment", &["std::env::var"]),
        ("printing", &["println!", "eprintln!", "std::io::stdout"]),
        ("wall clock", &["SystemTime", "Instant::now"]),
        ("threads", &["std::thread"]),
        ("network", &["std::net", "tiny_http"]),
    ];
    let rows = rules_table("effects");
    let mut allowed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (place, what) in &rows {
        let place = names(place);
        assert_eq!(place.len(), 1, "one place per row: {place:?}");
        let what: BTreeSet<String> = what
            .split(',')
            .map(|w| w.trim().to_string())
            .filter(|w| !w.is_empty())
            .collect();
        for w in &what {
            assert!(
                effects.iter().any(|(name, _)| name == w),
                "unknown effect {w:?} in the effects table"
            );
        }
        allowed.insert(place[0].clone(), what);
    }
    let mut wrong = Vec::new();
    for (rel, code) in sources() {
        // A place is a file (`trace/file.rs`) or a folder (`cli/`), the most specific wins.
        let mut may = BTreeSet::new();
        for (place, what) in &allowed {
            if rel == *place || (place.ends_with('/') && rel.starts_with(place.as_str())) {
                may.extend(what.iter().cloned());
            }
        }
        for (name, patterns) in effects {
            if may.contains(*name) {
                continue;
            }
            for (line, text) in code_lines(&code) {
                for p in *patterns {
                    if text.contains(p) {
                        wrong.push(format!("src/{rel}:{line}: {name} ({p})"));
                    }
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "effects that docs/architecture.md does not allow:\n{}",
        wrong.join("\n")
    );
}

/// The example protocol is written as a crate user would: above its `main` (the demo and
/// the tests use the harness), it imports only the protocol API.
#[test]
fn the_example_protocol_uses_only_the_protocol_api() {
    let path = root().join("examples/gcounter.rs");
    let text = std::fs::read_to_string(&path).unwrap();
    let protocol = text.split("\nfn main()").next().unwrap();
    assert!(protocol.contains("impl Protocol for GCounter"));
    for (i, line) in code_lines(protocol) {
        assert!(
            line.split("faultline::")
                .skip(1)
                .all(|rest| rest.starts_with("protocol::") || rest.starts_with("protocol;")),
            "{}:{i}: the example protocol may import only faultline::protocol: {line}",
            path.display(),
        );
        for banned in [
            "std::fs",
            "std::env",
            "std::time",
            "std::thread",
            "println!",
        ] {
            assert!(!line.contains(banned), "{}:{i}: {banned}", path.display());
        }
    }
}

/// A protocol's words live in its folder: no file in `src/` outside `src/protocols/`
/// (the tools' scripts and styles included, and test modules too) writes Raft's words as
/// string literals. The tools, the swarm and the engine read a protocol's vocabulary instead.
#[test]
fn no_protocol_words_outside_the_protocols() {
    let src = root().join("src");
    let mut files = Vec::new();
    files_under(&src, &mut files);
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

/// The rules above would pass vacuously on an empty reading: check that they read code.
#[test]
fn the_rules_see_the_code() {
    let sources = sources();
    let modules: BTreeSet<String> = sources.iter().map(|(rel, _)| module_of(rel)).collect();
    for m in [
        "world",
        "sim",
        "protocols/*",
        "protocols",
        "check",
        "kit",
        "cli",
    ] {
        assert!(modules.contains(m), "{m} missing: {modules:?}");
    }
    // The protocols' own `mod.rs` files are read (not skipped as a registry).
    assert!(
        sources
            .iter()
            .any(|(rel, code)| rel == "protocols/raft/mod.rs" && code.contains("crate::protocol"))
    );
    // Test code is left out: ABD's scripted tests and the check library's test protocol.
    assert!(
        !sources
            .iter()
            .any(|(rel, _)| rel == "protocols/abd/tests.rs")
    );
    assert!(!sources.iter().any(|(rel, _)| rel == "check/library/toy.rs"));
    assert_eq!(module_of("protocols/mod.rs"), "protocols");
    assert_eq!(module_of("protocols/fd/checks.rs"), "protocols/*");
    assert_eq!(module_of("lib.rs"), "lib");
}

/// The viewer draws every protocol from the trace's vocabulary and published state: no file
/// under `src/tools/view/` (its Rust, page, script and style, tests included) names a bundled
/// protocol (as a whole word, in any case), a role value of one, or quotes one of the words
/// `no_protocol_words_outside_the_protocols` forbids.
#[test]
fn the_viewer_names_no_protocol() {
    let dir = root().join("src/tools/view");
    let mut files = Vec::new();
    files_under(&dir, &mut files);
    assert!(files.iter().any(|f| f.ends_with("viewer.js")), "{files:?}");
    let bundled: Vec<String> = std::fs::read_dir(root().join("src/protocols"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    assert!(bundled.len() >= 6, "{bundled:?}");
    let whole: Vec<String> = bundled
        .into_iter()
        .chain(["leader", "candidate", "follower"].map(String::from))
        .collect();
    let quoted = ["role", "term", "commit", "leader", "candidate", "follower"];
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let lower = line.to_ascii_lowercase();
            for w in &whole {
                let hit = lower.match_indices(w.as_str()).any(|(at, _)| {
                    !is_word(lower[..at].chars().next_back())
                        && !is_word(lower[at + w.len()..].chars().next())
                });
                if hit {
                    found.push(format!("{}:{}: {w}: {}", f.display(), i + 1, line.trim()));
                }
            }
            for w in quoted {
                if line.contains(&format!("\"{w}\"")) || line.contains(&format!("'{w}'")) {
                    found.push(format!("{}:{}: {w}: {}", f.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "protocol names or words in src/tools/view/:\n{}",
        found.join("\n")
    );
}
