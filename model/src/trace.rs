//! Replaying a hand-written or recorded op trace through the reference model
//! (`zksim model-trace FILE`). The format is documented in `docs/model-trace.md`:
//! JSON lines in the probes' OP format in, one JSON line per op in the probes' RESULT format out,
//! with the model's real zxids (not ranks).

use crate::model_target::ModelTarget;
use crate::probes::{Namespace, ProbeDriver, ProbeOp};
use crate::reference::{WatchRules, ZkModel};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::io::{BufRead, Write};

/// Why a trace could not be replayed.
#[derive(Debug)]
pub enum TraceError {
    /// Reading the input or writing the output failed.
    Io(std::io::Error),
    /// Line `line` (1-based) is malformed: `field` is wrong, and `expected` says what it should be.
    Input { line: usize, field: String, expected: String },
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Io(e) => write!(f, "trace I/O error: {e}"),
            TraceError::Input { line, field, expected } => {
                write!(f, "trace line {line}: field `{field}`: expected {expected}")
            }
        }
    }
}

impl std::error::Error for TraceError {}

impl From<std::io::Error> for TraceError {
    fn from(e: std::io::Error) -> Self {
        TraceError::Io(e)
    }
}

/// The optional first line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TraceHeader {
    #[serde(default = "default_namespace")]
    namespace: Namespace,
    #[serde(default = "default_sessions")]
    sessions: u32,
    /// Whose watch bookkeeping: `"3.8.0"` (the default: a trace is meant to be diffed against a
    /// real 3.8.0 server, bugs ZOOKEEPER-4466/-4471 included) or `"fixed"` (what the service
    /// implements and the checkers use).
    #[serde(default)]
    watch_rules: HeaderWatchRules,
}

#[derive(Clone, Copy, Default, Deserialize)]
enum HeaderWatchRules {
    #[default]
    #[serde(rename = "3.8.0")]
    Zk380,
    #[serde(rename = "fixed")]
    Fixed,
}

fn default_namespace() -> Namespace {
    Namespace::Root
}

fn default_sessions() -> u32 {
    1
}

/// Reads ops (JSON lines) from `input`, applies them one after another to a fresh model, and
/// writes one result line per op to `output`. An optional first line
/// `{"namespace": "root"|"chroot", "sessions": n, "watch_rules": "3.8.0"|"fixed"}` picks the
/// starting tree (default `root`: a fresh server with `/zookeeper`), how many sessions are open
/// before the first op (default 1) and whose watch bookkeeping the model follows (default
/// 3.8.0's, bugs included). Blank lines are skipped. Stops at the first malformed line.
pub fn run_trace(input: impl BufRead, mut output: impl Write) -> Result<(), TraceError> {
    let mut lines = input.lines().enumerate().map(|(i, l)| (i + 1, l));
    let mut pending: Option<(usize, Value)> = None;
    let mut header = TraceHeader {
        namespace: default_namespace(),
        sessions: default_sessions(),
        watch_rules: HeaderWatchRules::default(),
    };
    // The first non-blank line may be the header.
    for (n, line) in lines.by_ref() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let value = parse_line(n, &line)?;
        if value.get("op").is_none() {
            header = parse_header(n, &value)?;
        } else {
            pending = Some((n, value));
        }
        break;
    }
    let model = match header.namespace {
        Namespace::Root => ZkModel::fresh_server(),
        Namespace::Chroot => ZkModel::new(),
    };
    let model = model.with_watch_rules(match header.watch_rules {
        HeaderWatchRules::Zk380 => WatchRules::Zk380,
        HeaderWatchRules::Fixed => WatchRules::Fixed,
    });
    let mut target = ModelTarget::new(model);
    let mut driver = ProbeDriver::new(&mut target, header.sessions);
    let rest = lines.filter_map(|(n, line)| match line {
        Ok(l) if l.trim().is_empty() => None,
        Ok(l) => Some(parse_line(n, &l).map(|v| (n, v))),
        Err(e) => Some(Err(TraceError::Io(e))),
    });
    for item in pending.map(Ok).into_iter().chain(rest) {
        let (n, value) = item?;
        let op = parse_op(n, &value)?;
        match &op {
            ProbeOp::OpenSession { session } if driver.knows_session(*session) => {
                return Err(TraceError::Input {
                    line: n,
                    field: "session".into(),
                    expected: format!("a session number not opened before (session {session} was)"),
                });
            }
            ProbeOp::OpenSession { .. } | ProbeOp::Wait { .. } => {}
            other => {
                let s = other.session().expect("every op but wait has a session");
                if !driver.knows_session(s) {
                    return Err(TraceError::Input {
                        line: n,
                        field: "session".into(),
                        expected: format!("an opened session number (open session {s} with open_session first)"),
                    });
                }
            }
        }
        let result = driver.step(&op).map_err(|reason| TraceError::Input {
            line: n,
            field: "op".into(),
            expected: format!("an op the model supports ({reason})"),
        })?;
        let json = serde_json::to_string(&result).expect("results serialize");
        writeln!(output, "{json}")?;
    }
    output.flush()?;
    Ok(())
}

fn parse_header(n: usize, value: &Value) -> Result<TraceHeader, TraceError> {
    for (key, v) in value.as_object().expect("checked by parse_line") {
        let expected = match key.as_str() {
            "namespace" if !matches!(v.as_str(), Some("root" | "chroot")) => "\"root\" or \"chroot\"",
            "sessions" if v.as_u64().and_then(|x| u32::try_from(x).ok()).is_none() => "a number of sessions (>= 0)",
            "watch_rules" if !matches!(v.as_str(), Some("3.8.0" | "fixed")) => "\"3.8.0\" or \"fixed\"",
            "namespace" | "sessions" | "watch_rules" => continue,
            _ => "only namespace, sessions and watch_rules in the header line (ops need an \"op\" field)",
        };
        return Err(TraceError::Input { line: n, field: key.clone(), expected: expected.into() });
    }
    TraceHeader::deserialize(value).map_err(|e| TraceError::Input {
        line: n,
        field: "-".into(),
        expected: format!("a header line ({e})"),
    })
}

fn parse_line(n: usize, line: &str) -> Result<Value, TraceError> {
    let value: Value = serde_json::from_str(line).map_err(|e| TraceError::Input {
        line: n,
        field: "-".into(),
        expected: format!("one JSON object per line ({e})"),
    })?;
    if !value.is_object() {
        return Err(TraceError::Input { line: n, field: "-".into(), expected: "a JSON object".into() });
    }
    Ok(value)
}

const OP_NAMES: [&str; 19] = [
    "create",
    "delete",
    "set",
    "get",
    "children",
    "exists",
    "sync",
    "multi",
    "multi_read",
    "add_watch",
    "remove_watches",
    "get_ephemerals",
    "get_all_children_number",
    "set_acl",
    "get_acl",
    "open_session",
    "close_session",
    "expire_session",
    "wait",
];

/// Checks each field's type by name first (so the error names the field), then decodes.
fn parse_op(n: usize, value: &Value) -> Result<ProbeOp, TraceError> {
    let obj = value.as_object().expect("checked by parse_line");
    let op = obj.get("op").and_then(Value::as_str).unwrap_or("");
    for (key, v) in obj {
        check_field(op, key, v, false).map_err(|expected| TraceError::Input {
            line: n,
            field: key.clone(),
            expected,
        })?;
        if key == "ops" {
            for (i, sub) in v.as_array().expect("checked").iter().enumerate() {
                let sub_obj = sub.as_object().expect("checked");
                let sub_op = sub_obj.get("op").and_then(Value::as_str).unwrap_or("");
                for (k, sv) in sub_obj {
                    check_field(sub_op, k, sv, true).map_err(|expected| TraceError::Input {
                        line: n,
                        field: format!("ops[{i}].{k}"),
                        expected,
                    })?;
                }
            }
        }
    }
    ProbeOp::deserialize(value).map_err(|e| {
        let msg = e.to_string();
        let field = msg.split('`').nth(1).filter(|_| msg.contains("field")).unwrap_or("op").to_string();
        TraceError::Input { line: n, field, expected: format!("a well-formed {op:?} op ({msg})") }
    })
}

/// What a field must hold, by name. `sub` is true inside `ops` of a multi.
fn check_field(op: &str, key: &str, v: &Value, sub: bool) -> Result<(), String> {
    let is_int_in = |lo: i64, hi: i64| v.as_i64().is_some_and(|x| (lo..=hi).contains(&x));
    let ok = match key {
        "op" if sub => matches!(v.as_str(), Some("create" | "delete" | "set" | "check" | "get" | "children")),
        "op" => v.as_str().is_some_and(|s| OP_NAMES.contains(&s)),
        "path" => v.is_string(),
        "data" => v.is_null() || v.is_string() || v.get("hex").is_some_and(Value::is_string),
        "version" => is_int_in(i32::MIN.into(), i32::MAX.into()),
        "session" => !sub && is_int_in(1, u32::MAX.into()),
        "watch" => v.is_boolean(),
        "mode" if op == "add_watch" => matches!(v.as_str(), Some("persistent" | "persistent_recursive")),
        "mode" => matches!(
            v.as_str(),
            Some(
                "persistent"
                    | "ephemeral"
                    | "persistent_sequential"
                    | "ephemeral_sequential"
                    | "container"
                    | "ttl"
                    | "persistent_sequential_ttl"
            )
        ),
        "type" => matches!(v.as_str(), Some("data" | "children" | "any")),
        "ttl" => v.is_i64(),
        "ms" => v.is_u64(),
        "ops" => !sub && v.as_array().is_some_and(|a| a.iter().all(Value::is_object)),
        "acl" => matches!(
            v.as_str(),
            Some("open" | "read" | "read_write" | "no_create" | "no_delete" | "creator_all" | "empty")
        ),
        "opcode" | "flags" => v.is_i64(),
        _ => return Err(format!("no field named {key:?} in a {op:?} op")),
    };
    if ok {
        return Ok(());
    }
    Err(match key {
        "op" if sub => "one of create, delete, set, check (multi) or get, children (multi_read)".into(),
        "op" => format!("one of {}", OP_NAMES.join(", ")),
        "path" => "a string".into(),
        "data" => "a string, null, or {\"hex\": \"..\"}".into(),
        "version" => "a 32-bit integer (-1 = any version)".into(),
        "session" if sub => "no session inside ops (the multi's session applies)".into(),
        "session" => "a session number >= 1".into(),
        "watch" => "true or false".into(),
        "mode" if op == "add_watch" => "persistent or persistent_recursive".into(),
        "mode" => "one of persistent, ephemeral, persistent_sequential, ephemeral_sequential, container, ttl, \
                   persistent_sequential_ttl"
            .into(),
        "type" => "data, children or any".into(),
        "ttl" => "an integer (milliseconds)".into(),
        "ms" => "a non-negative integer (milliseconds)".into(),
        "ops" if sub => "no nested ops".into(),
        "ops" => "a list of sub-op objects".into(),
        "acl" => "one of open, read, read_write, no_create, no_delete, creator_all, empty".into(),
        _ => "an integer".into(),
    })
}
