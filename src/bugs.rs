//! The planted-bug catalog: which scenario catches each bug of [`zksim_model::Bug`], and how
//! fast.
//!
//! Convention: bug `<name>`'s catalog scenario is `scenarios/bugs/<name>.toml`; it switches the
//! bug on (`bugs = ["<name>"]`) and says what must fail and within how many seeds
//! (`[expect] failing_property = "...", seed_budget = N`). [`measure`] runs seeds 1..=M with
//! the switch on (seeds to the first detection, mean and worst seeds between detections) and
//! the same seeds with every switch off (false alarms).

use crate::expect::failed_properties;
use crate::runner;
use crate::scenario::{FaultSpec, Scenario};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zksim_model::bugs::Layer;
use zksim_model::Bug;

/// The directory of catalog scenarios, relative to the repository root.
pub const CATALOG_DIR: &str = "scenarios/bugs";

/// One catalogued bug and its scenario, if it has one yet.
#[derive(Clone, Debug)]
pub struct Entry {
    pub bug: Bug,
    /// The catalog scenario's path and contents.
    pub scenario: Option<(PathBuf, Scenario)>,
}

impl Entry {
    /// The property the scenario expects to fail.
    pub fn property(&self) -> Option<&str> {
        self.scenario.as_ref().and_then(|(_, s)| s.expect.as_ref()).map(|x| x.failing_property.as_str())
    }

    /// The scenario's seed budget.
    pub fn budget(&self) -> Option<u64> {
        self.scenario.as_ref().and_then(|(_, s)| s.expect.as_ref()).and_then(|x| x.seed_budget)
    }
}

/// Loads the catalog from `dir`: one entry per bug, in catalog order. A catalog file that does
/// not parse, does not switch its bug on, lacks `[expect] seed_budget`, or names no bug of the
/// catalog is an error naming the file.
pub fn load_catalog(dir: &Path) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    for bug in Bug::ALL {
        let path = dir.join(format!("{}.toml", bug.name()));
        if !path.exists() {
            entries.push(Entry { bug: *bug, scenario: None });
            continue;
        }
        let s = Scenario::load(&path).map_err(|e| e.to_string())?;
        if !s.bug_set().has(*bug) {
            return Err(format!(
                "{}: bugs: a catalog scenario must switch on its bug: bugs = [\"{bug}\"]",
                path.display()
            ));
        }
        match &s.expect {
            Some(x) if x.seed_budget.is_some() => {}
            _ => {
                return Err(format!(
                    "{}: expect: a catalog scenario needs [expect] failing_property = \"...\" and seed_budget = N",
                    path.display()
                ))
            }
        }
        entries.push(Entry { bug: *bug, scenario: Some((path, s)) });
    }
    if dir.exists() {
        for f in crate::scenario::discover(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let stem = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            if Bug::from_name(&stem).is_none() {
                return Err(format!(
                    "{}: a catalog scenario must be named after its bug (<bug-name>.toml)",
                    f.display()
                ));
            }
        }
    }
    Ok(entries)
}

/// The scenario with every planted bug switched off and no expectation: what must pass.
pub fn switched_off(s: &Scenario) -> Scenario {
    let mut off = s.clone();
    off.bugs.clear();
    off.expect = None;
    off
}

/// The faults a scenario applies, in one short phrase ("crash+restart, partition").
pub fn fault_summary(s: &Scenario) -> String {
    let mut kinds: Vec<&str> = Vec::new();
    for f in &s.faults {
        let k = match &f.fault {
            FaultSpec::Partition { .. } => "partition",
            FaultSpec::PartitionOneWay { .. } => "one-way partition",
            FaultSpec::Isolate { .. } => "isolate",
            FaultSpec::Heal {} => continue,
            FaultSpec::Crash { torn: true, .. } => "crash (torn)",
            FaultSpec::Crash { .. } => "crash",
            FaultSpec::Restart { .. } => "restart",
            FaultSpec::Pause { .. } => "pause",
            FaultSpec::Resume { .. } => continue,
            FaultSpec::SetLossRate { .. } => "loss",
            FaultSpec::SetLatency { .. } => "latency",
            FaultSpec::ExpireSession { .. } => "expire session",
        };
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    let mut out = kinds.join(", ");
    if let Some(n) = &s.nemesis {
        let w = [
            ("partition", n.partition),
            ("one-way", n.partition_one_way),
            ("isolate", n.isolate),
            ("crash", n.crash),
            ("pause", n.pause),
            ("expiry", n.expire_session),
            ("loss", n.loss),
        ];
        let on: Vec<&str> = w.iter().filter(|(_, x)| *x > 0).map(|(k, _)| *k).collect();
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(&format!("nemesis ({})", on.join("/")));
    }
    if out.is_empty() {
        out.push_str("none (workload only)");
    }
    out
}

/// One seed of one catalog scenario, switched on or off.
#[derive(Clone, Debug)]
pub struct SeedResult {
    pub seed: u64,
    /// The properties that failed (with the switch on: the bug's symptoms).
    pub failed: Vec<String>,
    /// What stopped the run, if anything.
    pub error: Option<String>,
}

/// The measurement of one bug, as `zksim bugs --json` prints it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BugMeasure {
    pub name: String,
    pub layer: Layer,
    pub source: String,
    pub description: String,
    /// The catalog scenario's path, or null when the bug has none yet.
    pub scenario: Option<String>,
    /// The faults the scenario applies.
    pub fault: Option<String>,
    /// The property expected to fail.
    pub property: Option<String>,
    pub seed_budget: Option<u64>,
    /// Seeds run with the switch on (and again with it off).
    pub seeds_run: u64,
    /// The expected property failed at some seed within the budget (and never with the switch off).
    pub caught: bool,
    /// The first seed at which the expected property failed.
    pub seeds_to_detect: Option<u64>,
    /// Seeds at which the expected property failed.
    pub detections: u64,
    /// Seeds run per detection (seeds_run / detections).
    pub mean_seeds_to_detect: Option<f64>,
    /// The longest run of seeds up to and including a detection (the first counts from seed 1;
    /// the seeds after the last detection count as a gap too).
    pub worst_seeds_to_detect: Option<u64>,
    /// Other properties that failed with the switch on (name: seeds), a symptom but not the one expected.
    pub other_failures: std::collections::BTreeMap<String, u64>,
    /// Seeds that failed anything with the switch off: must be empty.
    pub false_alarms: Vec<u64>,
    /// The line that replays the first detection.
    pub replay: Option<String>,
}

/// Seeds to the first detection, mean seeds per detection, worst gap: over detection seeds
/// (ascending) out of `seeds_run`.
pub fn detection_stats(detections: &[u64], seeds_run: u64) -> (Option<u64>, Option<f64>, Option<u64>) {
    let first = detections.first().copied();
    if detections.is_empty() {
        return (None, None, None);
    }
    let mean = seeds_run as f64 / detections.len() as f64;
    let mut prev = 0;
    let mut worst = 0;
    for d in detections {
        worst = worst.max(d - prev);
        prev = *d;
    }
    // The seeds after the last detection are a gap too (at least that long).
    worst = worst.max(seeds_run.saturating_sub(prev));
    (first, Some(mean), Some(worst))
}

/// Runs one seed of a scenario and reduces it to what the catalog needs.
pub fn run_seed(s: &Scenario, seed: u64) -> SeedResult {
    let out = runner::run(s, seed);
    SeedResult {
        seed,
        failed: failed_properties(&out).into_iter().map(str::to_string).collect(),
        error: out.error.clone(),
    }
}

/// Reduces the on and off runs of one bug to its measurement.
pub fn summarize(entry: &Entry, on: &[SeedResult], off: &[SeedResult]) -> BugMeasure {
    let bug = entry.bug;
    let mut m = BugMeasure {
        name: bug.name().into(),
        layer: bug.layer(),
        source: bug.source().into(),
        description: bug.description().into(),
        scenario: None,
        fault: None,
        property: None,
        seed_budget: None,
        seeds_run: on.len() as u64,
        caught: false,
        seeds_to_detect: None,
        detections: 0,
        mean_seeds_to_detect: None,
        worst_seeds_to_detect: None,
        other_failures: Default::default(),
        false_alarms: Vec::new(),
        replay: None,
    };
    let Some((path, s)) = &entry.scenario else { return m };
    let prop = entry.property().unwrap_or_default().to_string();
    let budget = entry.budget().unwrap_or(0);
    m.scenario = Some(path.display().to_string());
    m.fault = Some(fault_summary(s));
    m.property = Some(prop.clone());
    m.seed_budget = Some(budget);
    let mut detections = Vec::new();
    for r in on {
        if r.failed.contains(&prop) {
            detections.push(r.seed);
        }
        for p in r.failed.iter().filter(|p| **p != prop) {
            *m.other_failures.entry(p.clone()).or_default() += 1;
        }
        if r.error.is_some() {
            *m.other_failures.entry("run-stopped".into()).or_default() += 1;
        }
    }
    detections.sort_unstable();
    m.false_alarms = off.iter().filter(|r| !r.failed.is_empty() || r.error.is_some()).map(|r| r.seed).collect();
    let (first, mean, worst) = detection_stats(&detections, m.seeds_run);
    m.detections = detections.len() as u64;
    m.seeds_to_detect = first;
    m.mean_seeds_to_detect = mean;
    m.worst_seeds_to_detect = worst;
    m.caught = first.is_some_and(|f| f <= budget) && m.false_alarms.is_empty();
    m.replay = first.map(|f| format!("cargo run --release -- replay {} --seed {f}", path.display()));
    m
}

/// The table `zksim bugs` prints.
pub fn table(measures: &[BugMeasure]) -> String {
    let mut s = format!(
        "{:<38} {:<8} {:<34} {:<36} {:<20} {:>5} {:>6} {:>5} {:>6}  {}\n",
        "bug", "layer", "source", "fault", "property", "first", "mean", "worst", "budget", "caught"
    );
    for m in measures {
        let layer = format!("{:?}", m.layer).to_lowercase();
        let Some(prop) = &m.property else {
            s += &format!("{:<38} {:<8} {:<34} no scenario\n", m.name, layer, clip(&m.source, 34));
            continue;
        };
        let opt = |x: Option<u64>| x.map_or("-".to_string(), |v| v.to_string());
        let caught = if m.caught {
            "yes".to_string()
        } else if !m.false_alarms.is_empty() {
            format!("NO (false alarm at seeds {:?})", m.false_alarms)
        } else {
            "NO".to_string()
        };
        s += &format!(
            "{:<38} {:<8} {:<34} {:<36} {:<20} {:>5} {:>6} {:>5} {:>6}  {caught}\n",
            m.name,
            layer,
            clip(&m.source, 34),
            clip(m.fault.as_deref().unwrap_or(""), 36),
            prop,
            opt(m.seeds_to_detect),
            m.mean_seeds_to_detect.map_or("-".to_string(), |v| format!("{v:.1}")),
            opt(m.worst_seeds_to_detect),
            opt(m.seed_budget),
        );
    }
    s
}

/// The table as Markdown (README, reports/bugs.md).
pub fn markdown_table(measures: &[BugMeasure]) -> String {
    let mut s = String::from(
        "| bug | layer | source | fault that triggers it | property violated | seeds to detect (first / mean / worst) | budget | caught |\n|---|---|---|---|---|---|---|---|\n",
    );
    for m in measures {
        let layer = format!("{:?}", m.layer).to_lowercase();
        match &m.property {
            None => s += &format!("| `{}` | {layer} | {} | — | — | no scenario | — | — |\n", m.name, m.source),
            Some(p) => {
                let opt = |x: Option<u64>| x.map_or("-".to_string(), |v| v.to_string());
                s += &format!(
                    "| `{}` | {layer} | {} | {} | `{p}` | {} / {} / {} | {} | {} |\n",
                    m.name,
                    m.source,
                    m.fault.as_deref().unwrap_or(""),
                    opt(m.seeds_to_detect),
                    m.mean_seeds_to_detect.map_or("-".to_string(), |v| format!("{v:.1}")),
                    opt(m.worst_seeds_to_detect),
                    opt(m.seed_budget),
                    if m.caught { "yes" } else { "**no**" }
                )
            }
        }
    }
    s
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_stats_first_mean_worst() {
        assert_eq!(detection_stats(&[], 10), (None, None, None));
        assert_eq!(detection_stats(&[3, 4, 10], 12), (Some(3), Some(4.0), Some(6)));
        assert_eq!(detection_stats(&[2, 4], 10), (Some(2), Some(5.0), Some(6)));
        assert_eq!(detection_stats(&[1], 1), (Some(1), Some(1.0), Some(1)));
    }

    #[test]
    fn the_catalog_loads_and_lists_every_bug() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(CATALOG_DIR);
        let entries = load_catalog(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(entries.len(), Bug::ALL.len());
    }

    #[test]
    fn a_catalog_file_must_switch_on_its_bug() {
        let dir = std::env::temp_dir().join(format!("zksim-catalog-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = "[expect]\nfailing_property = \"durability\"\nseed_budget = 3\n";
        std::fs::write(dir.join("commit-without-quorum.toml"), text).unwrap();
        let err = load_catalog(&dir).unwrap_err();
        assert!(err.contains("commit-without-quorum.toml") && err.contains("must switch on its bug"), "{err}");
        std::fs::write(dir.join("commit-without-quorum.toml"), format!("bugs = [\"commit-without-quorum\"]\n{text}"))
            .unwrap();
        std::fs::write(dir.join("not-a-bug.toml"), "").unwrap();
        let err = load_catalog(&dir).unwrap_err();
        assert!(err.contains("not-a-bug.toml") && err.contains("named after its bug"), "{err}");
        std::fs::remove_file(dir.join("not-a-bug.toml")).unwrap();
        let entries = load_catalog(&dir).unwrap();
        assert!(entries.iter().any(|e| e.bug == Bug::CommitWithoutQuorum && e.scenario.is_some()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
