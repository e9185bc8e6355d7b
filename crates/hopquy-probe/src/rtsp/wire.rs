//! RTSP messages on the wire: serialising requests, framing what the server sends within the
//! size bounds, and reading responses strictly (`rtsp-types`) or, for sloppy cameras, leniently.

use rtsp_types::{Message, ParseError, Url, Version, headers};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{Method, USER_AGENT};
use crate::ProbeError;
use crate::auth::{Challenge, parse_challenges};

/// Bound on a response's status line and headers.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Bound on the body kept from one response (an SDP is a few hundred bytes).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
const READ_CHUNK: usize = 8 * 1024;

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

/// How the bytes of one response arrived.
pub(super) struct Framed {
    pub(super) message: Vec<u8>,
    head_len: usize,
    pub(super) transferred: usize,
    pub(super) body_truncated: bool,
}

pub(super) fn method_str(m: &Method) -> &str {
    <&str>::from(m)
}

pub(super) fn serialise(
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

pub(super) fn io_error(e: &std::io::Error, peer: &str, doing: &str) -> ProbeError {
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
pub(super) async fn read_message(
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

pub(super) enum Interpreted {
    Response(RtspResponse),
    /// Interleaved data or a request from the server: not what we wait for.
    Skip,
    NotRtsp(String),
}

pub(super) fn interpret(framed: &Framed) -> Interpreted {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::{AuthMode, select_challenge};

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
}
