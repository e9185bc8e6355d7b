//! ONVIF probe against the simulated camera (hardened and `onvif-anonymous`), against a
//! capturing server (what goes on the wire, what is recorded) and against hostile servers.
#![allow(clippy::unwrap_used)]

mod support;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use hopquy_probe::http::Scheme;
use hopquy_probe::onvif::{
    AccessClass, CallOutcome, OnvifAuth, OnvifProbe, SweepOptions, UsernameToken, operation, password_digest,
};
use hopquy_probe::{Credential, ProbeError, Recorder};
use hopquy_simcam::{SimCamera, SimConfig, SimSetup};
use support::{RawRequest, device, quick_limits, read_request, recorded_json, serve};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Hang guard only (a test that hangs is a failing test); no timing is asserted.
async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("probe did not finish")
}

async fn camera(setup: &str) -> SimCamera {
    SimCamera::start(SimConfig::new(SimSetup::parse(&format!("{setup}+http-api")).unwrap()))
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

fn probe_for(port: u16) -> OnvifProbe {
    OnvifProbe::new(device(quick_limits()), Scheme::Http, port).unwrap()
}

fn camera_probe(camera: &SimCamera) -> OnvifProbe {
    probe_for(camera.ports()["http"])
}

#[tokio::test]
async fn hardened_camera_answers_pre_auth_only_and_demands_digest() {
    let cam = camera("hardened").await;
    let probe = camera_probe(&cam);
    let rec = Recorder::default();
    let report = bounded(probe.sweep(&SweepOptions::default(), &rec)).await.unwrap();

    assert!(report.violations().is_empty(), "{:?}", report.violations());
    assert_eq!(report.errors(), 0);
    let open = report.anonymous_allowed();
    for pre_auth in ["GetSystemDateAndTime", "GetCapabilities", "GetServices", "GetHostname"] {
        assert!(open.contains(&pre_auth), "{pre_auth} not answered: {open:?}");
    }
    assert!(
        open.iter()
            .all(|name| operation(name).unwrap().access_class == AccessClass::PreAuth)
    );
    assert!(report.pre_auth_refused().is_empty());
    assert_eq!(report.anonymous_refusal(), Some("http-401"));
    assert!(report.refusals_conformant());
    let auth = report.demanded_auth();
    assert!(
        auth.contains(&"digest-sha256".to_owned()) && auth.contains(&"digest-md5".to_owned()),
        "{auth:?}"
    );
    assert!(!auth.contains(&"none".to_owned()));
    let time = report.device_time.unwrap();
    assert!(time.skew_s.abs() < 120, "{time:?}");

    let obs = report.observations();
    assert_eq!(obs["violations"], serde_json::json!([]));
    let users = obs["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["operation"] == "GetUsers")
        .unwrap();
    assert_eq!(users["status"], 401);
    assert_eq!(users["access_class"], "READ_SYSTEM_SECRET");
    assert_eq!(users["anonymous_allowed"], false);
    // One recorded exchange per anonymous call, nothing more.
    assert_eq!(rec.len(), report.entries.len());
}

#[tokio::test]
async fn onvif_anonymous_camera_lists_the_protected_operations_it_leaks() {
    let cam = camera("hardened+onvif-anonymous").await;
    let probe = camera_probe(&cam);
    let report = bounded(probe.sweep(&SweepOptions::default(), &Recorder::default()))
        .await
        .unwrap();
    assert_eq!(report.violations(), ["GetDeviceInformation", "GetScopes", "GetUsers"]);
    assert_eq!(report.demanded_auth(), ["none"]);
    // Operations the camera does not implement fault instead of answering: not violations.
    let faults = report.anonymous_faults();
    assert!(
        faults
            .iter()
            .any(|f| f["operation"] == "GetDNS" && f["fault"] == "ter:ActionNotSupported"),
        "{faults:?}"
    );

    // GetDeviceInformation answered anonymously hands out the identity.
    let call = bounded(probe.call("GetDeviceInformation", &OnvifAuth::None, &Recorder::default()))
        .await
        .unwrap();
    assert!(call.anonymous_allowed());
    assert_eq!(
        call.device_information().unwrap().serial_number.as_deref(),
        Some(cam.identity().serial.as_str())
    );
}

#[tokio::test]
async fn credentials_work_with_digest_usernametoken_and_auto() {
    let cam = camera("hardened").await;
    let probe = camera_probe(&cam);
    let rec = Recorder::default();
    let cred = admin(&cam);

    let digest = bounded(probe.call("GetDeviceInformation", &OnvifAuth::Digest(cred.clone()), &rec))
        .await
        .unwrap();
    assert_eq!(digest.outcome, CallOutcome::Answered, "{:?}", digest.observations());
    assert!(digest.auth_used.as_deref().is_some_and(|a| a.starts_with("digest")));
    assert!(!digest.anonymous_allowed());
    let info = digest.device_information().unwrap();
    assert_eq!(info.manufacturer.as_deref(), Some(cam.identity().vendor.as_str()));
    assert_eq!(info.model.as_deref(), Some(cam.identity().model.as_str()));
    assert_eq!(info.firmware_version.as_deref(), Some(cam.identity().firmware.as_str()));

    let token = bounded(probe.call("GetUsers", &OnvifAuth::UsernameToken(cred.clone()), &rec))
        .await
        .unwrap();
    assert_eq!(token.outcome, CallOutcome::Answered, "{:?}", token.observations());
    assert_eq!(token.auth_used.as_deref(), Some("usernametoken"));

    let auto = bounded(probe.call("GetScopes", &OnvifAuth::Auto(cred.clone()), &rec))
        .await
        .unwrap();
    assert!(auto.answered() && auto.auth_mode == "digest");

    let wrong = Credential {
        password: "not-the-password".into(),
        secret: false,
        ..cred.clone()
    };
    let refused = bounded(probe.call("GetUsers", &OnvifAuth::UsernameToken(wrong.clone()), &rec))
        .await
        .unwrap();
    assert_eq!((refused.status, refused.outcome), (400, CallOutcome::Refused));
    assert_eq!(refused.fault.as_ref().map(|f| f.primary()), Some("ter:NotAuthorized"));
    let refused = bounded(probe.call("GetUsers", &OnvifAuth::Digest(wrong), &rec))
        .await
        .unwrap();
    assert_eq!((refused.status, refused.outcome), (401, CallOutcome::Refused));

    // The admin password never reaches the recording, in any encoding.
    let (_, json) = recorded_json(&rec);
    assert!(!json.contains(&cred.password));
}

#[tokio::test]
async fn hardened_camera_refuses_weak_tokens_and_lax_ones_are_found() {
    let cam = camera("hardened").await;
    let probe = camera_probe(&cam);
    let checks = bounded(probe.token_checks(&admin(&cam), &Recorder::default())).await;
    assert!(checks.token_accepted(), "{}", checks.observations());
    assert!(checks.findings().is_empty(), "{}", checks.observations());
    for weak in [
        &checks.without_nonce_and_created,
        &checks.stale_created,
        &checks.replayed,
    ] {
        let call = weak.as_ref().unwrap();
        assert_eq!((call.status, call.outcome), (400, CallOutcome::Refused));
    }
}

/// A device that answers every POST with `answer` and keeps what it received.
async fn capturing_server(answer: &'static str) -> (u16, Arc<Mutex<Vec<RawRequest>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    let port = serve(move |mut s: TcpStream| {
        let keep = keep.clone();
        async move {
            while let Some(req) = read_request(&mut s).await {
                keep.lock().unwrap().push(req);
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: {}\r\n\r\n{answer}",
                    answer.len()
                );
                if s.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    (port, seen)
}

const USERS_ANSWER: &str = r#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><GetUsersResponse xmlns="http://www.onvif.org/ver10/device/wsdl"/></e:Body></e:Envelope>"#;

#[tokio::test]
async fn sends_soap12_with_action_and_redacts_the_token_digest_of_a_secret_credential() {
    let (port, seen) = capturing_server(USERS_ANSWER).await;
    let probe = probe_for(port);
    let rec = Recorder::default();
    let cred = Credential {
        username: "admin".into(),
        password: "S3cret-pass".into(),
        secret: true,
    };
    let call = bounded(probe.call("GetUsers", &OnvifAuth::UsernameToken(cred.clone()), &rec))
        .await
        .unwrap();
    assert!(call.answered());

    let requests = seen.lock().unwrap().clone();
    // The clock read first (this server's answer has no time in it), then the call.
    let req = requests.last().unwrap();
    assert!(
        req.request_line.starts_with("POST /onvif/device_service "),
        "{}",
        req.request_line
    );
    let content_type = req.header("content-type").unwrap();
    assert!(content_type.starts_with("application/soap+xml"), "{content_type}");
    assert!(content_type.contains("action=\"http://www.onvif.org/ver10/device/wsdl/GetUsers\""));
    let body = String::from_utf8(req.body.clone()).unwrap();
    assert!(body.contains("http://www.w3.org/2003/05/soap-envelope"));

    // Recompute the digest from what went on the wire, independently of the probe.
    let between = |start: &str, end: &str| {
        let from = body.find(start).unwrap() + start.len();
        let from = from + body[from..].find('>').unwrap() + 1;
        body[from..from + body[from..].find(end).unwrap()].to_owned()
    };
    let nonce = base64::engine::general_purpose::STANDARD
        .decode(between("<wsse:Nonce", "</wsse:Nonce>"))
        .unwrap();
    let created = between("<wsu:Created", "</wsu:Created>");
    let digest = between("<wsse:Password", "</wsse:Password>");
    assert_eq!(digest, password_digest(&nonce, &created, "S3cret-pass"));

    let (count, json) = recorded_json(&rec);
    assert_eq!(count, requests.len());
    assert!(!json.contains(&digest), "token digest recorded");
    assert!(!json.contains("S3cret-pass"));
    assert!(json.contains("[REDACTED]"));
    assert!(
        json.contains(&created),
        "the public parts of the token stay in the evidence"
    );
}

#[tokio::test]
async fn a_public_credential_token_is_recorded_as_evidence() {
    let (port, _seen) = capturing_server(USERS_ANSWER).await;
    let probe = probe_for(port);
    let rec = Recorder::default();
    let cred = Credential {
        username: "admin".into(),
        password: "12345".into(),
        secret: false,
    };
    let token = UsernameToken::new(&cred, probe.device_now());
    let auth = OnvifAuth::Token {
        token: token.clone(),
        secret: false,
    };
    bounded(probe.call("GetUsers", &auth, &rec)).await.unwrap();
    let (_, json) = recorded_json(&rec);
    assert!(json.contains(&token.digest));
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = bounded(probe_for(port).sweep(&SweepOptions::default(), &Recorder::default()))
        .await
        .unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
}

#[tokio::test]
async fn a_silent_server_times_out_and_the_attempt_is_recorded() {
    let port = serve(|mut s: TcpStream| async move {
        let _ = read_request(&mut s).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let rec = Recorder::default();
    let err = bounded(probe_for(port).sweep(&SweepOptions::default(), &rec))
        .await
        .unwrap_err();
    assert!(matches!(err, ProbeError::Timeout(_)), "{err:?}");
    let ex = rec.drain();
    assert_eq!(ex.len(), 1);
    assert!(ex[0].error.is_some());
}

#[tokio::test]
async fn an_endless_body_is_cut_at_the_size_bound() {
    let port = serve(|mut s: TcpStream| async move {
        let _ = read_request(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n\r\n<e:Envelope>")
            .await;
        let chunk = vec![b'<'; 16 * 1024];
        for _ in 0..1000 {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
        }
    })
    .await;
    let rec = Recorder::default();
    let call = bounded(probe_for(port).call("GetUsers", &OnvifAuth::None, &rec))
        .await
        .unwrap();
    assert_eq!(call.outcome, CallOutcome::NotSoap);
    assert!(call.parse_error.is_some());
    let ex = rec.drain();
    let received = ex[0].received.as_ref().unwrap();
    assert!(received.truncated);
    assert!(received.text.as_ref().map_or(0, String::len) <= quick_limits().max_response_bytes + 1024);
}

#[tokio::test]
async fn a_huge_header_a_half_response_and_garbage_are_bounded_errors() {
    let huge_header = serve(|mut s: TcpStream| async move {
        let _ = read_request(&mut s).await;
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nX-Junk: ").await;
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..64 {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
        }
    })
    .await;
    let half = serve(|mut s: TcpStream| async move {
        let _ = read_request(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n<e:Envelope")
            .await;
    })
    .await;
    let garbage = serve(|mut s: TcpStream| async move {
        let _ = read_request(&mut s).await;
        let _ = s.write_all(b"\x16\x03\x01\x00\x05hello not http\r\n\r\n").await;
    })
    .await;
    for (port, what) in [
        (huge_header, "huge header"),
        (half, "half response"),
        (garbage, "garbage"),
    ] {
        let rec = Recorder::default();
        let result = bounded(probe_for(port).call("GetUsers", &OnvifAuth::None, &rec)).await;
        let err = result.err().unwrap_or_else(|| panic!("{what} gave an answer"));
        assert!(
            matches!(
                err,
                ProbeError::TooLarge(_) | ProbeError::Closed(_) | ProbeError::Protocol(_)
            ),
            "{what}: {err:?}"
        );
        assert_eq!(rec.len(), 1, "{what} not recorded");
    }
}

#[tokio::test]
async fn deeply_nested_or_entity_laden_answers_are_not_soap() {
    let deep: &'static str = Box::leak(format!("{}{}", "<a>".repeat(50_000), "</a>".repeat(50_000)).into_boxed_str());
    let (port, _) = capturing_server(deep).await;
    let call = bounded(probe_for(port).call("GetUsers", &OnvifAuth::None, &Recorder::default()))
        .await
        .unwrap();
    assert_eq!(call.outcome, CallOutcome::NotSoap);
    assert!(
        call.parse_error.as_deref().unwrap().contains("nested too deep"),
        "{:?}",
        call.parse_error
    );
    assert!(!call.anonymous_allowed());

    let laughs = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>&b;</e:Body></e:Envelope>"#;
    let (port, _) = capturing_server(laughs).await;
    let call = bounded(probe_for(port).call("GetUsers", &OnvifAuth::None, &Recorder::default()))
        .await
        .unwrap();
    assert_eq!(call.outcome, CallOutcome::NotSoap);
}

#[tokio::test]
async fn a_sweep_stops_after_repeated_transport_failures() {
    // Answers the first request (the clock read), then drops every connection.
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    let port = serve(move |mut s: TcpStream| {
        let count = count.clone();
        async move {
            while read_request(&mut s).await.is_some() {
                if count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
                    return;
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{USERS_ANSWER}",
                    USERS_ANSWER.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            }
        }
    })
    .await;
    let options = SweepOptions {
        concurrency: 1,
        ..Default::default()
    };
    let report = bounded(probe_for(port).sweep(&options, &Recorder::default()))
        .await
        .unwrap();
    assert!(report.aborted.is_some());
    assert_eq!(report.entries.len(), options.operations().len());
    // Three real failures, then the rest skipped without a connection.
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 4);
    assert_eq!(report.errors(), report.entries.len() - 1);
}

#[tokio::test]
async fn the_device_service_is_probed_over_https_too() {
    let cam = camera("hardened").await;
    let probe = OnvifProbe::new(device(quick_limits()), Scheme::Https, cam.ports()["https"]).unwrap();
    let rec = Recorder::default();
    let time = bounded(probe.call("GetSystemDateAndTime", &OnvifAuth::None, &rec))
        .await
        .unwrap();
    assert!(time.anonymous_allowed());
    assert!(time.device_utc().is_some());
    let users = bounded(probe.call("GetUsers", &OnvifAuth::UsernameToken(admin(&cam)), &rec))
        .await
        .unwrap();
    assert!(users.answered(), "{}", users.observations());
    assert!(rec.drain().iter().all(|ex| ex.protocol == "https"));
}
