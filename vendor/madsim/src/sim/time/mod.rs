//! Utilities for tracking time.
//!
//!

use crate::rand::{GlobalRng, Rng};
use futures_util::{select_biased, FutureExt};
use naive_timer::Timer;
use spin::Mutex;
#[doc(no_inline)]
pub use std::time::{Duration, Instant};
use std::{
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::SystemTime,
};

pub mod error;
mod interval;
mod sleep;
mod system_time;

pub use self::interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use self::sleep::{sleep, sleep_until, Sleep};

pub(crate) struct TimeRuntime {
    handle: TimeHandle,
}

impl TimeRuntime {
    pub fn new(rand: &GlobalRng) -> Self {
        // around 2022
        let base_time = SystemTime::UNIX_EPOCH
            + Duration::from_secs(
                60 * 60 * 24 * 365 * (2022 - 1970)
                    + rand.with(|rng| rng.gen_range(0..60 * 60 * 24 * 365)),
            );
        let handle = TimeHandle {
            inner: Arc::new(TimeInner {
                timer: Mutex::new(Timer::default()),
                clock: Clock::new(base_time),
            }),
        };
        TimeRuntime { handle }
    }

    pub fn handle(&self) -> &TimeHandle {
        &self.handle
    }

    /// Advances time to the closest timer event. Returns true if succeed.
    pub fn advance_to_next_event(&self) -> bool {
        let mut timer = self.handle.inner.timer.lock();
        if let Some(mut time) = timer.next() {
            // WARN: in some platform such as M1 macOS,
            //       let t0: Instant;
            //       let t1: Instant;
            //       t0 + (t1 - t0) < t1 !!
            // we should add eps to make sure 'now >= deadline' and avoid deadlock
            time += Duration::from_nanos(50);
            timer.expire(time);
            self.handle.inner.clock.set_elapsed(time);
            true
        } else {
            false
        }
    }

    #[allow(dead_code)]
    /// Get the current time.
    pub fn now_instant(&self) -> Instant {
        self.handle.now_instant()
    }
}

/// Handle to a shared time source.
#[derive(Clone)]
pub struct TimeHandle {
    // zksim patch: one `Arc` for the timer and the clock (was one each): a handle's clone
    // (`TimeHandle::current`, every `sleep`) and drop touch one reference count instead of two.
    inner: Arc<TimeInner>,
}

struct TimeInner {
    timer: Mutex<Timer>,
    clock: Clock,
}

impl TimeHandle {
    /// Returns a `TimeHandle` view over the currently running Runtime.
    pub fn current() -> Self {
        crate::context::current(|h| h.time.clone())
    }

    /// zksim patch: the current runtime's clock, read without cloning its handle (a clone
    /// and drop of the handle's `Arc` per read: zksim reads the clock ~580k times per run).
    #[inline]
    pub fn current_elapsed() -> Duration {
        crate::context::current(|h| h.time.elapsed())
    }

    /// zksim patch: the current instant, read without cloning the runtime's handle.
    #[inline]
    pub fn current_now_instant() -> Instant {
        crate::context::current(|h| h.time.now_instant())
    }

    /// Returns a `TimeHandle` view over the currently running Runtime.
    pub fn try_current() -> Option<Self> {
        crate::context::try_current(|h| h.time.clone())
    }

    /// Return the current time.
    #[inline]
    pub fn now_instant(&self) -> Instant {
        self.inner.clock.now_instant()
    }

    /// Return the current time.
    #[inline]
    pub fn now_time(&self) -> SystemTime {
        self.inner.clock.now_time()
    }

    /// Returns the amount of time elapsed since this handle was created.
    #[inline]
    pub fn elapsed(&self) -> Duration {
        self.inner.clock.elapsed()
    }

    /// Advances time.
    pub fn advance(&self, duration: Duration) {
        let time = self.inner.clock.advance(duration);
        self.inner.timer.lock().expire(time);
    }

    /// zksim patch: `advance(Duration::from_nanos(nanos))` without the `Duration` round trip
    /// (the executor's step after every task run).
    #[inline]
    pub(crate) fn advance_nanos(&self, nanos: u64) {
        let time = self.inner.clock.advance_nanos(nanos);
        self.inner.timer.lock().expire(time);
    }

    /// Waits until `duration` has elapsed.
    ///
    /// It will sleep for at least 1ms to be consistent with the behavior of `tokio::time::sleep`.
    pub fn sleep(&self, duration: Duration) -> Sleep {
        // zksim patch: `sleep_until(now_instant() + duration)` computed on the elapsed time (the
        // same deadline: `Instant` arithmetic is exact), converted to an `Instant` once
        let now = self.inner.clock.elapsed();
        let at = (now + duration).max(now + Duration::from_millis(1));
        Sleep {
            handle: self.clone(),
            deadline: self.inner.clock.base_instant + at,
            at,
        }
    }

    /// Waits until `deadline` is reached.
    ///
    /// It will sleep for at least 1ms to be consistent with the behavior of `tokio::time::sleep_until`.
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        let min_deadline = self.inner.clock.now_instant() + Duration::from_millis(1);
        let deadline = deadline.max(min_deadline);
        Sleep {
            handle: self.clone(),
            deadline,
            at: self.since_base(deadline),
        }
    }

    /// Require a `Future` to complete before the specified duration has elapsed.
    // TODO: make it Send
    pub fn timeout<T: Future>(
        &self,
        duration: Duration,
        future: T,
    ) -> impl Future<Output = Result<T::Output, error::Elapsed>> {
        let timeout = self.sleep(duration);
        async move {
            select_biased! {
                res = future.fuse() => Ok(res),
                _ = timeout.fuse() => Err(error::Elapsed),
            }
        }
    }

    /// zksim patch: an `Instant` as the time elapsed since the clock's base (what the timer
    /// heap keeps).
    #[inline]
    pub(crate) fn since_base(&self, instant: Instant) -> Duration {
        instant - self.inner.clock.base_instant
    }

    /// zksim patch: replaces `add_timer_at(deadline: Instant, callback)`: the deadline is the
    /// time elapsed since the clock's base (what the timer heap keeps), so no `Instant` is
    /// converted per timer (`Sleep` keeps its deadline both ways, the connection channel keeps
    /// elapsed times).
    pub(crate) fn add_timer_at_elapsed(
        &self,
        deadline: Duration,
        callback: impl FnOnce() + Send + Sync + 'static,
    ) {
        self.inner.timer.lock().add(deadline, |_| callback());
    }

    pub(crate) fn add_timer(&self, dur: Duration, callback: impl FnOnce() + Send + Sync + 'static) {
        // zksim patch: `now_instant() + dur - base_instant` is exactly `elapsed() + dur` (the
        // `Instant` arithmetic is exact), without the two `Instant` conversions.
        let deadline = self.inner.clock.elapsed() + dur;
        self.inner.timer.lock().add(deadline, |_| callback());
    }

    /// zksim patch: whether `deadline`, as the time elapsed since the clock's base, has passed
    /// (`now_instant() >= base + deadline`).
    #[inline]
    pub(crate) fn is_elapsed(&self, deadline: Duration) -> bool {
        self.inner.clock.elapsed() >= deadline
    }
}

/// Require a `Future` to complete before the specified duration has elapsed.
pub fn timeout<T: Future>(
    duration: Duration,
    future: T,
) -> impl Future<Output = Result<T::Output, error::Elapsed>> {
    let handle = TimeHandle::current();
    handle.timeout(duration, future)
}

/// Advances time.
///
/// Increments the saved `Instant::now()` value by `duration`.
/// Subsequent calls to `Instant::now()` will return the result of the increment.
#[cfg_attr(docsrs, doc(cfg(madsim)))]
pub fn advance(duration: Duration) {
    let handle = TimeHandle::current();
    handle.advance(duration);
}

// zksim patch: the clock's elapsed time is whole nanoseconds in an atomic instead of a
// `Duration` behind a spin lock (every read of the time took and released the lock), and the base
// times, fixed at creation, are plain fields. The simulation's times are whole nanoseconds (timer
// deadlines are kept as `u64` nanoseconds in naive-timer, see vendor/README.md), so every value
// is the same; advancing past 2^64 ns (~584 years) panics (the original panicked past 2^64 s).
struct Clock {
    /// Time basis for which mock time is derived.
    base_time: SystemTime,
    base_instant: Instant,
    /// The amount of mock time which has elapsed, in nanoseconds.
    elapsed: AtomicU64,
}

impl Clock {
    fn new(base_time: SystemTime) -> Self {
        Clock {
            base_time,
            base_instant: unsafe { std::mem::zeroed() },
            elapsed: AtomicU64::new(0),
        }
    }

    fn set_elapsed(&self, time: Duration) {
        // the next timer's deadline + 50 ns: saturates like naive-timer's deadlines
        let time = u64::try_from(time.as_nanos()).unwrap_or(u64::MAX);
        self.elapsed.store(time, Ordering::Release);
    }

    #[inline]
    fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.elapsed.load(Ordering::Acquire))
    }

    fn advance(&self, duration: Duration) -> Duration {
        self.advance_nanos(nanos(duration))
    }

    #[inline]
    fn advance_nanos(&self, duration: u64) -> Duration {
        let time = (self.elapsed.load(Ordering::Acquire).checked_add(duration))
            .expect("simulated time overflow (2^64 ns)");
        self.elapsed.store(time, Ordering::Release);
        Duration::from_nanos(time)
    }

    #[inline]
    fn now_instant(&self) -> Instant {
        self.base_instant + self.elapsed()
    }

    #[inline]
    fn now_time(&self) -> SystemTime {
        self.base_time + self.elapsed()
    }
}

/// A duration in whole nanoseconds; panics at 2^64 ns (~584 years).
#[inline]
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).expect("simulated time overflow (2^64 ns)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Runtime;

    #[test]
    fn time() {
        let runtime = Runtime::new();
        runtime.block_on(async {
            // sleep for at least 1ms
            let t0 = Instant::now();
            sleep(Duration::default()).await;
            assert!(t0.elapsed() >= Duration::from_millis(1));

            let t0 = Instant::now();
            sleep_until(t0).await;
            assert!(t0.elapsed() >= Duration::from_millis(1));

            let t0 = Instant::now();

            sleep(Duration::from_secs(1)).await;
            assert!(t0.elapsed() >= Duration::from_secs(1));

            sleep_until(t0 + Duration::from_secs(2)).await;
            assert!(t0.elapsed() >= Duration::from_secs(2));

            assert!(
                timeout(Duration::from_secs(2), sleep(Duration::from_secs(1)))
                    .await
                    .is_ok()
            );
            assert!(
                timeout(Duration::from_secs(1), sleep(Duration::from_secs(2)))
                    .await
                    .is_err()
            );
        });
    }

    #[test]
    fn test_advance() {
        let runtime = Runtime::new();
        runtime.block_on(async {
            let t0 = Instant::now();
            advance(Duration::from_secs(1));
            assert!(t0.elapsed() >= Duration::from_secs(1));
        });
    }
}
