//! What the consumption of a slot cost, by the tariff rules of [`crate::tariffs`]: each
//! load-curve interval at the price in force at its start (HC/HP, the Tempo day from 06:00 and
//! its 22:00–06:00 off-peak hours); a whole day only where the price does not depend on the
//! hour (BASE). A slot with a price missing has no cost (an estimate in the history could
//! never be corrected: a day is imported once).

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::rows::Slot;
use crate::model::{Prices, Tariff, TempoColor, TempoPrices, TimeRange};
use crate::tariffs::price_at_local;

/// What prices a meter's consumption.
#[derive(Debug, Clone, Copy)]
pub struct Pricing<'a> {
    pub tariff: Tariff,
    pub prices: &'a Prices,
    pub offpeak: Option<&'a [TimeRange]>,
    pub tempo: &'a TempoPrices,
    pub colours: &'a BTreeMap<NaiveDate, TempoColor>,
}

impl Pricing<'_> {
    /// The cost of a slot in EUR, `None` when a price it needs is unknown.
    pub fn cost(&self, slot: &Slot<'_>) -> Option<f64> {
        match slot {
            Slot::Hour { intervals, .. } => intervals
                .iter()
                .map(|i| Some(i.wh() / 1000.0 * self.price_at(i.start_local)?))
                .sum(),
            Slot::Day { .. } if self.tariff == Tariff::Base => Some(slot.kwh() * self.prices.base?),
            Slot::Day { .. } => None,
        }
    }

    fn price_at(&self, local: chrono::NaiveDateTime) -> Option<f64> {
        let colour_of = |day| self.colours.get(&day).copied();
        let (tariff, prices, offpeak, tempo) = (self.tariff, self.prices, self.offpeak, self.tempo);
        price_at_local(tariff, prices, offpeak, tempo, colour_of, local)?.eur_per_kwh
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveTime;

    use super::*;

    use crate::model::CurveInterval;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn curve(day: NaiveDate) -> Vec<CurveInterval> {
        crate::calendar::half_hourly_curve(day, |_| 2000)
    }

    /// EUR → cents, rounded: the float noise of a sum of products out.
    fn cents(eur: f64) -> f64 {
        (eur * 100.0).round()
    }

    fn hour_at(intervals: &[CurveInterval], h: u32) -> Slot<'_> {
        let time = NaiveTime::from_hms_opt(h, 0, 0).unwrap();
        let i = intervals
            .iter()
            .position(|i| i.start_local.time() == time)
            .unwrap();
        Slot::Hour {
            start: intervals[i].start,
            intervals: &intervals[i..i + 2],
        }
    }

    #[test]
    fn base_prices_days_and_hours_hchp_and_tempo_only_hours() {
        let prices = Prices {
            base: Some(0.25),
            hc: Some(0.2),
            hp: Some(0.3),
            ..Prices::default()
        };
        let none = BTreeMap::new();
        let tempo = TempoPrices::default();
        let mut pricing = Pricing {
            tariff: Tariff::Base,
            prices: &prices,
            offpeak: None,
            tempo: &tempo,
            colours: &none,
        };
        let day = Slot::Day {
            date: d("2024-01-15"),
            wh: 10_000,
        };
        let intervals = curve(d("2024-01-15"));
        // Two half-hours at 2000 W: 2 kWh.
        assert_eq!(pricing.cost(&day).map(cents), Some(250.0));
        assert_eq!(
            pricing.cost(&hour_at(&intervals, 12)).map(cents),
            Some(50.0)
        );

        let night = [TimeRange {
            start: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(6, 0, 0).unwrap(),
        }];
        pricing.tariff = Tariff::HcHp;
        pricing.offpeak = Some(&night);
        assert_eq!(pricing.cost(&day), None, "the split of a day is not known");
        assert_eq!(pricing.cost(&hour_at(&intervals, 5)).map(cents), Some(40.0));
        assert_eq!(pricing.cost(&hour_at(&intervals, 6)).map(cents), Some(60.0));
    }

    #[test]
    fn tempo_hours_take_the_pricing_day_s_colour_and_need_it() {
        let prices = Prices::default();
        let tempo = TempoPrices {
            blue_hc: Some(0.1),
            blue_hp: Some(0.2),
            white_hc: Some(0.3),
            white_hp: Some(0.4),
            red_hc: Some(0.5),
            red_hp: Some(0.7),
        };
        // The 14th blue, the 15th red: 05:00 on the 15th is the 14th's (blue) off-peak hour.
        let colours = BTreeMap::from([
            (d("2024-01-14"), TempoColor::Blue),
            (d("2024-01-15"), TempoColor::Red),
        ]);
        let pricing = Pricing {
            tariff: Tariff::Tempo,
            prices: &prices,
            offpeak: None,
            tempo: &tempo,
            colours: &colours,
        };
        let intervals = curve(d("2024-01-15"));
        assert_eq!(pricing.cost(&hour_at(&intervals, 5)).map(cents), Some(20.0));
        assert_eq!(
            pricing.cost(&hour_at(&intervals, 6)).map(cents),
            Some(140.0)
        );
        assert_eq!(
            pricing.cost(&hour_at(&intervals, 22)).map(cents),
            Some(100.0)
        );
        let unknown = curve(d("2024-01-16"));
        assert_eq!(
            pricing.cost(&hour_at(&unknown, 12)),
            None,
            "the 16th's colour is unknown"
        );
    }
}
