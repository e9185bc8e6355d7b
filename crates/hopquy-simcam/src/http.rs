//! The camera's web API, shaped like Hikvision ISAPI (XML bodies, `ResponseStatus` errors,
//! Digest authentication, `userCheck` lock signalling). One [`Router`] serves both HTTP
//! and HTTPS; [`serve_connection`] runs it on any byte stream with bounded header time,
//! header size and connection lifetime.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Path, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::debug;

use crate::auth::{
    Authorization, DigestAlgorithm, DigestResponse, LockPolicy, LoginGuard, NonceCheck, NonceStore, constant_time_eq,
    digest_response, parse_authorization,
};
use crate::config::{DeviceIdentity, Flaw, SimConfig, SimSetup, password_is_complex};
use crate::xml::{self, Element, escape};

// A child of this module so the ONVIF service shares accounts, Digest and lockout.
#[path = "onvif.rs"]
mod onvif;
// A child too: the known-vulnerability endpoints answer through the same accounts.
#[path = "vulns.rs"]
mod vulns;

pub use vulns::{DAHUA_SECOND_USER_HASH, SNAPSHOT_JPEG, TBK_VIEWER_PASSWORD, XM_ROOT_HASH, hostile_router};

/// Request bodies (XML) are small; anything bigger is refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Firmware images are the one large upload.
pub const MAX_FIRMWARE_BYTES: usize = 8 * 1024 * 1024;
/// A path segment longer than this is malformed input (`verbose-errors` answers it with a
/// stack trace).
pub const MAX_PATH_SEGMENT: usize = 128;
/// How long the HTTP services answer 503 after `PUT /ISAPI/System/reboot`.
pub const REBOOT_DOWNTIME: Duration = Duration::from_secs(1);
/// The factory password `default-password` accepts for `admin`.
pub const FACTORY_PASSWORD: &str = "12345";
/// The hidden account `default-password` adds (user, password).
pub const SERVICE_ACCOUNT: (&str, &str) = ("service", "service");
/// Users an administrator may add besides `admin` (the temporary users of the
/// password-policy case); a bound, so no client can grow the camera's state without end.
pub const MAX_EXTRA_USERS: usize = 4;
/// Longest user name and password the user-management endpoints accept (characters).
pub const MAX_USER_NAME: usize = 32;
pub const MAX_USER_PASSWORD: usize = 64;
/// Magic prefix of a firmware image the camera accepts; see [`firmware_image`].
pub const FIRMWARE_MAGIC: &[u8] = b"HQFW";

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_HEADER_BUFFER: usize = 16 * 1024;
/// After this a connection finishes its request in flight and closes, so no client can
/// hold a connection slot forever.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
const XML_NAMESPACE: &str = "http://www.isapi.org/ver20/XMLSchema";

/// Shared, mutable camera state behind the HTTP API. Cheap to clone.
#[derive(Clone)]
pub struct SimState {
    inner: Arc<Inner>,
}

struct Inner {
    setup: SimSetup,
    identity: DeviceIdentity,
    admin_user: String,
    realm: String,
    opaque: String,
    live: Mutex<Live>,
    onvif_nonces: Mutex<onvif::TokenNonces>,
    /// Set by the uplink agents (`uplink.rs`) while the camera cannot reach its cloud.
    uplink_failing: std::sync::atomic::AtomicBool,
}

/// A user added through `POST /ISAPI/Security/users` or ONVIF CreateUsers. It can log in
/// (HTTP Digest, ONVIF) like the administrator, so a created user is a real one.
#[derive(Debug, Clone)]
pub(crate) struct ExtraUser {
    id: u32,
    name: String,
    password: String,
    /// `Administrator`, `Operator`, `User` (ONVIF) or `Viewer` (ISAPI).
    level: String,
}

/// Why a new user was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreateRefusal {
    BadName,
    NameClash,
    BadPassword,
    /// Too long for the device.
    PasswordTooLong,
    /// The complexity rule (Decision 724) refused it.
    WeakPassword,
    BadLevel,
    TooMany,
}

struct Live {
    device_name: String,
    admin_password: String,
    extra_users: Vec<ExtraUser>,
    policy: LockPolicy,
    nonces: NonceStore,
    accounts: LoginGuard<String>,
    connections: LoginGuard<SocketAddr>,
    rebooting_until: Option<Instant>,
}

impl SimState {
    /// Whether the camera can reach its cloud, as its uplink agents last found.
    pub(crate) fn set_uplink_failing(&self, failing: bool) {
        self.inner
            .uplink_failing
            .store(failing, std::sync::atomic::Ordering::Relaxed);
    }

    /// `outage-breaks-local`: while the cloud is unreachable the local web API and RTSP refuse
    /// service, as cameras that check every login with their cloud do.
    pub fn local_services_down(&self) -> bool {
        self.inner.setup.has(Flaw::OutageBreaksLocal)
            && self.inner.uplink_failing.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn new(config: &SimConfig) -> Self {
        let mut opaque = [0u8; 16];
        rand::fill(&mut opaque[..]);
        SimState {
            inner: Arc::new(Inner {
                setup: config.setup.clone(),
                identity: config.identity.clone(),
                admin_user: config.admin_user.clone(),
                realm: config.identity.model.clone(),
                opaque: hex::encode(opaque),
                onvif_nonces: Mutex::default(),
                uplink_failing: std::sync::atomic::AtomicBool::new(false),
                live: Mutex::new(Live {
                    device_name: config.identity.device_name.clone(),
                    admin_password: config.admin_password.clone(),
                    extra_users: Vec::new(),
                    policy: LockPolicy {
                        enabled: !config.setup.has(Flaw::NoLockout),
                        attempts: config.lockout.attempts,
                        window: Duration::from_secs(config.lockout.window_s.into()),
                        duration: Duration::from_secs(config.lockout.duration_s.into()),
                    },
                    nonces: NonceStore::default(),
                    accounts: LoginGuard::default(),
                    connections: LoginGuard::default(),
                    rebooting_until: None,
                }),
            }),
        }
    }

    /// The admin password now in force (it changes through `PUT /ISAPI/Security/users/1`).
    pub fn admin_password(&self) -> String {
        self.live().admin_password.clone()
    }

    pub fn device_name(&self) -> String {
        self.live().device_name.clone()
    }

    /// The Digest realm the camera challenges with.
    pub fn realm(&self) -> &str {
        &self.inner.realm
    }

    fn has(&self, flaw: Flaw) -> bool {
        self.inner.setup.has(flaw)
    }

    fn live(&self) -> MutexGuard<'_, Live> {
        // A panic while holding the lock cannot leave `Live` half-updated in a way that
        // matters to a simulator; keep serving rather than poison every later request.
        self.inner.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The request facts authentication and error answers need.
pub(crate) struct RequestCtx {
    method: Method,
    /// Path and query as sent: the Digest `uri` must equal it.
    target: String,
    path: String,
    query: String,
    headers: HeaderMap,
    peer: Option<SocketAddr>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestCtx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestCtx {
            method: parts.method.clone(),
            target: parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_string(), |pq| pq.as_str().to_string()),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
            headers: parts.headers.clone(),
            peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0),
        })
    }
}

/// Why a request was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Denied {
    /// No usable credentials: nothing was checked, nothing counted.
    Anonymous,
    UnknownUser,
    WrongPassword,
    /// Right password on an expired, forgotten or replayed nonce.
    Stale,
    Locked(Duration),
}

/// Why [`SimState::service_login`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServiceRefusal {
    Wrong,
    Locked,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LockKey {
    Account(String),
    Connection(SocketAddr),
}

impl SimState {
    /// The 401 to answer with, or `None` to let the request through. `open_with`: a flaw
    /// under which this endpoint needs no authentication at all.
    fn refusal(&self, ctx: &RequestCtx, open_with: Option<Flaw>) -> Option<Response> {
        if open_with.is_some_and(|flaw| self.has(flaw)) {
            return None;
        }
        self.authenticate(ctx).err().map(|denied| self.deny(denied))
    }

    fn authenticate(&self, ctx: &RequestCtx) -> Result<String, Denied> {
        // CVE-2017-7921: a fixed `auth` query parameter (base64 "admin:11") read as admin.
        if self.has(Flaw::HikCve2017_7921)
            && ctx.method == Method::GET
            && ctx.query.split('&').any(|pair| pair == "auth=YWRtaW46MTEK")
        {
            return Ok(self.inner.admin_user.clone());
        }
        let authorization = ctx
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_authorization)
            .filter(|auth| self.has(Flaw::BasicAuth) || matches!(auth, Authorization::Digest(_)));
        let Some(authorization) = authorization else {
            return Err(Denied::Anonymous);
        };
        let username = match &authorization {
            Authorization::Digest(digest) => digest.username.clone(),
            Authorization::Basic { username, .. } => username.clone(),
        };
        let key = match ctx.peer {
            Some(peer) if self.has(Flaw::SessionLockout) => LockKey::Connection(peer),
            _ => LockKey::Account(username.clone()),
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
                return Err(Denied::Locked(remaining));
            }
        }

        let passwords = self.passwords_for(&username, &live);
        let correct = match &authorization {
            Authorization::Basic { password, .. } => passwords
                .iter()
                .any(|candidate| constant_time_eq(candidate.as_bytes(), password.as_bytes())),
            Authorization::Digest(digest) => self.digest_matches(digest, ctx, &passwords),
        };
        if correct {
            if let Authorization::Digest(digest) = &authorization
                && live.nonces.check_once(&digest.nonce, digest.nc, now) != NonceCheck::Fresh
            {
                return Err(Denied::Stale);
            }
            match &key {
                LockKey::Account(name) => live.accounts.record_success(name),
                LockKey::Connection(peer) => live.connections.record_success(peer),
            }
            return Ok(username);
        }
        match &key {
            LockKey::Account(name) => live.accounts.record_failure(name, now, &policy),
            LockKey::Connection(peer) => live.connections.record_failure(peer, now, &policy),
        }
        Err(if passwords.is_empty() {
            Denied::UnknownUser
        } else {
            Denied::WrongPassword
        })
    }

    /// A login on a service outside this module (RTSP), against the same accounts and the
    /// same Decision 724 counters as ISAPI and ONVIF: refused while locked, `verify` run
    /// over the passwords the account takes, a failure counted. `lockout = false` (a
    /// service with its own, missing, lockout) neither checks nor counts.
    pub(crate) fn service_login(
        &self,
        username: &str,
        peer: Option<SocketAddr>,
        lockout: bool,
        verify: impl FnOnce(&[String]) -> bool,
    ) -> Result<(), ServiceRefusal> {
        let key = match peer {
            Some(peer) if self.has(Flaw::SessionLockout) => LockKey::Connection(peer),
            _ => LockKey::Account(username.to_string()),
        };
        let now = Instant::now();
        let mut live = self.live();
        let policy = live.policy;
        if lockout && policy.enabled {
            let locked = match &key {
                LockKey::Account(name) => live.accounts.locked_for(name, now),
                LockKey::Connection(peer) => live.connections.locked_for(peer, now),
            };
            if locked.is_some() {
                return Err(ServiceRefusal::Locked);
            }
        }
        let passwords = self.passwords_for(username, &live);
        if verify(&passwords) && !passwords.is_empty() {
            if lockout {
                match &key {
                    LockKey::Account(name) => live.accounts.record_success(name),
                    LockKey::Connection(peer) => live.connections.record_success(peer),
                }
            }
            return Ok(());
        }
        if lockout {
            match &key {
                LockKey::Account(name) => live.accounts.record_failure(name, now, &policy),
                LockKey::Connection(peer) => live.connections.record_failure(peer, now, &policy),
            }
        }
        Err(ServiceRefusal::Wrong)
    }

    fn passwords_for(&self, username: &str, live: &Live) -> Vec<String> {
        let factory = self.has(Flaw::DefaultPassword);
        let mut passwords = Vec::new();
        if username == self.inner.admin_user {
            passwords.push(live.admin_password.clone());
            if factory {
                passwords.push(FACTORY_PASSWORD.to_string());
            }
        } else if factory && username == SERVICE_ACCOUNT.0 {
            passwords.push(SERVICE_ACCOUNT.1.to_string());
        } else if let Some(user) = live.extra_users.iter().find(|user| user.name == username) {
            passwords.push(user.password.clone());
        }
        passwords
    }

    /// Names of the users added besides `admin` (tests check nothing is left behind).
    pub fn added_users(&self) -> Vec<String> {
        self.live().extra_users.iter().map(|user| user.name.clone()).collect()
    }

    /// Users other than `admin` (id order).
    pub(crate) fn extra_users(&self) -> Vec<ExtraUser> {
        self.live().extra_users.clone()
    }

    /// Whether `username` may manage users: the administrator, or an added Administrator.
    fn is_administrator(&self, username: &str) -> bool {
        username == self.inner.admin_user
            || self
                .live()
                .extra_users
                .iter()
                .any(|user| user.name == username && user.level == "Administrator")
    }

    /// Adds a user under the same rules on every interface; returns its id.
    pub(crate) fn create_user(&self, name: &str, password: &str, level: &str) -> Result<u32, CreateRefusal> {
        let name_ok = !name.is_empty()
            && name.chars().count() <= MAX_USER_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !name_ok {
            return Err(CreateRefusal::BadName);
        }
        if password.is_empty() || password.chars().any(char::is_control) {
            return Err(CreateRefusal::BadPassword);
        }
        if password.chars().count() > MAX_USER_PASSWORD {
            return Err(CreateRefusal::PasswordTooLong);
        }
        if !self.has(Flaw::WeakPasswordPolicy) && !password_is_complex(password) {
            return Err(CreateRefusal::WeakPassword);
        }
        if !["Administrator", "Operator", "User", "Viewer"].contains(&level) {
            return Err(CreateRefusal::BadLevel);
        }
        let mut live = self.live();
        let reserved = name == self.inner.admin_user || name == SERVICE_ACCOUNT.0;
        if reserved || live.extra_users.iter().any(|user| user.name == name) {
            return Err(CreateRefusal::NameClash);
        }
        if live.extra_users.len() >= MAX_EXTRA_USERS {
            return Err(CreateRefusal::TooMany);
        }
        // Id 1 is the administrator; a new user takes the lowest free id after it.
        let id = (2..)
            .find(|id| live.extra_users.iter().all(|user| user.id != *id))
            .unwrap_or(u32::MAX);
        live.extra_users.push(ExtraUser {
            id,
            name: name.to_string(),
            password: password.to_string(),
            level: level.to_string(),
        });
        live.extra_users.sort_by_key(|user| user.id);
        Ok(id)
    }

    /// Removes added users by name, all or none; `Err` names the first that is not an added
    /// user (the administrator cannot be deleted).
    pub(crate) fn delete_users(&self, names: &[&str]) -> Result<(), String> {
        let mut live = self.live();
        for (index, name) in names.iter().enumerate() {
            let known = live.extra_users.iter().any(|user| user.name == *name);
            if !known || names[..index].contains(name) {
                return Err((*name).to_string());
            }
        }
        live.extra_users.retain(|user| !names.contains(&user.name.as_str()));
        Ok(())
    }

    fn digest_matches(&self, digest: &DigestResponse, ctx: &RequestCtx, passwords: &[String]) -> bool {
        let uri_matches =
            digest.uri == ctx.target || (digest.uri.starts_with("http") && digest.uri.ends_with(&ctx.target));
        let opaque_matches = digest.opaque.as_ref().is_none_or(|opaque| *opaque == self.inner.opaque);
        let framing_ok = digest.realm == self.inner.realm && digest.qop == "auth" && uri_matches && opaque_matches;
        // Hash even for unknown users so the answer time does not tell names apart.
        let dummy = [String::from("\u{0}no-such-user")];
        let candidates = if passwords.is_empty() { &dummy[..] } else { passwords };
        let mut matched = false;
        for password in candidates {
            let expected = digest_response(
                digest.algorithm,
                &digest.username,
                &digest.realm,
                password,
                ctx.method.as_str(),
                &digest.uri,
                &digest.nonce,
                digest.nc,
                &digest.cnonce,
                &digest.qop,
            );
            matched |= constant_time_eq(expected.as_bytes(), digest.response.as_bytes());
        }
        framing_ok && matched && !passwords.is_empty()
    }

    /// The 401: one `WWW-Authenticate` per Digest algorithm (SHA-256 first, as RFC 7616
    /// asks), Basic too under `basic-auth`, and a body that says nothing more than
    /// "unauthorized" unless `verbose-login-errors` is on.
    fn deny(&self, denied: Denied) -> Response {
        let nonce = self.live().nonces.issue(Instant::now());
        let stale = if denied == Denied::Stale { ", stale=TRUE" } else { "" };
        let mut headers = HeaderMap::new();
        for algorithm in [DigestAlgorithm::Sha256, DigestAlgorithm::Md5] {
            let challenge = format!(
                "Digest realm=\"{}\", qop=\"auth\", algorithm={}, nonce=\"{nonce}\", opaque=\"{}\"{stale}",
                self.inner.realm,
                algorithm.name(),
                self.inner.opaque
            );
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.append(WWW_AUTHENTICATE, value);
            }
        }
        if self.has(Flaw::BasicAuth)
            && let Ok(value) = HeaderValue::from_str(&format!("Basic realm=\"{}\"", self.inner.realm))
        {
            headers.append(WWW_AUTHENTICATE, value);
        }
        let detail = match denied {
            Denied::Locked(remaining) => format!(
                "<lockStatus>lock</lockStatus>\n<unlockTime>{}</unlockTime>\n",
                remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0)
            ),
            Denied::UnknownUser if self.has(Flaw::VerboseLoginErrors) => {
                "<subStatusCode>userNotExist</subStatusCode>\n<description>user does not exist</description>\n"
                    .to_string()
            }
            Denied::WrongPassword if self.has(Flaw::VerboseLoginErrors) => {
                "<subStatusCode>passwordError</subStatusCode>\n<description>password incorrect</description>\n"
                    .to_string()
            }
            _ => String::new(),
        };
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<userCheck version=\"2.0\" xmlns=\"{XML_NAMESPACE}\">\n<statusValue>401</statusValue>\n<statusString>Unauthorized</statusString>\n{detail}</userCheck>\n"
        );
        (StatusCode::UNAUTHORIZED, headers, xml_body(body)).into_response()
    }

    /// Malformed input: a plain 400, or with `verbose-errors` the 500 a careless firmware
    /// gives, leaking a stack trace and build paths.
    fn malformed(&self, ctx: &RequestCtx, what: &str, handler: &str) -> Response {
        if self.has(Flaw::VerboseErrors) {
            let trace = format!(
                "500 Internal Server Error\n\
                 terminate called after throwing an instance of 'webs::ParseException'\n  what():  {what}\n\
                 #0 0x0041a3c8 in CXmlParser::Parse(char const*, unsigned int) at /home/jenkins/ipc_v5.4.0/app/webs/xml/xml_parser.cpp:412\n\
                 #1 0x00437f10 in {handler}(HttpRequest&) at /home/jenkins/ipc_v5.4.0/app/webs/isapi/isapi_dispatch.cpp:1187\n\
                 #2 0x0040c2a4 in HttpServer::Dispatch(HttpRequest&) at /home/jenkins/ipc_v5.4.0/app/webs/http_server.cpp:733\n\
                 #3 0x0040b01c in WorkerThread::Run() at /home/jenkins/ipc_v5.4.0/app/webs/thread.cpp:96\n\
                 config: /mnt/mtd/Config/webs.conf  uid=0(root)\n"
            );
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
                trace,
            )
                .into_response();
        }
        response_status(
            StatusCode::BAD_REQUEST,
            &ctx.path,
            5,
            "Invalid XML Format",
            "badXmlFormat",
        )
    }

    fn lock_policy(&self) -> LockPolicy {
        self.live().policy
    }
}

fn xml_body(body: String) -> ([(axum::http::HeaderName, HeaderValue); 1], String) {
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("application/xml; charset=\"UTF-8\""),
        )],
        body,
    )
}

fn xml_response(status: StatusCode, body: String) -> Response {
    (status, xml_body(body)).into_response()
}

/// ISAPI's error and acknowledgement document. Codes: 1 OK, 4 Invalid Operation,
/// 5 Invalid XML Format, 6 Invalid XML Content, 7 Reboot Required.
fn response_status(status: StatusCode, path: &str, code: u8, text: &str, sub: &str) -> Response {
    xml_response(
        status,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ResponseStatus version=\"2.0\" xmlns=\"{XML_NAMESPACE}\">\n<requestURL>{}</requestURL>\n<statusCode>{code}</statusCode>\n<statusString>{text}</statusString>\n<subStatusCode>{sub}</subStatusCode>\n</ResponseStatus>\n",
            escape(path)
        ),
    )
}

fn ok_status(path: &str) -> Response {
    response_status(StatusCode::OK, path, 1, "OK", "ok")
}

fn invalid_content(path: &str, sub: &str) -> Response {
    response_status(StatusCode::BAD_REQUEST, path, 6, "Invalid XML Content", sub)
}

enum BodyError {
    TooLarge,
    TimedOut,
    Broken,
}

/// Reads a request body within a size and a time bound.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    match tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(BodyError::TimedOut),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => {
            // `to_bytes` reports the limit as a boxed `LengthLimitError` source.
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
            while let Some(current) = source {
                if current.to_string().contains("length limit exceeded") {
                    return Err(BodyError::TooLarge);
                }
                source = current.source();
            }
            Err(BodyError::Broken)
        }
    }
}

fn body_error_response(error: BodyError, path: &str) -> Response {
    match error {
        BodyError::TooLarge => response_status(
            StatusCode::PAYLOAD_TOO_LARGE,
            path,
            4,
            "Invalid Operation",
            "requestTooLarge",
        ),
        BodyError::TimedOut => StatusCode::REQUEST_TIMEOUT.into_response(),
        BodyError::Broken => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// Reads and parses an XML body whose root must be `root`.
async fn read_xml(
    state: &SimState,
    ctx: &RequestCtx,
    body: Body,
    root: &str,
    handler: &str,
) -> Result<Element, Response> {
    let bytes = read_body(body, MAX_BODY_BYTES)
        .await
        .map_err(|error| body_error_response(error, &ctx.path))?;
    let element = xml::parse(&bytes).map_err(|error| state.malformed(ctx, &error.to_string(), handler))?;
    if element.name != root {
        return Err(invalid_content(&ctx.path, "badXmlContent"));
    }
    Ok(element)
}

/// The cleartext HTTP port of current firmware: every request, whatever its method, path or
/// headers, is answered `301` to the same path on the HTTPS port. Credentials and bodies are
/// never read.
pub fn redirect_router(https: SocketAddr) -> Router {
    let authority = match https.ip() {
        std::net::IpAddr::V6(ip) => format!("[{ip}]:{}", https.port()),
        std::net::IpAddr::V4(ip) => format!("{ip}:{}", https.port()),
    };
    Router::new().fallback(move |request: Request| {
        let authority = authority.clone();
        async move {
            let target = request
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str().to_owned())
                .unwrap_or_else(|| "/".to_owned());
            let location = format!("https://{authority}{target}");
            match HeaderValue::from_str(&location) {
                Ok(value) => (
                    StatusCode::MOVED_PERMANENTLY,
                    [(axum::http::header::LOCATION, value)],
                    "",
                )
                    .into_response(),
                Err(_) => StatusCode::BAD_REQUEST.into_response(),
            }
        }
    })
}

/// The HTTP API for one camera. Tests drive it with `tower::ServiceExt::oneshot`, adding a
/// `ConnectInfo<SocketAddr>` extension where the client's address matters.
pub fn router(state: SimState) -> Router {
    let uc_httpd = state.has(Flaw::XmUcHttpd);
    let routes = Router::new()
        .route("/", get(login_page))
        .route("/SDK/activateStatus", get(activate_status))
        .route("/ISAPI/System/deviceInfo", get(device_info_get).put(device_info_put))
        .route("/ISAPI/Security/userCheck", get(user_check))
        .route("/ISAPI/Security/users", get(users_get).post(users_post))
        .route("/ISAPI/Security/users/{id}", put(user_put).delete(user_delete))
        .route("/ISAPI/Security/illegalLoginLock", get(lock_get).put(lock_put))
        .route("/ISAPI/System/reboot", put(reboot))
        .route(onvif::PATH, axum::routing::post(onvif::device_service))
        .route(
            "/ISAPI/System/updateFirmware",
            put(update_firmware).post(update_firmware),
        )
        .fallback(not_found);
    let routes = vulns::routes(routes)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state);
    if uc_httpd {
        routes.layer(middleware::from_fn(vulns::uc_httpd_banner))
    } else {
        routes
    }
}

/// The router the web ports serve: the camera's API, or under a hostile dialect
/// (`catch-all-200`, `login-redirect`) the one page that dialect answers everything with.
pub fn web_router(state: SimState) -> Router {
    hostile_router(&state.inner.setup).unwrap_or_else(|| router(state))
}

/// Runs before routing: the reboot outage and over-long path segments.
async fn gate(State(state): State<SimState>, request: Request, next: Next) -> Response {
    let rebooting = {
        let mut live = state.live();
        match live.rebooting_until {
            Some(until) if until > Instant::now() => true,
            Some(_) => {
                live.rebooting_until = None;
                false
            }
            None => false,
        }
    };
    if rebooting {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(RETRY_AFTER, HeaderValue::from_static("1"))],
            "device is rebooting\n",
        )
            .into_response();
    }
    if state.local_services_down() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
            "cloud service unreachable\n",
        )
            .into_response();
    }
    let path = request.uri().path();
    if path.split('/').any(|segment| segment.len() > MAX_PATH_SEGMENT) {
        if state.has(Flaw::VerboseErrors) {
            let (mut parts, _body) = request.into_parts();
            let ctx = match RequestCtx::from_request_parts(&mut parts, &()).await {
                Ok(ctx) => ctx,
                Err(never) => match never {},
            };
            return state.malformed(&ctx, "path component exceeds buffer (char[128])", "IsapiRouter::Match");
        }
        return (
            StatusCode::BAD_REQUEST,
            [(CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
            "Bad Request\n",
        )
            .into_response();
    }
    next.run(request).await
}

async fn not_found(ctx: RequestCtx) -> Response {
    response_status(StatusCode::NOT_FOUND, &ctx.path, 4, "Invalid Operation", "notSupport")
}

async fn login_page(State(state): State<SimState>) -> Response {
    let model = escape(&state.inner.identity.model);
    (
        [(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))],
        format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{model}</title></head>\n\
             <body><h1>{model}</h1>\n<form method=\"post\" action=\"/ISAPI/Security/userCheck\">\n\
             <label>User name <input name=\"username\" autocomplete=\"username\"></label>\n\
             <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\n\
             <button type=\"submit\">Login</button>\n</form></body></html>\n"
        ),
    )
        .into_response()
}

async fn activate_status() -> Response {
    xml_response(
        StatusCode::OK,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ActivateStatus version=\"2.0\" xmlns=\"{XML_NAMESPACE}\">\n<Activated>true</Activated>\n</ActivateStatus>\n"
        ),
    )
}

async fn device_info_get(State(state): State<SimState>, ctx: RequestCtx) -> Response {
    if let Some(refusal) = state.refusal(&ctx, Some(Flaw::InfoDisclosure)) {
        return refusal;
    }
    let id = &state.inner.identity;
    let name = state.device_name();
    xml_response(
        StatusCode::OK,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeviceInfo version=\"2.0\" xmlns=\"{XML_NAMESPACE}\">\n\
             <deviceName>{}</deviceName>\n<deviceID>{}</deviceID>\n<model>{}</model>\n<manufacturer>{}</manufacturer>\n\
             <serialNumber>{}</serialNumber>\n<macAddress>{}</macAddress>\n<firmwareVersion>{}</firmwareVersion>\n\
             <firmwareReleasedDate>{}</firmwareReleasedDate>\n<deviceType>IPCamera</deviceType>\n</DeviceInfo>\n",
            escape(&name),
            escape(&id.device_id),
            escape(&id.model),
            escape(&id.vendor),
            escape(&id.serial),
            escape(&id.mac),
            escape(&id.firmware),
            escape(&id.firmware_released),
        ),
    )
}

async fn device_info_put(State(state): State<SimState>, ctx: RequestCtx, body: Body) -> Response {
    if let Some(refusal) = state.refusal(&ctx, Some(Flaw::UnauthConfig)) {
        return refusal;
    }
    let root = match read_xml(&state, &ctx, body, "DeviceInfo", "IsapiSystem::PutDeviceInfo").await {
        Ok(root) => root,
        Err(response) => return response,
    };
    let Some(name) = root.child_text("deviceName") else {
        return invalid_content(&ctx.path, "badParameters");
    };
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return invalid_content(&ctx.path, "badParameters");
    }
    state.live().device_name = name.to_string();
    ok_status(&ctx.path)
}

async fn user_check(State(state): State<SimState>, ctx: RequestCtx) -> Response {
    if let Some(refusal) = state.refusal(&ctx, None) {
        return refusal;
    }
    xml_response(
        StatusCode::OK,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<userCheck version=\"2.0\" xmlns=\"{XML_NAMESPACE}\">\n<statusValue>200</statusValue>\n<statusString>OK</statusString>\n</userCheck>\n"
        ),
    )
}

async fn users_get(State(state): State<SimState>, ctx: RequestCtx) -> Response {
    if let Some(refusal) = state.refusal(&ctx, Some(Flaw::InfoDisclosure)) {
        return refusal;
    }
    // The service account stays hidden: that is what makes it a backdoor.
    let extra: String = state
        .extra_users()
        .iter()
        .map(|user| {
            format!(
                "<User>\n<id>{}</id>\n<userName>{}</userName>\n<userLevel>{}</userLevel>\n</User>\n",
                user.id,
                escape(&user.name),
                escape(&user.level)
            )
        })
        .collect();
    xml_response(
        StatusCode::OK,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<UserList version=\"2.0\" xmlns=\"{XML_NAMESPACE}\">\n<User>\n<id>1</id>\n<userName>{}</userName>\n<userLevel>Administrator</userLevel>\n</User>\n{extra}</UserList>\n",
            escape(&state.inner.admin_user)
        ),
    )
}

/// The 401/403 to answer with unless the caller is an administrator.
fn non_administrator(state: &SimState, ctx: &RequestCtx) -> Option<Response> {
    match state.authenticate(ctx) {
        Err(denied) => Some(state.deny(denied)),
        Ok(username) if state.is_administrator(&username) => None,
        Ok(_) => Some(response_status(
            StatusCode::FORBIDDEN,
            &ctx.path,
            4,
            "Invalid Operation",
            "noPermission",
        )),
    }
}

/// `POST /ISAPI/Security/users`: add a user (Operator or Viewer) under the complexity rule;
/// the answer carries the new user's id, as Hikvision's does.
async fn users_post(State(state): State<SimState>, ctx: RequestCtx, body: Body) -> Response {
    if let Some(refusal) = non_administrator(&state, &ctx) {
        return refusal;
    }
    let root = match read_xml(&state, &ctx, body, "User", "IsapiSecurity::PostUser").await {
        Ok(root) => root,
        Err(response) => return response,
    };
    let (Some(name), Some(password)) = (root.child_text("userName"), root.child_text("password")) else {
        return invalid_content(&ctx.path, "badParameters");
    };
    // One administrator on this family: added users are Operators or Viewers.
    let level = root.child_text("userLevel").unwrap_or("Operator");
    if level == "Administrator" {
        return invalid_content(&ctx.path, "badParameters");
    }
    match state.create_user(name, password, level) {
        Ok(id) => xml_response(
            StatusCode::OK,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ResponseStatus version=\"2.0\" xmlns=\"{XML_NAMESPACE}\">\n<requestURL>{}</requestURL>\n<statusCode>1</statusCode>\n<statusString>OK</statusString>\n<id>{id}</id>\n<subStatusCode>ok</subStatusCode>\n</ResponseStatus>\n",
                escape(&ctx.path)
            ),
        ),
        Err(CreateRefusal::WeakPassword) => invalid_content(&ctx.path, "riskPassword"),
        Err(CreateRefusal::NameClash) => invalid_content(&ctx.path, "userNameDuplicate"),
        Err(CreateRefusal::TooMany) => response_status(
            StatusCode::BAD_REQUEST,
            &ctx.path,
            4,
            "Invalid Operation",
            "userNumLimited",
        ),
        Err(
            CreateRefusal::BadName
            | CreateRefusal::BadPassword
            | CreateRefusal::PasswordTooLong
            | CreateRefusal::BadLevel,
        ) => invalid_content(&ctx.path, "badParameters"),
    }
}

/// `DELETE /ISAPI/Security/users/<id>`: remove an added user; the administrator stays.
async fn user_delete(State(state): State<SimState>, Path(id): Path<String>, ctx: RequestCtx) -> Response {
    if let Some(refusal) = non_administrator(&state, &ctx) {
        return refusal;
    }
    if id == "1" {
        return response_status(StatusCode::FORBIDDEN, &ctx.path, 4, "Invalid Operation", "noPermission");
    }
    let name = id
        .parse::<u32>()
        .ok()
        .and_then(|id| state.extra_users().into_iter().find(|user| user.id == id))
        .map(|user| user.name);
    match name.map(|name| state.delete_users(&[name.as_str()])) {
        Some(Ok(())) => ok_status(&ctx.path),
        _ => response_status(StatusCode::NOT_FOUND, &ctx.path, 4, "Invalid Operation", "invalidID"),
    }
}

async fn user_put(State(state): State<SimState>, Path(id): Path<String>, ctx: RequestCtx, body: Body) -> Response {
    // Only the administrator changes the administrator's password, not an added Operator.
    if let Some(refusal) = non_administrator(&state, &ctx) {
        return refusal;
    }
    if id != "1" {
        return response_status(StatusCode::NOT_FOUND, &ctx.path, 4, "Invalid Operation", "invalidID");
    }
    let root = match read_xml(&state, &ctx, body, "User", "IsapiSecurity::PutUser").await {
        Ok(root) => root,
        Err(response) => return response,
    };
    if root
        .child_text("userName")
        .is_some_and(|name| name != state.inner.admin_user)
    {
        return invalid_content(&ctx.path, "badParameters");
    }
    let Some(password) = root.child_text("password") else {
        return invalid_content(&ctx.path, "badParameters");
    };
    if !state.has(Flaw::WeakPasswordPolicy) && !password_is_complex(password) {
        return invalid_content(&ctx.path, "riskPassword");
    }
    state.live().admin_password = password.to_string();
    ok_status(&ctx.path)
}

async fn lock_get(State(state): State<SimState>, ctx: RequestCtx) -> Response {
    if let Some(refusal) = state.refusal(&ctx, None) {
        return refusal;
    }
    let policy = state.lock_policy();
    xml_response(
        StatusCode::OK,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<IllegalLoginLock version=\"2.0\" xmlns=\"{XML_NAMESPACE}\">\n<enabled>{}</enabled>\n<maxAttempts>{}</maxAttempts>\n<windowSeconds>{}</windowSeconds>\n<lockSeconds>{}</lockSeconds>\n</IllegalLoginLock>\n",
            policy.enabled,
            policy.attempts,
            policy.window.as_secs(),
            policy.duration.as_secs()
        ),
    )
}

async fn lock_put(State(state): State<SimState>, ctx: RequestCtx, body: Body) -> Response {
    if let Some(refusal) = state.refusal(&ctx, None) {
        return refusal;
    }
    let root = match read_xml(
        &state,
        &ctx,
        body,
        "IllegalLoginLock",
        "IsapiSecurity::PutIllegalLoginLock",
    )
    .await
    {
        Ok(root) => root,
        Err(response) => return response,
    };
    if state.has(Flaw::NoLockout) {
        return response_status(StatusCode::FORBIDDEN, &ctx.path, 4, "Invalid Operation", "notSupport");
    }
    let enabled = match root.child_text("enabled") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return invalid_content(&ctx.path, "badParameters"),
    };
    let number = |name: &str, range: std::ops::RangeInclusive<u32>| -> Result<Option<u32>, ()> {
        match root.child_text(name) {
            None => Ok(None),
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|n| range.contains(n))
                .map(Some)
                .ok_or(()),
        }
    };
    let (Ok(attempts), Ok(window), Ok(duration)) = (
        number("maxAttempts", 1..=100),
        number("windowSeconds", 1..=3600),
        number("lockSeconds", 1..=86_400),
    ) else {
        return invalid_content(&ctx.path, "badParameters");
    };
    let mut live = state.live();
    if let Some(enabled) = enabled {
        live.policy.enabled = enabled;
    }
    if let Some(attempts) = attempts {
        live.policy.attempts = attempts;
    }
    if let Some(window) = window {
        live.policy.window = Duration::from_secs(window.into());
    }
    if let Some(duration) = duration {
        live.policy.duration = Duration::from_secs(duration.into());
    }
    drop(live);
    ok_status(&ctx.path)
}

async fn reboot(State(state): State<SimState>, ctx: RequestCtx) -> Response {
    if let Some(refusal) = state.refusal(&ctx, None) {
        return refusal;
    }
    state.live().rebooting_until = Some(Instant::now() + REBOOT_DOWNTIME);
    ok_status(&ctx.path)
}

/// Seed of the SIMULATED vendor's firmware-signing key. A fixed, public test key: it stands
/// for the key a real manufacturer keeps offline, so images signed with it prove nothing
/// outside the simulator. Fixed rather than random so the demo's images, the tests and a lab's
/// self-check all meet the same "built-in" public key.
const SIMULATED_VENDOR_SIGNING_SEED: [u8; 32] = *b"hopquy-simcam TEST vendor key v1";
const SIGNATURE_LEN: usize = ed25519_dalek::SIGNATURE_LENGTH;
const DIGEST_LEN: usize = 32;

fn simulated_vendor_signing_key() -> SigningKey {
    SigningKey::from_bytes(&SIMULATED_VENDOR_SIGNING_SEED)
}

/// The public key built into the simulated camera: the trust anchor it verifies updates
/// against (the simulated vendor's, see [`firmware_image`]).
pub fn simulated_vendor_key() -> VerifyingKey {
    simulated_vendor_signing_key().verifying_key()
}

/// Builds an official image of the simulated vendor: magic, payload, an Ed25519 signature
/// over both by the vendor's key, then the SHA-256 of all of it. The hardened camera checks
/// the signature against its built-in key, so changing any byte (even with a recomputed
/// digest, see [`forged_firmware_image`]) is refused.
pub fn firmware_image(payload: &[u8]) -> Vec<u8> {
    let mut image = [FIRMWARE_MAGIC, payload].concat();
    let signature = simulated_vendor_signing_key().sign(&image);
    image.extend_from_slice(&signature.to_bytes());
    append_digest(image)
}

/// The image a forger without the vendor's key makes: magic, payload and a correct SHA-256,
/// but no signature. Only a camera with `unsigned-firmware` (digest-only check) accepts it.
pub fn forged_firmware_image(payload: &[u8]) -> Vec<u8> {
    append_digest([FIRMWARE_MAGIC, payload].concat())
}

fn append_digest(mut image: Vec<u8>) -> Vec<u8> {
    let digest = Sha256::digest(&image);
    image.extend_from_slice(&digest);
    image
}

/// The content of an image whose trailing SHA-256 matches, or `None`. Integrity only: the
/// digest is unkeyed, so anyone who changes the image can recompute it.
fn digest_checked(image: &[u8]) -> Option<&[u8]> {
    let split = image.len().checked_sub(DIGEST_LEN)?;
    let (content, digest) = image.split_at(split);
    (content.starts_with(FIRMWARE_MAGIC) && constant_time_eq(&Sha256::digest(content), digest)).then_some(content)
}

/// Whether the camera installs `image`. The hardened dialect also verifies the vendor's
/// signature (strict Ed25519, so no malleable variant of a genuine signature passes);
/// `unsigned-firmware` stops at the digest, as cameras that only check for damage do.
fn firmware_is_acceptable(image: &[u8], digest_only: bool) -> bool {
    let Some(content) = digest_checked(image) else {
        return false;
    };
    if digest_only {
        return true;
    }
    let Some(split) = content.len().checked_sub(SIGNATURE_LEN) else {
        return false;
    };
    let (signed, signature) = content.split_at(split);
    let Ok(signature) = <[u8; SIGNATURE_LEN]>::try_from(signature) else {
        return false;
    };
    signed.starts_with(FIRMWARE_MAGIC)
        && simulated_vendor_key()
            .verify_strict(signed, &Signature::from_bytes(&signature))
            .is_ok()
}

async fn update_firmware(State(state): State<SimState>, ctx: RequestCtx, body: Body) -> Response {
    if let Some(refusal) = state.refusal(&ctx, None) {
        return refusal;
    }
    let image = match read_body(body, MAX_FIRMWARE_BYTES).await {
        Ok(image) => image,
        Err(error) => return body_error_response(error, &ctx.path),
    };
    if !firmware_is_acceptable(&image, state.has(Flaw::UnsignedFirmware)) {
        return invalid_content(&ctx.path, "badFirmwareFile");
    }
    response_status(StatusCode::OK, &ctx.path, 7, "Reboot Required", "rebootRequired")
}

/// Serves HTTP/1.1 on one accepted stream (plain TCP or TLS) until the client closes, the
/// header timeout fires, or the connection reaches its lifetime.
/// `uc_traversal`: the setup has `xm-cve-2017-7577`, whose answer comes before hyper's parser.
pub(crate) async fn serve_connection<I>(io: I, peer: SocketAddr, router: Router, uc_traversal: bool)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = if uc_traversal {
        match vulns::uc_httpd_traversal(io, HEADER_READ_TIMEOUT).await {
            Some(io) => io,
            None => return,
        }
    } else {
        crate::legacy_tls::Rewind::new(Vec::new(), io)
    };
    let service = TowerToHyperService::new(router.layer(axum::Extension(ConnectInfo(peer))));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BUFFER);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    match tokio::time::timeout(CONNECTION_LIFETIME, connection.as_mut()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => debug!(%peer, %error, "http connection ended with an error"),
        Err(_) => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
        }
    }
}

pub(crate) async fn serve(listener: tokio::net::TcpListener, router: Router, uc_traversal: bool) {
    crate::net::accept_loop(listener, "http", move |stream, peer| {
        serve_connection(stream, peer, router.clone(), uc_traversal)
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_truncated_images_are_refused_without_panicking() {
        let image = firmware_image(b"payload");
        assert!(firmware_is_acceptable(&image, false));
        for len in 0..image.len() {
            assert!(!firmware_is_acceptable(&image[..len], false), "prefix of {len} bytes");
        }
        // Magic and digest alone: a digest-only camera takes it, a verifying one cannot.
        let bare = forged_firmware_image(b"");
        assert!(firmware_is_acceptable(&bare, true));
        assert!(!firmware_is_acceptable(&bare, false));
    }

    #[test]
    fn the_built_in_key_is_the_signing_seed_public_half() {
        let image = firmware_image(b"payload");
        let content = &image[..image.len() - DIGEST_LEN];
        let (signed, signature) = content.split_at(content.len() - SIGNATURE_LEN);
        let signature = Signature::from_bytes(&<[u8; SIGNATURE_LEN]>::try_from(signature).unwrap());
        assert!(simulated_vendor_key().verify_strict(signed, &signature).is_ok());
        let other = SigningKey::from_bytes(&[0u8; 32]).verifying_key();
        assert!(other.verify_strict(signed, &signature).is_err());
    }
}
