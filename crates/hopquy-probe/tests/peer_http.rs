//! HTTP Digest against real third-party servers started on loopback ports chosen by the
//! test: Debian's Apache 2.4 with mod_auth_digest (MD5, qop=auth) and lighttpd 1.4.69's
//! mod_auth (SHA-512-256, SHA-256 and MD5, userhash, several WWW-Authenticate headers). A
//! shell CGI behind the authentication echoes what it received, so bodies are checked too.
//!
//! Needs Debian `apache2` and `lighttpd`. Without them the
//! tests are skipped, unless `HOPQUY_REQUIRE_PEERS=1`, which makes a missing peer a failure.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use hopquy_probe::http::{AuthMode, HttpProbe, HttpRequest, HttpResponse, Scheme};
use hopquy_probe::{Credential, Recorder};
use support::{device, digest_param, quick_limits};
use tokio::process::{Child, Command};

const APACHE: &str = "/usr/sbin/apache2";
const APACHE_MODULES: &str = "/usr/lib/apache2/modules";
const LIGHTTPD: &str = "/usr/sbin/lighttpd";
const LIGHTTPD_MODULES: &str = "/usr/lib/lighttpd";

const USER: &str = "admin";
const PASSWORD: &str = "Lab-Digest#2024 pw";
const REALM: &str = "hopquy lab";

/// Behind the authentication: echoes the method, the length and the body it was given.
const ECHO_CGI: &str = "#!/bin/sh\n\
printf 'Content-Type: text/plain\\r\\n\\r\\n'\n\
printf 'method=%s len=%s\\n' \"$REQUEST_METHOD\" \"${CONTENT_LENGTH:-0}\"\n\
head -c \"${CONTENT_LENGTH:-0}\"\n";

fn peer_available(program: &str, present: bool) -> bool {
    if present {
        return true;
    }
    assert!(
        std::env::var("HOPQUY_REQUIRE_PEERS").as_deref() != Ok("1"),
        "{program} not installed, and HOPQUY_REQUIRE_PEERS=1"
    );
    println!("skipped: {program} not installed");
    false
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A world-readable scratch directory: Apache's children and CGIs run as www-data.
fn scratch(prefix: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn write_cgi(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = dir.join("echo.cgi");
    std::fs::write(&script, ECHO_CGI).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Something accepts on `port` (a self-connect to a free port is not a listener).
async fn listening(port: u16) -> bool {
    match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
        Ok(s) => s.local_addr().ok() != s.peer_addr().ok(),
        Err(_) => false,
    }
}

/// Spawn `cmd` (killed when the returned child is dropped) and wait until it listens.
async fn start(mut cmd: Command, port: u16, log: &Path) -> Child {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if listening(port).await {
            return child;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "server exited with {status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "server did not listen on {port}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn credential(password: &str) -> Credential {
    Credential {
        username: USER.into(),
        password: password.into(),
        secret: true,
    }
}

fn hash(algorithm: &str, data: &str) -> String {
    match algorithm {
        "SHA-256" => hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data.as_bytes())),
        "SHA-512-256" => hex::encode(<sha2::Sha512_256 as sha2::Digest>::digest(data.as_bytes())),
        _ => hex::encode(<md5::Md5 as md5::Digest>::digest(data.as_bytes())),
    }
}

async fn send(req: HttpRequest, rec: &Recorder) -> HttpResponse {
    let mut limits = quick_limits();
    limits.io_timeout = Duration::from_secs(5);
    let probe = HttpProbe::new(device(limits)).unwrap();
    tokio::time::timeout(Duration::from_secs(20), probe.send(&req, rec))
        .await
        .unwrap()
        .unwrap()
}

/// The recorded exchanges hold neither the password nor any response value that the
/// password would let someone recompute and replay: every recorded Digest answer is redacted.
fn assert_no_secret_in_record(rec: &Recorder) {
    let exchanges = rec.drain();
    let json = serde_json::to_string(&exchanges).unwrap();
    assert!(!json.contains(PASSWORD), "{json}");
    let mut answers = 0;
    for ex in &exchanges {
        let sent = ex.sent.as_ref().and_then(|p| p.text.clone()).unwrap_or_default();
        let Some(line) = sent.lines().find(|l| l.starts_with("authorization: Digest ")) else {
            continue;
        };
        answers += 1;
        let p = |n: &str| digest_param(line, n).unwrap_or_default();
        assert_eq!(p("response"), "[REDACTED]", "{line}");
        // What the response was: recomputed from the recorded fields and the password.
        let alg = p("algorithm");
        let ha1 = hash(&alg, &format!("{USER}:{}:{PASSWORD}", p("realm")));
        let method = sent.split(' ').next().unwrap_or_default();
        let ha2 = hash(&alg, &format!("{method}:{}", p("uri")));
        let response = hash(
            &alg,
            &format!("{ha1}:{}:{}:{}:{}:{ha2}", p("nonce"), p("nc"), p("cnonce"), p("qop")),
        );
        assert!(!json.contains(&response), "usable response recorded: {json}");
    }
    assert!(answers > 0, "no Digest answer recorded: {json}");
}

// ---------------------------------------------------------------- Apache mod_auth_digest

/// `apache2 -X` (one process, foreground) with only the modules Digest and CGI need.
async fn start_apache(dir: &Path, port: u16) -> Child {
    write_cgi(&dir.join("www"));
    let htdigest = dir.join("htdigest");
    // What `htdigest` writes (it reads passwords from a terminal only): user:realm:MD5(user:realm:pass).
    let ha1 = hash("MD5", &format!("{USER}:{REALM}:{PASSWORD}"));
    std::fs::write(&htdigest, format!("{USER}:{REALM}:{ha1}\n")).unwrap();
    let d = dir.display();
    let load = |m: &str| format!("LoadModule {m}_module {APACHE_MODULES}/mod_{m}.so\n");
    let mut conf = format!(
        "ServerRoot \"{d}\"\nServerName 127.0.0.1\nListen 127.0.0.1:{port}\n\
         PidFile \"{d}/httpd.pid\"\nErrorLog \"{d}/error.log\"\nLogLevel warn\n\
         User www-data\nGroup www-data\n"
    );
    for m in [
        "mpm_prefork",
        "authn_core",
        "authz_core",
        "authn_file",
        "authz_user",
        "auth_digest",
        "cgi",
    ] {
        conf.push_str(&load(m));
    }
    conf.push_str(&format!(
        "DocumentRoot \"{d}/www\"\n<Directory \"{d}/www\">\n  Options +ExecCGI\n  SetHandler cgi-script\n\
         \x20 AuthType Digest\n  AuthName \"{REALM}\"\n  AuthDigestProvider file\n\
         \x20 AuthUserFile \"{d}/htdigest\"\n  Require valid-user\n</Directory>\n"
    ));
    let conf_path = dir.join("httpd.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut cmd = Command::new(APACHE);
    cmd.arg("-X").arg("-f").arg(&conf_path);
    start(cmd, port, &dir.join("error.log")).await
}

fn apache_present() -> bool {
    peer_available(
        "apache2 (mod_auth_digest)",
        Path::new(APACHE).exists() && Path::new(&format!("{APACHE_MODULES}/mod_auth_digest.so")).exists(),
    )
}

#[tokio::test]
async fn apache_mod_auth_digest_md5() {
    if !apache_present() {
        return;
    }
    let dir = scratch("hopquy-apache-");
    let port = free_port();
    let _apache = start_apache(dir.path(), port).await;
    let rec = Recorder::default();

    let get = HttpRequest::get(Scheme::Http, port, "/echo.cgi?x=1").with_auth(AuthMode::Digest, credential(PASSWORD));
    let resp = send(get, &rec).await;
    assert_eq!(resp.status, 200, "{:?}", resp.observations());
    assert_eq!(resp.auth_used.as_deref(), Some("digest-md5"));
    assert_eq!(resp.challenges.len(), 1);
    assert_eq!(resp.challenges[0].qop, ["auth"]);
    assert_eq!(String::from_utf8_lossy(&resp.body), "method=GET len=0\n");

    for method in ["POST", "PUT"] {
        let body = format!("<User><name>{method} body</name></User>");
        let req = HttpRequest::new(Scheme::Http, port, method, "/echo.cgi")
            .with_header("Content-Type", "application/xml")
            .with_body(body.clone().into_bytes())
            .with_auth(AuthMode::Any, credential(PASSWORD));
        let resp = send(req, &rec).await;
        assert_eq!(resp.status, 200, "{method}: {:?}", resp.observations());
        assert_eq!(
            String::from_utf8_lossy(&resp.body),
            format!("method={method} len={}\n{body}", body.len())
        );
    }

    let wrong = HttpRequest::get(Scheme::Http, port, "/echo.cgi").with_auth(AuthMode::Digest, credential("wrong-pw"));
    let resp = send(wrong, &rec).await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.auth_used.as_deref(), Some("digest-md5"));
    let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
    assert!(
        log.contains("password mismatch"),
        "Apache saw the wrong password: {log}"
    );
    assert!(!log.contains(PASSWORD));

    assert_no_secret_in_record(&rec);
}

// ---------------------------------------------------------------- lighttpd mod_auth

/// The folders lighttpd protects: (folder, algorithm list, userhash).
const LIGHTTPD_FOLDERS: &[(&str, &str, bool)] = &[
    ("md5", "MD5", false),
    ("sha256", "SHA-256", false),
    ("sha512", "SHA-512-256", false),
    // Three WWW-Authenticate headers, strongest first.
    ("all", "MD5|SHA-256|SHA-512-256", false),
    ("uh-md5", "MD5", true),
    ("uh-sha256", "SHA-256", true),
    ("uh-sha512", "SHA-512-256", true),
];

/// lighttpd with one protected folder per [`LIGHTTPD_FOLDERS`] row. The `plain` backend
/// serves every algorithm but cannot look a user up by its hash; the userhash folders use
/// the htdigest backend, whose lines carry `user:realm:H(user:realm:pass):H(user:realm)`.
async fn start_lighttpd(dir: &Path, port: u16) -> Child {
    let d = dir.display();
    std::fs::write(dir.join("users"), format!("{USER}:{PASSWORD}\n")).unwrap();
    let mut rules = Vec::new();
    let mut backends = String::new();
    for (folder, algorithm, userhash) in LIGHTTPD_FOLDERS {
        write_cgi(&dir.join("www").join(folder));
        rules.push(format!(
            "\"/{folder}/\" => ( \"method\" => \"digest\", \"realm\" => \"{REALM}\", \"require\" => \"valid-user\", \
             \"algorithm\" => \"{algorithm}\"{} )",
            if *userhash { ", \"userhash\" => \"enable\"" } else { "" }
        ));
        if *userhash {
            let file = dir.join(format!("{folder}.htdigest"));
            let line = format!(
                "{USER}:{REALM}:{}:{}\n",
                hash(algorithm, &format!("{USER}:{REALM}:{PASSWORD}")),
                hash(algorithm, &format!("{USER}:{REALM}"))
            );
            std::fs::write(&file, line).unwrap();
            backends.push_str(&format!(
                "$HTTP[\"url\"] =~ \"^/{folder}/\" {{\n  auth.backend = \"htdigest\"\n  \
                 auth.backend.htdigest.userfile = \"{}\"\n}}\n",
                file.display()
            ));
        }
    }
    let conf = format!(
        "server.modules = ( \"mod_auth\", \"mod_authn_file\", \"mod_cgi\" )\n\
         server.module-dir = \"{LIGHTTPD_MODULES}\"\n\
         server.document-root = \"{d}/www\"\nserver.bind = \"127.0.0.1\"\nserver.port = {port}\n\
         server.errorlog = \"{d}/error.log\"\nserver.pid-file = \"{d}/lighttpd.pid\"\n\
         cgi.assign = ( \".cgi\" => \"\" )\n\
         auth.backend = \"plain\"\nauth.backend.plain.userfile = \"{d}/users\"\n\
         auth.require = ( {} )\n{backends}",
        rules.join(", "),
    );
    let conf_path = dir.join("lighttpd.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut cmd = Command::new(LIGHTTPD);
    cmd.arg("-D").arg("-f").arg(&conf_path);
    start(cmd, port, &dir.join("error.log")).await
}

#[tokio::test]
async fn lighttpd_mod_auth_every_algorithm_it_offers() {
    if !peer_available("lighttpd", Path::new(LIGHTTPD).exists()) {
        return;
    }
    let dir = scratch("hopquy-lighttpd-");
    let port = free_port();
    let _lighttpd = start_lighttpd(dir.path(), port).await;
    let rec = Recorder::default();

    for (folder, algorithm, _) in LIGHTTPD_FOLDERS {
        let label = match algorithm.rsplit('|').next().unwrap_or_default() {
            "MD5" => "digest-md5",
            "SHA-256" => "digest-sha256",
            _ => "digest-sha512-256",
        };
        let path = format!("/{folder}/echo.cgi");
        let ok = HttpRequest::get(Scheme::Http, port, &path).with_auth(AuthMode::Digest, credential(PASSWORD));
        let resp = send(ok, &rec).await;
        assert_eq!(resp.status, 200, "{folder}: {:?}", resp.observations());
        assert_eq!(resp.auth_used.as_deref(), Some(label), "{folder}");

        let body = format!("{{\"folder\":\"{folder}\"}}");
        let post = HttpRequest::new(Scheme::Http, port, "POST", &path)
            .with_header("Content-Type", "application/json")
            .with_body(body.clone().into_bytes())
            .with_auth(AuthMode::Any, credential(PASSWORD));
        let resp = send(post, &rec).await;
        assert_eq!(resp.status, 200, "{folder} POST: {:?}", resp.observations());
        assert_eq!(
            String::from_utf8_lossy(&resp.body),
            format!("method=POST len={}\n{body}", body.len())
        );

        let wrong = HttpRequest::get(Scheme::Http, port, &path).with_auth(AuthMode::Digest, credential("wrong-pw"));
        let resp = send(wrong, &rec).await;
        assert_eq!(resp.status, 401, "{folder}");
        assert_eq!(resp.auth_used.as_deref(), Some(label), "{folder}");
    }

    // The folder offering everything: three headers (charset=UTF-8 on each).
    let resp = send(
        HttpRequest::get(Scheme::Http, port, "/all/echo.cgi"),
        &Recorder::default(),
    )
    .await;
    let labels: Vec<String> = resp.challenges.iter().map(|c| c.label()).collect();
    assert_eq!(labels, ["digest-sha512-256", "digest-sha256", "digest-md5"]);
    assert!(resp.challenges.iter().all(|c| c.param("charset") == Some("UTF-8")));
    let resp = send(
        HttpRequest::get(Scheme::Http, port, "/uh-sha512/echo.cgi"),
        &Recorder::default(),
    )
    .await;
    assert_eq!(resp.challenges[0].param("userhash"), Some("true"));

    assert_no_secret_in_record(&rec);
}
