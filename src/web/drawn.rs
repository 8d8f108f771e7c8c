//! A meter's history as the page draws it — the days stored, the charts of the last 30 days
//! and 24 months — from [`HistoryInputs`] (pure). It changes only when the store does, so
//! the page keeps it between loads (see `WebState`).

use chrono::{Datelike, NaiveDate};
use maud::{Markup, html};

use super::charts::{Column, Segment, bar_chart};
use super::words::Words;
use crate::config::MeterSettings;
use crate::derived::{HistoryInputs, HistoryView};
use crate::store::StoredDays;

/// One meter's drawn history.
pub struct DrawnHistory {
    /// The lines "N days stored (first → last)" of each series.
    pub stored: String,
    pub charts: String,
}

impl DrawnHistory {
    /// Draws `history` as of the Paris day `today`.
    pub fn draw(w: &Words, history: &HistoryInputs, today: NaiveDate) -> Self {
        let stored = html! {
            (stored(w, w.consumption, &history.consumption_stored))
            (stored(w, w.production, &history.production_stored))
        };
        Self {
            stored: stored.into_string(),
            charts: meter_charts(w, history, today).into_string(),
        }
    }
}

fn stored(w: &Words, label: &str, stored: &StoredDays) -> Markup {
    html! {
        @if let Some((first, last)) = stored.span {
            li { (label) ": " (stored.days) " " (w.days_stored) " (" (first) " → " (last) ")" }
        }
    }
}

fn kwh(wh: f64) -> f64 {
    wh / 1000.0
}

/// A segment with its tooltip: `label date: value unit`.
fn segment(class: &'static str, label: &str, when: &str, value: f64, unit: &str) -> Segment {
    Segment {
        class,
        value,
        title: format!("{label} {when}: {value:.2} {unit}"),
    }
}

/// The 30 days: HC/HP stacked where the curve splits the day, else the day's total;
/// production beside.
fn daily_columns(w: &Words, meter: &MeterSettings, view: &HistoryView) -> Vec<Column> {
    let columns = view.days.iter().map(|day| {
        let when = day.date.format("%Y-%m-%d").to_string();
        let consumption = match (day.hchp_wh, day.consumption_wh) {
            (Some((hc, hp)), _) => vec![
                segment("hc", w.offpeak, &when, kwh(hc), "kWh"),
                segment("hp", w.peak, &when, kwh(hp), "kWh"),
            ],
            (None, wh) => {
                bar(wh.map(|wh| segment("use", w.consumption, &when, kwh(wh as f64), "kWh")))
            }
        };
        let production = day
            .production_wh
            .map(|wh| segment("prod", w.production, &when, kwh(wh as f64), "kWh"));
        Column {
            label: day.date.format("%d/%m").to_string(),
            bars: bars(meter, consumption, bar(production)),
        }
    });
    columns.collect()
}

fn cost_columns(w: &Words, view: &HistoryView) -> Vec<Column> {
    let columns = view.days.iter().map(|day| {
        let when = day.date.format("%Y-%m-%d").to_string();
        let cost = day
            .cost_eur
            .map(|eur| segment("cost", w.cost, &when, eur, "€"));
        Column {
            label: day.date.format("%d/%m").to_string(),
            bars: vec![bar(cost)],
        }
    });
    columns.collect()
}

fn month_columns(w: &Words, meter: &MeterSettings, view: &HistoryView) -> Vec<Column> {
    let columns = view.months.iter().map(|month| {
        let name = w.months[month.month.month0() as usize];
        let when = format!("{name} {}", month.month.year());
        let energy = |class, label, wh: Option<i64>| {
            bar(wh.map(|wh| segment(class, label, &when, kwh(wh as f64), "kWh")))
        };
        Column {
            label: name.to_string(),
            bars: bars(
                meter,
                energy("use", w.consumption, month.consumption_wh),
                energy("prod", w.production, month.production_wh),
            ),
        }
    });
    columns.collect()
}

/// A bar of one segment, or none.
fn bar(segment: Option<Segment>) -> Vec<Segment> {
    segment.into_iter().collect()
}

/// The bars of the series the meter has.
fn bars(
    meter: &MeterSettings,
    consumption: Vec<Segment>,
    production: Vec<Segment>,
) -> Vec<Vec<Segment>> {
    let mut bars = Vec::with_capacity(2);
    if meter.consumption {
        bars.push(consumption);
    }
    if meter.production {
        bars.push(production);
    }
    bars
}

fn meter_charts(w: &Words, history: &HistoryInputs, today: NaiveDate) -> Markup {
    let view = HistoryView::compute(history, today);
    let meter = &history.recent.meter;
    let has_data = view
        .days
        .iter()
        .any(|d| d.consumption_wh.is_some() || d.production_wh.is_some())
        || view
            .months
            .iter()
            .any(|m| m.consumption_wh.is_some() || m.production_wh.is_some());
    let has_cost = view.days.iter().any(|d| d.cost_eur.is_some());
    html! {
        @if !has_data {
            p.note { (w.no_data) }
        } @else {
            figure {
                figcaption { (w.last_30_days) }
                (bar_chart(&daily_columns(w, meter, &view), 7, w.last_30_days))
                (legend(w, meter.production, &view))
            }
            @if has_cost {
                figure {
                    figcaption { (w.cost_per_day) }
                    (bar_chart(&cost_columns(w, &view), 7, w.cost_per_day))
                }
            }
            figure {
                figcaption { (w.last_24_months) }
                (bar_chart(&month_columns(w, meter, &view), 3, w.last_24_months))
            }
        }
    }
}

/// The keys of the daily chart: HC/HP for the days the curve splits, consumption for the
/// others, production when the meter has it.
fn legend(w: &Words, production: bool, view: &HistoryView) -> Markup {
    let consumption = view.days.iter().filter(|d| d.consumption_wh.is_some());
    let split = consumption.clone().any(|d| d.hchp_wh.is_some());
    let whole = consumption.clone().any(|d| d.hchp_wh.is_none());
    html! {
        p.legend {
            @if split {
                span.key.hc {} (w.offpeak) " " span.key.hp {} (w.peak) " "
            }
            @if whole {
                span.key.use {} (w.consumption) " "
            }
            @if production {
                span.key.prod {} (w.production)
            }
        }
    }
}
