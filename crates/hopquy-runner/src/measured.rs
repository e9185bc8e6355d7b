//! What the run measured about the device's lockout, per login surface, for the cases that
//! come after: a credential dictionary is paced from the lock the device showed, not only
//! from the one it declared.
//!
//! A `measures = "lockout"` case sends a burst of wrong passwords, tries the target's own
//! credentials and waits the lock out with `recover` (hopquy-case finds those steps by what
//! they do). Only a burst that was read completely counts: every attempt refused, the check
//! answered one way or the other. Anything else (an error, an unrecognised answer, a step the
//! verdict skipped) leaves the surface unmeasured, and the dictionary keeps its declared pacing.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hopquy_case::{Case, LoginSurface, Measures};
use hopquy_evidence::{CaseResult, StepStatus};
use serde_json::{Value, json};

/// One surface's lock as measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SurfaceLock {
    /// The target's credentials were refused after `after_failures` wrong passwords in a
    /// burst; `lasted_ms` is how long `recover` waited until they were accepted again (None
    /// when the lock did not expire within the declared duration).
    Locks {
        after_failures: u64,
        lasted_ms: Option<u64>,
        case: String,
    },
    /// The target's credentials were still accepted after `after_failures` wrong passwords.
    NoLock { after_failures: u64, case: String },
}

impl SurfaceLock {
    /// The evidence form, as dictionary steps report it under `pacing.measured`.
    pub fn to_json(&self) -> Value {
        match self {
            SurfaceLock::Locks {
                after_failures,
                lasted_ms,
                case,
            } => json!({"locks": true, "after_failures": after_failures, "lasted_ms": lasted_ms, "case": case}),
            SurfaceLock::NoLock { after_failures, case } => {
                json!({"locks": false, "after_failures": after_failures, "case": case})
            }
        }
    }
}

/// Every surface measured so far in the run.
#[derive(Debug, Default, Clone)]
pub struct Measured {
    by_surface: BTreeMap<LoginSurface, SurfaceLock>,
}

impl Measured {
    pub fn get(&self, surface: LoginSurface) -> Option<&SurfaceLock> {
        self.by_surface.get(&surface)
    }

    pub fn surfaces(&self) -> impl Iterator<Item = (&str, &SurfaceLock)> {
        self.by_surface.iter().map(|(s, l)| (s.as_str(), l))
    }

    /// Adds one measurement. Two measurements of one surface (ONVIF with Digest and with
    /// UsernameToken) merge towards caution: any lock makes the surface locking, at the
    /// lowest threshold and the longest duration seen.
    pub fn record(&mut self, surface: LoginSurface, lock: SurfaceLock) {
        let merged = match (self.by_surface.remove(&surface), lock) {
            (None, new) => new,
            (
                Some(SurfaceLock::Locks {
                    after_failures: a,
                    lasted_ms: la,
                    case,
                }),
                SurfaceLock::Locks {
                    after_failures: b,
                    lasted_ms: lb,
                    ..
                },
            ) => SurfaceLock::Locks {
                after_failures: a.min(b),
                lasted_ms: match (la, lb) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                },
                case,
            },
            (Some(old @ SurfaceLock::Locks { .. }), SurfaceLock::NoLock { .. }) => old,
            (Some(SurfaceLock::NoLock { .. }), new @ SurfaceLock::Locks { .. }) => new,
            (
                Some(SurfaceLock::NoLock {
                    after_failures: a,
                    case,
                }),
                SurfaceLock::NoLock { after_failures: b, .. },
            ) => SurfaceLock::NoLock {
                after_failures: a.max(b),
                case,
            },
        };
        self.by_surface.insert(surface, merged);
    }

    /// Records what a finished (or resumed) case measured, if it measures the lockout.
    pub fn record_case(&mut self, case: &Case, result: &CaseResult) {
        for (surface, lock) in measure(case, result) {
            tracing::info!(case = %result.id, %surface, lock = %lock.to_json(), "lockout measured");
            self.record(surface, lock);
        }
    }
}

/// When the run last made a failed login, for the wait before a dictionary (`options.settle`):
/// failures an earlier case left still count on the device until a window has passed. A
/// failure of the target's own user name is kept apart: a success (a control login, a
/// `recover`) resets that counter on most devices, so it only counts for a dictionary that
/// makes no control logins.
#[derive(Debug)]
pub struct FailureLog {
    started: Instant,
    last: Mutex<LastFailures>,
}

#[derive(Debug, Default, Clone, Copy)]
struct LastFailures {
    other: Option<Instant>,
    target: Option<Instant>,
}

impl Default for FailureLog {
    fn default() -> Self {
        FailureLog {
            started: Instant::now(),
            last: Mutex::new(LastFailures::default()),
        }
    }
}

impl FailureLog {
    /// A log whose run started `ago`, for tests that must not wait for the run-start window.
    #[cfg(test)]
    pub(crate) fn started_before(ago: Duration) -> FailureLog {
        FailureLog {
            started: Instant::now() - ago,
            last: Mutex::new(LastFailures::default()),
        }
    }

    /// A failed login, now, of the target's user name or another one.
    pub fn note(&self, target_user: bool) {
        let now = Instant::now();
        if let Ok(mut last) = self.last.lock() {
            if target_user {
                last.target = Some(now);
            } else {
                last.other = Some(now);
            }
        }
    }

    /// How long to wait now so that `window` has passed since the run started (a run
    /// resumed right after an interrupted one inherits its failures) and since the last
    /// failure that counts.
    pub fn settle(&self, window: Duration, control_login: bool) -> Duration {
        let last = self.last.lock().map(|l| *l).unwrap_or_default();
        let latest = [Some(self.started), last.other, last.target.filter(|_| !control_login)]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(self.started);
        window.saturating_sub(latest.elapsed())
    }
}

/// The locks a `measures = "lockout"` case showed, per surface, from its step results.
pub fn measure(case: &Case, result: &CaseResult) -> Vec<(LoginSurface, SurfaceLock)> {
    if case.measures != Some(Measures::Lockout) || result.steps.len() != case.steps.len() {
        return Vec::new();
    }
    let count = |obs: &Value, key: &str| obs.get(key).and_then(Value::as_u64);
    let mut found = Vec::new();
    for m in case.lockout_measurements() {
        let (burst, check, recover) = (&result.steps[m.burst], &result.steps[m.check], &result.steps[m.recover]);
        let b = &burst.observations;
        // Every wrong password must have been sent and refused; a lock signalled mid-burst
        // gives the threshold itself.
        let complete = burst.status == StepStatus::Ok
            && count(b, "accepted") == Some(0)
            && count(b, "unknown") == Some(0)
            && b.get("aborted").and_then(Value::as_bool) != Some(true);
        let Some(attempts) = count(b, "attempts").filter(|n| *n > 0 && complete) else {
            continue;
        };
        let after_failures = match count(b, "first_locked_attempt") {
            // Locked before the first wrong password: a lock this case did not cause.
            Some(1) => continue,
            Some(k) => k - 1,
            None => attempts,
        };
        let c = &check.observations;
        if !check.status.observed() || count(c, "attempts") != Some(1) || count(c, "unknown") != Some(0) {
            continue;
        }
        let lock = if count(c, "accepted") == Some(1) {
            SurfaceLock::NoLock {
                after_failures,
                case: result.id.clone(),
            }
        } else {
            let r = &recover.observations;
            SurfaceLock::Locks {
                after_failures,
                lasted_ms: (r.get("recovered").and_then(Value::as_bool) == Some(true))
                    .then(|| count(r, "waited_ms"))
                    .flatten(),
                case: result.id.clone(),
            }
        };
        found.push((m.surface, lock));
    }
    found
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use hopquy_evidence::{StepResult, Verdict};

    use super::*;

    const CASE: &str = r#"
id = "lockout-x"
title = "t"
title_vi = "t"
kind = "automated"
method = "functional"
effect = "locks-account"
measures = "lockout"
since = "0.1.0"
summary = "s"
[clauses]
qcvn135-2024 = ["2.1.5"]
[[steps]]
id = "ready"
action = "recover"
surface = "rtsp"
[[steps]]
id = "burst"
action = "login"
surface = "rtsp"
credentials = "wrong-password"
repeat = 5
[[steps]]
id = "check"
action = "login"
surface = "rtsp"
credentials = "target"
[[steps]]
id = "recover"
action = "recover"
surface = "rtsp"
always = true
"#;

    fn case() -> Case {
        toml::from_str(CASE).unwrap()
    }

    fn step(id: &str, status: StepStatus, observations: Value) -> StepResult {
        StepResult {
            id: id.into(),
            action: "login".into(),
            status,
            message: None,
            observations,
        }
    }

    fn result(burst: Value, check_status: StepStatus, check: Value, recover: Value) -> CaseResult {
        let mut r: CaseResult = serde_json::from_value(json!({
            "id": "lockout-x", "clauses": [], "kind": "automated", "verdict": "pass",
            "summary": "", "evidence": [], "steps": []
        }))
        .unwrap();
        r.verdict = Verdict::Pass;
        r.steps = vec![
            step("ready", StepStatus::Ok, json!({"recovered": true, "waited_ms": 3})),
            step("burst", StepStatus::Ok, burst),
            step("check", check_status, check),
            step("recover", StepStatus::Ok, recover),
        ];
        r
    }

    fn burst(attempts: u64, first_locked: Value) -> Value {
        json!({"attempts": attempts, "accepted": 0, "unknown": 0, "aborted": false, "first_locked_attempt": first_locked})
    }

    #[test]
    fn a_refused_check_is_a_lock_with_its_duration() {
        let got = measure(
            &case(),
            &result(
                burst(5, Value::Null),
                StepStatus::Ok,
                json!({"attempts": 1, "accepted": 0, "unknown": 0}),
                json!({"recovered": true, "waited_ms": 4100}),
            ),
        );
        assert_eq!(
            got,
            vec![(
                LoginSurface::Rtsp,
                SurfaceLock::Locks {
                    after_failures: 5,
                    lasted_ms: Some(4100),
                    case: "lockout-x".into()
                }
            )]
        );
    }

    #[test]
    fn an_accepted_check_is_no_lock_and_a_lock_signal_gives_the_threshold() {
        let got = measure(
            &case(),
            &result(
                burst(5, Value::Null),
                StepStatus::FailedExpectation,
                json!({"attempts": 1, "accepted": 1, "unknown": 0}),
                json!({"recovered": true, "waited_ms": 0}),
            ),
        );
        assert!(
            matches!(got[0].1, SurfaceLock::NoLock { after_failures: 5, .. }),
            "{got:?}"
        );
        let got = measure(
            &case(),
            &result(
                burst(5, json!(4)),
                StepStatus::Ok,
                json!({"attempts": 1, "accepted": 0, "unknown": 0}),
                json!({"recovered": false, "waited_ms": 34000}),
            ),
        );
        assert!(
            matches!(
                got[0].1,
                SurfaceLock::Locks {
                    after_failures: 3,
                    lasted_ms: None,
                    ..
                }
            ),
            "{got:?}"
        );
    }

    #[test]
    fn an_incomplete_burst_or_an_unread_check_measures_nothing() {
        let check = json!({"attempts": 1, "accepted": 0, "unknown": 0});
        let recover = json!({"recovered": true, "waited_ms": 10});
        let unknown = json!({"attempts": 5, "accepted": 0, "unknown": 1});
        assert!(
            measure(
                &case(),
                &result(unknown, StepStatus::Ok, check.clone(), recover.clone())
            )
            .is_empty()
        );
        assert!(
            measure(
                &case(),
                &result(burst(5, Value::Null), StepStatus::Error, Value::Null, recover.clone())
            )
            .is_empty()
        );
        assert!(
            measure(
                &case(),
                &result(burst(5, Value::Null), StepStatus::Skipped, Value::Null, recover.clone())
            )
            .is_empty()
        );
        let mut not_measuring = case();
        not_measuring.measures = None;
        assert!(
            measure(
                &not_measuring,
                &result(burst(5, Value::Null), StepStatus::Ok, check, recover)
            )
            .is_empty()
        );
    }

    #[test]
    fn settling_waits_for_the_failures_that_count() {
        let log = FailureLog::default();
        let window = Duration::from_secs(60);
        assert!(
            log.settle(window, true) > Duration::from_secs(59),
            "the run start counts"
        );
        assert_eq!(log.settle(Duration::ZERO, true), Duration::ZERO);
        let log = FailureLog::started_before(Duration::from_secs(120));
        assert_eq!(log.settle(window, true), Duration::ZERO);
        log.note(true);
        assert_eq!(log.settle(window, true), Duration::ZERO, "reset by a success");
        assert!(
            log.settle(window, false) > Duration::from_secs(59),
            "no control login resets it"
        );
        log.note(false);
        assert!(log.settle(window, true) > Duration::from_secs(59));
    }

    #[test]
    fn two_measurements_of_one_surface_merge_towards_caution() {
        let mut m = Measured::default();
        let none = |n| SurfaceLock::NoLock {
            after_failures: n,
            case: "a".into(),
        };
        let locks = |n, ms| SurfaceLock::Locks {
            after_failures: n,
            lasted_ms: ms,
            case: "b".into(),
        };
        m.record(LoginSurface::Onvif, none(5));
        m.record(LoginSurface::Onvif, none(6));
        assert_eq!(m.get(LoginSurface::Onvif), Some(&none(6)));
        m.record(LoginSurface::Onvif, locks(5, Some(4000)));
        m.record(LoginSurface::Onvif, none(5));
        assert_eq!(m.get(LoginSurface::Onvif), Some(&locks(5, Some(4000))));
        m.record(LoginSurface::Onvif, locks(3, Some(9000)));
        assert_eq!(m.get(LoginSurface::Onvif), Some(&locks(3, Some(9000))));
        m.record(LoginSurface::Onvif, locks(4, None));
        assert_eq!(m.get(LoginSurface::Onvif), Some(&locks(3, None)));
        assert_eq!(m.get(LoginSurface::Http), None);
    }
}
