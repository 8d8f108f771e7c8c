//! A range of calendar days, as the gateway is asked for them.

use chrono::NaiveDate;

/// The days `[start, end)`: `end` is exclusive, as in every gateway route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DayRange {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl DayRange {
    pub fn new(start: NaiveDate, end: NaiveDate) -> Self {
        Self { start, end }
    }

    /// Every day of the range, in order.
    pub fn days(self) -> impl Iterator<Item = NaiveDate> {
        self.start.iter_days().take_while(move |d| *d < self.end)
    }

    pub fn contains(self, day: NaiveDate) -> bool {
        self.start <= day && day < self.end
    }
}
