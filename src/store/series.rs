//! Linky rows: daily energy and peaks, the load curve, the contract and the account's meters.
//! A row with a NULL value records a day the gateway was asked for and did not have yet.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Europe::Paris;

use super::backend::{Sql, Text};
use super::{Store, StoreError};
use crate::calendar::sequence_instants;
use crate::model::{
    Contract, CurveInterval, DailySeries, DayEnergy, DayPeak, DayRange, LoadCurvePoint,
    MaxPowerReading, MeterInfo, Pdl, SeriesKind,
};

#[derive(sqlx::FromRow)]
struct DayRow {
    day: NaiveDate,
    wh: i64,
    quality: Option<String>,
    fetched_at: DateTime<Utc>,
}

impl From<DayRow> for DayEnergy {
    fn from(row: DayRow) -> Self {
        Self {
            date: row.day,
            wh: row.wh,
            quality: row.quality,
            fetched_at: row.fetched_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct PeakRow {
    day: NaiveDate,
    va: i64,
    peak_at: Option<NaiveDateTime>,
    fetched_at: DateTime<Utc>,
}

impl From<PeakRow> for DayPeak {
    fn from(row: PeakRow) -> Self {
        Self {
            date: row.day,
            va: row.va,
            at: row.peak_at,
            fetched_at: row.fetched_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct CurveRow {
    end_at: DateTime<Utc>,
    day: NaiveDate,
    start_local: NaiveDateTime,
    minutes: i64,
    watts: i64,
}

#[derive(sqlx::FromRow)]
struct ContractRow {
    subscribed_kva: Option<i64>,
    distribution_tariff: Option<String>,
    offpeak_hours: Option<String>,
    activation_date: Option<NaiveDate>,
    status: Option<String>,
    fetched_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct MeterRow {
    activation_date: Option<NaiveDate>,
    oldest_available_date: Option<NaiveDate>,
    fetched_at: DateTime<Utc>,
}

/// The days of a series the store holds a value for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredDays {
    pub days: u32,
    /// The first and the last of them.
    pub span: Option<(NaiveDate, NaiveDate)>,
}

/// A query over the days `[from, to]` of a meter's series: the SQL names the PDL `$1`, the
/// series `$2` and the days `$3`–`$4`.
fn in_series(text: Text, pdl: &Pdl, kind: SeriesKind, from: NaiveDate, to: NaiveDate) -> Sql {
    Sql::new(text)
        .bind(pdl.as_str())
        .bind(kind.as_str())
        .bind(from)
        .bind(to)
}

impl Store {
    /// Records a daily answer for `range`: its values, and the days it lacks as "not yet".
    /// A known value is never replaced by "not yet"; a corrected one replaces it.
    pub async fn save_daily(
        &self,
        pdl: &Pdl,
        kind: SeriesKind,
        range: DayRange,
        series: &DailySeries,
        fetched_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let values = series.readings.iter().map(|reading| {
            Sql::new(Text::both("INSERT INTO daily_energy (pdl, series, day, wh, quality, fetched_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (pdl, series, day) DO UPDATE
                 SET wh = excluded.wh, quality = excluded.quality, fetched_at = excluded.fetched_at"))
            .bind(pdl.to_string())
            .bind(kind.as_str())
            .bind(reading.date)
            .bind(reading.wh)
            .bind(series.quality.clone())
            .bind(fetched_at)
        });
        let asked = range.days().map(|day| {
            Sql::new(Text::both(
                "INSERT INTO daily_energy (pdl, series, day, wh, quality, fetched_at)
                 VALUES ($1, $2, $3, NULL, NULL, $4)
                 ON CONFLICT (pdl, series, day) DO UPDATE SET fetched_at = excluded.fetched_at
                 WHERE daily_energy.wh IS NULL",
            ))
            .bind(pdl.to_string())
            .bind(kind.as_str())
            .bind(day)
            .bind(fetched_at)
        });
        self.save_answer(values, asked).await
    }

    /// For each recorded day of `[from, to]`: its value, or `None` for "asked, not yet".
    pub async fn daily_status(
        &self,
        pdl: &Pdl,
        kind: SeriesKind,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<NaiveDate, Option<i64>>, StoreError> {
        let rows = in_series(
            Text::both(
                "SELECT day, wh FROM daily_energy
             WHERE pdl = $1 AND series = $2 AND day BETWEEN $3 AND $4",
            ),
            pdl,
            kind,
            from,
            to,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// The most recent day with a value.
    pub async fn latest_day(
        &self,
        pdl: &Pdl,
        kind: SeriesKind,
    ) -> Result<Option<DayEnergy>, StoreError> {
        let row: Option<DayRow> = Sql::new(Text::both(
            "SELECT day, wh, quality, fetched_at FROM daily_energy
             WHERE pdl = $1 AND series = $2 AND wh IS NOT NULL
             ORDER BY day DESC LIMIT 1",
        ))
        .bind(pdl.as_str())
        .bind(kind.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(DayEnergy::from))
    }

    /// The days of `[from, to]` with a value, in order.
    pub async fn days(
        &self,
        pdl: &Pdl,
        kind: SeriesKind,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DayEnergy>, StoreError> {
        let rows: Vec<DayRow> = in_series(
            Text::both(
                "SELECT day, wh, quality, fetched_at FROM daily_energy
             WHERE pdl = $1 AND series = $2 AND day BETWEEN $3 AND $4 AND wh IS NOT NULL
             ORDER BY day",
            ),
            pdl,
            kind,
            from,
            to,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(DayEnergy::from).collect())
    }

    /// The sum of the known days of each month of `[from, to]`, by first day of the month.
    pub async fn monthly_sums(
        &self,
        pdl: &Pdl,
        kind: SeriesKind,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, i64)>, StoreError> {
        // SQLite keeps days as `YYYY-MM-DD` (the month is their first seven characters) and
        // its TOTAL sums in floating point, where SUM would fail on an overflow; PostgreSQL's
        // SUM of BIGINT is exact (NUMERIC), read as a float the same way.
        const SUMS: Text = Text::each(
            "SELECT substr(day, 1, 7) || '-01', TOTAL(wh) FROM daily_energy
             WHERE pdl = $1 AND series = $2 AND day BETWEEN $3 AND $4 AND wh IS NOT NULL
             GROUP BY substr(day, 1, 7) ORDER BY 1",
            "SELECT date_trunc('month', day::timestamp)::date, SUM(wh)::float8 FROM daily_energy
             WHERE pdl = $1 AND series = $2 AND day BETWEEN $3 AND $4 AND wh IS NOT NULL
             GROUP BY 1 ORDER BY 1",
        );
        let sums: Vec<(NaiveDate, f64)> = in_series(SUMS, pdl, kind, from, to)
            .fetch_all(&self.pool)
            .await?;
        // `as` saturates: an absurd stored sum shows as the largest value, never wraps.
        Ok(sums
            .into_iter()
            .map(|(month, wh)| (month, wh as i64))
            .collect())
    }

    /// How many days of a series hold a value, and the first and last of them.
    pub async fn stored_days(&self, pdl: &Pdl, kind: SeriesKind) -> Result<StoredDays, StoreError> {
        let (days, first, last): (i64, Option<NaiveDate>, Option<NaiveDate>) =
            Sql::new(Text::both(
                "SELECT COUNT(*), MIN(day), MAX(day) FROM daily_energy
             WHERE pdl = $1 AND series = $2 AND wh IS NOT NULL",
            ))
            .bind(pdl.as_str())
            .bind(kind.as_str())
            .fetch_one(&self.pool)
            .await?;
        let span = first.zip(last);
        let days = u32::try_from(days).unwrap_or(u32::MAX);
        Ok(StoredDays { days, span })
    }

    /// Records a max-power answer for `range`; days without a value become "not yet" (never
    /// replacing a known value).
    pub async fn save_max_power(
        &self,
        pdl: &Pdl,
        range: DayRange,
        peaks: &[MaxPowerReading],
        fetched_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let values = peaks.iter().map(|peak| {
            Sql::new(Text::both("INSERT INTO max_power (pdl, day, va, peak_at, fetched_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (pdl, day) DO UPDATE
                 SET va = excluded.va, peak_at = excluded.peak_at, fetched_at = excluded.fetched_at"))
            .bind(pdl.to_string())
            .bind(peak.date)
            .bind(peak.va)
            .bind(peak.at)
            .bind(fetched_at)
        });
        let asked = range.days().map(|day| {
            Sql::new(Text::both("INSERT INTO max_power (pdl, day, va, peak_at, fetched_at) VALUES ($1, $2, NULL, NULL, $3)
                 ON CONFLICT (pdl, day) DO NOTHING"))
            .bind(pdl.to_string())
            .bind(day)
            .bind(fetched_at)
        });
        self.save_answer(values, asked).await
    }

    /// Days of `[from, to]` with a row: the value, or `None` for "asked, not yet".
    pub async fn max_power_status(
        &self,
        pdl: &Pdl,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<NaiveDate, Option<i64>>, StoreError> {
        let rows = Sql::new(Text::both(
            "SELECT day, va FROM max_power WHERE pdl = $1 AND day BETWEEN $2 AND $3",
        ))
        .bind(pdl.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    pub async fn latest_peak(&self, pdl: &Pdl) -> Result<Option<DayPeak>, StoreError> {
        let row: Option<PeakRow> = Sql::new(Text::both(
            "SELECT day, va, peak_at, fetched_at FROM max_power
             WHERE pdl = $1 AND va IS NOT NULL ORDER BY day DESC LIMIT 1",
        ))
        .bind(pdl.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(DayPeak::from))
    }

    /// Records a load-curve answer for `range`: its points (placed by the start of their
    /// interval, DST included) and the days as asked.
    pub async fn save_load_curve(
        &self,
        pdl: &Pdl,
        kind: SeriesKind,
        range: DayRange,
        points: &[LoadCurvePoint],
        fetched_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let instants = sequence_instants(points.iter().map(|p| (p.end, p.interval_minutes)));
        let values = points.iter().zip(instants).map(|(point, end_at)| {
            let start_local = (end_at - Duration::minutes(i64::from(point.interval_minutes)))
                .with_timezone(&Paris)
                .naive_local();
            Sql::new(Text::both("INSERT INTO load_curve (pdl, series, end_at, day, start_local, minutes, watts, fetched_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (pdl, series, end_at) DO UPDATE
                 SET minutes = excluded.minutes, watts = excluded.watts, fetched_at = excluded.fetched_at"))
            .bind(pdl.to_string())
            .bind(kind.as_str())
            .bind(end_at)
            .bind(start_local.date())
            .bind(start_local)
            .bind(point.interval_minutes)
            .bind(point.watts)
            .bind(fetched_at)
        });
        let asked = range.days().map(|day| {
            Sql::new(Text::both(
                "INSERT INTO load_curve_asked (pdl, series, day, asked_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (pdl, series, day) DO UPDATE SET asked_at = excluded.asked_at",
            ))
            .bind(pdl.to_string())
            .bind(kind.as_str())
            .bind(day)
            .bind(fetched_at)
        });
        self.save_answer(values, asked).await
    }

    /// For each asked day of `[from, to]`: the minutes of curve it holds.
    pub async fn load_curve_coverage(
        &self,
        pdl: &Pdl,
        kind: SeriesKind,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<NaiveDate, i64>, StoreError> {
        // SQLite's `total()` adds in floating point and never fails, where `SUM` over
        // integers stops the query with "integer overflow"; the cast back saturates.
        // PostgreSQL's SUM is exact and LEAST bounds it before the cast. A store written
        // before the gateway's answers were bounded may hold any value (the day sums are
        // saturating in `derived`, floats in `statistics`), and reading it must never fail.
        const COVERAGE: Text = Text::each(
            "SELECT a.day AS day, CAST(total(c.minutes) AS INTEGER) AS minutes
             FROM load_curve_asked a
             LEFT JOIN load_curve c ON c.pdl = a.pdl AND c.series = a.series AND c.day = a.day
             WHERE a.pdl = $1 AND a.series = $2 AND a.day BETWEEN $3 AND $4
             GROUP BY a.day",
            "SELECT a.day AS day,
               LEAST(COALESCE(SUM(c.minutes), 0), 9223372036854775807)::BIGINT AS minutes
             FROM load_curve_asked a
             LEFT JOIN load_curve c ON c.pdl = a.pdl AND c.series = a.series AND c.day = a.day
             WHERE a.pdl = $1 AND a.series = $2 AND a.day BETWEEN $3 AND $4
             GROUP BY a.day",
        );
        let rows = in_series(COVERAGE, pdl, kind, from, to)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// The intervals that start on the days `[from, to]` (Paris), grouped by day.
    pub async fn load_curve_days(
        &self,
        pdl: &Pdl,
        kind: SeriesKind,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<NaiveDate, Vec<CurveInterval>>, StoreError> {
        let rows: Vec<CurveRow> = in_series(
            Text::both(
                "SELECT end_at, day, start_local, minutes, watts FROM load_curve
             WHERE pdl = $1 AND series = $2 AND day BETWEEN $3 AND $4 ORDER BY end_at",
            ),
            pdl,
            kind,
            from,
            to,
        )
        .fetch_all(&self.pool)
        .await?;
        let mut days: BTreeMap<NaiveDate, Vec<CurveInterval>> = BTreeMap::new();
        for row in rows {
            days.entry(row.day).or_default().push(CurveInterval {
                start: row.end_at - Duration::minutes(row.minutes),
                start_local: row.start_local,
                // Written from a u32; a value out of range reads as 0 (no interval).
                minutes: u32::try_from(row.minutes).unwrap_or(0),
                watts: row.watts,
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
        Sql::new(Text::both("INSERT INTO contract (pdl, subscribed_kva, distribution_tariff, offpeak_hours, activation_date, status, fetched_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (pdl) DO UPDATE SET subscribed_kva = excluded.subscribed_kva,
               distribution_tariff = excluded.distribution_tariff, offpeak_hours = excluded.offpeak_hours,
               activation_date = excluded.activation_date, status = excluded.status, fetched_at = excluded.fetched_at"))
        .bind(pdl.as_str())
        .bind(contract.subscribed_kva)
        .bind(contract.distribution_tariff.as_deref())
        .bind(contract.offpeak_hours.as_deref())
        .bind(contract.activation_date)
        .bind(contract.status.as_deref())
        .bind(fetched_at)
        .execute(&self.pool)
        .await?;
        self.changed();
        Ok(())
    }

    /// The last contract received for `pdl`, and when.
    pub async fn contract(
        &self,
        pdl: &Pdl,
    ) -> Result<Option<(Contract, DateTime<Utc>)>, StoreError> {
        let row: Option<ContractRow> = Sql::new(Text::both("SELECT subscribed_kva, distribution_tariff, offpeak_hours, activation_date, status, fetched_at
             FROM contract WHERE pdl = $1"))
        .bind(pdl.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| {
            let contract = Contract {
                subscribed_kva: row.subscribed_kva.and_then(|kva| u32::try_from(kva).ok()),
                distribution_tariff: row.distribution_tariff,
                offpeak_hours: row.offpeak_hours,
                activation_date: row.activation_date,
                status: row.status,
            };
            (contract, row.fetched_at)
        }))
    }

    /// Records the account's meters (v2) as listed at `fetched_at`: the table holds the last
    /// list, so a meter that left the account is no longer in it.
    pub async fn save_meters(
        &self,
        infos: &[MeterInfo],
        fetched_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let listed = infos.iter().map(|info| {
            Sql::new(Text::both("INSERT INTO meter (pdl, activation_date, oldest_available_date, fetched_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (pdl) DO UPDATE SET activation_date = excluded.activation_date,
                   oldest_available_date = excluded.oldest_available_date, fetched_at = excluded.fetched_at"))
            .bind(info.pdl.to_string())
            .bind(info.activation_date)
            .bind(info.oldest_available_date)
            .bind(fetched_at)
        });
        let forget = std::iter::once(Sql::new(Text::both("DELETE FROM meter")));
        self.save_answer(forget, listed).await
    }

    /// What the account last said about `pdl`, and when.
    pub async fn meter(&self, pdl: &Pdl) -> Result<Option<(MeterInfo, DateTime<Utc>)>, StoreError> {
        let row: Option<MeterRow> = Sql::new(Text::both(
            "SELECT activation_date, oldest_available_date, fetched_at FROM meter WHERE pdl = $1",
        ))
        .bind(pdl.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| {
            let info = MeterInfo {
                pdl: pdl.clone(),
                activation_date: row.activation_date,
                oldest_available_date: row.oldest_available_date,
            };
            (info, row.fetched_at)
        }))
    }
}
