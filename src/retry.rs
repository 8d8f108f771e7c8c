//! The one retry policy of the program: capped exponential backoff with jitter.
//!
//! Gateway calls within a sync, MQTT reconnections and the next sync after a failure all wait
//! this way, so that many add-ons failing together (a broker or gateway restart) do not come
//! back in lockstep. The random part is a parameter: the policy is a pure function, tested
//! with fixed values.

use std::time::Duration;

/// Delays that grow by `factor` from `first` up to `max`, each spread by ±`jitter`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub first: Duration,
    pub factor: u32,
    pub max: Duration,
    /// Spread of each delay as a fraction: 0.2 is ±20 %.
    pub jitter: f64,
}

impl Backoff {
    /// No wait at all (tests).
    pub const NONE: Backoff = Backoff {
        first: Duration::ZERO,
        factor: 1,
        max: Duration::ZERO,
        jitter: 0.0,
    };

    /// The wait before retry number `retry` (0 for the first) for a random `unit` in [0, 1):
    /// `first × factor^retry`, capped at `max`, spread by the jitter, and never above `max`.
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let growth = self.factor.saturating_pow(retry.min(32));
        let step = self.first.saturating_mul(growth).min(self.max);
        let spread = 1.0 - self.jitter + 2.0 * self.jitter * unit.clamp(0.0, 1.0);
        step.mul_f64(spread.max(0.0)).min(self.max)
    }
}

/// How often a failing call is tried, and how long to wait between tries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    /// Tries in all, the first included.
    pub attempts: u32,
    pub backoff: Backoff,
}

impl Retry {
    /// `attempts` tries back to back (tests).
    pub const fn immediate(attempts: u32) -> Retry {
        Retry {
            attempts,
            backoff: Backoff::NONE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MQTT_LIKE: Backoff = Backoff {
        first: Duration::from_secs(1),
        factor: 2,
        max: Duration::from_secs(60),
        jitter: 0.2,
    };

    #[test]
    fn grows_by_its_factor_up_to_the_cap_with_bounded_jitter() {
        let mut rng = fastrand::Rng::with_seed(7);
        for retry in 0..12 {
            let delay = MQTT_LIKE.delay(retry, rng.f64()).as_secs_f64();
            let step = (1u64 << retry).min(60) as f64;
            assert!(
                delay >= step * 0.8 - 1e-9 && delay <= (step * 1.2).min(60.0) + 1e-9,
                "{retry}: {delay}"
            );
        }
        assert_eq!(MQTT_LIKE.delay(40, 0.999), Duration::from_secs(60));
    }

    #[test]
    fn the_middle_of_the_jitter_is_the_step_itself() {
        assert_eq!(MQTT_LIKE.delay(0, 0.5), Duration::from_secs(1));
        assert_eq!(MQTT_LIKE.delay(3, 0.5), Duration::from_secs(8));
        assert_eq!(MQTT_LIKE.delay(3, 0.0), Duration::from_secs_f64(6.4));
    }

    #[test]
    fn jitter_spreads_clients_apart() {
        assert_ne!(MQTT_LIKE.delay(3, 0.1), MQTT_LIKE.delay(3, 0.9));
    }

    #[test]
    fn none_never_waits() {
        assert_eq!(Backoff::NONE.delay(5, 0.7), Duration::ZERO);
    }
}
