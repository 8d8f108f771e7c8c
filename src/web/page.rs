//! What the page shows: read from the store in one pass ([`PageData::load`]), then drawn by
//! pure functions of it, the MQTT link and the time. Nothing here reads a secret: the
//! settings give names, PDLs, tariffs and where things are, never a credential.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::charts::{Column, Segment, bar_chart, ecowatt_strip, tempo_calendar};
use super::words::{Words, words};
use crate::calendar::paris_date;
use crate::check;
use crate::config::{GatewayGeneration, MeterSettings, Settings};
use crate::derived::{HistoryInputs, HistoryView, MeterView, Snapshot, Views};
use crate::model::TempoColor;
use crate::mqtt::LinkStatus;
use crate::store::{Store, StoreError, StoredDays};

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// The store's part of the page, as of one instant.
pub struct PageData {
    pub snapshot: Snapshot,
    /// One per configured meter, in the order of the options.
    pub histories: Vec<HistoryInputs>,
}

impl PageData {
    pub async fn load(
        store: &Store,
        settings: &Settings,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let today = paris_date(now);
        let snapshot = Snapshot::load(store, settings, today).await?;
        let mut histories = Vec::with_capacity(settings.meters.len());
        for meter in &settings.meters {
            histories.push(HistoryInputs::load(store, meter, today).await?);
        }
        Ok(Self {
            snapshot,
            histories,
        })
    }
}

/// An instant as the page shows it: Paris time to the minute.
fn shown_time(instant: DateTime<Utc>) -> String {
    let local = instant.with_timezone(&chrono_tz::Europe::Paris);
    local.format("%Y-%m-%d %H:%M").to_string()
}

/// The MQTT side as the page sees it: `None` before the daemon knows its broker.
pub struct Link<'a> {
    pub broker: &'a str,
    pub status: &'a LinkStatus,
}

/// Everything a drawing depends on besides the store.
pub struct Context<'a> {
    pub settings: &'a Settings,
    pub link: Option<Link<'a>>,
    pub now: DateTime<Utc>,
}

impl Context<'_> {
    fn words(&self) -> &'static Words {
        words(self.settings.language)
    }
}

/// The whole document. `base`: the ingress path the proxy announced, so that every relative
/// URL stays under it.
pub fn document(context: &Context, data: &PageData, base: Option<&str>) -> Markup {
    let w = context.words();
    html! {
        (DOCTYPE)
        html lang=(w.lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                // No icon: the browser would ask for /favicon.ico, outside the ingress prefix.
                link rel="icon" href="data:,";
                @if let Some(base) = base {
                    base href={ (base) "/" };
                }
                title { (w.title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { (w.title) }
                    button #test type="button" data-busy=(w.testing) { (w.test_button) }
                }
                p.note { (w.test_note) }
                div #test-result aria-live="polite" {}
                main #panel { (panel(context, data)) }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
}

/// The part that refreshes itself: status, meters, grid.
pub fn panel(context: &Context, data: &PageData) -> Markup {
    let w = context.words();
    let views = data.snapshot.views(context.now);
    html! {
        section.cards aria-label=(w.status) {
            (broker_card(context))
            (gateway_card(context, &views))
            (home_assistant_card(context, &views))
            (grid_card(w, &views))
        }
        @for ((meter, view), history) in context.settings.meters.iter().zip(&views.meters).zip(&data.histories) {
            section.meter {
                h2 { (meter.name) " " small { (meter.pdl) " · " (view.tariff) } }
                (meter_status(context, view, history))
                (meter_charts(w, history, paris_date(context.now)))
            }
        }
        (grid_charts(context, data, &views))
        p.note { (w.refreshed) " " (shown_time(context.now)) }
    }
}

/// One status card: a title, a state (ok, error or neutral) and its lines.
fn card(title: &str, state: &str, lines: Markup) -> Markup {
    html! {
        div.card.(state) {
            h3 { (title) }
            (lines)
        }
    }
}

fn broker_card(context: &Context) -> Markup {
    let w = context.words();
    if !context.settings.mqtt.enabled {
        return card(
            w.broker,
            "idle",
            html! { p { (w.off) " (MQTT_ENABLED=false)" } },
        );
    }
    let Some(link) = &context.link else {
        return card(w.broker, "idle", html! { p { (w.connecting) } });
    };
    let status = link.status;
    let state = if status.connected { "ok" } else { "bad" };
    card(
        w.broker,
        state,
        html! {
            p { (link.broker) }
            @if status.connected {
                @if let Some(since) = status.connected_since {
                    p { (w.connected_since) " " (shown_time(since)) }
                }
            } @else if let Some(error) = &status.last_error {
                p.error { (w.disconnected) " — " (error) }
            } @else {
                p { (w.connecting) }
            }
            p { (status.published) " " (w.published) }
        },
    )
}

fn gateway_card(context: &Context, views: &Views) -> Markup {
    let w = context.words();
    let settings = context.settings;
    let generation = match settings.gateway.generation {
        GatewayGeneration::V1 => "v1",
        GatewayGeneration::V2 => "v2",
    };
    let host = settings.gateway.base_url.host_str().unwrap_or_default();
    let statuses = views.meters.iter().map(|m| &m.status);
    let last_call = statuses.clone().filter_map(|s| s.last_sync).max();
    let failing = statuses.clone().any(|s| s.error.is_some());
    let quota = statuses
        .filter_map(|s| s.quota_used.zip(s.quota_limit))
        .max();
    let state = if failing { "bad" } else { "ok" };
    card(
        w.gateway,
        state,
        html! {
            p { (generation) " · " (host) }
            p { (w.last_call) " " (last_call.map_or(w.never.to_string(), shown_time)) }
            @if let Some((used, limit)) = quota {
                p { (w.quota) " " (used) "/" (limit) }
            }
        },
    )
}

fn home_assistant_card(context: &Context, views: &Views) -> Markup {
    let w = context.words();
    let settings = context.settings;
    if settings.statistics_websocket().is_none() {
        return card(w.home_assistant, "idle", html! { p { (w.off) } });
    }
    let statuses = || views.meters.iter().map(|m| &m.status);
    let error = statuses().find_map(|s| s.statistics_error.as_deref());
    let synced = statuses().any(|s| s.last_sync.is_some());
    let (state, line) = match (error, synced) {
        (Some(error), _) => ("bad", error),
        (None, true) => ("ok", w.statistics_ok),
        (None, false) => ("idle", w.statistics_pending),
    };
    card(w.home_assistant, state, html! { p.(state) { (line) } })
}

fn colour_name(w: &Words, colour: Option<TempoColor>) -> (&'static str, &'static str) {
    match colour {
        Some(TempoColor::Blue) => ("t-blue", w.blue),
        Some(TempoColor::White) => ("t-white", w.white),
        Some(TempoColor::Red) => ("t-red", w.red),
        None => ("t-none", w.unknown),
    }
}

fn grid_card(w: &Words, views: &Views) -> Markup {
    if views.tempo.is_none() && views.ecowatt.is_none() {
        return html! {};
    }
    let level_name = |level: u8| {
        let index = usize::from(level.saturating_sub(1));
        w.ecowatt_levels.get(index).copied().unwrap_or(w.unknown)
    };
    card(
        w.grid,
        "idle",
        html! {
            @if let Some(tempo) = &views.tempo {
                @for (day, colour) in [(w.tempo_today, tempo.today_color), (w.tempo_tomorrow, tempo.tomorrow_color)] {
                    @let (class, name) = colour_name(w, colour);
                    p { "Tempo " (day) " " span.chip.(class) { (name) } }
                }
            }
            @if let Some(ecowatt) = &views.ecowatt {
                @let level = ecowatt.level.unwrap_or(ecowatt.day_level);
                p { "EcoWatt " span.chip.{ "e-" (level) } { (level_name(level)) } }
            }
        },
    )
}

fn stored(w: &Words, label: &str, stored: &StoredDays) -> Markup {
    html! {
        @if let Some((first, last)) = stored.span {
            li { (label) ": " (stored.days) " " (w.days_stored) " (" (first) " → " (last) ")" }
        }
    }
}

fn meter_status(context: &Context, view: &MeterView, history: &HistoryInputs) -> Markup {
    let w = context.words();
    let status = &view.status;
    let (state, word) = match (&status.error, status.last_sync) {
        (Some(_), _) => ("bad", w.meter_error),
        (None, Some(_)) => ("ok", w.meter_ok),
        (None, None) => ("idle", w.meter_waiting),
    };
    html! {
        ul.status {
            li { span.chip.(state) { (word) } " " (w.last_sync) " "
                (status.last_sync.map_or(w.never.to_string(), shown_time)) }
            @if let Some(error) = &status.error {
                li.error { (error) }
            }
            (stored(w, w.consumption, &history.consumption_stored))
            (stored(w, w.production, &history.production_stored))
            @if let (Some(used), Some(limit)) = (status.quota_used, status.quota_limit) {
                li { (w.quota) " " (used) "/" (limit) }
            }
            @if let Some(note) = &status.note {
                li { (note) }
            }
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

fn grid_charts(context: &Context, data: &PageData, views: &Views) -> Markup {
    let w = context.words();
    let today = paris_date(context.now);
    html! {
        @if let (Some(tempo), Some(inputs)) = (&views.tempo, &data.snapshot.tempo) {
            section.network {
                h2 { (w.tempo_season) " " small { (tempo.season_start.year()) "–" (tempo.season_start.year() + 1) } }
                (tempo_calendar(tempo.season_start, &inputs.season, today, &w.months, [w.blue, w.white, w.red, w.unknown]))
                p.legend {
                    @for (class, name) in [("t-blue", w.blue), ("t-white", w.white), ("t-red", w.red)] {
                        span.key.(class) {} (name) " "
                    }
                }
            }
        }
        @if let Some(ecowatt) = &views.ecowatt {
            section.network {
                h2 { (w.ecowatt_today) }
                (ecowatt_strip(&ecowatt.hours, ecowatt.hour, &w.ecowatt_levels))
                @if let Some(message) = &ecowatt.message {
                    p.note { (message) }
                }
            }
        }
    }
}

/// The test button's answer: one line per part, as `check` prints it.
pub fn check_lines(lines: &[check::Line]) -> Markup {
    html! {
        ul.check {
            @for line in lines {
                @let class = match line.outcome {
                    check::Outcome::Ok(_) => "ok",
                    check::Outcome::Skipped(_) => "idle",
                    check::Outcome::Failed(_) => "bad",
                };
                li.(class) { code { (line.to_string()) } }
            }
        }
    }
}

/// Why the test did not run now.
pub fn check_refused(language: crate::config::Language, wait_seconds: u64) -> Markup {
    let w = words(language);
    html! { p.note { (w.test_wait) " " (wait_seconds) " s." } }
}
