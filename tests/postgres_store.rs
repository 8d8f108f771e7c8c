//! The PostgreSQL store end to end (`database_url`): the same publication as SQLite's, and
//! the bad cases — a server down at start, killed in the middle of a sync, a `check` that
//! names the store. Each test starts its own PostgreSQL (initdb + pg_ctl, a free loopback
//! port), its own mosquitto and the fake gateway; never the machine's shared services.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Datelike, NaiveDate};
use myelectricaldata_mqtt::clock::{Clock, Sleep};
use myelectricaldata_mqtt::model::{Pdl, Secret, SeriesKind};
use myelectricaldata_mqtt::pipeline::Pipeline;
use serde_json::{Value, json};
use support::gateway::DEFAULT_PDL;
use support::*;
use tokio::process::{Child, Command};

/// A password that must never show: the server trusts every local connection anyway.
const DB_PASSWORD: &str = "db-pw-NEVER-SHOW-6e1";
const WAIT: Duration = Duration::from_secs(20);

fn wh(day: NaiveDate) -> i64 {
    9_000 + i64::from(day.ordinal())
}

fn database_url(port: u16) -> String {
    format!("postgres://postgres:{DB_PASSWORD}@127.0.0.1:{port}/postgres")
}

/// A broker, the gateway with 400 days of one meter, and the options of a run.
struct Setup {
    broker: Mosquitto,
    gateway: FakeGateway,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let gateway = FakeGateway::start();
        let yesterday = gateway.today().pred_opt().unwrap();
        let first = yesterday - chrono::Days::new(400);
        gateway.set_pdls(&[(DEFAULT_PDL, Some(first))]);
        gateway.fill(DEFAULT_PDL, Series::Consumption, first, yesterday, wh);
        let broker = Mosquitto::start(BrokerKind::Anonymous);
        let dir = tempfile::tempdir().unwrap();
        Self {
            broker,
            gateway,
            dir,
        }
    }

    /// `subcommand` with the store in SQLite (`database_url` `None`) or that PostgreSQL.
    fn command(&self, subcommand: &str, database_url: Option<&str>) -> Command {
        let mut options = json!({
            "client_secret": "secret-123",
            "gateway_url": self.gateway.url(),
            "mqtt_broker": self.broker.url(),
            "meters": [{"pdl": DEFAULT_PDL, "name": "Maison"}],
            "tempo": false,
            "ecowatt": false,
            "energy_statistics": false,
        });
        if let Some(url) = database_url {
            options["database_url"] = json!(url);
        }
        let path = self.dir.path().join(format!("options-{subcommand}.json"));
        std::fs::write(&path, options.to_string()).unwrap();
        support::program::test_command(subcommand, &path, &self.data_dir())
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs `subcommand` to its end: its exit code and its whole output.
    async fn output(&self, subcommand: &str, database_url: Option<&str>) -> (i32, String) {
        let run = self.command(subcommand, database_url).output();
        let output = within(Duration::from_secs(60), subcommand, run)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        let text = strip_ansi_escapes::strip_str(text);
        assert!(!text.contains("NEVER"), "a secret shows:\n{text}");
        (output.status.code().unwrap_or(-1), text)
    }
}

/// What the broker holds, with the instants of the run (`timestamp`, `last_sync`) blanked.
async fn publication(broker: &Mosquitto) -> BTreeMap<String, Value> {
    let retained = MqttProbe::retained_snapshot(broker, "#").await;
    retained
        .into_iter()
        .map(|(topic, payload)| {
            let mut value = serde_json::from_slice(&payload)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&payload).into()));
            for instant in ["timestamp", "last_sync"] {
                if let Some(field) = value.get_mut(instant) {
                    *field = json!("(instant of the run)");
                }
            }
            (topic, value)
        })
        .collect()
}

/// The one `store:` line of a `check` report.
fn store_line(output: &str) -> &str {
    let store: Vec<&str> = output.lines().filter(|l| l.starts_with("store:")).collect();
    assert_eq!(store.len(), 1, "{output}");
    store[0]
}

#[tokio::test]
async fn once_into_postgres_publishes_exactly_what_the_sqlite_run_publishes() {
    let server = Postgres::start();
    let sqlite = Setup::new();
    let (code, output) = sqlite.output("once", None).await;
    assert_eq!(code, 0, "{output}");
    let postgres = Setup::new();
    let url = database_url(server.port());
    let (code, output) = postgres.output("once", Some(&url)).await;
    assert_eq!(code, 0, "{output}");
    assert!(
        !postgres.data_dir().join("myelectricaldata.sqlite").exists(),
        "no SQLite file beside a PostgreSQL store"
    );
    let (from_sqlite, from_postgres) = (
        publication(&sqlite.broker).await,
        publication(&postgres.broker).await,
    );
    assert!(from_sqlite.len() > 10, "{from_sqlite:#?}");
    assert_eq!(from_postgres, from_sqlite);
    // The same requests, too: what the store holds decides what is asked.
    assert_eq!(postgres.gateway.daily_calls(), sqlite.gateway.daily_calls());
    // A second run finds everything in PostgreSQL: no daily call.
    let before = postgres.gateway.daily_calls();
    let (code, output) = postgres.output("once", Some(&url)).await;
    assert_eq!(code, 0, "{output}");
    assert_eq!(postgres.gateway.daily_calls(), before, "{output}");
}

#[tokio::test]
async fn check_names_the_store_and_says_in_one_line_why_postgres_cannot_be_reached() {
    let server = Postgres::start();
    let setup = Setup::new();
    let url = database_url(server.port());
    let (code, output) = setup.output("check", Some(&url)).await;
    let expected = format!(
        "store:   ok — PostgreSQL 127.0.0.1:{}/postgres, schema up to date",
        server.port()
    );
    assert!(output.lines().any(|l| l == expected), "{output}");
    assert_eq!(code, 0, "{output}");
    drop(server);
    let (code, output) = setup.output("check", Some(&url)).await;
    let store = store_line(&output);
    assert!(
        store.starts_with("store:   FAILED — cannot open the store (PostgreSQL 127.0.0.1:"),
        "{output}"
    );
    assert_eq!(code, 1, "{output}");
}

#[tokio::test]
async fn a_refused_password_is_one_line_that_never_shows_it() {
    let server = Postgres::with_password("the-right-one");
    let setup = Setup::new();
    let url = database_url(server.port());
    let (code, output) = setup.output("check", Some(&url)).await;
    let store = store_line(&output);
    assert!(
        store.starts_with("store:   FAILED — cannot open the store (PostgreSQL"),
        "{output}"
    );
    assert!(store.contains("password authentication failed"), "{output}");
    assert_eq!(code, 1, "{output}");
    let right = format!(
        "postgres://postgres:the-right-one@127.0.0.1:{}/postgres",
        server.port()
    );
    let (code, output) = setup.output("check", Some(&right)).await;
    assert!(output.contains("store:   ok — PostgreSQL"), "{output}");
    assert!(!output.contains("the-right-one"), "{output}");
    assert_eq!(code, 0, "{output}");
}

#[tokio::test]
async fn tls_follows_sslmode_as_libpq_reads_it() {
    let server = Postgres::with_tls();
    let plain = Postgres::start();
    let setup = Setup::new();
    let ca = server.ca_cert_path();
    let url = |server: &Postgres, query: &str| {
        format!(
            "postgres://postgres@localhost:{}/postgres?{query}",
            server.port()
        )
    };
    let verified = url(
        &server,
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    );
    let (code, output) = setup.output("check", Some(&verified)).await;
    assert!(
        store_line(&output).starts_with("store:   ok — PostgreSQL localhost:"),
        "{output}"
    );
    assert_eq!(code, 0, "{output}");
    // Required but not offered, or offered by a server no known authority signed: refused.
    for refused in [
        url(&plain, "sslmode=require"),
        url(&server, "sslmode=verify-full"),
    ] {
        let (code, output) = setup.output("check", Some(&refused)).await;
        assert!(
            store_line(&output).starts_with("store:   FAILED — "),
            "{refused}: {output}"
        );
        assert_eq!(code, 1, "{output}");
    }
    // `prefer` (the default) takes TLS where it is offered, and plain where it is not.
    for server in [&server, &plain] {
        let (code, output) = setup
            .output("check", Some(&url(server, "sslmode=prefer")))
            .await;
        assert_eq!(code, 0, "{output}");
    }
}

#[tokio::test]
async fn once_fails_in_one_line_when_postgres_is_down_and_writes_nothing_elsewhere() {
    let setup = Setup::new();
    let url = database_url(free_port());
    let (code, output) = setup.output("once", Some(&url)).await;
    assert_eq!(code, 1, "{output}");
    let errors: Vec<&str> = output.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{output}");
    assert!(
        errors[0].contains("cannot open the store (PostgreSQL 127.0.0.1:"),
        "{output}"
    );
    assert_eq!(
        setup.gateway.daily_calls(),
        0,
        "nothing fetched without a store"
    );
    assert!(!setup.data_dir().join("myelectricaldata.sqlite").exists());
}

#[tokio::test]
async fn an_unknown_scheme_is_a_configuration_error() {
    let setup = Setup::new();
    let (code, output) = setup
        .output("once", Some("mysql://me:db-pw-NEVER-SHOW@db/linky"))
        .await;
    assert_eq!(code, 2, "{output}");
    assert!(
        output
            .contains("database_url: expected postgres://… or postgresql://…, got a \"mysql\" URL"),
        "{output}"
    );
}

async fn stop_daemon(mut child: Child) -> String {
    let pid = child.id().expect("the daemon is running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = within(Duration::from_secs(5), "exit after SIGTERM", child.wait())
        .await
        .unwrap();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = pipe.read_to_string(&mut stderr).await;
    }
    assert!(status.success(), "exit status {status:?}\n{stderr}");
    strip_ansi_escapes::strip_str(stderr)
}

#[tokio::test]
async fn run_keeps_mqtt_up_while_postgres_is_down_and_publishes_once_it_is_back() {
    let setup = Setup::new();
    let port = free_port();
    let probe = MqttProbe::connect(&setup.broker, &["#"]).await;
    let daemon = setup
        .command("run", Some(&database_url(port)))
        .spawn()
        .unwrap();
    // Up without a store: online, answering Home Assistant, nothing fetched yet.
    probe
        .wait_for_text("myelectricaldata/status", "online", WAIT)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(setup.gateway.daily_calls(), 0);
    let state = format!("myelectricaldata/{DEFAULT_PDL}/consumption/daily");
    assert!(probe.last(&state).is_none());
    // The server comes up on the port the daemon keeps trying (5 s, then 10 s…).
    let server = Postgres::start_on(port);
    // The retry after 5 s (±20 %) finds it, or the one 10 s later on a busy machine.
    let daily = probe.wait_for(&state, |p| !p.is_empty(), WAIT + WAIT).await;
    let yesterday = setup.gateway.today().pred_opt().unwrap();
    assert_eq!(daily.json()["date"], yesterday.to_string());
    let log = stop_daemon(daemon).await;
    assert!(!log.contains("NEVER"), "{log}");
    let retries: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("trying again in"))
        .collect();
    assert!(!retries.is_empty(), "{log}");
    assert!(
        retries
            .iter()
            .all(|l| l.contains("cannot open the store (PostgreSQL 127.0.0.1:")),
        "{log}"
    );
    assert!(
        log.contains(&format!("store: PostgreSQL 127.0.0.1:{port}/postgres open")),
        "{log}"
    );
    drop(server);
}

/// The day of [`backfill_into`]'s harness, and 36 months before it: the first day asked.
const TODAY: NaiveDate = NaiveDate::from_ymd_opt(2024, 1, 16).unwrap();
const FIRST: NaiveDate = NaiveDate::from_ymd_opt(2021, 1, 16).unwrap();

/// A harness keeping its store in `server`, the gateway with a meter activated long ago:
/// a 3-year backfill in three yearly ranges, the second answered after `second_delay`.
fn backfill_into(server: &Postgres, second_delay: Duration) -> Harness {
    let mut h = Harness::linky(
        Generation::V2,
        "2024-01-16T09:00:00Z",
        &[json!({ "pdl": DEFAULT_PDL })],
    );
    h.settings.database = Some(Secret::new(server.url()));
    h.gw.set_pdls(&[(DEFAULT_PDL, Some(day(2015, 5, 24)))]);
    h.gw.fill(DEFAULT_PDL, Series::Consumption, day(2020, 1, 1), TODAY, wh);
    h.gw.push_fault_on(FaultOn::Daily, Fault::Delay(Duration::ZERO));
    h.gw.push_fault_on(FaultOn::Daily, Fault::Delay(second_delay));
    h
}

/// Days of `[from, to)` the store has a row for (a value or "not yet").
async fn recorded(pipeline: &Pipeline, from: NaiveDate, to: NaiveDate) -> usize {
    let pdl = Pdl::parse(DEFAULT_PDL).unwrap();
    let last = to.pred_opt().unwrap();
    let status = pipeline
        .store
        .daily_status(&pdl, SeriesKind::Consumption, from, last);
    within(T, "daily status", status)
        .await
        .expect("store")
        .len()
}

#[tokio::test]
async fn a_postgres_killed_mid_sync_leaves_whole_ranges_and_the_next_sync_completes() {
    let server = Postgres::start();
    // The first yearly range goes through; the second waits, and the server dies meanwhile.
    let h = backfill_into(&server, Duration::from_secs(2));
    let pipeline = h.open().await;
    let kill = async {
        eventually(T, "the second range asked", || {
            h.gw.daily_requests().len() >= 2
        })
        .await;
        server.kill();
    };
    let (summary, ()) = tokio::join!(sync(&pipeline), kill);
    assert!(!summary.errors.is_empty(), "the sync saw the server go");
    assert!(
        summary.transient(),
        "worth retrying soon: {:?}",
        summary.errors
    );
    server.resume();
    // Each answer is in the store whole, or not at all.
    let asked: Vec<(NaiveDate, NaiveDate)> =
        h.gw.daily_requests()
            .iter()
            .map(|r| {
                let (start, end) = r.range().unwrap();
                (start.parse().unwrap(), end.parse().unwrap())
            })
            .collect();
    for (start, end) in &asked {
        let held = recorded(&pipeline, *start, *end).await;
        let days = (*end - *start).num_days() as usize;
        assert!(
            held == 0 || held == days,
            "{held} of {days} days of {start}–{end}"
        );
    }
    assert_eq!(recorded(&pipeline, asked[0].0, asked[0].1).await, 365);
    // The same pipeline (its connection replaced) completes on the next sync.
    let summary = sync(&pipeline).await;
    assert_ok(&summary);
    assert!(summary.complete);
    assert!(whole(&pipeline).await);
}

/// The daemon's clock in [`the_daemon_recovers_from_a_postgres_restarted_mid_sync`]: time
/// runs 600 times faster than the wall clock, so that its 5-minute retry comes after half a
/// second.
struct FastClock {
    started: std::time::Instant,
    start: chrono::DateTime<chrono::Utc>,
}

const SPEED: u32 = 600;

impl Clock for FastClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let elapsed = self.started.elapsed() * SPEED;
        self.start + chrono::Duration::from_std(elapsed).unwrap()
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        Box::pin(tokio::time::sleep(duration / SPEED))
    }
}

/// Every day of [`backfill_into`]'s three years is in the store, with the gateway's value.
async fn whole(pipeline: &Pipeline) -> bool {
    let pdl = Pdl::parse(DEFAULT_PDL).unwrap();
    let yesterday = TODAY.pred_opt().unwrap();
    let days = pipeline
        .store
        .days(&pdl, SeriesKind::Consumption, FIRST, yesterday);
    days.await.is_ok_and(|days| {
        days.len() as i64 == (TODAY - FIRST).num_days() && days.iter().all(|d| d.wh == wh(d.date))
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_recovers_from_a_postgres_restarted_mid_sync() {
    let server = Postgres::start();
    let h = backfill_into(&server, Duration::from_secs(1));
    let clock = FastClock {
        started: std::time::Instant::now(),
        start: h.now(),
    };
    let pipeline = Pipeline::open(h.settings.clone(), h.gateway(), Arc::new(clock))
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = myelectricaldata_mqtt::app::run(&pipeline, async {
        let _ = stopped.await;
    });
    let scenario = async {
        eventually(T, "the second range asked", || {
            h.gw.daily_requests().len() >= 2
        })
        .await;
        tokio::task::block_in_place(|| server.kill());
        // Down longer than a write waits for its connection (10 s): the sync fails. (A
        // shorter outage is waited out by the write itself.)
        tokio::time::sleep(Duration::from_secs(11)).await;
        tokio::task::block_in_place(|| server.resume());
        let deadline = std::time::Instant::now() + WAIT;
        while !whole(&pipeline).await {
            assert!(
                std::time::Instant::now() < deadline,
                "the daemon did not recover"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = stop.send(());
    };
    let (ran, ()) = tokio::join!(daemon, scenario);
    ran.expect("the daemon carried on through the outage");
    // Three yearly ranges, and again those the outage lost: a second sync did it.
    let asked = h.gw.daily_requests().len();
    assert!(asked > 3, "{asked} daily requests");
}
