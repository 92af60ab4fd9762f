//! The probes runner: reads `zookeeper-3.8-probes.json` (format: `testdata/zookeeper-3.8-probes.md`),
//! runs each case against any [`ProbeTarget`], normalizes what the target answered exactly as
//! the corpus was normalized, and compares.
//!
//! Normalization: each zxid in a Stat becomes its rank among all czxid/mzxid/pzxid values in
//! the case's results; sessions are numbered 1..n in the order the case opens them;
//! `ephemeralOwner` becomes that number; ctime/mtime are dropped; events are ordered by session
//! number (the issuing session's are `before_result`, others' `async`), keeping arrival order
//! within a session — except after close_session, expire_session and wait, where
//! all events are `async` and sorted by (session, path, type).

use crate::acl::{Acl, AclEntry, AclId, Perms};
use crate::op::{MultiOp, MultiSubResult, Op, OpResult, Outcome};
use crate::probe_target::ProbeTarget;
use crate::types::{AddWatchMode, CreateMode, Data, ErrorCode, EventType, SessionId, Stat, WatcherKind};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One probe case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeCase {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub namespace: Namespace,
    /// Sessions 1..=n are open before the first op.
    pub sessions: u32,
    pub ops: Vec<ProbeOp>,
    pub results: Vec<ProbeResult>,
}

/// Where a case runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Namespace {
    /// An empty tree (a fresh chroot node plays `/`): [`crate::ZkModel::new`].
    Chroot,
    /// A fresh server with `/zookeeper`…: [`crate::ZkModel::fresh_server`].
    Root,
}

fn session_one() -> u32 {
    1
}

/// The create modes, as the probes spell them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeMode {
    #[default]
    Persistent,
    Ephemeral,
    PersistentSequential,
    EphemeralSequential,
    Container,
    Ttl,
    PersistentSequentialTtl,
}

/// The ACLs the probes use, by name. All grant to `world:anyone` except `creator_all` (the
/// `auth` scheme: the creator's credentials) and `empty` (no entry), which the server refuses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeAcl {
    #[default]
    Open,
    Read,
    ReadWrite,
    NoCreate,
    NoDelete,
    CreatorAll,
    Empty,
}

impl ProbeAcl {
    /// The ACL a client sends for this name.
    pub fn acl(self) -> Acl {
        match self {
            ProbeAcl::Open => Acl::open(),
            ProbeAcl::Read => Acl::anyone(Perms::READ),
            ProbeAcl::ReadWrite => Acl::anyone(Perms::READ.union(Perms::WRITE)),
            ProbeAcl::NoCreate => Acl::anyone(Perms::ALL.without(Perms::CREATE)),
            ProbeAcl::NoDelete => Acl::anyone(Perms::ALL.without(Perms::DELETE)),
            ProbeAcl::CreatorAll => Acl::from_entries(vec![AclEntry { perms: Perms::ALL, id: AclId::Creator }]),
            ProbeAcl::Empty => Acl::from_entries(Vec::new()),
        }
    }
}

/// The fields of a create, shared by the top-level op and the multi sub-op.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeCreate {
    pub path: String,
    #[serde(default)]
    pub data: Data,
    #[serde(default)]
    pub mode: ProbeMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<ProbeAcl>,
    /// Raw request opcode: 1 create, 15 create2, 19 createContainer, 21 createTTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opcode: Option<i32>,
    /// Raw create flags, overriding `mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<i32>,
}

/// One probe operation (the OP format).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op", deny_unknown_fields)]
pub enum ProbeOp {
    Create {
        #[serde(flatten)]
        create: ProbeCreate,
        #[serde(default = "session_one")]
        session: u32,
    },
    Delete {
        path: String,
        version: i32,
        #[serde(default = "session_one")]
        session: u32,
    },
    Set {
        path: String,
        #[serde(default)]
        data: Data,
        version: i32,
        #[serde(default = "session_one")]
        session: u32,
    },
    Get {
        path: String,
        #[serde(default)]
        watch: bool,
        #[serde(default = "session_one")]
        session: u32,
    },
    Children {
        path: String,
        #[serde(default)]
        watch: bool,
        #[serde(default = "session_one")]
        session: u32,
    },
    Exists {
        path: String,
        #[serde(default)]
        watch: bool,
        #[serde(default = "session_one")]
        session: u32,
    },
    Sync {
        path: String,
        #[serde(default = "session_one")]
        session: u32,
    },
    Multi {
        ops: Vec<ProbeSubOp>,
        #[serde(default = "session_one")]
        session: u32,
    },
    MultiRead {
        ops: Vec<ProbeSubOp>,
        #[serde(default = "session_one")]
        session: u32,
    },
    SetAcl {
        path: String,
        acl: ProbeAcl,
        version: i32,
        #[serde(default = "session_one")]
        session: u32,
    },
    GetAcl {
        path: String,
        #[serde(default = "session_one")]
        session: u32,
    },
    AddWatch {
        path: String,
        mode: AddWatchMode,
        #[serde(default = "session_one")]
        session: u32,
    },
    RemoveWatches {
        path: String,
        #[serde(rename = "type")]
        kind: WatcherKind,
        #[serde(default = "session_one")]
        session: u32,
    },
    GetEphemerals {
        path: String,
        #[serde(default = "session_one")]
        session: u32,
    },
    GetAllChildrenNumber {
        path: String,
        #[serde(default = "session_one")]
        session: u32,
    },
    OpenSession {
        session: u32,
    },
    CloseSession {
        session: u32,
    },
    ExpireSession {
        session: u32,
    },
    Wait {
        ms: u64,
    },
}

impl ProbeOp {
    /// The session that issues the op (`None` for `wait`).
    pub fn session(&self) -> Option<u32> {
        use ProbeOp::*;
        match self {
            Create { session, .. }
            | Delete { session, .. }
            | Set { session, .. }
            | Get { session, .. }
            | Children { session, .. }
            | Exists { session, .. }
            | Sync { session, .. }
            | Multi { session, .. }
            | MultiRead { session, .. }
            | SetAcl { session, .. }
            | GetAcl { session, .. }
            | AddWatch { session, .. }
            | RemoveWatches { session, .. }
            | GetEphemerals { session, .. }
            | GetAllChildrenNumber { session, .. }
            | OpenSession { session }
            | CloseSession { session }
            | ExpireSession { session } => Some(*session),
            Wait { .. } => None,
        }
    }

    /// True for the session-level ops after which every event is `async` and sorted.
    pub fn is_session_level(&self) -> bool {
        matches!(
            self,
            ProbeOp::OpenSession { .. }
                | ProbeOp::CloseSession { .. }
                | ProbeOp::ExpireSession { .. }
                | ProbeOp::Wait { .. }
        )
    }
}

/// A sub-operation of `multi` (create, delete, set, check) or `multi_read` (get, children).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op", deny_unknown_fields)]
pub enum ProbeSubOp {
    Create {
        #[serde(flatten)]
        create: ProbeCreate,
    },
    Delete {
        path: String,
        version: i32,
    },
    Set {
        path: String,
        #[serde(default)]
        data: Data,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    Get {
        path: String,
    },
    Children {
        path: String,
    },
}

/// One result (the RESULT format). Tried in this order when reading, so a failed multi is not
/// mistaken for a plain error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProbeResult {
    MultiErr {
        err: ErrorCode,
        results: Vec<ProbeSubErr>,
        events: Vec<ProbeEvent>,
    },
    Err {
        err: ErrorCode,
        events: Vec<ProbeEvent>,
    },
    /// `ok` is the VALUE of the md's table (`null` for delete, session ops, ...).
    Ok {
        ok: Value,
        events: Vec<ProbeEvent>,
    },
}

impl ProbeResult {
    /// The notifications recorded with this result.
    pub fn events(&self) -> &[ProbeEvent] {
        match self {
            ProbeResult::MultiErr { events, .. } | ProbeResult::Err { events, .. } | ProbeResult::Ok { events, .. } => {
                events
            }
        }
    }
}

/// One sub-result of a failed multi.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSubErr {
    pub err: ErrorCode,
}

/// A notification, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeEvent {
    pub session: u32,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub path: String,
    pub when: When,
}

/// When a notification arrived relative to the op's response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    BeforeResult,
    AfterResult,
    Async,
}

/// Reads the corpus.
pub fn parse_cases(json: &str) -> Result<Vec<ProbeCase>, serde_json::Error> {
    serde_json::from_str(json)
}

/// Why a case could not be run against a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    pub op_index: usize,
    pub reason: String,
}

/// How a case went.
#[derive(Clone, Debug, PartialEq)]
pub enum CaseReport {
    Pass,
    /// The case uses something the runner or the target cannot express.
    Unsupported(Unsupported),
    Fail(Mismatch),
}

/// Cases of the vendored corpus that show ZooKeeper 3.8.0 bugs, with the reason. The model and
/// the service follow the fixed behaviour, so these cases differ from the recording on purpose
/// (the model with [`crate::reference::WatchRules::Zk380`] re-creates the bugs and matches them).
pub const KNOWN_3_8_0_BUGS: &[(&str, &str)] = &[
    (
        "watch_persistent_and_oneshot_same_path",
        "ZOOKEEPER-4466: in 3.8.0 a one-shot get watch replaces the persistent watch; fixed, both coexist",
    ),
    (
        "watch_persistent_partial_remove",
        "ZOOKEEPER-4471: in 3.8.0 removeWatches(data|children) strips half of a persistent watch; fixed, they \
         remove only one-shot watches",
    ),
];

/// A case whose results differ from the recording.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    pub case: String,
    pub description: String,
    pub ops: Vec<ProbeOp>,
    pub expected: Vec<ProbeResult>,
    pub got: Vec<ProbeResult>,
}

impl Mismatch {
    /// Indices of the ops whose results differ.
    pub fn differing(&self) -> Vec<usize> {
        (0..self.expected.len()).filter(|&i| self.expected.get(i) != self.got.get(i)).collect()
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = |v: &dyn erased::Json| v.json();
        writeln!(
            f,
            "case {} ({}): {} of {} ops differ",
            self.case,
            self.description,
            self.differing().len(),
            self.ops.len()
        )?;
        for i in 0..self.ops.len() {
            let (exp, got) = (self.expected.get(i), self.got.get(i));
            let mark = if exp == got { "  " } else { "✗ " };
            writeln!(f, "{mark}op {i}: {}", line(&self.ops[i]))?;
            if exp == got {
                writeln!(f, "      ok:       {}", exp.map_or("-".into(), |r| line(r)))?;
            } else {
                writeln!(f, "      expected: {}", exp.map_or("-".into(), |r| line(r)))?;
                writeln!(f, "      got:      {}", got.map_or("-".into(), |r| line(r)))?;
            }
        }
        Ok(())
    }
}

mod erased {
    /// Compact JSON for messages.
    pub trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_else(|e| format!("<unserializable: {e}>"))
        }
    }
}

/// What one op turned into, before normalization.
enum Action {
    Open(u32),
    Close(u32),
    Expire(u32),
    Wait(u64),
    Execute { session: u32, op: Op, strip: StripStat },
    MultiRead { session: u32, reads: Vec<Op> },
    Ephemerals { session: u32, prefix: String },
    CountChildren { session: u32, path: String },
}

/// Whether a create result loses its stat (create opcode 1 answers with the path only; inside a
/// multi the sub-op's type decides, see [`multi_create_mode`]).
#[derive(Clone, Default)]
struct StripStat {
    top: bool,
}

/// Runs `case` against `target`, which must be in the state the case's namespace asks for.
pub fn run_case<T: ProbeTarget>(case: &ProbeCase, target: &mut T) -> CaseReport {
    if case.ops.len() != case.results.len() {
        return CaseReport::Unsupported(Unsupported {
            op_index: 0,
            reason: format!("{} ops but {} results", case.ops.len(), case.results.len()),
        });
    }
    // Refuse up front what cannot be expressed, so an unsupported case runs nothing.
    for (i, op) in case.ops.iter().enumerate() {
        if let Err(reason) = to_action(op) {
            return CaseReport::Unsupported(Unsupported { op_index: i, reason });
        }
    }
    let mut driver = ProbeDriver::new(target, case.sessions);
    let mut got = Vec::with_capacity(case.ops.len());
    for (i, op) in case.ops.iter().enumerate() {
        match driver.step(op) {
            Ok(r) => got.push(r),
            Err(reason) => return CaseReport::Unsupported(Unsupported { op_index: i, reason }),
        }
    }
    rank_zxids(&mut got);
    if got == case.results {
        CaseReport::Pass
    } else {
        CaseReport::Fail(Mismatch {
            case: case.name.clone(),
            description: case.description.clone(),
            ops: case.ops.clone(),
            expected: case.results.clone(),
            got,
        })
    }
}

/// Runs probe ops one at a time against a target, numbering its sessions as the probes do.
/// Results carry the target's raw zxids; [`rank_zxids`] normalizes a whole case's results.
pub struct ProbeDriver<'a, T: ProbeTarget> {
    target: &'a mut T,
    runner: Runner,
}

impl<'a, T: ProbeTarget> ProbeDriver<'a, T> {
    /// Opens sessions 1..=`sessions` on `target` (their notifications, if any, are dropped).
    pub fn new(target: &'a mut T, sessions: u32) -> ProbeDriver<'a, T> {
        let mut runner = Runner { sessions: BTreeMap::new(), numbers: BTreeMap::new() };
        for n in 1..=sessions {
            runner.open(target, n);
        }
        let _ = target.take_events();
        ProbeDriver { target, runner }
    }

    /// Runs one op. `Err` says why the op cannot be run (not expressible, unsupported by the
    /// target, or a session number that was never opened).
    pub fn step(&mut self, op: &ProbeOp) -> Result<ProbeResult, String> {
        let action = to_action(op)?;
        self.runner.step(self.target, op, action)
    }

    /// True when session number `n` has been opened (it may since have been closed or expired).
    pub fn knows_session(&self, n: u32) -> bool {
        self.runner.sessions.contains_key(&n)
    }
}

/// Session numbering for one run.
struct Runner {
    sessions: BTreeMap<u32, SessionId>,
    numbers: BTreeMap<SessionId, u32>,
}

impl Runner {
    fn open<T: ProbeTarget>(&mut self, target: &mut T, n: u32) {
        let s = target.open_session();
        self.sessions.insert(n, s);
        self.numbers.insert(s, n);
    }

    fn id(&self, n: u32) -> Result<SessionId, String> {
        self.sessions.get(&n).copied().ok_or_else(|| format!("session {n} was never opened"))
    }

    fn step<T: ProbeTarget>(&mut self, target: &mut T, op: &ProbeOp, action: Action) -> Result<ProbeResult, String> {
        let result = match action {
            Action::Open(n) => {
                self.open(target, n);
                ProbeResult::Ok { ok: Value::Null, events: vec![] }
            }
            Action::Close(n) => {
                target.close_session(self.id(n)?);
                ProbeResult::Ok { ok: Value::Null, events: vec![] }
            }
            Action::Expire(n) => {
                target.expire_session(self.id(n)?);
                ProbeResult::Ok { ok: Value::Null, events: vec![] }
            }
            Action::Wait(ms) => {
                target.wait(ms);
                ProbeResult::Ok { ok: Value::Null, events: vec![] }
            }
            Action::Execute { session, op, strip } => {
                let outcome = target.execute(self.id(session)?, &op);
                self.outcome_json(&outcome, &strip)
            }
            Action::MultiRead { session, reads } => {
                let s = self.id(session)?;
                let mut subs = Vec::new();
                for read in &reads {
                    let outcome = target.execute(s, read);
                    subs.push(match outcome {
                        Outcome::Ok { value: OpResult::Children { children, .. } } => {
                            json!({"ok": {"children": children}})
                        }
                        Outcome::Ok { value } => json!({"ok": self.value_json(&value, &StripStat::default())}),
                        other => json!({"err": other.error().unwrap_or(ErrorCode::SystemError)}),
                    });
                }
                ProbeResult::Ok { ok: Value::Array(subs), events: vec![] }
            }
            Action::Ephemerals { session, prefix } => {
                let paths = target
                    .get_ephemerals(self.id(session)?, &prefix)
                    .ok_or("the target does not support get_ephemerals")?;
                ProbeResult::Ok { ok: json!({ "paths": paths }), events: vec![] }
            }
            Action::CountChildren { session, path } => {
                match target
                    .get_all_children_number(self.id(session)?, &path)
                    .ok_or("the target does not support get_all_children_number")?
                {
                    Ok(count) => ProbeResult::Ok { ok: json!({ "count": count }), events: vec![] },
                    Err(err) => ProbeResult::Err { err, events: vec![] },
                }
            }
        };
        let events = self.events(target.take_events(), op);
        Ok(match result {
            ProbeResult::Ok { ok, .. } => ProbeResult::Ok { ok, events },
            ProbeResult::Err { err, .. } => ProbeResult::Err { err, events },
            ProbeResult::MultiErr { err, results, .. } => ProbeResult::MultiErr { err, results, events },
        })
    }

    /// Orders and labels the notifications delivered during one op.
    fn events(&self, raw: Vec<(SessionId, crate::types::WatchedEvent)>, op: &ProbeOp) -> Vec<ProbeEvent> {
        let mut events: Vec<ProbeEvent> = raw
            .into_iter()
            .map(|(s, e)| ProbeEvent {
                session: self.numbers.get(&s).copied().unwrap_or(0),
                kind: e.kind,
                path: e.path,
                when: When::Async,
            })
            .collect();
        if op.is_session_level() {
            events.sort_by(|a, b| {
                (a.session, &a.path, format!("{:?}", a.kind)).cmp(&(b.session, &b.path, format!("{:?}", b.kind)))
            });
            return events;
        }
        let issuer = op.session().expect("non-session-level ops have a session");
        for e in &mut events {
            if e.session == issuer {
                e.when = When::BeforeResult;
            }
        }
        // By session number, stable so arrival order within a session is kept. (The md says the
        // issuing session comes first, but the recording orders by session number:
        // `watch_multiple_sessions` op 4 lists sessions 1, 2, then the issuer 3.)
        events.sort_by_key(|e| e.session);
        events
    }

    fn outcome_json(&self, outcome: &Outcome, strip: &StripStat) -> ProbeResult {
        match outcome {
            Outcome::Ok { value } => ProbeResult::Ok { ok: self.value_json(value, strip), events: vec![] },
            Outcome::Err { code } => ProbeResult::Err { err: *code, events: vec![] },
            Outcome::MultiErr { code, results } => ProbeResult::MultiErr {
                err: *code,
                results: results.iter().map(|&err| ProbeSubErr { err }).collect(),
                events: vec![],
            },
            Outcome::Indeterminate { reason } => ProbeResult::Err { err: *reason, events: vec![] },
        }
    }

    fn value_json(&self, value: &OpResult, strip: &StripStat) -> Value {
        match value {
            OpResult::Created { path, stat } => match stat.filter(|_| !strip.top) {
                Some(stat) => json!({"path": path, "stat": self.stat_json(&stat)}),
                None => json!({ "path": path }),
            },
            OpResult::Stat { stat } => json!({"stat": self.stat_json(stat)}),
            OpResult::GetData { data, stat } => json!({"data": data, "stat": self.stat_json(stat)}),
            OpResult::Exists { stat: None } => Value::Null,
            OpResult::Exists { stat: Some(stat) } => json!({"stat": self.stat_json(stat)}),
            OpResult::Children { children, stat } => json!({"children": children, "stat": self.stat_json(stat)}),
            OpResult::Synced { path } => json!({ "path": path }),
            OpResult::Multi { results } => Value::Array(
                results
                    .iter()
                    .map(|r| {
                        let ok = match r {
                            MultiSubResult::Created { path, stat } => match stat {
                                Some(stat) => json!({"path": path, "stat": self.stat_json(stat)}),
                                None => json!({ "path": path }),
                            },
                            MultiSubResult::Deleted | MultiSubResult::Checked => Value::Null,
                            MultiSubResult::SetData { stat } => json!({"stat": self.stat_json(stat)}),
                        };
                        json!({ "ok": ok })
                    })
                    .collect(),
            ),
            OpResult::Done => Value::Null,
            OpResult::Ephemerals { paths } => json!({ "paths": paths }),
            OpResult::ChildrenNumber { number } => json!({ "count": number }),
            OpResult::Acl { acl, stat } => {
                let entries: Vec<Value> = acl
                    .entries()
                    .iter()
                    .map(|e| {
                        let (scheme, id) = e.id.scheme_and_id();
                        json!({"perms": e.perms.0, "scheme": scheme, "id": id})
                    })
                    .collect();
                json!({"acl": entries, "stat": self.stat_json(stat)})
            }
        }
    }

    /// A Stat with raw zxids (ranked later, case-wide) and the owner as a session number.
    fn stat_json(&self, stat: &Stat) -> Value {
        let owner = match stat.ephemeral_owner {
            SessionId(0) => json!(0),
            s => match self.numbers.get(&s) {
                Some(n) => json!(n),
                None => json!(format!("0x{:016x}", s.0)),
            },
        };
        json!({
            "czxid": stat.czxid.0, "mzxid": stat.mzxid.0, "pzxid": stat.pzxid.0,
            "version": stat.version, "cversion": stat.cversion, "aversion": stat.aversion,
            "dataLength": stat.data_length, "numChildren": stat.num_children, "ephemeralOwner": owner,
        })
    }
}

const ZXID_FIELDS: [&str; 3] = ["czxid", "mzxid", "pzxid"];

/// Replaces every Stat zxid in `results` by its rank among all of them.
pub fn rank_zxids(results: &mut [ProbeResult]) {
    fn visit(v: &mut Value, f: &mut dyn FnMut(&mut Value)) {
        match v {
            Value::Object(m) => {
                if m.contains_key("czxid") {
                    for k in ZXID_FIELDS {
                        if let Some(z) = m.get_mut(k) {
                            f(z);
                        }
                    }
                }
                for (_, child) in m.iter_mut() {
                    visit(child, f);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| visit(x, f)),
            _ => {}
        }
    }
    let mut seen = BTreeSet::new();
    for r in results.iter_mut() {
        if let ProbeResult::Ok { ok, .. } = r {
            visit(ok, &mut |z| {
                seen.insert(z.as_u64().expect("raw zxids are u64"));
            });
        }
    }
    let rank: BTreeMap<u64, usize> = seen.into_iter().enumerate().map(|(i, z)| (z, i)).collect();
    for r in results.iter_mut() {
        if let ProbeResult::Ok { ok, .. } = r {
            visit(ok, &mut |z| {
                let raw = z.as_u64().expect("raw zxids are u64");
                *z = json!(rank[&raw]);
            });
        }
    }
}

/// The create flags ZooKeeper's CreateMode uses for a mode.
fn probe_flags(mode: ProbeMode) -> i32 {
    match mode {
        ProbeMode::Persistent => 0,
        ProbeMode::Ephemeral => 1,
        ProbeMode::PersistentSequential => 2,
        ProbeMode::EphemeralSequential => 3,
        ProbeMode::Container => 4,
        ProbeMode::Ttl => 5,
        ProbeMode::PersistentSequentialTtl => 6,
    }
}

/// The opcode a client sends for a create of `mode` when the op names no raw opcode.
fn probe_opcode(mode: ProbeMode) -> i32 {
    match mode {
        ProbeMode::Container => 19,
        ProbeMode::Ttl | ProbeMode::PersistentSequentialTtl => 21,
        _ => 15,
    }
}

/// Maps a create (mode, ttl, raw opcode and flags) to the model's vocabulary. Returns the mode
/// and whether the answer carries no stat (opcode 1). A missing `opcode` or `flags` is the one
/// a client sends for `mode` (so `{"mode": "container", "opcode": 15}` is create2 with flag 4).
pub fn create_mode(c: &ProbeCreate) -> Result<(CreateMode, bool), String> {
    let ttl = c.ttl.unwrap_or(-1);
    let opcode = c.opcode.unwrap_or(probe_opcode(c.mode));
    let flags = c.flags.unwrap_or(probe_flags(c.mode));
    let mode = match (opcode, flags) {
        // create/create2 read the flags; the container flag makes a plain persistent node
        // (only the createContainer opcode makes containers) and the TTL flags come with no
        // ttl (-1), which the server rejects.
        (1 | 15, 0) => CreateMode::Persistent,
        (1 | 15, 1) => CreateMode::Ephemeral,
        (1 | 15, 2) => CreateMode::PersistentSequential,
        (1 | 15, 3) => CreateMode::EphemeralSequential,
        (1 | 15, 4) => CreateMode::Persistent,
        (1 | 15, 5) => CreateMode::PersistentWithTtl { ttl_ms: -1 },
        (1 | 15, 6) => CreateMode::PersistentSequentialWithTtl { ttl_ms: -1 },
        // createContainer takes its kind from the opcode (a CreateContainerTxn), but the flags
        // are still parsed and the TTL rule still applies to them: a TTL flag (no ttl field) or
        // an unknown flag is refused. The ephemeral flag only changes which session check runs.
        // Sequential flags would make sequential containers, which the model lacks.
        (19, 0 | 1 | 4) => CreateMode::Container,
        (19, flags) if !(2..=3).contains(&flags) => CreateMode::Invalid { opcode: 19, flags },
        (21, 5) => CreateMode::PersistentWithTtl { ttl_ms: ttl },
        (21, 6) => CreateMode::PersistentSequentialWithTtl { ttl_ms: ttl },
        // An unknown flag (CreateMode.fromFlag refuses it), or a createTTL request whose mode
        // is not a TTL mode (its ttl is refused): both are BadArguments before any other check.
        (opcode @ (1 | 15 | 21), flags) => CreateMode::Invalid { opcode, flags },
        (op, flags) => return Err(format!("opcode {op} (flags {flags}) is not a create opcode (1, 15, 19, 21)")),
    };
    Ok((mode, opcode == 1))
}

/// Maps a create sub-op of a multi. The server rebuilds each sub-op from its request
/// (`MultiOperationRecord.deserialize` → `Op.create(path, data, acl, flags[, ttl])`), and the
/// rebuilt op's type comes from the FLAGS, not from the header's opcode: `Create` takes
/// `getOpcode(CreateMode.fromFlag(flags, PERSISTENT))`, so flag 4 is a createContainer whatever
/// the opcode (create2 with flag 4 makes a real container in a multi), flags 0–3 are a plain
/// create (createContainer with flag 0 makes a persistent node, answered without a stat), and a
/// createTTL request with a non-TTL flag becomes a plain `Create` (its ttl dropped), not an
/// error. The answer carries a stat exactly for container and TTL creates (FinalRequestProcessor
/// answers the `create` type with the path only), so opcode 1 strips nothing here.
pub fn multi_create_mode(c: &ProbeCreate) -> Result<CreateMode, String> {
    let ttl = c.ttl.unwrap_or(-1);
    let opcode = c.opcode.unwrap_or(probe_opcode(c.mode));
    let flags = c.flags.unwrap_or(probe_flags(c.mode));
    if !matches!(opcode, 1 | 15 | 19 | 21) {
        return Err(format!("opcode {opcode} (flags {flags}) is not a create opcode (1, 15, 19, 21)"));
    }
    Ok(match (opcode, flags) {
        (21, 5) => CreateMode::PersistentWithTtl { ttl_ms: ttl },
        (21, 6) => CreateMode::PersistentSequentialWithTtl { ttl_ms: ttl },
        (_, 0) => CreateMode::Persistent,
        (_, 1) => CreateMode::Ephemeral,
        (_, 2) => CreateMode::PersistentSequential,
        (_, 3) => CreateMode::EphemeralSequential,
        (_, 4) => CreateMode::Container,
        // A TTL flag under another opcode makes a `Create` typed createTTL whose request is a
        // plain CreateRequest: PrepRequestProcessor's cast to CreateTTLRequest throws and the
        // whole multi is answered MarshallingError, which the model cannot express.
        (_, 5 | 6) => {
            return Err(format!("a TTL flag ({flags}) in a multi create with opcode {opcode} (MarshallingError)"))
        }
        // An unknown flag: PrepRequestProcessor's CreateMode.fromFlag refuses it.
        (opcode, flags) => CreateMode::Invalid { opcode, flags },
    })
}

fn to_action(op: &ProbeOp) -> Result<Action, String> {
    Ok(match op {
        ProbeOp::Create { create, session } => {
            let (mode, strip) = create_mode(create)?;
            Action::Execute {
                session: *session,
                op: Op::Create {
                    path: create.path.clone(),
                    data: create.data.clone(),
                    mode,
                    acl: create.acl.unwrap_or_default().acl(),
                },
                strip: StripStat { top: strip },
            }
        }
        ProbeOp::Delete { path, version, session } => Action::Execute {
            session: *session,
            op: Op::Delete { path: path.clone(), version: *version },
            strip: StripStat::default(),
        },
        ProbeOp::Set { path, data, version, session } => Action::Execute {
            session: *session,
            op: Op::SetData { path: path.clone(), data: data.clone(), version: *version },
            strip: StripStat::default(),
        },
        ProbeOp::Get { path, watch, session } => Action::Execute {
            session: *session,
            op: Op::GetData { path: path.clone(), watch: *watch },
            strip: StripStat::default(),
        },
        ProbeOp::Children { path, watch, session } => Action::Execute {
            session: *session,
            op: Op::GetChildren { path: path.clone(), watch: *watch },
            strip: StripStat::default(),
        },
        ProbeOp::Exists { path, watch, session } => Action::Execute {
            session: *session,
            op: Op::Exists { path: path.clone(), watch: *watch },
            strip: StripStat::default(),
        },
        ProbeOp::Sync { path, session } => {
            Action::Execute { session: *session, op: Op::Sync { path: path.clone() }, strip: StripStat::default() }
        }
        ProbeOp::Multi { ops, session } => {
            let mut subs = Vec::with_capacity(ops.len());
            for sub in ops {
                subs.push(match sub {
                    ProbeSubOp::Create { create } => {
                        let mode = multi_create_mode(create)?;
                        MultiOp::Create {
                            path: create.path.clone(),
                            data: create.data.clone(),
                            mode,
                            acl: create.acl.unwrap_or_default().acl(),
                        }
                    }
                    ProbeSubOp::Delete { path, version } => MultiOp::Delete { path: path.clone(), version: *version },
                    ProbeSubOp::Set { path, data, version } => {
                        MultiOp::SetData { path: path.clone(), data: data.clone(), version: *version }
                    }
                    ProbeSubOp::Check { path, version } => MultiOp::Check { path: path.clone(), version: *version },
                    ProbeSubOp::Get { path } => MultiOp::GetData { path: path.clone() },
                    ProbeSubOp::Children { path } => MultiOp::GetChildren { path: path.clone() },
                });
            }
            Action::Execute { session: *session, op: Op::Multi { ops: subs }, strip: StripStat::default() }
        }
        ProbeOp::MultiRead { ops, session } => {
            let mut reads = Vec::with_capacity(ops.len());
            for sub in ops {
                reads.push(match sub {
                    ProbeSubOp::Get { path } => Op::GetData { path: path.clone(), watch: false },
                    ProbeSubOp::Children { path } => Op::GetChildren { path: path.clone(), watch: false },
                    _ => return Err("a write op inside multi_read".into()),
                });
            }
            Action::MultiRead { session: *session, reads }
        }
        ProbeOp::SetAcl { path, acl, version, session } => Action::Execute {
            session: *session,
            op: Op::SetAcl { path: path.clone(), acl: acl.acl(), version: *version },
            strip: StripStat::default(),
        },
        ProbeOp::GetAcl { path, session } => {
            Action::Execute { session: *session, op: Op::GetAcl { path: path.clone() }, strip: StripStat::default() }
        }
        ProbeOp::AddWatch { path, mode, session } => Action::Execute {
            session: *session,
            op: Op::AddWatch { path: path.clone(), mode: *mode },
            strip: StripStat::default(),
        },
        ProbeOp::RemoveWatches { path, kind, session } => Action::Execute {
            session: *session,
            op: Op::RemoveWatches { path: path.clone(), kind: *kind },
            strip: StripStat::default(),
        },
        ProbeOp::GetEphemerals { path, session } => Action::Ephemerals { session: *session, prefix: path.clone() },
        ProbeOp::GetAllChildrenNumber { path, session } => {
            Action::CountChildren { session: *session, path: path.clone() }
        }
        ProbeOp::OpenSession { session } => Action::Open(*session),
        ProbeOp::CloseSession { session } => Action::Close(*session),
        ProbeOp::ExpireSession { session } => Action::Expire(*session),
        ProbeOp::Wait { ms } => Action::Wait(*ms),
    })
}
