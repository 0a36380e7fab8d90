//! The time budget of one action. Pacemaker kills an agent that overruns its operation timeout
//! and treats that as a failure; an agent that knows its budget can instead give a precise
//! reason, and never leaves a half-done step behind. Every wait and every external command runs
//! under the action's deadline.

use std::time::{Duration, Instant};

/// Used when neither Pacemaker nor the metadata says how long an action may take.
pub const FALLBACK_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    start: Instant,
    end: Instant,
}

impl Deadline {
    pub fn after(budget: Duration) -> Deadline {
        let start = Instant::now();
        Deadline {
            start,
            end: start + budget,
        }
    }

    /// The budget for an action: Pacemaker's timeout (or the metadata's) less a margin to
    /// report and clean up before Pacemaker's own timer fires.
    pub fn for_timeout(timeout: Option<Duration>) -> Deadline {
        let t = timeout.unwrap_or(FALLBACK_TIMEOUT);
        let margin = (t / 10).clamp(Duration::from_millis(500), Duration::from_secs(5));
        Deadline::after(t.saturating_sub(margin).max(Duration::from_millis(500)))
    }

    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.end
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// A deadline that ends after `fraction` of the remaining time (e.g. the SIGTERM half of
    /// a stop), never later than this one.
    pub fn portion(&self, fraction: f64) -> Deadline {
        let now = Instant::now();
        Deadline {
            start: now,
            end: now + self.remaining().mul_f64(fraction.clamp(0.0, 1.0)),
        }
    }

    /// A deadline that ends `d` from now or at this one, whichever is first.
    pub fn within(&self, d: Duration) -> Deadline {
        let now = Instant::now();
        Deadline {
            start: now,
            end: (now + d).min(self.end),
        }
    }

    /// Sleep for `d`, cut short by the deadline. Returns false when no time was left.
    pub fn sleep(&self, d: Duration) -> bool {
        let left = self.remaining();
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(d.min(left));
        true
    }

    /// Poll `f` until it returns Some or the deadline passes, sleeping `step` between tries.
    pub fn poll<T>(&self, step: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
        loop {
            if let Some(v) = f() {
                return Some(v);
            }
            if !self.sleep(step) {
                return f();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_is_taken_off_pacemakers_timeout() {
        let d = Deadline::for_timeout(Some(Duration::from_secs(20)));
        assert!(
            d.remaining() <= Duration::from_secs(18) && d.remaining() > Duration::from_secs(17)
        );
        let d = Deadline::for_timeout(Some(Duration::from_secs(240)));
        assert!(d.remaining() <= Duration::from_secs(235));
        let d = Deadline::for_timeout(None);
        assert!(d.remaining() <= FALLBACK_TIMEOUT);
        // A tiny timeout still leaves something to work with.
        assert!(
            Deadline::for_timeout(Some(Duration::from_millis(100))).remaining() > Duration::ZERO
        );
    }

    #[test]
    fn portions_and_polls_stay_inside() {
        let d = Deadline::after(Duration::from_millis(200));
        assert!(d.portion(0.5).remaining() <= Duration::from_millis(100));
        assert!(d.within(Duration::from_secs(10)).remaining() <= Duration::from_millis(200));
        let mut n = 0;
        assert_eq!(
            d.poll(Duration::from_millis(1), || {
                n += 1;
                (n == 3).then_some(n)
            }),
            Some(3)
        );
        let expired = Deadline::after(Duration::ZERO);
        assert!(expired.expired());
        assert_eq!(expired.poll(Duration::from_millis(1), || None::<()>), None);
        assert!(!expired.sleep(Duration::from_secs(1)));
    }
}
