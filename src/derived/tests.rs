use chrono::{Duration, NaiveTime, TimeZone};

use super::*;
use crate::config::Prices;

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

fn energy(latest: &str, wh: i64, month_wh: i64, month_days: u32) -> EnergyView {
    EnergyView {
        latest: StoredDay {
            date: d(latest),
            wh,
            quality: None,
            fetched_at: Utc.with_ymd_and_hms(2024, 1, 16, 9, 0, 0).unwrap(),
        },
        previous: None,
        week: PeriodTotal::default(),
        month: PeriodTotal {
            wh: month_wh,
            days: month_days,
        },
        year: PeriodTotal::default(),
    }
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
fn only_complete_days_get_a_split() {
    let mut days = BTreeMap::new();
    days.insert(d("2024-03-31"), curve(d("2024-03-31"), |_| 100));
    days.insert(d("2024-10-27"), curve(d("2024-10-27"), |_| 100));
    let mut partial = curve(d("2024-01-15"), |_| 100);
    partial.pop();
    days.insert(d("2024-01-15"), partial);
    let splits = complete_splits(&days, &night());
    assert_eq!(
        splits.keys().copied().collect::<Vec<_>>(),
        vec![d("2024-03-31"), d("2024-10-27")]
    );
}

#[test]
fn base_costs_use_the_base_price_for_the_day_and_the_month() {
    let m = meter(
        Tariff::Base,
        Prices {
            base: Some(0.2516),
            ..Prices::default()
        },
    );
    let cost = costs(
        &m,
        Some(&energy("2024-02-29", 15_230, 245_650, 29)),
        &BTreeMap::new(),
    );
    let daily = cost.daily.unwrap();
    assert_eq!((daily.date, round(daily.eur, 2)), (d("2024-02-29"), 3.83));
    let monthly = cost.monthly.unwrap();
    assert_eq!(
        (monthly.date, round(monthly.eur, 2), monthly.days),
        (d("2024-02-01"), 61.81, 29)
    );
    // No price, no cost.
    let m = meter(Tariff::Base, Prices::default());
    assert_eq!(
        costs(
            &m,
            Some(&energy("2024-02-29", 15_230, 245_650, 29)),
            &BTreeMap::new()
        ),
        CostView::default()
    );
}

#[test]
fn hchp_costs_add_both_periods_over_the_complete_days_of_the_month() {
    let m = meter(
        Tariff::HcHp,
        Prices {
            hc: Some(0.2),
            hp: Some(0.3),
            ..Prices::default()
        },
    );
    let mut splits = BTreeMap::new();
    splits.insert(
        d("2024-01-31"),
        HcHpDay {
            date: d("2024-01-31"),
            hc_wh: 10_000.0,
            hp_wh: 10_000.0,
        },
    );
    splits.insert(
        d("2024-02-01"),
        HcHpDay {
            date: d("2024-02-01"),
            hc_wh: 8_000.0,
            hp_wh: 16_000.0,
        },
    );
    splits.insert(
        d("2024-02-02"),
        HcHpDay {
            date: d("2024-02-02"),
            hc_wh: 4_000.0,
            hp_wh: 2_000.0,
        },
    );
    let cost = costs(&m, Some(&energy("2024-02-02", 6_000, 30_000, 2)), &splits);
    assert_eq!(round(cost.daily.unwrap().eur, 2), 1.4);
    let monthly = cost.monthly.unwrap();
    assert_eq!(
        (monthly.date, round(monthly.eur, 2), monthly.days),
        (d("2024-02-01"), 7.8, 2)
    );
}

#[test]
fn hchp_without_load_curve_says_so_in_the_status() {
    let mut m = meter(
        Tariff::HcHp,
        Prices {
            hc: Some(0.2),
            hp: Some(0.3),
            ..Prices::default()
        },
    );
    m.load_curve = false;
    assert!(cost_note(&m, true).unwrap().contains("load_curve"));
    m.load_curve = true;
    assert_eq!(cost_note(&m, true), None);
    assert!(cost_note(&m, false).unwrap().contains("offpeak_hours"));
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
    let period = |at: &str| price_at(&m, Some(&night()), utc(at)).unwrap().period;
    // Winter: Paris = UTC+1.
    assert_eq!(period("2024-01-15T20:59:59Z"), "HP");
    assert_eq!(period("2024-01-15T21:00:00Z"), "HC");
    assert_eq!(period("2024-01-16T04:59:59Z"), "HC");
    assert_eq!(period("2024-01-16T05:00:00Z"), "HP");
    // Summer: Paris = UTC+2.
    assert_eq!(period("2024-07-15T19:59:59Z"), "HP");
    assert_eq!(period("2024-07-15T20:00:00Z"), "HC");
    assert_eq!(
        price_at(&m, Some(&night()), utc("2024-07-15T20:00:00Z"))
            .unwrap()
            .eur_per_kwh,
        0.2068
    );
    // Unknown off-peak hours: no price rather than a wrong one.
    assert_eq!(price_at(&m, None, utc("2024-07-15T20:00:00Z")), None);
}

#[test]
fn next_price_change_follows_dst() {
    // 2024-03-31 is 23 h long: 06:00 Paris is 04:00 UTC that morning.
    assert_eq!(
        next_price_change(&night(), utc("2024-03-30T22:00:00Z")),
        Some(utc("2024-03-31T04:00:00Z"))
    );
    // 2024-10-27: 06:00 Paris is 05:00 UTC.
    assert_eq!(
        next_price_change(&night(), utc("2024-10-26T23:00:00Z")),
        Some(utc("2024-10-27T05:00:00Z"))
    );
    // In the afternoon the next change is 22:00 Paris.
    assert_eq!(
        next_price_change(&night(), utc("2024-01-15T12:00:00Z")),
        Some(utc("2024-01-15T21:00:00Z"))
    );
    // Exactly at a boundary, the next one.
    assert_eq!(
        next_price_change(&night(), utc("2024-01-15T21:00:00Z")),
        Some(utc("2024-01-16T05:00:00Z"))
    );
}

#[test]
fn base_price_is_constant() {
    let m = meter(
        Tariff::Base,
        Prices {
            base: Some(0.2516),
            ..Prices::default()
        },
    );
    let price = price_at(&m, None, utc("2024-01-15T12:00:00Z")).unwrap();
    assert_eq!((price.eur_per_kwh, price.period), (0.2516, "BASE"));
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
