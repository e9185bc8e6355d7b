use std::time::Instant;

use clap::Args;
use hopquy_probe::http::{AuthMode, HttpProbe, HttpRequest, Scheme};
use hopquy_probe::{Device, Recorder, Redactor};
use serde_json::{Value, json};

use super::{Common, emit, limits, login_credential, split_target};
use crate::exit::{self, CliError};

#[derive(Args, Debug)]
pub struct HttpArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, default_value = "/")]
    pub path: String,
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Use TLS.
    #[arg(long)]
    pub https: bool,
    #[arg(long)]
    pub user: Option<String>,
    /// Environment variable holding the password (never a literal on the command line).
    #[arg(long)]
    pub password_env: Option<String>,
    /// none, basic, digest, any.
    #[arg(long, default_value = "any")]
    pub auth: String,
}

pub async fn run(a: HttpArgs) -> Result<u8, CliError> {
    let (host, port) = split_target(&a.common.target)?;
    let scheme = if a.https { Scheme::Https } else { Scheme::Http };
    let port = port.unwrap_or(scheme.default_port());
    let device = Device::new(host.clone(), limits(a.common.timeout, 2));
    let mut redactor = Redactor::new();
    let credential = login_credential(&a.user, &a.password_env, &mut redactor)?;
    let auth = match (a.auth.as_str(), &credential) {
        (_, None) | ("none", _) => AuthMode::None,
        ("basic", _) => AuthMode::Basic,
        ("digest", _) => AuthMode::Digest,
        ("any", _) => AuthMode::Any,
        (other, _) => {
            return Err(CliError::Usage(format!(
                "unknown --auth {other}; use none, basic, digest or any"
            )));
        }
    };
    if !a.path.starts_with('/') {
        return Err(CliError::Usage("--path must start with /".into()));
    }
    let probe = HttpProbe::new(device).map_err(|e| CliError::CannotStart(e.to_string()))?;
    let rec = Recorder::new(std::sync::Arc::new(redactor));
    let mut req = HttpRequest::new(scheme, port, a.method.to_ascii_uppercase(), a.path.clone());
    req.auth = auth;
    req.credential = credential;
    let started = Instant::now();
    let target = format!("{host}:{port}");
    match probe.send(&req, &rec).await {
        Ok(resp) => {
            let mut body = resp.observations();
            if let Value::Object(m) = &mut body {
                m.insert(
                    "exchanges".into(),
                    serde_json::to_value(rec.drain()).unwrap_or(Value::Null),
                );
            }
            emit(a.common.json, "http", &target, started, body, |obj| {
                outln!("{target}: HTTP {} ({} ms)", resp.status, obj["elapsed_ms"]);
                for (k, v) in &resp.headers {
                    outln!("  {k}: {v}");
                }
            });
            Ok(exit::PASS)
        }
        Err(e) if e.is_unreachable() => Err(CliError::CannotStart(format!("{target}: {e}"))),
        Err(e) => {
            emit(
                a.common.json,
                "http",
                &target,
                started,
                json!({"error": e.to_string()}),
                |_| {
                    outln!("{target}: {e}");
                },
            );
            Ok(exit::PASS)
        }
    }
}
