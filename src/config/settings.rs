//! Validated, typed settings: what the rest of the program works with.

use std::path::PathBuf;

use url::Url;

use super::Secret;
use crate::calendar::TimeRange;
use crate::mqtt::broker::{BrokerAddress, TlsFiles};

/// Public URL of the v2 gateway API.
pub const V2_DEFAULT_URL: &str = "https://www.v2.myelectricaldata.fr/api";
/// Public URL of the v1 gateway.
pub const V1_DEFAULT_URL: &str = "https://myelectricaldata.fr";
/// Where the Supervisor answers inside an add-on container.
pub const SUPERVISOR_DEFAULT_URL: &str = "http://supervisor";

#[derive(Debug, Clone)]
pub struct Settings {
    pub meters: Vec<MeterSettings>,
    pub gateway: GatewaySettings,
    pub mqtt: MqttSettings,
    pub supervisor: SupervisorSettings,
    pub tempo: bool,
    pub ecowatt: bool,
    pub language: Language,
    pub log_level: LogLevel,
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayGeneration {
    V1,
    V2,
}

#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub generation: GatewayGeneration,
    pub base_url: Url,
    /// v2 account credential.
    pub client_secret: Option<Secret>,
}

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

#[derive(Debug, Clone)]
pub struct MeterSettings {
    pub pdl: Pdl,
    /// Device name suffix (`MyElectricalData - {name}`).
    pub name: String,
    /// v1 gateway token of this meter.
    pub token: Option<Secret>,
    pub consumption: bool,
    pub production: bool,
    pub load_curve: bool,
    pub tariff: Tariff,
    pub prices: Prices,
    /// Overrides the contract's off-peak hours.
    pub offpeak_hours: Option<Vec<TimeRange>>,
    /// The gateway publishes Tempo prices (v1) for those the options leave out.
    pub tempo_prices_from_gateway: bool,
}

#[derive(Debug, Clone)]
pub struct MqttSettings {
    /// `false`: sync only, publish nothing (`MQTT_ENABLED=false`).
    pub enabled: bool,
    /// From `mqtt_broker`; `None` means "ask the Supervisor".
    pub broker: Option<BrokerAddress>,
    pub tls_files: TlsFiles,
    pub topic_prefix: String,
    pub qos: u8,
    pub retain: bool,
    pub discovery: bool,
    pub discovery_prefix: String,
}

#[derive(Debug, Clone)]
pub struct SupervisorSettings {
    pub api: Url,
    pub token: Option<Secret>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Fr,
    En,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_filter(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}
