//! Regulation catalogues: ids, groups and clauses.

use std::collections::BTreeMap;

use toml::de::DeTable;

use crate::doc;
use crate::error::{Diagnostic, SourceFile, did_you_mean_hint, one_of};
use crate::model::Regulation;

fn is_iso_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            _ => byte.is_ascii_digit(),
        })
}

/// Checks one catalogue: its id equals the file stem `stem`, clause and group ids are
/// unique, and each clause's group exists when groups are listed.
pub(crate) fn check_regulation(
    file: SourceFile<'_>,
    root: &DeTable<'_>,
    regulation: &Regulation,
    stem: &str,
) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let value_span = |table: &DeTable<'_>, key: &str| doc::get(table, key).map_or(0..0, |(_, value)| value.span());
    if regulation.id != stem {
        diagnostics.push(
            file.error_at(
                value_span(root, "id"),
                format!("regulation id `{}` differs from the file name", regulation.id),
            )
            .with_expected(format!("`{stem}` (the file stem)")),
        );
    }
    if !is_iso_date(&regulation.effective) {
        diagnostics.push(
            file.error_at(
                value_span(root, "effective"),
                format!("`{}` is not a date", regulation.effective),
            )
            .with_expected("YYYY-MM-DD"),
        );
    }
    let tables_of = |key: &str| -> Vec<&DeTable<'_>> {
        root.get(key)
            .and_then(doc::as_array)
            .map(|items| items.iter().filter_map(doc::as_table).collect())
            .unwrap_or_default()
    };
    let group_tables = tables_of("groups");
    let clause_tables = tables_of("clauses");
    if regulation.clauses.is_empty() {
        diagnostics.push(file.error_at(
            doc::get(root, "clauses").map_or(0..0, |(key, _)| key.span()),
            "the catalogue lists no clauses",
        ));
    }
    let mut group_first: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, group) in regulation.groups.iter().enumerate() {
        let span = group_tables.get(index).map_or(0..0, |table| value_span(table, "id"));
        if let Some(first) = group_first.get(group.id.as_str()) {
            let first_span = group_tables.get(*first).map_or(0..0, |table| value_span(table, "id"));
            diagnostics.push(
                file.error_at(span, format!("duplicate group id `{}`", group.id))
                    .with_note(format!("first defined at {}", file.location_of(first_span.start))),
            );
        } else {
            group_first.insert(&group.id, index);
        }
    }
    let group_ids: Vec<&str> = regulation.groups.iter().map(|group| group.id.as_str()).collect();
    let mut clause_first: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, clause) in regulation.clauses.iter().enumerate() {
        let table = clause_tables.get(index);
        let id_span = table.map_or(0..0, |table| value_span(table, "id"));
        if let Some(first) = clause_first.get(clause.id.as_str()) {
            let first_span = clause_tables.get(*first).map_or(0..0, |table| value_span(table, "id"));
            diagnostics.push(
                file.error_at(id_span, format!("duplicate clause id `{}`", clause.id))
                    .with_note(format!("first defined at {}", file.location_of(first_span.start))),
            );
        } else {
            clause_first.insert(&clause.id, index);
        }
        if !group_ids.is_empty() && !group_ids.contains(&clause.group.as_str()) {
            let span = table.map_or(0..0, |table| value_span(table, "group"));
            diagnostics.push(
                file.error_at(
                    span,
                    format!("clause `{}` names unknown group `{}`", clause.id, clause.group),
                )
                .with_expected(one_of(group_ids.iter().copied()))
                .with_optional_hint(did_you_mean_hint(&clause.group, group_ids.iter().copied())),
            );
        }
    }
    diagnostics
}
