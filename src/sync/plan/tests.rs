//! The plans over plain snapshots: no store, no gateway.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::*;
use crate::calendar::daily_history_start;
use crate::config::MeterSettings;
use crate::model::{Contract, MeterInfo, Prices, Tariff, TempoColor};
use crate::store::MeterStatus;
use crate::sync::state::{GridState, MeterState};

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn pdl(text: &str) -> Pdl {
    Pdl::parse(text).unwrap()
}

const A: &str = "12345678901234";
const B: &str = "22345678901234";

fn settings(pdl_text: &str) -> MeterSettings {
    MeterSettings {
        pdl: pdl(pdl_text),
        name: "Maison".into(),
        token: None,
        consumption: true,
        production: false,
        load_curve: false,
        tariff: Tariff::Base,
        prices: Prices::default(),
        offpeak_hours: None,
        tempo_prices_from_gateway: false,
    }
}

/// A meter known to the account (activated long ago) with a fresh contract and nothing else.
fn meter(pdl_text: &str, now: DateTime<Utc>) -> MeterState {
    let info = MeterInfo {
        pdl: pdl(pdl_text),
        activation_date: Some(d("2015-05-24")),
        oldest_available_date: None,
    };
    MeterState {
        settings: settings(pdl_text),
        info: Some((info, now)),
        contract: Some((Contract::default(), now)),
        status: MeterStatus::default(),
        daily: BTreeMap::new(),
        max_power: BTreeMap::new(),
        curve: BTreeMap::new(),
    }
}

fn state(now: &str, generation: GatewayGeneration, meters: &[&str]) -> SyncState {
    let now = utc(now);
    SyncState {
        now,
        today: crate::calendar::paris_date(now),
        generation,
        meters: meters.iter().map(|p| meter(p, now)).collect(),
        grid: GridState::default(),
    }
}

/// Every day of `[from, to]` with a value.
fn all_known(from: &str, to: &str) -> BTreeMap<NaiveDate, Option<i64>> {
    DayRange::new(d(from), add_days(d(to), 1))
        .days()
        .map(|day| (day, Some(1000)))
        .collect()
}

fn daily_ranges(calls: &[Call]) -> Vec<(NaiveDate, NaiveDate)> {
    calls
        .iter()
        .filter_map(|call| match call {
            Call::Daily { range, .. } => Some((range.start, range.end)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_empty_store_backfills_three_years_in_ceil_days_over_365_calls() {
    // 2024-01-16: 1095 days back (3 calls); 2024-03-01: 1096 days with the leap day (4).
    for (now, calls) in [("2024-01-16T09:00:00Z", 3), ("2024-03-01T09:00:00Z", 4)] {
        let state = state(now, GatewayGeneration::V2, &[A]);
        let ranges = daily_ranges(&plan(Step::Series, &state));
        assert_eq!(ranges.len(), calls, "{now}");
        let today = state.today;
        assert_eq!(ranges[0].0, daily_history_start(today));
        assert_eq!(
            ranges.last().unwrap().1,
            today,
            "end is exclusive: up to yesterday"
        );
        assert!(ranges.iter().all(|(s, e)| (*e - *s).num_days() <= 365));
        assert!(
            ranges.windows(2).all(|w| w[0].1 == w[1].0),
            "no gap, no overlap"
        );
    }
}

#[test]
fn a_complete_store_asks_nothing_and_one_missing_day_costs_one_short_call() {
    let mut state = state("2024-01-16T09:00:00Z", GatewayGeneration::V2, &[A]);
    let history = daily_history_start(state.today).to_string();
    let daily = all_known(&history, "2024-01-15");
    let max_power = all_known("2023-12-17", "2024-01-15");
    state.meters[0].daily.insert(SeriesKind::Consumption, daily);
    state.meters[0].max_power = max_power;
    assert!(plan(Step::Series, &state).is_empty());
    assert!(meter_complete(&state.meters[0], state.today));

    state.meters[0]
        .daily
        .get_mut(&SeriesKind::Consumption)
        .unwrap()
        .remove(&d("2024-01-15"));
    assert_eq!(
        plan(Step::Series, &state),
        vec![Call::Daily {
            pdl: pdl(A),
            kind: SeriesKind::Consumption,
            range: DayRange::new(d("2024-01-15"), d("2024-01-16")),
        }]
    );
    assert!(!meter_complete(&state.meters[0], state.today));
}

#[test]
fn days_the_gateway_lacked_are_asked_again_only_while_recent() {
    let mut state = state("2024-01-16T09:00:00Z", GatewayGeneration::V2, &[A]);
    let history = daily_history_start(state.today).to_string();
    let mut daily = all_known(&history, "2024-01-15");
    daily.insert(d("2023-12-02"), None); // long ago: never coming
    daily.insert(d("2024-01-14"), None); // recent: ask again
    state.meters[0].daily.insert(SeriesKind::Consumption, daily);
    state.meters[0].max_power = all_known("2023-12-17", "2024-01-15");
    assert_eq!(
        daily_ranges(&plan(Step::Series, &state)),
        vec![(d("2024-01-14"), d("2024-01-15"))]
    );
}

#[test]
fn activation_bounds_the_history_the_account_s_date_before_the_contract_s() {
    let mut state = state("2024-01-16T09:00:00Z", GatewayGeneration::V2, &[A]);
    let meter = &mut state.meters[0];
    meter.info.as_mut().unwrap().0.activation_date = Some(d("2023-11-20"));
    meter.contract.as_mut().unwrap().0.activation_date = Some(d("2015-01-01"));
    assert_eq!(
        daily_ranges(&plan(Step::Series, &state)),
        vec![(d("2023-11-20"), d("2024-01-16"))]
    );
    // Without the account's word (v1), the contract's date.
    state.meters[0].info = None;
    state.generation = GatewayGeneration::V1;
    state.meters[0].contract.as_mut().unwrap().0.activation_date = Some(d("2023-12-01"));
    assert_eq!(
        daily_ranges(&plan(Step::Series, &state)),
        vec![(d("2023-12-01"), d("2024-01-16"))]
    );
    // Activated today: nothing to ask, and nothing missing.
    state.meters[0].contract.as_mut().unwrap().0.activation_date = Some(d("2024-01-16"));
    assert!(plan(Step::Series, &state).is_empty());
    assert!(meter_complete(&state.meters[0], state.today));
}

#[test]
fn a_meter_the_v2_account_does_not_list_gets_no_call() {
    let mut state = state("2024-01-16T09:00:00Z", GatewayGeneration::V2, &[A, B]);
    state.meters[1].info = None;
    assert!(is_unknown(&state, &state.meters[1]));
    assert!(
        plan(Step::Series, &state)
            .iter()
            .all(|c| c.scope() == CallScope::Meter(pdl(A)))
    );
}

#[test]
fn the_refresh_renews_stale_lists_contracts_and_the_day_s_consent() {
    let refresh = |state: &SyncState| {
        let mut calls = plan(Step::Account, state);
        calls.extend(plan(Step::Meters, state));
        calls
    };
    let fresh = state("2024-01-16T09:00:00Z", GatewayGeneration::V2, &[A, B]);
    assert!(refresh(&fresh).is_empty());

    let mut stale = fresh.clone();
    let eight_days_ago = utc("2024-01-08T09:00:00Z");
    stale.meters[1].info.as_mut().unwrap().1 = eight_days_ago;
    stale.meters[0].contract = None;
    assert_eq!(refresh(&stale), vec![Call::Meters, Call::Contract(pdl(A))]);

    // A meter the account does not list: the list is asked, nothing of the meter.
    let mut unlisted = fresh.clone();
    unlisted.meters[1].info = None;
    unlisted.meters[1].contract = None;
    assert_eq!(refresh(&unlisted), vec![Call::Meters]);

    // v1 has no list, but a consent to check once a (Paris) day, before the contract.
    let mut v1 = stale.clone();
    v1.generation = GatewayGeneration::V1;
    v1.meters[1].status.access_checked_at = Some(utc("2024-01-15T23:30:00Z"));
    assert_eq!(
        refresh(&v1),
        vec![Call::Access(pdl(A)), Call::Contract(pdl(A))],
        "B's consent was checked at 00:30 Paris today"
    );
}

#[test]
fn max_power_and_load_curve_keep_their_own_windows() {
    let mut state = state("2024-01-16T09:00:00Z", GatewayGeneration::V2, &[A]);
    let history = daily_history_start(state.today).to_string();
    let meter = &mut state.meters[0];
    meter.settings.load_curve = true;
    meter.settings.production = true;
    for kind in SeriesKind::ALL {
        meter.daily.insert(kind, all_known(&history, "2024-01-15"));
    }
    let calls = plan(Step::Series, &state);
    let max_power: Vec<_> = calls
        .iter()
        .filter_map(|c| match c {
            Call::MaxPower { range, .. } => Some((range.start, range.end)),
            _ => None,
        })
        .collect();
    assert_eq!(max_power, vec![(d("2023-12-17"), d("2024-01-16"))]);
    // From the first day of last month, 7 days a call, consumption then production.
    let curve: Vec<_> = calls
        .iter()
        .filter_map(|c| match c {
            Call::LoadCurve { kind, range, .. } => Some((*kind, range.start, range.end)),
            _ => None,
        })
        .collect();
    assert_eq!(curve.len(), 2 * 7);
    assert_eq!(
        curve[0],
        (SeriesKind::Consumption, d("2023-12-01"), d("2023-12-08"))
    );
    assert_eq!(
        curve[6],
        (SeriesKind::Consumption, d("2024-01-12"), d("2024-01-16"))
    );
    assert_eq!(curve[7].0, SeriesKind::Production);
}

#[test]
fn a_dst_day_s_curve_is_complete_with_23_or_25_hours() {
    let mut state = state("2024-10-28T09:00:00Z", GatewayGeneration::V2, &[A]);
    let history = daily_history_start(state.today).to_string();
    let meter = &mut state.meters[0];
    meter.settings.load_curve = true;
    meter
        .daily
        .insert(SeriesKind::Consumption, all_known(&history, "2024-10-27"));
    meter.max_power = all_known("2024-09-28", "2024-10-27");
    let mut coverage: BTreeMap<NaiveDate, i64> = DayRange::new(d("2024-09-01"), d("2024-10-27"))
        .days()
        .map(|day| (day, 1440))
        .collect();
    // The autumn change: 25 hours. 24 are not enough; recent, so asked again.
    coverage.insert(d("2024-10-27"), 1440);
    meter.curve.insert(SeriesKind::Consumption, coverage);
    let calls = plan(Step::Series, &state);
    assert_eq!(
        calls,
        vec![Call::LoadCurve {
            pdl: pdl(A),
            kind: SeriesKind::Consumption,
            range: DayRange::new(d("2024-10-27"), d("2024-10-28")),
        }]
    );
    assert!(!meter_complete(&state.meters[0], state.today));
    let curve = state.meters[0]
        .curve
        .get_mut(&SeriesKind::Consumption)
        .unwrap();
    curve.insert(d("2024-10-27"), 1500);
    assert!(plan(Step::Series, &state).is_empty());
    assert!(meter_complete(&state.meters[0], state.today));
}

#[test]
fn tomorrow_s_colour_is_asked_from_ten_forty_and_old_gaps_are_not() {
    // 10:39 Paris on 2024-01-16: the season and the load-curve window up to today.
    let mut state = state("2024-01-16T09:39:00Z", GatewayGeneration::V2, &[]);
    state.grid.tempo_wanted = true;
    assert_eq!(
        plan(Step::Series, &state),
        vec![Call::Tempo(DayRange::new(d("2023-09-01"), d("2024-01-17")))]
    );
    // Everything known but a long-gone undecided day; 10:40: tomorrow is asked.
    let known: BTreeMap<NaiveDate, Option<TempoColor>> =
        DayRange::new(d("2023-09-01"), d("2024-01-17"))
            .days()
            .map(|day| (day, Some(TempoColor::Blue)))
            .collect();
    state.grid.tempo = known;
    state.grid.tempo.insert(d("2023-10-01"), None);
    state.now = utc("2024-01-16T09:40:00Z");
    assert_eq!(
        plan(Step::Series, &state),
        vec![Call::Tempo(DayRange::new(d("2024-01-17"), d("2024-01-18")))]
    );
    state
        .grid
        .tempo
        .insert(d("2024-01-17"), Some(TempoColor::Red));
    assert!(plan(Step::Series, &state).is_empty());
    assert!(state.tempo_tomorrow_known());
}

#[test]
fn ecowatt_is_asked_once_its_signal_is_four_hours_old_and_prices_once_a_week() {
    let mut state = state("2024-01-16T09:00:00Z", GatewayGeneration::V1, &[]);
    state.grid.ecowatt_wanted = true;
    state.grid.tempo_prices_wanted = true;
    assert_eq!(
        plan(Step::Series, &state),
        vec![Call::Ecowatt(d("2024-01-16")), Call::TempoPrices]
    );
    state.grid.ecowatt_fetched_at = Some(utc("2024-01-16T05:00:01Z"));
    state.grid.tempo_prices_fetched_at = Some(utc("2024-01-09T09:00:01Z"));
    assert!(plan(Step::Series, &state).is_empty());
    state.grid.ecowatt_fetched_at = Some(utc("2024-01-16T05:00:00Z"));
    assert_eq!(
        plan(Step::Series, &state),
        vec![Call::Ecowatt(d("2024-01-16"))]
    );
}

#[test]
fn ranges_are_trimmed_to_their_last_missing_day() {
    let missing = [d("2024-01-02"), d("2024-01-05"), d("2024-01-20")];
    let ranges = plan_ranges(d("2024-01-01"), d("2024-02-01"), 7, |day| {
        missing.contains(&day)
    });
    assert_eq!(
        ranges,
        vec![
            DayRange::new(d("2024-01-02"), d("2024-01-06")),
            DayRange::new(d("2024-01-20"), d("2024-01-21")),
        ]
    );
}
