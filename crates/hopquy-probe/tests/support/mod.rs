//! Loopback test servers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hopquy_probe::{Device, Limits, Recorder};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};

/// Bind 127.0.0.1:0 and run `handler` for every accepted connection.
pub async fn serve<F, Fut>(handler: F) -> u16
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let h = handler.clone();
            tokio::spawn(async move { h(stream).await });
        }
    });
    port
}

/// A request as the server read it off the wire.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// Request line and headers, up to and including the blank line.
    pub head: String,
    pub request_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Read one HTTP request (head + Content-Length body); `None` on EOF or garbage.
pub async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> Option<RawRequest> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.ok()? == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).ok()?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            l.split_once(':')
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.ok()?;
    Some(RawRequest {
        head,
        request_line,
        headers,
        body,
    })
}

pub fn device(limits: Limits) -> Device {
    Device::new("127.0.0.1", limits)
}

pub fn quick_limits() -> Limits {
    Limits {
        max_connections: 4,
        min_connect_gap: Duration::ZERO,
        connect_timeout: Duration::from_secs(2),
        io_timeout: Duration::from_millis(600),
        max_response_bytes: 64 * 1024,
    }
}

/// Every recorded exchange of `rec`, as one JSON text (what would reach a bundle).
pub fn recorded_json(rec: &Recorder) -> (usize, String) {
    let ex = rec.drain();
    (ex.len(), serde_json::to_string(&ex).unwrap())
}

/// `name="value"` or `name=value` from a Digest Authorization header, parsed without the
/// crate's own parser.
pub fn digest_param(header: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=");
    let mut search = 0;
    while let Some(found) = header[search..].find(&needle) {
        let at = search + found;
        let before = header[..at].chars().last();
        if before.is_none_or(|c| c == ' ' || c == ',') {
            let rest = &header[at + needle.len()..];
            return Some(if let Some(q) = rest.strip_prefix('"') {
                q[..q.find('"')?].to_owned()
            } else {
                rest.split([',', ' ']).next()?.to_owned()
            });
        }
        search = at + needle.len();
    }
    None
}
