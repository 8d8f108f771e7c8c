//! What the page's handlers share: the daemon's settings, store and clock, the MQTT link
//! once known, the test button's last run, and the meters' history drawn while the store
//! does not change — given back once the page has been closed for a minute.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use tokio::sync::{Mutex, watch};
use tokio::time::Instant;

use super::drawn::DrawnHistory;
use super::words;
use crate::clock::Clock;
use crate::config::Settings;
use crate::derived::HistoryInputs;
use crate::model::BrokerAddress;
use crate::mqtt::LinkStatus;
use crate::store::{Store, StoreError};

/// A page without a request for this long is closed: what it took is given back.
pub const IDLE_RELEASE: TimeDelta = TimeDelta::seconds(60);

/// What the handlers share.
#[derive(Clone)]
pub struct WebState {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) settings: Settings,
    pub(super) store: Store,
    pub(super) clock: Arc<dyn Clock>,
    /// The broker and its link, once the daemon has them.
    pub(super) mqtt: OnceLock<(String, watch::Receiver<LinkStatus>)>,
    /// When the test button last ran; held while it runs, so that one runs at a time.
    pub(super) last_check: Mutex<Option<Instant>>,
    /// The meters' drawn history, and the store version and day it was drawn at; held while
    /// it is drawn, so that requests at once draw it once.
    pub(super) drawn: Mutex<Option<Drawn>>,
    /// The last request, until the memory it took is given back.
    pub(super) last_request: std::sync::Mutex<Option<DateTime<Utc>>>,
}

pub(super) struct Drawn {
    version: u64,
    today: NaiveDate,
    histories: Arc<Vec<DrawnHistory>>,
}

impl WebState {
    pub fn new(settings: Settings, store: Store, clock: Arc<dyn Clock>) -> Self {
        let inner = Inner {
            settings,
            store,
            clock,
            mqtt: OnceLock::new(),
            last_check: Mutex::new(None),
            drawn: Mutex::new(None),
            last_request: std::sync::Mutex::new(None),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The meters' history drawn as of the Paris day `today`: the one drawn before while the
    /// store has not changed, else drawn again (a few hundred rows per meter).
    pub(super) async fn histories(
        &self,
        today: NaiveDate,
    ) -> Result<Arc<Vec<DrawnHistory>>, StoreError> {
        let inner = &self.inner;
        let mut drawn = inner.drawn.lock().await;
        // Read before the store: a write during the drawing makes the next load draw again.
        let version = inner.store.version();
        if let Some(kept) = drawn
            .as_ref()
            .filter(|d| (d.version, d.today) == (version, today))
        {
            return Ok(kept.histories.clone());
        }
        let words = words::words(inner.settings.language);
        let mut histories = Vec::with_capacity(inner.settings.meters.len());
        for meter in &inner.settings.meters {
            let history = HistoryInputs::load(&inner.store, meter, today).await?;
            histories.push(DrawnHistory::draw(words, &history, today));
        }
        let histories = Arc::new(histories);
        *drawn = Some(Drawn {
            version,
            today,
            histories: histories.clone(),
        });
        Ok(histories)
    }

    pub(super) fn last_request(&self) -> std::sync::MutexGuard<'_, Option<DateTime<Utc>>> {
        // A panic elsewhere cannot leave an instant half-written.
        let last = self.inner.last_request.lock();
        last.unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Once no request came for [`IDLE_RELEASE`]: drops the drawn history and gives the
    /// store's and the heap's free pages back, so that a page opened then closed leaves the
    /// daemon's idle memory as it was. Whether it did.
    pub(super) async fn release_if_idle(&self) -> bool {
        let now = self.inner.clock.now();
        let idle = {
            let mut last = self.last_request();
            last.take_if(|at| now - *at >= IDLE_RELEASE).is_some()
        };
        if idle {
            *self.inner.drawn.lock().await = None;
            if let Err(error) = self.inner.store.release_memory().await {
                tracing::warn!("web page: {error}");
            }
        }
        idle
    }

    pub(super) async fn release_when_idle(self) {
        loop {
            self.inner.clock.sleep(Duration::from_secs(15)).await;
            self.release_if_idle().await;
        }
    }

    /// The broker the daemon connects to, and its link (shown on the page).
    pub fn set_mqtt(&self, broker: &BrokerAddress, status: watch::Receiver<LinkStatus>) {
        // Set once per daemon; a second call would only repeat the same broker. The
        // address shows without its password.
        let _ = self.inner.mqtt.set((broker.to_string(), status));
    }
}
