//! How to reach the broker: the session's settings, rumqttc options (last will, credentials,
//! TLS) and what a failed connection means, as one line that says what to check.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    ConnectReturnCode, ConnectionError, LastWill, MqttOptions, TlsConfiguration, Transport,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::model::{BrokerAddress, Qos, TlsFiles};
use crate::retry::Backoff;

/// The most one config or state message may weigh (topic and payload). Ours are a few KiB;
/// one over this (a meter name of a megabyte…) is not published, with a warning: rumqttc
/// would refuse to write it, or the broker drop us for it, at every reconnection.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Largest packet we send or accept: discovery configs are a few KiB, rumqttc's default
/// (10 KiB) is too tight for a forecast with attributes. Well above [`MAX_MESSAGE_BYTES`], so
/// that no message we let through breaks the connection.
const MAX_PACKET_SIZE: usize = 256 * 1024;

/// Reconnection after a failed attempt or a lost session: 1 s, 2, 4, … up to a minute, ±20 %.
pub const RECONNECT: Backoff = Backoff {
    first: Duration::from_secs(1),
    factor: 2,
    max: Duration::from_secs(60),
    jitter: 0.2,
};

/// How long a session must stay up before the reconnection backoff starts again from its
/// first step: two keep-alive rounds, so the broker has answered pings, not only the login.
pub const STABLE_SESSION: Duration = Duration::from_secs(60);

/// How to reach the broker and what to say about ourselves.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub broker: BrokerAddress,
    pub tls_files: TlsFiles,
    pub client_id: String,
    /// `P/status`: `online` after each ConnAck, `offline` as last will and at shutdown.
    pub status_topic: String,
    /// `{discovery_prefix}/status`, where Home Assistant announces itself.
    pub ha_status_topic: Option<String>,
    pub keep_alive: Duration,
    /// The wait between failed connection attempts and lost sessions.
    pub reconnect: Backoff,
    /// A session up this long was a good one: the next failure waits `reconnect.first` again.
    pub stable_after: Duration,
    /// Upper bound of the random delay before republishing after Home Assistant's birth.
    pub birth_delay_max: Duration,
    /// Publish `online` and set the `offline` last will. `check` only probes the broker and
    /// must not change what Home Assistant shows.
    pub announce: bool,
    /// Log each failed attempt. `once` and `check` report the first failure themselves and
    /// stop, so the daemon alone logs "retrying".
    pub log_failures: bool,
}

impl SessionConfig {
    pub fn new(
        broker: BrokerAddress,
        tls_files: TlsFiles,
        topic_prefix: &str,
        ha_status_topic: Option<String>,
    ) -> Self {
        Self {
            broker,
            tls_files,
            // `/` is not allowed in a client id by some brokers; the suffix keeps two
            // instances from kicking each other off.
            client_id: format!("myelectricaldata-mqtt-{:08x}", fastrand::u32(..)),
            status_topic: format!("{topic_prefix}/status"),
            ha_status_topic,
            keep_alive: Duration::from_secs(30),
            reconnect: RECONNECT,
            stable_after: STABLE_SESSION,
            birth_delay_max: Duration::from_secs(5),
            announce: true,
            log_failures: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("TLS setup: cannot read {path}: {source}")]
    TlsFile {
        path: String,
        source: std::io::Error,
    },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("the MQTT session has stopped")]
    Stopped,
    #[error("{0}")]
    Undelivered(Delivery),
}

/// How much of the current publication the broker has, as the session last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Publishes the current connection had to carry: `online`, every kept message, and the
    /// ones that changed since.
    pub total: u64,
    /// Those the broker has not acknowledged on it (all of them once it is lost).
    pub unacknowledged: u64,
    /// Messages refused before sending, over [`MAX_MESSAGE_BYTES`].
    pub too_large: usize,
}

impl Delivery {
    /// The broker has everything we meant to publish.
    pub fn is_complete(&self) -> bool {
        self.unacknowledged == 0 && self.too_large == 0
    }
}

impl std::fmt::Display for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Delivery {
            total,
            unacknowledged,
            too_large,
        } = *self;
        if unacknowledged > 0 {
            write!(
                f,
                "{unacknowledged} of {total} messages not acknowledged by the broker"
            )?;
        }
        if too_large > 0 {
            let separator = if unacknowledged > 0 { "; " } else { "" };
            let limit = MAX_MESSAGE_BYTES / 1024;
            write!(
                f,
                "{separator}{too_large} message(s) over {limit} KiB not published"
            )?;
        }
        Ok(())
    }
}

/// Why the broker could not be reached, in one line that never contains the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("TLS failure with {at}: {detail}{hint}")]
    Tls {
        at: String,
        detail: String,
        hint: &'static str,
    },
    #[error(
        "the broker {at} refused the login: not authorised (check the MQTT user name and password)"
    )]
    NotAuthorized { at: String },
    #[error("the broker {at} refused the connection ({code})")]
    Refused { at: String, code: String },
    #[error("connection refused by {at}: is the broker running and listening on this port?")]
    NothingListening { at: String },
    #[error("unknown host {host}: check the broker's name")]
    UnknownHost { host: String },
    #[error("no answer from {at} (network timeout)")]
    NetworkTimeout { at: String },
    #[error("connection to {at} failed: {detail}")]
    Other { at: String, detail: String },
    #[error("no answer from the broker within {0} s")]
    NoAnswer(u64),
    #[error("the MQTT session stopped")]
    Stopped,
}

pub(crate) fn qos(level: Qos) -> rumqttc::QoS {
    match level {
        Qos::AtMostOnce => rumqttc::QoS::AtMostOnce,
        Qos::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
        Qos::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
    }
}

pub(crate) fn mqtt_options(config: &SessionConfig) -> Result<MqttOptions, SessionError> {
    let broker = &config.broker;
    let mut options = MqttOptions::new(&config.client_id, &broker.host, broker.port);
    options
        .set_keep_alive(config.keep_alive)
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET_SIZE, MAX_PACKET_SIZE)
        .set_inflight(100);
    if config.announce {
        let will = LastWill::new(
            &config.status_topic,
            "offline",
            rumqttc::QoS::AtLeastOnce,
            true,
        );
        options.set_last_will(will);
    }
    if let Some(user) = &broker.username {
        let password = broker.password.as_ref().map(|p| p.expose()).unwrap_or("");
        options.set_credentials(user, password);
    }
    if broker.tls || config.tls_files.ca_cert.is_some() {
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls_client_config(&config.tls_files)?),
        )));
    }
    Ok(options)
}

/// A rustls client config: the given CA (or the system's roots) and an optional client cert.
pub fn tls_client_config(files: &TlsFiles) -> Result<rustls::ClientConfig, SessionError> {
    let builder = rustls::ClientConfig::builder().with_root_certificates(root_store(files)?);
    match (&files.client_cert, &files.client_key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(&read(cert)?)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| tls_error(cert, e))?;
            let key = PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|e| tls_error(key, e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| SessionError::Tls(e.to_string()))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// The CA of `mqtt_ca_cert`, or the system's roots.
fn root_store(files: &TlsFiles) -> Result<rustls::RootCertStore, SessionError> {
    let mut roots = rustls::RootCertStore::empty();
    let Some(path) = &files.ca_cert else {
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        return Ok(roots);
    };
    for cert in CertificateDer::pem_slice_iter(&read(path)?) {
        let cert = cert.map_err(|e| tls_error(path, e))?;
        roots.add(cert).map_err(|e| tls_error(path, e))?;
    }
    if roots.is_empty() {
        return Err(tls_error(path, "no certificate in it"));
    }
    Ok(roots)
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, SessionError> {
    std::fs::read(path).map_err(|source| SessionError::TlsFile {
        path: path.display().to_string(),
        source,
    })
}

fn tls_error(path: &std::path::Path, error: impl std::fmt::Display) -> SessionError {
    SessionError::Tls(format!("{}: {error}", path.display()))
}

impl ConnectError {
    /// What a failed connection means, from rumqttc's error.
    pub fn of(error: &ConnectionError, broker: &BrokerAddress) -> Self {
        let at = format!("{}:{}", broker.host, broker.port);
        if let Some(tls) = tls_error_of(error) {
            return ConnectError::Tls {
                at,
                detail: tls.to_string(),
                hint: tls_hint(tls),
            };
        }
        match error {
            ConnectionError::ConnectionRefused(
                ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized,
            ) => ConnectError::NotAuthorized { at },
            ConnectionError::ConnectionRefused(code) => ConnectError::Refused {
                at,
                code: format!("{code:?}"),
            },
            ConnectionError::Tls(e) => ConnectError::Tls {
                at,
                detail: crate::http::root_cause(e),
                hint: "",
            },
            ConnectionError::NetworkTimeout => ConnectError::NetworkTimeout { at },
            ConnectionError::Io(e) => Self::of_io(e, broker, at),
            other => ConnectError::Other {
                at,
                detail: other.to_string(),
            },
        }
    }

    fn of_io(error: &std::io::Error, broker: &BrokerAddress, at: String) -> Self {
        use std::io::ErrorKind;
        let text = error.to_string();
        let lookup = ["lookup", "resolve", "Name or service"];
        match error.kind() {
            ErrorKind::ConnectionRefused => ConnectError::NothingListening { at },
            _ if lookup.iter().any(|word| text.contains(word)) => ConnectError::UnknownHost {
                host: broker.host.clone(),
            },
            ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset if broker.tls => {
                ConnectError::Tls {
                    at,
                    detail: format!("the connection was closed during the handshake ({text})"),
                    hint: "",
                }
            }
            _ => ConnectError::Other { at, detail: text },
        }
    }
}

fn tls_hint(error: &rustls::Error) -> &'static str {
    use rustls::AlertDescription::{BadCertificate, CertificateRequired, UnknownCA};
    match error {
        rustls::Error::AlertReceived(CertificateRequired | BadCertificate | UnknownCA) => {
            ": the broker wants a client certificate it trusts (mqtt_client_cert and mqtt_client_key)"
        }
        rustls::Error::InvalidCertificate(_) => {
            ": the broker's certificate is not trusted (set mqtt_ca_cert to its CA)"
        }
        _ => "",
    }
}

/// The rustls error behind a connection failure, wherever rumqttc wrapped it: during the
/// handshake it is an I/O error; with TLS 1.3 a refused client certificate only shows when
/// the first MQTT packet is read.
fn tls_error_of(error: &ConnectionError) -> Option<&rustls::Error> {
    use rumqttc::StateError;
    let io = match error {
        ConnectionError::Io(e)
        | ConnectionError::MqttState(StateError::Io(e))
        | ConnectionError::MqttState(StateError::Deserialization(rumqttc::mqttbytes::Error::Io(
            e,
        ))) => e,
        _ => return None,
    };
    io.get_ref()?.downcast_ref::<rustls::Error>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_says_what_is_missing_in_one_line() {
        let missing = Delivery {
            total: 194,
            unacknowledged: 194,
            too_large: 0,
        };
        assert_eq!(
            missing.to_string(),
            "194 of 194 messages not acknowledged by the broker"
        );
        let both = Delivery {
            too_large: 2,
            ..missing
        };
        assert_eq!(
            both.to_string(),
            "194 of 194 messages not acknowledged by the broker; 2 message(s) over 64 KiB not published"
        );
        let complete = Delivery {
            total: 5,
            unacknowledged: 0,
            too_large: 0,
        };
        assert!(complete.is_complete());
        assert!(!both.is_complete());
    }
}
