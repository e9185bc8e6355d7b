//! ONVIF anonymous read sweep: hopquy's probe against onvif-zeep-async (the peer ONVIF
//! client), on the same loopback servers in one run: the Python peer device
//! (`tests/peers/onvif_server.py --leaky`) and the simulated camera
//! (`hardened+onvif-anonymous`). Prints a table of wall-clock times and whether the two
//! tools found the same answered operations.
//!
//!     cargo bench -p hopquy-probe --bench onvif
//!
//! The peer client runs from `target/peers/venv` (`pip install onvif-zeep-async==4.3.0`);
//! when it is missing its rows say so. Timings are printed, never asserted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hopquy_probe::http::Scheme;
use hopquy_probe::onvif::{OnvifProbe, SweepOptions};
use hopquy_probe::{Device, Limits, Recorder};
use hopquy_simcam::{SimCamera, SimConfig, SimSetup};

const ROUNDS: usize = 5;

struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn start_python_peer() -> Option<(Peer, u16)> {
    let script = manifest_dir().join("tests/peers/onvif_server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(["--port", "0", "--leaky"])
        .env("ONVIF_PASSWORD", "bench-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take()?).read_line(&mut line).ok()?;
    let port = line.trim().strip_prefix("READY ")?.parse().ok()?;
    Some((Peer(child), port))
}

fn zeep_python() -> Option<PathBuf> {
    let python = manifest_dir().join("../../target/peers/venv/bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import onvif"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(python)
}

fn limits() -> Limits {
    Limits {
        io_timeout: Duration::from_secs(5),
        ..Limits::default()
    }
}

/// One hopquy sweep: (milliseconds, answered operations).
fn hopquy_sweep(rt: &tokio::runtime::Runtime, port: u16, concurrency: usize) -> (f64, BTreeSet<String>) {
    let probe = OnvifProbe::new(Device::new("127.0.0.1", limits()), Scheme::Http, port).unwrap();
    let options = SweepOptions {
        concurrency,
        ..Default::default()
    };
    let started = Instant::now();
    let report = rt.block_on(probe.sweep(&options, &Recorder::default())).unwrap();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    (ms, report.anonymous_allowed().into_iter().map(str::to_owned).collect())
}

/// One onvif-zeep-async sweep of the same operations, process start included (that is how
/// a lab runs it): (milliseconds, answered operations, operations its WSDL lacks).
fn zeep_sweep(python: &Path, port: u16) -> (f64, BTreeSet<String>, BTreeSet<String>) {
    let operations: Vec<&str> = SweepOptions::default().operations().iter().map(|o| o.name).collect();
    let started = Instant::now();
    let output = Command::new(python)
        .arg(manifest_dir().join("benches/onvif_zeep_sweep.py"))
        .arg(port.to_string())
        .args(&operations)
        .output()
        .unwrap();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let set = |key: &str| -> BTreeSet<String> {
        json[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    (ms, set("answered"), set("unknown"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // `cargo test --all-targets` runs this binary without `--bench`: check it works, fast.
    if !std::env::args().any(|a| a == "--bench") {
        let camera = rt
            .block_on(SimCamera::start(SimConfig::new(
                SimSetup::parse("hardened+onvif-anonymous").unwrap(),
            )))
            .unwrap();
        let (_, found) = hopquy_sweep(&rt, camera.ports()["http"], 4);
        assert!(found.contains("GetUsers"), "{found:?}");
        println!("onvif bench: smoke run only; `cargo bench -p hopquy-probe --bench onvif` measures");
        return;
    }
    let mut servers: Vec<(String, u16)> = Vec::new();
    let _peer = match start_python_peer() {
        Some((peer, port)) => {
            servers.push(("python peer --leaky".into(), port));
            Some(peer)
        }
        None => {
            println!("skipped: python3 not installed (no Python peer device)");
            None
        }
    };
    let camera = rt
        .block_on(SimCamera::start(SimConfig::new(
            SimSetup::parse("hardened+onvif-anonymous").unwrap(),
        )))
        .unwrap();
    servers.push(("simcam hardened+onvif-anonymous".into(), camera.ports()["http"]));
    let zeep = zeep_python();
    if zeep.is_none() {
        println!("skipped: onvif-zeep-async not installed in target/peers/venv");
    }
    let operations = SweepOptions::default().operations().len();
    println!("anonymous read sweep, {operations} operations, median of {ROUNDS} rounds (min in brackets)\n");
    println!("{:<34} {:<34} {:>16}  agrees", "server", "tool", "ms");
    for (name, port) in &servers {
        let mut found = None;
        for (label, concurrency) in [("hopquy (4 connections)", 4), ("hopquy (1 connection)", 1)] {
            let runs: Vec<(f64, BTreeSet<String>)> =
                (0..ROUNDS).map(|_| hopquy_sweep(&rt, *port, concurrency)).collect();
            let times: Vec<f64> = runs.iter().map(|r| r.0).collect();
            let min = times.iter().copied().fold(f64::MAX, f64::min);
            println!("{name:<34} {label:<34} {:>8.1} [{min:>5.1}]  -", median(times));
            found = runs.into_iter().next().map(|r| r.1);
        }
        let Some(python) = &zeep else { continue };
        let runs: Vec<_> = (0..ROUNDS).map(|_| zeep_sweep(python, *port)).collect();
        let times: Vec<f64> = runs.iter().map(|r| r.0).collect();
        let min = times.iter().copied().fold(f64::MAX, f64::min);
        let (_, answered, unknown) = &runs[0];
        // Compare on the operations both tools could send.
        let ours: BTreeSet<String> = found
            .unwrap_or_default()
            .into_iter()
            .filter(|op| !unknown.contains(op))
            .collect();
        let agrees = if &ours == answered {
            "yes".to_owned()
        } else {
            format!("NO: {ours:?} vs {answered:?}")
        };
        println!(
            "{name:<34} {:<34} {:>8.1} [{min:>5.1}]  {agrees}",
            "onvif-zeep-async 4.3.0",
            median(times)
        );
        if !unknown.is_empty() {
            println!(
                "{:<34} (its WSDL lacks: {})",
                "",
                unknown.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
}
