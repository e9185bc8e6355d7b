//! The on-disk contract: results.json (schema_version 1, additive changes only) and the
//! event stream (events.jsonl). Outside tools parse these; never rename a field.

use serde::{Deserialize, Serialize};

pub const RESULTS_SCHEMA_VERSION: u32 = 1;

/// Verdict of a case or a clause. Order of the variants is not meaningful; see
/// [`aggregate`] for how clause verdicts are derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    NotApplicable,
    Inconclusive,
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NotApplicable => "not_applicable",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Error => "error",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Clause aggregation (DESIGN §3): any fail → fail; else any error → error; else any
/// inconclusive → inconclusive; else any pass → pass; else not_applicable.
/// An empty set is not_applicable here, but a clause with no case run is never given this
/// verdict: it is listed in [`Results::clauses_not_tested`] instead (see the runner).
pub fn aggregate<I: IntoIterator<Item = Verdict>>(verdicts: I) -> Verdict {
    let (mut fail, mut error, mut inconclusive, mut pass) = (false, false, false, false);
    for v in verdicts {
        match v {
            Verdict::Fail => fail = true,
            Verdict::Error => error = true,
            Verdict::Inconclusive => inconclusive = true,
            Verdict::Pass => pass = true,
            Verdict::NotApplicable => {}
        }
    }
    if fail {
        Verdict::Fail
    } else if error {
        Verdict::Error
    } else if inconclusive {
        Verdict::Inconclusive
    } else if pass {
        Verdict::Pass
    } else {
        Verdict::NotApplicable
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeviceInfo {
    pub vendor: String,
    pub model: String,
    pub firmware: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClauseResult {
    pub id: String,
    pub verdict: Verdict,
    pub cases: Vec<String>,
    /// Additive (v1): clause title, so a report can be read without the catalogue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_en: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_vi: Option<String>,
    /// Additive (v1): the distinct causes of this clause's inconclusive and error cases, in
    /// the order of [`CauseClass::ALL`], so a reader sees what to fix without opening cases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<CauseClass>,
}

/// Why a case could not be decided (inconclusive or error): one of a few fixed classes, so
/// a lab can tell "fix your target file" from "the device is odd" at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CauseClass {
    /// The target file's own credentials were not accepted.
    TargetCredentials,
    /// The manufacturer's declaration (IXIT) or its copy in the target file lacks what the
    /// case needs.
    DeclarationIncomplete,
    /// The service a case needs was not found (closed, redirected elsewhere, TLS failed).
    SurfaceNotFound,
    /// The device stayed locked.
    DeviceLocked,
    /// An operator or document step had no (usable) answer.
    AnswerMissing,
    /// The device did not answer (timeouts, refused or closed connections).
    NoAnswer,
    /// The device answered in a way the case or profile does not recognise.
    UnrecognisedAnswer,
    /// The target file narrowed the check (`port_sweep = "profile"`): what was checked
    /// held, but it cannot show the rest.
    NarrowedByTarget,
    /// A firmware case ran without the dossier's firmware image (`--firmware`).
    NoFirmwareImage,
    /// A known-vulnerability firmware case ran without an offline database (`--vulndb`).
    NoVulndb,
    /// The run had no lab network (`--lab-net`): what the camera sends was not recorded.
    NoLabNetwork,
    /// The lab network's record cannot carry the verdict: its caps were reached, or the
    /// camera sent nothing of what the case judges while it was recorded.
    CaptureIncomplete,
}

impl CauseClass {
    /// Every class, in the order summaries list them: what the lab fixes itself first.
    pub const ALL: [CauseClass; 12] = [
        CauseClass::TargetCredentials,
        CauseClass::DeclarationIncomplete,
        CauseClass::SurfaceNotFound,
        CauseClass::DeviceLocked,
        CauseClass::AnswerMissing,
        CauseClass::NoAnswer,
        CauseClass::UnrecognisedAnswer,
        CauseClass::NarrowedByTarget,
        CauseClass::NoFirmwareImage,
        CauseClass::NoVulndb,
        CauseClass::NoLabNetwork,
        CauseClass::CaptureIncomplete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CauseClass::TargetCredentials => "target-credentials",
            CauseClass::DeclarationIncomplete => "declaration-incomplete",
            CauseClass::SurfaceNotFound => "surface-not-found",
            CauseClass::DeviceLocked => "device-locked",
            CauseClass::AnswerMissing => "answer-missing",
            CauseClass::NoAnswer => "no-answer",
            CauseClass::UnrecognisedAnswer => "unrecognised-answer",
            CauseClass::NarrowedByTarget => "narrowed-by-target",
            CauseClass::NoFirmwareImage => "no-firmware-image",
            CauseClass::NoVulndb => "no-vulndb",
            CauseClass::NoLabNetwork => "no-lab-network",
            CauseClass::CaptureIncomplete => "capture-incomplete",
        }
    }

    /// The class named by its kebab-case string.
    pub fn from_name(name: &str) -> Option<CauseClass> {
        CauseClass::ALL.into_iter().find(|class| class.as_str() == name)
    }

    /// What the lab should do, in one English line.
    pub fn hint(self) -> &'static str {
        match self {
            CauseClass::TargetCredentials => {
                "check [credentials] and password_env in the target file; try `hopquy probe http HOST --user USER --password-env VAR`"
            }
            CauseClass::DeclarationIncomplete => {
                "have the manufacturer complete the declaration (IXIT) and copy it into the target file's [declared]/[device] sections, then re-run the case"
            }
            CauseClass::SurfaceNotFound => {
                "name the service in the target file, e.g. `[connection] web = \"https\"` or `ports = { http = 8080 }`"
            }
            CauseClass::DeviceLocked => {
                "wait out the lock or unlock the account on the device, then `hopquy run --resume`"
            }
            CauseClass::AnswerMissing => "answer the step in `--answers FILE`, or run on a terminal",
            CauseClass::NoAnswer => {
                "check the network path and the device's load; raise `[connection] timeout_s`; re-run"
            }
            CauseClass::UnrecognisedAnswer => {
                "compare the recorded exchange with the profile's classifiers; the profile may need an override"
            }
            CauseClass::NarrowedByTarget => {
                "the target file narrowed the check (e.g. `port_sweep = \"profile\"`): fine for a pre-test; remove it and re-run the case for certification"
            }
            CauseClass::NoFirmwareImage => "pass --firmware IMAGE (the image from the dossier)",
            CauseClass::NoVulndb => {
                "pass --vulndb PATH with --firmware (an offline OSV export: a directory of OSV .json files or osv.dev's .zip)"
            }
            CauseClass::NoLabNetwork => {
                "connect the camera to a dedicated interface and pass --lab-net IFACE; see docs/lab-network.md"
            }
            CauseClass::CaptureIncomplete => {
                "power-cycle the camera once the lab network is up, or trigger the function (update check, cloud live view) during the run; declare [declared.connectivity] timings the camera keeps; see docs/lab-network.md"
            }
        }
    }

    /// [`CauseClass::hint`] in Vietnamese, for the bilingual report.
    pub fn hint_vi(self) -> &'static str {
        match self {
            CauseClass::TargetCredentials => {
                "kiểm tra [credentials] và password_env trong tệp target; thử `hopquy probe http HOST --user USER --password-env VAR`"
            }
            CauseClass::DeclarationIncomplete => {
                "đề nghị nhà sản xuất bổ sung bản công bố (IXIT) và chép vào mục [declared]/[device] của tệp target, rồi chạy lại ca thử"
            }
            CauseClass::SurfaceNotFound => {
                "khai báo dịch vụ trong tệp target, ví dụ `[connection] web = \"https\"` hoặc `ports = { http = 8080 }`"
            }
            CauseClass::DeviceLocked => {
                "chờ hết thời gian khóa hoặc mở khóa tài khoản trên thiết bị, rồi chạy `hopquy run --resume`"
            }
            CauseClass::AnswerMissing => "trả lời bước này trong `--answers FILE`, hoặc chạy trên một terminal",
            CauseClass::NoAnswer => "kiểm tra đường mạng và tải của thiết bị; tăng `[connection] timeout_s`; chạy lại",
            CauseClass::UnrecognisedAnswer => {
                "so sánh trao đổi đã ghi với các bộ phân loại của profile; profile có thể cần ghi đè"
            }
            CauseClass::NarrowedByTarget => {
                "tệp target đã thu hẹp phép thử (ví dụ `port_sweep = \"profile\"`): đủ cho thử trước; bỏ nó và chạy lại ca thử để chứng nhận"
            }
            CauseClass::NoFirmwareImage => "truyền --firmware IMAGE (bản firmware trong hồ sơ)",
            CauseClass::NoVulndb => {
                "truyền --vulndb PATH cùng --firmware (bản xuất OSV ngoại tuyến: thư mục các tệp OSV .json hoặc tệp .zip của osv.dev)"
            }
            CauseClass::NoLabNetwork => {
                "nối camera vào một giao diện mạng riêng và chạy với --lab-net IFACE; xem docs/lab-network.md"
            }
            CauseClass::CaptureIncomplete => {
                "khởi động lại camera sau khi mạng thử nghiệm đã sẵn sàng, hoặc kích hoạt chức năng (kiểm tra cập nhật, xem trực tiếp qua đám mây) trong lúc chạy; khai báo [declared.connectivity] đúng thời gian camera tuân theo; xem docs/lab-network.md"
            }
        }
    }
}

impl std::fmt::Display for CauseClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The cause of an inconclusive or error verdict and what to do about it, as recorded (the
/// hint is stored so a bundle reads the same under a later tool version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Cause {
    pub class: CauseClass,
    pub hint: String,
}

impl Cause {
    /// The class with its standard hint.
    pub fn of(class: CauseClass) -> Cause {
        Cause {
            class,
            hint: class.hint().to_owned(),
        }
    }
}

impl From<CauseClass> for Cause {
    fn from(class: CauseClass) -> Cause {
        Cause::of(class)
    }
}

/// The distinct cause classes among `cases`, in [`CauseClass::ALL`] order.
pub fn distinct_causes<'c, I: IntoIterator<Item = &'c CaseResult>>(cases: I) -> Vec<CauseClass> {
    let mut classes: Vec<CauseClass> = cases
        .into_iter()
        .filter_map(|case| case.cause.as_ref().map(|cause| cause.class))
        .collect();
    classes.sort();
    classes.dedup();
    classes
}

/// How a case gets its evidence (`kind` in results.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    /// The harness alone produces the evidence.
    Automated,
    /// A person acts (factory reset, power cut, second sample…) and the harness checks.
    Operator,
    /// Evidence (IXIT, manual, policy) is reviewed and attached.
    Document,
}

impl CaseKind {
    pub const ALL: [CaseKind; 3] = [CaseKind::Automated, CaseKind::Operator, CaseKind::Document];

    /// The results.json string.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseKind::Automated => "automated",
            CaseKind::Operator => "operator",
            CaseKind::Document => "document",
        }
    }
}

impl std::fmt::Display for CaseKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What became of one step (`status` in results.json and in `step_finished` events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// The step ran and every expectation on it held (or it had none).
    Ok,
    /// The step ran and an expectation on it did not hold.
    FailedExpectation,
    /// The step could not make its observation, or an expectation could not be evaluated.
    Error,
    /// Not run: the verdict was already decided and the step is not `always`.
    Skipped,
}

impl StepStatus {
    pub const ALL: [StepStatus; 4] = [
        StepStatus::Ok,
        StepStatus::FailedExpectation,
        StepStatus::Error,
        StepStatus::Skipped,
    ];

    /// The results.json string.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Ok => "ok",
            StepStatus::FailedExpectation => "failed_expectation",
            StepStatus::Error => "error",
            StepStatus::Skipped => "skipped",
        }
    }

    /// Whether the step ran to an observation its expectations were checked against.
    pub fn observed(self) -> bool {
        matches!(self, StepStatus::Ok | StepStatus::FailedExpectation)
    }
}

impl std::fmt::Display for StepStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseResult {
    pub id: String,
    pub clauses: Vec<String>,
    pub kind: CaseKind,
    pub verdict: Verdict,
    pub summary: String,
    /// Bundle-relative paths of the files this verdict rests on.
    pub evidence: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// Per-step outcome, in execution order (additive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepResult>,
    /// Additive (v1): why an inconclusive or error verdict could not be decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// Additive (v1): the known vulnerabilities the case detects; a `fail` means the device
    /// still has them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cves: Vec<CveRef>,
}

/// A known vulnerability a case detects, as results.json, the report and SARIF name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CveRef {
    /// `CVE-YYYY-NNNN…`.
    pub id: String,
    /// CVSS v3.x base score.
    pub cvss: f64,
    /// Listed in CISA's Known Exploited Vulnerabilities catalogue.
    pub kev: bool,
    /// Advisory or NVD page.
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepResult {
    pub id: String,
    pub action: String,
    pub status: StepStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What the step observed (probe observations, redacted).
    #[serde(default)]
    pub observations: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Results {
    pub schema_version: u32,
    pub regulation: String,
    pub tool: ToolInfo,
    pub device: DeviceInfo,
    pub started: String,
    pub finished: String,
    pub clauses: Vec<ClauseResult>,
    pub cases: Vec<CaseResult>,
    /// Additive: the profile used, the target host, the run id and whether the run was
    /// interrupted before every planned case finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default)]
    pub complete: bool,
    /// Additive: where the web API was found for this run and why (the discovery's exchanges
    /// are in the first web case's evidence). Absent when no web step ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_surface: Option<WebSurfaceInfo>,
    /// Additive: how the profile was chosen when the target said `profile = "auto"`: the
    /// answers read before the suite, the profile they point at and why. Absent when the
    /// target named its profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_identified: Option<ProfileIdentified>,
    /// Additive: the firmware image the run was given (`--firmware`); its report and SBOM
    /// are `firmware/report.json` and `firmware/sbom.cdx.json`. Absent without an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<FirmwareImageInfo>,
    /// Additive (v1): the camera's own network the run served (`--lab-net`); its record and
    /// capture are `labnet/record.json` and `labnet/capture.pcap`. Absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lab_net: Option<LabNetInfo>,
    /// Additive (v1): what a reader should know about the run's inputs, one sentence each
    /// (e.g. an answer in `--answers` that no planned case used).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Additive (v1): the case ids a partial run was limited to (`--cases`, or the rerun of
    /// such a run), sorted. Absent when the run planned every case of the regulation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<Vec<String>>,
    /// Additive (v1): the regulation's clauses none of whose cases ran (a `--cases`
    /// selection, an interrupted run). They are *not tested*: neither passed nor not
    /// applicable. They are kept out of `clauses` so that a reader written before this field
    /// claims nothing about them (a new verdict string would stop such a reader; a flag it
    /// does not know would leave it reading `not_applicable`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clauses_not_tested: Vec<UntestedClause>,
    /// Additive (v1): how the lab chose the cases of a partial run (`--cases`, `--clause`,
    /// `--kind`, `--method`, `--effect`, `--skip-effect`, `--skip`), as given; `selection`
    /// holds the case ids it resolved to. Absent when nothing was filtered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection_criteria: Option<SelectionCriteria>,
}

/// A run's selection as the lab gave it. Empty lists select everything; every non-empty
/// list must hold for a case to run, then `skip_effects` and `skip` take cases out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectionCriteria {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cases: Vec<String>,
    /// Clause ids or clause-group prefixes (`2.1` selects 2.1.x).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clauses: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// `read-only`, `locks-account`, `configures`, `destructive`, `needs-operator`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_effects: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<String>,
}

impl SelectionCriteria {
    /// One line for the terminal and the report: `--clause 2.1 --skip-effect locks-account`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (flag, values) in [
            ("--cases", &self.cases),
            ("--clause", &self.clauses),
            ("--kind", &self.kinds),
            ("--method", &self.methods),
            ("--effect", &self.effects),
            ("--skip-effect", &self.skip_effects),
            ("--skip", &self.skip),
        ] {
            if !values.is_empty() {
                parts.push(format!("{flag} {}", values.join(",")));
            }
        }
        parts.join(" ")
    }
}

impl Results {
    /// Whether some clause of the regulation was not tested by this run.
    pub fn is_partial(&self) -> bool {
        self.selection.is_some() || !self.clauses_not_tested.is_empty()
    }
}

/// A clause of the regulation that no case of the run tested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UntestedClause {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_en: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_vi: Option<String>,
}

/// The lab network a run served (`hopquy run --lab-net`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LabNetInfo {
    /// The camera's interface on the test machine.
    pub iface: String,
    /// `sinkhole` or `route`.
    pub mode: String,
    /// Bundle-relative path of the record (`labnet/record.json`).
    pub record: String,
    /// SHA-256 (hex) of the record file.
    pub sha256: String,
    /// Bundle-relative path of the capture, when one was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcap: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcap_sha256: Option<String>,
}

/// The firmware image a run was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FirmwareImageInfo {
    /// File name only.
    pub name: String,
    pub sha256: String,
    pub size: u64,
}

/// The web API surface a run used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WebSurfaceInfo {
    /// `http` or `https`.
    pub scheme: String,
    pub port: u16,
    /// Why this surface (what the HTTP and HTTPS ports did), in one sentence.
    pub reason: String,
    /// SHA-256 (hex) of the HTTPS leaf certificate pinned for the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_sha256: Option<String>,
}

/// What `profile = "auto"` concluded (results.json `profile_identified`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileIdentified {
    /// The profile the run used; absent when the device is unidentified (nothing ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    pub outcome: IdentifyOutcome,
    pub confidence: IdentifyConfidence,
    /// Why this profile (or none), in one sentence.
    pub reason: String,
    /// One entry per answer read, in the order they were read.
    pub evidence: Vec<IdentifyEvidence>,
    /// Bundle-relative path of the identification's exchanges (`identify/exchanges.jsonl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchanges: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentifyOutcome {
    /// The markers named one profile.
    Identified,
    /// No marker, or markers of several profiles, but ONVIF answered: the generic profile.
    OnvifFallback,
    /// No marker, or markers of several profiles, and no ONVIF answer: nothing is guessed.
    Unidentified,
}

impl IdentifyOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentifyOutcome::Identified => "identified",
            IdentifyOutcome::OnvifFallback => "onvif_fallback",
            IdentifyOutcome::Unidentified => "unidentified",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentifyConfidence {
    /// Markers of two or more kinds (for example the RTSP server and the ONVIF manufacturer).
    High,
    /// One kind of marker.
    Medium,
    /// A fallback or nothing.
    Low,
}

impl IdentifyConfidence {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentifyConfidence::High => "high",
            IdentifyConfidence::Medium => "medium",
            IdentifyConfidence::Low => "low",
        }
    }
}

/// One answer identification read: where, what it said, and which profiles it points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifyEvidence {
    /// `http_server`, `http_body`, `realm`, `rtsp_server` or `onvif_manufacturer`.
    pub source: String,
    /// The request that got the answer (`GET / on https:443`).
    pub request: String,
    /// What the answer held for this source (a header value, a realm, a manufacturer; a
    /// page's size), or why there was no answer.
    pub observed: String,
    /// Profiles whose markers occur in it, each with the marker (`simcam: hopquy-sim`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<String>,
}

/// One line of events.jsonl. Reporters and progress displays consume the same stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        ts: String,
        run_id: String,
        regulation: String,
        planned_cases: Vec<String>,
        /// Additive: the lab's selection of a partial run, so a resumed run keeps it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        selection: Option<SelectionCriteria>,
        /// Additive: the plan's estimate of the whole run in seconds (machine time; an
        /// operator's answers come on top).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        estimated_s: Option<u64>,
    },
    CaseStarted {
        ts: String,
        case: String,
        index: usize,
        total: usize,
        /// Additive: the plan's estimate of this case in seconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        estimated_s: Option<u64>,
    },
    StepFinished {
        ts: String,
        case: String,
        step: String,
        status: StepStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    OperatorPrompt {
        ts: String,
        case: String,
        step: String,
    },
    CaseFinished {
        ts: String,
        case: String,
        verdict: Verdict,
        summary: String,
        /// Additive: why an inconclusive or error verdict could not be decided.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<CauseClass>,
    },
    RunFinished {
        ts: String,
        complete: bool,
    },
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Verdict::*;
    use super::*;

    /// The strings a variant of `$defs/<name>` may take in a generated schema, whether
    /// schemars wrote them as `enum` or as `oneOf` of `const`s.
    fn schema_strings(schema: &str, name: &str) -> Vec<String> {
        let schema: serde_json::Value = serde_json::from_str(schema).unwrap();
        let def = &schema["$defs"][name];
        let strings: Vec<String> = match (def["enum"].as_array(), def["oneOf"].as_array()) {
            (Some(values), _) => values.iter().map(|v| v.as_str().unwrap().to_owned()).collect(),
            (None, Some(variants)) => variants
                .iter()
                .map(|v| v["const"].as_str().unwrap().to_owned())
                .collect(),
            (None, None) => panic!("$defs/{name} lists no strings: {def}"),
        };
        assert!(!strings.is_empty(), "$defs/{name}");
        strings
    }

    /// Every variant serialises to the string the published schema lists, that string reads
    /// back as the same variant, and the strings are those results.json has always carried.
    fn round_trip<T>(variants: &[T], as_str: fn(&T) -> &'static str, schema: &[String], literals: &[&str])
    where
        T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let names: Vec<&str> = variants.iter().map(as_str).collect();
        assert_eq!(names, literals, "variants and their strings");
        assert_eq!(schema, literals, "strings in the schema");
        for v in variants {
            let text = serde_json::to_value(v).unwrap();
            assert_eq!(text, serde_json::Value::String(as_str(v).to_owned()), "{v:?}");
            let back: T = serde_json::from_value(text).unwrap();
            assert_eq!(&back, v);
        }
    }

    const RESULTS_SCHEMA: &str = include_str!("../../../docs/schemas/results.schema.json");
    const EVENT_SCHEMA: &str = include_str!("../../../docs/schemas/event.schema.json");

    #[test]
    fn step_status_strings_are_the_schema_and_unchanged() {
        let literals = ["ok", "failed_expectation", "error", "skipped"];
        for schema in [RESULTS_SCHEMA, EVENT_SCHEMA] {
            round_trip(
                &StepStatus::ALL,
                |s| s.as_str(),
                &schema_strings(schema, "StepStatus"),
                &literals,
            );
        }
        assert!(serde_json::from_str::<StepStatus>("\"passed\"").is_err());
    }

    #[test]
    fn case_kind_strings_are_the_schema_and_unchanged() {
        round_trip(
            &CaseKind::ALL,
            |k| k.as_str(),
            &schema_strings(RESULTS_SCHEMA, "CaseKind"),
            &["automated", "operator", "document"],
        );
    }

    #[test]
    fn clause_aggregation_follows_the_design_order() {
        // any fail → fail; else error; else inconclusive; else pass; else not_applicable.
        let table: &[(&[Verdict], Verdict)] = &[
            (&[], NotApplicable),
            (&[NotApplicable, NotApplicable], NotApplicable),
            (&[Pass, NotApplicable], Pass),
            (&[Pass, Inconclusive], Inconclusive),
            (&[Inconclusive, Error, Pass], Error),
            (&[Pass, Error, Fail, Inconclusive], Fail),
            (&[Fail], Fail),
        ];
        for (input, want) in table {
            assert_eq!(aggregate(input.iter().copied()), *want, "{input:?}");
        }
    }
}
