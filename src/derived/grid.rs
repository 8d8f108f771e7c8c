//! Derived values of the grid-wide devices: Tempo (today, tomorrow, days left in the season)
//! and EcoWatt (the current hour, today's hours).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::Europe::Paris;

use crate::calendar::{add_days, paris_date};
use crate::gateway::TempoColor;
use crate::store::{Store, StoreError};
use crate::tariffs::{tempo_season_start, tempo_season_totals};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempoView {
    pub today: NaiveDate,
    pub today_color: Option<TempoColor>,
    pub tomorrow_color: Option<TempoColor>,
    pub season_start: NaiveDate,
    /// Days of each colour left in the season.
    pub remaining: [(TempoColor, u32); 3],
}

impl TempoView {
    /// Today and tomorrow follow the Paris calendar: at midnight they roll over from the
    /// store, without a gateway call.
    pub async fn load(store: &Store, now: DateTime<Utc>) -> Result<Self, StoreError> {
        let today = paris_date(now);
        let season_start = tempo_season_start(today);
        let season = store.tempo(season_start, add_days(today, 1)).await?;
        Ok(Self {
            today,
            today_color: season.get(&today).copied(),
            tomorrow_color: season.get(&add_days(today, 1)).copied(),
            season_start,
            remaining: remaining(season_start, &season),
        })
    }
}

/// The season's totals minus the days already coloured.
pub fn remaining(
    season_start: NaiveDate,
    known: &BTreeMap<NaiveDate, TempoColor>,
) -> [(TempoColor, u32); 3] {
    tempo_season_totals(season_start).map(|(color, total)| {
        let used = known
            .iter()
            .filter(|(day, c)| **day >= season_start && **c == color)
            .count();
        (
            color,
            total.saturating_sub(u32::try_from(used).unwrap_or(u32::MAX)),
        )
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcowattView {
    pub date: NaiveDate,
    /// Paris hour of now.
    pub hour: u32,
    /// Level of the current hour.
    pub level: Option<u8>,
    pub day_level: u8,
    pub message: Option<String>,
    /// Level of each hour of today.
    pub hours: Vec<u8>,
}

impl EcowattView {
    /// Today's signal, read at the current Paris hour (republished each hour from the store).
    pub async fn load(store: &Store, now: DateTime<Utc>) -> Result<Option<Self>, StoreError> {
        let local = now.with_timezone(&Paris);
        let Some((day, _)) = store.ecowatt(local.date_naive()).await? else {
            return Ok(None);
        };
        let hour = local.hour();
        Ok(Some(Self {
            date: day.date,
            hour,
            level: day.hours.get(hour as usize).copied(),
            day_level: day.level,
            message: day.message,
            hours: day.hours,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn remaining_days_count_down_from_the_season_totals() {
        let mut known = BTreeMap::new();
        // Before the season: ignored.
        known.insert(d("2023-08-31"), TempoColor::Red);
        for day in d("2023-09-01").iter_days().take(100) {
            known.insert(day, TempoColor::Blue);
        }
        known.insert(d("2023-12-11"), TempoColor::White);
        known.insert(d("2023-12-12"), TempoColor::Red);
        let left = remaining(d("2023-09-01"), &known);
        // 2023-2024 holds 29 February: 301 blue days.
        assert_eq!(
            left,
            [
                (TempoColor::Blue, 201),
                (TempoColor::White, 42),
                (TempoColor::Red, 21)
            ]
        );
        let left = remaining(d("2024-09-01"), &BTreeMap::new());
        assert_eq!(
            left,
            [
                (TempoColor::Blue, 300),
                (TempoColor::White, 43),
                (TempoColor::Red, 22)
            ]
        );
    }
}
