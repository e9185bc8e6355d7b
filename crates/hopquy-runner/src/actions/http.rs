//! `http` and `login` actions over the HTTP probe.

use std::collections::BTreeSet;

use hopquy_case::{Classifier, Op, Step};
use hopquy_probe::Credential;
use hopquy_probe::Recorder;
use hopquy_probe::http::{AuthMode, HttpRequest, HttpResponse, Scheme};
use serde_json::{Value, json};

use super::{ActionError, ActionOutput, RunContext, credential_label, credential_set, opt, opt_u64};
use crate::run::target_credential;

/// Upper bound on attempts in one step: brute-force checks need a handful, dictionary
/// checks a few hundred; anything more is a definition error, not a test.
const MAX_ATTEMPTS: u64 = 1000;

/// How the response reads as a login outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Rejected,
    Locked,
    Unknown,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
            Outcome::Locked => "locked",
            Outcome::Unknown => "unknown",
        }
    }
}

fn classify(op: Option<&Op>, resp: &HttpResponse) -> Outcome {
    let default_accepted = Classifier {
        status: (200..300).collect(),
        ..Default::default()
    };
    let default_rejected = Classifier {
        status: vec![401, 403],
        ..Default::default()
    };
    let (accepted, rejected, locked) = match op {
        Some(op) => (
            op.accepted.clone().unwrap_or(default_accepted),
            op.rejected.clone().unwrap_or(default_rejected),
            op.locked.clone(),
        ),
        None => (default_accepted, default_rejected, None),
    };
    // A lock signal is checked first: a locked device often answers with the same status
    // as a plain rejection, and only the body tells them apart.
    if locked.as_ref().is_some_and(|c| matches(c, resp)) {
        Outcome::Locked
    } else if matches(&accepted, resp) {
        Outcome::Accepted
    } else if matches(&rejected, resp) {
        Outcome::Rejected
    } else {
        Outcome::Unknown
    }
}

fn matches(c: &Classifier, resp: &HttpResponse) -> bool {
    if !c.status.is_empty() && !c.status.contains(&resp.status) {
        return false;
    }
    let body = String::from_utf8_lossy(&resp.body);
    if let Some(needle) = &c.body_contains
        && !body.contains(needle.as_str())
    {
        return false;
    }
    if let Some(re) = &c.body_matches {
        match regex::Regex::new(re) {
            Ok(re) if re.is_match(&body) => {}
            _ => return false,
        }
    }
    true
}

struct Prepared<'o> {
    op: Option<&'o Op>,
    op_name: Option<String>,
    scheme: Scheme,
    port: u16,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    auth: AuthMode,
}

fn prepare<'o>(step: &Step, ctx: &'o RunContext<'_>, tctx: &Value) -> Result<Prepared<'o>, ActionError> {
    let (op, op_name) = match &step.op {
        Some(name) => {
            let name = name.get_ref();
            let op = ctx
                .profile
                .ops
                .get(name)
                .ok_or_else(|| ActionError::NotApplicable(format!("the profile binds no operation `{name}`")))?;
            (Some(op), Some(name.clone()))
        }
        None => (None, None),
    };
    if op.is_some_and(|o| o.destructive == Some(true)) && !ctx.allow_destructive {
        return Err(ActionError::NotApplicable(
            "operation is destructive and --allow-destructive was not given".into(),
        ));
    }
    let port_value = opt(&step.port, tctx)?.or_else(|| op.and_then(|o| o.port.clone()).map(Value::String));
    let (port_name, port) = ctx.resolve_port(port_value.as_ref(), "http")?;
    let scheme = if port_name.starts_with("https") || port == 443 {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let method = step
        .method
        .clone()
        .or_else(|| op.and_then(|o| o.method.clone()))
        .unwrap_or_else(|| "GET".into())
        .to_ascii_uppercase();
    let path_raw = step
        .path
        .clone()
        .or_else(|| op.map(|o| o.path.clone()))
        .ok_or_else(|| ActionError::Definition("step has neither `op` nor `path`".into()))?;
    let path = match crate::template::resolve_str(&path_raw, tctx)? {
        Value::String(s) => s,
        other => other.to_string(),
    };
    if !path.starts_with('/') {
        return Err(ActionError::Definition(format!("path {path:?} must start with `/`")));
    }
    let mut headers = Vec::new();
    if let Some(ct) = op.and_then(|o| o.content_type.clone()) {
        headers.push(("Content-Type".to_owned(), ct));
    }
    for (k, v) in step.headers.iter().flatten() {
        let v = match crate::template::resolve_str(v, tctx)? {
            Value::String(s) => s,
            other => other.to_string(),
        };
        headers.push((k.clone(), v));
    }
    let body_raw = step.body.clone().or_else(|| op.and_then(|o| o.body.clone()));
    let body = match body_raw {
        Some(b) => Some(match crate::template::resolve_str(&b, tctx)? {
            Value::String(s) => s.into_bytes(),
            other => other.to_string().into_bytes(),
        }),
        None => None,
    };
    let auth_name = step
        .auth
        .as_ref()
        .map(|s| s.get_ref().clone())
        .filter(|s| s != "profile")
        .or_else(|| op.and_then(|o| o.auth.clone()))
        .unwrap_or_else(|| "any".into());
    let auth = match auth_name.as_str() {
        "none" => AuthMode::None,
        "basic" => AuthMode::Basic,
        "digest" => AuthMode::Digest,
        "any" => AuthMode::Any,
        other => return Err(ActionError::Definition(format!("unknown auth scheme `{other}`"))),
    };
    Ok(Prepared {
        op,
        op_name,
        scheme,
        port,
        method,
        path,
        headers,
        body,
        auth,
    })
}

async fn send_one(
    p: &Prepared<'_>,
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
    };
    Ok(ctx.http().await?.send(&req, rec).await?)
}

/// A single request (or `repeat` identical ones): full response observations.
pub async fn http(
    step: &Step,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
) -> Result<ActionOutput, ActionError> {
    let p = prepare(step, ctx, tctx)?;
    let default_creds = if matches!(p.auth, AuthMode::None) {
        "none"
    } else {
        "target"
    };
    let creds = credential_set(step, ctx, default_creds)?;
    let repeat = opt_u64(&step.repeat, tctx, "repeat")?
        .unwrap_or(1)
        .clamp(1, MAX_ATTEMPTS);
    if creds.len() != 1 {
        return Err(ActionError::Definition(
            "`http` takes one credential; use `login` for dictionaries".into(),
        ));
    }
    let fresh = step.fresh_connection.unwrap_or(false);
    let interval = opt_u64(&step.interval_ms, tctx, "interval_ms")?.unwrap_or(0);
    let mut last = None;
    let mut attempts = Vec::new();
    for i in 0..repeat {
        if i > 0 && interval > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(interval)).await;
        }
        let resp = send_one(&p, &creds[0], fresh, ctx, rec).await?;
        let outcome = classify(p.op, &resp);
        attempts.push(json!({"status": resp.status, "outcome": outcome.as_str()}));
        last = Some((resp, outcome));
    }
    let Some((resp, outcome)) = last else {
        return Err(ActionError::Definition("no request was sent".into()));
    };
    let mut obs = resp.observations();
    if let Value::Object(map) = &mut obs {
        map.insert("outcome".into(), Value::String(outcome.as_str().into()));
        map.insert("credential".into(), Value::String(credential_label(&creds[0])));
        let schemes: Vec<Value> = resp.challenges.iter().map(|c| Value::String(c.label())).collect();
        map.insert("challenge_schemes".into(), Value::Array(schemes));
        if repeat > 1 {
            for o in [Outcome::Accepted, Outcome::Rejected, Outcome::Locked, Outcome::Unknown] {
                let n = attempts.iter().filter(|a| a["outcome"] == o.as_str()).count();
                map.insert(o.as_str().into(), json!(n));
            }
            map.insert("attempts".into(), Value::Array(attempts));
        }
    }
    Ok(ActionOutput {
        observations: obs,
        ..Default::default()
    })
}

/// Login attempts over a credential set (× repeat): counts and outcomes.
pub async fn login(
    step: &Step,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
) -> Result<ActionOutput, ActionError> {
    let mut p = prepare_login(step, ctx, tctx)?;
    if matches!(p.auth, AuthMode::None) {
        p.auth = AuthMode::Any;
    }
    let creds = credential_set(step, ctx, "target")?;
    let repeat = opt_u64(&step.repeat, tctx, "repeat")?.unwrap_or(1).max(1);
    let total = repeat.saturating_mul(creds.len() as u64);
    if total > MAX_ATTEMPTS {
        return Err(ActionError::Definition(format!(
            "{total} attempts exceed the bound of {MAX_ATTEMPTS}"
        )));
    }
    let fresh = step.fresh_connection.unwrap_or(true);
    let stop_on_accept = step.stop_on_accept.unwrap_or(false);
    let interval = opt_u64(&step.interval_ms, tctx, "interval_ms")?.unwrap_or(0);
    let regenerate_wrong = step
        .credentials
        .as_ref()
        .is_some_and(|c| c.get_ref() == "wrong-password");
    // `reset_below = N`: after N-1 consecutive failures, log in once with the target's own
    // credentials. Most devices reset their failure counter on a success, so a long
    // dictionary never trips the lockout; a device that locks anyway rejects that control
    // login, and the step stops with `aborted = true` rather than mistake lock rejections
    // for "credential refused".
    let reset_below = match step.options.as_ref().and_then(|o| o.get("reset_below")) {
        Some(v) => match crate::template::resolve(v, tctx)? {
            Value::Number(n) => n.as_u64().filter(|n| *n >= 2),
            _ => None,
        }
        .ok_or_else(|| ActionError::Definition("`options.reset_below` must be an integer >= 2".into()))
        .map(Some)?,
        None => None,
    };
    let target = Some(target_credential(ctx.target));
    let mut consecutive_failures: u64 = 0;
    let mut resets = 0usize;
    let mut aborted = false;
    let mut fingerprints = Vec::new();

    let mut outcomes = Vec::new();
    let mut statuses = Vec::new();
    let mut accepted_credentials = Vec::new();
    let mut bodies = BTreeSet::new();
    let mut first_locked: Option<usize> = None;
    let mut attempts = Vec::new();
    let started = std::time::Instant::now();
    // Every attempt to make, in order. Wrong passwords are regenerated per round: a
    // brute-force attacker tries different passwords, and so do we.
    let mut pending: std::collections::VecDeque<Option<Credential>> = std::collections::VecDeque::new();
    for round in 0..repeat {
        for cred in &creds {
            if regenerate_wrong && round > 0 {
                pending.push_back(credential_set(step, ctx, "target")?.into_iter().next().flatten());
            } else {
                pending.push_back(cred.clone());
            }
        }
    }
    // `window_s` (with `reset_below`): a device may lock *any* user name after too many
    // failures, and only the target's own counter can be reset with a control login. So
    // other user names get at most `reset_below - 1` failures per window; their further
    // attempts wait until the window has passed.
    let window = match step.options.as_ref().and_then(|o| o.get("window_s")) {
        Some(v) => match crate::template::resolve(v, tctx)? {
            Value::Number(n) => n.as_u64().map(std::time::Duration::from_secs),
            _ => None,
        }
        .ok_or_else(|| ActionError::Definition("`options.window_s` must be a non-negative integer".into()))
        .map(Some)?,
        None => None,
    };
    let mut failures_by_user: std::collections::HashMap<String, Vec<std::time::Instant>> =
        std::collections::HashMap::new();
    let mut paced_ms: u64 = 0;
    'outer: loop {
        let eligible = |c: &Option<Credential>, now: std::time::Instant| -> bool {
            let (Some(limit), Some(window), Some(c)) = (reset_below, window, c) else {
                return true;
            };
            if c.username == ctx.target.username {
                return true;
            }
            let recent = failures_by_user
                .get(&c.username)
                .map_or(0, |v| v.iter().filter(|t| now.duration_since(**t) < window).count());
            (recent as u64) + 1 < limit
        };
        let now = std::time::Instant::now();
        let Some(index) = pending.iter().position(|c| eligible(c, now)) else {
            if pending.is_empty() {
                break;
            }
            // Everything left waits for a window to pass: sleep until the oldest failure ages out.
            let window_len = window.unwrap_or_default();
            let oldest = failures_by_user
                .values()
                .flatten()
                .filter(|t| now.duration_since(**t) < window_len)
                .min()
                .copied()
                .unwrap_or(now);
            let wait = window_len.saturating_sub(now.duration_since(oldest)) + std::time::Duration::from_millis(100);
            paced_ms += wait.as_millis() as u64;
            tokio::time::sleep(wait).await;
            continue;
        };
        let Some(cred) = pending.remove(index) else { break };
        {
            if !attempts.is_empty() && interval > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(interval)).await;
            }
            if let Some(limit) = reset_below
                && consecutive_failures + 1 >= limit
            {
                let control = send_one(&p, &target, fresh, ctx, rec).await?;
                resets += 1;
                if classify(p.op, &control) != Outcome::Accepted {
                    aborted = true;
                    break 'outer;
                }
                consecutive_failures = 0;
            }
            let resp = send_one(&p, &cred, fresh, ctx, rec).await?;
            let outcome = classify(p.op, &resp);
            let n = outcomes.len() + 1;
            if outcome == Outcome::Locked && first_locked.is_none() {
                first_locked = Some(n);
            }
            let fp = body_fingerprint(&resp);
            bodies.insert(fp.clone());
            fingerprints.push(json!(sha256_hex(fp.as_bytes())));
            if outcome == Outcome::Accepted {
                consecutive_failures = 0;
            } else {
                consecutive_failures += 1;
                if let Some(c) = &cred {
                    failures_by_user
                        .entry(c.username.clone())
                        .or_default()
                        .push(std::time::Instant::now());
                }
            }
            statuses.push(json!(resp.status));
            outcomes.push(json!(outcome.as_str()));
            attempts.push(json!({
                "n": n,
                "credential": credential_label(&cred),
                "status": resp.status,
                "outcome": outcome.as_str(),
                "elapsed_ms": resp.elapsed_ms,
                "t_ms": started.elapsed().as_millis() as u64,
            }));
            if outcome == Outcome::Accepted {
                accepted_credentials.push(json!(credential_label(&cred)));
                if stop_on_accept {
                    break 'outer;
                }
            }
        }
    }
    let count = |o: Outcome| outcomes.iter().filter(|x| *x == o.as_str()).count();
    let obs = json!({
        "attempts": outcomes.len(),
        "accepted": count(Outcome::Accepted),
        "rejected": count(Outcome::Rejected),
        "locked": count(Outcome::Locked),
        "unknown": count(Outcome::Unknown),
        "accepted_credentials": accepted_credentials,
        "outcomes": outcomes,
        "statuses": statuses,
        "distinct_bodies": bodies.len(),
        "body_fingerprints": fingerprints,
        "resets": resets,
        "paced_ms": paced_ms,
        "aborted": aborted,
        "first_locked_attempt": first_locked,
        "duration_ms": started.elapsed().as_millis() as u64,
        "detail": attempts,
    });
    Ok(ActionOutput {
        observations: obs,
        ..Default::default()
    })
}

fn prepare_login<'o>(step: &Step, ctx: &'o RunContext<'_>, tctx: &Value) -> Result<Prepared<'o>, ActionError> {
    if step.op.is_some() || step.path.is_some() {
        return prepare(step, ctx, tctx);
    }
    let mut s = step.clone();
    s.op = Some(toml::Spanned::new(0..0, "login-check".to_owned()));
    prepare(&s, ctx, tctx)
}

/// Bodies compared for "does the error reveal which part was wrong": nonces and times
/// differ between any two responses, so compare status plus body with digits masked.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn body_fingerprint(resp: &HttpResponse) -> String {
    let body = String::from_utf8_lossy(&resp.body);
    let masked: String = body.chars().map(|c| if c.is_ascii_digit() { '0' } else { c }).collect();
    format!("{} {}", resp.status, masked)
}

/// Poll the login check with the target's credentials until it is accepted again (a lockout
/// expired) or `seconds` + 30 s pass. Lets a lock-triggering case hand the device back in
/// the state it found it, without waiting the full declared duration when it is shorter.
pub async fn recover(
    step: &Step,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
) -> Result<ActionOutput, ActionError> {
    let p = prepare_login(step, ctx, tctx)?;
    let seconds = opt_u64(&step.seconds, tctx, "seconds")?.unwrap_or(300);
    if seconds > 3600 {
        return Err(ActionError::Definition(format!(
            "recover timeout of {seconds} s exceeds the 3600 s bound"
        )));
    }
    let interval = opt_u64(&step.interval_ms, tctx, "interval_ms")?
        .unwrap_or(1000)
        .max(200);
    let deadline = std::time::Duration::from_secs(seconds + 30);
    let target = Some(target_credential(ctx.target));
    let started = std::time::Instant::now();
    let mut polls = 0usize;
    let mut recovered = false;
    let mut last_status = Value::Null;
    while started.elapsed() < deadline {
        polls += 1;
        match send_one(&p, &target, true, ctx, rec).await {
            Ok(resp) => {
                last_status = json!(resp.status);
                if classify(p.op, &resp) == Outcome::Accepted {
                    recovered = true;
                    break;
                }
            }
            // A device busy recovering may drop a connection; keep polling until the deadline.
            Err(e) => last_status = json!(e.to_string()),
        }
        tokio::time::sleep(std::time::Duration::from_millis(interval)).await;
    }
    Ok(ActionOutput {
        observations: json!({
            "recovered": recovered,
            "polls": polls,
            "waited_ms": started.elapsed().as_millis() as u64,
            "last_status": last_status,
        }),
        ..Default::default()
    })
}
