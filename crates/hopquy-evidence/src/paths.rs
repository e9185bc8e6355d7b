//! Where everything lives in a bundle: the one place bundle-relative names are spelled, so
//! the writer, the runner's evidence lists, the CLI and outside readers cannot drift apart.
//! Paths are `/`-separated and relative to the bundle root; renaming one breaks every bundle
//! already written.

pub const MANIFEST_FILE: &str = "manifest.json";
pub const SIGNATURE_FILE: &str = "manifest.sig";
pub const RESULTS_FILE: &str = "results.json";
pub const JUNIT_FILE: &str = "junit.xml";
pub const REPORT_FILE: &str = "report.html";
pub const SARIF_FILE: &str = "results.sarif";
pub const OSCAL_FILE: &str = "oscal-assessment-results.json";
pub const EVENTS_FILE: &str = "events.jsonl";
/// The target file as used, password removed.
pub const TARGET_FILE: &str = "target.toml";
/// The exact case, catalogue and profile files the run used.
pub const DEFINITIONS_DIR: &str = "definitions";
/// One directory per case, named by its id.
pub const CASES_DIR: &str = "cases";
/// Per case: what the probes recorded, one JSON exchange per line.
pub const EXCHANGES_FILE: &str = "exchanges.jsonl";
/// Per case: the case's own result, so an interrupted run resumes without redoing it.
pub const CASE_RESULT_FILE: &str = "result.json";
/// Per case: the operator's and the documents' answers, by step.
pub const ANSWERS_FILE: &str = "answers.json";
/// Per case: files handed in with answers.
pub const ATTACHMENTS_DIR: &str = "attachments";
/// The firmware image's scan (`hopquy run --firmware`): the report and its CycloneDX SBOM,
/// as `hopquy firmware scan --out` writes them. The image itself is not copied (its SHA-256
/// and size are in the report and in results.json).
pub const FIRMWARE_DIR: &str = "firmware";
pub const FIRMWARE_REPORT_FILE: &str = "firmware/report.json";
pub const FIRMWARE_SBOM_FILE: &str = "firmware/sbom.cdx.json";
/// How `profile = "auto"` identified the device: the exchanges it read (results.json
/// `profile_identified` says what it concluded).
pub const IDENTIFY_EXCHANGES_FILE: &str = "identify/exchanges.jsonl";
/// The camera's own network (`hopquy run --lab-net`): what hopquy-labnet recorded (DHCP,
/// DNS, flows, outages, capture counters) and the capture itself, credentials masked.
pub const LABNET_DIR: &str = "labnet";
pub const LABNET_RECORD_FILE: &str = "labnet/record.json";
pub const LABNET_PCAP_FILE: &str = "labnet/capture.pcap";
/// Present from `BundleWriter::create` until the very last step of `finish`.
pub const INCOMPLETE_MARKER: &str = ".hopquy-incomplete";

/// `cases/<case_id>/<rel_path>`. The id is not checked here; the writer refuses ids that
/// [`crate::validate_case_id`] rejects.
pub fn case_file(case_id: &str, rel_path: &str) -> String {
    format!("{CASES_DIR}/{case_id}/{rel_path}")
}

/// `cases/<case_id>/exchanges.jsonl`.
pub fn case_exchanges(case_id: &str) -> String {
    case_file(case_id, EXCHANGES_FILE)
}

/// `cases/<case_id>/answers.json`.
pub fn case_answers(case_id: &str) -> String {
    case_file(case_id, ANSWERS_FILE)
}

/// `cases/<case_id>/result.json`.
pub fn case_result(case_id: &str) -> String {
    case_file(case_id, CASE_RESULT_FILE)
}

/// `attachments/<step>-<file_name>`, relative to the case's directory: the step prefix keeps
/// two steps' files of the same name apart.
pub fn attachment(step: &str, file_name: &str) -> String {
    format!("{ATTACHMENTS_DIR}/{step}-{file_name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bundles already written use these exact paths; a change here must be deliberate.
    #[test]
    fn case_paths_are_spelled_as_in_written_bundles() {
        assert_eq!(case_exchanges("lockout-http"), "cases/lockout-http/exchanges.jsonl");
        assert_eq!(case_answers("factory-reset"), "cases/factory-reset/answers.json");
        assert_eq!(case_result("tls-https"), "cases/tls-https/result.json");
        assert_eq!(
            case_file("doc", &attachment("manual", "guide.pdf")),
            "cases/doc/attachments/manual-guide.pdf"
        );
    }
}
