//! `rtsp` action over the RTSP probe: authentication schemes offered, stream routes found
//! with and without credentials, open routes, Basic in clear, any-path acceptance; and the
//! RTSP surface of `login`/`recover`.

use std::sync::Mutex;

use hopquy_case::observations::RtspObservations;
use hopquy_case::{Credential as CredentialKind, LoginTarget, PathSource, RtspPaths, RtspStep};
use hopquy_probe::rtsp::{self, RtspProbeRequest};
use hopquy_probe::{Credential, ProbeError, Recorder};
use serde_json::{Map, Value, json};

use super::dictionary::{Attempt, Outcome, fingerprint};
use super::{ActionError, ActionOutput, RunContext, credential_label, observed_as, one_credential, opt};

/// The path dictionary used, after the profile's paths, when a step names none.
pub const DEFAULT_DICTIONARY: &str = "rtsp-paths";
/// A step asking for more paths than this is a definition error, not a test.
const MAX_PATHS: usize = 1000;

pub async fn run(
    step: &RtspStep,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
) -> Result<ActionOutput, ActionError> {
    let port_value = opt(&step.port, tctx)?;
    let (_, port) = ctx.resolve_port(port_value.as_ref(), "rtsp")?;
    let paths = paths(step.paths.as_ref(), tctx, ctx)?;
    let credential = one_credential(
        step.credentials
            .as_ref()
            .map_or(CredentialKind::Target, |c| *c.get_ref()),
        ctx,
    );
    let credential_label = credential_label(&credential);
    let request = RtspProbeRequest {
        port,
        paths,
        credential,
    };
    let mut observations = match rtsp::probe(&ctx.device, &request, rec).await {
        Ok(report) => report.observations(),
        // No RTSP service is an observation (a camera may stream only on demand), not a
        // failure to observe.
        Err(ProbeError::Refused(why)) => json!({ "reachable": false, "error": format!("connection refused by {why}") }),
        Err(ProbeError::Invalid(why)) => return Err(ActionError::Definition(why)),
        Err(e) => return Err(e.into()),
    };
    if let Value::Object(map) = &mut observations {
        map.insert("credential".into(), Value::String(credential_label));
        map.insert("port".into(), json!(port));
    }
    Ok(ActionOutput::observed(observed_as::<RtspObservations>(observations)?))
}

/// The RTSP login surface: a stream path that refused an anonymous DESCRIBE.
pub(super) struct LoginRoute {
    port: u16,
    path: String,
    auth_used: Mutex<Vec<String>>,
}

/// Find the route to log in on: an anonymous discovery over the candidate paths (no
/// credential is sent, so a locked account does not change the answer), then the first
/// path answered 401. `None` when the port is closed or no path demands authentication;
/// `map` gets `reachable`, `route` and `anonymous_allowed` either way.
pub(super) async fn login_route(
    target: &LoginTarget,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
    map: &mut Map<String, Value>,
) -> Result<Option<LoginRoute>, ActionError> {
    let (_, port) = ctx.resolve_port(opt(&target.port, tctx)?.as_ref(), "rtsp")?;
    let request = RtspProbeRequest {
        port,
        paths: paths(target.paths.as_ref(), tctx, ctx)?,
        credential: None,
    };
    map.insert("port".into(), json!(port));
    let report = match rtsp::probe(&ctx.device, &request, rec).await {
        Ok(report) => report,
        Err(ProbeError::Refused(why)) => {
            map.insert("reachable".into(), json!(false));
            map.insert("route".into(), Value::Null);
            map.insert("anonymous_allowed".into(), json!([]));
            map.insert("error".into(), json!(format!("connection refused by {why}")));
            return Ok(None);
        }
        Err(ProbeError::Invalid(why)) => return Err(ActionError::Definition(why)),
        Err(e) => return Err(e.into()),
    };
    // A server answering a random path 2xx serves anything without a password.
    let mut open = report.open_routes.clone();
    if let Some(random) = report
        .random_path
        .as_ref()
        .filter(|r| r.status.is_some_and(|s| (200..300).contains(&s)))
    {
        open.push(random.path.clone());
    }
    let route = report
        .routes
        .iter()
        .find(|r| r.status == Some(401))
        .map(|r| r.path.clone());
    map.insert("reachable".into(), json!(true));
    map.insert("route".into(), json!(route));
    map.insert("anonymous_allowed".into(), json!(open));
    Ok(route.map(|path| LoginRoute {
        port,
        path,
        auth_used: Mutex::new(Vec::new()),
    }))
}

impl LoginRoute {
    /// One DESCRIBE with `cred` on a fresh connection. 2xx, or 404 (the path is looked up
    /// only once the credentials passed: the route refused the anonymous request), is
    /// accepted; 401 rejected; the profile's lock classifier first; a credential that never
    /// went out (no 401, no scheme we speak) is unknown, never a rejection.
    pub(super) async fn attempt(
        &self,
        cred: &Option<Credential>,
        ctx: &RunContext<'_>,
        rec: &Recorder,
    ) -> Result<Attempt, ActionError> {
        let started = std::time::Instant::now();
        let answer = rtsp::describe_as(&ctx.device, self.port, &self.path, cred.as_ref(), rec).await?;
        let response = &answer.response;
        if let Some(scheme) = &answer.auth_used
            && let Ok(mut used) = self.auth_used.lock()
            && !used.contains(scheme)
        {
            used.push(scheme.clone());
        }
        let outcome = if ctx.classifiers.rtsp_locked(response.status, &response.body) {
            Outcome::Locked
        } else if answer.auth_used.is_none() {
            Outcome::Unknown
        } else {
            match response.status {
                200..=299 | 404 => Outcome::Accepted,
                401 => Outcome::Rejected,
                _ => Outcome::Unknown,
            }
        };
        let status = json!(response.status);
        Ok(Attempt {
            outcome,
            fingerprint: fingerprint(&status, &response.body),
            status,
            elapsed_ms: started.elapsed().as_millis() as u64,
        })
    }

    pub(super) fn auth_used(&self) -> Vec<String> {
        self.auth_used.lock().map(|u| u.clone()).unwrap_or_default()
    }
}

/// The candidate paths: a list (of paths, `profile` or `dictionary:<stem>` items), one of
/// those words alone, or by default the profile's paths followed by the `rtsp-paths`
/// dictionary (when the run loaded it). Repeats are dropped, first occurrence kept.
fn paths(value: Option<&RtspPaths>, tctx: &Value, ctx: &RunContext<'_>) -> Result<Vec<String>, ActionError> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |items: &[String]| {
        for p in items {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
    };
    let profile_paths = || ctx.profile.rtsp.as_ref().map(|r| r.paths.clone()).unwrap_or_default();
    match value {
        None => {
            add(&profile_paths());
            if let Some(entries) = ctx.path_dictionaries.get(DEFAULT_DICTIONARY) {
                add(entries);
            }
        }
        Some(RtspPaths(sources)) => {
            for source in sources {
                match source {
                    PathSource::Profile => add(&profile_paths()),
                    PathSource::Dictionary(stem) => add(ctx.path_dictionaries.get(stem).ok_or_else(|| {
                        ActionError::Definition(format!("no path dictionary `{stem}` in test-cases/data"))
                    })?),
                    PathSource::Path(path) => {
                        let path = match crate::template::resolve_str(path, tctx)? {
                            Value::String(path) => path,
                            other => other.to_string(),
                        };
                        if !path.starts_with('/') {
                            return Err(ActionError::Definition(format!(
                                "RTSP path `{path}` must start with `/`"
                            )));
                        }
                        add(&[path]);
                    }
                }
            }
        }
    }
    if out.len() > MAX_PATHS {
        return Err(ActionError::Definition(format!(
            "{} RTSP paths exceed the bound of {MAX_PATHS}",
            out.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use hopquy_case::{ProfileFile, RtspBinding};
    use hopquy_probe::Limits;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::actions::test_support::context;
    use crate::run::Target;

    const PASSWORD: &str = "Target-Secret-9";

    fn target(port: u16) -> Target {
        crate::actions::test_support::target(PASSWORD, &[("rtsp", port)])
    }

    fn profile() -> ProfileFile {
        ProfileFile {
            rtsp: Some(RtspBinding {
                paths: vec!["/live".into(), "/sub".into()],
                locked: None,
            }),
            ..ProfileFile::default()
        }
    }

    fn step(text: &str) -> hopquy_case::StepAction {
        crate::actions::test_support::action(text)
    }

    async fn execute(step_text: &str, port: u16, rec: &Recorder) -> Result<ActionOutput, ActionError> {
        let profile = profile();
        let target = target(port);
        let credentials = BTreeMap::new();
        let paths = BTreeMap::from([("rtsp-paths".to_owned(), vec!["/live".to_owned(), "/ch0".to_owned()])]);
        let limits = Limits {
            io_timeout: std::time::Duration::from_millis(800),
            ..Limits::default()
        };
        let ctx = context(limits, &profile, &target, &credentials, &paths);
        let hopquy_case::StepAction::Rtsp(rtsp) = step(step_text) else {
            panic!("not an rtsp step: {step_text}");
        };
        run(&rtsp, &ctx, &json!({}), rec).await
    }

    /// `/live` is served only with Basic credentials admin:PASSWORD; everything else is 404.
    async fn basic_only_server() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    loop {
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            match stream.read(&mut chunk).await {
                                Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                                _ => return,
                            }
                            continue;
                        };
                        let request = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
                        buf.drain(..end + 4);
                        let cseq = request
                            .lines()
                            .find_map(|l| l.strip_prefix("CSeq: "))
                            .unwrap_or("0")
                            .to_owned();
                        let allowed = format!("Authorization: Basic {}", basic("admin", PASSWORD));
                        let status = if request.starts_with("OPTIONS") {
                            "200 OK\r\nPublic: OPTIONS, DESCRIBE"
                        } else if !request.contains(&allowed) {
                            "401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"cam\""
                        } else if request.contains("/live ") {
                            "200 OK"
                        } else {
                            "404 Not Found"
                        };
                        let reply = format!("RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n\r\n");
                        if stream.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        port
    }

    /// The base64 part of a Basic `Authorization` value.
    fn basic(user: &str, password: &str) -> String {
        let value = hopquy_probe::auth::basic_authorization(&hopquy_probe::Credential {
            username: user.into(),
            password: password.into(),
            secret: false,
        });
        value.trim_start_matches("Basic ").to_owned()
    }

    #[tokio::test]
    async fn refused_port_is_an_observation() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = execute("id = 'r'\naction = 'rtsp'", port, &Recorder::default())
            .await
            .unwrap();
        assert_eq!(out.observations["reachable"], false);
    }

    #[tokio::test]
    async fn a_basic_only_camera_is_found_and_flagged_without_leaking_the_password() {
        let port = basic_only_server().await;
        let rec = Recorder::default();
        let out = execute("id = 'r'\naction = 'rtsp'", port, &rec).await.unwrap();
        let obs = out.observations;
        assert_eq!(obs["reachable"], true);
        assert_eq!(obs["auth"], json!(["basic"]));
        assert_eq!(obs["basic_accepted"], true);
        assert_eq!(obs["open_routes"], json!([]));
        assert_eq!(
            obs["routes"],
            json!([{ "path": "/live", "status": 401, "authenticated_status": 200 }])
        );
        assert_eq!(obs["paths_tried"], 3, "profile /live, /sub, then dictionary /ch0");
        assert_eq!(obs["credential"], "admin:[REDACTED]");
        let recorded = serde_json::to_string(&rec.drain()).unwrap();
        assert!(!recorded.contains(PASSWORD) && !recorded.contains(&basic("admin", PASSWORD)));
    }

    #[tokio::test]
    async fn anonymous_and_wrong_password_runs() {
        let port = basic_only_server().await;
        let out = execute(
            "id = 'r'\naction = 'rtsp'\ncredentials = 'none'\npaths = ['/live']",
            port,
            &Recorder::default(),
        )
        .await
        .unwrap();
        assert_eq!(
            out.observations["routes"],
            json!([{ "path": "/live", "status": 401, "authenticated_status": null }])
        );
        assert_eq!(out.observations["basic_accepted"], Value::Null);
        let out = execute(
            "id = 'r'\naction = 'rtsp'\ncredentials = 'wrong-password'\npaths = 'profile'",
            port,
            &Recorder::default(),
        )
        .await
        .unwrap();
        assert_eq!(out.observations["basic_accepted"], false);
    }

    async fn login_step(step_text: &str, port: u16, rec: &Recorder) -> Result<ActionOutput, ActionError> {
        let profile = profile();
        let target = target(port);
        let credentials = BTreeMap::from([(
            "d".to_owned(),
            vec![
                ("root".to_owned(), "xmhdipc".to_owned()),
                ("admin".to_owned(), PASSWORD.to_owned()),
            ],
        )]);
        let paths = BTreeMap::new();
        let limits = Limits {
            io_timeout: std::time::Duration::from_millis(800),
            ..Limits::default()
        };
        let ctx = context(limits, &profile, &target, &credentials, &paths);
        let hopquy_case::StepAction::Login(login) =
            step(&format!("id = 'l'\naction = 'login'\nsurface = 'rtsp'\n{step_text}"))
        else {
            panic!("not a login step: {step_text}");
        };
        crate::actions::login::login(&login, &ctx, &json!({}), rec).await
    }

    #[tokio::test]
    async fn an_rtsp_dictionary_runs_on_the_path_that_demands_a_password() {
        let port = basic_only_server().await;
        let rec = Recorder::default();
        let obs = login_step("credentials = 'dictionary:d'", port, &rec)
            .await
            .unwrap()
            .observations;
        assert_eq!(obs["reachable"], true);
        assert_eq!(obs["route"], "/live", "the first profile path refused anonymously");
        assert_eq!(
            obs["auth_used"],
            json!(["basic"]),
            "Basic only because nothing else is offered"
        );
        assert_eq!(obs["accepted_credentials"], json!(["admin:[REDACTED]"]));
        assert_eq!(obs["rejected"], 1);
        assert_eq!(obs["statuses"], json!([401, 200]));
        let recorded = serde_json::to_string(&rec.drain()).unwrap();
        assert!(
            recorded.contains(&basic("root", "xmhdipc")),
            "public pairs are evidence"
        );
        assert!(!recorded.contains(PASSWORD) && !recorded.contains(&basic("admin", PASSWORD)));

        // No credential sent is no rejection.
        let obs = login_step("credentials = 'none'", port, &Recorder::default())
            .await
            .unwrap()
            .observations;
        assert_eq!((obs["unknown"].clone(), obs["rejected"].clone()), (json!(1), json!(0)));
    }

    #[tokio::test]
    async fn no_rtsp_service_or_no_protected_path_tries_nothing() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let obs = login_step("credentials = 'target'", closed, &Recorder::default())
            .await
            .unwrap()
            .observations;
        assert_eq!(obs["reachable"], false);
        assert_eq!(obs["attempts"], 0);
        let port = basic_only_server().await;
        let obs = login_step(
            "credentials = 'target'\npaths = ['/nothing-here']",
            port,
            &Recorder::default(),
        )
        .await
        .unwrap()
        .observations;
        // The only candidate answers 401 anonymously: it is the route (existence is only
        // known once a credential passed, and then it answers 404, read as accepted).
        assert_eq!(obs["route"], "/nothing-here");
        assert_eq!(obs["accepted"], 1);
    }

    #[test]
    fn path_lists_resolve_and_bad_ones_are_definition_errors() {
        let profile = profile();
        let target = target(554);
        let credentials = BTreeMap::new();
        let dictionaries = BTreeMap::from([("cams".to_owned(), vec!["/a".to_owned(), "/live".to_owned()])]);
        let ctx = context(Limits::default(), &profile, &target, &credentials, &dictionaries);
        let from = |value: Value| {
            let value: toml::Value = serde_json::from_value(value).unwrap();
            RtspPaths::from_value(&value)
        };
        assert_eq!(
            paths(None, &json!({}), &ctx).unwrap(),
            ["/live", "/sub"],
            "no rtsp-paths dictionary loaded: profile only"
        );
        assert_eq!(
            paths(from(json!("dictionary:cams")).as_ref(), &json!({}), &ctx).unwrap(),
            ["/a", "/live"]
        );
        assert_eq!(
            paths(
                from(json!(["/x", "profile", "dictionary:cams"])).as_ref(),
                &json!({}),
                &ctx
            )
            .unwrap(),
            ["/x", "/live", "/sub", "/a"]
        );
        assert_eq!(
            paths(from(json!(["/ch/${n}"])).as_ref(), &json!({"n": 2}), &ctx).unwrap(),
            ["/ch/2"]
        );
        assert!(matches!(
            paths(from(json!("dictionary:nope")).as_ref(), &json!({}), &ctx),
            Err(ActionError::Definition(_))
        ));
        // Values that are no path list never make a step.
        for bad in [json!("relative"), json!([1]), json!(5)] {
            assert_eq!(from(bad.clone()), None, "{bad}");
        }
        let dictionary_step =
            toml::from_str::<hopquy_case::Step>("id = 'r'\naction = 'rtsp'\ncredentials = 'dictionary:x'");
        assert!(dictionary_step.is_err(), "an rtsp step takes one credential");
        let target_cred = one_credential(CredentialKind::Target, &ctx).unwrap();
        assert!(target_cred.secret && target_cred.username == "admin");
    }
}
