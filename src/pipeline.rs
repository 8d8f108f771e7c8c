//! The parts every command shares — settings, store, gateway, clock — and the jobs on them:
//! [`Pipeline::sync`] (gateway → store), [`Pipeline::publication`] (store → views → entity
//! messages, and when they change next) and the MQTT session that keeps them published.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::calendar::paris_date;
use crate::clock::Clock;
use crate::config::Settings;
use crate::derived::Snapshot;
use crate::entities;
use crate::gateway::Gateway;
use crate::model::{BrokerAddress, Message, Pdl, Tariff};
use crate::mqtt::{Session, SessionConfig};
use crate::retry::Retry;
use crate::statistics::{HomeAssistant, ImportError, ImportReport, import_meter};
use crate::store::{Store, StoreError};
use crate::sync::{GATEWAY_RETRY, SyncSummary, Syncer};

pub struct Pipeline {
    pub settings: Settings,
    pub store: Store,
    pub gateway: Gateway,
    pub clock: Arc<dyn Clock>,
    /// How failing gateway calls are retried within a sync.
    pub retry: Retry,
    /// Meters configured before and not any more: their entities are cleared.
    removed_meters: Vec<Pdl>,
}

/// Everything published at one instant, and when it changes next without a gateway call.
pub struct Publication {
    pub messages: Vec<Message>,
    pub next_change: Option<DateTime<Utc>>,
}

impl Pipeline {
    /// Opens the store the settings name (migrating it), then as [`Pipeline::with_store`].
    pub async fn open(
        settings: Settings,
        gateway: Gateway,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let store = Store::open_configured(&settings.data_dir, settings.database.as_ref()).await?;
        Self::with_store(settings, store, gateway, clock).await
    }

    /// The pipeline on an open store: compares the configured meters with the last run's.
    pub async fn with_store(
        settings: Settings,
        store: Store,
        gateway: Gateway,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        // The configuration is fixed for the life of the process: compare it once.
        let configured: Vec<Pdl> = settings.meters.iter().map(|m| m.pdl.clone()).collect();
        let removed_meters = store
            .sync_configured_meters(&configured, clock.now())
            .await?;
        if settings.statistics.enabled && settings.statistics_websocket().is_none() {
            tracing::info!(
                "Energy dashboard history skipped: no Home Assistant to write it to (set ha_url and ha_token outside the add-on)"
            );
        }
        Ok(Self {
            settings,
            store,
            gateway,
            clock,
            retry: GATEWAY_RETRY,
            removed_meters,
        })
    }

    /// Fetches what the store lacks, for every meter and the grid-wide data.
    pub async fn sync(&self) -> SyncSummary {
        let syncer = Syncer {
            gateway: &self.gateway,
            store: &self.store,
            retry: self.retry,
            clock: self.clock.as_ref(),
        };
        syncer.run(&self.settings, self.clock.now()).await
    }

    /// Brings the Energy-dashboard statistics of every meter up to date, and records in each
    /// meter's status how it went. `false` when some import failed (it resumes next time).
    pub async fn import_statistics(&self) -> bool {
        let Some((url, token)) = self.settings.statistics_websocket() else {
            return true;
        };
        let now = self.clock.now();
        let mut ha = match HomeAssistant::connect(&url, &token).await {
            Ok(ha) => ha,
            Err(error) => {
                let error = ImportError::from(error);
                for meter in &self.settings.meters {
                    self.record_statistics(&meter.pdl, Err(&error)).await;
                }
                return false;
            }
        };
        let mut all_ok = true;
        for meter in &self.settings.meters {
            let language = self.settings.language;
            let imported = import_meter(&mut ha, &self.store, meter, language, now).await;
            all_ok &= imported.is_ok();
            self.record_statistics(&meter.pdl, imported.as_ref().copied())
                .await;
        }
        ha.close().await;
        all_ok
    }

    /// Says in the log and the meter's status how its statistics went.
    async fn record_statistics(&self, pdl: &Pdl, imported: Result<ImportReport, &ImportError>) {
        let line = match imported {
            Ok(ImportReport { rows: 0, .. }) => None,
            Ok(ImportReport { rows, messages }) => {
                tracing::info!(
                    "meter {pdl}: statistics: {rows} row(s) sent in {messages} message(s)"
                );
                None
            }
            Err(error) => {
                tracing::warn!("meter {pdl}: {error}");
                Some(error.to_string())
            }
        };
        if let Err(e) = self.store.record_statistics(pdl, line.as_deref()).await {
            tracing::error!("meter {pdl}: {e}");
        }
    }

    /// What every device shows now, from the store.
    pub async fn snapshot(&self, now: DateTime<Utc>) -> Result<Snapshot, StoreError> {
        Snapshot::load(&self.store, &self.settings, paris_date(now)).await
    }

    /// Discovery configs and states of every device as of now; a meter that left the
    /// configuration has its configs and states cleared.
    pub async fn publication(&self) -> Result<Publication, StoreError> {
        let now = self.clock.now();
        let snapshot = self.snapshot(now).await?;
        let views = snapshot.views(now);
        Ok(Publication {
            messages: entities::messages(&self.settings, &views, &self.removed_meters),
            next_change: snapshot.next_change(now),
        })
    }

    /// The messages of [`Pipeline::publication`].
    pub async fn messages(&self) -> Result<Vec<Message>, StoreError> {
        Ok(self.publication().await?.messages)
    }

    /// Tempo colours are fetched (for the Tempo device or a Tempo meter).
    pub fn wants_tempo(&self) -> bool {
        let meters = &self.settings.meters;
        self.settings.tempo || meters.iter().any(|m| m.tariff == Tariff::Tempo)
    }

    /// Starts the MQTT session and hands it what the store already knows, so discovery goes
    /// out right after the ConnAck.
    pub async fn start_session(
        &self,
        broker: BrokerAddress,
        daemon: bool,
    ) -> anyhow::Result<Session> {
        let session = start_session(&self.settings, broker, daemon)?;
        session.publish(self.messages().await?).await?;
        Ok(session)
    }
}

/// Starts the MQTT session of `settings`, with nothing to publish yet. `daemon`: the session
/// outlives connection failures and logs each one.
pub fn start_session(
    settings: &Settings,
    broker: BrokerAddress,
    daemon: bool,
) -> anyhow::Result<Session> {
    let mqtt = &settings.mqtt;
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
    Ok(Session::start(config)?)
}
