//! A meter's recent history, for the web page's charts: each of the last 30 days
//! (consumption, its HC/HP split where the load curve covers the day, production, cost) and
//! each of the last 24 months. [`HistoryInputs::load`] reads the store; [`HistoryView::compute`]
//! is pure.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

use super::meter::{MeterInputs, complete_days, daily_costs, split_hchp};
use crate::calendar::{add_days, sub_days};
use crate::config::MeterSettings;
use crate::model::{DayEnergy, SeriesKind, Tariff};
use crate::store::{MeterStatus, Store, StoreError, StoredDays};

/// Days in the daily chart, yesterday included.
pub const RECENT_DAYS: u64 = 30;
/// Months in the monthly chart, the current one included.
pub const RECENT_MONTHS: u32 = 24;

/// What a meter's history is derived from.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryInputs {
    /// The meter over the last [`RECENT_DAYS`]: its days, curve, colours and prices.
    pub recent: MeterInputs,
    /// The sum of each of the [`RECENT_MONTHS`] (by first day) that has known days.
    pub consumption_months: BTreeMap<NaiveDate, i64>,
    pub production_months: BTreeMap<NaiveDate, i64>,
    pub consumption_stored: StoredDays,
    pub production_stored: StoredDays,
}

/// One day of the daily chart.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DayBar {
    pub date: NaiveDate,
    pub consumption_wh: Option<i64>,
    /// Off-peak and peak energy, when the curve covers the whole day and the hours are known.
    pub hchp_wh: Option<(f64, f64)>,
    pub production_wh: Option<i64>,
    pub cost_eur: Option<f64>,
}

/// One month of the monthly chart: the sum of its known days.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MonthBar {
    /// First day of the month.
    pub month: NaiveDate,
    pub consumption_wh: Option<i64>,
    pub production_wh: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryView {
    /// The last [`RECENT_DAYS`] days, oldest first, one per day (known or not).
    pub days: Vec<DayBar>,
    /// The last [`RECENT_MONTHS`] months, oldest first.
    pub months: Vec<MonthBar>,
}

/// First day of the month `back` months before the month of `day`.
fn months_before(day: NaiveDate, back: u32) -> NaiveDate {
    let index = day.year() * 12 + day.month0() as i32 - back as i32;
    NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1)
        .unwrap_or(NaiveDate::MIN)
}

impl HistoryInputs {
    /// Reads the history of `meter` as of the Paris day `today`.
    pub async fn load(
        store: &Store,
        meter: &MeterSettings,
        today: NaiveDate,
    ) -> Result<Self, StoreError> {
        let pdl = &meter.pdl;
        let yesterday = sub_days(today, 1);
        let months_from = months_before(today, RECENT_MONTHS - 1);
        let months_of = |enabled: bool, kind| async move {
            let sums = match enabled {
                true => {
                    store
                        .monthly_sums(pdl, kind, months_from, yesterday)
                        .await?
                }
                false => Vec::new(),
            };
            Ok::<_, StoreError>(sums.into_iter().collect())
        };
        let (consumption, production) = (SeriesKind::Consumption, SeriesKind::Production);
        Ok(Self {
            recent: recent_inputs(store, meter, today).await?,
            consumption_months: months_of(meter.consumption, consumption).await?,
            production_months: months_of(meter.production, production).await?,
            consumption_stored: store.stored_days(pdl, consumption).await?,
            production_stored: store.stored_days(pdl, production).await?,
        })
    }
}

/// The meter over the [`RECENT_DAYS`] before `today`: its days, curve, colours and prices.
async fn recent_inputs(
    store: &Store,
    meter: &MeterSettings,
    today: NaiveDate,
) -> Result<MeterInputs, StoreError> {
    let pdl = &meter.pdl;
    let yesterday = sub_days(today, 1);
    let from = sub_days(today, RECENT_DAYS);
    let days_of = |enabled: bool, kind| async move {
        match enabled {
            true => store.days(pdl, kind, from, yesterday).await,
            false => Ok(Vec::new()),
        }
    };
    let tempo = meter.tariff == Tariff::Tempo;
    Ok(MeterInputs {
        meter: meter.clone(),
        consumption: days_of(meter.consumption, SeriesKind::Consumption).await?,
        production: days_of(meter.production, SeriesKind::Production).await?,
        contract: store.contract(pdl).await?.map(|(contract, _)| contract),
        peak: None,
        curve: match meter.load_curve && meter.consumption {
            true => {
                let kind = SeriesKind::Consumption;
                store.load_curve_days(pdl, kind, from, yesterday).await?
            }
            false => BTreeMap::new(),
        },
        // The evening before the first day prices its first night.
        colours: match tempo {
            true => store.tempo(sub_days(from, 1), today).await?,
            false => BTreeMap::new(),
        },
        gateway_tempo_prices: match tempo {
            true => store.tempo_prices().await?.map(|(prices, _)| prices),
            false => None,
        },
        // The history has no status: the page reads it at each load.
        status: MeterStatus::default(),
    })
}

impl HistoryView {
    /// The charts of the days before `today`.
    pub fn compute(inputs: &HistoryInputs, today: NaiveDate) -> Self {
        let recent = &inputs.recent;
        let from = sub_days(today, RECENT_DAYS);
        let offpeak = recent.offpeak();
        let curve = complete_days(&recent.curve);
        let costs = daily_costs(
            recent,
            &curve,
            offpeak.as_deref(),
            &recent.tempo_prices(),
            from,
        );
        let value = |days: &[DayEnergy], date| days.iter().find(|d| d.date == date).map(|d| d.wh);
        let days = (0..RECENT_DAYS)
            .map(|n| add_days(from, n))
            .map(|date| DayBar {
                date,
                consumption_wh: value(&recent.consumption, date),
                hchp_wh: offpeak
                    .as_deref()
                    .zip(curve.get(&date))
                    .map(|(ranges, intervals)| split_hchp(intervals, ranges)),
                production_wh: value(&recent.production, date),
                cost_eur: costs.get(&date).copied(),
            })
            .collect();
        Self {
            days,
            months: month_bars(inputs, today),
        }
    }
}

/// The last [`RECENT_MONTHS`] months to `today`'s, each the sum of its known days.
fn month_bars(inputs: &HistoryInputs, today: NaiveDate) -> Vec<MonthBar> {
    (0..RECENT_MONTHS)
        .rev()
        .map(|back| months_before(today, back))
        .map(|month| MonthBar {
            month,
            consumption_wh: inputs.consumption_months.get(&month).copied(),
            production_wh: inputs.production_months.get(&month).copied(),
        })
        .collect()
}

#[cfg(test)]
mod tests;
