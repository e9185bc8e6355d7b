//! SSH audit against hostile and minimal loopback servers: every misbehaviour ends in a
//! bounded, recorded error or observation, never a hang or a panic.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use hopquy_probe::ssh::kexinit::{KexInit, encode_kexinit, encode_packet};
use hopquy_probe::ssh::{
    LoginOutcome, PasswordMethod, SshOptions, audit, grab_server_hello, is_password_prompt, login_once,
    password_methods_offered,
};
use hopquy_probe::{Capture, Credential, Limits, ProbeError, Recorder};
use support::{device, quick_limits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn offer() -> KexInit {
    KexInit {
        kex: vec!["curve25519-sha256".into(), "diffie-hellman-group1-sha1".into()],
        host_key: vec!["ssh-ed25519".into(), "ssh-dss".into()],
        ciphers_c2s: vec!["aes128-ctr".into(), "3des-cbc".into()],
        ciphers_s2c: vec!["aes128-ctr".into(), "3des-cbc".into()],
        macs_c2s: vec!["hmac-sha2-256".into()],
        macs_s2c: vec!["hmac-md5".into()],
        compression_c2s: vec!["none".into()],
        compression_s2c: vec!["none".into()],
        ..KexInit::default()
    }
}

/// Sends `bytes` once, then keeps the connection open without a word.
async fn script(bytes: Vec<u8>) -> u16 {
    serve(move |mut s: TcpStream| {
        let bytes = bytes.clone();
        async move {
            let _ = s.write_all(&bytes).await;
            let mut sink = [0u8; 256];
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                while let Ok(n) = s.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            })
            .await;
        }
    })
    .await
}

/// Writes `chunk` until the client goes away.
async fn flood(chunk: &'static [u8]) -> u16 {
    serve(move |mut s: TcpStream| async move {
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while s.write_all(chunk).await.is_ok() {}
        })
        .await;
    })
    .await
}

fn hello(banner: &[u8], kexinit: &KexInit) -> Vec<u8> {
    let mut bytes = banner.to_vec();
    bytes.extend_from_slice(&encode_packet(&encode_kexinit(kexinit, [9; 16])));
    bytes
}

async fn grab(
    port: u16,
) -> (
    Result<hopquy_probe::ssh::ServerHello, ProbeError>,
    Vec<hopquy_probe::Exchange>,
) {
    let rec = Recorder::default();
    let result = grab_server_hello(&device(quick_limits()), port, &rec).await;
    (result, rec.drain())
}

#[tokio::test]
async fn reads_a_minimal_server_offer_and_records_the_wire_bytes() {
    let bytes = hello(b"Pre-banner notice\r\nSSH-2.0-TinyCam_1.0\r\n", &offer());
    let port = script(bytes.clone()).await;
    let (result, exchanges) = grab(port).await;
    let hello = result.unwrap();
    assert_eq!(hello.banner, "SSH-2.0-TinyCam_1.0");
    assert_eq!(hello.pre_banner, ["Pre-banner notice"]);
    assert_eq!(hello.kexinit, offer());
    assert_eq!(exchanges.len(), 1);
    let ex = &exchanges[0];
    assert_eq!(ex.capture, Capture::Wire);
    assert_eq!(ex.protocol, "ssh");
    assert_eq!(ex.received.as_ref().unwrap().len, bytes.len());
    let sent = ex.sent.as_ref().unwrap().text.clone().unwrap();
    assert!(
        sent.starts_with("SSH-2.0-hopquy_") && sent.ends_with("\r\n"),
        "{sent:?}"
    );
    assert_eq!(ex.error, None);
}

#[tokio::test]
async fn endless_pre_banner_lines_are_cut_off() {
    let port = flood(b"Welcome to the camera!\r\n").await;
    let (result, exchanges) = grab(port).await;
    assert!(matches!(result, Err(ProbeError::TooLarge(_))), "{result:?}");
    let received = exchanges[0].received.as_ref().unwrap();
    assert!(received.truncated);
    assert!(received.len < 64 * 1024, "read {} bytes", received.len);
    assert!(
        exchanges[0]
            .error
            .as_deref()
            .unwrap()
            .contains("before the SSH version line")
    );
}

#[tokio::test]
async fn a_line_that_never_ends_is_cut_off() {
    let port = flood(&[b'A'; 1000]).await;
    let (result, exchanges) = grab(port).await;
    assert!(matches!(result, Err(ProbeError::TooLarge(_))), "{result:?}");
    assert!(exchanges[0].received.as_ref().unwrap().len < 16 * 1024);
}

#[tokio::test]
async fn an_oversized_packet_length_is_refused() {
    let mut bytes = b"SSH-2.0-Evil\r\n".to_vec();
    bytes.extend_from_slice(&u32::MAX.to_be_bytes());
    bytes.extend_from_slice(&[0u8; 64]);
    let port = script(bytes).await;
    let (result, _) = grab(port).await;
    assert!(
        matches!(result, Err(ProbeError::TooLarge(ref m)) if m.contains("35000")),
        "{result:?}"
    );
}

#[tokio::test]
async fn half_a_kexinit_times_out_with_what_was_missing() {
    let bytes = hello(b"SSH-2.0-Half\r\n", &offer());
    let port = script(bytes[..bytes.len() / 2].to_vec()).await;
    let (result, exchanges) = grab(port).await;
    assert!(
        matches!(result, Err(ProbeError::Timeout(ref m)) if m.contains("KEXINIT")),
        "{result:?}"
    );
    assert_eq!(exchanges[0].received.as_ref().unwrap().len, bytes.len() / 2);
}

#[tokio::test]
async fn a_silent_server_times_out_waiting_for_the_version_line() {
    let port = script(Vec::new()).await;
    let (result, exchanges) = grab(port).await;
    assert!(
        matches!(result, Err(ProbeError::Timeout(ref m)) if m.contains("version line")),
        "{result:?}"
    );
    assert!(exchanges[0].received.is_none());
    assert!(exchanges[0].sent.is_some());
}

#[tokio::test]
async fn a_server_that_hangs_up_is_closed_not_a_panic() {
    let port = serve(|s: TcpStream| async move { drop(s) }).await;
    let (result, _) = grab(port).await;
    assert!(matches!(result, Err(ProbeError::Closed(_))), "{result:?}");
}

#[tokio::test]
async fn garbage_binary_is_a_protocol_or_size_error() {
    let mut bytes = b"SSH-2.0-x\r\n".to_vec();
    bytes.extend_from_slice(&encode_packet(&[21, 1, 2, 3, 4, 5]));
    let port = script(bytes).await;
    let (result, _) = grab(port).await;
    assert!(
        matches!(result, Err(ProbeError::Protocol(ref m)) if m.contains("message 21")),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_refused_port_is_unreachable_and_recorded() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let rec = Recorder::default();
    let result = audit(&device(quick_limits()), port, &SshOptions::default(), &rec).await;
    let err = result.unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    let exchanges = rec.drain();
    assert_eq!(exchanges.len(), 1);
    assert!(exchanges[0].error.is_some());
}

/// The offer is complete, but no key exchange follows: the audit keeps the lists and the
/// weak findings and reports why the session failed; a login is an error, not a refusal.
/// One connection at a time is enough (the grab's permit is released before the session).
#[tokio::test]
async fn offer_without_a_working_session_still_yields_the_audit() {
    let port = script(hello(b"SSH-2.0-OfferOnly\r\n", &offer())).await;
    let limits = Limits {
        max_connections: 1,
        ..quick_limits()
    };
    let opts = SshOptions::default();
    let rec = Recorder::default();
    // Spawned, as the runner's callers do: the audit's future must be `Send + 'static`-able.
    let task_rec = rec.clone();
    let task_limits = limits.clone();
    let task = tokio::spawn(async move { audit(&device(task_limits), port, &opts, &task_rec).await });
    let result = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("the audit must be bounded")
        .unwrap()
        .unwrap();
    let weak: Vec<&str> = result.weak.iter().map(|w| w.algorithm.as_str()).collect();
    assert_eq!(weak, ["diffie-hellman-group1-sha1", "ssh-dss", "3des-cbc", "hmac-md5"]);
    assert!(result.session_error.is_some());
    assert_eq!(result.auth_methods, None);
    let obs = result.observations();
    assert_eq!(obs["macs"], serde_json::json!(["hmac-md5"]));
    assert_eq!(obs["macs_c2s"], serde_json::json!(["hmac-sha2-256"]));
    assert!(obs.get("ciphers_c2s").is_none());
    assert!(obs.get("login").is_none(), "the audit sends no password: {obs}");
    assert!(rec.len() >= 2, "grab and session attempts are recorded");
    let login = tokio::time::timeout(
        Duration::from_secs(20),
        login_once(&device(limits), port, &guess("12345"), &rec),
    )
    .await
    .expect("the login must be bounded");
    assert!(login.is_err(), "no session, so no answer to the password: {login:?}");
}

/// A compatible offer, then silence during key exchange: the session set-up is bounded by
/// the device's timeouts and reported, not awaited forever.
#[tokio::test]
async fn a_server_that_stalls_key_exchange_is_bounded() {
    let compatible = KexInit {
        kex: vec!["curve25519-sha256".into()],
        host_key: vec!["ssh-ed25519".into()],
        ciphers_c2s: vec!["aes128-ctr".into()],
        ciphers_s2c: vec!["aes128-ctr".into()],
        macs_c2s: vec!["hmac-sha2-256".into()],
        macs_s2c: vec!["hmac-sha2-256".into()],
        compression_c2s: vec!["none".into()],
        compression_s2c: vec!["none".into()],
        ..KexInit::default()
    };
    let port = script(hello(b"SSH-2.0-Staller\r\n", &compatible)).await;
    let limits = Limits {
        connect_timeout: Duration::from_millis(300),
        ..quick_limits()
    };
    let rec = Recorder::default();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        audit(&device(limits), port, &SshOptions::default(), &rec),
    )
    .await
    .expect("the audit must be bounded")
    .unwrap();
    assert!(result.weak.is_empty());
    let error = result.session_error.unwrap();
    assert!(error.contains("timed out") && error.contains("key exchange"), "{error}");
}

/// A russh server whose behaviour after key exchange the test chooses.
#[derive(Clone, Copy)]
enum Behaviour {
    /// `none` succeeds: the device needs no credential at all.
    OpenDoor,
    /// Password requests are never answered.
    StallPasswords,
    /// keyboard-interactive only, asking for a one-time code instead of the password.
    OtpPrompt,
    /// keyboard-interactive only, sending empty info requests for ever.
    EndlessEmptyRequests,
    /// publickey only: no password login exists.
    PublicKeyOnly,
}

struct TestServer(Behaviour);

impl russh::server::Handler for TestServer {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<russh::server::Auth, Self::Error> {
        Ok(match self.0 {
            Behaviour::OpenDoor => russh::server::Auth::Accept,
            _ => russh::server::Auth::reject(),
        })
    }

    async fn auth_password(&mut self, _user: &str, _password: &str) -> Result<russh::server::Auth, Self::Error> {
        if matches!(self.0, Behaviour::OpenDoor | Behaviour::StallPasswords) {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Ok(russh::server::Auth::reject())
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        _user: &str,
        _submethods: &str,
        response: Option<russh::server::Response<'a>>,
    ) -> Result<russh::server::Auth, Self::Error> {
        use std::borrow::Cow;
        Ok(match (self.0, response) {
            (Behaviour::OtpPrompt, None) => russh::server::Auth::Partial {
                name: Cow::Borrowed("2FA"),
                instructions: Cow::Borrowed("Enter the code from your app"),
                prompts: Cow::Borrowed(&[(Cow::Borrowed("Verification code: "), true)]),
            },
            (Behaviour::EndlessEmptyRequests, _) => russh::server::Auth::Partial {
                name: Cow::Borrowed(""),
                instructions: Cow::Borrowed(""),
                prompts: Cow::Borrowed(&[]),
            },
            _ => russh::server::Auth::reject(),
        })
    }
}

async fn russh_server(behaviour: Behaviour) -> u16 {
    use russh::keys::ssh_key::{Algorithm, PrivateKey};
    let key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).unwrap();
    use russh::{MethodKind, MethodSet};
    let methods: &[MethodKind] = match behaviour {
        Behaviour::OpenDoor | Behaviour::StallPasswords => &[MethodKind::PublicKey, MethodKind::Password],
        Behaviour::OtpPrompt | Behaviour::EndlessEmptyRequests => {
            &[MethodKind::PublicKey, MethodKind::KeyboardInteractive]
        }
        Behaviour::PublicKeyOnly => &[MethodKind::PublicKey],
    };
    let config = std::sync::Arc::new(russh::server::Config {
        keys: vec![key],
        methods: MethodSet::from(methods),
        auth_rejection_time: Duration::from_millis(10),
        auth_rejection_time_initial: Some(Duration::ZERO),
        ..russh::server::Config::default()
    });
    serve(move |stream: TcpStream| {
        let config = config.clone();
        async move {
            if let Ok(session) = russh::server::run_stream(config, stream, TestServer(behaviour)).await {
                let _ = tokio::time::timeout(Duration::from_secs(10), session).await;
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_server_that_accepts_none_is_reported() {
    let port = russh_server(Behaviour::OpenDoor).await;
    let result = audit(
        &device(quick_limits()),
        port,
        &SshOptions::default(),
        &Recorder::default(),
    )
    .await
    .unwrap();
    assert!(result.none_accepted);
    assert_eq!(result.auth_methods, Some(vec!["none".to_string()]));
    assert!(result.host_key_fingerprint.is_some());
    // No password was asked for, so none was tested: unknown, never accepted or rejected.
    let once = login_once(&device(quick_limits()), port, &guess("x"), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(once.auth_methods, ["none"]);
    assert_eq!(once.attempt.outcome, LoginOutcome::Unknown);
    assert!(
        once.attempt.error.as_deref().unwrap_or_default().contains("`none`"),
        "{once:?}"
    );
}

#[tokio::test]
async fn an_unanswered_password_request_is_bounded_and_unknown() {
    let port = russh_server(Behaviour::StallPasswords).await;
    let limits = Limits {
        io_timeout: Duration::from_millis(300),
        ..quick_limits()
    };
    let rec = Recorder::default();
    let once = tokio::time::timeout(
        Duration::from_secs(20),
        login_once(&device(limits), port, &guess("guess-0"), &rec),
    )
    .await
    .expect("the login must be bounded")
    .unwrap();
    assert_eq!(once.attempt.outcome, LoginOutcome::Unknown, "{once:?}");
    let exchanges = rec.drain();
    let unanswered = exchanges
        .iter()
        .filter(|e| e.label.contains("password login") && e.error.is_some())
        .count();
    assert!(unanswered >= 1, "{exchanges:?}");
}

fn guess(password: &str) -> Credential {
    Credential {
        username: "root".into(),
        password: password.into(),
        secret: false,
    }
}

/// A code prompt answered with the password would be refused, and that refusal read as a
/// wrong password: the attempt is unknown, with the prompt in the evidence.
#[tokio::test]
async fn a_one_time_code_prompt_is_unknown_not_rejected() {
    let port = russh_server(Behaviour::OtpPrompt).await;
    let rec = Recorder::default();
    let once = login_once(&device(quick_limits()), port, &guess("12345"), &rec)
        .await
        .unwrap();
    assert_eq!(password_methods_offered(&once.auth_methods), ["keyboard-interactive"]);
    let attempt = &once.attempt;
    assert_eq!(attempt.outcome, LoginOutcome::Unknown, "{attempt:?}");
    assert_eq!(attempt.method, PasswordMethod::KeyboardInteractive);
    let error = attempt.error.as_deref().unwrap_or_default();
    assert!(error.contains("Verification code: "), "{error}");
    let exchanges = rec.drain();
    let login = exchanges
        .iter()
        .find(|e| e.label.contains("via keyboard-interactive"))
        .unwrap();
    let received = login.received.as_ref().unwrap().text.clone().unwrap();
    assert!(received.contains("SSH_MSG_USERAUTH_INFO_REQUEST"), "{received}");
    let sent = login.sent.as_ref().unwrap().text.clone().unwrap();
    assert!(
        !sent.contains("INFO_RESPONSE"),
        "the password went to a code prompt: {sent}"
    );
}

#[tokio::test]
async fn endless_empty_info_requests_are_bounded() {
    let port = russh_server(Behaviour::EndlessEmptyRequests).await;
    let once = tokio::time::timeout(
        Duration::from_secs(20),
        login_once(&device(quick_limits()), port, &guess("12345"), &Recorder::default()),
    )
    .await
    .expect("the keyboard-interactive rounds must be bounded")
    .unwrap();
    let attempt = &once.attempt;
    assert_eq!(attempt.outcome, LoginOutcome::Unknown, "{attempt:?}");
    assert!(
        attempt.error.as_deref().unwrap_or_default().contains("rounds"),
        "{attempt:?}"
    );
}

/// Without a password method the password request is still sent: its refusal is the
/// evidence that no password login exists, and the empty list says why.
#[tokio::test]
async fn publickey_only_refuses_the_password_and_says_no_password_method_is_offered() {
    let port = russh_server(Behaviour::PublicKeyOnly).await;
    let result = audit(
        &device(quick_limits()),
        port,
        &SshOptions::default(),
        &Recorder::default(),
    )
    .await
    .unwrap();
    let obs = result.observations();
    assert_eq!(obs["auth_methods"], serde_json::json!(["publickey"]));
    assert_eq!(obs["password_methods_offered"], serde_json::json!([]));
    let once = login_once(&device(quick_limits()), port, &guess("12345"), &Recorder::default())
        .await
        .unwrap();
    assert_eq!(once.attempt.method, PasswordMethod::Password);
    assert_eq!(once.attempt.outcome, LoginOutcome::Rejected, "{once:?}");
}

#[test]
fn password_prompts_are_told_from_other_questions() {
    for prompt in [
        "Password: ",
        "root@cam's password:",
        "Mật khẩu: ",
        "MẬT KHẨU:",
        "Passwort:",
        "Enter passcode",
    ] {
        assert!(is_password_prompt(prompt), "{prompt}");
    }
    for prompt in ["Verification code: ", "OTP:", "Token code:", "login: ", ""] {
        assert!(!is_password_prompt(prompt), "{prompt}");
    }
    let offered = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        PasswordMethod::choose(&offered(&["publickey", "keyboard-interactive", "password"])),
        PasswordMethod::Password
    );
    assert_eq!(
        PasswordMethod::choose(&offered(&["publickey", "keyboard-interactive"])),
        PasswordMethod::KeyboardInteractive
    );
    assert_eq!(
        PasswordMethod::choose(&offered(&["publickey"])),
        PasswordMethod::Password
    );
}
