//! Diagnostics kept across restarts: the status of each meter, the gateway calls counted
//! against the quota, and which meters were configured.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::backend::{Sql, Text};
use super::{Store, StoreError};
use crate::model::{AccessInfo, Pdl, redact};

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
    /// Why the last import of the meter's statistics failed; cleared by the next success.
    pub statistics_error: Option<String>,
}

/// [`MeterStatus`] as stored: counts are 64-bit integers on both back ends.
#[derive(sqlx::FromRow)]
struct StatusRow {
    last_success_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    last_error_at: Option<DateTime<Utc>>,
    consent_expiration: Option<NaiveDateTime>,
    quota_used: Option<i64>,
    quota_limit: Option<i64>,
    access_checked_at: Option<DateTime<Utc>>,
    statistics_error: Option<String>,
}

impl From<StatusRow> for MeterStatus {
    fn from(row: StatusRow) -> Self {
        Self {
            last_success_at: row.last_success_at,
            last_error: row.last_error,
            last_error_at: row.last_error_at,
            consent_expiration: row.consent_expiration,
            quota_used: row.quota_used.map(saturating_u32),
            quota_limit: row.quota_limit.map(saturating_u32),
            access_checked_at: row.access_checked_at,
            statistics_error: row.statistics_error,
        }
    }
}

/// A stored count as a `u32`: a negative one reads as 0, one too large as the largest.
fn saturating_u32(count: i64) -> u32 {
    u32::try_from(count.max(0)).unwrap_or(u32::MAX)
}

impl Store {
    pub async fn meter_status(&self, pdl: &Pdl) -> Result<MeterStatus, StoreError> {
        const SELECT: Text = Text::both(
            "SELECT last_success_at, last_error, last_error_at, consent_expiration, quota_used, quota_limit,
               access_checked_at, statistics_error
             FROM meter_status WHERE pdl = $1",
        );
        let row: Option<StatusRow> = Sql::new(SELECT)
            .bind(pdl.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(MeterStatus::from).unwrap_or_default())
    }

    /// Records what the gateway said of the consent and quota (v1); what it left out stays.
    pub async fn record_access(
        &self,
        pdl: &Pdl,
        access: &AccessInfo,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const UPSERT: Text = Text::both(
            "INSERT INTO meter_status (pdl, consent_expiration, quota_limit, access_checked_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (pdl) DO UPDATE SET
               consent_expiration = COALESCE(excluded.consent_expiration, meter_status.consent_expiration),
               quota_limit = COALESCE(excluded.quota_limit, meter_status.quota_limit),
               access_checked_at = excluded.access_checked_at",
        );
        let upsert = Sql::new(UPSERT)
            .bind(pdl.as_str())
            .bind(access.consent_expiration)
            .bind(access.quota_limit)
            .bind(at);
        self.write(upsert).await
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
        const UPSERT: Text = Text::both(
            "INSERT INTO meter_status (pdl, last_success_at, last_error, last_error_at, quota_used, quota_limit)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (pdl) DO UPDATE SET
               last_success_at = COALESCE(excluded.last_success_at, meter_status.last_success_at),
               last_error = excluded.last_error, last_error_at = excluded.last_error_at,
               quota_used = excluded.quota_used, quota_limit = excluded.quota_limit",
        );
        let success_at = error.is_none().then_some(at);
        let error_at = error.is_some().then_some(at);
        // An error text may quote what a server echoed: never keep a credential from it.
        let error = error.map(|error| redact(error).into_owned());
        let upsert = Sql::new(UPSERT)
            .bind(pdl.as_str())
            .bind(success_at)
            .bind(error)
            .bind(error_at)
            .bind(quota_used)
            .bind(quota_limit);
        self.write(upsert).await
    }

    /// Records how the last import of the meter's statistics went: `None` for a success.
    pub async fn record_statistics(
        &self,
        pdl: &Pdl,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        const UPSERT: Text = Text::both(
            "INSERT INTO meter_status (pdl, statistics_error) VALUES ($1, $2)
             ON CONFLICT (pdl) DO UPDATE SET statistics_error = excluded.statistics_error",
        );
        let error = error.map(|error| redact(error).into_owned());
        self.write(Sql::new(UPSERT).bind(pdl.as_str()).bind(error))
            .await
    }

    /// Counts one gateway call against `scope` on `day`; returns the day's count.
    pub async fn count_call(&self, scope: &str, day: NaiveDate) -> Result<u32, StoreError> {
        const COUNT: Text = Text::both(
            "INSERT INTO gateway_calls (scope, day, calls) VALUES ($1, $2, 1)
             ON CONFLICT (scope, day) DO UPDATE SET calls = gateway_calls.calls + 1
             RETURNING calls",
        );
        let (calls,): (i64,) = Sql::new(COUNT)
            .bind(scope)
            .bind(day)
            .fetch_one(&self.pool)
            .await?;
        self.changed();
        Ok(saturating_u32(calls))
    }

    /// Raises the day's count of `scope` to at least `calls` (what the gateway reports, or
    /// the whole budget once it says the quota is reached).
    pub async fn raise_calls(
        &self,
        scope: &str,
        day: NaiveDate,
        calls: u32,
    ) -> Result<(), StoreError> {
        // CASE rather than SQLite's two-argument MAX or PostgreSQL's GREATEST: both read it.
        const RAISE: Text = Text::both(
            "INSERT INTO gateway_calls (scope, day, calls) VALUES ($1, $2, $3)
             ON CONFLICT (scope, day) DO UPDATE SET calls =
               CASE WHEN excluded.calls > gateway_calls.calls THEN excluded.calls ELSE gateway_calls.calls END",
        );
        self.write(Sql::new(RAISE).bind(scope).bind(day).bind(calls))
            .await
    }

    pub async fn calls(&self, scope: &str, day: NaiveDate) -> Result<u32, StoreError> {
        const SELECT: Text =
            Text::both("SELECT calls FROM gateway_calls WHERE scope = $1 AND day = $2");
        let calls: Option<(i64,)> = Sql::new(SELECT)
            .bind(scope)
            .bind(day)
            .fetch_optional(&self.pool)
            .await?;
        Ok(calls.map_or(0, |(calls,)| saturating_u32(calls)))
    }

    /// Records the configured meters; returns those configured before and not any more.
    pub async fn sync_configured_meters(
        &self,
        configured: &[Pdl],
        now: DateTime<Utc>,
    ) -> Result<Vec<Pdl>, StoreError> {
        // Every meter counts as removed (earlier removals keep their date), then the
        // configured ones come back: in one transaction.
        const REMOVE_ALL: Text =
            Text::both("UPDATE configured_meter SET removed_at = $1 WHERE removed_at IS NULL");
        const KEEP: Text = Text::both(
            "INSERT INTO configured_meter (pdl, removed_at) VALUES ($1, NULL)
             ON CONFLICT (pdl) DO UPDATE SET removed_at = NULL",
        );
        const REMOVED: Text = Text::both(
            "SELECT pdl FROM configured_meter WHERE removed_at IS NOT NULL ORDER BY pdl",
        );
        let keep = configured
            .iter()
            .map(|pdl| Sql::new(KEEP).bind(pdl.as_str()));
        let remove_all = std::iter::once(Sql::new(REMOVE_ALL).bind(now));
        self.save_answer(remove_all, keep).await?;
        let removed: Vec<(String,)> = Sql::new(REMOVED).fetch_all(&self.pool).await?;
        Ok(removed
            .iter()
            .filter_map(|(text,)| Pdl::parse(text))
            .collect())
    }
}
