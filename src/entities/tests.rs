use chrono::{TimeZone, Utc};
use serde_json::Value;

use super::meter::{CATALOG, ENTITIES, TOPICS, device};
use super::*;
use crate::config::{Language, MeterSettings, MqttSettings};
use crate::derived::{
    Cost, CostView, EnergyView, HcHpDay, MeterView, PeakView, PeriodTotal, StatusView,
};
use crate::model::{DayEnergy, DayPeak, Pdl, Prices, Tariff, TlsFiles};
use crate::tariffs::PriceNow;

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

fn meter() -> MeterSettings {
    MeterSettings {
        pdl: Pdl::parse("12345678901234").unwrap(),
        name: "Maison".into(),
        token: None,
        consumption: true,
        production: true,
        load_curve: true,
        tariff: Tariff::HcHp,
        prices: Prices {
            hc: Some(0.2068),
            hp: Some(0.27),
            ..Prices::default()
        },
        offpeak_hours: None,
        tempo_prices_from_gateway: false,
    }
}

fn d(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

fn day(date: &str, wh: i64) -> DayEnergy {
    DayEnergy {
        date: d(date),
        wh,
        quality: Some("CORRIGE".into()),
        fetched_at: Utc.with_ymd_and_hms(2024, 1, 16, 9, 12, 3).unwrap(),
    }
}

fn energy(previous: bool) -> EnergyView {
    EnergyView {
        latest: day("2024-01-15", 15230),
        previous: previous.then(|| day("2024-01-14", 14810)),
        week: PeriodTotal { wh: 15230, days: 1 },
        month: PeriodTotal {
            wh: 245_649,
            days: 15,
        },
        year: PeriodTotal {
            wh: 245_649,
            days: 15,
        },
    }
}

fn view(previous: bool) -> MeterView {
    MeterView {
        pdl: Pdl::parse("12345678901234").unwrap(),
        tariff: "HC_HP",
        consumption: Some(energy(previous)),
        production: Some(energy(previous)),
        max_power: Some(PeakView {
            peak: DayPeak {
                date: d("2024-01-15"),
                va: 6120,
                at: d("2024-01-15").and_hms_opt(19, 42, 10),
                fetched_at: Utc.with_ymd_and_hms(2024, 1, 16, 9, 12, 3).unwrap(),
            },
            subscribed_va: Some(9000),
        }),
        hchp: Some(HcHpDay {
            date: d("2024-01-15"),
            hc_wh: 5123.4,
            hp_wh: 10106.6,
        }),
        cost: CostView {
            daily: Some(Cost {
                date: d("2024-01-15"),
                eur: 3.78752,
                days: 1,
            }),
            monthly: Some(Cost {
                date: d("2024-01-01"),
                eur: 61.2345,
                days: 15,
            }),
        },
        price: Some(PriceNow {
            eur_per_kwh: Some(0.27),
            period: "HP",
            color: None,
        }),
        status: StatusView {
            error: None,
            statistics_error: None,
            note: None,
            last_sync: Some(Utc.with_ymd_and_hms(2024, 1, 16, 9, 12, 3).unwrap()),
            consent_expiration: d("2026-01-14").and_hms_opt(15, 32, 38),
            quota_used: Some(7),
            quota_limit: Some(1000),
        },
    }
}

fn messages(
    meter: &MeterSettings,
    view: &MeterView,
    mqtt: &MqttSettings,
    language: Language,
) -> Vec<Message> {
    let context = PublishContext { mqtt, language };
    context.device_messages(
        &device(meter, &mqtt.topic_prefix),
        &CATALOG,
        meter,
        Some(view),
    )
}

fn find<'a>(messages: &'a [Message], topic: &str) -> &'a Message {
    messages
        .iter()
        .find(|m| m.topic == topic)
        .unwrap_or_else(|| panic!("no message on {topic}"))
}

fn state(messages: &[Message], path: &str) -> Value {
    serde_json::from_slice(
        &find(messages, &format!("myelectricaldata/12345678901234/{path}")).payload,
    )
    .unwrap()
}

fn config(messages: &[Message], key: &str) -> Value {
    serde_json::from_slice(
        &find(
            messages,
            &format!("homeassistant/sensor/med_12345678901234_{key}/config"),
        )
        .payload,
    )
    .unwrap()
}

#[test]
fn every_entity_has_a_name_in_both_languages_that_does_not_repeat_the_device() {
    for def in ENTITIES {
        for language in [Language::Fr, Language::En] {
            let name = translations::entity_name(language, def.key)
                .unwrap_or_else(|| panic!("{} has no {language:?} name", def.key));
            assert!(!name.is_empty() && name.len() < 64, "{name}");
            assert!(
                !name.starts_with("MyElectricalData") && !name.starts_with("Linky"),
                "{name}"
            );
        }
    }
}

#[test]
fn every_entity_follows_home_assistant_sensor_class_rules() {
    for def in ENTITIES {
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
            Some("enum") => {
                assert_eq!((def.unit, def.state_class), (None, None), "{}", def.key);
                assert!(!def.options.is_empty(), "{}", def.key);
            }
            Some("date" | "timestamp") => {
                assert_eq!((def.unit, def.state_class), (None, None), "{}", def.key)
            }
            Some("apparent_power") => {
                assert_eq!(def.unit, Some("VA"), "{}", def.key);
                assert_eq!(def.state_class, Some("measurement"), "{}", def.key);
            }
            Some(other) => panic!("{}: no rule for device class {other}", def.key),
            None => {}
        }
        if def.last_reset {
            assert_eq!(
                def.state_class,
                Some("total"),
                "last_reset only with total: {}",
                def.key
            );
        }
        if def.key == "price_current" {
            assert!(
                def.unit.is_some_and(|u| u.ends_with("/kWh")),
                "a price entity's unit ends in /kWh"
            );
        }
        assert!(
            def.options.is_empty() || def.device_class == Some("enum"),
            "{}",
            def.key
        );
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
        assert!(
            TOPICS.iter().any(|t| t.path == def.topic),
            "{} reads an unknown topic {}",
            def.key,
            def.topic
        );
    }
    let mut keys: Vec<&str> = ENTITIES.iter().map(|d| d.key).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), ENTITIES.len(), "unique keys");
}

#[test]
fn every_entity_template_reads_a_field_its_payload_has() {
    let view = view(true);
    for def in ENTITIES {
        let topic = TOPICS.iter().find(|t| t.path == def.topic).unwrap();
        let payload =
            (topic.payload)(&view).unwrap_or_else(|| panic!("{} has no payload", def.topic));
        let field = def.value_template.split("value_json.").nth(1).unwrap();
        let field: String = field
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(
            payload.get(&field).is_some(),
            "{}: {field} missing from {payload}",
            def.key
        );
        if def.last_reset {
            assert!(
                payload.get("last_reset").and_then(Value::as_str).is_some(),
                "{}",
                def.key
            );
        }
    }
}

#[test]
fn discovery_configs_carry_device_origin_availability_and_ids() {
    let messages = messages(&meter(), &view(true), &mqtt(), Language::Fr);
    for def in ENTITIES {
        let message = find(
            &messages,
            &format!("homeassistant/sensor/med_12345678901234_{}/config", def.key),
        );
        assert!(message.retain, "discovery configs are always retained");
        assert_eq!(message.kind, MessageKind::Discovery);
        let config = config(&messages, def.key);
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
    }
    let daily = config(&messages, "consumption_daily");
    assert_eq!(
        (
            daily["device_class"].as_str(),
            daily["state_class"].as_str()
        ),
        (Some("energy"), Some("total"))
    );
    assert_eq!(
        daily["last_reset_value_template"],
        "{{ value_json.last_reset }}"
    );
    let status = config(&messages, "sync_status");
    assert_eq!(status["options"], serde_json::json!(["ok", "error"]));
    assert_eq!(status["entity_category"], "diagnostic");
    let english = self::messages(&meter(), &view(true), &mqtt(), Language::En);
    assert_eq!(
        config(&english, "consumption_daily")["name"],
        "Daily consumption"
    );
}

#[test]
fn state_payloads_match_the_spec() {
    let messages = messages(&meter(), &view(true), &mqtt(), Language::Fr);
    let daily = state(&messages, "consumption/daily");
    assert_eq!(daily["value"], 15.23);
    assert_eq!(
        (daily["unit"].as_str(), daily["date"].as_str()),
        (Some("kWh"), Some("2024-01-15"))
    );
    assert_eq!(
        (daily["pdl"].as_str(), daily["quality"].as_str()),
        (Some("12345678901234"), Some("CORRIGE"))
    );
    assert_eq!(daily["timestamp"], "2024-01-16T10:12:03+01:00");
    assert_eq!(daily["last_reset"], "2024-01-15T00:00:00+01:00");
    let yesterday = state(&messages, "consumption/yesterday");
    assert_eq!(
        (yesterday["value"].as_f64(), yesterday["date"].as_str()),
        (Some(14.81), Some("2024-01-14"))
    );
    let weekly = state(&messages, "consumption/weekly");
    assert_eq!(
        (weekly["week"].as_str(), weekly["last_reset"].as_str()),
        (Some("2024-W03"), Some("2024-01-15T00:00:00+01:00"))
    );
    let monthly = state(&messages, "consumption/monthly");
    assert_eq!(
        (monthly["value"].as_f64(), monthly["month"].as_str()),
        (Some(245.649), Some("2024-01"))
    );
    assert_eq!(monthly["last_reset"], "2024-01-01T00:00:00+01:00");
    let yearly = state(&messages, "production/yearly");
    assert_eq!(
        (yearly["year"].as_str(), yearly["last_reset"].as_str()),
        (Some("2024"), Some("2024-01-01T00:00:00+01:00"))
    );
    let peak = state(&messages, "consumption/max_power");
    assert_eq!(
        peak,
        serde_json::json!({"value":6120,"unit":"VA","date":"2024-01-15","time":"19:42:10","subscribed":9000,"exceeded":false,"pdl":"12345678901234"})
    );
    let hchp = state(&messages, "consumption/hchp");
    assert_eq!(
        (
            hchp["hc"].as_f64(),
            hchp["hp"].as_f64(),
            hchp["date"].as_str()
        ),
        (Some(5.123), Some(10.107), Some("2024-01-15"))
    );
    let cost = state(&messages, "cost/daily");
    assert_eq!(
        (
            cost["value"].as_f64(),
            cost["unit"].as_str(),
            cost["tariff"].as_str()
        ),
        (Some(3.79), Some("EUR"), Some("HC_HP"))
    );
    assert_eq!(state(&messages, "cost/monthly")["month"], "2024-01");
    let price = state(&messages, "price/current");
    assert_eq!(
        (
            price["value"].as_f64(),
            price["unit"].as_str(),
            price["period"].as_str()
        ),
        (Some(0.27), Some("EUR/kWh"), Some("HP"))
    );
    assert_eq!(price["color"], Value::Null);
    let status = state(&messages, "status");
    assert_eq!(status["state"], "ok");
    assert_eq!(status["last_sync"], "2024-01-16T10:12:03+01:00");
    assert_eq!(status["consent_expiration"], "2026-01-14T15:32:38+01:00");
    assert_eq!(
        (
            status["quota_used"].as_u64(),
            status["quota_limit"].as_u64()
        ),
        (Some(7), Some(1000))
    );
}

#[test]
fn an_error_shows_in_the_status_and_an_unknown_previous_day_is_null() {
    let mut view = view(false);
    view.status.error = Some("the gateway refused the token".into());
    let messages = messages(&meter(), &view, &mqtt(), Language::Fr);
    let status = state(&messages, "status");
    assert_eq!(
        (status["state"].as_str(), status["message"].as_str()),
        (Some("error"), Some("the gateway refused the token"))
    );
    let yesterday = state(&messages, "consumption/yesterday");
    assert_eq!(
        (yesterday["value"].clone(), yesterday["date"].as_str()),
        (Value::Null, Some("2024-01-14"))
    );
}

#[test]
fn options_decide_which_entities_exist_and_the_others_are_cleared() {
    let mut base = meter();
    base.production = false;
    base.load_curve = false;
    base.tariff = Tariff::Base;
    base.prices = Prices::default();
    let messages = messages(&base, &view(true), &mqtt(), Language::Fr);
    let cleared = |topic: &str| find(&messages, topic).payload.is_empty();
    for key in [
        "production_daily",
        "production_yearly",
        "consumption_hc",
        "cost_daily",
        "cost_monthly",
        "price_current",
    ] {
        assert!(
            cleared(&format!(
                "homeassistant/sensor/med_12345678901234_{key}/config"
            )),
            "{key} must be cleared"
        );
    }
    for path in [
        "production/daily",
        "consumption/hchp",
        "cost/daily",
        "price/current",
    ] {
        assert!(
            cleared(&format!("myelectricaldata/12345678901234/{path}")),
            "{path} must be cleared"
        );
    }
    assert!(!cleared(
        "homeassistant/sensor/med_12345678901234_consumption_daily/config"
    ));
    assert!(!cleared("myelectricaldata/12345678901234/status"));
    // A base price alone gives the base cost and price entities.
    base.prices.base = Some(0.25);
    let messages = self::messages(&base, &view(true), &mqtt(), Language::Fr);
    assert!(
        !find(
            &messages,
            "homeassistant/sensor/med_12345678901234_cost_daily/config"
        )
        .payload
        .is_empty()
    );
    assert!(
        !find(
            &messages,
            "homeassistant/sensor/med_12345678901234_price_current/config"
        )
        .payload
        .is_empty()
    );
}

#[test]
fn a_removed_meter_has_every_config_and_state_cleared() {
    let context = PublishContext {
        mqtt: &mqtt(),
        language: Language::Fr,
    };
    let cleared = context.clear_device(&device(&meter(), "myelectricaldata"), &CATALOG);
    assert_eq!(cleared.len(), ENTITIES.len() + TOPICS.len());
    assert!(cleared.iter().all(|m| m.payload.is_empty() && m.retain));
}

#[test]
fn discovery_off_publishes_states_only_and_retain_follows_the_option() {
    let mut settings = mqtt();
    settings.discovery = false;
    settings.retain = false;
    let messages = messages(&meter(), &view(true), &settings, Language::Fr);
    assert!(
        messages
            .iter()
            .all(|m| m.kind == MessageKind::State && !m.retain)
    );
}

#[test]
fn payloads_fit_in_a_small_mqtt_packet() {
    for message in messages(&meter(), &view(true), &mqtt(), Language::Fr) {
        assert!(
            message.payload.len() < 2048,
            "{} is {} bytes",
            message.topic,
            message.payload.len()
        );
    }
}

mod grid {
    use super::*;
    use crate::derived::grid::{EcowattView, TempoView};
    use crate::entities::grid::*;
    use crate::model::TempoColor;

    fn tempo_view(tomorrow: Option<TempoColor>) -> TempoView {
        TempoView {
            today: d("2024-01-15"),
            today_color: Some(TempoColor::Red),
            tomorrow_color: tomorrow,
            season_start: d("2023-09-01"),
            remaining: [
                (TempoColor::Blue, 280),
                (TempoColor::White, 40),
                (TempoColor::Red, 20),
            ],
        }
    }

    fn ecowatt_view() -> EcowattView {
        EcowattView {
            date: d("2024-01-15"),
            hour: 18,
            level: Some(2),
            day_level: 2,
            message: Some("Mode écogeste".into()),
            hours: (0..24)
                .map(|h| if (18..20).contains(&h) { 2 } else { 1 })
                .collect(),
        }
    }

    fn settings() -> crate::config::Settings {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            file.path(),
            r#"{"client_secret":"x","meters":[{"pdl":"12345678901234"}]}"#,
        )
        .unwrap();
        crate::config::load(&crate::config::Sources {
            options_path: Some(file.path().to_path_buf()),
            ..Default::default()
        })
        .unwrap()
        .settings
    }

    #[test]
    fn grid_entities_have_names_and_follow_the_class_rules() {
        for def in TEMPO_ENTITIES.iter().chain(ECOWATT_ENTITIES) {
            for language in [Language::Fr, Language::En] {
                let name = translations::entity_name(language, def.key)
                    .unwrap_or_else(|| panic!("{}", def.key));
                assert!(
                    !name.starts_with("Tempo") && !name.starts_with("EcoWatt"),
                    "{name}"
                );
            }
            if def.device_class == Some("enum") {
                assert_eq!((def.unit, def.state_class), (None, None), "{}", def.key);
                assert_eq!(def.options, &["BLEU", "BLANC", "ROUGE"]);
            }
        }
    }

    #[test]
    fn tempo_payloads_and_unknown_tomorrow() {
        let context = PublishContext {
            mqtt: &mqtt(),
            language: Language::Fr,
        };
        let device = tempo_device("myelectricaldata");
        let messages =
            context.device_messages(&device, &TEMPO, &settings(), Some(&tempo_view(None)));
        let json = |topic: &str| -> Value {
            serde_json::from_slice(&find(&messages, topic).payload).unwrap()
        };
        assert_eq!(
            json("myelectricaldata/tempo/today"),
            serde_json::json!({"color":"ROUGE","date":"2024-01-15"})
        );
        assert_eq!(
            json("myelectricaldata/tempo/tomorrow"),
            serde_json::json!({"color":null,"date":"2024-01-16"})
        );
        assert_eq!(
            json("myelectricaldata/tempo/remaining"),
            serde_json::json!({"blue":280,"white":40,"red":20,"season":"2023-2024"})
        );
        let config: Value = serde_json::from_slice(
            &find(&messages, "homeassistant/sensor/med_tempo_today/config").payload,
        )
        .unwrap();
        assert_eq!(config["device"]["identifiers"][0], "med_tempo");
        assert_eq!(config["device"]["name"], "Tempo");
        assert_eq!(config["default_entity_id"], "sensor.tempo_today");
        assert_eq!(
            config["options"],
            serde_json::json!(["BLEU", "BLANC", "ROUGE"])
        );
        assert!(config.get("unit_of_measurement").is_none() && config.get("state_class").is_none());
    }

    #[test]
    fn ecowatt_payloads_and_the_list_as_attributes() {
        let context = PublishContext {
            mqtt: &mqtt(),
            language: Language::Fr,
        };
        let device = ecowatt_device("myelectricaldata");
        let messages =
            context.device_messages(&device, &ECOWATT, &settings(), Some(&ecowatt_view()));
        let current: Value =
            serde_json::from_slice(&find(&messages, "myelectricaldata/ecowatt/current").payload)
                .unwrap();
        assert_eq!(
            (current["level"].as_u64(), current["message"].as_str()),
            (Some(2), Some("Mode écogeste"))
        );
        let forecast: Value =
            serde_json::from_slice(&find(&messages, "myelectricaldata/ecowatt/forecast").payload)
                .unwrap();
        assert_eq!(forecast.as_array().unwrap().len(), 24);
        assert_eq!(forecast[18], serde_json::json!({"hour":18,"level":2}));
        let config: Value = serde_json::from_slice(
            &find(
                &messages,
                "homeassistant/sensor/med_ecowatt_forecast/config",
            )
            .payload,
        )
        .unwrap();
        assert!(
            config["json_attributes_template"]
                .as_str()
                .unwrap()
                .contains("tojson"),
            "a list needs an attributes template"
        );
    }

    #[test]
    fn switched_off_devices_are_cleared() {
        let mut settings = settings();
        settings.tempo = false;
        settings.ecowatt = false;
        let context = PublishContext {
            mqtt: &mqtt(),
            language: Language::Fr,
        };
        let messages =
            context.device_messages(&tempo_device("myelectricaldata"), &TEMPO, &settings, None);
        assert!(!messages.is_empty() && messages.iter().all(|m| m.payload.is_empty() && m.retain));
        let messages = context.device_messages(
            &ecowatt_device("myelectricaldata"),
            &ECOWATT,
            &settings,
            None,
        );
        assert!(!messages.is_empty() && messages.iter().all(|m| m.payload.is_empty() && m.retain));
    }
}
