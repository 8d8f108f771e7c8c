//! The Enedis Data Connect payloads, which both gateway generations pass through unchanged:
//! `meter_reading` (daily energy, max power, load curve) and the contract.

use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::admit::{self, Bounded, Dropped, Reason};

use crate::model::{Contract, DailyReading, DailySeries, LoadCurvePoint, MaxPowerReading};

/// `{"meter_reading": {…}}`.
#[derive(Deserialize)]
pub struct MeterReadingData {
    pub meter_reading: MeterReading,
}

#[derive(Deserialize)]
pub struct MeterReading {
    quality: Option<String>,
    /// Bounded: a broken answer with millions of items cannot take memory in proportion.
    #[serde(default)]
    interval_reading: Bounded<IntervalReading>,
}

/// One point; a point without a readable value or date is refused alone (counted), not the
/// whole answer.
#[derive(Deserialize)]
struct IntervalReading {
    #[serde(default)]
    value: NumberOrText,
    #[serde(default)]
    date: String,
    interval_length: Option<String>,
}

/// Enedis sends numbers as strings; some gateways as numbers.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(f64),
    Text(String),
    /// Missing, `null`, or any other JSON value: unreadable.
    Other(IgnoredAny),
}

impl Default for NumberOrText {
    fn default() -> Self {
        NumberOrText::Other(IgnoredAny)
    }
}

impl NumberOrText {
    /// The number, `None` when unreadable or not finite (`NaN`, `inf`).
    fn value(&self) -> Option<f64> {
        match self {
            NumberOrText::Number(n) => Some(*n),
            NumberOrText::Text(t) => t.trim().replace(',', ".").parse().ok(),
            NumberOrText::Other(_) => None,
        }
        .filter(|v: &f64| v.is_finite())
    }
}

impl fmt::Display for NumberOrText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumberOrText::Number(n) => write!(f, "{n}"),
            NumberOrText::Text(t) => write!(f, "{t:?}"),
            NumberOrText::Other(_) => f.write_str("no number"),
        }
    }
}

impl IntervalReading {
    /// `what` of the point's value per [`admit`]; a refusal is counted with the point's date
    /// and value.
    fn checked<T>(
        &self,
        check: impl Fn(Option<f64>) -> Result<T, Reason>,
        dropped: &mut Dropped,
    ) -> Option<T> {
        check(self.value.value())
            .map_err(|reason| dropped.add(reason, format!("{} {}", self.date, self.value)))
            .ok()
    }

    fn date_or_count<T>(&self, parse: fn(&str) -> Option<T>, dropped: &mut Dropped) -> Option<T> {
        let date = parse(&self.date);
        if date.is_none() {
            dropped.add(Reason::UnreadableDate, format!("{:?}", self.date));
        }
        date
    }
}

impl MeterReading {
    /// Daily energy in Wh per day (whatever `reading_type` says: the route decides).
    /// Unreadable or implausible points are refused (counted in `dropped`): they stay "not yet".
    pub fn into_daily(self, dropped: &mut Dropped) -> DailySeries {
        let readings = self
            .interval_reading
            .into_items(dropped)
            .iter()
            .filter_map(|point| {
                let date = point.date_or_count(parse_day, dropped)?;
                let wh = point.checked(admit::daily_wh, dropped)?;
                Some(DailyReading { date, wh })
            })
            .collect();
        DailySeries {
            quality: self.quality,
            readings,
        }
    }

    /// Daily maximum power in VA, with the moment of the peak when the date carries it.
    pub fn into_max_power(self, dropped: &mut Dropped) -> Vec<MaxPowerReading> {
        self.interval_reading
            .into_items(dropped)
            .iter()
            .filter_map(|point| {
                Some(MaxPowerReading {
                    date: point.date_or_count(parse_day, dropped)?,
                    va: point.checked(admit::max_power_va, dropped)?,
                    at: parse_naive_datetime(&point.date),
                })
            })
            .collect()
    }

    /// Load curve points: average W over the interval that ENDS at `date` (naive Paris time),
    /// of a length Enedis uses.
    pub fn into_load_curve(self, dropped: &mut Dropped) -> Vec<LoadCurvePoint> {
        self.interval_reading
            .into_items(dropped)
            .iter()
            .filter_map(|point| {
                let end = point.date_or_count(parse_naive_datetime, dropped)?;
                let watts = point.checked(admit::curve_watts, dropped)?;
                let stated = point.interval_length.as_deref();
                let minutes = admit::curve_interval(
                    stated.and_then(parse_interval_minutes),
                    stated.is_some(),
                )
                .map_err(|reason| dropped.add(reason, format!("{} {stated:?}", point.date)))
                .ok()?;
                Some(LoadCurvePoint {
                    end,
                    watts,
                    interval_minutes: minutes,
                })
            })
            .collect()
    }
}

/// `PT30M` → 30, `PT1H`/`PT60M` → 60.
pub fn parse_interval_minutes(text: &str) -> Option<u32> {
    let rest = text.trim().strip_prefix("PT")?;
    if let Some(minutes) = rest.strip_suffix('M') {
        minutes.parse().ok().filter(|m| *m > 0)
    } else {
        rest.strip_suffix('H')?
            .parse::<u32>()
            .ok()
            .and_then(|h| h.checked_mul(60))
            .filter(|m| *m > 0)
    }
}

/// `2024-01-15`, `2024-01-15T…` or `2015-05-24+02:00` → the day.
pub fn parse_day(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()
}

/// `2024-01-01 19:42:10` or `2024-01-01T19:42:10` → a naive wall-clock time.
pub fn parse_naive_datetime(text: &str) -> Option<NaiveDateTime> {
    let text = text.get(..19)?.replacen('T', " ", 1);
    NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S").ok()
}

/// `{"customer": {"usage_points": [{"usage_point": …, "contracts": …}]}}`.
#[derive(Deserialize)]
pub struct ContractData {
    customer: Customer,
}

#[derive(Deserialize)]
struct Customer {
    #[serde(default)]
    usage_points: Vec<UsagePoint>,
}

#[derive(Deserialize)]
struct UsagePoint {
    contracts: Option<ContractFields>,
}

#[derive(Deserialize)]
struct ContractFields {
    subscribed_power: Option<String>,
    distribution_tariff: Option<String>,
    offpeak_hours: Option<String>,
    last_activation_date: Option<String>,
    contract_status: Option<String>,
}

impl ContractData {
    /// The contract, or `None` when the answer holds no usage point with a contract (an
    /// empty answer must not erase the contract we know).
    pub fn into_contract(self) -> Option<Contract> {
        let fields = self
            .customer
            .usage_points
            .into_iter()
            .find_map(|p| p.contracts)?;
        Some(Contract {
            subscribed_kva: fields.subscribed_power.as_deref().and_then(parse_kva),
            distribution_tariff: fields.distribution_tariff,
            offpeak_hours: fields.offpeak_hours.filter(|h| !h.trim().is_empty()),
            activation_date: fields.last_activation_date.as_deref().and_then(parse_day),
            status: fields.contract_status,
        })
    }
}

/// `"9 kVA"` → 9.
fn parse_kva(text: &str) -> Option<u32> {
    let number = text
        .trim()
        .trim_end_matches(|c: char| c.is_alphabetic())
        .trim();
    let kva: f64 = number.replace(',', ".").parse().ok()?;
    (kva.is_finite() && kva > 0.0).then(|| kva.round() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(json: &str) -> MeterReading {
        serde_json::from_str::<MeterReadingData>(json)
            .unwrap()
            .meter_reading
    }

    #[test]
    fn daily_values_are_wh_strings_and_bad_points_are_dropped() {
        let daily = reading(r#"{"meter_reading":{"quality":"BRUT","reading_type":{"unit":"W"},"interval_reading":[{"value":"15230","date":"2024-01-01"},{"value":"n/a","date":"2024-01-02"},{"value":14810,"date":"2024-01-03"}]}}"#).into_daily(&mut Dropped::default());
        assert_eq!(daily.quality.as_deref(), Some("BRUT"));
        assert_eq!(
            daily.readings.iter().map(|r| r.wh).collect::<Vec<_>>(),
            vec![15230, 14810]
        );
    }

    #[test]
    fn a_point_without_value_or_date_is_refused_alone() {
        let mut dropped = Dropped::default();
        let daily = reading(r#"{"meter_reading":{"interval_reading":[{"date":"2024-01-01"},{"value":null,"date":"2024-01-02"},{"value":{"wh":1},"date":"2024-01-03"},{"value":"9"},{"value":"15230","date":"2024-01-05"}]}}"#).into_daily(&mut dropped);
        assert_eq!(daily.readings.len(), 1);
        assert_eq!(daily.readings[0].wh, 15230);
        let report = dropped.to_string();
        assert!(report.contains("4 items refused"), "{report}");
        assert!(report.contains("3 unreadable value"), "{report}");
        assert!(report.contains("1 unreadable date"), "{report}");
    }

    #[test]
    fn max_power_keeps_the_moment_of_the_peak() {
        let peaks = reading(r#"{"meter_reading":{"interval_reading":[{"value":"6120","date":"2024-01-01 19:42:10"}]}}"#).into_max_power(&mut Dropped::default());
        assert_eq!(peaks[0].va, 6120);
        assert_eq!(peaks[0].date, parse_day("2024-01-01").unwrap());
        assert_eq!(peaks[0].at, parse_naive_datetime("2024-01-01 19:42:10"));
    }

    #[test]
    fn load_curve_points_carry_their_interval() {
        let points = reading(r#"{"meter_reading":{"interval_reading":[{"value":"1344","date":"2024-01-01 00:30:00","interval_length":"PT30M","measure_type":"B"},{"value":"500","date":"2024-01-01 01:00:00","interval_length":"PT1H"},{"value":"10","date":"2024-01-01 01:10:00","interval_length":"PT10M"}]}}"#).into_load_curve(&mut Dropped::default());
        assert_eq!(
            points
                .iter()
                .map(|p| p.interval_minutes)
                .collect::<Vec<_>>(),
            vec![30, 60, 10]
        );
        assert_eq!(points[0].watts, 1344);
        assert_eq!(
            points[0].end,
            parse_naive_datetime("2024-01-01 00:30:00").unwrap()
        );
    }

    #[test]
    fn contract_fields_are_read_from_the_first_usage_point() {
        let json = r#"{"customer":{"usage_points":[{"usage_point":{"usage_point_id":"12345678901234","usage_point_status":"com","meter_type":"AMM"},"contracts":{"segment":"C5","subscribed_power":"9 kVA","distribution_tariff":"BTINFCUST","offpeak_hours":"HC (22H00-6H00)","last_activation_date":"2015-05-24+02:00","contract_status":"SERVC"}}]}}"#;
        let contract = serde_json::from_str::<ContractData>(json)
            .unwrap()
            .into_contract()
            .unwrap();
        assert_eq!(contract.subscribed_kva, Some(9));
        assert_eq!(contract.offpeak_hours.as_deref(), Some("HC (22H00-6H00)"));
        assert_eq!(contract.activation_date, parse_day("2015-05-24"));
        assert_eq!(contract.distribution_tariff.as_deref(), Some("BTINFCUST"));
    }

    #[test]
    fn interval_lengths() {
        assert_eq!(parse_interval_minutes("PT15M"), Some(15));
        assert_eq!(parse_interval_minutes("PT60M"), Some(60));
        assert_eq!(parse_interval_minutes("PT1H"), Some(60));
        assert_eq!(parse_interval_minutes("P1D"), None);
    }
}
