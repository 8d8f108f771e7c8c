//! Proves the shared test support works: brokers, probe, fake gateway, fake Supervisor.

mod support;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, Packet, QoS,
    TlsConfiguration, Transport,
};
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use support::probe::{client_id, install_crypto_provider};
use support::*;

const T: Duration = Duration::from_secs(5);

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Polls a fresh client until the broker answers the CONNECT (ConnAck or refusal).
async fn connect_once(options: MqttOptions) -> Result<(), ConnectionError> {
    let (_client, mut eventloop) = AsyncClient::new(options, 10);
    within(T, "an answer to CONNECT", async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    })
    .await
}

fn is_bad_credentials(result: &Result<(), ConnectionError>) -> bool {
    matches!(
        result,
        Err(ConnectionError::ConnectionRefused(
            ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized
        ))
    )
}

#[tokio::test]
async fn anonymous_broker_and_probe_round_trip() {
    let broker = Mosquitto::start(BrokerKind::Anonymous);
    assert_eq!(broker.url(), format!("mqtt://127.0.0.1:{}", broker.port()));
    assert!(broker.log().contains("running"), "{}", broker.log());
    assert!(broker.ca_cert_path().is_none());

    let probe = MqttProbe::connect(broker.port(), &["#"]).await;
    probe.publish("selftest/state", "hello", true).await;
    let got = probe.wait_for_text("selftest/state", "hello", T).await;
    assert!(
        !got.retain,
        "live delivery to an existing subscriber is not flagged retain"
    );

    let held =
        MqttProbe::retained_snapshot(broker.port(), "selftest/#", Duration::from_millis(300)).await;
    assert_eq!(
        held.get("selftest/state").map(Vec::as_slice),
        Some(&b"hello"[..])
    );

    // A new subscriber sees it flagged retain.
    let late = MqttProbe::connect(&broker, &["selftest/#"]).await;
    assert!(
        late.wait_for_text("selftest/state", "hello", T)
            .await
            .retain
    );

    let mark = probe.mark();
    probe.clear_retained("selftest/state").await;
    let cleared = probe
        .wait_for_after(mark, "selftest/state", <[u8]>::is_empty, T)
        .await;
    assert!(cleared.payload.is_empty());
    let held =
        MqttProbe::retained_snapshot(&broker, "selftest/#", Duration::from_millis(300)).await;
    assert!(held.is_empty(), "{held:?}");
    assert!(probe.topics().contains(&"selftest/state".to_string()));
}

#[tokio::test]
async fn password_broker_checks_credentials() {
    for options in [
        BrokerOptions::default(),
        BrokerOptions {
            hash_with_openssl: true,
            ..Default::default()
        },
    ] {
        let broker = Mosquitto::start_with(BrokerKind::password("ha", "p@ss:w/rd"), options);
        assert_eq!(
            broker.url(),
            format!("mqtt://ha:p%40ss%3Aw%2Frd@127.0.0.1:{}", broker.port())
        );
        let mut target = ProbeTarget::from(&broker);

        let right = connect_once(target.mqtt_options(&client_id("right"))).await;
        assert!(right.is_ok(), "{right:?}\n{}", broker.log());

        target.credentials = Some(("ha".into(), "wrong".into()));
        let wrong = connect_once(target.mqtt_options(&client_id("wrong"))).await;
        assert!(is_bad_credentials(&wrong), "{wrong:?}");

        target.credentials = None;
        let anonymous = connect_once(target.mqtt_options(&client_id("anon"))).await;
        assert!(is_bad_credentials(&anonymous), "{anonymous:?}");

        // The probe takes the credentials from the broker.
        let probe = MqttProbe::connect(&broker, &["#"]).await;
        probe.publish("selftest/pw", "ok", false).await;
        probe.wait_for_text("selftest/pw", "ok", T).await;
    }
}

#[tokio::test]
async fn tls_broker_accepts_a_client_trusting_the_generated_ca() {
    install_crypto_provider();
    let broker = Mosquitto::start(BrokerKind::Tls);
    assert_eq!(broker.url(), format!("mqtts://localhost:{}", broker.port()));
    let ca_path = broker.ca_cert_path().expect("TLS broker has a CA");
    let ca = std::fs::read(&ca_path).unwrap();
    assert!(String::from_utf8_lossy(&ca).contains("BEGIN CERTIFICATE"));

    let mut options = MqttOptions::new(client_id("tls"), "localhost", broker.port());
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
        ca: ca.clone(),
        alpn: None,
        client_auth: None,
    }));
    let result = connect_once(options).await;
    assert!(result.is_ok(), "{result:?}\n{}", broker.log());

    // The certificate also names 127.0.0.1.
    let mut options = MqttOptions::new(client_id("tls-ip"), "127.0.0.1", broker.port());
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
        ca,
        alpn: None,
        client_auth: None,
    }));
    let result = connect_once(options).await;
    assert!(result.is_ok(), "{result:?}\n{}", broker.log());

    // A CA the server was not signed by is refused.
    let other = Mosquitto::start(BrokerKind::Tls);
    let mut options = MqttOptions::new(client_id("tls-bad"), "localhost", broker.port());
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
        ca: other.ca_cert_pem().unwrap(),
        alpn: None,
        client_auth: None,
    }));
    let result = connect_once(options).await;
    assert!(matches!(result, Err(ConnectionError::Tls(_))), "{result:?}");

    let probe = MqttProbe::connect(&broker, &["#"]).await;
    probe.publish("selftest/tls", "ok", true).await;
    probe.wait_for_text("selftest/tls", "ok", T).await;
}

#[tokio::test]
async fn mutual_tls_broker_requires_a_client_certificate_from_its_ca() {
    install_crypto_provider();
    let broker = Mosquitto::start(BrokerKind::MutualTls);
    assert_eq!(broker.url(), format!("mqtts://localhost:{}", broker.port()));
    assert_eq!(broker.host(), "localhost");
    let config = std::fs::read_to_string(broker.dir().join("mosquitto.conf")).unwrap();
    assert!(config.contains("require_certificate true"), "{config}");
    let ca = broker.ca_cert_pem().expect("mutual-TLS broker has a CA");
    let cert_path = broker.client_cert_path().expect("a client certificate");
    let key_path = broker.client_key_path().expect("a client key");
    assert!(cert_path.starts_with(broker.dir()) && key_path.starts_with(broker.dir()));
    let (cert, key) = broker.client_auth_pem().unwrap();
    assert_eq!(cert, std::fs::read(&cert_path).unwrap());
    assert_eq!(key, std::fs::read(&key_path).unwrap());
    assert!(String::from_utf8_lossy(&cert).contains("BEGIN CERTIFICATE"));
    assert!(String::from_utf8_lossy(&key).contains("BEGIN PRIVATE KEY"));
    // The client certificate is P-256 like the server's, and signed by the broker's CA.
    let text = openssl(&["x509", "-noout", "-text", "-in"], &cert_path);
    assert!(text.contains("prime256v1"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    let ca_path = broker.ca_cert_path().unwrap();
    let verified = openssl(
        &[
            "verify",
            "-purpose",
            "sslclient",
            "-CAfile",
            &ca_path.display().to_string(),
        ],
        &cert_path,
    );
    assert!(verified.contains(": OK"), "{verified}");

    let tls_options = |name: &str, client_auth: Option<(Vec<u8>, Vec<u8>)>| {
        let mut options = MqttOptions::new(client_id(name), "localhost", broker.port());
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
            ca: ca.clone(),
            alpn: None,
            client_auth,
        }));
        options
    };

    // With the client certificate: accepted.
    let result = connect_once(tls_options("mtls", Some((cert.clone(), key.clone())))).await;
    assert!(result.is_ok(), "{result:?}\n{}", broker.log());

    // With a rustls config built by hand (as the program does): accepted too.
    let mut roots = rustls::RootCertStore::empty();
    for der in rustls::pki_types::CertificateDer::pem_slice_iter(&ca) {
        roots.add(der.unwrap()).unwrap();
    }
    let chain = rustls::pki_types::CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let private_key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&key).unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, private_key)
        .unwrap();
    let mut options = MqttOptions::new(client_id("mtls-rustls"), "localhost", broker.port());
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
        std::sync::Arc::new(config),
    )));
    let result = connect_once(options).await;
    assert!(result.is_ok(), "{result:?}\n{}", broker.log());

    // Without a client certificate: refused (the server certificate itself is trusted).
    let result = connect_once(tls_options("mtls-none", None)).await;
    assert!(is_tls_refusal(&result), "{result:?}\n{}", broker.log());
    assert!(
        matches!(
            alert_received(&result),
            None | Some(rustls::AlertDescription::CertificateRequired)
        ),
        "{result:?}"
    );

    // With a client certificate from another CA: refused.
    let other = Mosquitto::start(BrokerKind::MutualTls);
    assert_ne!(other.ca_cert_pem().unwrap(), ca);
    let result = connect_once(tls_options("mtls-other", other.client_auth_pem())).await;
    assert!(is_tls_refusal(&result), "{result:?}\n{}", broker.log());
    assert_ne!(
        alert_received(&result),
        Some(rustls::AlertDescription::CertificateRequired),
        "{result:?}"
    );

    // Plain TLS brokers are unchanged: no client certificate.
    let plain = Mosquitto::start(BrokerKind::Tls);
    assert!(plain.client_cert_path().is_none() && plain.client_key_path().is_none());
    assert!(plain.client_auth_pem().is_none());
    let config = std::fs::read_to_string(plain.dir().join("mosquitto.conf")).unwrap();
    assert!(!config.contains("require_certificate"), "{config}");
}

/// The broker refused the TLS session: an error during the handshake, or (TLS 1.3, where the
/// server checks the client certificate after the client's handshake is over) a rustls alert
/// or a closed connection on the first read/write of MQTT.
fn is_tls_refusal(result: &Result<(), ConnectionError>) -> bool {
    match result {
        Err(ConnectionError::Tls(_)) => true,
        Err(ConnectionError::MqttState(rumqttc::StateError::ConnectionAborted)) => true,
        Err(e) => io_error(e).is_some_and(|io| {
            rustls_error(io).is_some()
                || matches!(
                    io.kind(),
                    std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::BrokenPipe
                )
        }),
        Ok(()) => false,
    }
}

/// The alert the broker sent, when the failure is one.
fn alert_received(result: &Result<(), ConnectionError>) -> Option<rustls::AlertDescription> {
    match result
        .as_ref()
        .err()
        .and_then(io_error)
        .and_then(rustls_error)
    {
        Some(rustls::Error::AlertReceived(alert)) => Some(*alert),
        _ => None,
    }
}

/// The I/O error inside a connection error (directly, or while reading/writing MQTT).
fn io_error(error: &ConnectionError) -> Option<&std::io::Error> {
    use rumqttc::{StateError, mqttbytes};
    match error {
        ConnectionError::Io(e)
        | ConnectionError::MqttState(StateError::Io(e))
        | ConnectionError::MqttState(StateError::Deserialization(mqttbytes::Error::Io(e))) => {
            Some(e)
        }
        _ => None,
    }
}

fn rustls_error(error: &std::io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

/// `openssl ARGS FILE`, stdout (panics on failure).
fn openssl(args: &[&str], file: &std::path::Path) -> String {
    let out = std::process::Command::new("openssl")
        .args(args)
        .arg(file)
        .output()
        .expect("cannot run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn broker_restarts_on_the_same_port() {
    let mut broker = Mosquitto::start(BrokerKind::Anonymous);
    let port = broker.port();
    let probe = MqttProbe::connect(&broker, &["selftest/#"]).await;
    probe.publish("selftest/kept", "1", true).await;
    probe.wait_for_text("selftest/kept", "1", T).await;

    broker.stop();
    assert!(!broker.is_running());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());

    broker.restart();
    assert_eq!(broker.port(), port);
    assert!(broker.is_running());
    // The probe reconnects and subscribes again by itself.
    probe.wait_connections(2, T).await;
    let held =
        MqttProbe::retained_snapshot(&broker, "selftest/#", Duration::from_millis(300)).await;
    assert!(
        held.is_empty(),
        "no persistence: retained messages are gone: {held:?}"
    );
    let mark = probe.mark();
    probe.publish("selftest/after", "2", false).await;
    probe
        .wait_for_after(mark, "selftest/after", |p| p == b"2", T)
        .await;

    // `restart` waits (bounded) for a port that is briefly held by someone else.
    broker.stop();
    let squatter = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(squatter);
    });
    broker.restart();
    release.join().unwrap();
    assert_eq!(broker.port(), port);
    assert!(
        broker.log().contains("Address already in use"),
        "{}",
        broker.log()
    );
    probe.wait_connections(3, T).await;

    // With persistence, retained messages survive a restart.
    let mut persistent = Mosquitto::start_with(
        BrokerKind::Anonymous,
        BrokerOptions {
            persistence: true,
            ..Default::default()
        },
    );
    let writer = MqttProbe::connect(&persistent, &["selftest/#"]).await;
    writer
        .publish_qos("selftest/kept", "3", true, QoS::AtLeastOnce)
        .await;
    writer.wait_for_text("selftest/kept", "3", T).await;
    persistent.restart();
    let held =
        MqttProbe::retained_snapshot(&persistent, "selftest/#", Duration::from_millis(300)).await;
    assert_eq!(
        held.get("selftest/kept").map(Vec::as_slice),
        Some(&b"3"[..])
    );
}

fn http() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn get(client: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn without_timestamp(body: &str) -> Value {
    let mut value: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let stamp = value["timestamp"]
        .as_str()
        .expect("a timestamp")
        .to_string();
    assert!(stamp.ends_with('Z') && stamp.len() == 20, "{stamp}");
    value["timestamp"] = Value::Null;
    value
}

#[tokio::test]
async fn fake_gateway_serves_days_and_faults() {
    let gw = FakeGateway::start();
    let client = http();
    let base = gw.url();
    assert_eq!(base, format!("http://127.0.0.1:{}/api", gw.port()));
    let secret = Some("secret-123");

    let (status, body) = get(&client, &format!("{base}/pdl"), None).await;
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"detail":"Not authenticated"}"#)
    );
    let (status, body) = get(&client, &format!("{base}/pdl"), Some("nope")).await;
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"detail":"Invalid authentication credentials"}"#)
    );

    let (status, body) = get(&client, &format!("{base}/pdl"), secret).await;
    assert_eq!(status, 200);
    assert_eq!(
        without_timestamp(&body),
        json!({"success":true,"data":[{"usage_point_id":"12345678901234","name":"Maison",
            "subscribed_power":9,"offpeak_hours":"HC (22H00-6H00)","pricing_option":"BASE",
            "has_consumption":true,"has_production":false,"is_active":true,
            "activation_date":"2022-01-10","oldest_available_data_date":"2022-01-10"}],
            "error":null,"timestamp":null})
    );

    let pdl = "12345678901234";
    gw.fill(
        pdl,
        Series::Consumption,
        day(2024, 1, 1),
        day(2024, 1, 5),
        |d| 15000 + i64::from(chrono::Datelike::day(&d)),
    );
    gw.set_today(day(2024, 1, 4));
    let daily = |start: &str, end: &str| {
        format!("{base}/enedis/consumption/daily/{pdl}?start={start}&end={end}&use_cache=true")
    };
    let (status, body) = get(&client, &daily("2023-12-30", "2024-01-10"), secret).await;
    assert_eq!(status, 200);
    assert_eq!(
        without_timestamp(&body),
        json!({"success":true,"data":{"meter_reading":{"usage_point_id":pdl,
            "start":"2023-12-30","end":"2024-01-10","quality":"BRUT",
            "reading_type":{"measurement_kind":"energy","measuring_period":"P1D","unit":"Wh",
                "aggregate":"sum"},
            "interval_reading":[{"value":"15001","date":"2024-01-01"},
                {"value":"15002","date":"2024-01-02"},{"value":"15003","date":"2024-01-03"}]}},
            "error":null,"timestamp":null})
    );
    // `end` is exclusive.
    let (_, body) = get(&client, &daily("2024-01-02", "2024-01-03"), secret).await;
    let readings = &without_timestamp(&body)["data"]["meter_reading"]["interval_reading"];
    assert_eq!(readings, &json!([{"value":"15002","date":"2024-01-02"}]));
    // Production has nothing.
    let url = format!("{base}/enedis/production/daily/{pdl}?start=2024-01-01&end=2024-01-03");
    let (status, body) = get(&client, &url, secret).await;
    assert_eq!(status, 200);
    assert_eq!(
        without_timestamp(&body)["data"]["meter_reading"]["interval_reading"],
        json!([])
    );

    for (start, end) in [("2024-01-03", "2024-01-03"), ("2023-01-01", "2024-01-02")] {
        let (status, body) = get(&client, &daily(start, end), secret).await;
        assert_eq!(status, 200);
        let value = without_timestamp(&body);
        assert_eq!(value["success"], json!(false));
        assert_eq!(
            value["error"]["code"],
            json!("INVALID_DATE_RANGE"),
            "{start}..{end}"
        );
        assert_eq!(value["data"], Value::Null);
    }
    let (status, _) = get(&client, &daily("2023-01-02", "2024-01-02"), secret).await;
    assert_eq!(status, 200, "365 days are allowed");
    let (status, _) = get(&client, &daily("2024-01-01", "nope"), secret).await;
    assert_eq!(status, 422);
    let url =
        format!("{base}/enedis/consumption/daily/99999999999999?start=2024-01-01&end=2024-01-02");
    let (status, _) = get(&client, &url, secret).await;
    assert_eq!(status, 403);

    // Faults, in order, only for the requests they target.
    gw.push_fault_on(FaultOn::Daily, Fault::server_error());
    gw.push_fault(Fault::rate_limited());
    gw.push_fault(Fault::api("NO_DATA", "Nothing here"));
    gw.push_fault(Fault::Status(403, r#"{"detail":"Consent expired"}"#.into()));
    let (status, body) = get(&client, &format!("{base}/pdl"), secret).await;
    assert_eq!(
        (status, body.as_str()),
        (
            429,
            r#"{"detail":"Rate limit exceeded: 50/50 requests today"}"#
        ),
        "the Daily fault is skipped by /pdl"
    );
    let (status, body) = get(&client, &daily("2024-01-01", "2024-01-02"), secret).await;
    assert_eq!(
        (status, body.as_str()),
        (500, "<html>Internal Server Error</html>")
    );
    let (status, body) = get(&client, &daily("2024-01-01", "2024-01-02"), secret).await;
    assert_eq!(status, 200);
    assert_eq!(
        without_timestamp(&body),
        json!({"success":false,"data":null,
            "error":{"code":"NO_DATA","message":"Nothing here","field":null},"timestamp":null})
    );
    let (status, body) = get(&client, &format!("{base}/pdl"), secret).await;
    assert_eq!(
        (status, body.as_str()),
        (403, r#"{"detail":"Consent expired"}"#)
    );
    assert_eq!(gw.pending_faults(), 0);

    gw.push_fault(Fault::Delay(Duration::from_millis(400)));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = impatient
        .get(daily("2024-01-01", "2024-01-02"))
        .bearer_auth("secret-123")
        .send()
        .await
        .expect_err("the delay outlasts the client timeout");
    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() < Duration::from_millis(350));

    let requests = gw.requests();
    assert_eq!(requests[0].authorization, None);
    assert_eq!(requests[1].authorization.as_deref(), Some("Bearer nope"));
    let last = requests.last().unwrap();
    assert_eq!(last.method, "GET");
    assert_eq!(last.path, format!("/api/enedis/consumption/daily/{pdl}"));
    assert_eq!(last.query, "start=2024-01-01&end=2024-01-02&use_cache=true");
    assert_eq!(last.query_param("end").as_deref(), Some("2024-01-02"));
    assert_eq!(last.authorization.as_deref(), Some("Bearer secret-123"));
    assert_eq!(gw.daily_calls(), 11);
    assert_eq!(gw.pdl_calls(), 5);

    // Configurable meters and secret.
    gw.set_pdls(&[
        ("11111111111111", None),
        ("22222222222222", Some(day(2023, 5, 1))),
    ]);
    gw.set_secret(None);
    let (status, body) = get(&client, &format!("{base}/pdl"), None).await;
    assert_eq!(status, 200);
    let value = without_timestamp(&body);
    assert_eq!(value["data"][0]["usage_point_id"], json!("11111111111111"));
    assert_eq!(value["data"][0]["activation_date"], Value::Null);
    assert_eq!(value["data"][1]["activation_date"], json!("2023-05-01"));
}

#[tokio::test]
async fn fake_supervisor_modes() {
    let sup = FakeSupervisor::start("sup-token", SupervisorMode::ok("core-mosquitto", 1883));
    let client = http();
    let url = format!("{}/services/mqtt", sup.url());
    assert_eq!(sup.url(), format!("http://127.0.0.1:{}", sup.port()));

    let (status, body) = get(&client, &url, Some("sup-token")).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"result":"ok","data":{"host":"core-mosquitto","port":1883,"ssl":false,
            "protocol":"3.1.1","username":"addons","password":"supervisor-mqtt-password",
            "addon":"core_mosquitto"}})
    );

    sup.set_mode(SupervisorMode::Ok {
        host: "core-mosquitto".into(),
        port: 1883,
        port_as_string: true,
        provider_key: "app".into(),
        username: "addons".into(),
        password: "pw".into(),
        ssl: true,
    });
    let (_, body) = get(&client, &url, Some("sup-token")).await;
    let value: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(value["data"]["port"], json!("1883"));
    assert_eq!(value["data"]["app"], json!("core_mosquitto"));
    assert_eq!(value["data"]["ssl"], json!(true));
    assert!(value["data"].get("addon").is_none());

    sup.set_mode(SupervisorMode::NotEnabled);
    let (status, body) = get(&client, &url, Some("sup-token")).await;
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"result":"error","message":"Service not enabled"}"#)
    );
    sup.set_mode(SupervisorMode::NoAccess);
    let (status, body) = get(&client, &url, Some("sup-token")).await;
    assert_eq!(
        (status, body.as_str()),
        (
            403,
            r#"{"result":"error","message":"No access to mqtt service!"}"#
        )
    );
    let (status, body) = get(&client, &url, Some("wrong")).await;
    assert_eq!((status, body.as_str()), (401, "401: Unauthorized"));
    let (status, _) = get(&client, &url, None).await;
    assert_eq!(status, 401);
    assert_eq!(sup.calls(), 6);
    assert_eq!(
        sup.requests()[0].authorization.as_deref(),
        Some("Bearer sup-token")
    );

    // Pointing at a real broker.
    let broker = Mosquitto::start(BrokerKind::password("u", "p"));
    match SupervisorMode::for_broker(&broker) {
        SupervisorMode::Ok {
            host,
            port,
            username,
            password,
            ssl,
            ..
        } => {
            assert_eq!((host.as_str(), port), ("127.0.0.1", broker.port()));
            assert_eq!(
                (username.as_str(), password.as_str(), ssl),
                ("u", "p", false)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn free_port_is_loopback_bindable() {
    let port = free_port();
    assert!(port > 0);
    std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
}
