//! A string that never shows itself in `Debug`, `Display` or serialized logs, and the
//! redaction of every secret the process knows from any text it writes ([`redact`],
//! [`RedactedLines`]).

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};
use std::sync::{PoisonError, RwLock};

/// A credential (password, token, client secret). Its value is only reachable through
/// [`Secret::expose`], so it cannot slip into a log line or an error message by accident.
///
/// Making one also registers its value for [`redact`]: a server that echoes a credential
/// back (an error text quoting the `Authorization` header, a URL with a token) cannot make
/// the program print it either.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        remember(&value);
        Self(value)
    }

    /// The clear value, for the one place that must send it (an HTTP header, the MQTT CONNECT).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// What stands in for a secret in redacted text.
pub const REDACTED: &str = "***";

/// Shorter values are not redacted: a 1- to 3-character "secret" would blank out ordinary
/// words and numbers from every line without protecting anything.
const MIN_REDACTED_CHARS: usize = 4;

/// Every secret value of the process and its URL-encoded form, longest first (so that a
/// secret containing another is replaced whole).
static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

fn remember(value: &str) {
    if value.chars().count() < MIN_REDACTED_CHARS {
        return;
    }
    let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    let mut known = KNOWN.write().unwrap_or_else(PoisonError::into_inner);
    for form in [value.to_string(), encoded] {
        if !known.contains(&form) {
            known.push(form);
        }
    }
    known.sort_by_key(|form| std::cmp::Reverse(form.len()));
}

/// `text` with every known secret value replaced by [`REDACTED`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let known = KNOWN.read().unwrap_or_else(PoisonError::into_inner);
    let mut redacted = Cow::Borrowed(text);
    for secret in known.iter().filter(|s| text.contains(s.as_str())) {
        redacted = Cow::Owned(redacted.replace(secret.as_str(), REDACTED));
    }
    redacted
}

/// A writer that passes whole lines on, each with every known secret taken out: whatever
/// prints through it (the log, `check`'s report, a panic message) cannot show a credential,
/// even one split across several `write` calls. A last line without its newline goes out
/// on `flush` or drop.
pub struct RedactedLines<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> RedactedLines<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            pending: Vec::new(),
        }
    }

    fn write_line(&mut self, end: usize) -> io::Result<()> {
        let line: Vec<u8> = self.pending.drain(..end).collect();
        let text = String::from_utf8_lossy(&line);
        self.inner.write_all(redact(&text).as_bytes())
    }
}

impl<W: Write> Write for RedactedLines<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(newline) = self.pending.iter().position(|b| *b == b'\n') {
            self.write_line(newline + 1)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.write_line(self.pending.len())?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for RedactedLines<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_its_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "*** ***");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn every_known_value_is_redacted_from_any_text() {
        let _token = Secret::new("tok/en+with spaces-8c1f");
        let _inner = Secret::new("en+with");
        let _short = Secret::new("abc");
        let echoed = "401: bad header 'Authorization: Bearer tok/en+with spaces-8c1f' \
                      (url ?t=tok%2Fen%2Bwith+spaces-8c1f), abc";
        assert_eq!(
            redact(echoed),
            "401: bad header 'Authorization: Bearer ***' (url ?t=***), abc"
        );
        assert!(matches!(redact("nothing to hide"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_secret_split_across_writes_is_still_redacted() {
        let _secret = Secret::new("split-secret-5d2e");
        let mut out = Vec::new();
        {
            let mut lines = RedactedLines::new(&mut out);
            for piece in [
                "error: split-",
                "secret-",
                "5d2e\nnext ",
                "split-secret-5d2e",
            ] {
                lines.write_all(piece.as_bytes()).unwrap();
            }
        }
        assert_eq!(String::from_utf8(out).unwrap(), "error: ***\nnext ***");
    }
}
