//! The local SQLite store (sqlx): migrations at start, WAL, one writer, and every gateway
//! answer written in one transaction so an interrupted sync leaves nothing half-written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

mod grid;
mod series;
mod status;

pub use series::{CurveInterval, StoredPeak};
pub use status::MeterStatus;

use crate::config::Pdl;
use crate::gateway::{DailySeries, MeterInfo, SeriesKind};

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "myelectricaldata.sqlite";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the store {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error("cannot migrate the store: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
}

/// One stored day with a value.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDay {
    pub date: NaiveDate,
    pub wh: i64,
    pub quality: Option<String>,
    pub fetched_at: DateTime<Utc>,
}

/// Sum of the known days of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeriodTotal {
    pub wh: i64,
    pub days: u32,
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir` and brings its schema up to date.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(DATABASE_FILE);
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            // A small page cache and statement cache: the whole store of three meters is a
            // few MiB, and a Raspberry Pi's memory is shared by a dozen add-ons.
            .pragma("cache_size", "-512")
            .statement_cache_capacity(32);
        // One connection: the single writer, and small enough for a Raspberry Pi.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open { path, source })?;
        sqlx::migrate!().run(&pool).await?;
        Ok(Self { pool })
    }

    /// Records one gateway answer for `[start, end)`: the days it holds, and the days it
    /// lacks as "asked, not yet". A known value is never replaced by "not yet".
    pub async fn save_daily(
        &self,
        pdl: &Pdl,
        kind: SeriesKind,
        start: NaiveDate,
        end: NaiveDate,
        series: &DailySeries,
        fetched_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for reading in &series.readings {
            sqlx::query(
                "INSERT INTO daily_energy (pdl, series, day, wh, quality, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (pdl, series, day) DO UPDATE
                 SET wh = excluded.wh, quality = excluded.quality, fetched_at = excluded.fetched_at",
            )
            .bind(pdl.as_str())
            .bind(kind.as_str())
            .bind(reading.date)
            .bind(reading.wh)
            .bind(series.quality.as_deref())
            .bind(fetched_at)
            .execute(&mut *tx)
            .await?;
        }
        for day in start.iter_days().take_while(|d| *d < end) {
            sqlx::query(
                "INSERT INTO daily_energy (pdl, series, day, wh, quality, fetched_at)
                 VALUES (?1, ?2, ?3, NULL, NULL, ?4)
                 ON CONFLICT (pdl, series, day) DO UPDATE SET fetched_at = excluded.fetched_at
                 WHERE daily_energy.wh IS NULL",
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

    /// For each recorded day of `[from, to]`: its value, or `None` for "asked, not yet".
    pub async fn daily_status(
        &self,
        pdl: &Pdl,
        kind: SeriesKind,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<NaiveDate, Option<i64>>, StoreError> {
        let rows = sqlx::query(
            "SELECT day, wh FROM daily_energy
             WHERE pdl = ?1 AND series = ?2 AND day BETWEEN ?3 AND ?4",
        )
        .bind(pdl.as_str())
        .bind(kind.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("day")?, row.try_get("wh")?)))
            .collect()
    }

    /// The most recent day with a value.
    pub async fn latest_day(
        &self,
        pdl: &Pdl,
        kind: SeriesKind,
    ) -> Result<Option<StoredDay>, StoreError> {
        let row = sqlx::query(
            "SELECT day, wh, quality, fetched_at FROM daily_energy
             WHERE pdl = ?1 AND series = ?2 AND wh IS NOT NULL
             ORDER BY day DESC LIMIT 1",
        )
        .bind(pdl.as_str())
        .bind(kind.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| stored_day(&row)).transpose()
    }

    /// One day, if it has a value.
    pub async fn day(
        &self,
        pdl: &Pdl,
        kind: SeriesKind,
        date: NaiveDate,
    ) -> Result<Option<StoredDay>, StoreError> {
        let row = sqlx::query(
            "SELECT day, wh, quality, fetched_at FROM daily_energy
             WHERE pdl = ?1 AND series = ?2 AND day = ?3 AND wh IS NOT NULL",
        )
        .bind(pdl.as_str())
        .bind(kind.as_str())
        .bind(date)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| stored_day(&row)).transpose()
    }

    /// Sum and count of the days with a value in `[from, to]`.
    pub async fn total(
        &self,
        pdl: &Pdl,
        kind: SeriesKind,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<PeriodTotal, StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(wh), 0) AS wh, COUNT(wh) AS days FROM daily_energy
             WHERE pdl = ?1 AND series = ?2 AND day BETWEEN ?3 AND ?4",
        )
        .bind(pdl.as_str())
        .bind(kind.as_str())
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        Ok(PeriodTotal {
            wh: row.try_get("wh")?,
            days: row
                .try_get::<i64, _>("days")?
                .try_into()
                .unwrap_or(u32::MAX),
        })
    }

    pub async fn save_meter(
        &self,
        info: &MeterInfo,
        fetched_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meter (pdl, activation_date, oldest_available_date, fetched_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (pdl) DO UPDATE SET activation_date = excluded.activation_date,
               oldest_available_date = excluded.oldest_available_date, fetched_at = excluded.fetched_at",
        )
        .bind(info.pdl.as_str())
        .bind(info.activation_date)
        .bind(info.oldest_available_date)
        .bind(fetched_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// What the account last said about `pdl`, and when.
    pub async fn meter(&self, pdl: &Pdl) -> Result<Option<(MeterInfo, DateTime<Utc>)>, StoreError> {
        let row = sqlx::query(
            "SELECT activation_date, oldest_available_date, fetched_at FROM meter WHERE pdl = ?1",
        )
        .bind(pdl.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok((
                MeterInfo {
                    pdl: pdl.clone(),
                    activation_date: row.try_get("activation_date")?,
                    oldest_available_date: row.try_get("oldest_available_date")?,
                },
                row.try_get("fetched_at")?,
            ))
        })
        .transpose()
    }

    /// Gives the page cache back to the system between syncs.
    pub async fn release_memory(&self) -> Result<(), StoreError> {
        sqlx::query("PRAGMA shrink_memory")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn stored_day(row: &sqlx::sqlite::SqliteRow) -> Result<StoredDay, StoreError> {
    Ok(StoredDay {
        date: row.try_get("day")?,
        wh: row.try_get("wh")?,
        quality: row.try_get("quality")?,
        fetched_at: row.try_get("fetched_at")?,
    })
}

#[cfg(test)]
mod tests;
