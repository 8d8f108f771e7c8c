//! One MQTT publication, as the entity catalog makes it and the MQTT session sends it.

use bytes::Bytes;

/// What a message is, which decides its place when everything is republished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MessageKind {
    /// A discovery config (always retained).
    Discovery,
    /// A state topic.
    State,
}

/// MQTT quality of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos {
    AtMostOnce,
    AtLeastOnce,
    ExactlyOnce,
}

impl Qos {
    /// 0, 1 or 2 as the options give it; anything else is 1.
    pub fn from_level(level: u8) -> Self {
        match level {
            0 => Qos::AtMostOnce,
            2 => Qos::ExactlyOnce,
            _ => Qos::AtLeastOnce,
        }
    }
}

/// One publication. An empty payload on a retained topic clears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: MessageKind,
    pub topic: String,
    pub payload: Bytes,
    pub retain: bool,
    pub qos: Qos,
}
