//! The Tempo and EcoWatt devices and Tempo pricing, through `Pipeline` (sync + messages)
//! against the fake gateway, with a manual clock: what is asked (the fake's request log),
//! what is stored, and what `Pipeline::messages` would publish.
//!
//! Instants are written in UTC on purpose: Paris is UTC+1 in winter and UTC+2 in summer
//! (from 2024-03-31 01:00Z to 2024-10-27 01:00Z), so `05:59` Paris is `04:59Z` in January
//! and `03:59Z` in July. Shared checks are `async fn name(g: Generation)`, run for both gateway
//! generations by `for_both!` (tests `v1_gateway::name` and `v2_gateway::name`).

mod support;

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use myelectricaldata_mqtt::derived::Snapshot;
use myelectricaldata_mqtt::gateway::GatewayError;
use myelectricaldata_mqtt::model::{TempoColor, TempoPrices};
use myelectricaldata_mqtt::pipeline::Pipeline;
use myelectricaldata_mqtt::sync::{
    ECOWATT_MAX_AGE_HOURS, Part, SyncError, SyncFailure, SyncSummary,
};
use serde_json::{Value, json};
use support::gateway::DEFAULT_PDL;
use support::{
    ColorCase, FakeEcowattDay, FakeGateway, Fault, FaultOn, Generation, Harness, Published,
    RecordedRequest, RteColor, Series, T, assert_ok, day, for_both, grid_error, instant, paris_day,
    sync, within,
};

const P: &str = "myelectricaldata";

/// Prices of the options (EUR/kWh), distinct so that every colour and period shows.
const BLUE_HC: f64 = 0.1296;
const BLUE_HP: f64 = 0.1609;
const WHITE_HC: f64 = 0.1486;
const WHITE_HP: f64 = 0.1894;
const RED_HC: f64 = 0.1568;
const RED_HP: f64 = 0.7562;

fn tempo_prices_options() -> Value {
    json!({
        "tariff": "TEMPO",
        "price_tempo_blue_hc": BLUE_HC,
        "price_tempo_blue_hp": BLUE_HP,
        "price_tempo_white_hc": WHITE_HC,
        "price_tempo_white_hp": WHITE_HP,
        "price_tempo_red_hc": RED_HC,
        "price_tempo_red_hp": RED_HP,
    })
}

/// The option price of a colour and period.
fn option_price(color: RteColor, hc: bool) -> f64 {
    match (color, hc) {
        (RteColor::Blue, true) => BLUE_HC,
        (RteColor::Blue, false) => BLUE_HP,
        (RteColor::White, true) => WHITE_HC,
        (RteColor::White, false) => WHITE_HP,
        (RteColor::Red, true) => RED_HC,
        (RteColor::Red, false) => RED_HP,
    }
}

/// A realistic season from `start` (1 September): 22 red weekdays from 8 January, 43 white
/// days (never a Sunday) from 12 February, blue otherwise.
fn season(start: NaiveDate) -> BTreeMap<NaiveDate, RteColor> {
    let next = day(start.year() + 1, 9, 1);
    let mut days: BTreeMap<NaiveDate, RteColor> = start
        .iter_days()
        .take_while(|d| *d < next)
        .map(|d| (d, RteColor::Blue))
        .collect();
    let red: Vec<NaiveDate> = day(start.year() + 1, 1, 8)
        .iter_days()
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .take(22)
        .collect();
    let white: Vec<NaiveDate> = day(start.year() + 1, 2, 12)
        .iter_days()
        .filter(|d| d.weekday() != Weekday::Sun)
        .take(43)
        .collect();
    for d in red {
        days.insert(d, RteColor::Red);
    }
    for d in white {
        days.insert(d, RteColor::White);
    }
    days
}

fn count(days: &BTreeMap<NaiveDate, RteColor>, to: NaiveDate, color: RteColor) -> i64 {
    days.range(..=to).filter(|(_, c)| **c == color).count() as i64
}

/// The Tempo requests since the last `clear_requests`, as day ranges (end exclusive).
fn tempo_ranges(h: &Harness) -> Vec<(NaiveDate, NaiveDate)> {
    h.gw.tempo_requests()
        .iter()
        .map(|r| {
            check_tempo_request(h, r);
            r.day_range()
                .unwrap_or_else(|| panic!("a Tempo range: {r:?}"))
        })
        .collect()
}

fn check_tempo_request(h: &Harness, r: &RecordedRequest) {
    assert_eq!(r.method, "GET");
    match h.generation {
        Generation::V1 => assert!(r.path.starts_with("/rte/tempo/"), "{r:?}"),
        Generation::V2 => assert_eq!(r.path, "/api/tempo/days", "{r:?}"),
    }
}

/// When something shown changes next without a gateway call (a price boundary, the next
/// hour for EcoWatt, midnight for Tempo), as of `now`.
async fn next_republish(p: &Pipeline, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    within(T, "snapshot", p.snapshot(now))
        .await
        .expect("store")
        .next_change(now)
}

/// The next instant a meter's price in force changes: the next change of the snapshot with
/// the Tempo and EcoWatt devices left out (their midnight and hourly republishes).
async fn next_price_change(p: &Pipeline, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let snapshot = within(T, "snapshot", p.snapshot(now)).await.expect("store");
    let meters_only = Snapshot {
        tempo: None,
        ecowatt: None,
        ..snapshot
    };
    meters_only.next_change(now)
}

/// The failure of the Tempo/EcoWatt part of a sync.
fn grid_failure(summary: &SyncSummary) -> &SyncFailure {
    summary
        .errors
        .iter()
        .find(|f| f.part == Part::Grid)
        .unwrap_or_else(|| panic!("no Tempo/EcoWatt error in {:?}", summary.errors))
}

/// The sync stopped on a quota (ours or the gateway's).
fn quota_reached(failure: &SyncFailure) -> bool {
    matches!(
        failure.error,
        SyncError::Gateway(GatewayError::QuotaReached(_))
    )
}

async fn stored_colours(
    p: &Pipeline,
    from: NaiveDate,
    to: NaiveDate,
) -> BTreeMap<NaiveDate, TempoColor> {
    within(T, "stored colours", p.store.tempo(from, to))
        .await
        .expect("store")
}

fn assert_price(value: &Value, price: f64, period: &str, color: RteColor, what: &str) {
    assert_eq!(
        (
            value["value"].as_f64(),
            value["unit"].as_str(),
            value["period"].as_str(),
            value["color"].as_str(),
        ),
        (
            Some(price),
            Some("EUR/kWh"),
            Some(period),
            Some(color.as_french())
        ),
        "{what}: {value}"
    );
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

for_both!(
    colours_are_normalised_whatever_their_case,
    tomorrow_is_asked_from_ten_forty_until_known_then_never_again,
    midnight_rolls_today_and_tomorrow_over_without_a_gateway_call,
    remaining_days_count_the_stored_season_leap_or_not,
    price_current_changes_exactly_at_six_and_twenty_two_paris_dst_days_included,
    tempo_costs_split_each_calendar_day_with_the_load_curve,
    tempo_costs_without_the_load_curve_are_estimated_and_say_so,
    tempo_costs_on_dst_days_count_23_and_25_hours,
    ecowatt_current_hour_and_forecast_are_republished_from_the_store,
    ecowatt_is_not_refetched_while_fresh_across_a_restart,
    ecowatt_rate_limit_keeps_the_stored_signal_and_reports_the_error,
    error_forms_of_the_grid_routes_leave_stored_data_untouched,
);

// ---------------------------------------------------------------------------------------------
// Tempo colours
// ---------------------------------------------------------------------------------------------

async fn colours_are_normalised_whatever_their_case(g: Generation) {
    // 2024-01-16 12:00 Paris: tomorrow is asked too.
    for case in [
        ColorCase::AsStored,
        ColorCase::Lower,
        ColorCase::Capitalized,
    ] {
        let h = Harness::grid(g, "2024-01-16T11:00:00Z", json!({}), json!({}));
        h.gw.fill_tempo(day(2023, 9, 1), day(2024, 1, 14), |_| RteColor::Blue);
        h.gw.set_tempo(day(2024, 1, 15), RteColor::Red);
        h.gw.set_tempo(day(2024, 1, 16), RteColor::Blue);
        h.gw.set_tempo(day(2024, 1, 17), RteColor::White);
        h.gw.set_tempo_case(case);
        let p = h.open().await;
        let summary = sync(&p).await;
        assert_ok(&summary);
        assert!(summary.tempo_tomorrow_known, "{case:?}");

        let stored = stored_colours(&p, day(2024, 1, 15), day(2024, 1, 17)).await;
        assert_eq!(
            stored,
            BTreeMap::from([
                (day(2024, 1, 15), TempoColor::Red),
                (day(2024, 1, 16), TempoColor::Blue),
                (day(2024, 1, 17), TempoColor::White),
            ]),
            "{case:?}"
        );
        let messages = Published::of(&p).await;
        assert_eq!(
            messages.topic(&format!("{P}/tempo/today")),
            json!({"color": "BLEU", "date": "2024-01-16"}),
            "{case:?}"
        );
        assert_eq!(
            messages.topic(&format!("{P}/tempo/tomorrow")),
            json!({"color": "BLANC", "date": "2024-01-17"}),
            "{case:?}"
        );
        // The Tempo and EcoWatt devices are announced.
        let today_config = messages.topic("homeassistant/sensor/med_tempo_today/config");
        assert_eq!(today_config["device"]["identifiers"], json!(["med_tempo"]));
        assert_eq!(
            today_config["state_topic"],
            json!(format!("{P}/tempo/today"))
        );
        assert_eq!(today_config["device_class"], json!("enum"));
        assert_eq!(today_config["options"], json!(["BLEU", "BLANC", "ROUGE"]));
        let ecowatt_config = messages.topic("homeassistant/sensor/med_ecowatt_level/config");
        assert_eq!(
            ecowatt_config["device"]["identifiers"],
            json!(["med_ecowatt"])
        );
        assert_eq!(
            ecowatt_config["state_topic"],
            json!(format!("{P}/ecowatt/current"))
        );
    }
}

async fn tomorrow_is_asked_from_ten_forty_until_known_then_never_again(g: Generation) {
    // 2024-01-15, winter: Paris = UTC+1. 09:00 Paris.
    let h = Harness::grid(g, "2024-01-15T08:00:00Z", json!({}), json!({}));
    h.gw.fill_tempo(day(2023, 9, 1), day(2024, 1, 15), |_| RteColor::Blue);
    let p = h.open().await;
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert!(!summary.tempo_tomorrow_known);
    let ranges = tempo_ranges(&h);
    assert_eq!(ranges.len(), 1, "{ranges:?}");
    assert_eq!(
        ranges[0],
        (day(2023, 9, 1), day(2024, 1, 16)),
        "the season up to today (end exclusive): tomorrow is not asked before 10:40"
    );
    assert_eq!(
        Published::of(&p)
            .await
            .topic(&format!("{P}/tempo/tomorrow")),
        json!({"color": null, "date": "2024-01-16"})
    );
    assert_eq!(
        Published::of(&p).await.topic(&format!("{P}/tempo/today")),
        json!({"color": "BLEU", "date": "2024-01-15"})
    );

    // 10:30: today is known, tomorrow not asked yet.
    h.at("2024-01-15T09:30:00Z");
    h.gw.clear_requests();
    assert_ok(&sync(&p).await);
    assert_eq!(tempo_ranges(&h), vec![], "nothing to ask at 10:30");

    // 10:50: tomorrow is asked; RTE has not decided yet.
    h.at("2024-01-15T09:50:00Z");
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert!(!summary.tempo_tomorrow_known);
    assert_eq!(tempo_ranges(&h), vec![(day(2024, 1, 16), day(2024, 1, 17))]);
    assert_eq!(
        Published::of(&p)
            .await
            .topic(&format!("{P}/tempo/tomorrow")),
        json!({"color": null, "date": "2024-01-16"})
    );

    // 11:00: the gateway has a word that is not a colour yet: still unknown, still asked.
    h.gw.set_tempo_text(day(2024, 1, 16), "TBD");
    h.at("2024-01-15T10:00:00Z");
    h.gw.clear_requests();
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert!(!summary.tempo_tomorrow_known);
    assert_eq!(tempo_ranges(&h), vec![(day(2024, 1, 16), day(2024, 1, 17))]);
    assert_eq!(
        Published::of(&p)
            .await
            .topic(&format!("{P}/tempo/tomorrow")),
        json!({"color": null, "date": "2024-01-16"})
    );

    // 11:10: published.
    h.gw.set_tempo(day(2024, 1, 16), RteColor::White);
    h.at("2024-01-15T10:10:00Z");
    h.gw.clear_requests();
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert!(summary.tempo_tomorrow_known);
    assert_eq!(tempo_ranges(&h), vec![(day(2024, 1, 16), day(2024, 1, 17))]);
    assert_eq!(
        Published::of(&p)
            .await
            .topic(&format!("{P}/tempo/tomorrow")),
        json!({"color": "BLANC", "date": "2024-01-16"})
    );
    assert_eq!(
        stored_colours(&p, day(2024, 1, 16), day(2024, 1, 16)).await,
        BTreeMap::from([(day(2024, 1, 16), TempoColor::White)])
    );

    // Later that day: known, never asked again.
    for now in [
        "2024-01-15T10:30:00Z",
        "2024-01-15T16:00:00Z",
        "2024-01-15T22:30:00Z",
    ] {
        h.at(now);
        h.gw.clear_requests();
        let summary = sync(&p).await;
        assert_ok(&summary);
        assert!(summary.tempo_tomorrow_known, "{now}");
        assert_eq!(h.gw.tempo_calls(), 0, "{now}: {:?}", h.gw.tempo_requests());
    }
}

async fn midnight_rolls_today_and_tomorrow_over_without_a_gateway_call(g: Generation) {
    // EcoWatt off: the only wall-clock republish of this configuration is midnight.
    let h = Harness::grid(
        g,
        "2024-01-15T10:00:00Z",
        json!({}),
        json!({"ecowatt": false}),
    );
    h.gw.fill_tempo(day(2023, 9, 1), day(2024, 1, 15), |_| RteColor::Blue);
    h.gw.set_tempo(day(2024, 1, 16), RteColor::Red);
    let p = h.open().await;
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert!(summary.tempo_tomorrow_known);
    let requests = h.gw.requests().len();

    // 23:59:59 Paris: still the 15th.
    h.clock.set(instant("2024-01-15T22:59:59Z"));
    let messages = Published::of(&p).await;
    assert_eq!(
        messages.topic(&format!("{P}/tempo/today")),
        json!({"color": "BLEU", "date": "2024-01-15"})
    );
    assert_eq!(
        messages.topic(&format!("{P}/tempo/tomorrow")),
        json!({"color": "ROUGE", "date": "2024-01-16"})
    );
    // The next republish is midnight Paris (23:00Z).
    assert_eq!(
        next_republish(&p, instant("2024-01-15T22:30:00Z")).await,
        Some(instant("2024-01-15T23:00:00Z"))
    );

    // 00:00 and 00:05 Paris on the 16th: yesterday's "tomorrow" is today, from the store.
    for now in ["2024-01-15T23:00:00Z", "2024-01-15T23:05:00Z"] {
        h.clock.set(instant(now));
        let messages = Published::of(&p).await;
        assert_eq!(
            messages.topic(&format!("{P}/tempo/today")),
            json!({"color": "ROUGE", "date": "2024-01-16"}),
            "{now}"
        );
        assert_eq!(
            messages.topic(&format!("{P}/tempo/tomorrow")),
            json!({"color": null, "date": "2024-01-17"}),
            "{now}"
        );
    }
    assert_eq!(
        h.gw.requests().len(),
        requests,
        "messages() alone calls nobody"
    );
}

async fn remaining_days_count_the_stored_season_leap_or_not(g: Generation) {
    // 2023-2024 holds 29 February: 301 blue days.
    let leap = season(day(2023, 9, 1));
    assert_eq!(leap.len(), 366);
    assert_eq!(
        [RteColor::Blue, RteColor::White, RteColor::Red].map(|c| count(&leap, day(2024, 8, 31), c)),
        [301, 43, 22]
    );
    let next = season(day(2024, 9, 1));
    // 2024-01-20 09:00 Paris: mid-season.
    let h = Harness::grid(g, "2024-01-20T08:00:00Z", json!({}), json!({}));
    for (d, c) in leap.iter().chain(next.iter()) {
        h.gw.set_tempo(*d, *c);
    }
    let p = h.open().await;
    assert_ok(&sync(&p).await);
    let to = day(2024, 1, 20);
    assert_eq!(
        Published::of(&p)
            .await
            .topic(&format!("{P}/tempo/remaining")),
        json!({
            "blue": 301 - count(&leap, to, RteColor::Blue),
            "white": 43 - count(&leap, to, RteColor::White),
            "red": 22 - count(&leap, to, RteColor::Red),
            "season": "2023-2024",
        })
    );

    // 2024-08-30 09:00 Paris (summer: UTC+2): only 31 August (blue) is left.
    h.at("2024-08-30T07:00:00Z");
    assert_ok(&sync(&p).await);
    assert_eq!(
        Published::of(&p)
            .await
            .topic(&format!("{P}/tempo/remaining")),
        json!({"blue": 1, "white": 0, "red": 0, "season": "2023-2024"})
    );
    // 11:00: tomorrow (the last day) known, nothing left.
    h.at("2024-08-30T09:00:00Z");
    assert_ok(&sync(&p).await);
    assert_eq!(
        Published::of(&p)
            .await
            .topic(&format!("{P}/tempo/remaining")),
        json!({"blue": 0, "white": 0, "red": 0, "season": "2023-2024"})
    );
    // 1 September: a new, normal season (300 blue), its first day known.
    h.at("2024-09-01T07:00:00Z");
    assert_ok(&sync(&p).await);
    assert_eq!(
        Published::of(&p)
            .await
            .topic(&format!("{P}/tempo/remaining")),
        json!({"blue": 299, "white": 43, "red": 22, "season": "2024-2025"})
    );

    // A normal season from the start: 2022-2023 has 300 blue days.
    let normal = season(day(2022, 9, 1));
    assert_eq!(
        [RteColor::Blue, RteColor::White, RteColor::Red].map(|c| count(
            &normal,
            day(2023, 8, 31),
            c
        )),
        [300, 43, 22]
    );
    let h = Harness::grid(g, "2023-08-30T07:00:00Z", json!({}), json!({}));
    for (d, c) in &normal {
        h.gw.set_tempo(*d, *c);
    }
    let p = h.open().await;
    assert_ok(&sync(&p).await);
    assert_eq!(
        Published::of(&p)
            .await
            .topic(&format!("{P}/tempo/remaining")),
        json!({"blue": 1, "white": 0, "red": 0, "season": "2022-2023"})
    );
    assert_eq!(
        stored_colours(&p, day(2022, 9, 1), day(2023, 8, 31))
            .await
            .len(),
        364,
        "the season up to today"
    );
}

// ---------------------------------------------------------------------------------------------
// Tempo pricing
// ---------------------------------------------------------------------------------------------

/// A day whose four price boundaries are checked: the previous day's colour until 06:00, the
/// day's own HP from 06:00 and HC from 22:00.
struct Boundaries {
    label: &'static str,
    day: NaiveDate,
    previous: RteColor,
    color: RteColor,
    /// A sync instant before 06:00 Paris that day.
    sync_at: &'static str,
    /// Paris 00:30 (or another night hour before 06:00), 05:59, 06:00, 21:59, 22:00, in UTC.
    night: &'static str,
    before_six: &'static str,
    six: &'static str,
    before_ten_pm: &'static str,
    ten_pm: &'static str,
}

const BOUNDARIES: &[Boundaries] = &[
    Boundaries {
        label: "winter (UTC+1)",
        day: match NaiveDate::from_ymd_opt(2024, 1, 16) {
            Some(d) => d,
            None => NaiveDate::MIN,
        },
        previous: RteColor::Red,
        color: RteColor::White,
        sync_at: "2024-01-16T03:00:00Z",
        night: "2024-01-15T23:30:00Z",
        before_six: "2024-01-16T04:59:00Z",
        six: "2024-01-16T05:00:00Z",
        before_ten_pm: "2024-01-16T20:59:00Z",
        ten_pm: "2024-01-16T21:00:00Z",
    },
    Boundaries {
        label: "spring forward 2024-03-31 (02:00 CET → 03:00 CEST)",
        day: match NaiveDate::from_ymd_opt(2024, 3, 31) {
            Some(d) => d,
            None => NaiveDate::MIN,
        },
        previous: RteColor::White,
        color: RteColor::Blue,
        sync_at: "2024-03-31T02:00:00Z",
        // 03:00 CEST, right after the jump.
        night: "2024-03-31T01:00:00Z",
        before_six: "2024-03-31T03:59:00Z",
        six: "2024-03-31T04:00:00Z",
        before_ten_pm: "2024-03-31T19:59:00Z",
        ten_pm: "2024-03-31T20:00:00Z",
    },
    Boundaries {
        label: "summer (UTC+2)",
        day: match NaiveDate::from_ymd_opt(2024, 7, 16) {
            Some(d) => d,
            None => NaiveDate::MIN,
        },
        previous: RteColor::White,
        color: RteColor::Blue,
        sync_at: "2024-07-16T02:00:00Z",
        night: "2024-07-15T22:30:00Z",
        before_six: "2024-07-16T03:59:00Z",
        six: "2024-07-16T04:00:00Z",
        before_ten_pm: "2024-07-16T19:59:00Z",
        ten_pm: "2024-07-16T20:00:00Z",
    },
    Boundaries {
        label: "fall back 2024-10-27 (03:00 CEST → 02:00 CET)",
        day: match NaiveDate::from_ymd_opt(2024, 10, 27) {
            Some(d) => d,
            None => NaiveDate::MIN,
        },
        previous: RteColor::White,
        color: RteColor::Blue,
        sync_at: "2024-10-27T03:00:00Z",
        // 02:30 CET, the second time the clock reads 02:30.
        night: "2024-10-27T01:30:00Z",
        before_six: "2024-10-27T04:59:00Z",
        six: "2024-10-27T05:00:00Z",
        before_ten_pm: "2024-10-27T20:59:00Z",
        ten_pm: "2024-10-27T21:00:00Z",
    },
];

async fn price_current_changes_exactly_at_six_and_twenty_two_paris_dst_days_included(
    g: Generation,
) {
    let first = BOUNDARIES[0].sync_at;
    let h = Harness::grid(g, first, tempo_prices_options(), json!({}));
    h.gw.fill_tempo(day(2023, 9, 1), day(2024, 12, 31), |_| RteColor::Blue);
    for b in BOUNDARIES {
        h.gw.set_tempo(b.day.pred_opt().unwrap(), b.previous);
        h.gw.set_tempo(b.day, b.color);
    }
    let p = h.open().await;
    let topic = format!("{P}/{DEFAULT_PDL}/price/current");
    for b in BOUNDARIES {
        h.at(b.sync_at);
        assert_ok(&sync(&p).await);
        let requests = h.gw.requests().len();
        for (now, color, hc, what) in [
            (
                b.night,
                b.previous,
                true,
                "night: the previous day's colour, HC",
            ),
            (
                b.before_six,
                b.previous,
                true,
                "05:59: the previous day's colour, HC",
            ),
            (b.six, b.color, false, "06:00: the day's colour, HP"),
            (b.before_ten_pm, b.color, false, "21:59: HP"),
            (b.ten_pm, b.color, true, "22:00: HC"),
        ] {
            h.clock.set(instant(now));
            let messages = Published::of(&p).await;
            assert_price(
                &messages.topic(&topic),
                option_price(color, hc),
                if hc { "HC" } else { "HP" },
                color,
                &format!("{} at {now} ({what})", b.label),
            );
        }
        // The republish instants are the boundaries themselves.
        for (from, boundary) in [(b.before_six, b.six), (b.before_ten_pm, b.ten_pm)] {
            assert_eq!(
                next_price_change(&p, instant(from)).await,
                Some(instant(boundary)),
                "{}: after {from}",
                b.label
            );
            assert_eq!(
                next_republish(&p, instant(from)).await,
                Some(instant(boundary)),
                "{}: the republish after {from}",
                b.label
            );
        }
        assert_eq!(
            h.gw.requests().len(),
            requests,
            "{}: no gateway call",
            b.label
        );
    }
    assert_eq!(h.gw.tempo_price_calls(), 0, "the options give every price");
}

async fn tempo_costs_split_each_calendar_day_with_the_load_curve(g: Generation) {
    // 2024-01-17 09:00 Paris. 15 January blue, 16 January red: the 16th's 00:00–06:00 is
    // priced as the 15th (blue HC), 06:00–22:00 red HP, 22:00–24:00 red HC.
    let mut meter = tempo_prices_options();
    meter["load_curve"] = json!(true);
    let h = Harness::grid(g, "2024-01-17T08:00:00Z", meter, json!({}));
    h.gw.fill_tempo(day(2023, 9, 1), day(2024, 1, 15), |_| RteColor::Blue);
    h.gw.set_tempo(day(2024, 1, 16), RteColor::Red);
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2023, 11, 1),
        day(2024, 1, 16),
        |_| 24_000,
    );
    h.gw.fill_curve(
        DEFAULT_PDL,
        Series::Consumption,
        day(2023, 11, 1),
        day(2024, 1, 16),
        |_| 1_000,
    );
    let p = h.open().await;
    assert_ok(&sync(&p).await);

    let messages = Published::of(&p).await;
    let red_day = 6.0 * BLUE_HC + 16.0 * RED_HP + 2.0 * RED_HC;
    let blue_day = 8.0 * BLUE_HC + 16.0 * BLUE_HP;
    let daily = messages.state(DEFAULT_PDL, "cost/daily");
    assert_eq!(
        (
            daily["value"].as_f64(),
            daily["unit"].as_str(),
            daily["date"].as_str(),
            daily["tariff"].as_str(),
        ),
        (
            Some(round2(red_day)),
            Some("EUR"),
            Some("2024-01-16"),
            Some("TEMPO")
        ),
        "{daily}"
    );
    let monthly = messages.state(DEFAULT_PDL, "cost/monthly");
    assert_eq!(
        (
            monthly["value"].as_f64(),
            monthly["month"].as_str(),
            monthly["days"].as_u64(),
            monthly["tariff"].as_str(),
        ),
        (
            Some(round2(15.0 * blue_day + red_day)),
            Some("2024-01"),
            Some(16),
            Some("TEMPO")
        ),
        "{monthly}"
    );
    let status = messages.state(DEFAULT_PDL, "status");
    assert_eq!(status["state"], json!("ok"), "{status}");
    assert_eq!(
        status["message"],
        Value::Null,
        "nothing estimated: {status}"
    );
    // 09:00 Paris on the 17th: HP of the 17th, whose colour is not known yet.
    let price = messages.state(DEFAULT_PDL, "price/current");
    assert_eq!(
        price,
        json!({"value": null, "unit": "EUR/kWh", "period": "HP", "color": null, "tariff": "TEMPO"})
    );

    // The next day: a white day after the red one starts with 6 hours of red HC.
    h.gw.set_tempo(day(2024, 1, 17), RteColor::White);
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2024, 1, 17),
        day(2024, 1, 17),
        |_| 24_000,
    );
    h.gw.fill_curve(
        DEFAULT_PDL,
        Series::Consumption,
        day(2024, 1, 17),
        day(2024, 1, 17),
        |_| 1_000,
    );
    h.at("2024-01-18T08:00:00Z");
    assert_ok(&sync(&p).await);
    let messages = Published::of(&p).await;
    let white_day = 6.0 * RED_HC + 16.0 * WHITE_HP + 2.0 * WHITE_HC;
    let daily = messages.state(DEFAULT_PDL, "cost/daily");
    assert_eq!(
        (daily["value"].as_f64(), daily["date"].as_str()),
        (Some(round2(white_day)), Some("2024-01-17")),
        "{daily}"
    );
    let monthly = messages.state(DEFAULT_PDL, "cost/monthly");
    assert_eq!(
        (monthly["value"].as_f64(), monthly["days"].as_u64()),
        (
            Some(round2(15.0 * blue_day + red_day + white_day)),
            Some(17)
        ),
        "{monthly}"
    );
}

async fn tempo_costs_on_dst_days_count_23_and_25_hours(g: Generation) {
    // Constant 1000 W. 2024-03-31 (23 h): 00:00–02:00 and 03:00–06:00 at the 30th's colour
    // (5 kWh HC), 16 kWh HP, 2 kWh HC. 2024-10-27 (25 h): 00:00–06:00 lasts 7 hours.
    let mut meter = tempo_prices_options();
    meter["load_curve"] = json!(true);
    // 2024-04-01 09:00 CEST.
    let h = Harness::grid(g, "2024-04-01T07:00:00Z", meter, json!({}));
    h.gw.fill_tempo(day(2023, 9, 1), day(2024, 12, 31), |_| RteColor::Blue);
    for (d, c) in [
        (day(2024, 3, 30), RteColor::White),
        (day(2024, 3, 31), RteColor::Blue),
        (day(2024, 10, 26), RteColor::White),
        (day(2024, 10, 27), RteColor::Blue),
    ] {
        h.gw.set_tempo(d, c);
    }
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2024, 2, 1),
        day(2024, 12, 31),
        |d| match (d.month(), d.day()) {
            (3, 31) => 23_000,
            (10, 27) => 25_000,
            _ => 24_000,
        },
    );
    h.gw.fill_curve(
        DEFAULT_PDL,
        Series::Consumption,
        day(2024, 2, 1),
        day(2024, 12, 31),
        |_| 1_000,
    );
    let p = h.open().await;
    assert_ok(&sync(&p).await);
    let daily = Published::of(&p).await.state(DEFAULT_PDL, "cost/daily");
    assert_eq!(
        (daily["value"].as_f64(), daily["date"].as_str()),
        (
            Some(round2(5.0 * WHITE_HC + 16.0 * BLUE_HP + 2.0 * BLUE_HC)),
            Some("2024-03-31")
        ),
        "spring: {daily}"
    );

    // 2024-10-28 09:00 CET.
    h.at("2024-10-28T08:00:00Z");
    assert_ok(&sync(&p).await);
    let daily = Published::of(&p).await.state(DEFAULT_PDL, "cost/daily");
    assert_eq!(
        (daily["value"].as_f64(), daily["date"].as_str()),
        (
            Some(round2(7.0 * WHITE_HC + 16.0 * BLUE_HP + 2.0 * BLUE_HC)),
            Some("2024-10-27")
        ),
        "autumn: {daily}"
    );
    let monthly = Published::of(&p).await.state(DEFAULT_PDL, "cost/monthly");
    // October: 26 blue days of 8 kWh HC + 16 kWh HP; the 27th as above.
    let blue_day = 8.0 * BLUE_HC + 16.0 * BLUE_HP;
    let white_26th = 6.0 * BLUE_HC + 16.0 * WHITE_HP + 2.0 * WHITE_HC;
    assert_eq!(
        (monthly["value"].as_f64(), monthly["days"].as_u64()),
        (
            Some(round2(
                25.0 * blue_day + white_26th + 7.0 * WHITE_HC + 16.0 * BLUE_HP + 2.0 * BLUE_HC
            )),
            Some(27)
        ),
        "{monthly}"
    );
}

/// A TEMPO meter needs the colours even with the Tempo device switched off: they are
/// fetched, the meter is priced, and the Tempo topics stay cleared. With no TEMPO meter and
/// both devices off, nothing RTE is asked.
#[tokio::test]
async fn a_tempo_meter_gets_colours_with_the_tempo_device_off() {
    let h = Harness::grid(
        Generation::V2,
        "2024-01-16T11:00:00Z",
        tempo_prices_options(),
        json!({"tempo": false, "ecowatt": false}),
    );
    h.gw.fill_tempo(day(2023, 9, 1), day(2024, 1, 16), |_| RteColor::Red);
    ecowatt_days(&h.gw);
    let p = h.open().await;
    assert_ok(&sync(&p).await);
    assert_eq!((h.gw.tempo_calls(), h.gw.ecowatt_calls()), (1, 0));
    let messages = Published::of(&p).await;
    assert_price(
        &messages.state(DEFAULT_PDL, "price/current"),
        RED_HP,
        "HP",
        RteColor::Red,
        "12:00 Paris on a red day",
    );
    for topic in [
        "tempo/today",
        "tempo/tomorrow",
        "tempo/remaining",
        "ecowatt/current",
    ] {
        let topic = format!("{P}/{topic}");
        assert!(
            messages.payload(&topic).is_none(),
            "{topic}: {:?}",
            messages.0.get(&topic)
        );
    }
    let config = "homeassistant/sensor/med_tempo_today/config";
    assert!(
        messages.is_cleared(config),
        "the disabled entity's config is cleared: {:?}",
        messages.0.get(config)
    );

    let h = Harness::grid(
        Generation::V2,
        "2024-01-16T11:00:00Z",
        json!({}),
        json!({"tempo": false, "ecowatt": false}),
    );
    let p = h.open().await;
    assert_ok(&sync(&p).await);
    assert_eq!(h.gw.grid_calls(), 0, "{:?}", h.gw.requests());
}

async fn tempo_costs_without_the_load_curve_are_estimated_and_say_so(g: Generation) {
    let h = Harness::grid(g, "2024-01-17T08:00:00Z", tempo_prices_options(), json!({}));
    h.gw.fill_tempo(day(2023, 9, 1), day(2024, 1, 15), |_| RteColor::Blue);
    h.gw.set_tempo(day(2024, 1, 16), RteColor::Red);
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2023, 11, 1),
        day(2024, 1, 16),
        |_| 24_000,
    );
    let p = h.open().await;
    assert_ok(&sync(&p).await);
    assert_eq!(h.gw.detail_calls(), 0);

    let messages = Published::of(&p).await;
    // Each day at its colour's peak price.
    let daily = messages.state(DEFAULT_PDL, "cost/daily");
    assert_eq!(
        (daily["value"].as_f64(), daily["date"].as_str()),
        (Some(round2(24.0 * RED_HP)), Some("2024-01-16")),
        "{daily}"
    );
    let monthly = messages.state(DEFAULT_PDL, "cost/monthly");
    assert_eq!(
        (monthly["value"].as_f64(), monthly["month"].as_str()),
        (
            Some(round2(15.0 * 24.0 * BLUE_HP + 24.0 * RED_HP)),
            Some("2024-01")
        ),
        "{monthly}"
    );
    let status = messages.state(DEFAULT_PDL, "status");
    let message = status["message"].as_str().unwrap_or_default();
    assert!(message.contains("estimated"), "{status}");
    assert_eq!(
        status["state"],
        json!("ok"),
        "a note, not an error: {status}"
    );
}

/// v1 publishes the Tempo prices (strings with a decimal comma): with no price in the
/// options, they price the meter (price/current and costs); an option overrides its own
/// price only.
#[tokio::test]
async fn v1_prices_come_from_the_gateway_with_decimal_commas() {
    let h = Harness::grid(
        Generation::V1,
        "2024-01-17T11:00:00Z",
        json!({"tariff": "TEMPO"}),
        json!({}),
    );
    h.gw.fill_tempo(day(2023, 9, 1), day(2024, 1, 15), |_| RteColor::Blue);
    h.gw.set_tempo(day(2024, 1, 16), RteColor::Red);
    h.gw.set_tempo(day(2024, 1, 17), RteColor::White);
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2023, 11, 1),
        day(2024, 1, 16),
        |_| 24_000,
    );
    let p = h.open().await;
    assert_ok(&sync(&p).await);
    assert_eq!(h.gw.tempo_price_calls(), 1);

    let (prices, _) = within(T, "prices", p.store.tempo_prices())
        .await
        .expect("store")
        .expect("stored prices");
    assert_eq!(
        prices,
        TempoPrices {
            blue_hc: Some(0.1325),
            blue_hp: Some(0.1612),
            white_hc: Some(0.1499),
            white_hp: Some(0.1871),
            red_hc: Some(0.1575),
            red_hp: Some(0.706),
        }
    );
    let messages = Published::of(&p).await;
    // 12:00 Paris on a white day.
    assert_eq!(
        messages.state(DEFAULT_PDL, "price/current"),
        json!({"value": 0.1871, "unit": "EUR/kWh", "period": "HP", "color": "BLANC", "tariff": "TEMPO"})
    );
    let daily = messages.state(DEFAULT_PDL, "cost/daily");
    assert_eq!(
        (
            daily["value"].as_f64(),
            daily["date"].as_str(),
            daily["tariff"].as_str()
        ),
        (
            Some(round2(24.0 * 0.706)),
            Some("2024-01-16"),
            Some("TEMPO")
        ),
        "{daily}"
    );
    let monthly = messages.state(DEFAULT_PDL, "cost/monthly");
    assert_eq!(
        (monthly["value"].as_f64(), monthly["month"].as_str()),
        (
            Some(round2(15.0 * 24.0 * 0.1612 + 24.0 * 0.706)),
            Some("2024-01")
        ),
        "{monthly}"
    );
    // 22:00 Paris: white HC from the gateway.
    h.clock.set(instant("2024-01-17T21:00:00Z"));
    assert_price(
        &Published::of(&p).await.state(DEFAULT_PDL, "price/current"),
        0.1499,
        "HC",
        RteColor::White,
        "22:00 Paris",
    );

    // Kept: not asked again at the next sync.
    h.at("2024-01-17T15:00:00Z");
    assert_ok(&sync(&p).await);
    assert_eq!(h.gw.tempo_price_calls(), 1);

    // One option price: it wins for its colour and period, the gateway gives the rest.
    let h = Harness::grid(
        Generation::V1,
        "2024-01-17T11:00:00Z",
        json!({"tariff": "TEMPO", "price_tempo_red_hp": 0.8}),
        json!({}),
    );
    h.gw.fill_tempo(day(2023, 9, 1), day(2024, 1, 15), |_| RteColor::Blue);
    h.gw.set_tempo(day(2024, 1, 16), RteColor::Red);
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2023, 11, 1),
        day(2024, 1, 16),
        |_| 24_000,
    );
    let p = h.open().await;
    assert_ok(&sync(&p).await);
    assert_eq!(h.gw.tempo_price_calls(), 1);
    let messages = Published::of(&p).await;
    let daily = messages.state(DEFAULT_PDL, "cost/daily");
    assert_eq!(
        (daily["value"].as_f64(), daily["date"].as_str()),
        (Some(round2(24.0 * 0.8)), Some("2024-01-16")),
        "the option's red HP: {daily}"
    );
    let monthly = messages.state(DEFAULT_PDL, "cost/monthly");
    assert_eq!(
        monthly["value"].as_f64(),
        Some(round2(15.0 * 24.0 * 0.1612 + 24.0 * 0.8)),
        "{monthly}"
    );
}

/// v2 does not publish prices: a Tempo meter without option prices has no price or cost,
/// and its status says what is missing.
#[tokio::test]
async fn v2_without_option_prices_has_no_tempo_price() {
    let h = Harness::grid(
        Generation::V2,
        "2024-01-17T11:00:00Z",
        json!({"tariff": "TEMPO"}),
        json!({}),
    );
    h.gw.fill_tempo(day(2023, 9, 1), day(2024, 1, 17), |_| RteColor::Blue);
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2023, 11, 1),
        day(2024, 1, 16),
        |_| 24_000,
    );
    let p = h.open().await;
    assert_ok(&sync(&p).await);
    assert_eq!(h.gw.tempo_price_calls(), 0);
    let messages = Published::of(&p).await;
    for path in ["price/current", "cost/daily", "cost/monthly"] {
        let topic = format!("{P}/{DEFAULT_PDL}/{path}");
        assert!(
            messages.payload(&topic).is_none(),
            "{topic}: {:?}",
            messages.0.get(&topic)
        );
    }
    let status = messages.state(DEFAULT_PDL, "status");
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.contains("price_tempo")),
        "{status}"
    );
}

// ---------------------------------------------------------------------------------------------
// EcoWatt
// ---------------------------------------------------------------------------------------------

/// 15 January: level 1, 2 at 10:00, 3 at 11:00 and 18:00; 16 January: all 1.
fn ecowatt_days(gw: &FakeGateway) -> [u8; 24] {
    let mut values = [1u8; 24];
    values[10] = 2;
    values[11] = 3;
    values[18] = 3;
    gw.set_ecowatt(day(2024, 1, 15), FakeEcowattDay::new(values));
    gw.set_ecowatt(
        day(2024, 1, 16),
        FakeEcowattDay {
            dvalue: 1,
            message: "Consommation normale".into(),
            values: vec![1; 24],
        },
    );
    values
}

async fn ecowatt_current_hour_and_forecast_are_republished_from_the_store(g: Generation) {
    // 10:20 Paris.
    let h = Harness::grid(g, "2024-01-15T09:20:00Z", json!({}), json!({}));
    h.gw.fill_tempo(day(2023, 9, 1), day(2024, 1, 15), |_| RteColor::Blue);
    let values = ecowatt_days(&h.gw);
    let p = h.open().await;
    assert_ok(&sync(&p).await);
    assert_eq!(h.gw.ecowatt_calls(), 1);
    let request = &h.gw.ecowatt_requests()[0];
    match g {
        Generation::V1 => assert!(
            request.path.starts_with("/rte/ecowatt/2024-01-15/"),
            "{request:?}"
        ),
        Generation::V2 => assert_eq!(request.path, "/api/ecowatt/forecast"),
    }
    let (stored, _) = within(T, "ecowatt", p.store.ecowatt(day(2024, 1, 15)))
        .await
        .expect("store")
        .expect("today's signal stored");
    assert_eq!(stored.hours, values.to_vec());
    assert_eq!(stored.level, 3);

    let message = support::gateway::ecowatt_message(3);
    let messages = Published::of(&p).await;
    let current = messages.topic(&format!("{P}/ecowatt/current"));
    assert_eq!(
        (current["level"].as_u64(), current["message"].as_str()),
        (Some(2), Some(message)),
        "10:20 Paris: the 10:00 hour: {current}"
    );
    let forecast = messages.topic(&format!("{P}/ecowatt/forecast"));
    let expected: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(hour, level)| json!({"hour": hour, "level": level}))
        .collect();
    assert_eq!(forecast, Value::from(expected));

    // Each hour, from the store.
    let requests = h.gw.requests().len();
    for (now, level, what) in [
        ("2024-01-15T09:59:59Z", 2, "10:59:59"),
        ("2024-01-15T10:00:00Z", 3, "11:00"),
        ("2024-01-15T11:00:00Z", 1, "12:00"),
        ("2024-01-15T17:30:00Z", 3, "18:30"),
        ("2024-01-15T22:59:00Z", 1, "23:59"),
    ] {
        h.clock.set(instant(now));
        let current = Published::of(&p)
            .await
            .topic(&format!("{P}/ecowatt/current"));
        assert_eq!(current["level"].as_u64(), Some(level), "{what}: {current}");
        assert_eq!(current["message"].as_str(), Some(message), "{what}");
    }
    // The next republish is the next hour.
    assert_eq!(
        next_republish(&p, instant("2024-01-15T10:20:00Z")).await,
        Some(instant("2024-01-15T11:00:00Z"))
    );
    // After midnight: the 16th, fetched with the 15th.
    h.clock.set(instant("2024-01-15T23:30:00Z"));
    let current = Published::of(&p)
        .await
        .topic(&format!("{P}/ecowatt/current"));
    assert_eq!(
        (current["level"].as_u64(), current["message"].as_str()),
        (Some(1), Some("Consommation normale")),
        "{current}"
    );
    assert_eq!(
        Published::of(&p)
            .await
            .topic(&format!("{P}/ecowatt/forecast"))
            .as_array()
            .map(Vec::len),
        Some(24)
    );
    assert_eq!(h.gw.requests().len(), requests, "no gateway call");
}

async fn ecowatt_is_not_refetched_while_fresh_across_a_restart(g: Generation) {
    assert_eq!(ECOWATT_MAX_AGE_HOURS, 4);
    // 09:00 Paris.
    let h = Harness::grid(g, "2024-01-15T08:00:00Z", json!({}), json!({}));
    h.gw.fill_tempo(day(2023, 9, 1), day(2024, 1, 16), |_| RteColor::Blue);
    ecowatt_days(&h.gw);
    {
        let p = h.open().await;
        assert_ok(&sync(&p).await);
        p.store.close().await;
    }
    assert_eq!(h.gw.ecowatt_calls(), 1);
    assert_eq!(h.gw.tempo_calls(), 1);

    // A restart 3 h 59 later: nothing fresh is asked again.
    h.at("2024-01-15T11:59:00Z");
    let p = h.open().await;
    h.gw.clear_requests();
    assert_ok(&sync(&p).await);
    assert_eq!(h.gw.ecowatt_calls(), 0, "{:?}", h.gw.ecowatt_requests());
    // (Tomorrow's colour is due from 10:40: that is the only Tempo call.)
    assert_eq!(tempo_ranges(&h), vec![(day(2024, 1, 16), day(2024, 1, 17))]);
    let current = Published::of(&p)
        .await
        .topic(&format!("{P}/ecowatt/current"));
    assert_eq!(current["level"].as_u64(), Some(1), "12:59 Paris: {current}");

    // Another restart: nothing at all for Tempo, still nothing for EcoWatt.
    p.store.close().await;
    drop(p);
    h.at("2024-01-15T11:59:30Z");
    let p = h.open().await;
    h.gw.clear_requests();
    assert_ok(&sync(&p).await);
    assert_eq!(h.gw.grid_calls(), 0, "{:?}", h.gw.requests());

    // 4 h 01 after the fetch: asked again.
    h.at("2024-01-15T12:01:00Z");
    assert_ok(&sync(&p).await);
    assert_eq!(h.gw.ecowatt_calls(), 1);
    assert_eq!(h.gw.tempo_calls(), 0);
}

async fn ecowatt_rate_limit_keeps_the_stored_signal_and_reports_the_error(g: Generation) {
    let h = Harness::grid(g, "2024-01-15T08:00:00Z", json!({}), json!({}));
    // Tomorrow's colour is not published yet when the EcoWatt quota runs out.
    h.gw.fill_tempo(day(2023, 9, 1), day(2024, 1, 15), |_| RteColor::Blue);
    let values = ecowatt_days(&h.gw);
    let p = h.open().await;
    assert_ok(&sync(&p).await);
    let (before, fetched) = within(T, "ecowatt", p.store.ecowatt(day(2024, 1, 15)))
        .await
        .expect("store")
        .expect("stored");
    assert_eq!(h.gw.ecowatt_call_number(), 1);

    // The gateway's EcoWatt quota is used up; the signal is stale at 14:30 Paris.
    h.gw.set_ecowatt_daily_limit(Some(1));
    h.gw.set_ecowatt(day(2024, 1, 15), FakeEcowattDay::flat(3));
    h.at("2024-01-15T13:30:00Z");
    let summary = sync(&p).await;
    let line = grid_error(&summary);
    assert!(
        line.contains("Rate limit exceeded: 1/1 requests today"),
        "{line}"
    );
    assert!(quota_reached(grid_failure(&summary)), "{line}");
    assert_eq!(h.gw.ecowatt_calls(), 2, "asked once, not retried");
    let (after, fetched_after) = within(T, "ecowatt", p.store.ecowatt(day(2024, 1, 15)))
        .await
        .expect("store")
        .expect("still stored");
    assert_eq!((after, fetched_after), (before, fetched));
    let current = Published::of(&p)
        .await
        .topic(&format!("{P}/ecowatt/current"));
    assert_eq!(
        current["level"].as_u64(),
        Some(u64::from(values[14])),
        "{current}"
    );
    assert_eq!(
        Published::of(&p)
            .await
            .topic(&format!("{P}/ecowatt/forecast"))
            .as_array()
            .map(Vec::len),
        Some(24)
    );

    // EcoWatt's own limit (its 429) stops neither the Tempo polling nor the meter: 15:00
    // Paris, tomorrow is published and yesterday's consumption too. (Whether EcoWatt itself
    // is asked again before the reset is left open: its error line is tolerated here.)
    h.gw.set_tempo(day(2024, 1, 16), RteColor::White);
    h.gw.set_day(DEFAULT_PDL, Series::Consumption, day(2024, 1, 14), 12_345);
    h.at("2024-01-15T14:00:00Z");
    h.gw.clear_requests();
    let summary = sync(&p).await;
    let others: Vec<&SyncFailure> = summary
        .errors
        .iter()
        // EcoWatt's own quota line (the gateway's 429, or our count that it set to the limit).
        .filter(|f| !(f.part == Part::Grid && quota_reached(f)))
        .collect();
    assert!(others.is_empty(), "{:?}", summary.errors);
    assert!(summary.tempo_tomorrow_known, "{:?}", summary.errors);
    assert_eq!(tempo_ranges(&h), vec![(day(2024, 1, 16), day(2024, 1, 17))]);
    assert_eq!(
        Published::of(&p)
            .await
            .topic(&format!("{P}/tempo/tomorrow")),
        json!({"color": "BLANC", "date": "2024-01-16"})
    );
    assert!(h.gw.daily_calls() > 0, "{:?}", h.gw.requests());
    assert_eq!(
        Published::of(&p)
            .await
            .state(DEFAULT_PDL, "consumption/daily")["date"],
        json!("2024-01-14")
    );
}

// ---------------------------------------------------------------------------------------------
// Error forms
// ---------------------------------------------------------------------------------------------

async fn error_forms_of_the_grid_routes_leave_stored_data_untouched(g: Generation) {
    let tempo_faults: Vec<(&str, Fault)> = match g {
        Generation::V2 => vec![
            (
                "success:false",
                Fault::api("RTE_UNAVAILABLE", "RTE ne répond pas"),
            ),
            ("500 not JSON", Fault::server_error()),
            (
                "200 not JSON",
                Fault::status(200, "<html>maintenance</html>"),
            ),
        ],
        Generation::V1 => vec![
            (
                "500 detail",
                Fault::detail(500, "Technical error. Please try later."),
            ),
            ("500 not JSON", Fault::server_error()),
            (
                "200 not JSON",
                Fault::status(200, "<html>maintenance</html>"),
            ),
        ],
    };
    // 2024-01-15 09:00 Paris.
    let h = Harness::grid(g, "2024-01-15T08:00:00Z", json!({}), json!({}));
    h.gw.fill_tempo(day(2023, 9, 1), day(2024, 1, 31), |_| RteColor::Blue);
    h.gw.set_tempo(day(2024, 1, 15), RteColor::White);
    ecowatt_days(&h.gw);
    let p = h.open().await;
    assert_ok(&sync(&p).await);
    let season = day(2023, 9, 1);
    let mut known = stored_colours(&p, season, day(2024, 1, 31)).await;
    assert_eq!(known.len(), 137);

    let mut today = day(2024, 1, 15);
    for (what, fault) in tempo_faults {
        // The next morning at 09:00 Paris: today is missing, one call for it.
        today = today.succ_opt().unwrap();
        h.at(&format!("{today}T08:00:00Z"));
        h.gw.clear_requests();
        h.gw.push_fault_on(FaultOn::Tempo, fault);
        let summary = sync(&p).await;
        let failure = grid_failure(&summary);
        assert!(
            matches!(failure.error, SyncError::Gateway(_)),
            "{what}: {failure}"
        );
        assert_eq!(h.gw.tempo_calls(), 1, "{what}: not retried");
        assert_eq!(h.gw.pending_faults(), 0, "{what}");
        assert_eq!(
            stored_colours(&p, season, day(2024, 1, 31)).await,
            known,
            "{what}: the stored colours are untouched"
        );
        let messages = Published::of(&p).await;
        assert_eq!(
            messages.topic(&format!("{P}/tempo/today")),
            json!({"color": null, "date": today.to_string()}),
            "{what}"
        );
        let remaining = messages.topic(&format!("{P}/tempo/remaining"));
        assert_eq!(
            remaining["white"],
            json!(42),
            "{what}: yesterday's white is still counted: {remaining}"
        );
        // The next sync gets it.
        assert_ok(&sync(&p).await);
        known = stored_colours(&p, season, day(2024, 1, 31)).await;
        assert_eq!(known.get(&today), Some(&TempoColor::Blue), "{what}");
        assert_eq!(known.get(&day(2024, 1, 15)), Some(&TempoColor::White));
    }

    // EcoWatt, in each generation's error forms: the stored signal stays.
    let ecowatt_faults: Vec<(&str, Fault)> = match g {
        Generation::V2 => vec![
            (
                "success:false",
                Fault::api("RTE_UNAVAILABLE", "RTE ne répond pas"),
            ),
            ("500 not JSON", Fault::server_error()),
            ("429", Fault::rate_limited()),
        ],
        Generation::V1 => vec![
            (
                "500 detail",
                Fault::detail(500, "Technical error. Please try later."),
            ),
            ("429 detail", Fault::rate_limited()),
        ],
    };
    for signal_day in [day(2024, 1, 19), day(2024, 1, 20)] {
        h.gw.set_ecowatt(signal_day, FakeEcowattDay::flat(2));
    }
    // 2024-01-19 08:00 Paris: a fresh signal, then stale 5 h later.
    h.at("2024-01-19T07:00:00Z");
    assert_ok(&sync(&p).await);
    let stored = within(T, "ecowatt", p.store.ecowatt(day(2024, 1, 19)))
        .await
        .expect("store")
        .expect("stored");
    let mut now = instant("2024-01-19T07:00:00Z");
    for (what, fault) in ecowatt_faults {
        now += chrono::Duration::hours(5);
        // Stay on the 19th (Paris) so the stored row is the one shown.
        assert_eq!(paris_day(now), day(2024, 1, 19));
        h.clock.set(now);
        h.gw.clear_requests();
        h.gw.push_fault_on(FaultOn::Ecowatt, fault);
        let summary = sync(&p).await;
        let failure = grid_failure(&summary);
        assert!(
            matches!(failure.error, SyncError::Gateway(_)),
            "{what}: {failure}"
        );
        assert_eq!(h.gw.ecowatt_calls(), 1, "{what}");
        assert_eq!(
            within(T, "ecowatt", p.store.ecowatt(day(2024, 1, 19)))
                .await
                .expect("store")
                .as_ref(),
            Some(&stored),
            "{what}"
        );
        let current = Published::of(&p)
            .await
            .topic(&format!("{P}/ecowatt/current"));
        assert_eq!(current["level"].as_u64(), Some(2), "{what}: {current}");
        // The Tempo colours are all still there (tomorrow's was added by the same sync).
        let colours = stored_colours(&p, season, day(2024, 1, 31)).await;
        assert!(
            known.iter().all(|(d, c)| colours.get(d) == Some(c)),
            "{what}: {colours:?}"
        );
    }
}
