//! results.sarif and oscal-assessment-results.json: valid against their official schemas
//! (vendored in tests/schemas/, see its README), faithful to the verdicts, and safe with
//! hostile device text.
// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::*;
use hopquy_evidence::manifest::{OSCAL_FILE, SARIF_FILE};
use hopquy_evidence::*;
use serde_json::Value;

fn load_schema(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn validator(schema_file: &str) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(&load_schema(schema_file))
        .unwrap()
}

fn sarif_validator() -> jsonschema::Validator {
    validator("sarif-schema-2.1.0.json")
}

fn oscal_validator() -> jsonschema::Validator {
    validator("oscal_assessment-results_schema.json")
}

fn schema_errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn assert_valid(validator: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors = schema_errors(validator, instance);
    assert!(errors.is_empty(), "{what} is not schema-valid:\n{}", errors.join("\n"));
}

/// A run whose device and summaries are what a hostile camera would send.
fn hostile_results() -> Results {
    let mut results = sample_results();
    results.device.vendor = "Evil\u{1b}[31mCorp\u{202e}gpj.exe\nsecond line".into();
    results.device.model = "  ".into();
    results.device.firmware = "1.0\u{0}".into();
    let fail = &mut results.cases[0];
    fail.summary =
        "banner \u{1b}]0;pwned\u{7} ![x](http://evil.example/t.png) <script>alert(1)</script>\u{202e}".into();
    fail.title = Some("title\nwith\u{85}breaks".into());
    fail.evidence.push("cases/default-password/odd name#1.txt".into());
    results
}

/// Every string anywhere in a JSON value.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            out.push(k.clone());
            strings(v, out);
        }),
        _ => {}
    }
}

fn assert_no_control_or_bidi_chars(value: &Value, what: &str) {
    let mut all = Vec::new();
    strings(value, &mut all);
    for s in all {
        let bad = s
            .chars()
            .find(|&c| (c.is_control() && c != '\n' && c != '\t') || ('\u{202a}'..='\u{202e}').contains(&c));
        assert!(bad.is_none(), "{what}: raw {bad:?} survived in {s:?}");
    }
}

#[test]
fn sarif_is_valid_against_the_oasis_schema() {
    let validator = sarif_validator();
    for (what, results) in [
        ("sample", sample_results()),
        ("catalogue", catalogue_results()),
        ("hostile", hostile_results()),
        ("empty", results_from(Vec::new(), &BTreeMap::new())),
    ] {
        assert_valid(&validator, &sarif_log(&results).unwrap(), what);
    }
}

#[test]
fn oscal_is_valid_against_the_nist_schema() {
    let validator = oscal_validator();
    let mut no_run_id = sample_results();
    no_run_id.run_id = None;
    no_run_id.started = "not a time".into();
    no_run_id.complete = false;
    for (what, results) in [
        ("sample", sample_results()),
        ("catalogue", catalogue_results()),
        ("hostile", hostile_results()),
        ("empty", results_from(Vec::new(), &BTreeMap::new())),
        ("no run id, bad start time", no_run_id),
    ] {
        assert_valid(&validator, &oscal_assessment_results(&results).unwrap(), what);
    }
}

/// The validators must reject what the schemas forbid, or the two tests above prove nothing.
#[test]
fn schemas_reject_broken_documents() {
    let mut sarif = sarif_log(&sample_results()).unwrap();
    sarif["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!schema_errors(&sarif_validator(), &sarif).is_empty());
    let mut sarif = sarif_log(&sample_results()).unwrap();
    sarif["runs"][0]["invocations"][0]["startTimeUtc"] = "yesterday".into();
    assert!(
        !schema_errors(&sarif_validator(), &sarif).is_empty(),
        "formats are checked"
    );

    let oscal_validator = oscal_validator();
    let mut oscal = oscal_assessment_results(&sample_results()).unwrap();
    oscal["assessment-results"]["results"][0]["findings"][0]["target"]["target-id"] = "2.1.1".into();
    assert!(
        !schema_errors(&oscal_validator, &oscal).is_empty(),
        "a bare clause id is not an OSCAL token"
    );
    let mut oscal = oscal_assessment_results(&sample_results()).unwrap();
    oscal["assessment-results"]["uuid"] = "00000000-0000-1000-8000-000000000000".into();
    assert!(!schema_errors(&oscal_validator, &oscal).is_empty(), "only v4/v5 UUIDs");
}

#[test]
fn sarif_reports_every_non_passing_case_and_no_passing_one() {
    let results = sample_results();
    let sarif = sarif_log(&results).unwrap();
    let run = &sarif["runs"][0];
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(run["tool"]["driver"]["name"], "hopquy");
    assert_eq!(run["tool"]["driver"]["version"], "0.1.0");

    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), results.cases.len(), "one rule per case");
    for (rule, case) in rules.iter().zip(&results.cases) {
        assert_eq!(rule["id"], case.id.as_str());
        assert_eq!(rule["shortDescription"]["text"], case.title.as_deref().unwrap());
        assert_eq!(rule["properties"]["kind"], case.kind.as_str());
        assert_eq!(rule["properties"]["clauses"], serde_json::json!(case.clauses));
        // Only a known-vulnerability case points at an advisory.
        match case.cves.first() {
            Some(cve) => {
                assert_eq!(rule["helpUri"], cve.url.as_str());
                assert!(
                    rule["properties"]["tags"]
                        .as_array()
                        .unwrap()
                        .contains(&cve.id.as_str().into())
                );
            }
            None => assert!(rule.get("helpUri").is_none()),
        }
    }
    assert!(
        results.cases.iter().any(|case| !case.cves.is_empty()),
        "the sample has a CVE case"
    );

    let by_rule: BTreeMap<&str, &Value> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["ruleId"].as_str().unwrap(), r))
        .collect();
    let expected_levels: BTreeMap<&str, &str> = [
        ("default-password", "error"),
        ("cve-2017-7921-x", "error"),
        ("ssh-algorithms", "warning"),
        ("telnet-closed", "note"),
    ]
    .into();
    assert_eq!(
        by_rule.keys().copied().collect::<BTreeSet<_>>(),
        expected_levels.keys().copied().collect::<BTreeSet<_>>(),
        "pass and not-applicable cases must not appear"
    );
    for (rule_id, level) in expected_levels {
        let result = by_rule[rule_id];
        let case = results.cases.iter().find(|c| c.id == rule_id).unwrap();
        assert_eq!(result["level"], level, "{rule_id}");
        assert_eq!(rules[result["ruleIndex"].as_u64().unwrap() as usize]["id"], rule_id);
        assert!(result["message"]["text"].as_str().unwrap().contains(&case.summary));
        assert_eq!(result["properties"]["evidence"], serde_json::json!(case.evidence));
        assert_eq!(result["properties"]["verdict"], case.verdict.as_str());
        let location = &result["locations"][0]["logicalLocations"][0];
        assert_eq!(location["fullyQualifiedName"], "Example/IPC-1000/1.2.3");
        assert_eq!(location["kind"], "device");
    }
    assert_eq!(
        by_rule["default-password"]["message"]["text"],
        "default password admin accepted"
    );
    assert!(
        by_rule["telnet-closed"]["message"]["text"]
            .as_str()
            .unwrap()
            .starts_with("Inconclusive")
    );
}

fn oscal_result(doc: &Value) -> &Value {
    &doc["assessment-results"]["results"][0]
}

fn prop<'a>(object: &'a Value, name: &str) -> Vec<&'a str> {
    object["props"]
        .as_array()
        .map(|props| {
            props
                .iter()
                .filter(|p| p["name"] == name)
                .map(|p| p["value"].as_str().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn oscal_findings_follow_the_aggregated_clause_verdicts() {
    for results in [sample_results(), catalogue_results()] {
        let doc = oscal_assessment_results(&results).unwrap();
        let result = oscal_result(&doc);
        assert_eq!(doc["assessment-results"]["metadata"]["oscal-version"], "1.1.3");

        let observation_case: BTreeMap<&str, &str> = result["observations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["uuid"].as_str().unwrap(), prop(o, "case-id")[0]))
            .collect();
        assert_eq!(observation_case.len(), results.cases.len(), "one observation per case");

        let findings = result["findings"].as_array().unwrap();
        assert_eq!(findings.len(), results.clauses.len(), "one finding per clause");
        let reviewed: BTreeSet<&str> = result["reviewed-controls"]["control-selections"][0]["include-controls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["control-id"].as_str().unwrap())
            .collect();
        for clause in &results.clauses {
            let finding = findings
                .iter()
                .find(|f| prop(f, "clause") == [clause.id.as_str()])
                .unwrap_or_else(|| panic!("no finding for clause {}", clause.id));
            let target = &finding["target"];
            assert_eq!(target["type"], "objective-id");
            assert_eq!(target["target-id"], format!("clause-{}", clause.id));
            assert!(reviewed.contains(target["target-id"].as_str().unwrap()));
            let expected_state = if clause.verdict == Verdict::Pass {
                "satisfied"
            } else {
                "not-satisfied"
            };
            assert_eq!(
                target["status"]["state"], expected_state,
                "clause {} is {}",
                clause.id, clause.verdict
            );
            let expected_reason = match clause.verdict {
                Verdict::Pass => "pass",
                Verdict::Fail => "fail",
                _ => "other",
            };
            assert_eq!(target["status"]["reason"], expected_reason);
            assert_eq!(prop(finding, "verdict"), [clause.verdict.as_str()]);

            let related: BTreeSet<&str> = finding["related-observations"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .map(|o| observation_case[o["observation-uuid"].as_str().unwrap()])
                        .collect()
                })
                .unwrap_or_default();
            let expected: BTreeSet<&str> = clause.cases.iter().map(String::as_str).collect();
            assert_eq!(related, expected, "clause {}", clause.id);
        }
    }
}

#[test]
fn oscal_observations_carry_methods_and_evidence_links() {
    let results = sample_results();
    let doc = oscal_assessment_results(&results).unwrap();
    let result = oscal_result(&doc);
    let device_uuid = result["local-definitions"]["inventory-items"][0]["uuid"]
        .as_str()
        .unwrap();
    for case in &results.cases {
        let observation = result["observations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| prop(o, "case-id") == [case.id.as_str()])
            .unwrap();
        let methods: Vec<&str> = observation["methods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        let expected: &[&str] = match case.kind.as_str() {
            "automated" => &["TEST"],
            "document" => &["EXAMINE"],
            "operator" => &["INTERVIEW", "TEST"],
            other => panic!("unexpected kind {other}"),
        };
        assert_eq!(methods, expected, "{}", case.id);
        let hrefs: Vec<&str> = observation["relevant-evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["href"].as_str().unwrap())
            .collect();
        let paths: Vec<&str> = case.evidence.iter().map(String::as_str).collect();
        assert_eq!(hrefs, paths);
        assert_eq!(observation["description"], case.summary.as_str());
        assert_eq!(observation["subjects"][0]["subject-uuid"], device_uuid);
        assert_eq!(observation["collected"], "2026-03-01T03:00:02Z");
    }
    assert_eq!(result["start"], "2026-03-01T03:00:00Z");
    assert_eq!(result["end"], "2026-03-01T03:05:00Z");
    assert_eq!(doc["assessment-results"]["import-ap"]["href"], "definitions/");
}

#[test]
fn oscal_uuids_are_deterministic_unique_and_run_specific() {
    let results = sample_results();
    let first = oscal_assessment_results(&results).unwrap();
    let again = oscal_assessment_results(&results).unwrap();
    assert_eq!(first, again, "same results, same document");

    let mut uuids = Vec::new();
    collect_uuids(&first["assessment-results"], &mut uuids);
    let distinct: BTreeSet<&String> = uuids.iter().collect();
    // The device's uuid is referenced once per observation; every other uuid is defined once.
    assert_eq!(distinct.len(), 2 + 1 + results.cases.len() + results.clauses.len());

    let mut other_run = results.clone();
    other_run.run_id = Some("run-2".into());
    let other = oscal_assessment_results(&other_run).unwrap();
    assert_ne!(first["assessment-results"]["uuid"], other["assessment-results"]["uuid"]);
    assert_ne!(
        oscal_result(&first)["observations"][0]["uuid"],
        oscal_result(&other)["observations"][0]["uuid"]
    );
}

fn collect_uuids(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "uuid" || key == "subject-uuid" {
                    out.push(v.as_str().unwrap().to_string());
                } else if key != "observation-uuid" {
                    collect_uuids(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_uuids(v, out)),
        _ => {}
    }
}

/// The first Markdown-active character not escaped by a backslash, if any.
fn unescaped_markdown(text: &str) -> Option<char> {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '!' | '[' | ']' | '<' | '>' | '`' | '*' | '_' | '&' => return Some(c),
            _ => {}
        }
    }
    None
}

#[test]
fn hostile_device_text_is_sanitized_in_both_formats() {
    let results = hostile_results();
    let sarif = sarif_log(&results).unwrap();
    let oscal = oscal_assessment_results(&results).unwrap();
    assert_no_control_or_bidi_chars(&sarif, "SARIF");
    assert_no_control_or_bidi_chars(&oscal, "OSCAL");

    let message = sarif["runs"][0]["results"][0]["message"]["text"].as_str().unwrap();
    assert!(message.contains("\\u{1b}]0;pwned\\u{7}"), "{message}");
    assert!(message.contains("\\u{202e}"), "{message}");
    let location = &sarif["runs"][0]["results"][0]["locations"][0]["logicalLocations"][0];
    assert!(
        location["fullyQualifiedName"]
            .as_str()
            .unwrap()
            .starts_with("Evil\\u{1b}[31mCorp")
    );

    // OSCAL reads descriptions as Markdown: device text must not become an image, a link or HTML.
    let observation = &oscal_result(&oscal)["observations"][0];
    let description = observation["description"].as_str().unwrap();
    assert_eq!(unescaped_markdown(description), None, "{description}");
    assert!(description.contains("\\!\\[x\\]"), "{description}");
    // Plain OSCAL strings are single-line.
    assert_eq!(observation["title"], "title with\\u{85}breaks");
    let vendor = prop(
        &oscal_result(&oscal)["local-definitions"]["inventory-items"][0],
        "vendor",
    );
    assert_eq!(vendor, ["Evil\\u{1b}[31mCorp\\u{202e}gpj.exe second line"]);
    assert_eq!(
        prop(
            &oscal_result(&oscal)["local-definitions"]["inventory-items"][0],
            "model"
        ),
        ["unknown"],
        "blank values become a placeholder, not an invalid empty string"
    );
    // An evidence path with URL-special characters is percent-encoded, not broken.
    let hrefs: Vec<&str> = observation["relevant-evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["href"].as_str())
        .collect();
    assert!(
        hrefs.contains(&"cases/default-password/odd%20name%231.txt"),
        "{hrefs:?}"
    );
}

#[test]
fn bundles_carry_both_files_and_still_verify() {
    let results = sample_results();
    let (_tmp, dir) = new_bundle(&results);
    let manifest = read_manifest(&dir).unwrap();
    for (file, expected) in [
        (SARIF_FILE, sarif_json(&results).unwrap()),
        (OSCAL_FILE, oscal_json(&results).unwrap()),
    ] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), expected, "{file}");
        let listed = manifest
            .sha256_of(file)
            .unwrap_or_else(|| panic!("{file} not in manifest"));
        assert_eq!(listed.len(), 64);
    }
    let report = verify(&dir, None);
    assert!(report.is_valid(), "{:?}", report.problems);

    let sarif_path = dir.join(SARIF_FILE);
    let mut tampered: Value = serde_json::from_slice(&std::fs::read(&sarif_path).unwrap()).unwrap();
    tampered["runs"][0]["results"] = Value::Array(Vec::new());
    std::fs::write(&sarif_path, serde_json::to_vec_pretty(&tampered).unwrap()).unwrap();
    let report = verify(&dir, None);
    assert!(!report.is_valid());
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::Modified { path, .. } if path == SARIF_FILE)),
        "{:?}",
        report.problems
    );
}
