//! Route discovery (probe `rtsp`), after cameradar: OPTIONS, a random path, each candidate
//! path anonymously, then authenticated where refused, and whether Basic is accepted.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::Method;
use super::client::{RequestTarget, RtspAuth, RtspClient, request_url};
use super::wire::RtspResponse;
use crate::auth::{AuthMode, Challenge, DigestSession, select_challenge};
use crate::{Credential, Device, ProbeError, Recorder};

/// Discovery gives up after this many failed requests in a row: a server that times out or
/// answers garbage would otherwise cost one timeout per dictionary path.
const MAX_CONSECUTIVE_FAILURES: usize = 3;
/// Before any answer at all, fewer failures suffice to call the server broken.
const MAX_FAILURES_BEFORE_ANY_ANSWER: usize = 2;

/// What to probe.
#[derive(Debug, Clone)]
pub struct RtspProbeRequest {
    pub port: u16,
    /// Candidate stream paths, each starting with `/`; duplicates are asked once.
    pub paths: Vec<String>,
    /// Re-run discovery authenticated, and test Basic when offered. `secret` credentials
    /// never appear in recorded exchanges.
    pub credential: Option<Credential>,
}

/// One path's answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub path: String,
    /// Status of the anonymous DESCRIBE.
    pub status: Option<u16>,
    /// Status of the authenticated DESCRIBE, when the anonymous one was refused and
    /// credentials were given.
    pub authenticated_status: Option<u16>,
}

impl Route {
    /// The answer that decides existence: authenticated when asked, else anonymous.
    fn final_status(&self) -> Option<u16> {
        self.authenticated_status.or(self.status)
    }

    /// 2xx, or 401/403 (there, but refused): cameradar's notion of a found route.
    fn exists(&self) -> bool {
        self.final_status()
            .is_some_and(|s| (200..300).contains(&s) || s == 401 || s == 403)
    }

    fn open(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathError {
    pub path: String,
    pub error: String,
}

/// Everything the probe observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RtspReport {
    /// `Server` header of the first response that had one.
    pub server: Option<String>,
    /// Methods from the OPTIONS response's `Public` header.
    pub public: Vec<String>,
    pub options_status: Option<u16>,
    /// `none` (something was served anonymously), then the challenge labels (`basic`,
    /// `digest-md5`, `digest-sha256`…) in the order first seen.
    pub auth: Vec<String>,
    pub challenges: Vec<Challenge>,
    /// Paths that exist (2xx, 401 or 403 after the authenticated retry), in request order.
    pub routes: Vec<Route>,
    /// Paths whose anonymous DESCRIBE succeeded.
    pub open_routes: Vec<String>,
    /// Whether the target password sent with Basic was accepted: `None` when Basic was not
    /// tried (not offered, or no credential given).
    pub basic_accepted: Option<bool>,
    pub basic_offered: bool,
    /// A random path was answered 2xx (anonymously or with the credential).
    pub accepts_any_path: bool,
    pub random_path: Option<Route>,
    pub paths_tried: usize,
    /// Requests that failed (timeout, closed, garbage), by path (`*` for OPTIONS).
    pub errors: Vec<PathError>,
    /// Responses only the lenient reader could parse.
    pub nonconforming_responses: usize,
    pub elapsed_ms: u64,
}

impl RtspReport {
    /// Observation JSON (`reachable` is always true here: an unreachable port is an error).
    pub fn observations(&self) -> serde_json::Value {
        serde_json::json!({
            "reachable": true,
            "server": self.server,
            "public": self.public,
            "options_status": self.options_status,
            "auth": self.auth,
            "challenges": self.challenges.iter().map(Challenge::observation).collect::<Vec<_>>(),
            "routes": self.routes,
            "open_routes": self.open_routes,
            "basic_offered": self.basic_offered,
            "basic_accepted": self.basic_accepted,
            "accepts_any_path": self.accepts_any_path,
            "random_path": self.random_path,
            "paths_tried": self.paths_tried,
            "errors": self.errors,
            "nonconforming_responses": self.nonconforming_responses,
            "elapsed_ms": self.elapsed_ms,
        })
    }
}

/// A path no camera serves, so that a 2xx to it means the server accepts anything.
pub fn random_path() -> String {
    let mut bytes = [0u8; 8];
    rand::fill(&mut bytes);
    format!("/hopquy-{}", hex::encode(bytes))
}

/// Bookkeeping of one probe run.
struct Discovery<'r> {
    client: RtspClient<'r>,
    report: RtspReport,
    answered_any: bool,
    failures_in_a_row: usize,
    first_error: Option<ProbeError>,
    labels: Vec<String>,
}

impl<'r> Discovery<'r> {
    /// Send one request; a failure is kept as an observation unless the server looks
    /// broken (then the first failure is returned as the probe's error).
    async fn ask(
        &mut self,
        method: Method,
        target: RequestTarget<'_>,
        auth: RtspAuth<'_>,
    ) -> Result<Option<RtspResponse>, ProbeError> {
        match self.client.request(method, target, auth).await {
            Ok(r) => {
                self.answered_any = true;
                self.failures_in_a_row = 0;
                if !r.conforming {
                    self.report.nonconforming_responses += 1;
                }
                if self.report.server.is_none()
                    && let Some(s) = r.header("Server")
                {
                    self.report.server = Some(crate::tcp::escape_banner(s.as_bytes()));
                }
                if r.status == 401 {
                    for c in r.challenges() {
                        let label = c.label();
                        if !self.labels.contains(&label) {
                            self.labels.push(label);
                        }
                        // Nonces change with every 401; one entry per scheme and realm is the fact.
                        let known = self
                            .report
                            .challenges
                            .iter()
                            .any(|k| k.label() == c.label() && k.realm == c.realm);
                        if !known && self.report.challenges.len() < 16 {
                            self.report.challenges.push(c);
                        }
                    }
                }
                Ok(Some(r))
            }
            Err(e) if e.is_unreachable() && !self.answered_any => Err(e),
            Err(e) => {
                let path = match target {
                    RequestTarget::Star => "*".to_owned(),
                    RequestTarget::Path(p) => p.to_owned(),
                };
                tracing::debug!(%path, error = %e, "RTSP request failed");
                self.report.errors.push(PathError {
                    path,
                    error: e.to_string(),
                });
                self.failures_in_a_row += 1;
                let first = self.first_error.get_or_insert(e).clone();
                let limit = if self.answered_any {
                    MAX_CONSECUTIVE_FAILURES
                } else {
                    MAX_FAILURES_BEFORE_ANY_ANSWER
                };
                if self.failures_in_a_row >= limit {
                    return Err(first);
                }
                Ok(None)
            }
        }
    }

    /// DESCRIBE `path` with the credential, answering the latest challenge; one retry with
    /// the new challenge when the nonce was refused as stale or single-use.
    async fn describe_authenticated(
        &mut self,
        path: &str,
        credential: &Credential,
        session: &mut Option<DigestSession>,
        basic_only: bool,
    ) -> Result<Option<u16>, ProbeError> {
        for attempt in 0..2 {
            let response = if basic_only {
                self.ask(Method::Describe, RequestTarget::Path(path), RtspAuth::Basic(credential))
                    .await?
            } else {
                let Some(s) = session.as_mut() else {
                    return Ok(None);
                };
                self.ask(
                    Method::Describe,
                    RequestTarget::Path(path),
                    RtspAuth::Digest(s, credential),
                )
                .await?
            };
            let Some(r) = response else {
                return Ok(None);
            };
            if r.status == 401 && attempt == 0 && !basic_only {
                let fresh = r.challenges();
                if let Some(next) = select_challenge(&fresh, AuthMode::Digest)
                    && session
                        .as_ref()
                        .is_none_or(|s| s.challenge().param("nonce") != next.param("nonce"))
                {
                    *session = Some(DigestSession::new(next.clone()));
                    continue;
                }
            }
            return Ok(Some(r.status));
        }
        Ok(None)
    }
}

/// Run the whole probe: OPTIONS, the random path, every candidate path anonymously, then
/// (with a credential) every refused path authenticated and Basic when offered.
///
/// `Err` only when the port cannot be reached or the server answers nothing usable; partial
/// failures are listed in [`RtspReport::errors`].
pub async fn probe(device: &Device, request: &RtspProbeRequest, rec: &Recorder) -> Result<RtspReport, ProbeError> {
    let begun = Instant::now();
    let mut paths: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for p in &request.paths {
        // Validate before any traffic: a bad path is a definition error, not an observation.
        request_url(device, request.port, p)?;
        if seen.insert(p.clone()) {
            paths.push(p.clone());
        }
    }
    let mut d = Discovery {
        client: RtspClient::new(device, request.port, rec),
        report: RtspReport::default(),
        answered_any: false,
        failures_in_a_row: 0,
        first_error: None,
        labels: Vec::new(),
    };

    if let Some(r) = d
        .ask(Method::Options, RequestTarget::Path("/"), RtspAuth::Anonymous)
        .await?
    {
        d.report.options_status = Some(r.status);
        d.report.public = r.public_methods();
    }

    let random = random_path();
    let mut random_route = Route {
        path: random.clone(),
        status: None,
        authenticated_status: None,
    };
    if let Some(r) = d
        .ask(Method::Describe, RequestTarget::Path(&random), RtspAuth::Anonymous)
        .await?
    {
        random_route.status = Some(r.status);
    }

    let mut routes: Vec<Route> = Vec::with_capacity(paths.len());
    for path in &paths {
        let status = d
            .ask(Method::Describe, RequestTarget::Path(path), RtspAuth::Anonymous)
            .await?
            .map(|r| r.status);
        routes.push(Route {
            path: path.clone(),
            status,
            authenticated_status: None,
        });
    }

    d.report.basic_offered = d.report.challenges.iter().any(Challenge::is_basic);
    if let Some(credential) = &request.credential {
        let mut session = select_challenge(&d.report.challenges, AuthMode::Digest)
            .cloned()
            .map(DigestSession::new);
        // Only when Basic is all the server takes does discovery send it; otherwise Basic is
        // sent once, below, to test whether it is accepted.
        let basic_only = session.is_none() && d.report.basic_offered;
        if session.is_some() || basic_only {
            if random_route.status == Some(401) {
                random_route.authenticated_status = d
                    .describe_authenticated(&random, credential, &mut session, basic_only)
                    .await?;
            }
            for route in routes.iter_mut().filter(|r| r.status == Some(401)) {
                route.authenticated_status = d
                    .describe_authenticated(&route.path, credential, &mut session, basic_only)
                    .await?;
            }
        }
        if d.report.basic_offered {
            let refused: Vec<&Route> = routes
                .iter()
                .chain(std::iter::once(&random_route))
                .filter(|r| r.status == Some(401))
                .collect();
            d.report.basic_accepted = basic_check(&mut d, &refused, credential, basic_only).await?;
        }
    }

    let ok = |s: Option<u16>| s.is_some_and(|s| (200..300).contains(&s));
    d.report.accepts_any_path = ok(random_route.status) || ok(random_route.authenticated_status);
    let served_anonymously = ok(random_route.status) || routes.iter().any(Route::open);
    let mut auth = Vec::new();
    if served_anonymously {
        auth.push("none".to_owned());
    }
    auth.extend(d.labels.iter().cloned());
    d.report.auth = auth;
    d.report.open_routes = routes.iter().filter(|r| r.open()).map(|r| r.path.clone()).collect();
    d.report.paths_tried = routes.len();
    d.report.routes = routes.into_iter().filter(Route::exists).collect();
    d.report.random_path = Some(random_route);
    d.report.elapsed_ms = u64::try_from(begun.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(d.report)
}

/// Whether an answer to a request carrying credentials shows they passed authentication:
/// 2xx, 3xx or 404 (authenticated, then the path was looked up) yes; 401/403 no; anything
/// else says nothing.
fn credentials_passed(status: u16) -> Option<bool> {
    match status {
        200..=399 | 404 => Some(true),
        401 | 403 => Some(false),
        _ => None,
    }
}

/// Send the credential with Basic to a path that refused the anonymous DESCRIBE. Whether
/// it is accepted is the finding: any client the camera lets do this sends the password
/// readable on the wire.
async fn basic_check(
    d: &mut Discovery<'_>,
    refused: &[&Route],
    credential: &Credential,
    already_sent: bool,
) -> Result<Option<bool>, ProbeError> {
    if already_sent {
        // Discovery authenticated with Basic already; its answers are the evidence.
        return Ok(refused
            .iter()
            .find_map(|r| r.authenticated_status.and_then(credentials_passed)));
    }
    // Prefer a path the credential opened with Digest, so a refusal means "not Basic".
    let Some(path) = refused
        .iter()
        .find(|r| r.authenticated_status.is_some_and(|s| (200..300).contains(&s)))
        .or_else(|| refused.first())
        .map(|r| r.path.clone())
    else {
        return Ok(None);
    };
    let r = d
        .ask(
            Method::Describe,
            RequestTarget::Path(&path),
            RtspAuth::Basic(credential),
        )
        .await?;
    Ok(r.and_then(|r| credentials_passed(r.status)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn route_existence_follows_the_authenticated_answer() {
        let r = |status, authenticated_status| Route {
            path: "/p".into(),
            status,
            authenticated_status,
        };
        assert!(r(Some(200), None).exists() && r(Some(200), None).open());
        assert!(r(Some(401), None).exists() && !r(Some(401), None).open());
        assert!(r(Some(401), Some(200)).exists());
        assert!(!r(Some(401), Some(404)).exists(), "401-before-404 camera: absent");
        assert!(!r(Some(404), None).exists());
        assert!(!r(None, None).exists());
    }

    #[test]
    fn random_paths_differ() {
        let (a, b) = (random_path(), random_path());
        assert_ne!(a, b);
        assert!(a.starts_with("/hopquy-") && a.len() == "/hopquy-".len() + 16);
    }
}
