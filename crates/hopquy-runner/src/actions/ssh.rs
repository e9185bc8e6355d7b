//! `ssh` action over the SSH audit probe: banner, offered algorithms, weak ones and
//! authentication methods, no password sent; and the SSH surface of `login`/`recover`, one
//! password login per fresh connection, so SSH dictionaries run on the one attempt engine
//! (pacing, control logins, stopping at the first accepted pair) like every other surface.

use std::time::Instant;

use hopquy_case::observations::SshObservations;
use hopquy_case::{LoginTarget, SshOptions as OptionKeys, SshStep};
use hopquy_probe::ssh::{self, LoginOutcome, PasswordMethod, SshOptions};
use hopquy_probe::{Credential, ProbeError, Recorder};
use serde_json::{Map, Value, json};

use super::dictionary::{Attempt, Outcome, fingerprint};
use super::{ActionError, ActionOutput, RunContext, observed_as, opt};

pub async fn run(
    step: &SshStep,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
) -> Result<ActionOutput, ActionError> {
    let port_value = opt(&step.port, tctx)?;
    let (_, port) = ctx.resolve_port(port_value.as_ref(), "ssh")?;
    let opts = options(&step.options, tctx)?;
    let observations = match ssh::audit(&ctx.device, port, &opts, rec).await {
        Ok(audit) => observed_as::<SshObservations>(audit.observations())?,
        // No SSH service is an observation (often the compliant one), not a failure to observe.
        Err(ProbeError::Refused(_)) => SshObservations {
            reachable: Some(false),
            ..Default::default()
        },
        Err(e) => return Err(e.into()),
    };
    Ok(ActionOutput::observed(observations))
}

/// `options`: `user` (for the `none` request that lists the methods). Unknown keys never
/// get here: the options struct refuses them (password logins are the `login` action with
/// `surface = "ssh"`).
fn options(keys: &OptionKeys, tctx: &Value) -> Result<SshOptions, ActionError> {
    let mut opts = SshOptions::default();
    if let Some(raw) = &keys.user {
        let value = crate::template::resolve(raw, tctx)?;
        let user = value
            .as_str()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ActionError::Definition(format!("`options.user` must be a user name, not {value}")))?;
        opts.probe_user = Some(user.to_owned());
    }
    Ok(opts)
}

/// The SSH login surface: a port whose server lists a way to log in other than `none`.
pub(super) struct LoginService {
    port: u16,
}

/// Banner and method listing for the target's user ([`ssh::audit`]):
/// `None` when the port refuses the connection (`reachable = false`), no session can be set up (`error`),
/// or the server lets the user in with `none` (`anonymous_allowed = ["none"]`). `route` is
/// the method the passwords will go out with; with no password method offered it is still
/// `password`, whose refusal is the evidence that no password login exists.
pub(super) async fn login_service(
    target: &LoginTarget,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
    map: &mut Map<String, Value>,
) -> Result<Option<LoginService>, ActionError> {
    let port_value = opt(&target.port, tctx)?;
    let (_, port) = ctx.resolve_port(port_value.as_ref(), "ssh")?;
    map.insert("port".into(), json!(port));
    let opts = SshOptions {
        probe_user: Some(ctx.target.username.clone()),
    };
    let unreachable = |map: &mut Map<String, Value>, error: String| {
        map.insert("reachable".into(), json!(false));
        map.insert("route".into(), Value::Null);
        map.insert("anonymous_allowed".into(), json!([]));
        map.insert("error".into(), json!(error));
    };
    let audit = match ssh::audit(&ctx.device, port, &opts, rec).await {
        Ok(audit) => audit,
        Err(ProbeError::Invalid(why)) => return Err(ActionError::Definition(why)),
        // Refused: no SSH service, the finding the `ssh` action also reports. A timeout or a
        // garbled banner is not proof of absence and stays an error.
        Err(e @ ProbeError::Refused(_)) => {
            unreachable(map, e.to_string());
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    map.insert("reachable".into(), json!(true));
    map.insert("banner".into(), json!(audit.hello.banner));
    map.insert("auth_methods".into(), json!(audit.auth_methods));
    map.insert(
        "password_methods_offered".into(),
        json!(audit.auth_methods.as_deref().map(ssh::password_methods_offered)),
    );
    let anonymous: Vec<&str> = if audit.none_accepted { vec!["none"] } else { vec![] };
    map.insert("anonymous_allowed".into(), json!(anonymous));
    let route = match (&audit.auth_methods, &audit.session_error) {
        (Some(methods), None) if !audit.none_accepted => Some(PasswordMethod::choose(methods).as_str()),
        _ => None,
    };
    map.insert("route".into(), json!(route));
    if let Some(e) = &audit.session_error {
        map.insert("error".into(), json!(e));
    }
    Ok(route.map(|_| LoginService { port }))
}

impl LoginService {
    /// One password login on a fresh connection ([`ssh::login_once`]). SSH has no lock
    /// signal: a locked account reads `rejected`, never `locked`.
    pub(super) async fn attempt(
        &self,
        cred: &Option<Credential>,
        ctx: &RunContext<'_>,
        rec: &Recorder,
    ) -> Result<Attempt, ActionError> {
        let Some(credential) = cred else {
            // SSH has no anonymous login to try but `none`, which discovery already asked.
            return Ok(Attempt::not_sent());
        };
        let started = Instant::now();
        let once = match ssh::login_once(&ctx.device, self.port, credential, rec).await {
            Ok(once) => once,
            Err(ProbeError::Invalid(why)) => return Err(ActionError::Definition(why)),
            Err(e) => return Err(e.into()),
        };
        let attempt = once.attempt;
        let (outcome, status) = match attempt.outcome {
            LoginOutcome::Accepted if attempt.partial_success => (Outcome::Accepted, "partial-success"),
            LoginOutcome::Accepted => (Outcome::Accepted, "success"),
            LoginOutcome::Rejected => (Outcome::Rejected, "failure"),
            LoginOutcome::Unknown => (Outcome::Unknown, "no-answer"),
        };
        let status = json!(status);
        let detail = format!(
            "{} {} {}",
            attempt.method.as_str(),
            attempt.remaining_methods.join(","),
            attempt.error.as_deref().unwrap_or_default()
        );
        Ok(Attempt {
            outcome,
            fingerprint: fingerprint(&status, detail.as_bytes()),
            status,
            elapsed_ms: started.elapsed().as_millis() as u64,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use hopquy_case::ProfileFile;
    use hopquy_probe::Limits;
    use hopquy_probe::ssh::kexinit::{KexInit, encode_kexinit, encode_packet};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::actions::test_support::context;
    use crate::run::Target;

    fn target(port: u16) -> Target {
        crate::actions::test_support::target("Target-Secret-9", &[("ssh", port)])
    }

    fn step(text: &str) -> hopquy_case::StepAction {
        crate::actions::test_support::action(text)
    }

    fn ssh_step(text: &str) -> SshStep {
        match step(text) {
            hopquy_case::StepAction::Ssh(ssh) => ssh,
            other => panic!("not an ssh step: {other:?}"),
        }
    }

    async fn execute(step_text: &str, port: u16) -> Result<ActionOutput, ActionError> {
        let profile = ProfileFile::default();
        let target = target(port);
        let credentials = BTreeMap::from([(
            "defaults".to_owned(),
            vec![
                ("root".to_owned(), "12345".to_owned()),
                ("admin".to_owned(), "Target-Secret-9".to_owned()),
            ],
        )]);
        let paths = BTreeMap::new();
        let limits = Limits {
            io_timeout: std::time::Duration::from_millis(800),
            ..Limits::default()
        };
        let ctx = context(limits, &profile, &target, &credentials, &paths);
        let (tctx, rec) = (serde_json::json!({}), Recorder::default());
        match step(step_text) {
            hopquy_case::StepAction::Login(login) => crate::actions::login::login(&login, &ctx, &tctx, &rec).await,
            hopquy_case::StepAction::Recover(recover) => {
                crate::actions::login::recover(&recover, &ctx, &tctx, &rec).await
            }
            hopquy_case::StepAction::Ssh(ssh) => run(&ssh, &ctx, &tctx, &rec).await,
            other => panic!("not an ssh, login or recover step: {other:?}"),
        }
    }

    /// Offers legacy algorithms, then ignores the client: enough for the algorithm audit.
    async fn offer_only_server() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let offer = KexInit {
            kex: vec!["diffie-hellman-group1-sha1".into()],
            host_key: vec!["ssh-rsa".into()],
            ciphers_c2s: vec!["aes128-cbc".into()],
            ciphers_s2c: vec!["aes128-cbc".into()],
            macs_c2s: vec!["hmac-md5".into()],
            macs_s2c: vec!["hmac-md5".into()],
            compression_c2s: vec!["none".into()],
            compression_s2c: vec!["none".into()],
            ..KexInit::default()
        };
        let mut hello = b"SSH-2.0-dropbear_2014.63\r\n".to_vec();
        hello.extend_from_slice(&encode_packet(&encode_kexinit(&offer, [1; 16])));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let hello = hello.clone();
                tokio::spawn(async move {
                    let _ = stream.write_all(&hello).await;
                    let mut sink = [0u8; 512];
                    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn refused_port_is_an_observation() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = execute("id = 's'\naction = 'ssh'", port).await.unwrap();
        assert_eq!(out.observations, json!({ "reachable": false }));
    }

    #[tokio::test]
    async fn observations_name_the_offer_and_its_weak_algorithms() {
        let port = offer_only_server().await;
        let out = execute("id = 's'\naction = 'ssh'", port).await.unwrap();
        let obs = out.observations;
        assert_eq!(obs["reachable"], true);
        assert_eq!(obs["banner"], "SSH-2.0-dropbear_2014.63");
        assert_eq!(obs["kex"], json!(["diffie-hellman-group1-sha1"]));
        assert_eq!(obs["host_key"], json!(["ssh-rsa"]));
        assert_eq!(
            obs["weak"],
            json!(["diffie-hellman-group1-sha1", "ssh-rsa", "aes128-cbc", "hmac-md5"])
        );
        // russh speaks no hmac-md5, so no session, and the audit says why.
        assert!(obs["session_error"].as_str().unwrap().contains("Mac"));
        assert!(obs.get("login").is_none(), "the audit sends no password: {obs}");
    }

    #[tokio::test]
    async fn an_ssh_login_surface_that_cannot_be_reached_tries_nothing() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        for action in ["login", "recover"] {
            let text = format!("id = 's'\naction = '{action}'\nsurface = 'ssh'\ncredentials = 'target'\nseconds = 0");
            let text = if action == "login" {
                text.replace("\nseconds = 0", "")
            } else {
                text.replace("\ncredentials = 'target'", "")
            };
            let obs = execute(&text, port).await.unwrap().observations;
            assert_eq!(obs["surface"], "ssh", "{action}");
            assert_eq!(obs["reachable"], false, "{action}");
            assert_eq!(obs["route"], Value::Null, "{action}");
            assert!(obs["error"].is_string(), "{action}: {obs}");
            if action == "login" {
                assert_eq!(obs["attempts"], 0);
            } else {
                assert_eq!(
                    (obs["polls"].clone(), obs["recovered"].clone()),
                    (json!(0), json!(false))
                );
            }
        }
    }

    /// A server whose session cannot be set up (no MAC in common) answers, but offers no
    /// login to try: nothing is sent, and the reason is in `error`.
    #[tokio::test]
    async fn an_ssh_login_surface_without_a_session_tries_nothing_and_says_why() {
        let port = offer_only_server().await;
        let obs = execute(
            "id = 's'\naction = 'login'\nsurface = 'ssh'\ncredentials = 'target'",
            port,
        )
        .await
        .unwrap()
        .observations;
        assert_eq!(obs["reachable"], true);
        assert_eq!(obs["banner"], "SSH-2.0-dropbear_2014.63");
        assert_eq!(obs["route"], Value::Null);
        assert_eq!(obs["attempts"], 0);
        assert!(obs["error"].as_str().unwrap().contains("Mac"), "{obs}");
    }

    #[test]
    fn credentials_on_the_audit_do_not_make_a_step() {
        // Password logins are the `login` action with `surface = "ssh"`; the audit sends none.
        let text = "id = 's'\naction = 'ssh'\ncredentials = 'dictionary:defaults'";
        assert!(toml::from_str::<hopquy_case::Step>(text).is_err());
    }

    #[test]
    fn options_are_checked() {
        let opts = options(
            &ssh_step("id = 's'\naction = 'ssh'\noptions = { user = 'root' }").options,
            &json!({}),
        )
        .unwrap();
        assert_eq!(opts.probe_user.as_deref(), Some("root"));
        let empty_user = options(
            &ssh_step("id = 's'\naction = 'ssh'\noptions = { user = '' }").options,
            &json!({}),
        );
        assert!(matches!(empty_user, Err(ActionError::Definition(_))), "{empty_user:?}");
        // An unknown option (the old login loop's too) does not make a step at all.
        for unknown in ["colour = 'red'", "stop_on_accept = true", "fresh_connection = true"] {
            let text = format!("id = 's'\naction = 'ssh'\noptions = {{ {unknown} }}");
            assert!(toml::from_str::<hopquy_case::Step>(&text).is_err(), "{unknown}");
        }
    }
}
