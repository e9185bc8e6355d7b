//! RTSP probe: which authentication a camera's stream server demands and which stream paths
//! it serves, with and without credentials (what cameradar and nmap's rtsp-* scripts find).
//!
//! Messages are serialised and parsed with `rtsp-types`; the transport, CSeq, framing bounds
//! and authentication are ours. `rtsp-types` is strict (CRLF only, UTF-8 header values, a
//! reason phrase after the status), and cameras are not: a response it refuses is read by a
//! lenient fallback and counted as non-conforming rather than lost.
//!
//! Route discovery follows cameradar: a random path first (a server that answers 200 to it
//! accepts any path, so found routes prove nothing), then each candidate path with an
//! anonymous DESCRIBE: 200 found and open, 401 exists but needs authentication, 404 absent.
//! Many cameras check credentials before the path, answering 401 for everything, so with
//! credentials every 401 is asked again authenticated and a 404 then means absent.
//!
//! `wire` frames and parses messages, `client` holds the connection and sends (and records)
//! requests, `discovery` is the probe itself.

mod client;
mod discovery;
mod wire;

pub use client::{DescribeAttempt, RequestTarget, RtspAuth, RtspClient, describe_as, request_url};
pub use discovery::{PathError, Route, RtspProbeRequest, RtspReport, probe, random_path};
pub use wire::{MAX_BODY_BYTES, MAX_HEADER_BYTES, RtspResponse};

/// RTSP methods, re-exported so callers need no `rtsp-types` dependency of their own.
pub use rtsp_types::Method;

pub const DEFAULT_PORT: u16 = 554;
pub const USER_AGENT: &str = concat!("hopquy/", env!("CARGO_PKG_VERSION"));
