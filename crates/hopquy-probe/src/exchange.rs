//! Recorded exchanges: what went over the wire (or, for HTTP, the exact messages hyper
//! serialised), with timestamps. Secrets are redacted when an exchange is recorded, so an
//! unredacted secret never leaves the probe.

use std::sync::{Arc, Mutex};

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How faithfully `sent`/`received` reproduce the bytes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capture {
    /// Exact bytes read from / written to the socket (after TLS decryption where a TLS
    /// client of ours terminated it).
    Wire,
    /// HTTP via reqwest/hyper: request line, every header we sent (hyper adds none we do not
    /// set, except framing), body bytes exact; header-name case as hyper writes it.
    HttpMessage,
    /// SSH messages inside the encrypted transport (user authentication), rendered as text
    /// from what the SSH library sent and received; not the packet bytes.
    SshMessage,
}

/// Bytes as recorded: UTF-8 text when valid, base64 otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Payload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    /// Length of what was actually transferred (may exceed what was kept).
    pub len: usize,
    /// True when the probe stopped reading at its size bound.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl Payload {
    pub fn from_bytes(bytes: &[u8], transferred: usize, truncated: bool) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(s) => Payload {
                text: Some(s.to_owned()),
                base64: None,
                len: transferred,
                truncated,
            },
            Err(_) => Payload {
                text: None,
                base64: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                len: transferred,
                truncated,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// `http`, `https`, `rtsp`, `ssh`, `tls`, `tcp`, `telnet`, `onvif`.
    pub protocol: String,
    /// `host:port` actually contacted.
    pub peer: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub capture: Capture,
    /// One-line description for humans, e.g. `GET /ISAPI/System/deviceInfo (digest, wrong password)`.
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<Payload>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<Payload>,
    /// Transport-level failure (refused, timeout, reset, TLS alert, size bound hit…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Replaces secrets in recorded bytes. Built from the target's credentials; the public
/// default-credential dictionary is deliberately *not* secret (which pair was accepted is
/// the evidence).
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    needles: Vec<Vec<u8>>,
}

pub const REDACTED: &str = "[REDACTED]";

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Register a secret together with the encodings it travels in (Basic auth base64,
    /// URL-encoding) for `username`.
    pub fn add_secret(&mut self, username: &str, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut forms: Vec<String> = vec![
            secret.to_owned(),
            b64.encode(format!("{username}:{secret}")),
            b64.encode(secret),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        ];
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        forms.dedup();
        for f in forms {
            if !self.needles.iter().any(|n| n == f.as_bytes()) {
                self.needles.push(f.into_bytes());
            }
        }
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    pub fn redact_bytes(&self, input: &[u8]) -> Vec<u8> {
        if self.needles.is_empty() {
            return input.to_vec();
        }
        let mut out = Vec::with_capacity(input.len());
        let mut i = 0;
        'outer: while i < input.len() {
            for n in &self.needles {
                if !n.is_empty() && input[i..].starts_with(n) {
                    out.extend_from_slice(REDACTED.as_bytes());
                    i += n.len();
                    continue 'outer;
                }
            }
            out.push(input[i]);
            i += 1;
        }
        out
    }

    pub fn redact_str(&self, input: &str) -> String {
        String::from_utf8_lossy(&self.redact_bytes(input.as_bytes())).into_owned()
    }
}

/// Collects the exchanges of one step. Cloneable handle; probes push into it as they go so
/// that a step that times out half-way still leaves its partial exchanges behind.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    inner: Arc<Mutex<Vec<Exchange>>>,
    redactor: Arc<Redactor>,
}

impl Recorder {
    pub fn new(redactor: Arc<Redactor>) -> Self {
        Recorder {
            inner: Arc::default(),
            redactor,
        }
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Record an exchange: payloads, label and error text are redacted here.
    pub fn record(&self, mut ex: Exchange) {
        let r = &self.redactor;
        if !r.is_empty() {
            ex.label = r.redact_str(&ex.label);
            ex.error = ex.error.map(|e| r.redact_str(&e));
            for p in [&mut ex.sent, &mut ex.received].into_iter().flatten() {
                if let Some(t) = &p.text {
                    p.text = Some(r.redact_str(t));
                }
                if let Some(b) = &p.base64 {
                    let engine = base64::engine::general_purpose::STANDARD;
                    if let Ok(raw) = engine.decode(b) {
                        p.base64 = Some(engine.encode(r.redact_bytes(&raw)));
                    }
                }
            }
        }
        if let Ok(mut v) = self.inner.lock() {
            v.push(ex);
        }
    }

    /// Take everything recorded so far.
    pub fn drain(&self) -> Vec<Exchange> {
        match self.inner.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(_) => Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|v| v.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub fn now() -> DateTime<Utc> {
    Utc::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secret_and_basic_form() {
        let mut r = Redactor::new();
        r.add_secret("admin", "S3cret!x");
        let b = base64::engine::general_purpose::STANDARD.encode("admin:S3cret!x");
        let text = format!("pw=S3cret!x auth=Basic {b}");
        let out = r.redact_str(&text);
        assert!(!out.contains("S3cret!x"), "{out}");
        assert!(!out.contains(&b), "{out}");
        assert_eq!(out.matches(REDACTED).count(), 2, "{out}");
    }

    #[test]
    fn recorder_redacts_binary_payloads() {
        let mut r = Redactor::new();
        r.add_secret("u", "hunter22");
        let rec = Recorder::new(Arc::new(r));
        let mut bytes = vec![0xff, 0xfe];
        bytes.extend_from_slice(b"hunter22");
        rec.record(Exchange {
            protocol: "tcp".into(),
            peer: "127.0.0.1:1".into(),
            started: now(),
            finished: now(),
            capture: Capture::Wire,
            label: "x".into(),
            sent: Some(Payload::from_bytes(&bytes, bytes.len(), false)),
            received: None,
            error: None,
        });
        let ex = rec.drain();
        let b64 = ex[0].sent.as_ref().and_then(|p| p.base64.clone()).unwrap_or_default();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_default();
        assert!(!raw.windows(8).any(|w| w == b"hunter22"));
    }
}
