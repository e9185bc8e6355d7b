//! `ssh` action over the SSH audit probe: banner, offered algorithms, weak ones,
//! authentication methods and, when `credentials` is given, password logins.

use hopquy_case::Step;
use hopquy_probe::ssh::{self, SshOptions};
use hopquy_probe::{Credential, ProbeError, Recorder};
use serde_json::{Value, json};

use super::{ActionError, ActionOutput, RunContext, credential_set, opt};

/// Dictionary checks need a few hundred pairs; more is a definition error, not a test.
const MAX_CREDENTIALS: usize = 1000;

pub async fn run(step: &Step, ctx: &RunContext<'_>, tctx: &Value, rec: &Recorder) -> Result<ActionOutput, ActionError> {
    let port_value = opt(&step.port, tctx)?;
    let (_, port) = ctx.resolve_port(port_value.as_ref(), "ssh")?;
    let mut opts = options(step, tctx)?;
    opts.credentials = credentials(step, ctx)?;
    let observations = match ssh::audit(&ctx.device, port, &opts, rec).await {
        Ok(audit) => audit.observations(),
        // No SSH service is an observation (often the compliant one), not a failure to observe.
        Err(ProbeError::Refused(_)) => json!({ "reachable": false }),
        Err(e) => return Err(e.into()),
    };
    Ok(ActionOutput {
        observations,
        ..Default::default()
    })
}

/// `options`: `user` (for the `none` request that lists the methods), `fresh_connection`
/// and `stop_on_accept` (booleans). Unknown keys are refused so a typo is not ignored.
fn options(step: &Step, tctx: &Value) -> Result<SshOptions, ActionError> {
    let mut opts = SshOptions::default();
    for (key, raw) in step.options.iter().flatten() {
        let value = crate::template::resolve(raw, tctx)?;
        let flag = || {
            value
                .as_bool()
                .ok_or_else(|| ActionError::Definition(format!("`options.{key}` must be true or false, not {value}")))
        };
        match key.as_str() {
            "user" => {
                let user = value.as_str().filter(|u| !u.is_empty()).ok_or_else(|| {
                    ActionError::Definition(format!("`options.user` must be a user name, not {value}"))
                })?;
                opts.probe_user = Some(user.to_owned());
            }
            "fresh_connection" => opts.fresh_connection = flag()?,
            "stop_on_accept" => opts.stop_on_accept = flag()?,
            other => {
                return Err(ActionError::Definition(format!(
                    "unknown `options.{other}` for ssh; known: user, fresh_connection, stop_on_accept"
                )));
            }
        }
    }
    Ok(opts)
}

/// The credential set to try; none when `credentials` is absent or `none`.
fn credentials(step: &Step, ctx: &RunContext<'_>) -> Result<Vec<Credential>, ActionError> {
    let Some(name) = step.credentials.as_ref().map(|s| s.get_ref().as_str()) else {
        return Ok(Vec::new());
    };
    let set: Vec<Credential> = credential_set(step, ctx, name)?.into_iter().flatten().collect();
    if set.len() > MAX_CREDENTIALS {
        return Err(ActionError::Definition(format!(
            "{} credentials exceed the bound of {MAX_CREDENTIALS}",
            set.len()
        )));
    }
    Ok(set)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use hopquy_case::ProfileFile;
    use hopquy_probe::ssh::kexinit::{KexInit, encode_kexinit, encode_packet};
    use hopquy_probe::{Device, Limits, Redactor};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::actions::test_support::NoOperator;
    use crate::run::Target;

    fn target(port: u16) -> Target {
        Target {
            device: Default::default(),
            host: "127.0.0.1".into(),
            username: "admin".into(),
            password: "Target-Secret-9".into(),
            ports: BTreeMap::from([("ssh".to_owned(), port)]),
            declared: Value::Null,
            limits: Limits::default(),
        }
    }

    fn step(text: &str) -> Step {
        toml::from_str(text).unwrap()
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
        let ctx = RunContext::new(
            Device::new("127.0.0.1", limits),
            &profile,
            &target,
            &credentials,
            &paths,
            Arc::new(NoOperator),
            Arc::new(Redactor::new()),
            false,
        );
        run(&step(step_text), &ctx, &serde_json::json!({}), &Recorder::default()).await
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
        let out = execute("id = 's'\naction = 'ssh'\ncredentials = 'dictionary:defaults'", port)
            .await
            .unwrap();
        let obs = out.observations;
        assert_eq!(obs["reachable"], true);
        assert_eq!(obs["banner"], "SSH-2.0-dropbear_2014.63");
        assert_eq!(obs["kex"], json!(["diffie-hellman-group1-sha1"]));
        assert_eq!(obs["host_key"], json!(["ssh-rsa"]));
        assert_eq!(
            obs["weak"],
            json!(["diffie-hellman-group1-sha1", "ssh-rsa", "aes128-cbc", "hmac-md5"])
        );
        // russh speaks no hmac-md5, so no session: the login outcome is unknown, not rejected.
        assert_eq!(obs["login"], "unknown");
        assert!(obs["session_error"].as_str().unwrap().contains("Mac"));
    }

    #[test]
    fn options_and_credential_sets_are_checked() {
        let opts = options(
            &step("id = 's'\naction = 'ssh'\noptions = { user = 'root', fresh_connection = true }"),
            &json!({}),
        )
        .unwrap();
        assert_eq!(opts.probe_user.as_deref(), Some("root"));
        assert!(opts.fresh_connection && !opts.stop_on_accept);
        for bad in [
            "options = { colour = 'red' }",
            "options = { stop_on_accept = 'yes' }",
            "options = { user = '' }",
        ] {
            let result = options(&step(&format!("id = 's'\naction = 'ssh'\n{bad}")), &json!({}));
            assert!(matches!(result, Err(ActionError::Definition(_))), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_target_password_in_a_dictionary_stays_secret() {
        let profile = ProfileFile::default();
        let target = target(22);
        let dictionaries = BTreeMap::from([(
            "d".to_owned(),
            vec![
                ("root".to_owned(), "12345".to_owned()),
                ("admin".to_owned(), "Target-Secret-9".to_owned()),
            ],
        )]);
        let paths = BTreeMap::new();
        let ctx = RunContext::new(
            Device::new("127.0.0.1", Limits::default()),
            &profile,
            &target,
            &dictionaries,
            &paths,
            Arc::new(NoOperator),
            Arc::new(Redactor::new()),
            false,
        );
        let set = credentials(&step("id = 's'\naction = 'ssh'\ncredentials = 'dictionary:d'"), &ctx).unwrap();
        assert_eq!(set.iter().map(|c| c.secret).collect::<Vec<_>>(), [false, true]);
        assert!(credentials(&step("id = 's'\naction = 'ssh'"), &ctx).unwrap().is_empty());
        assert!(credentials(&step("id = 's'\naction = 'ssh'\ncredentials = 'target'"), &ctx).unwrap()[0].secret);
        let missing = credentials(&step("id = 's'\naction = 'ssh'\ncredentials = 'dictionary:nope'"), &ctx);
        assert!(matches!(missing, Err(ActionError::Definition(_))));
    }
}
