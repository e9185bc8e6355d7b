//! The TLS audit against a real third-party server, OpenSSL's `s_server`, in a modern and a
//! legacy configuration, checked against what `openssl ciphers` says that configuration
//! serves, and cross-checked with sslyze; and against the simulated camera's `legacy-tls`
//! flaw, cross-checked with nmap's ssl-enum-ciphers.
//!
//! Needs `openssl` (Debian `openssl`), `nmap` (Debian `nmap`) and sslyze 6.3.1 from PyPI in
//! `target/peers/venv` (or the `sslyze` named by `HOPQUY_SSLYZE`). A missing program skips
//! its test, or fails it when `HOPQUY_REQUIRE_PEERS=1`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hopquy_probe::tls::{TlsAudit, TlsAuditOptions, TlsVersion, audit};
use hopquy_probe::{Device, Limits, Recorder};
use sha2::{Digest, Sha256};

/// The program's path, or `None` after saying the test is skipped.
fn require(program: &str, found: Option<PathBuf>) -> Option<PathBuf> {
    if found.is_some() {
        return found;
    }
    if std::env::var("HOPQUY_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
        panic!("{program} not installed (HOPQUY_REQUIRE_PEERS=1)");
    }
    println!("skipped: {program} not installed");
    None
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

fn sslyze_program() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os("HOPQUY_SSLYZE") {
        return Some(PathBuf::from(explicit)).filter(|p| p.is_file());
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/peers/venv/bin/sslyze");
    if venv.is_file() { Some(venv) } else { on_path("sslyze") }
}

fn run(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// An `openssl s_server` on a free loopback port, killed on drop.
struct OpensslServer {
    child: Child,
    port: u16,
    certificate_der: Vec<u8>,
    _dir: tempfile::TempDir,
}

impl Drop for OpensslServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OpensslServer {
    fn start(openssl: &Path, extra: &[&str]) -> OpensslServer {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        let cert = dir.path().join("c.pem");
        let der = dir.path().join("c.der");
        let (key_s, cert_s, der_s) = (key.to_str().unwrap(), cert.to_str().unwrap(), der.to_str().unwrap());
        run(
            openssl,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                key_s,
                "-out",
                cert_s,
                "-days",
                "30",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ],
        );
        run(openssl, &["x509", "-in", cert_s, "-outform", "DER", "-out", der_s]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let accept = format!("127.0.0.1:{port}");
        let child = Command::new(openssl)
            .args([
                "s_server", "-accept", &accept, "-cert", cert_s, "-key", key_s, "-www", "-quiet",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = OpensslServer {
            child,
            port,
            certificate_der: std::fs::read(&der).unwrap(),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !listening(port) {
            assert!(Instant::now() < deadline, "s_server did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }
}

/// IANA names of the suites `openssl ciphers` says `cipher_string` enables for `protocol`
/// (`tls1`, `tls1_1`, `tls1_2`, `tls1_3`) that s_server can use with an RSA certificate and
/// no PSK/SRP configuration: RSA or anonymous authentication; RSA, DHE or ECDHE key exchange.
fn expected_suites(openssl: &Path, protocol: &str, cipher_string: &str) -> BTreeSet<String> {
    let listing = run(
        openssl,
        &[
            "ciphers",
            "-v",
            "-stdname",
            "-s",
            &format!("-{protocol}"),
            cipher_string,
        ],
    );
    listing
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (name, kx, au) = (fields.first()?, fields.get(4)?, fields.get(5)?);
            let usable = if protocol == "tls1_3" {
                *kx == "Kx=any"
            } else {
                matches!(*kx, "Kx=RSA" | "Kx=DH" | "Kx=ECDH") && matches!(*au, "Au=RSA" | "Au=None")
            };
            usable.then(|| (*name).to_owned())
        })
        .collect()
}

fn accepted(result: &TlsAudit, version: TlsVersion) -> BTreeSet<String> {
    result
        .versions
        .iter()
        .find(|v| v.version == version)
        .map(|v| v.cipher_suites.iter().cloned().collect())
        .unwrap_or_default()
}

async fn audit_port(port: u16) -> TlsAudit {
    let device = Device::new(
        "127.0.0.1",
        Limits {
            connect_timeout: Duration::from_secs(3),
            ..Limits::default()
        },
    );
    audit(&device, port, &TlsAuditOptions::default(), &Recorder::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn modern_openssl_server() {
    let Some(openssl) = require("openssl", on_path("openssl")) else {
        return;
    };
    let server = OpensslServer::start(&openssl, &[]);
    let result = audit_port(server.port).await;

    assert_eq!(
        result.accepted_versions(),
        vec!["TLSv1.2".to_string(), "TLSv1.3".to_string()],
        "{result:#?}"
    );
    assert!(result.undetermined_versions().is_empty());
    assert_eq!(
        accepted(&result, TlsVersion::Tls12),
        expected_suites(&openssl, "tls1_2", "DEFAULT")
    );
    assert_eq!(
        accepted(&result, TlsVersion::Tls13),
        expected_suites(&openssl, "tls1_3", "DEFAULT")
    );
    assert!(result.weak_suites().is_empty(), "{:?}", result.weak_suites());

    let cert = result.certificate.as_ref().unwrap();
    assert_eq!(cert.sha256, hex::encode(Sha256::digest(&server.certificate_der)));
    assert_eq!((cert.key_type.as_str(), cert.key_bits), ("RSA", 2048));
    assert_eq!(cert.signature_algorithm, "sha256WithRSAEncryption");
    assert_eq!(cert.subject_alt_names, vec!["127.0.0.1".to_string()]);
    assert!(cert.self_signed);
}

#[tokio::test]
async fn legacy_openssl_server() {
    let Some(openssl) = require("openssl", on_path("openssl")) else {
        return;
    };
    let cipher_string = "ALL:@SECLEVEL=0";
    let server = OpensslServer::start(
        &openssl,
        &[
            "-min_protocol",
            "TLSv1",
            "-max_protocol",
            "TLSv1.2",
            "-cipher",
            cipher_string,
        ],
    );
    let result = audit_port(server.port).await;

    assert_eq!(
        result.accepted_versions(),
        vec!["TLSv1.0", "TLSv1.1", "TLSv1.2"],
        "{result:#?}"
    );
    for (version, protocol) in [
        (TlsVersion::Tls10, "tls1"),
        (TlsVersion::Tls11, "tls1_1"),
        (TlsVersion::Tls12, "tls1_2"),
    ] {
        let expected = expected_suites(&openssl, protocol, cipher_string);
        assert!(!expected.is_empty());
        assert_eq!(accepted(&result, version), expected, "{version}");
    }
    // Anonymous suites and CBC-SHA1 in TLS 1.0 are flagged weak.
    let weak = result.weak_suites();
    assert!(
        weak.iter().any(|s| s == "TLS_DH_anon_WITH_AES_128_GCM_SHA256"),
        "{weak:?}"
    );
    assert!(weak.iter().any(|s| s == "TLS_RSA_WITH_AES_128_CBC_SHA"), "{weak:?}");
    assert_eq!(
        result.certificate.as_ref().unwrap().sha256,
        hex::encode(Sha256::digest(&server.certificate_der))
    );
}

#[tokio::test]
async fn sslyze_agrees_on_the_legacy_server() {
    let Some(openssl) = require("openssl", on_path("openssl")) else {
        return;
    };
    let Some(sslyze) = require("sslyze", sslyze_program()) else {
        return;
    };
    let server = OpensslServer::start(
        &openssl,
        &[
            "-min_protocol",
            "TLSv1",
            "-max_protocol",
            "TLSv1.2",
            "-cipher",
            "ALL:@SECLEVEL=0",
        ],
    );
    let result = audit_port(server.port).await;

    let out = tempfile::tempdir().unwrap();
    let json_path = out.path().join("sslyze.json");
    let status = Command::new(&sslyze)
        .args(["--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3"])
        .arg(format!("--json_out={}", json_path.display()))
        .arg(format!("127.0.0.1:{}", server.port))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let scan = &report["server_scan_results"][0]["scan_result"];

    let mut sslyze_versions = Vec::new();
    for (version, key) in [
        (TlsVersion::Ssl3, "ssl_3_0_cipher_suites"),
        (TlsVersion::Tls10, "tls_1_0_cipher_suites"),
        (TlsVersion::Tls11, "tls_1_1_cipher_suites"),
        (TlsVersion::Tls12, "tls_1_2_cipher_suites"),
        (TlsVersion::Tls13, "tls_1_3_cipher_suites"),
    ] {
        let names = |list: &str| -> BTreeSet<String> {
            scan[key]["result"][list]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["cipher_suite"]["name"].as_str().unwrap().to_owned())
                .collect()
        };
        let (theirs, rejected) = (names("accepted_cipher_suites"), names("rejected_cipher_suites"));
        if !theirs.is_empty() {
            sslyze_versions.push(version.name().to_owned());
        }
        // sslyze can only try the suites its bundled OpenSSL knows; compare on those, and
        // require anything extra we found to be a suite sslyze never tried.
        let tried: BTreeSet<String> = theirs.union(&rejected).cloned().collect();
        let ours = accepted(&result, version);
        let ours_tried: BTreeSet<String> = ours.intersection(&tried).cloned().collect();
        assert_eq!(ours_tried, theirs, "{version}: hopquy vs sslyze");
        let untried: Vec<&String> = ours.difference(&tried).collect();
        println!(
            "{version}: {} suites agree; found beyond sslyze's list: {untried:?}",
            theirs.len()
        );
    }
    assert_eq!(result.accepted_versions(), sslyze_versions);
}

/// nmap's ssl-enum-ciphers (an independent ServerHello-based enumerator) sees the simulated
/// camera's `legacy-tls` flaw exactly as hopquy does: TLS 1.0/1.1 with the legacy suites,
/// TLS 1.2 with rustls's suites plus the legacy ones, TLS 1.3.
#[tokio::test]
async fn nmap_agrees_on_the_legacy_tls_simulator() {
    let Some(nmap) = require("nmap", on_path("nmap")) else {
        return;
    };
    let setup = hopquy_simcam::SimSetup::parse("hardened+legacy-tls").unwrap();
    let camera = hopquy_simcam::SimCamera::start(hopquy_simcam::SimConfig::new(setup))
        .await
        .unwrap();
    let port = camera.ports()["https"];
    let result = audit_port(port).await;

    // The camera is served by this test's runtime: wait for nmap without blocking it.
    let out = tokio::process::Command::new(&nmap)
        .args([
            "-Pn",
            "-n",
            "-p",
            &port.to_string(),
            "--script",
            "ssl-enum-ciphers",
            "127.0.0.1",
        ])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let mut theirs: Vec<(String, BTreeSet<String>)> = Vec::new();
    for line in text.lines() {
        let item = line.trim_start_matches('|').trim_start_matches('_').trim();
        if let Some(version) = item
            .strip_suffix(':')
            .filter(|v| v.starts_with("TLSv") || v.starts_with("SSLv"))
        {
            theirs.push((version.to_owned(), BTreeSet::new()));
        } else if let (Some(name), Some((_, suites))) = (item.split_whitespace().next(), theirs.last_mut()) {
            // nmap names TLS 1.3 suites TLS_AKE_WITH_…; IANA does not.
            if name.starts_with("TLS_") {
                suites.insert(name.replace("TLS_AKE_WITH_", "TLS_"));
            }
        }
    }
    assert!(!theirs.is_empty(), "no ssl-enum-ciphers output:\n{text}");
    let ours: Vec<(String, BTreeSet<String>)> = result
        .versions
        .iter()
        .filter(|v| v.accepted)
        .map(|v| (v.version.name().to_owned(), v.cipher_suites.iter().cloned().collect()))
        .collect();
    assert_eq!(ours, theirs, "hopquy vs nmap ssl-enum-ciphers");
    assert!(
        ours.iter()
            .any(|(v, s)| v == "TLSv1.0" && s.contains("TLS_RSA_WITH_3DES_EDE_CBC_SHA"))
    );
    camera.shutdown().await;
}

/// A real listener answers: connected, and not to ourselves (on loopback a connect to a free
/// ephemeral port can "succeed" as a TCP self-connect).
fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok())
}
