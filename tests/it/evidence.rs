//! The regulator's flows through the binary: signed bundles, re-running a bundle's exact
//! definitions, diffing, and finishing an interrupted run without losing evidence.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hopquy_tests::{PASSWORD_VAR, Sim, repo_root, start_sim};

const QUICK: &str = "cleartext-basic-auth,unauthenticated-device-info,unauthenticated-user-list,lockout-http";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_hopquy")
}

fn cmd(sim: &Sim) -> Command {
    let mut c = Command::new(bin());
    c.env("HOPQUY_SUITE", repo_root())
        .env(PASSWORD_VAR, sim.camera().admin_password());
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn target(sim: &Sim) -> PathBuf {
    sim.dir.path().join("target.toml")
}

fn run(sim: &Sim, out: &Path, extra: &[&str]) -> Output {
    let t = target(sim);
    let mut args = vec![
        "run",
        "--target",
        t.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--non-interactive",
    ];
    args.extend_from_slice(extra);
    cmd(sim).args(args).output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_bundle_verifies_only_with_the_lab_key() {
    let sim = start_sim("hardened").await;
    let dir = sim.dir.path().to_path_buf();
    let key = dir.join("lab");
    let o = cmd(&sim)
        .args(["keygen", "--out", key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let other = dir.join("other");
    assert!(
        cmd(&sim)
            .args(["keygen", "--out", other.to_str().unwrap()])
            .output()
            .unwrap()
            .status
            .success()
    );

    let out = dir.join("signed");
    let key_file = key.with_extension("key");
    let o = run(&sim, &out, &["--cases", QUICK, "--sign", key_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(out.join("manifest.sig").is_file());

    let good = key.with_extension("pub");
    let o = cmd(&sim)
        .args(["verify", out.to_str().unwrap(), "--key", good.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let bad = other.with_extension("pub");
    let o = cmd(&sim)
        .args(["verify", out.to_str().unwrap(), "--key", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "a foreign key must not verify: {}", text(&o));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_reproduces_the_verdicts_and_diff_shows_another_personality() {
    let hardened = start_sim("hardened").await;
    let a = hardened.dir.path().join("a");
    let o = run(&hardened, &a, &["--cases", QUICK]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let b = hardened.dir.path().join("b");
    let t = target(&hardened);
    let o = cmd(&hardened)
        .args([
            "rerun",
            a.to_str().unwrap(),
            "--target",
            t.to_str().unwrap(),
            "--out",
            b.to_str().unwrap(),
            "--non-interactive",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "rerun: {}", text(&o));
    // A partial run stays partial, with the same selection; untested clauses stay untested.
    let results = |dir: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap()
    };
    let (ra, rb) = (results(&a), results(&b));
    let mut quick: Vec<&str> = QUICK.split(',').collect();
    quick.sort_unstable();
    assert_eq!(ra["selection"], serde_json::json!(quick), "{ra}");
    assert_eq!(rb["selection"], ra["selection"]);
    assert_eq!(rb["clauses_not_tested"], ra["clauses_not_tested"]);
    assert!(!ra["clauses_not_tested"].as_array().unwrap().is_empty());
    let o = cmd(&hardened)
        .args(["diff", a.to_str().unwrap(), b.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "same device, same definitions, same verdicts: {}",
        text(&o)
    );

    let legacy = start_sim("legacy").await;
    let c = legacy.dir.path().join("c");
    let o = run(&legacy, &c, &["--cases", QUICK]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = cmd(&legacy)
        .args(["diff", a.to_str().unwrap(), c.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("lockout-http"),
        "diff names the changed case: {}",
        text(&o)
    );
    hardened.shutdown().await;
    legacy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_run_is_incomplete_and_resume_finishes_it() {
    let sim = start_sim("hardened").await;
    let out = sim.dir.path().join("bundle");
    let t = target(&sim);
    let mut child = cmd(&sim)
        .args([
            "run",
            "--target",
            t.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--non-interactive",
            "--cases",
            QUICK,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Interrupt once the first case is on disk and the lockout case (seconds long) is under way.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap_or_default();
        if events.contains("\"case\":\"lockout-http\"") {
            break;
        }
        assert!(Instant::now() < deadline, "run never reached lockout-http: {events}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(4), "interrupted run exits 4");

    let o = cmd(&sim).args(["verify", out.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("INCOMPLETE"), "{}", text(&o));
    let kept = std::fs::read_dir(out.join("cases")).unwrap().count();
    assert!(kept >= 1, "finished cases are kept");

    let o = cmd(&sim)
        .args([
            "run",
            "--target",
            t.to_str().unwrap(),
            "--resume",
            out.to_str().unwrap(),
            "--non-interactive",
            // No --cases: a resumed partial run keeps the selection it was started with.
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "resume: {}", text(&o));
    let o = cmd(&sim).args(["verify", out.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["cases"].as_array().map(Vec::len), Some(4), "{results}");
    assert_eq!(results["complete"], true);
    let mut quick: Vec<&str> = QUICK.split(',').collect();
    quick.sort_unstable();
    assert_eq!(results["selection"], serde_json::json!(quick), "{results}");
    sim.shutdown().await;
}
