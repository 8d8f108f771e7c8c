//! The MQTT session: one task owns the rumqttc event loop ([`super::driver`]), another owns
//! what must stay published.
//!
//! The **controller** keeps the latest message of every topic (discovery configs, then
//! states). After every ConnAck it publishes `online` and all of them again: with a clean
//! session the broker forgot our queue. When Home Assistant announces itself it does the
//! same after a short random delay. Publishing goes through the client's request channel, so
//! it never blocks the polling task, and QoS 1 messages are pipelined by rumqttc's inflight
//! window instead of waiting for each PUBACK in turn.
//!
//! What the broker has is counted per connection: the publishes handed to the client since
//! the last ConnAck against those the broker acknowledged on that connection (the driver
//! counts PUBACKs). A lost connection loses its unacknowledged QoS 1 queue with the clean
//! session, so only the current connection's count means anything.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use rumqttc::AsyncClient;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::connect::{
    ConnectError, Delivery, MAX_MESSAGE_BYTES, SessionConfig, SessionError, mqtt_options, qos,
};
use super::driver::{LinkEvent, LinkStatus, drive};
use crate::model::{Message, MessageKind, Qos};

enum Command {
    Publish(Vec<Message>),
    Flush(oneshot::Sender<()>),
    Delivery(oneshot::Sender<Delivery>),
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
                too_large: BTreeSet::new(),
                outbox: VecDeque::new(),
                requested: 0,
                epoch: 0,
                handed: 0,
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

    /// Resolves once everything published so far has been acknowledged by the broker on the
    /// current connection (QoS 0: written). Waits across reconnections, without limit.
    pub async fn flush(&self) -> Result<(), SessionError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Flush(tx))
            .await
            .map_err(|_| SessionError::Stopped)?;
        rx.await.map_err(|_| SessionError::Stopped)
    }

    /// What the broker has not acknowledged now.
    pub async fn delivery(&self) -> Result<Delivery, SessionError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Delivery(tx))
            .await
            .map_err(|_| SessionError::Stopped)?;
        rx.await.map_err(|_| SessionError::Stopped)
    }

    /// [`Session::flush`] within `timeout`, giving up early once `max_failures` more sessions
    /// or attempts have failed (a broker that drops us that often will not take it on the
    /// next try). [`SessionError::Undelivered`] says how much is missing, counting messages
    /// too large to publish.
    pub async fn deliver(&self, timeout: Duration, max_failures: u64) -> Result<(), SessionError> {
        let mut status = self.status.clone();
        let give_up_at = status.borrow().failures.saturating_add(max_failures);
        tokio::select! {
            flushed = self.flush() => flushed?,
            _ = tokio::time::sleep(timeout) => {}
            _ = status.wait_for(|s| s.failures >= give_up_at) => {}
        }
        let delivery = self.delivery().await?;
        match delivery.is_complete() {
            true => Ok(()),
            false => Err(SessionError::Undelivered(delivery)),
        }
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
    /// Topics whose latest message was over [`MAX_MESSAGE_BYTES`] (warned about once).
    too_large: BTreeSet<String>,
    /// Messages waiting for the request channel, in order.
    outbox: VecDeque<Message>,
    /// Publishes handed to the client since start.
    requested: u64,
    /// The connection (ConnAcks counted since start) everything was last queued for.
    epoch: u64,
    /// Publishes handed to the client since that connection's ConnAck.
    handed: u64,
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
                // A hand-over that completed before a ConnAck is counted before it: it
                // belongs to the connection that was lost.
                biased;
                sent = until_sent(&mut sending), if sending.is_some() => {
                    sending = None;
                    if sent.is_ok() {
                        self.requested += 1;
                        self.handed += 1;
                    }
                }
                command = commands.recv() => {
                    if let Step::Stop = self.on_command(command, sending.is_some()).await {
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

    /// `sending`: a publish is being handed to the client.
    async fn on_command(&mut self, command: Option<Command>, sending: bool) -> Step {
        match command {
            Some(Command::Publish(messages)) => {
                self.keep(messages);
                Step::Go
            }
            Some(Command::Flush(done)) => {
                self.flushes.push(done);
                Step::Go
            }
            Some(Command::Delivery(reply)) => {
                let _ = reply.send(self.delivery(sending));
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
        self.epoch = self.status.borrow().connections;
        self.handed = 0;
        if self.config.announce {
            self.outbox.push_back(self.status_message("online"));
        }
        self.queue_everything();
    }

    /// Keeps the messages for every republication and queues those that changed.
    fn keep(&mut self, messages: Vec<Message>) {
        for message in messages {
            if !self.fits(&message) {
                continue;
            }
            let key = (message.kind, message.topic.clone());
            // Unchanged messages are already on the broker (and are resent after every
            // reconnection anyway).
            if self.retained.get(&key) != Some(&message) {
                self.retained.insert(key, message.clone());
                self.outbox.push_back(message);
            }
        }
    }

    /// Whether `message` is light enough to publish; says so once per topic when it is not.
    /// A topic refused keeps its earlier message, if any: the last one the broker took.
    fn fits(&mut self, message: &Message) -> bool {
        let weight = message.topic.len() + message.payload.len();
        if weight <= MAX_MESSAGE_BYTES {
            self.too_large.remove(&message.topic);
            return true;
        }
        if self.too_large.insert(message.topic.clone()) {
            tracing::warn!(
                "MQTT: {} not published: {weight} bytes, over the {} KiB a message may weigh",
                message.topic,
                MAX_MESSAGE_BYTES / 1024
            );
        }
        false
    }

    /// What the current connection has not acknowledged; `sending`: one publish is being
    /// handed to the client.
    fn delivery(&self, sending: bool) -> Delivery {
        let status = self.status.borrow();
        let total = self.handed + self.outbox.len() as u64 + u64::from(sending);
        let current = status.connected && status.connections == self.epoch;
        let acknowledged = if current {
            status.acknowledged.min(self.handed)
        } else {
            0
        };
        Delivery {
            total,
            unacknowledged: total - acknowledged,
            too_large: self.too_large.len(),
        }
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

    /// Everything handed to the client on this connection is acknowledged. The epoch check
    /// keeps a newer connection, not yet seen by [`Controller::on_connected`], from passing
    /// with the old count; `inflight` covers an acknowledgement counted twice.
    fn is_flushed(&self) -> bool {
        let status = self.status.borrow();
        self.outbox.is_empty()
            && status.connected
            && status.connections == self.epoch
            && status.acknowledged >= self.handed
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
