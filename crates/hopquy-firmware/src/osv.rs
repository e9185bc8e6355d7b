//! Offline matching of the inventory against known vulnerabilities: an OSV database the lab
//! supplies (osv.dev's export: one JSON file per advisory, in a directory or a `.zip`, or a
//! single `.json` file). Nothing is fetched: the lab's copy is the evidence, and its identity
//! (file names and SHA-256) goes into the report so a regulator can re-run the same match.
//!
//! **Matching rules** (docs/firmware.md, "Known vulnerabilities"):
//! - An advisory's affected package is named by `package.name`, else the name in
//!   `package.purl`, else the last segment of a `GIT` range's `repo`. It is lower-cased and
//!   mapped through [`PACKAGE_NAMES`] onto the inventory's component names (`openssl1.1` →
//!   `openssl`, `uclibc-ng` → `uclibc`, `linux-kernel` → `linux`…). The ecosystem is not
//!   required to match: firmware builds upstream sources, so a Debian or Alpine record of
//!   `openssl` is read as a record of upstream OpenSSL.
//! - A version is affected when it is in the entry's `versions` list, or inside one of its
//!   `SEMVER` or `ECOSYSTEM` ranges (OSV's event walk: `introduced`, `fixed`,
//!   `last_affected`, `limit`). Distribution versions are reduced to the upstream version
//!   first (epoch `1:`, revision `-1+deb9u1`, `-r3`, `+dfsg`, `~…` removed); git tags in
//!   `versions` (`OpenSSL_1_0_2k`, `v2.6.1`) to dotted versions. `GIT` ranges (commit
//!   hashes) cannot be compared with a version string and are not used.
//! - Versions compare token by token (numbers numerically, letters as text, a missing token
//!   below any present one): `1.0.2 < 1.0.2k < 1.0.2ze < 1.1.0`.
//!
//! **Limits:** the match is version-based. A vendor that back-ported a fix without changing
//! the version string is reported as vulnerable (a false positive the lab rules out from the
//! vendor's patch list); a component the scan did not recognise, or whose version string was
//! changed, is not matched at all (a false negative). Withdrawn advisories are ignored.
//!
//! Database files are hostile input too: file count, per-file and total sizes are bounded,
//! and a file that is not an OSV record is an error naming the file, line and column.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::model::{FirmwareReport, VulnDbFile, VulnDbIdentity, Vulnerability};
use crate::sha256_hex;

/// Bounds on reading a database. osv.dev's largest ecosystem export (Debian, 2025) is about
/// 60 000 files and 600 MiB unpacked; the bounds leave room without letting a hostile archive
/// take the machine.
#[derive(Debug, Clone)]
pub struct VulnDbLimits {
    pub max_files: u64,
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
}

impl Default for VulnDbLimits {
    fn default() -> Self {
        VulnDbLimits {
            max_files: 500_000,
            max_file_bytes: 16 << 20,
            max_total_bytes: 4 << 30,
        }
    }
}

/// At most this many files are listed by name in the report (a directory export); the
/// listing's own digest covers all of them.
const MAX_LISTED_FILES: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum VulnDbError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: not an OSV record: {message}")]
    Json {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: not a zip archive of OSV files: {message}")]
    Zip { path: PathBuf, message: String },
    #[error("{path}: more than {limit} files; split the database or pass one ecosystem's export")]
    TooManyFiles { path: PathBuf, limit: u64 },
    #[error("{file}: {size} bytes is more than the {limit}-byte limit for one OSV file")]
    FileTooLarge { file: String, size: u64, limit: u64 },
    #[error("{path}: more than {limit} bytes of OSV files in total")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path}: no OSV .json file in it")]
    Empty { path: PathBuf },
    #[error("{path}: neither a directory, a .json file nor a .zip archive")]
    UnknownKind { path: PathBuf },
}

/// An OSV database, read once: its identity and the advisories that name a component the
/// scan can recognise (the others cannot match and are only counted).
#[derive(Debug, Clone)]
pub struct VulnDb {
    pub identity: VulnDbIdentity,
    advisories: Vec<Advisory>,
}

#[derive(Debug, Clone)]
struct Advisory {
    id: String,
    aliases: Vec<String>,
    severity: Option<String>,
    source_file: String,
    affected: Vec<Affected>,
}

#[derive(Debug, Clone)]
struct Affected {
    component: &'static str,
    ecosystem: String,
    versions: BTreeSet<String>,
    ranges: Vec<Vec<Event>>,
}

#[derive(Debug, Clone)]
enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

// --- the OSV schema, as far as matching needs it (https://ossf.github.io/osv-schema/) -------
// Unknown fields are ignored on purpose: OSV is an external, growing format, and a field we
// do not use changes nothing about the match.

#[derive(Deserialize)]
#[serde(untagged)]
enum OsvFile {
    One(Box<OsvRecord>),
    Many(Vec<OsvRecord>),
}

#[derive(Deserialize)]
struct OsvRecord {
    id: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    severity: Vec<OsvSeverity>,
    #[serde(default)]
    affected: Vec<OsvAffected>,
    #[serde(default)]
    database_specific: Option<Value>,
}

#[derive(Deserialize)]
struct OsvSeverity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct OsvAffected {
    #[serde(default)]
    package: Option<OsvPackage>,
    #[serde(default)]
    ranges: Vec<OsvRange>,
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    severity: Vec<OsvSeverity>,
}

#[derive(Deserialize)]
struct OsvPackage {
    #[serde(default)]
    name: String,
    #[serde(default)]
    ecosystem: String,
    #[serde(default)]
    purl: Option<String>,
}

#[derive(Deserialize)]
struct OsvRange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    repo: Option<String>,
    #[serde(default)]
    events: Vec<BTreeMap<String, String>>,
}

/// OSV package names (lower case) → the inventory's component names.
pub const PACKAGE_NAMES: &[(&str, &str)] = &[
    ("openssl", "openssl"),
    ("openssl1.0", "openssl"),
    ("openssl1.1", "openssl"),
    ("openssl1.1-compat", "openssl"),
    ("openssl3", "openssl"),
    ("busybox", "busybox"),
    ("wolfssl", "wolfssl"),
    ("mbedtls", "mbedtls"),
    ("mbed-tls", "mbedtls"),
    ("dropbear", "dropbear"),
    ("dropbear-ssh", "dropbear"),
    ("openssh", "openssh"),
    ("openssh-portable", "openssh"),
    ("lighttpd", "lighttpd"),
    ("lighttpd1.4", "lighttpd"),
    ("boa", "boa"),
    ("thttpd", "thttpd"),
    ("uclibc", "uclibc"),
    ("uclibc-ng", "uclibc"),
    ("glibc", "glibc"),
    ("eglibc", "glibc"),
    ("linux", "linux"),
    ("linux-kernel", "linux"),
    ("kernel", "linux"),
];

fn component_of(name: &str) -> Option<&'static str> {
    let name = name.trim().to_ascii_lowercase();
    PACKAGE_NAMES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// The package name inside a purl: `pkg:deb/debian/openssl@1.1.1n-0?arch=…` → `openssl`.
fn purl_name(purl: &str) -> Option<&str> {
    let rest = purl.strip_prefix("pkg:")?;
    let rest = rest.split(['@', '?', '#']).next()?;
    rest.rsplit('/').next().filter(|n| !n.is_empty())
}

impl VulnDb {
    /// Reads a directory of OSV `.json` files, one `.json` file, or a `.zip` of them.
    pub fn load(path: &Path, limits: &VulnDbLimits) -> Result<VulnDb, VulnDbError> {
        let io = |source| VulnDbError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut reader = Reader {
            limits,
            root: path,
            total: 0,
            records: 0,
            advisories: Vec::new(),
        };
        let lower = name.to_ascii_lowercase();
        let (kind, sha256, files, listing) = if meta.is_dir() {
            let mut entries: Vec<(String, PathBuf)> = Vec::new();
            for entry in std::fs::read_dir(path).map_err(io)? {
                let entry = entry.map_err(io)?;
                let file_name = entry.file_name().to_string_lossy().into_owned();
                if file_name.to_ascii_lowercase().ends_with(".json") && entry.path().is_file() {
                    entries.push((file_name, entry.path()));
                    if entries.len() as u64 > limits.max_files {
                        return Err(VulnDbError::TooManyFiles {
                            path: path.to_path_buf(),
                            limit: limits.max_files,
                        });
                    }
                }
            }
            entries.sort();
            let mut listing = Vec::with_capacity(entries.len());
            for (file_name, file_path) in &entries {
                let bytes = read_bounded(file_path, file_name, limits)?;
                listing.push(VulnDbFile {
                    name: file_name.clone(),
                    sha256: sha256_hex(&bytes),
                });
                reader.parse(file_name, &bytes)?;
            }
            let digest = listing_digest(&listing);
            let count = listing.len() as u64;
            listing.truncate(MAX_LISTED_FILES);
            ("directory", digest, count, listing)
        } else if lower.ends_with(".zip") {
            let bytes = read_bounded(
                path,
                &name,
                &VulnDbLimits {
                    max_file_bytes: limits.max_total_bytes,
                    ..limits.clone()
                },
            )?;
            let count = reader.zip(&bytes)?;
            ("zip", sha256_hex(&bytes), count, Vec::new())
        } else if lower.ends_with(".json") && meta.is_file() {
            let bytes = read_bounded(path, &name, limits)?;
            reader.parse(&name, &bytes)?;
            ("file", sha256_hex(&bytes), 1, Vec::new())
        } else {
            return Err(VulnDbError::UnknownKind {
                path: path.to_path_buf(),
            });
        };
        if files == 0 {
            return Err(VulnDbError::Empty {
                path: path.to_path_buf(),
            });
        }
        let mut advisories = reader.advisories;
        advisories.sort_by(|a, b| (&a.id, &a.source_file).cmp(&(&b.id, &b.source_file)));
        Ok(VulnDb {
            identity: VulnDbIdentity {
                name,
                kind: kind.into(),
                sha256,
                files,
                advisories: reader.records,
                advisories_used: advisories.len() as u64,
                listing,
            },
            advisories,
        })
    }
}

impl VulnDb {
    /// A database already in memory, as `(file name, bytes)` pairs (the simulated lab's
    /// sample, `hopquy demo`); its identity is that of a directory holding these files.
    pub fn from_files(name: &str, files: &[(&str, &[u8])], limits: &VulnDbLimits) -> Result<VulnDb, VulnDbError> {
        let root = PathBuf::from(name);
        if files.len() as u64 > limits.max_files {
            return Err(VulnDbError::TooManyFiles {
                path: root,
                limit: limits.max_files,
            });
        }
        let mut reader = Reader {
            limits,
            root: &root,
            total: 0,
            records: 0,
            advisories: Vec::new(),
        };
        let mut sorted: Vec<&(&str, &[u8])> = files.iter().collect();
        sorted.sort_by_key(|(n, _)| *n);
        let mut listing = Vec::new();
        for (file_name, bytes) in sorted {
            if bytes.len() as u64 > limits.max_file_bytes {
                return Err(VulnDbError::FileTooLarge {
                    file: file_name.to_string(),
                    size: bytes.len() as u64,
                    limit: limits.max_file_bytes,
                });
            }
            listing.push(VulnDbFile {
                name: file_name.to_string(),
                sha256: sha256_hex(bytes),
            });
            reader.parse(file_name, bytes)?;
        }
        if listing.is_empty() {
            return Err(VulnDbError::Empty { path: root });
        }
        let mut advisories = reader.advisories;
        advisories.sort_by(|a, b| (&a.id, &a.source_file).cmp(&(&b.id, &b.source_file)));
        let records = reader.records;
        let sha256 = listing_digest(&listing);
        let count = listing.len() as u64;
        listing.truncate(MAX_LISTED_FILES);
        Ok(VulnDb {
            identity: VulnDbIdentity {
                name: name.to_string(),
                kind: "directory".into(),
                sha256,
                files: count,
                advisories: records,
                advisories_used: advisories.len() as u64,
                listing,
            },
            advisories,
        })
    }
}

fn listing_digest(listing: &[VulnDbFile]) -> String {
    let text: String = listing.iter().map(|f| format!("{}  {}\n", f.sha256, f.name)).collect();
    sha256_hex(text.as_bytes())
}

fn read_bounded(path: &Path, shown: &str, limits: &VulnDbLimits) -> Result<Vec<u8>, VulnDbError> {
    let io = |source| VulnDbError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    File::open(path)
        .map_err(io)?
        .take(limits.max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(VulnDbError::FileTooLarge {
            file: shown.to_string(),
            size: bytes.len() as u64,
            limit: limits.max_file_bytes,
        });
    }
    Ok(bytes)
}

struct Reader<'a> {
    limits: &'a VulnDbLimits,
    root: &'a Path,
    total: u64,
    records: u64,
    advisories: Vec<Advisory>,
}

impl Reader<'_> {
    fn zip(&mut self, bytes: &[u8]) -> Result<u64, VulnDbError> {
        let zip_err = |e: zip::result::ZipError| VulnDbError::Zip {
            path: self.root.to_path_buf(),
            message: e.to_string(),
        };
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(zip_err)?;
        if archive.len() as u64 > self.limits.max_files {
            return Err(VulnDbError::TooManyFiles {
                path: self.root.to_path_buf(),
                limit: self.limits.max_files,
            });
        }
        let zip_name = self
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut count = 0;
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).map_err(zip_err)?;
            let entry_name = entry.name().map_err(zip_err)?.into_owned();
            if entry.is_dir() || !entry_name.to_ascii_lowercase().ends_with(".json") {
                continue;
            }
            let shown = format!("{zip_name}!{entry_name}");
            let mut data = Vec::new();
            // The declared size is the archive's claim; the read itself is what is bounded.
            (&mut entry)
                .take(self.limits.max_file_bytes.saturating_add(1))
                .read_to_end(&mut data)
                .map_err(|e| VulnDbError::Zip {
                    path: self.root.to_path_buf(),
                    message: format!("{entry_name}: {e}"),
                })?;
            if data.len() as u64 > self.limits.max_file_bytes {
                return Err(VulnDbError::FileTooLarge {
                    file: shown,
                    size: data.len() as u64,
                    limit: self.limits.max_file_bytes,
                });
            }
            self.parse(&shown, &data)?;
            count += 1;
        }
        Ok(count)
    }

    fn parse(&mut self, file: &str, bytes: &[u8]) -> Result<(), VulnDbError> {
        self.total = self.total.saturating_add(bytes.len() as u64);
        if self.total > self.limits.max_total_bytes {
            return Err(VulnDbError::TooLarge {
                path: self.root.to_path_buf(),
                limit: self.limits.max_total_bytes,
            });
        }
        let parsed: OsvFile = serde_json::from_slice(bytes).map_err(|e| json_error(file, bytes, &e))?;
        let records = match parsed {
            OsvFile::One(r) => vec![*r],
            OsvFile::Many(list) => list,
        };
        for record in records {
            self.records += 1;
            if record.withdrawn.is_some() {
                continue;
            }
            if let Some(advisory) = advisory(file, record) {
                self.advisories.push(advisory);
            }
        }
        Ok(())
    }
}

/// serde_json's untagged-enum error has no position; parse again as a record to find where
/// the file stops being one.
fn json_error(file: &str, bytes: &[u8], first: &serde_json::Error) -> VulnDbError {
    let e = match serde_json::from_slice::<Value>(bytes) {
        Err(syntax) => syntax,
        Ok(Value::Array(_)) => match serde_json::from_slice::<Vec<OsvRecord>>(bytes) {
            Err(e) => e,
            Ok(_) => return at(file, first),
        },
        Ok(_) => match serde_json::from_slice::<OsvRecord>(bytes) {
            Err(e) => e,
            Ok(_) => return at(file, first),
        },
    };
    at(file, &e)
}

fn at(file: &str, e: &serde_json::Error) -> VulnDbError {
    VulnDbError::Json {
        file: file.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string().split(" at line ").next().unwrap_or_default().to_string(),
    }
}

fn severity_of(list: &[OsvSeverity]) -> Option<String> {
    // CVSS v3 first (the vector a lab quotes), then whatever else the record has.
    list.iter()
        .find(|s| s.kind.starts_with("CVSS_V3"))
        .or_else(|| list.first())
        .map(|s| s.score.clone())
}

fn advisory(file: &str, record: OsvRecord) -> Option<Advisory> {
    let mut affected = Vec::new();
    let mut severity = severity_of(&record.severity);
    for a in record.affected {
        let git_repo = a
            .ranges
            .iter()
            .find(|r| r.kind == "GIT")
            .and_then(|r| r.repo.as_deref())
            .and_then(|repo| repo.trim_end_matches('/').trim_end_matches(".git").rsplit('/').next())
            .map(str::to_string);
        // A named package is matched by its name alone; only a record without a package
        // (osv.dev's NVD conversions) is matched by its repository.
        let component = match &a.package {
            Some(p) => (!p.name.is_empty())
                .then_some(p.name.as_str())
                .or_else(|| p.purl.as_deref().and_then(purl_name))
                .and_then(component_of),
            None => git_repo.as_deref().and_then(component_of),
        };
        let Some(component) = component else {
            continue;
        };
        if severity.is_none() {
            severity = severity_of(&a.severity);
        }
        let versions = a.versions.iter().map(|v| upstream_version(component, v)).collect();
        let ranges = a
            .ranges
            .iter()
            .filter(|r| r.kind == "SEMVER" || r.kind == "ECOSYSTEM")
            .map(|r| {
                r.events
                    .iter()
                    .filter_map(|e| {
                        let (k, v) = e.iter().next()?;
                        let v = upstream_version(component, v);
                        Some(match k.as_str() {
                            "introduced" => Event::Introduced(v),
                            "fixed" => Event::Fixed(v),
                            "last_affected" => Event::LastAffected(v),
                            "limit" => Event::Limit(v),
                            _ => return None,
                        })
                    })
                    .collect()
            })
            .collect();
        affected.push(Affected {
            component,
            ecosystem: a.package.map(|p| p.ecosystem).unwrap_or_else(|| "GIT".into()),
            versions,
            ranges,
        });
    }
    if severity.is_none() {
        severity = record
            .database_specific
            .as_ref()
            .and_then(|d| d.get("severity"))
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    (!affected.is_empty()).then(|| Advisory {
        id: record.id,
        aliases: record.aliases,
        severity,
        source_file: file.to_string(),
        affected,
    })
}

/// A distribution's or a tag's version reduced to the upstream one (see the module comment).
fn upstream_version(component: &str, version: &str) -> String {
    let lower = version.trim().to_ascii_lowercase();
    let mut v = lower.as_str();
    if let Some((epoch, rest)) = v.split_once(':')
        && epoch.chars().all(|c| c.is_ascii_digit())
    {
        v = rest;
    }
    // Tags: `OpenSSL_1_0_2k`, `busybox-1.36.1`, `v2.6.1`, `DROPBEAR_2020.81`.
    if let Some(rest) = v.strip_prefix(component) {
        v = rest.trim_start_matches(['_', '-', '.']);
    }
    if let Some(rest) = v.strip_prefix('v')
        && rest.starts_with(|c: char| c.is_ascii_digit())
    {
        v = rest;
    }
    // Upstream versions of the recognised components carry no '-', '+' or '~'.
    let v = v.split(['-', '+', '~']).next().unwrap_or(v);
    v.replace('_', ".")
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Token<'a> {
    // Letters sort below numbers: `2.0rc1 < 2.0.1`.
    Alpha(&'a str),
    Num(u64),
}

fn tokens(v: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let bytes = v.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        if bytes[i].is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Token::Num(v[start..i].parse().unwrap_or(u64::MAX)));
        } else if bytes[i].is_ascii_alphabetic() {
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            out.push(Token::Alpha(&v[start..i]));
        } else {
            i += 1;
        }
    }
    out
}

/// Token-wise order; a version that is a prefix of another is the smaller (`1.0.2 < 1.0.2k`).
pub(crate) fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    tokens(a).cmp(&tokens(b))
}

/// OSV's range evaluation: events in version order, `introduced` opens, `fixed` and `limit`
/// close at their version, `last_affected` closes after its version. Returns the fix of the
/// interval that holds `v`.
fn in_range(events: &[Event], v: &str) -> Option<Option<String>> {
    use std::cmp::Ordering::*;
    let key = |e: &Event| match e {
        Event::Introduced(x) | Event::Fixed(x) | Event::LastAffected(x) | Event::Limit(x) => x.clone(),
    };
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by(|a, b| compare(&key(a), &key(b)));
    let mut affected = false;
    for e in &sorted {
        match e {
            Event::Introduced(x) if x == "0" || compare(v, x) != Less => affected = true,
            Event::Fixed(x) | Event::Limit(x) if compare(v, x) != Less => affected = false,
            Event::LastAffected(x) if compare(v, x) == Greater => affected = false,
            _ => {}
        }
    }
    if !affected {
        return None;
    }
    let fixed = sorted.iter().find_map(|e| match e {
        Event::Fixed(x) if compare(v, x) == Less => Some(x.clone()),
        _ => None,
    });
    Some(fixed)
}

/// Matches the report's inventory against `db` and records the result in the report (its
/// `vulnerabilities` and `vulndb`), replacing an earlier match.
pub fn annotate(report: &mut FirmwareReport, db: &VulnDb) {
    report.vulndb = Some(db.identity.clone());
    report.vulnerabilities = matches(report, db);
}

fn matches(report: &FirmwareReport, db: &VulnDb) -> Vec<Vulnerability> {
    let mut out: Vec<Vulnerability> = Vec::new();
    for component in &report.inventory {
        // One line per advisory and component, whichever of its entries matched; an advisory
        // another already matched under one of its aliases (a Debian DSA and the CVE) is kept
        // once, under the first id.
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for adv in &db.advisories {
            let hit = adv
                .affected
                .iter()
                .filter(|a| a.component == component.name)
                .find_map(|a| {
                    if a.versions.contains(&component.version) {
                        return Some((a, None, "listed in the advisory's affected versions"));
                    }
                    a.ranges
                        .iter()
                        .find_map(|r| in_range(r, &component.version))
                        .map(|fixed| (a, fixed, "inside an affected version range"))
                });
            let Some((entry, fixed, how)) = hit else {
                continue;
            };
            if std::iter::once(&adv.id).chain(&adv.aliases).any(|id| seen.contains(id)) {
                continue;
            }
            seen.insert(adv.id.clone());
            seen.extend(adv.aliases.iter().cloned());
            let mut aliases = adv.aliases.clone();
            aliases.sort();
            out.push(Vulnerability {
                id: adv.id.clone(),
                aliases,
                component: component.name.clone(),
                version: component.version.clone(),
                fixed,
                severity: adv.severity.clone(),
                source_file: adv.source_file.clone(),
                basis: format!(
                    "version-based: {} {} is {how} ({} record; a vendor back-port without a version change is not seen)",
                    component.name, component.version, entry.ecosystem
                ),
            });
        }
    }
    out.sort_by(|a, b| (&a.component, &a.version, &a.id).cmp(&(&b.component, &b.version, &b.id)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::*;

    #[test]
    fn versions_compare_token_by_token() {
        assert_eq!(compare("1.0.2", "1.0.2k"), Less);
        assert_eq!(compare("1.0.2k", "1.0.2ze"), Less);
        assert_eq!(compare("1.0.2zk", "1.1.0"), Less);
        assert_eq!(compare("1.36.1", "1.36.1"), Equal);
        assert_eq!(compare("1.9", "1.10"), Less);
        assert_eq!(compare("2.0rc1", "2.0.1"), Less);
    }

    #[test]
    fn distribution_versions_and_tags_become_upstream_versions() {
        assert_eq!(upstream_version("openssl", "1.0.2k-1~deb9u1"), "1.0.2k");
        assert_eq!(upstream_version("busybox", "1:1.30.1-6+b3"), "1.30.1");
        assert_eq!(upstream_version("openssl", "OpenSSL_1_0_2k"), "1.0.2k");
        assert_eq!(upstream_version("dropbear", "DROPBEAR_2020.81"), "2020.81");
        assert_eq!(upstream_version("mbedtls", "v2.16.3"), "2.16.3");
        assert_eq!(upstream_version("busybox", "1.36.1-r2"), "1.36.1");
        assert_eq!(upstream_version("busybox", "busybox-1.36.1"), "1.36.1");
    }

    #[test]
    fn ranges_follow_the_osv_event_walk() {
        let ev = |s: &[(&str, &str)]| -> Vec<Event> {
            s.iter()
                .map(|(k, v)| match *k {
                    "i" => Event::Introduced(v.to_string()),
                    "f" => Event::Fixed(v.to_string()),
                    "l" => Event::LastAffected(v.to_string()),
                    _ => Event::Limit(v.to_string()),
                })
                .collect()
        };
        let r = ev(&[("i", "0"), ("f", "1.0.2k"), ("i", "1.1.0"), ("f", "1.1.0e")]);
        assert_eq!(in_range(&r, "1.0.2j"), Some(Some("1.0.2k".into())));
        assert_eq!(in_range(&r, "1.0.2k"), None);
        assert_eq!(in_range(&r, "1.1.0d"), Some(Some("1.1.0e".into())));
        assert_eq!(in_range(&r, "1.1.1"), None);
        let last = ev(&[("i", "1.20.0"), ("l", "1.33.1")]);
        assert_eq!(in_range(&last, "1.33.1"), Some(None));
        assert_eq!(in_range(&last, "1.33.2"), None);
        assert_eq!(in_range(&last, "1.19.9"), None);
    }

    #[test]
    fn purls_name_their_package() {
        assert_eq!(
            purl_name("pkg:deb/debian/openssl@1.1.1n-0?arch=source"),
            Some("openssl")
        );
        assert_eq!(purl_name("pkg:generic/busybox"), Some("busybox"));
        assert_eq!(purl_name("openssl"), None);
    }
}
