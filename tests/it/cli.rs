//! The CLI contract through the built binary: demo → bundle → verify; tampering detected;
//! input-file errors name the line; unreachable devices exit 3; secrets never reach a bundle.

use std::path::Path;
use std::process::Command;

use crate::bin::{hopquy, hopquy_bin, text};
use hopquy_tests::{PASSWORD_VAR, repo_root, start_sim};

#[test]
fn demo_writes_a_bundle_that_verifies_and_detects_one_byte_changes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bundle");
    let o = hopquy(
        &["demo", "--personality", "legacy", "--out", out.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "demo: {}", text(&o));
    let summary = text(&o);
    assert!(
        summary.contains("2.1.5") && summary.contains("fail"),
        "per-clause summary: {summary}"
    );

    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["schema_version"], 1);
    assert_eq!(
        results["clauses"].as_array().map(Vec::len),
        Some(36),
        "all 36 clauses listed"
    );

    let o = hopquy(&["verify", out.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(0), "verify: {}", text(&o));

    let path = out.join("results.json");
    let mut bytes = std::fs::read(&path).unwrap();
    let i = bytes.iter().position(|b| *b == b'{').unwrap() + 1;
    bytes.insert(i, b' ');
    std::fs::write(&path, bytes).unwrap();
    let o = hopquy(&["verify", out.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(1), "tampered bundle must fail: {}", text(&o));
    assert!(text(&o).contains("results.json"), "names the file: {}", text(&o));
}

#[test]
fn malformed_case_file_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad-case.toml");
    std::fs::write(&bad, "id = \"bad-case\"\ntitle = \"x\"\natempts = 5\n").unwrap();
    let o = hopquy(&["validate", bad.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("bad-case.toml:3:1"), "location: {t}");
}

/// `hopquy list | head`: the reader goes away before the text is written. Rust ignores
/// SIGPIPE, so each write then fails with EPIPE; the command must finish quietly, not panic
/// (a panic in `hopquy run … 2>&1 | head` would abandon the run).
#[test]
fn a_closed_pipe_does_not_panic_the_command() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    for args in [&["list"][..], &["explain", "2.1.1"][..]] {
        let mut child = Command::new(hopquy_bin())
            .args(args)
            .current_dir(dir.path())
            .env("HOPQUY_SUITE", repo_root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Closing our end before the child has loaded the suite makes its first write fail.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(o.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

/// A lab machine with a low open-files limit: the sweep narrows to what it can hold instead of
/// reporting ports it could not try.
#[test]
fn a_low_open_files_limit_narrows_the_sweep_without_losing_ports() {
    let listener = std::net::TcpListener::bind("127.77.1.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let first = open.saturating_sub(1500).max(1);
    let last = first + 2999;
    let script =
        format!("ulimit -n 40 && exec \"$0\" probe ports 127.77.1.1 --ports {first}-{last} --concurrency 512 --json");
    let o = Command::new("sh")
        .args(["-c", &script, hopquy_bin()])
        .env("HOPQUY_SUITE", repo_root())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["failed_count"], 0, "{json}");
    assert_eq!(json["filtered_count"], 0, "{json}");
    let open_ports: Vec<u64> = json["open"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_u64().unwrap())
        .collect();
    assert!(open_ports.contains(&u64::from(open)), "{json}");
    assert_eq!(
        json["closed_count"].as_u64().unwrap() + open_ports.len() as u64,
        3000,
        "{json}"
    );
    drop(listener);
}

#[test]
fn unreachable_device_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    // Bind then drop a listener so the port is known to be closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = dir.path().join("t.toml");
    std::fs::write(
        &target,
        format!(
            "[device]\nvendor = \"x\"\nmodel = \"y\"\nfirmware = \"1\"\n\n[connection]\nhost = \"127.0.0.1\"\nprofile = \"simcam\"\nports = {{ http = {port}, https = {port}, rtsp = {port}, ssh = {port}, sdk = {port} }}\n\n[credentials]\nusername = \"admin\"\npassword = \"x\"\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("b");
    let o = hopquy(
        &[
            "run",
            "--target",
            target.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--non-interactive",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_bundle_or_the_terminal() {
    let sim = start_sim("legacy").await;
    let password = sim.camera().admin_password().to_owned();
    let target = sim.dir.path().join("target.toml");
    let out = sim.dir.path().join("bundle");
    let key = sim.dir.path().join("lab");
    let o = Command::new(hopquy_bin())
        .args(["keygen", "--out", key.to_str().unwrap()])
        .output()
        .expect("keygen");
    assert!(o.status.success(), "{}", text(&o));
    let private_key_line = std::fs::read_to_string(key.with_extension("key"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    let o = Command::new(hopquy_bin())
        .args([
            "--log",
            "debug",
            "run",
            "--target",
            target.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--non-interactive",
            "--sign",
            key.with_extension("key").to_str().unwrap(),
        ])
        .env("HOPQUY_SUITE", repo_root())
        .env(PASSWORD_VAR, &password)
        .output()
        .expect("run");
    assert!(
        matches!(o.status.code(), Some(1)),
        "legacy run fails clauses: {}",
        text(&o)
    );
    // The password as typed, as it travels in HTTP Basic, and the lab's private key.
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}"));
    let secrets = [password.as_str(), basic.as_str(), private_key_line.as_str()];
    for secret in secrets {
        assert!(
            !text(&o).contains(secret),
            "a secret was printed on the terminal (debug logging on)"
        );
    }
    let mut files = 0;
    for entry in walk(&out) {
        files += 1;
        let bytes = std::fs::read(&entry).unwrap();
        for secret in secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a secret was found in {}",
                entry.display()
            );
        }
    }
    assert!(files > 5, "bundle has files");
    sim.shutdown().await;
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cases_selection_reports_untested_clauses_as_not_tested() {
    let sim = start_sim("hardened").await;
    let target = sim.dir.path().join("target.toml");
    let out = sim.dir.path().join("partial");
    // An answer for a case this selection does not plan: a recorded, printed warning.
    let answers = sim.dir.path().join("answers.toml");
    std::fs::write(
        &answers,
        "[[answer]]\ncase = \"sensing-capabilities-ixit\"\nstep = \"conforms\"\nanswer = \"yes\"\n",
    )
    .unwrap();
    let o = Command::new(hopquy_bin())
        .args([
            "run",
            "--target",
            target.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--non-interactive",
            "--cases",
            "brute-force-ixit,lockout-http",
            "--answers",
            answers.to_str().unwrap(),
        ])
        .env("HOPQUY_SUITE", repo_root())
        .env(PASSWORD_VAR, sim.camera().admin_password())
        .output()
        .unwrap();
    let t = text(&o);
    assert_ne!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("PARTIAL RUN: 1 of 36 clauses tested (2.1.5)"), "{t}");
    assert!(t.contains("35 not tested"), "{t}");
    assert!(
        !t.lines().any(|l| l.trim_start().starts_with("2.1.1 ")),
        "an untested clause has a verdict line: {t}"
    );
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    let clauses = results["clauses"].as_array().unwrap();
    assert_eq!(clauses.len(), 1, "{results}");
    assert_eq!(clauses[0]["id"], "2.1.5");
    assert_eq!(results["clauses_not_tested"].as_array().unwrap().len(), 35);
    let warning = "the answer to `sensing-capabilities-ixit`/`conforms` was not used";
    assert!(t.contains(&format!("warning: {warning}")), "{t}");
    assert!(
        results["warnings"][0].as_str().unwrap().starts_with(warning),
        "{results}"
    );
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        report.contains("Partial run"),
        "report.html does not say the run was partial"
    );
    sim.shutdown().await;
}

#[test]
fn validate_checks_lone_files_against_the_suite_and_says_each_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = repo_root();
    // A case mapped to a clause the catalogue lacks, alone and inside a suite.
    let case = std::fs::read_to_string(root.join("test-cases/2.1-unique-password/brute-force-ixit.toml"))
        .unwrap()
        .replace("[\"2.1.5\"]", "[\"2.1.55\"]");
    assert!(case.contains("2.1.55"));
    let lone = dir.path().join("brute-force-ixit.toml");
    std::fs::write(&lone, &case).unwrap();
    let o = hopquy(&["validate", lone.to_str().unwrap()], dir.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("clause `2.1.55` is not in the catalogue"), "{t}");
    assert!(!t.contains("error: error:"), "{t}");

    let suite = dir.path().join("suite");
    std::fs::create_dir_all(suite.join("test-cases/regulations")).unwrap();
    std::fs::create_dir_all(suite.join("test-cases/2.1")).unwrap();
    std::fs::create_dir_all(suite.join("profiles")).unwrap();
    for name in ["qcvn135-2024.toml", "qcvn11-2026.toml"] {
        std::fs::copy(
            root.join("test-cases/regulations").join(name),
            suite.join("test-cases/regulations").join(name),
        )
        .unwrap();
    }
    std::fs::write(suite.join("test-cases/2.1/brute-force-ixit.toml"), &case).unwrap();
    let o = Command::new(hopquy_bin())
        .args(["validate"])
        .current_dir(dir.path())
        .env("HOPQUY_SUITE", &suite)
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert_eq!(t.matches("clause `2.1.55` is not in the catalogue").count(), 1, "{t}");

    // An answer to a mistyped step is an error with its place and the likely step.
    let answers = dir.path().join("answers.toml");
    std::fs::write(
        &answers,
        "[[answer]]\ncase = \"sensing-capabilities-ixit\"\nstep = \"conform\"\nanswer = \"yes\"\n",
    )
    .unwrap();
    let o = hopquy(&["validate", answers.to_str().unwrap()], dir.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("answers.toml:3:8") && t.contains("did you mean `conforms`?"),
        "{t}"
    );

    // A target file is checkable on a machine without the device password.
    let target = dir.path().join("target.toml");
    std::fs::write(
        &target,
        "[device]\nvendor = \"x\"\nmodel = \"y\"\nfirmware = \"1\"\n\n[connection]\nhost = \"127.0.0.1\"\nprofile = \"simcam\"\n\n[credentials]\nusername = \"admin\"\npassword_env = \"HOPQUY_NEVER_SET_4D2B\"\n",
    )
    .unwrap();
    let o = hopquy(&["validate", target.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn probes_use_the_documented_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    // A URL where HOST[:PORT] belongs is a usage error for every kind.
    for kind in ["ports", "http", "ssh", "onvif", "rtsp", "telnet", "tls"] {
        let o = hopquy(&["probe", kind, "http://127.0.0.1:9/"], dir.path());
        assert_eq!(o.status.code(), Some(2), "probe {kind}: {}", text(&o));
    }
    // A plain-HTTP listener asked for TLS: the probe could not complete (3), and --json
    // still prints one object naming the error.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut stream in listener.incoming().take(1).flatten() {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let target = format!("127.0.0.1:{port}");
    let o = hopquy(
        &["probe", "http", &target, "--https", "--json", "--timeout", "2"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(doc["error"].as_str().unwrap().contains("TLS"), "{doc}");
    server.join().unwrap();
}

#[test]
fn explain_puts_each_prompt_under_its_step_and_suggests_a_near_id() {
    let dir = tempfile::tempdir().unwrap();
    let o = hopquy(&["explain", "sensing-capabilities-ixit"], dir.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let steps = &t[t.find("steps:").unwrap()..];
    let documentation = steps.find("  documentation (document)").unwrap();
    let conforms = steps.find("  conforms (operator)").unwrap();
    let attach = steps.find("operator supplies (attachment)").unwrap();
    let yes_no = steps.find("operator supplies (yes-no)").unwrap();
    assert!(
        documentation < attach && attach < conforms && conforms < yes_no,
        "{steps}"
    );
    // Every line of the steps section is indented under it.
    assert!(
        steps.lines().skip(1).all(|l| l.is_empty() || l.starts_with("  ")),
        "{steps}"
    );

    let o = hopquy(&["explain", "sensing-capabilites-ixit"], dir.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("did you mean `sensing-capabilities-ixit`?"), "{t}");
}
