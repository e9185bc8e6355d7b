//! A fleet run shared through NATS JetStream, through the built binary: Debian's nats-server
//! on loopback (random port, JetStream in a scratch directory), `hopquy sim --fleet`
//! cameras, `fleet submit`, a worker killed (SIGKILL) while it audits a device, a second
//! worker that gets that device redelivered, and `fleet report --nats` holding every device
//! exactly once with the verdicts the simulator expects. Then a server stopped mid-run: the
//! worker exits with a clear message, and once the server is back nothing is lost.
//!
//! Needs Debian `nats-server` (2.9+). Missing, the tests skip, unless
//! `HOPQUY_REQUIRE_PEERS=1`, which makes it a failure.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::bin::{hopquy_bin, text};
use crate::fleet::{PASSWORD, hopquy, start_sim_fleet};
use hopquy_tests::repo_root;

const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// False (after saying so) when the peer is missing; panics instead under CI's
/// `HOPQUY_REQUIRE_PEERS=1`.
fn nats_available() -> bool {
    if Path::new(NATS_SERVER).is_file() {
        return true;
    }
    assert!(
        std::env::var("HOPQUY_REQUIRE_PEERS").as_deref() != Ok("1"),
        "{NATS_SERVER} not installed, and HOPQUY_REQUIRE_PEERS=1"
    );
    println!("skipped: {NATS_SERVER} not installed");
    false
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process this test started; killed (by its own handle) on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nats-server on 127.0.0.1:`port` with JetStream stored in `dir`; returns once it accepts.
fn start_nats(port: u16, dir: &Path) -> Proc {
    let child = Command::new(NATS_SERVER)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nats-server");
    let server = Proc(child);
    let begun = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(begun.elapsed() < Duration::from_secs(20), "nats-server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    // JetStream is ready a moment after the port opens.
    std::thread::sleep(Duration::from_millis(500));
    server
}

/// A worker whose stderr lines arrive on a channel as it writes them.
struct Worker {
    proc: Proc,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

fn start_worker(url: &str, run: &str, out: &Path, cwd: &Path) -> Worker {
    start_worker_with(url, run, out, cwd, &[])
}

fn start_worker_with(url: &str, run: &str, out: &Path, cwd: &Path, env: &[(&str, &str)]) -> Worker {
    let mut child = Command::new(hopquy_bin())
        .args(["fleet", "worker", "--nats", url, "--run", run, "--out"])
        .arg(out)
        .current_dir(cwd)
        .env("HOPQUY_SUITE", repo_root())
        .env("HOPQUY_SIM_PASSWORD", PASSWORD)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hopquy fleet worker");
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    Worker {
        proc: Proc(child),
        lines,
        seen: Vec::new(),
    }
}

impl Worker {
    /// Waits for a line containing `what`; returns it.
    fn wait_for(&mut self, what: &str, limit: Duration) -> String {
        let begun = Instant::now();
        loop {
            let left = limit.saturating_sub(begun.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(what) {
                        return line;
                    }
                }
                Err(_) => panic!("no `{what}` from the worker; it said:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Waits for the worker to exit; returns its code and everything it said.
    fn finish(mut self, limit: Duration) -> (Option<i32>, String) {
        let begun = Instant::now();
        loop {
            if let Some(status) = self.proc.0.try_wait().unwrap() {
                // The reader thread ends at EOF: drain what is left.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
                    self.seen.push(line);
                }
                return (status.code(), self.seen.join("\n"));
            }
            assert!(
                begun.elapsed() < limit,
                "the worker did not finish; it said:\n{}",
                self.seen.join("\n")
            );
            while let Ok(line) = self.lines.try_recv() {
                self.seen.push(line);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Every device of the report once, audited, with the simulator's expected verdicts.
fn check_report(report: &serde_json::Value, expected: &serde_json::Value, n: usize) {
    let devices = report["devices"].as_array().unwrap();
    let mut ids: Vec<&str> = devices.iter().map(|d| d["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "{report}");
    assert_eq!(devices.len(), n, "a device appears twice: {report}");
    assert_eq!(report["not_audited"], 0);
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (id, want) in expected["devices"].as_object().unwrap() {
        let got = devices.iter().find(|d| d["id"] == *id).unwrap();
        assert_eq!(got["status"], "audited", "{id}: {got}");
        for (case, verdict) in want["cases"].as_object().unwrap() {
            checked += 1;
            if got["cases"][case] != *verdict {
                wrong.push(format!("{id} {case}: expected {verdict}, got {}", got["cases"][case]));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked >= 10, "only {checked} verdicts checked");
}

#[test]
fn a_worker_killed_mid_device_loses_nothing_and_the_report_holds_each_device_once() {
    if !nats_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _nats = start_nats(port, &dir.path().join("js"));
    let url = format!("nats://127.0.0.1:{port}");
    let inventory = dir.path().join("fleet.csv");
    let _sim = start_sim_fleet(4, &inventory);
    let expected = json(&inventory.with_extension("expected.json"));

    let o = hopquy(
        &[
            "fleet",
            "submit",
            "--nats",
            &url,
            "--inventory",
            inventory.to_str().unwrap(),
            "--run",
            "kill-test",
            "--device-timeout-s",
            "20",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("4 devices queued"), "{}", text(&o));
    // Submitted again (a half-done submit resumed): the server drops every device as a
    // duplicate of its (run, device) message id, so each is queued once.
    let again = hopquy(
        &[
            "fleet",
            "submit",
            "--nats",
            &url,
            "--inventory",
            inventory.to_str().unwrap(),
            "--run",
            "kill-test",
            "--device-timeout-s",
            "20",
        ],
        dir.path(),
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        text(&again).contains("0 devices queued") && text(&again).contains("resumed: 4 already queued"),
        "{}",
        text(&again)
    );
    // The same run with another inventory is refused: its devices would not compare.
    let other = dir.path().join("other.csv");
    std::fs::write(
        &other,
        std::fs::read_to_string(&inventory)
            .unwrap()
            .lines()
            .take(2)
            .collect::<Vec<_>>()
            .join("\n")
            + "\n",
    )
    .unwrap();
    let refused = hopquy(
        &[
            "fleet",
            "submit",
            "--nats",
            &url,
            "--inventory",
            other.to_str().unwrap(),
            "--run",
            "kill-test",
            "--device-timeout-s",
            "20",
        ],
        dir.path(),
    );
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("already submitted"), "{}", text(&refused));

    // Worker A finishes its first device, then is killed in the middle of its second.
    let w1 = dir.path().join("w1");
    let mut a = start_worker(&url, "kill-test", &w1, dir.path());
    a.wait_for("auditing", Duration::from_secs(60));
    let second = a.wait_for("auditing", Duration::from_secs(120));
    let killed = second
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no device in `{second}`"))
        .to_owned();
    a.proc.0.kill().unwrap();
    let _ = a.proc.0.wait();

    // Worker B takes the rest, and the killed device once its ack wait is over.
    let w2 = dir.path().join("w2");
    let b = start_worker(&url, "kill-test", &w2, dir.path());
    let a_said = a.seen.join("\n");
    let (code, said) = b.finish(Duration::from_secs(180));
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains(&format!("auditing {killed} (delivery 2)")),
        "{killed} was not redelivered:\n{said}"
    );
    // Each device audited once (the killed one once by each worker): the second submit
    // queued nothing.
    for id in expected["devices"].as_object().unwrap().keys() {
        let times = format!("{a_said}\n{said}")
            .lines()
            .filter(|l| l.starts_with(&format!("auditing {id} ")))
            .count();
        assert_eq!(times, if *id == killed { 2 } else { 1 }, "{id}:\n{a_said}\n{said}");
    }
    assert!(said.contains("the queue is empty"), "{said}");

    let out = dir.path().join("collected");
    let o = hopquy(
        &[
            "fleet",
            "report",
            "--nats",
            &url,
            "--run",
            "kill-test",
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    let t = text(&o);
    // sim-02 (legacy) fails clauses.
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("4 of 4 devices have a result"), "{t}");
    let report = json(&out.join("fleet-report.json"));
    check_report(&report, &expected, 4);
    assert_eq!(report["run"]["run_id"], "kill-test");
    // The report says where each bundle is: the worker's host name and the path there.
    for d in report["devices"].as_array().unwrap() {
        let path = PathBuf::from(
            d["bundle_path"]
                .as_str()
                .unwrap_or_else(|| panic!("no bundle_path: {d}")),
        );
        assert!(!d["bundle_host"].as_str().unwrap_or("").is_empty(), "{d}");
        assert!(path.is_absolute() && path.join("results.json").is_file(), "{d}");
        assert!(path.starts_with(&w1) || path.starts_with(&w2), "{d}");
    }
    let csv = std::fs::read_to_string(out.join("fleet-report.csv")).unwrap();
    assert!(csv.lines().next().unwrap().ends_with(",bundle"), "{csv}");
    // Each device's result came from the worker that finished it: the killed one's from B.
    let recorded_by = |w: &Path, id: &str| w.join("devices").join(id).join("results.json").is_file();
    assert!(recorded_by(&w2, &killed), "{killed} has no bundle from worker B");
    let a_store = finished_bundles(&w1);
    assert!(
        !a_store.contains(&killed),
        "worker A recorded {killed} although it was killed"
    );

    // Collecting again adds nothing and still reports each device once.
    let o = hopquy(
        &[
            "fleet",
            "report",
            "--nats",
            &url,
            "--run",
            "kill-test",
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(text(&o).contains("(0 new here)"), "{}", text(&o));
    check_report(&json(&out.join("fleet-report.json")), &expected, 4);

    // No password anywhere: not in a queued message, a result, a store or a bundle.
    for f in walk(dir.path()) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !bytes.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()),
            "the password is in {}",
            f.display()
        );
    }
}

/// A device whose audit kills every worker that takes it (the test-only
/// `HOPQUY_TEST_CRASH_ON_DEVICE` hook) is handed out `--max-deliver` times, then recorded as
/// given up, so the workers finish and the report says so instead of it cycling for ever.
#[test]
fn a_device_that_kills_every_worker_is_given_up_after_max_deliver() {
    if !nats_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _nats = start_nats(port, &dir.path().join("js"));
    let url = format!("nats://127.0.0.1:{port}");
    // Never contacted: every worker dies before the audit starts.
    let inventory = dir.path().join("fleet.csv");
    std::fs::write(
        &inventory,
        "id,host,profile,username,password_env\ncrash-1,127.63.250.30,simcam,admin,HOPQUY_SIM_PASSWORD\n",
    )
    .unwrap();
    let o = hopquy(
        &[
            "fleet",
            "submit",
            "--nats",
            &url,
            "--inventory",
            inventory.to_str().unwrap(),
            "--run",
            "crash-test",
            // A short ack wait (1 s + 5 s): the redeliveries come quickly.
            "--device-timeout-s",
            "1",
            "--max-deliver",
            "2",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("given up after 2 lost deliveries"), "{}", text(&o));
    let crash = [("HOPQUY_TEST_CRASH_ON_DEVICE", "crash-1")];
    for delivery in 1..=2 {
        let w = start_worker_with(
            &url,
            "crash-test",
            &dir.path().join(format!("w{delivery}")),
            dir.path(),
            &crash,
        );
        let (code, said) = w.finish(Duration::from_secs(60));
        assert_eq!(code, Some(101), "{said}");
        assert!(
            said.contains(&format!("auditing crash-1 (delivery {delivery})")),
            "{said}"
        );
    }
    // The third delivery is not audited (the hook would kill this worker too): recorded.
    let w = start_worker_with(&url, "crash-test", &dir.path().join("w3"), dir.path(), &crash);
    let (code, said) = w.finish(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("crash-1: gave up after 2 deliveries"), "{said}");
    assert!(!said.contains("auditing crash-1"), "{said}");
    assert!(said.contains("the queue is empty"), "{said}");

    let out = dir.path().join("collected");
    let o = hopquy(
        &[
            "fleet",
            "report",
            "--nats",
            &url,
            "--run",
            "crash-test",
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    // Not audited: neither a pass nor a fail.
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let report = json(&out.join("fleet-report.json"));
    let d = &report["devices"][0];
    assert_eq!(d["id"], "crash-1", "{report}");
    assert_eq!(d["status"], "gave_up", "{report}");
    assert!(
        d["detail"].as_str().unwrap().starts_with("gave up after 2 deliveries"),
        "{report}"
    );
    assert_eq!(report["totals"]["gave_up"], 1, "{report}");
}

/// The device ids in a worker directory's bundles that have a finished `results.json`.
fn finished_bundles(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("devices"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("results.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_lost_nats_server_stops_the_worker_cleanly_and_the_run_resumes_with_nothing_lost() {
    if !nats_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let js = dir.path().join("js");
    let nats = start_nats(port, &js);
    let url = format!("nats://127.0.0.1:{port}");
    let inventory = dir.path().join("fleet.csv");
    let _sim = start_sim_fleet(3, &inventory);
    let expected = json(&inventory.with_extension("expected.json"));
    let o = hopquy(
        &[
            "fleet",
            "submit",
            "--nats",
            &url,
            "--inventory",
            inventory.to_str().unwrap(),
            "--run",
            "lost-test",
            "--device-timeout-s",
            "20",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let w = dir.path().join("w");
    let mut worker = start_worker(&url, "lost-test", &w, dir.path());
    worker.wait_for("auditing", Duration::from_secs(60));
    drop(nats);
    let (code, said) = worker.finish(Duration::from_secs(60));
    assert_eq!(code, Some(3), "{said}");
    assert!(said.contains("lost the connection to the NATS server"), "{said}");
    assert!(!said.contains("panicked"), "{said}");

    // The server back on its own storage: the same worker directory finishes the run.
    let _nats = start_nats(port, &js);
    let worker = start_worker(&url, "lost-test", &w, dir.path());
    let (code, said) = worker.finish(Duration::from_secs(180));
    assert_eq!(code, Some(0), "{said}");
    let out = dir.path().join("collected");
    let o = hopquy(
        &[
            "fleet",
            "report",
            "--nats",
            &url,
            "--run",
            "lost-test",
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(text(&o).contains("3 of 3 devices have a result"), "{}", text(&o));
    check_report(&json(&out.join("fleet-report.json")), &expected, 3);
}
