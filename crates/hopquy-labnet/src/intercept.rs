//! Whether the camera authenticates the servers it speaks TLS to. In sinkhole mode every name
//! resolves to hopquy, so a TLS connection the camera opens reaches hopquy's listener: hopquy
//! answers the handshake with a certificate for the very name the camera asked (SNI), issued
//! by a certificate authority made up for this run, which no camera can trust. A camera that
//! checks its server aborts the handshake (usually with an `unknown_ca` or `bad_certificate`
//! alert); one that finishes the handshake accepts any server, and the first bytes it then
//! sends (an update check, a login) are read in clear here.
//!
//! Invariants: one connection is served for at most `deadline`, reading at most
//! [`INSPECT_BYTES`] of application data; the certificate cache is capped at [`MAX_NAMES`]
//! names (past it every name shares one certificate, which the camera rejects or accepts the
//! same way); no device byte can make this panic.

use std::collections::HashMap;
use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{AlertDescription, ServerConfig, ServerConnection};

use crate::inspect::{self, INSPECT_BYTES};
use crate::record::{Interception, InterceptionOutcome};

/// Names a run issues certificates for before they share one.
pub const MAX_NAMES: usize = 256;
/// The name on the shared certificate (and on the certificate for a hello without SNI).
const FALLBACK_NAME: &str = "hopquy-lab.invalid";
const POLL: Duration = Duration::from_millis(200);

/// The run's certificate authority and the certificates it issued, per server name.
pub struct LabCertificates {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    ca_der: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
    issued: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    fallback: Arc<CertifiedKey>,
}

impl fmt::Debug for LabCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabCertificates").finish_non_exhaustive()
    }
}

impl LabCertificates {
    fn issue(&self, name: &str) -> Result<Arc<CertifiedKey>, String> {
        issue_for(&self.issuer, &self.ca_der, &self.provider, name)
    }
}

fn issue_for(
    issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
    ca_der: &CertificateDer<'static>,
    provider: &CryptoProvider,
    name: &str,
) -> Result<Arc<CertifiedKey>, String> {
    let key = rcgen::KeyPair::generate().map_err(|e| format!("lab certificate key: {e}"))?;
    let mut params =
        rcgen::CertificateParams::new(vec![name.to_owned()]).map_err(|e| format!("lab certificate for {name}: {e}"))?;
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let leaf = params
        .signed_by(&key, issuer)
        .map_err(|e| format!("lab certificate for {name}: {e}"))?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    CertifiedKey::from_der(vec![leaf.der().clone(), ca_der.clone()], der, provider)
        .map(Arc::new)
        .map_err(|e| format!("lab certificate for {name}: {e}"))
}

impl LabCertificates {
    /// The certificate for `name` (lower-cased), issued on first use; the shared one for a
    /// hello without a name or once [`MAX_NAMES`] names have theirs.
    fn certificate_for(&self, name: Option<&str>) -> Arc<CertifiedKey> {
        let Some(name) = name.map(str::to_ascii_lowercase) else {
            return self.fallback.clone();
        };
        let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = issued.get(&name) {
            return key.clone();
        }
        if issued.len() >= MAX_NAMES {
            return self.fallback.clone();
        }
        let key = self.issue(&name).unwrap_or_else(|_| self.fallback.clone());
        issued.insert(name, key.clone());
        key
    }
}

impl ResolvesServerCert for LabCertificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.certificate_for(hello.server_name()))
    }
}

fn lab_certificates(provider: Arc<CryptoProvider>) -> Result<LabCertificates, String> {
    let ca_key = rcgen::KeyPair::generate().map_err(|e| format!("lab CA key: {e}"))?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| format!("lab CA: {e}"))?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "hopquy lab network (untrusted test authority)",
    );
    let ca = ca_params.self_signed(&ca_key).map_err(|e| format!("lab CA: {e}"))?;
    let ca_der = ca.der().clone();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let fallback = issue_for(&issuer, &ca_der, &provider, FALLBACK_NAME)?;
    Ok(LabCertificates {
        issuer,
        ca_der,
        provider,
        issued: Mutex::new(HashMap::new()),
        fallback,
    })
}

/// The TLS server hopquy answers the camera's handshakes with: TLS 1.2 and 1.3, the run's
/// made-up authority behind every certificate.
pub fn server_config() -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let resolver = lab_certificates(provider.clone())?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .map_err(|e| format!("lab TLS server: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    Ok(Arc::new(config))
}

/// Whether the first bytes a camera sent open a TLS handshake record.
pub fn looks_like_tls(first: &[u8]) -> bool {
    matches!(first, [0x16, 0x03, ..])
}

/// Serves one handshake on `stream` and says how the camera took hopquy's certificate:
/// the outcome, the alert it sent, why (in words), and the application data it sent after an
/// accepted handshake.
pub fn intercept(config: &Arc<ServerConfig>, stream: &mut TcpStream, deadline: Instant, stop: &AtomicBool) -> Served {
    let mut connection = match ServerConnection::new(config.clone()) {
        Ok(c) => c,
        Err(e) => {
            return Served {
                outcome: InterceptionOutcome::Failed,
                alert: None,
                detail: Some(format!("hopquy's TLS server: {e}")),
                app: vec![],
                sni: None,
            };
        }
    };
    let (outcome, alert, detail, app) = drive(&mut connection, stream, deadline, stop);
    Served {
        outcome,
        alert,
        detail,
        app,
        // The name the camera asked, as the TLS server parsed it from the whole hello.
        sni: connection.server_name().map(str::to_owned),
    }
}

/// What one interception saw.
#[derive(Debug)]
pub struct Served {
    pub outcome: InterceptionOutcome,
    pub alert: Option<String>,
    pub detail: Option<String>,
    /// Application data after an accepted handshake, at most [`INSPECT_BYTES`].
    pub app: Vec<u8>,
    pub sni: Option<String>,
}

fn drive(
    connection: &mut ServerConnection,
    stream: &mut TcpStream,
    deadline: Instant,
    stop: &AtomicBool,
) -> (InterceptionOutcome, Option<String>, Option<String>, Vec<u8>) {
    let _ = stream.set_read_timeout(Some(POLL));
    let mut sent_certificate = false;
    let mut app = Vec::new();
    loop {
        while connection.wants_write() {
            match connection.write_tls(stream) {
                Ok(_) => sent_certificate |= connection.is_handshaking(),
                Err(e) => {
                    return finish(
                        connection,
                        sent_certificate,
                        app,
                        Some(format!("writing to the camera: {e}")),
                    );
                }
            }
        }
        let _ = stream.flush();
        if !connection.is_handshaking() {
            let mut buf = [0u8; 1024];
            loop {
                match connection.reader().read(&mut buf) {
                    Ok(0) => return (InterceptionOutcome::Accepted, None, None, app),
                    Ok(n) => {
                        let room = INSPECT_BYTES.saturating_sub(app.len());
                        app.extend_from_slice(&buf[..n.min(room)]);
                        if app.len() >= INSPECT_BYTES {
                            return (InterceptionOutcome::Accepted, None, None, app);
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => return (InterceptionOutcome::Accepted, None, None, app),
                }
            }
        }
        if Instant::now() >= deadline || stop.load(Ordering::Relaxed) {
            return if !connection.is_handshaking() {
                (InterceptionOutcome::Accepted, None, None, app)
            } else if sent_certificate && !stop.load(Ordering::Relaxed) {
                // A camera that sits on hopquy's certificate for the whole connection time has
                // not accepted it: nothing went to the server it could not authenticate.
                (
                    InterceptionOutcome::Rejected,
                    None,
                    Some("the camera did not finish the handshake after hopquy's certificate within the connection's time".into()),
                    app,
                )
            } else {
                (InterceptionOutcome::TimedOut, None, None, app)
            };
        }
        match connection.read_tls(stream) {
            Ok(0) => {
                return finish(
                    connection,
                    sent_certificate,
                    app,
                    Some("the camera closed the connection".into()),
                );
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                // An accepted camera that sends nothing more: what it sent is all there is.
                if !connection.is_handshaking() && !app.is_empty() {
                    return (InterceptionOutcome::Accepted, None, None, app);
                }
                continue;
            }
            Err(e) => {
                return finish(
                    connection,
                    sent_certificate,
                    app,
                    Some(format!("reading from the camera: {e}")),
                );
            }
        }
        if let Err(e) = connection.process_new_packets() {
            // Tell the camera why, as a real server would; its answer does not matter.
            let _ = connection.write_tls(stream);
            return judge_error(&e, sent_certificate, app);
        }
    }
}

/// The connection ended without a TLS error: an accepted handshake, or a camera that hung up
/// on hopquy's certificate without saying why.
fn finish(
    connection: &ServerConnection,
    sent_certificate: bool,
    app: Vec<u8>,
    detail: Option<String>,
) -> (InterceptionOutcome, Option<String>, Option<String>, Vec<u8>) {
    if !connection.is_handshaking() {
        (InterceptionOutcome::Accepted, None, None, app)
    } else if sent_certificate {
        (
            InterceptionOutcome::Rejected,
            None,
            detail.map(|d| format!("{d} after hopquy's certificate, without finishing the handshake")),
            app,
        )
    } else {
        (InterceptionOutcome::Failed, None, detail, app)
    }
}

fn judge_error(
    error: &rustls::Error,
    sent_certificate: bool,
    app: Vec<u8>,
) -> (InterceptionOutcome, Option<String>, Option<String>, Vec<u8>) {
    match error {
        rustls::Error::AlertReceived(alert) => {
            let name = alert_name(*alert);
            // Alerts about the certificate, or any fatal alert once it was sent: the camera
            // refused the server. Before it, the alert is about the hello (versions, ciphers).
            let about_certificate = matches!(
                alert,
                AlertDescription::BadCertificate
                    | AlertDescription::UnsupportedCertificate
                    | AlertDescription::CertificateRevoked
                    | AlertDescription::CertificateExpired
                    | AlertDescription::CertificateUnknown
                    | AlertDescription::UnknownCA
                    | AlertDescription::AccessDenied
                    | AlertDescription::DecryptError
            );
            if about_certificate || sent_certificate {
                (InterceptionOutcome::Rejected, Some(name), None, app)
            } else {
                (InterceptionOutcome::Failed, Some(name), None, app)
            }
        }
        other => (
            InterceptionOutcome::Failed,
            None,
            Some(format!("the handshake failed: {other}")),
            app,
        ),
    }
}

fn alert_name(alert: AlertDescription) -> String {
    // `UnknownCA` → `unknown_ca`, as RFC 8446 spells alerts.
    let debug = format!("{alert:?}");
    let mut out = String::new();
    let mut previous: Option<char> = None;
    for c in debug.chars() {
        if c.is_ascii_uppercase() && previous.is_some_and(|p| !p.is_ascii_uppercase()) {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
        previous = Some(c);
    }
    out
}

/// The record of one interception: what the camera sent inside an accepted handshake is
/// inspected like cleartext (kinds of credentials only, query values redacted).
pub fn record(time: String, client: String, server_port: u16, served: Served) -> Interception {
    let inside = (!served.app.is_empty())
        .then(|| inspect::plaintext(&served.app, &[], server_port, false))
        .flatten();
    Interception {
        time,
        client,
        server_port,
        sni: served.sni,
        outcome: served.outcome,
        alert: served.alert,
        detail: served.detail,
        inside,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn alert_names_follow_the_rfc_spelling() {
        assert_eq!(alert_name(AlertDescription::UnknownCA), "unknown_ca");
        assert_eq!(alert_name(AlertDescription::BadCertificate), "bad_certificate");
        assert_eq!(alert_name(AlertDescription::HandshakeFailure), "handshake_failure");
    }

    /// Connects a rustls client to one interception and returns what hopquy recorded.
    fn against(verify: bool, send: &[u8]) -> Interception {
        let config = server_config().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let send = send.to_vec();
        let client = std::thread::spawn(move || {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .unwrap();
            let config = if verify {
                builder
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
                    .with_no_client_auth()
            };
            let name = rustls::pki_types::ServerName::try_from("fw.example.com").unwrap();
            let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
            let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut tls = rustls::Stream::new(&mut conn, &mut sock);
            if tls.write_all(&send).is_ok() {
                let _ = tls.flush();
            }
            std::thread::sleep(Duration::from_millis(300));
        });
        let (mut stream, peer) = listener.accept().unwrap();
        let stop = AtomicBool::new(false);
        let result = intercept(&config, &mut stream, Instant::now() + Duration::from_secs(5), &stop);
        drop(stream);
        client.join().unwrap();
        record("t".into(), peer.to_string(), port, result)
    }

    #[test]
    fn a_camera_that_checks_its_server_rejects_the_lab_certificate() {
        let seen = against(true, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(seen.outcome, InterceptionOutcome::Rejected, "{seen:?}");
        assert_eq!(seen.alert.as_deref(), Some("unknown_ca"));
        assert_eq!(seen.sni.as_deref(), Some("fw.example.com"));
        assert!(seen.inside.is_none());
    }

    #[test]
    fn a_camera_that_accepts_any_server_finishes_and_its_request_is_read() {
        let seen = against(
            false,
            b"GET /firmware/check?version=1.2.3 HTTP/1.1\r\nHost: fw.example.com\r\nAuthorization: Basic YTpi\r\n\r\n",
        );
        assert_eq!(seen.outcome, InterceptionOutcome::Accepted, "{seen:?}");
        let inside = seen.inside.unwrap();
        assert_eq!(inside.protocol, "http");
        assert_eq!(inside.path.as_deref(), Some("/firmware/check?version=<redacted>"));
        assert_eq!(inside.credentials, ["authorization: basic"]);
    }

    #[test]
    fn garbage_after_a_tls_record_header_is_a_failure_not_a_panic() {
        let config = server_config().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = std::thread::spawn(move || {
            let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let _ = sock.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff]);
            std::thread::sleep(Duration::from_millis(300));
        });
        let (mut stream, _) = listener.accept().unwrap();
        let stop = AtomicBool::new(false);
        let served = intercept(&config, &mut stream, Instant::now() + Duration::from_secs(5), &stop);
        client.join().unwrap();
        assert_eq!(served.outcome, InterceptionOutcome::Failed, "{served:?}");
    }

    #[test]
    fn the_certificate_cache_is_capped() {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let lab = lab_certificates(provider).unwrap();
        let first = lab.certificate_for(Some("Cloud.Example.com"));
        assert!(Arc::ptr_eq(&first, &lab.certificate_for(Some("cloud.example.com"))));
        assert!(!Arc::ptr_eq(&first, &lab.fallback));
        for i in 1..MAX_NAMES {
            lab.certificate_for(Some(&format!("n{i}.example.com")));
        }
        let past = lab.certificate_for(Some("one-too-many.example.com"));
        assert!(Arc::ptr_eq(&past, &lab.fallback));
        assert!(Arc::ptr_eq(&lab.certificate_for(None), &lab.fallback));
        assert_eq!(lab.issued.lock().unwrap().len(), MAX_NAMES);
    }

    #[derive(Debug)]
    struct AnyServer(Arc<CryptoProvider>);

    impl rustls::client::danger::ServerCertVerifier for AnyServer {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}
