//! Energy-dashboard history: the stored days of each meter as Home Assistant long-term
//! statistics, so that each kWh lands in the hour (or day) it was really used instead of the
//! hour its MQTT state arrived.
//!
//! What to import is pure: [`slots`] picks the days after the last row Home Assistant holds
//! and their shape (hourly from a complete load curve, else one row a day), [`rows`] values
//! them and continues the sums, [`metadata`] and [`import_message`] say it in the form the
//! Home Assistant release accepts.

mod client;
mod cost;
mod metadata;
mod rows;

pub use client::{HaError, HomeAssistant};
pub use cost::Pricing;
pub use metadata::{
    HaVersion, ROWS_PER_MESSAGE, SOURCE, StatisticKind, import_message, metadata, statistic_id,
    statistic_name,
};
pub use rows::{CURVE_WAIT_DAYS, LastRow, SeriesHistory, Slot, StatisticRow, chunks, rows, slots};
