//! Derived values: what the entities show, computed from the store for one meter.
//!
//! Reading is the only I/O here ([`MeterView::load`]); the rest are pure functions of stored
//! days and the Paris calendar.

use chrono::NaiveDate;

use crate::calendar::{month_start, sub_days};
use crate::config::Pdl;
use crate::gateway::SeriesKind;
use crate::store::{PeriodTotal, Store, StoreError, StoredDay};

/// Everything the entities of one meter need.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterView {
    pub pdl: Pdl,
    pub consumption: Option<SeriesView>,
}

/// One energy series around its most recent known day.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesView {
    /// The most recent day with a value (`…/daily`).
    pub latest: StoredDay,
    /// The day before it (`…/yesterday`): `None` when that day is not known.
    pub previous: Option<StoredDay>,
    /// Month to date, up to and including `latest`.
    pub month: PeriodTotal,
}

impl SeriesView {
    pub fn previous_date(&self) -> NaiveDate {
        sub_days(self.latest.date, 1)
    }

    pub fn month_start(&self) -> NaiveDate {
        month_start(self.latest.date)
    }
}

impl MeterView {
    pub async fn load(store: &Store, pdl: &Pdl, consumption: bool) -> Result<Self, StoreError> {
        let consumption = if consumption {
            SeriesView::load(store, pdl, SeriesKind::Consumption).await?
        } else {
            None
        };
        Ok(Self {
            pdl: pdl.clone(),
            consumption,
        })
    }
}

impl SeriesView {
    async fn load(store: &Store, pdl: &Pdl, kind: SeriesKind) -> Result<Option<Self>, StoreError> {
        let Some(latest) = store.latest_day(pdl, kind).await? else {
            return Ok(None);
        };
        let previous = store.day(pdl, kind, sub_days(latest.date, 1)).await?;
        let month = store
            .total(pdl, kind, month_start(latest.date), latest.date)
            .await?;
        Ok(Some(Self {
            latest,
            previous,
            month,
        }))
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
mod tests {
    use super::*;

    #[test]
    fn energy_is_rounded_to_three_decimals() {
        assert_eq!(kwh(15230), 15.23);
        assert_eq!(kwh(1), 0.001);
        assert_eq!(kwh(0), 0.0);
        assert_eq!(round(3.125_1, 2), 3.13);
    }
}
