//! The commands `once`, `run` and `check`, on a [`Pipeline`]. Data flows one way:
//! gateway → store → derived values → entities → MQTT.

use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::calendar::format_paris;
use crate::check::CONNECT_TIMEOUT;
use crate::clock::Clock;
use crate::config::Settings;
use crate::gateway::Gateway;
use crate::model::BrokerAddress;
use crate::mqtt::Session;
use crate::pipeline::{Pipeline, start_session};
use crate::retry::Backoff;
use crate::scheduler::{SyncOutcome, next_sync, next_tempo_poll};
use crate::store::{Store, StoreError};
use crate::supervisor::resolve_broker;
use crate::sync::SyncSummary;
use crate::web;

/// How long `once` waits for the broker to acknowledge everything.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// Lost sessions (or failed attempts) after which `once` stops waiting for the broker: with
/// the 1, 2, 4 s backoff that is about 7 s, and a broker that dropped us three times in a row
/// will not take the publication on the fourth.
pub const FLUSH_MAX_FAILURES: u64 = 3;
/// SIGTERM to exit: the Supervisor kills after 10 s by default.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(4);

/// `once`: one sync and publish. `Ok(false)` when the gateway failed for some meter.
pub async fn once(pipeline: &Pipeline) -> anyhow::Result<bool> {
    let session = if pipeline.settings.mqtt.enabled {
        let broker = resolve_broker(&pipeline.settings).await?;
        let session = pipeline.start_session(broker, false).await?;
        session
            .first_outcome(CONNECT_TIMEOUT)
            .await
            .context("MQTT")?;
        Some(session)
    } else {
        None
    };
    let summary = pipeline.sync().await;
    pipeline.import_statistics().await;
    if let Some(session) = session {
        session.publish(pipeline.messages().await?).await?;
        // Success only when the broker acknowledged every message of the cycle.
        let delivered = session.deliver(FLUSH_TIMEOUT, FLUSH_MAX_FAILURES).await;
        session.shutdown(false).await;
        delivered.context("MQTT")?;
    }
    pipeline.store.close().await;
    Ok(summary.errors.is_empty())
}

type Shutdown<'a> = Pin<&'a mut dyn Future<Output = ()>>;

/// How `run` tries again to open a store it could not open at start (a PostgreSQL that is
/// down or still starting): 5 s, 10 s, 20 s… up to 5 minutes.
pub const STORE_RETRY: Backoff = Backoff {
    first: Duration::from_secs(5),
    factor: 2,
    max: Duration::from_secs(300),
    jitter: 0.2,
};

/// The MQTT session of the daemon, and the broker it talks to.
struct Mqtt {
    broker: BrokerAddress,
    session: Session,
}

/// `run` as the command starts it: opens the store, then as [`run`]. A store that cannot be
/// opened (a PostgreSQL down at start) is one line per attempt and another attempt with
/// backoff, while the MQTT session is up: `online`, answering Home Assistant, and the values
/// published before still shown.
pub async fn run_daemon(
    settings: Settings,
    gateway: Gateway,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut shutdown = std::pin::pin!(shutdown);
    let database = settings.database.as_ref();
    let (store, mqtt) = match Store::open_configured(&settings.data_dir, database).await {
        Ok(store) => (store, None),
        Err(error) => {
            // Up before the store, when there is MQTT at all (else `serve` says it is off).
            let mut mqtt = None;
            if settings.mqtt.enabled {
                let ControlFlow::Continue(up) = connect(&settings, shutdown.as_mut()).await? else {
                    return Ok(());
                };
                mqtt = up;
            }
            let reopened = reopen_store(&settings, error, clock.as_ref(), shutdown.as_mut());
            let Some(store) = reopened.await else {
                if let Some(mqtt) = mqtt {
                    stop_session(mqtt).await;
                }
                return Ok(());
            };
            (store, mqtt)
        }
    };
    let pipeline = Pipeline::with_store(settings, store, gateway, clock).await?;
    serve(&pipeline, mqtt, shutdown).await
}

/// Tries to open the store again until it opens (`None` when `shutdown` came first).
async fn reopen_store(
    settings: &Settings,
    mut error: StoreError,
    clock: &dyn Clock,
    mut shutdown: Shutdown<'_>,
) -> Option<Store> {
    let mut attempt = 0;
    loop {
        let wait = STORE_RETRY.delay(attempt, fastrand::f64());
        tracing::error!("{error}; trying again in {} s", wait.as_secs());
        tokio::select! {
            _ = clock.sleep(wait) => {}
            _ = &mut shutdown => return None,
        }
        let database = settings.database.as_ref();
        match Store::open_configured(&settings.data_dir, database).await {
            Ok(store) => {
                tracing::info!("store: {} open", store.location());
                return Some(store);
            }
            Err(again) => error = again,
        }
        attempt = attempt.saturating_add(1);
    }
}

/// `run`: sync at start, then on the schedule, until `shutdown` resolves.
pub async fn run(pipeline: &Pipeline, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    serve(pipeline, None, std::pin::pin!(shutdown)).await
}

/// Resolves the broker and starts the daemon's session, with nothing to publish yet:
/// `None` without MQTT, `Break` when `shutdown` came first.
async fn connect(
    settings: &Settings,
    mut shutdown: Shutdown<'_>,
) -> anyhow::Result<ControlFlow<(), Option<Mqtt>>> {
    if !settings.mqtt.enabled {
        tracing::info!("MQTT disabled (MQTT_ENABLED=false): syncing only");
        return Ok(ControlFlow::Continue(None));
    }
    let broker = tokio::select! {
        broker = resolve_broker(settings) => broker?,
        _ = &mut shutdown => return Ok(ControlFlow::Break(())),
    };
    tracing::info!("MQTT broker: {broker}");
    let session = start_session(settings, broker.clone(), true)?;
    Ok(ControlFlow::Continue(Some(Mqtt { broker, session })))
}

/// The daemon's loop on an open store; `mqtt`: a session already started (without the
/// store's messages yet), else one is started here.
async fn serve(
    pipeline: &Pipeline,
    mqtt: Option<Mqtt>,
    mut shutdown: Shutdown<'_>,
) -> anyhow::Result<()> {
    let web = web::Server::start(&pipeline.settings.web, web_state(pipeline)).await;
    let mqtt = match mqtt {
        Some(mqtt) => Some(mqtt),
        None => match connect(&pipeline.settings, shutdown.as_mut()).await? {
            ControlFlow::Continue(mqtt) => mqtt,
            ControlFlow::Break(()) => return Ok(()),
        },
    };
    if let (Some(web), Some(mqtt)) = (&web, &mqtt) {
        web.state.set_mqtt(&mqtt.broker, mqtt.session.status());
    }
    let session = mqtt.as_ref().map(|mqtt| &mqtt.session);
    if session.is_some() {
        // What the store holds, at once (discovery right after the ConnAck): the sync below
        // may take a while.
        republish(pipeline, session).await?;
    }
    let mut failures = 0;
    // The first sync imports whatever Home Assistant lacks; later ones what they bring (and
    // what a failed import left).
    let mut statistics_due = true;
    loop {
        // Dropping an unfinished sync rolls its open transaction back: nothing half-written.
        let summary = tokio::select! {
            summary = pipeline.sync() => summary,
            _ = &mut shutdown => break,
        };
        if statistics_due || summary.new_days > 0 {
            // Stopping mid-import loses nothing: Home Assistant keeps whole days.
            statistics_due = tokio::select! {
                ok = pipeline.import_statistics() => !ok,
                _ = &mut shutdown => break,
            };
        }
        let republish_at = republish(pipeline, session).await?;
        if let Err(error) = pipeline.store.release_memory().await {
            tracing::warn!("{error}");
        }
        let next = next_sync_after(pipeline, &summary, &mut failures);
        tracing::info!("next sync at {}", format_paris(next));
        let waited = wait_for_sync(pipeline, session, republish_at, next, shutdown.as_mut());
        if !waited.await? {
            break;
        }
    }
    tracing::info!("stopping");
    if let Some(web) = web {
        web.stop().await;
    }
    if let Some(mqtt) = mqtt {
        stop_session(mqtt).await;
    }
    pipeline.store.close().await;
    Ok(())
}

/// Publishes what the store holds now; returns when that changes next. A store that cannot
/// be read (a PostgreSQL restarting) is one line and another try in a minute, and what was
/// published stays as it was.
async fn republish(
    pipeline: &Pipeline,
    session: Option<&Session>,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    match pipeline.publication().await {
        Ok(publication) => {
            if let Some(session) = session {
                session.publish(publication.messages).await?;
            }
            Ok(publication.next_change)
        }
        Err(error) => {
            tracing::warn!("{error}; publishing again in a minute");
            Ok(Some(pipeline.clock.now() + chrono::Duration::minutes(1)))
        }
    }
}

/// The session says `offline` and disconnects, within [`SHUTDOWN_TIMEOUT`].
async fn stop_session(mqtt: Mqtt) {
    let stopped = tokio::time::timeout(SHUTDOWN_TIMEOUT, mqtt.session.shutdown(true)).await;
    if stopped.is_err() {
        tracing::warn!("MQTT: the broker did not confirm the disconnection in time");
    }
}

/// What the web page reads: the daemon's settings, store and clock.
fn web_state(pipeline: &Pipeline) -> web::WebState {
    let settings = pipeline.settings.clone();
    web::WebState::new(settings, pipeline.store.clone(), pipeline.clock.clone())
}

/// When to sync next after `summary`; `failures` counts the failed syncs in a row.
fn next_sync_after(
    pipeline: &Pipeline,
    summary: &SyncSummary,
    failures: &mut u32,
) -> DateTime<Utc> {
    let outcome = if summary.errors.is_empty() {
        *failures = 0;
        match summary.complete {
            true => SyncOutcome::Complete,
            false => SyncOutcome::Waiting,
        }
    } else if summary.transient() {
        *failures += 1;
        SyncOutcome::Failed { attempt: *failures }
    } else {
        // The user must act (credential, consent): try again tomorrow morning.
        SyncOutcome::Complete
    };
    let now = pipeline.clock.now();
    let next = next_sync(now, outcome, fastrand::f64());
    if pipeline.wants_tempo() && !summary.tempo_tomorrow_known {
        return next.min(next_tempo_poll(now, fastrand::f64()));
    }
    next
}

/// Waits until `next`, republishing at each price boundary, new hour or new day without a
/// gateway call. `false` when `shutdown` came first.
async fn wait_for_sync(
    pipeline: &Pipeline,
    session: Option<&Session>,
    mut republish_at: Option<DateTime<Utc>>,
    next: DateTime<Utc>,
    mut shutdown: Shutdown<'_>,
) -> anyhow::Result<bool> {
    loop {
        let now = pipeline.clock.now();
        match wait_step(now, next, republish_at, session.is_some()) {
            WaitStep::Sync => return Ok(true),
            WaitStep::Republish => republish_at = republish(pipeline, session).await?,
            WaitStep::Sleep(wait) => tokio::select! {
                _ = pipeline.clock.sleep(wait) => {}
                _ = &mut shutdown => return Ok(false),
            },
        }
    }
}

/// What the daemon does next while it waits for a sync.
#[derive(Debug, PartialEq, Eq)]
enum WaitStep {
    Sync,
    Republish,
    Sleep(Duration),
}

/// At `now`, waiting for the sync at `next` and, when `publishing`, the republication at
/// `republish_at`: sync, republish, or sleep until the nearer of the two — a minute at most,
/// since the wall clock may jump (suspend, NTP).
fn wait_step(
    now: DateTime<Utc>,
    next: DateTime<Utc>,
    republish_at: Option<DateTime<Utc>>,
    publishing: bool,
) -> WaitStep {
    // Without a session nothing is published: only the next sync wakes the loop.
    let republish_at = republish_at.filter(|_| publishing);
    if now >= next {
        return WaitStep::Sync;
    }
    if republish_at.is_some_and(|at| now >= at) {
        return WaitStep::Republish;
    }
    let wake = republish_at.map_or(next, |at| at.min(next));
    let wait = (wake - now).to_std().unwrap_or_default();
    WaitStep::Sleep(wait.min(Duration::from_secs(60)))
}

/// `check`: one line per part, `true` when all pass.
pub async fn check(settings: &Settings, out: &mut impl std::io::Write) -> std::io::Result<bool> {
    let lines = crate::check::run(settings).await;
    for line in &lines {
        writeln!(out, "{line}")?;
    }
    Ok(lines.iter().all(crate::check::Line::passed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_wait_ends_at_the_sync_or_the_republication_and_sleeps_at_most_a_minute() {
        let next = utc("2024-01-16T07:00:00Z");
        let at = Some(utc("2024-01-15T21:00:00Z"));
        let step = |now: &str, publishing| wait_step(utc(now), next, at, publishing);
        assert_eq!(
            step("2024-01-15T20:59:30Z", true),
            WaitStep::Sleep(Duration::from_secs(30))
        );
        assert_eq!(
            step("2024-01-15T20:00:00Z", true),
            WaitStep::Sleep(Duration::from_secs(60))
        );
        assert_eq!(step("2024-01-15T21:00:00Z", true), WaitStep::Republish);
        assert_eq!(step("2024-01-16T07:00:00Z", true), WaitStep::Sync);
    }

    #[test]
    fn without_a_session_a_past_republication_does_not_wake_the_loop() {
        let next = utc("2024-01-16T07:00:00Z");
        let past = Some(utc("2024-01-15T21:00:00Z"));
        let now = utc("2024-01-15T22:30:00Z");
        assert_eq!(
            wait_step(now, next, past, false),
            WaitStep::Sleep(Duration::from_secs(60))
        );
        assert_eq!(wait_step(now, next, past, true), WaitStep::Republish);
    }
}
