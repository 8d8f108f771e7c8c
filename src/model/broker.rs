//! Where the MQTT broker is and how to log in: from a `mqtt://` / `mqtts://` URL or from the
//! Supervisor. Displays with the password masked.

use std::fmt;
use std::path::PathBuf;

use url::Url;

use super::Secret;

/// A broker to connect to.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

/// Certificate files for TLS (`mqtt_ca_cert`, `mqtt_client_cert`, `mqtt_client_key`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca_cert: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// Why a broker URL is refused. The text never contains the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerUrlError {
    #[error("not a URL ({0})")]
    NotAUrl(url::ParseError),
    #[error("unknown scheme `{0}`: use mqtt://host[:1883] or mqtts://host[:8883]")]
    UnknownScheme(String),
    #[error("no host name")]
    NoHost,
    #[error("a broker URL has no path or query")]
    PathOrQuery,
    #[error("port 0 is no port to connect to")]
    PortZero,
    #[error("credentials are not valid percent-encoded UTF-8")]
    BadCredentials,
}

impl BrokerAddress {
    /// Parses `mqtt://[user[:pass]@]host[:port]` or `mqtts://…` (`tcp://` and `ssl://` too).
    pub fn parse(text: &str) -> Result<Self, BrokerUrlError> {
        let url = Url::parse(text.trim()).map_err(BrokerUrlError::NotAUrl)?;
        let (tls, default_port) = match url.scheme() {
            "mqtt" | "tcp" => (false, 1883),
            "mqtts" | "ssl" => (true, 8883),
            other => return Err(BrokerUrlError::UnknownScheme(other.into())),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or(BrokerUrlError::NoHost)?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            return Err(BrokerUrlError::PathOrQuery);
        }
        let username = match url.username() {
            "" => None,
            name => Some(percent_decode(name)?),
        };
        let password = url.password().map(percent_decode).transpose()?;
        let port = url.port().unwrap_or(default_port);
        if port == 0 {
            return Err(BrokerUrlError::PortZero);
        }
        Ok(Self {
            host,
            port,
            tls,
            username,
            password: password.map(Secret::new),
        })
    }
}

fn percent_decode(text: &str) -> Result<String, BrokerUrlError> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| BrokerUrlError::BadCredentials)
}

impl fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        write!(f, "{scheme}://")?;
        match (&self.username, &self.password) {
            (Some(user), Some(_)) => write!(f, "{user}:***@")?,
            (Some(user), None) => write!(f, "{user}@")?,
            (None, Some(_)) => write!(f, ":***@")?,
            (None, None) => {}
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for BrokerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BrokerAddress({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schemes_default_ports_and_credentials() {
        let plain = BrokerAddress::parse("mqtt://core-mosquitto").unwrap();
        assert_eq!(
            (plain.host.as_str(), plain.port, plain.tls),
            ("core-mosquitto", 1883, false)
        );
        assert_eq!(plain.username, None);

        let tls = BrokerAddress::parse("mqtts://user:p%40ss@broker.lan").unwrap();
        assert_eq!((tls.port, tls.tls), (8883, true));
        assert_eq!(tls.username.as_deref(), Some("user"));
        assert_eq!(tls.password.as_ref().map(Secret::expose), Some("p@ss"));
        // Found by fuzzing (fuzz/regressions/broker_url): port 0 was accepted.
        assert_eq!(
            BrokerAddress::parse("mqtt://user:pw@host:0"),
            Err(BrokerUrlError::PortZero)
        );

        let port = BrokerAddress::parse("mqtt://10.0.0.2:1884").unwrap();
        assert_eq!(port.port, 1884);
    }

    #[test]
    fn refusals_are_typed() {
        assert!(matches!(
            BrokerAddress::parse("http://host"),
            Err(BrokerUrlError::UnknownScheme(s)) if s == "http"
        ));
        assert_eq!(
            BrokerAddress::parse("mqtt://host/topic"),
            Err(BrokerUrlError::PathOrQuery)
        );
        assert!(matches!(
            BrokerAddress::parse("host:1883"),
            Err(BrokerUrlError::UnknownScheme(_))
        ));
        assert!(matches!(
            BrokerAddress::parse("mqtt://"),
            Err(BrokerUrlError::NoHost | BrokerUrlError::NotAUrl(_))
        ));
        assert_eq!(
            BrokerAddress::parse("mqtt://u:%FF@host"),
            Err(BrokerUrlError::BadCredentials)
        );
        assert!(
            BrokerAddress::parse("http://host")
                .unwrap_err()
                .to_string()
                .contains("unknown scheme")
        );
    }

    #[test]
    fn display_and_debug_mask_the_password() {
        let broker = BrokerAddress::parse("mqtt://user:s3cret@host:1883").unwrap();
        assert_eq!(broker.to_string(), "mqtt://user:***@host:1883");
        let debug = format!("{broker:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        let err = BrokerAddress::parse("ftp://user:s3cret@host").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}
