//! The MQTT side: broker addresses, the session that owns the connection, and the messages
//! it keeps published.

pub mod backoff;
pub mod broker;
pub mod session;

pub use session::{LinkStatus, Message, MessageKind, Session, SessionConfig, SessionError};
