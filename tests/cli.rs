//! The real binary, end to end: exit statuses and the one-line messages of configuration
//! errors, `check` (broker, Supervisor discovery, gateway) and `once`.
//!
//! Every run starts from an empty environment (PATH plus what the test sets), a fresh
//! `--data-dir` and its own `--options` file, is killed after 30 s, and has its whole output
//! (stdout and stderr) checked for every secret used in this file.

mod support;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use chrono::{Datelike, NaiveDate};
use serde_json::{Value, json};
use support::*;
use tempfile::TempDir;
use tokio::io::AsyncReadExt;

const BIN: &str = env!("CARGO_BIN_EXE_myelectricaldata-mqtt");
/// No run of the binary may take longer than this.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);
/// Waits on the MQTT observer.
const T: Duration = Duration::from_secs(10);

/// Every secret below contains this marker: it must never show in any output.
const SECRET_MARK: &str = "NEVER-SHOW";
const CLIENT_SECRET: &str = "cs-NEVER-SHOW-4f9c2a";
const WRONG_CLIENT_SECRET: &str = "cs-wrong-NEVER-SHOW-77e1";
const BROKER_PASSWORD: &str = "mqtt-pw-NEVER-SHOW-b81d";
const WRONG_BROKER_PASSWORD: &str = "mqtt-wrong-NEVER-SHOW-0c5f";
const SUPERVISOR_TOKEN: &str = "sup-token-NEVER-SHOW-c03e";
const OTHER_SUPERVISOR_TOKEN: &str = "sup-other-NEVER-SHOW-5d17";
const SUPERVISOR_MQTT_USER: &str = "addons";
const SUPERVISOR_MQTT_PASSWORD: &str = "sup-mqtt-NEVER-SHOW-92aa";
const ALL_SECRETS: &[&str] = &[
    CLIENT_SECRET,
    WRONG_CLIENT_SECRET,
    BROKER_PASSWORD,
    WRONG_BROKER_PASSWORD,
    SUPERVISOR_TOKEN,
    OTHER_SUPERVISOR_TOKEN,
    SUPERVISOR_MQTT_PASSWORD,
];

const PDL: &str = support::gateway::DEFAULT_PDL;
const OTHER_PDL: &str = "98765432109876";

// ---------------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------------

/// One invocation of the binary, built step by step.
struct Cli {
    dir: TempDir,
    command: Option<&'static str>,
    options: Option<PathBuf>,
    env: BTreeMap<String, String>,
}

impl Cli {
    /// `BIN --data-dir <fresh> COMMAND`, environment: PATH and SUPERVISOR_TOKEN only.
    fn new(command: &'static str) -> Cli {
        let dir = tempfile::Builder::new()
            .prefix("cli-test-")
            .tempdir()
            .expect("cannot create a temporary directory");
        std::fs::create_dir(dir.path().join("data")).expect("cannot create the data dir");
        let mut env = BTreeMap::new();
        env.insert(
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
        );
        env.insert("SUPERVISOR_TOKEN".to_string(), SUPERVISOR_TOKEN.to_string());
        Cli {
            dir,
            command: Some(command),
            options: None,
            env,
        }
    }

    /// No subcommand at all (the default, `run`).
    fn default_command() -> Cli {
        let mut cli = Cli::new("run");
        cli.command = None;
        cli
    }

    /// Writes `options` to a temporary `options.json` passed with `--options`.
    fn options(mut self, options: &Value) -> Cli {
        let path = self.dir.path().join("options.json");
        std::fs::write(&path, serde_json::to_vec_pretty(options).unwrap())
            .expect("cannot write options.json");
        self.options = Some(path);
        self
    }

    /// `--options` pointing at a file that does not exist.
    fn missing_options(mut self) -> (Cli, PathBuf) {
        let path = self.dir.path().join("no-such-options.json");
        self.options = Some(path.clone());
        (self, path)
    }

    fn env(mut self, name: &str, value: &str) -> Cli {
        self.env.insert(name.to_string(), value.to_string());
        self
    }

    fn without_env(mut self, name: &str) -> Cli {
        self.env.remove(name);
        self
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs to completion (killed after `RUN_TIMEOUT`, which fails the test) and checks that
    /// no secret shows in the output.
    async fn run(&self) -> Outcome {
        let mut args: Vec<OsString> = Vec::new();
        if let Some(options) = &self.options {
            args.push("--options".into());
            args.push(options.clone().into());
        }
        args.push("--data-dir".into());
        args.push(self.data_dir().into());
        if let Some(command) = self.command {
            args.push(command.into());
        }
        let shown = format!(
            "env [{}] {} {}",
            self.env.keys().cloned().collect::<Vec<_>>().join(","),
            BIN,
            args.iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut child = tokio::process::Command::new(BIN)
            .args(&args)
            .env_clear()
            .envs(&self.env)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
        let stdout = read_all(child.stdout.take().expect("piped stdout"));
        let stderr = read_all(child.stderr.take().expect("piped stderr"));
        let status = match tokio::time::timeout(RUN_TIMEOUT, child.wait()).await {
            Ok(status) => Some(status.expect("cannot wait for the binary")),
            Err(_) => {
                let _ = child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                None
            }
        };
        let stdout = within(Duration::from_secs(5), "the binary's stdout", stdout)
            .await
            .expect("stdout reader");
        let stderr = within(Duration::from_secs(5), "the binary's stderr", stderr)
            .await
            .expect("stderr reader");
        let outcome = Outcome {
            shown,
            code: status.and_then(|s| s.code()),
            stdout: strip_ansi_escapes::strip_str(&stdout),
            stderr: strip_ansi_escapes::strip_str(&stderr),
        };
        assert!(
            status.is_some(),
            "the binary did not exit within {RUN_TIMEOUT:?} (killed)\n{}",
            outcome.context()
        );
        outcome.assert_no_secret();
        outcome
    }
}

fn read_all<R>(mut pipe: R) -> tokio::task::JoinHandle<String>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes).await;
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// What one run printed and how it ended.
struct Outcome {
    shown: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn context(&self) -> String {
        format!(
            "command: {}\nexit code: {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.shown, self.code, self.stdout, self.stderr
        )
    }

    fn assert_no_secret(&self) {
        for text in [&self.stdout, &self.stderr] {
            for secret in ALL_SECRETS {
                assert!(
                    !text.contains(secret),
                    "a secret ({secret}) appears in the output\n{}",
                    self.context()
                );
            }
            assert!(
                !text.contains(SECRET_MARK),
                "part of a secret appears in the output\n{}",
                self.context()
            );
        }
    }

    fn assert_code(&self, expected: i32) {
        assert_eq!(
            self.code,
            Some(expected),
            "unexpected exit status\n{}",
            self.context()
        );
    }

    fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    /// The `config:`, `broker:` and `gateway:` lines of a `check` report; the `store:` line
    /// between them says the SQLite store is fine, and the last (`ha:`) is skipped, since
    /// these options turn the statistics off.
    fn check_report(&self) -> [&str; 3] {
        let lines = self.stdout_lines();
        assert_eq!(
            lines.len(),
            5,
            "check prints exactly five lines\n{}",
            self.context()
        );
        let parts = [
            "config:  ",
            "store:   ok — SQLite ",
            "broker:  ",
            "gateway: ",
            "ha:      skipped — ",
        ];
        for (line, prefix) in lines.iter().zip(parts) {
            assert!(
                line.starts_with(prefix),
                "expected a line starting with {prefix:?}, got {line:?}\n{}",
                self.context()
            );
        }
        [lines[0], lines[2], lines[3]]
    }

    /// `check` passed: exit 0 and three `ok` lines; returns the broker line.
    fn assert_check_ok(&self) -> String {
        let [config, broker, gateway] = self.check_report();
        assert!(config.starts_with("config:  ok"), "{}", self.context());
        assert!(broker.starts_with("broker:  ok"), "{}", self.context());
        assert!(gateway.starts_with("gateway: ok"), "{}", self.context());
        self.assert_code(0);
        broker.to_string()
    }

    /// `check` failed on the broker only (exit 1); returns the explanation after the dash.
    fn assert_broker_failed(&self) -> String {
        let [config, broker, gateway] = self.check_report();
        assert!(config.starts_with("config:  ok"), "{}", self.context());
        assert!(
            gateway.starts_with("gateway: ok"),
            "the gateway part should pass\n{}",
            self.context()
        );
        let why = broker
            .strip_prefix("broker:  FAILED — ")
            .unwrap_or_else(|| panic!("expected `broker:  FAILED — …`\n{}", self.context()));
        assert!(!why.trim().is_empty(), "{}", self.context());
        self.assert_code(1);
        why.to_string()
    }

    /// `check` failed on the gateway only (exit 1); returns the explanation after the dash.
    fn assert_gateway_failed(&self) -> String {
        let [config, broker, gateway] = self.check_report();
        assert!(config.starts_with("config:  ok"), "{}", self.context());
        assert!(
            broker.starts_with("broker:  ok"),
            "the broker part should pass\n{}",
            self.context()
        );
        let why = gateway
            .strip_prefix("gateway: FAILED — ")
            .unwrap_or_else(|| panic!("expected `gateway: FAILED — …`\n{}", self.context()));
        assert!(!why.trim().is_empty(), "{}", self.context());
        self.assert_code(1);
        why.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A fake gateway that accepts `CLIENT_SECRET` and lists `PDL`.
fn gateway() -> FakeGateway {
    let gw = FakeGateway::start();
    gw.set_secret(Some(CLIENT_SECRET));
    gw
}

/// A valid options file for one meter (`PDL`) on that gateway; no broker unless given.
fn options(gw: &FakeGateway, broker: Option<&str>) -> Value {
    let mut options = json!({
        "meters": [{ "pdl": PDL, "name": "Maison" }],
        "client_secret": CLIENT_SECRET,
        "gateway_url": gw.url(),
        "tempo": false,
        "ecowatt": false,
        // The Supervisor of these tests has no Home Assistant behind it.
        "energy_statistics": false,
    });
    if let Some(broker) = broker {
        options["mqtt_broker"] = json!(broker);
    }
    options
}

/// A port on 127.0.0.1 nothing listens on.
fn closed_port() -> u16 {
    free_port()
}

fn password_broker() -> Mosquitto {
    Mosquitto::start(BrokerKind::password("ha", BROKER_PASSWORD))
}

/// The broker the fake Supervisor hands out: user `addons`, a secret password.
fn supervisor_broker() -> Mosquitto {
    Mosquitto::start(BrokerKind::password(
        SUPERVISOR_MQTT_USER,
        SUPERVISOR_MQTT_PASSWORD,
    ))
}

/// `check` with no `mqtt_broker`, asking that Supervisor with `token`.
async fn check_via_supervisor(sup_url: &str, token: &str) -> Outcome {
    let gw = gateway();
    Cli::new("check")
        .options(&options(&gw, None))
        .env("SUPERVISOR_API", sup_url)
        .env("SUPERVISOR_TOKEN", token)
        .run()
        .await
}

/// Whole Wh as kWh (exact to 3 decimals).
fn kwh(wh: i64) -> f64 {
    wh as f64 / 1000.0
}

fn assert_kwh(payload: &Value, expected_wh: i64, what: &str) {
    let value = payload["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: no numeric value in {payload}"));
    assert!(
        (value - kwh(expected_wh)).abs() < 1e-9,
        "{what}: value {value}, expected {} kWh ({expected_wh} Wh) in {payload}",
        kwh(expected_wh)
    );
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_configuration_lists_every_problem_and_exits_2() {
    let missing_ca = std::env::temp_dir().join("cli-test-no-such-dir/ca.crt");
    let bad = json!({
        "meters": [{ "pdl": "1234" }],
        "mqtt_qos": 3,
        "mqtt_broker": format!("http://user:{BROKER_PASSWORD}@broker.lan:1883"),
        "mqtt_ca_cert": missing_ca.display().to_string(),
    });
    // Whatever the command, a bad configuration stops before doing anything.
    for cli in [Cli::new("check"), Cli::new("once"), Cli::default_command()] {
        let out = cli.options(&bad).run().await;
        out.assert_code(2);
        assert_eq!(out.stdout, "", "{}", out.context());
        let lines = out.stderr_lines();
        let expected: [(&str, &[&str]); 5] = [
            ("meters[0].pdl", &["14 digits", "\"1234\""]),
            ("mqtt_qos", &["0, 1 or 2", "3"]),
            ("mqtt_broker", &["unknown scheme", "http", "mqtt://"]),
            ("client_secret", &["required"]),
            (
                "mqtt_ca_cert",
                &["does not exist", &missing_ca.display().to_string()],
            ),
        ];
        assert_eq!(
            lines.len(),
            expected.len(),
            "one line per problem, nothing else\n{}",
            out.context()
        );
        for (key, phrases) in expected {
            let prefix = format!("configuration: {key}: ");
            let matching: Vec<&&str> = lines.iter().filter(|l| l.starts_with(&prefix)).collect();
            assert_eq!(
                matching.len(),
                1,
                "expected one line starting with {prefix:?}\n{}",
                out.context()
            );
            for phrase in phrases {
                assert!(
                    matching[0].contains(phrase),
                    "the {key} line should mention {phrase:?}: {:?}\n{}",
                    matching[0],
                    out.context()
                );
            }
        }
    }
}

#[tokio::test]
async fn configuration_errors_never_show_the_secrets_they_carry() {
    let gw = gateway();
    let mut bad = options(
        &gw,
        Some(&format!(
            "mqtts://ha:{BROKER_PASSWORD}@broker.lan:8883/some/path"
        )),
    );
    bad["meters"][0]["pdl"] = json!("ABCDEFGHIJKLMN");
    let out = Cli::new("check").options(&bad).run().await;
    out.assert_code(2);
    assert_eq!(out.stdout, "", "{}", out.context());
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 2, "{}", out.context());
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("configuration: meters[0].pdl: ")),
        "{}",
        out.context()
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("configuration: mqtt_broker: ")),
        "{}",
        out.context()
    );
    // The gateway was never asked anything.
    assert!(gw.requests().is_empty(), "{:?}", gw.requests());
}

#[tokio::test]
async fn an_explicit_options_file_that_does_not_exist_exits_2() {
    let (cli, path) = Cli::new("check").missing_options();
    let out = cli.run().await;
    out.assert_code(2);
    assert_eq!(out.stdout, "", "{}", out.context());
    let expected = format!(
        "configuration: --options: the file {} does not exist",
        path.display()
    );
    assert!(
        out.stderr_lines().contains(&expected.as_str()),
        "expected the line {expected:?}\n{}",
        out.context()
    );
    assert!(
        out.stderr_lines()
            .iter()
            .all(|l| l.starts_with("configuration: ")),
        "{}",
        out.context()
    );
}

#[tokio::test]
async fn a_client_certificate_without_its_key_exits_2() {
    let broker = Mosquitto::start(BrokerKind::MutualTls);
    let gw = gateway();
    let cert = broker.client_cert_path().unwrap().display().to_string();
    let key = broker.client_key_path().unwrap().display().to_string();
    // Either half alone is refused, on the mqtt_client_cert key, before anything is asked.
    for (name, path) in [("mqtt_client_cert", &cert), ("mqtt_client_key", &key)] {
        let mut opts = options(&gw, Some(&broker.url()));
        opts["mqtt_ca_cert"] = json!(broker.ca_cert_path().unwrap().display().to_string());
        opts[name] = json!(path);
        let out = Cli::new("check").options(&opts).run().await;
        out.assert_code(2);
        assert_eq!(out.stdout, "", "{}", out.context());
        let lines = out.stderr_lines();
        assert_eq!(
            lines.len(),
            1,
            "one line for the one problem ({name} alone)\n{}",
            out.context()
        );
        assert!(
            lines[0].starts_with("configuration: mqtt_client_cert: "),
            "{name} alone: expected a line naming mqtt_client_cert\n{}",
            out.context()
        );
        assert!(
            lines[0].contains("mqtt_client_key"),
            "{name} alone: the line should name the missing half too\n{}",
            out.context()
        );
    }
    assert!(gw.requests().is_empty(), "{:?}", gw.requests());
    assert!(
        !broker.log().contains("New client connected"),
        "the broker was never contacted\n{}",
        broker.log()
    );
}

// ---------------------------------------------------------------------------------------------
// check: healthy setups
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn check_passes_with_a_healthy_setup() {
    let broker = Mosquitto::start(BrokerKind::Anonymous);
    let gw = gateway();
    let out = Cli::new("check")
        .options(&options(&gw, Some(&broker.url())))
        .run()
        .await;
    let broker_line = out.assert_check_ok();
    assert_eq!(
        broker_line,
        format!(
            "broker:  ok — connected to mqtt://127.0.0.1:{}",
            broker.port()
        ),
        "{}",
        out.context()
    );
    let [config, _, _] = out.check_report();
    assert!(config.contains("1 meter"), "{}", out.context());
    let pdl_calls: Vec<_> = gw
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/pdl")
        .collect();
    assert!(!pdl_calls.is_empty(), "check must ask the gateway /pdl");
    assert!(
        pdl_calls
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {CLIENT_SECRET}"))),
        "{pdl_calls:?}"
    );
    assert_eq!(gw.daily_calls(), 0, "check fetches no data");
}

#[tokio::test]
async fn check_logs_in_to_home_assistant_and_says_why_it_cannot() {
    let gw = gateway();
    let ha = FakeHomeAssistant::start("2025.4.4", "good-ha-token");
    let ha_line = |token: &str| {
        let mut opts = options(&gw, None);
        opts["mqtt_enabled"] = json!(false);
        opts["energy_statistics"] = json!(true);
        opts["ha_url"] = json!(
            ha.url()
                .replace("ws://", "http://")
                .replace("/api/websocket", "")
        );
        opts["ha_token"] = json!(token);
        async move {
            let out = Cli::new("check").options(&opts).run().await;
            let lines = out.stdout_lines();
            assert_eq!(lines.len(), 5, "{}", out.context());
            (lines[4].to_string(), out.code)
        }
    };
    let (line, code) = ha_line("good-ha-token").await;
    assert_eq!(
        line,
        "ha:      ok — Home Assistant 2025.4 accepts the token for the Energy-dashboard history"
    );
    assert_eq!(code, Some(0));
    let (line, code) = ha_line("wrong-ha-token").await;
    assert!(
        line.starts_with("ha:      FAILED — Home Assistant refused the token"),
        "{line}"
    );
    assert!(!line.contains("wrong-ha-token"), "{line}");
    assert_eq!(code, Some(1));
}

#[tokio::test]
async fn check_passes_with_the_right_broker_password() {
    let broker = password_broker();
    let gw = gateway();
    let out = Cli::new("check")
        .options(&options(&gw, Some(&broker.url())))
        .run()
        .await;
    let line = out.assert_check_ok();
    assert_eq!(
        line,
        format!(
            "broker:  ok — connected to mqtt://ha:***@127.0.0.1:{}",
            broker.port()
        ),
        "{}",
        out.context()
    );
}

#[tokio::test]
async fn check_passes_over_tls_with_the_ca_certificate() {
    let broker = Mosquitto::start(BrokerKind::Tls);
    let gw = gateway();
    let mut opts = options(&gw, Some(&broker.url()));
    opts["mqtt_ca_cert"] = json!(broker.ca_cert_path().unwrap().display().to_string());
    let out = Cli::new("check").options(&opts).run().await;
    let line = out.assert_check_ok();
    assert_eq!(
        line,
        format!(
            "broker:  ok — connected to mqtts://localhost:{}",
            broker.port()
        ),
        "{}",
        out.context()
    );
}

#[tokio::test]
async fn check_passes_over_mutual_tls_with_a_client_certificate() {
    let broker = Mosquitto::start(BrokerKind::MutualTls);
    let gw = gateway();
    let mut opts = options(&gw, Some(&broker.url()));
    opts["mqtt_ca_cert"] = json!(broker.ca_cert_path().unwrap().display().to_string());
    opts["mqtt_client_cert"] = json!(broker.client_cert_path().unwrap().display().to_string());
    opts["mqtt_client_key"] = json!(broker.client_key_path().unwrap().display().to_string());
    let out = Cli::new("check").options(&opts).run().await;
    let line = out.assert_check_ok();
    assert_eq!(
        line,
        format!(
            "broker:  ok — connected to mqtts://localhost:{}",
            broker.port()
        ),
        "{}",
        out.context()
    );
    assert!(
        broker.log().contains("New client connected"),
        "the broker saw the connection\n{}",
        broker.log()
    );
}

// ---------------------------------------------------------------------------------------------
// check: broker failures
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn check_says_connection_refused() {
    let gw = gateway();
    let port = closed_port();
    let out = Cli::new("check")
        .options(&options(&gw, Some(&format!("mqtt://127.0.0.1:{port}"))))
        .run()
        .await;
    let why = out.assert_broker_failed();
    assert!(
        why.starts_with(&format!("connection refused by 127.0.0.1:{port}")),
        "{}",
        out.context()
    );
}

#[tokio::test]
async fn check_says_not_authorised_for_a_wrong_password() {
    let broker = password_broker();
    let gw = gateway();
    let url = format!(
        "mqtt://ha:{WRONG_BROKER_PASSWORD}@127.0.0.1:{}",
        broker.port()
    );
    let out = Cli::new("check")
        .options(&options(&gw, Some(&url)))
        .run()
        .await;
    let why = out.assert_broker_failed();
    assert!(why.contains("not authorised"), "{}", out.context());
    assert!(
        why.contains(&format!("127.0.0.1:{}", broker.port())),
        "{}",
        out.context()
    );
}

#[tokio::test]
async fn check_says_tls_failure_without_the_ca_certificate() {
    let broker = Mosquitto::start(BrokerKind::Tls);
    let gw = gateway();
    let out = Cli::new("check")
        .options(&options(&gw, Some(&broker.url())))
        .run()
        .await;
    let why = out.assert_broker_failed();
    assert!(
        why.starts_with(&format!("TLS failure with localhost:{}", broker.port())),
        "{}",
        out.context()
    );
    let folded = why.to_ascii_lowercase().replace([' ', '_'], "");
    assert!(
        folded.contains("unknownissuer"),
        "the line should say the issuer is unknown\n{}",
        out.context()
    );
}

#[tokio::test]
async fn check_says_tls_failure_without_a_client_certificate() {
    let broker = Mosquitto::start(BrokerKind::MutualTls);
    let gw = gateway();
    let mut opts = options(&gw, Some(&broker.url()));
    opts["mqtt_ca_cert"] = json!(broker.ca_cert_path().unwrap().display().to_string());
    let out = Cli::new("check").options(&opts).run().await;
    let why = out.assert_broker_failed();
    assert!(
        why.starts_with(&format!("TLS failure with localhost:{}", broker.port())),
        "{}",
        out.context()
    );
    assert!(
        why.to_ascii_lowercase().contains("certificate"),
        "the line should say a (client) certificate is missing\n{}",
        out.context()
    );
}

#[tokio::test]
async fn check_says_unknown_host() {
    let gw = gateway();
    let out = Cli::new("check")
        .options(&options(&gw, Some("mqtt://no-such-host.invalid:1883")))
        .run()
        .await;
    let why = out.assert_broker_failed();
    assert!(
        why.starts_with("unknown host no-such-host.invalid"),
        "{}",
        out.context()
    );
}

// ---------------------------------------------------------------------------------------------
// check: gateway failures
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn check_says_the_client_secret_is_rejected() {
    let broker = Mosquitto::start(BrokerKind::Anonymous);
    let gw = gateway();
    let mut opts = options(&gw, Some(&broker.url()));
    opts["client_secret"] = json!(WRONG_CLIENT_SECRET);
    let out = Cli::new("check").options(&opts).run().await;
    let why = out.assert_gateway_failed();
    assert!(why.contains("client_secret"), "{}", out.context());
    assert!(why.contains("rejected"), "{}", out.context());
}

#[tokio::test]
async fn check_says_a_pdl_is_not_in_this_consent() {
    let broker = Mosquitto::start(BrokerKind::Anonymous);
    let gw = gateway();
    let mut opts = options(&gw, Some(&broker.url()));
    opts["meters"] = json!([{ "pdl": PDL }, { "pdl": OTHER_PDL }]);
    let out = Cli::new("check").options(&opts).run().await;
    let why = out.assert_gateway_failed();
    assert!(
        why.starts_with(&format!("PDL {OTHER_PDL} not in this consent")),
        "{}",
        out.context()
    );
    assert!(
        !why.contains(PDL),
        "only the missing PDL is named\n{}",
        out.context()
    );
}

// ---------------------------------------------------------------------------------------------
// check: the broker from the Supervisor
// ---------------------------------------------------------------------------------------------

/// `check` through a Supervisor answering `mode` (pointing at `broker`) connects to it.
async fn assert_supervisor_broker_ok(broker: &Mosquitto, mode: SupervisorMode) {
    let sup = FakeSupervisor::start(SUPERVISOR_TOKEN, mode);
    let out = check_via_supervisor(&sup.url(), SUPERVISOR_TOKEN).await;
    let line = out.assert_check_ok();
    assert_eq!(
        line,
        format!(
            "broker:  ok — connected to mqtt://{SUPERVISOR_MQTT_USER}:***@127.0.0.1:{}",
            broker.port()
        ),
        "{}",
        out.context()
    );
    let requests = sup.requests();
    assert!(
        requests.iter().any(|r| r.method == "GET"
            && r.path == "/services/mqtt"
            && r.authorization.as_deref() == Some(&format!("Bearer {SUPERVISOR_TOKEN}"))),
        "{requests:?}"
    );
}

#[tokio::test]
async fn check_uses_the_supervisor_broker_with_a_numeric_port() {
    let broker = supervisor_broker();
    assert_supervisor_broker_ok(&broker, SupervisorMode::for_broker(&broker)).await;
}

#[tokio::test]
async fn check_uses_the_supervisor_broker_with_a_string_port() {
    let broker = supervisor_broker();
    let mut mode = SupervisorMode::for_broker(&broker);
    if let SupervisorMode::Ok { port_as_string, .. } = &mut mode {
        *port_as_string = true;
    }
    assert_supervisor_broker_ok(&broker, mode).await;
}

#[tokio::test]
async fn check_uses_the_supervisor_broker_with_the_app_provider_key() {
    let broker = supervisor_broker();
    let mut mode = SupervisorMode::for_broker(&broker);
    if let SupervisorMode::Ok { provider_key, .. } = &mut mode {
        *provider_key = "app".into();
    }
    assert_supervisor_broker_ok(&broker, mode).await;
}

#[tokio::test]
async fn check_explains_service_not_enabled() {
    let sup = FakeSupervisor::start(SUPERVISOR_TOKEN, SupervisorMode::NotEnabled);
    let out = check_via_supervisor(&sup.url(), SUPERVISOR_TOKEN).await;
    assert_eq!(
        out.assert_broker_failed(),
        "the Supervisor has no MQTT service (\"Service not enabled\"): install and start the \
         Mosquitto broker add-on, or set mqtt_broker",
        "{}",
        out.context()
    );
}

#[tokio::test]
async fn check_explains_no_access_to_the_mqtt_service() {
    let sup = FakeSupervisor::start(SUPERVISOR_TOKEN, SupervisorMode::NoAccess);
    let out = check_via_supervisor(&sup.url(), SUPERVISOR_TOKEN).await;
    assert_eq!(
        out.assert_broker_failed(),
        "the Supervisor refused the MQTT service to this add-on (\"No access to mqtt service!\"): \
         its config.yaml must declare services: [mqtt:need]",
        "{}",
        out.context()
    );
}

#[tokio::test]
async fn check_explains_a_rejected_supervisor_token() {
    let broker = supervisor_broker();
    let sup = FakeSupervisor::start(OTHER_SUPERVISOR_TOKEN, SupervisorMode::for_broker(&broker));
    let out = check_via_supervisor(&sup.url(), SUPERVISOR_TOKEN).await;
    assert_eq!(
        out.assert_broker_failed(),
        "the Supervisor rejected our token (HTTP 401): SUPERVISOR_TOKEN is missing or wrong",
        "{}",
        out.context()
    );
    assert_eq!(sup.calls(), 1);
}

#[tokio::test]
async fn check_explains_an_unreachable_supervisor() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let out = check_via_supervisor(&url, SUPERVISOR_TOKEN).await;
    let why = out.assert_broker_failed();
    assert!(
        why.starts_with(&format!("cannot reach the Supervisor at {url}")),
        "{}",
        out.context()
    );
    assert!(
        why.ends_with("(outside Home Assistant, set mqtt_broker)"),
        "{}",
        out.context()
    );
}

#[tokio::test]
async fn check_without_broker_or_token_says_no_broker_configured() {
    let sup = FakeSupervisor::start(SUPERVISOR_TOKEN, SupervisorMode::NotEnabled);
    let gw = gateway();
    let out = Cli::new("check")
        .options(&options(&gw, None))
        .env("SUPERVISOR_API", &sup.url())
        .without_env("SUPERVISOR_TOKEN")
        .run()
        .await;
    assert_eq!(
        out.assert_broker_failed(),
        "no MQTT broker configured: set mqtt_broker (or MQTT_BROKER), or run as a Home \
         Assistant add-on so the Supervisor can provide one",
        "{}",
        out.context()
    );
    assert_eq!(
        sup.calls(),
        0,
        "without a token the Supervisor is not asked"
    );
}

// ---------------------------------------------------------------------------------------------
// once
// ---------------------------------------------------------------------------------------------

fn yesterday(gw: &FakeGateway) -> NaiveDate {
    gw.today().pred_opt().expect("a day before today")
}

/// Wh of a day, distinct from day to day.
fn wh_of(day: NaiveDate) -> i64 {
    9_000 + 37 * i64::from(day.ordinal()) + i64::from(day.year() % 7)
}

#[tokio::test]
async fn once_publishes_through_the_supervisor_broker() {
    let broker = supervisor_broker();
    let sup = FakeSupervisor::start(SUPERVISOR_TOKEN, SupervisorMode::for_broker(&broker));
    let gw = gateway();
    let last = yesterday(&gw);
    let first = last - chrono::Days::new(45);
    gw.fill(PDL, Series::Consumption, first, last, wh_of);

    let probe = MqttProbe::connect(&broker, &["myelectricaldata/#", "homeassistant/#"]).await;
    let mut opts = options(&gw, None);
    opts["log_level"] = json!("debug");
    let out = Cli::new("once")
        .options(&opts)
        .env("SUPERVISOR_API", &sup.url())
        .run()
        .await;
    out.assert_code(0);
    assert_eq!(sup.calls(), 1, "{}", out.context());
    assert!(gw.daily_calls() >= 1, "{}", out.context());

    // Seen live by an observer…
    probe
        .wait_for_text("myelectricaldata/status", "online", T)
        .await;
    let daily_topic = format!("myelectricaldata/{PDL}/consumption/daily");
    let live = probe.wait_for(&daily_topic, |_| true, T).await;
    assert_kwh(&live.json(), wh_of(last), "live consumption/daily");

    // …and kept by the broker for whoever comes next.
    let held = MqttProbe::retained_snapshot(&broker, "#").await;
    let text = |topic: &str| {
        held.get(topic)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_else(|| {
                panic!(
                    "{topic} is not retained; retained: {:?}\n{}",
                    held.keys(),
                    out.context()
                )
            })
    };
    let json_of = |topic: &str| -> Value {
        serde_json::from_str(&text(topic)).unwrap_or_else(|e| panic!("{topic}: {e}"))
    };
    assert_eq!(text("myelectricaldata/status"), "online");
    for key in [
        "consumption_daily",
        "consumption_yesterday",
        "consumption_monthly",
    ] {
        let topic = format!("homeassistant/sensor/med_{PDL}_{key}/config");
        let config = json_of(&topic);
        assert_eq!(
            config["unique_id"],
            json!(format!("med_{PDL}_{key}")),
            "{topic}"
        );
        let state_topic = format!("myelectricaldata/{PDL}/{}", key.replace('_', "/"));
        assert_eq!(config["state_topic"], json!(state_topic), "{topic}");
        assert_eq!(
            config["availability_topic"],
            json!("myelectricaldata/status"),
            "{topic}"
        );
    }

    let daily = json_of(&daily_topic);
    assert_kwh(&daily, wh_of(last), "consumption/daily");
    assert_eq!(daily["date"], json!(last.to_string()), "{daily}");
    assert_eq!(daily["pdl"], json!(PDL), "{daily}");

    let before = last.pred_opt().unwrap();
    let previous = json_of(&format!("myelectricaldata/{PDL}/consumption/yesterday"));
    assert_kwh(&previous, wh_of(before), "consumption/yesterday");
    assert_eq!(previous["date"], json!(before.to_string()), "{previous}");

    let month_start = last.with_day(1).unwrap();
    let month_wh: i64 = month_start
        .iter_days()
        .take_while(|d| *d <= last)
        .map(wh_of)
        .sum();
    let monthly = json_of(&format!("myelectricaldata/{PDL}/consumption/monthly"));
    assert_kwh(&monthly, month_wh, "consumption/monthly");
}

#[tokio::test]
async fn once_fails_in_one_line_when_the_broker_refuses() {
    let gw = gateway();
    let port = closed_port();
    let out = Cli::new("once")
        .options(&options(&gw, Some(&format!("mqtt://127.0.0.1:{port}"))))
        .run()
        .await;
    out.assert_code(1);
    let errors: Vec<&str> = out
        .stderr_lines()
        .into_iter()
        .filter(|l| l.contains("ERROR"))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "one error line naming the problem\n{}",
        out.context()
    );
    assert!(
        errors[0].contains(&format!("connection refused by 127.0.0.1:{port}")),
        "{}",
        out.context()
    );
}

#[tokio::test]
async fn once_fails_in_one_line_when_the_broker_drops_the_connection_without_acknowledging() {
    let gw = gateway();
    let last = yesterday(&gw);
    gw.fill(
        PDL,
        Series::Consumption,
        last - chrono::Days::new(3),
        last,
        wh_of,
    );
    // Accepts the login, swallows the publishes without a PUBACK, closes 0.2 s later.
    let broker = DroppingBroker::start(Duration::from_millis(200));
    let out = Cli::new("once")
        .options(&options(&gw, Some(&broker.url())))
        .run()
        .await;
    out.assert_code(1);
    let errors: Vec<&str> = out
        .stderr_lines()
        .into_iter()
        .filter(|l| l.contains("ERROR"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line\n{}", out.context());
    assert!(
        errors[0].contains("messages not acknowledged by the broker"),
        "{}",
        out.context()
    );
    assert!(broker.connections() >= 1, "{}", out.context());
}

#[tokio::test]
async fn once_with_mqtt_disabled_syncs_without_any_broker() {
    let sup = FakeSupervisor::start(SUPERVISOR_TOKEN, SupervisorMode::NotEnabled);
    let gw = gateway();
    let last = yesterday(&gw);
    gw.fill(
        PDL,
        Series::Consumption,
        last - chrono::Days::new(10),
        last,
        wh_of,
    );
    let cli = Cli::new("once")
        .options(&options(&gw, None))
        .env("MQTT_ENABLED", "false")
        .env("SUPERVISOR_API", &sup.url());
    let data_dir = cli.data_dir();
    let out = cli.run().await;
    out.assert_code(0);
    assert_eq!(sup.calls(), 0, "MQTT disabled: no broker lookup");
    assert!(
        gw.daily_calls() >= 1,
        "the sync still ran\n{}",
        out.context()
    );
    let stored = std::fs::read_dir(&data_dir)
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert!(stored > 0, "the store is in --data-dir\n{}", out.context());
    assert!(
        !out.stderr.contains("ERROR"),
        "no error expected\n{}",
        out.context()
    );
}

// ---------------------------------------------------------------------------------------------
// Servers that quote a credential back: `run` checks every output for the secrets above; the
// status topic is checked here.
// ---------------------------------------------------------------------------------------------

/// The meter's retained status, as a subscriber reads it.
async fn retained_status(broker: &Mosquitto) -> String {
    let held = MqttProbe::retained_snapshot(broker, "#").await;
    let status = held
        .get(&format!("myelectricaldata/{PDL}/status"))
        .expect("a retained status");
    String::from_utf8_lossy(status).into_owned()
}

#[tokio::test]
async fn a_gateway_error_quoting_the_client_secret_never_shows_it() {
    let broker = Mosquitto::start(BrokerKind::Anonymous);
    let gw = gateway();
    let echo = format!("invalid header Authorization: Bearer {CLIENT_SECRET}");
    for _ in 0..10 {
        gw.push_fault_on(FaultOn::Daily, Fault::detail(500, &echo));
    }
    let out = Cli::new("once")
        .options(&options(&gw, Some(&broker.url())))
        .run()
        .await;
    out.assert_code(1);
    assert!(out.stderr.contains("Bearer ***"), "{}", out.context());
    let status = retained_status(&broker).await;
    assert!(
        status.contains("Bearer ***") && !status.contains(SECRET_MARK),
        "{status}"
    );
}

#[tokio::test]
async fn a_v1_error_quoting_the_meter_token_never_shows_it() {
    let broker = Mosquitto::start(BrokerKind::Anonymous);
    let gw = gateway();
    let token = support::gateway::DEFAULT_V1_TOKEN;
    for _ in 0..10 {
        gw.push_fault_on(
            FaultOn::Daily,
            Fault::detail(500, &format!("bad token {token}")),
        );
    }
    let opts = json!({
        "gateway": "v1",
        "gateway_url": gw.url_v1(),
        "meters": [{ "pdl": PDL, "name": "Maison", "token": token }],
        "mqtt_broker": broker.url(),
        "tempo": false,
        "ecowatt": false,
    });
    let out = Cli::new("once").options(&opts).run().await;
    out.assert_code(1);
    for text in [&out.stdout, &out.stderr, &retained_status(&broker).await] {
        assert!(!text.contains(token), "{}", out.context());
    }
    assert!(out.stderr.contains("bad token ***"), "{}", out.context());
}

#[tokio::test]
async fn a_supervisor_error_quoting_its_token_never_shows_it() {
    let echo = format!("token {SUPERVISOR_TOKEN} refused by the proxy");
    let sup = FakeSupervisor::start(SUPERVISOR_TOKEN, SupervisorMode::Error(500, echo));
    let gw = gateway();
    for command in ["check", "once"] {
        let out = Cli::new(command)
            .options(&options(&gw, None))
            .env("SUPERVISOR_API", &sup.url())
            .run()
            .await;
        assert_ne!(out.code, Some(0), "{}", out.context());
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(all.contains("token *** refused"), "{}", out.context());
    }
}

#[tokio::test]
async fn a_supervisor_answer_of_a_megabyte_is_refused_in_one_line() {
    let huge = "x".repeat(1024 * 1024);
    let sup = FakeSupervisor::start(SUPERVISOR_TOKEN, SupervisorMode::Error(200, huge));
    let out = Cli::new("check")
        .options(&options(&gateway(), None))
        .env("SUPERVISOR_API", &sup.url())
        .run()
        .await;
    out.assert_code(1);
    assert!(
        out.stdout.contains("an answer of more than 65536 bytes"),
        "{}",
        out.context()
    );
    assert!(
        out.stdout.len() + out.stderr.len() < 4096,
        "{}",
        out.context()
    );
}
