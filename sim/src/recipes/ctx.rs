//! What a recipe workload gets from the harness.

use crate::client::{ClientConfig, ZkClient};
use crate::recorder::Recorder;
use crate::rng::SimRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use zksim_model::{ClientId, ServerId};

/// The harness's "wind down" signal: set when the run's phases are over, so workloads stop
/// starting new work and close their sessions. Harness control, like the nemesis: processes only
/// read it.
#[derive(Clone, Default)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    /// A signal not yet raised.
    pub fn new() -> StopSignal {
        StopSignal::default()
    }

    /// Raises the signal.
    pub fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// True once raised.
    pub fn raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// One client node's context for running a recipe.
pub struct RecipeCtx {
    pub client: ClientId,
    pub servers: Vec<ServerId>,
    /// Requested session timeout.
    pub session_timeout_ms: u64,
    pub recorder: Recorder,
    /// This client's own stream (derived from the run's seed, the node and its incarnation).
    pub rng: SimRng,
    /// 0 at the node's first start, then 1, 2… after each crash and restart: a restarted
    /// process knows it is one (as an application knows from its pid file or its disk) and may
    /// recover what it had done from the service (the queue producer does).
    pub incarnation: u32,
    pub stop: StopSignal,
    /// Planted bugs switched on for this run (none by default: see `zksim_model::bugs`).
    pub bugs: zksim_model::BugSet,
}

impl RecipeCtx {
    /// A new session, retrying (with a seeded pause) until one is established; `None` once the
    /// harness says stop.
    pub async fn new_session(&mut self) -> Option<ZkClient> {
        loop {
            if self.stop.raised() {
                return None;
            }
            let cfg =
                ClientConfig::new(self.client, self.servers.clone()).with_session_timeout(self.session_timeout_ms);
            let cfg = ClientConfig { bugs: self.bugs, ..cfg };
            let rng = SimRng::from_rng(&mut self.rng).expect("ChaCha seeding from ChaCha cannot fail");
            match ZkClient::connect(cfg, self.recorder.clone(), rng).await {
                Ok(c) => return Some(c),
                Err(_) => {
                    let ms = self.rng.gen_range(50..250);
                    madsim::time::sleep(Duration::from_millis(ms)).await;
                }
            }
        }
    }

    /// Sleeps `ms` milliseconds (simulated).
    pub async fn sleep_ms(&self, ms: u64) {
        madsim::time::sleep(Duration::from_millis(ms)).await;
    }
}
