//! An MQTT observer: subscribes and records every publish it receives, in order.
//!
//! Its rumqttc event loop runs on a thread of its own (own current-thread runtime), so it keeps
//! receiving whatever the test's runtime does. It reconnects by itself (every 100 ms) and
//! subscribes again after each connection, e.g. across `Mosquitto::restart`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS, SubscribeFilter,
    SubscribeReasonCode, TlsConfiguration, Transport,
};
use tokio::sync::oneshot;

use super::broker::{BrokerKind, Mosquitto};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(20);
/// How long `retained_snapshot` waits for its marker publish to come back.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(10);

/// One publish as the probe received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

impl Received {
    /// The payload as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    /// The payload as JSON; panics with the payload if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {}", self.topic, self.text()))
    }
}

/// Where and how a probe connects. `From<u16>` (anonymous plain TCP on 127.0.0.1) and
/// `From<&Mosquitto>` (credentials and CA taken from the broker).
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    pub host: String,
    pub port: u16,
    pub credentials: Option<(String, String)>,
    /// PEM CA certificate: TLS when set.
    pub ca_pem: Option<Vec<u8>>,
}

impl From<u16> for ProbeTarget {
    fn from(port: u16) -> Self {
        ProbeTarget {
            host: "127.0.0.1".into(),
            port,
            credentials: None,
            ca_pem: None,
        }
    }
}

impl From<&Mosquitto> for ProbeTarget {
    fn from(broker: &Mosquitto) -> Self {
        ProbeTarget {
            host: broker.host().into(),
            port: broker.port(),
            credentials: match broker.kind() {
                BrokerKind::Password { user, password } => Some((user.clone(), password.clone())),
                _ => None,
            },
            ca_pem: broker.ca_cert_pem(),
        }
    }
}

impl ProbeTarget {
    /// rumqttc options for this target (credentials, TLS, 1 MiB packets, clean session).
    pub fn mqtt_options(&self, client_id: &str) -> MqttOptions {
        let mut options = MqttOptions::new(client_id, self.host.clone(), self.port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            .set_max_packet_size(1 << 20, 1 << 20);
        if let Some((user, password)) = &self.credentials {
            options.set_credentials(user.clone(), password.clone());
        }
        if let Some(ca) = &self.ca_pem {
            install_crypto_provider();
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
                ca: ca.clone(),
                alpn: None,
                client_auth: None,
            }));
        }
        options
    }
}

/// Installs rustls' ring provider as the process default (no-op if one is installed already).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client id without `/`, unique in this process.
pub fn client_id(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<Received>>,
    connacks: AtomicUsize,
    subacks: AtomicUsize,
    sub_failures: AtomicUsize,
    published: AtomicUsize,
    last_error: Mutex<Option<String>>,
}

pub struct MqttProbe {
    client: AsyncClient,
    shared: Arc<Shared>,
    target: ProbeTarget,
    topics: Vec<String>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MqttProbe {
    /// Connects, subscribes (QoS 1) to `topics` and returns once the broker acknowledged the
    /// subscription (panics after 5 s, with the last connection error).
    /// `target`: a port (anonymous, 127.0.0.1) or `&Mosquitto`.
    pub async fn connect(target: impl Into<ProbeTarget>, topics: &[&str]) -> MqttProbe {
        let probe = Self::spawn(target.into(), topics);
        probe.wait_connections(1, CONNECT_TIMEOUT).await;
        probe
    }

    fn spawn(target: ProbeTarget, topics: &[&str]) -> MqttProbe {
        let options = target.mqtt_options(&client_id("probe"));
        let (client, eventloop) = AsyncClient::new(options, 64);
        let shared = Arc::new(Shared::default());
        let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        let (stop, stopped) = oneshot::channel();
        let thread = {
            let client = client.clone();
            let shared = shared.clone();
            let topics = topics.clone();
            std::thread::Builder::new()
                .name(format!("mqtt-probe-{}", target.port))
                .spawn(move || run_event_loop(eventloop, client, topics, shared, stopped))
                .expect("cannot spawn the probe thread")
        };
        MqttProbe {
            client,
            shared,
            target,
            topics,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn target(&self) -> &ProbeTarget {
        &self.target
    }

    /// Every publish received so far, in order.
    pub fn messages(&self) -> Vec<Received> {
        self.shared.messages.lock().unwrap().clone()
    }

    /// Number of publishes received so far: pass it to `wait_for_after` to wait for a new one.
    pub fn mark(&self) -> usize {
        self.shared.messages.lock().unwrap().len()
    }

    /// Forgets the publishes received so far.
    pub fn clear(&self) {
        self.shared.messages.lock().unwrap().clear();
    }

    /// Distinct topics received so far, in order of first arrival.
    pub fn topics(&self) -> Vec<String> {
        distinct_topics(&self.messages())
    }

    /// Publishes received on exactly this topic.
    pub fn on(&self, topic: &str) -> Vec<Received> {
        self.messages()
            .into_iter()
            .filter(|m| m.topic == topic)
            .collect()
    }

    /// Latest publish received on exactly this topic.
    pub fn last(&self, topic: &str) -> Option<Received> {
        self.on(topic).pop()
    }

    /// Connections acknowledged so far (1 after `connect`, +1 per reconnection).
    pub fn connections(&self) -> usize {
        self.shared.connacks.load(Ordering::SeqCst)
    }

    /// Waits until the probe has connected and subscribed `n` times in all (e.g. 2 after one
    /// broker restart).
    pub async fn wait_connections(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.shared.sub_failures.load(Ordering::SeqCst) > 0 {
                panic!(
                    "probe on port {}: the broker refused the subscription to {:?}",
                    self.target.port, self.topics
                );
            }
            let connected = self.shared.connacks.load(Ordering::SeqCst) >= n;
            let subscribed =
                self.topics.is_empty() || self.shared.subacks.load(Ordering::SeqCst) >= n;
            if connected && subscribed {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "probe on {}:{} not connected+subscribed {n} time(s) after {timeout:?} \
                     (connacks {}, subacks {}); last error: {:?}",
                    self.target.host,
                    self.target.port,
                    self.shared.connacks.load(Ordering::SeqCst),
                    self.shared.subacks.load(Ordering::SeqCst),
                    self.shared.last_error.lock().unwrap()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// First publish (since the start) on `topic` whose payload satisfies `pred`; polls every
    /// 20 ms and panics after `timeout` with the topics seen.
    pub async fn wait_for(
        &self,
        topic: &str,
        pred: impl Fn(&[u8]) -> bool,
        timeout: Duration,
    ) -> Received {
        self.wait_for_after(0, topic, pred, timeout).await
    }

    /// Like `wait_for`, among the publishes received after `mark` (from `mark()`).
    pub async fn wait_for_after(
        &self,
        mark: usize,
        topic: &str,
        pred: impl Fn(&[u8]) -> bool,
        timeout: Duration,
    ) -> Received {
        let deadline = Instant::now() + timeout;
        loop {
            let found = {
                let messages = self.shared.messages.lock().unwrap();
                messages
                    .iter()
                    .skip(mark)
                    .find(|m| m.topic == topic && pred(&m.payload))
                    .cloned()
            };
            if let Some(message) = found {
                return message;
            }
            if Instant::now() >= deadline {
                let messages = self.messages();
                let rejected: Vec<String> = messages
                    .iter()
                    .skip(mark)
                    .filter(|m| m.topic == topic)
                    .map(|m| shorten(&m.text()))
                    .collect();
                panic!(
                    "no matching publish on {topic} after {timeout:?} (mark {mark}).\n\
                     payloads on that topic that did not match: {rejected:?}\n\
                     topics seen ({} messages): {:#?}\nlast connection error: {:?}",
                    messages.len(),
                    distinct_topics(&messages),
                    self.shared.last_error.lock().unwrap()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// `wait_for` a payload equal to `text`.
    pub async fn wait_for_text(&self, topic: &str, text: &str, timeout: Duration) -> Received {
        self.wait_for(topic, |p| p == text.as_bytes(), timeout)
            .await
    }

    /// Publishes with QoS 0 (like Home Assistant's birth message `homeassistant/status`
    /// `online`, not retained) and returns once the packet has left the client.
    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>, retain: bool) {
        self.publish_qos(topic, payload, retain, QoS::AtMostOnce)
            .await;
    }

    /// Publishes and returns once the packet has left the client (not waiting for a PubAck).
    pub async fn publish_qos(
        &self,
        topic: &str,
        payload: impl Into<Vec<u8>>,
        retain: bool,
        qos: QoS,
    ) {
        let before = self.shared.published.load(Ordering::SeqCst);
        self.client
            .publish(topic, qos, retain, payload.into())
            .await
            .expect("the probe's event loop is gone");
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        while self.shared.published.load(Ordering::SeqCst) <= before {
            if Instant::now() >= deadline {
                panic!(
                    "probe could not send its publish on {topic}; last error: {:?}",
                    self.shared.last_error.lock().unwrap()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Clears a retained message (empty retained publish, QoS 1).
    pub async fn clear_retained(&self, topic: &str) {
        self.publish_qos(topic, Vec::new(), true, QoS::AtLeastOnce)
            .await;
    }

    /// What the broker holds as retained under `filter`: a fresh client subscribes to
    /// `filter` and to a marker topic of its own (`probe-sync/…`, in the same SUBSCRIBE), then
    /// publishes one message to the marker and collects what arrives before that message comes
    /// back (panics if it does not within 10 s). Only publishes flagged retain are kept (live
    /// ones are not); an empty payload stays as an empty vec (cleared). Other probes
    /// subscribed to `#` see the marker message go by.
    ///
    /// Why the marker is the last retained message: the broker queues the retained messages
    /// of a subscription while it handles the SUBSCRIBE (mosquitto: before it even sends the
    /// SUBACK), and it handles one client's packets in order, so the marker PUBLISH, sent only
    /// once the SUBACK is back, is queued for this client after every one of them. Marker and
    /// subscriptions are QoS 1 on purpose: mosquitto holds QoS 1 deliveries beyond its
    /// in-flight window (20) in a FIFO queue but lets QoS 0 ones through at once, so a QoS 0
    /// marker could overtake retained messages still waiting in that queue.
    pub async fn retained_snapshot(
        target: impl Into<ProbeTarget>,
        filter: &str,
    ) -> BTreeMap<String, Vec<u8>> {
        let marker = format!(
            "probe-sync/{}-{:016x}",
            client_id("snapshot"),
            fastrand::u64(..)
        );
        let probe = Self::connect(target, &[filter, &marker]).await;
        probe
            .publish_qos(
                &marker,
                "end of the retained messages",
                false,
                QoS::AtLeastOnce,
            )
            .await;
        let deadline = Instant::now() + SNAPSHOT_TIMEOUT;
        let received = loop {
            let messages = probe.messages();
            if let Some(end) = messages.iter().position(|m| m.topic == marker) {
                break messages[..end].to_vec();
            }
            if Instant::now() >= deadline {
                panic!(
                    "retained_snapshot of {filter:?} on {}:{}: the marker publish on {marker} \
                     did not come back within {SNAPSHOT_TIMEOUT:?} ({} publishes received \
                     before giving up); last connection error: {:?}",
                    probe.target.host,
                    probe.target.port,
                    messages.len(),
                    probe.shared.last_error.lock().unwrap()
                );
            }
            tokio::time::sleep(POLL).await;
        };
        received
            .into_iter()
            .filter(|m| m.retain)
            .map(|m| (m.topic, m.payload))
            .collect()
    }
}

impl Drop for MqttProbe {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run_event_loop(
    mut eventloop: EventLoop,
    client: AsyncClient,
    topics: Vec<String>,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot build the probe runtime");
    runtime.block_on(async move {
        loop {
            let event = tokio::select! {
                _ = &mut stop => break,
                event = eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    // Clean session: subscribe again after every (re)connection.
                    if !topics.is_empty() {
                        let filters = topics
                            .iter()
                            .map(|t| SubscribeFilter::new(t.clone(), QoS::AtLeastOnce));
                        if let Err(e) = client.try_subscribe_many(filters) {
                            *shared.last_error.lock().unwrap() = Some(format!("subscribe: {e}"));
                        }
                    }
                    shared.connacks.fetch_add(1, Ordering::SeqCst);
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    if ack
                        .return_codes
                        .iter()
                        .any(|c| matches!(c, SubscribeReasonCode::Failure))
                    {
                        shared.sub_failures.fetch_add(1, Ordering::SeqCst);
                    }
                    shared.subacks.fetch_add(1, Ordering::SeqCst);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    shared.messages.lock().unwrap().push(Received {
                        topic: p.topic,
                        payload: p.payload.to_vec(),
                        retain: p.retain,
                    });
                }
                Ok(Event::Outgoing(Outgoing::Publish(_))) => {
                    shared.published.fetch_add(1, Ordering::SeqCst);
                }
                Ok(_) => {}
                Err(e) => {
                    *shared.last_error.lock().unwrap() = Some(e.to_string());
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            }
        }
    });
}

fn distinct_topics(messages: &[Received]) -> Vec<String> {
    let mut topics: Vec<String> = Vec::new();
    for m in messages {
        if !topics.contains(&m.topic) {
            topics.push(m.topic.clone());
        }
    }
    topics
}

fn shorten(text: &str) -> String {
    if text.chars().count() > 200 {
        format!("{}…", text.chars().take(200).collect::<String>())
    } else {
        text.to_string()
    }
}
