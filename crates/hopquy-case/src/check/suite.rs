//! Checks across the files of a suite: cases against the regulation catalogues and the data
//! dictionaries they name.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;

use toml::de::DeTable;

use crate::doc;
use crate::error::{Diagnostic, SourceFile, did_you_mean_hint, one_of};
use crate::loaded::{LoadedCase, LoadedRegulation};
use crate::typed::DICTIONARY_PREFIX;

/// Checks every case's `clauses` against the regulation catalogues: the regulation must
/// exist and each clause id must be in it.
pub fn validate_against_catalogue(cases: &[LoadedCase], regulations: &[LoadedRegulation]) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let regulation_ids: Vec<&str> = regulations.iter().map(|loaded| loaded.regulation.id.as_str()).collect();
    for loaded in cases {
        let file = SourceFile::new(&loaded.path, &loaded.text);
        let Ok(root) = DeTable::parse(&loaded.text) else {
            continue;
        };
        let clause_table = root.get_ref().get("clauses").and_then(doc::as_table);
        for (regulation_id, clause_ids) in &loaded.case.clauses {
            let key_span = clause_table
                .and_then(|table| doc::get(table, regulation_id))
                .map_or(0..0, |(key, _)| key.span());
            let Some(regulation) = regulations
                .iter()
                .find(|regulation| &regulation.regulation.id == regulation_id)
            else {
                diagnostics.push(
                    file.error_at(key_span, format!("unknown regulation `{regulation_id}` in [clauses]"))
                        .with_expected(one_of(regulation_ids.iter().copied()))
                        .with_optional_hint(did_you_mean_hint(regulation_id, regulation_ids.iter().copied())),
                );
                continue;
            };
            let known: Vec<&str> = regulation
                .regulation
                .clauses
                .iter()
                .map(|clause| clause.id.as_str())
                .collect();
            for clause_id in clause_ids {
                if !known.contains(&clause_id.get_ref().as_str()) {
                    diagnostics.push(
                        file.error_at(
                            clause_id.span(),
                            format!(
                                "clause `{}` is not in the catalogue of `{regulation_id}`",
                                clause_id.get_ref()
                            ),
                        )
                        .with_expected(format!("a clause id from {}", regulation.path.display()))
                        .with_optional_hint(did_you_mean_hint(clause_id.get_ref(), known.iter().copied())),
                    );
                }
            }
        }
    }
    diagnostics
}

/// Case ids (file stems) repeated across test-cases/: a diagnostic at each repeat, and the
/// indices of the repeats (the first file with an id is kept).
pub(crate) fn duplicate_case_ids(cases: &[LoadedCase]) -> (Vec<Diagnostic>, BTreeSet<usize>) {
    let mut diagnostics = Vec::new();
    let mut first_by_id: BTreeMap<String, usize> = BTreeMap::new();
    let mut duplicates = BTreeSet::new();
    for (index, loaded) in cases.iter().enumerate() {
        let id = loaded.case.id.get_ref().clone();
        if let Some(&first) = first_by_id.get(&id) {
            let first_case = &cases[first];
            let first_file = SourceFile::new(&first_case.path, &first_case.text);
            let file = SourceFile::new(&loaded.path, &loaded.text);
            diagnostics.push(
                file.error_at(loaded.case.id.span(), format!("duplicate case id `{id}`"))
                    .with_note(format!(
                        "also defined at {}",
                        first_file.location_of(first_case.case.id.span().start)
                    ))
                    .with_hint("case ids (file stems) must be unique across test-cases/; rename one file"),
            );
            duplicates.insert(index);
        } else {
            first_by_id.insert(id, index);
        }
    }
    (diagnostics, duplicates)
}

/// Every `dictionary:<stem>` a case names must be a data file of that kind.
pub(crate) fn dictionary_references(
    root: &Path,
    cases: &[LoadedCase],
    credential_names: &[&str],
    path_names: &[&str],
) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    for loaded in cases {
        let file = SourceFile::new(&loaded.path, &loaded.text);
        for (kind, name, span) in references_in(&loaded.text) {
            let (names, entry) = if kind == "credentials" {
                (credential_names, "[[credential]]")
            } else {
                (path_names, "[[path]]")
            };
            if !names.contains(&name.as_str()) {
                diagnostics.push(
                    file.error_at(
                        span,
                        format!("no {kind} dictionary `{name}` in {}", root.join("data").display()),
                    )
                    .with_expected(format!("a file of {entry} entries: {}", one_of(names.iter().copied())))
                    .with_optional_hint(did_you_mean_hint(&name, names.iter().copied())),
                );
            }
        }
    }
    diagnostics
}

/// References to data dictionaries in a case's steps: (`credentials`|`paths`, stem, span).
fn references_in(text: &str) -> Vec<(&'static str, String, Range<usize>)> {
    let Ok(root) = DeTable::parse(text) else {
        return Vec::new();
    };
    let mut references = Vec::new();
    for step in doc::steps(root.get_ref()) {
        for key in ["credentials", "paths"] {
            if let Some(value) = step.get(key)
                && let Some(stem) = value
                    .get_ref()
                    .as_str()
                    .and_then(|text| text.strip_prefix(DICTIONARY_PREFIX))
            {
                let kind = if key == "credentials" { "credentials" } else { "paths" };
                references.push((kind, stem.to_string(), value.span()));
            }
        }
    }
    references
}
