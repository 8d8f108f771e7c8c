//! The Home Assistant entity catalog: tables define every state topic (and its payload) and
//! every entity (its discovery fields); discovery configs and state messages are both
//! derived from them, and the tests walk them.

pub mod grid;
pub mod meter;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::config::{Language, MqttSettings, Settings};
use crate::derived::Views;
use crate::model::{Message, MessageKind, Pdl, Qos};
use crate::translations;

/// Where the program says it comes from, in every discovery config.
pub const ORIGIN_NAME: &str = "myelectricaldata-mqtt";
pub const SUPPORT_URL: &str = "https://github.com/myelectricaldata-mqtt/myelectricaldata-mqtt";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A state topic of a device and how its payload is made from the device's view `V`.
pub struct StateTopic<V> {
    /// Below the device's topic root, e.g. `consumption/daily`.
    pub path: &'static str,
    /// `None` while nothing is known: nothing is published.
    pub payload: fn(&V) -> Option<Value>,
}

/// One entity: which topic it reads, how, and how Home Assistant should class it. `S` is
/// what decides whether the user asked for it.
pub struct EntityDef<S> {
    /// `consumption_daily`: the unique_id suffix and the translation key.
    pub key: &'static str,
    /// The [`StateTopic::path`] it reads.
    pub topic: &'static str,
    pub component: &'static str,
    pub value_template: &'static str,
    pub device_class: Option<&'static str>,
    pub unit: Option<&'static str>,
    pub state_class: Option<&'static str>,
    /// The payload carries `last_reset` (start of the period), for `state_class: total`.
    pub last_reset: bool,
    pub entity_category: Option<&'static str>,
    pub icon: Option<&'static str>,
    /// The states of an `enum` sensor.
    pub options: &'static [&'static str],
    /// Turns a payload that is not an object (a list) into attributes.
    pub attributes_template: Option<&'static str>,
    pub enabled: fn(&S) -> bool,
}

/// `{{ value_json.value }}`: the template of most entities.
pub const VALUE: &str = "{{ value_json.value }}";

/// Defaults for entity definitions: a plain sensor reading `value`, always enabled.
pub const fn sensor<S>() -> EntityDef<S> {
    EntityDef {
        key: "",
        topic: "",
        component: "sensor",
        value_template: VALUE,
        device_class: None,
        unit: None,
        state_class: None,
        last_reset: false,
        entity_category: None,
        icon: None,
        options: &[],
        attributes_template: None,
        enabled: |_| true,
    }
}

/// The entities of a kind of device and the state topics they read: `S` decides which
/// entities the user asked for, `V` is the device's view the payloads are made from.
pub struct Catalog<S: 'static, V: 'static> {
    pub entities: &'static [EntityDef<S>],
    pub topics: &'static [StateTopic<V>],
}

/// A Home Assistant device and where its topics live.
pub struct Device {
    /// `med_12345678901234`, `med_tempo`: the device identifier and unique_id prefix.
    pub id: String,
    /// `linky_12345678901234`, `tempo`: the entity_id prefix.
    pub entity_prefix: String,
    pub name: String,
    pub model: &'static str,
    pub serial_number: Option<String>,
    /// `P/12345678901234`, `P`: the root of its state topics.
    pub topic_root: String,
}

/// What the messages depend on besides the data.
pub struct PublishContext<'a> {
    pub mqtt: &'a MqttSettings,
    pub language: Language,
}

impl PublishContext<'_> {
    fn qos(&self) -> Qos {
        Qos::from_level(self.mqtt.qos)
    }

    pub fn unique_id<S>(device: &Device, def: &EntityDef<S>) -> String {
        format!("{}_{}", device.id, def.key)
    }

    pub fn config_topic<S>(&self, device: &Device, def: &EntityDef<S>) -> String {
        format!(
            "{}/{}/{}/config",
            self.mqtt.discovery_prefix,
            def.component,
            Self::unique_id(device, def)
        )
    }

    pub fn state_topic(device: &Device, path: &str) -> String {
        format!("{}/{path}", device.topic_root)
    }

    /// The discovery config of one entity.
    pub fn discovery_config<S>(&self, device: &Device, def: &EntityDef<S>) -> Value {
        let state_topic = Self::state_topic(device, def.topic);
        let name = translations::entity_name(self.language, def.key).unwrap_or(def.key);
        let mut device_block = json!({
            "identifiers": [device.id],
            "name": device.name,
            "manufacturer": "MyElectricalData",
            "model": device.model,
            "sw_version": VERSION,
        });
        if let (Some(serial), Value::Object(map)) = (&device.serial_number, &mut device_block) {
            map.insert("serial_number".into(), Value::from(serial.as_str()));
        }
        let mut config = json!({
            "name": name,
            "unique_id": Self::unique_id(device, def),
            "default_entity_id": format!("{}.{}_{}", def.component, device.entity_prefix, def.key),
            "state_topic": state_topic,
            "value_template": def.value_template,
            "json_attributes_topic": state_topic,
            "availability_topic": format!("{}/status", self.mqtt.topic_prefix),
            "payload_available": "online",
            "payload_not_available": "offline",
            "qos": self.mqtt.qos,
            "device": device_block,
            "origin": {"name": ORIGIN_NAME, "sw_version": VERSION, "support_url": SUPPORT_URL},
        });
        let fields = [
            ("device_class", def.device_class),
            ("unit_of_measurement", def.unit),
            ("state_class", def.state_class),
            ("entity_category", def.entity_category),
            ("icon", def.icon),
            (
                "last_reset_value_template",
                def.last_reset.then_some("{{ value_json.last_reset }}"),
            ),
            ("json_attributes_template", def.attributes_template),
        ];
        if let Value::Object(map) = &mut config {
            for (key, value) in fields {
                if let Some(value) = value {
                    map.insert(key.into(), Value::from(value));
                }
            }
            if !def.options.is_empty() {
                map.insert("options".into(), Value::from(def.options.to_vec()));
            }
        }
        config
    }

    /// Discovery configs (cleared for entities switched off) and states (cleared for topics
    /// no enabled entity reads) of one device.
    pub fn device_messages<S, V>(
        &self,
        device: &Device,
        catalog: &Catalog<S, V>,
        settings: &S,
        view: Option<&V>,
    ) -> Vec<Message> {
        let Catalog { entities, topics } = catalog;
        let mut messages = Vec::new();
        if self.mqtt.discovery {
            for def in entities.iter() {
                let payload = match (def.enabled)(settings) {
                    true => Bytes::from(self.discovery_config(device, def).to_string()),
                    false => Bytes::new(),
                };
                messages.push(self.message(
                    MessageKind::Discovery,
                    self.config_topic(device, def),
                    payload,
                    true,
                ));
            }
        }
        for topic in topics.iter() {
            let read = entities
                .iter()
                .any(|def| def.topic == topic.path && (def.enabled)(settings));
            let state_topic = Self::state_topic(device, topic.path);
            if !read {
                // Clear what an earlier configuration left retained.
                messages.push(self.message(MessageKind::State, state_topic, Bytes::new(), true));
            } else if let Some(payload) = view.and_then(|v| (topic.payload)(v)) {
                let payload = Bytes::from(payload.to_string());
                messages.push(self.message(
                    MessageKind::State,
                    state_topic,
                    payload,
                    self.mqtt.retain,
                ));
            }
        }
        messages
    }

    /// Clears every config and state of a device that left the configuration.
    pub fn clear_device<S, V>(&self, device: &Device, catalog: &Catalog<S, V>) -> Vec<Message> {
        let configs = catalog.entities.iter().map(|def| {
            self.message(
                MessageKind::Discovery,
                self.config_topic(device, def),
                Bytes::new(),
                true,
            )
        });
        let states = catalog.topics.iter().map(|topic| {
            self.message(
                MessageKind::State,
                Self::state_topic(device, topic.path),
                Bytes::new(),
                true,
            )
        });
        configs.chain(states).collect()
    }

    fn message(&self, kind: MessageKind, topic: String, payload: Bytes, retain: bool) -> Message {
        Message {
            kind,
            topic,
            payload,
            retain,
            qos: self.qos(),
        }
    }
}

/// Every message of every device: each configured meter with its view, Tempo and EcoWatt
/// (cleared when switched off), and the meters that left the configuration, cleared.
pub fn messages(settings: &Settings, views: &Views, removed_meters: &[Pdl]) -> Vec<Message> {
    let context = PublishContext {
        mqtt: &settings.mqtt,
        language: settings.language,
    };
    let prefix = &settings.mqtt.topic_prefix;
    let meters = settings.meters.iter().zip(&views.meters);
    let mut messages: Vec<Message> = meters
        .flat_map(|(meter, view)| {
            let device = meter::device(meter, prefix);
            context.device_messages(&device, &meter::CATALOG, meter, Some(view))
        })
        .collect();
    let tempo = grid::tempo_device(prefix);
    messages.extend(context.device_messages(&tempo, &grid::TEMPO, settings, views.tempo.as_ref()));
    let ecowatt = grid::ecowatt_device(prefix);
    let ecowatt_view = views.ecowatt.as_ref();
    messages.extend(context.device_messages(&ecowatt, &grid::ECOWATT, settings, ecowatt_view));
    for pdl in removed_meters {
        let device = meter::device_of(pdl, pdl.as_str(), prefix);
        messages.extend(context.clear_device(&device, &meter::CATALOG));
    }
    messages
}

#[cfg(test)]
mod tests;
