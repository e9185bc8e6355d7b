//! RTSP probe against the simulated camera and against hostile loopback servers.
#![allow(clippy::unwrap_used)]

mod support;

use std::future::Future;
use std::time::Duration;

use hopquy_probe::rtsp::{
    self, MAX_BODY_BYTES, Method, RequestTarget, RtspAuth, RtspClient, RtspProbeRequest, RtspReport,
};
use hopquy_probe::{Credential, ProbeError, Recorder};
use hopquy_simcam::{RTSP_STREAM_PATHS, SimCamera, SimConfig, SimSetup};
use support::{device, quick_limits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The simcam profile's `[rtsp] paths`: two the camera serves, one it does not.
const PROFILE_PATHS: &[&str] = &[
    "/Streaming/Channels/101",
    "/Streaming/Channels/102",
    "/h264/ch1/main/av_stream",
];

/// Hang guard only (a test that hangs is a failing test); no timing is asserted.
async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("probe did not finish")
}

async fn camera(setup: &str) -> SimCamera {
    SimCamera::start(SimConfig::new(SimSetup::parse(setup).unwrap()))
        .await
        .unwrap()
}

fn admin(camera: &SimCamera) -> Credential {
    Credential {
        username: camera.admin_user().to_owned(),
        password: camera.admin_password(),
        secret: true,
    }
}

fn request(port: u16, credential: Option<Credential>) -> RtspProbeRequest {
    RtspProbeRequest {
        port,
        paths: PROFILE_PATHS.iter().map(|p| (*p).to_owned()).collect(),
        credential,
    }
}

async fn probe_camera(camera: &SimCamera, credential: Option<Credential>, rec: &Recorder) -> RtspReport {
    let dev = device(quick_limits());
    bounded(rtsp::probe(&dev, &request(camera.ports()["rtsp"], credential), rec))
        .await
        .unwrap()
}

fn route_paths(report: &RtspReport) -> Vec<&str> {
    report.routes.iter().map(|r| r.path.as_str()).collect()
}

#[tokio::test]
async fn hardened_camera_demands_digest_and_serves_nothing_anonymously() {
    let cam = camera("hardened").await;
    let rec = Recorder::default();
    let report = probe_camera(&cam, Some(admin(&cam)), &rec).await;

    assert_eq!(report.auth, ["digest-sha256", "digest-md5"], "{report:#?}");
    assert!(report.open_routes.is_empty(), "{report:#?}");
    assert_eq!(route_paths(&report), RTSP_STREAM_PATHS, "{report:#?}");
    for route in &report.routes {
        assert_eq!(
            (route.status, route.authenticated_status),
            (Some(401), Some(200)),
            "{route:?}"
        );
    }
    // It checks credentials before paths: only the authenticated retry shows the random
    // path (and the third profile path) are absent.
    let random = report.random_path.as_ref().unwrap();
    assert_eq!((random.status, random.authenticated_status), (Some(401), Some(404)));
    assert!(!report.accepts_any_path);
    assert!(!report.basic_offered);
    assert_eq!(report.basic_accepted, None);
    assert_eq!(report.options_status, Some(200));
    assert_eq!(report.public, ["OPTIONS", "DESCRIBE"]);
    assert_eq!(report.server.as_deref(), Some("hopquy-sim RTSP/1.0"));
    assert_eq!(report.paths_tried, 3);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.nonconforming_responses, 0);

    let observed = report.observations();
    assert_eq!(observed["reachable"], true);
    assert_eq!(observed["routes"][0]["path"], "/Streaming/Channels/101");
    assert_eq!(observed["routes"][0]["status"], 401);

    // Every request is on record, and nothing derived from the password is.
    let exchanges = rec.drain();
    assert_eq!(
        exchanges.len(),
        1 + 1 + 3 + 4,
        "OPTIONS, random, 3 paths, 4 authenticated retries"
    );
    let json = serde_json::to_string(&exchanges).unwrap();
    assert!(!json.contains(&cam.admin_password()), "password leaked");
    assert!(
        json.contains(r#"response=\"[REDACTED]\""#),
        "digest response not redacted"
    );
    assert!(
        exchanges
            .iter()
            .all(|e| e.protocol == "rtsp" && e.capture == hopquy_probe::Capture::Wire)
    );
    let sent = exchanges[0].sent.as_ref().and_then(|p| p.text.clone()).unwrap();
    assert!(sent.starts_with("OPTIONS rtsp://127.0.0.1:"), "{sent}");
}

#[tokio::test]
async fn without_credentials_a_401_first_camera_shows_every_path_as_present() {
    let cam = camera("hardened").await;
    let report = probe_camera(&cam, None, &Recorder::default()).await;
    assert_eq!(report.auth, ["digest-sha256", "digest-md5"]);
    assert_eq!(route_paths(&report), PROFILE_PATHS, "all 401, none retried");
    assert_eq!(report.random_path.as_ref().unwrap().status, Some(401));
    assert!(report.routes.iter().all(|r| r.authenticated_status.is_none()));
}

#[tokio::test]
async fn wrong_password_leaves_routes_refused() {
    let cam = camera("hardened").await;
    let wrong = Credential {
        username: "admin".into(),
        password: "not-the-password".into(),
        secret: false,
    };
    let report = probe_camera(&cam, Some(wrong), &Recorder::default()).await;
    assert!(
        report.routes.iter().all(|r| r.authenticated_status == Some(401)),
        "{report:#?}"
    );
    assert!(report.open_routes.is_empty());
}

#[tokio::test]
async fn rtsp_no_auth_serves_streams_to_anyone() {
    let cam = camera("hardened+rtsp-no-auth").await;
    let report = probe_camera(&cam, None, &Recorder::default()).await;
    assert_eq!(report.open_routes, RTSP_STREAM_PATHS, "{report:#?}");
    assert_eq!(report.auth.first().map(String::as_str), Some("none"), "{report:#?}");
    assert!(!report.accepts_any_path);
    assert!(report.routes.iter().any(|r| r.status == Some(200)));
}

#[tokio::test]
async fn rtsp_basic_is_offered_and_the_password_would_travel_readable() {
    let cam = camera("hardened+rtsp-basic").await;
    let rec = Recorder::default();
    let report = probe_camera(&cam, Some(admin(&cam)), &rec).await;
    assert!(report.auth.contains(&"basic".to_owned()), "{report:#?}");
    assert!(report.basic_offered);
    assert_eq!(report.basic_accepted, Some(true), "{report:#?}");
    let exchanges = rec.drain();
    let basic = exchanges.iter().find(|e| e.label.contains("(basic as admin)")).unwrap();
    let sent = basic.sent.as_ref().and_then(|p| p.text.clone()).unwrap();
    assert!(sent.contains("Authorization: Basic [REDACTED]\r\n"), "{sent}");
    let json = serde_json::to_string(&exchanges).unwrap();
    assert!(!json.contains(&cam.admin_password()));

    // Offered but no credential given: the acceptance cannot be known.
    let anonymous = probe_camera(&cam, None, &Recorder::default()).await;
    assert!(anonymous.basic_offered);
    assert_eq!(anonymous.basic_accepted, None);
}

#[tokio::test]
async fn legacy_camera_has_both_flaws_visible() {
    let cam = camera("legacy").await;
    let report = probe_camera(&cam, Some(admin(&cam)), &Recorder::default()).await;
    assert_eq!(report.open_routes, RTSP_STREAM_PATHS, "{report:#?}");
    assert!(report.auth.contains(&"none".to_owned()) && report.auth.contains(&"basic".to_owned()));
    // The streams are open, so Basic is tested where the camera still asks for credentials.
    assert_eq!(report.basic_accepted, Some(true), "{report:#?}");
}

/// A server reading RTSP requests off `stream` one by one; `None` on EOF or garbage.
async fn read_rtsp_request(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.ok()? == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.push(byte[0]);
    }
    String::from_utf8(buf).ok()
}

fn cseq(request: &str) -> String {
    request
        .lines()
        .find_map(|l| l.strip_prefix("CSeq: "))
        .unwrap_or("0")
        .trim()
        .to_owned()
}

#[tokio::test]
async fn a_server_that_accepts_any_path_is_flagged() {
    let port = serve(|mut s: TcpStream| async move {
        while let Some(req) = read_rtsp_request(&mut s).await {
            let sdp = "v=0\r\n";
            let reply = format!(
                "RTSP/1.0 200 OK\r\nCSeq: {}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                cseq(&req),
                sdp.len()
            );
            if s.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await;
    let dev = device(quick_limits());
    let report = bounded(rtsp::probe(&dev, &request(port, None), &Recorder::default()))
        .await
        .unwrap();
    assert!(report.accepts_any_path, "{report:#?}");
    assert_eq!(report.auth, ["none"]);
    assert_eq!(report.open_routes.len(), 3);
}

#[tokio::test]
async fn a_server_that_closes_after_every_answer_is_followed_on_new_connections() {
    let port = serve(|mut s: TcpStream| async move {
        if let Some(req) = read_rtsp_request(&mut s).await {
            let status = if req.contains("/Streaming/Channels/101 ") {
                "200 OK"
            } else {
                "404 Not Found"
            };
            let _ = s
                .write_all(format!("RTSP/1.0 {status}\r\nCSeq: {}\r\n\r\n", cseq(&req)).as_bytes())
                .await;
        }
    })
    .await;
    let dev = device(quick_limits());
    let report = bounded(rtsp::probe(&dev, &request(port, None), &Recorder::default()))
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.open_routes, ["/Streaming/Channels/101"]);
    assert_eq!(route_paths(&report), ["/Streaming/Channels/101"]);
    assert!(!report.accepts_any_path);
}

#[tokio::test]
async fn a_refused_port_is_unreachable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rec = Recorder::default();
    let err = bounded(rtsp::probe(&device(quick_limits()), &request(closed, None), &rec))
        .await
        .unwrap_err();
    assert!(matches!(err, ProbeError::Refused(_)), "{err}");
    assert!(err.is_unreachable());
    assert_eq!(
        rec.drain()[0].error.as_deref().map(|e| e.contains("refused")),
        Some(true)
    );
}

/// Runs the whole probe against `handler` and returns its error and the recorded exchanges.
async fn hostile<F, Fut>(handler: F) -> (ProbeError, Vec<hopquy_probe::Exchange>)
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let port = serve(handler).await;
    let rec = Recorder::default();
    let err = bounded(rtsp::probe(&device(quick_limits()), &request(port, None), &rec))
        .await
        .unwrap_err();
    let exchanges = rec.drain();
    assert!(!exchanges.is_empty(), "failures must be on record");
    assert!(exchanges.iter().all(|e| e.error.is_some()), "{exchanges:#?}");
    (err, exchanges)
}

#[tokio::test]
async fn an_endless_header_hits_the_size_bound() {
    let (err, exchanges) = hostile(|mut s: TcpStream| async move {
        let _ = read_rtsp_request(&mut s).await;
        let _ = s.write_all(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nX-Junk: ").await;
        let filler = vec![b'a'; 4096];
        while s.write_all(&filler).await.is_ok() {}
    })
    .await;
    assert!(matches!(err, ProbeError::TooLarge(_)), "{err}");
    let received = exchanges[0].received.as_ref().unwrap();
    assert!(received.truncated, "the kept bytes stop at the bound");
}

#[tokio::test]
async fn garbage_is_a_protocol_error() {
    let (err, exchanges) = hostile(|mut s: TcpStream| async move {
        let _ = read_rtsp_request(&mut s).await;
        let _ = s.write_all(b"\x16\x03\x01\x00\x02\xff\xfe garbage\r\n\r\n").await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    assert!(matches!(err, ProbeError::Protocol(_)), "{err}");
    assert!(
        exchanges[0].received.as_ref().unwrap().base64.is_some(),
        "binary kept as base64"
    );
}

#[tokio::test]
async fn silence_times_out() {
    let (err, _) = hostile(|mut s: TcpStream| async move {
        let _ = read_rtsp_request(&mut s).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
    })
    .await;
    assert!(matches!(err, ProbeError::Timeout(_)), "{err}");
}

#[tokio::test]
async fn a_half_response_then_close_is_reported_as_closed() {
    let (err, exchanges) = hostile(|mut s: TcpStream| async move {
        let _ = read_rtsp_request(&mut s).await;
        let _ = s
            .write_all(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 100\r\n\r\nv=0\r\n")
            .await;
    })
    .await;
    assert!(matches!(err, ProbeError::Closed(_)), "{err}");
    let kept = exchanges[0].received.as_ref().and_then(|p| p.text.clone()).unwrap();
    assert!(kept.starts_with("RTSP/1.0 200 OK"), "partial answer kept: {kept}");
}

#[tokio::test]
async fn an_oversized_body_is_cut_at_the_bound_and_the_status_kept() {
    let port = serve(|mut s: TcpStream| async move {
        let Some(req) = read_rtsp_request(&mut s).await else {
            return;
        };
        let head = format!(
            "RTSP/1.0 200 OK\r\nCSeq: {}\r\nContent-Length: 3000000\r\n\r\n",
            cseq(&req)
        );
        let _ = s.write_all(head.as_bytes()).await;
        let block = vec![b'x'; 64 * 1024];
        while s.write_all(&block).await.is_ok() {}
    })
    .await;
    // A megabyte through a debug build on a loaded machine needs more than the quick limit.
    let mut limits = quick_limits();
    limits.io_timeout = Duration::from_secs(10);
    let dev = device(limits);
    let rec = Recorder::default();
    let mut client = RtspClient::new(&dev, port, &rec);
    let r = bounded(client.request(Method::Describe, RequestTarget::Path("/big"), RtspAuth::Anonymous))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body_truncated);
    assert_eq!(r.body.len(), MAX_BODY_BYTES);
    assert!(!r.conforming, "a cut message is read leniently");
    let ex = rec.drain();
    assert!(ex[0].received.as_ref().unwrap().truncated);
}
