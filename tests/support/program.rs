//! The program's own binary as a child process, for benchmarks that measure it from outside:
//! its log, its exit code, and its peak resident memory as the kernel counted it (`wait4`).
//!
//! The kernel counts in a child's peak the memory of the process it was forked from (up to
//! the `exec`), and a benchmark may hold far more than the program (a fake gateway full of
//! answers). So the program is started by a launcher: a fresh, small copy of the benchmark's
//! own binary, which must call [`act_as_launcher_if_asked`] first thing in its `main`.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A `/proc/PID/status` field (`VmRSS:`, `VmHWM:`, `RssAnon:` …) in KiB; 0 once gone.
pub fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"));
    let line = status
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_string));
    line.and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// The argument that makes a benchmark's binary a launcher.
const LAUNCH: &str = "--launch-measured";

/// The binary running one command, started by a launcher.
pub struct Program {
    /// The program's (not the launcher's).
    pub pid: u32,
    pub started: Instant,
    launcher: Child,
    report: BufReader<ChildStdout>,
}

/// How one run ended.
pub struct Run {
    pub status: i32,
    pub wall: Duration,
    /// Peak resident memory in KiB (`ru_maxrss`).
    pub peak_kib: i64,
    /// Its standard error, without colours.
    pub log: String,
}

impl Program {
    /// Writes `options` to `data_dir/options.json`, then starts `command` with it.
    pub fn start(command: &str, options: &Value, data_dir: &Path) -> Program {
        let path = data_dir.join("options.json");
        std::fs::write(&path, options.to_string()).expect("write the options");
        Program::start_with(command, &path, data_dir)
    }

    /// Starts `command` with the options file at `options` and its data in `data_dir/data`.
    pub fn start_with(command: &str, options: &Path, data_dir: &Path) -> Program {
        let started = Instant::now();
        let mut launcher = Command::new(std::env::current_exe().expect("this benchmark"))
            .arg(LAUNCH)
            .arg(command)
            .arg(options)
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the launcher starts");
        let mut report = BufReader::new(launcher.stdout.take().expect("a pipe"));
        let mut first = String::new();
        report.read_line(&mut first).expect("the launcher's report");
        let pid = first.trim().parse().expect("the program's pid");
        Program {
            pid,
            started,
            launcher,
            report,
        }
    }

    /// A `/proc/PID/status` field in KiB.
    pub fn proc_kib(&self, field: &str) -> u64 {
        proc_kib(self.pid, field)
    }

    /// SIGTERM (the daemon stops cleanly), then `finish`.
    pub fn stop(self) -> Run {
        // SAFETY: kill(2) on the launcher's child, which the launcher has not reaped yet (it
        // reports only after); no memory is involved.
        unsafe { libc::kill(self.pid as i32, libc::SIGTERM) };
        self.finish()
    }

    /// Waits for the exit, whatever the code.
    pub fn finish(mut self) -> Run {
        let mut report = String::new();
        self.report.read_to_string(&mut report).expect("the report");
        let _ = self.launcher.wait();
        let (first, log) = report.split_once('\n').expect("the launcher's report");
        let (status, peak_kib) = first.split_once(' ').expect("status and peak");
        Run {
            status: status.parse().expect("a status"),
            wall: self.started.elapsed(),
            peak_kib: peak_kib.parse().expect("a peak"),
            log: log.to_string(),
        }
    }
}

/// When this process was started as a launcher: runs the program as asked, reports on its
/// standard output (its pid on a line, once it runs; then its exit code and peak on a line,
/// and its log), and exits. Otherwise returns.
pub fn act_as_launcher_if_asked() {
    let args: Vec<String> = std::env::args().collect();
    let [_, flag, command, options, data_dir] = args.as_slice() else {
        return;
    };
    if flag != LAUNCH {
        return;
    }
    // Reaped below (wait4, for the peak), which std's `wait` cannot be combined with.
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(binary())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .arg("--options")
        .arg(options)
        .arg("--data-dir")
        .arg(Path::new(data_dir).join("data"))
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program starts");
    println!("{}", child.id());
    let stderr = child.stderr.take().expect("a pipe");
    let log = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let (status, peak_kib) = wait_with_peak(child.id() as i32);
    let log = strip_ansi_escapes::strip_str(log.join().unwrap_or_default());
    println!("{status} {peak_kib}");
    print!("{log}");
    std::process::exit(0);
}

impl Run {
    /// Itself, after checking that the program exited 0.
    pub fn succeeded(self) -> Run {
        assert_eq!(self.status, 0, "the program failed:\n{}", self.log);
        self
    }
}

/// The binary Cargo built for this test or benchmark.
fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_myelectricaldata-mqtt"))
}

/// Waits for the child and returns its exit code and peak resident memory (KiB), from
/// wait4(2): the kernel keeps the peak until the child is reaped.
fn wait_with_peak(pid: i32) -> (i32, i64) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet reaped; both pointers are to live locals.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4");
    (libc::WEXITSTATUS(status), usage.ru_maxrss)
}

/// `subcommand` of the program as a test runs it: an empty environment but `PATH`, its
/// options file and data directory, no standard input, its output piped, killed if dropped.
pub fn test_command(subcommand: &str, options: &Path, data_dir: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary());
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .arg("--options")
        .arg(options)
        .arg("--data-dir")
        .arg(data_dir)
        .arg(subcommand)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}
