//! Telnet probe against the simulated camera and against hostile loopback servers.
#![allow(clippy::unwrap_used)]

mod support;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hopquy_probe::telnet::{self, MAX_READ_BYTES};
use hopquy_probe::{ProbeError, Recorder};
use hopquy_simcam::{SimCamera, SimConfig, SimSetup, TELNET_NEGOTIATION};
use support::{device, quick_limits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("probe did not finish")
}

#[tokio::test]
async fn simulated_camera_shows_a_login_prompt_and_gets_only_refusals() {
    let cam = SimCamera::start(SimConfig::new(SimSetup::parse("hardened+telnet-open").unwrap()))
        .await
        .unwrap();
    let rec = Recorder::default();
    let dev = device(quick_limits());
    let report = bounded(telnet::probe(&dev, cam.ports()["telnet"], &rec)).await.unwrap();
    assert!(report.open);
    assert_eq!(report.prompt.as_deref(), Some("login:"), "{report:#?}");
    assert_eq!(report.prompt_kind.as_deref(), Some("login"));
    assert_eq!(
        report.negotiation,
        [
            "DO TERMINAL-TYPE",
            "DO TERMINAL-SPEED",
            "DO X-DISPLAY-LOCATION",
            "DO NEW-ENVIRON"
        ]
    );
    assert!(report.telnet_protocol);

    let exchanges = rec.drain();
    assert_eq!(exchanges.len(), 1);
    let sent = exchanges[0].sent.as_ref().and_then(|p| p.base64.clone()).unwrap();
    use base64::Engine as _;
    let sent = base64::engine::general_purpose::STANDARD.decode(sent).unwrap();
    // One WONT per DO the camera sent, and nothing else.
    let expected: Vec<u8> = TELNET_NEGOTIATION.chunks(3).flat_map(|c| [0xFF, 0xFC, c[2]]).collect();
    assert_eq!(sent, expected);
}

#[tokio::test]
async fn the_probe_never_types_anything_but_refusals() {
    let typed: Arc<Mutex<Vec<u8>>> = Arc::default();
    let seen = typed.clone();
    let port = serve(move |mut s: TcpStream| {
        let seen = seen.clone();
        async move {
            let _ = s.write_all(&[0xFF, 0xFB, 0x01, 0xFF, 0xFB, 0x03]).await;
            let _ = s.write_all(b"Username: ").await;
            let mut buf = [0u8; 256];
            while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        }
    })
    .await;
    let report = bounded(telnet::probe(&device(quick_limits()), port, &Recorder::default()))
        .await
        .unwrap();
    assert_eq!(report.prompt_kind.as_deref(), Some("login"));
    assert_eq!(report.negotiation, ["WILL ECHO", "WILL SUPPRESS-GO-AHEAD"]);
    // Give the server a moment to read what was sent before the socket closed.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(*typed.lock().unwrap(), [0xFF, 0xFE, 0x01, 0xFF, 0xFE, 0x03]);
}

#[tokio::test]
async fn a_root_shell_without_login_is_recognised() {
    let port = serve(|mut s: TcpStream| async move {
        let _ = s
            .write_all(b"\r\n\r\nBusyBox v1.19.3 (2016-05-30) built-in shell (ash)\r\n~ # ")
            .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let report = bounded(telnet::probe(&device(quick_limits()), port, &Recorder::default()))
        .await
        .unwrap();
    assert_eq!(report.prompt_kind.as_deref(), Some("shell"), "{report:#?}");
    assert!(!report.telnet_protocol, "no IAC commands were sent");
    assert!(report.prompt.unwrap().starts_with("BusyBox v1.19.3"));
}

#[tokio::test]
async fn an_endless_banner_stops_at_the_byte_bound() {
    let port = serve(|mut s: TcpStream| async move {
        let line = b"WELCOME WELCOME WELCOME\r\n".repeat(100);
        while s.write_all(&line).await.is_ok() {}
    })
    .await;
    let rec = Recorder::default();
    let report = bounded(telnet::probe(&device(quick_limits()), port, &rec))
        .await
        .unwrap();
    assert!(report.open && report.truncated, "{report:#?}");
    assert_eq!(report.bytes_received, MAX_READ_BYTES);
    assert!(report.prompt.unwrap().len() <= telnet::MAX_PROMPT_CHARS);
    assert!(rec.drain()[0].received.as_ref().unwrap().truncated);
}

#[tokio::test]
async fn endless_negotiation_is_answered_once_per_option() {
    let port = serve(|mut s: TcpStream| async move {
        let storm = [0xFF, 0xFD, 0x18].repeat(1000);
        while s.write_all(&storm).await.is_ok() {}
    })
    .await;
    let rec = Recorder::default();
    let report = bounded(telnet::probe(&device(quick_limits()), port, &rec))
        .await
        .unwrap();
    assert!(report.truncated);
    assert_eq!(report.negotiation, ["DO TERMINAL-TYPE"]);
    assert_eq!(report.prompt, None);
    let sent = rec.drain()[0].sent.as_ref().unwrap().len;
    assert_eq!(sent, 3, "one refusal, not one per repeat");
}

#[tokio::test]
async fn silence_and_immediate_close_are_observations() {
    let silent = serve(|s: TcpStream| async move {
        let _held_open = s;
        tokio::time::sleep(Duration::from_secs(10)).await;
    })
    .await;
    let report = bounded(telnet::probe(&device(quick_limits()), silent, &Recorder::default()))
        .await
        .unwrap();
    assert!(
        report.open && report.prompt.is_none() && !report.closed_by_server,
        "{report:#?}"
    );

    let closing = serve(|s: TcpStream| async move { drop(s) }).await;
    let report = bounded(telnet::probe(&device(quick_limits()), closing, &Recorder::default()))
        .await
        .unwrap();
    assert!(
        report.open && report.closed_by_server && report.prompt.is_none(),
        "{report:#?}"
    );
}

#[tokio::test]
async fn a_refused_port_is_an_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rec = Recorder::default();
    let err = telnet::probe(&device(quick_limits()), closed, &rec).await.unwrap_err();
    assert!(matches!(err, ProbeError::Refused(_)), "{err}");
    assert_eq!(rec.len(), 1);
}
