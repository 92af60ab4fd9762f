//! Every scenario under `scenarios/`, for its default number of seeds (`seeds` in the file).
//! A shrink regression (`[expect] seed = S`, under `scenarios/regressions/`) runs its one seed
//! and must fail exactly its `failing_property` there. `scenarios/bugs/` (the planted-bug
//! catalog) is run by `tests/bugs.rs`; `scenarios/open-bugs/` only by sweeps.
//!
//! `ZKSIM_SEEDS=N` runs N seeds of each instead; `ZKSIM_SEED=S` runs only seed S;
//! `ZKSIM_SCENARIO=substring` runs only matching scenarios. A failure names the scenario, the
//! seed, the violated property with its explanation, and the line that replays it.

use std::path::Path;
use zksim::expect;
use zksim::runner;
use zksim::scenario::{discover, Scenario};

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(v.trim().parse().unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}")))
}

#[test]
fn every_scenario_passes_its_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let files = discover(&root).expect("scenarios/ is readable");
    assert!(!files.is_empty(), "no scenarios found under {}", root.display());
    let only = std::env::var("ZKSIM_SCENARIO").ok();
    let mut failures = Vec::new();
    let mut runs = 0;
    for file in &files {
        let rel = file.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(file).to_path_buf();
        if only.as_ref().is_some_and(|o| !rel.to_string_lossy().contains(o.as_str())) {
            continue;
        }
        // `scenarios/open-bugs/` holds scenarios that reproduce known, not yet fixed bugs of the
        // service (each says which in its description); the sweep runs them, the tests do not.
        if rel.starts_with("scenarios/open-bugs") && only.is_none() {
            eprintln!("skipped (open bug, see its description): {}", rel.display());
            continue;
        }
        // `scenarios/bench/` holds the benchmark's scenarios (`zksim bench`): too long for the
        // default tests; ZKSIM_SCENARIO=bench runs them.
        if rel.starts_with("scenarios/bench") && only.is_none() {
            eprintln!("skipped (benchmark scenario, run by `zksim bench`): {}", rel.display());
            continue;
        }
        // `scenarios/bugs/` holds the planted-bug catalog: tests/bugs.rs runs it.
        if rel.starts_with("scenarios/bugs") {
            continue;
        }
        let scenario = Scenario::load(file).unwrap_or_else(|e| panic!("{e}"));
        // A regression (written by `zksim shrink`) expects its property to fail at its seed.
        let regression_seed = scenario.expect.as_ref().and_then(|x| x.seed);
        let seeds: Vec<u64> = match (env_u64("ZKSIM_SEED"), env_u64("ZKSIM_SEEDS")) {
            _ if regression_seed.is_some() => regression_seed.into_iter().collect(),
            (Some(s), _) => vec![s],
            (None, Some(n)) => (1..=n).collect(),
            (None, None) => (1..=scenario.seeds).collect(),
        };
        for seed in seeds {
            runs += 1;
            let out = runner::run(&scenario, seed);
            let (verdict, why) = expect::judge(&scenario, seed, &out);
            if !verdict.is_ok() {
                let why = why.unwrap_or_default();
                let detail: Vec<String> = out
                    .properties
                    .iter()
                    .flat_map(|p| p.violations.iter().take(2).map(move |v| format!("[{}] {}", p.name, v.explanation)))
                    .take(4)
                    .collect();
                failures.push(format!(
                    "{} seed {seed}: {why}\n{}\n  replay: cargo run --release -- replay {} --seed {seed}",
                    scenario.name,
                    detail.join("\n"),
                    rel.display()
                ));
            }
        }
    }
    assert!(runs > 0, "no scenario matched ZKSIM_SCENARIO={only:?}");
    assert!(failures.is_empty(), "{} of {runs} runs failed:\n\n{}", failures.len(), failures.join("\n\n"));
}
