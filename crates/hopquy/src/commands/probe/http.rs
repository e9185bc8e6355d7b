use std::time::Instant;

use clap::Args;
use hopquy_probe::http::{AuthMode, HttpProbe, HttpRequest, Scheme};
use hopquy_probe::{Device, Recorder, Redactor};
use serde_json::{Value, json};

use hopquy_evidence::sanitize_text;

use super::{Common, emit, failed, limits, login_credential, split_target};
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
                    outln!("  {}: {}", sanitize_text(k), sanitize_text(v));
                }
                for line in body_lines(&resp.body, resp.body_truncated) {
                    outln!("{line}");
                }
            });
            Ok(exit::PASS)
        }
        Err(e) => failed(
            a.common.json,
            "http",
            &target,
            started,
            e,
            json!({ "exchanges": serde_json::to_value(rec.drain()).unwrap_or(Value::Null) }),
        ),
    }
}

/// Body characters shown on the terminal; `--json` carries what the probe read.
const BODY_SHOWN_CHARS: usize = 2000;

/// The body as the terminal shows it: bounded, every line marked, control characters (an
/// escape sequence a device sends to repaint the terminal) escaped.
fn body_lines(body: &[u8], truncated_by_probe: bool) -> Vec<String> {
    if body.is_empty() {
        return vec!["  (empty body)".to_owned()];
    }
    let text = String::from_utf8_lossy(body);
    let shown: String = text.chars().take(BODY_SHOWN_CHARS).collect();
    let cut = truncated_by_probe || shown.len() < text.len();
    let mut lines = vec![format!(
        "  body ({} bytes{}):",
        body.len(),
        if cut { ", shown in part" } else { "" }
    )];
    lines.extend(
        shown
            .split('\n')
            .map(|line| format!("  | {}", sanitize_text(line).replace('\t', "\\t"))),
    );
    if cut {
        lines.push("  | …".to_owned());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_shown_bounded_with_control_characters_escaped() {
        let lines = body_lines(b"<html>\x1b[2Jhi\r\n</html>", false);
        assert_eq!(lines[0], "  body (21 bytes):");
        assert_eq!(lines[1], "  | <html>\\u{1b}[2Jhi\\u{d}");
        assert_eq!(lines[2], "  | </html>");
        assert!(lines.iter().all(|l| !l.contains('\u{1b}')));
        let long = vec![b'a'; 10_000];
        let lines = body_lines(&long, false);
        assert!(lines[0].contains("shown in part"), "{}", lines[0]);
        assert!(lines.iter().map(|l| l.len()).sum::<usize>() < 2100);
        assert_eq!(body_lines(b"", false), ["  (empty body)"]);
    }
}
