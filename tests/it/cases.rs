//! Every automated case must pass against each simulated setup it names under `sim.pass` and
//! fail against each under `sim.fail` (DESIGN §7). This is how the suite tests itself.

use hopquy_case::{CaseKind, LabNetUse};
use hopquy_evidence::Verdict;
use hopquy_tests::{case, observation_schema_violations, run_cases, start_sim, suite};

/// `HOPQUY_FIXTURES=lockout-http,default-credentials-http` checks only those cases' fixtures
/// (the whole set takes minutes of lockout waits).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_automated_case_passes_and_fails_its_fixtures() {
    let suite = suite();
    let only: Option<Vec<String>> = std::env::var("HOPQUY_FIXTURES").ok().map(|v| {
        v.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let mut jobs = Vec::new();
    for loaded in &suite.cases {
        let c = &loaded.case;
        // Lab-network cases need the camera in a namespace of its own behind hopquy's
        // network: tests/it/lab_net.rs checks their fixtures there.
        if c.kind != CaseKind::Automated || c.lab_net == Some(LabNetUse::Required) {
            continue;
        }
        if only.as_ref().is_some_and(|o| !o.contains(c.id.get_ref())) {
            continue;
        }
        let sim = c
            .sim
            .as_ref()
            .unwrap_or_else(|| panic!("automated case {} has no [sim]", c.id.get_ref()));
        assert!(
            !sim.pass.is_empty() && !sim.fail.is_empty(),
            "{}: needs pass and fail setups",
            c.id.get_ref()
        );
        for (setup, want) in sim
            .pass
            .iter()
            .map(|s| (s.get_ref().clone(), Verdict::Pass))
            .chain(sim.fail.iter().map(|s| (s.get_ref().clone(), Verdict::Fail)))
        {
            let id = c.id.get_ref().clone();
            let suite = suite.clone();
            jobs.push(tokio::spawn(async move {
                let sim = start_sim(&setup).await;
                let (results, _) = run_cases(&suite, &sim, "qcvn135-2024", &[id.as_str()]).await;
                let got = case(&results, &id);
                sim.shutdown().await;
                let violations = observation_schema_violations(&results);
                (id, setup, want, got.verdict, got.summary.clone(), violations)
            }));
        }
    }
    assert!(!jobs.is_empty(), "no automated case found");
    let mut wrong = Vec::new();
    let mut checked = 0;
    for job in jobs {
        let (id, setup, want, got, summary, violations) = job.await.expect("fixture task");
        checked += 1;
        wrong.extend(
            violations
                .into_iter()
                .map(|v| format!("{id} against `{setup}`: observation schema: {v}")),
        );
        if got != want {
            wrong.push(format!(
                "{id} against `{setup}`: expected {want}, got {got} — {summary}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {checked} fixtures wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// The hardened camera fails no clause; the legacy camera fails every clause its flaws touch
/// that an automated case covers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardened_fails_nothing_and_legacy_fails_its_flawed_clauses() {
    let suite = suite();
    // Two cameras, two runs at once: each run spends most of its time waiting out windows.
    let (hardened, legacy) = tokio::join!(start_sim("hardened"), start_sim("legacy"));
    let ((results, _), (legacy_results, _)) = tokio::join!(
        run_cases(&suite, &hardened, "qcvn135-2024", &[]),
        run_cases(&suite, &legacy, "qcvn135-2024", &[])
    );
    let failing: Vec<String> = results
        .clauses
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| c.id.clone())
        .collect();
    assert!(failing.is_empty(), "hardened camera fails clauses {failing:?}");
    assert_eq!(results.clauses.len(), 36, "every QCVN 135 clause is reported");

    let drift: Vec<String> = observation_drift(&suite, &results)
        .into_iter()
        .chain(observation_drift(&suite, &legacy_results))
        .chain(observation_schema_violations(&results))
        .chain(observation_schema_violations(&legacy_results))
        .collect();
    assert!(
        drift.is_empty(),
        "observations drifted from the action reference:\n{}",
        drift.join("\n")
    );

    let results = legacy_results;
    for clause in ["2.1.1", "2.1.3", "2.1.5", "2.5.2", "2.5.3", "2.6.2"] {
        let v = results.clauses.iter().find(|c| c.id == clause).map(|c| c.verdict);
        assert_eq!(v, Some(Verdict::Fail), "legacy camera, clause {clause}");
    }
}

/// Where an action's observations and its documentation (the `ActionSpec` the case
/// reference is generated from, and which validation checks expectations against) disagree:
/// a key the action emits that the reference does not name, or a key an expectation reads
/// that the action did not emit at all (a renamed field would read as null and turn into a
/// fail or an inconclusive).
fn observation_drift(suite: &hopquy_case::Suite, results: &hopquy_evidence::Results) -> Vec<String> {
    let head = |path: &str| path.split(['.', '[']).next().unwrap_or(path).to_owned();
    let mut drift = Vec::new();
    for result in &results.cases {
        let Some(loaded) = suite.case(&result.id) else { continue };
        for (step, ran) in loaded.case.steps.iter().zip(&result.steps) {
            let Some(spec) = hopquy_case::ACTIONS.iter().find(|a| a.name == ran.action) else {
                drift.push(format!(
                    "{}/{}: action `{}` has no reference",
                    result.id, ran.id, ran.action
                ));
                continue;
            };
            let Some(observed) = ran.observations.as_object() else {
                continue;
            };
            let documented: Vec<String> = spec.observations.iter().map(|o| head(o.name)).collect();
            for key in observed.keys() {
                if !documented.contains(key) {
                    drift.push(format!(
                        "{}/{}: `{}` emits `{key}`, which its reference does not name",
                        result.id, ran.id, ran.action
                    ));
                }
            }
            // Every expectation of a step that held was evaluated; a failed one stopped the rest.
            let evaluated = if ran.status == hopquy_evidence::StepStatus::Ok {
                step.expect.len()
            } else {
                0
            };
            for exp in step.expect.iter().take(evaluated) {
                let key = head(exp.that.get_ref());
                if !observed.contains_key(&key) {
                    drift.push(format!(
                        "{}/{}: an expectation reads `{key}`, which `{}` did not emit",
                        result.id, ran.id, ran.action
                    ));
                }
            }
        }
    }
    drift
}

/// The password-policy case through the ISAPI binding (which the fixtures use) and the ONVIF
/// one (CreateUsers / DeleteUsers, the `ter:Password` fault): the simulator serves both, and
/// neither may leave a temporary user behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_policy_works_through_isapi_and_onvif_and_cleans_up() {
    let suite = suite();
    for profile in ["simcam", "onvif"] {
        let resolved = hopquy_case::load_profile(profile, hopquy_tests::repo_root().join("profiles"))
            .unwrap_or_else(|d| panic!("{}", hopquy_case::render_diagnostics(&d)));
        for (setup, want) in [
            ("hardened", Verdict::Pass),
            ("hardened+weak-password-policy", Verdict::Fail),
        ] {
            let mut sim = start_sim(setup).await;
            sim.profile = resolved.clone();
            let (results, _) = run_cases(&suite, &sim, "qcvn135-2024", &["password-policy-enforced"]).await;
            let got = case(&results, "password-policy-enforced");
            assert_eq!(got.verdict, want, "{profile} / {setup}: {}", got.summary);
            let left = sim.camera().state().added_users();
            assert!(
                left.is_empty(),
                "{profile} / {setup}: users left on the camera: {left:?}"
            );
            sim.shutdown().await;
        }
    }
}

/// A dictionary that runs after its surface's lockout case is paced from what that case
/// measured, and keeps its verdict: the hardened camera's HTTP lock paces the HTTP
/// dictionary to the threshold it showed; dahua-like (a lock per TCP connection, so fresh
/// connections never lock) and RTSP with `rtsp-no-lockout` are not paced at all. Telnet,
/// which nothing measures, keeps the declared pacing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dictionaries_are_paced_from_the_lock_measured_before_them() {
    let suite = suite();
    let pacing = |results: &hopquy_evidence::Results, id: &str, step: &str| {
        let c = case(results, id);
        let s = c
            .steps
            .iter()
            .find(|s| s.id == step)
            .unwrap_or_else(|| panic!("{id}: no step {step}"));
        (
            c.verdict,
            s.observations["pacing"].clone(),
            s.observations["paced_ms"].as_u64(),
        )
    };
    let ids = [
        "default-credentials-http",
        "lockout-http",
        "default-credentials-rtsp",
        "lockout-rtsp",
    ];
    let (hardened, dahua, rtsp_open) = tokio::join!(
        start_sim("hardened"),
        start_sim("dahua-like"),
        start_sim("hardened+rtsp-no-lockout")
    );
    let ((h, _), (d, _), (r, _)) = tokio::join!(
        run_cases(&suite, &hardened, "qcvn135-2024", &ids),
        run_cases(&suite, &dahua, "qcvn135-2024", &ids),
        run_cases(&suite, &rtsp_open, "qcvn135-2024", &ids)
    );
    // The measuring cases ran first although the dictionaries come first in clause order.
    let order: Vec<&str> = h.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(order[..2], ["lockout-http", "lockout-rtsp"], "{order:?}");

    let (verdict, p, _) = pacing(&h, "default-credentials-http", "dictionary");
    assert_eq!(verdict, Verdict::Pass);
    assert_eq!(p["source"], "measured", "{p}");
    assert_eq!(p["measured"]["locks"], true, "{p}");
    assert_eq!(p["reset_below"], 5, "{p}");
    assert!(p["measured"]["lasted_ms"].as_u64().is_some(), "{p}");

    for (results, what) in [(&d, "dahua-like")] {
        for id in ["default-credentials-http", "default-credentials-rtsp"] {
            let (verdict, p, paced) = pacing(results, id, "dictionary");
            assert_eq!(verdict, Verdict::Pass, "{what} {id}");
            assert_eq!(p["source"], "measured", "{what} {id}: {p}");
            assert_eq!(p["measured"]["locks"], false, "{what} {id}: {p}");
            assert_eq!(p["window_s"], serde_json::Value::Null, "{what} {id}: {p}");
            assert_eq!(paced, Some(0), "{what} {id}: not paced");
        }
    }
    let (verdict, p, paced) = pacing(&r, "default-credentials-rtsp", "dictionary");
    assert_eq!(verdict, Verdict::Pass);
    assert_eq!((p["source"].as_str(), paced), (Some("measured"), Some(0)), "{p}");
    assert_eq!(case(&r, "lockout-rtsp").verdict, Verdict::Fail);
    let (_, p, _) = pacing(&r, "default-credentials-http", "dictionary");
    assert_eq!(p["measured"]["locks"], true, "HTTP still locks: {p}");
    for sim in [hardened, dahua, rtsp_open] {
        sim.shutdown().await;
    }
}

/// Run alone, a dictionary has nothing measured and keeps the declared pacing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dictionary_run_alone_keeps_the_declared_pacing() {
    let suite = suite();
    let sim = start_sim("hardened+telnet-open").await;
    let (results, _) = run_cases(&suite, &sim, "qcvn135-2024", &["default-credentials-telnet"]).await;
    let c = case(&results, "default-credentials-telnet");
    assert_eq!(c.verdict, Verdict::Pass, "{}", c.summary);
    let s = c.steps.iter().find(|s| s.id == "dictionary").expect("dictionary step");
    assert_eq!(
        s.observations["pacing"]["source"], "declared",
        "{}",
        s.observations["pacing"]
    );
    assert_eq!(s.observations["pacing"]["control_login"], false);
    assert!(
        s.observations["pacing"]["settle_ms"].as_u64().unwrap_or(0) > 0,
        "the run just started"
    );
    sim.shutdown().await;
}
