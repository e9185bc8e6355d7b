//! The HTTP API through `router()` and `oneshot`, with a Digest client written here from
//! RFC 7616 (md-5 / sha2 directly) so the camera's verifier is checked independently.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine as _;
use hopquy_simcam::{SimConfig, SimSetup, SimState, firmware_image, forged_firmware_image, router};
use md5::Md5;
use sha2::{Digest as _, Sha256};
use tower::ServiceExt as _;

struct Camera {
    router: Router,
    state: SimState,
    password: String,
}

fn camera(setup: &str) -> Camera {
    camera_with(setup, |_| {})
}

fn camera_with(setup: &str, adjust: impl FnOnce(&mut SimConfig)) -> Camera {
    let mut config = SimConfig::new(SimSetup::parse(setup).unwrap());
    adjust(&mut config);
    let state = SimState::new(&config);
    Camera {
        router: router(state.clone()),
        state,
        password: config.admin_password,
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn challenges(&self) -> Vec<String> {
        self.headers
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }
}

async fn send(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn request(method: Method, uri: &str, peer_port: u16, authorization: Option<String>, body: &str) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(value) = authorization {
        builder = builder.header(header::AUTHORIZATION, value);
    }
    let mut request = builder.body(Body::from(body.to_string())).unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], peer_port))));
    request
}

async fn anonymous(cam: &Camera, method: Method, uri: &str, body: &str) -> Reply {
    send(&cam.router, request(method, uri, 40_000, None, body)).await
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Alg {
    Md5,
    Sha256,
}

fn h(alg: Alg, data: &str) -> String {
    match alg {
        Alg::Md5 => hex::encode(<Md5 as md5::Digest>::digest(data.as_bytes())),
        Alg::Sha256 => hex::encode(Sha256::digest(data.as_bytes())),
    }
}

fn param(challenge: &str, key: &str) -> Option<String> {
    challenge
        .trim_start_matches("Digest ")
        .split(", ")
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.trim_matches('"').to_string())
}

/// An `Authorization: Digest` value for the challenge of algorithm `alg`, RFC 7616 §3.4.
fn digest_authorization(
    reply: &Reply,
    alg: Alg,
    method: &str,
    uri: &str,
    user: &str,
    password: &str,
    nc: u32,
) -> String {
    let alg_name = match alg {
        Alg::Md5 => "MD5",
        Alg::Sha256 => "SHA-256",
    };
    let challenge = reply
        .challenges()
        .into_iter()
        .find(|c| c.starts_with("Digest ") && param(c, "algorithm").as_deref() == Some(alg_name))
        .expect("challenge for the algorithm");
    answer_challenge(&challenge, alg, method, uri, user, password, nc)
}

fn answer_challenge(challenge: &str, alg: Alg, method: &str, uri: &str, user: &str, password: &str, nc: u32) -> String {
    let alg_name = match alg {
        Alg::Md5 => "MD5",
        Alg::Sha256 => "SHA-256",
    };
    let challenge = challenge.to_string();
    let realm = param(&challenge, "realm").unwrap();
    let nonce = param(&challenge, "nonce").unwrap();
    let opaque = param(&challenge, "opaque").unwrap();
    let cnonce = "0a4f113b";
    let ha1 = h(alg, &format!("{user}:{realm}:{password}"));
    let ha2 = h(alg, &format!("{method}:{uri}"));
    let response = h(alg, &format!("{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm={alg_name}, response=\"{response}\", qop=auth, nc={nc:08x}, cnonce=\"{cnonce}\", opaque=\"{opaque}\""
    )
}

/// Challenge, then answer it from client port `peer_port` (same port = same connection).
async fn login(
    cam: &Camera,
    method: Method,
    uri: &str,
    user: &str,
    password: &str,
    peer_port: u16,
    body: &str,
) -> Reply {
    let challenge = send(&cam.router, request(method.clone(), uri, peer_port, None, "")).await;
    assert_eq!(challenge.status, StatusCode::UNAUTHORIZED, "{}", challenge.body);
    let authorization = digest_authorization(&challenge, Alg::Sha256, method.as_str(), uri, user, password, 1);
    send(&cam.router, request(method, uri, peer_port, Some(authorization), body)).await
}

async fn get_as(cam: &Camera, uri: &str, user: &str, password: &str) -> Reply {
    login(cam, Method::GET, uri, user, password, 40_001, "").await
}

const DEVICE_INFO: &str = "/ISAPI/System/deviceInfo";
const USER_CHECK: &str = "/ISAPI/Security/userCheck";

#[tokio::test]
async fn anonymous_device_info_is_refused_unless_info_disclosure() {
    let hardened = camera("hardened");
    let reply = anonymous(&hardened, Method::GET, DEVICE_INFO, "").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(!reply.body.contains("serialNumber"));
    let challenges = reply.challenges();
    assert_eq!(challenges.len(), 2, "{challenges:?}");
    assert_eq!(param(&challenges[0], "algorithm").as_deref(), Some("SHA-256"));
    assert_eq!(param(&challenges[1], "algorithm").as_deref(), Some("MD5"));
    assert!(challenges.iter().all(|c| param(c, "qop").as_deref() == Some("auth")));
    let users = anonymous(&hardened, Method::GET, "/ISAPI/Security/users", "").await;
    assert_eq!(users.status, StatusCode::UNAUTHORIZED);

    let leaky = camera("hardened+info-disclosure");
    let reply = anonymous(&leaky, Method::GET, DEVICE_INFO, "").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.contains("<serialNumber>SIMCAM1-"), "{}", reply.body);
    let users = anonymous(&leaky, Method::GET, "/ISAPI/Security/users", "").await;
    assert_eq!(users.status, StatusCode::OK);
    assert!(users.body.contains("<userName>admin</userName>"));
}

#[tokio::test]
async fn fresh_nonces_per_challenge() {
    let cam = camera("hardened");
    let a = anonymous(&cam, Method::GET, DEVICE_INFO, "").await;
    let b = anonymous(&cam, Method::GET, DEVICE_INFO, "").await;
    assert_ne!(param(&a.challenges()[0], "nonce"), param(&b.challenges()[0], "nonce"));
}

#[tokio::test]
async fn digest_sha256_and_md5_logins_verify() {
    let cam = camera("hardened");
    for alg in [Alg::Sha256, Alg::Md5] {
        let challenge = anonymous(&cam, Method::GET, DEVICE_INFO, "").await;
        let good = digest_authorization(&challenge, alg, "GET", DEVICE_INFO, "admin", &cam.password, 1);
        let reply = send(&cam.router, request(Method::GET, DEVICE_INFO, 40_001, Some(good), "")).await;
        assert_eq!(reply.status, StatusCode::OK, "{alg:?}: {}", reply.body);
        assert!(reply.body.contains("<model>SIM-CAM-1</model>"));
        assert!(reply.body.contains("<firmwareVersion>"));

        let challenge = anonymous(&cam, Method::GET, DEVICE_INFO, "").await;
        let bad = digest_authorization(&challenge, alg, "GET", DEVICE_INFO, "admin", "Wrong-pass1", 1);
        let reply = send(&cam.router, request(Method::GET, DEVICE_INFO, 40_001, Some(bad), "")).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{alg:?}");
    }
}

#[tokio::test]
async fn digest_is_bound_to_method_uri_and_nonce() {
    let cam = camera("hardened");
    let challenge = anonymous(&cam, Method::GET, DEVICE_INFO, "").await;
    // Computed for another URI: refused.
    let other_uri = digest_authorization(&challenge, Alg::Sha256, "GET", USER_CHECK, "admin", &cam.password, 1);
    let reply = send(
        &cam.router,
        request(Method::GET, DEVICE_INFO, 40_001, Some(other_uri), ""),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // Accepted once, then the same nonce count again is a replay: stale, not data.
    let good = digest_authorization(&challenge, Alg::Sha256, "GET", DEVICE_INFO, "admin", &cam.password, 1);
    let first = send(
        &cam.router,
        request(Method::GET, DEVICE_INFO, 40_001, Some(good.clone()), ""),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK);
    let replay = send(&cam.router, request(Method::GET, DEVICE_INFO, 40_001, Some(good), "")).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(param(&replay.challenges()[0], "stale").as_deref(), Some("TRUE"));
    // Nonces are single-use, as on current firmware: a higher count on a used nonce is stale too.
    let next = digest_authorization(&challenge, Alg::Sha256, "GET", DEVICE_INFO, "admin", &cam.password, 2);
    let reply = send(&cam.router, request(Method::GET, DEVICE_INFO, 40_001, Some(next), "")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(param(&reply.challenges()[0], "stale").as_deref(), Some("TRUE"));

    // A nonce the camera never issued, with the right password: stale.
    let issued = challenge.challenges()[0].clone();
    let forged_challenge = issued.replace(&param(&issued, "nonce").unwrap(), "00112233445566778899aabbccddeeff");
    let forged = answer_challenge(
        &forged_challenge,
        Alg::Sha256,
        "GET",
        DEVICE_INFO,
        "admin",
        &cam.password,
        1,
    );
    let reply = send(&cam.router, request(Method::GET, DEVICE_INFO, 40_001, Some(forged), "")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(param(&reply.challenges()[0], "stale").as_deref(), Some("TRUE"));
}

fn one_second_lockout(config: &mut SimConfig) {
    config.lockout.duration_s = 1;
}

#[tokio::test]
async fn five_failures_lock_even_the_right_password_until_the_duration_passes() {
    let cam = camera_with("hardened", one_second_lockout);
    for _ in 0..4 {
        assert_eq!(
            get_as(&cam, USER_CHECK, "admin", "Wrong-pass1").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // Four failures: not yet locked.
    let reply = get_as(&cam, USER_CHECK, "admin", &cam.password).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.contains("<statusValue>200</statusValue>"));

    for _ in 0..5 {
        let reply = get_as(&cam, USER_CHECK, "admin", "Wrong-pass1").await;
        assert!(!reply.body.contains("<lockStatus>"), "{}", reply.body);
    }
    let locked = get_as(&cam, USER_CHECK, "admin", &cam.password).await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
    assert!(locked.body.contains("<lockStatus>lock</lockStatus>"), "{}", locked.body);
    assert!(locked.body.contains("<unlockTime>1</unlockTime>"), "{}", locked.body);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply = get_as(&cam, USER_CHECK, "admin", &cam.password).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn unknown_usernames_count_toward_their_own_lock() {
    let cam = camera_with("hardened", one_second_lockout);
    for _ in 0..5 {
        get_as(&cam, USER_CHECK, "nobody", "Wrong-pass1").await;
    }
    let reply = get_as(&cam, USER_CHECK, "nobody", "Wrong-pass1").await;
    assert!(reply.body.contains("<lockStatus>lock</lockStatus>"), "{}", reply.body);
    // The admin account is keyed separately and still works.
    assert_eq!(
        get_as(&cam, USER_CHECK, "admin", &cam.password).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn no_lockout_never_locks() {
    let cam = camera("hardened+no-lockout");
    for _ in 0..12 {
        assert_eq!(
            get_as(&cam, USER_CHECK, "admin", "Wrong-pass1").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        get_as(&cam, USER_CHECK, "admin", &cam.password).await.status,
        StatusCode::OK
    );
}

async fn fail_five_times_on_port(cam: &Camera, port: u16) {
    for _ in 0..5 {
        let reply = login(cam, Method::GET, USER_CHECK, "admin", "Wrong-pass1", port, "").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn session_lockout_counts_per_connection() {
    let dahua = camera("dahua-like");
    fail_five_times_on_port(&dahua, 50_001).await;
    let same_connection = login(&dahua, Method::GET, USER_CHECK, "admin", &dahua.password, 50_001, "").await;
    assert!(
        same_connection.body.contains("<lockStatus>lock</lockStatus>"),
        "{}",
        same_connection.body
    );
    let fresh_connection = login(&dahua, Method::GET, USER_CHECK, "admin", &dahua.password, 50_002, "").await;
    assert_eq!(fresh_connection.status, StatusCode::OK, "{}", fresh_connection.body);

    // Hardened locks the account, whatever connection the next attempt uses.
    let hardened = camera("hardened");
    fail_five_times_on_port(&hardened, 50_001).await;
    let fresh_connection = login(
        &hardened,
        Method::GET,
        USER_CHECK,
        "admin",
        &hardened.password,
        50_002,
        "",
    )
    .await;
    assert_eq!(fresh_connection.status, StatusCode::UNAUTHORIZED);
    assert!(fresh_connection.body.contains("<lockStatus>lock</lockStatus>"));
}

#[tokio::test]
async fn login_failure_bodies_reveal_nothing_unless_verbose() {
    let hardened = camera("hardened");
    let unknown = get_as(&hardened, USER_CHECK, "nobody", "Wrong-pass1").await;
    let wrong = get_as(&hardened, USER_CHECK, "admin", "Wrong-pass1").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.body, wrong.body);

    let verbose = camera("hardened+verbose-login-errors");
    let unknown = get_as(&verbose, USER_CHECK, "nobody", "Wrong-pass1").await;
    let wrong = get_as(&verbose, USER_CHECK, "admin", "Wrong-pass1").await;
    assert_ne!(unknown.body, wrong.body);
    assert!(unknown.body.contains("user does not exist"));
    assert!(wrong.body.contains("password incorrect"));
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[tokio::test]
async fn basic_auth_only_with_the_flaw() {
    let hardened = camera("hardened");
    let reply = send(
        &hardened.router,
        request(Method::GET, USER_CHECK, 1, Some(basic("admin", &hardened.password)), ""),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.challenges().iter().all(|c| c.starts_with("Digest ")));

    let flawed = camera("hardened+basic-auth");
    let reply = send(
        &flawed.router,
        request(Method::GET, USER_CHECK, 1, Some(basic("admin", &flawed.password)), ""),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let challenge = anonymous(&flawed, Method::GET, USER_CHECK, "").await;
    assert!(challenge.challenges().iter().any(|c| c.starts_with("Basic realm=")));
    let reply = send(
        &flawed.router,
        request(Method::GET, USER_CHECK, 1, Some(basic("admin", "nope")), ""),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn factory_and_service_accounts_only_with_default_password() {
    let hardened = camera("hardened");
    assert_eq!(
        get_as(&hardened, USER_CHECK, "admin", "12345").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_as(&hardened, USER_CHECK, "service", "service").await.status,
        StatusCode::UNAUTHORIZED
    );

    let flawed = camera("hardened+default-password");
    assert_eq!(
        get_as(&flawed, USER_CHECK, "admin", "12345").await.status,
        StatusCode::OK
    );
    assert_eq!(
        get_as(&flawed, USER_CHECK, "service", "service").await.status,
        StatusCode::OK
    );
    assert_eq!(
        get_as(&flawed, USER_CHECK, "admin", &flawed.password).await.status,
        StatusCode::OK
    );
    let users = get_as(&flawed, "/ISAPI/Security/users", "admin", "12345").await;
    assert!(
        users.body.contains("admin") && !users.body.contains("service"),
        "{}",
        users.body
    );
}

#[tokio::test]
async fn cve_2017_7921_query_bypass_only_with_its_flaw() {
    let uri = "/ISAPI/Security/users?auth=YWRtaW46MTEK";
    assert_eq!(
        anonymous(&camera("hardened"), Method::GET, uri, "").await.status,
        StatusCode::UNAUTHORIZED
    );
    // Unauthenticated info disclosure is another flaw: it does not honour the parameter.
    let open = camera("hardened+info-disclosure");
    assert_eq!(
        anonymous(&open, Method::GET, "/ISAPI/Security/userCheck?auth=YWRtaW46MTEK", "")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let leaky = camera("hardened+hik-cve-2017-7921");
    assert_eq!(
        anonymous(&leaky, Method::GET, "/ISAPI/Security/userCheck?auth=YWRtaW46MTEK", "")
            .await
            .status,
        StatusCode::OK
    );
}

const NEW_NAME_XML: &str = "<?xml version=\"1.0\"?><DeviceInfo xmlns=\"http://www.isapi.org/ver20/XMLSchema\"><deviceName>Gate 2</deviceName></DeviceInfo>";

#[tokio::test]
async fn config_change_needs_authentication_unless_unauth_config() {
    let hardened = camera("hardened");
    let reply = anonymous(&hardened, Method::PUT, DEVICE_INFO, NEW_NAME_XML).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(hardened.state.device_name(), "IP CAMERA");
    let reply = login(
        &hardened,
        Method::PUT,
        DEVICE_INFO,
        "admin",
        &hardened.password,
        1,
        NEW_NAME_XML,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.contains("<statusCode>1</statusCode>"));
    assert_eq!(hardened.state.device_name(), "Gate 2");

    let flawed = camera("hardened+unauth-config");
    let reply = anonymous(&flawed, Method::PUT, DEVICE_INFO, NEW_NAME_XML).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(flawed.state.device_name(), "Gate 2");
}

#[tokio::test]
async fn malformed_input_gets_a_plain_400_unless_verbose_errors() {
    let long_segment = format!("/ISAPI/{}", "A".repeat(300));
    let hardened = camera("hardened+unauth-config");
    let bad_xml = anonymous(
        &hardened,
        Method::PUT,
        DEVICE_INFO,
        "<DeviceInfo><deviceName>x</DeviceInfo>",
    )
    .await;
    assert_eq!(bad_xml.status, StatusCode::BAD_REQUEST);
    assert!(!bad_xml.body.contains("/home/"), "{}", bad_xml.body);
    let long = anonymous(&hardened, Method::GET, &long_segment, "").await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    assert!(!long.body.contains("/home/"));

    let verbose = camera("hardened+unauth-config+verbose-errors");
    let bad_xml = anonymous(
        &verbose,
        Method::PUT,
        DEVICE_INFO,
        "<DeviceInfo><deviceName>x</DeviceInfo>",
    )
    .await;
    assert_eq!(bad_xml.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(bad_xml.body.contains("/home/jenkins/"), "{}", bad_xml.body);
    let long = anonymous(&verbose, Method::GET, &long_segment, "").await;
    assert_eq!(long.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(long.body.contains(".cpp:"));
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let cam = camera("hardened+unauth-config");
    let huge = format!(
        "<DeviceInfo><deviceName>{}</deviceName></DeviceInfo>",
        "x".repeat(100 * 1024)
    );
    let reply = anonymous(&cam, Method::PUT, DEVICE_INFO, &huge).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(cam.state.device_name(), "IP CAMERA");
}

fn user_xml(password: &str) -> String {
    format!("<User><id>1</id><userName>admin</userName><password>{password}</password></User>")
}

#[tokio::test]
async fn password_changes_follow_the_complexity_rule_unless_weak_policy() {
    let cam = camera("hardened");
    for weak in ["12345", "abcdefgh", "Abcdefgh1", "Ab1!"] {
        let reply = login(
            &cam,
            Method::PUT,
            "/ISAPI/Security/users/1",
            "admin",
            &cam.password,
            1,
            &user_xml(weak),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{weak}");
        assert!(reply.body.contains("riskPassword"));
    }
    assert_eq!(cam.state.admin_password(), cam.password);
    let strong = "N3w-Passw0rd";
    let reply = login(
        &cam,
        Method::PUT,
        "/ISAPI/Security/users/1",
        "admin",
        &cam.password,
        1,
        &user_xml(strong),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(get_as(&cam, USER_CHECK, "admin", strong).await.status, StatusCode::OK);
    assert_eq!(
        get_as(&cam, USER_CHECK, "admin", &cam.password).await.status,
        StatusCode::UNAUTHORIZED
    );

    let legacy = camera("hardened+weak-password-policy");
    let reply = login(
        &legacy,
        Method::PUT,
        "/ISAPI/Security/users/1",
        "admin",
        &legacy.password,
        1,
        &user_xml("12345"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(legacy.state.admin_password(), "12345");
}

#[tokio::test]
async fn lockout_policy_is_readable_and_configurable() {
    let cam = camera("hardened");
    let reply = get_as(&cam, "/ISAPI/Security/illegalLoginLock", "admin", &cam.password).await;
    assert!(reply.body.contains("<enabled>true</enabled>"), "{}", reply.body);
    assert!(reply.body.contains("<maxAttempts>5</maxAttempts>"));
    assert!(reply.body.contains("<lockSeconds>4</lockSeconds>"));

    let body = "<IllegalLoginLock><enabled>true</enabled><maxAttempts>2</maxAttempts><lockSeconds>60</lockSeconds></IllegalLoginLock>";
    let reply = login(
        &cam,
        Method::PUT,
        "/ISAPI/Security/illegalLoginLock",
        "admin",
        &cam.password,
        1,
        body,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    get_as(&cam, USER_CHECK, "admin", "Wrong-pass1").await;
    get_as(&cam, USER_CHECK, "admin", "Wrong-pass1").await;
    let locked = get_as(&cam, USER_CHECK, "admin", &cam.password).await;
    assert!(locked.body.contains("<lockStatus>lock</lockStatus>"), "{}", locked.body);

    let bad = "<IllegalLoginLock><maxAttempts>0</maxAttempts></IllegalLoginLock>";
    let other = camera("hardened");
    let reply = login(
        &other,
        Method::PUT,
        "/ISAPI/Security/illegalLoginLock",
        "admin",
        &other.password,
        1,
        bad,
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    let legacy = camera("hardened+no-lockout");
    let reply = get_as(&legacy, "/ISAPI/Security/illegalLoginLock", "admin", &legacy.password).await;
    assert!(reply.body.contains("<enabled>false</enabled>"));
}

#[tokio::test]
async fn reboot_makes_the_api_unavailable_for_a_moment() {
    let cam = camera("hardened");
    let reply = login(&cam, Method::PUT, "/ISAPI/System/reboot", "admin", &cam.password, 1, "").await;
    assert_eq!(reply.status, StatusCode::OK);
    let during = anonymous(&cam, Method::GET, "/SDK/activateStatus", "").await;
    assert_eq!(during.status, StatusCode::SERVICE_UNAVAILABLE);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after = anonymous(&cam, Method::GET, "/SDK/activateStatus", "").await;
    assert_eq!(after.status, StatusCode::OK);
    assert!(after.body.contains("<Activated>true</Activated>"));
}

#[tokio::test]
async fn destructive_operations_need_authentication() {
    let cam = camera("legacy");
    for uri in ["/ISAPI/System/reboot", "/ISAPI/System/updateFirmware"] {
        let reply = anonymous(&cam, Method::PUT, uri, "").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{uri}");
    }
    assert_eq!(
        anonymous(&cam, Method::GET, "/SDK/activateStatus", "").await.status,
        StatusCode::OK
    );
}

/// One authenticated firmware upload (a fresh challenge each time: nonces are single-use).
async fn upload_firmware(cam: &Camera, image: Vec<u8>) -> Reply {
    let challenge = anonymous(cam, Method::PUT, "/ISAPI/System/updateFirmware", "").await;
    let auth = digest_authorization(
        &challenge,
        Alg::Sha256,
        "PUT",
        "/ISAPI/System/updateFirmware",
        "admin",
        &cam.password,
        1,
    );
    let mut req = Request::builder()
        .method(Method::PUT)
        .uri("/ISAPI/System/updateFirmware")
        .header(header::AUTHORIZATION, auth)
        .body(Body::from(image))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1))));
    send(&cam.router, req).await
}

fn accepted(reply: &Reply) -> bool {
    reply.status == StatusCode::OK && reply.body.contains("rebootRequired")
}

fn refused(reply: &Reply) -> bool {
    reply.status == StatusCode::BAD_REQUEST && reply.body.contains("badFirmwareFile")
}

/// What a forger does to an official image: change a byte of the payload, recompute the
/// trailing SHA-256 (the signature, which needs the vendor's key, stays the old one).
fn redigested(mut image: Vec<u8>, at: usize) -> Vec<u8> {
    image[at] ^= 0x01;
    let content = image.len() - 32;
    let digest = Sha256::digest(&image[..content]);
    image[content..].copy_from_slice(&digest);
    image
}

#[tokio::test]
async fn hardened_installs_only_images_signed_by_its_vendor() {
    let cam = camera("hardened");
    let image = firmware_image(b"kernel+rootfs");
    let reply = upload_firmware(&cam, image.clone()).await;
    assert!(accepted(&reply), "signed image: {} {}", reply.status, reply.body);

    let mut tampered = image.clone();
    tampered[5] ^= 0x01;
    let reply = upload_firmware(&cam, tampered).await;
    assert!(refused(&reply), "tampered image: {} {}", reply.status, reply.body);

    // Valid digest, signature of the original payload: only the signature catches it.
    let reply = upload_firmware(&cam, redigested(image, 5)).await;
    assert!(refused(&reply), "re-digested image: {} {}", reply.status, reply.body);

    // Valid digest and no signature at all: what anyone can build.
    let reply = upload_firmware(&cam, forged_firmware_image(b"kernel+rootfs")).await;
    assert!(refused(&reply), "unsigned image: {} {}", reply.status, reply.body);

    // An image signed by another key than the vendor's.
    let other = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let mut foreign = [b"HQFW".as_slice(), b"kernel+rootfs"].concat();
    let signature = ed25519_dalek::Signer::sign(&other, &foreign).to_bytes();
    foreign.extend_from_slice(&signature);
    let digest = Sha256::digest(&foreign);
    foreign.extend_from_slice(&digest);
    let reply = upload_firmware(&cam, foreign).await;
    assert!(refused(&reply), "foreign-signed image: {} {}", reply.status, reply.body);
}

#[tokio::test]
async fn unsigned_firmware_flaw_checks_the_digest_only() {
    for setup in ["hardened+unsigned-firmware", "legacy"] {
        let cam = camera(setup);
        let image = firmware_image(b"kernel+rootfs");
        let reply = upload_firmware(&cam, image.clone()).await;
        assert!(accepted(&reply), "{setup}: signed image: {}", reply.body);

        let reply = upload_firmware(&cam, forged_firmware_image(b"kernel+rootfs (forged)")).await;
        assert!(accepted(&reply), "{setup}: unsigned image: {}", reply.body);
        let reply = upload_firmware(&cam, redigested(image.clone(), 5)).await;
        assert!(accepted(&reply), "{setup}: re-digested image: {}", reply.body);

        // A damaged image (digest no longer matching) is still refused.
        let mut tampered = image;
        tampered[5] ^= 0x01;
        let reply = upload_firmware(&cam, tampered).await;
        assert!(refused(&reply), "{setup}: tampered image: {}", reply.body);
    }
}

#[tokio::test]
async fn unknown_paths_and_login_page() {
    let cam = camera("hardened");
    let missing = anonymous(&cam, Method::GET, "/ISAPI/Nope", "").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("notSupport"));
    let page = anonymous(&cam, Method::GET, "/", "").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("type=\"password\""));
}

const USERS: &str = "/ISAPI/Security/users";

fn new_user_xml(name: &str, password: &str, level: &str) -> String {
    format!("<User><userName>{name}</userName><password>{password}</password><userLevel>{level}</userLevel></User>")
}

async fn add_user(cam: &Camera, name: &str, password: &str, level: &str) -> Reply {
    let body = new_user_xml(name, password, level);
    login(cam, Method::POST, USERS, "admin", &cam.password, 2, &body).await
}

#[tokio::test]
async fn users_can_be_added_and_deleted_under_the_complexity_rule() {
    let cam = camera("hardened");
    for weak in ["Ab1!xyz", "password1", "hq12345678", "ABCDEFG1!"] {
        let reply = add_user(&cam, "hqtemp", weak, "Operator").await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{weak}");
        assert!(reply.body.contains("riskPassword"), "{}", reply.body);
    }
    let reply = add_user(&cam, "hqtemp", "Str0ng!pass", "Operator").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.contains("<id>2</id>") && reply.body.contains("<statusCode>1</statusCode>"));
    // The new user is real: it logs in and is listed.
    assert_eq!(
        get_as(&cam, USER_CHECK, "hqtemp", "Str0ng!pass").await.status,
        StatusCode::OK
    );
    assert!(
        get_as(&cam, USERS, "admin", &cam.password)
            .await
            .body
            .contains("<userName>hqtemp</userName>")
    );
    // An Operator manages nobody: no new users, and not the administrator's password.
    let by_operator = login(
        &cam,
        Method::POST,
        USERS,
        "hqtemp",
        "Str0ng!pass",
        3,
        &new_user_xml("hqx", "Str0ng!pass2", "Operator"),
    )
    .await;
    assert_eq!(by_operator.status, StatusCode::FORBIDDEN);
    let by_operator = login(
        &cam,
        Method::PUT,
        "/ISAPI/Security/users/1",
        "hqtemp",
        "Str0ng!pass",
        3,
        &user_xml("An0ther!pass"),
    )
    .await;
    assert_eq!(by_operator.status, StatusCode::FORBIDDEN);
    assert_eq!(cam.state.admin_password(), cam.password);

    let delete = |uri: &'static str| login(&cam, Method::DELETE, uri, "admin", &cam.password, 4, "");
    assert_eq!(delete("/ISAPI/Security/users/1").await.status, StatusCode::FORBIDDEN);
    assert_eq!(delete("/ISAPI/Security/users/2").await.status, StatusCode::OK);
    assert_eq!(delete("/ISAPI/Security/users/2").await.status, StatusCode::NOT_FOUND);
    assert_eq!(delete("/ISAPI/Security/users/x%00").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        get_as(&cam, USER_CHECK, "hqtemp", "Str0ng!pass").await.status,
        StatusCode::UNAUTHORIZED
    );

    let weak = camera("hardened+weak-password-policy");
    let reply = add_user(&weak, "hqtemp", "password1", "Operator").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        get_as(&weak, USER_CHECK, "hqtemp", "password1").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn adding_users_is_bounded_and_hostile_input_is_refused() {
    let cam = camera("hardened");
    let long_name = "n".repeat(33);
    let long_password = format!("Aa1!{}", "x".repeat(61));
    for (name, password, level) in [
        ("", "Str0ng!pass", "Operator"),
        (long_name.as_str(), "Str0ng!pass", "Operator"),
        ("bad name", "Str0ng!pass", "Operator"),
        ("bad\u{7}", "Str0ng!pass", "Operator"),
        ("hqtemp", long_password.as_str(), "Operator"),
        ("hqtemp", "Str0ng!\u{1}pass", "Operator"),
        ("hqtemp", "Str0ng!pass", "Administrator"),
        ("hqtemp", "Str0ng!pass", "Root"),
    ] {
        let reply = add_user(&cam, &xml_escape(name), &xml_escape(password), level).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name:?} {password:?} {level}");
    }
    assert_eq!(
        add_user(&cam, "admin", "Str0ng!pass", "Operator").await.status,
        StatusCode::BAD_REQUEST
    );
    let malformed = login(&cam, Method::POST, USERS, "admin", &cam.password, 2, "<User><userName>").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    for n in 0..hopquy_simcam::MAX_EXTRA_USERS {
        let reply = add_user(&cam, &format!("hq{n}"), "Str0ng!pass", "Viewer").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let full = add_user(&cam, "hqmore", "Str0ng!pass", "Viewer").await;
    assert_eq!(full.status, StatusCode::BAD_REQUEST);
    assert!(full.body.contains("userNumLimited"));
    let clash = camera("hardened");
    assert_eq!(
        add_user(&clash, "hqa", "Str0ng!pass", "Viewer").await.status,
        StatusCode::OK
    );
    let again = add_user(&clash, "hqa", "Str0ng!pass", "Viewer").await;
    assert!(again.body.contains("userNameDuplicate"), "{}", again.body);
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;")
}

fn soap(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\" xmlns:tt=\"http://www.onvif.org/ver10/schema\"><s:Body>{body}</s:Body></s:Envelope>"
    )
}

fn create_users(name: &str, password: &str) -> String {
    soap(&format!(
        "<tds:CreateUsers><tds:User><tt:Username>{name}</tt:Username><tt:Password>{password}</tt:Password><tt:UserLevel>User</tt:UserLevel></tds:User></tds:CreateUsers>"
    ))
}

#[tokio::test]
async fn onvif_create_and_delete_users_follow_the_same_rule() {
    const ONVIF: &str = "/onvif/device_service";
    let cam = camera("hardened");
    // The device service reads the envelope before it challenges, so the challenge request
    // carries the body too.
    let call = |user: &'static str, password: String, body: String| {
        let cam = &cam;
        async move {
            let challenge = send(&cam.router, request(Method::POST, ONVIF, 5, None, &body)).await;
            assert_eq!(challenge.status, StatusCode::UNAUTHORIZED, "{}", challenge.body);
            let authorization = digest_authorization(&challenge, Alg::Sha256, "POST", ONVIF, user, &password, 1);
            send(&cam.router, request(Method::POST, ONVIF, 5, Some(authorization), &body)).await
        }
    };
    let weak = call("admin", cam.password.clone(), create_users("hqo", "password1")).await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(
        weak.body.contains("ter:OperationProhibited") && weak.body.contains("<env:Value>ter:Password</env:Value>"),
        "{}",
        weak.body
    );
    let too_long = call(
        "admin",
        cam.password.clone(),
        create_users("hqo", &format!("Aa1!{}", "x".repeat(70))),
    )
    .await;
    assert!(too_long.body.contains("ter:PasswordTooLong"), "{}", too_long.body);
    let ok = call("admin", cam.password.clone(), create_users("hqo", "Str0ng!pass")).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(ok.body.contains("CreateUsersResponse"));
    let clash = call("admin", cam.password.clone(), create_users("hqo", "Str0ng!pass")).await;
    assert!(clash.body.contains("ter:UsernameClash"), "{}", clash.body);
    // The user exists on ISAPI too, and a User-level account may not create users.
    assert_eq!(
        get_as(&cam, USER_CHECK, "hqo", "Str0ng!pass").await.status,
        StatusCode::OK
    );
    let by_user = call("hqo", "Str0ng!pass".into(), create_users("hqp", "Str0ng!pass")).await;
    assert!(by_user.body.contains("ter:NotAuthorized"), "{}", by_user.body);
    let listed = call("admin", cam.password.clone(), soap("<tds:GetUsers/>")).await;
    assert!(
        listed.body.contains("<tt:Username>hqo</tt:Username>"),
        "{}",
        listed.body
    );

    let delete = |name: &str| {
        soap(&format!(
            "<tds:DeleteUsers><tds:Username>{name}</tds:Username></tds:DeleteUsers>"
        ))
    };
    let fixed = call("admin", cam.password.clone(), delete("admin")).await;
    assert!(fixed.body.contains("ter:FixedUser"), "{}", fixed.body);
    let gone = call("admin", cam.password.clone(), delete("hqo")).await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    let missing = call("admin", cam.password.clone(), delete("hqo")).await;
    assert!(missing.body.contains("ter:UsernameMissing"), "{}", missing.body);
    let empty = call("admin", cam.password.clone(), soap("<tds:CreateUsers/>")).await;
    assert_eq!(empty.status, StatusCode::INTERNAL_SERVER_ERROR);
}
