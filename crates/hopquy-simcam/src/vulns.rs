//! Known camera vulnerabilities, each behind its flaw, and the two hostile web dialects a
//! vulnerability check must not mistake for a flaw. Patched behaviour is always served: a
//! hardened camera answers these endpoints the way fixed firmware does (a 401, a challenge
//! with `result: false`), so the cases meet a real refusal, not only a 404.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, LOCATION, SERVER};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::legacy_tls::Rewind;

use super::{MAX_BODY_BYTES, RequestCtx, SimState, body_error_response, read_body, users_get};
use crate::config::{Flaw, SimSetup};

/// A minimal JPEG (SOI, JFIF APP0, EOI): what a snapshot endpoint returns.
pub const SNAPSHOT_JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
    0x00, 0xFF, 0xD9,
];
/// The only page the hostile dialects serve.
const LOGIN_PAGE_PATH: &str = "/doc/page/login.asp";
/// `Server` of XiongMai's uc-httpd 1.0.0, as the devices send it.
const UC_HTTPD_BANNER: &str = "uc-httpd 1.0.0";
/// The password of the second account CVE-2018-9995 discloses.
pub const TBK_VIEWER_PASSWORD: &str = "V1ewer\"9995";
/// The name of the second account CVE-2017-7925 discloses: Dahua's documented remote super
/// user of older firmware (`888888`).
const DAHUA_SECOND_USER: &str = "888888";
/// The second account's password hash in a disclosed Dahua account file: nobody's target
/// password, so only the case's `redact` keeps it out of the evidence.
pub const DAHUA_SECOND_USER_HASH: &str = "Zc7925Xq";
/// Dahua's "login challenge" error: the first step of a normal two-step login.
const DAHUA_LOGIN_CHALLENGE: u64 = 268_632_079;

/// The root password hash in the /etc/passwd CVE-2017-7577 discloses: the DES crypt XiongMai
/// firmware ships (public since 2017); nobody's target password, so only the case's `redact`
/// keeps it out of the evidence.
pub const XM_ROOT_HASH: &str = "absxcfbgXtb3o";
/// Bound on the request head looked at for CVE-2017-7577 (hyper's own bound).
const MAX_TRAVERSAL_HEAD: usize = 16 * 1024;

/// The /etc/passwd a XiongMai camera's busybox system has.
fn xm_passwd() -> String {
    format!(
        "root:{XM_ROOT_HASH}:0:0:root:/:/bin/sh\n\
         daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
         nobody:x:99:99:nobody:/:/bin/false\n"
    )
}

/// Whether a request line is CVE-2017-7577's read of /etc/passwd: `GET`, a target that
/// climbs out of the web root (`../…` or `/../…`) and resolves to `etc/passwd`.
fn is_passwd_traversal(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|b| *b == b' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    if method != b"GET" || !version.starts_with(b"HTTP/1.") {
        return false;
    }
    if !(target.starts_with(b"../") || target.starts_with(b"/../")) {
        return false;
    }
    let path = target.split(|b| *b == b'?').next().unwrap_or_default();
    let mut resolved: Vec<&[u8]> = Vec::new();
    for segment in path.split(|b| *b == b'/') {
        match segment {
            b"" | b"." => {}
            // uc-httpd stops at the file system's root, as `cd ..` does.
            b".." => {
                resolved.pop();
            }
            other => resolved.push(other),
        }
    }
    resolved == [&b"etc"[..], &b"passwd"[..]]
}

/// CVE-2017-7577 at the connection, before hyper: hyper refuses a request-target that is not
/// origin-form (`../…`: 400) before any handler runs, so uc-httpd's answer to it cannot be a
/// route. The first request line is read here; a traversal to /etc/passwd is answered and the
/// connection closed, anything else goes on to hyper with the bytes already read. Only the
/// first request of a connection is looked at (the probe sends one, `Connection: close`).
pub(crate) async fn uc_httpd_traversal<I>(mut io: I, timeout: std::time::Duration) -> Option<Rewind<I>>
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    let read_on = |head: &Vec<u8>| !head.contains(&b'\n') && head.len() < MAX_TRAVERSAL_HEAD;
    while read_on(&head) {
        match tokio::time::timeout_at(deadline, io.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
            // hyper meets the same end (or timeout) and answers it its own way.
            _ => return Some(Rewind::new(head, io)),
        }
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    if !is_passwd_traversal(line) {
        return Some(Rewind::new(head, io));
    }
    // The whole head is read first: closing on unread bytes would reset the connection before
    // the client has read the answer.
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_TRAVERSAL_HEAD {
        match tokio::time::timeout_at(deadline, io.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let body = xm_passwd();
    let answer = format!(
        "HTTP/1.1 200 OK\r\nServer: {UC_HTTPD_BANNER}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout_at(deadline, async {
        io.write_all(answer.as_bytes()).await?;
        io.shutdown().await
    })
    .await;
    None
}

/// Adds the endpoints the known vulnerabilities live on to the camera's API.
pub(super) fn routes(router: Router<SimState>) -> Router<SimState> {
    router
        // The PSIA-era path CVE-2017-7921's public proof asks; current firmware maps it too.
        .route("/Security/users", get(users_get))
        .route("/System/configurationFile", get(configuration_file))
        .route("/onvif-http/snapshot", get(snapshot))
        .route("/RPC2_Login", post(rpc2_login))
        .route("/device.rsp", get(tbk_device_rsp))
        .route("/current_config/passwd", get(dahua_passwd_file))
        .route("/current_config/Account1", get(dahua_account_file))
}

/// TBK's DVR API. Patched (and every non-TBK) firmware refuses a caller without a session;
/// CVE-2018-9995 takes the cookie `uid=admin` for one and lists the users with their
/// passwords in clear.
async fn tbk_device_rsp(State(state): State<SimState>, ctx: RequestCtx) -> Response {
    let cookie_is_admin = ctx
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .any(|pair| pair.trim() == "uid=admin");
    let lists_users =
        ctx.query.split('&').any(|pair| pair == "opt=user") && ctx.query.split('&').any(|pair| pair == "cmd=list");
    if !(state.has(Flaw::TbkCve2018_9995) && cookie_is_admin && lists_users) {
        return (
            StatusCode::UNAUTHORIZED,
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            "{\"result\":-1}",
        )
            .into_response();
    }
    let all = 4_294_967_295u64;
    let body = json!({
        "result": 0,
        "list": [
            { "uid": state.inner.admin_user, "pwd": state.admin_password(), "role": 2, "enmac": 0, "mac": "00:00:00:00:00:00", "playback": all, "view": all, "rview": all, "ptz": all, "backup": all, "opt": all },
            // A second account whose password is nobody's target password: only the case's
            // `redact` keeps it out of the evidence.
            { "uid": "viewer", "pwd": TBK_VIEWER_PASSWORD, "role": 0, "enmac": 0, "mac": "00:00:00:00:00:00", "playback": 1, "view": 1, "rview": 0, "ptz": 0, "backup": 0, "opt": 0 },
        ],
    });
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body.to_string(),
    )
        .into_response()
}

/// A stand-in for the hash Dahua firmware keeps of a password: derived from it, never it.
fn dahua_password_hash(user: &str, password: &str) -> String {
    let digest = Sha256::digest(format!("{user}:Login to Dahua:{password}").as_bytes());
    hex::encode_upper(&digest[..16])
}

/// Older Dahua firmware's account file, served to anyone (CVE-2017-7925). Patched firmware
/// and every other vendor's device do not have the path. The layout follows what the public
/// checks read (a header naming `id:name:passwd:groupid`, then one colon-separated line per
/// account, name in the second field and hash in the third); the fields after the fourth
/// are an imitation.
async fn dahua_passwd_file(State(state): State<SimState>, ctx: RequestCtx) -> Response {
    if !state.has(Flaw::DahuaCve2017_7925) {
        return super::not_found(ctx).await;
    }
    let admin = &state.inner.admin_user;
    let body = format!(
        "id:name:passwd:groupid:peer:reserved:memo:authlist\n\
         1:{admin}:{}:1:0:1:admin 's account:1,2,3,4,5,6,7,8\n\
         2:{DAHUA_SECOND_USER}:{DAHUA_SECOND_USER_HASH}:1:0:1:remote super user:1,2,3,4,5,6,7,8\n",
        dahua_password_hash(admin, &state.admin_password()),
    );
    ([(CONTENT_TYPE, HeaderValue::from_static("text/plain"))], body).into_response()
}

/// Newer Dahua firmware's account database, served to anyone (CVE-2017-7925, the generation
/// after `/current_config/passwd`): JSON with the device's information and every user with
/// the hash of its password. Absent without the flaw.
async fn dahua_account_file(State(state): State<SimState>, ctx: RequestCtx) -> Response {
    if !state.has(Flaw::DahuaCve2017_7925Gen3) {
        return super::not_found(ctx).await;
    }
    let admin = &state.inner.admin_user;
    let identity = &state.inner.identity;
    let body = format!(
        "{{\n\"DevInformation\" : {{\n   \"DeviceType\" : \"{}\",\n   \"SerialNumber\" : \"{}\"\n}},\n\
         \"Users\" : [\n   {{\n   \"Id\" : 1,\n   \"Name\" : \"{}\",\n   \"Password\" : \"{}\",\n   \"Group\" : \"admin\"\n   }},\n\
         \x20  {{\n   \"Id\" : 2,\n   \"Name\" : \"{DAHUA_SECOND_USER}\",\n   \"Password\" : \"{DAHUA_SECOND_USER_HASH}\",\n   \"Group\" : \"admin\"\n   }}\n]\n}}\n",
        escape_json(&identity.model),
        escape_json(&identity.serial),
        escape_json(admin),
        dahua_password_hash(admin, &state.admin_password()),
    );
    ([(CONTENT_TYPE, HeaderValue::from_static("text/plain"))], body).into_response()
}

/// `text` as the inside of a JSON string.
fn escape_json(text: &str) -> String {
    let quoted = Value::String(text.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// The encrypted configuration backup: opaque bytes, `application/binary`, admin only (or
/// anyone with the CVE-2017-7921 query parameter).
async fn configuration_file(State(state): State<SimState>, ctx: RequestCtx) -> Response {
    if let Some(refusal) = state.refusal(&ctx, None) {
        return refusal;
    }
    // Stands for AES-encrypted flash content: derived from the serial, no secret inside.
    let mut bytes = Vec::with_capacity(256);
    let mut block = Sha256::digest(state.inner.identity.serial.as_bytes());
    while bytes.len() < 256 {
        bytes.extend_from_slice(&block);
        block = Sha256::digest(block);
    }
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/binary")),
            (
                axum::http::header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"configurationFile\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

async fn snapshot(State(state): State<SimState>, ctx: RequestCtx) -> Response {
    if let Some(refusal) = state.refusal(&ctx, None) {
        return refusal;
    }
    ([(CONTENT_TYPE, HeaderValue::from_static("image/jpeg"))], SNAPSHOT_JPEG).into_response()
}

/// Dahua's JSON-RPC login. Patched firmware answers every first call with the challenge
/// (`result: false`, realm and random to hash the password with); CVE-2021-33044 lets a
/// `NetKeyboard` client in, CVE-2021-33045 a `Loopback` login of a `Local` client, both
/// without any password. No failure is counted: the simulator's lockout is ISAPI's.
async fn rpc2_login(State(state): State<SimState>, ctx: RequestCtx, body: Body) -> Response {
    let bytes = match read_body(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(error) => return body_error_response(error, &ctx.path),
    };
    let request: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let id = request.get("id").cloned().unwrap_or(json!(1));
    if request.get("method").and_then(Value::as_str) != Some("global.login") {
        return json_response(json!({
            "id": id, "result": false, "session": 0,
            "error": {"code": 268_894_209u64, "message": "Request invalid param!"},
        }));
    }
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    let text = |key: &str| {
        params
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    let (client, login) = (text("clientType"), text("loginType"));
    let bypassed = (state.has(Flaw::DahuaCve2021_33044) && client == "netkeyboard")
        || (state.has(Flaw::DahuaCve2021_33045) && login == "loopback" && client == "local");
    let session = hex::encode(&Sha256::digest(rand::random::<[u8; 16]>())[..16]);
    if bypassed {
        return json_response(json!({
            "id": id, "result": true, "session": session,
            "params": {"keepAliveInterval": 60},
        }));
    }
    let random: u32 = rand::random();
    json_response(json!({
        "id": id, "result": false, "session": session,
        "error": {"code": DAHUA_LOGIN_CHALLENGE, "message": "Component error: login challenge!"},
        "params": {
            "encryption": "Default",
            "random": random.to_string(),
            "realm": format!("Login to {}", state.inner.identity.serial),
        },
    }))
}

fn json_response(value: Value) -> Response {
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )],
        value.to_string(),
    )
        .into_response()
}

/// `Server: uc-httpd 1.0.0` on every answer (`xm-uc-httpd`).
pub(super) async fn uc_httpd_banner(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(SERVER, HeaderValue::from_static(UC_HTTPD_BANNER));
    response
}

fn login_page() -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))],
        "<!DOCTYPE html>\n<html><head><title>Login</title></head><body>\n\
         <form method=\"post\" action=\"/doc/page/login.asp\"><input name=\"username\">\
         <input name=\"password\" type=\"password\"><button>Login</button></form>\n</body></html>\n",
    )
        .into_response()
}

/// The router of a hostile dialect, or `None` when the setup has none. Such a device reads
/// no credential and serves nothing but its page, whatever is asked.
pub fn hostile_router(setup: &SimSetup) -> Option<Router> {
    if setup.has(Flaw::CatchAll200) {
        return Some(Router::new().fallback(|| async { login_page() }));
    }
    if setup.has(Flaw::LoginRedirect) {
        return Some(Router::new().fallback(|request: Request| async move {
            if request.method() == Method::GET && request.uri().path() == LOGIN_PAGE_PATH {
                return login_page();
            }
            (
                StatusCode::FOUND,
                [(LOCATION, HeaderValue::from_static(LOGIN_PAGE_PATH))],
                "",
            )
                .into_response()
        }));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;
    use std::net::SocketAddr;
    use tower::ServiceExt as _;

    async fn send(setup: &str, method: Method, uri: &str, body: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let state = SimState::new(&SimConfig::new(SimSetup::parse(setup).unwrap()));
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body.to_string()))
            .unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        let response = super::super::web_router(state).oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, headers, bytes.to_vec())
    }

    const BYPASS: &str = "auth=YWRtaW46MTEK";

    #[tokio::test]
    async fn cve_2017_7921_opens_users_config_and_snapshot_only_with_its_flaw() {
        for path in ["/Security/users", "/System/configurationFile", "/onvif-http/snapshot"] {
            let uri = format!("{path}?{BYPASS}");
            let (status, _, _) = send("hardened", Method::GET, &uri, "").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "hardened {path}");
            // Plain info-disclosure does not honour the bypass parameter.
            let (status, _, _) = send(
                "hardened+info-disclosure",
                Method::GET,
                &format!("/System/configurationFile?{BYPASS}"),
                "",
            )
            .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            let (status, _, _) = send("hardened+hik-cve-2017-7921", Method::GET, path, "").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "without the parameter {path}");
            let (status, headers, body) = send("hardened+hik-cve-2017-7921", Method::GET, &uri, "").await;
            assert_eq!(status, StatusCode::OK, "{path}");
            let kind = headers[CONTENT_TYPE].to_str().unwrap().to_owned();
            match path {
                "/Security/users" => assert!(String::from_utf8_lossy(&body).contains("<UserList")),
                "/System/configurationFile" => assert_eq!(kind, "application/binary"),
                _ => assert_eq!((kind.as_str(), &body[..2]), ("image/jpeg", &[0xFF, 0xD8][..])),
            }
        }
    }

    #[tokio::test]
    async fn rpc2_login_is_bypassed_only_by_the_flawed_client_types() {
        let netkeyboard = r#"{"id":1,"method":"global.login","params":{"userName":"admin","password":"Not Used","clientType":"NetKeyboard","loginType":"Direct","authorityType":"Default","passwordType":"Default"}}"#;
        let loopback = r#"{"id":1,"method":"global.login","params":{"userName":"admin","password":"Not Used","clientType":"Local","loginType":"Loopback","authorityType":"Default","passwordType":"Default"}}"#;
        let result = |body: &[u8]| serde_json::from_slice::<Value>(body).unwrap()["result"].clone();
        for (setup, nk, lb) in [
            ("hardened", false, false),
            ("hardened+dahua-cve-2021-33044", true, false),
            ("hardened+dahua-cve-2021-33045", false, true),
        ] {
            let (status, _, body) = send(setup, Method::POST, "/RPC2_Login", netkeyboard).await;
            assert_eq!(
                (status, result(&body)),
                (StatusCode::OK, json!(nk)),
                "{setup} netkeyboard"
            );
            let (_, _, body) = send(setup, Method::POST, "/RPC2_Login", loopback).await;
            assert_eq!(result(&body), json!(lb), "{setup} loopback");
        }
        let (_, _, body) = send("hardened+dahua-cve-2021-33044", Method::POST, "/RPC2_Login", "not json").await;
        assert_eq!(result(&body), json!(false));
    }

    #[tokio::test]
    async fn cve_2017_7925_account_files_only_with_their_flaws() {
        for (flaw, path, marker) in [
            (
                "dahua-cve-2017-7925",
                "/current_config/passwd",
                "id:name:passwd:groupid",
            ),
            (
                "dahua-cve-2017-7925-gen3",
                "/current_config/Account1",
                "\"DevInformation\" : {",
            ),
        ] {
            let (status, _, _) = send("hardened", Method::GET, path, "").await;
            assert_eq!(status, StatusCode::NOT_FOUND, "hardened {path}");
            let (status, _, body) = send(&format!("hardened+{flaw}"), Method::GET, path, "").await;
            let text = String::from_utf8_lossy(&body);
            assert_eq!(status, StatusCode::OK, "{flaw} {path}");
            assert!(text.contains(marker), "{text}");
            assert!(text.contains(DAHUA_SECOND_USER_HASH), "{text}");
        }
        // Each generation has its own file only.
        let (status, _, _) = send(
            "hardened+dahua-cve-2017-7925",
            Method::GET,
            "/current_config/Account1",
            "",
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) = send(
            "hardened+dahua-cve-2017-7925-gen3",
            Method::GET,
            "/current_config/passwd",
            "",
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn uc_httpd_banner_only_with_its_flaw() {
        let (_, headers, _) = send("hardened", Method::GET, "/", "").await;
        assert!(headers.get(SERVER).is_none());
        let (_, headers, _) = send("hardened+xm-uc-httpd", Method::GET, "/ISAPI/System/deviceInfo", "").await;
        assert_eq!(headers[SERVER], UC_HTTPD_BANNER);
    }

    /// One request on a real connection to the web server of `setup` (hyper's parser runs).
    async fn on_the_wire(setup: &str, request: &str) -> String {
        let setup = SimSetup::parse(setup).unwrap();
        let traversal = setup.has(Flaw::XmCve2017_7577);
        let state = SimState::new(&SimConfig::new(setup));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(super::super::serve(
            listener,
            super::super::web_router(state),
            traversal,
        ));
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        server.abort();
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn cve_2017_7577_serves_etc_passwd_to_a_traversal_only_with_its_flaw() {
        let request = |target: &str| format!("GET {target} HTTP/1.1\r\nHost: cam\r\nConnection: close\r\n\r\n");
        for target in [
            "../../../../../../etc/passwd",
            "/../../etc/passwd",
            "../web/../../etc/./passwd",
        ] {
            let answer = on_the_wire("hardened+xm-cve-2017-7577", &request(target)).await;
            assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{target}: {answer}");
            assert!(answer.contains("\r\nServer: uc-httpd 1.0.0\r\n"), "{answer}");
            assert!(answer.contains(&format!("\nroot:{XM_ROOT_HASH}:0:0:")), "{answer}");
        }
        // Not a traversal to /etc/passwd: the camera's own API answers.
        for (target, status) in [("/", "200"), ("../../etc/shadow", "400"), ("/etc/passwd", "404")] {
            let answer = on_the_wire("hardened+xm-cve-2017-7577", &request(target)).await;
            assert!(answer.starts_with(&format!("HTTP/1.1 {status}")), "{target}: {answer}");
        }
        // Without the flaw hyper refuses the non-origin-form target, and routes `/../` to 404.
        for (setup, target, status) in [
            ("hardened", "../../../../../../etc/passwd", "400"),
            ("hardened", "/../../etc/passwd", "404"),
            ("legacy", "../../../../../../etc/passwd", "400"),
            ("hardened+catch-all-200", "../../../../../../etc/passwd", "400"),
            ("hardened+catch-all-200", "/../../etc/passwd", "200"),
            ("hardened+login-redirect", "../../../../../../etc/passwd", "400"),
            ("hardened+login-redirect", "/../../etc/passwd", "302"),
        ] {
            let answer = on_the_wire(setup, &request(target)).await;
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status}")),
                "{setup} {target}: {answer}"
            );
            assert!(!answer.contains("root:"), "{setup} {target}: {answer}");
        }
    }

    #[tokio::test]
    async fn hostile_dialects_answer_every_path_alike() {
        let mut pages = Vec::new();
        for path in ["/", "/Security/users?auth=YWRtaW46MTEK", "/RPC2_Login", "/no/such/path"] {
            let (status, _, body) = send("hardened+catch-all-200", Method::GET, path, "").await;
            assert_eq!(status, StatusCode::OK, "{path}");
            pages.push(body);
            let (status, headers, _) = send("hardened+login-redirect", Method::GET, path, "").await;
            assert_eq!(
                (status, &headers[LOCATION]),
                (StatusCode::FOUND, &HeaderValue::from_static(LOGIN_PAGE_PATH))
            );
        }
        assert!(
            pages.windows(2).all(|pair| pair[0] == pair[1]),
            "one page for every path"
        );
        let (status, _, body) = send("hardened+login-redirect", Method::GET, LOGIN_PAGE_PATH, "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(String::from_utf8_lossy(&body).contains("password"));
    }
}
