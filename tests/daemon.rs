//! The daemon (`run`) and `once` as a user runs them: the real binary, a private mosquitto,
//! the fake gateway. Covers the session's life: discovery and states, broker restart,
//! Home Assistant's birth message, SIGTERM, a crash in the middle of a sync.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};
use support::*;
use tokio::process::{Child, Command};

const PDL: &str = "12345678901234";
const WAIT: Duration = Duration::from_secs(15);

fn entity_keys() -> [&'static str; 3] {
    [
        "consumption_daily",
        "consumption_yesterday",
        "consumption_monthly",
    ]
}

struct Setup {
    broker: Mosquitto,
    gateway: FakeGateway,
    dir: tempfile::TempDir,
}

impl Setup {
    /// A broker, a gateway serving `days` days up to yesterday, an options file.
    fn new(days: u64) -> Self {
        let broker = Mosquitto::start(BrokerKind::Anonymous);
        let gateway = FakeGateway::start();
        let today = gateway.today();
        let first = today - chrono::Days::new(days);
        gateway.set_pdls(&[(PDL, Some(first))]);
        gateway.fill(
            PDL,
            Series::Consumption,
            first,
            today.pred_opt().unwrap(),
            wh_of,
        );
        let dir = tempfile::tempdir().unwrap();
        let setup = Self {
            broker,
            gateway,
            dir,
        };
        std::fs::write(setup.options_path(), setup.options_json()).unwrap();
        setup
    }

    fn options_path(&self) -> PathBuf {
        self.dir.path().join("options.json")
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn options_json(&self) -> String {
        serde_json::json!({
            "client_secret": "secret-123",
            "gateway_url": self.gateway.url(),
            "mqtt_broker": self.broker.url(),
            "meters": [{"pdl": PDL, "name": "Maison"}],
        })
        .to_string()
    }

    fn command(&self, subcommand: &str) -> Command {
        program::test_command(subcommand, &self.options_path(), &self.data_dir())
    }

    fn spawn_daemon(&self) -> Child {
        self.command("run").spawn().unwrap()
    }

    async fn once(&self) -> (bool, String) {
        let output = within(
            Duration::from_secs(60),
            "once",
            self.command("once").output(),
        )
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        (output.status.success(), text)
    }
}

fn wh_of(day: NaiveDate) -> i64 {
    10_000 + i64::from(chrono::Datelike::ordinal(&day))
}

fn config_topic(key: &str) -> String {
    format!("homeassistant/sensor/med_{PDL}_{key}/config")
}

fn state_topic(path: &str) -> String {
    format!("myelectricaldata/{PDL}/{path}")
}

async fn wait_online_and_discovered(probe: &MqttProbe) {
    probe
        .wait_for_text("myelectricaldata/status", "online", WAIT)
        .await;
    for key in entity_keys() {
        probe
            .wait_for(&config_topic(key), |p| !p.is_empty(), WAIT)
            .await;
    }
    probe
        .wait_for(&state_topic("consumption/daily"), |p| !p.is_empty(), WAIT)
        .await;
}

fn sigterm(child: &Child) {
    let pid = child.id().expect("the daemon is running");
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn sigkill(child: &Child) {
    let pid = child.id().expect("the daemon is running");
    std::process::Command::new("kill")
        .arg("-KILL")
        .arg(pid.to_string())
        .status()
        .unwrap();
}

async fn stop_daemon(mut child: Child) -> String {
    sigterm(&child);
    let status = within(Duration::from_secs(5), "exit after SIGTERM", child.wait())
        .await
        .unwrap();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = pipe.read_to_string(&mut stderr).await;
    }
    assert!(status.success(), "exit status {status:?}\n{stderr}");
    stderr
}

#[tokio::test]
async fn once_publishes_discovery_and_states_then_a_rerun_fetches_nothing() {
    let setup = Setup::new(40);
    let probe = MqttProbe::connect(&setup.broker, &["#"]).await;
    let (ok, output) = setup.once().await;
    assert!(ok, "{output}");
    // 40 days after activation: one daily call, plus the account's meter list.
    assert_eq!(
        (setup.gateway.daily_calls(), setup.gateway.pdl_calls()),
        (1, 1),
        "{:#?}",
        setup.gateway.requests()
    );

    let retained = MqttProbe::retained_snapshot(&setup.broker, "#").await;
    assert_eq!(
        retained.get("myelectricaldata/status").map(Vec::as_slice),
        Some(&b"online"[..]),
        "once leaves online"
    );
    for key in entity_keys() {
        let config: serde_json::Value =
            serde_json::from_slice(&retained[&config_topic(key)]).unwrap();
        assert_eq!(config["unique_id"], format!("med_{PDL}_{key}"));
        assert_eq!(config["device"]["name"], "MyElectricalData - Maison");
    }
    let yesterday = setup.gateway.today().pred_opt().unwrap();
    let daily: serde_json::Value =
        serde_json::from_slice(&retained[&state_topic("consumption/daily")]).unwrap();
    assert_eq!(daily["date"], yesterday.to_string());
    assert_eq!(daily["value"], wh_of(yesterday) as f64 / 1000.0);
    let before_yesterday = yesterday.pred_opt().unwrap();
    let previous: serde_json::Value =
        serde_json::from_slice(&retained[&state_topic("consumption/yesterday")]).unwrap();
    assert_eq!(previous["date"], before_yesterday.to_string());
    assert_eq!(previous["value"], wh_of(before_yesterday) as f64 / 1000.0);
    let monthly: serde_json::Value =
        serde_json::from_slice(&retained[&state_topic("consumption/monthly")]).unwrap();
    let month_start = yesterday.with_day0(0).unwrap();
    let expected: i64 = month_start
        .iter_days()
        .take_while(|d| *d <= yesterday)
        .map(wh_of)
        .sum();
    assert_eq!(monthly["value"], expected as f64 / 1000.0);
    // Discovery configs come before the states they describe.
    let order: Vec<String> = probe.messages().into_iter().map(|m| m.topic).collect();
    let first_state = order
        .iter()
        .position(|t| t == &state_topic("consumption/daily"))
        .unwrap();
    let last_config = order.iter().rposition(|t| t.ends_with("/config")).unwrap();
    assert!(last_config < first_state, "{order:#?}");

    // A restart with a complete store asks the gateway nothing.
    let (ok, output) = setup.once().await;
    assert!(ok, "{output}");
    assert_eq!(
        (setup.gateway.daily_calls(), setup.gateway.pdl_calls()),
        (1, 1)
    );
}

#[tokio::test]
async fn sigterm_publishes_offline_and_exits_zero_within_five_seconds() {
    let setup = Setup::new(10);
    let probe = MqttProbe::connect(&setup.broker, &["#"]).await;
    let daemon = setup.spawn_daemon();
    wait_online_and_discovered(&probe).await;
    let started = Instant::now();
    let log = stop_daemon(daemon).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    probe
        .wait_for_text("myelectricaldata/status", "offline", WAIT)
        .await;
    let retained = MqttProbe::retained_snapshot(&setup.broker, "myelectricaldata/status").await;
    assert_eq!(
        retained["myelectricaldata/status"], b"offline",
        "offline is retained"
    );
    assert!(log.contains("stopping"), "{log}");
}

#[tokio::test]
async fn the_daemon_serves_its_page_on_web_port_and_closes_it_on_sigterm() {
    support::probe::install_crypto_provider();
    let setup = Setup::new(10);
    let port = free_port();
    let probe = MqttProbe::connect(&setup.broker, &["#"]).await;
    let daemon = setup
        .command("run")
        .env("WEB_PORT", port.to_string())
        .spawn()
        .unwrap();
    wait_online_and_discovered(&probe).await;
    let url = format!("http://127.0.0.1:{port}/");
    let page = within(WAIT, "the page", async {
        loop {
            if let Ok(answer) = reqwest::get(&url).await {
                let page = answer.text().await.unwrap_or_default();
                if page.contains("connecté depuis") {
                    return page;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(page.contains("Maison") && page.contains(PDL), "{page}");
    assert!(page.contains("<svg"), "the charts of the days synced");
    assert!(!page.contains("secret-123"));
    let log = stop_daemon(daemon).await;
    assert!(
        log.contains(&format!("web page on 127.0.0.1:{port}")),
        "{log}"
    );
    let closed = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert!(closed.is_err(), "the page is closed with the daemon");
}

#[tokio::test]
async fn a_broker_restart_gets_everything_republished() {
    // No persistence: the restarted broker has forgotten every retained message.
    let mut setup = Setup::new(10);
    let probe = MqttProbe::connect(&setup.broker, &["#"]).await;
    let daemon = setup.spawn_daemon();
    wait_online_and_discovered(&probe).await;

    setup.broker.restart();
    probe.wait_connections(2, WAIT).await;
    let retained = loop_until_retained(&setup.broker, &config_topic("consumption_daily")).await;
    assert!(
        retained.contains_key(&state_topic("consumption/daily")),
        "{:?}",
        retained.keys()
    );
    assert_eq!(
        retained.get("myelectricaldata/status").map(Vec::as_slice),
        Some(&b"online"[..])
    );
    for key in entity_keys() {
        assert!(
            retained.contains_key(&config_topic(key)),
            "{key} not republished"
        );
    }
    // The gateway was not asked again for what the store has.
    assert_eq!(setup.gateway.daily_calls(), 1);
    stop_daemon(daemon).await;
}

/// A huge meter name made every discovery config too large for the broker, which dropped the
/// client: a reconnection every second. The name is now refused by the configuration (the
/// session's own 64 KiB bound is tested in `tests/mqtt_session.rs`).
#[tokio::test]
async fn a_meter_name_too_long_is_refused_before_any_connection() {
    let setup = Setup::new(10);
    let mut options: serde_json::Value = serde_json::from_str(&setup.options_json()).unwrap();
    options["meters"][0]["name"] = "M".repeat(100_000).into();
    std::fs::write(setup.options_path(), options.to_string()).unwrap();
    let (ok, output) = setup.once().await;
    assert!(!ok, "{output}");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(
        lines,
        ["configuration: meters[0].name: at most 64 characters, got 100000"],
        "{output}"
    );
    let sessions = setup
        .broker
        .log()
        .lines()
        .filter(|l| l.contains("New client connected") && l.contains("myelectricaldata-mqtt-"))
        .count();
    assert_eq!(sessions, 0);
}

#[tokio::test]
async fn a_broker_that_drops_every_session_after_its_connack_draws_few_connections() {
    let setup = Setup::new(10);
    let dropping = DroppingBroker::start(Duration::from_millis(200));
    let mut options: serde_json::Value = serde_json::from_str(&setup.options_json()).unwrap();
    options["mqtt_broker"] = dropping.url().into();
    std::fs::write(setup.options_path(), options.to_string()).unwrap();
    let daemon = setup.spawn_daemon();
    // Waits of 1, 2, 4 then 8 s (±20 %) between sessions: 4 or 5 in 12 s, where a wait of 1 s
    // after every ConnAck gives about 10.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let connections = dropping.connections();
    let log = stop_daemon(daemon).await;
    assert!(
        (2..=5).contains(&connections),
        "{connections} sessions in 12 s\n{log}"
    );
    assert!(log.contains("retrying in"), "{log}");
}

/// Retained messages, once `topic` is among them (the daemon reconnects with backoff).
async fn loop_until_retained(
    broker: &Mosquitto,
    topic: &str,
) -> std::collections::BTreeMap<String, Vec<u8>> {
    let deadline = Instant::now() + WAIT;
    loop {
        let retained = MqttProbe::retained_snapshot(broker, "#").await;
        if retained.contains_key(topic) && retained.contains_key(&state_topic("consumption/daily"))
        {
            return retained;
        }
        assert!(
            Instant::now() < deadline,
            "{topic} never came back: {:?}",
            retained.keys()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn home_assistant_birth_gets_configs_then_states_republished() {
    let setup = Setup::new(10);
    let probe = MqttProbe::connect(&setup.broker, &["#"]).await;
    let daemon = setup.spawn_daemon();
    wait_online_and_discovered(&probe).await;

    let mark = probe.mark();
    probe.publish("homeassistant/status", "online", false).await;
    let config = probe
        .wait_for_after(
            mark,
            &config_topic("consumption_daily"),
            |p| !p.is_empty(),
            Duration::from_secs(10),
        )
        .await;
    // (A broker clears the retain flag on live deliveries; retention is checked elsewhere.)
    assert!(!config.payload.is_empty());
    probe
        .wait_for_after(
            mark,
            &state_topic("consumption/daily"),
            |p| !p.is_empty(),
            WAIT,
        )
        .await;
    // The first sync's last states may still be arriving: the republication starts at the
    // first config after the birth, and the session sends it after everything queued before.
    let after: Vec<String> = probe.messages()[mark..]
        .iter()
        .map(|m| m.topic.clone())
        .skip_while(|t| !t.ends_with("/config"))
        .collect();
    let first_state = after
        .iter()
        .position(|t| t.starts_with("myelectricaldata/"))
        .unwrap();
    let last_config = after.iter().rposition(|t| t.ends_with("/config")).unwrap();
    assert!(
        last_config < first_state,
        "configs before states: {after:#?}"
    );
    // Something else on the status topic is not a birth.
    let mark = probe.mark();
    probe
        .publish("homeassistant/status", "offline", false)
        .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        probe.messages()[mark..]
            .iter()
            .all(|m| !m.topic.ends_with("/config")),
        "republished on a non-birth message"
    );
    stop_daemon(daemon).await;
}

#[tokio::test]
async fn a_crash_in_the_middle_of_a_sync_leaves_whole_ranges_and_the_next_run_resumes() {
    // Three years of history: three daily ranges. Each answer is slowed down so that the
    // daemon can be killed while the second one is in flight.
    let setup = Setup::new(3 * 365 + 30);
    for _ in 0..3 {
        setup
            .gateway
            .push_fault_on(FaultOn::Daily, Fault::Delay(Duration::from_millis(1500)));
    }
    let probe = MqttProbe::connect(&setup.broker, &["myelectricaldata/status"]).await;
    let daemon = setup.spawn_daemon();
    eventually(WAIT, "the second daily request", || {
        setup.gateway.daily_calls() >= 2
    })
    .await;
    sigkill(&daemon);
    // The broker tells everyone through the last will.
    probe
        .wait_for_text("myelectricaldata/status", "offline", WAIT)
        .await;
    drop(daemon);

    let first_ranges: Vec<(String, String)> = setup
        .gateway
        .daily_requests()
        .iter()
        .map(|r| {
            (
                r.query_param("start").unwrap(),
                r.query_param("end").unwrap(),
            )
        })
        .collect();
    assert_eq!(first_ranges.len(), 2, "{first_ranges:?}");

    let stored = stored_days(&setup.data_dir()).await;
    let (start0, end0) = (&first_ranges[0].0, &first_ranges[0].1);
    let in_first = |d: &String| d >= start0 && d < end0;
    assert!(
        stored.iter().all(in_first),
        "only the first range may be stored"
    );
    assert_eq!(
        stored.len() as i64,
        days_between(start0, end0),
        "the first range is complete"
    );

    setup.gateway.clear_requests();
    let (ok, output) = setup.once().await;
    assert!(ok, "{output}");
    // The history window is 36 months back from today (Paris), in ranges of 365 days.
    let today = setup.gateway.today();
    let window = (today - today.checked_sub_months(chrono::Months::new(36)).unwrap()).num_days();
    let ranges = (window + 364) / 365;
    let resumed: Vec<String> = setup
        .gateway
        .daily_requests()
        .iter()
        .map(|r| r.query_param("start").unwrap())
        .collect();
    assert_eq!(
        resumed.len() as i64,
        ranges - 1,
        "only the missing ranges: {resumed:?}"
    );
    assert!(resumed.iter().all(|s| s >= end0), "{resumed:?}");
    assert_eq!(stored_days(&setup.data_dir()).await.len() as i64, window);
}

fn days_between(start: &str, end: &str) -> i64 {
    let parse = |s: &str| s.parse::<NaiveDate>().unwrap();
    (parse(end) - parse(start)).num_days()
}

/// Days with a value in the store, read through the library.
async fn stored_days(data_dir: &Path) -> Vec<String> {
    let store = myelectricaldata_mqtt::store::Store::open(data_dir)
        .await
        .unwrap();
    let pdl = myelectricaldata_mqtt::model::Pdl::parse(PDL).unwrap();
    let status = store
        .daily_status(
            &pdl,
            myelectricaldata_mqtt::model::SeriesKind::Consumption,
            NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(2100, 1, 1).unwrap(),
        )
        .await
        .unwrap();
    store.close().await;
    status
        .into_iter()
        .filter(|(_, wh)| wh.is_some())
        .map(|(d, _)| d.to_string())
        .collect()
}
