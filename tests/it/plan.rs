//! A run a lab can plan and watch: `hopquy plan`/`run --dry-run`, selection beyond
//! `--cases` (recorded in the bundle), answers templates, `hopquy sim`'s login help and
//! target file, and the narrowed port sweep.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::bin::{hopquy, hopquy_bin, text};
use hopquy_evidence::{CauseClass, Verdict};
use hopquy_tests::{PASSWORD_VAR, case, repo_root, run_cases, start_sim, suite};

/// A target at an address where nothing listens, its password variable unset: a plan must
/// need neither.
fn offline_target(dir: &Path, extra_connection: &str) -> std::path::PathBuf {
    let path = dir.join("target.toml");
    std::fs::write(
        &path,
        format!(
            "[device]\nvendor = \"Hikvision\"\nmodel = \"DS-2CD2043G2-I\"\nfirmware = \"V5.7.3\"\n\
             [connection]\nhost = \"127.0.0.1\"\nprofile = \"hikvision-isapi\"\n{extra_connection}\n\
             [credentials]\nusername = \"admin\"\npassword_env = \"HOPQUY_PLAN_TEST_UNSET\"\n\
             [declared]\nopen_tcp_ports = [80, 443, 554]\nlockout = {{ attempts = 5, window_s = 60, duration_s = 600 }}\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn a_plan_shows_order_effects_estimates_and_skips_without_the_device_or_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let target = offline_target(dir.path(), "min_connect_gap_ms = 50");
    let o = hopquy(&["plan", "--target", target.to_str().unwrap(), "--json"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cases = plan["cases"].as_array().unwrap();
    let position = |id: &str| cases.iter().position(|c| c["id"] == id).unwrap();
    // Read-only first, then what locks an account (the lock measured before the dictionary
    // it paces), then what configures.
    assert!(position("telnet-closed") < position("lockout-http"));
    assert!(position("lockout-http") < position("default-credentials-http"));
    assert!(position("default-credentials-http") < position("password-policy-enforced"));
    let lockout = &cases[position("lockout-http")];
    assert_eq!(lockout["effects"], serde_json::json!(["locks-account"]));
    // The declared 600 s lock is waited out once, after the burst; not before it.
    let secs = lockout["estimate_s"].as_u64().unwrap();
    assert!((600..660).contains(&secs), "{lockout}");
    let destructive = &cases[position("factory-reset-forces-password")];
    assert_eq!(destructive["skipped"]["verdict"], "inconclusive", "{destructive}");
    // 65535 ports at 50 ms each is about 55 min: the plan says so and offers the narrower sweep.
    let sweep = &cases[position("undeclared-open-ports")];
    assert!(sweep["estimate_s"].as_u64().unwrap() > 50 * 60, "{sweep}");
    let warnings = plan["warnings"].to_string();
    assert!(warnings.contains("port_sweep = \\\"profile\\\""), "{warnings}");
    let total: u64 = cases.iter().filter_map(|c| c["estimate_s"].as_u64()).sum();
    assert!(
        plan["total_s"].as_u64().unwrap().abs_diff(total) <= cases.len() as u64,
        "{}",
        plan["total_s"]
    );

    // `run --dry-run` prints the same plan and writes no bundle.
    let out = dir.path().join("bundle");
    let o = hopquy(
        &[
            "run",
            "--target",
            target.to_str().unwrap(),
            "--dry-run",
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(t.starts_with("plan: "), "{t}");
    assert!(
        t.contains("lockout-http") && t.contains("waiting out a 10 min lock"),
        "{t}"
    );
    assert!(!out.exists(), "a dry run wrote a bundle");

    // With the narrower sweep the estimate drops and the warning goes.
    let narrowed = offline_target(dir.path(), "min_connect_gap_ms = 50\nport_sweep = \"profile\"");
    let o = hopquy(&["plan", "--target", narrowed.to_str().unwrap(), "--json"], dir.path());
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sweep = plan["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "undeclared-open-ports")
        .unwrap();
    assert!(sweep["estimate_s"].as_u64().unwrap() < 60, "{sweep}");
    assert!(
        !plan["warnings"].to_string().contains("port_sweep"),
        "{}",
        plan["warnings"]
    );
}

#[test]
fn a_selection_names_only_what_exists() {
    let dir = tempfile::tempdir().unwrap();
    let target = offline_target(dir.path(), "");
    let t = target.to_str().unwrap();
    for (args, expected) in [
        (
            vec!["--clause", "2.1.55"],
            "has no clause `2.1.55`; did you mean `2.1.5`?",
        ),
        (
            vec!["--skip", "lockout-htp"],
            "unknown case id `lockout-htp`; did you mean `lockout-http`?",
        ),
        (
            vec!["--clause", "2.1.5", "--kind", "operator"],
            "the selection leaves no case to run",
        ),
    ] {
        let mut all = vec!["plan", "--target", t];
        all.extend(args);
        let o = hopquy(&all, dir.path());
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(expected), "{}", text(&o));
    }
    let o = hopquy(&["plan", "--target", t, "--skip-effect", "locks"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("locks-account"),
        "clap lists the effects: {}",
        text(&o)
    );

    let o = hopquy(
        &[
            "plan",
            "--target",
            t,
            "--json",
            "--clause",
            "2.1",
            "--skip-effect",
            "locks-account,needs-operator",
        ],
        dir.path(),
    );
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<&str> = plan["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"cleartext-basic-auth") && ids.contains(&"brute-force-ixit"),
        "{ids:?}"
    );
    assert!(
        !ids.contains(&"lockout-http") && !ids.contains(&"password-change-operator"),
        "{ids:?}"
    );
    assert!(!ids.contains(&"telnet-closed"), "2.6.x is not in 2.1: {ids:?}");
    assert_eq!(
        plan["selection"]["skip_effects"],
        serde_json::json!(["locks-account", "needs-operator"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selection_is_recorded_in_the_bundle_and_its_report() {
    let sim = start_sim("hardened").await;
    let target = sim.dir.path().join("target.toml");
    let out = sim.dir.path().join("bundle");
    let o = Command::new(hopquy_bin())
        .args([
            "run",
            "--target",
            target.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--non-interactive",
            "--clause",
            "2.5.1",
            "--kind",
            "automated",
            "--skip-effect",
            "configures",
            "--skip",
            // 2.5.1's firmware case needs an image this run does not give.
            "tls-https,firmware-known-vulnerabilities",
        ])
        .env("HOPQUY_SUITE", repo_root())
        .env(PASSWORD_VAR, sim.camera().admin_password())
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["selection"], serde_json::json!(["ssh-algorithms"]), "{results}");
    assert_eq!(
        results["selection_criteria"],
        serde_json::json!({"clauses": ["2.5.1"], "kinds": ["automated"], "skip_effects": ["configures"], "skip": ["firmware-known-vulnerabilities", "tls-https"]})
    );
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        report.contains(
            "--clause 2.5.1 --kind automated --skip-effect configures --skip firmware-known-vulnerabilities,tls-https"
        ),
        "the report shows the selection"
    );
    let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(events.lines().next().unwrap()).unwrap();
    assert_eq!(first["selection"], results["selection_criteria"], "{first}");
    assert!(first["estimated_s"].is_u64(), "{first}");
    let o = hopquy(&["verify", out.to_str().unwrap()], sim.dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answers_template_lists_each_question_and_validate_names_those_left_empty() {
    let sim = start_sim("hardened").await;
    let target = sim.dir.path().join("target.toml");
    let template = sim.dir.path().join("answers.toml");
    let o = hopquy(
        &[
            "answers",
            "template",
            "--target",
            target.to_str().unwrap(),
            "--clause",
            "2.8",
            "--out",
            template.to_str().unwrap(),
        ],
        sim.dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let written = std::fs::read_to_string(&template).unwrap();
    let file: hopquy_case::AnswersFile = toml::from_str(&written).unwrap();
    let suite = suite();
    let expected: Vec<(String, String)> = suite
        .cases
        .iter()
        .map(|c| &c.case)
        .filter(|c| {
            c.clauses
                .get("qcvn135-2024")
                .is_some_and(|cls| cls.iter().any(|cl| cl.get_ref().starts_with("2.8.")))
                && !hopquy_runner::selection::is_destructive(c)
        })
        .flat_map(|c| {
            c.steps
                .iter()
                .filter(|s| s.action.get_ref().is_interactive())
                .map(|s| (c.id.get_ref().clone(), s.id.get_ref().clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut listed: Vec<(String, String)> = file.answer.iter().map(|a| (a.case.clone(), a.step.clone())).collect();
    let mut expected_sorted = expected.clone();
    listed.sort();
    expected_sorted.sort();
    assert_eq!(listed, expected_sorted, "{written}");
    assert!(!expected.is_empty());
    assert!(written.contains("# vi: "), "the Vietnamese prompt is there: {written}");
    // Unfilled, every entry is named as still empty: a blank `confirm` never reads as done.
    let o = hopquy(&["validate", template.to_str().unwrap()], sim.dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(text(&o).matches("is empty").count(), expected.len(), "{}", text(&o));
    // Filled in, it is a valid answers file for this suite.
    std::fs::write(&template, written.replace("answer = \"\"", "answer = \"no\"")).unwrap();
    let o = hopquy(&["validate", template.to_str().unwrap()], sim.dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // And the template never overwrites a filled-in file.
    let o = hopquy(
        &[
            "answers",
            "template",
            "--target",
            target.to_str().unwrap(),
            "--out",
            template.to_str().unwrap(),
        ],
        sim.dir.path(),
    );
    assert_ne!(
        o.status.code(),
        Some(0),
        "overwrote a filled-in answers file: {}",
        text(&o)
    );
    assert!(std::fs::read_to_string(&template).unwrap().contains("answer = \"no\""));
    sim.shutdown().await;
}

#[test]
fn sim_says_how_to_log_in_and_its_target_declares_only_its_own_ports() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sim.toml");
    let mut child = Command::new(hopquy_bin())
        .args([
            "sim",
            "--personality",
            "hardened",
            "--write-target",
            target.to_str().unwrap(),
        ])
        .env("HOPQUY_SUITE", repo_root())
        .env("HOPQUY_SIM_PASSWORD", "a-chosen-sim-password")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let stderr = child.stderr.take().unwrap();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        let done = line.starts_with("press Ctrl-C");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let said = lines.join("\n");
    assert!(
        said.contains("log in as `admin` with the password in $HOPQUY_SIM_PASSWORD"),
        "{said}"
    );
    assert!(
        said.contains(&format!("hopquy run --target {}", target.display())),
        "{said}"
    );
    assert!(
        !said.contains("a-chosen-sim-password"),
        "the password reached the terminal"
    );

    let file: toml::Table = toml::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
    let own: Vec<i64> = file["connection"]["ports"]
        .as_table()
        .unwrap()
        .values()
        .filter_map(toml::Value::as_integer)
        .collect();
    let declared: Vec<i64> = file["declared"]["open_tcp_ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(toml::Value::as_integer)
        .collect();
    assert!(declared.iter().all(|p| own.contains(p)), "{declared:?} ⊄ {own:?}");
    let host = file["connection"]["host"].as_str().unwrap();
    assert!(
        host.starts_with("127.") && host != "127.0.0.1",
        "its own loopback address: {host}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrowed_sweep_fails_what_it_sees_and_never_passes() {
    let suite = suite();
    for (setup, want) in [
        ("hardened", Verdict::Inconclusive),
        ("hardened+telnet-open", Verdict::Fail),
    ] {
        let mut sim = start_sim(setup).await;
        let path = sim.dir.path().join("target.toml");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("[connection]\n", "[connection]\nport_sweep = \"profile\"\n");
        std::fs::write(&path, text).unwrap();
        let pw = sim.camera().admin_password();
        sim.target = hopquy_case::load_target_with(&path, |v| (v == PASSWORD_VAR).then(|| pw.clone())).unwrap();
        // The telnet flaw's port is the target's own `telnet` port, so a narrowed sweep sees it.
        let (results, _) = run_cases(&suite, &sim, "qcvn135-2024", &["undeclared-open-ports"]).await;
        let got = case(&results, "undeclared-open-ports");
        assert_eq!(got.verdict, want, "{setup}: {}", got.summary);
        let sweep = &got.steps[0].observations;
        assert_eq!(sweep["sweep_scope"], "profile", "{setup}: {sweep}");
        assert!(sweep["ports_tried"].as_u64().unwrap() < 200, "{sweep}");
        if want == Verdict::Inconclusive {
            assert_eq!(got.cause.as_ref().map(|c| c.class), Some(CauseClass::NarrowedByTarget));
        }
        sim.shutdown().await;
    }
}
