//! The spanned TOML tree (`toml::de::DeTable`) beside the typed model: it knows where every key
//! and value is in the file, which the serde structs mostly do not. Used to locate keys for
//! semantic errors and to turn serde's first error into a diagnostic with context
//! ("in step \"burst\"").

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::actions;
use crate::error::{Diagnostic, SourceFile, did_you_mean_hint, one_of};

pub(crate) type Doc<'i> = Spanned<DeTable<'i>>;
pub(crate) type Entry<'a, 'i> = (&'a Spanned<std::borrow::Cow<'i, str>>, &'a Spanned<DeValue<'i>>);

/// Parses the spanned tree; a syntax error becomes a diagnostic.
pub(crate) fn parse<'i>(file: SourceFile<'i>) -> Result<Doc<'i>, Vec<Diagnostic>> {
    DeTable::parse(file.text).map_err(|error| vec![syntax_error(file, &error)])
}

fn syntax_error(file: SourceFile<'_>, error: &toml::de::Error) -> Diagnostic {
    let message = error.message().trim();
    let (what, expected) = match message.split_once(", expected ") {
        Some((what, expected)) => (what, Some(expected)),
        None => (message, None),
    };
    let span = error.span().unwrap_or(0..0);
    let mut diagnostic = file.error_at(span, format!("invalid TOML: {what}"));
    if let Some(expected) = expected {
        diagnostic = diagnostic.with_expected(expected.to_string());
    }
    diagnostic.with_hint("see https://toml.io for the syntax; strings need quotes, keys need `=`")
}

pub(crate) fn get<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<Entry<'a, 'i>> {
    table.get_key_value(key)
}

pub(crate) fn get_str<'a>(table: &'a DeTable<'_>, key: &str) -> Option<&'a str> {
    table.get(key).and_then(|value| value.get_ref().as_str())
}

pub(crate) fn as_table<'a, 'i>(value: &'a Spanned<DeValue<'i>>) -> Option<&'a DeTable<'i>> {
    value.get_ref().as_table()
}

pub(crate) fn as_array<'a, 'i>(value: &'a Spanned<DeValue<'i>>) -> Option<&'a [Spanned<DeValue<'i>>]> {
    value.get_ref().as_array().map(|array| &array[..])
}

/// The step tables in file order (index = index in `Case::steps`).
pub(crate) fn steps<'a, 'i>(root: &'a DeTable<'i>) -> Vec<&'a DeTable<'i>> {
    root.get("steps")
        .and_then(as_array)
        .map(|items| items.iter().filter_map(as_table).collect())
        .unwrap_or_default()
}

/// Every string inside `value` (recursively) with its span, for template scanning.
pub(crate) fn walk_strings<'a>(value: &'a Spanned<DeValue<'_>>, visit: &mut dyn FnMut(&'a str, Range<usize>)) {
    match value.get_ref() {
        DeValue::String(text) => visit(text, value.span()),
        DeValue::Array(items) => {
            for item in items.iter() {
                walk_strings(item, visit);
            }
        }
        DeValue::Table(table) => {
            for (_, item) in table.iter() {
                walk_strings(item, visit);
            }
        }
        _ => {}
    }
}

/// The span of a value and everything inside it. Array-of-tables items carry only their
/// `[[header]]` span, so their extent comes from their contents.
fn extent(value: &Spanned<DeValue<'_>>) -> Range<usize> {
    let mut range = value.span();
    let mut widen = |inner: Range<usize>| {
        range.start = range.start.min(inner.start);
        range.end = range.end.max(inner.end);
    };
    match value.get_ref() {
        DeValue::Array(items) => {
            for item in items.iter() {
                widen(extent(item));
            }
        }
        DeValue::Table(table) => {
            for (key, item) in table.iter() {
                widen(key.span());
                widen(extent(item));
            }
        }
        _ => {}
    }
    range
}

fn contains(range: &Range<usize>, offset: usize) -> bool {
    range.contains(&offset) || (range.start == offset && range.end == offset)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// Keys and indices from the root to the innermost key or value at `offset`.
pub(crate) fn path_at(root: &DeTable<'_>, offset: usize) -> Vec<Segment> {
    let mut path = Vec::new();
    descend_table(root, offset, &mut path);
    path
}

fn descend_table(table: &DeTable<'_>, offset: usize, path: &mut Vec<Segment>) -> bool {
    for (key, value) in table.iter() {
        if contains(&key.span(), offset) {
            path.push(Segment::Key(key.get_ref().to_string()));
            return true;
        }
        if contains(&extent(value), offset) {
            path.push(Segment::Key(key.get_ref().to_string()));
            descend_value(value, offset, path);
            return true;
        }
    }
    false
}

fn descend_value(value: &Spanned<DeValue<'_>>, offset: usize, path: &mut Vec<Segment>) {
    match value.get_ref() {
        DeValue::Table(table) => {
            descend_table(table, offset, path);
        }
        DeValue::Array(items) => {
            if let Some((index, item)) = items
                .iter()
                .enumerate()
                .find(|(_, item)| contains(&extent(item), offset))
            {
                path.push(Segment::Index(index));
                descend_value(item, offset, path);
            }
        }
        _ => {}
    }
}

fn value_at<'a, 'i>(root: &'a DeTable<'i>, path: &[Segment]) -> Option<&'a Spanned<DeValue<'i>>> {
    let (first, rest) = path.split_first()?;
    let Segment::Key(key) = first else {
        return None;
    };
    let mut current = root.get(key.as_str())?;
    for segment in rest {
        current = match segment {
            Segment::Key(key) => as_table(current)?.get(key.as_str())?,
            Segment::Index(index) => as_array(current)?.get(*index)?,
        };
    }
    Some(current)
}

/// " in step \"burst\"", " in expectation 2 of step \"burst\"", " in [params.attempts]"…
pub(crate) fn context(root: &DeTable<'_>, path: &[Segment]) -> String {
    match path {
        [Segment::Key(steps), Segment::Index(step), rest @ ..] if steps == "steps" => {
            let step_name = step_label(root, *step);
            match rest {
                [Segment::Key(expect), Segment::Index(index), ..] if expect == "expect" => {
                    format!(" in expectation {} of {step_name}", index + 1)
                }
                _ => format!(" in {step_name}"),
            }
        }
        [Segment::Key(section), Segment::Key(name), _, ..] if section == "params" || section == "ops" => {
            format!(" in [{section}.{name}]")
        }
        _ => {
            let tables: Vec<String> = path
                .iter()
                .take(path.len().saturating_sub(1))
                .map(|segment| match segment {
                    Segment::Key(key) => key.clone(),
                    Segment::Index(index) => format!("#{}", index + 1),
                })
                .collect();
            if tables.is_empty() {
                String::new()
            } else {
                format!(" in [{}]", tables.join("."))
            }
        }
    }
}

/// `step "burst"`, or `step #3` when the step has no readable id.
pub(crate) fn step_label(root: &DeTable<'_>, index: usize) -> String {
    match steps(root).get(index).and_then(|step| get_str(step, "id")) {
        Some(id) => format!("step \"{id}\""),
        None => format!("step #{}", index + 1),
    }
}

/// Turns serde's error (the first problem it met) into a diagnostic with the key, its
/// context, the accepted alternatives and a did-you-mean hint.
pub(crate) fn serde_error(file: SourceFile<'_>, root: &DeTable<'_>, error: &toml::de::Error) -> Diagnostic {
    let span = error.span().unwrap_or(0..0);
    let path = path_at(root, span.start);
    let context = context(root, &path);
    let key = path.iter().rev().find_map(|segment| match segment {
        Segment::Key(key) => Some(key.as_str()),
        Segment::Index(_) => None,
    });
    let message = error.message().trim();

    if let Some(rest) = message.strip_prefix("unknown field ") {
        let (field, _) = split_backticked_head(rest);
        let mut candidates = expected_list(rest);
        // In a step, list what the step's action accepts rather than every step key.
        if let [Segment::Key(steps_key), Segment::Index(step), ..] = path.as_slice()
            && steps_key == "steps"
            && path.len() == 3
        {
            let action = steps(root).get(*step).and_then(|table| get_str(table, "action"));
            if let Some(spec) = action.and_then(actions::action) {
                candidates = spec.allowed_keys().collect();
            }
        }
        let all_known: Vec<&str> = expected_list(rest)
            .into_iter()
            .chain(candidates.iter().copied())
            .collect();
        // Aliases are words case authors use for step parameters; elsewhere they mislead.
        let in_step = matches!(path.first(), Some(Segment::Key(key)) if key == "steps");
        let alias = if in_step { actions::alias_hint(field) } else { None };
        let hint = alias.or_else(|| did_you_mean_hint(field, all_known.iter().copied()));
        return file
            .error_at(span, format!("unknown key `{field}`{context}"))
            .with_expected(one_of(candidates.iter().copied()))
            .with_optional_hint(hint);
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let (value, _) = split_backticked_head(rest);
        let candidates = expected_list(rest);
        let subject = key.map(|key| format!(" for `{key}`")).unwrap_or_default();
        return file
            .error_at(span, format!("unknown value `{value}`{subject}{context}"))
            .with_expected(one_of(candidates.iter().copied()))
            .with_optional_hint(did_you_mean_hint(value, candidates.iter().copied()));
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let (field, _) = split_backticked_head(rest);
        // The span is the table header (or empty for the top level): the context is the
        // table itself, not a key inside it.
        let table_context = match value_at(root, &path) {
            Some(value) if value.get_ref().is_table() => {
                let mut table_path = path.clone();
                table_path.push(Segment::Key(String::new()));
                self::context(root, &table_path)
            }
            _ => context.clone(),
        };
        return file
            .error_at(span, format!("missing key `{field}`{table_context}"))
            .with_hint(format!("add `{field} = …` to this table"));
    }
    if let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
    {
        let (found, expected) = match rest.rsplit_once(", expected ") {
            Some((found, expected)) => (found, Some(expected)),
            None => (rest, None),
        };
        let in_ports = path
            .iter()
            .any(|segment| matches!(segment, Segment::Key(k) if k == "ports"));
        if let Some(message) = out_of_range(key, in_ports, found, expected) {
            return file.error_at(span, format!("{message}{context}"));
        }
        let found = found_in_words(found);
        let Some(expected) = expected else {
            let subject = key.map(|key| format!(" for `{key}`")).unwrap_or_default();
            return file.error_at(span, format!("wrong type{subject}{context}: found {found}"));
        };
        let wanted = expected_in_words(key, expected);
        let message = match key {
            Some(key) => format!("`{key}`{context} must be {wanted}, found {found}"),
            None => format!("expected {wanted}{context}, found {found}"),
        };
        return file.error_at(span, message).with_expected(wanted);
    }
    let subject = key.map(|key| format!(" at `{key}`")).unwrap_or_default();
    file.error_at(span, format!("{message}{subject}{context}"))
}

/// Serde's type names as a lab reads them; `_s`/`_ms` keys are durations.
fn expected_in_words(key: Option<&str>, expected: &str) -> String {
    let unit = match key {
        Some(key) if key.ends_with("_ms") => " of milliseconds",
        Some(key) if key.ends_with("_s") => " of seconds",
        _ => "",
    };
    match expected.trim() {
        "u8" | "u16" | "u32" | "u64" | "usize" => format!("a whole number{unit}"),
        "i8" | "i16" | "i32" | "i64" | "isize" => format!("a whole number{unit} (may be negative)"),
        "f32" | "f64" => format!("a number{unit}"),
        "a boolean" => "true or false".to_owned(),
        "a sequence" => "a list `[…]`".to_owned(),
        "a map" => "a table".to_owned(),
        other => other.to_owned(),
    }
}

/// Serde's `string "10"`, integer `5` … as "the string \"10\"", "the number 5".
fn found_in_words(found: &str) -> String {
    let found = found.trim();
    let unquote = |rest: &str| rest.trim().trim_matches('`').to_owned();
    if let Some(rest) = found.strip_prefix("string ") {
        format!("the string {}", rest.trim())
    } else if let Some(rest) = found.strip_prefix("integer ") {
        format!("the number {}", unquote(rest))
    } else if let Some(rest) = found.strip_prefix("floating point ") {
        format!("the number {}", unquote(rest))
    } else if let Some(rest) = found.strip_prefix("boolean ") {
        unquote(rest)
    } else if found == "sequence" {
        "a list".to_owned()
    } else if found == "map" {
        "a table".to_owned()
    } else {
        found.to_owned()
    }
}

/// A whole number too large (or negative) for the key's type: "port 70000 is out of range
/// 1–65535".
fn out_of_range(key: Option<&str>, in_ports: bool, found: &str, expected: Option<&str>) -> Option<String> {
    let number: i128 = found
        .trim()
        .strip_prefix("integer ")?
        .trim()
        .trim_matches('`')
        .parse()
        .ok()?;
    let max: i128 = match expected?.trim() {
        "u8" => u8::MAX.into(),
        "u16" => u16::MAX.into(),
        "u32" => u32::MAX.into(),
        "u64" | "usize" => u64::MAX.into(),
        _ => return None,
    };
    if (0..=max).contains(&number) {
        return None;
    }
    Some(if in_ports && max == i128::from(u16::MAX) {
        format!("port {number} is out of range 1–65535")
    } else {
        let subject = key.map(|key| format!("`{key}` ")).unwrap_or_default();
        format!("{subject}{number} is out of range 0–{max}")
    })
}

/// "`x`, expected one of `a`, `b`" → ("x", rest after the first backticked word).
fn split_backticked_head(text: &str) -> (&str, &str) {
    let Some(after_open) = text.strip_prefix('`') else {
        return (text, "");
    };
    match after_open.find('`') {
        Some(close) => (&after_open[..close], &after_open[close + 1..]),
        None => (after_open, ""),
    }
}

/// The backticked names after "expected" in a serde message.
fn expected_list(text: &str) -> Vec<&str> {
    let Some((_, list)) = text.split_once("expected") else {
        return Vec::new();
    };
    list.split('`').skip(1).step_by(2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_errors_are_said_in_words() {
        assert_eq!(
            out_of_range(Some("http"), true, "integer `70000`", Some("u16")).as_deref(),
            Some("port 70000 is out of range 1–65535")
        );
        assert_eq!(out_of_range(Some("http"), true, "integer `80`", Some("u16")), None);
        assert_eq!(
            out_of_range(Some("attempts"), false, "integer `-1`", Some("u32")).as_deref(),
            Some("`attempts` -1 is out of range 0–4294967295")
        );
        assert_eq!(expected_in_words(Some("timeout_s"), "u64"), "a whole number of seconds");
        assert_eq!(found_in_words("string \"10\""), "the string \"10\"");
        assert_eq!(found_in_words("integer `5`"), "the number 5");
    }

    #[test]
    fn expected_list_reads_serde_messages() {
        assert_eq!(
            expected_list("`x`, expected one of `a`, `b_c`, `d`"),
            vec!["a", "b_c", "d"]
        );
        assert_eq!(expected_list("`x`, expected `a`"), vec!["a"]);
        assert!(expected_list("`x`, there are no fields").is_empty());
    }

    #[test]
    fn path_at_finds_keys_inside_array_of_tables() {
        let text = "a = 1\n[[steps]]\nid = \"one\"\n[[steps]]\nid = \"two\"\nport = 5\n";
        let root = DeTable::parse(text).map(Spanned::into_inner).unwrap_or_default();
        let offset = text.find("port").unwrap_or(0);
        assert_eq!(
            path_at(&root, offset),
            vec![
                Segment::Key("steps".into()),
                Segment::Index(1),
                Segment::Key("port".into())
            ]
        );
        assert_eq!(context(&root, &path_at(&root, offset)), " in step \"two\"");
    }
}
