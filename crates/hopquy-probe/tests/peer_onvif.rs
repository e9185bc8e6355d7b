//! ONVIF probe against an independent peer: `tests/peers/onvif_server.py`, a UsernameToken-
//! only device service written from the ONVIF Core specification in Python (stdlib only),
//! run compliant, leaky (`--leaky`) and lax about tokens (`--lax-token`).
//!
//! Without `python3` the tests print `skipped: python3 not installed` and pass, unless
//! `HOPQUY_REQUIRE_PEERS=1` (CI), where a missing peer fails.
#![allow(clippy::unwrap_used)]

mod support;

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hopquy_probe::http::Scheme;
use hopquy_probe::onvif::{CallOutcome, OnvifAuth, OnvifProbe, SweepOptions};
use hopquy_probe::{Credential, Recorder};
use support::{device, quick_limits, recorded_json};

const USER: &str = "admin";
const PASSWORD: &str = "peer-Pa55word!";

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("probe did not finish")
}

/// The peer process; killed when dropped (it also exits when its stdin closes).
struct Peer {
    child: Child,
    port: u16,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> Option<&'static str> {
    let ok = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some("python3")
}

/// `None` (after saying so) when python3 is missing and peers are not required.
fn start_peer(flags: &[&str]) -> Option<Peer> {
    let Some(python) = python() else {
        assert!(
            std::env::var("HOPQUY_REQUIRE_PEERS").as_deref() != Ok("1"),
            "HOPQUY_REQUIRE_PEERS=1 but python3 is not installed"
        );
        println!("skipped: python3 not installed");
        return None;
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/onvif_server.py");
    let mut child = Command::new(python)
        .arg(script)
        .args(["--port", "0", "--user", USER])
        .args(flags)
        .env("ONVIF_PASSWORD", PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let port = line.trim().strip_prefix("READY ").and_then(|p| p.parse().ok());
    let port = port.unwrap_or_else(|| panic!("peer did not start: {line:?}"));
    Some(Peer { child, port })
}

fn probe(peer: &Peer) -> OnvifProbe {
    OnvifProbe::new(device(quick_limits()), Scheme::Http, peer.port).unwrap()
}

fn credential(password: &str) -> Credential {
    Credential {
        username: USER.into(),
        password: password.into(),
        secret: true,
    }
}

#[tokio::test]
async fn compliant_peer_has_no_violations_and_refuses_with_not_authorized() {
    let Some(peer) = start_peer(&[]) else { return };
    let report = bounded(probe(&peer).sweep(&SweepOptions::default(), &Recorder::default()))
        .await
        .unwrap();
    assert!(report.violations().is_empty(), "{:?}", report.violations());
    assert_eq!(report.errors(), 0);
    assert_eq!(report.demanded_auth(), ["usernametoken"]);
    assert_eq!(report.anonymous_refusal(), Some("soap-not-authorized"));
    assert!(report.refusals_conformant());
    assert!(report.pre_auth_refused().is_empty());
    assert_eq!(
        report.anonymous_allowed(),
        [
            "GetSystemDateAndTime",
            "GetServices",
            "GetServiceCapabilities",
            "GetCapabilities",
            "GetWsdlUrl",
            "GetHostname",
            "GetEndpointReference"
        ]
    );
}

#[tokio::test]
async fn leaky_peer_violations_are_exactly_its_protected_operations() {
    let Some(peer) = start_peer(&["--leaky"]) else { return };
    let report = bounded(probe(&peer).sweep(&SweepOptions::default(), &Recorder::default()))
        .await
        .unwrap();
    assert_eq!(
        report.violations(),
        [
            "GetDeviceInformation",
            "GetNetworkInterfaces",
            "GetScopes",
            "GetUsers",
            "GetSystemLog"
        ]
    );
    assert_eq!(report.demanded_auth(), ["none"]);
    assert_eq!(report.anonymous_refusal(), None);
    let obs = report.observations();
    let log = obs["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["operation"] == "GetSystemLog")
        .unwrap();
    assert_eq!(log["access_class"], "READ_SYSTEM_SECRET");
    assert_eq!(log["anonymous_allowed"], true);
}

#[tokio::test]
async fn tokens_dated_in_device_time_work_against_a_skewed_clock() {
    // The peer's clock runs three hours ahead: a token dated in our time would be stale.
    let Some(peer) = start_peer(&["--clock-offset", "10800"]) else {
        return;
    };
    let probe = probe(&peer);
    let rec = Recorder::default();
    let call = bounded(probe.call("GetDeviceInformation", &OnvifAuth::Auto(credential(PASSWORD)), &rec))
        .await
        .unwrap();
    assert_eq!(call.outcome, CallOutcome::Answered, "{}", call.observations());
    assert_eq!(call.auth_mode, "usernametoken");
    let info = call.device_information().unwrap();
    assert_eq!(info.manufacturer.as_deref(), Some("PyPeer Optics"));
    assert_eq!(info.model.as_deref(), Some("PP-ONVIF-1"));
    assert_eq!(info.firmware_version.as_deref(), Some("0.9.1"));
    assert_eq!(info.serial_number.as_deref(), Some("PYPEER0001"));
    assert_eq!(info.hardware_id.as_deref(), Some("pp-hw-7"));
    let skew = (probe.device_now() - chrono::Utc::now()).num_seconds();
    assert!((10_700..=10_900).contains(&skew), "{skew}");

    let wrong = bounded(probe.call("GetUsers", &OnvifAuth::UsernameToken(credential("wrong")), &rec))
        .await
        .unwrap();
    assert_eq!((wrong.status, wrong.outcome), (400, CallOutcome::Refused));
    assert_eq!(wrong.fault.as_ref().map(|f| f.primary()), Some("ter:NotAuthorized"));
    let (_, json) = recorded_json(&rec);
    assert!(!json.contains(PASSWORD));
}

#[tokio::test]
async fn compliant_peer_passes_the_token_checks() {
    let Some(peer) = start_peer(&[]) else { return };
    let checks = bounded(probe(&peer).token_checks(&credential(PASSWORD), &Recorder::default())).await;
    assert!(checks.token_accepted(), "{}", checks.observations());
    assert!(checks.findings().is_empty(), "{}", checks.observations());
}

#[tokio::test]
async fn lax_peer_accepts_every_weak_token() {
    let Some(peer) = start_peer(&["--lax-token"]) else {
        return;
    };
    let checks = bounded(probe(&peer).token_checks(&credential(PASSWORD), &Recorder::default())).await;
    assert!(checks.token_accepted(), "{}", checks.observations());
    assert_eq!(
        checks.findings(),
        ["without_nonce_and_created", "stale_created", "replayed"]
    );
}
