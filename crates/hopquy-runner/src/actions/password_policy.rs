//! `password-policy`: does the device refuse passwords its rule forbids?
//!
//! Changing the lab's own password to a weak value would put that password in case templates
//! and risk locking the lab out, so the action works on **temporary users** instead: it creates
//! one user per weak candidate through the profile's `create-user` operation (authenticated as
//! the target), deletes every user the device may have created at once through `delete-user`,
//! and finishes with a compliant random control password that must be accepted, or the refusals
//! prove nothing. Device answers become observations; the action never returns an error once a
//! user may exist, so what it left behind always reaches the evidence.

use std::collections::BTreeSet;

use hopquy_case::observations::PasswordPolicyObservations;
use hopquy_case::{Op, PasswordPolicyOptions, PasswordPolicyStep};
use hopquy_probe::http::{AuthMode, HttpRequest, HttpResponse, Scheme};
use hopquy_probe::{Credential, Recorder, Redactor};
use serde_json::{Value, json};

use super::{ActionError, ActionOutput, RunContext};
use crate::classify::Outcome;
use crate::run::target_credential;
use crate::template;

/// Decision 724 2b.
const DEFAULT_MIN_LENGTH: u64 = 8;
/// Also hopquy-case's bound on a declared minimum.
const MAX_MIN_LENGTH: u64 = 64;
/// Control passwords are this long unless the rule asks for more: within what every family
/// we bind accepts (Hikvision allows 8–16), and far from any minimum.
const CONTROL_LENGTH: usize = 12;
/// Consecutive transport failures after which no further user is created: the device has
/// stopped answering, and every attempt would only wait out a timeout.
const MAX_CONSECUTIVE_FAILURES: usize = 2;
/// Public, non-sequential lowercase padding for the candidates, so each one breaks exactly
/// the part of the rule it is named after (and not a "no sequences" rule as well).
const FILLER: &str = "mtkzwrpnbgxhjdcfsqlv";
/// The special character of every candidate and of the control: a device that refuses the
/// character itself then refuses the control too, and the case is inconclusive, not a pass.
const SPECIAL: char = '!';
/// A dictionary password every guessing list starts with.
const COMMON_PASSWORD: &str = "password1";
const CLASSES: &[&str] = &["upper", "lower", "digit", "special"];

/// The rule under test.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Policy {
    min_length: usize,
    upper: bool,
    lower: bool,
    digit: bool,
    special: bool,
}

/// Whether a character belongs to a class.
type CharTest = fn(char) -> bool;

fn is_special(c: char) -> bool {
    !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control()
}

impl Policy {
    fn from_options(options: &PasswordPolicyOptions, tctx: &Value) -> Result<(Policy, bool), ActionError> {
        let option = |value: &Option<toml::Value>| -> Result<Option<Value>, ActionError> {
            match value {
                Some(value) => Ok(Some(template::resolve(value, tctx)?)).map(|v| v.filter(|v| !v.is_null())),
                None => Ok(None),
            }
        };
        let min_length = match option(&options.min_length)? {
            None => DEFAULT_MIN_LENGTH,
            Some(Value::Number(n)) => n.as_u64().filter(|n| (1..=MAX_MIN_LENGTH).contains(n)).ok_or_else(|| {
                ActionError::Definition(format!("`options.min_length` must be 1–{MAX_MIN_LENGTH}, got {n}"))
            })?,
            Some(other) => {
                return Err(ActionError::Definition(format!(
                    "`options.min_length` must be an integer, got {other}"
                )));
            }
        };
        let classes: Vec<String> = match option(&options.required_classes)? {
            None => CLASSES.iter().map(|c| (*c).to_owned()).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item.as_str() {
                    Some(class) if CLASSES.contains(&class) => Ok(class.to_owned()),
                    _ => Err(ActionError::Definition(format!(
                        "`options.required_classes` holds {item}; expected upper, lower, digit or special"
                    ))),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(ActionError::Definition(format!(
                    "`options.required_classes` must be a list, got {other}"
                )));
            }
        };
        let login_check = match option(&options.login_check)? {
            None => true,
            Some(Value::Bool(b)) => b,
            Some(other) => {
                return Err(ActionError::Definition(format!(
                    "`options.login_check` must be true or false, got {other}"
                )));
            }
        };
        let has = |class: &str| classes.iter().any(|c| c == class);
        Ok((
            Policy {
                min_length: min_length as usize,
                upper: has("upper"),
                lower: has("lower"),
                digit: has("digit"),
                special: has("special"),
            },
            login_check,
        ))
    }

    fn describe(&self) -> Value {
        let classes: Vec<&str> = [
            (self.upper, "upper"),
            (self.lower, "lower"),
            (self.digit, "digit"),
            (self.special, "special"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        json!({"min_length": self.min_length, "required_classes": classes})
    }

    /// The parts of the rule `password` breaks; empty when it complies.
    fn violations(&self, password: &str) -> Vec<&'static str> {
        let mut broken = Vec::new();
        if password.chars().count() < self.min_length {
            broken.push("too-short");
        }
        let checks: [(bool, &'static str, CharTest); 4] = [
            (self.upper, "no-upper", char::is_uppercase),
            (self.lower, "no-lower", char::is_lowercase),
            (self.digit, "no-digit", |c| c.is_ascii_digit()),
            (self.special, "no-special", is_special),
        ];
        for (required, rule, present) in checks {
            if required && !password.chars().any(present) {
                broken.push(rule);
            }
        }
        broken
    }

    /// A compliant-looking stem of `len` characters (at least 4): upper, lower, digit, special,
    /// then filler.
    fn stem(len: usize) -> String {
        let mut stem = String::from("Qv7!");
        stem.extend(FILLER.chars().cycle().take(len.saturating_sub(4)));
        stem
    }

    /// The weak candidates, each with the rules it breaks (never empty) and extra tags. The
    /// user-name candidate is filled in per attempt, so it is marked here by `None`.
    fn weak_candidates(&self) -> Vec<(Option<String>, Vec<&'static str>)> {
        let stem = Policy::stem(self.min_length.max(4));
        let mut candidates: Vec<(Option<String>, Vec<&'static str>)> = Vec::new();
        if self.min_length >= 2 {
            candidates.push((Some(stem.chars().take(self.min_length - 1).collect()), Vec::new()));
        }
        candidates.push((Some(stem.replace('Q', "q")), Vec::new()));
        candidates.push((Some(stem.to_uppercase()), Vec::new()));
        candidates.push((Some(stem.replace('7', "y")), Vec::new()));
        candidates.push((Some(stem.replace(SPECIAL, "s")), Vec::new()));
        candidates.push((None, vec!["is-user-name"]));
        candidates.push((Some(COMMON_PASSWORD.to_owned()), vec!["common-password"]));
        let mut seen = BTreeSet::new();
        candidates.retain(|(password, _)| match password {
            // The user name (`hq` + hex) has no upper case and no special character; whether
            // the rule forbids it is decided per attempt like any other candidate.
            None => true,
            Some(password) => !self.violations(password).is_empty() && seen.insert(password.clone()),
        });
        candidates
    }

    /// A random password the rule allows: `CONTROL_LENGTH` (or `min_length`) characters with
    /// every class, the one special character being [`SPECIAL`].
    fn control(&self) -> String {
        use rand::seq::{IndexedRandom, SliceRandom};
        const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
        const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
        const DIGIT: &[u8] = b"23456789";
        let mut rng = rand::rng();
        let pick = |set: &[u8], rng: &mut rand::rngs::ThreadRng| char::from(*set.choose(rng).unwrap_or(&b'x'));
        let len = self.min_length.max(CONTROL_LENGTH);
        let mut chars = vec![pick(UPPER, &mut rng), pick(LOWER, &mut rng), pick(DIGIT, &mut rng)];
        if self.special {
            chars.push(SPECIAL);
        }
        let all: Vec<u8> = [UPPER, LOWER, DIGIT].concat();
        while chars.len() < len {
            chars.push(pick(&all, &mut rng));
        }
        chars.shuffle(&mut rng);
        chars.into_iter().collect()
    }
}

/// A temporary user name: `hq` and 8 random hex digits (short, lower-case alphanumeric, so
/// every family accepts it, and recognisable in a device's user list).
fn temporary_user() -> String {
    let n: u32 = rand::random();
    format!("hq{n:08x}")
}

/// How a value is escaped where an op puts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// `application/x-www-form-urlencoded` (query strings and form bodies), as the Redactor
    /// encodes a secret, so an encoded control password is still redacted.
    Form,
    Xml,
    Json,
    Raw,
}

impl Escape {
    fn for_body(op: &Op) -> Escape {
        let content_type = op.content_type.as_deref().unwrap_or_default().to_ascii_lowercase();
        if content_type.contains("xml") {
            Escape::Xml
        } else if content_type.contains("json") {
            Escape::Json
        } else if content_type.contains("x-www-form-urlencoded") {
            Escape::Form
        } else {
            Escape::Raw
        }
    }

    fn apply(self, value: &str) -> String {
        match self {
            Escape::Form => url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
            Escape::Xml => value
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .replace('\'', "&apos;"),
            Escape::Json => {
                let quoted = Value::String(value.to_owned()).to_string();
                quoted[1..quoted.len() - 1].to_owned()
            }
            Escape::Raw => value.to_owned(),
        }
    }
}

/// Fills `${user.name}`, `${user.password}`, `${user.id}` into an op's path or body, through
/// the run's one template engine, each value escaped for where it lands.
fn render(op_name: &str, text: &str, values: &[(&str, &str)], escape: Escape) -> Result<String, ActionError> {
    let mut ctx = serde_json::Map::new();
    for (key, value) in values {
        let Some((group, field)) = key.split_once('.') else {
            continue;
        };
        let entry = ctx
            .entry(group.to_owned())
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Value::Object(map) = entry {
            map.insert(field.to_owned(), Value::String((*value).to_owned()));
        }
    }
    template::render_with(text, &Value::Object(ctx), |v| escape.apply(v)).map_err(|e| {
        if e.reason.starts_with("missing closing") {
            ActionError::Definition(format!("op `{op_name}` has a `${{` without a closing `}}`"))
        } else {
            ActionError::Definition(format!(
                "op `{op_name}` uses `${{{}}}`, which the password-policy action does not provide here",
                e.reference.trim()
            ))
        }
    })
}

/// An operation's answer, by its classifiers (compiled when the run started): accepted,
/// refused in the op's own declared words, else unknown — a 401 or 403 is the harness's
/// problem, not a weak-password refusal, and must not count as one.
fn classify(bound: &Bound<'_>, resp: &HttpResponse, ctx: &RunContext<'_>) -> Outcome {
    ctx.classifiers.op(Some(bound.name)).operation(resp.status, &resp.body)
}

/// One profile operation, ready to send.
struct Bound<'o> {
    name: &'static str,
    op: &'o Op,
    scheme: Scheme,
    port: u16,
    method: String,
    auth: AuthMode,
    /// `created_id`, compiled once (a pattern that does not compile captures nothing).
    created_id: Option<regex::Regex>,
}

impl<'o> Bound<'o> {
    async fn new(ctx: &'o RunContext<'_>, name: &'static str, rec: &Recorder) -> Result<Bound<'o>, ActionError> {
        let op = super::http::bound_op(ctx, name)?;
        let port_value = op.port.clone().map(Value::String);
        let (scheme, port) = ctx.web_endpoint(port_value.as_ref(), rec).await?;
        let auth = super::http::op_auth(Some(op)).map_err(|_| {
            ActionError::Definition(format!(
                "op `{name}` uses auth `{}`, which an HTTP operation cannot send",
                op.auth.as_deref().unwrap_or_default()
            ))
        })?;
        let method = op.method.clone().unwrap_or_else(|| "GET".into()).to_ascii_uppercase();
        Ok(Bound {
            name,
            op,
            scheme,
            port,
            method,
            auth,
            created_id: op.created_id.as_deref().and_then(|p| regex::Regex::new(p).ok()),
        })
    }

    async fn send(
        &self,
        values: &[(&str, &str)],
        credential: Credential,
        note: String,
        ctx: &RunContext<'_>,
        rec: &Recorder,
    ) -> Result<HttpResponse, ActionError> {
        let path = render(self.name, &self.op.path, values, Escape::Form)?;
        let label = format!("{} {path} (op {}, {note})", self.method, self.name);
        let body = match &self.op.body {
            Some(body) => Some(render(self.name, body, values, Escape::for_body(self.op))?.into_bytes()),
            None => None,
        };
        let mut headers = Vec::new();
        if let Some(content_type) = &self.op.content_type {
            headers.push(("Content-Type".to_owned(), content_type.clone()));
        }
        let request = HttpRequest {
            scheme: self.scheme,
            port: self.port,
            method: self.method.clone(),
            path,
            headers,
            body,
            auth: self.auth,
            credential: Some(credential),
            fresh_connection: false,
            label,
            answer_secrets: None,
        };
        Ok(ctx.http().await?.send(&request, rec).await?)
    }
}

/// Names of users that may exist on the device right now. If the step is dropped half-way
/// (Ctrl-C stops a step at once, and no code after an `await` runs), the log still says which
/// users to look for.
#[derive(Default)]
struct MayExist(BTreeSet<String>);

impl Drop for MayExist {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let names: Vec<&str> = self.0.iter().map(String::as_str).collect();
            tracing::warn!(
                users = %names.join(", "),
                "password-policy stopped while temporary users may exist on the device; check its user list and delete them"
            );
        }
    }
}

/// What became of one created-or-maybe-created user.
struct Attempt {
    user: String,
    outcome: Outcome,
    status: Option<u16>,
    deleted: Option<bool>,
    error: Option<String>,
    /// The creation could not be sent or answered (transport failure).
    transport_failed: bool,
    /// Delete id captured from the creation answer (`created_id`).
    id: Option<String>,
}

struct Session<'a, 'c> {
    ctx: &'a RunContext<'c>,
    create: Bound<'a>,
    delete: Bound<'a>,
    may_exist: MayExist,
    errors: Vec<String>,
}

impl Session<'_, '_> {
    /// Creates `user` with `password` as the target. Until the device has refused it, the
    /// user counts as possibly existing.
    async fn create(&mut self, user: &str, password: &str, label: String, rec: &Recorder) -> Attempt {
        self.may_exist.0.insert(user.to_owned());
        let values = [("user.name", user), ("user.password", password)];
        let mut attempt = Attempt {
            user: user.to_owned(),
            outcome: Outcome::Unknown,
            status: None,
            deleted: None,
            error: None,
            transport_failed: false,
            id: None,
        };
        let target = target_credential(self.ctx.target);
        match self.create.send(&values, target, label, self.ctx, rec).await {
            Ok(resp) => {
                attempt.status = Some(resp.status);
                attempt.outcome = classify(&self.create, &resp, self.ctx);
                attempt.id = self.create.created_id.as_ref().and_then(|pattern| {
                    let body = String::from_utf8_lossy(&resp.body);
                    pattern
                        .captures(&body)?
                        .get(1)
                        .map(|m| m.as_str().trim().to_owned())
                        .filter(|id| !id.is_empty() && id.len() <= 64)
                });
            }
            Err(error) => {
                attempt.transport_failed = true;
                attempt.error = Some(error.to_string());
                self.errors.push(format!("{user}: {error}"));
            }
        }
        if attempt.outcome == Outcome::Rejected {
            self.may_exist.0.remove(user);
        }
        attempt
    }

    async fn try_delete(&mut self, attempt: &mut Attempt, rec: &Recorder) {
        let needs_id = user_op_uses(self.delete.op, "user.id");
        if needs_id && attempt.id.is_none() {
            attempt.deleted = Some(false);
            let why = "the creation answer carried no id for `delete-user`";
            attempt.error.get_or_insert_with(|| why.to_owned());
            return;
        }
        let id = attempt.id.clone().unwrap_or_default();
        let values = [("user.name", attempt.user.as_str()), ("user.id", id.as_str())];
        let label = format!("user {}", attempt.user);
        let target = target_credential(self.ctx.target);
        match self.delete.send(&values, target, label, self.ctx, rec).await {
            Ok(resp) => {
                let deleted = classify(&self.delete, &resp, self.ctx) == Outcome::Accepted;
                attempt.deleted = Some(deleted);
                if deleted {
                    self.may_exist.0.remove(&attempt.user);
                }
            }
            Err(error) => {
                attempt.deleted = Some(false);
                self.errors.push(format!("{} (delete): {error}", attempt.user));
            }
        }
    }
}

fn user_op_uses(op: &Op, key: &str) -> bool {
    let needle = |text: &str| {
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else { return false };
            if after[..end].trim() == key {
                return true;
            }
            rest = &after[end + 1..];
        }
        false
    };
    needle(&op.path) || op.body.as_deref().is_some_and(needle)
}

pub async fn run(
    step: &PasswordPolicyStep,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
) -> Result<ActionOutput, ActionError> {
    let (policy, login_check) = Policy::from_options(&step.options, tctx)?;
    let create = Bound::new(ctx, "create-user", rec).await?;
    let delete = Bound::new(ctx, "delete-user", rec).await?;
    let login = match ctx.profile.ops.get("login-check") {
        Some(_) if login_check => Some(Bound::new(ctx, "login-check", rec).await?),
        _ => None,
    };
    let mut session = Session {
        ctx,
        create,
        delete,
        may_exist: MayExist::default(),
        errors: Vec::new(),
    };

    let mut candidates = Vec::new();
    let mut weak_accepted = Vec::new();
    let mut weak_rejected = Vec::new();
    let mut weak_unknown = Vec::new();
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut consecutive_failures = 0usize;
    let mut completed = true;
    for (password, tags) in policy.weak_candidates() {
        if consecutive_failures >= MAX_CONSECUTIVE_FAILURES {
            completed = false;
            break;
        }
        let user = temporary_user();
        let password = password.unwrap_or_else(|| user.clone());
        let mut rules = policy.violations(&password);
        if rules.is_empty() {
            // Only the user-name candidate can get here: the rule allows it, so it is not weak.
            continue;
        }
        rules.extend(tags.iter().copied());
        let label = format!("user {user}, weak candidate: {}", rules.join(", "));
        let mut attempt = session.create(&user, &password, label, rec).await;
        if attempt.outcome != Outcome::Rejected {
            session.try_delete(&mut attempt, rec).await;
        }
        consecutive_failures = if attempt.transport_failed {
            consecutive_failures + 1
        } else {
            0
        };
        let entry = format!("{password} ({})", rules.join(", "));
        match attempt.outcome {
            Outcome::Accepted => weak_accepted.push(json!(entry)),
            Outcome::Rejected => weak_rejected.push(json!(entry)),
            Outcome::Unknown | Outcome::Locked => weak_unknown.push(json!(entry)),
        }
        candidates.push(json!({
            "user": attempt.user,
            "password": password,
            "rules": rules,
            "outcome": attempt.outcome.as_str(),
            "status": attempt.status,
            "deleted": attempt.deleted,
            "error": attempt.error,
        }));
        attempts.push(attempt);
    }

    // The control: a password the rule allows. Its value is a secret while the user exists
    // (a failed deletion leaves a working account behind), so its exchanges go through a
    // recorder whose redactor also knows it.
    let mut control_accepted = false;
    let mut control_login = None;
    let mut control_status = Value::Null;
    if consecutive_failures < MAX_CONSECUTIVE_FAILURES {
        let user = temporary_user();
        let password = policy.control();
        let mut redactor: Redactor = (*ctx.redactor).clone();
        redactor.add_secret(&user, &password);
        let control_rec = Recorder::new(std::sync::Arc::new(redactor));
        let label = format!("control user {user}");
        let mut attempt = session.create(&user, &password, label, &control_rec).await;
        control_status = json!(attempt.status);
        control_accepted = attempt.outcome == Outcome::Accepted;
        if control_accepted && let Some(login) = &login {
            let credential = Credential {
                username: user.clone(),
                password: password.clone(),
                secret: true,
            };
            let label = format!("as control user {user}");
            control_login = match login.send(&[], credential, label, ctx, &control_rec).await {
                Ok(resp) if ctx.classifiers.op(Some(login.name)).logged_in(resp.status, &resp.body) => Some(true),
                Ok(resp) if ctx.classifiers.op(Some(login.name)).refused(resp.status, &resp.body) => Some(false),
                Ok(_) => None,
                Err(error) => {
                    session.errors.push(format!("{user} (login): {error}"));
                    None
                }
            };
        }
        if attempt.outcome != Outcome::Rejected {
            session.try_delete(&mut attempt, &control_rec).await;
        }
        for exchange in control_rec.drain() {
            rec.record(exchange);
        }
        attempts.push(attempt);
    } else {
        completed = false;
    }

    // One more try for what is left: a device busy with the previous request may have
    // refused a deletion it will now accept.
    if !session.may_exist.0.is_empty() {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        for attempt in attempts.iter_mut() {
            if session.may_exist.0.contains(&attempt.user) && attempt.deleted != Some(true) {
                session.try_delete(attempt, rec).await;
                if let (Some(true), Some(entry)) = (
                    attempt.deleted,
                    candidates.iter_mut().find(|c| c["user"] == attempt.user.as_str()),
                ) {
                    entry["deleted"] = json!(true);
                }
            }
        }
    }
    let mut leftover_users = Vec::new();
    let mut unconfirmed_users = Vec::new();
    for attempt in &attempts {
        if !session.may_exist.0.contains(&attempt.user) {
            continue;
        }
        if attempt.outcome == Outcome::Accepted {
            leftover_users.push(attempt.user.clone());
        } else {
            unconfirmed_users.push(attempt.user.clone());
        }
    }
    if !leftover_users.is_empty() {
        tracing::warn!(
            users = %leftover_users.join(", "),
            "temporary users could not be deleted; remove them on the device"
        );
    }
    // Reported in the observations; the guard's warning is for a step that never gets here.
    session.may_exist.0.clear();
    Ok(ActionOutput::observed(PasswordPolicyObservations {
        policy: Some(policy.describe()),
        candidates: Some(candidates),
        weak_accepted: Some(weak_accepted),
        weak_rejected: Some(weak_rejected),
        weak_unknown: Some(weak_unknown),
        control_accepted: Some(control_accepted),
        control_status: Some(control_status),
        control_login: Some(control_login),
        leftover_users: Some(leftover_users),
        unconfirmed_users: Some(unconfirmed_users),
        completed: Some(completed),
        errors: Some(session.errors),
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use hopquy_case::ProfileFile;
    use hopquy_probe::{Device, Limits};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::actions::test_support::{NoOperator, action, context};

    fn policy_step(text: &str) -> PasswordPolicyStep {
        match action(text) {
            hopquy_case::StepAction::PasswordPolicy(step) => step,
            other => panic!("not a password-policy step: {other:?}"),
        }
    }

    fn policy(min_length: usize, classes: &[&str]) -> Policy {
        Policy {
            min_length,
            upper: classes.contains(&"upper"),
            lower: classes.contains(&"lower"),
            digit: classes.contains(&"digit"),
            special: classes.contains(&"special"),
        }
    }

    #[test]
    fn each_candidate_breaks_the_rule_it_is_named_after() {
        let p = policy(8, CLASSES);
        let named: Vec<(String, Vec<&str>)> = p
            .weak_candidates()
            .into_iter()
            .filter_map(|(password, _)| password)
            .map(|password| {
                let rules = p.violations(&password);
                (password, rules)
            })
            .collect();
        let expected: Vec<(&str, Vec<&str>)> = vec![
            ("Qv7!mtk", vec!["too-short"]),
            ("qv7!mtkz", vec!["no-upper"]),
            ("QV7!MTKZ", vec!["no-lower"]),
            ("Qvy!mtkz", vec!["no-digit"]),
            ("Qv7smtkz", vec!["no-special"]),
            ("password1", vec!["no-upper", "no-special"]),
        ];
        let named: Vec<(&str, Vec<&str>)> = named.iter().map(|(p, r)| (p.as_str(), r.clone())).collect();
        assert_eq!(named, expected);
        // The user-name candidate is filled in per attempt.
        assert_eq!(p.weak_candidates().iter().filter(|(pw, _)| pw.is_none()).count(), 1);
    }

    #[test]
    fn only_what_the_rule_forbids_is_sent() {
        // A declared rule of length 8 and no classes: only the short candidate is weak.
        let p = policy(8, &[]);
        let weak: Vec<String> = p.weak_candidates().into_iter().filter_map(|(pw, _)| pw).collect();
        assert_eq!(weak, vec!["Qv7!mtk".to_owned()]);
        assert!(
            p.violations(&temporary_user()).is_empty(),
            "a 10-character name is allowed"
        );
        // Length 1: nothing can be too short.
        let p = policy(1, &["upper"]);
        let weak: Vec<String> = p.weak_candidates().into_iter().filter_map(|(pw, _)| pw).collect();
        assert!(weak.iter().all(|pw| p.violations(pw) == vec!["no-upper"]), "{weak:?}");
        assert!(!weak.is_empty());
    }

    #[test]
    fn the_control_meets_every_rule_and_is_random() {
        for (length, classes) in [(8, CLASSES), (16, CLASSES), (30, &["digit"][..]), (4, &[][..])] {
            let p = policy(length, classes);
            for _ in 0..50 {
                let control = p.control();
                assert!(p.violations(&control).is_empty(), "{control} under {p:?}");
                assert!(control.chars().count() >= CONTROL_LENGTH);
            }
        }
        let p = policy(8, CLASSES);
        assert_ne!(p.control(), p.control());
        let user = temporary_user();
        assert!(user.starts_with("hq") && user.len() == 10, "{user}");
    }

    #[test]
    fn values_are_escaped_for_where_they_go() {
        let values = [("user.name", "hq1"), ("user.password", "a&b<c>!~ *")];
        let xml = render("create-user", "<p>${user.password}</p>", &values, Escape::Xml).unwrap();
        assert_eq!(xml, "<p>a&amp;b&lt;c&gt;!~ *</p>");
        let query = render(
            "create-user",
            "/x?n=${ user.name }&p=${user.password}",
            &values,
            Escape::Form,
        )
        .unwrap();
        assert_eq!(query, "/x?n=hq1&p=a%26b%3Cc%3E%21%7E+*");
        let json = render(
            "create-user",
            "{\"p\":\"${user.password}\"}",
            &[("user.password", "q\"\\")],
            Escape::Json,
        )
        .unwrap();
        assert_eq!(json, "{\"p\":\"q\\\"\\\\\"}");
        assert!(matches!(
            render("create-user", "${target.password}", &values, Escape::Raw),
            Err(ActionError::Definition(_))
        ));
        assert!(matches!(
            render("create-user", "${user.name", &values, Escape::Raw),
            Err(ActionError::Definition(_))
        ));
        // The Redactor knows the form-encoded form of a secret, so an encoded control
        // password in a query string is still redacted.
        let mut redactor = Redactor::new();
        redactor.add_secret("hq1", "Ab1!xyz~");
        let path = render(
            "create-user",
            "/x?p=${user.password}",
            &[("user.password", "Ab1!xyz~")],
            Escape::Form,
        )
        .unwrap();
        assert_eq!(redactor.redact_str(&path), "/x?p=[REDACTED]");
    }

    /// A device with user management on plain HTTP (no auth, to keep the fake small).
    #[derive(Default)]
    struct FakeState {
        users: BTreeMap<u32, (String, String)>,
        next_id: u32,
        bodies: Vec<String>,
    }

    #[derive(Clone, Copy)]
    struct Behaviour {
        /// Accept any password (no rule).
        weak_ok: bool,
        /// DELETE always fails.
        delete_broken: bool,
        /// Creation answers 403 (the account may not manage users).
        forbidden: bool,
    }

    async fn fake_device(behaviour: Behaviour) -> (u16, Arc<Mutex<FakeState>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(FakeState {
            next_id: 2,
            ..Default::default()
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    let mut buf = vec![0u8; 16 * 1024];
                    let (head, body) = loop {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                        let text = String::from_utf8_lossy(&got).into_owned();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let length = head
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(str::to_owned)
                                })
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            if body.len() >= length {
                                break (head.to_owned(), body.to_owned());
                            }
                        }
                    };
                    let line = head.lines().next().unwrap_or_default().to_owned();
                    let between = |open: &str, close: &str| -> String {
                        body.split_once(open)
                            .and_then(|(_, rest)| rest.split_once(close))
                            .map(|(v, _)| v.to_owned())
                            .unwrap_or_default()
                    };
                    let (status, reply) = {
                        let mut st = state.lock().unwrap();
                        st.bodies.push(body.clone());
                        if line.starts_with("POST /users ") {
                            let (name, password) = (between("<name>", "</name>"), between("<pw>", "</pw>"));
                            let complex = password.chars().count() >= 8
                                && password.chars().any(char::is_uppercase)
                                && password.chars().any(char::is_lowercase)
                                && password.chars().any(|c| c.is_ascii_digit())
                                && password.chars().any(|c| !c.is_alphanumeric());
                            if behaviour.forbidden {
                                (403, "<denied/>".to_owned())
                            } else if complex || behaviour.weak_ok {
                                let id = st.next_id;
                                st.next_id += 1;
                                st.users.insert(id, (name, password));
                                (200, format!("<ok><id>{id}</id></ok>"))
                            } else {
                                (400, "<weak/>".to_owned())
                            }
                        } else if let Some(id) = line.strip_prefix("DELETE /users/") {
                            let id = id.split(' ').next().and_then(|i| i.parse::<u32>().ok()).unwrap_or(0);
                            if !behaviour.delete_broken && st.users.remove(&id).is_some() {
                                (200, "<ok/>".to_owned())
                            } else {
                                (500, "<error/>".to_owned())
                            }
                        } else {
                            (200, "<checked/>".to_owned())
                        }
                    };
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{reply}",
                        reply.len()
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                });
            }
        });
        (port, state)
    }

    const PROFILE: &str = r#"
name = "fake"
description = "fake"
[ops.create-user]
method = "POST"
path = "/users"
content_type = "application/xml"
auth = "none"
body = "<u><name>${user.name}</name><pw>${user.password}</pw></u>"
accepted = { status = [200] }
rejected = { status = [400], body_contains = "<weak/>" }
created_id = "<id>([0-9]+)</id>"
[ops.delete-user]
method = "DELETE"
path = "/users/${user.id}"
auth = "none"
accepted = { status = [200] }
[ops.login-check]
path = "/check"
auth = "none"
"#;

    async fn run_against(behaviour: Behaviour, options: &str) -> (Value, Arc<Mutex<FakeState>>, String) {
        let (port, state) = fake_device(behaviour).await;
        let profile: ProfileFile = toml::from_str(PROFILE).unwrap();
        let target = crate::actions::test_support::target("Target-Secret-1", &[("http", port)]);
        let (creds, paths) = (BTreeMap::new(), BTreeMap::new());
        let mut redactor = Redactor::new();
        redactor.add_secret("admin", "Target-Secret-1");
        let redactor = Arc::new(redactor);
        let ctx = RunContext::new(
            Device::new("127.0.0.1", Limits::default()),
            &profile,
            &target,
            &creds,
            &paths,
            Arc::new(NoOperator),
            redactor.clone(),
            false,
        );
        let step = policy_step(&format!("id = \"s\"\naction = \"password-policy\"\n{options}"));
        let rec = Recorder::new(redactor);
        let out = run(&step, &ctx, &Value::Null, &rec).await.unwrap();
        let recorded = serde_json::to_string(&rec.drain()).unwrap();
        (out.observations, state, recorded)
    }

    const STRICT: Behaviour = Behaviour {
        weak_ok: false,
        delete_broken: false,
        forbidden: false,
    };

    #[tokio::test]
    async fn a_strict_device_refuses_every_candidate_and_keeps_no_user() {
        let (obs, state, recorded) = run_against(STRICT, "").await;
        assert_eq!(obs["weak_accepted"], json!([]));
        assert_eq!(obs["weak_rejected"].as_array().map(Vec::len), Some(7), "{obs}");
        assert_eq!(obs["control_accepted"], true);
        assert_eq!(obs["control_login"], true);
        assert_eq!(obs["leftover_users"], json!([]));
        assert_eq!(obs["completed"], true);
        let st = state.lock().unwrap();
        assert!(st.users.is_empty(), "users left: {:?}", st.users);
        // The control password reached the device but not the evidence; weak candidates did.
        let control = st
            .bodies
            .iter()
            .rev()
            .find_map(|b| {
                b.split_once("<pw>")
                    .and_then(|(_, r)| r.split_once("</pw>"))
                    .map(|(p, _)| p.to_owned())
            })
            .unwrap();
        assert!(
            Policy::from_options(
                &policy_step("id=\"s\"\naction=\"password-policy\"").options,
                &Value::Null
            )
            .unwrap()
            .0
            .violations(&control)
            .is_empty()
        );
        assert!(!recorded.contains(&control), "control password recorded");
        assert!(recorded.contains("[REDACTED]") && recorded.contains("qv7!mtkz"));
        assert!(!recorded.contains("Target-Secret-1"));
    }

    #[tokio::test]
    async fn a_device_without_a_rule_creates_weak_users_which_are_deleted() {
        let behaviour = Behaviour {
            weak_ok: true,
            ..STRICT
        };
        let (obs, state, _) = run_against(behaviour, "options = { min_length = 10 }").await;
        let accepted = obs["weak_accepted"].as_array().cloned().unwrap_or_default();
        assert_eq!(accepted.len(), 7, "{obs}");
        assert!(accepted.contains(&json!("Qv7!mtkzw (too-short)")), "{accepted:?}");
        assert_eq!(obs["policy"]["min_length"], 10);
        assert_eq!(obs["leftover_users"], json!([]));
        assert!(state.lock().unwrap().users.is_empty());
        assert!(
            obs["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["deleted"] == true)
        );
    }

    #[tokio::test]
    async fn users_that_cannot_be_deleted_are_named() {
        let behaviour = Behaviour {
            delete_broken: true,
            ..STRICT
        };
        let (obs, state, _) = run_against(behaviour, "").await;
        let leftover = obs["leftover_users"].as_array().cloned().unwrap_or_default();
        let on_device: Vec<Value> = state
            .lock()
            .unwrap()
            .users
            .values()
            .map(|(name, _)| json!(name))
            .collect();
        assert_eq!(leftover.len(), 1);
        assert_eq!(leftover, on_device);
        assert_eq!(obs["weak_accepted"], json!([]));
    }

    #[tokio::test]
    async fn a_refusal_that_is_not_about_the_password_proves_nothing() {
        let behaviour = Behaviour {
            forbidden: true,
            ..STRICT
        };
        let (obs, _, _) = run_against(behaviour, "").await;
        assert_eq!(obs["weak_rejected"], json!([]));
        assert_eq!(obs["weak_unknown"].as_array().map(Vec::len), Some(7));
        assert_eq!(obs["control_accepted"], false);
        assert_eq!(obs["control_login"], Value::Null);
        assert_eq!(obs["unconfirmed_users"].as_array().map(Vec::len), Some(8));
        assert_eq!(obs["leftover_users"], json!([]));
    }

    #[tokio::test]
    async fn a_silent_device_stops_the_step_early() {
        // The port accepts and hangs up at once: every creation fails without an answer.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                drop(socket);
            }
        });
        let profile: ProfileFile = toml::from_str(PROFILE).unwrap();
        let target = crate::actions::test_support::target("x", &[("http", port)]);
        let (creds, paths) = (BTreeMap::new(), BTreeMap::new());
        let ctx = context(Limits::default(), &profile, &target, &creds, &paths);
        let step = policy_step("id = \"s\"\naction = \"password-policy\"");
        let obs = run(&step, &ctx, &Value::Null, &Recorder::default())
            .await
            .unwrap()
            .observations;
        assert_eq!(obs["completed"], false);
        assert_eq!(
            obs["candidates"].as_array().map(Vec::len),
            Some(MAX_CONSECUTIVE_FAILURES)
        );
        assert_eq!(obs["control_accepted"], false);
        assert!(!obs["errors"].as_array().unwrap().is_empty());
    }

    #[tokio::test]
    async fn nothing_listening_is_a_missing_surface_and_no_user_is_tried() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let profile: ProfileFile = toml::from_str(PROFILE).unwrap();
        let target = crate::actions::test_support::target("x", &[("http", port)]);
        let (creds, paths) = (BTreeMap::new(), BTreeMap::new());
        let ctx = context(Limits::default(), &profile, &target, &creds, &paths);
        let step = policy_step("id = \"s\"\naction = \"password-policy\"");
        let rec = Recorder::default();
        let err = run(&step, &ctx, &Value::Null, &rec).await.unwrap_err();
        assert!(matches!(err, ActionError::SurfaceNotFound(_)), "{err:?}");
        // Only the discovery was sent: one refused connection, no user creation.
        assert_eq!(rec.len(), 1);
    }

    #[test]
    fn bad_options_are_definition_errors() {
        for options in [
            "options = { min_length = 0 }",
            "options = { min_length = 65 }",
            "options = { min_length = \"x\" }",
            "options = { required_classes = [\"uppercase\"] }",
            "options = { required_classes = \"upper\" }",
            "options = { login_check = 1 }",
        ] {
            let step = policy_step(&format!("id = \"s\"\naction = \"password-policy\"\n{options}"));
            assert!(
                matches!(
                    Policy::from_options(&step.options, &Value::Null),
                    Err(ActionError::Definition(_))
                ),
                "{options}"
            );
        }
    }
}
