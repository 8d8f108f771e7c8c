//! The add-on's web page (issue 11, in progress): served on the daemon's runtime, inside the
//! add-on to the Supervisor's ingress proxy alone, outside it on `web_port`.
//!
//! So far: the listener that answers only the allowed peer.

mod listener;

pub use listener::PeerFilter;
