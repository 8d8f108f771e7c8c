//! Capped exponential backoff with jitter, so that many add-ons restarting with one broker do
//! not reconnect in lockstep.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    rng: fastrand::Rng,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self::with_rng(initial, max, fastrand::Rng::new())
    }

    /// Deterministic jitter, for tests.
    pub fn with_rng(initial: Duration, max: Duration, rng: fastrand::Rng) -> Self {
        Self {
            initial,
            max,
            next: initial,
            rng,
        }
    }

    /// The delay before the next attempt: the current step ±20 %, then the step doubles up to
    /// the cap.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.next;
        self.next = (self.next * 2).min(self.max);
        let jitter = 0.8 + 0.4 * self.rng.f64();
        step.mul_f64(jitter).min(self.max)
    }

    /// After a success, start again from the initial step.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_up_to_the_cap_with_bounded_jitter() {
        let mut backoff = Backoff::with_rng(
            Duration::from_secs(1),
            Duration::from_secs(60),
            fastrand::Rng::with_seed(7),
        );
        let delays: Vec<f64> = (0..10)
            .map(|_| backoff.next_delay().as_secs_f64())
            .collect();
        for (i, delay) in delays.iter().enumerate() {
            let step = (1u64 << i).min(60) as f64;
            assert!(
                *delay >= step * 0.8 - 1e-9 && *delay <= (step * 1.2).min(60.0) + 1e-9,
                "{i}: {delay}"
            );
        }
        assert!(delays[9] <= 60.0);
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(1200));
    }

    #[test]
    fn jitter_spreads_clients_apart() {
        let mut a = Backoff::with_rng(
            Duration::from_secs(8),
            Duration::from_secs(60),
            fastrand::Rng::with_seed(1),
        );
        let mut b = Backoff::with_rng(
            Duration::from_secs(8),
            Duration::from_secs(60),
            fastrand::Rng::with_seed(2),
        );
        assert_ne!(a.next_delay(), b.next_delay());
    }
}
