//! The commands behind `zksim <command>`. Exit codes: 0 pass, 1 a property failed, 2 bad
//! input or usage, 3 a run stopped on a broken invariant (panic), 4 nondeterminism detected.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zksim::bugs;
use zksim::expect::{self, RunVerdict};
use zksim::report::{html, index, markdown};
use zksim::runner::{self, RunOutput};
use zksim::scenario::{discover, Scenario};
use zksim::sweep::{run_jobs, RunRecord, Shard, SweepResult};
use zksim_model::jsonl::{fingerprint, history_bytes, read_history};

const EXIT_FAIL: u8 = 1;
const EXIT_CRASH: u8 = 3;
const EXIT_NONDETERMINISM: u8 = 4;

/// The line that replays a run exactly.
pub fn replay_line(scenario: &Path, seed: u64) -> String {
    format!("cargo run --release -- replay {} --seed {seed}", scenario.display())
}

fn record_of(path: &Path, scenario: &Scenario, out: &RunOutput, report: Option<String>) -> RunRecord {
    let (verdict, why) = expect::judge(scenario, out.history.header.seed, out);
    RunRecord {
        scenario: out.history.header.scenario.clone(),
        seed: out.history.header.seed,
        verdict: verdict.as_str().into(),
        properties: out.properties.iter().map(|p| (p.name.clone(), p.verdict)).collect(),
        failure: why,
        replay: replay_line(path, out.history.header.seed),
        sim_ms: out.history.records.last().map_or(0, |r| r.time.as_millis()),
        ops: out.history.records.iter().filter(|r| matches!(r.event, zksim_model::Event::Invoke { .. })).count() as u64,
        coverage: out.coverage.clone(),
        herd: out.herd.clone(),
        report,
    }
}

fn markdown_of(path: &Path, out: &RunOutput) -> String {
    let mut sections = Vec::new();
    let goals: Vec<String> =
        out.coverage.iter().map(|(g, hit)| format!("- [{}] {g}", if *hit { "x" } else { " " })).collect();
    sections.push(("Coverage goals".to_string(), goals.join("\n")));
    if !out.herd.is_empty() {
        let rows: Vec<String> = out.herd.iter().map(|(k, v)| format!("| {k} | {v:.2} |")).collect();
        sections.push(("Herd effect".to_string(), format!("| figure | value |\n|---|---|\n{}", rows.join("\n"))));
    }
    if !out.skipped_faults.is_empty() {
        sections.push((
            "Faults not applied".to_string(),
            out.skipped_faults.iter().map(|s| format!("- {s}")).collect::<Vec<_>>().join("\n"),
        ));
    }
    if let Some(e) = &out.error {
        sections.push(("Run stopped".to_string(), format!("```\n{e}\n```")));
    }
    let replay = replay_line(path, out.history.header.seed);
    markdown::render(
        &out.history,
        &markdown::RunFacts { properties: &out.properties, replay: &replay, sections: &sections },
    )
}

/// Writes a run's history, Markdown summary and HTML page under `dir/<scenario>/seed-<seed>/`.
fn write_run_report(dir: &Path, path: &Path, out: &RunOutput) -> Result<PathBuf, String> {
    let h = &out.history.header;
    let run_dir = dir.join(&h.scenario).join(format!("seed-{}", h.seed));
    std::fs::create_dir_all(&run_dir).map_err(|e| format!("cannot create {}: {e}", run_dir.display()))?;
    let md = markdown_of(path, out);
    let page = html::render(&out.history, &out.properties, &md);
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(run_dir.join(name), bytes)
            .map_err(|e| format!("cannot write {}: {e}", run_dir.join(name).display()))
    };
    write("history.jsonl", &history_bytes(&out.history))?;
    write("report.md", md.as_bytes())?;
    write("report.html", page.as_bytes())?;
    Ok(run_dir.join("report.html"))
}

fn load(path: &Path) -> Result<Scenario, String> {
    Scenario::load(path).map_err(|e| e.to_string())
}

fn exit_for(verdict: RunVerdict, out: &RunOutput) -> ExitCode {
    if out.error.is_some() {
        ExitCode::from(EXIT_CRASH)
    } else if verdict.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAIL)
    }
}

fn print_verdicts(path: &Path, verdict: (RunVerdict, Option<String>), out: &RunOutput) {
    let h = &out.history.header;
    let word = match verdict.0 {
        RunVerdict::Pass => "PASS",
        RunVerdict::ExpectedFail => "EXPECTED-FAIL",
        RunVerdict::Fail => "FAIL",
    };
    println!("{} seed {}: {word}", h.scenario, h.seed);
    if let (RunVerdict::ExpectedFail | RunVerdict::Fail, Some(why)) = (verdict.0, &verdict.1) {
        println!("  ({why})");
    }
    for p in &out.properties {
        println!("  {:<24} {:?}", p.name, p.verdict);
        for v in &p.violations {
            println!("      {}", v.explanation.replace('\n', "\n      "));
        }
    }
    if let Some(e) = &out.error {
        println!("  run stopped: {e}");
    }
    if verdict.0 != RunVerdict::Pass {
        println!("replay: {}", replay_line(path, h.seed));
    }
}

/// `zksim run`.
pub fn run(
    path: &Path,
    seed: Option<u64>,
    report: &Path,
    json: bool,
    check_determinism: bool,
) -> Result<ExitCode, String> {
    let scenario = load(path)?;
    let seed = seed.unwrap_or_else(zksim_sim::rng::fresh_seed);
    eprintln!("zksim: scenario {} seed {seed}", scenario.name);
    let out = runner::run(&scenario, seed);
    if check_determinism {
        let again = runner::run(&scenario, seed);
        let (a, b) = (history_bytes(&out.history), history_bytes(&again.history));
        if a != b {
            eprintln!(
                "zksim: NONDETERMINISM: seed {seed} gave two different histories ({:016x} vs {:016x})",
                fingerprint(&a),
                fingerprint(&b)
            );
            return Ok(ExitCode::from(EXIT_NONDETERMINISM));
        }
        eprintln!("zksim: determinism checked: history {:016x} twice", fingerprint(&a));
    }
    let page = write_run_report(report, path, &out)?;
    let verdict = expect::judge(&scenario, seed, &out);
    if json {
        let sweep = SweepResult { runs: vec![record_of(path, &scenario, &out, Some(page.display().to_string()))] };
        println!("{}", serde_json::to_string_pretty(&sweep).map_err(|e| e.to_string())?);
    } else {
        print_verdicts(path, verdict.clone(), &out);
        println!("report: {}", page.display());
    }
    Ok(exit_for(verdict.0, &out))
}

/// `zksim replay`.
pub fn replay(path: &Path, seed: u64, trace: bool, report: &Path) -> Result<ExitCode, String> {
    if trace {
        crate::trace_logs::init();
    }
    run(path, Some(seed), report, false, false)
}

/// `zksim sweep`.
#[allow(clippy::too_many_arguments)]
pub fn sweep(
    paths: &[PathBuf],
    seeds: Option<u64>,
    first_seed: u64,
    jobs: Option<usize>,
    shard: Option<&str>,
    report: &Path,
    json: bool,
    check_determinism: bool,
) -> Result<ExitCode, String> {
    let shard = shard.map(Shard::parse).transpose()?.unwrap_or(Shard::ALL);
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            files.extend(discover(p).map_err(|e| format!("{}: {e}", p.display()))?);
        } else {
            files.push(p.clone());
        }
    }
    if files.is_empty() {
        return Err("no scenario files given (pass files or directories of *.toml)".into());
    }
    let mut scenarios = Vec::new();
    for f in &files {
        scenarios.push((f.clone(), load(f)?));
    }
    let jobs_list: Vec<(usize, u64)> = scenarios
        .iter()
        .enumerate()
        .flat_map(|(i, (_, s))| {
            // A regression (written by `zksim shrink`) is about its one seed.
            if let Some(seed) = s.expect.as_ref().and_then(|e| e.seed) {
                return vec![(i, seed)];
            }
            let n = seeds.unwrap_or(s.seeds);
            (first_seed..first_seed + n).map(move |seed| (i, seed)).collect()
        })
        .collect();
    let threads = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    eprintln!(
        "zksim: sweep of {} scenarios, {} runs (shard {}/{}), {threads} parallel",
        scenarios.len(),
        jobs_list.len(),
        shard.k,
        shard.n
    );
    std::fs::create_dir_all(report).map_err(|e| format!("cannot create {}: {e}", report.display()))?;
    let nondeterministic = std::sync::Mutex::new(Vec::new());
    let runs = run_jobs(
        &jobs_list,
        shard,
        threads,
        |(i, seed)| {
            let (path, scenario) = &scenarios[*i];
            let out = runner::run(scenario, *seed);
            if check_determinism {
                let again = runner::run(scenario, *seed);
                if history_bytes(&out.history) != history_bytes(&again.history) {
                    nondeterministic
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(format!("{} seed {seed}", scenario.name));
                }
            }
            // Failing runs (expected or not) get their full report; passing runs only their
            // line in the index.
            let page = if out.passed() {
                None
            } else {
                write_run_report(report, path, &out).ok().map(|p| p.display().to_string())
            };
            record_of(path, scenario, &out, page)
        },
        |done, total, rec: &RunRecord| {
            let mark = match rec.verdict.as_str() {
                "pass" => "pass",
                "expected-fail" => "expected-fail",
                _ => "FAIL",
            };
            eprintln!("[{done:>4}/{total}] {mark} {} seed {}", rec.scenario, rec.seed);
        },
    );
    let mut sweep = SweepResult { runs };
    mark_uncaught_bugs(&scenarios, &mut sweep);
    write_sweep(report, &sweep)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&sweep).map_err(|e| e.to_string())?);
    } else {
        print!("{}", summary_table(&sweep));
        println!("report: {}", report.join("index.html").display());
    }
    let nondet = nondeterministic.into_inner().unwrap_or_else(|e| e.into_inner());
    if !nondet.is_empty() {
        eprintln!("zksim: NONDETERMINISM in: {}", nondet.join(", "));
        return Ok(ExitCode::from(EXIT_NONDETERMINISM));
    }
    Ok(if sweep.failures().next().is_some() { ExitCode::from(EXIT_FAIL) } else { ExitCode::SUCCESS })
}

/// A catalog scenario that ran every seed of its budget without its expected failure has not
/// caught its planted bug: its runs in the budget become failures saying so.
fn mark_uncaught_bugs(scenarios: &[(PathBuf, Scenario)], sweep: &mut SweepResult) {
    let verdicts: Vec<(String, u64, RunVerdict)> = sweep
        .runs
        .iter()
        .map(|r| {
            let v = match r.verdict.as_str() {
                "pass" => RunVerdict::Pass,
                "expected-fail" => RunVerdict::ExpectedFail,
                _ => RunVerdict::Fail,
            };
            (r.scenario.clone(), r.seed, v)
        })
        .collect();
    let misses = expect::budget_misses(scenarios.iter().map(|(_, s)| s), &verdicts);
    for r in &mut sweep.runs {
        let Some(why) = misses.get(&r.scenario) else { continue };
        let budget = scenarios
            .iter()
            .find(|(_, s)| s.name == r.scenario)
            .and_then(|(_, s)| s.expect.as_ref())
            .and_then(|x| x.seed_budget)
            .unwrap_or(0);
        if r.seed <= budget {
            r.verdict = "fail".into();
            r.failure = Some(why.clone());
        }
    }
}

fn summary_table(sweep: &SweepResult) -> String {
    let mut by: std::collections::BTreeMap<&str, (u64, u64, u64)> = Default::default();
    for r in &sweep.runs {
        let e = by.entry(&r.scenario).or_default();
        e.0 += 1;
        if !r.passed() {
            e.1 += 1;
        }
        if r.verdict == "expected-fail" {
            e.2 += 1;
        }
    }
    let mut s = format!("{:<40} {:>6} {:>8} {:>14}\n", "scenario", "runs", "failing", "expected-fail");
    for (name, (n, f, x)) in by {
        s += &format!("{name:<40} {n:>6} {f:>8} {x:>14}\n");
    }
    for r in sweep.failures() {
        s += &format!(
            "FAIL {} seed {}: {}\n  replay: {}\n",
            r.scenario,
            r.seed,
            r.failure.as_deref().unwrap_or(""),
            r.replay
        );
    }
    s
}

fn write_sweep(dir: &Path, sweep: &SweepResult) -> Result<(), String> {
    let json = serde_json::to_string_pretty(sweep).map_err(|e| e.to_string())?;
    let w = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("cannot write {}: {e}", dir.join(name).display()))
    };
    w("sweep.json", &json)?;
    w("index.md", &index::markdown(sweep))?;
    w("index.html", &index::html(sweep))
}

/// `zksim merge`.
pub fn merge(parts: &[PathBuf], out: &Path) -> Result<ExitCode, String> {
    let mut loaded = Vec::new();
    for p in parts {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        loaded.push(
            serde_json::from_str::<SweepResult>(&text)
                .map_err(|e| format!("{}: not a sweep.json: {e}", p.display()))?,
        );
    }
    let sweep = SweepResult::merge(loaded)?;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    write_sweep(out, &sweep)?;
    print!("{}", summary_table(&sweep));
    Ok(ExitCode::SUCCESS)
}

/// `zksim report`: judge a saved history again and render its report.
pub fn report(history: &Path, out: &Path) -> Result<ExitCode, String> {
    let file = std::fs::File::open(history).map_err(|e| format!("{}: {e}", history.display()))?;
    let h = read_history(std::io::BufReader::new(file)).map_err(|e| format!("{}: {e}", history.display()))?;
    let check = zksim_model::check::check_history(&h, &zksim_model::check::CheckConfig::default());
    let dir = out.join(&h.header.scenario).join(format!("seed-{}", h.header.seed));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let md = format!("{check}");
    // The verdicts with their violations, so the page highlights and links them on the timeline.
    let properties: Vec<_> = check.properties.iter().map(runner::property_result).collect();
    let page = html::render(&h, &properties, &md);
    std::fs::write(dir.join("report.html"), page).map_err(|e| e.to_string())?;
    print!("{check}");
    println!("report: {}", dir.join("report.html").display());
    Ok(if check.passed() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAIL) })
}

/// `zksim model-trace`.
pub fn model_trace(file: &Path) -> Result<ExitCode, String> {
    let f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let stdout = std::io::stdout();
    zksim_model::trace::run_trace(std::io::BufReader::new(f), stdout.lock())
        .map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// What `zksim conformance` runs the cases against.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ConformanceTarget {
    /// The reference model with ZooKeeper 3.8.0's own watch bookkeeping (ZOOKEEPER-4466/-4471
    /// re-created): the model to hold recordings of a real 3.8.0 server against.
    #[value(name = "model-3.8.0")]
    Model380,
    /// The reference model as the checkers use it (those two bugs fixed, as in the service).
    Model,
    /// The service's data tree, watch manager and reaper, committed one txn at a time.
    Service,
}

/// `zksim conformance`: each case's verdict — pass, known 3.8.0 bug (the fixed behaviour is
/// followed on purpose), unsupported (with the op and reason) or fail (with the diff). Exit 1
/// when any case fails or cannot run.
pub fn conformance(corpus: &Path, target: ConformanceTarget, json: bool) -> Result<ExitCode, String> {
    use zksim_model::model_target::ModelTarget;
    use zksim_model::probes::{parse_cases, run_case, CaseReport, Namespace, KNOWN_3_8_0_BUGS};
    use zksim_model::reference::WatchRules;
    use zksim_model::ZkModel;
    use zksim_sim::server::{DataTree, SingleServer};
    let text = std::fs::read_to_string(corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
    let cases = parse_cases(&text).map_err(|e| format!("{}: {e}", corpus.display()))?;
    let (mut pass, mut known, mut bad) = (0, 0, 0);
    let mut out = std::io::stdout().lock();
    for case in &cases {
        let model = || match case.namespace {
            Namespace::Chroot => ZkModel::new(),
            Namespace::Root => ZkModel::fresh_server(),
        };
        let report = match (target, case.namespace) {
            (ConformanceTarget::Model380, _) => {
                run_case(case, &mut ModelTarget::new(model().with_watch_rules(WatchRules::Zk380)))
            }
            (ConformanceTarget::Model, _) => run_case(case, &mut ModelTarget::new(model())),
            (ConformanceTarget::Service, Namespace::Chroot) => {
                run_case(case, &mut SingleServer::new(DataTree::empty()))
            }
            (ConformanceTarget::Service, Namespace::Root) => run_case(case, &mut SingleServer::new(DataTree::new())),
        };
        // Only the targets that follow the fixed behaviour differ from 3.8.0 on purpose.
        let bug = KNOWN_3_8_0_BUGS
            .iter()
            .find(|(n, _)| *n == case.name && !matches!(target, ConformanceTarget::Model380))
            .map(|(_, why)| *why);
        let (verdict, differing, detail) = match (&report, bug) {
            (CaseReport::Pass, _) => ("pass", Vec::new(), String::new()),
            (CaseReport::Fail(m), Some(why)) => ("known-3.8.0-bug", m.differing(), why.to_string()),
            (CaseReport::Fail(m), None) => ("fail", m.differing(), m.to_string()),
            (CaseReport::Unsupported(u), _) => {
                ("unsupported", vec![u.op_index], format!("op {}: {}", u.op_index, u.reason))
            }
        };
        match verdict {
            "pass" => pass += 1,
            "known-3.8.0-bug" => known += 1,
            _ => bad += 1,
        }
        let written = if json {
            let line = serde_json::json!({
                "name": case.name, "verdict": verdict, "differing_ops": differing, "detail": detail,
            });
            writeln!(out, "{line}")
        } else if verdict == "pass" {
            writeln!(out, "pass              {}", case.name)
        } else {
            writeln!(out, "{verdict:<17} {}\n{}", case.name, indent(&detail))
        };
        written.map_err(|e| e.to_string())?;
    }
    if !json {
        writeln!(out, "{} cases: {pass} pass, {known} known 3.8.0 bugs, {bad} fail or cannot run", cases.len())
            .map_err(|e| e.to_string())?;
    }
    Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAIL) })
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// The parts of `zksim bench`, each run in its own process so its peak memory is its own.
const BENCH_PARTS: [&str; 5] = ["ceilings", "standard", "sweep", "witness", "wgl"];

/// Runs one part of the benchmark in this process; its figures as JSON.
fn bench_part(part: &str, runs: usize) -> Result<serde_json::Value, String> {
    use zksim::bench as b;
    fn js<T: serde::Serialize>(v: &T) -> serde_json::Value {
        serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
    }
    Ok(match part {
        "ceilings" => serde_json::json!({
            "raw_madsim": js(&b::madsim_ping_pong(200_000)),
            "raw_transport": js(&b::transport_ping_pong(200_000)),
            "heartbeats_only": js(&b::heartbeats_only(60)),
        }),
        "standard" => {
            serde_json::json!({ "standard": js(&b::scenario_seed_median(&b::standard_scenario()?, 1, runs.max(1))) })
        }
        "sweep" => serde_json::json!({ "sweep": js(&b::sweep(&b::standard_scenario()?, 2, 16, 2)) }),
        "witness" => serde_json::json!({ "witness": js(&zksim_model::bench::bench_witness(1_000_000)) }),
        "wgl" => {
            let figures: Vec<_> =
                [100u64, 1_000, 10_000].iter().map(|n| zksim_model::bench::bench_wgl_register(*n, 10)).collect();
            serde_json::json!({ "wgl_register": js(&figures) })
        }
        other => return Err(format!("bench --part: unknown part {other:?}; expected one of {BENCH_PARTS:?}")),
    })
}

/// `zksim bench`: every figure of issue 8 with its ceiling from the same run and their ratio.
/// Each part runs in a child process (`bench --part NAME`, which prints that part's JSON);
/// `--json` prints everything as one JSON object (described in README.md, "Performance").
pub fn bench(json: bool, part: Option<&str>, runs: usize) -> Result<ExitCode, String> {
    if let Some(part) = part {
        println!("{}", serde_json::to_string(&bench_part(part, runs)?).map_err(|e| e.to_string())?);
        return Ok(ExitCode::SUCCESS);
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the zksim executable: {e}"))?;
    let mut all = serde_json::Map::new();
    for part in BENCH_PARTS {
        if !json {
            eprintln!("bench: {part}…");
        }
        let out = std::process::Command::new(&exe)
            .args(["bench", "--part", part, "--runs", &runs.to_string()])
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| format!("bench part {part}: {e}"))?;
        if !out.status.success() {
            return Err(format!("bench part {part} failed ({})", out.status));
        }
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("bench part {part}: unreadable output: {e}"))?;
        if let serde_json::Value::Object(m) = v {
            all.extend(m);
        }
    }
    fn pick(all: &serde_json::Map<String, serde_json::Value>, path: &[&str]) -> f64 {
        let Some((first, rest)) = path.split_first() else { return f64::NAN };
        let mut v = all.get(*first).unwrap_or(&serde_json::Value::Null);
        for k in rest {
            v = &v[*k];
        }
        v.as_f64().unwrap_or(f64::NAN)
    }
    let f = |path: &[&str]| pick(&all, path);
    let ratio = |a: f64, c: f64| if c > 0.0 { a / c } else { f64::NAN };
    let madsim = f(&["raw_madsim", "messages_per_wall_second"]);
    let madsim_cpu = f(&["raw_madsim", "messages_per_cpu_second"]);
    let derived = serde_json::json!({
        "raw_madsim_messages_per_wall_second": madsim,
        "transport_vs_madsim_ratio": ratio(f(&["raw_transport", "messages_per_wall_second"]), madsim),
        "heartbeats_vs_madsim_ratio": ratio(f(&["heartbeats_only", "messages_per_wall_second"]), madsim),
        "service_vs_madsim_ratio": ratio(f(&["standard", "messages_per_wall_second"]), madsim),
        "service_vs_madsim_cpu_ratio": ratio(f(&["standard", "messages_per_cpu_second"]), madsim_cpu),
        "standard_vs_heartbeats_simulated_speed_ratio": ratio(
            f(&["standard", "simulated_seconds_per_wall_second"]),
            f(&["heartbeats_only", "simulated_seconds_per_wall_second"])
        ),
        "checker_1m_ops_seconds": f(&["witness", "check_ms"]) / 1000.0,
        "checker_1m_ops_cpu_seconds": f(&["witness", "check_cpu_ms"]) / 1000.0,
    });
    if let serde_json::Value::Object(m) = derived {
        all.extend(m);
    }
    let f = |path: &[&str]| pick(&all, path);
    if json {
        println!("{}", serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?);
        return Ok(ExitCode::SUCCESS);
    }
    let g = |k: &str| f(&[k]);
    let mut o = std::io::stdout().lock();
    let _ = writeln!(
        o,
        "ceiling  bare madsim Endpoint ping-pong: {madsim:.0} msgs/wall-s, {madsim_cpu:.0} msgs/cpu-s ({:.0}× real time)",
        f(&["raw_madsim", "simulated_seconds_per_wall_second"])
    );
    let _ = writeln!(
        o,
        "         service transport ping-pong:  {:.0} msgs/wall-s, {:.0} msgs/cpu-s; vs madsim {:.2}",
        f(&["raw_transport", "messages_per_wall_second"]),
        f(&["raw_transport", "messages_per_cpu_second"]),
        g("transport_vs_madsim_ratio")
    );
    let _ = writeln!(
        o,
        "         5 servers, heartbeats only:   {:.0} msgs/wall-s, {:.0} sim-s/wall-s; vs madsim {:.2}",
        f(&["heartbeats_only", "messages_per_wall_second"]),
        f(&["heartbeats_only", "simulated_seconds_per_wall_second"]),
        g("heartbeats_vs_madsim_ratio")
    );
    let passed = all.get("standard").and_then(|s| s["passed"].as_bool()).unwrap_or(false);
    let _ = writeln!(
        o,
        "standard scenario (seed 1, {}, median of the runs' wall-s {}): {:.1} sim-s in {:.2} wall-s / {:.2} cpu-s",
        if passed { "pass" } else { "FAIL" },
        all.get("standard").map_or(String::new(), |s| s["wall_seconds_each"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_f64()).map(|x| format!("{x:.2}")).collect::<Vec<_>>().join("/"))
            .unwrap_or_default()),
        f(&["standard", "simulated_seconds"]),
        f(&["standard", "wall_seconds"]),
        f(&["standard", "cpu_seconds"])
    );
    let _ = writeln!(
        o,
        "         {:.0} sim-s/wall-s, {:.0} sim-s/cpu-s (heartbeats-only ceiling {:.0} sim-s/wall-s; ratio {:.2}; target ≥ 200)",
        f(&["standard", "simulated_seconds_per_wall_second"]),
        f(&["standard", "simulated_seconds_per_cpu_second"]),
        f(&["heartbeats_only", "simulated_seconds_per_wall_second"]),
        g("standard_vs_heartbeats_simulated_speed_ratio")
    );
    let _ = writeln!(
        o,
        "         {:.0} msgs/wall-s (madsim ceiling {madsim:.0}; service_vs_madsim_ratio {:.2}, by cpu {:.2}; target ≥ 0.5)",
        f(&["standard", "messages_per_wall_second"]),
        g("service_vs_madsim_ratio"),
        g("service_vs_madsim_cpu_ratio")
    );
    let _ = writeln!(
        o,
        "         {:.0} client ops/wall-s ({} ops); peak RSS {:.0} MiB (target < 200 MiB)",
        f(&["standard", "client_ops_per_wall_second"]),
        f(&["standard", "client_ops"]),
        f(&["standard", "peak_rss_mib"])
    );
    let _ = writeln!(
        o,
        "sweep    {} seeds on {} threads in {:.1} wall-s / {:.1} cpu-s: {:.1} seeds/min ({:.1} by cpu), extrapolated {:.0} min per 1,000 seeds (target < 5); {} failed; peak RSS {:.0} MiB (after half: {:.0} MiB)",
        f(&["sweep", "seeds"]),
        f(&["sweep", "threads"]),
        f(&["sweep", "wall_seconds"]),
        f(&["sweep", "cpu_seconds"]),
        f(&["sweep", "seeds_per_minute"]),
        f(&["sweep", "seeds_per_minute_by_cpu"]),
        f(&["sweep", "minutes_per_1000_seeds"]),
        f(&["sweep", "failed"]),
        f(&["sweep", "peak_rss_mib"]),
        f(&["sweep", "peak_rss_first_half_mib"])
    );
    let _ = writeln!(
        o,
        "checker  witness: 1,000,000 ops in {:.2} wall-s / {:.2} cpu-s (target < 2 s); peak RSS {:.0} MiB with the history (target < 1 GiB)",
        g("checker_1m_ops_seconds"),
        g("checker_1m_ops_cpu_seconds"),
        f(&["witness", "peak_rss_mib"])
    );
    if let Some(serde_json::Value::Array(w)) = all.get("wgl_register") {
        for x in w {
            let _ = writeln!(
                o,
                "         WGL register, 10 clients: {} ops in {:.1} ms wall ({})",
                x["ops"],
                x["check_ms"].as_f64().unwrap_or(f64::NAN),
                x["verdict"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `zksim bugs`: measures every planted bug of the catalog (seeds 1..=M with the switch on and
/// off) and prints the table, or the JSON list.
pub fn bugs(
    dir: &Path,
    seeds: u64,
    jobs: Option<usize>,
    only: Option<&str>,
    json: bool,
    markdown: bool,
) -> Result<ExitCode, String> {
    if seeds == 0 {
        return Err("--seeds must be at least 1".into());
    }
    let entries: Vec<bugs::Entry> =
        bugs::load_catalog(dir)?.into_iter().filter(|e| only.is_none_or(|o| e.bug.name().contains(o))).collect();
    // One job per (bug, seed, switch): all of them in one parallel pool.
    let mut jobs_list: Vec<(usize, u64, bool)> = Vec::new();
    let mut off: Vec<Option<Scenario>> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        off.push(e.scenario.as_ref().map(|(_, s)| bugs::switched_off(s)));
        if e.scenario.is_some() {
            for seed in 1..=seeds {
                jobs_list.push((i, seed, true));
                jobs_list.push((i, seed, false));
            }
        }
    }
    let threads = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    eprintln!(
        "zksim: measuring {} catalog scenarios, {} seeds each with the switch on and off ({} runs), {threads} parallel",
        entries.iter().filter(|e| e.scenario.is_some()).count(),
        seeds,
        jobs_list.len()
    );
    let results = run_jobs(
        &jobs_list,
        Shard::ALL,
        threads,
        |(i, seed, on)| {
            let s = if *on {
                &entries[*i].scenario.as_ref().expect("jobs only for bugs with a scenario").1
            } else {
                off[*i].as_ref().expect("jobs only for bugs with a scenario")
            };
            bugs::run_seed(s, *seed)
        },
        |done, total, _| {
            if done % 50 == 0 || done == total {
                eprintln!("[{done:>5}/{total}]");
            }
        },
    );
    let measures: Vec<bugs::BugMeasure> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mine = |want: bool| -> Vec<bugs::SeedResult> {
                jobs_list
                    .iter()
                    .zip(&results)
                    .filter(|((j, _, on), _)| *j == i && *on == want)
                    .map(|(_, r)| r.clone())
                    .collect()
            };
            bugs::summarize(e, &mine(true), &mine(false))
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&measures).map_err(|e| e.to_string())?);
    } else if markdown {
        print!("{}", bugs::markdown_table(&measures));
    } else {
        print!("{}", bugs::table(&measures));
        let missing = measures.iter().filter(|m| m.scenario.is_none()).count();
        let caught = measures.iter().filter(|m| m.caught).count();
        println!(
            "{caught} of {} catalogued bugs caught within budget ({missing} without a scenario yet); {seeds} seeds each, switch on and off",
            measures.len()
        );
        for m in measures.iter().filter(|m| m.scenario.is_some() && !m.caught) {
            println!(
                "NOT CAUGHT {}: {:?} did not fail within {:?} seeds; other failures {:?}; false alarms {:?}",
                m.name, m.property, m.seed_budget, m.other_failures, m.false_alarms
            );
        }
    }
    let all = measures.iter().filter(|m| m.scenario.is_some()).all(|m| m.caught);
    Ok(if all { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAIL) })
}

/// `zksim shrink`: minimize a failing run while the same property fails at the same seed, and
/// write it as a regression scenario.
pub fn shrink(
    path: &Path,
    seed: u64,
    property: Option<&str>,
    out_dir: &Path,
    max_runs: usize,
) -> Result<ExitCode, String> {
    use zksim::shrink::{failing_properties, materialized, minimize, regression, regression_toml, Provenance, Size};
    #[allow(clippy::disallowed_methods)] // wall time of the whole shrink, for the summary only
    let started = std::time::Instant::now();
    let scenario = load(path)?;
    let original = runner::run(&scenario, seed);
    let failing = failing_properties(&original);
    let property = match property {
        Some(p) if failing.iter().any(|f| f == p) => p.to_string(),
        Some(p) => {
            return Err(format!(
                "{} seed {seed}: property {p:?} does not fail (failing: {})",
                path.display(),
                if failing.is_empty() { "none".to_string() } else { failing.join(", ") }
            ))
        }
        None => match (failing.first(), &original.error) {
            (Some(p), _) => p.clone(),
            (None, Some(e)) => {
                return Err(format!(
                    "{} seed {seed}: the run stopped on a panic ({e}); shrink needs a failing property",
                    path.display()
                ))
            }
            (None, None) => return Err(format!("{} seed {seed} passes: nothing to shrink", path.display())),
        },
    };
    let fails = |out: &RunOutput| failing_properties(out).contains(&property);
    let start = materialized(&scenario, seed);
    if !fails(&runner::run(&start, seed)) {
        return Err(format!(
            "{} seed {seed}: with the nemesis materialized into explicit faults, {property} no longer fails \
             (the plan should be identical: please report this)",
            path.display()
        ));
    }
    let before = (Size::of(&start), original.history.records.len());
    eprintln!("zksim: shrinking {} seed {seed}: {property} fails; start: {}", scenario.name, before.0);
    let m = minimize(start, max_runs, &mut |cand| fails(&runner::run(cand, seed)), &mut |step| {
        eprintln!(
            "[{:>4}/{}] {} {}  => {}",
            step.runs,
            step.max_runs,
            if step.accepted { "kept    " } else { "reverted" },
            step.what,
            step.current
        )
    });
    let shrunk_out = runner::run(&m.scenario, seed);
    let after = (Size::of(&m.scenario), shrunk_out.history.records.len());
    let name = format!("{}-seed{seed}", scenario.name);
    let file = out_dir.join(format!("{name}.toml"));
    let replay = replay_line(&file, seed);
    let source = path.display().to_string();
    let prov = Provenance {
        source: &source,
        seed,
        property: &property,
        before: before.clone(),
        after: after.clone(),
        accepted: &m.accepted,
        runs: m.runs,
        replay: &replay,
        from_nemesis: if scenario.nemesis.is_some() { before.0.faults - scenario.faults.len() } else { 0 },
    };
    let text = regression_toml(&regression(&m.scenario, &name, &prov), &prov)?;
    std::fs::create_dir_all(out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    std::fs::write(&file, &text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    // The file as written must reproduce the failure.
    let written = load(&file)?;
    let verified = fails(&runner::run(&written, seed));
    println!(
        "shrunk {} seed {seed} ({property}) in {} runs, {:.1} s",
        scenario.name,
        m.runs,
        started.elapsed().as_secs_f64()
    );
    println!("{:<14} {:>10} {:>10}", "", "before", "after");
    let row = |what: &str, a: String, b: String| println!("{what:<14} {a:>10} {b:>10}");
    row("faults", before.0.faults.to_string(), after.0.faults.to_string());
    row("clients", before.0.clients.to_string(), after.0.clients.to_string());
    row("client groups", before.0.client_groups.to_string(), after.0.client_groups.to_string());
    row("safety ms", before.0.safety_ms.to_string(), after.0.safety_ms.to_string());
    row("liveness ms", before.0.liveness_ms.to_string(), after.0.liveness_ms.to_string());
    row("history recs", before.1.to_string(), after.1.to_string());
    if m.budget_exhausted {
        println!("(the run budget of {max_runs} was spent; --max-runs N may shrink further)");
    }
    println!("regression: {}", file.display());
    println!("replay: {replay}");
    if !verified {
        return Err(format!("{}: the written regression does not fail {property} at seed {seed}", file.display()));
    }
    Ok(ExitCode::SUCCESS)
}
