//! results.sarif: the run as SARIF 2.1.0, so a manufacturer's code-scanning dashboard shows
//! a camera's non-conformities next to its other findings. One rule per case; a result only
//! for cases that did not pass (fail → `error`, error → `warning`, inconclusive → `note`).
//! There is no source file to point at, so each result's location is the device itself, as a
//! logical location, and the evidence files are listed in the result's properties.

use serde::Serialize;

use crate::error::EvidenceError;
use crate::fsutil::sanitize_text;
use crate::model::{CaseResult, Results, Verdict};

pub const SARIF_VERSION: &str = "2.1.0";
/// The OASIS-published schema (Errata 01) the file declares and the tests validate against.
pub const SARIF_SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
/// `logicalLocation.kind` for the device under test; SARIF lets tools name their own kinds.
pub const DEVICE_LOCATION_KIND: &str = "device";

#[derive(Debug, Serialize)]
struct SarifLog {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    tool: Tool,
    invocations: Vec<Invocation>,
    automation_details: AutomationDetails,
    results: Vec<SarifResult>,
    properties: RunProperties,
}

#[derive(Debug, Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Debug, Serialize)]
struct Driver {
    name: String,
    version: String,
    rules: Vec<Rule>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: String,
    short_description: Text,
    /// A known-vulnerability case points at its (first) CVE's advisory.
    #[serde(skip_serializing_if = "Option::is_none")]
    help_uri: Option<String>,
    properties: RuleProperties,
}

#[derive(Debug, Serialize)]
struct RuleProperties {
    clauses: Vec<String>,
    kind: String,
    /// Dashboards filter on tags; the clause ids are what a lab searches for, and the CVE
    /// ids (with `security`, and `kev` for actively exploited ones) what a PSIRT searches for.
    tags: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cves: Vec<String>,
    /// GitHub code scanning ranks security rules by this (the highest CVSS score, as text).
    #[serde(rename = "security-severity", skip_serializing_if = "Option::is_none")]
    security_severity: Option<String>,
}

#[derive(Debug, Serialize)]
struct Text {
    text: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time_utc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time_utc: Option<String>,
}

#[derive(Debug, Serialize)]
struct AutomationDetails {
    id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RunProperties {
    regulation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<String>,
    complete: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: String,
    rule_index: usize,
    level: &'static str,
    message: Text,
    locations: Vec<Location>,
    properties: ResultProperties,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    logical_locations: Vec<LogicalLocation>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation {
    name: String,
    fully_qualified_name: String,
    kind: &'static str,
    properties: DeviceProperties,
}

#[derive(Debug, Clone, Serialize)]
struct DeviceProperties {
    vendor: String,
    model: String,
    firmware: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    serial: Option<String>,
}

#[derive(Debug, Serialize)]
struct ResultProperties {
    verdict: &'static str,
    clauses: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cves: Vec<String>,
    /// Why an inconclusive or error verdict is undecided (`target-credentials`…), so a
    /// dashboard can tell "fix the target file" from "the device is odd".
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<&'static str>,
    /// Bundle-relative paths of the files the verdict rests on.
    evidence: Vec<String>,
}

/// SARIF level for a case verdict; `None` for verdicts that produce no result. Results keep
/// SARIF's default `kind` ("fail"), the only kind the specification allows with a level other
/// than "none".
pub fn sarif_level(verdict: Verdict) -> Option<&'static str> {
    match verdict {
        Verdict::Fail => Some("error"),
        Verdict::Error => Some("warning"),
        Verdict::Inconclusive => Some("note"),
        Verdict::Pass | Verdict::NotApplicable => None,
    }
}

fn result_message(case: &CaseResult) -> String {
    let summary = sanitize_text(case.summary.trim());
    let summary = if summary.is_empty() {
        "(no summary recorded)".to_string()
    } else {
        summary
    };
    // Without the prefix a dashboard would show a harness failure as if the device had one;
    // the cause and its hint say what the lab can do about it.
    let undecided = match case.verdict {
        Verdict::Error => "Test could not be completed (harness or transport error)",
        Verdict::Inconclusive => "Inconclusive, evidence could not be obtained",
        _ => return summary,
    };
    match &case.cause {
        Some(c) => format!(
            "{undecided}: {summary} [{}: {}]",
            c.class.as_str(),
            sanitize_text(&c.hint)
        ),
        None => format!("{undecided}: {summary}"),
    }
}

fn cve_ids(case: &CaseResult) -> Vec<String> {
    case.cves.iter().map(|cve| sanitize_text(&cve.id)).collect()
}

fn device_location(results: &Results) -> LogicalLocation {
    let device = &results.device;
    let vendor = sanitize_text(&device.vendor);
    let model = sanitize_text(&device.model);
    let firmware = sanitize_text(&device.firmware);
    LogicalLocation {
        name: model.clone(),
        fully_qualified_name: format!("{vendor}/{model}/{firmware}"),
        kind: DEVICE_LOCATION_KIND,
        properties: DeviceProperties {
            vendor,
            model,
            firmware,
            serial: device.serial.as_deref().map(sanitize_text),
        },
    }
}

fn utc(text: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| {
        t.with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    })
}

fn log(results: &Results) -> SarifLog {
    // A rule per distinct case id, in run order; `ruleIndex` points into this list.
    let mut rules: Vec<Rule> = Vec::new();
    let mut rule_index_of = std::collections::BTreeMap::new();
    for case in &results.cases {
        if rule_index_of.contains_key(case.id.as_str()) {
            continue;
        }
        rule_index_of.insert(case.id.as_str(), rules.len());
        let clauses: Vec<String> = case.clauses.iter().map(|c| sanitize_text(c)).collect();
        let cves = cve_ids(case);
        let mut tags = clauses.clone();
        tags.extend(cves.iter().cloned());
        if !cves.is_empty() {
            tags.push("security".to_owned());
        }
        if case.cves.iter().any(|cve| cve.kev) {
            tags.push("kev".to_owned());
        }
        tags.sort();
        tags.dedup();
        let help_uri = case
            .cves
            .iter()
            .map(|cve| cve.url.trim())
            .find(|url| url.starts_with("https://") && !url.chars().any(char::is_whitespace))
            .map(sanitize_text);
        let security_severity = case
            .cves
            .iter()
            .map(|cve| cve.cvss)
            .filter(|score| score.is_finite() && (0.0..=10.0).contains(score))
            .reduce(f64::max)
            .map(|score| format!("{score:.1}"));
        let title = case
            .title
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .unwrap_or(&case.id);
        rules.push(Rule {
            id: sanitize_text(&case.id),
            short_description: Text {
                text: sanitize_text(title),
            },
            help_uri,
            properties: RuleProperties {
                clauses,
                kind: case.kind.as_str().to_owned(),
                tags,
                cves,
                security_severity,
            },
        });
    }

    let location = device_location(results);
    let sarif_results = results
        .cases
        .iter()
        .filter_map(|case| {
            let level = sarif_level(case.verdict)?;
            Some(SarifResult {
                rule_id: sanitize_text(&case.id),
                rule_index: rule_index_of.get(case.id.as_str()).copied().unwrap_or_default(),
                level,
                message: Text {
                    text: result_message(case),
                },
                locations: vec![Location {
                    logical_locations: vec![location.clone()],
                }],
                properties: ResultProperties {
                    verdict: case.verdict.as_str(),
                    clauses: case.clauses.iter().map(|c| sanitize_text(c)).collect(),
                    cves: cve_ids(case),
                    cause: case.cause.as_ref().map(|c| c.class.as_str()),
                    evidence: case.evidence.iter().map(|e| sanitize_text(e)).collect(),
                },
            })
        })
        .collect();

    let regulation = sanitize_text(&results.regulation);
    let run_id = results.run_id.as_deref().map(sanitize_text);
    // GitHub code scanning groups uploads by the part before the last '/'.
    let automation_id = format!("hopquy/{regulation}/{}", run_id.as_deref().unwrap_or(""));
    SarifLog {
        schema: SARIF_SCHEMA_URI,
        version: SARIF_VERSION,
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: sanitize_text(&results.tool.name),
                    version: sanitize_text(&results.tool.version),
                    rules,
                },
            },
            invocations: vec![Invocation {
                execution_successful: results.complete,
                start_time_utc: utc(&results.started),
                end_time_utc: utc(&results.finished),
            }],
            automation_details: AutomationDetails { id: automation_id },
            results: sarif_results,
            properties: RunProperties {
                regulation,
                run_id,
                profile: results.profile.as_deref().map(sanitize_text),
                complete: results.complete,
            },
        }],
    }
}

/// The SARIF log as a JSON value (for tools that post-process it).
pub fn sarif_log(results: &Results) -> Result<serde_json::Value, EvidenceError> {
    serde_json::to_value(log(results)).map_err(|source| EvidenceError::Serialize {
        what: "SARIF log",
        source,
    })
}

/// results.sarif as written into a bundle: pretty JSON with a final newline.
pub fn sarif_json(results: &Results) -> Result<String, EvidenceError> {
    let mut text = serde_json::to_string_pretty(&log(results)).map_err(|source| EvidenceError::Serialize {
        what: "SARIF log",
        source,
    })?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_non_passing_verdicts_produce_results() {
        assert_eq!(sarif_level(Verdict::Fail), Some("error"));
        assert_eq!(sarif_level(Verdict::Error), Some("warning"));
        assert_eq!(sarif_level(Verdict::Inconclusive), Some("note"));
        assert_eq!(sarif_level(Verdict::Pass), None);
        assert_eq!(sarif_level(Verdict::NotApplicable), None);
    }

    #[test]
    fn cve_cases_get_a_help_uri_and_cve_tags() {
        let results: Results = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "regulation": "qcvn135-2024",
            "tool": {"name": "hopquy", "version": "0"},
            "device": {"vendor": "v", "model": "m", "firmware": "f"},
            "started": "2026-03-01T10:00:00+07:00", "finished": "2026-03-01T10:00:01+07:00",
            "clauses": [],
            "cases": [
                {"id": "cve-a", "clauses": ["2.2.1"], "kind": "automated", "verdict": "fail",
                 "summary": "s", "evidence": [],
                 "cves": [{"id": "CVE-2017-7921", "cvss": 10.0, "kev": true,
                           "url": "https://nvd.nist.gov/vuln/detail/CVE-2017-7921"}]},
                {"id": "plain", "clauses": ["2.1.5"], "kind": "automated", "verdict": "fail",
                 "summary": "s", "evidence": []}
            ]
        }))
        .unwrap();
        let log = sarif_log(&results).unwrap();
        let rules = &log["runs"][0]["tool"]["driver"]["rules"];
        assert_eq!(rules[0]["helpUri"], "https://nvd.nist.gov/vuln/detail/CVE-2017-7921");
        let tags = rules[0]["properties"]["tags"].as_array().unwrap();
        for tag in ["CVE-2017-7921", "security", "kev", "2.2.1"] {
            assert!(tags.iter().any(|t| t == tag), "{tag} in {tags:?}");
        }
        assert_eq!(rules[0]["properties"]["security-severity"], "10.0");
        assert_eq!(log["runs"][0]["results"][0]["properties"]["cves"][0], "CVE-2017-7921");
        assert!(rules[1].get("helpUri").is_none());
        assert!(rules[1]["properties"].get("cves").is_none());
    }

    #[test]
    fn an_undecided_result_names_its_cause_and_what_to_do() {
        let results: Results = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "regulation": "qcvn135-2024",
            "tool": {"name": "hopquy", "version": "0"},
            "device": {"vendor": "v", "model": "m", "firmware": "f"},
            "started": "2026-03-01T10:00:00+07:00", "finished": "2026-03-01T10:00:01+07:00",
            "clauses": [],
            "cases": [
                {"id": "lockout-http", "clauses": ["2.1.5"], "kind": "automated", "verdict": "inconclusive",
                 "summary": "the target's credentials were not accepted", "evidence": [],
                 "cause": {"class": "target-credentials", "hint": "check [credentials]"}},
                {"id": "telnet-closed", "clauses": ["2.6.3"], "kind": "automated", "verdict": "fail",
                 "summary": "telnet answers", "evidence": []}
            ]
        }))
        .unwrap();
        let log = sarif_log(&results).unwrap();
        let result = &log["runs"][0]["results"][0];
        assert_eq!(result["properties"]["cause"], "target-credentials");
        let text = result["message"]["text"].as_str().unwrap();
        assert!(
            text.starts_with("Inconclusive, evidence could not be obtained: "),
            "{text}"
        );
        assert!(text.ends_with("[target-credentials: check [credentials]]"), "{text}");
        let fail = &log["runs"][0]["results"][1];
        assert!(fail["properties"].get("cause").is_none());
        assert_eq!(fail["message"]["text"], "telnet answers");
    }

    #[test]
    fn times_become_utc() {
        assert_eq!(
            utc("2026-03-01T10:00:00+07:00").as_deref(),
            Some("2026-03-01T03:00:00Z")
        );
        assert_eq!(utc("yesterday"), None);
    }
}
