//! Both gateway clients (`gateway::v1::Client`, `gateway::v2::Client`) against the fake gateway,
//! through the common `Gateway` enum: every series (daily energy, max power, load curve), the
//! contract, the meter list, the v1 consent/quota, and each generation's error forms.
//!
//! Shared checks are written once as `async fn name(g: Generation)` and run for both
//! generations by `for_both!` (tests `v1::name` and `v2::name`).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use myelectricaldata_mqtt::gateway::{Gateway, GatewayError, v1, v2};
use myelectricaldata_mqtt::model::{
    AccessInfo, Contract, DailyReading, LoadCurvePoint, MaxPowerReading, MeterInfo, Pdl, Secret,
    SeriesKind,
};
use support::gateway::{DEFAULT_PDL, DEFAULT_SECRET, DEFAULT_V1_TOKEN, paris_curve_slots};
use support::probe::install_crypto_provider;
use support::{
    FakeContract, FakeGateway, FakeMeter, Fault, FaultOn, Generation, RecordedRequest, RouteKind,
    Series, day, for_both, within,
};

/// Bound on every call made by these tests.
const T: Duration = Duration::from_secs(10);
/// The client's own timeout.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn hms(h: u32, m: u32, s: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, s).unwrap()
}

fn pdl() -> Pdl {
    Pdl::parse(DEFAULT_PDL).unwrap()
}

/// Distinct daily values (Wh).
fn wh(d: NaiveDate) -> i64 {
    9_000 + i64::from(d.ordinal()) * 37
}

fn v1_client(gw: &FakeGateway, tokens: &[(&str, &str)]) -> Gateway {
    install_crypto_provider();
    let tokens: BTreeMap<Pdl, Secret> = tokens
        .iter()
        .map(|(pdl, token)| (Pdl::parse(pdl).unwrap(), Secret::new(*token)))
        .collect();
    let url = url::Url::parse(&gw.url_v1()).unwrap();
    Gateway::V1(v1::Client::new(url, tokens, CLIENT_TIMEOUT).expect("the v1 client builds"))
}

fn v2_client(gw: &FakeGateway, secret: Option<&str>) -> Gateway {
    install_crypto_provider();
    let url = url::Url::parse(&gw.url()).unwrap();
    Gateway::V2(
        v2::Client::new(url, secret.map(Secret::new), CLIENT_TIMEOUT)
            .expect("the v2 client builds"),
    )
}

/// A fake whose "today" is 2024-12-01 and a client of generation `g` with the default
/// credential.
struct Setup {
    g: Generation,
    gw: FakeGateway,
    gateway: Gateway,
}

impl Setup {
    fn new(g: Generation) -> Setup {
        let gw = FakeGateway::start();
        gw.set_today(day(2024, 12, 1));
        let gateway = match g {
            Generation::V1 => v1_client(&gw, &[(DEFAULT_PDL, DEFAULT_V1_TOKEN)]),
            Generation::V2 => v2_client(&gw, Some(DEFAULT_SECRET)),
        };
        Setup { g, gw, gateway }
    }

    /// The credential as the client must send it.
    fn authorization(&self) -> String {
        match self.g {
            Generation::V1 => DEFAULT_V1_TOKEN.to_string(),
            Generation::V2 => format!("Bearer {DEFAULT_SECRET}"),
        }
    }

    fn credential(&self) -> &'static str {
        match self.g {
            Generation::V1 => DEFAULT_V1_TOKEN,
            Generation::V2 => DEFAULT_SECRET,
        }
    }

    /// The path the client must request for a range route.
    fn range_path(&self, kind: RouteKind, start: NaiveDate, end: NaiveDate) -> String {
        match self.g {
            Generation::V1 => {
                let route = match kind {
                    RouteKind::Daily(Series::Consumption) => "daily_consumption",
                    RouteKind::Daily(Series::Production) => "daily_production",
                    RouteKind::Power => "daily_consumption_max_power",
                    RouteKind::Detail(Series::Consumption) => "consumption_load_curve",
                    RouteKind::Detail(Series::Production) => "production_load_curve",
                    other => panic!("{other:?} is not a range route"),
                };
                format!("/{route}/{DEFAULT_PDL}/start/{start}/end/{end}/cache/")
            }
            Generation::V2 => match kind {
                RouteKind::Daily(s) => format!("/api/enedis/{}/daily/{DEFAULT_PDL}", s.as_str()),
                RouteKind::Detail(s) => format!("/api/enedis/{}/detail/{DEFAULT_PDL}", s.as_str()),
                RouteKind::Power => format!("/api/enedis/power/{DEFAULT_PDL}"),
                other => panic!("{other:?} is not a range route"),
            },
        }
    }

    /// The last request is the one expected for `kind` over `[start, end)`, with the right
    /// credential form.
    fn check_last_range_request(&self, kind: RouteKind, start: NaiveDate, end: NaiveDate) {
        let request = self.gw.requests().pop().expect("a request");
        assert_eq!(request.method, "GET");
        assert_eq!(request.route(), Some(kind), "{request:?}");
        assert_eq!(request.path, self.range_path(kind, start, end));
        assert_eq!(request.is_v1(), self.g == Generation::V1);
        assert_eq!(
            request.range(),
            Some((start.to_string(), end.to_string())),
            "{request:?}"
        );
        match self.g {
            Generation::V1 => assert_eq!(request.query, ""),
            Generation::V2 => {
                assert_eq!(request.query_param("use_cache").as_deref(), Some("true"))
            }
        }
        self.check_authorization(&request);
    }

    fn check_authorization(&self, request: &RecordedRequest) {
        assert_eq!(
            request.authorization.as_deref(),
            Some(self.authorization().as_str()),
            "{request:?}"
        );
    }

    async fn daily(
        &self,
        kind: SeriesKind,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<DailyReading>, GatewayError> {
        within(
            T,
            "daily",
            self.gateway
                .daily(kind, &pdl(), start, end, self.gw.today()),
        )
        .await
        .map(|s| s.readings)
    }

    async fn max_power(
        &self,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<MaxPowerReading>, GatewayError> {
        within(
            T,
            "max power",
            self.gateway.max_power(&pdl(), start, end, self.gw.today()),
        )
        .await
    }

    async fn load_curve(
        &self,
        kind: SeriesKind,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<LoadCurvePoint>, GatewayError> {
        within(
            T,
            "load curve",
            self.gateway
                .load_curve(kind, &pdl(), start, end, self.gw.today()),
        )
        .await
    }

    async fn contract(&self) -> Result<Contract, GatewayError> {
        within(T, "contract", self.gateway.contract(&pdl())).await
    }
}

/// Every error keeps the documented promises: one line, no credential in Display or Debug.
fn check_error_text(error: &GatewayError, secrets: &[&str]) {
    let text = error.to_string();
    let debug = format!("{error:?}");
    assert!(!text.contains('\n'), "one line: {text:?}");
    for secret in secrets {
        assert!(!text.contains(secret), "the error leaks {secret}: {text}");
        assert!(!debug.contains(secret), "the error leaks {secret}: {debug}");
    }
}

for_both!(
    daily_consumption_and_production_are_wh_with_end_exclusive,
    max_power_is_va_with_the_moment_of_the_peak,
    load_curve_points_carry_watts_and_their_interval,
    load_curve_dst_days_have_46_and_50_points_in_time_order,
    load_curve_over_seven_days_is_refused_by_the_gateway,
    contract_gives_power_offpeak_hours_and_activation,
    meters_come_from_the_generation_s_source,
    access_reports_consent_and_quota_where_the_generation_has_them,
    errors_of_every_route_are_typed_and_never_show_the_credential,
);

async fn daily_consumption_and_production_are_wh_with_end_exclusive(g: Generation) {
    let s = Setup::new(g);
    s.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2024, 1, 1),
        day(2024, 11, 30),
        wh,
    );
    s.gw.fill(
        DEFAULT_PDL,
        Series::Production,
        day(2024, 11, 1),
        day(2024, 11, 30),
        |d| 100 + i64::from(d.day()),
    );
    // Past i32: the parser survives it, and refuses it as beyond what a meter can measure in a
    // day (1 250 kWh), keeping the rest of the answer.
    s.gw.set_day(
        DEFAULT_PDL,
        Series::Consumption,
        day(2024, 1, 3),
        3_000_000_123,
    );

    let (start, end) = (day(2024, 1, 2), day(2024, 1, 5));
    let readings = s
        .daily(SeriesKind::Consumption, start, end)
        .await
        .expect("consumption");
    assert_eq!(
        readings,
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
        "`end` is exclusive"
    );
    s.check_last_range_request(RouteKind::Daily(Series::Consumption), start, end);

    // A whole year in one call.
    let (start, end) = (day(2023, 12, 1), day(2024, 11, 30));
    let readings = s
        .daily(SeriesKind::Consumption, start, end)
        .await
        .expect("365 days");
    assert_eq!(
        readings.len(),
        333,
        "from 2024-01-01 to 2024-11-29, less the refused 2024-01-03"
    );
    assert_eq!(readings.first().unwrap().date, day(2024, 1, 1));

    // Production: nothing from "today" (2024-12-01) on; days never filled are absent.
    let (start, end) = (day(2024, 11, 28), day(2024, 12, 4));
    let readings = s
        .daily(SeriesKind::Production, start, end)
        .await
        .expect("production");
    assert_eq!(
        readings,
        vec![
            DailyReading {
                date: day(2024, 11, 28),
                wh: 128,
            },
            DailyReading {
                date: day(2024, 11, 29),
                wh: 129,
            },
            DailyReading {
                date: day(2024, 11, 30),
                wh: 130,
            },
        ]
    );
    s.check_last_range_request(RouteKind::Daily(Series::Production), start, end);
    let readings = s
        .daily(SeriesKind::Production, day(2024, 10, 1), day(2024, 10, 8))
        .await
        .expect("an empty answer");
    assert!(readings.is_empty(), "{readings:?}");
    assert_eq!(s.gw.daily_calls(), 4, "one request per call");
}

async fn max_power_is_va_with_the_moment_of_the_peak(g: Generation) {
    let s = Setup::new(g);
    s.gw.set_max_power(DEFAULT_PDL, day(2024, 1, 1), 6120, hms(19, 42, 10));
    s.gw.set_max_power(DEFAULT_PDL, day(2024, 1, 2), 9_870, hms(0, 0, 5));
    s.gw.set_max_power(DEFAULT_PDL, day(2024, 1, 4), 3_001, hms(23, 59, 59));
    let (start, end) = (day(2024, 1, 1), day(2024, 1, 4));
    let peaks = s.max_power(start, end).await.expect("max power");
    assert_eq!(
        peaks,
        vec![
            MaxPowerReading {
                date: day(2024, 1, 1),
                va: 6120,
                at: Some(at("2024-01-01 19:42:10")),
            },
            MaxPowerReading {
                date: day(2024, 1, 2),
                va: 9_870,
                at: Some(at("2024-01-02 00:00:05")),
            },
        ],
        "the 3rd is missing, the 4th is past `end`"
    );
    s.check_last_range_request(RouteKind::Power, start, end);

    s.gw.fill_max_power(DEFAULT_PDL, day(2023, 12, 1), day(2024, 11, 30), |d| {
        (4_000 + i64::from(d.ordinal()), hms(18, 30, 0))
    });
    let (start, end) = (day(2023, 12, 2), day(2024, 12, 1));
    let peaks = s.max_power(start, end).await.expect("365 days");
    assert_eq!(peaks.len(), 365);
    assert_eq!(peaks.last().unwrap().date, day(2024, 11, 30));
    assert_eq!(peaks.last().unwrap().at, Some(at("2024-11-30 18:30:00")));
    assert_eq!(s.gw.power_calls(), 2);
}

async fn load_curve_points_carry_watts_and_their_interval(g: Generation) {
    let s = Setup::new(g);
    s.gw.set_curve(
        DEFAULT_PDL,
        Series::Consumption,
        &[
            // Ends the day before: not part of [2024-01-01, 2024-01-02).
            (at("2024-01-01 00:00:00"), 900, 30),
            (at("2024-01-01 00:30:00"), 1344, 30),
            (at("2024-01-01 01:00:00"), 1200, 30),
            (at("2024-01-01 02:00:00"), 700, 60),
            (at("2024-01-01 02:10:00"), 4_200, 10),
            (at("2024-01-01 02:25:00"), 1_500, 15),
            // The last interval of 2024-01-01.
            (at("2024-01-02 00:00:00"), 800, 30),
            (at("2024-01-02 00:30:00"), 810, 30),
        ],
    );
    let (start, end) = (day(2024, 1, 1), day(2024, 1, 2));
    let points = s
        .load_curve(SeriesKind::Consumption, start, end)
        .await
        .expect("load curve");
    let point = |end: &str, watts: i64, interval_minutes: u32| LoadCurvePoint {
        end: at(end),
        watts,
        interval_minutes,
    };
    assert_eq!(
        points,
        vec![
            point("2024-01-01 00:30:00", 1344, 30),
            point("2024-01-01 01:00:00", 1200, 30),
            point("2024-01-01 02:00:00", 700, 60),
            point("2024-01-01 02:10:00", 4_200, 10),
            point("2024-01-01 02:25:00", 1_500, 15),
            point("2024-01-02 00:00:00", 800, 30),
        ]
    );
    s.check_last_range_request(RouteKind::Detail(Series::Consumption), start, end);

    // A regular week of production: 7 × 48 points, W = f(end).
    s.gw.fill_curve(
        DEFAULT_PDL,
        Series::Production,
        day(2024, 6, 1),
        day(2024, 6, 30),
        |t| i64::from(t.hour()) * 100 + i64::from(t.minute()),
    );
    let (start, end) = (day(2024, 6, 3), day(2024, 6, 10));
    let points = s
        .load_curve(SeriesKind::Production, start, end)
        .await
        .expect("7 days");
    assert_eq!(points.len(), 7 * 48);
    assert!(points.iter().all(|p| p.interval_minutes == 30));
    assert!(
        points
            .iter()
            .all(|p| p.watts == i64::from(p.end.hour()) * 100 + i64::from(p.end.minute()))
    );
    assert_eq!(points[0].end, at("2024-06-03 00:30:00"));
    assert_eq!(points.last().unwrap().end, at("2024-06-10 00:00:00"));
    assert!(points.windows(2).all(|w| w[0].end < w[1].end));
    s.check_last_range_request(RouteKind::Detail(Series::Production), start, end);

    // Nothing from "today" on: the interval that ends at today's 00:00 is yesterday's.
    s.gw.set_today(day(2024, 6, 5));
    let points = s
        .load_curve(SeriesKind::Production, day(2024, 6, 4), day(2024, 6, 8))
        .await
        .expect("capped at today");
    assert_eq!(points.len(), 48);
    assert_eq!(points.last().unwrap().end, at("2024-06-05 00:00:00"));
    assert_eq!(s.gw.detail_calls(), 3);
}

async fn load_curve_dst_days_have_46_and_50_points_in_time_order(g: Generation) {
    let s = Setup::new(g);
    // W = minutes since the week's start (UTC) at the interval's start: strictly increasing in
    // time, so the order of the repeated autumn times shows in the values, and within the
    // meter's range (at most 7 × 1440 W).
    let origin = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc().timestamp();
    for series in [Series::Consumption, Series::Production] {
        s.gw.fill_curve_slots(
            DEFAULT_PDL,
            series,
            day(2024, 3, 25),
            day(2024, 4, 1),
            30,
            |slot| (slot.start.timestamp() - origin(day(2024, 3, 24))) / 60,
        );
        s.gw.fill_curve_slots(
            DEFAULT_PDL,
            series,
            day(2024, 10, 21),
            day(2024, 10, 28),
            30,
            |slot| (slot.start.timestamp() - origin(day(2024, 10, 20))) / 60,
        );
    }
    let expected_ends = |d: NaiveDate| -> Vec<NaiveDateTime> {
        paris_curve_slots(d, 30).iter().map(|s| s.end).collect()
    };

    for (kind, dst_day, count) in [
        (SeriesKind::Consumption, day(2024, 3, 31), 46),
        (SeriesKind::Consumption, day(2024, 10, 27), 50),
        (SeriesKind::Production, day(2024, 3, 31), 46),
        (SeriesKind::Production, day(2024, 10, 27), 50),
    ] {
        let next = dst_day.succ_opt().unwrap();
        let points = s.load_curve(kind, dst_day, next).await.expect("a DST day");
        assert_eq!(points.len(), count, "{kind:?} {dst_day}");
        assert_eq!(
            points.iter().map(|p| p.end).collect::<Vec<_>>(),
            expected_ends(dst_day),
            "{kind:?} {dst_day}: the naive ends, repeats kept, in time order"
        );
        assert!(
            points.windows(2).all(|w| w[0].watts + 30 == w[1].watts),
            "{kind:?} {dst_day}: points in time order, none lost: {points:?}"
        );
        assert!(points.iter().all(|p| p.interval_minutes == 30));
        assert_eq!(points.last().unwrap().end, next.and_time(NaiveTime::MIN));
    }

    // Spring: 01:30–02:00 is followed by 03:00–03:30.
    let spring = s
        .load_curve(SeriesKind::Consumption, day(2024, 3, 31), day(2024, 4, 1))
        .await
        .unwrap();
    let two = spring
        .iter()
        .position(|p| p.end == at("2024-03-31 02:00:00"))
        .expect("the interval 01:30–02:00");
    assert_eq!(spring[two + 1].end, at("2024-03-31 03:30:00"));

    // Autumn: the naive 02:30 and 03:00 come twice, summer time first.
    let autumn = s
        .load_curve(
            SeriesKind::Consumption,
            day(2024, 10, 27),
            day(2024, 10, 28),
        )
        .await
        .unwrap();
    let from = autumn
        .iter()
        .position(|p| p.end == at("2024-10-27 02:00:00"))
        .unwrap();
    assert_eq!(
        autumn[from..from + 6]
            .iter()
            .map(|p| p.end.format("%H:%M").to_string())
            .collect::<Vec<_>>(),
        ["02:00", "02:30", "03:00", "02:30", "03:00", "03:30"]
    );
    let repeated: Vec<i64> = autumn
        .iter()
        .filter(|p| p.end == at("2024-10-27 02:30:00"))
        .map(|p| p.watts)
        .collect();
    assert_eq!(repeated.len(), 2);
    assert_eq!(
        repeated[1] - repeated[0],
        60,
        "the second 02:30 is one hour later"
    );

    // One 7-day call across each change.
    let week = s
        .load_curve(SeriesKind::Consumption, day(2024, 3, 25), day(2024, 4, 1))
        .await
        .unwrap();
    assert_eq!(week.len(), 6 * 48 + 46);
    let week = s
        .load_curve(
            SeriesKind::Consumption,
            day(2024, 10, 21),
            day(2024, 10, 28),
        )
        .await
        .unwrap();
    assert_eq!(week.len(), 6 * 48 + 50);
    assert!(week.windows(2).all(|w| w[0].watts + 30 == w[1].watts));
    s.check_last_range_request(
        RouteKind::Detail(Series::Consumption),
        day(2024, 10, 21),
        day(2024, 10, 28),
    );
}

async fn load_curve_over_seven_days_is_refused_by_the_gateway(g: Generation) {
    let s = Setup::new(g);
    s.gw.fill_curve(
        DEFAULT_PDL,
        Series::Consumption,
        day(2024, 1, 1),
        day(2024, 1, 31),
        |_| 1,
    );
    let error = s
        .load_curve(SeriesKind::Consumption, day(2024, 1, 1), day(2024, 1, 9))
        .await
        .expect_err("8 days is too many for one call");
    check_error_text(&error, &[s.credential()]);
    match g {
        Generation::V1 => assert_eq!(
            error,
            GatewayError::Http {
                status: 400,
                message: "Date range cannot exceed 7 days".into()
            }
        ),
        Generation::V2 => assert_eq!(
            error,
            GatewayError::Api {
                code: "INVALID_DATE_RANGE".into(),
                message: "Date range cannot exceed 7 days".into()
            }
        ),
    }
    assert!(!error.is_transient(), "{error:?}");
    assert_eq!(s.gw.detail_calls(), 1);
}

async fn contract_gives_power_offpeak_hours_and_activation(g: Generation) {
    let s = Setup::new(g);
    // Default: from the meter row (9 kVA, HC 22–6, activated 2022-01-10).
    let contract = s.contract().await.expect("the default contract");
    assert_eq!(
        contract,
        Contract {
            subscribed_kva: Some(9),
            distribution_tariff: Some("BTINFMUDT".into()),
            offpeak_hours: Some("HC (22H00-6H00)".into()),
            activation_date: Some(day(2022, 1, 10)),
            status: Some("SERVC".into()),
        }
    );

    let mut fake = FakeContract::new(
        6,
        Some("HC (1H30-8H00;12H30-14H00)"),
        Some(day(2015, 5, 24)),
    );
    fake.distribution_tariff = "BTINFCUST".into();
    s.gw.set_contract(DEFAULT_PDL, fake);
    let contract = s.contract().await.expect("the contract");
    assert_eq!(contract.subscribed_kva, Some(6));
    assert_eq!(
        contract.offpeak_hours.as_deref(),
        Some("HC (1H30-8H00;12H30-14H00)")
    );
    assert_eq!(contract.activation_date, Some(day(2015, 5, 24)));
    assert_eq!(contract.distribution_tariff.as_deref(), Some("BTINFCUST"));

    // A BASE contract: no offpeak hours, an odd power notation.
    let mut fake = FakeContract::new(12, None, Some(day(2023, 11, 2)));
    fake.subscribed_power = "12kVA".into();
    s.gw.set_contract(DEFAULT_PDL, fake);
    let contract = s.contract().await.expect("the contract");
    assert_eq!(contract.subscribed_kva, Some(12));
    assert_eq!(contract.offpeak_hours, None);
    assert_eq!(contract.activation_date, Some(day(2023, 11, 2)));

    let requests = s.gw.contract_requests();
    assert_eq!(requests.len(), 3);
    let expected_path = match g {
        Generation::V1 => format!("/contracts/{DEFAULT_PDL}/cache"),
        Generation::V2 => format!("/api/enedis/contract/{DEFAULT_PDL}"),
    };
    for request in &requests {
        assert_eq!(request.path, expected_path);
        s.check_authorization(request);
    }
}

async fn meters_come_from_the_generation_s_source(g: Generation) {
    let gw = FakeGateway::start();
    let (a, b) = ("11111111111111", "22222222222222");
    let gateway = match g {
        Generation::V2 => {
            let mut second = FakeMeter::new(b, Some(day(2023, 5, 1)));
            second.oldest_available_data_date = Some(day(2023, 6, 1));
            gw.set_meters(vec![FakeMeter::new(a, None), second]);
            v2_client(&gw, Some(DEFAULT_SECRET))
        }
        Generation::V1 => {
            // v1 has no listing: the configured meters, dated by their contracts. The v2
            // meter list plays no part.
            gw.set_meters(Vec::new());
            gw.set_v1_token(a, "token-a");
            gw.set_v1_token(b, "token-b");
            gw.set_contract(a, FakeContract::new(6, None, None));
            gw.set_contract(b, FakeContract::new(9, None, Some(day(2023, 5, 1))));
            v1_client(&gw, &[(b, "token-b"), (a, "token-a")])
        }
    };
    let meters = within(T, "meters", gateway.meters())
        .await
        .expect("the meters");
    let oldest = match g {
        Generation::V2 => Some(day(2023, 6, 1)),
        Generation::V1 => None,
    };
    assert_eq!(
        meters,
        vec![
            MeterInfo {
                pdl: Pdl::parse(a).unwrap(),
                activation_date: None,
                oldest_available_date: None,
            },
            MeterInfo {
                pdl: Pdl::parse(b).unwrap(),
                activation_date: Some(day(2023, 5, 1)),
                oldest_available_date: oldest,
            },
        ]
    );
    match g {
        Generation::V2 => {
            assert_eq!((gw.pdl_calls(), gw.contract_calls()), (1, 0));
            assert_eq!(meters[1].first_available_day(), Some(day(2023, 6, 1)));
        }
        Generation::V1 => {
            assert_eq!((gw.pdl_calls(), gw.contract_calls()), (0, 2));
            // Each contract with its own meter's token.
            for request in gw.contract_requests() {
                let pdl = request.pdl().unwrap();
                let expected = if pdl == a { "token-a" } else { "token-b" };
                assert_eq!(request.authorization.as_deref(), Some(expected));
            }
            // One refused contract fails the listing.
            gw.push_fault_on(
                FaultOn::Contract,
                Fault::detail(403, "Le point de livraison ne correspond au token fournis."),
            );
            let error = within(T, "meters", gateway.meters())
                .await
                .expect_err("a refused contract");
            assert!(matches!(error, GatewayError::AccessDenied(_)), "{error:?}");
            check_error_text(&error, &["token-a", "token-b"]);
        }
    }
    assert_eq!(gw.requests().len(), gw.pdl_calls() + gw.contract_calls());
}

async fn access_reports_consent_and_quota_where_the_generation_has_them(g: Generation) {
    let s = Setup::new(g);
    let access = within(T, "access", s.gateway.access(&pdl()))
        .await
        .expect("an answer");
    if g == Generation::V2 {
        assert_eq!(access, None);
        assert!(s.gw.requests().is_empty(), "v2 makes no call for it");
        return;
    }
    assert_eq!(
        access,
        Some(AccessInfo {
            valid: true,
            consent_expiration: Some(at("2026-01-14 15:32:38")),
            quota_used: Some(0),
            quota_limit: Some(500),
            quota_reached: false,
            information: None,
        })
    );
    let request = s.gw.access_requests().pop().unwrap();
    assert_eq!(request.path, format!("/valid_access/{DEFAULT_PDL}/cache"));
    s.check_authorization(&request);

    // Calls count; the consent is configurable.
    s.gw.set_v1_consent_expiration(DEFAULT_PDL, at("2027-03-01 08:00:00"));
    s.gw.set_v1_quota_limit(DEFAULT_PDL, 3);
    s.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2024, 1, 1),
        day(2024, 1, 31),
        wh,
    );
    for _ in 0..2 {
        s.daily(SeriesKind::Consumption, day(2024, 1, 1), day(2024, 1, 8))
            .await
            .expect("within the quota");
    }
    let access = within(T, "access", s.gateway.access(&pdl()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        access,
        AccessInfo {
            valid: true,
            consent_expiration: Some(at("2027-03-01 08:00:00")),
            quota_used: Some(2),
            quota_limit: Some(3),
            quota_reached: false,
            information: None,
        }
    );

    // Quota reached: still an answer, not an error.
    s.contract().await.expect("the 3rd call");
    let access = within(T, "access", s.gateway.access(&pdl()))
        .await
        .expect("the access route answers even over quota")
        .unwrap();
    assert_eq!(
        access,
        AccessInfo {
            valid: false,
            consent_expiration: Some(at("2027-03-01 08:00:00")),
            quota_used: Some(3),
            quota_limit: Some(3),
            quota_reached: true,
            information: Some("Vous avez dépassé votre quota journalier (3)".into()),
        }
    );
    assert_eq!(s.gw.access_calls(), 3);
}

async fn errors_of_every_route_are_typed_and_never_show_the_credential(g: Generation) {
    let s = Setup::new(g);
    s.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2024, 1, 1),
        day(2024, 1, 31),
        wh,
    );
    let (start, end) = (day(2024, 1, 1), day(2024, 1, 8));
    // One failing call of every route, the fault aimed at that route.
    for (on, fault) in [
        (FaultOn::Daily, Fault::server_error()),
        (FaultOn::Power, Fault::server_error()),
        (FaultOn::Detail, Fault::server_error()),
        (FaultOn::Contract, Fault::server_error()),
    ] {
        let before = s.gw.requests().len();
        s.gw.push_fault_on(on, fault);
        let error = match on {
            FaultOn::Daily => s.daily(SeriesKind::Consumption, start, end).await.map(drop),
            FaultOn::Power => s.max_power(start, end).await.map(drop),
            FaultOn::Detail => s
                .load_curve(SeriesKind::Consumption, start, end)
                .await
                .map(drop),
            _ => s.contract().await.map(drop),
        }
        .expect_err("a 500 fails the call");
        assert_eq!(s.gw.pending_faults(), 0, "{on:?}: the fault was consumed");
        assert_eq!(s.gw.requests().len(), before + 1, "{on:?}: no retry");
        assert_eq!(
            error,
            GatewayError::Http {
                status: 500,
                message: "Internal Server Error".into()
            },
            "{on:?}"
        );
        assert!(error.is_transient());
        check_error_text(&error, &[s.credential()]);
        s.check_authorization(&s.gw.requests().pop().unwrap());
    }

    // A body that is not JSON at all, with a 200.
    s.gw.push_fault_on(
        FaultOn::Power,
        Fault::status(200, "<html>maintenance</html>"),
    );
    let error = s.max_power(start, end).await.expect_err("not JSON");
    assert_eq!(
        error,
        GatewayError::Malformed {
            status: 200,
            detail: "not JSON".into()
        }
    );
    assert!(error.is_transient());

    // The "quota reached" form of each generation.
    let quota = match g {
        Generation::V1 => Fault::detail(409, "Vous avez dépassé votre quota journalier (50)"),
        Generation::V2 => Fault::api("RATE_LIMIT_EXCEEDED", "Quota exceeded"),
    };
    s.gw.push_fault_on(FaultOn::Detail, quota);
    let error = s
        .load_curve(SeriesKind::Consumption, start, end)
        .await
        .expect_err("quota");
    assert!(matches!(error, GatewayError::QuotaReached(_)), "{error:?}");
    assert!(error.is_transient());

    // A refused meter.
    s.gw.push_fault_on(FaultOn::Contract, Fault::forbidden("Access denied"));
    let error = s.contract().await.expect_err("403");
    assert_eq!(error, GatewayError::AccessDenied("Access denied".into()));
    assert!(!error.is_transient());
}

// --- v1 only -------------------------------------------------------------------------------

#[tokio::test]
async fn v1_token_is_sent_raw_and_error_forms_are_typed() {
    let s = Setup::new(Generation::V1);
    s.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2024, 1, 1),
        day(2024, 1, 31),
        wh,
    );
    let (start, end) = (day(2024, 1, 1), day(2024, 1, 8));
    s.daily(SeriesKind::Consumption, start, end)
        .await
        .expect("a first call");
    for request in s.gw.requests() {
        assert_eq!(request.authorization.as_deref(), Some(DEFAULT_V1_TOKEN));
    }

    // 409 from the quota itself.
    s.gw.set_v1_quota_limit(DEFAULT_PDL, 1);
    let error = s
        .daily(SeriesKind::Consumption, start, end)
        .await
        .expect_err("quota reached");
    assert_eq!(
        error,
        GatewayError::QuotaReached("Vous avez dépassé votre quota journalier (1)".into())
    );
    assert!(error.is_transient(), "the quota resets by itself");
    check_error_text(&error, &[DEFAULT_V1_TOKEN]);
    for (what, result) in [
        ("max power", s.max_power(start, end).await.map(drop)),
        (
            "load curve",
            s.load_curve(SeriesKind::Consumption, start, end)
                .await
                .map(drop),
        ),
        ("contract", s.contract().await.map(drop)),
    ] {
        assert!(
            matches!(result, Err(GatewayError::QuotaReached(ref m)) if m.contains("(1)")),
            "{what}: {result:?}"
        );
    }
    s.gw.set_v1_quota_limit(DEFAULT_PDL, 500);

    // 403 from a token that does not match the PDL.
    let wrong = v1_client(&s.gw, &[(DEFAULT_PDL, "v1-token-of-someone-else")]);
    let error = within(
        T,
        "daily",
        wrong.daily(SeriesKind::Consumption, &pdl(), start, end, s.gw.today()),
    )
    .await
    .expect_err("the wrong token");
    assert_eq!(
        error,
        GatewayError::AccessDenied("Le point de livraison ne correspond au token fournis.".into())
    );
    assert!(!error.is_transient());
    check_error_text(&error, &["v1-token-of-someone-else", DEFAULT_V1_TOKEN]);
    assert_eq!(
        s.gw.requests().pop().unwrap().authorization.as_deref(),
        Some("v1-token-of-someone-else")
    );
    let error = within(T, "access", wrong.access(&pdl()))
        .await
        .expect_err("the wrong token");
    assert!(matches!(error, GatewayError::AccessDenied(_)), "{error:?}");

    // 400 (a PDL the gateway finds malformed; `Pdl` itself only holds 14 digits).
    s.gw.push_fault_on(
        FaultOn::Daily,
        Fault::detail(
            400,
            "Votre point de livraison doit être composé de 14 chiffres uniquement",
        ),
    );
    let error = s
        .daily(SeriesKind::Consumption, start, end)
        .await
        .expect_err("400");
    assert_eq!(
        error,
        GatewayError::Http {
            status: 400,
            message: "Votre point de livraison doit être composé de 14 chiffres uniquement".into()
        }
    );
    assert!(!error.is_transient());

    // 500 with the gateway's JSON explanation: transient.
    s.gw.push_fault_on(
        FaultOn::Daily,
        Fault::Status(
            500,
            "{\"detail\":\"Technical error. Please try later.\"}".into(),
        ),
    );
    let error = s
        .daily(SeriesKind::Consumption, start, end)
        .await
        .expect_err("500");
    assert_eq!(
        error,
        GatewayError::Http {
            status: 500,
            message: "Technical error. Please try later.".into()
        }
    );
    assert!(error.is_transient());

    // Non-JSON bodies: malformed with a 2xx, the status otherwise.
    s.gw.push_fault_on(
        FaultOn::Daily,
        Fault::status(200, "<html>maintenance</html>"),
    );
    let error = s
        .daily(SeriesKind::Consumption, start, end)
        .await
        .expect_err("not JSON");
    assert_eq!(
        error,
        GatewayError::Malformed {
            status: 200,
            detail: "not JSON".into()
        }
    );
    s.gw.push_fault_on(
        FaultOn::Daily,
        Fault::status(502, "<html>Bad gateway</html>"),
    );
    let error = s
        .daily(SeriesKind::Consumption, start, end)
        .await
        .expect_err("502");
    assert_eq!(
        error,
        GatewayError::Http {
            status: 502,
            message: "Bad Gateway".into()
        }
    );
    // JSON, but a v2 envelope: the wrong shape for v1.
    s.gw.push_fault_on(FaultOn::Daily, Fault::api("NO_DATA", "none"));
    let error = s
        .daily(SeriesKind::Consumption, start, end)
        .await
        .expect_err("an envelope is not a v1 payload");
    assert!(
        matches!(error, GatewayError::Malformed { status: 200, ref detail } if detail.starts_with("unexpected shape")),
        "{error:?}"
    );
    // The access route too.
    s.gw.push_fault_on(
        FaultOn::Access,
        Fault::detail(500, "Technical error. Please try later."),
    );
    let error = within(T, "access", s.gateway.access(&pdl()))
        .await
        .expect_err("500");
    assert!(
        matches!(error, GatewayError::Http { status: 500, .. }),
        "{error:?}"
    );
    assert_eq!(s.gw.pending_faults(), 0);

    // Every request carried the raw token, never `Bearer`.
    let requests = s.gw.requests();
    assert!(requests.iter().all(|r| r.is_v1()));
    assert!(
        requests.iter().all(|r| r
            .authorization
            .as_deref()
            .is_some_and(|a| !a.to_ascii_lowercase().starts_with("bearer"))),
        "{requests:?}"
    );
}

#[tokio::test]
async fn v1_meter_without_a_token_fails_before_any_request() {
    let s = Setup::new(Generation::V1);
    let other = Pdl::parse("98765432109876").unwrap();
    let error = within(
        T,
        "daily",
        s.gateway.daily(
            SeriesKind::Consumption,
            &other,
            day(2024, 1, 1),
            day(2024, 1, 2),
            s.gw.today(),
        ),
    )
    .await
    .expect_err("no token for that meter");
    assert!(
        matches!(error, GatewayError::Unauthorized(ref m) if m.contains("98765432109876")),
        "{error:?}"
    );
    assert!(!error.is_transient());
    assert!(s.gw.requests().is_empty());
}

#[tokio::test]
async fn v1_base_url_with_a_trailing_slash_reaches_the_same_routes() {
    install_crypto_provider();
    let gw = FakeGateway::start();
    gw.set_today(day(2024, 12, 1));
    gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2024, 1, 1),
        day(2024, 1, 31),
        wh,
    );
    let url = url::Url::parse(&format!("{}/", gw.url_v1())).unwrap();
    let tokens = BTreeMap::from([(pdl(), Secret::new(DEFAULT_V1_TOKEN))]);
    let client = v1::Client::new(url, tokens, CLIENT_TIMEOUT).unwrap();
    let series = within(
        T,
        "daily",
        items(client.daily(
            SeriesKind::Consumption,
            &pdl(),
            day(2024, 1, 1),
            day(2024, 1, 3),
        )),
    )
    .await
    .expect("the same route");
    assert_eq!(series.readings.len(), 2);
    let access = within(T, "access", client.access(&pdl()))
        .await
        .expect("the same route");
    assert_eq!(access.quota_used, Some(1));
    assert_eq!(
        gw.requests()[0].path,
        format!("/daily_consumption/{DEFAULT_PDL}/start/2024-01-01/end/2024-01-03/cache/")
    );
}

// --- v2 only -------------------------------------------------------------------------------

#[tokio::test]
async fn v2_envelope_errors_on_the_new_routes() {
    let s = Setup::new(Generation::V2);
    let (start, end) = (day(2024, 1, 1), day(2024, 1, 8));

    // NO_DATA is "nothing yet" for the series, not an error.
    s.gw.push_fault_on(FaultOn::Detail, Fault::api("NO_DATA", "none"));
    s.gw.push_fault_on(FaultOn::Power, Fault::api("NO_DATA", "none"));
    assert_eq!(
        s.load_curve(SeriesKind::Consumption, start, end).await,
        Ok(Vec::new())
    );
    assert_eq!(s.max_power(start, end).await, Ok(Vec::new()));
    s.gw.set_empty_as_no_data(true);
    assert_eq!(
        s.load_curve(SeriesKind::Production, start, end).await,
        Ok(Vec::new())
    );
    assert_eq!(s.max_power(start, end).await, Ok(Vec::new()));
    s.gw.set_empty_as_no_data(false);

    s.gw.push_fault_on(
        FaultOn::Detail,
        Fault::api("ADAM-ERR0123", "before activation"),
    );
    let error = s
        .load_curve(SeriesKind::Consumption, start, end)
        .await
        .expect_err("before activation");
    assert_eq!(
        error,
        GatewayError::BeforeActivation("before activation".into())
    );
    s.gw.push_fault_on(FaultOn::Power, Fault::api("ENEDIS_UNAVAILABLE", "down"));
    let error = s.max_power(start, end).await.expect_err("Enedis down");
    assert_eq!(
        error,
        GatewayError::Api {
            code: "ENEDIS_UNAVAILABLE".into(),
            message: "down".into()
        }
    );
    assert!(error.is_transient());
    s.gw.push_fault_on(FaultOn::Contract, Fault::api("ACCESS_DENIED", "not yours"));
    let error = s.contract().await.expect_err("access denied");
    assert_eq!(error, GatewayError::AccessDenied("not yours".into()));
    s.gw.push_fault_on(
        FaultOn::Contract,
        Fault::Success(true, String::new(), String::new()),
    );
    let error = s.contract().await.expect_err("success without data");
    assert!(
        matches!(error, GatewayError::Malformed { status: 200, .. }),
        "{error:?}"
    );
    assert_eq!(s.gw.pending_faults(), 0);

    // The secret: 401 on every route, never shown.
    let wrong = v2_client(&s.gw, Some("not-the-secret-9f8e"));
    let error = within(T, "contract", wrong.contract(&pdl()))
        .await
        .expect_err("the wrong secret");
    assert_eq!(
        error,
        GatewayError::Unauthorized("Invalid authentication credentials".into())
    );
    check_error_text(&error, &["not-the-secret-9f8e", DEFAULT_SECRET]);
    let error = within(
        T,
        "load curve",
        wrong.load_curve(SeriesKind::Consumption, &pdl(), start, end, s.gw.today()),
    )
    .await
    .expect_err("the wrong secret");
    assert!(matches!(error, GatewayError::Unauthorized(_)), "{error:?}");
    // A meter the account does not hold.
    let other = Pdl::parse("98765432109876").unwrap();
    let error = within(
        T,
        "max power",
        s.gateway.max_power(&other, start, end, s.gw.today()),
    )
    .await
    .expect_err("not on the account");
    assert_eq!(
        error,
        GatewayError::AccessDenied("Access denied to this PDL".into())
    );
}

/// The items of a client's answer (what it refused is the facade's to log).
async fn items<T, E>(
    answer: impl std::future::Future<
        Output = Result<myelectricaldata_mqtt::gateway::admit::Parsed<T>, E>,
    >,
) -> Result<T, E> {
    answer.await.map(|parsed| parsed.items)
}
