//! The MQTT session: one task owns the rumqttc event loop, another owns what must stay
//! published.
//!
//! * The **driver** task only polls the event loop (rumqttc needs that at all times), reports
//!   connection changes and Home Assistant's birth message, and sleeps with a capped jittered
//!   backoff between failed attempts.
//! * The **controller** task keeps the latest message of every topic (discovery configs, then
//!   states). After every ConnAck it publishes `online` and all of them again: with a clean
//!   session the broker forgot our queue. When Home Assistant announces itself it does the
//!   same after a short random delay. Publishing goes through the client's request channel,
//!   so it never blocks the polling task, and QoS 1 messages are pipelined by rumqttc's
//!   inflight window instead of waiting for each PUBACK in turn.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, Incoming, LastWill,
    MqttOptions, Outgoing, QoS, TlsConfiguration, Transport,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::broker::{BrokerAddress, TlsFiles};

/// Largest packet we send or accept: discovery configs are a few KiB, rumqttc's default
/// (10 KiB) is too tight for a forecast with attributes.
const MAX_PACKET_SIZE: usize = 256 * 1024;

/// What a message is, which decides its place when everything is republished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MessageKind {
    /// A discovery config (always retained).
    Discovery,
    /// A state topic.
    State,
}

/// One publication. An empty payload on a retained topic clears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: MessageKind,
    pub topic: String,
    pub payload: Bytes,
    pub retain: bool,
    pub qos: QoS,
}

/// How to reach the broker and what to say about ourselves.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub broker: BrokerAddress,
    pub tls_files: TlsFiles,
    pub client_id: String,
    /// `P/status`: `online` after each ConnAck, `offline` as last will and at shutdown.
    pub status_topic: String,
    /// `{discovery_prefix}/status`, where Home Assistant announces itself.
    pub ha_status_topic: Option<String>,
    pub keep_alive: Duration,
    pub reconnect_initial: Duration,
    pub reconnect_max: Duration,
    /// Upper bound of the random delay before republishing after Home Assistant's birth.
    pub birth_delay_max: Duration,
    /// Publish `online` and set the `offline` last will. `check` only probes the broker and
    /// must not change what Home Assistant shows.
    pub announce: bool,
    /// Log each failed attempt. `once` and `check` report the first failure themselves and
    /// stop, so the daemon alone logs "retrying".
    pub log_failures: bool,
}

impl SessionConfig {
    pub fn new(
        broker: BrokerAddress,
        tls_files: TlsFiles,
        topic_prefix: &str,
        ha_status_topic: Option<String>,
    ) -> Self {
        Self {
            broker,
            tls_files,
            // `/` is not allowed in a client id by some brokers; the suffix keeps two
            // instances from kicking each other off.
            client_id: format!("myelectricaldata-mqtt-{:08x}", fastrand::u32(..)),
            status_topic: format!("{topic_prefix}/status"),
            ha_status_topic,
            keep_alive: Duration::from_secs(30),
            reconnect_initial: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            birth_delay_max: Duration::from_secs(5),
            announce: true,
            log_failures: true,
        }
    }
}

/// What the driver last saw of the connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStatus {
    pub connected: bool,
    /// ConnAcks received since start.
    pub connections: u64,
    /// Publish packets written to the network since start.
    pub published: u64,
    /// QoS > 0 publishes not yet acknowledged on the current connection.
    pub inflight: u16,
    /// The last connection failure, in one line.
    pub last_error: Option<String>,
    /// Failed connection attempts since start.
    pub failures: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("TLS setup: cannot read {path}: {source}")]
    TlsFile {
        path: String,
        source: std::io::Error,
    },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("the MQTT session has stopped")]
    Stopped,
}

enum Command {
    Publish(Vec<Message>),
    Flush(oneshot::Sender<()>),
    Shutdown {
        offline: bool,
        done: oneshot::Sender<()>,
    },
}

enum LinkEvent {
    Connected,
    Disconnected,
    HomeAssistantOnline,
}

/// Handle on a running session.
pub struct Session {
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<LinkStatus>,
    controller: JoinHandle<()>,
    driver: JoinHandle<()>,
}

impl Session {
    /// Starts connecting in the background.
    pub fn start(config: SessionConfig) -> Result<Self, SessionError> {
        let options = mqtt_options(&config)?;
        let (client, eventloop) = AsyncClient::new(options, 64);
        let (status_tx, status) = watch::channel(LinkStatus::default());
        let (link_tx, link_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let driver = tokio::spawn(drive(
            eventloop,
            config.clone(),
            status_tx,
            link_tx,
            stop_rx,
        ));
        let (commands, command_rx) = mpsc::channel(16);
        let controller = tokio::spawn(
            Controller {
                client,
                config,
                status: status.clone(),
                retained: BTreeMap::new(),
                outbox: VecDeque::new(),
                requested: 0,
                flushes: Vec::new(),
                republish_at: None,
                stop_driver: stop_tx,
            }
            .run(command_rx, link_rx),
        );
        Ok(Self {
            commands,
            status,
            controller,
            driver,
        })
    }

    /// Publishes the messages now (if connected) and keeps them for every republication.
    pub async fn publish(&self, messages: Vec<Message>) -> Result<(), SessionError> {
        self.commands
            .send(Command::Publish(messages))
            .await
            .map_err(|_| SessionError::Stopped)
    }

    /// Resolves once everything published so far has been written and acknowledged.
    pub async fn flush(&self) -> Result<(), SessionError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Flush(tx))
            .await
            .map_err(|_| SessionError::Stopped)?;
        rx.await.map_err(|_| SessionError::Stopped)
    }

    /// The connection as the driver last saw it.
    pub fn status(&self) -> watch::Receiver<LinkStatus> {
        self.status.clone()
    }

    /// Waits for the first ConnAck or the first failure, whichever comes first.
    pub async fn first_outcome(&self, timeout: Duration) -> Result<(), String> {
        let mut status = self.status.clone();
        let wait = status.wait_for(|s| s.connected || s.last_error.is_some());
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(s)) if s.connected => Ok(()),
            Ok(Ok(s)) => Err(s.last_error.clone().unwrap_or_default()),
            Ok(Err(_)) => Err("the MQTT session stopped".into()),
            Err(_) => Err(format!(
                "no answer from the broker within {} s",
                timeout.as_secs()
            )),
        }
    }

    /// Ends the session: with `offline`, publishes `offline` on the status topic first (the
    /// daemon's shutdown); without, leaves `online` (after `once`). Then disconnects cleanly.
    pub async fn shutdown(self, offline: bool) {
        let (done, wait) = oneshot::channel();
        if self
            .commands
            .send(Command::Shutdown { offline, done })
            .await
            .is_ok()
        {
            let _ = wait.await;
        }
        let _ = self.controller.await;
        let _ = self.driver.await;
    }
}

fn mqtt_options(config: &SessionConfig) -> Result<MqttOptions, SessionError> {
    let broker = &config.broker;
    let mut options = MqttOptions::new(&config.client_id, &broker.host, broker.port);
    options
        .set_keep_alive(config.keep_alive)
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET_SIZE, MAX_PACKET_SIZE)
        .set_inflight(100);
    if config.announce {
        options.set_last_will(LastWill::new(
            &config.status_topic,
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
    }
    if let Some(user) = &broker.username {
        let password = broker.password.as_ref().map(|p| p.expose()).unwrap_or("");
        options.set_credentials(user, password);
    }
    if broker.tls || config.tls_files.ca_cert.is_some() {
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls_client_config(&config.tls_files)?),
        )));
    }
    Ok(options)
}

/// A rustls client config: the given CA (or the system's roots) and an optional client cert.
pub fn tls_client_config(files: &TlsFiles) -> Result<rustls::ClientConfig, SessionError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|source| SessionError::TlsFile {
            path: path.display().to_string(),
            source,
        })
    };
    let mut roots = rustls::RootCertStore::empty();
    match &files.ca_cert {
        Some(path) => {
            for cert in CertificateDer::pem_slice_iter(&read(path)?) {
                let cert =
                    cert.map_err(|e| SessionError::Tls(format!("{}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| SessionError::Tls(format!("{}: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(SessionError::Tls(format!(
                    "{}: no certificate in it",
                    path.display()
                )));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    match (&files.client_cert, &files.client_key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(&read(cert)?)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| SessionError::Tls(format!("{}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_slice(&read(key)?)
                .map_err(|e| SessionError::Tls(format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| SessionError::Tls(e.to_string()))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// The driver: polls the event loop until told to stop or until our DISCONNECT is written.
async fn drive(
    mut eventloop: EventLoop,
    config: SessionConfig,
    status: watch::Sender<LinkStatus>,
    link: mpsc::UnboundedSender<LinkEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(config.reconnect_initial, config.reconnect_max);
    loop {
        let event = tokio::select! {
            event = eventloop.poll() => event,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        match event {
            Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                backoff.reset();
                tracing::info!("connected to the MQTT broker {}", config.broker);
                status.send_modify(|s| {
                    s.connected = true;
                    s.connections += 1;
                    s.last_error = None;
                });
                let _ = link.send(LinkEvent::Connected);
            }
            Ok(Event::Incoming(Incoming::Publish(publish))) => {
                if Some(&publish.topic) == config.ha_status_topic.as_ref()
                    && publish.payload.as_ref() == b"online"
                {
                    tracing::info!("Home Assistant is online: republishing");
                    let _ = link.send(LinkEvent::HomeAssistantOnline);
                }
            }
            Ok(Event::Outgoing(Outgoing::Publish(_))) => {
                status.send_modify(|s| s.published += 1);
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                status.send_modify(|s| s.connected = false);
                break;
            }
            Ok(_) => {}
            Err(error) => {
                let line = describe_connection_error(&error, &config.broker);
                let was_connected = status.borrow().connected;
                if was_connected {
                    let _ = link.send(LinkEvent::Disconnected);
                }
                let delay = backoff.next_delay();
                if config.log_failures {
                    tracing::warn!("MQTT: {line}; retrying in {:.1} s", delay.as_secs_f64());
                }
                status.send_modify(|s| {
                    s.connected = false;
                    s.failures += 1;
                    s.last_error = Some(line);
                });
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.wait_for(|stop| *stop) => break,
                }
            }
        }
        let inflight = eventloop.state.inflight();
        status.send_if_modified(|s| {
            let changed = s.inflight != inflight;
            s.inflight = inflight;
            changed
        });
    }
}

/// One line saying what went wrong and what to check. Never contains the password.
pub fn describe_connection_error(error: &ConnectionError, broker: &BrokerAddress) -> String {
    let at = format!("{}:{}", broker.host, broker.port);
    if let Some(tls) = tls_error_of(error) {
        let hint = match tls {
            rustls::Error::AlertReceived(
                rustls::AlertDescription::CertificateRequired
                | rustls::AlertDescription::BadCertificate
                | rustls::AlertDescription::UnknownCA,
            ) => {
                ": the broker wants a client certificate it trusts (mqtt_client_cert and mqtt_client_key)"
            }
            rustls::Error::InvalidCertificate(_) => {
                ": the broker's certificate is not trusted (set mqtt_ca_cert to its CA)"
            }
            _ => "",
        };
        return format!("TLS failure with {at}: {tls}{hint}");
    }
    match error {
        ConnectionError::ConnectionRefused(
            ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized,
        ) => format!(
            "the broker {at} refused the login: not authorised (check the MQTT user name and password)"
        ),
        ConnectionError::ConnectionRefused(code) => {
            format!("the broker {at} refused the connection ({code:?})")
        }
        ConnectionError::Tls(e) => format!("TLS failure with {at}: {}", crate::http::root_cause(e)),
        ConnectionError::NetworkTimeout => format!("no answer from {at} (network timeout)"),
        ConnectionError::Io(e) => {
            let text = e.to_string();
            match e.kind() {
                std::io::ErrorKind::ConnectionRefused => format!(
                    "connection refused by {at}: is the broker running and listening on this port?"
                ),
                _ if text.contains("lookup")
                    || text.contains("resolve")
                    || text.contains("Name or service") =>
                {
                    format!("unknown host {}: check the broker's name", broker.host)
                }
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                    if broker.tls =>
                {
                    format!(
                        "TLS failure with {at}: the connection was closed during the handshake ({text})"
                    )
                }
                _ => format!("connection to {at} failed: {text}"),
            }
        }
        other => format!("connection to {at} failed: {other}"),
    }
}

/// The rustls error behind a connection failure, wherever rumqttc wrapped it: during the
/// handshake it is an I/O error; with TLS 1.3 a refused client certificate only shows when
/// the first MQTT packet is read.
fn tls_error_of(error: &ConnectionError) -> Option<&rustls::Error> {
    use rumqttc::StateError;
    let io = match error {
        ConnectionError::Io(e)
        | ConnectionError::MqttState(StateError::Io(e))
        | ConnectionError::MqttState(StateError::Deserialization(rumqttc::mqttbytes::Error::Io(
            e,
        ))) => e,
        _ => return None,
    };
    io.get_ref()?.downcast_ref::<rustls::Error>()
}

/// The controller: owns what must stay published.
struct Controller {
    client: AsyncClient,
    config: SessionConfig,
    status: watch::Receiver<LinkStatus>,
    /// The latest message of every topic we publish, republished after each ConnAck.
    retained: BTreeMap<(MessageKind, String), Message>,
    /// Messages waiting for the request channel, in order.
    outbox: VecDeque<Message>,
    /// Publishes handed to the client since start.
    requested: u64,
    flushes: Vec<oneshot::Sender<()>>,
    republish_at: Option<Instant>,
    stop_driver: watch::Sender<bool>,
}

impl Controller {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut link: mpsc::UnboundedReceiver<LinkEvent>,
    ) {
        let mut status = self.status.clone();
        // The publish being handed to the client. It lives across iterations: dropping a
        // flume send that is waiting for room can lose the race with the receiver, which then
        // has the message although the send never reported it (it was sent twice).
        let mut sending: Option<SendFuture> = None;
        loop {
            self.answer_flushes(sending.is_none());
            let connected = status.borrow().connected;
            if sending.is_none() && connected {
                if let Some(m) = self.outbox.pop_front() {
                    let client = self.client.clone();
                    sending = Some(Box::pin(async move {
                        client
                            .publish_bytes(m.topic, m.qos, m.retain, m.payload)
                            .await
                    }));
                }
            }
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Publish(messages)) => {
                        for message in messages {
                            let key = (message.kind, message.topic.clone());
                            // Unchanged messages are already on the broker (and are resent
                            // after every reconnection anyway).
                            if self.retained.get(&key) != Some(&message) {
                                self.retained.insert(key, message.clone());
                                self.outbox.push_back(message);
                            }
                        }
                    }
                    Some(Command::Flush(done)) => self.flushes.push(done),
                    Some(Command::Shutdown { offline, done }) => {
                        self.shutdown(offline).await;
                        let _ = done.send(());
                        return;
                    }
                    None => {
                        self.shutdown(true).await;
                        return;
                    }
                },
                event = link.recv() => match event {
                    Some(LinkEvent::Connected) => self.on_connected().await,
                    Some(LinkEvent::Disconnected) => {}
                    Some(LinkEvent::HomeAssistantOnline) => {
                        let delay = self.config.birth_delay_max.mul_f64(0.2 + 0.8 * fastrand::f64());
                        self.republish_at = Some(Instant::now() + delay);
                    }
                    None => return,
                },
                sent = until_sent(&mut sending), if sending.is_some() => {
                    sending = None;
                    if sent.is_ok() {
                        self.requested += 1;
                    }
                }
                _ = sleep_until(self.republish_at), if self.republish_at.is_some() => {
                    self.republish_at = None;
                    self.queue_everything();
                }
                changed = status.changed() => {
                    // The driver is gone (it only stops at shutdown): nothing left to do.
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// After a ConnAck: listen for Home Assistant, say we are online, republish everything.
    async fn on_connected(&mut self) {
        if let Some(topic) = &self.config.ha_status_topic {
            if let Err(e) = self.client.subscribe(topic, QoS::AtLeastOnce).await {
                tracing::warn!("MQTT: cannot subscribe to {topic}: {e}");
            }
        }
        self.outbox.clear();
        if self.config.announce {
            self.outbox.push_back(self.status_message("online"));
        }
        self.queue_everything();
    }

    /// Every kept message, discovery configs before states.
    fn queue_everything(&mut self) {
        self.outbox.extend(self.retained.values().cloned());
    }

    fn status_message(&self, payload: &'static str) -> Message {
        Message {
            kind: MessageKind::State,
            topic: self.config.status_topic.clone(),
            payload: Bytes::from_static(payload.as_bytes()),
            retain: true,
            qos: QoS::AtLeastOnce,
        }
    }

    fn is_flushed(&self) -> bool {
        let status = self.status.borrow();
        self.outbox.is_empty()
            && status.connected
            && status.published >= self.requested
            && status.inflight == 0
    }

    fn answer_flushes(&mut self, nothing_sending: bool) {
        if !self.flushes.is_empty() && nothing_sending && self.is_flushed() {
            for done in self.flushes.drain(..) {
                let _ = done.send(());
            }
        }
    }

    async fn shutdown(&mut self, offline: bool) {
        const GRACE: Duration = Duration::from_secs(3);
        let connected = self.status.borrow().connected;
        if connected {
            self.outbox.clear();
            if offline && self.config.announce {
                let message = self.status_message("offline");
                if publish(&self.client, Some(&message)).await.is_ok() {
                    self.requested += 1;
                }
            }
            let mut status = self.status.clone();
            let requested = self.requested;
            let _ = tokio::time::timeout(
                GRACE,
                status.wait_for(|s| !s.connected || (s.published >= requested && s.inflight == 0)),
            )
            .await;
            let _ = tokio::time::timeout(GRACE, self.client.disconnect()).await;
            let mut status = self.status.clone();
            let _ = tokio::time::timeout(GRACE, status.wait_for(|s| !s.connected)).await;
        }
        let _ = self.stop_driver.send(true);
        for done in self.flushes.drain(..) {
            drop(done);
        }
    }
}

type SendFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), rumqttc::ClientError>> + Send>>;

/// Completes with the pending send, if any (never, without one).
async fn until_sent(sending: &mut Option<SendFuture>) -> Result<(), rumqttc::ClientError> {
    match sending {
        Some(send) => send.await,
        None => std::future::pending().await,
    }
}

async fn publish(
    client: &AsyncClient,
    message: Option<&Message>,
) -> Result<(), rumqttc::ClientError> {
    match message {
        Some(m) => {
            client
                .publish_bytes(m.topic.clone(), m.qos, m.retain, m.payload.clone())
                .await
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
