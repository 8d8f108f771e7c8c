//! Diagnostics kept across restarts: the status of each meter, the gateway calls counted
//! against the quota, and which meters were configured.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::{Store, StoreError};
use crate::model::{AccessInfo, Pdl, redact};

/// What `P/{pdl}/status` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
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
    /// Why the last import of the meter's statistics failed; cleared by the next success.
    pub statistics_error: Option<String>,
}

impl Store {
    pub async fn meter_status(&self, pdl: &Pdl) -> Result<MeterStatus, StoreError> {
        let status = sqlx::query_as(
            "SELECT last_success_at, last_error, last_error_at, consent_expiration, quota_used, quota_limit,
               access_checked_at, statistics_error
             FROM meter_status WHERE pdl = ?1",
        )
        .bind(pdl.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(status.unwrap_or_default())
    }

    /// Records what the gateway said of the consent and quota (v1); what it left out stays.
    pub async fn record_access(
        &self,
        pdl: &Pdl,
        access: &AccessInfo,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meter_status (pdl, consent_expiration, quota_limit, access_checked_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (pdl) DO UPDATE SET
               consent_expiration = COALESCE(excluded.consent_expiration, consent_expiration),
               quota_limit = COALESCE(excluded.quota_limit, quota_limit),
               access_checked_at = excluded.access_checked_at",
        )
        .bind(pdl.as_str())
        .bind(access.consent_expiration)
        .bind(access.quota_limit)
        .bind(at)
        .execute(&self.pool)
        .await?;
        self.changed();
        Ok(())
    }

    /// Records how a sync of `pdl` ended: a success, or the error in one line (the values
    /// already known stay as they are), and the quota as it stands.
    pub async fn record_outcome(
        &self,
        pdl: &Pdl,
        at: DateTime<Utc>,
        error: Option<&str>,
        (quota_used, quota_limit): (u32, u32),
    ) -> Result<(), StoreError> {
        let success_at = error.is_none().then_some(at);
        let error_at = error.is_some().then_some(at);
        // An error text may quote what a server echoed: never keep a credential from it.
        let error = error.map(redact);
        sqlx::query(
            "INSERT INTO meter_status (pdl, last_success_at, last_error, last_error_at, quota_used, quota_limit)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (pdl) DO UPDATE SET
               last_success_at = COALESCE(excluded.last_success_at, last_success_at),
               last_error = excluded.last_error, last_error_at = excluded.last_error_at,
               quota_used = excluded.quota_used, quota_limit = excluded.quota_limit",
        )
        .bind(pdl.as_str())
        .bind(success_at)
        .bind(error)
        .bind(error_at)
        .bind(quota_used)
        .bind(quota_limit)
        .execute(&self.pool)
        .await?;
        self.changed();
        Ok(())
    }

    /// Records how the last import of the meter's statistics went: `None` for a success.
    pub async fn record_statistics(
        &self,
        pdl: &Pdl,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let error = error.map(redact);
        sqlx::query(
            "INSERT INTO meter_status (pdl, statistics_error) VALUES (?1, ?2)
             ON CONFLICT (pdl) DO UPDATE SET statistics_error = excluded.statistics_error",
        )
        .bind(pdl.as_str())
        .bind(error)
        .execute(&self.pool)
        .await?;
        self.changed();
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
        self.changed();
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
        self.changed();
        Ok(())
    }

    pub async fn calls(&self, scope: &str, day: NaiveDate) -> Result<u32, StoreError> {
        let calls: Option<i64> =
            sqlx::query_scalar("SELECT calls FROM gateway_calls WHERE scope = ?1 AND day = ?2")
                .bind(scope)
                .bind(day)
                .fetch_optional(&self.pool)
                .await?;
        Ok(calls.map_or(0, |c| u32::try_from(c).unwrap_or(u32::MAX)))
    }

    /// Records the configured meters; returns those configured before and not any more.
    pub async fn sync_configured_meters(
        &self,
        configured: &[Pdl],
        now: DateTime<Utc>,
    ) -> Result<Vec<Pdl>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Every meter counts as removed (earlier removals keep their date), then the
        // configured ones come back.
        sqlx::query("UPDATE configured_meter SET removed_at = ?1 WHERE removed_at IS NULL")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        for pdl in configured {
            sqlx::query(
                "INSERT INTO configured_meter (pdl, removed_at) VALUES (?1, NULL)
                 ON CONFLICT (pdl) DO UPDATE SET removed_at = NULL",
            )
            .bind(pdl.as_str())
            .execute(&mut *tx)
            .await?;
        }
        let removed: Vec<String> = sqlx::query_scalar(
            "SELECT pdl FROM configured_meter WHERE removed_at IS NOT NULL ORDER BY pdl",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        self.changed();
        Ok(removed.iter().filter_map(|text| Pdl::parse(text)).collect())
    }
}
