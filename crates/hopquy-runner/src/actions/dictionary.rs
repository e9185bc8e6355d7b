//! The credential-attempt engine every login surface shares (HTTP, RTSP, ONVIF, Telnet): the
//! attempt list (credential set × `repeat`), lockout-aware pacing (`options.reset_below`,
//! `options.window_s`), outcome counting and the observations of the `login` action.
//!
//! A surface supplies two async callbacks: "try this credential" and "log in once with the
//! target's own credential" (the control login). The engine never talks to a device itself,
//! so the pacing that keeps a dictionary run from being read through a lockout exists once.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

// tokio's clock (the same as std's in a run): the pacing can then be checked in paused time.
use tokio::time::Instant;

use hopquy_case::{Credential as CredentialKind, CredentialSet, LoginStep};
use hopquy_probe::Credential;
use serde_json::{Value, json};

use super::{ActionError, RunContext, credential_label, credential_set, opt_u64};
use crate::measured::{FailureLog, SurfaceLock};

/// Upper bound on attempts in one step: brute-force checks need a handful, dictionary
/// checks a few hundred; anything more is a definition error, not a test.
pub const MAX_ATTEMPTS: u64 = 1000;

/// Decision 724/QĐ-BTTTT 2a: a device locks after five failures (within 30 s).
const DECISION_724_ATTEMPTS: u64 = 5;

pub use crate::classify::Outcome;

/// One attempt as a surface read it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub outcome: Outcome,
    /// The protocol's status: an HTTP/RTSP code, a word for Telnet.
    pub status: Value,
    pub elapsed_ms: u64,
    /// Status plus answer with digits masked (nonces and clocks differ between any two
    /// answers): distinct fingerprints among failures mean the error says something.
    pub fingerprint: String,
}

impl Attempt {
    /// An attempt that could not be made (nothing to send): counted as unknown, never as a
    /// rejection.
    pub fn not_sent() -> Attempt {
        Attempt {
            outcome: Outcome::Unknown,
            status: json!("unknown"),
            elapsed_ms: 0,
            fingerprint: "unknown".into(),
        }
    }
}

/// `status body` with ASCII digits masked, for [`Attempt::fingerprint`].
pub fn fingerprint(status: &Value, body: &[u8]) -> String {
    let body = String::from_utf8_lossy(body);
    let masked: String = body.chars().map(|c| if c.is_ascii_digit() { '0' } else { c }).collect();
    format!("{status} {masked}")
}

/// What a step asks the engine to do, resolved and bounded before anything is sent.
#[derive(Debug)]
pub struct Plan {
    /// Every attempt, in order.
    pub pending: VecDeque<Option<Credential>>,
    pub reset_below: Option<u64>,
    pub window: Option<Duration>,
    pub interval_ms: u64,
    pub stop_on_accept: bool,
    pub fresh_connection: bool,
    /// `reset_below` logs in with the target's credentials; false (`options.control_login`)
    /// where the target's account may not exist on the surface (a Telnet daemon's own
    /// accounts): then every user name, the target's too, is paced per window instead.
    pub control_login: bool,
    /// Waited before the first attempt (`options.settle`), so failures an earlier step left
    /// age out of the window.
    pub settle: Duration,
    /// Which pacing was chosen and why, for the step's observations (`pacing`); null for a
    /// step that asks for none.
    pub pacing: Value,
}

/// The pacing of one dictionary step, from what the run measured on its surface or else
/// from the step's own (declared) options.
#[derive(Debug, PartialEq)]
pub struct Pacing {
    pub reset_below: Option<u64>,
    pub window: Option<Duration>,
    pub settle: bool,
    pub observation: Value,
}

/// Chooses the pacing: a surface measured not to lock is not paced (no windows, no settle;
/// control logins stay, as they cost no waiting and would still catch a lock at a higher
/// threshold); a measured lock paces to the threshold it showed, within the declared window
/// (a burst measures the threshold, not the window); an unmeasured surface keeps the
/// declared options. A step without pacing options is left alone.
pub fn choose_pacing(
    surface: &str,
    reset_below: Option<u64>,
    window: Option<Duration>,
    control_login: bool,
    settle: bool,
    measured: Option<&SurfaceLock>,
) -> Pacing {
    if reset_below.is_none() && window.is_none() {
        return Pacing {
            reset_below,
            window,
            settle: false,
            observation: Value::Null,
        };
    }
    let (source, reason, reset_below, window, settle) = match measured {
        Some(SurfaceLock::NoLock { after_failures, case }) => (
            "measured",
            format!("`{case}` found no lock on {surface} after {after_failures} wrong passwords: no waits"),
            reset_below,
            None,
            false,
        ),
        Some(SurfaceLock::Locks {
            after_failures, case, ..
        }) => (
            "measured",
            format!(
                "`{case}` found {surface} locked after {after_failures} wrong passwords: at most {} failures per user name per window",
                after_failures.max(&2) - 1
            ),
            Some((*after_failures).max(2)),
            window,
            settle,
        ),
        None => (
            "declared",
            format!("no lock measured on {surface} in this run: the declared (or Decision 724) lockout"),
            reset_below,
            window,
            settle,
        ),
    };
    let mut observation = json!({
        "source": source,
        "surface": surface,
        "reason": reason,
        "reset_below": reset_below,
        "window_s": window.map(|w| w.as_secs_f64()),
        "control_login": control_login && reset_below.is_some(),
        "settle": settle,
    });
    if let (Some(lock), Value::Object(map)) = (measured, &mut observation) {
        map.insert("measured".into(), lock.to_json());
    }
    Pacing {
        reset_below,
        window,
        settle,
        observation,
    }
}

impl Plan {
    pub fn from_step(step: &LoginStep, ctx: &RunContext<'_>, tctx: &Value) -> Result<Plan, ActionError> {
        let set = step.credentials.get_ref();
        let creds = credential_set(set, ctx)?;
        let repeat = opt_u64(&step.repeat, tctx, "repeat")?.unwrap_or(1).max(1);
        let total = repeat.saturating_mul(creds.len() as u64);
        if total > MAX_ATTEMPTS {
            return Err(ActionError::Definition(format!(
                "{total} attempts exceed the bound of {MAX_ATTEMPTS}"
            )));
        }
        let is_dictionary = set.is_dictionary();
        let factory_default = *set == CredentialSet::FactoryDefault;
        // A camera in service must never lock: its documented defaults are tried at most
        // (lockout threshold − 2) times, the threshold declared or Decision 724's five, so
        // that even two failures left by someone else cannot make this step lock it.
        let factory_limit = if factory_default {
            let threshold = tctx
                .pointer("/params/attempts")
                .or_else(|| tctx.pointer("/declared/lockout/attempts"))
                .and_then(Value::as_u64)
                .unwrap_or(DECISION_724_ATTEMPTS);
            let limit = threshold.saturating_sub(2);
            if limit == 0 {
                return Err(ActionError::NotApplicable(format!(
                    "a lockout threshold of {threshold} leaves no factory default attempt below it minus 2"
                )));
            }
            Some((threshold, limit))
        } else {
            None
        };
        let regenerate_wrong = *set == CredentialSet::One(CredentialKind::WrongPassword);
        // Wrong passwords are regenerated per round: a brute-force attacker tries
        // different passwords, and so do we.
        let mut pending = VecDeque::new();
        for round in 0..repeat {
            for cred in &creds {
                if regenerate_wrong && round > 0 {
                    pending.push_back(credential_set(set, ctx)?.into_iter().next().flatten());
                } else {
                    pending.push_back(cred.clone());
                }
            }
        }
        if let Some((_, limit)) = factory_limit {
            pending.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        // `reset_below = N`: after N-1 consecutive failures, log in once with the target's
        // own credentials. Most devices reset their failure counter on a success, so a long
        // dictionary never trips the lockout; a device that locks anyway rejects that
        // control login, and the step stops with `aborted = true` rather than mistake lock
        // rejections for "credential refused".
        let options = &step.options;
        let reset_below = match &options.reset_below {
            Some(v) => Some(
                match crate::template::resolve(v, tctx)? {
                    Value::Number(n) => n.as_u64().filter(|n| *n >= 2),
                    _ => None,
                }
                .ok_or_else(|| ActionError::Definition("`options.reset_below` must be an integer >= 2".into()))?,
            ),
            None => None,
        };
        // `window_s` (with `reset_below`): a device may lock *any* user name after too many
        // failures, and only the target's own counter can be reset with a control login.
        // So other user names get at most `reset_below - 1` failures per window; their
        // further attempts wait until the window has passed.
        let window = match &options.window_s {
            Some(v) => Some(
                match crate::template::resolve(v, tctx)? {
                    Value::Number(n) => n.as_u64().map(Duration::from_secs),
                    _ => None,
                }
                .ok_or_else(|| ActionError::Definition("`options.window_s` must be a non-negative integer".into()))?,
            ),
            None => None,
        };
        let control_login = match &options.control_login {
            None => true,
            Some(v) => crate::template::resolve(v, tctx)?
                .as_bool()
                .ok_or_else(|| ActionError::Definition("`options.control_login` must be true or false".into()))?,
        };
        if !control_login && window.is_none() {
            return Err(ActionError::Definition(
                "`options.control_login = false` needs `options.window_s`: without control logins only pacing keeps the run below the threshold".into(),
            ));
        }
        let settle = match &options.settle {
            None => false,
            Some(v) => crate::template::resolve(v, tctx)?
                .as_bool()
                .ok_or_else(|| ActionError::Definition("`options.settle` must be true or false".into()))?,
        };
        let surface = step.target.surface();
        let measured = ctx.measured.lock().ok().and_then(|m| m.get(surface).cloned());
        let pacing = choose_pacing(
            surface.as_str(),
            reset_below,
            window,
            control_login,
            settle,
            measured.as_ref(),
        );
        let settle = match pacing.window {
            Some(window) if pacing.settle => ctx.failures.settle(window, control_login),
            _ => Duration::ZERO,
        };
        let interval_ms = opt_u64(&step.interval_ms, tctx, "interval_ms")?.unwrap_or(0);
        let mut observation = pacing.observation;
        if let Value::Object(map) = &mut observation {
            map.insert("settle_ms".into(), json!(settle.as_millis() as u64));
        }
        if let Some((threshold, limit)) = factory_limit {
            observation = json!({
                "source": "factory-default",
                "surface": surface.as_str(),
                "reason": format!(
                    "{} documented factory default pair(s), one attempt each, {interval_ms} ms apart; at most {limit} (lockout threshold {threshold} minus 2)",
                    pending.len()
                ),
                "threshold": threshold,
                "max_attempts": limit,
                "interval_ms": interval_ms,
            });
        }
        Ok(Plan {
            pending,
            reset_below: pacing.reset_below,
            window: pacing.window,
            settle,
            pacing: observation,
            interval_ms,
            // One accepted default credential decides the fail; the rest of a dictionary only
            // costs the lockout waits it forces. `--exhaustive` lists every accepted pair.
            stop_on_accept: !ctx.exhaustive && step.stop_on_accept.unwrap_or(is_dictionary || factory_default),
            fresh_connection: step.fresh_connection.unwrap_or(true),
            control_login,
        })
    }
}

/// What the engine's callbacks return: boxed and `Send`, so the step's future stays `Send`
/// whatever the surface borrows (async closures lose that in higher-ranked inference).
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T, ActionError>> + Send + 'a>>;

/// Run the plan: `attempt` tries one credential, `control` logs in once with the target's
/// credentials (it must report `Accepted` for the run to go on). Returns the `login`
/// observations. A callback's error ends the step with that error.
/// Every failed attempt is noted in `failures`, for the settle of a later dictionary.
pub async fn run<'a>(
    plan: Plan,
    target_user: &str,
    failures: &FailureLog,
    attempt: impl Fn(Option<Credential>) -> Pending<'a, Attempt>,
    control: impl Fn() -> Pending<'a, Outcome>,
) -> Result<Value, ActionError> {
    let Plan {
        mut pending,
        reset_below,
        window,
        interval_ms,
        stop_on_accept,
        fresh_connection: _,
        control_login,
        settle,
        pacing,
    } = plan;
    let mut consecutive_failures: u64 = 0;
    let mut resets = 0usize;
    let mut aborted = false;
    let mut fingerprints = Vec::new();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut statuses = Vec::new();
    let mut accepted_credentials = Vec::new();
    let mut bodies = BTreeSet::new();
    let mut first_locked: Option<usize> = None;
    let mut detail = Vec::new();
    let started = Instant::now();
    let mut failures_by_user: HashMap<String, Vec<Instant>> = HashMap::new();
    let mut paced_ms: u64 = 0;
    let mut stopped_at_accept = false;
    if !settle.is_zero() {
        paced_ms += settle.as_millis() as u64;
        tokio::time::sleep(settle).await;
    }
    loop {
        let now = Instant::now();
        let eligible = |c: &Option<Credential>| -> bool {
            let (Some(limit), Some(window), Some(c)) = (reset_below, window, c) else {
                return true;
            };
            if control_login && c.username == target_user {
                return true;
            }
            let recent = failures_by_user
                .get(&c.username)
                .map_or(0, |v| v.iter().filter(|t| now.duration_since(**t) < window).count());
            (recent as u64) + 1 < limit
        };
        let Some(index) = pending.iter().position(eligible) else {
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
            let wait = window_len.saturating_sub(now.duration_since(oldest)) + Duration::from_millis(100);
            paced_ms += wait.as_millis() as u64;
            tokio::time::sleep(wait).await;
            continue;
        };
        let Some(cred) = pending.remove(index) else { break };
        if !outcomes.is_empty() && interval_ms > 0 {
            tokio::time::sleep(Duration::from_millis(interval_ms)).await;
        }
        if let Some(limit) = reset_below.filter(|_| control_login)
            && consecutive_failures + 1 >= limit
        {
            resets += 1;
            if control().await? != Outcome::Accepted {
                aborted = true;
                break;
            }
            consecutive_failures = 0;
        }
        let answer = attempt(cred.clone()).await?;
        let n = outcomes.len() + 1;
        if answer.outcome == Outcome::Locked && first_locked.is_none() {
            first_locked = Some(n);
        }
        bodies.insert(answer.fingerprint.clone());
        fingerprints.push(json!(sha256_hex(answer.fingerprint.as_bytes())));
        if answer.outcome == Outcome::Accepted {
            consecutive_failures = 0;
        } else {
            consecutive_failures += 1;
            failures.note(cred.as_ref().is_none_or(|c| c.username == target_user));
            if let Some(c) = &cred {
                failures_by_user
                    .entry(c.username.clone())
                    .or_default()
                    .push(Instant::now());
            }
        }
        statuses.push(answer.status.clone());
        outcomes.push(answer.outcome);
        detail.push(json!({
            "n": n,
            "credential": credential_label(&cred),
            "status": answer.status,
            "outcome": answer.outcome.as_str(),
            "elapsed_ms": answer.elapsed_ms,
            "t_ms": started.elapsed().as_millis() as u64,
        }));
        if answer.outcome == Outcome::Accepted {
            accepted_credentials.push(json!(credential_label(&cred)));
            if stop_on_accept {
                stopped_at_accept = !pending.is_empty();
                break;
            }
        }
    }
    let count = |o: Outcome| outcomes.iter().filter(|x| **x == o).count();
    Ok(json!({
        "attempts": outcomes.len(),
        "accepted": count(Outcome::Accepted),
        "rejected": count(Outcome::Rejected),
        "locked": count(Outcome::Locked),
        "unknown": count(Outcome::Unknown),
        "accepted_credentials": accepted_credentials,
        "outcomes": outcomes.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
        "statuses": statuses,
        "distinct_bodies": bodies.len(),
        "body_fingerprints": fingerprints,
        "resets": resets,
        "paced_ms": paced_ms,
        "pacing": pacing,
        "aborted": aborted,
        "stopped_at_accept": stopped_at_accept,
        "not_tried": pending.len(),
        "first_locked_attempt": first_locked,
        "duration_ms": started.elapsed().as_millis() as u64,
        "detail": detail,
    }))
}

/// The observations of a step that tried nothing (no service, no route): zero counts, so
/// an expectation on them reads the same shape, and `route`/`reachable` say why.
pub fn nothing_tried() -> Value {
    json!({
        "attempts": 0,
        "accepted": 0,
        "rejected": 0,
        "locked": 0,
        "unknown": 0,
        "accepted_credentials": [],
        "outcomes": [],
        "statuses": [],
        "distinct_bodies": 0,
        "body_fingerprints": [],
        "resets": 0,
        "paced_ms": 0,
        "pacing": null,
        "aborted": false,
        "stopped_at_accept": false,
        "not_tried": 0,
        "first_locked_attempt": null,
        "duration_ms": 0,
        "detail": [],
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;

    fn cred(user: &str, password: &str) -> Option<Credential> {
        Some(Credential {
            username: user.into(),
            password: password.into(),
            secret: false,
        })
    }

    fn plan(creds: &[(&str, &str)], reset_below: Option<u64>, window_ms: Option<u64>) -> Plan {
        Plan {
            pending: creds.iter().map(|(u, p)| cred(u, p)).collect(),
            reset_below,
            window: window_ms.map(Duration::from_millis),
            interval_ms: 0,
            stop_on_accept: false,
            fresh_connection: true,
            control_login: true,
            settle: Duration::ZERO,
            pacing: Value::Null,
        }
    }

    fn answer(outcome: Outcome) -> Attempt {
        Attempt {
            outcome,
            status: json!(if outcome == Outcome::Accepted { 200 } else { 401 }),
            elapsed_ms: 1,
            fingerprint: format!("{outcome:?}"),
        }
    }

    /// A device whose counter locks the target after `threshold` consecutive failures and is
    /// reset by a success; "admin:good" is the only valid pair.
    struct Device {
        failures: u64,
        threshold: u64,
        log: Vec<String>,
    }

    impl Device {
        fn try_login(&mut self, c: &Option<Credential>) -> Outcome {
            let c = c.as_ref().unwrap();
            self.log.push(format!("{}:{}", c.username, c.password));
            if c.username != "admin" {
                return Outcome::Rejected;
            }
            if self.failures >= self.threshold {
                return Outcome::Rejected;
            }
            if c.password == "good" {
                self.failures = 0;
                Outcome::Accepted
            } else {
                self.failures += 1;
                Outcome::Rejected
            }
        }
    }

    fn login_step(text: &str) -> LoginStep {
        match crate::actions::test_support::action(text) {
            hopquy_case::StepAction::Login(step) => step,
            other => panic!("not a login step: {other:?}"),
        }
    }

    #[test]
    fn dictionaries_stop_at_the_first_accepted_pair_unless_exhaustive() {
        let profile: hopquy_case::ProfileFile = toml::from_str("name = \"p\"\ndescription = \"d\"").unwrap();
        let target = crate::actions::test_support::target("pw", &[]);
        let dicts = BTreeMap::from([("d".to_owned(), vec![("admin".to_owned(), "12345".to_owned())])]);
        let paths = BTreeMap::new();
        let mut ctx =
            crate::actions::test_support::context(hopquy_probe::Limits::default(), &profile, &target, &dicts, &paths);
        let step = |extra: &str| login_step(&format!("id = \"s\"\naction = \"login\"\n{extra}"));
        let stops =
            |ctx: &RunContext<'_>, extra: &str| Plan::from_step(&step(extra), ctx, &json!({})).unwrap().stop_on_accept;
        assert!(stops(&ctx, "credentials = \"dictionary:d\""));
        assert!(!stops(&ctx, "credentials = \"dictionary:d\"\nstop_on_accept = false"));
        assert!(!stops(&ctx, "credentials = \"wrong-password\""));
        assert!(stops(&ctx, "credentials = \"wrong-password\"\nstop_on_accept = true"));
        ctx.exhaustive = true;
        assert!(!stops(&ctx, "credentials = \"dictionary:d\""));
        assert!(!stops(&ctx, "credentials = \"dictionary:d\"\nstop_on_accept = true"));
    }

    /// The factory defaults: the profile's pairs once each, stopping at an acceptance, capped
    /// at the lockout threshold minus 2; no pairs, or no room below the threshold, is not
    /// applicable, never a pass.
    #[test]
    fn factory_defaults_are_the_profiles_pairs_kept_two_below_the_lockout() {
        let with_pairs: hopquy_case::ProfileFile = toml::from_str(
            "name = \"p\"\ndescription = \"d\"\nfactory_default = [{ user = \"admin\", password = \"12345\" }, { user = \"admin\", password = \"pw\" }]",
        )
        .unwrap();
        let without: hopquy_case::ProfileFile =
            toml::from_str("name = \"q\"\ndescription = \"d\"\nfactory_default = []").unwrap();
        // The lab's own account is a factory pair here: it must stay secret.
        let target = crate::actions::test_support::target("pw", &[]);
        let (dicts, paths) = (BTreeMap::new(), BTreeMap::new());
        let step = login_step("id = \"s\"\naction = \"login\"\ncredentials = \"factory-default\"\ninterval_ms = 1500");
        let ctx = crate::actions::test_support::context(
            hopquy_probe::Limits::default(),
            &with_pairs,
            &target,
            &dicts,
            &paths,
        );
        let plan = Plan::from_step(&step, &ctx, &json!({})).unwrap();
        let sent: Vec<String> = plan.pending.iter().map(credential_label).collect();
        assert_eq!(sent, ["admin:12345", "admin:[REDACTED]"]);
        assert!(plan.stop_on_accept && plan.interval_ms == 1500 && plan.reset_below.is_none());
        assert_eq!(plan.pacing["source"], "factory-default");
        assert_eq!(
            (plan.pacing["threshold"].clone(), plan.pacing["max_attempts"].clone()),
            (json!(5), json!(3))
        );
        // A declared threshold of 3 leaves one attempt; of 2, none.
        let plan = Plan::from_step(&step, &ctx, &json!({"declared": {"lockout": {"attempts": 3}}})).unwrap();
        assert_eq!(plan.pending.len(), 1);
        let err = Plan::from_step(&step, &ctx, &json!({"params": {"attempts": 2}})).unwrap_err();
        assert!(
            matches!(err, ActionError::NotApplicable(ref m) if m.contains("threshold of 2")),
            "{err:?}"
        );
        let ctx =
            crate::actions::test_support::context(hopquy_probe::Limits::default(), &without, &target, &dicts, &paths);
        let err = Plan::from_step(&step, &ctx, &json!({})).unwrap_err();
        assert!(
            matches!(err, ActionError::NotApplicable(ref m) if m.contains("documents no factory default")),
            "{err:?}"
        );
    }

    #[test]
    fn pacing_follows_what_was_measured_on_the_surface() {
        let declared =
            |m: Option<&SurfaceLock>| choose_pacing("rtsp", Some(5), Some(Duration::from_secs(30)), true, true, m);
        let p = declared(None);
        assert_eq!(
            (p.reset_below, p.window, p.settle),
            (Some(5), Some(Duration::from_secs(30)), true)
        );
        assert_eq!(p.observation["source"], "declared");
        let open = SurfaceLock::NoLock {
            after_failures: 5,
            case: "lockout-rtsp".into(),
        };
        let p = declared(Some(&open));
        assert_eq!((p.reset_below, p.window, p.settle), (Some(5), None, false), "no waits");
        assert_eq!(p.observation["source"], "measured");
        assert_eq!(p.observation["measured"]["locks"], false);
        assert!(p.observation["reason"].as_str().unwrap().contains("lockout-rtsp"));
        let locks = SurfaceLock::Locks {
            after_failures: 3,
            lasted_ms: Some(4000),
            case: "lockout-rtsp".into(),
        };
        let p = declared(Some(&locks));
        assert_eq!(
            (p.reset_below, p.window, p.settle),
            (Some(3), Some(Duration::from_secs(30)), true)
        );
        assert_eq!(p.observation["measured"]["lasted_ms"], 4000);
        // A burst or a single login asks for no pacing and gets none, whatever was measured.
        let p = choose_pacing("rtsp", None, None, true, false, Some(&locks));
        assert_eq!((p.reset_below, p.window, &p.observation), (None, None, &Value::Null));
    }

    #[test]
    fn a_step_is_paced_from_the_runs_measurement_of_its_own_surface() {
        let profile: hopquy_case::ProfileFile = toml::from_str("name = \"p\"\ndescription = \"d\"").unwrap();
        let target = crate::actions::test_support::target("pw", &[]);
        let dicts = BTreeMap::from([("d".to_owned(), vec![("root".to_owned(), "12345".to_owned())])]);
        let paths = BTreeMap::new();
        let ctx =
            crate::actions::test_support::context(hopquy_probe::Limits::default(), &profile, &target, &dicts, &paths);
        let step = login_step(
            "id = \"s\"\naction = \"login\"\nsurface = \"rtsp\"\ncredentials = \"dictionary:d\"\noptions = { reset_below = 5, window_s = 30, settle = true }",
        );
        let plan = Plan::from_step(&step, &ctx, &json!({})).unwrap();
        assert_eq!(plan.pacing["source"], "declared");
        assert!(
            plan.settle > Duration::from_secs(29),
            "the run just started: {:?}",
            plan.settle
        );
        ctx.measured.lock().unwrap().record(
            hopquy_case::LoginSurface::Http,
            SurfaceLock::NoLock {
                after_failures: 5,
                case: "lockout-http".into(),
            },
        );
        let plan = Plan::from_step(&step, &ctx, &json!({})).unwrap();
        assert_eq!(plan.pacing["source"], "declared", "HTTP's measurement is not RTSP's");
        ctx.measured.lock().unwrap().record(
            hopquy_case::LoginSurface::Rtsp,
            SurfaceLock::NoLock {
                after_failures: 5,
                case: "lockout-rtsp".into(),
            },
        );
        let plan = Plan::from_step(&step, &ctx, &json!({})).unwrap();
        assert_eq!(plan.pacing["source"], "measured");
        assert_eq!((plan.window, plan.settle), (None, Duration::ZERO));
        assert_eq!(plan.pacing["settle_ms"], 0);
    }

    #[tokio::test]
    async fn a_settle_waits_before_the_first_attempt_and_failures_are_logged() {
        let mut p = plan(&[("root", "1")], Some(3), Some(300));
        p.settle = Duration::from_millis(150);
        let log = FailureLog::started_before(Duration::from_secs(120));
        assert_eq!(log.settle(Duration::from_secs(60), true), Duration::ZERO);
        let obs = run(
            p,
            "admin",
            &log,
            |_| Box::pin(async { Ok(answer(Outcome::Rejected)) }),
            || Box::pin(async { Ok(Outcome::Accepted) }),
        )
        .await
        .unwrap();
        assert!(obs["paced_ms"].as_u64().unwrap() >= 150, "{obs}");
        assert!(obs["detail"][0]["t_ms"].as_u64().unwrap() >= 140, "{obs}");
        // root's failure counts for the next dictionary even with control logins.
        assert!(log.settle(Duration::from_secs(60), true) > Duration::from_secs(59));
    }

    #[tokio::test]
    async fn a_stopped_dictionary_says_how_much_it_left() {
        let mut p = plan(
            &[("admin", "x"), ("admin", "good"), ("admin", "good"), ("admin", "y")],
            None,
            None,
        );
        p.stop_on_accept = true;
        let obs = run(
            p,
            "admin",
            &FailureLog::default(),
            |c| {
                let ok = c.as_ref().is_some_and(|c| c.password == "good");
                Box::pin(async move { Ok(answer(if ok { Outcome::Accepted } else { Outcome::Rejected })) })
            },
            || Box::pin(async { Ok(Outcome::Accepted) }),
        )
        .await
        .unwrap();
        assert_eq!(obs["attempts"], 2);
        assert_eq!(obs["accepted"], 1);
        assert_eq!(obs["stopped_at_accept"], true);
        assert_eq!(obs["not_tried"], 2);
    }

    #[tokio::test]
    async fn control_logins_keep_a_long_dictionary_below_the_threshold() {
        let device = Mutex::new(Device {
            failures: 0,
            threshold: 3,
            log: Vec::new(),
        });
        let creds: Vec<(&str, &str)> = vec![("admin", "a"); 7];
        let obs = run(
            plan(&creds, Some(3), None),
            "admin",
            &FailureLog::default(),
            |c| {
                let outcome = device.lock().unwrap().try_login(&c);
                Box::pin(async move { Ok(answer(outcome)) })
            },
            || {
                let outcome = device.lock().unwrap().try_login(&cred("admin", "good"));
                Box::pin(async move { Ok(outcome) })
            },
        )
        .await
        .unwrap();
        assert_eq!(obs["attempts"], 7);
        assert_eq!(obs["rejected"], 7);
        assert_eq!(obs["aborted"], false);
        assert_eq!(obs["resets"], 3, "after every 2 failures");
        assert_eq!(obs["distinct_bodies"], 1);
        let log = device.lock().unwrap().log.clone();
        assert_eq!(log[2], "admin:good", "{log:?}");
    }

    #[tokio::test]
    async fn a_refused_control_login_aborts_the_run() {
        let device = Mutex::new(Device {
            failures: 0,
            threshold: 1,
            log: Vec::new(),
        });
        let obs = run(
            plan(&[("admin", "a"), ("admin", "b"), ("admin", "c")], Some(2), None),
            "admin",
            &FailureLog::default(),
            |c| {
                let outcome = device.lock().unwrap().try_login(&c);
                Box::pin(async move { Ok(answer(outcome)) })
            },
            || {
                let outcome = device.lock().unwrap().try_login(&cred("admin", "good"));
                Box::pin(async move { Ok(outcome) })
            },
        )
        .await
        .unwrap();
        assert_eq!(obs["aborted"], true);
        assert_eq!(obs["attempts"], 1);
    }

    #[tokio::test]
    async fn other_user_names_wait_for_the_window() {
        let device = Mutex::new(Device {
            failures: 0,
            threshold: 100,
            log: Vec::new(),
        });
        let creds = [("root", "1"), ("root", "2"), ("root", "3"), ("admin", "good")];
        let obs = run(
            plan(&creds, Some(3), Some(300)),
            "admin",
            &FailureLog::default(),
            |c| {
                let outcome = device.lock().unwrap().try_login(&c);
                Box::pin(async move { Ok(answer(outcome)) })
            },
            || {
                let outcome = device.lock().unwrap().try_login(&cred("admin", "good"));
                Box::pin(async move { Ok(outcome) })
            },
        )
        .await
        .unwrap();
        // root gets two failures per window; its third waits behind the admin attempt and
        // the window. The accepted admin pair is reported.
        let log = device.lock().unwrap().log.clone();
        assert_eq!(log.last().map(String::as_str), Some("root:3"), "{log:?}");
        assert!(obs["paced_ms"].as_u64().unwrap() >= 250, "{obs}");
        assert_eq!(obs["accepted_credentials"], json!(["admin:good"]));
        assert_eq!(obs["rejected"], 3);
    }

    #[tokio::test]
    async fn without_control_logins_the_target_user_is_paced_too() {
        let device = Mutex::new(Device {
            failures: 0,
            threshold: 100,
            log: Vec::new(),
        });
        let mut p = plan(&[("admin", "a"), ("admin", "b"), ("admin", "c")], Some(3), Some(300));
        p.control_login = false;
        let obs = run(
            p,
            "admin",
            &FailureLog::default(),
            |c| {
                let outcome = device.lock().unwrap().try_login(&c);
                Box::pin(async move { Ok(answer(outcome)) })
            },
            || Box::pin(async { Err(ActionError::Definition("no control login expected".into())) }),
        )
        .await
        .unwrap();
        assert_eq!(obs["resets"], 0);
        assert_eq!(obs["rejected"], 3);
        assert!(obs["paced_ms"].as_u64().unwrap() >= 250, "{obs}");
    }

    #[tokio::test]
    async fn stop_on_accept_and_errors_end_the_run() {
        let mut p = plan(&[("admin", "good"), ("admin", "x")], None, None);
        p.stop_on_accept = true;
        let obs = run(
            p,
            "admin",
            &FailureLog::default(),
            |_| Box::pin(async { Ok(answer(Outcome::Accepted)) }),
            || Box::pin(async { Ok(Outcome::Accepted) }),
        )
        .await
        .unwrap();
        assert_eq!(obs["attempts"], 1);
        let err = run(
            plan(&[("admin", "x")], None, None),
            "admin",
            &FailureLog::default(),
            |_| Box::pin(async { Err(ActionError::Definition("boom".into())) }),
            || Box::pin(async { Ok(Outcome::Accepted) }),
        )
        .await;
        assert!(matches!(err, Err(ActionError::Definition(_))));
        assert_eq!(nothing_tried()["attempts"], 0);
    }

    #[test]
    fn fingerprints_mask_digits() {
        assert_eq!(fingerprint(&json!(401), b"nonce=123"), "401 nonce=000");
    }
}
