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

/// How long a server-first protocol (SSH, Telnet, FTP) gets to speak before we nudge it.
const BANNER_WAIT: Duration = Duration::from_millis(1500);
/// How long the answer to a nudge may take.
const ANSWER_WAIT: Duration = Duration::from_secs(2);
/// Once bytes flow, how long a pause ends the banner.
const BANNER_GAP: Duration = Duration::from_millis(200);
const BANNER_MAX_BYTES: usize = 4096;
const BANNER_MAX_CHARS: usize = 256;

const HTTP_NUDGE: &[u8] = b"HEAD / HTTP/1.0\r\n\r\n";
const RTSP_NUDGE: &[u8] = b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenPort {
    pub port: u16,
    /// Guessed from what the service said, else from the well-known port table.
    pub service: Option<String>,
    /// What the service said, printable ASCII with other bytes as `\xNN`, at most 256 chars.
    pub banner: Option<String>,
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
                Ok((mut stream, permit)) => {
                    let open = grab(device, &mut stream, port, rec).await;
                    drop(stream);
                    drop(permit);
                    PortState::Open(open)
                }
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
/// [`sweep`]) at most `concurrency` sockets wide, and never wider than the device's cap;
/// the open ports then get their banner grab. Fast enough for a full 1–65535 sweep.
pub async fn connect_scan(
    device: &Device,
    ports: &[u16],
    concurrency: usize,
    rec: &Recorder,
) -> Result<PortScan, ProbeError> {
    let begun = Instant::now();
    let ip = resolve_once(device, ports).await?;
    let concurrency = concurrency.max(1);
    let pace = sweep::SweepPace {
        width: concurrency.min(device.limits().max_connections.max(1)),
        connect_timeout: device.limits().connect_timeout,
        min_gap: device.limits().min_connect_gap,
    };
    let (cancel, stop) = sweep::cancel_pair();
    let list = ports.to_vec();
    let swept =
        tokio::task::spawn_blocking(move || sweep::sweep_sharded(ip, &list, pace, sweep::default_threads(), &stop))
            .await
            .map_err(|e| ProbeError::Local(format!("port sweep thread: {e}")))?
            .map_err(|e| ProbeError::Local(format!("port sweep: {e}")))?;
    drop(cancel);
    let swept: Vec<(u16, Option<PortState>)> = swept
        .into_iter()
        .map(|(port, state)| {
            (
                port,
                match state {
                    sweep::Swept::Open => None,
                    sweep::Swept::Closed => Some(PortState::Closed),
                    sweep::Swept::Filtered => Some(PortState::Filtered),
                    sweep::Swept::Failed => Some(PortState::Failed),
                },
            )
        })
        .collect();
    let mut states = Vec::with_capacity(swept.len());
    let mut open_ports = Vec::new();
    for (port, state) in swept {
        match state {
            Some(s) => states.push((port, s)),
            None => open_ports.push(port),
        }
    }
    let grabbed: Vec<(u16, PortState)> = futures::stream::iter(open_ports)
        .map(|port| async move {
            let open = match connect(device, ip, port).await {
                Ok((mut stream, _permit)) => grab(device, &mut stream, port, rec).await,
                Err(_) => {
                    // It accepted a moment ago; it stays open, and the failed grab is evidence.
                    let now = exchange::now();
                    rec.record(Exchange {
                        protocol: "tcp".into(),
                        peer: device.authority(port),
                        started: now,
                        finished: now,
                        capture: Capture::Wire,
                        label: format!("tcp {port}: banner grab"),
                        sent: None,
                        received: None,
                        error: Some("port accepted during the sweep but not for the banner grab".into()),
                    });
                    OpenPort {
                        port,
                        service: well_known_service(port).map(str::to_owned),
                        banner: None,
                    }
                }
            };
            (port, PortState::Open(open))
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    states.extend(grabbed);
    Ok(tally(states, begun))
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
    scan.elapsed_ms = u64::try_from(begun.elapsed().as_millis()).unwrap_or(u64::MAX);
    scan
}

/// Resolve the host once: a sweep must not cost one DNS lookup per port.
async fn resolve_once(device: &Device, ports: &[u16]) -> Result<IpAddr, ProbeError> {
    let port = ports.first().copied().unwrap_or(1);
    Ok(device.resolve(port).await?.ip())
}

async fn connect(device: &Device, ip: IpAddr, port: u16) -> Result<(TcpStream, crate::Permit), PortState> {
    let permit = device.permit().await;
    let addr = SocketAddr::new(ip, port);
    match tokio::time::timeout(device.limits().connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            // TCP simultaneous open: sweeping the ephemeral range of a local address, the
            // kernel can pick the destination port as the source port and the socket
            // "connects" to itself. Nothing listens there: the port is closed.
            if is_self_connect(&stream) {
                return Err(PortState::Closed);
            }
            let _ = stream.set_nodelay(true);
            Ok((stream, permit))
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

/// Read until `first_wait` passes with no data, a pause after data, the byte bound, EOF or
/// an error.
async fn collect(stream: &mut TcpStream, into: &mut Collected, first_wait: Duration) {
    let begun = Instant::now();
    let hard_deadline = begun + first_wait + ANSWER_WAIT;
    let mut chunk = [0u8; 1024];
    loop {
        let limit = if into.bytes.is_empty() {
            begun + first_wait
        } else {
            (Instant::now() + BANNER_GAP).min(hard_deadline)
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
            }
            Ok(Err(e)) => {
                into.error = Some(e.to_string());
                return;
            }
        }
    }
}

/// Banner grab on an open connection; records one exchange.
async fn grab(device: &Device, stream: &mut TcpStream, port: u16, rec: &Recorder) -> OpenPort {
    let started = exchange::now();
    let mut got = Collected::default();
    collect(stream, &mut got, BANNER_WAIT).await;
    let mut sent = None;
    if got.bytes.is_empty()
        && !got.closed
        && got.error.is_none()
        && let Some(nudge) = nudge_for(port)
    {
        sent = Some(nudge);
        match tokio::time::timeout(ANSWER_WAIT, stream.write_all(nudge)).await {
            Ok(Ok(())) => collect(stream, &mut got, ANSWER_WAIT).await,
            Ok(Err(e)) => got.error = Some(format!("sending the nudge: {e}")),
            Err(_) => got.error = Some("sending the nudge timed out".into()),
        }
    }
    let service = guess_from_answer(&got.bytes, port)
        .or(well_known_service(port))
        .map(str::to_owned);
    let banner = (!got.bytes.is_empty()).then(|| escape_banner(&got.bytes));
    rec.record(Exchange {
        protocol: "tcp".into(),
        peer: device.authority(port),
        started,
        finished: exchange::now(),
        capture: Capture::Wire,
        label: format!(
            "tcp {port}: open, banner grab ({})",
            service.as_deref().unwrap_or("unknown service")
        ),
        sent: sent.map(|n| Payload::from_bytes(n, n.len(), false)),
        received: (got.transferred > 0).then(|| Payload::from_bytes(&got.bytes, got.transferred, got.truncated)),
        error: got.error,
    });
    OpenPort { port, service, banner }
}

fn nudge_for(port: u16) -> Option<&'static [u8]> {
    match well_known_service(port) {
        Some("rtsp") => Some(RTSP_NUDGE),
        // An unknown port most often hides a web interface; HEAD is the least intrusive ask.
        Some("http" | "https") | None => Some(HTTP_NUDGE),
        // Binary vendor protocols, SSH, Telnet: a stray HTTP line can upset old firmware.
        Some(_) => None,
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
        assert_eq!(nudge_for(8554), Some(RTSP_NUDGE));
        assert_eq!(nudge_for(8000), None);
        assert_eq!(nudge_for(12345), Some(HTTP_NUDGE));
    }
}
