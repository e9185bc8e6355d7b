//! Telnet probe: is a Telnet service listening, and what does it print before a login?
//!
//! The probe refuses every option the server proposes (WILL → DONT, DO → WONT), as a dumb
//! network virtual terminal may (RFC 854), so a server that waits for the negotiation to
//! settle goes on to print its banner and prompt. [`probe`] never types anything: no
//! username, no password, not even a newline. [`login`] makes one bounded login attempt.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::exchange::{self, Capture, Exchange, Payload, Recorder};
use crate::{Device, ProbeError};

pub const DEFAULT_PORT: u16 = 23;
/// Raw bytes read from the server at most (an endless banner stops here).
pub const MAX_READ_BYTES: usize = 16 * 1024;
/// Characters of `prompt` kept.
pub const MAX_PROMPT_CHARS: usize = 1024;
/// Negotiation entries kept.
const MAX_NEGOTIATION_ENTRIES: usize = 64;
/// How long a pause after text ends the banner; long enough for a server to answer our
/// refusals over a slow link, short enough not to matter.
const QUIET_GAP: Duration = Duration::from_millis(400);
/// After negotiation without text, how long the banner may take.
const NEGOTIATION_WAIT: Duration = Duration::from_secs(1);
/// The longest a silent server is waited for before it counts as saying nothing.
const FIRST_BYTE_WAIT: Duration = Duration::from_secs(3);

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;

/// What the probe observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TelnetReport {
    /// The port accepted a connection (a refused port is [`ProbeError::Refused`]).
    pub open: bool,
    /// Text the server printed (negotiation removed), escaped: printable ASCII kept, line
    /// ends as `\n`, other bytes as `\xNN`; trimmed; at most [`MAX_PROMPT_CHARS`]. `None`
    /// when it printed nothing.
    pub prompt: Option<String>,
    /// What the prompt asks for: `login`, `password`, `shell` (a command prompt without
    /// any login), or `other`; `None` without a prompt.
    pub prompt_kind: Option<String>,
    /// Option commands the server sent, in order, without repeats: `DO TERMINAL-TYPE`, `WILL ECHO`…
    pub negotiation: Vec<String>,
    /// True when the server sent IAC commands at all (a real Telnet service, not a raw
    /// console on port 23).
    pub telnet_protocol: bool,
    /// The server closed the connection by itself.
    pub closed_by_server: bool,
    /// Reading stopped at [`MAX_READ_BYTES`].
    pub truncated: bool,
    pub bytes_received: usize,
    pub elapsed_ms: u64,
}

impl TelnetReport {
    pub fn observations(&self) -> serde_json::Value {
        serde_json::json!({
            "open": self.open,
            "prompt": self.prompt,
            "prompt_kind": self.prompt_kind,
            "negotiation": self.negotiation,
            "telnet_protocol": self.telnet_protocol,
            "closed_by_server": self.closed_by_server,
            "truncated": self.truncated,
            "bytes_received": self.bytes_received,
            "elapsed_ms": self.elapsed_ms,
        })
    }
}

/// The name of Telnet option `code` (IANA telnet-options registry), else its number.
pub fn option_name(code: u8) -> String {
    let name = match code {
        0 => "BINARY",
        1 => "ECHO",
        3 => "SUPPRESS-GO-AHEAD",
        5 => "STATUS",
        6 => "TIMING-MARK",
        24 => "TERMINAL-TYPE",
        31 => "NAWS",
        32 => "TERMINAL-SPEED",
        33 => "TOGGLE-FLOW-CONTROL",
        34 => "LINEMODE",
        35 => "X-DISPLAY-LOCATION",
        36 => "ENVIRON",
        37 => "AUTHENTICATION",
        38 => "ENCRYPT",
        39 => "NEW-ENVIRON",
        other => return other.to_string(),
    };
    name.to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Data,
    Command,
    Option(u8),
    Sub,
    SubCommand,
}

/// Splits the server's bytes into text and commands, and produces our refusals.
#[derive(Debug, Default)]
struct Decoder {
    state: State,
    text: Vec<u8>,
    negotiation: Vec<String>,
    saw_command: bool,
    /// (command, option) pairs already answered: answering a repeat could start a loop.
    answered: Vec<(u8, u8)>,
}

impl Decoder {
    /// Feed bytes; returns the refusals to send.
    fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut reply = Vec::new();
        for &b in bytes {
            self.state = match self.state {
                State::Data if b == IAC => State::Command,
                State::Data => {
                    if self.text.len() < MAX_READ_BYTES {
                        self.text.push(b);
                    }
                    State::Data
                }
                State::Command => {
                    self.saw_command = true;
                    match b {
                        WILL | WONT | DO | DONT => State::Option(b),
                        SB => State::Sub,
                        IAC => {
                            if self.text.len() < MAX_READ_BYTES {
                                self.text.push(IAC);
                            }
                            State::Data
                        }
                        // NOP, GA, AYT…: two-byte commands with nothing to answer.
                        _ => State::Data,
                    }
                }
                State::Option(command) => {
                    self.note(command, b);
                    let refusal = match command {
                        WILL => Some(DONT),
                        DO => Some(WONT),
                        // WONT/DONT confirm what is already off; answering would loop.
                        _ => None,
                    };
                    if let Some(r) = refusal
                        && !self.answered.contains(&(command, b))
                    {
                        self.answered.push((command, b));
                        reply.extend_from_slice(&[IAC, r, b]);
                    }
                    State::Data
                }
                State::Sub if b == IAC => State::SubCommand,
                State::Sub => State::Sub,
                State::SubCommand if b == SE => State::Data,
                State::SubCommand => State::Sub,
            };
        }
        reply
    }

    fn note(&mut self, command: u8, option: u8) {
        let verb = match command {
            WILL => "WILL",
            WONT => "WONT",
            DO => "DO",
            _ => "DONT",
        };
        let entry = format!("{verb} {}", option_name(option));
        if !self.negotiation.contains(&entry) && self.negotiation.len() < MAX_NEGOTIATION_ENTRIES {
            self.negotiation.push(entry);
        }
    }
}

/// Printable text of what the server printed: see [`TelnetReport::prompt`].
pub fn escape_prompt(text: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        let piece = match b {
            // CR LF, CR NUL and a lone CR or LF all end a line.
            b'\r' => {
                if matches!(text.get(i + 1), Some(b'\n' | 0)) {
                    i += 1;
                }
                "\n".to_owned()
            }
            b'\n' => "\n".to_owned(),
            0 => String::new(),
            b'\t' => "\t".to_owned(),
            0x20..=0x7e if b != b'\\' => (b as char).to_string(),
            _ => format!("\\x{b:02x}"),
        };
        i += 1;
        if out.len() + piece.len() > MAX_PROMPT_CHARS {
            break;
        }
        out.push_str(&piece);
    }
    out.trim().to_owned()
}

/// `login`, `password`, `shell` or `other`, from the last line of the prompt.
pub fn classify_prompt(prompt: &str) -> &'static str {
    let last = prompt.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    let lower = last.trim().to_ascii_lowercase();
    if lower.ends_with(':') || lower.ends_with('>') {
        if lower.contains("password") || lower.contains("passwd") {
            return "password";
        }
        if lower.contains("login") || lower.contains("user") {
            return "login";
        }
    }
    if lower.ends_with('#') || lower.ends_with('$') || lower.ends_with('>') {
        return "shell";
    }
    "other"
}

/// Connect to `port`, answer the server's option negotiation with refusals, and read what
/// it prints until it pauses, closes, or a bound (bytes, time) is reached. Records one
/// exchange. `Err` only when no connection could be made.
pub async fn probe(device: &Device, port: u16, rec: &Recorder) -> Result<TelnetReport, ProbeError> {
    let begun = Instant::now();
    let started = exchange::now();
    let (mut stream, _permit) = match device.connect_tcp(port).await {
        Ok(c) => c,
        Err(e) => {
            rec.record(Exchange {
                protocol: "telnet".into(),
                peer: device.authority(port),
                started,
                finished: exchange::now(),
                capture: Capture::Wire,
                label: format!("telnet {port}: connect"),
                sent: None,
                received: None,
                error: Some(e.to_string()),
            });
            return Err(e);
        }
    };
    let limits = device.limits();
    let hard_deadline = Instant::now() + limits.io_timeout;
    let first_deadline = Instant::now() + FIRST_BYTE_WAIT.min(limits.io_timeout);

    let mut decoder = Decoder::default();
    let mut received: Vec<u8> = Vec::new();
    let mut sent: Vec<u8> = Vec::new();
    let mut report = TelnetReport {
        open: true,
        ..TelnetReport::default()
    };
    let mut error = None;
    let mut chunk = [0u8; 2048];
    loop {
        let deadline = if received.is_empty() {
            first_deadline
        } else if decoder.text.iter().all(u8::is_ascii_whitespace) {
            // Only negotiation so far: some daemons think a while before the banner.
            (Instant::now() + NEGOTIATION_WAIT).min(hard_deadline)
        } else {
            (Instant::now() + QUIET_GAP).min(hard_deadline)
        };
        let room = MAX_READ_BYTES - received.len();
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk[..room.min(2048)])).await;
        let n = match read {
            Err(_) => break,
            Ok(Ok(0)) => {
                report.closed_by_server = true;
                break;
            }
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                // A reset after the banner is how some daemons end a session; keep what came.
                error = Some(format!("reading: {e}"));
                report.closed_by_server = true;
                break;
            }
        };
        received.extend_from_slice(&chunk[..n]);
        let reply = decoder.feed(&chunk[..n]);
        if !reply.is_empty() {
            match tokio::time::timeout_at(hard_deadline, stream.write_all(&reply)).await {
                Ok(Ok(())) => sent.extend_from_slice(&reply),
                Ok(Err(e)) => {
                    error = Some(format!("answering the negotiation: {e}"));
                    break;
                }
                Err(_) => {
                    error = Some("answering the negotiation timed out".into());
                    break;
                }
            }
        }
        if received.len() >= MAX_READ_BYTES {
            report.truncated = true;
            break;
        }
        if Instant::now() >= hard_deadline {
            break;
        }
    }
    drop(stream);

    let prompt = escape_prompt(&decoder.text);
    report.prompt_kind = (!prompt.is_empty()).then(|| classify_prompt(&prompt).to_owned());
    report.prompt = (!prompt.is_empty()).then_some(prompt);
    report.negotiation = decoder.negotiation;
    report.telnet_protocol = decoder.saw_command;
    report.bytes_received = received.len();
    report.elapsed_ms = u64::try_from(begun.elapsed().as_millis()).unwrap_or(u64::MAX);
    rec.record(Exchange {
        protocol: "telnet".into(),
        peer: device.authority(port),
        started,
        finished: exchange::now(),
        capture: Capture::Wire,
        label: format!(
            "telnet {port}: banner and prompt, options refused ({})",
            report.prompt_kind.as_deref().unwrap_or("no prompt")
        ),
        sent: (!sent.is_empty()).then(|| Payload::from_bytes(&sent, sent.len(), false)),
        received: (!received.is_empty()).then(|| Payload::from_bytes(&received, received.len(), report.truncated)),
        error,
    });
    Ok(report)
}

/// How the server answered a login attempt ([`login`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginAnswer {
    /// The last line is a command prompt (`#`, `$`, `%` or `>` at its end): logged in.
    Shell,
    /// A failure message (`incorrect`, `denied`, `failed`, `invalid`, `wrong`, `bad
    /// password`), and no new prompt.
    Incorrect,
    /// A new `login:`/`Password:` prompt (login(1) asks again after a failure).
    Login,
    /// Anything else: silence, a close without a message, text we cannot read. Never
    /// counted as a refusal.
    Unknown,
}

impl LoginAnswer {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginAnswer::Shell => "shell",
            LoginAnswer::Incorrect => "incorrect",
            LoginAnswer::Login => "login",
            LoginAnswer::Unknown => "unknown",
        }
    }
}

/// One login attempt as it went.
#[derive(Debug, Clone)]
pub struct TelnetLogin {
    pub answer: LoginAnswer,
    /// Whether the user name and the password were sent (a server that never prompted for
    /// them got nothing).
    pub user_sent: bool,
    pub password_sent: bool,
    /// What the server printed after the password (escaped as [`TelnetReport::prompt`]).
    pub reply: String,
    pub elapsed_ms: u64,
}

/// Words of a failed login, lower case: login(1), BusyBox, dropbear-era and vendor shells.
const FAILURE_WORDS: &[&str] = &["incorrect", "denied", "failed", "invalid", "wrong", "bad password"];

/// How an answer reads, from its text (escaped): see [`LoginAnswer`]. The last line
/// decides first, so a banner mentioning "failed" before a shell prompt is still a shell.
pub fn classify_login_answer(text: &str) -> LoginAnswer {
    let lower = text.to_ascii_lowercase();
    let last = lower
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim();
    let prompt = last.ends_with(':') || last.ends_with('>');
    if prompt && ["login", "user", "password", "passwd"].iter().any(|w| last.contains(w)) {
        return LoginAnswer::Login;
    }
    if ['#', '$', '%', '>'].iter().any(|c| last.ends_with(*c)) {
        return LoginAnswer::Shell;
    }
    if FAILURE_WORDS.iter().any(|w| lower.contains(w)) {
        return LoginAnswer::Incorrect;
    }
    LoginAnswer::Unknown
}

/// One connection's reading state during [`login`].
struct Conversation {
    stream: tokio::net::TcpStream,
    decoder: Decoder,
    received: Vec<u8>,
    sent: Vec<u8>,
    closed: bool,
    hard_deadline: Instant,
}

impl Conversation {
    /// Read (answering negotiation with refusals) until `done` holds for the text printed
    /// since `from`, the server pauses after some text, closes, or a bound is reached.
    async fn read_until(&mut self, from: usize, done: impl Fn(&str) -> bool) {
        let mut chunk = [0u8; 2048];
        let first_deadline = (Instant::now() + FIRST_BYTE_WAIT).min(self.hard_deadline);
        while !self.closed && self.received.len() < MAX_READ_BYTES {
            let fresh_text = self.decoder.text.get(from..).unwrap_or_default();
            if done(&escape_prompt(fresh_text)) {
                return;
            }
            let deadline = if fresh_text.iter().all(u8::is_ascii_whitespace) {
                first_deadline
            } else {
                (Instant::now() + QUIET_GAP).min(self.hard_deadline)
            };
            let room = (MAX_READ_BYTES - self.received.len()).min(chunk.len());
            let n = match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk[..room])).await {
                Err(_) => return,
                Ok(Ok(0)) | Ok(Err(_)) => {
                    self.closed = true;
                    return;
                }
                Ok(Ok(n)) => n,
            };
            self.received.extend_from_slice(&chunk[..n]);
            let reply = self.decoder.feed(&chunk[..n]);
            if !reply.is_empty() && !self.send(&reply).await {
                return;
            }
        }
    }

    /// Send bytes (a line ends CR LF, as RFC 854 asks); false when the server is gone.
    async fn send(&mut self, bytes: &[u8]) -> bool {
        match tokio::time::timeout_at(self.hard_deadline, self.stream.write_all(bytes)).await {
            Ok(Ok(())) => {
                self.sent.extend_from_slice(bytes);
                true
            }
            _ => {
                self.closed = true;
                false
            }
        }
    }
}

/// One bounded login attempt on a fresh connection: refuse every option as [`probe`] does,
/// wait for a login (or password) prompt, answer it with the user name, answer `Password:`
/// with the password, and read what follows until a prompt, a pause, a close or a bound.
/// The answer is classified by [`classify_login_answer`]; anything unreadable is
/// [`LoginAnswer::Unknown`], never a refusal. Records one exchange; a `secret` credential
/// is redacted from it. `Err` only when no connection could be made.
pub async fn login(
    device: &Device,
    port: u16,
    credential: &crate::Credential,
    rec: &Recorder,
) -> Result<TelnetLogin, ProbeError> {
    let typed = |text: &str| text.chars().any(|ch| ch == '\r' || ch == '\n' || ch == '\u{ff}');
    if typed(&credential.username) || typed(&credential.password) {
        return Err(ProbeError::Invalid(
            "a Telnet user name or password cannot hold a line break or 0xFF".into(),
        ));
    }
    let begun = Instant::now();
    let started = exchange::now();
    let (stream, _permit) = device.connect_tcp(port).await?;
    let mut c = Conversation {
        stream,
        decoder: Decoder::default(),
        received: Vec::new(),
        sent: Vec::new(),
        closed: false,
        // Three prompts' worth: the login prompt, the password prompt, the verdict.
        hard_deadline: Instant::now() + device.limits().io_timeout * 3,
    };
    let kind = |text: &str| (!text.is_empty()).then(|| classify_prompt(text));
    c.read_until(0, |t| matches!(kind(t), Some("login" | "password" | "shell")))
        .await;
    let greeting = escape_prompt(&c.decoder.text);
    let mut user_sent = false;
    let mut password_sent = false;
    let mut answer = LoginAnswer::Unknown;
    let mut mark = c.decoder.text.len();
    match kind(&greeting) {
        // A shell before any login: no password is asked at all.
        Some("shell") => answer = LoginAnswer::Shell,
        Some(k @ ("login" | "password")) if !c.closed => {
            if k == "login" {
                user_sent = c.send(format!("{}\r\n", credential.username).as_bytes()).await;
                c.read_until(mark, |t| kind(t) == Some("password")).await;
            }
            let asked = escape_prompt(c.decoder.text.get(mark..).unwrap_or_default());
            if k == "password" || kind(&asked) == Some("password") {
                mark = c.decoder.text.len();
                password_sent = c.send(format!("{}\r\n", credential.password).as_bytes()).await;
                // Only a new login prompt ends the wait early: a failure word or a `#` may
                // be part of a banner still arriving, so those wait for the pause.
                c.read_until(mark, |t| classify_login_answer(t) == LoginAnswer::Login)
                    .await;
                answer = classify_login_answer(&escape_prompt(c.decoder.text.get(mark..).unwrap_or_default()));
            } else {
                // No password prompt: a shell straight after the user name, or a refusal.
                answer = classify_login_answer(&asked);
            }
        }
        _ => {}
    }
    let reply = escape_prompt(c.decoder.text.get(mark..).unwrap_or_default());
    let Conversation {
        stream, received, sent, ..
    } = c;
    drop(stream);
    let mut redactor = crate::Redactor::new();
    if credential.secret {
        redactor.add_secret(&credential.username, &credential.password);
    }
    let sent = redactor.redact_bytes(&sent);
    let received = redactor.redact_bytes(&received);
    rec.record(Exchange {
        protocol: "telnet".into(),
        peer: device.authority(port),
        started,
        finished: exchange::now(),
        capture: Capture::Wire,
        label: redactor.redact_str(&format!(
            "telnet {port}: login as {} ({})",
            credential.username,
            answer.as_str()
        )),
        sent: (!sent.is_empty()).then(|| Payload::from_bytes(&sent, sent.len(), false)),
        received: (!received.is_empty())
            .then(|| Payload::from_bytes(&received, received.len(), received.len() >= MAX_READ_BYTES)),
        error: None,
    });
    Ok(TelnetLogin {
        answer,
        user_sent,
        password_sent,
        reply: redactor.redact_str(&reply),
        elapsed_ms: u64::try_from(begun.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_each_option_once_and_names_them() {
        let mut d = Decoder::default();
        let reply = d.feed(&[IAC, DO, 24, IAC, WILL, 1, IAC, DO, 24, IAC, DONT, 5]);
        assert_eq!(reply, [IAC, WONT, 24, IAC, DONT, 1]);
        assert_eq!(d.negotiation, ["DO TERMINAL-TYPE", "WILL ECHO", "DONT STATUS"]);
        assert!(d.saw_command);
        assert!(d.text.is_empty());
    }

    #[test]
    fn commands_split_across_reads_and_subnegotiation() {
        let mut d = Decoder::default();
        let mut reply = d.feed(&[b'h', IAC]);
        reply.extend(d.feed(&[WILL]));
        reply.extend(d.feed(&[3, IAC, SB, 24, 1, b'x', IAC, SE, b'i', IAC, IAC]));
        assert_eq!(reply, [IAC, DONT, 3]);
        assert_eq!(d.text, [b'h', b'i', IAC]);
    }

    #[test]
    fn prompt_escaping_and_kinds() {
        let p = escape_prompt(b"\r\nLinux 6.1 (cam) (pts/0)\r\n\r\ncam login: ");
        assert_eq!(p, "Linux 6.1 (cam) (pts/0)\n\ncam login:");
        assert_eq!(classify_prompt(&p), "login");
        assert_eq!(escape_prompt(b"a\x1b[0m\\b\r\0c\xff"), "a\\x1b[0m\\x5cb\nc\\xff");
        assert_eq!(classify_prompt("Password:"), "password");
        assert_eq!(classify_prompt("BusyBox v1.20\n~ #"), "shell");
        assert_eq!(classify_prompt("Username>"), "login");
        assert_eq!(classify_prompt("Welcome"), "other");
        assert!(escape_prompt(&[0x01; 5000]).len() <= MAX_PROMPT_CHARS);
    }

    #[test]
    fn login_answers() {
        assert_eq!(
            classify_login_answer("Login incorrect\n\ncam login:"),
            LoginAnswer::Login
        );
        assert_eq!(classify_login_answer("Login incorrect"), LoginAnswer::Incorrect);
        assert_eq!(classify_login_answer("Access denied"), LoginAnswer::Incorrect);
        assert_eq!(classify_login_answer("Password:"), LoginAnswer::Login);
        assert_eq!(
            classify_login_answer("2 failed logins since last time\nBusyBox v1.20\n~ #"),
            LoginAnswer::Shell
        );
        assert_eq!(classify_login_answer("[root@cam ~]$"), LoginAnswer::Shell);
        assert_eq!(classify_login_answer(""), LoginAnswer::Unknown);
        assert_eq!(classify_login_answer("Welcome"), LoginAnswer::Unknown);
    }

    #[test]
    fn option_names() {
        assert_eq!(option_name(39), "NEW-ENVIRON");
        assert_eq!(option_name(200), "200");
    }
}
