//! The planted-bug catalog (`scenarios/bugs/<bug>.toml`): every bug with a catalog scenario must
//! be caught — its expected property fails — within the scenario's seed budget, and the same
//! seeds must pass with every switch off (no false alarm). A failure names the bug, the property
//! and the line that replays the run. `ZKSIM_BUG=substring` runs only matching bugs.
//!
//! Seeds with the switch on run in order until the first detection; then those same seeds run
//! with the switch off. (`zksim bugs --seeds M` measures over a fixed sweep instead.)

use std::path::Path;
use zksim::bugs::{load_catalog, run_seed, switched_off, Entry, CATALOG_DIR};
use zksim::sweep::{run_jobs, Shard};

fn check(entry: &Entry) -> Result<String, String> {
    let (path, scenario) = entry.scenario.as_ref().expect("only entries with a scenario are checked");
    let rel = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(path).display().to_string();
    let prop = entry.property().expect("catalog scenarios expect a property");
    let budget = entry.budget().expect("catalog scenarios have a budget");
    let replay = |seed: u64| format!("cargo run --release -- replay {rel} --seed {seed}");
    let mut detected = None;
    let mut other = Vec::new();
    for seed in 1..=budget {
        let r = run_seed(scenario, seed);
        if let Some(e) = &r.error {
            other.push(format!("seed {seed}: run stopped: {e}"));
        }
        if r.failed.iter().any(|p| p == prop) {
            detected = Some(seed);
            break;
        }
        if !r.failed.is_empty() {
            other.push(format!("seed {seed}: {} failed", r.failed.join(", ")));
        }
    }
    let Some(seed) = detected else {
        return Err(format!(
            "planted bug `{}` NOT caught: `{prop}` did not fail in seeds 1..={budget} of {rel}{}\n  replay: {}",
            entry.bug,
            if other.is_empty() { String::new() } else { format!(" (other symptoms: {})", other.join("; ")) },
            replay(1)
        ));
    };
    let off = switched_off(scenario);
    for s in 1..=seed {
        let r = run_seed(&off, s);
        if !r.failed.is_empty() || r.error.is_some() {
            return Err(format!(
                "false alarm for `{}`: with the switch off, seed {s} of {rel} failed {:?} {}\n  (the scenario must pass without the bug; replay it with `bugs` removed from the file)",
                entry.bug,
                r.failed,
                r.error.unwrap_or_default()
            ));
        }
    }
    Ok(format!(
        "{}: `{prop}` failed at seed {seed} (budget {budget}); seeds 1..={seed} pass with the switch off",
        entry.bug
    ))
}

#[test]
fn every_catalogued_bug_is_caught_within_its_budget_and_not_without_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(CATALOG_DIR);
    let only = std::env::var("ZKSIM_BUG").ok();
    let entries: Vec<Entry> = load_catalog(&dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|e| e.scenario.is_some())
        .filter(|e| only.as_ref().is_none_or(|o| e.bug.name().contains(o.as_str())))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let results = run_jobs(&entries, Shard::ALL, threads, check, |_, _, _| {});
    let mut failures = Vec::new();
    for r in results {
        match r {
            Ok(line) => eprintln!("{line}"),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{} of {} planted bugs:\n\n{}", failures.len(), entries.len(), failures.join("\n\n"));
}
