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

/// One value of a column: its class, what it is, its value and unit.
struct Part<'a> {
    class: &'static str,
    label: &'a str,
    value: f64,
    unit: &'static str,
}

/// A column of bars of `parts`; its tooltip says every value: `when: label value unit · …`.
fn column(label: String, when: &str, bars: Vec<Vec<Part>>) -> Column {
    let values: Vec<String> = bars
        .iter()
        .flatten()
        .map(|p| format!("{} {:.2} {}", p.label, p.value, p.unit))
        .collect();
    let tip = match values.is_empty() {
        true => when.to_string(),
        false => format!("{when}: {}", values.join(" · ")),
    };
    let bars = bars
        .into_iter()
        .map(|bar| {
            let segments = bar.into_iter().map(|p| Segment {
                class: p.class,
                value: p.value,
            });
            segments.collect()
        })
        .collect();
    Column { label, tip, bars }
}

/// The 30 days: HC/HP stacked where the curve splits the day, else the day's total;
/// production beside.
fn daily_columns(w: &Words, meter: &MeterSettings, view: &HistoryView) -> Vec<Column> {
    let energy = |class, label, wh: f64| Part {
        class,
        label,
        value: kwh(wh),
        unit: "kWh",
    };
    let columns = view.days.iter().map(|day| {
        let consumption = match (day.hchp_wh, day.consumption_wh) {
            (Some((hc, hp)), _) => vec![energy("hc", w.offpeak, hc), energy("hp", w.peak, hp)],
            (None, wh) => bar(wh.map(|wh| energy("use", w.consumption, wh as f64))),
        };
        let production = day
            .production_wh
            .map(|wh| energy("prod", w.production, wh as f64));
        let when = day.date.format("%Y-%m-%d").to_string();
        let bars = bars(meter, consumption, bar(production));
        column(day.date.format("%d/%m").to_string(), &when, bars)
    });
    columns.collect()
}

fn cost_columns(w: &Words, view: &HistoryView) -> Vec<Column> {
    let columns = view.days.iter().map(|day| {
        let cost = day.cost_eur.map(|eur| Part {
            class: "cost",
            label: w.cost,
            value: eur,
            unit: "€",
        });
        let when = day.date.format("%Y-%m-%d").to_string();
        column(day.date.format("%d/%m").to_string(), &when, vec![bar(cost)])
    });
    columns.collect()
}

fn month_columns(w: &Words, meter: &MeterSettings, view: &HistoryView) -> Vec<Column> {
    let columns = view.months.iter().map(|month| {
        let name = w.months[month.month.month0() as usize];
        let energy = |class, label, wh: Option<i64>| {
            bar(wh.map(|wh| Part {
                class,
                label,
                value: kwh(wh as f64),
                unit: "kWh",
            }))
        };
        let bars = bars(
            meter,
            energy("use", w.consumption, month.consumption_wh),
            energy("prod", w.production, month.production_wh),
        );
        let when = format!("{name} {}", month.month.year());
        column(name.to_string(), &when, bars)
    });
    columns.collect()
}

/// A bar of one part, or none.
fn bar(part: Option<Part>) -> Vec<Part> {
    part.into_iter().collect()
}

/// The bars of the series the meter has.
fn bars<'a>(
    meter: &MeterSettings,
    consumption: Vec<Part<'a>>,
    production: Vec<Part<'a>>,
) -> Vec<Vec<Part<'a>>> {
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
