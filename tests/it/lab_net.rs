//! The lab-network cases (`lab_net = "required"`) against the simulated camera behind
//! hopquy's own network, end to end through the built binary: per setup the cases' `[sim]`
//! tables name, two network namespaces joined by a veth pair (never the host's interfaces),
//! the camera in one (`hopquy sim --uplink-resolver`, a static address, its default route
//! through hopquy), `hopquy run --lab-net` in the other. Each case must pass against its
//! `sim.pass` setups and fail against its `sim.fail` ones, and every bundle must verify. The
//! runs get a small GeoIP file (tests/fixtures/geoip-lab.csv) and the regulation the case maps
//! to (QCVN 135, else QCVN 11 for its own topics).
//!
//! Needs root and iproute2. Without them the test prints why and passes, unless
//! `HOPQUY_REQUIRE_NETNS` is set (CI sets it), in which case it fails.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hopquy_case::LabNetUse;
use hopquy_tests::{repo_root, suite};
use serde_json::Value;

use crate::bin::{hopquy_bin, text};

const CAMERA: &str = "10.77.0.100";
/// hopquy's address on the lab network (the lab network's default subnet).
const LAB: &str = "10.77.0.1";
const PORT_BASE: &str = "18000";
const PASSWORD: &str = "Lab-net-t3st-pw";

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
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    out
}

/// Whether the test can run here; panics when it cannot but is required to.
fn netns_available() -> bool {
    let why = if !is_root() {
        Some("not root")
    } else if Command::new("ip").arg("-V").output().is_err() {
        Some("iproute2 (`ip`) is not installed")
    } else {
        None
    };
    match why {
        None => true,
        Some(why) => {
            assert!(
                std::env::var_os("HOPQUY_REQUIRE_NETNS").is_none(),
                "HOPQUY_REQUIRE_NETNS is set but the lab-network test cannot run: {why}"
            );
            eprintln!("skipping the lab-network end-to-end test: {why}");
            false
        }
    }
}

/// The lab's namespace and the camera's, joined by a veth pair; deleted on drop, even when
/// the test panics (the pair goes with its namespaces).
struct Bench {
    lab_ns: String,
    cam_ns: String,
    lab_if: String,
}

impl Bench {
    fn create(index: usize) -> Bench {
        let id = format!("{}{index}", std::process::id());
        let b = Bench {
            lab_ns: format!("hqit{id}l"),
            cam_ns: format!("hqit{id}c"),
            lab_if: format!("hil{id}"),
        };
        let cam_if = format!("hic{id}");
        sh(&["ip", "netns", "add", &b.lab_ns]);
        sh(&["ip", "netns", "add", &b.cam_ns]);
        sh(&["ip", "link", "add", &b.lab_if, "type", "veth", "peer", "name", &cam_if]);
        sh(&["ip", "link", "set", &b.lab_if, "netns", &b.lab_ns]);
        sh(&["ip", "link", "set", &cam_if, "netns", &b.cam_ns]);
        for (ns, ifc) in [(&b.lab_ns, &b.lab_if), (&b.cam_ns, &cam_if)] {
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            sh(&["ip", "-n", ns, "link", "set", ifc, "up"]);
        }
        // A camera configured with a static address, its gateway hopquy: names it resolves
        // and the address it has hard-coded both go to the lab network.
        sh(&[
            "ip",
            "-n",
            &b.cam_ns,
            "addr",
            "add",
            &format!("{CAMERA}/24"),
            "dev",
            &cam_if,
        ]);
        sh(&["ip", "-n", &b.cam_ns, "route", "add", "default", "via", LAB]);
        b
    }

    fn in_ns(&self, ns: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, hopquy_bin()])
            .args(args)
            .env("HOPQUY_SUITE", repo_root())
            .env("HOPQUY_SIM_PASSWORD", PASSWORD);
        cmd
    }

    fn camera(&self, setup: &str, write_target: Option<&Path>) -> Child {
        let mut args = vec![
            "sim",
            "--personality",
            setup,
            "--bind",
            CAMERA,
            "--port-base",
            PORT_BASE,
            "--uplink-resolver",
        ];
        let resolver = format!("{LAB}:53");
        args.push(&resolver);
        let target = write_target.map(|p| p.display().to_string());
        if let Some(t) = &target {
            args.extend(["--write-target", t.as_str()]);
        }
        self.in_ns(&self.cam_ns, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        for ns in [&self.lab_ns, &self.cam_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// One setup: the camera's target file, then the run with the lab network, the camera
/// switched on once the network is up (as a lab connects it when hopquy says so).
/// Returns the bundle's results.json and what `verify` said.
fn run_setup(index: usize, setup: &str, regulation: &str, cases: &[String], dir: &Path) -> (Value, Output) {
    let bench = Bench::create(index);
    let target = dir.join("target.toml");
    let writer = bench.camera(setup, Some(&target));
    for _ in 0..200 {
        if std::fs::read_to_string(&target).is_ok_and(|t| t.contains("[declared")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop(writer);
    assert!(target.exists(), "{setup}: the simulator wrote no target file");

    let bundle = dir.join("bundle");
    let cases = cases.join(",");
    let geoip = repo_root().join("tests/fixtures/geoip-lab.csv");
    let mut run = bench
        .in_ns(
            &bench.lab_ns,
            &[
                "run",
                "--target",
                target.to_str().unwrap(),
                "--out",
                bundle.to_str().unwrap(),
                "--lab-net",
                &bench.lab_if,
                "--geoip",
                geoip.to_str().unwrap(),
                "--non-interactive",
                "--regulation",
                regulation,
                "--cases",
                &cases,
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (up_tx, up_rx) = mpsc::channel();
    let stderr = run.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("lab network up") {
                let _ = up_tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let camera = up_rx
        .recv_timeout(Duration::from_secs(60))
        .ok()
        .map(|()| bench.camera(setup, None));
    let status = run.wait().unwrap();
    if let Some(camera) = camera {
        stop(camera);
    }
    let log = reader.join().unwrap();
    let results = std::fs::read(bundle.join("results.json"))
        .unwrap_or_else(|e| panic!("{setup}: no results.json ({e}); run exited {status}:\n{log}"));
    let verify = Command::new(hopquy_bin())
        .args(["verify", bundle.to_str().unwrap()])
        .output()
        .unwrap();
    (serde_json::from_slice(&results).unwrap(), verify)
}

#[test]
fn every_lab_network_case_passes_and_fails_its_fixtures_behind_hopquys_network() {
    if !netns_available() {
        return;
    }
    let suite = suite();
    // (setup, regulation) → (case, expected verdict); a case is run under QCVN 135 unless
    // it maps only to another regulation (QCVN 11's own topics).
    let mut setups: BTreeMap<(String, String), Vec<(String, &str)>> = BTreeMap::new();
    for loaded in &suite.cases {
        let c = &loaded.case;
        if c.lab_net != Some(LabNetUse::Required) {
            continue;
        }
        let sim = c
            .sim
            .as_ref()
            .unwrap_or_else(|| panic!("lab-network case {} has no [sim]", c.id.get_ref()));
        assert!(
            !sim.pass.is_empty() && !sim.fail.is_empty(),
            "{}: needs pass and fail setups",
            c.id.get_ref()
        );
        let regulation = if c.clauses.contains_key("qcvn135-2024") {
            "qcvn135-2024"
        } else {
            c.clauses
                .keys()
                .next()
                .unwrap_or_else(|| panic!("{} maps to no regulation", c.id.get_ref()))
        };
        for (setups_of, want) in [(&sim.pass, "pass"), (&sim.fail, "fail")] {
            for s in setups_of {
                setups
                    .entry((s.get_ref().clone(), regulation.to_string()))
                    .or_default()
                    .push((c.id.get_ref().clone(), want));
            }
        }
    }
    assert!(setups.len() >= 2, "the lab-network cases name their setups: {setups:?}");

    let dirs: Vec<tempfile::TempDir> = setups.keys().map(|_| tempfile::tempdir().unwrap()).collect();
    // Every setup in its own pair of namespaces, all at once: each run mostly waits.
    let outcomes: Vec<((String, String), Value, Output)> = std::thread::scope(|scope| {
        let handles: Vec<_> = setups
            .iter()
            .zip(&dirs)
            .enumerate()
            .map(|(index, (((setup, regulation), wants), dir))| {
                scope.spawn(move || {
                    let cases: Vec<String> = wants.iter().map(|(id, _)| id.clone()).collect();
                    let (results, verify) = run_setup(index, setup, regulation, &cases, dir.path());
                    ((setup.clone(), regulation.clone()), results, verify)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let mut wrong = Vec::new();
    for (key, results, verify) in &outcomes {
        let setup = format!("{} ({})", key.0, key.1);
        if !verify.status.success() {
            wrong.push(format!("{setup}: the bundle does not verify: {}", text(verify)));
        }
        if results["lab_net"].is_null() {
            wrong.push(format!("{setup}: results.json records no lab network"));
        }
        for (id, want) in &setups[key] {
            let got = results["cases"]
                .as_array()
                .and_then(|cases| cases.iter().find(|c| c["id"] == id.as_str()));
            match got {
                Some(c) if c["verdict"] == *want => {}
                Some(c) => wrong.push(format!(
                    "{id} against `{setup}`: expected {want}, got {} — {}\n  observed: {}",
                    c["verdict"],
                    c["summary"],
                    c["steps"]
                        .as_array()
                        .map(|steps| steps
                            .iter()
                            .map(|s| s["observations"].to_string())
                            .collect::<Vec<_>>()
                            .join("; "))
                        .unwrap_or_default()
                )),
                None => wrong.push(format!("{id} against `{setup}`: not in results.json")),
            }
        }
    }
    assert!(wrong.is_empty(), "lab-network fixtures wrong:\n{}", wrong.join("\n"));
}
