use chrono::Utc;

use super::*;
use crate::calendar::half_hourly_curve;
use crate::derived::tests::meter;
use crate::model::Prices;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn day(date: &str, wh: i64) -> DayEnergy {
    DayEnergy {
        date: d(date),
        wh,
        quality: None,
        fetched_at: Utc::now(),
    }
}

/// What the store's monthly sums give for `days`.
fn monthly(days: &[DayEnergy]) -> BTreeMap<NaiveDate, i64> {
    let mut sums = BTreeMap::new();
    for day in days {
        let month = crate::calendar::month_start(day.date);
        *sums.entry(month).or_default() += day.wh;
    }
    sums
}

fn inputs(meter: MeterSettings, consumption: Vec<DayEnergy>) -> HistoryInputs {
    HistoryInputs {
        recent: MeterInputs {
            consumption: consumption.clone(),
            ..crate::derived::tests::inputs(meter)
        },
        consumption_months: monthly(&consumption),
        production_months: BTreeMap::new(),
        consumption_stored: StoredDays::default(),
        production_stored: StoredDays::default(),
    }
}

#[test]
fn thirty_days_to_yesterday_and_twenty_four_months_to_this_one() {
    let base = Prices {
        base: Some(0.2),
        ..Prices::default()
    };
    let days = vec![
        day("2023-12-31", 7000),
        day("2024-01-10", 10_000),
        day("2024-03-14", 12_000),
    ];
    let view = HistoryView::compute(&inputs(meter(Tariff::Base, base), days), d("2024-03-15"));
    assert_eq!(view.days.len(), 30);
    assert_eq!(view.days[0].date, d("2024-02-14"));
    let last = view.days[29];
    assert_eq!(last.date, d("2024-03-14"));
    assert_eq!(last.consumption_wh, Some(12_000));
    assert!((last.cost_eur.unwrap() - 2.4).abs() < 1e-9);
    assert_eq!(view.days[28].consumption_wh, None);
    assert_eq!(view.days[28].cost_eur, None);
    assert_eq!(view.months.len(), 24);
    assert_eq!(view.months[0].month, d("2022-04-01"));
    assert_eq!(view.months[23].month, d("2024-03-01"));
    assert_eq!(view.months[20].consumption_wh, Some(7000), "December 2023");
    assert_eq!(view.months[21].consumption_wh, Some(10_000), "January 2024");
    assert_eq!(view.months[22].consumption_wh, None, "February 2024");
    assert_eq!(view.months[23].consumption_wh, Some(12_000), "March 2024");
}

#[test]
fn a_day_whose_curve_is_complete_is_split_into_hc_and_hp_and_priced_by_it() {
    let prices = Prices {
        hc: Some(0.1),
        hp: Some(0.2),
        ..Prices::default()
    };
    let mut history = inputs(meter(Tariff::HcHp, prices), vec![day("2024-03-14", 24_000)]);
    // 1 kW all day: 8 kWh off-peak, 16 kWh peak; the day before has half a curve.
    let whole = half_hourly_curve(d("2024-03-14"), |_| 1000);
    let mut half = half_hourly_curve(d("2024-03-13"), |_| 1000);
    half.truncate(24);
    history.recent.curve = BTreeMap::from([(d("2024-03-13"), half), (d("2024-03-14"), whole)]);
    let view = HistoryView::compute(&history, d("2024-03-15"));
    let last = view.days[29];
    assert_eq!(last.hchp_wh, Some((8000.0, 16_000.0)));
    assert!((last.cost_eur.unwrap() - (0.8 + 3.2)).abs() < 1e-9);
    assert_eq!(
        view.days[28].hchp_wh, None,
        "an incomplete curve is not split"
    );
}

#[test]
fn tempo_days_without_a_known_colour_have_no_cost() {
    let history = inputs(
        meter(Tariff::Tempo, Prices::default()),
        vec![day("2024-03-14", 1)],
    );
    let view = HistoryView::compute(&history, d("2024-03-15"));
    assert_eq!(view.days[29].cost_eur, None);
}

#[test]
fn month_arithmetic_crosses_years_both_ways() {
    assert_eq!(months_before(d("2024-01-20"), 1), d("2023-12-01"));
    assert_eq!(months_before(d("2024-01-20"), 23), d("2022-02-01"));
    assert_eq!(months_before(d("2024-12-31"), 0), d("2024-12-01"));
}
