//! `demo`: the whole pipeline on built-in sample data, with a private broker when none is
//! given, then a look at the broker the way Home Assistant would see it.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use serde_json::Value;

use crate::app::once;
use crate::calendar::{paris_date, sub_days};
use crate::clock::Clock;
use crate::config::{MeterSettings, Settings};
use crate::gateway::Gateway;
use crate::gateway::sample::{SAMPLE_PDL, SampleGateway};
use crate::model::{BrokerAddress, Pdl, Prices, Tariff};
use crate::pipeline::Pipeline;

/// Days of sample history.
const SAMPLE_DAYS: u64 = 400;

/// A `mosquitto` started for the demo on a free loopback port; stopped on drop.
pub struct PrivateBroker {
    child: tokio::process::Child,
    pub port: u16,
    _dir: TempDir,
}

impl PrivateBroker {
    pub async fn start() -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = TempDir::new("broker")?;
        let config = dir.0.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n"
            ),
        )?;
        let program = ["mosquitto", "/usr/sbin/mosquitto"]
            .into_iter()
            .find(|p| std::process::Command::new(p).arg("-h").output().is_ok())
            .context("no broker given and mosquitto is not installed: install it (apt-get install -y mosquitto) or set MQTT_BROKER=mqtt://host:1883")?;
        let child = tokio::process::Command::new(program)
            .arg("-c")
            .arg(&config)
            .kill_on_drop(true)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("cannot start mosquitto")?;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(Self {
                    child,
                    port,
                    _dir: dir,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("mosquitto did not start listening on 127.0.0.1:{port}")
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(format!(
            "myelectricaldata-demo-{what}-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The demo meter.
pub fn sample_meter() -> MeterSettings {
    MeterSettings {
        pdl: Pdl::parse(SAMPLE_PDL).unwrap_or_else(|| unreachable!("the sample PDL is 14 digits")),
        name: "Démo".into(),
        token: None,
        consumption: true,
        production: false,
        load_curve: true,
        tariff: Tariff::HcHp,
        prices: Prices {
            hc: Some(0.2068),
            hp: Some(0.2700),
            ..Prices::default()
        },
        offpeak_hours: None,
        tempo_prices_from_gateway: false,
    }
}

/// Runs the demo; `data_dir` `None` means a temporary store.
pub async fn demo(
    mut settings: Settings,
    data_dir: Option<&Path>,
    clock: Arc<dyn Clock>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "MyElectricalData → MQTT demo: sample data, no account, no network\n"
    )?;
    let temp_store;
    settings.data_dir = match data_dir {
        Some(dir) => dir.to_path_buf(),
        None => {
            temp_store = TempDir::new("store")?;
            temp_store.0.clone()
        }
    };
    settings.meters = vec![sample_meter()];
    settings.mqtt.enabled = true;
    let (private, broker) = match settings.mqtt.broker.clone() {
        Some(broker) => (None, broker),
        None => {
            let private = PrivateBroker::start().await?;
            let broker = BrokerAddress::parse(&format!("mqtt://127.0.0.1:{}", private.port))?;
            (Some(private), broker)
        }
    };
    writeln!(
        out,
        "broker:  {broker}{}",
        if private.is_some() {
            " (a private mosquitto started for the demo)"
        } else {
            ""
        }
    )?;
    settings.mqtt.broker = Some(broker.clone());
    let activation = sub_days(paris_date(clock.now()), SAMPLE_DAYS);
    let pipeline = Pipeline::open(
        settings,
        Gateway::Sample(SampleGateway::new(activation)),
        clock,
    )
    .await?;
    writeln!(out, "store:   {}", pipeline.settings.data_dir.display())?;
    let ok = once(&pipeline).await?;
    anyhow::ensure!(ok, "the sample sync failed");

    let seen = retained_messages(&broker, &["#"]).await?;
    print_what_home_assistant_sees(&pipeline.settings, &seen, out)?;
    if let Some(private) = private {
        private.stop().await;
    }
    Ok(())
}

/// Every retained message under the filters, as a fresh subscriber receives them.
pub async fn retained_messages(
    broker: &BrokerAddress,
    filters: &[&str],
) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let client_id = format!("myelectricaldata-demo-{:08x}", fastrand::u32(..));
    let marker = format!("{client_id}/end");
    let mut options = MqttOptions::new(&client_id, &broker.host, broker.port);
    options.set_max_packet_size(256 * 1024, 256 * 1024);
    if let Some(user) = &broker.username {
        let password = broker.password.as_ref().map(|p| p.expose()).unwrap_or("");
        options.set_credentials(user, password);
    }
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    for filter in filters.iter().copied().chain([marker.as_str()]) {
        client.subscribe(filter, QoS::AtLeastOnce).await?;
    }
    // The broker sends a subscription's retained messages before it handles our next
    // packet, and keeps one client's QoS 1 messages in order: when our own marker comes
    // back, every retained message has come before it.
    client
        .publish(&marker, QoS::AtLeastOnce, false, "end")
        .await?;
    let mut seen = BTreeMap::new();
    let collect = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Incoming::Publish(p))) if p.topic == marker => return Ok(()),
                Ok(Event::Incoming(Incoming::Publish(p))) if p.retain => {
                    seen.insert(p.topic.clone(), p.payload.to_vec());
                }
                Ok(_) => {}
                Err(e) => return Err(anyhow::anyhow!("observer: {e}")),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), collect)
        .await
        .context("observer: the broker did not send the retained messages within 10 s")??;
    let _ = client.disconnect().await;
    Ok(seen)
}

fn print_what_home_assistant_sees(
    settings: &Settings,
    seen: &BTreeMap<String, Vec<u8>>,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let configs: Vec<Value> = seen
        .iter()
        .filter(|(topic, _)| {
            topic.starts_with(&settings.mqtt.discovery_prefix) && topic.ends_with("/config")
        })
        .filter_map(|(_, payload)| serde_json::from_slice(payload).ok())
        .collect();
    let mut devices: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for config in &configs {
        let device = config["device"]["name"].as_str().unwrap_or("?").to_string();
        devices.entry(device).or_default().push(config);
    }
    writeln!(
        out,
        "\nWhat Home Assistant would show ({} entities from retained discovery configs):",
        configs.len()
    )?;
    for (device, entities) in devices {
        writeln!(out, "\n  device \"{device}\"")?;
        for config in entities {
            writeln!(out, "    {}", entity_line(config, seen))?;
        }
    }
    let status_topic = format!("{}/status", settings.mqtt.topic_prefix);
    writeln!(out, "\nRetained topics on the broker:")?;
    for (topic, payload) in seen {
        if topic.starts_with(&settings.mqtt.topic_prefix) || topic == &status_topic {
            writeln!(out, "  {topic}  {}", String::from_utf8_lossy(payload))?;
        }
    }
    Ok(())
}

/// An entity as Home Assistant shows it: name, state (the field its template reads), unit,
/// period and entity id.
fn entity_line(config: &Value, seen: &BTreeMap<String, Vec<u8>>) -> String {
    let state_topic = config["state_topic"].as_str().unwrap_or_default();
    let state: Option<Value> = seen
        .get(state_topic)
        .and_then(|p| serde_json::from_slice(p).ok());
    // The field the entity's `value_template` reads (`{{ value_json.hc }}` → `hc`).
    let field: String = config["value_template"]
        .as_str()
        .and_then(|t| t.split("value_json.").nth(1))
        .map(|f| {
            f.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .unwrap_or_default();
    let value = match state.as_ref().map(|s| &s[field.as_str()]) {
        None | Some(Value::Null) => "unknown".to_string(),
        Some(Value::String(text)) => text.clone(),
        Some(v) => v.to_string(),
    };
    let period = state
        .as_ref()
        .and_then(|s| s.get("date").or_else(|| s.get("month")))
        .and_then(Value::as_str)
        .unwrap_or("");
    format!(
        "{:<32} {:>25} {:<7} {:<10}  {}",
        config["name"].as_str().unwrap_or("?"),
        value,
        config["unit_of_measurement"].as_str().unwrap_or(""),
        period,
        config["default_entity_id"].as_str().unwrap_or("")
    )
}
