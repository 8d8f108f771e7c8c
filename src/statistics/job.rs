//! Bringing a meter's statistics up to date, one statistic at a time: ask Home Assistant for
//! its last row, read from the store only what comes after it, decide the rows (pure), send
//! them.

use chrono::{DateTime, NaiveDate, Utc};

use super::client::{HaError, HomeAssistant};
use super::cost::Pricing;
use super::metadata::{StatisticKind, metadata, statistic_id, statistic_name};
use super::rows::{SeriesHistory, rows, slots};
use crate::calendar::{add_days, daily_history_start, paris_date, sub_days};
use crate::config::{Language, MeterSettings};
use crate::derived::offpeak_ranges;
use crate::model::{SeriesKind, Tariff, TempoPrices};
use crate::store::{Store, StoreError};
use crate::tariffs;

/// Why a meter's statistics could not be brought up to date, in one line.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("statistics: {0}")]
    HomeAssistant(#[from] HaError),
    #[error("statistics: {0}")]
    Store(#[from] StoreError),
}

/// What an import sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub rows: usize,
    pub messages: usize,
}

/// The statistics of a meter: its enabled series, and the cost of its consumption.
pub fn statistics_of(meter: &MeterSettings) -> Vec<StatisticKind> {
    let mut kinds = Vec::new();
    if meter.consumption {
        kinds.extend([StatisticKind::Consumption, StatisticKind::ConsumptionCost]);
    }
    if meter.production {
        kinds.push(StatisticKind::Production);
    }
    kinds
}

/// Brings every statistic of `meter` up to date as of `now`.
pub async fn import_meter(
    ha: &mut HomeAssistant,
    store: &Store,
    meter: &MeterSettings,
    language: Language,
    now: DateTime<Utc>,
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::default();
    for kind in statistics_of(meter) {
        let sent = import_statistic(ha, store, meter, kind, language, now).await?;
        report.rows += sent.rows;
        report.messages += sent.messages;
    }
    Ok(report)
}

async fn import_statistic(
    ha: &mut HomeAssistant,
    store: &Store,
    meter: &MeterSettings,
    kind: StatisticKind,
    language: Language,
    now: DateTime<Utc>,
) -> Result<ImportReport, ImportError> {
    let today = paris_date(now);
    let id = statistic_id(&meter.pdl, kind);
    let last = ha.last_row(&id, now).await?;
    let from = last.map_or(daily_history_start(today), |l| {
        add_days(paris_date(l.start), 1)
    });
    let series = match kind {
        StatisticKind::Production => SeriesKind::Production,
        _ => SeriesKind::Consumption,
    };
    let history = load_history(store, meter, series, from, today).await?;
    let slots = slots(&history, last, today);
    let rows = match kind {
        StatisticKind::ConsumptionCost => {
            let pricing = PricingInputs::load(store, meter, from, today).await?;
            let Some(pricing) = pricing.pricing(meter) else {
                return Ok(ImportReport::default());
            };
            rows(&slots, last, |slot| pricing.cost(slot))
        }
        _ => rows(&slots, last, |slot| Some(slot.kwh())),
    };
    if rows.is_empty() {
        return Ok(ImportReport::default());
    }
    let name = statistic_name(&meter.name, kind, language);
    let meta = metadata(&id, &name, kind, ha.version);
    let messages = ha.import(&meta, &rows).await?;
    Ok(ImportReport {
        rows: rows.len(),
        messages,
    })
}

/// A series of `meter` from `from` to yesterday, with its load curve when it fetches one.
async fn load_history(
    store: &Store,
    meter: &MeterSettings,
    kind: SeriesKind,
    from: NaiveDate,
    today: NaiveDate,
) -> Result<SeriesHistory, StoreError> {
    let (pdl, yesterday) = (&meter.pdl, sub_days(today, 1));
    let curve = match meter.load_curve {
        true => store.load_curve_days(pdl, kind, from, yesterday).await?,
        false => Default::default(),
    };
    Ok(SeriesHistory {
        days: store.daily_status(pdl, kind, from, yesterday).await?,
        curve,
        load_curve: meter.load_curve,
    })
}

/// What prices a meter's consumption, as the store knows it.
struct PricingInputs {
    offpeak: Option<Vec<crate::model::TimeRange>>,
    tempo: TempoPrices,
    colours: std::collections::BTreeMap<NaiveDate, crate::model::TempoColor>,
}

impl PricingInputs {
    async fn load(
        store: &Store,
        meter: &MeterSettings,
        from: NaiveDate,
        today: NaiveDate,
    ) -> Result<Self, StoreError> {
        let contract = store.contract(&meter.pdl).await?.map(|(c, _)| c);
        let offpeak_text = contract.as_ref().and_then(|c| c.offpeak_hours.as_deref());
        let tempo = meter.tariff == Tariff::Tempo;
        let gateway_prices = match tempo {
            true => store.tempo_prices().await?.map(|(p, _)| p),
            false => None,
        };
        // The eve of the first day: its colour prices the first night.
        let colours = match tempo {
            true => store.tempo(sub_days(from, 1), today).await?,
            false => Default::default(),
        };
        Ok(Self {
            offpeak: offpeak_ranges(meter, offpeak_text),
            tempo: tariffs::tempo_prices(&meter.prices, gateway_prices.as_ref()),
            colours,
        })
    }

    /// The pricing of the meter, `None` when the prices its tariff needs are not all known.
    fn pricing<'a>(&'a self, meter: &'a MeterSettings) -> Option<Pricing<'a>> {
        let prices = &meter.prices;
        let known = match meter.tariff {
            Tariff::Base => prices.base.is_some(),
            Tariff::HcHp => prices.hc.is_some() && prices.hp.is_some() && self.offpeak.is_some(),
            Tariff::Tempo => tariffs::tempo_prices_complete(&self.tempo),
        };
        known.then_some(Pricing {
            tariff: meter.tariff,
            prices,
            offpeak: self.offpeak.as_deref(),
            tempo: &self.tempo,
            colours: &self.colours,
        })
    }
}
