//! Typed steps: what a `[[steps]]` table means once it has been checked. Each action has its
//! own struct with exactly the keys that action accepts (a unit test holds them equal to the
//! [`crate::actions`] table, which documents them), and every vocabulary (`surface`,
//! `credentials`, `auth`, `answer`, `on_error`) is an enum parsed here once, so nothing after
//! loading compares those strings again.
//!
//! The flat [`StepFile`] is what serde reads and what the JSON Schema describes; the checks
//! in `check/case.rs` run on it (with the spans of the source), and only a step that passed
//! them is converted into a [`Step`]. Values that may be templates stay `toml::Value`: the
//! runner resolves them.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use toml::Spanned;

use crate::model::{
    CaseFile, CaseKind, CaseStatus, CveEntry, Effect, Expectation, LabNetUse, Measures, Method, Param, SimFixtures,
    StepFile,
};

/// Declares a struct whose `KEYS` are its field names, so the key list cannot drift from the
/// fields.
macro_rules! keyed_struct {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$field_meta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        pub struct $name { $($(#[$field_meta])* pub $field: $ty,)* }
        impl $name {
            /// The keys a step (or its `options` table) may carry: the field names.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];
        }
    };
}

/// Declares an `options` struct: every field an optional, possibly templated value; any other
/// key is refused, by `hopquy validate` with its position and by [`Self::from_table`].
macro_rules! options_struct {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$field_meta:meta])* $field:ident,)* }) => {
        keyed_struct! {
            $(#[$meta])*
            #[derive(Debug, Clone, Default, PartialEq)]
            pub struct $name { $($(#[$field_meta])* pub $field: Option<toml::Value>,)* }
        }
        impl $name {
            /// The options of `table`; an unknown key is an error naming it.
            pub fn from_table(table: &toml::Table) -> Result<Self, String> {
                let mut options = Self::default();
                for (key, value) in table {
                    match key.as_str() {
                        $(stringify!($field) => options.$field = Some(value.clone()),)*
                        other => {
                            return Err(format!(
                                "unknown option `{other}`; known: {}",
                                Self::KEYS.join(", ")
                            ))
                        }
                    }
                }
                Ok(options)
            }
        }
    };
}

// ---------------------------------------------------------------------------------------
// Vocabularies
// ---------------------------------------------------------------------------------------

/// Declares a string vocabulary: the enum, its `NAMES` (for diagnostics), `parse` and
/// `as_str`.
macro_rules! vocabulary {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$variant_meta])* $variant,)* }
        impl $name {
            /// Every spelling, in documentation order.
            pub const NAMES: &'static [&'static str] = &[$($text),*];
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)*
                    _ => None,
                }
            }
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown value `{text}`, expected one of: {}", Self::NAMES.join(", ")))
                })
            }
        }
    };
}

vocabulary! {
    /// What a `lab-net` step does to the camera's own network before it reads the record.
    pub enum LabNetOp {
        Snapshot = "snapshot",
        Cut = "cut",
        Restore = "restore",
    }
}

/// Longest `wait_s` a `lab-net` step may ask for: long enough for a camera's reconnect
/// back-off, short enough not to hang a lab's run.
pub const MAX_LAB_NET_WAIT_S: u64 = 600;

vocabulary! {
    /// Where `login` and `recover` authenticate.
    pub enum LoginSurface {
        Http = "http",
        Rtsp = "rtsp",
        Onvif = "onvif",
        Telnet = "telnet",
        Ssh = "ssh",
    }
}

vocabulary! {
    /// `auth` of an `http` step (and of a `login` on the `http` surface).
    pub enum HttpAuth {
        None = "none",
        Basic = "basic",
        Digest = "digest",
        /// The op's scheme, else whatever the device challenges with.
        Profile = "profile",
    }
}

vocabulary! {
    /// `auth` of a profile operation.
    pub enum OpAuth {
        None = "none",
        Basic = "basic",
        Digest = "digest",
        /// Whatever the device challenges with.
        Any = "any",
    }
}

impl crate::model::Op {
    /// The operation's scheme: `any` when it names none. `None` only for a value validation
    /// refuses (a profile that loaded has none).
    pub fn auth_mode(&self) -> Option<OpAuth> {
        self.auth.as_deref().map_or(Some(OpAuth::Any), OpAuth::parse)
    }
}

vocabulary! {
    /// `auth` of an `onvif` step.
    pub enum OnvifAuth {
        None = "none",
        Digest = "digest",
        UsernameToken = "usernametoken",
    }
}

vocabulary! {
    /// `auth` of a `login`/`recover` on the `onvif` surface: the two ways an ONVIF device
    /// takes credentials.
    pub enum OnvifLoginAuth {
        Digest = "digest",
        UsernameToken = "usernametoken",
    }
}

vocabulary! {
    /// One credential a step sends.
    pub enum Credential {
        /// One anonymous attempt.
        None = "none",
        /// The lab's account from the target file (secret).
        Target = "target",
        /// The target's user name with a random wrong password.
        WrongPassword = "wrong-password",
        /// A random user name and password.
        UnknownUser = "unknown-user",
    }
}

vocabulary! {
    /// Kind of answer an operator or document step expects.
    pub enum AnswerKind {
        Confirm = "confirm",
        YesNo = "yes-no",
        Text = "text",
        Attachment = "attachment",
    }
}

vocabulary! {
    /// What a transport failure in a step means.
    pub enum OnError {
        Error = "error",
        Inconclusive = "inconclusive",
    }
}

vocabulary! {
    /// A named set of TCP ports for the `ports` action.
    pub enum PortSetName {
        /// 1–65535.
        All = "all",
        /// The target's `declared.open_tcp_ports`.
        Declared = "declared",
        /// Ports IP cameras are known to open.
        CommonCamera = "common-camera",
    }
}

/// The `ports` of a `ports` step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSet {
    Named(PortSetName),
    List(Vec<u16>),
    /// A whole-value template (`"${params.ports}"`); the runner resolves it and reads the
    /// result with [`PortSetName::parse`] or as a list.
    Template(String),
}

impl PortSet {
    /// The TOML value of a `ports` key.
    pub fn from_value(value: &toml::Value) -> Option<Self> {
        match value {
            toml::Value::String(text) if text.starts_with("${") => Some(PortSet::Template(text.clone())),
            toml::Value::String(text) => PortSetName::parse(text).map(PortSet::Named),
            toml::Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(|item| {
                    item.as_integer()
                        .and_then(|port| u16::try_from(port).ok())
                        .filter(|port| *port > 0)
                })
                .collect::<Option<Vec<_>>>()
                .map(PortSet::List),
            _ => None,
        }
    }
}

/// Prefix of a credential set or path list read from `test-cases/data/<stem>.toml`.
pub const DICTIONARY_PREFIX: &str = "dictionary:";

/// `dictionary:<stem>`: the stem, when `text` names a dictionary file.
pub fn dictionary_stem(text: &str) -> Option<&str> {
    text.strip_prefix(DICTIONARY_PREFIX)
}

/// A step's credential set: one credential, or the public pairs of a dictionary file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSet {
    One(Credential),
    /// `dictionary:<stem>`: test-cases/data/<stem>.toml.
    Dictionary(String),
    /// `factory-default`: the profile's documented factory default pairs (its
    /// `factory_default`, at most two), each tried once.
    FactoryDefault,
}

/// The credential set of a profile's documented factory default pairs (`login` only).
pub const FACTORY_DEFAULT: &str = "factory-default";

impl CredentialSet {
    /// `none`, `target`, `wrong-password`, `unknown-user`, `factory-default` or
    /// `dictionary:<stem>`.
    pub fn parse(text: &str) -> Option<Self> {
        if text == FACTORY_DEFAULT {
            return Some(CredentialSet::FactoryDefault);
        }
        match dictionary_stem(text) {
            Some(stem) if crate::names::is_kebab(stem) => Some(CredentialSet::Dictionary(stem.to_owned())),
            Some(_) => None,
            None => Credential::parse(text).map(CredentialSet::One),
        }
    }

    pub fn is_dictionary(&self) -> bool {
        matches!(self, CredentialSet::Dictionary(_))
    }
}

impl fmt::Display for CredentialSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSet::One(credential) => f.write_str(credential.as_str()),
            CredentialSet::Dictionary(stem) => write!(f, "{DICTIONARY_PREFIX}{stem}"),
            CredentialSet::FactoryDefault => f.write_str(FACTORY_DEFAULT),
        }
    }
}

impl<'de> Deserialize<'de> for CredentialSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        CredentialSet::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("unknown credential set `{text}`")))
    }
}

/// Where a login's or recover's `auth` goes; which one depends on the surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginAuth {
    Http(HttpAuth),
    Onvif(OnvifLoginAuth),
}

/// One source of RTSP stream paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSource {
    /// The profile's `[rtsp] paths`.
    Profile,
    /// `dictionary:<stem>`: test-cases/data/<stem>.toml.
    Dictionary(String),
    /// A path starting with `/` (templates inside are resolved by the runner).
    Path(String),
}

impl PathSource {
    /// `profile`, `dictionary:<stem>` or `/path`.
    pub fn parse(text: &str) -> Option<Self> {
        if text == "profile" {
            return Some(PathSource::Profile);
        }
        if let Some(stem) = dictionary_stem(text) {
            return crate::names::is_kebab(stem).then(|| PathSource::Dictionary(stem.to_owned()));
        }
        text.starts_with('/').then(|| PathSource::Path(text.to_owned()))
    }
}

/// RTSP stream paths to try, in order: a `paths` value read as a list of sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtspPaths(pub Vec<PathSource>);

impl RtspPaths {
    /// The TOML value of a `paths` key: one source, or a non-empty list of them.
    pub fn from_value(value: &toml::Value) -> Option<Self> {
        match value {
            toml::Value::String(text) => PathSource::parse(text).map(|source| RtspPaths(vec![source])),
            toml::Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(|item| item.as_str().and_then(PathSource::parse))
                .collect::<Option<Vec<_>>>()
                .map(RtspPaths),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------

options_struct! {
    /// `login` options: lockout-aware pacing of a dictionary.
    pub struct LoginOptions {
        /// Log in with the target's credentials after N-1 consecutive failures.
        reset_below,
        /// With `reset_below`: other user names get at most N-1 failures per window.
        window_s,
        /// With `window_s`: `false` makes no control logins and paces every user name.
        control_login,
        /// With `window_s`: wait a window since the last failure before the first attempt.
        settle,
    }
}

options_struct! {
    /// `password-policy` options: the rule to test.
    pub struct PasswordPolicyOptions {
        min_length,
        required_classes,
        login_check,
    }
}

options_struct! {
    /// `tls` options.
    pub struct TlsOptions {
        versions,
        concurrency,
        certificate,
        sni,
    }
}

options_struct! {
    /// `ssh` options.
    pub struct SshOptions {
        /// User for the `none` request that lists the methods.
        user,
    }
}

options_struct! {
    /// `ports` options.
    pub struct PortsOptions {
        /// Width of the sweep (lowers it for fragile firmware).
        concurrency,
    }
}

options_struct! {
    /// `onvif` options.
    pub struct OnvifOptions {
        include_write,
        include_unrecoverable,
        token_checks,
        /// Replaces the request content inside the operation element.
        arguments,
        /// Replaces `/onvif/device_service`.
        path,
    }
}

// ---------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------

keyed_struct! {
    /// `http`: one request, raw or from a profile operation.
    #[derive(Debug, Clone, PartialEq)]
    pub struct HttpStep {
        pub op: Option<Spanned<String>>,
        pub method: Option<String>,
        pub path: Option<String>,
        pub request_target: Option<String>,
        pub port: Option<toml::Value>,
        pub auth: Option<Spanned<HttpAuth>>,
        pub credentials: Option<Spanned<Credential>>,
        pub headers: Option<BTreeMap<String, String>>,
        pub body: Option<String>,
        pub repeat: Option<toml::Value>,
        pub fresh_connection: Option<bool>,
        pub interval_ms: Option<toml::Value>,
        pub redact: Option<crate::Pattern>,
    }
}

keyed_struct! {
    /// Where `login` and `recover` log in: the keys they share.
    #[derive(Debug, Clone, PartialEq)]
    pub struct LoginTarget {
        pub surface: Option<Spanned<LoginSurface>>,
        pub op: Option<Spanned<String>>,
        pub port: Option<toml::Value>,
        pub auth: Option<Spanned<LoginAuth>>,
        pub paths: Option<RtspPaths>,
    }
}

impl LoginTarget {
    /// The surface, `http` when the step names none.
    pub fn surface(&self) -> LoginSurface {
        self.surface
            .as_ref()
            .map_or(LoginSurface::Http, |surface| *surface.get_ref())
    }

    /// `auth` on the `http` surface.
    pub fn http_auth(&self) -> Option<HttpAuth> {
        match self.auth.as_ref().map(|auth| *auth.get_ref()) {
            Some(LoginAuth::Http(auth)) => Some(auth),
            _ => None,
        }
    }

    /// `auth` on the `onvif` surface.
    pub fn onvif_auth(&self) -> Option<OnvifLoginAuth> {
        match self.auth.as_ref().map(|auth| *auth.get_ref()) {
            Some(LoginAuth::Onvif(auth)) => Some(auth),
            _ => None,
        }
    }
}

keyed_struct! {
    /// `login`: a credential set against a surface. `target` holds `surface`, `op`, `port`,
    /// `auth` and `paths`.
    #[derive(Debug, Clone, PartialEq)]
    pub struct LoginStep {
        pub target: LoginTarget,
        pub credentials: Spanned<CredentialSet>,
        pub repeat: Option<toml::Value>,
        pub fresh_connection: Option<bool>,
        pub stop_on_accept: Option<bool>,
        pub interval_ms: Option<toml::Value>,
        pub options: LoginOptions,
    }
}

keyed_struct! {
    /// `recover`: poll with the target's credentials until a lock is over.
    #[derive(Debug, Clone, PartialEq)]
    pub struct RecoverStep {
        pub target: LoginTarget,
        pub seconds: Option<toml::Value>,
        pub interval_ms: Option<toml::Value>,
    }
}

keyed_struct! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct WaitStep {
        pub seconds: toml::Value,
    }
}

keyed_struct! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct PortsStep {
        pub ports: Option<PortSet>,
        pub options: PortsOptions,
    }
}

keyed_struct! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct TlsStep {
        pub port: Option<toml::Value>,
        pub options: TlsOptions,
    }
}

keyed_struct! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct SshStep {
        pub port: Option<toml::Value>,
        pub options: SshOptions,
    }
}

keyed_struct! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct RtspStep {
        pub port: Option<toml::Value>,
        pub paths: Option<RtspPaths>,
        pub credentials: Option<Spanned<Credential>>,
    }
}

keyed_struct! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct TelnetStep {
        pub port: Option<toml::Value>,
    }
}

keyed_struct! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct OnvifStep {
        pub op: Spanned<String>,
        pub credentials: Option<Spanned<Credential>>,
        pub auth: Option<Spanned<OnvifAuth>>,
        pub port: Option<toml::Value>,
        pub options: OnvifOptions,
    }
}

keyed_struct! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct PasswordPolicyStep {
        pub options: PasswordPolicyOptions,
    }
}

keyed_struct! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct WebSurfaceStep {}
}

keyed_struct! {
    /// Reads the firmware image scanned for the run (`hopquy run --firmware`); no parameter,
    /// since one run has one image.
    #[derive(Debug, Clone, PartialEq)]
    pub struct FirmwareStep {}
}

keyed_struct! {
    /// Acts on the run's lab network (`hopquy run --lab-net`) and reads its record.
    #[derive(Debug, Clone, PartialEq)]
    pub struct LabNetStep {
        pub op: Spanned<LabNetOp>,
        pub wait_s: Option<toml::Value>,
        pub recorded_s: Option<toml::Value>,
    }
}

keyed_struct! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct OperatorStep {
        pub prompt: String,
        pub prompt_vi: String,
        pub answer: Spanned<AnswerKind>,
        pub destructive: Option<bool>,
    }
}

keyed_struct! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct DocumentStep {
        pub prompt: String,
        pub prompt_vi: String,
        pub answer: Option<Spanned<AnswerKind>>,
    }
}

/// What a step does, with the keys of that action.
#[derive(Debug, Clone, PartialEq)]
pub enum StepAction {
    Http(HttpStep),
    Login(LoginStep),
    Recover(RecoverStep),
    Wait(WaitStep),
    Ports(PortsStep),
    Tls(TlsStep),
    Ssh(SshStep),
    Rtsp(RtspStep),
    Telnet(TelnetStep),
    Onvif(OnvifStep),
    PasswordPolicy(PasswordPolicyStep),
    WebSurface(WebSurfaceStep),
    Firmware(FirmwareStep),
    LabNet(LabNetStep),
    Operator(OperatorStep),
    Document(DocumentStep),
}

impl StepAction {
    /// The action's name as case files spell it.
    pub fn name(&self) -> &'static str {
        match self {
            StepAction::Http(_) => "http",
            StepAction::Login(_) => "login",
            StepAction::Recover(_) => "recover",
            StepAction::Wait(_) => "wait",
            StepAction::Ports(_) => "ports",
            StepAction::Tls(_) => "tls",
            StepAction::Ssh(_) => "ssh",
            StepAction::Rtsp(_) => "rtsp",
            StepAction::Telnet(_) => "telnet",
            StepAction::Onvif(_) => "onvif",
            StepAction::PasswordPolicy(_) => "password-policy",
            StepAction::WebSurface(_) => "web-surface",
            StepAction::Firmware(_) => "firmware",
            StepAction::LabNet(_) => "lab-net",
            StepAction::Operator(_) => "operator",
            StepAction::Document(_) => "document",
        }
    }

    /// An operator or document step: a person answers it.
    pub fn is_interactive(&self) -> bool {
        matches!(self, StepAction::Operator(_) | StepAction::Document(_))
    }

    /// What an operator or document step asks: the English and Vietnamese prompts and the
    /// answer it takes (a document without `answer` takes an attachment). None for the rest.
    pub fn question(&self) -> Option<(&str, &str, AnswerKind)> {
        match self {
            StepAction::Operator(operator) => Some((&operator.prompt, &operator.prompt_vi, *operator.answer.get_ref())),
            StepAction::Document(document) => Some((
                &document.prompt,
                &document.prompt_vi,
                document
                    .answer
                    .as_ref()
                    .map_or(AnswerKind::Attachment, |a| *a.get_ref()),
            )),
            _ => None,
        }
    }

    /// The step changes the device irreversibly (an operator step marked `destructive`).
    pub fn is_destructive(&self) -> bool {
        matches!(self, StepAction::Operator(step) if step.destructive == Some(true))
    }

    /// The answer an operator or document step expects (a document's default is an
    /// attachment); `None` for every other action.
    pub fn answer_kind(&self) -> Option<AnswerKind> {
        match self {
            StepAction::Operator(step) => Some(*step.answer.get_ref()),
            StepAction::Document(step) => Some(step.answer.as_ref().map_or(AnswerKind::Attachment, |a| *a.get_ref())),
            _ => None,
        }
    }

    /// The surface of a `login` or `recover`.
    pub fn login_target(&self) -> Option<&LoginTarget> {
        match self {
            StepAction::Login(step) => Some(&step.target),
            StepAction::Recover(step) => Some(&step.target),
            _ => None,
        }
    }
}

keyed_struct! {
    /// One checked step: the keys every step has, and its action with that action's keys.
    #[derive(Debug, Clone, Deserialize)]
    #[serde(try_from = "StepFile")]
    pub struct Step {
        pub id: Spanned<String>,
        /// The span is that of the `action` value.
        pub action: Spanned<StepAction>,
        /// Run this step even after an earlier step decided the verdict.
        pub always: bool,
        pub on_error: Option<Spanned<OnError>>,
        pub expect: Vec<Expectation>,
    }
}

impl Step {
    pub fn name(&self) -> &'static str {
        self.action.get_ref().name()
    }
}

/// Why a [`StepFile`] is not a step. Only reached when the checks were skipped: a loaded case
/// has passed them, and they report the same problems with positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError(pub String);

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StepError {}

fn spanned<T, U>(value: &Spanned<T>, convert: impl FnOnce(&T) -> Option<U>) -> Option<Spanned<U>> {
    convert(value.get_ref()).map(|converted| Spanned::new(value.span(), converted))
}

/// Parses an optional vocabulary key, or says which value is wrong.
fn vocabulary<U>(
    key: &str,
    value: &Option<Spanned<String>>,
    parse: impl Fn(&str) -> Option<U>,
) -> Result<Option<Spanned<U>>, StepError> {
    value
        .as_ref()
        .map(|value| {
            spanned(value, |text| parse(text))
                .ok_or_else(|| StepError(format!("invalid value `{}` for `{key}`", value.get_ref())))
        })
        .transpose()
}

fn required<T>(key: &str, value: Option<T>) -> Result<T, StepError> {
    value.ok_or_else(|| StepError(format!("missing parameter `{key}`")))
}

fn options<T>(table: &Option<toml::Table>, parse: impl Fn(&toml::Table) -> Result<T, String>) -> Result<T, StepError>
where
    T: Default,
{
    table
        .as_ref()
        .map_or_else(|| Ok(T::default()), |table| parse(table).map_err(StepError))
}

impl TryFrom<StepFile> for Step {
    type Error = StepError;

    fn try_from(file: StepFile) -> Result<Self, StepError> {
        Step::from_file(&file)
    }
}

impl Step {
    /// The typed step of a flat one. Keys the action does not take are an error, as are
    /// values outside a vocabulary.
    pub fn from_file(file: &StepFile) -> Result<Step, StepError> {
        let name = file.action.get_ref().as_str();
        let Some(spec) = crate::actions::action(name) else {
            return Err(StepError(format!("unknown action `{name}`")));
        };
        for key in file.present_keys() {
            if spec.param(key).is_none() {
                return Err(StepError(format!("`{key}` is not a parameter of action `{name}`")));
            }
        }
        let credential = |value: &Option<Spanned<String>>| vocabulary("credentials", value, Credential::parse);
        let credential_set = |value: &Option<Spanned<String>>| vocabulary("credentials", value, CredentialSet::parse);
        let answer = |value: &Option<Spanned<String>>| vocabulary("answer", value, AnswerKind::parse);
        let paths = |value: &Option<toml::Value>| {
            value
                .as_ref()
                .map(|value| {
                    RtspPaths::from_value(value).ok_or_else(|| StepError(format!("invalid value {value} for `paths`")))
                })
                .transpose()
        };
        let login_target = || -> Result<LoginTarget, StepError> {
            let surface = vocabulary("surface", &file.surface, LoginSurface::parse)?;
            let on = surface
                .as_ref()
                .map_or(LoginSurface::Http, |surface| *surface.get_ref());
            let auth = vocabulary("auth", &file.auth, |text| match on {
                LoginSurface::Http => HttpAuth::parse(text).map(LoginAuth::Http),
                LoginSurface::Onvif => OnvifLoginAuth::parse(text).map(LoginAuth::Onvif),
                LoginSurface::Rtsp | LoginSurface::Telnet | LoginSurface::Ssh => None,
            })?;
            Ok(LoginTarget {
                surface,
                op: file.op.clone(),
                port: file.port.clone(),
                auth,
                paths: paths(&file.paths)?,
            })
        };
        let action = match name {
            "http" => StepAction::Http(HttpStep {
                op: file.op.clone(),
                method: file.method.clone(),
                path: file.path.clone(),
                request_target: file.request_target.clone(),
                port: file.port.clone(),
                auth: vocabulary("auth", &file.auth, HttpAuth::parse)?,
                credentials: credential(&file.credentials)?,
                headers: file.headers.clone(),
                body: file.body.clone(),
                repeat: file.repeat.clone(),
                fresh_connection: file.fresh_connection,
                interval_ms: file.interval_ms.clone(),
                redact: file.redact.clone(),
            }),
            "login" => StepAction::Login(LoginStep {
                target: login_target()?,
                credentials: required("credentials", credential_set(&file.credentials)?)?,
                repeat: file.repeat.clone(),
                fresh_connection: file.fresh_connection,
                stop_on_accept: file.stop_on_accept,
                interval_ms: file.interval_ms.clone(),
                options: options(&file.options, LoginOptions::from_table)?,
            }),
            "recover" => StepAction::Recover(RecoverStep {
                target: login_target()?,
                seconds: file.seconds.clone(),
                interval_ms: file.interval_ms.clone(),
            }),
            "wait" => StepAction::Wait(WaitStep {
                seconds: required("seconds", file.seconds.clone())?,
            }),
            "ports" => StepAction::Ports(PortsStep {
                ports: file
                    .ports
                    .as_ref()
                    .map(|value| {
                        PortSet::from_value(value)
                            .ok_or_else(|| StepError(format!("invalid value {value} for `ports`")))
                    })
                    .transpose()?,
                options: options(&file.options, PortsOptions::from_table)?,
            }),
            "tls" => StepAction::Tls(TlsStep {
                port: file.port.clone(),
                options: options(&file.options, TlsOptions::from_table)?,
            }),
            "ssh" => StepAction::Ssh(SshStep {
                port: file.port.clone(),
                options: options(&file.options, SshOptions::from_table)?,
            }),
            "rtsp" => StepAction::Rtsp(RtspStep {
                port: file.port.clone(),
                paths: paths(&file.paths)?,
                credentials: credential(&file.credentials)?,
            }),
            "telnet" => StepAction::Telnet(TelnetStep {
                port: file.port.clone(),
            }),
            "onvif" => StepAction::Onvif(OnvifStep {
                op: required("op", file.op.clone())?,
                credentials: credential(&file.credentials)?,
                auth: vocabulary("auth", &file.auth, OnvifAuth::parse)?,
                port: file.port.clone(),
                options: options(&file.options, OnvifOptions::from_table)?,
            }),
            "password-policy" => StepAction::PasswordPolicy(PasswordPolicyStep {
                options: options(&file.options, PasswordPolicyOptions::from_table)?,
            }),
            "web-surface" => StepAction::WebSurface(WebSurfaceStep {}),
            "firmware" => StepAction::Firmware(FirmwareStep {}),
            "lab-net" => StepAction::LabNet(LabNetStep {
                op: required("op", vocabulary("op", &file.op, LabNetOp::parse)?)?,
                wait_s: file.wait_s.clone(),
                recorded_s: file.recorded_s.clone(),
            }),
            "operator" => StepAction::Operator(OperatorStep {
                prompt: required("prompt", file.prompt.clone())?,
                prompt_vi: required("prompt_vi", file.prompt_vi.clone())?,
                answer: required("answer", answer(&file.answer)?)?,
                destructive: file.destructive,
            }),
            "document" => StepAction::Document(DocumentStep {
                prompt: required("prompt", file.prompt.clone())?,
                prompt_vi: required("prompt_vi", file.prompt_vi.clone())?,
                answer: answer(&file.answer)?,
            }),
            other => return Err(StepError(format!("action `{other}` has no typed form"))),
        };
        Ok(Step {
            id: file.id.clone(),
            action: Spanned::new(file.action.span(), action),
            always: file.always,
            on_error: vocabulary("on_error", &file.on_error, OnError::parse)?,
            expect: file.expect.clone(),
        })
    }
}

/// The keys the typed form of action `name` holds: its struct's fields, with a `login` or
/// `recover` step's `target` spelled out.
pub fn typed_keys(name: &str) -> Option<Vec<&'static str>> {
    let with_target = |keys: &[&'static str]| {
        keys.iter()
            .flat_map(|key| {
                if *key == "target" {
                    LoginTarget::KEYS.to_vec()
                } else {
                    vec![*key]
                }
            })
            .collect()
    };
    Some(match name {
        "http" => HttpStep::KEYS.to_vec(),
        "login" => with_target(LoginStep::KEYS),
        "recover" => with_target(RecoverStep::KEYS),
        "wait" => WaitStep::KEYS.to_vec(),
        "ports" => PortsStep::KEYS.to_vec(),
        "tls" => TlsStep::KEYS.to_vec(),
        "ssh" => SshStep::KEYS.to_vec(),
        "rtsp" => RtspStep::KEYS.to_vec(),
        "telnet" => TelnetStep::KEYS.to_vec(),
        "onvif" => OnvifStep::KEYS.to_vec(),
        "password-policy" => PasswordPolicyStep::KEYS.to_vec(),
        "web-surface" => WebSurfaceStep::KEYS.to_vec(),
        "firmware" => FirmwareStep::KEYS.to_vec(),
        "lab-net" => LabNetStep::KEYS.to_vec(),
        "operator" => OperatorStep::KEYS.to_vec(),
        "document" => DocumentStep::KEYS.to_vec(),
        _ => return None,
    })
}

/// The option keys action `name` accepts, when it takes `options`.
pub fn option_keys(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "login" => LoginOptions::KEYS,
        "password-policy" => PasswordPolicyOptions::KEYS,
        "tls" => TlsOptions::KEYS,
        "ssh" => SshOptions::KEYS,
        "ports" => PortsOptions::KEYS,
        "onvif" => OnvifOptions::KEYS,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------
// Case
// ---------------------------------------------------------------------------------------

/// A checked case: [`CaseFile`] with typed steps. Only a file that passed every check becomes
/// one (`load_case`); deserializing one directly converts the steps without those checks.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "CaseFile")]
pub struct Case {
    /// Stable identifier; equals the file stem.
    pub id: Spanned<String>,
    pub title: String,
    pub title_vi: String,
    pub kind: CaseKind,
    pub method: Method,
    pub effect: Effect,
    pub status: CaseStatus,
    pub measures: Option<Measures>,
    pub lab_net: Option<LabNetUse>,
    pub since: String,
    pub clauses: BTreeMap<String, Vec<Spanned<String>>>,
    pub needs: Vec<Spanned<String>>,
    pub summary: String,
    pub summary_vi: Option<String>,
    pub pass_summary: Option<String>,
    pub params: BTreeMap<String, Param>,
    pub steps: Vec<Step>,
    pub sim: Option<SimFixtures>,
    pub references: Vec<String>,
    pub cves: Vec<CveEntry>,
}

impl TryFrom<CaseFile> for Case {
    type Error = StepError;

    fn try_from(file: CaseFile) -> Result<Self, StepError> {
        let steps = file
            .steps
            .iter()
            .map(|step| {
                Step::from_file(step).map_err(|error| StepError(format!("step \"{}\": {error}", step.id.get_ref())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Case {
            id: file.id,
            title: file.title,
            title_vi: file.title_vi,
            kind: file.kind,
            method: file.method,
            effect: file.effect,
            status: file.status,
            measures: file.measures,
            lab_net: file.lab_net,
            since: file.since,
            clauses: file.clauses,
            needs: file.needs,
            summary: file.summary,
            summary_vi: file.summary_vi,
            pass_summary: file.pass_summary,
            params: file.params,
            steps,
            sim: file.sim,
            references: file.references,
            cves: file.cves,
        })
    }
}

/// Where a `measures = "lockout"` case measures one lock: step indices of the burst of wrong
/// passwords, of the login with the target's credentials that must then be refused, and of the
/// `recover` that waits the lock out, all on `surface`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutMeasurement {
    pub surface: LoginSurface,
    pub burst: usize,
    pub check: usize,
    pub recover: usize,
}

impl Case {
    /// The lock measurements of the case, read from what its steps do (not their ids): each
    /// `login` with `credentials = "wrong-password"`, the next `login` with the target's
    /// credentials on the same surface and the next `recover` on that surface after it.
    pub fn lockout_measurements(&self) -> Vec<LockoutMeasurement> {
        lockout_measurements(&self.steps)
    }
}

/// [`Case::lockout_measurements`] of a list of steps.
pub fn lockout_measurements(steps: &[Step]) -> Vec<LockoutMeasurement> {
    let surface = |step: &Step| step.action.get_ref().login_target().map(LoginTarget::surface);
    let login_with = |step: &Step| match step.action.get_ref() {
        StepAction::Login(login) => Some(login.credentials.get_ref().clone()),
        _ => None,
    };
    let mut found = Vec::new();
    for (burst, step) in steps.iter().enumerate() {
        if login_with(step) != Some(CredentialSet::One(Credential::WrongPassword)) {
            continue;
        }
        let Some(on) = surface(step) else { continue };
        let later = |from: usize, want: &dyn Fn(&Step) -> bool| {
            steps
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, s)| surface(s) == Some(on) && want(s))
                .map(|(i, _)| i)
        };
        let Some(check) = later(burst + 1, &|s| {
            login_with(s) == Some(CredentialSet::One(Credential::Target))
        }) else {
            continue;
        };
        let Some(recover) = later(check + 1, &|s| matches!(s.action.get_ref(), StepAction::Recover(_))) else {
            continue;
        };
        found.push(LockoutMeasurement {
            surface: on,
            burst,
            check,
            recover,
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::{ACTIONS, COMMON_KEYS, ParamKind};

    fn sorted(mut keys: Vec<&'static str>) -> Vec<&'static str> {
        keys.sort_unstable();
        keys
    }

    #[test]
    fn every_action_spec_matches_its_typed_struct() {
        // The table documents the keys, the structs hold them: they must be the same set.
        for spec in ACTIONS {
            let documented = sorted(spec.params.iter().map(|param| param.name).collect());
            let typed = typed_keys(spec.name).map(sorted);
            assert_eq!(typed, Some(documented), "action `{}`", spec.name);
        }
        let common = sorted(COMMON_KEYS.iter().map(|param| param.name).collect());
        assert_eq!(sorted(Step::KEYS.to_vec()), common);
    }

    #[test]
    fn actions_with_options_have_an_options_struct() {
        for spec in ACTIONS {
            let takes_options = spec.params.iter().any(|param| param.kind == ParamKind::Options);
            assert_eq!(
                option_keys(spec.name).is_some(),
                takes_options,
                "action `{}`",
                spec.name
            );
        }
    }

    #[test]
    fn vocabularies_round_trip() {
        for name in LoginSurface::NAMES {
            assert_eq!(LoginSurface::parse(name).map(LoginSurface::as_str), Some(*name));
        }
        assert_eq!(
            CredentialSet::parse("dictionary:default-credentials"),
            Some(CredentialSet::Dictionary("default-credentials".into()))
        );
        assert_eq!(CredentialSet::parse("dictionary:Bad Name"), None);
        assert_eq!(
            CredentialSet::parse("wrong-password"),
            Some(CredentialSet::One(Credential::WrongPassword))
        );
        assert_eq!(
            CredentialSet::parse("factory-default")
                .map(|set| set.to_string())
                .as_deref(),
            Some("factory-default")
        );
        assert_eq!(
            CredentialSet::parse("dictionary:x").map(|set| set.to_string()),
            Some("dictionary:x".to_owned())
        );
        assert_eq!(OnvifAuth::parse("basic"), None);
        let ports = |text: &str| {
            toml::from_str::<toml::Table>(&format!("p = {text}"))
                .ok()
                .and_then(|t| t.get("p").and_then(PortSet::from_value))
        };
        assert_eq!(
            ports("\"common-camera\""),
            Some(PortSet::Named(PortSetName::CommonCamera))
        );
        assert_eq!(ports("[22, 80]"), Some(PortSet::List(vec![22, 80])));
        assert_eq!(
            ports("\"${params.ports}\""),
            Some(PortSet::Template("${params.ports}".into()))
        );
        assert_eq!(ports("[0]"), None);
        assert_eq!(ports("\"some\""), None);
    }

    #[test]
    fn a_flat_step_becomes_its_action() {
        let step: Step = toml::from_str(
            "id = \"s\"\naction = \"login\"\nsurface = \"onvif\"\nauth = \"usernametoken\"\ncredentials = \"dictionary:d\"\noptions = { reset_below = 3 }",
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let StepAction::Login(login) = step.action.get_ref() else {
            panic!("not a login: {step:?}");
        };
        assert_eq!(login.target.surface(), LoginSurface::Onvif);
        assert_eq!(login.target.onvif_auth(), Some(OnvifLoginAuth::UsernameToken));
        assert_eq!(login.credentials.get_ref(), &CredentialSet::Dictionary("d".into()));
        assert_eq!(login.options.reset_below, Some(toml::Value::Integer(3)));
    }

    #[test]
    fn a_flat_step_with_a_foreign_key_or_option_is_refused() {
        let foreign = toml::from_str::<Step>("id = \"s\"\naction = \"wait\"\nseconds = 1\nsurface = \"http\"");
        assert!(foreign.is_err());
        let option = toml::from_str::<Step>("id = \"s\"\naction = \"tls\"\noptions = { version = [\"TLSv1.2\"] }");
        let message = option.map(|_| String::new()).unwrap_or_else(|error| error.to_string());
        assert!(message.contains("unknown option `version`"), "{message}");
    }
}
