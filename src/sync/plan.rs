//! What to ask the gateway: pure functions of a [`SyncState`].
//!
//! A sync runs in [`Step`]s, each planned on what the one before left in the store: the
//! account's meter list (v2, weekly); then each listed meter's consent and quota (v1, daily)
//! and contract (weekly), which decide the ranges; then the series, covering what the store
//! lacks with the fewest calls — every day never asked, and the recent days the gateway did
//! not have yet (Enedis is sometimes late; older gaps are taken as never coming) — and the
//! grid-wide data.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::quota::CallScope;
use super::state::{MeterState, SyncState, enabled_series, load_curve_window, tempo_window};
use crate::calendar::{add_days, day_minutes, sub_days};
use crate::config::GatewayGeneration;
use crate::gateway::{MAX_DAILY_SPAN_DAYS, MAX_LOAD_CURVE_SPAN_DAYS};
use crate::model::{DayRange, Pdl, SeriesKind};
use crate::tariffs::TEMPO_TOMORROW_FROM;

/// Days this recent that a successful answer lacked are asked again.
pub const RECENT_RETRY_DAYS: u64 = 10;
/// How long the account's meter list and the contracts are trusted.
pub const METER_INFO_MAX_AGE_DAYS: i64 = 7;
/// EcoWatt signals younger than this are not asked again (its routes are rate-limited).
pub const ECOWATT_MAX_AGE_HOURS: i64 = 4;
/// Tempo colours asked per call at most: a whole season in one call.
const TEMPO_SPAN_DAYS: u64 = 366;

/// One gateway call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// v2: the account's meters and their activation dates.
    Meters,
    /// v1: a meter's consent and quota.
    Access(Pdl),
    Contract(Pdl),
    Daily {
        pdl: Pdl,
        kind: SeriesKind,
        range: DayRange,
    },
    MaxPower {
        pdl: Pdl,
        range: DayRange,
    },
    LoadCurve {
        pdl: Pdl,
        kind: SeriesKind,
        range: DayRange,
    },
    Tempo(DayRange),
    /// EcoWatt signals from this day.
    Ecowatt(NaiveDate),
    TempoPrices,
}

impl Call {
    /// What the call is counted against, and whose outcome it decides.
    pub fn scope(&self) -> CallScope {
        match self {
            Call::Meters => CallScope::Account,
            Call::Access(pdl)
            | Call::Contract(pdl)
            | Call::Daily { pdl, .. }
            | Call::MaxPower { pdl, .. }
            | Call::LoadCurve { pdl, .. } => CallScope::Meter(pdl.clone()),
            Call::Tempo(_) => CallScope::Tempo,
            Call::Ecowatt(_) => CallScope::Ecowatt,
            Call::TempoPrices => CallScope::TempoPrices,
        }
    }
}

/// The steps of a sync, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The account's meter list (v2): which meters exist and since when.
    Account,
    /// Each listed meter's consent and quota (v1) and contract.
    Meters,
    /// The series of every listed meter, then Tempo, EcoWatt and Tempo prices.
    Series,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::Account, Step::Meters, Step::Series];
}

/// The calls of one step.
pub fn plan(step: Step, state: &SyncState) -> Vec<Call> {
    let listed = state.meters.iter().filter(|m| !is_unknown(state, m));
    match step {
        Step::Account => plan_account(state),
        Step::Meters => listed.flat_map(|m| plan_refresh(m, state)).collect(),
        Step::Series => {
            let mut calls: Vec<Call> = listed.flat_map(|m| plan_meter(m, state.today)).collect();
            calls.extend(plan_grid(state));
            calls
        }
    }
}

/// Older than a week, or never read.
fn stale(state: &SyncState, fetched: Option<DateTime<Utc>>) -> bool {
    fetched.is_none_or(|at| (state.now - at).num_days() >= METER_INFO_MAX_AGE_DAYS)
}

/// The meter list (v2) when some meter's entry is stale.
fn plan_account(state: &SyncState) -> Vec<Call> {
    let v2 = state.generation == GatewayGeneration::V2;
    let stale = state
        .meters
        .iter()
        .any(|m| stale(state, m.info.as_ref().map(|i| i.1)));
    match v2 && stale {
        true => vec![Call::Meters],
        false => Vec::new(),
    }
}

/// A meter's consent (v1, once a Paris day) and its contract (weekly).
fn plan_refresh(meter: &MeterState, state: &SyncState) -> Vec<Call> {
    let mut calls = Vec::new();
    let v1 = state.generation == GatewayGeneration::V1;
    if v1 && !meter.access_checked_today(state.today) {
        calls.push(Call::Access(meter.pdl().clone()));
    }
    if stale(state, meter.contract.as_ref().map(|c| c.1)) {
        calls.push(Call::Contract(meter.pdl().clone()));
    }
    calls
}

/// The account (v2) does not list this meter.
pub fn is_unknown(state: &SyncState, meter: &MeterState) -> bool {
    state.generation == GatewayGeneration::V2 && meter.info.is_none()
}

fn plan_meter(meter: &MeterState, today: NaiveDate) -> Vec<Call> {
    let pdl = meter.pdl();
    let first = meter.first_day(today);
    let mut calls = Vec::new();
    for kind in enabled_series(&meter.settings) {
        let known = meter.daily.get(&kind);
        for range in plan_ranges(first, today, MAX_DAILY_SPAN_DAYS, |day| {
            missing_value(known, day, today)
        }) {
            let pdl = pdl.clone();
            calls.push(Call::Daily { pdl, kind, range });
        }
    }
    if meter.settings.consumption {
        let first = first.max(sub_days(today, super::state::MAX_POWER_DAYS));
        let missing = |day| missing_value(Some(&meter.max_power), day, today);
        for range in plan_ranges(first, today, MAX_DAILY_SPAN_DAYS, missing) {
            calls.push(Call::MaxPower {
                pdl: pdl.clone(),
                range,
            });
        }
    }
    if meter.settings.load_curve {
        let first = first.max(load_curve_window(today));
        for kind in enabled_series(&meter.settings) {
            let coverage = meter.curve.get(&kind);
            let missing = |day| missing_curve(coverage, day, today);
            for range in plan_ranges(first, today, MAX_LOAD_CURVE_SPAN_DAYS, missing) {
                let pdl = pdl.clone();
                calls.push(Call::LoadCurve { pdl, kind, range });
            }
        }
    }
    calls
}

fn plan_grid(state: &SyncState) -> Vec<Call> {
    let grid = &state.grid;
    let mut calls = Vec::new();
    if grid.tempo_wanted {
        let tomorrow = add_days(state.today, 1);
        let paris = state.now.with_timezone(&chrono_tz::Europe::Paris);
        // Tomorrow's colour is asked once RTE publishes it.
        let end = match paris.time() >= TEMPO_TOMORROW_FROM {
            true => add_days(tomorrow, 1),
            false => tomorrow,
        };
        let missing = |day| missing_value(Some(&grid.tempo), day, state.today);
        let ranges = plan_ranges(tempo_window(state.today), end, TEMPO_SPAN_DAYS, missing);
        calls.extend(ranges.into_iter().map(Call::Tempo));
    }
    let fresh = |at: Option<DateTime<Utc>>, max_age: Duration| {
        at.is_some_and(|at| state.now - at < max_age)
    };
    if grid.ecowatt_wanted
        && !fresh(
            grid.ecowatt_fetched_at,
            Duration::hours(ECOWATT_MAX_AGE_HOURS),
        )
    {
        calls.push(Call::Ecowatt(state.today));
    }
    let prices_max_age = Duration::days(METER_INFO_MAX_AGE_DAYS);
    if grid.tempo_prices_wanted && !fresh(grid.tempo_prices_fetched_at, prices_max_age) {
        calls.push(Call::TempoPrices);
    }
    calls
}

/// A day without a value: never asked, or asked recently and not published yet.
fn missing_value<T>(
    known: Option<&BTreeMap<NaiveDate, Option<T>>>,
    day: NaiveDate,
    today: NaiveDate,
) -> bool {
    match known.and_then(|k| k.get(&day)) {
        Some(Some(_)) => false,
        Some(None) => day >= sub_days(today, RECENT_RETRY_DAYS),
        None => true,
    }
}

/// A day of load curve: never asked, or recent and not complete yet.
fn missing_curve(
    coverage: Option<&BTreeMap<NaiveDate, i64>>,
    day: NaiveDate,
    today: NaiveDate,
) -> bool {
    match coverage.and_then(|c| c.get(&day)) {
        None => true,
        Some(minutes) => *minutes < day_minutes(day) && day >= sub_days(today, RECENT_RETRY_DAYS),
    }
}

/// The meter has every enabled series up to yesterday (and its load curve, when asked for).
pub fn meter_complete(meter: &MeterState, today: NaiveDate) -> bool {
    let yesterday = sub_days(today, 1);
    let first = meter.first_day(today);
    if first > yesterday {
        return true;
    }
    let daily_known = enabled_series(&meter.settings).all(|kind| {
        matches!(
            meter.daily.get(&kind).and_then(|d| d.get(&yesterday)),
            Some(Some(_))
        )
    });
    let curve_known = !meter.settings.load_curve
        || first.max(load_curve_window(today)) > yesterday
        || enabled_series(&meter.settings).all(|kind| {
            meter
                .curve
                .get(&kind)
                .and_then(|c| c.get(&yesterday))
                .is_some_and(|m| *m >= day_minutes(yesterday))
        });
    daily_known && curve_known
}

/// The fewest ranges of at most `span` days that cover every day of `[first, end)` for
/// which `missing` holds, each trimmed to its last missing day.
pub fn plan_ranges(
    first: NaiveDate,
    end: NaiveDate,
    span: u64,
    missing: impl Fn(NaiveDate) -> bool,
) -> Vec<DayRange> {
    let mut ranges = Vec::new();
    let mut day = first;
    while day < end {
        if missing(day) {
            let limit = add_days(day, span).min(end);
            let last = DayRange::new(day, limit)
                .days()
                .filter(|d| missing(*d))
                .last();
            if let Some(last) = last {
                ranges.push(DayRange::new(day, add_days(last, 1)));
            }
            day = limit;
        } else {
            day = add_days(day, 1);
        }
    }
    ranges
}

#[cfg(test)]
mod tests;
