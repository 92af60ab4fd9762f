//! A resettable deadline that puts one timer in madsim's heap per deadline, not one per poll.
//!
//! madsim 0.2's `Sleep::poll` adds a timer to the runtime's heap on every poll that finds it not
//! yet elapsed, and a timer stays in the heap until it fires — then it wakes its task, even if the
//! `Sleep` is long gone. A `select!` loop that builds `sleep_until(deadline)` afresh each iteration
//! polls it once per message, so it filled the heap with duplicate timers, and each of them later
//! woke the task for nothing (and that poll registered more).
//!
//! [`Deadline`] remembers the timer it registered — when it fires, and which waker it wakes — and
//! registers another only when that one cannot wake the task by the deadline: the deadline moved
//! earlier, the timer already fired, or the deadline is polled with another waker. Moving the
//! deadline later registers nothing at once: the earlier timer still fires, and the poll it causes
//! registers the timer for the new deadline. So a timeout pushed back on every message costs one
//! timer per timeout period instead of one per message.
//!
//! Why no wakeup can be lost: a poll returns `Pending` only if a timer for this waker is still in
//! madsim's heap (it fires at or after now) and fires no later than the deadline. madsim fires
//! every timer due by the clock each time it advances the clock, before any task runs again, so
//! "registered at an instant later than now" means "not fired yet". When that timer fires the task
//! is polled again, and that poll either sees the deadline reached or registers anew.

use madsim::time::{Instant, Sleep, TimeHandle};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A deadline to await, possibly many times and from a `select!` loop (`&mut deadline`), that can
/// be moved ([`reset`](Deadline::reset)) or switched off ([`clear`](Deadline::clear)).
///
/// Awaiting it completes once the simulated clock reaches the deadline (immediately if it already
/// has), and stays pending forever while it is cleared. Like madsim's `sleep_until`, a deadline
/// that is set at or before the current instant, or less than 1 ms after it, fires 1 ms after it
/// was set; setting the same instant again changes nothing.
pub struct Deadline {
    handle: TimeHandle,
    /// The instant last asked for (`None`: cleared).
    requested: Option<Instant>,
    /// When it fires: `requested`, but at least 1 ms after it was set.
    at: Option<Instant>,
    /// The timer this deadline has in madsim's heap, if it has not fired yet: when it fires and
    /// the waker it wakes. (An older timer may also be there; it only causes a spurious poll.)
    armed: Option<(Instant, Waker)>,
}

impl Deadline {
    /// A deadline at `at`. Must be called inside a simulation.
    pub fn at(at: Instant) -> Deadline {
        let mut d = Deadline::never();
        d.reset(at);
        d
    }

    /// A deadline `after` from now. Must be called inside a simulation.
    pub fn after(after: Duration) -> Deadline {
        let mut d = Deadline::never();
        d.reset_after(after);
        d
    }

    /// A cleared deadline: pending until reset. Must be called inside a simulation.
    pub fn never() -> Deadline {
        Deadline { handle: TimeHandle::current(), requested: None, at: None, armed: None }
    }

    /// The simulated clock's current instant.
    pub fn now(&self) -> Instant {
        self.handle.now_instant()
    }

    /// Moves the deadline to `at` (see the type's doc for instants less than 1 ms away).
    pub fn reset(&mut self, at: Instant) {
        if self.requested == Some(at) {
            return;
        }
        self.requested = Some(at);
        self.at = Some(at.max(self.now() + Duration::from_millis(1)));
    }

    /// Moves the deadline to `after` from now.
    pub fn reset_after(&mut self, after: Duration) {
        let at = self.now() + after;
        self.reset(at);
    }

    /// Switches the deadline off: awaiting it is pending until the next reset.
    pub fn clear(&mut self) {
        self.requested = None;
        self.at = None;
    }

    /// When it fires (`None` while cleared).
    pub fn deadline(&self) -> Option<Instant> {
        self.at
    }

    /// True once the clock reached the deadline (false while cleared).
    pub fn is_elapsed(&self) -> bool {
        self.at.is_some_and(|at| self.now() >= at)
    }

    /// The timers this deadline put in madsim's heap, counted on this thread (for tests).
    #[cfg(test)]
    fn registered() -> u64 {
        REGISTERED.with(|n| n.get())
    }
}

#[cfg(test)]
thread_local! {
    static REGISTERED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(at) = this.at else {
            // Cleared: whatever resets it also polls it again (it is the task's own state).
            return Poll::Pending;
        };
        let now = this.now();
        if now >= at {
            return Poll::Ready(());
        }
        let covered =
            matches!(&this.armed, Some((fires, waker)) if *fires > now && *fires <= at && waker.will_wake(cx.waker()));
        if !covered {
            // madsim's only public way to add a timer: a `Sleep` polled once. `reset` undoes the
            // 1 ms minimum `sleep_until` applies (our `at` already has it, from when it was set).
            let mut sleep: Sleep = this.handle.sleep_until(at);
            Pin::new(&mut sleep).reset(at);
            let pending = Pin::new(&mut sleep).poll(cx).is_pending();
            debug_assert!(pending, "a deadline not reached polls its sleep pending");
            this.armed = Some((at, cx.waker().clone()));
            #[cfg(test)]
            REGISTERED.with(|n| n.set(n.get() + 1));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    fn now() -> Instant {
        TimeHandle::current().now_instant()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn fires_at_the_deadline_and_polls_register_one_timer() {
        madsim::runtime::Runtime::new().block_on(async {
            let start = now();
            let mut d = Deadline::after(ms(100));
            let before = Deadline::registered();
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
            madsim::task::spawn(async move {
                for i in 0..50 {
                    madsim::time::sleep(ms(1)).await;
                    let _ = tx.send(i);
                }
            });
            let mut got = 0;
            loop {
                tokio::select! {
                    biased;
                    Some(_) = rx.recv() => got += 1,
                    _ = &mut d => break,
                }
            }
            assert_eq!(got, 50);
            let waited = now() - start;
            assert!(waited >= ms(100) && waited < ms(101), "fired after {waited:?}");
            assert_eq!(Deadline::registered() - before, 1, "51 polls, one timer");
        });
    }

    #[test]
    fn a_deadline_pushed_back_per_message_registers_once_per_period() {
        madsim::runtime::Runtime::new().block_on(async {
            let start = now();
            let mut d = Deadline::after(ms(30));
            let before = Deadline::registered();
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
            madsim::task::spawn(async move {
                // 100 messages 1 ms apart, then silence.
                for i in 0..100 {
                    madsim::time::sleep(ms(1)).await;
                    let _ = tx.send(i);
                }
                madsim::time::sleep(ms(1000)).await;
            });
            let mut last = start;
            loop {
                tokio::select! {
                    biased;
                    Some(_) = rx.recv() => {
                        last = now();
                        d.reset(last + ms(30));
                    }
                    _ = &mut d => break,
                }
            }
            let fired = now();
            assert!(fired >= last + ms(30) && fired < last + ms(31), "fired {:?} after the last message", fired - last);
            let timers = Deadline::registered() - before;
            assert!(timers <= 5, "{timers} timers for ~130 ms at a 30 ms timeout");
        });
    }

    #[test]
    fn reset_earlier_from_the_awaiting_task_fires_early() {
        madsim::runtime::Runtime::new().block_on(async {
            let start = now();
            let mut d = Deadline::after(ms(500));
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
            madsim::task::spawn(async move {
                madsim::time::sleep(ms(10)).await;
                let _ = tx.send(());
                madsim::time::sleep(ms(1000)).await;
            });
            loop {
                tokio::select! {
                    biased;
                    Some(()) = rx.recv() => d.reset(start + ms(50)),
                    _ = &mut d => break,
                }
            }
            let at = now() - start;
            assert!(at >= ms(50) && at < ms(51), "fired at {at:?}");
        });
    }

    #[test]
    fn a_past_or_near_deadline_waits_one_millisecond_like_sleep_until() {
        madsim::runtime::Runtime::new().block_on(async {
            let start = now();
            Deadline::at(start).await;
            let waited = now() - start;
            assert!(waited >= ms(1) && waited < ms(2), "waited {waited:?}");
            let mut d = Deadline::never();
            assert!(!d.is_elapsed() && d.deadline().is_none());
            d.reset_after(ms(5));
            (&mut d).await;
            assert!(d.is_elapsed());
            // Awaiting a reached deadline again is immediate.
            let t = now();
            (&mut d).await;
            assert_eq!(now(), t);
        });
    }

    #[test]
    fn a_cleared_deadline_never_fires() {
        madsim::runtime::Runtime::new().block_on(async {
            let mut d = Deadline::after(ms(5));
            d.clear();
            let r = madsim::time::timeout(ms(100), &mut d).await;
            assert!(r.is_err(), "a cleared deadline fired");
        });
    }

    #[test]
    fn polled_with_another_waker_registers_for_that_waker() {
        madsim::runtime::Runtime::new().block_on(async {
            let start = now();
            let d = Rc::new(std::cell::RefCell::new(Deadline::after(ms(20))));
            // First polled (and armed) by this task, then awaited by another one alone: the
            // timer must wake the other task.
            let _ = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *d.borrow_mut()).poll(cx))).await;
            let d2 = d.clone();
            let waiter = madsim::task::spawn_local(async move {
                std::future::poll_fn(|cx| Pin::new(&mut *d2.borrow_mut()).poll(cx)).await;
                now()
            });
            let at = waiter.await.unwrap() - start;
            assert!(at >= ms(20) && at < ms(21), "fired at {at:?}");
        });
    }
}
