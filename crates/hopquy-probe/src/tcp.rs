//! TCP port probe: which ports accept a connection, and what the service on each says.
//!
//! Closed and filtered ports are only counted; one exchange is recorded per *open* port
//! (its banner grab), so a full 1–65535 sweep leaves a handful of records, not 65535.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::exchange::{self, Capture, Exchange, Payload, Recorder};
use crate::{Device, ProbeError};

pub mod sweep;

/// How long a server-first protocol (SSH, Telnet, FTP on their well-known ports) gets to
/// speak; such servers greet at once, so the wait ends as soon as the banner is complete.
const SERVER_FIRST_WAIT: Duration = Duration::from_millis(1500);
/// Elsewhere, how long a port gets to speak first before we send its protocol probe: this
/// many round trips, within the floor and the cap. Most camera services (HTTP, RTSP, TLS,
/// vendor SDKs) wait for the client, so a long wait here costs every silent port.
const SPEAK_RTTS: u32 = 8;
const SPEAK_FLOOR: Duration = Duration::from_millis(100);
const SPEAK_CAP: Duration = Duration::from_secs(1);
/// How long the answer to a probe may take. A probe chosen by the well-known service table
/// gets the cap (the answer ends the wait, so an answering server costs its own pace);
/// the probes tried in turn on an unknown port get round trips within floor and cap, so a
/// port that answers none of them does not hold the grab for three full caps.
const ANSWER_RTTS: u32 = 16;
const ANSWER_FLOOR: Duration = Duration::from_millis(200);
const ANSWER_CAP: Duration = Duration::from_secs(2);
/// Once bytes flow and the answer is not recognisably complete, how long a pause ends it.
const GAP_FLOOR: Duration = Duration::from_millis(50);
const BANNER_GAP: Duration = Duration::from_millis(200);
const BANNER_MAX_BYTES: usize = 4096;
const BANNER_MAX_CHARS: usize = 256;
/// Floor of the sweep's connect timeout adapted to the round trip (nmap's floor is 100 ms
/// too); the retry pass catches what it cuts short.
const CONNECT_TIMEOUT_FLOOR: Duration = Duration::from_millis(100);
/// While the sweep runs, banner grabs get this share of the connection cap (1/8, at most
/// 16 connections): a camera has a handful of open ports, and the sweep keeps the rest.
const GRAB_SHARE_DIVISOR: usize = 8;
const GRAB_SHARE_MAX: usize = 16;

const HTTP_NUDGE: &[u8] = b"HEAD / HTTP/1.0\r\n\r\n";
const RTSP_NUDGE: &[u8] = b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n";
/// Suites of the TLS probe's ClientHello (TLS 1.2): what current and older camera stacks
/// pick, so the server answers with a ServerHello rather than a refusal.
const TLS_PROBE_SUITES: &[u16] = &[
    0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc009, 0xc013, 0xc00a, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
    0x000a,
];

/// What we send to a port that stayed silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Rtsp,
    Http,
    Tls,
}

impl Probe {
    fn name(self) -> &'static str {
        match self {
            Probe::Rtsp => "rtsp-options",
            Probe::Http => "http-head",
            Probe::Tls => "tls-client-hello",
        }
    }

    fn bytes(self) -> Vec<u8> {
        match self {
            Probe::Rtsp => RTSP_NUDGE.to_vec(),
            Probe::Http => HTTP_NUDGE.to_vec(),
            Probe::Tls => crate::tls::wire::client_hello(
                crate::tls::TlsVersion::Tls12,
                TLS_PROBE_SUITES,
                None,
                &crate::tls::wire::HelloRandom::fresh(),
            ),
        }
    }
}

/// Unknown ports: an HTTP line first (most hide a web interface, and RTSP servers answer it
/// with an RTSP status line), then RTSP, then a ClientHello (a TLS server drops the
/// connection on plain text, so it needs its own).
const UNKNOWN_PORT_PROBES: &[Probe] = &[Probe::Http, Probe::Rtsp, Probe::Tls];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenPort {
    pub port: u16,
    /// Guessed from what the service said, else from the well-known port table.
    pub service: Option<String>,
    /// What the service said first, or its answer to our probe: printable ASCII with other
    /// bytes as `\xNN`, at most 256 chars.
    pub banner: Option<String>,
    /// The probe whose answer is the banner (`rtsp-options`, `http-head`,
    /// `tls-client-hello`); `None` when the service spoke first or answered nothing.
    #[serde(default)]
    pub probe: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PortScan {
    /// Sorted by port.
    pub open: Vec<OpenPort>,
    /// Actively refused (RST).
    pub closed_count: usize,
    /// No answer within the connect timeout, or an ICMP unreachable.
    pub filtered_count: usize,
    /// Ports whose probe failed on our side (e.g. out of local sockets); neither open nor closed.
    #[serde(default)]
    pub failed_count: usize,
    pub elapsed_ms: u64,
    /// The sweep's smoothed connect round trip in microseconds, when any port answered.
    #[serde(default)]
    pub rtt_us: Option<u64>,
    /// Connect timeout of the sweep's first pass, adapted to the round trip (at least the
    /// floor, at most the full timeout).
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    /// Ports that first pass timed out and the retry pass tried again.
    #[serde(default)]
    pub retried_count: usize,
    /// Connect timeout of the retry pass: the full one, unless the device dropped SYNs to so
    /// many ports that a full retry would cost minutes (then the adaptive one again).
    #[serde(default)]
    pub retry_timeout_ms: Option<u64>,
    /// Ports found open only by the retry pass (slow to accept).
    #[serde(default)]
    pub open_on_retry_count: usize,
}

impl PortScan {
    /// Observation JSON for the `ports` probe contract (`open` sorted, each with `port`,
    /// `service`, `banner`), plus the counts.
    pub fn observations(&self) -> serde_json::Value {
        serde_json::json!({
            "open": self.open,
            "closed_count": self.closed_count,
            "filtered_count": self.filtered_count,
            "failed_count": self.failed_count,
            "elapsed_ms": self.elapsed_ms,
            "rtt_us": self.rtt_us,
            "connect_timeout_ms": self.connect_timeout_ms,
            "retried_count": self.retried_count,
            "retry_timeout_ms": self.retry_timeout_ms,
            "open_on_retry_count": self.open_on_retry_count,
        })
    }
}

enum PortState {
    Open(OpenPort),
    Closed,
    Filtered,
    Failed,
}

/// Connect to each port and grab a banner from the open ones, holding a device permit for
/// the whole connection. At most `concurrency` ports are in flight, and never more
/// connections than the device's cap.
pub async fn scan(device: &Device, ports: &[u16], concurrency: usize, rec: &Recorder) -> Result<PortScan, ProbeError> {
    let begun = Instant::now();
    let ip = resolve_once(device, ports).await?;
    let states: Vec<(u16, PortState)> = futures::stream::iter(ports.iter().copied())
        .map(|port| async move {
            let state = match connect(device, ip, port).await {
                Ok(conn) => PortState::Open(grab(device, ip, port, Some(conn), None, rec).await),
                Err(state) => state,
            };
            (port, state)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    Ok(tally(states, begun))
}

/// Like [`scan`], but the open ports are found first by a connect-only sweep (see
/// [`sweep`]) at most `concurrency` sockets wide, and never wider than the device's cap,
/// with connect timeouts adapted to the measured round trip and a retry of what timed out;
/// the open ports then get their banner grabs, concurrently within the device's cap. Fast
/// enough for a full 1–65535 sweep.
pub async fn connect_scan(
    device: &Device,
    ports: &[u16],
    concurrency: usize,
    rec: &Recorder,
) -> Result<PortScan, ProbeError> {
    let begun = Instant::now();
    let ip = resolve_once(device, ports).await?;
    let concurrency = concurrency.max(1);
    let cap = concurrency.min(device.limits().max_connections.max(1));
    // Banner grabs start while the sweep goes on, on a reserved share of the cap, so the
    // sweep's sockets plus the grabs' connections never exceed it; once the sweep is done,
    // the grabs get the whole cap. A rate-limited device (one global gap, which the sweep
    // thread and the grabs' permits would each keep on their own) or a cap of one: grabs
    // after the sweep.
    let overlap = cap >= 2 && device.limits().min_connect_gap.is_zero();
    let reserved = if overlap {
        (cap / GRAB_SHARE_DIVISOR).clamp(1, GRAB_SHARE_MAX)
    } else {
        0
    };
    let pace = sweep::SweepPace {
        width: cap - reserved,
        connect_timeout: device.limits().connect_timeout,
        min_gap: device.limits().min_connect_gap,
        adaptive_floor: Some(CONNECT_TIMEOUT_FLOOR),
    };
    let (cancel, stop) = sweep::cancel_pair();
    // Well-known camera ports first: they are the likeliest to answer, so the round trip is
    // measured (and the timeout adapted) before a device that drops SYNs to closed ports
    // has held the first wave of sockets for the full timeout.
    let mut list: Vec<u16> = ports
        .iter()
        .copied()
        .filter(|p| well_known_service(*p).is_some())
        .collect();
    list.extend(ports.iter().copied().filter(|p| well_known_service(*p).is_none()));
    let (found_tx, found_rx) = tokio::sync::mpsc::unbounded_channel::<u16>();
    let sweeping = tokio::task::spawn_blocking(move || {
        // Dropped with the closure when the sweep ends, which ends the grabs' stream.
        let found_tx = found_tx;
        let announce = |port: u16| {
            if overlap {
                let _ = found_tx.send(port);
            }
        };
        sweep::adaptive_sweep(ip, &list, pace, sweep::default_threads(), &stop, &announce)
    });
    let grab_slots = tokio::sync::Semaphore::new(reserved.max(1));
    let grab_slots = &grab_slots;
    // The receiver is moved into the stream (not borrowed): a borrowed one makes the future
    // non-`Send`-general, and callers spawn the scan.
    let grabbing = futures::stream::unfold(found_rx, |mut rx| async move { rx.recv().await.map(|p| (p, rx)) })
        .map(|port| async move {
            let _slot = grab_slots.acquire().await.ok();
            (port, PortState::Open(grab(device, ip, port, None, None, rec).await))
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<(u16, PortState)>>();
    let sweeping = async {
        let swept = sweeping.await;
        grab_slots.add_permits(cap.saturating_sub(reserved.max(1)));
        swept
    };
    let (swept, mut grabbed) = tokio::join!(sweeping, grabbing);
    let swept = swept
        .map_err(|e| ProbeError::Local(format!("port sweep thread: {e}")))?
        .map_err(|e| ProbeError::Local(format!("port sweep: {e}")))?;
    drop(cancel);
    let rtt = swept.rtt;
    let mut states = Vec::with_capacity(swept.ports.len());
    let mut open_ports = Vec::new();
    for (port, state) in swept.ports {
        match state {
            sweep::Swept::Open => open_ports.push(port),
            sweep::Swept::Closed => states.push((port, PortState::Closed)),
            sweep::Swept::Filtered | sweep::Swept::TimedOut => states.push((port, PortState::Filtered)),
            sweep::Swept::Failed => states.push((port, PortState::Failed)),
        }
    }
    if !overlap {
        grabbed = futures::stream::iter(open_ports)
            .map(|port| async move { (port, PortState::Open(grab(device, ip, port, None, rtt, rec).await)) })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    }
    states.extend(grabbed);
    let mut scan = tally(states, begun);
    scan.rtt_us = swept.rtt.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    scan.connect_timeout_ms = Some(millis(swept.sweep_timeout));
    scan.retried_count = swept.retried;
    scan.retry_timeout_ms = swept.retry_timeout.map(millis);
    scan.open_on_retry_count = swept.open_on_retry;
    Ok(scan)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn tally(states: Vec<(u16, PortState)>, begun: Instant) -> PortScan {
    let mut scan = PortScan::default();
    for (_, state) in states {
        match state {
            PortState::Open(o) => scan.open.push(o),
            PortState::Closed => scan.closed_count += 1,
            PortState::Filtered => scan.filtered_count += 1,
            PortState::Failed => scan.failed_count += 1,
        }
    }
    scan.open.sort_by_key(|o| o.port);
    scan.elapsed_ms = millis(begun.elapsed());
    scan
}

/// Resolve the host once: a sweep must not cost one DNS lookup per port.
async fn resolve_once(device: &Device, ports: &[u16]) -> Result<IpAddr, ProbeError> {
    let port = ports.first().copied().unwrap_or(1);
    Ok(device.resolve(port).await?.ip())
}

/// An open connection, the permit it holds, and how long its handshake took.
type Connection = (TcpStream, crate::Permit, Duration);

async fn connect(device: &Device, ip: IpAddr, port: u16) -> Result<Connection, PortState> {
    let permit = device.permit().await;
    let addr = SocketAddr::new(ip, port);
    let begun = Instant::now();
    match tokio::time::timeout(device.limits().connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            // TCP simultaneous open: sweeping the ephemeral range of a local address, the
            // kernel can pick the destination port as the source port and the socket
            // "connects" to itself. Nothing listens there: the port is closed.
            if is_self_connect(&stream) {
                return Err(PortState::Closed);
            }
            let _ = stream.set_nodelay(true);
            Ok((stream, permit, begun.elapsed()))
        }
        Ok(Err(e)) => {
            use std::io::ErrorKind as K;
            Err(match e.kind() {
                K::ConnectionRefused => PortState::Closed,
                K::TimedOut | K::HostUnreachable | K::NetworkUnreachable => PortState::Filtered,
                _ => {
                    tracing::debug!(%addr, error = %e, "port probe failed locally");
                    PortState::Failed
                }
            })
        }
        Err(_) => Err(PortState::Filtered),
    }
}

fn is_self_connect(stream: &TcpStream) -> bool {
    matches!((stream.local_addr(), stream.peer_addr()), (Ok(local), Ok(peer)) if local == peer)
}

/// What one read phase collected.
#[derive(Default)]
struct Collected {
    bytes: Vec<u8>,
    transferred: usize,
    truncated: bool,
    closed: bool,
    error: Option<String>,
}

/// How long each phase of one port's grab may take, scaled to its round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GrabTiming {
    speak: Duration,
    answer: Duration,
    gap: Duration,
}

impl GrabTiming {
    /// `connect` is this port's own handshake time, `rtt` the sweep's; the slower counts
    /// (a busy service accepts late, and a loaded host answers late).
    fn for_port(port: u16, connect: Duration, rtt: Option<Duration>) -> GrabTiming {
        let rt = rtt.map_or(connect, |r| r.max(connect));
        let scaled = |rtts: u32, floor: Duration, cap: Duration| rt.saturating_mul(rtts).max(floor).min(cap);
        let known = well_known_service(port).is_some();
        GrabTiming {
            speak: if is_server_first(port) {
                SERVER_FIRST_WAIT
            } else {
                scaled(SPEAK_RTTS, SPEAK_FLOOR, SPEAK_CAP)
            },
            answer: if known {
                ANSWER_CAP
            } else {
                scaled(ANSWER_RTTS, ANSWER_FLOOR, ANSWER_CAP)
            },
            gap: scaled(4, GAP_FLOOR, BANNER_GAP),
        }
    }
}

fn is_server_first(port: u16) -> bool {
    matches!(well_known_service(port), Some("ssh" | "telnet" | "ftp"))
}

/// Read until `first_wait` passes with no data, the answer is complete, a `gap` pause
/// after data, `first_wait + more` in all, the byte bound, EOF or an error.
async fn collect(stream: &mut TcpStream, into: &mut Collected, first_wait: Duration, more: Duration, gap: Duration) {
    let begun = Instant::now();
    let hard_deadline = begun + first_wait + more;
    let mut chunk = [0u8; 1024];
    loop {
        let limit = if into.bytes.is_empty() {
            begun + first_wait
        } else {
            (Instant::now() + gap).min(hard_deadline)
        };
        match tokio::time::timeout_at(limit, stream.read(&mut chunk)).await {
            Err(_) => return,
            Ok(Ok(0)) => {
                into.closed = true;
                return;
            }
            Ok(Ok(n)) => {
                into.transferred += n;
                let room = BANNER_MAX_BYTES.saturating_sub(into.bytes.len());
                into.bytes.extend_from_slice(&chunk[..n.min(room)]);
                if n >= room {
                    into.truncated = true;
                    return;
                }
                if answer_complete(&into.bytes) {
                    return;
                }
            }
            Ok(Err(e)) => {
                into.error = Some(e.to_string());
                return;
            }
        }
    }
}

/// Whether `bytes` already hold all a banner needs, so the grab need not wait for a pause:
/// an SSH identification line, an HTTP or RTSP status line and headers, a whole TLS record.
fn answer_complete(bytes: &[u8]) -> bool {
    if bytes.starts_with(b"SSH-") {
        return bytes.contains(&b'\n');
    }
    if bytes.starts_with(b"HTTP/") || bytes.starts_with(b"RTSP/") {
        return bytes.windows(4).any(|w| w == b"\r\n\r\n");
    }
    if let [0x15 | 0x16, 0x03, _, hi, lo, ..] = bytes {
        return bytes.len() >= 5 + usize::from(u16::from_be_bytes([*hi, *lo]));
    }
    false
}

/// Banner grab of one open port; records one exchange (of the connection whose bytes
/// became the banner). Waits briefly for the server to speak; when it stays silent, sends
/// the port's protocol probes in turn, each on a fresh connection after the first (a
/// server that did not understand one probe has usually hung up). `first` is a connection
/// already open, else the grab opens its own.
async fn grab(
    device: &Device,
    ip: IpAddr,
    port: u16,
    first: Option<Connection>,
    rtt: Option<Duration>,
    rec: &Recorder,
) -> OpenPort {
    let started = exchange::now();
    let guess = well_known_service(port);
    let first = match first {
        Some(conn) => conn,
        None => match connect(device, ip, port).await {
            Ok(conn) => conn,
            Err(_) => {
                // It accepted a moment ago; it stays open, and the failed grab is evidence.
                rec.record(Exchange {
                    protocol: "tcp".into(),
                    peer: device.authority(port),
                    started,
                    finished: exchange::now(),
                    capture: Capture::Wire,
                    label: format!("tcp {port}: banner grab"),
                    sent: None,
                    received: None,
                    error: Some("port accepted during the sweep but not for the banner grab".into()),
                });
                return OpenPort {
                    port,
                    service: guess.map(str::to_owned),
                    banner: None,
                    probe: None,
                };
            }
        },
    };
    let (stream, permit, connect_time) = first;
    let timing = GrabTiming::for_port(port, connect_time, rtt);
    let mut conn = Some((stream, permit));
    let mut got = Collected::default();
    if let Some((stream, _)) = conn.as_mut() {
        collect(stream, &mut got, timing.speak, ANSWER_CAP, timing.gap).await;
    }
    let mut sent: Option<Vec<u8>> = None;
    let mut probe = None;
    let mut unanswered: Vec<&str> = Vec::new();
    // A server that hung up without a word would hang up on a probe too.
    if got.bytes.is_empty() && !got.closed && got.error.is_none() {
        let probes: &[Probe] = match guess {
            Some("rtsp") => &[Probe::Rtsp],
            Some("http") => &[Probe::Http],
            Some("https") => &[Probe::Tls],
            None => UNKNOWN_PORT_PROBES,
            // Binary vendor protocols, SSH, Telnet: a stray HTTP line can upset old firmware.
            Some(_) => &[],
        };
        for &p in probes {
            let (mut stream, _permit) = match conn.take() {
                Some(c) => c,
                None => match connect(device, ip, port).await {
                    Ok((stream, permit, _)) => (stream, permit),
                    Err(_) => {
                        got.error = Some(format!("reconnecting for the {} probe failed", p.name()));
                        break;
                    }
                },
            };
            let bytes = p.bytes();
            let mut answer = Collected::default();
            match tokio::time::timeout(timing.answer, stream.write_all(&bytes)).await {
                Ok(Ok(())) => collect(&mut stream, &mut answer, timing.answer, timing.answer, timing.gap).await,
                Ok(Err(e)) => answer.error = Some(format!("sending the {} probe: {e}", p.name())),
                Err(_) => answer.error = Some(format!("sending the {} probe timed out", p.name())),
            }
            sent = Some(bytes);
            if !answer.bytes.is_empty() {
                probe = Some(p);
                got = answer;
                break;
            }
            unanswered.push(p.name());
            got = answer;
        }
    }
    drop(conn);
    let service = guess_from_answer(&got.bytes, port).or(guess).map(str::to_owned);
    let banner = (!got.bytes.is_empty()).then(|| escape_banner(&got.bytes));
    let mut label = format!(
        "tcp {port}: open, banner grab ({})",
        service.as_deref().unwrap_or("unknown service")
    );
    if let Some(p) = probe {
        label.push_str(&format!(", answer to {}", p.name()));
    }
    if !unanswered.is_empty() {
        label.push_str(&format!(", no answer to {}", unanswered.join(", ")));
    }
    rec.record(Exchange {
        protocol: "tcp".into(),
        peer: device.authority(port),
        started,
        finished: exchange::now(),
        capture: Capture::Wire,
        label,
        sent: sent.as_deref().map(|n| Payload::from_bytes(n, n.len(), false)),
        received: (got.transferred > 0).then(|| Payload::from_bytes(&got.bytes, got.transferred, got.truncated)),
        error: got.error,
    });
    OpenPort {
        port,
        service,
        banner,
        probe: probe.map(|p| p.name().to_owned()),
    }
}

/// The service commonly found on `port` on IP cameras and recorders.
pub fn well_known_service(port: u16) -> Option<&'static str> {
    Some(match port {
        21 => "ftp",
        22 => "ssh",
        23 => "telnet",
        80 | 8080 => "http",
        443 | 8443 => "https",
        554 | 8554 => "rtsp",
        3702 => "ws-discovery",
        5000 => "dahua-dhip",
        6789 => "dahua-debug",
        8000 => "hikvision-sdk",
        9527 => "xiongmai-console",
        9530 => "xiongmai-macguarder",
        34567 => "xiongmai-dvrip",
        37777 => "dahua-dvrip",
        _ => return None,
    })
}

fn guess_from_answer(bytes: &[u8], port: u16) -> Option<&'static str> {
    if bytes.starts_with(b"SSH-") {
        return Some("ssh");
    }
    if bytes.starts_with(b"RTSP/") {
        return Some("rtsp");
    }
    if bytes.starts_with(b"HTTP/1.") || bytes.starts_with(b"HTTP/2") {
        return Some("http");
    }
    if bytes.len() >= 2 && bytes[0] == 0xff && (0xfb..=0xfe).contains(&bytes[1]) {
        return Some("telnet");
    }
    // A TLS record (alert or handshake) in reply to plain text.
    if bytes.len() >= 3 && matches!(bytes[0], 0x15 | 0x16) && bytes[1] == 0x03 && bytes[2] <= 0x04 {
        return Some(if well_known_service(port) == Some("https") {
            "https"
        } else {
            "tls"
        });
    }
    if bytes.starts_with(b"220") {
        let upper = String::from_utf8_lossy(bytes).to_ascii_uppercase();
        if upper.contains("FTP") {
            return Some("ftp");
        }
        if upper.contains("SMTP") {
            return Some("smtp");
        }
    }
    None
}

/// Printable ASCII kept, everything else (and `\`) as `\xNN`; trailing line ends dropped;
/// at most 256 characters, never cutting an escape in half.
pub fn escape_banner(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b'\r' | b'\n'))
        .map_or(0, |i| i + 1);
    let mut out = String::new();
    for &b in &bytes[..end] {
        let piece = if (0x20..=0x7e).contains(&b) && b != b'\\' {
            (b as char).to_string()
        } else {
            format!("\\x{b:02x}")
        };
        if out.len() + piece.len() > BANNER_MAX_CHARS {
            break;
        }
        out.push_str(&piece);
    }
    out
}

/// Parse a port list such as `22,80,8000-8100` (also `-1024`, `60000-` and `-` for all).
/// Returns the ports sorted and without repeats.
pub fn parse_port_list(spec: &str) -> Result<Vec<u16>, ProbeError> {
    let bad = |why: &str| ProbeError::Invalid(format!("port list {spec:?}: {why}"));
    let number = |text: &str, default: u16| -> Result<u16, ProbeError> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(default);
        }
        match t.parse::<u16>() {
            Ok(0) | Err(_) => Err(bad(&format!("{t:?} is not a port (1-65535)"))),
            Ok(p) => Ok(p),
        }
    };
    let mut ports = BTreeSet::new();
    for item in spec.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(bad("empty item"));
        }
        match item.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (number(lo, 1)?, number(hi, u16::MAX)?);
                if lo > hi {
                    return Err(bad(&format!("range {item} runs backwards")));
                }
                ports.extend(lo..=hi);
            }
            None => {
                ports.insert(number(item, 0)?);
            }
        }
    }
    Ok(ports.into_iter().collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn port_lists() {
        assert_eq!(
            parse_port_list("22,80,8000-8003").unwrap(),
            vec![22, 80, 8000, 8001, 8002, 8003]
        );
        assert_eq!(parse_port_list(" 80 , 22,80 ").unwrap(), vec![22, 80]);
        assert_eq!(parse_port_list("-3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_port_list("65534-").unwrap(), vec![65534, 65535]);
        assert_eq!(parse_port_list("-").unwrap().len(), 65535);
        for bad in ["", "0", "80,", "a", "65536", "10-5", "1-2-3", "-0"] {
            assert!(matches!(parse_port_list(bad), Err(ProbeError::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn banner_escaping() {
        assert_eq!(escape_banner(b"SSH-2.0-OpenSSH_9.2\r\n"), "SSH-2.0-OpenSSH_9.2");
        assert_eq!(escape_banner(b"a\x1b[31mb\x00c\\"), "a\\x1b[31mb\\x00c\\x5c");
        assert_eq!(escape_banner(&[0xff, 0xfd, 0x18]), "\\xff\\xfd\\x18");
        let long = escape_banner(&[0u8; 300]);
        assert!(
            long.len() <= BANNER_MAX_CHARS && long.len().is_multiple_of(4),
            "{}",
            long.len()
        );
    }

    #[test]
    fn service_guesses() {
        assert_eq!(guess_from_answer(b"SSH-2.0-dropbear", 2222), Some("ssh"));
        assert_eq!(guess_from_answer(b"RTSP/1.0 200 OK\r\n", 80), Some("rtsp"));
        assert_eq!(guess_from_answer(b"HTTP/1.1 400 Bad Request", 554), Some("http"));
        assert_eq!(guess_from_answer(&[0xff, 0xfb, 0x01], 2323), Some("telnet"));
        assert_eq!(guess_from_answer(&[0x15, 0x03, 0x01, 0x00, 0x02], 443), Some("https"));
        assert_eq!(guess_from_answer(&[0x15, 0x03, 0x03, 0x00, 0x02], 9000), Some("tls"));
        assert_eq!(guess_from_answer(b"220 ProFTPD ready", 2121), Some("ftp"));
        assert_eq!(guess_from_answer(b"\x00\x01", 34567), None);
        assert_eq!(well_known_service(37777), Some("dahua-dvrip"));
        assert!(is_server_first(22) && !is_server_first(8000) && !is_server_first(12345));
    }

    #[test]
    fn complete_answers_end_the_read_early() {
        assert!(answer_complete(b"SSH-2.0-x\r\n"));
        assert!(!answer_complete(b"SSH-2.0-x"));
        assert!(answer_complete(b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\n"));
        assert!(!answer_complete(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n"));
        assert!(answer_complete(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]));
        assert!(!answer_complete(&[0x16, 0x03, 0x03, 0x01, 0x00, 0x02]));
        assert!(!answer_complete(b"\xff\xfd\x18"));
    }

    #[test]
    fn grab_waits_scale_with_the_round_trip_within_floor_and_cap() {
        let fast = GrabTiming::for_port(40000, Duration::from_micros(100), Some(Duration::from_micros(80)));
        assert_eq!(
            (fast.speak, fast.answer, fast.gap),
            (SPEAK_FLOOR, ANSWER_FLOOR, GAP_FLOOR)
        );
        let slow = GrabTiming::for_port(40000, Duration::from_millis(40), Some(Duration::from_millis(5)));
        assert_eq!(
            slow.speak,
            Duration::from_millis(320),
            "the port's own slow connect counts"
        );
        assert_eq!(slow.answer, Duration::from_millis(640));
        let far = GrabTiming::for_port(40000, Duration::from_millis(500), None);
        assert_eq!((far.speak, far.answer, far.gap), (SPEAK_CAP, ANSWER_CAP, BANNER_GAP));
        assert_eq!(GrabTiming::for_port(22, Duration::ZERO, None).speak, SERVER_FIRST_WAIT);
        assert_eq!(GrabTiming::for_port(554, Duration::ZERO, None).answer, ANSWER_CAP);
    }
}
