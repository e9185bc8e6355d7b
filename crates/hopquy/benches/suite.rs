//! `cargo xtask bench suite`: a full non-interactive QCVN 135 run (`hopquy demo --no-dossier`:
//! run, bundle and report) against the simulated camera (`hardened`, then `legacy`), timed,
//! side by side with the waits its lockout forces.
//!
//! The forced waits are what no harness could skip on this device: each lock a lockout case
//! triggers lasts the declared duration, and each paced dictionary must spread its failures
//! over windows — per user name, (⌈failures / (threshold − 1)⌉ − 1) windows, the longest user
//! name deciding — plus the settle the run's earlier failures force. They are computed from
//! the cases and the pacing each dictionary step reports (measured or declared), not from the
//! time the run took. Everything above them is harness overhead: probes, recover polling,
//! discovery, and the device's own answer times.
//!
//! The runs go one after the other, so they do not compete for the CPU with each other
//! (they still compete with whatever else the machine runs).

use std::collections::BTreeMap;
use std::time::Instant;

use hopquy_case::{Case, Measures};
use hopquy_evidence::{CaseResult, Results};
use hopquy_runner::RunInput;
use hopquy_tests::{start_sim, suite};
use serde_json::Value;

const REGULATION: &str = "qcvn135-2024";

/// Forced waits of one case, in milliseconds: (lock durations, dictionary pacing).
fn forced_ms(case: &Case, result: &CaseResult, declared: &Value, target_user: &str) -> (u64, u64) {
    let mut locks = 0;
    if case.measures == Some(Measures::Lockout) && result.steps.len() == case.steps.len() {
        let params = hopquy_runner::run::resolve_params(case, declared);
        let duration_ms = params["duration_s"].as_u64().unwrap_or(0) * 1000;
        for m in case.lockout_measurements() {
            let check = &result.steps[m.check].observations;
            if check["attempts"].as_u64() == Some(1) && check["accepted"].as_u64() == Some(0) {
                locks += duration_ms;
            }
        }
    }
    let mut pacing = 0;
    for step in &result.steps {
        let p = &step.observations["pacing"];
        if !p.is_object() {
            continue;
        }
        let settle = p["settle_ms"].as_u64().unwrap_or(0);
        let windows = match (p["reset_below"].as_u64(), p["window_s"].as_f64()) {
            (Some(threshold), Some(window_s)) if threshold >= 2 => {
                let per_window = threshold - 1;
                let control = p["control_login"].as_bool().unwrap_or(false);
                let mut failures: BTreeMap<&str, u64> = BTreeMap::new();
                for attempt in step.observations["detail"].as_array().into_iter().flatten() {
                    if attempt["outcome"] == "accepted" {
                        continue;
                    }
                    let user = attempt["credential"]
                        .as_str()
                        .and_then(|c| c.split(':').next())
                        .unwrap_or("");
                    if control && user == target_user {
                        continue;
                    }
                    *failures.entry(user).or_default() += 1;
                }
                let most = failures.values().copied().max().unwrap_or(0);
                let extra_windows = most.div_ceil(per_window).saturating_sub(1);
                (extra_windows as f64 * window_s * 1000.0) as u64
            }
            _ => 0,
        };
        pacing += settle + windows;
    }
    (locks, pacing)
}

fn case_ms(result: &CaseResult) -> u64 {
    let parse = |s: &Option<String>| s.as_deref().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
    match (parse(&result.started), parse(&result.finished)) {
        (Some(a), Some(b)) => (b - a).num_milliseconds().max(0) as u64,
        _ => 0,
    }
}

struct Row {
    setup: &'static str,
    run_ms: u64,
    locks_ms: u64,
    pacing_ms: u64,
    /// (case, took, forced), the cases with the most overhead first.
    worst: Vec<(String, u64, u64)>,
    measured: usize,
}

/// The target file's `[declared]` table and user name the demo's camera gets (the same
/// configuration `hopquy demo` starts), for the lock durations and the exempt user.
async fn declared(setup: &str) -> (Value, String) {
    let suite = suite();
    let sim = start_sim(setup).await;
    let input = RunInput::from_definitions(&suite, REGULATION, &sim.profile, &sim.target).expect("run input");
    sim.shutdown().await;
    (input.target.declared, input.target.username)
}

/// `hopquy demo --no-dossier`: the whole pipeline a lab's non-interactive run goes through
/// (run, bundle, report), against a fresh simulated camera.
fn bench(runtime: &tokio::runtime::Runtime, setup: &'static str) -> Row {
    let suite = suite();
    let (declared, user) = runtime.block_on(declared(setup));
    let out = tempfile::tempdir().expect("tempdir");
    let bundle = out.path().join("bundle");
    let started = Instant::now();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_hopquy"))
        .args([
            "demo",
            "--no-dossier",
            "--personality",
            setup,
            "--regulation",
            REGULATION,
            "--out",
        ])
        .arg(&bundle)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("hopquy demo runs");
    let run_ms = started.elapsed().as_millis() as u64;
    let text = std::fs::read_to_string(bundle.join("results.json"))
        .unwrap_or_else(|e| panic!("no results.json after `hopquy demo` ({status}): {e}"));
    let results: Results = serde_json::from_str(&text).expect("results.json parses");
    assert!(results.complete, "the {setup} run did not complete");
    let by_id: BTreeMap<&str, &Case> = suite
        .cases
        .iter()
        .map(|c| (c.case.id.get_ref().as_str(), &c.case))
        .collect();
    let (mut locks_ms, mut pacing_ms, mut measured) = (0, 0, 0);
    let mut worst = Vec::new();
    for result in &results.cases {
        let Some(case) = by_id.get(result.id.as_str()) else {
            continue;
        };
        let (locks, pacing) = forced_ms(case, result, &declared, &user);
        locks_ms += locks;
        pacing_ms += pacing;
        measured += result
            .steps
            .iter()
            .filter(|s| s.observations["pacing"]["source"] == "measured")
            .count();
        worst.push((result.id.clone(), case_ms(result), locks + pacing));
    }
    worst.sort_by_key(|(_, took, forced)| std::cmp::Reverse(took.saturating_sub(*forced)));
    worst.truncate(6);
    Row {
        setup,
        run_ms,
        locks_ms,
        pacing_ms,
        worst,
        measured,
    }
}

fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut rows = Vec::new();
    for setup in ["hardened", "legacy"] {
        eprintln!("suite bench: full {REGULATION} run against `{setup}`…");
        rows.push(bench(&runtime, setup));
    }
    println!(
        "| setup | full run | forced waits (locks + pacing) | run / forced | overhead | dictionary steps paced from a measurement |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        let forced = r.locks_ms + r.pacing_ms;
        let ratio = if forced > 0 {
            r.run_ms as f64 / forced as f64
        } else {
            f64::INFINITY
        };
        println!(
            "| {} | {} | {} ({} + {}) | {:.2} | {} | {} |",
            r.setup,
            secs(r.run_ms),
            secs(forced),
            secs(r.locks_ms),
            secs(r.pacing_ms),
            ratio,
            secs(r.run_ms.saturating_sub(forced)),
            r.measured
        );
    }
    for r in &rows {
        println!("\n{}: cases with the most time above their forced waits", r.setup);
        for (id, took, forced) in &r.worst {
            println!("  {id:40} took {:>8}, forced {:>8}", secs(*took), secs(*forced));
        }
    }
}
