//! `hopquy probe onvif HOST[:PORT]`: the anonymous read sweep of the ONVIF device service
//! (which operations answer without credentials, and which of those break the default
//! access policy), plus GetDeviceInformation with credentials when given.

use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use hopquy_probe::http::Scheme;
use hopquy_probe::onvif::{DEVICE_SERVICE_PATH, OnvifAuth, OnvifProbe, SweepOptions, SweepReport};
use hopquy_probe::{Device, Recorder, Redactor};
use serde_json::{Value, json};

use super::{Common, emit, failed, limits, login_credential, split_target};
use crate::exit::{self, CliError};

#[derive(Args, Debug)]
pub struct OnvifArgs {
    #[command(flatten)]
    pub common: Common,
    /// Use TLS (default port 443 instead of 80).
    #[arg(long)]
    pub https: bool,
    /// Device-service path.
    #[arg(long, default_value = DEVICE_SERVICE_PATH)]
    pub path: String,
    /// Also call GetDeviceInformation as this user (needs --password-env).
    #[arg(long)]
    pub user: Option<String>,
    /// Environment variable holding the password (never a literal on the command line).
    #[arg(long)]
    pub password_env: Option<String>,
    /// How to authenticate with --user: auto (Digest when challenged, else UsernameToken),
    /// digest or usernametoken.
    #[arg(long, default_value = "auto")]
    pub auth: String,
    /// With --user: check that stale, replayed and nonce-less UsernameTokens are refused.
    #[arg(long)]
    pub token_checks: bool,
    /// Also send WRITE_SYSTEM and ACTUATE operations anonymously (without arguments).
    #[arg(long)]
    pub include_write: bool,
    /// Also send UNRECOVERABLE operations anonymously. A device that skips authentication
    /// may reboot or reset: only on a device you may break.
    #[arg(long)]
    pub include_unrecoverable: bool,
}

pub async fn run(a: OnvifArgs) -> Result<u8, CliError> {
    let (host, port) = split_target(&a.common.target)?;
    let scheme = if a.https { Scheme::Https } else { Scheme::Http };
    let port = port.unwrap_or(scheme.default_port());
    if !a.path.starts_with('/') {
        return Err(CliError::Usage("--path must start with /".into()));
    }
    let mut redactor = Redactor::new();
    let credential = login_credential(&a.user, &a.password_env, &mut redactor)?;
    if a.token_checks && credential.is_none() {
        return Err(CliError::Usage("--token-checks needs --user and --password-env".into()));
    }
    let auth = match (a.auth.as_str(), &credential) {
        (_, None) => OnvifAuth::None,
        ("auto", Some(c)) => OnvifAuth::Auto(c.clone()),
        ("digest", Some(c)) => OnvifAuth::Digest(c.clone()),
        ("usernametoken", Some(c)) => OnvifAuth::UsernameToken(c.clone()),
        (other, Some(_)) => {
            return Err(CliError::Usage(format!(
                "unknown --auth {other}; use auto, digest or usernametoken"
            )));
        }
    };

    let device = Device::new(host.clone(), limits(a.common.timeout, 4));
    let target = device.authority(port);
    let probe = OnvifProbe::new(device, scheme, port)
        .map_err(|e| CliError::CannotStart(e.to_string()))?
        .with_path(a.path.clone());
    let rec = Recorder::new(Arc::new(redactor));
    let options = SweepOptions {
        include_write: a.include_write,
        include_unrecoverable: a.include_unrecoverable,
        concurrency: 0,
    };
    let started = Instant::now();
    let report = match probe.sweep(&options, &rec).await {
        Ok(report) => report,
        Err(e) => return failed(a.common.json, "onvif", &target, started, e, json!({})),
    };
    let mut body = report.observations();
    if let Value::Object(map) = &mut body {
        map.insert("path".into(), json!(a.path));
        let authenticated = match &auth {
            OnvifAuth::None => Value::Null,
            _ => match probe.call("GetDeviceInformation", &auth, &rec).await {
                Ok(call) => call.observations(),
                Err(e) => json!({ "error": e.to_string() }),
            },
        };
        map.insert("device_information".into(), authenticated["device_information"].clone());
        map.insert("authenticated".into(), authenticated);
        if a.token_checks
            && let Some(c) = &credential
        {
            map.insert("token_checks".into(), probe.token_checks(c, &rec).await.observations());
        }
        map.insert("exchange_count".into(), json!(rec.len()));
    }
    emit(a.common.json, "onvif", &target, started, body, |obj| {
        print_human(&target, &report, obj)
    });
    Ok(exit::PASS)
}

fn print_human(target: &str, report: &SweepReport, obj: &Value) {
    outln!(
        "{target}: ONVIF device service, {} operations called anonymously",
        report.entries.len()
    );
    for entry in &report.entries {
        let (status, outcome) = match &entry.result {
            Ok(call) => (call.status.to_string(), call.outcome.as_str().to_owned()),
            Err(e) => ("-".to_owned(), format!("error: {e}")),
        };
        outln!(
            "  {:<36} {:<22} {:>4}  {outcome}",
            entry.operation.name,
            entry.operation.access_class.as_str(),
            status
        );
    }
    let violations = report.violations();
    if violations.is_empty() {
        outln!("no protected operation answered anonymously");
    } else {
        outln!("answered anonymously although not PRE_AUTH: {}", violations.join(", "));
    }
    outln!("device demands: {}", report.demanded_auth().join(", "));
    if let Some(info) = obj.get("device_information").filter(|v| !v.is_null()) {
        outln!("device information: {info}");
    }
    if let Some(findings) = obj.pointer("/token_checks/findings") {
        outln!("weak UsernameTokens accepted: {findings}");
    }
}
