use chrono::NaiveTime;

use super::*;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn t(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

fn night() -> Vec<TimeRange> {
    vec![TimeRange {
        start: t(22, 0),
        end: t(6, 0),
    }]
}

/// A meter's tariff and the prices of its options.
struct Meter {
    tariff: Tariff,
    prices: Prices,
}

fn meter(tariff: Tariff, prices: Prices) -> Meter {
    Meter { tariff, prices }
}

fn tempo_prices() -> Prices {
    Prices {
        tempo_blue_hc: Some(0.1325),
        tempo_blue_hp: Some(0.1612),
        tempo_white_hc: Some(0.1499),
        tempo_white_hp: Some(0.1871),
        tempo_red_hc: Some(0.1575),
        tempo_red_hp: Some(0.7060),
        ..Prices::default()
    }
}

/// 15 January is red, 16 January white, 14 January blue.
fn colour(day: NaiveDate) -> Option<TempoColor> {
    match day.to_string().as_str() {
        "2024-01-14" => Some(TempoColor::Blue),
        "2024-01-15" => Some(TempoColor::Red),
        "2024-01-16" => Some(TempoColor::White),
        "2024-03-30" | "2024-03-31" | "2024-10-26" | "2024-10-27" => Some(TempoColor::Blue),
        _ => None,
    }
}

fn tempo_now(at: &str) -> (Option<f64>, &'static str, Option<TempoColor>) {
    let m = meter(Tariff::Tempo, tempo_prices());
    let prices = super::tempo_prices(&m.prices, None);
    let p = price_at(m.tariff, &m.prices, None, &prices, colour, utc(at)).unwrap();
    (p.eur_per_kwh, p.period, p.color)
}

#[test]
fn the_tempo_pricing_day_runs_from_six_to_six() {
    let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    assert_eq!(
        tempo_pricing(at("2024-01-15 05:59")),
        (d("2024-01-14"), Period::Hc)
    );
    assert_eq!(
        tempo_pricing(at("2024-01-15 06:00")),
        (d("2024-01-15"), Period::Hp)
    );
    assert_eq!(
        tempo_pricing(at("2024-01-15 21:59")),
        (d("2024-01-15"), Period::Hp)
    );
    assert_eq!(
        tempo_pricing(at("2024-01-15 22:00")),
        (d("2024-01-15"), Period::Hc)
    );
    assert_eq!(
        tempo_pricing(at("2024-01-16 00:00")),
        (d("2024-01-15"), Period::Hc)
    );
}

#[test]
fn tempo_price_changes_exactly_at_six_and_twenty_two_paris() {
    // Winter, Paris = UTC+1. 05:59 on the red 15th is still the blue 14th's night.
    assert_eq!(
        tempo_now("2024-01-15T04:59:00Z"),
        (Some(0.1325), "HC", Some(TempoColor::Blue))
    );
    assert_eq!(
        tempo_now("2024-01-15T05:00:00Z"),
        (Some(0.7060), "HP", Some(TempoColor::Red))
    );
    assert_eq!(
        tempo_now("2024-01-15T20:59:00Z"),
        (Some(0.7060), "HP", Some(TempoColor::Red))
    );
    assert_eq!(
        tempo_now("2024-01-15T21:00:00Z"),
        (Some(0.1575), "HC", Some(TempoColor::Red))
    );
    // Midnight does not change the colour: the red night goes on until 06:00.
    assert_eq!(
        tempo_now("2024-01-15T23:30:00Z"),
        (Some(0.1575), "HC", Some(TempoColor::Red))
    );
    assert_eq!(
        tempo_now("2024-01-16T05:00:00Z"),
        (Some(0.1871), "HP", Some(TempoColor::White))
    );
}

#[test]
fn an_unknown_colour_gives_no_price_rather_than_a_wrong_one() {
    assert_eq!(tempo_now("2024-01-17T12:00:00Z"), (None, "HP", None));
}

#[test]
fn tempo_boundaries_follow_dst() {
    let m = meter(Tariff::Tempo, tempo_prices());
    // 31 March 2024 (23 h): 06:00 Paris = 04:00 UTC; 22:00 = 20:00 UTC.
    assert_eq!(
        next_price_change(m.tariff, None, utc("2024-03-30T21:30:00Z")),
        Some(utc("2024-03-31T04:00:00Z"))
    );
    assert_eq!(
        next_price_change(m.tariff, None, utc("2024-03-31T04:00:00Z")),
        Some(utc("2024-03-31T20:00:00Z"))
    );
    // 27 October 2024 (25 h): 06:00 Paris = 05:00 UTC.
    assert_eq!(
        next_price_change(m.tariff, None, utc("2024-10-26T20:00:00Z")),
        Some(utc("2024-10-27T05:00:00Z"))
    );
    // Around the change itself the period is right on both sides.
    assert_eq!(tempo_now("2024-03-31T03:59:00Z").1, "HC");
    assert_eq!(tempo_now("2024-03-31T04:00:00Z").1, "HP");
    assert_eq!(tempo_now("2024-10-27T04:59:00Z").1, "HC");
    assert_eq!(tempo_now("2024-10-27T05:00:00Z").1, "HP");
}

#[test]
fn hchp_price_changes_at_the_offpeak_boundaries_paris_time() {
    let m = meter(
        Tariff::HcHp,
        Prices {
            hc: Some(0.2068),
            hp: Some(0.27),
            ..Prices::default()
        },
    );
    let period = |at: &str| {
        price_at(
            m.tariff,
            &m.prices,
            Some(&night()),
            &TempoPrices::default(),
            |_| None,
            utc(at),
        )
        .unwrap()
        .period
    };
    assert_eq!(period("2024-01-15T20:59:59Z"), "HP");
    assert_eq!(period("2024-01-15T21:00:00Z"), "HC");
    assert_eq!(period("2024-01-16T04:59:59Z"), "HC");
    assert_eq!(period("2024-01-16T05:00:00Z"), "HP");
    assert_eq!(period("2024-07-15T19:59:59Z"), "HP");
    assert_eq!(period("2024-07-15T20:00:00Z"), "HC");
    assert_eq!(
        price_at(
            m.tariff,
            &m.prices,
            None,
            &TempoPrices::default(),
            |_| None,
            utc("2024-07-15T20:00:00Z")
        ),
        None
    );
    assert_eq!(
        next_price_change(m.tariff, Some(&night()), utc("2024-01-15T12:00:00Z")),
        Some(utc("2024-01-15T21:00:00Z"))
    );
    assert_eq!(
        next_price_change(m.tariff, Some(&night()), utc("2024-01-15T21:00:00Z")),
        Some(utc("2024-01-16T05:00:00Z"))
    );
}

#[test]
fn base_price_never_changes() {
    let m = meter(
        Tariff::Base,
        Prices {
            base: Some(0.2516),
            ..Prices::default()
        },
    );
    let price = price_at(
        m.tariff,
        &m.prices,
        None,
        &TempoPrices::default(),
        |_| None,
        utc("2024-01-15T12:00:00Z"),
    )
    .unwrap();
    assert_eq!((price.eur_per_kwh, price.period), (Some(0.2516), "BASE"));
    assert_eq!(
        next_price_change(m.tariff, None, utc("2024-01-15T12:00:00Z")),
        None
    );
}

#[test]
fn tempo_prices_come_from_the_options_first_then_the_gateway() {
    let gateway = TempoPrices {
        blue_hc: Some(0.5),
        blue_hp: Some(0.6),
        ..TempoPrices::default()
    };
    let options = Prices {
        tempo_blue_hc: Some(0.1),
        ..Prices::default()
    };
    let merged = super::tempo_prices(&options, Some(&gateway));
    assert_eq!(
        (merged.blue_hc, merged.blue_hp, merged.red_hp),
        (Some(0.1), Some(0.6), None)
    );
    assert!(!tempo_prices_complete(&merged));
    assert!(tempo_prices_complete(&super::tempo_prices(
        &tempo_prices(),
        None
    )));
}

#[test]
fn seasons_run_from_september_and_hold_301_blue_days_with_a_29_february() {
    assert_eq!(tempo_season_start(d("2024-01-15")), d("2023-09-01"));
    assert_eq!(tempo_season_start(d("2024-08-31")), d("2023-09-01"));
    assert_eq!(tempo_season_start(d("2024-09-01")), d("2024-09-01"));
    assert_eq!(
        tempo_season_totals(d("2023-09-01")),
        [
            (TempoColor::Blue, 301),
            (TempoColor::White, 43),
            (TempoColor::Red, 22)
        ]
    );
    assert_eq!(
        tempo_season_totals(d("2024-09-01")),
        [
            (TempoColor::Blue, 300),
            (TempoColor::White, 43),
            (TempoColor::Red, 22)
        ]
    );
}

#[test]
fn hchp_boundaries_in_the_dst_hours_are_kept() {
    // Found by tests/properties.rs: a boundary in the doubled autumn hour was met only at
    // its first occurrence, one in the skipped spring hour an hour late.
    let range = |s, e| vec![TimeRange { start: s, end: e }];
    // 02:41:59 winter time, HC until 02:42: the second 02:42, not midnight.
    let autumn = range(t(0, 0), t(2, 42));
    assert_eq!(
        next_price_change(Tariff::HcHp, Some(&autumn), utc("2000-10-29T01:41:59Z")),
        Some(utc("2000-10-29T01:42:00Z"))
    );
    // 02:50 summer time, HP since 02:42: HC again when the clock falls back to 02:00.
    assert_eq!(
        next_price_change(Tariff::HcHp, Some(&autumn), utc("2000-10-29T00:50:00Z")),
        Some(utc("2000-10-29T01:00:00Z"))
    );
    // 01:00 on 31 March 2024, HC from 02:30: the clock jumps to 03:00 (01:00 UTC).
    let spring = range(t(2, 30), t(5, 0));
    assert_eq!(
        next_price_change(Tariff::HcHp, Some(&spring), utc("2024-03-31T00:00:00Z")),
        Some(utc("2024-03-31T01:00:00Z"))
    );
}
