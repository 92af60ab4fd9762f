//! Seeded randomness: one root seed, one independent ChaCha stream per named component.
//!
//! Streams are derived from `(root seed, name)` alone, so adding a draw to one component (the
//! nemesis, say) never shifts another's (a workload's). madsim keeps its own generator, seeded
//! from the same root, for scheduling and network latency.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The generator every zksim component draws from.
pub type SimRng = ChaCha8Rng;

/// Derives named streams from a root seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seeds {
    root: u64,
}

impl Seeds {
    /// Streams for the run with this root seed.
    pub fn new(root: u64) -> Seeds {
        Seeds { root }
    }

    /// The root seed.
    pub fn root(&self) -> u64 {
        self.root
    }

    /// The stream named `name` (for example `"nemesis"`, `"workload/c3"`, `"disk/s1"`).
    pub fn stream(&self, name: &str) -> SimRng {
        let mut key = [0u8; 32];
        let mut state = self.root ^ fnv1a(name.as_bytes());
        for chunk in key.chunks_mut(8) {
            state = splitmix64(&mut state);
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        ChaCha8Rng::from_seed(key)
    }
}

/// A seed for a run nobody pinned. Drawn outside any simulation, printed first by the caller.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // the one sanctioned entropy source
pub fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.write_u32(std::process::id());
    // Keep seeds short enough to paste comfortably.
    h.finish() % 1_000_000_000_000
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_are_stable_and_independent() {
        let a = Seeds::new(42);
        let x: Vec<u64> = (0..4).map(|_| 0).scan(a.stream("nemesis"), |r, _: u64| Some(r.gen())).collect();
        let y: Vec<u64> = (0..4).map(|_| 0).scan(a.stream("nemesis"), |r, _: u64| Some(r.gen())).collect();
        assert_eq!(x, y, "same seed and name must give the same stream");
        let z: u64 = a.stream("workload/c1").gen();
        assert_ne!(x[0], z, "different names must give different streams");
        let w: u64 = Seeds::new(43).stream("nemesis").gen();
        assert_ne!(x[0], w, "different roots must give different streams");
    }
}
