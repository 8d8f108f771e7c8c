//! What an answer of the gateway may bring into the program, whatever the generation (issue
//! 10): one absurd value must not poison the store, and an answer beyond its question must not
//! rewrite history. Pure: the parsers call the value checks item by item, the facade
//! ([`super::Gateway`]) then keeps what falls inside the asked window and logs ONE line per
//! answer that lost anything, with how many items and why.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use serde::de::{Deserialize, Deserializer, IgnoredAny, SeqAccess, Visitor};

use crate::model::{DailySeries, EcowattDay, LoadCurvePoint, MaxPowerReading, TempoDay};

/// The most a household Linky meter can deliver: 50 kW (a C5 meter's top subscription is
/// 36 kVA; 50 leaves margin), in W or VA.
pub const MAX_METER_WATTS: f64 = 50_000.0;
/// A day lasts at most 25 hours (autumn DST change): at most 50 kW × 25 h = 1 250 kWh a day.
pub const MAX_DAILY_WH: f64 = MAX_METER_WATTS * 25.0;
/// The interval lengths Enedis uses for load curves, in minutes.
pub const CURVE_INTERVAL_MINUTES: [u32; 5] = [5, 10, 15, 30, 60];
/// Items parsed per answer at most: a 7-day load curve at 5 minutes holds 7 × 25 × 12 points,
/// far more than a 365-day daily answer (366); beyond, items are skipped without being kept,
/// so that parsing cannot take memory in proportion to a broken answer.
pub const MAX_ITEMS: usize = 7 * 25 * 12;
/// The most a kWh can be sold for, in EUR (the dearest regulated price, Tempo red peak, is
/// under 1 EUR): a price beyond is the server's mistake, not a tariff.
pub const MAX_PRICE_EUR_PER_KWH: f64 = 10.0;
/// The EcoWatt levels RTE defines: 1 green, 2 orange, 3 red.
pub const ECOWATT_LEVELS: std::ops::RangeInclusive<u8> = 1..=3;
/// Hours in an EcoWatt day at most (25 on the autumn DST change).
const MAX_ECOWATT_HOURS: usize = 25;

/// Why an item of an answer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    UnreadableValue,
    UnreadableDate,
    Implausible,
    OddInterval,
    OutsideAsked,
    UnknownColor,
    LevelOutOfRange,
    BeyondItemLimit,
}

impl Reason {
    fn text(self) -> &'static str {
        match self {
            Reason::UnreadableValue => "unreadable value",
            Reason::UnreadableDate => "unreadable date",
            Reason::Implausible => "value out of the meter's range",
            Reason::OddInterval => "interval length Enedis does not use",
            Reason::OutsideAsked => "outside the asked days (or not over yet)",
            Reason::UnknownColor => "unknown Tempo colour",
            Reason::LevelOutOfRange => "EcoWatt level not 1..=3",
            Reason::BeyondItemLimit => "beyond the items an answer may hold",
        }
    }
}

/// The items an answer lost: how many for each reason, and the first one as an example.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dropped {
    reasons: BTreeMap<Reason, (usize, String)>,
}

impl Dropped {
    /// One more item refused for `reason`; `item` describes it (its day, its value).
    pub fn add(&mut self, reason: Reason, item: impl fmt::Display) {
        self.add_many(reason, 1, item);
    }

    pub fn add_many(&mut self, reason: Reason, count: usize, item: impl fmt::Display) {
        if count == 0 {
            return;
        }
        let entry = self
            .reasons
            .entry(reason)
            .or_insert_with(|| (0, example(&item.to_string())));
        entry.0 += count;
    }

    pub fn is_empty(&self) -> bool {
        self.reasons.is_empty()
    }

    pub fn count(&self) -> usize {
        self.reasons.values().map(|(n, _)| n).sum()
    }

    pub fn count_of(&self, reason: Reason) -> usize {
        self.reasons.get(&reason).map_or(0, |(n, _)| *n)
    }

    /// Logs the one line of an answer that lost items; `answer` names it (meter, series, days).
    pub fn warn(&self, answer: fmt::Arguments<'_>) {
        if !self.is_empty() {
            tracing::warn!("{answer}: {self}");
        }
    }
}

/// An item as the log line shows it: on one line and short, whatever text the server sent.
fn example(text: &str) -> String {
    crate::model::one_line(text, 60)
}

/// `3 items refused: 2 outside the asked days (first: 2024-01-09), 1 …`.
impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.count();
        write!(
            f,
            "{count} item{} refused",
            if count == 1 { "" } else { "s" }
        )?;
        for (i, (reason, (n, first))) in self.reasons.iter().enumerate() {
            let sep = if i == 0 { ": " } else { ", " };
            write!(f, "{sep}{n} {} (first: {first})", reason.text())?;
        }
        Ok(())
    }
}

/// Parsed items and those refused on the way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed<T> {
    pub items: T,
    pub dropped: Dropped,
}

impl<T> Parsed<T> {
    /// The items `parse` builds, with what it refused on the way.
    pub fn with(parse: impl FnOnce(&mut Dropped) -> T) -> Self {
        let mut dropped = Dropped::default();
        let items = parse(&mut dropped);
        Self { items, dropped }
    }
}

/// The days an answer may speak of: those asked, `[start, end)`, and for Enedis data none from
/// `today` on (a day is only measured once it is over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Window {
    pub fn asked(start: NaiveDate, end: NaiveDate) -> Self {
        Self { start, end }
    }

    /// Enedis measures: the asked days before `today`.
    pub fn measured(start: NaiveDate, end: NaiveDate, today: NaiveDate) -> Self {
        Self::asked(start, end.min(today))
    }

    pub fn contains(self, day: NaiveDate) -> bool {
        self.start <= day && day < self.end
    }

    /// A load-curve interval lies wholly inside: it starts on or after the first day's
    /// midnight and ends at the latest at the end's midnight (naive Paris time).
    fn holds_interval(self, end: NaiveDateTime, minutes: u32) -> bool {
        let Some(start) = end.checked_sub_signed(Duration::minutes(i64::from(minutes))) else {
            return false;
        };
        start >= self.start.and_time(NaiveTime::MIN) && end <= self.end.and_time(NaiveTime::MIN)
    }
}

// --- values, item by item (called by the parsers) -------------------------------------------

/// A day's energy in Wh: finite, not negative, at most [`MAX_DAILY_WH`].
pub fn daily_wh(value: Option<f64>) -> Result<i64, Reason> {
    bounded(value, 0.0, MAX_DAILY_WH)
}

/// A load-curve point's average power in W: finite, not negative, at most the meter's.
pub fn curve_watts(value: Option<f64>) -> Result<i64, Reason> {
    bounded(value, 0.0, MAX_METER_WATTS)
}

/// A day's maximum power in VA: above zero (a peak of 0 VA is no measure), at most the meter's.
pub fn max_power_va(value: Option<f64>) -> Result<i64, Reason> {
    let va = bounded(value, 0.0, MAX_METER_WATTS)?;
    if va > 0 {
        Ok(va)
    } else {
        Err(Reason::Implausible)
    }
}

/// `value` rounded, when readable and within `[min, max]`; the bounds are checked on the float,
/// before any conversion (1e308 must not become i64::MAX).
fn bounded(value: Option<f64>, min: f64, max: f64) -> Result<i64, Reason> {
    let value = value
        .filter(|v| v.is_finite())
        .ok_or(Reason::UnreadableValue)?;
    if (min..=max).contains(&value) {
        // In range, so the conversion is exact up to rounding.
        Ok(value.round() as i64)
    } else {
        Err(Reason::Implausible)
    }
}

/// A load-curve interval length Enedis uses; a point without one is the usual 30 minutes.
pub fn curve_interval(minutes: Option<u32>, stated: bool) -> Result<u32, Reason> {
    match (minutes, stated) {
        (None, false) => Ok(30),
        (Some(m), _) if CURVE_INTERVAL_MINUTES.contains(&m) => Ok(m),
        _ => Err(Reason::OddInterval),
    }
}

/// An EcoWatt day whose level and hour levels are all RTE's.
pub fn ecowatt_levels_valid(day: &EcowattDay) -> bool {
    ECOWATT_LEVELS.contains(&day.level)
        && day.hours.len() <= MAX_ECOWATT_HOURS
        && day.hours.iter().all(|h| ECOWATT_LEVELS.contains(h))
}

// --- the asked window, per answer (applied by the facade) -----------------------------------

/// Keeps the items `inside` the window; counts the others.
fn keep<T>(
    items: Vec<T>,
    dropped: &mut Dropped,
    inside: impl Fn(&T) -> bool,
    describe: impl Fn(&T) -> String,
) -> Vec<T> {
    let (kept, refused): (Vec<T>, Vec<T>) = items.into_iter().partition(|item| inside(item));
    if let Some(first) = refused.first() {
        dropped.add_many(Reason::OutsideAsked, refused.len(), describe(first));
    }
    kept
}

pub fn daily(mut series: DailySeries, window: Window, dropped: &mut Dropped) -> DailySeries {
    let readings = std::mem::take(&mut series.readings);
    series.readings = keep(
        readings,
        dropped,
        |r| window.contains(r.date),
        |r| r.date.to_string(),
    );
    series
}

pub fn max_power(
    peaks: Vec<MaxPowerReading>,
    window: Window,
    dropped: &mut Dropped,
) -> Vec<MaxPowerReading> {
    keep(
        peaks,
        dropped,
        |p| window.contains(p.date),
        |p| p.date.to_string(),
    )
}

pub fn load_curve(
    points: Vec<LoadCurvePoint>,
    window: Window,
    dropped: &mut Dropped,
) -> Vec<LoadCurvePoint> {
    let inside = |p: &LoadCurvePoint| window.holds_interval(p.end, p.interval_minutes);
    keep(points, dropped, inside, |p| p.end.to_string())
}

pub fn tempo(days: Vec<TempoDay>, window: Window, dropped: &mut Dropped) -> Vec<TempoDay> {
    keep(
        days,
        dropped,
        |d| window.contains(d.date),
        |d| d.date.to_string(),
    )
}

pub fn ecowatt(days: Vec<EcowattDay>, window: Window, dropped: &mut Dropped) -> Vec<EcowattDay> {
    keep(
        days,
        dropped,
        |d| window.contains(d.date),
        |d| d.date.to_string(),
    )
}

// --- parsing with a bound -------------------------------------------------------------------

/// A JSON list of which at most [`MAX_ITEMS`] items are kept; the rest are read past without
/// being built, and counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounded<T> {
    pub items: Vec<T>,
    pub skipped: usize,
}

impl<T> Default for Bounded<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            skipped: 0,
        }
    }
}

impl<T> Bounded<T> {
    /// The items, the skipped ones counted in `dropped`.
    pub fn into_items(self, dropped: &mut Dropped) -> Vec<T> {
        let first = format!("item {}", MAX_ITEMS + 1);
        dropped.add_many(Reason::BeyondItemLimit, self.skipped, first);
        self.items
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Bounded<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(BoundedVisitor(PhantomData))
    }
}

struct BoundedVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for BoundedVisitor<T> {
    type Value = Bounded<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut bounded = Bounded::default();
        while bounded.items.len() < MAX_ITEMS {
            match seq.next_element()? {
                Some(item) => bounded.items.push(item),
                None => return Ok(bounded),
            }
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {
            bounded.skipped += 1;
        }
        Ok(bounded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn values_are_checked_as_floats_before_any_conversion() {
        assert_eq!(daily_wh(Some(1e308)), Err(Reason::Implausible));
        assert_eq!(daily_wh(Some(-5.0)), Err(Reason::Implausible));
        assert_eq!(daily_wh(Some(f64::NAN)), Err(Reason::UnreadableValue));
        assert_eq!(daily_wh(None), Err(Reason::UnreadableValue));
        assert_eq!(daily_wh(Some(1_250_000.0)), Ok(1_250_000));
        assert_eq!(daily_wh(Some(0.0)), Ok(0));
        assert_eq!(curve_watts(Some(49_999.6)), Ok(50_000));
        assert_eq!(curve_watts(Some(50_001.0)), Err(Reason::Implausible));
        assert_eq!(max_power_va(Some(0.0)), Err(Reason::Implausible));
        assert_eq!(max_power_va(Some(6120.0)), Ok(6120));
    }

    #[test]
    fn only_enedis_interval_lengths_pass() {
        assert_eq!(curve_interval(Some(15), true), Ok(15));
        assert_eq!(curve_interval(None, false), Ok(30));
        assert_eq!(curve_interval(None, true), Err(Reason::OddInterval));
        assert_eq!(curve_interval(Some(7), true), Err(Reason::OddInterval));
        assert_eq!(
            curve_interval(Some(5_999_940), true),
            Err(Reason::OddInterval)
        );
    }

    #[test]
    fn the_measured_window_stops_before_today() {
        let window = Window::measured(day("2024-11-30"), day("2024-12-05"), day("2024-12-01"));
        assert!(window.contains(day("2024-11-30")));
        assert!(!window.contains(day("2024-12-01")));
        let at = |t: &str| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").unwrap();
        assert!(window.holds_interval(at("2024-12-01 00:00:00"), 30));
        assert!(!window.holds_interval(at("2024-11-30 00:00:00"), 30));
        assert!(!window.holds_interval(at("2024-12-01 00:10:00"), 10));
    }

    #[test]
    fn one_line_per_answer_with_counts_and_reasons() {
        let mut dropped = Dropped::default();
        assert_eq!(dropped.to_string(), "0 items refused");
        dropped.add(Reason::Implausible, "2024-01-02: 1e308");
        dropped.add_many(Reason::OutsideAsked, 2, "2024-01-09");
        dropped.add(Reason::Implausible, "2024-01-03: -5");
        assert_eq!(
            dropped.to_string(),
            "4 items refused: 2 value out of the meter's range (first: 2024-01-02: 1e308), \
             2 outside the asked days (or not over yet) (first: 2024-01-09)"
        );
        assert!(!dropped.to_string().contains('\n'));
        let mut long = Dropped::default();
        long.add(
            Reason::UnreadableDate,
            format!("2024\n{}", "9".repeat(10_000)),
        );
        let line = long.to_string();
        assert!(!line.contains('\n') && line.len() < 200, "{line}");
    }

    #[test]
    fn a_list_beyond_the_limit_is_read_past_not_kept() {
        let json = format!("[{}]", vec!["1"; MAX_ITEMS + 5].join(","));
        let bounded: Bounded<u8> = serde_json::from_str(&json).unwrap();
        assert_eq!((bounded.items.len(), bounded.skipped), (MAX_ITEMS, 5));
        let mut dropped = Dropped::default();
        assert_eq!(bounded.into_items(&mut dropped).len(), MAX_ITEMS);
        assert_eq!(dropped.count_of(Reason::BeyondItemLimit), 5);
    }
}
