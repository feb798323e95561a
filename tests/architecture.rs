//! The import rules of docs/architecture.md, checked: a protocol file imports only the
//! protocol API (`crate::protocol`), never the engine, network, storage, trace or the CLI, and
//! no module outside the CLI and scenario loading touches the filesystem or the environment.

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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/protocol");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    assert!(files.len() >= 4);
    for f in files
        .iter()
        .filter(|f| !f.ends_with("mod.rs") && !f.ends_with("registry.rs"))
    {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let l = line.trim_start();
            if l.contains("crate::") && !l.starts_with("//") {
                let ok = l
                    .split("crate::")
                    .skip(1)
                    .all(|rest| rest.starts_with("protocol"));
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
fn only_the_cli_and_scenario_loading_touch_files_env_or_stdout() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        if ["cli.rs", "main.rs"].contains(&name) {
            continue;
        }
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
        ] {
            assert!(!code.contains(banned), "{}: uses {banned}", f.display());
        }
    }
}
