//! The page's charts, drawn on the server as inline SVG (pure): no script, no library, and
//! colours from CSS classes, so that light and dark mode restyle them.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use maud::{Markup, html};

use crate::calendar::add_days;
use crate::model::TempoColor;

/// The drawing's coordinates; the SVG scales to the width of its box.
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 18.0;
const TOP: f64 = 8.0;

/// One part of a bar: its CSS class and its value.
pub struct Segment {
    pub class: &'static str,
    pub value: f64,
}

/// One x position: an axis label, a tooltip, and bars side by side, each a stack of
/// segments.
pub struct Column {
    pub label: String,
    pub tip: String,
    pub bars: Vec<Vec<Segment>>,
}

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `value` (the top of the axis).
fn axis_top(value: f64) -> f64 {
    if !value.is_finite() || value <= 0.0 {
        return 1.0;
    }
    let decade = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|step| step * decade)
        .find(|top| *top >= value)
        .unwrap_or(10.0 * decade)
}

/// A coordinate to a tenth of a unit: finer would only lengthen the page.
fn tenth(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// A number for an axis: no decimals from 10 on, one below.
fn axis_number(value: f64) -> String {
    match value >= 10.0 || value == 0.0 {
        true => format!("{value:.0}"),
        false => format!("{value:.1}"),
    }
}

/// Bars over `columns`, an axis label every `label_every` columns.
pub fn bar_chart(columns: &[Column], label_every: usize, description: &str) -> Markup {
    let total = |bar: &Vec<Segment>| bar.iter().map(|s| s.value.max(0.0)).sum::<f64>();
    let highest = columns
        .iter()
        .flat_map(|c| c.bars.iter().map(total))
        .fold(0.0, f64::max);
    let top = axis_top(highest);
    let plot_height = HEIGHT - TOP - BOTTOM;
    let y = |value: f64| HEIGHT - BOTTOM - value / top * plot_height;
    let slot = (WIDTH - LEFT) / columns.len().max(1) as f64;
    // One path per class, not an element per bar: a page of three meters would otherwise
    // hold a thousand of them. The tooltips are one transparent strip per column.
    let paths = layout(columns, y);
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(description) {
            @for level in [0.0, top / 2.0, top] {
                line.grid x1=(LEFT) x2=(WIDTH) y1=(y(level)) y2=(y(level)) {}
                text.axis x=(LEFT - 4.0) y=(y(level) + 4.0) text-anchor="end" { (axis_number(level)) }
            }
            @for (class, path) in &paths {
                path.(class) d=(path) {}
            }
            @for (i, column) in columns.iter().enumerate() {
                rect.hit x=(tenth(LEFT + slot * i as f64)) y=(TOP) width=(tenth(slot)) height=(plot_height) {
                    title { (column.tip) }
                }
            }
            @for (i, column) in columns.iter().enumerate().step_by(label_every.max(1)) {
                text.axis x=(LEFT + slot * (i as f64 + 0.5)) y=(HEIGHT - 4.0) text-anchor="middle" { (column.label) }
            }
        }
    }
}

/// The outline of every segment, by class: bars side by side in the middle 80 % of their
/// column's slot, segments stacked from the axis up.
fn layout(columns: &[Column], y: impl Fn(f64) -> f64) -> BTreeMap<&'static str, String> {
    let slot = (WIDTH - LEFT) / columns.len().max(1) as f64;
    let mut paths: BTreeMap<&str, String> = BTreeMap::new();
    for (i, column) in columns.iter().enumerate() {
        let width = tenth(slot * 0.8 / column.bars.len().max(1) as f64);
        for (j, bar) in column.bars.iter().enumerate() {
            let x = tenth(LEFT + slot * (i as f64 + 0.1) + width * j as f64);
            let mut base = 0.0;
            for segment in bar.iter().filter(|s| s.value > 0.0) {
                let (bottom, top) = (tenth(y(base)), tenth(y(base + segment.value)));
                let path = paths.entry(segment.class).or_default();
                path.push_str(&format!("M{x} {top}h{width}V{bottom}h-{width}z"));
                base += segment.value;
            }
        }
    }
    paths
}

/// Cell size and gap of the Tempo calendar.
const CELL: f64 = 14.0;
const STEP: f64 = 16.0;
const MONTH_LABEL: f64 = 44.0;

/// The Tempo season from `season_start` (1 September) as a calendar: a row per month, a
/// cell per day, coloured when known; today outlined. One path per colour (a season is 365
/// cells: as many elements would slow the page down), named by its colour.
pub fn tempo_calendar(
    season_start: NaiveDate,
    colours: &BTreeMap<NaiveDate, TempoColor>,
    today: NaiveDate,
    month_names: &[&str; 12],
    colour_names: [&str; 4],
) -> Markup {
    let width = MONTH_LABEL + 31.0 * STEP;
    let height = 12.0 * STEP;
    let cell = |day: NaiveDate| {
        let row = (day.month0() + 12 - 8) % 12;
        (
            MONTH_LABEL + f64::from(day.day0()) * STEP,
            f64::from(row) * STEP,
        )
    };
    let mut paths: [String; 4] = Default::default();
    let days = (0..366)
        .map(|n| add_days(season_start, n))
        .take_while(|d| *d == season_start || !(d.month() == 9 && d.day() == 1));
    for day in days {
        let index = match colours.get(&day) {
            Some(TempoColor::Blue) => 0,
            Some(TempoColor::White) => 1,
            Some(TempoColor::Red) => 2,
            None => 3,
        };
        let (x, y) = cell(day);
        paths[index].push_str(&format!("M{x} {y}h{CELL}v{CELL}h-{CELL}z"));
    }
    let classes = ["t-blue", "t-white", "t-red", "t-none"];
    let (today_x, today_y) = cell(today);
    html! {
        svg.chart.calendar viewBox={ "0 0 " (width) " " (height) } role="img" aria-label="Tempo" {
            @for row in 0..12u32 {
                @let month = (8 + row) % 12;
                text.axis x="0" y=(f64::from(row) * STEP + CELL - 2.0) { (month_names[month as usize]) }
            }
            @for ((class, name), path) in classes.iter().zip(colour_names).zip(&paths) {
                @if !path.is_empty() {
                    path.(class) d=(path) { title { (name) } }
                }
            }
            rect.today x=(today_x) y=(today_y) width=(CELL) height=(CELL) fill="none" {}
        }
    }
}

/// EcoWatt's 24 hours as a strip of cells coloured by level; the current hour outlined.
pub fn ecowatt_strip(hours: &[u8], now_hour: u32, level_names: &[&str; 3]) -> Markup {
    let step = (WIDTH - LEFT) / 24.0;
    html! {
        svg.chart.strip viewBox={ "0 0 " (WIDTH) " 44" } role="img" aria-label="EcoWatt" {
            @for (hour, level) in hours.iter().take(24).enumerate() {
                @let x = LEFT + step * hour as f64;
                @let name = level_names.get(usize::from(level.saturating_sub(1))).copied().unwrap_or("?");
                rect.{ "e-" (level) }.now[hour as u32 == now_hour]
                    x=(x + 1.0) y="2" width=(step - 2.0) height="22" rx="2" {
                    title { (format!("{hour:02}:00")) " " (name) }
                }
                @if hour % 3 == 0 {
                    text.axis x=(x + step / 2.0) y="40" text-anchor="middle" { (format!("{hour}h")) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_axis_tops_at_a_round_number_at_or_above_the_highest_bar() {
        assert_eq!(axis_top(0.0), 1.0);
        assert_eq!(axis_top(f64::NAN), 1.0);
        assert_eq!(axis_top(7.3), 10.0);
        assert_eq!(axis_top(12.0), 20.0);
        assert_eq!(axis_top(21.0), 25.0);
        assert_eq!(axis_top(400.0), 500.0);
        assert_eq!(axis_top(1000.0), 1000.0);
    }

    #[test]
    fn stacked_segments_sit_on_each_other_and_the_highest_reaches_the_top() {
        let segment = |class, value| Segment { class, value };
        let columns = [Column {
            label: "1".into(),
            tip: "the day".into(),
            bars: vec![vec![segment("hc", 5.0), segment("hp", 5.0)]],
        }];
        let svg = bar_chart(&columns, 1, "test").into_string();
        // Axis 0..10 over 154 units: HC from y=162 up to 85, HP from 85 up to the top, 8.
        assert!(
            svg.contains(r#"<path class="hc" d="M99.6 85h444.8V162h-444.8z">"#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"<path class="hp" d="M99.6 8h444.8V85h-444.8z">"#),
            "{svg}"
        );
        assert!(svg.contains("<title>the day</title>"), "{svg}");
    }

    #[test]
    fn a_season_has_a_cell_per_day_and_today_is_outlined() {
        let colours = BTreeMap::from([(d("2024-09-02"), TempoColor::Red)]);
        let names = [""; 12];
        let calendar = |start, today| {
            let svg = tempo_calendar(d(start), &colours, d(today), &names, ["b", "w", "r", "?"]);
            svg.into_string()
        };
        let cells = |svg: &str| svg.matches('z').count();
        let svg = calendar("2024-09-01", "2024-09-02");
        assert_eq!(cells(&svg), 365, "{svg}");
        let red = r#"<path class="t-red" d="M60 0h14v14h-14z"><title>r</title></path>"#;
        assert!(svg.contains(red), "{svg}");
        assert!(svg.contains(r#"<rect class="today" x="60" y="0""#), "{svg}");
        assert_eq!(cells(&calendar("2023-09-01", "2024-01-01")), 366);
    }
}
