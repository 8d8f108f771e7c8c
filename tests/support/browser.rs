//! Debian's headless Chromium, driven over the DevTools protocol (a websocket of JSON
//! commands and events): the web page's tests load it as a user would and read what the
//! browser saw — console errors, every request, the layout, screenshots.
//!
//! One browser per test, with its own profile directory, its DevTools endpoint on a free
//! loopback port; killed on `Drop`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long one command or one wait may take.
const STEP: Duration = Duration::from_secs(20);

pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    socket: Socket,
    session: String,
    next_id: u64,
    /// Every event received so far (method and params).
    pub events: Vec<Value>,
}

impl Browser {
    /// Starts Chromium headless with one blank page, its console, network and log watched.
    pub async fn start() -> Browser {
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut child = Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts (scripts/bootstrap installs it)");
        let stderr = BufReader::new(child.stderr.take().expect("a pipe"));
        let endpoint = stderr
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                line.split_once("DevTools listening on ")
                    .map(|(_, u)| u.to_string())
            })
            .expect("chromium's DevTools endpoint");
        let (socket, _) = tokio_tungstenite::connect_async(endpoint.trim())
            .await
            .expect("the DevTools websocket");
        let mut browser = Browser {
            child,
            _profile: profile,
            socket,
            session: String::new(),
            next_id: 0,
            events: Vec::new(),
        };
        let target = browser
            .command("Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let attach = json!({"targetId": target["targetId"], "flatten": true});
        let attached = browser.command("Target.attachToTarget", attach).await;
        browser.session = attached["sessionId"].as_str().expect("a session").into();
        for domain in ["Page", "Runtime", "Network", "Log"] {
            browser
                .command(&format!("{domain}.enable"), json!({}))
                .await;
        }
        browser
    }

    /// Sends one command (to the page once attached) and returns its result; panics on an
    /// error answer. Events that arrive meanwhile are kept in `events`.
    pub async fn command(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let text = message.to_string();
        self.socket
            .send(Message::text(text))
            .await
            .expect("send a DevTools command");
        loop {
            let message = self.next_message(method).await;
            if message["id"] == json!(id) {
                assert!(message["error"].is_null(), "{method}: {}", message["error"]);
                return message["result"].clone();
            }
        }
    }

    /// Navigates to `url` and waits for its load event.
    pub async fn open(&mut self, url: &str) {
        let seen = self.events.len();
        self.command("Page.navigate", json!({"url": url})).await;
        self.wait_for_event("Page.loadEventFired", seen).await;
    }

    /// Waits until an event `method` arrives after the first `seen` events.
    pub async fn wait_for_event(&mut self, method: &str, seen: usize) -> Value {
        loop {
            if let Some(event) = self.events[seen..].iter().find(|e| e["method"] == method) {
                return event.clone();
            }
            self.next_message(method).await;
        }
    }

    /// The value of a JavaScript expression (promises awaited); panics when it throws.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let params = json!({"expression": expression, "returnByValue": true,
            "awaitPromise": true});
        let result = self.command("Runtime.evaluate", params).await;
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression}: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// A viewport of `width` × `height` CSS pixels, as a phone when `mobile`.
    pub async fn viewport(&mut self, width: u32, height: u32, mobile: bool) {
        let params = json!({"width": width, "height": height, "deviceScaleFactor": 1,
            "mobile": mobile});
        self.command("Emulation.setDeviceMetricsOverride", params)
            .await;
    }

    /// `prefers-color-scheme: dark` (or light).
    pub async fn dark(&mut self, dark: bool) {
        let scheme = if dark { "dark" } else { "light" };
        let params = json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]});
        self.command("Emulation.setEmulatedMedia", params).await;
    }

    /// A PNG of the whole page.
    pub async fn screenshot(&mut self) -> Vec<u8> {
        let params = json!({"format": "png", "captureBeyondViewport": true});
        let shot = self.command("Page.captureScreenshot", params).await;
        let data = shot["data"].as_str().expect("image data");
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64")
    }

    /// Console errors, uncaught exceptions and the browser's own error log entries, as text.
    pub fn errors(&self) -> Vec<String> {
        let text = |e: &Value| e["params"].to_string();
        self.events
            .iter()
            .filter(|e| match e["method"].as_str().unwrap_or("") {
                "Runtime.exceptionThrown" => true,
                "Runtime.consoleAPICalled" => e["params"]["type"] == "error",
                "Log.entryAdded" => e["params"]["entry"]["level"] == "error",
                _ => false,
            })
            .map(text)
            .collect()
    }

    /// The URL of every request the page made.
    pub fn requests(&self) -> Vec<String> {
        let url = |e: &Value| e["params"]["request"]["url"].as_str().map(str::to_string);
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter_map(url)
            .collect()
    }

    /// The next message, kept in `events` when it is one; `what` names the wait in a panic.
    async fn next_message(&mut self, what: &str) -> Value {
        let message = tokio::time::timeout(STEP, self.socket.next())
            .await
            .unwrap_or_else(|_| panic!("no DevTools answer within {STEP:?}: {what}"))
            .expect("the DevTools websocket closed")
            .expect("a DevTools message");
        let value: Value = match message {
            Message::Text(text) => serde_json::from_str(&text).expect("DevTools JSON"),
            _ => Value::Null,
        };
        if value.get("method").is_some() {
            self.events.push(value.clone());
        }
        value
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
