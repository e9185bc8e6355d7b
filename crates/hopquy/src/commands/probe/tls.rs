//! `hopquy probe tls HOST[:PORT]`: accepted protocol versions (SSLv3–TLS 1.3), the cipher
//! suites accepted in each (weak ones flagged) and the certificate, testssl.sh/sslyze-style.

use std::time::Instant;

use clap::Args;
use hopquy_probe::tls::{self, TlsAudit, TlsAuditOptions, TlsVersion, suites};
use hopquy_probe::{Device, Recorder};
use serde_json::json;

use super::{Common, emit, failed, limits, split_target};
use crate::exit::{self, CliError};

pub const DEFAULT_PORT: u16 = 443;

#[derive(Args, Debug)]
pub struct TlsArgs {
    #[command(flatten)]
    pub common: Common,
    /// Versions to try, comma-separated (default: SSLv3,TLSv1.0,TLSv1.1,TLSv1.2,TLSv1.3).
    #[arg(long, value_delimiter = ',')]
    pub versions: Vec<String>,
    /// Connections in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Server name to send (default: the host when it is a name, none for an IP address).
    #[arg(long)]
    pub sni: Option<String>,
    /// Skip the certificate.
    #[arg(long)]
    pub no_certificate: bool,
    /// Include every recorded exchange (one per connection) in the JSON output.
    #[arg(long)]
    pub exchanges: bool,
}

pub async fn run(a: TlsArgs) -> Result<u8, CliError> {
    let (host, port) = split_target(&a.common.target)?;
    let port = port.unwrap_or(DEFAULT_PORT);
    let mut options = TlsAuditOptions {
        concurrency: a.concurrency.clamp(1, 64),
        certificate: !a.no_certificate,
        sni: a.sni.clone(),
        ..TlsAuditOptions::default()
    };
    if !a.versions.is_empty() {
        options.versions = a
            .versions
            .iter()
            .map(|v| v.parse::<TlsVersion>().map_err(|e| CliError::Usage(e.to_string())))
            .collect::<Result<_, _>>()?;
    }
    let device = Device::new(host.clone(), limits(a.common.timeout, options.concurrency));
    let rec = Recorder::new(Default::default());
    let target = device.authority(port);
    let started = Instant::now();
    match tls::audit(&device, port, &options, &rec).await {
        Ok(audit) => {
            let mut body = audit.observations();
            if a.exchanges
                && let serde_json::Value::Object(map) = &mut body
            {
                map.insert(
                    "exchanges".into(),
                    serde_json::to_value(rec.drain()).unwrap_or_default(),
                );
            }
            emit(a.common.json, "tls", &target, started, body, |_| {
                print_human(&target, &audit)
            });
            Ok(exit::PASS)
        }
        Err(e) => failed(a.common.json, "tls", &target, started, e, json!({})),
    }
}

fn print_human(target: &str, audit: &TlsAudit) {
    outln!(
        "{target}: TLS audit, {} connections, {} ms",
        audit.connections,
        audit.elapsed_ms
    );
    for v in &audit.versions {
        let state = if v.accepted {
            format!(
                "accepted, {} suites ({} weak)",
                v.cipher_suites.len(),
                v.weak_cipher_suites.len()
            )
        } else if let Some(error) = &v.error {
            error.clone()
        } else {
            format!("refused ({})", v.refused_with.as_deref().unwrap_or("no reason given"))
        };
        outln!("  {:<8} {state}", v.version.name());
        for (id, name) in v.cipher_suite_ids.iter().zip(&v.cipher_suites) {
            let weak = suites::by_id(*id).and_then(|s| s.weakness(v.version));
            match weak {
                Some(why) => outln!("      {name}  [weak: {why}]"),
                None => outln!("      {name}"),
            }
        }
    }
    match (&audit.certificate, &audit.certificate_error) {
        (Some(c), _) => {
            outln!(
                "  certificate: {} {} bits, {}, {}self-signed, valid {} to {}",
                c.key_type,
                c.key_bits,
                c.signature_algorithm,
                if c.self_signed { "" } else { "not " },
                c.not_before,
                c.not_after
            );
            outln!("    subject {}  SAN {}", c.subject, c.subject_alt_names.join(", "));
            outln!("    sha256 {}", c.sha256);
        }
        (None, Some(e)) => outln!("  certificate: {e}"),
        (None, None) => {}
    }
}
