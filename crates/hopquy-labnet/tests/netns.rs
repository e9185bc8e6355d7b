//! The lab network on real kernel interfaces, never the host's: every test makes two network
//! namespaces, `hqln<pid><tag>h` (hopquy's side) and `hqln<pid><tag>c` (the camera), joined
//! by a veth pair, and re-runs this test binary inside them (`ip netns exec`, which also
//! remounts /sys for the namespace) with `HQLN_ROLE` saying which side it plays. The guard
//! deletes both namespaces, and with them the veth pair, even when a test panics.
//!
//! Needs root and iproute2. Without root the tests print why and pass, unless
//! `HOPQUY_REQUIRE_NETNS` is set, in which case they fail.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use hopquy_labnet::{Caps, LabNet, LabNetConfig, LabNetError, LabNetRecord};

const ROLE: &str = "HQLN_ROLE";
const LAB_IF: &str = "HQLN_LAB_IF";
const CAM_IF: &str = "HQLN_CAM_IF";
const CAM_NS: &str = "HQLN_CAM_NS";
const OUT: &str = "HQLN_OUT";
const LAB: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The camera's cleartext password; it must appear in neither the record nor the pcap.
const CAMERA_PASSWORD: &str = "Cam3ra-s3cret";

fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent test"))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn sh(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Two namespaces and a veth pair; deleted on drop.
struct Bench {
    tag: String,
    lab_ns: String,
    cam_ns: String,
    lab_if: String,
    cam_if: String,
    out: tempfile::TempDir,
}

impl Bench {
    /// `None` (with the reason printed) where the tests cannot run and are not required to.
    fn create(tag: &str) -> Option<Bench> {
        let required = std::env::var_os("HOPQUY_REQUIRE_NETNS").is_some();
        let why = if !is_root() {
            Some("not root")
        } else if Command::new("ip").arg("-V").output().is_err() {
            Some("iproute2 (`ip`) is not installed")
        } else {
            None
        };
        if let Some(why) = why {
            assert!(
                !required,
                "HOPQUY_REQUIRE_NETNS is set but the netns tests cannot run: {why}"
            );
            eprintln!("skipping the lab-network netns test: {why}");
            return None;
        }
        let id = format!("{}{tag}", std::process::id());
        let b = Bench {
            tag: tag.into(),
            lab_ns: format!("hqln{id}h"),
            cam_ns: format!("hqln{id}c"),
            lab_if: format!("hl{id}"),
            cam_if: format!("hc{id}"),
            out: tempfile::tempdir().expect("temp dir"),
        };
        sh(&["ip", "netns", "add", &b.lab_ns]);
        sh(&["ip", "netns", "add", &b.cam_ns]);
        sh(&[
            "ip", "link", "add", &b.lab_if, "type", "veth", "peer", "name", &b.cam_if,
        ]);
        sh(&["ip", "link", "set", &b.lab_if, "netns", &b.lab_ns]);
        sh(&["ip", "link", "set", &b.cam_if, "netns", &b.cam_ns]);
        for (ns, ifc) in [(&b.lab_ns, &b.lab_if), (&b.cam_ns, &b.cam_if)] {
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            sh(&["ip", "-n", ns, "link", "set", ifc, "up"]);
        }
        Some(b)
    }

    /// Runs `test` of this binary in hopquy's namespace as the lab side; panics with its
    /// output when it fails.
    fn run_lab(&self, test: &str) {
        let out = run_in(
            &self.lab_ns,
            test,
            "lab",
            &[
                (LAB_IF, self.lab_if.as_str()),
                (CAM_IF, self.cam_if.as_str()),
                (CAM_NS, self.cam_ns.as_str()),
                (OUT, &self.out.path().display().to_string()),
            ],
        );
        println!("{}", String::from_utf8_lossy(&out.stdout));
        assert!(
            out.status.success(),
            "lab side of {test} ({}) failed:\n{}\n{}",
            self.tag,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn ns_cmd(&self, ns: &str, args: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", ns];
        full.extend_from_slice(args);
        sh(&full)
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        for ns in [&self.lab_ns, &self.cam_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn run_in(ns: &str, test: &str, role: &str, vars: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = Command::new("ip");
    if let Ok(v) = std::env::var("HQLN_DHCP") {
        cmd.env("HQLN_DHCP", v);
    }
    cmd.args(["netns", "exec", ns])
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"]);
    cmd.env(ROLE, role);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("ip netns exec")
}

/// From the lab side: runs `test` in the camera's namespace as `role`.
fn camera(test: &str, role: &str, extra: &[(&str, &str)]) {
    let cam_if = env(CAM_IF);
    let mut vars = vec![(CAM_IF, cam_if.as_str())];
    vars.extend_from_slice(extra);
    let out = run_in(&env(CAM_NS), test, role, &vars);
    println!("camera {role}: {}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "camera side {role} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn lab_config(pcap: &Path) -> LabNetConfig {
    LabNetConfig::new(env(LAB_IF), pcap)
}

// ---- the camera's side -------------------------------------------------------------------

/// Gets an address: busybox udhcpc where it is installed (a real client, as many cameras
/// run), else a DHCP client written here with dhcproto.
fn camera_dhcp(iface: &str) -> Ipv4Addr {
    // HQLN_DHCP=builtin forces the hand-written client, so both paths can be exercised.
    let builtin = std::env::var("HQLN_DHCP").is_ok_and(|v| v == "builtin");
    if !builtin
        && Command::new("busybox")
            .arg("udhcpc")
            .arg("--help")
            .output()
            .is_ok_and(|o| !o.stderr.is_empty() || o.status.success())
    {
        let script = std::env::temp_dir().join(format!("hqln-udhcpc-{}.sh", std::process::id()));
        std::fs::write(
            &script,
            "#!/bin/sh\n[ \"$1\" = bound ] && ip addr add \"$ip/${mask:-24}\" dev \"$interface\"\nexit 0\n",
        )
        .expect("script");
        sh(&["chmod", "+x", &script.display().to_string()]);
        let out = sh(&[
            "busybox",
            "udhcpc",
            "-i",
            iface,
            "-n",
            "-q",
            "-f",
            "-t",
            "5",
            "-T",
            "1",
            "-x",
            "hostname:IPC-test",
            "-V",
            "hqln-vendor",
            "-s",
            &script.display().to_string(),
        ]);
        let _ = std::fs::remove_file(&script);
        println!("udhcpc: {}", String::from_utf8_lossy(&out.stdout));
    } else {
        dhcp_by_hand(iface);
    }
    let addrs = String::from_utf8_lossy(&sh(&["ip", "-o", "-4", "addr", "show", "dev", iface]).stdout).into_owned();
    let ip = addrs
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .expect("an address was bound");
    ip.split('/').next().and_then(|i| i.parse().ok()).expect("IPv4")
}

fn dhcp_by_hand(iface: &str) {
    use dhcproto::v4::{DhcpOption, Message, MessageType};
    use dhcproto::{Decodable, Decoder, Encodable};
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).expect("udp");
    sock.bind_device(Some(iface.as_bytes())).expect("bind device");
    sock.set_broadcast(true).expect("broadcast");
    sock.set_reuse_address(true).expect("reuse");
    sock.bind(&SocketAddr::from(([0, 0, 0, 0], 68)).into())
        .expect("bind :68");
    let sock: UdpSocket = sock.into();
    sock.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
    let mac: Vec<u8> = std::fs::read_to_string(format!("/sys/class/net/{iface}/address"))
        .expect("mac")
        .trim()
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).expect("hex"))
        .collect();
    let send = |kind, requested: Option<Ipv4Addr>| {
        let mut m = Message::new_with_id(
            0xabcd,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &mac,
        );
        m.opts_mut().insert(DhcpOption::MessageType(kind));
        m.opts_mut().insert(DhcpOption::Hostname("IPC-test".into()));
        m.opts_mut()
            .insert(DhcpOption::ClassIdentifier(b"hqln-vendor".to_vec()));
        if let Some(ip) = requested {
            m.opts_mut().insert(DhcpOption::RequestedIpAddress(ip));
        }
        sock.send_to(&m.to_vec().expect("encode"), "255.255.255.255:67")
            .expect("send");
    };
    let recv = |want| {
        let mut buf = [0u8; 1500];
        loop {
            let (n, _) = sock.recv_from(&mut buf).expect("a DHCP reply in time");
            let m = Message::decode(&mut Decoder::new(&buf[..n])).expect("reply decodes");
            if m.opts().msg_type() == Some(want) {
                return m.yiaddr();
            }
        }
    };
    send(MessageType::Discover, None);
    let offered = recv(MessageType::Offer);
    send(MessageType::Request, Some(offered));
    let acked = recv(MessageType::Ack);
    sh(&["ip", "addr", "add", &format!("{acked}/24"), "dev", iface]);
}

fn dns_query(name: &str, timeout: Duration) -> Option<Ipv4Addr> {
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RData, RecordType};
    let mut q = Message::new();
    q.set_id(4242).set_recursion_desired(true);
    q.add_query(Query::query(Name::from_ascii(name).expect("name"), RecordType::A));
    let sock = UdpSocket::bind("0.0.0.0:0").expect("udp");
    sock.set_read_timeout(Some(timeout)).expect("timeout");
    sock.send_to(&q.to_vec().expect("encode"), (LAB, 53)).expect("send");
    let mut buf = [0u8; 1500];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    let m = Message::from_vec(&buf[..n]).expect("answer decodes");
    m.answers().iter().find_map(|r| match r.data() {
        RData::A(a) => Some(a.0),
        _ => None,
    })
}

/// A minimal TLS 1.2/1.3 ClientHello naming `sni`.
fn client_hello(sni: &str) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut sn = vec![0u8];
    sn.extend((name.len() as u16).to_be_bytes());
    sn.extend(name);
    let mut list = (sn.len() as u16).to_be_bytes().to_vec();
    list.extend(sn);
    let mut ext = vec![0x00, 0x00];
    ext.extend((list.len() as u16).to_be_bytes());
    ext.extend(list);
    ext.extend([0x00, 0x2b, 0x00, 0x05, 0x04, 0x03, 0x04, 0x03, 0x03]);
    let mut body = vec![0x03, 0x03];
    body.extend([7u8; 32]);
    body.push(0);
    body.extend([0x00, 0x04, 0x13, 0x01, 0xc0, 0x2f, 0x01, 0x00]);
    body.extend((ext.len() as u16).to_be_bytes());
    body.extend(ext);
    let mut hs = vec![0x01];
    hs.extend(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend(body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend((hs.len() as u16).to_be_bytes());
    rec.extend(hs);
    rec
}

fn send_and_wait_close(port: u16, bytes: &[u8]) -> std::io::Result<()> {
    let mut s = TcpStream::connect_timeout(&SocketAddr::from((LAB, port)), Duration::from_secs(2))?;
    s.write_all(bytes)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut sink = [0u8; 64];
    // The sinkhole closes after reading: EOF (or a reset) ends this.
    let _ = s.read(&mut sink);
    Ok(())
}

fn camera_normal() {
    let iface = env(CAM_IF);
    let ip = camera_dhcp(&iface);
    println!("camera got {ip}");
    assert_eq!(dns_query("cloud.vendor.example", Duration::from_secs(2)), Some(LAB));
    send_and_wait_close(443, &client_hello("cloud.vendor.example")).expect("TLS to the sinkhole");
    let basic = base64_basic("admin", CAMERA_PASSWORD);
    let req = format!(
        "POST /api/register?sn=HQ123&key={CAMERA_PASSWORD} HTTP/1.1\r\nHost: cloud.vendor.example\r\nAuthorization: Basic {basic}\r\nContent-Length: 0\r\n\r\n"
    );
    send_and_wait_close(80, req.as_bytes()).expect("HTTP to the sinkhole");
    send_and_wait_close(1883, &mqtt_connect("cam-HQ123", "device", CAMERA_PASSWORD)).expect("MQTT to the sinkhole");
    let refused = TcpStream::connect_timeout(&SocketAddr::from((LAB, 9999)), Duration::from_secs(2));
    assert!(refused.is_err(), "no listener on 9999: the kernel refuses");
}

fn camera_outage() {
    assert_eq!(
        dns_query("cloud.vendor.example", Duration::from_millis(800)),
        None,
        "no answer during the outage"
    );
    for _ in 0..3 {
        let r = TcpStream::connect_timeout(&SocketAddr::from((LAB, 443)), Duration::from_secs(2)).and_then(|mut s| {
            let _ = s.write_all(&client_hello("cloud.vendor.example"));
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            let mut b = [0u8; 8];
            s.read(&mut b)
        });
        assert!(!matches!(r, Ok(n) if n > 0), "no bytes from a reset sinkhole: {r:?}");
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// An MQTT 3.1.1 CONNECT with a user name and a password.
fn mqtt_connect(client_id: &str, user: &str, pass: &str) -> Vec<u8> {
    let field = |b: &str| {
        let mut v = (b.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(b.as_bytes());
        v
    };
    let mut body = field("MQTT");
    body.extend([4, 0xc2, 0, 60]);
    for f in [client_id, user, pass] {
        body.extend(field(f));
    }
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend(body);
    packet
}

fn base64_basic(user: &str, pass: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{pass}");
    let mut out = String::new();
    for chunk in input.as_bytes().chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---- the tests ---------------------------------------------------------------------------

#[test]
fn a_camera_session_is_recorded() {
    const ME: &str = "a_camera_session_is_recorded";
    match role().as_deref() {
        Some("camera-normal") => return camera_normal(),
        Some("camera-outage") => return camera_outage(),
        Some("lab") => return session_lab_side(ME),
        _ => {}
    }
    let Some(bench) = Bench::create("s") else { return };
    bench.run_lab(ME);
    // hopquy removed the address it added: only the namespace's own state is left.
    let addrs = bench.ns_cmd(&bench.lab_ns, &["ip", "-o", "-4", "addr", "show", "dev", &bench.lab_if]);
    assert!(
        !String::from_utf8_lossy(&addrs.stdout).contains("10.77.0.1"),
        "address removed at stop"
    );
}

fn session_lab_side(me: &str) {
    let out = PathBuf::from(env(OUT));
    let pcap = out.join("capture.pcap");
    let handle = LabNet::start(lab_config(&pcap)).expect("lab network starts");
    camera(me, "camera-normal", &[]);
    handle.cut_uplink();
    camera(me, "camera-outage", &[]);
    handle.restore_uplink();
    assert_eq!(
        dns_query("after.restore.example", Duration::from_secs(2)),
        Some(LAB),
        "answered again"
    );
    let during = handle.snapshot();
    assert!(during.stopped.is_none() && during.pcap.is_none());
    let record = handle.stop();
    let json = serde_json::to_string_pretty(&record).expect("record serialises");
    std::fs::write(out.join("record.json"), &json).expect("write record");

    // DHCP: a discover and a request, answered; one lease with the client's hostname.
    let ex = &record.dhcp.exchanges;
    assert!(
        ex.iter()
            .any(|e| e.message == "discover" && e.reply.starts_with("offer 10.77.0.")),
        "{ex:#?}"
    );
    assert!(
        ex.iter()
            .any(|e| e.message == "request" && e.reply.starts_with("ack 10.77.0.")),
        "{ex:#?}"
    );
    assert!(ex.iter().any(|e| e.hostname.as_deref() == Some("IPC-test")), "{ex:#?}");
    assert_eq!(record.dhcp.leases.len(), 1, "{:#?}", record.dhcp);

    // DNS: answered with hopquy's address, unanswered during the outage.
    let q = &record.dns.questions;
    assert!(
        q.iter()
            .any(|q| q.name == "cloud.vendor.example." && q.answer == "A 10.77.0.1"),
        "{q:#?}"
    );
    assert!(q.iter().any(|q| q.answer == "none: uplink cut"), "{q:#?}");
    assert!(q.iter().any(|q| q.name == "after.restore.example."), "{q:#?}");

    // TLS: the SNI and offered versions from the ClientHello; no negotiated values.
    let tls: Vec<_> = record.flows.iter().filter(|f| f.server == "10.77.0.1:443").collect();
    let first = tls
        .iter()
        .find_map(|f| f.tls.as_ref())
        .expect("a TLS flow with a ClientHello");
    assert_eq!(first.sni.as_deref(), Some("cloud.vendor.example"));
    assert_eq!(first.offered_versions, vec!["TLS1.3", "TLS1.2"]);
    assert!(first.negotiated_version.is_none());
    assert!(first.note.as_deref().unwrap_or_default().contains("sinkhole"));
    // The sinkhole answered the handshake; this hand-built hello offers no key share, so
    // hopquy's TLS server and the camera agree on nothing, and the record says so.
    let answered = tls
        .iter()
        .find_map(|f| f.interception.as_ref())
        .expect("the handshake was answered");
    assert_eq!(
        answered.outcome,
        hopquy_labnet::InterceptionOutcome::Failed,
        "{answered:#?}"
    );
    assert_eq!(answered.sni.as_deref(), Some("cloud.vendor.example"));
    assert!(record.sinkhole.tls_intercepted >= 1, "{:#?}", record.sinkhole);
    assert!(tls.len() >= 4, "one before the outage, three during it: {tls:#?}");
    assert!(
        tls.iter()
            .all(|f| f.tcp_syn_count >= 1 && f.answered_by == "sinkhole listener")
    );

    // HTTP in clear with a credential: recorded as such, the value nowhere.
    let http = record
        .flows
        .iter()
        .find_map(|f| f.plaintext.as_ref().filter(|p| p.protocol == "http"))
        .expect("http flow");
    assert_eq!(http.host.as_deref(), Some("cloud.vendor.example"));
    assert_eq!(http.method.as_deref(), Some("POST"));
    assert_eq!(http.path.as_deref(), Some("/api/register?sn=<redacted>&key=<redacted>"));
    assert_eq!(http.credentials, vec!["authorization: basic"]);
    let basic = base64_basic("admin", CAMERA_PASSWORD);
    assert!(
        !json.contains(CAMERA_PASSWORD) && !json.contains(&basic),
        "secret in the record"
    );

    // A port nobody listens on: the attempt is recorded, the kernel reset it.
    let closed = record
        .flows
        .iter()
        .find(|f| f.server == "10.77.0.1:9999")
        .expect("flow to 9999");
    assert!(closed.tcp_syn_count >= 1 && closed.tcp_rst_count >= 1, "{closed:#?}");
    assert_eq!(closed.answered_by, "no listener (kernel reset)");

    // The outage: two events in order, resets counted.
    let events: Vec<&str> = record.outages.iter().map(|o| o.event.as_str()).collect();
    assert_eq!(events, vec!["cut", "restore"]);
    assert!(record.sinkhole.reset_during_outage >= 3, "{:?}", record.sinkhole);
    assert!(record.sinkhole.accepted >= 2, "{:?}", record.sinkhole);

    // The pcap: its hash is the file's, it holds frames, and no credential survived in it.
    let info = record.pcap.as_ref().expect("pcap info");
    let bytes = std::fs::read(&pcap).expect("pcap exists");
    assert_eq!(info.bytes, bytes.len() as u64);
    use sha2::Digest;
    assert_eq!(info.sha256, hex::encode(sha2::Sha256::digest(&bytes)));
    assert!(record.capture.frames_written > 10 && record.capture.frames_written <= record.capture.frames_seen);
    let hay = String::from_utf8_lossy(&bytes);
    assert!(!hay.contains(&basic), "Authorization value masked in the pcap");
    assert!(
        !hay.contains(CAMERA_PASSWORD),
        "the query value and the MQTT password are masked in the pcap too"
    );
    assert!(hay.contains("cam-HQ123"), "the MQTT client id stays readable");
    assert!(
        hay.contains("Authorization: Basic ***"),
        "the header itself stays readable"
    );
    assert!(record.capture.pcap_bytes_redacted >= basic.len() as u64);
    assert!(record.errors.is_empty(), "{:?}", record.errors);
}

#[test]
fn refuses_the_interface_with_the_default_route() {
    const ME: &str = "refuses_the_interface_with_the_default_route";
    if role().as_deref() == Some("lab") {
        let iface = env(LAB_IF);
        sh(&["ip", "addr", "add", "10.99.0.2/24", "dev", &iface]);
        sh(&["ip", "route", "add", "default", "via", "10.99.0.1", "dev", &iface]);
        let pcap = PathBuf::from(env(OUT)).join("x.pcap");
        let err = hopquy_labnet::check(&lab_config(&pcap)).expect_err("refused");
        assert!(matches!(err, LabNetError::DefaultRoute { family: "IPv4", .. }), "{err}");
        let err = LabNet::start(lab_config(&pcap)).err().expect("refused");
        assert!(matches!(err, LabNetError::DefaultRoute { .. }), "{err}");
        assert!(!pcap.exists(), "nothing was started");
        // The lab interface itself is fine without that route.
        sh(&["ip", "route", "del", "default"]);
        let report = hopquy_labnet::check(&lab_config(&pcap)).expect("accepted now");
        assert_eq!(report.lab_address, "10.77.0.1");
        return;
    }
    let Some(bench) = Bench::create("d") else { return };
    bench.run_lab(ME);
}

#[test]
fn unknown_loopback_and_unnamed_interfaces_are_refused() {
    // Read-only checks: safe in the host's own namespace, root or not.
    let pcap = std::env::temp_dir().join("hqln-never-written.pcap");
    let err = LabNet::start(LabNetConfig::new("hqln-nope0", &pcap))
        .err()
        .expect("refused");
    assert!(matches!(err, LabNetError::NoSuchInterface(_)), "{err}");
    let err = LabNet::start(LabNetConfig::new("lo", &pcap)).err().expect("refused");
    assert!(matches!(err, LabNetError::Loopback(_)), "{err}");
    let err = LabNet::start(LabNetConfig::new("", &pcap)).err().expect("refused");
    assert!(matches!(err, LabNetError::NotNamed), "{err}");
    assert!(!pcap.exists());
}

#[test]
fn a_silent_camera_gives_a_record_that_says_so() {
    const ME: &str = "a_silent_camera_gives_a_record_that_says_so";
    if role().as_deref() == Some("lab") {
        let handle = LabNet::start(lab_config(&PathBuf::from(env(OUT)).join("c.pcap"))).expect("starts");
        std::thread::sleep(Duration::from_millis(1200));
        let t = Instant::now();
        let record: LabNetRecord = handle.stop();
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "stop is bounded: {:?}",
            t.elapsed()
        );
        assert!(record.dhcp.exchanges.is_empty());
        assert!(
            record.notes.iter().any(|n| n.contains("never asked for an address")),
            "{:?}",
            record.notes
        );
        return;
    }
    let Some(bench) = Bench::create("q") else { return };
    bench.run_lab(ME);
}

#[test]
fn a_malformed_flood_is_bounded_and_counted() {
    const ME: &str = "a_malformed_flood_is_bounded_and_counted";
    match role().as_deref() {
        Some("camera-flood") => return flood(),
        Some("lab") => {
            let pcap = PathBuf::from(env(OUT)).join("f.pcap");
            let mut cfg = lab_config(&pcap);
            cfg.caps = Caps {
                max_flows: 8,
                max_pcap_bytes: 64 * 1024,
                max_packet_rate: 1500,
                ..Caps::default()
            };
            let handle = LabNet::start(cfg).expect("starts");
            camera(ME, "camera-flood", &[]);
            std::thread::sleep(Duration::from_millis(300));
            let r = handle.stop();
            println!("{}", serde_json::to_string_pretty(&r.capture).unwrap_or_default());
            assert!(r.capture.malformed >= 100, "{:?}", r.capture);
            assert!(
                r.capture.dropped_rate_cap > 0 || r.capture.dropped_pcap_cap > 0,
                "a cap was reached: {:?}",
                r.capture
            );
            assert!(
                r.flows.len() <= 8 && r.flows_over_cap > 0,
                "{} flows, {} over",
                r.flows.len(),
                r.flows_over_cap
            );
            assert!(std::fs::metadata(&pcap).expect("pcap").len() <= 64 * 1024);
            assert!(
                r.dns.malformed >= 1 && r.dhcp.malformed >= 1,
                "{:?} {:?}",
                r.dns,
                r.dhcp.malformed
            );
            assert!(r.notes.iter().any(|n| n.contains("did not lease")), "{:?}", r.notes);
            assert!(r.notes.iter().any(|n| n.starts_with("cap reached")), "{:?}", r.notes);
            return;
        }
        _ => {}
    }
    let Some(bench) = Bench::create("f") else { return };
    bench.run_lab(ME);
}

/// The camera misbehaves: truncated and inconsistent frames, then garbage to DNS and DHCP,
/// then connection attempts from many ports (flows past the cap).
fn flood() {
    let iface = env(CAM_IF);
    sh(&["ip", "addr", "add", "10.77.0.50/24", "dev", &iface]);
    let ifc = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == iface)
        .expect("iface");
    let Ok(pnet_datalink::Channel::Ethernet(mut tx, _rx)) = pnet_datalink::channel(&ifc, Default::default()) else {
        panic!("packet socket");
    };
    for i in 0..3000u32 {
        let mut frame = vec![0xff; 6];
        frame.extend([2, 0, 0, 0, 0, 0x50, 0x08, 0x00]);
        // An IPv4 header claiming more than is there, or garbage with a bad version.
        if i % 2 == 0 {
            frame.extend([0x45, 0, 0xff, 0xff, 0, 0, 0, 0, 64, 6]);
        } else {
            frame.extend((0..40).map(|b| (b as u8).wrapping_mul(i as u8) | 0x0f));
        }
        let _ = tx.send_to(&frame, None);
    }
    // Past the rate window the flood filled, so the attempts below are examined.
    std::thread::sleep(Duration::from_millis(1100));
    let udp = UdpSocket::bind("10.77.0.50:0").expect("udp");
    let _ = udp.send_to(&[0xff; 40], (LAB, 53));
    let _ = udp.send_to(&[0x01, 0x02], (Ipv4Addr::BROADCAST, 67));
    let _ = udp.set_broadcast(true);
    let _ = udp.send_to(&[0x01, 0x02], (Ipv4Addr::BROADCAST, 67));
    for _ in 0..20 {
        let _ = TcpStream::connect_timeout(&SocketAddr::from((LAB, 7)), Duration::from_millis(300));
    }
}

/// Whether `openssl` can run here; a missing one fails the test when peers are required.
fn openssl_available() -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("HOPQUY_REQUIRE_PEERS").as_deref() != Ok("1"),
            "HOPQUY_REQUIRE_PEERS=1 but `openssl` is not installed"
        );
        eprintln!("skipping the OpenSSL interception test: `openssl` is not installed");
    }
    found
}

/// A camera whose TLS stack is OpenSSL: once verifying the server against the system's
/// authorities (`-verify_return_error`, as firmware that checks its cloud does), once not (the
/// s_client default, as firmware that ignores the verification result), each sending an
/// update check inside.
fn camera_openssl() {
    let ip = camera_dhcp(&env(CAM_IF));
    println!("camera got {ip}");
    let request = "GET /fw/check?sn=HQ123 HTTP/1.1\r\nHost: fw.vendor.example\r\nConnection: close\r\n\r\n";
    for (sni, verify) in [("fw.vendor.example", true), ("cloud.vendor.example", false)] {
        let mut args = vec!["s_client", "-connect", "10.77.0.1:443", "-servername", sni, "-ign_eof"];
        if verify {
            args.extend(["-verify_return_error", "-CApath", "/etc/ssl/certs"]);
        }
        let mut child = Command::new("openssl")
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("openssl s_client starts");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(request.as_bytes());
        }
        // The sinkhole closes once it has read the request; s_client then exits. A hang is
        // bounded by the lab side's wait for this process.
        let out = child.wait_with_output().expect("openssl s_client ends");
        println!(
            "s_client {sni} verify={verify}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn an_openssl_client_is_judged_by_whether_it_verifies_its_server() {
    const ME: &str = "an_openssl_client_is_judged_by_whether_it_verifies_its_server";
    match role().as_deref() {
        Some("camera-openssl") => return camera_openssl(),
        Some("lab") => {
            let handle = LabNet::start(lab_config(&PathBuf::from(env(OUT)).join("o.pcap"))).expect("starts");
            camera(ME, "camera-openssl", &[]);
            std::thread::sleep(Duration::from_millis(300));
            let record = handle.stop();
            let outcome_of = |sni: &str| {
                record
                    .flows
                    .iter()
                    .filter_map(|f| f.interception.as_ref())
                    .find(|i| i.sni.as_deref() == Some(sni))
                    .unwrap_or_else(|| panic!("no answered handshake for {sni}: {:#?}", record.flows))
            };
            let verifying = outcome_of("fw.vendor.example");
            assert_eq!(
                verifying.outcome,
                hopquy_labnet::InterceptionOutcome::Rejected,
                "{verifying:#?}"
            );
            assert_eq!(verifying.alert.as_deref(), Some("unknown_ca"), "{verifying:#?}");
            assert!(
                verifying.inside.is_none(),
                "nothing was sent inside a refused handshake"
            );
            let trusting = outcome_of("cloud.vendor.example");
            assert_eq!(
                trusting.outcome,
                hopquy_labnet::InterceptionOutcome::Accepted,
                "{trusting:#?}"
            );
            let inside = trusting.inside.as_ref().expect("the request inside was read");
            assert_eq!(
                (inside.protocol.as_str(), inside.path.as_deref()),
                ("http", Some("/fw/check?sn=<redacted>"))
            );
            return;
        }
        _ => {}
    }
    if !openssl_available() {
        return;
    }
    let Some(bench) = Bench::create("o") else { return };
    bench.run_lab(ME);
}
