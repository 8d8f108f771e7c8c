//! Configuration: figment layers (defaults < options file < environment < flags), read raw,
//! then validated into [`Settings`] with every problem reported at once.

mod raw;
mod settings;

use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Json, Serialized};
use url::Url;

use crate::calendar::parse_offpeak_hours;
use crate::model::{BrokerAddress, Pdl, Prices, Secret, Tariff, TlsFiles};
pub use raw::{METER_KEYS, OPTION_KEYS, RawMeter, RawOptions, Scalar};
pub use settings::*;

/// Where the Supervisor puts the add-on options.
pub const DEFAULT_OPTIONS_PATH: &str = "/data/options.json";
/// The add-on's persistent folder.
pub const DEFAULT_DATA_DIR: &str = "/data";

/// Environment variables and the option each one overrides.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("MQTT_BROKER", "mqtt_broker"),
    ("MQTT_TOPIC_PREFIX", "mqtt_topic_prefix"),
    ("MQTT_QOS", "mqtt_qos"),
    ("MQTT_RETAIN", "mqtt_retain"),
    ("MQTT_ENABLED", "mqtt_enabled"),
    ("MQTT_HA_DISCOVERY", "mqtt_ha_discovery"),
    ("MQTT_HA_DISCOVERY_PREFIX", "mqtt_ha_discovery_prefix"),
    ("MQTT_CA_CERT", "mqtt_ca_cert"),
    ("MQTT_CLIENT_CERT", "mqtt_client_cert"),
    ("MQTT_CLIENT_KEY", "mqtt_client_key"),
    ("SUPERVISOR_TOKEN", "supervisor_token"),
    ("HASSIO_TOKEN", "hassio_token"),
    ("SUPERVISOR_API", "supervisor_api"),
];

/// What the caller asks of the configuration source.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `--options`: a file given explicitly must exist.
    pub options_path: Option<PathBuf>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// The process environment (injected so tests stay hermetic).
    pub env: Vec<(String, String)>,
    /// `demo` brings its own meter and needs no credential.
    pub demo: bool,
}

impl Sources {
    /// The sources of this process: its environment and the given flags.
    pub fn from_process(options_path: Option<PathBuf>, data_dir: Option<PathBuf>) -> Self {
        Self {
            options_path,
            data_dir,
            env: std::env::vars().collect(),
            demo: false,
        }
    }
}

/// Settings plus the non-fatal remarks made while loading them.
#[derive(Debug)]
pub struct Loaded {
    pub settings: Settings,
    pub warnings: Vec<String>,
}

/// Every problem found in the configuration, one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "configuration: {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Reads every layer and validates the result.
pub fn load(sources: &Sources) -> Result<Loaded, ConfigError> {
    let mut warnings = Vec::new();
    let mut problems = Vec::new();

    let options_path = sources
        .options_path
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_OPTIONS_PATH));
    let mut figment = Figment::new();
    if options_path.is_file() {
        figment = figment.merge(Json::file_exact(&options_path));
    } else if sources.options_path.is_some() {
        problems.push(format!(
            "--options: the file {} does not exist",
            options_path.display()
        ));
    } else if !sources.demo {
        warnings.push(format!(
            "no options file at {}: using the environment and defaults only",
            options_path.display()
        ));
    }

    // Environment values go in as text: figment would otherwise read `0123…` as a number.
    let env: std::collections::BTreeMap<&str, &str> = ENV_KEYS
        .iter()
        .filter_map(|(var, key)| {
            let value = sources.env.iter().find(|(name, _)| name == var)?.1.as_str();
            (!value.trim().is_empty()).then_some((*key, value))
        })
        .collect();
    figment = figment.merge(Serialized::globals(env));
    if let Some(dir) = &sources.data_dir {
        figment = figment.merge(Serialized::global("data_dir", dir.display().to_string()));
    }

    let raw: RawOptions = match figment.extract() {
        Ok(raw) => raw,
        Err(error) => {
            for e in error {
                let key = e.path.join(".");
                let key = if key.is_empty() {
                    "options".into()
                } else {
                    key
                };
                problems.push(format!("{key}: {}", e.kind));
            }
            return Err(ConfigError { problems });
        }
    };

    let mut v = Validator {
        problems,
        warnings: &mut warnings,
    };
    let settings = v.settings(&raw, sources.demo);
    if v.problems.is_empty() {
        Ok(Loaded { settings, warnings })
    } else {
        Err(ConfigError {
            problems: v.problems,
        })
    }
}

struct Validator<'w> {
    problems: Vec<String>,
    warnings: &'w mut Vec<String>,
}

impl Validator<'_> {
    fn problem(&mut self, key: &str, expected: impl fmt::Display) {
        self.problems.push(format!("{key}: {expected}"));
    }

    fn settings(&mut self, raw: &RawOptions, demo: bool) -> Settings {
        for key in raw.unknown.keys() {
            self.warnings
                .push(format!("unknown option `{key}` ignored"));
        }
        let generation = match text(&raw.gateway).as_deref() {
            None | Some("v2") => GatewayGeneration::V2,
            Some("v1") => GatewayGeneration::V1,
            Some(other) => {
                self.problem("gateway", format!("expected v1 or v2, got {other:?}"));
                GatewayGeneration::V2
            }
        };
        let client_secret = self.secret(&raw.client_secret);
        if generation == GatewayGeneration::V2 && client_secret.is_none() && !demo {
            self.problem(
                "client_secret",
                "required with gateway v2 (your MyElectricalData client secret)",
            );
        }
        let default_url = match generation {
            GatewayGeneration::V1 => V1_DEFAULT_URL,
            GatewayGeneration::V2 => V2_DEFAULT_URL,
        };
        let base_url = self.http_url(&raw.gateway_url, "gateway_url", default_url);

        let meters = self.meters(raw.meters.as_deref(), generation, demo);

        let tls_files = TlsFiles {
            ca_cert: self.existing_file(&raw.mqtt_ca_cert, "mqtt_ca_cert"),
            client_cert: self.existing_file(&raw.mqtt_client_cert, "mqtt_client_cert"),
            client_key: self.existing_file(&raw.mqtt_client_key, "mqtt_client_key"),
        };
        if tls_files.client_cert.is_some() != tls_files.client_key.is_some() {
            self.problem(
                "mqtt_client_cert",
                "mqtt_client_cert and mqtt_client_key go together: give both or neither",
            );
        }
        let broker = text(&raw.mqtt_broker).and_then(|text| match BrokerAddress::parse(&text) {
            Ok(broker) => Some(broker),
            Err(why) => {
                self.problem(
                    "mqtt_broker",
                    format!("expected mqtt://[user:pass@]host[:port] or mqtts://…: {why}"),
                );
                None
            }
        });
        let qos = match self.integer(&raw.mqtt_qos, "mqtt_qos") {
            None => 1,
            Some(q @ 0..=2) => q as u8,
            Some(q) => {
                self.problem("mqtt_qos", format!("expected 0, 1 or 2, got {q}"));
                1
            }
        };
        let mqtt = MqttSettings {
            enabled: self.bool(&raw.mqtt_enabled, "mqtt_enabled", true),
            broker,
            tls_files,
            topic_prefix: self.topic(
                &raw.mqtt_topic_prefix,
                "mqtt_topic_prefix",
                "myelectricaldata",
            ),
            qos,
            retain: self.bool(&raw.mqtt_retain, "mqtt_retain", true),
            discovery: self.bool(&raw.mqtt_ha_discovery, "mqtt_ha_discovery", true),
            discovery_prefix: self.topic(
                &raw.mqtt_ha_discovery_prefix,
                "mqtt_ha_discovery_prefix",
                "homeassistant",
            ),
        };

        let token = self
            .secret(&raw.supervisor_token)
            .or_else(|| self.secret(&raw.hassio_token));
        let supervisor = SupervisorSettings {
            api: self.http_url(
                &raw.supervisor_api,
                "SUPERVISOR_API",
                SUPERVISOR_DEFAULT_URL,
            ),
            token,
        };

        let language = match text(&raw.language).as_deref() {
            None | Some("fr") => Language::Fr,
            Some("en") => Language::En,
            Some(other) => {
                self.problem("language", format!("expected fr or en, got {other:?}"));
                Language::Fr
            }
        };
        let log_level = match text(&raw.log_level)
            .map(|l| l.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("info") => LogLevel::Info,
            Some("error") => LogLevel::Error,
            Some("warn" | "warning") => LogLevel::Warn,
            Some("debug") => LogLevel::Debug,
            Some("trace") => LogLevel::Trace,
            Some(other) => {
                self.problem(
                    "log_level",
                    format!("expected error, warn, info, debug or trace, got {other:?}"),
                );
                LogLevel::Info
            }
        };
        let data_dir = text(&raw.data_dir)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));

        Settings {
            meters,
            gateway: GatewaySettings {
                generation,
                base_url,
                client_secret,
            },
            mqtt,
            supervisor,
            tempo: self.bool(&raw.tempo, "tempo", true),
            ecowatt: self.bool(&raw.ecowatt, "ecowatt", true),
            language,
            log_level,
            data_dir,
        }
    }

    fn meters(
        &mut self,
        raw: Option<&[RawMeter]>,
        generation: GatewayGeneration,
        demo: bool,
    ) -> Vec<MeterSettings> {
        let raw = raw.unwrap_or_default();
        if raw.is_empty() && !demo {
            self.problem(
                "meters",
                "expected at least one meter (with its 14-digit pdl)",
            );
        }
        let mut meters: Vec<MeterSettings> = Vec::new();
        for (i, m) in raw.iter().enumerate() {
            let key = |field: &str| format!("meters[{i}].{field}");
            for unknown in m.unknown.keys() {
                self.warnings
                    .push(format!("unknown option `{}` ignored", key(unknown)));
            }
            let pdl = match text(&m.pdl) {
                None => {
                    self.problem(
                        &key("pdl"),
                        "required: the 14-digit usage point id of the meter",
                    );
                    None
                }
                Some(text) => match Pdl::parse(&text) {
                    Some(pdl) => Some(pdl),
                    None => {
                        self.problem(&key("pdl"), format!("expected 14 digits, got {text:?}"));
                        None
                    }
                },
            };
            if let Some(pdl) = &pdl {
                if meters.iter().any(|other| &other.pdl == pdl) {
                    self.problem(&key("pdl"), format!("{pdl} is listed twice"));
                }
            }
            let token = self.secret(&m.token);
            if generation == GatewayGeneration::V1 && token.is_none() {
                self.problem(
                    &key("token"),
                    "required with gateway v1 (the token of this meter's consent)",
                );
            }
            let tariff = match text(&m.tariff).map(|t| t.to_ascii_uppercase()).as_deref() {
                None | Some("BASE") => Tariff::Base,
                Some("HC_HP" | "HCHP") => Tariff::HcHp,
                Some("TEMPO") => Tariff::Tempo,
                Some(other) => {
                    self.problem(
                        &key("tariff"),
                        format!("expected BASE, HC_HP or TEMPO, got {other:?}"),
                    );
                    Tariff::Base
                }
            };
            let offpeak_hours = text(&m.offpeak_hours).and_then(|text| {
                let parsed = parse_offpeak_hours(&text);
                if parsed.is_none() {
                    self.problem(
                        &key("offpeak_hours"),
                        format!("expected ranges like 22H00-6H00;12H30-14H30, got {text:?}"),
                    );
                }
                parsed
            });
            let prices = Prices {
                base: self.price(&m.price_base, &key("price_base")),
                hc: self.price(&m.price_hc, &key("price_hc")),
                hp: self.price(&m.price_hp, &key("price_hp")),
                tempo_blue_hc: self.price(&m.price_tempo_blue_hc, &key("price_tempo_blue_hc")),
                tempo_blue_hp: self.price(&m.price_tempo_blue_hp, &key("price_tempo_blue_hp")),
                tempo_white_hc: self.price(&m.price_tempo_white_hc, &key("price_tempo_white_hc")),
                tempo_white_hp: self.price(&m.price_tempo_white_hp, &key("price_tempo_white_hp")),
                tempo_red_hc: self.price(&m.price_tempo_red_hc, &key("price_tempo_red_hc")),
                tempo_red_hp: self.price(&m.price_tempo_red_hp, &key("price_tempo_red_hp")),
            };
            let consumption = self.bool(&m.consumption, &key("consumption"), true);
            let production = self.bool(&m.production, &key("production"), false);
            let load_curve = self.bool(&m.load_curve, &key("load_curve"), false);
            let name = text(&m.name)
                .filter(|n| !n.trim().is_empty())
                .map(|n| n.trim().to_string());
            if let Some(pdl) = pdl {
                meters.push(MeterSettings {
                    name: name.unwrap_or_else(|| pdl.to_string()),
                    pdl,
                    token,
                    consumption,
                    production,
                    load_curve,
                    tariff,
                    prices,
                    offpeak_hours,
                    tempo_prices_from_gateway: generation == GatewayGeneration::V1,
                });
            }
        }
        meters
    }

    fn secret(&mut self, value: &Option<Scalar>) -> Option<Secret> {
        text(value).map(|text| Secret::new(text.trim()))
    }

    fn bool(&mut self, value: &Option<Scalar>, key: &str, default: bool) -> bool {
        match value {
            None => default,
            Some(Scalar::Bool(b)) => *b,
            Some(Scalar::Int(0)) => false,
            Some(Scalar::Int(1)) => true,
            Some(Scalar::Str(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                "" => default,
                other => {
                    self.problem(key, format!("expected true or false, got {other:?}"));
                    default
                }
            },
            Some(other) => {
                self.problem(
                    key,
                    format!("expected true or false, got {}", other.as_text()),
                );
                default
            }
        }
    }

    fn integer(&mut self, value: &Option<Scalar>, key: &str) -> Option<i64> {
        match value {
            None => None,
            Some(Scalar::Int(i)) => Some(*i),
            Some(other) => match other.as_text().trim().parse() {
                Ok(i) => Some(i),
                Err(_) => {
                    self.problem(
                        key,
                        format!("expected a whole number, got {:?}", other.as_text()),
                    );
                    None
                }
            },
        }
    }

    fn price(&mut self, value: &Option<Scalar>, key: &str) -> Option<f64> {
        let parsed = match value {
            None => return None,
            Some(Scalar::Int(i)) => Some(*i as f64),
            Some(Scalar::Float(f)) => Some(*f),
            Some(Scalar::Str(s)) if s.trim().is_empty() => return None,
            Some(other) => other.as_text().trim().replace(',', ".").parse().ok(),
        };
        match parsed {
            Some(p) if p.is_finite() && p >= 0.0 => Some(p),
            _ => {
                self.problem(
                    key,
                    format!(
                        "expected a price in EUR/kWh like 0.2516, got {:?}",
                        value.as_ref().map(Scalar::as_text).unwrap_or_default()
                    ),
                );
                None
            }
        }
    }

    fn http_url(&mut self, value: &Option<Scalar>, key: &str, default: &str) -> Url {
        let fallback =
            || Url::parse(default).unwrap_or_else(|_| unreachable!("built-in URLs parse"));
        let Some(text) = text(value) else {
            return fallback();
        };
        match Url::parse(text.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => url,
            _ => {
                self.problem(
                    key,
                    format!("expected an http:// or https:// URL, got {text:?}"),
                );
                fallback()
            }
        }
    }

    fn topic(&mut self, value: &Option<Scalar>, key: &str, default: &str) -> String {
        let Some(text) = text(value) else {
            return default.to_string();
        };
        let text = text.trim();
        if text.contains(['+', '#']) || text.starts_with('/') || text.ends_with('/') {
            self.problem(
                key,
                format!("expected a topic prefix without wildcards or leading/trailing '/', got {text:?}"),
            );
            return default.to_string();
        }
        text.to_string()
    }

    fn existing_file(&mut self, value: &Option<Scalar>, key: &str) -> Option<PathBuf> {
        let path = PathBuf::from(text(value)?);
        if is_readable_file(&path) {
            Some(path)
        } else {
            self.problem(
                key,
                format!(
                    "expected a readable file, {} does not exist",
                    path.display()
                ),
            );
            None
        }
    }
}

/// A string option: any scalar, as text; empty means unset.
fn text(value: &Option<Scalar>) -> Option<String> {
    value
        .as_ref()
        .map(Scalar::as_text)
        .filter(|text| !text.trim().is_empty())
}

fn is_readable_file(path: &Path) -> bool {
    std::fs::File::open(path).is_ok() && path.is_file()
}

#[cfg(test)]
mod tests;
