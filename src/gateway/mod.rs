//! MyElectricalData gateway clients.
//!
//! Each API generation has its own client; both answer in the types of [`crate::model`], so
//! everything downstream (store, derived values, entities) is written and tested once.
//! [`Gateway`] is the one the program talks to, whatever the generation.

pub mod admit;
pub mod enedis;
mod error;
pub mod grid;
pub mod sample;
pub mod v1;
pub mod v2;
mod wire;

pub use wire::MAX_ANSWER_BYTES;

use std::time::Duration;

use chrono::NaiveDate;

use crate::calendar;
use crate::config::{GatewayGeneration, GatewaySettings, MeterSettings};
use crate::model::{
    AccessInfo, Contract, DailySeries, EcowattDay, LoadCurvePoint, MaxPowerReading, MeterInfo, Pdl,
    SeriesKind, TempoDay, TempoPrices,
};
use admit::{Parsed, Window};
pub use error::GatewayError;

/// How long one gateway call may take before it counts as a timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Enedis serves at most this many days of daily data per call.
pub const MAX_DAILY_SPAN_DAYS: u64 = 365;
/// … and at most this many days of load curve.
pub const MAX_LOAD_CURVE_SPAN_DAYS: u64 = 7;
/// EcoWatt days asked: today and tomorrow.
const ECOWATT_DAYS: u64 = 2;

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
    /// Items beyond that window or with a value out of the meter's range are refused (one
    /// log line per answer), the rest kept.
    pub async fn daily(
        &self,
        kind: SeriesKind,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
        today: NaiveDate,
    ) -> Result<DailySeries, GatewayError> {
        let Parsed { items, mut dropped } = match self {
            Gateway::V1(client) => client.daily(kind, pdl, start, end).await?,
            Gateway::V2(client) => client.daily(kind, pdl, start, end).await?,
            Gateway::Sample(sample) => Parsed::with(|_| sample.daily(kind, pdl, start, end)),
        };
        let window = Window::measured(start, end, today);
        let series = admit::daily(items, window, &mut dropped);
        dropped.warn(format_args!(
            "meter {pdl}: {} daily {start}..{end}",
            kind.as_str()
        ));
        Ok(series)
    }

    /// Daily maximum power for `[start, end)`, before `today` (refusals as [`Self::daily`]).
    pub async fn max_power(
        &self,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
        today: NaiveDate,
    ) -> Result<Vec<MaxPowerReading>, GatewayError> {
        let Parsed { items, mut dropped } = match self {
            Gateway::V1(client) => client.max_power(pdl, start, end).await?,
            Gateway::V2(client) => client.max_power(pdl, start, end).await?,
            Gateway::Sample(sample) => Parsed::with(|_| sample.max_power(pdl, start, end)),
        };
        let window = Window::measured(start, end, today);
        let peaks = admit::max_power(items, window, &mut dropped);
        dropped.warn(format_args!("meter {pdl}: max power {start}..{end}"));
        Ok(peaks)
    }

    /// Load curve for `[start, end)`, at most 7 days, before `today`: only points whose whole
    /// interval (of a length Enedis uses) lies in that window (refusals as [`Self::daily`]).
    pub async fn load_curve(
        &self,
        kind: SeriesKind,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
        today: NaiveDate,
    ) -> Result<Vec<LoadCurvePoint>, GatewayError> {
        let Parsed { items, mut dropped } = match self {
            Gateway::V1(client) => client.load_curve(kind, pdl, start, end).await?,
            Gateway::V2(client) => client.load_curve(kind, pdl, start, end).await?,
            Gateway::Sample(sample) => Parsed::with(|_| sample.load_curve(kind, pdl, start, end)),
        };
        let window = Window::measured(start, end, today);
        let points = admit::load_curve(items, window, &mut dropped);
        let series = kind.as_str();
        dropped.warn(format_args!(
            "meter {pdl}: {series} load curve {start}..{end}"
        ));
        Ok(points)
    }

    /// Tempo colours of `[start, end)`; days RTE has not decided yet are absent, unknown
    /// colours and days beyond the question refused (one log line).
    pub async fn tempo(
        &self,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<TempoDay>, GatewayError> {
        let Parsed { items, mut dropped } = match self {
            Gateway::V1(client) => client.tempo(start, end).await?,
            Gateway::V2(client) => client.tempo(start, end).await?,
            Gateway::Sample(_) => Parsed::with(|_| sample::tempo(start, end)),
        };
        let days = admit::tempo(items, Window::asked(start, end), &mut dropped);
        dropped.warn(format_args!("Tempo {start}..{end}"));
        Ok(days)
    }

    /// EcoWatt signals of `today` and the following day (when published); levels outside
    /// 1..=3 and other days refused (one log line).
    pub async fn ecowatt(&self, today: NaiveDate) -> Result<Vec<EcowattDay>, GatewayError> {
        let end = calendar::add_days(today, ECOWATT_DAYS);
        let Parsed { items, mut dropped } = match self {
            Gateway::V1(client) => client.ecowatt(today, end).await?,
            Gateway::V2(client) => client.ecowatt(ECOWATT_DAYS as u8).await?,
            Gateway::Sample(_) => Parsed::with(|_| sample::ecowatt(today)),
        };
        let days = admit::ecowatt(items, Window::asked(today, end), &mut dropped);
        dropped.warn(format_args!("EcoWatt from {today}"));
        Ok(days)
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
