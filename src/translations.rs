//! User-facing strings from `translations/{fr,en}.json` (entity and statistic names), embedded
//! at build time.

use std::sync::OnceLock;

use serde_json::Value;

use crate::config::Language;

const FR: &str = include_str!("../translations/fr.json");
const EN: &str = include_str!("../translations/en.json");

fn table(language: Language) -> &'static Value {
    static TABLES: OnceLock<[Value; 2]> = OnceLock::new();
    let tables = TABLES.get_or_init(|| {
        // The files are checked by the tests (valid JSON, every key present); a broken file
        // degrades to keys as names rather than a crash.
        [
            serde_json::from_str(FR).unwrap_or(Value::Null),
            serde_json::from_str(EN).unwrap_or(Value::Null),
        ]
    });
    match language {
        Language::Fr => &tables[0],
        Language::En => &tables[1],
    }
}

/// The name of an entity (`entities.{key}`), or `None` when the file lacks it.
pub fn entity_name(language: Language, key: &str) -> Option<&'static str> {
    table(language).get("entities")?.get(key)?.as_str()
}

/// The name of a statistic (`statistics.{key}`), or `None` when the file lacks it.
pub fn statistic_name(language: Language, key: &str) -> Option<&'static str> {
    table(language).get("statistics")?.get(key)?.as_str()
}
