//! The test CA and its certificates (rcgen, signed with ring): for the TLS brokers and the
//! TLS PostgreSQL of the tests. Its own module, so that the store's unit tests can include
//! the PostgreSQL support without the broker's.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

/// Writes a file only its owner can read (keys, password file).
pub fn write_private(path: &Path, contents: &[u8]) {
    use std::os::unix::fs::OpenOptionsExt as _;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(contents))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// How long the generated certificates are valid, from the moment they are made.
const CERT_VALIDITY: Duration = Duration::from_secs(3 * 24 * 3600);
/// CN of the generated CA.
pub const CA_NAME: &str = "myelectricaldata-mqtt test CA";
/// CN of the generated client certificate.
pub const CLIENT_NAME: &str = "myelectricaldata-mqtt test client";

/// Writes into `dir`, all in PEM, keys P-256 (PKCS#8, unencrypted), certificates valid 3 days
/// from now:
/// - a CA (`ca.key`, `ca.crt`): CN `CA_NAME`, basicConstraints critical CA:TRUE, keyUsage
///   critical keyCertSign + cRLSign;
/// - a server certificate signed by it (`server.key`, `server.crt`): CN `localhost`, SANs DNS
///   `localhost` and IP 127.0.0.1, basicConstraints critical CA:FALSE, keyUsage critical
///   digitalSignature, extendedKeyUsage serverAuth;
/// - with `client`, a client certificate signed by it (`client.key`, `client.crt`): CN
///   `CLIENT_NAME`, no SAN, same constraints with extendedKeyUsage clientAuth.
///
/// Serial numbers are rcgen's: derived from each certificate's (fresh) public key.
pub fn generate_tls_files(dir: &Path, client: bool) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose, SanType,
    };
    let not_before = time::OffsetDateTime::now_utc();
    let not_after = not_before + CERT_VALIDITY;
    let params = |cn: &str| {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.not_before = not_before;
        params.not_after = not_after;
        params
    };
    // rcgen's default key: ECDSA P-256 with SHA-256.
    let new_key = || KeyPair::generate().expect("cannot generate a P-256 key");
    let write = |name: &str, cert_pem: &str, key: &KeyPair| {
        fs::write(dir.join(format!("{name}.crt")), cert_pem)
            .unwrap_or_else(|e| panic!("cannot write {name}.crt: {e}"));
        write_private(
            &dir.join(format!("{name}.key")),
            key.serialize_pem().as_bytes(),
        );
    };

    let mut ca = params(CA_NAME);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, new_key()).expect("cannot make the CA");
    write("ca", &ca.pem(), ca.key());

    let leaf = |cn: &str, sans: Vec<SanType>, usage: ExtendedKeyUsagePurpose| {
        let mut params = params(cn);
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        let key = new_key();
        let cert = params
            .signed_by(&key, &ca)
            .unwrap_or_else(|e| panic!("cannot sign the certificate of {cn}: {e}"));
        (cert, key)
    };
    let sans = vec![
        SanType::DnsName("localhost".try_into().expect("a valid DNS name")),
        SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
    ];
    let (server, server_key) = leaf("localhost", sans, ExtendedKeyUsagePurpose::ServerAuth);
    write("server", &server.pem(), &server_key);
    if client {
        let (cert, key) = leaf(CLIENT_NAME, Vec::new(), ExtendedKeyUsagePurpose::ClientAuth);
        write("client", &cert.pem(), &key);
    }
}
