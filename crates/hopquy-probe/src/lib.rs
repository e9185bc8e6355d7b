//! Protocol probes. A probe performs protocol actions against the device under test and
//! returns *observations* (plain facts as JSON-able structs) plus the recorded exchanges.
//!
//! Architecture invariants:
//! - Probes know nothing of clauses, cases or verdicts. A rejected login, a refused port,
//!   a legacy cipher are observations, not errors. `ProbeError` means the probe could not
//!   observe (transport failure, timeout, size bound).
//! - Probes only contact the host of their [`Device`]; they take ports and paths, never URLs,
//!   and do not follow redirects.
//! - Every read is bounded in size and time; device bytes never cause a panic.
//! - Secrets are redacted when an exchange is recorded ([`Recorder::record`]).

pub mod auth;
pub mod device;
pub mod exchange;
pub mod http;
pub mod onvif;
pub mod rtsp;
pub mod ssh;
pub mod tcp;
pub mod telnet;
pub mod tls;

pub use device::{Device, Limits, Permit};
pub use exchange::{Capture, Exchange, Payload, Recorder, Redactor};

/// Why a probe could not make its observation.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ProbeError {
    #[error("connection refused by {0}")]
    Refused(String),
    #[error("host unreachable: {0}")]
    Unreachable(String),
    #[error("timed out {0}")]
    Timeout(String),
    #[error("connection closed by the device {0}")]
    Closed(String),
    #[error("device answer exceeded the size bound: {0}")]
    TooLarge(String),
    #[error("device answered something unparseable: {0}")]
    Protocol(String),
    #[error("TLS failure: {0}")]
    Tls(String),
    /// The device presented another TLS certificate than the one pinned at the first
    /// handshake of the run: someone may be in the middle.
    #[error("the TLS certificate changed during the run: {0}")]
    CertificateChanged(String),
    #[error("invalid probe request: {0}")]
    Invalid(String),
    /// This machine, not the device, failed (a thread, the poller, file descriptors).
    #[error("local failure: {0}")]
    Local(String),
}

impl ProbeError {
    /// Transport failures that mean the host (or port) could not be reached at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ProbeError::Refused(_) | ProbeError::Unreachable(_))
    }
}

/// A username/password pair. `secret` marks the target's real credentials, whose password
/// (and derived digests) must never be recorded; dictionary pairs are public and recorded.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
    pub secret: bool,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pw = if self.secret {
            exchange::REDACTED
        } else {
            self.password.as_str()
        };
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("password", &pw)
            .finish()
    }
}
