//! `hopquy probe ssh HOST[:PORT]`: banner, offered algorithms (with the weak ones), host-key
//! fingerprint and authentication methods; a password login when `--user` is given.

use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use hopquy_probe::ssh::{self, LoginAttempt, LoginOutcome, SshAudit, SshOptions};
use hopquy_probe::{Device, Recorder, Redactor};
use serde_json::json;

use super::{Common, emit, failed, limits, login_credential, split_target};
use crate::exit::{self, CliError};

#[derive(Args, Debug)]
pub struct SshArgs {
    #[command(flatten)]
    pub common: Common,
    /// Try a password login as this user (needs --password-env).
    #[arg(long)]
    pub user: Option<String>,
    /// Environment variable holding the password (never a literal on the command line).
    #[arg(long)]
    pub password_env: Option<String>,
}

pub async fn run(a: SshArgs) -> Result<u8, CliError> {
    let (host, port) = split_target(&a.common.target)?;
    let port = port.unwrap_or(ssh::DEFAULT_PORT);
    let mut redactor = Redactor::new();
    let credential = login_credential(&a.user, &a.password_env, &mut redactor)?;
    let device = Device::new(host.clone(), limits(a.common.timeout, 1));
    let rec = Recorder::new(Arc::new(redactor));
    let opts = SshOptions {
        probe_user: credential.as_ref().map(|c| c.username.clone()),
    };
    let target = device.authority(port);
    let started = Instant::now();
    let audit = match ssh::audit(&device, port, &opts, &rec).await {
        Ok(audit) => audit,
        Err(e) => return failed(a.common.json, "ssh", &target, started, e, json!({})),
    };
    // The login goes to its own session, as the runner's attempts do; without a session it
    // is `unknown`, with the reason, rather than a failed probe: the audit still stands.
    let login = match (&credential, &audit.session_error) {
        (None, _) => None,
        (Some(c), Some(why)) => Some(unanswered(c, why.clone())),
        (Some(c), None) => Some(match ssh::login_once(&device, port, c, &rec).await {
            Ok(once) => once.attempt,
            Err(e) => unanswered(c, e.to_string()),
        }),
    };
    let mut body = audit.observations();
    if let serde_json::Value::Object(map) = &mut body {
        if let Some(attempt) = &login {
            map.insert("login".into(), json!(attempt.outcome.as_str()));
            map.insert("login_attempt".into(), json!(attempt));
        }
        map.insert(
            "exchanges".into(),
            serde_json::to_value(rec.drain()).unwrap_or_default(),
        );
    }
    emit(a.common.json, "ssh", &target, started, body, |_| {
        print_human(&target, &audit, login.as_ref())
    });
    Ok(exit::PASS)
}

fn unanswered(credential: &hopquy_probe::Credential, why: String) -> LoginAttempt {
    LoginAttempt {
        credential: ssh::credential_label(credential),
        outcome: LoginOutcome::Unknown,
        remaining_methods: Vec::new(),
        partial_success: false,
        method: Default::default(),
        error: Some(why),
    }
}

fn print_human(target: &str, audit: &SshAudit, login: Option<&LoginAttempt>) {
    let k = &audit.hello.kexinit;
    outln!("{target}: {}", audit.hello.banner);
    let weak = |name: &str| {
        if audit.weak.iter().any(|w| w.algorithm == name) {
            "  [weak]"
        } else {
            ""
        }
    };
    for (title, names) in [
        ("kex", &k.kex),
        ("host keys", &k.host_key),
        ("ciphers", &k.ciphers_s2c),
        ("macs", &k.macs_s2c),
        ("compression", &k.compression_s2c),
    ] {
        outln!("  {title}:");
        for name in names {
            outln!("    {name}{}", weak(name));
        }
    }
    if k.ciphers_c2s != k.ciphers_s2c {
        outln!("  ciphers client-to-server: {}", k.ciphers_c2s.join(","));
    }
    if k.macs_c2s != k.macs_s2c {
        outln!("  macs client-to-server: {}", k.macs_c2s.join(","));
    }
    if let Some(fingerprint) = &audit.host_key_fingerprint {
        outln!("  host key: {fingerprint}");
    }
    match &audit.auth_methods {
        Some(methods) => outln!("  auth methods: {}", methods.join(", ")),
        None => outln!(
            "  auth methods: unknown ({})",
            audit.session_error.as_deref().unwrap_or("no session")
        ),
    }
    for w in &audit.weak {
        outln!("  weak {} {}: {}", w.kind.as_str(), w.algorithm, w.reason);
    }
    if let Some(attempt) = login {
        outln!(
            "  login: {} (via {})",
            attempt.outcome.as_str(),
            attempt.method.as_str()
        );
    }
}
