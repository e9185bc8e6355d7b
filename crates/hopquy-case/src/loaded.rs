//! What the loaders return: a checked file with the exact text it came from.

use std::path::PathBuf;

use crate::model::{Op, ProfileFile, Regulation};
use crate::typed::Case;

/// A validated case and the exact bytes it came from (copied into evidence bundles).
#[derive(Debug, Clone)]
pub struct LoadedCase {
    pub path: PathBuf,
    /// Path relative to the test-cases directory (`/`-separated); the file name when
    /// loaded on its own.
    pub relative_path: PathBuf,
    pub text: String,
    pub case: Case,
}

#[derive(Debug, Clone)]
pub struct LoadedRegulation {
    pub path: PathBuf,
    pub relative_path: PathBuf,
    pub text: String,
    pub regulation: Regulation,
}

/// A data dictionary: `name` is the file stem cases refer to (`dictionary:<name>`).
#[derive(Debug, Clone)]
pub struct LoadedDictionary<T> {
    pub name: String,
    pub path: PathBuf,
    pub relative_path: PathBuf,
    pub text: String,
    pub dictionary: T,
}

/// One file of a profile's inheritance chain, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSource {
    /// File stem.
    pub name: String,
    pub path: PathBuf,
    pub text: String,
}

/// A profile with its `inherits` chain merged.
#[derive(Debug, Clone)]
pub struct ResolvedProfile {
    /// Stem of the requested profile file.
    pub name: String,
    /// The merged result: child ports override parent ports by name, child ops replace
    /// parent ops of the same name wholesale, `rtsp` and `risky_ports` come from the
    /// nearest file that sets them.
    pub profile: ProfileFile,
    /// The files read, requested profile first, root ancestor last (for the bundle's
    /// definitions/).
    pub chain: Vec<ProfileSource>,
}

impl ResolvedProfile {
    pub fn op(&self, name: &str) -> Option<&Op> {
        self.profile.ops.get(name)
    }

    pub fn port(&self, name: &str) -> Option<u16> {
        self.profile.ports.get(name).copied()
    }
}
