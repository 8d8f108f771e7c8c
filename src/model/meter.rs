//! A Linky meter: its id, its tariff and prices, what the account and the contract say of it.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// A usage point id (PDL/PRM): always 14 digits, kept as text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pdl(String);

impl Pdl {
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        (text.len() == 14 && text.bytes().all(|b| b.is_ascii_digit())).then(|| Self(text.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Pdl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tariff {
    Base,
    HcHp,
    Tempo,
}

impl Tariff {
    pub fn as_str(self) -> &'static str {
        match self {
            Tariff::Base => "BASE",
            Tariff::HcHp => "HC_HP",
            Tariff::Tempo => "TEMPO",
        }
    }
}

/// Prices in EUR/kWh, each known only when the user gave it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prices {
    pub base: Option<f64>,
    pub hc: Option<f64>,
    pub hp: Option<f64>,
    pub tempo_blue_hc: Option<f64>,
    pub tempo_blue_hp: Option<f64>,
    pub tempo_white_hc: Option<f64>,
    pub tempo_white_hp: Option<f64>,
    pub tempo_red_hc: Option<f64>,
    pub tempo_red_hp: Option<f64>,
}

/// One off-peak range of the day, e.g. 22:00 → 06:00 (it may cross midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl TimeRange {
    /// Whether a wall-clock time falls in the range (start included, end excluded).
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start <= self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

/// A meter as the account lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterInfo {
    pub pdl: Pdl,
    /// Enedis serves nothing before this day.
    pub activation_date: Option<NaiveDate>,
    pub oldest_available_date: Option<NaiveDate>,
}

impl MeterInfo {
    /// The first day worth asking for.
    pub fn first_available_day(&self) -> Option<NaiveDate> {
        match (self.activation_date, self.oldest_available_date) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// What the contract says about a meter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contract {
    pub subscribed_kva: Option<u32>,
    pub distribution_tariff: Option<String>,
    /// As Enedis writes it: `HC (22H00-6H00)`.
    pub offpeak_hours: Option<String>,
    pub activation_date: Option<NaiveDate>,
    pub status: Option<String>,
}

/// The consent and quota of a meter, as the v1 gateway reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessInfo {
    pub valid: bool,
    pub consent_expiration: Option<NaiveDateTime>,
    pub quota_used: Option<u32>,
    pub quota_limit: Option<u32>,
    pub quota_reached: bool,
    /// The gateway's explanation when the access is not valid.
    pub information: Option<String>,
}
