//! How long to wait before trying again: exponential, capped, with jitter. Used for a
//! failed task's retries and for the worker's pauses while Redis is away.
use std::time::Duration;

use crate::config::TaskSettings;

/// Waits that double from `base_ms` up to `max_ms`, each drawn in the upper half of its
/// value so that what failed together does not come back together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base_ms: u64,
    max_ms: u64,
}

impl Backoff {
    pub const fn new(base_ms: u64, max_ms: u64) -> Self {
        Self { base_ms, max_ms }
    }

    /// A failed task's retries (`tasks.retry_base_ms`, `tasks.retry_max_ms`).
    pub fn retries(settings: &TaskSettings) -> Self {
        Self::new(settings.retry_base_ms, settings.retry_max_ms)
    }

    /// The wait after failure number `failures` (from 1): before attempt `failures + 1`.
    pub fn delay(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(32);
        let full = self
            .base_ms
            .saturating_mul(1u64 << exponent)
            .min(self.max_ms);
        let half = full / 2;
        let jitter = (uuid::Uuid::new_v4().as_u128() as u64) % (half + 1);
        Duration::from_millis(half + jitter)
    }
}

/// Failures in a row of something retried until it works, and the wait after each.
#[derive(Debug)]
pub struct Failures {
    backoff: Backoff,
    count: u32,
}

impl Failures {
    pub fn new(backoff: Backoff) -> Self {
        Self { backoff, count: 0 }
    }

    /// Counts one more failure; the wait before the next try.
    pub fn next_wait(&mut self) -> Duration {
        self.count = self.count.saturating_add(1);
        self.backoff.delay(self.count)
    }

    /// It worked: the next failure waits the least again.
    pub fn reset(&mut self) {
        self.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_within_jitter_and_stop_at_the_cap() {
        let backoff = Backoff::new(1000, 5000);
        for _ in 0..100 {
            let first = backoff.delay(1).as_millis();
            let second = backoff.delay(2).as_millis();
            let late = backoff.delay(30).as_millis();
            assert!((500..=1000).contains(&first), "{first}");
            assert!((1000..=2000).contains(&second), "{second}");
            assert!((2500..=5000).contains(&late), "{late}");
        }
        assert!(backoff.delay(u32::MAX) <= Duration::from_millis(5000));
        assert!(backoff.delay(0) <= Duration::from_millis(1000));
    }

    #[test]
    fn failures_in_a_row_wait_longer_until_one_try_works() {
        let mut failures = Failures::new(Backoff::new(200, 5000));
        let first = failures.next_wait();
        assert!(first <= Duration::from_millis(200), "{first:?}");
        let second = failures.next_wait();
        assert!(second >= Duration::from_millis(200), "{second:?}");
        failures.reset();
        assert!(failures.next_wait() <= Duration::from_millis(200));
    }
}
