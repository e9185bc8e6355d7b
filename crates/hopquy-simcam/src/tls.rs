//! HTTPS: a self-signed certificate with a key generated per instance (clause 2.4.4 asks
//! for per-device uniqueness), TLS 1.2 and 1.3 through rustls, and the same router as plain
//! HTTP.
//!
//! Flaws served here:
//! - `shared-certificate`: a fixed RSA-2048 key and certificate compiled into the binary
//!   (`shared_key.pem`, `shared_certificate.pem`; "IPCamera" vendor name, 2016–2036), the
//!   same for every instance, like firmware that ships one key to every unit.
//! - `legacy-tls`: the certificate key becomes RSA (old firmware had no ECDSA, and the
//!   legacy RSA-key-exchange suites need an RSA certificate), and each connection is routed
//!   by its ClientHello so that TLS 1.0/1.1 and weak suites are accepted on this same port
//!   (see [`crate::legacy_tls`]).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SerialNumber, date_time_ymd};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::debug;

use crate::SimError;
use crate::config::{DeviceIdentity, Flaw, SimSetup};
use crate::legacy_tls::{self, Rewind, Route};
use crate::net::accept_loop;

/// A client that does not finish its handshake in this time is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const CERTIFICATE_YEARS: i32 = 10;
const SHARED_CERTIFICATE_PEM: &str = include_str!("shared_certificate.pem");
pub(crate) const SHARED_KEY_PEM: &str = include_str!("shared_key.pem");

#[derive(Clone)]
pub(crate) struct TlsIdentity {
    pub acceptor: TlsAcceptor,
    pub certificate_der: Vec<u8>,
    /// `legacy-tls`: route old hellos to the legacy responder.
    pub legacy: bool,
    /// Suites rustls serves (hellos offering any of them go to rustls).
    pub rustls_suites: Vec<u16>,
}

impl TlsIdentity {
    pub fn generate(identity: &DeviceIdentity, host: IpAddr, setup: &SimSetup) -> Result<Self, SimError> {
        let legacy = setup.has(Flaw::LegacyTls);
        let (certificate_der, key_der) = if setup.has(Flaw::SharedCertificate) {
            shared_certificate()?
        } else {
            unique_certificate(identity, host, legacy)?
        };

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let rustls_suites = provider.cipher_suites.iter().map(|s| u16::from(s.suite())).collect();
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
            .map_err(|e| SimError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(certificate_der.clone())], key_der)
            .map_err(|e| SimError::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsIdentity {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certificate_der,
            legacy,
            rustls_suites,
        })
    }
}

/// The compiled-in key pair every `shared-certificate` unit uses.
fn shared_certificate() -> Result<(Vec<u8>, PrivateKeyDer<'static>), SimError> {
    let certificate = CertificateDer::from_pem_slice(SHARED_CERTIFICATE_PEM.as_bytes())
        .map_err(|e| SimError::Certificate(format!("shared certificate: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(SHARED_KEY_PEM.as_bytes())
        .map_err(|e| SimError::Certificate(format!("shared key: {e}")))?;
    Ok((certificate.as_ref().to_vec(), key))
}

/// A fresh key and self-signed certificate for this instance: ECDSA P-256, or RSA-2048 for
/// a legacy camera.
fn unique_certificate(
    identity: &DeviceIdentity,
    host: IpAddr,
    rsa: bool,
) -> Result<(Vec<u8>, PrivateKeyDer<'static>), SimError> {
    let key = if rsa {
        KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
    } else {
        KeyPair::generate()
    }
    .map_err(|e| SimError::Certificate(e.to_string()))?;
    let mut params = CertificateParams::new(vec![host.to_string(), "localhost".to_string()])
        .map_err(|e| SimError::Certificate(e.to_string()))?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, host.to_string());
    name.push(DnType::OrganizationName, identity.vendor.clone());
    name.push(DnType::OrganizationalUnitName, identity.model.clone());
    params.distinguished_name = name;
    let mut serial = [0u8; 16];
    rand::fill(&mut serial[..]);
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    // Camera-like validity: from today for ten years (rcgen's default runs to 4096).
    let (year, month, day) = today_utc();
    params.not_before = date_time_ymd(year, month, day);
    params.not_after = date_time_ymd(year + CERTIFICATE_YEARS, month, day.min(28));
    let certificate = params
        .self_signed(&key)
        .map_err(|e| SimError::Certificate(e.to_string()))?;
    Ok((
        certificate.der().to_vec(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    ))
}

pub(crate) async fn serve(listener: TcpListener, identity: TlsIdentity, router: Router, uc_traversal: bool) {
    let identity = Arc::new(identity);
    accept_loop(listener, "https", move |mut stream, peer| {
        let identity = identity.clone();
        let router = router.clone();
        async move {
            let mut prefix = Vec::new();
            if identity.legacy {
                let Ok((first, whole)) =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, legacy_tls::read_first_record(&mut stream)).await
                else {
                    debug!(%peer, "no ClientHello in time");
                    return;
                };
                let hello = whole.then(|| legacy_tls::parse_client_hello(&first)).flatten();
                match hello.map(|h| (legacy_tls::route(&h, &identity.rustls_suites), h)) {
                    Some((Route::Legacy { version, suite }, hello)) => {
                        debug!(%peer, version, suite, "legacy TLS handshake");
                        let flight = legacy_tls::server_flight(
                            version,
                            suite,
                            hello.secure_renegotiation,
                            &identity.certificate_der,
                        );
                        legacy_tls::answer_and_close(stream, &flight).await;
                        return;
                    }
                    Some((Route::Refuse { version }, _)) => {
                        legacy_tls::answer_and_close(stream, &legacy_tls::refusal(version)).await;
                        return;
                    }
                    Some((Route::Rustls, _)) | None => prefix = first,
                }
            }
            let stream = Rewind::new(prefix, stream);
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, identity.acceptor.accept(stream)).await {
                Ok(Ok(tls)) => crate::http::serve_connection(tls, peer, router, uc_traversal).await,
                Ok(Err(error)) => debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => debug!(%peer, "TLS handshake timed out"),
            }
        }
    })
    .await;
}

/// Today's UTC calendar date (Howard Hinnant's `civil_from_days`).
fn today_utc() -> (i32, u8, u8) {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    civil_from_days(i64::try_from(seconds / 86_400).unwrap_or(0))
}

fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        i32::try_from(year).unwrap_or(2026),
        u8::try_from(month).unwrap_or(1),
        u8::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }

    #[test]
    fn every_instance_gets_its_own_key_and_certificate() {
        let identity = DeviceIdentity::random(crate::Personality::Hardened);
        let host = IpAddr::from([127, 0, 0, 1]);
        // SubjectPublicKeyInfo header of an uncompressed P-256 key, followed by the point.
        const P256_SPKI: &[u8] = &[
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
            0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        let public_key = |der: &[u8]| -> Vec<u8> {
            let at = der
                .windows(P256_SPKI.len())
                .position(|window| window == P256_SPKI)
                .expect("P-256 key in certificate");
            der[at + P256_SPKI.len()..at + P256_SPKI.len() + 65].to_vec()
        };
        let setup = SimSetup::new(crate::Personality::Hardened);
        let a = TlsIdentity::generate(&identity, host, &setup).unwrap();
        let b = TlsIdentity::generate(&identity, host, &setup).unwrap();
        assert_ne!(public_key(&a.certificate_der), public_key(&b.certificate_der));
    }

    #[test]
    fn shared_certificate_is_the_same_for_every_unit() {
        let host = IpAddr::from([127, 0, 0, 1]);
        let shared = SimSetup::new(crate::Personality::Hardened).with(Flaw::SharedCertificate);
        let a = TlsIdentity::generate(&DeviceIdentity::random(crate::Personality::Hardened), host, &shared).unwrap();
        let b = TlsIdentity::generate(
            &DeviceIdentity::random(crate::Personality::Legacy),
            host,
            &shared.clone().with(Flaw::LegacyTls),
        )
        .unwrap();
        assert_eq!(a.certificate_der, b.certificate_der);
        let own = TlsIdentity::generate(
            &DeviceIdentity::random(crate::Personality::Hardened),
            host,
            &SimSetup::new(crate::Personality::Hardened),
        )
        .unwrap();
        assert_ne!(a.certificate_der, own.certificate_der);
        assert!(!a.legacy && b.legacy);
    }

    #[test]
    fn legacy_tls_gets_its_own_rsa_key() {
        // AlgorithmIdentifier of rsaEncryption.
        const RSA_ENCRYPTION: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
        let host = IpAddr::from([127, 0, 0, 1]);
        let setup = SimSetup::new(crate::Personality::Hardened).with(Flaw::LegacyTls);
        let identity = DeviceIdentity::random(crate::Personality::Hardened);
        let a = TlsIdentity::generate(&identity, host, &setup).unwrap();
        let b = TlsIdentity::generate(&identity, host, &setup).unwrap();
        for der in [&a.certificate_der, &b.certificate_der] {
            assert!(der.windows(RSA_ENCRYPTION.len()).any(|w| w == RSA_ENCRYPTION));
        }
        assert_ne!(a.certificate_der, b.certificate_der);
        assert!(a.rustls_suites.contains(&0xc02f), "rustls serves ECDHE-RSA-AES128-GCM");
    }
}
