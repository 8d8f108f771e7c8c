//! What the HTTP clients (gateway, Supervisor) share.

use std::time::Duration;

/// A reqwest client with our user agent and a whole-request timeout.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("myelectricaldata-mqtt/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The innermost cause of an error: says what happened (refused, DNS, TLS) without
/// repeating the URL of every layer above it.
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}
