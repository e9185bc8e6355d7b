//! Known-vulnerability cases against devices that answer everything alike: a camera whose web
//! ports serve the same 200 page for every path, and one that redirects every path to its login
//! page. Neither shows any flaw, so no case may call it vulnerable (pass or inconclusive only),
//! even on a legacy camera whose real API would have every one of the flaws. The verdicts carry
//! the CVE ids into results.json.

use hopquy_evidence::Verdict;
use hopquy_tests::{case, run_cases, start_sim, suite};

/// A disclosure bug whose proof carries the device's passwords (CVE-2018-9995 lists every
/// account with its password): the case fails, and what it keeps shows the list's shape with
/// `[REDACTED]` where the passwords were, including an account that is not the target's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disclosed_password_list_is_judged_but_never_kept() {
    let suite = suite();
    let id = "cve-2018-9995-tbk-dvr-cookie-bypass";
    let sim = start_sim("hardened+tbk-cve-2018-9995").await;
    let (results, _) = run_cases(&suite, &sim, "qcvn135-2024", &[id]).await;
    sim.shutdown().await;
    let got = case(&results, id);
    assert_eq!(got.verdict, Verdict::Fail, "{}", got.summary);
    let bypass = got.steps.iter().find(|s| s.id == "bypass").expect("bypass step");
    let body = bypass.observations["body"].as_str().unwrap_or_default();
    assert_eq!(body.matches("[REDACTED]").count(), 2, "{body}");
    let secret = hopquy_simcam::TBK_VIEWER_PASSWORD;
    for step in &got.steps {
        for text in step
            .observations
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, v)| v.as_str())
        {
            assert!(
                !text.contains(secret),
                "a disclosed password reached step {}: {text}",
                step.id
            );
        }
    }
}

/// CVE-2017-7925 serves Dahua's account file with every password hash: each generation's file
/// fails the case at its own step, and what the run keeps shows the file's shape with
/// `[REDACTED]` where the hashes were, the target's and another account's alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disclosed_dahua_account_file_is_judged_but_its_hashes_never_kept() {
    let suite = suite();
    let id = "cve-2017-7925-dahua-account-file";
    for (setup, step) in [
        ("hardened+dahua-cve-2017-7925", "passwd"),
        ("hardened+dahua-cve-2017-7925-gen3", "account1"),
    ] {
        let sim = start_sim(setup).await;
        let (results, _) = run_cases(&suite, &sim, "qcvn135-2024", &[id]).await;
        sim.shutdown().await;
        let got = case(&results, id);
        assert_eq!(got.verdict, Verdict::Fail, "{setup}: {}", got.summary);
        assert!(got.summary.contains("CVE-2017-7925"), "{}", got.summary);
        let decisive = got.steps.iter().find(|s| s.id == step).expect("decisive step");
        let body = decisive.observations["body"].as_str().unwrap_or_default();
        assert_eq!(body.matches("[REDACTED]").count(), 2, "{setup}: {body}");
        let secret = hopquy_simcam::DAHUA_SECOND_USER_HASH;
        for step in &got.steps {
            for text in step
                .observations
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(_, v)| v.as_str())
            {
                assert!(
                    !text.contains(secret),
                    "a disclosed hash reached step {}: {text}",
                    step.id
                );
            }
        }
    }
}

/// CVE-2017-7577 is proven with a request-target no URL can carry: the exchange kept is the
/// wire's, `GET ../../../../../../etc/passwd HTTP/1.1` as sent, over HTTP and over HTTPS (the
/// hardened camera's web surface). The disclosed /etc/passwd fails the case, and its root hash
/// reaches neither an observation nor a recorded exchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traversal_is_sent_verbatim_and_the_disclosed_passwd_hash_never_kept() {
    let suite = suite();
    let id = "cve-2017-7577-xiongmai-path-traversal";
    for setup in ["hardened+xm-cve-2017-7577", "hardened+http-only+xm-cve-2017-7577"] {
        let sim = start_sim(setup).await;
        let (results, collect) = run_cases(&suite, &sim, "qcvn135-2024", &[id]).await;
        sim.shutdown().await;
        let got = case(&results, id);
        assert_eq!(got.verdict, Verdict::Fail, "{setup}: {}", got.summary);
        assert!(got.summary.contains("CVE-2017-7577"), "{}", got.summary);
        let step = got.steps.iter().find(|s| s.id == "passwd").expect("passwd step");
        let body = step.observations["body"].as_str().unwrap_or_default();
        assert!(body.contains("root:[REDACTED]:0:0:"), "{setup}: {body}");
        let secret = hopquy_simcam::XM_ROOT_HASH;
        let observed = serde_json::to_string(&got.steps).unwrap_or_default();
        assert!(
            !observed.contains(secret),
            "{setup}: the root hash reached an observation"
        );
        let outcomes = collect.outcomes.lock().unwrap();
        let exchanges: Vec<&serde_json::Value> = outcomes.iter().flat_map(|o| o.exchanges.iter()).collect();
        let recorded = serde_json::to_string(&exchanges).unwrap_or_default();
        assert!(
            !recorded.contains(secret),
            "{setup}: the root hash reached the exchanges"
        );
        let wire = exchanges
            .iter()
            .find(|e| e["capture"] == "wire")
            .unwrap_or_else(|| panic!("{setup}: a wire exchange in {recorded}"));
        let sent = wire["sent"]["text"].as_str().unwrap_or_default();
        assert!(
            sent.starts_with("GET ../../../../../../etc/passwd HTTP/1.1\r\n"),
            "{setup}: {sent}"
        );
        let scheme = if setup.contains("http-only") { "http" } else { "https" };
        assert_eq!(wire["protocol"], scheme, "{setup}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_vulns_never_read_a_uniform_or_redirecting_device_as_vulnerable() {
    let suite = suite();
    let ids: Vec<String> = suite
        .cases
        .iter()
        .filter(|loaded| !loaded.case.cves.is_empty())
        .map(|loaded| loaded.case.id.get_ref().clone())
        .collect();
    assert!(ids.len() >= 7, "known-vulnerability cases: {ids:?}");
    let only: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut wrong = Vec::new();
    let mut inconclusive = 0;
    for setup in [
        "hardened+catch-all-200",
        "hardened+login-redirect",
        "legacy+catch-all-200",
        "legacy+login-redirect",
    ] {
        let sim = start_sim(setup).await;
        let (results, _) = run_cases(&suite, &sim, "qcvn135-2024", &only).await;
        sim.shutdown().await;
        for id in &ids {
            let got = case(&results, id);
            match got.verdict {
                Verdict::Pass => {}
                Verdict::Inconclusive => inconclusive += 1,
                other => wrong.push(format!("{id} against `{setup}`: {other} — {}", got.summary)),
            }
            assert!(!got.cves.is_empty(), "{id}: results.json names its CVEs");
        }
    }
    assert!(wrong.is_empty(), "false alarms or errors:\n{}", wrong.join("\n"));
    // The bypass checks cannot attribute an answer such a device gives to every path: they say
    // so rather than pass silently.
    assert!(inconclusive > 0, "no case noticed the uniform answers");
}

/// `hopquy list --cve`: one row per CVE and case, with its CVSS and KEV status.
#[test]
fn list_cve_names_every_known_vulnerability_case() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hopquy"))
        .args(["list", "--cve", "--json"])
        .env("HOPQUY_SUITE", hopquy_tests::repo_root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let row = |cve: &str| rows.iter().filter(|r| r["cve"] == cve).cloned().collect::<Vec<_>>();
    for cve in [
        "CVE-2017-7921",
        "CVE-2021-36260",
        "CVE-2021-33044",
        "CVE-2021-33045",
        "CVE-2017-7577",
        "CVE-2018-10088",
        "CVE-2017-7925",
    ] {
        assert!(!row(cve).is_empty(), "{cve} listed");
    }
    // The direct traversal check and the version-based uc-httpd case both decide it.
    assert_eq!(row("CVE-2017-7577").len(), 2, "direct check and version check");
    assert_eq!(row("CVE-2017-7921").len(), 3, "user list, configuration file, snapshot");
    assert_eq!(row("CVE-2021-36260")[0]["kev"], true);
    assert_eq!(row("CVE-2017-7577")[0]["kev"], false);
    assert_eq!(row("CVE-2017-7925")[0]["cvss"], 9.8);
    assert_eq!(row("CVE-2021-33044")[0]["effect"], "locks-account");
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_hopquy"))
        .args(["list", "--cve"])
        .env("HOPQUY_SUITE", hopquy_tests::repo_root())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("CVE-2021-36260") && l.contains("9.8") && l.contains("yes")),
        "{text}"
    );
}
