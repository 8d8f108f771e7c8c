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

/// Why a body was not read whole.
#[derive(Debug)]
pub enum BodyError {
    /// Longer than the limit: refused before it takes the memory.
    TooLarge(usize),
    Transport(reqwest::Error),
}

/// The body of `response`, refused once it grows past `max` bytes (whatever its
/// `Content-Length` claims): a server cannot make the program hold an answer of any size.
pub async fn read_limited(
    mut response: reqwest::Response,
    max: usize,
) -> Result<bytes::Bytes, BodyError> {
    let announced = response.content_length().unwrap_or(0);
    if announced > max as u64 {
        return Err(BodyError::TooLarge(max));
    }
    // Room for the announced length at once: growing by doubling would copy the body and, at
    // the end, hold it twice (up to 2 × `max`). A false announcement costs at most `max`.
    let mut body = bytes::BytesMut::with_capacity(announced as usize);
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
