//! The Linux side: interface set-up and undo, the sockets, and the service threads.
//!
//! Capture goes through an AF_PACKET socket bound to the lab interface (pnet_datalink):
//! no system library to build against or match at run time, no C dissector between hostile
//! frames and the process, and the read buffer and poll timeout are ours. libpcap would add
//! BPF filtering and a ring buffer, which a single camera's traffic (capped at
//! `max_packet_rate`) does not need.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pcap_file::pcap::{PcapPacket, PcapWriter};
use sha2::{Digest, Sha256};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::config::{LabNetConfig, Mode};
use crate::dhcp::DhcpServer;
use crate::dns::DnsSinkhole;
use crate::flows::{FlowTable, Seen};
use crate::record::*;
use crate::{LabNetError, Result, inspect, intercept, io_err, safety};

/// How often every service thread looks at the stop flag.
const POLL: Duration = Duration::from_millis(200);
/// Largest frame read: GRO on the host side can hand over up to 64 KiB at once.
const FRAME_BUF: usize = 128 * 1024;
const PCAP_SNAPLEN: usize = 65535;
/// A sinkhole connection is read for this long at most, then closed.
const CONN_READ: Duration = Duration::from_secs(3);
/// What a TLS connection gets on top of [`CONN_READ`].
const TLS_EXTRA: Duration = Duration::from_secs(7);

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

struct State {
    dhcp: DhcpServer,
    dns: DnsSinkhole,
    flows: FlowTable,
    outages: Vec<OutageEvent>,
    capture: CaptureStats,
    sinkhole: SinkholeStats,
    setup: Vec<String>,
    errors: Vec<String>,
    interceptions: Vec<Interception>,
}

struct Shared {
    cfg: LabNetConfig,
    started: String,
    stop: AtomicBool,
    outage: AtomicBool,
    connections: AtomicUsize,
    state: Mutex<State>,
    /// The TLS server the sinkhole answers handshakes with; `None` when it could not be built
    /// (then handshakes are only read, as for any protocol).
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking service thread must not take the record with it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn error(&self, e: String) {
        tracing::warn!(target: "hopquy::labnet", "{e}");
        let mut s = self.state();
        if s.errors.len() < 100 {
            s.errors.push(e);
        }
    }
}

/// What start changed on the host, undone on drop (also when start fails half-way).
struct Undo {
    iface: String,
    address_added: Option<String>,
    forwarding_was: Option<String>,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(addr) = self.address_added.take()
            && let Err(e) = ip(&["addr", "del", &addr, "dev", &self.iface])
        {
            tracing::warn!(target: "hopquy::labnet", "removing {addr} from {}: {e}", self.iface);
        }
        if let Some(v) = self.forwarding_was.take() {
            let _ = std::fs::write(forwarding_path(&self.iface), v);
        }
    }
}

fn forwarding_path(iface: &str) -> PathBuf {
    // The name was validated: no `/`, no `..`.
    PathBuf::from("/proc/sys/net/ipv4/conf").join(iface).join("forwarding")
}

fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("running ip: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

pub struct Running {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    writer: Arc<Mutex<Option<PcapSink>>>,
    undo: Option<Undo>,
    record: Option<LabNetRecord>,
}

struct PcapSink {
    writer: PcapWriter<std::io::BufWriter<std::fs::File>>,
    bytes: u64,
    path: PathBuf,
}

fn setup_err(iface: String) -> impl Fn(String) -> LabNetError {
    move |detail| LabNetError::Setup {
        iface: iface.clone(),
        detail,
    }
}

pub fn start(cfg: LabNetConfig) -> Result<Running> {
    safety::check_host(&cfg)?;
    let lab = cfg.subnet.lab_address();
    let err = setup_err(cfg.iface.clone());

    let file =
        std::fs::File::create(&cfg.pcap_path).map_err(io_err(format!("creating {}", cfg.pcap_path.display())))?;
    let writer = PcapWriter::new(std::io::BufWriter::new(file)).map_err(|e| LabNetError::Pcap {
        path: cfg.pcap_path.clone(),
        detail: e.to_string(),
    })?;
    let sink = PcapSink {
        writer,
        bytes: 24,
        path: cfg.pcap_path.clone(),
    };

    let mut setup = Vec::new();
    let mut undo = Undo {
        iface: cfg.iface.clone(),
        address_added: None,
        forwarding_was: None,
    };
    ip(&["link", "set", "dev", &cfg.iface, "up"]).map_err(&err)?;
    // Opened once the link is up (a packet socket on a down link only reads ENETDOWN), and
    // before the address is added, so the capture holds everything from the first ARP on.
    let iface = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == cfg.iface)
        .ok_or_else(|| LabNetError::NoSuchInterface(cfg.iface.clone()))?;
    let pnet_cfg = pnet_datalink::Config {
        read_buffer_size: FRAME_BUF,
        read_timeout: Some(POLL),
        // A dedicated cable: frames to other MACs (a camera with a hard-coded gateway MAC)
        // are the camera's too.
        promiscuous: true,
        ..Default::default()
    };
    let rx = match pnet_datalink::channel(&iface, pnet_cfg) {
        Ok(pnet_datalink::Channel::Ethernet(_tx, rx)) => rx,
        Ok(_) => return Err(err("not an Ethernet interface".into())),
        Err(e) => return Err(err(format!("opening the packet socket: {e}"))),
    };

    let cidr = format!("{lab}/{}", cfg.subnet.prefix);
    let addrs = ip(&["-o", "-4", "addr", "show", "dev", &cfg.iface]).map_err(&err)?;
    if addrs.split_whitespace().any(|w| w == cidr) {
        setup.push(format!("{cidr} was already on {}", cfg.iface));
    } else {
        ip(&["addr", "add", &cidr, "dev", &cfg.iface]).map_err(&err)?;
        undo.address_added = Some(cidr.clone());
        setup.push(format!("added {cidr} to {}", cfg.iface));
    }
    if cfg.mode == Mode::Sinkhole {
        let path = forwarding_path(&cfg.iface);
        let was = std::fs::read_to_string(&path).map_err(io_err(format!("reading {}", path.display())))?;
        std::fs::write(&path, "0").map_err(io_err(format!("writing {}", path.display())))?;
        setup.push(format!(
            "IPv4 forwarding off for packets arriving on {} (was {})",
            cfg.iface,
            was.trim()
        ));
        undo.forwarding_was = Some(was);
    }

    let dhcp_sock = udp_socket(&cfg.iface, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 67), true).map_err(&err)?;
    let dns_sock = udp_socket(&cfg.iface, SocketAddrV4::new(lab, 53), false).map_err(&err)?;
    let mut listeners = Vec::new();
    for &port in &cfg.sinkhole_ports {
        let l = TcpListener::bind(SocketAddrV4::new(lab, port))
            .map_err(|e| err(format!("listening on {lab}:{port}: {e}")))?;
        l.set_nonblocking(true).map_err(|e| err(e.to_string()))?;
        listeners.push((port, l));
    }
    setup.push(format!(
        "serving DHCP on {}:67, DNS on {lab}:53, TCP on {lab} ports {:?}",
        cfg.iface, cfg.sinkhole_ports
    ));
    let tls = if cfg.mode == Mode::Sinkhole {
        match intercept::server_config() {
            Ok(config) => {
                setup.push(
                    "TLS handshakes to the sinkhole answered with a certificate for the name asked, from an authority made up for this run (no camera can trust it)".into(),
                );
                Some(config)
            }
            Err(e) => {
                setup.push(format!("TLS handshakes only read, not answered: {e}"));
                None
            }
        }
    } else {
        None
    };

    let caps = cfg.caps.clone();
    let shared = Arc::new(Shared {
        started: now(),
        stop: AtomicBool::new(false),
        outage: AtomicBool::new(false),
        connections: AtomicUsize::new(0),
        state: Mutex::new(State {
            dhcp: DhcpServer::new(cfg.subnet, cfg.lease_secs, caps.max_dhcp_records),
            dns: DnsSinkhole::new(lab, caps.max_dns_records),
            flows: FlowTable::new(lab, caps.max_flows),
            outages: vec![],
            capture: CaptureStats::default(),
            sinkhole: SinkholeStats::default(),
            setup,
            errors: vec![],
            interceptions: vec![],
        }),
        tls,
        cfg,
    });
    let writer = Arc::new(Mutex::new(Some(sink)));
    let spawn =
        |name: &str, f: Box<dyn FnOnce() + Send>| std::thread::Builder::new().name(format!("labnet-{name}")).spawn(f);
    let mut threads = Vec::new();
    let spawned = (|| -> std::io::Result<()> {
        let (s, w) = (shared.clone(), writer.clone());
        threads.push(spawn("capture", Box::new(move || capture_loop(&s, rx, &w)))?);
        let s = shared.clone();
        threads.push(spawn("dhcp", Box::new(move || dhcp_loop(&s, &dhcp_sock)))?);
        let s = shared.clone();
        threads.push(spawn("dns", Box::new(move || dns_loop(&s, &dns_sock)))?);
        let s = shared.clone();
        threads.push(spawn("sinkhole", Box::new(move || sinkhole_loop(&s, &listeners)))?);
        Ok(())
    })();
    let mut running = Running {
        shared,
        threads,
        writer,
        undo: Some(undo),
        record: None,
    };
    if let Err(e) = spawned {
        running.shutdown();
        return Err(io_err("starting the lab network threads")(e));
    }
    tracing::info!(target: "hopquy::labnet", iface = %running.shared.cfg.iface, "lab network up");
    Ok(running)
}

fn udp_socket(iface: &str, addr: SocketAddrV4, broadcast: bool) -> Result<UdpSocket, String> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(|e| e.to_string())?;
    // Bound to the lab interface: a DHCP server must never answer on another one.
    s.bind_device(Some(iface.as_bytes()))
        .map_err(|e| format!("binding to device {iface}: {e}"))?;
    s.set_reuse_address(true).map_err(|e| e.to_string())?;
    if broadcast {
        s.set_broadcast(true).map_err(|e| e.to_string())?;
    }
    s.bind(&SocketAddr::V4(addr).into())
        .map_err(|e| format!("binding {addr}: {e}"))?;
    s.set_read_timeout(Some(POLL)).map_err(|e| e.to_string())?;
    Ok(s.into())
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
    )
}

fn capture_loop(shared: &Shared, mut rx: Box<dyn pnet_datalink::DataLinkReceiver>, writer: &Mutex<Option<PcapSink>>) {
    let caps = &shared.cfg.caps;
    let mut window = Instant::now();
    let mut in_window = 0u32;
    let mut copy = Vec::with_capacity(PCAP_SNAPLEN);
    while !shared.stop.load(Ordering::Relaxed) {
        let frame = match rx.next() {
            Ok(f) => f,
            Err(e) if timed_out(&e) => continue,
            Err(e) => {
                let mut s = shared.state();
                s.capture.read_errors += 1;
                if s.capture.read_errors == 1 {
                    s.errors.push(format!("capture read: {e}"));
                }
                drop(s);
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        let mut s = shared.state();
        s.capture.frames_seen += 1;
        s.capture.bytes_seen += frame.len() as u64;
        if window.elapsed() >= Duration::from_secs(1) {
            window = Instant::now();
            in_window = 0;
        }
        in_window += 1;
        if in_window > caps.max_packet_rate {
            s.capture.dropped_rate_cap += 1;
            continue;
        }
        let time = now();
        let seen = s.flows.observe(frame, &time);
        let (tcp_payload, secret) = match seen {
            Seen::Ip { tcp_payload, secret } => (tcp_payload, secret),
            Seen::NonIp => {
                s.capture.non_ip += 1;
                (None, None)
            }
            Seen::Malformed => {
                s.capture.malformed += 1;
                (None, None)
            }
        };
        let kept = frame.len().min(PCAP_SNAPLEN);
        let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
        let Some(sink) = w.as_mut() else { continue };
        if sink.bytes + 16 + kept as u64 > caps.max_pcap_bytes {
            s.capture.dropped_pcap_cap += 1;
            continue;
        }
        copy.clear();
        copy.extend_from_slice(&frame[..kept]);
        if let Some(r) = tcp_payload
            && r.end <= copy.len()
        {
            s.capture.pcap_bytes_redacted += inspect::mask_credentials(&mut copy[r]);
        }
        if let Some(r) = secret
            && r.end <= copy.len()
        {
            s.capture.pcap_bytes_redacted += inspect::mask(&mut copy[r]);
        }
        let ts = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let orig = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        match sink.writer.write_packet(&PcapPacket::new(ts, orig, &copy)) {
            Ok(_) => {
                sink.bytes += 16 + kept as u64;
                s.capture.frames_written += 1;
            }
            Err(e) => {
                s.errors
                    .push(format!("writing {}: {e}; capture stopped", sink.path.display()));
                *w = None;
            }
        }
    }
}

fn dhcp_loop(shared: &Shared, sock: &UdpSocket) {
    let mut buf = [0u8; 2048];
    let broadcast = SocketAddrV4::new(Ipv4Addr::BROADCAST, 68);
    while !shared.stop.load(Ordering::Relaxed) {
        let n = match sock.recv_from(&mut buf) {
            Ok((n, _)) => n,
            Err(e) if timed_out(&e) => continue,
            Err(e) => {
                shared.error(format!("dhcp receive: {e}"));
                std::thread::sleep(POLL);
                continue;
            }
        };
        let reply = shared.state().dhcp.handle(&buf[..n], &now());
        // Replies are broadcast: the client has no address yet, and the socket is bound to
        // the lab interface, so the broadcast leaves there alone.
        if let Some(reply) = reply
            && let Err(e) = sock.send_to(&reply, broadcast)
        {
            shared.error(format!("dhcp send: {e}"));
        }
    }
}

fn dns_loop(shared: &Shared, sock: &UdpSocket) {
    let mut buf = [0u8; 1500];
    while !shared.stop.load(Ordering::Relaxed) {
        let (n, peer) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if timed_out(&e) => continue,
            Err(e) => {
                shared.error(format!("dns receive: {e}"));
                std::thread::sleep(POLL);
                continue;
            }
        };
        let outage = shared.outage.load(Ordering::Relaxed);
        let reply = shared.state().dns.handle(&buf[..n], peer, outage, &now());
        if let Some(reply) = reply
            && let Err(e) = sock.send_to(&reply, peer)
        {
            shared.error(format!("dns send: {e}"));
        }
    }
}

fn reset(stream: &TcpStream) {
    // SO_LINGER 0: close sends RST, so the camera sees a refusal, not a silent hang.
    let _ = SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

fn sinkhole_loop(shared: &Arc<Shared>, listeners: &[(u16, TcpListener)]) {
    let max = shared.cfg.caps.max_connections;
    while !shared.stop.load(Ordering::Relaxed) {
        let mut idle = true;
        for (_, l) in listeners {
            let (stream, _) = match l.accept() {
                Ok(x) => x,
                Err(e) if timed_out(&e) => continue,
                Err(e) => {
                    shared.error(format!("sinkhole accept: {e}"));
                    continue;
                }
            };
            idle = false;
            if shared.outage.load(Ordering::Relaxed) {
                reset(&stream);
                shared.state().sinkhole.reset_during_outage += 1;
                continue;
            }
            if shared.connections.fetch_add(1, Ordering::SeqCst) >= max {
                shared.connections.fetch_sub(1, Ordering::SeqCst);
                reset(&stream);
                shared.state().sinkhole.reset_over_cap += 1;
                continue;
            }
            shared.state().sinkhole.accepted += 1;
            let s = shared.clone();
            let spawned = std::thread::Builder::new().name("labnet-conn".into()).spawn(move || {
                read_first_bytes(&s, stream);
                s.connections.fetch_sub(1, Ordering::SeqCst);
            });
            if spawned.is_err() {
                shared.connections.fetch_sub(1, Ordering::SeqCst);
            }
        }
        if idle {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Reads what the camera sends first (ClientHello, request line…) so the capture holds it;
/// the bytes themselves are analysed from the capture, not here. A TLS handshake is answered
/// instead ([`intercept`]), so the record can say whether the camera authenticates its
/// server. Bounded in size and time.
fn read_first_bytes(shared: &Shared, mut stream: TcpStream) {
    let deadline = Instant::now() + CONN_READ;
    let _ = stream.set_nonblocking(false);
    if let Some(config) = &shared.tls {
        let mut first = [0u8; 2];
        let _ = stream.set_read_timeout(Some(POLL));
        let peeked = loop {
            match stream.peek(&mut first) {
                Ok(n) if n >= first.len() => break true,
                Ok(0) => break false,
                Ok(_) => {}
                Err(e) if timed_out(&e) => {}
                Err(_) => break false,
            }
            if Instant::now() >= deadline || shared.stop.load(Ordering::Relaxed) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if peeked && intercept::looks_like_tls(&first) {
            // A handshake, key exchange and a first request take longer than reading a
            // request line, on a camera's slow CPU more so.
            serve_handshake(shared, config, stream, deadline + TLS_EXTRA);
            return;
        }
    }
    let mut buf = [0u8; inspect::INSPECT_BYTES];
    let mut total = 0;
    while total < buf.len() && Instant::now() < deadline && !shared.stop.load(Ordering::Relaxed) {
        let _ = stream.set_read_timeout(Some(POLL));
        match stream.read(&mut buf[total..]) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if timed_out(&e) => {
                if total > 0 {
                    break;
                }
            }
            Err(_) => break,
        }
        if shared.outage.load(Ordering::Relaxed) {
            reset(&stream);
            return;
        }
    }
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn serve_handshake(shared: &Shared, config: &Arc<rustls::ServerConfig>, mut stream: TcpStream, deadline: Instant) {
    let time = now();
    let client = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let server_port = stream.local_addr().map(|a| a.port()).unwrap_or(0);
    let served = intercept::intercept(config, &mut stream, deadline, &shared.stop);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let seen = intercept::record(time, client, server_port, served);
    let mut state = shared.state();
    state.sinkhole.tls_intercepted += 1;
    if state.interceptions.len() < shared.cfg.caps.max_flows {
        state.interceptions.push(seen);
    } else {
        state.sinkhole.tls_intercepted_over_cap += 1;
    }
}

impl Running {
    pub fn set_outage(&self, cut: bool) {
        let was = self.shared.outage.swap(cut, Ordering::SeqCst);
        if was == cut {
            return;
        }
        let effect = match (&self.shared.cfg.mode, cut) {
            (Mode::Sinkhole, true) => {
                "sinkhole: DNS questions unanswered, TCP connections to the listeners reset (RST); DHCP still served (local link)"
            }
            (Mode::Sinkhole, false) => "sinkhole: DNS answered and TCP accepted again",
            (Mode::Route { .. }, _) => "route mode",
        };
        tracing::info!(target: "hopquy::labnet", cut, "uplink {}", if cut { "cut" } else { "restored" });
        self.shared.state().outages.push(OutageEvent {
            time: now(),
            event: if cut { "cut" } else { "restore" }.into(),
            effect: effect.into(),
        });
    }

    pub fn snapshot(&self) -> LabNetRecord {
        if let Some(r) = &self.record {
            return r.clone();
        }
        build_record(&self.shared, None, None)
    }

    fn shutdown(&mut self) -> Option<PcapInfo> {
        self.shared.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                self.shared.error("a lab network thread panicked".into());
            }
        }
        // Connection threads notice the stop flag within one poll.
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.shared.connections.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.undo.take();
        let sink = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take()?;
        let path = sink.path.clone();
        let mut inner = sink.writer.into_writer();
        if let Err(e) = inner.flush() {
            self.shared.error(format!("flushing {}: {e}", path.display()));
        }
        drop(inner);
        match hash_file(&path) {
            Ok((bytes, sha256)) => Some(PcapInfo {
                path: path.display().to_string(),
                bytes,
                sha256,
            }),
            Err(e) => {
                self.shared.error(format!("hashing {}: {e}", path.display()));
                None
            }
        }
    }

    pub fn stop(mut self) -> LabNetRecord {
        let pcap = self.shutdown();
        let record = build_record(&self.shared, pcap, Some(now()));
        self.record = Some(record.clone());
        record
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.record.is_none() {
            let _ = self.shutdown();
        }
    }
}

fn hash_file(path: &std::path::Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        h.update(&buf[..n]);
    }
    Ok((bytes, hex::encode(h.finalize())))
}

/// Each interception onto its flow (same camera `ip:port`, same hopquy port); the
/// negotiated values the capture shows are then hopquy's, not the real service's.
fn attach_interceptions(flows: &mut [Flow], interceptions: &[Interception]) {
    let by_client: std::collections::HashMap<(&str, u16), &Interception> = interceptions
        .iter()
        .map(|i| ((i.client.as_str(), i.server_port), i))
        .collect();
    for flow in flows.iter_mut() {
        let port = flow.server.parse::<SocketAddr>().map(|a| a.port()).unwrap_or(0);
        if let Some(seen) = by_client.get(&(flow.client.as_str(), port)) {
            let mut seen = (*seen).clone();
            // A hello hopquy's TLS server refused early has no name there; the capture's has.
            if seen.sni.is_none() {
                seen.sni = flow.tls.as_ref().and_then(|t| t.sni.clone());
            }
            flow.interception = Some(seen);
            if let Some(tls) = &mut flow.tls {
                tls.note = Some(if tls.negotiated_version.is_some() {
                    "handshake answered by the sinkhole's interception: the negotiated values are hopquy's TLS server's, not the real service's".into()
                } else {
                    "handshake answered by the sinkhole's interception, which negotiated nothing (see `interception`)"
                        .into()
                });
            }
        }
    }
}

fn build_record(shared: &Shared, pcap: Option<PcapInfo>, stopped: Option<String>) -> LabNetRecord {
    let cfg = &shared.cfg;
    let s = shared.state();
    let sinkhole = cfg.mode == Mode::Sinkhole;
    let mut flows = s.flows.flows(&cfg.sinkhole_ports, sinkhole);
    attach_interceptions(&mut flows, &s.interceptions);
    let mut dhcp = s.dhcp.record.clone();
    dhcp.leases = s.dhcp.leases();
    let mut notes = Vec::new();
    if dhcp.exchanges.is_empty() && dhcp.exchanges_over_cap == 0 {
        notes.push("no DHCP message was seen: the camera never asked for an address".to_string());
    }
    let leased: Vec<String> = dhcp.leases.iter().map(|l| l.ip.clone()).collect();
    let lab = IpAddr::V4(cfg.subnet.lab_address());
    let unleased: Vec<String> = s
        .flows
        .clients()
        .into_iter()
        .filter(|ip| *ip != lab && !ip.is_unspecified() && !leased.contains(&ip.to_string()))
        .filter(|ip| !matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80))
        .map(|ip| ip.to_string())
        .collect();
    if !unleased.is_empty() {
        notes.push(format!(
            "traffic from addresses hopquy did not lease (static configuration?): {}",
            unleased.join(", ")
        ));
    }
    if s.capture.frames_seen == 0 {
        notes.push(format!("no frame was captured on {}", cfg.iface));
    }
    for (n, what) in [
        (s.flows.over_cap, "flows over max_flows"),
        (s.capture.dropped_rate_cap, "frames over max_packet_rate"),
        (s.capture.dropped_pcap_cap, "frames past max_pcap_bytes"),
        (s.dns.record.questions_over_cap, "DNS questions over max_dns_records"),
        (dhcp.exchanges_over_cap, "DHCP messages over max_dhcp_records"),
    ] {
        if n > 0 {
            notes.push(format!("cap reached: {n} {what} (counted, not recorded)"));
        }
    }
    LabNetRecord {
        schema_version: RECORD_SCHEMA_VERSION,
        iface: cfg.iface.clone(),
        mode: cfg.mode.clone(),
        subnet: cfg.subnet.to_string(),
        lab_address: cfg.subnet.lab_address().to_string(),
        started: shared.started.clone(),
        stopped,
        caps: cfg.caps.clone(),
        sinkhole_ports: cfg.sinkhole_ports.clone(),
        setup: s.setup.clone(),
        errors: s.errors.clone(),
        dhcp,
        dns: s.dns.record.clone(),
        flows,
        flows_over_cap: s.flows.over_cap,
        outages: s.outages.clone(),
        sinkhole: s.sinkhole.clone(),
        capture: s.capture.clone(),
        pcap,
        notes,
    }
}
