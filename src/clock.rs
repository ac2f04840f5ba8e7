//! Time, injectable so that tests can move it.
//!
//! The claims checks read [`Clock::now`]; the JWKS cache measures TTLs and cooldowns with
//! [`Clock::monotonic`], a monotonic reading, so that a wall-clock step does not
//! freeze or hasten refetches.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of time for the layer.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Seconds since the Unix epoch, as a float (JWT NumericDates may be fractional).
    fn now(&self) -> f64;

    /// A monotonic reading: time elapsed since some fixed point in the past.
    fn monotonic(&self) -> Duration;
}

/// The system's clocks.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

static PROCESS_START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }

    fn monotonic(&self) -> Duration {
        PROCESS_START.get_or_init(Instant::now).elapsed()
    }
}

/// A clock that only moves when told to: for tests.
///
/// Cloning shares the time: move the clone you kept, and the layer sees it.
#[derive(Clone, Debug)]
pub struct ManualClock {
    micros: Arc<AtomicU64>,
    monotonic_micros: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock that reads `unix_seconds`.
    #[must_use]
    pub fn at(unix_seconds: u64) -> Self {
        Self {
            micros: Arc::new(AtomicU64::new(unix_seconds.saturating_mul(1_000_000))),
            monotonic_micros: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A clock that starts at the system's current time.
    #[must_use]
    pub fn starting_now() -> Self {
        // Whole seconds, so that tokens minted from `unix_seconds()` compare cleanly.
        Self::at(SystemClock.now() as u64)
    }

    /// Moves the clock forward, wall and monotonic time alike.
    pub fn advance(&self, by: Duration) {
        let micros = u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(micros, Ordering::SeqCst);
        self.monotonic_micros.fetch_add(micros, Ordering::SeqCst);
    }

    /// Sets the wall clock (the monotonic reading does not move backwards).
    pub fn set(&self, unix_seconds: u64) {
        self.micros
            .store(unix_seconds.saturating_mul(1_000_000), Ordering::SeqCst);
    }

    /// The current reading in whole seconds.
    #[must_use]
    pub fn unix_seconds(&self) -> u64 {
        self.micros.load(Ordering::SeqCst) / 1_000_000
    }
}

impl Clock for ManualClock {
    fn now(&self) -> f64 {
        self.micros.load(Ordering::SeqCst) as f64 / 1e6
    }

    fn monotonic(&self) -> Duration {
        Duration::from_micros(self.monotonic_micros.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_both_readings() {
        let clock = ManualClock::at(1_000);
        let shared = clock.clone();
        assert_eq!(shared.now(), 1_000.0);
        clock.advance(Duration::from_millis(1_500));
        assert_eq!(shared.now(), 1_001.5);
        assert_eq!(shared.monotonic(), Duration::from_millis(1_500));
        clock.set(10);
        assert_eq!(shared.unix_seconds(), 10);
        assert_eq!(shared.monotonic(), Duration::from_millis(1_500));
    }

    #[test]
    fn system_clock_is_monotonic() {
        let a = SystemClock.monotonic();
        let b = SystemClock.monotonic();
        assert!(b >= a);
        assert!(SystemClock.now() > 1.7e9);
    }
}
