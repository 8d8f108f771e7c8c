//! `check`, the "Tester la connexion" of the original web UI: one line per part — config,
//! store, broker, gateway, Home Assistant — each ok, skipped, or the one-line reason it fails. The
//! command prints the report; the web page's button shows the same lines.

use std::fmt;
use std::time::Duration;

use crate::config::Settings;
use crate::gateway::{Gateway, GatewayError};
use crate::model::{Pdl, redact};
use crate::mqtt::{ConnectError, Session, SessionConfig, SessionError};
use crate::statistics::{HaError, HomeAssistant};
use crate::store::{Store, StoreError};
use crate::supervisor::{SupervisorError, resolve_broker};

/// How long `once` and `check` wait for the broker's first answer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A part of the report, in the order it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Config,
    Store,
    Broker,
    Gateway,
    HomeAssistant,
}

impl Part {
    /// The label `check` prints, padded so that the outcomes line up.
    pub fn label(self) -> &'static str {
        match self {
            Part::Config => "config:  ",
            Part::Store => "store:   ",
            Part::Broker => "broker:  ",
            Part::Gateway => "gateway: ",
            Part::HomeAssistant => "ha:      ",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok(String),
    /// Not checked, and why (a part that is turned off); not a failure.
    Skipped(String),
    Failed(String),
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub part: Part,
    pub outcome: Outcome,
}

impl Line {
    fn from_result<T: fmt::Display, E: fmt::Display>(part: Part, result: Result<T, E>) -> Self {
        // An error may quote what a server echoed: no credential leaves through it.
        let outcome = match result {
            Ok(text) => Outcome::Ok(redact(&text.to_string()).into_owned()),
            Err(error) => Outcome::Failed(redact(&error.to_string()).into_owned()),
        };
        Self { part, outcome }
    }

    pub fn passed(&self) -> bool {
        !matches!(self.outcome, Outcome::Failed(_))
    }
}

impl fmt::Display for Line {
    /// `broker:  ok — connected to …`, as `check` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (word, text) = match &self.outcome {
            Outcome::Ok(text) => ("ok", text),
            Outcome::Skipped(text) => ("skipped", text),
            Outcome::Failed(text) => ("FAILED", text),
        };
        write!(f, "{}{word} — {text}", self.part.label())
    }
}

/// Checks every part now, one after the other.
pub async fn run(settings: &Settings) -> Vec<Line> {
    let generation = settings.gateway.generation.as_str();
    let config = format!(
        "{} meter(s), gateway {generation} at {}",
        settings.meters.len(),
        settings.gateway.base_url
    );
    let broker = match settings.mqtt.enabled {
        true => Line::from_result(Part::Broker, check_broker(settings).await),
        false => Line {
            part: Part::Broker,
            outcome: Outcome::Skipped("MQTT_ENABLED=false".into()),
        },
    };
    vec![
        Line::from_result(Part::Config, Ok::<_, String>(config)),
        Line::from_result(Part::Store, check_store(settings).await),
        broker,
        Line::from_result(Part::Gateway, check_gateway(settings).await),
        check_home_assistant(settings).await,
    ]
}

/// Why `check` says the broker fails.
#[derive(Debug, thiserror::Error)]
pub enum BrokerCheckError {
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

/// Why `check` says the gateway fails.
#[derive(Debug, thiserror::Error)]
pub enum GatewayCheckError {
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error(
        "PDL {} not in this consent: add it on myelectricaldata.fr (the account has {on_account} meter(s))",
        pdl_list(.missing)
    )]
    NotInConsent {
        missing: Vec<Pdl>,
        on_account: usize,
    },
}

fn pdl_list(pdls: &[Pdl]) -> String {
    let texts: Vec<&str> = pdls.iter().map(Pdl::as_str).collect();
    texts.join(", ")
}

/// Opens the store the settings name — reaching the PostgreSQL, migrating the schema (SQLite's
/// file is created if missing) — and says which it is.
pub async fn check_store(settings: &Settings) -> Result<String, StoreError> {
    let store = Store::open_configured(&settings.data_dir, settings.database.as_ref()).await?;
    let location = store.location().to_string();
    store.close().await;
    Ok(format!("{location}, schema up to date"))
}

/// Connects to the broker without announcing anything, and says how it went.
pub async fn check_broker(settings: &Settings) -> Result<String, BrokerCheckError> {
    let broker = resolve_broker(settings).await?;
    let shown = broker.to_string();
    let mqtt = &settings.mqtt;
    let mut config = SessionConfig::new(broker, mqtt.tls_files.clone(), &mqtt.topic_prefix, None);
    config.announce = false;
    config.log_failures = false;
    let session = Session::start(config)?;
    let outcome = session.first_outcome(CONNECT_TIMEOUT).await;
    session.shutdown(false).await;
    outcome?;
    Ok(format!("connected to {shown}"))
}

/// Asks the gateway for the account's meters, and says whether every configured one is there.
pub async fn check_gateway(settings: &Settings) -> Result<String, GatewayCheckError> {
    let gateway = Gateway::from_settings(&settings.gateway, &settings.meters)?;
    let meters = gateway.meters().await?;
    let missing: Vec<Pdl> = settings
        .meters
        .iter()
        .filter(|m| !meters.iter().any(|info| info.pdl == m.pdl))
        .map(|m| m.pdl.clone())
        .collect();
    if !missing.is_empty() {
        let on_account = meters.len();
        return Err(GatewayCheckError::NotInConsent {
            missing,
            on_account,
        });
    }
    Ok(format!(
        "the credential is accepted and covers every configured meter ({} on the account)",
        meters.len()
    ))
}

/// Logs in to Home Assistant's websocket, where the Energy-dashboard history goes.
async fn check_home_assistant(settings: &Settings) -> Line {
    let skipped = |why: &str| Line {
        part: Part::HomeAssistant,
        outcome: Outcome::Skipped(why.into()),
    };
    if !settings.statistics.enabled {
        return skipped("energy_statistics is off");
    }
    let Some((url, token)) = settings.statistics_websocket() else {
        return skipped("no Home Assistant to write the history to (set ha_url and ha_token)");
    };
    let logged_in = async {
        let ha = HomeAssistant::connect(&url, &token).await?;
        let release = ha
            .version
            .map(|v| format!(" {}.{}", v.year, v.month))
            .unwrap_or_default();
        ha.close().await;
        Ok::<_, HaError>(format!(
            "Home Assistant{release} accepts the token for the Energy-dashboard history"
        ))
    };
    Line::from_result(Part::HomeAssistant, logged_in.await)
}
