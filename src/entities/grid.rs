//! The grid-wide devices: Tempo (`med_tempo`) and EcoWatt (`med_ecowatt`).

use serde_json::{Value, json};

use super::{Catalog, Device, EntityDef, StateTopic, sensor};
use crate::calendar::add_days;
use crate::config::Settings;
use crate::derived::{EcowattView, TempoView};
use crate::model::TempoColor;

pub fn tempo_device(topic_prefix: &str) -> Device {
    Device {
        id: "med_tempo".into(),
        entity_prefix: "tempo".into(),
        name: "Tempo".into(),
        model: "Tempo (RTE)",
        serial_number: None,
        topic_root: format!("{topic_prefix}/tempo"),
    }
}

pub fn ecowatt_device(topic_prefix: &str) -> Device {
    Device {
        id: "med_ecowatt".into(),
        entity_prefix: "ecowatt".into(),
        name: "EcoWatt".into(),
        model: "EcoWatt (RTE)",
        serial_number: None,
        topic_root: format!("{topic_prefix}/ecowatt"),
    }
}

const COLOURS: &[&str] = &["BLEU", "BLANC", "ROUGE"];

/// A colour: an `enum` sensor, no unit and no state class; `unknown` while RTE has not said.
const COLOUR: EntityDef<Settings> = EntityDef {
    value_template: "{{ value_json.color }}",
    device_class: Some("enum"),
    options: COLOURS,
    icon: Some("mdi:palette"),
    enabled: |s| s.tempo,
    ..sensor()
};

const REMAINING: EntityDef<Settings> = EntityDef {
    topic: "remaining",
    unit: Some("days"),
    state_class: Some("measurement"),
    icon: Some("mdi:calendar-range"),
    enabled: |s| s.tempo,
    ..sensor()
};

/// The Tempo device's entities and topics.
pub const TEMPO: Catalog<Settings, TempoView> = Catalog {
    entities: TEMPO_ENTITIES,
    topics: TEMPO_TOPICS,
};

pub const TEMPO_ENTITIES: &[EntityDef<Settings>] = &[
    EntityDef {
        key: "today",
        topic: "today",
        ..COLOUR
    },
    EntityDef {
        key: "tomorrow",
        topic: "tomorrow",
        ..COLOUR
    },
    EntityDef {
        key: "remaining_blue",
        value_template: "{{ value_json.blue }}",
        ..REMAINING
    },
    EntityDef {
        key: "remaining_white",
        value_template: "{{ value_json.white }}",
        ..REMAINING
    },
    EntityDef {
        key: "remaining_red",
        value_template: "{{ value_json.red }}",
        ..REMAINING
    },
];

pub const TEMPO_TOPICS: &[StateTopic<TempoView>] = &[
    StateTopic {
        path: "today",
        payload: |v| Some(colour(v.today_color, v.today)),
    },
    StateTopic {
        path: "tomorrow",
        payload: |v| Some(colour(v.tomorrow_color, add_days(v.today, 1))),
    },
    StateTopic {
        path: "remaining",
        payload: |v| Some(remaining(v)),
    },
];

/// `{"color":"BLEU","date":"2024-01-15"}`, `color` `null` while unknown.
fn colour(color: Option<TempoColor>, date: chrono::NaiveDate) -> Value {
    json!({"color": color.map(TempoColor::as_str), "date": date.to_string()})
}

/// `{"blue":280,"white":40,"red":20}` left in the season.
fn remaining(view: &TempoView) -> Value {
    let left = |wanted: TempoColor| {
        view.remaining
            .iter()
            .find(|(c, _)| *c == wanted)
            .map(|(_, n)| *n)
    };
    let start = view.season_start;
    json!({
        "blue": left(TempoColor::Blue),
        "white": left(TempoColor::White),
        "red": left(TempoColor::Red),
        "season": format!("{}-{}", chrono::Datelike::year(&start), chrono::Datelike::year(&start) + 1),
    })
}

/// The EcoWatt device's entities and topics.
pub const ECOWATT: Catalog<Settings, EcowattView> = Catalog {
    entities: ECOWATT_ENTITIES,
    topics: ECOWATT_TOPICS,
};

pub const ECOWATT_ENTITIES: &[EntityDef<Settings>] = &[
    EntityDef {
        key: "level",
        topic: "current",
        value_template: "{{ value_json.level }}",
        icon: Some("mdi:transmission-tower"),
        enabled: |s| s.ecowatt,
        ..sensor()
    },
    EntityDef {
        key: "forecast",
        topic: "forecast",
        // The highest level of today's hours; the hours themselves as an attribute.
        value_template: "{{ value_json | map(attribute='level') | max if value_json else None }}",
        attributes_template: Some("{{ {'hours': value_json} | tojson }}"),
        icon: Some("mdi:chart-timeline-variant"),
        enabled: |s| s.ecowatt,
        ..sensor()
    },
];

pub const ECOWATT_TOPICS: &[StateTopic<EcowattView>] = &[
    StateTopic {
        path: "current",
        payload: |v| Some(current(v)),
    },
    StateTopic {
        path: "forecast",
        payload: |v| Some(forecast(v)),
    },
];

/// `{"level":1,"message":"Pas d'alerte.","hour":14,"date":…}` for the current hour.
fn current(view: &EcowattView) -> Value {
    json!({
        "level": view.level,
        "message": view.message,
        "hour": view.hour,
        "date": view.date.to_string(),
        "day_level": view.day_level,
    })
}

/// `[{"hour":0,"level":1}, …]`: the hours of today.
fn forecast(view: &EcowattView) -> Value {
    Value::from(
        view.hours
            .iter()
            .enumerate()
            .map(|(hour, level)| json!({"hour": hour, "level": level}))
            .collect::<Vec<_>>(),
    )
}
