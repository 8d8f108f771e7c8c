//! The MQTT session: one task owns the rumqttc event loop ([`super::driver`]), another owns
//! what must stay published.
//!
//! The **controller** keeps the latest message of every topic (discovery configs, then
//! states). After every ConnAck it publishes `online` and all of them again: with a clean
//! session the broker forgot our queue. When Home Assistant announces itself it does the
//! same after a short random delay. Publishing goes through the client's request channel, so
//! it never blocks the polling task, and QoS 1 messages are pipelined by rumqttc's inflight
//! window instead of waiting for each PUBACK in turn.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use rumqttc::AsyncClient;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::connect::{ConnectError, SessionConfig, SessionError, mqtt_options, qos};
use super::driver::{LinkEvent, LinkStatus, drive};
use crate::model::{Message, MessageKind, Qos};

enum Command {
    Publish(Vec<Message>),
    Flush(oneshot::Sender<()>),
    Shutdown {
        offline: bool,
        done: oneshot::Sender<()>,
    },
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
    pub async fn first_outcome(&self, timeout: Duration) -> Result<(), ConnectError> {
        let mut status = self.status.clone();
        let wait = status.wait_for(|s| s.connected || s.last_error.is_some());
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(s)) => s
                .last_error
                .clone()
                .filter(|_| !s.connected)
                .map_or(Ok(()), Err),
            Ok(Err(_)) => Err(ConnectError::Stopped),
            Err(_) => Err(ConnectError::NoAnswer(timeout.as_secs())),
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
            if sending.is_none() && status.borrow().connected {
                sending = self.outbox.pop_front().map(|m| self.send(m));
            }
            tokio::select! {
                command = commands.recv() => {
                    if let Step::Stop = self.on_command(command).await {
                        return;
                    }
                }
                event = link.recv() => match event {
                    Some(LinkEvent::Connected) => self.on_connected().await,
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
                // The driver is gone (it only stops at shutdown): nothing left to do.
                changed = status.changed() => if changed.is_err() {
                    return;
                },
            }
        }
    }

    fn send(&self, m: Message) -> SendFuture {
        let client = self.client.clone();
        Box::pin(async move {
            client
                .publish_bytes(m.topic, qos(m.qos), m.retain, m.payload)
                .await
        })
    }

    async fn on_command(&mut self, command: Option<Command>) -> Step {
        match command {
            Some(Command::Publish(messages)) => {
                for message in messages {
                    let key = (message.kind, message.topic.clone());
                    // Unchanged messages are already on the broker (and are resent after
                    // every reconnection anyway).
                    if self.retained.get(&key) != Some(&message) {
                        self.retained.insert(key, message.clone());
                        self.outbox.push_back(message);
                    }
                }
                Step::Go
            }
            Some(Command::Flush(done)) => {
                self.flushes.push(done);
                Step::Go
            }
            Some(Command::Shutdown { offline, done }) => {
                self.shutdown(offline).await;
                let _ = done.send(());
                Step::Stop
            }
            None => {
                self.shutdown(true).await;
                Step::Stop
            }
        }
    }

    /// After a ConnAck: listen for Home Assistant, say we are online, republish everything.
    async fn on_connected(&mut self) {
        if let Some(topic) = &self.config.ha_status_topic {
            if let Err(e) = self
                .client
                .subscribe(topic, rumqttc::QoS::AtLeastOnce)
                .await
            {
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
            qos: Qos::AtLeastOnce,
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

/// Whether the controller goes on.
enum Step {
    Go,
    Stop,
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
                .publish_bytes(m.topic.clone(), qos(m.qos), m.retain, m.payload.clone())
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
