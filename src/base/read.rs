//! Bounded reading: a whole input up to a cap, and lines up to a length, from any reader.
//!
//! Every input faultline reads (scenarios, traces, histories, sweep reports) goes through
//! one of these, so no input can make it hold more than its cap: a read stops one byte past
//! the cap instead of reading on and checking the size afterwards, which is what keeps
//! `/dev/zero`, `/dev/urandom` or an endless pipe from exhausting memory. Opening files is
//! the caller's business (the CLI and the harness, see docs/architecture.md); this module
//! sees only `Read` and `BufRead`.

use std::fmt;
use std::io::{BufRead, Read};

/// Why a bounded read stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The input holds more than `max` bytes (it may never end).
    TooLarge {
        /// The cap, in bytes.
        max: u64,
    },
    /// Line `line` (1-based) is longer than `max` bytes.
    LineTooLong {
        /// The line's number.
        line: usize,
        /// The cap, in bytes.
        max: usize,
    },
    /// Line `line` (1-based; 0 for a whole read) is not UTF-8 text.
    NotUtf8 {
        /// The line's number, or 0 for a whole read.
        line: usize,
    },
    /// The reader failed.
    Io(std::io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::TooLarge { max } => write!(
                f,
                "more than {} bytes (the most this input may hold); a device or pipe that never ends is refused too",
                max
            ),
            ReadError::LineTooLong { line, max } => {
                write!(
                    f,
                    "line {line} is longer than {max} bytes (the most a line may hold)"
                )
            }
            ReadError::NotUtf8 { line: 0 } => write!(f, "not UTF-8 text"),
            ReadError::NotUtf8 { line } => write!(f, "line {line} is not UTF-8 text"),
            ReadError::Io(e) => write!(f, "cannot read: {e}"),
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads all of `reader` as UTF-8 text, refusing more than `max` bytes. At most `max + 1`
/// bytes are ever read.
pub fn read_capped(reader: impl Read, max: u64) -> Result<String, ReadError> {
    let mut bytes = Vec::new();
    reader
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge { max });
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8 { line: 0 })
}

/// The lines of a reader, each at most `max_line` bytes (without its line ending), and at
/// most `max_total` bytes in all. Yields `(line number, text)`, numbers from 1; a final line
/// without a newline is yielded too, and [`Lines::ended_with_newline`] says whether the input
/// ended cleanly (a trace cut mid-line did not).
pub struct Lines<R> {
    reader: R,
    max_line: usize,
    max_total: u64,
    read: u64,
    line: usize,
    buf: Vec<u8>,
    newline: bool,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    /// Lines of `reader` under both caps.
    pub fn new(reader: R, max_line: usize, max_total: u64) -> Self {
        Lines {
            reader,
            max_line,
            max_total,
            read: 0,
            line: 0,
            buf: Vec::new(),
            newline: true,
            done: false,
        }
    }

    /// Whether the input read so far ended with a newline (true before anything is read and
    /// for an empty input).
    pub fn ended_with_newline(&self) -> bool {
        self.newline
    }

    /// The number of the last line yielded (0 before the first).
    pub fn line(&self) -> usize {
        self.line
    }

    /// The next line, reusing one buffer: `Ok(None)` at the end.
    pub fn next_line(&mut self) -> Result<Option<(usize, &str)>, ReadError> {
        if self.done {
            return Ok(None);
        }
        self.buf.clear();
        let limit = (self.max_line as u64)
            .saturating_add(1)
            .min(self.max_total.saturating_sub(self.read).saturating_add(1));
        let n = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| {
                self.done = true;
                ReadError::Io(e)
            })?;
        if n == 0 {
            self.done = true;
            return Ok(None);
        }
        self.read += n as u64;
        self.line += 1;
        self.newline = self.buf.last() == Some(&b'\n');
        if self.newline {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        if self.buf.len() > self.max_line {
            self.done = true;
            return Err(ReadError::LineTooLong {
                line: self.line,
                max: self.max_line,
            });
        }
        if self.read > self.max_total {
            self.done = true;
            return Err(ReadError::TooLarge {
                max: self.max_total,
            });
        }
        let line = self.line;
        match std::str::from_utf8(&self.buf) {
            Ok(text) => Ok(Some((line, text))),
            Err(_) => {
                self.done = true;
                Err(ReadError::NotUtf8 { line })
            }
        }
    }
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = Result<(usize, String), ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_line()
            .map(|l| l.map(|(n, text)| (n, text.to_string())))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_read_stops_one_byte_past_its_cap() {
        assert_eq!(read_capped(&b"abc"[..], 3).unwrap(), "abc");
        // An endless reader: the cap, not the reader, ends the read.
        let endless = std::io::repeat(b'x');
        assert!(matches!(
            read_capped(endless, 1000),
            Err(ReadError::TooLarge { max: 1000 })
        ));
        assert!(matches!(
            read_capped(&[0xff, 0xfe][..], 10),
            Err(ReadError::NotUtf8 { line: 0 })
        ));
    }

    #[test]
    fn lines_are_numbered_and_capped() {
        let mut lines = Lines::new(&b"a\r\nbb\n\nccc"[..], 3, 100);
        let all: Vec<(usize, String)> = lines.by_ref().map(Result::unwrap).collect();
        assert_eq!(
            all,
            vec![
                (1, "a".to_string()),
                (2, "bb".to_string()),
                (3, String::new()),
                (4, "ccc".to_string())
            ]
        );
        assert!(!lines.ended_with_newline(), "the last line had no newline");

        let mut long = Lines::new(&b"ok\ntoolong\n"[..], 3, 100);
        assert!(long.next().unwrap().is_ok());
        assert!(matches!(
            long.next(),
            Some(Err(ReadError::LineTooLong { line: 2, max: 3 }))
        ));
        assert!(long.next().is_none(), "nothing after an error");
    }

    #[test]
    fn an_endless_input_of_short_lines_stops_at_the_total_cap() {
        let endless = std::io::BufReader::new(std::io::repeat(b'\n'));
        let mut lines = Lines::new(endless, 10, 1000);
        let mut yielded = 0;
        let end = loop {
            match lines.next() {
                Some(Ok(_)) => yielded += 1,
                other => break other,
            }
        };
        assert!(matches!(end, Some(Err(ReadError::TooLarge { max: 1000 }))));
        assert_eq!(yielded, 1000);
    }

    #[test]
    fn an_endless_line_stops_at_the_line_cap() {
        let endless = std::io::BufReader::new(std::io::repeat(b'y'));
        let mut lines = Lines::new(endless, 64, u64::MAX);
        assert!(matches!(
            lines.next(),
            Some(Err(ReadError::LineTooLong { line: 1, max: 64 }))
        ));
    }
}
