//! What the gateway tells us, whatever its generation, and how it fails.

use chrono::{NaiveDate, NaiveDateTime};

use crate::config::Pdl;

/// A daily energy series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SeriesKind {
    Consumption,
    Production,
}

impl SeriesKind {
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

/// A Tempo day colour, whatever case or language the gateway used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TempoColor {
    Blue,
    White,
    Red,
}

impl TempoColor {
    /// `BLUE`, `blue`, `Bleu`, `BLEU` → blue; likewise white/blanc and red/rouge.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_uppercase().as_str() {
            "BLUE" | "BLEU" => Some(Self::Blue),
            "WHITE" | "BLANC" => Some(Self::White),
            "RED" | "ROUGE" => Some(Self::Red),
            _ => None,
        }
    }

    /// The name the topics use: `BLEU`, `BLANC`, `ROUGE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blue => "BLEU",
            Self::White => "BLANC",
            Self::Red => "ROUGE",
        }
    }

    pub const ALL: [TempoColor; 3] = [Self::Blue, Self::White, Self::Red];
}

/// The colour of one Tempo day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TempoDay {
    pub date: NaiveDate,
    pub color: TempoColor,
}

/// The EcoWatt signal of one day: the day's level, its message and the level of each hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcowattDay {
    pub date: NaiveDate,
    /// 1 green, 2 orange, 3 red.
    pub level: u8,
    pub message: Option<String>,
    /// Level of each hour, from 00:00.
    pub hours: Vec<u8>,
}

/// Tempo prices in EUR/kWh as v1 publishes them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TempoPrices {
    pub blue_hc: Option<f64>,
    pub blue_hp: Option<f64>,
    pub white_hc: Option<f64>,
    pub white_hp: Option<f64>,
    pub red_hc: Option<f64>,
    pub red_hp: Option<f64>,
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

/// Why a gateway call failed. Messages are one line, say what the user can do, and never
/// contain a credential.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GatewayError {
    #[error(
        "the gateway rejected the credential ({0}): check client_secret (or the meter's token)"
    )]
    Unauthorized(String),
    #[error(
        "the gateway refused access to this meter ({0}): redo the consent on myelectricaldata.fr"
    )]
    AccessDenied(String),
    #[error("gateway quota reached ({0}): the program waits for the daily reset")]
    QuotaReached(String),
    #[error("the gateway asked for a period before the meter's activation ({0})")]
    BeforeActivation(String),
    #[error("the gateway answered {code}: {message}")]
    Api { code: String, message: String },
    #[error("the gateway failed with HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error(
        "the gateway answered HTTP {status} with a body that is not the expected JSON ({detail})"
    )]
    Malformed { status: u16, detail: String },
    #[error("the gateway did not answer within {0} s")]
    Timeout(f64),
    #[error("cannot reach the gateway at {host}: {reason}")]
    Unreachable { host: String, reason: String },
    #[error("{0}")]
    Unsupported(String),
}

impl GatewayError {
    /// Nothing more can be asked in this sync: the credential, the consent or the quota.
    pub fn stops_the_sync(&self) -> bool {
        matches!(
            self,
            GatewayError::Unauthorized(_)
                | GatewayError::AccessDenied(_)
                | GatewayError::QuotaReached(_)
        )
    }

    /// Worth retrying later without any change from the user.
    pub fn is_transient(&self) -> bool {
        match self {
            GatewayError::Timeout(_)
            | GatewayError::Unreachable { .. }
            | GatewayError::Malformed { .. }
            | GatewayError::QuotaReached(_) => true,
            GatewayError::Http { status, .. } => *status >= 500 || *status == 429,
            GatewayError::Api { code, .. } => {
                matches!(
                    code.as_str(),
                    "ENEDIS_UNAVAILABLE" | "ENEDIS_ERROR" | "PARTIAL_DATA"
                )
            }
            GatewayError::Unauthorized(_)
            | GatewayError::AccessDenied(_)
            | GatewayError::BeforeActivation(_)
            | GatewayError::Unsupported(_) => false,
        }
    }
}
