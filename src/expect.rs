//! What a run's verdict is once a scenario's `[expect]` is taken into account.
//!
//! A scenario without `expect` must pass every property. A scenario with `expect` names a
//! property that must fail: a shrink regression at its one `seed`, a planted bug's catalog
//! scenario within its `seed_budget`. A run where that property fails is an *expected failure*
//! (a pass for exit codes; other properties failing alongside are listed as further symptoms);
//! another property failing without it, or a stopped run, is a failure. A catalog run where nothing fails is a pass for that seed (the bug was not
//! triggered); whether the bug is caught within its budget is a judgement over seeds
//! ([`budget_misses`]).

use crate::report::summary::Verdict;
use crate::runner::RunOutput;
use crate::scenario::Scenario;
use std::collections::{BTreeMap, BTreeSet};

/// A run's verdict with the scenario's expectation applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunVerdict {
    /// Nothing failed (and nothing was expected to fail at this seed).
    Pass,
    /// The expected property failed.
    ExpectedFail,
    /// Something failed that was not expected, or the expected failure did not happen at a
    /// regression's seed.
    Fail,
}

impl RunVerdict {
    /// The verdict as the sweep JSON spells it: "pass", "expected-fail" or "fail".
    pub fn as_str(self) -> &'static str {
        match self {
            RunVerdict::Pass => "pass",
            RunVerdict::ExpectedFail => "expected-fail",
            RunVerdict::Fail => "fail",
        }
    }

    /// Pass and expected-fail both count as passing for exit codes.
    pub fn is_ok(self) -> bool {
        self != RunVerdict::Fail
    }
}

/// The names of the properties that failed in a run.
pub fn failed_properties(out: &RunOutput) -> Vec<&str> {
    out.properties.iter().filter(|p| p.verdict == Verdict::Fail).map(|p| p.name.as_str()).collect()
}

/// Judges one run of `scenario` at `seed` against the scenario's expectation, with a one-line
/// reason when the verdict is not a plain pass.
pub fn judge(scenario: &Scenario, seed: u64, out: &RunOutput) -> (RunVerdict, Option<String>) {
    let Some(x) = &scenario.expect else {
        return if out.passed() { (RunVerdict::Pass, None) } else { (RunVerdict::Fail, out.first_failure()) };
    };
    if let Some(e) = &out.error {
        return (RunVerdict::Fail, Some(format!("run stopped: {e}")));
    }
    let failed = failed_properties(out);
    let others: Vec<&str> = failed.iter().copied().filter(|p| *p != x.failing_property).collect();
    if failed.contains(&x.failing_property.as_str()) {
        // A bug often shows more than one symptom: the expected one is what counts.
        let why = out
            .properties
            .iter()
            .find(|p| p.name == x.failing_property)
            .and_then(|p| p.violations.first())
            .map(|v| v.summary.clone())
            .unwrap_or_default();
        let also = if others.is_empty() { String::new() } else { format!(" (also failed: {})", others.join(", ")) };
        return (RunVerdict::ExpectedFail, Some(format!("expected failure: {}: {why}{also}", x.failing_property)));
    }
    if !others.is_empty() {
        return (
            RunVerdict::Fail,
            Some(format!(
                "expected `{}` to fail, but {} failed instead: {}",
                x.failing_property,
                others.join(", "),
                out.first_failure().unwrap_or_default()
            )),
        );
    }
    match x.seed {
        Some(s) if s == seed => (
            RunVerdict::Fail,
            Some(format!("expected `{}` to fail at seed {s} (a shrunk regression); it passed", x.failing_property)),
        ),
        _ => (RunVerdict::Pass, None),
    }
}

/// For each catalog scenario (one with `expect.seed_budget`) whose seeds 1..=budget are all
/// among `runs` (scenario name, seed, verdict), with none of them an expected failure: the
/// scenario name and why. These are planted bugs the sweep failed to catch.
pub fn budget_misses<'a>(
    scenarios: impl IntoIterator<Item = &'a Scenario>,
    runs: &[(String, u64, RunVerdict)],
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for s in scenarios {
        let Some(budget) = s.expect.as_ref().and_then(|x| x.seed_budget) else { continue };
        let mine: BTreeMap<u64, RunVerdict> =
            runs.iter().filter(|(n, _, _)| *n == s.name).map(|(_, seed, v)| (*seed, *v)).collect();
        let covered: BTreeSet<u64> = mine.keys().copied().filter(|seed| (1..=budget).contains(seed)).collect();
        if covered.len() as u64 != budget {
            continue; // not every seed of the budget ran here (a shard, or another first seed)
        }
        if !mine.iter().any(|(seed, v)| *seed <= budget && *v == RunVerdict::ExpectedFail) {
            let x = s.expect.as_ref().expect("has a budget");
            out.insert(
                s.name.clone(),
                format!(
                    "planted bug(s) {} not caught: `{}` did not fail in seeds 1..={budget}",
                    s.bugs.join(", "),
                    x.failing_property
                ),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn catalog(budget: u64) -> Scenario {
        let text = format!(
            "bugs = [\"commit-without-quorum\"]\n[expect]\nfailing_property = \"agreement\"\nseed_budget = {budget}\n"
        );
        Scenario::parse(Path::new("scenarios/bugs/commit-without-quorum.toml"), &text).unwrap()
    }

    #[test]
    fn a_bug_not_caught_within_its_budget_is_a_miss() {
        let s = catalog(3);
        let run = |seed, v| ("commit-without-quorum".to_string(), seed, v);
        let missed = vec![run(1, RunVerdict::Pass), run(2, RunVerdict::Pass), run(3, RunVerdict::Pass)];
        let misses = budget_misses([&s], &missed);
        let why = misses.get("commit-without-quorum").expect("not caught");
        assert!(why.contains("commit-without-quorum") && why.contains("agreement") && why.contains("1..=3"), "{why}");
        let caught = vec![run(1, RunVerdict::Pass), run(2, RunVerdict::ExpectedFail), run(3, RunVerdict::Pass)];
        assert!(budget_misses([&s], &caught).is_empty());
        // A shard that did not run the whole budget cannot judge it.
        assert!(budget_misses([&s], &missed[..2]).is_empty());
    }
}
