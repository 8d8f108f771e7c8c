//! Europe/Paris calendar: pure functions over dates and instants, DST included.
//!
//! Enedis and RTE speak in naive Paris wall-clock dates; Home Assistant wants timezone-aware
//! instants. Everything that turns one into the other lives here and takes `now` as a
//! parameter, so it is tested with fixed instants instead of the system clock.

use chrono::{
    DateTime, Datelike, Days, FixedOffset, LocalResult, Months, NaiveDate, NaiveDateTime,
    NaiveTime, Offset, TimeZone, Utc,
};
use chrono_tz::Europe::Paris;

use crate::model::TimeRange;

/// How far back Enedis keeps daily data.
pub const DAILY_HISTORY_MONTHS: u32 = 36;

/// The Paris calendar day that contains `now`.
pub fn paris_date(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&Paris).date_naive()
}

/// A naive Paris wall-clock time as an instant with its Paris offset.
///
/// In the autumn the hour 02:00–03:00 happens twice: the first (summer time) occurrence is
/// taken. In the spring it does not exist: the instant one hour later on the same wall clock
/// is taken, which is where a clock that skipped the hour would read.
pub fn paris_instant(local: NaiveDateTime) -> DateTime<FixedOffset> {
    match Paris.from_local_datetime(&local) {
        LocalResult::Single(t) => t.fixed_offset(),
        LocalResult::Ambiguous(first, _) => first.fixed_offset(),
        LocalResult::None => {
            let later = local + chrono::Duration::hours(1);
            paris_instant(later)
        }
    }
}

/// Every instant at which the Paris wall clock comes to read `local`: once on most days;
/// in the doubled autumn hour at both of its occurrences and at the fall back between them
/// (from there the clock reads that hour's times again); when `local` is in the skipped
/// spring hour, at the end of the gap, where a clock that skipped it reads later times.
pub fn wall_clock_instants(local: NaiveDateTime) -> Vec<DateTime<Utc>> {
    match Paris.from_local_datetime(&local) {
        LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
        LocalResult::Ambiguous(first, second) => {
            let (first, second) = (first.with_timezone(&Utc), second.with_timezone(&Utc));
            vec![first, offset_change(first, second), second]
        }
        LocalResult::None => {
            let naive = local.and_utc();
            let day = chrono::Duration::hours(12);
            vec![offset_change(naive - day, naive + day)]
        }
    }
}

/// The first second of `(before, after]` with the Paris offset of `after`, when the offset
/// changes once in between.
fn offset_change(before: DateTime<Utc>, after: DateTime<Utc>) -> DateTime<Utc> {
    let offset =
        |s: i64| DateTime::from_timestamp(s, 0).map(|t| t.with_timezone(&Paris).offset().fix());
    let target = offset(after.timestamp());
    let (mut before, mut after_s) = (before.timestamp(), after.timestamp());
    while after_s - before > 1 {
        let middle = before + (after_s - before) / 2;
        match offset(middle) == target {
            true => after_s = middle,
            false => before = middle,
        }
    }
    DateTime::from_timestamp(after_s, 0).unwrap_or(after)
}

/// Instants of the ends of consecutive intervals `(naive Paris end, minutes)` given in time
/// order, as Enedis sends a load curve. In the doubled autumn hour the same wall-clock time
/// comes twice, and gateways label it either by the end instant's own clock or by the
/// start's clock plus the length; a point that continues the previous one (by either
/// reading) is placed right after it, and any other point at the earliest instant its
/// label can mean after the previous one. A time in the spring gap lands one hour later.
pub fn sequence_instants(
    points: impl IntoIterator<Item = (NaiveDateTime, u32)>,
) -> Vec<DateTime<Utc>> {
    let mut previous: Option<(NaiveDateTime, DateTime<Utc>)> = None;
    points
        .into_iter()
        .map(|(label, minutes)| {
            // Never empty: each arm yields at least one instant.
            let candidates: Vec<DateTime<Utc>> = match Paris.from_local_datetime(&label) {
                LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
                LocalResult::Ambiguous(a, b) => vec![a.with_timezone(&Utc), b.with_timezone(&Utc)],
                LocalResult::None => vec![paris_instant(label).with_timezone(&Utc)],
            };
            let instant = match previous {
                Some((previous_label, previous_instant)) => {
                    let expected = previous_instant + chrono::Duration::minutes(i64::from(minutes));
                    let continues = candidates.contains(&expected)
                        || previous_label + chrono::Duration::minutes(i64::from(minutes)) == label;
                    if continues {
                        expected
                    } else {
                        candidates
                            .iter()
                            .copied()
                            .find(|c| *c > previous_instant)
                            .unwrap_or(candidates[candidates.len() - 1])
                    }
                }
                None => candidates[0],
            };
            previous = Some((label, instant));
            instant
        })
        .collect()
}

/// Midnight (Paris) at the start of `day`, with its offset. Midnight always exists in Paris
/// (the DST changes happen at 02:00 and 03:00).
pub fn start_of_day(day: NaiveDate) -> DateTime<FixedOffset> {
    paris_instant(day.and_time(NaiveTime::MIN))
}

/// Length of a Paris day in minutes: 1380 and 1500 on the DST days, 1440 otherwise.
pub fn day_minutes(day: NaiveDate) -> i64 {
    (start_of_day(add_days(day, 1)) - start_of_day(day)).num_minutes()
}

/// Monday of the ISO week of `day`.
pub fn week_start(day: NaiveDate) -> NaiveDate {
    sub_days(day, u64::from(day.weekday().num_days_from_monday()))
}

/// `2024-W03`: the ISO week (its year may differ from the calendar year at year ends).
pub fn week_label(day: NaiveDate) -> String {
    let week = day.iso_week();
    format!("{:04}-W{:02}", week.year(), week.week())
}

/// 1 January of the year of `day`.
pub fn year_start(day: NaiveDate) -> NaiveDate {
    day.with_ordinal(1).unwrap_or(day)
}

/// First day of the month of `day`.
pub fn month_start(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// `YYYY-MM` label of the month of `day`.
pub fn month_label(day: NaiveDate) -> String {
    format!("{:04}-{:02}", day.year(), day.month())
}

/// The oldest day Enedis still serves daily data for, seen from `today`.
pub fn daily_history_start(today: NaiveDate) -> NaiveDate {
    today
        .checked_sub_months(Months::new(DAILY_HISTORY_MONTHS))
        .unwrap_or(today)
}

/// `day + n` days, saturating at the calendar's end (never reached with real dates).
pub fn add_days(day: NaiveDate, n: u64) -> NaiveDate {
    day.checked_add_days(Days::new(n)).unwrap_or(day)
}

/// `day - n` days, saturating at the calendar's start.
pub fn sub_days(day: NaiveDate, n: u64) -> NaiveDate {
    day.checked_sub_days(Days::new(n)).unwrap_or(day)
}

/// ISO 8601 with the Paris offset, seconds precision (`2024-01-15T09:12:03+01:00`).
pub fn format_paris(instant: DateTime<Utc>) -> String {
    instant
        .with_timezone(&Paris)
        .fixed_offset()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// ISO 8601 of an instant that already carries its offset.
pub fn format_offset(instant: DateTime<FixedOffset>) -> String {
    instant.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// Parses off-peak hours as Enedis writes them in the contract (`HC (22H00-6H00)`,
/// `HC (1H30-8H00;12H30-14H00)`) or as a user types them (`22H00-6H00;12H30-14H30`,
/// `22:00-06:00`). Returns `None` when the text is not such a list.
pub fn parse_offpeak_hours(text: &str) -> Option<Vec<TimeRange>> {
    let inner = text.trim();
    let inner = match (inner.find('('), inner.rfind(')')) {
        (Some(open), Some(close)) if open < close => &inner[open + 1..close],
        _ => inner,
    };
    let ranges = inner
        .split(';')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (start, end) = part.split_once('-')?;
            Some(TimeRange {
                start: parse_clock(start)?,
                end: parse_clock(end)?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    (!ranges.is_empty()).then_some(ranges)
}

/// `22H00`, `6H`, `22:00`, `6h30` → a time of day.
fn parse_clock(text: &str) -> Option<NaiveTime> {
    let text = text.trim().to_ascii_uppercase().replace(':', "H");
    let (hours, minutes) = text.split_once('H').unwrap_or((&text, ""));
    let hours: u32 = hours.trim().parse().ok()?;
    let minutes: u32 = if minutes.trim().is_empty() {
        0
    } else {
        minutes.trim().parse().ok()?
    };
    if hours == 24 && minutes == 0 {
        return Some(NaiveTime::MIN);
    }
    NaiveTime::from_hms_opt(hours, minutes, 0)
}

/// The half-hour intervals of a Paris day as the store holds them (46, 48 or 50: DST
/// included), each at `watts(its start's wall-clock time)`.
#[cfg(test)]
pub fn half_hourly_curve(
    day: NaiveDate,
    watts: impl Fn(NaiveTime) -> i64,
) -> Vec<crate::model::CurveInterval> {
    let start = start_of_day(day).with_timezone(&Utc);
    let end = start_of_day(add_days(day, 1)).with_timezone(&Utc);
    let mut intervals = Vec::new();
    let mut at = start;
    while at < end {
        let local = at.with_timezone(&Paris).naive_local();
        intervals.push(crate::model::CurveInterval {
            start: at,
            start_local: local,
            minutes: 30,
            watts: watts(local.time()),
        });
        at += chrono::Duration::minutes(30);
    }
    intervals
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn iso_weeks_cross_year_boundaries() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(week_start(d("2024-01-17")), d("2024-01-15"));
        assert_eq!(week_start(d("2024-01-15")), d("2024-01-15"));
        assert_eq!(week_label(d("2024-01-17")), "2024-W03");
        assert_eq!(week_label(d("2024-12-31")), "2025-W01");
        assert_eq!(week_start(d("2024-12-31")), d("2024-12-30"));
        assert_eq!(week_label(d("2021-01-03")), "2020-W53");
        assert_eq!(
            week_start(d("2024-03-01")),
            d("2024-02-26"),
            "across 29 February"
        );
        assert_eq!(year_start(d("2024-03-01")), d("2024-01-01"));
    }

    #[test]
    fn paris_date_turns_at_paris_midnight_not_utc() {
        // 23:30 UTC in winter is 00:30 the next day in Paris.
        assert_eq!(paris_date(utc("2024-01-15T23:30:00Z")), date(2024, 1, 16));
        // 22:30 UTC in summer is 00:30 the next day in Paris.
        assert_eq!(paris_date(utc("2024-07-15T22:30:00Z")), date(2024, 7, 16));
        assert_eq!(paris_date(utc("2024-07-15T21:59:59Z")), date(2024, 7, 15));
    }

    #[test]
    fn start_of_day_has_the_offset_of_that_day() {
        assert_eq!(
            format_offset(start_of_day(date(2024, 1, 15))),
            "2024-01-15T00:00:00+01:00"
        );
        assert_eq!(
            format_offset(start_of_day(date(2024, 7, 15))),
            "2024-07-15T00:00:00+02:00"
        );
        // The DST days themselves start before the change.
        assert_eq!(
            format_offset(start_of_day(date(2024, 3, 31))),
            "2024-03-31T00:00:00+01:00"
        );
        assert_eq!(
            format_offset(start_of_day(date(2024, 10, 27))),
            "2024-10-27T00:00:00+02:00"
        );
    }

    #[test]
    fn dst_days_are_23_and_25_hours_long() {
        let hours = |d: NaiveDate| (start_of_day(add_days(d, 1)) - start_of_day(d)).num_hours();
        assert_eq!(hours(date(2024, 3, 31)), 23);
        assert_eq!(hours(date(2024, 10, 27)), 25);
        assert_eq!(hours(date(2024, 10, 28)), 24);
    }

    #[test]
    fn wall_clock_times_in_dst_gaps_and_overlaps_resolve() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        // The missing spring hour maps one hour later.
        assert_eq!(
            format_offset(paris_instant(t("2024-03-31 02:30:00"))),
            "2024-03-31T03:30:00+02:00"
        );
        // The doubled autumn hour takes its first (summer time) occurrence.
        assert_eq!(
            format_offset(paris_instant(t("2024-10-27 02:30:00"))),
            "2024-10-27T02:30:00+02:00"
        );
    }

    #[test]
    fn half_hourly_ends_through_both_dst_changes_under_both_labelling_conventions() {
        for (day, expected) in [("2024-03-31", 46), ("2024-10-27", 50), ("2024-06-01", 48)] {
            let day: NaiveDate = day.parse().unwrap();
            let start = start_of_day(day).with_timezone(&Utc);
            let end = start_of_day(add_days(day, 1)).with_timezone(&Utc);
            let mut by_end_clock = Vec::new();
            let mut by_start_clock = Vec::new();
            let mut t = start;
            while t < end {
                let next = t + chrono::Duration::minutes(30);
                by_end_clock.push((next.with_timezone(&Paris).naive_local(), 30));
                by_start_clock.push((
                    t.with_timezone(&Paris).naive_local() + chrono::Duration::minutes(30),
                    30,
                ));
                t = next;
            }
            assert_eq!(by_end_clock.len(), expected);
            for labels in [by_end_clock, by_start_clock] {
                let instants = sequence_instants(labels);
                assert_eq!(
                    instants.first().copied(),
                    Some(start + chrono::Duration::minutes(30)),
                    "{day}"
                );
                assert_eq!(instants.last().copied(), Some(end), "{day}");
                assert!(
                    instants
                        .windows(2)
                        .all(|w| (w[1] - w[0]).num_minutes() == 30),
                    "{day}"
                );
            }
        }
    }

    #[test]
    fn the_wall_clock_reaches_a_time_once_twice_or_at_the_end_of_the_spring_gap() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        let at = |s: &str| wall_clock_instants(t(s));
        assert_eq!(at("2024-01-15 02:30:00"), vec![utc("2024-01-15T01:30:00Z")]);
        // Spring: 02:00 → 03:00 (01:00 UTC); 02:30 is reached when the clock jumps over it.
        assert_eq!(at("2024-03-31 02:30:00"), vec![utc("2024-03-31T01:00:00Z")]);
        assert_eq!(at("2024-03-31 03:00:00"), vec![utc("2024-03-31T01:00:00Z")]);
        // Autumn: 03:00 → 02:00 (01:00 UTC); 02:30 summer, the fall back, 02:30 winter.
        assert_eq!(
            at("2024-10-27 02:30:00"),
            vec![
                utc("2024-10-27T00:30:00Z"),
                utc("2024-10-27T01:00:00Z"),
                utc("2024-10-27T01:30:00Z")
            ]
        );
    }

    #[test]
    fn a_gap_in_the_curve_resumes_at_the_label() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        let instants = sequence_instants([
            (t("2024-01-15 10:00:00"), 30),
            (t("2024-01-15 12:00:00"), 30),
        ]);
        assert_eq!(instants[1].to_rfc3339(), "2024-01-15T11:00:00+00:00");
    }

    #[test]
    fn history_window_handles_leap_days_and_month_ends() {
        assert_eq!(daily_history_start(date(2027, 2, 28)), date(2024, 2, 28));
        assert_eq!(daily_history_start(date(2024, 2, 29)), date(2021, 2, 28));
        assert_eq!(daily_history_start(date(2026, 3, 31)), date(2023, 3, 31));
        assert_eq!(month_start(date(2024, 2, 29)), date(2024, 2, 1));
        assert_eq!(month_label(date(2024, 12, 31)), "2024-12");
    }

    #[test]
    fn formats_instants_with_the_paris_offset() {
        assert_eq!(
            format_paris(utc("2024-01-16T09:12:03Z")),
            "2024-01-16T10:12:03+01:00"
        );
        assert_eq!(
            format_paris(utc("2024-06-16T09:12:03Z")),
            "2024-06-16T11:12:03+02:00"
        );
    }

    #[test]
    fn parses_offpeak_hours_from_contracts_and_options() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(
            parse_offpeak_hours("HC (22H00-6H00)"),
            Some(vec![TimeRange {
                start: t(22, 0),
                end: t(6, 0)
            }])
        );
        assert_eq!(
            parse_offpeak_hours("HC (1H30-8H00;12H30-14H00)"),
            Some(vec![
                TimeRange {
                    start: t(1, 30),
                    end: t(8, 0)
                },
                TimeRange {
                    start: t(12, 30),
                    end: t(14, 0)
                },
            ])
        );
        assert_eq!(
            parse_offpeak_hours("22:00-06:00"),
            Some(vec![TimeRange {
                start: t(22, 0),
                end: t(6, 0)
            }])
        );
        assert_eq!(parse_offpeak_hours("tomorrow"), None);
        assert_eq!(parse_offpeak_hours("25H00-6H00"), None);
        assert_eq!(parse_offpeak_hours(""), None);
    }

    #[test]
    fn offpeak_ranges_cross_midnight() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        let night = TimeRange {
            start: t(22, 0),
            end: t(6, 0),
        };
        assert!(night.contains(t(23, 0)));
        assert!(night.contains(t(0, 0)));
        assert!(night.contains(t(5, 59)));
        assert!(!night.contains(t(6, 0)));
        assert!(!night.contains(t(21, 59)));
        let noon = TimeRange {
            start: t(12, 30),
            end: t(14, 0),
        };
        assert!(noon.contains(t(12, 30)));
        assert!(!noon.contains(t(14, 0)));
    }
}
