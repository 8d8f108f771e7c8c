//! RTE data (Tempo colours, EcoWatt signals) and EDF Tempo prices, as each gateway
//! generation shapes them, turned into the shared model.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::admit::{self, Bounded, Dropped, Reason};
use super::enedis::parse_day;
use crate::model::{EcowattDay, TempoColor, TempoDay, TempoPrices};

/// v2 `GET /tempo/days`: `[{"date":"2024-01-15","color":"BLUE",…}]`.
#[derive(Deserialize)]
pub struct V2TempoDay {
    date: String,
    color: Option<String>,
}

pub fn v2_tempo(days: Bounded<V2TempoDay>, dropped: &mut Dropped) -> Vec<TempoDay> {
    let days = days.into_items(dropped).into_iter();
    days.filter_map(|d| tempo_day(&d.date, d.color.as_deref(), dropped))
        .collect()
}

/// v1 `GET /rte/tempo/{start}/{end}`: `{"2024-01-15":"BLUE",…}`; unknown days may be absent,
/// `null` or an unknown word.
pub fn v1_tempo(days: BTreeMap<String, Option<String>>, dropped: &mut Dropped) -> Vec<TempoDay> {
    days.iter()
        .filter_map(|(date, color)| tempo_day(date, color.as_deref(), dropped))
        .collect()
}

/// The words that say "not decided yet" rather than a colour.
const NOT_DECIDED: [&str; 4] = ["", "TBD", "UNKNOWN", "NON_DEFINI"];

/// A day's colour; `null` is "not decided yet" (not an error), an unknown word or an
/// unreadable date is counted in `dropped`.
fn tempo_day(date: &str, color: Option<&str>, dropped: &mut Dropped) -> Option<TempoDay> {
    let Some(day) = parse_day(date) else {
        dropped.add(Reason::UnreadableDate, format!("{date:?}"));
        return None;
    };
    let color = color.filter(|c| !NOT_DECIDED.contains(&c.trim().to_ascii_uppercase().as_str()))?;
    let Some(color) = TempoColor::parse(color) else {
        dropped.add(Reason::UnknownColor, format!("{day} {color:?}"));
        return None;
    };
    Some(TempoDay { date: day, color })
}

/// v2 `GET /ecowatt/forecast`: `[{"periode":"2024-01-15T00:00:00+01:00","dvalue":1,
/// "message":"…","values":[1,1,…],…}]`.
#[derive(Deserialize)]
pub struct V2Ecowatt {
    periode: String,
    dvalue: u8,
    message: Option<String>,
    #[serde(default)]
    values: Vec<u8>,
}

pub fn v2_ecowatt(days: Bounded<V2Ecowatt>, dropped: &mut Dropped) -> Vec<EcowattDay> {
    let days = days.into_items(dropped).into_iter();
    days.filter_map(|d| {
        let day = ecowatt_day(&d.periode, d.dvalue, d.message, d.values, dropped)?;
        Some(day)
    })
    .collect()
}

/// v1 `GET /rte/ecowatt/{start}/{end}`: `{"2024-01-15":{"value":1,"message":"…",
/// "detail":{"2024-01-15 00:00:00":1,…}}}`.
#[derive(Deserialize)]
pub struct V1Ecowatt {
    value: u8,
    message: Option<String>,
    #[serde(default)]
    detail: BTreeMap<String, u8>,
}

pub fn v1_ecowatt(days: BTreeMap<String, V1Ecowatt>, dropped: &mut Dropped) -> Vec<EcowattDay> {
    days.into_iter()
        .filter_map(|(date, d)| {
            // Hours sorted by their timestamp (the map is ordered by text, which is time order).
            let hours = d.detail.values().copied().collect();
            ecowatt_day(&date, d.value, d.message, hours, dropped)
        })
        .collect()
}

/// A day's signal when its date reads and every level is RTE's (a day with one level out of
/// range is not trusted at all); otherwise counted in `dropped`.
fn ecowatt_day(
    date: &str,
    level: u8,
    message: Option<String>,
    hours: Vec<u8>,
    dropped: &mut Dropped,
) -> Option<EcowattDay> {
    let Some(day) = parse_day(date) else {
        dropped.add(Reason::UnreadableDate, format!("{date:?}"));
        return None;
    };
    let signal = EcowattDay {
        date: day,
        level,
        message,
        hours,
    };
    if !admit::ecowatt_levels_valid(&signal) {
        dropped.add(Reason::LevelOutOfRange, format!("{day} level {level}"));
        return None;
    }
    Some(signal)
}

/// v1 `GET /edf/tempo/price`: `{"blue_hc":"0,1325",…}`, numbers as strings with a decimal
/// comma, or numbers.
#[derive(Deserialize)]
pub struct V1TempoPrices {
    blue_hc: Option<serde_json::Value>,
    blue_hp: Option<serde_json::Value>,
    white_hc: Option<serde_json::Value>,
    white_hp: Option<serde_json::Value>,
    red_hc: Option<serde_json::Value>,
    red_hp: Option<serde_json::Value>,
}

fn price(value: Option<&serde_json::Value>) -> Option<f64> {
    let price = match value? {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().replace(',', ".").parse().ok()?,
        _ => return None,
    };
    (0.0..=admit::MAX_PRICE_EUR_PER_KWH)
        .contains(&price)
        .then_some(price)
}

pub fn v1_tempo_prices(p: V1TempoPrices) -> TempoPrices {
    TempoPrices {
        blue_hc: price(p.blue_hc.as_ref()),
        blue_hp: price(p.blue_hp.as_ref()),
        white_hc: price(p.white_hc.as_ref()),
        white_hp: price(p.white_hp.as_ref()),
        red_hc: price(p.red_hc.as_ref()),
        red_hp: price(p.red_hp.as_ref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_tempo_prices_outside_what_a_kwh_costs_are_unknown() {
        let json = r#"{"blue_hc":"0,1296","blue_hp":1e308,"white_hc":-0.1,"white_hp":"NaN","red_hc":0.1568,"red_hp":"x"}"#;
        let prices = v1_tempo_prices(serde_json::from_str(json).unwrap());
        assert_eq!(prices.blue_hc, Some(0.1296));
        assert_eq!(prices.red_hc, Some(0.1568));
        let refused = [
            prices.blue_hp,
            prices.white_hc,
            prices.white_hp,
            prices.red_hp,
        ];
        assert_eq!(refused, [None; 4]);
    }

    #[test]
    fn v1_tempo_skips_unknown_days() {
        let json =
            r#"{"2024-01-15":"BLUE","2024-01-16":"white","2024-01-17":null,"2024-01-18":"TBD"}"#;
        let days = v1_tempo(serde_json::from_str(json).unwrap(), &mut Dropped::default());
        assert_eq!(days.len(), 2);
        assert_eq!(days[1].color, TempoColor::White);
    }

    #[test]
    fn v2_tempo_and_ecowatt_shapes() {
        let tempo =
            r#"[{"date":"2024-01-15","color":"RED","updated_at":"x","rte_updated_date":"y"}]"#;
        assert_eq!(
            v2_tempo(
                serde_json::from_str(tempo).unwrap(),
                &mut Dropped::default()
            )[0]
            .color,
            TempoColor::Red
        );
        let ecowatt = r#"[{"periode":"2024-01-15T00:00:00+01:00","dvalue":2,"message":"Mode écogeste","values":[1,1,1,1,1,1,1,2,2,2,1,1,1,1,1,1,1,2,2,2,1,1,1,1],"hdebut":0,"hfin":23,"generation_datetime":"x"}]"#;
        let day = &v2_ecowatt(
            serde_json::from_str(ecowatt).unwrap(),
            &mut Dropped::default(),
        )[0];
        assert_eq!(
            (day.date.to_string().as_str(), day.level, day.hours.len()),
            ("2024-01-15", 2, 24)
        );
    }

    #[test]
    fn v1_ecowatt_orders_hours_by_time() {
        let json = r#"{"2024-01-15":{"value":1,"message":"Pas d'alerte.","detail":{"2024-01-15 01:00:00":2,"2024-01-15 00:00:00":1}}}"#;
        let day = &v1_ecowatt(serde_json::from_str(json).unwrap(), &mut Dropped::default())[0];
        assert_eq!(day.hours, vec![1, 2]);
    }

    #[test]
    fn v1_prices_accept_decimal_commas() {
        let json = r#"{"blue_hc":"0,1325","blue_hp":"0,1612","white_hc":0.1499,"white_hp":"0.1871","red_hc":"x"}"#;
        let prices = v1_tempo_prices(serde_json::from_str(json).unwrap());
        assert_eq!(
            (
                prices.blue_hc,
                prices.blue_hp,
                prices.white_hc,
                prices.white_hp
            ),
            (Some(0.1325), Some(0.1612), Some(0.1499), Some(0.1871))
        );
        assert_eq!((prices.red_hc, prices.red_hp), (None, None));
    }
}
