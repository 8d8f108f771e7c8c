//! A meter's values: [`MeterInputs::load`] reads what they need from the store in one pass;
//! [`MeterView::compute`] derives every value from them (pure, `now` is a parameter).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::costs::{CostView, cost_note, curve_costs, day_costs};
use crate::calendar::{
    add_days, day_minutes, month_start, parse_offpeak_hours, sub_days, week_start, year_start,
};
use crate::config::MeterSettings;
use crate::model::{
    Contract, CurveInterval, DayEnergy, DayPeak, Pdl, SeriesKind, Tariff, TempoColor, TempoPrices,
    TimeRange,
};
use crate::store::{MeterStatus, Store, StoreError};
use crate::tariffs::{self, Period, hchp_period};

/// What the values of one meter are derived from.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterInputs {
    pub meter: MeterSettings,
    /// Known consumption days from the start of the ISO week or of the year of the most
    /// recent one (whichever is earlier, and at least the day before it), through it; empty
    /// when disabled or unknown.
    pub consumption: Vec<DayEnergy>,
    /// Likewise for production.
    pub production: Vec<DayEnergy>,
    pub contract: Option<Contract>,
    pub peak: Option<DayPeak>,
    /// The consumption curve of the month of the most recent consumption day (load_curve).
    pub curve: BTreeMap<NaiveDate, Vec<CurveInterval>>,
    /// Tempo colours from the eve of that month to tomorrow (TEMPO meters).
    pub colours: BTreeMap<NaiveDate, TempoColor>,
    /// Tempo prices the gateway published (v1), for those the options lack.
    pub gateway_tempo_prices: Option<TempoPrices>,
    pub status: MeterStatus,
}

/// Everything the entities of one meter show.
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
    pub latest: DayEnergy,
    /// The day before it (`…/yesterday`): `None` when that day is not known.
    pub previous: Option<DayEnergy>,
    /// ISO week, month and year to date, up to and including `latest`.
    pub week: PeriodTotal,
    pub month: PeriodTotal,
    pub year: PeriodTotal,
}

/// Sum of the known days of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeriodTotal {
    pub wh: i64,
    pub days: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PeakView {
    pub peak: DayPeak,
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

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusView {
    pub error: Option<String>,
    /// Why the Energy-dashboard statistics could not be written, last time.
    pub statistics_error: Option<String>,
    /// A remark that is not an error (e.g. what a cost needs).
    pub note: Option<String>,
    pub last_sync: Option<DateTime<Utc>>,
    pub consent_expiration: Option<NaiveDateTime>,
    pub quota_used: Option<u32>,
    pub quota_limit: Option<u32>,
}

impl MeterInputs {
    /// Reads what the values of `meter` need, as of the Paris day `today`.
    pub async fn load(
        store: &Store,
        meter: &MeterSettings,
        today: NaiveDate,
    ) -> Result<Self, StoreError> {
        let pdl = &meter.pdl;
        let consumption = series_days(store, meter, SeriesKind::Consumption).await?;
        let production = series_days(store, meter, SeriesKind::Production).await?;
        let latest = consumption.last().map(|d| d.date);
        let month = latest.map(month_start);
        let curve = match (month, latest, meter.load_curve) {
            (Some(month), Some(latest), true) => {
                let kind = SeriesKind::Consumption;
                store.load_curve_days(pdl, kind, month, latest).await?
            }
            _ => BTreeMap::new(),
        };
        let tempo = meter.tariff == Tariff::Tempo;
        // Colours from the day before the month: its evening prices the first night.
        let colours_from = sub_days(month.map_or(today, |m| m.min(today)), 1);
        let colours = match tempo {
            true => store.tempo(colours_from, add_days(today, 1)).await?,
            false => BTreeMap::new(),
        };
        let gateway_tempo_prices = match tempo {
            true => store.tempo_prices().await?.map(|(prices, _)| prices),
            false => None,
        };
        Ok(Self {
            meter: meter.clone(),
            consumption,
            production,
            contract: store.contract(pdl).await?.map(|(contract, _)| contract),
            peak: match meter.consumption {
                true => store.latest_peak(pdl).await?,
                false => None,
            },
            curve,
            colours,
            gateway_tempo_prices,
            status: store.meter_status(pdl).await?,
        })
    }

    /// The off-peak ranges in force (see [`offpeak_ranges`]).
    pub fn offpeak(&self) -> Option<Vec<TimeRange>> {
        let contract = self.contract.as_ref();
        offpeak_ranges(
            &self.meter,
            contract.and_then(|c| c.offpeak_hours.as_deref()),
        )
    }

    /// The Tempo prices in force: the options', else the gateway's.
    pub fn tempo_prices(&self) -> TempoPrices {
        match self.meter.tariff {
            Tariff::Tempo => {
                tariffs::tempo_prices(&self.meter.prices, self.gateway_tempo_prices.as_ref())
            }
            _ => TempoPrices::default(),
        }
    }

    /// The month of the most recent consumption day, from the load curve, whole days only.
    pub fn complete_curve(&self) -> BTreeMap<NaiveDate, Vec<CurveInterval>> {
        complete_days(&self.curve)
    }
}

/// Each day's cost from `from` on, by the meter's tariff: from the days of `inputs`, or from
/// `curve` (its complete days, none before `from`).
pub(super) fn daily_costs(
    inputs: &MeterInputs,
    curve: &BTreeMap<NaiveDate, Vec<CurveInterval>>,
    offpeak: Option<&[TimeRange]>,
    tempo: &TempoPrices,
    from: NaiveDate,
) -> BTreeMap<NaiveDate, f64> {
    let meter = &inputs.meter;
    let days = inputs
        .consumption
        .iter()
        .filter(|d| d.date >= from)
        .map(|d| (d.date, d.wh));
    let colour = |day| inputs.colours.get(&day).copied();
    match meter.tariff {
        Tariff::Base => match meter.prices.base {
            Some(price) => day_costs(days, |_| Some(price)),
            None => BTreeMap::new(),
        },
        Tariff::HcHp => match (meter.prices.hc, meter.prices.hp, offpeak) {
            (Some(hc), Some(hp), Some(ranges)) => curve_costs(curve, |start| {
                Some(match hchp_period(start.time(), ranges) {
                    Period::Hc => hc,
                    Period::Hp => hp,
                })
            }),
            _ => BTreeMap::new(),
        },
        Tariff::Tempo if !tariffs::tempo_prices_complete(tempo) => BTreeMap::new(),
        Tariff::Tempo if meter.load_curve => curve_costs(curve, |start| {
            let (day, period) = tariffs::tempo_pricing(start);
            tariffs::tempo_price(tempo, colour(day)?, period)
        }),
        // Without the curve, each day at its colour's peak price: an upper bound that the
        // status names.
        Tariff::Tempo => day_costs(days, |day| {
            tariffs::tempo_price(tempo, colour(day)?, Period::Hp)
        }),
    }
}

/// The known days of an enabled series around its most recent one (see [`MeterInputs`]).
async fn series_days(
    store: &Store,
    meter: &MeterSettings,
    kind: SeriesKind,
) -> Result<Vec<DayEnergy>, StoreError> {
    let enabled = match kind {
        SeriesKind::Consumption => meter.consumption,
        SeriesKind::Production => meter.production,
    };
    let latest = match enabled {
        true => store.latest_day(&meter.pdl, kind).await?,
        false => None,
    };
    let Some(latest) = latest else {
        return Ok(Vec::new());
    };
    let date = latest.date;
    let from = week_start(date)
        .min(year_start(date))
        .min(sub_days(date, 1));
    store.days(&meter.pdl, kind, from, date).await
}

impl MeterView {
    /// Every value of the meter as of `now`.
    pub fn compute(inputs: &MeterInputs, now: DateTime<Utc>) -> Self {
        let meter = &inputs.meter;
        let offpeak = inputs.offpeak();
        let tempo_prices = inputs.tempo_prices();
        let curve = inputs.complete_curve();
        let colour_of = |day| inputs.colours.get(&day).copied();
        let subscribed_va = inputs.contract.as_ref().and_then(|c| c.subscribed_kva);
        let prices_known = tariffs::tempo_prices_complete(&tempo_prices);
        // Costs cover the month of the most recent consumption day.
        let latest_month = inputs
            .consumption
            .last()
            .map_or(NaiveDate::MAX, |d| month_start(d.date));
        Self {
            pdl: meter.pdl.clone(),
            tariff: meter.tariff.as_str(),
            consumption: EnergyView::compute(&inputs.consumption),
            production: EnergyView::compute(&inputs.production),
            max_power: inputs.peak.clone().map(|peak| PeakView {
                peak,
                subscribed_va: subscribed_va.map(|kva| i64::from(kva) * 1000),
            }),
            hchp: offpeak
                .as_deref()
                .and_then(|ranges| hchp_of_latest(&curve, ranges)),
            cost: CostView::of(&daily_costs(
                inputs,
                &curve,
                offpeak.as_deref(),
                &tempo_prices,
                latest_month,
            )),
            price: tariffs::price_at(
                meter.tariff,
                &meter.prices,
                offpeak.as_deref(),
                &tempo_prices,
                colour_of,
                now,
            ),
            status: StatusView {
                note: cost_note(meter, offpeak.is_some(), prices_known),
                ..StatusView::from(inputs.status.clone())
            },
        }
    }
}

impl From<MeterStatus> for StatusView {
    fn from(status: MeterStatus) -> Self {
        Self {
            error: status.last_error,
            statistics_error: status.statistics_error,
            note: None,
            last_sync: status.last_success_at,
            consent_expiration: status.consent_expiration,
            quota_used: status.quota_used,
            quota_limit: status.quota_limit,
        }
    }
}

impl EnergyView {
    /// The view of a series from its known days in order; `None` when there is none.
    pub fn compute(days: &[DayEnergy]) -> Option<Self> {
        let latest = days.last()?;
        let date = latest.date;
        let total_from = |from: NaiveDate| {
            let period = days.iter().filter(|d| d.date >= from && d.date <= date);
            period.fold(PeriodTotal::default(), |total, day| PeriodTotal {
                wh: total.wh.saturating_add(day.wh),
                days: total.days + 1,
            })
        };
        let previous = sub_days(date, 1);
        Some(Self {
            latest: latest.clone(),
            previous: days.iter().find(|d| d.date == previous).cloned(),
            week: total_from(week_start(date)),
            month: total_from(month_start(date)),
            year: total_from(year_start(date)),
        })
    }

    pub fn previous_date(&self) -> NaiveDate {
        sub_days(self.latest.date, 1)
    }
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

/// The HC/HP split of the most recent complete day of the curve.
fn hchp_of_latest(
    curve: &BTreeMap<NaiveDate, Vec<CurveInterval>>,
    offpeak: &[TimeRange],
) -> Option<HcHpDay> {
    let (day, intervals) = curve.iter().next_back()?;
    let (hc_wh, hp_wh) = split_hchp(intervals, offpeak);
    Some(HcHpDay {
        date: *day,
        hc_wh,
        hp_wh,
    })
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
    days: &BTreeMap<NaiveDate, Vec<CurveInterval>>,
) -> BTreeMap<NaiveDate, Vec<CurveInterval>> {
    days.iter()
        .filter(|(day, intervals)| {
            intervals.iter().map(|i| i64::from(i.minutes)).sum::<i64>() >= day_minutes(**day)
        })
        .map(|(day, intervals)| (*day, intervals.clone()))
        .collect()
}
