//! Evidence bundle formats. Depends on no other hopquy crate so outside tools can read
//! bundles with it alone.
//!
//! Writing: [`BundleWriter`] (results.json, junit.xml, report.html, results.sarif,
//! oscal-assessment-results.json, manifest). Checking: [`verify()`]. Reading: [`read_results`],
//! [`read_events`], [`read_manifest`]. Comparing: [`diff()`], [`diff_bundles`]. Keys and
//! signatures: [`sign`].
pub mod bundle;
pub mod diff;
mod error;
mod fsutil;
pub mod junit;
pub mod manifest;
pub mod model;
pub mod oscal;
pub mod paths;
pub mod report;
pub mod sarif;
pub mod sign;
pub mod verify;

pub use bundle::{BundleWriter, FinishOptions, FinishedBundle, validate_case_id};
pub use diff::{BundleDiff, EvidenceChange, VerdictChange, diff, diff_bundles, diff_with_manifests};
pub use error::EvidenceError;
pub use fsutil::sanitize_text;
pub use junit::{junit_report, junit_xml};
pub use manifest::{Manifest, ManifestFile, read_events, read_manifest, read_results};
pub use model::*;
pub use oscal::{oscal_assessment_results, oscal_json};
pub use report::{ReportContext, render_report};
pub use sarif::{sarif_json, sarif_log};
pub use sign::{
    SigningKey, VerifyingKey, fingerprint, generate_keypair, load_signing_key, load_verifying_key, write_signing_key,
    write_verifying_key,
};
pub use verify::{Problem, VerifyReport, verify};
