use std::path::PathBuf;

/// Why a scan could not start. Problems *inside* the image are never errors: they are
/// containers with a status, findings or limits in the report.
#[derive(Debug, thiserror::Error)]
pub enum FirmwareError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a regular file")]
    NotAFile { path: PathBuf },
    #[error("{path}: {size} bytes is more than the {limit}-byte image limit")]
    TooLarge { path: PathBuf, size: u64, limit: u64 },
}
