//! What both gateway clients do on the wire: send a GET, turn transport and HTTP failures
//! into typed errors, and parse a JSON body.

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use url::Url;

use super::GatewayError;
use crate::http::BodyError;
use crate::model::{QUOTED_CHARS, one_line};

/// The largest body read from one call. Real answers are far smaller: a 365-day daily answer
/// is about 20 KB, a 7-day load curve at 5 minutes about 200 KB; one limit for every route.
pub const MAX_ANSWER_BYTES: usize = 4 << 20;

/// A client's connection: its HTTP client, base URL and timeout.
pub(crate) struct Wire {
    pub(crate) http: reqwest::Client,
    pub(crate) base: Url,
    pub(crate) timeout: Duration,
}

impl Wire {
    pub(crate) fn new(base: Url, timeout: Duration) -> Result<Self, GatewayError> {
        let http = crate::http::client(timeout)
            .map_err(|e| GatewayError::Unsupported(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            timeout,
        })
    }

    /// `GET base/segments…?query` with an optional `Authorization` value; the status and the
    /// body, whatever the status.
    pub(crate) async fn get<'s>(
        &self,
        segments: impl IntoIterator<Item = &'s str>,
        query: &[(&str, &str)],
        authorization: Option<&str>,
    ) -> Result<(StatusCode, Bytes), GatewayError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| GatewayError::Unsupported("gateway_url cannot be a base URL".into()))?
            .pop_if_empty()
            .extend(segments);
        let mut request = self.http.get(url).query(query);
        if let Some(value) = authorization {
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let body = self.read_capped(response).await?;
        Ok((status, body))
    }

    /// The body, streamed and refused as soon as it passes [`MAX_ANSWER_BYTES`] (announced
    /// or actual): memory stays bounded whatever the server sends.
    async fn read_capped(&self, response: reqwest::Response) -> Result<Bytes, GatewayError> {
        crate::http::read_limited(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|error| match error {
                BodyError::TooLarge(max) => GatewayError::TooLarge {
                    limit_mib: max >> 20,
                },
                BodyError::Transport(e) => self.transport_error(&e),
            })
    }

    fn transport_error(&self, error: &reqwest::Error) -> GatewayError {
        if error.is_timeout() {
            return GatewayError::Timeout(self.timeout.as_secs_f64());
        }
        GatewayError::Unreachable {
            host: self.base.host_str().unwrap_or("?").to_string(),
            reason: crate::http::root_cause(error),
        }
    }
}

/// A non-2xx answer as a typed error; `{"detail": …}` (FastAPI) or `{"message": …}` gives its
/// text. 409 (v1) and 429 are the gateways' quota answers.
pub(crate) fn status_error(status: StatusCode, body: &[u8]) -> GatewayError {
    let detail = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| {
            let detail = value.get("detail").or_else(|| value.get("message"))?;
            Some(match detail {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        });
    let message = detail
        .map(|d| one_line(&d, QUOTED_CHARS))
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("no explanation")
                .to_string()
        });
    match status {
        StatusCode::CONFLICT | StatusCode::TOO_MANY_REQUESTS => GatewayError::QuotaReached(message),
        StatusCode::UNAUTHORIZED => GatewayError::Unauthorized(message),
        StatusCode::FORBIDDEN => GatewayError::AccessDenied(message),
        _ => GatewayError::Http {
            status: status.as_u16(),
            message,
        },
    }
}

/// A body in the expected shape, parsed straight into its type (no intermediate JSON tree,
/// whose size is a multiple of the body's); `Malformed` says "not JSON" or what did not fit.
pub(crate) fn typed<T: DeserializeOwned>(
    status: StatusCode,
    body: &[u8],
) -> Result<T, GatewayError> {
    serde_json::from_slice(body).map_err(|e| GatewayError::Malformed {
        status: status.as_u16(),
        // serde's text quotes the offending value, which is any size.
        detail: if e.is_data() {
            one_line(&format!("unexpected shape: {e}"), QUOTED_CHARS)
        } else {
            "not JSON".into()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_s_error_text_is_quoted_on_one_short_line() {
        let detail = format!("first line\nsecond line {}", "x".repeat(10_000));
        let body = serde_json::json!({ "detail": detail }).to_string();
        let error = status_error(StatusCode::BAD_GATEWAY, body.as_bytes()).to_string();
        assert!(!error.contains('\n') && error.len() < 300, "{error}");
        assert!(error.contains("first line second line"), "{error}");
    }
}
