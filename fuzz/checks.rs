//! What each fuzz target asserts of one input, shared by the targets (`fuzz_targets/`) and by
//! the regression test that replays every committed finding (`tests/fuzz_regressions.rs`).
//!
//! Beyond "no panic, no hang, no blow-up": every error is one line (it goes to the log and
//! the status topic as is), and nothing a parser accepts is absurd.

use myelectricaldata_mqtt::calendar::parse_offpeak_hours;
use myelectricaldata_mqtt::config::{self, Sources};
use myelectricaldata_mqtt::gateway::admit::{self, Parsed};
use myelectricaldata_mqtt::gateway::enedis::ContractData;
use myelectricaldata_mqtt::gateway::{GatewayError, v1, v2};
use myelectricaldata_mqtt::model::QUOTED_CHARS;
use myelectricaldata_mqtt::model::{
    BrokerAddress, DailySeries, EcowattDay, LoadCurvePoint, MaxPowerReading, TempoDay,
};
use myelectricaldata_mqtt::statistics::{HaVersion, last_row_in};
use myelectricaldata_mqtt::supervisor;
use reqwest::StatusCode;

/// The checks of one target.
pub type Check = fn(&[u8]);

/// Every fuzz target by name, for the replay of the regressions.
pub const TARGETS: &[(&str, Check)] = &[
    ("supervisor_answer", supervisor_answer),
    ("options_file", options_file),
    ("offpeak_hours", offpeak_hours),
    ("broker_url", broker_url),
    ("ha_answer", ha_answer),
    ("gateway_v2", gateway_v2),
    ("gateway_v1", gateway_v1),
];

fn one_line(what: &str, text: &str) {
    assert!(
        !text.contains(['\n', '\r']),
        "{what} is not one line: {text:?}"
    );
}

/// `GET /services/mqtt`: the first two bytes are the HTTP status, the rest the body.
pub fn supervisor_answer(data: &[u8]) {
    let Some((status, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    match supervisor::parse_answer(u16::from_be_bytes(*status), body) {
        Ok(broker) => assert!(!broker.host.is_empty() && broker.port != 0, "{broker:?}"),
        Err(error) => one_line("a Supervisor error", &error.to_string()),
    }
}

/// The options file, as the Supervisor writes it (or as a user edits it).
pub fn options_file(data: &[u8]) {
    let Ok(file) = tempfile::NamedTempFile::new() else {
        return;
    };
    if std::fs::write(file.path(), data).is_err() {
        return;
    }
    let sources = Sources {
        options_path: Some(file.path().to_path_buf()),
        data_dir: None,
        env: Vec::new(),
        demo: false,
    };
    // Problems and warnings go to the log as they are.
    let short_line = |what: &str, line: &String| {
        one_line(what, line);
        assert!(line.len() <= 1024, "{what} of {} bytes", line.len());
    };
    match config::load(&sources) {
        Ok(loaded) => {
            assert!(!loaded.settings.meters.is_empty());
            for warning in &loaded.warnings {
                short_line("a configuration warning", warning);
            }
        }
        Err(error) => {
            for problem in &error.problems {
                short_line("a configuration problem", problem);
            }
        }
    }
}

/// `offpeak_hours`, from the options or the contract.
pub fn offpeak_hours(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Some(ranges) = parse_offpeak_hours(&text) {
        assert!(!ranges.is_empty());
    }
}

/// `mqtt_broker`.
pub fn broker_url(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match BrokerAddress::parse(&text) {
        Ok(broker) => assert!(!broker.host.is_empty() && broker.port != 0, "{broker:?}"),
        Err(error) => one_line("a broker URL error", &error.to_string()),
    }
}

/// A `statistics_during_period` result, and a version string of `auth_ok`.
pub fn ha_answer(data: &[u8]) {
    if let Ok(result) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Some(last) = last_row_in(&result, "myelectricaldata_mqtt:12345678901234_consumption")
        {
            assert!(last.sum.is_finite(), "{last:?}");
        }
    }
    let _ = HaVersion::parse(&String::from_utf8_lossy(data));
}

/// A route's parse function: the status and body of an answer to what it holds.
type Parse<T> = fn(StatusCode, &[u8]) -> Result<T, GatewayError>;

/// The parse functions of one gateway generation, route by route.
struct Routes {
    daily: Parse<Parsed<DailySeries>>,
    max_power: Parse<Parsed<Vec<MaxPowerReading>>>,
    load_curve: Parse<Parsed<Vec<LoadCurvePoint>>>,
    tempo: Parse<Parsed<Vec<TempoDay>>>,
    ecowatt: Parse<Parsed<Vec<EcowattDay>>>,
    contract: Parse<ContractData>,
    /// Routes only this generation has, each with its own checks.
    others: &'static [fn(StatusCode, &[u8])],
}

/// A v2 answer: the first byte picks the route (the five series, the contract, then the
/// generation's own routes), the next two the HTTP status, the rest is the body.
pub fn gateway_v2(data: &[u8]) {
    gateway_answer(
        data,
        &Routes {
            daily: v2::daily_answer,
            max_power: v2::max_power_answer,
            load_curve: v2::load_curve_answer,
            tempo: v2::tempo_answer,
            ecowatt: v2::ecowatt_answer,
            contract: v2::decode_envelope::<ContractData>,
            others: &[v2_meters],
        },
    );
}

/// A v1 answer, laid out as for [`gateway_v2`].
pub fn gateway_v1(data: &[u8]) {
    gateway_answer(
        data,
        &Routes {
            daily: v1::daily_answer,
            max_power: v1::max_power_answer,
            load_curve: v1::load_curve_answer,
            tempo: v1::tempo_answer,
            ecowatt: v1::ecowatt_answer,
            contract: v1::decode::<ContractData>,
            others: &[v1_access, v1_tempo_prices],
        },
    );
}

fn gateway_answer(data: &[u8], routes: &Routes) {
    let Some((&[route, high, low], body)) = data.split_first_chunk::<3>() else {
        return;
    };
    let Ok(status) = StatusCode::from_u16(u16::from_be_bytes([high, low])) else {
        return;
    };
    match usize::from(route) % (6 + routes.others.len()) {
        0 => admitted((routes.daily)(status, body), |s| {
            s.readings
                .iter()
                .for_each(|r| within(r.wh, admit::MAX_DAILY_WH))
        }),
        1 => admitted((routes.max_power)(status, body), |readings| {
            readings
                .iter()
                .for_each(|r| within(r.va, admit::MAX_METER_WATTS))
        }),
        2 => admitted((routes.load_curve)(status, body), |points| {
            for point in points {
                within(point.watts, admit::MAX_METER_WATTS);
                assert!(admit::CURVE_INTERVAL_MINUTES.contains(&point.interval_minutes));
            }
        }),
        3 => admitted((routes.tempo)(status, body), |_| {}),
        4 => admitted((routes.ecowatt)(status, body), |days| {
            for day in days {
                assert!(admit::ECOWATT_LEVELS.contains(&day.level), "{day:?}");
                assert!(
                    day.hours.iter().all(|h| admit::ECOWATT_LEVELS.contains(h)),
                    "{day:?}"
                );
            }
        }),
        5 => match (routes.contract)(status, body) {
            Ok(data) => drop(data.into_contract()),
            Err(error) => quoted_error(&error),
        },
        other => routes.others[other - 6](status, body),
    }
}

/// v2 `/pdl`.
fn v2_meters(status: StatusCode, body: &[u8]) {
    if let Err(error) = v2::meters_answer(status, body) {
        quoted_error(&error);
    }
}

/// v1 `/valid_access/{pdl}/cache`: the server's information is quoted in the log.
fn v1_access(status: StatusCode, body: &[u8]) {
    match v1::access_answer(status, body) {
        Ok(access) => {
            let information = access.information.unwrap_or_default();
            one_line("the access information", &information);
            assert!(information.chars().count() <= QUOTED_CHARS + 1);
        }
        Err(error) => quoted_error(&error),
    }
}

/// v1 `/edf/tempo/price`.
fn v1_tempo_prices(status: StatusCode, body: &[u8]) {
    match v1::tempo_prices_answer(status, body) {
        Ok(p) => {
            let prices = [
                p.blue_hc, p.blue_hp, p.white_hc, p.white_hp, p.red_hc, p.red_hp,
            ];
            for price in prices.into_iter().flatten() {
                assert!(
                    (0.0..=admit::MAX_PRICE_EUR_PER_KWH).contains(&price),
                    "{price}"
                );
            }
        }
        Err(error) => quoted_error(&error),
    }
}

/// Checks what a parser kept, or the error it gave.
fn admitted<T>(answer: Result<Parsed<T>, GatewayError>, check: impl FnOnce(&T)) {
    match answer {
        Ok(parsed) => {
            check(&parsed.items);
            one_line("a refusal report", &parsed.dropped.to_string());
        }
        Err(error) => quoted_error(&error),
    }
}

fn quoted_error(error: &GatewayError) {
    let text = error.to_string();
    one_line("a gateway error", &text);
    assert!(
        text.chars().count() <= 400,
        "an error of {} characters",
        text.len()
    );
}

fn within(value: i64, max: f64) {
    assert!(
        (0..=max as i64).contains(&value),
        "{value} out of 0..={max}"
    );
}
