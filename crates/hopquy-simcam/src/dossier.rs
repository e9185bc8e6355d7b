//! The dossier each personality's (fictitious) manufacturer would hand to a lab — IXIT
//! declaration, policies, manual excerpts — plus the answers file a lab operator gave for it.
//!
//! The files live as data in `dossier/<personality>/` and are compiled in, so `hopquy demo`
//! and `hopquy sim --dossier` work from an installed binary with no source tree.

use std::io;
use std::path::{Path, PathBuf};

use crate::config::Personality;

/// The answers file inside every dossier (`hopquy run --answers`).
pub const ANSWERS_FILE: &str = "answers.toml";

macro_rules! dossier_files {
    ($dir:literal) => {
        &[
            ("README.md", include_str!(concat!("../dossier/", $dir, "/README.md"))),
            (
                ANSWERS_FILE,
                include_str!(concat!("../dossier/", $dir, "/answers.toml")),
            ),
            (
                "security-declaration.md",
                include_str!(concat!("../dossier/", $dir, "/security-declaration.md")),
            ),
            (
                "vulnerability-disclosure-policy.md",
                include_str!(concat!("../dossier/", $dir, "/vulnerability-disclosure-policy.md")),
            ),
            (
                "support-period.md",
                include_str!(concat!("../dossier/", $dir, "/support-period.md")),
            ),
            (
                "user-manual-excerpt.md",
                include_str!(concat!("../dossier/", $dir, "/user-manual-excerpt.md")),
            ),
            (
                "privacy-notice.md",
                include_str!(concat!("../dossier/", $dir, "/privacy-notice.md")),
            ),
            (
                "lab-bench-notes.md",
                include_str!(concat!("../dossier/", $dir, "/lab-bench-notes.md")),
            ),
        ]
    };
}

const HARDENED: &[(&str, &str)] = dossier_files!("hardened");
const LEGACY: &[(&str, &str)] = dossier_files!("legacy");
const DAHUA_LIKE: &[(&str, &str)] = dossier_files!("dahua-like");

/// Every file of a personality's dossier: (file name, text).
pub fn files(personality: Personality) -> &'static [(&'static str, &'static str)] {
    match personality {
        Personality::Hardened => HARDENED,
        Personality::Legacy => LEGACY,
        Personality::DahuaLike => DAHUA_LIKE,
    }
}

/// Writes the dossier into `dir` (created if missing) and returns the answers file's path.
/// Existing files of the same names are overwritten; nothing else in `dir` is touched.
pub fn write(personality: Personality, dir: &Path) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in files(personality) {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(dir.join(ANSWERS_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attachment_an_answers_file_names_is_in_its_dossier() {
        for &personality in Personality::ALL {
            let files = files(personality);
            let answers = files
                .iter()
                .find(|(name, _)| *name == ANSWERS_FILE)
                .map(|(_, text)| *text)
                .unwrap();
            let parsed: toml::Value = toml::from_str(answers).unwrap();
            let entries = parsed["answer"].as_array().unwrap();
            assert!(entries.len() > 100, "{personality}: {} answers", entries.len());
            for entry in entries {
                for attachment in entry
                    .get("attachments")
                    .and_then(|a| a.as_array())
                    .into_iter()
                    .flatten()
                {
                    let name = attachment.as_str().unwrap();
                    assert!(
                        files.iter().any(|(file, _)| *file == name),
                        "{personality}: {name} is attached but not in the dossier"
                    );
                }
            }
        }
    }

    #[test]
    fn every_document_says_it_belongs_to_the_simulated_camera() {
        for &personality in Personality::ALL {
            for (name, text) in files(personality) {
                if name.ends_with(".md") {
                    assert!(
                        text.contains("SIMULATED PRODUCT") || text.contains("simulated camera"),
                        "{personality}/{name}"
                    );
                }
            }
        }
    }

    #[test]
    fn write_puts_every_file_in_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let answers = write(Personality::Legacy, dir.path()).unwrap();
        assert_eq!(answers, dir.path().join(ANSWERS_FILE));
        for (name, text) in files(Personality::Legacy) {
            assert_eq!(std::fs::read_to_string(dir.path().join(name)).unwrap(), *text);
        }
    }
}
