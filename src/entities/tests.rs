use chrono::{TimeZone, Utc};
use serde_json::Value;

use super::*;
use crate::config::{Language, MeterSettings, MqttSettings, Pdl, Prices, Tariff};
use crate::derived::{MeterView, SeriesView};
use crate::mqtt::broker::TlsFiles;
use crate::store::{PeriodTotal, StoredDay};

fn mqtt() -> MqttSettings {
    MqttSettings {
        enabled: true,
        broker: None,
        tls_files: TlsFiles::default(),
        topic_prefix: "myelectricaldata".into(),
        qos: 1,
        retain: true,
        discovery: true,
        discovery_prefix: "homeassistant".into(),
    }
}

fn meter(consumption: bool) -> MeterSettings {
    MeterSettings {
        pdl: Pdl::parse("12345678901234").unwrap(),
        name: "Maison".into(),
        token: None,
        consumption,
        production: false,
        load_curve: false,
        tariff: Tariff::Base,
        prices: Prices::default(),
        offpeak_hours: None,
    }
}

fn day(date: &str, wh: i64) -> StoredDay {
    StoredDay {
        date: date.parse().unwrap(),
        wh,
        quality: Some("CORRIGE".into()),
        fetched_at: Utc.with_ymd_and_hms(2024, 1, 16, 9, 12, 3).unwrap(),
    }
}

fn view(previous: bool) -> MeterView {
    MeterView {
        pdl: Pdl::parse("12345678901234").unwrap(),
        consumption: Some(SeriesView {
            latest: day("2024-01-15", 15230),
            previous: previous.then(|| day("2024-01-14", 14810)),
            month: PeriodTotal {
                wh: 245_649,
                days: 15,
            },
        }),
    }
}

fn find<'a>(messages: &'a [Message], topic: &str) -> &'a Message {
    messages
        .iter()
        .find(|m| m.topic == topic)
        .unwrap_or_else(|| panic!("no message on {topic}"))
}

fn json(message: &Message) -> Value {
    serde_json::from_slice(&message.payload).unwrap()
}

#[test]
fn every_entity_has_a_name_in_both_languages_that_does_not_repeat_the_device() {
    for def in METER_ENTITIES {
        for language in [Language::Fr, Language::En] {
            let name = translations::entity_name(language, def.key)
                .unwrap_or_else(|| panic!("{} has no {language:?} name", def.key));
            assert!(!name.is_empty());
            assert!(!name.starts_with("MyElectricalData"), "{name}");
            assert!(!name.starts_with("Linky"), "{name}");
        }
    }
}

#[test]
fn every_entity_follows_home_assistant_sensor_class_rules() {
    for def in METER_ENTITIES {
        match def.device_class {
            Some("energy") => {
                assert!(matches!(def.unit, Some("Wh" | "kWh")), "{}", def.key);
                assert!(
                    matches!(def.state_class, Some("total" | "total_increasing")),
                    "{}",
                    def.key
                );
            }
            Some("monetary") => {
                assert_eq!(def.unit, Some("EUR"), "{}", def.key);
                assert_eq!(def.state_class, Some("total"), "{}", def.key);
            }
            Some("enum" | "date" | "timestamp") => assert_eq!(def.state_class, None, "{}", def.key),
            Some("apparent_power") => {
                assert_eq!(def.unit, Some("VA"), "{}", def.key);
                assert_eq!(def.state_class, Some("measurement"), "{}", def.key);
            }
            _ => {}
        }
        if def.last_reset {
            assert_eq!(
                def.state_class,
                Some("total"),
                "last_reset only with total: {}",
                def.key
            );
        }
        assert!(
            matches!(def.entity_category, None | Some("diagnostic")),
            "{}",
            def.key
        );
        assert!(
            def.key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{}",
            def.key
        );
    }
}

#[test]
fn discovery_configs_carry_device_origin_availability_and_ids() {
    let context = PublishContext {
        mqtt: &mqtt(),
        language: Language::Fr,
    };
    let messages = context.meter_messages(&meter(true), &view(true));
    for def in METER_ENTITIES {
        let topic = format!("homeassistant/sensor/med_12345678901234_{}/config", def.key);
        let config = find(&messages, &topic);
        assert!(config.retain, "discovery configs are always retained");
        assert_eq!(config.kind, MessageKind::Discovery);
        let config = json(config);
        assert_eq!(
            config["unique_id"],
            format!("med_12345678901234_{}", def.key)
        );
        assert_eq!(
            config["default_entity_id"],
            format!("sensor.linky_12345678901234_{}", def.key)
        );
        assert!(config.get("object_id").is_none(), "object_id is deprecated");
        assert_eq!(
            config["state_topic"],
            format!("myelectricaldata/12345678901234/{}", def.topic)
        );
        assert_eq!(config["availability_topic"], "myelectricaldata/status");
        assert_eq!(config["device"]["identifiers"][0], "med_12345678901234");
        assert_eq!(config["device"]["name"], "MyElectricalData - Maison");
        assert_eq!(config["device"]["manufacturer"], "MyElectricalData");
        assert_eq!(config["device"]["model"], "Linky");
        assert_eq!(config["device"]["serial_number"], "12345678901234");
        assert_eq!(config["device"]["sw_version"], VERSION);
        assert_eq!(config["origin"]["name"], "myelectricaldata-mqtt");
        assert_eq!(config["device_class"], "energy");
        assert_eq!(config["unit_of_measurement"], "kWh");
        assert_eq!(config["state_class"], "total");
        assert_eq!(
            config["last_reset_value_template"],
            "{{ value_json.last_reset }}"
        );
    }
    let english = PublishContext {
        mqtt: &mqtt(),
        language: Language::En,
    };
    let messages = english.meter_messages(&meter(true), &view(true));
    let daily = json(find(
        &messages,
        "homeassistant/sensor/med_12345678901234_consumption_daily/config",
    ));
    assert_eq!(daily["name"], "Daily consumption");
}

#[test]
fn state_payloads_match_the_spec() {
    let context = PublishContext {
        mqtt: &mqtt(),
        language: Language::Fr,
    };
    let messages = context.meter_messages(&meter(true), &view(true));
    let daily = json(find(
        &messages,
        "myelectricaldata/12345678901234/consumption/daily",
    ));
    assert_eq!(daily["value"], 15.23);
    assert_eq!(daily["unit"], "kWh");
    assert_eq!(daily["date"], "2024-01-15");
    assert_eq!(daily["pdl"], "12345678901234");
    assert_eq!(daily["quality"], "CORRIGE");
    assert_eq!(daily["timestamp"], "2024-01-16T10:12:03+01:00");
    assert_eq!(daily["last_reset"], "2024-01-15T00:00:00+01:00");

    let yesterday = json(find(
        &messages,
        "myelectricaldata/12345678901234/consumption/yesterday",
    ));
    assert_eq!(yesterday["value"], 14.81);
    assert_eq!(yesterday["date"], "2024-01-14");

    let monthly = json(find(
        &messages,
        "myelectricaldata/12345678901234/consumption/monthly",
    ));
    assert_eq!(monthly["value"], 245.649);
    assert_eq!(monthly["month"], "2024-01");
    assert_eq!(monthly["last_reset"], "2024-01-01T00:00:00+01:00");
}

#[test]
fn an_unknown_previous_day_is_null_not_stale() {
    let context = PublishContext {
        mqtt: &mqtt(),
        language: Language::Fr,
    };
    let messages = context.meter_messages(&meter(true), &view(false));
    let yesterday = json(find(
        &messages,
        "myelectricaldata/12345678901234/consumption/yesterday",
    ));
    assert_eq!(yesterday["value"], Value::Null);
    assert_eq!(yesterday["date"], "2024-01-14");
}

#[test]
fn nothing_known_publishes_configs_but_no_state() {
    let context = PublishContext {
        mqtt: &mqtt(),
        language: Language::Fr,
    };
    let empty = MeterView {
        pdl: Pdl::parse("12345678901234").unwrap(),
        consumption: None,
    };
    let messages = context.meter_messages(&meter(true), &empty);
    assert!(messages.iter().all(|m| m.kind == MessageKind::Discovery));
    assert_eq!(messages.len(), METER_ENTITIES.len());
}

#[test]
fn a_series_switched_off_clears_its_config_and_state() {
    let context = PublishContext {
        mqtt: &mqtt(),
        language: Language::Fr,
    };
    let messages = context.meter_messages(&meter(false), &view(true));
    assert_eq!(messages.len(), 2 * METER_ENTITIES.len());
    for message in &messages {
        assert!(
            message.payload.is_empty() && message.retain,
            "{} must be cleared",
            message.topic
        );
    }
}

#[test]
fn discovery_off_publishes_states_only_and_retain_follows_the_option() {
    let mut settings = mqtt();
    settings.discovery = false;
    settings.retain = false;
    let context = PublishContext {
        mqtt: &settings,
        language: Language::Fr,
    };
    let messages = context.meter_messages(&meter(true), &view(true));
    assert!(
        messages
            .iter()
            .all(|m| m.kind == MessageKind::State && !m.retain)
    );
}

#[test]
fn payloads_fit_in_a_small_mqtt_packet() {
    let context = PublishContext {
        mqtt: &mqtt(),
        language: Language::Fr,
    };
    for message in context.meter_messages(&meter(true), &view(true)) {
        assert!(
            message.payload.len() < 2048,
            "{} is {} bytes",
            message.topic,
            message.payload.len()
        );
    }
}
