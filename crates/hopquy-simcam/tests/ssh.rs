//! The simulated camera's SSH service, checked with the harness's own SSH audit.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use hopquy_probe::ssh::{LoginAttempt, LoginOutcome, PasswordMethod, SshOptions, audit, login_once};
use hopquy_probe::{Credential, Device, Limits, Recorder, Redactor};
use hopquy_simcam::ssh::{HARDENED_BANNER, LEGACY_BANNER, SSH_DEFAULT_ACCOUNTS, offer};
use hopquy_simcam::{SimCamera, SimConfig, SimSetup};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(setup: &str) -> SimCamera {
    SimCamera::start(SimConfig::new(SimSetup::parse(setup).unwrap()))
        .await
        .unwrap()
}

fn device() -> Device {
    Device::new(
        "127.0.0.1",
        Limits {
            io_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(2),
            ..Limits::default()
        },
    )
}

fn public(user: &str, password: &str) -> Credential {
    Credential {
        username: user.into(),
        password: password.into(),
        secret: false,
    }
}

/// The camera's admin login as a secret credential, and a recorder that redacts its password.
fn target_and_redacting_recorder(camera: &SimCamera) -> (Credential, Recorder) {
    let mut redactor = Redactor::new();
    redactor.add_secret("admin", &camera.admin_password());
    let target = Credential {
        username: "admin".into(),
        password: camera.admin_password(),
        secret: true,
    };
    (target, Recorder::new(Arc::new(redactor)))
}

#[tokio::test]
async fn hardened_offers_exactly_its_modern_lists() {
    let camera = start("hardened").await;
    let expected = offer(camera.setup());
    let rec = Recorder::default();
    let result = audit(&device(), camera.ports()["ssh"], &SshOptions::default(), &rec)
        .await
        .unwrap();
    let k = &result.hello.kexinit;
    assert_eq!(result.hello.banner, HARDENED_BANNER);
    assert_eq!(k.kex, expected.kex);
    assert_eq!(k.host_key, expected.host_key);
    assert_eq!(k.ciphers_s2c, expected.ciphers);
    assert_eq!(k.ciphers_c2s, expected.ciphers);
    assert_eq!(k.macs_s2c, expected.macs);
    assert_eq!(k.compression_s2c, expected.compression);
    assert!(result.weak.is_empty(), "{:?}", result.weak);
    assert_eq!(
        result.auth_methods,
        Some(vec!["publickey".to_string(), "password".to_string()])
    );
    assert!(
        result
            .host_key_fingerprint
            .as_deref()
            .is_some_and(|f| f.starts_with("SHA256:"))
    );
    let obs = result.observations();
    assert_eq!(obs["strict_kex"], true);
    assert_eq!(obs["terrapin_vulnerable"], false);
    assert_eq!(obs["login"], serde_json::Value::Null);
    assert_eq!(obs["negotiated"]["kex"], "mlkem768x25519-sha256");
}

#[tokio::test]
async fn weak_ssh_offers_the_legacy_lists_and_still_answers_the_audit_session() {
    let camera = start("hardened+weak-ssh").await;
    let expected = offer(camera.setup());
    let rec = Recorder::default();
    let result = audit(&device(), camera.ports()["ssh"], &SshOptions::default(), &rec)
        .await
        .unwrap();
    let k = &result.hello.kexinit;
    assert_eq!(result.hello.banner, LEGACY_BANNER);
    assert_eq!(k.kex, expected.kex);
    assert_eq!(k.ciphers_s2c, expected.ciphers);
    assert_eq!(k.macs_s2c, expected.macs);
    let weak: Vec<&str> = result.weak.iter().map(|w| w.algorithm.as_str()).collect();
    assert_eq!(
        weak,
        [
            "diffie-hellman-group14-sha1",
            "diffie-hellman-group1-sha1",
            "aes128-cbc",
            "aes256-cbc",
            "hmac-sha1"
        ]
    );
    assert!(result.auth_methods.is_some(), "{:?}", result.session_error);
    assert_eq!(result.observations()["strict_kex"], false);
}

/// One login per credential, each on its own connection, as the runner's engine sends them.
async fn logins(port: u16, credentials: &[Credential], rec: &Recorder) -> Vec<LoginAttempt> {
    let mut attempts = Vec::new();
    for credential in credentials {
        attempts.push(login_once(&device(), port, credential, rec).await.unwrap().attempt);
    }
    attempts
}

#[tokio::test]
async fn logins_follow_the_account_and_the_default_password_flaw() {
    let camera = start("hardened+ssh-password-default").await;
    let port = camera.ports()["ssh"];
    let (target, rec) = target_and_redacting_recorder(&camera);
    let (default_user, default_password) = SSH_DEFAULT_ACCOUNTS[0];
    let credentials = [
        target,
        public("admin", "not-the-password"),
        public(default_user, default_password),
    ];
    let attempts = logins(port, &credentials, &rec).await;
    let outcomes: Vec<LoginOutcome> = attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        [LoginOutcome::Accepted, LoginOutcome::Rejected, LoginOutcome::Accepted]
    );
    let accepted: Vec<&str> = attempts
        .iter()
        .filter(|a| a.outcome == LoginOutcome::Accepted)
        .map(|a| a.credential.as_str())
        .collect();
    assert_eq!(
        accepted,
        [
            "admin:[REDACTED]".to_string(),
            format!("{default_user}:{default_password}")
        ]
    );
    let recorded = serde_json::to_string(&rec.drain()).unwrap();
    assert!(
        !recorded.contains(&camera.admin_password()),
        "the password reached the evidence"
    );
    assert!(
        recorded.contains("password login as admin:[REDACTED] via password: accepted"),
        "{recorded}"
    );

    let hardened = start("hardened").await;
    let once = login_once(
        &device(),
        hardened.ports()["ssh"],
        &public(default_user, default_password),
        &Recorder::default(),
    )
    .await
    .unwrap();
    assert_eq!(once.attempt.outcome, LoginOutcome::Rejected);
}

/// With the `password` method off, refusals by method must not read as wrong passwords: the
/// probe answers the `Password: ` prompt instead, and the factory password gets in.
#[tokio::test]
async fn keyboard_interactive_only_logins_answer_the_password_prompt() {
    let camera = start("hardened+ssh-kbd-interactive+ssh-password-default").await;
    let port = camera.ports()["ssh"];
    let (target, rec) = target_and_redacting_recorder(&camera);
    let (default_user, default_password) = SSH_DEFAULT_ACCOUNTS[0];
    let opts = SshOptions {
        probe_user: Some(target.username.clone()),
    };
    let result = audit(&device(), port, &opts, &rec).await.unwrap();
    assert_eq!(
        result.auth_methods,
        Some(vec!["publickey".to_string(), "keyboard-interactive".to_string()])
    );
    let credentials = [
        target.clone(),
        public("admin", "not-the-password"),
        public(default_user, default_password),
    ];
    let attempts = logins(port, &credentials, &rec).await;
    let outcomes: Vec<(LoginOutcome, PasswordMethod)> = attempts.iter().map(|a| (a.outcome, a.method)).collect();
    assert_eq!(
        outcomes,
        [
            (LoginOutcome::Accepted, PasswordMethod::KeyboardInteractive),
            (LoginOutcome::Rejected, PasswordMethod::KeyboardInteractive),
            (LoginOutcome::Accepted, PasswordMethod::KeyboardInteractive)
        ],
        "{attempts:?}"
    );
    let obs = result.observations();
    assert_eq!(
        obs["password_methods_offered"],
        serde_json::json!(["keyboard-interactive"])
    );

    let once = login_once(&device(), port, &public("admin", "still-wrong"), &rec)
        .await
        .unwrap();
    assert_eq!(once.attempt.outcome, LoginOutcome::Rejected);
    assert_eq!(once.attempt.method, PasswordMethod::KeyboardInteractive);
    let once = login_once(&device(), port, &target, &rec).await.unwrap();
    assert_eq!(once.attempt.outcome, LoginOutcome::Accepted);

    let recorded = serde_json::to_string(&rec.drain()).unwrap();
    assert!(
        !recorded.contains(&camera.admin_password()),
        "the password reached the evidence"
    );
    assert!(
        recorded.contains(r#"prompts=[\"Password: \" echo=false]"#),
        "{recorded}"
    );
    assert!(
        recorded.contains("password login as admin:[REDACTED] via keyboard-interactive: accepted"),
        "{recorded}"
    );
}

#[tokio::test]
async fn wrong_passwords_lock_the_account_unless_no_lockout() {
    for (setup, locks) in [("hardened", true), ("hardened+no-lockout", false)] {
        let camera = start(setup).await;
        let mut credentials: Vec<Credential> = (0..5).map(|i| public("admin", &format!("wrong-{i}"))).collect();
        credentials.push(public("admin", &camera.admin_password()));
        let attempts = logins(camera.ports()["ssh"], &credentials, &Recorder::default()).await;
        let last = attempts.last().unwrap().outcome;
        let expected = if locks {
            LoginOutcome::Rejected
        } else {
            LoginOutcome::Accepted
        };
        assert_eq!(last, expected, "{setup}: {attempts:?}");
        assert!(
            attempts[..5].iter().all(|a| a.outcome == LoginOutcome::Rejected),
            "{setup}"
        );
    }
}

#[tokio::test]
async fn shutdown_ends_open_ssh_sessions() {
    let camera = start("hardened").await;
    let mut client = TcpStream::connect(("127.0.0.1", camera.ports()["ssh"])).await.unwrap();
    let mut banner = [0u8; 8];
    client.read_exact(&mut banner).await.unwrap();
    assert_eq!(&banner, b"SSH-2.0-");
    // Past the identification exchange, russh runs the session in a task of its own.
    client.write_all(b"SSH-2.0-test\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    camera.shutdown().await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the session outlived the camera");
}
