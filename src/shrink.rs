//! Shrinking a failing run: delta debugging over a scenario while the same property still
//! fails at the same seed.
//!
//! The random nemesis is first materialized into an explicit fault list ([`materialized`]), so
//! every fault can be dropped or shortened on its own. Then [`minimize`] repeats passes until
//! none makes progress or the run budget is spent:
//!
//! 1. shorten the safety phase (faults at or after the new end are dropped),
//! 2. drop fault units (a fault with its undo: crash/restart, pause/resume, partition/heal…)
//!    ddmin-style — halves, then smaller chunks, down to one unit at a time,
//! 3. move each unit's undo earlier (shorter faults),
//! 4. drop client groups and reduce client counts (faults on removed clients go, later client
//!    names are renumbered),
//! 5. fewer operations (kv: longer think time; queue producers: fewer items),
//! 6. shorten the liveness phase.
//!
//! Every candidate is one full deterministic run (the caller's predicate). Changing the clients
//! or the faults changes what the random streams drive, so a smaller candidate may fail in a
//! different way; the predicate accepts a candidate only if the *same* property fails.
//! The minimizer itself is pure: the predicate is a parameter, so it is unit-tested on
//! synthetic predicates without running anything.

use crate::plan::materialize;
use crate::report::summary::Verdict;
use crate::runner::RunOutput;
use crate::scenario::{FaultSpec, Scenario, TimedFault, Workload};
use std::collections::BTreeMap;
use zksim_model::{ClientId, Node};

/// The names of the properties that failed in a run (none if the run stopped on a panic: that
/// is a broken invariant, not a property verdict).
pub fn failing_properties(out: &RunOutput) -> Vec<String> {
    if out.error.is_some() {
        return Vec::new();
    }
    out.properties.iter().filter(|p| p.verdict == Verdict::Fail).map(|p| p.name.clone()).collect()
}

/// `scenario` with its randomized nemesis replaced by the explicit faults it draws for `seed`.
/// Runs the same as the original (the nemesis draws from its own stream; the final heal at the
/// end of the safety phase is added again by the plan, so it is left out here).
pub fn materialized(scenario: &Scenario, seed: u64) -> Scenario {
    let mut s = scenario.clone();
    let end = s.phases.safety_ms;
    s.faults = materialize(scenario, seed).into_iter().filter(|f| f.at_ms < end).collect();
    s.nemesis = None;
    s
}

/// How big a scenario is, by the measures shrinking reduces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Size {
    pub faults: usize,
    pub clients: u32,
    pub client_groups: usize,
    pub safety_ms: u64,
    pub liveness_ms: u64,
}

impl Size {
    /// The size of `s`.
    pub fn of(s: &Scenario) -> Size {
        Size {
            faults: s.faults.len(),
            clients: s.client_count(),
            client_groups: s.clients.len(),
            safety_ms: s.phases.safety_ms,
            liveness_ms: s.phases.liveness_ms,
        }
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} faults, {} clients in {} groups, safety {} ms + liveness {} ms",
            self.faults, self.clients, self.client_groups, self.safety_ms, self.liveness_ms
        )
    }
}

/// One candidate tried, for progress output.
pub struct Step<'a> {
    /// Runs so far (this one included).
    pub runs: usize,
    pub max_runs: usize,
    /// What the candidate changed.
    pub what: &'a str,
    /// Whether the property still failed (the candidate was kept).
    pub accepted: bool,
    /// The size of the current (smallest accepted) scenario.
    pub current: Size,
}

/// The outcome of [`minimize`].
pub struct Minimized {
    /// The smallest scenario found that still fails.
    pub scenario: Scenario,
    /// Predicate evaluations (runs) spent.
    pub runs: usize,
    /// Every accepted change, in order.
    pub accepted: Vec<String>,
    /// True if the budget ran out before a full round made no progress.
    pub budget_exhausted: bool,
}

/// Evaluates candidates under a run budget, remembering verdicts of candidates seen before and
/// skipping candidates that are not valid scenarios (without spending a run).
struct Tester<'a> {
    test: &'a mut dyn FnMut(&Scenario) -> bool,
    progress: &'a mut dyn FnMut(&Step<'_>),
    max_runs: usize,
    runs: usize,
    seen: BTreeMap<String, bool>,
    current: Scenario,
    accepted: Vec<String>,
}

impl Tester<'_> {
    fn exhausted(&self) -> bool {
        self.runs >= self.max_runs
    }

    /// Tries `cand`; if it still fails, it becomes the current scenario. None: budget spent.
    fn try_candidate(&mut self, cand: Scenario, what: &str) -> Option<bool> {
        if cand.validate().is_err() || cand == self.current {
            return Some(false);
        }
        let key = format!("{cand:?}");
        if let Some(v) = self.seen.get(&key) {
            // A candidate seen before (a pass proposing what an earlier one tried): its verdict
            // stands, and if it fails, continuing from it is consistent with the caller.
            if *v {
                self.current = cand;
            }
            return Some(*v);
        }
        if self.exhausted() {
            return None;
        }
        self.runs += 1;
        let fails = (self.test)(&cand);
        self.seen.insert(key, fails);
        if fails {
            self.current = cand;
            self.accepted.push(what.to_string());
        }
        (self.progress)(&Step {
            runs: self.runs,
            max_runs: self.max_runs,
            what,
            accepted: fails,
            current: Size::of(&self.current),
        });
        Some(fails)
    }
}

/// Delta-debugs `start` (which must already satisfy `test`; explicit faults only) down to a
/// smaller scenario that still satisfies `test`, spending at most `max_runs` evaluations.
pub fn minimize(
    start: Scenario,
    max_runs: usize,
    test: &mut dyn FnMut(&Scenario) -> bool,
    progress: &mut dyn FnMut(&Step<'_>),
) -> Minimized {
    assert!(start.nemesis.is_none(), "materialize the nemesis before shrinking (shrink::materialized)");
    let mut t = Tester { test, progress, max_runs, runs: 0, seen: BTreeMap::new(), current: start, accepted: vec![] };
    loop {
        let before = t.accepted.len();
        let done = pass_safety(&mut t).is_none()
            || pass_faults(&mut t).is_none()
            || pass_durations(&mut t).is_none()
            || pass_clients(&mut t).is_none()
            || pass_operations(&mut t).is_none()
            || pass_liveness(&mut t).is_none();
        if done || t.accepted.len() == before {
            break;
        }
    }
    let budget_exhausted = t.exhausted();
    Minimized { scenario: t.current, runs: t.runs, accepted: t.accepted, budget_exhausted }
}

/// Binary search for the smallest value in `lo..=cur` that `make` turns into a failing
/// candidate, assuming (roughly) monotonicity; stops at a resolution of `grain`.
fn shrink_number(
    t: &mut Tester<'_>,
    lo: u64,
    cur: u64,
    grain: u64,
    what: &str,
    make: &dyn Fn(&Scenario, u64) -> Scenario,
) -> Option<()> {
    let (mut lo, mut hi) = (lo, cur);
    while lo < hi && hi - lo > grain {
        let mid = lo + (hi - lo) / 2;
        let mid = if grain > 1 { mid / grain * grain } else { mid }.max(lo);
        let cand = make(&t.current, mid);
        let what = format!("{what} {hi} -> {mid} ms{}", dropped(&t.current, &cand));
        if t.try_candidate(cand, &what)? {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    // The lower bound itself (the binary search may stop a grain above it).
    if lo < hi {
        let cand = make(&t.current, lo);
        let what = format!("{what} {hi} -> {lo} ms{}", dropped(&t.current, &cand));
        t.try_candidate(cand, &what)?;
    }
    Some(())
}

/// ", dropping N faults" if `cand` has fewer faults than `cur`.
fn dropped(cur: &Scenario, cand: &Scenario) -> String {
    match cur.faults.len() - cand.faults.len().min(cur.faults.len()) {
        0 => String::new(),
        n => format!(" (dropping the {n} faults after it)"),
    }
}

/// Shorter safety phase; faults that no longer fit are dropped.
fn pass_safety(t: &mut Tester<'_>) -> Option<()> {
    let cur = t.current.phases.safety_ms;
    shrink_number(t, 100.min(cur), cur, 100, "safety phase", &|s, v| {
        let mut c = s.clone();
        c.phases.safety_ms = v;
        c.faults.retain(|f| f.at_ms < v);
        c
    })
}

/// Shorter liveness phase.
fn pass_liveness(t: &mut Tester<'_>) -> Option<()> {
    let cur = t.current.phases.liveness_ms;
    shrink_number(t, 0, cur, 500, "liveness phase", &|s, v| {
        let mut c = s.clone();
        c.phases.liveness_ms = v;
        c
    })
}

/// The faults grouped into units: a fault with the fault that undoes it (indices into the sorted
/// list), or a lone fault. Dropping a unit drops both, so no undo is left without its fault.
pub fn fault_units(faults: &[TimedFault]) -> Vec<Vec<usize>> {
    let mut claimed = vec![false; faults.len()];
    let mut units = Vec::new();
    for i in 0..faults.len() {
        if claimed[i] {
            continue;
        }
        claimed[i] = true;
        let undoes = |g: &FaultSpec| -> bool {
            match (&faults[i].fault, g) {
                (FaultSpec::Crash { node, .. }, FaultSpec::Restart { node: n }) => node == n,
                (FaultSpec::Pause { node }, FaultSpec::Resume { node: n }) => node == n,
                (
                    FaultSpec::Partition { .. } | FaultSpec::PartitionOneWay { .. } | FaultSpec::Isolate { .. },
                    FaultSpec::Heal {},
                ) => true,
                (FaultSpec::SetLossRate { .. }, FaultSpec::SetLossRate { .. }) => true,
                (FaultSpec::SetLatency { .. }, FaultSpec::SetLatency { .. }) => true,
                _ => false,
            }
        };
        let opens = matches!(
            faults[i].fault,
            FaultSpec::Crash { .. }
                | FaultSpec::Pause { .. }
                | FaultSpec::Partition { .. }
                | FaultSpec::PartitionOneWay { .. }
                | FaultSpec::Isolate { .. }
                | FaultSpec::SetLossRate { .. }
                | FaultSpec::SetLatency { .. }
        );
        let undo = if opens { (i + 1..faults.len()).find(|j| !claimed[*j] && undoes(&faults[*j].fault)) } else { None };
        match undo {
            Some(j) => {
                claimed[j] = true;
                units.push(vec![i, j]);
            }
            None => units.push(vec![i]),
        }
    }
    units
}

/// `faults` keeping only the given units.
fn keep_units(faults: &[TimedFault], units: &[Vec<usize>]) -> Vec<TimedFault> {
    let mut keep: Vec<usize> = units.iter().flatten().copied().collect();
    keep.sort_unstable();
    keep.into_iter().map(|i| faults[i].clone()).collect()
}

/// Zeller's ddmin: a 1-minimal subset of `items` (w.r.t. chunks tried) for which `test` holds,
/// given that it holds for all of `items`. `test` returns None when the budget is spent.
pub fn ddmin<T: Clone>(items: Vec<T>, test: &mut dyn FnMut(&[T]) -> Option<bool>) -> Option<Vec<T>> {
    let mut cur = items;
    if cur.is_empty() {
        return Some(cur);
    }
    // The empty set first: often nothing at all is needed (a planted bug fails without faults).
    if test(&[])? {
        return Some(Vec::new());
    }
    let mut n = 2usize;
    while cur.len() >= 2 {
        n = n.min(cur.len());
        let chunk = cur.len().div_ceil(n);
        let chunks: Vec<Vec<T>> = cur.chunks(chunk).map(|c| c.to_vec()).collect();
        let mut reduced = false;
        // Subsets (for n = 2 they equal the complements, tried below).
        if chunks.len() > 2 {
            for c in &chunks {
                if test(c)? {
                    cur = c.clone();
                    n = 2;
                    reduced = true;
                    break;
                }
            }
        }
        if !reduced {
            for k in 0..chunks.len() {
                let complement: Vec<T> =
                    chunks.iter().enumerate().filter(|(i, _)| *i != k).flat_map(|(_, c)| c.iter().cloned()).collect();
                if test(&complement)? {
                    cur = complement;
                    n = (n - 1).max(2);
                    reduced = true;
                    break;
                }
            }
        }
        if !reduced {
            if n >= cur.len() {
                break;
            }
            n = (2 * n).min(cur.len());
        }
    }
    Some(cur)
}

/// Drop fault units, ddmin-style.
fn pass_faults(t: &mut Tester<'_>) -> Option<()> {
    let faults = t.current.faults.clone();
    let units = fault_units(&faults);
    if units.is_empty() {
        return Some(());
    }
    let total = units.len();
    let base = t.current.clone();
    let mut test = |kept: &[Vec<usize>]| -> Option<bool> {
        let mut cand = base.clone();
        cand.faults = keep_units(&faults, kept);
        let what = format!("keep {} of {total} fault units", kept.len());
        t.try_candidate(cand, &what)
    };
    ddmin(units, &mut test)?;
    Some(())
}

/// Shorter faults: move each unit's undo earlier (halving its duration while it still fails).
fn pass_durations(t: &mut Tester<'_>) -> Option<()> {
    let mut k = 0;
    while k < fault_units(&t.current.faults).len() {
        loop {
            let units = fault_units(&t.current.faults);
            let [i, j] = units[k][..] else { break };
            let (start, dur) = (t.current.faults[i].at_ms, t.current.faults[j].at_ms - t.current.faults[i].at_ms);
            if dur / 2 < 10 {
                break;
            }
            let mut cand = t.current.clone();
            cand.faults[j].at_ms = start + dur / 2;
            // Keep the list sorted (stable: equal times keep their order).
            cand.faults.sort_by_key(|f| f.at_ms);
            // Moving an undo past other faults could pair faults differently; keep it simple.
            if fault_units(&cand.faults).len() != units.len() {
                break;
            }
            let what = format!("fault unit {} ({}): {dur} -> {} ms", k + 1, short(&t.current.faults[i].fault), dur / 2);
            if !t.try_candidate(cand, &what)? {
                break;
            }
        }
        k += 1;
    }
    Some(())
}

/// A fault's kind and target, in a few words.
fn short(f: &FaultSpec) -> String {
    match f {
        FaultSpec::Crash { node, .. } => format!("crash {node}"),
        FaultSpec::Pause { node } => format!("pause {node}"),
        FaultSpec::Isolate { node } => format!("isolate {node}"),
        FaultSpec::Partition { .. } => "partition".into(),
        FaultSpec::PartitionOneWay { .. } => "one-way partition".into(),
        FaultSpec::SetLossRate { .. } => "loss".into(),
        FaultSpec::SetLatency { .. } => "latency".into(),
        other => format!("{other:?}"),
    }
}

/// Removes the clients `first..first + n` (1-based ids) from every fault: faults that target one
/// of them are dropped with their unit, later client names move down by `n`.
fn remove_clients(faults: &[TimedFault], first: u32, n: u32) -> Vec<TimedFault> {
    let gone = |node: &Node| matches!(node, Node::Client(ClientId(c)) if *c >= first && *c < first + n);
    let renum = |node: &Node| match node {
        Node::Client(ClientId(c)) if *c >= first + n => Node::Client(ClientId(c - n)),
        other => *other,
    };
    let touches = |f: &FaultSpec| -> bool {
        match f {
            FaultSpec::Isolate { node }
            | FaultSpec::Crash { node, .. }
            | FaultSpec::Restart { node }
            | FaultSpec::Pause { node }
            | FaultSpec::Resume { node } => gone(node),
            FaultSpec::ExpireSession { client } => gone(client),
            _ => false,
        }
    };
    let units = fault_units(faults);
    let kept: Vec<Vec<usize>> = units.into_iter().filter(|u| !u.iter().any(|i| touches(&faults[*i].fault))).collect();
    keep_units(faults, &kept)
        .into_iter()
        .filter_map(|mut f| {
            f.fault = match f.fault {
                FaultSpec::Partition { groups } => {
                    let groups: Vec<Vec<Node>> = groups
                        .iter()
                        .map(|g| g.iter().filter(|n| !gone(n)).map(renum).collect::<Vec<_>>())
                        .filter(|g| !g.is_empty())
                        .collect();
                    if groups.len() < 2 {
                        return None;
                    }
                    FaultSpec::Partition { groups }
                }
                FaultSpec::PartitionOneWay { from, to } => {
                    let from: Vec<Node> = from.iter().filter(|n| !gone(n)).map(renum).collect();
                    let to: Vec<Node> = to.iter().filter(|n| !gone(n)).map(renum).collect();
                    if from.is_empty() || to.is_empty() {
                        return None;
                    }
                    FaultSpec::PartitionOneWay { from, to }
                }
                FaultSpec::Isolate { node } => FaultSpec::Isolate { node: renum(&node) },
                FaultSpec::Crash { node, torn } => FaultSpec::Crash { node: renum(&node), torn },
                FaultSpec::Restart { node } => FaultSpec::Restart { node: renum(&node) },
                FaultSpec::Pause { node } => FaultSpec::Pause { node: renum(&node) },
                FaultSpec::Resume { node } => FaultSpec::Resume { node: renum(&node) },
                FaultSpec::ExpireSession { client } => FaultSpec::ExpireSession { client: renum(&client) },
                other => other,
            };
            Some(f)
        })
        .collect()
}

/// `s` with group `g` reduced to `count` clients (0 = the group removed).
fn with_group_count(s: &Scenario, g: usize, count: u32) -> Scenario {
    let first: u32 = s.clients[..g].iter().map(|c| c.count).sum::<u32>() + 1;
    let old = s.clients[g].count;
    let mut c = s.clone();
    c.faults = remove_clients(&s.faults, first + count, old - count);
    if count == 0 {
        c.clients.remove(g);
    } else {
        c.clients[g].count = count;
    }
    c
}

/// Fewer clients: drop whole groups, then reduce each group's count.
fn pass_clients(t: &mut Tester<'_>) -> Option<()> {
    let mut g = t.current.clients.len();
    while g > 0 {
        g -= 1;
        if g >= t.current.clients.len() {
            continue;
        }
        if t.current.clients.len() > 1 {
            let cand = with_group_count(&t.current, g, 0);
            if t.try_candidate(cand, &format!("drop client group {}", g + 1))? {
                continue;
            }
        }
        loop {
            let count = t.current.clients[g].count;
            let mut tries: Vec<u32> = vec![1, count / 2, count - 1];
            tries.retain(|c| *c >= 1 && *c < count);
            tries.dedup();
            let mut reduced = false;
            for c in tries {
                let cand = with_group_count(&t.current, g, c);
                if t.try_candidate(cand, &format!("client group {}: {count} -> {c} clients", g + 1))? {
                    reduced = true;
                    break;
                }
            }
            if !reduced {
                break;
            }
        }
    }
    Some(())
}

/// Fewer operations: kv clients think longer; queue producers produce fewer items.
fn pass_operations(t: &mut Tester<'_>) -> Option<()> {
    for g in 0..t.current.clients.len() {
        for _ in 0..3 {
            let mut cand = t.current.clone();
            let what = match &mut cand.clients[g].run {
                // Up to a second of thinking: beyond that a run does almost nothing.
                Workload::Kv { think_ms, .. } if *think_ms < 1000 => {
                    let old = *think_ms;
                    *think_ms = (old * 2).clamp(10, 1000);
                    format!("client group {}: think time {old} -> {} ms", g + 1, *think_ms)
                }
                Workload::Queue(p) if p.items > 1 => {
                    let old = p.items;
                    p.items = old / 2;
                    format!("client group {}: {old} -> {} items", g + 1, p.items)
                }
                _ => break,
            };
            if !t.try_candidate(cand, &what)? {
                break;
            }
        }
    }
    Some(())
}

/// What a regression file says about where it came from.
pub struct Provenance<'a> {
    /// The scenario file shrunk, as given.
    pub source: &'a str,
    pub seed: u64,
    pub property: &'a str,
    /// Size and history records of the original run and of the shrunk one.
    pub before: (Size, usize),
    pub after: (Size, usize),
    /// The changes kept, in order.
    pub accepted: &'a [String],
    pub runs: usize,
    /// The line that replays the regression.
    pub replay: &'a str,
    /// How many explicit faults the randomized nemesis was materialized into (0: no nemesis).
    pub from_nemesis: usize,
}

/// The regression scenario: `shrunk` named `name`, expecting `property` to fail at the seed.
pub fn regression(shrunk: &Scenario, name: &str, p: &Provenance<'_>) -> Scenario {
    let mut s = shrunk.clone();
    s.name = name.to_string();
    s.description = format!(
        "Regression shrunk by `zksim shrink` from {} seed {}: {} fails. {}",
        p.source, p.seed, p.property, shrunk.description
    )
    .trim_end()
    .to_string();
    s.seeds = 1;
    s.expect = Some(crate::scenario::Expect {
        failing_property: p.property.to_string(),
        seed: Some(p.seed),
        seed_budget: None,
    });
    s
}

/// The regression file's text: a header comment (origin, property, before/after, what was
/// removed, the replay line), then the scenario as TOML.
pub fn regression_toml(regression: &Scenario, p: &Provenance<'_>) -> Result<String, String> {
    let body = toml::to_string(regression).map_err(|e| format!("cannot write the scenario as TOML: {e}"))?;
    let mut head = String::new();
    head += &format!("# Regression scenario written by `zksim shrink` from {} with seed {}.\n", p.source, p.seed);
    head += &format!("# The property that must fail: {} (see [expect]).\n", p.property);
    head += &format!("# Before: {}; history {} records.\n", p.before.0, p.before.1);
    head += &format!("# After:  {}; history {} records.\n", p.after.0, p.after.1);
    head += &format!("# Shrinking ran {} candidate runs; the changes kept, in order:\n", p.runs);
    if p.from_nemesis > 0 {
        head += &format!("#   - the randomized nemesis materialized into {} explicit [[faults]]\n", p.from_nemesis);
    }
    for a in p.accepted {
        head += &format!("#   - {a}\n");
    }
    head += &format!("# Replay: {}\n\n", p.replay);
    Ok(head + &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scenario(extra: &str) -> Scenario {
        let text = format!(
            "[[clients]]\ncount = 6\nrun = {{ kind = \"kv\" }}\n[[clients]]\ncount = 3\nrun = {{ kind = \"kv\", think_ms = 20 }}\n\
             [phases]\nsafety_ms = 20000\nliveness_ms = 10000\n{extra}"
        );
        Scenario::parse(Path::new("t.toml"), &text).unwrap()
    }

    fn fault(at_ms: u64, text: &str) -> String {
        format!("[[faults]]\nat_ms = {at_ms}\n{text}\n")
    }

    /// A busy explicit timeline: three crash/restart pairs, a partition, a pause of c8, an expiry.
    fn busy() -> Scenario {
        let mut f = String::new();
        f += &fault(1000, "fault = \"crash\"\nnode = \"s1\"");
        f += &fault(2000, "fault = \"partition\"\ngroups = [[\"s1\"], [\"s2\", \"s3\"]]");
        f += &fault(3000, "fault = \"restart\"\nnode = \"s1\"");
        f += &fault(4000, "fault = \"crash\"\nnode = \"s2\"");
        f += &fault(5000, "fault = \"pause\"\nnode = \"c8\"");
        f += &fault(9000, "fault = \"restart\"\nnode = \"s2\"");
        f += &fault(10000, "fault = \"heal\"");
        f += &fault(11000, "fault = \"expire_session\"\nclient = \"c2\"");
        f += &fault(12000, "fault = \"resume\"\nnode = \"c8\"");
        f += &fault(14000, "fault = \"crash\"\nnode = \"s3\"");
        f += &fault(15000, "fault = \"restart\"\nnode = \"s3\"");
        scenario(&f)
    }

    fn crashes(s: &Scenario, node: &str) -> Option<(u64, u64)> {
        let units = fault_units(&s.faults);
        units.iter().find_map(|u| match (&s.faults[u[0]].fault, u.get(1)) {
            (FaultSpec::Crash { node: n, .. }, Some(j)) if n.to_string() == node => {
                Some((s.faults[u[0]].at_ms, s.faults[*j].at_ms))
            }
            _ => None,
        })
    }

    #[test]
    fn units_pair_each_fault_with_its_undo() {
        let s = busy();
        let units = fault_units(&s.faults);
        assert_eq!(units, vec![vec![0, 2], vec![1, 6], vec![3, 5], vec![4, 8], vec![7], vec![9, 10]]);
    }

    #[test]
    fn ddmin_finds_the_two_needed_items() {
        let items: Vec<u32> = (0..32).collect();
        let mut runs = 0;
        let out = ddmin(items, &mut |c: &[u32]| {
            runs += 1;
            Some(c.contains(&7) && c.contains(&23))
        })
        .unwrap();
        assert_eq!(out, vec![7, 23]);
        assert!(runs < 60, "ddmin took {runs} tests");
        // Budget spent: None comes back.
        let mut left = 3;
        let out = ddmin((0..32).collect::<Vec<u32>>(), &mut |c: &[u32]| {
            left -= 1;
            (left >= 0).then(|| c.contains(&7))
        });
        assert!(out.is_none());
    }

    /// The synthetic bug: fails while s2 is crashed at some point in 4..6 s for at least 1 s,
    /// there are at least 2 clients in total, and the safety phase lasts 7 s or more.
    fn synthetic(s: &Scenario) -> bool {
        let crash_ok = crashes(s, "s2").is_some_and(|(a, b)| a <= 5000 && b >= a + 1000);
        crash_ok && s.client_count() >= 2 && s.phases.safety_ms >= 7000
    }

    #[test]
    fn minimizes_a_synthetic_failure_to_its_essentials() {
        let start = busy();
        assert!(synthetic(&start));
        let mut steps = 0;
        let m = minimize(start, 200, &mut synthetic, &mut |st| {
            steps += 1;
            eprintln!("{} {} {}: {}", st.runs, st.accepted, st.what, st.current);
        });
        assert!(!m.budget_exhausted, "{} runs", m.runs);
        assert_eq!(steps, m.runs, "progress is reported for every run");
        let s = &m.scenario;
        assert!(synthetic(s));
        assert_eq!(s.faults.len(), 2, "only the crash of s2 and its restart remain: {:?}", s.faults);
        let (a, b) = crashes(s, "s2").unwrap();
        assert!(b - a < 2000, "the crash was shortened: {a}..{b}");
        assert_eq!(s.client_count(), 2);
        assert_eq!(s.clients.len(), 1, "one group is enough");
        assert!(s.phases.safety_ms < 7200, "safety phase shortened to {}", s.phases.safety_ms);
        assert!(s.phases.liveness_ms == 0, "liveness not needed: {}", s.phases.liveness_ms);
        assert!(m.runs < 120, "{} runs", m.runs);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn respects_the_run_budget() {
        let mut calls = 0;
        let m = minimize(
            busy(),
            5,
            &mut |s| {
                calls += 1;
                synthetic(s)
            },
            &mut |_| {},
        );
        assert_eq!(calls, 5);
        assert_eq!(m.runs, 5);
        assert!(m.budget_exhausted);
        assert!(synthetic(&m.scenario), "whatever comes back still fails");
    }

    #[test]
    fn removing_clients_drops_their_faults_and_renumbers_the_rest() {
        let s = busy();
        // Group 1 (c1..c6) down to 1 client: c2's expiry goes, c8 (pause/resume) becomes c3.
        let c = with_group_count(&s, 0, 1);
        assert_eq!(c.client_count(), 4);
        assert!(c.validate().is_ok());
        assert!(!c.faults.iter().any(|f| matches!(f.fault, FaultSpec::ExpireSession { .. })));
        let paused: Vec<String> = c
            .faults
            .iter()
            .filter_map(|f| match &f.fault {
                FaultSpec::Pause { node } | FaultSpec::Resume { node } => Some(node.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(paused, vec!["c3", "c3"]);
        // Dropping group 2 (c7..c9) drops the pause of c8 and its resume.
        let c = with_group_count(&s, 1, 0);
        assert_eq!(c.clients.len(), 1);
        assert_eq!(c.faults.len(), s.faults.len() - 2);
    }

    #[test]
    fn materializing_the_nemesis_keeps_the_plan() {
        let s = scenario(
            "[nemesis]\ninterval_ms_min = 200\ninterval_ms_max = 2000\nduration_ms_min = 100\nduration_ms_max = 3000\n\
             partition = 1\ncrash = 1\npause = 1\nexpire_session = 1\n",
        );
        let m = materialized(&s, 9);
        assert!(m.nemesis.is_none() && !m.faults.is_empty());
        assert!(m.validate().is_ok());
        assert_eq!(materialize(&m, 9), materialize(&s, 9), "the same plan, so the same run");
    }
}
