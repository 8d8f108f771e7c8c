//! The statistics as Home Assistant knows them: their ids, names and units, the metadata
//! each release accepts, and the messages that import rows.

use serde_json::{Value, json};

use super::rows::StatisticRow;
use crate::calendar::format_offset;
use crate::config::Language;
use crate::model::Pdl;
use crate::translations;

/// The source of every statistic: the domain of its id (`myelectricaldata_mqtt:…`).
pub const SOURCE: &str = "myelectricaldata_mqtt";

/// Rows per import message: about 150 KB, far below Home Assistant's 4 MiB limit.
pub const ROWS_PER_MESSAGE: usize = 2_000;

/// The statistics of a meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatisticKind {
    Consumption,
    Production,
    /// What the consumption cost (the Energy dashboard's "cost" of an external statistic).
    ConsumptionCost,
}

impl StatisticKind {
    /// The end of the statistic id, and the key of its name in `translations/`.
    pub fn key(self) -> &'static str {
        match self {
            StatisticKind::Consumption => "consumption",
            StatisticKind::Production => "production",
            StatisticKind::ConsumptionCost => "consumption_cost",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            StatisticKind::Consumption | StatisticKind::Production => "kWh",
            StatisticKind::ConsumptionCost => "EUR",
        }
    }

    /// The unit class of the releases that have one (money has none).
    fn unit_class(self) -> Option<&'static str> {
        match self {
            StatisticKind::Consumption | StatisticKind::Production => Some("energy"),
            StatisticKind::ConsumptionCost => None,
        }
    }
}

/// `myelectricaldata_mqtt:12345678901234_consumption`.
pub fn statistic_id(pdl: &Pdl, kind: StatisticKind) -> String {
    format!("{SOURCE}:{pdl}_{}", kind.key())
}

/// `MyElectricalData - Maison consommation`: the device's name and the statistic's.
pub fn statistic_name(meter_name: &str, kind: StatisticKind, language: Language) -> String {
    let name = translations::statistic_name(language, kind.key()).unwrap_or(kind.key());
    format!("MyElectricalData - {meter_name} {name}")
}

/// A Home Assistant release, as `auth_ok` announces it (`2025.4.4`, `2026.11.0b1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HaVersion {
    pub year: u32,
    pub month: u32,
}

impl HaVersion {
    /// From 2025.11 the metadata names a mean type and a unit class (required from 2026.11).
    pub const MEAN_TYPE: HaVersion = HaVersion {
        year: 2025,
        month: 11,
    };

    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.');
        let year = parts.next()?.parse().ok()?;
        let month = parts.next()?.parse().ok()?;
        Some(Self { year, month })
    }
}

/// The metadata `recorder/import_statistics` takes, in the form the release accepts: before
/// 2025.11 exactly six keys (the schema refuses any other); from it (and for a version that
/// does not parse) `mean_type` and `unit_class` instead of `has_mean`.
pub fn metadata(id: &str, name: &str, kind: StatisticKind, version: Option<HaVersion>) -> Value {
    let common = json!({
        "has_sum": true,
        "name": name,
        "source": SOURCE,
        "statistic_id": id,
        "unit_of_measurement": kind.unit(),
    });
    let extra = match version {
        Some(v) if v < HaVersion::MEAN_TYPE => json!({ "has_mean": false }),
        _ => json!({ "mean_type": 0, "unit_class": kind.unit_class() }),
    };
    let (Value::Object(mut map), Value::Object(extra)) = (common, extra) else {
        unreachable!("json! of an object literal is an object")
    };
    map.extend(extra);
    Value::Object(map)
}

/// One `recorder/import_statistics` command (its id is the connection's to give): `rows` (a
/// chunk) of the statistic `metadata`.
pub fn import_message(metadata: &Value, rows: &[StatisticRow]) -> Value {
    let stats: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "start": format_offset(row.start.fixed_offset()),
                "state": round(row.state),
                "sum": round(row.sum),
            })
        })
        .collect();
    json!({
        "type": "recorder/import_statistics",
        "metadata": metadata,
        "stats": stats,
    })
}

/// Six decimals: Wh precision for kWh, far below a cent for money, and no float noise.
fn round(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdl() -> Pdl {
        Pdl::parse("12345678901234").unwrap()
    }

    #[test]
    fn ids_names_and_units() {
        let id = statistic_id(&pdl(), StatisticKind::ConsumptionCost);
        assert_eq!(id, "myelectricaldata_mqtt:12345678901234_consumption_cost");
        let name = statistic_name("Maison", StatisticKind::Consumption, Language::Fr);
        assert_eq!(name, "MyElectricalData - Maison consommation");
        let name = statistic_name("Home", StatisticKind::ConsumptionCost, Language::En);
        assert_eq!(name, "MyElectricalData - Home consumption cost");
        assert_eq!(StatisticKind::Production.unit(), "kWh");
    }

    #[test]
    fn versions_parse_from_auth_ok() {
        let v = |y, m| Some(HaVersion { year: y, month: m });
        assert_eq!(HaVersion::parse("2025.4.4"), v(2025, 4));
        assert_eq!(HaVersion::parse("2026.11.0b1"), v(2026, 11));
        assert_eq!(HaVersion::parse("dev"), None);
        assert!(v(2025, 10) < Some(HaVersion::MEAN_TYPE));
        assert!(v(2026, 1) > Some(HaVersion::MEAN_TYPE));
    }

    #[test]
    fn releases_before_2025_11_get_exactly_the_six_legacy_keys() {
        let id = statistic_id(&pdl(), StatisticKind::Consumption);
        let old = metadata(
            &id,
            "n",
            StatisticKind::Consumption,
            HaVersion::parse("2025.4.4"),
        );
        let keys: Vec<&str> = old
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "has_mean",
                "has_sum",
                "name",
                "source",
                "statistic_id",
                "unit_of_measurement"
            ]
        );
        assert_eq!(old["has_mean"], json!(false));
        for version in [
            HaVersion::parse("2025.11.0"),
            HaVersion::parse("2026.11.1"),
            None,
        ] {
            let new = metadata(&id, "n", StatisticKind::Consumption, version);
            assert_eq!(new.get("has_mean"), None);
            assert_eq!(
                (&new["mean_type"], &new["unit_class"]),
                (&json!(0), &json!("energy"))
            );
        }
        let cost = metadata(&id, "n", StatisticKind::ConsumptionCost, None);
        assert_eq!(
            (&cost["unit_class"], &cost["unit_of_measurement"]),
            (&Value::Null, &json!("EUR"))
        );
    }

    #[test]
    fn an_import_message_carries_aware_hour_starts() {
        let row = StatisticRow {
            start: "2024-01-15T23:00:00Z".parse().unwrap(),
            state: 0.1 + 0.2,
            sum: 1_234.567_890_4,
        };
        let meta = json!({});
        let message = import_message(&meta, &[row]);
        assert_eq!(message["type"], json!("recorder/import_statistics"));
        assert_eq!(
            message["stats"][0],
            json!({"start": "2024-01-15T23:00:00+00:00", "state": 0.3, "sum": 1234.56789})
        );
    }
}
