//! `rtsp` action over the RTSP probe: authentication schemes offered, stream routes found
//! with and without credentials, open routes, Basic in clear, any-path acceptance; and the
//! RTSP surface of `login`/`recover`.

use std::sync::Mutex;

use hopquy_case::{Classifier, Step};
use hopquy_probe::rtsp::{self, RtspProbeRequest};
use hopquy_probe::{Credential, ProbeError, Recorder};
use serde_json::{Map, Value, json};

use super::dictionary::{Attempt, Outcome, classifier_matches, fingerprint};
use super::{ActionError, ActionOutput, RunContext, credential_label, opt, single_credential};

/// The path dictionary used, after the profile's paths, when a step names none.
pub const DEFAULT_DICTIONARY: &str = "rtsp-paths";
/// A step asking for more paths than this is a definition error, not a test.
const MAX_PATHS: usize = 1000;

pub async fn run(step: &Step, ctx: &RunContext<'_>, tctx: &Value, rec: &Recorder) -> Result<ActionOutput, ActionError> {
    let port_value = opt(&step.port, tctx)?;
    let (_, port) = ctx.resolve_port(port_value.as_ref(), "rtsp")?;
    let paths = paths(opt(&step.paths, tctx)?.as_ref(), ctx)?;
    let credential = single_credential(step, ctx, "target", "rtsp")?;
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
    Ok(ActionOutput {
        observations,
        ..Default::default()
    })
}

/// The RTSP login surface: a stream path that refused an anonymous DESCRIBE.
pub(super) struct LoginRoute {
    port: u16,
    path: String,
    locked: Option<Classifier>,
    auth_used: Mutex<Vec<String>>,
}

/// Find the route to log in on: an anonymous discovery over the candidate paths (no
/// credential is sent, so a locked account does not change the answer), then the first
/// path answered 401. `None` when the port is closed or no path demands authentication;
/// `map` gets `reachable`, `route` and `anonymous_allowed` either way.
pub(super) async fn login_route(
    step: &Step,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
    map: &mut Map<String, Value>,
) -> Result<Option<LoginRoute>, ActionError> {
    let (_, port) = ctx.resolve_port(opt(&step.port, tctx)?.as_ref(), "rtsp")?;
    let request = RtspProbeRequest {
        port,
        paths: paths(opt(&step.paths, tctx)?.as_ref(), ctx)?,
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
        locked: ctx.profile.rtsp.as_ref().and_then(|r| r.locked.clone()),
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
        let outcome = if self
            .locked
            .as_ref()
            .is_some_and(|c| classifier_matches(c, response.status, &response.body))
        {
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
fn paths(value: Option<&Value>, ctx: &RunContext<'_>) -> Result<Vec<String>, ActionError> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |items: &[String]| {
        for p in items {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
    };
    let profile_paths = || ctx.profile.rtsp.as_ref().map(|r| r.paths.clone()).unwrap_or_default();
    let dictionary = |stem: &str| {
        ctx.path_dictionaries
            .get(stem)
            .cloned()
            .ok_or_else(|| ActionError::Definition(format!("no path dictionary `{stem}` in test-cases/data")))
    };
    let item = |text: &str| -> Result<Vec<String>, ActionError> {
        if text == "profile" {
            Ok(profile_paths())
        } else if let Some(stem) = text.strip_prefix("dictionary:") {
            dictionary(stem)
        } else if text.starts_with('/') {
            Ok(vec![text.to_owned()])
        } else {
            Err(ActionError::Definition(format!(
                "RTSP path `{text}` must start with `/` (or be `profile` or `dictionary:<stem>`)"
            )))
        }
    };
    match value {
        None | Some(Value::Null) => {
            add(&profile_paths());
            if let Some(entries) = ctx.path_dictionaries.get(DEFAULT_DICTIONARY) {
                add(entries);
            }
        }
        Some(Value::String(text)) => add(&item(text)?),
        Some(Value::Array(list)) => {
            for entry in list {
                let text = entry
                    .as_str()
                    .ok_or_else(|| ActionError::Definition(format!("`paths` entries must be strings, not {entry}")))?;
                add(&item(text)?);
            }
        }
        Some(other) => {
            return Err(ActionError::Definition(format!(
                "`paths` must be a list, `profile` or `dictionary:<stem>`, not {other}"
            )));
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

    fn step(text: &str) -> Step {
        toml::from_str(text).unwrap()
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
        run(&step(step_text), &ctx, &json!({}), rec).await
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
        let step = step(&format!("id = 'l'\naction = 'login'\nsurface = 'rtsp'\n{step_text}"));
        crate::actions::login::login(&step, &ctx, &json!({}), rec).await
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
        assert_eq!(
            paths(None, &ctx).unwrap(),
            ["/live", "/sub"],
            "no rtsp-paths dictionary loaded: profile only"
        );
        assert_eq!(paths(Some(&json!("dictionary:cams")), &ctx).unwrap(), ["/a", "/live"]);
        assert_eq!(
            paths(Some(&json!(["/x", "profile", "dictionary:cams"])), &ctx).unwrap(),
            ["/x", "/live", "/sub", "/a"]
        );
        for bad in [json!("dictionary:nope"), json!("relative"), json!([1]), json!(5)] {
            assert!(
                matches!(paths(Some(&bad), &ctx), Err(ActionError::Definition(_))),
                "{bad}"
            );
        }
        let dictionary_step = step("id = 'r'\naction = 'rtsp'\ncredentials = 'dictionary:x'");
        assert!(matches!(
            single_credential(&dictionary_step, &ctx, "target", "rtsp"),
            Err(ActionError::Definition(_))
        ));
        let target_cred = single_credential(&step("id = 'r'\naction = 'rtsp'"), &ctx, "target", "rtsp")
            .unwrap()
            .unwrap();
        assert!(target_cred.secret && target_cred.username == "admin");
    }
}
