//! Benchmarks of the checkers, as library functions the CLI's `bench` command calls. They time
//! with the wall clock, which is fine here: this code runs outside any simulation and never
//! affects a verdict.

use crate::check::{check_history, CheckConfig};
use crate::testkit::synthetic::{generate, Params, Rng};
use crate::wgl::register::{Register, RegisterInput, RegisterOutput};
use crate::wgl::{check_operations, Budget, Completion, Operation, Verdict};
use serde::{Deserialize, Serialize};

/// One measurement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchFigure {
    pub name: String,
    /// Client operations in the input.
    pub ops: u64,
    /// History records (or WGL operations) in the input.
    pub records: u64,
    /// Time to build the input, milliseconds.
    pub generate_ms: f64,
    /// Time to check it, milliseconds (wall clock: inflated on a loaded machine).
    pub check_ms: f64,
    /// CPU time of the checking thread during the check (Linux, 10 ms resolution), milliseconds.
    pub check_cpu_ms: Option<f64>,
    /// Peak resident memory of the process (Linux `VmHWM`), MiB; None elsewhere. For the witness
    /// benchmark the mark is reset after generating the history: input plus checker.
    pub peak_rss_mib: Option<f64>,
    /// The checker's verdict, so a benchmark of a wrong answer is noticed.
    pub verdict: String,
}

impl std::fmt::Display for BenchFigure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} ops ({} records) generated in {:.0} ms, checked in {:.0} ms wall / {} cpu ({:.2} M ops/s wall), peak RSS {}, verdict {}",
            self.name,
            self.ops,
            self.records,
            self.generate_ms,
            self.check_ms,
            self.check_cpu_ms.map_or("n/a".into(), |c| format!("{c:.0} ms")),
            self.ops as f64 / self.check_ms.max(1e-9) / 1e3,
            self.peak_rss_mib.map_or("n/a".into(), |m| format!("{m:.0} MiB")),
            self.verdict
        )
    }
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU time (user + system) of the calling thread, from `/proc/thread-self/stat`.
fn thread_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 10.0) // USER_HZ is 100 on Linux
}

// Wall-clock timing is the point of a benchmark; it is never used inside a simulation.
#[allow(clippy::disallowed_methods)]
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = std::time::Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64() * 1e3)
}

/// Generates a valid synthetic history of `n_ops` client operations (1000 sessions, half reads,
/// some watches, lost requests and lost replies) and times `check_history` on it.
pub fn bench_witness(n_ops: u64) -> BenchFigure {
    let (h, generate_ms) = timed(|| generate(&Params::bench(n_ops, 42)));
    // The peak from here on is the history (the input) plus the checker, not the generator.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let cpu0 = thread_cpu_ms();
    let (report, check_ms) = timed(|| check_history(&h, &CheckConfig::default()));
    let check_cpu_ms = cpu0.zip(thread_cpu_ms()).map(|(a, b)| b - a);
    BenchFigure {
        name: "witness".into(),
        ops: n_ops,
        records: h.records.len() as u64,
        generate_ms,
        check_ms,
        check_cpu_ms,
        peak_rss_mib: peak_rss_mib(),
        verdict: if report.passed() { "pass".into() } else { format!("FAIL\n{report}") },
    }
}

/// A linearizable register history: `clients` clients, each with one operation in flight,
/// overlapping heavily; results computed at a random point inside each interval.
pub fn register_history(n_ops: u64, clients: u32, seed: u64) -> Vec<Operation<RegisterInput, RegisterOutput>> {
    let mut rng = Rng::new(seed);
    let mut free_at = vec![0u64; clients as usize];
    // (linearization point, op index)
    let mut points = Vec::with_capacity(n_ops as usize);
    let mut ops = Vec::with_capacity(n_ops as usize);
    for id in 0..n_ops {
        let c = rng.below(clients as u64) as usize;
        let call = free_at[c] + rng.below(10);
        let lin = call + 1 + rng.below(20);
        let ret = lin + 1 + rng.below(20);
        free_at[c] = ret + 1;
        let input = match rng.below(3) {
            0 => RegisterInput::Read,
            1 => RegisterInput::Write(rng.below(5) as i64),
            _ => RegisterInput::Cas { from: rng.below(5) as i64, to: rng.below(5) as i64 },
        };
        points.push((lin, id as usize));
        ops.push(Operation {
            id,
            client: c as u64,
            input,
            call,
            completion: Completion::Returned { time: ret, output: RegisterOutput::Written },
        });
    }
    points.sort_unstable();
    let mut value = 0i64;
    for (_, i) in points {
        let out = match ops[i].input {
            RegisterInput::Read => RegisterOutput::Value(value),
            RegisterInput::Write(v) => {
                value = v;
                RegisterOutput::Written
            }
            RegisterInput::Cas { from, to } => {
                let ok = value == from;
                if ok {
                    value = to;
                }
                RegisterOutput::Cas(ok)
            }
        };
        if let Completion::Returned { output, .. } = &mut ops[i].completion {
            *output = out;
        }
    }
    ops
}

/// Times WGL on a linearizable `n_ops`-operation register history with `clients` clients.
pub fn bench_wgl_register(n_ops: u64, clients: u32) -> BenchFigure {
    let (ops, generate_ms) = timed(|| register_history(n_ops, clients, 7));
    let cpu0 = thread_cpu_ms();
    let (out, check_ms) = timed(|| check_operations(&Register::default(), &ops, Budget::default()));
    let check_cpu_ms = cpu0.zip(thread_cpu_ms()).map(|(a, b)| b - a);
    let verdict = match &out.verdict {
        Verdict::Ok => format!("ok ({} steps)", out.steps),
        other => format!("{other:?}"),
    };
    BenchFigure {
        name: format!("wgl-register-{clients}-clients"),
        ops: n_ops,
        records: ops.len() as u64,
        generate_ms,
        check_ms,
        check_cpu_ms,
        peak_rss_mib: peak_rss_mib(),
        verdict,
    }
}
