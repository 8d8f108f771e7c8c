//! Tariff rules as pure functions: which period (HC/HP) and which Tempo colour price an
//! instant, what a kWh costs, when the price in force changes, and the Tempo season.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Europe::Paris;

use crate::calendar::{add_days, sub_days, wall_clock_instants};
use crate::model::{Prices, Tariff, TempoColor, TempoPrices, TimeRange};

/// Tempo off-peak hours and pricing-day boundaries: 22:00 → 06:00.
pub const TEMPO_HC_START: NaiveTime = match NaiveTime::from_hms_opt(22, 0, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};
pub const TEMPO_DAY_START: NaiveTime = match NaiveTime::from_hms_opt(6, 0, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};

/// From when (Paris) tomorrow's Tempo colour is published.
pub const TEMPO_TOMORROW_FROM: NaiveTime = match NaiveTime::from_hms_opt(10, 40, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};

/// Red and white days of every Tempo season; the rest are blue.
pub const TEMPO_RED_DAYS: u32 = 22;
pub const TEMPO_WHITE_DAYS: u32 = 43;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Hc,
    Hp,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Hc => "HC",
            Period::Hp => "HP",
        }
    }
}

/// The Tempo pricing day and period of a Paris wall-clock time: the pricing day runs
/// 06:00 → 06:00 (00:00–06:00 takes the previous day's colour) and HC is 22:00 → 06:00.
pub fn tempo_pricing(local: NaiveDateTime) -> (NaiveDate, Period) {
    let time = local.time();
    if time < TEMPO_DAY_START {
        (sub_days(local.date(), 1), Period::Hc)
    } else if time >= TEMPO_HC_START {
        (local.date(), Period::Hc)
    } else {
        (local.date(), Period::Hp)
    }
}

/// The HC/HP period of a wall-clock time under off-peak ranges.
pub fn hchp_period(time: NaiveTime, offpeak: &[TimeRange]) -> Period {
    if offpeak.iter().any(|r| r.contains(time)) {
        Period::Hc
    } else {
        Period::Hp
    }
}

/// The Tempo prices in force: each from the options, else from the gateway (v1).
pub fn tempo_prices(options: &Prices, gateway: Option<&TempoPrices>) -> TempoPrices {
    let g = gateway.copied().unwrap_or_default();
    TempoPrices {
        blue_hc: options.tempo_blue_hc.or(g.blue_hc),
        blue_hp: options.tempo_blue_hp.or(g.blue_hp),
        white_hc: options.tempo_white_hc.or(g.white_hc),
        white_hp: options.tempo_white_hp.or(g.white_hp),
        red_hc: options.tempo_red_hc.or(g.red_hc),
        red_hp: options.tempo_red_hp.or(g.red_hp),
    }
}

/// The price of one colour and period.
pub fn tempo_price(prices: &TempoPrices, color: TempoColor, period: Period) -> Option<f64> {
    match (color, period) {
        (TempoColor::Blue, Period::Hc) => prices.blue_hc,
        (TempoColor::Blue, Period::Hp) => prices.blue_hp,
        (TempoColor::White, Period::Hc) => prices.white_hc,
        (TempoColor::White, Period::Hp) => prices.white_hp,
        (TempoColor::Red, Period::Hc) => prices.red_hc,
        (TempoColor::Red, Period::Hp) => prices.red_hp,
    }
}

/// Whether every Tempo price is known.
pub fn tempo_prices_complete(prices: &TempoPrices) -> bool {
    TempoColor::ALL.iter().all(|c| {
        [Period::Hc, Period::Hp]
            .iter()
            .all(|p| tempo_price(prices, *c, *p).is_some())
    })
}

/// The price in force.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceNow {
    /// `None` when the colour that decides it is not known yet.
    pub eur_per_kwh: Option<f64>,
    /// `BASE`, `HC` or `HP`.
    pub period: &'static str,
    pub color: Option<TempoColor>,
}

/// The price in force at `now` under a tariff, `None` when its prices are not given.
/// `colour_of` gives the Tempo colour of a day when known.
pub fn price_at(
    tariff: Tariff,
    prices: &Prices,
    offpeak: Option<&[TimeRange]>,
    tempo: &TempoPrices,
    colour_of: impl Fn(NaiveDate) -> Option<TempoColor>,
    now: DateTime<Utc>,
) -> Option<PriceNow> {
    let local = now.with_timezone(&Paris).naive_local();
    price_at_local(tariff, prices, offpeak, tempo, colour_of, local)
}

/// The price in force at a Paris wall-clock time (that of a load-curve interval's start).
pub fn price_at_local(
    tariff: Tariff,
    prices: &Prices,
    offpeak: Option<&[TimeRange]>,
    tempo: &TempoPrices,
    colour_of: impl Fn(NaiveDate) -> Option<TempoColor>,
    local: NaiveDateTime,
) -> Option<PriceNow> {
    match tariff {
        Tariff::Base => Some(PriceNow {
            eur_per_kwh: Some(prices.base?),
            period: "BASE",
            color: None,
        }),
        Tariff::HcHp => {
            let (hc, hp) = (prices.hc?, prices.hp?);
            let period = hchp_period(local.time(), offpeak?);
            let price = if period == Period::Hc { hc } else { hp };
            Some(PriceNow {
                eur_per_kwh: Some(price),
                period: period.as_str(),
                color: None,
            })
        }
        Tariff::Tempo => {
            if !tempo_prices_complete(tempo) {
                return None;
            }
            let (day, period) = tempo_pricing(local);
            let color = colour_of(day);
            Some(PriceNow {
                eur_per_kwh: color.and_then(|c| tempo_price(tempo, c, period)),
                period: period.as_str(),
                color,
            })
        }
    }
}

/// The next instant after `now` at which the Paris wall clock comes to one of `times`, DST
/// included: a time of the skipped spring hour at the end of the gap, one of the doubled
/// autumn hour twice and at the fall back between (see [`wall_clock_instants`]).
pub fn next_wall_clock(times: &[NaiveTime], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let today = now.with_timezone(&Paris).date_naive();
    (0..=2)
        .flat_map(|offset| {
            let day = add_days(today, offset);
            times
                .iter()
                .flat_map(move |t| wall_clock_instants(day.and_time(*t)))
        })
        .filter(|t| *t > now)
        .min()
}

/// When the price under a tariff changes next: its off-peak boundaries (HC_HP), 06:00 and
/// 22:00 (TEMPO); never for BASE.
pub fn next_price_change(
    tariff: Tariff,
    offpeak: Option<&[TimeRange]>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let times: Vec<NaiveTime> = match tariff {
        Tariff::Base => return None,
        Tariff::HcHp => offpeak?.iter().flat_map(|r| [r.start, r.end]).collect(),
        Tariff::Tempo => vec![TEMPO_DAY_START, TEMPO_HC_START],
    };
    next_wall_clock(&times, now)
}

/// First day (1 September) of the Tempo season that holds `day`.
pub fn tempo_season_start(day: NaiveDate) -> NaiveDate {
    let year = if day.month() >= 9 {
        day.year()
    } else {
        day.year() - 1
    };
    NaiveDate::from_ymd_opt(year, 9, 1).unwrap_or(day)
}

/// Blue, white and red days of the season starting on `start`: 300/43/22, and 301 blue days
/// in a season that holds 29 February.
pub fn tempo_season_totals(start: NaiveDate) -> [(TempoColor, u32); 3] {
    let next = NaiveDate::from_ymd_opt(start.year() + 1, 9, 1).unwrap_or(start);
    let days = u32::try_from((next - start).num_days()).unwrap_or(365);
    [
        (TempoColor::Blue, days - TEMPO_RED_DAYS - TEMPO_WHITE_DAYS),
        (TempoColor::White, TEMPO_WHITE_DAYS),
        (TempoColor::Red, TEMPO_RED_DAYS),
    ]
}

#[cfg(test)]
mod tests;
