//! The Supervisor services API: where the add-on's MQTT broker is and how to log in.

use serde::Deserialize;

use crate::config::{Settings, SupervisorSettings};
use crate::http::{BodyError, root_cause};
use crate::model::{BrokerAddress, Secret};
use crate::model::{QUOTED_CHARS, one_line};

/// The services answer is a few hundred bytes.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorError {
    #[error(
        "no MQTT broker configured: set mqtt_broker (or MQTT_BROKER), or run as a Home Assistant add-on so the Supervisor can provide one"
    )]
    NoToken,
    #[error(
        "the Supervisor has no MQTT service (\"Service not enabled\"): install and start the Mosquitto broker add-on, or set mqtt_broker"
    )]
    NotEnabled,
    #[error(
        "the Supervisor refused the MQTT service to this add-on (\"No access to mqtt service!\"): its config.yaml must declare services: [mqtt:need]"
    )]
    NoAccess,
    #[error("the Supervisor rejected our token (HTTP 401): SUPERVISOR_TOKEN is missing or wrong")]
    Unauthorized,
    #[error(
        "cannot reach the Supervisor at {url}: {reason} (outside Home Assistant, set mqtt_broker)"
    )]
    Unreachable { url: String, reason: String },
    #[error("the Supervisor answered HTTP {status}: {message}")]
    Unexpected { status: u16, message: String },
}

#[derive(Deserialize)]
struct Answer {
    result: Option<String>,
    message: Option<String>,
    data: Option<MqttService>,
}

#[derive(Deserialize)]
struct MqttService {
    host: String,
    port: PortValue,
    #[serde(default)]
    ssl: bool,
    username: Option<String>,
    password: Option<String>,
}

/// Documented as a string, a number in practice: accept both.
#[derive(Deserialize)]
#[serde(untagged)]
enum PortValue {
    Number(u16),
    Text(String),
}

/// The broker: from the options, else from the Supervisor.
pub async fn resolve_broker(settings: &Settings) -> Result<BrokerAddress, SupervisorError> {
    match &settings.mqtt.broker {
        Some(broker) => Ok(broker.clone()),
        None => discover_broker(&settings.supervisor).await,
    }
}

/// `GET {api}/services/mqtt` with the Supervisor token.
pub async fn discover_broker(
    settings: &SupervisorSettings,
) -> Result<BrokerAddress, SupervisorError> {
    let token = settings.token.as_ref().ok_or(SupervisorError::NoToken)?;
    let mut url = settings.api.clone();
    url.path_segments_mut()
        .map_err(|_| SupervisorError::Unreachable {
            url: settings.api.to_string(),
            reason: "not a base URL".into(),
        })?
        .pop_if_empty()
        .extend(["services", "mqtt"]);
    let unreachable = |reason: String| SupervisorError::Unreachable {
        url: settings.api.to_string(),
        reason,
    };
    let http = crate::http::client(std::time::Duration::from_secs(10))
        .map_err(|e| unreachable(e.to_string()))?;
    let response = http
        .get(url)
        .bearer_auth(token.expose())
        .send()
        .await
        .map_err(|e| unreachable(root_cause(&e)))?;
    let status = response.status().as_u16();
    let body = match crate::http::read_limited(response, MAX_ANSWER_BYTES).await {
        Ok(body) => body,
        Err(BodyError::Transport(e)) => return Err(unreachable(root_cause(&e))),
        Err(BodyError::TooLarge(max)) => {
            let message = format!("an answer of more than {max} bytes");
            return Err(SupervisorError::Unexpected { status, message });
        }
    };
    parse_answer(status, &body)
}

/// The broker of a `GET /services/mqtt` answer (status and body), or why there is none.
pub fn parse_answer(status: u16, body: &[u8]) -> Result<BrokerAddress, SupervisorError> {
    let answer: Option<Answer> = serde_json::from_slice(body).ok();
    let message = answer
        .as_ref()
        .and_then(|a| a.message.as_deref())
        .map(|m| one_line(m, QUOTED_CHARS))
        .unwrap_or_default();
    match status {
        401 => return Err(SupervisorError::Unauthorized),
        400 if message.contains("not enabled") => return Err(SupervisorError::NotEnabled),
        403 if message.contains("No access") => return Err(SupervisorError::NoAccess),
        200 => {}
        _ => {
            return Err(SupervisorError::Unexpected {
                status,
                message: if message.is_empty() {
                    "no explanation".into()
                } else {
                    message
                },
            });
        }
    }
    let service = answer
        .filter(|a| a.result.as_deref() == Some("ok"))
        .and_then(|a| a.data)
        .ok_or_else(|| SupervisorError::Unexpected {
            status,
            message: "an answer without the MQTT service data".into(),
        })?;
    let port = match service.port {
        PortValue::Number(p) => Some(p),
        PortValue::Text(t) => t.trim().parse().ok(),
    }
    .filter(|p| *p != 0)
    .ok_or_else(|| SupervisorError::Unexpected {
        status,
        message: "the MQTT port is not a port number".into(),
    })?;
    if service.host.trim().is_empty() {
        let message = "the MQTT host is empty".into();
        return Err(SupervisorError::Unexpected { status, message });
    }
    Ok(BrokerAddress {
        host: service.host,
        port,
        tls: service.ssl,
        username: service.username.filter(|u| !u.is_empty()),
        password: service.password.filter(|p| !p.is_empty()).map(Secret::new),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_numeric_and_string_ports_and_both_provider_keys() {
        let number = br#"{"result":"ok","data":{"host":"core-mosquitto","port":1883,"ssl":false,"protocol":"3.1.1","username":"addons","password":"pw","addon":"core_mosquitto"}}"#;
        let broker = parse_answer(200, number).unwrap();
        assert_eq!(broker.to_string(), "mqtt://addons:***@core-mosquitto:1883");
        let text = br#"{"result":"ok","data":{"host":"h","port":"8883","ssl":true,"username":"u","password":"p","app":"core_mosquitto"}}"#;
        let broker = parse_answer(200, text).unwrap();
        assert_eq!((broker.port, broker.tls), (8883, true));
    }

    #[test]
    fn a_message_is_quoted_on_one_short_line_and_port_0_or_no_host_is_refused() {
        let long = format!(
            r#"{{"result":"error","message":"a\nb{}"}}"#,
            "x".repeat(5000)
        );
        let error = parse_answer(500, long.as_bytes()).unwrap_err().to_string();
        assert!(!error.contains('\n') && error.len() < 300, "{error}");
        for data in [r#""host":"h","port":0"#, r#""host":" ","port":1883"#] {
            let body = format!(r#"{{"result":"ok","data":{{{data},"ssl":false}}}}"#);
            let error = parse_answer(200, body.as_bytes()).unwrap_err();
            assert!(
                matches!(error, SupervisorError::Unexpected { .. }),
                "{error}"
            );
        }
    }

    #[test]
    fn maps_each_documented_failure() {
        assert_eq!(
            parse_answer(
                400,
                br#"{"result":"error","message":"Service not enabled"}"#
            ),
            Err(SupervisorError::NotEnabled)
        );
        assert_eq!(
            parse_answer(
                403,
                br#"{"result":"error","message":"No access to mqtt service!"}"#
            ),
            Err(SupervisorError::NoAccess)
        );
        assert_eq!(
            parse_answer(401, b"401: Unauthorized"),
            Err(SupervisorError::Unauthorized)
        );
        assert!(matches!(
            parse_answer(500, b"oops"),
            Err(SupervisorError::Unexpected { status: 500, .. })
        ));
    }
}
