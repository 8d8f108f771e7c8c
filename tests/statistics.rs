//! The statistics client against a fake Home Assistant websocket that enforces each
//! release's schema: the legacy metadata before 2025.11, `mean_type`/`unit_class` from it,
//! starts on the hour, increasing ids; faults (a refused token, a refused chunk, a dropped
//! connection) and the resume from the last row Home Assistant holds.

mod support;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Paris;
use myelectricaldata_mqtt::model::{CurveInterval, Pdl, Secret};
use myelectricaldata_mqtt::statistics::{
    HaError, HomeAssistant, LastRow, ROWS_PER_MESSAGE, SeriesHistory, StatisticKind, StatisticRow,
    metadata, rows, slots, statistic_id,
};
use serde_json::json;
use support::{FakeHomeAssistant, T, day, within};

const TOKEN: &str = "ha-token-NEVER-SHOW-31f7";

fn now() -> DateTime<Utc> {
    "2024-01-16T09:00:00Z".parse().unwrap()
}

fn pdl() -> Pdl {
    Pdl::parse("12345678901234").unwrap()
}

/// Daily consumption from `from` to the 15th of January 2024, 10 kWh a day.
fn history(from: NaiveDate) -> SeriesHistory {
    SeriesHistory {
        days: from
            .iter_days()
            .take_while(|d| *d <= day(2024, 1, 15))
            .map(|d| (d, Some(10_000)))
            .collect(),
        curve: BTreeMap::new(),
        load_curve: false,
    }
}

/// The same, with a complete half-hourly curve (1000 W) for the last `curve_days` days: those
/// days become hourly rows.
fn with_curve(mut history: SeriesHistory, curve_days: u64) -> SeriesHistory {
    let first = day(2024, 1, 15) - chrono::Days::new(curve_days - 1);
    for date in first.iter_days().take_while(|d| *d <= day(2024, 1, 15)) {
        let start = Paris
            .from_local_datetime(&date.and_time(NaiveTime::MIN))
            .unwrap();
        let end = Paris
            .from_local_datetime(&(date + chrono::Days::new(1)).and_time(NaiveTime::MIN))
            .unwrap();
        let mut at = start.with_timezone(&Utc);
        let mut intervals = Vec::new();
        while at < end.with_timezone(&Utc) {
            intervals.push(CurveInterval {
                start: at,
                start_local: at.with_timezone(&Paris).naive_local(),
                minutes: 30,
                watts: 1000,
            });
            at += chrono::Duration::minutes(30);
        }
        history.curve.insert(date, intervals);
    }
    history.load_curve = true;
    history
}

/// The rows to send after `last`, as the program makes them.
fn energy_rows(history: &SeriesHistory, last: Option<LastRow>) -> Vec<StatisticRow> {
    let slots = slots(history, last, day(2024, 1, 16));
    rows(&slots, last, |s| Some(s.kwh()))
}

async fn connect(ha: &FakeHomeAssistant) -> HomeAssistant {
    let url = ha.url().parse().unwrap();
    within(
        T,
        "connect",
        HomeAssistant::connect(&url, &Secret::new(TOKEN)),
    )
    .await
    .expect("connected")
}

/// One import as the program runs it: the last row, then what comes after it.
async fn import(ha: &FakeHomeAssistant, history: &SeriesHistory) -> Result<usize, HaError> {
    let mut client = connect(ha).await;
    let id = statistic_id(&pdl(), StatisticKind::Consumption);
    let meta = metadata(
        &id,
        "MyElectricalData - Maison consommation",
        StatisticKind::Consumption,
        client.version,
    );
    let last = within(T, "last row", client.last_row(&id, now())).await?;
    let rows = energy_rows(history, last);
    let sent = within(T, "import", client.import(&meta, &rows)).await;
    client.close().await;
    sent
}

#[tokio::test]
async fn three_years_go_in_chunks_and_a_rerun_sends_nothing() {
    for version in ["2025.4.4", "2026.11.0"] {
        let ha = FakeHomeAssistant::start(version, TOKEN);
        let history = history(day(2021, 1, 16));
        let messages = import(&ha, &history).await.expect("imported");
        assert_eq!(messages, 1095usize.div_ceil(ROWS_PER_MESSAGE), "{version}");
        let id = statistic_id(&pdl(), StatisticKind::Consumption);
        let stored = ha.rows(&id);
        assert_eq!(stored.len(), 1095, "{version}: {:?}", ha.refusals());
        assert_eq!((stored[0].state, stored[0].sum), (10.0, 10.0));
        assert_eq!(stored.last().unwrap().sum, 10_950.0);
        let meta = ha.metadata(&id).unwrap();
        match version {
            "2025.4.4" => assert_eq!(meta["has_mean"], json!(false)),
            _ => assert_eq!(
                (&meta["mean_type"], &meta["unit_class"]),
                (&json!(0), &json!("energy"))
            ),
        }
        // A rerun (a restart, or a lost store with the same days): nothing is sent again.
        let again = import(&ha, &history).await.expect("the rerun");
        assert_eq!(again, 0, "{version}");
        assert_eq!(ha.rows(&id), stored, "{version}: no sum moved");
        assert!(ha.refusals().is_empty(), "{version}: {:?}", ha.refusals());
    }
}

#[tokio::test]
async fn each_release_refuses_the_other_s_metadata() {
    let id = statistic_id(&pdl(), StatisticKind::Consumption);
    let row = [StatisticRow {
        start: "2024-01-14T23:00:00Z".parse().unwrap(),
        state: 1.0,
        sum: 1.0,
    }];
    for (version, other) in [("2025.4.4", "2026.11.0"), ("2026.11.0", "2025.4.4")] {
        let ha = FakeHomeAssistant::start(version, TOKEN);
        let mut client = connect(&ha).await;
        let wrong = metadata(&id, "n", StatisticKind::Consumption, other.parse_version());
        let refused = client.import(&wrong, &row).await.unwrap_err();
        assert!(
            matches!(refused, HaError::Refused { ref code, .. } if code == "invalid_format"),
            "{version}: {refused}"
        );
        let right = metadata(&id, "n", StatisticKind::Consumption, client.version);
        assert_eq!(client.import(&right, &row).await, Ok(1), "{version}");
    }
}

trait ParseVersion {
    fn parse_version(&self) -> Option<myelectricaldata_mqtt::statistics::HaVersion>;
}

impl ParseVersion for &str {
    fn parse_version(&self) -> Option<myelectricaldata_mqtt::statistics::HaVersion> {
        myelectricaldata_mqtt::statistics::HaVersion::parse(self)
    }
}

#[tokio::test]
async fn a_refused_token_is_one_line_without_the_token() {
    let ha = FakeHomeAssistant::start("2025.4.4", "another-token");
    let url = ha.url().parse().unwrap();
    let refused = HomeAssistant::connect(&url, &Secret::new(TOKEN))
        .await
        .err()
        .unwrap();
    assert!(matches!(refused, HaError::Unauthorized(_)), "{refused}");
    let line = refused.to_string();
    assert!(
        line.contains("ha_token") && !line.contains(TOKEN) && !line.contains('\n'),
        "{line}"
    );
}

#[tokio::test]
async fn an_answer_over_four_mebibytes_is_refused_not_held() {
    let ha = FakeHomeAssistant::start("2025.4.4", TOKEN);
    ha.pad_answers(5 * 1024 * 1024);
    let refused = import(&ha, &history(day(2024, 1, 1))).await.unwrap_err();
    let line = refused.to_string();
    assert!(!line.contains('\n') && line.len() < 300, "{line}");
    assert!(
        ha.rows(&statistic_id(&pdl(), StatisticKind::Consumption))
            .is_empty()
    );
}

#[tokio::test]
async fn home_assistant_down_is_unreachable() {
    let port = support::free_port();
    let url = format!("ws://127.0.0.1:{port}/api/websocket")
        .parse()
        .unwrap();
    let down = HomeAssistant::connect(&url, &Secret::new(TOKEN))
        .await
        .err()
        .unwrap();
    assert!(matches!(down, HaError::Unreachable { .. }), "{down}");
}

#[tokio::test]
async fn a_refused_chunk_or_a_dropped_connection_loses_and_doubles_nothing() {
    let id = statistic_id(&pdl(), StatisticKind::Consumption);
    // 1035 daily rows and 60 days of hourly ones: two chunks.
    let history = with_curve(history(day(2021, 1, 16)), 60);
    let reference = FakeHomeAssistant::start("2025.4.4", TOKEN);
    assert_eq!(import(&reference, &history).await, Ok(2));
    let all = reference.rows(&id);
    assert_eq!(all.len(), 1035 + 60 * 24);
    assert!(
        all.windows(2).all(|w| w[1].sum > w[0].sum),
        "sums grow row after row"
    );

    // The connection drops once the first chunk is taken: it stays, the rest is not there.
    let dropped = FakeHomeAssistant::start("2025.4.4", TOKEN);
    dropped.drop_after_imports(1);
    assert_eq!(import(&dropped, &history).await, Err(HaError::Closed));
    let kept = dropped.rows(&id).len();
    assert!(kept > 0 && kept <= ROWS_PER_MESSAGE, "{kept} rows");
    assert_eq!(
        dropped.rows(&id)[..],
        all[..kept],
        "whole days of the first chunk"
    );
    // A chunk refused: nothing of it is kept.
    let refusing = FakeHomeAssistant::start("2025.4.4", TOKEN);
    refusing.refuse_imports(1);
    let refused = import(&refusing, &history).await.unwrap_err();
    assert!(matches!(refused, HaError::Refused { .. }), "{refused}");
    assert!(refusing.rows(&id).is_empty());
    // The faults gone, the next run resumes after Home Assistant's last row: the history
    // ends exactly as the clean import's, nothing lost, nothing doubled.
    dropped.drop_after_imports(usize::MAX);
    for fake in [&dropped, &refusing] {
        import(fake, &history).await.expect("the resume");
        let rows = fake.rows(&id);
        assert_eq!(rows.len(), all.len());
        assert!(
            rows == all,
            "the resumed history differs from the clean one"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A meter's statistics from the store

mod from_the_store {
    use myelectricaldata_mqtt::config::{Language, MeterSettings};
    use myelectricaldata_mqtt::model::{
        DailyReading, DailySeries, DayRange, LoadCurvePoint, Prices, SeriesKind, Tariff,
    };
    use myelectricaldata_mqtt::statistics::import_meter;
    use myelectricaldata_mqtt::store::Store;

    use super::*;

    fn meter() -> MeterSettings {
        MeterSettings {
            pdl: pdl(),
            name: "Maison".into(),
            token: None,
            consumption: true,
            production: true,
            load_curve: true,
            tariff: Tariff::Base,
            prices: Prices {
                base: Some(0.25),
                ..Prices::default()
            },
            offpeak_hours: None,
            tempo_prices_from_gateway: false,
        }
    }

    /// Every day of `range` at 10 kWh (consumption) and 2 kWh (production).
    async fn save_days(store: &Store, range: DayRange) {
        for (kind, wh) in [
            (SeriesKind::Consumption, 10_000),
            (SeriesKind::Production, 2_000),
        ] {
            let readings = range.days().map(|date| DailyReading { date, wh }).collect();
            let series = DailySeries {
                quality: Some("BRUT".into()),
                readings,
            };
            store
                .save_daily(&pdl(), kind, range, &series, now())
                .await
                .unwrap();
        }
    }

    /// A whole half-hourly consumption curve at 1000 W for `day` (the 00:30 point first).
    async fn save_curve(store: &Store, date: NaiveDate) {
        let points: Vec<LoadCurvePoint> = (1..=48)
            .map(|slot| LoadCurvePoint {
                end: date.and_time(NaiveTime::MIN) + chrono::Duration::minutes(30 * slot),
                watts: 1000,
                interval_minutes: 30,
            })
            .collect();
        let range = DayRange::new(date, date + chrono::Days::new(1));
        let kind = SeriesKind::Consumption;
        store
            .save_load_curve(&pdl(), kind, range, &points, now())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn consumption_production_and_cost_continue_day_after_day() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        save_days(&store, DayRange::new(day(2024, 1, 1), day(2024, 1, 16))).await;
        save_curve(&store, day(2024, 1, 10)).await;
        let ha = FakeHomeAssistant::start("2025.4.4", TOKEN);
        let mut client = connect(&ha).await;
        let report = import_meter(&mut client, &store, &meter(), Language::Fr, now())
            .await
            .expect("imported");
        let consumption = ha.rows(&statistic_id(&pdl(), StatisticKind::Consumption));
        let cost = ha.rows(&statistic_id(&pdl(), StatisticKind::ConsumptionCost));
        let production = ha.rows(&statistic_id(&pdl(), StatisticKind::Production));
        // The 10th hourly (24 rows); the 1st–9th and 11th–12th daily; the 13th–15th wait
        // for their curve (3 days).
        assert_eq!(consumption.len(), 9 + 24 + 2, "{:?}", ha.refusals());
        assert_eq!(consumption.last().unwrap().sum, 11.0 * 10.0 + 24.0 * 1.0);
        assert_eq!(cost.len(), consumption.len());
        assert_eq!(cost.last().unwrap().sum, (11.0 * 10.0 + 24.0) * 0.25);
        // Production has no curve here (the meter fetches none for it): it waits too.
        assert_eq!(production.len(), 12);
        assert_eq!(report.rows, consumption.len() * 2 + production.len());
        let meta = ha
            .metadata(&statistic_id(&pdl(), StatisticKind::ConsumptionCost))
            .unwrap();
        assert_eq!(
            meta["name"],
            json!("MyElectricalData - Maison coût de la consommation")
        );
        assert_eq!(meta["unit_of_measurement"], json!("EUR"));

        // A rerun changes nothing.
        let again = import_meter(&mut client, &store, &meter(), Language::Fr, now()).await;
        assert_eq!(again.unwrap().rows, 0);

        // The next day the curves of the 13th to the 16th have come: hourly rows after the
        // last one, and no earlier sum moves.
        save_days(&store, DayRange::new(day(2024, 1, 16), day(2024, 1, 17))).await;
        for date in day(2024, 1, 13).iter_days().take(4) {
            save_curve(&store, date).await;
        }
        let tomorrow = now() + chrono::Duration::days(1);
        import_meter(&mut client, &store, &meter(), Language::Fr, tomorrow)
            .await
            .expect("the next day");
        let later = ha.rows(&statistic_id(&pdl(), StatisticKind::Consumption));
        assert_eq!(
            later[..consumption.len()],
            consumption[..],
            "earlier rows untouched"
        );
        assert_eq!(later.len(), consumption.len() + 4 * 24);
        assert_eq!(later.last().unwrap().sum, 134.0 + 96.0);
        let hours = later.windows(2).skip(consumption.len());
        assert!(
            hours
                .into_iter()
                .all(|w| w[1].start - w[0].start == chrono::Duration::hours(1))
        );
        client.close().await;
    }
}

// ---------------------------------------------------------------------------------------------
// The pipeline: a sync, then the import, and the status line when Home Assistant is away

mod through_the_pipeline {
    use support::gateway::DEFAULT_PDL;
    use support::{Generation, Harness, Published, Series, assert_ok, meter, sync};

    use super::*;

    fn harness(ha_url: &str) -> Harness {
        let top = json!({
            "tempo": false,
            "ecowatt": false,
            "ha_url": ha_url,
            "ha_token": TOKEN,
        });
        let options = json!({ "load_curve": true, "price_base": 0.25 });
        let h = Harness::new(
            Generation::V2,
            "2024-01-16T09:00:00Z",
            &[meter(DEFAULT_PDL, options)],
            top,
        );
        h.gw.set_pdls(&[(DEFAULT_PDL, Some(day(2024, 1, 1)))]);
        h.gw.fill(
            DEFAULT_PDL,
            Series::Consumption,
            day(2024, 1, 1),
            day(2024, 1, 31),
            |_| 24_000,
        );
        h.gw.fill_curve(
            DEFAULT_PDL,
            Series::Consumption,
            day(2024, 1, 1),
            day(2024, 1, 31),
            |_| 1000,
        );
        h
    }

    #[tokio::test]
    async fn a_sync_then_the_import_and_home_assistant_away_is_one_status_line() {
        let ha = FakeHomeAssistant::start("2025.4.4", TOKEN);
        let h = harness(&ha.url());
        let p = h.open().await;
        assert_ok(&sync(&p).await);
        assert!(p.import_statistics().await);
        let id = statistic_id(&pdl(), StatisticKind::Consumption);
        // The 1st to the 15th, hour by hour (the curve is complete), 1 kWh an hour.
        let rows = ha.rows(&id);
        assert_eq!(rows.len(), 15 * 24, "{:?}", ha.refusals());
        assert_eq!(rows.last().unwrap().sum, 360.0);
        let cost = ha.rows(&statistic_id(&pdl(), StatisticKind::ConsumptionCost));
        assert_eq!(cost.last().unwrap().sum, 90.0);
        let status = Published::of(&p).await.state(DEFAULT_PDL, "status");
        assert_eq!(
            (&status["state"], &status["statistics"]),
            (&json!("ok"), &json!(null))
        );

        // Home Assistant away: the values and the MQTT side go on; the status says it once.
        drop(ha);
        let away = harness(&format!(
            "ws://127.0.0.1:{}/api/websocket",
            support::free_port()
        ));
        let p2 = away.open().await;
        assert_ok(&sync(&p2).await);
        assert!(!p2.import_statistics().await);
        let published = Published::of(&p2).await;
        let status = published.state(DEFAULT_PDL, "status");
        assert_eq!(status["state"], json!("ok"), "{status}");
        let line = status["statistics"].as_str().expect("a line");
        assert!(
            line.starts_with("statistics: cannot reach Home Assistant"),
            "{line}"
        );
        assert!(!line.contains(TOKEN) && !line.contains('\n'), "{line}");
        assert_eq!(status["message"], json!(line));
        assert_eq!(
            published.state(DEFAULT_PDL, "consumption/daily")["date"],
            json!("2024-01-15")
        );
    }
}
