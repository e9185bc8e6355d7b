//! Server-side HTTP authentication, written independently of the harness's client so the
//! two check each other: RFC 7616 Digest (MD5 and SHA-256, qop=auth) with expiring,
//! replay-checked nonces; RFC 7617 Basic; and the Decision 724 failure counter.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

use base64::Engine as _;
use md5::Md5;
use sha2::{Digest as _, Sha256};

/// A nonce is honoured this long after it was issued.
pub(crate) const NONCE_LIFETIME: Duration = Duration::from_secs(300);
/// Outstanding nonces kept; an unauthenticated client can make the camera issue any
/// number, so the oldest are forgotten (a forgotten nonce just answers `stale=true`).
const MAX_NONCES: usize = 4096;
/// Failure counters kept; attempted usernames and client ports are client-chosen.
const MAX_COUNTERS: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    Md5,
    Sha256,
}

impl DigestAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("MD5") {
            Some(DigestAlgorithm::Md5)
        } else if name.eq_ignore_ascii_case("SHA-256") {
            Some(DigestAlgorithm::Sha256)
        } else {
            None
        }
    }

    pub fn hash_hex(self, data: &str) -> String {
        match self {
            // md-5 0.10 and sha2 0.11 implement different `digest` trait generations.
            DigestAlgorithm::Md5 => hex::encode(<Md5 as md5::Digest>::digest(data.as_bytes())),
            DigestAlgorithm::Sha256 => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }
}

/// The fields of an `Authorization: Digest …` header the server needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DigestResponse {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: DigestAlgorithm,
    pub qop: String,
    pub nc: u32,
    pub cnonce: String,
    pub opaque: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Authorization {
    Digest(DigestResponse),
    Basic { username: String, password: String },
}

/// `None` when the header is absent from the known schemes or malformed; the caller then
/// treats the request as anonymous (no password was checked, so nothing is counted).
pub(crate) fn parse_authorization(value: &str) -> Option<Authorization> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("Basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (username, password) = decoded.split_once(':')?;
        return Some(Authorization::Basic {
            username: username.to_string(),
            password: password.to_string(),
        });
    }
    if !scheme.eq_ignore_ascii_case("Digest") {
        return None;
    }
    let params = parse_params(rest)?;
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    // userhash=true would need a reverse lookup the camera does not offer.
    if get("userhash").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return None;
    }
    let algorithm = match get("algorithm") {
        Some(name) => DigestAlgorithm::parse(&name)?,
        None => DigestAlgorithm::Md5,
    };
    let nc = u32::from_str_radix(&get("nc")?, 16).ok()?;
    Some(Authorization::Digest(DigestResponse {
        username: get("username")?,
        realm: get("realm")?,
        nonce: get("nonce")?,
        uri: get("uri")?,
        response: get("response")?.to_ascii_lowercase(),
        algorithm,
        qop: get("qop")?,
        nc,
        cnonce: get("cnonce")?,
        opaque: get("opaque"),
    }))
}

/// `key=token` / `key="quoted \" string"` pairs separated by commas.
fn parse_params(input: &str) -> Option<Vec<(String, String)>> {
    let mut params = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(params);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') || key.is_empty() {
            return None;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => value.push(chars.next()?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        params.push((key, value));
    }
}

/// RFC 7616 §3.4.1 `response` for qop=auth.
#[allow(clippy::too_many_arguments)]
pub fn digest_response(
    algorithm: DigestAlgorithm,
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    nc: u32,
    cnonce: &str,
    qop: &str,
) -> String {
    let ha1 = algorithm.hash_hex(&format!("{username}:{realm}:{password}"));
    let ha2 = algorithm.hash_hex(&format!("{method}:{uri}"));
    algorithm.hash_hex(&format!("{ha1}:{nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}"))
}

/// Compares without an early exit so the time taken does not reveal the matching prefix.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceCheck {
    Fresh,
    /// Unknown, expired or forgotten: the client should retry with a new nonce.
    Stale,
    /// The nonce count did not increase: a replayed response.
    Replayed,
}

#[derive(Debug)]
struct NonceEntry {
    issued: Instant,
    highest_nc: u32,
}

#[derive(Debug, Default)]
pub(crate) struct NonceStore {
    nonces: HashMap<String, NonceEntry>,
    order: VecDeque<String>,
}

impl NonceStore {
    pub fn issue(&mut self, now: Instant) -> String {
        let mut bytes = [0u8; 16];
        rand::fill(&mut bytes);
        let nonce = hex::encode(bytes);
        while self.order.len() >= MAX_NONCES
            || self
                .order
                .front()
                .and_then(|n| self.nonces.get(n))
                .is_some_and(|e| now.duration_since(e.issued) > NONCE_LIFETIME)
        {
            match self.order.pop_front() {
                Some(old) => {
                    self.nonces.remove(&old);
                }
                None => break,
            }
        }
        self.nonces.insert(
            nonce.clone(),
            NonceEntry {
                issued: now,
                highest_nc: 0,
            },
        );
        self.order.push_back(nonce.clone());
        nonce
    }

    /// Like [`NonceStore::check`], but a fresh nonce is used up: current firmware honours
    /// each HTTP nonce for one request only (a replay or a second request answers
    /// `stale=true`), so a client must take a fresh challenge per request.
    pub fn check_once(&mut self, nonce: &str, nc: u32, now: Instant) -> NonceCheck {
        let result = self.check(nonce, nc, now);
        if result == NonceCheck::Fresh {
            self.nonces.remove(nonce);
            self.order.retain(|n| n != nonce);
        }
        result
    }

    /// Records `nc` as used when the nonce is fresh.
    pub fn check(&mut self, nonce: &str, nc: u32, now: Instant) -> NonceCheck {
        match self.nonces.get_mut(nonce) {
            None => NonceCheck::Stale,
            Some(entry) if now.duration_since(entry.issued) > NONCE_LIFETIME => NonceCheck::Stale,
            Some(entry) if nc <= entry.highest_nc => NonceCheck::Replayed,
            Some(entry) => {
                entry.highest_nc = nc;
                NonceCheck::Fresh
            }
        }
    }
}

/// The lockout policy in force (admin-configurable through illegalLoginLock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LockPolicy {
    pub enabled: bool,
    pub attempts: u32,
    pub window: Duration,
    pub duration: Duration,
}

#[derive(Debug, Default)]
struct Counter {
    failures: VecDeque<Instant>,
    locked_until: Option<Instant>,
}

/// Decision 724 failure counting: `attempts` failures within `window` lock the key for
/// `duration`. Keys are accounts (attempted usernames, existing or not, so locking
/// reveals nothing about which names exist) or, for the Dahua quirk, TCP connections.
#[derive(Debug)]
pub(crate) struct LoginGuard<K> {
    counters: HashMap<K, Counter>,
}

impl<K> Default for LoginGuard<K> {
    fn default() -> Self {
        LoginGuard {
            counters: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash + Clone> LoginGuard<K> {
    /// Time left on the key's lock, if it is locked.
    pub fn locked_for(&mut self, key: &K, now: Instant) -> Option<Duration> {
        let counter = self.counters.get_mut(key)?;
        match counter.locked_until {
            Some(until) if until > now => Some(until - now),
            Some(_) => {
                counter.locked_until = None;
                None
            }
            None => None,
        }
    }

    pub fn record_failure(&mut self, key: &K, now: Instant, policy: &LockPolicy) {
        if self.counters.len() >= MAX_COUNTERS && !self.counters.contains_key(key) {
            self.forget_idle(now, policy);
        }
        if self.counters.len() >= MAX_COUNTERS && !self.counters.contains_key(key) {
            // Still full of live counters: drop one that is not locked rather than grow.
            if let Some(victim) = self
                .counters
                .iter()
                .find(|(_, c)| c.locked_until.is_none())
                .map(|(k, _)| k.clone())
            {
                self.counters.remove(&victim);
            }
        }
        let counter = self.counters.entry(key.clone()).or_default();
        counter.failures.retain(|at| now.duration_since(*at) <= policy.window);
        counter.failures.push_back(now);
        if policy.enabled && counter.failures.len() >= policy.attempts.max(1) as usize {
            counter.locked_until = Some(now + policy.duration);
            counter.failures.clear();
        }
        // The deque never needs more than `attempts` entries to decide.
        while counter.failures.len() > policy.attempts.max(1) as usize {
            counter.failures.pop_front();
        }
    }

    pub fn record_success(&mut self, key: &K) {
        self.counters.remove(key);
    }

    fn forget_idle(&mut self, now: Instant, policy: &LockPolicy) {
        self.counters.retain(|_, c| {
            c.locked_until.is_some_and(|until| until > now)
                || c.failures
                    .back()
                    .is_some_and(|at| now.duration_since(*at) <= policy.window)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_digest_header_with_quotes_escapes_and_tokens() {
        let header = r#"Digest username="ad\"min", realm="R, 1", nonce="abc", uri="/ISAPI/x?y=1", algorithm=SHA-256, response="ABCDEF", qop=auth, nc=0000000a, cnonce="c", opaque="o""#;
        let Some(Authorization::Digest(d)) = parse_authorization(header) else {
            panic!("not parsed");
        };
        assert_eq!(d.username, "ad\"min");
        assert_eq!(d.realm, "R, 1");
        assert_eq!(d.uri, "/ISAPI/x?y=1");
        assert_eq!(d.algorithm, DigestAlgorithm::Sha256);
        assert_eq!(d.response, "abcdef");
        assert_eq!(d.nc, 10);
        assert_eq!(d.opaque.as_deref(), Some("o"));
    }

    #[test]
    fn refuses_incomplete_or_unknown_authorization() {
        for header in [
            "",
            "Bearer x",
            "Digest",
            "Digest username=\"a\"",
            "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\", qop=auth, nc=zz, cnonce=\"c\"",
            "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\", qop=auth, nc=1, cnonce=\"c\", algorithm=SHA-512",
            "Digest username=\"unterminated",
            "Basic !!!",
            "Basic YWRtaW4=",
        ] {
            assert_eq!(parse_authorization(header), None, "{header}");
        }
        assert_eq!(
            parse_authorization("Basic YWRtaW46MTIzNDU="),
            Some(Authorization::Basic {
                username: "admin".into(),
                password: "12345".into()
            })
        );
    }

    #[test]
    fn rfc7616_section_3_9_1_example_vectors() {
        // RFC 7616 §3.9.1: user Mufasa, password "Circle of Life".
        let args = (
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            1,
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            "auth",
        );
        let md5 = digest_response(
            DigestAlgorithm::Md5,
            args.0,
            args.1,
            args.2,
            args.3,
            args.4,
            args.5,
            args.6,
            args.7,
            args.8,
        );
        assert_eq!(md5, "8ca523f5e9506fed4657c9700eebdbec");
        let sha = digest_response(
            DigestAlgorithm::Sha256,
            args.0,
            args.1,
            args.2,
            args.3,
            args.4,
            args.5,
            args.6,
            args.7,
            args.8,
        );
        assert_eq!(sha, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
    }

    #[test]
    fn nonces_expire_and_refuse_replays() {
        let mut store = NonceStore::default();
        let t0 = Instant::now();
        let nonce = store.issue(t0);
        assert_eq!(store.check(&nonce, 1, t0), NonceCheck::Fresh);
        assert_eq!(store.check(&nonce, 1, t0), NonceCheck::Replayed);
        assert_eq!(store.check(&nonce, 2, t0), NonceCheck::Fresh);
        assert_eq!(store.check("unknown", 1, t0), NonceCheck::Stale);
        let later = t0 + NONCE_LIFETIME + Duration::from_secs(1);
        assert_eq!(store.check(&nonce, 3, later), NonceCheck::Stale);
    }

    #[test]
    fn nonce_store_stays_bounded() {
        let mut store = NonceStore::default();
        let now = Instant::now();
        let first = store.issue(now);
        for _ in 0..MAX_NONCES + 10 {
            store.issue(now);
        }
        assert!(store.nonces.len() <= MAX_NONCES);
        assert_eq!(store.check(&first, 1, now), NonceCheck::Stale);
    }

    fn policy(attempts: u32, window_s: u64, duration_s: u64) -> LockPolicy {
        LockPolicy {
            enabled: true,
            attempts,
            window: Duration::from_secs(window_s),
            duration: Duration::from_secs(duration_s),
        }
    }

    #[test]
    fn guard_locks_after_attempts_within_window_and_unlocks_after_duration() {
        let mut guard = LoginGuard::default();
        let p = policy(3, 30, 60);
        let t0 = Instant::now();
        let key = "admin".to_string();
        guard.record_failure(&key, t0, &p);
        guard.record_failure(&key, t0, &p);
        assert_eq!(guard.locked_for(&key, t0), None);
        guard.record_failure(&key, t0, &p);
        assert_eq!(guard.locked_for(&key, t0), Some(Duration::from_secs(60)));
        assert_eq!(guard.locked_for(&"other".to_string(), t0), None);
        assert_eq!(guard.locked_for(&key, t0 + Duration::from_secs(61)), None);
    }

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let mut guard = LoginGuard::default();
        let p = policy(2, 10, 60);
        let t0 = Instant::now();
        let key = 1u32;
        guard.record_failure(&key, t0, &p);
        guard.record_failure(&key, t0 + Duration::from_secs(11), &p);
        assert_eq!(guard.locked_for(&key, t0 + Duration::from_secs(11)), None);
        guard.record_failure(&key, t0 + Duration::from_secs(12), &p);
        assert!(guard.locked_for(&key, t0 + Duration::from_secs(12)).is_some());
    }

    #[test]
    fn disabled_policy_never_locks_and_success_resets() {
        let mut guard = LoginGuard::default();
        let mut p = policy(2, 10, 60);
        p.enabled = false;
        let t0 = Instant::now();
        for _ in 0..10 {
            guard.record_failure(&0u8, t0, &p);
        }
        assert_eq!(guard.locked_for(&0u8, t0), None);
        p.enabled = true;
        guard.record_success(&0u8);
        guard.record_failure(&0u8, t0, &p);
        assert_eq!(guard.locked_for(&0u8, t0), None);
    }

    #[test]
    fn guard_stays_bounded_under_many_keys() {
        let mut guard = LoginGuard::default();
        let p = policy(5, 30, 60);
        let t0 = Instant::now();
        for key in 0..(MAX_COUNTERS as u32 + 100) {
            guard.record_failure(&key, t0, &p);
        }
        assert!(guard.counters.len() <= MAX_COUNTERS);
    }
}
