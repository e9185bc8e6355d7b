//! Data dictionaries (test-cases/data/): credential pairs and RTSP paths, each entry
//! documented and listed once.

use std::collections::BTreeMap;

use toml::de::DeTable;

use super::entry_tables;
use crate::doc;
use crate::error::{Diagnostic, SourceFile};
use crate::model::{CredentialDictionary, PathDictionary};
use crate::names::is_kebab;

/// `[[credential]]` entries: at least one, each with a source, no pair twice.
pub(crate) fn credential_dictionary(
    file: SourceFile<'_>,
    root: &DeTable<'_>,
    dictionary: &CredentialDictionary,
) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let tables = entry_tables(root, "credential");
    if dictionary.credential.is_empty() {
        diagnostics.push(file.error_at(0..0, "the dictionary has no [[credential]] entries"));
    }
    let mut first: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (index, entry) in dictionary.credential.iter().enumerate() {
        let table = tables.get(index);
        let span_of = |key: &str| {
            table
                .and_then(|table| doc::get(table, key))
                .map_or(0..0, |(_, value)| value.span())
        };
        if entry.source.trim().is_empty() {
            diagnostics.push(
                file.error_at(span_of("source"), "empty `source`")
                    .with_expected("where this credential is documented (tool, advisory, vendor manual)"),
            );
        }
        match first.get(&(entry.username.as_str(), entry.password.as_str())) {
            Some(first_index) => {
                let first_span = tables
                    .get(*first_index)
                    .and_then(|table| doc::get(table, "username"))
                    .map_or(0..0, |(_, value)| value.span());
                diagnostics.push(
                    file.error_at(
                        span_of("username"),
                        format!("duplicate credential `{}` / `{}`", entry.username, entry.password),
                    )
                    .with_note(format!("first listed at {}", file.location_of(first_span.start))),
                );
            }
            None => {
                first.insert((&entry.username, &entry.password), index);
            }
        }
    }
    diagnostics
}

/// `[[path]]` entries: at least one, each a usable path with a family and a source, no path
/// twice.
pub(crate) fn path_dictionary(
    file: SourceFile<'_>,
    root: &DeTable<'_>,
    dictionary: &PathDictionary,
) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let tables = entry_tables(root, "path");
    if dictionary.path.is_empty() {
        diagnostics.push(file.error_at(0..0, "the dictionary has no [[path]] entries"));
    }
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, entry) in dictionary.path.iter().enumerate() {
        let table = tables.get(index);
        let span_of = |key: &str| {
            table
                .and_then(|table| doc::get(table, key))
                .map_or(0..0, |(_, value)| value.span())
        };
        if !entry.path.starts_with('/') || entry.path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            diagnostics.push(
                file.error_at(span_of("path"), format!("`{}` is not a usable RTSP path", entry.path))
                    .with_expected("a path starting with `/`, without spaces"),
            );
        }
        if !is_kebab(&entry.family) {
            diagnostics.push(
                file.error_at(
                    span_of("family"),
                    format!("family `{}` is not lowercase-kebab", entry.family),
                )
                .with_expected("e.g. `hikvision`, `dahua`, `generic`"),
            );
        }
        if entry.source.trim().is_empty() {
            diagnostics.push(
                file.error_at(span_of("source"), "empty `source`")
                    .with_expected("where this path is documented"),
            );
        }
        match first.get(entry.path.as_str()) {
            Some(first_index) => {
                let first_span = tables
                    .get(*first_index)
                    .and_then(|table| doc::get(table, "path"))
                    .map_or(0..0, |(_, value)| value.span());
                diagnostics.push(
                    file.error_at(span_of("path"), format!("duplicate path `{}`", entry.path))
                        .with_note(format!("first listed at {}", file.location_of(first_span.start))),
                );
            }
            None => {
                first.insert(&entry.path, index);
            }
        }
    }
    diagnostics
}
