//! A fake of Home Assistant's websocket for the statistics commands, enforcing the schema of
//! the release it plays: before 2025.11 the metadata has exactly the six legacy keys; from
//! 2026.11 `mean_type` and `unit_class` are required and `has_mean` refused; in every release
//! a row starts on the hour with a time zone, and command ids increase. It keeps the imported
//! rows (an upsert by start, as the recorder does) and answers `statistics_during_period`
//! from them. Served on 127.0.0.1 from a thread of its own.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as Frame;

/// A row as the fake keeps it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoredRow {
    pub start: DateTime<Utc>,
    pub state: f64,
    pub sum: f64,
}

#[derive(Default)]
struct State {
    version: String,
    token: String,
    rows: BTreeMap<String, BTreeMap<DateTime<Utc>, StoredRow>>,
    metadata: BTreeMap<String, Value>,
    /// Commands seen, as `type` strings, in order.
    commands: Vec<String>,
    /// The error of each refused command.
    refusals: Vec<String>,
    /// Imports to refuse (then accept again), and the import after which to drop the link.
    refuse_imports: usize,
    drop_after_imports: Option<usize>,
    imports: usize,
    /// Bytes of padding added to every answer after `auth_ok`.
    padding: usize,
}

pub struct FakeHomeAssistant {
    port: u16,
    state: Arc<Mutex<State>>,
    _thread: std::thread::JoinHandle<()>,
}

impl FakeHomeAssistant {
    /// A fake of the release `version` (e.g. `2025.4.4`, `2026.11.0`) accepting `token`.
    pub fn start(version: &str, token: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("a port").port();
        let state = Arc::new(Mutex::new(State {
            version: version.into(),
            token: token.into(),
            ..State::default()
        }));
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(serve(listener, shared));
        });
        Self {
            port,
            state,
            _thread: thread,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/api/websocket", self.port)
    }

    pub fn rows(&self, statistic_id: &str) -> Vec<StoredRow> {
        let state = self.state.lock().unwrap();
        state
            .rows
            .get(statistic_id)
            .map(|r| r.values().copied().collect())
            .unwrap_or_default()
    }

    pub fn metadata(&self, statistic_id: &str) -> Option<Value> {
        self.state
            .lock()
            .unwrap()
            .metadata
            .get(statistic_id)
            .cloned()
    }

    pub fn commands(&self) -> Vec<String> {
        self.state.lock().unwrap().commands.clone()
    }

    pub fn refusals(&self) -> Vec<String> {
        self.state.lock().unwrap().refusals.clone()
    }

    /// The next `n` imports are refused (as an invalid format).
    pub fn refuse_imports(&self, n: usize) {
        self.state.lock().unwrap().refuse_imports = n;
    }

    /// The connection drops once `n` imports were taken in all.
    /// Pads every answer with `bytes` of filler (an answer of any size).
    pub fn pad_answers(&self, bytes: usize) {
        self.state.lock().unwrap().padding = bytes;
    }

    pub fn drop_after_imports(&self, n: usize) {
        self.state.lock().unwrap().drop_after_imports = Some(n);
    }
}

async fn serve(listener: TcpListener, state: Arc<Mutex<State>>) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    while let Ok((stream, _)) = listener.accept().await {
        let state = state.clone();
        tokio::spawn(async move {
            if let Ok(socket) = tokio_tungstenite::accept_async(stream).await {
                session(socket, state).await;
            }
        });
    }
}

async fn session(
    mut socket: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    state: Arc<Mutex<State>>,
) {
    let version = state.lock().unwrap().version.clone();
    let hello = json!({"type": "auth_required", "ha_version": version});
    if socket.send(Frame::text(hello.to_string())).await.is_err() {
        return;
    }
    let Some(Ok(Frame::Text(auth))) = socket.next().await else {
        return;
    };
    let auth: Value = serde_json::from_str(&auth).unwrap_or_default();
    let token = state.lock().unwrap().token.clone();
    if auth["type"] != "auth" || auth["access_token"] != token.as_str() {
        let no = json!({"type": "auth_invalid", "message": "Invalid access token or password"});
        let _ = socket.send(Frame::text(no.to_string())).await;
        return;
    }
    let ok = json!({"type": "auth_ok", "ha_version": version});
    if socket.send(Frame::text(ok.to_string())).await.is_err() {
        return;
    }
    let mut last_id = 0;
    while let Some(Ok(frame)) = socket.next().await {
        let Frame::Text(text) = frame else { continue };
        let command: Value = serde_json::from_str(&text).unwrap_or_default();
        let id = command["id"].as_u64().unwrap_or(0);
        let answer = if id <= last_id {
            refusal(
                &state,
                id,
                "id_reuse",
                "Identifier values have to increase.",
            )
        } else {
            last_id = id;
            handle(&state, id, &command)
        };
        let dropping = {
            let s = state.lock().unwrap();
            s.drop_after_imports.is_some_and(|n| s.imports >= n)
        };
        if dropping {
            return;
        }
        let mut answer = answer;
        let padding = state.lock().unwrap().padding;
        if padding > 0 {
            answer["padding"] = json!("x".repeat(padding));
        }
        if socket.send(Frame::text(answer.to_string())).await.is_err() {
            return;
        }
    }
}

fn handle(state: &Arc<Mutex<State>>, id: u64, command: &Value) -> Value {
    let kind = command["type"].as_str().unwrap_or("").to_string();
    state.lock().unwrap().commands.push(kind.clone());
    match kind.as_str() {
        "recorder/import_statistics" => import(state, id, command),
        "recorder/statistics_during_period" => during_period(state, id, command),
        _ => refusal(state, id, "unknown_command", "Unknown command."),
    }
}

fn import(state: &Arc<Mutex<State>>, id: u64, command: &Value) -> Value {
    let version = state.lock().unwrap().version.clone();
    if let Err(why) = check_metadata(&version, &command["metadata"]) {
        return refusal(state, id, "invalid_format", &why);
    }
    let Some(stats) = command["stats"].as_array() else {
        return refusal(state, id, "invalid_format", "stats is required");
    };
    let mut rows = Vec::new();
    for stat in stats {
        match parse_stat(stat) {
            Ok(row) => rows.push(row),
            Err(why) => return refusal(state, id, "invalid_format", &why),
        }
    }
    let mut s = state.lock().unwrap();
    if s.refuse_imports > 0 {
        s.refuse_imports -= 1;
        drop(s);
        return refusal(state, id, "invalid_format", "refused on purpose");
    }
    s.imports += 1;
    let statistic_id = command["metadata"]["statistic_id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    s.metadata
        .insert(statistic_id.clone(), command["metadata"].clone());
    let kept = s.rows.entry(statistic_id).or_default();
    for row in rows {
        kept.insert(row.start, row);
    }
    json!({"id": id, "type": "result", "success": true, "result": null})
}

/// The metadata schema of `version`.
fn check_metadata(version: &str, metadata: &Value) -> Result<(), String> {
    let keys: Vec<&str> = metadata
        .as_object()
        .ok_or("metadata is not an object")?
        .keys()
        .map(String::as_str)
        .collect();
    let legacy = [
        "has_mean",
        "has_sum",
        "name",
        "source",
        "statistic_id",
        "unit_of_measurement",
    ];
    let current = [
        "has_sum",
        "mean_type",
        "name",
        "source",
        "statistic_id",
        "unit_class",
        "unit_of_measurement",
    ];
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let release = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    let expected: &[&str] = if release < (2025, 11) {
        &legacy
    } else {
        &current
    };
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    if sorted != expected {
        return Err(format!(
            "extra keys not allowed or required key missing: {keys:?}"
        ));
    }
    let id = metadata["statistic_id"].as_str().unwrap_or("");
    let source = metadata["source"].as_str().unwrap_or("");
    if !id.starts_with(&format!("{source}:")) {
        return Err(format!("invalid statistic_id {id}"));
    }
    Ok(())
}

fn parse_stat(stat: &Value) -> Result<StoredRow, String> {
    let text = stat["start"].as_str().ok_or("start is required")?;
    let start = DateTime::parse_from_rfc3339(text)
        .map_err(|_| format!("invalid or naive start {text}"))?
        .with_timezone(&Utc);
    if start.minute() != 0 || start.second() != 0 || start.nanosecond() != 0 {
        return Err(format!(
            "Invalid timestamp: timestamps must be on the hour: {text}"
        ));
    }
    Ok(StoredRow {
        start,
        state: stat["state"].as_f64().ok_or("state")?,
        sum: stat["sum"].as_f64().ok_or("sum")?,
    })
}

fn during_period(state: &Arc<Mutex<State>>, id: u64, command: &Value) -> Value {
    let time = |key: &str| {
        command[key]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let (Some(from), to) = (time("start_time"), time("end_time")) else {
        return refusal(state, id, "invalid_start_time", "Invalid start_time");
    };
    let monthly = command["period"] == "month";
    let s = state.lock().unwrap();
    let mut result = serde_json::Map::new();
    for statistic_id in command["statistic_ids"].as_array().into_iter().flatten() {
        let statistic_id = statistic_id.as_str().unwrap_or("");
        let rows = s
            .rows
            .get(statistic_id)
            .into_iter()
            .flat_map(|rows| rows.values());
        let rows = rows.filter(|r| r.start >= from && to.is_none_or(|to| r.start < to));
        // A month holds the sum of its last hour (months cut in UTC here).
        let mut periods: BTreeMap<DateTime<Utc>, f64> = BTreeMap::new();
        for row in rows {
            let start = match monthly {
                true => Utc
                    .with_ymd_and_hms(row.start.year(), row.start.month(), 1, 0, 0, 0)
                    .unwrap(),
                false => row.start,
            };
            periods.insert(start, row.sum);
        }
        let rows: Vec<Value> = periods
            .iter()
            .map(|(start, sum)| {
                let start = start.timestamp_millis();
                json!({"start": start, "end": start + 3_600_000, "sum": sum})
            })
            .collect();
        if !rows.is_empty() {
            result.insert(statistic_id.into(), Value::from(rows));
        }
    }
    json!({"id": id, "type": "result", "success": true, "result": result})
}

fn refusal(state: &Arc<Mutex<State>>, id: u64, code: &str, message: &str) -> Value {
    state
        .lock()
        .unwrap()
        .refusals
        .push(format!("{code}: {message}"));
    json!({"id": id, "type": "result", "success": false, "error": {"code": code, "message": message}})
}
