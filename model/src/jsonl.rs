//! Histories on disk: JSON lines, the header first, then one record per line.
//!
//! Reading never drops data silently: a malformed line is an error naming the line number and
//! what serde expected there.

use crate::history::{Header, History, Record, HISTORY_FORMAT};
use std::fmt;
use std::io::{BufRead, Write};

/// Why a history file could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    Empty,
    /// Line `line` (1-based) is not what was expected there.
    Malformed {
        line: usize,
        expected: &'static str,
        error: String,
    },
    UnsupportedFormat {
        found: u32,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "cannot read history: {e}"),
            ReadError::Empty => write!(f, "history is empty: expected a header line first"),
            ReadError::Malformed { line, expected, error } => write!(f, "line {line}: expected {expected}: {error}"),
            ReadError::UnsupportedFormat { found } => {
                write!(f, "history format {found} is not supported (this build reads format {HISTORY_FORMAT})")
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// Writes `history` as JSON lines.
pub fn write_history(history: &History, mut out: impl Write) -> std::io::Result<()> {
    serde_json::to_writer(&mut out, &history.header)?;
    out.write_all(b"\n")?;
    for r in &history.records {
        serde_json::to_writer(&mut out, r)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The JSON-lines bytes of `history` (what [`write_history`] writes).
pub fn history_bytes(history: &History) -> Vec<u8> {
    let mut out = Vec::new();
    write_history(history, &mut out).expect("writing to a Vec cannot fail");
    out
}

/// Reads a history written by [`write_history`].
pub fn read_history(input: impl BufRead) -> Result<History, ReadError> {
    let mut lines = input.lines().enumerate();
    let header: Header = loop {
        match lines.next() {
            None => return Err(ReadError::Empty),
            Some((_, Err(e))) => return Err(ReadError::Io(e)),
            Some((_, Ok(l))) if l.trim().is_empty() => continue,
            Some((i, Ok(l))) => {
                break serde_json::from_str(&l).map_err(|e| ReadError::Malformed {
                    line: i + 1,
                    expected: "the history header",
                    error: e.to_string(),
                })?
            }
        }
    };
    if header.format != HISTORY_FORMAT {
        return Err(ReadError::UnsupportedFormat { found: header.format });
    }
    let mut records = Vec::new();
    for (i, line) in lines {
        let line = line.map_err(ReadError::Io)?;
        if line.trim().is_empty() {
            continue;
        }
        let r: Record = serde_json::from_str(&line).map_err(|e| ReadError::Malformed {
            line: i + 1,
            expected: "a history record",
            error: e.to_string(),
        })?;
        records.push(r);
    }
    Ok(History { header, records })
}

/// A stable 64-bit fingerprint of a history's bytes (FNV-1a), for determinism checks.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Event, Fault, Node};
    use crate::types::{ServerId, SimTime};

    fn sample() -> History {
        History {
            header: Header {
                format: HISTORY_FORMAT,
                scenario: "t".into(),
                seed: 7,
                config_hash: "abc".into(),
                servers: vec![ServerId(1)],
                clients: vec![],
                tick_ms: 100,
            },
            records: vec![Record {
                time: SimTime(5),
                event: Event::Fault { fault: Fault::Crash { node: Node::Server(ServerId(1)), torn: true } },
            }],
        }
    }

    #[test]
    fn round_trips() {
        let h = sample();
        let bytes = history_bytes(&h);
        let back = read_history(&bytes[..]).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn malformed_line_names_the_line() {
        let mut bytes = history_bytes(&sample());
        bytes.extend_from_slice(b"{\"time\": 1, \"type\": \"nonsense\"}\n");
        let err = read_history(&bytes[..]).unwrap_err().to_string();
        assert!(err.starts_with("line 3: expected a history record"), "{err}");
    }

    #[test]
    fn empty_and_wrong_format_are_errors() {
        assert!(matches!(read_history(&b""[..]), Err(ReadError::Empty)));
        let mut h = sample();
        h.header.format = 99;
        let err = read_history(&history_bytes(&h)[..]).unwrap_err();
        assert!(matches!(err, ReadError::UnsupportedFormat { found: 99 }));
    }
}
