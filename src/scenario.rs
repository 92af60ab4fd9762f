//! Scenario files: what a run is made of, as data (TOML).
//!
//! A scenario names the ensemble, the clients and the workloads or recipes they run, the fault
//! schedule (an explicit timeline and/or a randomized nemesis drawn from the seed), the safety
//! phase and the liveness phase, the properties to check, and how many seeds the tests run.
//! Unknown fields are errors; every error names the file, the field and what was expected.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use zksim_model::Node;

/// A parsed, validated scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Defaults to the file's stem.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Seeds `cargo test` runs by default (`ZKSIM_SEEDS` overrides).
    #[serde(default = "default_seeds")]
    pub seeds: u64,
    #[serde(default)]
    pub ensemble: EnsembleSpec,
    #[serde(default)]
    pub network: NetworkSpec,
    /// Groups of clients, each running one workload or recipe.
    #[serde(default)]
    pub clients: Vec<ClientGroup>,
    #[serde(default)]
    pub phases: Phases,
    /// The explicit fault timeline.
    #[serde(default)]
    pub faults: Vec<TimedFault>,
    /// The randomized nemesis (swarm testing), if any.
    #[serde(default)]
    pub nemesis: Option<NemesisSpec>,
    #[serde(default)]
    pub check: CheckSpec,
    /// Planted bugs switched on for this scenario (see `zksim bugs`).
    #[serde(default)]
    pub bugs: Vec<String>,
    /// What a regression scenario expects (written by `zksim shrink`).
    #[serde(default)]
    pub expect: Option<Expect>,
}

fn default_seeds() -> u64 {
    5
}

/// The ensemble of servers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleSpec {
    pub servers: u32,
    pub tick_ms: u64,
    /// Snapshot after this many transactions (then the log is truncated).
    pub snapshot_every: u64,
    pub fsync_ms_min: u64,
    pub fsync_ms_max: u64,
}

impl Default for EnsembleSpec {
    fn default() -> Self {
        EnsembleSpec { servers: 3, tick_ms: 100, snapshot_every: 1000, fsync_ms_min: 1, fsync_ms_max: 4 }
    }
}

/// The network before any fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub latency_ms_min: u64,
    pub latency_ms_max: u64,
    pub loss_rate: f64,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec { latency_ms_min: 1, latency_ms_max: 5, loss_rate: 0.0 }
    }
}

/// `count` clients running the same workload or recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientGroup {
    #[serde(default = "one")]
    pub count: u32,
    /// Requested session timeout.
    #[serde(default = "default_session_timeout")]
    pub session_timeout_ms: u64,
    /// What the clients run.
    pub run: Workload,
}

fn one() -> u32 {
    1
}

fn default_session_timeout() -> u64 {
    2000
}

/// A workload or recipe and its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Workload {
    /// Random reads and writes (create, set, delete, multi, with watches) over a few keys:
    /// exercises the service and the linearizability and watch checkers directly.
    Kv {
        #[serde(default = "default_keys")]
        keys: u32,
        /// Mean pause between a client's operations.
        #[serde(default = "default_think")]
        think_ms: u64,
        /// Requests a client sends at once without waiting for the replies (ZooKeeper's async
        /// API): with more than 1, a session's replies can only come in order if the server
        /// keeps its FIFO promise.
        #[serde(default = "default_pipeline", skip_serializing_if = "is_default_pipeline")]
        pipeline: u32,
        /// Also setACL, getACL and creates with restricted ACLs (read-only, no-delete, ...), so
        /// replicated and recovered ACLs are judged too.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        acls: bool,
    },
    /// Configuration publish/subscribe (`sim/src/recipes/config.rs`).
    Config(zksim_sim::recipes::config::ConfigParams),
    /// Dynamic DNS: an updater and watching resolvers (`sim/src/recipes/dns.rs`).
    Dns(zksim_sim::recipes::dns::DnsParams),
    /// Unique-id naming with sequential nodes (`sim/src/recipes/naming.rs`).
    Naming(zksim_sim::recipes::naming::NamingParams),
    /// Host monitoring: agents' ephemeral nodes and a monitor (`sim/src/recipes/host_monitor.rs`).
    HostMonitor(zksim_sim::recipes::host_monitor::HostMonitorParams),
    /// Log-collector task assignment (`sim/src/recipes/log_collector.rs`).
    LogCollector(zksim_sim::recipes::log_collector::LogCollectorParams),
    /// An exclusive lock with a fenced resource (`sim/src/recipes/lock.rs`).
    Lock(zksim_sim::recipes::lock::LockParams),
    /// Master election / hot standby (`sim/src/recipes/election.rs`).
    Election(zksim_sim::recipes::election::ElectionParams),
    /// A FIFO queue with exactly-once processing (`sim/src/recipes/queue.rs`).
    Queue(zksim_sim::recipes::queue::QueueParams),
    /// A shared (read/write) lock (`sim/src/recipes/rwlock.rs`).
    Rwlock(zksim_sim::recipes::rwlock::RwLockParams),
    /// A double barrier for `needed` members (`sim/src/recipes/barrier.rs`).
    Barrier(zksim_sim::recipes::barrier::BarrierParams),
    /// Task coordination: hot/cold standby per task, console commands (`sim/src/recipes/task_coord.rs`).
    TaskCoord(zksim_sim::recipes::task_coord::TaskParams),
}

fn default_keys() -> u32 {
    5
}

fn default_think() -> u64 {
    50
}

fn default_pipeline() -> u32 {
    1
}

// Omitted when 1, so the configuration hash of every scenario written before it stays put.
fn is_default_pipeline(n: &u32) -> bool {
    *n == 1
}

/// The safety phase (faults active), then the liveness phase (all healed, must converge).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phases {
    pub safety_ms: u64,
    pub liveness_ms: u64,
}

impl Default for Phases {
    fn default() -> Self {
        Phases { safety_ms: 20_000, liveness_ms: 10_000 }
    }
}

/// One entry of the fault timeline: `at_ms` plus the fault's own fields.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimedFault {
    pub at_ms: u64,
    #[serde(flatten)]
    pub fault: FaultSpec,
}

// By hand, because serde's `flatten` cannot deny unknown fields: take `at_ms` out, then the
// rest must be exactly one fault's fields.
impl<'de> Deserialize<'de> for TimedFault {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(d)?;
        let at = table.remove("at_ms").ok_or_else(|| D::Error::missing_field("at_ms"))?;
        let at_ms = at
            .as_integer()
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| D::Error::custom(format!("at_ms: expected a non-negative integer, got {at}")))?;
        let fault = FaultSpec::deserialize(toml::Value::Table(table)).map_err(D::Error::custom)?;
        Ok(TimedFault { at_ms, fault })
    }
}

/// A fault as a scenario writes it. Nodes are named `s1`… and `c1`….
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultSpec {
    Partition {
        groups: Vec<Vec<Node>>,
    },
    PartitionOneWay {
        from: Vec<Node>,
        to: Vec<Node>,
    },
    Isolate {
        node: Node,
    },
    Heal {},
    Crash {
        node: Node,
        #[serde(default)]
        torn: bool,
    },
    Restart {
        node: Node,
    },
    Pause {
        node: Node,
    },
    Resume {
        node: Node,
    },
    SetLossRate {
        rate: f64,
    },
    SetLatency {
        latency_ms_min: u64,
        latency_ms_max: u64,
    },
    /// Expire the current session of a client.
    ExpireSession {
        client: Node,
    },
}

/// The randomized nemesis: every `interval_ms` (drawn from the range) it picks a fault kind by
/// weight and a target, and undoes it after `duration_ms`. Weights of 0 disable a kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NemesisSpec {
    pub interval_ms_min: u64,
    pub interval_ms_max: u64,
    pub duration_ms_min: u64,
    pub duration_ms_max: u64,
    #[serde(default)]
    pub partition: u32,
    #[serde(default)]
    pub partition_one_way: u32,
    #[serde(default)]
    pub isolate: u32,
    #[serde(default)]
    pub crash: u32,
    #[serde(default)]
    pub pause: u32,
    #[serde(default)]
    pub expire_session: u32,
    #[serde(default)]
    pub loss: u32,
    /// Whether crashes may tear the last unsynced record.
    #[serde(default)]
    pub torn_writes: bool,
}

/// What to check.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// Properties to check; empty = every property that applies.
    #[serde(default)]
    pub properties: Vec<String>,
    /// Check that a read after `sync` reflects every write completed before the sync.
    #[serde(default)]
    pub strict_sync_reads: bool,
}

/// What a scenario expects to fail: a regression written by `zksim shrink` (one seed), or a
/// planted bug's catalog scenario (caught within a seed budget). A scenario without `expect`
/// must pass every property.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The property that must fail.
    pub failing_property: String,
    /// The one seed that fails (regressions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The property must fail for at least one of seeds 1..=seed_budget (planted bugs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed_budget: Option<u64>,
}

/// A scenario that could not be loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError {
    pub file: PathBuf,
    /// The field (dotted path) at fault, if known.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: {}: {}", self.file.display(), field, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.to_path_buf(),
            field: None,
            message: format!("cannot read: {e}"),
        })?;
        Scenario::parse(path, &text)
    }

    /// Parses and validates scenario text; `path` is used for the name and in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let mut s: Scenario = toml::from_str(text).map_err(|e| ScenarioError {
            file: path.to_path_buf(),
            field: None,
            message: e.to_string().trim_end().to_string(),
        })?;
        if s.name.is_empty() {
            s.name = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        }
        s.validate().map_err(|(field, message)| ScenarioError {
            file: path.to_path_buf(),
            field: Some(field),
            message,
        })?;
        Ok(s)
    }

    /// The planted bugs this scenario switches on (names were checked when it was parsed).
    pub fn bug_set(&self) -> zksim_model::BugSet {
        zksim_model::BugSet::parse(&self.bugs).expect("bug names are validated when a scenario is parsed")
    }

    /// Every client node of the scenario, numbered in group order.
    pub fn client_count(&self) -> u32 {
        self.clients.iter().map(|g| g.count).sum()
    }

    /// Checks what parsing cannot: node names exist, times fit the phases, ranges are ordered.
    /// Err is (field, what was expected).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let e = |field: &str, msg: String| Err((field.to_string(), msg));
        if !matches!(self.ensemble.servers, 1 | 3 | 5 | 7) {
            return e("ensemble.servers", format!("expected 1, 3, 5 or 7, got {}", self.ensemble.servers));
        }
        if self.ensemble.tick_ms == 0 {
            return e("ensemble.tick_ms", "expected a positive number of milliseconds".into());
        }
        if self.ensemble.fsync_ms_min > self.ensemble.fsync_ms_max {
            return e("ensemble.fsync_ms_min", "must not exceed ensemble.fsync_ms_max".into());
        }
        if self.network.latency_ms_min > self.network.latency_ms_max {
            return e("network.latency_ms_min", "must not exceed network.latency_ms_max".into());
        }
        if !(0.0..1.0).contains(&self.network.loss_rate) {
            return e("network.loss_rate", format!("expected a probability in [0, 1), got {}", self.network.loss_rate));
        }
        if self.seeds == 0 {
            return e("seeds", "expected at least 1".into());
        }
        if self.phases.safety_ms == 0 {
            return e("phases.safety_ms", "expected a positive duration".into());
        }
        for (i, g) in self.clients.iter().enumerate() {
            if g.count == 0 {
                return e(&format!("clients[{i}].count"), "expected at least 1".into());
            }
            if g.session_timeout_ms == 0 {
                return e(&format!("clients[{i}].session_timeout_ms"), "expected a positive duration".into());
            }
            if let Workload::Kv { pipeline: 0 | 65.., .. } = g.run {
                return e(&format!("clients[{i}].run.pipeline"), "expected 1 to 64 requests at once".into());
            }
        }
        let nodes: BTreeSet<Node> = (1..=self.ensemble.servers)
            .map(|n| Node::Server(zksim_model::ServerId(n)))
            .chain((1..=self.client_count()).map(|n| Node::Client(zksim_model::ClientId(n))))
            .collect();
        let describe = || {
            format!(
                "this scenario has servers s1..s{} and clients c1..c{}",
                self.ensemble.servers,
                self.client_count().max(1)
            )
        };
        let check_node = |field: String, n: &Node| -> Result<(), (String, String)> {
            if nodes.contains(n) {
                Ok(())
            } else {
                Err((field, format!("node {n} does not exist ({})", describe())))
            }
        };
        for (i, f) in self.faults.iter().enumerate() {
            let at = format!("faults[{i}]");
            if f.at_ms >= self.phases.safety_ms {
                return e(
                    &format!("{at}.at_ms"),
                    format!("{} is not within the safety phase (0..{} ms)", f.at_ms, self.phases.safety_ms),
                );
            }
            match &f.fault {
                FaultSpec::Partition { groups } => {
                    if groups.iter().filter(|g| !g.is_empty()).count() < 2 {
                        return e(&format!("{at}.groups"), "expected at least two non-empty groups".into());
                    }
                    let mut seen = BTreeSet::new();
                    for (gi, g) in groups.iter().enumerate() {
                        for n in g {
                            check_node(format!("{at}.groups[{gi}]"), n)?;
                            if !seen.insert(*n) {
                                return e(&format!("{at}.groups"), format!("{n} is in two groups"));
                            }
                        }
                    }
                }
                FaultSpec::PartitionOneWay { from, to } => {
                    for n in from {
                        check_node(format!("{at}.from"), n)?;
                    }
                    for n in to {
                        check_node(format!("{at}.to"), n)?;
                    }
                    if from.is_empty() || to.is_empty() {
                        return e(&at, "expected non-empty `from` and `to`".into());
                    }
                }
                FaultSpec::Isolate { node }
                | FaultSpec::Crash { node, .. }
                | FaultSpec::Restart { node }
                | FaultSpec::Pause { node }
                | FaultSpec::Resume { node } => check_node(format!("{at}.node"), node)?,
                FaultSpec::ExpireSession { client } => {
                    if !matches!(client, Node::Client(_)) {
                        return e(&format!("{at}.client"), format!("expected a client (c1…), got {client}"));
                    }
                    check_node(format!("{at}.client"), client)?
                }
                FaultSpec::SetLossRate { rate } => {
                    if !(0.0..1.0).contains(rate) {
                        return e(&format!("{at}.rate"), format!("expected a probability in [0, 1), got {rate}"));
                    }
                }
                FaultSpec::SetLatency { latency_ms_min, latency_ms_max } => {
                    if latency_ms_min > latency_ms_max {
                        return e(&format!("{at}.latency_ms_min"), "must not exceed latency_ms_max".into());
                    }
                }
                FaultSpec::Heal {} => {}
            }
        }
        if let Some(x) = &self.expect {
            if x.failing_property.is_empty() {
                return e("expect.failing_property", "expected the name of the property that must fail".into());
            }
            match (x.seed, x.seed_budget) {
                (Some(_), None) => {}
                (None, Some(b)) if b > 0 => {}
                (None, Some(_)) => return e("expect.seed_budget", "expected at least 1".into()),
                _ => {
                    return e(
                        "expect",
                        "expected exactly one of `seed` (a regression) or `seed_budget` (a planted bug)".into(),
                    )
                }
            }
        }
        for (i, b) in self.bugs.iter().enumerate() {
            if zksim_model::Bug::from_name(b).is_none() {
                let known: Vec<&str> = zksim_model::Bug::ALL.iter().map(|b| b.name()).collect();
                return e(&format!("bugs[{i}]"), format!("unknown bug {b:?}; expected one of: {}", known.join(", ")));
            }
        }
        if let Some(n) = &self.nemesis {
            if n.interval_ms_min == 0 || n.interval_ms_min > n.interval_ms_max {
                return e("nemesis.interval_ms_min", "expected 0 < interval_ms_min <= interval_ms_max".into());
            }
            if n.duration_ms_min > n.duration_ms_max {
                return e("nemesis.duration_ms_min", "must not exceed nemesis.duration_ms_max".into());
            }
            let total = n.partition + n.partition_one_way + n.isolate + n.crash + n.pause + n.expire_session + n.loss;
            if total == 0 {
                return e("nemesis", "every fault weight is 0: give at least one kind a positive weight".into());
            }
        }
        Ok(())
    }
}

/// Every `*.toml` scenario under `dir`, recursively, in sorted order.
pub fn discover(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "toml") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(Path::new("scenarios/t.toml"), text)
    }

    const OK: &str = r#"
        [ensemble]
        servers = 3
        tick_ms = 100
        snapshot_every = 100
        fsync_ms_min = 1
        fsync_ms_max = 2

        [[clients]]
        count = 4
        run = { kind = "kv", keys = 3 }

        [phases]
        safety_ms = 5000
        liveness_ms = 3000

        [[faults]]
        at_ms = 1000
        fault = "partition"
        groups = [["s1"], ["s2", "s3"]]

        [[faults]]
        at_ms = 2000
        fault = "heal"
    "#;

    #[test]
    fn parses_a_good_file_and_names_it_after_the_file() {
        let s = parse(OK).unwrap();
        assert_eq!(s.name, "t");
        assert_eq!(s.client_count(), 4);
        assert_eq!(s.faults.len(), 2);
    }

    #[test]
    fn unknown_field_is_an_error_naming_file_and_field() {
        let err = parse(&OK.replace("tick_ms = 100", "tick_ms = 100\ntick_mss = 3")).unwrap_err().to_string();
        assert!(err.starts_with("scenarios/t.toml:"), "{err}");
        assert!(err.contains("tick_mss"), "{err}");
    }

    #[test]
    fn wrong_type_is_an_error_saying_what_was_expected() {
        let err = parse(&OK.replace("servers = 3", "servers = \"three\"")).unwrap_err().to_string();
        assert!(err.contains("servers = \"three\"") && err.contains("expected u32"), "{err}");
    }

    #[test]
    fn semantic_errors_name_the_field() {
        let err = parse(&OK.replace("servers = 3", "servers = 4")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("ensemble.servers"));
        let err = parse(&OK.replace(r#"[["s1"], ["s2", "s3"]]"#, r#"[["s1"], ["s9"]]"#)).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("faults[0].groups[1]"));
        assert!(err.message.contains("s9 does not exist"), "{}", err.message);
        let err = parse(&OK.replace("at_ms = 2000", "at_ms = 9000")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("faults[1].at_ms"));
        let err = parse(&OK.replace("kind = \"kv\"", "kind = \"nope\"")).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
        let err = parse(&OK.replace("fault = \"heal\"", "fault = \"heal\"\nnode = \"s1\"")).unwrap_err().to_string();
        assert!(err.contains("unknown field `node`"), "{err}");
        let err = parse(&OK.replace("fault = \"heal\"", "fault = \"explode\"")).unwrap_err().to_string();
        assert!(err.contains("explode") && err.contains("partition"), "{err}");
    }

    #[test]
    fn unknown_bug_names_the_field_and_the_catalog() {
        // Top-level keys must come before the first table.
        let with = |bugs: &str| format!("bugs = {bugs}\n{OK}");
        let s = parse(&with(r#"["zk-3911-ack-before-fsync"]"#)).unwrap();
        assert!(s.bug_set().has(zksim_model::Bug::AckBeforeFsync));
        let err = parse(&with(r#"["zk-3911-ack-before-fsync", "zk-0000"]"#)).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("bugs[1]"));
        assert!(err.message.contains("\"zk-0000\"") && err.message.contains("lock-watch-parent"), "{}", err.message);
    }
}
