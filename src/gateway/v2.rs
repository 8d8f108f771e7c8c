//! Client of the v2 gateway API: bearer client secret, `{success, data, error}` envelope.

use std::time::Duration;

use bytes::Bytes;
use chrono::NaiveDate;
use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use url::Url;

use super::GatewayError;
use super::admit::{Dropped, Parsed};
use super::enedis::{ContractData, MeterReading, MeterReadingData, parse_day};
use super::grid;
use super::wire::{Wire, status_error, typed};
use crate::model::{
    Contract, DailySeries, EcowattDay, LoadCurvePoint, MaxPowerReading, MeterInfo, Pdl, Secret,
    SeriesKind, TempoDay,
};
use crate::model::{QUOTED_CHARS, one_line};

pub struct Client {
    wire: Wire,
    secret: Option<Secret>,
}

impl Client {
    /// A client whose calls give up after `timeout`.
    pub fn new(base: Url, secret: Option<Secret>, timeout: Duration) -> Result<Self, GatewayError> {
        Ok(Self {
            wire: Wire::new(base, timeout)?,
            secret,
        })
    }

    /// `GET /pdl`: the meters of the account.
    pub async fn meters(&self) -> Result<Vec<MeterInfo>, GatewayError> {
        let (status, body) = self.get_raw("pdl", &[]).await?;
        meters_answer(status, &body)
    }

    /// `GET /enedis/{kind}/daily/{pdl}?start&end&use_cache=true`, `end` exclusive.
    pub async fn daily(
        &self,
        kind: SeriesKind,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Parsed<DailySeries>, GatewayError> {
        let path = format!("enedis/{}/daily/{pdl}", kind.as_str());
        let (status, body) = self.get_range(&path, start, end).await?;
        daily_answer(status, &body)
    }

    /// `GET /enedis/power/{pdl}`: the daily maximum power.
    pub async fn max_power(
        &self,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Parsed<Vec<MaxPowerReading>>, GatewayError> {
        let path = format!("enedis/power/{pdl}");
        let (status, body) = self.get_range(&path, start, end).await?;
        max_power_answer(status, &body)
    }

    /// `GET /enedis/{kind}/detail/{pdl}`: the load curve, at most 7 days.
    pub async fn load_curve(
        &self,
        kind: SeriesKind,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Parsed<Vec<LoadCurvePoint>>, GatewayError> {
        let path = format!("enedis/{}/detail/{pdl}", kind.as_str());
        let (status, body) = self.get_range(&path, start, end).await?;
        load_curve_answer(status, &body)
    }

    /// `GET /enedis/contract/{pdl}`.
    pub async fn contract(&self, pdl: &Pdl) -> Result<Contract, GatewayError> {
        let data: ContractData = self.get(&format!("enedis/contract/{pdl}"), &[]).await?;
        data.into_contract().ok_or_else(|| GatewayError::Malformed {
            status: 200,
            detail: "a contract answer without any contract".into(),
        })
    }

    /// `GET /tempo/days?start_date&end_date` (public), `end` exclusive.
    pub async fn tempo(
        &self,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Parsed<Vec<TempoDay>>, GatewayError> {
        let (start, end) = (start.to_string(), end.to_string());
        let query = [("start_date", start.as_str()), ("end_date", end.as_str())];
        let (status, body) = self.get_raw("tempo/days", &query).await?;
        tempo_answer(status, &body)
    }

    /// `GET /ecowatt/forecast?days=N`: today and the next days.
    pub async fn ecowatt(&self, days: u8) -> Result<Parsed<Vec<EcowattDay>>, GatewayError> {
        let days = days.clamp(1, 7).to_string();
        let query = [("days", days.as_str())];
        let (status, body) = self.get_raw("ecowatt/forecast", &query).await?;
        ecowatt_answer(status, &body)
    }

    async fn get_range(
        &self,
        path: &str,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<(StatusCode, Bytes), GatewayError> {
        let start = start.to_string();
        let end = end.to_string();
        let query = [
            ("start", start.as_str()),
            ("end", end.as_str()),
            ("use_cache", "true"),
        ];
        self.get_raw(path, &query).await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, GatewayError> {
        let (status, body) = self.get_raw(path, query).await?;
        decode_envelope(status, &body)
    }

    /// The status and the body of `GET path?query`, with the bearer secret.
    async fn get_raw(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(StatusCode, Bytes), GatewayError> {
        let bearer = self
            .secret
            .as_ref()
            .map(|s| format!("Bearer {}", s.expose()));
        self.wire
            .get(path.split('/'), query, bearer.as_deref())
            .await
    }
}

// Each route's answer, from its status and body, without HTTP (what a fuzzer can call). Values
// are checked item by item; the asked window is the facade's. `NO_DATA` ("nothing for this
// period") is an answer: every day of it is "not yet".

/// An Enedis `meter_reading` answer turned into items by `into`, `NO_DATA` as none.
fn reading_answer<T: Default>(
    status: StatusCode,
    body: &[u8],
    into: impl FnOnce(MeterReading, &mut Dropped) -> T,
) -> Result<Parsed<T>, GatewayError> {
    match decode_envelope::<MeterReadingData>(status, body) {
        Ok(data) => Ok(Parsed::with(|dropped| into(data.meter_reading, dropped))),
        Err(GatewayError::Api { code, .. }) if code == "NO_DATA" => Ok(Parsed::default()),
        Err(e) => Err(e),
    }
}

/// `/pdl`: the account's meters; a row without a valid PDL is not a meter of ours.
pub fn meters_answer(status: StatusCode, body: &[u8]) -> Result<Vec<MeterInfo>, GatewayError> {
    let rows: Vec<PdlRow> = decode_envelope(status, body)?;
    let meter = |row: PdlRow| {
        Some(MeterInfo {
            pdl: Pdl::parse(&row.usage_point_id)?,
            activation_date: row.activation_date.as_deref().and_then(parse_day),
            oldest_available_date: row
                .oldest_available_data_date
                .as_deref()
                .and_then(parse_day),
        })
    };
    Ok(rows.into_iter().filter_map(meter).collect())
}

/// `/enedis/{kind}/daily/{pdl}`.
pub fn daily_answer(status: StatusCode, body: &[u8]) -> Result<Parsed<DailySeries>, GatewayError> {
    reading_answer(status, body, MeterReading::into_daily)
}

/// `/enedis/power/{pdl}`.
pub fn max_power_answer(
    status: StatusCode,
    body: &[u8],
) -> Result<Parsed<Vec<MaxPowerReading>>, GatewayError> {
    reading_answer(status, body, MeterReading::into_max_power)
}

/// `/enedis/{kind}/detail/{pdl}`.
pub fn load_curve_answer(
    status: StatusCode,
    body: &[u8],
) -> Result<Parsed<Vec<LoadCurvePoint>>, GatewayError> {
    reading_answer(status, body, MeterReading::into_load_curve)
}

/// `/tempo/days`.
pub fn tempo_answer(
    status: StatusCode,
    body: &[u8],
) -> Result<Parsed<Vec<TempoDay>>, GatewayError> {
    let days = decode_envelope(status, body)?;
    Ok(Parsed::with(|dropped| grid::v2_tempo(days, dropped)))
}

/// `/ecowatt/forecast` (bare, no envelope).
pub fn ecowatt_answer(
    status: StatusCode,
    body: &[u8],
) -> Result<Parsed<Vec<EcowattDay>>, GatewayError> {
    let days = decode_envelope(status, body)?;
    Ok(Parsed::with(|dropped| grid::v2_ecowatt(days, dropped)))
}

/// Turns a v2 answer into data or a typed error: HTTP errors first, then the envelope.
pub fn decode_envelope<T: DeserializeOwned>(
    status: StatusCode,
    body: &[u8],
) -> Result<T, GatewayError> {
    if !status.is_success() {
        return Err(status_error(status, body));
    }
    // Enedis and Tempo routes wrap their data in the envelope; EcoWatt answers bare.
    if !has_success_field(status, body)? {
        return typed(status, body);
    }
    let envelope: Envelope<T> = typed(status, body)?;
    match envelope {
        Envelope {
            success: true,
            data: Some(data),
            ..
        } => Ok(data),
        Envelope { success: true, .. } => Err(GatewayError::Malformed {
            status: status.as_u16(),
            detail: "success without data".into(),
        }),
        Envelope { error, .. } => {
            let (code, message) = error
                .map(|e| (e.code, e.message.unwrap_or_default()))
                .unwrap_or_else(|| ("UNKNOWN".into(), "success:false without an error".into()));
            let (code, message) = (one_line(&code, 64), one_line(&message, QUOTED_CHARS));
            Err(match code.as_str() {
                "RATE_LIMIT_EXCEEDED" => GatewayError::QuotaReached(message),
                "ACCESS_DENIED" => GatewayError::AccessDenied(message),
                "ADAM-ERR0123" => GatewayError::BeforeActivation(message),
                _ => GatewayError::Api { code, message },
            })
        }
    }
}

/// Whether the body is an object with a `success` field (read past, not built: cheap).
fn has_success_field(status: StatusCode, body: &[u8]) -> Result<bool, GatewayError> {
    #[derive(Deserialize)]
    struct Probe {
        success: Option<IgnoredAny>,
    }
    let is_object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !is_object {
        return Ok(false);
    }
    Ok(typed::<Probe>(status, body)?.success.is_some())
}

#[derive(Deserialize)]
struct Envelope<T> {
    success: bool,
    data: Option<T>,
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct ApiError {
    code: String,
    message: Option<String>,
}

#[derive(Deserialize)]
struct PdlRow {
    usage_point_id: String,
    activation_date: Option<String>,
    oldest_available_data_date: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DailyReading;

    fn decode(status: u16, body: &str) -> Result<MeterReadingData, GatewayError> {
        decode_envelope(StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

    #[test]
    fn reads_daily_values_as_wh_strings() {
        let body = r#"{"success":true,"data":{"meter_reading":{"usage_point_id":"12345678901234","start":"2024-01-01","end":"2024-01-03","quality":"BRUT","reading_type":{"unit":"W","measurement_kind":"power"},"interval_reading":[{"value":"15230","date":"2024-01-01"},{"value":"14810","date":"2024-01-02"}]}},"error":null,"timestamp":"2024-01-16T09:12:03Z"}"#;
        let series = daily_answer(StatusCode::OK, body.as_bytes()).unwrap().items;
        assert_eq!(series.quality.as_deref(), Some("BRUT"));
        assert_eq!(
            series.readings,
            vec![
                DailyReading {
                    date: parse_day("2024-01-01").unwrap(),
                    wh: 15230
                },
                DailyReading {
                    date: parse_day("2024-01-02").unwrap(),
                    wh: 14810
                },
            ]
        );
    }

    #[test]
    fn maps_every_error_form() {
        let fail = |code: &str| {
            format!(
                r#"{{"success":false,"data":null,"error":{{"code":"{code}","message":"m","field":null}},"timestamp":"t"}}"#
            )
        };
        assert!(matches!(
            decode(200, &fail("RATE_LIMIT_EXCEEDED")),
            Err(GatewayError::QuotaReached(_))
        ));
        assert!(matches!(
            decode(200, &fail("ACCESS_DENIED")),
            Err(GatewayError::AccessDenied(_))
        ));
        assert!(matches!(
            decode(200, &fail("ADAM-ERR0123")),
            Err(GatewayError::BeforeActivation(_))
        ));
        assert!(
            matches!(decode(200, &fail("ENEDIS_UNAVAILABLE")), Err(GatewayError::Api { ref code, .. }) if code == "ENEDIS_UNAVAILABLE")
        );
        assert!(
            matches!(decode(401, r#"{"detail":"Not authenticated"}"#), Err(GatewayError::Unauthorized(m)) if m == "Not authenticated")
        );
        assert!(matches!(
            decode(403, r#"{"detail":"Forbidden"}"#),
            Err(GatewayError::AccessDenied(_))
        ));
        assert!(matches!(
            decode(
                429,
                r#"{"detail":"Rate limit exceeded: 50/50 requests today"}"#
            ),
            Err(GatewayError::QuotaReached(_))
        ));
        assert!(matches!(
            decode(502, "<html>Bad gateway</html>"),
            Err(GatewayError::Http { status: 502, .. })
        ));
        assert!(
            matches!(decode(200, "<html>maintenance</html>"), Err(GatewayError::Malformed { status: 200, ref detail }) if detail == "not JSON")
        );
        // JSON, but not the envelope at all: a broken answer, not a business error.
        assert!(matches!(
            decode(200, r#"{"foo":1}"#),
            Err(GatewayError::Malformed { status: 200, .. })
        ));
    }

    #[test]
    fn transient_errors_are_the_ones_worth_retrying() {
        assert!(GatewayError::Timeout(30.0).is_transient());
        assert!(
            GatewayError::Http {
                status: 500,
                message: String::new()
            }
            .is_transient()
        );
        assert!(!GatewayError::Unauthorized(String::new()).is_transient());
        assert!(!GatewayError::AccessDenied(String::new()).is_transient());
    }

    #[test]
    fn parses_dates_with_times_and_offsets() {
        assert_eq!(
            parse_day("2015-05-24+02:00"),
            NaiveDate::from_ymd_opt(2015, 5, 24)
        );
        assert_eq!(
            parse_day("2024-01-01 00:30:00"),
            NaiveDate::from_ymd_opt(2024, 1, 1)
        );
        assert_eq!(parse_day("garbage"), None);
    }
}
