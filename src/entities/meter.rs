//! The Linky meter device: its state topics and entities.

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::{Catalog, Device, EntityDef, StateTopic, sensor};
use crate::calendar::{
    format_offset, format_paris, month_label, month_start, paris_instant, start_of_day, week_label,
    week_start, year_start,
};
use crate::config::MeterSettings;
use crate::derived::{Cost, EnergyView, MeterView, kwh, round};
use crate::model::{DayEnergy, Pdl, Tariff, TempoColor};
use crate::tariffs;

/// The device of a meter.
pub fn device(meter: &MeterSettings, topic_prefix: &str) -> Device {
    device_of(&meter.pdl, &meter.name, topic_prefix)
}

/// The device of the meter `pdl` named `name` (a meter no longer configured has only its PDL).
pub fn device_of(pdl: &Pdl, name: &str, topic_prefix: &str) -> Device {
    Device {
        id: format!("med_{pdl}"),
        entity_prefix: format!("linky_{pdl}"),
        name: format!("MyElectricalData - {name}"),
        model: "Linky",
        serial_number: Some(pdl.to_string()),
        topic_root: format!("{topic_prefix}/{pdl}"),
    }
}

/// Energy of a period (a day, a week…): `total` with `last_reset` at the period's start, as
/// Home Assistant wants for values that go up and down between periods.
const ENERGY_OF_PERIOD: EntityDef<MeterSettings> = EntityDef {
    device_class: Some("energy"),
    unit: Some("kWh"),
    state_class: Some("total"),
    last_reset: true,
    ..sensor()
};

const MONEY_OF_PERIOD: EntityDef<MeterSettings> = EntityDef {
    device_class: Some("monetary"),
    unit: Some("EUR"),
    state_class: Some("total"),
    last_reset: true,
    ..sensor()
};

const DIAGNOSTIC: EntityDef<MeterSettings> = EntityDef {
    topic: "status",
    entity_category: Some("diagnostic"),
    ..sensor()
};

/// Cost entities exist only when the prices they need are known (and, for HC/HP, the load
/// curve that splits the energy).
fn costs_enabled(m: &MeterSettings) -> bool {
    m.consumption && price_enabled(m) && (m.tariff != Tariff::HcHp || m.load_curve)
}

fn price_enabled(m: &MeterSettings) -> bool {
    let p = &m.prices;
    match m.tariff {
        Tariff::Base => p.base.is_some(),
        Tariff::HcHp => p.hc.is_some() && p.hp.is_some(),
        Tariff::Tempo => {
            m.tempo_prices_from_gateway
                || tariffs::tempo_prices_complete(&tariffs::tempo_prices(p, None))
        }
    }
}

/// The meter device's entities and topics.
pub const CATALOG: Catalog<MeterSettings, MeterView> = Catalog {
    entities: ENTITIES,
    topics: TOPICS,
};

/// Every entity of a meter device.
pub const ENTITIES: &[EntityDef<MeterSettings>] = &[
    EntityDef {
        key: "consumption_daily",
        topic: "consumption/daily",
        enabled: |m| m.consumption,
        ..ENERGY_OF_PERIOD
    },
    EntityDef {
        key: "consumption_yesterday",
        topic: "consumption/yesterday",
        enabled: |m| m.consumption,
        ..ENERGY_OF_PERIOD
    },
    EntityDef {
        key: "consumption_weekly",
        topic: "consumption/weekly",
        enabled: |m| m.consumption,
        ..ENERGY_OF_PERIOD
    },
    EntityDef {
        key: "consumption_monthly",
        topic: "consumption/monthly",
        enabled: |m| m.consumption,
        ..ENERGY_OF_PERIOD
    },
    EntityDef {
        key: "consumption_yearly",
        topic: "consumption/yearly",
        enabled: |m| m.consumption,
        ..ENERGY_OF_PERIOD
    },
    EntityDef {
        key: "consumption_max_power",
        topic: "consumption/max_power",
        device_class: Some("apparent_power"),
        unit: Some("VA"),
        state_class: Some("measurement"),
        enabled: |m| m.consumption,
        ..sensor()
    },
    EntityDef {
        key: "consumption_hc",
        topic: "consumption/hchp",
        value_template: "{{ value_json.hc }}",
        enabled: |m| m.consumption && m.load_curve,
        ..ENERGY_OF_PERIOD
    },
    EntityDef {
        key: "consumption_hp",
        topic: "consumption/hchp",
        value_template: "{{ value_json.hp }}",
        enabled: |m| m.consumption && m.load_curve,
        ..ENERGY_OF_PERIOD
    },
    EntityDef {
        key: "production_daily",
        topic: "production/daily",
        enabled: |m| m.production,
        ..ENERGY_OF_PERIOD
    },
    EntityDef {
        key: "production_yesterday",
        topic: "production/yesterday",
        enabled: |m| m.production,
        ..ENERGY_OF_PERIOD
    },
    EntityDef {
        key: "production_weekly",
        topic: "production/weekly",
        enabled: |m| m.production,
        ..ENERGY_OF_PERIOD
    },
    EntityDef {
        key: "production_monthly",
        topic: "production/monthly",
        enabled: |m| m.production,
        ..ENERGY_OF_PERIOD
    },
    EntityDef {
        key: "production_yearly",
        topic: "production/yearly",
        enabled: |m| m.production,
        ..ENERGY_OF_PERIOD
    },
    EntityDef {
        key: "cost_daily",
        topic: "cost/daily",
        enabled: costs_enabled,
        ..MONEY_OF_PERIOD
    },
    EntityDef {
        key: "cost_monthly",
        topic: "cost/monthly",
        enabled: costs_enabled,
        ..MONEY_OF_PERIOD
    },
    EntityDef {
        key: "price_current",
        topic: "price/current",
        unit: Some("EUR/kWh"),
        state_class: Some("measurement"),
        icon: Some("mdi:cash"),
        enabled: price_enabled,
        ..sensor()
    },
    EntityDef {
        key: "sync_status",
        value_template: "{{ value_json.state }}",
        device_class: Some("enum"),
        options: &["ok", "error"],
        ..DIAGNOSTIC
    },
    EntityDef {
        key: "last_error",
        // Home Assistant keeps at most 255 characters of a state.
        value_template: "{{ (value_json.message or '-')[:255] }}",
        icon: Some("mdi:alert-circle-outline"),
        ..DIAGNOSTIC
    },
    EntityDef {
        key: "last_sync",
        value_template: "{{ value_json.last_sync }}",
        device_class: Some("timestamp"),
        ..DIAGNOSTIC
    },
    EntityDef {
        key: "consent_expiration",
        value_template: "{{ value_json.consent_expiration }}",
        device_class: Some("timestamp"),
        ..DIAGNOSTIC
    },
    EntityDef {
        key: "quota_used",
        value_template: "{{ value_json.quota_used }}",
        unit: Some("calls"),
        state_class: Some("measurement"),
        icon: Some("mdi:counter"),
        ..DIAGNOSTIC
    },
];

/// Every state topic of a meter device.
pub const TOPICS: &[StateTopic<MeterView>] = &[
    StateTopic {
        path: "consumption/daily",
        payload: |v| latest(v, v.consumption.as_ref()),
    },
    StateTopic {
        path: "consumption/yesterday",
        payload: |v| previous(v, v.consumption.as_ref()),
    },
    StateTopic {
        path: "consumption/weekly",
        payload: |v| Some(weekly(v, v.consumption.as_ref()?)),
    },
    StateTopic {
        path: "consumption/monthly",
        payload: |v| Some(monthly(v, v.consumption.as_ref()?)),
    },
    StateTopic {
        path: "consumption/yearly",
        payload: |v| Some(yearly(v, v.consumption.as_ref()?)),
    },
    StateTopic {
        path: "consumption/max_power",
        payload: max_power,
    },
    StateTopic {
        path: "consumption/hchp",
        payload: hchp,
    },
    StateTopic {
        path: "production/daily",
        payload: |v| latest(v, v.production.as_ref()),
    },
    StateTopic {
        path: "production/yesterday",
        payload: |v| previous(v, v.production.as_ref()),
    },
    StateTopic {
        path: "production/weekly",
        payload: |v| Some(weekly(v, v.production.as_ref()?)),
    },
    StateTopic {
        path: "production/monthly",
        payload: |v| Some(monthly(v, v.production.as_ref()?)),
    },
    StateTopic {
        path: "production/yearly",
        payload: |v| Some(yearly(v, v.production.as_ref()?)),
    },
    StateTopic {
        path: "cost/daily",
        payload: |v| v.cost.daily.map(|c| cost(v, c, "date", c.date.to_string())),
    },
    StateTopic {
        path: "cost/monthly",
        payload: |v| {
            v.cost
                .monthly
                .map(|c| cost(v, c, "month", month_label(c.date)))
        },
    },
    StateTopic {
        path: "price/current",
        payload: price,
    },
    StateTopic {
        path: "status",
        payload: |v| Some(status(v)),
    },
];

/// The most recent day of a series (`…/daily`).
fn latest(view: &MeterView, energy: Option<&EnergyView>) -> Option<Value> {
    energy.map(|e| daily(view, e, Some(&e.latest), e.latest.date))
}

/// The day before it (`…/yesterday`).
fn previous(view: &MeterView, energy: Option<&EnergyView>) -> Option<Value> {
    energy.map(|e| daily(view, e, e.previous.as_ref(), e.previous_date()))
}

/// `{"value":15.2,"unit":"kWh","date":…,"pdl":…,"quality":…,"timestamp":…,"last_reset":…}`;
/// `value` is `null` when the day is not known (Home Assistant shows `unknown`, never a
/// stale number).
fn daily(view: &MeterView, energy: &EnergyView, day: Option<&DayEnergy>, date: NaiveDate) -> Value {
    json!({
        "value": day.map(|d| kwh(d.wh)),
        "unit": "kWh",
        "date": date.to_string(),
        "pdl": view.pdl.as_str(),
        "quality": day.and_then(|d| d.quality.clone()),
        "timestamp": format_paris(day.unwrap_or(&energy.latest).fetched_at),
        "last_reset": format_offset(start_of_day(date)),
    })
}

fn period(
    view: &MeterView,
    energy: &EnergyView,
    wh: i64,
    days: u32,
    label: (&str, String),
    start: NaiveDate,
) -> Value {
    json!({
        "value": kwh(wh),
        "unit": "kWh",
        label.0: label.1,
        "pdl": view.pdl.as_str(),
        "days": days,
        "until": energy.latest.date.to_string(),
        "timestamp": format_paris(energy.latest.fetched_at),
        "last_reset": format_offset(start_of_day(start)),
    })
}

fn weekly(view: &MeterView, e: &EnergyView) -> Value {
    period(
        view,
        e,
        e.week.wh,
        e.week.days,
        ("week", week_label(e.latest.date)),
        week_start(e.latest.date),
    )
}

fn monthly(view: &MeterView, e: &EnergyView) -> Value {
    let start = month_start(e.latest.date);
    period(
        view,
        e,
        e.month.wh,
        e.month.days,
        ("month", month_label(e.latest.date)),
        start,
    )
}

fn yearly(view: &MeterView, e: &EnergyView) -> Value {
    let start = year_start(e.latest.date);
    period(
        view,
        e,
        e.year.wh,
        e.year.days,
        ("year", chrono::Datelike::year(&e.latest.date).to_string()),
        start,
    )
}

/// `{"value":6120,"unit":"VA","date":…,"time":…,"subscribed":9000,"exceeded":false}`.
fn max_power(view: &MeterView) -> Option<Value> {
    let peak = view.max_power.as_ref()?;
    Some(json!({
        "value": peak.peak.va,
        "unit": "VA",
        "date": peak.peak.date.to_string(),
        "time": peak.peak.at.map(|at| at.time().to_string()),
        "subscribed": peak.subscribed_va,
        "exceeded": peak.exceeded(),
        "pdl": view.pdl.as_str(),
    }))
}

/// `{"hc":…,"hp":…,"unit":"kWh","date":…}` from the load curve.
fn hchp(view: &MeterView) -> Option<Value> {
    let split = view.hchp?;
    Some(json!({
        "hc": round(split.hc_wh / 1000.0, 3),
        "hp": round(split.hp_wh / 1000.0, 3),
        "unit": "kWh",
        "date": split.date.to_string(),
        "pdl": view.pdl.as_str(),
        "last_reset": format_offset(start_of_day(split.date)),
    }))
}

/// `{"value":3.12,"unit":"EUR","date"|"month":…,"tariff":…}`.
fn cost(view: &MeterView, cost: Cost, label: &str, period: String) -> Value {
    json!({
        "value": round(cost.eur, 2),
        "unit": "EUR",
        label: period,
        "tariff": view.tariff,
        "days": cost.days,
        "pdl": view.pdl.as_str(),
        "last_reset": format_offset(start_of_day(cost.date)),
    })
}

/// `{"value":0.1609,"unit":"EUR/kWh","period":"HP","color":null}`.
fn price(view: &MeterView) -> Option<Value> {
    let price = view.price.as_ref()?;
    Some(json!({
        "value": price.eur_per_kwh,
        "unit": "EUR/kWh",
        "period": price.period,
        "color": price.color.map(TempoColor::as_str),
        "tariff": view.tariff,
    }))
}

/// `{"state":"ok"|"error","message":…,"last_sync":…,"consent_expiration":…,"quota_used":…,"quota_limit":…,"statistics":…}`:
/// the message is the sync's error, else the statistics' (the values are right, the Energy
/// dashboard's history is late), else a note.
fn status(view: &MeterView) -> Value {
    let status = &view.status;
    let message = (status.error.as_ref())
        .or(status.statistics_error.as_ref())
        .or(status.note.as_ref());
    json!({
        "state": if status.error.is_some() { "error" } else { "ok" },
        "message": message,
        "statistics": status.statistics_error,
        "last_sync": status.last_sync.map(format_paris),
        "consent_expiration": status.consent_expiration.map(|t| format_offset(paris_instant(t))),
        "quota_used": status.quota_used,
        "quota_limit": status.quota_limit,
        "pdl": view.pdl.as_str(),
    })
}
