//! Fleet inspection through the built binary: `hopquy sim --fleet` cameras and their
//! inventory, `hopquy fleet run` (staged with --max-devices, then --resume), the report
//! checked against the expected verdicts the simulator wrote, an unreachable camera recorded
//! without stalling the others, and a malformed inventory auditing nothing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::bin::{hopquy_bin, text};
use hopquy_tests::repo_root;

pub(crate) const PASSWORD: &str = "Fleet-Test-9!pw";

/// `hopquy ARGS` with the simulated fleet's password variable set (the inventory names it).
pub(crate) fn hopquy(args: &[&str], cwd: &Path) -> Output {
    Command::new(hopquy_bin())
        .args(args)
        .current_dir(cwd)
        .env("HOPQUY_SUITE", repo_root())
        .env("HOPQUY_SIM_PASSWORD", PASSWORD)
        .output()
        .expect("run hopquy")
}

/// The `hopquy sim --fleet` process this test started; killed (by its own handle) on drop.
pub(crate) struct SimFleet(Child);

impl Drop for SimFleet {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn start_sim_fleet(n: usize, inventory: &Path) -> SimFleet {
    let child = Command::new(hopquy_bin())
        .args(["sim", "--fleet", &n.to_string(), "--write-inventory"])
        .arg(inventory)
        .env("HOPQUY_SUITE", repo_root())
        .env("HOPQUY_SIM_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hopquy sim --fleet");
    let fleet = SimFleet(child);
    let expected = inventory.with_extension("expected.json");
    let begun = Instant::now();
    // The expected verdicts are written last: once they exist, the inventory is complete.
    while !expected.exists() {
        assert!(
            begun.elapsed() < Duration::from_secs(60),
            "sim --fleet wrote no inventory"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    fleet
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn device<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .unwrap_or_else(|| panic!("device {id} not in the report"))
}

#[test]
fn a_simulated_fleet_is_audited_in_stages_resumed_and_reported_as_expected() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("fleet.csv");
    let _sim = start_sim_fleet(6, &inventory);
    // A seventh camera nobody answers for: a fresh loopback address, every profile port on
    // a port nothing listens on.
    let mut csv = std::fs::read_to_string(&inventory).unwrap();
    csv.push_str("gone-01,127.63.250.9,http=9;https=9;rtsp=9;ssh=9,simcam,admin,HOPQUY_SIM_PASSWORD,,,,,,,,,,,,,\n");
    std::fs::write(&inventory, csv).unwrap();
    let expected = json(&inventory.with_extension("expected.json"));
    let out = dir.path().join("fleet-out");
    let out_s = out.to_str().unwrap();
    let inv_s = inventory.to_str().unwrap();

    // Stage 1: three devices.
    let o = hopquy(
        &[
            "fleet",
            "run",
            "--inventory",
            inv_s,
            "--out",
            out_s,
            "--concurrency",
            "3",
            "--max-devices",
            "3",
        ],
        dir.path(),
    );
    let first = json(&out.join("fleet-report.json"));
    assert_eq!(first["devices"].as_array().unwrap().len(), 3, "{}", text(&o));
    assert_eq!(first["not_audited"], 4, "{}", text(&o));
    // legacy (sim-02) fails clauses: exit 1.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let run_id_of = |id: &str| json(&out.join("devices").join(id).join("results.json"))["run_id"].clone();
    let stage1_runs: Vec<serde_json::Value> = ["sim-01", "sim-02", "sim-03"].iter().map(|id| run_id_of(id)).collect();

    // A bundle left by a device cut off before it was recorded is set aside, not reused.
    std::fs::create_dir_all(out.join("devices/sim-05")).unwrap();
    std::fs::write(out.join("devices/sim-05/junk"), "half a bundle").unwrap();

    // Stage 2: --resume does the other four and none of the first three again.
    let o = hopquy(
        &[
            "fleet",
            "run",
            "--inventory",
            inv_s,
            "--out",
            out_s,
            "--concurrency",
            "3",
            "--resume",
        ],
        dir.path(),
    );
    let t = text(&o);
    assert!(t.contains("3 already recorded, 4 to audit now"), "{t}");
    assert_eq!(o.status.code(), Some(1), "{t}");
    let report = json(&out.join("fleet-report.json"));
    let devices = report["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 7, "{t}");
    assert_eq!(report["not_audited"], 0);
    for (i, id) in ["sim-01", "sim-02", "sim-03"].iter().enumerate() {
        assert_eq!(run_id_of(id), stage1_runs[i], "{id} was audited twice");
        assert_eq!(device(&report, id)["started"], device(&first, id)["started"], "{id}");
    }
    assert!(!out.join("devices/sim-05/junk").exists());
    assert!(out.join("devices/.unrecorded").is_dir());

    // Every verdict the cases' own fixtures assert for these setups is what the fleet found.
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (id, want) in expected["devices"].as_object().unwrap() {
        let got = device(&report, id);
        assert_eq!(got["status"], "audited", "{id}: {got}");
        for (case, verdict) in want["cases"].as_object().unwrap() {
            checked += 1;
            if got["cases"][case] != *verdict {
                wrong.push(format!(
                    "{id} ({}) {case}: expected {verdict}, got {}",
                    want["setup"], got["cases"][case]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked >= 25, "only {checked} verdicts checked");
    let hardened = device(&report, "sim-01");
    assert_eq!(hardened["failing_clauses"].as_array().unwrap().len(), 0, "{hardened}");
    assert!(
        !device(&report, "sim-02")["failing_clauses"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The unreachable camera is recorded as such, and the others were audited all the same.
    let gone = device(&report, "gone-01");
    assert_eq!(gone["status"], "unreachable", "{gone}");
    assert_eq!(report["totals"]["unreachable"], 1);
    assert_eq!(report["totals"]["audited"], 6);

    // The CSV has a row per device and case (and one for the unreachable camera), the HTML
    // the per-camera table; no password reached anything in the fleet directory.
    let csv = std::fs::read_to_string(out.join("fleet-report.csv")).unwrap();
    let cases = report["run"]["cases"].as_array().unwrap().len();
    assert_eq!(csv.lines().count(), 1 + 6 * cases + 1, "{csv}");
    let html = std::fs::read_to_string(out.join("fleet-report.html")).unwrap();
    assert!(html.contains("gone-01") && html.contains("<svg"), "html");
    for f in walk(&out) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()),
            "the password is in {}",
            f.display()
        );
    }

    // Resuming a finished run audits nothing; report --diff against itself changes nothing.
    let o = hopquy(
        &["fleet", "run", "--inventory", inv_s, "--out", out_s, "--resume"],
        dir.path(),
    );
    assert!(text(&o).contains("7 already recorded, 0 to audit now"), "{}", text(&o));
    let o = hopquy(&["fleet", "report", out_s, "--diff", out_s], dir.path());
    assert!(text(&o).contains("0 cameras fixed, 0 regressed"), "{}", text(&o));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_malformed_inventory_names_file_and_line_and_audits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("fleet.csv");
    std::fs::write(
        &inventory,
        "id,host,profile,username,password_env\ncam-1,127.63.250.10,simcam,admin,HOPQUY_SIM_PASSWORD\ncam-2,127.63.250.11,simcm,admin,HOPQUY_SIM_PASSWORD\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = hopquy(
        &[
            "fleet",
            "run",
            "--inventory",
            inventory.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("fleet.csv:3:1") && t.contains("no profile `simcm`"), "{t}");
    assert!(!out.exists(), "nothing may be written before the inventory is fixed");

    // A password reference that does not resolve is found before anything is contacted too.
    std::fs::write(
        &inventory,
        "id,host,profile,username,password_env\ncam-1,127.63.250.10,simcam,admin,HOPQUY_FLEET_TEST_UNSET_VAR\n",
    )
    .unwrap();
    let o = hopquy(
        &[
            "fleet",
            "run",
            "--inventory",
            inventory.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("fleet.csv:2: device `cam-1`") && t.contains("HOPQUY_FLEET_TEST_UNSET_VAR"),
        "{t}"
    );
    assert!(!out.exists());
}

#[test]
fn ctrl_c_stops_the_fleet_and_resume_finishes_it_with_each_device_once() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("fleet.csv");
    let _sim = start_sim_fleet(4, &inventory);
    let out = dir.path().join("out");
    let args = |resume: bool| {
        let mut a = vec![
            "fleet".to_owned(),
            "run".into(),
            "--inventory".into(),
            inventory.display().to_string(),
            "--out".into(),
            out.display().to_string(),
            "--concurrency".into(),
            "1".into(),
        ];
        if resume {
            a.push("--resume".into());
        }
        a
    };
    let child = Command::new(hopquy_bin())
        .args(args(false))
        .env("HOPQUY_SUITE", repo_root())
        .env("HOPQUY_SIM_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the store exists the run is under way; then Ctrl-C (SIGINT to this child only).
    let begun = Instant::now();
    while !out.join("fleet.sqlite").exists() {
        assert!(begun.elapsed() < Duration::from_secs(60), "the fleet run did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(4), "{t}");
    assert!(t.contains("interrupted: finish with"), "{t}");
    let stopped = json(&out.join("fleet-report.json"));
    let recorded = stopped["devices"].as_array().unwrap().len();
    assert!(recorded < 4, "the run finished before Ctrl-C reached it: {t}");

    let args = args(true);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = hopquy(&args, dir.path());
    let t = text(&o);
    assert!(
        t.contains(&format!("{recorded} already recorded, {} to audit now", 4 - recorded)),
        "{t}"
    );
    let report = json(&out.join("fleet-report.json"));
    let ids: Vec<&str> = report["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["sim-01", "sim-02", "sim-03", "sim-04"], "{t}");
    for d in stopped["devices"].as_array().unwrap() {
        let id = d["id"].as_str().unwrap();
        assert_eq!(device(&report, id)["finished"], d["finished"], "{id} was audited twice");
    }
    assert_eq!(report["not_audited"], 0);
}

/// A camera that accepts connections and never answers: its audit is stopped at the device
/// timeout and recorded as an error, and the fleet run ends all the same.
#[test]
fn a_camera_that_never_answers_is_stopped_at_the_device_timeout_and_recorded() {
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let listener = TcpListener::bind("127.63.250.20:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let tarpit = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            // Bounded: ends when the test says so, or after two minutes whatever happens.
            let begun = Instant::now();
            while !done.load(Ordering::SeqCst) && begun.elapsed() < Duration::from_secs(120) {
                if let Ok((s, _)) = listener.accept() {
                    held.push(s);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("fleet.toml");
    std::fs::write(
        &inventory,
        format!(
            "[[device]]\nid = \"tarpit\"\nhost = \"127.63.250.20\"\nprofile = \"simcam\"\nusername = \"admin\"\npassword_env = \"HOPQUY_SIM_PASSWORD\"\ntimeout_s = 2\nports = {{ http = {port}, https = {port}, rtsp = {port}, ssh = {port} }}\nport_sweep = \"profile\"\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let begun = Instant::now();
    let o = hopquy(
        &[
            "fleet",
            "run",
            "--inventory",
            inventory.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--device-timeout-s",
            "4",
        ],
        dir.path(),
    );
    let elapsed = begun.elapsed();
    done.store(true, Ordering::SeqCst);
    let _ = tarpit.join();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(4), "{t}");
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}: {t}");
    let report = json(&out.join("fleet-report.json"));
    let d = device(&report, "tarpit");
    assert_eq!(d["status"], "error", "{d}");
    assert!(
        d["detail"].as_str().unwrap().contains("did not finish within 4 s"),
        "{d}"
    );
    assert_eq!(report["totals"]["errors"], 1);
}

/// `profile = auto`: every simulated camera is identified as `simcam` from its own answers
/// (RTSP Server, ONVIF manufacturer), gets the verdicts its setup must give, and its bundle
/// records how (with no password). Hostile and silent answers are the unit tests' (runner identify.rs).
#[test]
fn auto_profiles_are_identified_from_the_cameras_answers_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("fleet.csv");
    let _sim = start_sim_fleet(3, &inventory);
    let csv = std::fs::read_to_string(&inventory)
        .unwrap()
        .replace(",simcam,", ",auto,");
    std::fs::write(&inventory, csv).unwrap();
    let expected = json(&inventory.with_extension("expected.json"));
    let out = dir.path().join("out");
    let o = hopquy(
        &[
            "fleet",
            "run",
            "--inventory",
            inventory.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    let report = json(&out.join("fleet-report.json"));
    for (id, want) in expected["devices"].as_object().unwrap() {
        let got = device(&report, id);
        assert_eq!(got["status"], "audited", "{id}: {got}\n{}", text(&o));
        assert_eq!(got["profile"], "simcam", "{id}: {got}");
        for (case, verdict) in want["cases"].as_object().unwrap() {
            assert_eq!(got["cases"][case], *verdict, "{id} {case}");
        }
        let bundle = out.join("devices").join(id);
        let found = &json(&bundle.join("results.json"))["profile_identified"];
        assert_eq!(found["outcome"], "identified", "{id}: {found}");
        assert_eq!(found["profile"], "simcam", "{id}: {found}");
        let exchanges = std::fs::read_to_string(bundle.join("identify/exchanges.jsonl")).unwrap();
        assert!(exchanges.contains("OPTIONS"), "{exchanges}");
        assert!(
            !exchanges.contains(PASSWORD),
            "the password reached the identification's evidence"
        );
    }
}
