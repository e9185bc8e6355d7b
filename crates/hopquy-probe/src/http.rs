//! HTTP(S) probe on reqwest/hyper, with our own Basic/Digest handling.
//!
//! What goes on the wire is kept equal to what is recorded: reqwest's default headers are
//! replaced by `Host`, `User-Agent` and `Accept` set explicitly on every request, and the
//! framing header (`Content-Length`) is set by us too, so the recorded message is what hyper
//! serialises. A wire tap is impossible (reqwest's connection type is sealed), so exchanges
//! say [`Capture::HttpMessage`]. Recorded responses carry hyper's view: lower-case header
//! names grouped by name, and the canonical reason phrase for the status code.
//!
//! Each [`HttpProbe::send`] holds one device permit and uses its own short-lived client:
//! connections never outlive the permit, so the device's connection cap holds exactly.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use tokio::time::Instant;

pub use crate::auth::AuthMode;
use crate::auth::{
    Challenge, basic_authorization, digest_authorization, new_cnonce, parse_challenges, redact_authorization,
    select_challenge,
};
use crate::exchange::{self, Capture, Exchange, Payload, Recorder, Redactor};
use crate::{Credential, Device, ProbeError};

mod raw;
pub use raw::{MAX_REQUEST_TARGET, RawTargetRequest, request_target_problem};

pub const USER_AGENT: &str = concat!("hopquy/", env!("CARGO_PKG_VERSION"));

/// Bound on the body text reported in observations (the full kept body is in the exchange).
const OBSERVED_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub scheme: Scheme,
    pub port: u16,
    pub method: String,
    /// Path and query; must start with `/`. Never a URL: the host is always the device's.
    pub path: String,
    /// Extra headers; a name given here replaces our default of the same name.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub auth: AuthMode,
    pub credential: Option<Credential>,
    /// Use a new connection for every request of this send (including a Digest retry).
    pub fresh_connection: bool,
    /// Human label for the recorded exchanges; defaults to `METHOD path`.
    pub label: String,
    /// Secrets the answer is expected to carry (a disclosure bug's proof: the device's own
    /// passwords): what each capture group matches is replaced by `[REDACTED]` in the answer,
    /// before it is recorded or returned.
    pub answer_secrets: Option<regex::bytes::Regex>,
}

impl HttpRequest {
    pub fn new(scheme: Scheme, port: u16, method: impl Into<String>, path: impl Into<String>) -> Self {
        HttpRequest {
            scheme,
            port,
            method: method.into(),
            path: path.into(),
            headers: Vec::new(),
            body: None,
            auth: AuthMode::None,
            credential: None,
            fresh_connection: false,
            label: String::new(),
            answer_secrets: None,
        }
    }

    pub fn get(scheme: Scheme, port: u16, path: impl Into<String>) -> Self {
        Self::new(scheme, port, "GET", path)
    }

    pub fn with_auth(mut self, auth: AuthMode, credential: Credential) -> Self {
        self.auth = auth;
        self.credential = Some(credential);
        self
    }

    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// `HTTP/1.1`, `HTTP/1.0`.
    pub version: String,
    /// Names lower-case, values decoded lossily; repeated names are grouped at the place
    /// of their first occurrence (hyper's header map does not keep the interleaving).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub body_truncated: bool,
    /// The challenges of the first 401 of this send, if any.
    pub challenges: Vec<Challenge>,
    /// The scheme whose credentials were sent on the final request (`basic`, `digest-md5`…).
    pub auth_used: Option<String>,
    /// Whole send including a Digest retry, from the moment a connection slot was free.
    pub elapsed_ms: u64,
    /// SHA-256 (hex) of the peer's leaf certificate, HTTPS only.
    pub peer_cert_sha256: Option<String>,
}

impl HttpResponse {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Observation JSON: status, headers (lower-case names, repeats joined with ", "), body
    /// (lossy text, at most 64 KiB), body_sha256, challenges, auth_used, elapsed_ms,
    /// peer_cert_sha256, plus version, body_len and body_truncated.
    pub fn observations(&self) -> serde_json::Value {
        let mut headers = serde_json::Map::new();
        for (name, value) in &self.headers {
            let key = name.to_ascii_lowercase();
            match headers.get_mut(&key) {
                Some(serde_json::Value::String(existing)) => {
                    existing.push_str(", ");
                    existing.push_str(value);
                }
                _ => {
                    headers.insert(key, serde_json::Value::String(value.clone()));
                }
            }
        }
        let shown = &self.body[..self.body.len().min(OBSERVED_BODY_BYTES)];
        serde_json::json!({
            "status": self.status,
            "version": self.version,
            "headers": headers,
            "body": String::from_utf8_lossy(shown),
            "body_len": self.body.len(),
            "body_truncated": self.body_truncated || self.body.len() > OBSERVED_BODY_BYTES,
            "body_sha256": hex::encode(sha2::Sha256::digest(&self.body)),
            "challenges": self.challenges.iter().map(Challenge::observation).collect::<Vec<_>>(),
            "auth_used": self.auth_used,
            "elapsed_ms": self.elapsed_ms,
            "peer_cert_sha256": self.peer_cert_sha256,
        })
    }
}

/// `bytes` with what every capture group of `secrets` matched replaced by `[REDACTED]`.
pub fn redact_groups(secrets: &regex::bytes::Regex, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    for caps in secrets.captures_iter(bytes) {
        for group in caps.iter().skip(1).flatten() {
            // Groups are ordered by their start; a nested group inside a redacted one is gone.
            if group.start() < at {
                continue;
            }
            out.extend_from_slice(&bytes[at..group.start()]);
            out.extend_from_slice(crate::exchange::REDACTED.as_bytes());
            at = group.end();
        }
    }
    out.extend_from_slice(&bytes[at..]);
    out
}

/// Sends HTTP requests to one device.
#[derive(Debug, Clone)]
pub struct HttpProbe {
    device: Device,
}

/// An `Authorization` value and what may be recorded of it.
struct AuthHeader {
    value: String,
    recorded: String,
    label: String,
}

/// One request/response as read, before it becomes an [`HttpResponse`].
struct Fetched {
    status: u16,
    version: String,
    headers: Vec<(String, String)>,
    www_authenticate: Vec<String>,
    body: Vec<u8>,
    truncated: bool,
    peer_cert_sha256: Option<String>,
}

/// What a single request needs besides the client.
struct Attempt<'a> {
    req: &'a HttpRequest,
    url: &'a reqwest::Url,
    target: &'a str,
    label: String,
    auth: Option<&'a AuthHeader>,
    redactor: &'a Redactor,
}

impl HttpProbe {
    pub fn new(device: Device) -> Result<Self, ProbeError> {
        let probe = HttpProbe { device };
        // Fail now, not on the first request, if the TLS backend cannot be initialised.
        probe.client(true)?;
        Ok(probe)
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    fn client(&self, fresh_connection: bool) -> Result<reqwest::Client, ProbeError> {
        let limits = self.device.limits();
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .referer(false)
            // Only the device is ever contacted, never a proxy from the environment.
            .no_proxy()
            .http1_only()
            // Cameras send sloppy headers; observing them beats failing on them.
            .http1_allow_obsolete_multiline_headers_in_responses(true)
            .http1_allow_spaces_after_header_name_in_responses(true)
            .http1_ignore_invalid_headers_in_responses(true)
            // Certificate facts are the TLS probe's job; cameras use self-signed certificates.
            .tls_danger_accept_invalid_certs(true)
            .tls_info(true)
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.io_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(if fresh_connection { 0 } else { 1 });
        builder
            .build()
            .map_err(|e| ProbeError::Tls(format!("building the HTTP client: {}", chain_text(&e))))
    }

    /// Send `req`, answering an authentication challenge once when `req.auth` allows.
    /// Every request made is recorded, including failed ones (with `error` set).
    pub async fn send(&self, req: &HttpRequest, rec: &Recorder) -> Result<HttpResponse, ProbeError> {
        let url = self.url_for(req)?;
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let credential = match (req.auth, &req.credential) {
            (AuthMode::None, _) => None,
            (_, Some(c)) => Some(c),
            (mode, None) => {
                return Err(ProbeError::Invalid(format!("auth {mode:?} needs a credential")));
            }
        };
        let mut redactor = Redactor::new();
        if let Some(c) = credential.filter(|c| c.secret) {
            redactor.add_secret(&c.username, &c.password);
        }
        let base_label = if req.label.is_empty() {
            format!("{} {}", req.method, req.path)
        } else {
            req.label.clone()
        };

        let _permit = self.device.permit().await;
        let begun = Instant::now();
        let client = self.client(req.fresh_connection)?;

        let preemptive = match (req.auth, credential) {
            (AuthMode::Basic, Some(c)) => Some(basic_header(c)),
            _ => None,
        };
        let first_label = match &preemptive {
            Some(a) => format!("{base_label} ({})", a.label),
            None => base_label.clone(),
        };
        let attempt = Attempt {
            req,
            url: &url,
            target: &target,
            label: first_label,
            auth: preemptive.as_ref(),
            redactor: &redactor,
        };
        let first = self.fetch(&client, attempt, rec).await?;
        let challenges = if first.status == 401 {
            let values: Vec<&str> = first.www_authenticate.iter().map(String::as_str).collect();
            parse_challenges(&values)
        } else {
            Vec::new()
        };
        let mut auth_used = preemptive.as_ref().map(|a| a.label.clone());
        let mut last = first;

        if last.status == 401
            && matches!(req.auth, AuthMode::Digest | AuthMode::Any)
            && let Some(c) = credential
            && let Some(chosen) = select_challenge(&challenges, req.auth)
        {
            // Each answer is computed from the challenge of the 401 just read (nc=1): nothing
            // is cached across sends, so servers with single-use nonces are answered right.
            let digest_header = |challenge: &Challenge, nc: u32| -> Result<AuthHeader, ProbeError> {
                let value = digest_authorization(
                    challenge,
                    c,
                    &req.method,
                    &target,
                    req.body.as_deref(),
                    &new_cnonce(),
                    nc,
                )?;
                let recorded = if c.secret {
                    redact_authorization(&value)
                } else {
                    value.clone()
                };
                Ok(AuthHeader {
                    value,
                    recorded,
                    label: challenge.label(),
                })
            };
            let answer = if chosen.is_basic() {
                basic_header(c)
            } else {
                digest_header(chosen, 1)?
            };
            let attempt = Attempt {
                req,
                url: &url,
                target: &target,
                label: format!("{base_label} ({})", answer.label),
                auth: Some(&answer),
                redactor: &redactor,
            };
            last = self.fetch(&client, attempt, rec).await?;
            auth_used = Some(answer.label.clone());

            // RFC 7616 3.3: `stale=true` says the credentials were right but the nonce had
            // expired; answer the new challenge once more (once: a server that calls every
            // nonce stale must not keep us looping). Anything else is the device's refusal.
            let stale = if last.status == 401 && chosen.is_digest() {
                let values: Vec<&str> = last.www_authenticate.iter().map(String::as_str).collect();
                let fresh = parse_challenges(&values);
                let stale: Vec<Challenge> = fresh.into_iter().filter(Challenge::stale).collect();
                select_challenge(&stale, AuthMode::Digest).cloned()
            } else {
                None
            };
            if let Some(next) = stale {
                // A server that calls its own nonce stale but repeats it gets the next count,
                // never a replay of the refused one.
                let nc = if next.param("nonce") == chosen.param("nonce") {
                    2
                } else {
                    1
                };
                let answer = digest_header(&next, nc)?;
                let attempt = Attempt {
                    req,
                    url: &url,
                    target: &target,
                    label: format!("{base_label} ({}, stale nonce renewed)", answer.label),
                    auth: Some(&answer),
                    redactor: &redactor,
                };
                last = self.fetch(&client, attempt, rec).await?;
                auth_used = Some(answer.label);
            }
        }
        drop(client);

        Ok(HttpResponse {
            status: last.status,
            version: last.version,
            headers: last.headers,
            body: last.body,
            body_truncated: last.truncated,
            challenges,
            auth_used,
            elapsed_ms: u64::try_from(begun.elapsed().as_millis()).unwrap_or(u64::MAX),
            peer_cert_sha256: last.peer_cert_sha256,
        })
    }

    fn url_for(&self, req: &HttpRequest) -> Result<reqwest::Url, ProbeError> {
        if !req.path.starts_with('/') {
            return Err(ProbeError::Invalid(format!("path must start with '/': {:?}", req.path)));
        }
        // The URL parser would silently drop tabs and newlines; a request must go out as asked.
        if req.path.chars().any(|c| c.is_control() || c == ' ') {
            return Err(ProbeError::Invalid(format!(
                "path holds spaces or control characters: {:?}",
                req.path
            )));
        }
        let text = format!(
            "{}://{}{}",
            req.scheme.as_str(),
            self.device.authority(req.port),
            req.path
        );
        let url = reqwest::Url::parse(&text).map_err(|e| ProbeError::Invalid(format!("{text}: {e}")))?;
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let wanted = self.device.host().trim_start_matches('[').trim_end_matches(']');
        if !host.eq_ignore_ascii_case(wanted) && !same_ip(host, wanted) {
            return Err(ProbeError::Invalid(format!(
                "request would leave the device host: {text}"
            )));
        }
        Ok(url)
    }

    fn headers_for(&self, at: &Attempt<'_>) -> Result<HeaderMap, ProbeError> {
        let req = at.req;
        let host = if req.port == req.scheme.default_port() {
            let auth = self.device.authority(req.port);
            auth.rsplit_once(':').map(|(h, _)| h.to_owned()).unwrap_or(auth)
        } else {
            self.device.authority(req.port)
        };
        let mut headers = HeaderMap::new();
        let mut set = |name: &str, value: &str, append: bool| -> Result<(), ProbeError> {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ProbeError::Invalid(format!("bad header name {name:?}")))?;
            let v = HeaderValue::from_str(value)
                .map_err(|_| ProbeError::Invalid(format!("bad value for header {name}")))?;
            if append {
                headers.append(n, v);
            } else {
                headers.insert(n, v);
            }
            Ok(())
        };
        set("host", &host, false)?;
        set("user-agent", USER_AGENT, false)?;
        set("accept", "*/*", false)?;
        let mut given: Vec<String> = Vec::new();
        for (name, value) in &req.headers {
            let lower = name.to_ascii_lowercase();
            let repeat = given.contains(&lower);
            set(name, value, repeat)?;
            given.push(lower);
        }
        if let Some(body) = &req.body
            && !given.iter().any(|n| n == "content-length" || n == "transfer-encoding")
        {
            set("content-length", &body.len().to_string(), false)?;
        }
        if let Some(auth) = at.auth {
            // A Digest answer echoes the device's realm and nonce, which may hold UTF-8 (RFC
            // 7616 allows it); the header is sent as those bytes rather than refused as ours.
            let value = HeaderValue::from_bytes(auth.value.as_bytes())
                .map_err(|_| ProbeError::Protocol("the device's challenge cannot be echoed in a header".into()))?;
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        Ok(headers)
    }

    /// One request and its bounded response, recorded whatever happens.
    async fn fetch(&self, client: &reqwest::Client, at: Attempt<'_>, rec: &Recorder) -> Result<Fetched, ProbeError> {
        let req = at.req;
        let limits = self.device.limits();
        let peer = self.device.authority(req.port);
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| ProbeError::Invalid(format!("bad HTTP method {:?}", req.method)))?;
        let headers = self.headers_for(&at)?;
        let mut builder = client.request(method, at.url.clone()).headers(headers);
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let request = builder
            .build()
            .map_err(|e| redact_error(ProbeError::Invalid(chain_text(&e)), at.redactor))?;
        let sent = serialise_request(&request, at.target, req.body.as_deref(), at.auth);

        let started = exchange::now();
        let record = |received: Option<(Vec<u8>, usize, bool)>, error: Option<&ProbeError>| {
            let received = received.map(|(bytes, len, truncated)| {
                let bytes = at.redactor.redact_bytes(&bytes);
                Payload::from_bytes(&bytes, len, truncated)
            });
            let sent = at.redactor.redact_bytes(&sent);
            rec.record(Exchange {
                protocol: req.scheme.as_str().into(),
                peer: peer.clone(),
                started,
                finished: exchange::now(),
                capture: Capture::HttpMessage,
                label: at.redactor.redact_str(&at.label),
                sent: Some(Payload::from_bytes(&sent, sent.len(), false)),
                received,
                error: error.map(|e| at.redactor.redact_str(&e.to_string())),
            });
        };

        let deadline = Instant::now() + limits.io_timeout;
        // Labels come from callers and may quote a secret; logs get the redacted form.
        let log_label = at.redactor.redact_str(&at.label);
        let response = match tokio::time::timeout_at(deadline, client.execute(request)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let err = redact_error(map_error(&e, &peer), at.redactor);
                tracing::debug!(%peer, label = %log_label, error = %err, "HTTP request failed");
                record(None, Some(&err));
                return Err(err);
            }
            Err(_) => {
                let err = ProbeError::Timeout(format!("waiting for the response of {peer}"));
                record(None, Some(&err));
                return Err(err);
            }
        };

        let status = response.status().as_u16();
        let version = format!("{:?}", response.version());
        let peer_cert_sha256 = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            .map(|der| hex::encode(sha2::Sha256::digest(der)));
        if let Some(sha) = &peer_cert_sha256
            && let Err(err) = self.device.pin_certificate(sha)
        {
            // Nothing of this answer is read: it may come from whoever is in the middle.
            drop(response);
            record(None, Some(&err));
            return Err(err);
        }
        let mut headers = Vec::with_capacity(response.headers().len());
        let mut www_authenticate = Vec::new();
        let mut head = format!(
            "{version} {} {}\r\n",
            status,
            response.status().canonical_reason().unwrap_or("")
        )
        .into_bytes();
        for (name, value) in response.headers() {
            let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
            if name == reqwest::header::WWW_AUTHENTICATE {
                www_authenticate.push(text.clone());
            }
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
            headers.push((name.as_str().to_owned(), text));
        }
        head.extend_from_slice(b"\r\n");

        let mut response = response;
        let mut body = Vec::new();
        let mut transferred = 0usize;
        let mut truncated = false;
        let mut failure = None;
        loop {
            match tokio::time::timeout_at(deadline, response.chunk()).await {
                Ok(Ok(Some(chunk))) => {
                    transferred = transferred.saturating_add(chunk.len());
                    let room = limits.max_response_bytes.saturating_sub(body.len());
                    if chunk.len() > room {
                        body.extend_from_slice(&chunk[..room]);
                        truncated = true;
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    failure = Some(redact_error(map_error(&e, &peer), at.redactor));
                    break;
                }
                Err(_) => {
                    failure = Some(ProbeError::Timeout(format!(
                        "reading the body from {peer} after {transferred} bytes"
                    )));
                    break;
                }
            }
        }
        // Dropping an unfinished body closes the connection instead of draining it.
        drop(response);
        if let Some(secrets) = &req.answer_secrets {
            body = redact_groups(secrets, &body);
        }

        let mut received = head.clone();
        received.extend_from_slice(&body);
        let received_len = head.len().saturating_add(transferred);
        record(
            Some((received, received_len, truncated || failure.is_some())),
            failure.as_ref(),
        );
        if let Some(err) = failure {
            return Err(err);
        }
        tracing::debug!(%peer, label = %log_label, status, body = body.len(), truncated, "HTTP exchange");
        Ok(Fetched {
            status,
            version,
            headers,
            www_authenticate,
            body,
            truncated,
            peer_cert_sha256,
        })
    }
}

fn basic_header(c: &Credential) -> AuthHeader {
    let value = basic_authorization(c);
    let recorded = if c.secret {
        redact_authorization(&value)
    } else {
        value.clone()
    };
    AuthHeader {
        value,
        recorded,
        label: "basic".into(),
    }
}

fn same_ip(a: &str, b: &str) -> bool {
    match (a.parse::<std::net::IpAddr>(), b.parse::<std::net::IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// The request as hyper writes it: request line, headers in map order with lower-case
/// names, blank line, body. The `Authorization` value is the recordable form.
fn serialise_request(
    request: &reqwest::Request,
    target: &str,
    body: Option<&[u8]>,
    auth: Option<&AuthHeader>,
) -> Vec<u8> {
    let mut out = format!("{} {target} HTTP/1.1\r\n", request.method()).into_bytes();
    for (name, value) in request.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        match auth {
            Some(a) if name == reqwest::header::AUTHORIZATION => out.extend_from_slice(a.recorded.as_bytes()),
            _ => out.extend_from_slice(value.as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if let Some(b) = body {
        out.extend_from_slice(b);
    }
    out
}

/// The error and its causes, joined, for error messages and evidence.
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(inner) = cur {
        let text = inner.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = inner.source();
    }
    parts.join(": ")
}

/// Error texts quote the URL, whose query may carry the secret (some vendor CGIs take the
/// password as a parameter).
fn redact_error(err: ProbeError, redactor: &Redactor) -> ProbeError {
    if redactor.is_empty() {
        return err;
    }
    let r = |t: String| redactor.redact_str(&t);
    match err {
        ProbeError::Refused(t) => ProbeError::Refused(r(t)),
        ProbeError::Unreachable(t) => ProbeError::Unreachable(r(t)),
        ProbeError::Timeout(t) => ProbeError::Timeout(r(t)),
        ProbeError::Closed(t) => ProbeError::Closed(r(t)),
        ProbeError::TooLarge(t) => ProbeError::TooLarge(r(t)),
        ProbeError::Protocol(t) => ProbeError::Protocol(r(t)),
        ProbeError::Tls(t) => ProbeError::Tls(r(t)),
        ProbeError::CertificateChanged(t) => ProbeError::CertificateChanged(r(t)),
        ProbeError::Invalid(t) => ProbeError::Invalid(r(t)),
        ProbeError::Local(t) => ProbeError::Local(r(t)),
    }
}

/// Classify a reqwest failure. hyper's error kinds are private, so its parse and size
/// failures are recognised from their Debug names (`Parse(TooLarge)`, `IncompleteMessage`).
fn map_error(e: &reqwest::Error, peer: &str) -> ProbeError {
    let text = format!("{peer}: {}", chain_text(e));
    let mut io_kinds = Vec::new();
    let mut tls = false;
    let mut debug = String::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut depth = 0;
    while let Some(err) = cur
        && depth < 32
    {
        depth += 1;
        debug.push_str(&format!("{err:?} "));
        if err.downcast_ref::<rustls::Error>().is_some() {
            tls = true;
        }
        // io::Error::source() skips the error it wraps (tokio-rustls wraps rustls errors,
        // hyper-util wraps that again), so descend through get_ref() instead.
        cur = match err.downcast_ref::<std::io::Error>() {
            Some(io) => {
                io_kinds.push(io.kind());
                match io.get_ref() {
                    Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                    None => err.source(),
                }
            }
            None => err.source(),
        };
    }
    use std::io::ErrorKind as K;
    if tls {
        return ProbeError::Tls(text);
    }
    if debug.contains("TooLarge") {
        return ProbeError::TooLarge(text);
    }
    if io_kinds.contains(&K::ConnectionRefused) {
        return ProbeError::Refused(peer.to_owned());
    }
    if e.is_timeout() || io_kinds.contains(&K::TimedOut) {
        return ProbeError::Timeout(text);
    }
    if debug.contains("IncompleteMessage")
        || io_kinds.iter().any(|k| {
            matches!(
                k,
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof
            )
        })
    {
        return ProbeError::Closed(text);
    }
    if debug.contains("Parse(") || e.is_decode() || e.is_body() {
        return ProbeError::Protocol(text);
    }
    if io_kinds
        .iter()
        .any(|k| matches!(k, K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable))
        || e.is_connect()
    {
        return ProbeError::Unreachable(text);
    }
    ProbeError::Protocol(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Limits;

    #[test]
    fn redact_groups_replaces_only_what_the_groups_capture() {
        // The group takes JSON escapes too, so an escaped quote does not end the secret early.
        let secrets = regex::bytes::Regex::new(r#""pwd"\s*:\s*"((?:[^"\\]|\\.)*)"#).unwrap();
        let body = br#"{"list":[{"uid":"admin","pwd":"s3cret"},{"uid":"op","pwd":"x\"y"}]}"#;
        let out = String::from_utf8(redact_groups(&secrets, body)).unwrap();
        assert_eq!(
            out,
            r#"{"list":[{"uid":"admin","pwd":"[REDACTED]"},{"uid":"op","pwd":"[REDACTED]"}]}"#
        );
        // A truncated answer still loses the secret it was cut in.
        let cut = redact_groups(&secrets, br#"{"uid":"admin","pwd":"s3c"#);
        assert_eq!(cut, br#"{"uid":"admin","pwd":"[REDACTED]"#.to_vec());
        assert_eq!(redact_groups(&secrets, b"no secrets"), b"no secrets".to_vec());
    }

    #[test]
    fn rejects_paths_that_are_not_paths() {
        let probe = HttpProbe::new(Device::new("127.0.0.1", Limits::default())).unwrap();
        for bad in ["http://evil/", "evil/x", "/a\r\nX-Injected: 1", "/a b", ""] {
            let req = HttpRequest::get(Scheme::Http, 80, bad);
            assert!(matches!(probe.url_for(&req), Err(ProbeError::Invalid(_))), "{bad:?}");
        }
        let ok = probe
            .url_for(&HttpRequest::get(Scheme::Http, 8080, "//other.example/x?y=1"))
            .unwrap();
        assert_eq!(ok.host_str(), Some("127.0.0.1"));
        assert_eq!(ok.port(), Some(8080));
    }

    #[test]
    fn observations_join_repeated_headers_and_bound_the_body() {
        let resp = HttpResponse {
            status: 200,
            version: "HTTP/1.1".into(),
            headers: vec![("Set-Cookie".into(), "a=1".into()), ("set-cookie".into(), "b=2".into())],
            body: vec![b'x'; OBSERVED_BODY_BYTES + 10],
            body_truncated: false,
            challenges: Vec::new(),
            auth_used: None,
            elapsed_ms: 3,
            peer_cert_sha256: None,
        };
        let o = resp.observations();
        assert_eq!(o["headers"]["set-cookie"], "a=1, b=2");
        assert_eq!(o["body"].as_str().map(str::len), Some(OBSERVED_BODY_BYTES));
        assert_eq!(o["body_truncated"], true);
        assert_eq!(o["body_sha256"].as_str().map(str::len), Some(64));
        assert_eq!(o["status"], 200);
    }
}
