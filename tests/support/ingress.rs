//! An ingress-like proxy, as the Supervisor puts an add-on's page in the sidebar: the page
//! is served under `/api/hassio_ingress/<token>/`, forwarded to the add-on with the prefix
//! taken off and `X-Ingress-Path` added. Any other path is answered 404 and recorded: a
//! request that escaped the prefix. Served on 127.0.0.1 from a task of its own.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// The prefix, as the Supervisor makes it (its token is a random string).
pub const PREFIX: &str = "/api/hassio_ingress/Xy9-ingress_token";

#[derive(Clone)]
struct Shared {
    upstream: String,
    escaped: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
}

pub struct IngressProxy {
    /// The page's address through the proxy (`http://127.0.0.1:PORT{PREFIX}/`).
    pub url: String,
    escaped: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl IngressProxy {
    /// Proxies to `upstream` (`http://127.0.0.1:PORT/`).
    pub async fn start(upstream: &str) -> IngressProxy {
        let escaped = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            escaped: escaped.clone(),
            client: reqwest::Client::new(),
        };
        let app = axum::Router::new().fallback(forward).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{PREFIX}/", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        IngressProxy { url, escaped, task }
    }

    /// The paths asked outside the prefix.
    pub fn escaped(&self) -> Vec<String> {
        self.escaped.lock().unwrap().clone()
    }
}

impl Drop for IngressProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(rest) = uri.path().strip_prefix(PREFIX) else {
        shared.escaped.lock().unwrap().push(uri.to_string());
        return StatusCode::NOT_FOUND.into_response();
    };
    let rest = if rest.is_empty() { "/" } else { rest };
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let mut request = shared
        .client
        .request(method, format!("{}{rest}{query}", shared.upstream))
        .header("X-Ingress-Path", PREFIX)
        .body(body);
    if let Some(kind) = headers.get("content-type") {
        request = request.header("content-type", kind);
    }
    let Ok(answer) = request.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let kind = answer.headers().get("content-type").cloned();
    let body = answer.bytes().await.unwrap_or_default();
    let mut response = (status, body).into_response();
    if let Some(kind) = kind {
        response.headers_mut().insert("content-type", kind);
    }
    response
}
