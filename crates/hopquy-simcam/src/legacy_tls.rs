//! The `legacy-tls` flaw: the HTTPS port also accepts TLS 1.0/1.1 and weak cipher suites,
//! like firmware built on an old OpenSSL.
//!
//! Why on the `https` port itself and not on a separate listener (offset 7 stays unused): a
//! camera with this flaw has *one* HTTPS service that still accepts old versions, and the
//! cases audit the port the target file calls `https`; a second port would test something
//! no real camera has.
//!
//! No Rust TLS stack can serve TLS 1.0 or these suites, so each connection is routed by
//! its ClientHello:
//! - it offers TLS 1.3, or any suite rustls serves: rustls (TLS 1.2/1.3, the normal path);
//! - it is a TLS 1.0/1.1 hello, or a TLS 1.2 hello offering only legacy suites: the
//!   responder below answers ServerHello (the first of [`LEGACY_SUITES`] the client
//!   offers: server preference), Certificate and ServerHelloDone, then closes. That is all
//!   a ServerHello-based scanner reads: hopquy's prober, nmap's ssl-enum-ciphers (checked
//!   by a peer test) and testssl.sh's protocol check (`-p`) all report the legacy versions
//!   and suites. No client can complete such a handshake, so tools that judge by full
//!   handshakes (sslyze, curl, browsers) see only the rustls side: the documented limit
//!   of this fixture;
//! - a TLS 1.0/1.1 hello without any legacy suite gets a handshake_failure alert;
//! - anything else (SSLv3, SSLv2-style hellos, garbage) goes to rustls, which refuses it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Suites the legacy path accepts, in the server's order of preference:
/// TLS_RSA_WITH_AES_128_CBC_SHA, TLS_RSA_WITH_3DES_EDE_CBC_SHA (SWEET32) and
/// TLS_RSA_WITH_RC4_128_SHA. RSA key exchange needs no ServerKeyExchange, so the responder
/// never has to sign anything.
pub(crate) const LEGACY_SUITES: &[u16] = &[0x002f, 0x000a, 0x0005];

const TLS10: u16 = 0x0301;
const TLS11: u16 = 0x0302;
const TLS12: u16 = 0x0303;
const TLS13: u16 = 0x0304;
const RENEGOTIATION_SCSV: u16 = 0x00ff;
const EXT_SUPPORTED_VERSIONS: u16 = 43;
const EXT_RENEGOTIATION_INFO: u16 = 0xff01;
const ALERT_HANDSHAKE_FAILURE: u8 = 40;
/// A ClientHello larger than one record is left to rustls.
const MAX_RECORD: usize = 16_384 + 2_048;
/// After the flight, how long the client gets to read it before the connection closes.
const LINGER: Duration = Duration::from_secs(2);

/// What the router needs from a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientHelloSummary {
    pub version: u16,
    pub suites: Vec<u16>,
    pub offers_tls13: bool,
    pub secure_renegotiation: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Rustls,
    Legacy { version: u16, suite: u16 },
    Refuse { version: u16 },
}

pub(crate) fn route(hello: &ClientHelloSummary, rustls_suites: &[u16]) -> Route {
    if hello.offers_tls13 {
        return Route::Rustls;
    }
    let legacy_pick = LEGACY_SUITES.iter().copied().find(|s| hello.suites.contains(s));
    match hello.version {
        TLS10 | TLS11 => match legacy_pick {
            Some(suite) => Route::Legacy {
                version: hello.version,
                suite,
            },
            None => Route::Refuse { version: hello.version },
        },
        v if v >= TLS12 => match legacy_pick {
            Some(suite) if !hello.suites.iter().any(|s| rustls_suites.contains(s)) => {
                Route::Legacy { version: TLS12, suite }
            }
            _ => Route::Rustls,
        },
        _ => Route::Rustls,
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.data.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(slice)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
}

/// Summarise a ClientHello that arrived as one whole record (header included).
pub(crate) fn parse_client_hello(record: &[u8]) -> Option<ClientHelloSummary> {
    let mut r = Reader { data: record, pos: 0 };
    if r.u8()? != 22 {
        return None;
    }
    r.u16()?;
    let record_len = usize::from(r.u16()?);
    let mut hs = Reader {
        data: r.take(record_len)?,
        pos: 0,
    };
    if hs.u8()? != 1 {
        return None;
    }
    let len = hs.take(3)?;
    let body_len = (usize::from(len[0]) << 16) | (usize::from(len[1]) << 8) | usize::from(len[2]);
    let mut h = Reader {
        data: hs.take(body_len)?,
        pos: 0,
    };
    let version = h.u16()?;
    h.take(32)?;
    let session_len = usize::from(h.u8()?);
    h.take(session_len)?;
    let suites_len = usize::from(h.u16()?);
    let suites: Vec<u16> = h
        .take(suites_len)?
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let compression_len = usize::from(h.u8()?);
    h.take(compression_len)?;
    let mut offers_tls13 = false;
    let mut secure_renegotiation = suites.contains(&RENEGOTIATION_SCSV);
    if !h.done() {
        let ext_len = usize::from(h.u16()?);
        let mut ext = Reader {
            data: h.take(ext_len)?,
            pos: 0,
        };
        while !ext.done() {
            let kind = ext.u16()?;
            let len = usize::from(ext.u16()?);
            let data = ext.take(len)?;
            match kind {
                EXT_SUPPORTED_VERSIONS => {
                    offers_tls13 = data
                        .get(1..)
                        .unwrap_or(&[])
                        .chunks_exact(2)
                        .any(|c| u16::from_be_bytes([c[0], c[1]]) == TLS13);
                }
                EXT_RENEGOTIATION_INFO => secure_renegotiation = true,
                _ => {}
            }
        }
    }
    Some(ClientHelloSummary {
        version,
        suites,
        offers_tls13,
        secure_renegotiation,
    })
}

fn put_u24(out: &mut Vec<u8>, v: usize) {
    let v = u32::try_from(v).unwrap_or(0).min(0x00ff_ffff);
    out.extend_from_slice(&v.to_be_bytes()[1..]);
}

fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    put_u24(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

/// Wrap handshake bytes into records of at most 2^14 bytes.
fn records(kind: u8, version: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 16);
    for part in payload.chunks(16_384) {
        out.push(kind);
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&u16::try_from(part.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// ServerHello + Certificate + ServerHelloDone for `version`/`suite`.
pub(crate) fn server_flight(version: u16, suite: u16, secure_renegotiation: bool, certificate_der: &[u8]) -> Vec<u8> {
    let mut hello = Vec::with_capacity(80);
    hello.extend_from_slice(&version.to_be_bytes());
    let mut random = [0u8; 32];
    rand::fill(&mut random[..]);
    hello.extend_from_slice(&random);
    let mut session_id = [0u8; 32];
    rand::fill(&mut session_id[..]);
    hello.push(32);
    hello.extend_from_slice(&session_id);
    hello.extend_from_slice(&suite.to_be_bytes());
    hello.push(0);
    if secure_renegotiation {
        hello.extend_from_slice(&[0x00, 0x05, 0xff, 0x01, 0x00, 0x01, 0x00]);
    }
    let mut chain = Vec::with_capacity(certificate_der.len() + 6);
    put_u24(&mut chain, certificate_der.len() + 3);
    put_u24(&mut chain, certificate_der.len());
    chain.extend_from_slice(certificate_der);

    let mut flight = handshake(2, &hello);
    flight.extend_from_slice(&handshake(11, &chain));
    flight.extend_from_slice(&handshake(14, &[]));
    records(22, version, &flight)
}

pub(crate) fn alert(version: u16, description: u8) -> Vec<u8> {
    records(21, version, &[2, description])
}

/// Read one whole handshake record (header included), bounded by [`MAX_RECORD`]. The flag
/// is false when the client sent something else, too much or nothing; what was read is
/// returned either way so that it can be handed on to rustls.
pub(crate) async fn read_first_record(stream: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    loop {
        if buf.len() >= 5 {
            let len = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
            if buf[0] != 22 || len > MAX_RECORD {
                return (buf, false);
            }
            if buf.len() >= 5 + len {
                return (buf, true);
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return (buf, false),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Send `bytes`, then give the client [`LINGER`] to read them before closing: closing
/// with unread input pending would reset the connection and could destroy the flight.
pub(crate) async fn answer_and_close(mut stream: TcpStream, bytes: &[u8]) {
    if stream.write_all(bytes).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

pub(crate) fn refusal(version: u16) -> Vec<u8> {
    alert(version, ALERT_HANDSHAKE_FAILURE)
}

/// A stream that replays bytes already read before reading on, so a ClientHello the
/// router inspected can still be handed to rustls.
pub(crate) struct Rewind<S> {
    prefix: Vec<u8>,
    position: usize,
    inner: S,
}

impl<S> Rewind<S> {
    pub(crate) fn new(prefix: Vec<u8>, inner: S) -> Self {
        Rewind {
            prefix,
            position: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.position < self.prefix.len() {
            let rest = &self.prefix[self.position..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            self.position += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ClientHello record as a scanner sends it.
    fn client_hello(version: u16, suites: &[u16], supported_versions: Option<&[u16]>) -> Vec<u8> {
        let mut body = version.to_be_bytes().to_vec();
        body.extend_from_slice(&[7u8; 32]);
        body.push(0);
        body.extend_from_slice(&u16::try_from(suites.len() * 2).unwrap().to_be_bytes());
        for s in suites {
            body.extend_from_slice(&s.to_be_bytes());
        }
        body.extend_from_slice(&[1, 0]);
        if let Some(versions) = supported_versions {
            let mut ext = vec![u8::try_from(versions.len() * 2).unwrap()];
            for v in versions {
                ext.extend_from_slice(&v.to_be_bytes());
            }
            let mut block = EXT_SUPPORTED_VERSIONS.to_be_bytes().to_vec();
            block.extend_from_slice(&u16::try_from(ext.len()).unwrap().to_be_bytes());
            block.extend_from_slice(&ext);
            body.extend_from_slice(&u16::try_from(block.len()).unwrap().to_be_bytes());
            body.extend_from_slice(&block);
        }
        records(22, 0x0301, &handshake(1, &body))
    }

    const RUSTLS: &[u16] = &[0xc02f, 0xc030, 0xcca8, 0x1301];

    #[test]
    fn parses_client_hellos() {
        let hello = parse_client_hello(&client_hello(TLS10, &[0x002f, 0x00ff], None)).unwrap();
        assert_eq!(hello.version, TLS10);
        assert_eq!(hello.suites, vec![0x002f, 0x00ff]);
        assert!(hello.secure_renegotiation && !hello.offers_tls13);
        let modern = parse_client_hello(&client_hello(TLS12, &[0x1301], Some(&[TLS13, TLS12]))).unwrap();
        assert!(modern.offers_tls13);
        assert_eq!(parse_client_hello(b"GET / HTTP/1.1\r\n\r\n"), None);
        let mut cut = client_hello(TLS10, &[0x002f], None);
        cut.truncate(cut.len() - 3);
        assert_eq!(parse_client_hello(&cut), None);
    }

    #[test]
    fn routes_by_version_and_suites() {
        let summary = |version, suites: &[u16], tls13| ClientHelloSummary {
            version,
            suites: suites.to_vec(),
            offers_tls13: tls13,
            secure_renegotiation: false,
        };
        // Server preference: AES-CBC before 3DES before RC4, whatever the client's order.
        assert_eq!(
            route(&summary(TLS10, &[0x0005, 0x000a, 0x002f], false), RUSTLS),
            Route::Legacy {
                version: TLS10,
                suite: 0x002f
            }
        );
        assert_eq!(
            route(&summary(TLS11, &[0x0005, 0x000a], false), RUSTLS),
            Route::Legacy {
                version: TLS11,
                suite: 0x000a
            }
        );
        assert_eq!(
            route(&summary(TLS10, &[0xc013], false), RUSTLS),
            Route::Refuse { version: TLS10 }
        );
        // TLS 1.2: legacy only when no suite rustls serves is offered.
        assert_eq!(
            route(&summary(TLS12, &[0x000a], false), RUSTLS),
            Route::Legacy {
                version: TLS12,
                suite: 0x000a
            }
        );
        assert_eq!(route(&summary(TLS12, &[0x000a, 0xc02f], false), RUSTLS), Route::Rustls);
        assert_eq!(
            route(&summary(TLS12, &[0x000a], true), RUSTLS),
            Route::Rustls,
            "TLS 1.3 offered"
        );
        assert_eq!(
            route(&summary(0x0300, &[0x000a], false), RUSTLS),
            Route::Rustls,
            "SSLv3 is left to rustls to refuse"
        );
    }

    #[test]
    fn flight_layout() {
        let cert = vec![0xab; 700];
        let flight = server_flight(TLS11, 0x000a, true, &cert);
        assert_eq!(&flight[..3], &[22, 0x03, 0x02]);
        let record_len = usize::from(u16::from_be_bytes([flight[3], flight[4]]));
        assert_eq!(record_len, flight.len() - 5);
        let hs = &flight[5..];
        assert_eq!(hs[0], 2, "ServerHello first");
        let hello_len = (usize::from(hs[1]) << 16) | (usize::from(hs[2]) << 8) | usize::from(hs[3]);
        let hello = &hs[4..4 + hello_len];
        assert_eq!(&hello[..2], &[0x03, 0x02]);
        assert_eq!(hello[34], 32, "session id length");
        assert_eq!(&hello[67..69], &[0x00, 0x0a]);
        assert_eq!(&hello[70..], &[0x00, 0x05, 0xff, 0x01, 0x00, 0x01, 0x00]);
        let cert_msg = &hs[4 + hello_len..];
        assert_eq!(cert_msg[0], 11);
        assert!(cert_msg.windows(700).any(|w| w == cert.as_slice()));
        assert_eq!(&flight[flight.len() - 4..], &[14, 0, 0, 0], "ServerHelloDone last");
        assert_eq!(alert(TLS10, 40), vec![21, 3, 1, 0, 2, 2, 40]);
    }

    #[tokio::test]
    async fn rewind_replays_the_prefix_first() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b" world").await.unwrap();
        drop(client);
        let mut rewound = Rewind::new(b"hello".to_vec(), server);
        let mut out = String::new();
        rewound.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "hello world");
    }
}
