//! What the gateway answers is admitted at its boundary (issue 10, "Hardening"): absurd,
//! negative or unreadable values, items beyond the asked range, odd load-curve intervals,
//! unknown Tempo colours and EcoWatt levels never reach the store; oversize answers are refused
//! with a typed error. Each answer is injected verbatim into the fake gateway (both
//! generations, through the `Gateway` facade), and a sync checks what ends up in the store.

mod support;

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use myelectricaldata_mqtt::gateway::{Gateway, GatewayError, v1, v2};
use myelectricaldata_mqtt::model::{Pdl, Secret, SeriesKind, TempoColor};
use serde_json::{Value, json};
use support::gateway::{DEFAULT_PDL, DEFAULT_SECRET, DEFAULT_V1_TOKEN};
use support::probe::install_crypto_provider;
use support::{
    FakeGateway, Fault, FaultOn, Generation, Harness, Series, T, day, for_both, stored_day, sync,
    within,
};

fn pdl() -> Pdl {
    Pdl::parse(DEFAULT_PDL).unwrap()
}

fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
}

/// The fake's "today".
const TODAY: (i32, u32, u32) = (2024, 12, 1);

fn today() -> NaiveDate {
    day(TODAY.0, TODAY.1, TODAY.2)
}

fn client(g: Generation, gw: &FakeGateway) -> Gateway {
    install_crypto_provider();
    let timeout = std::time::Duration::from_secs(5);
    match g {
        Generation::V1 => {
            let url = url::Url::parse(&gw.url_v1()).unwrap();
            let tokens = BTreeMap::from([(pdl(), Secret::new(DEFAULT_V1_TOKEN))]);
            Gateway::V1(v1::Client::new(url, tokens, timeout).unwrap())
        }
        Generation::V2 => {
            let url = url::Url::parse(&gw.url()).unwrap();
            Gateway::V2(v2::Client::new(url, Some(Secret::new(DEFAULT_SECRET)), timeout).unwrap())
        }
    }
}

fn setup(g: Generation) -> (FakeGateway, Gateway) {
    let gw = FakeGateway::start();
    gw.set_today(today());
    let gateway = client(g, &gw);
    (gw, gateway)
}

/// `data` as the generation's Enedis/Tempo route answers it: bare (v1) or in the envelope (v2).
fn answer(g: Generation, data: &Value) -> Fault {
    let body = match g {
        Generation::V1 => data.to_string(),
        Generation::V2 => json!({"success": true, "data": data, "error": null,
                                 "timestamp": "2024-12-01T09:12:03Z"})
        .to_string(),
    };
    Fault::status(200, &body)
}

/// `{"meter_reading": …}` with these `interval_reading` items.
fn meter_reading(items: Value) -> Value {
    json!({"meter_reading": {"usage_point_id": DEFAULT_PDL, "quality": "BRUT",
        "reading_type": {"unit": "Wh"}, "interval_reading": items}})
}

for_both!(
    absurd_negative_and_unreadable_daily_values_are_refused_the_rest_kept,
    max_power_and_load_curve_values_are_bounded,
    days_beyond_the_question_are_not_kept,
    load_curve_points_with_odd_intervals_or_beyond_the_range_are_dropped,
    unknown_tempo_colours_and_days_beyond_the_question_are_dropped,
    ecowatt_levels_out_of_range_are_never_kept,
    an_oversize_answer_is_refused_with_a_typed_error,
);

async fn absurd_negative_and_unreadable_daily_values_are_refused_the_rest_kept(g: Generation) {
    let (gw, gateway) = setup(g);
    let items = json!([
        {"value": "15230", "date": "2024-01-01"},
        {"value": "1e308", "date": "2024-01-02"},
        {"value": "-5000", "date": "2024-01-03"},
        {"value": "NaN", "date": "2024-01-04"},
        {"value": "inf", "date": "2024-01-05"},
        {"value": "1250001", "date": "2024-01-06"},
        {"value": "14810", "date": "2024-01-07"},
        {"value": "100", "date": "07/01/2024"},
    ]);
    gw.push_fault_on(FaultOn::Daily, answer(g, &meter_reading(items)));
    let (start, end) = (day(2024, 1, 1), day(2024, 1, 8));
    let series = within(
        T,
        "daily",
        gateway.daily(SeriesKind::Consumption, &pdl(), start, end, today()),
    )
    .await
    .expect("the answer is kept, less its bad items");
    let kept: Vec<_> = series.readings.iter().map(|r| (r.date, r.wh)).collect();
    assert_eq!(
        kept,
        vec![(day(2024, 1, 1), 15230), (day(2024, 1, 7), 14810)]
    );
}

async fn max_power_and_load_curve_values_are_bounded(g: Generation) {
    let (gw, gateway) = setup(g);
    let peaks = json!([
        {"value": "6120", "date": "2024-01-01 19:42:10"},
        {"value": "0", "date": "2024-01-02 19:42:10"},
        {"value": "60000", "date": "2024-01-03 19:42:10"},
        {"value": "-3", "date": "2024-01-04 19:42:10"},
        {"value": "1e308", "date": "2024-01-05 19:42:10"},
    ]);
    gw.push_fault_on(FaultOn::Power, answer(g, &meter_reading(peaks)));
    let (start, end) = (day(2024, 1, 1), day(2024, 1, 8));
    let peaks = within(T, "power", gateway.max_power(&pdl(), start, end, today()))
        .await
        .expect("kept");
    assert_eq!(
        peaks.iter().map(|p| (p.date, p.va)).collect::<Vec<_>>(),
        vec![(day(2024, 1, 1), 6120)]
    );

    let points = json!([
        {"value": "1344", "date": "2024-01-01 00:30:00", "interval_length": "PT30M"},
        {"value": "50001", "date": "2024-01-01 01:00:00", "interval_length": "PT30M"},
        {"value": "-1", "date": "2024-01-01 01:30:00", "interval_length": "PT30M"},
        {"value": "1e308", "date": "2024-01-01 02:00:00", "interval_length": "PT30M"},
        {"value": "900", "date": "2024-01-01 02:30:00", "interval_length": "PT30M"},
    ]);
    gw.push_fault_on(FaultOn::Detail, answer(g, &meter_reading(points)));
    let points = within(
        T,
        "curve",
        gateway.load_curve(
            SeriesKind::Consumption,
            &pdl(),
            start,
            day(2024, 1, 2),
            today(),
        ),
    )
    .await
    .expect("kept");
    assert_eq!(
        points.iter().map(|p| (p.end, p.watts)).collect::<Vec<_>>(),
        vec![
            (at("2024-01-01 00:30:00"), 1344),
            (at("2024-01-01 02:30:00"), 900)
        ]
    );
}

async fn days_beyond_the_question_are_not_kept(g: Generation) {
    let (gw, gateway) = setup(g);
    let items = json!([
        {"value": "1", "date": "2024-01-09"},
        {"value": "36700", "date": "2024-01-10"},
        {"value": "36800", "date": "2024-01-11"},
        {"value": "1", "date": "2024-01-12"},
        {"value": "1", "date": "2024-12-01"},
        {"value": "1", "date": "2024-12-05"},
        {"value": "1", "date": "-6140-01-01"},
    ]);
    gw.push_fault_on(FaultOn::Daily, answer(g, &meter_reading(items)));
    let (start, end) = (day(2024, 1, 10), day(2024, 1, 12));
    let series = within(
        T,
        "daily",
        gateway.daily(SeriesKind::Consumption, &pdl(), start, end, today()),
    )
    .await
    .expect("kept");
    assert_eq!(
        series
            .readings
            .iter()
            .map(|r| (r.date, r.wh))
            .collect::<Vec<_>>(),
        vec![(day(2024, 1, 10), 36700), (day(2024, 1, 11), 36800)]
    );

    // Even inside the asked range, today and later are not known yet.
    let items = json!([
        {"value": "9000", "date": "2024-11-30"},
        {"value": "9000", "date": "2024-12-01"},
        {"value": "9000", "date": "2024-12-02"},
    ]);
    gw.push_fault_on(FaultOn::Daily, answer(g, &meter_reading(items)));
    let (start, end) = (day(2024, 11, 30), day(2024, 12, 3));
    let series = within(
        T,
        "daily",
        gateway.daily(SeriesKind::Consumption, &pdl(), start, end, today()),
    )
    .await
    .expect("kept");
    assert_eq!(
        series.readings.iter().map(|r| r.date).collect::<Vec<_>>(),
        vec![day(2024, 11, 30)]
    );
}

async fn load_curve_points_with_odd_intervals_or_beyond_the_range_are_dropped(g: Generation) {
    let (gw, gateway) = setup(g);
    let points = json!([
        // Ends at the range's start: its interval is the day before.
        {"value": "100", "date": "2024-06-04 00:00:00", "interval_length": "PT30M"},
        {"value": "200", "date": "2024-06-04 00:30:00", "interval_length": "PT30M"},
        {"value": "300", "date": "2024-06-04 00:37:00", "interval_length": "PT7M"},
        {"value": "400", "date": "2024-06-04 01:00:00", "interval_length": "PT999999999M"},
        {"value": "500", "date": "2024-06-04 01:00:00", "interval_length": "PT99999H"},
        {"value": "600", "date": "2024-06-04 01:10:00", "interval_length": "PT10M"},
        {"value": "700", "date": "2024-06-04 25:00:00", "interval_length": "PT30M"},
        // Ends at the range's end: the last interval of the asked day.
        {"value": "800", "date": "2024-06-05 00:00:00", "interval_length": "PT30M"},
        {"value": "900", "date": "2024-06-05 00:30:00", "interval_length": "PT30M"},
        {"value": "950", "date": "2024-06-07 00:30:00", "interval_length": "PT30M"},
    ]);
    gw.push_fault_on(FaultOn::Detail, answer(g, &meter_reading(points)));
    let points = within(
        T,
        "curve",
        gateway.load_curve(
            SeriesKind::Consumption,
            &pdl(),
            day(2024, 6, 4),
            day(2024, 6, 5),
            today(),
        ),
    )
    .await
    .expect("kept");
    assert_eq!(
        points
            .iter()
            .map(|p| (p.end, p.watts, p.interval_minutes))
            .collect::<Vec<_>>(),
        vec![
            (at("2024-06-04 00:30:00"), 200, 30),
            (at("2024-06-04 01:10:00"), 600, 10),
            (at("2024-06-05 00:00:00"), 800, 30),
        ]
    );
}

async fn unknown_tempo_colours_and_days_beyond_the_question_are_dropped(g: Generation) {
    let (gw, gateway) = setup(g);
    let data = match g {
        Generation::V1 => json!({"2024-11-01": "BLUE", "2024-11-02": "PURPLE",
            "2024-11-03": "RED", "2024-10-31": "RED", "2025-01-01": "WHITE", "nope": "BLUE"}),
        Generation::V2 => json!([
            {"date": "2024-11-01", "color": "BLUE"},
            {"date": "2024-11-02", "color": "PURPLE"},
            {"date": "2024-11-03", "color": "RED"},
            {"date": "2024-10-31", "color": "RED"},
            {"date": "2025-01-01", "color": "WHITE"},
            {"date": "nope", "color": "BLUE"},
        ]),
    };
    gw.push_fault_on(FaultOn::Tempo, answer(g, &data));
    let days = within(
        T,
        "tempo",
        gateway.tempo(day(2024, 11, 1), day(2024, 11, 4)),
    )
    .await
    .expect("kept");
    assert_eq!(
        days.iter().map(|d| (d.date, d.color)).collect::<Vec<_>>(),
        vec![
            (day(2024, 11, 1), TempoColor::Blue),
            (day(2024, 11, 3), TempoColor::Red)
        ]
    );
}

async fn ecowatt_levels_out_of_range_are_never_kept(g: Generation) {
    let (gw, gateway) = setup(g);
    let hours = |level: u8| vec![level; 24];
    let body = match g {
        Generation::V1 => {
            let detail = |date: &str, level: u8| -> Value {
                (0..24)
                    .map(|h| (format!("{date} {h:02}:00:00"), json!(level)))
                    .collect::<serde_json::Map<_, _>>()
                    .into()
            };
            json!({
                "2024-12-01": {"value": 0, "message": "?", "detail": detail("2024-12-01", 1)},
                "2024-12-02": {"value": 2, "message": "ok", "detail": detail("2024-12-02", 2)},
                "2024-12-03": {"value": 99, "message": "?", "detail": detail("2024-12-03", 1)},
            })
            .to_string()
        }
        Generation::V2 => json!([
            {"periode": "2024-12-01T00:00:00+01:00", "dvalue": 4, "message": "?", "values": hours(1)},
            {"periode": "2024-12-02T00:00:00+01:00", "dvalue": 2, "message": "ok", "values": hours(2)},
            {"periode": "2024-12-03T00:00:00+01:00", "dvalue": 1, "message": "?", "values": hours(99)},
        ])
        .to_string(),
    };
    gw.push_fault_on(FaultOn::Ecowatt, Fault::status(200, &body));
    let days = within(T, "ecowatt", gateway.ecowatt(today()))
        .await
        .expect("kept");
    assert_eq!(
        days.iter().map(|d| (d.date, d.level)).collect::<Vec<_>>(),
        vec![(day(2024, 12, 2), 2)]
    );
}

async fn an_oversize_answer_is_refused_with_a_typed_error(g: Generation) {
    let (gw, gateway) = setup(g);
    // 100 000 load-curve points (about 9 MB): far beyond any real answer.
    let points: Vec<Value> = (0..100_000)
        .map(|i| json!({"value": "1344", "date": "2024-06-04 00:30:00", "interval_length": format!("PT{}M", 30 + i % 2)}))
        .collect();
    gw.push_fault_on(FaultOn::Detail, answer(g, &meter_reading(json!(points))));
    let result = within(
        T,
        "curve",
        gateway.load_curve(
            SeriesKind::Consumption,
            &pdl(),
            day(2024, 6, 4),
            day(2024, 6, 5),
            today(),
        ),
    )
    .await;
    let error = result.expect_err("too large");
    assert!(matches!(error, GatewayError::TooLarge { .. }), "{error:?}");
    assert!(error.to_string().contains("too large"), "{error}");
    assert!(!error.to_string().contains('\n'));
    assert!(error.is_transient(), "treated like a malformed answer");

    // 30 MB of JSON whitespace in a daily answer.
    let body = format!("{}{}", " ".repeat(30 << 20), meter_reading(json!([])));
    gw.push_fault_on(FaultOn::Daily, Fault::status(200, &body));
    let result = within(
        T,
        "daily",
        gateway.daily(
            SeriesKind::Consumption,
            &pdl(),
            day(2024, 1, 1),
            day(2024, 1, 2),
            today(),
        ),
    )
    .await;
    assert!(
        matches!(result, Err(GatewayError::TooLarge { .. })),
        "{result:?}"
    );
}

/// A day stored at 36.7 kWh stays so when a later answer brings it again, beyond the question,
/// at 1 Wh; nothing from "today" on enters the store.
#[tokio::test]
async fn a_sync_never_overwrites_history_with_days_beyond_the_question() {
    let h = Harness::linky(
        Generation::V2,
        "2024-06-10T10:00:00Z",
        &[json!({ "pdl": DEFAULT_PDL })],
    );
    let known = day(2024, 6, 8);
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2021, 1, 1),
        day(2024, 6, 9),
        |_| 36_700,
    );
    let pipeline = h.open().await;
    sync(&pipeline).await;
    assert_eq!(
        stored_day(&pipeline, &pdl(), SeriesKind::Consumption, known).await,
        Some(36_700)
    );

    h.at("2024-06-11T10:00:00Z");
    h.gw.set_day(DEFAULT_PDL, Series::Consumption, day(2024, 6, 10), 36_700);
    let items = json!([
        {"value": "1", "date": "2024-06-08"},
        {"value": "36700", "date": "2024-06-10"},
        {"value": "1", "date": "2024-06-11"},
        {"value": "1", "date": "2024-06-12"},
    ]);
    h.gw.push_fault_on(
        FaultOn::DailyOf(Series::Consumption),
        answer(Generation::V2, &meter_reading(items)),
    );
    sync(&pipeline).await;
    for (date, expected) in [
        (known, Some(36_700)),
        (day(2024, 6, 10), Some(36_700)),
        (day(2024, 6, 11), None),
        (day(2024, 6, 12), None),
    ] {
        assert_eq!(
            stored_day(&pipeline, &pdl(), SeriesKind::Consumption, date).await,
            expected,
            "{date}"
        );
    }
}

/// A store that already holds i64::MAX (from before this fix) still syncs and publishes.
#[tokio::test]
async fn a_store_holding_i64_max_still_syncs_and_publishes() {
    let h = Harness::linky(
        Generation::V2,
        "2024-06-12T10:00:00Z",
        &[json!({ "pdl": DEFAULT_PDL })],
    );
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2021, 1, 1),
        day(2024, 6, 11),
        |_| 10_000,
    );
    let pipeline = h.open().await;
    let range = myelectricaldata_mqtt::model::DayRange::new(day(2024, 6, 10), day(2024, 6, 12));
    let poisoned = myelectricaldata_mqtt::model::DailySeries {
        quality: None,
        readings: vec![
            myelectricaldata_mqtt::model::DailyReading {
                date: day(2024, 6, 10),
                wh: i64::MAX,
            },
            myelectricaldata_mqtt::model::DailyReading {
                date: day(2024, 6, 11),
                wh: i64::MAX,
            },
        ],
    };
    pipeline
        .store
        .save_daily(&pdl(), SeriesKind::Consumption, range, &poisoned, h.now())
        .await
        .expect("stored");
    let curve = [myelectricaldata_mqtt::model::LoadCurvePoint {
        end: at("2024-06-10 00:30:00"),
        watts: i64::MAX,
        interval_minutes: 30,
    }; 1];
    let curve_range =
        myelectricaldata_mqtt::model::DayRange::new(day(2024, 6, 10), day(2024, 6, 11));
    pipeline
        .store
        .save_load_curve(
            &pdl(),
            SeriesKind::Consumption,
            curve_range,
            &curve,
            h.now(),
        )
        .await
        .expect("stored");
    let coverage = pipeline
        .store
        .load_curve_coverage(
            &pdl(),
            SeriesKind::Consumption,
            day(2024, 6, 10),
            day(2024, 6, 10),
        )
        .await
        .expect("the coverage reads");
    assert_eq!(coverage.get(&day(2024, 6, 10)), Some(&30));
    let summary = sync(&pipeline).await;
    support::assert_ok(&summary);
    let messages = within(T, "messages", pipeline.messages())
        .await
        .expect("the messages are computed");
    assert!(!messages.is_empty());
    let reopened = h.reopen(pipeline).await;
    within(T, "messages", reopened.messages())
        .await
        .expect("the daemon starts again");
}
