//! Derived values: what the entities show, computed from the store for one meter.
//!
//! [`MeterView::load`] is the only I/O here; everything else is a pure function of stored
//! values, the options and the Paris calendar, tested with fixed dates.

pub mod grid;

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};

use crate::calendar::{
    TimeRange, add_days, day_minutes, paris_date, parse_offpeak_hours, sub_days,
};
use crate::config::{MeterSettings, Pdl, Prices, Tariff};
use crate::gateway::{SeriesKind, TempoPrices};
use crate::store::{
    CurveInterval, MeterStatus, PeriodTotal, Store, StoreError, StoredDay, StoredPeak,
};
use crate::tariffs::{self, Period, hchp_period};

/// Everything the entities of one meter need.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterView {
    pub pdl: Pdl,
    /// `BASE`, `HC_HP` or `TEMPO`.
    pub tariff: &'static str,
    pub consumption: Option<EnergyView>,
    pub production: Option<EnergyView>,
    pub max_power: Option<PeakView>,
    pub hchp: Option<HcHpDay>,
    pub cost: CostView,
    pub price: Option<tariffs::PriceNow>,
    pub status: StatusView,
}

/// One energy series around its most recent known day.
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyView {
    /// The most recent day with a value (`…/daily`).
    pub latest: StoredDay,
    /// The day before it (`…/yesterday`): `None` when that day is not known.
    pub previous: Option<StoredDay>,
    /// ISO week, month and year to date, up to and including `latest`.
    pub week: PeriodTotal,
    pub month: PeriodTotal,
    pub year: PeriodTotal,
}

impl EnergyView {
    pub fn previous_date(&self) -> NaiveDate {
        sub_days(self.latest.date, 1)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PeakView {
    pub peak: StoredPeak,
    pub subscribed_va: Option<i64>,
}

impl PeakView {
    pub fn exceeded(&self) -> Option<bool> {
        self.subscribed_va.map(|s| self.peak.va > s)
    }
}

/// Off-peak and peak energy of one day, from the load curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HcHpDay {
    pub date: NaiveDate,
    pub hc_wh: f64,
    pub hp_wh: f64,
}

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

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusView {
    pub error: Option<String>,
    /// A remark that is not an error (e.g. what a cost needs).
    pub note: Option<String>,
    pub last_sync: Option<DateTime<Utc>>,
    pub consent_expiration: Option<NaiveDateTime>,
    pub quota_used: Option<u32>,
    pub quota_limit: Option<u32>,
}

impl MeterView {
    /// Reads the store and computes every value of `meter` as of `now`.
    pub async fn load(
        store: &Store,
        meter: &MeterSettings,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let pdl = &meter.pdl;
        let consumption = match meter.consumption {
            true => EnergyView::load(store, pdl, SeriesKind::Consumption).await?,
            false => None,
        };
        let production = match meter.production {
            true => EnergyView::load(store, pdl, SeriesKind::Production).await?,
            false => None,
        };
        let contract = store.contract(pdl).await?.map(|(c, _)| c);
        let offpeak = offpeak_ranges(
            meter,
            contract.as_ref().and_then(|c| c.offpeak_hours.as_deref()),
        );
        let max_power = match meter.consumption {
            true => store.latest_peak(pdl).await?.map(|peak| PeakView {
                peak,
                subscribed_va: contract
                    .as_ref()
                    .and_then(|c| c.subscribed_kva)
                    .map(|kva| i64::from(kva) * 1000),
            }),
            false => None,
        };
        let today = paris_date(now);
        let latest = consumption.as_ref().map(|e| e.latest.date);
        let month = latest.map(crate::calendar::month_start);
        // Colours from the day before the month (its evening prices the first night).
        let colours = match (meter.tariff, month) {
            (Tariff::Tempo, Some(month)) => {
                store
                    .tempo(sub_days(month.min(today), 1), add_days(today, 1))
                    .await?
            }
            (Tariff::Tempo, None) => store.tempo(sub_days(today, 1), add_days(today, 1)).await?,
            _ => BTreeMap::new(),
        };
        let tempo_prices = match meter.tariff {
            Tariff::Tempo => tariffs::tempo_prices(
                &meter.prices,
                store.tempo_prices().await?.map(|(p, _)| p).as_ref(),
            ),
            _ => TempoPrices::default(),
        };

        // The month of the latest day, from the load curve: HC/HP split and costs.
        let curve = match (month, latest, meter.load_curve) {
            (Some(month), Some(latest), true) => complete_days(
                store
                    .load_curve_days(pdl, SeriesKind::Consumption, month, latest)
                    .await?,
            ),
            _ => BTreeMap::new(),
        };
        let hchp = offpeak.as_ref().and_then(|ranges| {
            let (day, intervals) = curve.iter().next_back()?;
            let (hc_wh, hp_wh) = split_hchp(intervals, ranges);
            Some(HcHpDay {
                date: *day,
                hc_wh,
                hp_wh,
            })
        });
        let daily_costs = match (&consumption, meter.tariff) {
            (Some(_), Tariff::Base) => match (meter.prices.base, month, latest) {
                (Some(price), Some(month), Some(latest)) => {
                    let days = store
                        .daily_status(pdl, SeriesKind::Consumption, month, latest)
                        .await?;
                    day_costs(&days, |_| Some(price))
                }
                _ => BTreeMap::new(),
            },
            (Some(_), Tariff::HcHp) => match (meter.prices.hc, meter.prices.hp, &offpeak) {
                (Some(hc), Some(hp), Some(ranges)) => curve_costs(&curve, |start| {
                    Some(if hchp_period(start.time(), ranges) == Period::Hc {
                        hc
                    } else {
                        hp
                    })
                }),
                _ => BTreeMap::new(),
            },
            (Some(_), Tariff::Tempo) if tariffs::tempo_prices_complete(&tempo_prices) => {
                if meter.load_curve {
                    curve_costs(&curve, |start| {
                        let (day, period) = tariffs::tempo_pricing(start);
                        tariffs::tempo_price(&tempo_prices, *colours.get(&day)?, period)
                    })
                } else if let (Some(month), Some(latest)) = (month, latest) {
                    // Without the curve, each day at its colour's peak price: an upper bound
                    // that the status names.
                    let days = store
                        .daily_status(pdl, SeriesKind::Consumption, month, latest)
                        .await?;
                    day_costs(&days, |day| {
                        tariffs::tempo_price(&tempo_prices, *colours.get(&day)?, Period::Hp)
                    })
                } else {
                    BTreeMap::new()
                }
            }
            _ => BTreeMap::new(),
        };
        let cost = cost_view(&daily_costs);
        let price = tariffs::price_at(
            meter,
            offpeak.as_deref(),
            &tempo_prices,
            |day| colours.get(&day).copied(),
            now,
        );

        let stored = store.meter_status(pdl).await?;
        let status = StatusView {
            note: cost_note(
                meter,
                offpeak.is_some(),
                tariffs::tempo_prices_complete(&tempo_prices),
            ),
            ..StatusView::from(stored)
        };
        Ok(Self {
            pdl: pdl.clone(),
            tariff: meter.tariff.as_str(),
            consumption,
            production,
            max_power,
            hchp,
            cost,
            price,
            status,
        })
    }
}

impl From<MeterStatus> for StatusView {
    fn from(status: MeterStatus) -> Self {
        Self {
            error: status.last_error,
            note: None,
            last_sync: status.last_success_at,
            consent_expiration: status.consent_expiration,
            quota_used: status.quota_used,
            quota_limit: status.quota_limit,
        }
    }
}

impl EnergyView {
    async fn load(store: &Store, pdl: &Pdl, kind: SeriesKind) -> Result<Option<Self>, StoreError> {
        let Some(latest) = store.latest_day(pdl, kind).await? else {
            return Ok(None);
        };
        let date = latest.date;
        let previous = store.day(pdl, kind, sub_days(date, 1)).await?;
        let week = store.total(pdl, kind, week_start(date), date).await?;
        let month = store
            .total(pdl, kind, date.with_day(1).unwrap_or(date), date)
            .await?;
        let year = store
            .total(pdl, kind, date.with_ordinal(1).unwrap_or(date), date)
            .await?;
        Ok(Some(Self {
            latest,
            previous,
            week,
            month,
            year,
        }))
    }
}

/// Monday of the ISO week of `day`.
pub fn week_start(day: NaiveDate) -> NaiveDate {
    sub_days(day, u64::from(day.weekday().num_days_from_monday()))
}

/// `2024-W03`: the ISO week (its year may differ from the calendar year at year ends).
pub fn week_label(day: NaiveDate) -> String {
    let week = day.iso_week();
    format!("{:04}-W{:02}", week.year(), week.week())
}

/// The off-peak ranges in force: Tempo's 22:00 → 06:00, else the option, else the contract's.
pub fn offpeak_ranges(meter: &MeterSettings, contract: Option<&str>) -> Option<Vec<TimeRange>> {
    if meter.tariff == Tariff::Tempo {
        return Some(vec![TimeRange {
            start: tariffs::TEMPO_HC_START,
            end: tariffs::TEMPO_DAY_START,
        }]);
    }
    meter
        .offpeak_hours
        .clone()
        .or_else(|| contract.and_then(parse_offpeak_hours))
}

/// Splits one day's load curve into off-peak and peak energy, each interval by its start.
pub fn split_hchp(intervals: &[CurveInterval], offpeak: &[TimeRange]) -> (f64, f64) {
    intervals.iter().fold((0.0, 0.0), |(hc, hp), interval| {
        match hchp_period(interval.start_local.time(), offpeak) {
            Period::Hc => (hc + interval.wh(), hp),
            Period::Hp => (hc, hp + interval.wh()),
        }
    })
}

/// The days whose curve covers the whole day (23, 24 or 25 hours).
pub fn complete_days(
    days: BTreeMap<NaiveDate, Vec<CurveInterval>>,
) -> BTreeMap<NaiveDate, Vec<CurveInterval>> {
    days.into_iter()
        .filter(|(day, intervals)| {
            intervals.iter().map(|i| i64::from(i.minutes)).sum::<i64>() >= day_minutes(*day)
        })
        .collect()
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

/// Cost of each day with a known energy, at the price of that day.
pub fn day_costs(
    days: &BTreeMap<NaiveDate, Option<i64>>,
    price_of: impl Fn(NaiveDate) -> Option<f64>,
) -> BTreeMap<NaiveDate, f64> {
    days.iter()
        .filter_map(|(day, wh)| Some((*day, (*wh)? as f64 / 1000.0 * price_of(*day)?)))
        .collect()
}

/// The latest day's cost and the month to date (of that day's month).
pub fn cost_view(days: &BTreeMap<NaiveDate, f64>) -> CostView {
    let Some((latest, eur)) = days.iter().next_back() else {
        return CostView::default();
    };
    let month = crate::calendar::month_start(*latest);
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

/// What the status says about costs the current options cannot give.
fn cost_note(
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

/// Wh → kWh rounded to 3 decimals, as every energy payload carries it.
pub fn kwh(wh: i64) -> f64 {
    round(wh as f64 / 1000.0, 3)
}

/// Rounds half away from zero to `decimals` places.
pub fn round(value: f64, decimals: i32) -> f64 {
    let factor = 10f64.powi(decimals);
    (value * factor).round() / factor
}

#[cfg(test)]
mod tests;
