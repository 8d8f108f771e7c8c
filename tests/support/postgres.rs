//! A PostgreSQL server of its own for a test: `initdb` into a temporary directory, then
//! `pg_ctl start` on a free port of 127.0.0.1 with trust authentication, stopped and removed
//! on `Drop`; it can be killed and started again on the same port with the same data. Never the machine's shared server on 5432. PostgreSQL refuses to run as root:
//! as root, the server runs as the `postgres` user.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
    /// Serves TLS with `server.crt` (for `localhost` and 127.0.0.1) signed by `ca.crt`.
    tls: bool,
}

/// Where Debian puts the server's programs (`initdb`, `pg_ctl` are not on the PATH).
fn program(name: &str) -> PathBuf {
    let on_path = Command::new(name).arg("--version").output().is_ok();
    if on_path {
        return PathBuf::from(name);
    }
    let versions = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/bootstrap)");
    let mut found: Vec<PathBuf> = versions
        .filter_map(Result::ok)
        .map(|v| v.path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop().expect("a PostgreSQL server program")
}

fn as_root() -> bool {
    static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| {
        let id = Command::new("id").arg("-u").output();
        id.map(|o| o.stdout == b"0\n").unwrap_or(false)
    })
}

/// `name args`, as the server's user (`postgres` when we are root).
fn command(name: &str, args: &[&str]) -> Command {
    let program = program(name);
    let mut command = match as_root() {
        true => {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(program);
            runuser
        }
        false => Command::new(program),
    };
    command.args(args);
    command
}

/// Runs `name args` in `dir`; panics with its output when it fails.
fn run(dir: &Path, name: &str, args: &[&str]) -> Output {
    let output = command(name, args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    assert!(
        output.status.success(),
        "{name} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

impl Postgres {
    /// A new cluster on a free port, started and accepting connections.
    pub fn start() -> Postgres {
        Postgres::start_on(super::free_port())
    }

    /// A new cluster on `port`, started and accepting connections.
    pub fn start_on(port: u16) -> Postgres {
        Postgres::init(port, None, false)
    }

    /// A new cluster on a free port that also serves TLS, its certificate signed by the
    /// test CA at [`Postgres::ca_cert_path`] (the CA the TLS brokers use).
    pub fn with_tls() -> Postgres {
        Postgres::init(super::free_port(), None, true)
    }

    /// The CA of a [`Postgres::with_tls`] server, in PEM.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// A new cluster on a free port whose user `postgres` must give `password` over TCP
    /// (SCRAM), as a real server asks.
    pub fn with_password(password: &str) -> Postgres {
        Postgres::init(super::free_port(), Some(password), false)
    }

    fn init(port: u16, password: Option<&str>, tls: bool) -> Postgres {
        let dir = tempfile::tempdir().expect("a temporary directory");
        if as_root() {
            // The server's user owns its directory (and may reach it).
            let chown = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status();
            assert!(
                chown.is_ok_and(|s| s.success()),
                "chown the cluster directory"
            );
            let _ = Command::new("chmod").arg("755").arg(dir.path()).status();
        }
        let data = dir.path().join("data");
        let data = data.to_str().expect("a UTF-8 path");
        let mut args = vec!["-D", data, "-U", "postgres", "-E", "UTF8", "--no-sync"];
        let password_file = dir.path().join("password");
        let password_file = password_file.to_str().expect("a UTF-8 path");
        let with_password = format!("--pwfile={password_file}");
        match password {
            None => args.push("--auth=trust"),
            Some(password) => {
                std::fs::write(password_file, password).expect("write the password file");
                args.extend([
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    &with_password,
                ]);
            }
        }
        run(dir.path(), "initdb", &args);
        if tls {
            super::certs::generate_tls_files(dir.path(), false);
            if as_root() {
                // The server reads its key as its own user (0600).
                let key = dir.path().join("server.key");
                let chown = Command::new("chown").arg("postgres").arg(&key).status();
                assert!(chown.is_ok_and(|s| s.success()), "chown the server key");
            }
        }
        let server = Postgres { dir, port, tls };
        server.resume();
        server
    }

    /// Starts the (stopped) server again, on its port with its data, and waits until it
    /// accepts connections.
    pub fn resume(&self) {
        let data = self.dir.path().join("data");
        let data = data.to_str().expect("a UTF-8 path");
        let socket = self.dir.path().to_str().expect("a UTF-8 path");
        let port = self.port;
        let mut options =
            format!("-p {port} -k {socket} -c listen_addresses=127.0.0.1 -c fsync=off");
        if self.tls {
            options += &format!(
                " -c ssl=on -c ssl_cert_file={socket}/server.crt -c ssl_key_file={socket}/server.key"
            );
        }
        let log = self.dir.path().join("server.log");
        let log = log.to_str().expect("a UTF-8 path");
        run(
            self.dir.path(),
            "pg_ctl",
            &[
                "-D", data, "-o", &options, "-l", log, "-w", "-t", "30", "start",
            ],
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`): the
    /// connections drop, and what was not committed is lost.
    pub fn kill(&self) {
        let data = self.dir.path().join("data");
        if let Some(data) = data.to_str() {
            let stop = ["-D", data, "-m", "immediate", "-w", "stop"];
            let _ = command("pg_ctl", &stop).output();
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.kill();
    }
}
