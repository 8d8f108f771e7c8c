//! Peak memory of `once` when the input is hostile (issue 10): a 30 MB gateway answer, a
//! load curve of 100 000 points, one of 250 000 points small enough to pass the size cap, a
//! 100 MB options file. Before the caps these took the peak to 67, 112 and 404 MiB.
//!
//! Each case is one run of the release binary (`once`, one v2 meter with its load curve,
//! against the fake gateway of the tests and a private mosquitto) beside a run with normal
//! answers, in the same bench run; the peak is the kernel's (`wait4`, from a small launcher:
//! see `tests/support/program.rs`). Budget: every peak within the backfill's, 32 MiB.
//! Printed: exit code, peak RSS, and the line that says what was refused.
//!
//! `cargo bench --bench hostile_input` (or `scripts/bench`); under `cargo test` a smaller
//! smoke version of the same cases runs, with the debug binary: there each hostile peak may
//! exceed the normal one by 8 MiB at most.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;

use chrono::{Days, Timelike};
use serde_json::{Value, json};
use support::gateway::DEFAULT_PDL;
use support::program::{Program, Run};
use support::*;

const KIB_PER_MIB: f64 = 1024.0;
const BUDGET_MIB: f64 = 32.0;
/// Every request of the route gets the hostile answer, retries included.
const FAULTS_PER_ROUTE: usize = 4;

/// How big the hostile inputs are.
struct Scale {
    body_mb: usize,
    curve_points: usize,
    compact_points: usize,
    options_mb: usize,
}

/// What a case does to the world before `once` runs.
enum Hostility {
    None,
    Answer(FaultOn, String),
    OptionsFile(usize),
}

fn main() {
    support::program::act_as_launcher_if_asked();
    let full = std::env::args().any(|a| a == "--bench");
    let scale = match full {
        true => Scale {
            body_mb: 30,
            curve_points: 100_000,
            compact_points: 250_000,
            options_mb: 100,
        },
        false => Scale {
            body_mb: 5,
            curve_points: 10_000,
            compact_points: 5_000,
            options_mb: 2,
        },
    };
    let cases = [
        ("normal answers", Hostility::None),
        (
            "every daily answer 30 MB",
            Hostility::Answer(FaultOn::Daily, padded_reading(scale.body_mb)),
        ),
        (
            "a load curve of 100 000 points",
            Hostility::Answer(FaultOn::Detail, curve(scale.curve_points, true)),
        ),
        (
            "a load curve of 250 000 points under the size cap",
            Hostility::Answer(FaultOn::Detail, curve(scale.compact_points, false)),
        ),
        (
            "an options file of 100 MB",
            Hostility::OptionsFile(scale.options_mb),
        ),
    ];
    let broker = Mosquitto::start(BrokerKind::Anonymous);
    println!(
        "hostile input ({}): `once`, one v2 meter with its load curve",
        if full {
            "full"
        } else {
            "smoke run under cargo test"
        }
    );
    let mut budget = BUDGET_MIB;
    for (label, hostility) in &cases {
        let run = once(&broker, hostility);
        let peak = run.peak_kib as f64 / KIB_PER_MIB;
        if !full && matches!(hostility, Hostility::None) {
            // A debug binary is several times larger: hostile input may add little to it.
            budget = peak + 8.0;
        }
        println!(
            "  {label:<50} exit {}  peak RSS {peak:5.2} MiB  {}",
            run.status,
            what_was_refused(&run)
        );
        assert!(peak <= budget, "{label}: {peak:.2} MiB\n{}", run.log);
        let expected_status = match hostility {
            Hostility::None => Some(0),
            Hostility::Answer(..) => None,
            Hostility::OptionsFile(_) => Some(2),
        };
        if let Some(status) = expected_status {
            assert_eq!(run.status, status, "{label}:\n{}", run.log);
        }
    }
}

/// One `once` against a fresh fake gateway (and data directory) made hostile as asked.
fn once(broker: &Mosquitto, hostility: &Hostility) -> Run {
    let gateway = FakeGateway::start();
    let today = gateway.today();
    let first = today.checked_sub_days(Days::new(35)).expect("a day");
    let yesterday = today.pred_opt().expect("a day");
    gateway.set_pdls(&[(DEFAULT_PDL, Some(first))]);
    gateway.fill(DEFAULT_PDL, Series::Consumption, first, yesterday, |_| {
        9_000
    });
    gateway.fill_curve(DEFAULT_PDL, Series::Consumption, first, yesterday, |end| {
        300 + i64::from(end.hour()) * 40
    });
    let data = tempfile::tempdir().expect("a data directory");
    let options = json!({"client_secret": gateway::DEFAULT_SECRET, "gateway_url": gateway.url(),
        "mqtt_broker": broker.url(), "tempo": false, "ecowatt": false,
        "meters": [{"pdl": DEFAULT_PDL, "name": "Maison", "load_curve": true}]});
    let path = data.path().join("options.json");
    match hostility {
        Hostility::OptionsFile(mb) => write_padded_options(&path, &options, *mb),
        _ => std::fs::write(&path, options.to_string()).expect("write the options"),
    }
    if let Hostility::Answer(route, body) = hostility {
        for _ in 0..FAULTS_PER_ROUTE {
            gateway.push_fault_on(*route, Fault::status(200, body));
        }
    }
    Program::start_with("once", &path, data.path()).finish()
}

/// A v2 `meter_reading` answer with no reading, after `mb` MB of JSON whitespace.
fn padded_reading(mb: usize) -> String {
    let reading = envelope(json!({"meter_reading": {"usage_point_id": DEFAULT_PDL,
        "reading_type": {"unit": "Wh"}, "interval_reading": []}}));
    format!("{}{reading}", " ".repeat(mb << 20))
}

/// A v2 load-curve answer of `points` points, in full (about 90 bytes a point) or with only
/// the value (about 14 bytes: many points under the size cap).
fn curve(points: usize, full: bool) -> String {
    let point = |i: usize| match full {
        true => json!({"value": (i % 5000).to_string(), "date": "2024-06-04 00:30:00",
            "interval_length": "PT30M", "measure_type": "B"}),
        false => json!({"value": "1"}),
    };
    let items: Vec<Value> = (0..points).map(point).collect();
    envelope(json!({"meter_reading": {"usage_point_id": DEFAULT_PDL,
        "reading_type": {"unit": "W"}, "interval_reading": items}}))
}

fn envelope(data: Value) -> String {
    json!({"success": true, "data": data, "error": null, "timestamp": "2024-12-01T09:12:03Z"})
        .to_string()
}

/// `options` with a padding key of `mb` MB, written without holding it all in memory twice.
fn write_padded_options(path: &Path, options: &Value, mb: usize) {
    use std::io::Write;
    let text = options.to_string();
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("options"));
    let chunk = " ".repeat(1 << 20);
    let head = text.strip_suffix('}').expect("an object");
    write!(file, "{head},\"padding\":\"").expect("write");
    for _ in 0..mb {
        file.write_all(chunk.as_bytes()).expect("write");
    }
    file.write_all(b"\"}").expect("write");
    file.flush().expect("write");
}

/// The first warning or error line, shortened: what the program said it refused.
fn what_was_refused(run: &Run) -> String {
    let line = run
        .log
        .lines()
        .find(|l| l.contains(" WARN ") || l.contains(" ERROR ") || l.contains("options:"))
        .unwrap_or("(nothing refused)");
    let message = line.split_once(": ").map_or(line, |(_, m)| m);
    message.chars().take(110).collect()
}
