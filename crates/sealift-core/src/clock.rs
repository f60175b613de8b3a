//! Time, injectable: the rate limiter, the retry loop and the GitHub App token cache read time
//! and sleep only through [`Clock`], so tests can exercise an hour of throttling in milliseconds.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A boxed, `Send` future, as returned by [`Clock::sleep`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of time and a way to wait.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Monotonic time since an arbitrary, fixed origin.
    fn now(&self) -> Duration;
    /// Wall-clock time in Unix seconds (for `x-ratelimit-reset`, JWT `iat`/`exp`, token expiry).
    fn unix_now(&self) -> i64;
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The real clock: `Instant`, `SystemTime` and `tokio::time::sleep`.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose monotonic origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn unix_now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that only moves when told to. `sleep` advances it instantly and records the wait, so a
/// test can assert "Sealift waited exactly the 7 s the forge asked for" without waiting.
#[derive(Debug)]
pub struct ManualClock {
    state: Mutex<ManualState>,
}

#[derive(Debug)]
struct ManualState {
    now: Duration,
    unix_origin: i64,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    /// A clock at monotonic zero whose wall clock reads `unix_now`.
    pub fn starting_at(unix_now: i64) -> Self {
        Self {
            state: Mutex::new(ManualState {
                now: Duration::ZERO,
                unix_origin: unix_now,
                sleeps: Vec::new(),
            }),
        }
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        let mut state = self.lock();
        state.now += by;
    }

    /// Every wait requested through [`Clock::sleep`], in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        // A poisoned lock only means another test thread panicked; the data is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.lock().now
    }

    fn unix_now(&self) -> i64 {
        let state = self.lock();
        state.unix_origin + i64::try_from(state.now.as_secs()).unwrap_or(i64::MAX)
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        let mut state = self.lock();
        state.now += duration;
        state.sleeps.push(duration);
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_advances_on_sleep_and_records_the_wait() {
        let clock = ManualClock::starting_at(1_700_000_000);
        clock.sleep(Duration::from_secs(7)).await;
        clock.advance(Duration::from_secs(3));
        assert_eq!(clock.now(), Duration::from_secs(10));
        assert_eq!(clock.unix_now(), 1_700_000_010);
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(7)]);
    }
}
