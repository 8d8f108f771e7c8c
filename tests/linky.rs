//! The Linky meter end to end, at library level: options JSON → `config::load` → `Pipeline`
//! (manual clock) → fake gateway → store → `Pipeline::messages` (discovery configs and state
//! payloads). Each scenario is written once and run for both gateway generations where it
//! applies: v2 (`client_secret`, `/api`) and v1 (a token per meter, root routes).

mod support;

use std::time::Duration;

use chrono::{
    Datelike, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Timelike,
};
use chrono_tz::Europe::Paris;
use myelectricaldata_mqtt::entities::meter::{ENTITIES, TOPICS};
use myelectricaldata_mqtt::gateway::GatewayError;
use myelectricaldata_mqtt::model::{Pdl, SeriesKind};
use myelectricaldata_mqtt::pipeline::Pipeline;
use myelectricaldata_mqtt::store::MeterStatus;
use myelectricaldata_mqtt::sync::{
    LOAD_CURVE_MONTHS, MAX_POWER_DAYS, Part, SyncError, SyncFailure,
};
use serde_json::{Value, json};
use support::gateway::{
    DEFAULT_CONSENT_EXPIRATION, DEFAULT_PDL, DEFAULT_SECRET, DEFAULT_V1_TOKEN, paris_curve_slots,
};
use support::{
    FakeContract, FakeGateway, Fault, FaultOn, GENERATIONS, Generation, Harness, PDL_B, Published,
    RouteKind, Series, T, assert_ok, day, instant, meter, stored_total, sync, within,
};

fn time(h: u32, m: u32, s: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, s).unwrap()
}

fn pdl(text: &str) -> Pdl {
    Pdl::parse(text).unwrap()
}

fn days(from: NaiveDate, to_inclusive: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to_inclusive)
}

/// Distinct, realistic daily consumption (Wh).
fn cons_wh(d: NaiveDate) -> i64 {
    9_000 + i64::from(d.ordinal()) * 37 + i64::from(d.year() % 7)
}

/// Distinct daily production (Wh).
fn prod_wh(d: NaiveDate) -> i64 {
    2_000 + i64::from(d.ordinal()) * 11 + i64::from(d.day())
}

fn sum(from: NaiveDate, to_inclusive: NaiveDate, f: fn(NaiveDate) -> i64) -> i64 {
    days(from, to_inclusive).map(f).sum()
}

/// Wh → kWh as the payloads carry it (3 decimals).
fn kwh(wh: i64) -> f64 {
    (wh as f64 / 1000.0 * 1000.0).round() / 1000.0
}

fn assert_close(actual: &Value, expected: f64, what: &str) {
    let value = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {actual} is not a number"));
    assert!(
        (value - expected).abs() < 1e-9,
        "{what}: {value} instead of {expected}"
    );
}

/// The Linky meters only, both known to both generations of the fake, activated 2022-01-10
/// unless the scenario says otherwise.
/// The sync stopped on a quota (ours or the gateway's).
fn quota_reached(failure: &SyncFailure) -> bool {
    matches!(
        failure.error,
        SyncError::Gateway(GatewayError::QuotaReached(_))
    )
}

fn linky(generation: Generation, now: &str, meters: &[Value]) -> Harness {
    let h = Harness::linky(generation, now, meters);
    let activation = Some(day(2022, 1, 10));
    h.gw.set_pdls(&[(DEFAULT_PDL, activation), (PDL_B, activation)]);
    h
}

/// New options for the meters of a Linky harness.
fn configure(h: &mut Harness, meters: &[Value]) {
    h.configure(meters, json!({ "tempo": false, "ecowatt": false }));
}

async fn status(pipeline: &Pipeline, pdl_text: &str) -> MeterStatus {
    within(
        T,
        "meter status",
        pipeline.store.meter_status(&pdl(pdl_text)),
    )
    .await
    .expect("store")
}

/// The energy payloads a failure must leave untouched.
const ENERGY_PATHS: &[&str] = &[
    "consumption/daily",
    "consumption/yesterday",
    "consumption/weekly",
    "consumption/monthly",
    "consumption/yearly",
    "consumption/max_power",
];

fn energy_payloads(published: &Published, pdl: &str) -> Vec<Value> {
    ENERGY_PATHS
        .iter()
        .map(|path| published.state(pdl, path))
        .collect()
}

fn fill_daily(gw: &FakeGateway, pdl: &str, from: NaiveDate, to_inclusive: NaiveDate) {
    gw.fill(pdl, Series::Consumption, from, to_inclusive, cons_wh);
    gw.fill(pdl, Series::Production, from, to_inclusive, prod_wh);
}

fn fill_max_power(gw: &FakeGateway, pdl: &str, from: NaiveDate, to_inclusive: NaiveDate) {
    gw.fill_max_power(pdl, from, to_inclusive, |d| {
        (3_000 + i64::from(d.ordinal()) * 10, time(19, 42, 10))
    });
}

/// Everything of `pdl` published for `from..=to_inclusive`: daily energy (both series), max
/// power, and a constant 1000 W half-hourly curve (both series) from November 2023 on (the
/// load-curve window of the scenarios).
fn fill_all(gw: &FakeGateway, pdl: &str, from: NaiveDate, to_inclusive: NaiveDate) {
    fill_daily(gw, pdl, from, to_inclusive);
    fill_max_power(gw, pdl, from, to_inclusive);
    let curve_from = from.max(day(2023, 11, 1));
    for series in [Series::Consumption, Series::Production] {
        gw.fill_curve(pdl, series, curve_from, to_inclusive, |_| 1000);
    }
}

fn ceil_div(n: i64, d: i64) -> i64 {
    (n + d - 1) / d
}

fn assert_contiguous(ranges: &[(NaiveDate, NaiveDate)], from: NaiveDate, to: NaiveDate, span: i64) {
    assert_eq!(ranges.first().map(|r| r.0), Some(from), "{ranges:?}");
    assert_eq!(ranges.last().map(|r| r.1), Some(to), "{ranges:?}");
    for (start, end) in ranges {
        assert!(
            start < end && (*end - *start).num_days() <= span,
            "{ranges:?}"
        );
    }
    for pair in ranges.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "contiguous: {ranges:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Call economy

#[tokio::test]
async fn an_empty_store_backfills_every_series_with_the_fewest_calls_then_one_a_day() {
    for generation in GENERATIONS {
        let h = linky(
            generation,
            "2024-01-02T09:00:00Z",
            &[meter(
                DEFAULT_PDL,
                json!({ "production": true, "load_curve": true }),
            )],
        );
        // 397 days of history (the 36-month cap is covered in tests/sync.rs); the day before
        // is New Year's Day.
        let activation = day(2022, 12, 1);
        h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation))]);
        fill_all(&h.gw, DEFAULT_PDL, day(2022, 1, 1), day(2024, 1, 31));
        let p = h.open().await;
        let summary = sync(&p).await;
        assert_ok(&summary);
        assert!(summary.complete, "{generation:?}");

        let today = day(2024, 1, 2);
        let yesterday = day(2024, 1, 1);
        let first = activation.max(today.checked_sub_months(Months::new(36)).unwrap());
        let curve_first = yesterday
            .with_day(1)
            .unwrap()
            .checked_sub_months(Months::new(LOAD_CURVE_MONTHS))
            .unwrap();
        assert_eq!(
            (first, curve_first),
            (day(2022, 12, 1), day(2023, 12, 1)),
            "{generation:?}"
        );
        let daily_calls = ceil_div((today - first).num_days(), 365);
        let curve_calls = ceil_div((today - curve_first).num_days(), 7);
        assert_eq!((daily_calls, curve_calls), (2, 5));
        for series in [Series::Consumption, Series::Production] {
            let daily = h.ranges(RouteKind::Daily(series), DEFAULT_PDL);
            assert_eq!(daily.len() as i64, daily_calls, "{generation:?} {series:?}");
            assert_contiguous(&daily, first, today, 365);
            let curve = h.ranges(RouteKind::Detail(series), DEFAULT_PDL);
            assert_eq!(curve.len() as i64, curve_calls, "{generation:?} {series:?}");
            assert_contiguous(&curve, curve_first, today, 7);
        }
        let power = h.ranges(RouteKind::Power, DEFAULT_PDL);
        assert_eq!(power.len(), 1, "{generation:?}: {power:?}");
        assert_contiguous(
            &power,
            today - chrono::Days::new(MAX_POWER_DAYS),
            today,
            365,
        );
        assert_eq!(h.gw.contract_calls(), 1, "{generation:?}");
        let expected_account = if h.v1() { (0, 1) } else { (1, 0) };
        assert_eq!(h.account_calls(), expected_account, "{generation:?}");
        let total = 2 * (daily_calls + curve_calls) + 1 + 1 + 1;
        assert_eq!(h.requests().len() as i64, total, "{generation:?}");
        assert_eq!(summary.calls as i64, total, "{generation:?}");

        // What the calls brought is in the store.
        let consumption = stored_total(
            &p,
            &pdl(DEFAULT_PDL),
            SeriesKind::Consumption,
            first,
            yesterday,
        )
        .await;
        assert_eq!(
            (consumption.days as i64, consumption.wh),
            ((today - first).num_days(), sum(first, yesterday, cons_wh))
        );
        let production = stored_total(
            &p,
            &pdl(DEFAULT_PDL),
            SeriesKind::Production,
            first,
            yesterday,
        )
        .await;
        assert_eq!(production.wh, sum(first, yesterday, prod_wh));
        for kind in [SeriesKind::Consumption, SeriesKind::Production] {
            let coverage = p
                .store
                .load_curve_coverage(&pdl(DEFAULT_PDL), kind, curve_first, yesterday)
                .await
                .unwrap();
            assert_eq!(coverage.len() as i64, (today - curve_first).num_days());
            assert!(coverage.values().all(|m| *m == 1440), "{coverage:?}");
        }

        // Later the same day: nothing to ask.
        h.gw.clear_requests();
        h.at("2024-01-02T17:00:00Z");
        let summary = sync(&p).await;
        assert_ok(&summary);
        assert!(summary.complete);
        assert_eq!(summary.calls, 0, "{generation:?}");
        assert!(h.requests().is_empty(), "{:?}", h.requests());

        // The next morning: one call per enabled series (and v1's daily access check).
        h.gw.clear_requests();
        h.at("2024-01-03T09:00:00Z");
        let summary = sync(&p).await;
        assert_ok(&summary);
        assert!(summary.complete);
        let new_day = vec![(day(2024, 1, 2), day(2024, 1, 3))];
        for kind in [
            RouteKind::Daily(Series::Consumption),
            RouteKind::Daily(Series::Production),
            RouteKind::Detail(Series::Consumption),
            RouteKind::Detail(Series::Production),
            RouteKind::Power,
        ] {
            assert_eq!(
                h.ranges(kind, DEFAULT_PDL),
                new_day,
                "{generation:?} {kind:?}"
            );
        }
        assert_eq!(h.gw.contract_calls(), 0);
        let expected_account = if h.v1() { (0, 1) } else { (0, 0) };
        assert_eq!(h.account_calls(), expected_account, "{generation:?}");
        assert_eq!(summary.calls as usize, h.requests().len());
        assert_eq!(summary.calls, if h.v1() { 6 } else { 5 });
    }
}

// ---------------------------------------------------------------------------------------------
// Load curve, HC/HP split and costs

/// How a gateway labels the points of a load curve around the autumn DST change.
#[derive(Debug, Clone, Copy)]
enum Labels {
    /// The start's wall clock plus the interval (what the fake serves by default).
    StartClock(u32),
    /// The end instant's own wall clock (`02:00` twice in autumn, `03:00` after `01:30` in
    /// spring).
    EndClock(u32),
}

fn set_constant_curve(
    gw: &FakeGateway,
    pdl: &str,
    from: NaiveDate,
    to: NaiveDate,
    labels: Labels,
    watts: i64,
) {
    match labels {
        Labels::StartClock(minutes) => {
            gw.fill_curve_slots(pdl, Series::Consumption, from, to, minutes, |_| watts)
        }
        Labels::EndClock(minutes) => {
            let points: Vec<(NaiveDateTime, i64, u32)> = days(from, to)
                .flat_map(|d| paris_curve_slots(d, minutes))
                .map(|slot| {
                    let end = (slot.start + TimeDelta::minutes(i64::from(minutes))).naive_local();
                    (end, watts, minutes)
                })
                .collect();
            gw.set_curve(pdl, Series::Consumption, &points);
        }
    }
}

#[tokio::test]
async fn the_hc_hp_split_of_the_23_and_25_hour_days() {
    // (clock, DST day, its length, off-peak kWh, peak kWh, the day's start). Constant 1000 W;
    // off-peak 22H00-6H00 from the contract: the doubled autumn hour is off-peak (7 hours
    // between 00:00 and 06:00), the missing spring hour too (5 hours).
    let cases = [
        (
            "2024-10-28T08:00:00Z",
            day(2024, 10, 27),
            1500,
            9.0,
            16.0,
            "2024-10-27T00:00:00+02:00",
        ),
        (
            "2024-04-01T07:00:00Z",
            day(2024, 3, 31),
            1380,
            7.0,
            16.0,
            "2024-03-31T00:00:00+01:00",
        ),
    ];
    let labels = [
        Labels::StartClock(30),
        Labels::EndClock(30),
        Labels::EndClock(60),
    ];
    for generation in GENERATIONS {
        for (now, dst_day, minutes, hc, hp, day_start) in cases {
            for labels in labels {
                let what = format!("{generation:?} {dst_day} {labels:?}");
                let h = linky(
                    generation,
                    now,
                    &[meter(
                        DEFAULT_PDL,
                        json!({
                            "load_curve": true,
                            "tariff": "HC_HP",
                            "price_hc": 0.2,
                            "price_hp": 0.3,
                        }),
                    )],
                );
                let activation = dst_day - chrono::Days::new(2);
                h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation))]);
                for d in days(activation, dst_day) {
                    let hours = if d == dst_day { minutes / 60 } else { 24 };
                    h.gw.set_day(DEFAULT_PDL, Series::Consumption, d, hours * 1000);
                }
                fill_max_power(&h.gw, DEFAULT_PDL, activation, dst_day);
                set_constant_curve(&h.gw, DEFAULT_PDL, activation, dst_day, labels, 1000);

                let p = h.open().await;
                let summary = sync(&p).await;
                assert_ok(&summary);
                assert!(summary.complete, "{what}");

                // The whole day is stored, placed by the start of each interval.
                let stored = p
                    .store
                    .load_curve_days(
                        &pdl(DEFAULT_PDL),
                        SeriesKind::Consumption,
                        activation,
                        dst_day,
                    )
                    .await
                    .unwrap();
                let intervals = &stored[&dst_day];
                let interval = match labels {
                    Labels::StartClock(m) | Labels::EndClock(m) => m,
                };
                assert_eq!(
                    intervals.len() as i64,
                    minutes / i64::from(interval),
                    "{what}"
                );
                let wh: f64 = intervals.iter().map(|i| i.wh()).sum();
                assert!(
                    (wh - (minutes * 1000 / 60) as f64).abs() < 1e-6,
                    "{what}: {wh}"
                );
                assert_eq!(intervals[0].start_local, dst_day.and_time(NaiveTime::MIN));
                for normal in days(activation, dst_day - chrono::Days::new(1)) {
                    assert_eq!(stored[&normal].len() as u32, 1440 / interval, "{what}");
                }

                let published = Published::of(&p).await;
                let split = published.state(DEFAULT_PDL, "consumption/hchp");
                assert_eq!(split["date"], json!(dst_day.to_string()), "{what}");
                assert_eq!(split["unit"], json!("kWh"));
                assert_close(&split["hc"], hc, &format!("{what}: hc"));
                assert_close(&split["hp"], hp, &format!("{what}: hp"));
                assert_eq!(split["last_reset"], json!(day_start), "{what}");

                let daily = published.state(DEFAULT_PDL, "consumption/daily");
                assert_close(&daily["value"], hc + hp, &format!("{what}: daily"));

                // Costs from the split: 0.2 off-peak, 0.3 peak; the month holds the two
                // normal days before (8 + 16 kWh each).
                let cost = published.state(DEFAULT_PDL, "cost/daily");
                assert_close(
                    &cost["value"],
                    hc * 0.2 + hp * 0.3,
                    &format!("{what}: cost"),
                );
                assert_eq!(cost["date"], json!(dst_day.to_string()));
                assert_eq!(cost["tariff"], json!("HC_HP"));
                let monthly = published.state(DEFAULT_PDL, "cost/monthly");
                let expected = ((hc * 0.2 + hp * 0.3 + 2.0 * 6.4) * 100.0).round() / 100.0;
                assert_close(&monthly["value"], expected, &format!("{what}: monthly"));
                assert_eq!(monthly["days"], json!(3), "{what}");
                assert_eq!(
                    monthly["month"],
                    json!(format!("{:04}-{:02}", dst_day.year(), dst_day.month()))
                );
            }
        }
    }
}

#[tokio::test]
async fn load_curve_points_count_from_the_start_of_their_interval() {
    // A point stamped 06:00 covers 05:30–06:00 (off-peak); one stamped 22:00 covers
    // 21:30–22:00 (peak); the `00:00:00` point closes the day before.
    for generation in GENERATIONS {
        let h = linky(
            generation,
            "2024-01-16T09:00:00Z",
            &[meter(DEFAULT_PDL, json!({ "load_curve": true }))],
        );
        h.gw.set_pdls(&[(DEFAULT_PDL, Some(day(2024, 1, 14)))]);
        fill_daily(&h.gw, DEFAULT_PDL, day(2024, 1, 14), day(2024, 1, 15));
        h.gw.fill_curve(
            DEFAULT_PDL,
            Series::Consumption,
            day(2024, 1, 14),
            day(2024, 1, 15),
            |end| match (end.time().hour(), end.time().minute()) {
                (6, 0) => 3000,
                (22, 0) => 5000,
                (0, 0) => 7000,
                _ => 1000,
            },
        );
        let p = h.open().await;
        assert_ok(&sync(&p).await);

        let stored = p
            .store
            .load_curve_days(
                &pdl(DEFAULT_PDL),
                SeriesKind::Consumption,
                day(2024, 1, 14),
                day(2024, 1, 15),
            )
            .await
            .unwrap();
        let last = stored[&day(2024, 1, 15)].last().copied().unwrap();
        assert_eq!(last.start_local, day(2024, 1, 15).and_time(time(23, 30, 0)));
        assert_eq!((last.watts, last.minutes), (7000, 30), "{generation:?}");
        assert_eq!(stored[&day(2024, 1, 15)].len(), 48);

        // Off-peak: 8 h at 1000 W, + 0.5 h × 2000 W more (05:30) + 0.5 h × 6000 W more (23:30).
        // Peak: 16 h at 1000 W + 0.5 h × 4000 W more (21:30).
        let split = Published::of(&p)
            .await
            .state(DEFAULT_PDL, "consumption/hchp");
        assert_eq!(split["date"], json!("2024-01-15"), "{generation:?}");
        assert_close(&split["hc"], 12.0, "hc");
        assert_close(&split["hp"], 18.0, "hp");
    }
}

#[tokio::test]
async fn offpeak_hours_come_from_the_contract_unless_the_option_says_otherwise() {
    for generation in GENERATIONS {
        let options = json!({
            "load_curve": true,
            "tariff": "HC_HP",
            "price_hc": 0.2,
            "price_hp": 0.3,
        });
        // 13:00 in Paris.
        let mut h = linky(
            generation,
            "2024-01-16T12:00:00Z",
            &[meter(DEFAULT_PDL, options.clone())],
        );
        let activation = day(2024, 1, 14);
        h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation))]);
        h.gw.set_contract(
            DEFAULT_PDL,
            FakeContract::new(9, Some("HC (1H30-8H00;12H30-14H00)"), Some(activation)),
        );
        fill_daily(&h.gw, DEFAULT_PDL, activation, day(2024, 1, 15));
        h.gw.fill_curve(
            DEFAULT_PDL,
            Series::Consumption,
            activation,
            day(2024, 1, 15),
            |_| 1000,
        );
        let p = h.open().await;
        assert_ok(&sync(&p).await);

        // The contract's two ranges: 6.5 h + 1.5 h off-peak.
        let published = Published::of(&p).await;
        let split = published.state(DEFAULT_PDL, "consumption/hchp");
        assert_close(&split["hc"], 8.0, &format!("{generation:?} contract hc"));
        assert_close(&split["hp"], 16.0, &format!("{generation:?} contract hp"));
        assert_close(
            &published.state(DEFAULT_PDL, "cost/daily")["value"],
            6.4,
            "cost",
        );
        let price = published.state(DEFAULT_PDL, "price/current");
        assert_eq!(
            price["period"],
            json!("HC"),
            "13:00 is off-peak by the contract"
        );
        assert_close(&price["value"], 0.2, "price");

        // The option wins: 20:00-06:00 is 10 h off-peak, and 13:00 is peak.
        configure(
            &mut h,
            &[meter(
                DEFAULT_PDL,
                json!({
                    "load_curve": true,
                    "tariff": "HC_HP",
                    "price_hc": 0.2,
                    "price_hp": 0.3,
                    "offpeak_hours": "20H00-6H00",
                }),
            )],
        );
        let p = h.reopen(p).await;
        let published = Published::of(&p).await;
        let split = published.state(DEFAULT_PDL, "consumption/hchp");
        assert_close(&split["hc"], 10.0, &format!("{generation:?} option hc"));
        assert_close(&split["hp"], 14.0, &format!("{generation:?} option hp"));
        assert_close(
            &published.state(DEFAULT_PDL, "cost/daily")["value"],
            6.2,
            "cost",
        );
        let price = published.state(DEFAULT_PDL, "price/current");
        assert_eq!(price["period"], json!("HP"), "13:00 is peak by the option");
        assert_close(&price["value"], 0.3, "price");

        // 21:00 in Paris: off-peak by the option (peak by the contract).
        h.clock.set(instant("2024-01-16T20:00:00Z"));
        let price = Published::of(&p).await.state(DEFAULT_PDL, "price/current");
        assert_eq!(price["period"], json!("HC"));
        assert_close(&price["value"], 0.2, "price");
        assert_eq!(price["unit"], json!("EUR/kWh"));
    }
}

#[tokio::test]
async fn max_power_is_in_va_with_its_time_and_the_subscribed_power_of_the_contract() {
    for generation in GENERATIONS {
        let h = linky(
            generation,
            "2024-01-16T09:00:00Z",
            &[meter(DEFAULT_PDL, json!({}))],
        );
        let activation = day(2024, 1, 1);
        // The account says 9 kVA; the contract (which decides) 12 kVA.
        h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation))]);
        h.gw.set_contract(
            DEFAULT_PDL,
            FakeContract::new(12, Some("HC (22H00-6H00)"), Some(activation)),
        );
        fill_daily(&h.gw, DEFAULT_PDL, activation, day(2024, 1, 20));
        h.gw.set_max_power(DEFAULT_PDL, day(2024, 1, 14), 6_120, time(7, 5, 0));
        h.gw.set_max_power(DEFAULT_PDL, day(2024, 1, 15), 12_540, time(19, 42, 10));
        let p = h.open().await;
        assert_ok(&sync(&p).await);

        let published = Published::of(&p).await;
        let peak = published.state(DEFAULT_PDL, "consumption/max_power");
        assert_eq!(peak["value"], json!(12_540), "{generation:?}: VA, not kVA");
        assert_eq!(peak["unit"], json!("VA"));
        assert_eq!(peak["date"], json!("2024-01-15"));
        assert_eq!(peak["time"], json!("19:42:10"));
        assert_eq!(peak["subscribed"], json!(12_000));
        assert_eq!(peak["exceeded"], json!(true));
        let config = published.config(DEFAULT_PDL, "consumption_max_power");
        assert_eq!(config["device_class"], json!("apparent_power"));
        assert_eq!(config["unit_of_measurement"], json!("VA"));
        assert_eq!(config["state_class"], json!("measurement"));

        // The next day's peak stays under the subscribed power.
        h.at("2024-01-17T09:00:00Z");
        h.gw.set_max_power(DEFAULT_PDL, day(2024, 1, 16), 6_120, time(7, 5, 0));
        assert_ok(&sync(&p).await);
        let peak = Published::of(&p)
            .await
            .state(DEFAULT_PDL, "consumption/max_power");
        assert_eq!(peak["value"], json!(6_120), "{generation:?}");
        assert_eq!(peak["date"], json!("2024-01-16"));
        assert_eq!(peak["time"], json!("07:05:00"));
        assert_eq!(peak["subscribed"], json!(12_000));
        assert_eq!(peak["exceeded"], json!(false));
    }
}

#[tokio::test]
async fn base_costs_per_day_and_month_to_date() {
    for generation in GENERATIONS {
        let h = linky(
            generation,
            "2024-01-16T09:00:00Z",
            &[meter(DEFAULT_PDL, json!({ "price_base": 0.2516 }))],
        );
        h.gw.set_pdls(&[(DEFAULT_PDL, Some(day(2023, 12, 1)))]);
        fill_daily(&h.gw, DEFAULT_PDL, day(2023, 12, 1), day(2024, 1, 31));
        let p = h.open().await;
        assert_ok(&sync(&p).await);

        let published = Published::of(&p).await;
        let round2 = |x: f64| (x * 100.0).round() / 100.0;
        let daily = published.state(DEFAULT_PDL, "cost/daily");
        assert_close(
            &daily["value"],
            round2(cons_wh(day(2024, 1, 15)) as f64 / 1000.0 * 0.2516),
            &format!("{generation:?} daily"),
        );
        assert_eq!(daily["unit"], json!("EUR"));
        assert_eq!(daily["date"], json!("2024-01-15"));
        assert_eq!(daily["tariff"], json!("BASE"));
        let monthly = published.state(DEFAULT_PDL, "cost/monthly");
        assert_close(
            &monthly["value"],
            round2(sum(day(2024, 1, 1), day(2024, 1, 15), cons_wh) as f64 / 1000.0 * 0.2516),
            &format!("{generation:?} monthly"),
        );
        assert_eq!(monthly["month"], json!("2024-01"));
        assert_eq!(monthly["days"], json!(15));
        assert_eq!(monthly["tariff"], json!("BASE"));
        let price = published.state(DEFAULT_PDL, "price/current");
        assert_eq!(
            price,
            json!({
                "value": 0.2516,
                "unit": "EUR/kWh",
                "period": "BASE",
                "color": null,
                "tariff": "BASE",
            })
        );
        for key in ["cost_daily", "cost_monthly"] {
            let config = published.config(DEFAULT_PDL, key);
            assert_eq!(config["device_class"], json!("monetary"));
            assert_eq!(config["unit_of_measurement"], json!("EUR"));
            assert_eq!(config["state_class"], json!("total"));
        }
        published.config(DEFAULT_PDL, "price_current");
        let status = published.state(DEFAULT_PDL, "status");
        assert_eq!(status["state"], json!("ok"));
        assert_eq!(status["message"], Value::Null);
    }
}

#[tokio::test]
async fn hc_hp_costs_need_the_load_curve() {
    for generation in GENERATIONS {
        let prices = json!({ "tariff": "HC_HP", "price_hc": 0.2068, "price_hp": 0.27 });
        let mut with_curve = prices.clone();
        with_curve["load_curve"] = json!(true);
        let mut h = linky(
            generation,
            "2024-01-16T09:00:00Z",
            &[meter(DEFAULT_PDL, with_curve)],
        );
        let activation = day(2023, 12, 20);
        h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation))]);
        fill_daily(&h.gw, DEFAULT_PDL, activation, day(2024, 1, 15));
        h.gw.fill_curve(
            DEFAULT_PDL,
            Series::Consumption,
            activation,
            day(2024, 1, 15),
            |_| 1000,
        );
        let p = h.open().await;
        assert_ok(&sync(&p).await);

        // 8 kWh × 0.2068 + 16 kWh × 0.27 = 5.9744 a day; 15 days of January.
        let published = Published::of(&p).await;
        let daily = published.state(DEFAULT_PDL, "cost/daily");
        assert_close(&daily["value"], 5.97, &format!("{generation:?} daily"));
        assert_eq!(daily["date"], json!("2024-01-15"));
        assert_eq!(daily["tariff"], json!("HC_HP"));
        let monthly = published.state(DEFAULT_PDL, "cost/monthly");
        assert_close(&monthly["value"], 89.62, &format!("{generation:?} monthly"));
        assert_eq!(monthly["month"], json!("2024-01"));
        assert_eq!(monthly["days"], json!(15));
        // 10:00 in Paris: peak.
        let price = published.state(DEFAULT_PDL, "price/current");
        assert_eq!(price["period"], json!("HP"));
        assert_close(&price["value"], 0.27, "price");
        assert_eq!(
            published.state(DEFAULT_PDL, "status")["message"],
            Value::Null
        );

        // Without the load curve there is no split: no cost entity, and the status says why.
        configure(&mut h, &[meter(DEFAULT_PDL, prices)]);
        let p = h.reopen(p).await;
        assert_ok(&sync(&p).await);
        let published = Published::of(&p).await;
        for key in [
            "cost_daily",
            "cost_monthly",
            "consumption_hc",
            "consumption_hp",
        ] {
            published.assert_cleared(&Published::config_topic(DEFAULT_PDL, key));
        }
        for path in ["cost/daily", "cost/monthly", "consumption/hchp"] {
            published.assert_cleared(&Published::state_topic(DEFAULT_PDL, path));
        }
        let status = published.state(DEFAULT_PDL, "status");
        let message = status["message"].as_str().unwrap_or_default();
        assert!(message.contains("load_curve"), "{generation:?}: {status}");
        // The price in force does not need the curve.
        h.clock.set(instant("2024-01-16T22:30:00Z"));
        let price = Published::of(&p).await.state(DEFAULT_PDL, "price/current");
        assert_eq!(price["period"], json!("HC"), "23:30 in Paris");
        assert_close(&price["value"], 0.2068, "price");
    }
}

// ---------------------------------------------------------------------------------------------
// Calendar

#[tokio::test]
async fn leap_day_and_month_and_year_boundaries() {
    for generation in GENERATIONS {
        let h = linky(
            generation,
            "2024-01-02T09:00:00Z",
            &[meter(DEFAULT_PDL, json!({ "production": true }))],
        );
        h.gw.set_pdls(&[(DEFAULT_PDL, Some(day(2023, 6, 1)))]);
        fill_daily(&h.gw, DEFAULT_PDL, day(2023, 6, 1), day(2025, 1, 31));
        fill_max_power(&h.gw, DEFAULT_PDL, day(2023, 6, 1), day(2025, 1, 31));
        let p = h.open().await;

        // (clock, latest day, its ISO week, the Monday of that week)
        let cases = [
            // A Monday, first day of the year: every period holds one day.
            (
                "2024-01-02T09:00:00Z",
                day(2024, 1, 1),
                "2024-W01",
                day(2024, 1, 1),
            ),
            // The leap day, a Thursday.
            (
                "2024-03-01T09:00:00Z",
                day(2024, 2, 29),
                "2024-W09",
                day(2024, 2, 26),
            ),
            // New Year's Eve, a Tuesday of the ISO week 2025-W01.
            (
                "2025-01-01T09:00:00Z",
                day(2024, 12, 31),
                "2025-W01",
                day(2024, 12, 30),
            ),
        ];
        for (now, latest, week, monday) in cases {
            let what = format!("{generation:?} {latest}");
            h.at(now);
            assert_ok(&sync(&p).await);
            let published = Published::of(&p).await;
            let month_start = latest.with_day(1).unwrap();
            let year_start = latest.with_ordinal(1).unwrap();
            let midnight = |d: NaiveDate| {
                Paris
                    .from_local_datetime(&d.and_time(NaiveTime::MIN))
                    .unwrap()
                    .to_rfc3339()
            };
            for (series, f) in [
                ("consumption", cons_wh as fn(NaiveDate) -> i64),
                ("production", prod_wh),
            ] {
                let daily = published.state(DEFAULT_PDL, &format!("{series}/daily"));
                assert_eq!(daily["date"], json!(latest.to_string()), "{what}");
                assert_close(&daily["value"], kwh(f(latest)), &what);
                assert_eq!(daily["last_reset"], json!(midnight(latest)), "{what}");
                assert_eq!(daily["pdl"], json!(DEFAULT_PDL));

                let previous = latest.pred_opt().unwrap();
                let yesterday = published.state(DEFAULT_PDL, &format!("{series}/yesterday"));
                assert_eq!(yesterday["date"], json!(previous.to_string()), "{what}");
                assert_close(&yesterday["value"], kwh(f(previous)), &what);

                let weekly = published.state(DEFAULT_PDL, &format!("{series}/weekly"));
                assert_eq!(weekly["week"], json!(week), "{what}");
                assert_close(&weekly["value"], kwh(sum(monday, latest, f)), &what);
                assert_eq!(weekly["days"], json!((latest - monday).num_days() + 1));
                assert_eq!(weekly["last_reset"], json!(midnight(monday)), "{what}");

                let monthly = published.state(DEFAULT_PDL, &format!("{series}/monthly"));
                assert_eq!(
                    monthly["month"],
                    json!(format!("{:04}-{:02}", latest.year(), latest.month())),
                    "{what}"
                );
                assert_close(&monthly["value"], kwh(sum(month_start, latest, f)), &what);
                assert_eq!(monthly["days"], json!(latest.day()), "{what}");
                assert_eq!(monthly["last_reset"], json!(midnight(month_start)));

                let yearly = published.state(DEFAULT_PDL, &format!("{series}/yearly"));
                assert_eq!(yearly["year"], json!(latest.year().to_string()), "{what}");
                assert_close(&yearly["value"], kwh(sum(year_start, latest, f)), &what);
                assert_eq!(yearly["days"], json!(latest.ordinal()), "{what}");
                assert_eq!(yearly["last_reset"], json!(midnight(year_start)));
            }
        }
        // 2024 has 366 days, all of them in the yearly total.
        assert_eq!(
            Published::of(&p)
                .await
                .state(DEFAULT_PDL, "consumption/yearly")["days"],
            json!(366)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Status and failures

#[tokio::test]
async fn the_status_reports_success_then_a_failure_without_touching_the_values() {
    for generation in GENERATIONS {
        let h = linky(
            generation,
            "2024-01-16T09:00:00Z",
            &[meter(DEFAULT_PDL, json!({}))],
        );
        let activation = day(2024, 1, 1);
        h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation))]);
        fill_daily(&h.gw, DEFAULT_PDL, activation, day(2024, 1, 31));
        fill_max_power(&h.gw, DEFAULT_PDL, activation, day(2024, 1, 31));
        if h.v1() {
            h.gw.set_v1_call_number(DEFAULT_PDL, 7);
        }
        let p = h.open().await;
        assert_ok(&sync(&p).await);

        let published = Published::of(&p).await;
        let ok = published.state(DEFAULT_PDL, "status");
        assert_eq!(ok["state"], json!("ok"), "{generation:?}: {ok}");
        assert_eq!(ok["message"], Value::Null);
        assert_eq!(ok["last_sync"], json!("2024-01-16T10:00:00+01:00"));
        assert_eq!(ok["pdl"], json!(DEFAULT_PDL));
        match generation {
            // The account's calls today (UTC), all of this sync.
            Generation::V2 => {
                assert_eq!(ok["quota_used"], json!(h.requests().len()), "{ok}");
                assert_eq!(ok["quota_limit"], json!(1000));
                assert_eq!(ok["consent_expiration"], Value::Null);
            }
            // What `/valid_access` said at the start of the sync (7), plus this sync's
            // calls after it.
            Generation::V1 => {
                assert_eq!(ok["quota_used"], json!(7 + h.requests().len() - 1), "{ok}");
                assert_eq!(ok["quota_limit"], json!(500));
                assert_eq!(
                    ok["consent_expiration"],
                    json!(format!("{DEFAULT_CONSENT_EXPIRATION}+01:00"))
                );
            }
        }
        for (key, device_class) in [
            ("sync_status", Some("enum")),
            ("last_error", None),
            ("last_sync", Some("timestamp")),
            ("consent_expiration", Some("timestamp")),
            ("quota_used", None),
        ] {
            let config = published.config(DEFAULT_PDL, key);
            assert_eq!(config["entity_category"], json!("diagnostic"), "{key}");
            assert_eq!(
                config["state_topic"],
                json!(Published::state_topic(DEFAULT_PDL, "status"))
            );
            assert_eq!(
                config.get("device_class").and_then(Value::as_str),
                device_class
            );
        }
        let before = energy_payloads(&published, DEFAULT_PDL);

        // The next morning the credential is refused: v2's secret was rotated, v1's token
        // no longer matches the PDL.
        h.at("2024-01-17T09:00:00Z");
        match generation {
            Generation::V2 => h.gw.set_secret(Some("rotated-secret-789")),
            Generation::V1 => h.gw.set_v1_token(DEFAULT_PDL, "another-token-123"),
        }
        let summary = sync(&p).await;
        assert_eq!(summary.errors.len(), 1, "{:?}", summary.errors);
        assert!(!summary.transient(), "the user must act");
        let published = Published::of(&p).await;
        let failed = published.state(DEFAULT_PDL, "status");
        assert_eq!(failed["state"], json!("error"), "{generation:?}: {failed}");
        let message = failed["message"].as_str().expect("a message");
        assert!(!message.contains('\n'), "{message}");
        let expected = match generation {
            Generation::V2 => "rejected the credential",
            Generation::V1 => "refused access",
        };
        assert!(message.contains(expected), "{generation:?}: {message}");
        assert!(!message.contains(DEFAULT_SECRET) && !message.contains(DEFAULT_V1_TOKEN));
        assert_eq!(failed["last_sync"], json!("2024-01-16T10:00:00+01:00"));
        let stored = status(&p, DEFAULT_PDL).await;
        assert_eq!(
            stored.last_success_at,
            Some(instant("2024-01-16T09:00:00Z"))
        );
        assert_eq!(stored.last_error_at, Some(h.now()));
        assert_eq!(stored.last_error.as_deref(), Some(message));
        assert_eq!(
            energy_payloads(&published, DEFAULT_PDL),
            before,
            "{generation:?}: known values stay as they were"
        );

        // Fixed: back to ok with the new day.
        match generation {
            Generation::V2 => h.gw.set_secret(Some(DEFAULT_SECRET)),
            Generation::V1 => h.gw.set_v1_token(DEFAULT_PDL, DEFAULT_V1_TOKEN),
        }
        assert_ok(&sync(&p).await);
        let published = Published::of(&p).await;
        let ok = published.state(DEFAULT_PDL, "status");
        assert_eq!(ok["state"], json!("ok"));
        assert_eq!(ok["message"], Value::Null);
        assert_eq!(ok["last_sync"], json!("2024-01-17T10:00:00+01:00"));
        assert_eq!(
            published.state(DEFAULT_PDL, "consumption/daily")["date"],
            json!("2024-01-16")
        );
    }
}

/// The fault forms of each generation, with what the status line must say.
fn fault_forms(generation: Generation) -> Vec<(Fault, &'static str)> {
    let common = vec![
        (Fault::server_error(), "HTTP 500"),
        (Fault::status(502, ""), "HTTP 502"),
        (Fault::status(200, "<html>maintenance</html>"), "not JSON"),
        (Fault::Delay(Duration::from_millis(1_500)), "did not answer"),
    ];
    let specific = match generation {
        Generation::V2 => vec![
            (
                Fault::api("ENEDIS_UNAVAILABLE", "Enedis API is unavailable"),
                "ENEDIS_UNAVAILABLE",
            ),
            (
                Fault::api("ENEDIS_ERROR", "Enedis answered 500"),
                "ENEDIS_ERROR",
            ),
            (
                Fault::Success(true, String::new(), String::new()),
                "success without data",
            ),
            (
                Fault::api("RATE_LIMIT_EXCEEDED", "Daily quota exceeded"),
                "quota",
            ),
            (Fault::rate_limited(), "quota"),
            (
                Fault::status(401, r#"{"detail":"Invalid authentication credentials"}"#),
                "rejected the credential",
            ),
            (
                Fault::forbidden("Access denied to this PDL"),
                "refused access",
            ),
            (
                Fault::api("ACCESS_DENIED", "Consent expired"),
                "refused access",
            ),
        ],
        Generation::V1 => vec![
            (
                Fault::detail(500, "Technical error. Please try later."),
                "Technical error",
            ),
            (
                Fault::api("ENEDIS_UNAVAILABLE", "an envelope is not a v1 body"),
                "unexpected shape",
            ),
            (
                Fault::detail(409, "Vous avez dépassé votre quota journalier (50)"),
                "quota",
            ),
            (
                Fault::detail(403, "Le point de livraison ne correspond au token fournis."),
                "refused access",
            ),
        ],
    };
    common.into_iter().chain(specific).collect()
}

#[tokio::test]
async fn every_error_form_is_reported_in_one_line_and_keeps_the_values() {
    for generation in GENERATIONS {
        let mut h = linky(
            generation,
            "2024-01-16T09:00:00Z",
            &[meter(DEFAULT_PDL, json!({}))],
        );
        // Timeouts within a test's time: the real client waits 30 s.
        h.timeout = Some(Duration::from_millis(400));
        let activation = day(2024, 1, 1);
        h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation))]);
        fill_daily(&h.gw, DEFAULT_PDL, activation, day(2024, 1, 31));
        fill_max_power(&h.gw, DEFAULT_PDL, activation, day(2024, 1, 31));
        let p = h.open().await;
        assert_ok(&sync(&p).await);
        let before = energy_payloads(&Published::of(&p).await, DEFAULT_PDL);

        h.at("2024-01-17T09:00:00Z");
        // Quota answers end the day's calls (the next forms could not be asked): they have
        // their own tests, `the_gateway_quota_mid_sync_keeps_what_was_stored` and
        // `once_the_gateway_says_the_quota_is_reached_nothing_is_asked_until_the_reset`.
        let forms = fault_forms(generation)
            .into_iter()
            .filter(|(_, expected)| *expected != "quota");
        for (fault, expected) in forms {
            let what = format!("{generation:?} {fault:?}");
            h.gw.clear_requests();
            h.gw.push_fault_on(FaultOn::Daily, fault);
            let summary = sync(&p).await;
            assert_eq!(h.gw.pending_faults(), 0, "{what}");
            assert_eq!(summary.errors.len(), 1, "{what}: {:?}", summary.errors);
            assert_eq!(
                h.ranges(RouteKind::Daily(Series::Consumption), DEFAULT_PDL),
                vec![(day(2024, 1, 16), day(2024, 1, 17))],
                "{what}"
            );
            let published = Published::of(&p).await;
            let status = published.state(DEFAULT_PDL, "status");
            assert_eq!(status["state"], json!("error"), "{what}: {status}");
            let message = status["message"].as_str().unwrap_or_default();
            assert!(message.contains(expected), "{what}: {message}");
            assert!(!message.contains('\n'), "{what}: {message}");
            assert!(
                !message.contains(DEFAULT_SECRET) && !message.contains(DEFAULT_V1_TOKEN),
                "{message}"
            );
            assert_eq!(status["last_sync"], json!("2024-01-16T10:00:00+01:00"));
            assert_eq!(
                energy_payloads(&published, DEFAULT_PDL),
                before,
                "{what}: values kept"
            );
            let recorded = p
                .store
                .daily_status(
                    &pdl(DEFAULT_PDL),
                    SeriesKind::Consumption,
                    day(2024, 1, 16),
                    day(2024, 1, 16),
                )
                .await
                .unwrap();
            assert!(recorded.is_empty(), "{what}: a failed call records nothing");
        }

        // The faults gone, the next sync brings the new day.
        h.gw.clear_requests();
        assert_ok(&sync(&p).await);
        let published = Published::of(&p).await;
        assert_eq!(published.state(DEFAULT_PDL, "status")["state"], json!("ok"));
        assert_eq!(
            published.state(DEFAULT_PDL, "consumption/daily")["date"],
            json!("2024-01-16")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Quota

#[tokio::test]
async fn the_local_budget_stops_the_sync_before_the_gateway_limit() {
    // v2 counts per account and resets at 00:00 UTC; v1 per meter and resets at the end of
    // the Paris day. Meter A's budget is used up by earlier calls (1000 - 5 % for v2, 500 -
    // 5 % for v1).
    for generation in GENERATIONS {
        let h = linky(
            generation,
            "2024-01-16T09:00:00Z",
            &[meter(DEFAULT_PDL, json!({})), meter(PDL_B, json!({}))],
        );
        let activation = day(2024, 1, 1);
        h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation)), (PDL_B, Some(activation))]);
        for pdl in [DEFAULT_PDL, PDL_B] {
            fill_daily(&h.gw, pdl, activation, day(2024, 1, 31));
            fill_max_power(&h.gw, pdl, activation, day(2024, 1, 31));
        }
        let p = h.open().await;
        assert_ok(&sync(&p).await);
        let before = energy_payloads(&Published::of(&p).await, DEFAULT_PDL);

        // The next morning, every call of the day already used by A (v1) or the account (v2).
        h.at("2024-01-17T09:00:00Z");
        let (scope, quota_day, budget, limit) = match generation {
            Generation::V2 => ("account".to_string(), day(2024, 1, 17), 950, 1000),
            Generation::V1 => (DEFAULT_PDL.to_string(), day(2024, 1, 17), 475, 500),
        };
        let used = p.store.calls(&scope, quota_day).await.unwrap();
        for _ in used..budget {
            p.store.count_call(&scope, quota_day).await.unwrap();
        }
        h.gw.clear_requests();
        let summary = sync(&p).await;
        let on_a =
            h.gw.requests_where(|r| r.pdl().as_deref() == Some(DEFAULT_PDL));
        assert!(on_a.is_empty(), "{generation:?}: no call for A: {on_a:?}");
        let published = Published::of(&p).await;
        let status = published.state(DEFAULT_PDL, "status");
        assert_eq!(status["state"], json!("error"), "{generation:?}: {status}");
        assert!(
            status["message"]
                .as_str()
                .unwrap_or_default()
                .contains("quota"),
            "{status}"
        );
        assert_eq!(status["quota_used"], json!(budget), "{status}");
        assert_eq!(status["quota_limit"], json!(limit), "{status}");
        assert_eq!(energy_payloads(&published, DEFAULT_PDL), before);
        let status_b = published.state(PDL_B, "status");
        match generation {
            // The account's budget is shared: B stops too, and nothing at all is asked.
            Generation::V2 => {
                assert_eq!(summary.errors.len(), 2, "{:?}", summary.errors);
                assert!(h.requests().is_empty(), "{:?}", h.requests());
                assert_eq!(status_b["state"], json!("error"));
            }
            // Each meter has its own: B syncs as usual.
            Generation::V1 => {
                assert_eq!(summary.errors.len(), 1, "{:?}", summary.errors);
                assert_eq!(summary.errors[0].part, Part::Meter(pdl(DEFAULT_PDL)));
                assert_eq!(status_b["state"], json!("ok"), "{status_b}");
                assert_eq!(
                    h.ranges(RouteKind::Daily(Series::Consumption), PDL_B),
                    vec![(day(2024, 1, 16), day(2024, 1, 17))]
                );
            }
        }

        // 00:30 in Paris, 23:30 UTC: v1's day is over, v2's is not.
        h.gw.clear_requests();
        h.at("2024-01-17T23:30:00Z");
        let summary = sync(&p).await;
        match generation {
            Generation::V2 => {
                assert_eq!(summary.errors.len(), 2, "{:?}", summary.errors);
                assert!(h.requests().is_empty(), "{:?}", h.requests());
            }
            Generation::V1 => {
                assert_ok(&summary);
                assert_eq!(
                    h.ranges(RouteKind::Daily(Series::Consumption), DEFAULT_PDL),
                    vec![(day(2024, 1, 16), day(2024, 1, 18))]
                );
            }
        }

        // 00:10 UTC: a new day for both.
        h.at("2024-01-18T00:10:00Z");
        assert_ok(&sync(&p).await);
        let published = Published::of(&p).await;
        for pdl in [DEFAULT_PDL, PDL_B] {
            assert_eq!(published.state(pdl, "status")["state"], json!("ok"));
            assert_eq!(
                published.state(pdl, "consumption/daily")["date"],
                json!("2024-01-17"),
                "{generation:?} {pdl}"
            );
        }
    }
}

#[tokio::test]
async fn the_gateway_quota_mid_sync_keeps_what_was_stored() {
    for generation in GENERATIONS {
        let h = linky(
            generation,
            "2024-01-16T09:00:00Z",
            &[meter(DEFAULT_PDL, json!({}))],
        );
        let activation = day(2022, 6, 1);
        h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation))]);
        fill_daily(&h.gw, DEFAULT_PDL, activation, day(2024, 1, 31));
        fill_max_power(&h.gw, DEFAULT_PDL, activation, day(2024, 1, 31));
        match generation {
            // The gateway's 429 on the second daily range.
            Generation::V2 => {
                h.gw.push_fault_on(FaultOn::Daily, Fault::Delay(Duration::ZERO));
                h.gw.push_fault_on(FaultOn::Daily, Fault::rate_limited());
            }
            // The gateway's 409 on the second daily range.
            Generation::V1 => {
                h.gw.push_fault_on(FaultOn::Daily, Fault::Delay(Duration::ZERO));
                h.gw.push_fault_on(
                    FaultOn::Daily,
                    Fault::detail(409, "Vous avez dépassé votre quota journalier (50)"),
                );
            }
        }
        let p = h.open().await;
        let summary = sync(&p).await;
        let first = (activation, day(2023, 6, 1));
        let second = (day(2023, 6, 1), day(2024, 1, 16));
        assert_eq!(
            h.ranges(RouteKind::Daily(Series::Consumption), DEFAULT_PDL),
            vec![first, second],
            "{generation:?}"
        );
        let last = h.requests().last().cloned().unwrap();
        assert!(
            last.is_daily() && last.range().unwrap().0 == "2023-06-01",
            "{generation:?}: nothing asked after the refusal: {last:?}"
        );
        assert_eq!(summary.errors.len(), 1, "{:?}", summary.errors);
        assert!(quota_reached(&summary.errors[0]), "{:?}", summary.errors);
        assert!(summary.transient());

        let total = stored_total(
            &p,
            &pdl(DEFAULT_PDL),
            SeriesKind::Consumption,
            activation,
            day(2024, 1, 15),
        )
        .await;
        assert_eq!(
            (total.days, total.wh),
            (365, sum(activation, day(2023, 5, 31), cons_wh))
        );
        let published = Published::of(&p).await;
        let daily = published.state(DEFAULT_PDL, "consumption/daily");
        assert_eq!(
            daily["date"],
            json!("2023-05-31"),
            "what was stored is shown"
        );
        let status = published.state(DEFAULT_PDL, "status");
        assert_eq!(status["state"], json!("error"));
        assert!(status["message"].as_str().unwrap().contains("quota"));
        assert_eq!(
            status["last_sync"],
            Value::Null,
            "no sync has succeeded yet"
        );

        // The next day the rest comes.
        h.at("2024-01-17T09:00:00Z");
        h.gw.clear_requests();
        assert_ok(&sync(&p).await);
        assert_eq!(
            h.ranges(RouteKind::Daily(Series::Consumption), DEFAULT_PDL),
            vec![(day(2023, 6, 1), day(2024, 1, 17))]
        );
        let published = Published::of(&p).await;
        assert_eq!(
            published.state(DEFAULT_PDL, "consumption/daily")["date"],
            json!("2024-01-16")
        );
        assert_eq!(published.state(DEFAULT_PDL, "status")["state"], json!("ok"));
    }
}

#[tokio::test]
async fn v1_valid_access_saying_quota_reached_stops_before_any_data_call() {
    let h = linky(
        Generation::V1,
        "2024-01-16T09:00:00Z",
        &[meter(DEFAULT_PDL, json!({}))],
    );
    h.gw.set_pdls(&[(DEFAULT_PDL, Some(day(2024, 1, 1)))]);
    fill_daily(&h.gw, DEFAULT_PDL, day(2024, 1, 1), day(2024, 1, 31));
    h.gw.set_v1_quota_limit(DEFAULT_PDL, 50);
    h.gw.set_v1_call_number(DEFAULT_PDL, 50);
    let p = h.open().await;
    let summary = sync(&p).await;
    assert_eq!(summary.errors.len(), 1, "{:?}", summary.errors);
    let line = &summary.errors[0];
    assert!(quota_reached(line), "{line}");
    assert!(line.to_string().contains("quota journalier (50)"), "{line}");
    assert_eq!(h.account_calls(), (0, 1));
    assert_eq!(h.requests().len(), 1, "{:?}", h.requests());

    let status = Published::of(&p).await.state(DEFAULT_PDL, "status");
    assert_eq!(status["state"], json!("error"));
    assert!(status["message"].as_str().unwrap().contains("quota"));
    assert_eq!(status["quota_used"], json!(50));
    assert_eq!(status["quota_limit"], json!(50));
}

#[tokio::test]
async fn v1_the_quota_the_gateway_reports_is_not_exceeded() {
    // `/valid_access` says 45 of 50 calls are used: a backfill that needs more must stop
    // before the gateway refuses (409), with the quota in the status.
    let h = linky(
        Generation::V1,
        "2024-01-16T09:00:00Z",
        &[meter(
            DEFAULT_PDL,
            json!({ "production": true, "load_curve": true }),
        )],
    );
    h.gw.set_pdls(&[(DEFAULT_PDL, Some(day(2022, 6, 1)))]);
    fill_all(&h.gw, DEFAULT_PDL, day(2022, 6, 1), day(2024, 1, 31));
    h.gw.set_v1_quota_limit(DEFAULT_PDL, 50);
    h.gw.set_v1_call_number(DEFAULT_PDL, 45);
    let p = h.open().await;
    let summary = sync(&p).await;
    assert_eq!(summary.errors.len(), 1, "{:?}", summary.errors);
    assert!(quota_reached(&summary.errors[0]), "{:?}", summary.errors);
    assert_eq!(h.account_calls(), (0, 1));
    let data_calls = h.requests().len() - 1;
    assert!(
        45 + data_calls <= 50,
        "{data_calls} data calls after 45 of the 50 allowed were used (the last ones refused \
         with 409): {:?}",
        h.requests()
            .iter()
            .map(|r| r.path.clone())
            .collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------------------------
// Several meters, removed meters and series

/// Every state path of a meter device.
fn state_paths() -> Vec<&'static str> {
    TOPICS.iter().map(|t| t.path).collect()
}

/// Every entity key of a meter device.
fn entity_keys() -> Vec<&'static str> {
    ENTITIES.iter().map(|e| e.key).collect()
}

#[tokio::test]
async fn each_meter_is_its_own_device_and_a_removed_one_leaves_nothing_behind() {
    // The catalog has the entities and topics the spec lists.
    for key in [
        "consumption_daily",
        "consumption_max_power",
        "consumption_hc",
        "production_daily",
        "cost_daily",
        "price_current",
        "sync_status",
    ] {
        assert!(entity_keys().contains(&key), "{key}");
    }
    for path in [
        "consumption/hchp",
        "production/yearly",
        "cost/monthly",
        "status",
    ] {
        assert!(state_paths().contains(&path), "{path}");
    }

    for generation in GENERATIONS {
        let a = meter(DEFAULT_PDL, json!({ "name": "Maison", "price_base": 0.25 }));
        let b_full = meter(
            PDL_B,
            json!({ "name": "Atelier", "production": true, "load_curve": true }),
        );
        let mut h = linky(generation, "2024-01-16T09:00:00Z", &[a.clone(), b_full]);
        let activation = day(2024, 1, 1);
        h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation)), (PDL_B, Some(activation))]);
        for pdl in [DEFAULT_PDL, PDL_B] {
            fill_all(&h.gw, pdl, activation, day(2024, 1, 31));
        }
        let p = h.open().await;
        let summary = sync(&p).await;
        assert_ok(&summary);
        assert!(summary.complete);

        let published = Published::of(&p).await;
        for (pdl, name) in [(DEFAULT_PDL, "Maison"), (PDL_B, "Atelier")] {
            let config = published.config(pdl, "consumption_daily");
            assert_eq!(
                config["unique_id"],
                json!(format!("med_{pdl}_consumption_daily"))
            );
            assert_eq!(
                config["device"]["identifiers"],
                json!([format!("med_{pdl}")])
            );
            assert_eq!(
                config["device"]["name"],
                json!(format!("MyElectricalData - {name}"))
            );
            assert_eq!(config["device"]["serial_number"], json!(pdl));
            assert_eq!(config["device"]["model"], json!("Linky"));
            assert_eq!(
                config["state_topic"],
                json!(Published::state_topic(pdl, "consumption/daily"))
            );
            let daily = published.state(pdl, "consumption/daily");
            assert_eq!(daily["pdl"], json!(pdl));
            assert_eq!(daily["date"], json!("2024-01-15"));
        }
        assert!(published.has_state(PDL_B, "production/daily"));
        assert!(published.has_state(PDL_B, "consumption/hchp"));
        published.config(PDL_B, "production_monthly");
        published.config(PDL_B, "consumption_hc");
        // A has neither.
        published.assert_cleared(&Published::config_topic(DEFAULT_PDL, "production_daily"));
        published.assert_cleared(&Published::state_topic(DEFAULT_PDL, "production/daily"));

        // B's production and load curve switched off: their entities and topics go.
        configure(
            &mut h,
            &[a.clone(), meter(PDL_B, json!({ "name": "Atelier" }))],
        );
        let p = h.reopen(p).await;
        assert_ok(&sync(&p).await);
        let published = Published::of(&p).await;
        for key in entity_keys().into_iter().filter(|k| {
            k.starts_with("production_") || *k == "consumption_hc" || *k == "consumption_hp"
        }) {
            published.assert_cleared(&Published::config_topic(PDL_B, key));
        }
        for path in state_paths()
            .into_iter()
            .filter(|p| p.starts_with("production/") || *p == "consumption/hchp")
        {
            published.assert_cleared(&Published::state_topic(PDL_B, path));
        }
        published.config(PDL_B, "consumption_daily");
        assert!(published.has_state(PDL_B, "consumption/daily"));

        // B removed from the options: every config and state topic of B is cleared, A stays.
        configure(&mut h, std::slice::from_ref(&a));
        let p = h.reopen(p).await;
        h.gw.clear_requests();
        h.at("2024-01-17T09:00:00Z");
        assert_ok(&sync(&p).await);
        assert!(
            h.gw.requests_where(|r| r.pdl().as_deref() == Some(PDL_B))
                .is_empty(),
            "{generation:?}: nothing asked for a removed meter"
        );
        for round in 0..2 {
            let published = Published::of(&p).await;
            for key in entity_keys() {
                published.assert_cleared(&Published::config_topic(PDL_B, key));
            }
            for path in state_paths() {
                published.assert_cleared(&Published::state_topic(PDL_B, path));
            }
            assert!(
                published.live_topics_of(PDL_B).is_empty(),
                "round {round}: {:?}",
                published.live_topics_of(PDL_B)
            );
            published.config(DEFAULT_PDL, "consumption_daily");
            published.config(DEFAULT_PDL, "cost_daily");
            assert_eq!(
                published.state(DEFAULT_PDL, "consumption/daily")["date"],
                json!("2024-01-16")
            );
            assert_eq!(published.state(DEFAULT_PDL, "status")["state"], json!("ok"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Crash

#[tokio::test]
async fn a_sync_interrupted_in_the_middle_resumes_after_a_restart() {
    for generation in GENERATIONS {
        let h = linky(
            generation,
            "2024-01-16T09:00:00Z",
            &[meter(DEFAULT_PDL, json!({ "load_curve": true }))],
        );
        let activation = day(2023, 1, 10);
        h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation))]);
        fill_all(&h.gw, DEFAULT_PDL, activation, day(2024, 1, 31));
        // The first daily range goes through; the second hangs until the process dies.
        h.gw.push_fault_on(FaultOn::Daily, Fault::Delay(Duration::ZERO));
        h.gw.push_fault_on(FaultOn::Daily, Fault::Delay(Duration::from_secs(20)));
        let p = h.open().await;
        let second_asked = async {
            while h.gw.daily_calls() < 2 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        // The process dies while the second range is on its way: the sync future is dropped.
        tokio::select! {
            summary = p.sync() => panic!("{generation:?}: the sync ended: {summary:?}"),
            () = within(T, "the second daily range", second_asked) => {}
        }
        assert_eq!(h.gw.pending_faults(), 0);
        let first = (activation, day(2024, 1, 10));
        let second = (day(2024, 1, 10), day(2024, 1, 16));
        assert_eq!(
            h.ranges(RouteKind::Daily(Series::Consumption), DEFAULT_PDL),
            vec![first, second]
        );

        // Restart: the first range is there, nothing of the second.
        let p = h.reopen(p).await;
        let recorded = p
            .store
            .daily_status(
                &pdl(DEFAULT_PDL),
                SeriesKind::Consumption,
                activation,
                day(2024, 1, 15),
            )
            .await
            .unwrap();
        assert_eq!(recorded.len(), 365, "{generation:?}");
        assert!(recorded.keys().all(|d| *d < second.0));

        h.gw.clear_requests();
        let summary = sync(&p).await;
        assert_ok(&summary);
        assert!(summary.complete);
        assert_eq!(
            h.ranges(RouteKind::Daily(Series::Consumption), DEFAULT_PDL),
            vec![second],
            "{generation:?}: only what is missing"
        );
        assert_eq!(h.gw.contract_calls(), 0, "the contract was stored");
        assert_eq!(h.account_calls(), (0, 0), "{generation:?}");
        let total = stored_total(
            &p,
            &pdl(DEFAULT_PDL),
            SeriesKind::Consumption,
            activation,
            day(2024, 1, 15),
        )
        .await;
        assert_eq!(total.wh, sum(activation, day(2024, 1, 15), cons_wh));
        let published = Published::of(&p).await;
        assert_eq!(published.state(DEFAULT_PDL, "status")["state"], json!("ok"));
        assert_eq!(
            published.state(DEFAULT_PDL, "consumption/hchp")["date"],
            json!("2024-01-15")
        );
    }
}

/// Consumes the v2 daily faults still queued (with requests of our own), so that the next
/// sync meets a gateway that answers.
async fn drain_faults(gw: &FakeGateway) {
    let client = reqwest::Client::new();
    while gw.pending_faults() > 0 {
        let url = format!(
            "{}/enedis/consumption/daily/{DEFAULT_PDL}?start=2024-01-01&end=2024-01-02",
            gw.url()
        );
        within(
            T,
            "drain a fault",
            client.get(url).bearer_auth(DEFAULT_SECRET).send(),
        )
        .await
        .expect("the fake answers");
    }
}

#[tokio::test]
async fn once_the_gateway_says_the_quota_is_reached_nothing_is_asked_until_the_reset() {
    // v2: the gateway's RATE_LIMIT_EXCEEDED (the account's day ends at 00:00 UTC); v1:
    // `/valid_access` says `quota_reached` (the meter's day ends at midnight in Paris). A later
    // sync of the same quota day (the scheduler retries a failed sync after 5, 10, 20…
    // minutes) must not spend another call the gateway will refuse.
    for generation in GENERATIONS {
        let h = linky(
            generation,
            "2024-01-16T09:00:00Z",
            &[meter(DEFAULT_PDL, json!({}))],
        );
        h.gw.set_pdls(&[(DEFAULT_PDL, Some(day(2024, 1, 1)))]);
        fill_daily(&h.gw, DEFAULT_PDL, day(2024, 1, 1), day(2024, 1, 31));
        fill_max_power(&h.gw, DEFAULT_PDL, day(2024, 1, 1), day(2024, 1, 31));
        match generation {
            Generation::V2 => h.gw.push_fault_on(
                FaultOn::Daily,
                Fault::api("RATE_LIMIT_EXCEEDED", "Daily quota exceeded"),
            ),
            Generation::V1 => {
                h.gw.set_v1_quota_limit(DEFAULT_PDL, 50);
                h.gw.set_v1_call_number(DEFAULT_PDL, 50);
            }
        }
        let p = h.open().await;
        let summary = sync(&p).await;
        assert_eq!(summary.errors.len(), 1, "{:?}", summary.errors);
        assert!(quota_reached(&summary.errors[0]), "{:?}", summary.errors);

        // Ten minutes later, same quota day: the gateway would still refuse.
        if generation == Generation::V2 {
            h.gw.push_fault_on(
                FaultOn::Daily,
                Fault::api("RATE_LIMIT_EXCEEDED", "Daily quota exceeded"),
            );
        }
        h.gw.clear_requests();
        h.clock.set(instant("2024-01-16T09:10:00Z"));
        let summary = sync(&p).await;
        assert_eq!(summary.errors.len(), 1, "{:?}", summary.errors);
        assert!(quota_reached(&summary.errors[0]), "{:?}", summary.errors);
        let status = Published::of(&p).await.state(DEFAULT_PDL, "status");
        assert_eq!(status["state"], json!("error"), "{status}");
        assert!(
            h.requests().is_empty(),
            "{generation:?}: the gateway already said the quota is reached today, yet: {:?}",
            h.requests()
                .iter()
                .map(|r| r.path.clone())
                .collect::<Vec<_>>()
        );

        // After the reset everything comes.
        match generation {
            Generation::V2 => drain_faults(&h.gw).await,
            Generation::V1 => h.gw.set_v1_quota_limit(DEFAULT_PDL, 500),
        }
        h.gw.clear_requests();
        h.at("2024-01-17T09:00:00Z");
        assert_ok(&sync(&p).await);
        let published = Published::of(&p).await;
        assert_eq!(published.state(DEFAULT_PDL, "status")["state"], json!("ok"));
        assert_eq!(
            published.state(DEFAULT_PDL, "consumption/daily")["date"],
            json!("2024-01-16")
        );
    }
}

#[tokio::test]
async fn a_contract_answer_without_a_contract_does_not_erase_the_known_one() {
    // Seven days on, the contract is read again and the gateway answers a payload without any
    // usage point: the subscribed power and the off-peak hours already known must stay.
    for generation in GENERATIONS {
        let h = linky(
            generation,
            "2024-01-16T09:00:00Z",
            &[meter(
                DEFAULT_PDL,
                json!({ "load_curve": true, "tariff": "HC_HP", "price_hc": 0.2, "price_hp": 0.3 }),
            )],
        );
        let activation = day(2024, 1, 1);
        h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation))]);
        h.gw.set_contract(
            DEFAULT_PDL,
            FakeContract::new(12, Some("HC (22H00-6H00)"), Some(activation)),
        );
        fill_all(&h.gw, DEFAULT_PDL, activation, day(2024, 1, 31));
        let p = h.open().await;
        assert_ok(&sync(&p).await);
        let before = Published::of(&p).await;
        assert_eq!(
            before.state(DEFAULT_PDL, "consumption/max_power")["subscribed"],
            json!(12_000)
        );
        assert_eq!(
            before.state(DEFAULT_PDL, "consumption/hchp")["date"],
            json!("2024-01-15")
        );

        h.gw.clear_requests();
        h.at("2024-01-23T09:00:00Z");
        let empty = json!({ "customer": { "customer_id": "1358019319", "usage_points": [] } });
        let body = match generation {
            Generation::V2 => json!({
                "success": true,
                "data": empty,
                "error": null,
                "timestamp": "2024-01-23T09:00:00Z",
            }),
            Generation::V1 => empty,
        };
        h.gw.push_fault_on(FaultOn::Contract, Fault::status(200, &body.to_string()));
        let _ = sync(&p).await;
        assert_eq!(
            h.gw.contract_calls(),
            1,
            "{generation:?}: the contract was read again"
        );
        let after = Published::of(&p).await;
        let peak = after.state(DEFAULT_PDL, "consumption/max_power");
        assert_eq!(peak["date"], json!("2024-01-22"));
        assert_eq!(
            peak["subscribed"],
            json!(12_000),
            "{generation:?}: the known subscribed power was erased: {peak}"
        );
        assert!(peak["exceeded"].is_boolean(), "{peak}");
        assert!(
            after.has_state(DEFAULT_PDL, "consumption/hchp"),
            "{generation:?}: the known off-peak hours were erased"
        );
        let split = after.state(DEFAULT_PDL, "consumption/hchp");
        assert_eq!(split["date"], json!("2024-01-22"), "{generation:?}");
        assert!(after.has_state(DEFAULT_PDL, "cost/daily"), "{generation:?}");
    }
}

#[tokio::test]
async fn v2_a_failed_meter_list_is_reported_on_every_meter() {
    let h = linky(
        Generation::V2,
        "2024-01-16T09:00:00Z",
        &[meter(DEFAULT_PDL, json!({})), meter(PDL_B, json!({}))],
    );
    for pdl in [DEFAULT_PDL, PDL_B] {
        fill_daily(&h.gw, pdl, day(2024, 1, 1), day(2024, 1, 31));
    }
    h.gw.push_fault_on(FaultOn::Pdl, Fault::server_error());
    let p = h.open().await;
    let summary = sync(&p).await;
    assert_eq!(summary.errors.len(), 2, "{:?}", summary.errors);
    assert!(summary.transient());
    assert_eq!(
        h.requests().len(),
        1,
        "nothing else is asked: {:?}",
        h.requests()
    );
    let published = Published::of(&p).await;
    for pdl in [DEFAULT_PDL, PDL_B] {
        let status = published.state(pdl, "status");
        assert_eq!(status["state"], json!("error"), "{status}");
        assert!(
            status["message"].as_str().unwrap().contains("HTTP 500"),
            "{status}"
        );
        assert!(!published.has_state(pdl, "consumption/daily"));
    }

    // The next sync reads the list and everything else.
    h.gw.clear_requests();
    assert_ok(&sync(&p).await);
    assert_eq!(h.gw.pdl_calls(), 1);
    let published = Published::of(&p).await;
    for pdl in [DEFAULT_PDL, PDL_B] {
        assert_eq!(published.state(pdl, "status")["state"], json!("ok"));
        assert_eq!(
            published.state(pdl, "consumption/daily")["date"],
            json!("2024-01-15")
        );
    }
}
