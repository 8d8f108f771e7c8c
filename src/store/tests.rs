use chrono::{NaiveDate, TimeZone, Utc};

use super::*;
use crate::model::{DailyReading, DailySeries, DayRange, MeterInfo, Pdl, SeriesKind};

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn pdl() -> Pdl {
    Pdl::parse("12345678901234").unwrap()
}

fn series(days: &[(&str, i64)]) -> DailySeries {
    DailySeries {
        quality: Some("BRUT".into()),
        readings: days
            .iter()
            .map(|(date, wh)| DailyReading {
                date: d(date),
                wh: *wh,
            })
            .collect(),
    }
}

#[tokio::test]
async fn answers_survive_a_reopen_and_absent_days_are_marked() {
    let dir = tempfile::tempdir().unwrap();
    let at = Utc.with_ymd_and_hms(2024, 1, 16, 9, 0, 0).unwrap();
    {
        let store = Store::open(dir.path()).await.unwrap();
        let answer = series(&[("2024-01-01", 15230), ("2024-01-02", 14810)]);
        store
            .save_daily(
                &pdl(),
                SeriesKind::Consumption,
                DayRange::new(d("2024-01-01"), d("2024-01-04")),
                &answer,
                at,
            )
            .await
            .unwrap();
        store.close().await;
    }
    let store = Store::open(dir.path()).await.unwrap();
    let status = store
        .daily_status(
            &pdl(),
            SeriesKind::Consumption,
            d("2024-01-01"),
            d("2024-01-05"),
        )
        .await
        .unwrap();
    assert_eq!(
        status.into_iter().collect::<Vec<_>>(),
        vec![
            (d("2024-01-01"), Some(15230)),
            (d("2024-01-02"), Some(14810)),
            (d("2024-01-03"), None)
        ]
    );
    let latest = store
        .latest_day(&pdl(), SeriesKind::Consumption)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (latest.date, latest.wh, latest.fetched_at),
        (d("2024-01-02"), 14810, at)
    );
    assert_eq!(
        store
            .latest_day(&pdl(), SeriesKind::Production)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_later_answer_without_a_day_never_erases_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let at = Utc.with_ymd_and_hms(2024, 1, 16, 9, 0, 0).unwrap();
    store
        .save_daily(
            &pdl(),
            SeriesKind::Consumption,
            DayRange::new(d("2024-01-01"), d("2024-01-02")),
            &series(&[("2024-01-01", 100)]),
            at,
        )
        .await
        .unwrap();
    store
        .save_daily(
            &pdl(),
            SeriesKind::Consumption,
            DayRange::new(d("2024-01-01"), d("2024-01-03")),
            &series(&[]),
            at,
        )
        .await
        .unwrap();
    let status = store
        .daily_status(
            &pdl(),
            SeriesKind::Consumption,
            d("2024-01-01"),
            d("2024-01-02"),
        )
        .await
        .unwrap();
    assert_eq!(status[&d("2024-01-01")], Some(100));
    assert_eq!(status[&d("2024-01-02")], None);
    // A corrected value replaces the raw one.
    store
        .save_daily(
            &pdl(),
            SeriesKind::Consumption,
            DayRange::new(d("2024-01-01"), d("2024-01-02")),
            &series(&[("2024-01-01", 120)]),
            at,
        )
        .await
        .unwrap();
    let days = store
        .days(
            &pdl(),
            SeriesKind::Consumption,
            d("2024-01-01"),
            d("2024-01-01"),
        )
        .await
        .unwrap();
    assert_eq!(days.iter().map(|d| d.wh).collect::<Vec<_>>(), vec![120]);
}

#[tokio::test]
async fn days_lists_only_known_days_of_the_range_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let at = Utc::now();
    let answer = series(&[
        ("2024-02-02", 3000),
        ("2024-01-31", 1000),
        ("2024-02-01", 2000),
    ]);
    let range = DayRange::new(d("2024-01-31"), d("2024-02-04"));
    store
        .save_daily(&pdl(), SeriesKind::Consumption, range, &answer, at)
        .await
        .unwrap();
    let february = store
        .days(
            &pdl(),
            SeriesKind::Consumption,
            d("2024-02-01"),
            d("2024-02-29"),
        )
        .await
        .unwrap();
    let listed: Vec<_> = february.iter().map(|day| (day.date, day.wh)).collect();
    assert_eq!(
        listed,
        vec![(d("2024-02-01"), 2000), (d("2024-02-02"), 3000)]
    );
    let empty = store
        .days(
            &pdl(),
            SeriesKind::Production,
            d("2024-02-01"),
            d("2024-02-29"),
        )
        .await
        .unwrap();
    assert!(empty.is_empty());
}

#[tokio::test]
async fn an_interrupted_write_leaves_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let at = Utc::now();
    let days: Vec<(String, i64)> = d("2023-01-01")
        .iter_days()
        .take(365)
        .map(|day| (day.to_string(), 1000))
        .collect();
    let days: Vec<(&str, i64)> = days.iter().map(|(s, v)| (s.as_str(), *v)).collect();
    let answer = series(&days);
    // Cancel the write at many points of its progress: each time, all or nothing is stored.
    let mut outcomes = Vec::new();
    for (i, budget) in [1u64, 3, 10, 40, 100, 100_000].into_iter().enumerate() {
        let pdl = Pdl::parse(&format!("1234567890123{i}")).unwrap();
        let write = store.save_daily(
            &pdl,
            SeriesKind::Consumption,
            DayRange::new(d("2023-01-01"), d("2024-01-01")),
            &answer,
            at,
        );
        let cancelled =
            tokio::time::timeout(std::time::Duration::from_micros(budget * 100), write).await;
        let stored = store
            .days(
                &pdl,
                SeriesKind::Consumption,
                d("2023-01-01"),
                d("2023-12-31"),
            )
            .await
            .unwrap()
            .len();
        outcomes.push(stored);
        match cancelled {
            Ok(result) => {
                result.unwrap();
                assert_eq!(stored, 365);
            }
            Err(_) => assert!(
                stored == 0 || stored == 365,
                "{stored} days after cancellation"
            ),
        }
    }
    assert!(
        outcomes.contains(&0),
        "some write must have been cancelled: {outcomes:?}"
    );
    assert_eq!(outcomes.last(), Some(&365));
}

#[tokio::test]
async fn the_store_runs_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn meter_info_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let info = MeterInfo {
        pdl: pdl(),
        activation_date: Some(d("2022-01-10")),
        oldest_available_date: None,
    };
    let at = Utc.with_ymd_and_hms(2024, 1, 16, 9, 0, 0).unwrap();
    store
        .save_meters(std::slice::from_ref(&info), at)
        .await
        .unwrap();
    assert_eq!(store.meter(&pdl()).await.unwrap(), Some((info, at)));
}

#[tokio::test]
async fn the_version_changes_with_each_write_and_not_with_a_read() {
    let dir = tempfile::tempdir().unwrap();
    let at = Utc.with_ymd_and_hms(2024, 1, 16, 9, 0, 0).unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let range = DayRange::new(d("2024-01-01"), d("2024-01-03"));
    let answer = series(&[("2024-01-01", 1000), ("2024-01-02", 2000)]);
    let kind = SeriesKind::Consumption;
    let before = store.version();
    store
        .save_daily(&pdl(), kind, range, &answer, at)
        .await
        .unwrap();
    let saved = store.version();
    assert!(saved > before);
    store
        .days(&pdl(), kind, d("2024-01-01"), d("2024-01-02"))
        .await
        .unwrap();
    store.meter_status(&pdl()).await.unwrap();
    assert_eq!(store.version(), saved, "reads change nothing");
    store
        .record_outcome(&pdl(), at, Some("down"), (1, 100))
        .await
        .unwrap();
    assert!(store.version() > saved);
    // Each month's sum of its known days.
    let months = store
        .monthly_sums(&pdl(), kind, d("2023-12-01"), d("2024-01-31"))
        .await
        .unwrap();
    assert_eq!(months, vec![(d("2024-01-01"), 3000)]);
}
