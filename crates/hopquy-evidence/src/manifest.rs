//! manifest.json: the list of every other file in the bundle with its SHA-256, and the
//! readers outside tools use (results, events, manifest), all bounded in size.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::EvidenceError;
use crate::fsutil::{read_bounded, validate_relative_path};
use crate::model::{Event, Results, ToolInfo};

pub const MANIFEST_SCHEMA_VERSION: u32 = 1;

pub use crate::paths::{
    CASES_DIR, DEFINITIONS_DIR, EVENTS_FILE, EXCHANGES_FILE, INCOMPLETE_MARKER, JUNIT_FILE, MANIFEST_FILE, OSCAL_FILE,
    REPORT_FILE, RESULTS_FILE, SARIF_FILE, SIGNATURE_FILE, TARGET_FILE,
};

pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;
pub const MAX_RESULTS_BYTES: u64 = 64 * 1024 * 1024;
pub const MAX_EVENTS_BYTES: u64 = 256 * 1024 * 1024;
/// A bundle deeper than this is not one we wrote; stop rather than recurse forever.
pub(crate) const MAX_WALK_DEPTH: usize = 32;
pub(crate) const MAX_WALK_ENTRIES: usize = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Manifest {
    pub schema_version: u32,
    pub tool: ToolInfo,
    /// Digest of the case set the run used, as given by the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_set_digest: Option<String>,
    /// RFC 3339 time the manifest was written.
    pub created: String,
    /// Every file of the bundle except manifest.json and manifest.sig, sorted by path.
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ManifestFile {
    /// Bundle-relative, `/`-separated.
    pub path: String,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
    pub bytes: u64,
}

impl Manifest {
    /// SHA-256 of a bundle file by path, if listed.
    pub fn sha256_of(&self, path: &str) -> Option<&str> {
        self.files.iter().find(|f| f.path == path).map(|f| f.sha256.as_str())
    }

    /// Structural checks that make the manifest safe to act on: every path is a safe
    /// bundle-relative path, listed once, never a control file, with a well-formed digest.
    pub fn validate(&self) -> Result<(), String> {
        if self.schema_version != MANIFEST_SCHEMA_VERSION {
            return Err(format!(
                "unsupported manifest schema_version {} (this tool reads {MANIFEST_SCHEMA_VERSION})",
                self.schema_version
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for file in &self.files {
            if let Err(e) = validate_relative_path(&file.path) {
                return Err(format!("entry {:?} is not a safe path: {e}", file.path));
            }
            if matches!(file.path.as_str(), MANIFEST_FILE | SIGNATURE_FILE | INCOMPLETE_MARKER) {
                return Err(format!("entry {:?} must not be listed", file.path));
            }
            if !seen.insert(file.path.as_str()) {
                return Err(format!("entry {:?} is listed twice", file.path));
            }
            let well_formed = file.sha256.len() == 64
                && file
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !well_formed {
                return Err(format!(
                    "entry {:?} has a malformed sha256 {:?}",
                    file.path, file.sha256
                ));
            }
        }
        Ok(())
    }
}

/// One entry found while walking a bundle directory without following links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WalkedKind {
    File,
    Symlink,
    Other,
}

/// Lists every non-directory entry under `root` by bundle-relative path. Symbolic links are
/// reported, never followed, so a link cannot pull outside files into a bundle.
pub(crate) fn walk_bundle(root: &Path) -> Result<BTreeMap<String, WalkedKind>, EvidenceError> {
    let mut found = BTreeMap::new();
    let mut stack: Vec<(PathBuf, String, usize)> = vec![(root.to_path_buf(), String::new(), 0)];
    while let Some((dir, prefix, depth)) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| EvidenceError::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| EvidenceError::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let file_type = entry.file_type().map_err(|e| EvidenceError::io(entry.path(), e))?;
            if file_type.is_symlink() {
                found.insert(rel, WalkedKind::Symlink);
            } else if file_type.is_dir() {
                if depth + 1 > MAX_WALK_DEPTH {
                    return Err(EvidenceError::UnsafePath {
                        path: rel,
                        reason: format!("directories nested deeper than {MAX_WALK_DEPTH} levels"),
                    });
                }
                stack.push((entry.path(), rel, depth + 1));
            } else if file_type.is_file() {
                found.insert(rel, WalkedKind::File);
            } else {
                found.insert(rel, WalkedKind::Other);
            }
            if found.len() > MAX_WALK_ENTRIES {
                return Err(EvidenceError::UnsafePath {
                    path: root.display().to_string(),
                    reason: format!("more than {MAX_WALK_ENTRIES} files"),
                });
            }
        }
    }
    Ok(found)
}

/// Reads and parses `manifest.json` (bounded).
pub fn read_manifest(dir: &Path) -> Result<Manifest, EvidenceError> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = read_bounded(&path, MAX_MANIFEST_BYTES)?;
    serde_json::from_slice(&bytes).map_err(|source| EvidenceError::Json { path, source })
}

/// Reads and parses `results.json` (bounded).
pub fn read_results(dir: &Path) -> Result<Results, EvidenceError> {
    let path = dir.join(RESULTS_FILE);
    let bytes = read_bounded(&path, MAX_RESULTS_BYTES)?;
    serde_json::from_slice(&bytes).map_err(|source| EvidenceError::Json { path, source })
}

/// Event kinds this version understands; lines with any other `event` value come from a
/// newer writer (additive change) and are skipped rather than failing the whole read.
const KNOWN_EVENT_KINDS: &[&str] = &[
    "run_started",
    "case_started",
    "step_finished",
    "operator_prompt",
    "case_finished",
    "run_finished",
];

/// Reads `events.jsonl` (bounded). A final line without its newline is what a crash
/// mid-write leaves; it is dropped with a warning. Any other malformed line is an error that
/// names its line number.
pub fn read_events(dir: &Path) -> Result<Vec<Event>, EvidenceError> {
    let path = dir.join(EVENTS_FILE);
    let bytes = read_bounded(&path, MAX_EVENTS_BYTES)?;
    parse_events(&path, &bytes)
}

pub(crate) fn parse_events(path: &Path, bytes: &[u8]) -> Result<Vec<Event>, EvidenceError> {
    let ends_with_newline = bytes.last().is_none_or(|b| *b == b'\n');
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let line_count = lines.len();
    let mut events = Vec::new();
    for (index, line) in lines.into_iter().enumerate() {
        let number = index + 1;
        let is_last = number == line_count;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Event>(line) {
            Ok(event) => events.push(event),
            Err(source) => {
                if is_last && !ends_with_newline {
                    tracing::warn!(path = %path.display(), line = number,
                        "dropping truncated final event line (interrupted write)");
                    continue;
                }
                let kind = serde_json::from_slice::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_owned));
                if let Some(kind) = kind
                    && !KNOWN_EVENT_KINDS.contains(&kind.as_str())
                {
                    tracing::debug!(path = %path.display(), line = number, kind,
                        "skipping event kind unknown to this version");
                    continue;
                }
                return Err(EvidenceError::EventLine {
                    path: path.to_path_buf(),
                    line: number,
                    source,
                });
            }
        }
    }
    Ok(events)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn events_tolerate_a_truncated_tail_and_unknown_kinds_only() {
        let path = Path::new("events.jsonl");
        let good = br#"{"event":"run_finished","ts":"t","complete":true}"#;
        let mut bytes = Vec::new();
        bytes.extend_from_slice(good);
        bytes.extend_from_slice(b"\n{\"event\":\"from_the_future\",\"x\":1}\n{\"event\":\"run_fin");
        let events = parse_events(path, &bytes).unwrap();
        assert_eq!(events.len(), 1);

        let mut corrupt = Vec::new();
        corrupt.extend_from_slice(b"{\"event\":\"case_started\",\"ts\":1}\n");
        corrupt.extend_from_slice(good);
        corrupt.push(b'\n');
        match parse_events(path, &corrupt) {
            Err(EvidenceError::EventLine { line, .. }) => assert_eq!(line, 1),
            other => panic!("expected a line-1 error, got {other:?}"),
        }
    }

    #[test]
    fn manifest_validation_rejects_traversal_and_duplicates() {
        let file = |path: &str| ManifestFile {
            path: path.into(),
            sha256: "0".repeat(64),
            bytes: 0,
        };
        let mut manifest = Manifest {
            schema_version: 1,
            tool: ToolInfo {
                name: "hopquy".into(),
                version: "0".into(),
            },
            case_set_digest: None,
            created: "2026-01-01T00:00:00Z".into(),
            files: vec![file("results.json")],
        };
        assert!(manifest.validate().is_ok());
        manifest.files.push(file("../outside"));
        assert!(manifest.validate().is_err());
        manifest.files.pop();
        manifest.files.push(file("results.json"));
        assert!(manifest.validate().unwrap_err().contains("twice"));
    }
}
