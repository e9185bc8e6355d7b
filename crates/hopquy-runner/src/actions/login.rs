//! `login` and `recover`: credential attempts on one authentication surface — the profile's
//! HTTP login operation, an RTSP stream path, an ONVIF operation, the Telnet login prompt or
//! an SSH password login — all through the one engine in [`super::dictionary`].
//!
//! Each surface first finds what to log in to without sending a credential (RTSP: a stream
//! path that refuses an anonymous DESCRIBE; ONVIF: an operation that refuses an anonymous
//! call; Telnet: an answering port; SSH: the banner and the methods listed for the target's
//! user). A surface with nothing that demands authentication
//! tries nothing and says so in `route`/`reachable`, so a case can call that inconclusive
//! or not applicable instead of reading zero acceptances as a pass.

use hopquy_case::{LoginStep, LoginSurface, LoginTarget, RecoverStep};
use hopquy_probe::http::AuthMode;
use hopquy_probe::{Credential, Recorder};
use serde_json::{Map, Value, json};

use super::dictionary::{self, Attempt, Outcome, Plan, fingerprint};
use super::http::{Prepared, RequestKeys, classify, prepare, send_one, web_surface_observation};
use super::{ActionError, ActionOutput, RunContext, observed_as, onvif, opt_u64, rtsp, ssh, telnet};
use crate::run::target_credential;
use hopquy_case::observations::{LoginObservations, RecoverObservations};

/// Where `login` and `recover` authenticate.
enum Surface {
    Http(Prepared),
    Rtsp(rtsp::LoginRoute),
    Onvif(onvif::LoginCall),
    Telnet(telnet::LoginPort),
    Ssh(ssh::LoginService),
}

impl Surface {
    async fn attempt(
        &self,
        cred: &Option<Credential>,
        fresh: bool,
        ctx: &RunContext<'_>,
        rec: &Recorder,
    ) -> Result<Attempt, ActionError> {
        match self {
            Surface::Http(p) => {
                let resp = send_one(p, cred, fresh, ctx, rec).await?;
                let status = json!(resp.status);
                Ok(Attempt {
                    outcome: classify(p, &resp, ctx),
                    fingerprint: fingerprint(&status, &resp.body),
                    status,
                    elapsed_ms: resp.elapsed_ms,
                })
            }
            Surface::Rtsp(route) => route.attempt(cred, ctx, rec).await,
            Surface::Onvif(call) => call.attempt(cred, rec).await,
            Surface::Telnet(port) => port.attempt(cred, ctx, rec).await,
            Surface::Ssh(service) => service.attempt(cred, ctx, rec).await,
        }
    }

    /// Observations only this surface has (schemes used), after the attempts.
    fn finish(&self, map: &mut Map<String, Value>) {
        let used = match self {
            Surface::Rtsp(route) => route.auth_used(),
            Surface::Onvif(call) => call.auth_used(),
            Surface::Http(_) | Surface::Telnet(_) | Surface::Ssh(_) => return,
        };
        map.insert("auth_used".into(), json!(used));
    }
}

/// Find what to log in to. `None` when nothing can be tried; the map says why
/// (`reachable`, `route`, `anonymous_allowed`) either way.
async fn discover(
    target: &LoginTarget,
    ctx: &RunContext<'_>,
    tctx: &Value,
    fresh: bool,
    rec: &Recorder,
) -> Result<(Option<Surface>, Map<String, Value>), ActionError> {
    let on = target.surface();
    let mut map = Map::new();
    map.insert("surface".into(), json!(on.as_str()));
    let surface = match on {
        LoginSurface::Http => {
            let mut p = prepare_http(target, ctx, tctx, rec).await?;
            if matches!(p.auth, AuthMode::None) {
                p.auth = AuthMode::Any;
            }
            map.insert("web_surface".into(), json!(web_surface_observation(ctx, &p)));
            map.insert("reachable".into(), json!(true));
            map.insert(
                "route".into(),
                json!(p.op_name.clone().unwrap_or_else(|| p.path.clone())),
            );
            Some(Surface::Http(p))
        }
        LoginSurface::Rtsp => rtsp::login_route(target, ctx, tctx, rec, &mut map)
            .await?
            .map(Surface::Rtsp),
        LoginSurface::Onvif => onvif::login_call(target, ctx, tctx, fresh, rec, &mut map)
            .await?
            .map(Surface::Onvif),
        LoginSurface::Telnet => telnet::login_port(target, ctx, tctx, rec, &mut map)
            .await?
            .map(Surface::Telnet),
        LoginSurface::Ssh => ssh::login_service(target, ctx, tctx, rec, &mut map)
            .await?
            .map(Surface::Ssh),
    };
    Ok((surface, map))
}

/// Login attempts over a credential set (× repeat): counts and outcomes.
pub async fn login(
    step: &LoginStep,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
) -> Result<ActionOutput, ActionError> {
    // Everything about the step is checked before the surface is probed.
    let plan = Plan::from_step(step, ctx, tctx)?;
    let fresh = plan.fresh_connection;
    let (surface, found) = discover(&step.target, ctx, tctx, fresh, rec).await?;
    let mut observations = match &surface {
        Some(surface) => {
            let target = Some(target_credential(ctx.target));
            let target = &target;
            dictionary::run(
                plan,
                &ctx.target.username,
                &ctx.failures,
                |cred| Box::pin(async move { surface.attempt(&cred, fresh, ctx, rec).await }),
                || Box::pin(async move { Ok(surface.attempt(target, fresh, ctx, rec).await?.outcome) }),
            )
            .await?
        }
        None => dictionary::nothing_tried(),
    };
    if let Value::Object(map) = &mut observations {
        map.extend(found);
        if let Some(surface) = &surface {
            surface.finish(map);
        }
    }
    Ok(ActionOutput::observed(observed_as::<LoginObservations>(observations)?))
}

/// The HTTP surface: the step's profile operation, `login-check` when it names none.
async fn prepare_http(
    target: &LoginTarget,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
) -> Result<Prepared, ActionError> {
    let keys = RequestKeys {
        op: Some(target.op.as_ref().map_or("login-check", |op| op.get_ref().as_str())),
        port: target.port.as_ref(),
        auth: target.http_auth(),
        ..RequestKeys::default()
    };
    prepare(&keys, ctx, tctx, rec).await
}

/// Poll the login with the target's credentials until it is accepted again (a lockout
/// expired) or `seconds` + 30 s pass. Lets a lock-triggering case hand the device back in
/// the state it found it, without waiting the full declared duration when it is shorter.
/// The lock is waited out on the surface that was locked: a camera may keep one per service.
pub async fn recover(
    step: &RecoverStep,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
) -> Result<ActionOutput, ActionError> {
    let seconds = opt_u64(&step.seconds, tctx, "seconds")?.unwrap_or(300);
    if seconds > 3600 {
        return Err(ActionError::Definition(format!(
            "recover timeout of {seconds} s exceeds the 3600 s bound"
        )));
    }
    let interval = opt_u64(&step.interval_ms, tctx, "interval_ms")?
        .unwrap_or(1000)
        .max(200);
    let (surface, found) = discover(&step.target, ctx, tctx, true, rec).await?;
    let deadline = std::time::Duration::from_secs(seconds + 30);
    let target = Some(target_credential(ctx.target));
    let started = std::time::Instant::now();
    let mut polls = 0usize;
    let mut recovered = false;
    let mut last_status = Value::Null;
    if let Some(surface) = &surface {
        while started.elapsed() < deadline {
            polls += 1;
            match surface.attempt(&target, true, ctx, rec).await {
                Ok(answer) => {
                    last_status = answer.status;
                    if answer.outcome == Outcome::Accepted {
                        recovered = true;
                        break;
                    }
                }
                // A device busy recovering may drop a connection; keep polling until the deadline.
                Err(e) => last_status = json!(e.to_string()),
            }
            tokio::time::sleep(std::time::Duration::from_millis(interval)).await;
        }
    }
    let mut observations = json!({
        "recovered": recovered,
        "polls": polls,
        "waited_ms": started.elapsed().as_millis() as u64,
        "last_status": last_status,
    });
    if let Value::Object(map) = &mut observations {
        map.extend(found);
    }
    Ok(ActionOutput::observed(observed_as::<RecoverObservations>(
        observations,
    )?))
}
