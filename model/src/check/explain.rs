//! Violations and how they read: every violation names the operations involved (op id, client,
//! session, xid, times, server, zxid, outcome) and says what the model expected instead, so a
//! report can be read without opening the history.

use crate::history::{Event, Record, Txn, TxnRecord};
use crate::op::{MultiOp, MultiSubResult, Op, OpResult, Outcome};
use crate::types::{ClientId, CreateMode, Data, OpId, ServerId, SessionId, SimTime, Zxid};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One client operation as a violation shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpRef {
    pub op_id: OpId,
    pub client: ClientId,
    pub session: SessionId,
    pub xid: u64,
    /// The operation, rendered (`create /a "x" ephemeral`).
    pub op: String,
    pub invoked: SimTime,
    pub completed: Option<SimTime>,
    pub server: Option<ServerId>,
    pub zxid: Option<Zxid>,
    /// The outcome the client saw, rendered (`ok created /a`, `err NoNode`, `indeterminate`).
    pub outcome: String,
}

impl fmt::Display for OpRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "op {} ({} session {} xid {}) {} — invoked {}",
            self.op_id.0, self.client, self.session, self.xid, self.op, self.invoked
        )?;
        match self.completed {
            Some(t) => write!(f, ", completed {t}")?,
            None => write!(f, ", never completed")?,
        }
        if let Some(s) = self.server {
            write!(f, " on {s}")?;
        }
        if let Some(z) = self.zxid {
            write!(f, ", zxid {z}")?;
        }
        write!(f, " → {}", self.outcome)
    }
}

/// A record that is not a client operation (a commit, a watch event, a session change, a fault),
/// by its position in the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRef {
    /// Index of the record in `History::records`.
    pub index: usize,
    pub time: SimTime,
    pub what: String,
}

impl fmt::Display for RecordRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record #{} at {}: {}", self.index, self.time, self.what)
    }
}

/// One broken rule, explained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// One sentence saying what is wrong.
    pub summary: String,
    /// The client operations involved, most relevant first.
    pub ops: Vec<OpRef>,
    /// Other records involved (commits, events, session changes).
    pub records: Vec<RecordRef>,
    /// The zxid the violation is about, if any.
    pub zxid: Option<Zxid>,
    /// What the model (or the rule) expected.
    pub expected: Option<String>,
    /// What the history shows.
    pub observed: Option<String>,
}

impl Violation {
    /// A violation with just a summary; add the rest with the builder methods.
    pub fn new(summary: impl Into<String>) -> Violation {
        Violation { summary: summary.into(), ops: vec![], records: vec![], zxid: None, expected: None, observed: None }
    }

    pub fn op(mut self, op: OpRef) -> Violation {
        self.ops.push(op);
        self
    }

    pub fn record(mut self, r: RecordRef) -> Violation {
        self.records.push(r);
        self
    }

    pub fn at(mut self, zxid: Zxid) -> Violation {
        self.zxid = Some(zxid);
        self
    }

    pub fn expected(mut self, s: impl Into<String>) -> Violation {
        self.expected = Some(s.into());
        self
    }

    pub fn observed(mut self, s: impl Into<String>) -> Violation {
        self.observed = Some(s.into());
        self
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.summary)?;
        if let Some(z) = self.zxid {
            write!(f, " [zxid {z}]")?;
        }
        for op in &self.ops {
            write!(f, "\n    {op}")?;
        }
        for r in &self.records {
            write!(f, "\n    {r}")?;
        }
        if let Some(e) = &self.expected {
            write!(f, "\n    expected: {e}")?;
        }
        if let Some(o) = &self.observed {
            write!(f, "\n    observed: {o}")?;
        }
        Ok(())
    }
}

fn data(d: &Data) -> String {
    match &d.0 {
        None => "null".into(),
        Some(_) => format!("{:?}", d.to_text()),
    }
}

fn mode(m: CreateMode) -> String {
    match m {
        CreateMode::Persistent => "persistent".into(),
        CreateMode::Ephemeral => "ephemeral".into(),
        CreateMode::PersistentSequential => "persistent_sequential".into(),
        CreateMode::EphemeralSequential => "ephemeral_sequential".into(),
        CreateMode::Container => "container".into(),
        CreateMode::PersistentWithTtl { ttl_ms } => format!("persistent_ttl({ttl_ms}ms)"),
        CreateMode::PersistentSequentialWithTtl { ttl_ms } => format!("persistent_sequential_ttl({ttl_ms}ms)"),
        CreateMode::Invalid { opcode, flags } => format!("invalid(opcode {opcode}, flags {flags})"),
    }
}

fn version(v: i32) -> String {
    if v == -1 {
        String::new()
    } else {
        format!(" v={v}")
    }
}

/// Renders an operation compactly.
pub fn render_op(op: &Op) -> String {
    let w = |watch: bool| if watch { " watch" } else { "" };
    match op {
        Op::Create { path, data: d, mode: m, acl: a } => format!("create {path} {} {}{}", data(d), mode(*m), acl(a)),
        Op::Delete { path, version: v } => format!("delete {path}{}", version(*v)),
        Op::SetData { path, data: d, version: v } => format!("set {path} {}{}", data(d), version(*v)),
        Op::GetData { path, watch } => format!("get {path}{}", w(*watch)),
        Op::Exists { path, watch } => format!("exists {path}{}", w(*watch)),
        Op::GetChildren { path, watch } => format!("children {path}{}", w(*watch)),
        Op::Sync { path } => format!("sync {path}"),
        Op::Multi { ops } => {
            let parts: Vec<String> = ops
                .iter()
                .map(|m| match m {
                    MultiOp::Create { path, data: d, mode: md, acl: a } => {
                        format!("create {path} {} {}{}", data(d), mode(*md), acl(a))
                    }
                    MultiOp::Delete { path, version: v } => format!("delete {path}{}", version(*v)),
                    MultiOp::SetData { path, data: d, version: v } => format!("set {path} {}{}", data(d), version(*v)),
                    MultiOp::Check { path, version: v } => format!("check {path}{}", version(*v)),
                    MultiOp::GetData { path } => format!("get {path}"),
                    MultiOp::GetChildren { path } => format!("children {path}"),
                })
                .collect();
            format!("multi[{}]", parts.join("; "))
        }
        Op::AddWatch { path, mode } => format!("add_watch {path} {mode:?}"),
        Op::RemoveWatches { path, kind } => format!("remove_watches {path} {kind:?}"),
        Op::CloseSession => "close_session".into(),
        Op::GetEphemerals { prefix } => format!("get_ephemerals {prefix}"),
        Op::GetAllChildrenNumber { path } => format!("get_all_children_number {path}"),
        Op::SetAcl { path, acl: a, version: v } => format!("set_acl {path} {a:?}{}", version(*v)),
        Op::GetAcl { path } => format!("get_acl {path}"),
    }
}

/// A create's ACL, when it is not the open one every recipe uses.
fn acl(a: &crate::acl::Acl) -> String {
    if a.is_open() {
        String::new()
    } else {
        format!(" acl={a:?}")
    }
}

fn stat(s: &crate::types::Stat) -> String {
    format!(
        "stat{{czxid {} mzxid {} pzxid {} version {} cversion {} owner {} len {} children {}}}",
        s.czxid, s.mzxid, s.pzxid, s.version, s.cversion, s.ephemeral_owner, s.data_length, s.num_children
    )
}

/// Renders an outcome compactly, with the fields a checker compares.
pub fn render_outcome(o: &Outcome) -> String {
    match o {
        Outcome::Ok { value } => format!("ok {}", render_result(value)),
        Outcome::Err { code } => format!("err {code}"),
        Outcome::MultiErr { code, results } => format!("multi err {code} {results:?}"),
        Outcome::Indeterminate { reason } => format!("indeterminate ({reason})"),
    }
}

fn render_result(r: &OpResult) -> String {
    match r {
        OpResult::Created { path, stat: s } => match s {
            Some(s) => format!("created {path} {}", stat(s)),
            None => format!("created {path}"),
        },
        OpResult::Stat { stat: s } => stat(s),
        OpResult::GetData { data: d, stat: s } => format!("{} {}", data(d), stat(s)),
        OpResult::Exists { stat: None } => "absent".into(),
        OpResult::Exists { stat: Some(s) } => format!("exists {}", stat(s)),
        OpResult::Children { children, stat: s } => format!("[{}] {}", children.join(", "), stat(s)),
        OpResult::Synced { path } => format!("synced {path}"),
        OpResult::Acl { acl: a, stat: s } => format!("acl {a:?} aversion {} {}", s.aversion, stat(s)),
        OpResult::Multi { results } => {
            let parts: Vec<String> = results
                .iter()
                .map(|r| match r {
                    MultiSubResult::Created { path, .. } => format!("created {path}"),
                    MultiSubResult::Deleted => "deleted".into(),
                    MultiSubResult::SetData { stat: s } => format!("set {}", stat(s)),
                    MultiSubResult::Checked => "checked".into(),
                })
                .collect();
            format!("multi[{}]", parts.join("; "))
        }
        OpResult::Done => "done".into(),
        OpResult::Ephemerals { paths } => format!("ephemerals [{}]", paths.join(", ")),
        OpResult::ChildrenNumber { number } => format!("{number} descendants"),
    }
}

/// Renders a committed transaction.
pub fn render_txn(t: &TxnRecord) -> String {
    let body = match &t.txn {
        Txn::CreateSession { session, timeout_ms } => format!("create_session {session} timeout {timeout_ms}ms"),
        Txn::CloseSession { session, reason } => format!("close_session {session} ({reason:?})"),
        Txn::Client { session, xid, op } => format!("session {session} xid {xid}: {}", render_op(op)),
        Txn::DeleteContainer { path } => format!("delete_container {path}"),
        Txn::DeleteTtl { path } => format!("delete_ttl {path}"),
        Txn::Error { session, xid, code } => format!("session {session} xid {xid}: refused, {code:?} (no effect)"),
    };
    format!("txn {} {body}", t.zxid)
}

/// Renders any record briefly.
pub fn render_record(index: usize, r: &Record) -> RecordRef {
    let what = match &r.event {
        Event::Invoke { op_id, client, session, op, .. } => {
            format!("{client} session {session} invokes op {}: {}", op_id.0, render_op(op))
        }
        Event::Complete { op_id, outcome, zxid, .. } => {
            format!(
                "op {} completes {} zxid {}",
                op_id.0,
                render_outcome(outcome),
                zxid.map_or("-".into(), |z| z.to_string())
            )
        }
        Event::Watch { client, session, event } => {
            format!("{client} session {session} receives {:?} {} (zxid {})", event.kind, event.path, event.zxid)
        }
        Event::Session { client, session, state, server, .. } => {
            format!("{client} session {session} {state:?}{}", server.map_or(String::new(), |s| format!(" to {s}")))
        }
        Event::Fault { fault } => format!("fault {fault:?}"),
        Event::Role { server, role, epoch } => format!("{server} becomes {role:?} in epoch {epoch}"),
        Event::Commit { server, txn } => format!("{server} commits {}", render_txn(txn)),
        Event::Final { server, last_zxid, digest } => format!("{server} ends at zxid {last_zxid} digest {digest:#x}"),
        Event::Recipe { client, note, .. } => format!("{client} recipe {} {:?}", note.recipe, note.action),
    };
    RecordRef { index, time: r.time, what }
}
