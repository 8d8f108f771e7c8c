//! The Home Assistant Supervisor's `GET /services/mqtt`, faked.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::broker::{BrokerKind, Mosquitto};
use super::gateway::RecordedRequest;
use super::http::BackgroundServer;

/// What `GET /services/mqtt` answers (to a request with the right token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupervisorMode {
    /// 200 `{"result":"ok","data":{"host","port","ssl","protocol":"3.1.1","username",
    /// "password",PROVIDER_KEY:"core_mosquitto"}}`.
    Ok {
        host: String,
        port: u16,
        /// `"port":"1883"` instead of `"port":1883`.
        port_as_string: bool,
        /// `"addon"` (older Supervisors) or `"app"`.
        provider_key: String,
        username: String,
        password: String,
        ssl: bool,
    },
    /// 400 `{"result":"error","message":"Service not enabled"}`.
    NotEnabled,
    /// 403 `{"result":"error","message":"No access to mqtt service!"}`.
    NoAccess,
    /// That status with `{"result":"error","message":MESSAGE}` (e.g. a proxy quoting the
    /// request's token back).
    Error(u16, String),
}

impl SupervisorMode {
    /// Numeric port, key `addon`, user `addons`, password `supervisor-mqtt-password`, no TLS.
    pub fn ok(host: &str, port: u16) -> Self {
        SupervisorMode::Ok {
            host: host.into(),
            port,
            port_as_string: false,
            provider_key: "addon".into(),
            username: "addons".into(),
            password: "supervisor-mqtt-password".into(),
            ssl: false,
        }
    }

    /// Points at that broker: its host, port, credentials (password brokers) and TLS flag.
    pub fn for_broker(broker: &Mosquitto) -> Self {
        let mut mode = Self::ok(broker.host(), broker.port());
        if let SupervisorMode::Ok {
            username,
            password,
            ssl,
            ..
        } = &mut mode
        {
            if let BrokerKind::Password { user, password: p } = broker.kind() {
                *username = user.clone();
                *password = p.clone();
            }
            *ssl = matches!(broker.kind(), BrokerKind::Tls);
        }
        mode
    }

    fn response(&self) -> Response {
        match self {
            SupervisorMode::Ok {
                host,
                port,
                port_as_string,
                provider_key,
                username,
                password,
                ssl,
            } => {
                let port = if *port_as_string {
                    Value::from(port.to_string())
                } else {
                    Value::from(*port)
                };
                let mut data = json!({
                    "host": host,
                    "port": port,
                    "ssl": ssl,
                    "protocol": "3.1.1",
                    "username": username,
                    "password": password,
                });
                data[provider_key.as_str()] = Value::from("core_mosquitto");
                (
                    StatusCode::OK,
                    axum::Json(json!({ "result": "ok", "data": data })),
                )
                    .into_response()
            }
            SupervisorMode::NotEnabled => json_text(
                StatusCode::BAD_REQUEST,
                r#"{"result":"error","message":"Service not enabled"}"#,
            ),
            SupervisorMode::NoAccess => json_text(
                StatusCode::FORBIDDEN,
                r#"{"result":"error","message":"No access to mqtt service!"}"#,
            ),
            SupervisorMode::Error(status, message) => (
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::json!({ "result": "error", "message": message }).to_string(),
            )
                .into_response(),
        }
    }
}

struct SupervisorState {
    token: String,
    mode: SupervisorMode,
    requests: Vec<RecordedRequest>,
}

type Shared = Arc<Mutex<SupervisorState>>;

pub struct FakeSupervisor {
    state: Shared,
    server: BackgroundServer,
}

impl FakeSupervisor {
    /// Serves on 127.0.0.1:0 from its own thread; accepts `Authorization: Bearer TOKEN` (or
    /// `X-Supervisor-Token: TOKEN`).
    pub fn start(token: &str, mode: SupervisorMode) -> FakeSupervisor {
        let state = Arc::new(Mutex::new(SupervisorState {
            token: token.into(),
            mode,
            requests: Vec::new(),
        }));
        let router = Router::new().fallback(handle).with_state(state.clone());
        let server = BackgroundServer::start("fake-supervisor", router);
        FakeSupervisor { state, server }
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    pub fn token(&self) -> String {
        self.lock().token.clone()
    }

    pub fn set_mode(&self, mode: SupervisorMode) {
        self.lock().mode = mode;
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Requests to `/services/mqtt`.
    pub fn calls(&self) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.path == "/services/mqtt")
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SupervisorState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A JSON body written verbatim (keeps the Supervisor's key order).
fn json_text(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn handle(State(state): State<Shared>, request: Request) -> Response {
    let header_text = |name: &str| {
        request
            .headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let authorization = header_text("authorization");
    let supervisor_token = header_text("x-supervisor-token");
    let path = request.uri().path().to_string();
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    s.requests.push(RecordedRequest {
        method: request.method().to_string(),
        path: path.clone(),
        query: request.uri().query().unwrap_or("").to_string(),
        authorization: authorization.clone(),
    });
    let bearer = authorization
        .as_deref()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string());
    if bearer.as_deref() != Some(s.token.as_str())
        && supervisor_token.as_deref() != Some(s.token.as_str())
    {
        return text(StatusCode::UNAUTHORIZED, "401: Unauthorized");
    }
    if path != "/services/mqtt" {
        return text(StatusCode::NOT_FOUND, "404: Not Found");
    }
    if request.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "405: Method Not Allowed");
    }
    s.mode.response()
}
