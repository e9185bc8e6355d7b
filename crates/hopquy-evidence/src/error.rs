use std::path::PathBuf;

/// Everything that can go wrong while writing or reading a bundle. Messages name the file
/// involved so a lab can act on them without a debugger.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("refusing bundle path {path:?}: {reason}")]
    UnsafePath { path: String, reason: String },
    #[error("invalid case id {id:?}: {reason}")]
    InvalidCaseId { id: String, reason: String },
    #[error("{0}: directory is not empty and is not an incomplete bundle; choose an empty or new directory")]
    DirectoryNotEmpty(PathBuf),
    #[error("{0}: not an incomplete bundle (no .hopquy-incomplete marker); only an interrupted bundle can be resumed")]
    NotResumable(PathBuf),
    #[error("{path}: file is larger than the {limit}-byte limit")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path}: is a symbolic link or not a regular file; bundles never follow links")]
    NotARegularFile { path: PathBuf },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}:{line}: invalid event: {source}")]
    EventLine {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("operating system random number generator failed: {0}")]
    Randomness(String),
    #[error("report template: {0}")]
    Template(String),
    #[error("junit.xml: {0}")]
    Junit(String),
    #[error("serialising {what}: {source}")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl EvidenceError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EvidenceError::Io {
            path: path.into(),
            source,
        }
    }
}
