//! The real v2 client (`gateway::v2::Client`) against the fake gateway over HTTP: what it
//! sends, what it reads, and how every failure form becomes a typed `GatewayError`.

mod support;

use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};
use myelectricaldata_mqtt::gateway::GatewayError;
use myelectricaldata_mqtt::gateway::v2::Client;
use myelectricaldata_mqtt::model::{DailyReading, DailySeries, MeterInfo, Pdl, Secret, SeriesKind};
use support::gateway::{DEFAULT_PDL, DEFAULT_SECRET};
use support::probe::install_crypto_provider;
use support::{FakeGateway, FakeMeter, Fault, FaultOn, Series, day, free_port, within};

/// Bound on every call made by these tests.
const T: Duration = Duration::from_secs(10);

fn pdl() -> Pdl {
    Pdl::parse(DEFAULT_PDL).unwrap()
}

/// Distinct, realistic daily values (Wh).
fn wh(d: NaiveDate) -> i64 {
    9_000 + i64::from(d.ordinal()) * 37 + i64::from(d.year() % 7)
}

fn client_for(url: &str, secret: Option<&str>, timeout: Duration) -> Client {
    install_crypto_provider();
    let url = url::Url::parse(url).expect("a valid URL");
    Client::new(url, secret.map(Secret::new), timeout).expect("the client builds")
}

fn client(gw: &FakeGateway) -> Client {
    client_for(&gw.url(), Some(DEFAULT_SECRET), Duration::from_secs(5))
}

/// A fake with consumption data for December 2023 – 15 January 2024, "today" 2024-01-16.
fn fake() -> FakeGateway {
    let gw = FakeGateway::start();
    gw.set_today(day(2024, 1, 16));
    gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2023, 12, 1),
        day(2024, 1, 15),
        wh,
    );
    gw
}

/// Checks every error carries the documented promises: one line, no credential.
fn check_error_text(error: &GatewayError, secrets: &[&str]) {
    let text = error.to_string();
    assert!(!text.contains('\n'), "one line: {text:?}");
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "the error text leaks the secret: {text}"
        );
    }
    let debug = format!("{error:?}");
    for secret in secrets {
        assert!(
            !debug.contains(secret),
            "the error's Debug leaks the secret: {debug}"
        );
    }
}

/// Queues `fault`, makes one daily call that must fail, and checks the fault was consumed.
async fn daily_error(gw: &FakeGateway, client: &Client, fault: Fault) -> GatewayError {
    let before = gw.daily_calls();
    gw.push_fault_on(FaultOn::Daily, fault.clone());
    let result = within(
        T,
        "a daily call",
        items(client.daily(
            SeriesKind::Consumption,
            &pdl(),
            day(2024, 1, 1),
            day(2024, 1, 8),
        )),
    )
    .await;
    assert_eq!(gw.pending_faults(), 0, "{fault:?} was not consumed");
    assert_eq!(gw.daily_calls(), before + 1, "one request per call");
    let error = result.expect_err(&format!("{fault:?} must fail the call"));
    check_error_text(&error, &[DEFAULT_SECRET]);
    error
}

fn api(code: &str, message: &str) -> GatewayError {
    GatewayError::Api {
        code: code.into(),
        message: message.into(),
    }
}

#[tokio::test]
async fn daily_readings_are_parsed_from_wh_strings_with_end_exclusive() {
    let gw = fake();
    gw.fill(
        DEFAULT_PDL,
        Series::Production,
        day(2024, 1, 1),
        day(2024, 1, 15),
        |d| 100 + i64::from(d.day()),
    );
    // A value past i32: the parser survives it and refuses it (a meter cannot measure more
    // than 1 250 kWh a day), keeping the rest of the answer.
    gw.set_day(
        DEFAULT_PDL,
        Series::Consumption,
        day(2024, 1, 3),
        3_000_000_123,
    );
    let c = client(&gw);

    let series = within(
        T,
        "consumption",
        items(c.daily(
            SeriesKind::Consumption,
            &pdl(),
            day(2024, 1, 2),
            day(2024, 1, 5),
        )),
    )
    .await
    .expect("a successful answer");
    assert_eq!(series.quality.as_deref(), Some("BRUT"));
    assert_eq!(
        series.readings,
        vec![
            DailyReading {
                date: day(2024, 1, 2),
                wh: wh(day(2024, 1, 2)),
            },
            DailyReading {
                date: day(2024, 1, 4),
                wh: wh(day(2024, 1, 4)),
            },
        ],
        "`end` (2024-01-05) is exclusive"
    );

    let requests = gw.daily_requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "GET");
    assert_eq!(
        r.path,
        format!("/api/enedis/consumption/daily/{DEFAULT_PDL}")
    );
    assert_eq!(r.query_param("start").as_deref(), Some("2024-01-02"));
    assert_eq!(r.query_param("end").as_deref(), Some("2024-01-05"));
    assert_eq!(r.query_param("use_cache").as_deref(), Some("true"));
    assert_eq!(
        r.authorization.as_deref(),
        Some(format!("Bearer {DEFAULT_SECRET}").as_str())
    );

    let production = within(
        T,
        "production",
        items(c.daily(
            SeriesKind::Production,
            &pdl(),
            day(2024, 1, 14),
            day(2024, 1, 20),
        )),
    )
    .await
    .expect("a successful answer");
    assert_eq!(
        production.readings,
        vec![
            DailyReading {
                date: day(2024, 1, 14),
                wh: 114,
            },
            DailyReading {
                date: day(2024, 1, 15),
                wh: 115,
            },
        ],
        "production route, and nothing from today on"
    );
    let last = gw.daily_requests().pop().unwrap();
    assert_eq!(
        last.path,
        format!("/api/enedis/production/daily/{DEFAULT_PDL}")
    );
    assert_eq!(last.query_param("start").as_deref(), Some("2024-01-14"));
    assert_eq!(last.query_param("end").as_deref(), Some("2024-01-20"));
    assert_eq!(gw.pdl_calls(), 0);
}

#[tokio::test]
async fn daily_values_follow_the_route_not_reading_type_and_bad_points_are_dropped() {
    let gw = fake();
    let c = client(&gw);
    // The server may label daily energy as power; numbers may come unquoted.
    let body = r#"{"success":true,"data":{"meter_reading":{"usage_point_id":"12345678901234",
        "start":"2024-01-01","end":"2024-01-05","quality":"CORRIGE",
        "reading_type":{"unit":"W","measurement_kind":"power"},
        "interval_reading":[{"value":"15230","date":"2024-01-01"},{"value":14810,"date":"2024-01-02"},
        {"value":"n/a","date":"2024-01-03"},{"value":"12000","date":"2024-01-04"}]}},
        "error":null,"timestamp":"2024-01-16T09:12:03Z"}"#;
    gw.push_fault_on(FaultOn::Daily, Fault::status(200, body));
    let series = within(
        T,
        "daily",
        items(c.daily(
            SeriesKind::Consumption,
            &pdl(),
            day(2024, 1, 1),
            day(2024, 1, 5),
        )),
    )
    .await
    .expect("a successful answer");
    assert_eq!(gw.pending_faults(), 0);
    assert_eq!(
        series,
        DailySeries {
            quality: Some("CORRIGE".into()),
            readings: vec![
                DailyReading {
                    date: day(2024, 1, 1),
                    wh: 15230,
                },
                DailyReading {
                    date: day(2024, 1, 2),
                    wh: 14810,
                },
                DailyReading {
                    date: day(2024, 1, 4),
                    wh: 12000,
                },
            ],
        },
        "Wh as sent (not W), the unreadable 2024-01-03 left out (\"not yet\")"
    );
}

#[tokio::test]
async fn pdl_lists_the_meters_with_their_activation_dates() {
    let gw = fake();
    let mut second = FakeMeter::new("98765432109876", Some(day(2015, 5, 24)));
    second.oldest_available_data_date = Some(day(2021, 2, 1));
    gw.set_meters(vec![
        FakeMeter::new(DEFAULT_PDL, Some(day(2022, 1, 10))),
        second,
        FakeMeter::new("11111111111111", None),
    ]);
    let c = client(&gw);
    let meters = within(T, "GET /pdl", c.meters())
        .await
        .expect("the meter list");
    assert_eq!(
        meters,
        vec![
            MeterInfo {
                pdl: pdl(),
                activation_date: Some(day(2022, 1, 10)),
                oldest_available_date: Some(day(2022, 1, 10)),
            },
            MeterInfo {
                pdl: Pdl::parse("98765432109876").unwrap(),
                activation_date: Some(day(2015, 5, 24)),
                oldest_available_date: Some(day(2021, 2, 1)),
            },
            MeterInfo {
                pdl: Pdl::parse("11111111111111").unwrap(),
                activation_date: None,
                oldest_available_date: None,
            },
        ]
    );
    assert_eq!(meters[0].first_available_day(), Some(day(2022, 1, 10)));
    assert_eq!(meters[1].first_available_day(), Some(day(2021, 2, 1)));
    assert_eq!(meters[2].first_available_day(), None);

    assert_eq!(gw.pdl_calls(), 1);
    assert_eq!(gw.daily_calls(), 0);
    let request = gw.requests().pop().unwrap();
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/api/pdl");
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Bearer {DEFAULT_SECRET}").as_str())
    );
}

#[tokio::test]
async fn a_base_url_with_a_trailing_slash_reaches_the_same_routes() {
    let gw = fake();
    let c = client_for(
        &format!("{}/", gw.url()),
        Some(DEFAULT_SECRET),
        Duration::from_secs(5),
    );
    within(T, "GET /pdl", c.meters())
        .await
        .expect("the meter list");
    within(
        T,
        "daily",
        items(c.daily(
            SeriesKind::Consumption,
            &pdl(),
            day(2024, 1, 1),
            day(2024, 1, 2),
        )),
    )
    .await
    .expect("a daily answer");
    let paths: Vec<String> = gw.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        vec![
            "/api/pdl".to_string(),
            format!("/api/enedis/consumption/daily/{DEFAULT_PDL}"),
        ]
    );
}

#[tokio::test]
async fn a_wrong_or_missing_secret_is_unauthorized_and_never_shown() {
    let gw = fake();
    let wrong = "wrong-secret-4567";
    let c = client_for(&gw.url(), Some(wrong), Duration::from_secs(5));

    let error = within(
        T,
        "daily",
        items(c.daily(
            SeriesKind::Consumption,
            &pdl(),
            day(2024, 1, 1),
            day(2024, 1, 8),
        )),
    )
    .await
    .expect_err("the fake rejects the secret");
    assert_eq!(
        error,
        GatewayError::Unauthorized("Invalid authentication credentials".into())
    );
    assert!(!error.is_transient());
    check_error_text(&error, &[wrong, DEFAULT_SECRET]);
    assert_eq!(
        gw.requests().pop().unwrap().authorization.as_deref(),
        Some(format!("Bearer {wrong}").as_str())
    );

    let error = within(T, "GET /pdl", c.meters())
        .await
        .expect_err("the fake rejects the secret");
    assert!(matches!(error, GatewayError::Unauthorized(_)), "{error:?}");
    check_error_text(&error, &[wrong, DEFAULT_SECRET]);

    let anonymous = client_for(&gw.url(), None, Duration::from_secs(5));
    let error = within(T, "GET /pdl", anonymous.meters())
        .await
        .expect_err("no credential");
    assert_eq!(
        error,
        GatewayError::Unauthorized("Not authenticated".into())
    );
    assert!(!error.is_transient());
    assert_eq!(gw.requests().pop().unwrap().authorization, None);
}

#[tokio::test]
async fn envelope_errors_become_typed_errors() {
    let gw = fake();
    let c = client(&gw);

    let e = daily_error(
        &gw,
        &c,
        Fault::api(
            "RATE_LIMIT_EXCEEDED",
            "Daily quota of 1000 requests reached",
        ),
    )
    .await;
    assert_eq!(
        e,
        GatewayError::QuotaReached("Daily quota of 1000 requests reached".into())
    );
    assert!(e.is_transient(), "the quota resets: retry later");

    let e = daily_error(
        &gw,
        &c,
        Fault::api("ACCESS_DENIED", "Access denied to this PDL"),
    )
    .await;
    assert_eq!(
        e,
        GatewayError::AccessDenied("Access denied to this PDL".into())
    );
    assert!(!e.is_transient(), "the user must redo the consent");

    let e = daily_error(
        &gw,
        &c,
        Fault::api("ADAM-ERR0123", "Period before the meter activation"),
    )
    .await;
    assert_eq!(
        e,
        GatewayError::BeforeActivation("Period before the meter activation".into())
    );
    assert!(!e.is_transient());

    for code in ["ENEDIS_UNAVAILABLE", "ENEDIS_ERROR", "PARTIAL_DATA"] {
        let e = daily_error(&gw, &c, Fault::api(code, "Enedis is down")).await;
        assert_eq!(e, api(code, "Enedis is down"));
        assert!(e.is_transient(), "{code} is worth retrying");
        assert!(e.to_string().contains(code), "{e}");
    }
    for code in [
        "DATE_TOO_OLD",
        "INVALID_DATE_RANGE",
        "INVALID_DATE_FORMAT",
        "SOME_NEW_CODE",
    ] {
        let e = daily_error(&gw, &c, Fault::api(code, "No")).await;
        assert_eq!(e, api(code, "No"));
        assert!(!e.is_transient(), "{code} will not fix itself");
    }

    // The fake's own validation goes through the same path.
    let e = within(
        T,
        "an empty range",
        items(c.daily(
            SeriesKind::Consumption,
            &pdl(),
            day(2024, 1, 5),
            day(2024, 1, 5),
        )),
    )
    .await
    .expect_err("start >= end");
    assert_eq!(
        e,
        api("INVALID_DATE_RANGE", "Start date must be before end date")
    );

    // The meter list too.
    gw.push_fault_on(
        FaultOn::Pdl,
        Fault::api("RATE_LIMIT_EXCEEDED", "Quota exceeded"),
    );
    let e = within(T, "GET /pdl", c.meters()).await.expect_err("quota");
    assert_eq!(e, GatewayError::QuotaReached("Quota exceeded".into()));
    assert_eq!(gw.pending_faults(), 0);
}

#[tokio::test]
async fn no_data_is_an_empty_series_not_an_error() {
    let gw = fake();
    let c = client(&gw);
    // The fake holds data for this range: only the NO_DATA answer can make it empty.
    gw.push_fault_on(
        FaultOn::Daily,
        Fault::api("NO_DATA", "No data available for this period"),
    );
    let series = within(
        T,
        "daily",
        items(c.daily(
            SeriesKind::Consumption,
            &pdl(),
            day(2024, 1, 1),
            day(2024, 1, 8),
        )),
    )
    .await
    .expect("NO_DATA is an answer");
    assert_eq!(gw.pending_faults(), 0);
    assert!(series.readings.is_empty(), "{series:?}");

    // And the gateway's own NO_DATA for a range without days.
    gw.set_empty_as_no_data(true);
    let series = within(
        T,
        "daily",
        items(c.daily(
            SeriesKind::Production,
            &pdl(),
            day(2024, 1, 1),
            day(2024, 1, 8),
        )),
    )
    .await
    .expect("NO_DATA is an answer");
    assert!(series.readings.is_empty(), "{series:?}");
    // The same switch leaves ranges with days alone.
    let series = within(
        T,
        "daily",
        items(c.daily(
            SeriesKind::Consumption,
            &pdl(),
            day(2024, 1, 1),
            day(2024, 1, 3),
        )),
    )
    .await
    .expect("days");
    assert_eq!(series.readings.len(), 2);
}

#[tokio::test]
async fn http_errors_become_typed_errors() {
    let gw = fake();
    let c = client(&gw);

    let e = daily_error(&gw, &c, Fault::rate_limited()).await;
    assert_eq!(
        e,
        GatewayError::QuotaReached("Rate limit exceeded: 50/50 requests today".into())
    );
    assert!(e.is_transient());

    let e = daily_error(&gw, &c, Fault::forbidden("Consent expired")).await;
    assert_eq!(e, GatewayError::AccessDenied("Consent expired".into()));
    assert!(!e.is_transient());

    let e = daily_error(&gw, &c, Fault::server_error()).await;
    match &e {
        GatewayError::Http { status, message } => {
            assert_eq!(*status, 500);
            assert!(!message.contains("<html>"), "{message}");
        }
        other => panic!("expected Http 500, got {other:?}"),
    }
    assert!(e.is_transient());
    assert!(e.to_string().contains("500"), "{e}");

    let e = daily_error(
        &gw,
        &c,
        Fault::status(502, r#"{"detail":"Bad gateway: Enedis timeout"}"#),
    )
    .await;
    assert_eq!(
        e,
        GatewayError::Http {
            status: 502,
            message: "Bad gateway: Enedis timeout".into()
        }
    );
    assert!(e.is_transient());

    let e = daily_error(&gw, &c, Fault::status(404, r#"{"detail":"Not Found"}"#)).await;
    assert!(matches!(e, GatewayError::Http { status: 404, .. }), "{e:?}");
    assert!(!e.is_transient());

    // A PDL that is not on the account: the fake answers 403.
    let stranger = Pdl::parse("99999999999999").unwrap();
    let e = within(
        T,
        "daily",
        items(c.daily(
            SeriesKind::Consumption,
            &stranger,
            day(2024, 1, 1),
            day(2024, 1, 8),
        )),
    )
    .await
    .expect_err("403");
    assert_eq!(
        e,
        GatewayError::AccessDenied("Access denied to this PDL".into())
    );

    // The meter list goes through the same decoding.
    gw.push_fault_on(FaultOn::Pdl, Fault::server_error());
    let e = within(T, "GET /pdl", c.meters()).await.expect_err("500");
    assert!(matches!(e, GatewayError::Http { status: 500, .. }), "{e:?}");
}

#[tokio::test]
async fn bodies_that_are_not_the_expected_json_are_malformed() {
    let gw = fake();
    let c = client(&gw);

    let e = daily_error(&gw, &c, Fault::status(200, "<html>Maintenance</html>")).await;
    assert!(
        matches!(e, GatewayError::Malformed { status: 200, .. }),
        "{e:?}"
    );
    assert!(e.is_transient());

    // success:true without data.
    let e = daily_error(&gw, &c, Fault::Success(true, "WHATEVER".into(), "x".into())).await;
    assert!(
        matches!(e, GatewayError::Malformed { status: 200, .. }),
        "{e:?}"
    );

    // JSON, but data of another shape.
    let e = daily_error(
        &gw,
        &c,
        Fault::status(
            200,
            r#"{"success":true,"data":{"something":"else"},"error":null,"timestamp":"2024-01-16T09:12:03Z"}"#,
        ),
    )
    .await;
    assert!(
        matches!(e, GatewayError::Malformed { status: 200, .. }),
        "{e:?}"
    );
    assert!(e.is_transient());
}

#[tokio::test]
async fn a_slow_gateway_is_a_timeout() {
    let gw = fake();
    let c = client_for(&gw.url(), Some(DEFAULT_SECRET), Duration::from_millis(300));
    gw.push_fault_on(FaultOn::Daily, Fault::Delay(Duration::from_secs(3)));
    let started = Instant::now();
    let e = within(
        T,
        "daily",
        items(c.daily(
            SeriesKind::Consumption,
            &pdl(),
            day(2024, 1, 1),
            day(2024, 1, 8),
        )),
    )
    .await
    .expect_err("the delay outlasts the timeout");
    let elapsed = started.elapsed();
    assert_eq!(e, GatewayError::Timeout(0.3));
    assert!(e.is_transient());
    check_error_text(&e, &[DEFAULT_SECRET]);
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(2),
        "gave up after {elapsed:?}"
    );

    // The same client answers normally once the gateway is fast again.
    let series = within(
        T,
        "daily",
        items(c.daily(
            SeriesKind::Consumption,
            &pdl(),
            day(2024, 1, 1),
            day(2024, 1, 8),
        )),
    )
    .await
    .expect("no delay this time");
    assert_eq!(series.readings.len(), 7);
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let url = format!("http://127.0.0.1:{}/api", free_port());
    let c = client_for(&url, Some(DEFAULT_SECRET), Duration::from_secs(5));
    let started = Instant::now();
    let e = within(
        T,
        "daily",
        items(c.daily(
            SeriesKind::Consumption,
            &pdl(),
            day(2024, 1, 1),
            day(2024, 1, 8),
        )),
    )
    .await
    .expect_err("nothing listens");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "a refused connection is immediate, not the timeout"
    );
    match &e {
        GatewayError::Unreachable { host, reason } => {
            assert_eq!(host, "127.0.0.1");
            assert!(!reason.trim().is_empty());
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(e.is_transient());
    check_error_text(&e, &[DEFAULT_SECRET]);

    let e = within(T, "GET /pdl", c.meters())
        .await
        .expect_err("nothing listens");
    assert!(matches!(e, GatewayError::Unreachable { .. }), "{e:?}");
}

/// The items of a client's answer (what it refused is the facade's to log).
async fn items<T, E>(
    answer: impl std::future::Future<
        Output = Result<myelectricaldata_mqtt::gateway::admit::Parsed<T>, E>,
    >,
) -> Result<T, E> {
    answer.await.map(|parsed| parsed.items)
}
