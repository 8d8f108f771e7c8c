//! Properties of the pure core, on random inputs (proptest): the Paris calendar, the HC/HP
//! split, Tempo pricing and the days left in a season, the sync planner with its quota (over
//! several syncs against a simulated gateway and store), and the rows of the long-term
//! statistics.
//!
//! Everything here is a pure function of its inputs and of the time it is given: no store,
//! no gateway, no clock. Each property states the rule in its own words (an independent
//! reading of the calendar, of the contract) and checks the program against it. A failure is
//! kept in `tests/properties.proptest-regressions` and replayed first on the next run.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc, Weekday,
};
use chrono_tz::Europe::Paris;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use myelectricaldata_mqtt::calendar::{
    add_days, daily_history_start, day_minutes, month_label, month_start, paris_date,
    paris_instant, parse_offpeak_hours, start_of_day, sub_days, week_label, week_start, year_start,
};
use myelectricaldata_mqtt::config::{GatewayGeneration, MeterSettings};
use myelectricaldata_mqtt::derived::grid::remaining;
use myelectricaldata_mqtt::derived::{
    EnergyView, TempoInputs, TempoView, complete_days, offpeak_ranges, split_hchp,
};
use myelectricaldata_mqtt::model::AccessInfo;
use myelectricaldata_mqtt::model::{
    Contract, CurveInterval, DayEnergy, DayRange, MeterInfo, Pdl, Prices, SeriesKind, Tariff,
    TempoColor, TempoPrices, TimeRange,
};
use myelectricaldata_mqtt::statistics::{
    CURVE_WAIT_DAYS, LastRow, SeriesHistory, Slot, chunks, rows, slots,
};
use myelectricaldata_mqtt::store::MeterStatus;
use myelectricaldata_mqtt::sync::{
    Call, CallScope, GridState, MAX_POWER_DAYS, MeterState, Quota, QuotaRule, RECENT_RETRY_DAYS,
    Step, SyncState, budget_of, meter_complete, plan, plan_ranges,
};
use myelectricaldata_mqtt::tariffs::{
    Period, hchp_period, next_price_change, price_at, tempo_price, tempo_pricing,
    tempo_season_start, tempo_season_totals,
};

/// Cases per property: the whole suite stays within a few seconds in debug.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Days of 2000–2059: every DST rule the program will meet.
fn day() -> impl Strategy<Value = NaiveDate> {
    (0u64..21_915).prop_map(|n| add_days(date(2000, 1, 1), n))
}

/// A wall-clock minute of such a day.
fn local_time() -> impl Strategy<Value = NaiveDateTime> {
    (day(), 0u32..1440).prop_map(|(d, m)| d.and_time(minute(m)))
}

/// An instant of 2000–2059, to the second.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..1_893_456_000).prop_map(|s| {
        "2000-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::seconds(s)
    })
}

/// An instant, half the time within a day before a DST change.
fn instant_near_dst() -> impl Strategy<Value = DateTime<Utc>> {
    let near = (2000i32..2060, any::<bool>(), 0i64..86_400).prop_map(|(y, spring, s)| {
        let change = add_days(last_sunday(y, if spring { 3 } else { 10 }), 1);
        start_of_day(change).with_timezone(&Utc) - Duration::seconds(s)
    });
    prop_oneof![instant(), near]
}

fn minute(m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(m / 60 % 24, m % 60, 0).unwrap()
}

/// The last Sunday of a month, read off the calendar backwards from the month's last day.
fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let next = match month {
        12 => date(year + 1, 1, 1),
        _ => date(year, month + 1, 1),
    };
    let mut day = next.pred_opt().unwrap();
    while day.weekday() != Weekday::Sun {
        day = day.pred_opt().unwrap();
    }
    day
}

/// The EU rule: 23 hours on the last Sunday of March, 25 on the last Sunday of October.
fn expected_minutes(day: NaiveDate) -> i64 {
    if day == last_sunday(day.year(), 3) {
        1380
    } else if day == last_sunday(day.year(), 10) {
        1500
    } else {
        1440
    }
}

// ---------------------------------------------------------------------------------------
// The Paris calendar

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn every_paris_day_has_23_24_or_25_hours(day in day()) {
        prop_assert_eq!(day_minutes(day), expected_minutes(day));
        let start = start_of_day(day);
        prop_assert_eq!(start.naive_local(), day.and_time(NaiveTime::MIN));
        let next = start_of_day(add_days(day, 1)).with_timezone(&Utc);
        prop_assert_eq!((next - start.with_timezone(&Utc)).num_minutes(), day_minutes(day));
        // The day is exactly the instants from its midnight to the next.
        prop_assert_eq!(paris_date(start.with_timezone(&Utc)), day);
        prop_assert_eq!(paris_date(next - Duration::seconds(1)), day);
        prop_assert_eq!(paris_date(next), add_days(day, 1));
    }

    #[test]
    fn weeks_months_and_years_start_where_the_calendar_says(day in day(), n in 0u64..1000) {
        let week = week_start(day);
        prop_assert_eq!(week.weekday(), Weekday::Mon);
        prop_assert!(week <= day && (day - week).num_days() < 7);
        prop_assert_eq!(week.iso_week(), day.iso_week());
        prop_assert_eq!(week_label(week), week_label(day));
        prop_assert_eq!(week_start(add_days(week, 7)), add_days(week, 7));
        let month = month_start(day);
        prop_assert_eq!((month.year(), month.month(), month.day()), (day.year(), day.month(), 1));
        prop_assert_ne!(sub_days(month, 1).month(), month.month());
        prop_assert_eq!(month_label(day), format!("{:04}-{:02}", day.year(), day.month()));
        let year = year_start(day);
        prop_assert_eq!((year.year(), year.ordinal()), (day.year(), 1));
        prop_assert_eq!(sub_days(add_days(day, n), n), day);
        prop_assert_eq!((add_days(day, n) - day).num_days(), n as i64);
    }

    #[test]
    fn the_history_starts_36_months_back(today in day()) {
        let start = daily_history_start(today);
        prop_assert_eq!((start.year(), start.month()), (today.year() - 3, today.month()));
        // The same day of the month, or the month's last when it has fewer days.
        let same_or_last = start.day() == today.day()
            || (start.day() < today.day() && start.succ_opt().unwrap().month() != start.month());
        prop_assert!(same_or_last, "{start} from {today}");
        prop_assert!((1093..=1096).contains(&(today - start).num_days()));
    }

    #[test]
    fn wall_clock_times_map_to_the_instant_that_shows_them(local in local_time(), s in 0u32..60) {
        let local = local + Duration::seconds(i64::from(s));
        let instant = paris_instant(local);
        let shown = instant.with_timezone(&Paris).naive_local();
        // Only the skipped spring hour shows another time: one hour later.
        let in_gap = local.date() == last_sunday(local.year(), 3) && local.hour() == 2;
        let expected = if in_gap { local + Duration::hours(1) } else { local };
        prop_assert_eq!(shown, expected);
        prop_assert!([3600, 7200].contains(&instant.offset().local_minus_utc()));
    }

    #[test]
    fn offpeak_hours_read_back_as_written(ranges in offpeak_of(1..4)) {
        let clock = |t: NaiveTime| format!("{}H{:02}", t.hour(), t.minute());
        let text = ranges.iter().map(|r| format!("{}-{}", clock(r.start), clock(r.end)));
        let text = format!("HC ({})", text.collect::<Vec<_>>().join(";"));
        prop_assert_eq!(parse_offpeak_hours(&text), Some(ranges));
    }
}

// ---------------------------------------------------------------------------------------
// Week, month and year to date

fn energy_days(latest: NaiveDate, kept: &[bool]) -> Vec<DayEnergy> {
    let fetched_at = start_of_day(latest).with_timezone(&Utc);
    let mut days: Vec<DayEnergy> = kept
        .iter()
        .enumerate()
        .filter(|(i, keep)| *i == 0 || **keep)
        .map(|(i, _)| DayEnergy {
            date: sub_days(latest, i as u64),
            wh: 1000 + i as i64 * 7,
            quality: None,
            fetched_at,
        })
        .collect();
    days.reverse();
    days
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn period_totals_hold_the_known_days_of_the_week_month_and_year_to_date(
        latest in day(),
        kept in prop::collection::vec(any::<bool>(), 1..400),
    ) {
        let days = energy_days(latest, &kept);
        let view = EnergyView::compute(&days).unwrap();
        prop_assert_eq!(view.latest.date, latest);
        let total = |same: &dyn Fn(NaiveDate) -> bool| {
            let period: Vec<_> = days.iter().filter(|d| same(d.date)).collect();
            (period.iter().map(|d| d.wh).sum::<i64>(), period.len() as u32)
        };
        let week = total(&|d| d.iso_week() == latest.iso_week());
        let month = total(&|d| (d.year(), d.month()) == (latest.year(), latest.month()));
        let year = total(&|d| d.year() == latest.year());
        prop_assert_eq!((view.week.wh, view.week.days), week);
        prop_assert_eq!((view.month.wh, view.month.days), month);
        prop_assert_eq!((view.year.wh, view.year.days), year);
        prop_assert!(view.week.days <= 7 && view.month.days <= 31 && view.year.days <= 366);
        let yesterday = sub_days(latest, 1);
        prop_assert_eq!(view.previous.map(|d| d.date), days.iter().map(|d| d.date).find(|d| *d == yesterday));
    }
}

// ---------------------------------------------------------------------------------------
// The HC/HP split of a load curve

/// Off-peak ranges to the minute, some crossing midnight, some empty (start = end).
fn offpeak() -> impl Strategy<Value = Vec<TimeRange>> {
    offpeak_of(0..4)
}

fn offpeak_of(count: std::ops::Range<usize>) -> impl Strategy<Value = Vec<TimeRange>> {
    let range = (0u32..1440, 0u32..1440).prop_map(|(s, e)| TimeRange {
        start: minute(s),
        end: minute(e),
    });
    prop::collection::vec(range, count)
}

/// A day's curve as the store holds it: intervals of `minutes` from Paris midnight to the
/// next, each placed by its start, at watts taken in turn from `watts`.
fn curve(day: NaiveDate, minutes: u32, watts: &[i64]) -> Vec<CurveInterval> {
    let end = start_of_day(add_days(day, 1)).with_timezone(&Utc);
    let mut at = start_of_day(day).with_timezone(&Utc);
    let mut intervals = Vec::new();
    while at < end {
        intervals.push(CurveInterval {
            start: at,
            start_local: at.with_timezone(&Paris).naive_local(),
            minutes,
            watts: watts[intervals.len() % watts.len()],
        });
        at += Duration::minutes(i64::from(minutes));
    }
    intervals
}

/// Whether a minute of the day is off-peak, read directly off the ranges.
fn offpeak_minute(m: u32, ranges: &[TimeRange]) -> bool {
    let of = |t: NaiveTime| t.hour() * 60 + t.minute();
    ranges.iter().any(|r| {
        let (s, e) = (of(r.start), of(r.end));
        match s <= e {
            true => s <= m && m < e,
            false => m >= s || m < e,
        }
    })
}

/// A day that is sometimes a DST day: half the cases land on one.
fn maybe_dst_day() -> impl Strategy<Value = NaiveDate> {
    prop_oneof![
        day(),
        (2000i32..2060, any::<bool>())
            .prop_map(|(y, spring)| last_sunday(y, if spring { 3 } else { 10 })),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn hc_plus_hp_is_the_day_s_energy_when_the_curve_is_complete(
        day in maybe_dst_day(),
        minutes in prop::sample::select(vec![5u32, 10, 15, 30, 60]),
        watts in prop::collection::vec(0i64..12_000, 1..60),
        ranges in offpeak(),
    ) {
        let intervals = curve(day, minutes, &watts);
        prop_assert_eq!(intervals.len() as i64 * i64::from(minutes), expected_minutes(day));
        let map = BTreeMap::from([(day, intervals.clone())]);
        prop_assert!(complete_days(&map).contains_key(&day));
        let total: f64 = intervals.iter().map(CurveInterval::wh).sum();
        let (hc, hp) = split_hchp(&intervals, &ranges);
        prop_assert!((hc + hp - total).abs() <= 1e-6 * total.max(1.0), "{hc} + {hp} != {total}");
        let off: f64 = intervals
            .iter()
            .filter(|i| offpeak_minute(i.start_local.hour() * 60 + i.start_local.minute(), &ranges))
            .map(CurveInterval::wh)
            .sum();
        prop_assert!((hc - off).abs() <= 1e-6 * total.max(1.0), "{hc} != {off}");
        // A curve that lacks its last interval is not a whole day.
        let short = BTreeMap::from([(day, intervals[..intervals.len() - 1].to_vec())]);
        prop_assert!(complete_days(&short).is_empty());
    }
}

// ---------------------------------------------------------------------------------------
// Tempo pricing

/// Six distinct prices: a price names its colour and period.
fn tempo_prices() -> TempoPrices {
    TempoPrices {
        blue_hc: Some(0.11),
        blue_hp: Some(0.12),
        white_hc: Some(0.21),
        white_hp: Some(0.22),
        red_hc: Some(0.31),
        red_hp: Some(0.32),
    }
}

fn colour() -> impl Strategy<Value = Option<TempoColor>> {
    prop::option::weighted(0.9, prop::sample::select(TempoColor::ALL.to_vec()))
}

fn tempo_meter() -> MeterSettings {
    MeterSettings {
        pdl: Pdl::parse("12345678901234").unwrap(),
        name: "Maison".into(),
        token: None,
        consumption: true,
        production: false,
        load_curve: true,
        tariff: Tariff::Tempo,
        prices: Prices::default(),
        offpeak_hours: None,
        tempo_prices_from_gateway: false,
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn the_tempo_day_runs_from_six_to_six_and_hc_from_ten_to_six(local in local_time()) {
        let (day, period) = tempo_pricing(local);
        let hour = local.hour();
        let expected_day = if hour < 6 { sub_days(local.date(), 1) } else { local.date() };
        let expected_period = if !(6..22).contains(&hour) { Period::Hc } else { Period::Hp };
        prop_assert_eq!((day, period), (expected_day, expected_period));
        // The meter's off-peak ranges under Tempo say the same.
        let ranges = offpeak_ranges(&tempo_meter(), None).unwrap();
        prop_assert_eq!(hchp_period(local.time(), &ranges), period);
    }

    #[test]
    fn the_price_of_an_instant_is_that_of_its_colour_and_period(
        now in instant(),
        eve in colour(),
        today in colour(),
    ) {
        let local = now.with_timezone(&Paris).naive_local();
        let colours = BTreeMap::from([
            (sub_days(local.date(), 1), eve),
            (local.date(), today),
        ]);
        let colour_of = |d: NaiveDate| colours.get(&d).copied().flatten();
        let prices = tempo_prices();
        let price = price_at(Tariff::Tempo, &Prices::default(), None, &prices, colour_of, now).unwrap();
        let night = local.hour() < 6;
        let colour = if night { eve } else { today };
        let period = if night || local.hour() >= 22 { Period::Hc } else { Period::Hp };
        prop_assert_eq!(price.color, colour);
        prop_assert_eq!(price.period, period.as_str());
        prop_assert_eq!(price.eur_per_kwh, colour.and_then(|c| tempo_price(&prices, c, period)));
    }

    #[test]
    fn an_hc_hp_price_follows_the_off_peak_ranges(now in instant(), ranges in offpeak()) {
        let prices = Prices { hc: Some(0.1), hp: Some(0.2), ..Prices::default() };
        let local = now.with_timezone(&Paris).naive_local();
        let price = price_at(Tariff::HcHp, &prices, Some(&ranges), &TempoPrices::default(), |_| None, now).unwrap();
        let off = offpeak_minute(local.hour() * 60 + local.minute(), &ranges);
        prop_assert_eq!(price.period, if off { "HC" } else { "HP" });
        prop_assert_eq!(price.eur_per_kwh, Some(if off { 0.1 } else { 0.2 }));
    }

    #[test]
    fn the_tempo_price_holds_until_its_next_change(now in instant_near_dst()) {
        let next = next_price_change(Tariff::Tempo, None, now).unwrap();
        prop_assert!(next > now && next - now <= Duration::hours(17), "{now} → {next}");
        let pricing = |t: DateTime<Utc>| tempo_pricing(t.with_timezone(&Paris).naive_local());
        let local = next.with_timezone(&Paris).naive_local();
        prop_assert!([6, 22].contains(&local.hour()) && local.minute() == 0 && local.second() == 0);
        // Nothing changes before it; the period does at it.
        for t in [now, now + (next - now) / 2, next - Duration::seconds(1)] {
            prop_assert_eq!(pricing(t), pricing(now));
        }
        prop_assert_ne!(pricing(next).1, pricing(now).1);
    }

    #[test]
    fn an_hc_hp_price_holds_until_its_next_change(now in instant_near_dst(), ranges in offpeak_of(1..4)) {
        let next = next_price_change(Tariff::HcHp, Some(&ranges), now).unwrap();
        prop_assert!(next > now && next - now <= Duration::hours(25), "{now} → {next}");
        let period = |t: DateTime<Utc>| {
            let local = t.with_timezone(&Paris).naive_local();
            offpeak_minute(local.hour() * 60 + local.minute(), &ranges)
        };
        // Sampled each minute from now to just before the change: one period throughout.
        let mut t = now;
        while t < next {
            prop_assert_eq!(period(t), period(now), "at {} before the change at {}", t, next);
            t += Duration::minutes(1);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tempo days left in the season

/// A whole season of colours in a random order: 43 white, 22 red, the rest blue.
fn season() -> impl Strategy<Value = (NaiveDate, Vec<TempoColor>)> {
    (2000i32..2060).prop_flat_map(|year| {
        let start = date(year, 9, 1);
        let days = (date(year + 1, 9, 1) - start).num_days() as usize;
        let mut colours = vec![TempoColor::White; 43];
        colours.extend([TempoColor::Red; 22]);
        colours.resize(days, TempoColor::Blue);
        (Just(start), Just(colours).prop_shuffle())
    })
}

fn has_29_february(start: NaiveDate) -> bool {
    NaiveDate::from_ymd_opt(start.year() + 1, 2, 29).is_some()
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn a_season_has_300_or_301_blue_43_white_and_22_red_days(day in day()) {
        let start = tempo_season_start(day);
        let next = date(start.year() + 1, 9, 1);
        prop_assert!((start.month(), start.day()) == (9, 1) && start <= day && day < next);
        let totals = tempo_season_totals(start);
        let blue = if has_29_february(start) { 301 } else { 300 };
        prop_assert_eq!(
            totals,
            [(TempoColor::Blue, blue), (TempoColor::White, 43), (TempoColor::Red, 22)]
        );
        prop_assert_eq!(totals.iter().map(|t| t.1 as i64).sum::<i64>(), (next - start).num_days());
    }

    #[test]
    fn days_left_count_down_to_zero_through_a_season(
        (start, colours) in season(),
        stride in 1usize..20,
    ) {
        let mut known = BTreeMap::new();
        // The last day of the season before: not this season's.
        known.insert(sub_days(start, 1), TempoColor::Red);
        let mut previous = u32::MAX;
        for (i, colour) in colours.iter().enumerate() {
            known.insert(add_days(start, i as u64), *colour);
            if i % stride != 0 && i + 1 != colours.len() {
                continue;
            }
            let left = remaining(start, &known);
            let used = |c: TempoColor| colours[..=i].iter().filter(|k| **k == c).count() as u32;
            for ((c, total), (lc, l)) in tempo_season_totals(start).iter().zip(left) {
                prop_assert_eq!((*c, total - used(*c)), (lc, l));
            }
            let sum: u32 = left.iter().map(|l| l.1).sum();
            prop_assert_eq!(sum as usize, colours.len() - i - 1);
            prop_assert!(sum < previous);
            previous = sum;
        }
        prop_assert_eq!(previous, 0);
    }

    #[test]
    fn the_tempo_device_counts_only_the_season_s_days(
        (start, colours) in season(),
        today in prop_oneof![0usize..366, Just(365)],
        tomorrow in colour(),
        lacking in prop::collection::btree_set(0usize..366, 0..3),
    ) {
        // What the device loads: the season to today (but a day the gateway never gave),
        // and tomorrow's colour once published (the next season's on 31 August).
        let index = today.min(colours.len() - 1);
        let today = add_days(start, index as u64);
        let mut season: BTreeMap<NaiveDate, TempoColor> = DayRange::new(start, add_days(today, 1))
            .days()
            .zip(colours.iter().copied())
            .enumerate()
            .filter(|(i, _)| !lacking.contains(i))
            .map(|(_, day)| day)
            .collect();
        if let Some(c) = tomorrow {
            season.insert(add_days(today, 1), colours.get(index + 1).copied().unwrap_or(c));
        }
        let view = TempoView::compute(&TempoInputs { season: season.clone() }, today);
        let next_season = date(start.year() + 1, 9, 1);
        let used = |c: TempoColor| {
            season.iter().filter(|(d, k)| **d < next_season && **k == c).count() as u32
        };
        for ((c, total), (lc, l)) in tempo_season_totals(start).iter().zip(view.remaining) {
            prop_assert_eq!((*c, total - used(*c)), (lc, l), "today {}", today);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The sync planner

/// What the store holds of a series, counted in days back from a top day: values from
/// `from_back` to `to_back`, and holes (never asked, or asked and not published).
#[derive(Debug, Clone)]
struct Fill {
    from_back: u64,
    to_back: u64,
    holes: Vec<(u64, u64, bool)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Value,
    Asked,
    Absent,
}

impl Fill {
    fn cell(&self, back: u64) -> Cell {
        let hole = self
            .holes
            .iter()
            .find(|(b, len, _)| back >= *b && back < b + len);
        match hole {
            Some((_, _, true)) => Cell::Asked,
            Some((_, _, false)) => Cell::Absent,
            None if (self.to_back..=self.from_back).contains(&back) => Cell::Value,
            None => Cell::Absent,
        }
    }

    /// The cells of `[from, top]`, by day.
    fn cells(&self, from: NaiveDate, top: NaiveDate) -> impl Iterator<Item = (NaiveDate, Cell)> {
        DayRange::new(from, add_days(top, 1))
            .days()
            .map(move |d| (d, self.cell((top - d).num_days() as u64)))
    }
}

fn fill(max_back: u64) -> impl Strategy<Value = Fill> {
    let hole = (0..max_back, 1u64..60, any::<bool>());
    (0..max_back, 0u64..15, prop::collection::vec(hole, 0..4)).prop_map(
        |(from_back, to_back, holes)| Fill {
            from_back,
            to_back,
            holes,
        },
    )
}

#[derive(Debug, Clone)]
struct MeterSpec {
    consumption: bool,
    production: bool,
    load_curve: bool,
    /// Days from today of the account's activation date (v2), and of the contract's.
    activation: Option<i64>,
    contract_activation: Option<i64>,
    listed: bool,
    daily: Fill,
    max_power: Fill,
    curve: Fill,
}

fn meter_spec() -> impl Strategy<Value = MeterSpec> {
    let activation = prop::option::of(-1500i64..3);
    (
        (any::<bool>(), any::<bool>(), any::<bool>()),
        (activation.clone(), activation, prop::bool::weighted(0.9)),
        (fill(1200), fill(40), fill(70)),
    )
        .prop_map(
            |((c, p, l), (a, ca, listed), (daily, max_power, curve))| MeterSpec {
                consumption: c || !p,
                production: p,
                load_curve: l,
                activation: a,
                contract_activation: ca,
                listed,
                daily,
                max_power,
                curve,
            },
        )
}

#[derive(Debug, Clone)]
struct Scenario {
    now: DateTime<Utc>,
    generation: GatewayGeneration,
    meters: Vec<MeterSpec>,
    tempo_wanted: bool,
    tempo: Fill,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        instant(),
        any::<bool>(),
        prop::collection::vec(meter_spec(), 0..3),
        any::<bool>(),
        fill(420),
    )
        .prop_map(|(now, v2, meters, tempo_wanted, tempo)| Scenario {
            now,
            generation: if v2 {
                GatewayGeneration::V2
            } else {
                GatewayGeneration::V1
            },
            meters,
            tempo_wanted,
            tempo,
        })
}

const PDLS: [&str; 3] = ["12345678901234", "22345678901234", "32345678901234"];

fn settings(i: usize, spec: &MeterSpec) -> MeterSettings {
    MeterSettings {
        pdl: Pdl::parse(PDLS[i]).unwrap(),
        consumption: spec.consumption,
        production: spec.production,
        load_curve: spec.load_curve,
        tariff: Tariff::Base,
        ..tempo_meter()
    }
}

fn kinds(spec: &MeterSpec) -> Vec<SeriesKind> {
    SeriesKind::ALL
        .into_iter()
        .zip([spec.consumption, spec.production])
        .filter_map(|(k, on)| on.then_some(k))
        .collect()
}

fn daily_cells(fill: &Fill, from: NaiveDate, top: NaiveDate) -> BTreeMap<NaiveDate, Option<i64>> {
    fill.cells(from, top)
        .filter_map(|(d, c)| match c {
            Cell::Value => Some((d, Some(1000))),
            Cell::Asked => Some((d, None)),
            Cell::Absent => None,
        })
        .collect()
}

/// Curve minutes: whole days, or an asked day with part of it (maybe none).
fn curve_cells(fill: &Fill, from: NaiveDate, top: NaiveDate) -> BTreeMap<NaiveDate, i64> {
    fill.cells(from, top)
        .filter_map(|(d, c)| match c {
            Cell::Value => Some((d, expected_minutes(d))),
            Cell::Asked => Some((d, i64::from(d.ordinal() * 30 % 1440))),
            Cell::Absent => None,
        })
        .collect()
}

fn meter_state(i: usize, spec: &MeterSpec, now: DateTime<Utc>) -> MeterState {
    let today = paris_date(now);
    let yesterday = sub_days(today, 1);
    let at = |n: i64| today + Duration::days(n);
    let settings = settings(i, spec);
    let info = MeterInfo {
        pdl: settings.pdl.clone(),
        activation_date: spec.activation.map(at),
        oldest_available_date: None,
    };
    let contract = Contract {
        activation_date: spec.contract_activation.map(at),
        ..Contract::default()
    };
    let history = sub_days(daily_history_start(today), 20);
    let kinds = kinds(spec);
    let daily = kinds
        .iter()
        .map(|k| (*k, daily_cells(&spec.daily, history, yesterday)));
    let curve_from = sub_days(today, 70);
    let curve = kinds.iter().filter(|_| spec.load_curve);
    MeterState {
        info: spec.listed.then_some((info, now)),
        contract: Some((contract, now)),
        status: MeterStatus::default(),
        daily: daily.collect(),
        max_power: daily_cells(&spec.max_power, sub_days(today, 40), yesterday),
        curve: curve
            .map(|k| (*k, curve_cells(&spec.curve, curve_from, yesterday)))
            .collect(),
        settings,
    }
}

fn sync_state(s: &Scenario) -> SyncState {
    let today = paris_date(s.now);
    let tomorrow = add_days(today, 1);
    let tempo = daily_cells(&s.tempo, sub_days(today, 420), tomorrow)
        .into_iter()
        .map(|(d, v)| (d, v.map(|_| TempoColor::Blue)))
        .collect();
    SyncState {
        now: s.now,
        today,
        generation: s.generation,
        meters: s
            .meters
            .iter()
            .enumerate()
            .map(|(i, m)| meter_state(i, m, s.now))
            .collect(),
        grid: GridState {
            tempo_wanted: s.tempo_wanted,
            tempo,
            ..GridState::default()
        },
    }
}

/// What a call of the series step asks: which data of which meter, over which days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Asked {
    Daily(SeriesKind),
    MaxPower,
    LoadCurve(SeriesKind),
    Tempo,
}

fn asked(call: &Call) -> Option<(Option<Pdl>, Asked, DayRange)> {
    Some(match call {
        Call::Daily { pdl, kind, range } => (Some(pdl.clone()), Asked::Daily(*kind), *range),
        Call::MaxPower { pdl, range } => (Some(pdl.clone()), Asked::MaxPower, *range),
        Call::LoadCurve { pdl, kind, range } => {
            (Some(pdl.clone()), Asked::LoadCurve(*kind), *range)
        }
        Call::Tempo(range) => (None, Asked::Tempo, *range),
        _ => return None,
    })
}

/// The first day worth asking of a meter, from the rule: 36 months back, not before the
/// activation the account gives, else the contract's.
fn first_day(state: &SyncState, meter: &MeterState) -> NaiveDate {
    let info = meter.info.as_ref().and_then(|(i, _)| i.activation_date);
    let contract = meter.contract.as_ref().and_then(|(c, _)| c.activation_date);
    let history = daily_history_start(state.today);
    info.or(contract).map_or(history, |a| history.max(a))
}

type Rule<'a> = (
    NaiveDate,
    NaiveDate,
    u64,
    Box<dyn Fn(NaiveDate) -> bool + 'a>,
);

/// The load curve is kept from the first day of last month (of yesterday's month).
fn curve_window(today: NaiveDate) -> NaiveDate {
    month_start(sub_days(today, 1))
        .checked_sub_months(chrono::Months::new(1))
        .unwrap()
}

/// What a kind of data must cover: its window `[lo, hi)`, the longest call, and the days
/// it lacks (never asked, or asked lately and not published or not whole yet).
fn rule<'a>(state: &'a SyncState, meter: Option<&'a MeterState>, what: Asked) -> Rule<'a> {
    let today = state.today;
    let recent = move |d: NaiveDate| (today - d).num_days() <= RECENT_RETRY_DAYS as i64;
    let lacks = move |v: Option<bool>, d: NaiveDate| match v {
        None => true,
        Some(has) => !has && recent(d),
    };
    let first = meter.map(|m| first_day(state, m));
    match (what, meter) {
        (Asked::Daily(kind), Some(m)) => (
            first.unwrap(),
            today,
            365,
            Box::new(move |d| {
                lacks(
                    m.daily
                        .get(&kind)
                        .and_then(|k| k.get(&d))
                        .map(Option::is_some),
                    d,
                )
            }),
        ),
        (Asked::MaxPower, Some(m)) => (
            first.unwrap().max(sub_days(today, MAX_POWER_DAYS)),
            today,
            365,
            Box::new(move |d| lacks(m.max_power.get(&d).map(Option::is_some), d)),
        ),
        (Asked::LoadCurve(kind), Some(m)) => {
            let window = curve_window(today);
            (
                first.unwrap().max(window),
                today,
                7,
                Box::new(move |d| {
                    let minutes = m.curve.get(&kind).and_then(|c| c.get(&d));
                    lacks(minutes.map(|m| *m >= expected_minutes(d)), d)
                }),
            )
        }
        _ => {
            let paris = state.now.with_timezone(&Paris).time();
            let published = paris >= NaiveTime::from_hms_opt(10, 40, 0).unwrap();
            let end = add_days(today, if published { 2 } else { 1 });
            let window = curve_window(today);
            let from = tempo_season_start(today).min(window);
            (
                from,
                end,
                366,
                Box::new(move |d| lacks(state.grid.tempo.get(&d).map(Option::is_some), d)),
            )
        }
    }
}

/// Each call of a kind of data stays in its window and span, starts and ends on a day it
/// lacks, overlaps no other and could not have been merged with the one before; together
/// they cover every day it lacks.
fn check_ranges(ranges: &[DayRange], (lo, hi, span, lacks): Rule<'_>) -> Result<(), TestCaseError> {
    for r in ranges {
        prop_assert!(
            lo <= r.start && r.start < r.end && r.end <= hi,
            "{r:?} outside [{lo}, {hi})"
        );
        prop_assert!(
            (r.end - r.start).num_days() as u64 <= span,
            "{r:?} over {span} days"
        );
        prop_assert!(
            lacks(r.start) && lacks(sub_days(r.end, 1)),
            "{r:?} asks a day it has at an end"
        );
    }
    for pair in ranges.windows(2) {
        prop_assert!(
            pair[0].end <= pair[1].start,
            "{:?} overlaps {:?}",
            pair[0],
            pair[1]
        );
        prop_assert!(
            pair[1].start >= add_days(pair[0].start, span),
            "{pair:?} could be one call"
        );
    }
    if lo < hi {
        for d in DayRange::new(lo, hi).days().filter(|d| lacks(*d)) {
            prop_assert!(
                ranges.iter().any(|r| r.contains(d)),
                "{d} lacking and not asked"
            );
        }
    }
    Ok(())
}

/// The series step's calls, grouped by what they ask, checked against the rule.
fn check_plan(state: &SyncState, calls: &[Call]) -> Result<(), TestCaseError> {
    let mut groups: BTreeMap<(Option<Pdl>, Asked), Vec<DayRange>> = BTreeMap::new();
    for call in calls {
        if let Some((pdl, what, range)) = asked(call) {
            groups.entry((pdl, what)).or_default().push(range);
        }
    }
    let mut expected: Vec<(Option<&MeterState>, Asked)> = Vec::new();
    let listed = |m: &&MeterState| m.info.is_some() || state.generation == GatewayGeneration::V1;
    for m in state.meters.iter().filter(listed) {
        let kinds: Vec<SeriesKind> = SeriesKind::ALL
            .into_iter()
            .filter(|k| m.daily.contains_key(k))
            .collect();
        expected.extend(kinds.iter().map(|k| (Some(m), Asked::Daily(*k))));
        if m.settings.consumption {
            expected.push((Some(m), Asked::MaxPower));
        }
        if m.settings.load_curve {
            expected.extend(kinds.iter().map(|k| (Some(m), Asked::LoadCurve(*k))));
        }
    }
    if state.grid.tempo_wanted {
        expected.push((None, Asked::Tempo));
    }
    for (meter, what) in expected {
        let ranges = groups
            .remove(&(meter.map(|m| m.pdl().clone()), what))
            .unwrap_or_default();
        check_ranges(&ranges, rule(state, meter, what))?;
    }
    prop_assert!(groups.is_empty(), "calls nobody needs: {groups:?}");
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn a_plan_covers_every_missing_day_once_within_its_bounds(s in scenario()) {
        let state = sync_state(&s);
        check_plan(&state, &plan(Step::Series, &state))?;
        // The steps before only refresh what decides the ranges: no day is asked there.
        for step in [Step::Account, Step::Meters] {
            prop_assert!(plan(step, &state).iter().all(|c| asked(c).is_none()));
        }
    }

    #[test]
    fn plan_ranges_cover_any_missing_days_with_the_fewest_calls(
        first in day(),
        len in 0u64..800,
        span in 1u64..400,
        missing in prop::collection::btree_set(0u64..800, 0..80),
    ) {
        let end = add_days(first, len);
        let lacks = |d: NaiveDate| missing.contains(&((d - first).num_days() as u64));
        let ranges = plan_ranges(first, end, span, lacks);
        check_ranges(&ranges, (first, end, span, Box::new(lacks)))?;
    }
}

// ---------------------------------------------------------------------------------------
// Syncs over time: a gateway, a store, the quota

/// The gateway of a simulation: Enedis publishes day J from 08:00 (Paris) on J+1, `lag`
/// hours later, and never the days `never` (days back from the first sync); RTE publishes
/// J+1 at 10:40 on J, `tempo_lag` minutes later.
#[derive(Debug, Clone)]
struct World {
    origin: NaiveDate,
    lag: i64,
    never: BTreeSet<i64>,
    tempo_lag: i64,
}

impl World {
    fn enedis(&self, day: NaiveDate, at: DateTime<Utc>) -> bool {
        let from = paris_instant(add_days(day, 1).and_time(minute(8 * 60)));
        !self.never.contains(&(self.origin - day).num_days())
            && at >= from.with_timezone(&Utc) + Duration::hours(self.lag)
    }

    fn tempo(&self, day: NaiveDate, at: DateTime<Utc>) -> bool {
        let from = paris_instant(sub_days(day, 1).and_time(minute(10 * 60 + 40)));
        at >= from.with_timezone(&Utc) + Duration::minutes(self.tempo_lag)
    }
}

/// Asked days of `range` as the store keeps them: what was published, else "asked".
fn keep<T: Copy>(
    map: &mut BTreeMap<NaiveDate, T>,
    range: DayRange,
    value: impl Fn(NaiveDate) -> Option<T>,
    asked: T,
) {
    for d in range.days() {
        match value(d) {
            Some(v) => {
                map.insert(d, v);
            }
            None => {
                map.entry(d).or_insert(asked);
            }
        }
    }
}

fn meter_mut<'a>(state: &'a mut SyncState, pdl: &Pdl) -> &'a mut MeterState {
    state.meters.iter_mut().find(|m| m.pdl() == pdl).unwrap()
}

/// Writes the gateway's answer to a call into the state, as the store would.
fn store_answer(state: &mut SyncState, world: &World, call: &Call) {
    let at = state.now;
    let enedis = |d| world.enedis(d, at);
    match call {
        Call::Daily { pdl, kind, range } => {
            let series = meter_mut(state, pdl).daily.entry(*kind).or_default();
            keep(series, *range, |d| enedis(d).then_some(Some(1000)), None);
        }
        Call::MaxPower { pdl, range } => {
            let peaks = &mut meter_mut(state, pdl).max_power;
            keep(peaks, *range, |d| enedis(d).then_some(Some(6000)), None);
        }
        Call::LoadCurve { pdl, kind, range } => {
            let curve = meter_mut(state, pdl).curve.entry(*kind).or_default();
            keep(curve, *range, |d| enedis(d).then(|| expected_minutes(d)), 0);
        }
        Call::Tempo(range) => {
            let tempo = &mut state.grid.tempo;
            keep(
                tempo,
                *range,
                |d| world.tempo(d, at).then_some(Some(TempoColor::Blue)),
                None,
            );
        }
        Call::Meters => state
            .meters
            .iter_mut()
            .filter_map(|m| m.info.as_mut())
            .for_each(|i| i.1 = at),
        Call::Contract(pdl) => meter_mut(state, pdl).contract.as_mut().unwrap().1 = at,
        Call::Access(pdl) => meter_mut(state, pdl).status.access_checked_at = Some(at),
        Call::Ecowatt(_) => state.grid.ecowatt_fetched_at = Some(at),
        Call::TempoPrices => state.grid.tempo_prices_fetched_at = Some(at),
    }
}

/// The state read again at `now`: the same store seen through the new day's windows.
fn reload(state: &mut SyncState, now: DateTime<Utc>) {
    let today = paris_date(now);
    (state.now, state.today) = (now, today);
    let history = daily_history_start(today);
    for m in &mut state.meters {
        m.daily
            .values_mut()
            .for_each(|s| s.retain(|d, _| *d >= history && *d < today));
        m.max_power
            .retain(|d, _| *d >= sub_days(today, MAX_POWER_DAYS) && *d < today);
        m.curve
            .values_mut()
            .for_each(|c| c.retain(|d, _| *d >= curve_window(today) && *d < today));
    }
    let from = tempo_season_start(today).min(curve_window(today));
    state
        .grid
        .tempo
        .retain(|d, _| *d >= from && *d <= add_days(today, 1));
}

/// Calls made, per quota counter (key, day), over all syncs.
type Counts = BTreeMap<(String, NaiveDate), u32>;

/// The day's quota as a sync loads it: the counts of today's counters.
fn load_quota(state: &SyncState, counts: &Counts) -> Quota {
    let rule = match state.generation {
        GatewayGeneration::V1 => QuotaRule::V1,
        GatewayGeneration::V2 => QuotaRule::V2,
    };
    let probe = Quota::new(rule, state.now, BTreeMap::new(), BTreeMap::new());
    let scopes = state
        .meters
        .iter()
        .map(|m| CallScope::Meter(m.pdl().clone()));
    let scopes = scopes.chain([
        CallScope::Account,
        CallScope::Tempo,
        CallScope::Ecowatt,
        CallScope::TempoPrices,
    ]);
    let used = scopes.map(|scope| {
        let counter = probe.counter(&scope);
        let calls = counts
            .get(&(counter.key.clone(), counter.day))
            .copied()
            .unwrap_or(0);
        (counter.key, calls)
    });
    Quota::new(rule, state.now, used.collect(), BTreeMap::new())
}

/// Runs calls as the executor does: each attempt admitted by the quota and counted, a
/// failure (refused, or three failed tries) ends its part. `tries` says how each call goes:
/// 0 answers at once, 1 after one retry, 2 fails three times.
fn execute(
    state: &mut SyncState,
    world: &World,
    calls: Vec<Call>,
    (quota, counts, failed): (&mut Quota, &mut Counts, &mut BTreeSet<CallScope>),
    tries: &mut impl Iterator<Item = u8>,
) -> Result<(), TestCaseError> {
    for call in calls {
        let scope = call.scope();
        let outcome = tries.next().unwrap_or(0);
        for attempt in 0..=outcome.min(2) {
            if failed.contains(&scope) {
                break;
            }
            let Ok(counter) = quota.admit(&scope) else {
                failed.insert(scope.clone());
                break;
            };
            let count = counts.entry((counter.key, counter.day)).or_default();
            *count += 1;
            prop_assert!(
                *count <= budget_of(quota.limit(&scope)),
                "{scope} over its budget"
            );
            match (attempt == outcome, outcome) {
                (true, 0 | 1) => store_answer(state, world, &call),
                (_, 2) if attempt == 2 => {
                    failed.insert(scope.clone());
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn world(origin: NaiveDate) -> impl Strategy<Value = World> {
    (
        0i64..60,
        prop::collection::btree_set(-10i64..1200, 0..6),
        0i64..120,
    )
        .prop_map(move |(lag, never, tempo_lag)| World {
            origin,
            lag,
            never,
            tempo_lag,
        })
}

/// A first sync, then later ones (hours apart), with a gateway and a quota already used.
fn syncs() -> impl Strategy<Value = (Scenario, World, Vec<i64>, u32, Vec<u8>)> {
    scenario().prop_flat_map(|s| {
        let origin = paris_date(s.now);
        (
            Just(s),
            world(origin),
            prop::collection::vec(1i64..60 * 60, 1..5),
            0u32..40,
            prop::collection::vec(prop::sample::select(vec![0u8, 0, 0, 0, 1, 2]), 0..64),
        )
    })
}

/// After a sync whose calls all went through, asking again at once finds only recent days
/// the gateway did not have; a meter whose yesterday is published is complete.
fn check_after_sync(state: &SyncState, world: &World) -> Result<(), TestCaseError> {
    let recent = |d: NaiveDate| (state.today - d).num_days() <= RECENT_RETRY_DAYS as i64;
    for call in plan(Step::Series, state) {
        let (_, what, range) = asked(&call).unwrap();
        for d in [range.start, sub_days(range.end, 1)] {
            let published = match what {
                Asked::Tempo => world.tempo(d, state.now),
                _ => world.enedis(d, state.now),
            };
            prop_assert!(!published && recent(d), "{call:?} again for {d}");
        }
    }
    let yesterday = sub_days(state.today, 1);
    if world.enedis(yesterday, state.now) {
        for m in state
            .meters
            .iter()
            .filter(|m| m.info.is_some() || state.generation == GatewayGeneration::V1)
        {
            prop_assert!(meter_complete(m, state.today), "{} incomplete", m.pdl());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn syncs_ask_each_day_until_they_have_it_within_the_quota(
        (s, world, steps, headroom, tries) in syncs(),
    ) {
        let mut state = sync_state(&s);
        let mut counts = Counts::new();
        // Other clients of the account used all but `headroom` calls of the day's budget.
        let limit = if s.generation == GatewayGeneration::V2 { 1000 } else { 500 };
        let probe = load_quota(&state, &counts);
        for m in &state.meters {
            let counter = probe.counter(&CallScope::Meter(m.pdl().clone()));
            counts.insert((counter.key, counter.day), budget_of(limit).saturating_sub(headroom));
        }
        let mut tries = tries.into_iter().cycle();
        let mut now = s.now;
        for step in steps.iter().copied().chain([0]) {
            reload(&mut state, now);
            let mut quota = load_quota(&state, &counts);
            let mut failed = BTreeSet::new();
            for step in Step::ALL {
                let calls = plan(step, &state);
                if step == Step::Series {
                    check_plan(&state, &calls)?;
                }
                execute(&mut state, &world, calls, (&mut quota, &mut counts, &mut failed), &mut tries)?;
            }
            if failed.is_empty() {
                check_after_sync(&state, &world)?;
            }
            now += Duration::minutes(step);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The quota alone

#[derive(Debug, Clone)]
enum QuotaOp {
    Admit(usize),
    Exhaust(usize),
    /// What v1's `/valid_access` says of the first meter: calls used, limit, reached.
    Report(Option<u32>, Option<u32>, bool),
}

fn quota_op() -> impl Strategy<Value = QuotaOp> {
    prop_oneof![
        8 => (0usize..6).prop_map(QuotaOp::Admit),
        1 => (0usize..6).prop_map(QuotaOp::Exhaust),
        1 => (prop::option::of(0u32..1100), prop::option::of(1u32..1100), prop::bool::weighted(0.1))
            .prop_map(|(u, l, r)| QuotaOp::Report(u, l, r)),
    ]
}

fn quota_scopes() -> [CallScope; 6] {
    let meter = |i: usize| CallScope::Meter(Pdl::parse(PDLS[i]).unwrap());
    [
        meter(0),
        meter(1),
        CallScope::Account,
        CallScope::Tempo,
        CallScope::Ecowatt,
        CallScope::TempoPrices,
    ]
}

/// One operation: an admitted call fits the budget in force and counts one; a refused one
/// changes nothing; a reported or exhausted day leaves no room.
fn apply_quota_op(quota: &mut Quota, op: &QuotaOp) -> Result<(), TestCaseError> {
    let scopes = quota_scopes();
    match op {
        QuotaOp::Admit(i) => {
            let scope = &scopes[*i];
            let (before, budget) = (quota.used(scope), budget_of(quota.limit(scope)));
            let admitted = quota.admit(scope).is_ok();
            prop_assert_eq!(
                admitted,
                before < budget,
                "{} at {}/{}",
                scope,
                before,
                budget
            );
            prop_assert_eq!(quota.used(scope), before + u32::from(admitted));
        }
        QuotaOp::Exhaust(i) => {
            let scope = &scopes[*i];
            quota.exhaust(scope);
            prop_assert!(quota.admit(scope).is_err());
        }
        QuotaOp::Report(used, limit, reached) => {
            let pdl = Pdl::parse(PDLS[0]).unwrap();
            let access = AccessInfo {
                valid: true,
                quota_used: *used,
                quota_limit: *limit,
                quota_reached: *reached,
                ..AccessInfo::default()
            };
            quota.report_access(&pdl, &access);
            let (now_used, now_limit) = quota.usage(&pdl);
            prop_assert!(used.is_none_or(|u| now_used >= u));
            prop_assert!(limit.is_none_or(|l| now_limit == l));
            if *reached {
                prop_assert!(quota.admit(&scopes[0]).is_err());
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn the_quota_admits_a_call_only_within_the_budget_in_force(
        now in instant(),
        v2 in any::<bool>(),
        used in 0u32..1100,
        ops in prop::collection::vec(quota_op(), 0..300),
    ) {
        let rule = if v2 { QuotaRule::V2 } else { QuotaRule::V1 };
        let keys = ["account".to_string(), PDLS[0].into(), PDLS[1].into()];
        let mut quota = Quota::new(rule, now, keys.into_iter().map(|k| (k, used)).collect(), BTreeMap::new());
        let scopes = quota_scopes();
        for op in &ops {
            let before: Vec<u32> = scopes.iter().map(|s| quota.used(s)).collect();
            apply_quota_op(&mut quota, op)?;
            let after: Vec<u32> = scopes.iter().map(|s| quota.used(s)).collect();
            prop_assert!(before.iter().zip(&after).all(|(b, a)| a >= b), "a count went down");
            // v2 counts the account's meters together, v1 each meter apart.
            if v2 {
                prop_assert!(after[0] == after[1] && after[1] == after[2]);
            }
        }
    }

    #[test]
    fn the_budget_stops_before_the_limit(limit in 0u32..100_000) {
        let budget = budget_of(limit);
        prop_assert!(budget <= limit);
        prop_assert!(limit < 20 || budget < limit);
        prop_assert!(limit - budget <= limit / 20 + 1);
    }
}

// ---------------------------------------------------------------------------------------
// Long-term statistics rows

/// Consecutive days from `first`, each with its curve (complete, in intervals of the given
/// minutes) or with its daily energy only.
fn history(first: NaiveDate, days: &[Option<u32>], watts: &[i64]) -> SeriesHistory {
    let mut history = SeriesHistory {
        load_curve: true,
        ..SeriesHistory::default()
    };
    for (i, shape) in days.iter().enumerate() {
        let day = add_days(first, i as u64);
        history.days.insert(day, Some(10_000 + i as i64));
        if let Some(minutes) = shape {
            history.curve.insert(day, curve(day, *minutes, watts));
        }
    }
    history
}

fn shape() -> impl Strategy<Value = Option<u32>> {
    prop::option::of(prop::sample::select(vec![10u32, 15, 30, 60]))
}

/// A day's rows: its 23, 24 or 25 hours from Paris midnight, or one row at midnight.
fn check_day_rows(
    day: NaiveDate,
    hours: &[&Slot<'_>],
    history: &SeriesHistory,
) -> Result<(), TestCaseError> {
    let midnight = start_of_day(day).with_timezone(&Utc);
    prop_assert_eq!(hours[0].start(), midnight);
    let kwh: f64 = hours.iter().map(|s| s.kwh()).sum();
    match history.curve.get(&day) {
        Some(curve) => {
            prop_assert_eq!(hours.len() as i64 * 60, expected_minutes(day));
            for (i, slot) in hours.iter().enumerate() {
                prop_assert_eq!(slot.start(), midnight + Duration::hours(i as i64));
            }
            let wh: f64 = curve.iter().map(CurveInterval::wh).sum();
            prop_assert!((kwh * 1000.0 - wh).abs() < 1e-6 * wh.max(1.0));
        }
        None => {
            prop_assert_eq!(hours.len(), 1);
            prop_assert_eq!(Some(kwh * 1000.0), history.days[&day].map(|wh| wh as f64));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn each_day_becomes_its_hours_or_one_row_and_sums_run_on(
        first in maybe_dst_day(),
        days in prop::collection::vec(shape(), 1..6),
        watts in prop::collection::vec(0i64..12_000, 1..30),
        last_sum in prop::option::of(0u32..1_000_000),
        max in 1usize..80,
    ) {
        let history = history(first, &days, &watts);
        // Late enough that a day without its curve no longer waits for it.
        let today = add_days(first, days.len() as u64 + CURVE_WAIT_DAYS);
        let last = last_sum.map(|sum| LastRow {
            start: start_of_day(sub_days(first, 1)).with_timezone(&Utc),
            sum: f64::from(sum),
        });
        let slots = slots(&history, last, today);
        for (i, _) in days.iter().enumerate() {
            let day = add_days(first, i as u64);
            let of_day: Vec<&Slot<'_>> = slots.iter().filter(|s| paris_date(s.start()) == day).collect();
            check_day_rows(day, &of_day, &history)?;
        }
        let rows = rows(&slots, last, |slot| Some(slot.kwh()));
        let mut sum = last.map_or(0.0, |l| l.sum);
        for row in &rows {
            sum += row.state;
            prop_assert!((row.sum - sum).abs() < 1e-6 * sum.max(1.0));
        }
        // Messages of whole days, at most `max` rows unless one day alone is longer.
        let parts = chunks(&rows, max);
        prop_assert_eq!(parts.concat(), rows.clone());
        for pair in parts.windows(2) {
            let (end, next) = (pair[0].last().unwrap(), pair[1][0]);
            prop_assert_ne!(paris_date(end.start), paris_date(next.start));
        }
        for part in &parts {
            let one_day = paris_date(part[0].start) == paris_date(part.last().unwrap().start);
            prop_assert!(part.len() <= max || one_day, "{} rows over {} days", part.len(), !one_day);
        }
    }
}
