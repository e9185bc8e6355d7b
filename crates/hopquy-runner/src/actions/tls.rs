//! `tls` action over the TLS audit probe: accepted protocol versions and cipher suites,
//! weak suites, and the certificate.

use hopquy_case::observations::TlsObservations;
use hopquy_case::{TlsOptions, TlsStep};
use hopquy_probe::tls::{self, TlsAuditOptions, TlsVersion};
use hopquy_probe::{ProbeError, Recorder};
use serde_json::Value;

use super::{ActionError, ActionOutput, RunContext, observed_as, opt};

/// Hellos in flight at once; the target's connection cap bounds it further.
const MAX_CONCURRENCY: u64 = 64;

pub async fn run(
    step: &TlsStep,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
) -> Result<ActionOutput, ActionError> {
    let port_value = opt(&step.port, tctx)?;
    let (_, port) = ctx.resolve_port(port_value.as_ref(), "https")?;
    let options = options(&step.options, tctx)?;
    let observations = match tls::audit(&ctx.device, port, &options, rec).await {
        Ok(audit) => observed_as::<TlsObservations>(audit.observations())?,
        // A camera without HTTPS is a finding for the case, not a failure to observe.
        Err(ProbeError::Refused(_)) => TlsObservations {
            reachable: Some(false),
            ..Default::default()
        },
        Err(e) => return Err(e.into()),
    };
    Ok(ActionOutput::observed(observations))
}

/// `options`: `versions` (list of `SSLv3`…`TLSv1.3`), `concurrency` (1–64), `certificate`
/// (bool), `sni` (server name). Unknown keys never get here: the options struct refuses them.
fn options(options: &TlsOptions, tctx: &Value) -> Result<TlsAuditOptions, ActionError> {
    let mut opts = TlsAuditOptions::default();
    let resolve = |raw: &Option<toml::Value>| raw.as_ref().map(|raw| crate::template::resolve(raw, tctx)).transpose();
    let bad = |key: &str, what: &str, value: &Value| {
        ActionError::Definition(format!("options.{key} must be {what}, got {value}"))
    };
    if let Some(value) = resolve(&options.versions)? {
        let list = value
            .as_array()
            .ok_or_else(|| bad("versions", "a list of version names", &value))?;
        let mut versions = Vec::with_capacity(list.len());
        for item in list {
            let name = item
                .as_str()
                .ok_or_else(|| bad("versions", "a list of version names", &value))?;
            let version: TlsVersion = name
                .parse()
                .map_err(|e: ProbeError| ActionError::Definition(format!("options.versions: {e}")))?;
            versions.push(version);
        }
        if versions.is_empty() {
            return Err(bad("versions", "a non-empty list", &value));
        }
        opts.versions = versions;
    }
    if let Some(value) = resolve(&options.concurrency)? {
        let n = value
            .as_u64()
            .filter(|n| (1..=MAX_CONCURRENCY).contains(n))
            .ok_or_else(|| bad("concurrency", "an integer from 1 to 64", &value))?;
        opts.concurrency = usize::try_from(n).unwrap_or(1);
    }
    if let Some(value) = resolve(&options.certificate)? {
        opts.certificate = value
            .as_bool()
            .ok_or_else(|| bad("certificate", "true or false", &value))?;
    }
    if let Some(value) = resolve(&options.sni)? {
        let name = value
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("sni", "a server name", &value))?;
        opts.sni = Some(name.to_owned());
    }
    Ok(opts)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use hopquy_case::ProfileFile;
    use hopquy_probe::Limits;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::actions::test_support::context;

    fn step(text: &str) -> TlsStep {
        let step: hopquy_case::Step = toml::from_str(text).unwrap();
        match step.action.into_inner() {
            hopquy_case::StepAction::Tls(tls) => tls,
            other => panic!("not a tls step: {other:?}"),
        }
    }

    async fn execute(step_text: &str, https: u16, rec: &Recorder) -> Result<ActionOutput, ActionError> {
        let profile = ProfileFile::default();
        let target = crate::actions::test_support::target("Target-Secret-9", &[("https", https)]);
        let (credentials, paths) = (BTreeMap::new(), BTreeMap::new());
        let limits = Limits {
            io_timeout: std::time::Duration::from_millis(800),
            ..Limits::default()
        };
        let ctx = context(limits, &profile, &target, &credentials, &paths);
        run(&step(step_text), &ctx, &json!({}), rec).await
    }

    #[test]
    fn options_are_checked() {
        let ok = options(
            &step("id = \"t\"\naction = \"tls\"\noptions = { versions = [\"TLSv1.0\", \"tls1_2\"], concurrency = 2, certificate = false, sni = \"cam.example\" }").options,
            &json!({}),
        )
        .unwrap();
        assert_eq!(ok.versions, vec![TlsVersion::Tls10, TlsVersion::Tls12]);
        assert_eq!(
            (ok.concurrency, ok.certificate, ok.sni.as_deref()),
            (2, false, Some("cam.example"))
        );
        for bad in [
            "options = { versions = [\"TLSv2\"] }",
            "options = { versions = [] }",
            "options = { concurrency = 0 }",
            "options = { certificate = \"yes\" }",
        ] {
            let s = step(&format!("id = \"t\"\naction = \"tls\"\n{bad}"));
            assert!(
                matches!(options(&s.options, &json!({})), Err(ActionError::Definition(_))),
                "{bad}"
            );
        }
        // An unknown option does not make a step at all.
        let unknown =
            toml::from_str::<hopquy_case::Step>("id = \"t\"\naction = \"tls\"\noptions = { ciphers = [\"RC4\"] }");
        assert!(unknown.is_err());
    }

    #[tokio::test]
    async fn no_https_listener_is_an_observation() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = execute("id = \"t\"\naction = \"tls\"", port, &Recorder::default())
            .await
            .unwrap();
        assert_eq!(out.observations, json!({ "reachable": false }));
    }

    #[tokio::test]
    async fn a_tls_server_gives_the_version_table() {
        // A server that refuses every hello with handshake_failure: reachable, nothing accepted.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    let _ = s.read(&mut buf).await;
                    let _ = s.write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 40]).await;
                });
            }
        });
        let rec = Recorder::default();
        let out = execute(
            "id = \"t\"\naction = \"tls\"\noptions = { versions = [\"TLSv1.0\", \"TLSv1.2\"], certificate = false }",
            port,
            &rec,
        )
        .await
        .unwrap();
        let obs = &out.observations;
        assert_eq!(obs["reachable"], true);
        assert_eq!(obs["accepted_versions"], json!([]));
        assert_eq!(obs["versions"].as_array().map(Vec::len), Some(2));
        assert_eq!(obs["versions"][0]["version"], "TLSv1.0");
        assert_eq!(obs["versions"][1]["refused_with"], "alert handshake_failure");
        assert!(!rec.is_empty(), "the hellos are recorded");
    }

    #[tokio::test]
    async fn a_silent_port_is_an_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let result = execute(
            "id = \"t\"\naction = \"tls\"\noptions = { versions = [\"TLSv1.2\"], certificate = false }",
            port,
            &Recorder::default(),
        )
        .await;
        assert!(
            matches!(result, Err(ActionError::Probe(ProbeError::Timeout(_)))),
            "{result:?}"
        );
    }
}
