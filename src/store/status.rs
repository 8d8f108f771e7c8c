//! Diagnostics kept across restarts: the status of each meter, the gateway calls counted
//! against the quota, and which meters were configured.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError};
use crate::config::Pdl;

/// What `P/{pdl}/status` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeterStatus {
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last failure, in one line; cleared by the next success.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub consent_expiration: Option<NaiveDateTime>,
    pub quota_used: Option<u32>,
    pub quota_limit: Option<u32>,
    /// When the gateway last reported the consent and quota (v1).
    pub access_checked_at: Option<DateTime<Utc>>,
}

impl Store {
    pub async fn meter_status(&self, pdl: &Pdl) -> Result<MeterStatus, StoreError> {
        let row = sqlx::query(
            "SELECT last_success_at, last_error, last_error_at, consent_expiration, quota_used, quota_limit,
               access_checked_at
             FROM meter_status WHERE pdl = ?1",
        )
        .bind(pdl.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(MeterStatus::default());
        };
        Ok(MeterStatus {
            last_success_at: row.try_get("last_success_at")?,
            last_error: row.try_get("last_error")?,
            last_error_at: row.try_get("last_error_at")?,
            consent_expiration: row.try_get("consent_expiration")?,
            quota_used: row.try_get("quota_used")?,
            quota_limit: row.try_get("quota_limit")?,
            access_checked_at: row.try_get("access_checked_at")?,
        })
    }

    pub async fn save_meter_status(
        &self,
        pdl: &Pdl,
        status: &MeterStatus,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meter_status (pdl, last_success_at, last_error, last_error_at, consent_expiration, quota_used,
               quota_limit, access_checked_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (pdl) DO UPDATE SET last_success_at = excluded.last_success_at,
               last_error = excluded.last_error, last_error_at = excluded.last_error_at,
               consent_expiration = excluded.consent_expiration, quota_used = excluded.quota_used,
               quota_limit = excluded.quota_limit, access_checked_at = excluded.access_checked_at",
        )
        .bind(pdl.as_str())
        .bind(status.last_success_at)
        .bind(status.last_error.as_deref())
        .bind(status.last_error_at)
        .bind(status.consent_expiration)
        .bind(status.quota_used)
        .bind(status.quota_limit)
        .bind(status.access_checked_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Counts one gateway call against `scope` on `day`; returns the day's count.
    pub async fn count_call(&self, scope: &str, day: NaiveDate) -> Result<u32, StoreError> {
        let calls: i64 = sqlx::query_scalar(
            "INSERT INTO gateway_calls (scope, day, calls) VALUES (?1, ?2, 1)
             ON CONFLICT (scope, day) DO UPDATE SET calls = calls + 1
             RETURNING calls",
        )
        .bind(scope)
        .bind(day)
        .fetch_one(&self.pool)
        .await?;
        Ok(u32::try_from(calls).unwrap_or(u32::MAX))
    }

    /// Raises the day's count of `scope` to at least `calls` (what the gateway reports, or
    /// the whole budget once it says the quota is reached).
    pub async fn raise_calls(
        &self,
        scope: &str,
        day: NaiveDate,
        calls: u32,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO gateway_calls (scope, day, calls) VALUES (?1, ?2, ?3)
             ON CONFLICT (scope, day) DO UPDATE SET calls = MAX(calls, excluded.calls)",
        )
        .bind(scope)
        .bind(day)
        .bind(calls)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn calls(&self, scope: &str, day: NaiveDate) -> Result<u32, StoreError> {
        let calls: Option<i64> =
            sqlx::query_scalar("SELECT calls FROM gateway_calls WHERE scope = ?1 AND day = ?2")
                .bind(scope)
                .bind(day)
                .fetch_optional(&self.pool)
                .await?;
        Ok(calls
            .map(|c| u32::try_from(c).unwrap_or(u32::MAX))
            .unwrap_or(0))
    }

    /// Records the configured meters; returns those configured before and not any more.
    pub async fn sync_configured_meters(
        &self,
        configured: &[Pdl],
        now: DateTime<Utc>,
    ) -> Result<Vec<Pdl>, StoreError> {
        let mut tx = self.pool.begin().await?;
        for pdl in configured {
            sqlx::query(
                "INSERT INTO configured_meter (pdl, removed_at) VALUES (?1, NULL)
                 ON CONFLICT (pdl) DO UPDATE SET removed_at = NULL",
            )
            .bind(pdl.as_str())
            .execute(&mut *tx)
            .await?;
        }
        let rows = sqlx::query("SELECT pdl, removed_at FROM configured_meter")
            .fetch_all(&mut *tx)
            .await?;
        let mut removed = Vec::new();
        for row in rows {
            let text: String = row.try_get("pdl")?;
            let Some(pdl) = Pdl::parse(&text) else {
                continue;
            };
            if configured.contains(&pdl) {
                continue;
            }
            let removed_at: Option<DateTime<Utc>> = row.try_get("removed_at")?;
            if removed_at.is_none() {
                sqlx::query("UPDATE configured_meter SET removed_at = ?2 WHERE pdl = ?1")
                    .bind(pdl.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            removed.push(pdl);
        }
        tx.commit().await?;
        Ok(removed)
    }
}
