//! The zksim command line. See README.md for the commands and the `--json` schema.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod allocator;
mod cli;
mod trace_logs;

#[global_allocator]
static GLOBAL: allocator::MiMalloc = allocator::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_e` (include/mimalloc.h), which the
/// Rust bindings do not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// By default mimalloc 3 gives freed memory back to the OS about a second after it is freed,
/// and a simulation that frees and allocates all the time then faults it back in, the kernel
/// zeroing it (transparent huge pages: 2 MiB at a time): a 6-seed sweep on one core spent
/// 0.03-0.25 s of system time on that, ~0.04 s without purging. Memory is kept instead; a sweep's
/// peak stays that of one seed per thread, since a run frees everything (tests/no_leak.rs).
/// `MIMALLOC_PURGE_DELAY` still wins.
fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: reads and sets an option of the allocator this binary links, before any thread
    // is started. The option is set only if it holds mimalloc 3's default purge delay (1000 ms),
    // so a build whose enum differs leaves every option alone.
    unsafe {
        if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) == 1000 {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        }
    }
}

#[derive(Parser)]
#[command(name = "zksim", about = "Deterministic simulation testing for ZooKeeper-style services and recipes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One run of a scenario: prints verdicts, writes its report.
    Run {
        scenario: PathBuf,
        /// The seed (default: a fresh one, printed first).
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write the report (default: reports/).
        #[arg(long, default_value = "reports")]
        report: PathBuf,
        /// Machine-readable summary on stdout.
        #[arg(long)]
        json: bool,
        /// Run the seed twice and compare the histories byte for byte.
        #[arg(long)]
        check_determinism: bool,
    },
    /// Many seeds of one or more scenarios (files or directories), in parallel.
    Sweep {
        paths: Vec<PathBuf>,
        /// Seeds per scenario (default: each scenario's own `seeds`).
        #[arg(long)]
        seeds: Option<u64>,
        /// The first seed (seeds are first, first+1, ...).
        #[arg(long, default_value_t = 1)]
        first_seed: u64,
        /// Parallel simulations (default: the machine's cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Run only slice K of N (1-based), e.g. 2/4.
        #[arg(long)]
        shard: Option<String>,
        #[arg(long, default_value = "reports")]
        report: PathBuf,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        check_determinism: bool,
    },
    /// Rerun one seed exactly (byte-identical history); --trace logs the simulated processes.
    Replay {
        scenario: PathBuf,
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        trace: bool,
        #[arg(long, default_value = "reports")]
        report: PathBuf,
    },
    /// Minimize a failing run (drop and shorten faults, fewer clients and operations, shorter
    /// phases) while the same property still fails at the seed; write a regression scenario.
    Shrink {
        scenario: PathBuf,
        #[arg(long)]
        seed: u64,
        /// The property that must keep failing (default: the first failing one).
        #[arg(long)]
        property: Option<String>,
        /// Where to write `<scenario>-seed<S>.toml`.
        #[arg(long, default_value = "scenarios/regressions")]
        out: PathBuf,
        /// At most this many candidate runs.
        #[arg(long, default_value_t = 200)]
        max_runs: usize,
    },
    /// Render a report from a saved history (`report <history.jsonl>`, judged again), or merge
    /// shard results into one sweep report (`report merge <sweep.json>...`).
    Report {
        #[arg(required = true)]
        args: Vec<PathBuf>,
        #[arg(long, default_value = "reports")]
        out: PathBuf,
    },
    /// The planted-bug catalog: runs each bug's scenario (scenarios/bugs/<bug>.toml) for seeds
    /// 1..=M with the switch on and off, and prints bug, layer, source, fault, property, seeds
    /// to detect (first/mean/worst) and whether it is caught within its budget.
    Bugs {
        /// Seeds per bug (each run with the switch on and again off).
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        /// Parallel simulations (default: the machine's cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Only bugs whose name contains this.
        #[arg(long)]
        only: Option<String>,
        /// The catalog directory.
        #[arg(long, default_value = zksim::bugs::CATALOG_DIR)]
        dir: PathBuf,
        /// A JSON list of {name, source, scenario, property, caught, seeds_to_detect, ...}.
        #[arg(long)]
        json: bool,
        /// The table as Markdown (for README.md and reports/bugs.md).
        #[arg(long, conflicts_with = "json")]
        markdown: bool,
    },
    /// Merge shard results (`sweep.json` files) into one sweep report.
    Merge {
        parts: Vec<PathBuf>,
        #[arg(long, default_value = "reports")]
        out: PathBuf,
    },
    /// Replay a JSON-lines trace of operations through the reference model (docs/model-trace.md).
    ModelTrace { file: PathBuf },
    /// Run recorded real-ZooKeeper cases (the probes' JSON format, model/testdata/) against the
    /// reference model or the service's data tree; prints a verdict per case and the diff of each
    /// case that differs.
    Conformance {
        /// A JSON list of cases, as model/testdata/zookeeper-3.8-probes.json.
        corpus: PathBuf,
        /// What to run them against: the model with 3.8.0's watch bookkeeping (the default,
        /// for recordings of a real 3.8.0 server), the model as the checkers use it, or the
        /// service's data tree.
        #[arg(long, value_enum, default_value = "model-3.8.0")]
        target: cli::ConformanceTarget,
        /// One JSON object per case: {name, verdict, differing_ops, detail}.
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks: the runtime's ceiling, checker throughput.
    Bench {
        #[arg(long)]
        json: bool,
        /// Run one part only and print its JSON (the parent runs each part in a child process).
        #[arg(long, hide = true)]
        part: Option<String>,
        /// Runs of the standard scenario's seed; the median is reported (1 for callgrind).
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { scenario, seed, report, json, check_determinism } => {
            cli::run(&scenario, seed, &report, json, check_determinism)
        }
        Command::Sweep { paths, seeds, first_seed, jobs, shard, report, json, check_determinism } => {
            cli::sweep(&paths, seeds, first_seed, jobs, shard.as_deref(), &report, json, check_determinism)
        }
        Command::Replay { scenario, seed, trace, report } => cli::replay(&scenario, seed, trace, &report),
        Command::Shrink { scenario, seed, property, out, max_runs } => {
            cli::shrink(&scenario, seed, property.as_deref(), &out, max_runs)
        }
        Command::Report { args, out } => match args.split_first() {
            Some((first, parts)) if first.as_os_str() == "merge" => cli::merge(parts, &out),
            Some((history, [])) => cli::report(history, &out),
            _ => Err("usage: zksim report <history.jsonl> | zksim report merge <sweep.json>...".to_string()),
        },
        Command::Merge { parts, out } => cli::merge(&parts, &out),
        Command::ModelTrace { file } => cli::model_trace(&file),
        Command::Conformance { corpus, target, json } => cli::conformance(&corpus, target, json),
        Command::Bench { json, part, runs } => cli::bench(json, part.as_deref(), runs),
        Command::Bugs { seeds, jobs, only, dir, json, markdown } => {
            cli::bugs(&dir, seeds, jobs, only.as_deref(), json, markdown)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("zksim: {e}");
            ExitCode::from(2)
        }
    }
}
