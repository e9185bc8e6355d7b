//! One HTTP/1.1 request whose request-target goes to the device byte for byte.
//!
//! Some known vulnerabilities only answer a request-target that is not an origin-form path
//! (XiongMai uc-httpd's `GET ../../etc/passwd`, CVE-2017-7577). reqwest parses every request
//! into a URL, which removes `../`, so such a request is written here on the device's own
//! connection ([`Device::connect_tcp`], TLS with the device's pinned certificate) and its
//! answer is read with httparse. The target is still sent only to the device host: a target
//! holding `://` (absolute-form, which a proxying server would fetch from elsewhere) is
//! refused, as is any byte that would end the request line.
//!
//! No credentials are ever sent on this path: a raw target is for anonymous proofs.
//! Exchanges are [`Capture::Wire`]: the exact bytes written and read. One exception keeps a
//! secret from escaping its pattern: a chunked answer with `answer_secrets` is recorded as
//! its head and the de-chunked, redacted body, since a chunk boundary may split a secret.

use std::net::IpAddr;
use std::sync::Arc;

use sha2::Digest as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::{HttpProbe, HttpResponse, Scheme, USER_AGENT, redact_groups};
use crate::ProbeError;
use crate::auth::parse_challenges;
use crate::exchange::{self, Capture, Exchange, Payload, Recorder};

/// Longest request-target sent; longer ones are refused before connecting.
pub const MAX_REQUEST_TARGET: usize = 2048;
/// Bound on the status line and headers of an answer.
const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;
/// A chunk-size line longer than this is not a camera's framing but garbage.
const MAX_CHUNK_LINE: usize = 1024;
const READ_CHUNK: usize = 16 * 1024;
/// Headers this module sets itself, or that would carry credentials, framing or another host.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "authorization",
    "proxy-authorization",
];

/// Why `target` cannot be sent as a request-target, or `None`. The case checker applies the
/// same rule, so a case that validates is a request the probe sends.
pub fn request_target_problem(target: &str) -> Option<String> {
    if target.is_empty() {
        return Some("the request-target is empty".into());
    }
    if target.len() > MAX_REQUEST_TARGET {
        return Some(format!(
            "the request-target is {} bytes long, more than {MAX_REQUEST_TARGET}",
            target.len()
        ));
    }
    if let Some(byte) = target.bytes().find(|b| *b <= 0x20 || *b == 0x7f) {
        return Some(format!(
            "the request-target holds byte 0x{byte:02x} (a space or control character would end or split the request line)"
        ));
    }
    if target.contains("://") {
        return Some(
            "the request-target holds `://`: an absolute-form target could make the device fetch from another host"
                .into(),
        );
    }
    None
}

/// One anonymous request with a verbatim request-target.
#[derive(Debug, Clone)]
pub struct RawTargetRequest {
    pub scheme: Scheme,
    pub port: u16,
    pub method: String,
    /// Sent as is between the method and `HTTP/1.1`; see [`request_target_problem`].
    pub target: String,
    /// Extra headers; `User-Agent` and `Accept` given here replace ours. `Host`,
    /// `Connection`, framing and authorization headers are refused.
    pub headers: Vec<(String, String)>,
    /// Human label for the recorded exchange; defaults to `METHOD target (raw request-target)`.
    pub label: String,
    /// As [`super::HttpRequest::answer_secrets`]: what each group matches is redacted from the
    /// answer before it is recorded or returned.
    pub answer_secrets: Option<regex::bytes::Regex>,
}

impl RawTargetRequest {
    pub fn get(scheme: Scheme, port: u16, target: impl Into<String>) -> Self {
        RawTargetRequest {
            scheme,
            port,
            method: "GET".into(),
            target: target.into(),
            headers: Vec::new(),
            label: String::new(),
            answer_secrets: None,
        }
    }
}

/// What was read, kept whatever happens so a failed exchange is still recorded.
#[derive(Default)]
struct Received {
    raw: Vec<u8>,
    /// Bytes read from the connection (may exceed what `raw` kept).
    transferred: usize,
    head_len: Option<usize>,
    chunked: bool,
    body: Vec<u8>,
    peer_cert_sha256: Option<String>,
}

struct Parsed {
    status: u16,
    version: String,
    headers: Vec<(String, String)>,
    truncated: bool,
}

enum Framing {
    None,
    Length(usize),
    Chunked,
    Close,
}

enum Read {
    Data,
    Eof,
    /// The kept-bytes bound was reached; nothing more is read.
    Full,
}

impl HttpProbe {
    /// Send one request whose request-target is `req.target` byte for byte, without
    /// credentials, on a connection of its own (`Connection: close`), and read the answer
    /// within the io timeout and the size bound. The exchange is recorded whatever happens.
    pub async fn send_raw_target(&self, req: &RawTargetRequest, rec: &Recorder) -> Result<HttpResponse, ProbeError> {
        if let Some(problem) = request_target_problem(&req.target) {
            return Err(ProbeError::Invalid(problem));
        }
        let sent = self.raw_request_bytes(req)?;
        let peer = self.device.authority(req.port);
        let label = if req.label.is_empty() {
            format!("{} {} (raw request-target)", req.method, req.target)
        } else {
            req.label.clone()
        };
        let started = exchange::now();
        let (stream, _permit) = match self.device.connect_tcp(req.port).await {
            Ok(connected) => connected,
            Err(err) => {
                self.record_raw(rec, req, &peer, &label, started, &sent, None, Some(&err));
                return Err(err);
            }
        };
        let begun = Instant::now();
        let deadline = begun + self.device.limits().io_timeout;
        let mut got = Received::default();
        let result = match req.scheme {
            Scheme::Http => {
                let mut stream = stream;
                self.exchange_on(&mut stream, req, &sent, deadline, &peer, &mut got)
                    .await
            }
            Scheme::Https => match self.tls_connect(stream, deadline, &peer, &mut got).await {
                Ok(mut tls) => self.exchange_on(&mut tls, req, &sent, deadline, &peer, &mut got).await,
                Err(err) => Err(err),
            },
        };
        if let Some(secrets) = &req.answer_secrets {
            got.body = redact_groups(secrets, &got.body);
        }
        let received = (got.transferred > 0 || result.is_ok()).then(|| recorded_answer(&got, req));
        let truncated = result.as_ref().map(|p| p.truncated).unwrap_or(true);
        self.record_raw(
            rec,
            req,
            &peer,
            &label,
            started,
            &sent,
            received.map(|bytes| (bytes, got.transferred, truncated)),
            result.as_ref().err(),
        );
        let parsed = result?;
        tracing::debug!(%peer, status = parsed.status, body = got.body.len(), truncated, "raw-target HTTP exchange");
        let challenges = if parsed.status == 401 {
            let values: Vec<&str> = parsed
                .headers
                .iter()
                .filter(|(name, _)| name == "www-authenticate")
                .map(|(_, value)| value.as_str())
                .collect();
            parse_challenges(&values)
        } else {
            Vec::new()
        };
        Ok(HttpResponse {
            status: parsed.status,
            version: parsed.version,
            headers: parsed.headers,
            body: got.body,
            body_truncated: parsed.truncated,
            challenges,
            auth_used: None,
            elapsed_ms: u64::try_from(begun.elapsed().as_millis()).unwrap_or(u64::MAX),
            peer_cert_sha256: got.peer_cert_sha256,
        })
    }

    /// The request as written: request line, our headers, the step's, blank line.
    fn raw_request_bytes(&self, req: &RawTargetRequest) -> Result<Vec<u8>, ProbeError> {
        let method_ok = !req.method.is_empty()
            && req.method.len() <= 32
            && req
                .method
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !method_ok {
            return Err(ProbeError::Invalid(format!("bad HTTP method {:?}", req.method)));
        }
        for (name, value) in &req.headers {
            let name_ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !name_ok {
                return Err(ProbeError::Invalid(format!("bad header name {name:?}")));
            }
            if RESERVED_HEADERS.iter().any(|r| name.eq_ignore_ascii_case(r)) {
                return Err(ProbeError::Invalid(format!(
                    "header {name} cannot be set on a raw request-target (it carries credentials, framing or the host)"
                )));
            }
            if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                return Err(ProbeError::Invalid(format!("bad value for header {name}")));
            }
        }
        let host = if req.port == req.scheme.default_port() {
            let auth = self.device.authority(req.port);
            auth.rsplit_once(':').map(|(h, _)| h.to_owned()).unwrap_or(auth)
        } else {
            self.device.authority(req.port)
        };
        let given = |name: &str| req.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        let mut out = format!("{} {} HTTP/1.1\r\nHost: {host}\r\n", req.method, req.target);
        if !given("user-agent") {
            out.push_str(&format!("User-Agent: {USER_AGENT}\r\n"));
        }
        if !given("accept") {
            out.push_str("Accept: */*\r\n");
        }
        out.push_str("Connection: close\r\n");
        for (name, value) in &req.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        Ok(out.into_bytes())
    }

    async fn tls_connect(
        &self,
        stream: tokio::net::TcpStream,
        deadline: Instant,
        peer: &str,
        got: &mut Received,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, ProbeError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        // Camera certificates are rarely valid; the device pin below is what is checked.
        let verifier = Arc::new(crate::tls::cert::AcceptAnyCertificate::new(&provider));
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| ProbeError::Tls(format!("building the TLS client: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let host = self.device.host().trim_start_matches('[').trim_end_matches(']');
        let server_name = match host.parse::<IpAddr>() {
            Ok(ip) => rustls::pki_types::ServerName::IpAddress(ip.into()),
            Err(_) => rustls::pki_types::ServerName::try_from(host.to_owned())
                .map_err(|e| ProbeError::Invalid(format!("{host:?} is not a server name: {e}")))?,
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tls = tokio::time::timeout_at(deadline, connector.connect(server_name, stream))
            .await
            .map_err(|_| ProbeError::Timeout(format!("completing the TLS handshake with {peer}")))?
            .map_err(|e| ProbeError::Tls(format!("{peer}: {e}")))?;
        let sha = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|der| hex::encode(sha2::Sha256::digest(der)));
        match &sha {
            // Nothing of this answer is read if the certificate changed: it may come from
            // whoever is in the middle.
            Some(sha) => self.device.pin_certificate(sha)?,
            None => return Err(ProbeError::Tls(format!("{peer} presented no certificate"))),
        }
        got.peer_cert_sha256 = sha;
        Ok(tls)
    }

    async fn exchange_on<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        req: &RawTargetRequest,
        sent: &[u8],
        deadline: Instant,
        peer: &str,
        got: &mut Received,
    ) -> Result<Parsed, ProbeError> {
        let write = async {
            stream.write_all(sent).await?;
            stream.flush().await
        };
        match tokio::time::timeout_at(deadline, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(io_error(&e, peer, "sending the request to")),
            Err(_) => return Err(ProbeError::Timeout(format!("sending the request to {peer}"))),
        }
        let max_body = self.device.limits().max_response_bytes;
        // Chunk framing may outweigh its data; bounded too, at twice the body bound.
        let cap = MAX_HEAD_BYTES
            .saturating_add(max_body.saturating_mul(2))
            .saturating_add(READ_CHUNK);
        let (parsed, head_len) = loop {
            let start = got.head_len.unwrap_or(0);
            match parse_head(&got.raw[start..])? {
                Some((parsed, len)) if (100..200).contains(&parsed.status) && parsed.status != 101 => {
                    // An interim answer: the final one follows it.
                    got.head_len = Some(start + len);
                }
                Some((parsed, len)) => break (parsed, start + len),
                None => {
                    if got.raw.len() - start > MAX_HEAD_BYTES {
                        return Err(ProbeError::Protocol(format!(
                            "{peer} sent more than {MAX_HEAD_BYTES} bytes without ending its status line and headers"
                        )));
                    }
                    match read_more(stream, got, deadline, cap, peer).await? {
                        Read::Data => {}
                        Read::Eof if got.raw.is_empty() => {
                            return Err(ProbeError::Closed(format!("{peer} before answering")));
                        }
                        Read::Eof | Read::Full => {
                            return Err(ProbeError::Protocol(format!(
                                "{peer} closed the connection before a complete status line and headers"
                            )));
                        }
                    }
                }
            }
        };
        got.head_len = Some(head_len);
        let framing = framing(req, &parsed)?;
        let mut truncated = false;
        match framing {
            Framing::None => {}
            Framing::Length(len) => {
                let want = len.min(max_body);
                while got.raw.len() - head_len < want {
                    match read_more(stream, got, deadline, cap, peer).await? {
                        Read::Data => {}
                        Read::Eof | Read::Full => {
                            got.body = got.raw[head_len..].to_vec();
                            return Err(ProbeError::Closed(format!(
                                "{peer} after {} of {len} body bytes",
                                got.raw.len() - head_len
                            )));
                        }
                    }
                }
                got.body = got.raw[head_len..head_len + want].to_vec();
                truncated = len > max_body;
            }
            Framing::Close => {
                loop {
                    if got.raw.len() - head_len > max_body {
                        truncated = true;
                        break;
                    }
                    match read_more(stream, got, deadline, cap, peer).await {
                        Ok(Read::Data) => {}
                        Ok(Read::Eof) => break,
                        Ok(Read::Full) => {
                            truncated = true;
                            break;
                        }
                        Err(err) => {
                            got.body = got.raw[head_len..].to_vec();
                            return Err(err);
                        }
                    }
                }
                let end = got.raw.len().min(head_len.saturating_add(max_body));
                got.body = got.raw[head_len..end].to_vec();
            }
            Framing::Chunked => {
                got.chunked = true;
                truncated = read_chunked(stream, got, head_len, deadline, cap, max_body, peer).await?;
            }
        }
        Ok(Parsed { truncated, ..parsed })
    }

    #[allow(clippy::too_many_arguments)]
    fn record_raw(
        &self,
        rec: &Recorder,
        req: &RawTargetRequest,
        peer: &str,
        label: &str,
        started: chrono::DateTime<chrono::Utc>,
        sent: &[u8],
        received: Option<(Vec<u8>, usize, bool)>,
        error: Option<&ProbeError>,
    ) {
        rec.record(Exchange {
            protocol: req.scheme.as_str().into(),
            peer: peer.to_owned(),
            started,
            finished: exchange::now(),
            capture: Capture::Wire,
            label: label.to_owned(),
            sent: Some(Payload::from_bytes(sent, sent.len(), false)),
            received: received.map(|(bytes, len, truncated)| Payload::from_bytes(&bytes, len, truncated)),
            error: error.map(ToString::to_string),
        });
    }
}

/// The answer as it is kept: the bytes read, with the step's secrets redacted.
fn recorded_answer(got: &Received, req: &RawTargetRequest) -> Vec<u8> {
    let Some(secrets) = &req.answer_secrets else {
        return got.raw.clone();
    };
    match got.head_len {
        Some(head_len) if got.chunked => {
            // `got.body` is already redacted; the chunked wire bytes could split a secret.
            let mut out = got.raw[..head_len.min(got.raw.len())].to_vec();
            out.extend_from_slice(&got.body);
            out
        }
        _ => redact_groups(secrets, &got.raw),
    }
}

/// The status line and headers at the start of `buf`, with their length, once complete.
fn parse_head(buf: &[u8]) -> Result<Option<(Parsed, usize)>, ProbeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let mut config = httparse::ParserConfig::default();
    // Cameras send sloppy headers; observing them beats failing on them.
    config
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_spaces_after_header_name_in_responses(true)
        .ignore_invalid_headers_in_responses(true);
    let len = match config.parse_response(&mut response, buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            return Err(ProbeError::Protocol(format!(
                "the answer's status line or headers: {e}"
            )));
        }
    };
    let (Some(status), Some(minor)) = (response.code, response.version) else {
        return Err(ProbeError::Protocol("the answer has no status line".into()));
    };
    let headers = response
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_owned(),
            )
        })
        .collect();
    Ok(Some((
        Parsed {
            status,
            version: format!("HTTP/1.{minor}"),
            headers,
            truncated: false,
        },
        len,
    )))
}

fn framing(req: &RawTargetRequest, parsed: &Parsed) -> Result<Framing, ProbeError> {
    if req.method.eq_ignore_ascii_case("HEAD") || matches!(parsed.status, 101 | 204 | 304) {
        return Ok(Framing::None);
    }
    let values = |name: &'static str| parsed.headers.iter().filter(move |(n, _)| n == name).map(|(_, v)| v);
    let chunked = values("transfer-encoding")
        .flat_map(|v| v.split(','))
        .next_back()
        .is_some_and(|coding| coding.trim().eq_ignore_ascii_case("chunked"));
    if chunked {
        return Ok(Framing::Chunked);
    }
    let mut length = None;
    for value in values("content-length").flat_map(|v| v.split(',')) {
        let n: usize = value
            .trim()
            .parse()
            .map_err(|_| ProbeError::Protocol(format!("invalid Content-Length {value:?}")))?;
        if length.is_some_and(|l| l != n) {
            return Err(ProbeError::Protocol("conflicting Content-Length values".into()));
        }
        length = Some(n);
    }
    Ok(length.map_or(Framing::Close, Framing::Length))
}

/// Decode a chunked body after the head into `got.body`, at most `max_body` bytes kept.
/// Returns whether the body was cut at the bound.
async fn read_chunked<S: AsyncRead + Unpin>(
    stream: &mut S,
    got: &mut Received,
    head_len: usize,
    deadline: Instant,
    cap: usize,
    max_body: usize,
    peer: &str,
) -> Result<bool, ProbeError> {
    let mut at = head_len;
    loop {
        let (line_len, size) = loop {
            match httparse::parse_chunk_size(&got.raw[at..]) {
                Ok(httparse::Status::Complete((len, size))) => break (len, size),
                Ok(httparse::Status::Partial) if got.raw.len() - at > MAX_CHUNK_LINE => {
                    return Err(ProbeError::Protocol(format!(
                        "{peer} sent a chunk-size line that does not end"
                    )));
                }
                Ok(httparse::Status::Partial) => {}
                Err(_) => return Err(ProbeError::Protocol(format!("{peer} sent an invalid chunk size"))),
            }
            match read_more(stream, got, deadline, cap, peer).await? {
                Read::Data => {}
                Read::Full => return Ok(true),
                Read::Eof => return Err(ProbeError::Closed(format!("{peer} in the middle of a chunked body"))),
            }
        };
        if size == 0 {
            // Trailers are not read: the connection is closed after this answer anyway.
            return Ok(false);
        }
        at += line_len;
        let room = max_body.saturating_sub(got.body.len());
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        let take = size.min(room);
        // The chunk's CRLF is only awaited when the whole chunk is kept.
        let need = if take < size { take } else { take.saturating_add(2) };
        while got.raw.len() - at < need {
            match read_more(stream, got, deadline, cap, peer).await? {
                Read::Data => {}
                Read::Full => {
                    let have = (got.raw.len() - at).min(take);
                    got.body.extend_from_slice(&got.raw[at..at + have]);
                    return Ok(true);
                }
                Read::Eof => {
                    let have = (got.raw.len() - at).min(take);
                    got.body.extend_from_slice(&got.raw[at..at + have]);
                    return Err(ProbeError::Closed(format!("{peer} in the middle of a chunk")));
                }
            }
        }
        got.body.extend_from_slice(&got.raw[at..at + take]);
        if take < size {
            return Ok(true);
        }
        at += take;
        if &got.raw[at..at + 2] != b"\r\n" {
            return Err(ProbeError::Protocol(format!("{peer} sent a chunk without its CRLF")));
        }
        at += 2;
    }
}

/// Read what the device sends next into `got.raw`, within the deadline and `cap` kept bytes.
async fn read_more<S: AsyncRead + Unpin>(
    stream: &mut S,
    got: &mut Received,
    deadline: Instant,
    cap: usize,
    peer: &str,
) -> Result<Read, ProbeError> {
    let room = cap.saturating_sub(got.raw.len()).min(READ_CHUNK);
    if room == 0 {
        return Ok(Read::Full);
    }
    let mut buf = vec![0u8; room];
    match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
        Ok(Ok(0)) => Ok(Read::Eof),
        Ok(Ok(n)) => {
            got.raw.extend_from_slice(&buf[..n]);
            got.transferred = got.transferred.saturating_add(n);
            Ok(Read::Data)
        }
        // Cameras close TLS without close_notify; the bytes before it are the answer.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(Read::Eof),
        Ok(Err(e)) => Err(io_error(&e, peer, "reading the answer of")),
        Err(_) => Err(ProbeError::Timeout(format!(
            "reading the answer of {peer} after {} bytes",
            got.transferred
        ))),
    }
}

fn io_error(e: &std::io::Error, peer: &str, doing: &str) -> ProbeError {
    use std::io::ErrorKind as K;
    let text = format!("{doing} {peer}: {e}");
    if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
        return ProbeError::Tls(text);
    }
    match e.kind() {
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => ProbeError::Closed(text),
        K::TimedOut => ProbeError::Timeout(text),
        _ => ProbeError::Protocol(text),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use tokio::net::TcpListener;

    use super::*;
    use crate::{Device, Limits};

    /// A server on 127.0.0.1 that reads one request head, hands it back on the channel and
    /// answers `answer` (or nothing, when `None`), then closes.
    async fn serve_once(answer: Option<Vec<u8>>) -> (u16, tokio::sync::oneshot::Receiver<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = tx.send(request);
            match answer {
                Some(bytes) => {
                    let _ = socket.write_all(&bytes).await;
                    let _ = socket.shutdown().await;
                }
                None => tokio::time::sleep(Duration::from_secs(30)).await,
            }
        });
        (port, rx)
    }

    fn probe(limits: Limits) -> HttpProbe {
        HttpProbe::new(Device::new("127.0.0.1", limits)).unwrap()
    }

    async fn send(answer: &[u8], limits: Limits) -> (Result<HttpResponse, ProbeError>, Vec<u8>, Vec<Exchange>) {
        let (port, request) = serve_once(Some(answer.to_vec())).await;
        let rec = Recorder::default();
        let req = RawTargetRequest::get(Scheme::Http, port, "../../etc/passwd");
        let result = probe(limits).send_raw_target(&req, &rec).await;
        (result, request.await.unwrap_or_default(), rec.drain())
    }

    #[tokio::test]
    async fn the_target_arrives_verbatim_and_a_sized_answer_is_read() {
        let answer = b"HTTP/1.1 200 OK\r\nServer: uc-httpd 1.0.0\r\nContent-Length: 5\r\n\r\nroot:trailing";
        let (result, request, exchanges) = send(answer, Limits::default()).await;
        let text = String::from_utf8(request).unwrap();
        assert!(
            text.starts_with("GET ../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1:"),
            "{text}"
        );
        assert!(
            text.contains("\r\nConnection: close\r\n") && text.ends_with("\r\n\r\n"),
            "{text}"
        );
        assert!(!text.to_ascii_lowercase().contains("authorization"), "{text}");
        let resp = result.unwrap();
        assert_eq!((resp.status, resp.version.as_str()), (200, "HTTP/1.1"));
        assert_eq!(resp.header("server"), Some("uc-httpd 1.0.0"));
        assert_eq!(resp.headers[0].0, "server", "names are lower-case");
        assert_eq!(resp.body, b"root:");
        assert!(!resp.body_truncated);
        assert_eq!(exchanges.len(), 1);
        assert_eq!(exchanges[0].capture, Capture::Wire);
        assert_eq!(exchanges[0].sent.as_ref().unwrap().text.as_deref(), Some(text.as_str()));
        assert_eq!(
            exchanges[0]
                .received
                .as_ref()
                .unwrap()
                .text
                .as_deref()
                .map(str::as_bytes),
            Some(&answer[..])
        );
    }

    #[tokio::test]
    async fn a_chunked_answer_is_decoded_and_its_secrets_redacted_across_chunks() {
        // The hash is split across two chunks: the wire bytes alone would leak half of it.
        let answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nroot:abs\r\n10;x=y\r\nxcfbgXtb3o:0:0:\n\r\n0\r\n\r\n";
        let (port, _request) = serve_once(Some(answer.to_vec())).await;
        let rec = Recorder::default();
        let mut req = RawTargetRequest::get(Scheme::Http, port, "../etc/passwd");
        req.answer_secrets = Some(regex::bytes::Regex::new(r"(?m)^[^:\r\n]*:([^:\r\n]*)").unwrap());
        let resp = probe(Limits::default()).send_raw_target(&req, &rec).await.unwrap();
        assert_eq!(resp.body, b"root:[REDACTED]:0:0:\n");
        let kept = rec.drain()[0].received.clone().unwrap().text.unwrap();
        assert!(!kept.contains("abs") && !kept.contains("xcfbg"), "{kept}");
        assert!(kept.starts_with("HTTP/1.1 200 OK\r\n"), "{kept}");
    }

    #[tokio::test]
    async fn a_close_delimited_answer_is_read_to_the_end() {
        let (result, _, _) = send(b"HTTP/1.0 404 Not Found\r\n\r\nnot here\n", Limits::default()).await;
        let resp = result.unwrap();
        assert_eq!((resp.status, resp.version.as_str()), (404, "HTTP/1.0"));
        assert_eq!(resp.body, b"not here\n");
    }

    #[tokio::test]
    async fn garbage_or_a_silent_close_is_an_error_not_a_panic() {
        for garbage in [
            &b"SSH-2.0-dropbear\r\n\r\n"[..],
            b"HTTP/1.1 2x0 OK\r\n\r\n",
            b"\x00\xff\x16\x03",
        ] {
            let (result, _, exchanges) = send(garbage, Limits::default()).await;
            assert!(
                matches!(result, Err(ProbeError::Protocol(_))),
                "{garbage:?}: {result:?}"
            );
            assert!(exchanges[0].error.is_some() && exchanges[0].received.is_some());
        }
        let (result, _, _) = send(b"", Limits::default()).await;
        assert!(matches!(result, Err(ProbeError::Closed(_))), "{result:?}");
        let (result, _, _) = send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", Limits::default()).await;
        assert!(matches!(result, Err(ProbeError::Closed(_))), "{result:?}");
        // One header longer than the head bound: refused at the bound, not read on.
        let mut huge = b"HTTP/1.1 200 OK\r\nX-Filler: ".to_vec();
        huge.extend_from_slice(&vec![b'a'; MAX_HEAD_BYTES + 10]);
        let (result, _, _) = send(&huge, Limits::default()).await;
        assert!(matches!(result, Err(ProbeError::Protocol(_))), "{result:?}");
    }

    #[tokio::test]
    async fn a_device_that_never_answers_times_out() {
        let (port, _request) = serve_once(None).await;
        let limits = Limits {
            io_timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let rec = Recorder::default();
        let req = RawTargetRequest::get(Scheme::Http, port, "../etc/passwd");
        let result = probe(limits).send_raw_target(&req, &rec).await;
        assert!(matches!(result, Err(ProbeError::Timeout(_))), "{result:?}");
        let exchanges = rec.drain();
        assert!(exchanges[0].received.is_none() && exchanges[0].error.is_some());
    }

    #[tokio::test]
    async fn an_oversized_body_is_cut_at_the_bound() {
        let limits = Limits {
            max_response_bytes: 100,
            ..Limits::default()
        };
        let mut sized = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec();
        sized.extend_from_slice(&[b'a'; 1000]);
        let mut close = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        close.extend_from_slice(&[b'b'; 1000]);
        let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n".to_vec();
        chunked.extend_from_slice(&[b'c'; 1000]);
        chunked.extend_from_slice(b"\r\n0\r\n\r\n");
        for answer in [sized, close, chunked] {
            let (result, _, _) = send(&answer, limits.clone()).await;
            let resp = result.unwrap();
            assert_eq!(resp.body.len(), 100);
            assert!(resp.body_truncated);
        }
    }

    #[tokio::test]
    async fn targets_and_headers_that_would_leave_the_device_or_authenticate_are_refused() {
        let probe = probe(Limits::default());
        let rec = Recorder::default();
        let long = format!("/{}", "a".repeat(MAX_REQUEST_TARGET));
        for bad in [
            "",
            "http://evil.example/x",
            "../a b",
            "../a\r\nX-Injected: 1",
            "..\t/x",
            "../\x7f",
            long.as_str(),
        ] {
            let req = RawTargetRequest::get(Scheme::Http, 9, bad);
            let result = probe.send_raw_target(&req, &rec).await;
            assert!(matches!(result, Err(ProbeError::Invalid(_))), "{bad:?}: {result:?}");
        }
        for header in [
            "Authorization",
            "proxy-authorization",
            "Host",
            "Content-Length",
            "bad name",
        ] {
            let mut req = RawTargetRequest::get(Scheme::Http, 9, "../x");
            req.headers.push((header.into(), "v".into()));
            assert!(
                matches!(probe.send_raw_target(&req, &rec).await, Err(ProbeError::Invalid(_))),
                "{header}"
            );
        }
        assert!(rec.is_empty(), "nothing was sent");
        assert!(request_target_problem("../../../../etc/passwd").is_none());
        assert!(request_target_problem(&"a".repeat(MAX_REQUEST_TARGET)).is_none());
    }
}
