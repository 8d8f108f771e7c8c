//! Costs in EUR: each day's, from the load curve at each interval's price or from the daily
//! energy at the day's price, and the month to date.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};

use crate::calendar::month_start;
use crate::config::MeterSettings;
use crate::model::{CurveInterval, Prices, Tariff};

/// Costs in EUR; each present only when the prices (and the split) it needs are known.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostView {
    pub daily: Option<Cost>,
    pub monthly: Option<Cost>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// The day (daily) or the first day of the month (monthly).
    pub date: NaiveDate,
    pub eur: f64,
    /// Days the cost covers.
    pub days: u32,
}

impl CostView {
    /// The latest day's cost and the month to date (of that day's month).
    pub fn of(days: &BTreeMap<NaiveDate, f64>) -> Self {
        let Some((latest, eur)) = days.iter().next_back() else {
            return CostView::default();
        };
        let month = month_start(*latest);
        let in_month: Vec<f64> = days.range(month..).map(|(_, eur)| *eur).collect();
        CostView {
            daily: Some(Cost {
                date: *latest,
                eur: *eur,
                days: 1,
            }),
            monthly: Some(Cost {
                date: month,
                eur: in_month.iter().sum(),
                days: u32::try_from(in_month.len()).unwrap_or(u32::MAX),
            }),
        }
    }
}

/// Cost of each day from its curve, each interval at the price of its start; a day with an
/// interval whose price is unknown has no cost.
pub fn curve_costs(
    days: &BTreeMap<NaiveDate, Vec<CurveInterval>>,
    price_of: impl Fn(NaiveDateTime) -> Option<f64>,
) -> BTreeMap<NaiveDate, f64> {
    days.iter()
        .filter_map(|(day, intervals)| {
            let eur = intervals
                .iter()
                .map(|i| Some(i.wh() / 1000.0 * price_of(i.start_local)?))
                .sum::<Option<f64>>()?;
            Some((*day, eur))
        })
        .collect()
}

/// Cost of each day of known energy (Wh), at the price of that day.
pub fn day_costs(
    days: impl IntoIterator<Item = (NaiveDate, i64)>,
    price_of: impl Fn(NaiveDate) -> Option<f64>,
) -> BTreeMap<NaiveDate, f64> {
    days.into_iter()
        .filter_map(|(day, wh)| Some((day, wh as f64 / 1000.0 * price_of(day)?)))
        .collect()
}

/// What the status says about costs the current options cannot give.
pub fn cost_note(
    meter: &MeterSettings,
    offpeak_known: bool,
    tempo_prices_known: bool,
) -> Option<String> {
    let Prices { hc, hp, .. } = &meter.prices;
    match meter.tariff {
        Tariff::HcHp if hc.is_some() && hp.is_some() && !meter.load_curve => {
            Some("HC/HP costs need the load curve: set load_curve: true for this meter".into())
        }
        Tariff::HcHp if hc.is_some() && hp.is_some() && !offpeak_known => {
            Some("HC/HP costs need the off-peak hours: set offpeak_hours for this meter".into())
        }
        Tariff::Tempo if !tempo_prices_known => {
            Some("Tempo costs need the six price_tempo_* prices of this meter".into())
        }
        Tariff::Tempo if !meter.load_curve => Some(
            "Tempo costs are estimated at each day's peak price: set load_curve: true for the HC/HP split".into(),
        ),
        _ => None,
    }
}
