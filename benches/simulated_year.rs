//! A simulated year: the real daemon loop (`app::run`) on a simulated clock, against the fake
//! gateway (v2, one meter: daily consumption and production, max power) and a private
//! mosquitto, for 400 days with random faults on every route it calls (daily energy, max
//! power, meter list, contract): 5xx answers, timeouts, quota (429) answers; and days
//! published late, broker restarts.
//!
//! The clock's `sleep` (every wait of the daemon: between syncs, and between the retries of a
//! failed call, with the program's own backoff) moves simulated time at once and yields; each new Paris day moves the fake's "today" (the fake serves days before it),
//! publishes the late days that are due, queues that day's faults (a seeded PRNG decides) and
//! notes the gateway calls of the day before.
//!
//! Checks: gateway calls per Paris day within the budget the README promises (about one call
//! per enabled series once complete; a retry per fault; hourly retries while a day is late
//! or the gateway fails; never the 1000/day v2 quota); no daily range asked again once every
//! day of it was served; every day up to the last one served stored exactly once with the
//! fake's value; `PRAGMA integrity_check` = ok; resident memory flat from day 10 to the end.
//!
//! `cargo bench --bench simulated_year` (or `scripts/bench`) runs 400 days; under
//! `cargo test` a 20-day smoke version of the same path runs.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Days, NaiveDate, Utc};
use myelectricaldata_mqtt::clock::{Clock, Sleep};
use myelectricaldata_mqtt::model::{Pdl, SeriesKind};
use myelectricaldata_mqtt::pipeline::Pipeline;
use myelectricaldata_mqtt::store::DATABASE_FILE;
use serde_json::json;
use support::gateway::DEFAULT_PDL;
use support::*;

/// The simulation starts at 10:00 Paris on a winter day.
const START: &str = "2025-01-06T09:00:00Z";
/// Days of history before the start (the first sync's backfill).
const HISTORY_DAYS: u64 = 60;
/// Enabled daily series.
const SERIES: [Series; 2] = [Series::Consumption, Series::Production];
/// Enabled series: the daily ones and the max power (on by default).
const ENABLED: usize = SERIES.len() + 1;
/// Calls of a day without fault nor late day: one per enabled series, plus the weekly meter
/// list and contract.
const QUIET_BUDGET: usize = ENABLED + 2;
/// Syncs in a day at most while a day is late or the gateway fails: hourly from 08:00 to
/// 22:00, and the failure backoff (5 min, doubling) adds at most a few.
const BUSY_SYNCS: usize = 24;
/// The v2 account quota.
const QUOTA: usize = 1000;
/// Resident memory may grow this much from day 10 to the end: the bench's own compact log
/// of daily requests and syncs grows, and glibc's heap fragments (heap in use stays within
/// about 0.6 MiB; RSS grew 0.9 MiB over 390 days in the runs of 2026-12-03).
const RSS_MARGIN_KIB: i64 = 2048;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let days = if full { 400 } else { 20 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(bench(full, days));
}

/// A small seeded PRNG (xorshift64*): the same faults every run.
struct Prng(u64);

impl Prng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `true` with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// The routes a gateway fault may hit: every route this configuration calls.
const FAULTY_ROUTES: [FaultOn; 4] = [
    FaultOn::Daily,
    FaultOn::Power,
    FaultOn::Pdl,
    FaultOn::Contract,
];

/// Faults queued on the fake, by kind and by route.
#[derive(Debug, Default, Clone)]
struct Faults {
    server_errors: u32,
    timeouts: u32,
    quota: u32,
    late_days: u32,
    broker_restarts: u32,
    by_route: BTreeMap<String, u32>,
}

impl Faults {
    fn total(&self) -> u32 {
        self.server_errors + self.timeouts + self.quota + self.late_days + self.broker_restarts
    }
}

/// What the simulated world does and remembers; changed on each new Paris day.
struct World {
    gw: Arc<FakeGateway>,
    broker: Arc<Mutex<Mosquitto>>,
    prng: Prng,
    first_day: NaiveDate,
    days: u64,
    /// Withheld days and the day they are published.
    late: BTreeMap<NaiveDate, NaiveDate>,
    faults: Faults,
    /// Per simulated day (index from the start): calls, and whether a fault or a late day may
    /// have asked for more than the quiet budget.
    calls: Vec<(usize, bool)>,
    /// Requests of the current day (moved out of the fake's log, which would grow all year
    /// in this process), as lines.
    day_lines: Vec<String>,
    /// Every daily-energy request: its series and range.
    daily: Vec<(Series, NaiveDate, NaiveDate)>,
    busy: bool,
    /// Day, RSS, heap in use (KiB) and the daily requests so far, every 50 days.
    memory: Vec<(i64, i64, i64, usize)>,
    /// Each sync: the fake's today, the daily requests made so far, faults consumed so far.
    syncs: Vec<(NaiveDate, usize, usize)>,
    /// Faults queued on the fake so far.
    queued: usize,
    /// Every day published late, and when.
    late_history: BTreeMap<NaiveDate, NaiveDate>,
    /// The requests of each day over its budget.
    over_budget: Vec<(usize, String)>,
    rss_day10_kib: i64,
    rss_end_kib: i64,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// The value of a day in the fake, so the store can be checked against it.
fn wh(series: Series, day: NaiveDate) -> i64 {
    let base = match series {
        Series::Consumption => 9_000,
        Series::Production => 2_000,
    };
    base + i64::from(chrono::Datelike::ordinal(&day)) * 7
}

impl World {
    /// The Paris day `today` begins.
    fn new_day(&mut self, today: NaiveDate) {
        let index = (today - self.first_day).num_days();
        self.absorb_requests();
        let lines = std::mem::take(&mut self.day_lines);
        let calls = lines.len();
        let busy = std::mem::take(&mut self.busy);
        if calls > budget(busy) {
            self.over_budget.push((self.calls.len(), lines.join("\n")));
        }
        self.calls.push((calls, busy));
        self.gw.set_today(today);
        self.publish_late(today);
        if index == 10 {
            self.rss_day10_kib = rss_kib();
        }
        if index % 50 == 0 || index == 10 {
            self.memory
                .push((index, rss_kib(), heap_kib(), self.daily.len()));
        }
        if index >= self.days as i64 {
            self.rss_end_kib = rss_kib();
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            return;
        }
        self.inject(index);
        // The fake has no way to withhold a max power: it is set day by day.
        let yesterday = today.pred_opt().expect("a day");
        if !self.late.contains_key(&yesterday) {
            self.gw
                .set_max_power(DEFAULT_PDL, yesterday, wh(SERIES[1], yesterday), noon());
        }
    }

    /// A sync just ended.
    fn mark_sync(&mut self) {
        let consumed = self.queued - self.gw.pending_faults();
        // A fault queued on a weekly route (the meter list, the contract) may be met days
        // after it was queued: the day it is met is busy.
        let before = self.syncs.last().map_or(0, |(_, _, consumed)| *consumed);
        self.busy |= consumed > before;
        self.absorb_requests();
        self.syncs
            .push((self.gw.today(), self.daily.len(), consumed));
    }

    /// Moves the fake's logged requests here (called between syncs: none is in flight).
    fn absorb_requests(&mut self) {
        let requests = self.gw.requests();
        self.gw.clear_requests();
        for r in requests {
            if let (Some(RouteKind::Daily(series)), Some((start, end))) = (r.route(), r.day_range())
            {
                self.daily.push((series, start, end));
            }
            self.day_lines
                .push(format!("{} {}?{}", r.method, r.path, r.query));
        }
    }

    /// Fills the late days whose day has come.
    fn publish_late(&mut self, today: NaiveDate) {
        let due: Vec<NaiveDate> = self
            .late
            .iter()
            .filter(|(_, at)| **at <= today)
            .map(|(day, _)| *day)
            .collect();
        for day in due {
            self.late.remove(&day);
            for series in SERIES {
                self.gw.set_day(DEFAULT_PDL, series, day, wh(series, day));
            }
            self.gw
                .set_max_power(DEFAULT_PDL, day, wh(SERIES[1], day), noon());
        }
        self.busy |= !self.late.is_empty();
    }

    /// Today's faults: each queued on the fake for the next request of a route the PRNG
    /// picks.
    fn inject(&mut self, index: i64) {
        // The smoke run gets one timeout and one quota answer too.
        let faults = [
            (self.prng.chance(0.08), Fault::server_error()),
            (
                self.prng.chance(0.03) || index == 3,
                Fault::Delay(Duration::from_millis(800)),
            ),
            (self.prng.chance(0.03) || index == 5, Fault::rate_limited()),
        ];
        for (kind, (happens, fault)) in faults.into_iter().enumerate() {
            if !happens {
                continue;
            }
            let route = FAULTY_ROUTES[(self.prng.next() % FAULTY_ROUTES.len() as u64) as usize];
            self.gw.push_fault_on(route, fault);
            self.queued += 1;
            self.busy = true;
            let counter = match kind {
                0 => &mut self.faults.server_errors,
                1 => &mut self.faults.timeouts,
                _ => &mut self.faults.quota,
            };
            *counter += 1;
            *self
                .faults
                .by_route
                .entry(format!("{route:?}"))
                .or_default() += 1;
        }
        // Yesterday is published one to three days late (never near the end).
        let today = self.gw.today();
        if index + 5 < self.days as i64 && self.prng.chance(0.06) {
            let yesterday = today.pred_opt().expect("a day");
            let late_by = 1 + self.prng.next() % 3;
            for series in SERIES {
                self.gw.remove_day(DEFAULT_PDL, series, yesterday);
            }
            let at = today.checked_add_days(Days::new(late_by)).expect("a day");
            self.late.insert(yesterday, at);
            self.late_history.insert(yesterday, at);
            self.faults.late_days += 1;
            self.busy = true;
        }
        if index % 50 == 25 || (self.days < 50 && index == 10) {
            let broker = self.broker.clone();
            tokio::task::block_in_place(|| broker.lock().expect("the broker").restart());
            self.faults.broker_restarts += 1;
        }
    }
}

/// Simulated time: `sleep` moves it at once; each new Paris day goes to the world.
struct SimulatedClock {
    now: Mutex<DateTime<Utc>>,
    world: Arc<Mutex<World>>,
    sleeps: std::sync::atomic::AtomicU64,
}

impl Clock for SimulatedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("the clock")
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        let before = self.now();
        let after = before + chrono::Duration::from_std(duration).expect("a duration");
        *self.now.lock().expect("the clock") = after;
        self.sleeps
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if paris_day(after) != paris_day(before) {
            self.world
                .lock()
                .expect("the world")
                .new_day(paris_day(after));
        }
        Box::pin(tokio::task::yield_now())
    }
}

/// When the max power of every day was reached.
fn noon() -> chrono::NaiveTime {
    chrono::NaiveTime::from_hms_opt(12, 30, 0).expect("a time")
}

/// The heap glibc's malloc has handed out and not got back, in KiB.
fn heap_kib() -> i64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 takes no argument and only reads glibc's own counters.
        let info = unsafe { libc::mallinfo2() };
        (info.uordblks / 1024) as i64
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    0
}

fn rss_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:"));
    line.and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

async fn bench(full: bool, days: u64) {
    let started = Instant::now();
    let syncs = SyncCounter::install();
    let world_slot = syncs.1.clone();
    let broker = Mosquitto::start(BrokerKind::Anonymous);
    let top = json!({ "tempo": false, "ecowatt": false, "mqtt_enabled": true,
        "mqtt_broker": broker.url() });
    let meters = [meter(DEFAULT_PDL, json!({ "production": true }))];
    let mut harness = Harness::new(Generation::V2, START, &meters, top);
    harness.timeout = Some(Duration::from_millis(300));
    let start = instant(START);
    let first_day = paris_day(start);
    let activation = first_day - Days::new(HISTORY_DAYS);
    let last_day = first_day + Days::new(days + 5);
    let gw = Arc::new(std::mem::replace(&mut harness.gw, FakeGateway::start()));
    let mut fake_meter = FakeMeter::new(DEFAULT_PDL, Some(activation));
    fake_meter.has_production = true;
    gw.set_meters(vec![fake_meter]);
    for series in SERIES {
        gw.fill(DEFAULT_PDL, series, activation, last_day, |d| wh(series, d));
    }
    gw.fill_max_power(
        DEFAULT_PDL,
        activation,
        first_day.pred_opt().expect("a day"),
        |d| (wh(SERIES[1], d), noon()),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let world = Arc::new(Mutex::new(World {
        gw: gw.clone(),
        broker: Arc::new(Mutex::new(broker)),
        prng: Prng(0x5EED_2026_1203),
        first_day,
        days,
        late: BTreeMap::new(),
        faults: Faults::default(),
        calls: Vec::new(),
        day_lines: Vec::new(),
        daily: Vec::new(),
        busy: true,
        over_budget: Vec::new(),
        syncs: Vec::new(),
        memory: Vec::new(),
        queued: 0,
        late_history: BTreeMap::new(),
        rss_day10_kib: 0,
        rss_end_kib: 0,
        stop: Some(stop),
    }));
    let _ = world_slot.set(world.clone());
    let clock = Arc::new(SimulatedClock {
        now: Mutex::new(start),
        world: world.clone(),
        sleeps: Default::default(),
    });
    let gateway = harness.gateway();
    let pipeline = Pipeline::open(harness.settings.clone(), gateway, clock.clone())
        .await
        .expect("the store opens");
    let run = myelectricaldata_mqtt::app::run(&pipeline, async {
        let _ = stopped.await;
    });
    let deadline = Duration::from_secs(if full { 20 * 60 } else { 60 });
    tokio::time::timeout(deadline, run)
        .await
        .expect("the simulated run ends in time")
        .expect("the daemon runs");
    let wall = started.elapsed();
    {
        let world = world.lock().expect("the world");
        let sleeps = clock.sleeps.load(std::sync::atomic::Ordering::Relaxed);
        report(&world, full, syncs.count(), sleeps, wall);
        check_calls(&world);
        check_rss(&world);
    }
    // The run stops as day `days` begins: its last sync (08:00 the day before) had up to
    // the day before that.
    let last_synced = first_day + Days::new(days - 2);
    check_store(&harness, &gw, activation, last_synced).await;
}

/// Counts the daemon's syncs from its log (each ends with one "next sync at" line) and tells
/// the world of each.
#[derive(Clone, Default)]
struct SyncCounter(
    Arc<std::sync::atomic::AtomicU64>,
    Arc<std::sync::OnceLock<Arc<Mutex<World>>>>,
);

impl std::io::Write for SyncCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.windows(13).any(|w| w == b"next sync at ") {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(world) = self.1.get() {
                world.lock().expect("the world").mark_sync();
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SyncCounter {
    /// Installs it as the log's writer (info level, nothing printed).
    fn install() -> SyncCounter {
        let counter = SyncCounter::default();
        let writer = counter.clone();
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        counter
    }

    fn count(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn report(world: &World, full: bool, syncs: u64, sleeps: u64, wall: Duration) {
    let what = if full {
        "full"
    } else {
        "smoke run under cargo test"
    };
    let calls: Vec<usize> = world.calls.iter().skip(1).map(|(c, _)| *c).collect();
    let max = calls.iter().copied().max().unwrap_or(0);
    let quiet_max = world
        .calls
        .iter()
        .skip(1)
        .filter(|(_, busy)| !busy)
        .map(|(c, _)| *c)
        .max()
        .unwrap_or(0);
    let mean = calls.iter().sum::<usize>() as f64 / calls.len().max(1) as f64;
    let f = &world.faults;
    println!(
        "simulated year ({what}): {} simulated days, v2, one meter, {} daily series and the max power",
        world.days,
        SERIES.len()
    );
    println!(
        "  first day (start + backfill of {HISTORY_DAYS} days): {} gateway calls",
        world.calls.first().map_or(0, |c| c.0)
    );
    println!("  syncs: {syncs}; clock sleeps: {sleeps}");
    println!(
        "  gateway calls per day: max {max} (quiet days {quiet_max}, budget {QUIET_BUDGET}; days \
         with a fault or a late day: budget {}), mean {mean:.2}, quota {QUOTA}",
        busy_budget(0)
    );
    println!(
        "  faults injected: {} ({} 5xx, {} timeouts, {} quota 429, {} days published late, {} \
         broker restarts)",
        f.total(),
        f.server_errors,
        f.timeouts,
        f.quota,
        f.late_days,
        f.broker_restarts
    );
    println!("  gateway faults by route: {:?}", f.by_route);
    for (day, rss, heap, requests) in &world.memory {
        println!(
            "  day {day}: RSS {rss} KiB, heap in use {heap} KiB, {requests} daily requests so far"
        );
    }
    println!(
        "  RSS day 10: {:.2} MiB, end: {:.2} MiB; wall time {:.1} s",
        world.rss_day10_kib as f64 / 1024.0,
        world.rss_end_kib as f64 / 1024.0,
        wall.as_secs_f64()
    );
}

/// A day with a fault or a late day: hourly syncs, each asking every series once more, and
/// one more call per fault for its retry.
fn busy_budget(faults: usize) -> usize {
    BUSY_SYNCS * ENABLED + 2 + faults
}

/// The calls a day may make.
fn budget(busy: bool) -> usize {
    if busy { busy_budget(3) } else { QUIET_BUDGET }
}

fn check_calls(world: &World) {
    let over: Vec<_> = world
        .over_budget
        .iter()
        .filter(|(day, _)| *day > 0)
        .collect();
    for (day, requests) in &over {
        println!("  day {day} over its budget:\n{requests}");
    }
    assert!(over.is_empty(), "{} day(s) over the budget", over.len());
    let most = world.calls.iter().map(|(c, _)| *c).max().unwrap_or(0);
    assert!(most <= QUOTA, "{most} calls in a day, over the quota");
    check_no_range_twice(world);
}

/// No daily range is asked again once an answer served it: every daily request has a day
/// that no earlier sync without a fault was served (before today, not withheld).
fn check_no_range_twice(world: &World) {
    let mut served: BTreeMap<String, std::collections::BTreeSet<NaiveDate>> = BTreeMap::new();
    let (mut from, mut consumed_before) = (0, 0);
    for (today, to, consumed) in &world.syncs {
        let faulted = *consumed > consumed_before;
        for (series, start, end) in &world.daily[from..*to] {
            let (start, end) = (*start, *end);
            let days = start.iter_days().take_while(|d| *d < end && d < today);
            let known = served.entry(format!("{series:?}")).or_default();
            assert!(
                faulted
                    || start
                        .iter_days()
                        .take_while(|d| *d < end)
                        .any(|d| !known.contains(&d)),
                "{series:?} {start}..{end} asked on {today} though every day of it was served"
            );
            if !faulted {
                let published =
                    |d: &NaiveDate| world.late_history.get(d).is_none_or(|at| at <= today);
                known.extend(days.filter(published));
            }
        }
        (from, consumed_before) = (*to, *consumed);
    }
}

/// Every day from the activation to the last one served is stored once, with the fake's
/// value; SQLite finds the file sound.
async fn check_store(harness: &Harness, gw: &FakeGateway, activation: NaiveDate, last: NaiveDate) {
    let pdl = Pdl::parse(DEFAULT_PDL).expect("a PDL");
    let store = myelectricaldata_mqtt::store::Store::open(&harness.settings.data_dir)
        .await
        .expect("the store opens again");
    for (series, kind) in [
        (Series::Consumption, SeriesKind::Consumption),
        (Series::Production, SeriesKind::Production),
    ] {
        let days = store
            .days(&pdl, kind, activation, last)
            .await
            .expect("stored days");
        let stored: BTreeMap<NaiveDate, i64> = days.iter().map(|d| (d.date, d.wh)).collect();
        assert_eq!(stored.len(), days.len(), "{series:?}: a day stored twice");
        let served: BTreeMap<NaiveDate, i64> = gw
            .data(DEFAULT_PDL, series)
            .into_iter()
            .filter(|(d, _)| *d <= last)
            .collect();
        let missing: Vec<_> = served.keys().filter(|d| !stored.contains_key(d)).collect();
        assert!(missing.is_empty(), "{series:?}: days lost {missing:?}");
        assert_eq!(stored, served, "{series:?}: stored values");
    }
    store.close().await;
    let path = harness.settings.data_dir.join(DATABASE_FILE);
    let url = format!("sqlite://{}?mode=ro", path.display());
    let pool = sqlx::SqlitePool::connect(&url)
        .await
        .expect("the store file");
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .expect("integrity_check");
    assert_eq!(check, "ok", "PRAGMA integrity_check");
    pool.close().await;
}

fn check_rss(world: &World) {
    let growth = world.rss_end_kib - world.rss_day10_kib;
    assert!(
        growth <= RSS_MARGIN_KIB,
        "resident memory grew by {growth} KiB from day 10 to the end (margin {RSS_MARGIN_KIB})"
    );
}
