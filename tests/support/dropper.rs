//! A fake broker that accepts every login and drops the connection right after: it answers
//! each CONNECT with a CONNACK, reads (and never acknowledges) whatever comes for `hold`, then
//! closes. What a client meets behind a broker that kicks it after the login (an ACL, a bridge
//! that fails, a message over the broker's limit).
//!
//! 127.0.0.1 only, one connection at a time, on its own thread, stopped on `Drop`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest a connection may take to send its CONNECT.
const CONNECT_WAIT: Duration = Duration::from_secs(2);

pub struct DroppingBroker {
    port: u16,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DroppingBroker {
    /// Listens on a free loopback port; each connection is closed `hold` after its CONNACK.
    pub fn start(hold: Duration) -> DroppingBroker {
        let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind 127.0.0.1:0");
        let port = listener.local_addr().expect("a bound address").port();
        listener
            .set_nonblocking(true)
            .expect("cannot make the listener non-blocking");
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let connections = connections.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("dropping-broker-{port}"))
                .spawn(move || serve(listener, hold, &connections, &stop))
                .expect("cannot spawn the dropping broker")
        };
        DroppingBroker {
            port,
            connections,
            stop,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Connections acknowledged (CONNACK written) so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for DroppingBroker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: TcpListener, hold: Duration, connections: &AtomicUsize, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                if answer_then_drop(stream, hold, stop).is_ok() {
                    connections.fetch_add(1, Ordering::SeqCst);
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Reads the CONNECT, writes a CONNACK (accepted, no session), swallows the rest for `hold`,
/// closes.
fn answer_then_drop(
    mut stream: TcpStream,
    hold: Duration,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(CONNECT_WAIT))?;
    read_packet(&mut stream)?;
    stream.write_all(&[0x20, 0x02, 0x00, 0x00])?;
    let until = Instant::now() + hold;
    stream.set_read_timeout(Some(Duration::from_millis(20)))?;
    let mut sink = [0u8; 4096];
    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
        match stream.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    Ok(())
}

/// One MQTT packet: the fixed header's first byte, the remaining length, the rest.
fn read_packet(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte)?;
    let mut remaining = 0usize;
    for shift in 0..4 {
        stream.read_exact(&mut byte)?;
        remaining |= usize::from(byte[0] & 0x7f) << (7 * shift);
        if byte[0] & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0u8; remaining];
    stream.read_exact(&mut body)
}
