//! The user-facing file formats, as serde structs. Every struct denies unknown keys: a key
//! the user wrote and we ignored would be a silently dropped instruction.
//!
//! Fields whose value may be a template (`"${params.attempts}"`, `"${steps.burst.status}"`)
//! are `toml::Value`; the runner resolves them. Semantic checks (operators, actions, template
//! references, op names) live in `check/`, with spans; a case's steps stay flat here
//! ([`StepFile`]) and become typed actions in `typed.rs` once checked.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use toml::Spanned;

// ---------------------------------------------------------------------------------------
// Case
// ---------------------------------------------------------------------------------------

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
    pub fn as_str(self) -> &'static str {
        match self {
            CaseKind::Automated => "automated",
            CaseKind::Operator => "operator",
            CaseKind::Document => "document",
        }
    }
}

/// TS 103 701: a conceptual case judges the declared design (IXIT), a functional case the
/// device's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Conceptual,
    Functional,
}

/// What running the case does to the device; the scheduler orders cases by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// Reads only. Runs first.
    ReadOnly,
    /// May lock the account or the source address for a while. Runs after read-only cases.
    LocksAccount,
    /// Changes configuration and restores it.
    Configures,
    /// Its only proof could disturb the device (a request a vulnerable firmware executes, or
    /// one that may crash it): only with `--allow-destructive`, after every non-destructive case.
    Intrusive,
    /// Reboot, factory reset, firmware upload: only with `--allow-destructive`. Runs last.
    Destructive,
}

/// A fact a case measures for the rest of the run; such a case is scheduled before the
/// other cases of its effect class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Measures {
    /// Each `login` burst of wrong passwords, the `login` with the target's credentials after
    /// it and the `recover` after that (same surface) measure whether and how long that
    /// surface locks.
    Lockout,
}

/// How a case relates to the camera's own network (`hopquy run --lab-net IFACE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LabNetUse {
    /// The case judges what the camera sent on the lab network: it runs only in a run with
    /// `--lab-net`, and is left out of one without (its operator counterpart runs there).
    Required,
    /// The operator's manual capture that a lab network records instead: the case runs only
    /// in a run without `--lab-net`.
    Replaced,
}

impl LabNetUse {
    /// Whether a case with this use belongs in a run that has (or lacks) a lab network.
    pub fn runs_with(use_: Option<LabNetUse>, lab_net: bool) -> bool {
        match use_ {
            None => true,
            Some(LabNetUse::Required) => lab_net,
            Some(LabNetUse::Replaced) => !lab_net,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Draft,
    Stable,
    Deprecated,
}

// A case file as serde reads it and the JSON Schema describes it: steps are still flat.
// [`Case`] is what it means once checked. (A doc comment here would enter the schema.)
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Case")]
pub struct CaseFile {
    /// Stable identifier; equals the file stem.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    pub title: String,
    pub title_vi: String,
    pub kind: CaseKind,
    pub method: Method,
    #[serde(default = "default_effect")]
    pub effect: Effect,
    #[serde(default = "default_status")]
    pub status: CaseStatus,
    /// What the run learns from this case for later ones: `lockout` (its bursts measure each
    /// surface's lock, which paces the credential dictionaries that run after it).
    #[serde(default)]
    pub measures: Option<Measures>,
    /// `required`: the case judges the camera's traffic on the lab network and runs only with
    /// `hopquy run --lab-net`; `replaced`: an operator capture the lab network makes
    /// unnecessary, run only without it. Absent: the case runs either way.
    #[serde(default)]
    pub lab_net: Option<LabNetUse>,
    pub since: String,
    /// Regulation id → clause ids, e.g. `qcvn135-2024 = ["2.1.5"]`.
    #[schemars(with = "BTreeMap<String, Vec<String>>")]
    pub clauses: BTreeMap<String, Vec<Spanned<String>>>,
    /// Profile operations this case requires; a profile lacking one makes the case
    /// not_applicable (with that reason), never a pass.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub needs: Vec<Spanned<String>>,
    /// What the case checks and why, for `hopquy explain` and the report.
    pub summary: String,
    #[serde(default)]
    pub summary_vi: Option<String>,
    /// Summary recorded when every expectation holds.
    #[serde(default)]
    pub pass_summary: Option<String>,
    #[serde(default)]
    pub params: BTreeMap<String, Param>,
    pub steps: Vec<StepFile>,
    /// Simulated-camera setups the case must pass and must fail (`"hardened"`,
    /// `"hardened+no-lockout"`, `"legacy-telnet"`).
    #[serde(default)]
    pub sim: Option<SimFixtures>,
    /// References (EN 303 645 provision, TS 103 701 test case, Decision 724 item).
    #[serde(default)]
    pub references: Vec<String>,
    /// Known vulnerabilities the case detects (`[[cves]]`): a known-vulnerability case names
    /// each CVE it decides, so `hopquy list --cve`, the report and SARIF can show it.
    #[serde(default)]
    pub cves: Vec<CveEntry>,
}

/// One known vulnerability a case detects. Checked in `check/case.rs`: the id's form, the
/// score's range, a `https://` URL, no CVE listed twice.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CveEntry {
    /// `CVE-YYYY-NNNN…`, as NVD spells it.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// CVSS v3.x base score (0.0–10.0), as NVD gives it.
    #[schemars(with = "f64")]
    pub cvss: Spanned<f64>,
    /// Whether CISA's Known Exploited Vulnerabilities catalogue lists it.
    pub kev: bool,
    /// Affected products and firmware ranges, where public (free text, with its source).
    #[serde(default)]
    pub affected: Option<String>,
    /// Advisory or NVD page; SARIF rules point their `helpUri` at it.
    #[schemars(with = "String")]
    pub url: Spanned<String>,
}

fn default_effect() -> Effect {
    Effect::ReadOnly
}
fn default_status() -> CaseStatus {
    CaseStatus::Stable
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Param {
    /// Default value (e.g. from Decision 724).
    #[schemars(with = "serde_json::Value")]
    pub default: toml::Value,
    /// Dotted path into the target's `[declared]` table that overrides the default,
    /// e.g. `lockout.attempts`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub declared: Option<Spanned<String>>,
    #[serde(default)]
    pub description: Option<String>,
    /// Where the default comes from.
    #[serde(default)]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimFixtures {
    #[schemars(with = "Vec<String>")]
    pub pass: Vec<Spanned<String>>,
    #[schemars(with = "Vec<String>")]
    pub fail: Vec<Spanned<String>>,
}

/// One step. `action` selects the probe or interaction; the other keys are its parameters.
/// Which parameters an action accepts is checked in validation (with the span of the
/// offending key), so a misplaced parameter is an error, not ignored.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Step")]
pub struct StepFile {
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    #[schemars(with = "String")]
    pub action: Spanned<String>,
    /// Run this step even after an earlier step decided the verdict (clean-up: wait for a
    /// lockout to expire, restore a setting).
    #[serde(default)]
    pub always: bool,
    /// What a transport failure in this step means: `error` (default) or `inconclusive`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub on_error: Option<Spanned<String>>,

    // --- http / login / onvif ---
    /// Profile operation to call (`identity`, `login-check`, `users`…).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub op: Option<Spanned<String>>,
    /// Raw request instead of a profile op.
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    /// http: a request-target sent byte for byte (`../../etc/passwd`), instead of `path`/`op`;
    /// anonymous only.
    #[serde(default)]
    pub request_target: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// http: a regular expression whose capture groups match secrets the answer carries
    /// (a disclosure bug's proof); they are replaced by `[REDACTED]` before anything is kept.
    #[serde(default)]
    pub redact: Option<crate::Pattern>,
    /// Named port from the profile/target (`http`, `https`, `rtsp`, `ssh`…), or a number.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub port: Option<toml::Value>,
    /// login / recover: the authentication surface, `http` (default), `rtsp`, `onvif`, `telnet` or `ssh`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub surface: Option<Spanned<String>>,
    /// `none`, `basic`, `digest`, `profile` (the op's scheme; default).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub auth: Option<Spanned<String>>,
    /// Credential set: `none`, `target`, `wrong-password`, `unknown-user`, or
    /// `dictionary:<file stem in test-cases/data>`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub credentials: Option<Spanned<String>>,
    /// Repeat the action N times (integer or template).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub repeat: Option<toml::Value>,
    /// Open a fresh connection for each attempt (defeats per-session lockouts).
    #[serde(default)]
    pub fresh_connection: Option<bool>,
    /// Stop a dictionary or repeat loop at the first accepted credential.
    #[serde(default)]
    pub stop_on_accept: Option<bool>,
    /// Pause between attempts, milliseconds.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub interval_ms: Option<toml::Value>,

    // --- wait ---
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub seconds: Option<toml::Value>,

    // --- lab-net ---
    /// lab-net: seconds to let pass after the step's operation, before the record is read.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub wait_s: Option<toml::Value>,
    /// lab-net: before the record is read, wait until the lab network has been up this many
    /// seconds (so a snapshot covers the camera's first contacts).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub recorded_s: Option<toml::Value>,

    // --- ports / tls / ssh / rtsp / telnet ---
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub ports: Option<toml::Value>,
    /// RTSP paths or the name of a dictionary.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub paths: Option<toml::Value>,
    /// Free-form action options validated by the action (e.g. `versions` for tls).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub options: Option<toml::Table>,

    // --- operator / document ---
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub prompt_vi: Option<String>,
    /// `confirm`, `yes-no`, `text`, `attachment`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub answer: Option<Spanned<String>>,
    /// The step is destructive (needs `--allow-destructive`).
    #[serde(default)]
    pub destructive: Option<bool>,

    /// Assertions over this step's observations, checked in order.
    #[serde(default)]
    pub expect: Vec<Expectation>,
}

impl StepFile {
    /// The keys beyond `id` and `action` this step was written with.
    pub fn present_keys(&self) -> Vec<&'static str> {
        let present: [(&'static str, bool); 27] = [
            ("always", self.always),
            ("on_error", self.on_error.is_some()),
            ("op", self.op.is_some()),
            ("method", self.method.is_some()),
            ("path", self.path.is_some()),
            ("request_target", self.request_target.is_some()),
            ("body", self.body.is_some()),
            ("headers", self.headers.is_some()),
            ("redact", self.redact.is_some()),
            ("port", self.port.is_some()),
            ("surface", self.surface.is_some()),
            ("auth", self.auth.is_some()),
            ("credentials", self.credentials.is_some()),
            ("repeat", self.repeat.is_some()),
            ("fresh_connection", self.fresh_connection.is_some()),
            ("stop_on_accept", self.stop_on_accept.is_some()),
            ("interval_ms", self.interval_ms.is_some()),
            ("seconds", self.seconds.is_some()),
            ("wait_s", self.wait_s.is_some()),
            ("recorded_s", self.recorded_s.is_some()),
            ("ports", self.ports.is_some()),
            ("paths", self.paths.is_some()),
            ("options", self.options.is_some()),
            ("prompt", self.prompt.is_some()),
            ("prompt_vi", self.prompt_vi.is_some()),
            ("answer", self.answer.is_some()),
            ("destructive", self.destructive.is_some()),
        ];
        present
            .into_iter()
            .filter(|(_, given)| *given)
            .map(|(key, _)| key)
            .collect()
    }
}

/// What happens to the case when an expectation does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Otherwise {
    Fail,
    Inconclusive,
    NotApplicable,
    Error,
}

/// Why an unmet expectation leaves the case undecided: the class the report and the terminal
/// show with what to do. Only meaningful with `otherwise = "inconclusive"` or `"error"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// The target file's own credentials were not accepted.
    TargetCredentials,
    /// The manufacturer's declaration (IXIT), or its copy in the target file, lacks what the
    /// case needs.
    DeclarationIncomplete,
    /// The service the case needs was not found (closed, redirected elsewhere, TLS failed).
    SurfaceNotFound,
    /// The device stayed locked.
    DeviceLocked,
    /// An operator or document step had no usable answer.
    AnswerMissing,
    /// The device did not answer (timeouts, refused or closed connections).
    NoAnswer,
    /// The device answered in a way the case or profile does not recognise.
    UnrecognisedAnswer,
    /// The target file narrowed the check (`port_sweep = "profile"`).
    NarrowedByTarget,
    /// The run was given no firmware image (`--firmware`).
    NoFirmwareImage,
    /// The run was given no offline vulnerability database (`--vulndb`).
    NoVulndb,
    /// The run had no lab network (`--lab-net`), so nothing the camera sent was recorded.
    NoLabNetwork,
    /// The lab network's record cannot carry the verdict (caps reached, or nothing of what
    /// the case judges was sent while it was recorded).
    CaptureIncomplete,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::TargetCredentials => "target-credentials",
            Cause::DeclarationIncomplete => "declaration-incomplete",
            Cause::SurfaceNotFound => "surface-not-found",
            Cause::DeviceLocked => "device-locked",
            Cause::AnswerMissing => "answer-missing",
            Cause::NoAnswer => "no-answer",
            Cause::UnrecognisedAnswer => "unrecognised-answer",
            Cause::NarrowedByTarget => "narrowed-by-target",
            Cause::NoFirmwareImage => "no-firmware-image",
            Cause::NoVulndb => "no-vulndb",
            Cause::NoLabNetwork => "no-lab-network",
            Cause::CaptureIncomplete => "capture-incomplete",
        }
    }
}

/// `that` names an observation (dotted path into the step's observations); exactly one
/// operator key compares it. Values may be templates.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    #[schemars(with = "String")]
    pub that: Spanned<String>,
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub equals: Option<toml::Value>,
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub not_equals: Option<toml::Value>,
    #[serde(default)]
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub one_of: Option<Vec<toml::Value>>,
    #[serde(default)]
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub none_of: Option<Vec<toml::Value>>,
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub less_than: Option<toml::Value>,
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub at_most: Option<toml::Value>,
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub greater_than: Option<toml::Value>,
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub at_least: Option<toml::Value>,
    /// Substring (string observation) or element (array observation).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub contains: Option<toml::Value>,
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub not_contains: Option<toml::Value>,
    /// Regular expression.
    #[serde(default)]
    pub matches: Option<crate::Pattern>,
    #[serde(default)]
    pub not_matches: Option<crate::Pattern>,
    /// Array/string/object is empty (true) or non-empty (false).
    #[serde(default)]
    pub empty: Option<bool>,
    /// The observation is present (true) or absent/null (false).
    #[serde(default)]
    pub exists: Option<bool>,
    /// The version read from the observation is lower than this one (numbers compared in
    /// order: `V5.4.0 build 160530` < `5.5.800 build 210628`). For checks decided by the
    /// firmware the device reports when no harmless request proves the flaw.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub version_below: Option<toml::Value>,
    /// The version read from the observation is this one or higher.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub version_at_least: Option<toml::Value>,
    /// With `version_below`/`version_at_least`: a regular expression whose capture groups
    /// (joined by spaces; the whole match without groups) pick the version out of the
    /// observation, e.g. `'build\s*(\d{6})'`. Without it the whole observation is read.
    #[serde(default)]
    pub version_from: Option<crate::Pattern>,
    /// Default `fail`.
    #[serde(default)]
    pub otherwise: Option<Otherwise>,
    /// Why the case is undecided when this expectation does not hold (with `otherwise =
    /// "inconclusive"` or `"error"`); default `unrecognised-answer`.
    #[serde(default)]
    pub cause: Option<Cause>,
    /// Why a mismatch matters; becomes the case summary when it decides the verdict.
    pub because: String,
}

// ---------------------------------------------------------------------------------------
// Profile
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    pub name: String,
    pub description: String,
    /// Parent profile (file stem); child keys override parent keys, ops merge by name.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub inherits: Option<Spanned<String>>,
    #[serde(default)]
    pub ports: BTreeMap<String, u16>,
    #[serde(default)]
    pub ops: BTreeMap<String, Op>,
    #[serde(default)]
    pub rtsp: Option<RtspBinding>,
    /// Ports that must be closed on this family unless declared (debug/vendor services).
    #[serde(default)]
    pub risky_ports: Option<Vec<u16>>,
    /// The vendor's publicly documented factory default account(s), at most two, tried once
    /// each by `credentials = "factory-default"`. Absent: inherited; `[]`: the family has no
    /// documented default (the case is not applicable).
    #[serde(default)]
    pub factory_default: Option<Vec<FactoryDefault>>,
}

/// Most factory default pairs a profile may list: the inspection suite tries each once on a
/// camera in service, always below its lockout threshold.
pub const MAX_FACTORY_DEFAULTS: usize = 2;

/// One documented factory default account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FactoryDefault {
    pub user: String,
    pub password: String,
    /// Where the vendor documents it (a manual, an advisory), and for which firmware.
    #[serde(default)]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Op {
    /// Named port (`http`, `https`, `onvif`…). Default `http`.
    #[serde(default)]
    pub port: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    pub path: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    /// `digest`, `basic`, `none`, `any` (whatever the device challenges with).
    #[serde(default)]
    pub auth: Option<String>,
    /// How to read the response as a login outcome.
    #[serde(default)]
    pub accepted: Option<Classifier>,
    #[serde(default)]
    pub rejected: Option<Classifier>,
    #[serde(default)]
    pub locked: Option<Classifier>,
    #[serde(default)]
    pub destructive: Option<bool>,
    #[serde(default)]
    pub description: Option<String>,
    /// Regular expression whose first capture group reads the id of the object a successful
    /// answer created (`create-user`: `<id>\s*([0-9]+)\s*</id>`); `delete-user` refers to it
    /// as `${user.id}`.
    #[serde(default)]
    pub created_id: Option<String>,
}

/// Matches a response; all given conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Classifier {
    #[serde(default)]
    pub status: Vec<u16>,
    #[serde(default)]
    pub body_contains: Option<String>,
    #[serde(default)]
    pub body_matches: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RtspBinding {
    pub paths: Vec<String>,
    /// How this family's RTSP server answers a locked account (status, body), when it says
    /// so at all; without it a locked account reads as a plain rejection.
    #[serde(default)]
    pub locked: Option<Classifier>,
}

// ---------------------------------------------------------------------------------------
// Target
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    pub device: DeviceSection,
    pub connection: ConnectionSection,
    pub credentials: CredentialsSection,
    #[serde(default)]
    pub declared: Declared,
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceSection {
    pub vendor: String,
    pub model: String,
    pub firmware: String,
    #[serde(default)]
    pub serial: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSection {
    pub host: String,
    /// A file stem in profiles/, or a path to a profile file.
    #[schemars(with = "String")]
    pub profile: Spanned<String>,
    #[serde(default)]
    pub ports: BTreeMap<String, u16>,
    /// Open connections at once (default 4).
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Minimum gap between new connections, milliseconds (default 0).
    #[serde(default)]
    pub min_connect_gap_ms: Option<u64>,
    /// Per-exchange timeout, seconds (default 10).
    #[serde(default)]
    pub timeout_s: Option<u64>,
    /// Where the web API lives: `auto` (default: the profile's HTTP port, or its HTTPS port
    /// when HTTP redirects to HTTPS, refuses or is closed), `http` or `https`.
    #[serde(default)]
    pub web: Option<WebPreference>,
    /// What a full port sweep covers: `full` (default: 1–65535) or `profile` (the declared,
    /// the profile's and the common camera ports — for a pre-test on a device that needs a
    /// gentle `min_connect_gap_ms`; the sweep case then cannot pass).
    #[serde(default)]
    pub port_sweep: Option<PortSweep>,
    /// Ports on the target's address that are not the device's (the test machine's own
    /// listeners on a shared address, such as the simulator's loopback): sweeps skip them and
    /// record that they did.
    #[serde(default)]
    pub exclude_ports: Vec<u16>,
}

/// The `[connection] port_sweep` choice of a target file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PortSweep {
    #[default]
    Full,
    Profile,
}

/// The `[connection] web` choice of a target file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebPreference {
    #[default]
    Auto,
    Http,
    Https,
}

impl WebPreference {
    pub fn as_str(self) -> &'static str {
        match self {
            WebPreference::Auto => "auto",
            WebPreference::Http => "http",
            WebPreference::Https => "https",
        }
    }
}

// Debug is written by hand: a derived one would print the literal password.
#[derive(Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsSection {
    pub username: String,
    /// Literal password. Prefer `password_env`. Never written to a bundle.
    #[serde(default)]
    pub password: Option<String>,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
}

impl std::fmt::Debug for CredentialsSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsSection")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("password_env", &self.password_env)
            .finish()
    }
}

/// Every dotted path into [`Declared`] that `[params.X] declared = "…"` and
/// `${declared.…}` may name. Kept beside the struct; a test checks they agree.
pub const DECLARED_FIELDS: &[&str] = &[
    "open_tcp_ports",
    "lockout",
    "lockout.attempts",
    "lockout.window_s",
    "lockout.duration_s",
    "password_policy",
    "password_policy.min_length",
    "password_policy.required_classes",
    "destinations",
    "connectivity",
    "connectivity.contacts_within_s",
    "connectivity.outage_noticed_within_s",
    "connectivity.reconnects_within_s",
    "connectivity.max_connects_per_s",
    "data_storage",
    "data_storage.location",
];

/// Longest password a target may declare as its minimum (the `password-policy` action's bound).
pub const MAX_DECLARED_PASSWORD_LENGTH: u32 = 64;

/// What stands in for a secret in everything stored or shown.
pub const REDACTED: &str = "[REDACTED]";

/// Character classes a password rule may require (`[declared] password_policy.required_classes`).
pub const PASSWORD_CLASSES: &[&str] = &["upper", "lower", "digit", "special"];

/// The manufacturer's declarations (IXIT): the oracle functional cases compare against.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Declared {
    #[serde(default)]
    pub open_tcp_ports: Option<Vec<u16>>,
    #[serde(default)]
    pub lockout: Option<Lockout>,
    #[serde(default)]
    pub password_policy: Option<PasswordPolicy>,
    /// The services the device contacts (its associated services): what the lab network's
    /// record is compared with. An empty list declares that the device contacts nothing.
    #[serde(default)]
    pub destinations: Option<Vec<DeclaredDestination>>,
    /// How the device uses its network (IXIT for EN 303 645 5.3 and 5.9): what the
    /// lab-network cases wait for and the reconnection rate they allow.
    #[serde(default)]
    pub connectivity: Option<Connectivity>,
    /// Where the device is set, for the run, to keep its data (QCVN 11 topic T08): what the
    /// lab network's record of foreign destinations is judged against.
    #[serde(default)]
    pub data_storage: Option<DataStorage>,
}

/// Where the device keeps its data, as set for the run.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataStorage {
    pub location: StorageLocation,
}

/// `local`: on the device or the site's own recorder (SD card, NVR), `vietnam`: on servers in
/// Vietnam. Either way no data is meant to leave the country; no other value is a claim a
/// lab-network case can judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StorageLocation {
    /// SD card, NVR or other storage on the site.
    Local,
    /// Servers located in Vietnam.
    Vietnam,
}

/// The device's network timings, as its manufacturer declares them. Each bounds a wait of a
/// lab-network case (at most 600 s, the `lab-net` step's bound); without a declaration the
/// case's default applies.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Connectivity {
    /// Seconds after its network comes up within which the device contacts its associated
    /// services (cloud, update check, telemetry).
    #[serde(default)]
    pub contacts_within_s: Option<u32>,
    /// Seconds the device needs to notice a lost uplink (its keep-alive interval).
    #[serde(default)]
    pub outage_noticed_within_s: Option<u32>,
    /// Seconds after the uplink returns within which the device is back with its services.
    #[serde(default)]
    pub reconnects_within_s: Option<u32>,
    /// Most TCP connection attempts the device makes in any one second while reconnecting.
    #[serde(default)]
    pub max_connects_per_s: Option<u32>,
}

/// One associated service the manufacturer declares: a host name or a network (exactly
/// one), what it is for, where it is, and how the device speaks to it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclaredDestination {
    /// Host name the device resolves (`cloud.example.com`; `*.example.com` for every name
    /// below it).
    #[serde(default)]
    pub host: Option<String>,
    /// Network the device connects to by address (`203.0.113.0/24`, or one address).
    #[serde(default)]
    pub network: Option<String>,
    /// What the service is for, in the manufacturer's words (`firmware updates`,
    /// `telemetry`, `cloud video`…).
    pub purpose: String,
    /// Where the service is, as an ISO 3166-1 alpha-2 code (`VN`).
    pub country: String,
    /// How the device speaks to it (`https`, `mqtts`, `ntp`…).
    pub protocol: String,
}

/// The password rule the device declares it enforces (IXIT 1-AuthMech); without it cases use
/// Decision 724 2b: at least 8 characters with upper case, lower case, a digit and a special
/// character.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordPolicy {
    /// Shortest password the device accepts.
    #[serde(default)]
    pub min_length: Option<u32>,
    /// Classes every password must contain: `upper`, `lower`, `digit`, `special`.
    #[serde(default)]
    pub required_classes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lockout {
    #[serde(default)]
    pub attempts: Option<u32>,
    #[serde(default)]
    pub window_s: Option<u32>,
    #[serde(default)]
    pub duration_s: Option<u32>,
}

// ---------------------------------------------------------------------------------------
// Regulation catalogue
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Regulation {
    pub id: String,
    pub title_vi: String,
    pub title_en: String,
    /// Issuing act, e.g. `Circular 21/2024/TT-BTTTT`.
    pub issued_by: String,
    /// Date from which the regulation applies (YYYY-MM-DD).
    pub effective: String,
    #[serde(default)]
    pub superseded: Option<String>,
    /// True when the clause text is not public to us and the catalogue is by topic.
    #[serde(default)]
    pub provisional: bool,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub groups: Vec<ClauseGroup>,
    pub clauses: Vec<Clause>,
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClauseGroup {
    pub id: String,
    pub title_vi: String,
    pub title_en: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Confidence {
    H,
    M,
    L,
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    pub id: String,
    pub group: String,
    pub title_vi: String,
    pub title_en: String,
    /// Paraphrase of the requirement (editable by a lab holding the official text).
    pub requirement: String,
    /// H: official text seen; M: strong inference; L: weak.
    pub confidence: Confidence,
    /// True when the wording is inferred from the EN 303 645 mapping.
    #[serde(default)]
    pub inferred: bool,
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub en303645: Vec<String>,
    #[serde(default)]
    pub decision724: Vec<String>,
    /// Topics or clause ids of the other regulation(s): `{ "qcvn11-2026" = ["..."] }`.
    #[serde(default)]
    pub crosswalk: BTreeMap<String, Vec<String>>,
}

// ---------------------------------------------------------------------------------------
// Data dictionaries (test-cases/data/*.toml)
// ---------------------------------------------------------------------------------------

/// `test-cases/data/<stem>.toml` holding `[[credential]]` entries; cases use it as
/// `credentials = "dictionary:<stem>"`.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialDictionary {
    #[serde(default)]
    pub description: Option<String>,
    pub credential: Vec<CredentialEntry>,
}

/// A publicly known credential pair (default or vendor backdoor); never a target's secret.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialEntry {
    pub username: String,
    pub password: String,
    /// Provenance: where this pair is documented.
    pub source: String,
}

/// `test-cases/data/<stem>.toml` holding `[[path]]` entries; RTSP steps use it as
/// `paths = "dictionary:<stem>"`.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathDictionary {
    #[serde(default)]
    pub description: Option<String>,
    pub path: Vec<PathEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathEntry {
    /// Starts with `/`, as it appears after `rtsp://host:port`.
    pub path: String,
    /// Device family the path is typical of (`hikvision`, `dahua`, `generic`…).
    pub family: String,
    /// Provenance: where this path is documented.
    pub source: String,
}

// ---------------------------------------------------------------------------------------
// Operator answers (`hopquy run --answers FILE`)
// ---------------------------------------------------------------------------------------

/// Prepared answers to operator and document steps, so a run needs no terminal.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswersFile {
    #[serde(default)]
    pub answer: Vec<AnswerEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerEntry {
    /// Case id.
    pub case: String,
    /// Step id within the case.
    pub step: String,
    /// `yes`/`no` for yes-no, `done` for confirm, free text for text (may be empty for an
    /// attachment).
    #[serde(default)]
    pub answer: String,
    /// Files to attach, absolute or relative to the answers file.
    #[serde(default)]
    pub attachments: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// Who answered.
    #[serde(default)]
    pub by: Option<String>,
}
