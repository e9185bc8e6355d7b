//! SSH audit: the server's banner and every algorithm it offers, its host key, the
//! authentication methods it allows; and one password login per call ([`login_once`]), which
//! the runner's credential-attempt engine drives (pacing, dictionaries, stopping).
//!
//! Connections, each through [`Device::connect_tcp`] so the device's cap holds:
//! 1. Our own: send our identification line, read the server's (skipping bounded pre-banner
//!    lines) and its cleartext SSH_MSG_KEXINIT ([`kexinit`]), then close. Recorded byte for
//!    byte (`Capture::Wire`). russh cannot do this part: it keeps the peer's lists to itself.
//! 2. A russh client session over that same kind of stream: host-key fingerprint, the
//!    negotiated algorithms and a `none` request whose refusal lists the methods.
//! 3. Per [`login_once`], a fresh session: the `none` request for the credential's user, then
//!    its password: the `password` method when offered, else
//!    `keyboard-interactive` answering the server's password prompt (OpenSSH with
//!    `PasswordAuthentication no` and PAM, many embedded builds) — trying only `password`
//!    there would read every refusal-by-method as a wrong password. The session is
//!    encrypted, so these exchanges are recorded as message summaries (`Capture::SshMessage`);
//!    a secret password is written as `[REDACTED]` by us and the recorder's redactor removes
//!    it again should it slip through.
//!
//! The algorithm audit needs only connection 1, so a server whose algorithms russh cannot
//! speak (hmac-md5 only, ssh-dss only) still gets its full offer and weak list; the session
//! failure is reported as `session_error`.

pub mod kexinit;
pub mod weak;

use std::borrow::Cow;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use russh::client;
use russh::keys::PublicKeyOrCertificate;
use russh::keys::ssh_key::{Algorithm, EcdsaCurve, HashAlg};
use russh::{Preferred, SshId, cipher, compression, kex, mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

pub use kexinit::{HelloReader, KexInit, ServerHello};
pub use weak::{AlgorithmKind, WeakAlgorithm, terrapin_vulnerable, weak_algorithms, weakness};

use crate::exchange::{self, Capture, Exchange, Payload, REDACTED, Recorder};
use crate::tcp::escape_banner;
use crate::{Credential, Device, Permit, ProbeError};

pub const DEFAULT_PORT: u16 = 22;
/// Our identification line (without CR LF), on both connections.
pub const CLIENT_ID: &str = concat!("SSH-2.0-hopquy_", env!("CARGO_PKG_VERSION"));
/// Bytes one russh session may read from the device; authentication needs a few KiB.
const SESSION_READ_BUDGET: usize = 1024 * 1024;
/// User name for the audit's `none` request when none is given: the account cameras most
/// often run SSH for.
const DEFAULT_PROBE_USER: &str = "root";
/// A server that drops the connection during an attempt (OpenSSH after MaxAuthTries) gets
/// this many fresh connections for that credential before the attempt counts as `unknown`.
const RETRIES_AFTER_DROP: usize = 1;
const DISCONNECT_WAIT: Duration = Duration::from_millis(200);
/// Keyboard-interactive info requests answered in one attempt: PAM asks once for the
/// password, some servers send an empty request first or after it; a server still asking
/// after this many is not running a password login we understand.
const MAX_KBD_ROUNDS: usize = 4;

/// How a password goes to the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PasswordMethod {
    /// RFC 4252 §8 `password`.
    #[default]
    Password,
    /// RFC 4256 `keyboard-interactive`, the password typed into the server's prompt.
    KeyboardInteractive,
}

impl PasswordMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordMethod::Password => "password",
            PasswordMethod::KeyboardInteractive => "keyboard-interactive",
        }
    }

    /// `password` when offered, else `keyboard-interactive` when offered, else `password`:
    /// with neither offered the refusal of a password request is itself the evidence that
    /// no password login exists.
    pub fn choose(offered: &[String]) -> PasswordMethod {
        let has = |m: PasswordMethod| offered.iter().any(|o| o == m.as_str());
        if !has(PasswordMethod::Password) && has(PasswordMethod::KeyboardInteractive) {
            PasswordMethod::KeyboardInteractive
        } else {
            PasswordMethod::Password
        }
    }
}

/// The offered methods that can carry a password, in the server's order.
pub fn password_methods_offered(offered: &[String]) -> Vec<String> {
    offered
        .iter()
        .filter(|m| *m == PasswordMethod::Password.as_str() || *m == PasswordMethod::KeyboardInteractive.as_str())
        .cloned()
        .collect()
}

/// Whether a keyboard-interactive prompt asks for the account's password. English,
/// German/French/Spanish (`pass…`) and Vietnamese; an OTP or "Verification code" prompt is
/// not one, and answering it with the password would read its refusal as a wrong password.
pub fn is_password_prompt(prompt: &str) -> bool {
    let lower = prompt.to_lowercase();
    lower.contains("pass") || lower.contains("mật khẩu") || lower.contains("contraseña")
}

/// What to do beyond the algorithm audit.
#[derive(Debug, Clone, Default)]
pub struct SshOptions {
    /// User for the `none` request that lists the methods; default `root`.
    pub probe_user: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoginOutcome {
    /// The password was right (also when the server then asks for a second factor).
    Accepted,
    Rejected,
    /// No answer: the connection failed or timed out. SSH has no lock signal, so a locked
    /// account reads as `rejected`.
    Unknown,
}

impl LoginOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginOutcome::Accepted => "accepted",
            LoginOutcome::Rejected => "rejected",
            LoginOutcome::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginAttempt {
    /// `user:password`, or `user:[REDACTED]` for a secret credential.
    pub credential: String,
    pub outcome: LoginOutcome,
    /// Methods the server said may continue (empty on success or without an answer).
    pub remaining_methods: Vec<String>,
    /// The password was accepted but the server wants another method as well.
    pub partial_success: bool,
    /// The method the password went out with (or would have, when the session failed).
    #[serde(default)]
    pub method: PasswordMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the russh session agreed on with the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Negotiated {
    pub kex: String,
    pub host_key: String,
    pub cipher: String,
    pub mac: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshAudit {
    pub hello: ServerHello,
    pub weak: Vec<WeakAlgorithm>,
    /// From the refusal of a `none` request; `None` when no session could be set up.
    pub auth_methods: Option<Vec<String>>,
    /// The `none` request itself was accepted: no authentication at all.
    pub none_accepted: bool,
    /// `SHA256:…` as OpenSSH prints it.
    pub host_key_fingerprint: Option<String>,
    pub negotiated: Option<Negotiated>,
    /// Why the russh session (methods) failed, when it did.
    pub session_error: Option<String>,
}

impl SshAudit {
    /// The observation object (action table `ssh`, probe contract DESIGN §5). Lists are
    /// server-to-client as sent; `*_c2s` appear only where that direction differs.
    pub fn observations(&self) -> Value {
        let k = &self.hello.kexinit;
        let mut weak_names: Vec<&str> = Vec::new();
        for w in &self.weak {
            if !weak_names.contains(&w.algorithm.as_str()) {
                weak_names.push(&w.algorithm);
            }
        }
        let mut obs = json!({
            "reachable": true,
            "banner": self.hello.banner,
            "kex": k.kex,
            "host_key": k.host_key,
            "ciphers": k.ciphers_s2c,
            "macs": k.macs_s2c,
            "compression": k.compression_s2c,
            "strict_kex": k.kex.iter().any(|x| x == weak::STRICT_KEX_SERVER),
            "terrapin_vulnerable": terrapin_vulnerable(k),
            "auth_methods": self.auth_methods,
            "password_methods_offered": self.auth_methods.as_deref().map(password_methods_offered),
            "none_accepted": self.none_accepted,
            "host_key_fingerprint": self.host_key_fingerprint,
            "negotiated": self.negotiated,
            "weak": weak_names,
            "weak_detail": self.weak,
        });
        if let Value::Object(map) = &mut obs {
            for (name, c2s, s2c) in [
                ("ciphers_c2s", &k.ciphers_c2s, &k.ciphers_s2c),
                ("macs_c2s", &k.macs_c2s, &k.macs_s2c),
                ("compression_c2s", &k.compression_c2s, &k.compression_s2c),
            ] {
                if c2s != s2c {
                    map.insert(name.into(), json!(c2s));
                }
            }
            if !self.hello.pre_banner.is_empty() {
                map.insert("pre_banner".into(), json!(self.hello.pre_banner));
            }
            if let Some(e) = &self.session_error {
                map.insert("session_error".into(), json!(e));
            }
        }
        obs
    }
}

/// Connection 1 alone: banner and KEXINIT, recorded as one wire exchange.
pub async fn grab_server_hello(device: &Device, port: u16, rec: &Recorder) -> Result<ServerHello, ProbeError> {
    let started = exchange::now();
    let ident = format!("{CLIENT_ID}\r\n");
    let mut received = Vec::new();
    let mut sent = false;
    let result = read_hello(device, port, ident.as_bytes(), &mut received, &mut sent).await;
    let truncated = matches!(result, Err(ProbeError::TooLarge(_)));
    rec.record(Exchange {
        protocol: "ssh".into(),
        peer: device.authority(port),
        started,
        finished: exchange::now(),
        capture: Capture::Wire,
        label: format!("ssh {port}: identification and KEXINIT"),
        sent: sent.then(|| Payload::from_bytes(ident.as_bytes(), ident.len(), false)),
        received: (!received.is_empty()).then(|| Payload::from_bytes(&received, received.len(), truncated)),
        error: result.as_ref().err().map(ToString::to_string),
    });
    result
}

async fn read_hello(
    device: &Device,
    port: u16,
    ident: &[u8],
    received: &mut Vec<u8>,
    sent: &mut bool,
) -> Result<ServerHello, ProbeError> {
    let (mut stream, _permit) = device.connect_tcp(port).await?;
    let io_timeout = device.limits().io_timeout;
    let deadline = Instant::now() + io_timeout;
    // Both sides may send their identification at once (RFC 4253 §4.2); sending first
    // also wakes servers that wait for the client.
    match tokio::time::timeout_at(deadline, stream.write_all(ident)).await {
        Err(_) => {
            return Err(ProbeError::Timeout(format!(
                "sending our identification after {io_timeout:?}"
            )));
        }
        Ok(Err(e)) => return Err(ProbeError::Closed(format!("while we sent our identification: {e}"))),
        Ok(Ok(())) => *sent = true,
    }
    let mut reader = HelloReader::new();
    let mut chunk = [0u8; 4096];
    loop {
        let waiting_for = if reader.banner_seen() {
            "the server's KEXINIT"
        } else {
            "the SSH version line"
        };
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => {
                return Err(ProbeError::Timeout(format!(
                    "waiting for {waiting_for} ({} bytes received in {io_timeout:?})",
                    received.len()
                )));
            }
            Ok(Err(e)) => return Err(ProbeError::Closed(format!("while waiting for {waiting_for}: {e}"))),
            Ok(Ok(0)) => return Err(ProbeError::Closed(format!("before sending {waiting_for}"))),
            Ok(Ok(n)) => n,
        };
        received.extend_from_slice(&chunk[..n]);
        if let Some(hello) = reader.advance(received)? {
            return Ok(hello);
        }
    }
}

/// The full audit: connection 1, then a russh session for the methods. No password is sent.
pub async fn audit(device: &Device, port: u16, opts: &SshOptions, rec: &Recorder) -> Result<SshAudit, ProbeError> {
    let hello = grab_server_hello(device, port, rec).await?;
    let weak = weak_algorithms(&hello.kexinit);
    let mut audit = SshAudit {
        hello,
        weak,
        auth_methods: None,
        none_accepted: false,
        host_key_fingerprint: None,
        negotiated: None,
        session_error: None,
    };
    let probe_user = opts.probe_user.clone().unwrap_or_else(|| DEFAULT_PROBE_USER.to_owned());
    let client = SessionOpener::new(device, port, rec);

    let mut session = match client.open().await {
        Ok(handle) => Some(handle),
        Err(e) => {
            audit.session_error = Some(e.to_string());
            None
        }
    };
    let facts = client.first_facts();
    audit.host_key_fingerprint = facts.fingerprint;
    audit.negotiated = facts.negotiated;

    if let Some(handle) = session.as_mut() {
        match list_methods(handle, &probe_user, device, port, rec).await {
            Ok(Some(methods)) => audit.auth_methods = Some(methods),
            Ok(None) => {
                audit.none_accepted = true;
                audit.auth_methods = Some(vec!["none".to_owned()]);
            }
            Err(e) => audit.session_error = Some(e.to_string()),
        }
    }
    close(session.take()).await;
    Ok(audit)
}

/// One credential: on `session`, or a new one when there is none (or it was dropped, once
/// more after a drop). The session is closed afterwards: every attempt gets its own, which
/// defeats per-connection counters.
async fn login_with_retry(
    client: &SessionOpener<'_>,
    session: &mut Option<Handle>,
    credential: &Credential,
    method: PasswordMethod,
) -> LoginAttempt {
    let mut drops = 0;
    loop {
        let handle = match session.as_mut() {
            Some(h) => h,
            None => match client.open().await {
                Ok(h) => session.insert(h),
                Err(e) => return unanswered(credential, method, e.to_string()),
            },
        };
        match try_password(handle, credential, method, client).await {
            Answer::Dropped(_) if drops < RETRIES_AFTER_DROP => {
                drops += 1;
                close(session.take()).await;
            }
            answer => {
                close(session.take()).await;
                return answer.into_attempt(credential, method);
            }
        }
    }
}

/// One password login on a fresh session, as a login surface needs it: the methods are
/// listed for the credential's user (they may differ per user) and the password goes out
/// with [`PasswordMethod::choose`]. `Err` only when no session could be set up, or the
/// `none` request got no answer; a `none` request that is accepted makes the attempt
/// `unknown` (no password was needed, so none was tested).
pub async fn login_once(
    device: &Device,
    port: u16,
    credential: &Credential,
    rec: &Recorder,
) -> Result<LoginOnce, ProbeError> {
    let client = SessionOpener::new(device, port, rec);
    let mut session = Some(client.open().await?);
    let listed = match session.as_mut() {
        Some(handle) => list_methods(handle, &credential.username, device, port, rec).await,
        None => Err(ProbeError::Closed("before the `none` request".into())),
    };
    let methods = match listed {
        Ok(Some(methods)) => methods,
        Ok(None) => {
            close(session.take()).await;
            let attempt = unanswered(
                credential,
                PasswordMethod::Password,
                "the server accepted the `none` request: no password was asked for".into(),
            );
            return Ok(LoginOnce {
                attempt,
                auth_methods: vec!["none".to_owned()],
            });
        }
        Err(e) => {
            close(session.take()).await;
            return Err(e);
        }
    };
    let method = PasswordMethod::choose(&methods);
    let attempt = login_with_retry(&client, &mut session, credential, method).await;
    close(session.take()).await;
    Ok(LoginOnce {
        attempt,
        auth_methods: methods,
    })
}

/// What [`login_once`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginOnce {
    pub attempt: LoginAttempt,
    /// The methods the server listed for the credential's user.
    pub auth_methods: Vec<String>,
}

const SETUP_FAILED: &str = "SSH session could not be set up: ";

fn unanswered(credential: &Credential, method: PasswordMethod, error: String) -> LoginAttempt {
    LoginAttempt {
        credential: credential_label(credential),
        outcome: LoginOutcome::Unknown,
        remaining_methods: Vec::new(),
        partial_success: false,
        method,
        error: Some(error),
    }
}

/// `user:password`, the password replaced for a secret credential.
pub fn credential_label(c: &Credential) -> String {
    if c.secret {
        format!("{}:{REDACTED}", c.username)
    } else {
        format!("{}:{}", c.username, c.password)
    }
}

enum Answer {
    Accepted {
        partial: bool,
    },
    Rejected {
        methods: Vec<String>,
    },
    Dropped(String),
    /// No answer, or one that is neither acceptance nor refusal of the password (a
    /// keyboard-interactive prompt that is not a password question).
    Failed(String),
}

impl Answer {
    fn into_attempt(self, credential: &Credential, method: PasswordMethod) -> LoginAttempt {
        let label = credential_label(credential);
        match self {
            Answer::Accepted { partial } => LoginAttempt {
                credential: label,
                outcome: LoginOutcome::Accepted,
                remaining_methods: Vec::new(),
                partial_success: partial,
                method,
                error: None,
            },
            Answer::Rejected { methods } => LoginAttempt {
                credential: label,
                outcome: LoginOutcome::Rejected,
                remaining_methods: methods,
                partial_success: false,
                method,
                error: None,
            },
            Answer::Dropped(e) | Answer::Failed(e) => unanswered(credential, method, e),
        }
    }
}

type Handle = client::Handle<AuditHandler>;

fn method_names(methods: &russh::MethodSet) -> Vec<String> {
    methods.iter().map(|m| <&'static str>::from(m).to_owned()).collect()
}

/// `Ok(None)`: the server accepted `none`.
async fn list_methods(
    handle: &mut Handle,
    user: &str,
    device: &Device,
    port: u16,
    rec: &Recorder,
) -> Result<Option<Vec<String>>, ProbeError> {
    let started = exchange::now();
    let sent = format!("SSH_MSG_USERAUTH_REQUEST user={user:?} service=\"ssh-connection\" method=\"none\"");
    let io_timeout = device.limits().io_timeout;
    let result = match tokio::time::timeout(io_timeout, handle.authenticate_none(user)).await {
        Err(_) => Err(ProbeError::Timeout(format!(
            "waiting for the answer to a `none` request after {io_timeout:?}"
        ))),
        Ok(Err(e)) => Err(session_error(e)),
        Ok(Ok(russh::client::AuthResult::Success)) => Ok(None),
        Ok(Ok(russh::client::AuthResult::Failure { remaining_methods, .. })) => {
            if remaining_methods.is_empty() && handle.is_closed() {
                Err(ProbeError::Closed("instead of answering a `none` request".into()))
            } else {
                Ok(Some(method_names(&remaining_methods)))
            }
        }
    };
    let received = match &result {
        Ok(None) => Some("SSH_MSG_USERAUTH_SUCCESS".to_owned()),
        Ok(Some(methods)) => Some(format!("SSH_MSG_USERAUTH_FAILURE methods={:?}", methods.join(","))),
        Err(_) => None,
    };
    rec.record(Exchange {
        protocol: "ssh".into(),
        peer: device.authority(port),
        started,
        finished: exchange::now(),
        capture: Capture::SshMessage,
        label: format!("ssh {port}: authentication methods (none request as {user})"),
        sent: Some(Payload::from_bytes(sent.as_bytes(), sent.len(), false)),
        received: received.map(|r| Payload::from_bytes(r.as_bytes(), r.len(), false)),
        error: result.as_ref().err().map(ToString::to_string),
    });
    result
}

/// One password login on `handle` with `method`, recorded as one exchange whose sent and
/// received sides list the messages in order.
async fn try_password(
    handle: &mut Handle,
    credential: &Credential,
    method: PasswordMethod,
    client: &SessionOpener<'_>,
) -> Answer {
    let started = exchange::now();
    let label = credential_label(credential);
    let mut sent = Vec::new();
    let mut received = Vec::new();
    let answer = match method {
        PasswordMethod::Password => password_request(handle, credential, client, &mut sent).await,
        PasswordMethod::KeyboardInteractive => {
            keyboard_interactive(handle, credential, client, &mut sent, &mut received).await
        }
    };
    let (error, outcome) = match &answer {
        Answer::Accepted { partial: false } => {
            received.push("SSH_MSG_USERAUTH_SUCCESS".to_owned());
            (None, "accepted")
        }
        Answer::Accepted { partial: true } => {
            received.push("SSH_MSG_USERAUTH_FAILURE partial_success=true".to_owned());
            (None, "accepted, another method required")
        }
        Answer::Rejected { methods } => {
            received.push(format!(
                "SSH_MSG_USERAUTH_FAILURE methods={:?} partial_success=false",
                methods.join(",")
            ));
            (None, "rejected")
        }
        Answer::Dropped(e) | Answer::Failed(e) => (Some(e.clone()), "no answer"),
    };
    let sent = sent.join("\n");
    let received = received.join("\n");
    client.rec.record(Exchange {
        protocol: "ssh".into(),
        peer: client.device.authority(client.port),
        started,
        finished: exchange::now(),
        capture: Capture::SshMessage,
        label: format!(
            "ssh {}: password login as {label} via {}: {outcome}",
            client.port,
            method.as_str()
        ),
        sent: Some(Payload::from_bytes(sent.as_bytes(), sent.len(), false)),
        received: (!received.is_empty()).then(|| Payload::from_bytes(received.as_bytes(), received.len(), false)),
        error,
    });
    answer
}

/// The password as the evidence may show it.
fn shown_password(credential: &Credential) -> &str {
    if credential.secret {
        REDACTED
    } else {
        credential.password.as_str()
    }
}

/// A final USERAUTH_SUCCESS / USERAUTH_FAILURE, whichever method it answered.
fn final_answer(success: bool, remaining: &russh::MethodSet, partial: bool, handle: &Handle) -> Answer {
    if success {
        Answer::Accepted { partial: false }
    } else if partial {
        Answer::Accepted { partial: true }
    } else if remaining.is_empty() && handle.is_closed() {
        Answer::Dropped("the server closed the connection instead of answering the login".into())
    } else {
        Answer::Rejected {
            methods: method_names(remaining),
        }
    }
}

fn transport_answer(e: russh::Error, handle: &Handle, during: &str) -> Answer {
    if handle.is_closed() {
        Answer::Dropped(format!("connection lost during {during}: {e}"))
    } else {
        Answer::Failed(session_error(e).to_string())
    }
}

async fn password_request(
    handle: &mut Handle,
    credential: &Credential,
    client: &SessionOpener<'_>,
    sent: &mut Vec<String>,
) -> Answer {
    sent.push(format!(
        "SSH_MSG_USERAUTH_REQUEST user={:?} service=\"ssh-connection\" method=\"password\" password={:?}",
        credential.username,
        shown_password(credential)
    ));
    let io_timeout = client.device.limits().io_timeout;
    let auth = handle.authenticate_password(credential.username.clone(), credential.password.clone());
    match tokio::time::timeout(io_timeout, auth).await {
        Err(_) => Answer::Failed(format!("no answer to the password request within {io_timeout:?}")),
        Ok(Err(e)) => transport_answer(e, handle, "the password request"),
        Ok(Ok(russh::client::AuthResult::Success)) => final_answer(true, &russh::MethodSet::empty(), false, handle),
        Ok(Ok(russh::client::AuthResult::Failure {
            remaining_methods,
            partial_success,
        })) => final_answer(false, &remaining_methods, partial_success, handle),
    }
}

/// RFC 4256: answer each info request whose prompts all ask for the password with it (once
/// per attempt) and an empty request with nothing; anything else — an OTP prompt, a second
/// password question, more than [`MAX_KBD_ROUNDS`] requests — ends the attempt as
/// unanswered with the server's text, never as a refusal.
async fn keyboard_interactive(
    handle: &mut Handle,
    credential: &Credential,
    client: &SessionOpener<'_>,
    sent: &mut Vec<String>,
    received: &mut Vec<String>,
) -> Answer {
    use russh::client::KeyboardInteractiveAuthResponse as Reply;
    let io_timeout = client.device.limits().io_timeout;
    sent.push(format!(
        "SSH_MSG_USERAUTH_REQUEST user={:?} service=\"ssh-connection\" method=\"keyboard-interactive\" submethods=\"\"",
        credential.username
    ));
    let start = handle.authenticate_keyboard_interactive_start(credential.username.clone(), None);
    let mut reply = match tokio::time::timeout(io_timeout, start).await {
        Err(_) => {
            return Answer::Failed(format!(
                "no answer to the keyboard-interactive request within {io_timeout:?}"
            ));
        }
        Ok(Err(e)) => return transport_answer(e, handle, "the keyboard-interactive request"),
        Ok(Ok(reply)) => reply,
    };
    let mut password_sent = false;
    for _ in 0..MAX_KBD_ROUNDS {
        let prompts = match reply {
            Reply::Success => return final_answer(true, &russh::MethodSet::empty(), false, handle),
            Reply::Failure {
                remaining_methods,
                partial_success,
            } => return final_answer(false, &remaining_methods, partial_success, handle),
            Reply::InfoRequest {
                name,
                instructions,
                prompts,
            } => {
                let shown: Vec<String> = prompts
                    .iter()
                    .map(|p| format!("{:?} echo={}", escape_banner(p.prompt.as_bytes()), p.echo))
                    .collect();
                received.push(format!(
                    "SSH_MSG_USERAUTH_INFO_REQUEST name={:?} instruction={:?} prompts=[{}]",
                    escape_banner(name.as_bytes()),
                    escape_banner(instructions.as_bytes()),
                    shown.join(", ")
                ));
                prompts
            }
        };
        let asks_password = !prompts.is_empty() && prompts.iter().all(|p| is_password_prompt(&p.prompt));
        if !prompts.is_empty() && (!asks_password || password_sent) {
            let texts: Vec<String> = prompts.iter().map(|p| escape_banner(p.prompt.as_bytes())).collect();
            let why = if asks_password {
                "asked for a password again after it was sent"
            } else {
                "asked something that is not a password question"
            };
            return Answer::Failed(format!(
                "the keyboard-interactive login {why}: {texts:?}; the password was not shown to be accepted or refused"
            ));
        }
        let responses: Vec<String> = prompts.iter().map(|_| credential.password.clone()).collect();
        sent.push(format!(
            "SSH_MSG_USERAUTH_INFO_RESPONSE responses=[{}]",
            prompts
                .iter()
                .map(|_| format!("{:?}", shown_password(credential)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        password_sent |= !prompts.is_empty();
        let respond = handle.authenticate_keyboard_interactive_respond(responses);
        reply = match tokio::time::timeout(io_timeout, respond).await {
            Err(_) => {
                return Answer::Failed(format!(
                    "no answer to the keyboard-interactive response within {io_timeout:?}"
                ));
            }
            Ok(Err(e)) => return transport_answer(e, handle, "the keyboard-interactive response"),
            Ok(Ok(reply)) => reply,
        };
    }
    match reply {
        Reply::Success => final_answer(true, &russh::MethodSet::empty(), false, handle),
        Reply::Failure {
            remaining_methods,
            partial_success,
        } => final_answer(false, &remaining_methods, partial_success, handle),
        Reply::InfoRequest { .. } => Answer::Failed(format!(
            "the server was still asking after {MAX_KBD_ROUNDS} keyboard-interactive rounds"
        )),
    }
}

async fn close(session: Option<Handle>) {
    if let Some(handle) = session {
        let _ = tokio::time::timeout(
            DISCONNECT_WAIT,
            handle.disconnect(russh::Disconnect::ByApplication, "audit finished", "en"),
        )
        .await;
    }
}

fn session_error(e: russh::Error) -> ProbeError {
    match e {
        russh::Error::NoCommonAlgo { kind, ours, theirs } => ProbeError::Protocol(format!(
            "no {kind:?} algorithm in common: the server offers {theirs:?}, the audit client speaks {ours:?}"
        )),
        russh::Error::Disconnect | russh::Error::HUP => ProbeError::Closed("during the SSH session".into()),
        russh::Error::Elapsed(_) | russh::Error::ConnectionTimeout | russh::Error::InactivityTimeout => {
            ProbeError::Timeout("in the SSH session".into())
        }
        russh::Error::IO(io) => ProbeError::Closed(format!("during the SSH session: {io}")),
        other => ProbeError::Protocol(format!("SSH session: {other}")),
    }
}

#[derive(Debug, Default, Clone)]
struct SessionFacts {
    fingerprint: Option<String>,
    negotiated: Option<Negotiated>,
}

/// Records, never judges: refusing an unknown host key would end the session before the
/// authentication methods could be read, and the key's fingerprint is itself evidence.
struct AuditHandler {
    facts: Arc<Mutex<SessionFacts>>,
}

impl client::Handler for AuditHandler {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let fingerprint = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.fingerprint(HashAlg::Sha256),
            PublicKeyOrCertificate::Certificate(cert) => cert.public_key().fingerprint(HashAlg::Sha256),
        };
        if let Ok(mut facts) = self.facts.lock() {
            facts.fingerprint = Some(fingerprint.to_string());
        }
        Ok(true)
    }

    async fn kex_done(
        &mut self,
        _shared_secret: Option<&[u8]>,
        names: &russh::Names,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        if let Ok(mut facts) = self.facts.lock() {
            facts.negotiated = Some(Negotiated {
                kex: names.kex.as_ref().to_owned(),
                host_key: names.key.to_string(),
                cipher: names.cipher.as_ref().to_owned(),
                mac: names.server_mac.as_ref().to_owned(),
            });
        }
        Ok(())
    }
}

/// Opens russh sessions to the device; remembers what the first one learned.
struct SessionOpener<'a> {
    device: &'a Device,
    port: u16,
    rec: &'a Recorder,
    config: Arc<client::Config>,
    first: Mutex<Option<SessionFacts>>,
}

impl<'a> SessionOpener<'a> {
    fn new(device: &'a Device, port: u16, rec: &'a Recorder) -> Self {
        SessionOpener {
            device,
            port,
            rec,
            config: Arc::new(audit_client_config()),
            first: Mutex::new(None),
        }
    }

    fn first_facts(&self) -> SessionFacts {
        self.first.lock().ok().and_then(|f| f.clone()).unwrap_or_default()
    }

    async fn open(&self) -> Result<Handle, ProbeError> {
        let started = exchange::now();
        let facts = Arc::new(Mutex::new(SessionFacts::default()));
        let result = self.connect(facts.clone()).await;
        let learned = facts.lock().map(|f| f.clone()).unwrap_or_default();
        if let Ok(mut first) = self.first.lock()
            && first.is_none()
        {
            *first = Some(learned.clone());
        }
        let received = learned.negotiated.as_ref().map(|n| {
            format!(
                "key exchange done: kex={} host_key={} cipher={} mac={} host key fingerprint {}",
                n.kex,
                n.host_key,
                n.cipher,
                n.mac,
                learned.fingerprint.as_deref().unwrap_or("unknown")
            )
        });
        self.rec.record(Exchange {
            protocol: "ssh".into(),
            peer: self.device.authority(self.port),
            started,
            finished: exchange::now(),
            capture: Capture::SshMessage,
            label: format!("ssh {}: session set-up (russh client)", self.port),
            sent: Some(Payload::from_bytes(CLIENT_ID.as_bytes(), CLIENT_ID.len(), false)),
            received: received.map(|r| Payload::from_bytes(r.as_bytes(), r.len(), false)),
            error: result.as_ref().err().map(ToString::to_string),
        });
        result
    }

    async fn connect(&self, facts: Arc<Mutex<SessionFacts>>) -> Result<Handle, ProbeError> {
        let (stream, permit) = self.device.connect_tcp(self.port).await?;
        let stream = BoundedStream {
            inner: stream,
            read: 0,
            budget: SESSION_READ_BUDGET,
            _permit: permit,
        };
        let limits = self.device.limits();
        let limit = limits.connect_timeout + limits.io_timeout;
        match tokio::time::timeout(
            limit,
            client::connect_stream(self.config.clone(), stream, AuditHandler { facts }),
        )
        .await
        {
            Err(_) => Err(ProbeError::Timeout(format!(
                "{SETUP_FAILED}key exchange took longer than {limit:?}"
            ))),
            Ok(Err(e)) => Err(match session_error(e) {
                ProbeError::Protocol(m) => ProbeError::Protocol(format!("{SETUP_FAILED}{m}")),
                ProbeError::Closed(m) => ProbeError::Closed(format!("{SETUP_FAILED}{m}")),
                other => other,
            }),
            Ok(Ok(handle)) => Ok(handle),
        }
    }
}

/// Everything russh 0.65 can speak (with default features), modern first: the session
/// exists to list methods and try passwords, so it should agree with a legacy camera too.
fn audit_preferred() -> Preferred {
    const KEX: &[kex::Name] = &[
        kex::MLKEM768X25519_SHA256,
        kex::CURVE25519,
        kex::CURVE25519_PRE_RFC_8731,
        kex::ECDH_SHA2_NISTP256,
        kex::ECDH_SHA2_NISTP384,
        kex::ECDH_SHA2_NISTP521,
        kex::DH_GEX_SHA256,
        kex::DH_G18_SHA512,
        kex::DH_G17_SHA512,
        kex::DH_G16_SHA512,
        kex::DH_G15_SHA512,
        kex::DH_G14_SHA256,
        kex::DH_G14_SHA1,
        kex::DH_GEX_SHA1,
        kex::DH_G1_SHA1,
        kex::EXTENSION_SUPPORT_AS_CLIENT,
        kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
    ];
    const KEYS: &[Algorithm] = &[
        Algorithm::Ed25519,
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP256,
        },
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP384,
        },
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP521,
        },
        Algorithm::Rsa {
            hash: Some(HashAlg::Sha512),
        },
        Algorithm::Rsa {
            hash: Some(HashAlg::Sha256),
        },
        Algorithm::Rsa { hash: None },
    ];
    const CIPHERS: &[cipher::Name] = &[
        cipher::CHACHA20_POLY1305,
        cipher::AES_256_GCM,
        cipher::AES_128_GCM,
        cipher::AES_256_CTR,
        cipher::AES_192_CTR,
        cipher::AES_128_CTR,
        cipher::AES_256_CBC,
        cipher::AES_192_CBC,
        cipher::AES_128_CBC,
    ];
    const MACS: &[mac::Name] = &[
        mac::HMAC_SHA512_ETM,
        mac::HMAC_SHA256_ETM,
        mac::HMAC_SHA512,
        mac::HMAC_SHA256,
        mac::HMAC_SHA1_ETM,
        mac::HMAC_SHA1,
    ];
    const COMPRESSION: &[compression::Name] = &[compression::NONE, compression::ZLIB, compression::ZLIB_LEGACY];
    Preferred {
        kex: Cow::Borrowed(KEX),
        key: Cow::Borrowed(KEYS),
        host_key_certificates: Cow::Borrowed(&[]),
        cipher: Cow::Borrowed(CIPHERS),
        mac: Cow::Borrowed(MACS),
        compression: Cow::Borrowed(COMPRESSION),
    }
}

fn audit_client_config() -> client::Config {
    client::Config {
        client_id: SshId::Standard(Cow::Borrowed(CLIENT_ID)),
        preferred: audit_preferred(),
        // Every call is bounded by our own timeouts; this only reaps a forgotten session.
        inactivity_timeout: Some(Duration::from_secs(60)),
        nodelay: true,
        ..client::Config::default()
    }
}

/// The device's TCP stream with a read budget, holding the connection permit: russh owns
/// the stream in its own task, so the permit is released exactly when the socket closes.
struct BoundedStream {
    inner: TcpStream,
    read: usize,
    budget: usize,
    _permit: Permit,
}

impl AsyncRead for BoundedStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.read > this.budget {
            return Poll::Ready(Err(io::Error::other(format!(
                "the device sent more than {} bytes in one SSH session",
                this.budget
            ))));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            this.read += buf.filled().len().saturating_sub(before);
        }
        polled
    }
}

impl AsyncWrite for BoundedStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_credentials_are_labelled_without_the_password() {
        let secret = Credential {
            username: "admin".into(),
            password: "Hunter2-long".into(),
            secret: true,
        };
        let public = Credential {
            username: "root".into(),
            password: "12345".into(),
            secret: false,
        };
        assert_eq!(credential_label(&secret), "admin:[REDACTED]");
        assert_eq!(credential_label(&public), "root:12345");
    }

    #[test]
    fn c2s_lists_appear_only_when_they_differ() {
        let kexinit = KexInit {
            ciphers_c2s: vec!["aes128-ctr".into()],
            ciphers_s2c: vec!["aes128-ctr".into()],
            macs_c2s: vec!["hmac-sha1".into()],
            macs_s2c: vec!["hmac-sha2-256".into()],
            ..KexInit::default()
        };
        let audit = SshAudit {
            weak: weak_algorithms(&kexinit),
            hello: ServerHello {
                banner: "SSH-2.0-x".into(),
                pre_banner: vec![],
                kexinit,
                consumed: 0,
            },
            auth_methods: Some(vec!["password".into()]),
            none_accepted: false,
            host_key_fingerprint: None,
            negotiated: None,
            session_error: None,
        };
        let obs = audit.observations();
        assert!(obs.get("ciphers_c2s").is_none());
        assert_eq!(obs["macs_c2s"], json!(["hmac-sha1"]));
        assert_eq!(obs["macs"], json!(["hmac-sha2-256"]));
        assert_eq!(obs["weak"], json!(["hmac-sha1"]));
        assert_eq!(obs["weak_detail"][0]["kind"], "mac");
    }
}
