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

/// Installs the subscriber (once).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("debug"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_timer(SimClock).with_writer(std::io::stderr).try_init();
}
