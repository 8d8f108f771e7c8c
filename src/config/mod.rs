//! Configuration: figment layers (defaults < options file < environment < flags), read raw,
//! then validated into [`Settings`] with every problem reported at once.

mod bounds;
mod raw;
mod settings;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::model::one_line;
use figment::Figment;
use figment::providers::{Format, Json, Serialized};

pub use bounds::{MAX_OPTIONS_FILE_BYTES, max_chars};
pub use raw::{METER_KEYS, OPTION_KEYS, RawMeter, RawOptions, Scalar};
pub use settings::*;
use validate::Validator;

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
    ("HA_URL", "ha_url"),
    ("HA_TOKEN", "ha_token"),
    ("WEB_PORT", "web_port"),
    ("DATABASE_URL", "database_url"),
    ("WEB_BIND", "web_bind"),
    ("WEB_INGRESS", "web_ingress"),
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
    let figment = layers(sources, &mut problems, &mut warnings);
    let figment = bounded(figment, &mut problems);
    let raw: RawOptions = match figment.extract() {
        Ok(raw) => raw,
        Err(error) => {
            for e in error {
                let names: Vec<String> = e.path.iter().map(|k| bounds::key_name(k)).collect();
                let key = match names.join(".") {
                    path if path.is_empty() => "options".into(),
                    path => one_line(&path, 120),
                };
                // serde's text quotes the value it could not read, whatever its size.
                problems.push(format!("{key}: {}", one_line(&e.kind.to_string(), 200)));
            }
            return Err(ConfigError { problems });
        }
    };
    let mut v = Validator {
        problems,
        warnings: &mut warnings,
    };
    let settings = v.settings(&raw, sources.demo);
    match v.problems.is_empty() {
        true => Ok(Loaded { settings, warnings }),
        false => Err(ConfigError {
            problems: v.problems,
        }),
    }
}

/// The merged layers without the strings that are too long (each one a problem).
fn bounded(figment: Figment, problems: &mut Vec<String>) -> Figment {
    // Unreadable options are reported by the extraction that follows.
    let Ok(mut dict) = figment.extract::<figment::value::Dict>() else {
        return figment;
    };
    bounds::drop_oversized(&mut dict, problems);
    Figment::from(Serialized::defaults(dict))
}

/// The options file, then the environment, then the flags.
fn layers(sources: &Sources, problems: &mut Vec<String>, warnings: &mut Vec<String>) -> Figment {
    let options_path = sources
        .options_path
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_OPTIONS_PATH));
    let mut figment = Figment::new();
    let size = std::fs::metadata(&options_path)
        .map(|m| m.len())
        .unwrap_or(0);
    if options_path.is_file() && size > MAX_OPTIONS_FILE_BYTES {
        // Parsed, it would take many times its size in memory.
        let shown = options_path.display();
        problems.push(format!(
            "options: {shown} is {size} bytes, more than an options file can be ({MAX_OPTIONS_FILE_BYTES})"
        ));
    } else if options_path.is_file() {
        figment = figment.merge(Json::file_exact(&options_path));
    } else if sources.options_path.is_some() {
        let shown = options_path.display();
        problems.push(format!("--options: the file {shown} does not exist"));
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
    figment
}

/// A string option: any scalar, as text; empty means unset.
fn text(value: &Option<Scalar>) -> Option<String> {
    value
        .as_ref()
        .map(Scalar::as_text)
        .filter(|text| !text.trim().is_empty())
}

/// `Ok` when `path` is a file this process can open, else why not, in a few words.
fn readable_file(path: &Path) -> Result<(), String> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("{shown} does not exist"))
        }
        Err(e) => Err(format!("{shown} cannot be read: {e}")),
        Ok(meta) if meta.is_dir() => Err(format!("{shown} is a directory")),
        Ok(_) => std::fs::File::open(path)
            .map(drop)
            .map_err(|e| format!("{shown} cannot be read: {e}")),
    }
}

#[cfg(test)]
mod tests;
