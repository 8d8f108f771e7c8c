//! The domain model: the types every layer speaks — meters and their ids, secrets, tariffs,
//! energy days and load-curve intervals, Tempo and EcoWatt, broker addresses and MQTT
//! messages.
//!
//! This is the ground floor: it depends on nothing else in the crate, and every other module
//! may use it. Types here hold data and the rules that belong to the data itself (a PDL is 14
//! digits, a colour has three names); how data is fetched, stored or shown lives above.

mod broker;
mod days;
mod energy;
mod grid;
mod message;
mod meter;
mod secret;
mod text;

pub use broker::{BrokerAddress, BrokerUrlError, TlsFiles};
pub use days::DayRange;
pub use energy::{
    CurveInterval, DailyReading, DailySeries, DayEnergy, DayPeak, LoadCurvePoint, MaxPowerReading,
    SeriesKind,
};
pub use grid::{EcowattDay, TempoColor, TempoDay, TempoPrices};
pub use message::{Message, MessageKind, Qos};
pub use meter::{AccessInfo, Contract, MeterInfo, Pdl, Prices, Tariff, TimeRange};
pub use secret::{REDACTED, RedactedLines, Secret, redact};
pub use text::{QUOTED_CHARS, one_line};
