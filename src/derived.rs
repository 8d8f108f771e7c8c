//! Derived values: what the entities show, computed from the store for one meter.
//!
//! [`MeterView::load`] is the only I/O here; everything else is a pure function of stored
//! values, the options and the Paris calendar, tested with fixed dates.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};

use crate::calendar::{
    TimeRange, add_days, day_minutes, paris_instant, parse_offpeak_hours, sub_days,
};
use crate::config::{MeterSettings, Pdl, Prices, Tariff};
use crate::gateway::SeriesKind;
use crate::store::{
    CurveInterval, MeterStatus, PeriodTotal, Store, StoreError, StoredDay, StoredPeak,
};

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
    pub price: Option<PriceNow>,
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

/// The price in force at an instant.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceNow {
    pub eur_per_kwh: f64,
    /// `BASE`, `HC` or `HP`.
    pub period: &'static str,
    pub color: Option<&'static str>,
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

        // HC/HP splits of the month of the latest day, from the load curve.
        let splits = match (&consumption, &offpeak, meter.load_curve) {
            (Some(energy), Some(ranges), true) => {
                let month = energy.latest.date.with_day(1).unwrap_or(energy.latest.date);
                let days = store
                    .load_curve_days(pdl, SeriesKind::Consumption, month, energy.latest.date)
                    .await?;
                complete_splits(&days, ranges)
            }
            _ => BTreeMap::new(),
        };
        let hchp = splits.values().next_back().copied();
        let cost = costs(meter, consumption.as_ref(), &splits);
        let price = price_at(meter, offpeak.as_deref(), now);

        let stored = store.meter_status(pdl).await?;
        let status = StatusView {
            note: cost_note(meter, offpeak.is_some()),
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

/// The off-peak ranges in force: the option, else the contract's.
pub fn offpeak_ranges(meter: &MeterSettings, contract: Option<&str>) -> Option<Vec<TimeRange>> {
    meter
        .offpeak_hours
        .clone()
        .or_else(|| contract.and_then(parse_offpeak_hours))
}

/// Splits one day's load curve into off-peak and peak energy, each interval by its start.
pub fn split_hchp(intervals: &[CurveInterval], offpeak: &[TimeRange]) -> (f64, f64) {
    intervals.iter().fold((0.0, 0.0), |(hc, hp), interval| {
        let time = interval.start_local.time();
        if offpeak.iter().any(|r| r.contains(time)) {
            (hc + interval.wh(), hp)
        } else {
            (hc, hp + interval.wh())
        }
    })
}

/// The HC/HP split of every day whose curve covers the whole day (23, 24 or 25 hours).
pub fn complete_splits(
    days: &BTreeMap<NaiveDate, Vec<CurveInterval>>,
    offpeak: &[TimeRange],
) -> BTreeMap<NaiveDate, HcHpDay> {
    days.iter()
        .filter(|(day, intervals)| {
            intervals.iter().map(|i| i64::from(i.minutes)).sum::<i64>() >= day_minutes(**day)
        })
        .map(|(day, intervals)| {
            let (hc_wh, hp_wh) = split_hchp(intervals, offpeak);
            (
                *day,
                HcHpDay {
                    date: *day,
                    hc_wh,
                    hp_wh,
                },
            )
        })
        .collect()
}

/// Daily and month-to-date costs for the BASE and HC_HP tariffs.
pub fn costs(
    meter: &MeterSettings,
    consumption: Option<&EnergyView>,
    splits: &BTreeMap<NaiveDate, HcHpDay>,
) -> CostView {
    let Some(energy) = consumption else {
        return CostView::default();
    };
    let prices = &meter.prices;
    match meter.tariff {
        Tariff::Base => {
            let Some(price) = prices.base else {
                return CostView::default();
            };
            let month_start = energy.latest.date.with_day(1).unwrap_or(energy.latest.date);
            CostView {
                daily: Some(Cost {
                    date: energy.latest.date,
                    eur: kwh_exact(energy.latest.wh) * price,
                    days: 1,
                }),
                monthly: Some(Cost {
                    date: month_start,
                    eur: kwh_exact(energy.month.wh) * price,
                    days: energy.month.days,
                }),
            }
        }
        Tariff::HcHp => {
            let (Some(hc_price), Some(hp_price)) = (prices.hc, prices.hp) else {
                return CostView::default();
            };
            let cost_of =
                |split: &HcHpDay| split.hc_wh / 1000.0 * hc_price + split.hp_wh / 1000.0 * hp_price;
            let Some(latest) = splits.values().next_back() else {
                return CostView::default();
            };
            let month_start = latest.date.with_day(1).unwrap_or(latest.date);
            let month: Vec<&HcHpDay> = splits.values().filter(|s| s.date >= month_start).collect();
            CostView {
                daily: Some(Cost {
                    date: latest.date,
                    eur: cost_of(latest),
                    days: 1,
                }),
                monthly: Some(Cost {
                    date: month_start,
                    eur: month.iter().map(|s| cost_of(s)).sum(),
                    days: u32::try_from(month.len()).unwrap_or(u32::MAX),
                }),
            }
        }
        // Tempo costs need the Tempo calendar (next release).
        Tariff::Tempo => CostView::default(),
    }
}

/// What the status says about costs that cannot be computed with the current options.
fn cost_note(meter: &MeterSettings, offpeak_known: bool) -> Option<String> {
    let Prices { hc, hp, .. } = &meter.prices;
    match meter.tariff {
        Tariff::HcHp if hc.is_some() && hp.is_some() && !meter.load_curve => {
            Some("HC/HP costs need the load curve: set load_curve: true for this meter".into())
        }
        Tariff::HcHp if hc.is_some() && hp.is_some() && !offpeak_known => {
            Some("HC/HP costs need the off-peak hours: set offpeak_hours for this meter".into())
        }
        _ => None,
    }
}

/// The price in force at `now` for the BASE and HC_HP tariffs.
pub fn price_at(
    meter: &MeterSettings,
    offpeak: Option<&[TimeRange]>,
    now: DateTime<Utc>,
) -> Option<PriceNow> {
    let prices = &meter.prices;
    match meter.tariff {
        Tariff::Base => Some(PriceNow {
            eur_per_kwh: prices.base?,
            period: "BASE",
            color: None,
        }),
        Tariff::HcHp => {
            let time = now.with_timezone(&chrono_tz::Europe::Paris).time();
            let offpeak = offpeak?.iter().any(|r| r.contains(time));
            let (price, period) = if offpeak {
                (prices.hc?, "HC")
            } else {
                (prices.hp?, "HP")
            };
            Some(PriceNow {
                eur_per_kwh: price,
                period,
                color: None,
            })
        }
        Tariff::Tempo => None,
    }
}

/// The next instant after `now` at which an off-peak range starts or ends (Paris time, DST
/// included), when the price of an HC_HP meter changes.
pub fn next_price_change(offpeak: &[TimeRange], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let today = now.with_timezone(&chrono_tz::Europe::Paris).date_naive();
    (0..=2)
        .flat_map(|offset| {
            let day = add_days(today, offset);
            offpeak
                .iter()
                .flat_map(move |r| [r.start, r.end])
                .map(move |t| paris_instant(day.and_time(t)).with_timezone(&Utc))
        })
        .filter(|t| *t > now)
        .min()
}

/// Wh → kWh rounded to 3 decimals, as every energy payload carries it.
pub fn kwh(wh: i64) -> f64 {
    round(kwh_exact(wh), 3)
}

fn kwh_exact(wh: i64) -> f64 {
    wh as f64 / 1000.0
}

/// Rounds half away from zero to `decimals` places.
pub fn round(value: f64, decimals: i32) -> f64 {
    let factor = 10f64.powi(decimals);
    (value * factor).round() / factor
}

#[cfg(test)]
mod tests;
