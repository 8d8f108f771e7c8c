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

    let held = MqttProbe::retained_snapshot(broker.port(), "selftest/#").await;
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
    let held = MqttProbe::retained_snapshot(&broker, "selftest/#").await;
    assert!(held.is_empty(), "{held:?}");
    assert!(probe.topics().contains(&"selftest/state".to_string()));
}

#[tokio::test]
async fn retained_snapshot_holds_every_retained_message_beyond_the_in_flight_window() {
    // More retained messages than mosquitto keeps in flight to one client (20): most reach the
    // snapshot from the broker's queue, QoS 1 and QoS 0 mixed.
    const N: usize = 100;
    let broker = Mosquitto::start(BrokerKind::Anonymous);
    let writer = MqttProbe::connect(&broker, &["selftest/#"]).await;
    let topic = |i: usize| format!("selftest/many/{i:03}");
    for i in 0..N {
        let qos = if i % 4 == 3 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        writer
            .publish_qos(&topic(i), i.to_string(), true, qos)
            .await;
    }
    // The broker handles the writer's publishes in order: the last one back means all are held.
    writer
        .wait_for_text(&topic(N - 1), &(N - 1).to_string(), T)
        .await;
    let watcher = MqttProbe::connect(&broker, &["#"]).await;

    let held = MqttProbe::retained_snapshot(&broker, "#").await;
    let expected: std::collections::BTreeMap<String, Vec<u8>> = (0..N)
        .map(|i| (topic(i), i.to_string().into_bytes()))
        .collect();
    assert_eq!(held, expected);

    // The marker went by other subscribers, live, and is not retained.
    let is_marker = |m: &Received| m.topic.starts_with("probe-sync/");
    eventually(T, "the snapshot's marker", || {
        watcher.messages().iter().any(is_marker)
    })
    .await;
    assert!(
        watcher
            .messages()
            .iter()
            .filter(|m| is_marker(m))
            .all(|m| !m.retain)
    );
    assert!(
        MqttProbe::retained_snapshot(&broker, "probe-sync/#")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn password_broker_checks_credentials() {
    for options in [
        BrokerOptions::default(),
        BrokerOptions {
            hash_in_process: true,
            ..Default::default()
        },
    ] {
        let broker =
            Mosquitto::start_with(BrokerKind::password("ha", "p@ss:w/rd"), options.clone());
        if options.hash_in_process {
            // `ha:$6$SALT$HASH`: 12 bytes of salt, SHA-512(password, salt), standard base64.
            use base64::Engine as _;
            use sha2::Digest as _;
            let file = std::fs::read_to_string(broker.dir().join("passwd")).unwrap();
            let fields: Vec<&str> = file.trim_end().split('$').collect();
            assert_eq!(fields.len(), 4, "{file}");
            assert_eq!((fields[0], fields[1]), ("ha:", "6"), "{file}");
            let b64 = base64::engine::general_purpose::STANDARD;
            let salt = b64.decode(fields[2]).unwrap();
            assert_eq!(salt.len(), 12, "{file}");
            let hash = b64.decode(fields[3]).unwrap();
            let expected = sha2::Sha512::new()
                .chain_update("p@ss:w/rd")
                .chain_update(&salt)
                .finalize();
            assert_eq!(hash, expected[..], "{file}");
        }
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
    // The client certificate is P-256 like the server's, for clientAuth, and signed by the
    // broker's CA (chain, validity and extended key usage checked by webpki, as a TLS server
    // would; not by the CA of another broker).
    let client_cert = inspect(&cert);
    assert!(client_cert.p256, "{client_cert:#?}");
    assert!(
        client_cert.client_auth && !client_cert.server_auth,
        "{client_cert:#?}"
    );
    verify_client_cert(&ca, &cert).unwrap_or_else(|e| panic!("{e}\n{client_cert:#?}"));

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
    let (other_cert, _) = other.client_auth_pem().unwrap();
    assert!(verify_client_cert(&ca, &other_cert).is_err());
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

/// What a generated certificate says: the fields a TLS peer and a reader of it look at.
#[derive(Debug)]
struct Inspected {
    subject_cn: String,
    issuer_cn: String,
    /// Public key: EC on the P-256 curve (prime256v1).
    p256: bool,
    /// Signed with ecdsa-with-SHA256.
    ecdsa_sha256: bool,
    /// basicConstraints: (critical, cA).
    basic_constraints: Option<(bool, bool)>,
    /// keyUsage: (critical, the usages set).
    key_usage: Option<(bool, Vec<&'static str>)>,
    server_auth: bool,
    client_auth: bool,
    /// Any other extended key usage (anyExtendedKeyUsage included).
    other_usages: bool,
    /// `DNS:…` and `IP:…` subject alternative names.
    alt_names: Vec<String>,
    not_before: i64,
    not_after: i64,
    subject_key_id: Option<Vec<u8>>,
    authority_key_id: Option<Vec<u8>>,
}

fn der_of(pem: &[u8]) -> rustls::pki_types::CertificateDer<'static> {
    let mut certs = rustls::pki_types::CertificateDer::pem_slice_iter(pem);
    let der = certs
        .next()
        .expect("a PEM certificate")
        .expect("a readable PEM certificate");
    assert!(certs.next().is_none(), "one certificate per file");
    der
}

fn inspect(pem: &[u8]) -> Inspected {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    use x509_parser::oid_registry::{
        OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ECDSA_WITH_SHA256,
    };
    let der = der_of(pem);
    let (rest, cert) = x509_parser::parse_x509_certificate(&der).expect("a valid X.509 DER");
    assert!(rest.is_empty(), "trailing bytes after the certificate");
    let cn = |name: &x509_parser::x509::X509Name<'_>| {
        let names: Vec<String> = name
            .iter_common_name()
            .map(|cn| cn.as_str().expect("a UTF-8 CN").to_string())
            .collect();
        assert_eq!(names.len(), 1, "one CN in {name}");
        names[0].clone()
    };
    let spki = &cert.public_key().algorithm;
    let curve = spki
        .parameters
        .as_ref()
        .and_then(|p| x509_parser::der_parser::oid::Oid::try_from(p).ok());
    let key_usage = cert.key_usage().expect("one keyUsage").map(|ext| {
        let ku = ext.value;
        let bits = [
            (ku.digital_signature(), "digitalSignature"),
            (ku.non_repudiation(), "nonRepudiation"),
            (ku.key_encipherment(), "keyEncipherment"),
            (ku.data_encipherment(), "dataEncipherment"),
            (ku.key_agreement(), "keyAgreement"),
            (ku.key_cert_sign(), "keyCertSign"),
            (ku.crl_sign(), "cRLSign"),
            (ku.encipher_only(), "encipherOnly"),
            (ku.decipher_only(), "decipherOnly"),
        ];
        let names = bits.iter().filter(|(set, _)| *set).map(|(_, n)| *n);
        (ext.critical, names.collect())
    });
    let eku = cert.extended_key_usage().expect("one extendedKeyUsage");
    let alt_names = cert
        .subject_alternative_name()
        .expect("one subjectAltName")
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .map(|name| match name {
                    GeneralName::DNSName(dns) => format!("DNS:{dns}"),
                    GeneralName::IPAddress(ip) => match <[u8; 4]>::try_from(*ip) {
                        Ok(v4) => format!("IP:{}", std::net::Ipv4Addr::from(v4)),
                        Err(_) => format!("IP:{ip:?}"),
                    },
                    other => format!("{other:?}"),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut subject_key_id = None;
    let mut authority_key_id = None;
    for ext in cert.iter_extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => subject_key_id = Some(id.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                authority_key_id = aki.key_identifier.as_ref().map(|id| id.0.to_vec());
            }
            _ => {}
        }
    }
    Inspected {
        subject_cn: cn(cert.subject()),
        issuer_cn: cn(cert.issuer()),
        p256: spki.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY && curve == Some(OID_EC_P256),
        ecdsa_sha256: cert.signature_algorithm.algorithm == OID_SIG_ECDSA_WITH_SHA256,
        basic_constraints: cert
            .basic_constraints()
            .expect("one basicConstraints")
            .map(|ext| (ext.critical, ext.value.ca)),
        key_usage,
        server_auth: eku.as_ref().is_some_and(|ext| ext.value.server_auth),
        client_auth: eku.as_ref().is_some_and(|ext| ext.value.client_auth),
        other_usages: eku.as_ref().is_some_and(|ext| {
            let u = ext.value;
            u.any
                || u.code_signing
                || u.email_protection
                || u.time_stamping
                || u.ocsp_signing
                || !u.other.is_empty()
        }),
        alt_names,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        subject_key_id,
        authority_key_id,
    }
}

fn roots(ca_pem: &[u8]) -> std::sync::Arc<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der_of(ca_pem)).expect("a usable CA certificate");
    std::sync::Arc::new(roots)
}

/// The chain up to the CA, the validity dates and the clientAuth extended key usage, checked
/// by rustls' webpki verifier as a TLS server checks a client.
fn verify_client_cert(ca_pem: &[u8], cert_pem: &[u8]) -> Result<(), rustls::Error> {
    install_crypto_provider();
    let verifier = rustls::server::WebPkiClientVerifier::builder(roots(ca_pem))
        .build()
        .expect("a client verifier");
    verifier
        .verify_client_cert(&der_of(cert_pem), &[], rustls::pki_types::UnixTime::now())
        .map(|_| ())
}

/// The chain up to the CA, the validity dates, the serverAuth extended key usage and the
/// name (DNS name or IP address), checked by rustls' webpki verifier as a TLS client checks a
/// server.
fn verify_server_cert(ca_pem: &[u8], cert_pem: &[u8], name: &str) -> Result<(), rustls::Error> {
    use rustls::client::danger::ServerCertVerifier as _;
    install_crypto_provider();
    let verifier = rustls::client::WebPkiServerVerifier::builder(roots(ca_pem))
        .build()
        .expect("a server verifier");
    let name = rustls::pki_types::ServerName::try_from(name.to_string()).expect("a server name");
    verifier
        .verify_server_cert(
            &der_of(cert_pem),
            &[],
            &name,
            &[],
            rustls::pki_types::UnixTime::now(),
        )
        .map(|_| ())
}

/// The PEM key is an unencrypted PKCS#8 key, and the one of the PEM certificate.
fn assert_key_of(cert_pem: &[u8], key_pem: &[u8]) {
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem).expect("a PEM key");
    assert!(
        matches!(key, rustls::pki_types::PrivateKeyDer::Pkcs8(_)),
        "not PKCS#8: {key:?}"
    );
    let signer = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(key)
        .expect("a usable key");
    rustls::sign::CertifiedKey::new(vec![der_of(cert_pem)], signer)
        .keys_match()
        .expect("the key of the certificate");
}

#[tokio::test]
async fn generated_certificates_have_the_names_usages_and_keys_of_a_small_pki() {
    let broker = Mosquitto::start(BrokerKind::MutualTls);
    let read = |name: &str| std::fs::read(broker.dir().join(name)).unwrap();
    let (ca_pem, server_pem, client_pem) = (read("ca.crt"), read("server.crt"), read("client.crt"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let three_days = 3 * 24 * 3600;

    let ca = inspect(&ca_pem);
    let server = inspect(&server_pem);
    let client = inspect(&client_pem);
    for cert in [&ca, &server, &client] {
        assert!(cert.p256 && cert.ecdsa_sha256, "{cert:#?}");
        assert_eq!(cert.issuer_cn, support::broker::CA_NAME, "{cert:#?}");
        // Valid from (about) now for three days.
        assert!(
            (now - 600..=now).contains(&cert.not_before),
            "{now}: {cert:#?}"
        );
        assert_eq!(cert.not_after - cert.not_before, three_days, "{cert:#?}");
        assert!(cert.subject_key_id.is_some(), "{cert:#?}");
    }

    // The CA: self-signed, may sign certificates (and CRLs), nothing else.
    assert_eq!(ca.subject_cn, support::broker::CA_NAME);
    assert_eq!(ca.basic_constraints, Some((true, true)), "{ca:#?}");
    assert_eq!(
        ca.key_usage,
        Some((true, vec!["keyCertSign", "cRLSign"])),
        "{ca:#?}"
    );
    assert!(
        !ca.server_auth && !ca.client_auth && !ca.other_usages,
        "{ca:#?}"
    );
    assert!(ca.alt_names.is_empty(), "{ca:#?}");

    // Both leaves: not CAs, digitalSignature only, issued by the CA's key.
    for leaf in [&server, &client] {
        assert_eq!(leaf.basic_constraints, Some((true, false)), "{leaf:#?}");
        assert_eq!(
            leaf.key_usage,
            Some((true, vec!["digitalSignature"])),
            "{leaf:#?}"
        );
        assert_eq!(leaf.authority_key_id, ca.subject_key_id, "{leaf:#?}");
        assert!(!leaf.other_usages, "{leaf:#?}");
    }
    assert_eq!(server.subject_cn, "localhost");
    assert_eq!(server.alt_names, ["DNS:localhost", "IP:127.0.0.1"]);
    assert!(server.server_auth && !server.client_auth, "{server:#?}");
    assert_eq!(client.subject_cn, support::broker::CLIENT_NAME);
    assert!(client.alt_names.is_empty(), "{client:#?}");
    assert!(client.client_auth && !client.server_auth, "{client:#?}");

    // The chains verify for their purpose only, for the names the broker is reached by.
    for name in ["localhost", "127.0.0.1"] {
        verify_server_cert(&ca_pem, &server_pem, name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(verify_server_cert(&ca_pem, &server_pem, "example.com").is_err());
    assert!(verify_server_cert(&ca_pem, &server_pem, "127.0.0.2").is_err());
    assert!(verify_server_cert(&ca_pem, &client_pem, "localhost").is_err());
    verify_client_cert(&ca_pem, &client_pem).unwrap();
    assert!(verify_client_cert(&ca_pem, &server_pem).is_err());
    let other = Mosquitto::start(BrokerKind::Tls);
    let other_ca = other.ca_cert_pem().unwrap();
    assert!(verify_server_cert(&other_ca, &server_pem, "localhost").is_err());

    // Keys: unencrypted PKCS#8 PEM, each the one of its certificate, readable by the owner only.
    for name in ["ca", "server", "client"] {
        let key_path = broker.dir().join(format!("{name}.key"));
        assert_key_of(
            &read(&format!("{name}.crt")),
            &std::fs::read(&key_path).unwrap(),
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&key_path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o077, 0, "{name}.key is {mode:o}");
    }
    // A new CA and new keys for every broker.
    assert_ne!(inspect(&other_ca).subject_key_id, ca.subject_key_id);
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
    let held = MqttProbe::retained_snapshot(&broker, "selftest/#").await;
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
    let held = MqttProbe::retained_snapshot(&persistent, "selftest/#").await;
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
    assert_eq!(last.query_param("absent"), None);
    // Values come decoded; the first of repeated parameters wins.
    let encoded = RecordedRequest {
        query: "q=a%2Fb+c%C3%A9&q=second&flag".into(),
        ..last.clone()
    };
    assert_eq!(encoded.query_param("q").as_deref(), Some("a/b cé"));
    assert_eq!(encoded.query_param("flag").as_deref(), Some(""));
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

/// `GET url` with the `Authorization` header verbatim (the v1 form: the raw token).
async fn get_raw(
    client: &reqwest::Client,
    url: &str,
    authorization: Option<&str>,
) -> (u16, String) {
    let mut request = client.get(url);
    if let Some(value) = authorization {
        request = request.header(reqwest::header::AUTHORIZATION, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn dt(text: &str) -> chrono::NaiveDateTime {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn hm(h: u32, m: u32, s: u32) -> chrono::NaiveTime {
    chrono::NaiveTime::from_hms_opt(h, m, s).unwrap()
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The `date`s of a `meter_reading` (bare or in the envelope).
fn reading_dates(value: &Value) -> Vec<String> {
    let reading = value
        .get("data")
        .and_then(|d| d.get("meter_reading"))
        .or_else(|| value.get("meter_reading"))
        .unwrap_or_else(|| panic!("no meter_reading in {value}"));
    reading["interval_reading"]
        .as_array()
        .unwrap_or_else(|| panic!("no interval_reading in {value}"))
        .iter()
        .map(|p| p["date"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn fake_gateway_v2_serves_load_curves_max_power_and_contracts() {
    use support::gateway::DEFAULT_PDL as PDL;
    let gw = FakeGateway::start();
    let client = http();
    let base = gw.url();
    let secret = Some("secret-123");
    gw.set_today(day(2024, 2, 1));
    let detail = |series: &str, start: &str, end: &str| {
        format!("{base}/enedis/{series}/detail/{PDL}?start={start}&end={end}&use_cache=true")
    };

    // A point ending at 00:00 belongs to the day before: `start 00:00 < end <= end 00:00`.
    gw.set_curve(
        PDL,
        Series::Consumption,
        &[
            (dt("2024-01-01 00:00:00"), 900, 30),
            (dt("2024-01-01 00:30:00"), 1344, 30),
            (dt("2024-01-01 01:00:00"), 1200, 30),
            (dt("2024-01-02 00:00:00"), 800, 30),
            (dt("2024-01-02 00:10:00"), 700, 10),
        ],
    );
    assert_eq!(gw.curve(PDL, Series::Consumption).len(), 5);
    let (status, body) = get(
        &client,
        &detail("consumption", "2024-01-01", "2024-01-02"),
        secret,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        without_timestamp(&body),
        json!({"success":true,"data":{"meter_reading":{"usage_point_id":PDL,
            "start":"2024-01-01","end":"2024-01-02","quality":"BRUT",
            "reading_type":{"measurement_kind":"power","unit":"W","aggregate":"average"},
            "interval_reading":[
                {"value":"1344","date":"2024-01-01 00:30:00","interval_length":"PT30M","measure_type":"B"},
                {"value":"1200","date":"2024-01-01 01:00:00","interval_length":"PT30M","measure_type":"B"},
                {"value":"800","date":"2024-01-02 00:00:00","interval_length":"PT30M","measure_type":"B"}]}},
            "error":null,"timestamp":null})
    );
    let (_, body) = get(
        &client,
        &detail("consumption", "2023-12-31", "2024-01-03"),
        secret,
    )
    .await;
    assert_eq!(
        reading_dates(&json_of(&body)),
        [
            "2024-01-01 00:00:00",
            "2024-01-01 00:30:00",
            "2024-01-01 01:00:00",
            "2024-01-02 00:00:00",
            "2024-01-02 00:10:00"
        ]
    );
    let (_, body) = get(
        &client,
        &detail("consumption", "2024-01-02", "2024-01-03"),
        secret,
    )
    .await;
    let value = json_of(&body);
    assert_eq!(reading_dates(&value), ["2024-01-02 00:10:00"]);
    assert_eq!(
        value["data"]["meter_reading"]["interval_reading"][0]["interval_length"],
        json!("PT10M")
    );

    // At most 7 days; `start < end`.
    gw.fill_curve(
        PDL,
        Series::Consumption,
        day(2024, 1, 8),
        day(2024, 1, 20),
        |t| i64::from(chrono::Timelike::hour(&t)) * 100,
    );
    let (status, body) = get(
        &client,
        &detail("consumption", "2024-01-08", "2024-01-15"),
        secret,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(reading_dates(&json_of(&body)).len(), 7 * 48);
    for (start, end, message) in [
        (
            "2024-01-08",
            "2024-01-16",
            "Date range cannot exceed 7 days",
        ),
        (
            "2024-01-08",
            "2024-01-08",
            "Start date must be before end date",
        ),
    ] {
        let (status, body) = get(&client, &detail("consumption", start, end), secret).await;
        assert_eq!(status, 200);
        assert_eq!(
            without_timestamp(&body),
            json!({"success":false,"data":null,"error":{"code":"INVALID_DATE_RANGE",
                "message":message,"field":null},"timestamp":null}),
            "{start}..{end}"
        );
    }
    // Nothing from "today" on.
    gw.set_today(day(2024, 1, 10));
    let (_, body) = get(
        &client,
        &detail("consumption", "2024-01-08", "2024-01-15"),
        secret,
    )
    .await;
    let dates = reading_dates(&json_of(&body));
    assert_eq!(dates.len(), 2 * 48);
    assert_eq!(dates.last().unwrap(), "2024-01-10 00:00:00");
    gw.set_today(day(2024, 2, 1));
    // Production has nothing; NO_DATA when asked to.
    let (_, body) = get(
        &client,
        &detail("production", "2024-01-08", "2024-01-09"),
        secret,
    )
    .await;
    assert!(reading_dates(&json_of(&body)).is_empty());
    gw.set_empty_as_no_data(true);
    let (_, body) = get(
        &client,
        &detail("production", "2024-01-08", "2024-01-09"),
        secret,
    )
    .await;
    assert_eq!(json_of(&body)["error"]["code"], json!("NO_DATA"));
    gw.set_empty_as_no_data(false);

    // Max power: VA, the moment of the peak, at most 365 days.
    gw.set_max_power(PDL, day(2024, 1, 1), 6120, hm(19, 42, 10));
    gw.fill_max_power(PDL, day(2024, 1, 2), day(2024, 1, 3), |d| {
        (5000 + i64::from(chrono::Datelike::day(&d)), hm(7, 5, 0))
    });
    assert_eq!(gw.max_power(PDL).len(), 3);
    let power = |start: &str, end: &str| {
        format!("{base}/enedis/power/{PDL}?start={start}&end={end}&use_cache=true")
    };
    let (status, body) = get(&client, &power("2023-12-31", "2024-01-03"), secret).await;
    assert_eq!(status, 200);
    assert_eq!(
        without_timestamp(&body),
        json!({"success":true,"data":{"meter_reading":{"usage_point_id":PDL,
            "start":"2023-12-31","end":"2024-01-03","quality":"BRUT",
            "reading_type":{"measurement_kind":"power","measuring_period":"P1D","unit":"VA",
                "aggregate":"maximum"},
            "interval_reading":[{"value":"6120","date":"2024-01-01 19:42:10"},
                {"value":"5002","date":"2024-01-02 07:05:00"}]}},
            "error":null,"timestamp":null})
    );
    let (_, body) = get(&client, &power("2023-01-01", "2024-01-01"), secret).await;
    assert_eq!(
        json_of(&body)["success"],
        json!(true),
        "365 days are allowed"
    );
    let (_, body) = get(&client, &power("2022-12-31", "2024-01-01"), secret).await;
    assert_eq!(json_of(&body)["error"]["code"], json!("INVALID_DATE_RANGE"));

    // The contract: built from the meter row by default, configurable.
    let contract_url = format!("{base}/enedis/contract/{PDL}");
    let (status, body) = get(&client, &contract_url, secret).await;
    assert_eq!(status, 200);
    assert_eq!(
        without_timestamp(&body),
        json!({"success":true,"data":{"customer":{"customer_id":"1358019319","usage_points":[{
            "usage_point":{"usage_point_id":PDL,"usage_point_status":"com","meter_type":"AMM"},
            "contracts":{"segment":"C5","subscribed_power":"9 kVA",
                "last_activation_date":"2022-01-10+01:00","distribution_tariff":"BTINFMUDT",
                "offpeak_hours":"HC (22H00-6H00)","contract_status":"SERVC",
                "last_distribution_tariff_change_date":"2020-01-01+01:00"}}]}},
            "error":null,"timestamp":null})
    );
    let mut contract = FakeContract::new(
        6,
        Some("HC (1H30-8H00;12H30-14H00)"),
        Some(day(2015, 5, 24)),
    );
    contract.distribution_tariff = "BTINFCUST".into();
    gw.set_contract(PDL, contract.clone());
    assert_eq!(gw.contract(PDL), contract);
    let (_, body) = get(&client, &contract_url, secret).await;
    let contracts = &json_of(&body)["data"]["customer"]["usage_points"][0]["contracts"];
    assert_eq!(contracts["subscribed_power"], json!("6 kVA"));
    assert_eq!(
        contracts["offpeak_hours"],
        json!("HC (1H30-8H00;12H30-14H00)")
    );
    assert_eq!(contracts["last_activation_date"], json!("2015-05-24+02:00"));
    assert_eq!(contracts["distribution_tariff"], json!("BTINFCUST"));
    gw.set_contract(PDL, FakeContract::new(3, None, None));
    let (_, body) = get(&client, &contract_url, secret).await;
    let contracts = &json_of(&body)["data"]["customer"]["usage_points"][0]["contracts"];
    assert!(contracts.get("offpeak_hours").is_none(), "{contracts}");
    assert_eq!(contracts["last_activation_date"], Value::Null);

    // Same guards as the daily route: bearer secret, known PDL.
    for url in [
        detail("consumption", "2024-01-08", "2024-01-09"),
        power("2024-01-01", "2024-01-02"),
        contract_url.clone(),
    ] {
        let (status, _) = get(&client, &url, None).await;
        assert_eq!(status, 401, "{url}");
        let (status, _) = get(&client, &url.replace(PDL, "99999999999999"), secret).await;
        assert_eq!(status, 403, "{url}");
    }

    // Faults target their route, in order.
    gw.clear_requests();
    gw.push_fault_on(FaultOn::Detail, Fault::server_error());
    gw.push_fault_on(FaultOn::Power, Fault::api("NO_DATA", "none"));
    gw.push_fault_on(FaultOn::DetailOf(Series::Production), Fault::rate_limited());
    gw.push_fault_on(FaultOn::Contract, Fault::forbidden("Consent expired"));
    let (status, body) = get(&client, &contract_url, secret).await;
    assert_eq!(
        (status, body.as_str()),
        (403, r#"{"detail":"Consent expired"}"#)
    );
    let daily = format!("{base}/enedis/consumption/daily/{PDL}?start=2024-01-01&end=2024-01-02");
    let (status, body) = get(&client, &daily, secret).await;
    assert_eq!(
        (status, json_of(&body)["success"].clone()),
        (200, json!(true))
    );
    let (status, body) = get(&client, &power("2024-01-01", "2024-01-02"), secret).await;
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)["error"]["code"], json!("NO_DATA"));
    let (status, _) = get(
        &client,
        &detail("production", "2024-01-08", "2024-01-09"),
        secret,
    )
    .await;
    assert_eq!(status, 500, "the first Detail fault matches production too");
    let (status, _) = get(
        &client,
        &detail("production", "2024-01-08", "2024-01-09"),
        secret,
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(gw.pending_faults(), 0);

    assert_eq!(
        (gw.detail_calls(), gw.power_calls(), gw.contract_calls()),
        (2, 1, 1)
    );
    assert_eq!(gw.daily_calls(), 1);
    let detail_request = &gw.detail_requests()[0];
    assert_eq!(
        detail_request.path,
        format!("/api/enedis/production/detail/{PDL}")
    );
    assert_eq!(
        detail_request.route(),
        Some(RouteKind::Detail(Series::Production))
    );
    assert_eq!(
        detail_request.range(),
        Some(("2024-01-08".to_string(), "2024-01-09".to_string()))
    );
    assert_eq!(detail_request.pdl().as_deref(), Some(PDL));
    assert!(!detail_request.is_v1());
    assert_eq!(
        gw.power_requests()[0].authorization.as_deref(),
        Some("Bearer secret-123")
    );
    assert_eq!(gw.contract_requests()[0].range(), None);

    gw.clear_data();
    assert!(gw.curve(PDL, Series::Consumption).is_empty() && gw.max_power(PDL).is_empty());
}

#[tokio::test]
async fn fake_gateway_load_curves_follow_paris_dst() {
    use support::gateway::{DEFAULT_PDL as PDL, DEFAULT_V1_TOKEN, paris_curve_slots};
    let ends = |d: NaiveDate, minutes: u32| -> Vec<String> {
        paris_curve_slots(d, minutes)
            .iter()
            .map(|s| s.end.format("%Y-%m-%d %H:%M:%S").to_string())
            .collect()
    };
    let (normal, spring, autumn) = (day(2024, 1, 15), day(2024, 3, 31), day(2024, 10, 27));
    assert_eq!(ends(normal, 30).len(), 48);
    assert_eq!(ends(spring, 30).len(), 46);
    assert_eq!(ends(autumn, 30).len(), 50);
    assert_eq!(ends(autumn, 60).len(), 25);
    assert_eq!(ends(spring, 10).len(), 138);
    assert_eq!(ends(normal, 30)[0], "2024-01-15 00:30:00");
    for d in [normal, spring, autumn] {
        let next = d.succ_opt().unwrap();
        assert_eq!(
            ends(d, 30).last().unwrap(),
            &format!("{next} 00:00:00"),
            "{d}"
        );
        let slots = paris_curve_slots(d, 30);
        assert!(slots.windows(2).all(|w| w[0].start < w[1].start), "{d}");
    }
    // Spring: 01:30–02:00 then 03:00–03:30; nothing ends at 02:30 or 03:00.
    let spring_ends = ends(spring, 30);
    let at = spring_ends
        .iter()
        .position(|e| e == "2024-03-31 02:00:00")
        .unwrap();
    assert_eq!(spring_ends[at + 1], "2024-03-31 03:30:00");
    assert!(
        !spring_ends
            .iter()
            .any(|e| e.ends_with("02:30:00") || e.ends_with(" 03:00:00"))
    );
    // Autumn: 02:30 and 03:00 twice, summer time first.
    let autumn_ends = ends(autumn, 30);
    let at = autumn_ends
        .iter()
        .position(|e| e == "2024-10-27 02:00:00")
        .unwrap();
    assert_eq!(
        autumn_ends[at..at + 6]
            .iter()
            .map(|e| &e[11..16])
            .collect::<Vec<_>>(),
        ["02:00", "02:30", "03:00", "02:30", "03:00", "03:30"]
    );
    let slots = paris_curve_slots(autumn, 30);
    let offsets: Vec<i32> = slots
        .iter()
        .filter(|s| s.end == dt("2024-10-27 02:30:00"))
        .map(|s| chrono::Offset::fix(s.start.offset()).local_minus_utc())
        .collect();
    assert_eq!(offsets, [7200, 3600]);

    // Served as such by both generations; `fill_curve_slots` tells the repeats apart.
    let gw = FakeGateway::start();
    let client = http();
    gw.set_today(day(2024, 12, 1));
    gw.fill_curve(
        PDL,
        Series::Consumption,
        day(2024, 3, 30),
        day(2024, 4, 1),
        |_| 500,
    );
    gw.fill_curve_slots(
        PDL,
        Series::Consumption,
        day(2024, 10, 21),
        day(2024, 10, 28),
        30,
        |slot| slot.start.timestamp() / 60 % 100_000,
    );
    let v2 = |start: &str, end: &str| {
        format!(
            "{}/enedis/consumption/detail/{PDL}?start={start}&end={end}&use_cache=true",
            gw.url()
        )
    };
    let v1 = |start: &str, end: &str| {
        format!(
            "{}/consumption_load_curve/{PDL}/start/{start}/end/{end}/cache/",
            gw.url_v1()
        )
    };
    for (start, end, count) in [
        ("2024-03-31", "2024-04-01", 46),
        ("2024-10-27", "2024-10-28", 50),
        ("2024-10-21", "2024-10-28", 6 * 48 + 50),
        ("2024-03-30", "2024-04-02", 48 + 46 + 48),
    ] {
        let (status, body) = get(&client, &v2(start, end), Some("secret-123")).await;
        assert_eq!(status, 200, "{body}");
        let v2_dates = reading_dates(&json_of(&body));
        assert_eq!(v2_dates.len(), count, "v2 {start}..{end}");
        let (status, body) = get_raw(&client, &v1(start, end), Some(DEFAULT_V1_TOKEN)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            reading_dates(&json_of(&body)),
            v2_dates,
            "v1 {start}..{end}"
        );
    }
    let (_, body) = get(&client, &v2("2024-10-27", "2024-10-28"), Some("secret-123")).await;
    let value = json_of(&body);
    let points = value["data"]["meter_reading"]["interval_reading"]
        .as_array()
        .unwrap();
    let values: Vec<i64> = points
        .iter()
        .map(|p| p["value"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] + 30 == w[1]),
        "served in time order: {values:?}"
    );
    let repeated: Vec<&str> = points
        .iter()
        .map(|p| p["date"].as_str().unwrap())
        .filter(|d| *d == "2024-10-27 02:30:00" || *d == "2024-10-27 03:00:00")
        .collect();
    assert_eq!(
        repeated,
        [
            "2024-10-27 02:30:00",
            "2024-10-27 03:00:00",
            "2024-10-27 02:30:00",
            "2024-10-27 03:00:00"
        ]
    );
}

#[tokio::test]
async fn fake_gateway_v1_routes_token_errors_and_quota() {
    use support::gateway::{DEFAULT_PDL as PDL, DEFAULT_V1_TOKEN as TOKEN};
    let gw = FakeGateway::start();
    let client = http();
    let base = gw.url_v1();
    assert_eq!(base, format!("http://127.0.0.1:{}", gw.port()));
    let token = Some(TOKEN);
    gw.set_today(day(2024, 1, 16));
    gw.fill(
        PDL,
        Series::Consumption,
        day(2024, 1, 1),
        day(2024, 1, 15),
        |d| 15000 + i64::from(chrono::Datelike::day(&d)),
    );
    gw.fill(
        PDL,
        Series::Production,
        day(2024, 1, 1),
        day(2024, 1, 15),
        |d| 100 + i64::from(chrono::Datelike::day(&d)),
    );
    gw.set_max_power(PDL, day(2024, 1, 1), 6120, hm(19, 42, 10));
    gw.fill_curve(
        PDL,
        Series::Production,
        day(2024, 1, 1),
        day(2024, 1, 15),
        |_| 42,
    );
    let range = |route: &str, pdl: &str, start: &str, end: &str| {
        format!("{base}/{route}/{pdl}/start/{start}/end/{end}/cache/")
    };
    let access_url = format!("{base}/valid_access/{PDL}/cache");

    // Before any call.
    let (status, body) = get_raw(&client, &access_url, token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json_of(&body),
        json!({"valid":true,"consent_expiration_date":"2026-01-14T15:32:38","call_number":0,
            "quota_reached":false,"quota_limit":500,
            "quota_reset_at":"2024-01-16T23:59:59.999999","last_call":null,"ban":false})
    );

    // The bare Enedis payload.
    let (status, body) = get_raw(
        &client,
        &range("daily_consumption", PDL, "2024-01-01", "2024-01-03"),
        token,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json_of(&body),
        json!({"meter_reading":{"usage_point_id":PDL,"start":"2024-01-01","end":"2024-01-03",
            "quality":"BRUT","reading_type":{"measurement_kind":"energy","measuring_period":"P1D",
                "unit":"Wh","aggregate":"sum"},
            "interval_reading":[{"value":"15001","date":"2024-01-01"},
                {"value":"15002","date":"2024-01-02"}]}})
    );
    let (_, body) = get_raw(
        &client,
        &range("daily_production", PDL, "2024-01-14", "2024-01-20"),
        token,
    )
    .await;
    assert_eq!(
        json_of(&body)["meter_reading"]["interval_reading"],
        json!([{"value":"114","date":"2024-01-14"},{"value":"115","date":"2024-01-15"}])
    );
    let (_, body) = get_raw(
        &client,
        &range(
            "daily_consumption_max_power",
            PDL,
            "2024-01-01",
            "2024-01-02",
        ),
        token,
    )
    .await;
    let value = json_of(&body);
    assert_eq!(
        value["meter_reading"]["interval_reading"],
        json!([{"value":"6120","date":"2024-01-01 19:42:10"}])
    );
    assert_eq!(
        value["meter_reading"]["reading_type"]["aggregate"],
        json!("maximum")
    );
    let (_, body) = get_raw(
        &client,
        &range("production_load_curve", PDL, "2024-01-01", "2024-01-08"),
        token,
    )
    .await;
    assert_eq!(reading_dates(&json_of(&body)).len(), 7 * 48);
    let (status, body) = get_raw(
        &client,
        &range("consumption_load_curve", PDL, "2024-01-01", "2024-01-09"),
        token,
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"detail":"Date range cannot exceed 7 days"}"#)
    );
    let (status, _) = get_raw(
        &client,
        &range("daily_consumption", PDL, "2023-01-15", "2024-01-16"),
        token,
    )
    .await;
    assert_eq!(status, 400, "366 days");
    let (status, _) = get_raw(
        &client,
        &range("daily_consumption", PDL, "2024-01-01", "nope"),
        token,
    )
    .await;
    assert_eq!(status, 422);
    let (status, body) = get_raw(&client, &format!("{base}/contracts/{PDL}/cache"), token).await;
    assert_eq!(status, 200);
    let value = json_of(&body);
    assert!(value.get("success").is_none(), "no envelope: {value}");
    assert_eq!(value, gw.contract(PDL).to_json(PDL));
    assert_eq!(
        value["customer"]["usage_points"][0]["contracts"]["subscribed_power"],
        json!("9 kVA")
    );
    // Without the trailing slash the route does not exist.
    let url = range("daily_consumption", PDL, "2024-01-01", "2024-01-02");
    let (status, _) = get_raw(&client, url.trim_end_matches('/'), token).await;
    assert_eq!(status, 404);
    assert_eq!(gw.v1_call_number(PDL), 5, "the counted calls (200 only)");

    // Token and PDL checks.
    let wrong_token = r#"{"detail":"Le point de livraison ne correspond au token fournis."}"#;
    let bad_pdl =
        r#"{"detail":"Votre point de livraison doit être composé de 14 chiffres uniquement"}"#;
    for (url, auth, expected) in [
        (
            url.clone(),
            Some(format!("Bearer {TOKEN}")),
            (403, wrong_token),
        ),
        (url.clone(), Some("other".to_string()), (403, wrong_token)),
        (
            url.clone(),
            None,
            (403, r#"{"detail":"Not authenticated"}"#),
        ),
        (
            range("daily_consumption", "1234", "2024-01-01", "2024-01-02"),
            Some(TOKEN.to_string()),
            (400, bad_pdl),
        ),
        (
            format!("{base}/valid_access/1234567890123a/cache"),
            Some(TOKEN.to_string()),
            (400, bad_pdl),
        ),
        (
            range(
                "daily_consumption",
                "99999999999999",
                "2024-01-01",
                "2024-01-02",
            ),
            Some(TOKEN.to_string()),
            (403, wrong_token),
        ),
    ] {
        let (status, body) = get_raw(&client, &url, auth.as_deref()).await;
        assert_eq!((status, body.as_str()), expected, "{url} {auth:?}");
    }
    // One token may serve several PDLs; each PDL has its own token.
    gw.set_v1_token("22222222222222", "other-token");
    gw.set_v1_token("33333333333333", TOKEN);
    assert_eq!(
        gw.v1_token("22222222222222").as_deref(),
        Some("other-token")
    );
    let (status, _) = get_raw(
        &client,
        &format!("{base}/contracts/33333333333333/cache"),
        token,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = get_raw(
        &client,
        &format!("{base}/contracts/22222222222222/cache"),
        token,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = get_raw(
        &client,
        &format!("{base}/contracts/22222222222222/cache"),
        Some("other-token"),
    )
    .await;
    assert_eq!(status, 200);
    gw.remove_v1_pdl("22222222222222");
    let (status, _) = get_raw(
        &client,
        &format!("{base}/contracts/22222222222222/cache"),
        Some("other-token"),
    )
    .await;
    assert_eq!(status, 403);
    // The v2 secret plays no part in v1.
    let (status, _) = get(&client, &url, Some("secret-123")).await;
    assert_eq!(status, 403);

    // Faults work on v1 routes and are not counted.
    gw.push_fault_on(
        FaultOn::Daily,
        Fault::Status(
            500,
            r#"{"detail":"Technical error. Please try later."}"#.into(),
        ),
    );
    gw.push_fault_on(FaultOn::Access, Fault::server_error());
    gw.push_fault_on(FaultOn::Power, Fault::detail(409, "quota"));
    let (status, body) = get_raw(&client, &url, token).await;
    assert_eq!(
        (status, body.as_str()),
        (500, r#"{"detail":"Technical error. Please try later."}"#)
    );
    let (status, _) = get_raw(&client, &access_url, token).await;
    assert_eq!(status, 500);
    let (status, body) = get_raw(
        &client,
        &range(
            "daily_consumption_max_power",
            PDL,
            "2024-01-01",
            "2024-01-02",
        ),
        token,
    )
    .await;
    assert_eq!((status, body.as_str()), (409, r#"{"detail":"quota"}"#));
    assert_eq!(gw.pending_faults(), 0);
    assert_eq!(gw.v1_call_number(PDL), 5);

    // Quota: `call_number` counts, then 409 and `valid:false`.
    let mut expiry = dt("2027-03-01 08:00:00");
    gw.set_v1_consent_expiration(PDL, expiry);
    gw.set_v1_quota_limit(PDL, 7);
    let (_, body) = get_raw(&client, &url, token).await;
    assert_eq!(
        json_of(&body)["meter_reading"]["interval_reading"][0]["value"],
        json!("15001")
    );
    let (_, body) = get_raw(&client, &access_url, token).await;
    let value = json_of(&body);
    assert_eq!(value["call_number"], json!(6));
    assert_eq!(value["quota_limit"], json!(7));
    assert_eq!(value["valid"], json!(true));
    assert_eq!(
        value["consent_expiration_date"],
        json!("2027-03-01T08:00:00")
    );
    assert!(value["last_call"].is_string(), "{value}");
    assert!(value.get("information").is_none(), "{value}");
    let (status, _) = get_raw(&client, &url, token).await;
    assert_eq!(status, 200, "the 7th call");
    let quota = r#"{"detail":"Vous avez dépassé votre quota journalier (7)"}"#;
    for url in [
        url.clone(),
        range("consumption_load_curve", PDL, "2024-01-01", "2024-01-02"),
        format!("{base}/contracts/{PDL}/cache"),
    ] {
        let (status, body) = get_raw(&client, &url, token).await;
        assert_eq!((status, body.as_str()), (409, quota), "{url}");
    }
    assert_eq!(gw.v1_call_number(PDL), 7);
    let (status, body) = get_raw(&client, &access_url, token).await;
    assert_eq!(status, 200);
    let value = json_of(&body);
    assert_eq!(value["valid"], json!(false));
    assert_eq!(value["quota_reached"], json!(true));
    assert_eq!(value["call_number"], json!(7));
    assert_eq!(
        value["information"],
        json!("Vous avez dépassé votre quota journalier (7)")
    );
    // A new day resets the counter; the counter can be preset.
    gw.set_today(day(2024, 1, 17));
    assert_eq!(gw.v1_call_number(PDL), 0);
    let (status, _) = get_raw(&client, &url, token).await;
    assert_eq!(status, 200);
    gw.set_v1_call_number(PDL, 50);
    gw.set_v1_quota_limit(PDL, 50);
    let (status, body) = get_raw(&client, &url, token).await;
    assert_eq!(
        (status, body.as_str()),
        (
            409,
            r#"{"detail":"Vous avez dépassé votre quota journalier (50)"}"#
        )
    );
    expiry = dt("2026-01-14 15:32:38");
    gw.set_v1_consent_expiration(PDL, expiry);
    let (_, body) = get_raw(&client, &access_url, token).await;
    assert_eq!(
        json_of(&body)["consent_expiration_date"],
        json!("2026-01-14T15:32:38")
    );

    // Recording: raw token, v1 routes classified like v2 ones.
    let requests = gw.requests();
    let first = &requests[0];
    assert!(first.is_v1() && first.is_access());
    assert_eq!(first.authorization.as_deref(), Some(TOKEN));
    let daily = &gw.daily_requests()[0];
    assert_eq!(
        daily.path,
        format!("/daily_consumption/{PDL}/start/2024-01-01/end/2024-01-03/cache/")
    );
    assert_eq!(daily.query, "");
    assert_eq!(
        daily.range(),
        Some(("2024-01-01".to_string(), "2024-01-03".to_string()))
    );
    assert_eq!(daily.route(), Some(RouteKind::Daily(Series::Consumption)));
    assert_eq!(
        gw.power_requests()[0].route(),
        Some(RouteKind::Power),
        "max power is not a daily energy request"
    );
    assert!(gw.power_requests().iter().all(|r| !r.is_daily()));
    assert_eq!(gw.detail_calls(), 3);
    assert_eq!(gw.power_calls(), 2);
    assert_eq!(
        gw.access_calls(),
        6,
        "five answered, one refused for its PDL"
    );
    assert_eq!(gw.pdl_calls(), 0);
}

#[tokio::test]
async fn fake_gateway_v2_tempo_and_ecowatt_routes() {
    let gw = FakeGateway::start();
    let client = http();
    let base = gw.url();
    let secret = Some("secret-123");
    gw.set_today(day(2024, 1, 15));
    gw.set_tempo(day(2024, 1, 14), RteColor::White);
    gw.set_tempo(day(2024, 1, 15), RteColor::Blue);
    gw.set_tempo(day(2024, 1, 16), RteColor::Red);
    let tempo =
        |start: &str, end: &str| format!("{base}/tempo/days?start_date={start}&end_date={end}");

    // Public: no credential needed, a wrong one is ignored; `end_date` is exclusive.
    for auth in [None, Some("nope")] {
        let (status, body) = get(&client, &tempo("2024-01-14", "2024-01-16"), auth).await;
        assert_eq!(status, 200, "{body}");
        let value = without_timestamp(&body);
        assert_eq!(value["success"], json!(true));
        let data = value["data"].as_array().unwrap();
        assert_eq!(data.len(), 2, "{value}");
        assert_eq!(data[0]["date"], json!("2024-01-14"));
        assert_eq!(data[0]["color"], json!("WHITE"));
        assert_eq!(data[1]["color"], json!("BLUE"));
        assert!(data[0]["updated_at"].is_string() && data[0]["rte_updated_date"].is_string());
    }
    // Unknown days are absent.
    let (_, body) = get(&client, &tempo("2024-01-16", "2024-01-20"), None).await;
    let value = without_timestamp(&body);
    assert_eq!(value["data"].as_array().unwrap().len(), 1);
    assert_eq!(value["data"][0]["color"], json!("RED"));
    gw.remove_tempo(day(2024, 1, 16));
    let (_, body) = get(&client, &tempo("2024-01-16", "2024-01-17"), None).await;
    assert_eq!(without_timestamp(&body)["data"], json!([]));
    // The case of the words; verbatim words.
    gw.set_tempo_case(ColorCase::Lower);
    let (_, body) = get(&client, &tempo("2024-01-14", "2024-01-16"), None).await;
    let value = without_timestamp(&body);
    assert_eq!(
        (&value["data"][0]["color"], &value["data"][1]["color"]),
        (&json!("white"), &json!("blue"))
    );
    gw.set_tempo_case(ColorCase::Capitalized);
    let (_, body) = get(&client, &tempo("2024-01-15", "2024-01-16"), None).await;
    assert_eq!(without_timestamp(&body)["data"][0]["color"], json!("Blue"));
    gw.set_tempo_case(ColorCase::AsStored);
    gw.set_tempo_text(day(2024, 1, 16), "TBD");
    let (_, body) = get(&client, &tempo("2024-01-16", "2024-01-17"), None).await;
    assert_eq!(without_timestamp(&body)["data"][0]["color"], json!("TBD"));
    gw.remove_tempo(day(2024, 1, 16));
    gw.fill_tempo(day(2023, 9, 1), day(2023, 9, 30), |_| RteColor::Blue);
    assert_eq!(gw.tempo_days().len(), 32);
    // Bad ranges.
    let (status, body) = get(&client, &tempo("2024-01-15", "2024-01-15"), None).await;
    assert_eq!(status, 200);
    let value = without_timestamp(&body);
    assert_eq!(
        (&value["success"], &value["error"]["code"]),
        (&json!(false), &json!("INVALID_DATE_RANGE"))
    );
    let (status, body) = get(
        &client,
        &format!("{base}/tempo/days?start_date=2024-01-15"),
        None,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        json_of(&body)["detail"][0]["loc"],
        json!(["query", "end_date"])
    );

    // EcoWatt: bearer secret, a bare list from "today" for `days` days (4 by default).
    let mut values = [1u8; 24];
    values[8] = 2;
    values[18] = 3;
    gw.set_ecowatt(day(2024, 1, 14), FakeEcowattDay::flat(1));
    gw.set_ecowatt(day(2024, 1, 15), FakeEcowattDay::new(values));
    gw.set_ecowatt(day(2024, 1, 16), FakeEcowattDay::flat(2));
    gw.set_ecowatt(day(2024, 1, 20), FakeEcowattDay::flat(1));
    let forecast = |days: Option<&str>| match days {
        Some(n) => format!("{base}/ecowatt/forecast?days={n}"),
        None => format!("{base}/ecowatt/forecast"),
    };
    let (status, _) = get(&client, &forecast(Some("2")), None).await;
    assert_eq!(status, 401);
    let (status, body) = get(&client, &forecast(Some("2")), secret).await;
    assert_eq!(status, 200, "{body}");
    let value = json_of(&body);
    assert!(value.is_array(), "no envelope: {value}");
    assert_eq!(value.as_array().unwrap().len(), 2);
    let first = &value[0];
    assert_eq!(first["periode"], json!("2024-01-15T00:00:00+01:00"));
    assert_eq!(first["dvalue"], json!(3));
    assert_eq!(first["values"], json!(values.to_vec()));
    assert_eq!((&first["hdebut"], &first["hfin"]), (&json!(0), &json!(23)));
    assert_eq!(
        first["message"],
        json!(support::gateway::ecowatt_message(3))
    );
    assert!(first["generation_datetime"].is_string());
    assert_eq!(value[1]["periode"], json!("2024-01-16T00:00:00+01:00"));
    let (_, body) = get(&client, &forecast(None), secret).await;
    assert_eq!(
        json_of(&body).as_array().unwrap().len(),
        2,
        "15, 16 of 15..18"
    );
    let (_, body) = get(&client, &forecast(Some("7")), secret).await;
    assert_eq!(json_of(&body).as_array().unwrap().len(), 3);
    let (status, _) = get(&client, &forecast(Some("8")), secret).await;
    assert_eq!(status, 422);
    // Summer offset.
    gw.set_today(day(2024, 7, 1));
    gw.set_ecowatt(day(2024, 7, 1), FakeEcowattDay::flat(1));
    let (_, body) = get(&client, &forecast(Some("1")), secret).await;
    assert_eq!(
        json_of(&body)[0]["periode"],
        json!("2024-07-01T00:00:00+02:00")
    );

    // The daily limit: counted answers per fake day, then 429.
    gw.set_today(day(2024, 1, 15));
    assert_eq!(
        gw.ecowatt_call_number(),
        3,
        "answered on 2024-01-15 (not 401, 422)"
    );
    gw.set_ecowatt_daily_limit(Some(4));
    let (status, _) = get(&client, &forecast(Some("1")), secret).await;
    assert_eq!(status, 200);
    let (status, body) = get(&client, &forecast(Some("1")), secret).await;
    assert_eq!(
        (status, body.as_str()),
        (
            429,
            r#"{"detail":"Rate limit exceeded: 4/4 requests today"}"#
        )
    );
    assert_eq!(gw.ecowatt_call_number(), 4);
    gw.set_today(day(2024, 1, 16));
    assert_eq!(gw.ecowatt_call_number(), 0);
    let (status, _) = get(&client, &forecast(Some("1")), secret).await;
    assert_eq!(status, 200, "a new day");
    gw.set_ecowatt_call_number(4);
    let (status, _) = get(&client, &forecast(Some("1")), secret).await;
    assert_eq!(status, 429);
    gw.set_ecowatt_daily_limit(None);
    let (status, _) = get(&client, &forecast(Some("1")), secret).await;
    assert_eq!(status, 200);

    // Faults on these routes.
    gw.push_fault_on(FaultOn::Tempo, Fault::api("RTE_UNAVAILABLE", "RTE is down"));
    gw.push_fault_on(FaultOn::Ecowatt, Fault::server_error());
    let (status, body) = get(&client, &forecast(Some("1")), secret).await;
    assert_eq!(
        (status, body.as_str()),
        (500, "<html>Internal Server Error</html>")
    );
    let (status, body) = get(&client, &tempo("2024-01-15", "2024-01-16"), None).await;
    assert_eq!(status, 200);
    let value = without_timestamp(&body);
    assert_eq!(value["success"], json!(false));
    assert_eq!(value["error"]["code"], json!("RTE_UNAVAILABLE"));
    assert_eq!(gw.pending_faults(), 0);

    // The request log.
    let tempo_requests = gw.tempo_requests();
    assert!(tempo_requests.iter().all(|r| !r.is_v1() && r.is_grid()));
    assert_eq!(
        tempo_requests[0].range(),
        Some(("2024-01-14".to_string(), "2024-01-16".to_string()))
    );
    assert_eq!(
        tempo_requests[0].day_range(),
        Some((day(2024, 1, 14), day(2024, 1, 16)))
    );
    assert_eq!(tempo_requests[0].route(), Some(RouteKind::Tempo));
    assert_eq!(tempo_requests[0].pdl(), None);
    assert_eq!(gw.tempo_calls(), tempo_requests.len());
    assert_eq!(gw.tempo_calls(), 10);
    assert_eq!(gw.ecowatt_calls(), 12);
    assert_eq!(
        gw.ecowatt_requests()[1].query_param("days").as_deref(),
        Some("2")
    );
    assert_eq!(gw.tempo_price_calls(), 0);
    assert_eq!(gw.grid_calls(), 22);
    assert_eq!(gw.daily_calls() + gw.pdl_calls() + gw.contract_calls(), 0);
}

#[tokio::test]
async fn fake_gateway_v1_tempo_ecowatt_and_price_routes() {
    use support::gateway::{DEFAULT_PDL as PDL, DEFAULT_V1_TOKEN as TOKEN};
    let gw = FakeGateway::start();
    let client = http();
    let base = gw.url_v1();
    gw.set_today(day(2024, 1, 15));
    gw.set_tempo(day(2024, 1, 14), RteColor::White);
    gw.set_tempo(day(2024, 1, 15), RteColor::Blue);
    gw.set_tempo(day(2024, 1, 16), RteColor::Red);

    // Tempo: public, a bare map of the days of [start, end).
    let (status, body) = get_raw(
        &client,
        &format!("{base}/rte/tempo/2024-01-14/2024-01-17"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json_of(&body),
        json!({"2024-01-14":"WHITE","2024-01-15":"BLUE","2024-01-16":"RED"})
    );
    gw.set_tempo_case(ColorCase::Lower);
    let (_, body) = get_raw(
        &client,
        &format!("{base}/rte/tempo/2024-01-15/2024-01-16"),
        Some("whatever"),
    )
    .await;
    assert_eq!(json_of(&body), json!({"2024-01-15":"blue"}));
    let (_, body) = get_raw(
        &client,
        &format!("{base}/rte/tempo/2024-01-17/2024-01-20"),
        None,
    )
    .await;
    assert_eq!(json_of(&body), json!({}));
    let (status, body) = get_raw(
        &client,
        &format!("{base}/rte/tempo/2024-01-17/2024-01-17"),
        None,
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"detail":"Start date must be before end date"}"#)
    );
    let (status, _) = get_raw(&client, &format!("{base}/rte/tempo/2024-01-17/nope"), None).await;
    assert_eq!(status, 422);

    // EcoWatt: `value`, `message`, the 24 hours under `detail`.
    let mut values = [1u8; 24];
    values[19] = 2;
    gw.set_ecowatt(day(2024, 1, 15), FakeEcowattDay::new(values));
    gw.set_ecowatt(day(2024, 1, 16), FakeEcowattDay::flat(1));
    let url = format!("{base}/rte/ecowatt/2024-01-15/2024-01-17");
    let (status, body) = get_raw(&client, &url, Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    let value = json_of(&body);
    let first = &value["2024-01-15"];
    assert_eq!(first["value"], json!(2));
    assert_eq!(
        first["message"],
        json!(support::gateway::ecowatt_message(2))
    );
    let detail = first["detail"].as_object().unwrap();
    assert_eq!(detail.len(), 24);
    assert_eq!(detail["2024-01-15 00:00:00"], json!(1));
    assert_eq!(detail["2024-01-15 19:00:00"], json!(2));
    assert_eq!(detail["2024-01-15 23:00:00"], json!(1));
    assert_eq!(value["2024-01-16"]["value"], json!(1));
    // The shared daily limit, in the `{"detail"}` form.
    gw.set_ecowatt_daily_limit(Some(1));
    let (status, body) = get_raw(&client, &url, None).await;
    assert_eq!(
        (status, body.as_str()),
        (
            429,
            r#"{"detail":"Rate limit exceeded: 1/1 requests today"}"#
        )
    );
    gw.set_ecowatt_daily_limit(None);

    // Prices: strings with a decimal comma, or any body set.
    let price_url = format!("{base}/edf/tempo/price");
    let (status, body) = get_raw(&client, &price_url, Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(
        json_of(&body),
        json!({"blue_hc":"0,1325","blue_hp":"0,1612","white_hc":"0,1499",
            "white_hp":"0,1871","red_hc":"0,1575","red_hp":"0,7060"})
    );
    gw.set_v1_tempo_prices(json!({"blue_hc": 0.1}));
    let (_, body) = get_raw(&client, &price_url, None).await;
    assert_eq!(json_of(&body), json!({"blue_hc": 0.1}));
    assert_eq!(gw.v1_tempo_prices(), json!({"blue_hc": 0.1}));

    // Faults in the v1 error form.
    for on in [FaultOn::Tempo, FaultOn::Ecowatt, FaultOn::TempoPrice] {
        gw.push_fault_on(on, Fault::detail(500, "Technical error. Please try later."));
    }
    for url in [
        format!("{base}/edf/tempo/price"),
        format!("{base}/rte/ecowatt/2024-01-15/2024-01-16"),
        format!("{base}/rte/tempo/2024-01-15/2024-01-16"),
    ] {
        let (status, body) = get_raw(&client, &url, None).await;
        assert_eq!(
            (status, body.as_str()),
            (500, r#"{"detail":"Technical error. Please try later."}"#),
            "{url}"
        );
    }
    assert_eq!(gw.pending_faults(), 0);

    // Log: v1, with their dates; never counted against the PDL's quota.
    let tempo = gw.tempo_requests();
    assert!(tempo.iter().all(|r| r.is_v1() && r.is_tempo()));
    assert_eq!(
        tempo[0].day_range(),
        Some((day(2024, 1, 14), day(2024, 1, 17)))
    );
    assert_eq!(tempo[1].authorization.as_deref(), Some("whatever"));
    assert_eq!(gw.tempo_calls(), 6);
    assert_eq!(gw.ecowatt_calls(), 3);
    assert_eq!(
        gw.ecowatt_requests()[0].authorization.as_deref(),
        Some(TOKEN)
    );
    assert_eq!(gw.tempo_price_calls(), 3);
    assert_eq!(
        gw.tempo_price_requests()[0].route(),
        Some(RouteKind::TempoPrice)
    );
    assert_eq!(gw.v1_call_number(PDL), 0);
    assert_eq!(gw.access_calls() + gw.daily_calls(), 0);
}

/// The browser driver sees what a page does: its console errors, its requests, its layout.
#[tokio::test(flavor = "multi_thread")]
async fn the_headless_browser_reports_errors_requests_and_layout() {
    const PAGE: &str = r#"<!doctype html><meta name=viewport content="width=device-width">
        <p id=p>hello</p><script>console.error("seen"); fetch("data.json");</script>"#;
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(|| async { axum::response::Html(PAGE) }),
        )
        .route("/data.json", axum::routing::get(|| async { "{}" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(axum::serve(listener, app).into_future());

    let mut browser = browser::Browser::start().await;
    browser.viewport(390, 844, true).await;
    browser.open(&url).await;
    assert_eq!(
        browser
            .eval("document.getElementById('p').textContent")
            .await,
        "hello"
    );
    let scroll = "document.documentElement.scrollWidth <= window.innerWidth";
    assert_eq!(browser.eval(scroll).await, true);
    // The fetch may still be on its way after the load event.
    let fetched = "new Promise(r => setTimeout(() => r(performance.getEntriesByType('resource').some(e => e.name.endsWith('data.json'))), 200))";
    assert_eq!(browser.eval(fetched).await, true);
    assert!(
        browser.requests().contains(&format!("{url}data.json")),
        "{:?}",
        browser.requests()
    );
    assert!(
        browser.errors().iter().any(|e| e.contains("seen")),
        "{:?}",
        browser.errors()
    );
    assert!(browser.screenshot().await.starts_with(b"\x89PNG"));
    server.abort();
}
