//! MyElectricalData gateway clients and the model they share.
//!
//! Each API generation has its own client; both produce the types below, so everything
//! downstream (store, derived values, entities) is written and tested once.

pub mod model;
pub mod sample;
pub mod v2;

use std::time::Duration;

use chrono::NaiveDate;

use crate::config::{GatewayGeneration, GatewaySettings, Pdl};
pub use model::{DailyReading, DailySeries, GatewayError, MeterInfo, SeriesKind};

/// How long one gateway call may take before it counts as a timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Enedis serves at most this many days of daily data per call.
pub const MAX_DAILY_SPAN_DAYS: u64 = 365;

/// The gateway the program talks to.
pub enum Gateway {
    V2(v2::Client),
    /// Built-in sample data for `demo`: no network, no account.
    Sample(sample::SampleGateway),
}

impl Gateway {
    /// The client for the configured generation.
    pub fn from_settings(settings: &GatewaySettings) -> Result<Self, GatewayError> {
        match settings.generation {
            GatewayGeneration::V2 => Ok(Gateway::V2(v2::Client::new(
                settings.base_url.clone(),
                settings.client_secret.clone(),
                REQUEST_TIMEOUT,
            )?)),
            GatewayGeneration::V1 => Err(GatewayError::Unsupported(
                "the v1 gateway is not supported yet: use gateway: v2".into(),
            )),
        }
    }

    /// The meters the credential gives access to.
    pub async fn meters(&self) -> Result<Vec<MeterInfo>, GatewayError> {
        match self {
            Gateway::V2(client) => client.meters().await,
            Gateway::Sample(sample) => Ok(sample.meters()),
        }
    }

    /// Daily energy of `pdl` for `[start, end)`.
    pub async fn daily(
        &self,
        kind: SeriesKind,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<DailySeries, GatewayError> {
        match self {
            Gateway::V2(client) => client.daily(kind, pdl, start, end).await,
            Gateway::Sample(sample) => Ok(sample.daily(kind, pdl, start, end)),
        }
    }
}
