//! Where the device's web API lives, found rather than assumed.
//!
//! A camera hardened by the book answers on its HTTP port only with a redirect to HTTPS and
//! serves the API over HTTPS alone; an older one serves it on HTTP. Before the first web step
//! of a run (an `http`, `login`/`recover` on the HTTP or ONVIF surface, `onvif` or
//! `password-policy` step without a port of its own), the runner asks each candidate port for
//! the profile's login check without credentials, follows nothing, and picks:
//!
//! - `[connection] web = "http"` or `"https"`: that port, if it answers HTTP at all;
//! - `auto` (default): the HTTP port when it answers the request itself (any status but a
//!   redirect to another scheme or port); its HTTPS port when it redirects to HTTPS on the same
//!   host, and the profile's HTTPS port when it refuses, times out, fails, or redirects to
//!   another host (never followed: the harness contacts only the target's host).
//!
//! The exchanges are recorded in the step that triggered the discovery, and the choice with its
//! reason goes into every web step's observations (`web_surface`) and into results.json.
//! The `web-surface` action runs the same survey as a case step of its own, so a case about
//! the cleartext port (is a password ever asked for in clear?) rests on its own exchanges.

use hopquy_case::WebPreference;
use hopquy_case::observations::{WebSurfaceObservations, WebSurfaceUsed};
use hopquy_probe::http::{HttpRequest, HttpResponse, Scheme};
use hopquy_probe::{ProbeError, Recorder};
use serde::Serialize;
use serde_json::Value;

use super::{ActionError, ActionOutput, RunContext};

/// The web API surface chosen for the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebSurface {
    pub scheme: Scheme,
    pub port: u16,
    /// Why this surface, in one sentence a lab can check against the recorded exchanges.
    pub reason: String,
    /// SHA-256 of the HTTPS leaf certificate pinned for the run, when the surface is HTTPS.
    pub certificate_sha256: Option<String>,
}

impl WebSurface {
    pub fn observation(&self) -> WebSurfaceUsed {
        WebSurfaceUsed {
            scheme: self.scheme.as_str().to_owned(),
            port: self.port,
            reason: self.reason.clone(),
            certificate_sha256: self.certificate_sha256.clone(),
        }
    }
}

/// What one port did with an unauthenticated request for the login check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortState {
    /// Nothing listens (connection refused), or the profile binds no such port.
    Closed,
    /// The port answered the request itself and demanded credentials (401).
    Challenges,
    /// The port answered the request itself without a challenge (200, 403, 404, a redirect
    /// to a page on the same port…).
    Answers,
    /// A redirect to HTTPS (on this host or another).
    RedirectsToHttps,
    /// A redirect to plain HTTP on another port or host.
    RedirectsElsewhere,
    /// The TLS handshake failed (for example a TLS port that speaks plain HTTP).
    TlsFailed,
    /// No answer in time, or the connection was closed without one.
    NoAnswer,
    /// An answer that is not HTTP, or another transport failure.
    Error,
}

impl PortState {
    /// The port itself serves web requests (the API is here).
    fn serves(self) -> bool {
        matches!(self, PortState::Challenges | PortState::Answers)
    }
}

/// One port's answer, as observed.
#[derive(Debug, Clone, Serialize)]
pub struct PortLook {
    pub scheme: Scheme,
    pub port: Option<u16>,
    pub state: PortState,
    pub status: Option<u16>,
    pub location: Option<String>,
    /// The redirect target when it is on the target's own host: (scheme, port).
    #[serde(skip)]
    pub same_host_target: Option<(Scheme, u16)>,
    pub redirect_same_host: Option<bool>,
    pub challenge_schemes: Vec<String>,
    pub certificate_sha256: Option<String>,
    pub error: Option<String>,
}

impl PortLook {
    fn unbound(scheme: Scheme) -> Self {
        PortLook {
            scheme,
            port: None,
            state: PortState::Closed,
            status: None,
            location: None,
            same_host_target: None,
            redirect_same_host: None,
            challenge_schemes: Vec::new(),
            certificate_sha256: None,
            error: None,
        }
    }

    fn observation(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    fn describe(&self) -> String {
        let at = match self.port {
            Some(p) => format!("{} port {p}", self.scheme.as_str()),
            None => format!("no {} port is bound", self.scheme.as_str()),
        };
        match self.state {
            PortState::Closed if self.port.is_none() => at,
            PortState::Closed => format!("{at} refused the connection"),
            PortState::Challenges => format!("{at} demanded credentials (401)"),
            PortState::Answers => format!("{at} answered {}", self.status.unwrap_or_default()),
            PortState::RedirectsToHttps | PortState::RedirectsElsewhere => format!(
                "{at} redirects to {}",
                self.location.as_deref().unwrap_or("an unreadable location")
            ),
            PortState::TlsFailed => format!(
                "{at}: the TLS handshake failed ({})",
                self.error.as_deref().unwrap_or("no detail")
            ),
            PortState::NoAnswer => format!("{at} did not answer"),
            PortState::Error => format!("{at}: {}", self.error.as_deref().unwrap_or("transport failure")),
        }
    }
}

/// The request asked: the profile's login check (it demands credentials, so a 401 proves the
/// API is served there), else the identity document, else `GET /` — sent as the profile binds
/// it (an ONVIF login check is a SOAP POST), without credentials.
#[derive(Debug, Clone)]
struct SurveyRequest {
    method: String,
    path: String,
    content_type: Option<String>,
    body: Option<String>,
}

fn survey_request(ctx: &RunContext<'_>) -> SurveyRequest {
    ["login-check", "identity"]
        .iter()
        .find_map(|name| ctx.profile.ops.get(*name))
        .filter(|op| {
            op.path.starts_with('/') && !op.path.contains("${") && !op.body.as_deref().is_some_and(|b| b.contains("${"))
        })
        .map(|op| SurveyRequest {
            method: op.method.clone().unwrap_or_else(|| "GET".into()).to_ascii_uppercase(),
            path: op.path.clone(),
            content_type: op.content_type.clone(),
            body: op.body.clone(),
        })
        .unwrap_or_else(|| SurveyRequest {
            method: "GET".into(),
            path: "/".into(),
            content_type: None,
            body: None,
        })
}

/// Ask one port for `path` without credentials; never follows a redirect.
async fn look(
    ctx: &RunContext<'_>,
    scheme: Scheme,
    port: Option<u16>,
    ask: &SurveyRequest,
    rec: &Recorder,
) -> Result<PortLook, ActionError> {
    let mut out = PortLook::unbound(scheme);
    let Some(port) = port else {
        return Ok(out);
    };
    out.port = Some(port);
    let mut req = HttpRequest::new(scheme, port, ask.method.clone(), ask.path.clone()).with_label(format!(
        "web surface discovery: {} {} on {} port {port}, no credentials",
        ask.method,
        ask.path,
        scheme.as_str()
    ));
    if let Some(ct) = &ask.content_type {
        req = req.with_header("Content-Type", ct.clone());
    }
    if let Some(body) = &ask.body {
        req = req.with_body(body.clone().into_bytes());
    }
    let probe = ctx.http().await?;
    match probe.send(&req, rec).await {
        Ok(resp) => read_answer(ctx, &mut out, &resp),
        // A changed certificate is never a property of the surface: it stops the web cases.
        Err(err @ ProbeError::CertificateChanged(_)) => return Err(err.into()),
        Err(err) => {
            out.state = match &err {
                ProbeError::Refused(_) | ProbeError::Unreachable(_) => PortState::Closed,
                ProbeError::Timeout(_) | ProbeError::Closed(_) => PortState::NoAnswer,
                ProbeError::Tls(_) => PortState::TlsFailed,
                _ => PortState::Error,
            };
            // A TLS port spoken to in plain HTTP (or the reverse) often just closes.
            if scheme == Scheme::Https && out.state == PortState::NoAnswer {
                out.state = PortState::TlsFailed;
            }
            out.error = Some(err.to_string());
        }
    }
    Ok(out)
}

fn read_answer(ctx: &RunContext<'_>, out: &mut PortLook, resp: &HttpResponse) {
    out.status = Some(resp.status);
    out.certificate_sha256 = resp.peer_cert_sha256.clone();
    out.challenge_schemes = resp.challenges.iter().map(|c| c.label()).collect();
    let redirect = matches!(resp.status, 301 | 302 | 303 | 307 | 308);
    let location = resp
        .header("location")
        .map(|l| l.chars().take(2048).collect::<String>());
    out.state = if resp.status == 401 {
        PortState::Challenges
    } else {
        PortState::Answers
    };
    let (Some(location), true) = (location, redirect) else {
        return;
    };
    out.location = Some(location.clone());
    let Some(port) = out.port else {
        return;
    };
    let base = format!("{}://{}/", out.scheme.as_str(), ctx.device.authority(port));
    let Ok(target) = url::Url::parse(&base).and_then(|b| b.join(&location)) else {
        out.state = PortState::Error;
        out.error = Some(format!("unreadable redirect location {location:?}"));
        return;
    };
    let scheme = match target.scheme() {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        _ => {
            out.state = PortState::RedirectsElsewhere;
            return;
        }
    };
    let host = target
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let wanted = ctx.device.host().trim_start_matches('[').trim_end_matches(']');
    let same_host = host.eq_ignore_ascii_case(wanted)
        || matches!(
            (host.parse::<std::net::IpAddr>(), wanted.parse::<std::net::IpAddr>()),
            (Ok(a), Ok(b)) if a == b
        );
    let target_port = target.port_or_known_default().unwrap_or(scheme.default_port());
    out.redirect_same_host = Some(same_host);
    if same_host && scheme == out.scheme && target_port == port {
        // A redirect to a page on the same port (a login page): the port serves the web.
        return;
    }
    out.state = if scheme == Scheme::Https {
        PortState::RedirectsToHttps
    } else {
        PortState::RedirectsElsewhere
    };
    if same_host {
        out.same_host_target = Some((scheme, target_port));
    }
}

/// Both ports looked at, and what was chosen.
pub struct Survey {
    pub http: PortLook,
    pub https: PortLook,
    /// Looks after the first two (a redirect to another port on the same host).
    pub followed: Vec<PortLook>,
    pub chosen: Result<WebSurface, String>,
    /// Whether `https` holds a real look (not a placeholder for a port not asked yet).
    https_looked: bool,
}

impl Survey {
    pub fn observations(&self, preference: WebPreference) -> WebSurfaceObservations {
        WebSurfaceObservations {
            preference: Some(preference.as_str().to_owned()),
            http: Some(self.http.observation()),
            https: Some(self.https.observation()),
            followed: Some(self.followed.iter().map(PortLook::observation).collect()),
            found: Some(self.chosen.is_ok()),
            chosen: Some(self.chosen.as_ref().ok().map(WebSurface::observation)),
            reason: Some(match &self.chosen {
                Ok(s) => s.reason.clone(),
                Err(why) => why.clone(),
            }),
        }
    }
}

/// A surface chosen from a look that serves.
fn chosen_from(look: &PortLook, reason: String) -> Option<WebSurface> {
    let port = look.port?;
    look.state.serves().then(|| WebSurface {
        scheme: look.scheme,
        port,
        reason,
        certificate_sha256: look.certificate_sha256.clone(),
    })
}

/// How many redirects to another port of the same host are followed (a loop ends there).
const MAX_HOPS: usize = 3;

/// Look at the HTTP and HTTPS ports (both, when `look_at_both`; otherwise only what the
/// preference needs) and choose the surface.
pub async fn survey(ctx: &RunContext<'_>, rec: &Recorder, look_at_both: bool) -> Result<Survey, ActionError> {
    let path = survey_request(ctx);
    let preference = ctx.target.web;
    let http_port = ctx.port("http");
    let https_port = ctx.port("https");
    let wants_http = look_at_both || preference != WebPreference::Https;
    let wants_https = look_at_both || preference == WebPreference::Https;
    let http = if wants_http {
        look(ctx, Scheme::Http, http_port, &path, rec).await?
    } else {
        PortLook::unbound(Scheme::Http)
    };
    let mut survey = Survey {
        http,
        https: PortLook::unbound(Scheme::Https),
        followed: Vec::new(),
        chosen: Err(String::new()),
        https_looked: false,
    };
    if wants_https {
        survey.https = look(ctx, Scheme::Https, https_port, &path, rec).await?;
        survey.https_looked = true;
    }

    survey.chosen = match preference {
        WebPreference::Http => chosen_from(
            &survey.http,
            format!(
                "the target file names the HTTP surface (web = \"http\"); {}",
                survey.http.describe()
            ),
        )
        .ok_or_else(|| {
            format!(
                "the target file names the HTTP surface (web = \"http\"), but {}",
                survey.http.describe()
            )
        }),
        WebPreference::Https => chosen_from(
            &survey.https,
            format!(
                "the target file names the HTTPS surface (web = \"https\"); {}",
                survey.https.describe()
            ),
        )
        .ok_or_else(|| {
            format!(
                "the target file names the HTTPS surface (web = \"https\"), but {}",
                survey.https.describe()
            )
        }),
        WebPreference::Auto => choose_auto(ctx, &mut survey, https_port, &path, rec).await?,
    };
    Ok(survey)
}

async fn choose_auto(
    ctx: &RunContext<'_>,
    survey: &mut Survey,
    https_port: Option<u16>,
    path: &SurveyRequest,
    rec: &Recorder,
) -> Result<Result<WebSurface, String>, ActionError> {
    if let Some(s) = chosen_from(
        &survey.http,
        format!("{}, so the web API is served there", survey.http.describe()),
    ) {
        return Ok(Ok(s));
    }
    let mut trail = vec![survey.http.describe()];
    // Where to look next: the redirect's own port on this host, else the profile's HTTPS port.
    let mut next = match survey.http.same_host_target {
        Some(t) => Some(t),
        None => https_port.map(|p| (Scheme::Https, p)),
    };
    if survey.http.state == PortState::RedirectsToHttps && survey.http.redirect_same_host == Some(false) {
        trail.push("the redirect leaves the target's host and is not followed".to_owned());
    }
    let mut visited = vec![(Scheme::Http, survey.http.port)];
    for _ in 0..=MAX_HOPS {
        let Some((scheme, port)) = next else {
            break;
        };
        if visited.contains(&(scheme, Some(port))) {
            trail.push(format!(
                "{} port {port} was already asked (a redirect loop)",
                scheme.as_str()
            ));
            break;
        }
        visited.push((scheme, Some(port)));
        let is_https_port = scheme == Scheme::Https && https_port == Some(port);
        let current = if is_https_port && survey.https_looked {
            survey.https.clone()
        } else {
            let l = look(ctx, scheme, Some(port), path, rec).await?;
            if is_https_port {
                survey.https = l.clone();
                survey.https_looked = true;
            } else {
                survey.followed.push(l.clone());
            }
            l
        };
        trail.push(current.describe());
        if let Some(s) = chosen_from(&current, trail.join("; ")) {
            return Ok(Ok(s));
        }
        next = current.same_host_target;
    }
    // An HTTP port that accepted the connection but gave no usable answer is still the
    // profile's web port: keep it, so the cases say the device did not answer rather than that
    // no surface exists.
    if matches!(survey.http.state, PortState::NoAnswer | PortState::Error)
        && let Some(port) = survey.http.port
    {
        trail.push(format!(
            "falling back to the profile's HTTP port {port}, the only candidate that did not refuse"
        ));
        return Ok(Ok(WebSurface {
            scheme: Scheme::Http,
            port,
            reason: trail.join("; "),
            certificate_sha256: None,
        }));
    }
    Ok(Err(format!("no web API surface was found: {}", trail.join("; "))))
}

/// The `web-surface` action: both ports surveyed as a step of the case, with the choice.
pub async fn run(ctx: &RunContext<'_>, rec: &Recorder) -> Result<ActionOutput, ActionError> {
    let survey = survey(ctx, rec, true).await?;
    Ok(ActionOutput::observed(survey.observations(ctx.target.web)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use hopquy_case::ProfileFile;
    use hopquy_probe::Limits;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::actions::test_support::{context, target};

    const PROFILE: &str = r#"
name = "t"
description = "test"
[ops.login-check]
path = "/login"
auth = "any"
"#;

    /// What a test port answers to every request.
    #[derive(Clone)]
    enum Answer {
        Status(u16),
        Redirect(String),
        /// Speaks plain HTTP on a port the profile calls HTTPS.
        PlainOnTls,
    }

    fn response(answer: &Answer) -> Vec<u8> {
        match answer {
            Answer::Status(401) => b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n\", qop=\"auth\"\r\nContent-Length: 0\r\n\r\n".to_vec(),
            Answer::Status(code) => format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n").into_bytes(),
            Answer::Redirect(to) => format!("HTTP/1.1 301 Moved\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n").into_bytes(),
            Answer::PlainOnTls => b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec(),
        }
    }

    async fn read_head<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> bool {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        true
    }

    /// A plain HTTP port answering `answer` to everything.
    async fn plain(answer: Answer) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    if read_head(&mut s).await {
                        let _ = s.write_all(&response(&answer)).await;
                        let _ = s.shutdown().await;
                    }
                });
            }
        });
        port
    }

    /// An HTTPS port with a fresh self-signed certificate; returns the port and the
    /// certificate's SHA-256.
    async fn tls(answer: Answer) -> (u16, String) {
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(cert.cert.der()));
        let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.cert.der().clone()], key)
                .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let answer = answer.clone();
                tokio::spawn(async move {
                    let Ok(mut s) = acceptor.accept(s).await else {
                        return;
                    };
                    if read_head(&mut s).await {
                        let _ = s.write_all(&response(&answer)).await;
                        let _ = s.shutdown().await;
                    }
                });
            }
        });
        (port, sha)
    }

    /// A port with nothing listening.
    async fn closed_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        // Nothing may race onto it in a test; a connect now is refused.
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
        port
    }

    fn limits() -> Limits {
        Limits {
            connect_timeout: std::time::Duration::from_secs(2),
            io_timeout: std::time::Duration::from_secs(3),
            ..Limits::default()
        }
    }

    async fn discover(ports: &[(&str, u16)], web: WebPreference) -> (Survey, Vec<hopquy_probe::Exchange>) {
        let profile: ProfileFile = toml::from_str(PROFILE).unwrap();
        let mut t = target("pw", ports);
        t.web = web;
        let dicts = BTreeMap::new();
        let paths = BTreeMap::new();
        let ctx = context(limits(), &profile, &t, &dicts, &paths);
        let rec = Recorder::default();
        let survey = survey(&ctx, &rec, false).await.unwrap();
        (survey, rec.drain())
    }

    #[tokio::test]
    async fn http_that_serves_the_api_is_chosen() {
        let http = plain(Answer::Status(401)).await;
        let (s, exchanges) = discover(&[("http", http), ("https", closed_port().await)], WebPreference::Auto).await;
        let chosen = s.chosen.unwrap();
        assert_eq!((chosen.scheme, chosen.port), (Scheme::Http, http));
        assert!(chosen.reason.contains("demanded credentials"), "{}", chosen.reason);
        // One request, unauthenticated, recorded as discovery.
        assert_eq!(exchanges.len(), 1);
        assert!(
            exchanges[0].label.starts_with("web surface discovery"),
            "{}",
            exchanges[0].label
        );
    }

    #[tokio::test]
    async fn a_redirect_to_https_on_the_same_host_moves_the_surface_and_pins_the_certificate() {
        let (https, sha) = tls(Answer::Status(401)).await;
        let http = plain(Answer::Redirect(format!("https://127.0.0.1:{https}/login"))).await;
        // The profile's HTTPS port is something else: the redirect's own port wins.
        let (s, _) = discover(&[("http", http), ("https", closed_port().await)], WebPreference::Auto).await;
        let chosen = s.chosen.unwrap();
        assert_eq!((chosen.scheme, chosen.port), (Scheme::Https, https));
        assert_eq!(chosen.certificate_sha256.as_deref(), Some(sha.as_str()));
        assert_eq!(s.http.state, PortState::RedirectsToHttps);
        assert_eq!(s.http.redirect_same_host, Some(true));
    }

    #[tokio::test]
    async fn a_redirect_to_another_host_is_not_followed() {
        let (https, _) = tls(Answer::Status(401)).await;
        let http = plain(Answer::Redirect("https://camera.example.net/login".into())).await;
        let (s, exchanges) = discover(&[("http", http), ("https", https)], WebPreference::Auto).await;
        let chosen = s.chosen.unwrap();
        assert_eq!((chosen.scheme, chosen.port), (Scheme::Https, https));
        assert!(chosen.reason.contains("not followed"), "{}", chosen.reason);
        assert!(
            exchanges.iter().all(|e| e.peer.starts_with("127.0.0.1:")),
            "contacted another host: {:?}",
            exchanges.iter().map(|e| &e.peer).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn a_closed_http_port_falls_back_to_https() {
        let (https, _) = tls(Answer::Status(200)).await;
        let (s, _) = discover(&[("http", closed_port().await), ("https", https)], WebPreference::Auto).await;
        assert_eq!(s.http.state, PortState::Closed);
        assert_eq!(s.chosen.unwrap().port, https);
    }

    #[tokio::test]
    async fn a_redirect_loop_ends_with_no_surface_and_says_why() {
        // Two plain ports on the same host that redirect to each other, and no HTTPS port.
        let a_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = a_listener.local_addr().unwrap().port();
        let b = plain(Answer::Redirect(format!("http://127.0.0.1:{a}/"))).await;
        tokio::spawn(async move {
            while let Ok((mut s, _)) = a_listener.accept().await {
                tokio::spawn(async move {
                    if read_head(&mut s).await {
                        let _ = s
                            .write_all(&response(&Answer::Redirect(format!("http://127.0.0.1:{b}/"))))
                            .await;
                    }
                });
            }
        });
        let (s, exchanges) = discover(&[("http", a)], WebPreference::Auto).await;
        let why = s.chosen.unwrap_err();
        assert!(why.starts_with("no web API surface was found"), "{why}");
        assert!(why.contains("redirect loop"), "{why}");
        // a, then b, then the loop is seen without asking a again.
        assert_eq!(exchanges.len(), 2, "{exchanges:?}");
    }

    #[tokio::test]
    async fn a_tls_port_that_speaks_plain_http_is_no_surface() {
        let fake_tls = plain(Answer::PlainOnTls).await;
        let (s, _) = discover(
            &[("http", closed_port().await), ("https", fake_tls)],
            WebPreference::Auto,
        )
        .await;
        assert_eq!(s.https.state, PortState::TlsFailed);
        let why = s.chosen.unwrap_err();
        assert!(why.contains("refused the connection") && why.contains("TLS"), "{why}");
    }

    #[tokio::test]
    async fn the_target_file_can_name_the_surface() {
        let http = plain(Answer::Status(401)).await;
        let (https, _) = tls(Answer::Status(401)).await;
        let (s, _) = discover(&[("http", http), ("https", https)], WebPreference::Https).await;
        let chosen = s.chosen.unwrap();
        assert_eq!((chosen.scheme, chosen.port), (Scheme::Https, https));
        assert!(chosen.reason.contains("web = \"https\""), "{}", chosen.reason);
        // Named but not served: no silent fallback to the other port.
        let (s, _) = discover(&[("http", closed_port().await), ("https", https)], WebPreference::Http).await;
        assert!(s.chosen.is_err());
    }

    #[tokio::test]
    async fn another_certificate_later_in_the_run_stops_the_web_steps() {
        let (https, _) = tls(Answer::Status(401)).await;
        let (other, _) = tls(Answer::Status(200)).await;
        let profile: ProfileFile = toml::from_str(PROFILE).unwrap();
        let t = target(
            "pw",
            &[("http", closed_port().await), ("https", https), ("https-other", other)],
        );
        let dicts = BTreeMap::new();
        let paths = BTreeMap::new();
        let ctx = context(limits(), &profile, &t, &dicts, &paths);
        let rec = Recorder::default();
        let surface = ctx.web_surface(&rec).await.unwrap();
        assert_eq!(surface.port, https);
        let err = ctx
            .http()
            .await
            .unwrap()
            .send(&HttpRequest::get(Scheme::Https, other, "/login"), &rec)
            .await
            .unwrap_err();
        assert!(matches!(err, ProbeError::CertificateChanged(_)), "{err:?}");
        let last = rec.drain().pop().unwrap();
        assert!(last.error.unwrap_or_default().contains("certificate changed"));
        assert!(last.received.is_none(), "an answer from a changed certificate was kept");

        // After a destructive step a person performed (a factory reset regenerates the
        // certificate), the surface and the pin are found anew.
        assert!(ctx.forget_web_surface().await);
        let resp = ctx
            .http()
            .await
            .unwrap()
            .send(&HttpRequest::get(Scheme::Https, other, "/login"), &rec)
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(ctx.device.pinned_certificate(), resp.peer_cert_sha256);
        // The report still knows the surface the run used.
        assert_eq!(ctx.discovered_web_surface().map(|s| s.port), Some(https));
    }
}
