//! The web page over real HTTP: the page of a store synced from the sample gateway, the
//! panel that refreshes itself, the test button against a real Mosquitto and the fake
//! gateway, the limits. The browser test (`web_browser.rs`) drives the same page in Chromium.

mod support;

use std::sync::Arc;

use axum::serve::Listener;
use myelectricaldata_mqtt::calendar::sub_days;
use myelectricaldata_mqtt::gateway::Gateway;
use myelectricaldata_mqtt::gateway::sample::{SAMPLE_PDL, SampleGateway};
use myelectricaldata_mqtt::model::{DailyReading, DailySeries, DayRange, Pdl, Secret, SeriesKind};
use myelectricaldata_mqtt::mqtt::LinkStatus;
use myelectricaldata_mqtt::web::{self, WebState};
use serde_json::json;
use support::*;

/// A secret of each kind, none of which may reach the browser.
const BROKER_PASSWORD: &str = "broker-pw-NEVER-SHOWN-6b1";
const SUPERVISOR_TOKEN: &str = "sup-token-NEVER-SHOWN-0d4";

/// A page on 127.0.0.1 over a store synced from the sample gateway.
struct Served {
    harness: Harness,
    pipeline: myelectricaldata_mqtt::pipeline::Pipeline,
    state: WebState,
    url: String,
    _server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// A broker URL with a password, where no broker listens.
fn nowhere() -> String {
    format!("mqtt://ha:{BROKER_PASSWORD}@127.0.0.1:{}", free_port())
}

/// The sample meter (HC/HP with its load curve, production too), Tempo and EcoWatt on,
/// `language`, the broker at `broker_url`, synced at 2024-03-15 10:00.
async fn served(language: &str, broker_url: &str) -> Served {
    served_from(language, broker_url, None).await
}

/// As [`served`], with the store in the PostgreSQL at `database_url` when there is one.
async fn served_from(language: &str, broker_url: &str, database_url: Option<String>) -> Served {
    let options = json!({
        "name": "Maison", "tariff": "HC_HP", "load_curve": true, "production": true,
        "price_hc": 0.2068, "price_hp": 0.27,
    });
    let top = json!({
        "language": language,
        "mqtt_enabled": true,
        "mqtt_broker": broker_url,
        "energy_statistics": false,
    });
    let mut harness = Harness::grid(
        Generation::V2,
        "2024-03-15T10:00:00Z",
        meter(SAMPLE_PDL, options),
        top,
    );
    harness.settings.database = database_url.map(Secret::new);
    harness.gw.set_pdls(&[(SAMPLE_PDL, None)]);
    let activation = sub_days(paris_day(harness.now()), 800);
    let pipeline = harness
        .open_with(Gateway::Sample(SampleGateway::new(activation)))
        .await;
    assert_ok(&sync(&pipeline).await);
    let clock = Arc::new(harness.clock.clone());
    let state = WebState::new(harness.settings.clone(), pipeline.store.clone(), clock);
    let listener = web::bind("127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let shutdown = std::future::pending();
    let server = tokio::spawn(web::serve(listener, web::router(state.clone()), shutdown));
    Served {
        harness,
        pipeline,
        state,
        url,
        _server: server,
    }
}

/// The status the MQTT driver would report: connected since 09:59:30 UTC, 120 published.
fn connected() -> tokio::sync::watch::Receiver<LinkStatus> {
    let status = LinkStatus {
        connected: true,
        connected_since: Some(instant("2024-03-15T09:59:30Z")),
        connections: 1,
        published: 120,
        ..LinkStatus::default()
    };
    tokio::sync::watch::channel(status).1
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("an answer");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

async fn post(url: &str) -> (u16, String) {
    let client = reqwest::Client::new();
    let response = client.post(url).send().await.expect("an answer");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_shows_the_status_the_meter_and_its_charts_and_no_secret() {
    let page = served("en", &nowhere()).await;
    let broker = page.harness.settings.mqtt.broker.clone().unwrap();
    page.state.set_mqtt(&broker, connected());
    let (status, html) = get(&page.url).await;
    assert_eq!(status, 200);
    for expected in [
        "<html lang=\"en\"",
        "Maison",
        SAMPLE_PDL,
        "HC_HP",
        "connected since 2024-03-15 10:59",
        "120 messages published",
        "Test connection",
        "Last 30 days (kWh)",
        "Cost per day (€)",
        "Last 24 months (kWh)",
        "Tempo season",
        "EcoWatt today",
        "days stored",
        "<h3>Store</h3><p>SQLite ",
    ] {
        assert!(
            html.contains(expected),
            "{expected:?} missing from the page"
        );
    }
    // HC/HP stacked for the days of the curve, production beside, a cost each day.
    for class in ["hc", "hp", "prod", "cost", "t-blue"] {
        let path = format!("<path class=\"{class}\" d=\"M");
        assert!(html.contains(&path), "no {class} bar or cell");
    }
    assert!(html.contains("<rect class=\"e-1"), "EcoWatt's hours");
    // Each day's tooltip says its values.
    assert!(
        html.contains("<title>2024-03-14: Off-peak "),
        "a day split into HC/HP"
    );
    for secret in [
        BROKER_PASSWORD,
        support::gateway::DEFAULT_SECRET,
        SUPERVISOR_TOKEN,
    ] {
        assert!(!html.contains(secret), "the page shows a secret");
    }
    assert!(!html.contains("<base"), "no base without the ingress proxy");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_names_a_postgres_store_never_its_password() {
    let server = Postgres::start();
    let password = "db-pw-NEVER-SHOWN-3c";
    let url = format!(
        "postgres://postgres:{password}@127.0.0.1:{}/postgres",
        server.port()
    );
    let page = served_from("fr", &nowhere(), Some(url)).await;
    let (status, html) = get(&page.url).await;
    assert_eq!(status, 200);
    let shown = format!(
        "<h3>Stockage</h3><p>PostgreSQL 127.0.0.1:{}/postgres</p>",
        server.port()
    );
    assert!(html.contains(&shown), "{html}");
    assert!(
        html.contains("800 jours en base"),
        "the history, read from PostgreSQL"
    );
    assert!(!html.contains(password));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_meters_history_is_drawn_again_once_the_store_changes() {
    let page = served("en", &nowhere()).await;
    let stored =
        |html: &str| html.contains("Consumption: 800 days stored (2022-01-05 → 2024-03-14)");
    let (_, html) = get(&page.url).await;
    assert!(stored(&html), "{html}");
    let (_, again) = get(&page.url).await;
    assert!(stored(&again));
    // The same day, a corrected value: the store's version changed, the charts follow.
    let corrected = DailySeries {
        quality: None,
        readings: vec![DailyReading {
            date: day(2024, 3, 14),
            wh: 99_990,
        }],
    };
    let range = DayRange::new(day(2024, 3, 14), day(2024, 3, 15));
    let pdl = Pdl::parse(SAMPLE_PDL).unwrap();
    let saving = page.pipeline.store.save_daily(
        &pdl,
        SeriesKind::Production,
        range,
        &corrected,
        page.harness.now(),
    );
    saving.await.unwrap();
    let (_, html) = get(&page.url).await;
    assert!(html.contains("Production 99.99 kWh</title>"), "{html}");
    page.harness.at("2024-03-16T10:00:00Z");
    assert_ok(&sync(&page.pipeline).await);
    let (_, html) = get(&page.url).await;
    assert!(
        html.contains("Consumption: 801 days stored (2022-01-05 → 2024-03-15)"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn in_french_the_page_speaks_french() {
    let page = served("fr", &nowhere()).await;
    let (_, html) = get(&page.url).await;
    for expected in [
        "<html lang=\"fr\"",
        "Tester la connexion",
        "30 derniers jours (kWh)",
        "Saison Tempo",
    ] {
        assert!(
            html.contains(expected),
            "{expected:?} missing from the page"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_panel_is_the_part_that_refreshes_and_the_ingress_path_becomes_the_base() {
    let page = served("en", &nowhere()).await;
    let (status, panel) = get(&format!("{}panel", page.url)).await;
    assert_eq!(status, 200);
    assert!(panel.contains("Maison") && panel.contains("<svg"));
    assert!(!panel.contains("<html") && !panel.contains("<script"));
    // Before the daemon knows its broker, the card says it is connecting.
    assert!(panel.contains("connecting"));

    let client = reqwest::Client::new();
    let html = client
        .get(&page.url)
        .header("X-Ingress-Path", "/api/hassio_ingress/AbCd-123")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"<base href="/api/hassio_ingress/AbCd-123/">"#));
    for absolute in ["href=\"/", "src=\"/", "fetch(\"/"] {
        let count = html.matches(absolute).count();
        assert_eq!(count, 1 - usize::from(absolute != "href=\"/"), "{absolute}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_test_button_runs_check_then_waits_before_calling_the_gateway_again() {
    let broker = Mosquitto::start(BrokerKind::password("ha", BROKER_PASSWORD));
    let page = served("en", &broker.url()).await;
    let (status, lines) = post(&format!("{}check", page.url)).await;
    assert_eq!(status, 200, "{lines}");
    for part in [
        "config:  ok — ",
        "store:   ok — SQLite ",
        "broker:  ok — connected to mqtt://ha:",
        "gateway: ok — ",
        "ha:      skipped — ",
    ] {
        assert!(lines.contains(part), "{part:?} missing from {lines}");
    }
    assert!(!lines.contains(BROKER_PASSWORD), "{lines}");
    let pdl_calls = || {
        page.harness
            .requests()
            .iter()
            .filter(|r| r.path == "/api/pdl")
            .count()
    };
    let calls = pdl_calls();
    let (status, again) = post(&format!("{}check", page.url)).await;
    assert_eq!(status, 429);
    assert!(again.contains("try again in"), "{again}");
    assert_eq!(pdl_calls(), calls, "a refused test calls nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_test_button_says_why_the_broker_refuses_a_wrong_password() {
    let broker = Mosquitto::start(BrokerKind::password("ha", "the-right-one"));
    let wrong = broker.url().replace("the-right-one", BROKER_PASSWORD);
    let page = served("en", &wrong).await;
    let (status, lines) = post(&format!("{}check", page.url)).await;
    assert_eq!(status, 200);
    assert!(lines.contains("broker:  FAILED — "), "{lines}");
    assert!(lines.contains("not authorised"), "{lines}");
    assert!(!lines.contains(BROKER_PASSWORD), "{lines}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_limit_is_refused_and_unknown_paths_are_not_found() {
    let page = served("en", &nowhere()).await;
    let client = reqwest::Client::new();
    let big = client
        .post(format!("{}check", page.url))
        .body(vec![b'x'; 64 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status().as_u16(), 413);
    let (status, _) = get(&format!("{}../../etc/passwd", page.url)).await;
    assert_eq!(status, 404);
    let (status, _) = get(&format!("{}check", page.url)).await;
    assert_eq!(status, 405, "the test runs on POST only");
}

/// Where the browser test leaves its screenshots (light, dark, phone).
fn screenshot_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    std::fs::create_dir_all(&dir).expect("a screenshot directory");
    dir
}

/// Polls `expression` until it is true, for 30 s at most.
async fn until(browser: &mut browser::Browser, expression: &str) {
    for _ in 0..300 {
        if browser.eval(expression).await == true {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("never true: {expression}");
}

/// The test button's lines, once they are there.
async fn test_button_lines(browser: &mut browser::Browser) -> String {
    browser
        .eval("document.getElementById('test').click()")
        .await;
    until(
        browser,
        "document.querySelectorAll('#test-result li').length == 5",
    )
    .await;
    let text = browser
        .eval("document.getElementById('test-result').innerText")
        .await;
    text.as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn in_chromium_under_the_ingress_prefix_in_light_dark_and_on_a_phone() {
    let broker = Mosquitto::start(BrokerKind::password("ha", BROKER_PASSWORD));
    let page = served("fr", &broker.url()).await;
    let address = page.harness.settings.mqtt.broker.clone().unwrap();
    page.state.set_mqtt(&address, connected());
    let proxy = ingress::IngressProxy::start(&page.url).await;
    let mut browser = browser::Browser::start().await;
    browser.viewport(1000, 900, false).await;
    browser.open(&proxy.url).await;

    let meters = "[...document.querySelectorAll('section.meter h2')].map(h => h.textContent)";
    let names = browser.eval(meters).await;
    assert_eq!(names, json!([format!("Maison {SAMPLE_PDL} · HC_HP")]));
    let drawn = "[...document.querySelectorAll('svg.chart')].filter(s => s.getBoundingClientRect().height > 40 && s.querySelectorAll('rect, path').length > 2).length";
    assert!(
        browser.eval(drawn).await.as_u64().unwrap() >= 5,
        "30 days, costs, 24 months, Tempo, EcoWatt"
    );
    let shots = screenshot_dir();
    std::fs::write(shots.join("light.png"), browser.screenshot().await).unwrap();

    let lines = test_button_lines(&mut browser).await;
    for part in [
        "config:  ok",
        "broker:  ok",
        "gateway: ok",
        "ha:      skipped",
    ] {
        assert!(lines.contains(part), "{part:?} missing from {lines}");
    }

    browser.dark(true).await;
    let background = browser
        .eval("getComputedStyle(document.body).backgroundColor")
        .await;
    assert_eq!(background, "rgb(17, 20, 24)");
    std::fs::write(shots.join("dark.png"), browser.screenshot().await).unwrap();

    browser.dark(false).await;
    browser.viewport(390, 844, true).await;
    let fits = "document.documentElement.scrollWidth <= window.innerWidth";
    assert_eq!(
        browser.eval(fits).await,
        true,
        "horizontal scroll on a phone"
    );
    std::fs::write(shots.join("phone.png"), browser.screenshot().await).unwrap();

    // The panel refreshes itself, through the prefix too.
    browser.eval("fetch('panel').then(r => r.status)").await;
    assert_eq!(browser.errors(), Vec::<String>::new());
    let requests = browser.requests();
    assert!(
        requests.iter().any(|r| r.ends_with("/check")),
        "{requests:?}"
    );
    assert!(
        requests.iter().all(|r| r.starts_with(&proxy.url)),
        "{requests:?}"
    );
    assert_eq!(proxy.escaped(), Vec::<String>::new());

    // A wrong broker password: the same page says so on its line.
    let wrong = broker.url().replace(BROKER_PASSWORD, "not-the-password");
    let other = served("fr", &wrong).await;
    let other_proxy = ingress::IngressProxy::start(&other.url).await;
    browser.open(&other_proxy.url).await;
    let lines = test_button_lines(&mut browser).await;
    assert!(lines.contains("broker:  FAILED — "), "{lines}");
    assert!(lines.contains("not authorised"), "{lines}");
    assert!(lines.contains("gateway: ok"), "{lines}");
    assert_eq!(browser.errors(), Vec::<String>::new());
}
