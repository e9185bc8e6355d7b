//! `profile = "auto"`: which profile a device is, from its own answers, before the suite.
//!
//! Read-only and short: `GET /` on HTTP (and on HTTPS when HTTP redirects, refuses or fails),
//! RTSP `OPTIONS *`, ONVIF GetDeviceInformation anonymously and — only when that is refused —
//! once with the target's own credentials. No wrong password is ever sent, so identification
//! cannot count towards a lockout. The markers come from the fingerprint table
//! ([`hopquy_case::identify`]); the decision is made here, never guessed: one profile named
//! (a profile that inherits another wins over its ancestor) is `identified`; none or several
//! fall back to `onvif` when ONVIF answered, else the device is `unidentified`.

use std::collections::{BTreeMap, BTreeSet};

use hopquy_case::identify::{FingerprintTable, MarkerSource};
use hopquy_evidence::{IdentifyConfidence, IdentifyEvidence, IdentifyOutcome, ProfileIdentified};
use hopquy_probe::http::{HttpProbe, HttpRequest, Scheme};
use hopquy_probe::onvif::{CallOutcome, OnvifAuth, OnvifProbe};
use hopquy_probe::rtsp::{Method, RequestTarget, RtspAuth, RtspClient};
use hopquy_probe::{Credential, Device, Recorder};

/// The generic profile a device that answered ONVIF falls back to.
pub const ONVIF_PROFILE: &str = "onvif";
/// What of a header or realm evidence keeps (a hostile device may send a long one).
const MAX_OBSERVED_CHARS: usize = 200;

/// Where identification looks; each `None` is the usual port.
#[derive(Debug, Clone, Default)]
pub struct IdentifyPorts {
    pub http: Option<u16>,
    pub https: Option<u16>,
    pub rtsp: Option<u16>,
}

/// What identification needs besides the device.
pub struct IdentifyInput<'a> {
    pub table: &'a FingerprintTable,
    /// Every profile name that exists → the names of its ancestors (nearest first).
    pub ancestors: &'a BTreeMap<String, Vec<String>>,
    pub ports: IdentifyPorts,
    /// The target's own account: used for one ONVIF request, only when the anonymous one is
    /// refused.
    pub credential: Credential,
}

/// Reads the device and decides; every request is recorded in `rec`.
pub async fn identify(device: &Device, input: &IdentifyInput<'_>, rec: &Recorder) -> ProfileIdentified {
    let mut evidence = Vec::new();
    let table = input.table;

    // HTTP, then HTTPS when HTTP is not where the web server answers.
    let http = input.ports.http.unwrap_or(80);
    let https = input.ports.https.unwrap_or(443);
    let mut onvif_at = None;
    for (scheme, port) in [(Scheme::Http, http), (Scheme::Https, https)] {
        let request = format!("GET / on {}:{port}", scheme.as_str());
        let answer = match HttpProbe::new(device.clone()) {
            Ok(probe) => probe.send(&HttpRequest::new(scheme, port, "GET", "/"), rec).await,
            Err(e) => Err(e),
        };
        match answer {
            Ok(r) => {
                let server = r.header("server").map(str::to_owned);
                let why = server
                    .is_none()
                    .then(|| format!("HTTP {} without a Server header", r.status));
                evidence.push(entry(table, MarkerSource::HttpServer, &request, server.as_deref(), why));
                let body = String::from_utf8_lossy(&r.body);
                let matches = table.matches(MarkerSource::HttpBody, &body);
                evidence_push_body(&mut evidence, &request, r.status, r.body.len(), matches);
                for realm in r.challenges.iter().filter_map(|c| c.realm.as_deref()) {
                    evidence.push(realm_evidence(table, &request, realm));
                }
                let redirects = (300..400).contains(&r.status);
                if !redirects {
                    onvif_at = Some((scheme, port));
                    break;
                }
            }
            Err(e) => evidence.push(entry(
                table,
                MarkerSource::HttpServer,
                &request,
                None,
                Some(format!("no answer: {e}")),
            )),
        }
    }

    // RTSP: most cameras answer OPTIONS without credentials, and say who they are.
    let rtsp = input.ports.rtsp.unwrap_or(554);
    let request = format!("OPTIONS * on rtsp:{rtsp}");
    let mut client = RtspClient::new(device, rtsp, rec);
    match client
        .request(Method::Options, RequestTarget::Star, RtspAuth::Anonymous)
        .await
    {
        Ok(r) => {
            let server = r.header("server").map(str::to_owned);
            let why = server
                .is_none()
                .then(|| format!("RTSP {} without a Server header", r.status));
            evidence.push(entry(table, MarkerSource::RtspServer, &request, server.as_deref(), why));
            let values: Vec<&str> = r
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("www-authenticate"))
                .map(|(_, v)| v.as_str())
                .collect();
            for c in hopquy_probe::auth::parse_challenges(&values) {
                if let Some(realm) = &c.realm {
                    evidence.push(realm_evidence(table, &request, realm));
                }
            }
        }
        Err(e) => evidence.push(entry(
            table,
            MarkerSource::RtspServer,
            &request,
            None,
            Some(format!("no answer: {e}")),
        )),
    }
    drop(client);

    // ONVIF where the web server answered (HTTPS when HTTP only redirects).
    let (scheme, port) = onvif_at.unwrap_or((Scheme::Https, https));
    let mut onvif_answered = false;
    match OnvifProbe::new(device.clone(), scheme, port) {
        Ok(onvif) => {
            for (auth, label) in [
                (OnvifAuth::None, "anonymous"),
                (OnvifAuth::Digest(input.credential.clone()), "with the target's account"),
            ] {
                let request = format!("GetDeviceInformation ({label}) on {}:{port}", scheme.as_str());
                match onvif.call("GetDeviceInformation", &auth, rec).await {
                    Ok(call) if call.outcome == CallOutcome::Answered => {
                        onvif_answered = true;
                        let manufacturer = call
                            .response
                            .as_ref()
                            .and_then(|r| r.child_text("Manufacturer"))
                            .map(str::to_owned);
                        let why = manufacturer
                            .is_none()
                            .then(|| "an answer without Manufacturer".to_owned());
                        evidence.push(entry(
                            table,
                            MarkerSource::OnvifManufacturer,
                            &request,
                            manufacturer.as_deref(),
                            why,
                        ));
                        break;
                    }
                    Ok(call) if call.outcome == CallOutcome::Refused => {
                        evidence.push(entry(
                            table,
                            MarkerSource::OnvifManufacturer,
                            &request,
                            None,
                            Some(format!("refused (HTTP {})", call.status)),
                        ));
                    }
                    // Not an ONVIF device (or a page that answers everything): the account is
                    // not tried on it.
                    Ok(call) => {
                        evidence.push(entry(
                            table,
                            MarkerSource::OnvifManufacturer,
                            &request,
                            None,
                            Some(format!("no ONVIF answer (HTTP {}, {:?})", call.status, call.outcome)),
                        ));
                        break;
                    }
                    Err(e) => {
                        evidence.push(entry(
                            table,
                            MarkerSource::OnvifManufacturer,
                            &request,
                            None,
                            Some(format!("no answer: {e}")),
                        ));
                        break;
                    }
                }
            }
        }
        Err(e) => evidence.push(entry(
            table,
            MarkerSource::OnvifManufacturer,
            "GetDeviceInformation",
            None,
            Some(format!("cannot send: {e}")),
        )),
    }
    decide(evidence, input.ancestors, onvif_answered)
}

/// [`identify`] for the device of a target file (its host, ports, limits and account),
/// with the exchanges as the bundle records them (the target's password redacted).
pub async fn identify_target(
    target: &hopquy_case::LoadedTarget,
    table: &FingerprintTable,
    ancestors: &BTreeMap<String, Vec<String>>,
) -> (ProfileIdentified, Vec<serde_json::Value>) {
    let t = &target.target;
    let mut redactor = hopquy_probe::Redactor::new();
    redactor.add_secret(&t.credentials.username, target.password());
    let rec = Recorder::new(std::sync::Arc::new(redactor));
    let device = Device::new(t.connection.host.clone(), crate::run::target_limits(target));
    let port = |name: &str| t.connection.ports.get(name).copied();
    let input = IdentifyInput {
        table,
        ancestors,
        ports: IdentifyPorts {
            http: port("http"),
            https: port("https"),
            rtsp: port("rtsp"),
        },
        credential: Credential {
            username: t.credentials.username.clone(),
            password: target.password().to_owned(),
            secret: true,
        },
    };
    let found = identify(&device, &input, &rec).await;
    let exchanges = rec
        .drain()
        .iter()
        .filter_map(|e| serde_json::to_value(e).ok())
        .collect();
    (found, exchanges)
}

fn entry(
    table: &FingerprintTable,
    source: MarkerSource,
    request: &str,
    observed: Option<&str>,
    why: Option<String>,
) -> IdentifyEvidence {
    let matches = observed.map(|o| table.matches(source, o)).unwrap_or_default();
    IdentifyEvidence {
        source: source.as_str().to_owned(),
        request: request.to_owned(),
        observed: match (observed, why) {
            (Some(o), _) => shorten(o),
            (None, Some(why)) => why,
            (None, None) => "nothing".into(),
        },
        matches: matches.iter().map(|(p, m)| format!("{p}: {m}")).collect(),
    }
}

fn evidence_push_body(
    evidence: &mut Vec<IdentifyEvidence>,
    request: &str,
    status: u16,
    len: usize,
    matches: Vec<(String, String)>,
) {
    evidence.push(IdentifyEvidence {
        source: MarkerSource::HttpBody.as_str().to_owned(),
        request: request.to_owned(),
        observed: format!("HTTP {status}, a page of {len} bytes"),
        matches: matches.iter().map(|(p, m)| format!("{p}: {m}")).collect(),
    });
}

fn realm_evidence(table: &FingerprintTable, request: &str, realm: &str) -> IdentifyEvidence {
    IdentifyEvidence {
        source: MarkerSource::Realm.as_str().to_owned(),
        request: request.to_owned(),
        observed: shorten(realm),
        matches: table
            .matches(MarkerSource::Realm, realm)
            .iter()
            .map(|(p, m)| format!("{p}: {m}"))
            .collect(),
    }
}

fn shorten(text: &str) -> String {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_OBSERVED_CHARS)
        .collect();
    if text.chars().count() > MAX_OBSERVED_CHARS {
        format!("{clean}…")
    } else {
        clean
    }
}

/// The choice from what was read (pure: the unit tests drive it with hostile evidence).
pub fn decide(
    evidence: Vec<IdentifyEvidence>,
    ancestors: &BTreeMap<String, Vec<String>>,
    onvif_answered: bool,
) -> ProfileIdentified {
    // profile → the kinds of marker that named it.
    let mut named: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in &evidence {
        for m in &e.matches {
            let profile = m.split_once(':').map_or(m.as_str(), |(p, _)| p);
            named.entry(profile.to_owned()).or_default().insert(e.source.clone());
        }
    }
    // A profile that refines another (simcam inherits hikvision-isapi) is the more precise
    // answer: its ancestors' markers count for it.
    let candidates: Vec<String> = named.keys().cloned().collect();
    for c in &candidates {
        let Some(chain) = ancestors.get(c) else { continue };
        for ancestor in chain {
            if let Some(sources) = named.remove(ancestor)
                && let Some(mine) = named.get_mut(c)
            {
                mine.extend(sources);
            }
        }
    }
    let list = |named: &BTreeMap<String, BTreeSet<String>>| named.keys().cloned().collect::<Vec<_>>().join(", ");
    let onvif_exists = ancestors.contains_key(ONVIF_PROFILE);
    let (profile, outcome, confidence, reason) = if named.len() == 1 {
        let (profile, sources) = named
            .iter()
            .next()
            .map(|(p, s)| (p.clone(), s.clone()))
            .unwrap_or_default();
        let kinds: Vec<&str> = sources.iter().map(String::as_str).collect();
        let confidence = if sources.len() >= 2 {
            IdentifyConfidence::High
        } else {
            IdentifyConfidence::Medium
        };
        let reason = format!("the device's answers name `{profile}` only ({})", kinds.join(", "));
        (Some(profile), IdentifyOutcome::Identified, confidence, reason)
    } else {
        let why = if named.is_empty() {
            "no answer carries a marker of a known profile".to_owned()
        } else {
            format!("the answers name several profiles ({})", list(&named))
        };
        if onvif_answered && onvif_exists {
            (
                Some(ONVIF_PROFILE.to_owned()),
                IdentifyOutcome::OnvifFallback,
                IdentifyConfidence::Low,
                format!("{why}; ONVIF answered, so the generic `onvif` profile is used"),
            )
        } else {
            (
                None,
                IdentifyOutcome::Unidentified,
                IdentifyConfidence::Low,
                format!("{why}, and ONVIF did not answer: the device is unidentified (name its profile)"),
            )
        }
    };
    ProfileIdentified {
        profile,
        outcome,
        confidence,
        reason,
        evidence,
        exchanges: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    fn table() -> FingerprintTable {
        let profiles: Vec<String> = ["dahua", "hikvision-isapi", "onvif", "simcam"]
            .map(String::from)
            .to_vec();
        hopquy_case::identify::load_fingerprints(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles/identify/fingerprints.toml"),
            &profiles,
        )
        .unwrap()
    }

    fn ancestors(with_onvif: bool) -> BTreeMap<String, Vec<String>> {
        let mut a = BTreeMap::from([
            ("dahua".to_owned(), vec![]),
            ("hikvision-isapi".to_owned(), vec![]),
            ("simcam".to_owned(), vec!["hikvision-isapi".to_owned()]),
        ]);
        if with_onvif {
            a.insert("onvif".into(), vec![]);
        }
        a
    }

    /// A loopback server answering every connection with `answer` after reading what the
    /// client sent (a camera waits for the client to speak).
    async fn serve(answer: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let _ = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await;
                    let _ = s.write_all(answer).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        port
    }

    async fn closed_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    }

    async fn run(http: u16, rtsp: u16, with_onvif: bool) -> ProfileIdentified {
        let table = table();
        let ancestors = ancestors(with_onvif);
        let https = closed_port().await;
        let input = IdentifyInput {
            table: &table,
            ancestors: &ancestors,
            ports: IdentifyPorts {
                http: Some(http),
                https: Some(https),
                rtsp: Some(rtsp),
            },
            credential: Credential {
                username: "admin".into(),
                password: "s3cret-Pass".into(),
                secret: true,
            },
        };
        let limits = hopquy_probe::Limits {
            connect_timeout: Duration::from_secs(1),
            io_timeout: Duration::from_secs(2),
            ..Default::default()
        };
        let rec = Recorder::new(std::sync::Arc::new(hopquy_probe::Redactor::new()));
        let found = identify(&Device::new("127.0.0.1", limits), &input, &rec).await;
        let recorded = serde_json::to_string(&rec.drain()).unwrap();
        assert!(!recorded.contains("s3cret-Pass"), "{recorded}");
        found
    }

    #[tokio::test]
    async fn a_catch_all_page_naming_two_vendors_is_not_a_guess() {
        // Every request, ONVIF's included, gets the same page with both vendors' markers.
        let body = "<a href=\"/doc/page/login.asp\">x</a><form action=/RPC2_Login>";
        let page = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let page: &'static [u8] = Box::leak(page.into_bytes().into_boxed_slice());
        let http = serve(page).await;
        let found = run(http, closed_port().await, true).await;
        assert_eq!(found.outcome, IdentifyOutcome::Unidentified, "{found:?}");
        assert_eq!(found.profile, None);
        assert!(found.reason.contains("dahua, hikvision-isapi"), "{}", found.reason);
    }

    #[tokio::test]
    async fn empty_and_garbage_answers_leave_the_device_unidentified() {
        let empty = serve(b"").await;
        let garbage = serve(b"\x00\xff\xfe garbage \r\n\r\n\x01").await;
        for (http, rtsp) in [(empty, empty), (garbage, garbage)] {
            let found = run(http, rtsp, true).await;
            assert_eq!(found.outcome, IdentifyOutcome::Unidentified, "{found:?}");
            assert!(found.evidence.iter().all(|e| e.matches.is_empty()), "{found:?}");
        }
    }

    #[tokio::test]
    async fn one_vendor_server_header_identifies_it() {
        let http =
            serve(b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").await;
        let rtsp = serve(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS\r\n\r\n").await;
        let found = run(http, rtsp, true).await;
        assert_eq!(found.profile.as_deref(), Some("hikvision-isapi"), "{found:?}");
        assert_eq!(found.outcome, IdentifyOutcome::Identified);
        assert_eq!(found.confidence, IdentifyConfidence::Medium);
    }

    fn ev(source: MarkerSource, matches: &[&str]) -> IdentifyEvidence {
        IdentifyEvidence {
            source: source.as_str().into(),
            request: "r".into(),
            observed: "o".into(),
            matches: matches.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_decision_prefers_a_refinement_and_falls_back_only_to_onvif_that_answered() {
        let a = ancestors(true);
        let refined = decide(
            vec![
                ev(MarkerSource::HttpServer, &["hikvision-isapi: App-webs"]),
                ev(MarkerSource::RtspServer, &["simcam: hopquy-sim"]),
            ],
            &a,
            false,
        );
        assert_eq!(refined.profile.as_deref(), Some("simcam"));
        assert_eq!(refined.confidence, IdentifyConfidence::High);
        let two = vec![
            ev(MarkerSource::HttpServer, &["hikvision-isapi: App-webs"]),
            ev(MarkerSource::RtspServer, &["dahua: Dahua Rtsp Server"]),
        ];
        let fallback = decide(two.clone(), &a, true);
        assert_eq!(fallback.outcome, IdentifyOutcome::OnvifFallback);
        assert_eq!(fallback.profile.as_deref(), Some("onvif"));
        assert_eq!(decide(two.clone(), &a, false).outcome, IdentifyOutcome::Unidentified);
        // No onvif profile in this suite: nothing to fall back to.
        assert_eq!(
            decide(two, &ancestors(false), true).outcome,
            IdentifyOutcome::Unidentified
        );
        assert_eq!(decide(Vec::new(), &a, true).outcome, IdentifyOutcome::OnvifFallback);
    }
}
