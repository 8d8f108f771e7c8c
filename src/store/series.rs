//! Max power, load curve and contract rows.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Europe::Paris;
use sqlx::Row;

use super::{Store, StoreError};
use crate::calendar::sequence_instants;
use crate::config::Pdl;
use crate::gateway::{Contract, LoadCurvePoint, MaxPowerReading, SeriesKind};

/// A stored daily peak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPeak {
    pub date: NaiveDate,
    pub va: i64,
    pub at: Option<NaiveDateTime>,
    pub fetched_at: DateTime<Utc>,
}

/// One load-curve interval, placed in Paris time by its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurveInterval {
    pub start_local: NaiveDateTime,
    pub minutes: u32,
    pub watts: i64,
}

impl CurveInterval {
    /// Energy of the interval: W × minutes / 60.
    pub fn wh(&self) -> f64 {
        self.watts as f64 * f64::from(self.minutes) / 60.0
    }
}

impl Store {
    /// Records a max-power answer for `[start, end)`; days without a value become "not yet"
    /// (never replacing a known value).
    pub async fn save_max_power(
        &self,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
        peaks: &[MaxPowerReading],
        fetched_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for peak in peaks {
            sqlx::query(
                "INSERT INTO max_power (pdl, day, va, peak_at, fetched_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (pdl, day) DO UPDATE
                 SET va = excluded.va, peak_at = excluded.peak_at, fetched_at = excluded.fetched_at",
            )
            .bind(pdl.as_str())
            .bind(peak.date)
            .bind(peak.va)
            .bind(peak.at)
            .bind(fetched_at)
            .execute(&mut *tx)
            .await?;
        }
        for day in start.iter_days().take_while(|d| *d < end) {
            sqlx::query(
                "INSERT INTO max_power (pdl, day, va, peak_at, fetched_at) VALUES (?1, ?2, NULL, NULL, ?3)
                 ON CONFLICT (pdl, day) DO NOTHING",
            )
            .bind(pdl.as_str())
            .bind(day)
            .bind(fetched_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Days of `[from, to]` with a row: the value, or `None` for "asked, not yet".
    pub async fn max_power_status(
        &self,
        pdl: &Pdl,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<NaiveDate, Option<i64>>, StoreError> {
        let rows =
            sqlx::query("SELECT day, va FROM max_power WHERE pdl = ?1 AND day BETWEEN ?2 AND ?3")
                .bind(pdl.as_str())
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("day")?, row.try_get("va")?)))
            .collect()
    }

    pub async fn latest_peak(&self, pdl: &Pdl) -> Result<Option<StoredPeak>, StoreError> {
        let row = sqlx::query(
            "SELECT day, va, peak_at, fetched_at FROM max_power
             WHERE pdl = ?1 AND va IS NOT NULL ORDER BY day DESC LIMIT 1",
        )
        .bind(pdl.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(StoredPeak {
                date: row.try_get("day")?,
                va: row.try_get("va")?,
                at: row.try_get("peak_at")?,
                fetched_at: row.try_get("fetched_at")?,
            })
        })
        .transpose()
    }

    /// Records a load-curve answer for `[start, end)` in one transaction: its points (placed
    /// by the start of their interval, DST included) and the days as asked.
    pub async fn save_load_curve(
        &self,
        pdl: &Pdl,
        kind: SeriesKind,
        start: NaiveDate,
        end: NaiveDate,
        points: &[LoadCurvePoint],
        fetched_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let instants = sequence_instants(points.iter().map(|p| (p.end, p.interval_minutes)));
        let mut tx = self.pool.begin().await?;
        for (point, end_at) in points.iter().zip(instants) {
            let start_local = (end_at - Duration::minutes(i64::from(point.interval_minutes)))
                .with_timezone(&Paris)
                .naive_local();
            sqlx::query(
                "INSERT INTO load_curve (pdl, series, end_at, day, start_local, minutes, watts, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (pdl, series, end_at) DO UPDATE
                 SET minutes = excluded.minutes, watts = excluded.watts, fetched_at = excluded.fetched_at",
            )
            .bind(pdl.as_str())
            .bind(kind.as_str())
            .bind(end_at)
            .bind(start_local.date())
            .bind(start_local)
            .bind(point.interval_minutes)
            .bind(point.watts)
            .bind(fetched_at)
            .execute(&mut *tx)
            .await?;
        }
        for day in start.iter_days().take_while(|d| *d < end) {
            sqlx::query(
                "INSERT INTO load_curve_asked (pdl, series, day, asked_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (pdl, series, day) DO UPDATE SET asked_at = excluded.asked_at",
            )
            .bind(pdl.as_str())
            .bind(kind.as_str())
            .bind(day)
            .bind(fetched_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// For each asked day of `[from, to]`: the minutes of curve it holds.
    pub async fn load_curve_coverage(
        &self,
        pdl: &Pdl,
        kind: SeriesKind,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<NaiveDate, i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.day AS day, COALESCE(SUM(c.minutes), 0) AS minutes
             FROM load_curve_asked a
             LEFT JOIN load_curve c ON c.pdl = a.pdl AND c.series = a.series AND c.day = a.day
             WHERE a.pdl = ?1 AND a.series = ?2 AND a.day BETWEEN ?3 AND ?4
             GROUP BY a.day",
        )
        .bind(pdl.as_str())
        .bind(kind.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("day")?, row.try_get("minutes")?)))
            .collect()
    }

    /// The intervals that start on the days `[from, to]` (Paris), grouped by day.
    pub async fn load_curve_days(
        &self,
        pdl: &Pdl,
        kind: SeriesKind,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<NaiveDate, Vec<CurveInterval>>, StoreError> {
        let rows = sqlx::query(
            "SELECT day, start_local, minutes, watts FROM load_curve
             WHERE pdl = ?1 AND series = ?2 AND day BETWEEN ?3 AND ?4 ORDER BY end_at",
        )
        .bind(pdl.as_str())
        .bind(kind.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let mut days: BTreeMap<NaiveDate, Vec<CurveInterval>> = BTreeMap::new();
        for row in &rows {
            days.entry(row.try_get("day")?)
                .or_default()
                .push(CurveInterval {
                    start_local: row.try_get("start_local")?,
                    minutes: row.try_get("minutes")?,
                    watts: row.try_get("watts")?,
                });
        }
        Ok(days)
    }

    pub async fn save_contract(
        &self,
        pdl: &Pdl,
        contract: &Contract,
        fetched_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO contract (pdl, subscribed_kva, distribution_tariff, offpeak_hours, activation_date, status, fetched_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (pdl) DO UPDATE SET subscribed_kva = excluded.subscribed_kva,
               distribution_tariff = excluded.distribution_tariff, offpeak_hours = excluded.offpeak_hours,
               activation_date = excluded.activation_date, status = excluded.status, fetched_at = excluded.fetched_at",
        )
        .bind(pdl.as_str())
        .bind(contract.subscribed_kva)
        .bind(contract.distribution_tariff.as_deref())
        .bind(contract.offpeak_hours.as_deref())
        .bind(contract.activation_date)
        .bind(contract.status.as_deref())
        .bind(fetched_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn contract(
        &self,
        pdl: &Pdl,
    ) -> Result<Option<(Contract, DateTime<Utc>)>, StoreError> {
        let row = sqlx::query(
            "SELECT subscribed_kva, distribution_tariff, offpeak_hours, activation_date, status, fetched_at
             FROM contract WHERE pdl = ?1",
        )
        .bind(pdl.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok((
                Contract {
                    subscribed_kva: row.try_get("subscribed_kva")?,
                    distribution_tariff: row.try_get("distribution_tariff")?,
                    offpeak_hours: row.try_get("offpeak_hours")?,
                    activation_date: row.try_get("activation_date")?,
                    status: row.try_get("status")?,
                },
                row.try_get("fetched_at")?,
            ))
        })
        .transpose()
    }
}
