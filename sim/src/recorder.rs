//! The history recorder: every process of a run appends its observations here, stamped with
//! simulated time. It is the harness's observation channel, not a path between processes: no
//! simulated process ever reads it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use zksim_model::{Event, OpId, Record, ServerId, SimTime, TxnRecord, Zxid};

#[derive(Default)]
struct Inner {
    records: Vec<Record>,
    next_op: u64,
    /// The transaction first committed at each zxid (shared with the server), to record each
    /// commit once.
    commits: BTreeMap<Zxid, Arc<TxnRecord>>,
}

/// A shared, append-only log of [`Record`]s. Clones share it.
#[derive(Clone, Default)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
}

/// The current simulated time since the start of the run.
pub fn now() -> SimTime {
    SimTime(madsim::time::TimeHandle::current_elapsed().as_nanos() as u64)
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `event` at the current simulated time.
    pub fn record(&self, event: Event) {
        let time = now();
        self.lock().records.push(Record { time, event });
    }

    /// A fresh operation id.
    pub fn next_op_id(&self) -> OpId {
        let mut inner = self.lock();
        inner.next_op += 1;
        OpId(inner.next_op)
    }

    /// Records that `server`, as leader, committed `txn`. The same transaction committed again
    /// at the same zxid (a new leader re-committing the history it synced) is recorded once; a
    /// different one is recorded too, so the checker sees the divergence.
    pub fn commit(&self, server: ServerId, txn: &Arc<TxnRecord>) {
        let time = now();
        let mut inner = self.lock();
        match inner.commits.get(&txn.zxid) {
            Some(first) if Arc::ptr_eq(first, txn) || **first == **txn => {}
            Some(_) => inner.records.push(Record { time, event: Event::Commit { server, txn: TxnRecord::clone(txn) } }),
            None => {
                inner.commits.insert(txn.zxid, txn.clone());
                inner.records.push(Record { time, event: Event::Commit { server, txn: TxnRecord::clone(txn) } });
            }
        }
    }

    /// Number of records so far.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the records so far.
    pub fn snapshot(&self) -> Vec<Record> {
        self.lock().records.clone()
    }

    /// Lets `f` look at the records so far without copying them (a history of ~100k records
    /// was copied whole at the end of every run). `f` must not use this recorder.
    pub fn inspect<T>(&self, f: impl FnOnce(&[Record]) -> T) -> T {
        f(&self.lock().records)
    }

    /// Takes all records out.
    pub fn take(&self) -> Vec<Record> {
        std::mem::take(&mut self.lock().records)
    }

    /// Forgets every record after the first `len`.
    pub(crate) fn truncate(&self, len: usize) {
        self.lock().records.truncate(len);
    }
}
