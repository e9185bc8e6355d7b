//! `hopquy probe KIND HOST[:PORT] [--json]`: one protocol check, outside any case.
//! Output contract (DESIGN §5): one JSON object with schema_version, probe, target,
//! elapsed_ms and the probe's observations; exit 0 when the probe completed (whatever it
//! found), 2 for a wrong argument (a URL where HOST[:PORT] belongs…), 3 when the host could
//! not be reached or the probe could not complete against it (timeout, TLS failure, an
//! answer it cannot read) — then `--json` still prints one object, with `error`.

use std::io::Write;
use std::time::Instant;

use clap::{Args, Subcommand};
use hopquy_probe::Limits;
use serde_json::{Value, json};

use crate::exit::CliError;

mod http;
mod onvif;
mod ports;
mod rtsp;
mod ssh;
mod telnet;
mod tls;

// One file per probe kind; adding a kind = a module, a variant, a match arm.
#[derive(Subcommand, Debug)]
pub enum ProbeCommand {
    /// TCP connect scan with banner grab (all of 1–65535 unless --ports).
    Ports(ports::PortsArgs),
    /// One HTTP(S) request, with Digest/Basic when credentials are given.
    Http(http::HttpArgs),
    /// SSH audit: banner, offered algorithms (weak ones flagged), host key, auth methods.
    Ssh(ssh::SshArgs),
    /// ONVIF device service: anonymous read sweep (access-policy violations), identity with credentials.
    Onvif(onvif::OnvifArgs),
    /// RTSP: authentication demanded, stream routes found (cameradar-style), open routes, Basic in clear.
    Rtsp(rtsp::RtspArgs),
    /// Telnet: is the service open, its negotiation and login prompt (never logs in).
    Telnet(telnet::TelnetArgs),
    /// TLS audit: accepted versions (SSLv3–TLS 1.3) and cipher suites (weak ones flagged), certificate.
    Tls(tls::TlsArgs),
}

#[derive(Args, Debug)]
pub struct Common {
    /// HOST or HOST:PORT (IPv6 as [addr]:port).
    pub target: String,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Per-exchange timeout, seconds.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}

/// Split `HOST[:PORT]`, accepting `[v6]:port` and bare IPv6 literals.
pub fn split_target(s: &str) -> Result<(String, Option<u16>), CliError> {
    let bad = || CliError::Usage(format!("`{s}` is not HOST or HOST:PORT"));
    if s.contains("://") || s.contains('/') {
        return Err(CliError::Usage(format!(
            "`{s}` is a URL; give HOST or HOST:PORT (and --https, --path for HTTP)"
        )));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, tail) = rest.split_once(']').ok_or_else(bad)?;
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p.parse::<u16>().map_err(|_| bad())?),
            None if tail.is_empty() => None,
            None => return Err(bad()),
        };
        return Ok((host.to_owned(), port));
    }
    if s.matches(':').count() > 1 {
        // Only an IPv6 literal has several colons; anything else is a typo, not a host.
        return match s.parse::<std::net::Ipv6Addr>() {
            Ok(_) => Ok((s.to_owned(), None)),
            Err(_) => Err(bad()),
        };
    }
    match s.split_once(':') {
        Some((h, p)) if !h.is_empty() => Ok((h.to_owned(), Some(p.parse::<u16>().map_err(|_| bad())?))),
        Some(_) => Err(bad()),
        None if s.is_empty() => Err(bad()),
        None => Ok((s.to_owned(), None)),
    }
}

pub fn emit(json_out: bool, kind: &str, target: &str, started: Instant, body: Value, human: impl FnOnce(&Value)) {
    let mut obj = json!({
        "schema_version": 1,
        "probe": kind,
        "target": target,
        "elapsed_ms": started.elapsed().as_millis() as u64,
    });
    if let (Value::Object(o), Value::Object(b)) = (&mut obj, body) {
        o.extend(b);
    }
    // Writes ignore errors: a closed pipe (`hopquy probe … | head`) must not panic.
    let mut out = std::io::stdout().lock();
    if json_out {
        let _ = writeln!(out, "{}", serde_json::to_string(&obj).unwrap_or_default());
    } else {
        drop(out);
        human(&obj);
    }
}

/// A probe that could not complete: a refused request is a usage error (2), an unreachable
/// host exit 3 as the caller's error; any other failure is still one JSON object with
/// `--json` (and `extra`, e.g. the exchanges so far), an `error:` line otherwise, and exit 3.
pub fn failed(
    json_out: bool,
    kind: &str,
    target: &str,
    started: Instant,
    error: hopquy_probe::ProbeError,
    extra: Value,
) -> Result<u8, CliError> {
    match error {
        hopquy_probe::ProbeError::Invalid(why) => Err(CliError::Usage(why)),
        e if e.is_unreachable() => Err(CliError::CannotStart(format!("{target}: {e}"))),
        e => {
            let mut body = json!({ "error": e.to_string() });
            if let (Value::Object(b), Value::Object(x)) = (&mut body, extra) {
                b.extend(x);
            }
            emit(json_out, kind, target, started, body, |_| {
                errln!("error: {target}: {e}");
            });
            Ok(crate::exit::UNREACHABLE)
        }
    }
}

pub async fn probe(cmd: ProbeCommand) -> Result<u8, CliError> {
    match cmd {
        ProbeCommand::Ports(a) => ports::run(a).await,
        ProbeCommand::Http(a) => http::run(a).await,
        ProbeCommand::Ssh(a) => ssh::run(a).await,
        ProbeCommand::Onvif(a) => onvif::run(a).await,
        ProbeCommand::Rtsp(a) => rtsp::run(a).await,
        ProbeCommand::Telnet(a) => telnet::run(a).await,
        ProbeCommand::Tls(a) => tls::run(a).await,
    }
}

/// `--user` with `--password-env`: the login a probe may use, its password read from the
/// environment (never a literal on the command line) and registered as a secret to redact.
pub fn login_credential(
    user: &Option<String>,
    password_env: &Option<String>,
    redactor: &mut hopquy_probe::Redactor,
) -> Result<Option<hopquy_probe::Credential>, CliError> {
    match (user, password_env) {
        (Some(user), Some(var)) => {
            let password =
                std::env::var(var).map_err(|_| CliError::Usage(format!("environment variable {var} is not set")))?;
            redactor.add_secret(user, &password);
            Ok(Some(hopquy_probe::Credential {
                username: user.clone(),
                password,
                secret: true,
            }))
        }
        (Some(_), None) | (None, Some(_)) => Err(CliError::Usage("--user and --password-env go together".into())),
        (None, None) => Ok(None),
    }
}

pub fn limits(timeout: u64, max_connections: usize) -> Limits {
    Limits {
        max_connections,
        connect_timeout: std::time::Duration::from_secs(timeout.max(1)),
        io_timeout: std::time::Duration::from_secs(timeout.max(1)),
        ..Limits::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_host_or_host_port_never_a_url() {
        assert_eq!(
            split_target("192.0.2.1:8080").unwrap(),
            ("192.0.2.1".into(), Some(8080))
        );
        assert_eq!(split_target("[::1]:80").unwrap(), ("::1".into(), Some(80)));
        assert_eq!(split_target("fe80::1").unwrap(), ("fe80::1".into(), None));
        for bad in [
            "http://192.0.2.1:80",
            "https://cam.local/",
            "192.0.2.1:80:81",
            "cam:http",
            "",
        ] {
            let err = split_target(bad).unwrap_err();
            assert_eq!(err.exit_code(), crate::exit::INPUT, "{bad}");
        }
        assert!(
            split_target("http://192.0.2.1")
                .unwrap_err()
                .to_string()
                .contains("is a URL")
        );
    }
}
