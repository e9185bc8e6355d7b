//! `telnet` action over the Telnet probe: is a Telnet service open, and what does it print
//! before any login (no credentials are ever sent); and the Telnet surface of
//! `login`/`recover`, which does log in.

use hopquy_case::observations::TelnetObservations;
use hopquy_case::{LoginTarget, TelnetStep};
use hopquy_probe::telnet::{self, DEFAULT_PORT, LoginAnswer};
use hopquy_probe::{Credential, ProbeError, Recorder};
use serde_json::{Value, json};

use super::dictionary::{Attempt, Outcome, fingerprint};
use super::{ActionError, ActionOutput, RunContext, observed_as, opt};

pub async fn run(
    step: &TelnetStep,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
) -> Result<ActionOutput, ActionError> {
    // Most profiles bind no telnet port: the service a camera must not run is looked for
    // where it usually is.
    let port = telnet_port(&step.port, ctx, tctx)?;
    let mut observations = match telnet::probe(&ctx.device, port, rec).await {
        Ok(report) => observed_as::<TelnetObservations>(report.observations())?,
        Err(ProbeError::Invalid(why)) => return Err(ActionError::Definition(why)),
        // Refused, filtered or unreachable: no Telnet service answers, which is the finding.
        Err(e) => TelnetObservations {
            open: Some(false),
            prompt: Some(None),
            prompt_kind: Some(None),
            negotiation: Some(Vec::new()),
            error: Some(e.to_string()),
            ..Default::default()
        },
    };
    observations.port = Some(port);
    Ok(ActionOutput::observed(observations))
}

/// The Telnet login surface: a port that shows a login (or password) prompt.
pub(super) struct LoginPort {
    port: u16,
}

fn telnet_port(port: &Option<toml::Value>, ctx: &RunContext<'_>, tctx: &Value) -> Result<u16, ActionError> {
    Ok(match opt(port, tctx)? {
        Some(value) => ctx.resolve_port(Some(&value), "telnet")?.1,
        None => ctx.port("telnet").unwrap_or(DEFAULT_PORT),
    })
}

/// Look at the port without typing anything ([`telnet::probe`]): `None` when it refuses,
/// or shows no login prompt (a shell without any login is listed in `anonymous_allowed`).
pub(super) async fn login_port(
    target: &LoginTarget,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
    map: &mut serde_json::Map<String, Value>,
) -> Result<Option<LoginPort>, ActionError> {
    let port = telnet_port(&target.port, ctx, tctx)?;
    map.insert("port".into(), json!(port));
    let report = match telnet::probe(&ctx.device, port, rec).await {
        Ok(report) => report,
        Err(ProbeError::Invalid(why)) => return Err(ActionError::Definition(why)),
        // Only a refused connection shows there is no Telnet service (not applicable). A
        // timeout or a broken answer is a failure to observe: a service that is there but
        // slow must not make the case look not applicable.
        Err(e @ ProbeError::Refused(_)) => {
            map.insert("reachable".into(), json!(false));
            map.insert("route".into(), Value::Null);
            map.insert("anonymous_allowed".into(), json!([]));
            map.insert("error".into(), json!(e.to_string()));
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let kind = report.prompt_kind.as_deref();
    let route = matches!(kind, Some("login" | "password")).then(|| kind.unwrap_or_default().to_owned());
    let anonymous: Vec<&str> = if kind == Some("shell") { vec!["shell"] } else { vec![] };
    map.insert("reachable".into(), json!(true));
    map.insert("route".into(), json!(route));
    map.insert("anonymous_allowed".into(), json!(anonymous));
    map.insert("prompt".into(), json!(report.prompt));
    Ok(route.map(|_| LoginPort { port }))
}

impl LoginPort {
    /// One login on a fresh connection: a shell prompt is accepted, a failure message or a
    /// new login prompt rejected, anything else unknown (never a rejection).
    pub(super) async fn attempt(
        &self,
        cred: &Option<Credential>,
        ctx: &RunContext<'_>,
        rec: &Recorder,
    ) -> Result<Attempt, ActionError> {
        let Some(credential) = cred else {
            // Nothing to type: an anonymous attempt proves nothing either way.
            return Ok(Attempt::not_sent());
        };
        let login = match telnet::login(&ctx.device, self.port, credential, rec).await {
            Ok(login) => login,
            Err(ProbeError::Invalid(why)) => return Err(ActionError::Definition(why)),
            Err(e) => return Err(e.into()),
        };
        let outcome = match login.answer {
            LoginAnswer::Shell => Outcome::Accepted,
            LoginAnswer::Incorrect | LoginAnswer::Login => Outcome::Rejected,
            LoginAnswer::Unknown => Outcome::Unknown,
        };
        let status = json!(login.answer.as_str());
        Ok(Attempt {
            outcome,
            fingerprint: fingerprint(&status, login.reply.as_bytes()),
            status,
            elapsed_ms: login.elapsed_ms,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use hopquy_case::ProfileFile;
    use hopquy_probe::Limits;
    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::actions::test_support::context;

    async fn execute(step_text: &str, named_port: Option<u16>) -> Result<ActionOutput, ActionError> {
        let profile = ProfileFile::default();
        let target = match named_port {
            Some(port) => crate::actions::test_support::target("Target-Secret-9", &[("telnet", port)]),
            None => crate::actions::test_support::target("Target-Secret-9", &[]),
        };
        let (credentials, paths) = (BTreeMap::new(), BTreeMap::new());
        let limits = Limits {
            io_timeout: std::time::Duration::from_millis(800),
            ..Limits::default()
        };
        let ctx = context(limits, &profile, &target, &credentials, &paths);
        let step: hopquy_case::Step = toml::from_str(step_text).unwrap();
        let hopquy_case::StepAction::Telnet(telnet) = step.action.get_ref() else {
            panic!("not a telnet step: {step_text}");
        };
        run(telnet, &ctx, &json!({}), &Recorder::default()).await
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
