//! Sweeps: many seeds of many scenarios, in parallel across cores (each seed its own
//! single-threaded simulation), sliceable into deterministic shards for batch systems, with
//! results that merge back into one report.

use crate::report::summary::Verdict;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// One run's result, as the sweep's JSON and the index report carry it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub scenario: String,
    pub seed: u64,
    /// "pass", "fail", or "expected-fail" (the property a regression or planted-bug scenario
    /// expects to fail did, and nothing else did).
    pub verdict: String,
    /// Verdict per property.
    pub properties: BTreeMap<String, Verdict>,
    /// The first violation's summary, or the error that stopped the run.
    pub failure: Option<String>,
    /// The line to paste to replay this run exactly.
    pub replay: String,
    /// Simulated duration of the run, ms.
    pub sim_ms: u64,
    /// Client operations invoked.
    pub ops: u64,
    /// Coverage goals ("sometimes" properties) reached in this run.
    pub coverage: BTreeMap<String, bool>,
    /// Herd-effect figures (name → value) of this run.
    pub herd: BTreeMap<String, f64>,
    /// Where the run's own report was written, if it was.
    pub report: Option<String>,
}

impl RunRecord {
    /// True when the run passed: "pass", or "expected-fail" (an expected failure is a pass).
    pub fn passed(&self) -> bool {
        self.verdict != "fail"
    }
}

/// A sweep's results: `{"runs": [...]}` (the `--json` schema, documented in README.md).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepResult {
    pub runs: Vec<RunRecord>,
}

impl SweepResult {
    /// Merges shard results into one, in canonical (scenario, seed) order.
    pub fn merge(parts: Vec<SweepResult>) -> Result<SweepResult, String> {
        let mut runs: Vec<RunRecord> = parts.into_iter().flat_map(|p| p.runs).collect();
        runs.sort_by(|a, b| (&a.scenario, a.seed).cmp(&(&b.scenario, b.seed)));
        for w in runs.windows(2) {
            if w[0].scenario == w[1].scenario && w[0].seed == w[1].seed {
                return Err(format!("{} seed {} appears in two shards", w[0].scenario, w[0].seed));
            }
        }
        Ok(SweepResult { runs })
    }

    /// Runs whose expected failure happened ("expected-fail").
    pub fn expected_failures(&self) -> impl Iterator<Item = &RunRecord> {
        self.runs.iter().filter(|r| r.verdict == "expected-fail")
    }

    /// Failing runs.
    pub fn failures(&self) -> impl Iterator<Item = &RunRecord> {
        self.runs.iter().filter(|r| !r.passed())
    }
}

/// A slice `k` of `n` (1-based) of a sweep: job `i` of the canonical order belongs to shard
/// `i % n + 1`. Every job belongs to exactly one shard, whatever the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub k: u32,
    pub n: u32,
}

impl Shard {
    /// The whole sweep.
    pub const ALL: Shard = Shard { k: 1, n: 1 };

    /// Parses `K/N`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let err = || format!("--shard expects K/N with 1 <= K <= N, got {s:?}");
        let (k, n) = s.split_once('/').ok_or_else(err)?;
        let (k, n): (u32, u32) = (k.trim().parse().map_err(|_| err())?, n.trim().parse().map_err(|_| err())?);
        if k == 0 || n == 0 || k > n {
            return Err(err());
        }
        Ok(Shard { k, n })
    }

    /// Whether job `index` belongs to this shard.
    pub fn owns(&self, index: usize) -> bool {
        index % self.n as usize == (self.k - 1) as usize
    }
}

/// Runs `jobs` (canonical order) of this shard on `threads` threads, calling `progress` after
/// each, and returns the records in canonical order. Each job runs its own simulation on one
/// thread; threads only pick jobs and collect results, so the results do not depend on timing.
#[allow(clippy::disallowed_methods)] // threads run whole, independent simulations; none runs inside one
pub fn run_jobs<J: Sync, R: Send, F, P>(jobs: &[J], shard: Shard, threads: usize, run: F, progress: P) -> Vec<R>
where
    F: Fn(&J) -> R + Sync,
    P: Fn(usize, usize, &R) + Sync,
{
    let mine: Vec<&J> = jobs.iter().enumerate().filter(|(i, _)| shard.owns(*i)).map(|(_, j)| j).collect();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..mine.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1).min(mine.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = mine.get(i) else { break };
                let rec = run(job);
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                progress(n, mine.len(), &rec);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(rec);
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().map(|r| r.expect("every job ran")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(scenario: &str, seed: u64) -> RunRecord {
        RunRecord {
            scenario: scenario.into(),
            seed,
            verdict: if seed.is_multiple_of(3) { "fail".into() } else { "pass".into() },
            properties: BTreeMap::new(),
            failure: None,
            replay: format!("zksim replay {scenario} --seed {seed}"),
            sim_ms: seed,
            ops: 0,
            coverage: BTreeMap::new(),
            herd: BTreeMap::new(),
            report: None,
        }
    }

    #[test]
    fn shards_merged_equal_the_unsharded_sweep() {
        let jobs: Vec<(String, u64)> =
            ["a", "b"].iter().flat_map(|s| (1..=7).map(move |seed| (s.to_string(), seed))).collect();
        let run = |j: &(String, u64)| rec(&j.0, j.1);
        let whole = SweepResult { runs: run_jobs(&jobs, Shard::ALL, 2, run, |_, _, _| {}) };
        let parts: Vec<SweepResult> =
            (1..=3).map(|k| SweepResult { runs: run_jobs(&jobs, Shard { k, n: 3 }, 2, run, |_, _, _| {}) }).collect();
        assert_eq!(parts.iter().map(|p| p.runs.len()).sum::<usize>(), jobs.len(), "each job in exactly one shard");
        assert_eq!(SweepResult::merge(parts).unwrap(), whole);
    }

    #[test]
    fn merge_rejects_overlapping_shards() {
        let a = SweepResult { runs: vec![rec("a", 1)] };
        assert!(SweepResult::merge(vec![a.clone(), a]).unwrap_err().contains("two shards"));
    }

    #[test]
    fn shard_parsing() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { k: 2, n: 4 });
        for bad in ["0/4", "5/4", "x", "1/0", "1-2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
