//! How long a plan will take, before anything is sent: from the declared lockout (the waits a
//! paced dictionary and a lockout case force), the target's connection settings (the gap
//! between new connections, the timeouts) and each step's size (ports to sweep, pairs in a
//! dictionary).
//!
//! Invariants:
//! - An estimate is of a *compliant* device: every default credential refused, every lock
//!   expiring within its declared duration. A device that answers slowly or never takes
//!   longer; a weak one ends its dictionaries early.
//! - The pacing is simulated with the attempt engine's own rule ([`paced_schedule`] is what
//!   `dictionary::run` waits, tested against it), so the plan's waits and the run's agree.
//! - Nothing here touches the network; operators' answers are counted, not timed.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use hopquy_case::{
    Case, Credential, CredentialSet, LoginStep, LoginSurface, PathSource, PortsStep, ProfileFile, StepAction,
};
use serde_json::Value;

use crate::plan::{Plan, Skip};
use crate::run::{Target, template_context};

/// One exchange with a camera on a lab network: a connection, a TLS handshake where the
/// surface has one, a request and its answer. Cameras' embedded servers are slow.
const EXCHANGE: Duration = Duration::from_millis(300);
/// A login attempt on a fresh connection: a challenge and the answer to it.
const LOGIN_ATTEMPT: Duration = Duration::from_millis(600);
/// An SSH connection to the authentication stage (key exchange on a camera's CPU).
const SSH_SESSION: Duration = Duration::from_millis(1500);
/// One connect of a sweep to a port that answers (open or refused) on a LAN.
const SWEEP_CONNECT: Duration = Duration::from_millis(2);
/// Banner grabs of a sweep's open ports (server-speaks-first wait, then a protocol probe).
const SWEEP_GRABS: Duration = Duration::from_secs(3);
/// ClientHellos of a TLS audit (each version, each offered suite family).
const TLS_HELLOS: u32 = 60;
/// Width of a port sweep when the step sets no `options.concurrency`.
const SWEEP_WIDTH: u64 = 64;

/// One case's estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseEstimate {
    pub case: String,
    /// Machine time, excluding any wait for a person.
    pub duration: Duration,
    /// What makes the case long, one phrase per step that takes more than a few seconds
    /// (`65535 ports at 50 ms per connection`).
    pub basis: Vec<String>,
    /// Steps that wait for a person's answer or action.
    pub operator_steps: usize,
    /// The case will not run its steps (skipped by the plan).
    pub skipped: bool,
    /// Its port sweeps, which a gentle connection gap can stretch to an hour.
    pub sweeps: Vec<SweepEstimate>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SweepEstimate {
    pub step: String,
    pub ports: u64,
    /// The target file narrowed a sweep of every port to the profile's list.
    pub narrowed: bool,
    /// `at 50 ms per connection` or `64 at a time`.
    pub pace: String,
    pub duration: Duration,
}

/// The whole plan's estimate, in plan order.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEstimate {
    pub cases: Vec<CaseEstimate>,
    pub total: Duration,
    pub operator_steps: usize,
}

impl RunEstimate {
    pub fn of(&self, case: &str) -> Option<&CaseEstimate> {
        self.cases.iter().find(|c| c.case == case)
    }
}

/// Estimates every case of `plan` against `target`.
pub fn estimate(
    plan: &Plan,
    target: &Target,
    profile: &ProfileFile,
    credential_dictionaries: &BTreeMap<String, Vec<(String, String)>>,
    path_dictionaries: &BTreeMap<String, Vec<String>>,
) -> RunEstimate {
    let mut cases = Vec::with_capacity(plan.cases.len());
    // Whether a case before this one made failed logins: a dictionary's `settle` then waits
    // a window for them to age out.
    let mut failures_before = false;
    for (planned, skip) in &plan.cases {
        let case = &planned.case;
        let estimate = match skip {
            Some(Skip::MissingOps(_))
            | Some(Skip::DestructiveNotAllowed)
            | Some(Skip::IntrusiveNotAllowed)
            | Some(Skip::AlreadyDone) => CaseEstimate {
                case: case.id.get_ref().clone(),
                duration: Duration::ZERO,
                basis: Vec::new(),
                operator_steps: 0,
                skipped: true,
                sweeps: Vec::new(),
            },
            None => {
                let sizes = Sizes {
                    target,
                    profile,
                    credential_dictionaries,
                    path_dictionaries,
                    failures_before,
                };
                let e = estimate_case(case, &sizes);
                failures_before |= case.effect == hopquy_case::Effect::LocksAccount;
                e
            }
        };
        cases.push(estimate);
    }
    RunEstimate {
        total: cases.iter().map(|c| c.duration).sum(),
        operator_steps: cases.iter().map(|c| c.operator_steps).sum(),
        cases,
    }
}

struct Sizes<'a> {
    target: &'a Target,
    profile: &'a ProfileFile,
    credential_dictionaries: &'a BTreeMap<String, Vec<(String, String)>>,
    path_dictionaries: &'a BTreeMap<String, Vec<String>>,
    failures_before: bool,
}

fn estimate_case(case: &Case, sizes: &Sizes<'_>) -> CaseEstimate {
    let tctx = template_context(case, sizes.target);
    let gap = sizes.target.limits.min_connect_gap;
    let mut duration = Duration::ZERO;
    let mut basis = Vec::new();
    let mut operator_steps = 0;
    // Failures of unpaced logins since the account was last open: a burst that reaches the
    // declared threshold locks a compliant device, and the next `recover` waits it out.
    let threshold = lockout_threshold(&tctx);
    let mut unpaced_failures: u64 = 0;
    let mut sweeps = Vec::new();
    for step in &case.steps {
        let (took, why) = match step.action.get_ref() {
            StepAction::Operator(_) | StepAction::Document(_) => {
                operator_steps += 1;
                (Duration::ZERO, None)
            }
            // Reads the report scanned before the run; nothing is sent.
            StepAction::Firmware(_) => (Duration::ZERO, None),
            StepAction::LabNet(step) => {
                let s = Duration::from_secs(step.wait_s.as_ref().and_then(|w| value_u64(w, &tctx)).unwrap_or(0));
                (s, (!s.is_zero()).then(|| format!("a lab-network wait of {}", human(s))))
            }
            StepAction::Wait(wait) => {
                let s = Duration::from_secs(value_u64(&wait.seconds, &tctx).unwrap_or(0));
                (s, Some(format!("a wait of {}", human(s))))
            }
            StepAction::Recover(recover) => {
                // A recover before any wrong password finds the account open at once; after a
                // burst it waits out the lock, for as long as the device declares.
                if unpaced_failures >= threshold {
                    unpaced_failures = 0;
                    let s = Duration::from_secs(number(&recover.seconds, &tctx).unwrap_or(300));
                    (s, Some(format!("waiting out a {} lock", human(s))))
                } else {
                    unpaced_failures = 0;
                    (LOGIN_ATTEMPT + gap, None)
                }
            }
            StepAction::Login(login) => {
                let paced = login.options.reset_below.is_some();
                if matches!(
                    login.credentials.get_ref(),
                    CredentialSet::One(Credential::WrongPassword | Credential::UnknownUser)
                ) && !paced
                {
                    unpaced_failures += number(&login.repeat, &tctx).unwrap_or(1).max(1);
                }
                login_time(login, &tctx, sizes)
            }
            StepAction::Ports(ports) => {
                let sweep = sweep_time(step.id.get_ref(), ports, &tctx, sizes);
                let why = format!("{} ports {}", sweep.ports, sweep.pace);
                let took = sweep.duration;
                sweeps.push(sweep);
                (took, Some(why))
            }
            StepAction::Tls(_) => (
                (EXCHANGE / 10 + gap) * TLS_HELLOS,
                (gap >= Duration::from_millis(20)).then(|| format!("{TLS_HELLOS} TLS handshakes")),
            ),
            StepAction::Ssh(_) => (SSH_SESSION + gap, None),
            StepAction::Rtsp(rtsp) => {
                let paths: usize = rtsp.paths.as_ref().map_or(1, |p| {
                    p.0.iter()
                        .map(|source| match source {
                            PathSource::Dictionary(name) => sizes.path_dictionaries.get(name).map_or(1, Vec::len),
                            PathSource::Profile => sizes.profile.rtsp.as_ref().map_or(1, |r| r.paths.len().max(1)),
                            PathSource::Path(_) => 1,
                        })
                        .sum()
                });
                let t = (EXCHANGE + gap) * u32::try_from(paths.max(1)).unwrap_or(u32::MAX);
                (t, (paths > 10).then(|| format!("{paths} RTSP paths")))
            }
            StepAction::PasswordPolicy(_) => {
                // Each rule is tried with a password the policy must refuse and one it must
                // accept, each a create, a check and a delete.
                ((EXCHANGE + gap) * 24, None)
            }
            _ => (EXCHANGE + gap, None),
        };
        duration += took;
        if let Some(why) = why.filter(|_| took >= Duration::from_secs(5)) {
            basis.push(format!("`{}`: {why}", step.id.get_ref()));
        }
    }
    CaseEstimate {
        case: case.id.get_ref().clone(),
        duration,
        basis,
        operator_steps,
        skipped: false,
        sweeps,
    }
}

fn login_time(login: &LoginStep, tctx: &Value, sizes: &Sizes<'_>) -> (Duration, Option<String>) {
    let gap = sizes.target.limits.min_connect_gap;
    let per_attempt = if login.target.surface() == LoginSurface::Ssh {
        SSH_SESSION
    } else {
        LOGIN_ATTEMPT
    } + gap
        + Duration::from_millis(number(&login.interval_ms, tctx).unwrap_or(0));
    let repeat = number(&login.repeat, tctx).unwrap_or(1).max(1);
    let user = &sizes.target.username;
    let users: Vec<String> = match login.credentials.get_ref() {
        CredentialSet::Dictionary(name) => sizes
            .credential_dictionaries
            .get(name)
            .map(|pairs| pairs.iter().map(|(u, _)| u.clone()).collect())
            .unwrap_or_default(),
        CredentialSet::FactoryDefault => sizes
            .profile
            .factory_default
            .as_deref()
            .unwrap_or_default()
            .iter()
            .take(hopquy_case::MAX_FACTORY_DEFAULTS)
            .map(|pair| pair.user.clone())
            .collect(),
        CredentialSet::One(Credential::UnknownUser) => vec![format!("unknown-{user}")],
        CredentialSet::One(_) => vec![user.clone()],
    };
    let attempts: Vec<String> = (0..repeat).flat_map(|_| users.iter().cloned()).collect();
    let resolved = |v: &Option<toml::Value>| v.as_ref().and_then(|v| crate::template::resolve(v, tctx).ok());
    let reset_below = resolved(&login.options.reset_below).and_then(|v| v.as_u64());
    let window = resolved(&login.options.window_s)
        .and_then(|v| v.as_u64())
        .map(Duration::from_secs);
    let control_login = resolved(&login.options.control_login)
        .and_then(|v| v.as_bool())
        .unwrap_or(true);
    let settle = resolved(&login.options.settle)
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let schedule = paced_schedule(&attempts, user, reset_below, window, control_login, per_attempt);
    let mut took = schedule.total;
    let mut why = format!("{} login attempts", attempts.len());
    if schedule.windows > 0 {
        why.push_str(&format!(
            ", {} of it waiting for {} lockout windows to pass (paced below the declared lockout)",
            human(schedule.waited),
            human(window.unwrap_or_default())
        ));
    }
    if let Some(window) = window.filter(|_| settle && sizes.failures_before) {
        took += window;
        why.push_str(&format!(", after a {} settle", human(window)));
    }
    (took, Some(why))
}

fn sweep_time(step_id: &str, step: &PortsStep, tctx: &Value, sizes: &Sizes<'_>) -> SweepEstimate {
    let (ports, scope) = crate::actions::ports::sweep_list(step.ports.as_ref(), tctx, sizes.target, sizes.profile)
        .map(|(list, scope)| (list.len() as u64, scope))
        .unwrap_or((0, crate::actions::ports::SweepScope::List));
    let width = number(&step.options.concurrency, tctx)
        .unwrap_or(SWEEP_WIDTH)
        .clamp(1, 1024);
    let gap = sizes.target.limits.min_connect_gap;
    // The gap is one global pace for the whole sweep, whatever its width.
    let (connects, pace) = if gap.is_zero() {
        (
            SWEEP_CONNECT * u32::try_from(ports.div_ceil(width)).unwrap_or(u32::MAX),
            format!("{width} at a time"),
        )
    } else {
        (
            gap * u32::try_from(ports).unwrap_or(u32::MAX),
            format!("at {} ms per connection (min_connect_gap_ms)", gap.as_millis()),
        )
    };
    SweepEstimate {
        step: step_id.to_owned(),
        ports,
        narrowed: scope == crate::actions::ports::SweepScope::Profile,
        pace,
        duration: connects + SWEEP_GRABS,
    }
}

/// Wrong passwords after which a compliant device locks: the case's `attempts` parameter
/// (from the declaration), else the declared lockout, else Decision 724's five.
fn lockout_threshold(tctx: &Value) -> u64 {
    tctx.pointer("/params/attempts")
        .or_else(|| tctx.pointer("/declared/lockout/attempts"))
        .and_then(Value::as_u64)
        .unwrap_or(5)
        .max(1)
}

fn number(v: &Option<toml::Value>, tctx: &Value) -> Option<u64> {
    value_u64(v.as_ref()?, tctx)
}

fn value_u64(v: &toml::Value, tctx: &Value) -> Option<u64> {
    crate::template::resolve(v, tctx).ok()?.as_u64()
}

/// What the attempt engine's pacing does to a list of attempts (user names in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub total: Duration,
    /// Times the engine waited for a window to pass.
    pub windows: usize,
    /// How long those waits took together.
    pub waited: Duration,
}

/// The attempt engine's pacing in virtual time, every attempt refused: at most
/// `reset_below - 1` failures per user name within `window`; the target's own name is kept
/// below the threshold by control logins instead (when `control_login`), each costing an
/// attempt. The rule is `dictionary::run`'s; a test holds the two together.
pub fn paced_schedule(
    attempts: &[String],
    target_user: &str,
    reset_below: Option<u64>,
    window: Option<Duration>,
    control_login: bool,
    per_attempt: Duration,
) -> Schedule {
    let mut pending: Vec<&String> = attempts.iter().collect();
    let mut now = Duration::ZERO;
    let mut windows = 0;
    let mut waited = Duration::ZERO;
    let mut failures: HashMap<&str, Vec<Duration>> = HashMap::new();
    let mut consecutive: u64 = 0;
    while !pending.is_empty() {
        let eligible = |user: &str, now: Duration| -> bool {
            let (Some(limit), Some(window)) = (reset_below, window) else {
                return true;
            };
            if control_login && user == target_user {
                return true;
            }
            let recent = failures
                .get(user)
                .map_or(0, |v| v.iter().filter(|t| now.saturating_sub(**t) < window).count());
            (recent as u64) + 1 < limit
        };
        let Some(index) = pending.iter().position(|u| eligible(u, now)) else {
            let window_len = window.unwrap_or_default();
            let oldest = failures
                .values()
                .flatten()
                .filter(|t| now.saturating_sub(**t) < window_len)
                .min()
                .copied()
                .unwrap_or(now);
            let wait = window_len.saturating_sub(now.saturating_sub(oldest)) + Duration::from_millis(100);
            now += wait;
            waited += wait;
            windows += 1;
            continue;
        };
        let user = pending.remove(index);
        if let Some(limit) = reset_below.filter(|_| control_login)
            && consecutive + 1 >= limit
        {
            now += per_attempt;
            consecutive = 0;
        }
        now += per_attempt;
        consecutive += 1;
        failures.entry(user.as_str()).or_default().push(now);
    }
    Schedule {
        total: now,
        windows,
        waited,
    }
}

/// `55 min`, `2 min 10 s`, `40 s`: what a lab reads at a glance.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 if d.is_zero() => "0 s".to_owned(),
        0 => "<1 s".to_owned(),
        1..60 => format!("{s} s"),
        60..3600 if s.is_multiple_of(60) || s >= 600 => format!("{} min", (s + 30) / 60),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600 + 30) / 60),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn users(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn unpaced_attempts_take_their_own_time_only() {
        let s = paced_schedule(
            &users(&["admin", "root", "root"]),
            "admin",
            None,
            None,
            true,
            Duration::from_secs(1),
        );
        assert_eq!(
            s,
            Schedule {
                total: Duration::from_secs(3),
                windows: 0,
                waited: Duration::ZERO
            }
        );
    }

    #[test]
    fn other_user_names_wait_for_a_window_after_reset_below_minus_one_failures() {
        // Threshold 3: root may fail twice per 60 s window; its third attempt waits.
        let s = paced_schedule(
            &users(&["root", "root", "root"]),
            "admin",
            Some(3),
            Some(Duration::from_secs(60)),
            true,
            Duration::from_secs(1),
        );
        assert_eq!(s.windows, 1);
        // Two failures, a wait until the first ages out, a control login (the engine keeps the
        // consecutive count below the threshold whatever the user name), the third attempt.
        assert!(
            s.total > Duration::from_secs(62) && s.total < Duration::from_secs(64),
            "{s:?}"
        );
    }

    #[test]
    fn the_target_user_is_kept_below_the_threshold_by_control_logins() {
        // Four failures of admin with threshold 3: control logins after each two, no window.
        let s = paced_schedule(
            &users(&["admin"; 4]),
            "admin",
            Some(3),
            Some(Duration::from_secs(60)),
            true,
            Duration::from_secs(1),
        );
        assert_eq!(s.windows, 0);
        assert_eq!(s.total, Duration::from_secs(5), "4 attempts and 1 control login");
    }

    /// The plan's pacing and the engine's must agree: run the real engine in paused time
    /// over the same attempts and compare the waits.
    #[tokio::test(start_paused = true)]
    async fn the_schedule_matches_the_attempt_engine() {
        use crate::actions::dictionary::{self, Attempt, Outcome, Pending};
        use crate::measured::FailureLog;
        use hopquy_probe::Credential;
        use std::collections::VecDeque;

        let names = users(&[
            "admin", "root", "root", "root", "guest", "root", "admin", "admin", "root",
        ]);
        let per_attempt = Duration::from_millis(500);
        let plan = dictionary::Plan {
            pending: names
                .iter()
                .map(|u| {
                    Some(Credential {
                        username: u.clone(),
                        password: "x".into(),
                        secret: false,
                    })
                })
                .collect::<VecDeque<_>>(),
            reset_below: Some(3),
            window: Some(Duration::from_secs(30)),
            interval_ms: 0,
            stop_on_accept: true,
            fresh_connection: true,
            control_login: true,
            settle: Duration::ZERO,
            pacing: Value::Null,
        };
        let started = tokio::time::Instant::now();
        let failures = FailureLog::default();
        dictionary::run(
            plan,
            "admin",
            &failures,
            |_c: Option<Credential>| -> Pending<'_, Attempt> {
                Box::pin(async move {
                    tokio::time::sleep(per_attempt).await;
                    Ok(Attempt {
                        outcome: Outcome::Rejected,
                        status: serde_json::json!(401),
                        elapsed_ms: 500,
                        fingerprint: "401".into(),
                    })
                })
            },
            || -> Pending<'_, Outcome> {
                Box::pin(async move {
                    tokio::time::sleep(per_attempt).await;
                    Ok(Outcome::Accepted)
                })
            },
        )
        .await
        .unwrap();
        let engine = started.elapsed();
        let plan = paced_schedule(
            &names,
            "admin",
            Some(3),
            Some(Duration::from_secs(30)),
            true,
            per_attempt,
        );
        let diff = engine.abs_diff(plan.total);
        assert!(
            diff < Duration::from_secs(1),
            "engine took {engine:?}, the plan says {:?}",
            plan.total
        );
        assert!(plan.windows >= 1, "the fixture must make the engine wait a window");
    }

    #[test]
    fn human_durations_read_at_a_glance() {
        assert_eq!(human(Duration::from_secs(40)), "40 s");
        assert_eq!(human(Duration::from_secs(130)), "2 min 10 s");
        assert_eq!(human(Duration::from_secs(3277)), "55 min");
        assert_eq!(human(Duration::from_secs(7300)), "2 h 2 min");
    }
}
