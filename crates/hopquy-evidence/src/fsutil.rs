//! Shared file-system helpers: bundle-relative path rules, atomic writes, bounded reads,
//! hashing, and the text sanitiser used by every human-facing output.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::error::EvidenceError;

/// Longest single path component most file systems accept.
const MAX_COMPONENT_BYTES: usize = 255;
/// Keeps bundles copyable to systems with short path limits (and to zip archives).
const MAX_RELATIVE_PATH_BYTES: usize = 1024;

/// Checks a bundle-relative path (always `/`-separated, whatever the platform) and returns
/// its components. Rejects anything that could name a file outside the bundle or that would
/// not survive a copy to another operating system.
pub(crate) fn validate_relative_path(rel: &str) -> Result<Vec<&str>, EvidenceError> {
    let refuse = |reason: &str| EvidenceError::UnsafePath {
        path: rel.to_string(),
        reason: reason.to_string(),
    };
    if rel.is_empty() {
        return Err(refuse("empty path"));
    }
    if rel.len() > MAX_RELATIVE_PATH_BYTES {
        return Err(refuse("path too long"));
    }
    if rel.starts_with('/') {
        return Err(refuse("absolute paths are not allowed"));
    }
    if rel.contains('\\') {
        return Err(refuse("backslashes are not allowed; use '/'"));
    }
    let components: Vec<&str> = rel.split('/').collect();
    for component in &components {
        check_component(component).map_err(|reason| refuse(&reason))?;
    }
    Ok(components)
}

fn check_component(component: &str) -> Result<(), String> {
    match component {
        "" => return Err("empty path component (leading, trailing or doubled '/')".into()),
        "." | ".." => return Err("'.' and '..' components are not allowed".into()),
        _ => {}
    }
    if component.len() > MAX_COMPONENT_BYTES {
        return Err("path component longer than 255 bytes".into());
    }
    // ':' would be a drive or alternate data stream on Windows, where regulators may unpack.
    if component.contains(':') {
        return Err("':' is not allowed".into());
    }
    if component.chars().any(char::is_control) {
        return Err("control characters are not allowed".into());
    }
    if is_temporary_name(component) {
        return Err("name collides with the writer's temporary-file pattern".into());
    }
    Ok(())
}

const TMP_INFIX: &str = ".tmp-";
const TMP_SUFFIX_HEX_DIGITS: usize = 16;

/// True for names produced by [`write_atomic`] before the rename: `NAME.tmp-<16 hex>`.
pub(crate) fn is_temporary_name(name: &str) -> bool {
    match name.rfind(TMP_INFIX) {
        Some(at) => {
            let suffix = &name[at + TMP_INFIX.len()..];
            suffix.len() == TMP_SUFFIX_HEX_DIGITS && suffix.bytes().all(|b| b.is_ascii_hexdigit())
        }
        None => false,
    }
}

fn random_suffix() -> u64 {
    use rand::TryRng;
    let mut bytes = [0u8; 8];
    if rand::rngs::SysRng.try_fill_bytes(&mut bytes).is_ok() {
        return u64::from_le_bytes(bytes);
    }
    // Uniqueness, not secrecy, is what matters here, and create_new catches collisions.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32) ^ COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Writes `bytes` to `target` so that a reader (or a crash) sees either the old file or the
/// complete new one: temporary file in the same directory, fsync, rename, fsync directory.
pub(crate) fn write_atomic(target: &Path, bytes: &[u8]) -> Result<(), EvidenceError> {
    let parent = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut attempts = 0;
    let (tmp_path, mut file) = loop {
        let candidate = parent.join(format!("{name}{TMP_INFIX}{:016x}", random_suffix()));
        match OpenOptions::new().write(true).create_new(true).open(&candidate) {
            Ok(file) => break (candidate, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 8 => {
                attempts += 1;
            }
            Err(e) => return Err(EvidenceError::io(candidate, e)),
        }
    };
    let result = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| EvidenceError::io(&tmp_path, e))
        .and_then(|()| {
            drop(file);
            fs::rename(&tmp_path, target).map_err(|e| EvidenceError::io(target, e))
        });
    if result.is_err() {
        let _ = fs::remove_file(&tmp_path);
    }
    result?;
    sync_dir(parent)
}

/// Makes a rename or unlink durable. Directories cannot be opened for fsync on every
/// platform; where they cannot, the rename is as durable as the OS makes it.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), EvidenceError> {
    #[cfg(unix)]
    {
        let handle = File::open(dir).map_err(|e| EvidenceError::io(dir, e))?;
        handle.sync_all().map_err(|e| EvidenceError::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Reads a regular file of at most `limit` bytes. Links are refused rather than followed,
/// so a planted link cannot make a reader disclose or hash a file outside the bundle.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, EvidenceError> {
    read_bounded_inner(path, limit, false)
}

/// Like [`read_bounded`] but follows links: for files the user names directly (keys,
/// templates), where a link is their choice rather than something planted in a bundle.
pub(crate) fn read_bounded_following(path: &Path, limit: u64) -> Result<Vec<u8>, EvidenceError> {
    read_bounded_inner(path, limit, true)
}

fn read_bounded_inner(path: &Path, limit: u64, follow: bool) -> Result<Vec<u8>, EvidenceError> {
    let meta = if follow {
        fs::metadata(path)
    } else {
        fs::symlink_metadata(path)
    }
    .map_err(|e| EvidenceError::io(path, e))?;
    if !meta.file_type().is_file() {
        return Err(EvidenceError::NotARegularFile {
            path: path.to_path_buf(),
        });
    }
    if meta.len() > limit {
        return Err(EvidenceError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    let file = File::open(path).map_err(|e| EvidenceError::io(path, e))?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The file may grow between stat and read; the take() keeps the bound honest.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| EvidenceError::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(EvidenceError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

/// Streams a file through SHA-256; returns (hex digest, byte count).
pub(crate) fn hash_file(path: &Path) -> Result<(String, u64), EvidenceError> {
    let mut file = File::open(path).map_err(|e| EvidenceError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| EvidenceError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Joins validated components onto `root`.
pub(crate) fn join_components(root: &Path, components: &[&str]) -> PathBuf {
    let mut path = root.to_path_buf();
    for component in components {
        path.push(component);
    }
    path
}

/// Makes device text safe to show in XML and HTML and impossible to misread: characters XML
/// 1.0 forbids (NUL, ESC …), C1 controls, and bidirectional overrides (which can make a
/// banner display as something it is not) become visible `\u{…}` escapes. Tab and newline
/// stay; carriage returns are escaped because XML parsers silently rewrite them.
pub fn sanitize_text(input: &str) -> String {
    let needs_escape = |c: char| {
        matches!(c,
            '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\r' | '\u{e}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            | '\u{fffe}' | '\u{ffff}')
    };
    if !input.chars().any(needs_escape) {
        return input.to_string();
    }
    let mut out = String::with_capacity(input.len() + 16);
    for c in input.chars() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_that_escape_or_confuse_are_rejected() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/./b",
            "a/",
            "a\\b",
            "c:evil",
            "a/\u{1b}b",
            "results.json.tmp-0123456789abcdef",
        ] {
            assert!(validate_relative_path(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            validate_relative_path("cases/x/answers.json").unwrap(),
            vec!["cases", "x", "answers.json"]
        );
    }

    #[test]
    fn sanitize_makes_forbidden_characters_visible() {
        assert_eq!(sanitize_text("a\u{1b}[31mb\u{0}"), "a\\u{1b}[31mb\\u{0}");
        assert_eq!(sanitize_text("evil\u{202e}txt"), "evil\\u{202e}txt");
        assert_eq!(sanitize_text("Kết quả\tok\n"), "Kết quả\tok\n");
    }

    #[test]
    fn temporary_names_are_recognised_exactly() {
        assert!(is_temporary_name("x.json.tmp-00000000deadbeef"));
        assert!(!is_temporary_name("x.json.tmp-deadbeef"));
        assert!(!is_temporary_name("x.json"));
    }
}
