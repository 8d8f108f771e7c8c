//! Publish rate of the MQTT session, side by side with `mosquitto_pub -l -q 1`.
//!
//! Budget: the session publishes (QoS 1, pipelined) at ≥ 0.8× the rate of
//! `mosquitto_pub -l -q 1` on the same broker. The machine is shared and noisy, so this is a
//! benchmark that reports a ratio measured in one run, never a timed test.
//!
//! One private mosquitto on a free 127.0.0.1 port (temporary config, no persistence) serves
//! every round; it is stopped at the end. Each round runs A, B, C one after the other (A B C,
//! then C B A the next round, so slow drift of the machine hits all alike):
//!
//! * **A** `mosquitto_pub -h 127.0.0.1 -p PORT -q 1 -l -t bench/x`, the N lines on stdin (read
//!   from a file): timed from spawn to exit, so it includes process start, CONNECT and
//!   DISCONNECT, and a fixed 100 ms sleep: in `-l` mode mosquitto_pub polls every 100 ms for the
//!   CONNACK before it reads stdin (and once more at the end, which overlaps the sending for
//!   large N). **A0**, the same with an empty stdin, measures that fixed cost (median of 3
//!   runs before the rounds; now and then the CONNACK wins the race and a run takes ~5 ms);
//!   `A - A0` is reported as "A net", the stricter reference, since B's time does not include
//!   connecting.
//! * **B** our `Session`, fresh for each round (a reused one would skip messages it already
//!   published), on the current-thread runtime the daemon uses: start, wait for the ConnAck,
//!   then time `publish(all N)` + `flush()`. Same topic `bench/x`, same payloads as A.
//! * **C** the same with N distinct topics `bench/0` … `bench/N-1` (what the daemon does: one
//!   topic per entity, every one kept for republication). Informative only.
//!
//! Payloads are ~110-byte JSON lines, all different. QoS 1, not retained. The session also
//! publishes its retained `bench/status` `online` after the ConnAck (one more message).
//!
//! Delivery is checked on the broker side without adding a subscriber to the timed path: a
//! watcher thread follows `$SYS/broker/publish/messages/received` (`sys_interval 1`), and after
//! each round the counter must have grown by exactly N — fewer means lost, more means
//! duplicates. (That counter skips retained publishes, such as the session's `online`.) The
//! session's own count of PUBLISH packets written is printed too, and the CPU time of client
//! and broker per message (from `/proc`, 10 ms ticks), which the noise of a shared machine
//! disturbs less than wall-clock times.
//!
//! Env: `BENCH_MESSAGES` (default 20000), `BENCH_ROUNDS` (default 5), `BENCH_BROKER_NODELAY`
//! (set: `set_tcp_nodelay true` in the broker config; mosquitto's default is off).
//! Run with `cargo bench --bench publish_rate` (or `scripts/bench`).

use std::fmt::Write as _;
use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use myelectricaldata_mqtt::model::{BrokerAddress, Message, MessageKind, Qos, TlsFiles};
use myelectricaldata_mqtt::mqtt::{Session, SessionConfig};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

/// Longest a single round may take before the benchmark gives up.
const ROUND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for the broker to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for a `$SYS` update after a round (updates come every 1–2 s).
const SYS_WAIT: Duration = Duration::from_millis(2500);
const COUNTER_TOPIC: &str = "$SYS/broker/publish/messages/received";

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test` a small smoke run keeps the bench
    // from rotting without making the test suite a benchmark.
    let full = std::env::args().any(|a| a == "--bench");
    let messages = env_usize("BENCH_MESSAGES", if full { 20_000 } else { 300 }).max(1);
    let rounds = env_usize("BENCH_ROUNDS", if full { 5 } else { 1 }).max(1);
    let started = Instant::now();

    let mosquitto_pub = find_program("mosquitto_pub")
        .expect("mosquitto_pub is not installed (scripts/bootstrap installs mosquitto)");
    let mut broker = Broker::start();
    let port = broker.port;
    let watcher = CounterWatcher::start(port);
    if !watcher.wait_first(Duration::from_secs(5)) {
        broker.fail("no $SYS/broker/publish/messages/received update within 5 s");
    }

    let lines = payload_lines(messages);
    let input = broker.dir.path().join("lines.txt");
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(&input, &text).expect("cannot write the mosquitto_pub input");
    let empty = broker.dir.path().join("empty.txt");
    fs::write(&empty, "").expect("cannot write empty.txt");
    let n = messages as u64;
    let payloads: Vec<Bytes> = lines.into_iter().map(Bytes::from).collect();
    let same_topic: Vec<Message> = payloads
        .iter()
        .map(|p| message("bench/x".to_string(), p.clone()))
        .collect();
    let distinct_topics: Vec<Message> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| message(format!("bench/{i}"), p.clone()))
        .collect();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot build the runtime");
    let url = format!("mqtt://127.0.0.1:{port}");

    println!(
        "publish_rate: {messages} messages of ~{} bytes, QoS 1, {rounds} rounds, mosquitto on 127.0.0.1:{port}",
        payloads.iter().map(Bytes::len).sum::<usize>() / payloads.len()
    );
    println!("  A  = mosquitto_pub -l -q 1, N lines on stdin (spawn to exit)");
    println!(
        "  A0 = the same, empty stdin: its fixed cost (process, connect, 100 ms CONNACK poll)"
    );
    println!("  B  = Session, fresh per round, publish(all) + flush(), topic bench/x");
    println!("  C  = Session, fresh per round, publish(all) + flush(), topics bench/0..N-1");

    let mut fixed = Vec::new();
    for _ in 0..3 {
        let t = run_mosquitto_pub(&mosquitto_pub, port, &empty).unwrap_or_else(|e| broker.fail(&e));
        fixed.push(t);
    }

    // times[k][round]: A, B, C.
    const LABELS: [&str; 3] = ["A", "B", "C"];
    let mut times: [Vec<Duration>; 3] = Default::default();
    let mut failures = Vec::new();
    let mut sent = [0u64; 3];
    let mut written_packets = [0u64; 3];
    // CPU seconds: mosquitto_pub (as a waited-for child) or this process, and the broker.
    let mut client_cpu = [0f64; 3];
    let mut broker_cpu = [0f64; 3];
    for round in 1..=rounds {
        let order: [usize; 3] = if round % 2 == 1 { [0, 1, 2] } else { [2, 1, 0] };
        let mut these = [Duration::ZERO; 3];
        for k in order {
            let before = watcher.value();
            let batch = match k {
                1 => same_topic.clone(),
                2 => distinct_topics.clone(),
                _ => Vec::new(),
            };
            let cpu_before = (own_cpu(), broker.cpu());
            // Every contender sends N messages the $SYS counter sees (it skips retained
            // publishes, such as the session's `online`).
            let time = match k {
                0 => run_mosquitto_pub(&mosquitto_pub, port, &input),
                _ => runtime
                    .block_on(run_session(&url, batch))
                    .map(|(time, written)| {
                        written_packets[k] += written;
                        time
                    }),
            };
            let cpu_after = (own_cpu(), broker.cpu());
            client_cpu[k] += match k {
                0 => cpu_after.0.1 - cpu_before.0.1,
                _ => cpu_after.0.0 - cpu_before.0.0,
            };
            broker_cpu[k] += cpu_after.1 - cpu_before.1;
            let done = Instant::now();
            let who = LABELS[k];
            let time = time.unwrap_or_else(|e| broker.fail(&format!("round {round} {who}: {e}")));
            match watcher.check(who, done, before, n) {
                Ok(got) => sent[k] += got,
                Err((got, e)) => {
                    sent[k] += got;
                    failures.push(format!("round {round}: {e}"));
                }
            }
            these[k] = time;
        }
        let [t_a, t_b, t_c] = these;
        println!(
            "round {round} ({}): A {:6.1} ms  B {:6.1} ms  C {:6.1} ms   (rate B/A {:.2}, C/A {:.2})",
            order.map(|k| LABELS[k]).join(" "),
            ms(t_a),
            ms(t_b),
            ms(t_c),
            t_a.as_secs_f64() / t_b.as_secs_f64(),
            t_a.as_secs_f64() / t_c.as_secs_f64(),
        );
        for k in 0..3 {
            times[k].push(these[k]);
        }
    }

    let rate = |t: Duration| messages as f64 / t.as_secs_f64();
    let [ma, mb, mc] = [0, 1, 2].map(|k| median(&times[k]));
    let m0 = median(&fixed);
    let net = ma.saturating_sub(m0).max(Duration::from_micros(1));
    println!();
    println!(
        "A0 (mosquitto_pub, empty stdin): median {:.1} ms of {:?}",
        ms(m0),
        fixed
            .iter()
            .map(|t| format!("{:.1}", ms(*t)))
            .collect::<Vec<_>>()
    );
    println!(
        "median A     (mosquitto_pub):      {:7.1} ms  {:>7.0} msg/s",
        ms(ma),
        rate(ma)
    );
    println!(
        "A net = A - A0:                    {:7.1} ms  {:>7.0} msg/s",
        ms(net),
        rate(net)
    );
    println!(
        "median B     (Session, 1 topic):   {:7.1} ms  {:>7.0} msg/s",
        ms(mb),
        rate(mb)
    );
    println!(
        "median C     (Session, N topics):  {:7.1} ms  {:>7.0} msg/s",
        ms(mc),
        rate(mc)
    );
    let paired = |x: &[Duration]| {
        let ratios: Vec<f64> = times[0]
            .iter()
            .zip(x)
            .map(|(a, x)| a.as_secs_f64() / x.as_secs_f64())
            .collect();
        median_f64(&ratios)
    };
    let ratio = |x: Duration| ma.as_secs_f64() / x.as_secs_f64();
    let strict = |x: Duration| net.as_secs_f64() / x.as_secs_f64();
    println!(
        "ratio B/A (rate, medians): {:.2}   median of per-round ratios {:.2}   vs A net {:.2}",
        ratio(mb),
        paired(&times[1]),
        strict(mb)
    );
    println!(
        "ratio C/A (rate, medians): {:.2}   median of per-round ratios {:.2}   vs A net {:.2}",
        ratio(mc),
        paired(&times[2]),
        strict(mc)
    );
    println!(
        "budget B/A >= 0.80: {} (spawn-to-exit A), {} (A net)",
        if ratio(mb) >= 0.8 { "met" } else { "NOT met" },
        if strict(mb) >= 0.8 { "met" } else { "NOT met" }
    );
    let per_round = |x: u64| x as f64 / rounds as f64;
    println!(
        "PUBLISH packets per round: broker counted A {:.0}, B {:.0}, C {:.0} (N = {n}); session wrote B {:.0}, C {:.0} (N + `online`)",
        per_round(sent[0]),
        per_round(sent[1]),
        per_round(sent[2]),
        per_round(written_packets[1]),
        per_round(written_packets[2]),
    );
    let per_message = |cpu: f64| cpu * 1e6 / (rounds as f64 * messages as f64);
    println!(
        "CPU per message (all rounds, 10 ms ticks, connect included): client A {:.1} µs, B {:.1} µs, C {:.1} µs; broker during A {:.1} µs, B {:.1} µs, C {:.1} µs",
        per_message(client_cpu[0]),
        per_message(client_cpu[1]),
        per_message(client_cpu[2]),
        per_message(broker_cpu[0]),
        per_message(broker_cpu[1]),
        per_message(broker_cpu[2]),
    );
    if failures.is_empty() {
        println!("delivery: every round's broker counter grew by exactly the messages sent");
    } else {
        println!("delivery: MISMATCHES ({}):", failures.len());
        for f in &failures {
            println!("  {f}");
        }
    }

    watcher.stop();
    broker.stop();
    println!("total bench time {:.1} s", started.elapsed().as_secs_f64());
}

fn message(topic: String, payload: Bytes) -> Message {
    Message {
        kind: MessageKind::State,
        topic,
        payload,
        retain: false,
        qos: Qos::AtLeastOnce,
    }
}

/// ~120-byte JSON documents, all different (the session skips unchanged messages).
fn payload_lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "{{\"value\":{}.{:02},\"unit\":\"kWh\",\"date\":\"2024-01-15\",\"meter\":\"01234567890123\",\"seq\":{i:06},\"source\":\"publish-rate\"}}",
                10 + i % 90,
                i % 100
            )
        })
        .collect()
}

/// One fresh session: connect (untimed), then publish everything and flush (timed).
/// Returns the time and the PUBLISH packets the session wrote (its own count).
async fn run_session(url: &str, messages: Vec<Message>) -> Result<(Duration, u64), String> {
    let broker = BrokerAddress::parse(url).map_err(|e| e.to_string())?;
    let config = SessionConfig::new(broker, TlsFiles::default(), "bench", None);
    let session = Session::start(config).map_err(|e| e.to_string())?;
    let connected = session.first_outcome(Duration::from_secs(5)).await;
    connected.map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let timed = async {
        session.publish(messages).await?;
        session.flush().await
    };
    let outcome = tokio::time::timeout(ROUND_TIMEOUT, timed).await;
    let elapsed = t0.elapsed();
    let status = session.status().borrow().clone();
    session.shutdown(false).await;
    match outcome {
        Ok(Ok(())) => Ok((elapsed, status.published)),
        Ok(Err(e)) => Err(format!("session: {e}")),
        Err(_) => Err(format!(
            "session: publish + flush not done after {ROUND_TIMEOUT:?} (status {status:?})"
        )),
    }
}

/// Spawn to exit, stdin from `input`. Killed after `ROUND_TIMEOUT`.
fn run_mosquitto_pub(program: &Path, port: u16, input: &Path) -> Result<Duration, String> {
    let stdin = File::open(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let t0 = Instant::now();
    let mut child = Command::new(program)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-l",
            "-t",
            "bench/x",
        ])
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let pid = child.id();
    let (done_tx, done_rx) = std_mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(ROUND_TIMEOUT).is_err() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    });
    let status = child.wait();
    let elapsed = t0.elapsed();
    let _ = done_tx.send(());
    let _ = watchdog.join();
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        use std::io::Read as _;
        let _ = err.read_to_string(&mut stderr);
    }
    match status {
        Ok(s) if s.success() => Ok(elapsed),
        Ok(s) => Err(format!("mosquitto_pub failed ({s}): {stderr}")),
        Err(e) => Err(format!("cannot wait for mosquitto_pub: {e}")),
    }
}

/// Follows the broker's count of PUBLISH packets received from clients.
struct CounterWatcher {
    /// (latest value, when it arrived, updates seen)
    state: Arc<Mutex<(u64, Instant, u64)>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl CounterWatcher {
    fn start(port: u16) -> Self {
        let state = Arc::new(Mutex::new((0, Instant::now(), 0)));
        let (stop, mut stop_rx) = tokio::sync::oneshot::channel();
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cannot build the watcher runtime");
            runtime.block_on(async move {
                let mut options = MqttOptions::new(
                    format!("bench-counter-{:08x}", std::process::id()),
                    "127.0.0.1",
                    port,
                );
                options.set_keep_alive(Duration::from_secs(30));
                let (client, mut eventloop) = AsyncClient::new(options, 10);
                loop {
                    let event = tokio::select! {
                        event = eventloop.poll() => event,
                        _ = &mut stop_rx => break,
                    };
                    match event {
                        Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                            let _ = client.try_subscribe(COUNTER_TOPIC, QoS::AtMostOnce);
                        }
                        Ok(Event::Incoming(Incoming::Publish(p))) if p.topic == COUNTER_TOPIC => {
                            if let Some(v) = std::str::from_utf8(&p.payload)
                                .ok()
                                .and_then(|s| s.trim().parse::<u64>().ok())
                            {
                                let mut s = shared.lock().unwrap();
                                *s = (v, Instant::now(), s.2 + 1);
                            }
                        }
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
                let _ = client.try_disconnect();
            });
        });
        Self {
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn wait_first(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.state.lock().unwrap().2 > 0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The broker's final count once everything sent before `now` is acknowledged: the value
    /// of an update that arrived after `done`, or the last value if none comes (the broker
    /// only publishes a `$SYS` counter when it changed).
    fn settled_value(&self, done: Instant) -> u64 {
        let deadline = done + SYS_WAIT;
        loop {
            let (value, at, _) = *self.state.lock().unwrap();
            if at > done + Duration::from_millis(5) || Instant::now() >= deadline {
                return value;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn value(&self) -> u64 {
        // Only called once the previous round has settled.
        self.state.lock().unwrap().0
    }

    /// Checks that the counter grew by `expected` since `before`; returns the growth.
    fn check(
        &self,
        who: &str,
        done: Instant,
        before: u64,
        expected: u64,
    ) -> Result<u64, (u64, String)> {
        let after = self.settled_value(done);
        let got = after.saturating_sub(before);
        if got == expected {
            Ok(got)
        } else {
            let what = if got > expected { "duplicates" } else { "lost" };
            Err((
                got,
                format!(
                    "{who}: broker received {got} PUBLISH packets, expected {expected} ({what})"
                ),
            ))
        }
    }

    fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A private mosquitto on a free loopback port, in a temporary directory.
struct Broker {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    fn start() -> Broker {
        let dir = tempfile::Builder::new()
            .prefix("bench-mosquitto-")
            .tempdir()
            .expect("cannot create the broker directory");
        let mut broker = Broker {
            dir,
            port: 0,
            child: None,
        };
        let mut last = String::new();
        // The port was free when picked; retry with another if mosquitto cannot bind it.
        for _ in 0..5 {
            broker.port = free_port();
            match broker.spawn_and_wait() {
                Ok(()) => return broker,
                Err(e) if e.contains("in use") => last = e,
                Err(e) => broker.fail(&e),
            }
        }
        broker.fail(&format!("no free port after 5 attempts: {last}"))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.log")
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let mut conf = String::new();
        if let Some(user) = current_user() {
            // As root, mosquitto would switch to the `mosquitto` user and lose access to the
            // 0700 temporary directory.
            let _ = writeln!(conf, "user {user}");
        }
        let _ = writeln!(conf, "listener {} 127.0.0.1", self.port);
        let _ = writeln!(conf, "allow_anonymous true");
        let _ = writeln!(conf, "persistence false");
        if std::env::var_os("BENCH_BROKER_NODELAY").is_some() {
            // mosquitto's default (off) lets Nagle hold back PUBACKs until our delayed ACK:
            // ~40 ms per flush of a small batch.
            let _ = writeln!(conf, "set_tcp_nodelay true");
        }
        let _ = writeln!(conf, "sys_interval 1");
        let _ = writeln!(conf, "log_dest file {}", self.log_path().display());
        let _ = writeln!(conf, "log_type error");
        let _ = writeln!(conf, "log_type warning");
        let _ = writeln!(conf, "log_type notice");
        let config = self.dir.path().join("mosquitto.conf");
        fs::write(&config, conf).expect("cannot write mosquitto.conf");
        let _ = fs::remove_file(self.log_path());
        let program = find_program("mosquitto")
            .expect("mosquitto is not installed (scripts/bootstrap installs it)");
        let stderr = File::create(self.dir.path().join("stderr.log")).expect("stderr.log");
        let child = Command::new(program)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| format!("cannot run mosquitto: {e}"))?;
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let child = self.child.as_mut().expect("just spawned");
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(format!("mosquitto exited ({status}): {}", self.log()));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("not accepting connections after {READY_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The broker's user + system CPU so far, in seconds.
    fn cpu(&self) -> f64 {
        let Some(child) = self.child.as_ref() else {
            return 0.0;
        };
        let fields = stat_fields(&format!("/proc/{}/stat", child.id()));
        ticks(&fields, 11) + ticks(&fields, 12)
    }

    fn log(&self) -> String {
        let mut text = fs::read_to_string(self.log_path()).unwrap_or_default();
        text.push_str(&fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default());
        text
    }

    /// SIGTERM, up to 3 s, then SIGKILL.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn fail(&mut self, why: &str) -> ! {
        let log = self.log();
        self.stop();
        panic!(
            "benchmark broker on 127.0.0.1:{}: {why}\n--- broker log ---\n{log}",
            self.port
        );
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// (this process's user + system CPU, its waited-for children's), in seconds.
fn own_cpu() -> (f64, f64) {
    let fields = stat_fields("/proc/self/stat");
    (
        ticks(&fields, 11) + ticks(&fields, 12),
        ticks(&fields, 13) + ticks(&fields, 14),
    )
}

/// The fields of a `/proc/*/stat` line after the command name (index 0 is the state).
fn stat_fields(path: &str) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    rest.split_whitespace().map(str::to_string).collect()
}

/// A clock-tick field (USER_HZ = 100 on Linux) in seconds.
fn ticks(fields: &[String], index: usize) -> f64 {
    fields
        .get(index)
        .and_then(|f| f.parse::<u64>().ok())
        .unwrap_or(0) as f64
        / 100.0
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind 127.0.0.1:0")
}

fn current_user() -> Option<String> {
    let out = Command::new("id").arg("-un").output().ok()?;
    let name = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !name.is_empty()).then_some(name)
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}

fn median_f64(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}
