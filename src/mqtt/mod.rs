//! The MQTT side: the session that owns the connection and keeps every message published.
//!
//! | file | job |
//! |---|---|
//! | `session` | the handle and the controller task: what must stay published, republished after every ConnAck and Home Assistant's birth |
//! | `driver` | the task that polls rumqttc at all times and reports the link's state |
//! | `connect` | the session's settings and limits, rumqttc options (last will, credentials, TLS), [`ConnectError`] (what a failed connection means) and [`Delivery`] (what the broker has not acknowledged) |

mod connect;
mod driver;
mod session;

pub use connect::{
    ConnectError, Delivery, MAX_MESSAGE_BYTES, RECONNECT, STABLE_SESSION, SessionConfig,
    SessionError, tls_client_config,
};
pub use driver::LinkStatus;
pub use session::Session;
