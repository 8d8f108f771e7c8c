//! Raw options validated into [`Settings`]: every key checked, every problem noted (one line
//! naming the key and what is expected), the defaults of the spec filled in.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use url::Url;

use super::bounds::{key_name, quoted};
use super::raw::{RawMeter, RawOptions, Scalar};
use super::settings::*;
use super::{DEFAULT_DATA_DIR, readable_file, text};
use crate::calendar::parse_offpeak_hours;
use crate::model::{BrokerAddress, Pdl, Prices, Secret, Tariff, TimeRange, TlsFiles, redact};

/// Collects the problems and remarks of one validation.
pub(super) struct Validator<'w> {
    pub(super) problems: Vec<String>,
    pub(super) warnings: &'w mut Vec<String>,
}

impl Validator<'_> {
    fn problem(&mut self, key: &str, expected: impl fmt::Display) {
        self.problems.push(format!("{key}: {expected}"));
    }

    /// Every setting, in the order the problems are reported.
    pub(super) fn settings(&mut self, raw: &RawOptions, demo: bool) -> Settings {
        for key in raw.unknown.keys() {
            self.warnings
                .push(format!("unknown option `{}` ignored", key_name(key)));
        }
        let gateway = self.gateway(raw, demo);
        let meters = self.meters(raw.meters.as_deref(), gateway.generation, demo);
        let mqtt = self.mqtt(raw);
        let token = self
            .secret(&raw.supervisor_token)
            .or_else(|| self.secret(&raw.hassio_token));
        let api = &raw.supervisor_api;
        let supervisor = SupervisorSettings {
            api: self.http_url(api, "SUPERVISOR_API", SUPERVISOR_DEFAULT_URL),
            token,
        };
        let statistics = self.statistics(raw);
        let web = self.web(raw);
        let database = self.database(raw);
        let language = self.language(raw);
        let log_level = self.log_level(raw);
        let data_dir = text(&raw.data_dir)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        Settings {
            meters,
            gateway,
            mqtt,
            supervisor,
            statistics,
            web,
            database,
            tempo: self.bool(&raw.tempo, "tempo", true),
            ecowatt: self.bool(&raw.ecowatt, "ecowatt", true),
            language,
            log_level,
            data_dir,
        }
    }

    fn gateway(&mut self, raw: &RawOptions, demo: bool) -> GatewaySettings {
        let generation = match text(&raw.gateway).as_deref() {
            None | Some("v2") => GatewayGeneration::V2,
            Some("v1") => GatewayGeneration::V1,
            Some(other) => {
                self.problem(
                    "gateway",
                    format!("expected v1 or v2, got {}", quoted(other)),
                );
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
        GatewaySettings {
            generation,
            base_url: self.http_url(&raw.gateway_url, "gateway_url", default_url),
            client_secret,
        }
    }

    fn mqtt(&mut self, raw: &RawOptions) -> MqttSettings {
        let tls_files = self.tls_files(raw);
        let broker = self.broker(raw);
        let qos = match self.integer(&raw.mqtt_qos, "mqtt_qos") {
            None => 1,
            Some(q @ 0..=2) => q as u8,
            Some(q) => {
                self.problem("mqtt_qos", format!("expected 0, 1 or 2, got {q}"));
                1
            }
        };
        let prefix = &raw.mqtt_topic_prefix;
        let discovery_prefix = &raw.mqtt_ha_discovery_prefix;
        MqttSettings {
            enabled: self.bool(&raw.mqtt_enabled, "mqtt_enabled", true),
            broker,
            tls_files,
            topic_prefix: self.topic(prefix, "mqtt_topic_prefix", "myelectricaldata"),
            qos,
            retain: self.bool(&raw.mqtt_retain, "mqtt_retain", true),
            discovery: self.bool(&raw.mqtt_ha_discovery, "mqtt_ha_discovery", true),
            discovery_prefix: self.topic(
                discovery_prefix,
                "mqtt_ha_discovery_prefix",
                "homeassistant",
            ),
        }
    }

    fn tls_files(&mut self, raw: &RawOptions) -> TlsFiles {
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
        tls_files
    }

    fn broker(&mut self, raw: &RawOptions) -> Option<BrokerAddress> {
        let text = text(&raw.mqtt_broker)?;
        match BrokerAddress::parse(&text) {
            Ok(broker) => Some(broker),
            Err(why) => {
                self.problem(
                    "mqtt_broker",
                    format!("expected mqtt://[user:pass@]host[:port] or mqtts://…: {why}"),
                );
                None
            }
        }
    }

    /// Inside the add-on, the ingress page (on all interfaces, for the proxy's address alone);
    /// outside, a page only when `web_port` asks, on 127.0.0.1 unless `web_bind` says.
    fn web(&mut self, raw: &RawOptions) -> WebSettings {
        let ingress = self.bool(&raw.web_ingress, "web_ingress", false);
        let port = self.integer(&raw.web_port, "web_port");
        let port = port.and_then(|p| {
            let port = u16::try_from(p).ok().filter(|p| *p != 0);
            if port.is_none() {
                self.problem(
                    "web_port",
                    format!("expected a port from 1 to 65535, got {p}"),
                );
            }
            port
        });
        let bind = text(&raw.web_bind).and_then(|text| {
            let ip = text.trim().parse::<std::net::IpAddr>().ok();
            if ip.is_none() {
                self.problem(
                    "web_bind",
                    format!(
                        "expected an IP address like 127.0.0.1 or 0.0.0.0, got {}",
                        quoted(&text)
                    ),
                );
            }
            ip
        });
        if bind.is_some() && port.is_none() {
            self.warnings
                .push("web_bind ignored: no web_port, no page".into());
        }
        let loopback = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        match (ingress, port) {
            (_, Some(port)) => WebSettings {
                listen: Some((bind.unwrap_or(loopback), port).into()),
                only_from: None,
            },
            (true, None) => WebSettings {
                listen: Some((std::net::Ipv4Addr::UNSPECIFIED, INGRESS_PORT).into()),
                only_from: Some(INGRESS_PROXY),
            },
            (false, None) => WebSettings {
                listen: None,
                only_from: None,
            },
        }
    }

    fn statistics(&mut self, raw: &RawOptions) -> StatisticsSettings {
        let enabled = self.bool(&raw.energy_statistics, "energy_statistics", true);
        let url = text(&raw.ha_url).and_then(|text| {
            let url = Url::parse(text.trim()).ok().filter(|u| {
                matches!(u.scheme(), "http" | "https" | "ws" | "wss") && u.has_host()
            });
            if url.is_none() {
                self.problem(
                    "ha_url",
                    format!("expected Home Assistant's address like http://homeassistant.local:8123, got {}", quoted(&text)),
                );
            }
            url
        });
        let token = self.secret(&raw.ha_token);
        if url.is_some() && token.is_none() && enabled {
            self.problem(
                "ha_token",
                "required with ha_url: a long-lived access token of an administrator",
            );
        }
        StatisticsSettings {
            enabled,
            url,
            token,
        }
    }

    fn language(&mut self, raw: &RawOptions) -> Language {
        match text(&raw.language).as_deref() {
            None | Some("fr") => Language::Fr,
            Some("en") => Language::En,
            Some(other) => {
                self.problem(
                    "language",
                    format!("expected fr or en, got {}", quoted(other)),
                );
                Language::Fr
            }
        }
    }

    fn log_level(&mut self, raw: &RawOptions) -> LogLevel {
        let level = text(&raw.log_level).map(|l| l.to_ascii_lowercase());
        match level.as_deref() {
            None | Some("info") => LogLevel::Info,
            Some("error") => LogLevel::Error,
            Some("warn" | "warning") => LogLevel::Warn,
            Some("debug") => LogLevel::Debug,
            Some("trace") => LogLevel::Trace,
            Some(other) => {
                self.problem(
                    "log_level",
                    format!(
                        "expected error, warn, info, debug or trace, got {}",
                        quoted(other)
                    ),
                );
                LogLevel::Info
            }
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
            if let Some(meter) = self.meter(&format!("meters[{i}]"), m, generation, &meters) {
                meters.push(meter);
            }
        }
        meters
    }

    /// One `meters` entry, `None` when its PDL is missing or wrong; `others` are the entries
    /// before it.
    fn meter(
        &mut self,
        at: &str,
        m: &RawMeter,
        generation: GatewayGeneration,
        others: &[MeterSettings],
    ) -> Option<MeterSettings> {
        let key = |field: &str| format!("{at}.{field}");
        for unknown in m.unknown.keys() {
            self.warnings.push(format!(
                "unknown option `{}` ignored",
                key(&key_name(unknown))
            ));
        }
        let pdl = self.pdl(&m.pdl, &key("pdl"), others);
        let token = self.secret(&m.token);
        if generation == GatewayGeneration::V1 && token.is_none() {
            self.problem(
                &key("token"),
                "required with gateway v1 (the token of this meter's consent)",
            );
        }
        let tariff = self.tariff(&m.tariff, &key("tariff"));
        let offpeak_hours = self.offpeak_hours(&m.offpeak_hours, &key("offpeak_hours"));
        let prices = self.prices(m, at);
        let consumption = self.bool(&m.consumption, &key("consumption"), true);
        let production = self.bool(&m.production, &key("production"), false);
        let load_curve = self.bool(&m.load_curve, &key("load_curve"), false);
        let name = text(&m.name)
            .filter(|n| !n.trim().is_empty())
            .map(|n| n.trim().to_string());
        let pdl = pdl?;
        Some(MeterSettings {
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
        })
    }

    fn pdl(&mut self, value: &Option<Scalar>, key: &str, others: &[MeterSettings]) -> Option<Pdl> {
        let Some(text) = text(value) else {
            self.problem(key, "required: the 14-digit usage point id of the meter");
            return None;
        };
        let Some(pdl) = Pdl::parse(&text) else {
            self.problem(key, format!("expected 14 digits, got {}", quoted(&text)));
            return None;
        };
        if others.iter().any(|other| other.pdl == pdl) {
            self.problem(key, format!("{pdl} is listed twice"));
        }
        Some(pdl)
    }

    fn tariff(&mut self, value: &Option<Scalar>, key: &str) -> Tariff {
        match text(value).map(|t| t.to_ascii_uppercase()).as_deref() {
            None | Some("BASE") => Tariff::Base,
            Some("HC_HP" | "HCHP") => Tariff::HcHp,
            Some("TEMPO") => Tariff::Tempo,
            Some(other) => {
                self.problem(
                    key,
                    format!("expected BASE, HC_HP or TEMPO, got {}", quoted(other)),
                );
                Tariff::Base
            }
        }
    }

    fn offpeak_hours(&mut self, value: &Option<Scalar>, key: &str) -> Option<Vec<TimeRange>> {
        let text = text(value)?;
        let parsed = parse_offpeak_hours(&text);
        if parsed.is_none() {
            self.problem(
                key,
                format!(
                    "expected ranges like 22H00-6H00;12H30-14H30, got {}",
                    quoted(&text)
                ),
            );
        }
        parsed
    }

    fn prices(&mut self, m: &RawMeter, at: &str) -> Prices {
        let mut price =
            |value: &Option<Scalar>, field: &str| self.price(value, &format!("{at}.{field}"));
        Prices {
            base: price(&m.price_base, "price_base"),
            hc: price(&m.price_hc, "price_hc"),
            hp: price(&m.price_hp, "price_hp"),
            tempo_blue_hc: price(&m.price_tempo_blue_hc, "price_tempo_blue_hc"),
            tempo_blue_hp: price(&m.price_tempo_blue_hp, "price_tempo_blue_hp"),
            tempo_white_hc: price(&m.price_tempo_white_hc, "price_tempo_white_hc"),
            tempo_white_hp: price(&m.price_tempo_white_hp, "price_tempo_white_hp"),
            tempo_red_hc: price(&m.price_tempo_red_hc, "price_tempo_red_hc"),
            tempo_red_hp: price(&m.price_tempo_red_hp, "price_tempo_red_hp"),
        }
    }

    /// `database_url`: `postgres://` or `postgresql://`. Its password is a secret on its
    /// own too, as written and decoded, so that no error quoting it shows it.
    fn database(&mut self, raw: &RawOptions) -> Option<Secret> {
        let text = text(&raw.database_url)?;
        // The whole URL is a secret: making it one registers it for redaction.
        self.secret(&raw.database_url)?;
        let parsed = match Url::parse(text.trim()) {
            Ok(parsed) => parsed,
            Err(error) => {
                self.problem("database_url", format!("not a URL ({error})"));
                return None;
            }
        };
        if let Some(password) = parsed.password() {
            Secret::new(password);
            let decoded = percent_encoding::percent_decode_str(password).decode_utf8_lossy();
            Secret::new(decoded.into_owned());
        }
        match parsed.scheme() {
            "postgres" | "postgresql" => {
                // Read as the store will read it (`sslmode` and the rest, like libpq), so a
                // mistake is a configuration error now, not a failure at every connection.
                match sqlx::postgres::PgConnectOptions::from_str(text.trim()) {
                    Ok(_) => Some(Secret::new(text.trim())),
                    Err(error) => {
                        self.problem("database_url", redact(&error.to_string()).into_owned());
                        None
                    }
                }
            }
            other => {
                let why = format!(
                    "expected postgres://… or postgresql://…, got a {} URL",
                    quoted(other)
                );
                self.problem("database_url", why);
                None
            }
        }
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
                    self.problem(
                        key,
                        format!("expected true or false, got {}", quoted(other)),
                    );
                    default
                }
            },
            Some(other) => {
                self.problem(
                    key,
                    format!("expected true or false, got {}", quoted(&other.as_text())),
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
                        format!("expected a whole number, got {}", quoted(&other.as_text())),
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
                        "expected a price in EUR/kWh like 0.2516, got {}",
                        quoted(&value.as_ref().map(Scalar::as_text).unwrap_or_default())
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
                    format!("expected an http:// or https:// URL, got {}", quoted(&text)),
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
        // MQTT allows them, but a `+`/`#` would subscribe to others' topics and an empty level
        // (`a//b`, a leading or trailing `/`) makes topics no other tool expects.
        let empty_level = text.split('/').any(str::is_empty);
        if text.contains(['+', '#', '\0']) || empty_level {
            self.problem(
                key,
                format!("expected a topic prefix without wildcards or empty levels (no leading, trailing or double '/'), got {}", quoted(text)),
            );
            return default.to_string();
        }
        text.to_string()
    }

    fn existing_file(&mut self, value: &Option<Scalar>, key: &str) -> Option<PathBuf> {
        let path = PathBuf::from(text(value)?);
        match readable_file(&path) {
            Ok(()) => Some(path),
            Err(why) => {
                self.problem(key, format!("expected a readable file, {why}"));
                None
            }
        }
    }
}
