//! Profiles: each file on its own, then the merged inheritance chain.

use std::collections::BTreeSet;

use toml::de::DeTable;

use crate::doc;
use crate::error::{Diagnostic, SourceFile, did_you_mean_hint, one_of};
use crate::loaded::ProfileSource;
use crate::model::{MAX_FACTORY_DEFAULTS, Op, ProfileFile};
use crate::names::is_kebab;

/// Checks that need only one profile file.
pub(crate) fn check_profile_file(file: SourceFile<'_>, root: &DeTable<'_>, profile: &ProfileFile) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let ops_table = root.get("ops").and_then(doc::as_table);
    let ports_table = root.get("ports").and_then(doc::as_table);
    for (name, port) in &profile.ports {
        let (key_span, value_span) = ports_table
            .and_then(|table| doc::get(table, name))
            .map_or((0..0, 0..0), |(key, value)| (key.span(), value.span()));
        if !is_kebab(name) {
            diagnostics.push(
                file.error_at(key_span, format!("port name `{name}` is not lowercase-kebab"))
                    .with_expected("a name such as `http`, `rtsp`, `dahua-sdk`"),
            );
        }
        if *port == 0 {
            diagnostics.push(
                file.error_at(value_span, format!("port `{name}` is 0"))
                    .with_expected("a port from 1 to 65535"),
            );
        }
    }
    for (name, op) in &profile.ops {
        let op_table = ops_table.and_then(|table| doc::get(table, name));
        let key_span = op_table.map_or(0..0, |(key, _)| key.span());
        let op_table = op_table.and_then(|(_, value)| doc::as_table(value));
        let span_of = |key: &str| {
            op_table
                .and_then(|table| doc::get(table, key))
                .map_or(key_span.clone(), |(_, value)| value.span())
        };
        if !is_kebab(name) {
            diagnostics.push(
                file.error_at(
                    key_span.clone(),
                    format!("operation name `{name}` is not lowercase-kebab"),
                )
                .with_expected("a name such as `login-check`, `users`, `factory-reset`"),
            );
        }
        if !op.path.starts_with('/') {
            diagnostics.push(
                file.error_at(span_of("path"), format!("path of op `{name}` does not start with `/`"))
                    .with_hint(format!("write `/{}`", op.path)),
            );
        }
        if let Some(method) = &op.method
            && (method.is_empty() || !method.chars().all(|c| c.is_ascii_uppercase()))
        {
            diagnostics.push(
                file.error_at(
                    span_of("method"),
                    format!("`{method}` is not an HTTP method (op `{name}`)"),
                )
                .with_expected("an upper-case method such as `GET`, `POST`, `PUT`"),
            );
        }
        if let Some(auth) = &op.auth {
            let allowed = crate::typed::OpAuth::NAMES;
            if crate::typed::OpAuth::parse(auth).is_none() {
                diagnostics.push(
                    file.error_at(span_of("auth"), format!("unknown auth `{auth}` (op `{name}`)"))
                        .with_expected(one_of(allowed.iter().copied()))
                        .with_optional_hint(did_you_mean_hint(auth, allowed.iter().copied())),
                );
            }
        }
        for (label, classifier) in [
            ("accepted", &op.accepted),
            ("rejected", &op.rejected),
            ("locked", &op.locked),
        ] {
            let Some(classifier) = classifier else {
                continue;
            };
            if let Some(pattern) = &classifier.body_matches
                && let Err(error) = regex::Regex::new(pattern)
            {
                let span = op_table
                    .and_then(|table| table.get(label))
                    .and_then(doc::as_table)
                    .and_then(|table| doc::get(table, "body_matches"))
                    .map_or(key_span.clone(), |(_, value)| value.span());
                let reason = error.to_string();
                let reason = reason.lines().last().unwrap_or("invalid").trim().to_string();
                diagnostics.push(
                    file.error_at(
                        span,
                        format!("`{label}.body_matches` of op `{name}` is not a valid regular expression: {reason}"),
                    )
                    .with_expected("a regular expression in Rust `regex` syntax"),
                );
            }
            if classifier.status.is_empty() && classifier.body_contains.is_none() && classifier.body_matches.is_none() {
                diagnostics.push(
                    file.error_at(
                        span_of(label),
                        format!("`{label}` classifier of op `{name}` has no condition"),
                    )
                    .with_expected("`status`, `body_contains` or `body_matches`"),
                );
            }
        }
    }
    for (name, op) in &profile.ops {
        diagnostics.extend(check_user_op(file, ops_table, name, op));
    }
    if let Some(pairs) = &profile.factory_default {
        let span = root.get("factory_default").map_or(0..0, |value| value.span());
        if pairs.len() > MAX_FACTORY_DEFAULTS {
            diagnostics.push(
                file.error_at(
                    span.clone(),
                    format!("{} factory default pairs; at most {MAX_FACTORY_DEFAULTS}", pairs.len()),
                )
                .with_hint("list only the vendor's documented defaults: each is a failed login on a camera in service (a dictionary belongs in test-cases/data)"),
            );
        }
        for (i, pair) in pairs.iter().enumerate() {
            if pair.user.trim().is_empty() || pair.password.is_empty() {
                diagnostics.push(
                    file.error_at(
                        span.clone(),
                        format!("factory default pair {} has an empty user or password", i + 1),
                    )
                    .with_expected("`{ user = \"admin\", password = \"…\" }`"),
                );
            }
        }
    }
    if let Some(rtsp) = &profile.rtsp {
        for path in &rtsp.paths {
            if !path.starts_with('/') {
                let span = root
                    .get("rtsp")
                    .and_then(doc::as_table)
                    .and_then(|table| doc::get(table, "paths"))
                    .map_or(0..0, |(_, value)| value.span());
                diagnostics.push(
                    file.error_at(span, format!("RTSP path `{path}` does not start with `/`"))
                        .with_hint(format!("write `/{path}`")),
                );
            }
        }
    }
    diagnostics
}

/// The `${…}` values the `password-policy` action fills in, per operation: a user-management
/// op says where the temporary user's name, password and id go; no other op may use them.
pub const USER_OP_TEMPLATES: &[(&str, &[&str])] = &[
    ("create-user", &["user.name", "user.password"]),
    ("delete-user", &["user.name", "user.id"]),
];

/// `create-user` / `delete-user`: templates limited to what the action provides, a `rejected`
/// classifier that recognises a weak-password refusal, a `created_id` pattern that captures.
fn check_user_op(file: SourceFile<'_>, ops_table: Option<&DeTable<'_>>, name: &str, op: &Op) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let op_entry = ops_table.and_then(|table| doc::get(table, name));
    let key_span = op_entry.map_or(0..0, |(key, _)| key.span());
    let op_table = op_entry.and_then(|(_, value)| doc::as_table(value));
    let span_of = |key: &str| {
        op_table
            .and_then(|table| doc::get(table, key))
            .map_or(key_span.clone(), |(_, value)| value.span())
    };
    let allowed = USER_OP_TEMPLATES
        .iter()
        .find(|(op_name, _)| *op_name == name)
        .map(|(_, allowed)| *allowed);
    let mut used = BTreeSet::new();
    for (field, text) in [("path", Some(op.path.as_str())), ("body", op.body.as_deref())] {
        let Some(text) = text else { continue };
        for reference in user_op_references(text) {
            match allowed {
                Some(allowed) if allowed.contains(&reference.as_str()) => {
                    used.insert(reference);
                }
                Some(allowed) => diagnostics.push(
                    file.error_at(
                        span_of(field),
                        format!("op `{name}` uses `${{{reference}}}` in its {field}"),
                    )
                    .with_expected(format!(
                        "only {} (filled in by the `password-policy` action)",
                        allowed
                            .iter()
                            .map(|a| format!("`${{{a}}}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .with_optional_hint(did_you_mean_hint(&reference, allowed.iter().copied())),
                ),
                None if reference.starts_with("user.") => diagnostics.push(
                    file.error_at(
                        span_of(field),
                        format!("op `{name}` uses `${{{reference}}}` in its {field}"),
                    )
                    .with_expected("`${user.…}` only in the `create-user` and `delete-user` operations"),
                ),
                None => {}
            }
        }
    }
    match name {
        "create-user" => {
            for needed in ["user.name", "user.password"] {
                if !used.contains(needed) {
                    diagnostics.push(
                        file.error_at(key_span.clone(), format!("op `create-user` never uses `${{{needed}}}`"))
                            .with_expected("the temporary user's name and password in the path or body")
                            .with_hint(format!("put `${{{needed}}}` where the request carries it")),
                    );
                }
            }
            if op.rejected.is_none() {
                diagnostics.push(
                    file.error_at(key_span.clone(), "op `create-user` has no `rejected` classifier")
                        .with_expected(
                            "`rejected = { … }` matching the device's weak-password refusal (and nothing else)",
                        )
                        .with_hint(
                            "a refusal no classifier recognises is `unknown`, which makes the case inconclusive",
                        ),
                );
            }
        }
        "delete-user" if !used.contains("user.name") && !used.contains("user.id") => {
            diagnostics.push(
                file.error_at(key_span.clone(), "op `delete-user` names no user")
                    .with_expected("`${user.name}` or `${user.id}` in the path or body"),
            );
        }
        _ => {}
    }
    if let Some(pattern) = &op.created_id {
        match regex::Regex::new(pattern) {
            Ok(re) if re.captures_len() >= 2 => {}
            Ok(_) => diagnostics.push(
                file.error_at(
                    span_of("created_id"),
                    format!("`created_id` of op `{name}` has no capture group"),
                )
                .with_expected("a regular expression whose first group `( … )` is the id")
                .with_hint("e.g. '<id>\\s*([0-9]+)\\s*</id>'"),
            ),
            Err(error) => {
                let reason = error.to_string();
                let reason = reason.lines().last().unwrap_or("invalid").trim().to_string();
                diagnostics.push(
                    file.error_at(
                        span_of("created_id"),
                        format!("`created_id` of op `{name}` is not a valid regular expression: {reason}"),
                    )
                    .with_expected("a regular expression in Rust `regex` syntax"),
                );
            }
        }
    }
    diagnostics
}

/// The `${…}` references in an op's path or body, trimmed.
pub fn user_op_references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            found.push(after.trim().to_string());
            break;
        };
        found.push(after[..end].trim().to_string());
        rest = &after[end + 1..];
    }
    found
}

/// Checks that need the whole chain: every op's named port exists after merging.
pub(crate) fn check_merged_profile(
    merged: &ProfileFile,
    chain: &[ProfileSource],
    files: &[ProfileFile],
) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let port_names: Vec<&str> = merged.ports.keys().map(String::as_str).collect();
    for (name, op) in &merged.ops {
        let Some(port) = &op.port else { continue };
        if merged.ports.contains_key(port) {
            continue;
        }
        // Point at the file whose op won the merge.
        let Some(index) = files.iter().position(|file| file.ops.get(name) == Some(op)) else {
            continue;
        };
        let Some(source) = chain.get(index) else {
            continue;
        };
        let file = SourceFile::new(&source.path, &source.text);
        let span = DeTable::parse(&source.text)
            .ok()
            .and_then(|root| {
                root.get_ref()
                    .get("ops")
                    .and_then(doc::as_table)
                    .and_then(|ops| ops.get(name.as_str()))
                    .and_then(doc::as_table)
                    .and_then(|table| table.get("port"))
                    .map(|value| value.span())
            })
            .unwrap_or(0..0);
        diagnostics.push(
            file.error_at(
                span,
                format!("op `{name}` uses port `{port}`, which the profile does not define"),
            )
            .with_expected(format!("a port from [ports]: {}", one_of(port_names.iter().copied())))
            .with_optional_hint(did_you_mean_hint(port, port_names.iter().copied())),
        );
    }
    diagnostics
}
