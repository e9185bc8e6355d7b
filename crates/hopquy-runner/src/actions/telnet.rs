//! `telnet` action over the Telnet probe: is a Telnet service open, and what does it print
//! before any login. No credentials are ever sent.

use hopquy_case::Step;
use hopquy_probe::telnet::{self, DEFAULT_PORT};
use hopquy_probe::{ProbeError, Recorder};
use serde_json::{Value, json};

use super::{ActionError, ActionOutput, RunContext, opt};

pub async fn run(step: &Step, ctx: &RunContext<'_>, tctx: &Value, rec: &Recorder) -> Result<ActionOutput, ActionError> {
    let port = match opt(&step.port, tctx)? {
        Some(value) => ctx.resolve_port(Some(&value), "telnet")?.1,
        // Most profiles bind no telnet port: the service a camera must not run is looked
        // for where it usually is.
        None => ctx.port("telnet").unwrap_or(DEFAULT_PORT),
    };
    let mut observations = match telnet::probe(&ctx.device, port, rec).await {
        Ok(report) => report.observations(),
        Err(ProbeError::Invalid(why)) => return Err(ActionError::Definition(why)),
        // Refused, filtered or unreachable: no Telnet service answers, which is the finding.
        Err(e) => json!({
            "open": false,
            "prompt": null,
            "prompt_kind": null,
            "negotiation": [],
            "error": e.to_string(),
        }),
    };
    if let Value::Object(map) = &mut observations {
        map.insert("port".into(), json!(port));
    }
    Ok(ActionOutput {
        observations,
        ..Default::default()
    })
}

/// The Telnet login surface (not yet available).
pub(super) struct LoginPort;

pub(super) async fn login_port(
    _step: &Step,
    _ctx: &RunContext<'_>,
    _tctx: &Value,
    _rec: &Recorder,
    _map: &mut serde_json::Map<String, Value>,
) -> Result<Option<LoginPort>, ActionError> {
    Err(ActionError::Unsupported("login on surface telnet".into()))
}

impl LoginPort {
    pub(super) async fn attempt(
        &self,
        _cred: &Option<hopquy_probe::Credential>,
        _ctx: &RunContext<'_>,
        _rec: &Recorder,
    ) -> Result<super::dictionary::Attempt, ActionError> {
        Err(ActionError::Unsupported("login on surface telnet".into()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use hopquy_case::ProfileFile;
    use hopquy_probe::{Device, Limits, Redactor};
    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::actions::test_support::NoOperator;
    use crate::run::Target;

    async fn execute(step_text: &str, named_port: Option<u16>) -> Result<ActionOutput, ActionError> {
        let profile = ProfileFile::default();
        let target = Target {
            device: Default::default(),
            host: "127.0.0.1".into(),
            username: "admin".into(),
            password: "Target-Secret-9".into(),
            ports: named_port
                .map(|p| BTreeMap::from([("telnet".to_owned(), p)]))
                .unwrap_or_default(),
            declared: Value::Null,
            limits: Limits::default(),
        };
        let (credentials, paths) = (BTreeMap::new(), BTreeMap::new());
        let limits = Limits {
            io_timeout: std::time::Duration::from_millis(800),
            ..Limits::default()
        };
        let ctx = RunContext::new(
            Device::new("127.0.0.1", limits),
            &profile,
            &target,
            &credentials,
            &paths,
            Arc::new(NoOperator),
            Arc::new(Redactor::new()),
            false,
        );
        let step: Step = toml::from_str(step_text).unwrap();
        run(&step, &ctx, &json!({}), &Recorder::default()).await
    }

    #[tokio::test]
    async fn an_open_telnet_port_shows_its_prompt() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = s.write_all(&[0xFF, 0xFD, 0x18]).await;
                    let _ = s.write_all(b"\r\nIPCAM login: ").await;
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                });
            }
        });
        let out = execute("id = 't'\naction = 'telnet'", Some(port)).await.unwrap();
        let obs = out.observations;
        assert_eq!(obs["open"], true);
        assert_eq!(obs["prompt"], "IPCAM login:");
        assert_eq!(obs["prompt_kind"], "login");
        assert_eq!(obs["negotiation"], json!(["DO TERMINAL-TYPE"]));
        assert_eq!(obs["port"], port);
    }

    #[tokio::test]
    async fn a_closed_port_is_an_observation() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = execute(&format!("id = 't'\naction = 'telnet'\nport = {port}"), None)
            .await
            .unwrap();
        assert_eq!(out.observations["open"], false);
        assert_eq!(out.observations["prompt"], Value::Null);
    }
}
