//! The `lab-net` action: act on the camera's own network (cut or restore the uplink), let
//! `wait_s` pass, then read the record so far and summarise it against the target file's
//! `[declared] destinations` and the lab's GeoIP file. It decides nothing: every judgement
//! (undeclared destinations, credentials in clear, a reconnect storm) is a case expectation.
//!
//! The record is read as JSON (`labnet/record.json`'s shape), not through hopquy-labnet's
//! types, so the runner stays independent of the capture crate; a key it lacks is read as
//! absent, and the counts say how much the record held.
//!
//! Without a lab network the step succeeds with `lab_net_given = false` and every other
//! observation null, like `firmware` without an image: missing evidence, for the case to call
//! inconclusive (`no-lab-network`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use hopquy_case::observations::LabNetObservations;
use hopquy_case::{DeclaredDestination, GeoIpTable, LabNetOp, LabNetStep, MAX_LAB_NET_WAIT_S, Network};
use regex::Regex;
use serde_json::{Value, json};

use super::{ActionError, ActionOutput, RunContext};

/// Cleartext protocols the record recognises whose use a case may judge (DNS to the lab's
/// resolver is the network itself, and `unknown` may well be encrypted).
const CLEARTEXT: &[&str] = &["http", "rtsp", "mqtt", "ftp", "telnet", "smtp"];

static UPDATE_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)update|upgrade|firmware|(?:^|[^a-z])ota(?:[^a-z]|$)").unwrap_or_else(|e| panic!("{e}"))
});
static TELEMETRY_WORDS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)telemetry|analytics|diagnostic|statistic").unwrap_or_else(|e| panic!("{e}")));

pub async fn run(step: &LabNetStep, ctx: &RunContext<'_>, tctx: &Value) -> Result<ActionOutput, ActionError> {
    let seconds = |value: Option<&toml::Value>, key: &str| -> Result<u64, ActionError> {
        let seconds = value
            .map(|v| super::value_u64(v, tctx, key))
            .transpose()?
            .flatten()
            .unwrap_or(0);
        if seconds > MAX_LAB_NET_WAIT_S {
            return Err(ActionError::Definition(format!(
                "`{key}` of {seconds} s exceeds the {MAX_LAB_NET_WAIT_S} s bound"
            )));
        }
        Ok(seconds)
    };
    let wait = seconds(step.wait_s.as_ref(), "wait_s")?;
    let recorded_at_least = seconds(step.recorded_s.as_ref(), "recorded_s")?;
    let op = *step.op.get_ref();
    let Some(lab) = ctx.lab_net.as_ref() else {
        return output(observations(op, 0.0, None, &Value::Null, None));
    };
    match op {
        LabNetOp::Snapshot => {}
        LabNetOp::Cut => lab.cut(),
        LabNetOp::Restore => lab.restore(),
    }
    let began = tokio::time::Instant::now();
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    let mut record = lab.snapshot();
    let mut recorded = recorded_for(&record, Utc::now());
    if let Some(up_for) = recorded {
        let short = recorded_at_least as f64 - up_for;
        if short > 0.0 {
            tokio::time::sleep(std::time::Duration::from_secs_f64(short)).await;
            record = lab.snapshot();
            recorded = Some(up_for + short);
        }
    }
    let mut observed = observations(
        op,
        began.elapsed().as_secs_f64(),
        Some(&record),
        &ctx.target.declared,
        ctx.geoip.as_deref(),
    );
    observed["recorded_s"] = json!(recorded.map(f64::round));
    output(observed)
}

/// Seconds from the record's `started` to `now`; `None` when the record names no start.
fn recorded_for(record: &Value, now: DateTime<Utc>) -> Option<f64> {
    let started = str_at(record, "started").and_then(parse_time)?;
    Some(((now - started).num_milliseconds() as f64 / 1000.0).max(0.0))
}

fn output(value: Value) -> Result<ActionOutput, ActionError> {
    Ok(ActionOutput::observed(super::observed_as::<LabNetObservations>(value)?))
}

/// One destination the camera used: a name it asked or named (SNI, HTTP `Host`), or an
/// address it connected to that no name explains.
#[derive(Default)]
struct Seen {
    kind: &'static str,
    protocols: BTreeSet<String>,
    flows: u64,
}

impl Seen {
    /// Whether a flow to this destination could carry the device's data: one in any protocol
    /// but time and name lookups and ICMP. A name only asked, never connected to, carries
    /// none.
    fn carries_data(&self) -> bool {
        self.protocols
            .iter()
            .any(|p| !matches!(p.as_str(), "ntp" | "dns") && !p.starts_with("icmp"))
    }
}

struct Judged<'a> {
    declaration: Option<&'a DeclaredDestination>,
    country: Option<(String, &'static str)>,
}

/// `{count, destinations, unknown_country}` over the destinations outside Vietnam (those
/// that could carry data only, when `carrying_data`).
fn foreign_destinations(
    judged: &BTreeMap<&String, Judged<'_>>,
    seen: &BTreeMap<String, Seen>,
    carrying_data: bool,
) -> Value {
    let considered: Vec<(&String, &Judged<'_>)> = judged
        .iter()
        .filter(|(destination, _)| !carrying_data || seen.get(**destination).is_some_and(Seen::carries_data))
        .map(|(destination, j)| (*destination, j))
        .collect();
    let foreign: Vec<Value> = considered
        .iter()
        .filter_map(|(destination, j)| {
            let (country, source) = j.country.as_ref()?;
            (country != "VN")
                .then(|| json!({ "destination": destination, "country": country, "country_source": source }))
        })
        .collect();
    let unknown_country = considered.iter().filter(|(_, j)| j.country.is_none()).count();
    json!({ "count": foreign.len(), "destinations": foreign, "unknown_country": unknown_country })
}

fn observations(
    op: LabNetOp,
    waited: f64,
    record: Option<&Value>,
    declared: &Value,
    geoip: Option<&GeoIpTable>,
) -> Value {
    let Some(record) = record else {
        return json!({
            "lab_net_given": false, "op": op.as_str(), "waited_s": 0.0, "recorded_s": null,
            "mode": null, "declared_given": null, "geoip_given": null,
            "destinations": null, "undeclared_destinations": null, "cleartext_flows": null,
            "cleartext_credentials": null, "update_flows_plaintext": null, "update_flows": null,
            "tls_authentication": null, "tls_unauthenticated": null,
            "update_declared": null, "declared_services": null, "declared_activity_seen": null,
            "telemetry_destinations": null, "foreign_destinations": null,
            "storage_location": null, "foreign_data_destinations": null, "outages": null,
            "syn_rate_after_restore": null, "max_syns_per_second_after_restore": null,
            "max_syns_per_second_during_outage": null,
            "counts": null,
        });
    };
    let declarations: Option<Vec<DeclaredDestination>> = declared
        .get("destinations")
        .filter(|v| !v.is_null())
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let lab: Option<IpAddr> = str_at(record, "lab_address").and_then(|s| s.parse().ok());
    let is_lab = |ip: Option<IpAddr>| ip.is_some() && ip == lab;

    // Names the camera asked, in time order, for the flows to the sinkhole that carry no name.
    let mut asked: Vec<(&str, &str, String)> = Vec::new();
    for q in array_at(record, "/dns/questions") {
        let client = str_at(q, "client").unwrap_or_default();
        if is_lab(client.parse().ok()) {
            continue;
        }
        if let Some(name) = str_at(q, "name").map(normalise_name).filter(|n| !n.is_empty()) {
            asked.push((client, str_at(q, "time").unwrap_or_default(), name));
        }
    }
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    for (_, _, name) in &asked {
        seen.entry(name.clone()).or_insert_with(|| Seen {
            kind: "name",
            ..Default::default()
        });
    }

    let mut camera_flows = 0u64;
    let mut tls_flows = 0u64;
    let mut cleartext = Vec::new();
    let mut credentials = Vec::new();
    let mut updates_plain = Vec::new();
    let mut updates = Vec::new();
    let mut update_legacy_tls = 0u64;
    let mut update_unauthenticated = 0u64;
    let mut update_authentication_unknown = 0u64;
    let mut unauthenticated = Vec::new();
    let (mut answered, mut rejected, mut accepted) = (0u64, 0u64, 0u64);
    let mut camera_syns: Vec<DateTime<Utc>> = Vec::new();
    let mut syn_flows: Vec<Vec<DateTime<Utc>>> = Vec::new();
    for flow in array_at(record, "/flows") {
        let client = str_at(flow, "client").and_then(parse_endpoint);
        let server = str_at(flow, "server").and_then(parse_endpoint);
        let (Some(client), Some(server)) = (client, server) else {
            continue;
        };
        // hopquy's own probes of the camera, and the network's own services, are not
        // destinations of the camera.
        // ICMP with hopquy's address is an echo reply or an error about one of hopquy's own
        // probes (the flow table orients it camera → hopquy), never a service it contacts.
        let icmp_with_lab = matches!(str_at(flow, "proto"), Some("icmp" | "icmpv6")) && is_lab(Some(server.ip()));
        if is_lab(Some(client.ip())) || is_infrastructure(client, server, lab) || icmp_with_lab {
            continue;
        }
        camera_flows += 1;
        let tls = flow.get("tls").filter(|t| t.is_object());
        let plaintext = flow.get("plaintext").filter(|p| p.is_object());
        let named = tls
            .and_then(|t| str_at(t, "sni"))
            .or_else(|| plaintext.and_then(|p| str_at(p, "host")))
            .map(|host| normalise_name(strip_port(host)))
            .filter(|n| !n.is_empty());
        let (destination, kind) = match named {
            Some(name) => (name, "name"),
            None if is_lab(Some(server.ip())) => {
                // Sinkhole mode answers every name with hopquy's address: the flow went to the
                // last name this client asked before it, if any.
                let first_seen = str_at(flow, "first_seen").unwrap_or_default();
                let client_ip = client.ip().to_string();
                match asked.iter().rev().find(|(c, t, _)| *c == client_ip && *t <= first_seen) {
                    Some((_, _, name)) => (name.clone(), "name"),
                    None => (server.ip().to_string(), "address"),
                }
            }
            None => (server.ip().to_string(), "address"),
        };
        let protocol = if tls.is_some() {
            "tls".to_string()
        } else if let Some(p) = plaintext.and_then(|p| str_at(p, "protocol")) {
            p.to_string()
        } else {
            format!("{}/{}", str_at(flow, "proto").unwrap_or("ip"), server.port())
        };
        if tls.is_some() {
            tls_flows += 1;
        }
        let entry = seen.entry(destination.clone()).or_insert_with(|| Seen {
            kind,
            ..Default::default()
        });
        entry.flows += 1;
        entry.protocols.insert(protocol.clone());

        // Sinkhole mode answers TLS handshakes with a certificate no camera can trust: a
        // camera that refuses it authenticates its server, one that finishes accepts any.
        let interception = flow.get("interception").filter(|i| i.is_object());
        let server_authenticated = interception.and_then(|i| match str_at(i, "outcome") {
            Some("rejected") => Some(true),
            Some("accepted") => Some(false),
            _ => None,
        });
        if interception.is_some() {
            answered += 1;
        }
        match server_authenticated {
            Some(true) => rejected += 1,
            Some(false) => accepted += 1,
            None => {}
        }
        // What an accepting camera sent inside, read as cleartext.
        let inside = interception.and_then(|i| i.get("inside")).filter(|p| p.is_object());
        let inside_credentials: Vec<&str> = array_at_opt(inside, "/credentials")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if server_authenticated == Some(false) {
            unauthenticated.push(json!({
                "destination": destination, "server_port": server.port(),
                "inside_protocol": inside.and_then(|p| str_at(p, "protocol")),
                "inside_path": inside.and_then(|p| str_at(p, "path")),
                "inside_credentials": inside_credentials,
            }));
        }

        let path = plaintext.or(inside).and_then(|p| str_at(p, "path")).unwrap_or_default();
        let declared_for_updates = declarations
            .as_deref()
            .and_then(|d| declaration_of(d, &destination, kind))
            .is_some_and(|d| UPDATE_WORDS.is_match(&d.purpose));
        let update_why = if declared_for_updates {
            Some("declared for updates")
        } else if UPDATE_WORDS.is_match(&destination) || UPDATE_WORDS.is_match(path) {
            Some("host or path names an update")
        } else {
            None
        };
        if let Some(why) = update_why {
            let best_tls = tls.and_then(best_offered_tls);
            let legacy = tls.is_some() && best_tls.as_deref().is_none_or(|v| !MODERN_TLS.contains(&v));
            if legacy {
                update_legacy_tls += 1;
            }
            let in_clear = plaintext.is_some_and(|_| CLEARTEXT.contains(&protocol.as_str()));
            if server_authenticated == Some(false) {
                update_unauthenticated += 1;
            } else if !in_clear && server_authenticated.is_none() {
                update_authentication_unknown += 1;
            }
            updates.push(json!({
                "protocol": protocol, "destination": destination, "why": why,
                "path": (!path.is_empty()).then_some(path),
                "best_tls_offered": best_tls,
                "server_authenticated": server_authenticated,
                "alert": interception.and_then(|i| str_at(i, "alert")),
            }));
        }
        if let Some(plain) = plaintext
            && CLEARTEXT.contains(&protocol.as_str())
        {
            cleartext.push(json!({ "protocol": protocol, "destination": destination }));
            let kinds: Vec<&str> = plain
                .get("credentials")
                .and_then(Value::as_array)
                .map(|list| list.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !kinds.is_empty() {
                credentials.push(json!({ "protocol": protocol, "destination": destination, "kinds": kinds }));
            }
            if let Some(why) = update_why {
                updates_plain.push(json!({
                    "protocol": protocol, "destination": destination,
                    "path": str_at(plain, "path"), "why": why,
                }));
            }
        }
        if str_at(flow, "proto") == Some("tcp") {
            let times: Vec<DateTime<Utc>> = array_at(flow, "/tcp_syn_times")
                .iter()
                .filter_map(Value::as_str)
                .filter_map(parse_time)
                .collect();
            camera_syns.extend(times.iter().copied());
            syn_flows.push(times);
        }
    }

    let judged: BTreeMap<&String, Judged<'_>> = seen
        .iter()
        .map(|(destination, s)| {
            let declaration = declarations
                .as_deref()
                .and_then(|d| declaration_of(d, destination, s.kind));
            let country = declaration.map(|d| (d.country.clone(), "declared")).or_else(|| {
                let ip: IpAddr = destination.parse().ok()?;
                geoip?.country(ip).map(|c| (c.to_string(), "geoip"))
            });
            (destination, Judged { declaration, country })
        })
        .collect();
    let list: Vec<Value> = seen
        .iter()
        .map(|(destination, s)| {
            let j = &judged[destination];
            json!({
                "destination": destination, "kind": s.kind,
                "declared": j.declaration.is_some(),
                "purpose": j.declaration.map(|d| d.purpose.as_str()),
                "country": j.country.as_ref().map(|c| c.0.as_str()),
                "country_source": j.country.as_ref().map(|c| c.1),
                "protocols": s.protocols, "flows": s.flows,
            })
        })
        .collect();
    let undeclared: Vec<&String> = judged
        .iter()
        .filter(|(_, j)| j.declaration.is_none())
        .map(|(d, _)| *d)
        .collect();
    let telemetry: Vec<Value> = judged
        .iter()
        .filter_map(|(destination, j)| {
            let d = j.declaration.filter(|d| TELEMETRY_WORDS.is_match(&d.purpose))?;
            Some(json!({ "destination": destination, "purpose": d.purpose, "protocols": seen[*destination].protocols }))
        })
        .collect();
    let foreign = foreign_destinations(&judged, &seen, false);
    let foreign_data = foreign_destinations(&judged, &seen, true);
    let storage_location = declared
        .get("data_storage")
        .and_then(|s| s.get("location"))
        .and_then(Value::as_str);
    // Which declared services the record shows in use: a declaration covers a destination
    // the way `declaration_of` decides.
    let declared_use = declarations.as_deref().map(|declared| {
        let unseen: Vec<String> = declared
            .iter()
            .filter(|d| {
                !seen
                    .iter()
                    .any(|(destination, s)| declaration_of(std::slice::from_ref(*d), destination, s.kind).is_some())
            })
            .map(|d| d.host.clone().or_else(|| d.network.clone()).unwrap_or_default())
            .collect();
        (declared.len(), unseen)
    });
    let update_declared = declarations
        .as_deref()
        .map(|declared| declared.iter().any(|d| UPDATE_WORDS.is_match(&d.purpose)));

    let events = array_at(record, "/outages");
    let last = |event: &str| {
        events
            .iter()
            .rev()
            .find(|e| str_at(e, "event") == Some(event))
            .and_then(|e| str_at(e, "time"))
    };
    let count = |event: &str| events.iter().filter(|e| str_at(e, "event") == Some(event)).count();
    let restored_at = last("restore");
    let storm = restored_at.and_then(parse_time).map(|restored| {
        let mut after: Vec<DateTime<Utc>> = camera_syns.iter().copied().filter(|t| *t >= restored).collect();
        after.sort_unstable();
        let (max, busiest) = busiest_second(&after);
        let connections = syn_flows
            .iter()
            .filter(|times| times.iter().any(|t| *t >= restored))
            .count();
        (after.len(), connections, max, busiest)
    });
    // The retry rate while the uplink was cut: a tight loop shows here even when the device
    // reconnects calmly once the uplink is back.
    let during_outage = last("cut").and_then(parse_time).map(|cut| {
        let end = restored_at.and_then(parse_time).filter(|r| *r >= cut);
        let mut within: Vec<DateTime<Utc>> = camera_syns
            .iter()
            .copied()
            .filter(|t| *t >= cut && end.is_none_or(|e| *t < e))
            .collect();
        within.sort_unstable();
        busiest_second(&within).0
    });
    let capture = record.get("capture");
    let dropped = ["dropped_rate_cap", "dropped_pcap_cap"]
        .iter()
        .filter_map(|k| capture.and_then(|c| c.get(*k)).and_then(Value::as_u64))
        .sum::<u64>();

    json!({
        "lab_net_given": true,
        "op": op.as_str(),
        "waited_s": (waited * 10.0).round() / 10.0,
        "recorded_s": null,
        "mode": str_at(record, "mode"),
        "declared_given": declarations.is_some(),
        "geoip_given": geoip.is_some(),
        "destinations": { "count": list.len(), "destinations": list },
        "undeclared_destinations": { "count": undeclared.len(), "destinations": undeclared },
        "cleartext_flows": { "count": cleartext.len(), "flows": cleartext },
        "cleartext_credentials": { "count": credentials.len(), "flows": credentials },
        "update_flows_plaintext": { "count": updates_plain.len(), "flows": updates_plain },
        "update_flows": {
            "count": updates.len(), "legacy_tls": update_legacy_tls,
            "unauthenticated": update_unauthenticated,
            "authentication_unknown": update_authentication_unknown,
            "flows": updates,
        },
        "tls_authentication": { "answered": answered, "rejected": rejected, "accepted": accepted },
        "tls_unauthenticated": { "count": unauthenticated.len(), "flows": unauthenticated },
        "update_declared": update_declared,
        "declared_services": declared_use.as_ref().map(|(count, unseen)| json!({
            "count": count, "seen": count - unseen.len(), "unseen": unseen,
        })),
        "declared_activity_seen": declared_use.as_ref().map(|(count, unseen)| *count == 0 || unseen.len() < *count),
        "telemetry_destinations": { "count": telemetry.len(), "destinations": telemetry },
        "foreign_destinations": foreign,
        "storage_location": storage_location,
        "foreign_data_destinations": foreign_data,
        "outages": {
            "cuts": count("cut"), "restores": count("restore"),
            "last_cut": last("cut"), "last_restore": restored_at,
        },
        "syn_rate_after_restore": storm.as_ref().map(|(syns, connections, max, busiest)| json!({
            "restored_at": restored_at, "syns": syns, "connections": connections,
            "max_syns_per_second": max, "busiest_second": busiest.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        })),
        "max_syns_per_second_after_restore": storm.map(|(_, _, max, _)| max),
        "max_syns_per_second_during_outage": during_outage,
        "counts": {
            "dns_questions": asked.len(),
            "flows": array_at(record, "/flows").len(),
            "camera_flows": camera_flows,
            "tls_flows": tls_flows,
            "flows_over_cap": record.get("flows_over_cap").and_then(Value::as_u64).unwrap_or(0),
            "frames_dropped": dropped,
        },
    })
}

/// TLS versions a current client offers; anything older is legacy (EN 303 645 5.5-1 via
/// TS 103 701's "best practice cryptography").
const MODERN_TLS: &[&str] = &["TLS1.2", "TLS1.3"];

/// The newest version a ClientHello offered: its `supported_versions` list where it sent
/// one (TLS 1.3 clients), else the hello's own version field.
fn best_offered_tls(tls: &Value) -> Option<String> {
    let rank = |v: &str| match v {
        "SSLv3" => Some(0),
        "TLS1.0" => Some(1),
        "TLS1.1" => Some(2),
        "TLS1.2" => Some(3),
        "TLS1.3" => Some(4),
        _ => None,
    };
    array_at(tls, "/offered_versions")
        .iter()
        .filter_map(Value::as_str)
        .chain(str_at(tls, "client_hello_version"))
        .filter_map(|v| rank(v).map(|r| (r, v)))
        .max_by_key(|(r, _)| *r)
        .map(|(_, v)| v.to_string())
}

/// The declaration covering a destination: a name by `host` (equal, or below a `*.` one), an
/// address by `network`.
fn declaration_of<'a>(
    declared: &'a [DeclaredDestination],
    destination: &str,
    kind: &str,
) -> Option<&'a DeclaredDestination> {
    declared.iter().find(|d| match kind {
        "address" => {
            let Ok(ip) = destination.parse::<IpAddr>() else {
                return false;
            };
            d.network
                .as_deref()
                .and_then(|n| Network::parse(n).ok())
                .is_some_and(|n| n.contains(ip))
                || d.host.as_deref().is_some_and(|h| h == destination)
        }
        _ => d.host.as_deref().is_some_and(|host| {
            let host = normalise_name(host);
            match host.strip_prefix("*.") {
                Some(parent) => destination.ends_with(&format!(".{parent}")),
                None => host == destination,
            }
        }),
    })
}

/// DHCP, the lab's DNS server, and multicast or broadcast (local discovery, not a service).
fn is_infrastructure(client: SocketAddr, server: SocketAddr, lab: Option<IpAddr>) -> bool {
    let dhcp = matches!((client.port(), server.port()), (68, 67) | (67, 68) | (546, 547));
    let lab_dns = Some(server.ip()) == lab && server.port() == 53;
    let local = match server.ip() {
        IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_multicast(),
    };
    dhcp || lab_dns || local
}

/// Most SYNs within any one second (a window opening at each SYN) and when it opened.
fn busiest_second(sorted: &[DateTime<Utc>]) -> (u64, Option<DateTime<Utc>>) {
    let mut best = (0u64, None);
    let mut start = 0;
    for end in 0..sorted.len() {
        while sorted[end] - sorted[start] >= chrono::TimeDelta::seconds(1) {
            start += 1;
        }
        let n = (end - start + 1) as u64;
        if n > best.0 {
            best = (n, Some(sorted[start]));
        }
    }
    best
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

fn parse_endpoint(text: &str) -> Option<SocketAddr> {
    text.parse().ok()
}

fn strip_port(host: &str) -> &str {
    // `[2001:db8::1]:443`, `name:8080`; a bare IPv6 address has several colons and no port.
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

fn normalise_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn array_at_opt<'a>(value: Option<&'a Value>, pointer: &str) -> &'a [Value] {
    value.map_or(&[], |v| array_at(v, pointer))
}

fn array_at<'a>(value: &'a Value, pointer: &str) -> &'a [Value] {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::test_support;
    use hopquy_case::actions;
    use std::sync::{Arc, Mutex};

    const LAB: &str = "10.77.0.1";
    const CAM: &str = "10.77.0.100";

    fn declared() -> Value {
        json!({ "destinations": [
            { "host": "cloud.example.com", "purpose": "cloud video", "country": "VN", "protocol": "https" },
            { "host": "*.fw.example.com", "purpose": "firmware updates", "country": "VN", "protocol": "https" },
            { "network": "203.0.113.0/24", "purpose": "telemetry", "country": "SG", "protocol": "https" },
        ]})
    }

    fn flow(proto: &str, client: &str, server: &str, first_seen: &str, syns: &[&str]) -> Value {
        json!({
            "proto": proto, "client": client, "server": server,
            "packets_out": 1, "bytes_out": 60, "packets_in": 1, "bytes_in": 60,
            "first_seen": first_seen, "last_seen": first_seen,
            "tcp_syn_count": syns.len(), "tcp_syn_times": syns, "tcp_rst_count": 0,
            "answered_by": "sinkhole listener", "tls": null, "plaintext": null,
        })
    }

    fn with(mut flow: Value, key: &str, value: Value) -> Value {
        flow[key] = value;
        flow
    }

    fn question(time: &str, name: &str) -> Value {
        json!({ "time": time, "client": CAM, "name": name, "qtype": "A", "answer": "A 10.77.0.1" })
    }

    fn record(flows: Vec<Value>, questions: Vec<Value>, outages: Vec<Value>) -> Value {
        json!({
            "schema_version": 1, "iface": "veth-lab", "mode": "sinkhole", "subnet": "10.77.0.0/24",
            "lab_address": LAB, "started": "2026-12-03T10:00:00.000Z", "stopped": null,
            "dns": { "questions": questions, "questions_over_cap": 0, "malformed": 0 },
            "flows": flows, "flows_over_cap": 0, "outages": outages,
            "capture": { "dropped_rate_cap": 2, "dropped_pcap_cap": 0 },
        })
    }

    fn outage(time: &str, event: &str) -> Value {
        json!({ "time": time, "event": event, "effect": "sinkhole: DNS unanswered, connections reset" })
    }

    fn tls(sni: Option<&str>) -> Value {
        json!({ "sni": sni, "client_hello_version": "TLS 1.2", "offered_versions": ["TLS 1.3"], "offered_cipher_count": 9 })
    }

    fn http(host: &str, path: &str, credentials: &[&str]) -> Value {
        json!({ "protocol": "http", "method": "GET", "host": host, "path": path, "credentials": credentials, "detail": null })
    }

    /// A camera that does everything a case must catch: an undeclared name, a credential in
    /// clear, an update check over plain HTTP, a hard-coded foreign address, and a reconnect
    /// storm after the outage.
    fn offending() -> Value {
        let cam = |port: u16| format!("{CAM}:{port}");
        let lab = |port: u16| format!("{LAB}:{port}");
        let storm: Vec<String> = (0..12).map(|i| format!("2026-12-03T10:05:00.{:03}Z", i * 40)).collect();
        let storm: Vec<&str> = storm.iter().map(String::as_str).collect();
        record(
            vec![
                // DHCP and the lab resolver: the network itself.
                flow(
                    "udp",
                    "0.0.0.0:68",
                    "255.255.255.255:67",
                    "2026-12-03T10:00:01.000Z",
                    &[],
                ),
                flow("udp", &cam(5353), &lab(53), "2026-12-03T10:00:02.000Z", &[]),
                // hopquy's own probe with the lab's credentials: not the camera's traffic.
                with(
                    flow(
                        "tcp",
                        &lab(40000),
                        &cam(80),
                        "2026-12-03T10:00:03.000Z",
                        &["2026-12-03T10:00:03.000Z"],
                    ),
                    "plaintext",
                    http(CAM, "/ISAPI", &["authorization: basic"]),
                ),
                // The camera's echo reply to hopquy's ping, oriented camera → hopquy.
                flow("icmp", &cam(0), &lab(0), "2026-12-03T10:00:03.500Z", &[]),
                with(
                    flow(
                        "tcp",
                        &cam(41000),
                        &lab(443),
                        "2026-12-03T10:01:00.000Z",
                        &["2026-12-03T10:01:00.000Z"],
                    ),
                    "tls",
                    tls(Some("cloud.example.com")),
                ),
                with(
                    flow(
                        "tcp",
                        &cam(41001),
                        &lab(80),
                        "2026-12-03T10:01:01.000Z",
                        &["2026-12-03T10:01:01.000Z"],
                    ),
                    "plaintext",
                    http("dl.fw.example.com:80", "/api/check?version=<redacted>", &[]),
                ),
                // No name in the flow: the last name the camera asked before it.
                with(
                    flow(
                        "tcp",
                        &cam(41002),
                        &lab(1883),
                        "2026-12-03T10:01:03.000Z",
                        &["2026-12-03T10:01:03.000Z"],
                    ),
                    "plaintext",
                    json!({ "protocol": "mqtt", "method": null, "host": null, "path": null, "credentials": ["mqtt password"], "detail": null }),
                ),
                flow(
                    "tcp",
                    &cam(41003),
                    "198.51.100.9:8000",
                    "2026-12-03T10:01:04.000Z",
                    &["2026-12-03T10:01:04.000Z"],
                ),
                with(
                    flow(
                        "tcp",
                        &cam(41004),
                        "203.0.113.5:443",
                        "2026-12-03T10:01:05.000Z",
                        &["2026-12-03T10:01:05.000Z"],
                    ),
                    "tls",
                    tls(None),
                ),
                with(
                    flow("tcp", &cam(41005), &lab(443), "2026-12-03T10:05:00.000Z", &storm),
                    "tls",
                    tls(Some("cloud.example.com")),
                ),
            ],
            vec![
                question("2026-12-03T10:00:59.000Z", "cloud.example.com."),
                question("2026-12-03T10:01:00.500Z", "dl.fw.example.com"),
                question("2026-12-03T10:01:02.000Z", "Tracker.AdNet.example"),
            ],
            vec![
                outage("2026-12-03T10:03:00.000Z", "cut"),
                outage("2026-12-03T10:05:00.000Z", "restore"),
            ],
        )
    }

    /// A camera that speaks TLS to its declared cloud only and backs off after the outage.
    fn compliant() -> Value {
        let syns = [
            "2026-12-03T10:05:01.000Z",
            "2026-12-03T10:05:03.000Z",
            "2026-12-03T10:05:07.000Z",
        ];
        record(
            vec![with(
                flow(
                    "tcp",
                    &format!("{CAM}:41000"),
                    &format!("{LAB}:443"),
                    "2026-12-03T10:05:01.000Z",
                    &syns,
                ),
                "tls",
                tls(Some("cloud.example.com")),
            )],
            vec![question("2026-12-03T10:00:59.000Z", "cloud.example.com")],
            vec![
                outage("2026-12-03T10:03:00.000Z", "cut"),
                outage("2026-12-03T10:05:00.000Z", "restore"),
            ],
        )
    }

    fn geoip() -> GeoIpTable {
        hopquy_case::parse_geoip(hopquy_case::error::SourceFile::new(
            std::path::Path::new("geoip.csv"),
            "network,country\n198.51.100.0/24,CN\n",
        ))
        .unwrap_or_else(|d| panic!("{d:?}"))
    }

    fn judge(record: &Value) -> Value {
        observations(LabNetOp::Snapshot, 0.0, Some(record), &declared(), Some(&geoip()))
    }

    fn names(list: &Value) -> Vec<&str> {
        list.as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|v| v.as_str().or_else(|| v["destination"].as_str()))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn undeclared_names_and_addresses_are_found_and_declared_ones_are_not() {
        let o = judge(&offending());
        assert_eq!(o["lab_net_given"], true);
        assert_eq!(o["declared_given"], true);
        assert_eq!(
            names(&o["undeclared_destinations"]["destinations"]),
            ["198.51.100.9", "tracker.adnet.example"]
        );
        // The DHCP broadcast, the resolver, hopquy's own probe and the camera's ICMP answer
        // to it are no destination.
        let all = names(&o["destinations"]["destinations"]);
        assert!(
            !all.iter().any(|d| d.contains("255.255") || *d == LAB || *d == CAM),
            "{all:?}"
        );
        assert_eq!(o["counts"]["camera_flows"], 6);
        assert_eq!(o["counts"]["frames_dropped"], 2);
        let fine = judge(&compliant());
        assert_eq!(fine["undeclared_destinations"]["count"], 0);
        // Without a declaration every destination is undeclared, and the case can tell why.
        let bare = observations(LabNetOp::Snapshot, 0.0, Some(&compliant()), &json!({}), None);
        assert_eq!(bare["declared_given"], false);
        assert_eq!(bare["undeclared_destinations"]["count"], 1);
    }

    #[test]
    fn cleartext_flows_and_credentials_are_reported_without_values() {
        let o = judge(&offending());
        assert_eq!(o["cleartext_flows"]["count"], 2);
        assert_eq!(
            o["cleartext_credentials"]["flows"],
            json!([{ "protocol": "mqtt", "destination": "tracker.adnet.example", "kinds": ["mqtt password"] }])
        );
        let c = judge(&compliant());
        assert_eq!(c["cleartext_flows"]["count"], 0);
        assert_eq!(c["cleartext_credentials"]["count"], 0);
    }

    #[test]
    fn an_update_check_over_plain_http_is_an_update_flow_in_clear() {
        let o = judge(&offending());
        assert_eq!(o["update_flows_plaintext"]["count"], 1);
        assert_eq!(
            o["update_flows_plaintext"]["flows"][0]["destination"],
            "dl.fw.example.com"
        );
        assert_eq!(o["update_flows_plaintext"]["flows"][0]["why"], "declared for updates");
        assert_eq!(judge(&compliant())["update_flows_plaintext"]["count"], 0);
    }

    fn intercepted(outcome: &str, alert: Option<&str>, inside: Value) -> Value {
        json!({
            "time": "2026-12-03T10:00:05.000Z", "client": format!("{CAM}:40001"), "server_port": 443,
            "sni": "dl.fw.example.com", "outcome": outcome, "alert": alert, "detail": null, "inside": inside,
        })
    }

    #[test]
    fn an_intercepted_update_check_says_whether_the_device_authenticated_its_server() {
        let tls_update = || {
            with(
                flow(
                    "tcp",
                    &format!("{CAM}:40001"),
                    &format!("{LAB}:443"),
                    "2026-12-03T10:00:05.000Z",
                    &[],
                ),
                "tls",
                tls(Some("dl.fw.example.com")),
            )
        };
        let update = |interception: Value| {
            judge(&record(
                vec![with(tls_update(), "interception", interception)],
                vec![],
                vec![],
            ))
        };
        let refused = update(intercepted("rejected", Some("unknown_ca"), Value::Null));
        assert_eq!(refused["update_flows"]["count"], 1);
        assert_eq!(refused["update_flows"]["unauthenticated"], 0);
        assert_eq!(refused["update_flows"]["authentication_unknown"], 0);
        assert_eq!(refused["update_flows"]["flows"][0]["server_authenticated"], true);
        assert_eq!(refused["update_flows"]["flows"][0]["alert"], "unknown_ca");
        assert_eq!(refused["tls_authentication"]["rejected"], 1);
        assert_eq!(refused["tls_unauthenticated"]["count"], 0);

        let inside =
            json!({ "protocol": "http", "path": "/check?v=<redacted>", "credentials": ["authorization: basic"] });
        let accepted = update(intercepted("accepted", None, inside));
        assert_eq!(accepted["update_flows"]["unauthenticated"], 1);
        assert_eq!(accepted["update_flows"]["flows"][0]["server_authenticated"], false);
        assert_eq!(accepted["update_flows"]["flows"][0]["path"], "/check?v=<redacted>");
        assert_eq!(accepted["tls_unauthenticated"]["count"], 1);
        let seen = &accepted["tls_unauthenticated"]["flows"][0];
        assert_eq!(seen["destination"], "dl.fw.example.com");
        assert_eq!(seen["inside_credentials"], json!(["authorization: basic"]));

        // A handshake that decided nothing leaves the update flow's authentication unknown.
        let undecided = update(intercepted("timed_out", None, Value::Null));
        assert_eq!(undecided["update_flows"]["authentication_unknown"], 1);
        assert_eq!(
            undecided["update_flows"]["flows"][0]["server_authenticated"],
            Value::Null
        );
        let unanswered = judge(&record(vec![tls_update()], vec![], vec![]));
        assert_eq!(unanswered["update_flows"]["authentication_unknown"], 1);
    }

    #[test]
    fn countries_come_from_the_declaration_else_the_geoip_file() {
        let o = judge(&offending());
        let foreign = &o["foreign_destinations"];
        assert_eq!(
            foreign["destinations"],
            json!([
                { "destination": "198.51.100.9", "country": "CN", "country_source": "geoip" },
                { "destination": "203.0.113.5", "country": "SG", "country_source": "declared" },
            ])
        );
        assert_eq!(foreign["unknown_country"], 1, "the undeclared name has no country");
        assert_eq!(o["telemetry_destinations"]["count"], 1);
        assert_eq!(judge(&compliant())["foreign_destinations"]["count"], 0);
        let c = judge(&compliant());
        assert_eq!(
            c["declared_services"],
            json!({ "count": 3, "seen": 1, "unseen": ["*.fw.example.com", "203.0.113.0/24"] })
        );
        assert_eq!(c["declared_activity_seen"], true);
        assert_eq!(c["update_declared"], true);
        let silent = record(vec![], vec![], vec![]);
        assert_eq!(
            judge(&silent)["declared_activity_seen"],
            false,
            "declared services, none used"
        );
        let none_declared = observations(
            LabNetOp::Snapshot,
            0.0,
            Some(&silent),
            &json!({ "destinations": [] }),
            None,
        );
        assert_eq!(
            none_declared["declared_activity_seen"], true,
            "declares nothing, contacted nothing"
        );
        assert_eq!(none_declared["update_declared"], false);
        let undeclared = observations(LabNetOp::Snapshot, 0.0, Some(&silent), &json!({}), None);
        assert!(undeclared["declared_activity_seen"].is_null());
        let no_geoip = observations(LabNetOp::Snapshot, 0.0, Some(&offending()), &declared(), None);
        assert_eq!(no_geoip["geoip_given"], false);
        assert_eq!(no_geoip["foreign_destinations"]["count"], 1);
    }

    #[test]
    fn only_destinations_that_can_carry_data_count_against_storing_in_vietnam() {
        let ntp = |server: &str| {
            with(
                flow("udp", &format!("{CAM}:123"), server, "2026-12-03T10:00:05.000Z", &[]),
                "plaintext",
                json!({ "protocol": "ntp", "method": null, "host": null, "path": null, "credentials": [], "detail": "version 4" }),
            )
        };
        // Time from a foreign server, a ping abroad, and video to a VN cloud: nothing counts.
        let calm = record(
            vec![
                ntp("198.51.100.9:123"),
                flow(
                    "icmp",
                    &format!("{CAM}:0"),
                    "198.51.100.10:0",
                    "2026-12-03T10:00:06.000Z",
                    &[],
                ),
                with(
                    flow(
                        "tcp",
                        &format!("{CAM}:41000"),
                        &format!("{LAB}:443"),
                        "2026-12-03T10:00:07.000Z",
                        &["2026-12-03T10:00:07.000Z"],
                    ),
                    "tls",
                    tls(Some("cloud.example.com")),
                ),
            ],
            vec![],
            vec![],
        );
        let with_storage = |storage: Value| {
            let mut d = declared();
            d["data_storage"] = storage;
            d
        };
        let o = observations(
            LabNetOp::Snapshot,
            0.0,
            Some(&calm),
            &with_storage(json!({ "location": "local" })),
            Some(&geoip()),
        );
        assert_eq!(o["storage_location"], "local");
        assert_eq!(
            o["foreign_destinations"]["count"], 2,
            "the NTP server and the pinged address are abroad"
        );
        assert_eq!(
            o["foreign_data_destinations"],
            json!({ "count": 0, "destinations": [], "unknown_country": 0 }),
            "neither carries data"
        );
        // The offending camera's hard-coded foreign address takes a TCP connection: that counts.
        let o = observations(
            LabNetOp::Snapshot,
            0.0,
            Some(&offending()),
            &with_storage(json!({ "location": "vietnam" })),
            Some(&geoip()),
        );
        assert_eq!(o["storage_location"], "vietnam");
        assert!(
            names(&o["foreign_data_destinations"]["destinations"]).contains(&"198.51.100.9"),
            "{}",
            o["foreign_data_destinations"]
        );
        assert!(judge(&calm)["storage_location"].is_null(), "no declaration, no claim");
    }

    #[test]
    fn a_reconnect_storm_shows_in_the_syn_rate_after_restore() {
        let o = judge(&offending());
        assert_eq!(o["max_syns_per_second_after_restore"], 12);
        assert_eq!(o["syn_rate_after_restore"]["syns"], 12);
        assert_eq!(
            o["syn_rate_after_restore"]["busiest_second"],
            "2026-12-03T10:05:00.000Z"
        );
        assert_eq!(o["outages"]["cuts"], 1);
        let c = judge(&compliant());
        assert_eq!(c["max_syns_per_second_after_restore"], 1);
        assert_eq!(c["syn_rate_after_restore"]["connections"], 1);
        // Never restored: nothing to judge, not a zero.
        let never = record(vec![], vec![], vec![outage("2026-12-03T10:03:00.000Z", "cut")]);
        assert!(judge(&never)["max_syns_per_second_after_restore"].is_null());
        assert_eq!(judge(&never)["max_syns_per_second_during_outage"], 0);
        assert_eq!(c["max_syns_per_second_during_outage"], 0, "no attempt while cut");
        let quiet = record(vec![], vec![], vec![]);
        assert!(
            judge(&quiet)["max_syns_per_second_during_outage"].is_null(),
            "never cut"
        );
    }

    struct FakeLab {
        record: Value,
        calls: Mutex<Vec<&'static str>>,
    }

    impl crate::LabNetControl for FakeLab {
        fn snapshot(&self) -> Value {
            self.calls.lock().map(|mut c| c.push("snapshot")).ok();
            self.record.clone()
        }
        fn cut(&self) {
            self.calls.lock().map(|mut c| c.push("cut")).ok();
        }
        fn restore(&self) {
            self.calls.lock().map(|mut c| c.push("restore")).ok();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_op_acts_then_waits_then_reads_and_the_wait_is_bounded() {
        let profile = hopquy_case::ProfileFile::default();
        let mut target = test_support::target("pw", &[]);
        target.declared = declared();
        let (creds, paths) = (Default::default(), Default::default());
        let mut ctx = test_support::context(Default::default(), &profile, &target, &creds, &paths);
        let lab = Arc::new(FakeLab {
            record: compliant(),
            calls: Mutex::new(Vec::new()),
        });
        ctx.lab_net = Some(lab.clone());
        let step = |text: &str| match test_support::action(&format!("id = \"s\"\naction = \"lab-net\"\n{text}")) {
            hopquy_case::StepAction::LabNet(step) => step,
            other => panic!("{other:?}"),
        };
        let started = tokio::time::Instant::now();
        let out = run(&step("op = \"restore\"\nwait_s = 30"), &ctx, &json!({}))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(started.elapsed() >= std::time::Duration::from_secs(30));
        assert_eq!(out.observations["op"], "restore");
        assert_eq!(out.observations["waited_s"], 30.0);
        assert_eq!(
            lab.calls.lock().map(|c| c.clone()).unwrap_or_default(),
            ["restore", "snapshot"]
        );
        let too_long = run(&step("op = \"snapshot\"\nwait_s = 601"), &ctx, &json!({})).await;
        assert!(matches!(too_long, Err(ActionError::Definition(m)) if m.contains("600 s bound")));
        let too_long = run(&step("op = \"snapshot\"\nrecorded_s = 700"), &ctx, &json!({})).await;
        assert!(matches!(too_long, Err(ActionError::Definition(m)) if m.contains("`recorded_s`")));

        // A lab network up for 5 s: `recorded_s = 20` waits the other 15 s, then reads again.
        let mut young = compliant();
        young["started"] =
            json!((Utc::now() - chrono::TimeDelta::seconds(5)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        let lab = Arc::new(FakeLab {
            record: young,
            calls: Mutex::new(Vec::new()),
        });
        ctx.lab_net = Some(lab.clone());
        let started = tokio::time::Instant::now();
        let out = run(&step("op = \"snapshot\"\nrecorded_s = 20"), &ctx, &json!({}))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let waited = started.elapsed().as_secs_f64();
        assert!((14.0..=16.0).contains(&waited), "waited {waited} s");
        assert_eq!(
            lab.calls.lock().map(|c| c.clone()).unwrap_or_default(),
            ["snapshot", "snapshot"]
        );
        assert!(
            out.observations["recorded_s"].as_f64().is_some_and(|s| s >= 19.0),
            "{}",
            out.observations
        );

        ctx.lab_net = None;
        let out = run(&step("op = \"cut\""), &ctx, &json!({}))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.observations["lab_net_given"], false);
        assert!(out.observations["undeclared_destinations"].is_null());
    }

    #[test]
    fn every_observation_is_documented_and_every_documented_one_emitted() {
        let spec = actions::action("lab-net").unwrap_or_else(|| panic!("no lab-net action"));
        let mut documented: Vec<&str> = spec.observations.iter().map(|s| s.name).collect();
        documented.sort_unstable();
        for o in [
            observations(LabNetOp::Snapshot, 0.0, None, &Value::Null, None),
            judge(&offending()),
        ] {
            let mut emitted: Vec<&str> = o
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            emitted.sort_unstable();
            assert_eq!(emitted, documented);
            observed_check(o);
        }
    }

    fn observed_check(o: Value) {
        if let Err(e) = super::super::observed_as::<LabNetObservations>(o) {
            panic!("{e}");
        }
    }
}
