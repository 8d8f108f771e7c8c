//! Home Assistant's websocket, as far as statistics need it: authenticate, read the last row
//! of a statistic, import rows in chunks. Commands carry increasing ids; while it waits for
//! a result the client keeps reading (tungstenite answers the proxy's pings), and skips
//! whatever else arrives.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use super::metadata::{HaVersion, ROWS_PER_MESSAGE, import_message};
use super::rows::{LastRow, StatisticRow, chunks};
use crate::model::Secret;
use crate::model::{QUOTED_CHARS, one_line};

/// How long one answer may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// Home Assistant's own limit on a websocket message; our questions get answers far smaller
/// (a few rows), so anything bigger is refused rather than held.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// The last row is first looked for in these last days (a daily import finds it there)…
const RECENT_DAYS: i64 = 4;
/// … else in this whole span, month by month, then hour by hour within its last month: a
/// few small answers instead of years of hourly rows.
const HISTORY_DAYS: i64 = 4 * 366;

/// Why Home Assistant could not take the statistics, in one line without the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HaError {
    #[error("cannot reach Home Assistant at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("Home Assistant refused the token ({0}): check ha_token (a long-lived admin token)")]
    Unauthorized(String),
    #[error("Home Assistant refused {command}: {code}: {message}")]
    Refused {
        command: String,
        code: String,
        message: String,
    },
    #[error("Home Assistant closed the connection")]
    Closed,
    #[error("Home Assistant did not answer within {0} s")]
    Timeout(u64),
    #[error("Home Assistant answered something unexpected: {0}")]
    Unexpected(String),
}

/// An authenticated connection.
pub struct HomeAssistant {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// The release `auth_ok` announced (`None` when it did not parse).
    pub version: Option<HaVersion>,
}

impl HomeAssistant {
    /// Connects to `url` (`ws://…/api/websocket`, or the Supervisor's `…/core/websocket`) and
    /// authenticates with `token`.
    pub async fn connect(url: &Url, token: &Secret) -> Result<Self, HaError> {
        let shown = shown_url(url);
        let unreachable = |reason: String| HaError::Unreachable {
            url: shown.clone(),
            reason,
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_ANSWER_BYTES))
            .max_frame_size(Some(MAX_ANSWER_BYTES));
        let connecting =
            tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false);
        let (socket, _) = tokio::time::timeout(ANSWER_TIMEOUT, connecting)
            .await
            .map_err(|_| HaError::Timeout(ANSWER_TIMEOUT.as_secs()))?
            .map_err(|e| unreachable(crate::http::root_cause(&e)))?;
        let mut ha = Self {
            socket,
            next_id: 1,
            version: None,
        };
        ha.expect_type("auth_required").await?;
        let auth = json!({"type": "auth", "access_token": token.expose()});
        ha.send(&auth).await?;
        let answer = ha.receive().await?;
        match answer["type"].as_str() {
            Some("auth_ok") => {
                ha.version = answer["ha_version"].as_str().and_then(HaVersion::parse);
                Ok(ha)
            }
            Some("auth_invalid") => {
                let why = answer["message"].as_str().unwrap_or("invalid token");
                Err(HaError::Unauthorized(one_line(why, QUOTED_CHARS)))
            }
            _ => Err(unexpected(&answer, "auth_ok")),
        }
    }

    /// The last row Home Assistant holds of a statistic before `now`, if any.
    pub async fn last_row(
        &mut self,
        statistic_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<LastRow>, HaError> {
        let recent = now - TimeDelta::days(RECENT_DAYS);
        if let Some(last) = self.last_in(statistic_id, recent, now, "hour").await? {
            return Ok(Some(last));
        }
        let history = now - TimeDelta::days(HISTORY_DAYS);
        let Some(month) = self.last_in(statistic_id, history, now, "month").await? else {
            return Ok(None);
        };
        // A month starts at midnight in Home Assistant's time zone: a day earlier is safe.
        let from = month.start - TimeDelta::days(1);
        self.last_in(statistic_id, from, now, "hour").await
    }

    /// The latest row of `[from, to)` at `period` (`hour`, `month`).
    async fn last_in(
        &mut self,
        statistic_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        period: &str,
    ) -> Result<Option<LastRow>, HaError> {
        let result = self
            .command(json!({
                "type": "recorder/statistics_during_period",
                "start_time": from.to_rfc3339(),
                "end_time": to.to_rfc3339(),
                "statistic_ids": [statistic_id],
                "period": period,
                "types": ["sum"],
            }))
            .await?;
        Ok(last_row_in(&result, statistic_id))
    }

    /// Imports `rows` of the statistic `metadata`, whole days per message (see [`chunks`]);
    /// returns the messages sent.
    pub async fn import(
        &mut self,
        metadata: &Value,
        rows: &[StatisticRow],
    ) -> Result<usize, HaError> {
        let mut messages = 0;
        for chunk in chunks(rows, ROWS_PER_MESSAGE) {
            self.command(import_message(metadata, chunk)).await?;
            messages += 1;
        }
        Ok(messages)
    }

    /// Sends a command with the next id and waits for its result.
    async fn command(&mut self, mut message: Value) -> Result<Value, HaError> {
        let id = self.next_id;
        self.next_id += 1;
        let kind = message["type"].as_str().unwrap_or("?").to_string();
        if let Some(map) = message.as_object_mut() {
            map.insert("id".into(), json!(id));
        }
        self.send(&message).await?;
        loop {
            let answer = self.receive().await?;
            if answer["id"] != json!(id) || answer["type"] != "result" {
                continue;
            }
            if answer["success"] == json!(true) {
                return Ok(answer["result"].clone());
            }
            let error = &answer["error"];
            return Err(HaError::Refused {
                command: kind,
                code: one_line(error["code"].as_str().unwrap_or("?"), QUOTED_CHARS),
                message: one_line(error["message"].as_str().unwrap_or(""), QUOTED_CHARS),
            });
        }
    }

    async fn expect_type(&mut self, kind: &str) -> Result<Value, HaError> {
        let message = self.receive().await?;
        match message["type"].as_str() == Some(kind) {
            true => Ok(message),
            false => Err(unexpected(&message, kind)),
        }
    }

    async fn send(&mut self, message: &Value) -> Result<(), HaError> {
        let text = Frame::text(message.to_string());
        self.socket.send(text).await.map_err(|_| HaError::Closed)
    }

    /// The next JSON message; pings are answered by tungstenite while it reads.
    async fn receive(&mut self) -> Result<Value, HaError> {
        loop {
            let next = tokio::time::timeout(ANSWER_TIMEOUT, self.socket.next())
                .await
                .map_err(|_| HaError::Timeout(ANSWER_TIMEOUT.as_secs()))?;
            let text = match next {
                Some(Ok(Frame::Text(text))) => text,
                Some(Ok(Frame::Close(_))) | Some(Err(_)) | None => return Err(HaError::Closed),
                Some(Ok(_)) => continue,
            };
            return serde_json::from_str(&text)
                .map_err(|e| HaError::Unexpected(format!("not JSON ({e})")));
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// An answer that is not the one expected, quoted on one short line.
fn unexpected(answer: &Value, expected: &str) -> HaError {
    let quoted = one_line(&answer.to_string(), QUOTED_CHARS);
    HaError::Unexpected(format!("{quoted} instead of {expected}"))
}

/// The latest readable row of `statistic_id` in a `statistics_during_period` result.
pub fn last_row_in(result: &Value, statistic_id: &str) -> Option<LastRow> {
    let rows = result.get(statistic_id)?.as_array()?;
    rows.iter().filter_map(parse_row).max_by_key(|r| r.start)
}

/// A row of `statistics_during_period`: `start` in epoch milliseconds (or ISO 8601), `sum`.
fn parse_row(row: &Value) -> Option<LastRow> {
    let start = match &row["start"] {
        Value::Number(ms) => DateTime::from_timestamp_millis(ms.as_f64()? as i64)?,
        Value::String(text) => DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc),
        _ => return None,
    };
    Some(LastRow {
        start,
        sum: row["sum"].as_f64()?,
    })
}

/// The URL without anything a secret could hide in (user info, query).
fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.to_string()
}
