//! report.html: the bilingual (Vietnamese/English) human test report, carrying the fields an
//! ISO/IEC 17025 test report needs. Rendered with minijinja and HTML autoescape; every string
//! is also passed through [`sanitize_text`] because device text is hostile.

use std::collections::BTreeMap;
use std::path::PathBuf;

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use crate::error::EvidenceError;
use crate::fsutil::{read_bounded_following, sanitize_text, validate_relative_path};
use crate::junit::clause_sort_key;
use crate::model::{CaseKind, CaseResult, CauseClass, Results, Verdict, distinct_causes};

pub const DEFAULT_TEMPLATE: &str = include_str!("../templates/report.html.j2");
const TEMPLATE_NAME: &str = "report.html";
const MAX_TEMPLATE_BYTES: u64 = 1024 * 1024;
/// Observations can hold whole HTTP bodies; the exchanges file has them in full.
const MAX_OBSERVATION_CHARS: usize = 2000;
const MISSING: &str = "—";

/// What the lab knows that the run does not. Every field may be left out; the report then
/// prints "—". Deserialisable so a CLI can read it from a lab configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportContext {
    pub lab_name: Option<String>,
    pub lab_address: Option<String>,
    pub accreditation: Option<String>,
    pub customer: Option<String>,
    pub operator: Option<String>,
    pub approved_by: Option<String>,
    pub report_id: Option<String>,
    /// Date of issue; defaults to the local date at rendering.
    pub issue_date: Option<String>,
    /// e.g. "QCVN 135:2024/BTTTT — An toàn thông tin mạng cho camera giám sát sử dụng giao thức internet".
    pub regulation_title: Option<String>,
    /// Method reference when it differs from the regulation (e.g. a lab procedure number).
    pub method_reference: Option<String>,
    /// Deviations from the method, additions or exclusions (ISO/IEC 17025 §7.8.2.1).
    pub remarks: Option<String>,
    /// Clause id → (Vietnamese title, English title). Falls back to the titles in results.json.
    pub clause_titles: BTreeMap<String, (String, String)>,
    /// Also recorded in manifest.json by `BundleWriter::finish`.
    pub case_set_digest: Option<String>,
    /// Set by `BundleWriter::finish` from the signing key it was given.
    pub signed: bool,
    pub signer_fingerprint: Option<String>,
    /// A lab's own template (same variables as the built-in one), read at render time.
    pub template_override: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct ReportView {
    lab_name: String,
    lab_address: String,
    accreditation: String,
    customer: String,
    operator: String,
    approved_by: String,
    report_id: String,
    issue_date: String,
    regulation_title: String,
    regulation_id: String,
    method: String,
    remarks: String,
    profile: String,
    /// Where the web API was found and why, or empty when no web step ran.
    web_surface: String,
    run_id: String,
    started: String,
    finished: String,
    complete: bool,
    /// Some clause of the regulation was not tested (a `--cases` selection, an interrupted run).
    partial: bool,
    /// The case ids a partial run was limited to, comma-separated; empty for a full run.
    selection: String,
    /// How the lab chose the cases (`--clause 2.1 --skip-effect locks-account`).
    selection_criteria: String,
    /// Ids of the clauses the run tested, comma-separated.
    tested_clauses: String,
    not_tested_count: usize,
    /// Problems with the run's inputs (answers no planned case used…).
    warnings: Vec<String>,
    device: DeviceView,
    counts: Vec<CountView>,
    /// One row per distinct cause of the inconclusive and error cases: what the lab does next.
    causes: Vec<CauseView>,
    clauses: Vec<ClauseView>,
    cases: Vec<CaseView>,
    signed: bool,
    signer_fingerprint: String,
    tool_name: String,
    tool_version: String,
    case_set_digest: String,
    generated: String,
}

#[derive(Debug, Serialize)]
struct DeviceView {
    vendor: String,
    model: String,
    firmware: String,
    serial: String,
}

#[derive(Debug, Clone, Serialize)]
struct VerdictView {
    code: &'static str,
    css: String,
    vi: &'static str,
    en: &'static str,
    symbol: &'static str,
}

#[derive(Debug, Serialize)]
struct CountView {
    verdict: VerdictView,
    clauses: usize,
    cases: usize,
}

#[derive(Debug, Clone, Serialize)]
struct CauseView {
    class: &'static str,
    hint_en: String,
    hint_vi: &'static str,
    /// Ids of the cases with this cause.
    cases: Vec<CaseLink>,
}

#[derive(Debug, Clone, Serialize)]
struct CaseCauseView {
    class: &'static str,
    hint_en: String,
    hint_vi: &'static str,
}

#[derive(Debug, Serialize)]
struct ClauseView {
    id: String,
    title_vi: String,
    title_en: String,
    verdict: VerdictView,
    /// False for a clause none of whose cases ran: its verdict reads "not tested".
    tested: bool,
    cases: Vec<CaseLink>,
}

#[derive(Debug, Clone, Serialize)]
struct CaseLink {
    id: String,
    anchor: String,
    /// The case's own verdict, shown next to its id in the clause table.
    verdict: Option<VerdictView>,
    evidence: Vec<EvidenceLink>,
}

#[derive(Debug, Clone, Serialize)]
struct EvidenceLink {
    path: String,
    name: String,
    /// Only for paths that stay inside the bundle; anything else is shown, not linked.
    href: Option<String>,
}

#[derive(Debug, Serialize)]
struct CaseView {
    id: String,
    anchor: String,
    title: Option<String>,
    kind: String,
    clauses: String,
    /// Known vulnerabilities the case detects (empty for other cases).
    cves: Vec<CveView>,
    verdict: VerdictView,
    started: String,
    finished: String,
    summary: String,
    cause: Option<CaseCauseView>,
    steps: Vec<StepView>,
    /// Whether some step has observations, which the appendix prints (not the case body).
    has_observations: bool,
    evidence: Vec<EvidenceLink>,
}

#[derive(Debug, Serialize)]
struct CveView {
    id: String,
    cvss: String,
    kev: bool,
    /// Only an https:// address is linked; anything else is shown as text.
    href: Option<String>,
}

#[derive(Debug, Serialize)]
struct StepView {
    id: String,
    action: String,
    status: String,
    message: Option<String>,
    observations: Option<String>,
}

const ALL_VERDICTS: [Verdict; 5] = [
    Verdict::Pass,
    Verdict::Fail,
    Verdict::Error,
    Verdict::Inconclusive,
    Verdict::NotApplicable,
];

fn verdict_view(verdict: Verdict) -> VerdictView {
    let (vi, en, symbol) = match verdict {
        Verdict::Pass => ("Đạt", "Pass", "✔"),
        Verdict::Fail => ("Không đạt", "Fail", "✘"),
        Verdict::Error => ("Lỗi khi thử", "Error", "!"),
        Verdict::Inconclusive => ("Không kết luận được", "Inconclusive", "?"),
        Verdict::NotApplicable => ("Không áp dụng", "Not applicable", "–"),
    };
    VerdictView {
        code: verdict.as_str(),
        css: format!("v-{}", verdict.as_str()),
        vi,
        en,
        symbol,
    }
}

/// The state of a clause no case of the run tested: no verdict, so not in [`ALL_VERDICTS`].
fn not_tested_view() -> VerdictView {
    VerdictView {
        code: "not_tested",
        css: "v-not_tested".to_owned(),
        vi: "Chưa thử",
        en: "Not tested",
        symbol: "○",
    }
}

fn kind_label(kind: CaseKind) -> String {
    match kind {
        CaseKind::Automated => "Tự động / Automated".into(),
        CaseKind::Operator => "Có người vận hành / Operator-assisted".into(),
        CaseKind::Document => "Xem xét tài liệu / Document review".into(),
    }
}

fn clean(text: &str) -> String {
    sanitize_text(text)
}

fn or_missing(value: Option<&str>) -> String {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => clean(v),
        _ => MISSING.to_string(),
    }
}

fn format_time(text: Option<&str>) -> String {
    match text {
        Some(t) => match chrono::DateTime::parse_from_rfc3339(t) {
            Ok(time) => time.format("%Y-%m-%d %H:%M:%S %:z").to_string(),
            Err(_) => or_missing(Some(t)),
        },
        None => MISSING.to_string(),
    }
}

/// Percent-encodes a validated bundle-relative path for use as a relative URL.
pub(crate) fn href_for(path: &str) -> Option<String> {
    validate_relative_path(path).ok()?;
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    Some(out)
}

fn evidence_links(case: &CaseResult) -> Vec<EvidenceLink> {
    case.evidence
        .iter()
        .map(|path| EvidenceLink {
            path: clean(path),
            name: clean(path.rsplit('/').next().unwrap_or(path)),
            href: href_for(path),
        })
        .collect()
}

fn observations_text(value: &serde_json::Value) -> Option<String> {
    let empty = match value {
        serde_json::Value::Null => true,
        serde_json::Value::Object(map) => map.is_empty(),
        serde_json::Value::Array(items) => items.is_empty(),
        _ => false,
    };
    if empty {
        return None;
    }
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    let mut shown: String = text.chars().take(MAX_OBSERVATION_CHARS).collect();
    if text.chars().count() > MAX_OBSERVATION_CHARS {
        shown.push_str("\n… (truncated; full record in exchanges.jsonl)");
    }
    Some(clean(&shown))
}

fn build_view(results: &Results, ctx: &ReportContext) -> ReportView {
    let anchors: BTreeMap<&str, String> = results
        .cases
        .iter()
        .enumerate()
        .map(|(index, case)| (case.id.as_str(), format!("case-{}", index + 1)))
        .collect();
    let cases_by_id: BTreeMap<&str, &CaseResult> = results.cases.iter().map(|c| (c.id.as_str(), c)).collect();

    let mut clause_results: Vec<_> = results.clauses.iter().collect();
    clause_results.sort_by_key(|c| clause_sort_key(&c.id));
    let mut clauses: Vec<ClauseView> = clause_results
        .into_iter()
        .map(|clause| {
            let (title_vi, title_en) = match ctx.clause_titles.get(&clause.id) {
                Some((vi, en)) => (or_missing(Some(vi)), or_missing(Some(en))),
                None => (
                    or_missing(clause.title_vi.as_deref()),
                    or_missing(clause.title_en.as_deref()),
                ),
            };
            ClauseView {
                id: clean(&clause.id),
                title_vi,
                title_en,
                verdict: verdict_view(clause.verdict),
                tested: true,
                cases: clause
                    .cases
                    .iter()
                    .map(|id| CaseLink {
                        id: clean(id),
                        anchor: anchors.get(id.as_str()).cloned().unwrap_or_default(),
                        verdict: cases_by_id.get(id.as_str()).map(|c| verdict_view(c.verdict)),
                        evidence: cases_by_id
                            .get(id.as_str())
                            .map(|c| evidence_links(c))
                            .unwrap_or_default(),
                    })
                    .collect(),
            }
        })
        .collect();
    clauses.extend(results.clauses_not_tested.iter().map(|clause| {
        let (title_vi, title_en) = match ctx.clause_titles.get(&clause.id) {
            Some((vi, en)) => (or_missing(Some(vi)), or_missing(Some(en))),
            None => (
                or_missing(clause.title_vi.as_deref()),
                or_missing(clause.title_en.as_deref()),
            ),
        };
        ClauseView {
            id: clean(&clause.id),
            title_vi,
            title_en,
            verdict: not_tested_view(),
            tested: false,
            cases: Vec::new(),
        }
    }));
    clauses.sort_by_key(|c| clause_sort_key(&c.id));

    let cases = results
        .cases
        .iter()
        .enumerate()
        .map(|(index, case)| CaseView {
            id: clean(&case.id),
            anchor: format!("case-{}", index + 1),
            title: case.title.as_deref().map(clean),
            kind: kind_label(case.kind),
            clauses: clean(&case.clauses.join(", ")),
            cves: case
                .cves
                .iter()
                .map(|cve| CveView {
                    id: clean(&cve.id),
                    cvss: format!("{:.1}", cve.cvss),
                    kev: cve.kev,
                    href: Some(cve.url.trim())
                        .filter(|url| url.starts_with("https://") && !url.chars().any(char::is_whitespace))
                        .map(clean),
                })
                .collect(),
            verdict: verdict_view(case.verdict),
            started: format_time(case.started.as_deref()),
            finished: format_time(case.finished.as_deref()),
            summary: or_missing(Some(&case.summary)),
            cause: case.cause.as_ref().map(|cause| CaseCauseView {
                class: cause.class.as_str(),
                hint_en: clean(&cause.hint),
                hint_vi: cause.class.hint_vi(),
            }),
            steps: case
                .steps
                .iter()
                .map(|step| StepView {
                    id: clean(&step.id),
                    action: clean(&step.action),
                    status: step.status.as_str().to_owned(),
                    message: step.message.as_deref().map(clean),
                    observations: observations_text(&step.observations),
                })
                .collect(),
            has_observations: case
                .steps
                .iter()
                .any(|step| observations_text(&step.observations).is_some()),
            evidence: evidence_links(case),
        })
        .collect();

    let counts = ALL_VERDICTS
        .iter()
        .map(|&verdict| CountView {
            verdict: verdict_view(verdict),
            clauses: results.clauses.iter().filter(|c| c.verdict == verdict).count(),
            cases: results.cases.iter().filter(|c| c.verdict == verdict).count(),
        })
        .collect();

    let causes = cause_views(results, &anchors);

    let regulation_title = ctx
        .regulation_title
        .clone()
        .unwrap_or_else(|| results.regulation.clone());
    let method = match &ctx.method_reference {
        Some(method) => clean(method),
        None => format!("{} (hopquy)", clean(&regulation_title)),
    };
    ReportView {
        lab_name: or_missing(ctx.lab_name.as_deref()),
        lab_address: or_missing(ctx.lab_address.as_deref()),
        accreditation: or_missing(ctx.accreditation.as_deref()),
        customer: or_missing(ctx.customer.as_deref()),
        operator: or_missing(ctx.operator.as_deref()),
        approved_by: or_missing(ctx.approved_by.as_deref()),
        report_id: or_missing(ctx.report_id.as_deref().or(results.run_id.as_deref())),
        issue_date: match &ctx.issue_date {
            Some(date) => or_missing(Some(date)),
            None => chrono::Local::now().format("%Y-%m-%d").to_string(),
        },
        regulation_title: or_missing(Some(&regulation_title)),
        regulation_id: clean(&results.regulation),
        method,
        remarks: or_missing(ctx.remarks.as_deref()),
        profile: or_missing(results.profile.as_deref()),
        web_surface: results
            .web_surface
            .as_ref()
            .map(|w| {
                let pin = w
                    .certificate_sha256
                    .as_deref()
                    .map(|sha| format!("; certificate SHA-256 {sha} pinned for the run"))
                    .unwrap_or_default();
                clean(&format!("{}://…:{} — {}{pin}", w.scheme, w.port, w.reason))
            })
            .unwrap_or_default(),
        run_id: or_missing(results.run_id.as_deref()),
        started: format_time(Some(&results.started)),
        finished: format_time(Some(&results.finished)),
        complete: results.complete,
        partial: results.is_partial(),
        selection: results
            .selection
            .as_ref()
            .map(|ids| clean(&ids.join(", ")))
            .unwrap_or_default(),
        selection_criteria: results
            .selection_criteria
            .as_ref()
            .map(|c| clean(&c.describe()))
            .unwrap_or_default(),
        tested_clauses: {
            let mut ids: Vec<&str> = results.clauses.iter().map(|c| c.id.as_str()).collect();
            ids.sort_by_key(|id| clause_sort_key(id));
            clean(&ids.join(", "))
        },
        not_tested_count: results.clauses_not_tested.len(),
        warnings: results.warnings.iter().map(|w| clean(w)).collect(),
        device: DeviceView {
            vendor: or_missing(Some(&results.device.vendor)),
            model: or_missing(Some(&results.device.model)),
            firmware: or_missing(Some(&results.device.firmware)),
            serial: or_missing(results.device.serial.as_deref()),
        },
        counts,
        causes,
        clauses,
        cases,
        signed: ctx.signed,
        signer_fingerprint: or_missing(ctx.signer_fingerprint.as_deref()),
        tool_name: or_missing(Some(&results.tool.name)),
        tool_version: or_missing(Some(&results.tool.version)),
        case_set_digest: or_missing(ctx.case_set_digest.as_deref()),
        generated: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

fn cause_views(results: &Results, anchors: &BTreeMap<&str, String>) -> Vec<CauseView> {
    distinct_causes(&results.cases)
        .into_iter()
        .map(|class: CauseClass| {
            let mine: Vec<&CaseResult> = results
                .cases
                .iter()
                .filter(|c| c.cause.as_ref().is_some_and(|cause| cause.class == class))
                .collect();
            // The recorded hint, so an older bundle shows what its run said; the first case's
            // stands for the class (the runner writes the same hint for every case of it).
            let hint_en = mine
                .first()
                .and_then(|c| c.cause.as_ref())
                .map_or_else(|| class.hint().to_owned(), |cause| clean(&cause.hint));
            CauseView {
                class: class.as_str(),
                hint_en,
                hint_vi: class.hint_vi(),
                cases: mine
                    .iter()
                    .map(|c| CaseLink {
                        id: clean(&c.id),
                        anchor: anchors.get(c.id.as_str()).cloned().unwrap_or_default(),
                        verdict: None,
                        evidence: Vec::new(),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Renders report.html with the built-in template or `ctx.template_override`.
pub fn render_report(results: &Results, ctx: &ReportContext) -> Result<String, EvidenceError> {
    let source = match &ctx.template_override {
        Some(path) => {
            let bytes = read_bounded_following(path, MAX_TEMPLATE_BYTES)?;
            String::from_utf8(bytes)
                .map_err(|_| EvidenceError::Template(format!("{}: template is not UTF-8", path.display())))?
        }
        None => DEFAULT_TEMPLATE.to_string(),
    };
    let mut env = Environment::new();
    // Forced, not inferred from a file name: a lab template named *.txt must still escape.
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    // Typos in a lab's template should fail loudly, not print blanks into a signed report.
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.add_template_owned(TEMPLATE_NAME, source)
        .map_err(|e| EvidenceError::Template(describe(&e)))?;
    let template = env
        .get_template(TEMPLATE_NAME)
        .map_err(|e| EvidenceError::Template(describe(&e)))?;
    let view = build_view(results, ctx);
    template
        .render(minijinja::context! { r => Serde(&view) })
        .map_err(|e| EvidenceError::Template(describe(&e)))
}

fn describe(error: &minijinja::Error) -> String {
    match error.line() {
        Some(line) => format!("line {line}: {error}"),
        None => error.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_are_relative_and_encoded() {
        assert_eq!(
            href_for("cases/a b/x#y.json").as_deref(),
            Some("cases/a%20b/x%23y.json")
        );
        assert_eq!(href_for("javascript:alert(1)"), None);
        assert_eq!(href_for("/etc/passwd"), None);
        assert_eq!(href_for("../x"), None);
    }

    #[test]
    fn cve_cases_show_their_ids_linked_and_kev_marked() {
        let results: Results = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "regulation": "qcvn135-2024",
            "tool": {"name": "hopquy", "version": "0"},
            "device": {"vendor": "v", "model": "m", "firmware": "f"},
            "started": "2026-03-01T10:00:00+07:00", "finished": "2026-03-01T10:00:01+07:00",
            "clauses": [],
            "cases": [{"id": "cve-a", "clauses": ["2.2.1"], "kind": "automated", "verdict": "fail",
                       "summary": "s", "evidence": [],
                       "cves": [{"id": "CVE-2021-36260", "cvss": 9.8, "kev": true,
                                 "url": "https://nvd.nist.gov/vuln/detail/CVE-2021-36260"},
                                {"id": "CVE-2017-7577", "cvss": 7.5, "kev": false,
                                 "url": "javascript:alert(1)"}]}]
        }))
        .unwrap();
        let html = render_report(&results, &ReportContext::default()).unwrap();
        // Autoescape writes `/` as `&#x2f;` inside the attribute; a browser reads it back.
        let link =
            r#"<a href="https:&#x2f;&#x2f;nvd.nist.gov&#x2f;vuln&#x2f;detail&#x2f;CVE-2021-36260">CVE-2021-36260</a>"#;
        assert!(html.contains(link), "{html}");
        assert!(html.contains("CVSS 9.8 · CISA KEV"));
        assert!(html.contains("CVE-2017-7577</span> CVSS 7.5"), "shown, not linked");
        assert!(!html.contains("javascript:alert"));
    }

    #[test]
    fn missing_values_print_a_dash() {
        assert_eq!(or_missing(None), MISSING);
        assert_eq!(or_missing(Some("  ")), MISSING);
        assert_eq!(or_missing(Some("Lab")), "Lab");
    }
}
