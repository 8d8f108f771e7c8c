//! Energy as Enedis counts it: daily values, daily peaks and load-curve points as the gateway
//! answers them, and as they are kept (with when they were fetched).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// A daily energy series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SeriesKind {
    Consumption,
    Production,
}

impl SeriesKind {
    pub const ALL: [SeriesKind; 2] = [SeriesKind::Consumption, SeriesKind::Production];

    pub fn as_str(self) -> &'static str {
        match self {
            SeriesKind::Consumption => "consumption",
            SeriesKind::Production => "production",
        }
    }
}

/// One day of energy, in Wh as Enedis counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyReading {
    pub date: NaiveDate,
    pub wh: i64,
}

/// A successful answer for a date range. Days of the range absent from `readings` are not
/// published yet (they are not zero).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DailySeries {
    pub quality: Option<String>,
    pub readings: Vec<DailyReading>,
}

/// The maximum power of one day, in VA, and when it happened (naive Paris time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPowerReading {
    pub date: NaiveDate,
    pub va: i64,
    pub at: Option<NaiveDateTime>,
}

/// One load-curve point: the average power over the interval that ends at `end`, a naive
/// Paris wall-clock time (which repeats in the autumn DST hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadCurvePoint {
    pub end: NaiveDateTime,
    pub watts: i64,
    pub interval_minutes: u32,
}

/// A known day of a series: its energy, its quality and when it was fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct DayEnergy {
    pub date: NaiveDate,
    pub wh: i64,
    pub quality: Option<String>,
    pub fetched_at: DateTime<Utc>,
}

/// A known daily peak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayPeak {
    pub date: NaiveDate,
    pub va: i64,
    pub at: Option<NaiveDateTime>,
    pub fetched_at: DateTime<Utc>,
}

/// One load-curve interval, placed by its start: the instant, and the Paris wall-clock time
/// (which repeats in the autumn DST hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurveInterval {
    pub start: DateTime<Utc>,
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
