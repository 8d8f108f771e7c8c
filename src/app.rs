//! The commands: `run`, `once`, `check`, wired from the library's parts. Data flows one way:
//! gateway → store → derived values → entities → MQTT.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::calendar::format_paris;
use crate::clock::Clock;
use crate::config::{GatewayGeneration, Pdl, Settings, Tariff};
use crate::derived::grid::{EcowattView, TempoView};
use crate::derived::{self, MeterView};
use crate::entities::{self, PublishContext};
use crate::gateway::Gateway;
use crate::mqtt::broker::BrokerAddress;
use crate::mqtt::{Message, Session, SessionConfig};
use crate::scheduler::{SyncOutcome, next_sync, next_tempo_poll};
use crate::store::Store;
use crate::supervisor::{SupervisorError, discover_broker};
use crate::sync::{MeterSync, RetryPolicy, SyncError, Syncer};
use crate::tariffs;

/// How long `once` and `check` wait for the broker's first answer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long `once` waits for the broker to acknowledge everything.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// SIGTERM to exit: the Supervisor kills after 10 s by default.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(4);

/// The broker: from the options, else from the Supervisor.
pub async fn resolve_broker(settings: &Settings) -> Result<BrokerAddress, SupervisorError> {
    match &settings.mqtt.broker {
        Some(broker) => Ok(broker.clone()),
        None => discover_broker(&settings.supervisor).await,
    }
}

/// What a sync did, over all meters.
#[derive(Debug, Default)]
pub struct SyncSummary {
    pub calls: u32,
    pub new_days: usize,
    pub complete: bool,
    /// One line per failed meter.
    pub errors: Vec<String>,
    /// Some failure is worth retrying soon.
    pub transient: bool,
    /// Tomorrow's Tempo colour is known (or not wanted).
    pub tempo_tomorrow_known: bool,
}

/// The parts every command shares.
pub struct Pipeline {
    pub settings: Settings,
    pub store: Store,
    pub gateway: Gateway,
    pub clock: Arc<dyn Clock>,
    /// How transient gateway failures are retried within a sync.
    pub retry: RetryPolicy,
    /// Meters configured before and not any more: their entities are cleared.
    removed_meters: Vec<Pdl>,
}

impl Pipeline {
    pub async fn open(
        settings: Settings,
        gateway: Gateway,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let store = Store::open(&settings.data_dir).await?;
        // The configuration is fixed for the life of the process: compare it once.
        let configured: Vec<Pdl> = settings.meters.iter().map(|m| m.pdl.clone()).collect();
        let removed_meters = store
            .sync_configured_meters(&configured, clock.now())
            .await?;
        Ok(Self {
            settings,
            store,
            gateway,
            clock,
            retry: RetryPolicy::default(),
            removed_meters,
        })
    }

    /// Fetches what the store lacks, for every meter; logs one line per meter and the total.
    pub async fn sync(&self) -> SyncSummary {
        let now = self.clock.now();
        let mut syncer = Syncer::new(&self.gateway, &self.store);
        syncer.retry = self.retry;
        let mut summary = SyncSummary {
            complete: true,
            ..SyncSummary::default()
        };
        let infos = syncer
            .meter_infos(&self.settings.meters, now)
            .await
            .map(|(infos, calls)| {
                summary.calls += calls;
                infos
            });
        for meter in &self.settings.meters {
            // A meter the sync could not even start for gets the reason in its status too.
            let skipped = match &infos {
                Err(e) => Some((e.to_string(), e.is_transient())),
                Ok(Some(list)) if !list.iter().any(|i| i.pdl == meter.pdl) => Some((
                    SyncError::UnknownMeter(meter.pdl.clone()).to_string(),
                    false,
                )),
                Ok(_) => None,
            };
            let (report, result) = match (skipped, &infos) {
                (Some((line, transient)), _) => {
                    summary.transient |= transient;
                    if let Err(e) = syncer.record_outcome(&meter.pdl, now, Some(&line)).await {
                        tracing::error!("meter {}: {e}", meter.pdl);
                    }
                    (MeterSync::default(), Err(line))
                }
                (None, infos) => {
                    let info = infos
                        .iter()
                        .flatten()
                        .flatten()
                        .find(|i| i.pdl == meter.pdl);
                    let (report, result) = syncer.sync_meter(meter, info, now).await;
                    summary.transient |= result.as_ref().is_err_and(SyncError::is_transient);
                    (report, result.map_err(|e| e.to_string()))
                }
            };
            summary.calls += report.calls;
            summary.new_days += report.new_days;
            summary.complete &= report.complete && result.is_ok();
            match result {
                Ok(()) if report.complete => {
                    tracing::info!(
                        "meter {}: up to date ({} new day(s), {} call(s))",
                        meter.pdl,
                        report.new_days,
                        report.calls
                    )
                }
                Ok(()) => tracing::info!(
                    "meter {}: {} new day(s), {} call(s); yesterday is not published yet",
                    meter.pdl,
                    report.new_days,
                    report.calls
                ),
                Err(line) => {
                    tracing::error!("meter {}: {line}", meter.pdl);
                    summary.errors.push(format!("meter {}: {line}", meter.pdl));
                }
            }
        }
        let grid = syncer.sync_grid(&self.settings, now).await;
        summary.calls += grid.calls;
        summary.tempo_tomorrow_known = grid.tempo_tomorrow_known;
        for e in grid.errors {
            tracing::error!("Tempo/EcoWatt: {e}");
            summary.transient |= e.is_transient();
            summary.errors.push(format!("Tempo/EcoWatt: {e}"));
        }
        tracing::info!(
            "sync done: {} gateway call(s), {} new day(s)",
            summary.calls,
            summary.new_days
        );
        summary
    }

    /// Discovery configs and states of every meter, from the store; a meter that left the
    /// configuration has its configs and states cleared.
    pub async fn messages(&self) -> anyhow::Result<Vec<Message>> {
        let now = self.clock.now();
        let mqtt = &self.settings.mqtt;
        let context = PublishContext {
            mqtt,
            language: self.settings.language,
        };
        let mut messages = Vec::new();
        for meter in &self.settings.meters {
            let view = MeterView::load(&self.store, meter, now).await?;
            let device = entities::meter::device(meter, &mqtt.topic_prefix);
            messages.extend(context.device_messages(
                &device,
                entities::meter::ENTITIES,
                entities::meter::TOPICS,
                meter,
                Some(&view),
            ));
        }
        let tempo = match self.settings.tempo {
            true => Some(TempoView::load(&self.store, now).await?),
            false => None,
        };
        let device = entities::grid::tempo_device(&mqtt.topic_prefix);
        let (defs, topics) = (entities::grid::TEMPO_ENTITIES, entities::grid::TEMPO_TOPICS);
        messages.extend(context.device_messages(
            &device,
            defs,
            topics,
            &self.settings,
            tempo.as_ref(),
        ));
        let ecowatt = match self.settings.ecowatt {
            true => EcowattView::load(&self.store, now).await?,
            false => None,
        };
        let device = entities::grid::ecowatt_device(&mqtt.topic_prefix);
        let (defs, topics) = (
            entities::grid::ECOWATT_ENTITIES,
            entities::grid::ECOWATT_TOPICS,
        );
        messages.extend(context.device_messages(
            &device,
            defs,
            topics,
            &self.settings,
            ecowatt.as_ref(),
        ));
        for pdl in &self.removed_meters {
            let device = entities::meter::device_of(pdl, pdl.as_str(), &mqtt.topic_prefix);
            messages.extend(context.clear_device(
                &device,
                entities::meter::ENTITIES,
                entities::meter::TOPICS,
            ));
        }
        Ok(messages)
    }

    /// Tempo colours are fetched (for the Tempo device or a Tempo meter).
    pub fn wants_tempo(&self) -> bool {
        self.settings.tempo
            || self
                .settings
                .meters
                .iter()
                .any(|m| m.tariff == Tariff::Tempo)
    }

    /// The next instant something shown changes without a gateway call: a price boundary,
    /// the next hour (EcoWatt), midnight (Tempo today/tomorrow).
    pub async fn next_republish(
        &self,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        let mut next = self.next_price_change(now).await?;
        let mut times = Vec::new();
        if self.settings.ecowatt {
            times.extend((0..24).filter_map(|h| chrono::NaiveTime::from_hms_opt(h, 0, 0)));
        } else if self.settings.tempo {
            times.push(chrono::NaiveTime::MIN);
        }
        if let Some(at) = tariffs::next_wall_clock(&times, now) {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        Ok(next)
    }

    /// The next instant a meter's price in force changes (an off-peak or Tempo boundary).
    pub async fn next_price_change(
        &self,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        let mut next: Option<DateTime<Utc>> = None;
        for meter in &self.settings.meters {
            let contract = self.store.contract(&meter.pdl).await?.map(|(c, _)| c);
            let offpeak = derived::offpeak_ranges(
                meter,
                contract.as_ref().and_then(|c| c.offpeak_hours.as_deref()),
            );
            if let Some(at) = tariffs::next_price_change(meter, offpeak.as_deref(), now) {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        Ok(next)
    }

    /// Starts the MQTT session (when publishing is enabled) and hands it what the store
    /// already knows, so discovery goes out right after the ConnAck. `daemon`: the session
    /// outlives connection failures and logs each one.
    pub async fn start_session(
        &self,
        broker: BrokerAddress,
        daemon: bool,
    ) -> anyhow::Result<Session> {
        let mqtt = &self.settings.mqtt;
        let ha_status = mqtt
            .discovery
            .then(|| format!("{}/status", mqtt.discovery_prefix));
        let mut config = SessionConfig::new(
            broker,
            mqtt.tls_files.clone(),
            &mqtt.topic_prefix,
            ha_status,
        );
        config.log_failures = daemon;
        let session = Session::start(config)?;
        session.publish(self.messages().await?).await?;
        Ok(session)
    }
}

/// `once`: one sync and publish. `Ok(false)` when the gateway failed for some meter.
pub async fn once(pipeline: &Pipeline) -> anyhow::Result<bool> {
    let session = if pipeline.settings.mqtt.enabled {
        let broker = resolve_broker(&pipeline.settings).await?;
        let session = pipeline.start_session(broker, false).await?;
        session
            .first_outcome(CONNECT_TIMEOUT)
            .await
            .map_err(anyhow::Error::msg)
            .context("MQTT")?;
        Some(session)
    } else {
        None
    };
    let summary = pipeline.sync().await;
    if let Some(session) = session {
        session.publish(pipeline.messages().await?).await?;
        let flushed = tokio::time::timeout(FLUSH_TIMEOUT, session.flush()).await;
        session.shutdown(false).await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => anyhow::bail!("MQTT: {e}"),
            Err(_) => anyhow::bail!(
                "MQTT: the broker did not acknowledge the messages within {} s",
                FLUSH_TIMEOUT.as_secs()
            ),
        }
    }
    pipeline.store.close().await;
    Ok(summary.errors.is_empty())
}

/// `run`: sync at start, then on the schedule, until `shutdown` resolves.
pub async fn run(pipeline: &Pipeline, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    let session = if pipeline.settings.mqtt.enabled {
        let broker = tokio::select! {
            broker = resolve_broker(&pipeline.settings) => broker?,
            _ = &mut shutdown => return Ok(()),
        };
        tracing::info!("MQTT broker: {broker}");
        Some(pipeline.start_session(broker, true).await?)
    } else {
        tracing::info!("MQTT disabled (MQTT_ENABLED=false): syncing only");
        None
    };
    let mut failures = 0;
    'daemon: loop {
        // Dropping an unfinished sync rolls its open transaction back: nothing half-written.
        let summary = tokio::select! {
            summary = pipeline.sync() => summary,
            _ = &mut shutdown => break 'daemon,
        };
        if let Some(session) = &session {
            session.publish(pipeline.messages().await?).await?;
        }
        pipeline.store.release_memory().await?;
        release_heap();
        let outcome = if summary.errors.is_empty() {
            failures = 0;
            if summary.complete {
                SyncOutcome::Complete
            } else {
                SyncOutcome::Waiting
            }
        } else if summary.transient {
            failures += 1;
            SyncOutcome::Failed { attempt: failures }
        } else {
            // The user must act (credential, consent): try again tomorrow morning.
            SyncOutcome::Complete
        };
        let now = pipeline.clock.now();
        let mut next = next_sync(now, outcome, fastrand::f64());
        if pipeline.wants_tempo() && !summary.tempo_tomorrow_known {
            next = next.min(next_tempo_poll(now, fastrand::f64()));
        }
        tracing::info!("next sync at {}", format_paris(next));
        let mut republish_at = pipeline.next_republish(pipeline.clock.now()).await?;
        loop {
            let now = pipeline.clock.now();
            if now >= next {
                break;
            }
            // A price boundary, a new hour or a new day: republish without a gateway call.
            if let (Some(at), Some(session)) = (republish_at, &session) {
                if now >= at {
                    session.publish(pipeline.messages().await?).await?;
                    republish_at = pipeline.next_republish(now).await?;
                }
            }
            let wake = republish_at.map_or(next, |at| at.min(next));
            // Wake at least every minute: the wall clock may jump (suspend, NTP).
            let wait = (wake - now)
                .to_std()
                .unwrap_or_default()
                .min(Duration::from_secs(60));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut shutdown => break 'daemon,
            }
        }
    }
    tracing::info!("stopping");
    if let Some(session) = session {
        if tokio::time::timeout(SHUTDOWN_TIMEOUT, session.shutdown(true))
            .await
            .is_err()
        {
            tracing::warn!("MQTT: the broker did not confirm the disconnection in time");
        }
    }
    pipeline.store.close().await;
    Ok(())
}

/// `check`: one line per part, `true` when all pass.
pub async fn check(settings: &Settings, out: &mut impl std::io::Write) -> std::io::Result<bool> {
    let generation = match settings.gateway.generation {
        GatewayGeneration::V1 => "v1",
        GatewayGeneration::V2 => "v2",
    };
    writeln!(
        out,
        "config:  ok — {} meter(s), gateway {generation} at {}",
        settings.meters.len(),
        settings.gateway.base_url
    )?;
    let broker_ok = if !settings.mqtt.enabled {
        writeln!(out, "broker:  skipped — MQTT_ENABLED=false")?;
        true
    } else {
        match check_broker(settings).await {
            Ok(line) => writeln!(out, "broker:  ok — {line}").map(|_| true)?,
            Err(line) => writeln!(out, "broker:  FAILED — {line}").map(|_| false)?,
        }
    };
    let gateway_ok = match check_gateway(settings).await {
        Ok(line) => writeln!(out, "gateway: ok — {line}").map(|_| true)?,
        Err(line) => writeln!(out, "gateway: FAILED — {line}").map(|_| false)?,
    };
    Ok(broker_ok && gateway_ok)
}

async fn check_broker(settings: &Settings) -> Result<String, String> {
    let broker = resolve_broker(settings).await.map_err(|e| e.to_string())?;
    let shown = broker.to_string();
    let mut config = SessionConfig::new(
        broker,
        settings.mqtt.tls_files.clone(),
        &settings.mqtt.topic_prefix,
        None,
    );
    config.announce = false;
    config.log_failures = false;
    let session = Session::start(config).map_err(|e| e.to_string())?;
    let outcome = session.first_outcome(CONNECT_TIMEOUT).await;
    session.shutdown(false).await;
    outcome.map(|()| format!("connected to {shown}"))
}

async fn check_gateway(settings: &Settings) -> Result<String, String> {
    let gateway =
        Gateway::from_settings(&settings.gateway, &settings.meters).map_err(|e| e.to_string())?;
    let meters = gateway.meters().await.map_err(|e| e.to_string())?;
    let missing: Vec<String> = settings
        .meters
        .iter()
        .filter(|m| !meters.iter().any(|info| info.pdl == m.pdl))
        .map(|m| m.pdl.to_string())
        .collect();
    if missing.is_empty() {
        Ok(format!(
            "the credential is accepted and covers every configured meter ({} on the account)",
            meters.len()
        ))
    } else {
        Err(format!(
            "PDL {} not in this consent: add it on myelectricaldata.fr (the account has {} meter(s))",
            missing.join(", "),
            meters.len()
        ))
    }
}

/// Gives the heap pages a sync freed back to the system: glibc keeps them for reuse
/// otherwise, and the daemon then idles for hours with the peak of its last sync. (musl,
/// the add-on image's libc, returns them by itself.)
fn release_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer from us; it only walks glibc's own heap metadata
    // under glibc's locks, so it is sound to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
