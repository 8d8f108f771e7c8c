//! Which stored days become rows of a long-term statistic, in which shape, and their sums.
//!
//! A day with a complete load curve is imported as hourly rows (each hour the half-hour
//! points that start in it, 23 or 25 of them on DST days); any other day as one row at
//! midnight Paris holding the whole day. Rows continue in order after the last row Home
//! Assistant holds, so a day is imported once, in one shape, and no sum already there moves.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, NaiveDate, TimeDelta, Utc};

use crate::calendar::{add_days, day_minutes, paris_date, start_of_day, sub_days};
use crate::model::CurveInterval;
use crate::sync::RECENT_RETRY_DAYS;

/// Days a series with a load curve waits for it before it is imported as one daily row.
pub const CURVE_WAIT_DAYS: u64 = 3;

/// One row of a sum statistic: the value of the hour (or day) starting at `start`, and the
/// running total since the statistic's first row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatisticRow {
    pub start: DateTime<Utc>,
    pub state: f64,
    pub sum: f64,
}

/// The last row Home Assistant holds of a statistic: where the next import continues.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LastRow {
    pub start: DateTime<Utc>,
    pub sum: f64,
}

/// What the store holds of one series of a meter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesHistory {
    /// Each recorded day: its energy (Wh), or `None` for a day asked and not published yet.
    pub days: BTreeMap<NaiveDate, Option<i64>>,
    /// The load curve of the days that have some, each interval placed by its start.
    pub curve: BTreeMap<NaiveDate, Vec<CurveInterval>>,
    /// The meter fetches its load curve: a day waits for it a little.
    pub load_curve: bool,
}

/// The span a row covers: an hour of the load curve, or a whole day.
#[derive(Debug, Clone, PartialEq)]
pub enum Slot<'a> {
    Hour {
        start: DateTime<Utc>,
        intervals: &'a [CurveInterval],
    },
    Day {
        date: NaiveDate,
        wh: i64,
    },
}

impl Slot<'_> {
    pub fn start(&self) -> DateTime<Utc> {
        match self {
            Slot::Hour { start, .. } => *start,
            Slot::Day { date, .. } => start_of_day(*date).with_timezone(&Utc),
        }
    }

    /// The energy of the slot, in kWh.
    pub fn kwh(&self) -> f64 {
        match self {
            Slot::Hour { intervals, .. } => intervals.iter().map(|i| i.wh()).sum::<f64>() / 1000.0,
            Slot::Day { wh, .. } => *wh as f64 / 1000.0,
        }
    }
}

/// The slots to import after `last` (from the first stored day when Home Assistant has
/// none), in order. It stops at the first day that may still change — recent and not
/// published yet, or waiting for its curve — so that sums stay in order; older gaps are
/// skipped (Enedis will not fill them). Today is never imported.
pub fn slots<'a>(
    history: &'a SeriesHistory,
    last: Option<LastRow>,
    today: NaiveDate,
) -> Vec<Slot<'a>> {
    let first = match last {
        Some(last) => add_days(paris_date(last.start), 1),
        None => match history.days.iter().find(|(_, wh)| wh.is_some()) {
            Some((day, _)) => *day,
            None => return Vec::new(),
        },
    };
    let mut slots = Vec::new();
    for day in first.iter_days().take_while(|d| *d < today) {
        match day_shape(history, day, today) {
            DayShape::Wait => break,
            DayShape::Skip => {}
            DayShape::Daily(wh) => slots.push(Slot::Day { date: day, wh }),
            DayShape::Hourly(intervals) => slots.extend(hours(intervals)),
        }
    }
    slots
}

enum DayShape<'a> {
    Wait,
    Skip,
    Daily(i64),
    Hourly(&'a [CurveInterval]),
}

fn day_shape(history: &SeriesHistory, day: NaiveDate, today: NaiveDate) -> DayShape<'_> {
    let recent = |days| day >= sub_days(today, days);
    let Some(Some(wh)) = history.days.get(&day) else {
        return match recent(RECENT_RETRY_DAYS) {
            true => DayShape::Wait,
            false => DayShape::Skip,
        };
    };
    let curve = history.curve.get(&day).filter(|c| is_complete(day, c));
    match (history.load_curve, curve) {
        (true, Some(intervals)) => DayShape::Hourly(intervals),
        (true, None) if recent(CURVE_WAIT_DAYS) => DayShape::Wait,
        _ => DayShape::Daily(*wh),
    }
}

/// The curve covers the whole day (23, 24 or 25 hours).
fn is_complete(day: NaiveDate, intervals: &[CurveInterval]) -> bool {
    intervals.iter().map(|i| i64::from(i.minutes)).sum::<i64>() >= day_minutes(day)
}

/// A day's intervals (in time order) grouped by the hour they start in.
fn hours(intervals: &[CurveInterval]) -> Vec<Slot<'_>> {
    let hour_of = |i: &CurveInterval| i.start.duration_trunc(TimeDelta::hours(1)).ok();
    intervals
        .chunk_by(|a, b| hour_of(a) == hour_of(b))
        .map(|group| Slot::Hour {
            start: hour_of(&group[0]).unwrap_or(group[0].start),
            intervals: group,
        })
        .collect()
}

/// The rows of `slots`, each valued by `value` (its energy, its cost…), with sums that
/// continue from `last`; a slot `value` cannot price gets no row.
pub fn rows(
    slots: &[Slot<'_>],
    last: Option<LastRow>,
    value: impl Fn(&Slot<'_>) -> Option<f64>,
) -> Vec<StatisticRow> {
    let mut sum = last.map_or(0.0, |l| l.sum);
    slots
        .iter()
        .filter_map(|slot| {
            let state = value(slot)?;
            sum += state;
            Some(StatisticRow {
                start: slot.start(),
                state,
                sum,
            })
        })
        .collect()
}

/// `rows` cut into messages of at most `max` rows, each made of whole Paris days: Home
/// Assistant's last row then always ends a day, where the next import starts (a message a
/// fault interrupts never leaves half a day behind).
pub fn chunks(rows: &[StatisticRow], max: usize) -> Vec<&[StatisticRow]> {
    let day_of = |row: &StatisticRow| paris_date(row.start);
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut day_start = 0;
    for (i, row) in rows.iter().enumerate() {
        if i > 0 && day_of(row) != day_of(&rows[i - 1]) {
            day_start = i;
        }
        if i + 1 - start > max && day_start > start {
            chunks.push(&rows[start..day_start]);
            start = day_start;
        }
    }
    if start < rows.len() {
        chunks.push(&rows[start..]);
    }
    chunks
}

#[cfg(test)]
mod tests;
