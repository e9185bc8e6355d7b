//! The inventory: the cameras of a fleet, one per CSV row or TOML `[[device]]` table
//! (format: docs/fleet.md). Every problem is a [`Diagnostic`] at file:line naming the column
//! or key; all rows are checked before any is used, so one bad line audits nothing.
//!
//! Passwords are never in an inventory. A row names a username and where its password is:
//! `password_env` (an environment variable) or `credentials_file` (a file whose first line is
//! the password, relative to the inventory), so the inventory can be shared, versioned and
//! stored beside the report.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use hopquy_case::error::{SourceFile, did_you_mean};
use hopquy_case::{Diagnostic, render_diagnostics};
use serde::Deserialize;

/// An inventory of a few thousand cameras is well under this; more is the wrong file.
pub const MAX_INVENTORY_BYTES: u64 = 16 * 1024 * 1024;
/// A credentials file holds one password line.
const MAX_CREDENTIALS_FILE_BYTES: u64 = 4096;
/// Device ids name directories (devices/<id>/) and report rows.
const MAX_ID_CHARS: usize = 64;

/// Every column a CSV inventory may have (and every key of a TOML `[[device]]`).
pub const COLUMNS: &[&str] = &[
    "id",
    "host",
    "ports",
    "profile",
    "username",
    "password_env",
    "credentials_file",
    "site",
    "owner",
    "vendor",
    "model",
    "firmware",
    "serial",
    "declared_open_tcp_ports",
    "max_connections",
    "min_connect_gap_ms",
    "timeout_s",
    "port_sweep",
    "exclude_ports",
];

/// Columns that must be present (and non-empty) in every row.
const REQUIRED: &[&str] = &["host", "profile", "username"];

/// Where a device's password is read from when the fleet runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CredentialRef {
    Env(String),
    /// Absolute, or resolved against the inventory's directory.
    File(PathBuf),
}

/// One camera of the inventory, checked. Serialised as a fleet work item (it holds no
/// password, only where to read one).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    pub id: String,
    pub host: String,
    pub ports: BTreeMap<String, u16>,
    pub profile: String,
    pub username: String,
    pub credentials: CredentialRef,
    pub site: Option<String>,
    pub owner: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub serial: Option<String>,
    pub declared_open_tcp_ports: Option<Vec<u16>>,
    pub max_connections: Option<usize>,
    pub min_connect_gap_ms: Option<u64>,
    pub timeout_s: Option<u64>,
    pub port_sweep: Option<String>,
    pub exclude_ports: Vec<u16>,
    /// The line of the inventory this device is on (for messages about it later).
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Inventory {
    pub path: PathBuf,
    pub devices: Vec<DeviceEntry>,
    /// SHA-256 of the file as read: a resumed fleet run must audit the same inventory.
    pub digest: String,
}

/// An inventory that cannot be used; `diagnostics` holds every problem found.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", render_diagnostics(.diagnostics))]
pub struct InventoryError {
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads and checks an inventory; `.csv` files are CSV, everything else TOML. `profiles` are
/// the profile names a row may use.
pub fn load_inventory(path: &Path, profiles: &[String]) -> Result<Inventory, InventoryError> {
    let fail = |message: String| InventoryError {
        diagnostics: vec![Diagnostic::whole_file(path, message)],
    };
    let file = fs::File::open(path).map_err(|e| fail(format!("cannot read the inventory: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_INVENTORY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read the inventory: {e}")))?;
    if bytes.len() as u64 > MAX_INVENTORY_BYTES {
        return Err(fail(format!(
            "the inventory is larger than {MAX_INVENTORY_BYTES} bytes; is this the right file?"
        )));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        fail(format!(
            "the inventory is not UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    parse_inventory(path, &text, profiles)
}

/// Checks inventory text; `path` decides the format and anchors relative credential files.
pub fn parse_inventory(path: &Path, text: &str, profiles: &[String]) -> Result<Inventory, InventoryError> {
    let file = SourceFile::new(path, text);
    let is_csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let rows = if is_csv { csv_rows(file)? } else { toml_rows(file)? };
    let base = path.parent().unwrap_or(Path::new("."));
    let mut diagnostics = Vec::new();
    let mut devices: Vec<DeviceEntry> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for row in rows {
        match check_row(file, &row, base, profiles) {
            Ok(device) => {
                if let Some(first) = seen.get(&device.id) {
                    diagnostics.push(
                        file.error_at(row.span.clone(), format!("device id `{}` is used twice", device.id))
                            .with_note(format!("first used on line {first}"))
                            .with_hint("give every camera its own `id` (it names its evidence directory)"),
                    );
                    continue;
                }
                seen.insert(device.id.clone(), device.line);
                devices.push(device);
            }
            Err(mut d) => diagnostics.append(&mut d),
        }
    }
    if diagnostics.is_empty() && devices.is_empty() {
        diagnostics.push(Diagnostic::whole_file(path, "the inventory lists no device"));
    }
    if !diagnostics.is_empty() {
        return Err(InventoryError { diagnostics });
    }
    Ok(Inventory {
        path: path.to_path_buf(),
        devices,
        digest: digest(text),
    })
}

fn digest(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// A row before its values are checked: each value as text (CSV) or TOML value, and where the
/// row is, for diagnostics.
struct Row {
    span: Range<usize>,
    line: usize,
    values: BTreeMap<String, Value>,
}

enum Value {
    Text(String),
    Toml(toml::Value),
}

fn unknown_column(file: SourceFile<'_>, span: Range<usize>, name: &str, what: &str) -> Diagnostic {
    let d = file.error_at(span, format!("unknown {what} `{name}`"));
    if name == "password" {
        return d.with_hint(
            "passwords never go in the inventory: name an environment variable (`password_env`) \
             or a file holding it (`credentials_file`)",
        );
    }
    d.with_expected(format!("one of {}", COLUMNS.join(", ")))
        .with_optional_hint(did_you_mean(name, COLUMNS.iter().copied()).map(|s| format!("did you mean `{s}`?")))
}

fn line_span(text: &str, start: usize) -> Range<usize> {
    let start = start.min(text.len());
    let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
    let end = if text[..end].ends_with('\r') { end - 1 } else { end };
    start..end.max(start)
}

fn skip_comment_lines(text: &str, mut start: usize) -> usize {
    while let Some(rest) = text.get(start..) {
        let line = rest.split_inclusive('\n').next().unwrap_or("");
        let trimmed = line.trim();
        if line.is_empty() || !(trimmed.is_empty() || trimmed.starts_with('#')) {
            break;
        }
        start += line.len();
    }
    start
}

fn csv_rows(file: SourceFile<'_>) -> Result<Vec<Row>, InventoryError> {
    let err = |d: Diagnostic| InventoryError { diagnostics: vec![d] };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(file.text.as_bytes());
    let header_at = |e: &csv::Error| match e.position() {
        Some(p) => line_span(file.text, p.byte() as usize),
        None => 0..0,
    };
    let headers = reader
        .headers()
        .map_err(|e| err(file.error_at(header_at(&e), format!("cannot read the header line: {e}"))))?
        .clone();
    let header_span = line_span(file.text, 0);
    let mut diagnostics = Vec::new();
    let mut names = BTreeSet::new();
    for name in headers.iter() {
        if !COLUMNS.contains(&name) {
            diagnostics.push(unknown_column(file, header_span.clone(), name, "column"));
        } else if !names.insert(name.to_owned()) {
            diagnostics.push(file.error_at(header_span.clone(), format!("column `{name}` appears twice")));
        }
    }
    for required in REQUIRED {
        if !names.contains(*required) {
            diagnostics.push(
                file.error_at(header_span.clone(), format!("the header has no `{required}` column"))
                    .with_expected(format!("at least {}", REQUIRED.join(", "))),
            );
        }
    }
    if !diagnostics.is_empty() {
        return Err(InventoryError { diagnostics });
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                        format!("this row has {len} fields; the header has {expected_len}")
                    }
                    _ => format!("cannot read this row: {e}"),
                };
                diagnostics.push(file.error_at(header_at(&e), message));
                continue;
            }
        };
        let Some(pos) = record.position() else { continue };
        // A record's position is where the reader left the previous one: before any comment
        // or blank lines between them, which the line a lab is shown must skip.
        let start = skip_comment_lines(file.text, pos.byte() as usize);
        let (line, _, _, _) = file.position(start);
        let values = headers
            .iter()
            .zip(record.iter())
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_owned(), Value::Text(v.to_owned())))
            .collect();
        rows.push(Row {
            span: line_span(file.text, start),
            line,
            values,
        });
    }
    if !diagnostics.is_empty() {
        return Err(InventoryError { diagnostics });
    }
    Ok(rows)
}

fn toml_rows(file: SourceFile<'_>) -> Result<Vec<Row>, InventoryError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TomlInventory {
        #[serde(default)]
        device: Vec<toml::Spanned<toml::Table>>,
    }
    let parsed: TomlInventory = toml::from_str(file.text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().trim().to_owned();
        let message = if message.starts_with("unknown field") {
            format!("{message}; an inventory holds `[[device]]` tables only")
        } else {
            message
        };
        InventoryError {
            diagnostics: vec![file.error_at(span, message)],
        }
    })?;
    let mut diagnostics = Vec::new();
    let mut rows = Vec::new();
    for table in parsed.device {
        let span = table.span();
        // The `[[device]]` header line: where a reader looks for the table.
        let header = line_span(file.text, span.start);
        let (line, _, _, _) = file.position(span.start);
        let mut values = BTreeMap::new();
        for (key, value) in table.into_inner() {
            if !COLUMNS.contains(&key.as_str()) {
                let at = key_span(file.text, span.clone(), &key).unwrap_or(header.clone());
                diagnostics.push(unknown_column(file, at, &key, "key"));
                continue;
            }
            values.insert(key, Value::Toml(value));
        }
        rows.push(Row {
            span: header,
            line,
            values,
        });
    }
    if !diagnostics.is_empty() {
        return Err(InventoryError { diagnostics });
    }
    Ok(rows)
}

/// The line of `key = …` in the table that starts at `table` (up to the next table header),
/// for an error at the key the lab wrote.
fn key_span(text: &str, table: Range<usize>, key: &str) -> Option<Range<usize>> {
    let body = text.get(table.start..)?;
    let mut offset = 0;
    for (n, line) in body.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_start();
        if n > 0 && trimmed.starts_with('[') {
            return None;
        }
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            let start = table.start + offset + (line.len() - trimmed.len());
            return Some(start..start + key.len());
        }
        offset += line.len();
    }
    None
}

fn check_row(
    file: SourceFile<'_>,
    row: &Row,
    base: &Path,
    profiles: &[String],
) -> Result<DeviceEntry, Vec<Diagnostic>> {
    let mut diagnostics = Vec::new();
    let mut bad = |column: &str, message: String| {
        diagnostics.push(file.error_at(row.span.clone(), format!("`{column}`: {message}")));
    };
    let text = |key: &str, bad: &mut dyn FnMut(&str, String)| -> Option<String> {
        match row.values.get(key)? {
            Value::Text(s) => Some(s.clone()),
            Value::Toml(toml::Value::String(s)) => Some(s.trim().to_owned()),
            Value::Toml(other) => {
                bad(key, format!("expected a string, found {}", other.type_str()));
                None
            }
        }
        .filter(|s| !s.is_empty())
    };
    let number = |key: &str, bad: &mut dyn FnMut(&str, String)| -> Option<u64> {
        match row.values.get(key)? {
            Value::Text(s) => match s.parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    bad(key, format!("expected a whole number, found `{s}`"));
                    None
                }
            },
            Value::Toml(toml::Value::Integer(n)) if *n >= 0 => Some(*n as u64),
            Value::Toml(other) => {
                bad(key, format!("expected a whole number, found {other}"));
                None
            }
        }
    };
    let port_list = |key: &str, bad: &mut dyn FnMut(&str, String)| -> Option<Vec<u16>> {
        let items: Vec<String> = match row.values.get(key)? {
            Value::Text(s) => s
                .split(';')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect(),
            Value::Toml(toml::Value::Array(a)) => a.iter().map(|v| v.to_string()).collect(),
            Value::Toml(other) => {
                bad(key, format!("expected a list of ports, found {}", other.type_str()));
                return None;
            }
        };
        let mut ports = Vec::new();
        for item in items {
            match item.parse::<u16>() {
                Ok(p) if p > 0 => ports.push(p),
                _ => {
                    bad(key, format!("`{item}` is not a port (1–65535)"));
                    return None;
                }
            }
        }
        Some(ports)
    };

    let host = text("host", &mut bad);
    match &host {
        None => bad("host", "every device needs a host".into()),
        Some(h) if !valid_host(h) => bad(
            "host",
            format!("`{h}` is not an IP address or host name (no scheme, path or port: ports go in `ports`)"),
        ),
        Some(_) => {}
    }
    let ports = match row.values.get("ports") {
        None => BTreeMap::new(),
        Some(Value::Text(s)) => {
            let mut ports = BTreeMap::new();
            for pair in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                match pair.split_once('=').map(|(n, p)| (n.trim(), p.trim().parse::<u16>())) {
                    Some((name, Ok(port))) if port > 0 && !name.is_empty() => {
                        ports.insert(name.to_owned(), port);
                    }
                    _ => bad(
                        "ports",
                        format!("`{pair}` is not `name=port` (for example `http=80;rtsp=554`)"),
                    ),
                }
            }
            ports
        }
        Some(Value::Toml(toml::Value::Table(t))) => {
            let mut ports = BTreeMap::new();
            for (name, v) in t {
                match v.as_integer().and_then(|n| u16::try_from(n).ok()).filter(|p| *p > 0) {
                    Some(port) => {
                        ports.insert(name.clone(), port);
                    }
                    None => bad("ports", format!("`{name} = {v}` is not a port (1–65535)")),
                }
            }
            ports
        }
        Some(Value::Toml(other)) => {
            bad(
                "ports",
                format!("expected a table such as {{ http = 80 }}, found {}", other.type_str()),
            );
            BTreeMap::new()
        }
    };
    let profile = text("profile", &mut bad);
    match profile.as_deref() {
        None => bad("profile", "every device needs a profile".into()),
        // Identified from the device's answers when it is audited.
        Some(hopquy_case::identify::AUTO_PROFILE) => {}
        Some(p) if !profiles.iter().any(|known| known == p) => {
            let hint = did_you_mean(p, profiles.iter().map(String::as_str))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            bad(
                "profile",
                format!("no profile `{p}` (known: {}){hint}", profiles.join(", ")),
            );
        }
        Some(_) => {}
    }
    let username = text("username", &mut bad);
    if username.is_none() {
        bad(
            "username",
            "every device needs the username of the account the audit reads with".into(),
        );
    }
    let credentials = match (text("password_env", &mut bad), text("credentials_file", &mut bad)) {
        (Some(var), None) => Some(CredentialRef::Env(var)),
        (None, Some(f)) => {
            let p = Path::new(&f);
            Some(CredentialRef::File(if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }))
        }
        (Some(_), Some(_)) => {
            bad(
                "password_env",
                "give `password_env` or `credentials_file`, not both".into(),
            );
            None
        }
        (None, None) => {
            bad(
                "password_env",
                "no password reference: set `password_env` (an environment variable) or `credentials_file`".into(),
            );
            None
        }
    };
    let id = text("id", &mut bad).or_else(|| host.as_ref().map(|h| id_from_host(h, &ports)));
    if let Some(id) = &id
        && !valid_id(id)
    {
        bad(
            "id",
            format!("`{id}` is not a device id (letters, digits, `.`, `_`, `-`; at most {MAX_ID_CHARS})"),
        );
    }
    let port_sweep = text("port_sweep", &mut bad);
    if let Some(s) = &port_sweep
        && s != "full"
        && s != "profile"
    {
        bad("port_sweep", format!("expected `full` or `profile`, found `{s}`"));
    }
    let max_connections = number("max_connections", &mut bad);
    if max_connections == Some(0) {
        bad("max_connections", "at least one connection is needed".into());
    }
    let entry = DeviceEntry {
        id: id.unwrap_or_default(),
        host: host.unwrap_or_default(),
        ports,
        profile: profile.unwrap_or_default(),
        username: username.unwrap_or_default(),
        credentials: credentials.unwrap_or(CredentialRef::Env(String::new())),
        site: text("site", &mut bad),
        owner: text("owner", &mut bad),
        vendor: text("vendor", &mut bad),
        model: text("model", &mut bad),
        firmware: text("firmware", &mut bad),
        serial: text("serial", &mut bad),
        declared_open_tcp_ports: port_list("declared_open_tcp_ports", &mut bad),
        max_connections: max_connections.map(|n| n as usize),
        min_connect_gap_ms: number("min_connect_gap_ms", &mut bad),
        timeout_s: number("timeout_s", &mut bad),
        port_sweep,
        exclude_ports: port_list("exclude_ports", &mut bad).unwrap_or_default(),
        line: row.line,
    };
    if diagnostics.is_empty() {
        Ok(entry)
    } else {
        Err(diagnostics)
    }
}

pub(crate) fn valid_id(id: &str) -> bool {
    id.chars().count() <= MAX_ID_CHARS
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn valid_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// The id of a row that names none: its host, and its HTTP port when it has one (two cameras
/// behind one NAT address differ only there).
fn id_from_host(host: &str, ports: &BTreeMap<String, u16>) -> String {
    let mut id: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Some(p) = ports.get("http") {
        id.push_str(&format!("-{p}"));
    }
    id
}

impl DeviceEntry {
    /// Where this device is in the inventory, for messages: `inventory.csv:4`.
    pub fn location(&self, inventory: &Path) -> String {
        format!("{}:{}", inventory.display(), self.line)
    }

    /// The password this device's reference points at; the message says which reference
    /// failed, never a value.
    pub fn resolve_password(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
        match &self.credentials {
            CredentialRef::Env(var) => env(var)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| format!("the environment variable `{var}` (password_env) is not set")),
            CredentialRef::File(path) => {
                let file = fs::File::open(path).map_err(|e| format!("credentials_file {}: {e}", path.display()))?;
                let mut bytes = Vec::new();
                file.take(MAX_CREDENTIALS_FILE_BYTES + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| format!("credentials_file {}: {e}", path.display()))?;
                if bytes.len() as u64 > MAX_CREDENTIALS_FILE_BYTES {
                    return Err(format!(
                        "credentials_file {} is larger than {MAX_CREDENTIALS_FILE_BYTES} bytes; it must hold one password line",
                        path.display()
                    ));
                }
                let text = String::from_utf8(bytes)
                    .map_err(|_| format!("credentials_file {} is not UTF-8", path.display()))?;
                let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
                if line.is_empty() {
                    return Err(format!(
                        "credentials_file {} holds no password on its first line",
                        path.display()
                    ));
                }
                Ok(line.to_owned())
            }
        }
    }

    /// A target file for this device (the format `hopquy run --target` reads) whose password
    /// is read from `password_env`; it holds no secret.
    pub fn target_toml(&self, password_env: &str) -> String {
        use toml::Value as V;
        let string = |s: &Option<String>, default: &str| V::String(s.clone().unwrap_or_else(|| default.to_owned()));
        let mut device = toml::Table::new();
        device.insert("vendor".into(), string(&self.vendor, "unknown"));
        device.insert("model".into(), string(&self.model, "unknown"));
        device.insert("firmware".into(), string(&self.firmware, "unknown"));
        if let Some(serial) = &self.serial {
            device.insert("serial".into(), V::String(serial.clone()));
        }
        let ports = |list: &[u16]| V::Array(list.iter().map(|p| V::Integer(i64::from(*p))).collect());
        let mut connection = toml::Table::new();
        connection.insert("host".into(), V::String(self.host.clone()));
        connection.insert("profile".into(), V::String(self.profile.clone()));
        connection.insert(
            "ports".into(),
            V::Table(
                self.ports
                    .iter()
                    .map(|(k, v)| (k.clone(), V::Integer(i64::from(*v))))
                    .collect(),
            ),
        );
        if let Some(n) = self.max_connections {
            connection.insert("max_connections".into(), V::Integer(n as i64));
        }
        if let Some(n) = self.min_connect_gap_ms {
            connection.insert("min_connect_gap_ms".into(), V::Integer(n as i64));
        }
        if let Some(n) = self.timeout_s {
            connection.insert("timeout_s".into(), V::Integer(n as i64));
        }
        if let Some(s) = &self.port_sweep {
            connection.insert("port_sweep".into(), V::String(s.clone()));
        }
        if !self.exclude_ports.is_empty() {
            connection.insert("exclude_ports".into(), ports(&self.exclude_ports));
        }
        let mut credentials = toml::Table::new();
        credentials.insert("username".into(), V::String(self.username.clone()));
        credentials.insert("password_env".into(), V::String(password_env.to_owned()));
        let mut root = toml::Table::new();
        root.insert("device".into(), V::Table(device));
        root.insert("connection".into(), V::Table(connection));
        root.insert("credentials".into(), V::Table(credentials));
        if let Some(open) = &self.declared_open_tcp_ports {
            let mut declared = toml::Table::new();
            declared.insert("open_tcp_ports".into(), ports(open));
            root.insert("declared".into(), V::Table(declared));
        }
        format!(
            "# Generated by `hopquy fleet run` from inventory line {} (device `{}`); no secret here.\n{}",
            self.line,
            self.id,
            toml::to_string(&root).unwrap_or_default()
        )
    }
}

/// A CSV inventory of `devices` (the format [`load_inventory`] reads), for `hopquy sim
/// --fleet` and for labs converting another list. Empty optional values are left empty.
pub fn write_csv(devices: &[DeviceEntry]) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS)?;
    let list = |ports: &[u16]| ports.iter().map(u16::to_string).collect::<Vec<_>>().join(";");
    for d in devices {
        let (env, file) = match &d.credentials {
            CredentialRef::Env(v) => (v.clone(), String::new()),
            CredentialRef::File(p) => (String::new(), p.display().to_string()),
        };
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let num = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
        w.write_record([
            d.id.clone(),
            d.host.clone(),
            d.ports
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(";"),
            d.profile.clone(),
            d.username.clone(),
            env,
            file,
            opt(&d.site),
            opt(&d.owner),
            opt(&d.vendor),
            opt(&d.model),
            opt(&d.firmware),
            opt(&d.serial),
            d.declared_open_tcp_ports.as_deref().map(list).unwrap_or_default(),
            num(d.max_connections.map(|n| n as u64)),
            num(d.min_connect_gap_ms),
            num(d.timeout_s),
            opt(&d.port_sweep),
            list(&d.exclude_ports),
        ])?;
    }
    let bytes = w.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn profiles() -> Vec<String> {
        vec!["simcam".into(), "hikvision-isapi".into()]
    }

    fn errors(name: &str, text: &str) -> String {
        let err = parse_inventory(Path::new(name), text, &profiles()).unwrap_err();
        err.diagnostics
            .iter()
            .map(|d| format!("{}: {}", d.location(), d.message))
            .collect::<Vec<_>>()
            .join("\n")
    }

    const CSV_OK: &str = "id,host,ports,profile,username,password_env,site,owner,declared_open_tcp_ports\n\
        # a comment line\n\
        cam-1,10.0.0.5,http=80;rtsp=554,simcam,admin,CAM_PW,HQ,IT,80;554\n\
        cam-2,cam2.example.org,,hikvision-isapi,admin,CAM_PW,,,\n";

    #[test]
    fn a_csv_inventory_reads_every_column() {
        let inv = parse_inventory(Path::new("inv.csv"), CSV_OK, &profiles()).unwrap();
        assert_eq!(inv.devices.len(), 2);
        let d = &inv.devices[0];
        assert_eq!(d.id, "cam-1");
        assert_eq!(d.ports.get("rtsp"), Some(&554));
        assert_eq!(d.credentials, CredentialRef::Env("CAM_PW".into()));
        assert_eq!(d.site.as_deref(), Some("HQ"));
        assert_eq!(d.declared_open_tcp_ports, Some(vec![80, 554]));
        assert_eq!(d.line, 3);
        assert_eq!(inv.devices[1].line, 4);
        assert_eq!(inv.devices[1].site, None);
        // The generated target names the variable, never a value, and reads back as TOML.
        let target = d.target_toml("CAM_PW");
        let parsed: toml::Table = target.parse().unwrap();
        assert_eq!(parsed["credentials"]["password_env"].as_str(), Some("CAM_PW"));
        assert_eq!(parsed["declared"]["open_tcp_ports"].as_array().unwrap().len(), 2);
        // What write_csv writes reads back the same.
        let written = write_csv(&inv.devices).unwrap();
        let again = parse_inventory(Path::new("w.csv"), &written, &profiles()).unwrap();
        let lines: Vec<usize> = again.devices.iter().map(|d| d.line).collect();
        assert_eq!(lines, [2, 3]);
        let strip = |mut d: DeviceEntry| {
            d.line = 0;
            d
        };
        assert_eq!(
            again.devices.into_iter().map(strip).collect::<Vec<_>>(),
            inv.devices.into_iter().map(strip).collect::<Vec<_>>()
        );
    }

    #[test]
    fn csv_errors_name_file_line_and_column() {
        let text = "host,profile,username,password_env\n10.0.0.1,simcam,admin,PW\n10.0.0.2,simcm,admin,PW\nhttp://x,simcam,admin,\n";
        let e = errors("fleet.csv", text);
        assert!(e.contains("fleet.csv:3:1: `profile`: no profile `simcm`"), "{e}");
        assert!(e.contains("did you mean `simcam`?"), "{e}");
        assert!(
            e.contains("fleet.csv:4:1: `host`: `http://x` is not an IP address"),
            "{e}"
        );
        assert!(
            e.contains("fleet.csv:4:1: `password_env`: no password reference"),
            "{e}"
        );
        assert!(!e.contains("fleet.csv:2:"), "{e}");
    }

    #[test]
    fn unknown_columns_and_a_password_column_are_refused() {
        let e = errors(
            "f.csv",
            "host,profile,username,password\n10.0.0.1,simcam,admin,secret\n",
        );
        assert!(e.contains("f.csv:1:1: unknown column `password`"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        let err = parse_inventory(Path::new("f.csv"), "host,profile,username,password\n", &profiles()).unwrap_err();
        assert!(err.diagnostics[0].hint.as_deref().unwrap().contains("password_env"));
        let e = errors("f.csv", "host,profil,username,password_env\n10.0.0.1,simcam,admin,PW\n");
        assert!(e.contains("unknown column `profil`"), "{e}");
        assert!(e.contains("no `profile` column"), "{e}");
    }

    #[test]
    fn a_short_row_and_a_duplicate_id_are_errors_at_their_line() {
        let e = errors("f.csv", "host,profile,username,password_env\n10.0.0.1,simcam,admin\n");
        assert!(e.contains("f.csv:2:1: this row has 3 fields; the header has 4"), "{e}");
        let e = errors(
            "f.csv",
            "id,host,profile,username,password_env\na,10.0.0.1,simcam,admin,PW\na,10.0.0.2,simcam,admin,PW\n",
        );
        assert!(e.contains("f.csv:3:1: device id `a` is used twice"), "{e}");
    }

    #[test]
    fn a_toml_inventory_reads_and_its_errors_have_lines() {
        let text = "[[device]]\nid = \"a\"\nhost = \"127.0.0.1\"\nprofile = \"simcam\"\nusername = \"admin\"\ncredentials_file = \"pw.txt\"\nports = { http = 8080 }\ndeclared_open_tcp_ports = [8080]\n\n[[device]]\nhost = \"127.0.0.2\"\nprofile = \"simcam\"\nusername = \"admin\"\npassword_env = \"PW\"\n";
        let inv = parse_inventory(Path::new("/srv/fleet.toml"), text, &profiles()).unwrap();
        assert_eq!(inv.devices[0].credentials, CredentialRef::File("/srv/pw.txt".into()));
        assert_eq!(inv.devices[0].ports.get("http"), Some(&8080));
        assert_eq!(inv.devices[1].id, "127.0.0.2");
        assert_eq!(inv.devices[1].line, 10);
        let bad = "[[device]]\nhost = \"127.0.0.1\"\nprofile = \"simcam\"\nusername = \"admin\"\npassword_env = \"PW\"\npasword = \"x\"\n";
        let e = errors("fleet.toml", bad);
        assert!(e.contains("fleet.toml:6:1: unknown key `pasword`"), "{e}");
        let e = errors("fleet.toml", "[[devices]]\nhost = \"x\"\n");
        assert!(e.contains("fleet.toml:1:"), "{e}");
        let e = errors("fleet.toml", "");
        assert!(e.contains("lists no device"), "{e}");
    }

    #[test]
    fn a_credentials_file_gives_its_first_line_and_a_missing_variable_says_which() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "s3cret!\nignored\n").unwrap();
        let text = "host,profile,username,credentials_file,password_env\n10.0.0.1,simcam,admin,pw,\n10.0.0.2,simcam,admin,,NOPE\n";
        let inv = parse_inventory(&dir.path().join("i.csv"), text, &profiles()).unwrap();
        let none = |_: &str| None;
        assert_eq!(inv.devices[0].resolve_password(&none).unwrap(), "s3cret!");
        let e = inv.devices[1].resolve_password(&none).unwrap_err();
        assert!(e.contains("`NOPE`"), "{e}");
    }
}
