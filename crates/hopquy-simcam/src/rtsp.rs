//! The camera's RTSP server: OPTIONS without authentication (as most cameras), DESCRIBE
//! with Digest and a small SDP on the stream paths, 404 elsewhere, and `400 Bad Request`
//! to anything the strict parser refuses (which is how `nmap -sV` recognises RTSP).
//!
//! Like Hikvision firmware it checks credentials before the path, so an anonymous client
//! gets 401 for every path, existing or not. Flaws: `rtsp-no-auth` serves the streams to
//! anyone; `rtsp-basic` also challenges with, and accepts, Basic.
//!
//! Digest is verified with the simulator's own server-side code ([`crate::auth`]), never the
//! harness's client, so the two check each other.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtsp_types::{Message, Method, ParseError, Request, Url, headers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::auth::{
    Authorization, DigestAlgorithm, DigestResponse, NonceCheck, NonceStore, constant_time_eq, digest_response,
    parse_authorization,
};
use crate::config::{Flaw, SimConfig, SimSetup};
use crate::http::SimState;
use crate::net::accept_loop;

/// The stream paths the camera serves (main and sub stream of channel 1).
pub const STREAM_PATHS: &[&str] = &["/Streaming/Channels/101", "/Streaming/Channels/102"];
/// Methods the camera answers, as its `Public` header lists them.
pub const PUBLIC_METHODS: &str = "OPTIONS, DESCRIBE";
pub const SERVER: &str = "hopquy-sim RTSP/1.0";

/// A request head larger than this is refused with 400 and the connection closed.
const MAX_REQUEST_BYTES: usize = 16 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const SESSION_LIMIT: Duration = Duration::from_secs(120);

pub(crate) struct RtspService {
    setup: SimSetup,
    realm: String,
    model: String,
    state: SimState,
    nonces: Mutex<NonceStore>,
}

impl RtspService {
    pub(crate) fn new(config: &SimConfig, state: SimState) -> Self {
        RtspService {
            setup: config.setup.clone(),
            realm: state.realm().to_string(),
            model: config.identity.model.clone(),
            state,
            nonces: Mutex::new(NonceStore::default()),
        }
    }
}

pub(crate) async fn serve(listener: TcpListener, service: Arc<RtspService>) {
    accept_loop(listener, "rtsp", move |stream, peer| {
        let service = service.clone();
        async move {
            let _ = tokio::time::timeout(SESSION_LIMIT, session(stream, peer, &service)).await;
        }
    })
    .await;
}

async fn session(mut stream: TcpStream, peer: SocketAddr, service: &RtspService) -> io::Result<()> {
    let mut buffer: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match Message::<Vec<u8>>::parse(&buffer) {
            Ok((message, used)) => {
                buffer.drain(..used);
                if let Message::Request(request) = message {
                    let response = service.answer(&request, Some(peer));
                    stream.write_all(&response).await?;
                }
                continue;
            }
            Err(ParseError::Incomplete(_)) if buffer.len() <= MAX_REQUEST_BYTES => {}
            Err(_) => {
                stream.write_all(&bad_request()).await?;
                return stream.shutdown().await;
            }
        }
        let read = tokio::time::timeout(READ_TIMEOUT, stream.read(&mut chunk))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        if read == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

fn bad_request() -> Vec<u8> {
    format!("RTSP/1.0 400 Bad Request\r\nServer: {SERVER}\r\nContent-Length: 0\r\n\r\n").into_bytes()
}

/// A response written by hand: the `rtsp-types` builder cannot repeat a header, and a
/// camera sends one `WWW-Authenticate` line per scheme.
struct Reply {
    status: u16,
    reason: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn new(status: u16, reason: &'static str) -> Self {
        Reply {
            status,
            reason,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn to_bytes(&self, cseq: Option<&str>) -> Vec<u8> {
        let mut out = format!("RTSP/1.0 {} {}\r\n", self.status, self.reason);
        if let Some(cseq) = cseq {
            out.push_str(&format!("CSeq: {cseq}\r\n"));
        }
        out.push_str(&format!("Server: {SERVER}\r\n"));
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        if !self.body.is_empty() {
            out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// Why a DESCRIBE was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Denied {
    Refused,
    Stale,
}

impl RtspService {
    fn answer(&self, request: &Request<Vec<u8>>, peer: Option<SocketAddr>) -> Vec<u8> {
        // CSeq is echoed only when it is a number: it goes back into our header block.
        let cseq = request
            .header(&headers::CSEQ)
            .map(|v| v.as_str().trim())
            .filter(|v| !v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()));
        let reply = match request.method() {
            _ if self.state.local_services_down() => Reply::new(503, "Service Unavailable"),
            Method::Options => Reply::new(200, "OK").header("Public", PUBLIC_METHODS),
            Method::Describe => self.describe(request, peer),
            _ => Reply::new(405, "Method Not Allowed").header("Allow", PUBLIC_METHODS),
        };
        reply.to_bytes(cseq)
    }

    fn describe(&self, request: &Request<Vec<u8>>, peer: Option<SocketAddr>) -> Reply {
        let Some(url) = request.request_uri() else {
            return Reply::new(400, "Bad Request");
        };
        let stream = stream_index(url.path());
        let open = self.setup.has(Flaw::RtspNoAuth) && stream.is_some();
        if !open {
            let authorization = request.header(&headers::AUTHORIZATION).map(|v| v.as_str().to_owned());
            if let Err(denied) = self.authenticate(authorization.as_deref(), url, peer) {
                return self.challenge(denied == Denied::Stale);
            }
        }
        match stream {
            Some(index) => {
                let mut reply = Reply::new(200, "OK")
                    .header("Content-Type", "application/sdp")
                    .header("Content-Base", format!("{}/", url.as_str().trim_end_matches('/')));
                reply.body = self.sdp(url, index).into_bytes();
                reply
            }
            None => Reply::new(404, "Not Found"),
        }
    }

    /// Credentials go through the camera's shared accounts and lockout (a brute force over
    /// RTSP locks the same account as one over the web API); a locked account gets the same
    /// 401 as a wrong password, as on many cameras, so only the correct password's refusal
    /// shows the lock. `rtsp-no-lockout`: RTSP checks passwords on its own, uncounted.
    fn authenticate(&self, value: Option<&str>, url: &Url, peer: Option<SocketAddr>) -> Result<(), Denied> {
        let authorization = value
            .and_then(parse_authorization)
            .filter(|a| self.setup.has(Flaw::RtspBasic) || matches!(a, Authorization::Digest(_)))
            .ok_or(Denied::Refused)?;
        let username = match &authorization {
            Authorization::Digest(d) => d.username.clone(),
            Authorization::Basic { username, .. } => username.clone(),
        };
        let lockout = !self.setup.has(Flaw::RtspNoLockout);
        let checked = self
            .state
            .service_login(&username, peer, lockout, |passwords| match &authorization {
                Authorization::Basic { password, .. } => passwords
                    .iter()
                    .any(|p| constant_time_eq(p.as_bytes(), password.as_bytes())),
                Authorization::Digest(d) => self.digest_matches(d, url, passwords),
            });
        if checked.is_err() {
            return Err(Denied::Refused);
        }
        if let Authorization::Digest(d) = &authorization {
            let check = self
                .nonces
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .check(&d.nonce, d.nc, Instant::now());
            if check != NonceCheck::Fresh {
                return Err(Denied::Stale);
            }
        }
        Ok(())
    }

    fn digest_matches(&self, d: &DigestResponse, url: &Url, passwords: &[String]) -> bool {
        // The `uri` must name the resource requested, as sent or after URL normalisation.
        let uri_matches = d.uri == url.as_str() || Url::parse(&d.uri).is_ok_and(|u| u == *url);
        let framing_ok = d.realm == self.realm && d.qop == "auth" && uri_matches;
        let mut matched = false;
        for password in passwords {
            let expected = digest_response(
                d.algorithm,
                &d.username,
                &d.realm,
                password,
                "DESCRIBE",
                &d.uri,
                &d.nonce,
                d.nc,
                &d.cnonce,
                &d.qop,
            );
            matched |= constant_time_eq(expected.as_bytes(), d.response.as_bytes());
        }
        framing_ok && matched
    }

    /// 401 with one Digest challenge per algorithm (SHA-256 first, as RFC 7616 asks; MD5
    /// because most RTSP clients know nothing else), plus Basic under `rtsp-basic`.
    fn challenge(&self, stale: bool) -> Reply {
        let nonce = self
            .nonces
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .issue(Instant::now());
        let stale = if stale { ", stale=TRUE" } else { "" };
        let mut reply = Reply::new(401, "Unauthorized");
        for algorithm in [DigestAlgorithm::Sha256, DigestAlgorithm::Md5] {
            reply = reply.header(
                "WWW-Authenticate",
                format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{stale}",
                    self.realm,
                    algorithm.name()
                ),
            );
        }
        if self.setup.has(Flaw::RtspBasic) {
            reply = reply.header("WWW-Authenticate", format!("Basic realm=\"{}\"", self.realm));
        }
        reply
    }

    fn sdp(&self, url: &Url, index: usize) -> String {
        let session_id = 1_000_000 + index;
        let host = url.host_str().unwrap_or("127.0.0.1");
        let (width, height) = if index == 0 { (1920, 1080) } else { (640, 360) };
        format!(
            "v=0\r\n\
             o=- {session_id} 1 IN IP4 {host}\r\n\
             s=Media Presentation\r\n\
             i={model} stream {index}\r\n\
             c=IN IP4 0.0.0.0\r\n\
             t=0 0\r\n\
             a=control:*\r\n\
             a=range:npt=now-\r\n\
             m=video 0 RTP/AVP 96\r\n\
             a=rtpmap:96 H264/90000\r\n\
             a=fmtp:96 packetization-mode=1;profile-level-id=42001f\r\n\
             a=framesize:96 {width}-{height}\r\n\
             a=control:trackID=1\r\n",
            model = self.model,
        )
    }
}

/// Which stream a path names: case-insensitive, ignoring a trailing `/` (the query is not
/// part of the path), as camera firmware matches.
fn stream_index(path: &str) -> Option<usize> {
    let path = path.trim_end_matches('/');
    STREAM_PATHS.iter().position(|known| known.eq_ignore_ascii_case(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Personality, SimSetup};

    fn service(setup: SimSetup) -> RtspService {
        let config = SimConfig::new(setup);
        let state = SimState::new(&config);
        RtspService::new(&config, state)
    }

    fn request(text: &str) -> Request<Vec<u8>> {
        match Message::<Vec<u8>>::parse(text.as_bytes()) {
            Ok((Message::Request(r), _)) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    fn answer(service: &RtspService, text: &str) -> String {
        String::from_utf8(service.answer(&request(text), None)).unwrap()
    }

    fn digest_header(service: &RtspService, uri: &str, nonce: &str, nc: u32, password: &str) -> String {
        let response = digest_response(
            DigestAlgorithm::Md5,
            "admin",
            &service.realm,
            password,
            "DESCRIBE",
            uri,
            nonce,
            nc,
            "c0ffee",
            "auth",
        );
        format!(
            "Digest username=\"admin\", realm=\"{}\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm=MD5, qop=auth, nc={nc:08x}, cnonce=\"c0ffee\", response=\"{response}\"",
            service.realm
        )
    }

    fn nonce_of(reply: &str) -> String {
        let start = reply.find("nonce=\"").unwrap() + 7;
        reply[start..start + 32].to_string()
    }

    const URL: &str = "rtsp://127.0.0.1:554/Streaming/Channels/101";

    #[test]
    fn options_is_open_and_lists_methods() {
        let s = service(SimSetup::new(Personality::Hardened));
        let reply = answer(&s, "OPTIONS rtsp://127.0.0.1:554/ RTSP/1.0\r\nCSeq: 1\r\n\r\n");
        assert!(reply.starts_with("RTSP/1.0 200 OK\r\nCSeq: 1\r\n"), "{reply}");
        assert!(reply.contains("Public: OPTIONS, DESCRIBE\r\n"), "{reply}");
    }

    #[test]
    fn hardened_checks_digest_before_the_path() {
        let s = service(SimSetup::new(Personality::Hardened));
        for path in ["/Streaming/Channels/101", "/nope"] {
            let reply = answer(
                &s,
                &format!("DESCRIBE rtsp://127.0.0.1:554{path} RTSP/1.0\r\nCSeq: 2\r\n\r\n"),
            );
            assert!(reply.starts_with("RTSP/1.0 401 Unauthorized"), "{reply}");
            assert_eq!(reply.matches("WWW-Authenticate: Digest").count(), 2, "{reply}");
            assert!(!reply.contains("Basic"), "{reply}");
        }
        let challenge = answer(&s, &format!("DESCRIBE {URL} RTSP/1.0\r\nCSeq: 3\r\n\r\n"));
        let nonce = nonce_of(&challenge);
        let password = s.state.admin_password();
        let ok = answer(
            &s,
            &format!(
                "DESCRIBE {URL} RTSP/1.0\r\nCSeq: 4\r\nAuthorization: {}\r\n\r\n",
                digest_header(&s, URL, &nonce, 1, &password)
            ),
        );
        assert!(ok.starts_with("RTSP/1.0 200 OK"), "{ok}");
        assert!(
            ok.contains("Content-Type: application/sdp") && ok.contains("m=video 0 RTP/AVP 96"),
            "{ok}"
        );
        // The same nonce count again is a replay.
        let replay = answer(
            &s,
            &format!(
                "DESCRIBE {URL} RTSP/1.0\r\nCSeq: 5\r\nAuthorization: {}\r\n\r\n",
                digest_header(&s, URL, &nonce, 1, &password)
            ),
        );
        assert!(
            replay.starts_with("RTSP/1.0 401") && replay.contains("stale=TRUE"),
            "{replay}"
        );
        let wrong = answer(
            &s,
            &format!(
                "DESCRIBE {URL} RTSP/1.0\r\nCSeq: 6\r\nAuthorization: {}\r\n\r\n",
                digest_header(&s, URL, &nonce, 2, "wrong")
            ),
        );
        assert!(wrong.starts_with("RTSP/1.0 401") && !wrong.contains("stale"), "{wrong}");
        // Authenticated, an unknown path is absent.
        let other = "rtsp://127.0.0.1:554/nope";
        let absent = answer(
            &s,
            &format!(
                "DESCRIBE {other} RTSP/1.0\r\nCSeq: 7\r\nAuthorization: {}\r\n\r\n",
                digest_header(&s, other, &nonce, 3, &password)
            ),
        );
        assert!(absent.starts_with("RTSP/1.0 404"), "{absent}");
        // Basic is not taken without the flaw.
        let basic = answer(
            &s,
            &format!(
                "DESCRIBE {URL} RTSP/1.0\r\nCSeq: 8\r\nAuthorization: Basic {}\r\n\r\n",
                basic(&password)
            ),
        );
        assert!(basic.starts_with("RTSP/1.0 401"), "{basic}");
    }

    fn basic(password: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}"))
    }

    #[test]
    fn flaws_open_the_streams_and_take_basic() {
        let open = service(SimSetup::new(Personality::Hardened).with(Flaw::RtspNoAuth));
        let reply = answer(
            &open,
            "DESCRIBE rtsp://127.0.0.1:554/streaming/channels/102/ RTSP/1.0\r\nCSeq: 1\r\n\r\n",
        );
        assert!(reply.starts_with("RTSP/1.0 200 OK"), "{reply}");
        let elsewhere = answer(&open, "DESCRIBE rtsp://127.0.0.1:554/x RTSP/1.0\r\nCSeq: 2\r\n\r\n");
        assert!(elsewhere.starts_with("RTSP/1.0 401"), "{elsewhere}");

        let basic_cam = service(SimSetup::new(Personality::Hardened).with(Flaw::RtspBasic));
        let challenge = answer(&basic_cam, &format!("DESCRIBE {URL} RTSP/1.0\r\nCSeq: 1\r\n\r\n"));
        assert!(challenge.contains("WWW-Authenticate: Basic realm="), "{challenge}");
        let password = basic_cam.state.admin_password();
        let ok = answer(
            &basic_cam,
            &format!(
                "DESCRIBE {URL} RTSP/1.0\r\nCSeq: 2\r\nAuthorization: Basic {}\r\n\r\n",
                basic(&password)
            ),
        );
        assert!(ok.starts_with("RTSP/1.0 200"), "{ok}");
        let wrong = answer(
            &basic_cam,
            &format!(
                "DESCRIBE {URL} RTSP/1.0\r\nCSeq: 3\r\nAuthorization: Basic {}\r\n\r\n",
                basic("nope")
            ),
        );
        assert!(wrong.starts_with("RTSP/1.0 401"), "{wrong}");
    }

    /// DESCRIBE with fresh nonces: `wrong` wrong passwords, then the correct one.
    fn correct_after_wrong(s: &RtspService, wrong: usize) -> String {
        let password = s.state.admin_password();
        for round in 0..=wrong {
            let challenge = answer(s, &format!("DESCRIBE {URL} RTSP/1.0\r\nCSeq: 1\r\n\r\n"));
            let nonce = nonce_of(&challenge);
            let guess = if round < wrong { "wrong" } else { password.as_str() };
            let reply = answer(
                s,
                &format!(
                    "DESCRIBE {URL} RTSP/1.0\r\nCSeq: 2\r\nAuthorization: {}\r\n\r\n",
                    digest_header(s, URL, &nonce, 1, guess)
                ),
            );
            if round == wrong {
                return reply;
            }
            assert!(reply.starts_with("RTSP/1.0 401"), "{reply}");
        }
        unreachable!()
    }

    #[test]
    fn rtsp_failures_lock_the_shared_account_unless_rtsp_has_its_own_check() {
        let s = service(SimSetup::new(Personality::Hardened));
        assert!(correct_after_wrong(&s, 4).starts_with("RTSP/1.0 200"));
        // The success reset the counter; five failures in a row lock the account.
        let locked = correct_after_wrong(&s, 5);
        assert!(
            locked.starts_with("RTSP/1.0 401") && !locked.contains("stale"),
            "{locked}"
        );

        let open = service(SimSetup::new(Personality::Hardened).with(Flaw::RtspNoLockout));
        assert!(correct_after_wrong(&open, 8).starts_with("RTSP/1.0 200"));
        let factory = service(SimSetup::new(Personality::Hardened).with(Flaw::DefaultPassword));
        let challenge = answer(&factory, &format!("DESCRIBE {URL} RTSP/1.0\r\nCSeq: 1\r\n\r\n"));
        let reply = answer(
            &factory,
            &format!(
                "DESCRIBE {URL} RTSP/1.0\r\nCSeq: 2\r\nAuthorization: {}\r\n\r\n",
                digest_header(&factory, URL, &nonce_of(&challenge), 1, crate::http::FACTORY_PASSWORD)
            ),
        );
        assert!(reply.starts_with("RTSP/1.0 200"), "{reply}");
    }

    #[test]
    fn other_methods_are_refused_and_cseq_is_only_echoed_when_numeric() {
        let s = service(SimSetup::new(Personality::Hardened));
        let reply = answer(&s, "SETUP rtsp://127.0.0.1:554/x RTSP/1.0\r\nCSeq: 9\r\n\r\n");
        assert!(
            reply.starts_with("RTSP/1.0 405") && reply.contains("Allow: OPTIONS, DESCRIBE"),
            "{reply}"
        );
        let odd = answer(&s, "OPTIONS * RTSP/1.0\r\nCSeq: 1 x\r\n\r\n");
        assert!(!odd.contains("CSeq"), "{odd}");
    }
}
