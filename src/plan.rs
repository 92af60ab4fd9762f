//! The fault plan of a run: the scenario's explicit timeline merged with the randomized
//! nemesis, materialized into one explicit, sorted list of timed faults before the run starts.
//!
//! Materializing first (instead of drawing faults while running) makes a plan printable, lets
//! `shrink` drop and shorten faults one by one, and keeps the nemesis's draws independent of
//! everything else in the run. At the end of the safety phase the plan undoes every fault, so
//! the liveness phase starts from a healed world.

use crate::scenario::{FaultSpec, NemesisSpec, Scenario, TimedFault};
use rand::Rng;
use std::collections::BTreeSet;
use zksim_model::{ClientId, Node, ServerId};
use zksim_sim::rng::{Seeds, SimRng};

/// The explicit fault plan for `scenario` with `seed`: sorted by time, ending with the heal of
/// everything at the end of the safety phase.
pub fn materialize(scenario: &Scenario, seed: u64) -> Vec<TimedFault> {
    let mut plan: Vec<TimedFault> = scenario.faults.clone();
    if let Some(spec) = &scenario.nemesis {
        let mut rng = Seeds::new(seed).stream("nemesis/plan");
        plan.extend(random_faults(scenario, spec, &mut rng));
    }
    // Stable sort: explicit faults first among equal times, in file order.
    plan.sort_by_key(|f| f.at_ms);
    plan.extend(heal_all(scenario, &plan, scenario.phases.safety_ms));
    plan
}

/// The faults that undo whatever `plan` leaves in force at its end.
fn heal_all(scenario: &Scenario, plan: &[TimedFault], at_ms: u64) -> Vec<TimedFault> {
    let mut crashed = BTreeSet::new();
    let mut paused = BTreeSet::new();
    let mut partitioned = false;
    let mut lossy = false;
    let mut latency_changed = false;
    for f in plan {
        match &f.fault {
            FaultSpec::Crash { node, .. } => {
                paused.remove(node);
                crashed.insert(*node);
            }
            FaultSpec::Restart { node } => {
                crashed.remove(node);
            }
            FaultSpec::Pause { node } => {
                paused.insert(*node);
            }
            FaultSpec::Resume { node } => {
                paused.remove(node);
            }
            FaultSpec::Partition { .. } | FaultSpec::PartitionOneWay { .. } | FaultSpec::Isolate { .. } => {
                partitioned = true
            }
            FaultSpec::Heal {} => partitioned = false,
            FaultSpec::SetLossRate { rate } => lossy = *rate > 0.0,
            FaultSpec::SetLatency { .. } => latency_changed = true,
            FaultSpec::ExpireSession { .. } => {}
        }
    }
    let mut out = Vec::new();
    let mut push = |fault| out.push(TimedFault { at_ms, fault });
    if partitioned {
        push(FaultSpec::Heal {});
    }
    if lossy {
        push(FaultSpec::SetLossRate { rate: scenario.network.loss_rate });
    }
    if latency_changed {
        push(FaultSpec::SetLatency {
            latency_ms_min: scenario.network.latency_ms_min,
            latency_ms_max: scenario.network.latency_ms_max,
        });
    }
    for node in paused {
        push(FaultSpec::Resume { node });
    }
    for node in crashed {
        push(FaultSpec::Restart { node });
    }
    out
}

/// Random faults drawn from the nemesis spec. Each fault is undone after its duration, and at
/// most a minority of servers is down (crashed or paused) at once, so the service is usually
/// available and the faults stay interesting rather than total.
fn random_faults(scenario: &Scenario, spec: &NemesisSpec, rng: &mut SimRng) -> Vec<TimedFault> {
    let servers: Vec<Node> = (1..=scenario.ensemble.servers).map(|n| Node::Server(ServerId(n))).collect();
    let clients: Vec<Node> = (1..=scenario.client_count()).map(|n| Node::Client(ClientId(n))).collect();
    let minority = (scenario.ensemble.servers as usize - 1) / 2;
    let kinds: [(u32, &str); 7] = [
        (spec.partition, "partition"),
        (spec.partition_one_way, "partition_one_way"),
        (spec.isolate, "isolate"),
        (spec.crash, "crash"),
        (spec.pause, "pause"),
        (spec.expire_session, "expire_session"),
        (spec.loss, "loss"),
    ];
    let total: u32 = kinds.iter().map(|k| k.0).sum();
    let mut out = Vec::new();
    // Faults in force: (until_ms, kind) — one network fault at a time keeps heals unambiguous.
    let mut net_busy_until = 0u64;
    let mut down: Vec<(u64, Node)> = Vec::new(); // servers/clients crashed or paused, until
    let mut t = 0u64;
    let end = scenario.phases.safety_ms;
    loop {
        t += rng.gen_range(spec.interval_ms_min..=spec.interval_ms_max);
        if t >= end || total == 0 {
            break;
        }
        let dur = rng.gen_range(spec.duration_ms_min..=spec.duration_ms_max).max(1);
        let until = (t + dur).min(end.saturating_sub(1)).max(t);
        down.retain(|(u, _)| *u > t);
        let mut pick = rng.gen_range(0..total);
        let kind = kinds.iter().find(|(w, _)| {
            if pick < *w {
                true
            } else {
                pick -= *w;
                false
            }
        });
        let Some((_, kind)) = kind else { break };
        let servers_down = down.iter().filter(|(_, n)| matches!(n, Node::Server(_))).count();
        let up = |pool: &[Node]| -> Vec<Node> {
            pool.iter().filter(|n| !down.iter().any(|(_, d)| d == *n)).copied().collect()
        };
        match *kind {
            "partition" | "partition_one_way" | "isolate" | "loss" => {
                if t < net_busy_until {
                    continue;
                }
                net_busy_until = until + 1;
                let fault = match *kind {
                    "partition" => {
                        let mut shuffled = servers.clone();
                        shuffle(&mut shuffled, rng);
                        let cut = rng.gen_range(1..shuffled.len().max(2));
                        let (a, b) = shuffled.split_at(cut.min(shuffled.len()));
                        if a.is_empty() || b.is_empty() {
                            continue;
                        }
                        FaultSpec::Partition { groups: vec![a.to_vec(), b.to_vec()] }
                    }
                    "partition_one_way" => {
                        if servers.len() < 2 {
                            continue;
                        }
                        let from = servers[rng.gen_range(0..servers.len())];
                        let to: Vec<Node> = servers.iter().filter(|n| **n != from).copied().collect();
                        FaultSpec::PartitionOneWay { from: vec![from], to }
                    }
                    "isolate" => {
                        let pool: Vec<Node> = servers.iter().chain(clients.iter()).copied().collect();
                        FaultSpec::Isolate { node: pool[rng.gen_range(0..pool.len())] }
                    }
                    _ => FaultSpec::SetLossRate { rate: rng.gen_range(0.01..0.2) },
                };
                let undo = match fault {
                    FaultSpec::SetLossRate { .. } => FaultSpec::SetLossRate { rate: scenario.network.loss_rate },
                    _ => FaultSpec::Heal {},
                };
                out.push(TimedFault { at_ms: t, fault });
                out.push(TimedFault { at_ms: until, fault: undo });
            }
            "crash" | "pause" => {
                // Servers while a minority stays within budget, otherwise clients.
                let mut pool = if servers_down < minority { up(&servers) } else { Vec::new() };
                pool.extend(up(&clients));
                if pool.is_empty() {
                    continue;
                }
                let node = pool[rng.gen_range(0..pool.len())];
                down.push((until, node));
                if *kind == "crash" {
                    let torn = spec.torn_writes && rng.gen_bool(0.5);
                    out.push(TimedFault { at_ms: t, fault: FaultSpec::Crash { node, torn } });
                    out.push(TimedFault { at_ms: until, fault: FaultSpec::Restart { node } });
                } else {
                    out.push(TimedFault { at_ms: t, fault: FaultSpec::Pause { node } });
                    out.push(TimedFault { at_ms: until, fault: FaultSpec::Resume { node } });
                }
            }
            _ => {
                let pool = up(&clients);
                if pool.is_empty() {
                    continue;
                }
                let client = pool[rng.gen_range(0..pool.len())];
                out.push(TimedFault { at_ms: t, fault: FaultSpec::ExpireSession { client } });
            }
        }
    }
    out
}

fn shuffle(v: &mut [Node], rng: &mut SimRng) {
    for i in (1..v.len()).rev() {
        let j = rng.gen_range(0..=i);
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scenario(extra: &str) -> Scenario {
        let text = format!(
            "[ensemble]\nservers = 5\ntick_ms = 100\nsnapshot_every = 100\nfsync_ms_min = 1\nfsync_ms_max = 2\n\
             [[clients]]\ncount = 3\nrun = {{ kind = \"kv\" }}\n[phases]\nsafety_ms = 60000\nliveness_ms = 1000\n{extra}"
        );
        Scenario::parse(Path::new("t.toml"), &text).unwrap()
    }

    const NEMESIS: &str = "[nemesis]\ninterval_ms_min = 200\ninterval_ms_max = 2000\nduration_ms_min = 100\n\
                           duration_ms_max = 5000\npartition = 2\nisolate = 1\ncrash = 2\npause = 2\nexpire_session = 1\nloss = 1\n";

    #[test]
    fn plans_are_deterministic_per_seed_and_differ_across_seeds() {
        let s = scenario(NEMESIS);
        assert_eq!(materialize(&s, 1), materialize(&s, 1));
        assert_ne!(materialize(&s, 1), materialize(&s, 2));
    }

    #[test]
    fn plans_are_sorted_within_the_safety_phase_and_end_healed() {
        let s = scenario(NEMESIS);
        for seed in 0..50 {
            let plan = materialize(&s, seed);
            assert!(plan.windows(2).all(|w| w[0].at_ms <= w[1].at_ms), "seed {seed}: plan not sorted");
            assert!(plan.iter().all(|f| f.at_ms <= s.phases.safety_ms), "seed {seed}: fault after the safety phase");
            // Replaying the plan's state must end with nothing crashed, paused or partitioned.
            let tail = heal_all(&s, &plan, s.phases.safety_ms);
            assert!(tail.is_empty(), "seed {seed}: plan leaves faults in force: {tail:?}");
            // Never more than a minority of servers down at once.
            let mut down = BTreeSet::new();
            for f in &plan {
                match &f.fault {
                    FaultSpec::Crash { node: n @ Node::Server(_), .. }
                    | FaultSpec::Pause { node: n @ Node::Server(_) } => {
                        down.insert(*n);
                        assert!(down.len() <= 2, "seed {seed}: majority of servers down at {}", f.at_ms);
                    }
                    FaultSpec::Restart { node } | FaultSpec::Resume { node } => {
                        down.remove(node);
                    }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn explicit_timeline_is_kept_and_healed() {
        let s = scenario(
            "[[faults]]\nat_ms = 1000\nfault = \"crash\"\nnode = \"s1\"\n[[faults]]\nat_ms = 2000\nfault = \"isolate\"\nnode = \"s2\"\n",
        );
        let plan = materialize(&s, 0);
        let kinds: Vec<String> = plan.iter().map(|f| format!("{}:{:?}", f.at_ms, f.fault)).collect();
        assert_eq!(
            kinds,
            vec![
                "1000:Crash { node: Server(ServerId(1)), torn: false }".to_string(),
                "2000:Isolate { node: Server(ServerId(2)) }".to_string(),
                "60000:Heal".to_string(),
                "60000:Restart { node: Server(ServerId(1)) }".to_string(),
            ]
        );
    }
}
