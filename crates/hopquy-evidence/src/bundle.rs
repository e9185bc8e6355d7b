//! Writing an evidence bundle (DESIGN §6). The `.hopquy-incomplete` marker exists from the
//! first byte written until the last step of [`BundleWriter::finish`], so a crash anywhere
//! leaves a bundle that `verify` calls incomplete, never valid.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::EvidenceError;
use crate::fsutil::{
    hash_file, is_temporary_name, join_components, read_bounded, sha256_hex, sync_dir, validate_relative_path,
    write_atomic,
};
use crate::junit::junit_xml;
use crate::manifest::{
    DEFINITIONS_DIR, EVENTS_FILE, EXCHANGES_FILE, INCOMPLETE_MARKER, JUNIT_FILE, MANIFEST_FILE,
    MANIFEST_SCHEMA_VERSION, Manifest, ManifestFile, OSCAL_FILE, REPORT_FILE, RESULTS_FILE, SARIF_FILE, SIGNATURE_FILE,
    WalkedKind, walk_bundle,
};
use crate::model::{Event, Results};
use crate::oscal::oscal_json;
use crate::report::{ReportContext, render_report};
use crate::sarif::sarif_json;
use crate::sign::{SigningKey, fingerprint, sign_manifest};

const MAX_CASE_ID_BYTES: usize = 128;
const MAX_MARKER_BYTES: u64 = 64 * 1024;

/// Files only the writer itself may produce; `write_file` refuses them.
const RESERVED_TOP_LEVEL: &[&str] = &[MANIFEST_FILE, SIGNATURE_FILE, INCOMPLETE_MARKER, EVENTS_FILE];

/// Contents of `.hopquy-incomplete`: when the bundle was started, for a resuming run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncompleteMarker {
    pub format: String,
    pub created: String,
}

const MARKER_FORMAT: &str = "hopquy-bundle-incomplete-v1";

pub struct FinishOptions<'a> {
    pub signing_key: Option<&'a SigningKey>,
    /// Lab details for report.html. Its `case_set_digest` is also recorded in the manifest;
    /// `signed` and `signer_fingerprint` are overwritten from `signing_key`.
    pub report: ReportContext,
}

#[derive(Debug, Clone)]
pub struct FinishedBundle {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// SHA-256 of the exact manifest.json bytes: one value that pins the whole bundle.
    pub manifest_sha256: String,
    pub signer_fingerprint: Option<String>,
}

#[derive(Debug)]
pub struct BundleWriter {
    dir: PathBuf,
    events: Option<File>,
    marker: IncompleteMarker,
}

/// Case ids become directory names; keep them to one portable, unsurprising component.
pub fn validate_case_id(id: &str) -> Result<(), EvidenceError> {
    let refuse = |reason: &str| EvidenceError::InvalidCaseId {
        id: id.to_string(),
        reason: reason.to_string(),
    };
    if id.is_empty() {
        return Err(refuse("empty"));
    }
    if id.len() > MAX_CASE_ID_BYTES {
        return Err(refuse("longer than 128 bytes"));
    }
    let mut bytes = id.bytes();
    if !bytes.next().is_some_and(|b| b.is_ascii_alphanumeric()) {
        return Err(refuse("must start with an ASCII letter or digit"));
    }
    if !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return Err(refuse("only ASCII letters, digits, '.', '_' and '-' are allowed"));
    }
    if is_temporary_name(id) {
        return Err(refuse("collides with the writer's temporary-file pattern"));
    }
    Ok(())
}

impl BundleWriter {
    /// Starts a new bundle in `dir`, which must be absent or empty.
    pub fn create(dir: impl AsRef<Path>) -> Result<Self, EvidenceError> {
        let dir = dir.as_ref();
        // The root is the caller's choice, so it may be reached through a link.
        match fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {
                let mut entries = fs::read_dir(dir).map_err(|e| EvidenceError::io(dir, e))?;
                if entries.next().is_some() {
                    return Err(EvidenceError::DirectoryNotEmpty(dir.to_path_buf()));
                }
            }
            Ok(_) => return Err(EvidenceError::DirectoryNotEmpty(dir.to_path_buf())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).map_err(|e| EvidenceError::io(dir, e))?;
            }
            Err(e) => return Err(EvidenceError::io(dir, e)),
        }
        let marker = IncompleteMarker {
            format: MARKER_FORMAT.to_string(),
            created: now_rfc3339(),
        };
        let bytes = serde_json::to_vec_pretty(&marker).map_err(|source| EvidenceError::Serialize {
            what: "incomplete marker",
            source,
        })?;
        write_atomic(&dir.join(INCOMPLETE_MARKER), &bytes)?;
        tracing::debug!(dir = %dir.display(), "bundle started");
        Ok(BundleWriter {
            dir: dir.to_path_buf(),
            events: None,
            marker,
        })
    }

    /// Reopens a bundle whose run was interrupted, keeping the files already written. Leftover
    /// temporary files are removed and a torn last event line is cut, so the resumed run
    /// appends to a clean stream. A stale manifest from an interrupted `finish` is rewritten
    /// by the next `finish`.
    pub fn resume(dir: impl AsRef<Path>) -> Result<Self, EvidenceError> {
        let dir = dir.as_ref();
        let marker_path = dir.join(INCOMPLETE_MARKER);
        let marker_bytes = match read_bounded(&marker_path, MAX_MARKER_BYTES) {
            Ok(bytes) => bytes,
            Err(EvidenceError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(EvidenceError::NotResumable(dir.to_path_buf()));
            }
            Err(other) => return Err(other),
        };
        let marker = serde_json::from_slice::<IncompleteMarker>(&marker_bytes).unwrap_or_else(|e| {
            tracing::warn!(path = %marker_path.display(), error = %e,
                "unreadable incomplete marker; resuming anyway");
            IncompleteMarker {
                format: MARKER_FORMAT.to_string(),
                created: now_rfc3339(),
            }
        });
        for (rel, kind) in walk_bundle(dir)? {
            let name = rel.rsplit('/').next().unwrap_or(&rel);
            if kind == WalkedKind::File && is_temporary_name(name) {
                let path = dir.join(&rel);
                tracing::info!(path = %path.display(), "removing temporary file left by an interrupted write");
                fs::remove_file(&path).map_err(|e| EvidenceError::io(&path, e))?;
            }
        }
        cut_torn_event_line(&dir.join(EVENTS_FILE))?;
        Ok(BundleWriter {
            dir: dir.to_path_buf(),
            events: None,
            marker,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// When this bundle was first created (kept across `resume`).
    pub fn created(&self) -> &str {
        &self.marker.created
    }

    /// Writes `bytes` to a bundle-relative `/`-separated path, atomically. Intermediate
    /// directories are created; paths that are absolute, contain `..`, pass through a symbolic
    /// link, or name a file the writer owns (manifest, signature, marker, events) are refused.
    pub fn write_file(&mut self, rel_path: &str, bytes: &[u8]) -> Result<(), EvidenceError> {
        let components = validate_relative_path(rel_path)?;
        if components.len() == 1 && RESERVED_TOP_LEVEL.contains(&components[0]) {
            return Err(EvidenceError::UnsafePath {
                path: rel_path.to_string(),
                reason: "this file is written by the bundle writer itself".into(),
            });
        }
        self.write_components(rel_path, &components, bytes)
    }

    fn write_components(&self, rel_path: &str, components: &[&str], bytes: &[u8]) -> Result<(), EvidenceError> {
        let (file_name, parents) = match components.split_last() {
            Some(split) => split,
            None => {
                return Err(EvidenceError::UnsafePath {
                    path: rel_path.to_string(),
                    reason: "empty path".into(),
                });
            }
        };
        let parent = self.ensure_dirs(rel_path, parents)?;
        let target = parent.join(file_name);
        match fs::symlink_metadata(&target) {
            Ok(meta) if !meta.is_file() => {
                return Err(EvidenceError::UnsafePath {
                    path: rel_path.to_string(),
                    reason: "an entry that is not a regular file already exists there".into(),
                });
            }
            _ => {}
        }
        write_atomic(&target, bytes)
    }

    /// Creates each directory below the bundle root, refusing to pass through anything that
    /// is not a real directory (a planted link would otherwise redirect the write).
    fn ensure_dirs(&self, rel_path: &str, parents: &[&str]) -> Result<PathBuf, EvidenceError> {
        let mut current = self.dir.clone();
        for component in parents {
            current.push(component);
            match fs::symlink_metadata(&current) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(EvidenceError::UnsafePath {
                        path: rel_path.to_string(),
                        reason: format!("{component:?} exists and is not a directory (links are never followed)"),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    fs::create_dir(&current).map_err(|e| EvidenceError::io(&current, e))?;
                }
                Err(e) => return Err(EvidenceError::io(&current, e)),
            }
        }
        Ok(current)
    }

    /// Appends one event as one line and pushes it to disk before returning, so an
    /// interrupted run keeps every event it reported.
    pub fn append_event(&mut self, event: &Event) -> Result<(), EvidenceError> {
        let mut line =
            serde_json::to_vec(event).map_err(|source| EvidenceError::Serialize { what: "event", source })?;
        line.push(b'\n');
        let path = self.dir.join(EVENTS_FILE);
        if self.events.is_none() {
            if let Ok(meta) = fs::symlink_metadata(&path)
                && !meta.is_file()
            {
                return Err(EvidenceError::NotARegularFile { path });
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| EvidenceError::io(&path, e))?;
            self.events = Some(file);
        }
        if let Some(file) = self.events.as_mut() {
            // One write call per line keeps lines whole even if the process dies mid-run.
            file.write_all(&line)
                .and_then(|()| file.sync_data())
                .map_err(|e| EvidenceError::io(&path, e))?;
        }
        Ok(())
    }

    /// Writes `cases/<case_id>/exchanges.jsonl`, one JSON value per line, and returns its
    /// bundle-relative path (for `CaseResult::evidence`).
    pub fn write_exchanges(&mut self, case_id: &str, exchanges: &[serde_json::Value]) -> Result<String, EvidenceError> {
        let mut bytes = Vec::new();
        for exchange in exchanges {
            serde_json::to_writer(&mut bytes, exchange).map_err(|source| EvidenceError::Serialize {
                what: "exchange",
                source,
            })?;
            bytes.push(b'\n');
        }
        self.write_case_file(case_id, EXCHANGES_FILE, &bytes)
    }

    /// Writes a file under `cases/<case_id>/` (answers.json, attachments/…) and returns its
    /// bundle-relative path.
    pub fn write_case_file(&mut self, case_id: &str, rel_path: &str, bytes: &[u8]) -> Result<String, EvidenceError> {
        validate_case_id(case_id)?;
        validate_relative_path(rel_path)?;
        let full = crate::paths::case_file(case_id, rel_path);
        self.write_file(&full, bytes)?;
        Ok(full)
    }

    /// Writes a file under `definitions/` (the exact case, catalogue and profile files used)
    /// and returns its bundle-relative path.
    pub fn write_definition(&mut self, rel_path: &str, bytes: &[u8]) -> Result<String, EvidenceError> {
        validate_relative_path(rel_path)?;
        let full = format!("{DEFINITIONS_DIR}/{rel_path}");
        self.write_file(&full, bytes)?;
        Ok(full)
    }

    /// Writes results.json, junit.xml, results.sarif, oscal-assessment-results.json and
    /// report.html, then manifest.json over every other file, then manifest.sig if a key is
    /// given, and only then removes the marker.
    pub fn finish(mut self, results: &Results, opts: FinishOptions<'_>) -> Result<FinishedBundle, EvidenceError> {
        if let Some(file) = self.events.take() {
            let path = self.dir.join(EVENTS_FILE);
            file.sync_all().map_err(|e| EvidenceError::io(&path, e))?;
        }

        let mut results_bytes = serde_json::to_vec_pretty(results).map_err(|source| EvidenceError::Serialize {
            what: "results",
            source,
        })?;
        results_bytes.push(b'\n');
        write_atomic(&self.dir.join(RESULTS_FILE), &results_bytes)?;
        write_atomic(&self.dir.join(JUNIT_FILE), junit_xml(results)?.as_bytes())?;
        write_atomic(&self.dir.join(SARIF_FILE), sarif_json(results)?.as_bytes())?;
        write_atomic(&self.dir.join(OSCAL_FILE), oscal_json(results)?.as_bytes())?;

        let signer_fingerprint = opts.signing_key.map(|k| fingerprint(&k.verifying_key()));
        let mut report_ctx = opts.report;
        report_ctx.signed = opts.signing_key.is_some();
        report_ctx.signer_fingerprint = signer_fingerprint.clone();
        let html = render_report(results, &report_ctx)?;
        write_atomic(&self.dir.join(REPORT_FILE), html.as_bytes())?;

        // A signature from an earlier, interrupted finish would not match the new manifest.
        remove_if_present(&self.dir.join(SIGNATURE_FILE))?;

        let manifest = self.build_manifest(results, report_ctx.case_set_digest.clone())?;
        let mut manifest_bytes = serde_json::to_vec_pretty(&manifest).map_err(|source| EvidenceError::Serialize {
            what: "manifest",
            source,
        })?;
        manifest_bytes.push(b'\n');
        write_atomic(&self.dir.join(MANIFEST_FILE), &manifest_bytes)?;
        if let Some(key) = opts.signing_key {
            let signature = sign_manifest(key, &manifest_bytes);
            write_atomic(&self.dir.join(SIGNATURE_FILE), signature.as_bytes())?;
        }

        let marker = self.dir.join(INCOMPLETE_MARKER);
        fs::remove_file(&marker).map_err(|e| EvidenceError::io(&marker, e))?;
        sync_dir(&self.dir)?;
        tracing::info!(dir = %self.dir.display(), files = manifest.files.len(),
            signed = signer_fingerprint.is_some(), "bundle finished");
        Ok(FinishedBundle {
            dir: self.dir.clone(),
            manifest_sha256: sha256_hex(&manifest_bytes),
            manifest,
            signer_fingerprint,
        })
    }

    fn build_manifest(&self, results: &Results, case_set_digest: Option<String>) -> Result<Manifest, EvidenceError> {
        let mut files = Vec::new();
        // walk_bundle returns a BTreeMap, so files come out sorted by path.
        for (rel, kind) in walk_bundle(&self.dir)? {
            if matches!(rel.as_str(), MANIFEST_FILE | SIGNATURE_FILE | INCOMPLETE_MARKER) {
                continue;
            }
            if kind != WalkedKind::File {
                return Err(EvidenceError::NotARegularFile {
                    path: self.dir.join(&rel),
                });
            }
            let components = validate_relative_path(&rel)?;
            let (sha256, bytes) = hash_file(&join_components(&self.dir, &components))?;
            files.push(ManifestFile {
                path: rel,
                sha256,
                bytes,
            });
        }
        Ok(Manifest {
            schema_version: MANIFEST_SCHEMA_VERSION,
            tool: results.tool.clone(),
            case_set_digest,
            created: now_rfc3339(),
            files,
        })
    }
}

fn remove_if_present(path: &Path) -> Result<(), EvidenceError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(EvidenceError::io(path, e)),
    }
}

/// Drops bytes after the last newline: a line torn by a crash would otherwise glue itself to
/// the next event appended after a resume.
fn cut_torn_event_line(path: &Path) -> Result<(), EvidenceError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(EvidenceError::io(path, e)),
    };
    if !meta.is_file() {
        return Err(EvidenceError::NotARegularFile {
            path: path.to_path_buf(),
        });
    }
    let len = meta.len();
    if len == 0 {
        return Ok(());
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| EvidenceError::io(path, e))?;
    // Scan backwards in blocks; events are short, so this reads little.
    let mut end = len;
    let mut keep = 0u64;
    let mut block = vec![0u8; 8192];
    'scan: while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let size = (end - start) as usize;
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_exact(&mut block[..size]))
            .map_err(|e| EvidenceError::io(path, e))?;
        for i in (0..size).rev() {
            if block[i] == b'\n' {
                keep = start + i as u64 + 1;
                break 'scan;
            }
        }
        end = start;
    }
    if keep < len {
        tracing::warn!(path = %path.display(), dropped_bytes = len - keep,
            "cutting a torn final event line left by an interrupted run");
        file.set_len(keep)
            .and_then(|()| file.sync_all())
            .map_err(|e| EvidenceError::io(path, e))?;
    }
    Ok(())
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
