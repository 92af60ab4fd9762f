//! `zksim replay --seed S [--trace]` through the real binary: `--trace` prints
//! tracing-subscriber logs (filtered by `RUST_LOG`) of the simulated servers and clients stamped
//! with simulated time, and two replays write byte-identical history files.

use std::path::{Path, PathBuf};
use std::process::Command;

const SCENARIO: &str = "scenarios/regressions/lock-ignore-expiry-swarm-seed4.toml";

fn replay(report: &Path, trace: bool) -> (String, Vec<u8>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zksim"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(["replay", SCENARIO, "--seed", "4", "--report"]).arg(report);
    if trace {
        cmd.arg("--trace").env("RUST_LOG", "zksim_sim=debug");
    }
    let out = cmd.output().expect("the zksim binary runs");
    // The regression fails by design, as its [expect] says: an expected failure exits 0.
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("EXPECTED-FAIL"), "{}", String::from_utf8_lossy(&out.stdout));
    let history = report.join("lock-ignore-expiry-swarm-seed4/seed-4/history.jsonl");
    let bytes = std::fs::read(&history).unwrap_or_else(|e| panic!("{}: {e}", history.display()));
    (String::from_utf8_lossy(&out.stderr).into_owned(), bytes)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zksim-replay-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn trace_logs_servers_and_clients_in_simulated_time_and_replays_are_identical() {
    let (a, b) = (scratch("a"), scratch("b"));
    let (logs, first) = replay(&a, true);
    let (quiet, second) = replay(&b, false);
    assert!(first.len() > 1000 && first == second, "two replays must write byte-identical histories");

    // `   2.700s DEBUG node{id=7 name="c4"}:task{id=82}: zksim_sim::client::session: disconnected ...`
    let stamped = |l: &&str| {
        let t = l.trim_start();
        t.split_once("s ").is_some_and(|(secs, _)| {
            secs.split_once('.').is_some_and(|(s, ms)| {
                s.chars().all(|c| c.is_ascii_digit()) && ms.len() == 3 && ms.chars().all(|c| c.is_ascii_digit())
            })
        })
    };
    let lines: Vec<&str> = logs.lines().filter(stamped).collect();
    let server = lines.iter().find(|l| l.contains("name=\"s") && l.contains("zksim_sim::server"));
    let client = lines.iter().find(|l| l.contains("name=\"c") && l.contains("zksim_sim::client"));
    assert!(server.is_some(), "no server log line with simulated time:\n{logs}");
    assert!(client.is_some(), "no client log line with simulated time:\n{logs}");
    assert!(!logs.contains('\u{1b}'), "no colour codes when stderr is not a terminal");
    // RUST_LOG filters: only zksim_sim's targets were asked for.
    assert!(!lines.iter().any(|l| l.contains(" madsim::")), "RUST_LOG=zksim_sim=debug must filter out madsim");
    assert!(!quiet.lines().any(|l| stamped(&l)), "without --trace, no logs");
    let _ = (std::fs::remove_dir_all(a), std::fs::remove_dir_all(b));
}
