//! The camera's ONVIF device service: SOAP 1.2 on `POST /onvif/device_service`.
//!
//! PRE_AUTH operations (GetSystemDateAndTime, GetCapabilities, GetServices, …) answer
//! anyone. Everything else needs HTTP Digest (checked first when an `Authorization` header
//! is present, as ONVIF Core requires) or a WS-UsernameToken with a PasswordDigest, Nonce
//! and a fresh Created. Both share the ISAPI side's accounts and lockout, so a brute force
//! through ONVIF locks the same account. Anonymous callers get the 401 Digest challenge;
//! a bad token gets HTTP 400 with `env:Sender / ter:NotAuthorized`.
//!
//! Flaw `onvif-anonymous`: every operation answers without credentials (the Xiongmai
//! XM530 pattern, CWE-306).
//!
//! This module is a child of `http` so it can reuse the camera state and the Digest and
//! lockout logic without widening their visibility.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha1::{Digest as _, Sha1};

use super::{CreateRefusal, Denied, LockKey, MAX_BODY_BYTES, RequestCtx, SimState, body_error_response, read_body};
use crate::auth::constant_time_eq;
use crate::auth::{Authorization, parse_authorization};
use crate::config::Flaw;
use crate::xml::{self, Element, escape};

pub(crate) const PATH: &str = "/onvif/device_service";

const SOAP_ENV: &str = "http://www.w3.org/2003/05/soap-envelope";
const DEVICE_NS: &str = "http://www.onvif.org/ver10/device/wsdl";
const SCHEMA_NS: &str = "http://www.onvif.org/ver10/schema";
const ERROR_NS: &str = "http://www.onvif.org/ver10/error";
/// How far a token's Created may be from the camera clock.
const TOKEN_WINDOW: Duration = Duration::from_secs(300);
/// Token nonces remembered against replay: the window on either side of now, capped so a
/// flood of valid tokens cannot grow it without end.
const MAX_REMEMBERED_NONCES: usize = 4096;
const MAX_NONCE_BYTES: usize = 64;

/// Operations any caller may invoke (access class PRE_AUTH).
const PRE_AUTH: &[&str] = &[
    "GetSystemDateAndTime",
    "GetCapabilities",
    "GetServices",
    "GetServiceCapabilities",
    "GetWsdlUrl",
    "GetHostname",
    "GetEndpointReference",
];

/// UsernameToken nonces already accepted, oldest first.
#[derive(Debug, Default)]
pub(crate) struct TokenNonces {
    seen: HashMap<Vec<u8>, Instant>,
    order: VecDeque<Vec<u8>>,
}

impl TokenNonces {
    /// Records `nonce`; false when it was seen within the replay window.
    fn first_use(&mut self, nonce: &[u8], now: Instant) -> bool {
        while let Some(oldest) = self.order.front() {
            let expired = self
                .seen
                .get(oldest)
                .is_none_or(|at| now.duration_since(*at) > 2 * TOKEN_WINDOW);
            if !expired && self.order.len() < MAX_REMEMBERED_NONCES {
                break;
            }
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        if self.seen.contains_key(nonce) {
            return false;
        }
        self.seen.insert(nonce.to_vec(), now);
        self.order.push_back(nonce.to_vec());
        true
    }
}

/// A WS-Security UsernameToken as sent (the reader keeps no attributes, so the password
/// is always checked as a PasswordDigest; a PasswordText token simply fails).
struct Token {
    username: String,
    password: String,
    nonce: Option<String>,
    created: Option<String>,
}

impl Token {
    fn from_envelope(envelope: &Element) -> Option<Token> {
        let token = envelope.child("Header")?.child("Security")?.child("UsernameToken")?;
        Some(Token {
            username: token.child_text("Username").unwrap_or_default().to_string(),
            password: token.child_text("Password").unwrap_or_default().to_string(),
            nonce: token.child_text("Nonce").map(str::to_string),
            created: token.child_text("Created").map(str::to_string),
        })
    }
}

trait ElementExt {
    fn child(&self, name: &str) -> Option<&Element>;
}

impl ElementExt for Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// Why a token was refused.
enum TokenRefusal {
    /// Missing Nonce or Created, undecodable nonce, unreadable or stale Created: nothing
    /// was checked, nothing counted.
    Malformed,
    Replayed,
    Denied(Denied),
}

impl SimState {
    fn authenticate_token(&self, token: &Token, ctx: &RequestCtx) -> Result<String, TokenRefusal> {
        let (Some(nonce_b64), Some(created)) = (&token.nonce, &token.created) else {
            // ONVIF Core: "the server shall reject any Username Token not using both".
            return Err(TokenRefusal::Malformed);
        };
        let nonce = base64::engine::general_purpose::STANDARD
            .decode(nonce_b64)
            .ok()
            .filter(|n| !n.is_empty() && n.len() <= MAX_NONCE_BYTES)
            .ok_or(TokenRefusal::Malformed)?;
        let created_at = parse_utc(created).ok_or(TokenRefusal::Malformed)?;
        if unix_now().abs_diff(created_at) > TOKEN_WINDOW.as_secs() {
            return Err(TokenRefusal::Malformed);
        }

        let key = match ctx.peer {
            Some(peer) if self.has(Flaw::SessionLockout) => LockKey::Connection(peer),
            _ => LockKey::Account(token.username.clone()),
        };
        let now = Instant::now();
        let mut live = self.live();
        let policy = live.policy;
        if policy.enabled {
            let locked = match &key {
                LockKey::Account(name) => live.accounts.locked_for(name, now),
                LockKey::Connection(peer) => live.connections.locked_for(peer, now),
            };
            if let Some(remaining) = locked {
                return Err(TokenRefusal::Denied(Denied::Locked(remaining)));
            }
        }
        let passwords = self.passwords_for(&token.username, &live);
        // Hash even for unknown users so the answer time does not tell names apart.
        let dummy = [String::from("\u{0}no-such-user")];
        let candidates = if passwords.is_empty() {
            &dummy[..]
        } else {
            &passwords[..]
        };
        let mut matched = false;
        for password in candidates {
            let mut hash = Sha1::new();
            hash.update(&nonce);
            hash.update(created.as_bytes());
            hash.update(password.as_bytes());
            let expected = base64::engine::general_purpose::STANDARD.encode(hash.finalize());
            matched |= constant_time_eq(expected.as_bytes(), token.password.as_bytes());
        }
        if matched && !passwords.is_empty() {
            let fresh = self
                .inner
                .onvif_nonces
                .lock()
                .map(|mut nonces| nonces.first_use(&nonce, now))
                .unwrap_or(false);
            if !fresh {
                return Err(TokenRefusal::Replayed);
            }
            match &key {
                LockKey::Account(name) => live.accounts.record_success(name),
                LockKey::Connection(peer) => live.connections.record_success(peer),
            }
            return Ok(token.username.clone());
        }
        match &key {
            LockKey::Account(name) => live.accounts.record_failure(name, now, &policy),
            LockKey::Connection(peer) => live.connections.record_failure(peer, now, &policy),
        }
        Err(TokenRefusal::Denied(if passwords.is_empty() {
            Denied::UnknownUser
        } else {
            Denied::WrongPassword
        }))
    }

    /// `None` lets the call through; otherwise the refusal to send.
    fn onvif_refusal(&self, operation: &str, envelope: &Element, ctx: &RequestCtx) -> Option<Response> {
        if PRE_AUTH.contains(&operation) || self.has(Flaw::OnvifAnonymous) {
            return None;
        }
        // Both supplied: the HTTP layer is checked first (ONVIF Core, Security).
        if ctx.headers.contains_key(axum::http::header::AUTHORIZATION) {
            return self.authenticate(ctx).err().map(|denied| self.deny(denied));
        }
        match Token::from_envelope(envelope) {
            None => Some(self.deny(Denied::Anonymous)),
            Some(token) => match self.authenticate_token(&token, ctx) {
                Ok(_) => None,
                Err(refusal) => {
                    // The caller learns only "not authorized"; the reason stays in the log.
                    let why = match refusal {
                        TokenRefusal::Malformed => "malformed or stale token".to_string(),
                        TokenRefusal::Replayed => "replayed token".to_string(),
                        TokenRefusal::Denied(denied) => format!("{denied:?}"),
                    };
                    tracing::debug!(operation, %why, "ONVIF UsernameToken refused");
                    Some(fault(
                        StatusCode::BAD_REQUEST,
                        "Sender",
                        "ter:NotAuthorized",
                        "Sender not Authorized",
                    ))
                }
            },
        }
    }
}

pub(crate) async fn device_service(State(state): State<SimState>, ctx: RequestCtx, body: Body) -> Response {
    let bytes = match read_body(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(error) => return body_error_response(error, &ctx.path),
    };
    let Ok(envelope) = xml::parse(&bytes) else {
        return fault(
            StatusCode::BAD_REQUEST,
            "Sender",
            "ter:WellFormed",
            "XML not well-formed",
        );
    };
    let Some(operation) = (envelope.name == "Envelope")
        .then(|| envelope.child("Body"))
        .flatten()
        .and_then(|body| body.children.first())
    else {
        return fault(StatusCode::BAD_REQUEST, "Sender", "ter:WellFormed", "no SOAP Body");
    };
    if let Some(refusal) = state.onvif_refusal(&operation.name, &envelope, &ctx) {
        return refusal;
    }
    if matches!(operation.name.as_str(), "CreateUsers" | "DeleteUsers") {
        return manage_users(&state, operation, &envelope, &ctx);
    }
    match answer(&state, &operation.name, &ctx) {
        Some(content) => soap_response(StatusCode::OK, &content),
        None => fault(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Receiver",
            "ter:ActionNotSupported",
            "Optional Action Not Implemented",
        ),
    }
}

/// The Body content for a supported operation.
fn answer(state: &SimState, operation: &str, ctx: &RequestCtx) -> Option<String> {
    let identity = &state.inner.identity;
    let host = ctx
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']' | '-'))
        })
        .unwrap_or("127.0.0.1");
    let xaddr = escape(&format!("http://{host}{PATH}"));
    Some(match operation {
        "GetSystemDateAndTime" => {
            let (year, month, day, hour, minute, second) = civil_from_unix(unix_now());
            let stamp = format!(
                "<tt:Time><tt:Hour>{hour}</tt:Hour><tt:Minute>{minute}</tt:Minute><tt:Second>{second}</tt:Second></tt:Time>\
                 <tt:Date><tt:Year>{year}</tt:Year><tt:Month>{month}</tt:Month><tt:Day>{day}</tt:Day></tt:Date>"
            );
            format!(
                "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>\
                 <tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone>\
                 <tt:UTCDateTime>{stamp}</tt:UTCDateTime><tt:LocalDateTime>{stamp}</tt:LocalDateTime>\
                 </tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
            )
        }
        "GetCapabilities" => format!(
            "<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Device><tt:XAddr>{xaddr}</tt:XAddr>\
             <tt:Security><tt:TLS1.1>false</tt:TLS1.1><tt:TLS1.2>true</tt:TLS1.2><tt:OnboardKeyGeneration>false</tt:OnboardKeyGeneration>\
             <tt:AccessPolicyConfig>false</tt:AccessPolicyConfig><tt:X.509Token>false</tt:X.509Token><tt:SAMLToken>false</tt:SAMLToken>\
             <tt:KerberosToken>false</tt:KerberosToken><tt:RELToken>false</tt:RELToken></tt:Security></tt:Device>\
             </tds:Capabilities></tds:GetCapabilitiesResponse>"
        ),
        "GetServices" => format!(
            "<tds:GetServicesResponse><tds:Service><tds:Namespace>{DEVICE_NS}</tds:Namespace><tds:XAddr>{xaddr}</tds:XAddr>\
             <tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service></tds:GetServicesResponse>"
        ),
        "GetServiceCapabilities" => "<tds:GetServiceCapabilitiesResponse><tds:Capabilities>\
             <tds:Network IPFilter=\"false\" ZeroConfiguration=\"false\" IPVersion6=\"false\" DynDNS=\"false\"/>\
             <tds:Security TLS1.2=\"true\" HttpDigest=\"true\" UsernameToken=\"true\" MaxUsers=\"1\" HashingAlgorithms=\"MD5 SHA-256\"/>\
             <tds:System DiscoveryResolve=\"false\" DiscoveryBye=\"false\" RemoteDiscovery=\"false\" SystemBackup=\"false\" \
             SystemLogging=\"false\" FirmwareUpgrade=\"false\"/></tds:Capabilities></tds:GetServiceCapabilitiesResponse>"
            .to_string(),
        "GetWsdlUrl" => "<tds:GetWsdlUrlResponse><tds:WsdlUrl>http://www.onvif.org/</tds:WsdlUrl></tds:GetWsdlUrlResponse>"
            .to_string(),
        "GetHostname" => format!(
            "<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP><tt:Name>{}</tt:Name>\
             </tds:HostnameInformation></tds:GetHostnameResponse>",
            escape(&hostname(&state.device_name()))
        ),
        "GetEndpointReference" => format!(
            "<tds:GetEndpointReferenceResponse><tds:GUID>urn:uuid:{}</tds:GUID></tds:GetEndpointReferenceResponse>",
            escape(&identity.device_id)
        ),
        "GetDeviceInformation" => format!(
            "<tds:GetDeviceInformationResponse><tds:Manufacturer>{}</tds:Manufacturer><tds:Model>{}</tds:Model>\
             <tds:FirmwareVersion>{}</tds:FirmwareVersion><tds:SerialNumber>{}</tds:SerialNumber>\
             <tds:HardwareId>{}</tds:HardwareId></tds:GetDeviceInformationResponse>",
            escape(&identity.vendor),
            escape(&identity.model),
            escape(&identity.firmware),
            escape(&identity.serial),
            escape(&identity.device_id),
        ),
        // The service account stays hidden here too: that is what makes it a backdoor.
        "GetUsers" => {
            let extra: String = state
                .extra_users()
                .iter()
                .map(|user| {
                    format!(
                        "<tds:User><tt:Username>{}</tt:Username><tt:UserLevel>{}</tt:UserLevel></tds:User>",
                        escape(&user.name),
                        escape(&user.level)
                    )
                })
                .collect();
            format!(
                "<tds:GetUsersResponse><tds:User><tt:Username>{}</tt:Username><tt:UserLevel>Administrator</tt:UserLevel>\
                 </tds:User>{extra}</tds:GetUsersResponse>",
                escape(&state.inner.admin_user)
            )
        }
        "GetScopes" => {
            let scope = |item: &str| {
                format!(
                    "<tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef><tt:ScopeItem>onvif://www.onvif.org/{}</tt:ScopeItem></tds:Scopes>",
                    escape(item)
                )
            };
            format!(
                "<tds:GetScopesResponse>{}{}{}</tds:GetScopesResponse>",
                scope("Profile/Streaming"),
                scope(&format!("hardware/{}", identity.model)),
                scope(&format!("name/{}", state.device_name())),
            )
        }
        _ => return None,
    })
}

/// CreateUsers / DeleteUsers (access class WRITE_SYSTEM: administrators only), all or none,
/// with ONVIF Core's faults. Called after authentication succeeded (or `onvif-anonymous`).
fn manage_users(state: &SimState, operation: &Element, envelope: &Element, ctx: &RequestCtx) -> Response {
    let caller = caller(envelope, ctx);
    let allowed = state.has(Flaw::OnvifAnonymous) || caller.as_deref().is_some_and(|name| state.is_administrator(name));
    if !allowed {
        return fault(
            StatusCode::BAD_REQUEST,
            "Sender",
            "ter:NotAuthorized",
            "Sender not Authorized",
        );
    }
    let prohibited = |subcode: &str, reason: &str| {
        nested_fault(
            StatusCode::BAD_REQUEST,
            "Sender",
            "ter:OperationProhibited",
            subcode,
            reason,
        )
    };
    if operation.name == "DeleteUsers" {
        let names: Vec<&str> = operation
            .children
            .iter()
            .filter(|child| child.name == "Username")
            .map(|child| child.text.as_str())
            .collect();
        if names.is_empty() {
            return nested_fault(
                StatusCode::BAD_REQUEST,
                "Sender",
                "ter:InvalidArgVal",
                "ter:UsernameMissing",
                "Username not recognized",
            );
        }
        if names.contains(&state.inner.admin_user.as_str()) {
            return nested_fault(
                StatusCode::BAD_REQUEST,
                "Sender",
                "ter:InvalidArgVal",
                "ter:FixedUser",
                "Username may not be deleted",
            );
        }
        return match state.delete_users(&names) {
            Ok(()) => soap_response(StatusCode::OK, "<tds:DeleteUsersResponse/>"),
            Err(_) => nested_fault(
                StatusCode::BAD_REQUEST,
                "Sender",
                "ter:InvalidArgVal",
                "ter:UsernameMissing",
                "Username not recognized",
            ),
        };
    }
    let users: Vec<(&str, &str, &str)> = operation
        .children
        .iter()
        .filter(|child| child.name == "User")
        .map(|user| {
            (
                user.child_text("Username").unwrap_or_default(),
                user.child_text("Password").unwrap_or_default(),
                user.child_text("UserLevel").unwrap_or_default(),
            )
        })
        .collect();
    if users.is_empty() || users.len() > super::MAX_EXTRA_USERS {
        return nested_fault(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Receiver",
            "ter:Action",
            "ter:TooManyUsers",
            "Maximum number of supported users exceeded",
        );
    }
    // All or none: create one by one and undo on the first refusal.
    let mut created: Vec<&str> = Vec::new();
    for (name, password, level) in &users {
        let refusal = if *level == "Anonymous" {
            Some(prohibited(
                "ter:AnonymousNotAllowed",
                "User level anonymous is not allowed",
            ))
        } else if name.chars().count() > super::MAX_USER_NAME {
            Some(prohibited("ter:UsernameTooLong", "The username is too long"))
        } else if name.is_empty() {
            Some(prohibited("ter:UsernameTooShort", "The username is too short"))
        } else {
            match state.create_user(name, password, level) {
                Ok(_) => {
                    created.push(name);
                    None
                }
                Err(CreateRefusal::NameClash) => Some(prohibited("ter:UsernameClash", "Username already exists")),
                Err(CreateRefusal::PasswordTooLong) => {
                    Some(prohibited("ter:PasswordTooLong", "The password is too long"))
                }
                // ONVIF Core, CreateUsers: "ter:Password — Too weak password" (also when empty).
                Err(CreateRefusal::WeakPassword | CreateRefusal::BadPassword) => {
                    Some(prohibited("ter:Password", "Too weak password"))
                }
                Err(CreateRefusal::TooMany) => Some(nested_fault(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Receiver",
                    "ter:Action",
                    "ter:TooManyUsers",
                    "Maximum number of supported users exceeded",
                )),
                Err(CreateRefusal::BadName | CreateRefusal::BadLevel) => Some(nested_fault(
                    StatusCode::BAD_REQUEST,
                    "Sender",
                    "ter:InvalidArgVal",
                    "ter:InvalidArgs",
                    "invalid user name or level",
                )),
            }
        };
        if let Some(refusal) = refusal {
            if !created.is_empty() {
                let _ = state.delete_users(&created);
            }
            return refusal;
        }
    }
    soap_response(StatusCode::OK, "<tds:CreateUsersResponse/>")
}

/// Who called: the Digest or Basic user name, else the UsernameToken's. Only meaningful
/// after `onvif_refusal` let the call through.
fn caller(envelope: &Element, ctx: &RequestCtx) -> Option<String> {
    let header = ctx
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(parse_authorization);
    match header {
        Some(Authorization::Digest(digest)) => Some(digest.username),
        Some(Authorization::Basic { username, .. }) => Some(username),
        None => Token::from_envelope(envelope).map(|token| token.username),
    }
}

/// A device name as a hostname label.
fn hostname(name: &str) -> String {
    let label: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63)
        .collect();
    if label.is_empty() { "camera".to_string() } else { label }
}

fn soap_response(status: StatusCode, body_content: &str) -> Response {
    let envelope = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<env:Envelope xmlns:env=\"{SOAP_ENV}\" xmlns:tds=\"{DEVICE_NS}\" \
         xmlns:tt=\"{SCHEMA_NS}\" xmlns:ter=\"{ERROR_NS}\"><env:Body>{body_content}</env:Body></env:Envelope>\n"
    );
    (
        status,
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("application/soap+xml; charset=utf-8"),
        )],
        envelope,
    )
        .into_response()
}

/// A SOAP 1.2 fault with one ONVIF subcode.
fn fault(status: StatusCode, code: &str, subcode: &str, reason: &str) -> Response {
    soap_response(
        status,
        &format!(
            "<env:Fault><env:Code><env:Value>env:{code}</env:Value><env:Subcode><env:Value>{subcode}</env:Value>\
             </env:Subcode></env:Code><env:Reason><env:Text xml:lang=\"en\">{}</env:Text></env:Reason></env:Fault>",
            escape(reason)
        ),
    )
}

/// A SOAP 1.2 fault with ONVIF's two-level subcode (`ter:OperationProhibited / ter:Password`).
fn nested_fault(status: StatusCode, code: &str, subcode: &str, detail: &str, reason: &str) -> Response {
    soap_response(
        status,
        &format!(
            "<env:Fault><env:Code><env:Value>env:{code}</env:Value><env:Subcode><env:Value>{subcode}</env:Value>\
             <env:Subcode><env:Value>{detail}</env:Value></env:Subcode></env:Subcode></env:Code>\
             <env:Reason><env:Text xml:lang=\"en\">{}</env:Text></env:Reason></env:Fault>",
            escape(reason)
        ),
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fff]Z`; `None` for anything else.
fn parse_utc(text: &str) -> Option<u64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let time = time.split_once('.').map_or(time, |(whole, fraction)| {
        if fraction.chars().all(|c| c.is_ascii_digit()) {
            whole
        } else {
            ""
        }
    });
    let numbers = |part: &str, sep: char, count: usize| -> Option<Vec<u64>> {
        let fields: Vec<u64> = part
            .split(sep)
            .map(|f| (f.len() <= 4 && !f.is_empty()).then(|| f.parse::<u64>().ok()).flatten())
            .collect::<Option<_>>()?;
        (fields.len() == count).then_some(fields)
    };
    let d = numbers(date, '-', 3)?;
    let t = numbers(time, ':', 3)?;
    let (year, month, day) = (d[0], d[1], d[2]);
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if t[0] > 23 || t[1] > 59 || t[2] > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2])
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

/// (year, month, day, hour, minute, second) of a Unix time, UTC.
fn civil_from_unix(secs: u64) -> (u64, u64, u64, u64, u64, u64) {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_the_civil_algorithms() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_utc("2010-09-16T07:50:45Z"), Some(1_284_623_445));
        assert_eq!(parse_utc("2010-09-16T07:50:45.123Z"), Some(1_284_623_445));
        assert_eq!(civil_from_unix(1_284_623_445), (2010, 9, 16, 7, 50, 45));
        assert_eq!(civil_from_unix(951_782_400), (2000, 2, 29, 0, 0, 0));
        for bad in [
            "",
            "2010-09-16T07:50:45",
            "2010-13-01T00:00:00Z",
            "x-y-zTa:b:cZ",
            "2010-09-16 07:50:45Z",
            "99999-1-1T0:0:0Z",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn nonces_are_refused_on_reuse_and_memory_stays_bounded() {
        let mut nonces = TokenNonces::default();
        let now = Instant::now();
        assert!(nonces.first_use(b"abc", now));
        assert!(!nonces.first_use(b"abc", now));
        for i in 0..(MAX_REMEMBERED_NONCES as u32 + 100) {
            nonces.first_use(&i.to_be_bytes(), now);
        }
        assert!(nonces.seen.len() <= MAX_REMEMBERED_NONCES + 1);
        assert_eq!(nonces.seen.len(), nonces.order.len());
    }
}
