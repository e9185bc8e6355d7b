//! The camera's own traffic to its associated services, for runs on a lab network
//! (`hopquy run --lab-net`): it resolves its cloud, update and telemetry names through the
//! resolver it was given (the lab's, 10.77.0.1 on hopquy's lab network) and connects to them,
//! the way cameras phone home. Off unless [`Uplink`] is configured: on loopback the simulator
//! never sends anything of its own.
//!
//! Compliant behaviour: every service over TLS (a real rustls handshake naming the service,
//! which refuses any certificate a lab network can present), names its manufacturer declares ([`declared_destinations`]), and exponential back-off
//! (1 s doubling to 16 s) while a service fails; `reconnect-storm` retries its cloud every
//! 50 ms with four connections at a time instead. The flaws switch on what the lab-network cases
//! must catch: an undeclared P2P relay and a hard-coded address, a credential sent in clear, an
//! update check over plain HTTP, a reconnect storm, and local services that stop when the cloud
//! is unreachable (`outage-breaks-local`, through [`SimState::set_uplink_failing`]).
//!
//! A service counts as reachable when the server accepted the connection and closed it in
//! order (hopquy's sinkhole reads the first bytes and closes); a refusal, a reset (hopquy's
//! outage resets every connection), a timeout or an unanswered DNS question is a failure.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::config::{DeviceIdentity, Flaw, SimSetup};
use crate::http::SimState;

/// The camera's cloud (live view relay), declared.
pub const CLOUD_HOST: &str = "cloud.simcam.example";
/// Its firmware update service, declared.
pub const UPDATE_HOST: &str = "fw.simcam.example";
/// Its telemetry collector, declared with purpose `telemetry`.
pub const TELEMETRY_HOST: &str = "telemetry.simcam.example";
/// `uplink-stores-abroad`: a cloud-recording service, declared, in Singapore.
pub const RECORDING_HOST: &str = "rec.simcam-global.example";
/// `phones-home-undeclared`: a P2P relay the declaration does not name.
pub const UNDECLARED_HOST: &str = "p2p.relay-undeclared.example";
/// `phones-home-undeclared`: a hard-coded address (TEST-NET-3), no name asked.
pub const HARDCODED_ADDRESS: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)), 8000);

const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(16);
/// `reconnect-storm`: the pause between failed attempts, and the connections each opens.
const STORM_PAUSE: Duration = Duration::from_millis(50);
const STORM_FAN_OUT: usize = 4;
const DNS_TIMEOUT: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the camera waits for the server to answer or close before it hangs up itself.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a resolved address is used before the name is asked again (the lab's TTL is 30 s).
const ADDRESS_TTL: Duration = Duration::from_secs(30);

/// Where the camera's uplink is: the resolver it asks (from DHCP on a real camera).
#[derive(Debug, Clone)]
pub struct Uplink {
    pub resolver: SocketAddr,
    /// How often the update check and the telemetry report repeat (real cameras: hours).
    pub period: Duration,
}

/// The associated services the simulated manufacturer declares, as the target file's
/// `[declared] destinations` entries (`host`, purpose, country, protocol).
pub fn declared_destinations(setup: &SimSetup) -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    let mut declared = vec![
        (CLOUD_HOST, "cloud video relay", "VN", "https"),
        (UPDATE_HOST, "firmware updates", "VN", "https"),
        (TELEMETRY_HOST, "telemetry", "VN", "https"),
    ];
    if setup.has(Flaw::UplinkStoresAbroad) {
        declared.push((RECORDING_HOST, "cloud recording", "SG", "https"));
    }
    declared
}

/// What one agent says once connected.
#[derive(Debug, Clone, Copy)]
enum Speech {
    /// A TLS handshake with the host, verifying its certificate (against no trusted
    /// authority: the simulated manufacturer's own is not on the lab network), so it refuses
    /// every server a lab can put there; `uplink-tls-no-verify` accepts any and then sends its
    /// request inside.
    Tls,
    /// `uplink-cleartext-credential`: an HTTP registration with a Basic credential.
    HttpRegister,
    /// `update-check-http`: an HTTP GET of the update manifest.
    HttpUpdateCheck,
    /// A few opaque bytes (a vendor's P2P protocol).
    Opaque,
}

#[derive(Debug, Clone)]
struct Agent {
    host: Option<&'static str>,
    address: Option<SocketAddr>,
    port: u16,
    speech: Speech,
    /// Pause after a reachable attempt: the keep-alive reconnect or the report period.
    after_success: Duration,
    /// Whether this agent's state is the camera's "cloud reachable".
    is_cloud: bool,
}

/// Starts the camera's uplink agents; dropping the handles' owner aborts them.
pub fn start(uplink: &Uplink, setup: &SimSetup, identity: &DeviceIdentity, state: &SimState) -> Vec<JoinHandle<()>> {
    let storm = setup.has(Flaw::ReconnectStorm);
    let cloud = if setup.has(Flaw::UplinkCleartextCredential) {
        Agent {
            host: Some(CLOUD_HOST),
            address: None,
            port: 80,
            speech: Speech::HttpRegister,
            after_success: Duration::from_secs(2),
            is_cloud: true,
        }
    } else {
        Agent {
            host: Some(CLOUD_HOST),
            address: None,
            port: 443,
            speech: Speech::Tls,
            after_success: Duration::from_secs(2),
            is_cloud: true,
        }
    };
    let update = if setup.has(Flaw::UpdateCheckHttp) {
        (80, Speech::HttpUpdateCheck)
    } else {
        (443, Speech::Tls)
    };
    let mut agents = vec![
        cloud,
        Agent {
            host: Some(UPDATE_HOST),
            address: None,
            port: update.0,
            speech: update.1,
            after_success: uplink.period,
            is_cloud: false,
        },
        Agent {
            host: Some(TELEMETRY_HOST),
            address: None,
            port: 443,
            speech: Speech::Tls,
            after_success: uplink.period,
            is_cloud: false,
        },
    ];
    if setup.has(Flaw::UplinkStoresAbroad) {
        agents.push(Agent {
            host: Some(RECORDING_HOST),
            address: None,
            port: 443,
            speech: Speech::Tls,
            after_success: uplink.period,
            is_cloud: false,
        });
    }
    if setup.has(Flaw::PhonesHomeUndeclared) {
        agents.push(Agent {
            host: Some(UNDECLARED_HOST),
            address: None,
            port: 443,
            speech: Speech::Tls,
            after_success: uplink.period,
            is_cloud: false,
        });
        agents.push(Agent {
            host: None,
            address: Some(HARDCODED_ADDRESS),
            port: HARDCODED_ADDRESS.port(),
            speech: Speech::Opaque,
            after_success: uplink.period,
            is_cloud: false,
        });
    }
    let context = Arc::new(Context {
        resolver: uplink.resolver,
        model: identity.model.clone(),
        firmware: identity.firmware.clone(),
        accepts_any_server: setup.has(Flaw::UplinkTlsNoVerify),
    });
    agents
        .into_iter()
        .map(|agent| {
            let context = context.clone();
            let state = state.clone();
            tokio::spawn(async move { run_agent(agent, context, state, storm).await })
        })
        .collect()
}

struct Context {
    resolver: SocketAddr,
    model: String,
    firmware: String,
    /// `uplink-tls-no-verify`.
    accepts_any_server: bool,
}

async fn run_agent(agent: Agent, context: Arc<Context>, state: SimState, storm: bool) {
    let mut backoff = BACKOFF_FIRST;
    let mut resolved: Option<(IpAddr, tokio::time::Instant)> = None;
    loop {
        let address = match (agent.address, agent.host) {
            (Some(address), _) => Some(address.ip()),
            (None, Some(host)) => match resolved {
                Some((ip, at)) if at.elapsed() < ADDRESS_TTL => Some(ip),
                _ => {
                    let answer = resolve(context.resolver, host).await;
                    resolved = answer.map(|ip| (ip, tokio::time::Instant::now()));
                    answer
                }
            },
            (None, None) => None,
        };
        let reachable = match address {
            Some(ip) => {
                let fan_out = if storm && agent.is_cloud { STORM_FAN_OUT } else { 1 };
                let attempts = (0..fan_out).map(|_| speak_once(SocketAddr::new(ip, agent.port), &agent, &context));
                futures_all(attempts).await
            }
            None => false,
        };
        if agent.is_cloud {
            state.set_uplink_failing(!reachable);
        }
        // A storm is the failure path without back-off: once connected, the camera is calm.
        let pause = if reachable {
            backoff = BACKOFF_FIRST;
            agent.after_success
        } else if storm && agent.is_cloud {
            STORM_PAUSE
        } else {
            let pause = backoff;
            backoff = (backoff * 2).min(BACKOFF_MAX);
            pause
        };
        tokio::time::sleep(pause).await;
    }
}

/// Runs the attempts at once; reachable when any was.
async fn futures_all(attempts: impl Iterator<Item = impl std::future::Future<Output = bool>>) -> bool {
    futures::future::join_all(attempts)
        .await
        .into_iter()
        .any(|reachable| reachable)
}

/// One connection: connect, say the agent's piece, and wait for the server's answer or
/// orderly close. True when the service was reachable.
async fn speak_once(address: SocketAddr, agent: &Agent, context: &Context) -> bool {
    let Ok(Ok(mut stream)) = timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await else {
        return false;
    };
    let host = agent.host.unwrap_or("");
    let bytes = match agent.speech {
        Speech::Tls => return speak_tls(&mut stream, host, context).await,
        Speech::HttpRegister => http_register(host, context),
        Speech::HttpUpdateCheck => http_update_check(host, context),
        Speech::Opaque => b"\xffP2P\x01\x00\x00\x10simcam-p2p-hello".to_vec(),
    };
    if stream.write_all(&bytes).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 1024];
    match timeout(READ_TIMEOUT, stream.read(&mut buf)).await {
        // Closed in order, or answered: the service is there.
        Ok(Ok(_)) => true,
        // Reset: hopquy's outage, or a refusal.
        Ok(Err(_)) => false,
        // Silent but connected: there.
        Err(_) => true,
    }
}

fn http_register(host: &str, context: &Context) -> Vec<u8> {
    format!(
        "POST /api/v1/register HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}",
        base64_credential(&context.model)
    )
    .into_bytes()
}

fn http_update_check(host: &str, context: &Context) -> Vec<u8> {
    format!(
        "GET /firmware/check?model={}&version={} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: simcam-updater\r\n\r\n",
        url_safe(&context.model),
        url_safe(&context.firmware)
    )
    .into_bytes()
}

/// A TLS connection to `host`: the handshake, and once it finished (against a lab network
/// only a client that accepts any server gets that far) the service's request inside. The
/// service counts as reachable when the server answered or closed in order, whatever the
/// certificate: reachability is the network's, the certificate the client's business.
async fn speak_tls(stream: &mut TcpStream, host: &str, context: &Context) -> bool {
    let Some(mut connection) = tls_client(host, context.accepts_any_server) else {
        return false;
    };
    let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
    let mut buf = [0u8; 4096];
    loop {
        if !flush_tls(&mut connection, stream).await {
            return false;
        }
        if !connection.is_handshaking() {
            let request = match host {
                CLOUD_HOST => http_register(host, context),
                UPDATE_HOST => http_update_check(host, context),
                _ => format!("POST /report HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n").into_bytes(),
            };
            let _ = std::io::Write::write_all(&mut connection.writer(), &request);
            connection.send_close_notify();
            return flush_tls(&mut connection, stream).await;
        }
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) => return true,
            Ok(Ok(n)) => n,
            Ok(Err(_)) => return false,
            Err(_) => return true,
        };
        let mut received = &buf[..n];
        while !received.is_empty() {
            if connection.read_tls(&mut received).is_err() {
                return true;
            }
        }
        if connection.process_new_packets().is_err() {
            // Tell the server why (`unknown_ca`), as a TLS stack does.
            let _ = flush_tls(&mut connection, stream).await;
            return true;
        }
    }
}

/// Sends what the TLS client has to send; false when the connection broke.
async fn flush_tls(connection: &mut rustls::ClientConnection, stream: &mut TcpStream) -> bool {
    let mut out = Vec::new();
    while connection.wants_write() {
        if connection.write_tls(&mut out).is_err() {
            break;
        }
    }
    out.is_empty() || stream.write_all(&out).await.is_ok()
}

/// The device's cloud credential (a fixed per-model secret on this simulated firmware, as on
/// many real ones), Base64 `device:secret` for the Basic header.
fn base64_credential(model: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{model}:cloud-Secr3t"))
}

fn url_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A real TLS 1.2/1.3 client for `host` (rustls, aws-lc-rs), so the lab network sees what a
/// camera's TLS stack sends: one that trusts no authority, or (`accepts_any_server`) one that
/// takes any certificate, as embedded clients with verification switched off do.
fn tls_client(host: &str, accepts_any_server: bool) -> Option<rustls::ClientConnection> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .ok()?;
    let config = if accepts_any_server {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).ok()?;
    rustls::ClientConnection::new(Arc::new(config), name).ok()
}

/// `uplink-tls-no-verify`: the verifier of a client that checks nothing but the signatures.
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One `A` question to the resolver; the first address of the answer.
async fn resolve(resolver: SocketAddr, host: &str) -> Option<IpAddr> {
    let bind: SocketAddr = match resolver {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(bind).await.ok()?;
    let id: u16 = rand::random();
    socket.send_to(&dns_query(id, host), resolver).await.ok()?;
    let mut buf = [0u8; 512];
    let (n, _) = timeout(DNS_TIMEOUT, socket.recv_from(&mut buf)).await.ok()?.ok()?;
    first_a_record(buf.get(..n)?, id)
}

fn dns_query(id: u16, host: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(32 + host.len());
    q.extend_from_slice(&id.to_be_bytes());
    // Recursion desired; one question.
    q.extend_from_slice(&[0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
    for label in host.split('.').filter(|l| !l.is_empty()) {
        let label = &label.as_bytes()[..label.len().min(63)];
        q.push(label.len() as u8);
        q.extend_from_slice(label);
    }
    q.push(0);
    q.extend_from_slice(&[0, 1, 0, 1]);
    q
}

/// The first `A` record of a response to question `id`, skipping the question and any
/// other records; `None` for anything malformed.
fn first_a_record(msg: &[u8], id: u16) -> Option<IpAddr> {
    if msg.get(..2)? != id.to_be_bytes() {
        return None;
    }
    let questions = u16::from_be_bytes([*msg.get(4)?, *msg.get(5)?]);
    let answers = u16::from_be_bytes([*msg.get(6)?, *msg.get(7)?]);
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(msg, at)? + 4;
    }
    for _ in 0..answers {
        at = skip_name(msg, at)?;
        let kind = u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]);
        let length = usize::from(u16::from_be_bytes([*msg.get(at + 8)?, *msg.get(at + 9)?]));
        let data = msg.get(at + 10..at + 10 + length)?;
        if kind == 1 && length == 4 {
            return Some(IpAddr::V4(Ipv4Addr::new(data[0], data[1], data[2], data[3])));
        }
        at += 10 + length;
    }
    None
}

fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let length = *msg.get(at)?;
        match length {
            0 => return Some(at + 1),
            l if l & 0xC0 == 0xC0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_hello_is_a_tls_handshake_record_naming_the_host() {
        let mut hello = Vec::new();
        let mut client = tls_client(CLOUD_HOST, false).unwrap();
        while client.wants_write() {
            client.write_tls(&mut hello).unwrap();
        }
        assert_eq!(hello[0], 0x16, "a handshake record");
        assert_eq!(hello[5], 0x01, "a ClientHello");
        assert!(
            hello.windows(CLOUD_HOST.len()).any(|w| w == CLOUD_HOST.as_bytes()),
            "the SNI names the host"
        );
    }

    /// A TLS server with a certificate for `host` from nobody's authority, serving one
    /// connection: what the client sent inside, or the error that ended the handshake.
    async fn one_tls_server(host: &str) -> (SocketAddr, tokio::task::JoinHandle<Result<Vec<u8>, String>>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![host.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
            let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
            let mut inside = Vec::new();
            let _ = timeout(Duration::from_secs(5), tls.read_to_end(&mut inside)).await;
            Ok(inside)
        });
        (address, server)
    }

    fn context(accepts_any_server: bool) -> Context {
        Context {
            resolver: "127.0.0.1:53".parse().unwrap(),
            model: "SC-1".into(),
            firmware: "1.0".into(),
            accepts_any_server,
        }
    }

    #[tokio::test]
    async fn the_compliant_client_refuses_an_unknown_authority_and_sends_nothing_inside() {
        let (address, server) = one_tls_server(UPDATE_HOST).await;
        let mut stream = TcpStream::connect(address).await.unwrap();
        assert!(
            speak_tls(&mut stream, UPDATE_HOST, &context(false)).await,
            "the server answered"
        );
        drop(stream);
        let refused = server.await.unwrap().unwrap_err();
        assert!(refused.to_lowercase().contains("unknown"), "{refused}");
    }

    #[tokio::test]
    async fn the_flawed_client_accepts_any_server_and_sends_its_request_inside() {
        let (address, server) = one_tls_server(UPDATE_HOST).await;
        let mut stream = TcpStream::connect(address).await.unwrap();
        assert!(speak_tls(&mut stream, UPDATE_HOST, &context(true)).await);
        drop(stream);
        let inside = String::from_utf8(server.await.unwrap().unwrap()).unwrap();
        assert!(
            inside.starts_with("GET /firmware/check?model=SC-1&version=1.0 "),
            "{inside}"
        );
    }

    #[test]
    fn dns_answers_are_read_and_malformed_ones_refused() {
        let query = dns_query(0x1234, "fw.simcam.example");
        let mut answer = query.clone();
        answer[2] = 0x81;
        answer[3] = 0x80;
        answer[7] = 1;
        answer.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 77, 0, 1]);
        assert_eq!(
            first_a_record(&answer, 0x1234),
            Some(IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1)))
        );
        assert_eq!(first_a_record(&answer, 0x9999), None, "another question's answer");
        assert_eq!(first_a_record(&answer[..answer.len() - 3], 0x1234), None, "truncated");
        assert_eq!(first_a_record(&query, 0x1234), None, "no answer");
    }
}
