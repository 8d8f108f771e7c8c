//! Fetching what is missing: plans the fewest gateway calls that cover the days the store
//! lacks, and writes each answer in one transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use crate::calendar::{add_days, daily_history_start, paris_date, sub_days};
use crate::config::{MeterSettings, Pdl};
use crate::gateway::{Gateway, GatewayError, MAX_DAILY_SPAN_DAYS, MeterInfo, SeriesKind};
use crate::store::{Store, StoreError};

/// Days this recent that a successful answer lacked are asked again (Enedis is sometimes
/// late); older ones are taken as never coming.
pub const RECENT_RETRY_DAYS: u64 = 10;
/// How long the account's meter list (activation dates) is trusted.
pub const METER_INFO_MAX_AGE_DAYS: i64 = 7;

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
    /// Gateway calls made.
    pub calls: u32,
    /// Days that got a value.
    pub new_days: usize,
    /// Every enabled series has yesterday.
    pub complete: bool,
}

/// A date range `[start, end)` to ask for.
pub type DayRange = (NaiveDate, NaiveDate);

/// The fewest ranges of at most 365 days that cover every missing day of
/// `[first, today)`: days without a row, and recent days the gateway did not have yet.
pub fn plan_daily(
    first: NaiveDate,
    today: NaiveDate,
    known: &BTreeMap<NaiveDate, Option<i64>>,
) -> Vec<DayRange> {
    let recent = sub_days(today, RECENT_RETRY_DAYS);
    let missing = |day: &NaiveDate| match known.get(day) {
        Some(Some(_)) => false,
        Some(None) => *day >= recent,
        None => true,
    };
    let mut ranges = Vec::new();
    let mut day = first;
    while day < today {
        if missing(&day) {
            let end = add_days(day, MAX_DAILY_SPAN_DAYS).min(today);
            ranges.push((day, end));
            day = end;
        } else {
            day = add_days(day, 1);
        }
    }
    // Trim each range to its last missing day: a shorter range costs the same call but
    // asks Enedis for less.
    ranges
        .into_iter()
        .filter_map(|(start, end)| {
            let last = start
                .iter_days()
                .take_while(|d| *d < end)
                .filter(missing)
                .last()?;
            Some((start, add_days(last, 1)))
        })
        .collect()
}

/// Everything the sync needs, borrowed.
pub struct Syncer<'a> {
    pub gateway: &'a Gateway,
    pub store: &'a Store,
}

impl Syncer<'_> {
    /// The account's meter list, from the store when fresh, otherwise one gateway call.
    pub async fn meter_infos(
        &self,
        meters: &[MeterSettings],
        now: DateTime<Utc>,
    ) -> Result<(Vec<MeterInfo>, u32), SyncError> {
        let mut infos = Vec::new();
        for meter in meters {
            match self.store.meter(&meter.pdl).await? {
                Some((info, fetched)) if (now - fetched).num_days() < METER_INFO_MAX_AGE_DAYS => {
                    infos.push(info)
                }
                _ => {
                    let fresh = self.gateway.meters().await?;
                    for info in &fresh {
                        self.store.save_meter(info, now).await?;
                    }
                    return Ok((fresh, 1));
                }
            }
        }
        Ok((infos, 0))
    }

    /// Fetches the missing days of every enabled series of `meter`.
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
        (report, result)
    }

    async fn sync_series(
        &self,
        meter: &MeterSettings,
        info: Option<&MeterInfo>,
        now: DateTime<Utc>,
        report: &mut MeterSync,
    ) -> Result<(), SyncError> {
        let today = paris_date(now);
        let yesterday = sub_days(today, 1);
        let mut first = daily_history_start(today);
        if let Some(activation) = info.and_then(MeterInfo::first_available_day) {
            first = first.max(activation);
        }
        let kinds = [
            (SeriesKind::Consumption, meter.consumption),
            (SeriesKind::Production, meter.production),
        ];
        for (kind, _) in kinds.iter().filter(|(_, enabled)| *enabled) {
            let known = self
                .store
                .daily_status(&meter.pdl, *kind, first, yesterday)
                .await?;
            for (start, end) in plan_daily(first, today, &known) {
                report.calls += 1;
                let series = match self.gateway.daily(*kind, &meter.pdl, start, end).await {
                    Ok(series) => series,
                    // The whole range is before the meter's activation: nothing will come.
                    Err(GatewayError::BeforeActivation(_)) => Default::default(),
                    Err(e) => return Err(e.into()),
                };
                report.new_days += series
                    .readings
                    .iter()
                    .filter(|r| !matches!(known.get(&r.date), Some(Some(_))))
                    .count();
                self.store
                    .save_daily(&meter.pdl, *kind, start, end, &series, now)
                    .await?;
            }
            if self
                .store
                .day(&meter.pdl, *kind, yesterday)
                .await?
                .is_none()
                && first <= yesterday
            {
                report.complete = false;
            }
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
