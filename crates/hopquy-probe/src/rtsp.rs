//! RTSP probe: which authentication a camera's stream server demands and which stream paths
//! it serves, with and without credentials (what cameradar and nmap's rtsp-* scripts find).
//!
//! Messages are serialised and parsed with `rtsp-types`; the transport, CSeq, framing bounds
//! and authentication are ours. `rtsp-types` is strict (CRLF only, UTF-8 header values, a
//! reason phrase after the status), and cameras are not: a response it refuses is read by a
//! lenient fallback and counted as non-conforming rather than lost.
//!
//! Route discovery follows cameradar: a random path first (a server that answers 200 to it
//! accepts any path, so found routes prove nothing), then each candidate path with an
//! anonymous DESCRIBE: 200 found and open, 401 exists but needs authentication, 404 absent.
//! Many cameras check credentials before the path, answering 401 for everything, so with
//! credentials every 401 is asked again authenticated and a 404 then means absent.

use std::collections::BTreeSet;

use rtsp_types::{Message, ParseError, Url, Version, headers};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::auth::{
    AuthMode, Challenge, DigestSession, basic_authorization, parse_challenges, redact_authorization, select_challenge,
};
use crate::exchange::{self, Capture, Exchange, Payload, Recorder, Redactor};
use crate::{Credential, Device, Permit, ProbeError};

/// RTSP methods, re-exported so callers need no `rtsp-types` dependency of their own.
pub use rtsp_types::Method;

pub const DEFAULT_PORT: u16 = 554;
/// Bound on a response's status line and headers.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Bound on the body kept from one response (an SDP is a few hundred bytes).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
pub const USER_AGENT: &str = concat!("hopquy/", env!("CARGO_PKG_VERSION"));

/// Interleaved `$` frames or server-to-client requests skipped while waiting for a response.
const MAX_SKIPPED_MESSAGES: usize = 16;
/// Discovery gives up after this many failed requests in a row: a server that times out or
/// answers garbage would otherwise cost one timeout per dictionary path.
const MAX_CONSECUTIVE_FAILURES: usize = 3;
/// Before any answer at all, fewer failures suffice to call the server broken.
const MAX_FAILURES_BEFORE_ANY_ANSWER: usize = 2;
const READ_CHUNK: usize = 8 * 1024;
const MAX_PATH_BYTES: usize = 2048;

/// One RTSP response as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtspResponse {
    pub status: u16,
    pub reason: String,
    /// Names as sent; values lossy UTF-8. The strict parser joins repeated headers with
    /// `, ` (one entry per name); the lenient fallback keeps each line.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub body_truncated: bool,
    /// False when `rtsp-types` refused the message and the lenient reader was used.
    pub conforming: bool,
}

impl RtspResponse {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The authentication challenges of a 401 (all `WWW-Authenticate` values, merged or not).
    pub fn challenges(&self) -> Vec<Challenge> {
        parse_challenges(&self.header_values("WWW-Authenticate"))
    }

    /// Methods from the `Public` header, in the server's order.
    pub fn public_methods(&self) -> Vec<String> {
        self.header_values("Public")
            .iter()
            .flat_map(|v| v.split(','))
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .take(64)
            .collect()
    }
}

/// What a request sends as credentials.
pub enum RtspAuth<'a> {
    Anonymous,
    /// The password base64-encoded, readable by anyone on the path.
    Basic(&'a Credential),
    Digest(&'a mut DigestSession, &'a Credential),
}

impl RtspAuth<'_> {
    fn label(&self) -> String {
        match self {
            RtspAuth::Anonymous => "anonymous".into(),
            RtspAuth::Basic(c) => format!("basic as {}", c.username),
            RtspAuth::Digest(s, c) => format!("{} as {}", s.challenge().label(), c.username),
        }
    }
}

/// Where a request goes: `*` or a path on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestTarget<'a> {
    Star,
    Path(&'a str),
}

struct Connection {
    stream: TcpStream,
    _permit: Permit,
    /// Bytes read past the last response (pipelined or early data).
    buffered: Vec<u8>,
    requests: u32,
}

/// Sends RTSP requests to one port of the device over one kept-alive connection, opening a
/// new one when the server closes it. Holds one device permit while connected.
pub struct RtspClient<'r> {
    device: Device,
    port: u16,
    rec: &'r Recorder,
    connection: Option<Connection>,
    cseq: u32,
    /// Secrets of the credentials used so far, scrubbed from what is recorded.
    redactor: Redactor,
}

/// How the bytes of one response arrived.
struct Framed {
    message: Vec<u8>,
    head_len: usize,
    transferred: usize,
    body_truncated: bool,
}

impl<'r> RtspClient<'r> {
    pub fn new(device: &Device, port: u16, rec: &'r Recorder) -> Self {
        RtspClient {
            device: device.clone(),
            port,
            rec,
            connection: None,
            cseq: 0,
            redactor: Redactor::new(),
        }
    }

    /// `rtsp://host:port/path`; see [`request_url`].
    pub fn url(&self, path: &str) -> Result<Url, ProbeError> {
        request_url(&self.device, self.port, path)
    }

    /// Send one request and read its response; every attempt is recorded. A kept-alive
    /// connection the server closed before answering is retried once on a new one.
    pub async fn request(
        &mut self,
        method: Method,
        target: RequestTarget<'_>,
        mut auth: RtspAuth<'_>,
    ) -> Result<RtspResponse, ProbeError> {
        let url = match target {
            RequestTarget::Star => None,
            RequestTarget::Path(p) => Some(self.url(p)?),
        };
        let method_name = method_str(&method).to_owned();
        let uri_text = url.as_ref().map_or_else(|| "*".to_owned(), |u| u.as_str().to_owned());
        let (authorization, recorded_authorization) = match &mut auth {
            RtspAuth::Anonymous => (None, None),
            RtspAuth::Basic(c) => {
                let value = basic_authorization(c);
                self.note_secret(c);
                let recorded = if c.secret {
                    redact_authorization(&value)
                } else {
                    value.clone()
                };
                (Some(value), Some(recorded))
            }
            RtspAuth::Digest(session, c) => {
                let value = session.authorize(c, &method_name, &uri_text, None)?;
                self.note_secret(c);
                let recorded = if c.secret {
                    redact_authorization(&value)
                } else {
                    value.clone()
                };
                (Some(value), Some(recorded))
            }
        };
        let label = format!(
            "{method_name} {} ({})",
            match target {
                RequestTarget::Star => "*",
                RequestTarget::Path(p) => p,
            },
            auth.label()
        );

        let mut retried = false;
        loop {
            self.cseq = self.cseq.wrapping_add(1);
            let wire = serialise(&method, url.as_ref(), self.cseq, authorization.as_deref())?;
            let shown = serialise(&method, url.as_ref(), self.cseq, recorded_authorization.as_deref())?;
            let started = exchange::now();
            let fresh = self.connection.is_none();
            let outcome = self.exchange_once(&wire).await;
            let (result, framed) = match outcome {
                Ok((framed, parsed)) => (parsed, Some(framed)),
                Err((e, partial)) => (Err(e), partial),
            };
            self.record(&label, started, &shown, framed.as_ref(), result.as_ref().err());
            match result {
                Ok(response) => {
                    let must_close = response.body_truncated
                        || response
                            .header("Connection")
                            .is_some_and(|v| v.trim().eq_ignore_ascii_case("close"));
                    if must_close {
                        self.connection = None;
                    }
                    return Ok(response);
                }
                Err(e) => {
                    self.connection = None;
                    // A kept-alive connection the server had already closed: not an answer.
                    let silent_close = matches!(&e, ProbeError::Closed(_)) && framed.is_none();
                    if silent_close && !fresh && !retried {
                        retried = true;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    fn note_secret(&mut self, c: &Credential) {
        if c.secret {
            self.redactor.add_secret(&c.username, &c.password);
        }
    }

    fn record(
        &self,
        label: &str,
        started: chrono::DateTime<chrono::Utc>,
        sent: &[u8],
        got: Option<&Framed>,
        error: Option<&ProbeError>,
    ) {
        let sent = self.redactor.redact_bytes(sent);
        let received = got.map(|f| {
            let bytes = self.redactor.redact_bytes(&f.message);
            Payload::from_bytes(&bytes, f.transferred, f.body_truncated)
        });
        self.rec.record(Exchange {
            protocol: "rtsp".into(),
            peer: self.device.authority(self.port),
            started,
            finished: exchange::now(),
            capture: Capture::Wire,
            label: self.redactor.redact_str(label),
            sent: Some(Payload::from_bytes(&sent, sent.len(), false)),
            received,
            error: error.map(|e| self.redactor.redact_str(&e.to_string())),
        });
    }

    async fn exchange_once(
        &mut self,
        wire: &[u8],
    ) -> Result<(Framed, Result<RtspResponse, ProbeError>), (ProbeError, Option<Framed>)> {
        if self.connection.is_none() {
            let (stream, permit) = self.device.connect_tcp(self.port).await.map_err(|e| (e, None))?;
            self.connection = Some(Connection {
                stream,
                _permit: permit,
                buffered: Vec::new(),
                requests: 0,
            });
        }
        let peer = self.device.authority(self.port);
        let deadline = Instant::now() + self.device.limits().io_timeout;
        let Some(conn) = self.connection.as_mut() else {
            return Err((ProbeError::Closed(format!("{peer}: no connection")), None));
        };
        conn.requests += 1;
        match tokio::time::timeout_at(deadline, conn.stream.write_all(wire)).await {
            Err(_) => return Err((ProbeError::Timeout(format!("sending to {peer}")), None)),
            Ok(Err(e)) => return Err((io_error(&e, &peer, "sending"), None)),
            Ok(Ok(())) => {}
        }
        let mut skipped = 0;
        loop {
            let framed = read_message(&mut conn.stream, &mut conn.buffered, deadline, &peer).await?;
            match interpret(&framed) {
                Interpreted::Response(r) => return Ok((framed, Ok(r))),
                Interpreted::Skip => {
                    skipped += 1;
                    if skipped > MAX_SKIPPED_MESSAGES {
                        let e = ProbeError::Protocol(format!("{peer}: no response among {skipped} messages"));
                        return Err((e, Some(framed)));
                    }
                }
                Interpreted::NotRtsp(why) => {
                    let e = ProbeError::Protocol(format!("{peer}: {why}"));
                    return Ok((framed, Err(e)));
                }
            }
        }
    }
}

/// `rtsp://host:port/path` on the device; the path must start with `/` and hold no spaces
/// or control characters (a request line must go out as asked).
pub fn request_url(device: &Device, port: u16, path: &str) -> Result<Url, ProbeError> {
    if !path.starts_with('/') || path.len() > MAX_PATH_BYTES {
        return Err(ProbeError::Invalid(format!("RTSP path must start with '/': {path:?}")));
    }
    if path.chars().any(|c| c.is_control() || c == ' ') {
        return Err(ProbeError::Invalid(format!(
            "RTSP path holds spaces or control characters: {path:?}"
        )));
    }
    let text = format!("rtsp://{}{path}", device.authority(port));
    Url::parse(&text).map_err(|e| ProbeError::Invalid(format!("{text}: {e}")))
}

fn method_str(m: &Method) -> &str {
    <&str>::from(m)
}

fn serialise(
    method: &Method,
    url: Option<&Url>,
    cseq: u32,
    authorization: Option<&str>,
) -> Result<Vec<u8>, ProbeError> {
    let mut builder = rtsp_types::Request::builder(method.clone(), Version::V1_0);
    if let Some(u) = url {
        builder = builder.request_uri(u.clone());
    }
    builder = builder
        .header(headers::CSEQ, cseq.to_string())
        .header(headers::USER_AGENT, USER_AGENT);
    if *method == Method::Describe {
        builder = builder.header(headers::ACCEPT, "application/sdp");
    }
    if let Some(a) = authorization {
        builder = builder.header(headers::AUTHORIZATION, a);
    }
    let request = builder.build(Vec::new());
    let mut bytes = Vec::new();
    request
        .write(&mut bytes)
        .map_err(|e| ProbeError::Invalid(format!("serialising the RTSP request: {e}")))?;
    Ok(bytes)
}

fn io_error(e: &std::io::Error, peer: &str, doing: &str) -> ProbeError {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            ProbeError::Closed(format!("{peer} while {doing}: {e}"))
        }
        _ => ProbeError::Unreachable(format!("{peer} while {doing}: {e}")),
    }
}

/// Read one message (a response, an interleaved frame, a server request) off the stream,
/// within the header and body bounds and the deadline. `buffered` carries bytes across calls.
async fn read_message(
    stream: &mut TcpStream,
    buffered: &mut Vec<u8>,
    deadline: Instant,
    peer: &str,
) -> Result<Framed, (ProbeError, Option<Framed>)> {
    let mut chunk = vec![0u8; READ_CHUNK];
    let partial = |buf: &[u8]| {
        (!buf.is_empty()).then(|| Framed {
            message: buf[..buf.len().min(MAX_HEADER_BYTES)].to_vec(),
            head_len: 0,
            transferred: buf.len(),
            body_truncated: buf.len() > MAX_HEADER_BYTES,
        })
    };
    loop {
        if let Some(framed) = frame(buffered).or_else(|| take_truncated(buffered)) {
            return Ok(framed);
        }
        if buffered.first() != Some(&b'$') && header_end(buffered).is_none() && buffered.len() > MAX_HEADER_BYTES {
            let e = ProbeError::TooLarge(format!("{peer}: response headers exceed {MAX_HEADER_BYTES} bytes"));
            return Err((e, partial(buffered)));
        }
        let want = match needed_body(buffered) {
            Some(n) => n.min(READ_CHUNK),
            None => READ_CHUNK,
        };
        let got = match tokio::time::timeout_at(deadline, stream.read(&mut chunk[..want.max(1)])).await {
            Err(_) => {
                let what = if buffered.is_empty() {
                    "waiting for a response"
                } else {
                    "mid-response"
                };
                return Err((ProbeError::Timeout(format!("{what} from {peer}")), partial(buffered)));
            }
            Ok(Err(e)) => return Err((io_error(&e, peer, "reading"), partial(buffered))),
            Ok(Ok(0)) => {
                let what = if buffered.is_empty() {
                    "before answering"
                } else {
                    "mid-response"
                };
                return Err((ProbeError::Closed(format!("{peer} {what}")), partial(buffered)));
            }
            Ok(Ok(n)) => n,
        };
        buffered.extend_from_slice(&chunk[..got]);
    }
}

/// A response whose declared body exceeds the bound, once the bound is reached: the rest is
/// never read (the connection is then abandoned, as its framing is lost).
fn take_truncated(buffered: &mut Vec<u8>) -> Option<Framed> {
    let (head_len, content_length) = head_and_length(buffered)?;
    if content_length <= MAX_BODY_BYTES || buffered.len() < head_len + MAX_BODY_BYTES {
        return None;
    }
    let message = buffered[..head_len + MAX_BODY_BYTES].to_vec();
    buffered.clear();
    Some(Framed {
        message,
        head_len,
        transferred: head_len + MAX_BODY_BYTES,
        body_truncated: true,
    })
}

/// Take a complete message off the front of `buf`, if there is one.
fn frame(buf: &mut Vec<u8>) -> Option<Framed> {
    if buf.first() == Some(&b'$') {
        // Interleaved binary data: `$`, channel, 16-bit length, payload.
        if buf.len() < 4 {
            return None;
        }
        let len = 4 + usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        if buf.len() < len {
            return None;
        }
        let message: Vec<u8> = buf.drain(..len).collect();
        return Some(Framed {
            transferred: message.len(),
            message,
            head_len: 0,
            body_truncated: false,
        });
    }
    let (head_len, content_length) = head_and_length(buf)?;
    if content_length > MAX_BODY_BYTES {
        return None;
    }
    let total = head_len + content_length;
    if buf.len() < total {
        return None;
    }
    let message: Vec<u8> = buf.drain(..total).collect();
    Some(Framed {
        transferred: message.len(),
        message,
        head_len,
        body_truncated: false,
    })
}

/// Body bytes still missing for the message at the front of `buf`.
fn needed_body(buf: &[u8]) -> Option<usize> {
    let (head_len, content_length) = head_and_length(buf)?;
    let wanted = head_len + content_length.min(MAX_BODY_BYTES);
    Some(wanted.saturating_sub(buf.len()))
}

/// Length of the header block (including its blank line) and the declared body length.
fn head_and_length(buf: &[u8]) -> Option<(usize, usize)> {
    let head_len = header_end(buf)?;
    let head = String::from_utf8_lossy(&buf[..head_len]);
    let content_length = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    Some((head_len, content_length))
}

/// Index just past the blank line ending the header block (CRLF CRLF, or bare LF LF as
/// sloppy servers send), searched within the header bound only.
fn header_end(buf: &[u8]) -> Option<usize> {
    let window = &buf[..buf.len().min(MAX_HEADER_BYTES + 4)];
    let crlf = window.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    // A bare LF LF can only end the block earlier than the CRLF CRLF found.
    let lf_window = crlf.map_or(window, |end| &window[..end]);
    let lf = lf_window.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

enum Interpreted {
    Response(RtspResponse),
    /// Interleaved data or a request from the server: not what we wait for.
    Skip,
    NotRtsp(String),
}

fn interpret(framed: &Framed) -> Interpreted {
    if framed.message.first() == Some(&b'$') {
        return Interpreted::Skip;
    }
    if !framed.body_truncated {
        match Message::<Vec<u8>>::parse(&framed.message) {
            Ok((Message::Response(r), _)) => return Interpreted::Response(from_strict(&r)),
            Ok((Message::Request(_) | Message::Data(_), _)) => return Interpreted::Skip,
            Err(ParseError::Error | ParseError::Incomplete(_)) => {}
        }
    }
    match parse_lenient(&framed.message[..framed.head_len.min(framed.message.len())]) {
        Some(mut r) => {
            r.body = framed.message.get(framed.head_len..).unwrap_or_default().to_vec();
            r.body_truncated = framed.body_truncated;
            Interpreted::Response(r)
        }
        None => {
            let first_line: Vec<u8> = framed
                .message
                .iter()
                .take_while(|b| **b != b'\n')
                .take(80)
                .copied()
                .collect();
            Interpreted::NotRtsp(format!(
                "not an RTSP response: {}",
                crate::tcp::escape_banner(&first_line)
            ))
        }
    }
}

fn from_strict(r: &rtsp_types::Response<Vec<u8>>) -> RtspResponse {
    RtspResponse {
        status: u16::from(r.status()),
        reason: r.reason_phrase().to_owned(),
        headers: r
            .headers()
            .map(|(n, v)| (n.as_str().to_owned(), v.as_str().to_owned()))
            .collect(),
        body: r.body().clone(),
        body_truncated: false,
        conforming: true,
    }
}

/// Status line and headers of a response `rtsp-types` refused: LF line ends, a missing
/// reason phrase, non-UTF-8 values, spaces before the colon. `None` unless it starts with
/// `RTSP/<digit>.<digit> <3 digits>`.
fn parse_lenient(head: &[u8]) -> Option<RtspResponse> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let status_line = lines.next()?;
    let rest = status_line.strip_prefix("RTSP/")?;
    let (version, rest) = rest.split_once(' ')?;
    let vb = version.as_bytes();
    if vb.len() != 3 || !vb[0].is_ascii_digit() || vb[1] != b'.' || !vb[2].is_ascii_digit() {
        return None;
    }
    let rest = rest.trim_start();
    let code = rest.get(..3)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let status: u16 = code.parse().ok()?;
    let reason = rest.get(3..).unwrap_or_default().trim().to_owned();
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = headers.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((n, v)) = line.split_once(':') {
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
    }
    Some(RtspResponse {
        status,
        reason,
        headers,
        body: Vec::new(),
        body_truncated: false,
        conforming: false,
    })
}

/// What to probe.
#[derive(Debug, Clone)]
pub struct RtspProbeRequest {
    pub port: u16,
    /// Candidate stream paths, each starting with `/`; duplicates are asked once.
    pub paths: Vec<String>,
    /// Re-run discovery authenticated, and test Basic when offered. `secret` credentials
    /// never appear in recorded exchanges.
    pub credential: Option<Credential>,
}

/// One path's answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub path: String,
    /// Status of the anonymous DESCRIBE.
    pub status: Option<u16>,
    /// Status of the authenticated DESCRIBE, when the anonymous one was refused and
    /// credentials were given.
    pub authenticated_status: Option<u16>,
}

impl Route {
    /// The answer that decides existence: authenticated when asked, else anonymous.
    fn final_status(&self) -> Option<u16> {
        self.authenticated_status.or(self.status)
    }

    /// 2xx, or 401/403 (there, but refused): cameradar's notion of a found route.
    fn exists(&self) -> bool {
        self.final_status()
            .is_some_and(|s| (200..300).contains(&s) || s == 401 || s == 403)
    }

    fn open(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathError {
    pub path: String,
    pub error: String,
}

/// Everything the probe observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RtspReport {
    /// `Server` header of the first response that had one.
    pub server: Option<String>,
    /// Methods from the OPTIONS response's `Public` header.
    pub public: Vec<String>,
    pub options_status: Option<u16>,
    /// `none` (something was served anonymously), then the challenge labels (`basic`,
    /// `digest-md5`, `digest-sha256`…) in the order first seen.
    pub auth: Vec<String>,
    pub challenges: Vec<Challenge>,
    /// Paths that exist (2xx, 401 or 403 after the authenticated retry), in request order.
    pub routes: Vec<Route>,
    /// Paths whose anonymous DESCRIBE succeeded.
    pub open_routes: Vec<String>,
    /// Whether the target password sent with Basic was accepted: `None` when Basic was not
    /// tried (not offered, or no credential given).
    pub basic_accepted: Option<bool>,
    pub basic_offered: bool,
    /// A random path was answered 2xx (anonymously or with the credential).
    pub accepts_any_path: bool,
    pub random_path: Option<Route>,
    pub paths_tried: usize,
    /// Requests that failed (timeout, closed, garbage), by path (`*` for OPTIONS).
    pub errors: Vec<PathError>,
    /// Responses only the lenient reader could parse.
    pub nonconforming_responses: usize,
    pub elapsed_ms: u64,
}

impl RtspReport {
    /// Observation JSON (`reachable` is always true here: an unreachable port is an error).
    pub fn observations(&self) -> serde_json::Value {
        serde_json::json!({
            "reachable": true,
            "server": self.server,
            "public": self.public,
            "options_status": self.options_status,
            "auth": self.auth,
            "challenges": self.challenges.iter().map(Challenge::observation).collect::<Vec<_>>(),
            "routes": self.routes,
            "open_routes": self.open_routes,
            "basic_offered": self.basic_offered,
            "basic_accepted": self.basic_accepted,
            "accepts_any_path": self.accepts_any_path,
            "random_path": self.random_path,
            "paths_tried": self.paths_tried,
            "errors": self.errors,
            "nonconforming_responses": self.nonconforming_responses,
            "elapsed_ms": self.elapsed_ms,
        })
    }
}

/// A path no camera serves, so that a 2xx to it means the server accepts anything.
pub fn random_path() -> String {
    let mut bytes = [0u8; 8];
    rand::fill(&mut bytes);
    format!("/hopquy-{}", hex::encode(bytes))
}

/// Bookkeeping of one probe run.
struct Discovery<'r> {
    client: RtspClient<'r>,
    report: RtspReport,
    answered_any: bool,
    failures_in_a_row: usize,
    first_error: Option<ProbeError>,
    labels: Vec<String>,
}

impl<'r> Discovery<'r> {
    /// Send one request; a failure is kept as an observation unless the server looks
    /// broken (then the first failure is returned as the probe's error).
    async fn ask(
        &mut self,
        method: Method,
        target: RequestTarget<'_>,
        auth: RtspAuth<'_>,
    ) -> Result<Option<RtspResponse>, ProbeError> {
        match self.client.request(method, target, auth).await {
            Ok(r) => {
                self.answered_any = true;
                self.failures_in_a_row = 0;
                if !r.conforming {
                    self.report.nonconforming_responses += 1;
                }
                if self.report.server.is_none()
                    && let Some(s) = r.header("Server")
                {
                    self.report.server = Some(crate::tcp::escape_banner(s.as_bytes()));
                }
                if r.status == 401 {
                    for c in r.challenges() {
                        let label = c.label();
                        if !self.labels.contains(&label) {
                            self.labels.push(label);
                        }
                        // Nonces change with every 401; one entry per scheme and realm is the fact.
                        let known = self
                            .report
                            .challenges
                            .iter()
                            .any(|k| k.label() == c.label() && k.realm == c.realm);
                        if !known && self.report.challenges.len() < 16 {
                            self.report.challenges.push(c);
                        }
                    }
                }
                Ok(Some(r))
            }
            Err(e) if e.is_unreachable() && !self.answered_any => Err(e),
            Err(e) => {
                let path = match target {
                    RequestTarget::Star => "*".to_owned(),
                    RequestTarget::Path(p) => p.to_owned(),
                };
                tracing::debug!(%path, error = %e, "RTSP request failed");
                self.report.errors.push(PathError {
                    path,
                    error: e.to_string(),
                });
                self.failures_in_a_row += 1;
                let first = self.first_error.get_or_insert(e).clone();
                let limit = if self.answered_any {
                    MAX_CONSECUTIVE_FAILURES
                } else {
                    MAX_FAILURES_BEFORE_ANY_ANSWER
                };
                if self.failures_in_a_row >= limit {
                    return Err(first);
                }
                Ok(None)
            }
        }
    }

    /// DESCRIBE `path` with the credential, answering the latest challenge; one retry with
    /// the new challenge when the nonce was refused as stale or single-use.
    async fn describe_authenticated(
        &mut self,
        path: &str,
        credential: &Credential,
        session: &mut Option<DigestSession>,
        basic_only: bool,
    ) -> Result<Option<u16>, ProbeError> {
        for attempt in 0..2 {
            let response = if basic_only {
                self.ask(Method::Describe, RequestTarget::Path(path), RtspAuth::Basic(credential))
                    .await?
            } else {
                let Some(s) = session.as_mut() else {
                    return Ok(None);
                };
                self.ask(
                    Method::Describe,
                    RequestTarget::Path(path),
                    RtspAuth::Digest(s, credential),
                )
                .await?
            };
            let Some(r) = response else {
                return Ok(None);
            };
            if r.status == 401 && attempt == 0 && !basic_only {
                let fresh = r.challenges();
                if let Some(next) = select_challenge(&fresh, AuthMode::Digest)
                    && session
                        .as_ref()
                        .is_none_or(|s| s.challenge().param("nonce") != next.param("nonce"))
                {
                    *session = Some(DigestSession::new(next.clone()));
                    continue;
                }
            }
            return Ok(Some(r.status));
        }
        Ok(None)
    }
}

/// Run the whole probe: OPTIONS, the random path, every candidate path anonymously, then
/// (with a credential) every refused path authenticated and Basic when offered.
///
/// `Err` only when the port cannot be reached or the server answers nothing usable; partial
/// failures are listed in [`RtspReport::errors`].
pub async fn probe(device: &Device, request: &RtspProbeRequest, rec: &Recorder) -> Result<RtspReport, ProbeError> {
    let begun = Instant::now();
    let mut paths: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for p in &request.paths {
        // Validate before any traffic: a bad path is a definition error, not an observation.
        request_url(device, request.port, p)?;
        if seen.insert(p.clone()) {
            paths.push(p.clone());
        }
    }
    let mut d = Discovery {
        client: RtspClient::new(device, request.port, rec),
        report: RtspReport::default(),
        answered_any: false,
        failures_in_a_row: 0,
        first_error: None,
        labels: Vec::new(),
    };

    if let Some(r) = d
        .ask(Method::Options, RequestTarget::Path("/"), RtspAuth::Anonymous)
        .await?
    {
        d.report.options_status = Some(r.status);
        d.report.public = r.public_methods();
    }

    let random = random_path();
    let mut random_route = Route {
        path: random.clone(),
        status: None,
        authenticated_status: None,
    };
    if let Some(r) = d
        .ask(Method::Describe, RequestTarget::Path(&random), RtspAuth::Anonymous)
        .await?
    {
        random_route.status = Some(r.status);
    }

    let mut routes: Vec<Route> = Vec::with_capacity(paths.len());
    for path in &paths {
        let status = d
            .ask(Method::Describe, RequestTarget::Path(path), RtspAuth::Anonymous)
            .await?
            .map(|r| r.status);
        routes.push(Route {
            path: path.clone(),
            status,
            authenticated_status: None,
        });
    }

    d.report.basic_offered = d.report.challenges.iter().any(Challenge::is_basic);
    if let Some(credential) = &request.credential {
        let mut session = select_challenge(&d.report.challenges, AuthMode::Digest)
            .cloned()
            .map(DigestSession::new);
        // Only when Basic is all the server takes does discovery send it; otherwise Basic is
        // sent once, below, to test whether it is accepted.
        let basic_only = session.is_none() && d.report.basic_offered;
        if session.is_some() || basic_only {
            if random_route.status == Some(401) {
                random_route.authenticated_status = d
                    .describe_authenticated(&random, credential, &mut session, basic_only)
                    .await?;
            }
            for route in routes.iter_mut().filter(|r| r.status == Some(401)) {
                route.authenticated_status = d
                    .describe_authenticated(&route.path, credential, &mut session, basic_only)
                    .await?;
            }
        }
        if d.report.basic_offered {
            let refused: Vec<&Route> = routes
                .iter()
                .chain(std::iter::once(&random_route))
                .filter(|r| r.status == Some(401))
                .collect();
            d.report.basic_accepted = basic_check(&mut d, &refused, credential, basic_only).await?;
        }
    }

    let ok = |s: Option<u16>| s.is_some_and(|s| (200..300).contains(&s));
    d.report.accepts_any_path = ok(random_route.status) || ok(random_route.authenticated_status);
    let served_anonymously = ok(random_route.status) || routes.iter().any(Route::open);
    let mut auth = Vec::new();
    if served_anonymously {
        auth.push("none".to_owned());
    }
    auth.extend(d.labels.iter().cloned());
    d.report.auth = auth;
    d.report.open_routes = routes.iter().filter(|r| r.open()).map(|r| r.path.clone()).collect();
    d.report.paths_tried = routes.len();
    d.report.routes = routes.into_iter().filter(Route::exists).collect();
    d.report.random_path = Some(random_route);
    d.report.elapsed_ms = u64::try_from(begun.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(d.report)
}

/// What one login attempt over RTSP saw: [`describe_as`].
#[derive(Debug, Clone)]
pub struct DescribeAttempt {
    /// Status of the anonymous DESCRIBE that fetched the challenge.
    pub anonymous_status: u16,
    /// The scheme the credential went out with (`digest-md5`, `basic`…); `None` when it was
    /// not sent (the server did not answer 401, or offered no scheme we speak).
    pub auth_used: Option<String>,
    /// The last response: the authenticated one when the credential was sent.
    pub response: RtspResponse,
}

/// One login attempt on a fresh connection: an anonymous DESCRIBE of `path` for a fresh
/// challenge, then the same DESCRIBE with `credential` — Digest when offered, Basic only
/// when it is the only scheme offered (so the password is never sent readable to a server
/// that takes Digest). A `stale` answer is retried once with the new nonce. Every request
/// is recorded; a secret credential is redacted.
pub async fn describe_as(
    device: &Device,
    port: u16,
    path: &str,
    credential: Option<&Credential>,
    rec: &Recorder,
) -> Result<DescribeAttempt, ProbeError> {
    let mut client = RtspClient::new(device, port, rec);
    let first = client
        .request(Method::Describe, RequestTarget::Path(path), RtspAuth::Anonymous)
        .await?;
    let anonymous_status = first.status;
    let Some(credential) = credential.filter(|_| first.status == 401) else {
        return Ok(DescribeAttempt {
            anonymous_status,
            auth_used: None,
            response: first,
        });
    };
    let challenges = first.challenges();
    let Some(mut challenge) = select_challenge(&challenges, AuthMode::Digest).cloned() else {
        if !challenges.iter().any(Challenge::is_basic) {
            return Ok(DescribeAttempt {
                anonymous_status,
                auth_used: None,
                response: first,
            });
        }
        let response = client
            .request(Method::Describe, RequestTarget::Path(path), RtspAuth::Basic(credential))
            .await?;
        return Ok(DescribeAttempt {
            anonymous_status,
            auth_used: Some("basic".to_owned()),
            response,
        });
    };
    for attempt in 0..2 {
        let label = challenge.label();
        let mut session = DigestSession::new(challenge.clone());
        let response = client
            .request(
                Method::Describe,
                RequestTarget::Path(path),
                RtspAuth::Digest(&mut session, credential),
            )
            .await?;
        let retry = (response.status == 401 && attempt == 0)
            .then(|| response.challenges())
            .and_then(|fresh| {
                select_challenge(&fresh, AuthMode::Digest)
                    .filter(|c| c.stale())
                    .cloned()
            });
        match retry {
            Some(next) => challenge = next,
            None => {
                return Ok(DescribeAttempt {
                    anonymous_status,
                    auth_used: Some(label),
                    response,
                });
            }
        }
    }
    Err(ProbeError::Protocol(format!(
        "{}: the Digest nonce was refused as stale twice",
        device.authority(port)
    )))
}

/// Whether an answer to a request carrying credentials shows they passed authentication:
/// 2xx, 3xx or 404 (authenticated, then the path was looked up) yes; 401/403 no; anything
/// else says nothing.
fn credentials_passed(status: u16) -> Option<bool> {
    match status {
        200..=399 | 404 => Some(true),
        401 | 403 => Some(false),
        _ => None,
    }
}

/// Send the credential with Basic to a path that refused the anonymous DESCRIBE. Whether
/// it is accepted is the finding: any client the camera lets do this sends the password
/// readable on the wire.
async fn basic_check(
    d: &mut Discovery<'_>,
    refused: &[&Route],
    credential: &Credential,
    already_sent: bool,
) -> Result<Option<bool>, ProbeError> {
    if already_sent {
        // Discovery authenticated with Basic already; its answers are the evidence.
        return Ok(refused
            .iter()
            .find_map(|r| r.authenticated_status.and_then(credentials_passed)));
    }
    // Prefer a path the credential opened with Digest, so a refusal means "not Basic".
    let Some(path) = refused
        .iter()
        .find(|r| r.authenticated_status.is_some_and(|s| (200..300).contains(&s)))
        .or_else(|| refused.first())
        .map(|r| r.path.clone())
    else {
        return Ok(None);
    };
    let r = d
        .ask(
            Method::Describe,
            RequestTarget::Path(&path),
            RtspAuth::Basic(credential),
        )
        .await?;
    Ok(r.and_then(|r| credentials_passed(r.status)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn framed(bytes: &[u8]) -> Framed {
        let mut buf = bytes.to_vec();
        frame(&mut buf).unwrap()
    }

    fn response(bytes: &[u8]) -> RtspResponse {
        match interpret(&framed(bytes)) {
            Interpreted::Response(r) => r,
            Interpreted::Skip => panic!("skipped"),
            Interpreted::NotRtsp(why) => panic!("{why}"),
        }
    }

    /// A Hikvision-style 401 with Digest and Basic on separate lines, as recorded from a
    /// camera: the strict parser merges them into one comma-joined value.
    const HIK_401: &[u8] = b"RTSP/1.0 401 Unauthorized\r\nCSeq: 3\r\nWWW-Authenticate: Digest realm=\"IP Camera(C6164)\", nonce=\"a5e2e52cbe0c1a9c1c0d7a3a1c1d8e6f\", stale=\"FALSE\"\r\nWWW-Authenticate: Basic realm=\"IP Camera(C6164)\"\r\nDate:  Mon, Jan 05 2026 10:11:12 GMT\r\n\r\n";

    #[test]
    fn merged_digest_and_basic_challenges_are_both_classified() {
        let r = response(HIK_401);
        assert!(r.conforming);
        assert_eq!(r.status, 401);
        let values = r.header_values("www-authenticate");
        assert_eq!(values.len(), 1, "rtsp-types merges repeated headers: {values:?}");
        assert!(
            values[0].contains("Digest") && values[0].contains("Basic"),
            "{values:?}"
        );
        let labels: Vec<String> = r.challenges().iter().map(Challenge::label).collect();
        assert_eq!(labels, ["digest-md5", "basic"]);
        assert_eq!(
            r.challenges()[0].param("nonce"),
            Some("a5e2e52cbe0c1a9c1c0d7a3a1c1d8e6f")
        );
    }

    #[test]
    fn one_value_with_sha256_and_md5() {
        let r = response(
            b"RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n1\", algorithm=SHA-256, qop=\"auth\", Digest realm=\"r\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"\r\n\r\n",
        );
        let labels: Vec<String> = r.challenges().iter().map(Challenge::label).collect();
        assert_eq!(labels, ["digest-sha256", "digest-md5"]);
        assert_eq!(
            select_challenge(&r.challenges(), AuthMode::Digest)
                .map(Challenge::label)
                .as_deref(),
            Some("digest-sha256")
        );
    }

    #[test]
    fn options_public_and_server() {
        let r = response(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE, SETUP,TEARDOWN, PLAY\r\nServer: Rtsp Server/3.0\r\n\r\n");
        assert_eq!(r.public_methods(), ["OPTIONS", "DESCRIBE", "SETUP", "TEARDOWN", "PLAY"]);
        assert_eq!(r.header("server"), Some("Rtsp Server/3.0"));
    }

    #[test]
    fn sdp_body_is_framed_by_content_length() {
        let sdp = b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n";
        let mut bytes = format!(
            "RTSP/1.0 200 OK\r\nCSeq: 4\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n",
            sdp.len()
        )
        .into_bytes();
        bytes.extend_from_slice(sdp);
        bytes.extend_from_slice(b"RTSP/1.0 200 OK\r\nCSeq: 5\r\n\r\n");
        let mut buf = bytes.clone();
        let first = frame(&mut buf).unwrap();
        let Interpreted::Response(r) = interpret(&first) else {
            panic!("not a response")
        };
        assert_eq!(r.body, sdp);
        assert!(
            buf.starts_with(b"RTSP/1.0 200 OK\r\nCSeq: 5"),
            "the next message stays buffered"
        );
    }

    #[test]
    fn incomplete_messages_wait_for_more() {
        let mut buf = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 10\r\n\r\nabc".to_vec();
        assert!(frame(&mut buf).is_none());
        assert_eq!(needed_body(&buf), Some(7));
        let mut head_only = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n".to_vec();
        assert!(frame(&mut head_only).is_none());
        let mut data = vec![b'$', 0, 0, 3, 1, 2];
        assert!(frame(&mut data).is_none());
        data.push(3);
        assert_eq!(frame(&mut data).unwrap().message.len(), 7);
    }

    #[test]
    fn sloppy_responses_fall_back_to_the_lenient_reader() {
        // LF line ends, no reason phrase, a space before the colon, a Latin-1 byte.
        let r = response(b"RTSP/1.0 401\nCSeq: 2\nServer : Cam\xe9ra\nWWW-Authenticate: Basic realm=\"x\"\n\n");
        assert!(!r.conforming);
        assert_eq!(r.status, 401);
        assert_eq!(r.header("Server"), Some("Cam\u{fffd}ra"));
        assert_eq!(r.challenges()[0].label(), "basic");
    }

    #[test]
    fn non_rtsp_answers_are_protocol_findings() {
        for bytes in [
            &b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"[..],
            b"\x00\x01garbage\r\n\r\n",
            b"RTSP/1.0 2x0 OK\r\n\r\n",
        ] {
            assert!(
                matches!(interpret(&framed(bytes)), Interpreted::NotRtsp(_)),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn server_requests_and_interleaved_data_are_skipped() {
        assert!(matches!(
            interpret(&framed(b"GET_PARAMETER rtsp://h/ RTSP/1.0\r\nCSeq: 9\r\n\r\n")),
            Interpreted::Skip
        ));
        assert!(matches!(interpret(&framed(&[b'$', 1, 0, 1, 0xff])), Interpreted::Skip));
    }

    #[test]
    fn requests_are_serialised_with_our_cseq_and_headers() {
        let url = Url::parse("rtsp://127.0.0.1:554/Streaming/Channels/101").unwrap();
        let bytes = serialise(&Method::Describe, Some(&url), 7, Some("Basic [REDACTED]")).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with("DESCRIBE rtsp://127.0.0.1:554/Streaming/Channels/101 RTSP/1.0\r\n"),
            "{text}"
        );
        for needle in [
            "CSeq: 7\r\n",
            "Accept: application/sdp\r\n",
            "Authorization: Basic [REDACTED]\r\n",
        ] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
        let star = String::from_utf8(serialise(&Method::Options, None, 1, None).unwrap()).unwrap();
        assert!(star.starts_with("OPTIONS * RTSP/1.0\r\n"), "{star}");
    }

    #[test]
    fn bad_paths_are_refused_before_any_traffic() {
        let rec = Recorder::default();
        let device = Device::new("127.0.0.1", crate::Limits::default());
        let client = RtspClient::new(&device, 554, &rec);
        for bad in ["relative", "/with space", "/tab\there", "/nl\r\nInjected: x"] {
            assert!(matches!(client.url(bad), Err(ProbeError::Invalid(_))), "{bad:?}");
        }
        assert_eq!(
            client.url("/cam/realmonitor?channel=1&subtype=0").unwrap().as_str(),
            "rtsp://127.0.0.1:554/cam/realmonitor?channel=1&subtype=0"
        );
        let v6 = Device::new("::1", crate::Limits::default());
        assert_eq!(
            RtspClient::new(&v6, 8554, &rec).url("/s").unwrap().as_str(),
            "rtsp://[::1]:8554/s"
        );
    }

    #[test]
    fn route_existence_follows_the_authenticated_answer() {
        let r = |status, authenticated_status| Route {
            path: "/p".into(),
            status,
            authenticated_status,
        };
        assert!(r(Some(200), None).exists() && r(Some(200), None).open());
        assert!(r(Some(401), None).exists() && !r(Some(401), None).open());
        assert!(r(Some(401), Some(200)).exists());
        assert!(!r(Some(401), Some(404)).exists(), "401-before-404 camera: absent");
        assert!(!r(Some(404), None).exists());
        assert!(!r(None, None).exists());
    }

    #[test]
    fn random_paths_differ() {
        let (a, b) = (random_path(), random_path());
        assert_ne!(a, b);
        assert!(a.starts_with("/hopquy-") && a.len() == "/hopquy-".len() + 16);
    }
}
