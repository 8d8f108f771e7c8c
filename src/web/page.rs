//! What the page shows: the meters' status, Tempo and EcoWatt read from the store at each
//! load ([`PageData::load`], a few small queries), the meters' drawn history kept while the
//! store does not change; then drawn by pure functions of it, the MQTT link and the time.
//! Nothing here reads a secret: the settings give names, PDLs, tariffs and where things
//! are, never a credential.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::charts::{ecowatt_strip, tempo_calendar};
use super::drawn::DrawnHistory;
use super::words::{Words, words};
use crate::calendar::paris_date;
use crate::check;
use crate::config::Settings;
use crate::derived::{EcowattInputs, EcowattView, StatusView, TempoInputs, TempoView, grid_inputs};
use crate::model::TempoColor;
use crate::mqtt::LinkStatus;
use crate::store::{Location, Store, StoreError};

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// What the page shows, as of one instant.
pub struct PageData {
    /// One per configured meter, in the order of the options.
    pub statuses: Vec<StatusView>,
    /// One per configured meter: drawn when the store last changed.
    pub histories: Arc<Vec<DrawnHistory>>,
    /// `None` when the Tempo device is off.
    pub tempo: Option<TempoInputs>,
    /// `None` when the EcoWatt device is off.
    pub ecowatt: Option<EcowattInputs>,
    /// Where the data is kept (SQLite or PostgreSQL).
    pub store: Location,
}

impl PageData {
    /// Reads what changes from one load to the next; `histories` is the drawn history.
    pub async fn load(
        store: &Store,
        settings: &Settings,
        now: DateTime<Utc>,
        histories: Arc<Vec<DrawnHistory>>,
    ) -> Result<Self, StoreError> {
        let today = paris_date(now);
        let mut statuses = Vec::with_capacity(settings.meters.len());
        for meter in &settings.meters {
            statuses.push(StatusView::from(store.meter_status(&meter.pdl).await?));
        }
        let (tempo, ecowatt) = grid_inputs(store, settings, today).await?;
        Ok(Self {
            statuses,
            histories,
            tempo,
            ecowatt,
            store: store.location().clone(),
        })
    }
}

/// Tempo and EcoWatt as of now.
struct GridViews {
    tempo: Option<TempoView>,
    ecowatt: Option<EcowattView>,
}

impl GridViews {
    fn of(data: &PageData, now: DateTime<Utc>) -> Self {
        let today = paris_date(now);
        Self {
            tempo: data.tempo.as_ref().map(|t| TempoView::compute(t, today)),
            ecowatt: data
                .ecowatt
                .as_ref()
                .and_then(|e| EcowattView::compute(e, now)),
        }
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
    let grid = GridViews::of(data, context.now);
    let meters = context.settings.meters.iter().zip(&data.statuses);
    html! {
        section.cards aria-label=(w.status) {
            (broker_card(context))
            (gateway_card(context, &data.statuses))
            (card(w.store, "ok", html! { p { (data.store) } }))
            (home_assistant_card(context, &data.statuses))
            (grid_card(w, &grid))
        }
        @for ((meter, status), drawn) in meters.zip(data.histories.iter()) {
            section.meter {
                h2 { (meter.name) " " small { (meter.pdl) " · " (meter.tariff.as_str()) } }
                (meter_status(context, status, drawn))
                (PreEscaped(&drawn.charts))
            }
        }
        (grid_charts(context, data, &grid))
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

fn gateway_card(context: &Context, statuses: &[StatusView]) -> Markup {
    let w = context.words();
    let settings = context.settings;
    let generation = settings.gateway.generation.as_str();
    let host = settings.gateway.base_url.host_str().unwrap_or_default();
    let statuses = statuses.iter();
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

fn home_assistant_card(context: &Context, statuses: &[StatusView]) -> Markup {
    let w = context.words();
    let settings = context.settings;
    if settings.statistics_websocket().is_none() {
        return card(w.home_assistant, "idle", html! { p { (w.off) } });
    }
    let statuses = || statuses.iter();
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

fn grid_card(w: &Words, views: &GridViews) -> Markup {
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

fn meter_status(context: &Context, status: &StatusView, drawn: &DrawnHistory) -> Markup {
    let w = context.words();
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
            (PreEscaped(&drawn.stored))
            @if let (Some(used), Some(limit)) = (status.quota_used, status.quota_limit) {
                li { (w.quota) " " (used) "/" (limit) }
            }
        }
    }
}

fn grid_charts(context: &Context, data: &PageData, views: &GridViews) -> Markup {
    let w = context.words();
    let today = paris_date(context.now);
    html! {
        @if let (Some(tempo), Some(inputs)) = (&views.tempo, &data.tempo) {
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
