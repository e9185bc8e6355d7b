//! Step actions: each turns a step (resolved against the run context) into probe calls and
//! returns observations. Actions decide nothing; expectations in the case do.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use hopquy_case::observations::{Observations, WaitObservations};
use hopquy_case::{Case, Credential, CredentialSet, ProfileFile, Step, StepAction};
use hopquy_probe::{Device, ProbeError, Recorder, Redactor};
use serde_json::Value;

use crate::run::{Operator, Target};
use crate::template::{self, TemplateError};

pub(crate) mod dictionary;
mod firmware;
mod http;
mod interactive;
mod lab_net;
mod login;
mod onvif;
mod password_policy;
pub(crate) mod ports;
mod rtsp;
mod ssh;
mod telnet;
#[cfg(test)]
pub(crate) mod test_support;
mod tls;
pub mod web_surface;

/// What a step produced.
#[derive(Debug, Default)]
pub struct ActionOutput {
    /// The action's observation struct (`hopquy_case::observations`) as the evidence stores it.
    pub observations: Value,
    pub answer: Option<Value>,
    pub attachments: Vec<PathBuf>,
}

impl ActionOutput {
    pub fn observed(observations: impl Observations) -> Self {
        ActionOutput {
            observations: observations.into_value(),
            ..Default::default()
        }
    }
}

/// Observations assembled as JSON (by a probe, whose `--json` output shares the names, or
/// across the surface modules of `login`) read into the action's struct: every key must be a
/// documented field, of its declared type. The keys are fixed by the code, not by the device,
/// so a mismatch is a harness bug, reported as such (and caught by the observation tests).
pub(crate) fn observed_as<T: Observations + serde::de::DeserializeOwned>(value: Value) -> Result<T, ActionError> {
    serde_json::from_value::<T>(value.clone()).map_err(|e| {
        // serde names the type, not the key: find the key that does not fit on its own.
        let key = value.as_object().and_then(|map| {
            map.iter()
                .find(|(k, v)| {
                    let one = Value::Object([((*k).clone(), (*v).clone())].into_iter().collect());
                    serde_json::from_value::<T>(one).is_err()
                })
                .map(|(k, _)| k.clone())
        });
        ActionError::Definition(format!(
            "the observations do not match `{}`{}: {e}",
            std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("its observation struct"),
            key.map(|k| format!(" at `{k}`")).unwrap_or_default()
        ))
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("case/profile mismatch: {0}")]
    Definition(String),
    #[error("not applicable: {0}")]
    NotApplicable(String),
    #[error("no operator answer: {0}")]
    NoAnswer(String),
    /// The service a step needs was not found (closed, redirected elsewhere, TLS failed):
    /// the case cannot be decided until the target file names it.
    #[error("service not found: {0}")]
    SurfaceNotFound(String),
    #[error("action `{0}` is not available in this build")]
    Unsupported(String),
}

/// Shared, read-only state for all steps of a run.
pub struct RunContext<'a> {
    pub device: Device,
    pub profile: &'a ProfileFile,
    pub target: &'a Target,
    pub credential_dictionaries: &'a BTreeMap<String, Vec<(String, String)>>,
    pub path_dictionaries: &'a BTreeMap<String, Vec<String>>,
    pub operator: Arc<dyn Operator>,
    pub redactor: Arc<Redactor>,
    pub allow_destructive: bool,
    /// `--exhaustive`: a dictionary goes on after an accepted pair.
    pub exhaustive: bool,
    /// Each surface's lock as the `measures = "lockout"` cases so far found it; paces the
    /// credential dictionaries (never held across an await).
    pub measured: std::sync::Mutex<crate::measured::Measured>,
    /// When logins last failed, for the wait before a dictionary.
    pub failures: crate::measured::FailureLog,
    /// The profile's classifiers, compiled once for the run.
    pub classifiers: crate::classify::Classifiers,
    /// The firmware image's report, scanned once before the run (`--firmware`).
    pub firmware: Option<Arc<hopquy_firmware::FirmwareReport>>,
    /// The camera's own network (`run --lab-net`): its record so far and outage control,
    /// for the cases that judge what the camera sent. `None` without a lab network.
    pub lab_net: Option<Arc<dyn crate::LabNetControl>>,
    /// The lab's GeoIP file (`--geoip`), for the countries of addresses in the lab network's
    /// record.
    pub geoip: Option<Arc<hopquy_case::GeoIpTable>>,
    http: tokio::sync::OnceCell<Result<hopquy_probe::http::HttpProbe, ProbeError>>,
    /// The web API surface, discovered before the first web step that needs it.
    web: tokio::sync::Mutex<Option<Result<web_surface::WebSurface, String>>>,
    /// The last surface forgotten after a destructive step, kept for the report.
    forgotten_web: std::sync::Mutex<Option<web_surface::WebSurface>>,
}

impl<'a> RunContext<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        device: Device,
        profile: &'a ProfileFile,
        target: &'a Target,
        credential_dictionaries: &'a BTreeMap<String, Vec<(String, String)>>,
        path_dictionaries: &'a BTreeMap<String, Vec<String>>,
        operator: Arc<dyn Operator>,
        redactor: Arc<Redactor>,
        allow_destructive: bool,
    ) -> Self {
        RunContext {
            device,
            profile,
            target,
            credential_dictionaries,
            path_dictionaries,
            operator,
            redactor,
            allow_destructive,
            exhaustive: false,
            measured: Default::default(),
            failures: Default::default(),
            classifiers: crate::classify::Classifiers::of_profile(profile),
            firmware: None,
            lab_net: None,
            geoip: None,
            http: tokio::sync::OnceCell::new(),
            web: tokio::sync::Mutex::new(None),
            forgotten_web: std::sync::Mutex::new(None),
        }
    }

    /// The web API surface of the device: discovered on the first call (its exchanges go to
    /// `rec`, the step that needed it), the same answer afterwards until
    /// [`RunContext::forget_web_surface`].
    pub async fn web_surface(&self, rec: &Recorder) -> Result<web_surface::WebSurface, ActionError> {
        // Held across the survey, so two steps never discover at once.
        let mut slot = self.web.lock().await;
        if slot.is_none() {
            *slot = Some(web_surface::survey(self, rec, false).await?.chosen);
        }
        match slot.as_ref() {
            Some(Ok(surface)) => Ok(surface.clone()),
            Some(Err(why)) => Err(ActionError::SurfaceNotFound(why.clone())),
            None => Err(ActionError::SurfaceNotFound(
                "the web surface was not discovered".into(),
            )),
        }
    }

    /// The surface chosen last, if a web step ran (also after it was forgotten, for the report).
    pub fn discovered_web_surface(&self) -> Option<web_surface::WebSurface> {
        let current = self
            .web
            .try_lock()
            .ok()
            .and_then(|slot| slot.as_ref().and_then(|r| r.as_ref().ok()).cloned());
        current.or_else(|| self.forgotten_web.lock().ok().and_then(|f| f.clone()))
    }

    /// After a step that may legitimately change the web side of the device (a factory reset
    /// or firmware update a person performed: a camera regenerates its self-signed certificate
    /// and may turn plain HTTP back on), the surface is found, and the certificate pinned, anew
    /// by the next web step. Returns whether a surface was known.
    pub async fn forget_web_surface(&self) -> bool {
        self.device.forget_certificate_pin();
        let Some(previous) = self.web.lock().await.take() else {
            return false;
        };
        if let (Ok(surface), Ok(mut forgotten)) = (previous, self.forgotten_web.lock()) {
            *forgotten = Some(surface);
        }
        true
    }

    /// Where a web step goes: the port it names itself (HTTPS by name or 443), else the
    /// discovered web surface.
    pub async fn web_endpoint(
        &self,
        port_value: Option<&Value>,
        rec: &Recorder,
    ) -> Result<(hopquy_probe::http::Scheme, u16), ActionError> {
        use hopquy_probe::http::Scheme;
        match port_value {
            Some(value) => {
                let (name, port) = self.resolve_port(Some(value), "http")?;
                let scheme = if name.starts_with("https") || port == 443 {
                    Scheme::Https
                } else {
                    Scheme::Http
                };
                Ok((scheme, port))
            }
            None => {
                let surface = self.web_surface(rec).await?;
                Ok((surface.scheme, surface.port))
            }
        }
    }

    pub async fn http(&self) -> Result<&hopquy_probe::http::HttpProbe, ActionError> {
        let probe = self
            .http
            .get_or_init(|| async { hopquy_probe::http::HttpProbe::new(self.device.clone()) })
            .await;
        probe.as_ref().map_err(|e| ActionError::Probe(e.clone()))
    }

    /// A named port: the target file's override, else the profile's binding.
    pub fn port(&self, name: &str) -> Option<u16> {
        self.target
            .ports
            .get(name)
            .or_else(|| self.profile.ports.get(name))
            .copied()
    }

    /// Resolve a step's `port` value (a name or a number), falling back to `default_name`.
    pub fn resolve_port(&self, value: Option<&Value>, default_name: &str) -> Result<(String, u16), ActionError> {
        match value {
            Some(Value::Number(n)) => {
                let p = n
                    .as_u64()
                    .filter(|p| (1..=65535).contains(p))
                    .ok_or_else(|| ActionError::Definition(format!("port {n} is not a TCP port number")))?;
                Ok((p.to_string(), p as u16))
            }
            Some(Value::String(name)) => self.port(name).map(|p| (name.clone(), p)).ok_or_else(|| {
                ActionError::NotApplicable(format!("neither the target nor the profile binds a `{name}` port"))
            }),
            Some(other) => Err(ActionError::Definition(format!(
                "port must be a name or a number, not {other}"
            ))),
            None => self
                .port(default_name)
                .map(|p| (default_name.to_owned(), p))
                .ok_or_else(|| {
                    ActionError::NotApplicable(format!(
                        "neither the target nor the profile binds a `{default_name}` port"
                    ))
                }),
        }
    }
}

/// A step's credential set: `none` (one anonymous attempt), `target` (the lab's account,
/// secret), `wrong-password`, `unknown-user` (random, public) or `dictionary:<stem>` (public
/// pairs from test-cases/data). One resolver for every protocol, so a set means the same on
/// HTTP, RTSP, SSH and ONVIF.
pub fn credential_set(
    set: &CredentialSet,
    ctx: &RunContext<'_>,
) -> Result<Vec<Option<hopquy_probe::Credential>>, ActionError> {
    use hopquy_probe::Credential as Sent;
    Ok(match set {
        CredentialSet::One(credential) => vec![one_credential(*credential, ctx)],
        CredentialSet::Dictionary(stem) => {
            let entries = ctx.credential_dictionaries.get(stem).ok_or_else(|| {
                ActionError::Definition(format!("no credential dictionary `{stem}` in test-cases/data"))
            })?;
            entries
                .iter()
                .map(|(u, p)| {
                    // The lab's real password may happen to be in a public dictionary; it stays secret.
                    let secret = u == &ctx.target.username && p == &ctx.target.password;
                    Some(Sent {
                        username: u.clone(),
                        password: p.clone(),
                        secret,
                    })
                })
                .collect()
        }
        CredentialSet::FactoryDefault => {
            let pairs = ctx.profile.factory_default.as_deref().unwrap_or_default();
            if pairs.is_empty() {
                return Err(ActionError::NotApplicable(format!(
                    "the profile `{}` documents no factory default account (no `factory_default`)",
                    ctx.profile.name
                )));
            }
            pairs
                .iter()
                .take(hopquy_case::MAX_FACTORY_DEFAULTS)
                .map(|pair| {
                    // The lab's own account may still have its factory password: it stays secret.
                    let secret = pair.user == ctx.target.username && pair.password == ctx.target.password;
                    Some(Sent {
                        username: pair.user.clone(),
                        password: pair.password.clone(),
                        secret,
                    })
                })
                .collect()
        }
    })
}

/// One credential (actions that take one, not a dictionary); `None` is an anonymous attempt.
pub fn one_credential(credential: Credential, ctx: &RunContext<'_>) -> Option<hopquy_probe::Credential> {
    let public = |u: &str, p: &str| {
        Some(hopquy_probe::Credential {
            username: u.to_owned(),
            password: p.to_owned(),
            secret: false,
        })
    };
    match credential {
        Credential::None => None,
        Credential::Target => Some(crate::run::target_credential(ctx.target)),
        Credential::WrongPassword => public(&ctx.target.username, &random_token("hq-wrong-")),
        Credential::UnknownUser => public(&random_token("hq-nouser-"), &random_token("hq-wrong-")),
    }
}

/// How a credential appears in evidence: the target's password never does.
pub fn credential_label(credential: &Option<hopquy_probe::Credential>) -> String {
    match credential {
        None => "anonymous".into(),
        Some(c) if c.secret => format!("{}:[REDACTED]", c.username),
        Some(c) => format!("{}:{}", c.username, c.password),
    }
}

/// A random, recognisable value for wrong passwords and unknown user names.
pub fn random_token(prefix: &str) -> String {
    let n: u64 = rand::random();
    format!("{prefix}{n:016x}")
}

/// Resolve an optional templated value.
pub fn opt(v: &Option<toml::Value>, ctx: &Value) -> Result<Option<Value>, TemplateError> {
    v.as_ref().map(|v| template::resolve(v, ctx)).transpose()
}

pub fn opt_u64(v: &Option<toml::Value>, ctx: &Value, what: &str) -> Result<Option<u64>, ActionError> {
    match v {
        Some(v) => value_u64(v, ctx, what),
        None => Ok(None),
    }
}

/// Resolve a templated value that must be a non-negative integer (`null` is none).
pub fn value_u64(v: &toml::Value, ctx: &Value, what: &str) -> Result<Option<u64>, ActionError> {
    match template::resolve(v, ctx)? {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| ActionError::Definition(format!("`{what}` must be a non-negative integer, got {n}"))),
        Value::String(s) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| ActionError::Definition(format!("`{what}` must be a non-negative integer, got {s:?}"))),
        other => Err(ActionError::Definition(format!(
            "`{what}` must be a non-negative integer, got {other}"
        ))),
    }
}

pub async fn execute(
    step: &Step,
    case: &Case,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
) -> Result<ActionOutput, ActionError> {
    match step.action.get_ref() {
        StepAction::Http(http) => http::http(http, ctx, tctx, rec).await,
        StepAction::Login(login) => login::login(login, ctx, tctx, rec).await,
        StepAction::Recover(recover) => login::recover(recover, ctx, tctx, rec).await,
        StepAction::Onvif(onvif) => onvif::run(onvif, ctx, tctx, rec).await,
        StepAction::Ssh(ssh) => ssh::run(ssh, ctx, tctx, rec).await,
        StepAction::Rtsp(rtsp) => rtsp::run(rtsp, ctx, tctx, rec).await,
        StepAction::Telnet(telnet) => telnet::run(telnet, ctx, tctx, rec).await,
        StepAction::Tls(tls) => tls::run(tls, ctx, tctx, rec).await,
        StepAction::Wait(wait) => {
            let secs = value_u64(&wait.seconds, tctx, "seconds")?.unwrap_or(0);
            // Waits exist to let a lockout expire; an absurd value is a definition error,
            // not a reason to hang a lab's run for hours.
            if secs > 3600 {
                return Err(ActionError::Definition(format!(
                    "wait of {secs} s exceeds the 3600 s bound"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
            Ok(ActionOutput::observed(WaitObservations {
                waited_s: Some(secs as f64),
            }))
        }
        StepAction::Ports(ports) => ports::run(ports, ctx, tctx, rec).await,
        StepAction::PasswordPolicy(policy) => password_policy::run(policy, ctx, tctx, rec).await,
        StepAction::WebSurface(_) => web_surface::run(ctx, rec).await,
        StepAction::Firmware(_) => firmware::run(ctx.firmware.as_deref()),
        StepAction::LabNet(step) => lab_net::run(step, ctx, tctx).await,
        StepAction::Operator(_) | StepAction::Document(_) => interactive::ask(step, case, ctx).await,
    }
}
