//! Built-in sample data for `demo`: a plausible Linky meter, computed, not downloaded.

use chrono::{Datelike, Duration, NaiveDate, NaiveTime};

use crate::model::{
    Contract, DailyReading, DailySeries, EcowattDay, LoadCurvePoint, MaxPowerReading, MeterInfo,
    Pdl, SeriesKind, TempoColor, TempoDay,
};

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

    /// Every day of `[start, end)` from the activation on: consumption more in winter and at
    /// weekends, production (a few solar panels) more in summer.
    pub fn daily(
        &self,
        kind: SeriesKind,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
    ) -> DailySeries {
        if pdl != &self.pdl {
            return DailySeries::default();
        }
        let wh = match kind {
            SeriesKind::Consumption => sample_wh,
            SeriesKind::Production => sample_production_wh,
        };
        let readings = start
            .iter_days()
            .take_while(|day| *day < end)
            .filter(|day| *day >= self.activation)
            .map(|date| DailyReading { date, wh: wh(date) })
            .collect();
        DailySeries {
            quality: Some("BRUT".into()),
            readings,
        }
    }

    /// One peak a day, in the evening.
    pub fn max_power(&self, pdl: &Pdl, start: NaiveDate, end: NaiveDate) -> Vec<MaxPowerReading> {
        self.days(pdl, start, end)
            .map(|date| MaxPowerReading {
                date,
                va: 2_500 + sample_wh(date) % 4_000,
                at: date.and_hms_opt(19, date.day() * 7 % 60, 10),
            })
            .collect()
    }

    /// Half-hourly points whose energy adds up to about the day's total, more in the evening.
    pub fn load_curve(
        &self,
        kind: SeriesKind,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Vec<LoadCurvePoint> {
        if kind != SeriesKind::Consumption {
            return Vec::new();
        }
        let weight = |slot: u32| {
            if (36..46).contains(&slot) {
                3
            } else if slot < 12 {
                1
            } else {
                2
            }
        };
        let total_weight: u32 = (0..48).map(weight).sum();
        self.days(pdl, start, end)
            .flat_map(|date| {
                let wh = sample_wh(date);
                (0..48).map(move |slot| {
                    let begin =
                        date.and_time(NaiveTime::MIN) + Duration::minutes(30 * i64::from(slot));
                    let energy = wh * i64::from(weight(slot)) / i64::from(total_weight);
                    LoadCurvePoint {
                        end: begin + Duration::minutes(30),
                        watts: energy * 2,
                        interval_minutes: 30,
                    }
                })
            })
            .collect()
    }

    pub fn contract(&self) -> Contract {
        Contract {
            subscribed_kva: Some(9),
            distribution_tariff: Some("BTINFMUDT".into()),
            offpeak_hours: Some("HC (22H00-6H00)".into()),
            activation_date: Some(self.activation),
            status: Some("SERVC".into()),
        }
    }

    fn days(
        &self,
        pdl: &Pdl,
        start: NaiveDate,
        end: NaiveDate,
    ) -> impl Iterator<Item = NaiveDate> + use<> {
        let activation = self.activation;
        let known = pdl == &self.pdl;
        start
            .iter_days()
            .take_while(move |day| known && *day < end)
            .filter(move |day| *day >= activation)
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

fn sample_production_wh(date: NaiveDate) -> i64 {
    let day_of_year = f64::from(date.ordinal0());
    let summer = -(day_of_year / 365.0 * std::f64::consts::TAU).cos(); // 1 in July
    let clouds = (i64::from(date.num_days_from_ce()) * 4391 % 3_000) as f64;
    (9_000.0 + 6_000.0 * summer - clouds).max(0.0).round() as i64
}

/// A plausible Tempo calendar: red and white days on winter weekdays, blue otherwise.
pub fn tempo(start: NaiveDate, end: NaiveDate) -> Vec<TempoDay> {
    start
        .iter_days()
        .take_while(|day| *day < end)
        .map(|date| {
            let winter = matches!(date.month(), 11 | 12 | 1 | 2 | 3);
            let weekday = date.weekday().number_from_monday() <= 5;
            let color = match date.ordinal() % 7 {
                0 if winter && weekday => TempoColor::Red,
                3 | 5 if winter && weekday => TempoColor::White,
                _ => TempoColor::Blue,
            };
            TempoDay { date, color }
        })
        .collect()
}

/// Green all day, orange in the evening peak of winter weekdays.
pub fn ecowatt(today: NaiveDate) -> Vec<EcowattDay> {
    [today, today.succ_opt().unwrap_or(today)]
        .into_iter()
        .map(|date| {
            let tense = matches!(date.month(), 12 | 1) && date.weekday().number_from_monday() <= 5;
            let hours: Vec<u8> = (0..24u8)
                .map(|h| if tense && (18..20).contains(&h) { 2 } else { 1 })
                .collect();
            let level = hours.iter().copied().max().unwrap_or(1);
            let message = if level > 1 {
                "Tensions sur le système électrique"
            } else {
                "Pas d'alerte."
            };
            EcowattDay {
                date,
                level,
                message: Some(message.into()),
                hours,
            }
        })
        .collect()
}
