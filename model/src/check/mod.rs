//! # check — named properties of a history, judged against the reference model
//!
//! [`check_history`] indexes a [`History`] once, replays the committed log (with reads at their
//! reply zxids) through [`crate::reference::ZkModel`] once, and gives a verdict per named
//! property:
//!
//! | name | what it checks | module |
//! |---|---|---|
//! | `well-formed` | completions match invocations, op ids and xids unique, time never runs backwards | `index` |
//! | `linearizable-writes` | the zxid order is a valid linearization of the writes and reproduces every result | `writes` |
//! | `sequential-reads` | reads equal the state at their reply zxid; per-session reply zxids never decrease | `reads` |
//! | `sync-reads` | (opt-in) a read after `sync` sees every write completed before the sync | `reads` |
//! | `durability` | every acknowledged write is in the committed log | `durability` |
//! | `agreement` | one transaction per zxid, commits in order, every server's log a prefix of the committed one | `durability` |
//! | `convergence` | (opt-in) servers up at the end hold exactly the committed log | `durability` |
//! | `session-expiry` | no expiry of a session that stayed connected through an undisturbed timeout | `sessions` |
//! | `ephemeral-cleanup` | a session's ephemerals go with its close | `sessions` |
//! | `watch-delivery` | events match registrations, fire at most once, arrive before later replies | `watches` |
//!
//! Each verdict is Pass, Fail (with explained [`Violation`]s), Unknown or NotApplicable; the
//! report serializes to JSON for `--json` output. Malformed histories never panic: the findings
//! are `well-formed` violations and the rest is judged on what could be indexed.

mod durability;
pub mod explain;
mod index;
mod reads;
mod replay;
mod sessions;
mod watches;
mod writes;

pub use explain::{render_op, render_outcome, render_txn, OpRef, RecordRef, Violation};
pub use replay::outcome_matches;

use crate::history::History;
use crate::recipes::coord_log::CommittedLog;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Stable property names, as they appear in reports.
pub mod names {
    pub const WELL_FORMED: &str = "well-formed";
    pub const LINEARIZABLE_WRITES: &str = "linearizable-writes";
    pub const SEQUENTIAL_READS: &str = "sequential-reads";
    pub const SYNC_READS: &str = "sync-reads";
    pub const DURABILITY: &str = "durability";
    pub const AGREEMENT: &str = "agreement";
    pub const CONVERGENCE: &str = "convergence";
    pub const SESSION_EXPIRY: &str = "session-expiry";
    pub const EPHEMERAL_CLEANUP: &str = "ephemeral-cleanup";
    pub const WATCH_DELIVERY: &str = "watch-delivery";
    /// Every name, in report order.
    pub const ALL: [&str; 10] = [
        WELL_FORMED,
        LINEARIZABLE_WRITES,
        SEQUENTIAL_READS,
        SYNC_READS,
        DURABILITY,
        AGREEMENT,
        CONVERGENCE,
        SESSION_EXPIRY,
        EPHEMERAL_CLEANUP,
        WATCH_DELIVERY,
    ];
}

/// What to check and how strictly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckConfig {
    /// Check `sync-reads`: a read after a completed sync sees every write completed before the
    /// sync began. Off by default: real ZooKeeper does not promise it (ZOOKEEPER-1675).
    pub strict_sync_reads: bool,
    /// Check `convergence`: servers up at the end hold exactly the committed log. Turn on for
    /// runs that end with a healed quiet period.
    pub require_caught_up: bool,
    /// Start the model from a fresh real server's tree (`/zookeeper`, ...) rather than "/" alone.
    pub fresh_server: bool,
    /// At most this many violations are kept per property (all are counted).
    pub max_violations: usize,
}

impl Default for CheckConfig {
    fn default() -> CheckConfig {
        CheckConfig { strict_sync_reads: false, require_caught_up: false, fresh_server: true, max_violations: 20 }
    }
}

/// A property's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    Pass,
    /// `violations` holds at most `CheckConfig::max_violations`; `total` counts them all.
    Fail {
        total: usize,
        violations: Vec<Violation>,
    },
    /// The checker could not decide.
    Unknown {
        reason: String,
    },
    /// The history holds nothing this property could judge, or it was not asked for.
    NotApplicable {
        reason: String,
    },
}

/// One property's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyReport {
    pub name: String,
    #[serde(flatten)]
    pub verdict: Verdict,
    /// How many facts (operations, events, transactions) the property examined.
    pub checked: u64,
    /// Anything worth knowing that is not a violation.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
}

/// The verdicts of every property on one history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    pub scenario: String,
    pub seed: u64,
    pub properties: Vec<PropertyReport>,
}

impl CheckReport {
    /// True when no property failed (Unknown and NotApplicable do not count as failures).
    pub fn passed(&self) -> bool {
        self.failed().next().is_none()
    }

    /// The properties that failed.
    pub fn failed(&self) -> impl Iterator<Item = &PropertyReport> {
        self.properties.iter().filter(|p| matches!(p.verdict, Verdict::Fail { .. }))
    }

    /// A property's report by name.
    pub fn get(&self, name: &str) -> Option<&PropertyReport> {
        self.properties.iter().find(|p| p.name == name)
    }

    /// The violations of a property (empty unless it failed).
    pub fn violations(&self, name: &str) -> &[Violation] {
        match self.get(name).map(|p| &p.verdict) {
            Some(Verdict::Fail { violations, .. }) => violations,
            _ => &[],
        }
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "check of scenario {} seed {}", self.scenario, self.seed)?;
        for p in &self.properties {
            match &p.verdict {
                Verdict::Pass => write!(f, "  PASS  {} ({} checked)", p.name, p.checked)?,
                Verdict::Fail { total, violations } => {
                    write!(f, "  FAIL  {} ({} violations, {} checked)", p.name, total, p.checked)?;
                    for v in violations {
                        let text = v.to_string().replace('\n', "\n        ");
                        write!(f, "\n      - {text}")?;
                    }
                    if *total > violations.len() {
                        write!(f, "\n      … and {} more", total - violations.len())?;
                    }
                }
                Verdict::Unknown { reason } => write!(f, "  ????  {}: {reason}", p.name)?,
                Verdict::NotApplicable { reason } => write!(f, "  n/a   {}: {reason}", p.name)?,
            }
            if let Some(n) = &p.note {
                write!(f, "\n        note: {n}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

fn verdict(mut v: Vec<Violation>, cfg: &CheckConfig) -> Verdict {
    if v.is_empty() {
        Verdict::Pass
    } else {
        let total = v.len();
        v.truncate(cfg.max_violations);
        Verdict::Fail { total, violations: v }
    }
}

/// Judges `h` on every named property. Never panics on malformed input.
pub fn check_history(h: &History, cfg: &CheckConfig) -> CheckReport {
    judge(h, cfg, false).0
}

/// [`check_history`], and also the committed log's node changes for the recipe checkers,
/// exactly [`CommittedLog::of`]`(h)`: taken from the same replay rather than a second one
/// (when the history touches the reserved `/zookeeper` subtree, where a fresh server's tree
/// differs from the empty one `CommittedLog::of` starts from, that replay is run after all).
pub fn check_history_with_log(h: &History, cfg: &CheckConfig) -> (CheckReport, CommittedLog) {
    let (report, log) = judge(h, cfg, true);
    (report, log.unwrap_or_else(|| CommittedLog::of(h)))
}

/// The report, and with `changes` the committed log when the replay could give it.
fn judge(h: &History, cfg: &CheckConfig, changes: bool) -> (CheckReport, Option<CommittedLog>) {
    let ix = index::HistoryIndex::build(h);
    let mut r = replay::replay(&ix, cfg.fresh_server, changes);
    let log = r.committed.take().filter(|_| !(cfg.fresh_server && r.touches_reserved));
    let mut props = Vec::new();
    let mut push = |name: &str, verdict: Verdict, checked: u64, note: Option<String>| {
        props.push(PropertyReport { name: name.to_string(), verdict, checked, note })
    };

    push(names::WELL_FORMED, verdict(ix.problems.clone(), cfg), h.records.len() as u64, None);

    let mut lw = r.write_violations.clone();
    lw.extend(writes::check(&ix, &r));
    let n_writes = ix.ops.iter().filter(|o| o.is_write()).count() as u64;
    push(names::LINEARIZABLE_WRITES, verdict(lw, cfg), n_writes, None);

    let (mono, _) = reads::monotonic(&ix);
    let mut sr = r.read_violations.clone();
    sr.extend(mono);
    push(names::SEQUENTIAL_READS, verdict(sr, cfg), r.reads_checked, None);

    if cfg.strict_sync_reads {
        let (v, n) = reads::after_sync(&ix, &r);
        push(names::SYNC_READS, verdict(v, cfg), n, None);
    } else {
        push(
            names::SYNC_READS,
            Verdict::NotApplicable {
                reason: "strict_sync_reads is off (ZooKeeper's sync is not a quorum operation, ZOOKEEPER-1675)".into(),
            },
            0,
            None,
        );
    }

    let (v, n) = durability::durability(&ix, &r);
    push(names::DURABILITY, verdict(v, cfg), n, None);

    let (v, n, note) = durability::agreement(&ix, &r);
    push(names::AGREEMENT, verdict(v, cfg), n, note);

    if !cfg.require_caught_up {
        push(names::CONVERGENCE, Verdict::NotApplicable { reason: "require_caught_up is off".into() }, 0, None);
    } else if ix.finals.is_empty() {
        push(names::CONVERGENCE, Verdict::Unknown { reason: "the history has no Final records".into() }, 0, None);
    } else {
        let (v, n) = durability::convergence(&ix, &r);
        push(names::CONVERGENCE, verdict(v, cfg), n, None);
    }

    match sessions::expiry(&ix) {
        Some((v, n)) => push(names::SESSION_EXPIRY, verdict(v, cfg), n, None),
        None => push(
            names::SESSION_EXPIRY,
            Verdict::NotApplicable {
                reason: "the history has no Session records to tell connected clients from cut-off ones".into(),
            },
            0,
            None,
        ),
    }

    let (v, n) = sessions::ephemerals(&ix, &r);
    push(names::EPHEMERAL_CLEANUP, verdict(v, cfg), n, None);

    let (v, n) = watches::check(&ix, &r);
    push(names::WATCH_DELIVERY, verdict(v, cfg), n, None);

    (CheckReport { scenario: h.header.scenario.clone(), seed: h.header.seed, properties: props }, log)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{CloseReason, Txn};
    use crate::op::Op;
    use crate::testkit::{synthetic, HistoryBuilder};
    use crate::types::{CreateMode, Data};

    /// The log the replay records is exactly the one a replay of its own gives, and recording
    /// it changes no verdict.
    fn same_as_separate(h: &History) {
        for cfg in [CheckConfig::default(), CheckConfig { fresh_server: false, ..CheckConfig::default() }] {
            let (report, log) = check_history_with_log(h, &cfg);
            assert_eq!(report, check_history(h, &cfg));
            assert_eq!(format!("{log:?}"), format!("{:?}", CommittedLog::of(h)));
        }
    }

    #[test]
    fn shared_log_matches_a_separate_replay_on_synthetic_histories() {
        for seed in 0..40 {
            let mut p = synthetic::Params::small(seed);
            p.ops = 60;
            same_as_separate(&synthetic::generate(&p));
        }
    }

    #[test]
    fn shared_log_matches_a_separate_replay_with_ephemerals_closes_and_reserved_paths() {
        let create =
            |path: &str, mode| Op::Create { path: path.into(), data: Data::text("d"), mode, acl: crate::Acl::open() };
        let mut b = HistoryBuilder::new();
        b.open_session(1, 0x10, 1, 6000);
        b.open_session(2, 0x20, 1, 6000);
        b.write(1, 0x10, create("/lock", CreateMode::Persistent));
        b.write(1, 0x10, create("/lock/n-", CreateMode::EphemeralSequential));
        b.write(2, 0x20, create("/lock/n-", CreateMode::EphemeralSequential));
        b.write(2, 0x20, Op::SetData { path: "/lock".into(), data: Data::text("x"), version: -1 });
        b.commit(Txn::CloseSession { session: crate::types::SessionId(0x10), reason: CloseReason::Expired });
        let plain = b.build("shared-log");
        same_as_separate(&plain);
        // A fresh server's /zookeeper/quota exists; the empty tree `CommittedLog::of` starts from
        // has none, so this create's change is only in the fresh replay: the log is replayed apart.
        b.write(2, 0x20, create("/zookeeper/quota/q", CreateMode::Persistent));
        b.write(2, 0x20, Op::Delete { path: "/lock".into(), version: -1 });
        same_as_separate(&b.build("shared-log-reserved"));
    }
}
