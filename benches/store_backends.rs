//! The store's two back ends side by side (issue 12): the 3-year backfill of three meters by
//! `once`, into SQLite (a fresh data directory) and into PostgreSQL (a fresh private server,
//! `database_url` set), in alternate runs — SQLite, PostgreSQL, SQLite, PostgreSQL… — so that
//! the noise of a shared machine falls on both alike.
//!
//! Each run: the release binary against the fake gateway of the integration tests (3 meters ×
//! 3 years of daily consumption and production, the load curve of the last two months, max
//! power; as `footprint` has it), MQTT off. Measured: the wall time from start to exit, the
//! program's peak resident memory (`ru_maxrss`, the kernel's VmHWM at exit, taken by the
//! launcher of `support::program` so that the benchmark's own memory is not counted) and its
//! CPU time (with its launcher's, a few ms), and for PostgreSQL the server's CPU time during
//! the run (its processes', from `/proc`): with SQLite the store's work is in the program,
//! with PostgreSQL most of it is in the server. The server's memory is not the program's and
//! is not counted; its start (initdb) is outside the wall time. Each run must exit 0 and
//! leave every expected day in the store (rows of `daily_energy` with a `wh`), and every run
//! the same number of load-curve points: a fast failure is never reported as a result.
//!
//! `cargo bench --bench store_backends` runs the full measure; `BENCH_ROUNDS` (default 2) sets
//! how many runs each back end gets. Without `--bench` (under `cargo test`) it runs a small
//! smoke version (one meter, 20 days, one round) so that the bench cannot rot.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{Datelike, Days, NaiveDate, NaiveTime, Timelike};
use myelectricaldata_mqtt::calendar::daily_history_start;
use myelectricaldata_mqtt::store::DATABASE_FILE;
use serde_json::{Value, json};
use support::program::Program;
use support::*;

const PDLS: [&str; 3] = ["12345678901234", "22345678901234", "32345678901234"];
const KIB_PER_MIB: f64 = 1024.0;
const DEFAULT_ROUNDS: usize = 2;

struct Scale {
    full: bool,
    meters: usize,
    days: u64,
    rounds: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// One run of `once`, checked.
struct Measure {
    backend: Backend,
    wall_s: f64,
    /// The program's CPU time (user + system).
    cpu_s: f64,
    /// The PostgreSQL server's CPU time during the run (0 for SQLite).
    server_cpu_s: f64,
    peak_mib: f64,
    days: i64,
    curve_points: i64,
}

/// What the store holds after a run.
struct Held {
    days: i64,
    curve_points: i64,
}

fn main() {
    support::program::act_as_launcher_if_asked();
    let scale = Scale::from_args();
    probe::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut runs: Vec<Measure> = Vec::new();
    for round in 1..=scale.rounds {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let run = measure(&runtime, &scale, backend);
            eprintln!(
                "store_backends: round {round}/{}: {} {:.2} s, {:.2} MiB",
                scale.rounds,
                backend.name(),
                run.wall_s,
                run.peak_mib
            );
            if let Some(first) = runs.first() {
                assert_eq!(
                    run.curve_points, first.curve_points,
                    "load-curve points differ between runs"
                );
            }
            runs.push(run);
        }
    }
    report(&scale, &runs);
}

impl Scale {
    /// The full measure under `cargo bench` (`--bench`), a smoke run otherwise.
    fn from_args() -> Scale {
        let full = std::env::args().any(|a| a == "--bench");
        let rounds = std::env::var("BENCH_ROUNDS")
            .ok()
            .map(|r| usize::from_str(&r).expect("BENCH_ROUNDS: a number"))
            .unwrap_or(DEFAULT_ROUNDS);
        match full {
            true => Scale {
                full,
                meters: 3,
                days: 3 * 365 + 2,
                rounds: rounds.max(1),
            },
            false => Scale {
                full,
                meters: 1,
                days: 20,
                rounds: 1,
            },
        }
    }

    fn pdls(&self) -> &'static [&'static str] {
        &PDLS[..self.meters]
    }
}

/// One backfill into `backend`'s fresh store, from a fresh gateway: timed, checked, counted.
fn measure(runtime: &tokio::runtime::Runtime, scale: &Scale, backend: Backend) -> Measure {
    let gateway = FakeGateway::start();
    let today = gateway.today();
    fill(&gateway, scale, today);
    let data = tempfile::tempdir().expect("a data directory");
    let server = (backend == Backend::Postgres).then(Postgres::start);
    let database_url = server.as_ref().map(Postgres::url);
    let options = options(&gateway, scale, database_url.as_deref());
    let server_cpu = || server.as_ref().map_or(0.0, |s| server_cpu_s(s.port()));
    let (cpu_before, server_before) = (children_cpu_s(), server_cpu());
    let run = Program::start("once", &options, data.path()).finish();
    // The server reaps the program's connection when it notices it closed.
    std::thread::sleep(Duration::from_millis(200));
    let (cpu_s, server_cpu_s) = (children_cpu_s() - cpu_before, server_cpu() - server_before);
    let name = backend.name();
    assert_eq!(run.status, 0, "{name}: the program failed:\n{}", run.log);
    let held = runtime.block_on(held(data.path(), database_url.as_deref()));
    let expected = expected_days(scale, today);
    assert_eq!(
        held.days, expected,
        "{name}: days of daily energy stored; the log:\n{}",
        run.log
    );
    assert!(held.curve_points > 0, "{name}: no load curve");
    Measure {
        backend,
        wall_s: run.wall.as_secs_f64(),
        cpu_s,
        server_cpu_s,
        peak_mib: run.peak_kib as f64 / KIB_PER_MIB,
        days: held.days,
        curve_points: held.curve_points,
    }
}

/// Daily consumption and production over `scale.days`, the last two months of load curve and
/// 40 days of max power for every meter (the backfill of `footprint`).
fn fill(gateway: &FakeGateway, scale: &Scale, today: NaiveDate) {
    let first = today
        .checked_sub_days(Days::new(scale.days))
        .expect("a day");
    let yesterday = today.pred_opt().expect("a day");
    let pdls = scale.pdls();
    gateway.set_pdls(&pdls.iter().map(|p| (*p, Some(first))).collect::<Vec<_>>());
    let curve_from = today
        .checked_sub_days(Days::new(62))
        .expect("a day")
        .max(first);
    let power_from = today.checked_sub_days(Days::new(40)).expect("a day");
    let power_at = NaiveTime::from_hms_opt(19, 42, 10).expect("a time");
    for pdl in pdls {
        gateway.fill(pdl, Series::Consumption, first, yesterday, |d| {
            9_000 + i64::from(d.ordinal()) * 10
        });
        gateway.fill(pdl, Series::Production, first, yesterday, |d| {
            2_000 + i64::from(d.ordinal())
        });
        gateway.fill_curve(pdl, Series::Consumption, curve_from, yesterday, |end| {
            300 + i64::from(end.hour()) * 40
        });
        gateway.fill_curve(pdl, Series::Production, curve_from, yesterday, |end| {
            i64::from(end.hour()) * 10
        });
        gateway.fill_max_power(pdl, power_from, yesterday, |_| (6_120, power_at));
    }
}

/// The options of `once`: MQTT off, the store in PostgreSQL when `database_url` is given.
fn options(gateway: &FakeGateway, scale: &Scale, database_url: Option<&str>) -> Value {
    let meters: Vec<Value> = scale
        .pdls()
        .iter()
        .enumerate()
        .map(|(i, pdl)| {
            json!({"pdl": pdl, "name": format!("Maison {i}"), "production": true,
                "load_curve": true, "tariff": "HC_HP", "price_hc": 0.2068, "price_hp": 0.27})
        })
        .collect();
    let mut options = json!({"client_secret": gateway::DEFAULT_SECRET,
        "gateway_url": gateway.url(), "mqtt_enabled": false, "tempo": false,
        "ecowatt": false, "meters": meters});
    if let Some(url) = database_url {
        options["database_url"] = json!(url);
    }
    options
}

/// Days of daily energy the store must hold: both series of every meter, from the first day
/// Enedis still serves (or the activation) to yesterday.
fn expected_days(scale: &Scale, today: NaiveDate) -> i64 {
    let activation = today
        .checked_sub_days(Days::new(scale.days))
        .expect("a day");
    let first = activation.max(daily_history_start(today));
    let yesterday = today.pred_opt().expect("a day");
    let per_series = first.iter_days().take_while(|d| *d <= yesterday).count();
    (per_series * 2 * scale.meters) as i64
}

const DAYS: &str = "SELECT COUNT(*) FROM daily_energy WHERE wh IS NOT NULL";
const CURVE_POINTS: &str = "SELECT COUNT(*) FROM load_curve";

/// What the store of the run holds: PostgreSQL's at `database_url`, else the SQLite file in
/// the data directory the program was given (`data/`).
async fn held(data: &Path, database_url: Option<&str>) -> Held {
    match database_url {
        Some(url) => held_postgres(url).await,
        None => held_sqlite(&data.join("data").join(DATABASE_FILE)).await,
    }
}

async fn held_postgres(url: &str) -> Held {
    let pool = sqlx::PgPool::connect(url)
        .await
        .expect("connect PostgreSQL");
    let days = sqlx::query_scalar(DAYS).fetch_one(&pool).await;
    let curve = sqlx::query_scalar(CURVE_POINTS).fetch_one(&pool).await;
    pool.close().await;
    Held {
        days: days.expect("count the days in PostgreSQL"),
        curve_points: curve.expect("count the curve points in PostgreSQL"),
    }
}

async fn held_sqlite(file: &Path) -> Held {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(file)
        .read_only(true);
    let pool = sqlx::SqlitePool::connect_with(options)
        .await
        .expect("open the SQLite store");
    let days = sqlx::query_scalar(DAYS).fetch_one(&pool).await;
    let curve = sqlx::query_scalar(CURVE_POINTS).fetch_one(&pool).await;
    pool.close().await;
    Held {
        days: days.expect("count the days in SQLite"),
        curve_points: curve.expect("count the curve points in SQLite"),
    }
}

/// CPU seconds (user + system) of the children this process has reaped so far: the
/// launcher and, reaped by it, the program (`getrusage(RUSAGE_CHILDREN)`).
fn children_cpu_s() -> f64 {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a live local.
    let done = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(done, 0, "getrusage");
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// `/proc/PID/stat`'s fields after the command name: [0] is the state, [1] the parent,
/// [11..=14] utime, stime, cutime, cstime (clock ticks).
fn stat_fields(pid: &str) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, fields) = stat.rsplit_once(')')?;
    Some(fields.split_whitespace().map(str::to_string).collect())
}

fn ticks(fields: &[String], which: std::ops::RangeInclusive<usize>) -> u64 {
    which
        .filter_map(|i| fields.get(i)?.parse::<u64>().ok())
        .sum()
}

fn pids() -> impl Iterator<Item = String> {
    let entries = std::fs::read_dir("/proc").expect("/proc");
    entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
}

/// The server listening on `port`: the process started as `postgres … -p PORT …` (its
/// children rewrite their command line).
fn postmaster(port: u16) -> String {
    let port = port.to_string();
    let is_it = |pid: &String| {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        args.first().is_some_and(|a| a.ends_with(b"postgres"))
            && args
                .windows(2)
                .any(|w| w[0] == b"-p" && w[1] == port.as_bytes())
    };
    let found: Vec<String> = pids().filter(is_it).collect();
    let parent = |pid: &String| stat_fields(pid).and_then(|f| f.get(1).cloned());
    let top = found
        .iter()
        .find(|pid| parent(pid).is_none_or(|p| !found.contains(&p)));
    top.cloned().expect("the PostgreSQL server's process")
}

/// CPU seconds of the PostgreSQL server on `port` so far: its postmaster, the processes it
/// has reaped (connections' backends that ended) and those still running.
fn server_cpu_s(port: u16) -> f64 {
    let postmaster = postmaster(port);
    let own = stat_fields(&postmaster).map_or(0, |f| ticks(&f, 11..=14));
    let children: u64 = pids()
        .filter_map(|pid| stat_fields(&pid))
        .filter(|f| f.get(1) == Some(&postmaster))
        .map(|f| ticks(&f, 11..=12))
        .sum();
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (own + children) as f64 / per_second
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The medians of one back end's runs: wall time, peak, program CPU, server CPU.
struct Medians {
    wall_s: f64,
    peak_mib: f64,
    cpu_s: f64,
    server_cpu_s: f64,
}

impl Medians {
    fn of(runs: &[Measure], backend: Backend) -> Medians {
        let of = |f: fn(&Measure) -> f64| {
            let values = runs.iter().filter(|r| r.backend == backend).map(f);
            median(values.collect())
        };
        Medians {
            wall_s: of(|r| r.wall_s),
            peak_mib: of(|r| r.peak_mib),
            cpu_s: of(|r| r.cpu_s),
            server_cpu_s: of(|r| r.server_cpu_s),
        }
    }

    fn cells(&self) -> [String; 4] {
        [
            format!("{:.2}", self.wall_s),
            format!("{:.2}", self.peak_mib),
            format!("{:.2}", self.cpu_s),
            format!("{:.2}", self.server_cpu_s),
        ]
    }
}

/// One line of the table: a label, then right-aligned cells.
fn row(label: &str, cells: &[String]) {
    let widths = [8, 13, 14, 11, 6, 13];
    let mut line = format!("  {label:<22}");
    for (cell, width) in cells.iter().zip(widths) {
        line.push_str(&format!(" {cell:>width$}"));
    }
    println!("{}", line.trim_end());
}

/// The table: one line per run, the medians, and PostgreSQL / SQLite (the CPU ratio counts
/// the server's with the program's).
fn report(scale: &Scale, runs: &[Measure]) {
    let what = match scale.full {
        true => "full",
        false => "smoke run under cargo test",
    };
    println!(
        "store back ends ({what}): `once`, {} meter(s) × {} days backfilled, MQTT off, {} \
         round(s), the back ends alternated",
        scale.meters, scale.days, scale.rounds
    );
    let heads = [
        "wall s",
        "peak RSS MiB",
        "program CPU s",
        "server CPU s",
        "days",
        "curve points",
    ];
    let heads = heads.map(str::to_string);
    row("run", &heads);
    for (i, run) in runs.iter().enumerate() {
        let cells =
            [run.wall_s, run.peak_mib, run.cpu_s, run.server_cpu_s].map(|v| format!("{v:.2}"));
        let counts = [run.days, run.curve_points].map(|n| n.to_string());
        row(
            &format!("{} {}", i + 1, run.backend.name()),
            &[cells.as_slice(), &counts].concat(),
        );
    }
    let (sqlite, postgres) = (
        Medians::of(runs, Backend::Sqlite),
        Medians::of(runs, Backend::Postgres),
    );
    row("median SQLite", &sqlite.cells());
    row("median PostgreSQL", &postgres.cells());
    let ratios = [
        postgres.wall_s / sqlite.wall_s,
        postgres.peak_mib / sqlite.peak_mib,
    ];
    row("PostgreSQL / SQLite", &ratios.map(|r| format!("{r:.2}x")));
    let cpu = (postgres.cpu_s + postgres.server_cpu_s) / (sqlite.cpu_s + sqlite.server_cpu_s);
    println!("  CPU, program and server together: PostgreSQL / SQLite {cpu:.2}x");
}
