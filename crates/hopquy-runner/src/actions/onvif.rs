//! `onvif` action: one device-service operation, or the anonymous read sweep (`op = "sweep"`);
//! and the ONVIF surface of `login`/`recover`.

use std::sync::Mutex;

use hopquy_case::observations::OnvifObservations;
use hopquy_case::{Credential as CredentialKind, LoginTarget, OnvifAuth as AuthKind, OnvifLoginAuth, OnvifStep};
use hopquy_probe::Credential;
use hopquy_probe::Recorder;
use hopquy_probe::http::Scheme;
use hopquy_probe::onvif::{AccessClass, CallOutcome, OnvifAuth, OnvifProbe, SweepOptions, operation};
use serde_json::{Map, Value, json};

use super::dictionary::{Attempt, Outcome, fingerprint};
use super::{ActionError, ActionOutput, RunContext, credential_label, observed_as, one_credential, opt};

/// The `op` value that runs the anonymous sweep instead of one operation.
pub const SWEEP: &str = "sweep";

/// What the step's keys and options ask for, checked before anything is sent.
struct Plan {
    operation: String,
    scheme: Scheme,
    port: u16,
    credential: Option<Credential>,
    auth: AuthKind,
    sweep: SweepOptions,
    token_checks: bool,
    arguments: Option<String>,
    service_path: Option<String>,
}

fn bool_option(value: &Option<toml::Value>, name: &str) -> Result<bool, ActionError> {
    match value {
        None => Ok(false),
        Some(toml::Value::Boolean(b)) => Ok(*b),
        Some(other) => Err(ActionError::Definition(format!(
            "`options.{name}` must be true or false, not {other}"
        ))),
    }
}

fn string_option(value: &Option<toml::Value>, name: &str) -> Result<Option<String>, ActionError> {
    match value {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ActionError::Definition(format!(
            "`options.{name}` must be a string, not {other}"
        ))),
    }
}

/// Everything about the step but where it goes (`scheme`, `port`: set by the caller once the
/// definition is known to be sound, so nothing is sent for a broken step).
fn plan(step: &OnvifStep, ctx: &RunContext<'_>) -> Result<Plan, ActionError> {
    let operation_name = step.op.get_ref().clone();
    if operation_name != SWEEP && !hopquy_probe::onvif::is_operation_name(&operation_name) {
        return Err(ActionError::Definition(format!(
            "`{operation_name}` is not an ONVIF operation name"
        )));
    }
    let (scheme, port) = (Scheme::Http, 0);

    let auth_given = step.auth.as_ref().map(|a| *a.get_ref());
    let default_credentials = match auth_given {
        Some(AuthKind::Digest | AuthKind::UsernameToken) => CredentialKind::Target,
        _ => CredentialKind::None,
    };
    let credential = one_credential(
        step.credentials.as_ref().map_or(default_credentials, |c| *c.get_ref()),
        ctx,
    );
    let auth = match (auth_given, &credential) {
        (None, None) | (Some(AuthKind::None), _) => AuthKind::None,
        (None, Some(_)) | (Some(AuthKind::Digest), Some(_)) => AuthKind::Digest,
        (Some(AuthKind::UsernameToken), Some(_)) => AuthKind::UsernameToken,
        (Some(mode @ (AuthKind::Digest | AuthKind::UsernameToken)), None) => {
            return Err(ActionError::Definition(format!(
                "auth `{mode}` needs credentials other than `none`"
            )));
        }
    };
    let credential = if auth == AuthKind::None { None } else { credential };

    let sweep = SweepOptions {
        include_write: bool_option(&step.options.include_write, "include_write")?,
        include_unrecoverable: bool_option(&step.options.include_unrecoverable, "include_unrecoverable")?,
        concurrency: 0,
    };
    let unrecoverable = operation(&operation_name).is_some_and(|o| o.access_class == AccessClass::Unrecoverable);
    if (sweep.include_unrecoverable || unrecoverable) && !ctx.allow_destructive {
        return Err(ActionError::NotApplicable(
            "UNRECOVERABLE ONVIF operations (reboot, factory reset, firmware) need --allow-destructive".into(),
        ));
    }
    let token_checks = bool_option(&step.options.token_checks, "token_checks")?;
    if token_checks && credential.is_none() {
        return Err(ActionError::Definition(
            "`options.token_checks` needs credentials".into(),
        ));
    }
    let service_path = string_option(&step.options.path, "path")?;
    if service_path.as_ref().is_some_and(|p| !p.starts_with('/')) {
        return Err(ActionError::Definition("`options.path` must start with `/`".into()));
    }
    Ok(Plan {
        operation: operation_name,
        scheme,
        port,
        credential,
        auth,
        sweep,
        token_checks,
        arguments: string_option(&step.options.arguments, "arguments")?,
        service_path,
    })
}

fn onvif_auth(plan: &Plan) -> OnvifAuth {
    match (&plan.credential, plan.auth) {
        (Some(c), AuthKind::UsernameToken) => OnvifAuth::UsernameToken(c.clone()),
        (Some(c), _) => OnvifAuth::Digest(c.clone()),
        (None, _) => OnvifAuth::None,
    }
}

pub async fn run(
    step: &OnvifStep,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
) -> Result<ActionOutput, ActionError> {
    let mut plan = plan(step, ctx)?;
    (plan.scheme, plan.port) = ctx.web_endpoint(opt(&step.port, tctx)?.as_ref(), rec).await?;
    let mut probe = OnvifProbe::new(ctx.device.clone(), plan.scheme, plan.port)?;
    if let Some(path) = &plan.service_path {
        probe = probe.with_path(path.clone());
    }
    let auth = onvif_auth(&plan);
    let mut observations = if plan.operation == SWEEP {
        let report = probe.sweep(&plan.sweep, rec).await?;
        let mut obs = report.observations();
        if let Value::Object(map) = &mut obs {
            let authenticated = match &auth {
                OnvifAuth::None => Value::Null,
                _ => probe.call("GetDeviceInformation", &auth, rec).await?.observations(),
            };
            map.insert("device_information".into(), authenticated["device_information"].clone());
            map.insert("authenticated".into(), authenticated);
        }
        obs
    } else {
        let call = match &plan.arguments {
            Some(arguments) => {
                probe
                    .call_with_arguments(&plan.operation, arguments, &auth, rec)
                    .await?
            }
            None => probe.call(&plan.operation, &auth, rec).await?,
        };
        call.observations()
    };
    if let Value::Object(map) = &mut observations {
        map.insert("credential".into(), Value::String(credential_label(&plan.credential)));
        map.entry("auth_mode")
            .or_insert_with(|| Value::String(plan.auth.as_str().to_owned()));
        if plan.token_checks
            && let Some(c) = &plan.credential
        {
            map.insert("token_checks".into(), probe.token_checks(c, rec).await.observations());
        }
    }
    Ok(ActionOutput::observed(observed_as::<OnvifObservations>(observations)?))
}

/// Operations a login tries, in order, when the step names none: the user list needs
/// credentials on every conforming device; device information on many.
const LOGIN_OPERATIONS: &[&str] = &["GetUsers", "GetDeviceInformation"];

/// The ONVIF login surface: one operation that refused an anonymous call, and the way
/// credentials go out (HTTP Digest or a WS-UsernameToken).
pub(super) struct LoginCall {
    probe: OnvifProbe,
    operation: String,
    token: bool,
    auth_used: Mutex<Vec<String>>,
}

/// Find the operation to log in with: the step's `op`, else the first of
/// [`LOGIN_OPERATIONS`] that refuses an anonymous call. `None` when the service is not
/// reachable or every candidate answered anonymously (or faulted); `map` says which.
pub(super) async fn login_call(
    target: &LoginTarget,
    ctx: &RunContext<'_>,
    tctx: &Value,
    fresh: bool,
    rec: &Recorder,
    map: &mut Map<String, Value>,
) -> Result<Option<LoginCall>, ActionError> {
    let token = target.onvif_auth() == Some(OnvifLoginAuth::UsernameToken);
    let candidates: Vec<String> = match &target.op {
        Some(op) => {
            let op = op.get_ref();
            if !hopquy_probe::onvif::is_operation_name(op) {
                return Err(ActionError::Definition(format!(
                    "`{op}` is not an ONVIF operation name"
                )));
            }
            vec![op.clone()]
        }
        None => LOGIN_OPERATIONS.iter().map(|s| (*s).to_owned()).collect(),
    };
    let (scheme, port) = ctx.web_endpoint(opt(&target.port, tctx)?.as_ref(), rec).await?;
    let probe = OnvifProbe::new(ctx.device.clone(), scheme, port)?.with_fresh_connections(fresh);
    map.insert("port".into(), json!(port));
    map.insert(
        "auth_mode".into(),
        json!(if token { "usernametoken" } else { "digest" }),
    );
    let mut anonymous = Vec::new();
    let mut chosen = None;
    for operation in candidates {
        let call = match probe.call(&operation, &OnvifAuth::None, rec).await {
            Ok(call) => call,
            Err(e) if e.is_unreachable() => {
                map.insert("reachable".into(), json!(false));
                map.insert("route".into(), Value::Null);
                map.insert("anonymous_allowed".into(), json!(anonymous));
                map.insert("error".into(), json!(e.to_string()));
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        match call.outcome {
            CallOutcome::Refused => {
                chosen = Some(operation);
                break;
            }
            CallOutcome::Answered => anonymous.push(operation),
            // Not supported, or not ONVIF here: the next candidate may be.
            _ => {}
        }
    }
    map.insert("reachable".into(), json!(true));
    map.insert("route".into(), json!(chosen));
    map.insert("anonymous_allowed".into(), json!(anonymous));
    Ok(chosen.map(|operation| LoginCall {
        probe,
        operation,
        token,
        auth_used: Mutex::new(Vec::new()),
    }))
}

impl LoginCall {
    /// One call with `cred`. An answer is accepted; a refusal (401/403, `NotAuthorized`)
    /// rejected; a Digest attempt the device never challenged went out anonymously, so it
    /// is unknown, never a rejection of that credential.
    pub(super) async fn attempt(&self, cred: &Option<Credential>, rec: &Recorder) -> Result<Attempt, ActionError> {
        let auth = match cred {
            None => OnvifAuth::None,
            Some(c) if self.token => OnvifAuth::UsernameToken(c.clone()),
            Some(c) => OnvifAuth::Digest(c.clone()),
        };
        let call = self.probe.call(&self.operation, &auth, rec).await?;
        if let Some(scheme) = &call.auth_used
            && let Ok(mut used) = self.auth_used.lock()
            && !used.contains(scheme)
        {
            used.push(scheme.clone());
        }
        let outcome = if cred.is_some() && call.auth_mode == "none" {
            Outcome::Unknown
        } else {
            match call.outcome {
                CallOutcome::Answered => Outcome::Accepted,
                CallOutcome::Refused => Outcome::Rejected,
                _ => Outcome::Unknown,
            }
        };
        let status = json!(call.status);
        let answer = call
            .fault
            .as_ref()
            .map(|f| f.primary().to_owned())
            .or_else(|| call.response.as_ref().map(|r| r.local.clone()))
            .unwrap_or_default();
        Ok(Attempt {
            outcome,
            fingerprint: fingerprint(&status, answer.as_bytes()),
            status,
            elapsed_ms: call.elapsed_ms,
        })
    }

    pub(super) fn auth_used(&self) -> Vec<String> {
        self.auth_used.lock().map(|u| u.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use hopquy_case::ProfileFile;
    use hopquy_probe::{Device, Limits, Redactor};
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::actions::test_support::{NoOperator, context};
    use crate::run::Target;

    const ANSWER: &str = r#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><Response xmlns="urn:x"/></e:Body></e:Envelope>"#;

    /// A careless device: answers every request 200 with a SOAP body, and keeps the bodies.
    async fn leaky_device() -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let keep = keep.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut got = Vec::new();
                    // One request per connection: read until the body's closing tag.
                    while !String::from_utf8_lossy(&got).contains("</s:Envelope>") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    keep.lock().unwrap().push(String::from_utf8_lossy(&got).into_owned());
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{ANSWER}",
                        ANSWER.len()
                    );
                    let _ = s.write_all(reply.as_bytes()).await;
                });
            }
        });
        (port, seen)
    }

    fn target(port: u16) -> Target {
        crate::actions::test_support::target("Target-Secret-1", &[("http", port)])
    }

    fn step(toml_text: &str) -> OnvifStep {
        match crate::actions::test_support::action(&format!("id = \"s\"\naction = \"onvif\"\n{toml_text}")) {
            hopquy_case::StepAction::Onvif(step) => step,
            other => panic!("not an onvif step: {other:?}"),
        }
    }

    async fn run_step(port: u16, toml_text: &str, allow_destructive: bool) -> Result<ActionOutput, ActionError> {
        let profile = ProfileFile::default();
        let target = target(port);
        let (creds, paths) = (BTreeMap::new(), BTreeMap::new());
        let ctx = RunContext::new(
            Device::new("127.0.0.1", Limits::default()),
            &profile,
            &target,
            &creds,
            &paths,
            Arc::new(NoOperator),
            Arc::new(Redactor::new()),
            allow_destructive,
        );
        run(&step(toml_text), &ctx, &Value::Null, &Recorder::default()).await
    }

    #[tokio::test]
    async fn a_protected_operation_answered_anonymously_is_observed() {
        let (port, _) = leaky_device().await;
        let out = run_step(port, "op = \"GetUsers\"", false).await.unwrap();
        let obs = out.observations;
        assert_eq!(obs["status"], 200);
        assert_eq!(obs["anonymous_allowed"], true);
        assert_eq!(obs["access_class"], "READ_SYSTEM_SECRET");
        assert_eq!(obs["fault"], Value::Null);
        assert_eq!(obs["credential"], "anonymous");
    }

    #[tokio::test]
    async fn the_sweep_lists_violations_and_authenticates_for_identity() {
        let (port, seen) = leaky_device().await;
        let out = run_step(port, "op = \"sweep\"\ncredentials = \"target\"", false)
            .await
            .unwrap();
        let obs = out.observations;
        let violations = obs["violations"].as_array().unwrap();
        assert!(violations.contains(&json!("GetUsers")) && violations.contains(&json!("GetDeviceInformation")));
        assert!(!violations.contains(&json!("GetSystemDateAndTime")));
        assert_eq!(obs["credential"], "admin:[REDACTED]");
        assert_eq!(obs["auth_mode"], "digest");
        assert_eq!(obs["authenticated"]["operation"], "GetDeviceInformation");
        // A read sweep sends no write or unrecoverable operation.
        let bodies = seen.lock().unwrap().clone();
        assert!(
            bodies
                .iter()
                .all(|b| !b.contains("SetHostname") && !b.contains("SystemReboot"))
        );
        assert!(bodies.iter().all(|b| !b.contains("Target-Secret-1")));
    }

    #[tokio::test]
    async fn destructive_operations_need_the_flag_and_nothing_is_sent_without_it() {
        let (port, seen) = leaky_device().await;
        let err = run_step(port, "op = \"SystemReboot\"", false).await.unwrap_err();
        assert!(matches!(err, ActionError::NotApplicable(_)), "{err:?}");
        let err = run_step(
            port,
            "op = \"sweep\"\noptions = { include_unrecoverable = true }",
            false,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ActionError::NotApplicable(_)), "{err:?}");
        assert!(seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn definitions_are_checked_before_anything_is_sent() {
        let (port, seen) = leaky_device().await;
        for bad in [
            "op = \"Get Users\"",
            "op = \"GetUsers\"\nauth = \"usernametoken\"\ncredentials = \"none\"",
            "op = \"GetUsers\"\noptions = { token_checks = true }",
            "op = \"GetUsers\"\noptions = { include_write = \"yes\" }",
        ] {
            let err = run_step(port, bad, false).await.unwrap_err();
            assert!(matches!(err, ActionError::Definition(_)), "{bad}: {err:?}");
        }
        // These no longer make a step: the typed step refuses them when the case loads.
        for bad in [
            "op = \"GetUsers\"\nauth = \"basic\"",
            "op = \"GetUsers\"\ncredentials = \"dictionary:defaults\"",
            "op = \"GetUsers\"\noptions = { token_check = true }",
        ] {
            let parsed = toml::from_str::<hopquy_case::Step>(&format!("id = \"s\"\naction = \"onvif\"\n{bad}"));
            assert!(parsed.is_err(), "{bad}");
        }
        assert!(seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_login_needs_an_operation_that_refuses_anonymous_calls() {
        let (port, seen) = leaky_device().await;
        let profile = ProfileFile::default();
        let target = target(port);
        let (creds, paths) = (BTreeMap::new(), BTreeMap::new());
        let ctx = context(Limits::default(), &profile, &target, &creds, &paths);
        let hopquy_case::StepAction::Login(step) = crate::actions::test_support::action(
            "id = 'l'\naction = 'login'\nsurface = 'onvif'\nauth = 'usernametoken'\ncredentials = 'wrong-password'",
        ) else {
            panic!("not a login step");
        };
        let obs = crate::actions::login::login(&step, &ctx, &Value::Null, &Recorder::default())
            .await
            .unwrap()
            .observations;
        assert_eq!(obs["reachable"], true);
        assert_eq!(obs["route"], Value::Null);
        assert_eq!(obs["anonymous_allowed"], json!(["GetUsers", "GetDeviceInformation"]));
        assert_eq!((obs["attempts"].clone(), obs["accepted"].clone()), (json!(0), json!(0)));
        assert_eq!(obs["auth_mode"], "usernametoken");
        // Only the two anonymous probes went out: no credential was sent to a device that
        // needs none.
        let bodies = seen.lock().unwrap().clone();
        assert_eq!(bodies.len(), 2);
        assert!(bodies.iter().all(|b| !b.contains("UsernameToken")));
    }

    #[tokio::test]
    async fn usernametoken_defaults_to_the_target_credential() {
        let (port, seen) = leaky_device().await;
        let out = run_step(port, "op = \"GetDeviceInformation\"\nauth = \"usernametoken\"", false)
            .await
            .unwrap();
        assert_eq!(out.observations["credential"], "admin:[REDACTED]");
        assert_eq!(out.observations["auth_mode"], "usernametoken");
        let bodies = seen.lock().unwrap().clone();
        assert!(
            bodies
                .iter()
                .any(|b| b.contains("<wsse:Username>admin</wsse:Username>"))
        );
    }
}
