//! Derived values: what the entities show, computed from a snapshot of the store.
//!
//! Each device has its inputs, read from the store in one pass ([`MeterInputs`],
//! [`TempoInputs`], [`EcowattInputs`]), and its view, computed from them by a pure function
//! of the inputs and the time ([`MeterView::compute`], …). [`Snapshot`] holds the inputs of
//! every device, [`Views`] their views; when something shown changes without a gateway call
//! (a price boundary, an hour, midnight) is a pure function of the snapshot too.

mod costs;
pub mod grid;
pub mod history;
pub mod meter;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use crate::calendar::paris_date;
use crate::config::Settings;
use crate::store::{Store, StoreError};
use crate::tariffs;
pub use costs::{Cost, CostView, cost_note, curve_costs, day_costs};
pub use grid::{EcowattInputs, EcowattView, TempoInputs, TempoView};
pub use history::{DayBar, HistoryInputs, HistoryView, MonthBar};
pub use meter::{
    EnergyView, HcHpDay, MeterInputs, MeterView, PeakView, PeriodTotal, StatusView, complete_days,
    offpeak_ranges, split_hchp,
};

/// The inputs of every device, as of one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// One per configured meter, in the order of the options.
    pub meters: Vec<MeterInputs>,
    /// `None` when the Tempo device is off.
    pub tempo: Option<TempoInputs>,
    /// `None` when the EcoWatt device is off.
    pub ecowatt: Option<EcowattInputs>,
}

/// The views of every device.
#[derive(Debug, Clone, PartialEq)]
pub struct Views {
    pub meters: Vec<MeterView>,
    pub tempo: Option<TempoView>,
    pub ecowatt: Option<EcowattView>,
}

impl Snapshot {
    /// Reads what every enabled device shows, as of the Paris day `today`.
    pub async fn load(
        store: &Store,
        settings: &Settings,
        today: NaiveDate,
    ) -> Result<Self, StoreError> {
        let mut meters = Vec::with_capacity(settings.meters.len());
        for meter in &settings.meters {
            meters.push(MeterInputs::load(store, meter, today).await?);
        }
        let (tempo, ecowatt) = grid_inputs(store, settings, today).await?;
        Ok(Self {
            meters,
            tempo,
            ecowatt,
        })
    }

    /// Every view as of `now`.
    pub fn views(&self, now: DateTime<Utc>) -> Views {
        Views {
            meters: self
                .meters
                .iter()
                .map(|inputs| MeterView::compute(inputs, now))
                .collect(),
            tempo: self
                .tempo
                .as_ref()
                .map(|inputs| TempoView::compute(inputs, paris_date(now))),
            ecowatt: self
                .ecowatt
                .as_ref()
                .and_then(|inputs| EcowattView::compute(inputs, now)),
        }
    }

    /// The next instant something shown changes without a gateway call: a price boundary of
    /// some meter, the next hour (EcoWatt), midnight (Tempo today/tomorrow).
    pub fn next_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let prices = self.meters.iter().filter_map(|inputs| {
            tariffs::next_price_change(inputs.meter.tariff, inputs.offpeak().as_deref(), now)
        });
        let clock: Vec<NaiveTime> = if self.ecowatt.is_some() {
            (0..24)
                .filter_map(|h| NaiveTime::from_hms_opt(h, 0, 0))
                .collect()
        } else if self.tempo.is_some() {
            vec![NaiveTime::MIN]
        } else {
            Vec::new()
        };
        prices.chain(tariffs::next_wall_clock(&clock, now)).min()
    }
}

/// The inputs of the Tempo and EcoWatt devices the settings turn on, as of `today`.
pub async fn grid_inputs(
    store: &Store,
    settings: &Settings,
    today: NaiveDate,
) -> Result<(Option<TempoInputs>, Option<EcowattInputs>), StoreError> {
    let tempo = match settings.tempo {
        true => Some(TempoInputs::load(store, today).await?),
        false => None,
    };
    let ecowatt = match settings.ecowatt {
        true => Some(EcowattInputs::load(store, today).await?),
        false => None,
    };
    Ok((tempo, ecowatt))
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
