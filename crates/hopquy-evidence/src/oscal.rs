//! oscal-assessment-results.json: the run as a NIST OSCAL assessment-results document, for
//! GRC tools and regulators that ingest OSCAL. One result; one observation per case (what was
//! done and which bundle files prove it); one finding per clause (satisfied or not).
//!
//! Mapping decisions a reader of the file needs:
//! - OSCAL control and objective ids must be XML NCName tokens, and clause ids such as `2.1.5`
//!   start with a digit, so every clause becomes `clause-<id>` ([`oscal_control_id`]); the
//!   original id is kept in a `clause` property.
//! - OSCAL has only `satisfied` and `not-satisfied`. Only a passing clause is satisfied; fail is
//!   `not-satisfied`/`fail`; error, inconclusive and not-applicable are `not-satisfied`/`other`
//!   with the exact verdict in remarks and a `verdict` property, because none of them is
//!   evidence of conformity.
//! - UUIDs are RFC 4122 version 5 (SHA-1 name-based) UUIDs of the run id and the object's id,
//!   so a re-export of the same results yields the same document.
//! - Times are converted to UTC: OSCAL's date-time pattern admits only real-world offsets.
//! - Free text from the run is sanitised (control characters escaped) and, where OSCAL reads it
//!   as Markdown, has Markdown punctuation escaped so device text cannot become a link or an
//!   image in a viewer.

use serde::Serialize;
use sha1::{Digest, Sha1};

use crate::error::EvidenceError;
use crate::fsutil::sanitize_text;
use crate::junit::clause_sort_key;
use crate::manifest::DEFINITIONS_DIR;
use crate::model::{CaseKind, CaseResult, ClauseResult, Results, Verdict};
use crate::report::href_for;

/// The OSCAL release the document declares. The tests validate it against the newest official
/// schema available to them (1.2.3), which accepts all 1.1.x content.
pub const OSCAL_VERSION: &str = "1.1.3";
/// Namespace of every property hopquy defines (OSCAL requires non-OSCAL names to carry one).
pub const HOPQUY_OSCAL_NS: &str = "https://github.com/hopquy/hopquy/ns/oscal";

/// RFC 4122 appendix C name-space for URLs.
const NAMESPACE_URL: [u8; 16] = [
    0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
];

/// RFC 4122 version 5 UUID of `name` in `namespace`, lower-case hyphenated.
pub fn uuid_v5(namespace: &[u8; 16], name: &str) -> String {
    let hex = hex::encode(uuid_v5_bytes(namespace, name));
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn uuid_v5_bytes(namespace: &[u8; 16], name: &str) -> [u8; 16] {
    let mut hasher = Sha1::new();
    hasher.update(namespace);
    hasher.update(name.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    bytes
}

/// The UUID of one object of a run's OSCAL export: version 5 in the name-space
/// `uuid5(URL, HOPQUY_OSCAL_NS)`, name `<run key>/<object kind>/<object id>`. The run key is the
/// run id, or the start time when a run has none.
pub fn oscal_uuid(run_key: &str, object_kind: &str, object_id: &str) -> String {
    let namespace = uuid_v5_bytes(&NAMESPACE_URL, HOPQUY_OSCAL_NS);
    uuid_v5(&namespace, &format!("{run_key}/{object_kind}/{object_id}"))
}

/// `clause-<id>` with every character an NCName token may not hold replaced by `_`.
pub fn oscal_control_id(clause: &str) -> String {
    let mut id = String::from("clause-");
    id.extend(clause.chars().map(|c| {
        if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
            c
        } else {
            '_'
        }
    }));
    id
}

/// OSCAL `methods` for a case kind.
pub fn oscal_methods(kind: CaseKind) -> Vec<&'static str> {
    match kind {
        CaseKind::Automated => vec!["TEST"],
        CaseKind::Document => vec!["EXAMINE"],
        CaseKind::Operator => vec!["INTERVIEW", "TEST"],
    }
}

/// (state, reason) of a finding for a clause verdict.
pub fn oscal_status(verdict: Verdict) -> (&'static str, &'static str) {
    match verdict {
        Verdict::Pass => ("satisfied", "pass"),
        Verdict::Fail => ("not-satisfied", "fail"),
        Verdict::Error | Verdict::Inconclusive | Verdict::NotApplicable => ("not-satisfied", "other"),
    }
}

#[derive(Debug, Serialize)]
struct Document {
    #[serde(rename = "assessment-results")]
    assessment_results: AssessmentResults,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct AssessmentResults {
    uuid: String,
    metadata: Metadata,
    import_ap: ImportAp,
    results: Vec<AssessmentResult>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct Metadata {
    title: String,
    last_modified: String,
    version: String,
    oscal_version: &'static str,
    props: Vec<Prop>,
}

#[derive(Debug, Serialize)]
struct ImportAp {
    href: String,
    remarks: String,
}

#[derive(Debug, Clone, Serialize)]
struct Prop {
    name: &'static str,
    ns: &'static str,
    value: String,
}

fn prop(name: &'static str, value: &str) -> Prop {
    Prop {
        name,
        ns: HOPQUY_OSCAL_NS,
        value: one_line(value, "unknown"),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct AssessmentResult {
    uuid: String,
    title: String,
    description: String,
    start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<String>,
    props: Vec<Prop>,
    local_definitions: LocalDefinitions,
    reviewed_controls: ReviewedControls,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    observations: Vec<Observation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    findings: Vec<Finding>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct LocalDefinitions {
    inventory_items: Vec<InventoryItem>,
}

#[derive(Debug, Serialize)]
struct InventoryItem {
    uuid: String,
    description: String,
    props: Vec<Prop>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct ReviewedControls {
    control_selections: Vec<ControlSelection>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct ControlSelection {
    description: String,
    /// Only when no clause was assessed: the schema needs one of the two lists, and an empty
    /// `include-controls` is invalid. The description says that nothing was reviewed.
    #[serde(skip_serializing_if = "Option::is_none")]
    include_all: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    include_controls: Vec<SelectControl>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct SelectControl {
    control_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct Observation {
    uuid: String,
    title: String,
    description: String,
    props: Vec<Prop>,
    methods: Vec<&'static str>,
    subjects: Vec<Subject>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    relevant_evidence: Vec<RelevantEvidence>,
    collected: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct Subject {
    subject_uuid: String,
    #[serde(rename = "type")]
    subject_type: &'static str,
}

#[derive(Debug, Serialize)]
struct RelevantEvidence {
    #[serde(skip_serializing_if = "Option::is_none")]
    href: Option<String>,
    description: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct Finding {
    uuid: String,
    title: String,
    description: String,
    props: Vec<Prop>,
    target: FindingTarget,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related_observations: Vec<RelatedObservation>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct FindingTarget {
    #[serde(rename = "type")]
    target_type: &'static str,
    target_id: String,
    status: ObjectiveStatus,
}

#[derive(Debug, Serialize)]
struct ObjectiveStatus {
    state: &'static str,
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    remarks: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct RelatedObservation {
    observation_uuid: String,
}

/// OSCAL plain strings are one line with no surrounding white space and never empty.
fn one_line(text: &str, fallback: &str) -> String {
    let clean = sanitize_text(text);
    let joined = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.is_empty() {
        fallback.to_string()
    } else {
        joined
    }
}

/// Sanitised text with Markdown punctuation escaped, for OSCAL's Markdown fields.
fn markdown(text: &str) -> String {
    let clean = sanitize_text(text.trim());
    let mut out = String::with_capacity(clean.len());
    for c in clean.chars() {
        // Brackets make links and images, `<` HTML and autolinks, `&` character references
        // (which could spell a bidi override); the rest would only restyle the text.
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '!' | '#' | '&') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A time in the form OSCAL's date-time pattern accepts (UTC, year 1900–2999), if `text` is
/// RFC 3339.
fn oscal_time(text: &str) -> Option<String> {
    use chrono::Datelike;
    let time = chrono::DateTime::parse_from_rfc3339(text)
        .ok()?
        .with_timezone(&chrono::Utc);
    (1900..=2999)
        .contains(&time.year())
        .then(|| time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn verdict_remarks(verdict: Verdict) -> Option<String> {
    match verdict {
        Verdict::Pass | Verdict::Fail => None,
        Verdict::Error => Some(
            "hopquy verdict: error. The test could not be completed (harness or transport \
             failure); conformity was not shown."
                .into(),
        ),
        Verdict::Inconclusive => Some(
            "hopquy verdict: inconclusive. Evidence could not be obtained (for example, no \
             operator answer); conformity was not shown."
                .into(),
        ),
        Verdict::NotApplicable => Some(
            "hopquy verdict: not applicable. No case applied to this clause on this device, so \
             there is no evidence of conformity; the lab decides whether the clause is out of scope."
                .into(),
        ),
    }
}

fn observation(
    results: &Results,
    run_key: &str,
    device_uuid: &str,
    fallback_time: &str,
    case: &CaseResult,
) -> Observation {
    let mut props = vec![
        prop("case-id", &case.id),
        prop("verdict", case.verdict.as_str()),
        prop("case-kind", case.kind.as_str()),
    ];
    props.extend(case.clauses.iter().map(|c| prop("clause", c)));
    let relevant_evidence = case
        .evidence
        .iter()
        .map(|path| RelevantEvidence {
            href: href_for(path),
            description: format!("Evidence file in the bundle: {}", markdown(path)),
        })
        .collect();
    let summary = markdown(&case.summary);
    Observation {
        uuid: oscal_uuid(run_key, "observation", &case.id),
        title: one_line(case.title.as_deref().unwrap_or(&case.id), &case.id),
        description: if summary.is_empty() {
            format!("Case {} ({}): no summary recorded.", markdown(&case.id), case.verdict)
        } else {
            summary
        },
        props,
        methods: oscal_methods(case.kind),
        subjects: vec![Subject {
            subject_uuid: device_uuid.to_string(),
            subject_type: "inventory-item",
        }],
        relevant_evidence,
        collected: case
            .finished
            .as_deref()
            .and_then(oscal_time)
            .or_else(|| oscal_time(&results.finished))
            .unwrap_or_else(|| fallback_time.to_string()),
    }
}

fn finding(run_key: &str, clause: &ClauseResult, observed: &std::collections::BTreeSet<&str>) -> Finding {
    let (state, reason) = oscal_status(clause.verdict);
    let title_en = clause.title_en.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let title_vi = clause.title_vi.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let title = match title_en.or(title_vi) {
        Some(t) => format!("Clause {}: {t}", clause.id),
        None => format!("Clause {}", clause.id),
    };
    let mut description = format!("Clause {}", markdown(&clause.id));
    match (title_vi, title_en) {
        (Some(vi), Some(en)) => description.push_str(&format!(" — {} / {}", markdown(vi), markdown(en))),
        (Some(t), None) | (None, Some(t)) => description.push_str(&format!(" — {}", markdown(t))),
        (None, None) => {}
    }
    description.push_str(&format!(". Verdict: {}.", clause.verdict));
    if !clause.cases.is_empty() {
        let cases: Vec<String> = clause.cases.iter().map(|c| markdown(c)).collect();
        description.push_str(&format!(" Cases: {}.", cases.join(", ")));
    }
    // What kept the clause undecided, and what the lab can do about it.
    for cause in &clause.causes {
        description.push_str(&format!(
            " Undecided because {}: {}.",
            cause.as_str(),
            markdown(cause.hint())
        ));
    }
    let mut props = vec![prop("clause", &clause.id), prop("verdict", clause.verdict.as_str())];
    props.extend(clause.causes.iter().map(|cause| prop("cause", cause.as_str())));
    Finding {
        uuid: oscal_uuid(run_key, "finding", &clause.id),
        title: one_line(&title, "Clause"),
        description,
        props,
        target: FindingTarget {
            target_type: "objective-id",
            target_id: oscal_control_id(&clause.id),
            status: ObjectiveStatus {
                state,
                reason,
                remarks: verdict_remarks(clause.verdict),
            },
        },
        related_observations: clause
            .cases
            .iter()
            .filter(|id| observed.contains(id.as_str()))
            .map(|id| RelatedObservation {
                observation_uuid: oscal_uuid(run_key, "observation", id),
            })
            .collect(),
    }
}

fn document(results: &Results) -> Document {
    let run_key = match results.run_id.as_deref().map(str::trim) {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => results.started.clone(),
    };
    let generated = now();
    let start = oscal_time(&results.started).unwrap_or_else(|| generated.clone());
    let end = oscal_time(&results.finished);
    let device = &results.device;
    let device_uuid = oscal_uuid(&run_key, "inventory-item", "device-under-test");
    let device_line = one_line(
        &format!("{} {} (firmware {})", device.vendor, device.model, device.firmware),
        "unknown device",
    );
    let regulation = one_line(&results.regulation, "unknown regulation");

    let mut device_props = vec![
        prop("vendor", &device.vendor),
        prop("model", &device.model),
        prop("firmware", &device.firmware),
    ];
    if let Some(serial) = &device.serial {
        device_props.push(prop("serial", serial));
    }

    let mut clauses: Vec<&ClauseResult> = results.clauses.iter().collect();
    clauses.sort_by_key(|c| clause_sort_key(&c.id));
    let mut seen_controls = std::collections::BTreeSet::new();
    let control_ids: Vec<String> = clauses
        .iter()
        .map(|c| oscal_control_id(&c.id))
        .filter(|id| seen_controls.insert(id.clone()))
        .collect();
    let control_selection = if control_ids.is_empty() {
        ControlSelection {
            description: "No clause was assessed in this run. (`include-all` is present only because the schema \
                          requires a selection; it does not mean that any clause was reviewed.)"
                .into(),
            include_all: Some(serde_json::Map::new()),
            include_controls: Vec::new(),
        }
    } else {
        ControlSelection {
            description: format!("Clauses of {} assessed in this run.", markdown(&regulation)),
            include_all: None,
            include_controls: control_ids
                .into_iter()
                .map(|control_id| SelectControl { control_id })
                .collect(),
        }
    };

    let mut seen_cases = std::collections::BTreeSet::new();
    let observations: Vec<Observation> = results
        .cases
        .iter()
        .filter(|case| seen_cases.insert(case.id.as_str()))
        .map(|case| observation(results, &run_key, &device_uuid, &generated, case))
        .collect();
    let findings = clauses
        .iter()
        .map(|clause| finding(&run_key, clause, &seen_cases))
        .collect();

    let mut result_props = vec![
        prop("regulation", &results.regulation),
        prop("tool-version", &results.tool.version),
    ];
    if let Some(run_id) = &results.run_id {
        result_props.push(prop("run-id", run_id));
    }
    if let Some(profile) = &results.profile {
        result_props.push(prop("profile", profile));
    }
    result_props.push(prop("complete", if results.complete { "true" } else { "false" }));

    let completeness = if results.complete {
        "Every planned case finished."
    } else {
        "The run was interrupted before every planned case finished; these results are not sufficient for a conformity decision."
    };
    Document {
        assessment_results: AssessmentResults {
            uuid: oscal_uuid(&run_key, "assessment-results", "document"),
            metadata: Metadata {
                title: one_line(
                    &format!("Assessment results: {regulation} — {device_line}"),
                    "Assessment results",
                ),
                last_modified: end.clone().unwrap_or_else(|| generated.clone()),
                version: one_line(&run_key, "1"),
                oscal_version: OSCAL_VERSION,
                props: vec![prop("generator", &format!("{} {}", results.tool.name, results.tool.version))],
            },
            import_ap: ImportAp {
                href: format!("{DEFINITIONS_DIR}/"),
                remarks: "Placeholder: there is no OSCAL assessment plan. The plan is the exact case, catalogue and profile files in the bundle's definitions/ directory.".into(),
            },
            results: vec![AssessmentResult {
                uuid: oscal_uuid(&run_key, "result", "run"),
                title: one_line(&format!("hopquy run {run_key}"), "hopquy run"),
                description: format!(
                    "Conformity test of {} against {} with {} {}. {completeness}",
                    markdown(&device_line),
                    markdown(&regulation),
                    markdown(&results.tool.name),
                    markdown(&results.tool.version),
                ),
                start,
                end,
                props: result_props,
                local_definitions: LocalDefinitions {
                    inventory_items: vec![InventoryItem {
                        uuid: device_uuid,
                        description: format!("Device under test: {}", markdown(&device_line)),
                        props: device_props,
                    }],
                },
                reviewed_controls: ReviewedControls {
                    control_selections: vec![control_selection],
                },
                observations,
                findings,
            }],
        },
    }
}

/// The assessment-results document as a JSON value.
pub fn oscal_assessment_results(results: &Results) -> Result<serde_json::Value, EvidenceError> {
    serde_json::to_value(document(results)).map_err(|source| EvidenceError::Serialize {
        what: "OSCAL assessment results",
        source,
    })
}

/// oscal-assessment-results.json as written into a bundle: pretty JSON with a final newline.
pub fn oscal_json(results: &Results) -> Result<String, EvidenceError> {
    let mut text = serde_json::to_string_pretty(&document(results)).map_err(|source| EvidenceError::Serialize {
        what: "OSCAL assessment results",
        source,
    })?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undecided_finding_names_its_causes() {
        let results: Results = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "regulation": "qcvn135-2024",
            "tool": {"name": "hopquy", "version": "0"},
            "device": {"vendor": "v", "model": "m", "firmware": "f"},
            "started": "2026-03-01T10:00:00+07:00", "finished": "2026-03-01T10:00:01+07:00",
            "clauses": [{"id": "2.1.5", "verdict": "inconclusive", "cases": ["lockout-http"],
                         "causes": ["target-credentials"]}],
            "cases": [{"id": "lockout-http", "clauses": ["2.1.5"], "kind": "automated",
                       "verdict": "inconclusive", "summary": "s", "evidence": [],
                       "cause": {"class": "target-credentials", "hint": "check"}}]
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let doc = oscal_assessment_results(&results).unwrap_or_else(|e| panic!("{e}"));
        let finding = &doc["assessment-results"]["results"][0]["findings"][0];
        let description = finding["description"].as_str().unwrap_or_default();
        assert!(
            description.contains("Undecided because target-credentials: "),
            "{description}"
        );
        let props = finding["props"].as_array().cloned().unwrap_or_default();
        assert!(
            props
                .iter()
                .any(|p| p["name"] == "cause" && p["value"] == "target-credentials"),
            "{props:?}"
        );
    }

    #[test]
    fn uuid_v5_matches_the_rfc_example_and_python() {
        // uuid.uuid5(uuid.NAMESPACE_DNS, "python.org") in Python's documentation.
        let dns = [
            0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
        ];
        assert_eq!(uuid_v5(&dns, "python.org"), "886313e1-3b8a-5372-9b90-0c9aee199e5d");
    }

    #[test]
    fn clause_ids_become_tokens() {
        assert_eq!(oscal_control_id("2.1.5"), "clause-2.1.5");
        assert_eq!(
            oscal_control_id("T01-unique password/x"),
            "clause-T01-unique_password_x"
        );
    }

    #[test]
    fn only_pass_is_satisfied() {
        assert_eq!(oscal_status(Verdict::Pass).0, "satisfied");
        for verdict in [
            Verdict::Fail,
            Verdict::Error,
            Verdict::Inconclusive,
            Verdict::NotApplicable,
        ] {
            assert_eq!(oscal_status(verdict).0, "not-satisfied", "{verdict}");
        }
    }

    #[test]
    fn markdown_cannot_smuggle_links_or_html() {
        assert_eq!(
            markdown("see ![x](http://evil/) <script>\u{1b}"),
            r"see \!\[x\](http://evil/) \<script\>\\u{1b}"
        );
        assert_eq!(markdown("&#x202e; (ok)"), r"\&\#x202e; (ok)");
        assert_eq!(one_line("  a\n\tb  ", "f"), "a b");
        assert_eq!(one_line(" \n ", "f"), "f");
    }

    #[test]
    fn times_outside_oscal_range_are_refused() {
        assert_eq!(
            oscal_time("2026-03-01T10:00:00+07:00").as_deref(),
            Some("2026-03-01T03:00:00Z")
        );
        assert_eq!(oscal_time("3026-03-01T10:00:00Z"), None);
        assert_eq!(oscal_time("soon"), None);
    }
}
