//! Version and cipher-suite enumeration: hopquy's TLS audit against sslyze and testssl.sh,
//! all against the same legacy `openssl s_server` on loopback, in one run. Prints the time
//! each tool took and compares what each found (version, suite) by (version, suite).
//!
//! Run: `cargo bench -p hopquy-probe --bench tls`. Needs `openssl`; sslyze (PyPI 6.3.1 in
//! `target/peers/venv`, or `HOPQUY_SSLYZE`) and testssl.sh (`testssl`) are optional and
//! skipped, with a note, when missing. `HOPQUY_BENCH_RUNS` sets hopquy's repetitions (5).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hopquy_probe::tls::{TlsAuditOptions, TlsVersion, audit, suites};
use hopquy_probe::{Device, Limits, Recorder};

type Findings = BTreeMap<String, BTreeSet<String>>;

const CIPHER_STRING: &str = "ALL:@SECLEVEL=0";

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

fn version_of(program: &Path, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(openssl: &Path) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let cert = dir.path().join("c.pem");
    let status = Command::new(openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl req failed");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(openssl)
        .args([
            "s_server",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-www",
            "-quiet",
            "-cert",
        ])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .args([
            "-min_protocol",
            "TLSv1",
            "-max_protocol",
            "TLSv1.2",
            "-cipher",
            CIPHER_STRING,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listening(port) {
        assert!(Instant::now() < deadline, "s_server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Server { child, port, _dir: dir }
}

fn hopquy(port: u16, runs: usize, certificate: bool) -> (Vec<Duration>, Findings, usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let device = Device::new(
        "127.0.0.1",
        Limits {
            max_connections: 8,
            ..Limits::default()
        },
    );
    let options = TlsAuditOptions {
        certificate,
        ..TlsAuditOptions::default()
    };
    let mut times = Vec::new();
    let mut findings = Findings::new();
    let mut connections = 0;
    for _ in 0..runs {
        let begun = Instant::now();
        let result = runtime
            .block_on(audit(&device, port, &options, &Recorder::default()))
            .unwrap();
        times.push(begun.elapsed());
        connections = result.connections;
        findings = result
            .versions
            .iter()
            .filter(|v| v.accepted)
            .map(|v| (v.version.name().to_owned(), v.cipher_suites.iter().cloned().collect()))
            .collect();
    }
    times.sort();
    (times, findings, connections)
}

fn sslyze(program: &Path, port: u16) -> (Duration, Findings) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sslyze.json");
    let begun = Instant::now();
    let status = Command::new(program)
        .args(["--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3"])
        .arg(format!("--json_out={}", json.display()))
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let took = begun.elapsed();
    assert!(status.success(), "sslyze failed");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let scan = &report["server_scan_results"][0]["scan_result"];
    let mut findings = Findings::new();
    for (version, key) in [
        (TlsVersion::Ssl3, "ssl_3_0_cipher_suites"),
        (TlsVersion::Tls10, "tls_1_0_cipher_suites"),
        (TlsVersion::Tls11, "tls_1_1_cipher_suites"),
        (TlsVersion::Tls12, "tls_1_2_cipher_suites"),
        (TlsVersion::Tls13, "tls_1_3_cipher_suites"),
    ] {
        let names: BTreeSet<String> = scan[key]["result"]["accepted_cipher_suites"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|c| c["cipher_suite"]["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if !names.is_empty() {
            findings.insert(version.name().to_owned(), names);
        }
    }
    (took, findings)
}

fn testssl(program: &Path, port: u16) -> (Duration, Findings) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("testssl.json");
    let begun = Instant::now();
    let status = Command::new(program)
        .args(["--quiet", "--color", "0", "--warnings", "off", "-p", "-E", "--jsonfile"])
        .arg(&json)
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let took = begun.elapsed();
    assert!(status.success() || json.is_file(), "testssl failed");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let mut findings = Findings::new();
    // Ids look like `cipher-tls1_2_xc030`: protocol, then the suite's hex code.
    for item in report.as_array().into_iter().flatten() {
        let Some(id) = item["id"].as_str().and_then(|id| id.strip_prefix("cipher-")) else {
            continue;
        };
        let Some((protocol, code)) = id.rsplit_once("_x") else {
            continue;
        };
        let version = match protocol {
            "ssl3" => TlsVersion::Ssl3,
            "tls1" => TlsVersion::Tls10,
            "tls1_1" => TlsVersion::Tls11,
            "tls1_2" => TlsVersion::Tls12,
            "tls1_3" => TlsVersion::Tls13,
            _ => continue,
        };
        let Ok(value) = u16::from_str_radix(code, 16) else {
            continue;
        };
        findings
            .entry(version.name().to_owned())
            .or_default()
            .insert(suites::name_of(value));
    }
    (took, findings)
}

fn summary(findings: &Findings) -> String {
    findings
        .iter()
        .map(|(v, s)| format!("{v}:{}", s.len()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn compare(tool: &str, ours: &Findings, theirs: &Findings) {
    let pairs = |f: &Findings| -> BTreeSet<(String, String)> {
        f.iter()
            .flat_map(|(v, s)| s.iter().map(move |n| (v.clone(), n.clone())))
            .collect()
    };
    let (a, b) = (pairs(ours), pairs(theirs));
    let only_ours: Vec<_> = a.difference(&b).collect();
    let only_theirs: Vec<_> = b.difference(&a).collect();
    if only_ours.is_empty() && only_theirs.is_empty() {
        println!("  {tool}: identical findings ({} version/suite pairs)", a.len());
    } else {
        println!("  {tool}: {} pairs in common", a.intersection(&b).count());
        println!("    only hopquy: {only_ours:?}");
        println!("    only {tool}: {only_theirs:?}");
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to filter here.
    let Some(openssl) = on_path("openssl") else {
        println!("skipped: openssl not installed (needed for the s_server under test)");
        return;
    };
    let runs: usize = std::env::var("HOPQUY_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
        .max(1);
    let server = start_server(&openssl);
    println!(
        "TLS enumeration, {} s_server -min_protocol TLSv1 -max_protocol TLSv1.2 -cipher '{CIPHER_STRING}' on 127.0.0.1:{}",
        version_of(&openssl, &["version"]),
        server.port
    );

    // Enumeration only, like the peers' cipher-suite scans; then the full audit (plus the
    // certificate over one rustls handshake) for reference.
    let (times, ours, connections) = hopquy(server.port, runs, false);
    let median = times[times.len() / 2];
    let (full_times, _, full_connections) = hopquy(server.port, runs, true);
    let mut rows = vec![
        (
            "hopquy".to_owned(),
            median,
            format!(
                "median of {runs} (min {:.3}), {connections} conns",
                times[0].as_secs_f64()
            ),
            summary(&ours),
        ),
        (
            "hopquy + certificate".to_owned(),
            full_times[full_times.len() / 2],
            format!("median of {runs}, {full_connections} conns"),
            String::new(),
        ),
    ];
    let mut comparisons = Vec::new();

    match sslyze_program() {
        Some(program) => {
            let (took, found) = sslyze(&program, server.port);
            rows.push(("sslyze".into(), took, "one run".into(), summary(&found)));
            comparisons.push(("sslyze".to_owned(), found));
        }
        None => println!("skipped: sslyze not installed"),
    }
    match on_path("testssl") {
        Some(program) => {
            let (took, found) = testssl(&program, server.port);
            rows.push(("testssl.sh (-p -E)".into(), took, "one run".into(), summary(&found)));
            comparisons.push(("testssl".to_owned(), found));
        }
        None => println!("skipped: testssl not installed"),
    }

    println!();
    println!(
        "{:<22} {:>10} {:>10}  {:<40} accepted suites per version",
        "tool", "seconds", "vs hopquy", "runs"
    );
    for (tool, took, note, found) in &rows {
        let ratio = took.as_secs_f64() / median.as_secs_f64().max(1e-9);
        println!(
            "{tool:<22} {:>10.3} {:>9.0}x  {note:<40} {found}",
            took.as_secs_f64(),
            ratio
        );
    }
    println!();
    println!("findings compared with hopquy's:");
    for (tool, found) in &comparisons {
        compare(tool, &ours, found);
    }
}

/// A real listener answers: connected, and not to ourselves (on loopback a connect to a free
/// ephemeral port can "succeed" as a TCP self-connect).
fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok())
}
