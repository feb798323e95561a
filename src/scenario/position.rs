//! Field paths in JSON text: `faults[2].crash` split into keys and indices, and found in a
//! document's text by a small scan, so an error can name its line and column.
//!
//! Works on the text alone (no parse tree keeps positions). Must not read files.

/// A path into a JSON document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    /// An object's key.
    Key(String),
    /// A list's index.
    Index(usize),
}

/// Splits `a.b[2].c` into its keys and indices.
pub(crate) fn parse_path(path: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                segs.push(Seg::Key(rest[..i].to_string()));
            }
            rest = &rest[i..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(end) = stripped.find(']') else { break };
                if let Ok(n) = stripped[..end].parse() {
                    segs.push(Seg::Index(n));
                }
                rest = &stripped[end + 1..];
            }
        } else if !rest.is_empty() {
            segs.push(Seg::Key(rest.to_string()));
        }
    }
    segs
}

/// Finds the line and column of the value at `path` in JSON `text`, by a small scan that
/// follows the path. Returns `None` if the text is not well-formed there or the path is absent.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let segs = parse_path(path);
    let bytes = text.as_bytes();
    let mut pos = 0;
    for seg in &segs {
        skip_ws(bytes, &mut pos);
        match seg {
            Seg::Key(k) => {
                if bytes.get(pos) != Some(&b'{') {
                    return None;
                }
                pos += 1;
                loop {
                    skip_ws(bytes, &mut pos);
                    if bytes.get(pos) == Some(&b'}') {
                        return None;
                    }
                    let key = read_string(bytes, &mut pos)?;
                    skip_ws(bytes, &mut pos);
                    if bytes.get(pos) != Some(&b':') {
                        return None;
                    }
                    pos += 1;
                    skip_ws(bytes, &mut pos);
                    if key == *k {
                        break;
                    }
                    skip_value(bytes, &mut pos)?;
                    skip_ws(bytes, &mut pos);
                    if bytes.get(pos) == Some(&b',') {
                        pos += 1;
                    }
                }
            }
            Seg::Index(i) => {
                if bytes.get(pos) != Some(&b'[') {
                    return None;
                }
                pos += 1;
                for _ in 0..*i {
                    skip_ws(bytes, &mut pos);
                    skip_value(bytes, &mut pos)?;
                    skip_ws(bytes, &mut pos);
                    if bytes.get(pos) != Some(&b',') {
                        return None;
                    }
                    pos += 1;
                }
                skip_ws(bytes, &mut pos);
            }
        }
    }
    skip_ws(bytes, &mut pos);
    let before = &text[..pos.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    Some((line, column))
}

fn skip_ws(b: &[u8], pos: &mut usize) {
    while matches!(b.get(*pos), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        *pos += 1;
    }
}

fn read_string(b: &[u8], pos: &mut usize) -> Option<String> {
    if b.get(*pos) != Some(&b'"') {
        return None;
    }
    let start = *pos;
    *pos += 1;
    while let Some(&c) = b.get(*pos) {
        *pos += 1;
        match c {
            b'\\' => *pos += 1,
            b'"' => {
                let raw = std::str::from_utf8(&b[start..*pos]).ok()?;
                return serde_json::from_str(raw).ok();
            }
            _ => {}
        }
    }
    None
}

fn skip_value(b: &[u8], pos: &mut usize) -> Option<()> {
    skip_ws(b, pos);
    match b.get(*pos)? {
        b'"' => read_string(b, pos).map(|_| ()),
        b'{' | b'[' => {
            let mut depth = 0usize;
            while let Some(&c) = b.get(*pos) {
                match c {
                    b'"' => {
                        read_string(b, pos)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            *pos += 1;
                            return Some(());
                        }
                    }
                    _ => {}
                }
                *pos += 1;
            }
            None
        }
        _ => {
            while let Some(&c) = b.get(*pos) {
                if matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                    break;
                }
                *pos += 1;
            }
            Some(())
        }
    }
}
