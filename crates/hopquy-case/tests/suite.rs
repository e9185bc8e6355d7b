//! The shipped suite (test-cases/, profiles/, docs/examples/) keeps the promises the
//! documentation makes about it: every clause can be assessed the TS 103 701 way, one run reads
//! the same under either regulation, and the examples match it.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hopquy_case::{CaseKind, Method, Suite};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shipped_suite() -> Suite {
    let (suite, diagnostics) = Suite::load(repo().join("test-cases"));
    assert!(
        diagnostics.is_empty(),
        "{}",
        hopquy_case::render_diagnostics(&diagnostics)
    );
    suite
}

#[test]
fn every_qcvn135_clause_has_a_conceptual_case() {
    let suite = shipped_suite();
    let regulation = suite.regulation("qcvn135-2024").unwrap();
    let mut missing = Vec::new();
    for clause in &regulation.regulation.clauses {
        let covered = suite.cases.iter().any(|loaded| {
            loaded.case.method == Method::Conceptual
                && loaded.case.kind != CaseKind::Automated
                && loaded
                    .case
                    .clauses
                    .get("qcvn135-2024")
                    .is_some_and(|ids| ids.iter().any(|id| id.get_ref() == &clause.id))
        });
        if !covered {
            missing.push(clause.id.clone());
        }
    }
    assert_eq!(regulation.regulation.clauses.len(), 36);
    assert!(missing.is_empty(), "clauses without a conceptual case: {missing:?}");
}

/// A case's QCVN 11 topics are exactly the crosswalk of its QCVN 135 clauses, so a run
/// reported against either regulation rests on the same evidence.
#[test]
fn qcvn11_topics_follow_the_crosswalk() {
    let suite = shipped_suite();
    let regulation = suite.regulation("qcvn135-2024").unwrap();
    let crosswalk: BTreeMap<&str, BTreeSet<String>> = regulation
        .regulation
        .clauses
        .iter()
        .map(|clause| {
            let topics = clause.crosswalk.get("qcvn11-2026").cloned().unwrap_or_default();
            (clause.id.as_str(), topics.into_iter().collect())
        })
        .collect();
    let mut wrong = Vec::new();
    for loaded in &suite.cases {
        let case = &loaded.case;
        let Some(clauses) = case.clauses.get("qcvn135-2024") else {
            continue;
        };
        let expected: BTreeSet<String> = clauses
            .iter()
            .flat_map(|id| crosswalk.get(id.get_ref().as_str()).cloned().unwrap_or_default())
            .collect();
        let declared: BTreeSet<String> = case
            .clauses
            .get("qcvn11-2026")
            .map(|ids| ids.iter().map(|id| id.get_ref().clone()).collect())
            .unwrap_or_default();
        if expected != declared {
            wrong.push(format!(
                "{}: has {declared:?}, crosswalk gives {expected:?}",
                case.id.get_ref()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_example_target_loads() {
    let target = hopquy_case::load_target_with(repo().join("docs/examples/target.toml"), |variable| {
        (variable == "DUT_PASSWORD").then(|| "example-only".to_owned())
    })
    .unwrap_or_else(|diagnostics| panic!("{}", hopquy_case::render_diagnostics(&diagnostics)));
    assert_eq!(target.target.connection.profile.get_ref(), "hikvision-isapi");
    assert_eq!(target.target.credentials.password_env.as_deref(), Some("DUT_PASSWORD"));
    assert_eq!(target.password(), "example-only");
    let profile = hopquy_case::load_profile("hikvision-isapi", repo().join("profiles"))
        .unwrap_or_else(|diagnostics| panic!("{}", hopquy_case::render_diagnostics(&diagnostics)));
    assert!(profile.op("firmware-version").is_some());
}

/// Every answer in docs/examples/answers.toml names a real operator or document step of the
/// shipped suite and has the shape that step's answer kind needs.
#[test]
fn the_example_answers_fit_the_suite() {
    let suite = shipped_suite();
    let answers = hopquy_case::load_answers(repo().join("docs/examples/answers.toml"))
        .unwrap_or_else(|diagnostics| panic!("{}", hopquy_case::render_diagnostics(&diagnostics)));
    assert!(!answers.answer.is_empty());
    for entry in &answers.answer {
        let case = &suite
            .case(&entry.case)
            .unwrap_or_else(|| panic!("no case `{}`", entry.case))
            .case;
        let step = case
            .steps
            .iter()
            .find(|step| step.id.get_ref() == &entry.step)
            .unwrap_or_else(|| panic!("case `{}` has no step `{}`", entry.case, entry.step));
        let action = step.name();
        assert!(
            action == "operator" || action == "document",
            "{}/{} is a `{action}` step, which takes no answer",
            entry.case,
            entry.step
        );
        let kind = step.action.get_ref().answer_kind().map_or("", |kind| kind.as_str());
        match kind {
            "yes-no" => assert!(
                ["yes", "no"].contains(&entry.answer.as_str()),
                "{}/{}: yes-no answer {:?}",
                entry.case,
                entry.step,
                entry.answer
            ),
            "confirm" => assert_eq!(entry.answer, "done", "{}/{}", entry.case, entry.step),
            "attachment" => assert!(!entry.attachments.is_empty(), "{}/{}", entry.case, entry.step),
            _ => assert!(!entry.answer.is_empty(), "{}/{}", entry.case, entry.step),
        }
    }
}
