//! The fingerprint table `profile = "auto"` identifies a device with
//! (`profiles/identify/fingerprints.toml`): per profile, the markers its devices show before any
//! login — HTTP `Server` header, login-page text, authentication realm, RTSP `Server`, ONVIF
//! manufacturer. Kept as data so a lab adds a vendor without a new build; checked like every
//! user file (unknown keys, unknown profiles and markers too short to mean anything are errors
//! at file:line:column).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{SourceFile, did_you_mean};
use crate::{Diagnostic, load::read_user_file_text};

/// The profile name a target or inventory row gives to have the profile identified.
pub const AUTO_PROFILE: &str = "auto";
/// Where the table lives, relative to the suite root (a directory of its own, so it is never
/// listed as a profile).
pub const FINGERPRINTS_FILE: &str = "profiles/identify/fingerprints.toml";
/// A marker shorter than this would match nearly any answer (a catch-all page, garbage).
pub const MIN_MARKER_CHARS: usize = 3;

/// Where a marker is looked for, in the order identification reads the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MarkerSource {
    HttpServer,
    HttpBody,
    Realm,
    RtspServer,
    OnvifManufacturer,
}

impl MarkerSource {
    pub const ALL: [MarkerSource; 5] = [
        MarkerSource::HttpServer,
        MarkerSource::HttpBody,
        MarkerSource::Realm,
        MarkerSource::RtspServer,
        MarkerSource::OnvifManufacturer,
    ];

    /// The key in the table, and the name evidence uses.
    pub fn as_str(self) -> &'static str {
        match self {
            MarkerSource::HttpServer => "http_server",
            MarkerSource::HttpBody => "http_body",
            MarkerSource::Realm => "realm",
            MarkerSource::RtspServer => "rtsp_server",
            MarkerSource::OnvifManufacturer => "onvif_manufacturer",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FingerprintFile {
    #[serde(default)]
    fingerprint: Vec<FingerprintEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FingerprintEntry {
    profile: toml::Spanned<String>,
    #[serde(default)]
    http_server: Vec<toml::Spanned<String>>,
    #[serde(default)]
    http_body: Vec<toml::Spanned<String>>,
    #[serde(default)]
    realm: Vec<toml::Spanned<String>>,
    #[serde(default)]
    rtsp_server: Vec<toml::Spanned<String>>,
    #[serde(default)]
    onvif_manufacturer: Vec<toml::Spanned<String>>,
}

/// One profile's markers, checked. Matching is a case-insensitive substring test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub profile: String,
    pub markers: Vec<(MarkerSource, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FingerprintTable {
    pub path: PathBuf,
    pub fingerprints: Vec<Fingerprint>,
}

impl FingerprintTable {
    /// The profiles whose markers for `source` occur in `observed`, with the marker that
    /// matched (the first of each profile).
    pub fn matches(&self, source: MarkerSource, observed: &str) -> Vec<(String, String)> {
        let observed = observed.to_lowercase();
        self.fingerprints
            .iter()
            .filter_map(|f| {
                f.markers
                    .iter()
                    .find(|(s, m)| *s == source && observed.contains(&m.to_lowercase()))
                    .map(|(_, m)| (f.profile.clone(), m.clone()))
            })
            .collect()
    }
}

/// Reads and checks the table; `profiles` are the profile names that exist.
pub fn load_fingerprints(path: &Path, profiles: &[String]) -> Result<FingerprintTable, Vec<Diagnostic>> {
    let text = read_user_file_text(path)?;
    parse_fingerprints(path, &text, profiles)
}

/// Checks table text (see [`load_fingerprints`]).
pub fn parse_fingerprints(path: &Path, text: &str, profiles: &[String]) -> Result<FingerprintTable, Vec<Diagnostic>> {
    let file = SourceFile::new(path, text);
    let parsed: FingerprintFile = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_owned();
        let message = if message.starts_with("unknown field") {
            format!(
                "{message}; a `[[fingerprint]]` has `profile` and the marker lists {}",
                MarkerSource::ALL.map(MarkerSource::as_str).join(", ")
            )
        } else {
            message
        };
        vec![file.error_at(e.span().unwrap_or(0..0), message)]
    })?;
    let mut diagnostics = Vec::new();
    let mut fingerprints: Vec<Fingerprint> = Vec::new();
    for entry in parsed.fingerprint {
        let name = entry.profile.get_ref().clone();
        if name == AUTO_PROFILE || !profiles.iter().any(|p| p == &name) {
            let hint = did_you_mean(&name, profiles.iter().map(String::as_str)).map(|s| format!("did you mean `{s}`?"));
            diagnostics.push(
                file.error_at(entry.profile.span(), format!("no profile `{name}`"))
                    .with_expected(format!("one of {}", profiles.join(", ")))
                    .with_optional_hint(hint),
            );
        }
        if let Some(first) = fingerprints.iter().find(|f| f.profile == name) {
            diagnostics.push(
                file.error_at(
                    entry.profile.span(),
                    format!("profile `{}` has two fingerprints", first.profile),
                )
                .with_hint("put every marker of a profile in one `[[fingerprint]]`"),
            );
        }
        let mut markers = Vec::new();
        for (source, list) in [
            (MarkerSource::HttpServer, &entry.http_server),
            (MarkerSource::HttpBody, &entry.http_body),
            (MarkerSource::Realm, &entry.realm),
            (MarkerSource::RtspServer, &entry.rtsp_server),
            (MarkerSource::OnvifManufacturer, &entry.onvif_manufacturer),
        ] {
            for marker in list {
                let text = marker.get_ref().trim();
                if text.chars().count() < MIN_MARKER_CHARS {
                    diagnostics.push(
                        file.error_at(
                            marker.span(),
                            format!(
                                "`{}` marker `{text}` is too short to identify anything",
                                source.as_str()
                            ),
                        )
                        .with_expected(format!("at least {MIN_MARKER_CHARS} characters")),
                    );
                    continue;
                }
                markers.push((source, text.to_owned()));
            }
        }
        if markers.is_empty() {
            diagnostics.push(file.error_at(
                entry.profile.span(),
                format!("the fingerprint of `{name}` has no marker"),
            ));
        }
        fingerprints.push(Fingerprint { profile: name, markers });
    }
    if diagnostics.is_empty() && fingerprints.is_empty() {
        diagnostics.push(Diagnostic::whole_file(path, "the table has no `[[fingerprint]]`"));
    }
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    Ok(FingerprintTable {
        path: path.to_path_buf(),
        fingerprints,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn profiles() -> Vec<String> {
        vec!["dahua".into(), "hikvision-isapi".into(), "onvif".into()]
    }

    fn errors(text: &str) -> String {
        parse_fingerprints(Path::new("f.toml"), text, &profiles())
            .unwrap_err()
            .iter()
            .map(|d| format!("{}: {}", d.location(), d.message))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_table_reads_and_matches_case_insensitively() {
        let t = parse_fingerprints(
            Path::new("f.toml"),
            "[[fingerprint]]\nprofile = \"dahua\"\nrtsp_server = [\"Dahua Rtsp Server\"]\n\n[[fingerprint]]\nprofile = \"hikvision-isapi\"\nhttp_server = [\"App-webs\"]\n",
            &profiles(),
        )
        .unwrap();
        assert_eq!(
            t.matches(MarkerSource::RtspServer, "dahua rtsp server"),
            [("dahua".to_owned(), "Dahua Rtsp Server".to_owned())]
        );
        assert!(t.matches(MarkerSource::HttpServer, "Dahua Rtsp Server").is_empty());
        assert_eq!(t.matches(MarkerSource::HttpServer, "App-webs/").len(), 1);
    }

    #[test]
    fn unknown_keys_profiles_and_short_markers_are_errors_at_their_place() {
        let e = errors("[[fingerprint]]\nprofile = \"dahua\"\nrtsp_servr = [\"Dahua\"]\n");
        assert!(e.contains("f.toml:3:1: unknown field `rtsp_servr`"), "{e}");
        let e = errors("[[fingerprint]]\nprofile = \"dahau\"\nrealm = [\"Login to\"]\n");
        assert!(e.contains("f.toml:2:11: no profile `dahau`"), "{e}");
        let e = errors("[[fingerprint]]\nprofile = \"dahua\"\nhttp_body = [\"ok\", \"\"]\n");
        assert!(e.contains("f.toml:3:14: `http_body` marker `ok` is too short"), "{e}");
        let e = errors("[[fingerprint]]\nprofile = \"onvif\"\n");
        assert!(e.contains("has no marker"), "{e}");
        let e = errors("[[fingerprint]]\nprofile = \"auto\"\nrealm = [\"xyz\"]\n");
        assert!(e.contains("no profile `auto`"), "{e}");
        let e = errors("[fingerprint]\n");
        assert!(e.contains("f.toml:1:"), "{e}");
    }
}
