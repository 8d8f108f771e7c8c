//! The Energy-dashboard import into a real Home Assistant (the 2025.4.4 of the tests, with its
//! recorder): 3 meters × 3 years of daily consumption and production, one meter with a month
//! of load curve (hourly rows), BASE priced.
//!
//! Three runs of the release binary, each with its own peak RSS (the child's `ru_maxrss`):
//! 1. `once`, backfill only (`energy_statistics: false`): the sync's peak, for comparison;
//! 2. `once`, import only: the store complete, Home Assistant empty — the whole history goes
//!    in;
//! 3. the daemon (`run`) from an empty store into a second, empty Home Assistant: what a new
//!    user's first start does, backfill then import; then its idle RSS.
//!
//! For runs 2 and 3: rows and messages sent (the program's log), and the time from the start
//! until Home Assistant has written the last row of every statistic (it acknowledges an
//! import before its recorder writes it). Budgets: the peak stays within the backfill's,
//! 32 MiB; idle ≤ 8 MiB.
//!
//! `cargo bench --bench statistics_import` (or `scripts/bench`) runs the full measure; under
//! `cargo test` it runs a small smoke version of the same path (one meter, 20 days), which
//! also checks `once` end to end: every stored day is in Home Assistant.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;

use std::time::Duration;

use chrono::{Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Paris;
use myelectricaldata_mqtt::calendar::daily_history_start;
use myelectricaldata_mqtt::model::Pdl;
use myelectricaldata_mqtt::statistics::{StatisticKind, statistic_id};
use serde_json::{Value, json};
use support::program::{Program, Run};
use support::*;

const PDLS: [&str; 3] = ["12345678901234", "22345678901234", "32345678901234"];
const KIB_PER_MIB: f64 = 1024.0;

struct Scale {
    meters: usize,
    days: u64,
}

/// Rows and messages the import logged, summed over the meters.
fn sent(run: &Run) -> (u64, u64) {
    let number_before = |line: &str, word: &str| -> u64 {
        let before = line.split(word).next().unwrap_or("");
        before
            .split_whitespace()
            .last()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    run.log
        .lines()
        .filter(|l| l.contains("statistics:") && l.contains("row(s) sent"))
        .fold((0, 0), |(rows, messages), l| {
            (
                rows + number_before(l, " row(s)"),
                messages + number_before(l, " message(s)"),
            )
        })
}

fn main() {
    support::program::act_as_launcher_if_asked();
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
    let backfill = options(&gateway, &broker, &ha, scale, false);
    let backfill = Program::start("once", &backfill, data.path())
        .finish()
        .succeeded();
    let import = Program::start(
        "once",
        &options(&gateway, &broker, &ha, scale, true),
        data.path(),
    );
    let import_held = written(&ha, scale, today).await;
    let import_written = import.started.elapsed();
    let import = import.finish().succeeded();
    assert_eq!(import_held, sent(&import).0, "rows held and rows sent");

    let fresh = tempfile::tempdir().expect("a data directory");
    let daemon = options(&gateway, &broker, &fresh_ha, scale, true);
    let daemon = Program::start("run", &daemon, fresh.path());
    let daemon_held = written(&fresh_ha, scale, today).await;
    let daemon_written = daemon.started.elapsed();
    // What it keeps while it waits for the next sync (it trims after the import).
    tokio::time::sleep(Duration::from_secs(if full { 10 } else { 1 })).await;
    let idle_kib = daemon.proc_kib("VmRSS:");
    let daemon = daemon.stop().succeeded();
    assert_eq!(daemon_held, sent(&daemon).0, "rows held and rows sent");

    let what = if full {
        "full"
    } else {
        "smoke run under cargo test"
    };
    let (meters, days) = (scale.meters, scale.days);
    println!(
        "statistics import ({what}): {meters} meter(s) × {days} days, one with a month of load \
         curve, into Home Assistant 2025.4.4"
    );
    println!(
        "  1. once, backfill only: {:.2} s, peak RSS {:.2} MiB",
        backfill.wall.as_secs_f64(),
        mib(backfill.peak_kib)
    );
    for (label, run, until) in [
        ("2. once, import only:  ", &import, import_written),
        ("3. run, backfill+import:", &daemon, daemon_written),
    ] {
        let (rows, messages) = sent(run);
        println!(
            "  {label} peak RSS {:.2} MiB; {rows} rows in {messages} messages; all written by \
             Home Assistant {:.2} s after the start",
            mib(run.peak_kib),
            until.as_secs_f64()
        );
    }
    println!(
        "     run idle after the import: {:.2} MiB",
        mib(idle_kib as i64)
    );
    for ha in [&ha, &fresh_ha] {
        let problems = ha.problems();
        assert!(problems.is_empty(), "Home Assistant logged: {problems:#?}");
    }
}

fn mib(kib: i64) -> f64 {
    kib as f64 / KIB_PER_MIB
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

/// Waits until Home Assistant holds the last row of every statistic of every meter; checks
/// that every stored day (from the first Enedis still serves to yesterday) is there; returns
/// how many rows it holds (to compare with what was sent: none lost, none doubled).
async fn written(ha: &RealHomeAssistant, scale: &Scale, today: NaiveDate) -> u64 {
    let yesterday = today.pred_opt().expect("a day");
    let activation = today.checked_sub_days(Days::new(scale.days));
    let first = activation.expect("a day").max(daily_history_start(today));
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
            let missing: Vec<_> = expected.difference(&days).collect();
            let extra: Vec<_> = days.difference(&expected).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{id}: days missing {missing:?}, days not stored {extra:?}"
            );
            held += rows.len() as u64;
        }
    }
    held
}
