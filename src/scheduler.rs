//! When to sync next: pure functions of the current instant and the last outcome.
//!
//! Enedis publishes day J from about 08:00 (Paris) on J+1, sometimes later. A complete store
//! waits for tomorrow 08:00; a store still missing yesterday retries every hour until the
//! evening; a failing gateway backs off. Every time gets jitter so that the users of the
//! public gateway do not all call it at 08:00:00.

use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};

use crate::calendar::{add_days, paris_date, paris_instant};
use crate::retry::Backoff;
use crate::tariffs::TEMPO_TOMORROW_FROM;

/// Hour (Paris) from which yesterday's data is expected.
pub const DATA_HOUR: u32 = 8;
/// Hour (Paris) after which we stop retrying for the day.
pub const LAST_RETRY_HOUR: u32 = 22;
/// Spread of the Tempo polls.
pub const TEMPO_JITTER: Duration = Duration::from_secs(20 * 60);
/// Spacing of the Tempo polls while tomorrow is unknown.
pub const TEMPO_POLL_EVERY: Duration = Duration::from_secs(20 * 60);
/// Spread of the daily start.
pub const DAILY_JITTER: Duration = Duration::from_secs(30 * 60);
/// Spacing of the retries while yesterday is missing.
pub const RETRY_EVERY: Duration = Duration::from_secs(60 * 60);
/// After failed syncs: 5 min, 10, 20, … up to 2 h, ±20 %.
pub const FAILURE_BACKOFF: Backoff = Backoff {
    first: Duration::from_secs(5 * 60),
    factor: 2,
    max: Duration::from_secs(2 * 60 * 60),
    jitter: 0.2,
};

/// How the last sync went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Every enabled series has its data up to yesterday.
    Complete,
    /// The gateway answered but some recent day is not published yet.
    Waiting,
    /// The gateway failed; `attempt` counts consecutive failures from 1.
    Failed { attempt: u32 },
}

/// The next sync instant. `jitter` in `[0, 1)` spreads the instant (tests pass fixed values).
pub fn next_sync(now: DateTime<Utc>, outcome: SyncOutcome, jitter: f64) -> DateTime<Utc> {
    let today = paris_date(now);
    let at_paris = |day: chrono::NaiveDate, hour: u32| {
        paris_instant(day.and_time(NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or(NaiveTime::MIN)))
            .with_timezone(&Utc)
    };
    let tomorrow_start = at_paris(add_days(today, 1), DATA_HOUR) + scaled(DAILY_JITTER, jitter);
    let today_start = at_paris(today, DATA_HOUR) + scaled(DAILY_JITTER, jitter);
    let evening = at_paris(today, LAST_RETRY_HOUR);
    match outcome {
        SyncOutcome::Complete => tomorrow_start,
        SyncOutcome::Waiting if now < today_start => today_start,
        SyncOutcome::Waiting => {
            let retry = now + scaled(RETRY_EVERY, 0.75 + 0.5 * jitter);
            if retry > evening {
                tomorrow_start
            } else {
                retry
            }
        }
        SyncOutcome::Failed { attempt } => {
            now + scaled(
                FAILURE_BACKOFF.delay(attempt.saturating_sub(1), jitter),
                1.0,
            )
        }
    }
}

/// While tomorrow's Tempo colour is unknown: the next poll, from about 10:40 Paris and then
/// every 20 minutes or so (with jitter) until it is known.
pub fn next_tempo_poll(now: DateTime<Utc>, jitter: f64) -> DateTime<Utc> {
    let local = now.with_timezone(&chrono_tz::Europe::Paris);
    let first = paris_instant(local.date_naive().and_time(TEMPO_TOMORROW_FROM)).with_timezone(&Utc)
        + scaled(TEMPO_JITTER, jitter);
    if now < first {
        first
    } else {
        now + scaled(TEMPO_POLL_EVERY, 0.75 + 0.5 * jitter)
    }
}

fn scaled(duration: Duration, factor: f64) -> chrono::Duration {
    chrono::Duration::from_std(duration.mul_f64(factor.max(0.0))).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn complete_waits_for_tomorrow_morning_paris_time() {
        // 2024-01-15 10:00 Paris (UTC+1) → 2024-01-16 08:00 Paris = 07:00 UTC.
        assert_eq!(
            next_sync(utc("2024-01-15T09:00:00Z"), SyncOutcome::Complete, 0.0),
            utc("2024-01-16T07:00:00Z")
        );
        // Summer: 08:00 Paris = 06:00 UTC, plus half of the 30 min jitter.
        assert_eq!(
            next_sync(utc("2024-07-15T09:00:00Z"), SyncOutcome::Complete, 0.5),
            utc("2024-07-16T06:15:00Z")
        );
    }

    #[test]
    fn complete_just_before_midnight_paris_targets_the_next_paris_day() {
        // 23:30 Paris on the 15th is 22:30 UTC: tomorrow is the 16th.
        assert_eq!(
            next_sync(utc("2024-01-15T22:30:00Z"), SyncOutcome::Complete, 0.0),
            utc("2024-01-16T07:00:00Z")
        );
        // 00:30 Paris on the 16th is 23:30 UTC on the 15th: "tomorrow" is the 17th.
        assert_eq!(
            next_sync(utc("2024-01-15T23:30:00Z"), SyncOutcome::Complete, 0.0),
            utc("2024-01-17T07:00:00Z")
        );
    }

    #[test]
    fn waiting_before_eight_goes_to_eight_then_retries_hourly_until_the_evening() {
        assert_eq!(
            next_sync(utc("2024-01-15T05:00:00Z"), SyncOutcome::Waiting, 0.0),
            utc("2024-01-15T07:00:00Z")
        );
        assert_eq!(
            next_sync(utc("2024-01-15T09:00:00Z"), SyncOutcome::Waiting, 0.5),
            utc("2024-01-15T10:00:00Z")
        );
        // 21:30 Paris: one more hour would pass 22:00, so tomorrow morning.
        assert_eq!(
            next_sync(utc("2024-01-15T20:30:00Z"), SyncOutcome::Waiting, 0.5),
            utc("2024-01-16T07:15:00Z")
        );
    }

    #[test]
    fn dst_days_keep_eight_oclock_paris() {
        // Spring forward on 2024-03-31: 08:00 Paris is 06:00 UTC that day.
        assert_eq!(
            next_sync(utc("2024-03-30T12:00:00Z"), SyncOutcome::Complete, 0.0),
            utc("2024-03-31T06:00:00Z")
        );
        // Fall back on 2024-10-27: 08:00 Paris is 07:00 UTC that day.
        assert_eq!(
            next_sync(utc("2024-10-26T12:00:00Z"), SyncOutcome::Complete, 0.0),
            utc("2024-10-27T07:00:00Z")
        );
    }

    #[test]
    fn tempo_tomorrow_is_polled_from_ten_forty_paris() {
        // 09:00 Paris in winter → 10:40 Paris = 09:40 UTC, plus half of 20 min.
        assert_eq!(
            next_tempo_poll(utc("2024-01-15T08:00:00Z"), 0.5),
            utc("2024-01-15T09:50:00Z")
        );
        // Summer: 10:40 Paris = 08:40 UTC.
        assert_eq!(
            next_tempo_poll(utc("2024-07-15T06:00:00Z"), 0.0),
            utc("2024-07-15T08:40:00Z")
        );
        // After 10:40: about every 20 minutes.
        assert_eq!(
            next_tempo_poll(utc("2024-01-15T10:00:00Z"), 0.5),
            utc("2024-01-15T10:20:00Z")
        );
        // After midnight Paris (23:30 UTC in winter) the next poll is that morning's 10:40.
        assert_eq!(
            next_tempo_poll(utc("2024-01-15T23:30:00Z"), 0.0),
            utc("2024-01-16T09:40:00Z")
        );
    }

    #[test]
    fn failures_back_off_up_to_two_hours() {
        let now = utc("2024-01-15T09:00:00Z");
        let after =
            |attempt| (next_sync(now, SyncOutcome::Failed { attempt }, 0.5) - now).num_minutes();
        assert_eq!(after(1), 5);
        assert_eq!(after(2), 10);
        assert_eq!(after(3), 20);
        assert_eq!(after(10), 120);
    }
}
