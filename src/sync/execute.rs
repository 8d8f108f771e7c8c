//! Carrying out a plan: each call counted against the quota (and refused before it is
//! exceeded), retried while it fails in a way worth retrying, and its answer written in one
//! transaction. A failure ends the calls of its part (a meter, Tempo, EcoWatt), not the others.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::SyncError;
use super::plan::Call;
use super::quota::{CallScope, Counter, Quota};
use super::state::SyncState;
use crate::clock::Clock;
use crate::gateway::{Gateway, GatewayError};
use crate::model::{
    AccessInfo, Contract, DailySeries, EcowattDay, LoadCurvePoint, MaxPowerReading, MeterInfo, Pdl,
    TempoDay, TempoPrices,
};
use crate::retry::Retry;
use crate::store::Store;

/// What a call brought back.
enum Answer {
    Meters(Vec<MeterInfo>),
    Access(Option<AccessInfo>),
    Contract(Contract),
    Daily(DailySeries),
    MaxPower(Vec<MaxPowerReading>),
    LoadCurve(Vec<LoadCurvePoint>),
    Tempo(Vec<TempoDay>),
    Ecowatt(Vec<EcowattDay>),
    TempoPrices(Option<TempoPrices>),
}

/// How each part of a sync went so far.
#[derive(Debug, Default)]
pub struct Ledger {
    parts: BTreeMap<CallScope, PartOutcome>,
}

#[derive(Debug, Default)]
pub struct PartOutcome {
    /// Gateway calls made (retries included).
    pub calls: u32,
    /// Days that got their first value.
    pub new_days: usize,
    /// The failure that ended the part's calls.
    pub error: Option<SyncError>,
}

impl Ledger {
    pub fn part(&self, scope: &CallScope) -> Option<&PartOutcome> {
        self.parts.get(scope)
    }

    /// Records the first failure of a part; later ones are consequences.
    pub fn fail(&mut self, scope: CallScope, error: SyncError) {
        let part = self.parts.entry(scope).or_default();
        part.error.get_or_insert(error);
    }

    fn failed(&self, scope: &CallScope) -> bool {
        self.part(scope).is_some_and(|p| p.error.is_some())
    }

    pub fn calls(&self) -> u32 {
        self.parts.values().map(|p| p.calls).sum()
    }
}

/// The gateway, the store and how to retry: what carrying out calls takes.
pub struct Executor<'a> {
    pub gateway: &'a Gateway,
    pub store: &'a Store,
    pub retry: Retry,
    pub clock: &'a dyn Clock,
}

impl Executor<'_> {
    /// Runs `calls` in order, skipping those of a part that already failed.
    pub async fn run(
        &self,
        state: &SyncState,
        calls: Vec<Call>,
        quota: &mut Quota,
        ledger: &mut Ledger,
    ) {
        for call in calls {
            let scope = call.scope();
            if ledger.failed(&scope) {
                continue;
            }
            let answer = self.fetch(&call, state.today, quota, ledger).await;
            let written = match answer {
                Ok(answer) => self.write(state, &call, answer, quota).await,
                Err(error) => self.tolerate(state, &call, error, quota).await,
            };
            match written {
                Ok(new_days) => ledger.parts.entry(scope).or_default().new_days += new_days,
                Err(error) => self.fail(state, &call, error, ledger),
            }
        }
    }

    /// A failure of the account's meter list is every meter's.
    fn fail(&self, state: &SyncState, call: &Call, error: SyncError, ledger: &mut Ledger) {
        if *call == Call::Meters {
            for meter in &state.meters {
                ledger.fail(CallScope::Meter(meter.pdl().clone()), error.clone());
            }
        }
        ledger.fail(call.scope(), error);
    }

    /// One call, counted and retried with backoff while it fails in a way worth retrying.
    async fn fetch(
        &self,
        call: &Call,
        today: NaiveDate,
        quota: &mut Quota,
        ledger: &mut Ledger,
    ) -> Result<Answer, SyncError> {
        let scope = call.scope();
        let mut retry = 0;
        loop {
            let counter = quota.admit(&scope)?;
            self.store.count_call(&counter.key, counter.day).await?;
            ledger.parts.entry(scope.clone()).or_default().calls += 1;
            match self.request(call, today).await {
                Ok(answer) => return Ok(answer),
                // The gateway's word on its quota ends the day's calls for this scope: asking
                // again before the reset would only spend refused calls.
                Err(e @ GatewayError::QuotaReached(_)) => {
                    self.persist(quota.exhaust(&scope)).await?;
                    return Err(e.into());
                }
                Err(e) if e.is_transient() && retry + 1 < self.retry.attempts => {
                    let delay = self.retry.backoff.delay(retry, fastrand::f64());
                    let wait = delay.as_secs_f64();
                    tracing::warn!("{scope}: {e}; retrying in {wait:.1} s");
                    self.clock.sleep(delay).await;
                    retry += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn persist(&self, (counter, calls): (Counter, u32)) -> Result<(), SyncError> {
        Ok(self
            .store
            .raise_calls(&counter.key, counter.day, calls)
            .await?)
    }

    /// One gateway call; `today` bounds what an Enedis answer may bring.
    async fn request(&self, call: &Call, today: NaiveDate) -> Result<Answer, GatewayError> {
        let gw = self.gateway;
        Ok(match call {
            Call::Meters => Answer::Meters(gw.meters().await?),
            Call::Access(pdl) => Answer::Access(gw.access(pdl).await?),
            Call::Contract(pdl) => Answer::Contract(gw.contract(pdl).await?),
            Call::Daily { pdl, kind, range } => {
                Answer::Daily(gw.daily(*kind, pdl, range.start, range.end, today).await?)
            }
            Call::MaxPower { pdl, range } => {
                Answer::MaxPower(gw.max_power(pdl, range.start, range.end, today).await?)
            }
            Call::LoadCurve { pdl, kind, range } => Answer::LoadCurve(
                gw.load_curve(*kind, pdl, range.start, range.end, today)
                    .await?,
            ),
            Call::Tempo(range) => Answer::Tempo(gw.tempo(range.start, range.end).await?),
            Call::Ecowatt(today) => Answer::Ecowatt(gw.ecowatt(*today).await?),
            Call::TempoPrices => Answer::TempoPrices(gw.tempo_prices().await?),
        })
    }

    /// Failures that do not end the part: a range wholly before the meter's activation is an
    /// empty answer; a contract that cannot be refreshed keeps the one known.
    async fn tolerate(
        &self,
        state: &SyncState,
        call: &Call,
        error: SyncError,
        quota: &mut Quota,
    ) -> Result<usize, SyncError> {
        match (call, &error) {
            (Call::Daily { .. }, SyncError::Gateway(GatewayError::BeforeActivation(_))) => {
                let empty = Answer::Daily(DailySeries::default());
                self.write(state, call, empty, quota).await
            }
            (Call::Contract(pdl), SyncError::Gateway(e)) if !e.stops_the_sync() => {
                tracing::warn!("meter {pdl}: contract not refreshed: {e}");
                Ok(0)
            }
            _ => Err(error),
        }
    }

    /// Writes an answer in one transaction; returns the days that got their first value.
    async fn write(
        &self,
        state: &SyncState,
        call: &Call,
        answer: Answer,
        quota: &mut Quota,
    ) -> Result<usize, SyncError> {
        let (store, now) = (self.store, state.now);
        match (call, answer) {
            (Call::Access(pdl), Answer::Access(Some(access))) => {
                self.write_access(pdl, &access, quota, now).await?
            }
            (Call::Meters, Answer::Meters(infos)) => store.save_meters(&infos, now).await?,
            (Call::Contract(pdl), Answer::Contract(c)) => store.save_contract(pdl, &c, now).await?,
            (Call::Daily { pdl, kind, range }, Answer::Daily(series)) => {
                store.save_daily(pdl, *kind, *range, &series, now).await?;
                return Ok(new_days(state, pdl, *kind, &series));
            }
            (Call::MaxPower { pdl, range }, Answer::MaxPower(peaks)) => {
                store.save_max_power(pdl, *range, &peaks, now).await?
            }
            (Call::LoadCurve { pdl, kind, range }, Answer::LoadCurve(points)) => {
                store
                    .save_load_curve(pdl, *kind, *range, &points, now)
                    .await?
            }
            (Call::Tempo(range), Answer::Tempo(days)) => {
                store.save_tempo(*range, &days, now).await?
            }
            (Call::Ecowatt(_), Answer::Ecowatt(days)) => store.save_ecowatt(&days, now).await?,
            (Call::TempoPrices, Answer::TempoPrices(Some(p))) => {
                store.save_tempo_prices(&p, now).await?
            }
            // No consent report (v2), no published prices (v2): nothing to keep.
            _ => {}
        }
        Ok(0)
    }

    /// v1's consent and quota: kept for the status, counted in the quota; a reached quota or
    /// a refused consent ends the meter's sync.
    async fn write_access(
        &self,
        pdl: &Pdl,
        access: &AccessInfo,
        quota: &mut Quota,
        now: DateTime<Utc>,
    ) -> Result<(), SyncError> {
        self.store.record_access(pdl, access, now).await?;
        if let Some(count) = quota.report_access(pdl, access) {
            self.persist(count).await?;
        }
        let information = access.information.clone();
        if access.quota_reached {
            let why = information.unwrap_or_else(|| "daily quota reached".into());
            return Err(GatewayError::QuotaReached(why).into());
        }
        if !access.valid {
            let why = information.unwrap_or_else(|| "the consent is not valid".into());
            return Err(GatewayError::AccessDenied(why).into());
        }
        Ok(())
    }
}

/// Days of an answer that had no value before it.
fn new_days(
    state: &SyncState,
    pdl: &Pdl,
    kind: crate::model::SeriesKind,
    series: &DailySeries,
) -> usize {
    let known = state.meter(pdl).and_then(|m| m.daily.get(&kind));
    series
        .readings
        .iter()
        .filter(|r| !matches!(known.and_then(|k| k.get(&r.date)), Some(Some(_))))
        .count()
}
