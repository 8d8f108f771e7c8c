//! The MyElectricalData gateway, faked — both API generations at once, on one port, sharing
//! one data store (daily energy, load curves, max power, contracts):
//!
//! - **v2** under `/api` ([`FakeGateway::url`]), bearer client secret, `{success, data, error,
//!   timestamp}` envelope:
//!   `GET /api/pdl`,
//!   `GET /api/enedis/{consumption|production}/daily/{pdl}?start&end&use_cache=true` (≤ 365 days),
//!   `GET /api/enedis/{consumption|production}/detail/{pdl}?start&end&use_cache=true` (≤ 7 days),
//!   `GET /api/enedis/power/{pdl}?start&end&use_cache=true` (≤ 365 days),
//!   `GET /api/enedis/contract/{pdl}`.
//!   Every route but `/pdl` answers 403 `{"detail":"Access denied to this PDL"}` for a PDL that
//!   is not in the meter list.
//! - **v1** at the root ([`FakeGateway::url_v1`]), raw token of the PDL in `Authorization` (no
//!   `Bearer`), no envelope (the body is the Enedis payload), `{"detail": …}` errors:
//!   `GET /valid_access/{pdl}/cache`,
//!   `GET /{daily_consumption|daily_production|daily_consumption_max_power}/{pdl}/start/{d}/end/{d}/cache/`
//!   (≤ 365 days), `GET /{consumption|production}_load_curve/{pdl}/start/{d}/end/{d}/cache/`
//!   (≤ 7 days), `GET /contracts/{pdl}/cache`. The v1 PDLs and their tokens are their own list
//!   ([`FakeGateway::set_v1_token`]), independent of the v2 meter list.
//! - **RTE and EDF data**, shared by both generations (colours set with
//!   [`FakeGateway::set_tempo`], signals with [`FakeGateway::set_ecowatt`]):
//!   v2 `GET /api/tempo/days?start_date&end_date` (public: no credential checked; envelope,
//!   `end_date` exclusive), v2 `GET /api/ecowatt/forecast?days=N` (bearer secret; a bare JSON
//!   list, no envelope: the days from "today" on), v1 `GET /rte/tempo/{start}/{end}` (public,
//!   `{"2024-01-15":"BLUE",…}`), v1 `GET /rte/ecowatt/{start}/{end}` and v1
//!   `GET /edf/tempo/price` (no credential checked). Days without a colour or a signal are
//!   absent. Both EcoWatt routes share a daily limit ([`FakeGateway::set_ecowatt_daily_limit`])
//!   after which they answer 429 `{"detail":"Rate limit exceeded: N/N requests today"}`.
//!
//! Order of checks for every request: recorded → route (404 `{"detail":"Not Found"}`) →
//! method (405) → credentials (v2: bearer secret, 401; v1: PDL of 14 digits, 400, then the
//! PDL's token, 403) → next matching queued fault → v1 daily quota (409) → normal answer.
//! RTE/EDF routes: recorded → route → method → credentials (v2 EcoWatt only) → fault →
//! EcoWatt daily limit (429) → normal answer; they never count against the v1 quota.
//!
//! Days (or load-curve intervals) of "today" and later are never returned (see `set_today`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Europe::Paris;
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::http::BackgroundServer;

pub const DEFAULT_SECRET: &str = "secret-123";
pub const DEFAULT_PDL: &str = "12345678901234";
/// The v1 token of `DEFAULT_PDL` after `start`.
pub const DEFAULT_V1_TOKEN: &str = "v1-token-4f2a9c";
/// The v1 daily quota of a PDL unless `set_v1_quota_limit` says otherwise.
pub const DEFAULT_V1_QUOTA: u32 = 500;
/// The v1 consent expiration of a PDL unless `set_v1_consent_expiration` says otherwise.
pub const DEFAULT_CONSENT_EXPIRATION: &str = "2026-01-14T15:32:38";

/// Longest range of a daily or max-power call, in days.
pub const MAX_DAILY_DAYS: i64 = 365;
/// Longest range of a load-curve call, in days.
pub const MAX_DETAIL_DAYS: i64 = 7;

/// A daily series of the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Series {
    Consumption,
    Production,
}

impl Series {
    pub fn as_str(self) -> &'static str {
        match self {
            Series::Consumption => "consumption",
            Series::Production => "production",
        }
    }

    fn parse(text: &str) -> Option<Series> {
        match text {
            "consumption" => Some(Series::Consumption),
            "production" => Some(Series::Production),
            _ => None,
        }
    }
}

/// One row of `GET /api/pdl`.
#[derive(Debug, Clone)]
pub struct FakeMeter {
    pub usage_point_id: String,
    pub name: String,
    pub subscribed_power: u32,
    pub offpeak_hours: String,
    pub pricing_option: String,
    pub has_consumption: bool,
    pub has_production: bool,
    pub is_active: bool,
    pub activation_date: Option<NaiveDate>,
    pub oldest_available_data_date: Option<NaiveDate>,
}

impl FakeMeter {
    /// A consumption-only meter with both dates set to `activation`.
    pub fn new(pdl: &str, activation: Option<NaiveDate>) -> Self {
        FakeMeter {
            usage_point_id: pdl.to_string(),
            name: "Maison".into(),
            subscribed_power: 9,
            offpeak_hours: "HC (22H00-6H00)".into(),
            pricing_option: "BASE".into(),
            has_consumption: true,
            has_production: false,
            is_active: true,
            activation_date: activation,
            oldest_available_data_date: activation,
        }
    }

    fn to_json(&self) -> Value {
        let day = |d: Option<NaiveDate>| d.map(|d| d.to_string());
        json!({
            "usage_point_id": self.usage_point_id,
            "name": self.name,
            "subscribed_power": self.subscribed_power,
            "offpeak_hours": self.offpeak_hours,
            "pricing_option": self.pricing_option,
            "has_consumption": self.has_consumption,
            "has_production": self.has_production,
            "is_active": self.is_active,
            "activation_date": day(self.activation_date),
            "oldest_available_data_date": day(self.oldest_available_data_date),
        })
    }
}

/// The contract of a meter, as `GET /api/enedis/contract/{pdl}` (v2, in the envelope) and
/// `GET /contracts/{pdl}/cache` (v1, bare) serve it under `customer.usage_points[0]`.
///
/// Without `set_contract`, a PDL's contract is built from its v2 meter row (subscribed power,
/// offpeak hours, activation date) or, when it has none, is `FakeContract::default()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeContract {
    pub customer_id: String,
    pub usage_point_status: String,
    pub meter_type: String,
    pub segment: String,
    /// Verbatim, e.g. `9 kVA`.
    pub subscribed_power: String,
    /// Served as `YYYY-MM-DD+HH:MM` with the Paris offset of that day (`2015-05-24+02:00`).
    pub last_activation_date: Option<NaiveDate>,
    pub distribution_tariff: String,
    /// Verbatim, e.g. `HC (22H00-6H00)`; the field is left out when `None`.
    pub offpeak_hours: Option<String>,
    pub contract_status: String,
    pub last_distribution_tariff_change_date: Option<NaiveDate>,
}

impl FakeContract {
    /// A C5 contract "in service" (`SERVC`), tariff `BTINFMUDT`, of `kva` kVA.
    pub fn new(kva: u32, offpeak_hours: Option<&str>, activation: Option<NaiveDate>) -> Self {
        FakeContract {
            customer_id: "1358019319".into(),
            usage_point_status: "com".into(),
            meter_type: "AMM".into(),
            segment: "C5".into(),
            subscribed_power: format!("{kva} kVA"),
            last_activation_date: activation,
            distribution_tariff: "BTINFMUDT".into(),
            offpeak_hours: offpeak_hours.map(str::to_string),
            contract_status: "SERVC".into(),
            last_distribution_tariff_change_date: NaiveDate::from_ymd_opt(2020, 1, 1),
        }
    }

    fn from_meter(meter: &FakeMeter) -> Self {
        FakeContract::new(
            meter.subscribed_power,
            Some(&meter.offpeak_hours),
            meter.activation_date,
        )
    }

    /// `data` of the v2 route, body of the v1 route.
    pub fn to_json(&self, pdl: &str) -> Value {
        let mut contracts = json!({
            "segment": self.segment,
            "subscribed_power": self.subscribed_power,
            "last_activation_date": self.last_activation_date.map(day_with_paris_offset),
            "distribution_tariff": self.distribution_tariff,
            "contract_status": self.contract_status,
            "last_distribution_tariff_change_date":
                self.last_distribution_tariff_change_date.map(day_with_paris_offset),
        });
        if let Some(offpeak) = &self.offpeak_hours {
            contracts["offpeak_hours"] = json!(offpeak);
        }
        json!({
            "customer": {
                "customer_id": self.customer_id,
                "usage_points": [{
                    "usage_point": {
                        "usage_point_id": pdl,
                        "usage_point_status": self.usage_point_status,
                        "meter_type": self.meter_type,
                    },
                    "contracts": contracts,
                }],
            }
        })
    }
}

impl Default for FakeContract {
    /// 9 kVA, `HC (22H00-6H00)`, activated 2022-01-10 (the default meter's activation).
    fn default() -> Self {
        FakeContract::new(
            9,
            Some("HC (22H00-6H00)"),
            NaiveDate::from_ymd_opt(2022, 1, 10),
        )
    }
}

/// `2015-05-24` → `2015-05-24+02:00` (the Paris offset at midnight that day).
fn day_with_paris_offset(day: NaiveDate) -> String {
    format!("{day}{}", paris_offset_at_midnight(day))
}

/// `+01:00` or `+02:00`: the Paris offset at 00:00 of `day`.
fn paris_offset_at_midnight(day: NaiveDate) -> String {
    let midnight = day.and_time(NaiveTime::MIN);
    let seconds = Paris
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.offset().fix().local_minus_utc())
        .unwrap_or(3600);
    let sign = if seconds < 0 { '-' } else { '+' };
    let seconds = seconds.abs();
    format!("{sign}{:02}:{:02}", seconds / 3600, (seconds % 3600) / 60)
}

/// One load-curve point: the average power (W) over the `interval_minutes` that end at `end`
/// (naive Paris wall-clock time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurvePoint {
    pub end: NaiveDateTime,
    pub watts: i64,
    pub interval_minutes: u32,
}

impl CurvePoint {
    /// The day the interval belongs to: that of its start (`00:00:00` ends the day before).
    pub fn interval_day(&self) -> NaiveDate {
        (self.end - TimeDelta::seconds(1)).date()
    }

    fn to_json(self) -> Value {
        json!({
            "value": self.watts.to_string(),
            "date": self.end.format("%Y-%m-%d %H:%M:%S").to_string(),
            "interval_length": format!("PT{}M", self.interval_minutes),
            "measure_type": "B",
        })
    }
}

/// One interval of a regular load curve: when it starts (a Paris time, so the two autumn
/// 02:00 starts differ by their offset) and the naive end Enedis writes for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurveSlot {
    pub start: DateTime<Tz>,
    /// The wall-clock end in the offset of the interval's start: `start + interval`, naive.
    pub end: NaiveDateTime,
    pub interval_minutes: u32,
}

/// The `interval_minutes` intervals that cover `day` in Europe/Paris (from 00:00 to the next
/// day's 00:00), in time order. A point's naive end is its start's wall-clock time plus the
/// interval, so it stays in the offset of the interval (the last point of a day is the next
/// day's `00:00:00`). Half-hourly: 48 points on a normal day; 46 on the spring-forward day
/// (the hour 02:00–03:00 does not exist: no end at 02:30 or 03:00, `02:00:00` is followed by
/// `03:30:00`); 50 on the autumn day (`02:30:00` and `03:00:00` come twice: first the
/// intervals of summer time, then those of winter time).
pub fn paris_curve_slots(day: NaiveDate, interval_minutes: u32) -> Vec<CurveSlot> {
    assert!(interval_minutes > 0, "an interval lasts at least a minute");
    let midnight = |d: NaiveDate| {
        Paris
            .from_local_datetime(&d.and_time(NaiveTime::MIN))
            .earliest()
            .expect("midnight exists in Paris")
    };
    let (first, end) = (midnight(day), midnight(day.succ_opt().expect("a next day")));
    let step = TimeDelta::minutes(i64::from(interval_minutes));
    let mut slots = Vec::new();
    let mut start = first;
    while start + step <= end {
        slots.push(CurveSlot {
            start,
            end: start.naive_local() + step,
            interval_minutes,
        });
        start += step;
    }
    slots
}

/// A Tempo colour, as RTE names it (`BLUE`, `WHITE`, `RED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RteColor {
    Blue,
    White,
    Red,
}

impl RteColor {
    /// `BLUE`, `WHITE`, `RED`.
    pub fn as_rte(self) -> &'static str {
        match self {
            RteColor::Blue => "BLUE",
            RteColor::White => "WHITE",
            RteColor::Red => "RED",
        }
    }

    /// `BLEU`, `BLANC`, `ROUGE`: the names the program publishes.
    pub fn as_french(self) -> &'static str {
        match self {
            RteColor::Blue => "BLEU",
            RteColor::White => "BLANC",
            RteColor::Red => "ROUGE",
        }
    }
}

/// How the fake writes the colour words it serves (both generations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorCase {
    /// As stored: `BLUE` for `set_tempo`, verbatim for `set_tempo_text`.
    #[default]
    AsStored,
    /// `BLUE`.
    Upper,
    /// `blue`.
    Lower,
    /// `Blue`.
    Capitalized,
}

impl ColorCase {
    fn apply(self, word: &str) -> String {
        match self {
            ColorCase::AsStored => word.to_string(),
            ColorCase::Upper => word.to_uppercase(),
            ColorCase::Lower => word.to_lowercase(),
            ColorCase::Capitalized => {
                let lower = word.to_lowercase();
                let mut chars = lower.chars();
                chars
                    .next()
                    .map(|c| c.to_uppercase().chain(chars).collect())
                    .unwrap_or_default()
            }
        }
    }
}

/// RTE's usual message for a day level.
pub fn ecowatt_message(level: u8) -> &'static str {
    match level {
        0 | 1 => "Pas d'alerte.",
        2 => "Mode écogeste : la consommation est élevée.",
        _ => "Système électrique très tendu : coupures possibles.",
    }
}

/// One EcoWatt day: its level (`dvalue` / `value`), message and hourly levels (24 of them,
/// `values[h]` for the hour starting at `h:00`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeEcowattDay {
    pub dvalue: u8,
    pub message: String,
    pub values: Vec<u8>,
}

impl FakeEcowattDay {
    /// Those hourly levels; the day level is their maximum, the message RTE's for it.
    pub fn new(values: [u8; 24]) -> Self {
        let dvalue = values.iter().copied().max().unwrap_or(1);
        FakeEcowattDay {
            dvalue,
            message: ecowatt_message(dvalue).to_string(),
            values: values.to_vec(),
        }
    }

    /// Every hour at `level`.
    pub fn flat(level: u8) -> Self {
        FakeEcowattDay::new([level; 24])
    }

    /// v2 `/ecowatt/forecast` item; `generated` is the fake's "today".
    fn to_v2_json(&self, day: NaiveDate, generated: NaiveDate) -> Value {
        json!({
            "periode": format!("{day}T00:00:00{}", paris_offset_at_midnight(day)),
            "dvalue": self.dvalue,
            "message": self.message,
            "values": self.values,
            "hdebut": 0,
            "hfin": self.values.len().saturating_sub(1),
            "generation_datetime":
                format!("{generated}T06:00:00{}", paris_offset_at_midnight(generated)),
        })
    }

    /// v1 `/rte/ecowatt` value: `{"value":…,"message":…,"detail":{"YYYY-MM-DD HH:00:00":…}}`.
    fn to_v1_json(&self, day: NaiveDate) -> Value {
        let detail: serde_json::Map<String, Value> = self
            .values
            .iter()
            .enumerate()
            .map(|(hour, level)| (format!("{day} {hour:02}:00:00"), json!(level)))
            .collect();
        json!({ "value": self.dvalue, "message": self.message, "detail": detail })
    }
}

/// The v1 `/edf/tempo/price` body unless `set_v1_tempo_prices` says otherwise: strings with a
/// decimal comma.
pub fn default_v1_tempo_prices() -> Value {
    json!({
        "blue_hc": "0,1325",
        "blue_hp": "0,1612",
        "white_hc": "0,1499",
        "white_hp": "0,1871",
        "red_hc": "0,1575",
        "red_hp": "0,7060",
    })
}

/// An injected failure, consumed by the next matching request (FIFO).
#[derive(Debug, Clone)]
pub enum Fault {
    /// HTTP 200 with `{"success":BOOL,"data":null,"error":{"code":CODE,"message":MSG,
    /// "field":null},"timestamp":…}` (normally `false`; `true` gives the malformed
    /// "success without data" envelope). On a v1 route this is simply a body of the wrong shape.
    Success(bool, String, String),
    /// That HTTP status with that body verbatim (`application/json` when the body parses as
    /// JSON, `text/html` otherwise).
    Status(u16, String),
    /// Sleeps, then answers normally (to provoke client timeouts).
    Delay(Duration),
}

impl Fault {
    /// `success:false` with that error code and message.
    pub fn api(code: &str, message: &str) -> Self {
        Fault::Success(false, code.into(), message.into())
    }

    pub fn status(status: u16, body: &str) -> Self {
        Fault::Status(status, body.into())
    }

    /// 500 with a non-JSON HTML body.
    pub fn server_error() -> Self {
        Fault::status(500, "<html>Internal Server Error</html>")
    }

    /// 429 `{"detail":"Rate limit exceeded: 50/50 requests today"}`.
    pub fn rate_limited() -> Self {
        Fault::status(
            429,
            r#"{"detail":"Rate limit exceeded: 50/50 requests today"}"#,
        )
    }

    /// 403 `{"detail":MESSAGE}`.
    pub fn forbidden(message: &str) -> Self {
        Fault::Status(403, json!({ "detail": message }).to_string())
    }

    /// `{"detail":MESSAGE}` with that status (the v1 error form).
    pub fn detail(status: u16, message: &str) -> Self {
        Fault::Status(status, json!({ "detail": message }).to_string())
    }
}

/// Which requests a queued fault applies to. Each variant covers the route of both
/// generations (e.g. `Detail` is `/api/enedis/*/detail/…` and `/*_load_curve/…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOn {
    /// Any request that reaches the fault stage, whatever its route.
    Any,
    /// `/api/pdl` (v2 only).
    Pdl,
    /// Any daily energy request.
    Daily,
    /// Daily energy requests of that series.
    DailyOf(Series),
    /// Any load-curve request.
    Detail,
    /// Load-curve requests of that series.
    DetailOf(Series),
    /// Daily max power.
    Power,
    /// The contract.
    Contract,
    /// `/valid_access/{pdl}/cache` (v1 only).
    Access,
    /// Tempo colours: `/api/tempo/days` (v2), `/rte/tempo/{start}/{end}` (v1).
    Tempo,
    /// EcoWatt: `/api/ecowatt/forecast` (v2), `/rte/ecowatt/{start}/{end}` (v1).
    Ecowatt,
    /// `/edf/tempo/price` (v1 only).
    TempoPrice,
}

/// What a request was for, whatever the generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    Pdl,
    Daily(Series),
    Detail(Series),
    Power,
    Contract,
    Access,
    Tempo,
    Ecowatt,
    TempoPrice,
}

impl RouteKind {
    /// RTE or EDF data, which belong to no meter.
    pub fn is_grid(self) -> bool {
        matches!(
            self,
            RouteKind::Tempo | RouteKind::Ecowatt | RouteKind::TempoPrice
        )
    }
}

/// One request as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// e.g. `/api/enedis/consumption/daily/12345678901234`
    pub path: String,
    /// Raw query string, without `?` (empty when none).
    pub query: String,
    /// The `Authorization` header verbatim.
    pub authorization: Option<String>,
}

impl RecordedRequest {
    /// First value of a query parameter, decoded (`application/x-www-form-urlencoded`, as
    /// reqwest's `.query()` encodes it).
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// The route of the path, when it is one the fake serves.
    pub fn route(&self) -> Option<RouteKind> {
        Route::parse(&self.path).map(|r| r.kind)
    }

    /// A v1 route (served at the root).
    pub fn is_v1(&self) -> bool {
        Route::parse(&self.path).is_some_and(|r| r.v1)
    }

    /// The PDL of the path, when the route has one.
    pub fn pdl(&self) -> Option<String> {
        Route::parse(&self.path).and_then(|r| r.pdl)
    }

    /// `start`/`end` of a range request: query parameters (v2; `start_date`/`end_date` for
    /// Tempo) or path segments (v1).
    pub fn range(&self) -> Option<(String, String)> {
        match Route::parse(&self.path) {
            Some(Route {
                v1: true, dates, ..
            }) => dates,
            Some(Route {
                kind: RouteKind::Tempo,
                ..
            }) => Some((
                self.query_param("start_date")?,
                self.query_param("end_date")?,
            )),
            _ => Some((self.query_param("start")?, self.query_param("end")?)),
        }
    }

    /// [`RecordedRequest::range`] as days, when both parse.
    pub fn day_range(&self) -> Option<(NaiveDate, NaiveDate)> {
        let (start, end) = self.range()?;
        Some((start.parse().ok()?, end.parse().ok()?))
    }

    /// Tempo colours, either generation.
    pub fn is_tempo(&self) -> bool {
        self.route() == Some(RouteKind::Tempo)
    }

    /// EcoWatt signals, either generation.
    pub fn is_ecowatt(&self) -> bool {
        self.route() == Some(RouteKind::Ecowatt)
    }

    /// v1 Tempo prices.
    pub fn is_tempo_price(&self) -> bool {
        self.route() == Some(RouteKind::TempoPrice)
    }

    /// Any RTE or EDF route (Tempo, EcoWatt, Tempo prices).
    pub fn is_grid(&self) -> bool {
        self.route().is_some_and(RouteKind::is_grid)
    }

    /// Daily energy: any v2 path with `/daily/` (served or not), or a v1 daily route.
    pub fn is_daily(&self) -> bool {
        self.path.contains("/daily/") || matches!(self.route(), Some(RouteKind::Daily(_)))
    }

    pub fn is_detail(&self) -> bool {
        matches!(self.route(), Some(RouteKind::Detail(_)))
    }

    pub fn is_power(&self) -> bool {
        self.route() == Some(RouteKind::Power)
    }

    pub fn is_contract(&self) -> bool {
        self.route() == Some(RouteKind::Contract)
    }

    pub fn is_access(&self) -> bool {
        self.route() == Some(RouteKind::Access)
    }
}

/// A PDL known to the v1 side: its token, quota and consent.
#[derive(Debug, Clone)]
struct V1Pdl {
    token: String,
    quota_limit: u32,
    consent_expiration: NaiveDateTime,
    /// Calls counted against the quota, per (fake) day.
    calls: HashMap<NaiveDate, u32>,
    last_call: Option<NaiveDateTime>,
}

impl V1Pdl {
    fn new(token: &str) -> Self {
        V1Pdl {
            token: token.to_string(),
            quota_limit: DEFAULT_V1_QUOTA,
            consent_expiration: NaiveDateTime::parse_from_str(
                DEFAULT_CONSENT_EXPIRATION,
                "%Y-%m-%dT%H:%M:%S",
            )
            .expect("a valid default"),
            calls: HashMap::new(),
            last_call: None,
        }
    }
}

struct GatewayState {
    secret: Option<String>,
    meters: Vec<FakeMeter>,
    data: HashMap<(String, Series), BTreeMap<NaiveDate, i64>>,
    /// Load-curve points grouped by the day of their interval, in the order given.
    curves: HashMap<(String, Series), BTreeMap<NaiveDate, Vec<CurvePoint>>>,
    /// Max power per day: (VA, time of the peak).
    power: HashMap<String, BTreeMap<NaiveDate, (i64, NaiveTime)>>,
    contracts: HashMap<String, FakeContract>,
    v1: BTreeMap<String, V1Pdl>,
    today: NaiveDate,
    empty_as_no_data: bool,
    faults: VecDeque<(FaultOn, Fault)>,
    requests: Vec<RecordedRequest>,
    /// Tempo colour words as set (before `tempo_case`).
    tempo: BTreeMap<NaiveDate, String>,
    tempo_case: ColorCase,
    ecowatt: BTreeMap<NaiveDate, FakeEcowattDay>,
    /// EcoWatt answers a (fake) day before 429; `None`: no limit.
    ecowatt_limit: Option<u32>,
    ecowatt_calls: HashMap<NaiveDate, u32>,
    tempo_prices: Value,
}

impl GatewayState {
    fn contract(&self, pdl: &str) -> FakeContract {
        if let Some(contract) = self.contracts.get(pdl) {
            return contract.clone();
        }
        self.meters
            .iter()
            .find(|m| m.usage_point_id == pdl)
            .map(FakeContract::from_meter)
            .unwrap_or_default()
    }
}

type Shared = Arc<Mutex<GatewayState>>;

pub struct FakeGateway {
    state: Shared,
    server: BackgroundServer,
}

impl FakeGateway {
    /// Serves on 127.0.0.1:0 from its own thread: secret `secret-123`, one meter
    /// `12345678901234` activated 2022-01-10 (v2), the same PDL with token
    /// `DEFAULT_V1_TOKEN` (v1), no data, no Tempo colour, no EcoWatt signal and no EcoWatt
    /// limit, the v1 Tempo prices of `default_v1_tempo_prices`, "today" = today in
    /// Europe/Paris.
    pub fn start() -> FakeGateway {
        let activation = NaiveDate::from_ymd_opt(2022, 1, 10);
        let state = Arc::new(Mutex::new(GatewayState {
            secret: Some(DEFAULT_SECRET.into()),
            meters: vec![FakeMeter::new(DEFAULT_PDL, activation)],
            data: HashMap::new(),
            curves: HashMap::new(),
            power: HashMap::new(),
            contracts: HashMap::new(),
            v1: BTreeMap::from([(DEFAULT_PDL.to_string(), V1Pdl::new(DEFAULT_V1_TOKEN))]),
            today: Utc::now().with_timezone(&Paris).date_naive(),
            empty_as_no_data: false,
            faults: VecDeque::new(),
            requests: Vec::new(),
            tempo: BTreeMap::new(),
            tempo_case: ColorCase::AsStored,
            ecowatt: BTreeMap::new(),
            ecowatt_limit: None,
            ecowatt_calls: HashMap::new(),
            tempo_prices: default_v1_tempo_prices(),
        }));
        let router = Router::new().fallback(handle).with_state(state.clone());
        let server = BackgroundServer::start("fake-gateway", router);
        FakeGateway { state, server }
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `http://127.0.0.1:PORT/api` (what `gateway_url` should be set to for v2).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port())
    }

    /// `http://127.0.0.1:PORT` (what `gateway_url` should be set to for v1).
    pub fn url_v1(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// The bearer secret expected (v2); `None` accepts any request.
    pub fn set_secret(&self, secret: Option<&str>) {
        self.lock().secret = secret.map(str::to_string);
    }

    pub fn secret(&self) -> Option<String> {
        self.lock().secret.clone()
    }

    /// Days `>= today` are never returned (nor load-curve intervals starting on them); the v1
    /// call counters are per "today".
    pub fn set_today(&self, today: NaiveDate) {
        self.lock().today = today;
    }

    pub fn today(&self) -> NaiveDate {
        self.lock().today
    }

    pub fn set_meters(&self, meters: Vec<FakeMeter>) {
        self.lock().meters = meters;
    }

    /// Replaces the meter list with one default meter per `(pdl, activation date)`.
    pub fn set_pdls(&self, pdls: &[(&str, Option<NaiveDate>)]) {
        self.set_meters(
            pdls.iter()
                .map(|(pdl, activation)| FakeMeter::new(pdl, *activation))
                .collect(),
        );
    }

    pub fn meters(&self) -> Vec<FakeMeter> {
        self.lock().meters.clone()
    }

    /// v2: answer a range with no data as `success:false` `NO_DATA` instead of an empty
    /// `interval_reading` (daily, load curve, max power).
    pub fn set_empty_as_no_data(&self, on: bool) {
        self.lock().empty_as_no_data = on;
    }

    /// Sets `wh = f(day)` for every day of `from..=to_inclusive`.
    pub fn fill(
        &self,
        pdl: &str,
        series: Series,
        from: NaiveDate,
        to_inclusive: NaiveDate,
        f: impl Fn(NaiveDate) -> i64,
    ) {
        let mut state = self.lock();
        let days = state.data.entry((pdl.to_string(), series)).or_default();
        for day in from.iter_days().take_while(|d| *d <= to_inclusive) {
            days.insert(day, f(day));
        }
    }

    pub fn set_day(&self, pdl: &str, series: Series, day: NaiveDate, wh: i64) {
        self.lock()
            .data
            .entry((pdl.to_string(), series))
            .or_default()
            .insert(day, wh);
    }

    pub fn remove_day(&self, pdl: &str, series: Series, day: NaiveDate) {
        if let Some(days) = self.lock().data.get_mut(&(pdl.to_string(), series)) {
            days.remove(&day);
        }
    }

    /// Forgets every series: daily energy, load curves and max power (not the contracts).
    pub fn clear_data(&self) {
        let mut state = self.lock();
        state.data.clear();
        state.curves.clear();
        state.power.clear();
    }

    pub fn data(&self, pdl: &str, series: Series) -> BTreeMap<NaiveDate, i64> {
        self.lock()
            .data
            .get(&(pdl.to_string(), series))
            .cloned()
            .unwrap_or_default()
    }

    /// Replaces the whole load curve of `(pdl, series)` with these `(naive end, W, interval
    /// minutes)` points, kept in the order given (an autumn day's repeated naive times must
    /// come in time order).
    pub fn set_curve(&self, pdl: &str, series: Series, points: &[(NaiveDateTime, i64, u32)]) {
        let mut days: BTreeMap<NaiveDate, Vec<CurvePoint>> = BTreeMap::new();
        for &(end, watts, interval_minutes) in points {
            let point = CurvePoint {
                end,
                watts,
                interval_minutes,
            };
            days.entry(point.interval_day()).or_default().push(point);
        }
        self.lock().curves.insert((pdl.to_string(), series), days);
    }

    /// Regular half-hourly curve for every day of `from..=to_inclusive` (DST days as
    /// `paris_curve_slots` says), `W = f(naive end)` (on the autumn day `f` sees 02:30 and 03:00
    /// twice). Replaces those days, keeps the others.
    pub fn fill_curve(
        &self,
        pdl: &str,
        series: Series,
        from: NaiveDate,
        to_inclusive: NaiveDate,
        f: impl Fn(NaiveDateTime) -> i64,
    ) {
        self.fill_curve_slots(pdl, series, from, to_inclusive, 30, |slot| f(slot.end));
    }

    /// Like `fill_curve` with any interval, `W = f(slot)`: `slot.start` tells the two autumn
    /// 02:30 apart.
    pub fn fill_curve_slots(
        &self,
        pdl: &str,
        series: Series,
        from: NaiveDate,
        to_inclusive: NaiveDate,
        interval_minutes: u32,
        f: impl Fn(&CurveSlot) -> i64,
    ) {
        let mut state = self.lock();
        let days = state.curves.entry((pdl.to_string(), series)).or_default();
        for day in from.iter_days().take_while(|d| *d <= to_inclusive) {
            let points = paris_curve_slots(day, interval_minutes)
                .iter()
                .map(|slot| CurvePoint {
                    end: slot.end,
                    watts: f(slot),
                    interval_minutes,
                })
                .collect();
            days.insert(day, points);
        }
    }

    /// Every load-curve point of `(pdl, series)`, in order.
    pub fn curve(&self, pdl: &str, series: Series) -> Vec<CurvePoint> {
        self.lock()
            .curves
            .get(&(pdl.to_string(), series))
            .map(|days| days.values().flatten().copied().collect())
            .unwrap_or_default()
    }

    /// The maximum power of `day`: `va` at `at` (served as `"YYYY-MM-DD HH:MM:SS"`).
    pub fn set_max_power(&self, pdl: &str, day: NaiveDate, va: i64, at: NaiveTime) {
        self.lock()
            .power
            .entry(pdl.to_string())
            .or_default()
            .insert(day, (va, at));
    }

    /// `(va, at) = f(day)` for every day of `from..=to_inclusive`.
    pub fn fill_max_power(
        &self,
        pdl: &str,
        from: NaiveDate,
        to_inclusive: NaiveDate,
        f: impl Fn(NaiveDate) -> (i64, NaiveTime),
    ) {
        let mut state = self.lock();
        let days = state.power.entry(pdl.to_string()).or_default();
        for day in from.iter_days().take_while(|d| *d <= to_inclusive) {
            days.insert(day, f(day));
        }
    }

    pub fn max_power(&self, pdl: &str) -> BTreeMap<NaiveDate, (i64, NaiveTime)> {
        self.lock().power.get(pdl).cloned().unwrap_or_default()
    }

    pub fn set_contract(&self, pdl: &str, contract: FakeContract) {
        self.lock().contracts.insert(pdl.to_string(), contract);
    }

    /// The contract served for `pdl` (set, or built from its meter row, or the default).
    pub fn contract(&self, pdl: &str) -> FakeContract {
        self.lock().contract(pdl)
    }

    /// v1: `pdl` is served to `token` (a token may serve several PDLs). Keeps the PDL's quota,
    /// consent and counters if it was known.
    pub fn set_v1_token(&self, pdl: &str, token: &str) {
        self.lock()
            .v1
            .entry(pdl.to_string())
            .and_modify(|p| p.token = token.to_string())
            .or_insert_with(|| V1Pdl::new(token));
    }

    pub fn v1_token(&self, pdl: &str) -> Option<String> {
        self.lock().v1.get(pdl).map(|p| p.token.clone())
    }

    /// v1: the PDL is served to no token any more (every call for it gets 403).
    pub fn remove_v1_pdl(&self, pdl: &str) {
        self.lock().v1.remove(pdl);
    }

    /// v1: counted calls a day before 409 (`DEFAULT_V1_QUOTA` unless set). Panics for a PDL
    /// without a token.
    pub fn set_v1_quota_limit(&self, pdl: &str, limit: u32) {
        self.with_v1(pdl, |p| p.quota_limit = limit);
    }

    /// v1: `consent_expiration_date` of `/valid_access`.
    pub fn set_v1_consent_expiration(&self, pdl: &str, at: NaiveDateTime) {
        self.with_v1(pdl, |p| p.consent_expiration = at);
    }

    /// v1: pretends `calls` calls were already counted "today" for `pdl`.
    pub fn set_v1_call_number(&self, pdl: &str, calls: u32) {
        let today = self.today();
        self.with_v1(pdl, |p| {
            p.calls.insert(today, calls);
        });
    }

    /// v1: calls counted "today" for `pdl` (data routes that got their normal answer; not
    /// `/valid_access`, not rejected, faulted or over-quota calls).
    pub fn v1_call_number(&self, pdl: &str) -> u32 {
        let state = self.lock();
        state
            .v1
            .get(pdl)
            .and_then(|p| p.calls.get(&state.today).copied())
            .unwrap_or(0)
    }

    fn with_v1(&self, pdl: &str, f: impl FnOnce(&mut V1Pdl)) {
        let mut state = self.lock();
        let entry = state
            .v1
            .get_mut(pdl)
            .unwrap_or_else(|| panic!("{pdl} has no v1 token: call set_v1_token first"));
        f(entry);
    }

    /// The colour of `day` (served as `BLUE`, `WHITE`, `RED`, in the `set_tempo_case` case).
    pub fn set_tempo(&self, day: NaiveDate, color: RteColor) {
        self.lock().tempo.insert(day, color.as_rte().to_string());
    }

    /// Serves `word` as the colour of `day` (e.g. `Bleu`, `TBD`).
    pub fn set_tempo_text(&self, day: NaiveDate, word: &str) {
        self.lock().tempo.insert(day, word.to_string());
    }

    /// `color = f(day)` for every day of `from..=to_inclusive`.
    pub fn fill_tempo(
        &self,
        from: NaiveDate,
        to_inclusive: NaiveDate,
        f: impl Fn(NaiveDate) -> RteColor,
    ) {
        let mut state = self.lock();
        for day in from.iter_days().take_while(|d| *d <= to_inclusive) {
            state.tempo.insert(day, f(day).as_rte().to_string());
        }
    }

    /// `day` has no colour any more (RTE has not decided it).
    pub fn remove_tempo(&self, day: NaiveDate) {
        self.lock().tempo.remove(&day);
    }

    pub fn clear_tempo(&self) {
        self.lock().tempo.clear();
    }

    /// The colour words set, before the case is applied.
    pub fn tempo_days(&self) -> BTreeMap<NaiveDate, String> {
        self.lock().tempo.clone()
    }

    /// How colour words are written on both generations' Tempo routes.
    pub fn set_tempo_case(&self, case: ColorCase) {
        self.lock().tempo_case = case;
    }

    /// The EcoWatt signal of `day`.
    pub fn set_ecowatt(&self, day: NaiveDate, signal: FakeEcowattDay) {
        self.lock().ecowatt.insert(day, signal);
    }

    pub fn remove_ecowatt(&self, day: NaiveDate) {
        self.lock().ecowatt.remove(&day);
    }

    pub fn clear_ecowatt(&self) {
        self.lock().ecowatt.clear();
    }

    pub fn ecowatt_days(&self) -> BTreeMap<NaiveDate, FakeEcowattDay> {
        self.lock().ecowatt.clone()
    }

    /// EcoWatt answers (both generations, counted per fake "today") before 429
    /// `{"detail":"Rate limit exceeded: N/N requests today"}`; `None` (the default): no limit.
    pub fn set_ecowatt_daily_limit(&self, limit: Option<u32>) {
        self.lock().ecowatt_limit = limit;
    }

    /// EcoWatt requests answered normally "today" (not faulted, not refused).
    pub fn ecowatt_call_number(&self) -> u32 {
        let state = self.lock();
        state.ecowatt_calls.get(&state.today).copied().unwrap_or(0)
    }

    /// Pretends `calls` EcoWatt answers were already given "today".
    pub fn set_ecowatt_call_number(&self, calls: u32) {
        let mut state = self.lock();
        let today = state.today;
        state.ecowatt_calls.insert(today, calls);
    }

    /// The body of v1 `/edf/tempo/price`, verbatim.
    pub fn set_v1_tempo_prices(&self, body: Value) {
        self.lock().tempo_prices = body;
    }

    pub fn v1_tempo_prices(&self) -> Value {
        self.lock().tempo_prices.clone()
    }

    /// Queues a fault for the next request, whatever its route.
    pub fn push_fault(&self, fault: Fault) {
        self.push_fault_on(FaultOn::Any, fault);
    }

    pub fn push_fault_on(&self, on: FaultOn, fault: Fault) {
        self.lock().faults.push_back((on, fault));
    }

    /// Faults not consumed yet.
    pub fn pending_faults(&self) -> usize {
        self.lock().faults.len()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    pub fn daily_requests(&self) -> Vec<RecordedRequest> {
        self.requests_where(RecordedRequest::is_daily)
    }

    pub fn detail_requests(&self) -> Vec<RecordedRequest> {
        self.requests_where(RecordedRequest::is_detail)
    }

    pub fn power_requests(&self) -> Vec<RecordedRequest> {
        self.requests_where(RecordedRequest::is_power)
    }

    pub fn contract_requests(&self) -> Vec<RecordedRequest> {
        self.requests_where(RecordedRequest::is_contract)
    }

    pub fn access_requests(&self) -> Vec<RecordedRequest> {
        self.requests_where(RecordedRequest::is_access)
    }

    /// Requests (both generations) satisfying `pred`.
    pub fn requests_where(&self, pred: impl Fn(&RecordedRequest) -> bool) -> Vec<RecordedRequest> {
        self.lock()
            .requests
            .iter()
            .filter(|r| pred(r))
            .cloned()
            .collect()
    }

    /// Tempo colour requests, both generations.
    pub fn tempo_requests(&self) -> Vec<RecordedRequest> {
        self.requests_where(RecordedRequest::is_tempo)
    }

    /// EcoWatt requests, both generations.
    pub fn ecowatt_requests(&self) -> Vec<RecordedRequest> {
        self.requests_where(RecordedRequest::is_ecowatt)
    }

    /// v1 `/edf/tempo/price` requests.
    pub fn tempo_price_requests(&self) -> Vec<RecordedRequest> {
        self.requests_where(RecordedRequest::is_tempo_price)
    }

    pub fn tempo_calls(&self) -> usize {
        self.tempo_requests().len()
    }

    pub fn ecowatt_calls(&self) -> usize {
        self.ecowatt_requests().len()
    }

    pub fn tempo_price_calls(&self) -> usize {
        self.tempo_price_requests().len()
    }

    /// Requests of any RTE or EDF route.
    pub fn grid_calls(&self) -> usize {
        self.requests_where(RecordedRequest::is_grid).len()
    }

    pub fn daily_calls(&self) -> usize {
        self.lock().requests.iter().filter(|r| r.is_daily()).count()
    }

    pub fn detail_calls(&self) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.is_detail())
            .count()
    }

    pub fn power_calls(&self) -> usize {
        self.lock().requests.iter().filter(|r| r.is_power()).count()
    }

    pub fn contract_calls(&self) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.is_contract())
            .count()
    }

    /// v1 `/valid_access` calls.
    pub fn access_calls(&self) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.is_access())
            .count()
    }

    pub fn pdl_calls(&self) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.path == "/api/pdl")
            .count()
    }

    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GatewayState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A served route.
struct Route {
    kind: RouteKind,
    pdl: Option<String>,
    /// Served at the root (v1) rather than under `/api` (v2).
    v1: bool,
    /// v1 range routes: the `start`/`end` path segments.
    dates: Option<(String, String)>,
}

impl Route {
    fn parse(path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let v2 = |kind, pdl: &str| {
            (!pdl.is_empty()).then(|| Route {
                kind,
                pdl: Some(pdl.to_string()),
                v1: false,
                dates: None,
            })
        };
        let v1 = |kind, pdl: &str, dates: Option<(&str, &str)>| {
            (!pdl.is_empty()).then(|| Route {
                kind,
                pdl: Some(pdl.to_string()),
                v1: true,
                dates: dates.map(|(s, e)| (s.to_string(), e.to_string())),
            })
        };
        let grid = |kind, v1: bool, dates: Option<(&str, &str)>| {
            Some(Route {
                kind,
                pdl: None,
                v1,
                dates: dates.map(|(s, e)| (s.to_string(), e.to_string())),
            })
        };
        match segments.as_slice() {
            ["api", "tempo", "days"] => grid(RouteKind::Tempo, false, None),
            ["api", "ecowatt", "forecast"] => grid(RouteKind::Ecowatt, false, None),
            ["rte", "tempo", start, end] => grid(RouteKind::Tempo, true, Some((start, end))),
            ["rte", "ecowatt", start, end] => grid(RouteKind::Ecowatt, true, Some((start, end))),
            ["edf", "tempo", "price"] => grid(RouteKind::TempoPrice, true, None),
            ["api", "pdl"] => Some(Route {
                kind: RouteKind::Pdl,
                pdl: None,
                v1: false,
                dates: None,
            }),
            ["api", "enedis", "power", pdl] => v2(RouteKind::Power, pdl),
            ["api", "enedis", "contract", pdl] => v2(RouteKind::Contract, pdl),
            ["api", "enedis", series, "daily", pdl] => {
                v2(RouteKind::Daily(Series::parse(series)?), pdl)
            }
            ["api", "enedis", series, "detail", pdl] => {
                v2(RouteKind::Detail(Series::parse(series)?), pdl)
            }
            ["valid_access", pdl, "cache"] => v1(RouteKind::Access, pdl, None),
            ["contracts", pdl, "cache"] => v1(RouteKind::Contract, pdl, None),
            [route, pdl, "start", start, "end", end, "cache", ""] => {
                let kind = match *route {
                    "daily_consumption" => RouteKind::Daily(Series::Consumption),
                    "daily_production" => RouteKind::Daily(Series::Production),
                    "daily_consumption_max_power" => RouteKind::Power,
                    "consumption_load_curve" => RouteKind::Detail(Series::Consumption),
                    "production_load_curve" => RouteKind::Detail(Series::Production),
                    _ => return None,
                };
                v1(kind, pdl, Some((start, end)))
            }
            _ => None,
        }
    }

    fn matches(&self, on: FaultOn) -> bool {
        match (on, self.kind) {
            (FaultOn::Any, _)
            | (FaultOn::Pdl, RouteKind::Pdl)
            | (FaultOn::Daily, RouteKind::Daily(_))
            | (FaultOn::Detail, RouteKind::Detail(_))
            | (FaultOn::Power, RouteKind::Power)
            | (FaultOn::Contract, RouteKind::Contract)
            | (FaultOn::Access, RouteKind::Access)
            | (FaultOn::Tempo, RouteKind::Tempo)
            | (FaultOn::Ecowatt, RouteKind::Ecowatt)
            | (FaultOn::TempoPrice, RouteKind::TempoPrice) => true,
            (FaultOn::DailyOf(wanted), RouteKind::Daily(series))
            | (FaultOn::DetailOf(wanted), RouteKind::Detail(series)) => wanted == series,
            _ => false,
        }
    }
}

fn timestamp() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn detail(status: StatusCode, message: &str) -> Response {
    json_response(status, json!({ "detail": message }))
}

fn envelope_error(code: &str, message: &str, success: bool) -> Response {
    json_response(
        StatusCode::OK,
        json!({
            "success": success,
            "data": null,
            "error": { "code": code, "message": message, "field": null },
            "timestamp": timestamp(),
        }),
    )
}

fn envelope_ok(data: Value) -> Response {
    json_response(
        StatusCode::OK,
        json!({
            "success": true,
            "data": data,
            "error": null,
            "timestamp": timestamp(),
        }),
    )
}

fn raw_response(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = if serde_json::from_str::<Value>(&body).is_ok() {
        "application/json"
    } else {
        "text/html; charset=utf-8"
    };
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn unauthorized(message: &str) -> Response {
    let mut response = detail(StatusCode::UNAUTHORIZED, message);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

const V1_BAD_PDL: &str = "Votre point de livraison doit être composé de 14 chiffres uniquement";
const V1_WRONG_TOKEN: &str = "Le point de livraison ne correspond au token fournis.";

fn v1_quota_message(limit: u32) -> String {
    format!("Vous avez dépassé votre quota journalier ({limit})")
}

/// The credential check of a route: `Some(response)` refuses the request.
fn check_credentials(
    s: &GatewayState,
    route: &Route,
    authorization: Option<&str>,
) -> Option<Response> {
    // RTE/EDF data: public, except v2 EcoWatt (bearer secret like the Enedis routes).
    if route.kind.is_grid() && (route.v1 || route.kind == RouteKind::Tempo) {
        return None;
    }
    if route.v1 {
        let pdl = route.pdl.as_deref().unwrap_or_default();
        if pdl.len() != 14 || !pdl.bytes().all(|b| b.is_ascii_digit()) {
            return Some(detail(StatusCode::BAD_REQUEST, V1_BAD_PDL));
        }
        let Some(given) = authorization else {
            return Some(detail(StatusCode::FORBIDDEN, "Not authenticated"));
        };
        let matches = s.v1.get(pdl).is_some_and(|p| p.token == given);
        return (!matches).then(|| detail(StatusCode::FORBIDDEN, V1_WRONG_TOKEN));
    }
    let secret = s.secret.as_ref()?;
    match authorization {
        None => Some(unauthorized("Not authenticated")),
        Some(value) => {
            let token = value
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim());
            (token != Some(secret.as_str()))
                .then(|| unauthorized("Invalid authentication credentials"))
        }
    }
}

async fn handle(State(state): State<Shared>, request: Request) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let headers: HeaderMap = request.headers().clone();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let route = Route::parse(uri.path());

    // Record, check route, method and credentials, take a fault: one lock, released before
    // any sleep.
    let fault = {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        s.requests.push(RecordedRequest {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().unwrap_or("").to_string(),
            authorization: authorization.clone(),
        });
        let Some(route) = &route else {
            return detail(StatusCode::NOT_FOUND, "Not Found");
        };
        if method != Method::GET {
            return detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        }
        if let Some(refusal) = check_credentials(&s, route, authorization.as_deref()) {
            return refusal;
        }
        let index = s.faults.iter().position(|(on, _)| route.matches(*on));
        index
            .and_then(|i| s.faults.remove(i))
            .map(|(_, fault)| fault)
    };
    match fault {
        Some(Fault::Success(success, code, message)) => {
            return envelope_error(&code, &message, success);
        }
        Some(Fault::Status(status, body)) => return raw_response(status, body),
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        None => {}
    }

    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    let route = route.expect("checked above");
    if route.kind.is_grid() {
        return grid_answer(&mut s, &route, &uri);
    }
    if route.v1 {
        return v1_answer(&mut s, &route);
    }
    if route.kind == RouteKind::Pdl {
        return envelope_ok(json!(
            s.meters.iter().map(FakeMeter::to_json).collect::<Vec<_>>()
        ));
    }
    let pdl = route.pdl.clone().unwrap_or_default();
    if !s.meters.iter().any(|m| m.usage_point_id == pdl) {
        return detail(StatusCode::FORBIDDEN, "Access denied to this PDL");
    }
    if route.kind == RouteKind::Contract {
        return envelope_ok(s.contract(&pdl).to_json(&pdl));
    }
    let params: HashMap<String, String> = Query::try_from_uri(&uri)
        .map(|Query(p)| p)
        .unwrap_or_default();
    let (start, end) = match parse_range(params.get("start"), params.get("end")) {
        Ok(range) => range,
        Err(response) => return response,
    };
    let max_days = match route.kind {
        RouteKind::Detail(_) => MAX_DETAIL_DAYS,
        _ => MAX_DAILY_DAYS,
    };
    if let Some(message) = range_error(start, end, max_days) {
        return envelope_error("INVALID_DATE_RANGE", &message, false);
    }
    let reading = meter_reading(&s, route.kind, &pdl, start, end);
    let empty = reading["interval_reading"]
        .as_array()
        .is_none_or(Vec::is_empty);
    if empty && s.empty_as_no_data {
        return envelope_error("NO_DATA", "No data available for this period", false);
    }
    envelope_ok(json!({ "meter_reading": reading }))
}

/// The normal answer of a v1 route (credentials and faults already passed).
fn v1_answer(s: &mut GatewayState, route: &Route) -> Response {
    let pdl = route.pdl.clone().unwrap_or_default();
    let today = s.today;
    let access = s.v1.get(&pdl).cloned().expect("the token check passed");
    let calls = access.calls.get(&today).copied().unwrap_or(0);
    let quota_reached = calls >= access.quota_limit;
    if route.kind == RouteKind::Access {
        let mut body = json!({
            "valid": !quota_reached,
            "consent_expiration_date":
                access.consent_expiration.format("%Y-%m-%dT%H:%M:%S").to_string(),
            "call_number": calls,
            "quota_reached": quota_reached,
            "quota_limit": access.quota_limit,
            "quota_reset_at": format!("{today}T23:59:59.999999"),
            "last_call": access
                .last_call
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()),
            "ban": false,
        });
        if quota_reached {
            body["information"] = json!(v1_quota_message(access.quota_limit));
        }
        return json_response(StatusCode::OK, body);
    }
    if quota_reached {
        return detail(StatusCode::CONFLICT, &v1_quota_message(access.quota_limit));
    }
    let body = if route.kind == RouteKind::Contract {
        s.contract(&pdl).to_json(&pdl)
    } else {
        let (start, end) = route.dates.clone().unwrap_or_default();
        let (start, end) = match parse_range(Some(&start), Some(&end)) {
            Ok(range) => range,
            Err(response) => return response,
        };
        let max_days = match route.kind {
            RouteKind::Detail(_) => MAX_DETAIL_DAYS,
            _ => MAX_DAILY_DAYS,
        };
        if let Some(message) = range_error(start, end, max_days) {
            return detail(StatusCode::BAD_REQUEST, &message);
        }
        json!({ "meter_reading": meter_reading(s, route.kind, &pdl, start, end) })
    };
    let entry = s.v1.get_mut(&pdl).expect("checked above");
    *entry.calls.entry(today).or_default() += 1;
    entry.last_call = Some(Utc::now().with_timezone(&Paris).naive_local());
    json_response(StatusCode::OK, body)
}

/// The normal answer of an RTE/EDF route (credentials and faults already passed).
fn grid_answer(s: &mut GatewayState, route: &Route, uri: &axum::http::Uri) -> Response {
    let params: HashMap<String, String> = Query::try_from_uri(uri)
        .map(|Query(p)| p)
        .unwrap_or_default();
    let bad_range = |message: &str| match route.v1 {
        true => detail(StatusCode::BAD_REQUEST, message),
        false => envelope_error("INVALID_DATE_RANGE", message, false),
    };
    // Only read by the routes that take a range (Tempo; v1 EcoWatt).
    let range = match route.v1 {
        true => {
            let (start, end) = route.dates.clone().unwrap_or_default();
            parse_named_range(("start", Some(&start)), ("end", Some(&end)))
        }
        false => parse_named_range(
            ("start_date", params.get("start_date")),
            ("end_date", params.get("end_date")),
        ),
    };
    match route.kind {
        RouteKind::Tempo => {
            let (start, end) = match range {
                Ok(range) => range,
                Err(response) => return response,
            };
            if start >= end {
                return bad_range("Start date must be before end date");
            }
            let case = s.tempo_case;
            let days = s.tempo.range(start..end).map(|(d, w)| (*d, case.apply(w)));
            if route.v1 {
                let body: serde_json::Map<String, Value> =
                    days.map(|(d, w)| (d.to_string(), json!(w))).collect();
                return json_response(StatusCode::OK, Value::Object(body));
            }
            let stamp = timestamp();
            envelope_ok(json!(
                days.map(|(d, w)| json!({
                    "date": d.to_string(),
                    "color": w,
                    "updated_at": stamp,
                    "rte_updated_date": format!("{}T10:30:00{}", sub_day(d), paris_offset_at_midnight(d)),
                }))
                .collect::<Vec<_>>()
            ))
        }
        RouteKind::Ecowatt => {
            let today = s.today;
            let (start, end) = if route.v1 {
                match range {
                    Ok(range) => range,
                    Err(response) => return response,
                }
            } else {
                let days = match params.get("days") {
                    None => 4,
                    Some(text) => match text.parse::<u64>() {
                        Ok(n @ 1..=7) => n,
                        _ => {
                            return json_response(
                                StatusCode::UNPROCESSABLE_ENTITY,
                                json!({"detail": [{
                                    "type": "less_than_equal",
                                    "loc": ["query", "days"],
                                    "msg": "Input should be between 1 and 7",
                                    "input": text,
                                }]}),
                            );
                        }
                    },
                };
                (today, today + chrono::Days::new(days))
            };
            if start >= end {
                return bad_range("Start date must be before end date");
            }
            let calls = s.ecowatt_calls.get(&today).copied().unwrap_or(0);
            if let Some(limit) = s.ecowatt_limit.filter(|limit| calls >= *limit) {
                return detail(
                    StatusCode::TOO_MANY_REQUESTS,
                    &format!("Rate limit exceeded: {limit}/{limit} requests today"),
                );
            }
            *s.ecowatt_calls.entry(today).or_default() += 1;
            let days = s.ecowatt.range(start..end);
            if route.v1 {
                let body: serde_json::Map<String, Value> = days
                    .map(|(d, e)| (d.to_string(), e.to_v1_json(*d)))
                    .collect();
                return json_response(StatusCode::OK, Value::Object(body));
            }
            json_response(
                StatusCode::OK,
                json!(
                    days.map(|(d, e)| e.to_v2_json(*d, today))
                        .collect::<Vec<_>>()
                ),
            )
        }
        RouteKind::TempoPrice => json_response(StatusCode::OK, s.tempo_prices.clone()),
        _ => unreachable!("not an RTE/EDF route"),
    }
}

fn sub_day(day: NaiveDate) -> NaiveDate {
    day.pred_opt().unwrap_or(day)
}

/// `start`/`end` as days, or FastAPI's 422 naming the bad ones.
#[allow(clippy::result_large_err)]
fn parse_range(
    start: Option<&String>,
    end: Option<&String>,
) -> Result<(NaiveDate, NaiveDate), Response> {
    parse_named_range(("start", start), ("end", end))
}

/// Two days from query parameters (or path segments) named as given, or FastAPI's 422.
#[allow(clippy::result_large_err)]
fn parse_named_range(
    (start_name, start): (&str, Option<&String>),
    (end_name, end): (&str, Option<&String>),
) -> Result<(NaiveDate, NaiveDate), Response> {
    let mut problems = Vec::new();
    let mut day = |name: &str, value: Option<&String>| {
        let parsed = value.and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok());
        if parsed.is_none() {
            problems.push(json!({
                "type": if value.is_some() { "date_from_datetime_parsing" } else { "missing" },
                "loc": ["query", name],
                "msg": if value.is_some() { "Input should be a valid date" } else { "Field required" },
                "input": value,
            }));
        }
        parsed
    };
    let (start, end) = (day(start_name, start), day(end_name, end));
    match (start, end) {
        (Some(start), Some(end)) => Ok((start, end)),
        _ => Err(json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "detail": problems }),
        )),
    }
}

/// Why `[start, end)` is not a valid range of at most `max_days` days.
fn range_error(start: NaiveDate, end: NaiveDate, max_days: i64) -> Option<String> {
    if start >= end {
        return Some("Start date must be before end date".into());
    }
    ((end - start).num_days() > max_days)
        .then(|| format!("Date range cannot exceed {max_days} days"))
}

/// The `meter_reading` of a daily, load-curve or max-power route for `[start, end)`, nothing
/// from `today` on.
fn meter_reading(
    s: &GatewayState,
    kind: RouteKind,
    pdl: &str,
    start: NaiveDate,
    end: NaiveDate,
) -> Value {
    let days = start..end.min(s.today).max(start);
    let (reading_type, readings): (Value, Vec<Value>) = match kind {
        RouteKind::Daily(series) => (
            json!({
                "measurement_kind": "energy",
                "measuring_period": "P1D",
                "unit": "Wh",
                "aggregate": "sum",
            }),
            s.data
                .get(&(pdl.to_string(), series))
                .map(|data| {
                    data.range(days)
                        .map(|(date, wh)| json!({ "value": wh.to_string(), "date": date.to_string() }))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        RouteKind::Detail(series) => (
            json!({ "measurement_kind": "power", "unit": "W", "aggregate": "average" }),
            s.curves
                .get(&(pdl.to_string(), series))
                .map(|data| {
                    data.range(days)
                        .flat_map(|(_, points)| points.iter().map(|p| p.to_json()))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        RouteKind::Power => (
            json!({
                "measurement_kind": "power",
                "measuring_period": "P1D",
                "unit": "VA",
                "aggregate": "maximum",
            }),
            s.power
                .get(pdl)
                .map(|data| {
                    data.range(days)
                        .map(|(date, (va, at))| {
                            json!({
                                "value": va.to_string(),
                                "date": date.and_time(*at).format("%Y-%m-%d %H:%M:%S").to_string(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        RouteKind::Pdl
        | RouteKind::Contract
        | RouteKind::Access
        | RouteKind::Tempo
        | RouteKind::Ecowatt
        | RouteKind::TempoPrice => {
            unreachable!("not a range route")
        }
    };
    json!({
        "usage_point_id": pdl,
        "start": start.to_string(),
        "end": end.to_string(),
        "quality": "BRUT",
        "reading_type": reading_type,
        "interval_reading": readings,
    })
}
