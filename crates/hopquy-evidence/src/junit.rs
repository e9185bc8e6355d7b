//! junit.xml: one `<testsuite>` per clause group, one `<testcase>` per case, so CI systems
//! show a camera's conformity the way they show unit tests.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::error::EvidenceError;
use crate::fsutil::sanitize_text;
use crate::model::{CaseResult, Results, Verdict};

/// Suite name for cases that map to no clause (should not happen, but must not vanish).
pub const UNASSIGNED_GROUP: &str = "unassigned";
const MAX_MESSAGE_CHARS: usize = 300;

/// Clause id up to the second dot: `2.1.5` → `2.1`, `2.1` → `2.1`, `5` → `5`.
pub fn clause_group(clause: &str) -> &str {
    match clause.match_indices('.').nth(1) {
        Some((at, _)) => &clause[..at],
        None => clause,
    }
}

/// Orders clause ids as people read them: `2.9` before `2.10`.
pub fn clause_sort_key(clause: &str) -> Vec<(u64, String)> {
    clause
        .split('.')
        .map(|part| match part.parse::<u64>() {
            Ok(n) => (n, String::new()),
            Err(_) => (u64::MAX, part.to_string()),
        })
        .collect()
}

/// Suites keyed by reading order of the group id: (group id, its cases).
type Groups<'a> = BTreeMap<Vec<(u64, String)>, (String, Vec<&'a CaseResult>)>;

pub fn junit_report(results: &Results) -> Report {
    let mut groups: Groups<'_> = BTreeMap::new();
    for case in &results.cases {
        let mut case_groups: Vec<&str> = case.clauses.iter().map(|c| clause_group(c)).collect();
        if case_groups.is_empty() {
            case_groups.push(UNASSIGNED_GROUP);
        }
        case_groups.sort();
        case_groups.dedup();
        for group in case_groups {
            groups
                .entry(clause_sort_key(group))
                .or_insert_with(|| (group.to_string(), Vec::new()))
                .1
                .push(case);
        }
    }

    let mut report = Report::new(sanitize_text(&format!("hopquy {}", results.regulation)));
    if let Some(started) = parse_time(&results.started) {
        report.set_timestamp(started);
        if let Some(time) = parse_time(&results.finished).and_then(|end| elapsed(started, end)) {
            report.set_time(time);
        }
    }
    for (_, (group, cases)) in groups {
        let mut suite = TestSuite::new(sanitize_text(&group));
        suite.add_property(Property::new("regulation", sanitize_text(&results.regulation)));
        for case in cases {
            suite.add_test_case(test_case(results, &group, case));
        }
        report.add_test_suite(suite);
    }
    report
}

fn test_case(results: &Results, group: &str, case: &CaseResult) -> TestCase {
    // Readers trim element text; trimming here keeps the file faithful to what they show.
    let summary = sanitize_text(case.summary.trim());
    // The cause leads the message, so a CI list shows what to fix even when it cuts the
    // line; the hint goes in the body with the full summary.
    let described = match &case.cause {
        Some(cause) => format!(
            "{summary}\ncause: {}\nwhat to do: {}",
            cause.class,
            sanitize_text(&cause.hint)
        ),
        None => summary.clone(),
    };
    let message = |label: &str| {
        let cause = case
            .cause
            .as_ref()
            .map(|cause| format!(" [{}]", cause.class))
            .unwrap_or_default();
        one_line(&format!("{label}{cause}: {}", without_label(&summary, label)))
    };
    let status = match case.verdict {
        Verdict::Pass => TestCaseStatus::success(),
        Verdict::Fail => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(one_line(&summary))
                .set_type("fail")
                .set_description(described.clone());
            s
        }
        Verdict::Error => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message(message("error"))
                .set_type("error")
                .set_description(described.clone());
            s
        }
        Verdict::Inconclusive => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(message("inconclusive"))
                .set_type("inconclusive")
                .set_description(described.clone());
            s
        }
        Verdict::NotApplicable => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(message("not applicable")).set_type("not_applicable");
            s
        }
    };
    let mut test_case = TestCase::new(sanitize_text(&case.id), status);
    test_case.set_classname(sanitize_text(&format!("{}.{group}", results.regulation)));
    for clause in case.clauses.iter().filter(|c| clause_group(c) == group) {
        test_case.add_property(Property::new("clause", sanitize_text(clause)));
    }
    test_case.add_property(Property::new("kind", case.kind.as_str()));
    test_case.add_property(Property::new("regulation", sanitize_text(&results.regulation)));
    test_case.add_property(Property::new("verdict", case.verdict.as_str()));
    if let (Some(start), Some(end)) = (
        case.started.as_deref().and_then(parse_time),
        case.finished.as_deref().and_then(parse_time),
    ) {
        test_case.set_timestamp(start);
        if let Some(time) = elapsed(start, end) {
            test_case.set_time(time);
        }
    }
    test_case.set_system_out(system_out(case));
    test_case
}

/// Steps and evidence paths, so a CI reader can see what happened without the bundle.
fn system_out(case: &CaseResult) -> String {
    let mut out = format!("verdict: {}\nsummary: {}\n", case.verdict, case.summary);
    if let Some(cause) = &case.cause {
        out.push_str(&format!("cause: {}\nwhat to do: {}\n", cause.class, cause.hint));
    }
    for step in &case.steps {
        out.push_str(&format!("step {} ({}): {}", step.id, step.action, step.status));
        if let Some(message) = &step.message {
            out.push_str(": ");
            out.push_str(message);
        }
        out.push('\n');
    }
    for evidence in &case.evidence {
        out.push_str(&format!("evidence: {evidence}\n"));
    }
    sanitize_text(out.trim_end())
}

/// The runner starts some summaries with the verdict (`inconclusive: step …`, or its code
/// `not_applicable: step …`); the message adds its own label, so a second one is dropped
/// rather than printed twice.
fn without_label<'s>(summary: &'s str, label: &str) -> &'s str {
    let code = label.replace(' ', "_");
    [label, code.as_str()]
        .iter()
        .find_map(|prefix| summary.strip_prefix(prefix).and_then(|rest| rest.strip_prefix(':')))
        .map_or(summary, str::trim_start)
}

/// Attribute values lose newlines in XML parsers; keep the message to one bounded line
/// (the full text goes in the element body).
fn one_line(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default();
    let mut line: String = first.chars().take(MAX_MESSAGE_CHARS).collect();
    if first.chars().count() > MAX_MESSAGE_CHARS || text.lines().nth(1).is_some() {
        line.push('…');
    }
    line.replace('\t', " ")
}

fn parse_time(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text).ok()
}

fn elapsed(start: DateTime<FixedOffset>, end: DateTime<FixedOffset>) -> Option<Duration> {
    (end - start).to_std().ok()
}

pub fn junit_xml(results: &Results) -> Result<String, EvidenceError> {
    junit_report(results)
        .to_string()
        .map_err(|e| EvidenceError::Junit(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn groups_stop_at_the_second_dot() {
        assert_eq!(clause_group("2.1.5"), "2.1");
        assert_eq!(clause_group("2.1"), "2.1");
        assert_eq!(clause_group("5"), "5");
        assert_eq!(clause_group("2.1.5.3"), "2.1");
        assert!(clause_sort_key("2.9") < clause_sort_key("2.10"));
    }

    #[test]
    fn a_verdict_label_is_never_doubled() {
        for (summary, label) in [
            ("not_applicable: step `probe`: no RTSP service", "not applicable"),
            ("not applicable: profile `x` binds no operation", "not applicable"),
            ("inconclusive: step `ask`: no answer", "inconclusive"),
            ("error: no expectation was evaluated", "error"),
        ] {
            let rest = without_label(summary, label);
            assert!(
                !rest.starts_with("not") && !rest.starts_with(label),
                "{summary} → {rest}"
            );
        }
        assert_eq!(without_label("banner leaked", "error"), "banner leaked");
    }

    #[test]
    fn a_leading_verdict_label_is_not_repeated() {
        assert_eq!(
            without_label("inconclusive: step `a`: x", "inconclusive"),
            "step `a`: x"
        );
        assert_eq!(
            without_label("inconclusively odd", "inconclusive"),
            "inconclusively odd"
        );
        assert_eq!(without_label("no label", "error"), "no label");
    }

    #[test]
    fn long_messages_are_cut_to_one_line() {
        let cut = one_line(&"x".repeat(1000));
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert_eq!(one_line("a\nb"), "a…");
    }
}
