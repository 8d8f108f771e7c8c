//! Size limits on what the configuration may hold: an options file a few kilobytes long in
//! practice, and strings a panel field or a variable would hold. A value over its limit is a
//! problem named by its key, and is dropped before validation so that no later line repeats
//! a megabyte of it.

use figment::value::{Dict, Value};

/// The options file: the Supervisor writes a few kilobytes.
pub const MAX_OPTIONS_FILE_BYTES: u64 = 1024 * 1024;

/// The longest text `key` may hold, in characters.
pub fn max_chars(key: &str) -> usize {
    match key {
        // A device name and a topic prefix end up in every topic and entity of the meter.
        "name" => 64,
        "mqtt_topic_prefix" | "mqtt_ha_discovery_prefix" => 128,
        "gateway" | "language" | "log_level" | "tariff" | "pdl" => 32,
        "offpeak_hours" => 256,
        "gateway_url" | "mqtt_broker" | "ha_url" | "supervisor_api" | "database_url" => 2048,
        // Tokens, secrets, paths, prices and flags.
        _ => 4096,
    }
}

/// A value the user gave, as a problem line quotes it: one line, cut after 60 characters
/// (`…` marks the cut), so a problem stays a readable line whatever was typed.
pub fn quoted(text: &str) -> String {
    format!("{:?}{}", cut(text, 60), ellipsis(text, 60))
}

/// A key as a line names it: control characters escaped, cut after 40 characters. Keys
/// come from the file too; an unknown one is named in a warning.
pub fn key_name(key: &str) -> String {
    let escaped: String = cut(key, 40).chars().flat_map(char::escape_debug).collect();
    format!("{escaped}{}", ellipsis(key, 40))
}

/// The first `max_chars` characters of `text`.
fn cut(text: &str, max_chars: usize) -> &str {
    text.char_indices()
        .nth(max_chars)
        .map_or(text, |(end, _)| &text[..end])
}

/// `…` when [`cut`] leaves something out.
fn ellipsis(text: &str, max_chars: usize) -> &'static str {
    if text.chars().nth(max_chars).is_some() {
        "…"
    } else {
        ""
    }
}

/// Reports and removes every string of `dict` longer than its key allows.
pub fn drop_oversized(dict: &mut Dict, problems: &mut Vec<String>) {
    visit_dict(dict, "", problems);
}

fn visit_dict(dict: &mut Dict, at: &str, problems: &mut Vec<String>) {
    dict.retain(|key, value| {
        let path = match at {
            "" => key_name(key),
            _ => format!("{at}.{}", key_name(key)),
        };
        visit(value, key, &path, problems)
    });
}

/// `false` when `value` is a string too long for `key` (then reported at `path`).
fn visit(value: &mut Value, key: &str, path: &str, problems: &mut Vec<String>) -> bool {
    match value {
        Value::String(_, text) => {
            let (chars, max) = (text.chars().count(), max_chars(key));
            if chars > max {
                // Nested unknown keys make a path as long as the nesting is deep.
                let (shown, more) = (cut(path, 120), ellipsis(path, 120));
                problems.push(format!(
                    "{shown}{more}: at most {max} characters, got {chars}"
                ));
            }
            chars <= max
        }
        Value::Dict(_, dict) => {
            visit_dict(dict, path, problems);
            true
        }
        Value::Array(_, items) => {
            for (i, item) in items.iter_mut().enumerate() {
                if let Value::Dict(_, dict) = item {
                    visit_dict(dict, &format!("{path}[{i}]"), problems);
                }
            }
            true
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_named_on_one_short_line_however_odd_or_deep() {
        let mut json = serde_json::json!({"pdl": "1".repeat(40)});
        for _ in 0..100 {
            json = serde_json::json!({ "k\r\ney".repeat(20): json });
        }
        let mut dict: Dict = serde_json::from_value(json).unwrap();
        let mut problems = Vec::new();
        drop_oversized(&mut dict, &mut problems);
        assert_eq!(problems.len(), 1);
        let problem = &problems[0];
        assert!(problem.starts_with("k\\r\\neyk"), "{problem}");
        assert!(
            problem.ends_with("…: at most 32 characters, got 40"),
            "{problem}"
        );
        assert!(
            !problem.contains(['\r', '\n']) && problem.len() < 200,
            "{problem}"
        );
        assert_eq!(key_name("a\u{7}b"), "a\\u{7}b");
    }

    #[test]
    fn long_strings_are_named_and_dropped_short_ones_kept() {
        let json = serde_json::json!({
            "ha_token": "t".repeat(5000),
            "mqtt_topic_prefix": "home/energy",
            "meters": [{"pdl": "12345678901234", "name": "n".repeat(100_000)}],
        });
        let mut dict: Dict = serde_json::from_value(json).unwrap();
        let mut problems = Vec::new();
        drop_oversized(&mut dict, &mut problems);
        assert_eq!(
            problems,
            [
                "ha_token: at most 4096 characters, got 5000",
                "meters[0].name: at most 64 characters, got 100000"
            ]
        );
        assert!(!dict.contains_key("ha_token"));
        assert!(dict.contains_key("mqtt_topic_prefix"));
        let Some(Value::Array(_, meters)) = dict.get("meters") else {
            panic!("meters kept")
        };
        let Value::Dict(_, meter) = &meters[0] else {
            panic!("a meter")
        };
        assert!(meter.contains_key("pdl") && !meter.contains_key("name"));
    }
}
