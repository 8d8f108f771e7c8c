//! The Home Assistant entity catalog: one table defines every entity (state topic, payload,
//! discovery fields); discovery configs and state messages are both derived from it.

pub mod translations;

use bytes::Bytes;
use rumqttc::QoS;
use serde_json::{Value, json};

use crate::calendar::{format_offset, format_paris, month_label, start_of_day};
use crate::config::{Language, MeterSettings, MqttSettings};
use crate::derived::{MeterView, SeriesView, kwh};
use crate::mqtt::{Message, MessageKind};
use crate::store::StoredDay;

/// Where the program says it comes from, in every discovery config.
pub const ORIGIN_NAME: &str = "myelectricaldata-mqtt";
pub const SUPPORT_URL: &str = "https://github.com/myelectricaldata-mqtt/myelectricaldata-mqtt";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One entity of a meter device.
pub struct EntityDef {
    /// `consumption_daily`: the unique_id suffix and the translation key.
    pub key: &'static str,
    /// State topic below `P/{pdl}/`.
    pub topic: &'static str,
    pub component: &'static str,
    pub device_class: Option<&'static str>,
    pub unit: Option<&'static str>,
    pub state_class: Option<&'static str>,
    /// The payload carries `last_reset` (start of the period) for `state_class: total`.
    pub last_reset: bool,
    pub entity_category: Option<&'static str>,
    pub icon: Option<&'static str>,
    /// Whether the meter's options ask for this entity.
    pub enabled: fn(&MeterSettings) -> bool,
    /// The state payload; `None` while nothing is known (nothing is published).
    pub state: fn(&MeterView) -> Option<Value>,
}

/// Energy of a period (a day, a month): `total` with `last_reset` at the period's start, as
/// Home Assistant wants for values that go up and down between periods.
const ENERGY_OF_PERIOD: EntityDef = EntityDef {
    key: "",
    topic: "",
    component: "sensor",
    device_class: Some("energy"),
    unit: Some("kWh"),
    state_class: Some("total"),
    last_reset: true,
    entity_category: None,
    icon: None,
    enabled: |_| false,
    state: |_| None,
};

/// Every entity of a meter device.
pub const METER_ENTITIES: &[EntityDef] = &[
    EntityDef {
        key: "consumption_daily",
        topic: "consumption/daily",
        enabled: |m| m.consumption,
        state: |v| {
            v.consumption
                .as_ref()
                .map(|s| day_payload(v, s, Some(&s.latest), s.latest.date))
        },
        ..ENERGY_OF_PERIOD
    },
    EntityDef {
        key: "consumption_yesterday",
        topic: "consumption/yesterday",
        enabled: |m| m.consumption,
        state: |v| {
            v.consumption
                .as_ref()
                .map(|s| day_payload(v, s, s.previous.as_ref(), s.previous_date()))
        },
        ..ENERGY_OF_PERIOD
    },
    EntityDef {
        key: "consumption_monthly",
        topic: "consumption/monthly",
        enabled: |m| m.consumption,
        state: |v| v.consumption.as_ref().map(|s| month_payload(v, s)),
        ..ENERGY_OF_PERIOD
    },
];

/// `{"value":15.2,"unit":"kWh","date":…,"pdl":…,"quality":…,"timestamp":…,"last_reset":…}`;
/// `value` is `null` when the day is not known (Home Assistant shows `unknown`, never a
/// stale number).
fn day_payload(
    view: &MeterView,
    series: &SeriesView,
    day: Option<&StoredDay>,
    date: chrono::NaiveDate,
) -> Value {
    json!({
        "value": day.map(|d| kwh(d.wh)),
        "unit": "kWh",
        "date": date.to_string(),
        "pdl": view.pdl.as_str(),
        "quality": day.and_then(|d| d.quality.clone()),
        "timestamp": format_paris(day.unwrap_or(&series.latest).fetched_at),
        "last_reset": format_offset(start_of_day(date)),
    })
}

fn month_payload(view: &MeterView, series: &SeriesView) -> Value {
    json!({
        "value": kwh(series.month.wh),
        "unit": "kWh",
        "month": month_label(series.latest.date),
        "pdl": view.pdl.as_str(),
        "days": series.month.days,
        "timestamp": format_paris(series.latest.fetched_at),
        "last_reset": format_offset(start_of_day(series.month_start())),
    })
}

/// What the messages of a meter depend on besides its data.
pub struct PublishContext<'a> {
    pub mqtt: &'a MqttSettings,
    pub language: Language,
}

impl PublishContext<'_> {
    fn qos(&self) -> QoS {
        match self.mqtt.qos {
            0 => QoS::AtMostOnce,
            2 => QoS::ExactlyOnce,
            _ => QoS::AtLeastOnce,
        }
    }

    pub fn state_topic(&self, meter: &MeterSettings, def: &EntityDef) -> String {
        format!("{}/{}/{}", self.mqtt.topic_prefix, meter.pdl, def.topic)
    }

    pub fn unique_id(meter: &MeterSettings, def: &EntityDef) -> String {
        format!("med_{}_{}", meter.pdl, def.key)
    }

    pub fn config_topic(&self, meter: &MeterSettings, def: &EntityDef) -> String {
        format!(
            "{}/{}/{}/config",
            self.mqtt.discovery_prefix,
            def.component,
            Self::unique_id(meter, def)
        )
    }

    /// The discovery config of one entity of a meter.
    pub fn discovery_config(&self, meter: &MeterSettings, def: &EntityDef) -> Value {
        let state_topic = self.state_topic(meter, def);
        let name = translations::entity_name(self.language, def.key).unwrap_or(def.key);
        let mut config = json!({
            "name": name,
            "unique_id": Self::unique_id(meter, def),
            "default_entity_id": format!("{}.linky_{}_{}", def.component, meter.pdl, def.key),
            "state_topic": state_topic,
            "value_template": "{{ value_json.value }}",
            "json_attributes_topic": state_topic,
            "availability_topic": format!("{}/status", self.mqtt.topic_prefix),
            "payload_available": "online",
            "payload_not_available": "offline",
            "qos": self.mqtt.qos,
            "device": {
                "identifiers": [format!("med_{}", meter.pdl)],
                "name": format!("MyElectricalData - {}", meter.name),
                "manufacturer": "MyElectricalData",
                "model": "Linky",
                "serial_number": meter.pdl.as_str(),
                "sw_version": VERSION,
            },
            "origin": {
                "name": ORIGIN_NAME,
                "sw_version": VERSION,
                "support_url": SUPPORT_URL,
            },
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
        ];
        if let Value::Object(map) = &mut config {
            for (key, value) in fields {
                if let Some(value) = value {
                    map.insert(key.into(), Value::from(value));
                }
            }
        }
        config
    }

    /// Discovery configs (or their clearing, for entities switched off) and states of one meter.
    pub fn meter_messages(&self, meter: &MeterSettings, view: &MeterView) -> Vec<Message> {
        let mut messages = Vec::new();
        for def in METER_ENTITIES {
            let enabled = (def.enabled)(meter);
            if self.mqtt.discovery {
                let payload = if enabled {
                    Bytes::from(self.discovery_config(meter, def).to_string())
                } else {
                    Bytes::new()
                };
                messages.push(Message {
                    kind: MessageKind::Discovery,
                    topic: self.config_topic(meter, def),
                    payload,
                    retain: true,
                    qos: self.qos(),
                });
            }
            let state = if enabled { (def.state)(view) } else { None };
            if let Some(state) = state {
                messages.push(Message {
                    kind: MessageKind::State,
                    topic: self.state_topic(meter, def),
                    payload: Bytes::from(state.to_string()),
                    retain: self.mqtt.retain,
                    qos: self.qos(),
                });
            } else if !enabled {
                // Clear a state a previous configuration left retained.
                messages.push(Message {
                    kind: MessageKind::State,
                    topic: self.state_topic(meter, def),
                    payload: Bytes::new(),
                    retain: true,
                    qos: self.qos(),
                });
            }
        }
        messages
    }
}

#[cfg(test)]
mod tests;
