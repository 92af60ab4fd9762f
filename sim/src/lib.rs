//! # zksim-sim — the simulated world and everything that runs in it
//!
//! - [`world`]: the madsim runtime with server and client nodes, stable names and addresses.
//! - [`net`]: TCP-like typed connections over the simulated network.
//! - [`disk`]: per-server durable storage that loses unsynced writes on crash.
//! - [`nemesis`]: the faults, each recorded in the history.
//! - [`recorder`]: the history being written.
//! - [`rng`]: one root seed, one ChaCha stream per component.
//! - [`deadline`]: a resettable deadline that registers one madsim timer per deadline, not per poll.
//!
//! Everything here runs only on madsim's deterministic runtime (`--cfg madsim`, set in
//! `.cargo/config.toml`).

#[cfg(not(madsim))]
compile_error!("zksim-sim runs only on madsim: build with --cfg madsim (the repository's .cargo/config.toml sets it)");

pub mod client;
pub mod deadline;
pub mod disk;
pub mod nemesis;
pub mod net;
pub mod proto;
pub mod recipes;
pub mod recorder;
pub mod rng;
pub mod server;
pub mod workload;
pub mod world;

pub use nemesis::Nemesis;
pub use recorder::Recorder;
pub use rng::Seeds;
pub use world::{process, ProcessCtx, SteppedWorld, World, WorldConfig};
