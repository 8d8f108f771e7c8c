//! A private mosquitto broker per test, on a free loopback port, in a temporary directory.

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tempfile::TempDir;

pub use super::certs::{CA_NAME, CLIENT_NAME, generate_tls_files, write_private};

/// How long `start`/`restart` wait for the broker to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `stop` waits after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// What the broker asks of its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerKind {
    /// Plain TCP, anonymous clients allowed.
    Anonymous,
    /// Plain TCP, only this user with this password.
    Password { user: String, password: String },
    /// TLS with a CA and server certificate (CN/SAN `localhost`, SAN IP 127.0.0.1) generated
    /// at test time; anonymous clients allowed.
    Tls,
    /// Like `Tls` (same kind of generated CA and server certificate), and the listener also
    /// requires a client certificate signed by that CA (`require_certificate true`). The CA
    /// signs one for the tests: `client_cert_path()` / `client_key_path()` (PEM, P-256).
    /// `MqttProbe` presents no client certificate, so it cannot connect to this broker.
    MutualTls,
}

impl BrokerKind {
    pub fn password(user: &str, password: &str) -> Self {
        BrokerKind::Password {
            user: user.to_string(),
            password: password.to_string(),
        }
    }

    /// `Tls` or `MutualTls`: a TLS listener with a generated CA.
    pub fn is_tls(&self) -> bool {
        matches!(self, BrokerKind::Tls | BrokerKind::MutualTls)
    }
}

/// Less common knobs; `Default` is what `Mosquitto::start` uses.
#[derive(Debug, Clone, Default)]
pub struct BrokerOptions {
    /// Keep retained messages across `stop`/`restart` (saved on SIGTERM). Off by default, so
    /// a restarted broker has forgotten every retained message.
    pub persistence: bool,
    /// Write the password file's `$6$` (salted SHA-512) line in-process even when
    /// `mosquitto_passwd` exists. That fallback is used anyway when `mosquitto_passwd` is
    /// missing.
    pub hash_in_process: bool,
}

pub struct Mosquitto {
    kind: BrokerKind,
    options: BrokerOptions,
    port: u16,
    dir: TempDir,
    config: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts a broker of that kind; panics (with the broker log) if it does not accept TCP
    /// connections within 5 s.
    pub fn start(kind: BrokerKind) -> Mosquitto {
        Self::start_with(kind, BrokerOptions::default())
    }

    pub fn start_with(kind: BrokerKind, options: BrokerOptions) -> Mosquitto {
        let dir = tempfile::Builder::new()
            .prefix("mosquitto-")
            .tempdir()
            .expect("cannot create the broker directory");
        match &kind {
            BrokerKind::Anonymous => {}
            BrokerKind::Password { user, password } => {
                write_password_file(
                    &dir.path().join("passwd"),
                    user,
                    password,
                    options.hash_in_process,
                );
            }
            BrokerKind::Tls => generate_tls_files(dir.path(), false),
            BrokerKind::MutualTls => generate_tls_files(dir.path(), true),
        }
        let mut broker = Mosquitto {
            config: dir.path().join("mosquitto.conf"),
            kind,
            options,
            port: 0,
            dir,
            child: None,
        };
        // The port is free when picked but could be taken before mosquitto binds it: try again
        // with another one in that case.
        let mut last_error = String::new();
        for _ in 0..5 {
            broker.port = super::free_port();
            broker.write_config();
            match broker.spawn_and_wait(READY_TIMEOUT) {
                Ok(()) => return broker,
                Err(e) if address_in_use(&e) => last_error = e,
                Err(e) => broker.fail(&e),
            }
        }
        broker.fail(&format!("no free port after 5 attempts: {last_error}"))
    }

    pub fn kind(&self) -> &BrokerKind {
        &self.kind
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's temporary directory (config, log, password file, certificates).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// PEM file of the CA that signed the server certificate (TLS brokers only: `Tls` and
    /// `MutualTls`).
    pub fn ca_cert_path(&self) -> Option<PathBuf> {
        self.kind.is_tls().then(|| self.dir.path().join("ca.crt"))
    }

    /// Contents of `ca_cert_path()`.
    pub fn ca_cert_pem(&self) -> Option<Vec<u8>> {
        self.ca_cert_path()
            .map(|p| fs::read(&p).expect("cannot read the CA certificate"))
    }

    /// PEM file of the client certificate signed by the broker's CA (`MutualTls` only).
    pub fn client_cert_path(&self) -> Option<PathBuf> {
        matches!(self.kind, BrokerKind::MutualTls).then(|| self.dir.path().join("client.crt"))
    }

    /// PEM file (PKCS#8, unencrypted) of the key of `client_cert_path()` (`MutualTls` only).
    pub fn client_key_path(&self) -> Option<PathBuf> {
        matches!(self.kind, BrokerKind::MutualTls).then(|| self.dir.path().join("client.key"))
    }

    /// Contents of `client_cert_path()` and `client_key_path()`, e.g. for rumqttc's
    /// `TlsConfiguration::Simple { client_auth: Some(…), .. }`.
    pub fn client_auth_pem(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        let cert = self.client_cert_path()?;
        let key = self.client_key_path()?;
        Some((
            fs::read(&cert).expect("cannot read the client certificate"),
            fs::read(&key).expect("cannot read the client key"),
        ))
    }

    /// `(user, password)` for password brokers.
    pub fn credentials(&self) -> Option<(String, String)> {
        match &self.kind {
            BrokerKind::Password { user, password } => Some((user.clone(), password.clone())),
            _ => None,
        }
    }

    /// The host name a client should use: `localhost` for TLS (the certificate's name),
    /// `127.0.0.1` otherwise.
    pub fn host(&self) -> &'static str {
        if self.kind.is_tls() {
            "localhost"
        } else {
            "127.0.0.1"
        }
    }

    /// `mqtt://127.0.0.1:PORT`, `mqtt://user:pass@127.0.0.1:PORT` (percent-encoded) or
    /// `mqtts://localhost:PORT` (`Tls` and `MutualTls`).
    pub fn url(&self) -> String {
        match &self.kind {
            BrokerKind::Anonymous => format!("mqtt://127.0.0.1:{}", self.port),
            BrokerKind::Password { user, password } => format!(
                "mqtt://{}:{}@127.0.0.1:{}",
                encode_userinfo(user),
                encode_userinfo(password),
                self.port
            ),
            BrokerKind::Tls | BrokerKind::MutualTls => {
                format!("mqtts://localhost:{}", self.port)
            }
        }
    }

    /// The broker log so far (log file, then anything mosquitto wrote to stdout/stderr).
    pub fn log(&self) -> String {
        let mut text = fs::read_to_string(self.log_path()).unwrap_or_default();
        let stderr = fs::read_to_string(self.stderr_path()).unwrap_or_default();
        if !stderr.trim().is_empty() {
            let _ = write!(text, "--- stdout/stderr ---\n{stderr}");
        }
        text
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGTERM, wait up to 3 s, then SIGKILL. Returns once the process is gone.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Stops the broker if it runs and starts it again on the same port with the same config
    /// (retrying for up to 5 s while the port cannot be bound).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.spawn_and_wait(left.max(Duration::from_millis(500))) {
                Ok(()) => return,
                Err(e) if address_in_use(&e) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => self.fail(&format!("restart on port {}: {e}", self.port)),
            }
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.log")
    }

    fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("stderr.log")
    }

    fn write_config(&self) {
        let dir = self.dir.path();
        let mut conf = String::new();
        if let Some(user) = current_user() {
            // Run as root, mosquitto would switch to the `mosquitto` user and lose access to
            // the 0700 temporary directory.
            let _ = writeln!(conf, "user {user}");
        }
        if self.options.persistence {
            let _ = writeln!(conf, "persistence true");
            let _ = writeln!(conf, "persistence_location {}/", dir.display());
        } else {
            let _ = writeln!(conf, "persistence false");
        }
        let _ = writeln!(conf, "log_dest file {}", self.log_path().display());
        for t in ["error", "warning", "notice", "information", "subscribe"] {
            let _ = writeln!(conf, "log_type {t}");
        }
        let _ = writeln!(conf, "connection_messages true");
        match &self.kind {
            BrokerKind::Password { .. } => {
                let _ = writeln!(conf, "allow_anonymous false");
                let _ = writeln!(conf, "password_file {}", dir.join("passwd").display());
            }
            _ => {
                let _ = writeln!(conf, "allow_anonymous true");
            }
        }
        let _ = writeln!(conf, "listener {} 127.0.0.1", self.port);
        if self.kind.is_tls() {
            let _ = writeln!(conf, "cafile {}", dir.join("ca.crt").display());
            let _ = writeln!(conf, "certfile {}", dir.join("server.crt").display());
            let _ = writeln!(conf, "keyfile {}", dir.join("server.key").display());
        }
        if matches!(self.kind, BrokerKind::MutualTls) {
            // Clients must present a certificate signed by `cafile`.
            let _ = writeln!(conf, "require_certificate true");
        }
        fs::write(&self.config, conf).expect("cannot write mosquitto.conf");
    }

    /// Spawns mosquitto and waits until it logged "running" and accepts TCP connections.
    /// Errors carry the new part of the log.
    fn spawn_and_wait(&mut self, timeout: Duration) -> Result<(), String> {
        let log_before = fs::metadata(self.log_path()).map(|m| m.len()).unwrap_or(0) as usize;
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stderr_path())
            .expect("cannot open stderr.log");
        let err = out.try_clone().expect("cannot clone stderr.log");
        let child = Command::new(mosquitto_bin())
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", mosquitto_bin().display()));
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + timeout;
        let log_path = self.log_path();
        let new_log = || {
            let log = fs::read(&log_path).unwrap_or_default();
            String::from_utf8_lossy(log.get(log_before..).unwrap_or_default()).into_owned()
        };
        loop {
            let child = self.child.as_mut().expect("child just spawned");
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(format!("mosquitto exited ({status}):\n{}", new_log()));
            }
            if new_log().contains(" running")
                && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let log = new_log();
                if let Some(mut child) = self.child.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Err(format!(
                    "not accepting connections after {timeout:?}:\n{log}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn fail(&mut self, why: &str) -> ! {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "mosquitto ({:?}) on 127.0.0.1:{}: {why}\n--- broker log ---\n{}\n--- config ---\n{}",
            self.kind,
            self.port,
            self.log(),
            fs::read_to_string(&self.config).unwrap_or_default()
        );
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn address_in_use(error: &str) -> bool {
    error.contains("Address already in use") || error.contains("address already in use")
}

/// Looks for a program in PATH and the usual sbin/bin directories.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            [
                "/usr/sbin",
                "/usr/bin",
                "/usr/local/sbin",
                "/usr/local/bin",
                "/sbin",
                "/bin",
            ]
            .into_iter()
            .map(PathBuf::from),
        )
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn mosquitto_bin() -> PathBuf {
    let usual = PathBuf::from("/usr/sbin/mosquitto");
    if usual.is_file() {
        return usual;
    }
    find_program("mosquitto").expect("mosquitto is not installed (apt-get install mosquitto)")
}

fn current_user() -> Option<String> {
    let out = Command::new("id").arg("-un").output().ok()?;
    let name = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !name.is_empty()).then_some(name)
}

/// Runs a program in `dir` and returns its stdout; panics with its stderr when it fails.
fn run(dir: &Path, program: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}): {}",
        program.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Mosquitto 2 only reads hashed password files: `mosquitto_passwd -b -c` when available
/// (and not `in_process`), else a `$6$` line computed here, which mosquitto 2 still reads.
fn write_password_file(path: &Path, user: &str, password: &str, in_process: bool) {
    let dir = path.parent().expect("password file in a directory");
    let file = path.to_str().expect("UTF-8 temporary path");
    match find_program("mosquitto_passwd").filter(|_| !in_process) {
        Some(tool) => {
            run(dir, &tool, &["-b", "-c", file, user, password]);
        }
        None => write_private(path, sha512_password_line(user, password).as_bytes()),
    }
}

/// A mosquitto password line `USER:$6$SALT$HASH`: SALT is 12 random bytes and HASH is
/// SHA-512(password bytes, then salt bytes), both in standard base64 with padding, the format
/// `mosquitto_passwd` 1.x wrote and mosquitto 2 still accepts (it decodes the salt, expects
/// 12 bytes, and compares the hash).
fn sha512_password_line(user: &str, password: &str) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use sha2::{Digest as _, Sha512};
    let mut salt = [0u8; 12];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut salt)
        .expect("no random bytes for the salt");
    let hash = Sha512::new()
        .chain_update(password.as_bytes())
        .chain_update(salt)
        .finalize();
    format!(
        "{user}:$6${}${}\n",
        STANDARD.encode(salt),
        STANDARD.encode(hash)
    )
}

/// `mqtt://` user info: everything but RFC 3986 unreserved characters percent-encoded.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode_userinfo(text: &str) -> String {
    utf8_percent_encode(text, USERINFO).to_string()
}
