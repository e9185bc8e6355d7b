//! Reading the first bytes of a flow: TLS hellos (tls-parser) and cleartext protocols.
//! Input is whatever the camera (or a peer) sent, truncated anywhere: every function here
//! returns `None` rather than guess, and never panics.

use tls_parser::{
    TlsCipherSuite, TlsExtension, TlsMessage, TlsMessageHandshake, TlsVersion, parse_tls_extensions,
    parse_tls_plaintext,
};

use std::ops::Range;

use crate::record::{Plaintext, TlsSeen};

/// Bytes of each direction kept per flow for inspection.
pub const INSPECT_BYTES: usize = 4096;

fn version_name(v: TlsVersion) -> String {
    match v.0 {
        0x0300 => "SSLv3".into(),
        0x0301 => "TLS1.0".into(),
        0x0302 => "TLS1.1".into(),
        0x0303 => "TLS1.2".into(),
        0x0304 => "TLS1.3".into(),
        // GREASE values (RFC 8701) and drafts: kept as hex so nothing is hidden.
        other => format!("0x{other:04x}"),
    }
}

fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// The ClientHello at the start of `client`, if it is one.
pub fn client_hello(client: &[u8]) -> Option<TlsSeen> {
    let (_, record) = parse_tls_plaintext(client).ok()?;
    for msg in &record.msg {
        if let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) = msg {
            let mut seen = TlsSeen {
                client_hello_version: Some(version_name(ch.version)),
                offered_cipher_count: ch.ciphers.len(),
                ..TlsSeen::default()
            };
            let mut offered = vec![version_name(ch.version)];
            if let Some(ext) = ch.ext
                && let Ok((_, exts)) = parse_tls_extensions(ext)
            {
                for e in exts {
                    match e {
                        TlsExtension::SNI(names) => {
                            seen.sni = names
                                .first()
                                .map(|(_, n)| String::from_utf8_lossy(&n[..n.len().min(255)]).into_owned());
                        }
                        TlsExtension::SupportedVersions(vs) => {
                            offered = vs.into_iter().filter(|v| !is_grease(v.0)).map(version_name).collect();
                        }
                        _ => {}
                    }
                }
            }
            seen.offered_versions = offered;
            return Some(seen);
        }
    }
    None
}

/// The negotiated version and cipher from a ServerHello at the start of `server`.
pub fn server_hello(server: &[u8]) -> Option<(String, String)> {
    let (_, record) = parse_tls_plaintext(server).ok()?;
    for msg in &record.msg {
        if let TlsMessage::Handshake(TlsMessageHandshake::ServerHello(sh)) = msg {
            let mut version = version_name(sh.version);
            if let Some(ext) = sh.ext
                && let Ok((_, exts)) = parse_tls_extensions(ext)
            {
                for e in exts {
                    if let TlsExtension::SupportedVersions(vs) = e
                        && let Some(v) = vs.first()
                    {
                        version = version_name(*v);
                    }
                }
            }
            let cipher = TlsCipherSuite::from_id(sh.cipher.0)
                .map(|c| c.name.to_string())
                .unwrap_or_else(|| format!("0x{:04x}", sh.cipher.0));
            return Some((version, cipher));
        }
    }
    None
}

const HTTP_METHODS: &[&str] = &[
    "GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
];
const RTSP_METHODS: &[&str] = &[
    "OPTIONS",
    "DESCRIBE",
    "SETUP",
    "PLAY",
    "PAUSE",
    "TEARDOWN",
    "ANNOUNCE",
    "RECORD",
    "GET_PARAMETER",
    "SET_PARAMETER",
    "REDIRECT",
];

fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

fn text(b: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&b[..b.len().min(max)]).into_owned()
}

/// `/p?user=x&pwd=y` → `/p?user=<redacted>&pwd=<redacted>`; URL userinfo is dropped.
pub fn redact_target(target: &str) -> (String, bool) {
    let mut userinfo = false;
    let mut t = target.to_string();
    if let Some(scheme_end) = t.find("://") {
        let rest = &t[scheme_end + 3..];
        let auth_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..auth_end].rfind('@') {
            userinfo = true;
            t = format!("{}{}", &t[..scheme_end + 3], &rest[at + 1..]);
        }
    }
    let Some((path, query)) = t.split_once('?') else {
        return (t, userinfo);
    };
    let query: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) => format!("{k}=<redacted>"),
            None => kv.to_string(),
        })
        .collect();
    (format!("{path}?{}", query.join("&")), userinfo)
}

/// Cleartext protocols recognised from the client's first bytes, the server's first bytes,
/// and the ports.
pub fn plaintext(client: &[u8], server: &[u8], server_port: u16, udp: bool) -> Option<Plaintext> {
    let blank = |protocol: &str| Plaintext {
        protocol: protocol.into(),
        method: None,
        host: None,
        path: None,
        credentials: vec![],
        detail: None,
    };
    if udp {
        if server_port == 53 && !client.is_empty() {
            let mut p = blank("dns");
            if let Ok(m) = hickory_proto::op::Message::from_vec(client) {
                p.detail = m.queries().first().map(|q| format!("{} {}", q.name(), q.query_type()));
            }
            return Some(p);
        }
        // An NTP request: 48 bytes or more, version 1–4, mode client or symmetric active.
        if server_port == 123
            && client.len() >= 48
            && (1..=4).contains(&((client[0] >> 3) & 7))
            && matches!(client[0] & 7, 1 | 3)
        {
            let mut p = blank("ntp");
            p.detail = Some(format!("version {}", (client[0] >> 3) & 7));
            return Some(p);
        }
        return None;
    }
    if client.is_empty() && server.is_empty() {
        return None;
    }
    // Telnet option negotiation (IAC WILL/WONT/DO/DONT) from either side.
    for side in [client, server] {
        if side.len() >= 2 && side[0] == 0xff && (0xfb..=0xfe).contains(&side[1]) {
            return Some(blank("telnet"));
        }
    }
    if client.len() >= 2 && client[0] == 0x16 && client[1] == 0x03 {
        return None; // TLS: reported in `tls`
    }
    if let Some(first) = lines(client).next()
        && let Some(p) = request_line(first, client)
    {
        return Some(p);
    }
    if let Some(p) = mqtt_connect(client) {
        return Some(p);
    }
    let banner = lines(server).next().unwrap_or_default();
    let upper = |b: &[u8]| text(b, 512).to_ascii_uppercase();
    let first_client = upper(lines(client).next().unwrap_or_default());
    if banner.starts_with(b"220") || server_port == 21 || server_port == 25 || server_port == 587 {
        let b = upper(banner);
        let smtp = b.contains("SMTP") || first_client.starts_with("EHLO") || first_client.starts_with("HELO");
        let ftp = b.contains("FTP") || first_client.starts_with("USER ");
        if smtp || ftp || !banner.is_empty() {
            let mut p = blank(if smtp { "smtp" } else { "ftp" });
            for l in lines(client) {
                let l = upper(l);
                if l.starts_with("PASS ") {
                    p.credentials.push("ftp PASS".into());
                } else if l.starts_with("AUTH PLAIN") || l.starts_with("AUTH LOGIN") {
                    p.credentials.push("smtp AUTH".into());
                }
            }
            p.detail = Some(text(banner, 120));
            return Some(p);
        }
    }
    if !client.is_empty() {
        let mut p = blank("unknown");
        p.detail = Some(format!(
            "{} bytes, first: {}",
            client.len(),
            hex::encode(&client[..client.len().min(8)])
        ));
        return Some(p);
    }
    None
}

fn request_line(first: &[u8], whole: &[u8]) -> Option<Plaintext> {
    let first = std::str::from_utf8(first).ok()?;
    let mut parts = first.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let protocol = if version.starts_with("HTTP/") && HTTP_METHODS.contains(&method) {
        "http"
    } else if version.starts_with("RTSP/") && RTSP_METHODS.contains(&method) {
        "rtsp"
    } else {
        return None;
    };
    let (path, userinfo) = redact_target(target);
    let mut p = Plaintext {
        protocol: protocol.into(),
        method: Some(method.into()),
        host: None,
        path: Some(path),
        credentials: vec![],
        detail: None,
    };
    if userinfo {
        p.credentials.push("url userinfo".into());
    }
    for line in lines(whole).skip(1) {
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = text(&line[..colon], 64).to_ascii_lowercase();
        let value = text(&line[colon + 1..], 256).trim().to_string();
        match name.as_str() {
            "host" => p.host = Some(value),
            "authorization" | "proxy-authorization" => {
                let scheme = value.split(' ').next().unwrap_or_default().to_ascii_lowercase();
                p.credentials.push(format!("{name}: {scheme}"));
            }
            _ => {}
        }
    }
    Some(p)
}

/// MQTT CONNECT (3.1 `MQIsdp` or 3.1.1/5 `MQTT`): the client id and whether a user name and
/// password were sent in clear.
fn mqtt_connect(b: &[u8]) -> Option<Plaintext> {
    let MqttConnectHeader {
        level,
        flags,
        payload_start: i,
    } = mqtt_connect_header(b)?;
    let id_len = usize::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]));
    let client_id = b.get(i + 2..i + 2 + id_len).map(|id| text(id, 128));
    let mut credentials = vec![];
    if flags & 0x80 != 0 {
        credentials.push("mqtt username".into());
    }
    if flags & 0x40 != 0 {
        credentials.push("mqtt password".into());
    }
    Some(Plaintext {
        protocol: "mqtt".into(),
        method: Some("CONNECT".into()),
        host: None,
        path: None,
        credentials,
        detail: client_id.map(|id| format!("client id {id}, protocol level {level}")),
    })
}

/// Masks credential values in a TCP payload before it goes into the pcap: the values of
/// `Authorization:`/`Proxy-Authorization:` headers, FTP `PASS` and SMTP `AUTH PLAIN|LOGIN`
/// lines, every query value and any userinfo in an HTTP or RTSP request line (the record
/// redacts the same), and the user name and password of an MQTT CONNECT. Returns how many
/// bytes were masked. The record never holds these values; the pcap must not either. A
/// password typed after a prompt is masked by the flow table, which knows the prompt
/// (`FlowTable::observe`).
pub fn mask_credentials(payload: &mut [u8]) -> u64 {
    if let Some(fields) = mqtt_credential_fields(payload) {
        return fields.into_iter().map(|r| mask(&mut payload[r])).sum();
    }
    let mut masked = 0u64;
    let mut start = 0;
    while start < payload.len() {
        let end = payload[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(payload.len(), |p| start + p);
        let line = &payload[start..end];
        if let Some(from) = header_value_start(line) {
            masked += mask(&mut payload[start + from..end]);
        } else {
            for r in request_line_secrets(line) {
                masked += mask(&mut payload[start + r.start..start + r.end]);
            }
        }
        start = end + 1;
    }
    masked
}

/// Overwrites bytes with `*`, keeping line ends so the capture stays readable.
pub fn mask(bytes: &mut [u8]) -> u64 {
    let mut masked = 0;
    for b in bytes {
        if *b != b'\r' && *b != b'\n' {
            *b = b'*';
            masked += 1;
        }
    }
    masked
}

fn header_value_start(line: &[u8]) -> Option<usize> {
    let lower: Vec<u8> = line.iter().take(24).map(u8::to_ascii_lowercase).collect();
    for prefix in [&b"authorization:"[..], b"proxy-authorization:"] {
        if lower.starts_with(prefix) {
            // Keep the scheme readable: mask from the first byte after it.
            let rest = &line[prefix.len()..];
            let lead = rest.iter().take_while(|&&b| b == b' ').count();
            let scheme = rest[lead..].iter().take_while(|&&b| b != b' ').count();
            let after = prefix.len() + lead + scheme;
            return Some(if after < line.len() { after + 1 } else { prefix.len() });
        }
    }
    if lower.starts_with(b"pass ") {
        return Some(5);
    }
    for prefix in [&b"auth plain "[..], b"auth login "] {
        if lower.starts_with(prefix) {
            return Some(prefix.len());
        }
    }
    None
}

/// In `METHOD target HTTP/x` or `RTSP/x`: the userinfo of an absolute target and every
/// query value, as byte ranges of the line.
fn request_line_secrets(line: &[u8]) -> Vec<Range<usize>> {
    let mut ranges = vec![];
    let Some(sp1) = line.iter().position(|&b| b == b' ') else {
        return ranges;
    };
    let method = &line[..sp1];
    let Some(len) = line[sp1 + 1..].iter().position(|&b| b == b' ') else {
        return ranges;
    };
    let (target_start, target_end) = (sp1 + 1, sp1 + 1 + len);
    let version = &line[target_end + 1..];
    let known = |methods: &[&str], v: &[u8]| methods.iter().any(|m| m.as_bytes() == method) && version.starts_with(v);
    if !known(HTTP_METHODS, b"HTTP/") && !known(RTSP_METHODS, b"RTSP/") {
        return ranges;
    }
    let target = &line[target_start..target_end];
    if let Some(scheme_end) = target.windows(3).position(|w| w == b"://") {
        let authority = scheme_end + 3;
        let authority_end = target[authority..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(target.len(), |p| authority + p);
        if let Some(at) = target[authority..authority_end].iter().rposition(|&b| b == b'@') {
            ranges.push(target_start + authority..target_start + authority + at);
        }
    }
    if let Some(q) = target.iter().position(|&b| b == b'?') {
        let mut i = q + 1;
        while i < target.len() {
            let pair_end = target[i..]
                .iter()
                .position(|&b| b == b'&')
                .map_or(target.len(), |p| i + p);
            if let Some(eq) = target[i..pair_end].iter().position(|&b| b == b'=') {
                let value = i + eq + 1;
                if value < pair_end {
                    ranges.push(target_start + value..target_start + pair_end);
                }
            }
            i = pair_end + 1;
        }
    }
    ranges
}

/// The user name and password fields of an MQTT CONNECT that starts the payload (3.1, 3.1.1
/// or 5), as byte ranges; `None` when the payload is not one. Bounded by the payload: a
/// truncated CONNECT masks what it holds of the fields.
fn mqtt_credential_fields(b: &[u8]) -> Option<Vec<Range<usize>>> {
    let header = mqtt_connect_header(b)?;
    let mut i = header.payload_start;
    let mut fields = vec![];
    let field = |i: &mut usize, secret: bool, fields: &mut Vec<Range<usize>>| -> Option<()> {
        let len = usize::from(u16::from_be_bytes([*b.get(*i)?, *b.get(*i + 1)?]));
        let start = *i + 2;
        let end = (start + len).min(b.len());
        if secret {
            fields.push(start..end);
        }
        *i = start + len;
        Some(())
    };
    let _ = field(&mut i, false, &mut fields); // client id
    if header.flags & 0x04 != 0 {
        if header.level >= 5 {
            // Will properties: a varint length and their bytes.
            let (plen, used) = varint(b.get(i..).unwrap_or_default())?;
            i += used + plen;
        }
        let _ = field(&mut i, false, &mut fields); // will topic
        let _ = field(&mut i, false, &mut fields); // will payload
    }
    if header.flags & 0x80 != 0 && field(&mut i, true, &mut fields).is_none() {
        fields.push(i.min(b.len())..b.len());
        return Some(fields);
    }
    if header.flags & 0x40 != 0 && field(&mut i, true, &mut fields).is_none() {
        fields.push(i.min(b.len())..b.len());
    }
    Some(fields)
}

struct MqttConnectHeader {
    level: u8,
    flags: u8,
    /// Where the client id starts.
    payload_start: usize,
}

/// MQTT's variable-length integer: its value and how many bytes it took.
fn varint(b: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (n, shift) in [0, 7, 14, 21].into_iter().enumerate() {
        let byte = *b.get(n)?;
        value |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((value, n + 1));
        }
    }
    None
}

fn mqtt_connect_header(b: &[u8]) -> Option<MqttConnectHeader> {
    if *b.first()? != 0x10 {
        return None;
    }
    let (_, used) = varint(b.get(1..)?)?;
    let mut i = 1 + used;
    let name_len = usize::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]));
    let name = b.get(i + 2..i + 2 + name_len)?;
    if name != b"MQTT" && name != b"MQIsdp" {
        return None;
    }
    i += 2 + name_len;
    let level = *b.get(i)?;
    let flags = *b.get(i + 1)?;
    i += 4; // level, flags, keep-alive
    if level >= 5 {
        let (plen, used) = varint(b.get(i..)?)?;
        i += used + plen;
    }
    Some(MqttConnectHeader {
        level,
        flags,
        payload_start: i,
    })
}

/// Whether a server's bytes end with a password prompt (`Password:`, `passwd:`, SMTP's
/// base64 `334 UGFzc3dvcmQ6`), so the client's next line is a secret.
pub fn ends_with_password_prompt(server: &[u8]) -> bool {
    let tail = &server[server.len().saturating_sub(64)..];
    // Telnet option bytes (IAC …) and other non-text bytes around the prompt are dropped.
    let printable: Vec<u8> = tail
        .iter()
        .copied()
        .filter(|&b| b == b'\n' || (0x20..0x7f).contains(&b))
        .collect();
    let text = String::from_utf8_lossy(&printable).trim_end().to_ascii_lowercase();
    let last = text.rsplit('\n').next().unwrap_or_default().trim();
    last.ends_with("password:")
        || last.ends_with("passwd:")
        || last.ends_with("pass:")
        || last.ends_with("pin:")
        || last == "334 ugfzc3dvcmq6"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TLS 1.3-capable ClientHello for `cam.example.net` (as rustls sends it), cut after
    /// the extensions that matter here.
    fn client_hello_bytes(sni: &str) -> Vec<u8> {
        let mut ext = Vec::new();
        // server_name
        let name = sni.as_bytes();
        let mut sn = vec![0u8];
        sn.extend((name.len() as u16).to_be_bytes());
        sn.extend(name);
        let mut list = (sn.len() as u16).to_be_bytes().to_vec();
        list.extend(sn);
        ext.extend([0x00, 0x00]);
        ext.extend((list.len() as u16).to_be_bytes());
        ext.extend(list);
        // supported_versions: GREASE, 1.3, 1.2
        ext.extend([0x00, 0x2b, 0x00, 0x07, 0x06, 0x7a, 0x7a, 0x03, 0x04, 0x03, 0x03]);
        let mut body = vec![0x03, 0x03];
        body.extend([0u8; 32]);
        body.push(0); // session id
        body.extend([0x00, 0x04, 0x13, 0x01, 0xc0, 0x2f]);
        body.extend([0x01, 0x00]);
        body.extend((ext.len() as u16).to_be_bytes());
        body.extend(ext);
        let mut hs = vec![0x01];
        hs.extend(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend(body);
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend((hs.len() as u16).to_be_bytes());
        rec.extend(hs);
        rec
    }

    #[test]
    fn client_hello_gives_sni_and_versions() {
        let seen = client_hello(&client_hello_bytes("cam.example.net")).expect("a ClientHello");
        assert_eq!(seen.sni.as_deref(), Some("cam.example.net"));
        assert_eq!(seen.offered_versions, vec!["TLS1.3", "TLS1.2"]);
        assert_eq!(seen.offered_cipher_count, 2);
    }

    #[test]
    fn truncated_hellos_are_not_hellos() {
        let full = client_hello_bytes("x.example");
        for cut in 0..full.len() {
            // Must not panic at any cut; a cut record is not a ClientHello.
            let _ = client_hello(&full[..cut]);
            let _ = server_hello(&full[..cut]);
            let _ = plaintext(&full[..cut], &[], 443, false);
        }
        assert!(client_hello(&full[..10]).is_none());
        assert!(client_hello(b"GET / HTTP/1.1\r\n").is_none());
    }

    #[test]
    fn server_hello_gives_negotiated_values() {
        let mut body = vec![0x03, 0x03];
        body.extend([1u8; 32]);
        body.push(0);
        body.extend([0xc0, 0x2f, 0x00]); // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, null comp
        body.extend([0x00, 0x00]);
        let mut hs = vec![0x02];
        hs.extend(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend(body);
        let mut rec = vec![0x16, 0x03, 0x03];
        rec.extend((hs.len() as u16).to_be_bytes());
        rec.extend(hs);
        let (v, c) = server_hello(&rec).expect("a ServerHello");
        assert_eq!(v, "TLS1.2");
        assert_eq!(c, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    }

    #[test]
    fn http_request_with_credentials_is_recorded_without_them() {
        let req = b"GET /cloud/register?sn=ABC123&pwd=hunter2 HTTP/1.1\r\nHost: p2p.vendor.example\r\nAuthorization: Basic YWRtaW46aHVudGVyMg==\r\n\r\n";
        let p = plaintext(req, b"", 80, false).expect("http");
        assert_eq!(p.protocol, "http");
        assert_eq!(p.method.as_deref(), Some("GET"));
        assert_eq!(p.host.as_deref(), Some("p2p.vendor.example"));
        assert_eq!(p.path.as_deref(), Some("/cloud/register?sn=<redacted>&pwd=<redacted>"));
        assert_eq!(p.credentials, vec!["authorization: basic"]);
        let json = serde_json::to_string(&p).expect("serialises");
        assert!(!json.contains("hunter2") && !json.contains("YWRtaW46"), "{json}");
    }

    #[test]
    fn an_ntp_request_is_told_from_other_udp() {
        let mut request = [0u8; 48];
        request[0] = 0x23; // version 4, mode 3 (client)
        let p = plaintext(&request, b"", 123, true).expect("ntp");
        assert_eq!((p.protocol.as_str(), p.detail.as_deref()), ("ntp", Some("version 4")));
        assert!(plaintext(&request[..20], b"", 123, true).is_none(), "too short for NTP");
        request[0] = 0x24; // mode 4 is a server's answer, not the device asking
        assert!(plaintext(&request, b"", 123, true).is_none());
        request[0] = 0x23;
        assert!(plaintext(&request, b"", 5000, true).is_none(), "not on the NTP port");
    }

    #[test]
    fn rtsp_mqtt_ftp_telnet_are_told_apart() {
        let rtsp = plaintext(
            b"OPTIONS rtsp://admin:pw@10.0.0.9/live RTSP/1.0\r\nCSeq: 1\r\n\r\n",
            b"",
            554,
            false,
        )
        .expect("rtsp");
        assert_eq!(rtsp.protocol, "rtsp");
        assert_eq!(rtsp.path.as_deref(), Some("rtsp://10.0.0.9/live"));
        assert_eq!(rtsp.credentials, vec!["url userinfo"]);

        // MQTT 3.1.1 CONNECT, client id "cam1", username + password flags.
        let mqtt = [
            0x10, 0x18, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0xc2, 0x00, 0x3c, 0x00, 0x04, b'c', b'a', b'm', b'1',
            0x00, 0x01, b'u', 0x00, 0x01, b'p',
        ];
        let m = plaintext(&mqtt, b"", 1883, false).expect("mqtt");
        assert_eq!(m.protocol, "mqtt");
        assert_eq!(m.credentials, vec!["mqtt username", "mqtt password"]);
        assert!(m.detail.as_deref().unwrap_or_default().contains("cam1"));

        let ftp = plaintext(b"USER cam\r\nPASS secret\r\n", b"220 vsFTPd ready\r\n", 21, false).expect("ftp");
        assert_eq!(ftp.protocol, "ftp");
        assert_eq!(ftp.credentials, vec!["ftp PASS"]);

        let smtp = plaintext(b"EHLO cam\r\n", b"220 mail ESMTP\r\n", 25, false).expect("smtp");
        assert_eq!(smtp.protocol, "smtp");

        let telnet = plaintext(b"", &[0xff, 0xfd, 0x18], 23, false).expect("telnet");
        assert_eq!(telnet.protocol, "telnet");

        let unknown = plaintext(&[0xde, 0xad, 0xbe, 0xef], b"", 34567, false).expect("unknown");
        assert_eq!(unknown.protocol, "unknown");
        assert!(plaintext(&client_hello_bytes("a"), b"", 443, false).is_none());
    }

    #[test]
    fn credentials_are_masked_for_the_pcap() {
        let mut p = b"GET / HTTP/1.1\r\nAuthorization: Basic YWRtaW46aHVudGVyMg==\r\n\r\nPASS hunter2\r\n".to_vec();
        let n = mask_credentials(&mut p);
        let s = String::from_utf8_lossy(&p);
        assert!(!s.contains("YWRtaW46") && !s.contains("hunter2"), "{s}");
        assert!(s.contains("Authorization: Basic ****"), "{s}");
        assert_eq!(n, 20 + 7);
    }

    #[test]
    fn request_line_queries_and_userinfo_are_masked_for_the_pcap() {
        let mut p = b"GET /cgi-bin/snap.cgi?user=admin&pwd=hunter2&x HTTP/1.1\r\nHost: c\r\n\r\n".to_vec();
        mask_credentials(&mut p);
        let s = String::from_utf8_lossy(&p);
        assert!(
            s.starts_with("GET /cgi-bin/snap.cgi?user=*****&pwd=*******&x HTTP/1.1\r\n"),
            "{s}"
        );
        let mut p = b"DESCRIBE rtsp://admin:hunter2@10.0.0.1/live RTSP/1.0\r\nCSeq: 1\r\n".to_vec();
        mask_credentials(&mut p);
        let s = String::from_utf8_lossy(&p);
        assert!(
            s.starts_with("DESCRIBE rtsp://*************@10.0.0.1/live RTSP/1.0"),
            "{s}"
        );
        // Not a request line: left as it is.
        let mut p = b"hello world?a=b\r\n".to_vec();
        assert_eq!(mask_credentials(&mut p), 0);
        let mut p = b"AUTH PLAIN AGFkbWluAGh1bnRlcjI=\r\n".to_vec();
        mask_credentials(&mut p);
        assert_eq!(String::from_utf8_lossy(&p), "AUTH PLAIN ********************\r\n");
    }

    fn mqtt_connect_bytes(level: u8, will: bool) -> Vec<u8> {
        let field = |b: &[u8]| {
            let mut v = u16::try_from(b.len()).expect("short").to_be_bytes().to_vec();
            v.extend_from_slice(b);
            v
        };
        let mut body = field(b"MQTT");
        body.push(level);
        body.push(0xc0 | if will { 0x04 } else { 0 });
        body.extend_from_slice(&[0, 60]);
        if level >= 5 {
            body.extend_from_slice(&[2, 0x11, 0]); // properties: 2 bytes (a truncated expiry, skipped)
        }
        body.extend(field(b"cam-0001"));
        if will {
            if level >= 5 {
                body.push(0);
            }
            body.extend(field(b"cams/lwt"));
            body.extend(field(b"gone"));
        }
        body.extend(field(b"device-user"));
        body.extend(field(b"hunter2"));
        let mut p = vec![0x10, u8::try_from(body.len()).expect("short")];
        p.extend(body);
        p
    }

    #[test]
    fn mqtt_connect_credentials_are_masked_for_the_pcap() {
        for (level, will) in [(4, false), (4, true), (5, false), (5, true)] {
            let mut p = mqtt_connect_bytes(level, will);
            let seen = plaintext(&p, b"", 1883, false).expect("mqtt");
            assert_eq!(seen.credentials, ["mqtt username", "mqtt password"], "level {level}");
            let n = mask_credentials(&mut p);
            let s = String::from_utf8_lossy(&p);
            assert_eq!(n, 11 + 7, "level {level} will {will}: {s}");
            assert!(
                s.contains("cam-0001") && !s.contains("hunter2") && !s.contains("device-user"),
                "{s}"
            );
            if will {
                assert!(s.contains("cams/lwt"), "{s}");
            }
        }
        // Cut short inside the password: what it holds of it is masked, nothing panics.
        let whole = mqtt_connect_bytes(4, false);
        for cut in 0..whole.len() {
            let mut p = whole[..cut].to_vec();
            mask_credentials(&mut p);
            assert!(!String::from_utf8_lossy(&p).contains("hunte"), "cut {cut}");
        }
    }

    #[test]
    fn password_prompts_are_recognised() {
        for prompt in [
            &b"Password: "[..],
            b"\r\nlogin ok\r\nPassword:",
            b"passwd:\xff\xfb\x01",
            b"334 UGFzc3dvcmQ6\r\n",
        ] {
            assert!(ends_with_password_prompt(prompt), "{}", String::from_utf8_lossy(prompt));
        }
        for other in [
            &b"login: "[..],
            b"Password: changed\r\n$ ",
            b"",
            b"334 VXNlcm5hbWU6\r\n",
        ] {
            assert!(!ends_with_password_prompt(other), "{}", String::from_utf8_lossy(other));
        }
    }
}
