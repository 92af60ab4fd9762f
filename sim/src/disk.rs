//! Simulated durable storage, one per server, that survives crash and restart.
//!
//! Injects: loss of everything written since the last `fsync` when the node crashes, and
//! optionally a torn last record (half-written: a reader sees a checksum failure there, as a
//! real log reader would). Writes are instant; `fsync` takes simulated time, so a crash can land
//! between a write and its fsync.
//! Cannot inject (yet): corruption of synced data, misdirected writes, latency spikes.
//!
//! Records are typed values (`R`), not bytes: the server decides what a record is. A file is a
//! sequence of records; snapshot-style files are replaced whole with [`Disk::replace`].

use crate::rng::SimRng;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a reader finds at one position of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot<R> {
    Ok(R),
    /// A record that was being written when the node crashed. Its checksum fails.
    Torn,
}

/// Counters, for reports and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    pub appends: u64,
    pub fsyncs: u64,
    pub crashes: u64,
    /// Records lost to crashes (written but never synced).
    pub lost_records: u64,
}

struct File<R> {
    records: Vec<Slot<R>>,
    /// `records[..synced]` is on the platter.
    synced: usize,
    /// The durable content when it is not a prefix of `records` (after a truncate or replace
    /// that was not yet synced). A crash restores it.
    backup: Option<Backup<R>>,
}

/// The durable content of a file whose unsynced truncate or replace dropped durable records:
/// `records[..keep]` followed by `tail`. Kept as the dropped records themselves (moved, never
/// copied) because a follower's truncation or the pruning of a file holding a snapshot would
/// otherwise deep-copy every record it keeps.
struct Backup<R> {
    keep: usize,
    tail: Vec<Slot<R>>,
}

impl<R> File<R> {
    /// Drops `records[len..]`, remembering the durable ones among them for a crash.
    fn drop_from(&mut self, len: usize) {
        match &mut self.backup {
            None => {
                if len < self.synced {
                    let mut tail = self.records.split_off(len);
                    tail.truncate(self.synced - len);
                    self.backup = Some(Backup { keep: len, tail });
                }
            }
            Some(b) if len < b.keep => {
                let mut tail = self.records.split_off(len);
                tail.truncate(b.keep - len);
                tail.append(&mut b.tail);
                *b = Backup { keep: len, tail };
            }
            Some(_) => {}
        }
        self.records.truncate(len);
        self.synced = self.synced.min(len);
        if let Some(b) = &self.backup {
            assert!(b.keep <= self.records.len(), "a backup's kept prefix is still in the file");
        }
    }
}

impl<R> Default for File<R> {
    fn default() -> Self {
        File { records: Vec::new(), synced: 0, backup: None }
    }
}

struct Inner<R> {
    files: BTreeMap<String, File<R>>,
    /// Bumped at every crash, so an fsync issued by a dead incarnation never completes.
    generation: u64,
    fsync_ms: (u64, u64),
    rng: SimRng,
    stats: DiskStats,
}

impl<R> Inner<R> {
    /// The file named `file`, created empty if missing (allocating its name only then: appends
    /// and fsyncs are per transaction).
    fn file_mut(&mut self, file: &str) -> &mut File<R> {
        if !self.files.contains_key(file) {
            self.files.insert(file.to_string(), File::default());
        }
        self.files.get_mut(file).expect("just ensured")
    }
}

/// A handle to one server's disk. Clones share the disk.
pub struct Disk<R> {
    inner: Arc<Mutex<Inner<R>>>,
}

impl<R> Clone for Disk<R> {
    fn clone(&self) -> Self {
        Disk { inner: self.inner.clone() }
    }
}

/// Anything the nemesis can crash: it loses what was not made durable.
pub trait Crashable: Send + Sync {
    /// Drop everything not fsynced; with `torn`, leave the first unsynced record half-written.
    fn crash(&self, torn: bool);
}

impl<R: Clone + Send + 'static> Disk<R> {
    /// An empty disk whose fsync takes `fsync_ms_min..=fsync_ms_max` simulated milliseconds.
    pub fn new(rng: SimRng, fsync_ms_min: u64, fsync_ms_max: u64) -> Disk<R> {
        assert!(fsync_ms_min <= fsync_ms_max, "fsync latency range is empty");
        Disk {
            inner: Arc::new(Mutex::new(Inner {
                files: BTreeMap::new(),
                generation: 0,
                fsync_ms: (fsync_ms_min, fsync_ms_max),
                rng,
                stats: DiskStats::default(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<R>> {
        // A poisoned lock means a simulation already panicked; the panic is what matters.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a record to `file` (not durable until [`Disk::fsync`]).
    pub fn append(&self, file: &str, record: R) {
        let mut inner = self.lock();
        inner.stats.appends += 1;
        // One search in the common case (the file exists): appends are per transaction.
        match inner.files.get_mut(file) {
            Some(f) => f.records.push(Slot::Ok(record)),
            None => inner.file_mut(file).records.push(Slot::Ok(record)),
        }
    }

    /// Keeps only the first `len` records of `file` (not durable until fsync).
    pub fn truncate(&self, file: &str, len: usize) {
        let mut inner = self.lock();
        let f = inner.file_mut(file);
        if len >= f.records.len() {
            return;
        }
        f.drop_from(len);
    }

    /// Replaces the whole content of `file` (write-to-temp-then-rename; not durable until fsync).
    pub fn replace(&self, file: &str, records: Vec<R>) {
        let mut inner = self.lock();
        let f = inner.file_mut(file);
        f.drop_from(0);
        // Even an empty durable content is restored by a crash (no torn record in its place).
        f.backup.get_or_insert(Backup { keep: 0, tail: Vec::new() });
        f.records = records.into_iter().map(Slot::Ok).collect();
    }

    /// Makes everything written to `file` so far durable, after the disk's fsync latency.
    /// If the node crashes meanwhile, nothing becomes durable.
    pub async fn fsync(&self, file: &str) {
        let (generation, delay) = {
            let mut inner = self.lock();
            let (lo, hi) = inner.fsync_ms;
            let ms = if lo == hi { lo } else { inner.rng.gen_range(lo..=hi) };
            (inner.generation, Duration::from_millis(ms))
        };
        if !delay.is_zero() {
            madsim::time::sleep(delay).await;
        }
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        inner.stats.fsyncs += 1;
        // A missing file is empty and durable already: nothing to do (one search per fsync).
        let Some(f) = inner.files.get_mut(file) else { return };
        f.synced = f.records.len();
        f.backup = None;
        if f.records.is_empty() {
            // An empty, durable file is what a missing one reads as: forget it, so the map
            // holds only live files (deleted logs and snapshots made every lookup slower).
            inner.files.remove(file);
        }
    }

    /// Everything a reader finds in `file` now (durable or not: the OS page cache).
    pub fn read(&self, file: &str) -> Vec<Slot<R>> {
        self.inspect(file, <[Slot<R>]>::to_vec)
    }

    /// Lets `f` look at what a reader finds in `file` now, without copying it (a whole log
    /// file cloned to find one position was a hot spot). `f` must not use this disk.
    pub fn inspect<T>(&self, file: &str, f: impl FnOnce(&[Slot<R>]) -> T) -> T {
        f(self.lock().files.get(file).map_or(&[][..], |file| file.records.as_slice()))
    }

    /// Number of records in `file`.
    pub fn len(&self, file: &str) -> usize {
        self.lock().files.get(file).map_or(0, |f| f.records.len())
    }

    /// True when `file` has no records.
    pub fn is_empty(&self, file: &str) -> bool {
        self.len(file) == 0
    }

    /// Names of the files that hold at least one record.
    pub fn files(&self) -> Vec<String> {
        self.lock().files.iter().filter(|(_, f)| !f.records.is_empty()).map(|(n, _)| n.clone()).collect()
    }

    /// Counters so far.
    pub fn stats(&self) -> DiskStats {
        self.lock().stats
    }
}

impl<R: Clone + Send + 'static> Crashable for Disk<R> {
    fn crash(&self, torn: bool) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.stats.crashes += 1;
        let mut lost = 0u64;
        for f in inner.files.values_mut() {
            if let Some(Backup { keep, mut tail }) = f.backup.take() {
                lost += f.records.len() as u64;
                f.records.truncate(keep);
                f.records.append(&mut tail);
            } else {
                let unsynced = f.records.len() - f.synced;
                lost += unsynced as u64;
                f.records.truncate(f.synced);
                if torn && unsynced > 0 {
                    f.records.push(Slot::Torn);
                }
            }
            f.synced = f.records.len();
        }
        inner.stats.lost_records += lost;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Seeds;

    fn disk() -> Disk<u32> {
        Disk::new(Seeds::new(1).stream("disk"), 0, 0)
    }

    fn values(d: &Disk<u32>, f: &str) -> Vec<Slot<u32>> {
        d.read(f)
    }

    #[test]
    fn crash_keeps_synced_and_drops_unsynced() {
        let rt = madsim::runtime::Runtime::new();
        let d = disk();
        rt.block_on(async {
            d.append("log", 1);
            d.append("log", 2);
            d.fsync("log").await;
            d.append("log", 3);
        });
        d.crash(false);
        assert_eq!(values(&d, "log"), vec![Slot::Ok(1), Slot::Ok(2)]);
        assert_eq!(d.stats().lost_records, 1);
    }

    #[test]
    fn torn_crash_leaves_a_torn_record() {
        let d = disk();
        d.append("log", 1);
        d.crash(true);
        assert_eq!(values(&d, "log"), vec![Slot::Torn]);
    }

    #[test]
    fn unsynced_truncate_and_replace_are_undone_by_a_crash() {
        let rt = madsim::runtime::Runtime::new();
        let d = disk();
        rt.block_on(async {
            d.append("log", 1);
            d.append("log", 2);
            d.fsync("log").await;
            d.truncate("log", 1);
            d.replace("snap", vec![9]);
        });
        d.crash(false);
        assert_eq!(values(&d, "log"), vec![Slot::Ok(1), Slot::Ok(2)], "unsynced truncate must be undone");
        assert!(d.read("snap").is_empty(), "unsynced replace must be undone");
        rt.block_on(async {
            d.truncate("log", 1);
            d.fsync("log").await;
        });
        d.crash(false);
        assert_eq!(values(&d, "log"), vec![Slot::Ok(1)], "synced truncate must stick");
    }

    #[test]
    fn repeated_unsynced_truncates_and_a_replace_are_all_undone_by_a_crash() {
        let rt = madsim::runtime::Runtime::new();
        let d = disk();
        let ok = |v: &[u32]| v.iter().map(|x| Slot::Ok(*x)).collect::<Vec<_>>();
        rt.block_on(async {
            for x in 1..=5 {
                d.append("log", x);
            }
            d.fsync("log").await;
            d.append("log", 6);
        });
        d.truncate("log", 3);
        d.append("log", 9);
        d.truncate("log", 4);
        d.truncate("log", 1);
        d.append("log", 8);
        assert_eq!(values(&d, "log"), ok(&[1, 8]));
        d.crash(true);
        assert_eq!(values(&d, "log"), ok(&[1, 2, 3, 4, 5]), "every durable record comes back, in order, none torn");
        d.truncate("log", 2);
        d.replace("log", vec![7]);
        d.crash(false);
        assert_eq!(values(&d, "log"), ok(&[1, 2, 3, 4, 5]), "a replace after a truncate is undone too");
        d.replace("empty", vec![7]);
        d.crash(true);
        assert!(d.read("empty").is_empty(), "an unsynced replace of an empty file leaves no torn record");
    }

    #[test]
    fn fsync_interrupted_by_a_crash_makes_nothing_durable() {
        let rt = madsim::runtime::Runtime::new();
        let d: Disk<u32> = Disk::new(Seeds::new(1).stream("disk"), 5, 5);
        let d2 = d.clone();
        rt.block_on(async move {
            d2.append("log", 1);
            let syncing = d2.clone();
            let task = madsim::task::spawn(async move { syncing.fsync("log").await });
            madsim::time::sleep(Duration::from_millis(2)).await;
            d2.crash(false);
            task.await.unwrap();
        });
        assert!(d.read("log").is_empty(), "an fsync that had not completed at the crash must not make data durable");
    }
}
