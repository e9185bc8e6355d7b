//! Port probe against loopback listeners.
#![allow(clippy::unwrap_used)]

mod support;

use hopquy_probe::tcp::{connect_scan, scan};
use hopquy_probe::{Capture, Recorder};
use support::{device, quick_limits, read_request, serve};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn banner_listener(banner: &'static [u8]) -> u16 {
    serve(move |mut s: TcpStream| async move {
        let _ = s.write_all(banner).await;
        // Stay open like a real server waiting for the client's turn.
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    })
    .await
}

async fn http_listener() -> u16 {
    serve(|mut s: TcpStream| async move {
        if read_request(&mut s).await.is_some() {
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nServer: tiny-cam\r\n\r\n").await;
        }
    })
    .await
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn scan_finds_open_ports_and_grabs_banners() {
    let ssh = banner_listener(b"SSH-2.0-TestSSH_1.0\r\n").await;
    let http = http_listener().await;
    let closed = closed_port();
    let rec = Recorder::default();
    let result = scan(&device(quick_limits()), &[closed, ssh, http], 8, &rec)
        .await
        .unwrap();

    let mut expected_ports = vec![ssh, http];
    expected_ports.sort_unstable();
    let ports: Vec<u16> = result.open.iter().map(|o| o.port).collect();
    assert_eq!(ports, expected_ports, "{result:?}");
    assert_eq!(result.closed_count, 1);
    assert_eq!(result.filtered_count, 0);

    let ssh_port = result.open.iter().find(|o| o.port == ssh).unwrap();
    assert_eq!(ssh_port.service.as_deref(), Some("ssh"));
    assert_eq!(ssh_port.banner.as_deref(), Some("SSH-2.0-TestSSH_1.0"));
    let http_port = result.open.iter().find(|o| o.port == http).unwrap();
    assert_eq!(http_port.service.as_deref(), Some("http"));
    assert!(
        http_port
            .banner
            .as_deref()
            .unwrap()
            .starts_with("HTTP/1.0 200 OK\\x0d\\x0aServer: tiny-cam"),
        "{http_port:?}"
    );

    let ex = rec.drain();
    assert_eq!(ex.len(), 2, "one exchange per open port");
    assert!(ex.iter().all(|e| e.capture == Capture::Wire && e.protocol == "tcp"));
    let http_ex = ex.iter().find(|e| e.peer.ends_with(&format!(":{http}"))).unwrap();
    assert_eq!(
        http_ex.sent.as_ref().unwrap().text.as_deref(),
        Some("HEAD / HTTP/1.0\r\n\r\n")
    );
    let ssh_ex = ex.iter().find(|e| e.peer.ends_with(&format!(":{ssh}"))).unwrap();
    assert!(ssh_ex.sent.is_none(), "a server-first banner needs no nudge");
    assert_eq!(ssh_port.probe, None, "the banner is what the server said first");
    assert_eq!(http_port.probe.as_deref(), Some("http-head"));

    let obs = result.observations();
    assert_eq!(obs["open"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn hostile_banner_bytes_are_escaped_and_telnet_is_recognised() {
    let esc = banner_listener(b"\x1b[2J\x00hello\\world\r\n").await;
    let telnet = banner_listener(&[0xff, 0xfd, 0x18, 0xff, 0xfb, 0x01]).await;
    let rec = Recorder::default();
    let result = scan(&device(quick_limits()), &[esc, telnet], 4, &rec).await.unwrap();
    let esc_port = result.open.iter().find(|o| o.port == esc).unwrap();
    assert_eq!(esc_port.banner.as_deref(), Some("\\x1b[2J\\x00hello\\x5cworld"));
    assert_eq!(esc_port.service, None);
    let telnet_port = result.open.iter().find(|o| o.port == telnet).unwrap();
    assert_eq!(telnet_port.service.as_deref(), Some("telnet"));
    assert_eq!(telnet_port.banner.as_deref(), Some("\\xff\\xfd\\x18\\xff\\xfb\\x01"));
    // The raw bytes are kept in the exchange (base64, as they are not UTF-8).
    let ex = rec.drain();
    let telnet_ex = ex.iter().find(|e| e.peer.ends_with(&format!(":{telnet}"))).unwrap();
    assert!(telnet_ex.received.as_ref().unwrap().base64.is_some());
}

#[tokio::test]
async fn connect_scan_sweeps_a_range_and_records_only_open_ports() {
    let ssh = banner_listener(b"SSH-2.0-Sweep\r\n").await;
    let other = banner_listener(b"220 ready FTP\r\n").await;
    // A window of ports around each listener; other tests may have their own listeners in
    // it, so only ours are asserted on.
    let mut ports: Vec<u16> = Vec::new();
    for p in [ssh, other] {
        ports.extend(p.saturating_sub(700).max(1)..=p.saturating_add(700));
    }
    ports.sort_unstable();
    ports.dedup();
    let mut limits = quick_limits();
    limits.max_connections = 16;
    let rec = Recorder::default();
    let result = connect_scan(&device(limits), &ports, 64, &rec).await.unwrap();
    let total = result.open.len() + result.closed_count + result.filtered_count + result.failed_count;
    assert_eq!(total, ports.len());
    let ssh_port = result.open.iter().find(|o| o.port == ssh).unwrap();
    assert_eq!(ssh_port.banner.as_deref(), Some("SSH-2.0-Sweep"));
    let ftp_port = result.open.iter().find(|o| o.port == other).unwrap();
    assert_eq!(ftp_port.service.as_deref(), Some("ftp"));
    assert!(result.closed_count > ports.len() / 2, "{result:?}");
    assert_eq!(rec.len(), result.open.len(), "exchanges only for open ports");
    assert!(result.open.windows(2).all(|w| w[0].port < w[1].port));
}

/// Sweeping the ephemeral port range of a loopback address makes the kernel connect some
/// sockets to themselves (TCP simultaneous open); those are not listeners and must not be
/// reported open. The sweep targets an address of its own, so only our listener and the
/// host's wildcard listeners can legitimately answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_connections_are_not_open_ports() {
    use hopquy_probe::{Device, Limits, Recorder};
    let host = "127.77.31.7";
    let listener = tokio::net::TcpListener::bind((host, 0)).await.unwrap();
    let real = listener.local_addr().unwrap().port();
    let ports: Vec<u16> = (32768..=60999).collect();
    let limits = Limits {
        max_connections: 256,
        ..Limits::default()
    };
    let device = Device::new(host, limits);
    let scan = hopquy_probe::tcp::connect_scan(&device, &ports, 256, &Recorder::default())
        .await
        .unwrap();
    let open: Vec<u16> = scan.open.iter().map(|p| p.port).collect();
    if (32768..=60999).contains(&real) {
        assert!(open.contains(&real), "the real listener {real} is found: {open:?}");
    }
    let wildcard = wildcard_listeners();
    let phantom: Vec<u16> = open
        .into_iter()
        .filter(|p| *p != real && !wildcard.contains(p))
        .collect();
    assert!(
        phantom.is_empty(),
        "reported open but nothing listens there (self-connections): {phantom:?}"
    );
    drop(listener);
}

/// LISTEN sockets on 0.0.0.0 (they answer on every address), from /proc/net/tcp.
fn wildcard_listeners() -> std::collections::BTreeSet<u16> {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (addr, port) = f.get(1)?.split_once(':')?;
            (f.get(3) == Some(&"0A") && addr == "00000000")
                .then(|| u16::from_str_radix(port, 16).ok())
                .flatten()
        })
        .collect()
}

/// Reads whatever the client sends first (bounded), for listeners that speak only when
/// spoken to.
async fn first_bytes(s: &mut TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 2048];
    match tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf)).await {
        Ok(Ok(n)) => buf[..n].to_vec(),
        _ => Vec::new(),
    }
}

/// An RTSP server that stays silent until spoken to and hangs up on anything but RTSP, as
/// camera RTSP daemons do; on an ephemeral port, so only the fixed probe order finds it.
async fn silent_rtsp_listener() -> u16 {
    serve(|mut s: TcpStream| async move {
        let got = first_bytes(&mut s).await;
        if got.starts_with(b"OPTIONS ") && got.windows(8).any(|w| w == b"RTSP/1.0") {
            let _ = s
                .write_all(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY\r\n\r\n")
                .await;
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    })
    .await
}

/// A TLS-only server: silent, drops plain text, answers a ClientHello with a handshake record.
async fn silent_tls_listener() -> u16 {
    serve(|mut s: TcpStream| async move {
        let got = first_bytes(&mut s).await;
        if got.starts_with(&[0x16, 0x03]) {
            let _ = s
                .write_all(&[0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00])
                .await;
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    })
    .await
}

#[tokio::test]
async fn silent_listeners_get_protocol_probes_and_their_answers_become_banners() {
    let rtsp = silent_rtsp_listener().await;
    let tls = silent_tls_listener().await;
    let http = http_listener().await;
    let rec = Recorder::default();
    let result = connect_scan(&device(quick_limits()), &[rtsp, tls, http], 8, &rec)
        .await
        .unwrap();
    let find = |port: u16| result.open.iter().find(|o| o.port == port).unwrap();

    let r = find(rtsp);
    assert_eq!(r.service.as_deref(), Some("rtsp"), "{r:?}");
    assert_eq!(r.probe.as_deref(), Some("rtsp-options"));
    assert!(r.banner.as_deref().unwrap().starts_with("RTSP/1.0 200 OK"), "{r:?}");

    let t = find(tls);
    assert_eq!(t.service.as_deref(), Some("tls"), "{t:?}");
    assert_eq!(t.probe.as_deref(), Some("tls-client-hello"));
    assert!(t.banner.as_deref().unwrap().starts_with("\\x16\\x03\\x03"), "{t:?}");

    let h = find(http);
    assert_eq!(h.service.as_deref(), Some("http"));
    assert_eq!(h.probe.as_deref(), Some("http-head"));

    let ex = rec.drain();
    assert_eq!(ex.len(), 3, "one exchange per open port");
    let tls_ex = ex.iter().find(|e| e.peer.ends_with(&format!(":{tls}"))).unwrap();
    // The exchange holds the ClientHello that got the answer; the label names the probes
    // the server did not answer.
    let hello = tls_ex.sent.as_ref().unwrap();
    assert!(hello.base64.is_some() && hello.len > 40, "{hello:?}");
    assert!(
        tls_ex.label.contains("no answer to http-head, rtsp-options"),
        "{}",
        tls_ex.label
    );
    let obs = result.observations();
    assert!(
        obs["open"].as_array().unwrap().iter().all(|o| o["probe"].is_string()),
        "{obs}"
    );
}

/// A listener whose accept queue is full drops SYNs (Linux), as a busy camera does: the
/// client's kernel retransmits after a second, long after the adaptive timeout. The queue
/// drains 1.5 s in, so only a retry at the full timeout can find the port open.
#[tokio::test]
async fn a_slow_to_accept_open_port_is_found_by_the_retry_at_the_full_timeout() {
    use std::time::Duration;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let listener = socket.listen(1).unwrap();
    // Fill the accept queue: connect until a handshake no longer completes.
    let mut fillers = Vec::new();
    for _ in 0..16 {
        match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => fillers.push(s),
            _ => break,
        }
    }
    assert!(
        !fillers.is_empty() && fillers.len() < 16,
        "queue filled with {}",
        fillers.len()
    );
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        while let Ok((s, _)) = listener.accept().await {
            drop(s);
        }
    });
    // Closed ports around it answer with RSTs at once: they set the round trip.
    let mut ports: Vec<u16> = (0..8).map(|_| closed_port()).collect();
    ports.push(addr.port());
    let mut limits = quick_limits();
    limits.connect_timeout = Duration::from_secs(5);
    limits.max_connections = 16;
    let result = connect_scan(&device(limits), &ports, 16, &Recorder::default())
        .await
        .unwrap();
    assert!(
        result.open.iter().any(|o| o.port == addr.port()),
        "the slow port is open: {result:?}"
    );
    assert!(result.retried_count >= 1, "{result:?}");
    assert!(result.open_on_retry_count >= 1, "{result:?}");
    assert_eq!(result.retry_timeout_ms, Some(5000), "{result:?}");
    assert!(result.connect_timeout_ms.unwrap() < 5000, "{result:?}");
    let obs = result.observations();
    assert_eq!(obs["retried_count"], serde_json::json!(result.retried_count));
    drop(fillers);
}

#[tokio::test]
async fn hostile_listeners_that_stream_forever_or_drip_stay_bounded() {
    use std::time::Duration;
    let endless = serve(|mut s: TcpStream| async move {
        let chunk = [b'A'; 8192];
        while s.write_all(&chunk).await.is_ok() {}
    })
    .await;
    let drip = serve(|mut s: TcpStream| async move {
        // Slowloris: one byte at a time, never a pause long enough to end the banner.
        for _ in 0..10_000 {
            if s.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let rec = Recorder::default();
    // A guard against a hang, not a speed target.
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        connect_scan(&device(quick_limits()), &[endless, drip], 4, &rec),
    )
    .await
    .expect("the grab of a hostile listener ends")
    .unwrap();
    assert_eq!(result.open.len(), 2, "{result:?}");
    for open in &result.open {
        let banner = open.banner.as_deref().unwrap();
        assert!(!banner.is_empty() && banner.len() <= 256, "{open:?}");
    }
    let ex = rec.drain();
    let endless_ex = ex.iter().find(|e| e.peer.ends_with(&format!(":{endless}"))).unwrap();
    let received = endless_ex.received.as_ref().unwrap();
    assert!(received.truncated, "the byte bound ended the endless stream");
    let drip_ex = ex.iter().find(|e| e.peer.ends_with(&format!(":{drip}"))).unwrap();
    assert!(
        drip_ex.received.as_ref().unwrap().len < 10_000,
        "the time bound ended the drip"
    );
}
