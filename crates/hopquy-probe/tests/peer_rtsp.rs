//! RTSP probe against a real third-party server: GStreamer's gst-rtsp-server (Digest),
//! started on loopback by the test through `tests/peers/rtsp_server.py`. Cross-checked with
//! nmap's rtsp-methods script when nmap is installed.
//!
//! Needs Debian `gir1.2-gst-rtsp-server-1.0 python3-gst-1.0 gstreamer1.0-plugins-base
//! gstreamer1.0-plugins-good` (and `nmap` for the cross-check). Without them the test is
//! skipped, unless `HOPQUY_REQUIRE_PEERS=1`, which makes a missing peer a failure.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use hopquy_probe::rtsp::{self, RtspProbeRequest};
use hopquy_probe::{Credential, Recorder};
use support::{device, quick_limits};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const PYTHON: &str = "/usr/bin/python3";
const USER: &str = "camtest";

/// False (after saying so) when the peer is missing; panics instead under CI's
/// `HOPQUY_REQUIRE_PEERS=1`.
fn peer_available(program: &str, present: bool) -> bool {
    if present {
        return true;
    }
    assert!(
        std::env::var("HOPQUY_REQUIRE_PEERS").as_deref() != Ok("1"),
        "{program} not installed, and HOPQUY_REQUIRE_PEERS=1"
    );
    println!("skipped: {program} not installed");
    false
}

fn gst_rtsp_server_installed() -> bool {
    std::path::Path::new(PYTHON).exists()
        && std::process::Command::new(PYTHON)
            .args([
                "-c",
                "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/rtsp_server.py")
}

/// The running server; killed when dropped (its stdin closing also ends it).
struct GstServer {
    _child: Child,
    port: u16,
}

async fn start_gst(password: &str, paths: &[&str]) -> GstServer {
    let port = free_port();
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script())
        .arg("--port")
        .arg(port.to_string())
        .arg("--user")
        .arg(USER);
    for p in paths {
        cmd.arg("--path").arg(p);
    }
    let mut child = cmd
        .env("RTSP_PASSWORD", password)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(15), lines.next_line())
        .await
        .expect("gst-rtsp-server did not start")
        .unwrap()
        .unwrap_or_default();
    assert_eq!(ready, format!("READY {port}"), "gst-rtsp-server said {ready:?}");
    GstServer { _child: child, port }
}

fn secret(password: &str) -> Credential {
    Credential {
        username: USER.into(),
        password: password.into(),
        secret: true,
    }
}

#[tokio::test]
async fn gstreamer_digest_server() {
    if !peer_available(
        "gst-rtsp-server (gir1.2-gst-rtsp-server-1.0, python3-gst-1.0)",
        gst_rtsp_server_installed(),
    ) {
        return;
    }
    let password = format!("pw-{:016x}", rand::random::<u64>());
    let server = start_gst(&password, &["/stream1"]).await;
    // The server builds its media pipeline on the first authorised DESCRIBE.
    let mut limits = quick_limits();
    limits.io_timeout = Duration::from_secs(10);
    let dev = device(limits);
    let paths = vec!["/stream1".to_owned(), "/Streaming/Channels/101".to_owned()];

    let rec = Recorder::default();
    let with = RtspProbeRequest {
        port: server.port,
        paths: paths.clone(),
        credential: Some(secret(&password)),
    };
    let report = tokio::time::timeout(Duration::from_secs(30), rtsp::probe(&dev, &with, &rec))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.auth, ["digest-md5"], "{report:#?}");
    assert_eq!(report.routes.len(), 1, "{report:#?}");
    let route = &report.routes[0];
    assert_eq!(route.path, "/stream1");
    assert_eq!(
        (route.status, route.authenticated_status),
        (Some(401), Some(200)),
        "found with credentials, 401 without: {report:#?}\n{:#?}",
        rec.drain()
    );
    assert!(report.open_routes.is_empty());
    assert!(!report.accepts_any_path);
    assert_eq!(
        report.random_path.as_ref().unwrap().status,
        Some(404),
        "gst looks the path up first"
    );
    assert_eq!(report.basic_accepted, None);
    assert_eq!(report.server.as_deref(), Some("GStreamer RTSP server"));
    assert!(report.public.iter().any(|m| m == "DESCRIBE"), "{:?}", report.public);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let recorded = serde_json::to_string(&rec.drain()).unwrap();
    assert!(!recorded.contains(&password), "password leaked into the evidence");

    // Anonymous: the route is there but refused.
    let without = RtspProbeRequest {
        credential: None,
        ..with
    };
    let report = rtsp::probe(&dev, &without, &Recorder::default()).await.unwrap();
    assert_eq!(report.routes.len(), 1);
    assert_eq!(report.routes[0].status, Some(401));
    assert_eq!(report.routes[0].authenticated_status, None);

    // A wrong password is refused by the real server too.
    let wrong = RtspProbeRequest {
        credential: Some(secret("wrong")),
        ..without.clone()
    };
    let report = rtsp::probe(&dev, &wrong, &Recorder::default()).await.unwrap();
    assert_eq!(report.routes[0].authenticated_status, Some(401), "{report:#?}");

    // nmap's rtsp-methods sees the methods we report. A one-line services file maps the
    // port to `rtsp` so the script runs without the slow -sV service scan.
    let nmap_present = std::process::Command::new("nmap")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if peer_available("nmap", nmap_present) {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let services = dir.join(format!("nmap-services-rtsp-{}", server.port));
        std::fs::write(&services, format!("rtsp\t{}/tcp\t0.5\n", server.port)).unwrap();
        let out = Command::new("nmap")
            .args([
                "-Pn",
                "-n",
                "--top-ports",
                "1",
                "--script",
                "rtsp-methods",
                "--servicedb",
            ])
            .arg(&services)
            .arg("127.0.0.1")
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find_map(|l| l.split_once("rtsp-methods: ").map(|(_, m)| m.to_owned()))
            .unwrap_or_else(|| panic!("no rtsp-methods line in nmap output:\n{text}"));
        let theirs: Vec<&str> = line.split(',').map(str::trim).collect();
        let ours = rtsp::probe(&dev, &without, &Recorder::default()).await.unwrap().public;
        assert_eq!(ours, theirs);
    }
}
