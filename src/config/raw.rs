//! The configuration as read, before validation: every key optional and loosely typed, so that
//! validation can report every problem at once and a numeric-looking PDL or token stays text.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A scalar as it arrives from JSON, the environment or a flag.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    /// The scalar as text, as the user typed it (a number keeps its digits).
    pub fn as_text(&self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Str(s) => s.clone(),
        }
    }
}

/// Every top-level key the program reads (options file, or the environment and flags for
/// `mqtt_enabled`, the Supervisor token and API, and `data_dir`). The add-on panel's schema
/// is checked against this list.
pub const OPTION_KEYS: &[&str] = &[
    "meters",
    "gateway",
    "client_secret",
    "gateway_url",
    "mqtt_enabled",
    "mqtt_broker",
    "mqtt_topic_prefix",
    "mqtt_qos",
    "mqtt_retain",
    "mqtt_ha_discovery",
    "mqtt_ha_discovery_prefix",
    "mqtt_ca_cert",
    "mqtt_client_cert",
    "mqtt_client_key",
    "tempo",
    "ecowatt",
    "language",
    "log_level",
    "energy_statistics",
    "ha_url",
    "ha_token",
    "supervisor_token",
    "hassio_token",
    "supervisor_api",
    "data_dir",
    "web_port",
    "database_url",
    "web_bind",
    "web_ingress",
];

/// Every key of a `meters` entry.
pub const METER_KEYS: &[&str] = &[
    "pdl",
    "name",
    "token",
    "consumption",
    "production",
    "load_curve",
    "tariff",
    "price_base",
    "price_hc",
    "price_hp",
    "price_tempo_blue_hc",
    "price_tempo_blue_hp",
    "price_tempo_white_hc",
    "price_tempo_white_hp",
    "price_tempo_red_hc",
    "price_tempo_red_hp",
    "offpeak_hours",
];

/// Top-level options. Keys are the options-file keys of the spec; environment variables are
/// mapped onto them before extraction.
#[derive(Debug, Default, Deserialize)]
pub struct RawOptions {
    pub meters: Option<Vec<RawMeter>>,
    pub gateway: Option<Scalar>,
    pub client_secret: Option<Scalar>,
    pub gateway_url: Option<Scalar>,
    pub mqtt_enabled: Option<Scalar>,
    pub mqtt_broker: Option<Scalar>,
    pub mqtt_topic_prefix: Option<Scalar>,
    pub mqtt_qos: Option<Scalar>,
    pub mqtt_retain: Option<Scalar>,
    pub mqtt_ha_discovery: Option<Scalar>,
    pub mqtt_ha_discovery_prefix: Option<Scalar>,
    pub mqtt_ca_cert: Option<Scalar>,
    pub mqtt_client_cert: Option<Scalar>,
    pub mqtt_client_key: Option<Scalar>,
    pub tempo: Option<Scalar>,
    pub ecowatt: Option<Scalar>,
    pub language: Option<Scalar>,
    pub log_level: Option<Scalar>,
    pub energy_statistics: Option<Scalar>,
    pub ha_url: Option<Scalar>,
    pub ha_token: Option<Scalar>,
    pub supervisor_token: Option<Scalar>,
    pub hassio_token: Option<Scalar>,
    pub supervisor_api: Option<Scalar>,
    pub data_dir: Option<Scalar>,
    pub web_port: Option<Scalar>,
    pub database_url: Option<Scalar>,
    pub web_bind: Option<Scalar>,
    pub web_ingress: Option<Scalar>,
    /// Keys we do not know: reported as warnings (a typo must not pass unnoticed).
    #[serde(flatten)]
    pub unknown: BTreeMap<String, figment::value::Value>,
}

/// One `meters` entry.
#[derive(Debug, Default, Deserialize)]
pub struct RawMeter {
    pub pdl: Option<Scalar>,
    pub name: Option<Scalar>,
    pub token: Option<Scalar>,
    pub consumption: Option<Scalar>,
    pub production: Option<Scalar>,
    pub load_curve: Option<Scalar>,
    pub tariff: Option<Scalar>,
    pub price_base: Option<Scalar>,
    pub price_hc: Option<Scalar>,
    pub price_hp: Option<Scalar>,
    pub price_tempo_blue_hc: Option<Scalar>,
    pub price_tempo_blue_hp: Option<Scalar>,
    pub price_tempo_white_hc: Option<Scalar>,
    pub price_tempo_white_hp: Option<Scalar>,
    pub price_tempo_red_hc: Option<Scalar>,
    pub price_tempo_red_hp: Option<Scalar>,
    pub offpeak_hours: Option<Scalar>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, figment::value::Value>,
}
