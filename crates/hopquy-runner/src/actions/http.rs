//! `http` action over the HTTP probe, and the HTTP login surface `login` uses.

use std::collections::BTreeMap;

use hopquy_case::observations::{HttpAttempt, HttpObservations, WebSurfaceUsed};
use hopquy_case::{Credential as CredentialKind, HttpAuth, HttpStep, Op, OpAuth};
use hopquy_probe::Credential;
use hopquy_probe::Recorder;
use hopquy_probe::http::{AuthMode, HttpRequest, HttpResponse, RawTargetRequest, Scheme};
use serde_json::Value;

use super::dictionary::{MAX_ATTEMPTS, Outcome};
use super::{ActionError, ActionOutput, RunContext, credential_label, observed_as, one_credential, opt_u64};

/// The profile operation `name`, when the run may call it: bound by the profile, and not
/// destructive unless `--allow-destructive` was given. Every HTTP-based action resolves its
/// operations here.
pub(super) fn bound_op<'p>(ctx: &RunContext<'p>, name: &str) -> Result<&'p Op, ActionError> {
    let op = ctx
        .profile
        .ops
        .get(name)
        .ok_or_else(|| ActionError::NotApplicable(format!("the profile binds no operation `{name}`")))?;
    if op.destructive == Some(true) && !ctx.allow_destructive {
        return Err(ActionError::NotApplicable(format!(
            "operation `{name}` is destructive and --allow-destructive was not given"
        )));
    }
    Ok(op)
}

/// The profile's own word for an operation's scheme (`any`, the default: whatever the device
/// challenges with).
pub(super) fn op_auth(op: Option<&Op>) -> Result<AuthMode, ActionError> {
    let Some(op) = op else { return Ok(AuthMode::Any) };
    Ok(match op.auth_mode() {
        Some(OpAuth::None) => AuthMode::None,
        Some(OpAuth::Basic) => AuthMode::Basic,
        Some(OpAuth::Digest) => AuthMode::Digest,
        Some(OpAuth::Any) => AuthMode::Any,
        None => {
            return Err(ActionError::Definition(format!(
                "unknown auth scheme `{}`",
                op.auth.as_deref().unwrap_or_default()
            )));
        }
    })
}

/// How an answer to the prepared request reads, by its op's classifiers (compiled when the
/// run started; a raw request has the defaults).
pub(super) fn classify(p: &Prepared, resp: &HttpResponse, ctx: &RunContext<'_>) -> Outcome {
    ctx.classifiers.op(p.op_name.as_deref()).login(resp.status, &resp.body)
}

pub(super) struct Prepared {
    pub(super) op_name: Option<String>,
    pub(super) scheme: Scheme,
    pub(super) port: u16,
    pub(super) method: String,
    pub(super) path: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Option<Vec<u8>>,
    pub(super) auth: AuthMode,
    /// The step's `redact`: secrets the answer carries, blanked by the probe.
    pub(super) answer_secrets: Option<regex::bytes::Regex>,
    /// The step's `request_target`: sent byte for byte by the probe's raw sender instead of
    /// `path` (which then holds the same text, for labels).
    pub(super) request_target: Option<String>,
}

/// The keys of a step that describe one request: an `http` step's, or those of a login on
/// the HTTP surface.
#[derive(Debug, Default)]
pub(super) struct RequestKeys<'s> {
    pub(super) op: Option<&'s str>,
    pub(super) method: Option<&'s str>,
    pub(super) path: Option<&'s str>,
    pub(super) request_target: Option<&'s str>,
    pub(super) port: Option<&'s toml::Value>,
    pub(super) auth: Option<HttpAuth>,
    pub(super) headers: Option<&'s BTreeMap<String, String>>,
    pub(super) body: Option<&'s str>,
}

impl<'s> RequestKeys<'s> {
    fn of(step: &'s HttpStep) -> Self {
        RequestKeys {
            op: step.op.as_ref().map(|op| op.get_ref().as_str()),
            method: step.method.as_deref(),
            path: step.path.as_deref(),
            request_target: step.request_target.as_deref(),
            port: step.port.as_ref(),
            auth: step.auth.as_ref().map(|auth| *auth.get_ref()),
            headers: step.headers.as_ref(),
            body: step.body.as_deref(),
        }
    }
}

pub(super) async fn prepare(
    step: &RequestKeys<'_>,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
) -> Result<Prepared, ActionError> {
    let (op, op_name) = match step.op {
        Some(name) => (Some(bound_op(ctx, name)?), Some(name.to_owned())),
        None => (None, None),
    };
    let port_value = step
        .port
        .map(|port| crate::template::resolve(port, tctx))
        .transpose()?
        .or_else(|| op.and_then(|o| o.port.clone()).map(Value::String));
    let (scheme, port) = ctx.web_endpoint(port_value.as_ref(), rec).await?;
    let method = step
        .method
        .map(str::to_owned)
        .or_else(|| op.and_then(|o| o.method.clone()))
        .unwrap_or_else(|| "GET".into())
        .to_ascii_uppercase();
    let path_raw = step
        .request_target
        .or(step.path)
        .map(str::to_owned)
        .or_else(|| op.map(|o| o.path.clone()))
        .ok_or_else(|| ActionError::Definition("step has neither `op` nor `path`".into()))?;
    let path = match crate::template::resolve_str(&path_raw, tctx)? {
        Value::String(s) => s,
        other => other.to_string(),
    };
    // A request-target is checked by the probe, which sends it as is.
    if step.request_target.is_none() && !path.starts_with('/') {
        return Err(ActionError::Definition(format!("path {path:?} must start with `/`")));
    }
    let mut headers = Vec::new();
    if let Some(ct) = op.and_then(|o| o.content_type.clone()) {
        headers.push(("Content-Type".to_owned(), ct));
    }
    for (k, v) in step.headers.into_iter().flatten() {
        let v = match crate::template::resolve_str(v, tctx)? {
            Value::String(s) => s,
            other => other.to_string(),
        };
        headers.push((k.clone(), v));
    }
    let body_raw = step.body.map(str::to_owned).or_else(|| op.and_then(|o| o.body.clone()));
    let body = match body_raw {
        Some(b) => Some(match crate::template::resolve_str(&b, tctx)? {
            Value::String(s) => s.into_bytes(),
            other => other.to_string().into_bytes(),
        }),
        None => None,
    };
    let auth = match step.auth {
        // Anonymous whatever else the step says: the raw sender takes no credentials.
        _ if step.request_target.is_some() => AuthMode::None,
        Some(HttpAuth::None) => AuthMode::None,
        Some(HttpAuth::Basic) => AuthMode::Basic,
        Some(HttpAuth::Digest) => AuthMode::Digest,
        // The profile's own word for the op's scheme (`any`: whatever the device challenges with).
        Some(HttpAuth::Profile) | None => op_auth(op)?,
    };
    let request_target = step.request_target.is_some().then(|| path.clone());
    Ok(Prepared {
        op_name,
        scheme,
        port,
        method,
        path,
        headers,
        body,
        auth,
        answer_secrets: None,
        request_target,
    })
}

/// Which surface the step used and why: the discovered one, or the port the step named.
pub(super) fn web_surface_observation(ctx: &RunContext<'_>, p: &Prepared) -> WebSurfaceUsed {
    match ctx.discovered_web_surface() {
        Some(s) if s.scheme == p.scheme && s.port == p.port => s.observation(),
        _ => WebSurfaceUsed {
            scheme: p.scheme.as_str().to_owned(),
            port: p.port,
            reason: "the step names this port itself".into(),
            certificate_sha256: None,
        },
    }
}

pub(super) async fn send_one(
    p: &Prepared,
    cred: &Option<Credential>,
    fresh: bool,
    ctx: &RunContext<'_>,
    rec: &Recorder,
) -> Result<HttpResponse, ActionError> {
    let label = format!(
        "{} {}{} as {}",
        p.method,
        p.path,
        p.op_name.as_ref().map(|o| format!(" (op {o})")).unwrap_or_default(),
        credential_label(cred)
    );
    if let Some(target) = &p.request_target {
        if cred.is_some() {
            // The case checker refuses credentials with a request-target; never send one anyway.
            return Err(ActionError::Definition(
                "a `request_target` request is sent without credentials".into(),
            ));
        }
        let req = RawTargetRequest {
            scheme: p.scheme,
            port: p.port,
            method: p.method.clone(),
            target: target.clone(),
            headers: p.headers.clone(),
            label,
            answer_secrets: p.answer_secrets.clone(),
        };
        return Ok(ctx.http().await?.send_raw_target(&req, rec).await?);
    }
    let req = HttpRequest {
        scheme: p.scheme,
        port: p.port,
        method: p.method.clone(),
        path: p.path.clone(),
        headers: p.headers.clone(),
        body: p.body.clone(),
        auth: if cred.is_none() { AuthMode::None } else { p.auth },
        credential: cred.clone(),
        fresh_connection: fresh,
        label,
        answer_secrets: p.answer_secrets.clone(),
    };
    Ok(ctx.http().await?.send(&req, rec).await?)
}

/// A single request (or `repeat` identical ones): full response observations.
pub async fn http(
    step: &HttpStep,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
) -> Result<ActionOutput, ActionError> {
    let mut p = prepare(&RequestKeys::of(step), ctx, tctx, rec).await?;
    if let Some(pattern) = &step.redact {
        // Validation took it; a pattern that still does not compile must not let secrets through.
        let secrets = pattern
            .bytes_regex()
            .ok_or_else(|| ActionError::Definition(format!("`redact` is not a valid regular expression: {pattern}")))?;
        p.answer_secrets = Some(secrets.clone());
    }
    let default_credential = if matches!(p.auth, AuthMode::None) {
        CredentialKind::None
    } else {
        CredentialKind::Target
    };
    let credential = step.credentials.as_ref().map_or(default_credential, |c| *c.get_ref());
    let creds = [one_credential(credential, ctx)];
    let repeat = opt_u64(&step.repeat, tctx, "repeat")?
        .unwrap_or(1)
        .clamp(1, MAX_ATTEMPTS);
    let fresh = step.fresh_connection.unwrap_or(false);
    let interval = opt_u64(&step.interval_ms, tctx, "interval_ms")?.unwrap_or(0);
    let mut last = None;
    let mut attempts = Vec::new();
    for i in 0..repeat {
        if i > 0 && interval > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(interval)).await;
        }
        let resp = send_one(&p, &creds[0], fresh, ctx, rec).await?;
        let outcome = classify(&p, &resp, ctx);
        attempts.push(HttpAttempt {
            status: resp.status,
            outcome: outcome.as_str().to_owned(),
        });
        last = Some((resp, outcome));
    }
    let Some((resp, outcome)) = last else {
        return Err(ActionError::Definition("no request was sent".into()));
    };
    let mut obs = observed_as::<HttpObservations>(resp.observations())?;
    obs.outcome = Some(outcome.as_str().to_owned());
    obs.credential = Some(credential_label(&creds[0]));
    obs.challenge_schemes = Some(resp.challenges.iter().map(|c| c.label()).collect());
    obs.web_surface = Some(web_surface_observation(ctx, &p));
    if repeat > 1 {
        let count = |o: Outcome| attempts.iter().filter(|a| a.outcome == o.as_str()).count() as u64;
        obs.accepted = Some(count(Outcome::Accepted));
        obs.rejected = Some(count(Outcome::Rejected));
        obs.locked = Some(count(Outcome::Locked));
        obs.unknown = Some(count(Outcome::Unknown));
        obs.attempts = Some(attempts);
    }
    Ok(ActionOutput::observed(obs))
}
