//! How a device's answer reads: the one place a profile's classifiers (`accepted`,
//! `rejected`, `locked`) are applied, for every HTTP-based action and the RTSP surface.
//!
//! Invariants:
//! - Classifiers are compiled once per run ([`Classifiers::of_profile`]), never per answer:
//!   a dictionary of hundreds of attempts does not recompile a regex hundreds of times.
//! - A lock signal is read before acceptance and rejection: a locked device often answers
//!   with the same status as a plain refusal, and only the body tells them apart.
//! - A pattern that does not compile (the profile validator refuses them, but a bundle from
//!   an older version may hold one) matches nothing, so it can never turn an answer into
//!   "accepted".

use std::collections::BTreeMap;

use hopquy_case::{Classifier, Op, ProfileFile};

/// A profile classifier, compiled: every condition given must hold.
#[derive(Debug, Clone)]
pub struct Matcher {
    status: Vec<u16>,
    body_contains: Option<String>,
    body_matches: Option<Result<regex::Regex, ()>>,
}

impl Matcher {
    pub fn new(c: &Classifier) -> Matcher {
        Matcher {
            status: c.status.clone(),
            body_contains: c.body_contains.clone(),
            body_matches: c.body_matches.as_deref().map(|p| regex::Regex::new(p).map_err(|_| ())),
        }
    }

    fn status_only(status: impl IntoIterator<Item = u16>) -> Matcher {
        Matcher {
            status: status.into_iter().collect(),
            body_contains: None,
            body_matches: None,
        }
    }

    pub fn matches(&self, status: u16, body: &[u8]) -> bool {
        if !self.status.is_empty() && !self.status.contains(&status) {
            return false;
        }
        if self.body_contains.is_none() && self.body_matches.is_none() {
            return true;
        }
        let body = String::from_utf8_lossy(body);
        if let Some(needle) = &self.body_contains
            && !body.contains(needle.as_str())
        {
            return false;
        }
        match &self.body_matches {
            Some(Ok(re)) => re.is_match(&body),
            Some(Err(())) => false,
            None => true,
        }
    }
}

/// How an answer reads as a login (or operation) outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Rejected,
    Locked,
    Unknown,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Outcome::Accepted, Outcome::Rejected, Outcome::Locked, Outcome::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
            Outcome::Locked => "locked",
            Outcome::Unknown => "unknown",
        }
    }
}

/// The classifiers of one operation (or of a raw request: the defaults).
#[derive(Debug, Clone)]
pub struct OpClassifier {
    accepted: Matcher,
    rejected: Matcher,
    /// The op's own `rejected`, when it declares one (a password-policy refusal must be the
    /// device's word for it, not the default 401/403).
    declared_rejected: Option<Matcher>,
    locked: Option<Matcher>,
}

impl OpClassifier {
    /// Defaults: 2xx accepted, 401/403 rejected, no lock signal.
    pub fn of(op: Option<&Op>) -> OpClassifier {
        let declared_rejected = op.and_then(|o| o.rejected.as_ref()).map(Matcher::new);
        OpClassifier {
            accepted: op
                .and_then(|o| o.accepted.as_ref())
                .map_or_else(|| Matcher::status_only(200..300), Matcher::new),
            rejected: declared_rejected
                .clone()
                .unwrap_or_else(|| Matcher::status_only([401, 403])),
            declared_rejected,
            locked: op.and_then(|o| o.locked.as_ref()).map(Matcher::new),
        }
    }

    /// A login answer: locked first, then accepted, then rejected.
    pub fn login(&self, status: u16, body: &[u8]) -> Outcome {
        if self.is_locked(status, body) {
            Outcome::Locked
        } else if self.accepted.matches(status, body) {
            Outcome::Accepted
        } else if self.rejected.matches(status, body) {
            Outcome::Rejected
        } else {
            Outcome::Unknown
        }
    }

    pub fn is_locked(&self, status: u16, body: &[u8]) -> bool {
        self.locked.as_ref().is_some_and(|l| l.matches(status, body))
    }

    /// A login answer that shows the credentials work: accepted and no lock signal.
    pub fn logged_in(&self, status: u16, body: &[u8]) -> bool {
        !self.is_locked(status, body) && self.accepted.matches(status, body)
    }

    /// A login answer that shows they do not (now): a lock signal or a rejection.
    pub fn refused(&self, status: u16, body: &[u8]) -> bool {
        self.is_locked(status, body) || self.rejected.matches(status, body)
    }

    /// An answer to an operation that changes something (create a user): accepted, refused
    /// in the op's own declared words, or unknown — a default 401/403 is the harness's
    /// problem, not the device's refusal.
    pub fn operation(&self, status: u16, body: &[u8]) -> Outcome {
        if self.accepted.matches(status, body) {
            Outcome::Accepted
        } else if self.declared_rejected.as_ref().is_some_and(|r| r.matches(status, body)) {
            Outcome::Rejected
        } else {
            Outcome::Unknown
        }
    }
}

/// Every operation's classifiers, compiled when the run starts.
#[derive(Debug, Clone)]
pub struct Classifiers {
    ops: BTreeMap<String, OpClassifier>,
    raw: OpClassifier,
    rtsp_locked: Option<Matcher>,
}

impl Classifiers {
    pub fn of_profile(profile: &ProfileFile) -> Classifiers {
        Classifiers {
            ops: profile
                .ops
                .iter()
                .map(|(name, op)| (name.clone(), OpClassifier::of(Some(op))))
                .collect(),
            raw: OpClassifier::of(None),
            rtsp_locked: profile.rtsp.as_ref().and_then(|r| r.locked.as_ref()).map(Matcher::new),
        }
    }

    /// The classifiers of the named operation; the defaults for a raw request (or an op
    /// the profile does not bind).
    pub fn op(&self, name: Option<&str>) -> &OpClassifier {
        name.and_then(|n| self.ops.get(n)).unwrap_or(&self.raw)
    }

    /// The profile's sign of a locked account on its RTSP server.
    pub fn rtsp_locked(&self, status: u16, body: &[u8]) -> bool {
        self.rtsp_locked.as_ref().is_some_and(|l| l.matches(status, body))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn op(text: &str) -> Op {
        toml::from_str(&format!("path = \"/x\"\n{text}")).unwrap()
    }

    #[test]
    fn every_condition_of_a_classifier_must_hold() {
        let locked = Matcher::new(&Classifier {
            status: vec![401],
            body_matches: Some("lock(ed)?".into()),
            ..Default::default()
        });
        assert!(locked.matches(401, b"<lockStatus>lock</lockStatus>"));
        assert!(!locked.matches(401, b"nope"));
        assert!(!locked.matches(403, b"lock"));
        let broken = Matcher::new(&Classifier {
            body_matches: Some("(".into()),
            ..Default::default()
        });
        assert!(
            !broken.matches(200, b"("),
            "a pattern that does not compile matches nothing"
        );
    }

    #[test]
    fn a_lock_is_read_before_acceptance_and_rejection() {
        let c = OpClassifier::of(Some(&op(
            "[locked]\nstatus = [401]\nbody_contains = \"locked\"\n[accepted]\nstatus = [200]",
        )));
        assert_eq!(c.login(401, b"account locked"), Outcome::Locked);
        assert_eq!(c.login(401, b"bad password"), Outcome::Rejected);
        assert_eq!(c.login(200, b"ok"), Outcome::Accepted);
        assert_eq!(c.login(500, b"?"), Outcome::Unknown);
    }

    #[test]
    fn an_operation_is_refused_only_in_the_ops_own_words() {
        let plain = OpClassifier::of(Some(&op("")));
        assert_eq!(
            plain.operation(401, b""),
            Outcome::Unknown,
            "401 is the harness's problem"
        );
        assert_eq!(plain.operation(201, b""), Outcome::Accepted);
        let declared = OpClassifier::of(Some(&op("[rejected]\nstatus = [400]\nbody_contains = \"weak\"")));
        assert_eq!(declared.operation(400, b"password too weak"), Outcome::Rejected);
        assert_eq!(declared.operation(400, b"bad xml"), Outcome::Unknown);
        // The login reading of the same op uses the declared rejection instead of 401/403.
        assert_eq!(declared.login(401, b""), Outcome::Unknown);
    }
}
