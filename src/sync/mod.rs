//! Fetching what is missing, as one job in three steps:
//!
//! 1. [`SyncState::load`] reads what the store holds (plain data, one pass);
//! 2. [`plan`] decides which gateway calls cover what it lacks (pure, time is a field of the
//!    state);
//! 3. [`Executor`] makes each call within the quota, retries transient failures with the
//!    program's [`Retry`] policy, and writes each answer in one transaction.
//!
//! What the account lists and what each contract says decide the ranges of the series, so a
//! sync runs these three in [`Step`]s, reading the state again after a step that made
//! calls, and once more at the end to report what is complete.

mod execute;
mod plan;
mod quota;
mod state;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::config::Settings;
use crate::gateway::{Gateway, GatewayError};
use crate::model::Pdl;
use crate::retry::{Backoff, Retry};
use crate::store::{Store, StoreError};
pub use execute::{Executor, Ledger, PartOutcome};
pub use plan::{
    Call, ECOWATT_MAX_AGE_HOURS, METER_INFO_MAX_AGE_DAYS, RECENT_RETRY_DAYS, Step, is_unknown,
    meter_complete, plan, plan_ranges,
};
pub use quota::{CallScope, Counter, Quota, QuotaRule, budget_of};
pub use state::{GridState, LOAD_CURVE_MONTHS, MAX_POWER_DAYS, MeterState, SyncState};

/// Gateway calls within a sync: three tries, 2 s then 8 s apart (±20 %).
pub const GATEWAY_RETRY: Retry = Retry {
    attempts: 3,
    backoff: Backoff {
        first: Duration::from_secs(2),
        factor: 4,
        max: Duration::from_secs(30),
        jitter: 0.2,
    },
};

#[derive(Debug, Clone, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error(transparent)]
    Store(Arc<StoreError>),
    #[error(
        "meter {0} is not on this MyElectricalData account: add it to the consent on myelectricaldata.fr"
    )]
    UnknownMeter(Pdl),
}

impl From<StoreError> for SyncError {
    fn from(error: StoreError) -> Self {
        SyncError::Store(Arc::new(error))
    }
}

impl SyncError {
    /// Worth retrying soon without any change from the user.
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Gateway(e) => e.is_transient(),
            // A PostgreSQL restarted mid-sync: the next attempt finds it back.
            SyncError::Store(e) => e.is_transient(),
            SyncError::UnknownMeter(_) => false,
        }
    }
}

/// Who a failure concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Meter(Pdl),
    /// Tempo colours, EcoWatt signals and Tempo prices.
    Grid,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Meter(pdl) => write!(f, "meter {pdl}"),
            Part::Grid => f.write_str("Tempo/EcoWatt"),
        }
    }
}

/// One failed part of a sync, shown as one line: `meter 12345678901234: …`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{part}: {error}")]
pub struct SyncFailure {
    pub part: Part,
    pub error: SyncError,
}

/// What a sync did, over all meters and the grid-wide data.
#[derive(Debug, Default)]
pub struct SyncSummary {
    /// Gateway calls made, retries included.
    pub calls: u32,
    /// Days of the meters' series that got their first value.
    pub new_days: usize,
    /// Every meter synced and has every enabled series up to yesterday.
    pub complete: bool,
    pub errors: Vec<SyncFailure>,
    /// Tomorrow's Tempo colour is known.
    pub tempo_tomorrow_known: bool,
}

impl SyncSummary {
    /// Some failure is worth retrying soon.
    pub fn transient(&self) -> bool {
        self.errors.iter().any(|f| f.error.is_transient())
    }
}

/// Everything a sync needs, borrowed.
pub struct Syncer<'a> {
    pub gateway: &'a Gateway,
    pub store: &'a Store,
    pub retry: Retry,
    /// What the waits between retries go through (a simulated clock runs them at once).
    pub clock: &'a dyn Clock,
}

impl Syncer<'_> {
    /// Fetches what the store lacks for every meter and the grid-wide data; records each
    /// meter's outcome in its status and logs one line per meter and the total.
    pub async fn run(&self, settings: &Settings, now: DateTime<Utc>) -> SyncSummary {
        match self.try_run(settings, now).await {
            Ok(summary) => summary,
            Err(error) => {
                let error = SyncError::from(error);
                let errors = settings.meters.iter().map(|m| SyncFailure {
                    part: Part::Meter(m.pdl.clone()),
                    error: error.clone(),
                });
                let summary = SyncSummary {
                    errors: errors.collect(),
                    ..SyncSummary::default()
                };
                summary.errors.iter().for_each(|e| tracing::error!("{e}"));
                summary
            }
        }
    }

    async fn try_run(
        &self,
        settings: &Settings,
        now: DateTime<Utc>,
    ) -> Result<SyncSummary, StoreError> {
        let generation = self.gateway.generation();
        let executor = Executor {
            gateway: self.gateway,
            store: self.store,
            retry: self.retry,
            clock: self.clock,
        };
        let mut ledger = Ledger::default();
        let load = async || SyncState::load(self.store, settings, generation, now).await;
        let mut state = load().await?;
        let mut quota = state.quota(self.store).await?;
        for step in Step::ALL {
            if step == Step::Meters {
                fail_unknown_meters(&state, &mut ledger);
            }
            let calls = plan(step, &state);
            if !calls.is_empty() {
                executor.run(&state, calls, &mut quota, &mut ledger).await;
                state = load().await?;
            }
        }
        let summary = summarize(&state, &ledger);
        for meter in &state.meters {
            let pdl = meter.pdl();
            let error = ledger
                .part(&CallScope::Meter(pdl.clone()))
                .and_then(|p| p.error.as_ref());
            let line = error.map(ToString::to_string);
            let usage = quota.usage(pdl);
            if let Err(e) = self
                .store
                .record_outcome(pdl, now, line.as_deref(), usage)
                .await
            {
                tracing::error!("meter {pdl}: {e}");
            }
        }
        Ok(summary)
    }
}

/// The meters the account (v2) does not list fail with a line that says so.
fn fail_unknown_meters(state: &SyncState, ledger: &mut Ledger) {
    for meter in state.meters.iter().filter(|m| is_unknown(state, m)) {
        let pdl = meter.pdl().clone();
        ledger.fail(CallScope::Meter(pdl.clone()), SyncError::UnknownMeter(pdl));
    }
}

/// The summary of a sync from the final state and the ledger, logged as it is made.
fn summarize(state: &SyncState, ledger: &Ledger) -> SyncSummary {
    let mut summary = SyncSummary {
        calls: ledger.calls(),
        complete: true,
        tempo_tomorrow_known: state.tempo_tomorrow_known(),
        ..SyncSummary::default()
    };
    for meter in &state.meters {
        let pdl = meter.pdl();
        let part = ledger.part(&CallScope::Meter(pdl.clone()));
        let (calls, new_days) = part.map_or((0, 0), |p| (p.calls, p.new_days));
        summary.new_days += new_days;
        let complete = meter_complete(meter, state.today);
        match part.and_then(|p| p.error.clone()) {
            Some(error) => {
                let failure = SyncFailure {
                    part: Part::Meter(pdl.clone()),
                    error,
                };
                tracing::error!("{failure}");
                summary.errors.push(failure);
                summary.complete = false;
            }
            None if complete => {
                tracing::info!("meter {pdl}: up to date ({new_days} new day(s), {calls} call(s))")
            }
            None => {
                summary.complete = false;
                tracing::info!(
                    "meter {pdl}: {new_days} new day(s), {calls} call(s); yesterday is not published yet"
                );
            }
        }
    }
    for scope in [CallScope::Tempo, CallScope::Ecowatt, CallScope::TempoPrices] {
        if let Some(error) = ledger.part(&scope).and_then(|p| p.error.clone()) {
            let failure = SyncFailure {
                part: Part::Grid,
                error,
            };
            tracing::error!("{failure}");
            summary.errors.push(failure);
        }
    }
    tracing::info!(
        "sync done: {} gateway call(s), {} new day(s)",
        summary.calls,
        summary.new_days
    );
    summary
}
