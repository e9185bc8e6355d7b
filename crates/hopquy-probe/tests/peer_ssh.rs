//! SSH audit against a real third-party server: Debian's OpenSSH sshd, started on loopback by
//! the test with algorithm lists the test chooses, cross-checked with ssh-audit 3.x.
//!
//! Needs Debian `openssh-server` (sshd, ssh-keygen) and, for the cross-check, ssh-audit 3.9
//! from PyPI (`python3 -m venv target/peers/venv && target/peers/venv/bin/pip install
//! ssh-audit==3.9.0`, or `HOPQUY_SSH_AUDIT=/path/to/ssh-audit`). Debian's ssh-audit 2.5 is
//! too old (it calls modern key exchanges unknown) and is not used. A missing peer skips
//! the test, unless `HOPQUY_REQUIRE_PEERS=1`, which makes it a failure. sshd must run as
//! root (privilege separation), as it does in CI.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use hopquy_probe::ssh::{LoginOutcome, PasswordMethod, SshAudit, SshOptions, audit, login_once};
use hopquy_probe::{Credential, Limits, Recorder};
use support::device;
use tokio::process::{Child, Command};

const SSHD: &str = "/usr/sbin/sshd";
const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";

const KEX: &str =
    "curve25519-sha256,diffie-hellman-group14-sha256,diffie-hellman-group14-sha1,diffie-hellman-group1-sha1";
const HOST_KEYS: &str = "ssh-ed25519,rsa-sha2-512,ssh-rsa";
const CIPHERS: &str = "aes256-gcm@openssh.com,aes128-ctr,aes128-cbc,3des-cbc";
const MACS: &str = "hmac-sha2-256-etm@openssh.com,hmac-sha2-256,hmac-sha1,hmac-md5";

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

fn list(csv: &str) -> Vec<String> {
    csv.split(',').map(str::to_owned).collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("hopquy-{tag}-{}-{:x}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A running sshd; killed when dropped.
struct Sshd {
    _child: Child,
    port: u16,
    _dir: Scratch,
}

/// Host keys, generated once and kept under cargo's target tmp dir: RSA key generation
/// costs most of a second, and reusing the keys changes nothing the tests look at.
fn host_keys() -> &'static Path {
    static KEYS: OnceLock<PathBuf> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("peer-ssh-host-keys");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, kind) in [("hk_ed25519", "ed25519"), ("hk_rsa", "rsa")] {
            if !dir.join(format!("{name}.pub")).exists() {
                let _ = std::fs::remove_file(dir.join(name));
                keygen(&dir, name, kind);
            }
        }
        dir
    })
}

fn keygen(dir: &Path, name: &str, kind: &str) {
    let status = std::process::Command::new(SSH_KEYGEN)
        .args([
            "-q",
            "-t",
            kind,
            "-b",
            if kind == "rsa" { "2048" } else { "256" },
            "-N",
            "",
            "-f",
        ])
        .arg(dir.join(name))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "ssh-keygen -t {kind} failed");
}

/// Password logins through the `password` method, no PAM.
const PASSWORD_AUTH: &[&str] = &[
    "PasswordAuthentication=yes",
    "KbdInteractiveAuthentication=no",
    "UsePAM=no",
];
/// Passwords only through PAM's keyboard-interactive conversation, as Debian's
/// `PasswordAuthentication no` hardening guides and many embedded builds leave it.
const KBD_INTERACTIVE_AUTH: &[&str] = &[
    "PasswordAuthentication=no",
    "KbdInteractiveAuthentication=yes",
    "UsePAM=yes",
];

async fn start_sshd() -> Sshd {
    start_sshd_with(PASSWORD_AUTH).await
}

async fn start_sshd_with(auth: &[&str]) -> Sshd {
    let dir = Scratch::new("sshd");
    let keys = host_keys();
    // Privilege separation needs this directory; packages create it only at boot.
    let _ = std::fs::create_dir_all("/run/sshd");
    let port = free_port();
    let option = |kv: String| ["-o".to_owned(), kv];
    let mut args: Vec<String> = vec!["-D".into(), "-e".into(), "-f".into(), "/dev/null".into()];
    args.extend(["-p".into(), port.to_string()]);
    args.extend(["-h".into(), keys.join("hk_ed25519").display().to_string()]);
    args.extend(["-h".into(), keys.join("hk_rsa").display().to_string()]);
    for kv in [
        "ListenAddress=127.0.0.1".to_owned(),
        // Several short connections in a row; don't let MaxStartups' random early drop in.
        "MaxStartups=200".to_owned(),
        format!("PidFile={}", dir.0.join("sshd.pid").display()),
        format!("KexAlgorithms={KEX}"),
        format!("HostKeyAlgorithms={HOST_KEYS}"),
        format!("Ciphers={CIPHERS}"),
        format!("MACs={MACS}"),
        "PubkeyAuthentication=yes".to_owned(),
    ]
    .into_iter()
    .chain(auth.iter().map(|kv| (*kv).to_owned()))
    {
        args.extend(option(kv));
    }
    let child = Command::new(SSHD)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !listening(port).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sshd did not start listening on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Sshd {
        _child: child,
        port,
        _dir: dir,
    }
}

fn limits() -> Limits {
    Limits {
        io_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        ..Limits::default()
    }
}

/// The offer without OpenSSH's pseudo-algorithms (ext-info-s, kex-strict-s-…), whose
/// presence depends on the OpenSSH release rather than on the configuration.
fn real_kex(a: &SshAudit) -> Vec<String> {
    a.hello
        .kexinit
        .kex
        .iter()
        .filter(|k| !k.starts_with("ext-info-") && !k.starts_with("kex-strict-"))
        .cloned()
        .collect()
}

#[tokio::test]
async fn openssh_offer_matches_its_configuration_in_order() {
    if !peer_available(
        "openssh-server (/usr/sbin/sshd)",
        Path::new(SSHD).exists() && Path::new(SSH_KEYGEN).exists(),
    ) {
        return;
    }
    let sshd = start_sshd().await;
    let nobody = Credential {
        username: "hopquy-no-such-user".into(),
        password: "wrong".into(),
        secret: false,
    };
    let opts = SshOptions {
        probe_user: Some(nobody.username.clone()),
    };
    let rec = Recorder::default();
    let result = audit(&device(limits()), sshd.port, &opts, &rec).await.unwrap();
    let k = &result.hello.kexinit;

    assert!(
        result.hello.banner.starts_with("SSH-2.0-OpenSSH_"),
        "{}",
        result.hello.banner
    );
    assert_eq!(real_kex(&result), list(KEX));
    assert_eq!(k.host_key, list(HOST_KEYS));
    assert_eq!(k.ciphers_s2c, list(CIPHERS));
    assert_eq!(k.ciphers_c2s, list(CIPHERS));
    assert_eq!(k.macs_s2c, list(MACS));
    assert_eq!(k.macs_c2s, list(MACS));
    assert_eq!(k.compression_s2c[0], "none");

    let weak: Vec<&str> = result.weak.iter().map(|w| w.algorithm.as_str()).collect();
    assert_eq!(
        weak,
        [
            "diffie-hellman-group14-sha1",
            "diffie-hellman-group1-sha1",
            "ssh-rsa",
            "aes128-cbc",
            "3des-cbc",
            "hmac-sha1",
            "hmac-md5"
        ]
    );

    assert_eq!(result.session_error, None);
    assert_eq!(
        result.auth_methods,
        Some(vec!["publickey".to_string(), "password".to_string()])
    );
    let once = login_once(&device(limits()), sshd.port, &nobody, &rec).await.unwrap();
    assert_eq!(once.attempt.method, PasswordMethod::Password);
    assert_eq!(once.attempt.outcome, LoginOutcome::Rejected, "{:?}", once.attempt);
    let negotiated = result.negotiated.clone().unwrap();
    assert_eq!(negotiated.kex, "curve25519-sha256");
    assert_eq!(negotiated.cipher, "aes256-gcm@openssh.com");

    let keygen_fingerprint = std::process::Command::new(SSH_KEYGEN)
        .args(["-l", "-E", "sha256", "-f"])
        .arg(host_keys().join("hk_ed25519.pub"))
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&keygen_fingerprint.stdout);
    let fingerprint = result.host_key_fingerprint.clone().unwrap();
    assert!(
        printed.split_whitespace().any(|w| w == fingerprint),
        "{fingerprint} not in {printed}"
    );
}

/// OpenSSH with `PasswordAuthentication no` and PAM offers `publickey,keyboard-interactive`:
/// a `password` request would be refused by method whatever the password. The probe must
/// answer PAM's real `Password: ` prompt instead and read the refusal as a wrong password.
#[tokio::test]
async fn openssh_with_pam_keyboard_interactive_refuses_a_wrong_password() {
    if !peer_available(
        "openssh-server (/usr/sbin/sshd, /etc/pam.d/sshd)",
        Path::new(SSHD).exists() && Path::new(SSH_KEYGEN).exists() && Path::new("/etc/pam.d/sshd").exists(),
    ) {
        return;
    }
    let sshd = start_sshd_with(KBD_INTERACTIVE_AUTH).await;
    // An account that exists, so PAM's own prompt is what answers, not a refusal of an
    // unknown user; the password is random and cannot be root's.
    let wrong = Credential {
        username: "root".into(),
        password: format!("hopquy-wrong-{:x}", rand_suffix()),
        secret: false,
    };
    let rec = Recorder::default();
    let opts = SshOptions {
        probe_user: Some(wrong.username.clone()),
    };
    let result = audit(&device(limits()), sshd.port, &opts, &rec).await.unwrap();
    assert_eq!(result.session_error, None);
    assert_eq!(
        result.auth_methods,
        Some(vec!["publickey".to_string(), "keyboard-interactive".to_string()])
    );
    assert_eq!(
        result.observations()["password_methods_offered"],
        serde_json::json!(["keyboard-interactive"])
    );
    let once = login_once(&device(limits()), sshd.port, &wrong, &rec).await.unwrap();
    assert_eq!(once.attempt.method, PasswordMethod::KeyboardInteractive);
    assert_eq!(once.attempt.outcome, LoginOutcome::Rejected, "{:?}", once.attempt);

    let exchanges = serde_json::to_string(&rec.drain()).unwrap();
    assert!(exchanges.contains("SSH_MSG_USERAUTH_INFO_REQUEST"), "{exchanges}");
    assert!(
        exchanges.to_lowercase().contains("password:"),
        "PAM's prompt: {exchanges}"
    );
}

fn ssh_audit_program() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("HOPQUY_SSH_AUDIT").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/peers/venv/bin/ssh-audit")),
        Some(PathBuf::from("ssh-audit")),
    ];
    candidates.into_iter().flatten().find(|program| {
        std::process::Command::new(program)
            .arg("-h")
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("ssh-audit v3."))
    })
}

fn names(report: &serde_json::Value, section: &str) -> BTreeSet<String> {
    report[section]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .filter_map(|entry| entry["algorithm"].as_str().map(str::to_owned))
        .collect()
}

fn failed(report: &serde_json::Value, section: &str) -> BTreeSet<String> {
    report[section]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .filter(|entry| entry["notes"]["fail"].as_array().is_some_and(|f| !f.is_empty()))
        .filter_map(|entry| entry["algorithm"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn ssh_audit_sees_the_same_offer_and_fails_nothing_we_pass() {
    if !peer_available(
        "openssh-server (/usr/sbin/sshd)",
        Path::new(SSHD).exists() && Path::new(SSH_KEYGEN).exists(),
    ) {
        return;
    }
    let program = ssh_audit_program();
    if !peer_available("ssh-audit 3.x", program.is_some()) {
        return;
    }
    let sshd = start_sshd().await;
    let result = audit(
        &device(limits()),
        sshd.port,
        &SshOptions::default(),
        &Recorder::default(),
    )
    .await
    .unwrap();
    let out = Command::new(program.unwrap())
        .args(["-j", "-n", "--skip-rate-test", "-t", "5", "-p"])
        .arg(sshd.port.to_string())
        .arg("127.0.0.1")
        .output()
        .await
        .unwrap();
    // ssh-audit's exit status reports its findings (3 = failures), not whether it ran.
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "ssh-audit printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let k = &result.hello.kexinit;
    let set = |v: &Vec<String>| v.iter().cloned().collect::<BTreeSet<String>>();
    assert_eq!(report["banner"]["raw"].as_str(), Some(result.hello.banner.as_str()));
    assert_eq!(names(&report, "kex"), set(&k.kex));
    assert_eq!(names(&report, "key"), set(&k.host_key));
    assert_eq!(names(&report, "enc"), set(&k.ciphers_s2c));
    assert_eq!(names(&report, "mac"), set(&k.macs_s2c));

    let ours: BTreeSet<String> = result.weak.iter().map(|w| w.algorithm.clone()).collect();
    for section in ["kex", "key", "enc", "mac"] {
        let theirs = failed(&report, section);
        assert!(
            theirs.is_subset(&ours),
            "{section}: ssh-audit fails {theirs:?}, we flag {ours:?}"
        );
    }

    let sha256 = report["fingerprints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["hash_alg"] == "SHA256" && f["hostkey"] == "ssh-ed25519")
        .and_then(|f| f["hash"].as_str())
        .unwrap();
    assert_eq!(
        result.host_key_fingerprint.as_deref(),
        Some(format!("SHA256:{sha256}").as_str())
    );
}

/// A real listener answers: connected, and not to ourselves (on loopback a connect to a free
/// ephemeral port can "succeed" as a TCP self-connect).
async fn listening(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok())
}
