//! Answers files: each step answered once, not empty, and (with the run's cases) naming
//! an operator or document step that exists.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::de::DeTable;

use super::entry_tables;
use crate::doc;
use crate::error::{Diagnostic, SourceFile, did_you_mean_hint, one_of};
use crate::model::AnswersFile;
use crate::typed::Case;

/// Checks a parsed answers file; with `cases`, its ids against them.
pub(crate) fn check_answers(
    file: SourceFile<'_>,
    root: &DeTable<'_>,
    answers: &AnswersFile,
    cases: Option<&[&Case]>,
) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let tables = entry_tables(root, "answer");
    let span_of = |index: usize, key: &str| {
        tables
            .get(index)
            .and_then(|table| doc::get(table, key))
            .map_or(0..0, |(_, value)| value.span())
    };
    let mut first: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (index, entry) in answers.answer.iter().enumerate() {
        if let Some(first_index) = first.get(&(entry.case.as_str(), entry.step.as_str())) {
            diagnostics.push(
                file.error_at(
                    span_of(index, "step"),
                    format!("step `{}` of case `{}` is answered twice", entry.step, entry.case),
                )
                .with_note(format!(
                    "first answered at {}",
                    file.location_of(span_of(*first_index, "step").start)
                )),
            );
        } else {
            first.insert((&entry.case, &entry.step), index);
        }
        if let Some(cases) = cases {
            diagnostics.extend(check_answer_ids(&file, cases, entry, |key| span_of(index, key)));
        }
        if entry.answer.trim().is_empty() && entry.attachments.is_empty() {
            diagnostics.push(
                file.error_at(
                    span_of(index, "case"),
                    format!("the answer to `{}`/`{}` is empty", entry.case, entry.step),
                )
                .with_expected("`answer = \"…\"` or `attachments = [\"…\"]`"),
            );
        }
    }
    diagnostics
}

/// An answer's case and step ids against the cases a run can ask.
fn check_answer_ids(
    file: &SourceFile<'_>,
    cases: &[&Case],
    entry: &crate::model::AnswerEntry,
    span_of: impl Fn(&str) -> Range<usize>,
) -> Option<Diagnostic> {
    let Some(case) = cases.iter().find(|case| case.id.get_ref() == &entry.case) else {
        let ids: Vec<&str> = cases.iter().map(|case| case.id.get_ref().as_str()).collect();
        return Some(
            file.error_at(span_of("case"), format!("unknown case `{}`", entry.case))
                .with_expected("the id of a case in the suite (`hopquy list`)")
                .with_optional_hint(did_you_mean_hint(&entry.case, ids.iter().copied())),
        );
    };
    let asking: Vec<&str> = case
        .steps
        .iter()
        .filter(|step| step.action.get_ref().is_interactive())
        .map(|step| step.id.get_ref().as_str())
        .collect();
    if asking.contains(&entry.step.as_str()) {
        return None;
    }
    let what = if case.steps.iter().any(|step| step.id.get_ref() == &entry.step) {
        format!(
            "step `{}` of case `{}` asks no question (it is not an operator or document step)",
            entry.step, entry.case
        )
    } else {
        format!("case `{}` has no step `{}`", entry.case, entry.step)
    };
    Some(
        file.error_at(span_of("step"), what)
            .with_expected(if asking.is_empty() {
                format!("case `{}` has no operator or document step to answer", entry.case)
            } else {
                one_of(asking.iter().copied())
            })
            .with_optional_hint(did_you_mean_hint(&entry.step, asking.iter().copied())),
    )
}
