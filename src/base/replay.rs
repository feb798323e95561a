//! The one line that reruns a run: `faultline run SOURCE --seed S --set ...`, quoted for a
//! POSIX shell. The CLI prints it, the sweep and the harness offer it, and a trace's summary
//! carries it (so `faultline replay` compares it too).
/// Quotes `s` for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The one line that replays a run.
pub fn replay_line(source: &str, seed: u64, overrides: &[String]) -> String {
    let mut line = format!("faultline run {} --seed {seed}", shell_quote(source));
    for o in overrides {
        line.push_str(&format!(" --set {}", shell_quote(o)));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

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
