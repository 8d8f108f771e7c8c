//! The snapshot a sync decides on: for every meter what the store knows (and lacks), and the
//! same for Tempo, EcoWatt and Tempo prices. Plain data, read in one pass.

use std::collections::BTreeMap;

use chrono::{DateTime, Months, NaiveDate, Utc};

use super::quota::{CallScope, Quota, QuotaRule, counter};
use crate::calendar::{daily_history_start, month_start, paris_date, sub_days};
use crate::config::{GatewayGeneration, MeterSettings, Settings};
use crate::model::{Contract, MeterInfo, Pdl, SeriesKind, Tariff, TempoColor};
use crate::store::{MeterStatus, Store, StoreError};
use crate::tariffs::{self, tempo_season_start};

/// Days of max power kept fresh (only the latest is shown).
pub const MAX_POWER_DAYS: u64 = 30;
/// The load curve is kept from this many months back (the HC/HP split of the current month).
pub const LOAD_CURVE_MONTHS: u32 = 1;

/// Everything a sync decides on, as of `now`.
#[derive(Debug, Clone)]
pub struct SyncState {
    pub now: DateTime<Utc>,
    /// The Paris day of `now`.
    pub today: NaiveDate,
    pub generation: GatewayGeneration,
    pub meters: Vec<MeterState>,
    pub grid: GridState,
}

/// What the store holds for one configured meter.
#[derive(Debug, Clone)]
pub struct MeterState {
    pub settings: MeterSettings,
    /// What the account's list (v2) said of the meter, and when.
    pub info: Option<(MeterInfo, DateTime<Utc>)>,
    pub contract: Option<(Contract, DateTime<Utc>)>,
    pub status: MeterStatus,
    /// Each enabled series from the oldest day Enedis keeps to yesterday: a value, or
    /// `None` for a day asked and not published yet.
    pub daily: BTreeMap<SeriesKind, BTreeMap<NaiveDate, Option<i64>>>,
    /// Max power of the last [`MAX_POWER_DAYS`], likewise.
    pub max_power: BTreeMap<NaiveDate, Option<i64>>,
    /// Minutes of load curve of each asked day of the load-curve window, per series.
    pub curve: BTreeMap<SeriesKind, BTreeMap<NaiveDate, i64>>,
}

/// What the store holds of the grid-wide data.
#[derive(Debug, Clone, Default)]
pub struct GridState {
    /// Tempo colours are wanted (the Tempo device or a Tempo meter).
    pub tempo_wanted: bool,
    pub ecowatt_wanted: bool,
    /// Some Tempo meter takes prices from the gateway (v1) that its options lack.
    pub tempo_prices_wanted: bool,
    /// Asked Tempo days from the season start (or the load-curve window) to tomorrow.
    pub tempo: BTreeMap<NaiveDate, Option<TempoColor>>,
    /// When today's EcoWatt signal was fetched.
    pub ecowatt_fetched_at: Option<DateTime<Utc>>,
    /// When the gateway's Tempo prices were fetched.
    pub tempo_prices_fetched_at: Option<DateTime<Utc>>,
}

/// The first day of the load-curve window seen from `today`.
pub fn load_curve_window(today: NaiveDate) -> NaiveDate {
    let month = month_start(sub_days(today, 1));
    month
        .checked_sub_months(Months::new(LOAD_CURVE_MONTHS))
        .unwrap_or(month)
}

/// The first Tempo day worth knowing: the season's, or the load-curve window's (costs).
pub fn tempo_window(today: NaiveDate) -> NaiveDate {
    tempo_season_start(today).min(load_curve_window(today))
}

impl SyncState {
    /// Reads what the store holds for every configured meter and the grid-wide data.
    pub async fn load(
        store: &Store,
        settings: &Settings,
        generation: GatewayGeneration,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let today = paris_date(now);
        let mut meters = Vec::with_capacity(settings.meters.len());
        for meter in &settings.meters {
            meters.push(MeterState::load(store, meter, today).await?);
        }
        Ok(Self {
            now,
            today,
            generation,
            meters,
            grid: GridState::load(store, settings, today).await?,
        })
    }

    /// The day's quota: the calls counted so far and the limits v1 reported today.
    pub async fn quota(&self, store: &Store) -> Result<Quota, StoreError> {
        let rule = match self.generation {
            GatewayGeneration::V1 => QuotaRule::V1,
            GatewayGeneration::V2 => QuotaRule::V2,
        };
        let scopes = self
            .meters
            .iter()
            .map(|m| CallScope::Meter(m.settings.pdl.clone()))
            .chain([CallScope::Tempo, CallScope::Ecowatt, CallScope::TempoPrices]);
        let mut used = BTreeMap::new();
        for scope in scopes {
            let counter = counter(rule, &scope, self.now);
            let calls = store.calls(&counter.key, counter.day).await?;
            used.insert(counter.key, calls);
        }
        let reported = self
            .meters
            .iter()
            .filter(|m| m.access_checked_today(self.today))
            .filter_map(|m| Some((m.settings.pdl.clone(), m.status.quota_limit?)))
            .collect();
        Ok(Quota::new(rule, self.now, used, reported))
    }

    pub fn meter(&self, pdl: &Pdl) -> Option<&MeterState> {
        self.meters.iter().find(|m| &m.settings.pdl == pdl)
    }

    /// Tomorrow's Tempo colour is known.
    pub fn tempo_tomorrow_known(&self) -> bool {
        let tomorrow = crate::calendar::add_days(self.today, 1);
        matches!(self.grid.tempo.get(&tomorrow), Some(Some(_)))
    }
}

impl MeterState {
    async fn load(
        store: &Store,
        meter: &MeterSettings,
        today: NaiveDate,
    ) -> Result<Self, StoreError> {
        let pdl = &meter.pdl;
        let yesterday = sub_days(today, 1);
        let mut daily = BTreeMap::new();
        let mut curve = BTreeMap::new();
        for kind in enabled_series(meter) {
            let history = daily_history_start(today);
            daily.insert(
                kind,
                store.daily_status(pdl, kind, history, yesterday).await?,
            );
            if meter.load_curve {
                let window = load_curve_window(today);
                let coverage = store
                    .load_curve_coverage(pdl, kind, window, yesterday)
                    .await?;
                curve.insert(kind, coverage);
            }
        }
        let max_power_from = sub_days(today, MAX_POWER_DAYS);
        Ok(Self {
            settings: meter.clone(),
            info: store.meter(pdl).await?,
            contract: store.contract(pdl).await?,
            status: store.meter_status(pdl).await?,
            daily,
            max_power: store
                .max_power_status(pdl, max_power_from, yesterday)
                .await?,
            curve,
        })
    }

    pub fn pdl(&self) -> &Pdl {
        &self.settings.pdl
    }

    /// The first day worth asking for: 36 months back, not before the meter's activation
    /// (from the account's list, else the contract).
    pub fn first_day(&self, today: NaiveDate) -> NaiveDate {
        let history = daily_history_start(today);
        let activation = self
            .info
            .as_ref()
            .and_then(|(info, _)| info.first_available_day())
            .or_else(|| self.contract.as_ref()?.0.activation_date);
        activation.map_or(history, |day| history.max(day))
    }

    /// v1 reported the consent and quota of this meter today (Paris).
    pub fn access_checked_today(&self, today: NaiveDate) -> bool {
        self.status
            .access_checked_at
            .is_some_and(|at| paris_date(at) == today)
    }
}

/// The series a meter syncs: consumption and production as its options say.
pub fn enabled_series(meter: &MeterSettings) -> impl Iterator<Item = SeriesKind> + use<> {
    let enabled = [meter.consumption, meter.production];
    SeriesKind::ALL
        .into_iter()
        .zip(enabled)
        .filter_map(|(kind, on)| on.then_some(kind))
}

impl GridState {
    async fn load(
        store: &Store,
        settings: &Settings,
        today: NaiveDate,
    ) -> Result<Self, StoreError> {
        let tomorrow = crate::calendar::add_days(today, 1);
        let tempo_prices_wanted = settings.meters.iter().any(|m| {
            m.tariff == Tariff::Tempo
                && m.tempo_prices_from_gateway
                && !tariffs::tempo_prices_complete(&tariffs::tempo_prices(&m.prices, None))
        });
        Ok(Self {
            tempo_wanted: settings.tempo
                || settings.meters.iter().any(|m| m.tariff == Tariff::Tempo),
            ecowatt_wanted: settings.ecowatt,
            tempo_prices_wanted,
            tempo: store.tempo_status(tempo_window(today), tomorrow).await?,
            ecowatt_fetched_at: store.ecowatt(today).await?.map(|(_, at)| at),
            tempo_prices_fetched_at: store.tempo_prices().await?.map(|(_, at)| at),
        })
    }
}
