use std::io::Write;

use super::*;
use crate::model::{Prices, Tariff};

fn options_file(json: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(json.as_bytes()).unwrap();
    file
}

fn sources(file: &tempfile::NamedTempFile, env: &[(&str, &str)]) -> Sources {
    Sources {
        options_path: Some(file.path().to_path_buf()),
        data_dir: None,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        demo: false,
    }
}

const MINIMAL: &str = r#"{"client_secret":"s3cret-value","meters":[{"pdl":"12345678901234"}]}"#;

#[test]
fn minimal_options_get_the_spec_defaults() {
    let loaded = load(&sources(&options_file(MINIMAL), &[])).unwrap();
    let s = loaded.settings;
    assert_eq!(s.gateway.generation, GatewayGeneration::V2);
    assert_eq!(
        s.gateway.base_url.as_str(),
        "https://www.v2.myelectricaldata.fr/api"
    );
    assert_eq!(s.mqtt.topic_prefix, "myelectricaldata");
    assert_eq!(s.mqtt.discovery_prefix, "homeassistant");
    assert_eq!(
        (s.mqtt.qos, s.mqtt.retain, s.mqtt.discovery, s.mqtt.enabled),
        (1, true, true, true)
    );
    assert!(s.mqtt.broker.is_none());
    assert_eq!((s.tempo, s.ecowatt, s.language), (true, true, Language::Fr));
    assert_eq!(s.log_level, LogLevel::Info);
    assert_eq!(s.data_dir, PathBuf::from("/data"));
    assert_eq!(s.supervisor.api.as_str(), "http://supervisor/");
    let meter = &s.meters[0];
    assert_eq!(meter.name, "12345678901234", "the name defaults to the PDL");
    assert_eq!(
        (meter.consumption, meter.production, meter.load_curve),
        (true, false, false)
    );
    assert_eq!(meter.tariff, Tariff::Base);
    assert_eq!(meter.prices, Prices::default());
}

#[test]
fn every_option_of_the_spec_is_read() {
    let json = r#"{
      "gateway": "v1", "gateway_url": "http://127.0.0.1:9/", "client_secret": "x",
      "mqtt_broker": "mqtts://u:p@broker:8884", "mqtt_topic_prefix": "med", "mqtt_qos": 2,
      "mqtt_retain": false, "mqtt_ha_discovery": false, "mqtt_ha_discovery_prefix": "ha",
      "tempo": false, "ecowatt": false, "language": "en", "log_level": "debug",
      "meters": [{"pdl": "12345678901234", "name": "Maison", "token": "tok", "consumption": false,
        "production": true, "load_curve": true, "tariff": "TEMPO", "price_base": 0.2516,
        "price_hc": 0.2068, "price_hp": 0.27, "price_tempo_blue_hc": 0.1325,
        "price_tempo_blue_hp": 0.1612, "price_tempo_white_hc": 0.1499,
        "price_tempo_white_hp": 0.1871, "price_tempo_red_hc": 0.1575,
        "price_tempo_red_hp": 0.706, "offpeak_hours": "22H00-6H00;12H30-14H30"}]
    }"#;
    let s = load(&sources(&options_file(json), &[])).unwrap().settings;
    assert_eq!(s.gateway.generation, GatewayGeneration::V1);
    assert_eq!(
        s.mqtt.broker.as_ref().unwrap().to_string(),
        "mqtts://u:***@broker:8884"
    );
    assert_eq!(
        (s.mqtt.qos, s.mqtt.retain, s.mqtt.discovery),
        (2, false, false)
    );
    assert_eq!(
        (
            s.mqtt.topic_prefix.as_str(),
            s.mqtt.discovery_prefix.as_str()
        ),
        ("med", "ha")
    );
    assert_eq!(
        (s.tempo, s.ecowatt, s.language, s.log_level),
        (false, false, Language::En, LogLevel::Debug)
    );
    let m = &s.meters[0];
    assert_eq!(m.name, "Maison");
    assert_eq!(m.token.as_ref().unwrap().expose(), "tok");
    assert_eq!(
        (m.consumption, m.production, m.load_curve, m.tariff),
        (false, true, true, Tariff::Tempo)
    );
    assert_eq!(m.prices.tempo_red_hp, Some(0.706));
    assert_eq!(m.prices.base, Some(0.2516));
    assert_eq!(m.offpeak_hours.as_ref().unwrap().len(), 2);
}

#[test]
fn every_problem_is_reported_at_once_one_line_per_key() {
    let json = r#"{"gateway":"v3","mqtt_qos":3,"mqtt_broker":"http://host","language":"de",
      "mqtt_ca_cert":"/nonexistent/ca.crt",
      "meters":[{"pdl":"1234"},{"pdl":"12345678901234","tariff":"NUIT","price_base":"cheap","offpeak_hours":"soon"}]}"#;
    let error = load(&sources(&options_file(json), &[])).unwrap_err();
    let keys: Vec<&str> = error
        .problems
        .iter()
        .map(|p| p.split(':').next().unwrap())
        .collect();
    for key in [
        "gateway",
        "mqtt_qos",
        "mqtt_broker",
        "language",
        "mqtt_ca_cert",
        "meters[0].pdl",
        "meters[1].tariff",
        "meters[1].price_base",
        "meters[1].offpeak_hours",
    ] {
        assert!(
            keys.contains(&key),
            "{key} missing from {:#?}",
            error.problems
        );
    }
    let text = error.to_string();
    assert_eq!(text.lines().count(), error.problems.len());
    assert!(text.lines().all(|l| l.starts_with("configuration: ")));
}

#[test]
fn missing_credentials_name_the_key() {
    let v2 = load(&sources(
        &options_file(r#"{"meters":[{"pdl":"12345678901234"}]}"#),
        &[],
    ))
    .unwrap_err();
    assert!(
        v2.problems
            .iter()
            .any(|p| p.starts_with("client_secret: required")),
        "{v2:?}"
    );
    let v1 = load(&sources(
        &options_file(r#"{"gateway":"v1","meters":[{"pdl":"12345678901234"}]}"#),
        &[],
    ))
    .unwrap_err();
    assert!(
        v1.problems
            .iter()
            .any(|p| p.starts_with("meters[0].token: required")),
        "{v1:?}"
    );
    let none = load(&sources(&options_file(r#"{"client_secret":"x"}"#), &[])).unwrap_err();
    assert!(
        none.problems.iter().any(|p| p.starts_with("meters:")),
        "{none:?}"
    );
}

#[test]
fn numeric_pdl_and_numeric_looking_secrets_stay_strings() {
    let json = r#"{"client_secret": 12345, "gateway":"v2", "meters":[{"pdl": 12345678901234, "token": 987}]}"#;
    let s = load(&sources(&options_file(json), &[])).unwrap().settings;
    assert_eq!(s.meters[0].pdl.as_str(), "12345678901234");
    assert_eq!(s.gateway.client_secret.as_ref().unwrap().expose(), "12345");
    // From the environment, figment would type `00123` as a number and lose the zeros.
    let s = load(&sources(
        &options_file(MINIMAL),
        &[("SUPERVISOR_TOKEN", "00123"), ("MQTT_TOPIC_PREFIX", "0042")],
    ))
    .unwrap()
    .settings;
    assert_eq!(s.supervisor.token.as_ref().unwrap().expose(), "00123");
    assert_eq!(s.mqtt.topic_prefix, "0042");
}

#[test]
fn environment_overrides_the_options_file() {
    let json = r#"{"client_secret":"x","mqtt_qos":0,"mqtt_retain":true,"mqtt_broker":"mqtt://file-host","meters":[{"pdl":"12345678901234"}]}"#;
    let env = [
        ("MQTT_QOS", "2"),
        ("MQTT_RETAIN", "false"),
        ("MQTT_BROKER", "mqtt://env-host:1999"),
        ("MQTT_ENABLED", "false"),
        ("MQTT_HA_DISCOVERY", "0"),
        ("MQTT_HA_DISCOVERY_PREFIX", "hass"),
        ("HASSIO_TOKEN", "legacy"),
        ("SUPERVISOR_API", "http://127.0.0.1:1234"),
        ("UNRELATED", "ignored"),
    ];
    let s = load(&sources(&options_file(json), &env)).unwrap().settings;
    assert_eq!(
        (s.mqtt.qos, s.mqtt.retain, s.mqtt.enabled, s.mqtt.discovery),
        (2, false, false, false)
    );
    assert_eq!(s.mqtt.broker.as_ref().unwrap().host, "env-host");
    assert_eq!(s.mqtt.discovery_prefix, "hass");
    assert_eq!(s.supervisor.token.as_ref().unwrap().expose(), "legacy");
    assert_eq!(s.supervisor.api.as_str(), "http://127.0.0.1:1234/");
    let bad = load(&sources(&options_file(MINIMAL), &[("MQTT_QOS", "high")])).unwrap_err();
    assert!(
        bad.problems.iter().any(|p| p.starts_with("mqtt_qos:")),
        "{bad:?}"
    );
}

#[test]
fn flags_override_everything() {
    let dir = tempfile::tempdir().unwrap();
    let file = options_file(MINIMAL);
    let mut sources = sources(&file, &[]);
    sources.data_dir = Some(dir.path().to_path_buf());
    assert_eq!(load(&sources).unwrap().settings.data_dir, dir.path());
}

#[test]
fn an_explicit_options_file_that_is_missing_is_an_error() {
    let sources = Sources {
        options_path: Some(PathBuf::from("/nonexistent/options.json")),
        ..Sources::default()
    };
    let error = load(&sources).unwrap_err();
    assert!(
        error.problems[0]
            .starts_with("--options: the file /nonexistent/options.json does not exist"),
        "{error:?}"
    );
}

#[test]
fn malformed_json_is_a_configuration_error() {
    let error = load(&sources(&options_file("{not json"), &[])).unwrap_err();
    assert!(!error.problems.is_empty());
}

#[test]
fn unknown_keys_are_warned_about() {
    let json = r#"{"client_secret":"x","mqtt_brokr":"typo","meters":[{"pdl":"12345678901234","nmae":"x"}]}"#;
    let loaded = load(&sources(&options_file(json), &[])).unwrap();
    assert!(
        loaded.warnings.iter().any(|w| w.contains("mqtt_brokr")),
        "{:?}",
        loaded.warnings
    );
    assert!(
        loaded.warnings.iter().any(|w| w.contains("meters[0].nmae")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn secrets_never_show_in_debug_output_or_errors() {
    let json = r#"{"client_secret":"client-SECRET-1","mqtt_broker":"mqtt://user:broker-SECRET-2@host",
      "meters":[{"pdl":"12345678901234","token":"token-SECRET-3"}]}"#;
    let env = [("SUPERVISOR_TOKEN", "supervisor-SECRET-4")];
    let loaded = load(&sources(&options_file(json), &env)).unwrap();
    let debug = format!("{:?}", loaded.settings);
    assert!(!debug.contains("SECRET"), "{debug}");
    assert!(debug.contains("mqtt://user:***@host:1883"), "{debug}");
    let bad = r#"{"client_secret":"client-SECRET-1","mqtt_broker":"ftp://user:broker-SECRET-2@host","meters":[{"pdl":"1"}]}"#;
    let error = load(&sources(&options_file(bad), &[])).unwrap_err();
    assert!(!error.to_string().contains("SECRET"), "{error}");
}

#[test]
fn topic_prefixes_reject_wildcards() {
    let error = load(&sources(
        &options_file(MINIMAL),
        &[("MQTT_TOPIC_PREFIX", "a/#")],
    ))
    .unwrap_err();
    assert!(
        error.problems[0].starts_with("mqtt_topic_prefix:"),
        "{error:?}"
    );
}

#[test]
fn client_cert_and_key_go_together() {
    let cert = options_file("cert");
    let json = format!(
        r#"{{"client_secret":"x","mqtt_client_cert":"{}","meters":[{{"pdl":"12345678901234"}}]}}"#,
        cert.path().display()
    );
    let error = load(&sources(&options_file(&json), &[])).unwrap_err();
    assert!(
        error.problems[0].starts_with("mqtt_client_cert:"),
        "{error:?}"
    );
}

#[test]
fn duplicate_meters_are_rejected() {
    let json =
        r#"{"client_secret":"x","meters":[{"pdl":"12345678901234"},{"pdl":"12345678901234"}]}"#;
    let error = load(&sources(&options_file(json), &[])).unwrap_err();
    assert!(error.problems[0].contains("listed twice"), "{error:?}");
}

#[test]
fn the_key_lists_name_exactly_the_keys_the_program_reads() {
    // Every listed key is read (no "unknown option" warning)…
    let mut options: serde_json::Map<String, serde_json::Value> = OPTION_KEYS
        .iter()
        .filter(|k| {
            ![
                "meters",
                "mqtt_ca_cert",
                "mqtt_client_cert",
                "mqtt_client_key",
            ]
            .contains(k)
        })
        .map(|k| (k.to_string(), serde_json::Value::from("")))
        .collect();
    let meter: serde_json::Map<String, serde_json::Value> = METER_KEYS
        .iter()
        .map(|k| (k.to_string(), serde_json::Value::from("")))
        .collect();
    options.insert(
        "meters".into(),
        serde_json::Value::from(vec![serde_json::Value::from(meter)]),
    );
    let file = options_file(&serde_json::Value::from(options).to_string());
    let warnings = match load(&sources(&file, &[])) {
        Ok(loaded) => loaded.warnings,
        Err(_) => Vec::new(),
    };
    assert!(
        warnings.iter().all(|w| !w.contains("unknown")),
        "{warnings:?}"
    );
    // …and every field of the raw structs is listed.
    let fields = |debug: String| -> Vec<String> {
        debug
            .split(['{', ','])
            .skip(1)
            .filter_map(|f| Some(f.split(':').next()?.trim().to_string()))
            .filter(|f| {
                !f.is_empty()
                    && f != "unknown"
                    && f.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            })
            .collect()
    };
    for field in fields(format!("{:?}", RawOptions::default())) {
        assert!(
            OPTION_KEYS.contains(&field.as_str()),
            "{field} is not in OPTION_KEYS"
        );
    }
    for field in fields(format!("{:?}", RawMeter::default())) {
        assert!(
            METER_KEYS.contains(&field.as_str()),
            "{field} is not in METER_KEYS"
        );
    }
    assert_eq!(
        fields(format!("{:?}", RawOptions::default())).len(),
        OPTION_KEYS.len()
    );
    assert_eq!(
        fields(format!("{:?}", RawMeter::default())).len(),
        METER_KEYS.len()
    );
}

#[test]
fn statistics_go_to_ha_url_else_through_the_supervisor() {
    let ws = |json: &str, env: &[(&str, &str)]| {
        let loaded = load(&sources(&options_file(json), env)).unwrap();
        loaded
            .settings
            .statistics_websocket()
            .map(|(url, token)| (url.to_string(), token.expose().to_string()))
    };
    let supervisor = [("SUPERVISOR_TOKEN", "sup-token")];
    assert_eq!(
        ws(MINIMAL, &supervisor),
        Some(("ws://supervisor/core/websocket".into(), "sup-token".into()))
    );
    let outside = r#"{"client_secret":"x","ha_url":"https://ha.example:8123","ha_token":"long-lived","meters":[{"pdl":"12345678901234"}]}"#;
    assert_eq!(
        ws(outside, &supervisor),
        Some((
            "wss://ha.example:8123/api/websocket".into(),
            "long-lived".into()
        )),
        "ha_url wins"
    );
    let env = [
        ("HA_URL", "http://10.0.0.5:8123/"),
        ("HA_TOKEN", "from-env"),
    ];
    assert_eq!(
        ws(MINIMAL, &env),
        Some(("ws://10.0.0.5:8123/api/websocket".into(), "from-env".into()))
    );
    assert_eq!(ws(MINIMAL, &[]), None, "neither: skipped");
    let off =
        r#"{"client_secret":"x","energy_statistics":false,"meters":[{"pdl":"12345678901234"}]}"#;
    assert_eq!(ws(off, &supervisor), None);
}

#[test]
fn ha_url_needs_a_token_and_an_http_address() {
    let problems = |json: &str| {
        load(&sources(&options_file(json), &[]))
            .unwrap_err()
            .problems
    };
    let no_token =
        r#"{"client_secret":"x","ha_url":"http://ha:8123","meters":[{"pdl":"12345678901234"}]}"#;
    assert!(problems(no_token)[0].starts_with("ha_token: required with ha_url"));
    let bad = r#"{"client_secret":"x","ha_url":"ftp://ha","ha_token":"t","meters":[{"pdl":"12345678901234"}]}"#;
    assert!(problems(bad)[0].starts_with("ha_url: expected"));
}

#[test]
fn topic_prefixes_reject_empty_levels() {
    for (var, value) in [
        ("MQTT_TOPIC_PREFIX", "a//b"),
        ("MQTT_HA_DISCOVERY_PREFIX", "ha//x"),
        ("MQTT_TOPIC_PREFIX", "/a"),
        ("MQTT_TOPIC_PREFIX", "a/"),
    ] {
        let error = load(&sources(&options_file(MINIMAL), &[(var, value)])).unwrap_err();
        let key = var.to_ascii_lowercase();
        assert_eq!(error.problems.len(), 1, "{error:?}");
        assert!(
            error.problems[0].starts_with(&format!("{key}: expected a topic prefix"))
                && error.problems[0].contains("empty levels"),
            "{error:?}"
        );
    }
    let fine = load(&sources(
        &options_file(MINIMAL),
        &[("MQTT_TOPIC_PREFIX", "home/linky")],
    ));
    assert_eq!(fine.unwrap().settings.mqtt.topic_prefix, "home/linky");
}

#[test]
fn a_certificate_path_that_is_a_directory_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing.pem");
    for (path, why) in [(dir.path(), "is a directory"), (&missing, "does not exist")] {
        let json = format!(
            r#"{{"client_secret":"x","mqtt_ca_cert":"{}","meters":[{{"pdl":"12345678901234"}}]}}"#,
            path.display()
        );
        let error = load(&sources(&options_file(&json), &[])).unwrap_err();
        assert_eq!(
            error.problems,
            [format!(
                "mqtt_ca_cert: expected a readable file, {} {why}",
                path.display()
            )]
        );
    }
}

#[test]
fn over_long_strings_are_one_line_each_and_never_repeated() {
    let name = "N".repeat(100_000);
    let secret = "S".repeat(5000);
    let json = format!(
        r#"{{"client_secret":"{secret}","meters":[{{"pdl":"12345678901234","name":"{name}"}}]}}"#
    );
    let error = load(&sources(&options_file(&json), &[])).unwrap_err();
    assert_eq!(
        error.problems,
        [
            "client_secret: at most 4096 characters, got 5000",
            "meters[0].name: at most 64 characters, got 100000",
            "client_secret: required with gateway v2 (your MyElectricalData client secret)",
        ]
    );
    assert!(error.to_string().len() < 400, "{error}");
}

#[test]
fn an_options_file_too_large_is_refused_unread() {
    let mut json = MINIMAL.trim_end_matches('}').to_string();
    json.push_str(&format!(r#","padding":"{}"}}"#, " ".repeat(1024 * 1024)));
    let file = options_file(&json);
    let error = load(&sources(&file, &[])).unwrap_err();
    let size = std::fs::metadata(file.path()).unwrap().len();
    assert_eq!(
        error.problems[0],
        format!(
            "options: {} is {size} bytes, more than an options file can be (1048576)",
            file.path().display()
        )
    );
}

#[test]
fn a_long_bad_value_is_quoted_cut_short() {
    let url = format!("htt{}", "B\u{7f}".repeat(1000));
    let error = load(&sources(
        &options_file(&format!(r#"{{"gateway_url":"{url}"}}"#)),
        &[],
    ))
    .unwrap_err();
    let problem = error
        .problems
        .iter()
        .find(|p| p.starts_with("gateway_url: expected an http"))
        .unwrap();
    assert!(problem.ends_with("\"…") && problem.len() < 500, "{problem}");
}

#[test]
fn an_unreadable_options_file_is_one_short_line_whatever_it_holds() {
    let text = format!("\"{}\"", "v\\r".repeat(2000));
    let error = load(&sources(&options_file(&text), &[])).unwrap_err();
    let problem = &error.problems[0];
    assert!(
        problem.starts_with("options: invalid type: string"),
        "{problem}"
    );
    assert!(
        problem.ends_with('…') && problem.chars().count() <= 220,
        "{problem}"
    );
    assert!(!problem.contains(['\r', '\n']), "{problem}");
}

#[test]
fn the_web_page_is_off_outside_the_add_on_unless_a_port_is_given() {
    let web = |env: &[(&str, &str)]| load(&sources(&options_file(MINIMAL), env));
    let off = web(&[]).unwrap().settings.web;
    assert_eq!((off.listen, off.only_from), (None, None));

    let local = web(&[("WEB_PORT", "8080")]).unwrap().settings.web;
    assert_eq!(local.listen, Some("127.0.0.1:8080".parse().unwrap()));
    assert_eq!(local.only_from, None);

    let everywhere = web(&[("WEB_PORT", "8080"), ("WEB_BIND", "0.0.0.0")]);
    let everywhere = everywhere.unwrap().settings.web;
    assert_eq!(everywhere.listen, Some("0.0.0.0:8080".parse().unwrap()));

    let ingress = web(&[("WEB_INGRESS", "true")]).unwrap().settings.web;
    assert_eq!(ingress.listen, Some("0.0.0.0:8099".parse().unwrap()));
    assert_eq!(ingress.only_from, Some("172.30.32.2".parse().unwrap()));
}

#[test]
fn bad_web_options_are_one_line_each() {
    let env = [("WEB_PORT", "70000"), ("WEB_BIND", "localhost")];
    let error = load(&sources(&options_file(MINIMAL), &env)).unwrap_err();
    assert_eq!(
        error.problems,
        [
            "web_port: expected a port from 1 to 65535, got 70000",
            "web_bind: expected an IP address like 127.0.0.1 or 0.0.0.0, got \"localhost\"",
        ]
    );
    let loaded = load(&sources(&options_file(MINIMAL), &[("WEB_BIND", "::1")])).unwrap();
    assert_eq!(loaded.settings.web.listen, None);
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("web_bind ignored")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn a_database_url_is_checked_and_never_shown() {
    let problems = |url: &str| {
        let error = load(&sources(&options_file(MINIMAL), &[("DATABASE_URL", url)]));
        error.unwrap_err().problems
    };
    let mysql = problems("mysql://me:db-pw-NEVER-1f2@host/linky");
    assert_eq!(
        mysql,
        ["database_url: expected postgres://… or postgresql://…, got a \"mysql\" URL"]
    );
    assert!(problems("not a url")[0].starts_with("database_url: not a URL ("));
    // `sslmode` is read as libpq reads it: an unknown mode is a configuration error.
    let unknown = problems("postgresql://me:p%40ss-NEVER-9a7@db/linky?sslmode=sometimes");
    assert_eq!(unknown.len(), 1);
    assert!(unknown[0].starts_with("database_url: ") && unknown[0].contains("sometimes"));
    let url = "postgresql://me:p%40ss-NEVER-9a7@db:5432/linky?sslmode=require";
    let loaded = load(&sources(&options_file(MINIMAL), &[("DATABASE_URL", url)])).unwrap();
    assert_eq!(
        loaded.settings.database.as_ref().map(|url| url.expose()),
        Some(url)
    );
    assert!(!format!("{:?}", loaded.settings).contains("NEVER"));
    let shown =
        crate::model::redact("failed: p@ss-NEVER-9a7 and p%40ss-NEVER-9a7 and db-pw-NEVER-1f2");
    assert_eq!(shown.matches("NEVER").count(), 0, "{shown}");
    // Without it, the store is SQLite's.
    let loaded = load(&sources(&options_file(MINIMAL), &[])).unwrap();
    assert!(loaded.settings.database.is_none());
}
