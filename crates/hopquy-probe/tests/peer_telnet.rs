//! Telnet probe against a real third-party server: GNU inetutils telnetd, run by
//! `inetutils-inetd -d` on a loopback port chosen by the test.
//!
//! Needs Debian `inetutils-telnetd inetutils-inetd`. Without them the test is skipped,
//! unless `HOPQUY_REQUIRE_PEERS=1`, which makes a missing peer a failure.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use hopquy_probe::Recorder;
use hopquy_probe::telnet;
use support::{device, quick_limits};
use tokio::process::Command;

const INETD: &str = "/usr/sbin/inetutils-inetd";
const TELNETD: &str = "/usr/sbin/telnetd";

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The account inetd runs telnetd as: this process's own (root in CI containers).
fn current_user() -> String {
    std::process::Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".into())
}

/// `inetutils-inetd -d` serving telnetd (with `telnetd_args` appended) on `port`, once it
/// listens; killed when the returned child is dropped.
async fn start_inetd(dir: &Path, port: u16, telnetd_args: &str) -> tokio::process::Child {
    let conf = dir.join("inetd.conf");
    std::fs::write(
        &conf,
        format!(
            "127.0.0.1:{port} stream tcp nowait {} {TELNETD} telnetd{telnetd_args}\n",
            current_user()
        ),
    )
    .unwrap();
    let inetd = Command::new(INETD)
        .arg("-d")
        .arg(format!("--pidfile={}", dir.join("inetd.pid").display()))
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..100 {
        if listening(port).await {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "inetd did not start listening on {port}");
    inetd
}

#[tokio::test]
async fn inetutils_telnetd_shows_a_login_prompt() {
    if !peer_available(
        "inetutils-telnetd / inetutils-inetd",
        Path::new(INETD).exists() && Path::new(TELNETD).exists(),
    ) {
        return;
    }
    let port = free_port();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("telnetd-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let _inetd = start_inetd(&dir, port, "").await;

    let rec = Recorder::default();
    let mut limits = quick_limits();
    limits.io_timeout = Duration::from_secs(5);
    let report = tokio::time::timeout(Duration::from_secs(20), telnet::probe(&device(limits), port, &rec))
        .await
        .unwrap()
        .unwrap();
    assert!(report.open);
    assert!(report.telnet_protocol);
    assert_eq!(report.prompt_kind.as_deref(), Some("login"), "{report:#?}");
    let prompt = report.prompt.unwrap();
    assert!(prompt.ends_with("login:"), "{prompt}");
    // telnetd asks for the terminal type first, and offers to echo once we refused.
    assert!(
        report.negotiation.iter().any(|n| n == "DO TERMINAL-TYPE"),
        "{:?}",
        report.negotiation
    );
    assert!(
        report.negotiation.iter().any(|n| n == "WILL ECHO"),
        "{:?}",
        report.negotiation
    );
    assert_eq!(rec.len(), 1);
}

/// A login program for `telnetd -E`: asks `cam login:` and `Password:` (echo off, as
/// login(1)), lets root/xmhdipc into a BusyBox-like shell prompt and refuses everything else
/// the way login(1) does. The client is thus tested against real telnetd negotiation and
/// line handling, with a password check we control.
const LOGIN_SCRIPT: &str = r#"#!/bin/sh
printf 'cam login: '
read -r user
printf 'Password: '
stty -echo 2>/dev/null
read -r pass
stty echo 2>/dev/null
if [ "$user" = "root" ] && [ "$pass" = "xmhdipc" ]; then
  printf '\n\nBusyBox v1.20.2 built-in shell (ash)\n~ # '
  read -r cmd
  exit 0
fi
sleep 0.3
printf '\nLogin incorrect\n'
exit 1
"#;

#[tokio::test]
async fn logins_through_inetutils_telnetd_are_classified() {
    if !peer_available(
        "inetutils-telnetd / inetutils-inetd",
        Path::new(INETD).exists() && Path::new(TELNETD).exists(),
    ) {
        return;
    }
    let port = free_port();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("telnetd-login-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("login.sh");
    std::fs::write(&script, LOGIN_SCRIPT).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let _inetd = start_inetd(&dir, port, &format!(" -h -E {}", script.display())).await;

    let mut limits = quick_limits();
    limits.io_timeout = Duration::from_secs(5);
    let device = device(limits);
    let credential = |user: &str, password: &str, secret: bool| hopquy_probe::Credential {
        username: user.into(),
        password: password.into(),
        secret,
    };
    let rec = Recorder::default();
    let wrong = telnet::login(&device, port, &credential("root", "12345", false), &rec)
        .await
        .unwrap();
    assert_eq!(wrong.answer, telnet::LoginAnswer::Incorrect, "{wrong:#?}");
    assert!(wrong.user_sent && wrong.password_sent);
    let right = telnet::login(&device, port, &credential("root", "xmhdipc", true), &rec)
        .await
        .unwrap();
    assert_eq!(right.answer, telnet::LoginAnswer::Shell, "{right:#?}");
    // What went over the wire, as recorded (text or base64 when negotiation bytes are in it).
    let mut wire = Vec::new();
    for exchange in rec.drain() {
        for payload in [exchange.sent, exchange.received].into_iter().flatten() {
            if let Some(text) = payload.text {
                wire.extend_from_slice(text.as_bytes());
            }
            if let Some(b64) = payload.base64 {
                use base64::Engine as _;
                wire.extend(base64::engine::general_purpose::STANDARD.decode(b64).unwrap());
            }
        }
        wire.extend_from_slice(exchange.label.as_bytes());
    }
    let has = |needle: &[u8]| wire.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"12345\r\n"), "public passwords are evidence");
    assert!(!has(b"xmhdipc"), "a secret password never is");
    assert!(has(b"Login incorrect"));
}

/// A real listener answers: connected, and not to ourselves (on loopback a connect to a free
/// ephemeral port can "succeed" as a TCP self-connect).
async fn listening(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok())
}
