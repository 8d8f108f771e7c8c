//! What each fuzz target asserts of one input, shared by the targets (`fuzz_targets/`) and by
//! the regression test that replays every committed finding (`tests/fuzz_regressions.rs`).
//!
//! Beyond "no panic, no hang, no blow-up": every error is one line (it goes to the log and
//! the status topic as is), and nothing a parser accepts is absurd.

use myelectricaldata_mqtt::calendar::parse_offpeak_hours;
use myelectricaldata_mqtt::config::{self, Sources};
use myelectricaldata_mqtt::model::BrokerAddress;
use myelectricaldata_mqtt::statistics::{HaVersion, last_row_in};
use myelectricaldata_mqtt::supervisor;

/// The checks of one target.
pub type Check = fn(&[u8]);

/// Every fuzz target by name, for the replay of the regressions.
pub const TARGETS: &[(&str, Check)] = &[
    ("supervisor_answer", supervisor_answer),
    ("options_file", options_file),
    ("offpeak_hours", offpeak_hours),
    ("broker_url", broker_url),
    ("ha_answer", ha_answer),
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
    match config::load(&sources) {
        Ok(loaded) => assert!(!loaded.settings.meters.is_empty()),
        Err(error) => {
            for problem in &error.problems {
                one_line("a configuration problem", problem);
                assert!(
                    problem.len() <= 1024,
                    "a problem of {} bytes",
                    problem.len()
                );
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
