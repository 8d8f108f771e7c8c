//! Fetching what is missing: plans the fewest gateway calls that cover the days the store
//! lacks, counts each call against the gateway's quota, retries transient failures with
//! backoff, and writes each answer in one transaction.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Months, NaiveDate, Utc};

use crate::calendar::{
    add_days, daily_history_start, day_minutes, month_start, paris_date, sub_days,
};
use crate::config::{MeterSettings, Pdl, Settings, Tariff};
use crate::gateway::{
    Gateway, GatewayError, MAX_DAILY_SPAN_DAYS, MAX_LOAD_CURVE_SPAN_DAYS, MeterInfo, SeriesKind,
};
use crate::scheduler::TEMPO_TOMORROW_FROM;
use crate::store::{Store, StoreError};
use crate::tariffs::{self, tempo_season_start};

/// Days this recent that a successful answer lacked are asked again (Enedis is sometimes
/// late); older ones are taken as never coming.
pub const RECENT_RETRY_DAYS: u64 = 10;
/// How long the account's meter list and the contracts are trusted.
pub const METER_INFO_MAX_AGE_DAYS: i64 = 7;
/// Days of max power kept fresh (only the latest is shown).
pub const MAX_POWER_DAYS: u64 = 30;
/// The load curve is kept from this many months back (the HC/HP split of the current month).
pub const LOAD_CURVE_MONTHS: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "meter {0} is not on this MyElectricalData account: add it to the consent on myelectricaldata.fr"
    )]
    UnknownMeter(Pdl),
}

impl SyncError {
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Gateway(e) => e.is_transient(),
            SyncError::Store(_) | SyncError::UnknownMeter(_) => false,
        }
    }
}

/// What one sync did for one meter.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MeterSync {
    /// Gateway calls made (retries included).
    pub calls: u32,
    /// Days that got a daily value.
    pub new_days: usize,
    /// Every enabled series has yesterday.
    pub complete: bool,
}

/// A date range `[start, end)` to ask for.
pub type DayRange = (NaiveDate, NaiveDate);

/// The fewest ranges of at most `span` days that cover every day of `[first, today)` for
/// which `missing` holds, each trimmed to its last missing day.
pub fn plan_ranges(
    first: NaiveDate,
    today: NaiveDate,
    span: u64,
    missing: impl Fn(NaiveDate) -> bool,
) -> Vec<DayRange> {
    let mut ranges = Vec::new();
    let mut day = first;
    while day < today {
        if missing(day) {
            let end = add_days(day, span).min(today);
            if let Some(last) = day
                .iter_days()
                .take_while(|d| *d < end)
                .filter(|d| missing(*d))
                .last()
            {
                ranges.push((day, add_days(last, 1)));
            }
            day = end;
        } else {
            day = add_days(day, 1);
        }
    }
    ranges
}

/// Daily ranges: days without a row, and recent days the gateway did not have yet.
pub fn plan_daily(
    first: NaiveDate,
    today: NaiveDate,
    known: &BTreeMap<NaiveDate, Option<i64>>,
) -> Vec<DayRange> {
    let recent = sub_days(today, RECENT_RETRY_DAYS);
    plan_ranges(first, today, MAX_DAILY_SPAN_DAYS, |day| {
        match known.get(&day) {
            Some(Some(_)) => false,
            Some(None) => day >= recent,
            None => true,
        }
    })
}

/// Load-curve ranges (7 days): days never asked, and recent days not complete yet.
pub fn plan_load_curve(
    first: NaiveDate,
    today: NaiveDate,
    coverage: &BTreeMap<NaiveDate, i64>,
) -> Vec<DayRange> {
    let recent = sub_days(today, RECENT_RETRY_DAYS);
    plan_ranges(
        first,
        today,
        MAX_LOAD_CURVE_SPAN_DAYS,
        |day| match coverage.get(&day) {
            None => true,
            Some(minutes) => *minutes < day_minutes(day) && day >= recent,
        },
    )
}

/// What a gateway call is counted against: a meter's (or the account's) Enedis quota, or
/// the RTE/EDF routes, which the gateways limit on their own (EcoWatt: 50 a day).
#[derive(Debug, Clone, Copy)]
pub enum CallScope<'p> {
    Meter(&'p Pdl),
    Tempo,
    Ecowatt,
    TempoPrices,
}

impl CallScope<'_> {
    fn label(self) -> String {
        match self {
            CallScope::Meter(pdl) => format!("meter {pdl}"),
            CallScope::Tempo => "Tempo".into(),
            CallScope::Ecowatt => "EcoWatt".into(),
            CallScope::TempoPrices => "Tempo prices".into(),
        }
    }
}

/// Tempo colours asked per call at most: a whole season in one call.
const TEMPO_SPAN_DAYS: u64 = 366;

/// Daily limits of the RTE/EDF routes.
const ECOWATT_DAILY_CALLS: u32 = 50;
const TEMPO_DAILY_CALLS: u32 = 200;

/// What the grid-wide sync did and learnt.
#[derive(Debug, Default)]
pub struct GridSync {
    pub calls: u32,
    /// Tomorrow's Tempo colour is known.
    pub tempo_tomorrow_known: bool,
    /// Tempo, EcoWatt and prices failures, each on its own.
    pub errors: Vec<SyncError>,
}

/// EcoWatt signals younger than this are not asked again (its routes are rate-limited).
pub const ECOWATT_MAX_AGE_HOURS: i64 = 4;

/// How transient failures are retried within one sync.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub attempts: u32,
    /// Delay before the first retry; each next one is four times longer.
    pub first_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            first_delay: Duration::from_secs(2),
        }
    }
}

/// How a gateway generation counts calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaScope {
    /// v2: per account, reset at 00:00 UTC.
    Account { limit: u32 },
    /// v1: per meter, reset at the end of the (Paris) day.
    Meter { limit: u32 },
}

impl QuotaScope {
    /// The v2 limit with `use_cache=true`.
    pub const V2: QuotaScope = QuotaScope::Account { limit: 1000 };
    /// The v1 limit with the `/cache` routes (2026), until the gateway tells its own.
    pub const V1: QuotaScope = QuotaScope::Meter { limit: 500 };

    pub fn for_gateway(gateway: &Gateway) -> Self {
        match gateway {
            Gateway::V1(_) => Self::V1,
            Gateway::V2(_) | Gateway::Sample(_) => Self::V2,
        }
    }

    /// The counter key and the quota day of a call made at `now`.
    fn counter(&self, scope: CallScope<'_>, now: DateTime<Utc>) -> (String, NaiveDate) {
        match (self, scope) {
            (QuotaScope::Account { .. }, CallScope::Meter(_)) => {
                ("account".into(), now.date_naive())
            }
            (QuotaScope::Meter { .. }, CallScope::Meter(pdl)) => (pdl.to_string(), paris_date(now)),
            (_, CallScope::Tempo) => ("tempo".into(), now.date_naive()),
            (_, CallScope::Ecowatt) => ("ecowatt".into(), now.date_naive()),
            (_, CallScope::TempoPrices) => ("tempo_prices".into(), now.date_naive()),
        }
    }

    fn limit(&self) -> u32 {
        match self {
            QuotaScope::Account { limit } | QuotaScope::Meter { limit } => *limit,
        }
    }

    /// Calls we allow ourselves out of `limit`: stop a little before the gateway's limit, so
    /// that a user's own manual calls still fit.
    fn budget_of(limit: u32) -> u32 {
        limit - limit / 20
    }
}

/// Everything the sync needs, borrowed.
pub struct Syncer<'a> {
    pub gateway: &'a Gateway,
    pub store: &'a Store,
    pub retry: RetryPolicy,
    pub quota: QuotaScope,
}

impl<'a> Syncer<'a> {
    pub fn new(gateway: &'a Gateway, store: &'a Store) -> Self {
        Self {
            gateway,
            store,
            retry: RetryPolicy::default(),
            quota: QuotaScope::for_gateway(gateway),
        }
    }

    /// One gateway call: counted against the quota (and refused before it is exceeded),
    /// retried with backoff while it fails in a way worth retrying.
    async fn call<T>(
        &self,
        scope: CallScope<'_>,
        now: DateTime<Utc>,
        report: &mut MeterSync,
        request: impl AsyncFn() -> Result<T, GatewayError>,
    ) -> Result<T, SyncError> {
        let limit = self.limit_for(scope, now).await?;
        let (key, day) = self.quota.counter(scope, now);
        let budget = QuotaScope::budget_of(limit);
        let mut delay = self.retry.first_delay;
        let mut attempt = 1;
        loop {
            if self.store.calls(&key, day).await? >= budget {
                return Err(GatewayError::QuotaReached(format!(
                    "{budget} of the {limit} calls allowed today are used"
                ))
                .into());
            }
            self.store.count_call(&key, day).await?;
            report.calls += 1;
            match request().await {
                Ok(value) => return Ok(value),
                // The gateway's word on its quota ends the day's calls for this scope: asking
                // again before the reset would only spend refused calls.
                Err(e @ GatewayError::QuotaReached(_)) => {
                    self.store.raise_calls(&key, day, budget).await?;
                    return Err(e.into());
                }
                Err(e) if e.is_transient() && attempt < self.retry.attempts => {
                    tracing::warn!(
                        "{}: {e}; retrying in {} s",
                        scope.label(),
                        delay.as_secs_f64()
                    );
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The day's call limit of a scope: what v1 reported for the meter today, else the
    /// generation's; the RTE/EDF routes have their own.
    async fn limit_for(&self, scope: CallScope<'_>, now: DateTime<Utc>) -> Result<u32, StoreError> {
        let pdl = match scope {
            CallScope::Meter(pdl) => pdl,
            CallScope::Tempo => return Ok(TEMPO_DAILY_CALLS),
            CallScope::Ecowatt | CallScope::TempoPrices => return Ok(ECOWATT_DAILY_CALLS),
        };
        let QuotaScope::Meter { limit } = self.quota else {
            return Ok(self.quota.limit());
        };
        let status = self.store.meter_status(pdl).await?;
        let reported_today = status
            .access_checked_at
            .is_some_and(|at| paris_date(at) == paris_date(now));
        Ok(status
            .quota_limit
            .filter(|_| reported_today)
            .unwrap_or(limit))
    }

    /// Calls used today and the limit, as the status topic shows them.
    pub async fn quota_usage(
        &self,
        pdl: &Pdl,
        now: DateTime<Utc>,
    ) -> Result<(u32, u32), StoreError> {
        let limit = self.limit_for(CallScope::Meter(pdl), now).await?;
        let (key, day) = self.quota.counter(CallScope::Meter(pdl), now);
        Ok((self.store.calls(&key, day).await?, limit))
    }

    /// The account's meter list (v2), from the store when fresh, otherwise one call.
    /// v1 has no such list: `Ok(None)`.
    pub async fn meter_infos(
        &self,
        meters: &[MeterSettings],
        now: DateTime<Utc>,
    ) -> Result<(Option<Vec<MeterInfo>>, u32), SyncError> {
        if matches!(self.gateway, Gateway::V1(_)) {
            return Ok((None, 0));
        }
        let mut infos = Vec::new();
        for meter in meters {
            match self.store.meter(&meter.pdl).await? {
                Some((info, fetched)) if (now - fetched).num_days() < METER_INFO_MAX_AGE_DAYS => {
                    infos.push(info)
                }
                _ => {
                    let mut report = MeterSync::default();
                    let Some(first) = meters.first() else { break };
                    let fresh = self
                        .call(CallScope::Meter(&first.pdl), now, &mut report, async || {
                            self.gateway.meters().await
                        })
                        .await?;
                    for info in &fresh {
                        self.store.save_meter(info, now).await?;
                    }
                    return Ok((Some(fresh), report.calls));
                }
            }
        }
        Ok((Some(infos), 0))
    }

    /// Fetches everything `meter` lacks, then records the outcome in its status.
    pub async fn sync_meter(
        &self,
        meter: &MeterSettings,
        info: Option<&MeterInfo>,
        now: DateTime<Utc>,
    ) -> (MeterSync, Result<(), SyncError>) {
        let mut report = MeterSync {
            complete: true,
            ..MeterSync::default()
        };
        let result = self.sync_series(meter, info, now, &mut report).await;
        if result.is_err() {
            report.complete = false;
        }
        let line = result.as_ref().err().map(ToString::to_string);
        if let Err(e) = self.record_outcome(&meter.pdl, now, line.as_deref()).await {
            return (report, Err(e.into()));
        }
        (report, result)
    }

    /// Records the outcome of a sync in the meter's status: success, or the error in one line
    /// (the values already known stay as they are).
    pub async fn record_outcome(
        &self,
        pdl: &Pdl,
        now: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut status = self.store.meter_status(pdl).await?;
        match error {
            None => {
                status.last_success_at = Some(now);
                status.last_error = None;
                status.last_error_at = None;
            }
            Some(line) => {
                status.last_error = Some(line.to_string());
                status.last_error_at = Some(now);
            }
        }
        let (used, limit) = self.quota_usage(pdl, now).await?;
        status.quota_used = Some(used);
        status.quota_limit = Some(limit);
        self.store.save_meter_status(pdl, &status).await
    }

    async fn sync_series(
        &self,
        meter: &MeterSettings,
        info: Option<&MeterInfo>,
        now: DateTime<Utc>,
        report: &mut MeterSync,
    ) -> Result<(), SyncError> {
        let pdl = &meter.pdl;
        let today = paris_date(now);
        let yesterday = sub_days(today, 1);

        self.refresh_access(pdl, now, report).await?;
        let stored = self.store.contract(pdl).await?;
        let contract = match stored {
            Some((contract, fetched)) if (now - fetched).num_days() < METER_INFO_MAX_AGE_DAYS => {
                contract
            }
            stored => match self
                .call(CallScope::Meter(pdl), now, report, async || {
                    self.gateway.contract(pdl).await
                })
                .await
            {
                Ok(contract) => {
                    self.store.save_contract(pdl, &contract, now).await?;
                    contract
                }
                // The contract only refines what is shown (subscribed power, off-peak hours):
                // keep the last one known and go on, unless the gateway refuses us outright.
                Err(SyncError::Gateway(e)) if !e.stops_the_sync() => {
                    tracing::warn!("meter {pdl}: contract not refreshed: {e}");
                    stored.map(|(contract, _)| contract).unwrap_or_default()
                }
                Err(e) => return Err(e),
            },
        };
        let activation = info
            .and_then(MeterInfo::first_available_day)
            .or(contract.activation_date);
        let first = match activation {
            Some(activation) => daily_history_start(today).max(activation),
            None => daily_history_start(today),
        };

        let kinds = [
            (SeriesKind::Consumption, meter.consumption),
            (SeriesKind::Production, meter.production),
        ];
        for (kind, _) in kinds.iter().filter(|(_, enabled)| *enabled) {
            let known = self
                .store
                .daily_status(pdl, *kind, first, yesterday)
                .await?;
            for (start, end) in plan_daily(first, today, &known) {
                let series = match self
                    .call(CallScope::Meter(pdl), now, report, async || {
                        self.gateway.daily(*kind, pdl, start, end).await
                    })
                    .await
                {
                    Ok(series) => series,
                    // The whole range is before the meter's activation: nothing will come.
                    Err(SyncError::Gateway(GatewayError::BeforeActivation(_))) => {
                        Default::default()
                    }
                    Err(e) => return Err(e),
                };
                report.new_days += series
                    .readings
                    .iter()
                    .filter(|r| !matches!(known.get(&r.date), Some(Some(_))))
                    .count();
                self.store
                    .save_daily(pdl, *kind, start, end, &series, now)
                    .await?;
            }
            if first <= yesterday && self.store.day(pdl, *kind, yesterday).await?.is_none() {
                report.complete = false;
            }
        }

        if meter.consumption {
            let first = first.max(sub_days(today, MAX_POWER_DAYS));
            let known = self.store.max_power_status(pdl, first, yesterday).await?;
            let recent = sub_days(today, RECENT_RETRY_DAYS);
            let missing = |day: NaiveDate| match known.get(&day) {
                Some(Some(_)) => false,
                Some(None) => day >= recent,
                None => true,
            };
            for (start, end) in plan_ranges(first, today, MAX_DAILY_SPAN_DAYS, missing) {
                let peaks = self
                    .call(CallScope::Meter(pdl), now, report, async || {
                        self.gateway.max_power(pdl, start, end).await
                    })
                    .await?;
                self.store
                    .save_max_power(pdl, start, end, &peaks, now)
                    .await?;
            }
        }

        if meter.load_curve {
            let window =
                month_start(sub_days(today, 1)).checked_sub_months(Months::new(LOAD_CURVE_MONTHS));
            let first = first.max(window.unwrap_or(first));
            for (kind, _) in kinds.iter().filter(|(_, enabled)| *enabled) {
                let coverage = self
                    .store
                    .load_curve_coverage(pdl, *kind, first, yesterday)
                    .await?;
                for (start, end) in plan_load_curve(first, today, &coverage) {
                    let points = self
                        .call(CallScope::Meter(pdl), now, report, async || {
                            self.gateway.load_curve(*kind, pdl, start, end).await
                        })
                        .await?;
                    self.store
                        .save_load_curve(pdl, *kind, start, end, &points, now)
                        .await?;
                }
                let coverage = self
                    .store
                    .load_curve_coverage(pdl, *kind, yesterday, yesterday)
                    .await?;
                if first <= yesterday
                    && coverage
                        .get(&yesterday)
                        .is_none_or(|m| *m < day_minutes(yesterday))
                {
                    report.complete = false;
                }
            }
        }
        Ok(())
    }

    /// Tempo colours, EcoWatt signals and (v1) Tempo prices: only what the store lacks or
    /// what is stale. Tomorrow's colour is asked from about 10:40 Paris, until known.
    pub async fn sync_grid(&self, settings: &Settings, now: DateTime<Utc>) -> GridSync {
        let mut report = MeterSync::default();
        let mut grid = GridSync::default();
        // Independent parts: one failing does not stop the others.
        if settings.tempo || settings.meters.iter().any(|m| m.tariff == Tariff::Tempo) {
            match self.sync_tempo(now, &mut report).await {
                Ok(known) => grid.tempo_tomorrow_known = known,
                Err(e) => grid.errors.push(e),
            }
        }
        if settings.ecowatt {
            if let Err(e) = self.sync_ecowatt(now, &mut report).await {
                grid.errors.push(e);
            }
        }
        if let Err(e) = self.sync_tempo_prices(settings, now, &mut report).await {
            grid.errors.push(e);
        }
        grid.calls = report.calls;
        grid
    }

    /// The season's colours (remaining days) and those of the load-curve window (Tempo
    /// costs); tomorrow's from about 10:40 Paris. Returns whether tomorrow is known.
    async fn sync_tempo(
        &self,
        now: DateTime<Utc>,
        report: &mut MeterSync,
    ) -> Result<bool, SyncError> {
        let today = paris_date(now);
        let tomorrow = add_days(today, 1);
        let window =
            month_start(sub_days(today, 1)).checked_sub_months(Months::new(LOAD_CURVE_MONTHS));
        let from = tempo_season_start(today).min(window.unwrap_or(today));
        let known = self.store.tempo_status(from, tomorrow).await?;
        let published = now.with_timezone(&chrono_tz::Europe::Paris).time() >= TEMPO_TOMORROW_FROM;
        let end = if published {
            add_days(tomorrow, 1)
        } else {
            tomorrow
        };
        let recent = sub_days(today, RECENT_RETRY_DAYS);
        // Days never asked, and recent days RTE had not decided; older gaps are not asked again.
        let missing = |day: NaiveDate| match known.get(&day) {
            Some(Some(_)) => false,
            Some(None) => day >= recent,
            None => true,
        };
        for (start, end) in plan_ranges(from, end, TEMPO_SPAN_DAYS, missing) {
            let days = self
                .call(CallScope::Tempo, now, report, async || {
                    self.gateway.tempo(start, end).await
                })
                .await?;
            self.store.save_tempo(start, end, &days, now).await?;
        }
        Ok(self
            .store
            .tempo(tomorrow, tomorrow)
            .await?
            .contains_key(&tomorrow))
    }

    /// Today's EcoWatt signal, unless the stored one is fresh.
    async fn sync_ecowatt(
        &self,
        now: DateTime<Utc>,
        report: &mut MeterSync,
    ) -> Result<(), SyncError> {
        let today = paris_date(now);
        let fresh = self
            .store
            .ecowatt(today)
            .await?
            .is_some_and(|(_, fetched)| {
                now - fetched < chrono::Duration::hours(ECOWATT_MAX_AGE_HOURS)
            });
        if !fresh {
            let days = self
                .call(CallScope::Ecowatt, now, report, async || {
                    self.gateway.ecowatt(today).await
                })
                .await?;
            self.store.save_ecowatt(&days, now).await?;
        }
        Ok(())
    }

    /// The v1 gateway's Tempo prices, weekly, when a Tempo meter lacks some in its options.
    async fn sync_tempo_prices(
        &self,
        settings: &Settings,
        now: DateTime<Utc>,
        report: &mut MeterSync,
    ) -> Result<(), SyncError> {
        let needed = settings.meters.iter().any(|m| {
            m.tariff == Tariff::Tempo
                && m.tempo_prices_from_gateway
                && !tariffs::tempo_prices_complete(&tariffs::tempo_prices(&m.prices, None))
        });
        let fresh = self
            .store
            .tempo_prices()
            .await?
            .is_some_and(|(_, fetched)| (now - fetched).num_days() < METER_INFO_MAX_AGE_DAYS);
        if needed && !fresh {
            let prices = self
                .call(CallScope::TempoPrices, now, report, async || {
                    self.gateway.tempo_prices().await
                })
                .await?;
            if let Some(prices) = prices {
                self.store.save_tempo_prices(&prices, now).await?;
            }
        }
        Ok(())
    }

    /// v1 reports the consent and the quota of each meter: asked once a day.
    async fn refresh_access(
        &self,
        pdl: &Pdl,
        now: DateTime<Utc>,
        report: &mut MeterSync,
    ) -> Result<(), SyncError> {
        let mut status = self.store.meter_status(pdl).await?;
        if !matches!(self.gateway, Gateway::V1(_))
            || status
                .access_checked_at
                .is_some_and(|at| paris_date(at) == paris_date(now))
        {
            return Ok(());
        }
        let Some(access) = self
            .call(CallScope::Meter(pdl), now, report, async || {
                self.gateway.access(pdl).await
            })
            .await?
        else {
            return Ok(());
        };
        status.access_checked_at = Some(now);
        status.consent_expiration = access.consent_expiration.or(status.consent_expiration);
        status.quota_limit = access.quota_limit.or(status.quota_limit);
        self.store.save_meter_status(pdl, &status).await?;
        // The gateway also counts the calls of other clients of the same consent.
        if let Some(used) = access.quota_used {
            let (key, day) = self.quota.counter(CallScope::Meter(pdl), now);
            self.store.raise_calls(&key, day, used).await?;
        }
        if access.quota_reached {
            let (key, day) = self.quota.counter(CallScope::Meter(pdl), now);
            let budget = QuotaScope::budget_of(self.limit_for(CallScope::Meter(pdl), now).await?);
            self.store.raise_calls(&key, day, budget).await?;
            return Err(GatewayError::QuotaReached(
                access
                    .information
                    .unwrap_or_else(|| "daily quota reached".into()),
            )
            .into());
        }
        if !access.valid {
            return Err(GatewayError::AccessDenied(
                access
                    .information
                    .unwrap_or_else(|| "the consent is not valid".into()),
            )
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn empty_store_backfills_three_years_in_ceil_days_over_365_calls() {
        let today = d("2024-01-16");
        let first = daily_history_start(today);
        let ranges = plan_daily(first, today, &BTreeMap::new());
        let days = (today - first).num_days();
        assert_eq!(ranges.len() as i64, (days + 364) / 365);
        assert_eq!(ranges[0].0, first);
        assert_eq!(
            ranges.last().unwrap().1,
            today,
            "end is exclusive: up to yesterday"
        );
        for (start, end) in &ranges {
            assert!((*end - *start).num_days() <= 365);
        }
    }

    #[test]
    fn complete_store_asks_nothing_and_one_missing_day_costs_one_short_call() {
        let today = d("2024-01-16");
        let first = d("2024-01-01");
        let mut known: BTreeMap<_, _> = first
            .iter_days()
            .take_while(|x| *x < today)
            .map(|x| (x, Some(1000)))
            .collect();
        assert!(plan_daily(first, today, &known).is_empty());
        known.remove(&d("2024-01-15"));
        assert_eq!(
            plan_daily(first, today, &known),
            vec![(d("2024-01-15"), d("2024-01-16"))]
        );
    }

    #[test]
    fn absent_days_are_retried_only_while_recent() {
        let today = d("2024-01-16");
        let first = d("2023-12-01");
        let mut known: BTreeMap<_, _> = first
            .iter_days()
            .take_while(|x| *x < today)
            .map(|x| (x, Some(1000)))
            .collect();
        known.insert(d("2023-12-02"), None); // long ago: never coming
        known.insert(d("2024-01-14"), None); // recent: ask again
        assert_eq!(
            plan_daily(first, today, &known),
            vec![(d("2024-01-14"), d("2024-01-15"))]
        );
    }
}
