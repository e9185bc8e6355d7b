//! HTTP probe against loopback servers: auth flows checked by an independent verifier,
//! redaction, hostile servers, the connection cap and HTTPS.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use hopquy_probe::http::{AuthMode, HttpProbe, HttpRequest, Scheme};
use hopquy_probe::{Credential, Limits, ProbeError, Recorder};
use support::{RawRequest, device, digest_param, quick_limits, read_request, recorded_json, serve};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const USER: &str = "admin";
const PASSWORD: &str = "Tr0ub4dor&3-camera";

fn credential(password: &str, secret: bool) -> Credential {
    Credential {
        username: USER.into(),
        password: password.into(),
        secret,
    }
}

fn md5_hex(s: &str) -> String {
    hex::encode(<md5::Md5 as md5::Digest>::digest(s.as_bytes()))
}

fn sha256_hex(s: &str) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(s.as_bytes()))
}

/// The server's own Digest check: recompute the response from the header's fields.
fn digest_ok(req: &RawRequest, auth: &str, challenges: &[&str]) -> bool {
    let p = |n: &str| digest_param(auth, n).unwrap_or_default();
    let (nonce, uri, realm) = (p("nonce"), p("uri"), p("realm"));
    if !challenges.iter().any(|c| c.contains(&format!("nonce=\"{nonce}\""))) {
        return false;
    }
    let mut parts = req.request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if uri != target || p("username") != USER {
        return false;
    }
    let h: fn(&str) -> String = match p("algorithm").as_str() {
        "" | "MD5" => md5_hex,
        "SHA-256" => sha256_hex,
        _ => return false,
    };
    let ha1 = h(&format!("{USER}:{realm}:{PASSWORD}"));
    let ha2 = h(&format!("{method}:{uri}"));
    let expected = match p("qop").as_str() {
        "" => h(&format!("{ha1}:{nonce}:{ha2}")),
        qop => h(&format!("{ha1}:{nonce}:{}:{}:{qop}:{ha2}", p("nc"), p("cnonce"))),
    };
    p("response") == expected
}

/// A camera-like server: 401 with `challenges` (one header line each) until it gets valid
/// Digest or Basic credentials for USER/PASSWORD. Keeps connections alive.
async fn auth_server(challenges: &'static [&'static str]) -> (u16, Arc<Mutex<Vec<RawRequest>>>) {
    let (port, seen, _) = counting_auth_server(challenges).await;
    (port, seen)
}

/// [`auth_server`] that also counts the connections it accepted.
async fn counting_auth_server(
    challenges: &'static [&'static str],
) -> (u16, Arc<Mutex<Vec<RawRequest>>>, Arc<AtomicUsize>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let accepted = Arc::new(AtomicUsize::new(0));
    let log = seen.clone();
    let counter = accepted.clone();
    let port = serve(move |mut s: TcpStream| {
        let log = log.clone();
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            while let Some(req) = read_request(&mut s).await {
                log.lock().unwrap().push(req.clone());
                let ok = match req.header("authorization") {
                    Some(a) if a.starts_with("Digest ") => digest_ok(&req, a, challenges),
                    Some(a) if a.starts_with("Basic ") => {
                        let expected = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
                        a["Basic ".len()..] == expected
                    }
                    _ => false,
                };
                let reply = if ok {
                    "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nwelcome".to_owned()
                } else {
                    let mut r = "HTTP/1.1 401 Unauthorized\r\n".to_owned();
                    for c in challenges {
                        r.push_str(&format!("WWW-Authenticate: {c}\r\n"));
                    }
                    r + "Content-Length: 0\r\n\r\n"
                };
                if s.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    (port, seen, accepted)
}

const MD5_CHALLENGE: &str = r#"Digest realm="IPCAM", nonce="md5nonce-1", qop="auth", algorithm=MD5, opaque="op-1""#;
const SHA256_CHALLENGE: &str = r#"Digest realm="IPCAM", nonce="shanonce-2", qop="auth", algorithm=SHA-256"#;

#[tokio::test]
async fn digest_md5_is_accepted_by_an_independent_verifier() {
    static CH: &[&str] = &[MD5_CHALLENGE];
    let (port, seen) = auth_server(CH).await;
    let probe = HttpProbe::new(device(quick_limits())).unwrap();
    let rec = Recorder::default();
    let req = HttpRequest::get(Scheme::Http, port, "/ISAPI/System/deviceInfo?format=json")
        .with_auth(AuthMode::Digest, credential(PASSWORD, false));
    let resp = probe.send(&req, &rec).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"welcome");
    assert_eq!(resp.auth_used.as_deref(), Some("digest-md5"));
    assert_eq!(resp.challenges.len(), 1);
    assert_eq!(resp.challenges[0].label(), "digest-md5");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "one unauthenticated request, one retry");
    assert!(seen[0].header("authorization").is_none());
    let auth = seen[1].header("authorization").unwrap();
    assert_eq!(
        digest_param(auth, "uri").as_deref(),
        Some("/ISAPI/System/deviceInfo?format=json")
    );
    assert_eq!(digest_param(auth, "opaque").as_deref(), Some("op-1"));
    assert_eq!(digest_param(auth, "nc").as_deref(), Some("00000001"));
    assert_eq!(rec.len(), 2, "both exchanges recorded");
}

#[tokio::test]
async fn digest_with_a_wrong_password_ends_in_the_devices_401() {
    static CH: &[&str] = &[MD5_CHALLENGE];
    let (port, seen) = auth_server(CH).await;
    let probe = HttpProbe::new(device(quick_limits())).unwrap();
    let rec = Recorder::default();
    let req = HttpRequest::get(Scheme::Http, port, "/").with_auth(AuthMode::Digest, credential("wrong", false));
    let resp = probe.send(&req, &rec).await.unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(resp.auth_used.as_deref(), Some("digest-md5"));
    assert_eq!(seen.lock().unwrap().len(), 2, "resent exactly once");
}

#[tokio::test]
async fn any_prefers_sha256_over_md5_across_two_headers() {
    static CH: &[&str] = &[MD5_CHALLENGE, SHA256_CHALLENGE];
    let (port, seen) = auth_server(CH).await;
    let probe = HttpProbe::new(device(quick_limits())).unwrap();
    let rec = Recorder::default();
    let req = HttpRequest::get(Scheme::Http, port, "/").with_auth(AuthMode::Any, credential(PASSWORD, false));
    let resp = probe.send(&req, &rec).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.auth_used.as_deref(), Some("digest-sha256"));
    let labels: Vec<String> = resp.challenges.iter().map(|c| c.label()).collect();
    assert_eq!(labels, ["digest-md5", "digest-sha256"]);
    let auth = seen.lock().unwrap()[1].header("authorization").unwrap().to_owned();
    assert_eq!(digest_param(&auth, "algorithm").as_deref(), Some("SHA-256"));
}

#[tokio::test]
async fn any_picks_digest_from_a_merged_digest_and_basic_value() {
    static CH: &[&str] = &[r#"Digest realm="IPCAM", nonce="merged-3", algorithm=MD5, Basic realm="IPCAM""#];
    let (port, seen) = auth_server(CH).await;
    let probe = HttpProbe::new(device(quick_limits())).unwrap();
    let rec = Recorder::default();
    let req = HttpRequest::get(Scheme::Http, port, "/").with_auth(AuthMode::Any, credential(PASSWORD, false));
    let resp = probe.send(&req, &rec).await.unwrap();
    assert_eq!(resp.status, 200, "{:?}", seen.lock().unwrap());
    assert_eq!(resp.auth_used.as_deref(), Some("digest-md5"));
    assert_eq!(resp.challenges.len(), 2);
    let auth = seen.lock().unwrap()[1].header("authorization").unwrap().to_owned();
    assert!(auth.starts_with("Digest "), "{auth}");
    // No qop offered: the RFC 2069 form, without nc/cnonce.
    assert!(digest_param(&auth, "nc").is_none(), "{auth}");
}

#[tokio::test]
async fn digest_mode_never_falls_back_to_basic() {
    static CH: &[&str] = &[r#"Basic realm="IPCAM""#];
    let (port, seen) = auth_server(CH).await;
    let probe = HttpProbe::new(device(quick_limits())).unwrap();
    let rec = Recorder::default();
    let req = HttpRequest::get(Scheme::Http, port, "/").with_auth(AuthMode::Digest, credential(PASSWORD, false));
    let resp = probe.send(&req, &rec).await.unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(resp.auth_used, None);
    assert_eq!(resp.challenges.len(), 1);
    assert!(resp.challenges[0].is_basic());
    assert_eq!(seen.lock().unwrap().len(), 1, "no second request");
    assert_eq!(resp.observations()["challenges"][0]["label"], "basic");
}

#[tokio::test]
async fn basic_is_preemptive() {
    static CH: &[&str] = &[r#"Basic realm="IPCAM""#];
    let (port, seen) = auth_server(CH).await;
    let probe = HttpProbe::new(device(quick_limits())).unwrap();
    let rec = Recorder::default();
    let req = HttpRequest::get(Scheme::Http, port, "/").with_auth(AuthMode::Basic, credential(PASSWORD, false));
    let resp = probe.send(&req, &rec).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.auth_used.as_deref(), Some("basic"));
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(resp.challenges.is_empty());
}

#[tokio::test]
async fn secret_credentials_never_reach_the_record() {
    static CH: &[&str] = &[MD5_CHALLENGE];
    let (port, seen) = auth_server(CH).await;
    let probe = HttpProbe::new(device(quick_limits())).unwrap();
    // A recorder that knows no secrets: the probe itself must redact.
    let rec = Recorder::default();

    let digest = HttpRequest::get(Scheme::Http, port, "/").with_auth(AuthMode::Digest, credential(PASSWORD, true));
    assert_eq!(probe.send(&digest, &rec).await.unwrap().status, 200);
    let (count, json) = recorded_json(&rec);
    assert_eq!(count, 2);
    let sent_auth = seen.lock().unwrap()[1].header("authorization").unwrap().to_owned();
    let response = digest_param(&sent_auth, "response").unwrap();
    assert!(!json.contains(PASSWORD), "{json}");
    assert!(!json.contains(&response), "digest response recorded: {json}");
    assert!(json.contains(r#"response=\"[REDACTED]\""#), "{json}");
    assert!(
        json.contains(r#"username=\"admin\""#) && json.contains("md5nonce-1"),
        "{json}"
    );

    let basic = HttpRequest::get(Scheme::Http, port, "/").with_auth(AuthMode::Basic, credential(PASSWORD, true));
    assert_eq!(probe.send(&basic, &rec).await.unwrap().status, 200);
    let (_, json) = recorded_json(&rec);
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    assert!(!json.contains(&b64) && !json.contains(PASSWORD), "{json}");
    assert!(json.contains("authorization: Basic [REDACTED]"), "{json}");

    // A dictionary credential is public evidence and is kept.
    let public = HttpRequest::get(Scheme::Http, port, "/").with_auth(AuthMode::Basic, credential("admin12345", false));
    probe.send(&public, &rec).await.unwrap();
    let (_, json) = recorded_json(&rec);
    let public_b64 = base64::engine::general_purpose::STANDARD.encode("admin:admin12345");
    assert!(json.contains(&public_b64), "{json}");
}

#[tokio::test]
async fn recorded_request_is_what_the_server_received() {
    static CH: &[&str] = &[r#"Basic realm="x""#];
    let (port, seen) = auth_server(CH).await;
    let probe = HttpProbe::new(device(quick_limits())).unwrap();
    let rec = Recorder::default();
    let req = HttpRequest::new(Scheme::Http, port, "PUT", "/ISAPI/Security/users/1")
        .with_header("Content-Type", "application/xml")
        .with_header("X-Custom", "1")
        .with_header("x-custom", "2")
        .with_body(b"<User><id>1</id></User>".to_vec())
        .with_label("change password");
    probe.send(&req, &rec).await.unwrap();
    let server_saw = seen.lock().unwrap()[0].clone();
    let ex = rec.drain();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].label, "change password");
    assert_eq!(ex[0].protocol, "http");
    assert_eq!(ex[0].peer, format!("127.0.0.1:{port}"));
    let recorded = ex[0].sent.as_ref().unwrap().text.clone().unwrap();
    let expected = format!("{}{}", server_saw.head, String::from_utf8(server_saw.body).unwrap());
    assert_eq!(recorded, expected);
    assert!(recorded.contains(&format!("host: 127.0.0.1:{port}\r\n")), "{recorded}");
    assert!(
        recorded.contains(concat!("user-agent: hopquy/", env!("CARGO_PKG_VERSION"))),
        "{recorded}"
    );
    let received = ex[0].received.as_ref().unwrap().text.clone().unwrap();
    assert!(received.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{received}");
    assert!(received.contains("www-authenticate: Basic realm=\"x\""), "{received}");
}

async fn expect_failure(limits: Limits, port: u16) -> (ProbeError, Vec<hopquy_probe::Exchange>) {
    let probe = HttpProbe::new(device(limits)).unwrap();
    let rec = Recorder::default();
    let err = probe
        .send(&HttpRequest::get(Scheme::Http, port, "/"), &rec)
        .await
        .unwrap_err();
    let ex = rec.drain();
    assert_eq!(ex.len(), 1, "the failure is recorded");
    assert!(ex[0].error.is_some(), "{:?}", ex[0]);
    assert!(ex[0].sent.is_some());
    (err, ex)
}

#[tokio::test]
async fn server_that_closes_immediately() {
    let port = serve(|s: TcpStream| async move { drop(s) }).await;
    let (err, _) = expect_failure(quick_limits(), port).await;
    assert!(matches!(err, ProbeError::Closed(_)), "{err:?}");
}

#[tokio::test]
async fn server_that_sends_garbage() {
    let port = serve(|mut s: TcpStream| async move {
        let _ = read_request(&mut s).await;
        let _ = s.write_all(b"\x00\xffGARBAGE \x1b[31m nothing like HTTP\r\n\r\n").await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    })
    .await;
    let (err, _) = expect_failure(quick_limits(), port).await;
    assert!(matches!(err, ProbeError::Protocol(_)), "{err:?}");
}

#[tokio::test]
async fn server_that_never_answers() {
    let port = serve(|mut s: TcpStream| async move {
        let _ = read_request(&mut s).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let (err, _) = expect_failure(quick_limits(), port).await;
    assert!(matches!(err, ProbeError::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn endless_header_stream() {
    let port = serve(|mut s: TcpStream| async move {
        let _ = read_request(&mut s).await;
        if s.write_all(b"HTTP/1.1 200 OK\r\n").await.is_err() {
            return;
        }
        let line = format!("X-Filler: {}\r\n", "a".repeat(1000));
        while s.write_all(line.as_bytes()).await.is_ok() {}
    })
    .await;
    let mut limits = quick_limits();
    limits.io_timeout = Duration::from_secs(5);
    let (err, _) = expect_failure(limits, port).await;
    assert!(matches!(err, ProbeError::TooLarge(_)), "{err:?}");
}

#[tokio::test]
async fn ten_megabyte_body_is_truncated_at_the_bound() {
    let port = serve(|mut s: TcpStream| async move {
        let _ = read_request(&mut s).await;
        let size = 10 * 1024 * 1024;
        if s.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
        let block = vec![b'z'; 64 * 1024];
        for _ in 0..size / block.len() {
            if s.write_all(&block).await.is_err() {
                return;
            }
        }
    })
    .await;
    let limits = quick_limits();
    let bound = limits.max_response_bytes;
    let probe = HttpProbe::new(device(limits)).unwrap();
    let rec = Recorder::default();
    let resp = probe
        .send(&HttpRequest::get(Scheme::Http, port, "/big"), &rec)
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert!(resp.body_truncated);
    assert_eq!(resp.body.len(), bound);
    let ex = rec.drain();
    assert_eq!(ex.len(), 1);
    let received = ex[0].received.as_ref().unwrap();
    assert!(received.truncated);
    assert!(received.len >= bound);
}

#[tokio::test]
async fn slow_drip_body_times_out_with_partial_evidence() {
    let port = serve(|mut s: TcpStream| async move {
        let _ = read_request(&mut s).await;
        if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
        loop {
            if s.write_all(b"d").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let (err, ex) = expect_failure(quick_limits(), port).await;
    assert!(matches!(err, ProbeError::Timeout(_)), "{err:?}");
    let received = ex[0].received.as_ref().unwrap().text.clone().unwrap();
    assert!(
        received.starts_with("HTTP/1.1 200 OK\r\n") && received.ends_with('d'),
        "{received}"
    );
}

#[tokio::test]
async fn refused_port_is_recorded() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (err, _) = expect_failure(quick_limits(), port).await;
    assert!(matches!(err, ProbeError::Refused(_)), "{err:?}");
    assert!(err.is_unreachable());
}

#[tokio::test]
async fn connection_cap_holds_under_concurrent_sends() {
    let current = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (c, p) = (current.clone(), peak.clone());
    let port = serve(move |mut s: TcpStream| {
        let (current, peak) = (c.clone(), p.clone());
        async move {
            let now = current.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let _ = read_request(&mut s).await;
            tokio::time::sleep(Duration::from_millis(30)).await;
            // Count the connection as gone before the client can see the answer end.
            current.fetch_sub(1, Ordering::SeqCst);
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
                .await;
        }
    })
    .await;
    let mut limits = quick_limits();
    limits.max_connections = 2;
    limits.io_timeout = Duration::from_secs(5);
    let probe = HttpProbe::new(device(limits)).unwrap();
    let rec = Recorder::default();
    let sends = (0..12).map(|i| {
        let probe = probe.clone();
        let rec = rec.clone();
        async move {
            probe
                .send(&HttpRequest::get(Scheme::Http, port, format!("/{i}")), &rec)
                .await
        }
    });
    let results = futures::future::join_all(sends).await;
    assert!(
        results.iter().all(|r| r.as_ref().is_ok_and(|r| r.status == 200)),
        "{results:?}"
    );
    let peak = peak.load(Ordering::SeqCst);
    assert!((1..=2).contains(&peak), "server saw {peak} connections at once");
    assert_eq!(rec.len(), 12);
}

#[tokio::test]
async fn https_records_the_peer_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let der = cert.cert.der().to_vec();
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let port = serve(move |s: TcpStream| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(mut tls) = acceptor.accept(s).await else {
                return;
            };
            if read_request(&mut tls).await.is_some() {
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure")
                    .await;
                let _ = tls.shutdown().await;
            }
        }
    })
    .await;
    let probe = HttpProbe::new(device(quick_limits())).unwrap();
    let rec = Recorder::default();
    let resp = probe
        .send(&HttpRequest::get(Scheme::Https, port, "/"), &rec)
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"secure");
    assert_eq!(resp.peer_cert_sha256.as_deref(), Some(sha256_hex_bytes(&der).as_str()));
    assert_eq!(resp.observations()["peer_cert_sha256"], sha256_hex_bytes(&der));
    let ex = rec.drain();
    assert_eq!(ex[0].protocol, "https");
}

fn sha256_hex_bytes(b: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b))
}

#[tokio::test]
async fn auth_without_credential_is_an_invalid_request() {
    let probe = HttpProbe::new(device(quick_limits())).unwrap();
    let mut req = HttpRequest::get(Scheme::Http, 1, "/");
    req.auth = AuthMode::Digest;
    let err = probe.send(&req, &Recorder::default()).await.unwrap_err();
    assert!(matches!(err, ProbeError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn https_to_a_plain_http_port_is_a_tls_failure() {
    let port = serve(|mut s: TcpStream| async move {
        let _ = s
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    })
    .await;
    let probe = HttpProbe::new(device(quick_limits())).unwrap();
    let rec = Recorder::default();
    let err = probe
        .send(&HttpRequest::get(Scheme::Https, port, "/"), &rec)
        .await
        .unwrap_err();
    assert!(matches!(err, ProbeError::Tls(_)), "{err:?}");
    let ex = rec.drain();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].protocol, "https");
    assert!(
        ex[0].error.as_deref().is_some_and(|e| e.contains("TLS")),
        "{:?}",
        ex[0].error
    );
}

#[tokio::test]
async fn fresh_connection_decides_whether_the_digest_retry_reuses_the_socket() {
    static CH: &[&str] = &[MD5_CHALLENGE];
    let (port, _, accepted) = counting_auth_server(CH).await;
    let probe = HttpProbe::new(device(quick_limits())).unwrap();
    let rec = Recorder::default();
    let mut req = HttpRequest::get(Scheme::Http, port, "/").with_auth(AuthMode::Digest, credential(PASSWORD, false));
    assert_eq!(probe.send(&req, &rec).await.unwrap().status, 200);
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "keep-alive reuse");
    req.fresh_connection = true;
    assert_eq!(probe.send(&req, &rec).await.unwrap().status, 200);
    assert_eq!(accepted.load(Ordering::SeqCst), 3, "a new connection for each request");
}

#[tokio::test]
async fn secret_in_the_path_is_redacted_from_errors_and_records() {
    let port = serve(|s: TcpStream| async move { drop(s) }).await;
    let probe = HttpProbe::new(device(quick_limits())).unwrap();
    let rec = Recorder::default();
    let req = HttpRequest::get(
        Scheme::Http,
        port,
        format!("/cgi-bin/login.cgi?user=admin&pwd={PASSWORD}"),
    )
    .with_auth(AuthMode::Basic, credential(PASSWORD, true))
    .with_label(format!("login with {PASSWORD}"));
    let err = probe.send(&req, &rec).await.unwrap_err();
    assert!(!err.to_string().contains(PASSWORD), "{err}");
    assert!(err.to_string().contains("[REDACTED]"), "{err}");
    let (count, json) = recorded_json(&rec);
    assert_eq!(count, 1);
    assert!(!json.contains(PASSWORD), "{json}");
}
