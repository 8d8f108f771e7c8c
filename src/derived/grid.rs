//! Derived values of the grid-wide devices: Tempo (today, tomorrow, days left in the season)
//! and EcoWatt (the current hour, today's hours).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::Europe::Paris;

use crate::calendar::add_days;
use crate::model::{EcowattDay, TempoColor};
use crate::store::{Store, StoreError};
use crate::tariffs::{tempo_season_start, tempo_season_totals};

/// What the Tempo device shows is derived from: the season's known colours, to tomorrow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TempoInputs {
    pub season: BTreeMap<NaiveDate, TempoColor>,
}

impl TempoInputs {
    pub async fn load(store: &Store, today: NaiveDate) -> Result<Self, StoreError> {
        let season = store
            .tempo(tempo_season_start(today), add_days(today, 1))
            .await?;
        Ok(Self { season })
    }
}

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
    pub fn compute(inputs: &TempoInputs, today: NaiveDate) -> Self {
        let season_start = tempo_season_start(today);
        Self {
            today,
            today_color: inputs.season.get(&today).copied(),
            tomorrow_color: inputs.season.get(&add_days(today, 1)).copied(),
            season_start,
            remaining: remaining(season_start, &inputs.season),
        }
    }
}

/// The season's totals minus its days already coloured (on 31 August, tomorrow's colour is
/// the next season's).
pub fn remaining(
    season_start: NaiveDate,
    known: &BTreeMap<NaiveDate, TempoColor>,
) -> [(TempoColor, u32); 3] {
    tempo_season_totals(season_start).map(|(color, total)| {
        let used = known
            .iter()
            .filter(|(day, c)| tempo_season_start(**day) == season_start && **c == color)
            .count();
        (
            color,
            total.saturating_sub(u32::try_from(used).unwrap_or(u32::MAX)),
        )
    })
}

/// What the EcoWatt device shows is derived from: today's signal, when known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EcowattInputs {
    pub today: Option<EcowattDay>,
}

impl EcowattInputs {
    pub async fn load(store: &Store, today: NaiveDate) -> Result<Self, StoreError> {
        let today = store.ecowatt(today).await?.map(|(signal, _)| signal);
        Ok(Self { today })
    }
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
    /// Today's signal read at the current Paris hour (republished each hour from the store);
    /// `None` while no signal of today is known.
    pub fn compute(inputs: &EcowattInputs, now: DateTime<Utc>) -> Option<Self> {
        let local = now.with_timezone(&Paris);
        let day = inputs
            .today
            .as_ref()
            .filter(|d| d.date == local.date_naive())?;
        let hour = local.hour();
        Some(Self {
            date: day.date,
            hour,
            level: day.hours.get(hour as usize).copied(),
            day_level: day.level,
            message: day.message.clone(),
            hours: day.hours.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn tempo_today_and_tomorrow_roll_over_at_paris_midnight() {
        let inputs = TempoInputs {
            season: [
                (d("2024-01-15"), TempoColor::Blue),
                (d("2024-01-16"), TempoColor::Red),
            ]
            .into_iter()
            .collect(),
        };
        let view = TempoView::compute(&inputs, d("2024-01-15"));
        assert_eq!(
            (view.today_color, view.tomorrow_color),
            (Some(TempoColor::Blue), Some(TempoColor::Red))
        );
        let view = TempoView::compute(&inputs, d("2024-01-16"));
        assert_eq!(
            (view.today_color, view.tomorrow_color),
            (Some(TempoColor::Red), None)
        );
        assert_eq!(view.season_start, d("2023-09-01"));
    }

    #[test]
    fn ecowatt_reads_the_current_paris_hour_of_today_only() {
        let hours: Vec<u8> = (0..24).map(|h| if h == 18 { 3 } else { 1 }).collect();
        let inputs = EcowattInputs {
            today: Some(EcowattDay {
                date: d("2024-01-15"),
                level: 3,
                message: Some("Coupures possibles".into()),
                hours,
            }),
        };
        // 17:30 UTC is 18:30 in Paris in winter.
        let view = EcowattView::compute(&inputs, utc("2024-01-15T17:30:00Z")).unwrap();
        assert_eq!((view.hour, view.level, view.day_level), (18, Some(3), 3));
        let view = EcowattView::compute(&inputs, utc("2024-01-15T16:59:00Z")).unwrap();
        assert_eq!((view.hour, view.level), (17, Some(1)));
        // Past Paris midnight the signal is yesterday's: nothing is shown.
        assert_eq!(
            EcowattView::compute(&inputs, utc("2024-01-15T23:10:00Z")),
            None
        );
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn on_31_august_tomorrow_s_colour_belongs_to_the_next_season() {
        // Found by tests/properties.rs: on a season's last day, tomorrow's colour (1
        // September) was counted in the season ending. Hidden while the store knows every
        // day of the season (each count is then at zero), visible when it lacks some.
        let season = [
            (d("2024-08-30"), TempoColor::Blue),
            (d("2024-08-31"), TempoColor::Blue),
            (d("2024-09-01"), TempoColor::Blue),
        ];
        let inputs = TempoInputs {
            season: season.into_iter().collect(),
        };
        let view = TempoView::compute(&inputs, d("2024-08-31"));
        // 2023-2024 holds 29 February: 301 blue days, two of them known.
        assert_eq!(
            view.remaining,
            [
                (TempoColor::Blue, 299),
                (TempoColor::White, 43),
                (TempoColor::Red, 22)
            ]
        );
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
