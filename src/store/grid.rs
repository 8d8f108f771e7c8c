//! Tempo colours, EcoWatt signals and Tempo prices.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::backend::{Sql, Text};
use super::{Store, StoreError};
use crate::model::{DayRange, EcowattDay, TempoColor, TempoDay, TempoPrices};

#[derive(sqlx::FromRow)]
struct EcowattRow {
    level: i64,
    message: Option<String>,
    /// Each hour's level as `1,1,2,…`.
    hours: String,
    fetched_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct TempoPricesRow {
    blue_hc: Option<f64>,
    blue_hp: Option<f64>,
    white_hc: Option<f64>,
    white_hp: Option<f64>,
    red_hc: Option<f64>,
    red_hp: Option<f64>,
    fetched_at: DateTime<Utc>,
}

impl Store {
    /// Records a Tempo answer for `range`: its colours, and the days it lacked as "asked,
    /// not decided" (never replacing a known colour).
    pub async fn save_tempo(
        &self,
        range: DayRange,
        days: &[TempoDay],
        fetched_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const COLOUR: Text = Text::both(
            "INSERT INTO tempo_day (day, color, fetched_at) VALUES ($1, $2, $3)
             ON CONFLICT (day) DO UPDATE SET color = excluded.color, fetched_at = excluded.fetched_at",
        );
        const ASKED: Text = Text::both(
            "INSERT INTO tempo_day (day, color, fetched_at) VALUES ($1, NULL, $2)
             ON CONFLICT (day) DO UPDATE SET fetched_at = excluded.fetched_at WHERE tempo_day.color IS NULL",
        );
        let colours = days.iter().map(|day| {
            Sql::new(COLOUR)
                .bind(day.date)
                .bind(day.color.as_str())
                .bind(fetched_at)
        });
        let asked = range
            .days()
            .map(|day| Sql::new(ASKED).bind(day).bind(fetched_at));
        self.save_answer(colours, asked).await
    }

    /// Days of `[from, to]` with a row: the colour, or `None` for "asked, not decided".
    pub async fn tempo_status(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<NaiveDate, Option<TempoColor>>, StoreError> {
        const SELECT: Text =
            Text::both("SELECT day, color FROM tempo_day WHERE day BETWEEN $1 AND $2");
        let rows: Vec<(NaiveDate, Option<String>)> = Sql::new(SELECT)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(day, color)| (day, color.as_deref().and_then(TempoColor::parse)))
            .collect())
    }

    /// Known colours of `[from, to]`.
    pub async fn tempo(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<NaiveDate, TempoColor>, StoreError> {
        Ok(self
            .tempo_status(from, to)
            .await?
            .into_iter()
            .filter_map(|(day, color)| Some((day, color?)))
            .collect())
    }

    pub async fn save_ecowatt(
        &self,
        days: &[EcowattDay],
        fetched_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const SIGNAL: Text = Text::both(
            "INSERT INTO ecowatt_day (day, level, message, hours, fetched_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (day) DO UPDATE SET level = excluded.level, message = excluded.message,
               hours = excluded.hours, fetched_at = excluded.fetched_at",
        );
        let signals = days.iter().map(|day| {
            let hours: Vec<String> = day.hours.iter().map(u8::to_string).collect();
            Sql::new(SIGNAL)
                .bind(day.date)
                .bind(day.level)
                .bind(day.message.clone())
                .bind(hours.join(","))
                .bind(fetched_at)
        });
        self.save_answer(signals, std::iter::empty()).await
    }

    /// The signal of `day` and when it was fetched.
    pub async fn ecowatt(
        &self,
        day: NaiveDate,
    ) -> Result<Option<(EcowattDay, DateTime<Utc>)>, StoreError> {
        const SELECT: Text =
            Text::both("SELECT level, message, hours, fetched_at FROM ecowatt_day WHERE day = $1");
        let row: Option<EcowattRow> = Sql::new(SELECT)
            .bind(day)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| {
            let hours = row
                .hours
                .split(',')
                .filter_map(|h| h.trim().parse().ok())
                .collect();
            let signal = EcowattDay {
                date: day,
                // Levels are 1–3 when written; one out of range reads as the worst.
                level: u8::try_from(row.level).unwrap_or(u8::MAX),
                message: row.message,
                hours,
            };
            (signal, row.fetched_at)
        }))
    }

    pub async fn save_tempo_prices(
        &self,
        prices: &TempoPrices,
        fetched_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const UPSERT: Text = Text::both(
            "INSERT INTO tempo_prices (id, blue_hc, blue_hp, white_hc, white_hp, red_hc, red_hp, fetched_at)
             VALUES (1, $1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET blue_hc = excluded.blue_hc, blue_hp = excluded.blue_hp,
               white_hc = excluded.white_hc, white_hp = excluded.white_hp, red_hc = excluded.red_hc,
               red_hp = excluded.red_hp, fetched_at = excluded.fetched_at",
        );
        let upsert = Sql::new(UPSERT)
            .bind(prices.blue_hc)
            .bind(prices.blue_hp)
            .bind(prices.white_hc)
            .bind(prices.white_hp)
            .bind(prices.red_hc)
            .bind(prices.red_hp)
            .bind(fetched_at);
        self.write(upsert).await
    }

    /// The Tempo prices the gateway last published, and when.
    pub async fn tempo_prices(&self) -> Result<Option<(TempoPrices, DateTime<Utc>)>, StoreError> {
        const SELECT: Text = Text::both(
            "SELECT blue_hc, blue_hp, white_hc, white_hp, red_hc, red_hp, fetched_at FROM tempo_prices WHERE id = 1",
        );
        let row: Option<TempoPricesRow> = Sql::new(SELECT).fetch_optional(&self.pool).await?;
        Ok(row.map(|row| {
            let prices = TempoPrices {
                blue_hc: row.blue_hc,
                blue_hp: row.blue_hp,
                white_hc: row.white_hc,
                white_hp: row.white_hp,
                red_hc: row.red_hc,
                red_hp: row.red_hp,
            };
            (prices, row.fetched_at)
        }))
    }
}
