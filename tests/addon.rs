//! The add-on as the Supervisor and the add-on store see it (`addon/`, `repository.yaml`),
//! checked against the program: the options panel offers exactly the options the program
//! reads, with defaults, choices and bounds the program accepts, in the form the Supervisor
//! and the add-on linter accept; the translations and the documentation cover every option;
//! the image, its AppArmor profile and CI agree with `config.yaml`.
//!
//! Everything is read from the files at test time, so a change made on one side and not on
//! the other fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use myelectricaldata_mqtt::config::{self, ConfigError, ENV_KEYS, Loaded, Sources};
use serde_json::{Map, Value, json};
use yaml_rust2::{Yaml, YamlLoader};

const SLUG: &str = "myelectricaldata_mqtt";
const VERSION: &str = env!("CARGO_PKG_VERSION");
const REPOSITORY: &str = env!("CARGO_PKG_REPOSITORY");

/// Options the program reads that the panel does not offer, and where they come from instead.
const NOT_IN_PANEL: &[(&str, &str)] = &[
    (
        "mqtt_enabled",
        "MQTT_ENABLED=false (sync only) is for running outside Home Assistant",
    ),
    (
        "supervisor_token",
        "SUPERVISOR_TOKEN, set by the Supervisor",
    ),
    ("hassio_token", "HASSIO_TOKEN, the legacy name of the same"),
    (
        "supervisor_api",
        "SUPERVISOR_API, for tests and self-hosted setups",
    ),
    ("data_dir", "--data-dir; /data in the add-on"),
    (
        "web_port",
        "WEB_PORT, the page outside the add-on (inside, the sidebar shows it through ingress)",
    ),
    ("web_bind", "WEB_BIND, the address of that page"),
    ("web_ingress", "WEB_INGRESS=true, set by the add-on image"),
];

/// Keys the add-on linter (frenck/action-addon-linter, `config.schema.json`) knows: it
/// rejects any other.
const LINTER_KEYS: &[&str] = &[
    "advanced",
    "apparmor",
    "arch",
    "audio",
    "auth_api",
    "auto_uart",
    "backup",
    "backup_exclude",
    "backup_post",
    "backup_pre",
    "boot",
    "breaking_versions",
    "codenotary",
    "description",
    "devices",
    "devicetree",
    "discovery",
    "docker_api",
    "environment",
    "full_access",
    "gpio",
    "hassio_api",
    "hassio_role",
    "homeassistant",
    "homeassistant_api",
    "host_dbus",
    "host_ipc",
    "host_network",
    "host_pid",
    "host_uts",
    "image",
    "ingress",
    "ingress_entry",
    "ingress_port",
    "ingress_stream",
    "init",
    "journald",
    "kernel_modules",
    "legacy",
    "machine",
    "map",
    "name",
    "options",
    "panel_admin",
    "panel_icon",
    "panel_title",
    "ports",
    "ports_description",
    "privileged",
    "realtime",
    "schema",
    "services",
    "slug",
    "stage",
    "startup",
    "stdin",
    "timeout",
    "tmpfs",
    "uart",
    "udev",
    "ulimits",
    "url",
    "usb",
    "version",
    "video",
    "watchdog",
    "webui",
];

/// Keys with a default value: the linter rejects a key set to its default.
fn linter_defaults() -> Vec<(&'static str, Value)> {
    let f = Value::Bool(false);
    let mut defaults: Vec<(&str, Value)> = [
        "advanced",
        "audio",
        "auth_api",
        "auto_uart",
        "devicetree",
        "docker_api",
        "full_access",
        "gpio",
        "hassio_api",
        "homeassistant_api",
        "host_dbus",
        "host_ipc",
        "host_network",
        "host_pid",
        "host_uts",
        "ingress",
        "ingress_stream",
        "journald",
        "kernel_modules",
        "legacy",
        "realtime",
        "stdin",
        "tmpfs",
        "uart",
        "udev",
        "usb",
        "video",
    ]
    .into_iter()
    .map(|key| (key, f.clone()))
    .collect();
    defaults.extend([
        ("apparmor", json!(true)),
        ("backup", json!("hot")),
        ("boot", json!("auto")),
        ("hassio_role", json!("default")),
        ("ingress_port", json!(8099)),
        ("init", json!(true)),
        ("panel_admin", json!(true)),
        ("panel_icon", json!("mdi:puzzle")),
        ("stage", json!("stable")),
        ("startup", json!("application")),
        ("timeout", json!(10)),
        ("ulimits", json!({})),
        ("options", json!({})),
        ("schema", json!({})),
    ]);
    defaults
}

// ------------------------------------------------------------------------------------------
// Reading the files

fn path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// A YAML file of one document, as JSON values.
fn yaml(relative: &str) -> Value {
    let docs = YamlLoader::load_from_str(&read(relative))
        .unwrap_or_else(|e| panic!("{relative}: not valid YAML: {e}"));
    assert_eq!(docs.len(), 1, "{relative}: expected one YAML document");
    to_json(&docs[0], relative)
}

fn to_json(node: &Yaml, file: &str) -> Value {
    match node {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Integer(i) => json!(i),
        Yaml::Real(_) => json!(node.as_f64().unwrap_or(f64::NAN)),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Array(items) => Value::Array(items.iter().map(|i| to_json(i, file)).collect()),
        Yaml::Hash(hash) => Value::Object(
            hash.iter()
                .map(|(key, value)| {
                    let key = match key {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        other => panic!("{file}: unexpected mapping key {other:?}"),
                    };
                    (key, to_json(value, file))
                })
                .collect(),
        ),
        Yaml::Alias(_) | Yaml::BadValue => panic!("{file}: unsupported YAML node {node:?}"),
    }
}

fn object<'a>(value: &'a Value, what: &str) -> &'a Map<String, Value> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("{what}: expected a mapping, got {value}"))
}

fn addon_config() -> Map<String, Value> {
    object(&yaml("addon/config.yaml"), "addon/config.yaml").clone()
}

// ------------------------------------------------------------------------------------------
// The Supervisor's option types

/// An option type of the Supervisor (`supervisor/addons/options.py`, `RE_SCHEMA_ELEMENT`),
/// without `device`, which this add-on has no use for.
#[derive(Debug, Clone, PartialEq)]
enum Type {
    Bool,
    Email,
    Url,
    Port,
    Str,
    Password,
    Int(Option<i64>, Option<i64>),
    Float(Option<f64>, Option<f64>),
    Match(String),
    List(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
struct Field {
    ty: Type,
    optional: bool,
}

/// `bool|email|url|port|str|str(min,max)|password|password(min,max)|int|int(min,max)|float|
/// float(min,max)|match(…)|list(a|b|…)`, each bound optional, with an optional trailing `?`.
fn parse_type(text: &str) -> Result<Field, String> {
    let (base, optional) = match text.strip_suffix('?') {
        Some(base) => (base, true),
        None => (text, false),
    };
    let ty = match base {
        "bool" => Type::Bool,
        "email" => Type::Email,
        "url" => Type::Url,
        "port" => Type::Port,
        "str" => Type::Str,
        "password" => Type::Password,
        "int" => Type::Int(None, None),
        "float" => Type::Float(None, None),
        _ => {
            let (name, args) = base
                .split_once('(')
                .and_then(|(name, rest)| Some((name, rest.strip_suffix(')')?)))
                .ok_or_else(|| format!("`{text}` is not a Supervisor option type"))?;
            match name {
                "str" | "password" => {
                    bounds(args, |s| s.parse::<u64>().ok(), text)?;
                    if name == "str" {
                        Type::Str
                    } else {
                        Type::Password
                    }
                }
                "int" => {
                    let (min, max) = bounds(args, |s| s.parse::<i64>().ok(), text)?;
                    Type::Int(min, max)
                }
                "float" => {
                    let digits = |s: &str| {
                        s.chars()
                            .all(|c| c.is_ascii_digit() || c == '.')
                            .then(|| s.parse::<f64>().ok())
                            .flatten()
                    };
                    let (min, max) = bounds(args, digits, text)?;
                    Type::Float(min, max)
                }
                "match" if !args.is_empty() => Type::Match(args.to_string()),
                "list" => {
                    let choices: Vec<String> = args.split('|').map(str::to_string).collect();
                    let distinct: BTreeSet<&String> = choices.iter().collect();
                    if choices.iter().any(String::is_empty) || distinct.len() != choices.len() {
                        return Err(format!("`{text}`: empty or repeated choice"));
                    }
                    Type::List(choices)
                }
                _ => return Err(format!("`{text}` is not a Supervisor option type")),
            }
        }
    };
    Ok(Field { ty, optional })
}

/// `min,max` where each side is empty or a plain unsigned number (the Supervisor's regex
/// takes digits only: no sign).
fn bounds<T>(
    args: &str,
    parse: impl Fn(&str) -> Option<T>,
    text: &str,
) -> Result<(Option<T>, Option<T>), String> {
    let (min, max) = args
        .split_once(',')
        .ok_or_else(|| format!("`{text}`: bounds are written (min,max)"))?;
    let side = |s: &str| -> Result<Option<T>, String> {
        if s.is_empty() {
            return Ok(None);
        }
        if !s.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("`{text}`: bound {s:?} is not a plain number"));
        }
        parse(s)
            .map(Some)
            .ok_or_else(|| format!("`{text}`: bound {s:?} is not a plain number"))
    };
    Ok((side(min)?, side(max)?))
}

/// Whether a value (a default) is one the Supervisor accepts for the type.
fn conforms(value: &Value, ty: &Type) -> bool {
    match ty {
        Type::Bool => value.is_boolean(),
        Type::Int(min, max) => value
            .as_i64()
            .is_some_and(|i| min.is_none_or(|m| i >= m) && max.is_none_or(|m| i <= m)),
        Type::Float(min, max) => value
            .as_f64()
            .is_some_and(|f| min.is_none_or(|m| f >= m) && max.is_none_or(|m| f <= m)),
        Type::Port => value.as_u64().is_some_and(|p| (1..=65535).contains(&p)),
        Type::List(choices) => value
            .as_str()
            .is_some_and(|s| choices.iter().any(|c| c == s)),
        Type::Str | Type::Password | Type::Email | Type::Url | Type::Match(_) => value.is_string(),
    }
}

/// The panel: each option's type, the meter fields apart, and the defaults.
struct Panel {
    /// Top-level options other than `meters`.
    top: BTreeMap<String, Field>,
    meter: BTreeMap<String, Field>,
    options: Map<String, Value>,
}

impl Panel {
    fn read() -> Self {
        let config = addon_config();
        let schema = object(&config["schema"], "schema");
        let field = |key: &str, ty: &Value| {
            let text = ty
                .as_str()
                .unwrap_or_else(|| panic!("schema {key}: expected a type, got {ty}"));
            parse_type(text).unwrap_or_else(|why| panic!("schema {key}: {why}"))
        };
        let mut top = BTreeMap::new();
        let mut meter = None;
        for (key, ty) in schema {
            if key == "meters" {
                let items = ty
                    .as_array()
                    .expect("schema meters: a list of one mapping (the meter's fields)");
                assert_eq!(items.len(), 1, "schema meters: a list of one mapping");
                let fields = object(&items[0], "schema meters[0]");
                meter = Some(
                    fields
                        .iter()
                        .map(|(k, t)| (k.clone(), field(&format!("meters.{k}"), t)))
                        .collect(),
                );
            } else {
                top.insert(key.clone(), field(key, ty));
            }
        }
        let options = object(
            config.get("options").expect("config.yaml: options"),
            "options",
        )
        .clone();
        Panel {
            top,
            meter: meter.expect("schema: meters"),
            options,
        }
    }

    /// Every top-level option of the panel, `meters` included.
    fn option_names(&self) -> BTreeSet<String> {
        self.top
            .keys()
            .cloned()
            .chain(["meters".to_string()])
            .collect()
    }

    fn meter_names(&self) -> BTreeSet<String> {
        self.meter.keys().cloned().collect()
    }
}

// ------------------------------------------------------------------------------------------
// The program's side

/// Every top-level option the program reads.
fn program_options() -> BTreeSet<String> {
    config::OPTION_KEYS.iter().map(|k| k.to_string()).collect()
}

/// Every meter field the program reads.
fn program_meter_fields() -> BTreeSet<String> {
    config::METER_KEYS.iter().map(|k| k.to_string()).collect()
}

/// `config::load` on an options file holding `options`, with no environment.
fn load(options: &Value) -> Result<Loaded, ConfigError> {
    let mut file = tempfile::NamedTempFile::new().expect("temporary options file");
    file.write_all(options.to_string().as_bytes())
        .expect("write the options file");
    config::load(&Sources {
        options_path: Some(file.path().to_path_buf()),
        ..Sources::default()
    })
}

fn accepted(options: &Value) -> Loaded {
    load(options).unwrap_or_else(|e| panic!("the program refuses {options}:\n{e}"))
}

fn refused(options: &Value) -> Vec<String> {
    match load(options) {
        Ok(_) => panic!("the program accepts {options}"),
        Err(e) => e.problems,
    }
}

fn unknown_option_warnings(loaded: &Loaded) -> Vec<&str> {
    loaded
        .warnings
        .iter()
        .map(String::as_str)
        .filter(|w| w.contains("unknown option"))
        .collect()
}

const CLIENT_SECRET: &str = "s3cret-value";

fn a_meter() -> Value {
    json!({"pdl": "12345678901234", "token": "t"})
}

/// The panel's defaults as the Supervisor writes them to `options.json`, with one meter and
/// a client secret filled in.
fn defaults_with_a_meter(panel: &Panel) -> Map<String, Value> {
    let mut options = panel.options.clone();
    options.insert("meters".into(), json!([a_meter()]));
    options.insert("client_secret".into(), json!(CLIENT_SECRET));
    options
}

/// A value the program accepts for a panel option, from its type (and for free text, its
/// name). `file` is an existing file, for the certificate paths.
fn sample(key: &str, field: &Field, file: &Path) -> Value {
    match &field.ty {
        Type::Bool => json!(true),
        Type::Int(min, _) => json!(min.unwrap_or(0)),
        Type::Float(min, _) => json!(min.unwrap_or(0.0) + 0.1234),
        Type::Port => json!(1883),
        Type::List(choices) => json!(choices[0]),
        Type::Url => json!("http://127.0.0.1:9/"),
        Type::Email => json!("someone@example.org"),
        // A PostgreSQL address: read and checked, never connected to by `config::load`.
        Type::Password if key == "database_url" => {
            json!("postgres://med:a-secret@127.0.0.1:9/myelectricaldata?sslmode=disable")
        }
        Type::Password => json!("a-secret"),
        Type::Match(_) if key == "pdl" => json!("12345678901234"),
        Type::Match(re) => panic!("no sample value for `{key}` (match({re})): add one here"),
        Type::Str => match key {
            "mqtt_broker" => json!("mqtt://user:pass@127.0.0.1:1883"),
            "mqtt_topic_prefix" => json!("med"),
            "mqtt_ha_discovery_prefix" => json!("ha"),
            "mqtt_ca_cert" | "mqtt_client_cert" | "mqtt_client_key" => {
                json!(file.display().to_string())
            }
            "name" => json!("Maison"),
            "offpeak_hours" => json!("22H00-6H00;12H30-14H30"),
            other => panic!("no sample value for the text option `{other}`: add one here"),
        },
    }
}

/// Every option of the panel, each set to a value the program accepts.
fn every_panel_option(panel: &Panel, file: &Path) -> Map<String, Value> {
    let meter: Map<String, Value> = panel
        .meter
        .iter()
        .map(|(key, field)| (key.clone(), sample(key, field, file)))
        .collect();
    let mut options: Map<String, Value> = panel
        .top
        .iter()
        .map(|(key, field)| (key.clone(), sample(key, field, file)))
        .collect();
    options.insert("meters".into(), json!([meter]));
    options
}

// ------------------------------------------------------------------------------------------
// The panel against the program

#[test]
fn every_panel_option_is_one_the_program_reads() {
    let panel = Panel::read();
    let (program, program_meter) = (program_options(), program_meter_fields());
    let unknown: Vec<_> = panel.option_names().difference(&program).cloned().collect();
    assert!(
        unknown.is_empty(),
        "options in the schema that the program does not read: {unknown:?}"
    );
    let unknown: Vec<_> = panel
        .meter_names()
        .difference(&program_meter)
        .cloned()
        .collect();
    assert!(
        unknown.is_empty(),
        "meter fields in the schema that the program does not read: {unknown:?}"
    );

    // And the program really takes them: all of them at once, no `unknown option` warning.
    let file = tempfile::NamedTempFile::new().unwrap();
    let options = Value::Object(every_panel_option(&panel, file.path()));
    let loaded = accepted(&options);
    assert_eq!(unknown_option_warnings(&loaded), Vec::<&str>::new());
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn every_option_the_program_reads_is_in_the_panel() {
    let panel = Panel::read();
    let expected: BTreeSet<String> = program_options()
        .into_iter()
        .filter(|key| NOT_IN_PANEL.iter().all(|(k, _)| k != key))
        .collect();
    let offered = panel.option_names();
    let missing: Vec<_> = expected.difference(&offered).collect();
    assert!(
        missing.is_empty(),
        "options the program reads, missing from the schema of addon/config.yaml \
         (add them, or to NOT_IN_PANEL with where they come from): {missing:?}"
    );
    assert_eq!(offered, expected);

    let missing: Vec<_> = program_meter_fields()
        .difference(&panel.meter_names())
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "meter fields the program reads, missing from schema meters: {missing:?}"
    );
}

#[test]
fn the_program_s_option_lists_are_what_it_accepts() {
    // The lists above are `config::OPTION_KEYS` and `METER_KEYS`; check them against what
    // `config::load` really reads: every one of them at once gives no `unknown option`
    // warning, and a made-up one does.
    let panel = Panel::read();
    let file = tempfile::NamedTempFile::new().unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let mut options = every_panel_option(&panel, file.path());
    for key in program_options() {
        let value = match key.as_str() {
            "mqtt_enabled" => json!(false),
            "supervisor_api" => json!("http://127.0.0.1:9/"),
            "data_dir" => json!(data_dir.path().display().to_string()),
            "web_port" => json!(8080),
            "web_bind" => json!("127.0.0.1"),
            "web_ingress" => json!(false),
            _ => json!("x"),
        };
        options.entry(key).or_insert(value);
    }
    let meter = options["meters"][0].as_object_mut().unwrap();
    for key in program_meter_fields() {
        assert!(meter.contains_key(&key), "meter field {key} has no sample");
    }
    let loaded = accepted(&Value::Object(options.clone()));
    assert_eq!(unknown_option_warnings(&loaded), Vec::<&str>::new());

    options.insert("not_an_option".into(), json!(1));
    options["meters"][0]
        .as_object_mut()
        .unwrap()
        .insert("nor_this".into(), json!(1));
    let loaded = accepted(&Value::Object(options));
    assert_eq!(
        unknown_option_warnings(&loaded),
        [
            "unknown option `not_an_option` ignored",
            "unknown option `meters[0].nor_this` ignored"
        ]
    );
}

#[test]
fn options_left_out_of_the_panel_come_from_the_environment_or_the_command_line() {
    let program = program_options();
    let panel = Panel::read().option_names();
    for (key, source) in NOT_IN_PANEL {
        assert!(
            program.contains(*key),
            "NOT_IN_PANEL lists `{key}`, which the program no longer reads"
        );
        assert!(!panel.contains(*key), "`{key}` is in the panel after all");
        assert!(
            ENV_KEYS.iter().any(|(_, option)| option == key) || *key == "data_dir",
            "`{key}` ({source}) is not in the panel, so it must have an environment \
             variable (config::ENV_KEYS) or a flag"
        );
    }
}

#[test]
fn the_default_options_with_one_meter_are_accepted_and_are_the_program_s_defaults() {
    let panel = Panel::read();
    let with_defaults = accepted(&Value::Object(defaults_with_a_meter(&panel)));
    assert!(
        with_defaults.warnings.is_empty(),
        "{:?}",
        with_defaults.warnings
    );
    // The panel's defaults change nothing: same settings as with no option at all.
    let without = accepted(&json!({"meters": [a_meter()], "client_secret": CLIENT_SECRET}));
    assert_eq!(
        format!("{:?}", with_defaults.settings),
        format!("{:?}", without.settings),
        "a default in addon/config.yaml differs from the program's"
    );
}

#[test]
fn the_default_options_alone_ask_for_a_meter() {
    // `options: meters: []`: the Supervisor only checks that `meters` is there; the program
    // then stops with one line saying a meter is needed.
    let panel = Panel::read();
    assert_eq!(panel.options.get("meters"), Some(&json!([])));
    let mut options = panel.options.clone();
    options.insert("client_secret".into(), json!(CLIENT_SECRET));
    let problems = refused(&Value::Object(options));
    assert_eq!(
        problems,
        ["meters: expected at least one meter (with its 14-digit pdl)"]
    );
}

#[test]
fn every_choice_and_bound_of_the_panel_is_what_the_program_accepts() {
    let panel = Panel::read();
    let base = defaults_with_a_meter(&panel);
    // Options with `key` (a top-level option, or `meters.key`) set to `value`.
    let with = |meter_field: bool, key: &str, value: Value| {
        let mut options = base.clone();
        if meter_field {
            let mut meter = a_meter();
            meter[key] = value;
            options.insert("meters".into(), json!([meter]));
        } else {
            options.insert(key.into(), value);
        }
        Value::Object(options)
    };
    let fields = panel
        .top
        .iter()
        .map(|(k, f)| (false, k, f))
        .chain(panel.meter.iter().map(|(k, f)| (true, k, f)));
    let mut checked = 0;
    for (meter_field, key, field) in fields {
        let shown = if meter_field {
            format!("meters[0].{key}")
        } else {
            key.clone()
        };
        let refuses = |value: Value| {
            let problems = refused(&with(meter_field, key, value));
            assert!(
                problems.iter().any(|p| p.starts_with(&format!("{shown}:"))),
                "{shown}: expected a problem naming it, got {problems:?}"
            );
        };
        match &field.ty {
            Type::List(choices) => {
                for choice in choices {
                    accepted(&with(meter_field, key, json!(choice)));
                }
                refuses(json!("not-a-choice"));
            }
            Type::Int(min, max) => {
                for bound in [min, max].into_iter().flatten() {
                    accepted(&with(meter_field, key, json!(bound)));
                }
                if let Some(min) = min {
                    refuses(json!(min - 1));
                }
                if let Some(max) = max {
                    refuses(json!(max + 1));
                }
            }
            Type::Float(min, max) => {
                for bound in [min, max].into_iter().flatten() {
                    accepted(&with(meter_field, key, json!(bound)));
                }
                if let Some(min) = min {
                    refuses(json!(min - 0.01));
                }
                if let Some(max) = max {
                    refuses(json!(max + 0.01));
                }
            }
            _ => continue,
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} lists and ranges checked");
}

#[test]
fn defaults_fit_their_types_and_only_required_options_have_one() {
    let panel = Panel::read();
    for key in panel.options.keys() {
        assert!(
            panel.option_names().contains(key),
            "options has `{key}`, which the schema lacks"
        );
    }
    for (key, field) in &panel.top {
        match (field.optional, panel.options.get(key)) {
            (true, Some(value)) => {
                panic!("`{key}` is optional (`?`): give it no default (it has {value})")
            }
            (false, None) => {
                panic!("`{key}` is required: the Supervisor refuses to start without a default")
            }
            (false, Some(value)) => assert!(
                conforms(value, &field.ty),
                "the default of `{key}`, {value}, does not fit {:?}",
                field.ty
            ),
            (true, None) => {}
        }
    }
    let meters = panel.options.get("meters").expect("options: meters");
    for meter in meters.as_array().expect("options meters: a list") {
        for (key, value) in object(meter, "options meters[…]") {
            let field = &panel.meter[key];
            assert!(conforms(value, &field.ty), "meters.{key}: {value}");
        }
    }
}

#[test]
fn schema_types_follow_the_supervisor_grammar() {
    let config = addon_config();
    let schema = object(&config["schema"], "schema");
    let mut types = Vec::new();
    for (key, ty) in schema {
        match ty {
            Value::String(t) => types.push((key.clone(), t.clone())),
            Value::Array(items) => {
                assert_eq!(items.len(), 1, "schema {key}: a list of one element");
                for (field, t) in object(&items[0], key) {
                    let t = t
                        .as_str()
                        .unwrap_or_else(|| panic!("schema {key}.{field}: nested too deep"));
                    types.push((format!("{key}.{field}"), t.to_string()));
                }
            }
            other => panic!("schema {key}: unexpected {other}"),
        }
    }
    for (key, ty) in &types {
        if let Err(why) = parse_type(ty) {
            panic!("schema {key}: {why}");
        }
    }
    // The checker itself.
    for good in [
        "bool",
        "str?",
        "str(1,)",
        "password",
        "int(0,2)",
        "float(0,)?",
        "float(0.5,2.5)",
        "url?",
        "port",
        "email",
        r"match(^\d{14}$)",
        "list(a|b)?",
    ] {
        assert!(parse_type(good).is_ok(), "{good}");
    }
    for bad in [
        "string",
        "integer",
        "int(-1,2)",
        "float(a,)",
        "list()",
        "list(a||b)",
        "match()",
        "int(0)",
        "bool??",
    ] {
        assert!(parse_type(bad).is_err(), "{bad}");
    }
}

#[test]
fn secrets_are_password_fields_and_the_pdl_is_fourteen_digits() {
    let panel = Panel::read();
    for (key, field) in &panel.top {
        assert_eq!(
            field.ty == Type::Password,
            ["client_secret", "ha_token", "database_url"].contains(&key.as_str()),
            "`{key}`: only secrets are password fields, and every secret is one"
        );
    }
    for (key, field) in &panel.meter {
        assert_eq!(
            field.ty == Type::Password,
            key == "token",
            "`meters.{key}`: only secrets are password fields, and every secret is one"
        );
    }
    assert_eq!(
        panel.meter["pdl"],
        Field {
            ty: Type::Match(r"^\d{14}$".into()),
            optional: false
        }
    );
    assert_eq!(panel.top["gateway_url"].ty, Type::Url);
}

// ------------------------------------------------------------------------------------------
// The add-on folder and the repository

#[test]
fn config_yaml_follows_the_supervisor_and_linter_rules() {
    let config = addon_config();
    for key in ["name", "version", "slug", "description", "arch"] {
        let value = config
            .get(key)
            .unwrap_or_else(|| panic!("config.yaml: `{key}` is required"));
        assert!(
            value.as_str().is_some_and(|s| !s.trim().is_empty()) || value.is_array(),
            "config.yaml: `{key}` is empty"
        );
    }
    let slug = config["slug"].as_str().unwrap();
    assert_eq!(slug, SLUG);
    assert!(
        slug.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
        "slug {slug:?} must match ^[-_.A-Za-z0-9]+$"
    );
    assert_eq!(
        config["version"].as_str(),
        Some(VERSION),
        "config.yaml version (a string) must be the crate's version"
    );

    let arch: Vec<&str> = config["arch"]
        .as_array()
        .expect("arch: a list")
        .iter()
        .map(|a| a.as_str().expect("arch: names"))
        .collect();
    assert!(!arch.is_empty());
    let distinct: BTreeSet<&str> = arch.iter().copied().collect();
    assert_eq!(distinct.len(), arch.len(), "arch: repeated");
    assert!(
        distinct.is_subset(&BTreeSet::from(["aarch64", "amd64"])),
        "arch {arch:?}: only aarch64 and amd64 are current"
    );

    assert!(!config.contains_key("watchdog"), "`watchdog` is obsolete");
    for key in config.keys() {
        assert!(
            LINTER_KEYS.contains(&key.as_str()),
            "`{key}` is not an add-on config key"
        );
    }
    for (key, default) in linter_defaults() {
        assert_ne!(
            config.get(key),
            Some(&default),
            "`{key}: {default}` is the default: leave it out"
        );
    }

    assert_eq!(
        config.get("init"),
        Some(&json!(false)),
        "s6-overlay v3 base image: init: false"
    );
    let listed = |key: &str, item: &str| {
        config
            .get(key)
            .and_then(Value::as_array)
            .is_some_and(|items| items.iter().any(|i| i == item))
    };
    assert!(listed("services", "mqtt:need"), "services: [mqtt:need]");
    assert!(listed("map", "ssl"), "map: [ssl] for the certificates");

    let owner = REPOSITORY
        .strip_prefix("https://github.com/")
        .and_then(|rest| rest.split('/').next())
        .expect("Cargo.toml repository: a GitHub URL");
    assert_eq!(
        config.get("image").and_then(Value::as_str),
        Some(format!("ghcr.io/{owner}/myelectricaldata-mqtt").as_str()),
        "image: the prebuilt image CI publishes"
    );
    assert_eq!(config.get("url").and_then(Value::as_str), Some(REPOSITORY));
    for retired in ["build.yaml", "build.yml", "build.json"] {
        assert!(
            !path("addon").join(retired).exists(),
            "addon/{retired} is retired: the Dockerfile names its base image"
        );
    }
}

#[test]
fn repository_yaml_points_at_this_repository() {
    let repository = yaml("repository.yaml");
    for key in ["name", "maintainer"] {
        assert!(
            repository[key]
                .as_str()
                .is_some_and(|s| !s.trim().is_empty()),
            "repository.yaml: `{key}`"
        );
    }
    assert_eq!(repository["url"].as_str(), Some(REPOSITORY));
}

#[test]
fn translations_name_and_describe_every_option_in_english_and_french() {
    let panel = Panel::read();
    for language in ["en", "fr"] {
        let file = format!("addon/translations/{language}.yaml");
        let translations = yaml(&file);
        let configuration = object(&translations["configuration"], &file);
        let described = |entry: &Value, what: &str| {
            for part in ["name", "description"] {
                assert!(
                    entry[part].as_str().is_some_and(|s| !s.trim().is_empty()),
                    "{file}: `{what}` has no {part}"
                );
            }
        };
        for key in panel.option_names() {
            let entry = configuration
                .get(&key)
                .unwrap_or_else(|| panic!("{file}: `{key}` is missing"));
            described(entry, &key);
        }
        let fields = object(&configuration["meters"]["fields"], "meters.fields");
        for key in panel.meter_names() {
            let entry = fields
                .get(&key)
                .unwrap_or_else(|| panic!("{file}: `meters.fields.{key}` is missing"));
            described(entry, &format!("meters.{key}"));
        }
        let stale: Vec<_> = configuration
            .keys()
            .filter(|k| !panel.option_names().contains(*k))
            .chain(fields.keys().filter(|k| !panel.meter.contains_key(*k)))
            .collect();
        assert!(stale.is_empty(), "{file}: no such option: {stale:?}");
    }
}

#[test]
fn docs_have_a_section_for_every_option() {
    let docs = read("addon/DOCS.md");
    let headings = |prefix: &str| -> BTreeSet<String> {
        docs.lines()
            .filter_map(|line| line.strip_prefix(prefix))
            .filter_map(|rest| rest.strip_prefix('`')?.strip_suffix('`'))
            .map(str::to_string)
            .collect()
    };
    let panel = Panel::read();
    assert_eq!(
        headings("### Option: "),
        panel.option_names(),
        "addon/DOCS.md: one `### Option: `name`` section per option"
    );
    assert_eq!(
        headings("#### Option: "),
        panel.meter_names(),
        "addon/DOCS.md: one `#### Option: `name`` section per meter field"
    );
}

/// Width and height from a PNG's IHDR chunk.
/// Width and height of a PNG, once its whole image decodes.
fn png_size(relative: &str) -> (u32, u32) {
    let bytes = std::fs::read(path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"));
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap_or_else(|e| panic!("{relative}: not a PNG: {e}"));
    let mut image = vec![
        0;
        reader
            .output_buffer_size()
            .unwrap_or_else(|| panic!("{relative}: image too large"))
    ];
    let frame = reader
        .next_frame(&mut image)
        .unwrap_or_else(|e| panic!("{relative}: the image does not decode: {e}"));
    (frame.width, frame.height)
}

#[test]
fn icon_and_logo_have_the_store_sizes() {
    assert_eq!(png_size("addon/icon.png"), (128, 128));
    let (width, height) = png_size("addon/logo.png");
    assert!(
        (240..=260).contains(&width) && (90..=110).contains(&height),
        "logo.png is {width}x{height}, expected about 250x100"
    );
}

#[test]
fn the_image_is_labelled_for_this_version_and_both_architectures() {
    let dockerfile = read("addon/Dockerfile");
    let lines: Vec<&str> = dockerfile.lines().map(str::trim).collect();
    assert!(
        lines.contains(&format!("ARG BUILD_VERSION={VERSION}").as_str()),
        "addon/Dockerfile: ARG BUILD_VERSION={VERSION} (the version of config.yaml)"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("FROM ghcr.io/home-assistant/base:")),
        "addon/Dockerfile: the runtime is Home Assistant's base image"
    );
    for label in [
        "io.hass.type=\"app\"",
        "io.hass.version=\"${BUILD_VERSION}\"",
    ] {
        assert!(dockerfile.contains(label), "addon/Dockerfile: {label}");
    }
    let config = addon_config();
    for arch in config["arch"].as_array().unwrap() {
        let label = format!("io.hass.arch=\"{}\"", arch.as_str().unwrap());
        assert!(dockerfile.contains(&label), "addon/Dockerfile: {label}");
    }
    let cmd = lines
        .iter()
        .find(|l| l.starts_with("CMD "))
        .expect("addon/Dockerfile: CMD");
    assert!(
        cmd.contains("\"/usr/bin/myelectricaldata-mqtt\", \"run\""),
        "addon/Dockerfile: the CMD runs the daemon: {cmd}"
    );
}

#[test]
fn the_page_is_in_the_sidebar_through_ingress_alone() {
    let config = addon_config();
    assert_eq!(config["ingress"], json!(true), "config.yaml: ingress: true");
    assert_eq!(config["panel_icon"], json!("mdi:flash"));
    assert!(
        config["panel_title"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    // The program listens where the Supervisor's proxy connects by default.
    assert_eq!(myelectricaldata_mqtt::config::INGRESS_PORT, 8099);
    for key in ["ingress_port", "ports", "webui"] {
        assert!(
            !config.contains_key(key),
            "config.yaml: `{key}` (the page goes through ingress only)"
        );
    }
    let dockerfile = read("addon/Dockerfile");
    assert!(
        dockerfile
            .lines()
            .any(|l| l.trim() == "ENV WEB_INGRESS=true"),
        "addon/Dockerfile: ENV WEB_INGRESS=true, or the page is not served"
    );
}

#[test]
fn the_image_build_copies_what_cargo_needs() {
    // The image cannot be built here. Cargo refuses a manifest whose explicit targets are
    // missing, even for targets it does not build: the builder must copy their folders
    // before its first `cargo build`, then the sources and what they embed (sqlx
    // migrations, entity names).
    let dockerfile = read("addon/Dockerfile");
    let manifest = read("Cargo.toml");
    // Byte offset of the first instruction (not comment) line that runs `cargo build`.
    let mut offset = 0;
    let mut first_build = None;
    for line in dockerfile.split_inclusive('\n') {
        if !line.trim_start().starts_with('#') && line.contains("cargo build") {
            first_build = Some(offset);
            break;
        }
        offset += line.len();
    }
    let first_build = first_build.expect("addon/Dockerfile: cargo build");
    let copies = |dir: &str, text: &str| text.contains(&format!("COPY {dir} ./{dir}"));
    for (section, dir) in [
        ("[[bench]]", "benches"),
        ("[[test]]", "tests"),
        ("[[example]]", "examples"),
    ] {
        if manifest.lines().any(|line| line.trim() == section) {
            assert!(
                copies(dir, &dockerfile[..first_build]),
                "Cargo.toml has {section} targets: addon/Dockerfile must `COPY {dir} ./{dir}` \
                 before its first cargo build"
            );
        }
    }
    assert!(
        !path("build.rs").exists() || copies("build.rs", &dockerfile[..first_build]),
        "addon/Dockerfile must copy build.rs"
    );
    for dir in ["src", "migrations", "translations"] {
        assert!(copies(dir, &dockerfile), "addon/Dockerfile must copy {dir}");
    }
}

#[test]
fn apparmor_profile_is_named_after_the_slug() {
    let profile = read("addon/apparmor.txt");
    // The Supervisor renames the one profile that starts a line (supervisor/utils/apparmor.py).
    let names: Vec<&str> = profile
        .lines()
        .filter_map(|line| line.strip_prefix("profile "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert_eq!(names, [SLUG]);
    // The program (the CMD of the Dockerfile) runs in its own profile.
    assert!(
        profile.contains("/usr/bin/myelectricaldata-mqtt cx -> "),
        "addon/apparmor.txt: the program's profile transition"
    );
    for rule in [
        "/data/options.json r,",
        "/data/** rwk,",
        "/ssl/** r,",
        "network inet tcp,",
        "network inet6 tcp,",
    ] {
        assert!(profile.contains(rule), "addon/apparmor.txt: {rule}");
    }
}

#[test]
fn the_addon_changelog_opens_with_this_version() {
    let changelog = read("addon/CHANGELOG.md");
    let first = changelog
        .lines()
        .find(|line| line.starts_with("## "))
        .expect("addon/CHANGELOG.md: a `## version` section");
    assert!(
        first.contains(VERSION),
        "addon/CHANGELOG.md: the first section ({first}) is not {VERSION}"
    );
}

#[test]
fn ci_builds_both_platforms_from_the_repository_root_and_lints_the_addon() {
    let workflow = yaml(".github/workflows/addon.yaml");
    let steps: Vec<&Value> = object(&workflow["jobs"], "jobs")
        .values()
        .filter_map(|job| job["steps"].as_array())
        .flatten()
        .collect();
    let uses = |action: &str| {
        steps
            .iter()
            .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(action)))
            .unwrap_or_else(|| panic!("the workflow has no {action} step"))
    };
    assert_eq!(
        uses("frenck/action-addon-linter@")["with"]["path"],
        json!("./addon")
    );
    let build = &uses("docker/build-push-action@")["with"];
    assert_eq!(build["context"], json!("."));
    assert_eq!(build["file"], json!("addon/Dockerfile"));
    let platforms: BTreeSet<&str> = build["platforms"]
        .as_str()
        .expect("platforms")
        .split(',')
        .map(str::trim)
        .collect();
    let config = addon_config();
    let wanted: BTreeSet<&str> = config["arch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|arch| match arch.as_str() {
            Some("amd64") => "linux/amd64",
            Some("aarch64") => "linux/arm64",
            other => panic!("arch {other:?}"),
        })
        .collect();
    assert_eq!(platforms, wanted);
}
