//! The statistics in a real Home Assistant (2025.4.4, with its recorder; see
//! `support::real_home_assistant`): what it holds after the first import, a rerun, a day
//! later, a lost store, months later (daily and hourly days mixed, both DST days), and after
//! it was killed in the middle of an import. Each test starts its own Home Assistant.
//!
//! The expected rows are built here from the days the fake gateway serves, independently of
//! the program's own row logic: a day whose load curve was fetched is 23, 24 or 25 hourly
//! rows, any other day one row at 00:00 Paris, and the sums run over all of them.

mod support;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Europe::Paris;
use myelectricaldata_mqtt::model::{Pdl, Secret};
use myelectricaldata_mqtt::pipeline::Pipeline;
use myelectricaldata_mqtt::statistics::{
    CURVE_WAIT_DAYS, HomeAssistant, ImportReport, StatisticKind, import_meter, statistic_id,
};
use serde_json::json;
use support::gateway::DEFAULT_PDL;
use support::{
    Generation, HaRow, Harness, Published, RealHomeAssistant, Series, T, assert_ok, day, meter,
    sync, within,
};

const PRICE: f64 = 0.25;

/// The consumption's constant power on day `d` (W): its curve, and its daily total.
fn watts(d: NaiveDate) -> i64 {
    1000 + 10 * i64::from(d.ordinal() % 50)
}

fn production_wh(d: NaiveDate) -> i64 {
    2000 + i64::from(d.ordinal())
}

fn paris_midnight(d: NaiveDate) -> DateTime<Utc> {
    Paris
        .from_local_datetime(&d.and_time(NaiveTime::MIN))
        .earliest()
        .expect("midnight exists in Paris")
        .with_timezone(&Utc)
}

/// The hours of day `d` in Paris: 23, 24 or 25.
fn hours(d: NaiveDate) -> i64 {
    (paris_midnight(d.succ_opt().unwrap()) - paris_midnight(d)).num_hours()
}

fn consumption_wh(d: NaiveDate) -> i64 {
    watts(d) * hours(d)
}

/// Rows Home Assistant should hold, `(start, kWh)`, for the days `from..=to`: hourly on the
/// days `hourly` says, else one a day.
fn expected_rows(
    from: NaiveDate,
    to: NaiveDate,
    daily_wh: impl Fn(NaiveDate) -> i64,
    hourly: impl Fn(NaiveDate) -> bool,
) -> Vec<(DateTime<Utc>, f64)> {
    let mut rows = Vec::new();
    for d in from.iter_days().take_while(|d| *d <= to) {
        if hourly(d) {
            for hour in 0..hours(d) {
                let start = paris_midnight(d) + TimeDelta::hours(hour);
                rows.push((start, watts(d) as f64 / 1000.0));
            }
        } else {
            rows.push((paris_midnight(d), daily_wh(d) as f64 / 1000.0));
        }
    }
    rows
}

/// `rows` valued at `price` a kWh.
fn priced(rows: &[(DateTime<Utc>, f64)], price: f64) -> Vec<(DateTime<Utc>, f64)> {
    rows.iter()
        .map(|(start, kwh)| (*start, kwh * price))
        .collect()
}

/// Asserts Home Assistant's rows are `expected`, each with its energy and the running sum.
fn assert_rows(what: &str, actual: &[HaRow], expected: &[(DateTime<Utc>, f64)]) {
    let starts = |rows: &[HaRow]| rows.iter().map(|r| r.start).collect::<Vec<_>>();
    let expected_starts: Vec<_> = expected.iter().map(|(s, _)| *s).collect();
    if starts(actual) != expected_starts {
        let missing: Vec<_> = expected_starts
            .iter()
            .filter(|s| !starts(actual).contains(s))
            .collect();
        panic!(
            "{what}: {} rows, expected {}; first missing {:?}; first row {:?}",
            actual.len(),
            expected.len(),
            missing.first(),
            actual.first()
        );
    }
    let mut sum = 0.0;
    for (row, (start, kwh)) in actual.iter().zip(expected) {
        sum += kwh;
        let near = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
        let state = row.state.unwrap_or(f64::NAN);
        assert!(
            near(state, *kwh),
            "{what} at {start}: state {state}, expected {kwh}"
        );
        assert!(
            near(row.sum, sum),
            "{what} at {start}: sum {}, expected {sum}",
            row.sum
        );
    }
}

fn id(kind: StatisticKind) -> String {
    statistic_id(&Pdl::parse(DEFAULT_PDL).unwrap(), kind)
}

/// One meter with consumption (daily, and a half-hourly curve every day) and production
/// (daily only), BASE priced, from `first` to the end of 2024; the clock at `now`.
fn harness(ha: &RealHomeAssistant, first: NaiveDate, now: &str) -> Harness {
    let top = json!({
        "tempo": false,
        "ecowatt": false,
        "ha_url": ha.url(),
        "ha_token": ha.token(),
    });
    let options = json!({ "production": true, "load_curve": true, "price_base": PRICE });
    let h = Harness::new(Generation::V2, now, &[meter(DEFAULT_PDL, options)], top);
    let last = day(2024, 12, 31);
    h.gw.set_pdls(&[(DEFAULT_PDL, Some(first))]);
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        first,
        last,
        consumption_wh,
    );
    h.gw.fill(DEFAULT_PDL, Series::Production, first, last, production_wh);
    h.gw.fill_curve_slots(DEFAULT_PDL, Series::Consumption, first, last, 30, |slot| {
        watts(slot.start.date_naive())
    });
    h
}

/// Brings every statistic of the meter up to date, as `once` and `run` do, and says what was
/// sent.
async fn import(p: &Pipeline, ha: &RealHomeAssistant) -> ImportReport {
    let url = ha.ws_url().parse().expect("a websocket URL");
    let token = Secret::new(ha.token());
    let mut client = within(T, "connect", HomeAssistant::connect(&url, &token))
        .await
        .expect("connected to Home Assistant");
    let meter = &p.settings.meters[0];
    let now = p.clock.now();
    let importing = import_meter(&mut client, &p.store, meter, p.settings.language, now);
    let report = within(T, "import", importing).await.expect("imported");
    client.close().await;
    report
}

/// Production waits for a curve that never comes, then goes in daily: through this day.
fn production_through(today: NaiveDate) -> NaiveDate {
    today - chrono::Days::new(CURVE_WAIT_DAYS + 1)
}

/// What Home Assistant holds of the three statistics, once the last expected row is written,
/// checked against what is expected.
struct Expected {
    consumption: Vec<(DateTime<Utc>, f64)>,
    production: Vec<(DateTime<Utc>, f64)>,
}

impl Expected {
    /// Every day from `first` up to `today` (excluded), consumption hourly on `hourly` days.
    fn new(first: NaiveDate, today: NaiveDate, hourly: impl Fn(NaiveDate) -> bool) -> Self {
        let yesterday = today.pred_opt().unwrap();
        Expected {
            consumption: expected_rows(first, yesterday, consumption_wh, hourly),
            production: expected_rows(first, production_through(today), production_wh, |_| false),
        }
    }

    /// Waits for the last rows, checks all of them, returns them in the order
    /// consumption, cost, production.
    async fn assert_held(&self, ha: &RealHomeAssistant) -> [Vec<HaRow>; 3] {
        let cost = priced(&self.consumption, PRICE);
        let mut held = Vec::new();
        for (kind, expected) in [
            (StatisticKind::Consumption, &self.consumption),
            (StatisticKind::ConsumptionCost, &cost),
            (StatisticKind::Production, &self.production),
        ] {
            let last = expected.last().expect("rows").0;
            let rows = ha.rows_until(&id(kind), last).await;
            assert_rows(&id(kind), &rows, expected);
            held.push(rows);
        }
        held.try_into().expect("three statistics")
    }
}

fn paris_day_rows(rows: &[HaRow], d: NaiveDate) -> usize {
    rows.iter()
        .filter(|r| r.start.with_timezone(&Paris).date_naive() == d)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_goes_in_once_and_no_sum_ever_moves() {
    let ha = RealHomeAssistant::start().await;
    let first = day(2024, 1, 1);
    let h = harness(&ha, first, "2024-04-10T09:00:00Z");
    let p = h.open().await;
    assert_ok(&sync(&p).await);

    // The first import, as `once` runs it: the whole history. The curve was fetched from the
    // 1st of March (the load-curve window): hourly from there, the 23-hour 31st of March too.
    assert!(p.import_statistics().await, "{:#?}", ha.problems());
    let status = Published::of(&p).await.state(DEFAULT_PDL, "status");
    assert_eq!(status["statistics"], json!(null), "{status}");
    let spring = |d| d >= day(2024, 3, 1);
    let first_import = Expected::new(first, day(2024, 4, 10), spring);
    let [consumption, cost, production] = first_import.assert_held(&ha).await;
    assert_eq!(paris_day_rows(&consumption, day(2024, 3, 31)), 23);
    assert_eq!(paris_day_rows(&consumption, day(2024, 2, 29)), 1);
    let ids = ha.statistic_ids().await;
    for (kind, unit) in [
        (StatisticKind::Consumption, "kWh"),
        (StatisticKind::ConsumptionCost, "EUR"),
        (StatisticKind::Production, "kWh"),
    ] {
        let meta = ids
            .iter()
            .find(|m| m["statistic_id"] == id(kind))
            .unwrap_or_else(|| panic!("{} listed: {ids:?}", id(kind)));
        assert_eq!(meta["source"], "myelectricaldata_mqtt", "{meta}");
        assert_eq!(meta["statistics_unit_of_measurement"], unit, "{meta}");
        let name = meta["name"].as_str().expect("a name");
        assert!(name.starts_with("MyElectricalData - "), "{meta}");
    }

    // A rerun sends nothing and changes nothing.
    assert_eq!(import(&p, &ha).await, ImportReport::default());
    assert_eq!(ha.rows(&id(StatisticKind::Consumption)).await, consumption);

    // A day later: the new day only, each sum continuing from the last row.
    h.at("2024-04-11T09:00:00Z");
    assert_ok(&sync(&p).await);
    let report = import(&p, &ha).await;
    assert_eq!(report.rows, 24 + 24 + 1, "{report:?}");
    let day_later = Expected::new(first, day(2024, 4, 11), spring);
    let held = day_later.assert_held(&ha).await;
    for (before, after) in [consumption, cost, production].iter().zip(&held) {
        assert_eq!(
            &after[..before.len()],
            &before[..],
            "an earlier row changed"
        );
    }

    // The store lost (a deleted /data): synced again from the gateway, nothing to send.
    within(T, "close the store", p.store.close()).await;
    drop(p);
    std::fs::remove_dir_all(h.dir.path().join("data")).expect("remove the store");
    let p = h.open().await;
    assert_ok(&sync(&p).await);
    assert_eq!(import(&p, &ha).await, ImportReport::default());
    let [consumption, ..] = day_later.assert_held(&ha).await;

    // Months later: the days since the 11th of April daily (their curve is out of the
    // load-curve window), October and November hourly, the 25-hour 27th of October too.
    h.at("2024-11-10T09:00:00Z");
    assert_ok(&sync(&p).await);
    assert!(p.import_statistics().await, "{:#?}", ha.problems());
    let autumn = |d| spring(d) && d <= day(2024, 4, 10) || d >= day(2024, 10, 1);
    let months_later = Expected::new(first, day(2024, 11, 10), autumn);
    let [all, ..] = months_later.assert_held(&ha).await;
    assert_eq!(&all[..consumption.len()], &consumption[..]);
    assert_eq!(paris_day_rows(&all, day(2024, 10, 27)), 25);
    assert_eq!(paris_day_rows(&all, day(2024, 9, 30)), 1);
    assert_energy_dashboard_accepts(&ha).await;
    assert_eq!(ha.problems(), Vec::<String>::new());
}

/// The statistics set in the Energy dashboard as DOCS.md says (grid consumption with its cost,
/// return to grid): its own validation finds nothing to say.
async fn assert_energy_dashboard_accepts(ha: &RealHomeAssistant) {
    let grid = json!({
        "type": "grid",
        "flow_from": [{
            "stat_energy_from": id(StatisticKind::Consumption),
            "stat_cost": id(StatisticKind::ConsumptionCost),
            "entity_energy_price": null,
            "number_energy_price": null,
        }],
        "flow_to": [{
            "stat_energy_to": id(StatisticKind::Production),
            "stat_compensation": null,
            "entity_energy_price": null,
            "number_energy_price": null,
        }],
        "cost_adjustment_day": 0,
    });
    let prefs = json!({ "type": "energy/save_prefs", "energy_sources": [grid] });
    ha.call(prefs).await;
    let validation = ha.call(json!({ "type": "energy/validate" })).await;
    assert_eq!(
        validation,
        json!({ "energy_sources": [[]], "device_consumption": [] }),
        "the Energy dashboard's validation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_in_the_middle_of_an_import_home_assistant_ends_up_whole() {
    let mut ha = RealHomeAssistant::start().await;
    // Almost three years, October and November hourly: some 6 000 rows, consumption and its
    // cost in two messages each, several seconds of the recorder's work.
    let first = day(2022, 1, 1);
    let h = harness(&ha, first, "2024-11-28T09:00:00Z");
    let p = h.open().await;
    assert_ok(&sync(&p).await);
    let expected = Expected::new(first, day(2024, 11, 28), |d| d >= day(2024, 10, 1));

    // Killed as soon as it wrote the first rows: the rest of what it acknowledged, or the
    // rest of the import, is lost with it.
    let importing = tokio::spawn(async move {
        let all_sent = p.import_statistics().await;
        (p, all_sent)
    });
    let consumption = id(StatisticKind::Consumption);
    let deadline = std::time::Instant::now() + T;
    while ha.rows(&consumption).await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no row written");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    ha.kill();
    let (p, all_sent) = within(T, "the import ends", importing)
        .await
        .expect("no panic");
    ha.start_again().await;
    let consumption_held = ha.rows(&consumption).await.len();
    let production_held = ha.rows(&id(StatisticKind::Production)).await.len();
    eprintln!(
        "after the kill: import {}; Home Assistant held {consumption_held} of {} consumption \
         rows and {production_held} of {} production rows",
        if all_sent {
            "acknowledged"
        } else {
            "interrupted"
        },
        expected.consumption.len(),
        expected.production.len(),
    );
    if !all_sent {
        let status = Published::of(&p).await.state(DEFAULT_PDL, "status");
        let line = status["statistics"]
            .as_str()
            .expect("the failed import in the status");
        assert!(!line.contains(ha.token()) && !line.contains('\n'), "{line}");
    }

    // The next import resumes from the last row Home Assistant holds: whole, nothing doubled.
    assert!(p.import_statistics().await, "{:#?}", ha.problems());
    expected.assert_held(&ha).await;
    let status = Published::of(&p).await.state(DEFAULT_PDL, "status");
    assert_eq!(status["statistics"], json!(null), "{status}");
}
