//! The server's on-disk layout on the simulated disk, and recovery from it.
//!
//! Files (ZooKeeper's dataDir, simplified):
//! - `acceptedEpoch`, `currentEpoch`: one record each, replaced whole and fsynced before the
//!   server acts on the new value;
//! - `log.NNNNNNNN`: the transaction log, a sequence of proposals in zxid order; a new file is
//!   started after every snapshot;
//! - `snap.NNNNNNNN`: one record, the applied tree at some zxid (only ever a committed prefix).
//!
//! Recovery = the latest snapshot, then every logged transaction after it, stopping at a torn
//! record (which is truncated away, with anything after it). Old snapshots and the log files
//! they cover are deleted, keeping the two latest snapshots so a leader can still DIFF a
//! follower that is a little behind.

use crate::disk::{Disk, Slot};
use crate::server::datatree::DataTree;
use std::sync::Arc;
use zksim_model::{TxnRecord, Zxid};

/// A transaction as the service passes it around once the leader has created it: the log
/// record, the history a leader syncs from, the proposal sent to each learner and the pending
/// queues all share one immutable copy instead of cloning its paths and data at every hop.
pub type SharedTxn = Arc<TxnRecord>;

/// One record of the server's disk.
#[derive(Clone, Debug)]
pub enum DiskRecord {
    /// A logged proposal, shared with the history and the messages that carry it.
    Txn(SharedTxn),
    /// A snapshot of the applied tree (its `last_zxid()` is the snapshot's zxid). Shared, so
    /// that reading or backing up the file does not copy the tree.
    Snapshot(Arc<DataTree>),
    /// The value of an epoch file.
    Epoch(u32),
}

const ACCEPTED_EPOCH: &str = "acceptedEpoch";
const CURRENT_EPOCH: &str = "currentEpoch";

fn log_name(seq: u64) -> String {
    format!("log.{seq:08}")
}

fn snap_name(seq: u64) -> String {
    format!("snap.{seq:08}")
}

/// A retained log file: its sequence number and the last zxid it holds.
#[derive(Clone, Debug)]
struct LogFile {
    seq: u64,
    /// `log_name(seq)`, kept so that an append does not format it again.
    name: String,
    last: Option<Zxid>,
}

/// What recovery (or a reload) rebuilt.
#[derive(Clone, Debug)]
pub struct Recovered {
    /// The latest snapshot with every logged transaction after it applied.
    pub tree: DataTree,
    /// The transactions the retained logs hold after `floor`, in zxid order.
    pub history: Vec<SharedTxn>,
    /// The zxid of the oldest retained snapshot: `history` covers everything after it.
    pub floor: Zxid,
}

/// The server's durable state.
pub struct Storage {
    disk: Disk<DiskRecord>,
    accepted_epoch: u32,
    current_epoch: u32,
    logs: Vec<LogFile>,
    /// Retained snapshots: (file sequence, zxid), oldest first.
    snaps: Vec<(u64, Zxid)>,
    next_seq: u64,
    last_logged: Zxid,
    dirty: bool,
    /// The tree before any transaction: `/` alone instead of a fresh server's `/zookeeper`…
    empty_root: bool,
}

fn read_epoch(disk: &Disk<DiskRecord>, file: &str) -> Result<u32, String> {
    match disk.read(file).last() {
        None => Ok(0),
        Some(Slot::Ok(DiskRecord::Epoch(e))) => Ok(*e),
        Some(other) => Err(format!("{file} holds {other:?}, not an epoch")),
    }
}

impl Storage {
    /// Opens the disk and recovers: epochs, latest snapshot, log replay.
    pub async fn open(disk: Disk<DiskRecord>) -> Result<(Storage, Recovered), String> {
        Storage::open_with(disk, false).await
    }

    /// [`Storage::open`], starting (before any snapshot) from `/` alone when `empty_root`.
    pub async fn open_with(disk: Disk<DiskRecord>, empty_root: bool) -> Result<(Storage, Recovered), String> {
        let accepted_epoch = read_epoch(&disk, ACCEPTED_EPOCH)?;
        let current_epoch = read_epoch(&disk, CURRENT_EPOCH)?;
        if current_epoch > accepted_epoch {
            return Err(format!("currentEpoch {current_epoch} is ahead of acceptedEpoch {accepted_epoch} on disk"));
        }
        let mut st = Storage {
            disk,
            accepted_epoch,
            current_epoch,
            logs: Vec::new(),
            snaps: Vec::new(),
            next_seq: 1,
            last_logged: Zxid::ZERO,
            dirty: false,
            empty_root,
        };
        let rec = st.reload().await?;
        Ok((st, rec))
    }

    /// Rebuilds the tree and history from what the disk holds now (after a truncation, or when
    /// going back to election so the vote reflects the whole log).
    pub async fn reload(&mut self) -> Result<Recovered, String> {
        let files = self.disk.files();
        let seq_of = |name: &str, prefix: &str| name.strip_prefix(prefix).and_then(|s| s.parse::<u64>().ok());
        let mut snaps = Vec::new();
        let mut log_seqs = Vec::new();
        for f in &files {
            if let Some(s) = seq_of(f, "snap.") {
                snaps.push(s);
            } else if let Some(s) = seq_of(f, "log.") {
                log_seqs.push(s);
            }
        }
        snaps.sort();
        log_seqs.sort();
        self.next_seq = snaps.iter().chain(log_seqs.iter()).max().map_or(1, |m| m + 1);
        // Every retained snapshot, to know the floor; the latest valid one seeds the tree.
        self.snaps.clear();
        let mut tree = if self.empty_root { DataTree::empty() } else { DataTree::new() };
        for s in &snaps {
            match self.disk.read(&snap_name(*s)).as_slice() {
                [Slot::Ok(DiskRecord::Snapshot(t))] => {
                    self.snaps.push((*s, t.last_zxid()));
                    if t.last_zxid() >= tree.last_zxid() {
                        tree = (**t).clone();
                    }
                }
                other => {
                    return Err(format!("{} is not a single snapshot record: {} records", snap_name(*s), other.len()))
                }
            }
        }
        let floor = self.snaps.first().map_or(Zxid::ZERO, |(_, z)| *z);
        let mut history = Vec::new();
        let mut last = Zxid::ZERO;
        let mut torn = false;
        self.logs.clear();
        for seq in log_seqs {
            let name = log_name(seq);
            if torn {
                // Nothing after a torn record can be trusted (nor was it acknowledged).
                self.disk.truncate(&name, 0);
                self.disk.fsync(&name).await;
                continue;
            }
            let mut file_last = None;
            for (i, slot) in self.disk.read(&name).into_iter().enumerate() {
                match slot {
                    Slot::Ok(DiskRecord::Txn(t)) => {
                        if t.zxid <= last {
                            return Err(format!("{name}[{i}]: zxid {} does not follow {last}", t.zxid));
                        }
                        last = t.zxid;
                        file_last = Some(t.zxid);
                        if t.zxid > floor {
                            history.push(t.clone());
                        }
                        if t.zxid > tree.last_zxid() {
                            tree.apply(&t);
                        }
                    }
                    Slot::Ok(other) => return Err(format!("{name}[{i}] holds {other:?}, not a transaction")),
                    Slot::Torn => {
                        self.disk.truncate(&name, i);
                        self.disk.fsync(&name).await;
                        torn = true;
                        break;
                    }
                }
            }
            self.logs.push(LogFile { seq, name, last: file_last });
        }
        self.last_logged = last.max(tree.last_zxid());
        self.dirty = false;
        if self.logs.is_empty() {
            self.roll();
        }
        Ok(Recovered { tree, history, floor })
    }

    fn roll(&mut self) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.logs.push(LogFile { seq, name: log_name(seq), last: None });
    }

    fn current_log(&self) -> &str {
        &self.logs.last().expect("there is always a current log file").name
    }

    /// The epoch this server last accepted in discovery.
    pub fn accepted_epoch(&self) -> u32 {
        self.accepted_epoch
    }

    /// The epoch of the last leader this server synced with.
    pub fn current_epoch(&self) -> u32 {
        self.current_epoch
    }

    /// The zxid of the last logged proposal (or of the latest snapshot, if later).
    pub fn last_logged(&self) -> Zxid {
        self.last_logged
    }

    /// The zxid of the oldest retained snapshot: logs cover everything after it.
    pub fn floor(&self) -> Zxid {
        self.snaps.first().map_or(Zxid::ZERO, |(_, z)| *z)
    }

    /// The zxid of the latest snapshot, below which nothing may ever be truncated.
    pub fn snapshot_zxid(&self) -> Zxid {
        self.snaps.last().map_or(Zxid::ZERO, |(_, z)| *z)
    }

    /// Persists a higher accepted epoch (write, then fsync, before anyone learns of it).
    pub async fn set_accepted_epoch(&mut self, epoch: u32) {
        assert!(epoch >= self.accepted_epoch, "acceptedEpoch must never go back: {} → {epoch}", self.accepted_epoch);
        if epoch == self.accepted_epoch {
            return;
        }
        self.disk.replace(ACCEPTED_EPOCH, vec![DiskRecord::Epoch(epoch)]);
        self.disk.fsync(ACCEPTED_EPOCH).await;
        self.accepted_epoch = epoch;
    }

    /// Persists the current epoch (only after the synced transactions are durable).
    pub async fn set_current_epoch(&mut self, epoch: u32) {
        assert!(epoch >= self.current_epoch, "currentEpoch must never go back: {} → {epoch}", self.current_epoch);
        assert!(
            epoch <= self.accepted_epoch,
            "currentEpoch {epoch} must not pass acceptedEpoch {}",
            self.accepted_epoch
        );
        assert!(!self.dirty, "currentEpoch must be persisted only after the synced transactions are fsynced");
        if epoch == self.current_epoch {
            return;
        }
        self.disk.replace(CURRENT_EPOCH, vec![DiskRecord::Epoch(epoch)]);
        self.disk.fsync(CURRENT_EPOCH).await;
        self.current_epoch = epoch;
    }

    /// [`Storage::set_current_epoch`] without its ordering assertion: only the planted
    /// ZOOKEEPER-4643 bug calls it, persisting currentEpoch while synced txns are volatile.
    pub async fn set_current_epoch_before_sync(&mut self, epoch: u32) {
        let dirty = std::mem::replace(&mut self.dirty, false);
        self.set_current_epoch(epoch).await;
        self.dirty = dirty;
    }

    /// Logs a proposal (durable after the next [`Storage::fsync`]).
    pub fn append(&mut self, txn: &SharedTxn) {
        assert!(
            txn.zxid > self.last_logged,
            "log zxids must strictly increase: {} after {}",
            txn.zxid,
            self.last_logged
        );
        let log = self.logs.last_mut().expect("there is always a current log file");
        self.disk.append(&log.name, DiskRecord::Txn(txn.clone()));
        log.last = Some(txn.zxid);
        self.last_logged = txn.zxid;
        self.dirty = true;
    }

    /// True when appended proposals are waiting for an fsync.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Makes every appended proposal durable (one fsync for the whole batch).
    pub async fn fsync(&mut self) {
        if self.dirty {
            self.dirty = false;
            self.disk.fsync(self.current_log()).await;
        }
    }

    /// Drops every logged proposal after `to` (a divergent, uncommitted tail), durably.
    pub async fn truncate_after(&mut self, to: Zxid) {
        assert!(
            to >= self.snapshot_zxid(),
            "a follower never truncates a committed txn: truncating to {to} below snapshot {}",
            self.snapshot_zxid()
        );
        for lf in self.logs.iter_mut() {
            let name = log_name(lf.seq);
            let (keep, len, last) = self.disk.inspect(&name, |slots| {
                let keep =
                    slots.iter().take_while(|s| matches!(s, Slot::Ok(DiskRecord::Txn(t)) if t.zxid <= to)).count();
                let last = slots[..keep].iter().rev().find_map(|s| match s {
                    Slot::Ok(DiskRecord::Txn(t)) => Some(t.zxid),
                    _ => None,
                });
                (keep, slots.len(), last)
            });
            if keep < len {
                self.disk.truncate(&name, keep);
                self.disk.fsync(&name).await;
                lf.last = last;
            }
        }
        self.last_logged =
            self.logs.iter().filter_map(|l| l.last).max().unwrap_or(Zxid::ZERO).max(self.snapshot_zxid());
        self.dirty = false;
    }

    /// Writes a snapshot of `tree` (a committed prefix), starts a new log file, and deletes
    /// what the two latest snapshots make unnecessary.
    pub async fn snapshot(&mut self, tree: &DataTree) {
        // The old log file must be durable before the new one takes appends, so that only the
        // last file can ever lose records in a crash.
        self.fsync().await;
        let seq = self.next_seq;
        self.next_seq += 1;
        let name = snap_name(seq);
        self.disk.replace(&name, vec![DiskRecord::Snapshot(Arc::new(tree.clone()))]);
        self.disk.fsync(&name).await;
        self.snaps.push((seq, tree.last_zxid()));
        self.roll();
        self.prune().await;
    }

    /// Replaces everything with the leader's snapshot (SYNC by SNAP).
    pub async fn install_snapshot(&mut self, tree: &DataTree) {
        self.fsync().await;
        for lf in std::mem::take(&mut self.logs) {
            let name = log_name(lf.seq);
            self.disk.truncate(&name, 0);
            self.disk.fsync(&name).await;
        }
        for (s, _) in std::mem::take(&mut self.snaps) {
            let name = snap_name(s);
            self.disk.truncate(&name, 0);
            self.disk.fsync(&name).await;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let name = snap_name(seq);
        self.disk.replace(&name, vec![DiskRecord::Snapshot(Arc::new(tree.clone()))]);
        self.disk.fsync(&name).await;
        self.snaps.push((seq, tree.last_zxid()));
        self.last_logged = tree.last_zxid();
        self.roll();
    }

    async fn prune(&mut self) {
        while self.snaps.len() > 2 {
            let (s, _) = self.snaps.remove(0);
            let name = snap_name(s);
            self.disk.truncate(&name, 0);
            self.disk.fsync(&name).await;
        }
        let floor = self.floor();
        // A log file is covered once the next one starts at or below the floor: every txn it
        // holds is at most the floor.
        while self.logs.len() > 1 && self.logs[0].last.is_none_or(|z| z <= floor) {
            let lf = self.logs.remove(0);
            let name = log_name(lf.seq);
            self.disk.truncate(&name, 0);
            self.disk.fsync(&name).await;
        }
    }

    /// The number of files on the disk (for tests of bounded growth).
    pub fn file_count(&self) -> usize {
        self.disk.files().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::Crashable;
    use crate::rng::Seeds;
    use zksim_model::{SessionId, Txn};

    fn txn(epoch: u32, n: u32) -> SharedTxn {
        Arc::new(TxnRecord {
            zxid: Zxid::new(epoch, n),
            time_ms: n as i64,
            txn: Txn::CreateSession { session: SessionId(n as u64), timeout_ms: 1000 },
        })
    }

    fn disk() -> Disk<DiskRecord> {
        Disk::new(Seeds::new(7).stream("d"), 1, 1)
    }

    #[test]
    fn recovery_replays_the_synced_log_and_drops_a_torn_tail() {
        let rt = madsim::runtime::Runtime::new();
        let d = disk();
        let d2 = d.clone();
        rt.block_on(async move {
            let (mut st, rec) = Storage::open(d2.clone()).await.unwrap();
            assert_eq!(rec.tree.last_zxid(), Zxid::ZERO);
            st.append(&txn(1, 1));
            st.append(&txn(1, 2));
            st.fsync().await;
            st.append(&txn(1, 3));
            d2.crash(true);
            let (st, rec) = Storage::open(d2.clone()).await.unwrap();
            assert_eq!(rec.tree.last_zxid(), Zxid::new(1, 2), "unsynced txn must be lost, torn record dropped");
            assert_eq!(rec.history.len(), 2);
            assert_eq!(st.last_logged(), Zxid::new(1, 2));
        });
        assert_eq!(d.read("log.00000001").len(), 2, "the torn record must be truncated away");
    }

    #[test]
    fn snapshots_bound_the_disk_and_recovery_uses_them() {
        let rt = madsim::runtime::Runtime::new();
        let d = disk();
        rt.block_on(async move {
            let (mut st, mut rec) = Storage::open(d.clone()).await.unwrap();
            for n in 1..=50u32 {
                st.append(&txn(1, n));
                rec.tree.apply(&txn(1, n));
                if n % 10 == 0 {
                    st.snapshot(&rec.tree).await;
                }
            }
            st.fsync().await;
            assert!(st.file_count() <= 5, "old snapshots and logs must be deleted, found {:?}", d.files());
            let (st2, rec2) = Storage::open(d.clone()).await.unwrap();
            assert_eq!(rec2.tree.last_zxid(), Zxid::new(1, 50));
            assert_eq!(rec2.tree.digest(), rec.tree.digest(), "recovered tree must equal the applied one");
            assert_eq!(st2.floor(), Zxid::new(1, 40));
            assert_eq!(rec2.history.first().map(|t| t.zxid), Some(Zxid::new(1, 41)));
        });
    }

    #[test]
    fn truncation_drops_a_divergent_tail_durably() {
        let rt = madsim::runtime::Runtime::new();
        let d = disk();
        rt.block_on(async move {
            let (mut st, _) = Storage::open(d.clone()).await.unwrap();
            for n in 1..=5 {
                st.append(&txn(1, n));
            }
            st.fsync().await;
            st.truncate_after(Zxid::new(1, 3)).await;
            assert_eq!(st.last_logged(), Zxid::new(1, 3));
            st.append(&txn(2, 1));
            st.fsync().await;
            d.crash(false);
            let (_, rec) = Storage::open(d.clone()).await.unwrap();
            let zs: Vec<Zxid> = rec.history.iter().map(|t| t.zxid).collect();
            assert_eq!(zs, vec![Zxid::new(1, 1), Zxid::new(1, 2), Zxid::new(1, 3), Zxid::new(2, 1)]);
        });
    }

    #[test]
    fn epochs_persist_and_never_go_back() {
        let rt = madsim::runtime::Runtime::new();
        let d = disk();
        rt.block_on(async move {
            let (mut st, _) = Storage::open(d.clone()).await.unwrap();
            st.set_accepted_epoch(3).await;
            st.set_current_epoch(3).await;
            d.crash(false);
            let (st, _) = Storage::open(d.clone()).await.unwrap();
            assert_eq!((st.accepted_epoch(), st.current_epoch()), (3, 3));
        });
    }
}
