//! Full 1–65535 TCP sweeps, hopquy against nmap side by side in one run, on two hosts that
//! behave like real cameras:
//!
//! 1. **silent** — a loopback address of the bench's own with 13 listeners: two simulated
//!    cameras (`legacy`: HTTP, RTSP, SSH, Telnet, vendor SDK; `hardened`: HTTP, HTTPS, RTSP,
//!    SSH) plus listeners of the bench that stay silent until spoken to and then answer HTTP or RTSP properly, and one
//!    that speaks first. Most real camera services wait for the client.
//! 2. **dropping** — a network namespace the bench creates and removes itself, reached over
//!    a veth pair with 10.237.x.0/30 addresses on the two ends only, whose nftables rule
//!    drops SYNs to every closed port (as many camera firewalls do). Needs root, `ip` and
//!    `nft`; skipped with a note otherwise. Nothing leaves the machine.
//!
//! Rows: hopquy `connect_scan` (adaptive sweep plus banner grabs), hopquy's adaptive sweep
//! alone (connect-only), `nmap -sT -p-` (no banners) and `nmap -sT -sV -p-` (service
//! detection). Rounds interleave the tools so a load change hits all of them alike.
//!
//! Run: `cargo xtask bench ports`. Knobs: `HOPQUY_BENCH_RUNS` (rounds on the silent host,
//! default 5), `HOPQUY_BENCH_DROP_RUNS` (default 2), `HOPQUY_BENCH_SV=0` (no `nmap -sV` rows), `HOPQUY_BENCH_ONLY=silent|dropping`, `HOPQUY_BENCH_NMAP_LIMIT_S` (an nmap
//! run is stopped after this long, default 600). Speed targets live here, never in timed
//! tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hopquy_probe::tcp::sweep::{self, SweepPace, Swept};
use hopquy_probe::{Device, Limits, Recorder};
use hopquy_simcam::{SimCamera, SimConfig, SimSetup};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What `hopquy probe ports` uses by default.
const CONCURRENCY: usize = 512;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Set in the child process that serves inside the dropping namespace: `IP PORT…`.
const SERVE_ENV: &str = "HOPQUY_PORTS_BENCH_SERVE";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .max(1)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn secs(samples: &[Duration]) -> String {
    samples
        .iter()
        .map(|d| format!("{:.2}", d.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// nmap's greppable output: "Ports: 22/open/tcp//ssh//OpenSSH 9.2/, 80/open/tcp//http///"
fn nmap_ports(output: &str) -> BTreeMap<u16, String> {
    output
        .lines()
        .filter_map(|l| l.split_once("Ports: ").map(|(_, p)| p))
        .flat_map(|p| p.split(", "))
        .filter(|e| e.contains("/open/"))
        .filter_map(|e| {
            let f: Vec<&str> = e.split('/').collect();
            Some((
                f.first()?.trim().parse().ok()?,
                f.get(4).copied().unwrap_or("").to_owned(),
            ))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Listeners that behave like camera services.

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    /// Silent; answers `HEAD`/`GET` with an HTTP status line and headers.
    Http,
    /// Silent; answers an RTSP request with an RTSP status line, hangs up on anything else.
    Rtsp,
    /// Greets first (an SSH-like identification line), as SSH and Telnet do.
    SpeaksFirst,
}

async fn read_head(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
        match tokio::time::timeout(Duration::from_secs(30), s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    buf
}

async fn serve_one(mut s: TcpStream, behaviour: Behaviour) {
    match behaviour {
        Behaviour::SpeaksFirst => {
            let _ = s.write_all(b"SSH-2.0-dropbear_2019.78\r\n").await;
            let _ = read_head(&mut s).await;
        }
        Behaviour::Http => {
            let head = read_head(&mut s).await;
            if !head.is_empty() {
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    )
                    .await;
            }
        }
        Behaviour::Rtsp => {
            let head = read_head(&mut s).await;
            if head.windows(8).any(|w| w == b"RTSP/1.0") {
                let _ = s
                    .write_all(
                        b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n",
                    )
                    .await;
                let _ = read_head(&mut s).await;
            }
        }
    }
}

fn spawn_listener(l: TcpListener, behaviour: Behaviour) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Ok((s, _)) = l.accept().await {
                tokio::spawn(serve_one(s, behaviour));
            }
        }
    })
}

// ---------------------------------------------------------------------------------------
// The tools.

struct Row {
    name: String,
    times: Vec<Duration>,
    found: BTreeMap<u16, String>,
    note: String,
}

impl Row {
    fn new(name: &str) -> Row {
        Row {
            name: name.to_owned(),
            times: Vec::new(),
            found: BTreeMap::new(),
            note: String::new(),
        }
    }
}

async fn hopquy_full(host: &str, row: &mut Row) {
    let limits = Limits {
        max_connections: CONCURRENCY,
        connect_timeout: CONNECT_TIMEOUT,
        ..Limits::default()
    };
    let device = Device::new(host, limits);
    let ports: Vec<u16> = (1..=65535).collect();
    let t = Instant::now();
    let scan = hopquy_probe::tcp::connect_scan(&device, &ports, CONCURRENCY, &Recorder::default())
        .await
        .expect("scan");
    row.times.push(t.elapsed());
    row.found = scan
        .open
        .iter()
        .map(|p| {
            let how = match (&p.probe, &p.banner) {
                (Some(probe), _) => probe.as_str(),
                (None, Some(_)) => "spoke first",
                (None, None) => "silent",
            };
            (p.port, format!("{} ({how})", p.service.as_deref().unwrap_or("?")))
        })
        .collect();
    row.note = format!(
        "rtt {} µs, sweep timeout {} ms, retried {} at {} ms",
        scan.rtt_us.unwrap_or(0),
        scan.connect_timeout_ms.unwrap_or(0),
        scan.retried_count,
        scan.retry_timeout_ms.unwrap_or(0)
    );
}

fn hopquy_connect_only(ip: IpAddr, row: &mut Row) {
    let ports: Vec<u16> = (1..=65535).collect();
    let pace = SweepPace {
        width: CONCURRENCY,
        connect_timeout: CONNECT_TIMEOUT,
        min_gap: Duration::ZERO,
        adaptive_floor: Some(Duration::from_millis(100)),
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    let t = Instant::now();
    let report = sweep::adaptive_sweep(ip, &ports, pace, sweep::default_threads(), &stop, &|_| {}).expect("sweep");
    row.times.push(t.elapsed());
    row.found = report
        .ports
        .iter()
        .filter(|(_, s)| *s == Swept::Open)
        .map(|(p, _)| (*p, String::new()))
        .collect();
    row.note = format!(
        "sweep timeout {} ms, retried {}",
        report.sweep_timeout.as_millis(),
        report.retried
    );
}

/// Runs nmap, stopped after `limit`; `None` when it was stopped.
async fn nmap(host: &str, extra: &[&str], limit: Duration, row: &mut Row) {
    let mut args = vec!["-sT", "-p-", "-n", "-Pn", "-oG", "-"];
    args.extend_from_slice(extra);
    args.push(host);
    let t = Instant::now();
    let child = tokio::process::Command::new("nmap")
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("nmap");
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(out) => {
            row.times.push(t.elapsed());
            row.found = nmap_ports(&String::from_utf8_lossy(&out.expect("nmap").stdout));
        }
        Err(_) => {
            row.times.push(limit);
            row.note = format!("stopped at the {} s limit", limit.as_secs());
        }
    }
}

fn print_rows(rows: &[Row], expected: &BTreeSet<u16>) {
    println!("| tool | median | rounds (s) | open found | all of ours | notes (last round) |");
    println!("|---|---:|---|---:|---|---|");
    for r in rows {
        if r.times.is_empty() {
            println!("| {} | skipped | | | | {} |", r.name, r.note);
            continue;
        }
        let found: BTreeSet<u16> = r.found.keys().copied().collect();
        println!(
            "| {} | {:.2} s | {} | {} | {} | {} |",
            r.name,
            median(r.times.clone()).as_secs_f64(),
            secs(&r.times),
            found.len(),
            expected.is_subset(&found),
            r.note
        );
    }
}

fn print_services(rows: &[Row], a: usize, b: usize) {
    println!("| port | {} | {} |", rows[a].name, rows[b].name);
    println!("|---:|---|---|");
    let ports: BTreeSet<u16> = rows[a].found.keys().chain(rows[b].found.keys()).copied().collect();
    for p in ports {
        println!(
            "| {p} | {} | {} |",
            rows[a].found.get(&p).map_or("—", String::as_str),
            rows[b].found.get(&p).map_or("—", String::as_str)
        );
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn row_names() -> Vec<Row> {
    vec![
        Row::new(&format!("hopquy connect_scan (width {CONCURRENCY}, banners)")),
        Row::new("hopquy adaptive sweep alone (connect-only)"),
        Row::new("nmap -sT -p- (no service detection)"),
        Row::new("nmap -sT -sV -p- (service detection)"),
    ]
}

async fn silent_host(runs: usize, nmap_installed: bool, nmap_limit: Duration) {
    let ip = SimCamera::unique_loopback();
    let host = ip.to_string();
    // Two simulated cameras on one address: `legacy` (HTTP, RTSP, SSH, Telnet, vendor SDK;
    // no HTTPS) and `hardened` (HTTP, HTTPS, RTSP, SSH), so a TLS service is among them.
    let mut cameras = Vec::new();
    let mut expected = BTreeSet::new();
    for setup in ["legacy", "hardened"] {
        let mut config = SimConfig::new(SimSetup::parse(setup).unwrap());
        config.bind = ip;
        let camera = SimCamera::start(config).await.expect("simulated camera");
        println!("camera `{setup}` services: {:?}", camera.ports());
        expected.extend(camera.ports().values().copied());
        cameras.push(camera);
    }
    let mut keep = Vec::new();
    for behaviour in [
        Behaviour::Http,
        Behaviour::Http,
        Behaviour::Rtsp,
        Behaviour::SpeaksFirst,
    ] {
        let l = TcpListener::bind((ip, 0)).await.unwrap();
        expected.insert(l.local_addr().unwrap().port());
        keep.push(spawn_listener(l, behaviour));
    }
    let mut rows = row_names();
    let sv_runs = if std::env::var("HOPQUY_BENCH_SV").as_deref() == Ok("0") {
        0
    } else {
        runs.min(2)
    };
    let load_before = load();
    for round in 0..runs {
        hopquy_full(&host, &mut rows[0]).await;
        hopquy_connect_only(ip, &mut rows[1]);
        if nmap_installed {
            nmap(&host, &[], nmap_limit, &mut rows[2]).await;
            if round < sv_runs {
                nmap(&host, &["-sV"], nmap_limit, &mut rows[3]).await;
            }
        }
    }
    println!(
        "\n## silent host {host}: {} listeners (simulated cameras `legacy` and `hardened` + {} of the bench), plus the host's wildcard listeners",
        expected.len(),
        keep.len()
    );
    println!(
        "{runs} interleaved rounds ({sv_runs} of nmap -sV); load average before {load_before}, after {}\n",
        load()
    );
    if !nmap_installed {
        rows[2].note = "nmap not installed".into();
        rows[3].note = "nmap not installed".into();
    }
    print_rows(&rows, &expected);
    println!();
    print_services(&rows, 0, 3);
    for k in keep {
        k.abort();
    }
    for camera in cameras {
        camera.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------------
// The dropping host: a namespace of the bench's own.

/// Ports served inside the namespace (and let through its firewall).
const DROP_OPEN: &[(u16, Behaviour)] = &[
    (22, Behaviour::SpeaksFirst),
    (80, Behaviour::Http),
    (554, Behaviour::Rtsp),
    (8080, Behaviour::Http),
    (8554, Behaviour::Rtsp),
    (23456, Behaviour::Http),
    (40404, Behaviour::Rtsp),
];

fn run(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn have(cmd: &str) -> bool {
    std::process::Command::new(cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        || std::process::Command::new(cmd)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

/// The namespace, its veth pair and its server process; dropping it removes all three.
struct DropHost {
    ns: String,
    veth: String,
    server: Option<tokio::process::Child>,
}

impl Drop for DropHost {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            let _ = s.start_kill();
        }
        // Deleting the namespace destroys its end of the veth pair, and with it ours.
        let _ = run("ip", &["netns", "del", &self.ns]);
        let _ = run("ip", &["link", "del", &self.veth]);
    }
}

async fn drop_host_up() -> Result<(DropHost, IpAddr), String> {
    let id = std::process::id() % 100_000;
    let ns = format!("hqbench{id}");
    let veth = format!("hqb{id}a");
    let peer = format!("hqb{id}b");
    let net = id % 250 + 1;
    let ours = format!("10.237.{net}.1");
    let theirs = format!("10.237.{net}.2");
    let mut host = DropHost {
        ns: ns.clone(),
        veth: veth.clone(),
        server: None,
    };
    run("ip", &["netns", "add", &ns])?;
    run("ip", &["link", "add", &veth, "type", "veth", "peer", "name", &peer])?;
    run("ip", &["link", "set", &peer, "netns", &ns])?;
    run("ip", &["addr", "add", &format!("{ours}/30"), "dev", &veth])?;
    run("ip", &["link", "set", &veth, "up"])?;
    let in_ns = |args: &[&str]| -> Result<(), String> {
        let mut all = vec!["netns", "exec", &ns];
        all.extend_from_slice(args);
        run("ip", &all)
    };
    in_ns(&["ip", "addr", "add", &format!("{theirs}/30"), "dev", &peer])?;
    in_ns(&["ip", "link", "set", &peer, "up"])?;
    in_ns(&["ip", "link", "set", "lo", "up"])?;
    let open: Vec<String> = DROP_OPEN.iter().map(|(p, _)| p.to_string()).collect();
    let rules = format!(
        "table inet hqbench {{\n chain input {{\n  type filter hook input priority 0; policy accept;\n  \
         tcp dport {{ {} }} accept\n  tcp flags & (syn | ack) == syn drop\n }}\n}}\n",
        open.join(", ")
    );
    let mut nft = std::process::Command::new("ip")
        .args(["netns", "exec", &ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("nft: {e}"))?;
    use std::io::Write as _;
    nft.stdin
        .take()
        .ok_or("nft stdin")?
        .write_all(rules.as_bytes())
        .map_err(|e| format!("nft: {e}"))?;
    let out = nft.wait_with_output().map_err(|e| format!("nft: {e}"))?;
    if !out.status.success() {
        return Err(format!("nft: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    // The servers run inside the namespace: this very binary, in serving mode.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut server = tokio::process::Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(exe)
        .env(SERVE_ENV, format!("{theirs} {}", open.join(" ")))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("namespace server: {e}"))?;
    let stdout = server.stdout.take().ok_or("server stdout")?;
    host.server = Some(server);
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .map_err(|_| "namespace server did not start".to_string())?
    .map_err(|e| e.to_string())?;
    if line.trim() != "ready" {
        return Err(format!("namespace server: {line:?}"));
    }
    Ok((host, theirs.parse().unwrap()))
}

async fn serve_in_namespace(spec: &str) {
    let mut words = spec.split_whitespace();
    let ip: IpAddr = words.next().unwrap().parse().unwrap();
    let mut keep = Vec::new();
    for port in words {
        let port: u16 = port.parse().unwrap();
        let behaviour = DROP_OPEN.iter().find(|(p, _)| *p == port).unwrap().1;
        keep.push(spawn_listener(TcpListener::bind((ip, port)).await.unwrap(), behaviour));
    }
    println!("ready");
    // Until the bench kills us.
    futures::future::join_all(keep).await;
}

async fn dropping_host(runs: usize, nmap_installed: bool, nmap_limit: Duration) {
    println!("\n## dropping host: a network namespace whose firewall drops SYNs to closed ports");
    if !is_root() || !have("ip") || !have("nft") {
        println!("skipped: needs root, `ip` (iproute2) and `nft` (nftables)");
        return;
    }
    let (host, ip) = match drop_host_up().await {
        Ok(h) => h,
        Err(e) => {
            println!("skipped: could not set up the namespace: {e}");
            return;
        }
    };
    let expected: BTreeSet<u16> = DROP_OPEN.iter().map(|(p, _)| *p).collect();
    let target = ip.to_string();
    let mut rows = row_names();
    let load_before = load();
    for _ in 0..runs {
        hopquy_full(&target, &mut rows[0]).await;
        hopquy_connect_only(ip, &mut rows[1]);
        if nmap_installed {
            nmap(&target, &[], nmap_limit, &mut rows[2]).await;
        }
    }
    if nmap_installed && std::env::var("HOPQUY_BENCH_SV").as_deref() != Ok("0") {
        nmap(&target, &["-sV"], nmap_limit, &mut rows[3]).await;
    }
    println!(
        "{target} behind a veth pair, {} open ports; connect timeout {} s, width {CONCURRENCY}; {runs} interleaved rounds (1 of nmap -sV); load average before {load_before}, after {}\n",
        expected.len(),
        CONNECT_TIMEOUT.as_secs(),
        load()
    );
    print_rows(&rows, &expected);
    println!();
    print_services(&rows, 0, 3);
    drop(host);
}

#[tokio::main]
async fn main() {
    if let Ok(spec) = std::env::var(SERVE_ENV) {
        serve_in_namespace(&spec).await;
        return;
    }
    let runs = env_usize("HOPQUY_BENCH_RUNS", 5);
    let drop_runs = env_usize("HOPQUY_BENCH_DROP_RUNS", 2);
    let nmap_limit = Duration::from_secs(env_usize("HOPQUY_BENCH_NMAP_LIMIT_S", 600) as u64);
    let nmap_installed = have("nmap");
    if !nmap_installed {
        println!("nmap is not installed: its rows are skipped");
    }
    println!(
        "full 1-65535 TCP sweeps, {} cores, load average at start {}",
        std::thread::available_parallelism().map_or(1, usize::from),
        load()
    );
    let only = std::env::var("HOPQUY_BENCH_ONLY").unwrap_or_default();
    if only != "dropping" {
        silent_host(runs, nmap_installed, nmap_limit).await;
    }
    if only != "silent" {
        dropping_host(drop_runs, nmap_installed, nmap_limit).await;
    }
}
