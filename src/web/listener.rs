//! Connections from anyone but the allowed peer are closed before a byte is read: inside the
//! add-on the page listens on every interface of the container, and only the Supervisor's
//! ingress proxy may reach it (it authenticates the Home Assistant user).

use std::net::{IpAddr, SocketAddr};

use axum::serve::Listener;
use tokio::net::{TcpListener, TcpStream};

/// A TCP listener that accepts only `allowed` (every peer when `None`).
pub struct PeerFilter {
    inner: TcpListener,
    allowed: Option<IpAddr>,
}

impl PeerFilter {
    pub fn new(inner: TcpListener, allowed: Option<IpAddr>) -> Self {
        Self { inner, allowed }
    }
}

/// Whether `peer` may talk to the page (an IPv4 peer seen through an IPv6 socket included).
fn admits(allowed: Option<IpAddr>, peer: IpAddr) -> bool {
    allowed.is_none_or(|allowed| peer.to_canonical() == allowed.to_canonical())
}

impl Listener for PeerFilter {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let (stream, peer) = Listener::accept(&mut self.inner).await;
            if admits(self.allowed, peer.ip()) {
                return (stream, peer);
            }
            // Closed unanswered; at debug level, so that a scan does not fill the log.
            tracing::debug!("web page: connection from {peer} refused (not the ingress proxy)");
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn served_to(allowed: Option<IpAddr>) -> String {
        let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = inner.local_addr().unwrap();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "page" }));
        let server = tokio::spawn(axum::serve(PeerFilter::new(inner, allowed), app).into_future());
        let mut client = TcpStream::connect(address).await.unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        let read = client.read_to_string(&mut answer);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), read).await;
        server.abort();
        answer
    }

    #[tokio::test]
    async fn only_the_allowed_peer_is_answered() {
        let proxy = "127.0.0.1".parse().unwrap();
        assert!(served_to(Some(proxy)).await.ends_with("page"));
        assert!(served_to(None).await.ends_with("page"));
        let elsewhere = "172.30.32.2".parse().unwrap();
        assert_eq!(served_to(Some(elsewhere)).await, "");
    }

    #[test]
    fn a_mapped_ipv4_peer_is_the_same_peer() {
        let proxy = Some("172.30.32.2".parse().unwrap());
        assert!(admits(proxy, "::ffff:172.30.32.2".parse().unwrap()));
        assert!(!admits(proxy, "172.30.32.3".parse().unwrap()));
        assert!(admits(None, "192.0.2.1".parse().unwrap()));
    }
}
