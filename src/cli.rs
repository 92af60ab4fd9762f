//! The commands behind `zksim <command>`. Exit codes: 0 pass, 1 a property failed, 2 bad
//! input or usage, 3 a run stopped on a broken invariant (panic), 4 nondeterminism detected.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
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

fn record_of(path: &Path, out: &RunOutput, report: Option<String>) -> RunRecord {
    RunRecord {
        scenario: out.history.header.scenario.clone(),
        seed: out.history.header.seed,
        verdict: if out.passed() { "pass".into() } else { "fail".into() },
        properties: out.properties.iter().map(|p| (p.name.clone(), p.verdict)).collect(),
        failure: out.first_failure(),
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

fn exit_for(out: &RunOutput) -> ExitCode {
    if out.error.is_some() {
        ExitCode::from(EXIT_CRASH)
    } else if out.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAIL)
    }
}

fn print_verdicts(path: &Path, out: &RunOutput) {
    let h = &out.history.header;
    println!("{} seed {}: {}", h.scenario, h.seed, if out.passed() { "PASS" } else { "FAIL" });
    for p in &out.properties {
        println!("  {:<24} {:?}", p.name, p.verdict);
        for v in &p.violations {
            println!("      {}", v.explanation.replace('\n', "\n      "));
        }
    }
    if let Some(e) = &out.error {
        println!("  run stopped: {e}");
    }
    if !out.passed() {
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
    if json {
        let sweep = SweepResult { runs: vec![record_of(path, &out, Some(page.display().to_string()))] };
        println!("{}", serde_json::to_string_pretty(&sweep).map_err(|e| e.to_string())?);
    } else {
        print_verdicts(path, &out);
        println!("report: {}", page.display());
    }
    Ok(exit_for(&out))
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
            let n = seeds.unwrap_or(s.seeds);
            (first_seed..first_seed + n).map(move |seed| (i, seed))
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
            // Failing runs get their full report; passing runs only their line in the index.
            let page = if out.passed() {
                None
            } else {
                write_run_report(report, path, &out).ok().map(|p| p.display().to_string())
            };
            record_of(path, &out, page)
        },
        |done, total, rec| {
            let mark = if rec.passed() { "pass" } else { "FAIL" };
            eprintln!("[{done:>4}/{total}] {mark} {} seed {}", rec.scenario, rec.seed);
        },
    );
    let sweep = SweepResult { runs };
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

fn summary_table(sweep: &SweepResult) -> String {
    let mut by: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
    for r in &sweep.runs {
        let e = by.entry(&r.scenario).or_default();
        e.0 += 1;
        if !r.passed() {
            e.1 += 1;
        }
    }
    let mut s = format!("{:<40} {:>6} {:>8}\n", "scenario", "runs", "failing");
    for (name, (n, f)) in by {
        s += &format!("{name:<40} {n:>6} {f:>8}\n");
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
    let page = html::render(&h, &[], &md);
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

/// The parts of `zksim bench`, each run in its own process so its peak memory is its own.
const BENCH_PARTS: [&str; 5] = ["ceilings", "standard", "sweep", "witness", "wgl"];

/// Runs one part of the benchmark in this process; its figures as JSON.
fn bench_part(part: &str) -> Result<serde_json::Value, String> {
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
        "standard" => serde_json::json!({ "standard": js(&b::scenario_seed(&b::standard_scenario()?, 1)) }),
        "sweep" => serde_json::json!({ "sweep": js(&b::sweep(&b::standard_scenario()?, 2, 4, 2)) }),
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
pub fn bench(json: bool, part: Option<&str>) -> Result<ExitCode, String> {
    if let Some(part) = part {
        println!("{}", serde_json::to_string(&bench_part(part)?).map_err(|e| e.to_string())?);
        return Ok(ExitCode::SUCCESS);
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the zksim executable: {e}"))?;
    let mut all = serde_json::Map::new();
    for part in BENCH_PARTS {
        if !json {
            eprintln!("bench: {part}…");
        }
        let out = std::process::Command::new(&exe)
            .args(["bench", "--part", part])
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
        "standard scenario (seed 1, {}): {:.1} sim-s in {:.2} wall-s / {:.2} cpu-s",
        if passed { "pass" } else { "FAIL" },
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
