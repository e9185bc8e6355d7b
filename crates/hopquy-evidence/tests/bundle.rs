// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use hopquy_evidence::manifest::{INCOMPLETE_MARKER, MANIFEST_FILE, SIGNATURE_FILE};
use hopquy_evidence::*;

mod common;

use common::{report_ctx, sample_results};

fn write_bundle(dir: &Path, results: &Results, key: Option<&SigningKey>) -> FinishedBundle {
    common::write_bundle(dir, results, report_ctx(), key)
}

fn new_bundle(key: Option<&SigningKey>) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    write_bundle(&dir, &sample_results(), key);
    (tmp, dir)
}

fn errors(report: &VerifyReport) -> Vec<&Problem> {
    report.problems.iter().filter(|p| !p.is_informational()).collect()
}

#[test]
fn written_bundle_verifies_and_lists_every_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    let finished = write_bundle(&dir, &sample_results(), None);

    let paths: Vec<&str> = finished.manifest.files.iter().map(|f| f.path.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "manifest must be sorted by path");
    for expected in [
        "results.json",
        "junit.xml",
        "report.html",
        "results.sarif",
        "oscal-assessment-results.json",
        "target.toml",
        "events.jsonl",
        "definitions/cases/default-password.toml",
        "cases/lockout/exchanges.jsonl",
    ] {
        assert!(paths.contains(&expected), "{expected} missing from {paths:?}");
    }
    assert!(!paths.contains(&MANIFEST_FILE));
    assert!(!dir.join(INCOMPLETE_MARKER).exists());
    assert_eq!(finished.manifest.case_set_digest.as_deref(), Some("sha256:abc"));

    let report = verify(&dir, None);
    assert!(report.is_valid(), "{report}");
    assert_eq!(report.files_checked, paths.len());
    assert!(report.problems.contains(&Problem::Unsigned));

    assert_eq!(read_results(&dir).unwrap(), sample_results());
    let events = read_events(&dir).unwrap();
    assert_eq!(events.len(), 1 + sample_results().cases.len());
    assert!(matches!(events[0], Event::RunStarted { .. }));
}

#[test]
fn flipped_byte_is_reported_as_modified_with_its_path() {
    let (_tmp, dir) = new_bundle(None);
    let path = dir.join("results.json");
    let mut bytes = fs::read(&path).unwrap();
    bytes[10] ^= 0x01;
    fs::write(&path, bytes).unwrap();

    let report = verify(&dir, None);
    assert!(!report.is_valid());
    let modified: Vec<_> = errors(&report);
    assert_eq!(modified.len(), 1, "{report}");
    assert!(
        matches!(modified[0], Problem::Modified { path, expected, actual }
            if path == "results.json" && expected != actual),
        "{report}"
    );
    assert!(report.to_string().contains("modified: results.json"), "{report}");
}

#[test]
fn deleted_file_is_missing_and_added_file_is_extra() {
    let (_tmp, dir) = new_bundle(None);
    fs::remove_file(dir.join("cases/lockout/exchanges.jsonl")).unwrap();
    fs::write(dir.join("cases/planted.txt"), b"not evidence").unwrap();

    let report = verify(&dir, None);
    assert!(!report.is_valid());
    assert!(report.problems.contains(&Problem::Missing {
        path: "cases/lockout/exchanges.jsonl".into()
    }));
    assert!(report.problems.contains(&Problem::Extra {
        path: "cases/planted.txt".into()
    }));
    let text = report.to_string();
    assert!(text.contains("missing: cases/lockout/exchanges.jsonl"), "{text}");
    assert!(text.contains("extra: cases/planted.txt"), "{text}");
}

#[cfg(unix)]
#[test]
fn symlink_inside_bundle_is_a_problem_and_is_not_followed() {
    let (tmp, dir) = new_bundle(None);
    let secret = tmp.path().join("outside.txt");
    fs::write(&secret, b"outside").unwrap();
    // Replace a listed file with a link to an outside file holding the same bytes' name.
    fs::remove_file(dir.join("target.toml")).unwrap();
    std::os::unix::fs::symlink(&secret, dir.join("target.toml")).unwrap();

    let report = verify(&dir, None);
    assert!(!report.is_valid());
    assert!(
        report.problems.contains(&Problem::Symlink {
            path: "target.toml".into()
        }),
        "{report}"
    );
}

#[test]
fn crash_before_finish_is_incomplete_never_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    let mut writer = BundleWriter::create(&dir).unwrap();
    writer.write_file("target.toml", b"x").unwrap();
    drop(writer); // the "crash"

    let report = verify(&dir, None);
    assert!(!report.is_valid());
    assert!(report.is_incomplete(), "{report}");

    // Crash between writing the manifest and removing the marker.
    let (_tmp2, done) = new_bundle(None);
    fs::write(done.join(INCOMPLETE_MARKER), b"{}").unwrap();
    let report = verify(&done, None);
    assert!(report.is_incomplete(), "{report}");
    assert!(!report.is_valid());
}

#[test]
fn resume_keeps_files_cleans_leftovers_and_finishes_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    let mut writer = BundleWriter::create(&dir).unwrap();
    writer.write_file("target.toml", b"kept").unwrap();
    writer
        .append_event(&Event::RunFinished {
            ts: "t".into(),
            complete: false,
        })
        .unwrap();
    let created = writer.created().to_string();
    drop(writer);
    // What a crash can leave: a torn event line and a temporary file.
    let mut events = fs::read(dir.join("events.jsonl")).unwrap();
    events.extend_from_slice(b"{\"event\":\"case_sta");
    fs::write(dir.join("events.jsonl"), events).unwrap();
    fs::write(dir.join("results.json.tmp-0123456789abcdef"), b"half").unwrap();

    assert!(matches!(
        BundleWriter::create(&dir),
        Err(EvidenceError::DirectoryNotEmpty(_))
    ));
    let mut writer = BundleWriter::resume(&dir).unwrap();
    assert_eq!(writer.created(), created);
    writer
        .append_event(&Event::RunFinished {
            ts: "t2".into(),
            complete: true,
        })
        .unwrap();
    writer
        .finish(
            &sample_results(),
            FinishOptions {
                signing_key: None,
                report: ReportContext::default(),
            },
        )
        .unwrap();

    assert_eq!(fs::read(dir.join("target.toml")).unwrap(), b"kept");
    assert_eq!(read_events(&dir).unwrap().len(), 2);
    let report = verify(&dir, None);
    assert!(report.is_valid(), "{report}");
    assert!(matches!(
        BundleWriter::resume(&dir),
        Err(EvidenceError::NotResumable(_))
    ));
}

#[test]
fn create_refuses_a_non_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("someone-elses-file"), b"x").unwrap();
    assert!(matches!(
        BundleWriter::create(tmp.path()),
        Err(EvidenceError::DirectoryNotEmpty(_))
    ));
    assert!(matches!(
        BundleWriter::resume(tmp.path()),
        Err(EvidenceError::NotResumable(_))
    ));
}

#[test]
fn signature_checks_with_right_key_and_fails_with_wrong_key_or_tampering() {
    let (signing, verifying) = generate_keypair().unwrap();
    let (_, wrong) = generate_keypair().unwrap();
    let (_tmp, dir) = new_bundle(Some(&signing));
    assert!(dir.join(SIGNATURE_FILE).exists());

    let good = verify(&dir, Some(&verifying));
    assert!(good.is_valid(), "{good}");
    assert!(good.signature_trusted);
    assert_eq!(good.signer_fingerprint, Some(fingerprint(&verifying)));

    let untrusted = verify(&dir, None);
    assert!(untrusted.is_valid());
    assert!(!untrusted.signature_trusted);
    assert!(untrusted.problems.contains(&Problem::SignatureNotChecked {
        fingerprint: fingerprint(&verifying)
    }));

    let wrong_key = verify(&dir, Some(&wrong));
    assert!(!wrong_key.is_valid());
    assert!(
        wrong_key
            .problems
            .iter()
            .any(|p| matches!(p, Problem::SignatureInvalid(_))),
        "{wrong_key}"
    );

    // A forger edits a file and rewrites the manifest to match: hashes agree, the signature
    // does not.
    let manifest_path = dir.join(MANIFEST_FILE);
    let text = fs::read_to_string(&manifest_path).unwrap();
    let tampered = text.replacen("\"hopquy\"", "\"hopquy-forged\"", 1);
    assert_ne!(text, tampered);
    fs::write(&manifest_path, tampered).unwrap();
    let report = verify(&dir, Some(&verifying));
    assert!(!report.is_valid());
    assert_eq!(
        errors(&report),
        vec![&Problem::SignatureInvalid(
            "signature does not match manifest.json".into()
        )],
        "{report}"
    );
}

#[test]
fn key_given_but_bundle_unsigned_is_signature_missing() {
    let (_, verifying) = generate_keypair().unwrap();
    let (_tmp, dir) = new_bundle(None);
    let report = verify(&dir, Some(&verifying));
    assert!(!report.is_valid());
    assert_eq!(errors(&report), vec![&Problem::SignatureMissing]);
}

#[test]
fn finishing_writes_no_temporary_files() {
    let (_tmp, dir) = new_bundle(None);
    let mut stack = vec![dir.clone()];
    let mut seen = 0;
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(!name.contains(".tmp-"), "left over: {}", entry.path().display());
            seen += 1;
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            }
        }
    }
    assert!(seen > 5);
}

#[test]
fn paths_escaping_the_bundle_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    let mut writer = BundleWriter::create(&dir).unwrap();
    for bad in [
        "../escape",
        "/tmp/abs",
        "cases/../../escape",
        "a//b",
        "manifest.json",
        "events.jsonl",
    ] {
        assert!(
            matches!(writer.write_file(bad, b"x"), Err(EvidenceError::UnsafePath { .. })),
            "{bad} accepted"
        );
    }
    assert!(writer.write_definition("../../escape", b"x").is_err());
    for bad_id in ["../x", "a/b", ".hidden", "", "x y"] {
        assert!(
            matches!(
                writer.write_exchanges(bad_id, &[]),
                Err(EvidenceError::InvalidCaseId { .. })
            ),
            "case id {bad_id:?} accepted"
        );
    }
    assert!(writer.write_case_file("ok", "../../escape", b"x").is_err());
    assert!(!tmp.path().join("escape").exists());

    #[cfg(unix)]
    {
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("cases")).unwrap();
        assert!(writer.write_exchanges("x", &[]).is_err());
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }
}

#[test]
fn oversized_results_are_refused_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let file = fs::File::create(tmp.path().join("results.json")).unwrap();
    // Sparse: costs nothing on disk, but is over the limit by size.
    file.set_len(manifest::MAX_RESULTS_BYTES + 1).unwrap();
    assert!(matches!(read_results(tmp.path()), Err(EvidenceError::TooLarge { .. })));
}

#[test]
fn junit_survives_hostile_text_and_round_trips() {
    let mut results = sample_results();
    results.cases[0].summary = "  banner \u{1b}[31mRED\u{0} <b>&\" end\r\n".into();
    results.cases[0].steps[0].message = Some("nul\u{0}here".into());
    let report = junit_report(&results);
    let xml = junit_xml(&results).unwrap();
    assert!(!xml.contains('\u{1b}') && !xml.contains('\u{0}'));

    let parsed = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    assert_eq!(parsed, report);

    // Groups: 2.1, 2.2, 2.3, 2.10 in reading order; the two-clause case is in 2.1 and 2.3.
    let names: Vec<&str> = parsed.test_suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["2.1", "2.2", "2.3", "2.10"]);
    let in_suite = |suite: &str| -> Vec<String> {
        parsed
            .test_suites
            .iter()
            .find(|s| s.name.as_str() == suite)
            .unwrap()
            .test_cases
            .iter()
            .map(|c| c.name.to_string())
            .collect()
    };
    assert!(in_suite("2.1").contains(&"lockout".to_string()));
    assert!(in_suite("2.3").contains(&"lockout".to_string()));

    let fail = &parsed.test_suites[0]
        .test_cases
        .iter()
        .find(|c| c.name.as_str() == "default-password")
        .unwrap();
    match &fail.status {
        quick_junit::TestCaseStatus::NonSuccess { kind, message, .. } => {
            assert_eq!(*kind, quick_junit::NonSuccessKind::Failure);
            let message = message.as_ref().unwrap().as_str();
            assert!(message.contains("RED") && message.contains("<b>&"), "{message}");
        }
        other => panic!("expected failure, got {other:?}"),
    }
    let props: Vec<(String, String)> = fail
        .properties
        .iter()
        .map(|p| (p.name.to_string(), p.value.to_string()))
        .collect();
    assert!(props.contains(&("clause".into(), "2.1.1".into())));
    assert!(props.contains(&("kind".into(), "automated".into())));
    assert!(props.contains(&("regulation".into(), "qcvn135-2024".into())));

    let skipped_message = |suite: &str, case: &str| {
        let tc = parsed
            .test_suites
            .iter()
            .find(|s| s.name.as_str() == suite)
            .unwrap()
            .test_cases
            .iter()
            .find(|c| c.name.as_str() == case)
            .unwrap();
        match &tc.status {
            quick_junit::TestCaseStatus::Skipped { message, .. } => {
                message.as_ref().map(|m| m.to_string()).unwrap_or_default()
            }
            other => panic!("{case}: expected skipped, got {other:?}"),
        }
    };
    assert!(skipped_message("2.2", "telnet-closed").starts_with("inconclusive: "));
    assert!(skipped_message("2.10", "tls-versions").starts_with("not applicable"));
    let error_case = in_suite("2.3");
    assert!(error_case.contains(&"ssh-algorithms".to_string()));
    assert_eq!(parsed.errors, 1);
}

#[test]
fn report_escapes_device_text_and_is_bilingual() {
    let mut results = sample_results();
    results.device.model = "<script>alert(1)</script>".into();
    results.cases[0].summary = "banner <script>steal()</script> \u{202e}txt".into();
    results.cases[0].steps[0].observations = serde_json::json!({"banner": "<img src=x onerror=alert(1)>"});
    let html = render_report(&results, &report_ctx()).unwrap();

    assert!(!html.contains("<script"), "unescaped script tag");
    assert!(!html.contains("<img"), "unescaped img tag");
    assert!(html.contains("&lt;script&gt;"));
    assert!(!html.contains('\u{202e}'));
    assert!(html.contains("Kết quả theo điều khoản"));
    assert!(html.contains("Results by clause"));
    for clause in &results.clauses {
        assert!(
            html.contains(&format!(">{}<", clause.id)),
            "clause {} absent",
            clause.id
        );
    }
    assert!(html.contains("href=\"cases&#x2f;lockout&#x2f;exchanges.jsonl\""));
    assert!(html.contains("Phòng thử nghiệm A"));
    assert!(html.contains("VILAS 000"));
    // Unset optional fields print a dash, not blanks or "none".
    assert!(html.contains("<td>—</td>"), "customer should default to a dash");
    assert!(!html.contains(">none<"));
}

#[test]
fn report_says_which_web_surface_the_run_used_and_why() {
    let mut results = sample_results();
    let html = render_report(&results, &report_ctx()).unwrap();
    assert!(html.contains("Web API surface used"), "no web surface row");
    assert!(html.contains("redirects to https:"), "the reason is not shown");
    assert!(html.contains(&"ab".repeat(32)), "the pinned certificate is not shown");

    results.web_surface = None;
    let html = render_report(&results, &report_ctx()).unwrap();
    assert!(!html.contains("Web API surface used"), "a row without a surface");
}

#[test]
fn report_template_can_be_overridden_and_still_escapes() {
    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("lab.txt");
    fs::write(&template, "LAB {{ r.device.model }} {{ r.lab_name }}").unwrap();
    let mut results = sample_results();
    results.device.model = "<b>m</b>".into();
    let ctx = ReportContext {
        template_override: Some(template.clone()),
        ..report_ctx()
    };
    let html = render_report(&results, &ctx).unwrap();
    assert_eq!(html, "LAB &lt;b&gt;m&lt;&#x2f;b&gt; Phòng thử nghiệm A");

    fs::write(&template, "{{ r.no_such_field }}").unwrap();
    assert!(matches!(render_report(&results, &ctx), Err(EvidenceError::Template(_))));
}

#[test]
fn diff_reports_the_changed_verdicts() {
    let a = sample_results();
    let mut b = sample_results();
    b.cases[0].verdict = Verdict::Pass;
    b.clauses.iter_mut().find(|c| c.id == "2.1.1").unwrap().verdict = Verdict::Pass;
    b.cases.pop();

    let d = diff(&a, &b);
    assert_eq!(
        d.case_changes,
        vec![VerdictChange {
            id: "default-password".into(),
            before: Verdict::Fail,
            after: Verdict::Pass
        }]
    );
    assert_eq!(
        d.clause_changes,
        vec![VerdictChange {
            id: "2.1.1".into(),
            before: Verdict::Fail,
            after: Verdict::Pass
        }]
    );
    assert_eq!(d.cases_only_in_a, vec!["ssh-algorithms".to_string()]);
    assert!(d.cases_only_in_b.is_empty());
    assert!(!d.verdicts_identical());
    let table = d.to_string();
    assert!(
        table.contains("2.1.1") && table.contains("fail") && table.contains("pass"),
        "{table}"
    );

    assert!(diff(&a, &a).verdicts_identical());
}

#[test]
fn diff_bundles_compares_evidence_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let results = sample_results();
    write_bundle(&tmp.path().join("a"), &results, None);

    let dir_b = tmp.path().join("b");
    let mut writer = BundleWriter::create(&dir_b).unwrap();
    for c in &results.cases {
        let payload = if c.id == "lockout" { "changed" } else { "GET /" };
        writer
            .write_exchanges(&c.id, &[serde_json::json!({"case": c.id, "request": payload})])
            .unwrap();
    }
    writer
        .finish(
            &results,
            FinishOptions {
                signing_key: None,
                report: ReportContext::default(),
            },
        )
        .unwrap();

    let d = diff_bundles(&tmp.path().join("a"), &dir_b).unwrap();
    assert!(d.manifests_compared);
    assert!(d.verdicts_identical());
    let changed: Vec<&str> = d.evidence_changes.iter().map(|c| c.case.as_str()).collect();
    assert_eq!(changed, ["lockout"]);
    assert_eq!(d.evidence_changes[0].path, "cases/lockout/exchanges.jsonl");
}

/// The sample with a cause on its inconclusive and error cases, summaries as the runner
/// writes them (starting with the verdict).
fn results_with_causes() -> Results {
    let mut results = sample_results();
    let mut cases = results.cases.clone();
    for case in &mut cases {
        match case.id.as_str() {
            "telnet-closed" => {
                case.summary = "inconclusive: step `ask`: no operator answer: nobody at the bench".into();
                case.cause = Some(Cause::of(CauseClass::AnswerMissing));
            }
            "ssh-algorithms" => case.cause = Some(Cause::of(CauseClass::NoAnswer)),
            _ => {}
        }
    }
    results = common::results_from(cases, &Default::default());
    results
}

#[test]
fn results_without_causes_read_and_write_as_before() {
    // A results.json written before causes existed: no `cause`, no `causes`.
    let text = serde_json::to_string_pretty(&sample_results()).unwrap();
    assert!(
        !text.contains("\"cause"),
        "a bundle without causes gained a field: {text}"
    );
    let parsed: Results = serde_json::from_str(&text).unwrap();
    assert!(parsed.cases.iter().all(|c| c.cause.is_none()));
    assert!(parsed.clauses.iter().all(|c| c.causes.is_empty()));
    assert_eq!(serde_json::to_string_pretty(&parsed).unwrap(), text);
}

#[test]
fn causes_round_trip_and_verify() {
    let results = results_with_causes();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    write_bundle(&dir, &results, None);
    let report = verify(&dir, None);
    assert!(report.is_valid(), "{report}");
    let read = read_results(&dir).unwrap();
    assert_eq!(read, results);

    let raw: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("results.json")).unwrap()).unwrap();
    let telnet = raw["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "telnet-closed")
        .unwrap();
    assert_eq!(telnet["cause"]["class"], "answer-missing");
    assert_eq!(telnet["cause"]["hint"], CauseClass::AnswerMissing.hint());
    let clause = read.clauses.iter().find(|c| c.id == "2.2.1").unwrap();
    assert_eq!(clause.causes, [CauseClass::AnswerMissing]);
    let passing = read.clauses.iter().find(|c| c.id == "2.1.5").unwrap();
    assert!(passing.causes.is_empty());
}

#[test]
fn junit_message_names_the_cause_once_with_one_verdict_label() {
    let results = results_with_causes();
    let parsed = quick_junit::Report::deserialize_from_str(&junit_xml(&results).unwrap()).unwrap();
    let status = |name: &str| {
        parsed
            .test_suites
            .iter()
            .flat_map(|s| s.test_cases.iter())
            .find(|c| c.name.as_str() == name)
            .unwrap()
            .status
            .clone()
    };
    match status("telnet-closed") {
        quick_junit::TestCaseStatus::Skipped {
            message, description, ..
        } => {
            let message = message.unwrap().to_string();
            assert_eq!(
                message,
                "inconclusive [answer-missing]: step `ask`: no operator answer: nobody at the bench"
            );
            let description = description.unwrap().to_string();
            assert!(description.contains(CauseClass::AnswerMissing.hint()), "{description}");
        }
        other => panic!("expected skipped, got {other:?}"),
    }
    match status("ssh-algorithms") {
        quick_junit::TestCaseStatus::NonSuccess { message, .. } => {
            assert_eq!(message.unwrap().as_str(), "error [no-answer]: connection reset");
        }
        other => panic!("expected error, got {other:?}"),
    }
}

#[test]
fn report_lists_what_to_do_per_cause_in_both_languages() {
    let html = render_report(&results_with_causes(), &report_ctx()).unwrap();
    // The hints hold quotes and apostrophes, which the template escapes.
    let escaped = |text: &str| {
        text.replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('\'', "&#x27;")
            .replace('<', "&lt;")
    };
    for class in [CauseClass::AnswerMissing, CauseClass::NoAnswer] {
        assert!(html.contains(class.as_str()), "{} missing", class.as_str());
        assert!(html.contains(&escaped(class.hint())), "{class} hint missing");
        assert!(
            html.contains(&escaped(class.hint_vi())),
            "{class} Vietnamese hint missing"
        );
    }
    assert!(html.contains("What to do about undecided cases"));
    assert!(
        !html.contains(CauseClass::DeviceLocked.as_str()),
        "a cause no case has is listed"
    );

    let without = render_report(&sample_results(), &report_ctx()).unwrap();
    assert!(!without.contains("What to do about undecided cases"));
}

/// The sample as a `--cases lockout` run would record it: one case, its clauses tested, the
/// rest of the sample's clauses not tested.
fn partial_results() -> Results {
    let mut results = sample_results();
    let full = results.clone();
    results.cases.retain(|c| c.id == "lockout");
    let (tested, untested): (Vec<ClauseResult>, Vec<ClauseResult>) = full
        .clauses
        .into_iter()
        .partition(|c| c.cases.iter().any(|id| id == "lockout"));
    results.clauses = tested;
    results.clauses_not_tested = untested
        .into_iter()
        .map(|c| UntestedClause {
            id: c.id,
            title_en: c.title_en,
            title_vi: c.title_vi,
        })
        .collect();
    results.selection = Some(vec!["lockout".into()]);
    results
}

#[test]
fn a_partial_run_names_its_not_tested_clauses_and_claims_nothing_about_them() {
    let results = partial_results();
    let json = serde_json::to_value(&results).unwrap();
    assert_eq!(json["selection"], serde_json::json!(["lockout"]));
    assert!(
        json["clauses"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["verdict"] == "pass"),
        "{json}"
    );
    let untested: Vec<&str> = json["clauses_not_tested"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(
        untested.contains(&"2.1.1") && !untested.contains(&"2.1.5"),
        "{untested:?}"
    );
    // A full run's results.json has neither field, as before.
    let full = serde_json::to_value(sample_results()).unwrap();
    assert!(full.get("selection").is_none() && full.get("clauses_not_tested").is_none());
    let back: Results = serde_json::from_value(json).unwrap();
    assert_eq!(back, results);

    let html = render_report(&results, &report_ctx()).unwrap();
    assert!(html.contains("Partial run"), "no partial-run banner");
    assert!(
        html.contains("This run tested clauses 2.1.5, 2.3.1 only"),
        "tested clauses not named"
    );
    assert!(html.contains("Cases selected: <span class=\"mono\">lockout"));
    let row = &html[html.find(">2.1.1<").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("Not tested"), "{row}");
    assert!(
        !row.contains("Not applicable"),
        "a not-tested clause shown as not applicable: {row}"
    );

    // Machine formats do not claim the untested clauses.
    let junit = junit_xml(&results).unwrap();
    let sarif = sarif_json(&results).unwrap();
    let oscal = oscal_json(&results).unwrap();
    for (name, text) in [("junit", &junit), ("sarif", &sarif), ("oscal", &oscal)] {
        assert!(!text.contains("2.1.1"), "{name} mentions untested clause 2.1.1");
        assert!(
            !text.contains("not_applicable") && !text.contains("not applicable"),
            "{name}"
        );
    }
}

#[test]
fn diff_says_not_tested_rather_than_a_change_of_verdict() {
    let full = sample_results();
    let partial = partial_results();
    let d = diff(&full, &partial);
    assert!(d.clause_changes.is_empty(), "{:?}", d.clause_changes);
    assert!(d.clauses_only_in_a.is_empty(), "{:?}", d.clauses_only_in_a);
    assert!(d.clauses_not_tested_in_b.contains(&"2.1.1".to_string()));
    let table = d.to_string();
    assert!(table.contains("Clauses not tested in B"), "{table}");
    assert!(!d.verdicts_identical());
    let back = diff(&partial, &full);
    assert!(back.clauses_not_tested_in_a.contains(&"2.1.1".to_string()));
    assert!(diff(&partial, &partial).verdicts_identical());
}

#[test]
fn the_clause_table_shows_each_case_verdict_and_observations_sit_in_an_appendix() {
    let mut results = sample_results();
    results.cases[0].steps[0].observations = serde_json::json!({"banner": "raw-observation-marker"});
    let html = render_report(&results, &report_ctx()).unwrap();
    let clauses_at = html.find("Results by clause").unwrap();
    let details_at = html.find("Case details").unwrap();
    let table = &html[clauses_at..details_at];
    let row = &table[table.find(">default-password<").unwrap()..];
    let row = &row[..row.find("</div>").unwrap()];
    assert!(row.contains("Fail"), "the case's verdict is not next to its id: {row}");
    let appendix_at = html.find("Appendix A. Observations").expect("no appendix");
    let marker_at = html.find("raw-observation-marker").unwrap();
    assert!(marker_at > appendix_at, "raw observations still in the case body");
    assert_eq!(html.matches("raw-observation-marker").count(), 1);
}
