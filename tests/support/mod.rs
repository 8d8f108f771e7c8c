//! Shared integration-test support: a private mosquitto per test, an MQTT observer, a broker
//! that drops every connection after its CONNACK, fakes of the MyElectricalData gateway (v2
//! and v1), of the Home Assistant Supervisor and of Home Assistant's websocket, and a real
//! Home Assistant with its recorder.
//!
//! Include it from `tests/<name>.rs` with `mod support;`. Everything binds to 127.0.0.1 only,
//! every wait is bounded, and every process or server is stopped on `Drop`.
//!
//! Fake HTTP servers and probe event loops run on their own threads with their own tokio
//! runtimes, so they keep answering whatever the test's runtime is doing (blocking calls,
//! `current_thread` flavour, a child process being waited for…).
#![allow(dead_code, unused_imports, unused_macros)]

pub mod broker;
pub mod browser;
pub mod certs;
pub mod dropper;
pub mod gateway;
pub mod homeassistant;
pub mod ingress;
pub mod pipeline;
pub mod postgres;
pub mod probe;
pub mod program;
pub mod real_home_assistant;
pub mod supervisor;

mod http;

use std::future::Future;
use std::net::TcpListener;
use std::time::{Duration, Instant};

pub use broker::{BrokerKind, BrokerOptions, Mosquitto};
pub use dropper::DroppingBroker;
pub use gateway::{
    ColorCase, CurvePoint, CurveSlot, FakeContract, FakeEcowattDay, FakeGateway, FakeMeter, Fault,
    FaultOn, RecordedRequest, RouteKind, RteColor, Series,
};
pub use homeassistant::{FakeHomeAssistant, StoredRow};
pub(crate) use pipeline::for_both;
pub use pipeline::{
    GENERATIONS, Generation, Harness, NO_RETRY, PDL_B, Published, T, TOKEN_B, assert_ok, day,
    error_lines, grid_error, instant, merge, meter, paris_day, stored_day, stored_total, sync,
};
pub use postgres::Postgres;
pub use probe::{MqttProbe, ProbeTarget, Received};
pub use real_home_assistant::{HaRow, RealHomeAssistant};
pub use supervisor::{FakeSupervisor, SupervisorMode};

/// A loopback port that was free a moment ago (bind 127.0.0.1:0, read it, release it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind 127.0.0.1:0")
}

/// Polls `condition` every 20 ms until it holds; panics with `what` after `timeout`.
pub async fn eventually(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Awaits `future` for at most `timeout`, panicking with `what` otherwise.
pub async fn within<T>(timeout: Duration, what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(timeout, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {timeout:?}: {what}"),
    }
}
