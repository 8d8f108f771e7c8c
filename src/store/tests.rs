use chrono::{NaiveDate, TimeZone, Utc};

use super::backend::Text;
use super::*;
use crate::model::{
    AccessInfo, Contract, DailyReading, DailySeries, DayRange, EcowattDay, LoadCurvePoint,
    MaxPowerReading, MeterInfo, Pdl, SeriesKind, TempoColor, TempoDay, TempoPrices,
};

// The PostgreSQL server the integration tests start (initdb + pg_ctl, a free loopback port).
#[allow(dead_code)]
#[path = "../../tests/support/certs.rs"]
mod certs;
#[allow(dead_code)] // Some of its calls serve only the integration tests.
#[path = "../../tests/support/postgres.rs"]
mod postgres;

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Where a test keeps its store: each back end, new and empty for the test.
enum Place {
    Sqlite(tempfile::TempDir),
    Postgres(postgres::Postgres),
}

impl Place {
    async fn open(&self) -> Store {
        match self {
            Place::Sqlite(dir) => Store::open(dir.path()).await.unwrap(),
            Place::Postgres(server) => Store::open_postgres(&server.url()).await.unwrap(),
        }
    }
}

/// Runs the test `$name(place)` once on each back end, as `$name::sqlite` and
/// `$name::postgres`: the same calls must store and read back the same.
macro_rules! on_both_back_ends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::Place::Sqlite(tempfile::tempdir().unwrap())).await;
            }

            #[tokio::test]
            async fn postgres() {
                super::$name(super::Place::Postgres(super::postgres::Postgres::start())).await;
            }
        }
    )*};
}

on_both_back_ends!(
    answers_survive_a_reopen_and_absent_days_are_marked,
    a_later_answer_without_a_day_never_erases_its_value,
    days_lists_only_known_days_of_the_range_in_order,
    an_interrupted_write_leaves_nothing_half_written,
    meter_info_round_trips,
    every_other_record_round_trips,
    a_load_curve_across_the_autumn_change_keeps_its_25_hours,
    counts_and_statuses_keep_what_they_should,
    a_schema_from_a_newer_version_is_refused_not_downgraded,
    the_version_changes_with_each_write_and_not_with_a_read,
);

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

async fn answers_survive_a_reopen_and_absent_days_are_marked(place: Place) {
    let at = Utc.with_ymd_and_hms(2024, 1, 16, 9, 0, 0).unwrap();
    {
        let store = place.open().await;
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
    let store = place.open().await;
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

async fn a_later_answer_without_a_day_never_erases_its_value(place: Place) {
    let store = place.open().await;
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

async fn days_lists_only_known_days_of_the_range_in_order(place: Place) {
    let store = place.open().await;
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

async fn an_interrupted_write_leaves_nothing_half_written(place: Place) {
    let store = place.open().await;
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
async fn the_sqlite_store_runs_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let backend::Pool::Sqlite(pool) = &store.pool else {
        unreachable!("a SQLite store");
    };
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

async fn meter_info_round_trips(place: Place) {
    let store = place.open().await;
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

async fn the_version_changes_with_each_write_and_not_with_a_read(place: Place) {
    let at = Utc.with_ymd_and_hms(2024, 1, 16, 9, 0, 0).unwrap();
    let store = place.open().await;
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

async fn every_other_record_round_trips(place: Place) {
    let store = place.open().await;
    let at = Utc.with_ymd_and_hms(2024, 1, 16, 9, 0, 0).unwrap();
    let range = DayRange::new(d("2024-01-14"), d("2024-01-17"));
    // Tempo: a known colour, a day asked and not decided, and prices.
    let red = TempoDay {
        date: d("2024-01-15"),
        color: TempoColor::Red,
    };
    store.save_tempo(range, &[red], at).await.unwrap();
    let tempo = store
        .tempo_status(d("2024-01-01"), d("2024-01-31"))
        .await
        .unwrap();
    assert_eq!(
        tempo.into_iter().collect::<Vec<_>>(),
        vec![
            (d("2024-01-14"), None),
            (d("2024-01-15"), Some(TempoColor::Red)),
            (d("2024-01-16"), None)
        ]
    );
    let prices = TempoPrices {
        blue_hc: Some(0.1296),
        red_hp: Some(0.7562),
        ..TempoPrices::default()
    };
    store.save_tempo_prices(&prices, at).await.unwrap();
    assert_eq!(store.tempo_prices().await.unwrap(), Some((prices, at)));
    // EcoWatt, its 24 hourly levels included.
    let signal = EcowattDay {
        date: d("2024-01-16"),
        level: 2,
        message: Some("Tendu".into()),
        hours: (0..24).map(|h| 1 + u8::from(h > 17)).collect(),
    };
    store
        .save_ecowatt(std::slice::from_ref(&signal), at)
        .await
        .unwrap();
    assert_eq!(
        store.ecowatt(d("2024-01-16")).await.unwrap(),
        Some((signal, at))
    );
    // The contract, and a day's peak with its local time.
    let contract = Contract {
        subscribed_kva: Some(9),
        distribution_tariff: Some("HC/HP".into()),
        offpeak_hours: Some("HC (22H00-6H00)".into()),
        activation_date: Some(d("2019-03-02")),
        status: None,
    };
    store.save_contract(&pdl(), &contract, at).await.unwrap();
    assert_eq!(store.contract(&pdl()).await.unwrap(), Some((contract, at)));
    let peak_at = d("2024-01-15").and_hms_opt(19, 2, 30).unwrap();
    let peak = MaxPowerReading {
        date: d("2024-01-15"),
        va: 6120,
        at: Some(peak_at),
    };
    store
        .save_max_power(&pdl(), range, &[peak], at)
        .await
        .unwrap();
    let peaks = store
        .max_power_status(&pdl(), d("2024-01-14"), d("2024-01-16"))
        .await
        .unwrap();
    assert_eq!(
        peaks.values().copied().collect::<Vec<_>>(),
        vec![None, Some(6120), None]
    );
    let latest = store.latest_peak(&pdl()).await.unwrap().unwrap();
    assert_eq!(
        (latest.date, latest.va, latest.at),
        (d("2024-01-15"), 6120, Some(peak_at))
    );
    // Days counted and summed by month, across a year's end.
    let answer = series(&[
        ("2023-12-30", 1000),
        ("2023-12-31", 2000),
        ("2024-01-01", 4000),
    ]);
    let days = DayRange::new(d("2023-12-30"), d("2024-01-02"));
    let kind = SeriesKind::Production;
    store
        .save_daily(&pdl(), kind, days, &answer, at)
        .await
        .unwrap();
    let stored = store.stored_days(&pdl(), kind).await.unwrap();
    assert_eq!(
        stored,
        StoredDays {
            days: 3,
            span: Some((d("2023-12-30"), d("2024-01-01")))
        }
    );
    let months = store
        .monthly_sums(&pdl(), kind, d("2023-01-01"), d("2024-12-31"))
        .await
        .unwrap();
    assert_eq!(
        months,
        vec![(d("2023-12-01"), 3000), (d("2024-01-01"), 4000)]
    );
}

async fn a_load_curve_across_the_autumn_change_keeps_its_25_hours(place: Place) {
    let store = place.open().await;
    let at = Utc.with_ymd_and_hms(2023, 10, 30, 9, 0, 0).unwrap();
    // 2023-10-29 in Paris: 25 hours of 30-minute points, labelled by their local end (the
    // repeated hour 02:00–03:00 twice), the last ending at midnight.
    let day = d("2023-10-29");
    let mut ends: Vec<_> = (1..=50)
        .map(|i| day.and_hms_opt(0, 0, 0).unwrap() + chrono::Duration::minutes(30 * i))
        .collect();
    // Local labels: after 03:00 the clock went back an hour.
    for end in ends.iter_mut().skip(6) {
        *end -= chrono::Duration::hours(1);
    }
    let points: Vec<LoadCurvePoint> = ends
        .iter()
        .enumerate()
        .map(|(i, end)| LoadCurvePoint {
            end: *end,
            watts: 100 + i as i64,
            interval_minutes: 30,
        })
        .collect();
    let kind = SeriesKind::Consumption;
    store
        .save_load_curve(
            &pdl(),
            kind,
            DayRange::new(day, day.succ_opt().unwrap()),
            &points,
            at,
        )
        .await
        .unwrap();
    let coverage = store
        .load_curve_coverage(&pdl(), kind, day, day)
        .await
        .unwrap();
    assert_eq!(coverage.get(&day), Some(&(25 * 60)));
    let intervals = &store.load_curve_days(&pdl(), kind, day, day).await.unwrap()[&day];
    assert_eq!(intervals.len(), 50);
    let starts: Vec<_> = intervals.iter().map(|i| i.start).collect();
    assert!(
        starts
            .windows(2)
            .all(|w| w[1] - w[0] == chrono::Duration::minutes(30))
    );
    assert_eq!(
        intervals[0].start,
        Utc.with_ymd_and_hms(2023, 10, 28, 22, 0, 0).unwrap()
    );
    assert_eq!(intervals[49].watts, 149);
}

async fn counts_and_statuses_keep_what_they_should(place: Place) {
    let store = place.open().await;
    let at = Utc.with_ymd_and_hms(2024, 1, 16, 9, 0, 0).unwrap();
    let today = d("2024-01-16");
    assert_eq!(store.count_call("account", today).await.unwrap(), 1);
    assert_eq!(store.count_call("account", today).await.unwrap(), 2);
    store.raise_calls("account", today, 1).await.unwrap();
    assert_eq!(
        store.calls("account", today).await.unwrap(),
        2,
        "never lowered"
    );
    store.raise_calls("account", today, 50).await.unwrap();
    assert_eq!(store.calls("account", today).await.unwrap(), 50);
    assert_eq!(store.calls("account", d("2024-01-17")).await.unwrap(), 0);
    // A status: access, a failure, then a success that keeps the consent and clears the error.
    let access = AccessInfo {
        valid: true,
        consent_expiration: Some(d("2027-03-01").and_hms_opt(0, 0, 0).unwrap()),
        quota_used: None,
        quota_limit: Some(50),
        quota_reached: false,
        information: None,
    };
    store.record_access(&pdl(), &access, at).await.unwrap();
    store
        .record_outcome(&pdl(), at, Some("gateway down"), (3, 50))
        .await
        .unwrap();
    store
        .record_statistics(&pdl(), Some("no Home Assistant"))
        .await
        .unwrap();
    let later = at + chrono::Duration::hours(1);
    store
        .record_outcome(&pdl(), later, None, (4, 50))
        .await
        .unwrap();
    let status = store.meter_status(&pdl()).await.unwrap();
    assert_eq!(
        status,
        MeterStatus {
            last_success_at: Some(later),
            last_error: None,
            last_error_at: None,
            consent_expiration: access.consent_expiration,
            quota_used: Some(4),
            quota_limit: Some(50),
            access_checked_at: Some(at),
            statistics_error: Some("no Home Assistant".into()),
        }
    );
    // Meters configured, then one of them no more.
    let other = Pdl::parse("98765432109876").unwrap();
    let both = [pdl(), other.clone()];
    assert!(
        store
            .sync_configured_meters(&both, at)
            .await
            .unwrap()
            .is_empty()
    );
    let removed = store.sync_configured_meters(&[pdl()], later).await.unwrap();
    assert_eq!(removed, vec![other]);
}

async fn a_schema_from_a_newer_version_is_refused_not_downgraded(place: Place) {
    let store = place.open().await;
    // What a later version's migration would leave behind.
    const FUTURE: Text = Text::each(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', TRUE, X'00', 1)",
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', TRUE, '\\x00', 1)",
    );
    Sql::new(FUTURE).execute(&store.pool).await.unwrap();
    store.close().await;
    let refused = match &place {
        Place::Sqlite(dir) => Store::open(dir.path()).await,
        Place::Postgres(server) => Store::open_postgres(&server.url()).await,
    };
    let Err(error) = refused else {
        panic!("a newer schema must be refused");
    };
    let line = error.to_string();
    assert!(
        matches!(error, StoreError::NewerSchema { found: 9999, .. }),
        "{line}"
    );
    assert!(line.contains("holds schema version 9999"), "{line}");
    assert!(line.contains("will not downgrade"), "{line}");
}
