//! `--set path=value` overrides: one field of a scenario's JSON changed before it is read,
//! as `faultline run --set` and the test harness's `set` do.
//!
//! Works on the JSON value only; the document is validated after every override is in.

use super::error::InputError;
use super::position::{Seg, parse_path};

/// Applies one `--set path=value` override to a scenario's JSON. The value is read as JSON
/// if it parses (`0.1`, `true`, `{"uniform": ...}`), else as a string (`n2`).
pub fn apply_override(json: &mut serde_json::Value, assignment: &str) -> Result<(), InputError> {
    let err = |m: String| InputError {
        file: "--set".into(),
        line: None,
        column: None,
        field: Some(assignment.to_string()),
        message: m,
    };
    let Some((path, raw)) = assignment.split_once('=') else {
        return Err(err("expected KEY=VALUE, e.g. --set network.loss=0.1".into()));
    };
    let value: serde_json::Value =
        serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.to_string()));
    let segs = parse_path(path);
    if segs.is_empty() {
        return Err(err("the key is empty".into()));
    }
    let mut cur = json;
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match seg {
            Seg::Key(k) => {
                let Some(obj) = cur.as_object_mut() else {
                    return Err(err(format!("`{k}` is not inside an object")));
                };
                if last {
                    obj.insert(k.clone(), value);
                    return Ok(());
                }
                cur = obj
                    .entry(k.clone())
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
            }
            Seg::Index(n) => {
                let Some(arr) = cur.as_array_mut() else {
                    return Err(err(format!("[{n}] is not inside a list")));
                };
                let len = arr.len();
                let Some(slot) = arr.get_mut(*n) else {
                    return Err(err(format!(
                        "index {n} is out of range (the list has {len} entries)"
                    )));
                };
                if last {
                    *slot = value;
                    return Ok(());
                }
                cur = slot;
            }
        }
    }
    Ok(())
}
