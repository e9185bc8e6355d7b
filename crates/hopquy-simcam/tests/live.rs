//! The camera on real loopback sockets: listeners, HTTPS handshake, Telnet and SDK greetings,
//! the target file, shutdown.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hopquy_simcam::{SimCamera, SimConfig, SimError, SimSetup, TELNET_LOGIN_PROMPT, TELNET_NEGOTIATION, sdk_banner};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const IO_TIMEOUT: Duration = Duration::from_secs(5);

async fn start(setup: &str) -> SimCamera {
    SimCamera::start(SimConfig::new(SimSetup::parse(setup).unwrap()))
        .await
        .unwrap()
}

fn address(camera: &SimCamera, service: &str) -> SocketAddr {
    SocketAddr::new(camera.host(), camera.ports()[service])
}

async fn read_at_least<S: AsyncRead + Unpin>(stream: &mut S, wanted: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    while got.len() < wanted {
        let read = tokio::time::timeout(IO_TIMEOUT, stream.read(&mut chunk))
            .await
            .expect("read timed out")
            .unwrap();
        if read == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..read]);
    }
    got
}

/// Sends one HTTP/1.1 request with `Connection: close` and returns the whole response.
async fn http_exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut response))
        .await
        .expect("response timed out")
        .unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_connector(version: &'static rustls::SupportedProtocolVersion) -> tokio_rustls::TlsConnector {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[version])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn services_listen_on_loopback_and_answer_like_a_camera() {
    let camera = start("hardened+telnet-open+undeclared-port").await;
    let ports = camera.ports();
    assert_eq!(
        ports.keys().map(String::as_str).collect::<Vec<_>>(),
        ["http", "https", "rtsp", "sdk", "ssh", "telnet"]
    );
    assert_eq!(camera.host(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    // Declared: the camera's declared services only (the host's wildcard listeners are
    // excluded from sweeps instead, see bench_ports).
    let declared = camera.declared_ports();
    for service in ["http", "https", "rtsp", "ssh"] {
        assert!(
            declared.contains(&ports[service]),
            "{service} is declared: {declared:?}"
        );
    }
    for service in ["telnet", "sdk"] {
        assert!(
            !declared.contains(&ports[service]),
            "{service} is not declared: {declared:?}"
        );
    }
    let own: Vec<u16> = ports.values().copied().collect();
    assert!(
        declared.len() == 4 && declared.iter().all(|p| own.contains(p)),
        "only the camera's own declared services: {declared:?}"
    );
    assert!(
        camera.bench_ports().iter().all(|p| !own.contains(p)),
        "the bench's listeners are never the camera's: {:?}",
        camera.bench_ports()
    );

    // Plain HTTP only redirects to the same path on HTTPS, as current firmware does.
    let mut http = TcpStream::connect(address(&camera, "http")).await.unwrap();
    let response = http_exchange(&mut http, "/SDK/activateStatus?x=1").await;
    assert!(response.starts_with("HTTP/1.1 301"), "{response}");
    let location = format!("location: https://127.0.0.1:{}/SDK/activateStatus?x=1", ports["https"]);
    assert!(response.contains(&location), "{response}");
    assert!(!response.contains("<Activated>"), "{response}");

    // With `http-api` the API answers on plain HTTP as well.
    let open = start("hardened+http-api").await;
    let mut http = TcpStream::connect(address(&open, "http")).await.unwrap();
    let response = http_exchange(&mut http, "/SDK/activateStatus").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("<Activated>true</Activated>"));

    // HTTPS with TLS 1.2 and 1.3, presenting the instance's certificate.
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let tcp = TcpStream::connect(address(&camera, "https")).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = tokio::time::timeout(IO_TIMEOUT, tls_connector(version).connect(name, tcp))
            .await
            .expect("handshake timed out")
            .unwrap();
        let (_, session) = tls.get_ref();
        assert_eq!(session.protocol_version(), Some(version.version));
        let presented = session.peer_certificates().unwrap()[0].as_ref().to_vec();
        assert_eq!(Some(presented.as_slice()), camera.tls_certificate_der());
        let response = http_exchange(&mut tls, "/ISAPI/System/deviceInfo").await;
        assert!(response.starts_with("HTTP/1.1 401"), "{response}");
        assert!(response.contains("WWW-Authenticate: Digest") || response.contains("www-authenticate: Digest"));
    }

    // Telnet: option negotiation, then a login prompt.
    let mut telnet = TcpStream::connect(address(&camera, "telnet")).await.unwrap();
    let greeting = read_at_least(&mut telnet, TELNET_NEGOTIATION.len() + TELNET_LOGIN_PROMPT.len()).await;
    assert_eq!(&greeting[..TELNET_NEGOTIATION.len()], TELNET_NEGOTIATION);
    assert_eq!(&greeting[TELNET_NEGOTIATION.len()..], TELNET_LOGIN_PROMPT);
    assert_eq!(TELNET_NEGOTIATION[..3], [0xFF, 0xFD, 0x18]);

    // SDK: binary greeting.
    let mut sdk = TcpStream::connect(address(&camera, "sdk")).await.unwrap();
    assert_eq!(read_at_least(&mut sdk, 32).await, sdk_banner());

    camera.shutdown().await;
}

#[tokio::test]
async fn telnet_never_lets_anyone_in() {
    let camera = start("hardened+telnet-open").await;
    let mut telnet = TcpStream::connect(address(&camera, "telnet")).await.unwrap();
    read_at_least(&mut telnet, TELNET_NEGOTIATION.len() + TELNET_LOGIN_PROMPT.len()).await;
    // A client's option refusals, then the camera's admin credentials.
    telnet.write_all(&[0xFF, 0xFC, 0x18, 0xFF, 0xFC, 0x20]).await.unwrap();
    telnet.write_all(b"admin\r\n").await.unwrap();
    let prompt = read_at_least(&mut telnet, b"Password: ".len()).await;
    assert_eq!(prompt, b"Password: ");
    telnet
        .write_all(format!("{}\r\n", camera.admin_password()).as_bytes())
        .await
        .unwrap();
    let answer = read_at_least(&mut telnet, b"\r\nLogin incorrect\r\n".len()).await;
    assert!(String::from_utf8_lossy(&answer).contains("Login incorrect"));
}

#[tokio::test]
async fn http_only_runs_no_https_and_default_runs_no_telnet() {
    let camera = start("hardened+http-only").await;
    assert_eq!(
        camera.ports().keys().map(String::as_str).collect::<Vec<_>>(),
        ["http", "rtsp", "ssh"]
    );
    assert_eq!(camera.tls_certificate_der(), None);
    let hardened = start("hardened").await;
    assert_eq!(
        hardened.ports().keys().map(String::as_str).collect::<Vec<_>>(),
        ["http", "https", "rtsp", "ssh"]
    );
}

#[tokio::test]
async fn non_loopback_addresses_are_refused() {
    let mut config = SimConfig::new(SimSetup::default());
    config.bind = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    let error = SimCamera::start(config).await.unwrap_err();
    assert!(matches!(error, SimError::NonLoopback(_)), "{error}");
}

#[tokio::test]
async fn each_instance_has_its_own_password_and_certificate() {
    let a = start("hardened").await;
    let b = start("hardened").await;
    assert_ne!(a.admin_password(), b.admin_password());
    assert_ne!(a.identity().serial, b.identity().serial);
    assert_ne!(a.tls_certificate_der(), b.tls_certificate_der());
}

#[tokio::test]
async fn target_file_describes_the_instance_without_its_password() {
    let camera = start("legacy").await;
    let text = camera.target_toml("simcam", "HOPQUY_SIM_PASSWORD");
    assert!(!text.contains(&camera.admin_password()), "{text}");

    let target: toml::Table = toml::from_str(&text).unwrap();
    let keys = |table: &toml::Table| table.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&target), ["connection", "credentials", "declared", "device"]);
    let device = target["device"].as_table().unwrap();
    assert_eq!(device["vendor"].as_str(), Some("hopquy-sim"));
    assert_eq!(device["serial"].as_str(), Some(camera.identity().serial.as_str()));
    let connection = target["connection"].as_table().unwrap();
    assert_eq!(connection["host"].as_str(), Some("127.0.0.1"));
    assert_eq!(connection["profile"].as_str(), Some("simcam"));
    let ports = connection["ports"].as_table().unwrap();
    for (name, port) in camera.ports() {
        assert_eq!(ports[&name].as_integer(), Some(i64::from(port)), "{name}");
    }
    let credentials = target["credentials"].as_table().unwrap();
    assert_eq!(keys(credentials), ["password_env", "username"]);
    assert_eq!(credentials["password_env"].as_str(), Some("HOPQUY_SIM_PASSWORD"));
    let declared = target["declared"].as_table().unwrap();
    let open: Vec<u16> = declared["open_tcp_ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| u16::try_from(p.as_integer().unwrap()).unwrap())
        .collect();
    assert_eq!(open, camera.declared_ports());
    // The bench's own listeners are excluded from sweeps, never declared as the camera's.
    let excluded: Vec<u16> = connection
        .get("exclude_ports")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_integer())
                .filter_map(|p| u16::try_from(p).ok())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(excluded, camera.bench_ports());
    assert!(excluded.iter().all(|p| !open.contains(p)), "{excluded:?} / {open:?}");
    assert!(!open.contains(&camera.ports()["telnet"]));
    assert!(!open.contains(&camera.ports()["sdk"]));
    assert_eq!(declared["lockout"]["attempts"].as_integer(), Some(5));
    assert_eq!(declared["lockout"]["duration_s"].as_integer(), Some(4));

    // Quotes in caller-supplied values stay inside their strings.
    let odd = camera.target_toml("a\"b\\c", "ENV");
    let parsed: toml::Table = toml::from_str(&odd).unwrap();
    assert_eq!(parsed["connection"]["profile"].as_str(), Some("a\"b\\c"));
}

#[tokio::test]
async fn shutdown_closes_the_listeners() {
    let camera = start("hardened+telnet-open").await;
    let http = address(&camera, "http");
    let telnet = address(&camera, "telnet");
    assert!(TcpStream::connect(http).await.is_ok());
    camera.shutdown().await;
    assert!(!answers(http).await);
    assert!(!answers(telnet).await);
}

#[tokio::test]
async fn dropping_the_camera_closes_the_listeners() {
    let camera = start("hardened").await;
    let http = address(&camera, "http");
    drop(camera);
    // Aborted tasks are dropped on the runtime's next turn.
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!answers(http).await);
}

/// A keep-alive HTTP/1.1 client on one TCP connection, enough for Digest round trips.
struct KeepAlive {
    stream: TcpStream,
}

struct RawReply {
    status: u16,
    head: String,
    body: String,
}

impl KeepAlive {
    async fn connect(address: SocketAddr) -> Self {
        KeepAlive {
            stream: TcpStream::connect(address).await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str, authorization: Option<&str>) -> RawReply {
        let auth_line = authorization.map_or_else(String::new, |a| format!("Authorization: {a}\r\n"));
        let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth_line}\r\n");
        self.stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        let head_end = loop {
            if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            raw.extend(read_at_least(&mut self.stream, 1).await);
        };
        let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().unwrap())
            })
            .unwrap();
        while raw.len() < head_end + length {
            raw.extend(read_at_least(&mut self.stream, 1).await);
        }
        RawReply {
            status: head[9..12].parse().unwrap(),
            body: String::from_utf8_lossy(&raw[head_end..head_end + length]).into_owned(),
            head,
        }
    }

    /// Challenge, then answer with Digest MD5 (RFC 7616 arithmetic done here).
    async fn digest_get(&mut self, path: &str, user: &str, password: &str) -> RawReply {
        let challenge = self.get(path, None).await;
        assert_eq!(challenge.status, 401);
        let line = challenge
            .head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("www-authenticate: digest") && l.contains("algorithm=MD5"))
            .unwrap()
            .to_string();
        let field = |key: &str| {
            let start = line.find(&format!("{key}=\"")).unwrap() + key.len() + 2;
            line[start..start + line[start..].find('"').unwrap()].to_string()
        };
        let (realm, nonce, opaque) = (field("realm"), field("nonce"), field("opaque"));
        let md5 = |s: String| hex::encode(<md5::Md5 as md5::Digest>::digest(s.as_bytes()));
        let ha1 = md5(format!("{user}:{realm}:{password}"));
        let ha2 = md5(format!("GET:{path}"));
        let response = md5(format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
        let authorization = format!(
            "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{path}\", algorithm=MD5, response=\"{response}\", qop=auth, nc=00000001, cnonce=\"c0ffee\", opaque=\"{opaque}\""
        );
        self.get(path, Some(&authorization)).await
    }
}

const USER_CHECK: &str = "/ISAPI/Security/userCheck";

/// Five failures on one connection, then the right password on that connection and on a
/// fresh one: the lock status seen on each.
async fn lock_seen_on_same_and_fresh_connection(camera: &SimCamera) -> (RawReply, RawReply) {
    let mut first = KeepAlive::connect(address(camera, "http")).await;
    for _ in 0..5 {
        assert_eq!(first.digest_get(USER_CHECK, "admin", "Wrong-pass1").await.status, 401);
    }
    let same = first.digest_get(USER_CHECK, "admin", &camera.admin_password()).await;
    let mut second = KeepAlive::connect(address(camera, "http")).await;
    let fresh = second.digest_get(USER_CHECK, "admin", &camera.admin_password()).await;
    (same, fresh)
}

#[tokio::test]
async fn digest_over_a_real_socket_and_per_connection_lockout() {
    let camera = start("hardened+http-api").await;
    let mut client = KeepAlive::connect(address(&camera, "http")).await;
    let ok = client.digest_get(USER_CHECK, "admin", &camera.admin_password()).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let (same, fresh) = lock_seen_on_same_and_fresh_connection(&camera).await;
    assert!(same.body.contains("<lockStatus>lock</lockStatus>"), "{}", same.body);
    assert!(fresh.body.contains("<lockStatus>lock</lockStatus>"), "{}", fresh.body);

    let dahua = start("dahua-like+http-api").await;
    let (same, fresh) = lock_seen_on_same_and_fresh_connection(&dahua).await;
    assert!(same.body.contains("<lockStatus>lock</lockStatus>"), "{}", same.body);
    assert_eq!(fresh.status, 200, "{}", fresh.body);
}

/// Something listens there: connected, and not to ourselves (a connect to a closed
/// ephemeral port on loopback can "succeed" as a TCP self-connect).
async fn answers(address: std::net::SocketAddr) -> bool {
    TcpStream::connect(address)
        .await
        .is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok())
}

#[tokio::test]
async fn telnet_with_default_password_gives_a_shell_to_the_factory_pair() {
    let camera = start("hardened+telnet-open+default-password").await;
    let mut telnet = TcpStream::connect(address(&camera, "telnet")).await.unwrap();
    read_at_least(&mut telnet, TELNET_NEGOTIATION.len() + TELNET_LOGIN_PROMPT.len()).await;
    telnet.write_all(b"admin\r\n").await.unwrap();
    assert_eq!(read_at_least(&mut telnet, b"Password: ".len()).await, b"Password: ");
    telnet.write_all(b"12345\r\n").await.unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"~ # ") {
        let more = read_at_least(&mut telnet, 1).await;
        assert!(!more.is_empty(), "closed before the shell prompt: {answer:?}");
        answer.extend(more);
    }
    assert!(String::from_utf8_lossy(&answer).contains("BusyBox"));
}

/// A power cut stops the camera's own traffic too: its uplink agents ask the resolver nothing
/// while it is off, and ask again at once when it is back (a fresh boot, not the end of a
/// back-off that ran on through the outage).
#[tokio::test]
async fn a_power_cycle_stops_and_restarts_the_uplink() {
    let resolver = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut config = SimConfig::new(SimSetup::parse("hardened").unwrap());
    config.uplink = Some(hopquy_simcam::uplink::Uplink {
        resolver: resolver.local_addr().unwrap(),
        period: std::time::Duration::from_secs(60),
    });
    let mut camera = SimCamera::start(config).await.unwrap();
    let mut buf = [0u8; 512];
    let first = tokio::time::timeout(std::time::Duration::from_secs(3), resolver.recv_from(&mut buf)).await;
    assert!(first.is_ok(), "the uplink asks its resolver within 3 s of boot");

    let off_for = std::time::Duration::from_secs(3);
    let began = tokio::time::Instant::now();
    let listen = async {
        let mut arrivals = Vec::new();
        while began.elapsed() < off_for + std::time::Duration::from_secs(2) {
            if let Ok(Ok(_)) =
                tokio::time::timeout(std::time::Duration::from_millis(100), resolver.recv_from(&mut buf)).await
            {
                arrivals.push(began.elapsed());
            }
        }
        arrivals
    };
    let (cycled, arrivals) = tokio::join!(camera.power_cycle(off_for), listen);
    cycled.unwrap();
    // Questions already on their way when the power went are allowed a moment to arrive.
    let while_off: Vec<_> = arrivals
        .iter()
        .filter(|t| **t > std::time::Duration::from_millis(300) && **t < off_for)
        .collect();
    assert!(
        while_off.is_empty(),
        "DNS questions while the camera was off: {while_off:?}"
    );
    assert!(
        arrivals.iter().any(|t| *t >= off_for),
        "no question after the camera came back: {arrivals:?}"
    );
    camera.shutdown().await;
}
