//! Every automated case must pass against each simulated setup it names under `sim.pass` and
//! fail against each under `sim.fail` (DESIGN §7). This is how the suite tests itself.

use hopquy_case::CaseKind;
use hopquy_evidence::Verdict;
use hopquy_tests::{case, run_cases, start_sim, suite};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_automated_case_passes_and_fails_its_fixtures() {
    let suite = suite();
    let mut jobs = Vec::new();
    for loaded in &suite.cases {
        let c = &loaded.case;
        if c.kind != CaseKind::Automated {
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
                (id, setup, want, got.verdict, got.summary.clone())
            }));
        }
    }
    assert!(!jobs.is_empty(), "no automated case found");
    let mut wrong = Vec::new();
    let mut checked = 0;
    for job in jobs {
        let (id, setup, want, got, summary) = job.await.expect("fixture task");
        checked += 1;
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

    let results = legacy_results;
    for clause in ["2.1.1", "2.1.3", "2.1.5", "2.5.2", "2.5.3", "2.6.2"] {
        let v = results.clauses.iter().find(|c| c.id == clause).map(|c| c.verdict);
        assert_eq!(v, Some(Verdict::Fail), "legacy camera, clause {clause}");
    }
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
