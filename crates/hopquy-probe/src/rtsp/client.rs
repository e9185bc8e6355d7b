//! One RTSP conversation with the device: a kept-alive connection under a device permit,
//! CSeq, credentials (Basic or Digest) with their secrets redacted from what is recorded, and
//! the single login attempt the credential-attempt engine makes over RTSP.

use rtsp_types::Url;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::Method;
use super::wire::{Framed, Interpreted, RtspResponse, interpret, io_error, method_str, read_message, serialise};
use crate::auth::{AuthMode, Challenge, DigestSession, basic_authorization, redact_authorization, select_challenge};
use crate::exchange::{self, Capture, Exchange, Payload, Recorder, Redactor};
use crate::{Credential, Device, Permit, ProbeError};

/// Interleaved `$` frames or server-to-client requests skipped while waiting for a response.
const MAX_SKIPPED_MESSAGES: usize = 16;
const MAX_PATH_BYTES: usize = 2048;

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
}
