//! The driver task: it only polls the rumqttc event loop (rumqttc needs that at all times),
//! reports connection changes, acknowledgements and Home Assistant's birth message, and waits
//! with the program's backoff between failed sessions.

use std::time::Duration;

use rumqttc::{Event, EventLoop, Incoming, Outgoing};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::connect::{ConnectError, SessionConfig};

/// What the driver last saw of the connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStatus {
    pub connected: bool,
    /// The wall-clock time of the last ConnAck (what the web page shows).
    pub connected_since: Option<chrono::DateTime<chrono::Utc>>,
    /// ConnAcks received since start.
    pub connections: u64,
    /// Publish packets written to the network since start.
    pub published: u64,
    /// QoS > 0 publishes not yet acknowledged on the current connection.
    pub inflight: u16,
    /// Publishes the broker has taken on the current (or last) connection: QoS 0 once
    /// written, QoS 1 on their PUBACK, QoS 2 on their PUBCOMP. Back to 0 at each ConnAck.
    pub acknowledged: u64,
    /// The last connection failure.
    pub last_error: Option<ConnectError>,
    /// Failed connection attempts since start.
    pub failures: u64,
}

/// What the controller hears from the driver.
pub(crate) enum LinkEvent {
    Connected,
    HomeAssistantOnline,
}

/// Polls the event loop until told to stop or until our DISCONNECT is written.
pub(crate) async fn drive(
    mut eventloop: EventLoop,
    config: SessionConfig,
    status: watch::Sender<LinkStatus>,
    link: mpsc::UnboundedSender<LinkEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let mut reconnect = Reconnect::default();
    loop {
        let event = tokio::select! {
            event = eventloop.poll() => event,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        match event {
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                status.send_modify(|s| s.connected = false);
                break;
            }
            Ok(event) => {
                if matches!(event, Event::Incoming(Incoming::ConnAck(_))) {
                    reconnect.connected();
                }
                on_event(event, &config, &status, &link);
            }
            Err(error) => {
                let delay = reconnect.next_wait(&config);
                on_failure(&error, delay, &config, &status);
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

/// The wait before the next connection attempt.
///
/// Every failed session counts, one dropped after its ConnAck too: a ConnAck proves little
/// (a broker may drop us right after it, or on our first publish), and resetting on it made
/// such a broker draw a connection a second, forever. The count starts again only after a
/// session stayed up [`SessionConfig::stable_after`] (a minute: two keep-alive rounds). That
/// rule holds whatever made the session fail; waiting instead for the first publication to be
/// acknowledged would tie the driver to the controller's bookkeeping and still loop on a
/// broker that acknowledges, then drops.
#[derive(Default)]
struct Reconnect {
    failures_in_a_row: u32,
    up_since: Option<Instant>,
}

impl Reconnect {
    fn connected(&mut self) {
        self.up_since = Some(Instant::now());
    }

    /// After a failed attempt or a lost session: how long to wait before the next attempt.
    fn next_wait(&mut self, config: &SessionConfig) -> Duration {
        let stable = self.up_since.take();
        if stable.is_some_and(|since| since.elapsed() >= config.stable_after) {
            self.failures_in_a_row = 0;
        }
        let delay = config
            .reconnect
            .delay(self.failures_in_a_row, fastrand::f64());
        self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
        delay
    }
}

/// A ConnAck, an acknowledgement, Home Assistant's birth, a publish written: what the status
/// and the controller learn of it.
fn on_event(
    event: Event,
    config: &SessionConfig,
    status: &watch::Sender<LinkStatus>,
    link: &mpsc::UnboundedSender<LinkEvent>,
) {
    match event {
        Event::Incoming(Incoming::ConnAck(_)) => {
            tracing::info!("connected to the MQTT broker {}", config.broker);
            status.send_modify(|s| {
                s.connected = true;
                s.connected_since = Some(chrono::Utc::now());
                s.connections += 1;
                s.acknowledged = 0;
                s.last_error = None;
            });
            let _ = link.send(LinkEvent::Connected);
        }
        Event::Incoming(Incoming::Publish(publish)) => {
            let birth = Some(&publish.topic) == config.ha_status_topic.as_ref()
                && publish.payload.as_ref() == b"online";
            if birth {
                tracing::info!("Home Assistant is online: republishing");
                let _ = link.send(LinkEvent::HomeAssistantOnline);
            }
        }
        // A packet id of 0 is a QoS 0 publish: written is all it gets.
        Event::Outgoing(Outgoing::Publish(packet_id)) => status.send_modify(|s| {
            s.published += 1;
            s.acknowledged += u64::from(packet_id == 0);
        }),
        Event::Incoming(Incoming::PubAck(_) | Incoming::PubComp(_)) => {
            status.send_modify(|s| s.acknowledged += 1)
        }
        _ => {}
    }
}

/// A failed attempt: said in the log (daemon) and in the status, in one line.
fn on_failure(
    error: &rumqttc::ConnectionError,
    delay: std::time::Duration,
    config: &SessionConfig,
    status: &watch::Sender<LinkStatus>,
) {
    let error = ConnectError::of(error, &config.broker);
    if config.log_failures {
        let wait = delay.as_secs_f64();
        tracing::warn!("MQTT: {error}; retrying in {wait:.1} s");
    }
    status.send_modify(|s| {
        s.connected = false;
        s.failures += 1;
        s.last_error = Some(error);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BrokerAddress, TlsFiles};
    use crate::retry::Backoff;

    fn config() -> SessionConfig {
        let broker = BrokerAddress::parse("mqtt://127.0.0.1:1883").unwrap();
        let mut config = SessionConfig::new(broker, TlsFiles::default(), "test", None);
        config.reconnect = Backoff {
            jitter: 0.0,
            ..config.reconnect
        };
        config
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_lost_soon_after_its_connack_waits_longer_each_time() {
        let config = config();
        let mut reconnect = Reconnect::default();
        let mut waits = Vec::new();
        for _ in 0..4 {
            reconnect.connected();
            tokio::time::advance(Duration::from_secs(5)).await;
            waits.push(reconnect.next_wait(&config).as_secs());
        }
        assert_eq!(waits, [1, 2, 4, 8]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_that_stayed_up_a_minute_starts_the_backoff_again() {
        let config = config();
        let mut reconnect = Reconnect::default();
        for _ in 0..3 {
            reconnect.next_wait(&config);
        }
        reconnect.connected();
        tokio::time::advance(config.stable_after).await;
        assert_eq!(reconnect.next_wait(&config), Duration::from_secs(1));
        // Refused attempts in between never reset it.
        assert_eq!(reconnect.next_wait(&config), Duration::from_secs(2));
    }
}
