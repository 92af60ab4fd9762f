//! `--trace`: tracing-subscriber logs of the simulated servers and clients, stamped with
//! simulated time (never the wall clock), filtered by `RUST_LOG` (default `debug`).

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::EnvFilter;

struct SimClock;

impl FormatTime for SimClock {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        match madsim::time::TimeHandle::try_current() {
            Some(t) => write!(w, "{:>10.3}s", t.elapsed().as_secs_f64()),
            None => write!(w, "{:>11}", "-"),
        }
    }
}

/// Installs the subscriber (once). Every line carries the simulated time and the madsim node
/// span (`node{id=.. name="s1"}`), so server and client logs can be told apart; colours only
/// when stderr is a terminal, so piped logs stay greppable.
pub fn init() {
    use std::io::IsTerminal;
    let wanted = std::env::var("RUST_LOG").unwrap_or_else(|_| "debug".to_string());
    let mut filter = EnvFilter::try_new(&wanted).unwrap_or_else(|e| {
        eprintln!("zksim: RUST_LOG={wanted:?} is not a valid filter ({e}); using \"debug\"");
        EnvFilter::new("debug")
    });
    // madsim's `node{name="s1"}` spans (error level, target madsim::sim::task) tell which
    // simulated process logged a line; keep them whatever RUST_LOG selects, unless it names
    // that target itself.
    if !wanted.contains("madsim::sim::task") {
        filter = filter.add_directive("madsim::sim::task=error".parse().expect("a valid directive"));
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(SimClock)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
