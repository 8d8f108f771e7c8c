//! Footprint of the daemon as a Raspberry Pi sees it: the stripped binary's size, resident
//! memory at the peak of a 3-year backfill of three meters and once idle (its web page on,
//! never opened), the time from the broker's ConnAck to the first discovery config, then the
//! web page: its load time over HTTP and in headless Chromium, and the idle memory after it
//! was used and closed.
//!
//! Budgets (measured here, never asserted by timed tests): binary ≤ 12 MiB, RSS ≤ 32 MiB at
//! the backfill peak and ≤ 8 MiB idle, first discovery config ≤ 100 ms after ConnAck, a page
//! load < 50 ms.
//!
//! Everything is local: a private mosquitto and the fake gateway of the integration tests
//! (3 meters × 3 years of daily consumption and production, the load curve of the last two
//! months, max power), the real binary (`run`) with its own data directory. Memory is read
//! from `/proc/PID/status` (`VmHWM` is the peak, `VmRSS` the current value).
//!
//! `cargo bench --bench footprint` (or `scripts/bench`) runs the full measure with the release
//! binary; under `cargo test` (no `--bench` argument) it runs a small smoke version of the
//! same path so that the bench cannot rot.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Days, NaiveTime, Utc};
use support::program::proc_kib;
use support::*;

const PDLS: [&str; 3] = ["12345678901234", "22345678901234", "32345678901234"];
const MIB: f64 = 1024.0 * 1024.0;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let days: u64 = if full { 3 * 365 + 2 } else { 20 };
    let meters = if full { 3 } else { 1 };
    let binary = env!("CARGO_BIN_EXE_myelectricaldata-mqtt");
    probe::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let size = std::fs::metadata(binary).map(|m| m.len()).unwrap_or(0);

    let broker = Mosquitto::start(BrokerKind::Anonymous);
    let gateway = FakeGateway::start();
    let today = gateway.today();
    let first = today.checked_sub_days(Days::new(days)).unwrap();
    let yesterday = today.pred_opt().unwrap();
    gateway.set_pdls(
        &PDLS[..meters]
            .iter()
            .map(|p| (*p, Some(first)))
            .collect::<Vec<_>>(),
    );
    for pdl in &PDLS[..meters] {
        gateway.fill(pdl, Series::Consumption, first, yesterday, |d| {
            9_000 + i64::from(chrono::Datelike::ordinal(&d)) * 10
        });
        gateway.fill(pdl, Series::Production, first, yesterday, |d| {
            2_000 + i64::from(chrono::Datelike::ordinal(&d))
        });
        let curve_from = today.checked_sub_days(Days::new(62)).unwrap().max(first);
        gateway.fill_curve(pdl, Series::Consumption, curve_from, yesterday, |end| {
            300 + i64::from(chrono::Timelike::hour(&end)) * 40
        });
        gateway.fill_curve(pdl, Series::Production, curve_from, yesterday, |end| {
            i64::from(chrono::Timelike::hour(&end)) * 10
        });
        gateway.fill_max_power(
            pdl,
            today.checked_sub_days(Days::new(40)).unwrap(),
            yesterday,
            |_| (6_120, NaiveTime::from_hms_opt(19, 42, 10).unwrap()),
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let options = dir.path().join("options.json");
    let meter_options: Vec<_> = PDLS[..meters]
        .iter()
        .enumerate()
        .map(|(i, pdl)| {
            serde_json::json!({"pdl": pdl, "name": format!("Maison {i}"), "production": true, "load_curve": true,
                "tariff": "HC_HP", "price_hc": 0.2068, "price_hp": 0.27})
        })
        .collect();
    let json = serde_json::json!({"client_secret": gateway::DEFAULT_SECRET, "gateway_url": gateway.url(),
        "mqtt_broker": broker.url(), "tempo": false, "ecowatt": false, "meters": meter_options});
    std::fs::write(&options, json.to_string()).unwrap();

    let probe = runtime.block_on(MqttProbe::connect(&broker, &["homeassistant/#"]));
    let web_port = free_port();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .env("WEB_PORT", web_port.to_string())
        .args([
            "--options",
            options.to_str().unwrap(),
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
            "run",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();

    // The log: when the ConnAck was handled and when the first sync ended.
    let log = Arc::new(Mutex::new(Vec::<(SystemTime, String)>::new()));
    let stderr = child.stderr.take().unwrap();
    let reader = {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.lock()
                    .unwrap()
                    .push((SystemTime::now(), strip_ansi_escapes::strip_str(&line)));
            }
        })
    };
    let find = |needle: &str| {
        log.lock()
            .unwrap()
            .iter()
            .find(|(_, l)| l.contains(needle))
            .cloned()
    };

    let first_config = runtime.block_on(probe.wait_for(
        "homeassistant/sensor/med_12345678901234_consumption_daily/config",
        |p| !p.is_empty(),
        Duration::from_secs(30),
    ));
    let first_config_at = SystemTime::now();
    let to_first_config = started.elapsed();
    let _ = first_config;

    let mut peak_rss = 0;
    let deadline = Instant::now() + Duration::from_secs(if full { 300 } else { 60 });
    while find("sync done").is_none() {
        assert!(
            Instant::now() < deadline,
            "the sync did not end: {:#?}",
            log.lock().unwrap()
        );
        peak_rss = peak_rss.max(proc_kib(pid, "VmRSS:"));
        std::thread::sleep(Duration::from_millis(10));
    }
    let sync_time = started.elapsed();
    let hwm = proc_kib(pid, "VmHWM:");
    std::thread::sleep(Duration::from_secs(if full { 10 } else { 1 }));
    let idle_rss = proc_kib(pid, "VmRSS:");
    let (idle_anon, idle_file) = (proc_kib(pid, "RssAnon:"), proc_kib(pid, "RssFile:"));

    let connack = find("connected to the MQTT broker").and_then(|(_, line)| log_time(&line));
    let connack_to_config = connack.and_then(|at| {
        DateTime::<Utc>::from(first_config_at)
            .signed_duration_since(at)
            .to_std()
            .ok()
    });
    let calls = find("sync done").map(|(_, l)| l).unwrap_or_default();
    let page_url = format!("http://127.0.0.1:{web_port}/");
    let page = runtime.block_on(page_loads(&page_url, if full { 50 } else { 3 }));
    // The daemon gives back what the page took after a minute without a request.
    let closed_for = if full { 90 } else { 1 };
    std::thread::sleep(Duration::from_secs(closed_for));
    let idle_after_page = proc_kib(pid, "VmRSS:");
    let (after_anon, after_file) = (proc_kib(pid, "RssAnon:"), proc_kib(pid, "RssFile:"));

    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
    let _ = reader.join();

    println!(
        "footprint ({}): {meters} meter(s), {days} days of daily history each",
        if full {
            "full"
        } else {
            "smoke run under cargo test"
        }
    );
    println!(
        "  binary ({}): {:.2} MiB ({size} bytes){}",
        binary,
        size as f64 / MIB,
        if full { "" } else { " — debug build" }
    );
    println!(
        "  RSS peak during the backfill: {:.2} MiB (VmHWM {:.2} MiB)",
        peak_rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!(
        "  RSS idle after the sync:      {:.2} MiB ({:.2} MiB anonymous, {:.2} MiB mapped from files: the binary's code)",
        idle_rss as f64 / 1024.0,
        idle_anon as f64 / 1024.0,
        idle_file as f64 / 1024.0
    );
    println!(
        "  start → first discovery config: {:.0} ms",
        to_first_config.as_secs_f64() * 1000.0
    );
    match connack_to_config {
        Some(d) => println!(
            "  ConnAck (logged) → first discovery config received: {:.1} ms",
            d.as_secs_f64() * 1000.0
        ),
        None => println!(
            "  ConnAck → first discovery config: not measurable (log line missing or after the config)"
        ),
    }
    println!(
        "  start → first sync done: {:.2} s; {}",
        sync_time.as_secs_f64(),
        calls.split("INFO").last().unwrap_or("").trim()
    );
    println!(
        "  web page: {} bytes; over HTTP (the server reads the store and draws): median {:.1} ms, max {:.1} ms over {} loads",
        page.bytes, page.http_median_ms, page.http_max_ms, page.loads
    );
    println!(
        "  web page in headless Chromium (navigation start → load event): median {:.1} ms, max {:.1} ms; a one-line page, loads interleaved: median {:.1} ms (Chromium's own cost here)",
        page.browser_median_ms, page.browser_max_ms, page.trivial_median_ms
    );
    println!(
        "  RSS idle {closed_for} s after the page was closed: {:.2} MiB ({:.2} MiB anonymous, {:.2} MiB mapped from files)",
        idle_after_page as f64 / 1024.0,
        after_anon as f64 / 1024.0,
        after_file as f64 / 1024.0
    );
}

/// How the page loaded.
struct PageLoads {
    loads: usize,
    bytes: usize,
    http_median_ms: f64,
    http_max_ms: f64,
    browser_median_ms: f64,
    browser_max_ms: f64,
    /// A one-line page served beside it, loaded in turn with it.
    trivial_median_ms: f64,
}

/// Median and maximum of `times` (ms).
fn median_max(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
    (median, times.last().copied().unwrap_or(f64::NAN))
}

/// Loads the page `loads` times over HTTP, then in Chromium; the browser is closed after.
async fn page_loads(url: &str, loads: usize) -> PageLoads {
    let client = reqwest::Client::new();
    let mut bytes = 0;
    let mut http = Vec::new();
    for _ in 0..loads {
        let started = Instant::now();
        let body = client.get(url).send().await.unwrap().text().await.unwrap();
        http.push(started.elapsed().as_secs_f64() * 1000.0);
        bytes = body.len();
    }
    let trivial = axum::Router::new().route(
        "/",
        axum::routing::get(|| async {
            axum::response::Html("<!doctype html><link rel=icon href=\"data:,\"><title>t</title>t")
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trivial_url = format!("http://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(axum::serve(listener, trivial).into_future());
    let mut browser = browser::Browser::start().await;
    let (mut in_browser, mut trivial_loads) = (Vec::new(), Vec::new());
    let timing = "performance.getEntriesByType('navigation')[0].loadEventStart";
    for _ in 0..loads {
        browser.open(url).await;
        in_browser.push(browser.eval(timing).await.as_f64().unwrap_or(f64::NAN));
        browser.open(&trivial_url).await;
        trivial_loads.push(browser.eval(timing).await.as_f64().unwrap_or(f64::NAN));
    }
    server.abort();
    assert_eq!(browser.errors(), Vec::<String>::new());
    drop(browser);
    let (http_median_ms, http_max_ms) = median_max(http);
    let (browser_median_ms, browser_max_ms) = median_max(in_browser);
    let (trivial_median_ms, _) = median_max(trivial_loads);
    PageLoads {
        trivial_median_ms,
        loads,
        bytes,
        http_median_ms,
        http_max_ms,
        browser_median_ms,
        browser_max_ms,
    }
}

/// A `/proc/PID/status` field in KiB (0 when the process is gone).
/// The timestamp at the start of a tracing line.
fn log_time(line: &str) -> Option<DateTime<Utc>> {
    line.split_whitespace().next()?.parse().ok()
}
