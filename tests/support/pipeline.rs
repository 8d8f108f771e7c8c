//! One harness for the tests that drive a [`Pipeline`] against the fake gateway with a manual
//! clock: settings loaded from a real options file, a data directory, and what a sync and a
//! publication produce. Also the one [`Generation`] enum and the `for_both!` macro.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Europe::Paris;
use myelectricaldata_mqtt::clock::{Clock, ManualClock};
use myelectricaldata_mqtt::config::{self, Settings, Sources};
use myelectricaldata_mqtt::gateway::{Gateway, v1, v2};
use myelectricaldata_mqtt::model::{Message, MessageKind, Pdl, Secret, SeriesKind};
use myelectricaldata_mqtt::pipeline::Pipeline;
use myelectricaldata_mqtt::retry::Retry;
use myelectricaldata_mqtt::sync::{Part, SyncSummary};
use serde_json::{Value, json};

use super::gateway::{DEFAULT_PDL, DEFAULT_SECRET, DEFAULT_V1_TOKEN};
use super::{FakeGateway, RecordedRequest, RouteKind, within};

/// Bound on one sync, publication or store operation.
pub const T: Duration = Duration::from_secs(60);
/// A second meter, known to both generations of the fake.
pub const PDL_B: &str = "22345678901234";
/// The v1 token of [`PDL_B`].
pub const TOKEN_B: &str = "v1-token-b-77c1";
/// One attempt per call: a fault is the outcome of the sync.
pub const NO_RETRY: Retry = Retry::immediate(1);

/// The gateway API generation a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    V1,
    V2,
}

pub const GENERATIONS: [Generation; 2] = [Generation::V2, Generation::V1];

/// Runs each named `async fn name(Generation)` as the tests `v1_gateway::name` and
/// `v2_gateway::name`.
macro_rules! for_both {
    ($($name:ident),* $(,)?) => {
        mod v1_gateway {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::support::Generation::V1).await
                }
            )*
        }
        mod v2_gateway {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::support::Generation::V2).await
                }
            )*
        }
    };
}
pub(crate) use for_both;

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a calendar day")
}

pub fn instant(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 instant")
}

/// The Paris day of an instant.
pub fn paris_day(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&Paris).date_naive()
}

/// A `meters` entry: `{"pdl": …}` plus `extra`.
pub fn meter(pdl: &str, extra: Value) -> Value {
    let mut entry = json!({ "pdl": pdl });
    merge(&mut entry, extra);
    entry
}

/// `from`'s keys over `into`'s.
pub fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

/// The v1 token the fake expects for a meter.
pub fn v1_token(pdl: &str) -> &'static str {
    match pdl {
        DEFAULT_PDL => DEFAULT_V1_TOKEN,
        PDL_B => TOKEN_B,
        other => panic!("no v1 token for {other}"),
    }
}

/// A fake gateway, a data directory, a manual clock and the settings loaded from an options
/// file that points at them.
pub struct Harness {
    pub generation: Generation,
    pub gw: FakeGateway,
    pub clock: ManualClock,
    pub dir: tempfile::TempDir,
    pub settings: Settings,
    /// The gateway client's timeout, when not the real 30 s.
    pub timeout: Option<Duration>,
    /// How failing calls are retried; none by default.
    pub retry: Retry,
}

impl Harness {
    /// The clock at `now` and the fake's "today" at its Paris day; the options `meters` (v1
    /// tokens added) with `top` over the generation's gateway options.
    pub fn new(generation: Generation, now: &str, meters: &[Value], top: Value) -> Harness {
        super::probe::install_crypto_provider();
        let gw = FakeGateway::start();
        gw.set_v1_token(PDL_B, TOKEN_B);
        let clock = ManualClock::new(instant(now));
        gw.set_today(paris_day(instant(now)));
        let dir = tempfile::tempdir().expect("a temporary directory");
        let settings = load_settings(generation, &gw, dir.path(), meters, top);
        Harness {
            generation,
            gw,
            clock,
            dir,
            settings,
            timeout: None,
            retry: NO_RETRY,
        }
    }

    /// The Linky meters only: the Tempo and EcoWatt devices off.
    pub fn linky(generation: Generation, now: &str, meters: &[Value]) -> Harness {
        let top = json!({ "tempo": false, "ecowatt": false });
        Harness::new(generation, now, meters, top)
    }

    /// One meter ([`DEFAULT_PDL`] with `options`), the grid devices as `top` says (on by
    /// default).
    pub fn grid(generation: Generation, now: &str, options: Value, top: Value) -> Harness {
        Harness::new(generation, now, &[meter(DEFAULT_PDL, options)], top)
    }

    /// New options (the add-on restarted with them): open the pipeline again afterwards.
    pub fn configure(&mut self, meters: &[Value], top: Value) {
        self.settings = load_settings(self.generation, &self.gw, self.dir.path(), meters, top);
    }

    pub fn v1(&self) -> bool {
        self.generation == Generation::V1
    }

    /// Moves the clock, and the fake's "today" to its Paris day.
    pub fn at(&self, now: &str) {
        self.clock.set(instant(now));
        self.gw.set_today(paris_day(instant(now)));
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A client of the configured generation (with the harness's timeout, if any).
    pub fn gateway(&self) -> Gateway {
        let Some(timeout) = self.timeout else {
            return Gateway::from_settings(&self.settings.gateway, &self.settings.meters)
                .expect("a gateway client");
        };
        let base = self.settings.gateway.base_url.clone();
        match self.generation {
            Generation::V2 => Gateway::V2(
                v2::Client::new(base, Some(Secret::new(DEFAULT_SECRET)), timeout)
                    .expect("a v2 client"),
            ),
            Generation::V1 => {
                let tokens = self
                    .settings
                    .meters
                    .iter()
                    .map(|m| (m.pdl.clone(), Secret::new(v1_token(m.pdl.as_str()))))
                    .collect();
                Gateway::V1(v1::Client::new(base, tokens, timeout).expect("a v1 client"))
            }
        }
    }

    /// Opens the store in the data directory (creating it the first time): a restart when
    /// called again.
    pub async fn open(&self) -> Pipeline {
        self.open_with(self.gateway()).await
    }

    /// Opens the store with the given client.
    pub async fn open_with(&self, gateway: Gateway) -> Pipeline {
        let clock = Arc::new(self.clock.clone());
        let opening = Pipeline::open(self.settings.clone(), gateway, clock);
        let mut pipeline = within(T, "open the pipeline", opening)
            .await
            .expect("the store opens");
        pipeline.retry = self.retry;
        pipeline
    }

    /// Closes `pipeline` and opens a new one on the same data directory.
    pub async fn reopen(&self, pipeline: Pipeline) -> Pipeline {
        within(T, "close the store", pipeline.store.close()).await;
        drop(pipeline);
        self.open().await
    }

    /// Every request since the last `clear_requests`, each checked to be of this generation.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        let requests = self.gw.requests();
        for r in &requests {
            assert_eq!(r.is_v1(), self.v1(), "{r:?}");
        }
        requests
    }

    /// Requests of `kind` for `pdl` since the last `clear_requests`, as date ranges.
    pub fn ranges(&self, kind: RouteKind, pdl: &str) -> Vec<(NaiveDate, NaiveDate)> {
        self.gw
            .requests_where(|r| r.route() == Some(kind) && r.pdl().as_deref() == Some(pdl))
            .iter()
            .map(|r| {
                assert_eq!(r.is_v1(), self.v1(), "{r:?}");
                let (start, end) = r.range().unwrap_or_else(|| panic!("a range: {r:?}"));
                (start.parse().unwrap(), end.parse().unwrap())
            })
            .collect()
    }

    /// `/api/pdl` (v2) and `/valid_access` (v1): the account-level call of each generation.
    pub fn account_calls(&self) -> (usize, usize) {
        (self.gw.pdl_calls(), self.gw.access_calls())
    }
}

fn load_settings(
    generation: Generation,
    gw: &FakeGateway,
    dir: &std::path::Path,
    meters: &[Value],
    top: Value,
) -> Settings {
    let mut options = match generation {
        Generation::V2 => json!({
            "gateway": "v2",
            "client_secret": DEFAULT_SECRET,
            "gateway_url": gw.url(),
            "mqtt_enabled": false,
        }),
        Generation::V1 => json!({
            "gateway": "v1",
            "gateway_url": gw.url_v1(),
            "mqtt_enabled": false,
        }),
    };
    let meters: Vec<Value> = meters
        .iter()
        .map(|m| match generation {
            Generation::V2 => m.clone(),
            Generation::V1 => {
                let pdl = m["pdl"].as_str().expect("a pdl");
                let mut with_token = m.clone();
                merge(&mut with_token, json!({ "token": v1_token(pdl) }));
                with_token
            }
        })
        .collect();
    options["meters"] = json!(meters);
    merge(&mut options, top);
    let path = dir.join("options.json");
    std::fs::write(&path, options.to_string()).expect("write the options");
    let loaded = config::load(&Sources {
        options_path: Some(path),
        data_dir: Some(dir.join("data")),
        env: vec![],
        demo: false,
    })
    .unwrap_or_else(|e| panic!("valid options: {e}\n{options}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    loaded.settings
}

pub async fn sync(pipeline: &Pipeline) -> SyncSummary {
    within(T, "a sync", pipeline.sync()).await
}

pub fn assert_ok(summary: &SyncSummary) {
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
}

/// The one-line errors of a sync.
pub fn error_lines(summary: &SyncSummary) -> Vec<String> {
    summary.errors.iter().map(ToString::to_string).collect()
}

/// The error line of the Tempo/EcoWatt part of a sync.
pub fn grid_error(summary: &SyncSummary) -> String {
    summary
        .errors
        .iter()
        .find(|e| e.part == Part::Grid)
        .unwrap_or_else(|| panic!("no Tempo/EcoWatt error in {:?}", summary.errors))
        .to_string()
}

/// What one `Pipeline::messages` publishes, by topic.
pub struct Published(pub BTreeMap<String, Message>);

impl Published {
    pub async fn of(pipeline: &Pipeline) -> Published {
        let messages = within(T, "messages", pipeline.messages())
            .await
            .expect("messages");
        let mut by_topic = BTreeMap::new();
        for message in messages {
            let topic = message.topic.clone();
            assert!(
                by_topic.insert(topic.clone(), message).is_none(),
                "{topic} published twice"
            );
        }
        Published(by_topic)
    }

    pub fn state_topic(pdl: &str, path: &str) -> String {
        format!("myelectricaldata/{pdl}/{path}")
    }

    pub fn config_topic(pdl: &str, key: &str) -> String {
        format!("homeassistant/sensor/med_{pdl}_{key}/config")
    }

    /// The JSON payload of `topic`, `None` when it is absent or cleared.
    pub fn payload(&self, topic: &str) -> Option<Value> {
        let message = self.0.get(topic)?;
        if message.payload.is_empty() {
            return None;
        }
        Some(
            serde_json::from_slice(&message.payload)
                .unwrap_or_else(|e| panic!("{topic} is not JSON: {e}")),
        )
    }

    /// The JSON payload of `topic`; panics when it is absent or cleared.
    pub fn topic(&self, topic: &str) -> Value {
        assert!(
            self.0.contains_key(topic),
            "{topic} not published; topics: {:?}",
            self.0.keys().collect::<Vec<_>>()
        );
        self.payload(topic)
            .unwrap_or_else(|| panic!("{topic} is cleared"))
    }

    /// The JSON state of `pdl`'s `path`; panics when it is absent or cleared.
    pub fn state(&self, pdl: &str, path: &str) -> Value {
        let topic = Self::state_topic(pdl, path);
        let value = self.topic(&topic);
        assert_eq!(self.0[&topic].kind, MessageKind::State, "{topic}");
        value
    }

    pub fn has_state(&self, pdl: &str, path: &str) -> bool {
        self.payload(&Self::state_topic(pdl, path)).is_some()
    }

    /// The discovery config of `pdl`'s entity `key`; panics when it is absent or cleared.
    pub fn config(&self, pdl: &str, key: &str) -> Value {
        let topic = Self::config_topic(pdl, key);
        let value = self.topic(&topic);
        let message = &self.0[&topic];
        assert_eq!(message.kind, MessageKind::Discovery, "{topic}");
        assert!(message.retain, "{topic}: configs are retained");
        value
    }

    /// Published with an empty retained payload (what removes a retained topic).
    pub fn is_cleared(&self, topic: &str) -> bool {
        self.0
            .get(topic)
            .is_some_and(|m| m.payload.is_empty() && m.retain)
    }

    pub fn assert_cleared(&self, topic: &str) {
        assert!(
            self.is_cleared(topic),
            "{topic} is not cleared: {:?}",
            self.0
                .get(topic)
                .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        );
    }

    /// Every topic of `pdl` with a non-empty payload.
    pub fn live_topics_of(&self, pdl: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(topic, m)| topic.contains(pdl) && !m.payload.is_empty())
            .map(|(topic, _)| topic.clone())
            .collect()
    }
}

/// The days with a value of a stored series in `[from, to]`, and their sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredTotal {
    pub days: u32,
    pub wh: i64,
}

pub async fn stored_total(
    pipeline: &Pipeline,
    pdl: &Pdl,
    kind: SeriesKind,
    from: NaiveDate,
    to: NaiveDate,
) -> StoredTotal {
    let days = within(T, "stored days", pipeline.store.days(pdl, kind, from, to))
        .await
        .expect("store");
    StoredTotal {
        days: u32::try_from(days.len()).expect("a count"),
        wh: days.iter().map(|d| d.wh).sum(),
    }
}

/// The stored value of one day, `None` while it is not known.
pub async fn stored_day(
    pipeline: &Pipeline,
    pdl: &Pdl,
    kind: SeriesKind,
    date: NaiveDate,
) -> Option<i64> {
    let days = within(
        T,
        "one stored day",
        pipeline.store.days(pdl, kind, date, date),
    )
    .await
    .expect("store");
    days.first().map(|d| d.wh)
}
