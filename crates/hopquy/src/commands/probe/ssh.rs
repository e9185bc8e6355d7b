//! `hopquy probe ssh HOST[:PORT]`: banner, offered algorithms (with the weak ones), host-key
//! fingerprint and authentication methods; a password login when `--user` is given.

use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use hopquy_probe::ssh::{self, SshAudit, SshOptions};
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
    let credentials = login_credential(&a.user, &a.password_env, &mut redactor)?
        .into_iter()
        .collect::<Vec<_>>();
    let device = Device::new(host.clone(), limits(a.common.timeout, 1));
    let rec = Recorder::new(Arc::new(redactor));
    let opts = SshOptions {
        credentials,
        ..SshOptions::default()
    };
    let target = device.authority(port);
    let started = Instant::now();
    match ssh::audit(&device, port, &opts, &rec).await {
        Ok(audit) => {
            let mut body = audit.observations();
            if let serde_json::Value::Object(map) = &mut body {
                map.insert(
                    "exchanges".into(),
                    serde_json::to_value(rec.drain()).unwrap_or_default(),
                );
            }
            emit(a.common.json, "ssh", &target, started, body, |_| {
                print_human(&target, &audit)
            });
            Ok(exit::PASS)
        }
        Err(e) => failed(a.common.json, "ssh", &target, started, e, json!({})),
    }
}

fn print_human(target: &str, audit: &SshAudit) {
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
    if let Some(login) = audit.login() {
        outln!("  login: {}", login.as_str());
    }
}
