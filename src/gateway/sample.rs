//! Built-in sample data for `demo`: a plausible Linky meter, computed, not downloaded.

use chrono::{Datelike, NaiveDate};

use super::model::{DailyReading, DailySeries, MeterInfo, SeriesKind};
use crate::config::Pdl;

/// The demo meter's PDL (not a real usage point).
pub const SAMPLE_PDL: &str = "01234567890123";

pub struct SampleGateway {
    pdl: Pdl,
    activation: NaiveDate,
}

impl SampleGateway {
    pub fn new(activation: NaiveDate) -> Self {
        Self {
            pdl: Pdl::parse(SAMPLE_PDL)
                .unwrap_or_else(|| unreachable!("the sample PDL is 14 digits")),
            activation,
        }
    }

    pub fn pdl(&self) -> &Pdl {
        &self.pdl
    }

    pub fn meters(&self) -> Vec<MeterInfo> {
        vec![MeterInfo {
            pdl: self.pdl.clone(),
            activation_date: Some(self.activation),
            oldest_available_date: None,
        }]
    }

    /// Every day of `[start, end)` from the activation on: more in winter, more at weekends.
    pub fn daily(
        &self,
        kind: SeriesKind,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
    ) -> DailySeries {
        if pdl != &self.pdl || kind != SeriesKind::Consumption {
            return DailySeries::default();
        }
        let readings = start
            .iter_days()
            .take_while(|day| *day < end)
            .filter(|day| *day >= self.activation)
            .map(|date| DailyReading {
                date,
                wh: sample_wh(date),
            })
            .collect();
        DailySeries {
            quality: Some("BRUT".into()),
            readings,
        }
    }
}

fn sample_wh(date: NaiveDate) -> i64 {
    let day_of_year = f64::from(date.ordinal0());
    let winter = (day_of_year / 365.0 * std::f64::consts::TAU).cos(); // 1 in January, -1 in July
    let weekend = if date.weekday().number_from_monday() >= 6 {
        2_500.0
    } else {
        0.0
    };
    let wobble = (i64::from(date.num_days_from_ce()) * 7919 % 1_000) as f64;
    (11_000.0 + 5_000.0 * winter + weekend + wobble).round() as i64
}
