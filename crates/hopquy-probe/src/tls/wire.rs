//! The TLS bytes the audit writes and reads: hand-built ClientHello records, and an
//! incremental parser for the server's first flight (ServerHello, or an alert, then
//! optionally the Certificate message of a TLS ≤ 1.2 handshake).
//!
//! The parser is pure (bytes in, progress out) so that it can be tested against recorded
//! server answers and fed hostile input without a socket.

use super::TlsVersion;

pub const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
pub const CONTENT_ALERT: u8 = 21;
pub const CONTENT_HANDSHAKE: u8 = 22;
pub const CONTENT_APPLICATION_DATA: u8 = 23;

pub const HANDSHAKE_CLIENT_HELLO: u8 = 1;
pub const HANDSHAKE_SERVER_HELLO: u8 = 2;
pub const HANDSHAKE_CERTIFICATE: u8 = 11;
pub const HANDSHAKE_SERVER_HELLO_DONE: u8 = 14;

const EXT_SERVER_NAME: u16 = 0;
const EXT_SUPPORTED_GROUPS: u16 = 10;
const EXT_EC_POINT_FORMATS: u16 = 11;
const EXT_SIGNATURE_ALGORITHMS: u16 = 13;
const EXT_PADDING: u16 = 21;
const EXT_EXTENDED_MASTER_SECRET: u16 = 23;
const EXT_SUPPORTED_VERSIONS: u16 = 43;
const EXT_PSK_KEY_EXCHANGE_MODES: u16 = 45;
const EXT_KEY_SHARE: u16 = 51;

/// Signals secure renegotiation support without an extension (RFC 5746); SSLv3 servers
/// understand it where they may choke on extensions.
const RENEGOTIATION_SCSV: u16 = 0x00ff;
const GROUP_X25519: u16 = 29;

/// The largest record a server may send (2^14 plaintext plus the expansion TLS allows).
pub const MAX_RECORD_PAYLOAD: usize = 16_384 + 2_048;
/// Bound on one handshake message we are willing to reassemble (a certificate chain).
pub const MAX_HANDSHAKE_MESSAGE: usize = 256 * 1024;

/// Groups offered in every hello: modern ones first, then everything a legacy stack might
/// insist on (brainpool, secp256k1, the binary curves, finite-field groups), so a
/// suite is never refused only because we offered no group the server has.
const SUPPORTED_GROUPS: &[u16] = &[
    29, 23, 24, 25, 30, 26, 27, 28, 22, 21, 19, 14, 13, 11, 12, 9, 10, 256, 257, 258, 259, 260,
];

/// Signature schemes: TLS 1.3 ones, then the TLS 1.2 RSA/ECDSA/DSA pairs down to MD5, so an
/// old certificate never makes the server refuse.
const SIGNATURE_ALGORITHMS: &[u16] = &[
    0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806, 0x0809, 0x080a, 0x080b, 0x0401, 0x0501, 0x0601,
    0x0303, 0x0301, 0x0302, 0x0402, 0x0502, 0x0602, 0x0203, 0x0201, 0x0202, 0x0101,
];

/// SHA-256("HelloRetryRequest"): the ServerHello.random of a TLS 1.3 HelloRetryRequest.
pub const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11,
    0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// The random parts of a ClientHello; fixed in tests so the encoding is reproducible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloRandom {
    pub random: [u8; 32],
    pub session_id: [u8; 32],
    /// An X25519 public value. The handshake is never completed, so no private key is
    /// kept: any 32 bytes are a valid X25519 share.
    pub x25519_share: [u8; 32],
}

impl HelloRandom {
    pub fn fresh() -> Self {
        let mut r = HelloRandom {
            random: [0; 32],
            session_id: [0; 32],
            x25519_share: [0; 32],
        };
        rand::fill(&mut r.random[..]);
        rand::fill(&mut r.session_id[..]);
        rand::fill(&mut r.x25519_share[..]);
        r
    }
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u24(out: &mut Vec<u8>, v: usize) {
    let v = u32::try_from(v).unwrap_or(u32::MAX).min(0x00ff_ffff);
    out.extend_from_slice(&v.to_be_bytes()[1..]);
}

fn put_len16(out: &mut Vec<u8>, body: &[u8]) {
    put_u16(out, u16::try_from(body.len()).unwrap_or(u16::MAX));
    out.extend_from_slice(body);
}

fn put_extension(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    put_u16(out, kind);
    put_len16(out, body);
}

fn u16_list(values: &[u16]) -> Vec<u8> {
    let mut body = Vec::with_capacity(values.len() * 2);
    for v in values {
        put_u16(&mut body, *v);
    }
    body
}

/// A complete ClientHello record offering `suites` at `version`. TLS 1.3 is offered the
/// standard way: legacy_version 1.2 plus supported_versions and an X25519 key share.
/// `sni` must be a DNS name (RFC 6066 forbids IP literals there).
pub fn client_hello(version: TlsVersion, suites: &[u16], sni: Option<&str>, random: &HelloRandom) -> Vec<u8> {
    let tls13 = version == TlsVersion::Tls13;
    let mut hello = Vec::with_capacity(1024);
    put_u16(
        &mut hello,
        if tls13 {
            TlsVersion::Tls12.wire()
        } else {
            version.wire()
        },
    );
    hello.extend_from_slice(&random.random);
    if tls13 {
        // A session id makes middleboxes treat the hello as a resumable 1.2 one (RFC 8446 D.4).
        hello.push(32);
        hello.extend_from_slice(&random.session_id);
    } else {
        hello.push(0);
    }
    let mut offered = suites.to_vec();
    if !tls13 {
        offered.push(RENEGOTIATION_SCSV);
    }
    put_len16(&mut hello, &u16_list(&offered));
    hello.extend_from_slice(&[1, 0]); // compression: null only

    let mut extensions = Vec::with_capacity(512);
    if let Some(name) = sni.filter(|n| !n.is_empty() && n.len() < 256) {
        let mut entry = vec![0u8];
        put_len16(&mut entry, name.as_bytes());
        let mut body = Vec::new();
        put_len16(&mut body, &entry);
        put_extension(&mut extensions, EXT_SERVER_NAME, &body);
    }
    let mut groups = Vec::new();
    put_len16(&mut groups, &u16_list(SUPPORTED_GROUPS));
    put_extension(&mut extensions, EXT_SUPPORTED_GROUPS, &groups);
    put_extension(&mut extensions, EXT_EC_POINT_FORMATS, &[3, 0, 1, 2]);
    let mut sigalgs = Vec::new();
    put_len16(&mut sigalgs, &u16_list(SIGNATURE_ALGORITHMS));
    put_extension(&mut extensions, EXT_SIGNATURE_ALGORITHMS, &sigalgs);
    put_extension(&mut extensions, EXT_EXTENDED_MASTER_SECRET, &[]);
    if tls13 {
        let mut versions = vec![2u8];
        put_u16(&mut versions, TlsVersion::Tls13.wire());
        put_extension(&mut extensions, EXT_SUPPORTED_VERSIONS, &versions);
        put_extension(&mut extensions, EXT_PSK_KEY_EXCHANGE_MODES, &[1, 1]);
        let mut share = Vec::new();
        put_u16(&mut share, GROUP_X25519);
        put_len16(&mut share, &random.x25519_share);
        let mut body = Vec::new();
        put_len16(&mut body, &share);
        put_extension(&mut extensions, EXT_KEY_SHARE, &body);
    }
    // Some load balancers hang on hellos of 256–511 bytes; pad past them as browsers do
    // (RFC 7685). Record header 5 + handshake header 4 + hello + extensions length 2.
    let unpadded = 5 + 4 + hello.len() + 2 + extensions.len();
    if (256..512).contains(&unpadded) {
        let pad = (512 - unpadded).saturating_sub(4);
        put_extension(&mut extensions, EXT_PADDING, &vec![0u8; pad]);
    }
    put_len16(&mut hello, &extensions);

    let mut handshake = Vec::with_capacity(hello.len() + 4);
    handshake.push(HANDSHAKE_CLIENT_HELLO);
    put_u24(&mut handshake, hello.len());
    handshake.extend_from_slice(&hello);

    let mut record = Vec::with_capacity(handshake.len() + 5);
    record.push(CONTENT_HANDSHAKE);
    // Record version 1.0 (SSL 3.0 for an SSLv3 hello): what clients send for compatibility.
    put_u16(&mut record, if version == TlsVersion::Ssl3 { 0x0300 } else { 0x0301 });
    put_len16(&mut record, &handshake);
    record
}

/// Reads big-endian fields from a byte slice without ever panicking.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let slice = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }
}

/// A parsed ServerHello (or TLS 1.3 HelloRetryRequest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// ServerHello.version as sent (0x0303 for TLS 1.3).
    pub legacy_version: u16,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub cipher_suite: u16,
    pub compression: u8,
    /// Extension types in the order sent.
    pub extensions: Vec<u16>,
    /// The version from the supported_versions extension, when present (TLS 1.3).
    pub selected_version: Option<u16>,
    pub hello_retry_request: bool,
}

impl ServerHello {
    /// The version the server negotiated.
    pub fn version(&self) -> u16 {
        self.selected_version.unwrap_or(self.legacy_version)
    }
}

/// Parse a ServerHello handshake body (without the 4-byte handshake header).
pub fn parse_server_hello(body: &[u8]) -> Result<ServerHello, String> {
    let short = || format!("ServerHello truncated ({} bytes)", body.len());
    let mut r = Reader::new(body);
    let legacy_version = r.u16().ok_or_else(short)?;
    let mut random = [0u8; 32];
    random.copy_from_slice(r.take(32).ok_or_else(short)?);
    let session_len = usize::from(r.u8().ok_or_else(short)?);
    if session_len > 32 {
        return Err(format!("ServerHello session id of {session_len} bytes (at most 32)"));
    }
    let session_id = r.take(session_len).ok_or_else(short)?.to_vec();
    let cipher_suite = r.u16().ok_or_else(short)?;
    let compression = r.u8().ok_or_else(short)?;
    let mut extensions = Vec::new();
    let mut selected_version = None;
    // SSLv3 and early TLS servers may end the message here.
    if r.remaining() > 0 {
        let total = usize::from(r.u16().ok_or_else(short)?);
        let block = r
            .take(total)
            .ok_or_else(|| "ServerHello extensions overrun the message".to_string())?;
        let mut ext = Reader::new(block);
        while ext.remaining() > 0 {
            let bad = || "malformed ServerHello extension".to_string();
            let kind = ext.u16().ok_or_else(bad)?;
            let len = usize::from(ext.u16().ok_or_else(bad)?);
            let data = ext.take(len).ok_or_else(bad)?;
            if kind == EXT_SUPPORTED_VERSIONS {
                let mut v = Reader::new(data);
                selected_version = Some(v.u16().ok_or_else(bad)?);
            }
            extensions.push(kind);
        }
    }
    Ok(ServerHello {
        legacy_version,
        hello_retry_request: random == HELLO_RETRY_RANDOM,
        random,
        session_id,
        cipher_suite,
        compression,
        extensions,
        selected_version,
    })
}

/// Parse a TLS ≤ 1.2 Certificate message body into DER certificates, leaf first.
pub fn parse_certificate_list(body: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut r = Reader::new(body);
    let total = r.u24().ok_or("Certificate message truncated")?;
    let list = r.take(total).ok_or("Certificate list overruns the message")?;
    let mut certs = Reader::new(list);
    let mut out = Vec::new();
    while certs.remaining() > 0 {
        let len = certs.u24().ok_or("certificate entry truncated")?;
        let der = certs.take(len).ok_or("certificate entry overruns the list")?;
        out.push(der.to_vec());
    }
    Ok(out)
}

/// How far the server's answer got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Not enough bytes yet.
    NeedMore,
    /// The server answered with an alert before any ServerHello.
    Alert { level: u8, description: u8 },
    /// ServerHello received (and, when the certificate was wanted, the rest of the flight
    /// up to the Certificate message: `certificates` is then `Some`, empty when the server
    /// sent none, e.g. for an anonymous suite or TLS 1.3's encrypted certificate).
    Hello {
        hello: ServerHello,
        certificates: Option<Vec<Vec<u8>>>,
    },
    /// Not a TLS answer, or a malformed one.
    Invalid(String),
}

/// Incremental parser of the server's first flight.
#[derive(Debug, Default)]
pub struct FlightParser {
    buf: Vec<u8>,
    /// Bytes of `buf` consumed as whole records.
    records_end: usize,
    /// Concatenated handshake-record payloads.
    handshake: Vec<u8>,
    /// Bytes of `handshake` consumed as whole messages.
    messages_end: usize,
    hello: Option<ServerHello>,
    want_certificate: bool,
}

impl FlightParser {
    /// `want_certificate`: keep reading past the ServerHello up to the Certificate message
    /// (TLS ≤ 1.2 only; TLS 1.3 encrypts it).
    pub fn new(want_certificate: bool) -> Self {
        FlightParser {
            want_certificate,
            ..Default::default()
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The ServerHello of a flight that ended before its Certificate message.
    pub fn finish(&mut self) -> Option<ServerHello> {
        self.hello.take()
    }

    /// True when a record or handshake message is partly received.
    pub fn mid_message(&self) -> bool {
        self.records_end < self.buf.len() || self.messages_end < self.handshake.len()
    }

    pub fn poll(&mut self) -> Progress {
        loop {
            let rest = self.buf.get(self.records_end..).unwrap_or(&[]);
            if rest.len() < 5 {
                return Progress::NeedMore;
            }
            let (kind, major, minor) = (rest[0], rest[1], rest[2]);
            let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
            if rest[0] & 0x80 != 0 && rest.get(2) == Some(&4) {
                return Progress::Invalid("SSL 2.0 ServerHello (SSLv2 is not audited)".into());
            }
            if !matches!(kind, CONTENT_CHANGE_CIPHER_SPEC..=CONTENT_APPLICATION_DATA) || major != 3 || minor > 4 {
                return Progress::Invalid(format!("not a TLS record: starts with {}", super::hex_prefix(rest, 8)));
            }
            if len > MAX_RECORD_PAYLOAD {
                return Progress::Invalid(format!("TLS record of {len} bytes exceeds the 18432-byte maximum"));
            }
            let Some(payload) = rest.get(5..5 + len) else {
                return Progress::NeedMore;
            };
            let payload = payload.to_vec();
            self.records_end += 5 + len;
            match kind {
                CONTENT_ALERT => {
                    if payload.len() < 2 {
                        return Progress::Invalid("alert record shorter than 2 bytes".into());
                    }
                    return match self.hello.take() {
                        None => Progress::Alert {
                            level: payload[0],
                            description: payload[1],
                        },
                        // An alert after the ServerHello: the hello stands, no certificate follows.
                        Some(hello) => Progress::Hello {
                            hello,
                            certificates: Some(Vec::new()),
                        },
                    };
                }
                CONTENT_HANDSHAKE => {
                    if self.handshake.len() + payload.len() > MAX_HANDSHAKE_MESSAGE + 4 + self.messages_end {
                        return Progress::Invalid(format!(
                            "handshake data exceeds the {MAX_HANDSHAKE_MESSAGE}-byte bound"
                        ));
                    }
                    self.handshake.extend_from_slice(&payload);
                    if let Some(done) = self.messages() {
                        return done;
                    }
                }
                _ => {
                    // ChangeCipherSpec or encrypted data: only legal after a ServerHello.
                    return match self.hello.take() {
                        Some(hello) => Progress::Hello {
                            hello,
                            certificates: Some(Vec::new()),
                        },
                        None => Progress::Invalid(format!("record type {kind} before the ServerHello")),
                    };
                }
            }
        }
    }

    /// Parse whole handshake messages; `Some` when the answer is complete or invalid.
    fn messages(&mut self) -> Option<Progress> {
        loop {
            let rest = self.handshake.get(self.messages_end..).unwrap_or(&[]);
            if rest.len() < 4 {
                return None;
            }
            let kind = rest[0];
            let len = (usize::from(rest[1]) << 16) | (usize::from(rest[2]) << 8) | usize::from(rest[3]);
            if len > MAX_HANDSHAKE_MESSAGE {
                return Some(Progress::Invalid(format!(
                    "handshake message of {len} bytes exceeds the {MAX_HANDSHAKE_MESSAGE}-byte bound"
                )));
            }
            let body = rest.get(4..4 + len)?.to_vec();
            self.messages_end += 4 + len;
            match (&self.hello, kind) {
                (None, HANDSHAKE_SERVER_HELLO) => match parse_server_hello(&body) {
                    Ok(hello) => {
                        let tls13 = hello.version() == TlsVersion::Tls13.wire();
                        if !self.want_certificate || tls13 || hello.hello_retry_request {
                            return Some(Progress::Hello {
                                hello,
                                certificates: None,
                            });
                        }
                        self.hello = Some(hello);
                    }
                    Err(e) => return Some(Progress::Invalid(e)),
                },
                (None, other) => {
                    return Some(Progress::Invalid(format!(
                        "handshake message type {other} where a ServerHello belongs"
                    )));
                }
                (Some(_), HANDSHAKE_CERTIFICATE) => {
                    let hello = self.hello.take()?;
                    return Some(match parse_certificate_list(&body) {
                        Ok(certs) => Progress::Hello {
                            hello,
                            certificates: Some(certs),
                        },
                        Err(e) => Progress::Invalid(e),
                    });
                }
                (Some(_), HANDSHAKE_SERVER_HELLO_DONE) => {
                    let hello = self.hello.take()?;
                    return Some(Progress::Hello {
                        hello,
                        certificates: Some(Vec::new()),
                    });
                }
                // ServerKeyExchange, CertificateRequest, status…: skip until one of the above.
                (Some(_), _) => {}
            }
        }
    }
}

/// The registered name of an alert description (RFC 8446 §6 and older).
pub fn alert_name(description: u8) -> String {
    let name = match description {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        other => return format!("alert {other}"),
    };
    name.to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fixed_random() -> HelloRandom {
        HelloRandom {
            random: [0x11; 32],
            session_id: [0x22; 32],
            x25519_share: [0x33; 32],
        }
    }

    /// Walk a ClientHello record the way a server does and return
    /// (record version, client_version, session id, suites, extension types, supported_versions body).
    #[allow(clippy::type_complexity)]
    fn dissect(record: &[u8]) -> (u16, u16, Vec<u8>, Vec<u16>, Vec<u16>, Option<Vec<u8>>) {
        let mut r = Reader::new(record);
        assert_eq!(r.u8(), Some(CONTENT_HANDSHAKE));
        let record_version = r.u16().unwrap();
        let record_len = usize::from(r.u16().unwrap());
        assert_eq!(record_len, record.len() - 5, "record length field");
        assert_eq!(r.u8(), Some(HANDSHAKE_CLIENT_HELLO));
        assert_eq!(r.u24().unwrap(), record.len() - 9, "handshake length field");
        let client_version = r.u16().unwrap();
        assert_eq!(r.take(32).unwrap(), &[0x11; 32]);
        let sid_len = usize::from(r.u8().unwrap());
        let sid = r.take(sid_len).unwrap().to_vec();
        let suites_len = usize::from(r.u16().unwrap());
        let suites: Vec<u16> = r
            .take(suites_len)
            .unwrap()
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(r.take(2).unwrap(), &[1, 0], "null compression only");
        let ext_len = usize::from(r.u16().unwrap());
        assert_eq!(ext_len, r.remaining(), "extensions fill the rest");
        let mut types = Vec::new();
        let mut versions = None;
        while r.remaining() > 0 {
            let t = r.u16().unwrap();
            let l = usize::from(r.u16().unwrap());
            let body = r.take(l).unwrap();
            if t == EXT_SUPPORTED_VERSIONS {
                versions = Some(body.to_vec());
            }
            types.push(t);
        }
        (record_version, client_version, sid, suites, types, versions)
    }

    #[test]
    fn legacy_hello_layout() {
        let record = client_hello(TlsVersion::Tls10, &[0x002f, 0x000a], None, &fixed_random());
        let (record_version, client_version, sid, suites, types, versions) = dissect(&record);
        assert_eq!(record_version, 0x0301);
        assert_eq!(client_version, 0x0301);
        assert!(sid.is_empty());
        assert_eq!(suites, vec![0x002f, 0x000a, RENEGOTIATION_SCSV]);
        assert!(types.contains(&EXT_SUPPORTED_GROUPS) && types.contains(&EXT_SIGNATURE_ALGORITHMS));
        assert!(!types.contains(&EXT_SERVER_NAME), "no SNI unless asked");
        assert!(!types.contains(&EXT_KEY_SHARE) && versions.is_none());
        assert!(
            !(256..512).contains(&record.len()),
            "padded past the 256–511 byte range: {}",
            record.len()
        );
    }

    #[test]
    fn sslv3_hello_uses_sslv3_record_version() {
        let record = client_hello(TlsVersion::Ssl3, &[0x0005], None, &fixed_random());
        let (record_version, client_version, ..) = dissect(&record);
        assert_eq!((record_version, client_version), (0x0300, 0x0300));
    }

    #[test]
    fn tls13_hello_layout() {
        let record = client_hello(
            TlsVersion::Tls13,
            &[0x1301, 0x1302],
            Some("cam.example"),
            &fixed_random(),
        );
        let (_, client_version, sid, suites, types, versions) = dissect(&record);
        assert_eq!(client_version, 0x0303, "legacy_version stays 1.2");
        assert_eq!(sid, vec![0x22; 32]);
        assert_eq!(suites, vec![0x1301, 0x1302], "no SCSV in a 1.3 hello");
        assert_eq!(versions, Some(vec![2, 0x03, 0x04]));
        assert!(types.contains(&EXT_KEY_SHARE) && types.contains(&EXT_PSK_KEY_EXCHANGE_MODES));
        assert_eq!(types.first(), Some(&EXT_SERVER_NAME));
        let sni_at = record.windows(11).position(|w| w == b"cam.example");
        assert!(sni_at.is_some());
        let share_at = record.windows(32).position(|w| w == [0x33; 32]).unwrap();
        assert_eq!(
            &record[share_at - 4..share_at],
            &[0x00, 29, 0x00, 32],
            "x25519 share header"
        );
    }

    #[test]
    fn encoding_is_deterministic_for_fixed_randoms() {
        let a = client_hello(TlsVersion::Tls12, &[0xc02f], None, &fixed_random());
        let b = client_hello(TlsVersion::Tls12, &[0xc02f], None, &fixed_random());
        assert_eq!(a, b);
        let c = client_hello(TlsVersion::Tls12, &[0xc02f], None, &HelloRandom::fresh());
        assert_ne!(a, c);
    }

    // Answers recorded from `openssl s_server` (Debian OpenSSL 3.0.19, RSA-2048 key,
    // default protocol range) to hopquy's own hellos, cut 5 bytes into the next record.
    /// TLS 1.2 hello (113 suites): ServerHello TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA. The server
    /// also speaks TLS 1.3, so its random ends with the RFC 8446 downgrade marker.
    const OPENSSL_TLS12_SERVER_HELLO: &str = "160303005d02000059030340bd5461b1b5b936e8715a0eac75f0d29f25ee4e715e1cd6444f574e47524401\
        2070d66e568bafaedc3f1d4ee00a2f24f4b4a45958c545aa133c4d33d3932cd68fc013000011ff01000100000b00040300010200170000\
        1603030328";
    /// TLS 1.3 hello: ServerHello TLS_AES_128_GCM_SHA256 with an X25519 key share, then the
    /// compatibility ChangeCipherSpec.
    const OPENSSL_TLS13_SERVER_HELLO: &str = "160303007a02000076030378bcac22e5f629617e26490156341d2480048b385f3c4396546a762837321093\
        20a5d224e3dd1682e4d6ee008c9d868700c58bcdaf189580a5ce7f04f89df91201130100002e002b0002030400330024001d002022bf9d\
        dff6ec07c81011b869d8eea42888849388e907793792d410df1ec4f70b1403030001";
    /// TLS 1.0 hello to the same server (minimum TLS 1.2): fatal internal_error.
    const OPENSSL_TLS10_ALERT: &str = "15030100020250";

    fn recorded(hex_text: &str) -> Vec<u8> {
        hex::decode(hex_text.split_whitespace().collect::<String>()).unwrap()
    }

    #[test]
    fn parses_recorded_openssl_server_hellos() {
        let mut parser = FlightParser::new(false);
        parser.feed(&recorded(OPENSSL_TLS12_SERVER_HELLO));
        match parser.poll() {
            Progress::Hello { hello, certificates } => {
                assert_eq!(hello.version(), 0x0303);
                assert_eq!(hello.selected_version, None);
                assert_eq!(hello.cipher_suite, 0xc013);
                assert_eq!(hello.compression, 0);
                assert_eq!(hello.session_id.len(), 32);
                assert!(!hello.hello_retry_request);
                assert_eq!(hello.extensions, vec![0xff01, 0x000b, 0x0017]);
                assert_eq!(&hello.random[24..], b"DOWNGRD\x01");
                assert!(certificates.is_none());
            }
            other => panic!("{other:?}"),
        }

        let mut parser = FlightParser::new(true);
        parser.feed(&recorded(OPENSSL_TLS13_SERVER_HELLO));
        match parser.poll() {
            Progress::Hello { hello, certificates } => {
                assert_eq!(hello.legacy_version, 0x0303);
                assert_eq!(hello.version(), 0x0304);
                assert_eq!(hello.cipher_suite, 0x1301);
                assert_eq!(hello.extensions, vec![0x002b, 0x0033]);
                assert!(certificates.is_none(), "TLS 1.3 certificates are encrypted");
            }
            other => panic!("{other:?}"),
        }

        let mut parser = FlightParser::new(false);
        parser.feed(&recorded(OPENSSL_TLS10_ALERT));
        assert_eq!(
            parser.poll(),
            Progress::Alert {
                level: 2,
                description: 80
            }
        );
    }

    #[test]
    fn byte_at_a_time_feeding_gives_the_same_answer() {
        let bytes = recorded(OPENSSL_TLS12_SERVER_HELLO);
        let mut parser = FlightParser::new(false);
        let mut answer = Progress::NeedMore;
        for b in &bytes {
            parser.feed(&[*b]);
            answer = parser.poll();
            if answer != Progress::NeedMore {
                break;
            }
        }
        assert!(
            matches!(answer, Progress::Hello { ref hello, .. } if hello.cipher_suite == 0xc013),
            "{answer:?}"
        );
    }

    #[test]
    fn parses_alerts() {
        let mut parser = FlightParser::new(false);
        parser.feed(&[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46]);
        assert_eq!(
            parser.poll(),
            Progress::Alert {
                level: 2,
                description: 70
            }
        );
        assert_eq!(alert_name(70), "protocol_version");
        assert_eq!(alert_name(40), "handshake_failure");
        assert_eq!(alert_name(250), "alert 250");
    }

    fn server_hello_record(version: u16, random: [u8; 32], suite: u16, extensions: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        put_u16(&mut body, version);
        body.extend_from_slice(&random);
        body.push(0);
        put_u16(&mut body, suite);
        body.push(0);
        if !extensions.is_empty() {
            put_len16(&mut body, extensions);
        }
        let mut hs = vec![HANDSHAKE_SERVER_HELLO];
        put_u24(&mut hs, body.len());
        hs.extend_from_slice(&body);
        let mut rec = vec![CONTENT_HANDSHAKE, 3, 3];
        put_len16(&mut rec, &hs);
        rec
    }

    #[test]
    fn tls13_server_hello_and_hello_retry_request() {
        let sv = [0x00, 0x2b, 0x00, 0x02, 0x03, 0x04];
        let mut parser = FlightParser::new(true);
        parser.feed(&server_hello_record(0x0303, [7; 32], 0x1302, &sv));
        match parser.poll() {
            Progress::Hello { hello, certificates } => {
                assert_eq!(hello.version(), 0x0304);
                assert_eq!(hello.legacy_version, 0x0303);
                assert!(!hello.hello_retry_request);
                assert!(certificates.is_none(), "TLS 1.3 certificates are encrypted");
            }
            other => panic!("{other:?}"),
        }
        let mut parser = FlightParser::new(false);
        parser.feed(&server_hello_record(0x0303, HELLO_RETRY_RANDOM, 0x1301, &sv));
        assert!(
            matches!(parser.poll(), Progress::Hello { hello, .. } if hello.hello_retry_request && hello.cipher_suite == 0x1301)
        );
    }

    #[test]
    fn collects_the_certificate_across_records() {
        let mut flight = server_hello_record(0x0301, [9; 32], 0x002f, &[]);
        let certs: [&[u8]; 2] = [b"leaf-der", b"ca-der"];
        let mut list = Vec::new();
        for c in certs {
            put_u24(&mut list, c.len());
            list.extend_from_slice(c);
        }
        let mut body = Vec::new();
        put_u24(&mut body, list.len());
        body.extend_from_slice(&list);
        let mut msg = vec![HANDSHAKE_CERTIFICATE];
        put_u24(&mut msg, body.len());
        msg.extend_from_slice(&body);
        // Split the Certificate message over two records, as servers do with long chains.
        let (a, b) = msg.split_at(7);
        for part in [a, b] {
            flight.extend_from_slice(&[CONTENT_HANDSHAKE, 3, 1]);
            put_len16(&mut flight, part);
        }
        let mut parser = FlightParser::new(true);
        parser.feed(&flight[..flight.len() - 3]);
        assert_eq!(parser.poll(), Progress::NeedMore);
        assert!(parser.mid_message());
        parser.feed(&flight[flight.len() - 3..]);
        match parser.poll() {
            Progress::Hello { hello, certificates } => {
                assert_eq!(hello.version(), 0x0301);
                assert_eq!(certificates, Some(vec![b"leaf-der".to_vec(), b"ca-der".to_vec()]));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hostile_answers_are_invalid_not_panics() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("http", b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()),
            ("huge record", vec![0x16, 0x03, 0x03, 0xff, 0xff]),
            ("bad version", vec![0x16, 0x07, 0x01, 0x00, 0x01, 0x00]),
            ("wrong first message", {
                let mut r = vec![0x16, 0x03, 0x03, 0x00, 0x04, 11, 0, 0, 0];
                r.truncate(9);
                r
            }),
            ("huge message", vec![0x16, 0x03, 0x03, 0x00, 0x04, 2, 0xff, 0xff, 0xff]),
            ("truncated hello", vec![0x16, 0x03, 0x03, 0x00, 0x06, 2, 0, 0, 2, 3, 3]),
            ("short alert", vec![0x15, 0x03, 0x03, 0x00, 0x01, 2]),
            ("early ccs", vec![0x14, 0x03, 0x03, 0x00, 0x01, 1]),
            ("sslv2", vec![0x80, 0x2e, 0x04, 0x00, 0x01, 0x00, 0x02]),
        ];
        for (what, bytes) in cases {
            let mut parser = FlightParser::new(true);
            parser.feed(&bytes);
            assert!(matches!(parser.poll(), Progress::Invalid(_)), "{what}");
        }
        // A half record is not an answer yet, and is reported as mid-message.
        let mut parser = FlightParser::new(false);
        parser.feed(&[0x16, 0x03, 0x03, 0x00, 0x40, 2, 0, 0]);
        assert_eq!(parser.poll(), Progress::NeedMore);
        assert!(parser.mid_message());
    }

    #[test]
    fn garbage_never_panics() {
        // Cheap deterministic fuzz: every prefix of a mutated valid flight.
        let base = recorded(OPENSSL_TLS13_SERVER_HELLO);
        for seed in 0u32..200 {
            let mut bytes = base.clone();
            let at = (seed as usize * 7) % bytes.len();
            bytes[at] ^= (seed as u8).wrapping_mul(31) | 1;
            for end in 0..bytes.len() {
                let mut parser = FlightParser::new(seed % 2 == 0);
                parser.feed(&bytes[..end]);
                let _ = parser.poll();
            }
        }
        for len in 0..64 {
            let _ = parse_server_hello(&vec![0xff; len]);
            let _ = parse_certificate_list(&vec![0xff; len]);
        }
    }
}
