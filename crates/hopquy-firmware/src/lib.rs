//! Firmware image analysis for `hopquy firmware scan`: the image a manufacturer submits with
//! its dossier becomes a report of what is inside it (containers, findings, components,
//! update integrity) that anyone can re-check from the same image.
//!
//! Entry point: [`scan`] (a file) or [`scan_bytes`] (an image already in memory). The CycloneDX
//! SBOM of the inventory: [`sbom::cyclonedx`].
//!
//! **Invariants:**
//! - Nothing is extracted to disk, save by the external unpackers of cramfs, jffs2 and UBI
//!   (`external.rs`: a private temporary directory, time and size limits, walked without
//!   following links). Archives and file systems are otherwise walked in memory and their
//!   entries' bytes analysed there, so a `..` name or a symbolic link cannot make the scan
//!   write or read outside anything: such entries are findings, never paths we open.
//! - Image bytes are hostile. Every decompression and entry read is bounded by the
//!   [`ScanOptions`] limits (total bytes, per-file bytes, nesting depth, entry count,
//!   compression ratio); reaching one is a [`LimitHit`] in the report, never an error, an
//!   unbounded allocation or a panic. Corrupt and truncated containers are recorded with
//!   their status and the scan goes on.
//! - Secrets never leave the crate in clear: private keys, password hashes and passwords
//!   appear in findings only as `<redacted …>` excerpts and SHA-256 fingerprints. The
//!   dictionary passwords given in [`ScanOptions`] are never echoed either.
//! - Deterministic: lists are sorted (path, offset, kind) and the report holds no time, so a
//!   re-run on the same image with the same options is byte-identical.
//! - No printing, no network; logs through `tracing` only, without secrets. The only
//!   processes started are the external unpackers.

mod accounts;
mod analyze;
mod der;
mod error;
mod external;
mod formats;
mod keys;
pub mod model;
pub mod osv;
pub mod sbom;
mod squashfs_codec;
mod squashfs_tree;
mod walk;

use std::fs::File;
use std::io::Read;
use std::path::Path;

pub use error::FirmwareError;
pub use external::ToolOptions;
pub use model::*;

/// A publicly known credential pair (`test-cases/data/*.toml`), tried offline against the
/// password hashes found in the image.
#[derive(Clone)]
pub struct KnownCredential {
    /// Dictionary file stem, for the finding (`default-credentials`).
    pub dictionary: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for KnownCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownCredential")
            .field("dictionary", &self.dictionary)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Bounds and inputs of a scan. The defaults fit a camera image (16–64 MiB) with a wide
/// margin; tests shrink them to show each bound.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Largest image file accepted at all.
    pub max_image_bytes: u64,
    /// Bytes produced by all decompressions and entry reads together.
    pub max_total_bytes: u64,
    /// Bytes of one decompressed stream or one archive entry.
    pub max_file_bytes: u64,
    /// Containers inside containers (the image itself is depth 0).
    pub max_depth: u32,
    /// Archive and file-system entries, all containers together.
    pub max_entries: u64,
    /// Output/input ratio beyond which a decompression is stopped as a bomb, once it has
    /// produced `ratio_floor_bytes` (a small, well-compressed stream is no bomb).
    pub max_ratio: u64,
    pub ratio_floor_bytes: u64,
    /// Pairs whose hashes count as hard-coded default credentials.
    pub credentials: Vec<KnownCredential>,
    /// The external unpackers of cramfs, jffs2 and UBI (docs/firmware.md).
    pub tools: ToolOptions,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            max_image_bytes: 1 << 30,
            max_total_bytes: 2 << 30,
            max_file_bytes: 512 << 20,
            max_depth: 8,
            max_entries: 500_000,
            max_ratio: 250,
            ratio_floor_bytes: 16 << 20,
            credentials: Vec::new(),
            tools: ToolOptions::default(),
        }
    }
}

impl ScanOptions {
    fn limits(&self) -> Limits {
        Limits {
            max_image_bytes: self.max_image_bytes,
            max_total_bytes: self.max_total_bytes,
            max_file_bytes: self.max_file_bytes,
            max_depth: self.max_depth,
            max_entries: self.max_entries,
            max_ratio: self.max_ratio,
        }
    }
}

/// Scans the image file at `path`. Errors only when the file cannot be read or is not a
/// regular file, or is larger than `max_image_bytes`; everything about its content is in the
/// report.
pub fn scan(path: &Path, options: &ScanOptions) -> Result<FirmwareReport, FirmwareError> {
    let io = |source| FirmwareError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(FirmwareError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    if meta.len() > options.max_image_bytes {
        return Err(FirmwareError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
            limit: options.max_image_bytes,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The file may grow between stat and read; take() keeps the bound honest.
    File::open(path)
        .map_err(io)?
        .take(options.max_image_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > options.max_image_bytes {
        return Err(FirmwareError::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            limit: options.max_image_bytes,
        });
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(scan_bytes(&name, &bytes, options))
}

/// Scans an image already in memory; `name` is recorded as the image's name.
pub fn scan_bytes(name: &str, image: &[u8], options: &ScanOptions) -> FirmwareReport {
    walk::run(name, image, options)
}

/// Shannon entropy in bits per byte, rounded to three decimals so reports compare exactly.
pub(crate) fn entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u64; 256];
    for &b in bytes {
        counts[usize::from(b)] += 1;
    }
    let n = bytes.len() as f64;
    let h: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum();
    (h * 1000.0).round() / 1000.0
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_separates_text_from_random_looking_data() {
        assert_eq!(entropy(&[0u8; 4096]), 0.0);
        let all: Vec<u8> = (0..=255u8).cycle().take(256 * 16).collect();
        assert_eq!(entropy(&all), 8.0);
        let text = entropy(b"the quick brown fox jumps over the lazy dog");
        assert!(text > 3.0 && text < 5.0, "{text}");
    }

    #[test]
    fn a_credential_never_shows_its_password_in_debug() {
        let c = KnownCredential {
            dictionary: "d".into(),
            username: "admin".into(),
            password: "12345".into(),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("12345"), "{shown}");
        assert!(shown.contains("admin"));
    }
}
