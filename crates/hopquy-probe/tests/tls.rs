//! TLS audit against the simulated camera, hand-made legacy servers and hostile servers on
//! loopback.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use hopquy_probe::tls::{TlsAudit, TlsAuditOptions, TlsVersion, audit};
use hopquy_probe::{Capture, ProbeError, Recorder};
use hopquy_simcam::{SimCamera, SimConfig, SimSetup};
use sha2::{Digest, Sha256};
use support::{device, quick_limits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn camera(setup: &str) -> (SimCamera, u16) {
    let cam = SimCamera::start(SimConfig::new(SimSetup::parse(setup).unwrap()))
        .await
        .unwrap();
    let port = cam.ports()["https"];
    (cam, port)
}

fn suites_of(audit: &TlsAudit, version: TlsVersion) -> Vec<String> {
    audit
        .versions
        .iter()
        .find(|v| v.version == version)
        .map(|v| v.cipher_suites.clone())
        .unwrap_or_default()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn hardened_camera_accepts_only_tls12_and_tls13_with_strong_suites() {
    let (cam, port) = camera("hardened").await;
    let rec = Recorder::default();
    let result = audit(&device(quick_limits()), port, &TlsAuditOptions::default(), &rec)
        .await
        .unwrap();

    assert_eq!(
        result.accepted_versions(),
        strings(&["TLSv1.2", "TLSv1.3"]),
        "{result:#?}"
    );
    assert!(result.undetermined_versions().is_empty(), "{result:#?}");
    assert!(result.weak_suites().is_empty(), "{:?}", result.weak_suites());
    for old in [TlsVersion::Ssl3, TlsVersion::Tls10, TlsVersion::Tls11] {
        let report = result.versions.iter().find(|v| v.version == old).unwrap();
        assert!(!report.accepted && report.refused_with.is_some(), "{report:?}");
    }
    // rustls with the camera's P-256 key: the ECDSA suites, and the three TLS 1.3 suites.
    assert_eq!(
        suites_of(&result, TlsVersion::Tls12),
        strings(&[
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ])
    );
    assert_eq!(
        suites_of(&result, TlsVersion::Tls13),
        strings(&[
            "TLS_AES_128_GCM_SHA256",
            "TLS_AES_256_GCM_SHA384",
            "TLS_CHACHA20_POLY1305_SHA256"
        ])
    );

    let cert = result.certificate.as_ref().unwrap();
    assert_eq!(
        cert.sha256,
        hex::encode(Sha256::digest(cam.tls_certificate_der().unwrap()))
    );
    assert_eq!((cert.key_type.as_str(), cert.key_bits), ("EC", 256));
    assert!(cert.self_signed);
    assert!(cert.subject_alt_names.contains(&"127.0.0.1".to_string()), "{cert:?}");
    assert_eq!(result.negotiated.as_ref().map(|n| n.version.as_str()), Some("TLSv1.3"));

    // Every connection is evidence: hello sent, answer received, byte-exact.
    let exchanges = rec.drain();
    assert_eq!(
        exchanges.len(),
        result.connections - 1,
        "one exchange per connection after the reachability check"
    );
    assert!(
        exchanges
            .iter()
            .all(|e| e.protocol == "tls" && e.capture == Capture::Wire)
    );
    let hellos = exchanges.iter().filter(|e| e.label.contains("ClientHello")).count();
    assert!(hellos >= 10, "{hellos}");
    cam.shutdown().await;
}

#[tokio::test]
async fn legacy_tls_camera_accepts_tls10_tls11_and_weak_suites() {
    let (cam, port) = camera("hardened+legacy-tls").await;
    let rec = Recorder::default();
    let result = audit(&device(quick_limits()), port, &TlsAuditOptions::default(), &rec)
        .await
        .unwrap();

    assert_eq!(
        result.accepted_versions(),
        strings(&["TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"]),
        "{result:#?}"
    );
    let legacy = strings(&[
        "TLS_RSA_WITH_RC4_128_SHA",
        "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        "TLS_RSA_WITH_AES_128_CBC_SHA",
    ]);
    assert_eq!(suites_of(&result, TlsVersion::Tls10), legacy);
    assert_eq!(suites_of(&result, TlsVersion::Tls11), legacy);
    // TLS 1.2: the legacy suites plus what rustls serves with the RSA key.
    let tls12 = suites_of(&result, TlsVersion::Tls12);
    for name in legacy
        .iter()
        .map(String::as_str)
        .chain(["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"])
    {
        assert!(tls12.iter().any(|s| s == name), "{name} missing from {tls12:?}");
    }
    assert!(!tls12.iter().any(|s| s.contains("ECDSA")), "RSA certificate: {tls12:?}");
    let weak = result.weak_suites();
    for name in [
        "TLS_RSA_WITH_RC4_128_SHA",
        "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        "TLS_RSA_WITH_AES_128_CBC_SHA",
    ] {
        assert!(weak.iter().any(|s| s == name), "{name} not weak in {weak:?}");
    }
    assert!(!suites_of(&result, TlsVersion::Ssl3).iter().any(|_| true));

    let cert = result.certificate.as_ref().unwrap();
    assert_eq!((cert.key_type.as_str(), cert.key_bits), ("RSA", 2048));
    assert_eq!(
        cert.sha256,
        hex::encode(Sha256::digest(cam.tls_certificate_der().unwrap()))
    );
    cam.shutdown().await;
}

#[tokio::test]
async fn shared_certificate_is_the_same_on_every_unit() {
    let only_tls12 = TlsAuditOptions {
        versions: vec![TlsVersion::Tls12],
        ..Default::default()
    };
    let mut fingerprints = Vec::new();
    for setup in ["hardened+shared-certificate", "hardened+shared-certificate", "hardened"] {
        let (cam, port) = camera(setup).await;
        let result = audit(&device(quick_limits()), port, &only_tls12, &Recorder::default())
            .await
            .unwrap();
        fingerprints.push(result.certificate.unwrap().sha256);
        cam.shutdown().await;
    }
    assert_eq!(fingerprints[0], fingerprints[1], "two units, one key");
    assert_ne!(fingerprints[0], fingerprints[2]);
}

/// client_version and cipher suites of a ClientHello record (one record, no validation
/// beyond bounds: the prober under test wrote it).
fn offered(record: &[u8]) -> (Option<u16>, Vec<u16>) {
    // record header 5 + handshake header 4, then version 2 + random 32.
    let version = record.get(9..11).map(|v| u16::from_be_bytes([v[0], v[1]]));
    let Some(&sid_len) = record.get(43) else {
        return (version, Vec::new());
    };
    let at = 44 + usize::from(sid_len);
    let len = record
        .get(at..at + 2)
        .map_or(0, |l| usize::from(u16::from_be_bytes([l[0], l[1]])));
    let suites = record
        .get(at + 2..at + 2 + len)
        .unwrap_or(&[])
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    (version, suites)
}

/// A TLS 1.0-only server that picks TLS_RSA_WITH_3DES_EDE_CBC_SHA and sends a real
/// certificate: rustls cannot connect, so the certificate must come from the legacy flight.
async fn tls10_only_server(certificate_der: Vec<u8>) -> u16 {
    serve(move |mut s: TcpStream| {
        let cert = certificate_der.clone();
        async move {
            let mut hello = vec![0u8; 4096];
            let Ok(n) = s.read(&mut hello).await else { return };
            let (version, suites) = offered(&hello[..n]);
            if version != Some(0x0301) || !suites.contains(&0x000a) {
                let _ = s.write_all(&[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 70]).await;
                return;
            }
            let mut sh = vec![0x03, 0x01];
            sh.extend_from_slice(&[0x42; 32]);
            sh.extend_from_slice(&[0x00, 0x00, 0x0a, 0x00]);
            let mut flight = vec![2, 0, 0, u8::try_from(sh.len()).unwrap()];
            flight.extend_from_slice(&sh);
            let list_len = cert.len() + 3;
            flight.push(11);
            flight.extend_from_slice(&u32::try_from(list_len + 3).unwrap().to_be_bytes()[1..]);
            flight.extend_from_slice(&u32::try_from(list_len).unwrap().to_be_bytes()[1..]);
            flight.extend_from_slice(&u32::try_from(cert.len()).unwrap().to_be_bytes()[1..]);
            flight.extend_from_slice(&cert);
            flight.extend_from_slice(&[14, 0, 0, 0]);
            let mut record = vec![0x16, 0x03, 0x01];
            record.extend_from_slice(&u16::try_from(flight.len()).unwrap().to_be_bytes());
            record.extend_from_slice(&flight);
            let _ = s.write_all(&record).await;
            let _ = s.shutdown().await;
            let _ = tokio::time::timeout(Duration::from_secs(1), s.read(&mut hello)).await;
        }
    })
    .await
}

#[tokio::test]
async fn certificate_of_a_legacy_only_server_comes_from_its_cleartext_flight() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["old-cam.example".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = cert.der().to_vec();
    let port = tls10_only_server(der.clone()).await;
    let rec = Recorder::default();
    let result = audit(&device(quick_limits()), port, &TlsAuditOptions::default(), &rec)
        .await
        .unwrap();

    assert_eq!(result.accepted_versions(), strings(&["TLSv1.0"]));
    assert_eq!(
        suites_of(&result, TlsVersion::Tls10),
        strings(&["TLS_RSA_WITH_3DES_EDE_CBC_SHA"])
    );
    assert!(result.negotiated.is_none(), "rustls cannot speak TLS 1.0");
    let facts = result.certificate.as_ref().unwrap();
    assert_eq!(facts.sha256, hex::encode(Sha256::digest(&der)));
    assert_eq!(facts.subject_alt_names, strings(&["old-cam.example"]));
    let labels: Vec<String> = rec.drain().into_iter().map(|e| e.label).collect();
    assert!(
        labels
            .iter()
            .any(|l| l.contains("certificate fetch") && l.contains("1 certificate")),
        "{labels:#?}"
    );
    assert!(
        labels.iter().any(|l| l.contains("rustls") && l.contains("failed")),
        "{labels:#?}"
    );
}

#[tokio::test]
async fn closed_port_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rec = Recorder::default();
    let err = audit(&device(quick_limits()), port, &TlsAuditOptions::default(), &rec)
        .await
        .unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
}

#[tokio::test]
async fn a_server_refusing_everything_is_a_result_not_an_error() {
    // Alert to every hello: reachable, speaks TLS, accepts nothing.
    let port = serve(|mut s: TcpStream| async move {
        let mut buf = [0u8; 2048];
        let _ = s.read(&mut buf).await;
        let _ = s.write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 40]).await;
    })
    .await;
    let result = audit(
        &device(quick_limits()),
        port,
        &TlsAuditOptions::default(),
        &Recorder::default(),
    )
    .await
    .unwrap();
    assert!(result.accepted_versions().is_empty());
    assert!(result.undetermined_versions().is_empty());
    assert!(
        result
            .versions
            .iter()
            .all(|v| v.refused_with.as_deref() == Some("alert handshake_failure"))
    );
    assert!(result.certificate.is_none() && result.certificate_error.is_some());
}

// --- hostile servers: each must end in a bounded, recorded error, never a hang ---

/// Run a quick audit (TLS 1.2 and 1.3 only, 600 ms answers) against `port`, on a spawned
/// task as the runner does (which also proves the audit's future is `Send + 'static`-able).
async fn hostile_audit(port: u16) -> (Result<TlsAudit, ProbeError>, Vec<hopquy_probe::Exchange>) {
    let rec = Recorder::default();
    let task_rec = rec.clone();
    let task = tokio::spawn(async move {
        let options = TlsAuditOptions {
            versions: vec![TlsVersion::Tls12, TlsVersion::Tls13],
            ..Default::default()
        };
        audit(&device(quick_limits()), port, &options, &task_rec).await
    });
    let result = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the audit must not hang")
        .unwrap();
    (result, rec.drain())
}

#[tokio::test]
async fn silent_server_times_out() {
    let port = serve(|mut s: TcpStream| async move {
        let mut buf = [0u8; 4096];
        while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
    let (result, exchanges) = hostile_audit(port).await;
    assert!(matches!(result, Err(ProbeError::Timeout(_))), "{result:?}");
    assert!(!exchanges.is_empty());
    assert!(
        exchanges.iter().all(|e| e.error.is_some() && e.received.is_none()),
        "{exchanges:#?}"
    );
}

#[tokio::test]
async fn endless_bytes_are_not_tls() {
    let port = serve(|mut s: TcpStream| async move {
        let junk = [b'A'; 8192];
        while s.write_all(&junk).await.is_ok() {}
    })
    .await;
    let (result, exchanges) = hostile_audit(port).await;
    let Err(ProbeError::Protocol(why)) = &result else {
        panic!("{result:?}")
    };
    assert!(why.contains("not a TLS record"), "{why}");
    for e in exchanges.iter().filter(|e| e.label.contains("ClientHello")) {
        let received = e.received.as_ref().unwrap();
        assert!(
            received.len <= 64 * 1024 + 16 * 1024,
            "read is bounded: {}",
            received.len
        );
    }
}

#[tokio::test]
async fn endless_handshake_data_hits_the_size_bound() {
    // Valid records forever, carrying a ServerHello that claims 200 KiB and never ends.
    let port = serve(|mut s: TcpStream| async move {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        let mut first = vec![0x16, 0x03, 0x03, 0x40, 0x00, 2, 0x03, 0x20, 0x00];
        first.resize(5 + 0x4000, 0);
        if s.write_all(&first).await.is_err() {
            return;
        }
        let mut more = vec![0x16, 0x03, 0x03, 0x40, 0x00];
        more.resize(5 + 0x4000, 0);
        while s.write_all(&more).await.is_ok() {}
    })
    .await;
    let (result, exchanges) = hostile_audit(port).await;
    assert!(matches!(result, Err(ProbeError::TooLarge(_))), "{result:?}");
    let hello = exchanges.iter().find(|e| e.label.contains("ClientHello")).unwrap();
    let received = hello.received.as_ref().unwrap();
    assert!(
        received.truncated && received.len > 64 * 1024,
        "{:?}",
        (received.truncated, received.len)
    );
}

#[tokio::test]
async fn huge_record_header_is_refused_at_once() {
    let port = serve(|mut s: TcpStream| async move {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        let _ = s.write_all(&[0x16, 0x03, 0x03, 0xff, 0xff, 2, 0, 0]).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let (result, _) = hostile_audit(port).await;
    let Err(ProbeError::Protocol(why)) = &result else {
        panic!("{result:?}")
    };
    assert!(why.contains("exceeds"), "{why}");
}

#[tokio::test]
async fn half_record_then_close_and_half_record_then_silence() {
    let closing = serve(|mut s: TcpStream| async move {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        let _ = s.write_all(&[0x16, 0x03, 0x03, 0x00, 0x50, 2, 0, 0, 0x4c, 3, 3]).await;
    })
    .await;
    let (result, exchanges) = hostile_audit(closing).await;
    let Err(ProbeError::Closed(why)) = &result else {
        panic!("{result:?}")
    };
    assert!(why.contains("middle of a record"), "{why}");
    assert!(
        exchanges
            .iter()
            .any(|e| e.received.as_ref().is_some_and(|r| r.len == 11)),
        "{exchanges:#?}"
    );

    let stalling = serve(|mut s: TcpStream| async move {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        let _ = s.write_all(&[0x16, 0x03, 0x03, 0x00, 0x50, 2, 0, 0]).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let (result, _) = hostile_audit(stalling).await;
    let Err(ProbeError::Timeout(why)) = &result else {
        panic!("{result:?}")
    };
    assert!(why.contains("incomplete after 8 bytes"), "{why}");
}

#[tokio::test]
async fn a_version_that_hangs_is_undetermined_not_refused() {
    // Answers TLS 1.2 hellos with an alert but never answers TLS 1.3 hellos: the server
    // speaks TLS, so the audit succeeds, and TLS 1.3 is reported as undetermined.
    let port = serve(|mut s: TcpStream| async move {
        let mut buf = vec![0u8; 4096];
        let Ok(n) = s.read(&mut buf).await else { return };
        let offers_tls13 = buf[..n].windows(4).any(|w| w == [0x00, 0x2b, 0x00, 0x03]);
        if offers_tls13 {
            tokio::time::sleep(Duration::from_secs(5)).await;
        } else {
            let _ = s.write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 40]).await;
        }
    })
    .await;
    let (result, _) = hostile_audit(port).await;
    let result = result.unwrap();
    assert_eq!(result.undetermined_versions(), strings(&["TLSv1.3"]));
    let tls13 = result.versions.iter().find(|v| v.version == TlsVersion::Tls13).unwrap();
    assert!(
        !tls13.accepted && tls13.error.as_deref().is_some_and(|e| e.starts_with("undetermined")),
        "{tls13:?}"
    );
    assert_eq!(
        result.observations()["undetermined_versions"],
        serde_json::json!(["TLSv1.3"])
    );
}
