//! MyElectricalData gateway clients.
//!
//! Each API generation has its own client; both answer in the types of [`crate::model`], so
//! everything downstream (store, derived values, entities) is written and tested once.
//! [`Gateway`] is the one the program talks to, whatever the generation.

pub mod enedis;
mod error;
pub mod grid;
pub mod sample;
pub mod v1;
pub mod v2;
mod wire;

use std::time::Duration;

use chrono::NaiveDate;

use crate::calendar;
use crate::config::{GatewayGeneration, GatewaySettings, MeterSettings};
use crate::model::{
    AccessInfo, Contract, DailySeries, EcowattDay, LoadCurvePoint, MaxPowerReading, MeterInfo, Pdl,
    SeriesKind, TempoDay, TempoPrices,
};
pub use error::GatewayError;

/// How long one gateway call may take before it counts as a timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Enedis serves at most this many days of daily data per call.
pub const MAX_DAILY_SPAN_DAYS: u64 = 365;
/// … and at most this many days of load curve.
pub const MAX_LOAD_CURVE_SPAN_DAYS: u64 = 7;

/// The gateway the program talks to.
pub enum Gateway {
    V1(v1::Client),
    V2(v2::Client),
    /// Built-in sample data for `demo`: no network, no account.
    Sample(sample::SampleGateway),
}

impl Gateway {
    /// The client for the configured generation; v1 takes each meter's token.
    pub fn from_settings(
        settings: &GatewaySettings,
        meters: &[MeterSettings],
    ) -> Result<Self, GatewayError> {
        let base = settings.base_url.clone();
        Ok(match settings.generation {
            GatewayGeneration::V2 => Gateway::V2(v2::Client::new(
                base,
                settings.client_secret.clone(),
                REQUEST_TIMEOUT,
            )?),
            GatewayGeneration::V1 => {
                let tokens = meters
                    .iter()
                    .filter_map(|m| Some((m.pdl.clone(), m.token.clone()?)))
                    .collect();
                Gateway::V1(v1::Client::new(base, tokens, REQUEST_TIMEOUT)?)
            }
        })
    }

    /// The API generation it speaks (the sample data behaves as v2).
    pub fn generation(&self) -> GatewayGeneration {
        match self {
            Gateway::V1(_) => GatewayGeneration::V1,
            Gateway::V2(_) | Gateway::Sample(_) => GatewayGeneration::V2,
        }
    }

    /// The meters the credentials give access to, with their activation dates.
    pub async fn meters(&self) -> Result<Vec<MeterInfo>, GatewayError> {
        match self {
            Gateway::V1(client) => client.meters().await,
            Gateway::V2(client) => client.meters().await,
            Gateway::Sample(sample) => Ok(sample.meters()),
        }
    }

    /// Consent and quota of a meter, where the generation reports them (v1).
    pub async fn access(&self, pdl: &Pdl) -> Result<Option<AccessInfo>, GatewayError> {
        match self {
            Gateway::V1(client) => client.access(pdl).await.map(Some),
            Gateway::V2(_) | Gateway::Sample(_) => Ok(None),
        }
    }

    /// Daily energy of `pdl` for `[start, end)`; `today` (Paris) and later are never known.
    pub async fn daily(
        &self,
        kind: SeriesKind,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
        _today: NaiveDate,
    ) -> Result<DailySeries, GatewayError> {
        match self {
            Gateway::V1(client) => client.daily(kind, pdl, start, end).await,
            Gateway::V2(client) => client.daily(kind, pdl, start, end).await,
            Gateway::Sample(sample) => Ok(sample.daily(kind, pdl, start, end)),
        }
    }

    /// Daily maximum power for `[start, end)`, before `today`.
    pub async fn max_power(
        &self,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
        _today: NaiveDate,
    ) -> Result<Vec<MaxPowerReading>, GatewayError> {
        match self {
            Gateway::V1(client) => client.max_power(pdl, start, end).await,
            Gateway::V2(client) => client.max_power(pdl, start, end).await,
            Gateway::Sample(sample) => Ok(sample.max_power(pdl, start, end)),
        }
    }

    /// Load curve for `[start, end)`, at most 7 days, before `today`.
    pub async fn load_curve(
        &self,
        kind: SeriesKind,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
        _today: NaiveDate,
    ) -> Result<Vec<LoadCurvePoint>, GatewayError> {
        match self {
            Gateway::V1(client) => client.load_curve(kind, pdl, start, end).await,
            Gateway::V2(client) => client.load_curve(kind, pdl, start, end).await,
            Gateway::Sample(sample) => Ok(sample.load_curve(kind, pdl, start, end)),
        }
    }

    /// Tempo colours of `[start, end)`; days RTE has not decided yet are absent.
    pub async fn tempo(
        &self,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<TempoDay>, GatewayError> {
        match self {
            Gateway::V1(client) => client.tempo(start, end).await,
            Gateway::V2(client) => client.tempo(start, end).await,
            Gateway::Sample(_) => Ok(sample::tempo(start, end)),
        }
    }

    /// EcoWatt signals from `today` (and the following day when published).
    pub async fn ecowatt(&self, today: NaiveDate) -> Result<Vec<EcowattDay>, GatewayError> {
        match self {
            Gateway::V1(client) => client.ecowatt(today, calendar::add_days(today, 2)).await,
            Gateway::V2(client) => client.ecowatt(2).await,
            Gateway::Sample(_) => Ok(sample::ecowatt(today)),
        }
    }

    /// Tempo prices, where the generation publishes them (v1).
    pub async fn tempo_prices(&self) -> Result<Option<TempoPrices>, GatewayError> {
        match self {
            Gateway::V1(client) => client.tempo_prices().await.map(Some),
            Gateway::V2(_) | Gateway::Sample(_) => Ok(None),
        }
    }

    pub async fn contract(&self, pdl: &Pdl) -> Result<Contract, GatewayError> {
        match self {
            Gateway::V1(client) => client.contract(pdl).await,
            Gateway::V2(client) => client.contract(pdl).await,
            Gateway::Sample(sample) => Ok(sample.contract()),
        }
    }
}
