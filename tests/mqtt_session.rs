//! The MQTT session on its own (the library, no binary): how it reconnects when every session
//! fails after its ConnAck, and what it does with a message too large to send. Short waits:
//! the backoff is injected through `SessionConfig::reconnect`.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use myelectricaldata_mqtt::model::{BrokerAddress, Message, MessageKind, Qos, TlsFiles};
use myelectricaldata_mqtt::mqtt::{Session, SessionConfig, SessionError};
use myelectricaldata_mqtt::retry::Backoff;
use support::*;

/// Waits on the MQTT observer.
const WAIT: Duration = Duration::from_secs(10);

/// The program's backoff (×2 up to a cap, ±20 %), scaled down by 10 for the tests.
const FAST_RECONNECT: Backoff = Backoff {
    first: Duration::from_millis(100),
    factor: 2,
    max: Duration::from_millis(1600),
    jitter: 0.2,
};

fn session_config(url: &str) -> SessionConfig {
    let broker = BrokerAddress::parse(url).expect("a broker URL");
    let mut config = SessionConfig::new(broker, TlsFiles::default(), "test", None);
    config.reconnect = FAST_RECONNECT;
    config.log_failures = false;
    config
}

fn message(kind: MessageKind, topic: &str, payload: Vec<u8>) -> Message {
    Message {
        kind,
        topic: topic.to_string(),
        payload: Bytes::from(payload),
        retain: true,
        qos: Qos::AtLeastOnce,
    }
}

#[tokio::test]
async fn a_broker_that_drops_every_session_after_its_connack_is_retried_with_growing_waits() {
    let broker = DroppingBroker::start(Duration::from_millis(50));
    let session = Session::start(session_config(&broker.url())).unwrap();
    session
        .publish(vec![message(
            MessageKind::State,
            "test/state",
            b"1".to_vec(),
        )])
        .await
        .unwrap();
    // Waits 0.1, 0.2, 0.4, 0.8, 1.6, 1.6 s (±20 %) between sessions: at most 8 in 5 s. Without
    // backoff after a ConnAck it reconnects every 0.1 s, 30 times or more.
    let window = Duration::from_secs(5);
    tokio::time::sleep(window).await;
    let connections = broker.connections();
    session.shutdown(false).await;
    assert!(
        (2..=8).contains(&connections),
        "{connections} sessions in {window:?}: each failed session must lengthen the wait"
    );
}

#[tokio::test]
async fn a_message_over_the_size_limit_is_not_sent_and_the_rest_goes_on() {
    let broker = Mosquitto::start(BrokerKind::Anonymous);
    let probe = MqttProbe::connect(&broker, &["test/#"]).await;
    let session = Session::start(session_config(&broker.url())).unwrap();
    let huge = vec![b'x'; 1 << 20];
    session
        .publish(vec![
            message(MessageKind::Discovery, "test/small/config", b"{}".to_vec()),
            message(MessageKind::Discovery, "test/huge/config", huge),
            message(MessageKind::State, "test/state", b"42".to_vec()),
        ])
        .await
        .unwrap();
    probe.wait_for_text("test/state", "42", WAIT).await;
    probe.wait_for_text("test/small/config", "{}", WAIT).await;
    // Everything sent is acknowledged; the huge one is reported, not waited for.
    let delivered = session.deliver(WAIT, 3).await;
    match delivered {
        Err(SessionError::Undelivered(delivery)) => {
            assert_eq!((delivery.unacknowledged, delivery.too_large), (0, 1));
            assert_eq!(
                delivery.to_string(),
                "1 message(s) over 64 KiB not published"
            );
        }
        other => panic!("expected the huge message reported: {other:?}"),
    }
    // A connection dropped for the huge message would come back and drop again.
    let quiet_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < quiet_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = session.status().borrow().clone();
    session.shutdown(false).await;
    assert!(probe.on("test/huge/config").is_empty(), "never sent");
    assert_eq!(
        (status.connections, status.failures),
        (1, 0),
        "one connection, never dropped: {status:?}"
    );
}
