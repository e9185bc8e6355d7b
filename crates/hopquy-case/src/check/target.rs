//! Target files: sections, the password source, declarations; and keeping the password
//! out of every diagnostic about the file.

use std::collections::BTreeSet;
use std::ops::Range;

use toml::de::DeTable;

use crate::doc;
use crate::error::{Diagnostic, SourceFile, did_you_mean_hint, one_of};
use crate::model::{MAX_DECLARED_PASSWORD_LENGTH, PASSWORD_CLASSES, REDACTED, TargetFile};
use crate::names::is_kebab;
use crate::net::{Network, is_country_code};

/// Keys of a target file whose values are never secret, so diagnostics may quote them.
const TARGET_PUBLIC_KEYS: &[&str] = &[
    "vendor",
    "model",
    "firmware",
    "serial",
    "host",
    "profile",
    "ports",
    "max_connections",
    "min_connect_gap_ms",
    "timeout_s",
    "web",
    "port_sweep",
    "exclude_ports",
    "username",
    "password_env",
    "open_tcp_ports",
    "lockout",
    "attempts",
    "window_s",
    "duration_s",
    "password_policy",
    "min_length",
    "required_classes",
    "destinations",
    "network",
    "purpose",
    "country",
    "protocol",
    "connectivity",
    "contacts_within_s",
    "outage_noticed_within_s",
    "reconnects_within_s",
    "max_connects_per_s",
    "data_storage",
    "location",
];

/// Diagnostics quote source lines and serde quotes values; in a target file either may be
/// the password (a mistyped `pasword = "…"` key, a syntax error inside the string). Only
/// values of known public keys (and unquoted values of harmless-looking keys) are shown; a
/// known password is replaced wherever it still appears.
pub(crate) fn redact_target_diagnostics(mut diagnostics: Vec<Diagnostic>, password: Option<&str>) -> Vec<Diagnostic> {
    let scrub = |text: &mut String| {
        if let Some(password) = password.filter(|password| !password.is_empty()) {
            *text = text.replace(password, REDACTED);
        }
    };
    for diagnostic in &mut diagnostics {
        if let Some(snippet) = &mut diagnostic.snippet
            && let Some(redacted) = redact_target_line(&snippet.line_text)
        {
            snippet.line_text = redacted;
            let length = snippet.line_text.chars().count();
            snippet.start_column = snippet.start_column.min(length).max(1);
            snippet.width = snippet.width.min(length + 1 - snippet.start_column).max(1);
        }
        let subject_is_public = diagnostic
            .message
            .split('`')
            .nth(1)
            .is_some_and(|key| TARGET_PUBLIC_KEYS.contains(&key));
        if !subject_is_public
            && let Some(found) = diagnostic
                .message
                .find(": found ")
                .or_else(|| diagnostic.message.find(", found "))
        {
            diagnostic.message.truncate(found);
        }
        scrub(&mut diagnostic.message);
        if let Some(snippet) = &mut diagnostic.snippet {
            scrub(&mut snippet.line_text);
        }
        for text in diagnostic
            .expected
            .iter_mut()
            .chain(diagnostic.hint.iter_mut())
            .chain(diagnostic.notes.iter_mut())
        {
            scrub(text);
        }
    }
    diagnostics
}

/// The line to show instead of `line`, or None when it can be shown as is.
fn redact_target_line(line: &str) -> Option<String> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('[') {
        return None;
    }
    let Some((key, _)) = line.split_once('=') else {
        // A continuation line of a multi-line string, or garbage: it could be anything.
        return Some("[line hidden: it may contain the password]".to_string());
    };
    let secret_looking = |name: &str| {
        let lowered = name.to_ascii_lowercase();
        ["pas", "pw", "secret", "key", "token"]
            .iter()
            .any(|word| lowered.contains(word))
    };
    // Every key on the line, inline tables included (`credentials = { password = "…" }`).
    let segments: Vec<&str> = line.split('=').collect();
    let keys = segments[..segments.len() - 1].iter().map(|segment| {
        segment
            .trim_end()
            .rsplit(|c: char| c.is_whitespace() || c == '{' || c == ',' || c == '.')
            .next()
            .unwrap_or_default()
            .trim_matches(['"', '\''])
    });
    // Only what may be the password is hidden: a mistyped `hots = "…"` or `firmware` line is
    // the lab's own text and the excerpt must show it (the known password is replaced
    // wherever it appears anyway).
    if !keys
        .into_iter()
        .any(|k| !TARGET_PUBLIC_KEYS.contains(&k) && secret_looking(k))
    {
        return None;
    }
    Some(format!("{key}= \"{REDACTED}\""))
}

pub(crate) type TargetCheck = (Vec<Diagnostic>, Option<String>, Option<Range<usize>>);

pub(crate) fn check_target(
    file: SourceFile<'_>,
    root: &DeTable<'_>,
    target: &TargetFile,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> TargetCheck {
    let mut diagnostics = Vec::new();
    let section = |name: &str| root.get(name).and_then(doc::as_table);
    let entry_spans = |table: Option<&DeTable<'_>>, key: &str| {
        table
            .and_then(|table| doc::get(table, key))
            .map(|(key, value)| (key.span(), value.span()))
    };
    let section_key_span = |name: &str| doc::get(root, name).map_or(0..0, |(key, _)| key.span());

    let credentials = section("credentials");
    let password_spans = entry_spans(credentials, "password");
    let env_spans = entry_spans(credentials, "password_env");
    let mut password = None;
    match (&target.credentials.password, &target.credentials.password_env) {
        (Some(_), Some(_)) => {
            let span = env_spans.as_ref().map_or(0..0, |(key, _)| key.clone());
            diagnostics.push(
                file.error_at(span, "both `password` and `password_env` are set in [credentials]")
                    .with_expected("exactly one of them")
                    .with_hint("keep `password_env` and remove the literal `password`"),
            );
        }
        (None, None) => {
            diagnostics.push(
                file.error_at(section_key_span("credentials"), "[credentials] gives no password")
                    .with_expected("`password_env = \"VARIABLE\"` (preferred) or `password = \"…\"`"),
            );
        }
        (Some(literal), None) => password = Some(literal.clone()),
        (None, Some(variable)) => {
            let span = env_spans.as_ref().map_or(0..0, |(_, value)| value.clone());
            match lookup(variable) {
                Some(value) => password = Some(value),
                None => diagnostics.push(
                    file.error_at(span, format!("environment variable `{variable}` is not set"))
                        .with_expected(format!("`{variable}` to hold the device password"))
                        .with_hint(format!(
                            "export {variable}=… before running, or read it from your secret store"
                        )),
                ),
            }
        }
    }

    let connection = section("connection");
    let host = target.connection.host.trim();
    let host_span = entry_spans(connection, "host").map_or(0..0, |(_, value)| value);
    if host.is_empty() {
        diagnostics.push(
            file.error_at(host_span, "`host` is empty")
                .with_expected("an IP address or host name"),
        );
    } else if host.contains("://") || host.contains('/') {
        diagnostics.push(
            file.error_at(host_span, format!("`host` must be a bare address, not `{host}`"))
                .with_expected("an IP address or host name, e.g. `192.0.2.10`")
                .with_hint("ports go in [connection.ports]; the scheme is chosen per probe"),
        );
    }
    let ports = connection.and_then(|table| table.get("ports")).and_then(doc::as_table);
    for (name, port) in &target.connection.ports {
        let (key_span, value_span) = entry_spans(ports, name).unwrap_or((0..0, 0..0));
        if !is_kebab(name) {
            diagnostics.push(file.error_at(key_span, format!("port name `{name}` is not lowercase-kebab")));
        }
        if *port == 0 {
            diagnostics.push(
                file.error_at(value_span, format!("port `{name}` is 0"))
                    .with_expected("a port from 1 to 65535"),
            );
        }
    }
    for (key, zero) in [
        ("max_connections", target.connection.max_connections == Some(0)),
        ("timeout_s", target.connection.timeout_s == Some(0)),
    ] {
        if zero {
            let span = entry_spans(connection, key).map_or(0..0, |(_, value)| value);
            diagnostics.push(
                file.error_at(span, format!("`{key}` is 0"))
                    .with_expected("a number ≥ 1"),
            );
        }
    }
    if let Some(open) = &target.declared.open_tcp_ports
        && open.contains(&0)
    {
        let span = section("declared")
            .and_then(|table| doc::get(table, "open_tcp_ports"))
            .map_or(0..0, |(_, value)| value.span());
        diagnostics.push(
            file.error_at(span, "`open_tcp_ports` lists port 0")
                .with_expected("ports from 1 to 65535"),
        );
    }
    if let Some(policy) = &target.declared.password_policy {
        let policy_table = section("declared")
            .and_then(|table| table.get("password_policy"))
            .and_then(doc::as_table);
        let value_span = |key: &str| {
            policy_table
                .and_then(|table| doc::get(table, key))
                .map_or(0..0, |(_, value)| value.span())
        };
        if let Some(length) = policy.min_length
            && !(1..=MAX_DECLARED_PASSWORD_LENGTH).contains(&length)
        {
            diagnostics.push(
                file.error_at(value_span("min_length"), format!("`min_length` is {length}"))
                    .with_expected(format!("a length from 1 to {MAX_DECLARED_PASSWORD_LENGTH}")),
            );
        }
        if let Some(classes) = &policy.required_classes {
            let mut seen = BTreeSet::new();
            for class in classes {
                if !PASSWORD_CLASSES.contains(&class.as_str()) {
                    diagnostics.push(
                        file.error_at(
                            value_span("required_classes"),
                            format!("`{class}` is not a character class"),
                        )
                        .with_expected(one_of(PASSWORD_CLASSES.iter().copied()))
                        .with_optional_hint(did_you_mean_hint(class, PASSWORD_CLASSES.iter().copied())),
                    );
                } else if !seen.insert(class.as_str()) {
                    diagnostics.push(
                        file.error_at(
                            value_span("required_classes"),
                            format!("`{class}` is listed twice in `required_classes`"),
                        )
                        .with_hint("list each class once"),
                    );
                }
            }
        }
    }
    if let Some(destinations) = &target.declared.destinations {
        let items = section("declared")
            .and_then(|table| table.get("destinations"))
            .and_then(doc::as_array)
            .unwrap_or_default();
        for (index, destination) in destinations.iter().enumerate() {
            let table = items.get(index).and_then(doc::as_table);
            let item_span = items.get(index).map_or(0..0, |item| item.span());
            check_destination(file, index, destination, table, item_span, &mut diagnostics);
        }
    }
    if let Some(connectivity) = &target.declared.connectivity {
        let table = section("declared")
            .and_then(|table| table.get("connectivity"))
            .and_then(doc::as_table);
        let value_span = |key: &str| {
            table
                .and_then(|table| doc::get(table, key))
                .map_or(0..0, |(_, value)| value.span())
        };
        let waits = [
            ("contacts_within_s", connectivity.contacts_within_s),
            ("outage_noticed_within_s", connectivity.outage_noticed_within_s),
            ("reconnects_within_s", connectivity.reconnects_within_s),
        ];
        for (key, value) in waits {
            if let Some(seconds) = value
                && !(1..=crate::typed::MAX_LAB_NET_WAIT_S).contains(&u64::from(seconds))
            {
                diagnostics.push(
                    file.error_at(value_span(key), format!("`{key}` is {seconds} s"))
                        .with_expected(format!(
                            "whole seconds from 1 to {}: a lab-network case waits that long at most",
                            crate::typed::MAX_LAB_NET_WAIT_S
                        )),
                );
            }
        }
        if connectivity.max_connects_per_s == Some(0) {
            diagnostics.push(
                file.error_at(value_span("max_connects_per_s"), "`max_connects_per_s` is 0")
                    .with_expected("at least 1: a device that reconnects makes at least one attempt"),
            );
        }
    }
    let password_value_span = password_spans.map(|(_, value)| value);
    (diagnostics, password, password_value_span)
}

/// One `[[declared.destinations]]` entry: a host name or a network (not both), a network that
/// parses with its host bits clear, a country code, and words for purpose and protocol.
fn check_destination(
    file: SourceFile<'_>,
    index: usize,
    destination: &crate::model::DeclaredDestination,
    table: Option<&DeTable<'_>>,
    item_span: Range<usize>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let label = format!("destination {}", index + 1);
    let value_span = |key: &str| {
        table
            .and_then(|table| doc::get(table, key))
            .map_or(item_span.clone(), |(_, value)| value.span())
    };
    match (&destination.host, &destination.network) {
        (Some(_), Some(_)) => diagnostics.push(
            file.error_at(
                value_span("network"),
                format!("{label} gives both `host` and `network`"),
            )
            .with_expected("exactly one of them")
            .with_hint("declare the name and the network as two destinations"),
        ),
        (None, None) => diagnostics.push(
            file.error_at(item_span.clone(), format!("{label} gives neither `host` nor `network`"))
                .with_expected("`host = \"cloud.example.com\"` or `network = \"203.0.113.0/24\"`"),
        ),
        (Some(host), None) => {
            let name = host.strip_prefix("*.").unwrap_or(host);
            let valid = !name.is_empty()
                && name.len() <= 253
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            if !valid {
                diagnostics.push(
                    file.error_at(
                        value_span("host"),
                        format!("`host` of {label} is not a host name: `{host}`"),
                    )
                    .with_expected("a DNS name such as `cloud.example.com`, or `*.example.com` for every name below it")
                    .with_hint("an address or a CIDR block goes in `network`"),
                );
            }
        }
        (None, Some(network)) => {
            if let Err(error) = Network::parse(network) {
                diagnostics.push(
                    file.error_at(value_span("network"), format!("`network` of {label}: {error}"))
                        .with_expected("an address or a CIDR block, e.g. `203.0.113.0/24` or `2001:db8::/32`"),
                );
            }
        }
    }
    if !is_country_code(&destination.country) {
        let upper = destination.country.to_ascii_uppercase();
        let mut diagnostic = file
            .error_at(
                value_span("country"),
                format!(
                    "`country` of {label} is not an ISO 3166-1 alpha-2 code: `{}`",
                    destination.country
                ),
            )
            .with_expected("two upper-case letters, e.g. `VN`");
        if is_country_code(&upper) {
            diagnostic = diagnostic.with_hint(format!("write `{upper}`"));
        }
        diagnostics.push(diagnostic);
    }
    for (key, text) in [("purpose", &destination.purpose), ("protocol", &destination.protocol)] {
        if text.trim().is_empty() {
            diagnostics.push(
                file.error_at(value_span(key), format!("`{key}` of {label} is empty"))
                    .with_expected(if key == "purpose" {
                        "what the service is for, e.g. `firmware updates`"
                    } else {
                        "how the device speaks to it, e.g. `https`"
                    }),
            );
        }
    }
}
