use chrono::{Duration, NaiveTime};

use super::*;
use crate::config::Prices;
use crate::gateway::TempoColor;

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

fn meter(tariff: Tariff, prices: Prices) -> MeterSettings {
    MeterSettings {
        pdl: Pdl::parse("12345678901234").unwrap(),
        name: "Maison".into(),
        token: None,
        consumption: true,
        production: false,
        load_curve: true,
        tariff,
        prices,
        offpeak_hours: Some(night()),
        tempo_prices_from_gateway: false,
    }
}

/// Half-hour intervals of a Paris day as stored: start wall-clock time, DST included.
fn curve(day: NaiveDate, watts: impl Fn(NaiveTime) -> i64) -> Vec<CurveInterval> {
    let start = crate::calendar::start_of_day(day).with_timezone(&Utc);
    let end = crate::calendar::start_of_day(add_days(day, 1)).with_timezone(&Utc);
    let mut intervals = Vec::new();
    let mut at = start;
    while at < end {
        let local = at.with_timezone(&chrono_tz::Europe::Paris).naive_local();
        intervals.push(CurveInterval {
            start_local: local,
            minutes: 30,
            watts: watts(local.time()),
        });
        at += Duration::minutes(30);
    }
    intervals
}

#[test]
fn iso_weeks_cross_year_boundaries() {
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
}

#[test]
fn hchp_split_classifies_each_interval_by_its_start_across_midnight() {
    // 1000 W all day: 8 h off-peak (22:00-06:00) = 8 kWh, 16 h peak = 16 kWh.
    let (hc, hp) = split_hchp(&curve(d("2024-01-15"), |_| 1000), &night());
    assert_eq!((hc, hp), (8000.0, 16000.0));
    // The 05:30 interval is off-peak, the 06:00 one is peak, the 21:30 one peak, 22:00 off-peak.
    let marked = curve(d("2024-01-15"), |time| {
        if [t(5, 30), t(22, 0)].contains(&time) {
            10_000
        } else {
            0
        }
    });
    assert_eq!(split_hchp(&marked, &night()), (10_000.0, 0.0));
    let marked = curve(d("2024-01-15"), |time| {
        if [t(6, 0), t(21, 30)].contains(&time) {
            10_000
        } else {
            0
        }
    });
    assert_eq!(split_hchp(&marked, &night()), (0.0, 10_000.0));
}

#[test]
fn hchp_split_on_dst_days_counts_23_and_25_hours() {
    // Spring: 02:00-03:00 does not exist, it was off-peak: 7 h HC, 16 h HP.
    assert_eq!(
        split_hchp(&curve(d("2024-03-31"), |_| 1000), &night()),
        (7000.0, 16000.0)
    );
    // Autumn: 02:00-03:00 happens twice, off-peak: 9 h HC, 16 h HP.
    assert_eq!(
        split_hchp(&curve(d("2024-10-27"), |_| 1000), &night()),
        (9000.0, 16000.0)
    );
}

#[test]
fn max_power_exceeds_only_above_the_subscribed_power() {
    let peak = |va| PeakView {
        peak: StoredPeak {
            date: d("2024-01-15"),
            va,
            at: None,
            fetched_at: utc("2024-01-16T09:00:00Z"),
        },
        subscribed_va: Some(9000),
    };
    assert_eq!(peak(9000).exceeded(), Some(false));
    assert_eq!(peak(9001).exceeded(), Some(true));
}

#[test]
fn energy_is_rounded_to_three_decimals() {
    assert_eq!(kwh(15230), 15.23);
    assert_eq!(kwh(1), 0.001);
    assert_eq!(round(3.125_1, 2), 3.13);
}

#[test]
fn only_complete_days_count() {
    let mut days = BTreeMap::new();
    days.insert(d("2024-03-31"), curve(d("2024-03-31"), |_| 100));
    days.insert(d("2024-10-27"), curve(d("2024-10-27"), |_| 100));
    let mut partial = curve(d("2024-01-15"), |_| 100);
    partial.pop();
    days.insert(d("2024-01-15"), partial);
    assert_eq!(
        complete_days(days).keys().copied().collect::<Vec<_>>(),
        vec![d("2024-03-31"), d("2024-10-27")]
    );
}

#[test]
fn base_costs_are_each_day_at_the_base_price_and_the_month_to_date() {
    let days: BTreeMap<NaiveDate, Option<i64>> = [
        (d("2024-01-31"), Some(10_000)),
        (d("2024-02-01"), Some(15_230)),
        (d("2024-02-28"), None),
        (d("2024-02-29"), Some(20_000)),
    ]
    .into_iter()
    .collect();
    let view = cost_view(&day_costs(&days, |_| Some(0.25)));
    let daily = view.daily.unwrap();
    assert_eq!((daily.date, round(daily.eur, 2)), (d("2024-02-29"), 5.0));
    let monthly = view.monthly.unwrap();
    assert_eq!(
        (monthly.date, round(monthly.eur, 2), monthly.days),
        (d("2024-02-01"), 8.81, 2),
        "29 February counts, January does not"
    );
    assert_eq!(cost_view(&BTreeMap::new()), CostView::default());
}

#[test]
fn curve_costs_price_each_interval_by_its_start() {
    let mut days = BTreeMap::new();
    days.insert(d("2024-01-15"), curve(d("2024-01-15"), |_| 1000));
    let ranges = night();
    let costs = curve_costs(&days, |start| {
        Some(if hchp_period(start.time(), &ranges) == Period::Hc {
            0.2
        } else {
            0.3
        })
    });
    // 8 kWh at 0.2 + 16 kWh at 0.3.
    assert_eq!(round(costs[&d("2024-01-15")], 2), 6.4);
    // One unknown price: no cost for that day rather than a wrong one.
    let costs = curve_costs(&days, |start| (start.time() != t(12, 0)).then_some(0.2));
    assert!(costs.is_empty());
}

#[test]
fn tempo_curve_costs_take_the_previous_colour_before_six() {
    // 2024-01-15 is red, the 14th blue: 00:00-06:00 is blue HC, 06:00-22:00 red HP,
    // 22:00-24:00 red HC.
    let colours: BTreeMap<NaiveDate, TempoColor> = [
        (d("2024-01-14"), TempoColor::Blue),
        (d("2024-01-15"), TempoColor::Red),
    ]
    .into_iter()
    .collect();
    let prices = TempoPrices {
        blue_hc: Some(0.1),
        blue_hp: Some(0.2),
        white_hc: Some(0.3),
        white_hp: Some(0.4),
        red_hc: Some(0.5),
        red_hp: Some(0.7),
    };
    let mut days = BTreeMap::new();
    days.insert(d("2024-01-15"), curve(d("2024-01-15"), |_| 1000));
    let costs = curve_costs(&days, |start| {
        let (day, period) = tariffs::tempo_pricing(start);
        tariffs::tempo_price(&prices, *colours.get(&day)?, period)
    });
    // 6 kWh × 0.1 + 16 kWh × 0.7 + 2 kWh × 0.5.
    assert_eq!(round(costs[&d("2024-01-15")], 2), 12.8);
}

#[test]
fn the_status_names_what_costs_need() {
    let mut m = meter(
        Tariff::HcHp,
        Prices {
            hc: Some(0.2),
            hp: Some(0.3),
            ..Prices::default()
        },
    );
    m.load_curve = false;
    assert!(cost_note(&m, true, false).unwrap().contains("load_curve"));
    m.load_curve = true;
    assert_eq!(cost_note(&m, true, false), None);
    assert!(
        cost_note(&m, false, false)
            .unwrap()
            .contains("offpeak_hours")
    );
    let mut tempo = meter(Tariff::Tempo, Prices::default());
    assert!(
        cost_note(&tempo, true, false)
            .unwrap()
            .contains("price_tempo")
    );
    tempo.load_curve = false;
    assert!(cost_note(&tempo, true, true).unwrap().contains("estimated"));
}

#[test]
fn tempo_meters_split_hc_hp_at_22_and_6() {
    let tempo = meter(Tariff::Tempo, Prices::default());
    let ranges = offpeak_ranges(&tempo, Some("HC (1H30-8H00)")).unwrap();
    assert_eq!(
        split_hchp(&curve(d("2024-01-15"), |_| 1000), &ranges),
        (8000.0, 16000.0)
    );
}
