//! The MyElectricalData v2 gateway API, faked: `GET /api/pdl` and
//! `GET /api/enedis/{consumption|production}/daily/{pdl}?start&end&use_cache=true`.
//!
//! Order of checks for every request: recorded → route (404 `{"detail":"Not Found"}`) →
//! method (405) → bearer secret (401) → next matching queued fault → normal answer.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use serde_json::{Value, json};

use super::http::BackgroundServer;

pub const DEFAULT_SECRET: &str = "secret-123";
pub const DEFAULT_PDL: &str = "12345678901234";

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

/// An injected failure, consumed by the next matching request (FIFO).
#[derive(Debug, Clone)]
pub enum Fault {
    /// HTTP 200 with `{"success":BOOL,"data":null,"error":{"code":CODE,"message":MSG,
    /// "field":null},"timestamp":…}` (normally `false`; `true` gives the malformed
    /// "success without data" envelope).
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
}

/// Which requests a queued fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOn {
    /// `/pdl` or any daily request.
    Any,
    Pdl,
    /// Any daily request.
    Daily,
    /// Daily requests of that series.
    DailyOf(Series),
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
    /// First value of a query parameter (not percent-decoded: dates and flags need none).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then(|| value.to_string())
        })
    }

    pub fn is_daily(&self) -> bool {
        self.path.contains("/daily/")
    }
}

struct GatewayState {
    secret: Option<String>,
    meters: Vec<FakeMeter>,
    data: HashMap<(String, Series), BTreeMap<NaiveDate, i64>>,
    today: NaiveDate,
    empty_as_no_data: bool,
    faults: VecDeque<(FaultOn, Fault)>,
    requests: Vec<RecordedRequest>,
}

type Shared = Arc<Mutex<GatewayState>>;

pub struct FakeGateway {
    state: Shared,
    server: BackgroundServer,
}

impl FakeGateway {
    /// Serves on 127.0.0.1:0 from its own thread: secret `secret-123`, one meter
    /// `12345678901234` activated 2022-01-10, no data, "today" = today in Europe/Paris.
    pub fn start() -> FakeGateway {
        let activation = NaiveDate::from_ymd_opt(2022, 1, 10);
        let state = Arc::new(Mutex::new(GatewayState {
            secret: Some(DEFAULT_SECRET.into()),
            meters: vec![FakeMeter::new(DEFAULT_PDL, activation)],
            data: HashMap::new(),
            today: Utc::now()
                .with_timezone(&chrono_tz::Europe::Paris)
                .date_naive(),
            empty_as_no_data: false,
            faults: VecDeque::new(),
            requests: Vec::new(),
        }));
        let router = Router::new().fallback(handle).with_state(state.clone());
        let server = BackgroundServer::start("fake-gateway", router);
        FakeGateway { state, server }
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `http://127.0.0.1:PORT/api` (what `gateway_url` should be set to).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port())
    }

    /// The bearer secret expected; `None` accepts any request.
    pub fn set_secret(&self, secret: Option<&str>) {
        self.lock().secret = secret.map(str::to_string);
    }

    pub fn secret(&self) -> Option<String> {
        self.lock().secret.clone()
    }

    /// Days `>= today` are never returned.
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

    /// Answer a daily range with no days as `success:false` `NO_DATA` instead of an empty
    /// `interval_reading`.
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

    pub fn clear_data(&self) {
        self.lock().data.clear();
    }

    pub fn data(&self, pdl: &str, series: Series) -> BTreeMap<NaiveDate, i64> {
        self.lock()
            .data
            .get(&(pdl.to_string(), series))
            .cloned()
            .unwrap_or_default()
    }

    /// Queues a fault for the next `/pdl` or daily request.
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
        self.requests()
            .into_iter()
            .filter(|r| r.is_daily())
            .collect()
    }

    pub fn daily_calls(&self) -> usize {
        self.lock().requests.iter().filter(|r| r.is_daily()).count()
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

enum Route {
    Pdl,
    Daily(Series, String),
}

impl Route {
    fn parse(path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segments.as_slice() {
            ["api", "pdl"] => Some(Route::Pdl),
            ["api", "enedis", series, "daily", pdl] if !pdl.is_empty() => {
                let series = match *series {
                    "consumption" => Series::Consumption,
                    "production" => Series::Production,
                    _ => return None,
                };
                Some(Route::Daily(series, pdl.to_string()))
            }
            _ => None,
        }
    }

    fn matches(&self, on: FaultOn) -> bool {
        match (on, self) {
            (FaultOn::Any, _) | (FaultOn::Pdl, Route::Pdl) | (FaultOn::Daily, Route::Daily(..)) => {
                true
            }
            (FaultOn::DailyOf(wanted), Route::Daily(series, _)) => wanted == *series,
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

async fn handle(State(state): State<Shared>, request: Request) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let headers: HeaderMap = request.headers().clone();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let route = Route::parse(uri.path());

    // Record, check route, method and secret, take a fault: one lock, released before any
    // sleep.
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
        if let Some(secret) = &s.secret {
            match authorization.as_deref() {
                None => return unauthorized("Not authenticated"),
                Some(value) => {
                    let token = value
                        .split_once(' ')
                        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                        .map(|(_, token)| token.trim());
                    if token != Some(secret.as_str()) {
                        return unauthorized("Invalid authentication credentials");
                    }
                }
            }
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

    let s = state.lock().unwrap_or_else(|e| e.into_inner());
    match route.expect("checked above") {
        Route::Pdl => json_response(
            StatusCode::OK,
            json!({
                "success": true,
                "data": s.meters.iter().map(FakeMeter::to_json).collect::<Vec<_>>(),
                "error": null,
                "timestamp": timestamp(),
            }),
        ),
        Route::Daily(series, pdl) => daily(&s, series, &pdl, &uri),
    }
}

fn daily(s: &GatewayState, series: Series, pdl: &str, uri: &axum::http::Uri) -> Response {
    if !s.meters.iter().any(|m| m.usage_point_id == pdl) {
        return detail(StatusCode::FORBIDDEN, "Access denied to this PDL");
    }
    let params: HashMap<String, String> = Query::try_from_uri(uri)
        .map(|Query(p)| p)
        .unwrap_or_default();
    let mut missing = Vec::new();
    let mut day = |name: &str| {
        let value = params.get(name);
        let parsed = value.and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok());
        if parsed.is_none() {
            missing.push(json!({
                "type": if value.is_some() { "date_from_datetime_parsing" } else { "missing" },
                "loc": ["query", name],
                "msg": if value.is_some() { "Input should be a valid date" } else { "Field required" },
                "input": value,
            }));
        }
        parsed
    };
    let (start, end) = (day("start"), day("end"));
    let (Some(start), Some(end)) = (start, end) else {
        return json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "detail": missing }),
        );
    };
    if start >= end {
        return envelope_error(
            "INVALID_DATE_RANGE",
            "Start date must be before end date",
            false,
        );
    }
    if (end - start).num_days() > 365 {
        return envelope_error(
            "INVALID_DATE_RANGE",
            "Date range cannot exceed 365 days",
            false,
        );
    }
    let capped_end = end.min(s.today);
    let readings: Vec<Value> = s
        .data
        .get(&(pdl.to_string(), series))
        .map(|days| {
            days.range(start..capped_end.max(start))
                .map(|(date, wh)| json!({ "value": wh.to_string(), "date": date.to_string() }))
                .collect()
        })
        .unwrap_or_default();
    if readings.is_empty() && s.empty_as_no_data {
        return envelope_error("NO_DATA", "No data available for this period", false);
    }
    json_response(
        StatusCode::OK,
        json!({
            "success": true,
            "data": {
                "meter_reading": {
                    "usage_point_id": pdl,
                    "start": start.to_string(),
                    "end": end.to_string(),
                    "quality": "BRUT",
                    "reading_type": {
                        "measurement_kind": "energy",
                        "measuring_period": "P1D",
                        "unit": "Wh",
                        "aggregate": "sum",
                    },
                    "interval_reading": readings,
                }
            },
            "error": null,
            "timestamp": timestamp(),
        }),
    )
}
