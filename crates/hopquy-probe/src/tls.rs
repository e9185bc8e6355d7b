//! TLS audit (probe `tls`): which protocol versions (SSL 3.0 to TLS 1.3) the server accepts,
//! which cipher suites it accepts in each, and facts about its certificate.
//!
//! Versions and suites are found with **hand-built ClientHello messages**, reading only the
//! server's ServerHello or alert, the way nmap's ssl-enum-ciphers and testssl.sh's
//! "sockets" mode work. No TLS library can do this job: rustls never offers SSL 3.0, TLS
//! 1.0/1.1 or legacy suites, and Debian's OpenSSL 3.0 has no RC4, 3DES or SSLv3 compiled in
//! and refuses TLS 1.0 below `@SECLEVEL=0` (measured in the project's crate notes, §3.4 and
//! §4) — exactly the weak configurations a regulation audit must detect.
//!
//! Enumeration per version: offer every registered suite the version allows (in hellos of
//! at most [`MAX_SUITES_PER_HELLO`]), take the one the server picks, offer the rest again,
//! until the server refuses. That costs one connection per accepted suite plus one per
//! hello-sized chunk, and chunks of all versions run concurrently, bounded by the option's
//! concurrency and the device's connection cap. TLS 1.3 hellos carry supported_versions and
//! an X25519 key share; a HelloRetryRequest counts as acceptance (it names the suite).
//!
//! The certificate comes from one full rustls handshake (TLS 1.2/1.3, any chain accepted
//! and recorded). When rustls cannot connect (legacy-only servers), the cleartext
//! Certificate message of a hand-built TLS ≤ 1.2 handshake is read instead.
//!
//! Every connection is recorded as one Wire exchange (ClientHello sent, server bytes
//! received, bounded). A server that answers something other than TLS, answers half a
//! record, streams bytes forever or stays silent leaves a version *undetermined* (with the
//! reason) rather than refused; when no version can be determined at all, the audit is a
//! [`ProbeError`].

pub mod cert;
pub mod suites;
pub mod wire;

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

pub use cert::CertificateFacts;

use crate::exchange::{self, Capture, Exchange, Payload, Recorder};
use crate::{Device, ProbeError};
use wire::{FlightParser, Progress, ServerHello};

/// Suites per ClientHello: some embedded stacks refuse hellos listing more than 128.
pub const MAX_SUITES_PER_HELLO: usize = 128;
/// A ServerHello normally arrives within milliseconds; slow cameras signing with big RSA
/// keys need a second or two. Bounded further by the device's io timeout.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes read while waiting for a ServerHello (hostile servers may stream forever).
const MAX_HELLO_BYTES: usize = 64 * 1024;
/// Bytes read while waiting for a Certificate message (long chains).
const MAX_CERTIFICATE_BYTES: usize = 512 * 1024;
/// Received bytes kept in each recorded exchange.
const RECORD_KEEP: usize = 16 * 1024;
const RECORD_KEEP_CERTIFICATE: usize = 64 * 1024;

/// A protocol version, named as sslyze and testssl.sh name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TlsVersion {
    #[serde(rename = "SSLv3")]
    Ssl3,
    #[serde(rename = "TLSv1.0")]
    Tls10,
    #[serde(rename = "TLSv1.1")]
    Tls11,
    #[serde(rename = "TLSv1.2")]
    Tls12,
    #[serde(rename = "TLSv1.3")]
    Tls13,
}

impl TlsVersion {
    pub const ALL: [TlsVersion; 5] = [
        TlsVersion::Ssl3,
        TlsVersion::Tls10,
        TlsVersion::Tls11,
        TlsVersion::Tls12,
        TlsVersion::Tls13,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Ssl3 => "SSLv3",
            TlsVersion::Tls10 => "TLSv1.0",
            TlsVersion::Tls11 => "TLSv1.1",
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }

    /// The protocol version number on the wire.
    pub fn wire(self) -> u16 {
        match self {
            TlsVersion::Ssl3 => 0x0300,
            TlsVersion::Tls10 => 0x0301,
            TlsVersion::Tls11 => 0x0302,
            TlsVersion::Tls12 => 0x0303,
            TlsVersion::Tls13 => 0x0304,
        }
    }

    pub fn from_wire(value: u16) -> Option<TlsVersion> {
        TlsVersion::ALL.into_iter().find(|v| v.wire() == value)
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TlsVersion {
    type Err = ProbeError;

    /// Accepts the report names (`TLSv1.2`) and common spellings (`tls1.2`, `tls1_2`,
    /// `TLS 1.2`, `ssl3`), case-insensitively.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let key: String = text
            .chars()
            .filter(|c| !matches!(c, ' ' | '_' | '.' | 'v' | 'V'))
            .flat_map(char::to_lowercase)
            .collect();
        let version = match key.as_str() {
            "ssl3" | "ssl30" => TlsVersion::Ssl3,
            "tls1" | "tls10" => TlsVersion::Tls10,
            "tls11" => TlsVersion::Tls11,
            "tls12" => TlsVersion::Tls12,
            "tls13" => TlsVersion::Tls13,
            _ => {
                return Err(ProbeError::Invalid(format!(
                    "unknown TLS version {text:?}; use SSLv3, TLSv1.0, TLSv1.1, TLSv1.2 or TLSv1.3"
                )));
            }
        };
        Ok(version)
    }
}

/// What to audit and how hard to push.
#[derive(Debug, Clone)]
pub struct TlsAuditOptions {
    /// Versions to try (default: all five).
    pub versions: Vec<TlsVersion>,
    /// Hellos in flight at once (the device's connection cap still applies).
    pub concurrency: usize,
    /// Fetch and describe the certificate.
    pub certificate: bool,
    /// Server name to send; default: the device host when it is a DNS name (never an IP).
    pub sni: Option<String>,
    /// Wait for each server answer; default 5 s, never more than the device's io timeout.
    pub hello_timeout: Option<Duration>,
}

impl Default for TlsAuditOptions {
    fn default() -> Self {
        TlsAuditOptions {
            versions: TlsVersion::ALL.to_vec(),
            concurrency: 8,
            certificate: true,
            sni: None,
            hello_timeout: None,
        }
    }
}

/// One version's result (DESIGN §5 `versions` entry, plus additive fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionReport {
    pub version: TlsVersion,
    pub accepted: bool,
    /// IANA names of the accepted suites, by IANA id.
    pub cipher_suites: Vec<String>,
    /// The accepted suites that are weak in this version.
    #[serde(default)]
    pub weak_cipher_suites: Vec<String>,
    /// How the server turned the version down (`alert protocol_version`,
    /// `closed the connection`, `answered TLSv1.2`), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_with: Option<String>,
    /// Why the result is undetermined (not accepted) or possibly incomplete (accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The accepted suites' ids, same order as `cipher_suites`.
    #[serde(skip)]
    pub cipher_suite_ids: Vec<u16>,
}

impl VersionReport {
    /// No server answer settled whether the version is accepted.
    pub fn undetermined(&self) -> bool {
        !self.accepted && self.error.is_some()
    }
}

/// What a modern client (rustls, TLS 1.2/1.3) negotiated with the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Negotiated {
    pub version: String,
    pub cipher_suite: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsAudit {
    pub port: u16,
    /// One entry per version tried, oldest first.
    pub versions: Vec<VersionReport>,
    pub certificate: Option<CertificateFacts>,
    /// Why `certificate` is missing, when it was asked for.
    pub certificate_error: Option<String>,
    pub negotiated: Option<Negotiated>,
    /// TCP connections opened for the audit.
    pub connections: usize,
    pub elapsed_ms: u64,
}

impl TlsAudit {
    pub fn accepted_versions(&self) -> Vec<String> {
        self.versions
            .iter()
            .filter(|v| v.accepted)
            .map(|v| v.version.name().to_owned())
            .collect()
    }

    /// Weak suites accepted in any version, without repeats, oldest version first.
    pub fn weak_suites(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for name in self.versions.iter().flat_map(|v| v.weak_cipher_suites.iter()) {
            if !out.contains(name) {
                out.push(name.clone());
            }
        }
        out
    }

    pub fn undetermined_versions(&self) -> Vec<String> {
        self.versions
            .iter()
            .filter(|v| v.undetermined())
            .map(|v| v.version.name().to_owned())
            .collect()
    }

    /// The `tls` action's observations (and the probe JSON body).
    pub fn observations(&self) -> serde_json::Value {
        serde_json::json!({
            "reachable": true,
            "versions": self.versions,
            "accepted_versions": self.accepted_versions(),
            "weak_suites": self.weak_suites(),
            "undetermined_versions": self.undetermined_versions(),
            "certificate": self.certificate,
            "certificate_error": self.certificate_error,
            "negotiated": self.negotiated,
            "connections": self.connections,
        })
    }
}

/// How one hello was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    Hello {
        hello: ServerHello,
        certificates: Option<Vec<Vec<u8>>>,
    },
    Alert {
        description: u8,
    },
    /// The server closed (or reset) the connection without sending a byte: how many
    /// stacks refuse a version they do not speak.
    Closed,
}

struct Audit<'a> {
    device: &'a Device,
    port: u16,
    sni: Option<String>,
    hello_timeout: Duration,
    rec: &'a Recorder,
    connections: AtomicUsize,
}

/// Outcome of enumerating one chunk of one version.
#[derive(Debug, Default)]
struct ChunkResult {
    accepted: Vec<u16>,
    refused_with: Option<String>,
    error: Option<ProbeError>,
    /// The server gave at least one TLS answer (hello, alert or clean close).
    answered: bool,
}

/// Audit the TLS service on `port`. `Err` when the port cannot be connected to, or when
/// not a single hello got a TLS answer (the evidence is in `rec` either way).
pub async fn audit(
    device: &Device,
    port: u16,
    options: &TlsAuditOptions,
    rec: &Recorder,
) -> Result<TlsAudit, ProbeError> {
    let begun = Instant::now();
    // One bare connection first, so a closed port costs one attempt, not one per chunk.
    let (stream, permit) = device.connect_tcp(port).await?;
    drop(stream);
    drop(permit);

    let hello_timeout = options
        .hello_timeout
        .unwrap_or(HELLO_TIMEOUT)
        .min(device.limits().io_timeout);
    let sni = options.sni.clone().or_else(|| default_sni(device.host()));
    let run = Audit {
        device,
        port,
        sni,
        hello_timeout,
        rec,
        connections: AtomicUsize::new(1),
    };

    let mut versions = options.versions.clone();
    versions.sort();
    versions.dedup();
    let mut tasks = Vec::new();
    for &version in &versions {
        for chunk in chunks(&suites::candidates(version)) {
            tasks.push((version, chunk));
        }
    }
    let enumerate = futures::stream::iter(tasks)
        .map(|(version, chunk)| {
            let run = &run;
            async move { (version, run.enumerate(version, chunk).await) }
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect::<Vec<_>>();
    let modern = async {
        if options.certificate {
            Some(run.rustls_handshake().await)
        } else {
            None
        }
    };
    let (results, modern) = tokio::join!(enumerate, modern);

    let reports: Vec<VersionReport> = versions.iter().map(|v| summarise(*v, &results)).collect();
    let answered = results.iter().any(|(_, r)| r.answered);
    let (mut certificate, mut certificate_error, mut negotiated) = (None, None, None);
    match modern {
        Some(Ok((chain, agreed))) => {
            negotiated = Some(agreed);
            match cert::describe(&chain) {
                Ok(facts) => certificate = Some(facts),
                Err(e) => certificate_error = Some(e),
            }
        }
        Some(Err(rustls_error)) => match run.legacy_certificate(&reports).await {
            Some(Ok(facts)) => certificate = Some(facts),
            Some(Err(e)) => certificate_error = Some(e),
            None => certificate_error = Some(format!("no TLS handshake succeeded (rustls: {rustls_error})")),
        },
        None => {}
    }
    if !answered && negotiated.is_none() {
        let first = results.into_iter().find_map(|(_, r)| r.error);
        return Err(first.unwrap_or_else(|| ProbeError::Protocol("no TLS answer to any ClientHello".into())));
    }
    Ok(TlsAudit {
        port,
        versions: reports,
        certificate,
        certificate_error,
        negotiated,
        connections: run.connections.load(Ordering::Relaxed),
        elapsed_ms: u64::try_from(begun.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Split `ids` into near-equal hellos of at most [`MAX_SUITES_PER_HELLO`] suites.
fn chunks(ids: &[u16]) -> Vec<Vec<u16>> {
    if ids.is_empty() {
        return Vec::new();
    }
    let count = ids.len().div_ceil(MAX_SUITES_PER_HELLO);
    let size = ids.len().div_ceil(count);
    ids.chunks(size).map(<[u16]>::to_vec).collect()
}

fn default_sni(host: &str) -> Option<String> {
    let host = host.trim_end_matches('.');
    (host.parse::<IpAddr>().is_err() && !host.is_empty()).then(|| host.to_owned())
}

fn summarise(version: TlsVersion, results: &[(TlsVersion, ChunkResult)]) -> VersionReport {
    let mine: Vec<&ChunkResult> = results.iter().filter(|(v, _)| *v == version).map(|(_, r)| r).collect();
    let mut ids: Vec<u16> = mine.iter().flat_map(|r| r.accepted.iter().copied()).collect();
    ids.sort_unstable();
    ids.dedup();
    let accepted = !ids.is_empty();
    let error = mine.iter().find_map(|r| r.error.as_ref()).map(|e| {
        if accepted {
            format!("suite list may be incomplete: {e}")
        } else {
            format!("undetermined: {e}")
        }
    });
    let refused_with = if accepted {
        None
    } else {
        mine.iter().find_map(|r| r.refused_with.clone())
    };
    let weak_cipher_suites = ids
        .iter()
        .filter(|id| suites::by_id(**id).is_some_and(|s| s.is_weak(version)))
        .map(|id| suites::name_of(*id))
        .collect();
    VersionReport {
        version,
        accepted,
        cipher_suites: ids.iter().map(|id| suites::name_of(*id)).collect(),
        weak_cipher_suites,
        refused_with,
        error,
        cipher_suite_ids: ids,
    }
}

impl Audit<'_> {
    /// Offer `chunk`, take the server's pick out, repeat until it refuses.
    async fn enumerate(&self, version: TlsVersion, chunk: Vec<u16>) -> ChunkResult {
        let mut result = ChunkResult::default();
        let mut remaining = chunk;
        // Each round removes one suite, so this bound is never the one that stops a
        // well-behaved server; it stops one that keeps picking suites we withdrew.
        for _ in 0..=remaining.len() {
            if remaining.is_empty() {
                break;
            }
            match self.attempt(version, &remaining, false).await {
                Ok(Reply::Hello { hello, .. }) => {
                    result.answered = true;
                    if hello.version() != version.wire() {
                        result.refused_with = Some(format!("answered {}", version_label(hello.version())));
                        break;
                    }
                    let picked = hello.cipher_suite;
                    if !remaining.contains(&picked) {
                        if !result.accepted.contains(&picked) {
                            result.accepted.push(picked);
                        }
                        result.error = Some(ProbeError::Protocol(format!(
                            "the server chose {}, which this hello did not offer",
                            suites::name_of(picked)
                        )));
                        break;
                    }
                    result.accepted.push(picked);
                    remaining.retain(|id| *id != picked);
                }
                Ok(Reply::Alert { description }) => {
                    result.answered = true;
                    result.refused_with = Some(format!("alert {}", wire::alert_name(description)));
                    break;
                }
                Ok(Reply::Closed) => {
                    result.answered = true;
                    result.refused_with = Some("closed the connection".into());
                    break;
                }
                Err(e) => {
                    result.error = Some(e);
                    break;
                }
            }
        }
        result
    }

    /// One connection: send a hello offering `offered` at `version`, read the answer,
    /// record the exchange.
    async fn attempt(&self, version: TlsVersion, offered: &[u16], want_certificate: bool) -> Result<Reply, ProbeError> {
        let started = exchange::now();
        let hello = wire::client_hello(version, offered, self.sni.as_deref(), &wire::HelloRandom::fresh());
        let peer = self.device.authority(self.port);
        let keep = if want_certificate {
            RECORD_KEEP_CERTIFICATE
        } else {
            RECORD_KEEP
        };
        let mut received = Received::new(keep);
        let outcome = match self.device.connect_tcp(self.port).await {
            Ok((mut stream, _permit)) => {
                self.connections.fetch_add(1, Ordering::Relaxed);
                let bound = if want_certificate {
                    MAX_CERTIFICATE_BYTES
                } else {
                    MAX_HELLO_BYTES
                };
                exchange_hello(
                    &mut stream,
                    &hello,
                    self.hello_timeout,
                    bound,
                    want_certificate,
                    &mut received,
                )
                .await
            }
            Err(e) => Err(e),
        };
        let what = if want_certificate {
            "certificate fetch"
        } else {
            "ClientHello"
        };
        let label = format!(
            "tls {} {what} offering {} suite{}: {}",
            version.name(),
            offered.len(),
            if offered.len() == 1 { "" } else { "s" },
            describe_outcome(&outcome)
        );
        self.rec.record(Exchange {
            protocol: "tls".into(),
            peer,
            started,
            finished: exchange::now(),
            capture: Capture::Wire,
            label,
            sent: Some(Payload::from_bytes(&hello, hello.len(), false)),
            received: (received.transferred > 0).then(|| {
                Payload::from_bytes(
                    &received.kept,
                    received.transferred,
                    received.transferred > received.kept.len(),
                )
            }),
            error: outcome.as_ref().err().map(ToString::to_string),
        });
        outcome
    }

    /// A full TLS 1.2/1.3 handshake with rustls: the certificate chain and what a modern
    /// client gets.
    async fn rustls_handshake(&self) -> Result<(Vec<Vec<u8>>, Negotiated), String> {
        let started = exchange::now();
        let tap = Arc::new(Mutex::new(cert::Tap::default()));
        let result = self.rustls_connect(tap.clone()).await;
        let (sent, received) = match tap.lock() {
            Ok(t) => (
                (t.sent_len > 0).then(|| Payload::from_bytes(&t.sent, t.sent_len, t.sent_len > t.sent.len())),
                (t.received_len > 0)
                    .then(|| Payload::from_bytes(&t.received, t.received_len, t.received_len > t.received.len())),
            ),
            Err(_) => (None, None),
        };
        let label = match &result {
            Ok((chain, agreed)) => format!(
                "tls full handshake (rustls, TLSv1.2/TLSv1.3, certificate not verified): {} {}, {} certificate{}",
                agreed.version,
                agreed.cipher_suite,
                chain.len(),
                if chain.len() == 1 { "" } else { "s" }
            ),
            Err(e) => format!("tls full handshake (rustls, TLSv1.2/TLSv1.3): failed: {e}"),
        };
        self.rec.record(Exchange {
            protocol: "tls".into(),
            peer: self.device.authority(self.port),
            started,
            finished: exchange::now(),
            capture: Capture::Wire,
            label,
            sent,
            received,
            error: result.as_ref().err().cloned(),
        });
        result
    }

    async fn rustls_connect(&self, tap: Arc<Mutex<cert::Tap>>) -> Result<(Vec<Vec<u8>>, Negotiated), String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = Arc::new(cert::AcceptAnyCertificate::new(&provider));
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let server_name = match (&self.sni, self.device.host().parse::<IpAddr>()) {
            (Some(name), _) => rustls::pki_types::ServerName::try_from(name.clone()).map_err(|e| e.to_string())?,
            (None, Ok(ip)) => rustls::pki_types::ServerName::IpAddress(ip.into()),
            (None, Err(_)) => {
                return Err(format!(
                    "{:?} is neither an IP address nor a server name",
                    self.device.host()
                ));
            }
        };
        let (stream, _permit) = self.device.connect_tcp(self.port).await.map_err(|e| e.to_string())?;
        self.connections.fetch_add(1, Ordering::Relaxed);
        let tapped = cert::TapStream {
            inner: stream,
            tap,
            keep: RECORD_KEEP_CERTIFICATE,
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        // The handshake reads a whole certificate chain: allow it the io timeout.
        let timeout = self.device.limits().io_timeout.max(self.hello_timeout);
        let mut tls = tokio::time::timeout(timeout, connector.connect(server_name, tapped))
            .await
            .map_err(|_| format!("no completed handshake within {} ms", timeout.as_millis()))?
            .map_err(|e| e.to_string())?;
        let (_, connection) = tls.get_ref();
        let chain: Vec<Vec<u8>> = connection
            .peer_certificates()
            .map(|c| c.iter().map(|d| d.as_ref().to_vec()).collect())
            .unwrap_or_default();
        let agreed = Negotiated {
            version: connection
                .protocol_version()
                .and_then(|v| TlsVersion::from_wire(u16::from(v)))
                .map_or_else(|| "unknown".to_owned(), |v| v.name().to_owned()),
            cipher_suite: connection
                .negotiated_cipher_suite()
                .map_or_else(|| "unknown".to_owned(), |s| suites::name_of(u16::from(s.suite()))),
        };
        let _ = tokio::time::timeout(Duration::from_millis(200), tls.shutdown()).await;
        Ok((chain, agreed))
    }

    /// The certificate from the cleartext flight of the newest accepted version ≤ TLS 1.2.
    async fn legacy_certificate(&self, reports: &[VersionReport]) -> Option<Result<CertificateFacts, String>> {
        let best = reports
            .iter()
            .filter(|r| r.accepted && r.version <= TlsVersion::Tls12 && !r.cipher_suite_ids.is_empty())
            .max_by_key(|r| r.version)?;
        // Anonymous suites carry no certificate: offer them only when nothing else was accepted.
        let authenticated: Vec<u16> = best
            .cipher_suite_ids
            .iter()
            .copied()
            .filter(|id| !suites::by_id(*id).is_some_and(suites::CipherSuite::is_anonymous))
            .collect();
        let offer = if authenticated.is_empty() {
            &best.cipher_suite_ids
        } else {
            &authenticated
        };
        let offer = &offer[..offer.len().min(MAX_SUITES_PER_HELLO)];
        Some(match self.attempt(best.version, offer, true).await {
            Ok(Reply::Hello {
                certificates: Some(chain),
                ..
            }) if !chain.is_empty() => cert::describe(&chain),
            Ok(Reply::Hello { .. }) => Err(format!("the {} handshake carried no certificate", best.version)),
            Ok(Reply::Alert { description }) => Err(format!(
                "certificate fetch refused: alert {}",
                wire::alert_name(description)
            )),
            Ok(Reply::Closed) => Err("certificate fetch: the server closed the connection".into()),
            Err(e) => Err(format!("certificate fetch: {e}")),
        })
    }
}

/// Received bytes: the first `keep` of them, and how many there were.
struct Received {
    kept: Vec<u8>,
    transferred: usize,
    keep: usize,
}

impl Received {
    fn new(keep: usize) -> Self {
        Received {
            kept: Vec::new(),
            transferred: 0,
            keep,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.transferred += bytes.len();
        let room = self.keep.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

async fn exchange_hello(
    stream: &mut tokio::net::TcpStream,
    hello: &[u8],
    timeout: Duration,
    bound: usize,
    want_certificate: bool,
    received: &mut Received,
) -> Result<Reply, ProbeError> {
    let deadline = Instant::now() + timeout;
    match tokio::time::timeout_at(deadline, stream.write_all(hello)).await {
        Ok(Ok(())) => {}
        // A server that resets before reading the hello refuses like one that closes.
        Ok(Err(e)) if is_reset(&e) => return Ok(Reply::Closed),
        Ok(Err(e)) => return Err(ProbeError::Closed(format!("while sending the ClientHello: {e}"))),
        Err(_) => {
            return Err(ProbeError::Timeout(format!(
                "sending the ClientHello ({} ms)",
                timeout.as_millis()
            )));
        }
    }
    let mut parser = FlightParser::new(want_certificate);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await;
        let n = match read {
            Err(_) if received.transferred == 0 => {
                return Err(ProbeError::Timeout(format!(
                    "no answer to the ClientHello within {} ms",
                    timeout.as_millis()
                )));
            }
            Err(_) => {
                return Err(ProbeError::Timeout(format!(
                    "answer incomplete after {} bytes and {} ms",
                    received.transferred,
                    timeout.as_millis()
                )));
            }
            Ok(Err(e)) if received.transferred == 0 && is_reset(&e) => return Ok(Reply::Closed),
            Ok(Err(e)) => return Err(ProbeError::Closed(format!("after {} bytes: {e}", received.transferred))),
            Ok(Ok(0)) if received.transferred == 0 => return Ok(Reply::Closed),
            Ok(Ok(0)) => {
                return match parser.finish() {
                    // The server hung up after its ServerHello: the hello stands.
                    Some(hello) => Ok(Reply::Hello {
                        hello,
                        certificates: Some(Vec::new()),
                    }),
                    None => Err(ProbeError::Closed(format!(
                        "after {} bytes, {}",
                        received.transferred,
                        if parser.mid_message() {
                            "in the middle of a record"
                        } else {
                            "before a ServerHello"
                        }
                    ))),
                };
            }
            Ok(Ok(n)) => n,
        };
        let fresh = &chunk[..n];
        received.push(fresh);
        parser.feed(fresh);
        match parser.poll() {
            Progress::NeedMore => {}
            Progress::Alert { description, .. } => return Ok(Reply::Alert { description }),
            Progress::Hello { hello, certificates } => return Ok(Reply::Hello { hello, certificates }),
            Progress::Invalid(why) => return Err(ProbeError::Protocol(why)),
        }
        if received.transferred > bound {
            return Err(ProbeError::TooLarge(format!(
                "{} bytes without a complete answer (bound {bound})",
                received.transferred
            )));
        }
    }
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::BrokenPipe
    )
}

fn version_label(wire: u16) -> String {
    TlsVersion::from_wire(wire).map_or_else(|| format!("version 0x{wire:04X}"), |v| v.name().to_owned())
}

fn describe_outcome(outcome: &Result<Reply, ProbeError>) -> String {
    match outcome {
        Ok(Reply::Hello { hello, certificates }) => {
            let retry = if hello.hello_retry_request {
                "HelloRetryRequest"
            } else {
                "ServerHello"
            };
            let certs = match certificates {
                Some(c) if !c.is_empty() => format!(", {} certificate{}", c.len(), if c.len() == 1 { "" } else { "s" }),
                _ => String::new(),
            };
            format!(
                "{retry} {} {}{certs}",
                version_label(hello.version()),
                suites::name_of(hello.cipher_suite)
            )
        }
        Ok(Reply::Alert { description }) => format!("alert {}", wire::alert_name(*description)),
        Ok(Reply::Closed) => "connection closed without an answer".into(),
        Err(e) => format!("no answer: {e}"),
    }
}

/// `0a 0b …` of the first `max` bytes, for error messages about foreign answers.
fn hex_prefix(bytes: &[u8], max: usize) -> String {
    let shown: Vec<String> = bytes.iter().take(max).map(|b| format!("{b:02x}")).collect();
    let more = if bytes.len() > max { " …" } else { "" };
    format!("{}{more}", shown.join(" "))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn version_names_round_trip() {
        for v in TlsVersion::ALL {
            assert_eq!(v.name().parse::<TlsVersion>().unwrap(), v);
            assert_eq!(TlsVersion::from_wire(v.wire()), Some(v));
            assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(v.name()));
        }
        assert_eq!("tls1_2".parse::<TlsVersion>().unwrap(), TlsVersion::Tls12);
        assert_eq!("TLS 1.0".parse::<TlsVersion>().unwrap(), TlsVersion::Tls10);
        assert_eq!("ssl3".parse::<TlsVersion>().unwrap(), TlsVersion::Ssl3);
        assert!("tls2".parse::<TlsVersion>().is_err());
        assert!(TlsVersion::Tls10 < TlsVersion::Tls12);
    }

    #[test]
    fn chunking_is_balanced_and_bounded() {
        let ids: Vec<u16> = (0..339).collect();
        let parts = chunks(&ids);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.len() <= MAX_SUITES_PER_HELLO && p.len() >= 100));
        assert_eq!(parts.concat(), ids);
        assert_eq!(chunks(&ids[..5]), vec![ids[..5].to_vec()]);
        assert!(chunks(&[]).is_empty());
    }

    #[test]
    fn sni_only_for_names() {
        assert_eq!(default_sni("cam.example."), Some("cam.example".into()));
        assert_eq!(default_sni("127.0.0.1"), None);
        assert_eq!(default_sni("::1"), None);
    }

    #[test]
    fn summary_merges_chunks() {
        let results = vec![
            (
                TlsVersion::Tls10,
                ChunkResult {
                    accepted: vec![0x000a],
                    answered: true,
                    ..Default::default()
                },
            ),
            (
                TlsVersion::Tls10,
                ChunkResult {
                    accepted: vec![0x002f, 0x0005],
                    answered: true,
                    ..Default::default()
                },
            ),
            (
                TlsVersion::Tls11,
                ChunkResult {
                    refused_with: Some("alert protocol_version".into()),
                    answered: true,
                    ..Default::default()
                },
            ),
            (
                TlsVersion::Tls11,
                ChunkResult {
                    error: Some(ProbeError::Timeout("x".into())),
                    ..Default::default()
                },
            ),
            (
                TlsVersion::Tls12,
                ChunkResult {
                    refused_with: Some("closed".into()),
                    answered: true,
                    ..Default::default()
                },
            ),
        ];
        let t10 = summarise(TlsVersion::Tls10, &results);
        assert!(t10.accepted && t10.error.is_none());
        assert_eq!(
            t10.cipher_suites,
            vec![
                "TLS_RSA_WITH_RC4_128_SHA",
                "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
                "TLS_RSA_WITH_AES_128_CBC_SHA"
            ]
        );
        assert_eq!(t10.weak_cipher_suites.len(), 3, "CBC-SHA1 is weak in TLS 1.0");
        let t11 = summarise(TlsVersion::Tls11, &results);
        assert!(!t11.accepted && t11.undetermined(), "{t11:?}");
        let t12 = summarise(TlsVersion::Tls12, &results);
        assert!(!t12.accepted && !t12.undetermined());
        assert_eq!(t12.refused_with.as_deref(), Some("closed"));

        let audit = TlsAudit {
            port: 443,
            versions: vec![t10, t11, t12],
            certificate: None,
            certificate_error: None,
            negotiated: None,
            connections: 0,
            elapsed_ms: 0,
        };
        let obs = audit.observations();
        assert_eq!(obs["accepted_versions"], serde_json::json!(["TLSv1.0"]));
        assert_eq!(obs["undetermined_versions"], serde_json::json!(["TLSv1.1"]));
        assert_eq!(obs["versions"][0]["version"], "TLSv1.0");
        assert_eq!(obs["versions"][0]["accepted"], true);
        assert_eq!(obs["weak_suites"].as_array().map(Vec::len), Some(3));
        assert_eq!(obs["reachable"], true);
    }
}
