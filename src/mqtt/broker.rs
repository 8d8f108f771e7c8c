//! Where the broker is and how to log in: from a `mqtt://` / `mqtts://` URL or from the
//! Supervisor. Displays with the password masked.

use std::fmt;
use std::path::PathBuf;

use url::Url;

use crate::config::Secret;

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

impl BrokerAddress {
    /// Parses `mqtt://[user[:pass]@]host[:port]` or `mqtts://…`. The error text never contains
    /// the password.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = Url::parse(text.trim()).map_err(|e| format!("not a URL ({e})"))?;
        let (tls, default_port) = match url.scheme() {
            "mqtt" | "tcp" => (false, 1883),
            "mqtts" | "ssl" => (true, 8883),
            other => {
                return Err(format!(
                    "unknown scheme `{other}`: use mqtt://host[:1883] or mqtts://host[:8883]"
                ));
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("no host name")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            return Err("a broker URL has no path or query".into());
        }
        let decode = |s: &str| {
            percent_decode(s)
                .ok_or_else(|| "credentials are not valid percent-encoded UTF-8".to_string())
        };
        let username = match url.username() {
            "" => None,
            name => Some(decode(name)?),
        };
        let password = match url.password() {
            None => None,
            Some(p) => Some(Secret::new(decode(p)?)),
        };
        Ok(Self {
            host,
            port: url.port().unwrap_or(default_port),
            tls,
            username,
            password,
        })
    }
}

fn percent_decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
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

        let port = BrokerAddress::parse("mqtt://10.0.0.2:1884").unwrap();
        assert_eq!(port.port, 1884);
    }

    #[test]
    fn rejects_unknown_schemes_and_paths() {
        assert!(
            BrokerAddress::parse("http://host")
                .unwrap_err()
                .contains("unknown scheme")
        );
        assert!(BrokerAddress::parse("mqtt://host/topic").is_err());
        assert!(BrokerAddress::parse("host:1883").is_err());
        assert!(BrokerAddress::parse("mqtt://").is_err());
    }

    #[test]
    fn display_and_debug_mask_the_password() {
        let broker = BrokerAddress::parse("mqtt://user:s3cret@host:1883").unwrap();
        assert_eq!(broker.to_string(), "mqtt://user:***@host:1883");
        let debug = format!("{broker:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        let err = BrokerAddress::parse("ftp://user:s3cret@host").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
