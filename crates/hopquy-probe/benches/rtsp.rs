//! RTSP route discovery: hopquy's probe against nmap's `rtsp-url-brute`, side by side, on
//! the same simulated camera and the same path dictionary (test-cases/data/rtsp-paths.toml,
//! handed to nmap as its `urlfile`).
//!
//! Run: `cargo bench -p hopquy-probe --bench rtsp` (nmap is skipped, with a note, when it is
//! not installed). Speed targets live here, never in timed tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hopquy_probe::rtsp::{self, RtspProbeRequest};
use hopquy_probe::{Credential, Device, Limits, Recorder};
use hopquy_simcam::{SimCamera, SimConfig, SimSetup};

const OUR_RUNS: usize = 20;
const NMAP_RUNS: usize = 5;

fn dictionary() -> Vec<String> {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test-cases/data/rtsp-paths.toml");
    let text = std::fs::read_to_string(&file).expect("rtsp-paths.toml");
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("path = \""))
        .filter_map(|rest| rest.strip_suffix('"'))
        .map(str::to_owned)
        .collect()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

struct Row {
    tool: String,
    requests: String,
    found: String,
    median: Duration,
    runs: usize,
}

async fn ours(port: u16, paths: &[String], credential: Option<Credential>, label: &str) -> Row {
    let device = Device::new("127.0.0.1", Limits::default());
    let request = RtspProbeRequest {
        port,
        paths: paths.to_vec(),
        credential,
    };
    let mut samples = Vec::new();
    let mut last = None;
    for _ in 0..OUR_RUNS {
        let rec = Recorder::default();
        let begun = Instant::now();
        let report = rtsp::probe(&device, &request, &rec).await.expect("probe");
        samples.push(begun.elapsed());
        last = Some((report, rec.len()));
    }
    let (report, requests) = last.unwrap();
    Row {
        tool: format!("hopquy rtsp ({label})"),
        requests: requests.to_string(),
        found: format!("{} open / {} routes", report.open_routes.len(), report.routes.len()),
        median: median(samples),
        runs: OUR_RUNS,
    }
}

fn nmap_present() -> bool {
    std::process::Command::new("nmap")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// nmap's scripts only run on port 554 or a port nmap believes is RTSP: a one-line
/// services file says so, which avoids a slow `-sV` service scan.
fn nmap(port: u16, paths: &[String]) -> Row {
    let dir = std::env::temp_dir().join(format!("hopquy-bench-rtsp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let services = dir.join("services");
    std::fs::write(&services, format!("rtsp\t{port}/tcp\t0.5\n")).unwrap();
    let urls = dir.join("urls.txt");
    std::fs::write(&urls, paths.join("\n") + "\n").unwrap();
    let mut samples = Vec::new();
    let mut output = String::new();
    for _ in 0..NMAP_RUNS {
        let begun = Instant::now();
        let out = std::process::Command::new("nmap")
            .args([
                "-Pn",
                "-n",
                "--top-ports",
                "1",
                "--script",
                "rtsp-url-brute",
                "--servicedb",
            ])
            .arg(&services)
            .arg("--script-args")
            .arg(format!("rtsp-url-brute.urlfile={}", urls.display()))
            .arg("127.0.0.1")
            .output()
            .expect("nmap");
        samples.push(begun.elapsed());
        output = String::from_utf8_lossy(&out.stdout).into_owned();
    }
    let _ = std::fs::remove_dir_all(&dir);
    // rtsp-url-brute lists `discovered:` URLs (200) and `other responses:` by status.
    let mut section = "";
    let (mut discovered, mut other) = (0, 0);
    for line in output.lines() {
        let l = line.trim_start_matches(['|', '_', ' ']);
        if l.starts_with("discovered:") || l.starts_with("other responses:") {
            section = if l.starts_with("discovered") { "d" } else { "o" };
        } else if l.starts_with("rtsp://") {
            match section {
                "d" => discovered += 1,
                "o" => other += 1,
                _ => {}
            }
        }
    }
    Row {
        tool: "nmap rtsp-url-brute".into(),
        requests: paths.len().to_string(),
        found: format!("{discovered} discovered (200) / {other} other"),
        median: median(samples),
        runs: NMAP_RUNS,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let paths = dictionary();
    runtime.block_on(async {
        let camera = SimCamera::start(SimConfig::new(SimSetup::parse("hardened+rtsp-no-auth").unwrap()))
            .await
            .unwrap();
        let port = camera.ports()["rtsp"];
        let admin = Credential {
            username: camera.admin_user().to_owned(),
            password: camera.admin_password(),
            secret: true,
        };
        println!(
            "RTSP route discovery, simulated camera hardened+rtsp-no-auth on 127.0.0.1:{port}, {} dictionary paths",
            paths.len()
        );
        let mut rows = vec![
            ours(port, &paths, None, "anonymous").await,
            ours(port, &paths, Some(admin), "with credentials").await,
        ];
        if nmap_present() {
            rows.push(nmap(port, &paths));
        } else {
            println!("(nmap not installed: its row is skipped)");
        }
        println!();
        println!("| tool | requests | found | median ms | runs |");
        println!("|---|---|---|---|---|");
        for row in rows {
            println!(
                "| {} | {} | {} | {} | {} |",
                row.tool,
                row.requests,
                row.found,
                ms(row.median),
                row.runs
            );
        }
        camera.shutdown().await;
    });
}
