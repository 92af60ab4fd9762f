//! What a report says about one run, computed from the history and the verdicts alone.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use zksim_model::{Event, History, OpId, Outcome};

/// The kind of a property (stateright's vocabulary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertyKind {
    /// Safety: must hold at every point of every run.
    Always,
    /// Liveness: must hold within a bound once faults heal.
    Eventually,
    /// Coverage goal: should happen in some runs; never reaching it is a hole in the testing.
    Sometimes,
}

/// A property's verdict in one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The checker could not decide (budget exhausted).
    Unknown,
    /// The run holds nothing this property speaks about.
    NotApplicable,
    /// A coverage goal reached in this run.
    Reached,
    /// A coverage goal not reached in this run.
    NotReached,
}

/// One violation, explained for a human, with the operations it involves (for highlighting).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    pub summary: String,
    pub explanation: String,
    pub ops: Vec<OpId>,
    /// When it happened (simulated ns): the involved operations' invocations and records'
    /// times, earliest first; reports mark these on the timeline.
    #[serde(default)]
    pub times_ns: Vec<u64>,
}

/// A property's outcome in one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PropertyResult {
    pub name: String,
    pub kind: PropertyKind,
    pub verdict: Verdict,
    pub violations: Vec<Violation>,
}

/// Latency figures of one operation kind, in simulated milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    pub count: u64,
    pub ok: u64,
    pub errors: u64,
    pub indeterminate: u64,
    /// Invoked and never completed in the history (a client library must flush these as
    /// indeterminate at the end of a run; counted here so nothing goes unreported).
    pub pending: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Counts and latencies of a run's client operations, by operation name.
pub fn op_stats(history: &History) -> BTreeMap<String, LatencyStats> {
    let mut invoked: BTreeMap<OpId, (&'static str, u64)> = BTreeMap::new();
    let mut samples: BTreeMap<&'static str, (LatencyStats, Vec<u64>)> = BTreeMap::new();
    for r in &history.records {
        match &r.event {
            Event::Invoke { op_id, op, .. } => {
                invoked.insert(*op_id, (op.name(), r.time.0));
            }
            Event::Complete { op_id, outcome, .. } => {
                let Some((name, t0)) = invoked.remove(op_id) else { continue };
                let (stats, lat) = samples.entry(name).or_default();
                stats.count += 1;
                match outcome {
                    Outcome::Ok { .. } => stats.ok += 1,
                    Outcome::Err { .. } | Outcome::MultiErr { .. } => stats.errors += 1,
                    Outcome::Indeterminate { .. } => stats.indeterminate += 1,
                }
                lat.push(r.time.0.saturating_sub(t0));
            }
            _ => {}
        }
    }
    for (name, _) in invoked.values() {
        samples.entry(name).or_default().0.pending += 1;
    }
    samples
        .into_iter()
        .map(|(name, (mut stats, mut lat))| {
            lat.sort_unstable();
            let pick = |q: f64| -> f64 {
                if lat.is_empty() {
                    return 0.0;
                }
                let i = ((lat.len() as f64 - 1.0) * q).round() as usize;
                lat[i] as f64 / 1e6
            };
            stats.p50_ms = pick(0.5);
            stats.p99_ms = pick(0.99);
            stats.max_ms = pick(1.0);
            (name.to_string(), stats)
        })
        .collect()
}
