//! The search itself: Lowe's just-in-time linearization over a doubly linked list of call and
//! return entries, with a memo table of `(linearized set, state)` pairs already explored.
//!
//! The list holds every call entry and, for returned operations, their return entry, in time
//! order (calls before returns at equal times, so touching intervals overlap). Scanning from the
//! head, a call entry whose operation can step the current state is "lifted" (its call and
//! return leave the list) and the scan restarts; reaching a return entry means the operation it
//! closes should already have been linearized, so the search backtracks. Indeterminate
//! operations have no return entry: nothing forces them in, and the search succeeds once every
//! returned operation is linearized.

use super::model::{Completion, Model, Operation};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

/// How much work the search may do before answering Unknown. A step is one visit of a list
/// entry; the bound keeps the library free of wall clocks, so a verdict is reproducible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub max_steps: u64,
}

impl Budget {
    /// Effectively unbounded.
    pub const UNLIMITED: Budget = Budget { max_steps: u64::MAX };

    /// A budget of `max_steps` steps.
    pub fn steps(max_steps: u64) -> Budget {
        Budget { max_steps }
    }
}

impl Default for Budget {
    /// Fifty million steps: a few seconds at most on a laptop for simple models.
    fn default() -> Budget {
        Budget { max_steps: 50_000_000 }
    }
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A linearization exists.
    Ok,
    /// No linearization exists.
    Illegal(IllegalWitness),
    /// The budget ran out first (or the input was malformed, see the reason).
    Unknown { reason: String },
}

/// Why a history is not linearizable, from the deepest point the search reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IllegalWitness {
    /// The partition (index into [`Model::partition`]'s answer) that failed.
    pub partition: usize,
    /// Operation ids of the longest linearizable prefix found, in linearization order.
    pub prefix: Vec<u64>,
    /// The operation whose return was reached while it could not be linearized after `prefix`.
    pub stuck: u64,
    /// Operation ids still pending (invoked, not linearized) at that point, which could not be
    /// placed next either: they are the candidates an explanation should show.
    pub pending: Vec<u64>,
}

/// The verdict and what it cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOutcome {
    pub verdict: Verdict,
    pub steps: u64,
    pub partitions: usize,
}

/// Checks whether `ops` is linearizable with respect to `model`.
///
/// Malformed input (a return before its call, a duplicate id, a partition naming an unknown
/// index) gives `Unknown` with a reason, never a panic.
pub fn check_operations<M: Model>(model: &M, ops: &[Operation<M::Input, M::Output>], budget: Budget) -> CheckOutcome {
    if let Some(reason) = malformed(ops) {
        return CheckOutcome { verdict: Verdict::Unknown { reason }, steps: 0, partitions: 0 };
    }
    let parts = model.partition(ops);
    let mut steps = 0u64;
    let mut unknown: Option<String> = None;
    for (pi, part) in parts.iter().enumerate() {
        if let Some(bad) = part.iter().find(|&&i| i >= ops.len()) {
            return CheckOutcome {
                verdict: Verdict::Unknown {
                    reason: format!("partition {pi} names operation index {bad} of {}", ops.len()),
                },
                steps,
                partitions: parts.len(),
            };
        }
        let sub: Vec<&Operation<M::Input, M::Output>> = part.iter().map(|&i| &ops[i]).collect();
        let left = Budget { max_steps: budget.max_steps.saturating_sub(steps) };
        let (verdict, used) = search(model, &sub, left, pi);
        steps += used;
        match verdict {
            Verdict::Ok => {}
            Verdict::Illegal(_) => return CheckOutcome { verdict, steps, partitions: parts.len() },
            Verdict::Unknown { reason } => {
                unknown.get_or_insert(reason);
            }
        }
    }
    let verdict = match unknown {
        Some(reason) => Verdict::Unknown { reason },
        None => Verdict::Ok,
    };
    CheckOutcome { verdict, steps, partitions: parts.len() }
}

fn malformed<I, O>(ops: &[Operation<I, O>]) -> Option<String> {
    let mut ids = std::collections::BTreeSet::new();
    for op in ops {
        if !ids.insert(op.id) {
            return Some(format!("operation id {} appears twice", op.id));
        }
        if let Completion::Returned { time, .. } = op.completion {
            if time < op.call {
                return Some(format!("operation {} returns at {} before its call at {}", op.id, time, op.call));
            }
        }
    }
    None
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Index into the partition's operation slice.
    op: usize,
    is_call: bool,
    /// For a call entry: its return entry, if the operation returned.
    ret: Option<usize>,
    prev: usize,
    next: usize,
}

/// A doubly linked list over `Vec` slots; slot 0 is the head sentinel, `NIL` ends the list.
struct EntryList {
    e: Vec<Entry>,
}

const NIL: usize = usize::MAX;

impl EntryList {
    fn first(&self) -> usize {
        self.e[0].next
    }

    fn unlink(&mut self, i: usize) {
        let Entry { prev, next, .. } = self.e[i];
        self.e[prev].next = next;
        if next != NIL {
            self.e[next].prev = prev;
        }
    }

    fn relink(&mut self, i: usize) {
        let Entry { prev, next, .. } = self.e[i];
        self.e[prev].next = i;
        if next != NIL {
            self.e[next].prev = i;
        }
    }

    /// Removes a call entry and its return entry (the operation is now linearized).
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        if let Some(r) = self.e[call].ret {
            self.unlink(r);
        }
    }

    /// Undoes `lift`, in reverse order so neighbours' links are restored exactly.
    fn unlift(&mut self, call: usize) {
        if let Some(r) = self.e[call].ret {
            self.relink(r);
        }
        self.relink(call);
    }
}

fn build_list<I, O>(ops: &[&Operation<I, O>]) -> EntryList {
    // (time, kind, op): calls (0) sort before returns (1) at equal times.
    let mut order: Vec<(u64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        order.push((op.call, 0, i));
        if let Completion::Returned { time, .. } = op.completion {
            order.push((time, 1, i));
        }
    }
    order.sort_unstable();
    let mut e = Vec::with_capacity(order.len() + 1);
    e.push(Entry { op: usize::MAX, is_call: false, ret: None, prev: NIL, next: NIL });
    let mut call_slot = vec![NIL; ops.len()];
    for (k, &(_, kind, op)) in order.iter().enumerate() {
        let slot = k + 1;
        let next = if k + 1 < order.len() { slot + 1 } else { NIL };
        e.push(Entry { op, is_call: kind == 0, ret: None, prev: slot - 1, next });
        if kind == 0 {
            call_slot[op] = slot;
        } else {
            assert!(call_slot[op] != NIL, "a return entry sorts after its call entry");
            e[call_slot[op]].ret = Some(slot);
        }
    }
    e[0].next = if order.is_empty() { NIL } else { 1 };
    EntryList { e }
}

/// A fixed-size bit set over operation indices.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

/// FNV-1a: deterministic across runs and machines, unlike std's RandomState.
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
    }
}

fn key_hash<S: Hash>(bits: &Bits, state: &S) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    bits.hash(&mut h);
    state.hash(&mut h);
    h.finish()
}

/// The memo table: configurations already explored. Keyed by hash, compared exactly.
struct Memo<S> {
    seen: BTreeMap<u64, Vec<(Bits, S)>>,
}

impl<S: Eq + Clone + Hash> Memo<S> {
    /// Records the configuration; false if it was already there.
    fn insert(&mut self, bits: &Bits, state: &S) -> bool {
        let bucket = self.seen.entry(key_hash(bits, state)).or_default();
        if bucket.iter().any(|(b, s)| b == bits && s == state) {
            return false;
        }
        bucket.push((bits.clone(), state.clone()));
        true
    }
}

fn search<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    budget: Budget,
    partition: usize,
) -> (Verdict, u64) {
    let mut list = build_list(ops);
    let mut remaining = ops.iter().filter(|o| matches!(o.completion, Completion::Returned { .. })).count();
    let mut bits = Bits::new(ops.len());
    let mut memo = Memo { seen: BTreeMap::new() };
    let mut state = model.init();
    // (call entry slot, state before it)
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut best: Option<IllegalWitness> = None;
    let mut steps = 0u64;
    let mut cur = list.first();
    loop {
        if remaining == 0 {
            return (Verdict::Ok, steps);
        }
        if steps >= budget.max_steps {
            let reason = format!(
                "step budget of {} exhausted in partition {partition} ({} operations, deepest prefix {})",
                budget.max_steps,
                ops.len(),
                best.as_ref().map_or(stack.len(), |b| b.prefix.len().max(stack.len()))
            );
            return (Verdict::Unknown { reason }, steps);
        }
        steps += 1;
        let at_call = cur != NIL && list.e[cur].is_call;
        if at_call {
            let entry = list.e[cur];
            let op = ops[entry.op];
            let output = match &op.completion {
                Completion::Returned { output, .. } => Some(output),
                Completion::Indeterminate => None,
            };
            bits.set(entry.op);
            let mut moved = false;
            for next in model.step(&state, &op.input, output) {
                if memo.insert(&bits, &next) {
                    let prev = std::mem::replace(&mut state, next);
                    stack.push((cur, prev));
                    list.lift(cur);
                    if entry.ret.is_some() {
                        remaining -= 1;
                    }
                    cur = list.first();
                    moved = true;
                    break;
                }
            }
            if !moved {
                bits.clear(entry.op);
                cur = entry.next;
            }
            continue;
        }
        // A return entry (or, defensively, the end of the list): the operation it closes could
        // not be linearized in this branch.
        if best.as_ref().map_or(true, |b| stack.len() > b.prefix.len()) {
            best = Some(witness(&list, ops, &stack, cur, partition));
        }
        let Some((call, prev)) = stack.pop() else {
            let w = best.unwrap_or_else(|| witness(&list, ops, &stack, cur, partition));
            return (Verdict::Illegal(w), steps);
        };
        list.unlift(call);
        let op = list.e[call].op;
        bits.clear(op);
        if list.e[call].ret.is_some() {
            remaining += 1;
        }
        state = prev;
        // Retry the same call: the memo skips the branch just explored, so a nondeterministic
        // step gets to try its other successor states before the scan moves on.
        cur = call;
    }
}

fn witness<I, O>(
    list: &EntryList,
    ops: &[&Operation<I, O>],
    stack: &[(usize, impl Sized)],
    at: usize,
    partition: usize,
) -> IllegalWitness {
    let prefix: Vec<u64> = stack.iter().map(|(slot, _)| ops[list.e[*slot].op].id).collect();
    let stuck = if at == NIL { prefix.last().copied().unwrap_or(0) } else { ops[list.e[at].op].id };
    let mut pending = Vec::new();
    let mut i = list.first();
    while i != NIL && i != at {
        if list.e[i].is_call {
            pending.push(ops[list.e[i].op].id);
        }
        i = list.e[i].next;
    }
    IllegalWitness { partition, prefix, stuck, pending }
}
