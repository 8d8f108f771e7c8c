//! Which days, in which shape, and their sums: plain data in, rows out.

use chrono::Duration;

use super::*;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The half-hour intervals of a Paris day (46, 48 or 50), at `watts`.
fn curve(day: NaiveDate, watts: i64) -> Vec<CurveInterval> {
    crate::calendar::half_hourly_curve(day, |_| watts)
}

/// Every day of `[from, to]` known at 10 kWh.
fn known(from: &str, to: &str) -> BTreeMap<NaiveDate, Option<i64>> {
    d(from)
        .iter_days()
        .take_while(|day| *day <= d(to))
        .map(|day| (day, Some(10_000)))
        .collect()
}

fn energy(slots: &[Slot<'_>], last: Option<LastRow>) -> Vec<StatisticRow> {
    rows(slots, last, |slot| Some(slot.kwh()))
}

#[test]
fn the_first_import_sends_every_stored_day_and_the_first_row_holds_its_own_energy() {
    let history = SeriesHistory {
        days: known("2021-01-16", "2024-01-15"),
        ..SeriesHistory::default()
    };
    let today = d("2024-01-16");
    let rows = energy(&slots(&history, None, today), None);
    assert_eq!(rows.len(), 1095);
    assert_eq!(rows[0].start, utc("2021-01-15T23:00:00Z"), "midnight Paris");
    assert_eq!((rows[0].state, rows[0].sum), (10.0, 10.0));
    let last = rows.last().unwrap();
    assert_eq!(
        last.start,
        utc("2024-01-14T23:00:00Z"),
        "yesterday; today never"
    );
    assert_eq!(last.sum, 10_950.0);
    // Summer days start at 22:00 UTC.
    assert!(rows.iter().any(|r| r.start == utc("2023-07-14T22:00:00Z")));
}

#[test]
fn a_later_import_continues_after_home_assistant_s_last_row() {
    let history = SeriesHistory {
        days: known("2024-01-01", "2024-01-16"),
        ..SeriesHistory::default()
    };
    let last = LastRow {
        start: utc("2024-01-14T23:00:00Z"),
        sum: 500.0,
    };
    // The next morning: only the 16th (the 15th's row is Home Assistant's last).
    let rows = energy(&slots(&history, Some(last), d("2024-01-17")), Some(last));
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].start, rows[0].sum),
        (utc("2024-01-15T23:00:00Z"), 510.0)
    );
    // A rerun the same day: nothing.
    let again = LastRow {
        start: rows[0].start,
        sum: rows[0].sum,
    };
    assert!(slots(&history, Some(again), d("2024-01-17")).is_empty());
}

#[test]
fn a_complete_curve_gives_hourly_rows_23_and_25_on_dst_days() {
    for (day, hours, first_start) in [
        ("2024-01-15", 24, "2024-01-14T23:00:00Z"),
        ("2024-03-31", 23, "2024-03-30T23:00:00Z"),
        ("2024-10-27", 25, "2024-10-26T22:00:00Z"),
    ] {
        let date = d(day);
        let history = SeriesHistory {
            days: known(day, day),
            curve: BTreeMap::from([(date, curve(date, 1000))]),
            load_curve: true,
        };
        let slots = slots(&history, None, add_days(date, 10));
        let rows = energy(&slots, None);
        assert_eq!(rows.len(), hours, "{day}");
        assert_eq!(rows[0].start, utc(first_start), "{day}");
        // Two half-hours at 1000 W: 1 kWh an hour, by the start of the interval.
        assert!(rows.iter().all(|r| r.state == 1.0), "{day}");
        assert!(
            rows.windows(2)
                .all(|w| w[1].start - w[0].start == Duration::hours(1))
        );
        assert_eq!(rows.last().unwrap().sum, hours as f64);
    }
}

#[test]
fn a_day_waits_three_days_for_its_curve_then_is_one_daily_row() {
    let history = SeriesHistory {
        days: known("2024-01-10", "2024-01-15"),
        curve: BTreeMap::from([(d("2024-01-10"), curve(d("2024-01-10"), 500))]),
        load_curve: true,
    };
    // On the 16th: the 10th hourly, 11th and 12th daily (older than 3 days), the 13th
    // waits for its curve, and the days after it wait too (sums stay in order).
    let slots_16 = slots(&history, None, d("2024-01-16"));
    let rows = energy(&slots_16, None);
    assert_eq!(rows.len(), 24 + 2);
    assert_eq!(rows[24].start, utc("2024-01-10T23:00:00Z"));
    assert_eq!(rows.last().unwrap().start, utc("2024-01-11T23:00:00Z"));
    assert_eq!(rows.last().unwrap().sum, 12.0 + 20.0);
    // Without the load curve nothing waits.
    let daily_only = SeriesHistory {
        load_curve: false,
        ..history.clone()
    };
    assert_eq!(
        energy(&slots(&daily_only, None, d("2024-01-16")), None).len(),
        6
    );
}

#[test]
fn a_recent_day_not_published_stops_the_import_an_old_one_is_skipped() {
    let mut history = SeriesHistory {
        days: known("2023-12-01", "2024-01-15"),
        ..SeriesHistory::default()
    };
    history.days.insert(d("2023-12-05"), None); // never coming
    history.days.remove(&d("2024-01-12")); // late
    let rows = energy(&slots(&history, None, d("2024-01-16")), None);
    assert_eq!(rows.last().unwrap().start, utc("2024-01-10T23:00:00Z"));
    assert!(!rows.iter().any(|r| r.start == utc("2023-12-04T23:00:00Z")));
    assert_eq!(rows.len(), 42 - 1, "1 Dec to 11 Jan, 5 Dec left out");
    assert_eq!(rows.last().unwrap().sum, 410.0, "no jump over the gap");
}

#[test]
fn a_slot_without_a_value_has_no_row_and_the_sum_goes_on() {
    let history = SeriesHistory {
        days: known("2024-01-01", "2024-01-03"),
        ..SeriesHistory::default()
    };
    let slots = slots(&history, None, d("2024-01-04"));
    let second = slots[1].start();
    let priced = rows(&slots, None, |s| {
        (s.start() != second).then(|| s.kwh() * 0.25)
    });
    assert_eq!(priced.len(), 2);
    assert_eq!((priced[1].state, priced[1].sum), (2.5, 5.0));
}

#[test]
fn nothing_stored_nothing_to_import() {
    let history = SeriesHistory::default();
    assert!(slots(&history, None, d("2024-01-16")).is_empty());
}

#[test]
fn messages_hold_whole_days_and_never_more_than_the_limit() {
    let mut history = SeriesHistory {
        days: known("2024-01-01", "2024-01-15"),
        load_curve: true,
        ..SeriesHistory::default()
    };
    for day in d("2024-01-05").iter_days().take(11) {
        history.curve.insert(day, curve(day, 1000));
    }
    // 4 daily rows then 11 days of 24 hourly rows.
    let rows = energy(&slots(&history, None, d("2024-01-16")), None);
    assert_eq!(rows.len(), 4 + 11 * 24);
    for max in [30, 50, 100, 1000] {
        let chunks = chunks(&rows, max);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), rows.len());
        for chunk in &chunks {
            assert!(chunk.len() <= max, "{max}: {}", chunk.len());
            let last = chunk.last().unwrap();
            let next = rows.iter().find(|r| r.start > last.start);
            assert!(
                next.is_none_or(|n| paris_date(n.start) != paris_date(last.start)),
                "{max}: a day is cut at {}",
                last.start
            );
        }
    }
    assert_eq!(chunks(&rows, 1000).len(), 1);
    assert!(chunks(&[], 10).is_empty());
}
