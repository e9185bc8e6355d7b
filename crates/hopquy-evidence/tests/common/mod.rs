//! Results and bundles shared by the format and rendering tests.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hopquy_evidence::*;

pub const CATALOGUE: &str = "../../test-cases/regulations/qcvn135-2024.toml";

pub fn case(id: &str, clauses: &[&str], verdict: Verdict, summary: &str) -> CaseResult {
    CaseResult {
        id: id.into(),
        clauses: clauses.iter().map(|c| c.to_string()).collect(),
        kind: CaseKind::Automated,
        verdict,
        summary: summary.into(),
        evidence: vec![format!("cases/{id}/exchanges.jsonl")],
        title: Some(format!("title of {id}")),
        started: Some("2026-03-01T10:00:00+07:00".into()),
        finished: Some("2026-03-01T10:00:02+07:00".into()),
        steps: vec![StepResult {
            id: "s1".into(),
            action: "http.get".into(),
            status: StepStatus::Ok,
            message: Some(format!("step message of {id}")),
            observations: serde_json::json!({"status": 200}),
        }],
        cause: None,
        cves: Vec::new(),
    }
}

/// Results whose clause list is aggregated from `cases`, the way the runner does it.
/// `titles` maps clause id → (vi, en).
pub fn results_from(cases: Vec<CaseResult>, titles: &BTreeMap<String, (String, String)>) -> Results {
    let mut clause_cases: BTreeMap<String, Vec<&CaseResult>> = BTreeMap::new();
    for c in &cases {
        for clause in &c.clauses {
            clause_cases.entry(clause.clone()).or_default().push(c);
        }
    }
    for id in titles.keys() {
        clause_cases.entry(id.clone()).or_default();
    }
    let clauses = clause_cases
        .into_iter()
        .map(|(id, cs)| ClauseResult {
            verdict: aggregate(cs.iter().map(|c| c.verdict)),
            cases: cs.iter().map(|c| c.id.clone()).collect(),
            title_vi: Some(
                titles
                    .get(&id)
                    .map(|t| t.0.clone())
                    .unwrap_or_else(|| format!("Tiêu đề {id}")),
            ),
            title_en: Some(
                titles
                    .get(&id)
                    .map(|t| t.1.clone())
                    .unwrap_or_else(|| format!("English title {id}")),
            ),
            causes: distinct_causes(cs.iter().copied()),
            id,
        })
        .collect();
    Results {
        schema_version: RESULTS_SCHEMA_VERSION,
        regulation: "qcvn135-2024".into(),
        tool: ToolInfo {
            name: "hopquy".into(),
            version: "0.1.0".into(),
        },
        device: DeviceInfo {
            vendor: "Example".into(),
            model: "IPC-1000".into(),
            firmware: "1.2.3".into(),
            serial: Some("SN0001".into()),
        },
        started: "2026-03-01T10:00:00+07:00".into(),
        finished: "2026-03-01T10:05:00+07:00".into(),
        clauses,
        cases,
        profile: Some("onvif".into()),
        run_id: Some("run-1".into()),
        complete: true,
        web_surface: Some(WebSurfaceInfo {
            scheme: "https".into(),
            port: 443,
            reason: "http port 80 redirects to https://192.0.2.10/ISAPI/Security/userCheck; https port 443 demanded credentials (401)".into(),
            certificate_sha256: Some("ab".repeat(32)),
        }),
        firmware: None,
        profile_identified: None,
        lab_net: None,
        warnings: Vec::new(),
        selection: None,
        clauses_not_tested: Vec::new(),
        selection_criteria: None,
    }
}

/// One case of every verdict, one of them shared by two clauses.
pub fn sample_results() -> Results {
    let mut operator = case("telnet-closed", &["2.2.1"], Verdict::Inconclusive, "operator absent");
    operator.kind = CaseKind::Operator;
    let mut document = case("vuln-policy", &["2.2.2"], Verdict::Pass, "policy published");
    document.kind = CaseKind::Document;
    // A known-vulnerability case, so the schema-validated SARIF carries helpUri and CVE tags.
    let mut known = case("cve-2017-7921-x", &["2.3.4"], Verdict::Fail, "user list behind auth=");
    known.cves = vec![CveRef {
        id: "CVE-2017-7921".into(),
        cvss: 10.0,
        kev: true,
        url: "https://nvd.nist.gov/vuln/detail/CVE-2017-7921".into(),
    }];
    results_from(
        vec![
            case(
                "default-password",
                &["2.1.1"],
                Verdict::Fail,
                "default password admin accepted",
            ),
            known,
            case("lockout", &["2.1.5", "2.3.1"], Verdict::Pass, "locked after 5 attempts"),
            operator,
            document,
            case("tls-versions", &["2.10.1"], Verdict::NotApplicable, "no TLS service"),
            case("ssh-algorithms", &["2.3.2"], Verdict::Error, "connection reset"),
        ],
        &BTreeMap::new(),
    )
}

/// Clause id → (vi, en) for every clause of the QCVN 135:2024 catalogue in the repository.
pub fn catalogue_clauses() -> Vec<(String, String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(CATALOGUE);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: toml::Table = toml::from_str(&text).unwrap();
    doc["clauses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["title_vi"].as_str().unwrap().to_string(),
                c["title_en"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A realistic full run: every catalogue clause, one case each, verdicts and kinds cycling,
/// Vietnamese case titles. The last clause gets no case at all (aggregates to not applicable).
pub fn catalogue_results() -> Results {
    let clauses = catalogue_clauses();
    let verdicts = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::Pass,
        Verdict::Inconclusive,
        Verdict::Error,
        Verdict::NotApplicable,
    ];
    let kinds = [
        CaseKind::Automated,
        CaseKind::Automated,
        CaseKind::Operator,
        CaseKind::Document,
    ];
    let mut cases = Vec::new();
    let last = clauses.len().saturating_sub(1);
    for (index, (id, title_vi, _)) in clauses.iter().enumerate() {
        if index == last {
            break;
        }
        let case_id = format!("case-{}", id.replace('.', "-"));
        let verdict = verdicts[index % verdicts.len()];
        let mut c = case(
            &case_id,
            &[id],
            verdict,
            &format!("Kết quả kiểm tra điều khoản {id}: {verdict}"),
        );
        c.kind = kinds[index % kinds.len()];
        c.title = Some(format!("Kiểm tra: {title_vi}"));
        cases.push(c);
    }
    let titles = clauses.into_iter().map(|(id, vi, en)| (id, (vi, en))).collect();
    results_from(cases, &titles)
}

pub fn report_ctx() -> ReportContext {
    ReportContext {
        lab_name: Some("Phòng thử nghiệm A".into()),
        accreditation: Some("VILAS 000".into()),
        case_set_digest: Some("sha256:abc".into()),
        ..ReportContext::default()
    }
}

/// Writes a complete bundle for `results` into `dir` (which must not exist yet).
pub fn write_bundle(dir: &Path, results: &Results, ctx: ReportContext, key: Option<&SigningKey>) -> FinishedBundle {
    let mut writer = BundleWriter::create(dir).unwrap();
    writer
        .write_file("target.toml", b"[device]\nvendor = \"Example\"\n")
        .unwrap();
    writer
        .write_definition("cases/default-password.toml", b"id = \"default-password\"\n")
        .unwrap();
    writer
        .append_event(&Event::RunStarted {
            ts: results.started.clone(),
            run_id: "run-1".into(),
            regulation: results.regulation.clone(),
            planned_cases: results.cases.iter().map(|c| c.id.clone()).collect(),
            selection: None,
            estimated_s: None,
        })
        .unwrap();
    for c in &results.cases {
        writer
            .write_exchanges(&c.id, &[serde_json::json!({"case": c.id, "request": "GET /"})])
            .unwrap();
        writer
            .append_event(&Event::CaseFinished {
                ts: results.finished.clone(),
                case: c.id.clone(),
                verdict: c.verdict,
                summary: c.summary.clone(),
                cause: c.cause.as_ref().map(|cause| cause.class),
            })
            .unwrap();
    }
    writer
        .finish(
            results,
            FinishOptions {
                signing_key: key,
                report: ctx,
            },
        )
        .unwrap()
}

pub fn new_bundle(results: &Results) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    write_bundle(&dir, results, report_ctx(), None);
    (tmp, dir)
}
