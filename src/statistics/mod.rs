//! Energy-dashboard history: the stored days of each meter as Home Assistant long-term
//! statistics, so that each kWh lands in the hour (or day) it was really used instead of the
//! hour its MQTT state arrived.
//!
//! What to import is pure: [`slots`] picks the days after the last row Home Assistant holds
//! and their shape (hourly from a complete load curve, else one row a day), [`rows`] values
//! them (energy, or its cost by [`Pricing`]) and continues the sums, [`metadata`] and
//! [`import_message`] say it in the form the Home Assistant release accepts. [`import_meter`]
//! runs it for each statistic of a meter over a [`HomeAssistant`] connection: the last row,
//! then the store read from there, then the rows in whole-day messages.
//!
//! [`crate::pipeline::Pipeline::import_statistics`] runs it for every meter after a sync, over
//! the websocket `Settings::statistics_websocket` names (the option `ha_url`, else the
//! Supervisor's proxy).

mod client;
mod cost;
mod job;
mod metadata;
mod rows;

pub use client::{HaError, HomeAssistant, last_row_in};
pub use cost::Pricing;
pub use job::{ImportError, ImportReport, import_meter, statistics_of};
pub use metadata::{
    HaVersion, ROWS_PER_MESSAGE, SOURCE, StatisticKind, import_message, metadata, statistic_id,
    statistic_name,
};
pub use rows::{CURVE_WAIT_DAYS, LastRow, SeriesHistory, Slot, StatisticRow, chunks, rows, slots};
