//! Client of the v1 gateway: the raw token of each meter's consent in `Authorization` (no
//! `Bearer`), no envelope, `/cache` routes, `{"detail": …}` errors.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use chrono::NaiveDate;
use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::GatewayError;
use super::admit::Parsed;
use super::enedis::{ContractData, MeterReadingData, parse_naive_datetime};
use super::grid;
use super::wire::{Wire, status_error, typed};
use crate::model::{
    AccessInfo, Contract, DailySeries, EcowattDay, LoadCurvePoint, MaxPowerReading, MeterInfo, Pdl,
    Secret, SeriesKind, TempoDay, TempoPrices,
};
use crate::model::{QUOTED_CHARS, one_line};

pub struct Client {
    wire: Wire,
    tokens: BTreeMap<Pdl, Secret>,
}

impl Client {
    /// `tokens`: the token of each configured meter.
    pub fn new(
        base: Url,
        tokens: BTreeMap<Pdl, Secret>,
        timeout: Duration,
    ) -> Result<Self, GatewayError> {
        Ok(Self {
            wire: Wire::new(base, timeout)?,
            tokens,
        })
    }

    /// v1 has no account listing: each configured meter's contract gives its activation.
    pub async fn meters(&self) -> Result<Vec<MeterInfo>, GatewayError> {
        let mut meters = Vec::new();
        for pdl in self.tokens.keys() {
            let contract = self.contract(pdl).await?;
            meters.push(MeterInfo {
                pdl: pdl.clone(),
                activation_date: contract.activation_date,
                oldest_available_date: None,
            });
        }
        Ok(meters)
    }

    /// `GET /valid_access/{pdl}/cache`: consent expiry and quota.
    pub async fn access(&self, pdl: &Pdl) -> Result<AccessInfo, GatewayError> {
        let segments = ["valid_access", pdl.as_str(), "cache"];
        let (status, body) = self.get_raw(pdl, &segments).await?;
        access_answer(status, &body)
    }

    pub async fn daily(
        &self,
        kind: SeriesKind,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Parsed<DailySeries>, GatewayError> {
        let route = match kind {
            SeriesKind::Consumption => "daily_consumption",
            SeriesKind::Production => "daily_production",
        };
        let (status, body) = self.range(route, pdl, start, end).await?;
        daily_answer(status, &body)
    }

    pub async fn max_power(
        &self,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Parsed<Vec<MaxPowerReading>>, GatewayError> {
        let route = "daily_consumption_max_power";
        let (status, body) = self.range(route, pdl, start, end).await?;
        max_power_answer(status, &body)
    }

    pub async fn load_curve(
        &self,
        kind: SeriesKind,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Parsed<Vec<LoadCurvePoint>>, GatewayError> {
        let route = match kind {
            SeriesKind::Consumption => "consumption_load_curve",
            SeriesKind::Production => "production_load_curve",
        };
        let (status, body) = self.range(route, pdl, start, end).await?;
        load_curve_answer(status, &body)
    }

    /// `GET /contracts/{pdl}/cache`.
    pub async fn contract(&self, pdl: &Pdl) -> Result<Contract, GatewayError> {
        let data: ContractData = self.get(pdl, &["contracts", pdl.as_str(), "cache"]).await?;
        data.into_contract().ok_or_else(|| GatewayError::Malformed {
            status: 200,
            detail: "a contract answer without any contract".into(),
        })
    }

    /// `GET /{route}/{pdl}/start/{start}/end/{end}/cache/`, `end` exclusive.
    async fn range(
        &self,
        route: &str,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<(StatusCode, Bytes), GatewayError> {
        let start = start.to_string();
        let end = end.to_string();
        self.get_raw(
            pdl,
            &[
                route,
                pdl.as_str(),
                "start",
                &start,
                "end",
                &end,
                "cache",
                "",
            ],
        )
        .await
    }

    /// A meter's route, with that meter's token.
    async fn get<T: DeserializeOwned>(
        &self,
        pdl: &Pdl,
        segments: &[&str],
    ) -> Result<T, GatewayError> {
        let (status, body) = self.get_raw(pdl, segments).await?;
        decode(status, &body)
    }

    /// A meter's route, with that meter's token: the status and the body.
    async fn get_raw(
        &self,
        pdl: &Pdl,
        segments: &[&str],
    ) -> Result<(StatusCode, Bytes), GatewayError> {
        let token = self.tokens.get(pdl).ok_or_else(|| {
            GatewayError::Unauthorized(format!("no token configured for meter {pdl}"))
        })?;
        self.fetch_raw(Some(token), segments).await
    }

    async fn fetch_raw(
        &self,
        token: Option<&Secret>,
        segments: &[&str],
    ) -> Result<(StatusCode, Bytes), GatewayError> {
        // The raw token, without `Bearer`.
        self.wire
            .get(segments.iter().copied(), &[], token.map(Secret::expose))
            .await
    }

    /// `GET /rte/tempo/{start}/{end}` (no token needed), `end` exclusive.
    pub async fn tempo(
        &self,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Parsed<Vec<TempoDay>>, GatewayError> {
        let (start, end) = (start.to_string(), end.to_string());
        let (status, body) = self
            .fetch_raw(None, &["rte", "tempo", &start, &end])
            .await?;
        tempo_answer(status, &body)
    }

    /// `GET /rte/ecowatt/{start}/{end}`, `end` exclusive.
    pub async fn ecowatt(
        &self,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Parsed<Vec<EcowattDay>>, GatewayError> {
        let (start, end) = (start.to_string(), end.to_string());
        let token = self.tokens.values().next();
        let segments = ["rte", "ecowatt", &start, &end];
        let (status, body) = self.fetch_raw(token, &segments).await?;
        ecowatt_answer(status, &body)
    }

    /// `GET /edf/tempo/price`.
    pub async fn tempo_prices(&self) -> Result<TempoPrices, GatewayError> {
        let token = self.tokens.values().next();
        let (status, body) = self.fetch_raw(token, &["edf", "tempo", "price"]).await?;
        tempo_prices_answer(status, &body)
    }
}

/// A v1 answer: the payload itself, or a non-2xx status with `{"detail": "…"}`.
pub fn decode<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, GatewayError> {
    if !status.is_success() {
        return Err(status_error(status, body));
    }
    typed(status, body)
}

// Each route's answer, from its status and body, without HTTP (what a fuzzer can call). Values
// are checked item by item; the asked window is the facade's.

/// `/valid_access/{pdl}/cache`; the server's `information` becomes one short line (it may
/// end up in the log and the status topic).
pub fn access_answer(status: StatusCode, body: &[u8]) -> Result<AccessInfo, GatewayError> {
    let answer: ValidAccess = decode(status, body)?;
    Ok(AccessInfo {
        valid: answer.valid.unwrap_or(false),
        consent_expiration: answer
            .consent_expiration_date
            .as_deref()
            .and_then(parse_naive_datetime),
        quota_used: answer.call_number,
        quota_limit: answer.quota_limit,
        quota_reached: answer.quota_reached.unwrap_or(false),
        information: answer
            .information
            .map(|text| one_line(&text, QUOTED_CHARS))
            .filter(|text| !text.is_empty()),
    })
}

/// `/edf/tempo/price`: prices outside what a kWh can cost are left unknown.
pub fn tempo_prices_answer(status: StatusCode, body: &[u8]) -> Result<TempoPrices, GatewayError> {
    Ok(grid::v1_tempo_prices(decode(status, body)?))
}

/// A daily energy answer (`/daily_consumption/…`, `/daily_production/…`).
pub fn daily_answer(status: StatusCode, body: &[u8]) -> Result<Parsed<DailySeries>, GatewayError> {
    let data: MeterReadingData = decode(status, body)?;
    Ok(Parsed::with(|dropped| {
        data.meter_reading.into_daily(dropped)
    }))
}

/// A daily max-power answer (`/daily_consumption_max_power/…`).
pub fn max_power_answer(
    status: StatusCode,
    body: &[u8],
) -> Result<Parsed<Vec<MaxPowerReading>>, GatewayError> {
    let data: MeterReadingData = decode(status, body)?;
    Ok(Parsed::with(|dropped| {
        data.meter_reading.into_max_power(dropped)
    }))
}

/// A load-curve answer (`/consumption_load_curve/…`, `/production_load_curve/…`).
pub fn load_curve_answer(
    status: StatusCode,
    body: &[u8],
) -> Result<Parsed<Vec<LoadCurvePoint>>, GatewayError> {
    let data: MeterReadingData = decode(status, body)?;
    Ok(Parsed::with(|dropped| {
        data.meter_reading.into_load_curve(dropped)
    }))
}

/// A Tempo answer (`/rte/tempo/{start}/{end}`).
pub fn tempo_answer(
    status: StatusCode,
    body: &[u8],
) -> Result<Parsed<Vec<TempoDay>>, GatewayError> {
    let days = decode(status, body)?;
    Ok(Parsed::with(|dropped| grid::v1_tempo(days, dropped)))
}

/// An EcoWatt answer (`/rte/ecowatt/{start}/{end}`).
pub fn ecowatt_answer(
    status: StatusCode,
    body: &[u8],
) -> Result<Parsed<Vec<EcowattDay>>, GatewayError> {
    let days = decode(status, body)?;
    Ok(Parsed::with(|dropped| grid::v1_ecowatt(days, dropped)))
}

#[derive(Deserialize)]
struct ValidAccess {
    valid: Option<bool>,
    consent_expiration_date: Option<String>,
    call_number: Option<u32>,
    quota_reached: Option<bool>,
    quota_limit: Option<u32>,
    information: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_reading(status: u16, body: &str) -> Result<MeterReadingData, GatewayError> {
        decode(StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

    #[test]
    fn the_servers_access_information_is_one_short_line() {
        let body = format!(
            r#"{{"valid":false,"information":"line one\nline two {}"}}"#,
            "x".repeat(5000)
        );
        let access = access_answer(StatusCode::OK, body.as_bytes()).unwrap();
        let information = access.information.unwrap();
        assert!(
            information.starts_with("line one line two x"),
            "{information}"
        );
        assert_eq!(
            information.chars().count(),
            QUOTED_CHARS + 1,
            "{information}"
        );
    }

    #[test]
    fn the_body_is_the_enedis_payload() {
        let body = r#"{"meter_reading":{"usage_point_id":"12345678901234","start":"2024-01-01","end":"2024-01-02","quality":"BRUT","reading_type":{"unit":"Wh"},"interval_reading":[{"value":"15230","date":"2024-01-01"}]}}"#;
        let daily = daily_answer(StatusCode::OK, body.as_bytes()).unwrap().items;
        assert_eq!(daily.readings[0].wh, 15230);
    }

    #[test]
    fn detail_errors_become_typed_errors() {
        let quota = decode_reading(
            409,
            r#"{"detail":"Vous avez dépassé votre quota journalier (50)"}"#,
        );
        assert!(
            matches!(quota, Err(GatewayError::QuotaReached(ref m)) if m.contains("quota journalier"))
        );
        assert!(matches!(
            decode_reading(
                403,
                r#"{"detail":"Le point de livraison ne correspond au token fournis"}"#
            ),
            Err(GatewayError::AccessDenied(_))
        ));
        assert!(matches!(
            decode_reading(
                400,
                r#"{"detail":"Votre point de livraison doit être composé de 14 chiffres uniquement"}"#
            ),
            Err(GatewayError::Http { status: 400, .. })
        ));
        assert!(matches!(
            decode_reading(500, r#"{"detail":"Technical error. Please try later."}"#),
            Err(GatewayError::Http { status: 500, .. })
        ));
        assert!(matches!(
            decode_reading(200, "<html>down</html>"),
            Err(GatewayError::Malformed { .. })
        ));
    }

    #[test]
    fn valid_access_reports_consent_and_quota() {
        let body = r#"{"valid":true,"consent_expiration_date":"2026-01-14T15:32:38","call_number":7,"quota_reached":false,"quota_limit":500,"quota_reset_at":"2024-01-16T23:59:59.999999","last_call":"x","ban":false}"#;
        let access: ValidAccess = decode(StatusCode::OK, body.as_bytes()).unwrap();
        assert_eq!(
            (access.call_number, access.quota_limit),
            (Some(7), Some(500))
        );
        assert_eq!(
            parse_naive_datetime(access.consent_expiration_date.as_deref().unwrap())
                .unwrap()
                .to_string(),
            "2026-01-14 15:32:38"
        );
    }
}
