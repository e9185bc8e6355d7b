//! ONVIF device-service probe: SOAP 1.2 calls to `/onvif/device_service` over HTTP(S), with
//! HTTP Digest or WS-UsernameToken (PasswordDigest) authentication, and the anonymous
//! access sweep that finds operations answering without credentials.
//!
//! Facts only: which operation answered whom, with what status and fault. Whether an
//! answer breaks the default access policy is reported as `violations` because the policy
//! is fixed by the ONVIF Core specification (Anonymous may call PRE_AUTH operations only),
//! not by a case; verdicts stay in the runner.
//!
//! Sweeps never send a WRITE_SYSTEM, ACTUATE or UNRECOVERABLE operation unless the caller
//! asks for it in [`SweepOptions`]. Even then write operations carry no arguments, so a
//! device that skips authentication faults on the missing argument instead of changing.

pub mod soap;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use crate::exchange::Recorder;
use crate::http::{AuthMode, HttpProbe, HttpRequest, HttpResponse, Scheme};
use crate::{Credential, Device, ProbeError, Redactor};
pub use soap::{SoapFault, SoapMessage, SoapVersion, XmlElement, parse_soap};

/// The device service's fixed entry point (ONVIF Core, "Services overview").
pub const DEVICE_SERVICE_PATH: &str = "/onvif/device_service";
pub const DEVICE_WSDL_NS: &str = "http://www.onvif.org/ver10/device/wsdl";
const SCHEMA_NS: &str = "http://www.onvif.org/ver10/schema";
const WSSE_NS: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const WSU_NS: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const PASSWORD_DIGEST_TYPE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
const BASE64_ENCODING_TYPE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";
/// How far in the past the stale-`Created` advisory check dates its token.
const STALE_TOKEN_AGE: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// Consecutive transport failures after which a sweep stops (the device is gone or
/// hostile; more requests would only add timeouts).
const SWEEP_FAILURE_LIMIT: usize = 3;
const SWEEP_SKIPPED: &str = "skipped after repeated transport failures";
/// Characters of a device-supplied identity string kept in observations.
const MAX_IDENTITY_CHARS: usize = 256;

/// ONVIF access classes (Core, "Access classes for service requests").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccessClass {
    PreAuth,
    ReadSystem,
    ReadSystemSensitive,
    ReadSystemSecret,
    ReadMedia,
    Actuate,
    WriteSystem,
    Unrecoverable,
}

impl AccessClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessClass::PreAuth => "PRE_AUTH",
            AccessClass::ReadSystem => "READ_SYSTEM",
            AccessClass::ReadSystemSensitive => "READ_SYSTEM_SENSITIVE",
            AccessClass::ReadSystemSecret => "READ_SYSTEM_SECRET",
            AccessClass::ReadMedia => "READ_MEDIA",
            AccessClass::Actuate => "ACTUATE",
            AccessClass::WriteSystem => "WRITE_SYSTEM",
            AccessClass::Unrecoverable => "UNRECOVERABLE",
        }
    }

    /// Operations of this class only read.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            AccessClass::PreAuth
                | AccessClass::ReadSystem
                | AccessClass::ReadSystemSensitive
                | AccessClass::ReadSystemSecret
                | AccessClass::ReadMedia
        )
    }
}

/// One device-service operation as the probe sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    pub name: &'static str,
    pub access_class: AccessClass,
    /// Request content inside the operation element (empty for an empty message).
    pub arguments: &'static str,
    /// Part of the default (read) sweep. Reads left out need a token argument, make the
    /// device work hard (backups) or act on the world (Wi-Fi scans).
    pub in_read_sweep: bool,
}

const fn op(name: &'static str, access_class: AccessClass, arguments: &'static str, in_read_sweep: bool) -> Operation {
    Operation {
        name,
        access_class,
        arguments,
        in_read_sweep,
    }
}

use AccessClass::{
    Actuate as ACT, PreAuth as PRE, ReadMedia as RM, ReadSystem as RS, ReadSystemSecret as RSS, Unrecoverable as UNR,
    WriteSystem as WS,
};

/// Device-service operations with their access class, from ONVIF Core (`onvif/specs`
/// doc/Core.xml, "access class" of each operation). GetSystemDateAndTime comes first: a
/// sweep reads the device clock before anything else.
pub const DEVICE_OPERATIONS: &[Operation] = &[
    op("GetSystemDateAndTime", PRE, "", true),
    op(
        "GetServices",
        PRE,
        "<tds:IncludeCapability>false</tds:IncludeCapability>",
        true,
    ),
    op("GetServiceCapabilities", PRE, "", true),
    op("GetCapabilities", PRE, "<tds:Category>All</tds:Category>", true),
    op("GetWsdlUrl", PRE, "", true),
    op("GetHostname", PRE, "", true),
    op("GetEndpointReference", PRE, "", true),
    op("GetDeviceInformation", RS, "", true),
    op("GetNetworkInterfaces", RS, "", true),
    op("GetScopes", RS, "", true),
    op("GetDNS", RS, "", true),
    op("GetNTP", RS, "", true),
    op("GetDynamicDNS", RS, "", true),
    op("GetNetworkProtocols", RS, "", true),
    op("GetNetworkDefaultGateway", RS, "", true),
    op("GetZeroConfiguration", RS, "", true),
    op("GetIPAddressFilter", RS, "", true),
    op("GetDot11Capabilities", RS, "", true),
    op("GetSystemUris", RS, "", true),
    op("GetDiscoveryMode", RS, "", true),
    op("GetGeoLocation", RS, "", true),
    op("GetRemoteUser", RS, "", true),
    op("GetUserRoles", RS, "", true),
    op("GetPasswordComplexityOptions", RS, "", true),
    op("GetPasswordComplexityConfiguration", RS, "", true),
    op("GetPasswordHistoryConfiguration", RS, "", true),
    op("GetAuthFailureWarningOptions", RS, "", true),
    op("GetAuthFailureWarningConfiguration", RS, "", true),
    op("GetDot11Status", RS, "", false),
    op("ScanAvailableDot11Networks", RS, "", false),
    op("GetUsers", RSS, "", true),
    op("GetSystemLog", RSS, "<tds:LogType>System</tds:LogType>", true),
    op("GetSystemSupportInformation", RSS, "", true),
    op("GetAccessPolicy", RSS, "", true),
    op("GetSystemBackup", RSS, "", false),
    op("GetRelayOutputs", RM, "", true),
    op("GetStorageConfigurations", RM, "", true),
    op("SetHostname", WS, "", false),
    op("SetHostnameFromDHCP", WS, "", false),
    op("SetDNS", WS, "", false),
    op("SetNTP", WS, "", false),
    op("SetDynamicDNS", WS, "", false),
    op("SetNetworkInterfaces", WS, "", false),
    op("SetNetworkProtocols", WS, "", false),
    op("SetNetworkDefaultGateway", WS, "", false),
    op("SetZeroConfiguration", WS, "", false),
    op("SetIPAddressFilter", WS, "", false),
    op("SetSystemDateAndTime", WS, "", false),
    op("SetScopes", WS, "", false),
    op("AddScopes", WS, "", false),
    op("RemoveScopes", WS, "", false),
    op("SetDiscoveryMode", WS, "", false),
    op("CreateUsers", WS, "", false),
    op("DeleteUsers", WS, "", false),
    op("SetUser", WS, "", false),
    op("SetRemoteUser", WS, "", false),
    op("SetAccessPolicy", WS, "", false),
    op("SetPasswordComplexityConfiguration", WS, "", false),
    op("SetAuthFailureWarningConfiguration", WS, "", false),
    op("SetHashingAlgorithm", WS, "", false),
    op("SetRelayOutputSettings", ACT, "", false),
    op("SetRelayOutputState", ACT, "", false),
    op("SendAuxiliaryCommand", ACT, "", false),
    op("SystemReboot", UNR, "", false),
    op("SetSystemFactoryDefault", UNR, "", false),
    op("StartFirmwareUpgrade", UNR, "", false),
    op("UpgradeFirmware", UNR, "", false),
    op("StartSystemRestore", UNR, "", false),
    op("RestoreSystem", UNR, "", false),
];

/// The operation called `name` (exact, case-sensitive as in the WSDL).
pub fn operation(name: &str) -> Option<&'static Operation> {
    DEVICE_OPERATIONS.iter().find(|o| o.name == name)
}

/// An operation name safe to put in XML and in the SOAP action: `[A-Za-z][A-Za-z0-9]*`.
pub fn is_operation_name(name: &str) -> bool {
    name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// WS-UsernameToken PasswordDigest: Base64(SHA-1(nonce ‖ Created ‖ password)).
pub fn password_digest(nonce: &[u8], created: &str, password: &str) -> String {
    use sha1::Digest as _;
    let mut hash = sha1::Sha1::new();
    hash.update(nonce);
    hash.update(created.as_bytes());
    hash.update(password.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hash.finalize())
}

/// `Created` as ONVIF clients write it: UTC, whole seconds, `Z`.
pub fn created_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A WS-Security UsernameToken with a PasswordDigest. The digest allows an offline password
/// search, so it is redacted from recordings when the credential is secret, and [`Debug`]
/// never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct UsernameToken {
    pub username: String,
    /// Raw nonce bytes; `None` together with `created` for the token that omits both.
    pub nonce: Option<Vec<u8>>,
    pub created: Option<String>,
    pub digest: String,
}

impl std::fmt::Debug for UsernameToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsernameToken")
            .field("username", &self.username)
            .field(
                "nonce",
                &self
                    .nonce
                    .as_ref()
                    .map(|n| base64::engine::general_purpose::STANDARD.encode(n)),
            )
            .field("created", &self.created)
            .field("digest", &crate::exchange::REDACTED)
            .finish()
    }
}

impl UsernameToken {
    /// A fresh token: 16 random nonce bytes, `Created` = `at`.
    pub fn new(credential: &Credential, at: DateTime<Utc>) -> Self {
        let mut nonce = [0u8; 16];
        rand::fill(&mut nonce[..]);
        Self::with_nonce(credential, nonce.to_vec(), created_timestamp(at))
    }

    pub fn with_nonce(credential: &Credential, nonce: Vec<u8>, created: String) -> Self {
        let digest = password_digest(&nonce, &created, &credential.password);
        UsernameToken {
            username: credential.username.clone(),
            nonce: Some(nonce),
            created: Some(created),
            digest,
        }
    }

    /// The token a server must refuse: no Nonce, no Created, so the digest is
    /// Base64(SHA-1(password)), a static password equivalent a listener could replay.
    pub fn without_nonce_and_created(credential: &Credential) -> Self {
        UsernameToken {
            username: credential.username.clone(),
            nonce: None,
            created: None,
            digest: password_digest(&[], "", &credential.password),
        }
    }

    /// The `<wsse:Security>` SOAP header carrying this token.
    pub fn security_header(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut token = format!(
            "<wsse:Username>{}</wsse:Username><wsse:Password Type=\"{PASSWORD_DIGEST_TYPE}\">{}</wsse:Password>",
            soap::escape(&self.username),
            self.digest
        );
        if let Some(nonce) = &self.nonce {
            token.push_str(&format!(
                "<wsse:Nonce EncodingType=\"{BASE64_ENCODING_TYPE}\">{}</wsse:Nonce>",
                b64.encode(nonce)
            ));
        }
        if let Some(created) = &self.created {
            token.push_str(&format!("<wsu:Created>{}</wsu:Created>", soap::escape(created)));
        }
        format!(
            "<s:Header><wsse:Security s:mustUnderstand=\"1\" xmlns:wsse=\"{WSSE_NS}\" xmlns:wsu=\"{WSU_NS}\"><wsse:UsernameToken>{token}</wsse:UsernameToken></wsse:Security></s:Header>"
        )
    }
}

/// How a call authenticates.
#[derive(Debug, Clone)]
pub enum OnvifAuth {
    None,
    /// HTTP Digest (RFC 2617/7616) when the device challenges.
    Digest(Credential),
    /// A fresh WS-UsernameToken (PasswordDigest) in the SOAP header, no HTTP credentials.
    UsernameToken(Credential),
    /// What ONVIF clients do: Digest when challenged, else a UsernameToken.
    Auto(Credential),
    /// A prepared token sent as it is (advisory checks: replay, stale, no nonce).
    Token {
        token: UsernameToken,
        secret: bool,
    },
}

impl OnvifAuth {
    pub fn mode_name(&self) -> &'static str {
        match self {
            OnvifAuth::None => "none",
            OnvifAuth::Digest(_) => "digest",
            OnvifAuth::UsernameToken(_) | OnvifAuth::Token { .. } => "usernametoken",
            OnvifAuth::Auto(_) => "auto",
        }
    }
}

/// How one call ended, from the harness's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// HTTP 200 with a SOAP body whose first element is not a fault: the device answered.
    Answered,
    /// HTTP 401/403, or a `NotAuthorized` SOAP fault.
    Refused,
    /// Any other SOAP fault.
    Fault,
    /// HTTP 200 but no SOAP answer (HTML, garbage, empty Body).
    NotSoap,
    /// Another HTTP status without a SOAP fault.
    HttpError,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Answered => "answered",
            CallOutcome::Refused => "refused",
            CallOutcome::Fault => "fault",
            CallOutcome::NotSoap => "not_soap",
            CallOutcome::HttpError => "http_error",
        }
    }
}

/// One device-service call and what came back.
#[derive(Debug, Clone)]
pub struct OnvifCall {
    pub operation: String,
    /// `None` for operations outside [`DEVICE_OPERATIONS`].
    pub access_class: Option<AccessClass>,
    /// `none`, `digest` or `usernametoken`: how the final request authenticated.
    pub auth_mode: &'static str,
    /// The HTTP scheme whose credentials went out (`digest-md5`…), or `usernametoken`.
    pub auth_used: Option<String>,
    pub status: u16,
    pub outcome: CallOutcome,
    pub fault: Option<SoapFault>,
    pub soap_version: Option<SoapVersion>,
    /// The first Body element of a non-fault answer.
    pub response: Option<XmlElement>,
    /// Labels of the challenges of a 401 (`digest-sha256`, `digest-md5`, `basic`…).
    pub challenges: Vec<String>,
    /// Why the body could not be read as SOAP, when it could not.
    pub parse_error: Option<String>,
    pub elapsed_ms: u64,
}

impl OnvifCall {
    fn from_response(
        operation: &str,
        auth_mode: &'static str,
        auth_used: Option<String>,
        http: &HttpResponse,
    ) -> OnvifCall {
        let (message, parse_error) = if http.body.iter().all(u8::is_ascii_whitespace) {
            (None, Some("empty body".to_owned()))
        } else {
            match parse_soap(&http.body) {
                Ok(m) => (Some(m), None),
                Err(e) => (None, Some(e.to_string())),
            }
        };
        let fault = message.as_ref().and_then(|m| m.fault.clone());
        let response = message.as_ref().and_then(|m| m.response.clone());
        let outcome = match (http.status, &fault, &response) {
            (401 | 403, _, _) => CallOutcome::Refused,
            (_, Some(f), _) if f.is_not_authorized() => CallOutcome::Refused,
            (_, Some(_), _) => CallOutcome::Fault,
            (200, None, Some(_)) => CallOutcome::Answered,
            (200, None, None) => CallOutcome::NotSoap,
            _ => CallOutcome::HttpError,
        };
        OnvifCall {
            operation: operation.to_owned(),
            access_class: self::operation(operation).map(|o| o.access_class),
            auth_mode,
            auth_used,
            status: http.status,
            outcome,
            fault,
            soap_version: message.as_ref().map(|m| m.version),
            response,
            challenges: http.challenges.iter().map(|c| c.label()).collect(),
            parse_error,
            elapsed_ms: http.elapsed_ms,
        }
    }

    pub fn answered(&self) -> bool {
        self.outcome == CallOutcome::Answered
    }

    /// Answered although no credentials were sent.
    pub fn anonymous_allowed(&self) -> bool {
        self.auth_mode == "none" && self.answered()
    }

    /// The authentication this answer demands: challenge labels of a 401, `usernametoken`
    /// for a `NotAuthorized` fault, `none` when it answered an anonymous call.
    pub fn demanded_auth(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.status == 401 {
            out.extend(self.challenges.iter().cloned());
        }
        if self.fault.as_ref().is_some_and(SoapFault::is_not_authorized) {
            out.push("usernametoken".to_owned());
        }
        if self.anonymous_allowed() {
            out.push("none".to_owned());
        }
        out
    }

    /// The identity fields of a GetDeviceInformation answer.
    pub fn device_information(&self) -> Option<DeviceInformation> {
        let r = self
            .response
            .as_ref()
            .filter(|r| r.local == "GetDeviceInformationResponse")?;
        let field = |name: &str| {
            r.child_text(name)
                .map(|t| t.chars().take(MAX_IDENTITY_CHARS).collect::<String>())
        };
        Some(DeviceInformation {
            manufacturer: field("Manufacturer"),
            model: field("Model"),
            firmware_version: field("FirmwareVersion"),
            serial_number: field("SerialNumber"),
            hardware_id: field("HardwareId"),
        })
    }

    /// UTC time of a GetSystemDateAndTime answer.
    pub fn device_utc(&self) -> Option<DateTime<Utc>> {
        let r = self
            .response
            .as_ref()
            .filter(|r| r.local == "GetSystemDateAndTimeResponse")?;
        let utc = r.child("SystemDateAndTime")?.child("UTCDateTime")?;
        let number = |parent: &XmlElement, name: &str| parent.child_text(name)?.parse::<u32>().ok();
        let date = utc.child("Date")?;
        let time = utc.child("Time")?;
        let year = i32::try_from(number(date, "Year")?).ok()?;
        Utc.with_ymd_and_hms(
            year,
            number(date, "Month")?,
            number(date, "Day")?,
            number(time, "Hour")?,
            number(time, "Minute")?,
            number(time, "Second")?,
        )
        .single()
    }

    /// Observation JSON for one call.
    pub fn observations(&self) -> Value {
        json!({
            "operation": self.operation,
            "access_class": self.access_class.map(AccessClass::as_str),
            "status": self.status,
            "outcome": self.outcome.as_str(),
            "answered": self.answered(),
            "anonymous_allowed": self.anonymous_allowed(),
            "fault": self.fault.as_ref().map(|f| f.primary().to_owned()),
            "fault_code": self.fault.as_ref().map(|f| f.code.clone()),
            "fault_subcodes": self.fault.as_ref().map(|f| f.subcodes.clone()).unwrap_or_default(),
            "fault_reason": self.fault.as_ref().and_then(|f| f.reason.clone()),
            "response": self.response.as_ref().map(|r| r.local.clone()),
            "soap_version": self.soap_version,
            "auth": self.demanded_auth(),
            "auth_mode": self.auth_mode,
            "auth_used": self.auth_used,
            "challenges": self.challenges,
            "parse_error": self.parse_error,
            "elapsed_ms": self.elapsed_ms,
            "device_information": self.device_information(),
        })
    }
}

/// GetDeviceInformation's fields, named as in the ONVIF schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceInformation {
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub firmware_version: Option<String>,
    pub serial_number: Option<String>,
    pub hardware_id: Option<String>,
}

/// What a sweep sends besides the reads.
#[derive(Debug, Clone, Default)]
pub struct SweepOptions {
    /// Also send WRITE_SYSTEM and ACTUATE operations anonymously (without arguments).
    pub include_write: bool,
    /// Also send UNRECOVERABLE operations anonymously: a device that skips authentication
    /// may reboot or reset. Only on explicit request.
    pub include_unrecoverable: bool,
    /// Calls in flight at once; 0 means the device's connection cap.
    pub concurrency: usize,
}

impl SweepOptions {
    pub fn operations(&self) -> Vec<&'static Operation> {
        DEVICE_OPERATIONS
            .iter()
            .filter(|o| match o.access_class {
                AccessClass::WriteSystem | AccessClass::Actuate => self.include_write,
                AccessClass::Unrecoverable => self.include_unrecoverable,
                _ => o.in_read_sweep,
            })
            .collect()
    }
}

/// One operation of a sweep: the call, or why it could not be made.
#[derive(Debug, Clone)]
pub struct SweepEntry {
    pub operation: &'static Operation,
    pub result: Result<OnvifCall, ProbeError>,
}

/// Device time as read with GetSystemDateAndTime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeviceTime {
    pub utc: DateTime<Utc>,
    /// Device clock minus ours, seconds.
    pub skew_s: i64,
}

/// The anonymous sweep's findings.
#[derive(Debug, Clone)]
pub struct SweepReport {
    pub entries: Vec<SweepEntry>,
    pub device_time: Option<DeviceTime>,
    /// Set when the sweep stopped early after repeated transport failures.
    pub aborted: Option<String>,
}

impl SweepReport {
    fn names(&self, keep: impl Fn(&SweepEntry, &OnvifCall) -> bool) -> Vec<&'static str> {
        self.entries
            .iter()
            .filter(|e| e.result.as_ref().is_ok_and(|c| keep(e, c)))
            .map(|e| e.operation.name)
            .collect()
    }

    /// Operations answered without credentials.
    pub fn anonymous_allowed(&self) -> Vec<&'static str> {
        self.names(|_, c| c.anonymous_allowed())
    }

    /// Non-PRE_AUTH operations answered without credentials: each breaks the default
    /// access policy (Anonymous → PRE_AUTH only).
    pub fn violations(&self) -> Vec<&'static str> {
        self.names(|e, c| e.operation.access_class != AccessClass::PreAuth && c.anonymous_allowed())
    }

    /// PRE_AUTH operations refused anonymously: clients cannot read the device clock or
    /// capabilities before authenticating.
    pub fn pre_auth_refused(&self) -> Vec<&'static str> {
        self.names(|e, c| e.operation.access_class == AccessClass::PreAuth && c.outcome == CallOutcome::Refused)
    }

    /// Protected operations that reached their handler anonymously and faulted on something
    /// other than authorisation (the argument check ran before, or without, the auth check).
    pub fn anonymous_faults(&self) -> Vec<Value> {
        self.entries
            .iter()
            .filter(|e| e.operation.access_class != AccessClass::PreAuth)
            .filter_map(|e| {
                let call = e.result.as_ref().ok()?;
                let fault = call.fault.as_ref().filter(|_| call.outcome == CallOutcome::Fault)?;
                Some(json!({"operation": e.operation.name, "fault": fault.primary()}))
            })
            .collect()
    }

    fn protected_calls(&self) -> impl Iterator<Item = &OnvifCall> {
        self.entries
            .iter()
            .filter(|e| e.operation.access_class != AccessClass::PreAuth)
            .filter_map(|e| e.result.as_ref().ok())
    }

    /// What the device demands of an anonymous caller, from its answers to protected
    /// operations: challenge labels, `usernametoken`, and `none` when some answered.
    pub fn demanded_auth(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for call in self.protected_calls() {
            for label in call.demanded_auth() {
                if !out.contains(&label) {
                    out.push(label);
                }
            }
        }
        out
    }

    /// How anonymous calls to protected operations were refused: `http-401`,
    /// `soap-not-authorized`, `mixed`, or `None` when none was.
    pub fn anonymous_refusal(&self) -> Option<&'static str> {
        let mut http = false;
        let mut soap = false;
        for call in self.protected_calls().filter(|c| c.outcome == CallOutcome::Refused) {
            if call.status == 401 {
                http = true;
            } else {
                soap = true;
            }
        }
        match (http, soap) {
            (true, true) => Some("mixed"),
            (true, false) => Some("http-401"),
            (false, true) => Some("soap-not-authorized"),
            (false, false) => None,
        }
    }

    /// Every refusal took one of the two forms ONVIF Core allows: 401 with a Digest
    /// challenge, or 400 with a `NotAuthorized` fault.
    pub fn refusals_conformant(&self) -> bool {
        self.protected_calls()
            .filter(|c| c.outcome == CallOutcome::Refused)
            .all(|c| {
                let digest = c.status == 401 && c.challenges.iter().any(|l| l.starts_with("digest"));
                let token = c.status == 400 && c.fault.as_ref().is_some_and(SoapFault::is_not_authorized);
                digest || token
            })
    }

    /// Transport failures among the calls.
    pub fn errors(&self) -> usize {
        self.entries.iter().filter(|e| e.result.is_err()).count()
    }

    pub fn observations(&self) -> Value {
        let operations: Vec<Value> = self
            .entries
            .iter()
            .map(|e| match &e.result {
                Ok(c) => json!({
                    "operation": e.operation.name,
                    "access_class": e.operation.access_class.as_str(),
                    "status": c.status,
                    "outcome": c.outcome.as_str(),
                    "fault": c.fault.as_ref().map(|f| f.primary().to_owned()),
                    "anonymous_allowed": c.anonymous_allowed(),
                    "error": Value::Null,
                }),
                Err(err) => json!({
                    "operation": e.operation.name,
                    "access_class": e.operation.access_class.as_str(),
                    "status": Value::Null,
                    "outcome": Value::Null,
                    "fault": Value::Null,
                    "anonymous_allowed": Value::Null,
                    "error": err.to_string(),
                }),
            })
            .collect();
        json!({
            "operations": operations,
            "anonymous_allowed": self.anonymous_allowed(),
            "violations": self.violations(),
            "pre_auth_refused": self.pre_auth_refused(),
            "anonymous_faults": self.anonymous_faults(),
            "auth": self.demanded_auth(),
            "anonymous_refusal": self.anonymous_refusal(),
            "refusals_conformant": self.refusals_conformant(),
            "device_time": self.device_time,
            "errors": self.errors(),
            "aborted": self.aborted,
        })
    }
}

/// Advisory UsernameToken checks (ONVIF Core, "Username token profile"): a server shall
/// reject tokens without both Nonce and Created; stale and replayed tokens should be
/// refused too (implied, not a "shall").
#[derive(Debug, Clone)]
pub struct TokenChecks {
    /// A fresh, correct token (the baseline: the others only mean something if it works).
    pub valid: Result<OnvifCall, ProbeError>,
    pub without_nonce_and_created: Result<OnvifCall, ProbeError>,
    /// Correct digest, `Created` a day in the past (device clock).
    pub stale_created: Result<OnvifCall, ProbeError>,
    /// The baseline request sent again byte for byte.
    pub replayed: Result<OnvifCall, ProbeError>,
}

impl TokenChecks {
    fn answered(r: &Result<OnvifCall, ProbeError>) -> bool {
        r.as_ref().is_ok_and(OnvifCall::answered)
    }

    /// The device accepts UsernameToken authentication at all.
    pub fn token_accepted(&self) -> bool {
        Self::answered(&self.valid)
    }

    /// Weak tokens the device answered: `without_nonce_and_created`, `stale_created`,
    /// `replayed`. Empty when the baseline failed (nothing can be concluded).
    pub fn findings(&self) -> Vec<&'static str> {
        if !self.token_accepted() {
            return Vec::new();
        }
        [
            ("without_nonce_and_created", &self.without_nonce_and_created),
            ("stale_created", &self.stale_created),
            ("replayed", &self.replayed),
        ]
        .into_iter()
        .filter(|(_, r)| Self::answered(r))
        .map(|(name, _)| name)
        .collect()
    }

    pub fn observations(&self) -> Value {
        let one = |r: &Result<OnvifCall, ProbeError>| match r {
            Ok(c) => json!({"status": c.status, "outcome": c.outcome.as_str(),
                "fault": c.fault.as_ref().map(|f| f.primary().to_owned()), "error": Value::Null}),
            Err(e) => {
                json!({"status": Value::Null, "outcome": Value::Null, "fault": Value::Null, "error": e.to_string()})
            }
        };
        json!({
            "usernametoken_accepted": self.token_accepted(),
            "valid": one(&self.valid),
            "without_nonce_and_created": one(&self.without_nonce_and_created),
            "stale_created": one(&self.stale_created),
            "replayed": one(&self.replayed),
            "findings": self.findings(),
        })
    }
}

/// Calls the device service of one device.
#[derive(Debug)]
pub struct OnvifProbe {
    http: HttpProbe,
    scheme: Scheme,
    port: u16,
    path: String,
    /// Device clock minus ours, once read; UsernameTokens are dated in device time.
    clock_skew: std::sync::Mutex<Option<chrono::TimeDelta>>,
    /// A new TCP connection per call (login attempts: a per-session lockout must not pass
    /// for a real one).
    fresh_connection: bool,
}

impl OnvifProbe {
    pub fn new(device: Device, scheme: Scheme, port: u16) -> Result<Self, ProbeError> {
        Ok(OnvifProbe {
            http: HttpProbe::new(device)?,
            scheme,
            port,
            path: DEVICE_SERVICE_PATH.to_owned(),
            clock_skew: std::sync::Mutex::new(None),
            fresh_connection: false,
        })
    }

    /// Open a new connection for every call.
    pub fn with_fresh_connections(mut self, fresh: bool) -> Self {
        self.fresh_connection = fresh;
        self
    }

    /// Use another service path (some devices mount the device service elsewhere).
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    pub fn device(&self) -> &Device {
        self.http.device()
    }

    /// Device time now, from the last clock reading (our clock until one is made).
    pub fn device_now(&self) -> DateTime<Utc> {
        let skew = self.clock_skew.lock().ok().and_then(|s| *s).unwrap_or_default();
        Utc::now() + skew
    }

    fn remember_clock(&self, call: &OnvifCall) -> Option<DeviceTime> {
        let utc = call.device_utc()?;
        let skew = utc - Utc::now();
        if let Ok(mut s) = self.clock_skew.lock() {
            *s = Some(skew);
        }
        Some(DeviceTime {
            utc,
            skew_s: skew.num_seconds(),
        })
    }

    fn clock_known(&self) -> bool {
        self.clock_skew.lock().is_ok_and(|s| s.is_some())
    }

    /// Read the device clock (GetSystemDateAndTime, anonymous) so tokens are dated in
    /// device time, as ONVIF clients do.
    pub async fn sync_clock(&self, rec: &Recorder) -> Result<Option<DeviceTime>, ProbeError> {
        // Straight to `post`: the token path calls this, so going through `call` would recurse.
        let call = self.post("GetSystemDateAndTime", "", None, None, rec).await?;
        Ok(self.remember_clock(&call))
    }

    /// Call `operation` with the table's arguments (none for operations not in it).
    pub async fn call(&self, operation: &str, auth: &OnvifAuth, rec: &Recorder) -> Result<OnvifCall, ProbeError> {
        let arguments = self::operation(operation).map(|o| o.arguments).unwrap_or_default();
        self.call_with_arguments(operation, arguments, auth, rec).await
    }

    /// Call `operation` with `arguments` (XML inside the operation element, `tds:` and
    /// `tt:` prefixes bound).
    pub async fn call_with_arguments(
        &self,
        operation: &str,
        arguments: &str,
        auth: &OnvifAuth,
        rec: &Recorder,
    ) -> Result<OnvifCall, ProbeError> {
        if !is_operation_name(operation) {
            return Err(ProbeError::Invalid(format!(
                "not an ONVIF operation name: {operation:?}"
            )));
        }
        match auth {
            OnvifAuth::None => self.post(operation, arguments, None, None, rec).await,
            OnvifAuth::Digest(c) => self.post(operation, arguments, Some(c), None, rec).await,
            OnvifAuth::UsernameToken(c) => {
                let token = self.fresh_token(c, rec).await;
                self.post(operation, arguments, None, Some((&token, c.secret)), rec)
                    .await
            }
            OnvifAuth::Token { token, secret } => {
                self.post(operation, arguments, None, Some((token, *secret)), rec).await
            }
            OnvifAuth::Auto(c) => {
                let first = self.post(operation, arguments, Some(c), None, rec).await?;
                let digest_offered = first.challenges.iter().any(|l| l.starts_with("digest"));
                let wants_token = first.outcome == CallOutcome::Refused && !(first.status == 401 && digest_offered);
                if !wants_token {
                    return Ok(first);
                }
                let token = self.fresh_token(c, rec).await;
                self.post(operation, arguments, None, Some((&token, c.secret)), rec)
                    .await
            }
        }
    }

    async fn fresh_token(&self, credential: &Credential, rec: &Recorder) -> UsernameToken {
        if !self.clock_known() {
            // A device whose clock cannot be read still gets a token in our time.
            let _ = self.sync_clock(rec).await;
        }
        UsernameToken::new(credential, self.device_now())
    }

    async fn post(
        &self,
        operation: &str,
        arguments: &str,
        digest: Option<&Credential>,
        token: Option<(&UsernameToken, bool)>,
        rec: &Recorder,
    ) -> Result<OnvifCall, ProbeError> {
        let header = token.map(|(t, _)| t.security_header()).unwrap_or_default();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<s:Envelope xmlns:s=\"{}\" xmlns:tds=\"{DEVICE_WSDL_NS}\" xmlns:tt=\"{SCHEMA_NS}\">{header}<s:Body><tds:{operation}>{arguments}</tds:{operation}></s:Body></s:Envelope>",
            soap::SOAP12_NS
        );
        let who = match (digest, token) {
            (Some(c), _) => format!("digest as {}", c.username),
            (None, Some((t, _))) => {
                let shape = match (&t.nonce, &t.created) {
                    (Some(_), Some(_)) => "",
                    _ => ", no nonce/created",
                };
                format!("usernametoken as {}{shape}", t.username)
            }
            (None, None) => "anonymous".to_owned(),
        };
        let mut req = HttpRequest::new(self.scheme, self.port, "POST", self.path.clone())
            .with_header(
                "Content-Type",
                format!("application/soap+xml; charset=utf-8; action=\"{DEVICE_WSDL_NS}/{operation}\""),
            )
            .with_body(body)
            .with_label(format!("ONVIF {operation} ({who})"));
        req.fresh_connection = self.fresh_connection;
        if let Some(c) = digest {
            req = req.with_auth(AuthMode::Digest, c.clone());
        }

        // The token digest is not one of the forms the HTTP probe redacts, so record into a
        // scratch recorder that knows it, then hand the redacted exchanges on.
        let response = match token {
            Some((t, true)) => {
                let mut redactor = Redactor::new();
                redactor.add_secret("", &t.digest);
                let scratch = Recorder::new(Arc::new(redactor));
                let result = self.http.send(&req, &scratch).await;
                for exchange in scratch.drain() {
                    rec.record(exchange);
                }
                result?
            }
            _ => self.http.send(&req, rec).await?,
        };
        let (mode, used) = match (digest, token) {
            (Some(_), _) => ("digest", response.auth_used.clone()),
            (None, Some(_)) => ("usernametoken", Some("usernametoken".to_owned())),
            (None, None) => ("none", None),
        };
        // A Digest call the device answered without challenging went out anonymously.
        let mode = if mode == "digest" && used.is_none() {
            "none"
        } else {
            mode
        };
        Ok(OnvifCall::from_response(operation, mode, used, &response))
    }

    /// The anonymous sweep: every operation `options` selects, without credentials.
    /// Fails only when the first call (GetSystemDateAndTime) cannot reach the device;
    /// later transport failures are recorded per operation.
    pub async fn sweep(&self, options: &SweepOptions, rec: &Recorder) -> Result<SweepReport, ProbeError> {
        let operations = options.operations();
        let mut entries = Vec::with_capacity(operations.len());
        let mut device_time = None;
        let mut rest = operations.as_slice();
        if let Some((first, tail)) = operations.split_first() {
            let call = self.call(first.name, &OnvifAuth::None, rec).await?;
            device_time = self.remember_clock(&call);
            entries.push(SweepEntry {
                operation: first,
                result: Ok(call),
            });
            rest = tail;
        }
        let concurrency = match options.concurrency {
            0 => self.device().limits().max_connections.max(1),
            n => n,
        };
        let consecutive_failures = AtomicUsize::new(0);
        // A window of in-flight calls, in table order. Not `stream::iter(..).map(closure)
        // .buffered(n)`: a closure taking a reference there makes the enclosing future fail
        // the `Send` check of `tokio::spawn` (rustc's higher-ranked lifetime limitation).
        let mut queue = rest.iter();
        let mut in_flight = futures::stream::FuturesOrdered::new();
        let mut results: Vec<SweepEntry> = Vec::with_capacity(rest.len());
        loop {
            while in_flight.len() < concurrency {
                match queue.next() {
                    Some(operation) => in_flight.push_back(self.sweep_one(operation, &consecutive_failures, rec)),
                    None => break,
                }
            }
            match in_flight.next().await {
                Some(entry) => results.push(entry),
                None => break,
            }
        }
        let aborted = results
            .iter()
            .any(|e| matches!(&e.result, Err(ProbeError::Invalid(m)) if m == SWEEP_SKIPPED))
            .then(|| format!("stopped after {SWEEP_FAILURE_LIMIT} consecutive transport failures"));
        entries.extend(results);
        Ok(SweepReport {
            entries,
            device_time,
            aborted,
        })
    }

    /// One anonymous sweep call, or a skip once the device has failed repeatedly.
    async fn sweep_one(
        &self,
        operation: &'static Operation,
        consecutive_failures: &AtomicUsize,
        rec: &Recorder,
    ) -> SweepEntry {
        if consecutive_failures.load(Ordering::Relaxed) >= SWEEP_FAILURE_LIMIT {
            return SweepEntry {
                operation,
                result: Err(ProbeError::Invalid(SWEEP_SKIPPED.to_owned())),
            };
        }
        let result = self.call(operation.name, &OnvifAuth::None, rec).await;
        match &result {
            Ok(_) => consecutive_failures.store(0, Ordering::Relaxed),
            Err(_) => {
                consecutive_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        SweepEntry { operation, result }
    }

    /// The advisory UsernameToken checks against GetDeviceInformation (READ_SYSTEM).
    pub async fn token_checks(&self, credential: &Credential, rec: &Recorder) -> TokenChecks {
        let operation = "GetDeviceInformation";
        let secret = credential.secret;
        if !self.clock_known() {
            let _ = self.sync_clock(rec).await;
        }
        let baseline = UsernameToken::new(credential, self.device_now());
        let valid = self
            .call(
                operation,
                &OnvifAuth::Token {
                    token: baseline.clone(),
                    secret,
                },
                rec,
            )
            .await;
        let replayed = self
            .call(
                operation,
                &OnvifAuth::Token {
                    token: baseline,
                    secret,
                },
                rec,
            )
            .await;
        let bare = UsernameToken::without_nonce_and_created(credential);
        let without_nonce_and_created = self
            .call(operation, &OnvifAuth::Token { token: bare, secret }, rec)
            .await;
        let stale = UsernameToken::new(credential, self.device_now() - STALE_TOKEN_AGE);
        let stale_created = self
            .call(operation, &OnvifAuth::Token { token: stale, secret }, rec)
            .await;
        TokenChecks {
            valid,
            without_nonce_and_created,
            stale_created,
            replayed,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn password_digest_matches_the_onvif_programmers_guide_vector() {
        // ONVIF Application Programmer's Guide §6.1.1.3.
        let nonce = base64::engine::general_purpose::STANDARD
            .decode("LKqI6G/AikKCQrN0zqZFlg==")
            .unwrap();
        assert_eq!(
            password_digest(&nonce, "2010-09-16T07:50:45Z", "userpassword"),
            "tuOSpGlFlIXsozq4HFNeeGeFLEI="
        );
        assert_ne!(
            password_digest(&nonce, "2010-09-16T07:50:46Z", "userpassword"),
            "tuOSpGlFlIXsozq4HFNeeGeFLEI="
        );
    }

    #[test]
    fn security_header_carries_the_vector_and_reads_back() {
        let cred = Credential {
            username: "user".into(),
            password: "userpassword".into(),
            secret: true,
        };
        let nonce = base64::engine::general_purpose::STANDARD
            .decode("LKqI6G/AikKCQrN0zqZFlg==")
            .unwrap();
        let token = UsernameToken::with_nonce(&cred, nonce, "2010-09-16T07:50:45Z".into());
        let doc = format!(
            "<s:Envelope xmlns:s=\"{}\">{}<s:Body><x/></s:Body></s:Envelope>",
            soap::SOAP12_NS,
            token.security_header()
        );
        let root = soap::parse_xml(doc.as_bytes()).unwrap();
        let ut = root
            .child("Header")
            .unwrap()
            .child("Security")
            .unwrap()
            .child("UsernameToken")
            .unwrap();
        assert_eq!(ut.child_text("Username"), Some("user"));
        assert_eq!(ut.child_text("Password"), Some("tuOSpGlFlIXsozq4HFNeeGeFLEI="));
        assert_eq!(
            ut.child("Password").unwrap().attribute("Type"),
            Some(PASSWORD_DIGEST_TYPE)
        );
        assert_eq!(ut.child_text("Nonce"), Some("LKqI6G/AikKCQrN0zqZFlg=="));
        assert_eq!(ut.child_text("Created"), Some("2010-09-16T07:50:45Z"));
        assert_eq!(ut.child("Created").unwrap().namespace.as_deref(), Some(WSU_NS));
        assert!(!format!("{token:?}").contains("tuOSpGlFlIXsozq4HFNeeGeFLEI="));

        let bare = UsernameToken::without_nonce_and_created(&cred);
        let header = bare.security_header();
        assert!(!header.contains("Nonce") && !header.contains("Created"), "{header}");
        assert_eq!(bare.digest, password_digest(&[], "", "userpassword"));
    }

    #[test]
    fn operation_table_is_consistent() {
        for (i, o) in DEVICE_OPERATIONS.iter().enumerate() {
            assert!(is_operation_name(o.name), "{}", o.name);
            assert!(
                DEVICE_OPERATIONS[i + 1..].iter().all(|other| other.name != o.name),
                "{} twice",
                o.name
            );
            if o.in_read_sweep {
                assert!(o.access_class.is_read(), "{} is in the read sweep", o.name);
            }
        }
        assert_eq!(DEVICE_OPERATIONS[0].name, "GetSystemDateAndTime");
        assert_eq!(
            operation("GetUsers").map(|o| o.access_class),
            Some(AccessClass::ReadSystemSecret)
        );
        assert_eq!(
            operation("SystemReboot").map(|o| o.access_class),
            Some(AccessClass::Unrecoverable)
        );
        assert!(operation("getusers").is_none());
    }

    #[test]
    fn sweeps_send_writes_and_unrecoverables_only_when_asked() {
        let read = SweepOptions::default().operations();
        assert!(read.iter().all(|o| o.access_class.is_read()));
        assert!(read.iter().any(|o| o.name == "GetUsers"));
        let write = SweepOptions {
            include_write: true,
            ..Default::default()
        }
        .operations();
        assert!(write.iter().any(|o| o.name == "SetHostname"));
        assert!(write.iter().all(|o| o.access_class != AccessClass::Unrecoverable));
        let all = SweepOptions {
            include_write: true,
            include_unrecoverable: true,
            concurrency: 0,
        }
        .operations();
        assert!(all.iter().any(|o| o.name == "SystemReboot"));
    }

    #[test]
    fn operation_names_are_checked_before_they_reach_xml() {
        for bad in ["", "Get Users", "Get<x>", "1Get", "GetUsers\"", &"A".repeat(65)] {
            assert!(!is_operation_name(bad), "{bad}");
        }
        assert!(is_operation_name("GetDeviceInformation"));
    }

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            version: "HTTP/1.1".into(),
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
            body_truncated: false,
            challenges: Vec::new(),
            auth_used: None,
            elapsed_ms: 1,
            peer_cert_sha256: None,
        }
    }

    #[test]
    fn classifies_answers_refusals_and_faults() {
        let ok = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><tds:GetUsersResponse xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>"#;
        let na = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:NotAuthorized</s:Value></s:Subcode></s:Code></s:Fault></s:Body></s:Envelope>"#;
        let ans = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error"><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>ter:ActionNotSupported</s:Value></s:Subcode></s:Code></s:Fault></s:Body></s:Envelope>"#;
        let cases = [
            (200, ok, CallOutcome::Answered),
            (400, na, CallOutcome::Refused),
            (200, na, CallOutcome::Refused),
            (401, "", CallOutcome::Refused),
            (500, ans, CallOutcome::Fault),
            (200, "<html>login</html>", CallOutcome::NotSoap),
            (200, "", CallOutcome::NotSoap),
            (404, "not found", CallOutcome::HttpError),
        ];
        for (status, body, want) in cases {
            let call = OnvifCall::from_response("GetUsers", "none", None, &response(status, body));
            assert_eq!(call.outcome, want, "{status} {body}");
            assert_eq!(call.anonymous_allowed(), want == CallOutcome::Answered);
        }
        let refused = OnvifCall::from_response("GetUsers", "none", None, &response(400, na));
        assert_eq!(refused.demanded_auth(), ["usernametoken"]);
        assert_eq!(refused.observations()["fault"], "ter:NotAuthorized");
        assert_eq!(refused.observations()["access_class"], "READ_SYSTEM_SECRET");
        let authed = OnvifCall::from_response("GetUsers", "digest", Some("digest-md5".into()), &response(200, ok));
        assert!(authed.answered() && !authed.anonymous_allowed());
    }

    #[test]
    fn reads_device_information_and_clock() {
        let info = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetDeviceInformationResponse xmlns="http://www.onvif.org/ver10/device/wsdl"><Manufacturer>Acme</Manufacturer><Model>IPC-1</Model><FirmwareVersion>1.2</FirmwareVersion><SerialNumber>SN9</SerialNumber><HardwareId>HW</HardwareId></GetDeviceInformationResponse></s:Body></s:Envelope>"#;
        let call = OnvifCall::from_response("GetDeviceInformation", "digest", None, &response(200, info));
        let di = call.device_information().unwrap();
        assert_eq!(di.manufacturer.as_deref(), Some("Acme"));
        assert_eq!(di.hardware_id.as_deref(), Some("HW"));
        assert_eq!(serde_json::to_value(&di).unwrap()["FirmwareVersion"], "1.2");

        let time = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><tds:GetSystemDateAndTimeResponse xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType><tt:UTCDateTime><tt:Time><tt:Hour>7</tt:Hour><tt:Minute>50</tt:Minute><tt:Second>45</tt:Second></tt:Time><tt:Date><tt:Year>2010</tt:Year><tt:Month>9</tt:Month><tt:Day>16</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse></s:Body></s:Envelope>"#;
        let call = OnvifCall::from_response("GetSystemDateAndTime", "none", None, &response(200, time));
        assert_eq!(
            call.device_utc().map(created_timestamp).as_deref(),
            Some("2010-09-16T07:50:45Z")
        );
        let bad = time.replace("<tt:Month>9</tt:Month>", "<tt:Month>13</tt:Month>");
        assert_eq!(
            OnvifCall::from_response("GetSystemDateAndTime", "none", None, &response(200, &bad)).device_utc(),
            None
        );
    }
}
