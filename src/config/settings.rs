//! Validated, typed settings: what the rest of the program works with.

use std::path::PathBuf;

use url::Url;

use crate::model::{BrokerAddress, Pdl, Prices, Secret, Tariff, TimeRange, TlsFiles};

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
    pub statistics: StatisticsSettings,
    pub web: WebSettings,
    /// `database_url`: a PostgreSQL to keep the store in (a secret: it may carry a
    /// password); `None`, the SQLite file in the data directory.
    pub database: Option<Secret>,
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

impl GatewayGeneration {
    /// `v1` or `v2`, as the option says it.
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayGeneration::V1 => "v1",
            GatewayGeneration::V2 => "v2",
        }
    }
}

#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub generation: GatewayGeneration,
    pub base_url: Url,
    /// v2 account credential.
    pub client_secret: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq)]
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

/// The web page: the add-on's ingress page (`WEB_INGRESS`, set by the add-on image), or a
/// page outside the add-on (`web_port`, `web_bind`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSettings {
    /// Where it listens; `None`: no page.
    pub listen: Option<std::net::SocketAddr>,
    /// The only peer it answers (the Supervisor's ingress proxy inside the add-on).
    pub only_from: Option<std::net::IpAddr>,
}

/// The port the Supervisor's ingress proxy connects to (its default, kept out of
/// config.yaml: the add-on linter refuses keys set to their default).
pub const INGRESS_PORT: u16 = 8099;
/// The Supervisor's ingress proxy, the only peer of the page inside the add-on.
pub const INGRESS_PROXY: std::net::IpAddr =
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(172, 30, 32, 2));

/// Where the Energy-dashboard statistics go (`energy_statistics`, `ha_url`, `ha_token`).
#[derive(Debug, Clone)]
pub struct StatisticsSettings {
    pub enabled: bool,
    /// Home Assistant's address from outside the add-on; it wins over the Supervisor's proxy.
    pub url: Option<Url>,
    /// A long-lived admin token, with `url`.
    pub token: Option<Secret>,
}

impl Settings {
    /// Home Assistant's websocket and the token to present: `ha_url` (`http`→`ws`, plus
    /// `/api/websocket`) with `ha_token`, else the Supervisor's proxy (`$SUPERVISOR_API`,
    /// `http`→`ws`, plus `/core/websocket`) with the Supervisor's token; `None` when
    /// statistics are off or neither is there.
    pub fn statistics_websocket(&self) -> Option<(Url, Secret)> {
        if !self.statistics.enabled {
            return None;
        }
        let (base, path, token) = match (&self.statistics.url, &self.statistics.token) {
            (Some(url), Some(token)) => (url, "api/websocket", token),
            _ => {
                let supervisor = &self.supervisor;
                (
                    &supervisor.api,
                    "core/websocket",
                    supervisor.token.as_ref()?,
                )
            }
        };
        Some((websocket_url(base, path)?, token.clone()))
    }
}

/// `http(s)://host[/prefix]` → `ws(s)://host[/prefix]/{path}`; a `ws(s)://` URL that already
/// ends with the path is taken as it is.
fn websocket_url(base: &Url, path: &str) -> Option<Url> {
    let mut url = base.clone();
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => return None,
    };
    url.set_scheme(scheme).ok()?;
    if !url.path().trim_end_matches('/').ends_with(path) {
        url.path_segments_mut()
            .ok()?
            .pop_if_empty()
            .extend(path.split('/'));
    }
    Some(url)
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
