//! HTTP-style authentication shared by the HTTP, RTSP and ONVIF probes: reading
//! `WWW-Authenticate` challenges, answering them with Basic or Digest (RFC 7616, our own
//! client), and redacting `Authorization` values before they are recorded.
//!
//! Challenge values come from the device and are hostile: the parser never panics, bounds
//! the work it does, and accepts the sloppy forms cameras send (missing commas, quoted
//! algorithm tokens, several challenges merged into one header value).

mod basic;
mod digest;

pub use basic::basic_authorization;
pub use digest::{DigestAlgorithm, DigestSession, digest_authorization, new_cnonce};

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::exchange::REDACTED;

/// Which authentication a probe may use when the device asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// Never send credentials.
    #[default]
    None,
    /// Send Basic credentials preemptively.
    Basic,
    /// Answer a Digest challenge; never fall back to Basic.
    Digest,
    /// Answer the strongest scheme the device challenges with:
    /// digest-sha512-256 > digest-sha256 > digest-md5 > basic.
    Any,
}

/// One authentication challenge as offered by the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// Lower-cased scheme name: `basic`, `digest`, `bearer`, …
    pub scheme: String,
    /// The `algorithm` parameter exactly as sent (Digest); `None` when absent.
    pub algorithm: Option<String>,
    pub realm: Option<String>,
    /// `qop` options offered, lower-cased (`auth`, `auth-int`); empty when absent.
    pub qop: Vec<String>,
    /// Every parameter in order, names lower-cased, values unquoted.
    pub params: Vec<(String, String)>,
    /// A token68 credential blob (`Negotiate abc==`), when the challenge carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token68: Option<String>,
}

impl Challenge {
    fn new(scheme: &str) -> Self {
        Challenge {
            scheme: scheme.to_ascii_lowercase(),
            algorithm: None,
            realm: None,
            qop: Vec::new(),
            params: Vec::new(),
            token68: None,
        }
    }

    fn push_param(&mut self, name: &str, value: String) {
        if self.params.len() >= MAX_PARAMS_PER_CHALLENGE {
            return;
        }
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "algorithm" if self.algorithm.is_none() => self.algorithm = Some(value.clone()),
            "realm" if self.realm.is_none() => self.realm = Some(value.clone()),
            "qop" if self.qop.is_empty() => {
                self.qop = value
                    .split(',')
                    .map(|q| q.trim().to_ascii_lowercase())
                    .filter(|q| !q.is_empty())
                    .collect();
            }
            _ => {}
        }
        self.params.push((name, value));
    }

    /// First value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_basic(&self) -> bool {
        self.scheme == "basic"
    }

    pub fn is_digest(&self) -> bool {
        self.scheme == "digest"
    }

    /// `stale=true`: the nonce expired but the credentials were right.
    pub fn stale(&self) -> bool {
        self.param("stale")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// The Digest algorithm when this is a Digest challenge we can answer.
    pub fn digest_algorithm(&self) -> Option<DigestAlgorithm> {
        if !self.is_digest() {
            return None;
        }
        match &self.algorithm {
            None => Some(DigestAlgorithm::Md5),
            Some(a) => DigestAlgorithm::from_token(a),
        }
    }

    /// Name used in probe observations: `basic`, `digest-md5`, `digest-sha256`,
    /// `digest-md5-sess`, `digest-sha256-sess`, `digest-sha512-256`, or the lower-cased
    /// scheme (`bearer`, `negotiate`…). Unknown digest algorithms keep their (sanitised) name.
    pub fn label(&self) -> String {
        if self.is_basic() {
            return "basic".into();
        }
        if !self.is_digest() {
            return sanitise_label(&self.scheme);
        }
        match (self.digest_algorithm(), &self.algorithm) {
            (Some(alg), _) => alg.label().into(),
            (None, Some(other)) => format!("digest-{}", sanitise_label(other)),
            (None, None) => DigestAlgorithm::Md5.label().into(),
        }
    }

    /// Relative strength used by [`AuthMode::Any`]; `None` for schemes we cannot answer.
    fn strength(&self) -> Option<u8> {
        if self.is_basic() {
            return Some(1);
        }
        // A Digest challenge without a nonce cannot be answered, nor one whose qop list
        // holds nothing we can compute.
        self.param("nonce")?;
        if !self.qop.is_empty() && !self.qop.iter().any(|q| q == "auth" || q == "auth-int") {
            return None;
        }
        self.digest_algorithm().map(|a| a.strength())
    }

    /// A JSON view for probe observations.
    pub fn observation(&self) -> serde_json::Value {
        // A repeated parameter shows its first value: the one `param` returns and we answer.
        let mut params = serde_json::Map::new();
        for (n, v) in &self.params {
            params
                .entry(n.clone())
                .or_insert_with(|| serde_json::Value::String(v.clone()));
        }
        serde_json::json!({
            "label": self.label(),
            "scheme": self.scheme,
            "realm": self.realm,
            "algorithm": self.algorithm,
            "qop": self.qop,
            "stale": self.stale(),
            "params": params,
        })
    }
}

fn sanitise_label(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(32)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Pick the challenge to answer under `mode`, or `None` when the device offers nothing
/// acceptable (the caller then reports the challenges it saw).
pub fn select_challenge(challenges: &[Challenge], mode: AuthMode) -> Option<&Challenge> {
    let acceptable = |c: &&Challenge| match mode {
        AuthMode::None => false,
        AuthMode::Basic => c.is_basic(),
        AuthMode::Digest => c.is_digest(),
        AuthMode::Any => true,
    };
    let mut best: Option<(&Challenge, u8)> = None;
    for c in challenges.iter().filter(acceptable) {
        if let Some(s) = c.strength()
            && best.is_none_or(|(_, b)| s > b)
        {
            best = Some((c, s));
        }
    }
    best.map(|(c, _)| c)
}

/// Devices answer with a few challenges; anything beyond these bounds is noise or an attack
/// on the parser, and is dropped.
const MAX_CHALLENGES: usize = 32;
const MAX_PARAMS_PER_CHALLENGE: usize = 64;
const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Over all header values of one answer: many huge headers must not multiply the work.
const MAX_TOTAL_BYTES: usize = 256 * 1024;

/// Parse every challenge in one or more `WWW-Authenticate` (or `Proxy-Authenticate`) header
/// values. One value may hold several comma-joined challenges.
pub fn parse_challenges(values: &[&str]) -> Vec<Challenge> {
    let mut out = Vec::new();
    let mut budget = MAX_TOTAL_BYTES;
    for value in values {
        if out.len() >= MAX_CHALLENGES || budget == 0 {
            break;
        }
        let value = bounded(value, budget.min(MAX_VALUE_BYTES));
        budget -= value.len().max(1).min(budget);
        let mut current: Option<Challenge> = None;
        for item in lex(value) {
            match item {
                Item::Scheme { name, token68 } => {
                    if let Some(done) = current.take() {
                        out.push(done);
                        if out.len() >= MAX_CHALLENGES {
                            break;
                        }
                    }
                    let mut c = Challenge::new(name);
                    c.token68 = token68.map(str::to_owned);
                    current = Some(c);
                }
                Item::Param { name, value, .. } => {
                    // A parameter before any scheme has no challenge to belong to.
                    if let Some(c) = current.as_mut() {
                        c.push_param(name, value);
                    }
                }
            }
        }
        if let Some(done) = current
            && out.len() < MAX_CHALLENGES
        {
            out.push(done);
        }
    }
    out
}

/// Make an `Authorization` value safe to record for a secret credential: Basic and unknown
/// schemes lose their credentials entirely; Digest keeps its public parameters but its
/// `response` (which allows an offline password search) is replaced.
pub fn redact_authorization(value: &str) -> String {
    let trimmed = value.trim_start();
    let scheme_len = trimmed.bytes().take_while(|b| is_name_byte(*b)).count();
    let scheme = trimmed.get(..scheme_len).unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("digest") {
        if scheme.is_empty() {
            return REDACTED.to_owned();
        }
        return format!("{scheme} {REDACTED}");
    }
    let mut out = String::with_capacity(trimmed.len());
    let mut copied = 0;
    let mut saw_response = false;
    for item in lex(trimmed) {
        if let Item::Param { name, span, .. } = item
            && name.eq_ignore_ascii_case("response")
        {
            out.push_str(trimmed.get(copied..span.start).unwrap_or_default());
            out.push('"');
            out.push_str(REDACTED);
            out.push('"');
            copied = span.end;
            saw_response = true;
        }
    }
    out.push_str(trimmed.get(copied..).unwrap_or_default());
    if !saw_response && trimmed.len() > scheme_len {
        // Not a Digest value we understand; keep nothing that might be derived from the secret.
        return format!("{scheme} {REDACTED}");
    }
    out
}

fn bounded(value: &str, limit: usize) -> &str {
    if value.len() <= limit {
        return value;
    }
    let mut end = limit;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value.get(..end).unwrap_or_default()
}

enum Item<'a> {
    Scheme {
        name: &'a str,
        token68: Option<&'a str>,
    },
    /// `span` covers the raw value including its quotes.
    Param {
        name: &'a str,
        value: String,
        span: Range<usize>,
    },
}

/// RFC 7230 tchar. Only ASCII bytes qualify, so slices cut at token edges are always on
/// UTF-8 character boundaries.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Split a challenge/credentials list into schemes and parameters. Every loop iteration
/// consumes at least one byte, so hostile input cannot make it spin.
fn lex(s: &str) -> Vec<Item<'_>> {
    let b = s.as_bytes();
    let mut items = Vec::new();
    let mut i = 0;
    let mut just_saw_scheme = false;
    while i < b.len() {
        if is_space(b[i]) || b[i] == b',' {
            if b[i] == b',' {
                just_saw_scheme = false;
            }
            i += 1;
            continue;
        }
        if b[i] == b'"' {
            // A stray quoted string with no name: skip it whole.
            let (_, end) = quoted(b, i);
            i = end;
            continue;
        }
        let start = i;
        if just_saw_scheme && let Some(end) = token68_at(b, start) {
            // A bare word right after a scheme is its token68 (`Negotiate abc==`).
            if let Some(Item::Scheme { token68, .. }) = items.last_mut() {
                *token68 = s.get(start..end);
            }
            i = end;
            just_saw_scheme = false;
            continue;
        }
        while i < b.len() && is_name_byte(b[i]) {
            i += 1;
        }
        if i == start {
            // Some byte no grammar rule accepts here.
            i += 1;
            continue;
        }
        let name = s.get(start..i).unwrap_or_default();
        let mut j = i;
        while j < b.len() && matches!(b[j], b' ' | b'\t') {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' {
            j += 1;
            while j < b.len() && matches!(b[j], b' ' | b'\t') {
                j += 1;
            }
            let value_start = j;
            let (value, end) = if j < b.len() && b[j] == b'"' {
                quoted(b, j)
            } else {
                let mut k = j;
                while k < b.len() && b[k] != b',' && !is_space(b[k]) {
                    k += 1;
                }
                (s.get(j..k).unwrap_or_default().to_owned(), k)
            };
            items.push(Item::Param {
                name,
                value,
                span: value_start..end,
            });
            i = end;
            just_saw_scheme = false;
        } else {
            items.push(Item::Scheme { name, token68: None });
            i = j;
            just_saw_scheme = true;
        }
    }
    items
}

/// If a token68 (`abc/def==`) followed by the end or a comma starts at `start`, the index
/// just after it.
fn token68_at(b: &[u8], start: usize) -> Option<usize> {
    let mut k = start;
    while k < b.len() && is_token68_byte(b[k]) {
        k += 1;
    }
    if k == start {
        return None;
    }
    while k < b.len() && b[k] == b'=' {
        k += 1;
    }
    let end = k;
    while k < b.len() && matches!(b[k], b' ' | b'\t') {
        k += 1;
    }
    (k >= b.len() || b[k] == b',').then_some(end)
}

/// Read a quoted-string starting at the opening quote `b[start]`. An unterminated string
/// runs to the end of the input. Returns the unescaped text and the index after it.
fn quoted(b: &[u8], start: usize) -> (String, usize) {
    let mut out = Vec::new();
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'"' => return (String::from_utf8_lossy(&out).into_owned(), i + 1),
            b'\\' if i + 1 < b.len() => {
                out.push(b[i + 1]);
                i += 2;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), i)
}

/// Quote `value` for a quoted-string parameter.
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn merged_digest_and_basic_value() {
        let v = r#"Digest realm="IPCAM", nonce="abc, def", algorithm=MD5, qop="auth,auth-int", Basic realm="IPCAM""#;
        let cs = parse_challenges(&[v]);
        assert_eq!(cs.len(), 2, "{cs:?}");
        assert_eq!(cs[0].scheme, "digest");
        assert_eq!(cs[0].realm.as_deref(), Some("IPCAM"));
        assert_eq!(cs[0].param("nonce"), Some("abc, def"));
        assert_eq!(cs[0].algorithm.as_deref(), Some("MD5"));
        assert_eq!(cs[0].qop, vec!["auth", "auth-int"]);
        assert_eq!(cs[0].label(), "digest-md5");
        assert_eq!(cs[1].scheme, "basic");
        assert_eq!(cs[1].label(), "basic");
        assert_eq!(cs[1].realm.as_deref(), Some("IPCAM"));
    }

    #[test]
    fn several_header_values_and_labels() {
        let cs = parse_challenges(&[
            r#"Digest realm="r", nonce="n1", algorithm=SHA-256, qop="auth""#,
            r#"Digest realm="r", nonce="n2", algorithm="MD5-sess""#,
            r#"Digest realm="r", nonce="n3""#,
        ]);
        let labels: Vec<String> = cs.iter().map(Challenge::label).collect();
        assert_eq!(labels, ["digest-sha256", "digest-md5-sess", "digest-md5"]);
    }

    #[test]
    fn token68_and_escapes() {
        let cs = parse_challenges(&[r#"Negotiate YII=, Basic realm="a \"quoted\" realm""#]);
        assert_eq!(cs.len(), 2, "{cs:?}");
        assert_eq!(cs[0].scheme, "negotiate");
        assert_eq!(cs[0].token68.as_deref(), Some("YII="));
        assert_eq!(cs[1].realm.as_deref(), Some(r#"a "quoted" realm"#));
    }

    #[test]
    fn missing_commas_between_params_are_tolerated() {
        let cs = parse_challenges(&[r#"Digest realm="x" nonce="y"  qop=auth"#]);
        assert_eq!(cs.len(), 1, "{cs:?}");
        assert_eq!(cs[0].param("nonce"), Some("y"));
        assert_eq!(cs[0].qop, vec!["auth"]);
    }

    #[test]
    fn any_prefers_sha256_then_md5_then_basic() {
        let cs = parse_challenges(&[
            r#"Basic realm="a", Digest realm="a", nonce="1", Digest realm="a", nonce="2", algorithm=SHA-256"#,
        ]);
        assert_eq!(
            select_challenge(&cs, AuthMode::Any).map(Challenge::label).as_deref(),
            Some("digest-sha256")
        );
        assert_eq!(
            select_challenge(&cs, AuthMode::Basic).map(Challenge::label).as_deref(),
            Some("basic")
        );
        let basic_only = parse_challenges(&[r#"Basic realm="a""#]);
        assert!(select_challenge(&basic_only, AuthMode::Digest).is_none());
        assert_eq!(
            select_challenge(&basic_only, AuthMode::Any)
                .map(Challenge::label)
                .as_deref(),
            Some("basic")
        );
        // A digest challenge without a nonce cannot be answered.
        let no_nonce = parse_challenges(&[r#"Digest realm="a""#]);
        assert!(select_challenge(&no_nonce, AuthMode::Digest).is_none());
    }

    #[test]
    fn unsupported_algorithm_is_labelled_but_not_selected() {
        let cs = parse_challenges(&[r#"Digest realm="a", nonce="1", algorithm=SHA3-FOO"#]);
        assert_eq!(cs[0].label(), "digest-sha3-foo");
        assert!(select_challenge(&cs, AuthMode::Any).is_none());
    }

    #[test]
    fn redaction_of_authorization_values() {
        assert_eq!(redact_authorization("Basic YWRtaW46c2VjcmV0"), "Basic [REDACTED]");
        let d = r#"Digest username="admin", realm="r", nonce="n", uri="/", response="0123abcd", qop=auth, nc=00000001, cnonce="c""#;
        let r = redact_authorization(d);
        assert!(!r.contains("0123abcd"), "{r}");
        assert!(r.contains(r#"response="[REDACTED]""#), "{r}");
        assert!(r.contains(r#"username="admin""#) && r.contains(r#"cnonce="c""#), "{r}");
        let unquoted = redact_authorization("Digest username=\"a\", response=deadbeef, nc=1");
        assert!(!unquoted.contains("deadbeef"), "{unquoted}");
        assert_eq!(redact_authorization("Bearer tok"), "Bearer [REDACTED]");
    }

    #[test]
    fn garbage_never_panics() {
        use rand::RngExt;
        let mut rng = rand::rng();
        let alphabet: &[u8] = b"Digest Basic realm=nonce\"\\,= \t\r\nalgorithm=SHA-256-sess qop auth \xc3\xa9\xff";
        for round in 0..3000 {
            let len = rng.random_range(0..200);
            let bytes: Vec<u8> = if round % 2 == 0 {
                (0..len)
                    .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                    .collect()
            } else {
                (0..len).map(|_| rng.random::<u8>()).collect()
            };
            let text = String::from_utf8_lossy(&bytes);
            let cs = parse_challenges(&[&text, &text]);
            for c in &cs {
                let _ = c.label();
                let _ = c.observation();
            }
            let _ = select_challenge(&cs, AuthMode::Any);
            let _ = redact_authorization(&text);
        }
        let huge = "Digest ".to_string() + &"a=\"b\", ".repeat(100_000);
        let cs = parse_challenges(&[&huge]);
        assert!(cs.len() == 1 && cs[0].params.len() <= MAX_PARAMS_PER_CHALLENGE);
    }

    #[test]
    fn any_case_quoted_tokens_and_informational_params() {
        let cs = parse_challenges(&[
            r#"DIGEST REALM="r", Nonce="n", ALGORITHM="SHA-256", QOP="AUTH", Stale=TRUE, charset="UTF-8", domain="/ISAPI /onvif""#,
        ]);
        assert_eq!(cs.len(), 1, "{cs:?}");
        assert!(cs[0].is_digest() && cs[0].stale());
        assert_eq!(cs[0].label(), "digest-sha256");
        assert_eq!(cs[0].qop, ["auth"]);
        assert_eq!(cs[0].param("charset"), Some("UTF-8"));
        assert_eq!(cs[0].param("domain"), Some("/ISAPI /onvif"));
        assert_eq!(
            select_challenge(&cs, AuthMode::Digest).map(Challenge::label).as_deref(),
            Some("digest-sha256")
        );
        let unquoted = parse_challenges(&["Digest realm=r,nonce=n,qop=auth,algorithm=SHA-512-256,stale=false"]);
        assert_eq!(unquoted[0].param("nonce"), Some("n"));
        assert_eq!(unquoted[0].label(), "digest-sha512-256");
        assert!(!unquoted[0].stale());
    }

    #[test]
    fn duplicated_params_keep_their_first_value_everywhere() {
        let cs = parse_challenges(&[
            r#"Digest realm="a", nonce="first", nonce="second", algorithm=MD5, algorithm=SHA-256, realm="b""#,
        ]);
        assert_eq!(cs[0].param("nonce"), Some("first"));
        assert_eq!(cs[0].realm.as_deref(), Some("a"));
        assert_eq!(cs[0].label(), "digest-md5");
        let o = cs[0].observation();
        assert_eq!(o["params"]["nonce"], "first");
        assert_eq!(o["params"]["realm"], "a");
    }

    #[test]
    fn several_challenges_in_one_value_with_basic_first() {
        let cs = parse_challenges(&[
            r#"Basic realm="cam", Digest realm="cam", nonce="1", qop="auth,auth-int", algorithm=MD5, Digest realm="cam", nonce="2", qop=auth, algorithm=SHA-256"#,
        ]);
        let labels: Vec<String> = cs.iter().map(Challenge::label).collect();
        assert_eq!(labels, ["basic", "digest-md5", "digest-sha256"]);
        assert_eq!(cs[1].qop, ["auth", "auth-int"]);
        assert_eq!(
            select_challenge(&cs, AuthMode::Any).and_then(|c| c.param("nonce")),
            Some("2")
        );
    }

    #[test]
    fn unanswerable_digest_challenges_are_not_selected() {
        let cs = parse_challenges(&[
            r#"Digest realm="a", nonce="1", qop="auth-conf""#,
            r#"Digest realm="a", algorithm=SHA-256, qop=auth"#,
            r#"Basic realm="a""#,
        ]);
        assert_eq!(cs.len(), 3);
        assert!(select_challenge(&cs, AuthMode::Digest).is_none());
        assert_eq!(
            select_challenge(&cs, AuthMode::Any).map(Challenge::label).as_deref(),
            Some("basic")
        );
    }

    #[test]
    fn huge_and_numerous_challenges_stay_bounded() {
        // One 1 MiB header value: cut at the value bound, still parsed.
        let mib = format!(r#"Digest realm="r", nonce="n", opaque="{}""#, "x".repeat(1024 * 1024));
        let started = std::time::Instant::now();
        let cs = parse_challenges(&[&mib]);
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].param("nonce"), Some("n"));
        assert!(cs[0].param("opaque").is_some_and(|o| o.len() < MAX_VALUE_BYTES));
        // Ten thousand challenges in one value, and a thousand 1 MiB values.
        let many = "Digest realm=\"r\", nonce=\"n\", ".repeat(10_000);
        assert_eq!(parse_challenges(&[&many]).len(), MAX_CHALLENGES);
        let values: Vec<&str> = std::iter::repeat_n(mib.as_str(), 1000).collect();
        let cs = parse_challenges(&values);
        assert!(cs.len() <= MAX_TOTAL_BYTES / MAX_VALUE_BYTES, "{}", cs.len());
        // Thousands of garbage values with no challenge at all.
        let junk = ",,,=\"\\".repeat(20_000);
        let junk_values: Vec<&str> = std::iter::repeat_n(junk.as_str(), 5000).collect();
        assert!(parse_challenges(&junk_values).is_empty());
        // Generous for a debug build on a shared machine; unbounded work takes minutes.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
}
