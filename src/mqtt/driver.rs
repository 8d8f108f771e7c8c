//! The driver task: it only polls the rumqttc event loop (rumqttc needs that at all times),
//! reports connection changes and Home Assistant's birth message, and waits with the
//! program's backoff between failed attempts.

use rumqttc::{Event, EventLoop, Incoming, Outgoing};
use tokio::sync::{mpsc, watch};

use super::connect::{ConnectError, SessionConfig};

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
    let mut failures_in_a_row = 0;
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
                    failures_in_a_row = 0;
                }
                on_event(event, &config, &status, &link);
            }
            Err(error) => {
                let delay = config.reconnect.delay(failures_in_a_row, fastrand::f64());
                failures_in_a_row += 1;
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

/// A ConnAck, Home Assistant's birth, a publish written: what the status and the controller
/// learn of it.
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
                s.connections += 1;
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
        Event::Outgoing(Outgoing::Publish(_)) => status.send_modify(|s| s.published += 1),
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
