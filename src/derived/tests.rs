use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveTime};

use super::*;
use crate::config::MeterSettings;
use crate::model::{
    Contract, CurveInterval, DayEnergy, DayPeak, Pdl, Prices, Tariff, TempoColor, TempoPrices,
    TimeRange,
};
use crate::tariffs::{Period, hchp_period};

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

pub(super) fn meter(tariff: Tariff, prices: Prices) -> MeterSettings {
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
    crate::calendar::half_hourly_curve(day, watts)
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
        peak: DayPeak {
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
        complete_days(&days).keys().copied().collect::<Vec<_>>(),
        vec![d("2024-03-31"), d("2024-10-27")]
    );
}

#[test]
fn base_costs_are_each_day_at_the_base_price_and_the_month_to_date() {
    let days = [
        (d("2024-01-31"), 10_000),
        (d("2024-02-01"), 15_230),
        (d("2024-02-29"), 20_000),
    ];
    let view = CostView::of(&day_costs(days, |_| Some(0.25)));
    let daily = view.daily.unwrap();
    assert_eq!((daily.date, round(daily.eur, 2)), (d("2024-02-29"), 5.0));
    let monthly = view.monthly.unwrap();
    assert_eq!(
        (monthly.date, round(monthly.eur, 2), monthly.days),
        (d("2024-02-01"), 8.81, 2),
        "29 February counts, January does not"
    );
    assert_eq!(CostView::of(&BTreeMap::new()), CostView::default());
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

// ---------------------------------------------------------------------------------------------
// Views computed from inputs: plain data in, values out.

fn known(date: &str, wh: i64) -> DayEnergy {
    DayEnergy {
        date: d(date),
        wh,
        quality: Some("BRUT".into()),
        fetched_at: utc("2024-01-02T08:30:00Z"),
    }
}

/// A meter's inputs with nothing stored.
pub(super) fn inputs(meter: MeterSettings) -> MeterInputs {
    MeterInputs {
        meter,
        consumption: Vec::new(),
        production: Vec::new(),
        contract: None,
        peak: None,
        curve: BTreeMap::new(),
        colours: BTreeMap::new(),
        gateway_tempo_prices: None,
        status: Default::default(),
    }
}

#[test]
fn periods_to_date_end_at_the_latest_day_and_the_week_may_start_last_year() {
    let mut base = inputs(meter(Tariff::Base, Prices::default()));
    // 2024-01-02 is a Tuesday: its ISO week began on Monday 2024-01-01; the year too.
    // 2025-01-01 is a Wednesday: its week began on 2024-12-30.
    base.consumption = vec![
        known("2024-12-29", 500),
        known("2024-12-30", 1_000),
        known("2024-12-31", 2_000),
        known("2025-01-01", 4_000),
    ];
    let view = MeterView::compute(&base, utc("2025-01-02T09:00:00Z"));
    let energy = view.consumption.unwrap();
    assert_eq!(energy.latest.date, d("2025-01-01"));
    assert_eq!(energy.previous.map(|p| p.wh), Some(2_000));
    assert_eq!(energy.week, PeriodTotal { wh: 7_000, days: 3 });
    assert_eq!(energy.month, PeriodTotal { wh: 4_000, days: 1 });
    assert_eq!(energy.year, PeriodTotal { wh: 4_000, days: 1 });
    assert_eq!(view.production, None, "nothing known, nothing shown");

    // A gap before the latest day: `yesterday` is unknown, not a stale value.
    base.consumption.remove(2);
    let energy = MeterView::compute(&base, utc("2025-01-02T09:00:00Z"))
        .consumption
        .unwrap();
    assert_eq!(energy.previous, None);
    assert_eq!(energy.week, PeriodTotal { wh: 5_000, days: 2 });
}

#[test]
fn base_costs_price_every_known_day_of_the_latest_month() {
    let mut base = inputs(meter(
        Tariff::Base,
        Prices {
            base: Some(0.25),
            ..Prices::default()
        },
    ));
    base.consumption = vec![known("2024-01-31", 10_000), known("2024-02-02", 4_000)];
    let view = MeterView::compute(&base, utc("2024-02-03T09:00:00Z"));
    assert_eq!(
        view.cost.daily.map(|c| (c.date, c.eur)),
        Some((d("2024-02-02"), 1.0))
    );
    assert_eq!(
        view.cost.monthly.map(|c| (c.date, c.eur, c.days)),
        Some((d("2024-02-01"), 1.0, 1))
    );
    let price = view.price.unwrap();
    assert_eq!((price.eur_per_kwh, price.period), (Some(0.25), "BASE"));
    assert_eq!(view.status.note, None);
}

#[test]
fn hchp_costs_and_split_come_from_the_complete_days_of_the_curve() {
    let mut hchp = inputs(meter(
        Tariff::HcHp,
        Prices {
            hc: Some(0.2),
            hp: Some(0.3),
            ..Prices::default()
        },
    ));
    hchp.consumption = vec![known("2024-01-14", 24_000), known("2024-01-15", 24_000)];
    hchp.curve
        .insert(d("2024-01-14"), curve(d("2024-01-14"), |_| 1000));
    let mut partial = curve(d("2024-01-15"), |_| 1000);
    partial.pop();
    hchp.curve.insert(d("2024-01-15"), partial);
    // 20:59 UTC is 21:59 in Paris: peak hours.
    let view = MeterView::compute(&hchp, utc("2024-01-16T20:59:00Z"));
    let split = view.hchp.unwrap();
    assert_eq!(
        (split.date, split.hc_wh, split.hp_wh),
        (d("2024-01-14"), 8000.0, 16000.0)
    );
    // 8 kWh at 0.2 and 16 kWh at 0.3; the incomplete 15th has no cost.
    let daily = view.cost.daily.unwrap();
    assert_eq!((daily.date, round(daily.eur, 2)), (d("2024-01-14"), 6.4));
    assert_eq!(view.price.map(|p| p.period), Some("HP"));

    // Without the load curve: no cost, and the status says what is missing.
    hchp.meter.load_curve = false;
    hchp.curve.clear();
    let view = MeterView::compute(&hchp, utc("2024-01-16T21:00:00Z"));
    assert_eq!(view.cost, CostView::default());
    assert!(view.status.note.unwrap().contains("load_curve"));
    assert_eq!(view.price.map(|p| p.period), Some("HC"));
}

#[test]
fn tempo_without_the_curve_is_estimated_at_each_day_s_peak_price() {
    let mut tempo = inputs(meter(Tariff::Tempo, Prices::default()));
    tempo.meter.load_curve = false;
    tempo.gateway_tempo_prices = Some(TempoPrices {
        blue_hc: Some(0.1),
        blue_hp: Some(0.2),
        white_hc: Some(0.3),
        white_hp: Some(0.4),
        red_hc: Some(0.5),
        red_hp: Some(0.7),
    });
    tempo.consumption = vec![known("2024-01-15", 10_000), known("2024-01-16", 10_000)];
    tempo.colours = [
        (d("2024-01-15"), TempoColor::Red),
        (d("2024-01-16"), TempoColor::White),
    ]
    .into_iter()
    .collect();
    // 10:00 Paris on the 16th: a white day's peak hours.
    let view = MeterView::compute(&tempo, utc("2024-01-16T09:00:00Z"));
    let monthly = view.cost.monthly.unwrap();
    assert_eq!(round(monthly.eur, 2), 11.0, "10 kWh × 0.7 + 10 kWh × 0.4");
    assert!(view.status.note.unwrap().contains("estimated"));
    let price = view.price.unwrap();
    assert_eq!(
        (price.eur_per_kwh, price.period, price.color),
        (Some(0.4), "HP", Some(TempoColor::White))
    );
}

#[test]
fn the_peak_is_compared_with_the_contract_s_subscribed_power() {
    let mut base = inputs(meter(Tariff::Base, Prices::default()));
    base.peak = Some(DayPeak {
        date: d("2024-01-15"),
        va: 9_120,
        at: None,
        fetched_at: utc("2024-01-16T09:00:00Z"),
    });
    base.contract = Some(Contract {
        subscribed_kva: Some(9),
        ..Default::default()
    });
    let view = MeterView::compute(&base, utc("2024-01-16T09:00:00Z"));
    let peak = view.max_power.unwrap();
    assert_eq!(
        (peak.subscribed_va, peak.exceeded()),
        (Some(9_000), Some(true))
    );
}

#[test]
fn the_next_change_is_the_nearest_price_boundary_hour_or_midnight() {
    let mut hchp = inputs(meter(
        Tariff::HcHp,
        Prices {
            hc: Some(0.2),
            hp: Some(0.3),
            ..Prices::default()
        },
    ));
    hchp.meter.offpeak_hours = None;
    hchp.contract = Some(Contract {
        offpeak_hours: Some("HC (12H30-14H00)".into()),
        ..Default::default()
    });
    let mut snapshot = Snapshot {
        meters: vec![hchp],
        tempo: None,
        ecowatt: None,
    };
    // 12:10 Paris: the contract's off-peak hours start at 12:30.
    let now = utc("2024-01-16T11:10:00Z");
    assert_eq!(snapshot.next_change(now), Some(utc("2024-01-16T11:30:00Z")));
    snapshot.ecowatt = Some(EcowattInputs::default());
    assert_eq!(snapshot.next_change(now), Some(utc("2024-01-16T11:30:00Z")));
    let at_1240 = utc("2024-01-16T11:40:00Z");
    assert_eq!(
        snapshot.next_change(at_1240),
        Some(utc("2024-01-16T12:00:00Z")),
        "the hour"
    );
    snapshot.ecowatt = None;
    snapshot.meters.clear();
    assert_eq!(snapshot.next_change(now), None);
    snapshot.tempo = Some(TempoInputs::default());
    assert_eq!(
        snapshot.next_change(now),
        Some(utc("2024-01-16T23:00:00Z")),
        "midnight"
    );
}
