//! Full 1–65535 TCP connect sweep of loopback: hopquy's `connect_scan` (and its connect-only
//! half) against `nmap -sT -p-`, side by side in one run, on the same set of listeners this bench opens.
//!
//! Run: `cargo bench -p hopquy-probe --bench ports` (nmap is skipped, with a note, when it is
//! not installed). Speed targets live here, never in timed tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hopquy_probe::{Device, Limits, Recorder};

const RUNS: usize = 5;
const LISTENERS: usize = 12;
const CONCURRENCY: usize = 512;
/// A loopback address of the bench's own: only its listeners and the host's wildcard
/// listeners answer there, so both tools must find exactly the same set.
const HOST: &str = "127.77.0.9";

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn nmap_open(output: &str) -> BTreeSet<u16> {
    // Greppable output: "Ports: 22/open/tcp//ssh///, 80/open/tcp//http///"
    output
        .lines()
        .filter_map(|l| l.split_once("Ports: ").map(|(_, p)| p))
        .flat_map(|p| p.split(", "))
        .filter(|e| e.contains("/open/"))
        .filter_map(|e| e.split('/').next()?.trim().parse().ok())
        .collect()
}

#[tokio::main]
async fn main() {
    // Listeners that accept and close, so banner grabs end fast on both sides.
    let mut open = BTreeSet::new();
    let mut keep = Vec::new();
    for _ in 0..LISTENERS {
        let l = tokio::net::TcpListener::bind((HOST, 0)).await.unwrap();
        open.insert(l.local_addr().unwrap().port());
        keep.push(tokio::spawn(async move {
            loop {
                if let Ok((s, _)) = l.accept().await {
                    drop(s);
                }
            }
        }));
    }
    let ports: Vec<u16> = (1..=65535).collect();
    let limits = Limits {
        max_connections: CONCURRENCY,
        connect_timeout: Duration::from_secs(2),
        io_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let device = Device::new(HOST, limits);
    let ip: std::net::IpAddr = HOST.parse().unwrap();
    let nmap_installed = std::process::Command::new("nmap")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);

    let threads = hopquy_probe::tcp::sweep::default_threads();

    // Rounds interleave the tools, so a load change on the machine hits all of them alike.
    let (mut full, mut connect_only, mut nmap) = (Vec::new(), Vec::new(), Vec::new());
    let (mut full_found, mut connect_only_found, mut nmap_found) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for _ in 0..RUNS {
        let rec = Recorder::default();
        let t = Instant::now();
        let scan = hopquy_probe::tcp::connect_scan(&device, &ports, CONCURRENCY, &rec)
            .await
            .expect("scan");
        full.push(t.elapsed());
        full_found = scan.open.iter().map(|p| p.port).collect();

        // The connect-only half alone: what `nmap -sT` does (it grabs no banners).
        let pace = hopquy_probe::tcp::sweep::SweepPace {
            width: CONCURRENCY,
            connect_timeout: Duration::from_secs(2),
            min_gap: Duration::ZERO,
        };
        let stop = std::sync::atomic::AtomicBool::new(false);
        let t = Instant::now();
        let swept = hopquy_probe::tcp::sweep::sweep_sharded(ip, &ports, pace, threads, &stop).expect("sweep");
        connect_only.push(t.elapsed());
        connect_only_found = swept
            .into_iter()
            .filter(|(_, s)| *s == hopquy_probe::tcp::sweep::Swept::Open)
            .map(|(p, _)| p)
            .collect();

        if nmap_installed {
            let t = Instant::now();
            let out = tokio::process::Command::new("nmap")
                .args(["-sT", "-p-", "-n", "-Pn", "-oG", "-", HOST])
                .output()
                .await
                .expect("nmap");
            nmap.push(t.elapsed());
            nmap_found = nmap_open(&String::from_utf8_lossy(&out.stdout));
        }
    }
    println!(
        "full 1-65535 TCP connect sweep of {HOST} ({LISTENERS} listeners of ours, plus the host's wildcard listeners), {RUNS} interleaved rounds"
    );
    println!("| tool | median of {RUNS} | open ports found | ours all found |");
    println!("|---|---:|---:|---|");
    println!(
        "| hopquy connect_scan (width {CONCURRENCY}, {threads} threads, banner grab on open ports) | {:.2} s | {} | {} |",
        median(full).as_secs_f64(),
        full_found.len(),
        open.is_subset(&full_found)
    );
    println!(
        "| hopquy connect-only sweep (width {CONCURRENCY}, {threads} threads, no banners) | {:.2} s | {} | {} |",
        median(connect_only).as_secs_f64(),
        connect_only_found.len(),
        open.is_subset(&connect_only_found)
    );
    if nmap_installed {
        println!(
            "| nmap -sT -p- (default timing, no service detection) | {:.2} s | {} | {} |",
            median(nmap).as_secs_f64(),
            nmap_found.len(),
            open.is_subset(&nmap_found)
        );
        println!(
            "same open set: {}",
            nmap_found == full_found && nmap_found == connect_only_found
        );
    } else {
        println!("| nmap | skipped: not installed | | |");
    }
    for k in keep {
        k.abort();
    }
}
