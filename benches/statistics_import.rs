//! The Energy-dashboard import into a real Home Assistant (the 2025.4.4 of the tests, with its
//! recorder): 3 meters × 3 years of daily consumption and production, one meter with a month
//! of load curve (hourly rows), BASE priced.
//!
//! Three runs of the release binary's `once`, each with its own peak RSS (the child's
//! `ru_maxrss`):
//! 1. backfill only (`energy_statistics: false`): the sync's peak, for comparison;
//! 2. import only: the store complete, Home Assistant empty — the whole history goes in;
//! 3. backfill and import in one run, from an empty store into a second, empty Home Assistant:
//!    what a new user's first start does.
//!
//! For runs 2 and 3: rows and messages sent (the program's log), the run's wall time, and the
//! time until Home Assistant has written the last row of every statistic (it acknowledges an
//! import before its recorder writes it). Budget: the peak stays within the backfill budget,
//! 32 MiB.
//!
//! `cargo bench --bench statistics_import` (or `scripts/bench`) runs the full measure; under
//! `cargo test` it runs a small smoke version of the same path (one meter, 20 days), which
//! also checks `once` end to end: every stored day is in Home Assistant.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Paris;
use myelectricaldata_mqtt::model::Pdl;
use myelectricaldata_mqtt::statistics::{StatisticKind, statistic_id};
use serde_json::{Value, json};
use support::*;

const PDLS: [&str; 3] = ["12345678901234", "22345678901234", "32345678901234"];
const KIB_PER_MIB: f64 = 1024.0;

struct Scale {
    meters: usize,
    days: u64,
}

/// What one `once` did.
struct Run {
    wall: Duration,
    peak_kib: i64,
    log: String,
}

impl Run {
    /// Rows and messages the import logged, summed over the meters.
    fn sent(&self) -> (u64, u64) {
        let number_before = |line: &str, word: &str| -> u64 {
            let before = line.split(word).next().unwrap_or("");
            before
                .split_whitespace()
                .last()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        self.log
            .lines()
            .filter(|l| l.contains("statistics:") && l.contains("row(s) sent"))
            .fold((0, 0), |(rows, messages), l| {
                (
                    rows + number_before(l, " row(s)"),
                    messages + number_before(l, " message(s)"),
                )
            })
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let scale = match full {
        true => Scale {
            meters: 3,
            days: 3 * 365 + 2,
        },
        false => Scale {
            meters: 1,
            days: 20,
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(bench(full, &scale));
}

async fn bench(full: bool, scale: &Scale) {
    let broker = Mosquitto::start(BrokerKind::Anonymous);
    let gateway = FakeGateway::start();
    let today = gateway.today();
    fill(&gateway, scale, today);
    let (ha, fresh_ha) = tokio::join!(RealHomeAssistant::start(), RealHomeAssistant::start());

    let data = tempfile::tempdir().expect("a data directory");
    let backfill = once(&options(&gateway, &broker, &ha, scale, false), data.path());
    let import = once(&options(&gateway, &broker, &ha, scale, true), data.path());
    let import_written = written(&ha, scale, today, &import).await;
    let fresh = tempfile::tempdir().expect("a data directory");
    let both = once(
        &options(&gateway, &broker, &fresh_ha, scale, true),
        fresh.path(),
    );
    let both_written = written(&fresh_ha, scale, today, &both).await;

    println!(
        "statistics import ({}): {} meter(s) × {} days, one with a month of load curve, into Home Assistant 2025.4.4",
        if full {
            "full"
        } else {
            "smoke run under cargo test"
        },
        scale.meters,
        scale.days
    );
    let peak = |run: &Run| run.peak_kib as f64 / KIB_PER_MIB;
    println!(
        "  1. backfill only:   {:.2} s, peak RSS {:.2} MiB",
        backfill.wall.as_secs_f64(),
        peak(&backfill)
    );
    for (label, run, until) in [
        ("2. import only:    ", &import, import_written),
        ("3. backfill+import:", &both, both_written),
    ] {
        let (rows, messages) = run.sent();
        println!(
            "  {label} {:.2} s, peak RSS {:.2} MiB; {rows} rows in {messages} messages; all written by Home Assistant {:.2} s after the start",
            run.wall.as_secs_f64(),
            peak(run),
            until.as_secs_f64()
        );
    }
    for ha in [&ha, &fresh_ha] {
        let problems = ha.problems();
        assert!(problems.is_empty(), "Home Assistant logged: {problems:#?}");
    }
}

/// Daily consumption and production for every meter; the first meter's curves for the
/// load-curve window.
fn fill(gateway: &FakeGateway, scale: &Scale, today: NaiveDate) {
    let first = today
        .checked_sub_days(Days::new(scale.days))
        .expect("a day");
    let yesterday = today.pred_opt().expect("a day");
    let pdls = &PDLS[..scale.meters];
    gateway.set_pdls(&pdls.iter().map(|p| (*p, Some(first))).collect::<Vec<_>>());
    for pdl in pdls {
        gateway.fill(pdl, Series::Consumption, first, yesterday, |d| {
            9_000 + i64::from(d.ordinal()) * 10
        });
        gateway.fill(pdl, Series::Production, first, yesterday, |d| {
            2_000 + i64::from(d.ordinal())
        });
    }
    let curve_from = today
        .checked_sub_days(Days::new(40))
        .expect("a day")
        .max(first);
    for series in [Series::Consumption, Series::Production] {
        gateway.fill_curve(PDLS[0], series, curve_from, yesterday, |end| {
            300 + i64::from(chrono::Timelike::hour(&end)) * 40
        });
    }
}

fn options(
    gateway: &FakeGateway,
    broker: &Mosquitto,
    ha: &RealHomeAssistant,
    scale: &Scale,
    statistics: bool,
) -> Value {
    let meters: Vec<Value> = PDLS[..scale.meters]
        .iter()
        .enumerate()
        .map(|(i, pdl)| {
            json!({"pdl": pdl, "name": format!("Maison {i}"), "production": true,
                "load_curve": i == 0, "price_base": 0.2516})
        })
        .collect();
    json!({"client_secret": gateway::DEFAULT_SECRET, "gateway_url": gateway.url(),
        "mqtt_broker": broker.url(), "tempo": false, "ecowatt": false, "meters": meters,
        "energy_statistics": statistics, "ha_url": ha.url(), "ha_token": ha.token()})
}

/// Runs `once` with `options` on `data_dir`; panics unless it succeeds.
fn once(options: &Value, data_dir: &Path) -> Run {
    let path = data_dir.join("options.json");
    std::fs::write(&path, options.to_string()).expect("write the options");
    let started = Instant::now();
    // Reaped by `wait_with_peak` (wait4), which std's `wait` cannot be combined with.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_myelectricaldata-mqtt"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .arg("--options")
        .arg(&path)
        .arg("--data-dir")
        .arg(data_dir.join("data"))
        .arg("once")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program starts");
    let pid = i32::try_from(child.id()).expect("a pid");
    let stderr = child.stderr.expect("a pipe");
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let (status, peak_kib) = wait_with_peak(pid);
    let wall = started.elapsed();
    let log = strip_ansi_escapes::strip_str(reader.join().unwrap_or_default());
    assert_eq!(status, 0, "once failed:\n{log}");
    Run {
        wall,
        peak_kib,
        log,
    }
}

/// Waits for the child and returns its exit code and peak resident memory (KiB), from
/// wait4(2): the kernel keeps the peak until the child is reaped.
fn wait_with_peak(pid: i32) -> (i32, i64) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet reaped; both pointers are to live locals.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4");
    (libc::WEXITSTATUS(status), usage.ru_maxrss)
}

/// Waits until Home Assistant holds the last row of every statistic of every meter; checks
/// that every day from the first to yesterday is there and that it holds as many rows as were
/// sent (none lost, none doubled); returns the time from the start of the run that sent them.
async fn written(ha: &RealHomeAssistant, scale: &Scale, today: NaiveDate, run: &Run) -> Duration {
    let waiting = Instant::now();
    let yesterday = today.pred_opt().expect("a day");
    let first = today
        .checked_sub_days(Days::new(scale.days))
        .expect("a day");
    let mut held = 0;
    for (i, pdl) in PDLS[..scale.meters].iter().enumerate() {
        let pdl = Pdl::parse(pdl).expect("a PDL");
        // The curve meter's last row is yesterday's 23:00, the others' yesterday's 00:00.
        let hour = NaiveTime::from_hms_opt(if i == 0 { 23 } else { 0 }, 0, 0).expect("an hour");
        let last = Paris
            .from_local_datetime(&yesterday.and_time(hour))
            .earliest()
            .expect("a Paris time")
            .with_timezone(&Utc);
        for kind in [
            StatisticKind::Consumption,
            StatisticKind::ConsumptionCost,
            StatisticKind::Production,
        ] {
            let id = statistic_id(&pdl, kind);
            let rows = ha.rows_until(&id, last).await;
            let days: BTreeSet<NaiveDate> = rows
                .iter()
                .map(|r| r.start.with_timezone(&Paris).date_naive())
                .collect();
            let expected: BTreeSet<NaiveDate> =
                first.iter_days().take_while(|d| *d <= yesterday).collect();
            assert!(
                days == expected,
                "{id}: {} days held, {} stored",
                days.len(),
                expected.len()
            );
            held += rows.len() as u64;
        }
    }
    assert_eq!(held, run.sent().0, "rows held and rows sent");
    run.wall + waiting.elapsed()
}
