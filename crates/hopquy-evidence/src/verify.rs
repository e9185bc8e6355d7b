//! Checking a bundle against its manifest (and, given a trusted key, its signature). Lists
//! every problem found rather than stopping at the first, so a regulator sees the whole
//! picture in one run.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::fsutil::{hash_file, join_components, read_bounded, sanitize_text, validate_relative_path};
use crate::manifest::{
    INCOMPLETE_MARKER, MANIFEST_FILE, MAX_MANIFEST_BYTES, Manifest, RESULTS_FILE, SIGNATURE_FILE, WalkedKind,
    read_results, walk_bundle,
};
use crate::sign::{MAX_SIGNATURE_FILE_BYTES, VerifyingKey, parse_signature_file, verify_manifest_signature};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The run or its `finish` step did not complete (marker present or manifest missing).
    Incomplete {
        reason: String,
    },
    Modified {
        path: String,
        expected: String,
        actual: String,
    },
    Missing {
        path: String,
    },
    /// A file the manifest does not list.
    Extra {
        path: String,
    },
    /// Links are never followed, so whatever a link points to is not evidence.
    Symlink {
        path: String,
    },
    /// A device node, FIFO or socket: never opened (a FIFO would block the reader).
    NotAFile {
        path: String,
    },
    Unreadable {
        path: String,
        reason: String,
    },
    BadManifest(String),
    SignatureInvalid(String),
    /// A key was given but the bundle has no manifest.sig.
    SignatureMissing,
    /// Informational: no key given and no signature present.
    Unsigned,
    /// Informational: manifest.sig names a key, but no key was given to check it against.
    SignatureNotChecked {
        fingerprint: String,
    },
    /// Informational: results.json says not every planned case finished.
    RunInterrupted,
}

impl Problem {
    /// Notes that do not make a bundle invalid.
    pub fn is_informational(&self) -> bool {
        matches!(
            self,
            Problem::Unsigned | Problem::SignatureNotChecked { .. } | Problem::RunInterrupted
        )
    }

    /// The bundle-relative path the problem concerns, when there is one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Problem::Modified { path, .. }
            | Problem::Missing { path }
            | Problem::Extra { path }
            | Problem::Symlink { path }
            | Problem::NotAFile { path }
            | Problem::Unreadable { path, .. } => Some(path),
            Problem::BadManifest(_) => Some(MANIFEST_FILE),
            Problem::SignatureInvalid(_) | Problem::SignatureMissing | Problem::SignatureNotChecked { .. } => {
                Some(SIGNATURE_FILE)
            }
            Problem::RunInterrupted => Some(RESULTS_FILE),
            Problem::Incomplete { .. } | Problem::Unsigned => None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Paths come from the file system and may hold control characters.
        let p = |path: &str| sanitize_text(path);
        match self {
            Problem::Incomplete { reason } => write!(f, "incomplete: {reason}"),
            Problem::Modified { path, expected, actual } => write!(
                f,
                "modified: {} (manifest sha256 {expected}, file sha256 {actual})",
                p(path)
            ),
            Problem::Missing { path } => write!(f, "missing: {} (listed in manifest)", p(path)),
            Problem::Extra { path } => write!(f, "extra: {} (not in manifest)", p(path)),
            Problem::Symlink { path } => {
                write!(f, "symlink: {} (links are not allowed in a bundle)", p(path))
            }
            Problem::NotAFile { path } => write!(f, "not a regular file: {}", p(path)),
            Problem::Unreadable { path, reason } => {
                write!(f, "unreadable: {}: {}", p(path), p(reason))
            }
            Problem::BadManifest(reason) => {
                write!(f, "bad manifest: {MANIFEST_FILE}: {}", p(reason))
            }
            Problem::SignatureInvalid(reason) => {
                write!(f, "signature invalid: {SIGNATURE_FILE}: {}", p(reason))
            }
            Problem::SignatureMissing => write!(
                f,
                "signature missing: {SIGNATURE_FILE} (a key was given, so a signature is required)"
            ),
            Problem::Unsigned => write!(f, "note: unsigned bundle (no {SIGNATURE_FILE})"),
            Problem::SignatureNotChecked { fingerprint } => write!(
                f,
                "note: {SIGNATURE_FILE} names key {}; not checked and not trusted until verified with --key",
                p(fingerprint)
            ),
            Problem::RunInterrupted => write!(
                f,
                "note: {RESULTS_FILE}: the run was interrupted before every planned case finished"
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub dir: PathBuf,
    pub problems: Vec<Problem>,
    pub manifest: Option<Manifest>,
    /// Fingerprint named in manifest.sig, if present and parseable.
    pub signer_fingerprint: Option<String>,
    /// True only when a key was given and the signature checked out against it.
    pub signature_trusted: bool,
    /// Manifest entries whose hash was compared.
    pub files_checked: usize,
}

impl VerifyReport {
    /// Complete, every listed file present and unmodified, nothing extra, no links, and the
    /// signature valid when a key was given.
    pub fn is_valid(&self) -> bool {
        self.problems.iter().all(Problem::is_informational)
    }

    pub fn is_incomplete(&self) -> bool {
        self.problems.iter().any(|p| matches!(p, Problem::Incomplete { .. }))
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self.problems.iter().filter(|p| !p.is_informational()).count();
        let status = if errors == 0 {
            if self.signature_trusted {
                "VALID, signature trusted"
            } else {
                "VALID"
            }
        } else if self.is_incomplete() {
            "INCOMPLETE"
        } else {
            "INVALID"
        };
        writeln!(
            f,
            "{}: {status} ({} files checked, {errors} problem{})",
            sanitize_text(&self.dir.display().to_string()),
            self.files_checked,
            if errors == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            writeln!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Verifies the bundle in `dir`. With `public_key`, a missing or invalid signature makes the
/// bundle invalid; without it, a signature is reported but not trusted.
pub fn verify(dir: &Path, public_key: Option<&VerifyingKey>) -> VerifyReport {
    let mut report = VerifyReport {
        dir: dir.to_path_buf(),
        problems: Vec::new(),
        manifest: None,
        signer_fingerprint: None,
        signature_trusted: false,
        files_checked: 0,
    };
    let problems = &mut report.problems;

    let walked = match walk_bundle(dir) {
        Ok(walked) => walked,
        Err(e) => {
            problems.push(Problem::Unreadable {
                path: ".".into(),
                reason: e.to_string(),
            });
            return report;
        }
    };

    if walked.contains_key(INCOMPLETE_MARKER) {
        problems.push(Problem::Incomplete {
            reason: format!("{INCOMPLETE_MARKER} is present: the run or its finish step did not complete"),
        });
    }
    let manifest_bytes = match walked.get(MANIFEST_FILE) {
        None => {
            problems.push(Problem::Incomplete {
                reason: format!("{MANIFEST_FILE} is missing"),
            });
            return report;
        }
        Some(WalkedKind::Symlink) => {
            problems.push(Problem::Symlink {
                path: MANIFEST_FILE.into(),
            });
            return report;
        }
        Some(WalkedKind::Other) => {
            problems.push(Problem::NotAFile {
                path: MANIFEST_FILE.into(),
            });
            return report;
        }
        Some(WalkedKind::File) => match read_bounded(&dir.join(MANIFEST_FILE), MAX_MANIFEST_BYTES) {
            Ok(bytes) => bytes,
            Err(e) => {
                problems.push(Problem::BadManifest(e.to_string()));
                return report;
            }
        },
    };
    let manifest = match serde_json::from_slice::<Manifest>(&manifest_bytes) {
        Ok(manifest) => manifest,
        Err(e) => {
            problems.push(Problem::BadManifest(format!("not a valid manifest: {e}")));
            return report;
        }
    };
    if let Err(reason) = manifest.validate() {
        // An unsafe entry could make us read outside the bundle; stop before touching files.
        problems.push(Problem::BadManifest(reason));
        report.manifest = Some(manifest);
        return report;
    }

    let mut listed = BTreeSet::new();
    for entry in &manifest.files {
        listed.insert(entry.path.as_str());
        match walked.get(entry.path.as_str()) {
            None => problems.push(Problem::Missing {
                path: entry.path.clone(),
            }),
            // Reported once, in the walk pass below.
            Some(WalkedKind::Symlink) | Some(WalkedKind::Other) => {}
            Some(WalkedKind::File) => {
                let components = match validate_relative_path(&entry.path) {
                    Ok(components) => components,
                    Err(e) => {
                        problems.push(Problem::BadManifest(e.to_string()));
                        continue;
                    }
                };
                match hash_file(&join_components(dir, &components)) {
                    Ok((actual, bytes)) => {
                        report.files_checked += 1;
                        if actual != entry.sha256 || bytes != entry.bytes {
                            problems.push(Problem::Modified {
                                path: entry.path.clone(),
                                expected: entry.sha256.clone(),
                                actual,
                            });
                        }
                    }
                    Err(e) => problems.push(Problem::Unreadable {
                        path: entry.path.clone(),
                        reason: e.to_string(),
                    }),
                }
            }
        }
    }
    for (path, kind) in &walked {
        match kind {
            WalkedKind::Symlink => problems.push(Problem::Symlink { path: path.clone() }),
            WalkedKind::Other => problems.push(Problem::NotAFile { path: path.clone() }),
            WalkedKind::File => {
                let control = matches!(path.as_str(), MANIFEST_FILE | SIGNATURE_FILE | INCOMPLETE_MARKER);
                if !control && !listed.contains(path.as_str()) {
                    problems.push(Problem::Extra { path: path.clone() });
                }
            }
        }
    }

    check_signature(dir, &walked, &manifest_bytes, public_key, &mut report);

    let results_intact = !report.problems.iter().any(|p| p.path() == Some(RESULTS_FILE));
    if results_intact
        && listed.contains(RESULTS_FILE)
        && let Ok(results) = read_results(dir)
        && !results.complete
    {
        report.problems.push(Problem::RunInterrupted);
    }
    report.manifest = Some(manifest);
    report
}

fn check_signature(
    dir: &Path,
    walked: &std::collections::BTreeMap<String, WalkedKind>,
    manifest_bytes: &[u8],
    public_key: Option<&VerifyingKey>,
    report: &mut VerifyReport,
) {
    let sig_text = match walked.get(SIGNATURE_FILE) {
        None => {
            report.problems.push(if public_key.is_some() {
                Problem::SignatureMissing
            } else {
                Problem::Unsigned
            });
            return;
        }
        // Already reported as a link or special file.
        Some(WalkedKind::Symlink) | Some(WalkedKind::Other) => return,
        Some(WalkedKind::File) => {
            match read_bounded(&dir.join(SIGNATURE_FILE), MAX_SIGNATURE_FILE_BYTES)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            {
                Ok(text) => text,
                Err(e) => {
                    report.problems.push(Problem::SignatureInvalid(e.to_string()));
                    return;
                }
            }
        }
    };
    let sig = match parse_signature_file(&sig_text) {
        Ok(sig) => sig,
        Err(reason) => {
            report
                .problems
                .push(Problem::SignatureInvalid(format!("malformed: {reason}")));
            return;
        }
    };
    report.signer_fingerprint = Some(sig.key_fingerprint.clone());
    match public_key {
        Some(key) => match verify_manifest_signature(key, manifest_bytes, &sig) {
            Ok(()) => report.signature_trusted = true,
            Err(reason) => report.problems.push(Problem::SignatureInvalid(reason)),
        },
        None => report.problems.push(Problem::SignatureNotChecked {
            fingerprint: sig.key_fingerprint,
        }),
    }
}
