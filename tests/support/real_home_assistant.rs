//! A real Home Assistant with its recorder, for the statistics tests and the import benchmark:
//! the release pinned in `tests/homeassistant/requirements.txt`, from the venv that
//! `scripts/bootstrap` caches, in its own temporary directory on a free 127.0.0.1 port,
//! onboarded (one admin user, a long-lived token), ready once its recorder records.
//!
//! It runs offline (`--skip-pip`) with only the integrations Home Assistant always loads plus
//! the recorder and the Energy dashboard's backend; its own log is kept to say what it refused. The process (its own process
//! group) is killed on `Drop`.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::free_port;

/// Home Assistant imports Python for a while on two busy cores.
const START_TIMEOUT: Duration = Duration::from_secs(240);
/// Bound on one websocket command.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// One row of a statistic as Home Assistant answers `statistics_during_period`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HaRow {
    pub start: DateTime<Utc>,
    pub sum: f64,
    pub state: Option<f64>,
}

pub struct RealHomeAssistant {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    token: String,
}

/// The venv `scripts/bootstrap` made: `MED_HA_VENV`, else the user's cache.
pub fn venv() -> PathBuf {
    if let Some(path) = std::env::var_os("MED_HA_VENV") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .expect("HOME or XDG_CACHE_HOME is set");
    cache.join("myelectricaldata-mqtt/homeassistant-2025.4.4")
}

impl RealHomeAssistant {
    /// Starts a fresh Home Assistant and onboards it.
    pub async fn start() -> RealHomeAssistant {
        super::probe::install_crypto_provider();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        let mut ha = RealHomeAssistant {
            dir,
            port,
            child: None,
            token: String::new(),
        };
        ha.write_config();
        ha.spawn();
        ha.token = ha.onboard().await;
        ha.wait_recording().await;
        ha
    }

    /// The base URL, as the option `ha_url` takes it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/api/websocket", self.port)
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Kills the process at once (SIGKILL to its group): what a power cut or an OOM kill does,
    /// queued recorder work included.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = i32::try_from(child.id()).expect("a pid fits an i32");
            // SAFETY: kill(2) on the process group we created; no memory is involved.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            let _ = child.wait();
        }
    }

    /// Starts the same installation again (same directory, port and token).
    pub async fn start_again(&mut self) {
        self.kill();
        self.spawn();
        self.wait_recording().await;
    }

    /// The lines Home Assistant logged at WARNING or above, but two every start here logs and
    /// that say nothing of ours: "Skipping pip installation" (offline), and the camera's
    /// missing libturbojpeg (a system library no test needs).
    pub fn problems(&self) -> Vec<String> {
        let log =
            std::fs::read_to_string(self.dir.path().join("home-assistant.log")).unwrap_or_default();
        log.lines()
            .filter(|l| {
                l.contains(" WARNING ") || l.contains(" ERROR ") || l.contains(" CRITICAL ")
            })
            .filter(|l| !l.contains("Skipping pip installation") && !l.contains("libturbojpeg"))
            .map(str::to_string)
            .collect()
    }

    /// The hourly rows of `statistic_id`, oldest first.
    pub async fn rows(&self, statistic_id: &str) -> Vec<HaRow> {
        let answer = self
            .call(json!({
                "type": "recorder/statistics_during_period",
                "start_time": "2000-01-01T00:00:00+00:00",
                "statistic_ids": [statistic_id],
                "period": "hour",
                "types": ["sum", "state"],
            }))
            .await;
        let rows = answer[statistic_id].as_array().cloned().unwrap_or_default();
        rows.iter().map(ha_row).collect()
    }

    /// Polls until the last hourly row of `statistic_id` starts at `last` (the recorder
    /// writes imports in order, after it acknowledged them), then returns every row.
    pub async fn rows_until(&self, statistic_id: &str, last: DateTime<Utc>) -> Vec<HaRow> {
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let rows = self.rows(statistic_id).await;
            if rows.last().is_some_and(|r| r.start >= last) {
                return rows;
            }
            assert!(
                Instant::now() < deadline,
                "{statistic_id}: no row at {last} after {CALL_TIMEOUT:?} (last {:?})\n{:#?}",
                rows.last(),
                self.problems()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The statistics Home Assistant knows of (`recorder/list_statistic_ids`).
    pub async fn statistic_ids(&self) -> Vec<Value> {
        let answer = self
            .call(json!({ "type": "recorder/list_statistic_ids", "statistic_type": "sum" }))
            .await;
        answer.as_array().cloned().unwrap_or_default()
    }

    /// Sends one websocket command on a new authenticated connection; panics unless it
    /// succeeds, and returns its result.
    pub async fn call(&self, command: Value) -> Value {
        let answer = tokio::time::timeout(CALL_TIMEOUT, self.try_call(&self.token, command))
            .await
            .unwrap_or_else(|_| panic!("no answer in {CALL_TIMEOUT:?}"));
        match answer {
            Ok(result) => result,
            Err(error) => panic!("{error}\n{:#?}", self.problems()),
        }
    }

    async fn try_call(&self, token: &str, mut command: Value) -> Result<Value, String> {
        let (mut ws, _) = tokio_tungstenite::connect_async(self.ws_url())
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let greeting = read_json(&mut ws).await?;
        assert_eq!(greeting["type"], "auth_required", "{greeting}");
        let auth = json!({ "type": "auth", "access_token": token });
        ws.send(Message::text(auth.to_string()))
            .await
            .map_err(|e| e.to_string())?;
        let welcome = read_json(&mut ws).await?;
        if welcome["type"] != "auth_ok" {
            return Err(format!("auth refused: {welcome}"));
        }
        command["id"] = json!(1);
        ws.send(Message::text(command.to_string()))
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let message = read_json(&mut ws).await?;
            if message["type"] == "result" && message["id"] == 1 {
                let _ = ws.close(None).await;
                return match message["success"].as_bool() {
                    Some(true) => Ok(message["result"].clone()),
                    _ => Err(format!("{command} refused: {}", message["error"])),
                };
            }
        }
    }

    fn write_config(&self) {
        let dir = self.dir.path();
        let config = format!(
            "homeassistant:\n  name: Tests\n  latitude: 48.85\n  longitude: 2.35\n  \
             elevation: 35\n  unit_system: metric\n  time_zone: Europe/Paris\n  country: FR\n  \
             currency: EUR\n  language: en\n\
             http:\n  server_host: 127.0.0.1\n  server_port: {port}\n\
             recorder:\n  db_url: sqlite:///{db}\n  commit_interval: 1\n  auto_purge: false\n\
             energy:\n\
             logger:\n  default: warning\n",
            port = self.port,
            db = dir.join("recorder.db").display(),
        );
        std::fs::write(dir.join("configuration.yaml"), config).expect("write the HA config");
    }

    fn spawn(&mut self) {
        let python = venv().join("bin/python");
        assert!(
            python.is_file(),
            "no Home Assistant venv at {} (run scripts/bootstrap)",
            venv().display()
        );
        let dir = self.dir.path();
        let output = std::fs::File::create(dir.join("stdout.log")).expect("a log file");
        let child = Command::new(python)
            .args([
                "-m",
                "homeassistant",
                "--skip-pip",
                "--log-no-color",
                "--config",
            ])
            .arg(dir)
            .arg("--log-file")
            .arg(dir.join("home-assistant.log"))
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("a second handle"))
            .stderr(output)
            .process_group(0)
            .spawn()
            .expect("Home Assistant starts");
        self.child = Some(child);
    }

    /// Makes the owner user the way the onboarding page does, trades the code for a token,
    /// and asks for a long-lived one (the import may outlive a 30-minute access token).
    async fn onboard(&mut self) -> String {
        let http = reqwest::Client::new();
        let client_id = format!("{}/", self.url());
        let deadline = Instant::now() + START_TIMEOUT;
        let users = format!("{}/api/onboarding/users", self.url());
        let user = json!({
            "client_id": client_id, "name": "Tests", "username": "tests",
            "password": "tests-password", "language": "en",
        });
        let code = loop {
            self.assert_running();
            if let Ok(answer) = http.post(&users).json(&user).send().await
                && answer.status().is_success()
            {
                let body: Value = answer.json().await.expect("an onboarding answer");
                break body["auth_code"]
                    .as_str()
                    .expect("an auth code")
                    .to_string();
            }
            assert!(
                Instant::now() < deadline,
                "HA did not start: {}",
                self.tail()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let form = format!(
            "grant_type=authorization_code&code={code}&client_id={}",
            client_id.replace(':', "%3A").replace('/', "%2F")
        );
        let tokens: Value = http
            .post(format!("{}/auth/token", self.url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .and_then(|a| a.error_for_status())
            .expect("a token")
            .json()
            .await
            .expect("a token answer");
        let access = tokens["access_token"].as_str().expect("an access token");
        let long_lived = json!({
            "type": "auth/long_lived_access_token", "client_name": "tests", "lifespan": 365,
        });
        let token = self
            .try_call(access, long_lived)
            .await
            .expect("a long-lived token");
        token.as_str().expect("a token string").to_string()
    }

    /// Waits until the recorder runs and records, with no migration going on.
    async fn wait_recording(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.assert_running();
            let info = json!({ "type": "recorder/info" });
            if let Ok(Ok(info)) =
                tokio::time::timeout(CALL_TIMEOUT, self.try_call(&self.token, info)).await
                && info["recording"] == true
                && info["thread_running"] == true
                && info["migration_in_progress"] == false
            {
                return;
            }
            assert!(Instant::now() < deadline, "no recorder: {}", self.tail());
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn assert_running(&mut self) {
        let exited = self.child.as_mut().map(|c| c.try_wait());
        if let Some(Ok(Some(status))) = exited {
            panic!("Home Assistant exited ({status}): {}", self.tail());
        }
    }

    /// The end of what Home Assistant printed, for a failure message.
    fn tail(&self) -> String {
        let out = std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default();
        let lines: Vec<&str> = out.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for RealHomeAssistant {
    fn drop(&mut self) {
        self.kill();
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text message, as JSON.
async fn read_json(ws: &mut Socket) -> Result<Value, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(&text).map_err(|e| e.to_string());
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("connection closed".into()),
        }
    }
}

fn ha_row(row: &Value) -> HaRow {
    let millis = row["start"].as_f64().expect("a start in milliseconds");
    #[allow(clippy::cast_possible_truncation)]
    let start = DateTime::from_timestamp_millis(millis as i64).expect("a start instant");
    HaRow {
        start,
        sum: row["sum"].as_f64().expect("a sum"),
        state: row["state"].as_f64(),
    }
}
