//! What each step action observes: one struct per action.
//!
//! These structs are the contract between the runner (which fills them), case authors (whose
//! `[[steps.expect]]` read them by name), the validator (which rejects a `that` naming no field)
//! and the reference docs and JSON Schemas (`cargo xtask codegen` renders both from them). A
//! field's doc comment is its user documentation: keep it one precise sentence or two.
//!
//! Every field is optional: an action reports what the path it took could observe (a closed
//! port has no banner). A field typed `Option<T>` inside is reported as `null` when the action
//! looked and found nothing, which an expectation can tell apart from "not reported".

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use std::collections::BTreeMap;

/// One observation an action produces; `that = "NAME"` or `"NAME.sub.path"` reads it.
/// Made by the `observations!` declarations in [`crate::observations`], never by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObservationSpec {
    pub name: &'static str,
    /// The field's doc comment, lines joined as written (`///` leaves a leading space).
    pub doc: &'static str,
}

impl ObservationSpec {
    pub fn description(&self) -> &'static str {
        self.doc.trim()
    }
}

/// Keeps "present but null" apart from "absent" when a step's observations are read back
/// (the schema test round-trips them): a present key is `Some`, whatever its value.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// An action's observation struct: its fields' names and docs (in declaration order, for the
/// reference), and its JSON Schema.
pub trait Observations: Serialize + JsonSchema {
    const SPECS: &'static [ObservationSpec];

    /// The JSON Schema of what the action emits: each field absent or of its declared type
    /// (the derived schema would also allow `null` for every field, because of the `Option`
    /// that makes it omissible).
    fn schema() -> schemars::Schema;

    /// The observations as the evidence stores them.
    fn into_value(self) -> Value
    where
        Self: Sized,
    {
        // A struct of plain data with string keys always serializes.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Replaces each property of `root` by the schema of the field's declared type, keeping the
/// property's description.
fn exact_fields<const N: usize>(mut root: schemars::Schema, fields: [(&str, schemars::Schema); N]) -> schemars::Schema {
    if let Some(properties) = root.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, exact) in fields {
            let description = properties.get(name).and_then(|p| p.get("description")).cloned();
            let mut exact = exact.to_value();
            if let (Some(description), Some(object)) = (description, exact.as_object_mut()) {
                object.insert("description".into(), description);
            }
            properties.insert(name.into(), exact);
        }
    }
    root
}

/// Declares an observation struct: every field becomes `Option<…>` skipped when `None`, and
/// the doc comments become both the schema descriptions and [`Observations::SPECS`].
macro_rules! observations {
    (
        $(#[doc = $struct_doc:literal])*
        pub struct $name:ident {
            $( $(#[doc = $doc:literal])+ pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[doc = $struct_doc])*
        #[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $(
                $(#[doc = $doc])+
                #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
                pub $field: Option<$ty>,
            )*
        }

        impl Observations for $name {
            const SPECS: &'static [ObservationSpec] = &[
                $( ObservationSpec { name: stringify!($field), doc: concat!($($doc),+) }, )*
            ];

            fn schema() -> schemars::Schema {
                let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
                let fields = [$( (stringify!($field), generator.subschema_for::<$ty>()), )*];
                exact_fields(generator.root_schema_for::<Self>(), fields)
            }
        }
    };
}

observations! {
    /// What `http` observes.
    pub struct HttpObservations {
        /// HTTP status code of the (last) response, integer.
        pub status: u16,
        /// HTTP version of the response (`HTTP/1.1`).
        pub version: String,
        /// Response headers: lower-cased name → value (repeated headers joined with `, `).
        pub headers: BTreeMap<String, String>,
        /// Response body as text, cut at the observation limit (see `body_truncated`).
        pub body: String,
        /// Length of the response body in bytes, as received.
        pub body_len: u64,
        /// True when `body` shows only the start of the response body.
        pub body_truncated: bool,
        /// Hex SHA-256 of the response body as received.
        pub body_sha256: String,
        /// `accepted`, `rejected`, `locked` or `unknown`, from the op's classifiers (`unknown` when
        /// none matches or there is no op).
        pub outcome: String,
        /// Authentication challenges offered: list of `{scheme, algorithm, realm}` from
        /// `WWW-Authenticate`.
        pub challenges: Vec<Value>,
        /// The offered challenges as short labels (`basic`, `digest-md5`, `digest-sha256`…).
        pub challenge_schemes: Vec<String>,
        /// Where the request went and why: `{scheme, port, reason, certificate_sha256}` — the
        /// discovered web surface (see `web-surface`), or the port the step names.
        pub web_surface: WebSurfaceUsed,
        /// Scheme the harness actually sent (`basic`, `digest`), or null when no credential was sent.
        pub auth_used: Option<String>,
        /// The credential sent: `anonymous`, `user:password` for public ones, `user:[REDACTED]` for
        /// the target's.
        pub credential: String,
        /// Milliseconds from sending the request to the end of the response.
        pub elapsed_ms: u64,
        /// Over HTTPS, hex SHA-256 of the server's leaf certificate (DER); null over HTTP.
        pub peer_cert_sha256: Option<String>,
        /// With `repeat` > 1: per-attempt objects `{status, outcome}`, in order.
        pub attempts: Vec<HttpAttempt>,
        /// With `repeat` > 1: number of attempts classified `accepted`.
        pub accepted: u64,
        /// With `repeat` > 1: number of attempts classified `rejected`.
        pub rejected: u64,
        /// With `repeat` > 1: number of attempts classified `locked`.
        pub locked: u64,
        /// With `repeat` > 1: number of attempts no classifier matched.
        pub unknown: u64,
    }
}

observations! {
    /// What `login` observes.
    pub struct LoginObservations {
        /// Number of login attempts made.
        pub attempts: u64,
        /// Number of attempts classified `accepted`.
        pub accepted: u64,
        /// Number of attempts classified `rejected`.
        pub rejected: u64,
        /// Number of attempts classified `locked`.
        pub locked: u64,
        /// Number of attempts no classifier matched.
        pub unknown: u64,
        /// Accepted credentials as `user:password` for public dictionary entries, `user:[REDACTED]`
        /// for the target's own.
        pub accepted_credentials: Vec<String>,
        /// Per-attempt outcome, in order: list of `accepted`/`rejected`/`locked`/`unknown`.
        pub outcomes: Vec<String>,
        /// Per-attempt status, in order: the HTTP or RTSP status code; for Telnet the answer's kind
        /// (`shell`, `incorrect`, `login`, `unknown`); for SSH `success`, `partial-success`,
        /// `failure` or `no-answer`.
        pub statuses: Vec<Value>,
        /// Number of distinct responses (status + body, digits masked so nonces and clocks do not
        /// count): more than one among failures means the error reveals something.
        pub distinct_bodies: u64,
        /// Per-attempt hex SHA-256 of (status, body with digits masked), in order.
        pub body_fingerprints: Vec<String>,
        /// 1-based number of the first attempt classified `locked`, or null.
        pub first_locked_attempt: Option<u64>,
        /// With `options.reset_below`: control logins made with the target's credentials to reset the
        /// failure counter.
        pub resets: u64,
        /// True when a `reset_below` control login was refused (the device locked) and the step
        /// stopped early.
        pub aborted: bool,
        /// True when the step stopped at an accepted credential with attempts left
        /// (`stop_on_accept`); `not_tried` says how many.
        pub stopped_at_accept: bool,
        /// Attempts of the plan that were not made (stopped at an accepted credential or aborted).
        pub not_tried: u64,
        /// With `options.window_s`: milliseconds spent waiting so other user names stay below the
        /// threshold per window (the `settle` wait included).
        pub paced_ms: u64,
        /// With pacing options: the pacing used and why, `{source, surface, reason, reset_below,
        /// window_s, control_login, settle, settle_ms}` plus `measured` (the lock a `measures =
        /// "lockout"` case found on this surface, `{locks, after_failures, lasted_ms, case}`) when
        /// `source` is `measured`; `declared` when nothing was measured on the surface in this run;
        /// `{source = "factory-default", surface, reason, threshold, max_attempts, interval_ms}`
        /// for the factory defaults. Null without pacing options.
        pub pacing: Option<Pacing>,
        /// Milliseconds the whole step took.
        pub duration_ms: u64,
        /// Per-attempt objects `{n, credential, status, outcome, elapsed_ms, t_ms}`.
        pub detail: Vec<AttemptDetail>,
        /// The surface logged in on: `http`, `rtsp`, `onvif`, `telnet` or `ssh`.
        pub surface: String,
        /// `http`: the web surface the attempts went to, `{scheme, port, reason, certificate_sha256}`
        /// (see `web-surface`).
        pub web_surface: WebSurfaceUsed,
        /// `rtsp`, `onvif`, `telnet`, `ssh`: false when the service could not be reached (then
        /// nothing was tried); always true over `http`.
        pub reachable: bool,
        /// `rtsp`: the stream path the attempts DESCRIBE (the first candidate refused without
        /// credentials); `onvif`: the operation called; `ssh`: the method the passwords go out with
        /// (`password` when offered, else `keyboard-interactive`, else `password`). Null when none
        /// demands authentication, or (`ssh`) no session could be set up (then nothing was tried).
        pub route: Option<String>,
        /// `rtsp`: paths served without credentials; `onvif`: candidate operations answered without
        /// credentials; `ssh`: `["none"]` when the server let the target's user in without any
        /// credential. A route that needs no password cannot test one.
        pub anonymous_allowed: Vec<String>,
        /// `rtsp`, `onvif`: schemes the credentials went out with (`digest-md5`, `digest-sha256`,
        /// `basic`, `usernametoken`), in order first used.
        pub auth_used: Vec<String>,
        /// `rtsp`, `onvif`, `telnet`, `ssh`: the TCP port logged in on.
        pub port: u16,
        /// `ssh`: the server's identification line.
        pub banner: Option<String>,
        /// `ssh`: methods the server lists for the target's user (null when no session could be set
        /// up).
        pub auth_methods: Option<Vec<String>>,
        /// `ssh`: the listed methods that take a password (`password`, `keyboard-interactive`); `[]`
        /// when none is.
        pub password_methods_offered: Option<Vec<String>>,
        /// `onvif`: `digest` or `usernametoken`, as the step asked.
        pub auth_mode: String,
        /// `telnet`: what the service printed before any login (escaped as for the `telnet` action).
        pub prompt: Option<String>,
        /// `rtsp`, `onvif`, `telnet`, `ssh`: why the service could not be reached (with `reachable =
        /// false`), or (`ssh`) why no session could be set up.
        pub error: String,
    }
}

observations! {
    /// What `recover` observes.
    pub struct RecoverObservations {
        /// True when the target's credentials were accepted again before the deadline.
        pub recovered: bool,
        /// Number of login attempts made.
        pub polls: u64,
        /// Milliseconds spent polling.
        pub waited_ms: u64,
        /// Status of the last poll (HTTP or RTSP code, Telnet answer kind, SSH
        /// `success`/`failure`/`no-answer`), or the transport error text.
        pub last_status: Value,
        /// The surface polled: `http`, `rtsp`, `onvif`, `telnet` or `ssh`.
        pub surface: String,
        /// `rtsp`, `onvif`, `telnet`, `ssh`: false when the service could not be reached (then
        /// nothing was polled).
        pub reachable: bool,
        /// `rtsp`: the stream path polled; `onvif`: the operation called; `ssh`: the password method;
        /// null when none demands authentication.
        pub route: Option<String>,
        /// `http`: the web surface polled, `{scheme, port, reason, certificate_sha256}` (see
        /// `web-surface`).
        pub web_surface: WebSurfaceUsed,
        /// `rtsp`, `onvif`, `ssh`: what answered without credentials while finding the route (as for
        /// `login`).
        pub anonymous_allowed: Vec<String>,
        /// `rtsp`, `onvif`, `telnet`, `ssh`: the TCP port polled.
        pub port: u16,
        /// `ssh`: the server's identification line.
        pub banner: Option<String>,
        /// `ssh`: methods the server lists for the target's user.
        pub auth_methods: Option<Vec<String>>,
        /// `ssh`: the listed methods that take a password.
        pub password_methods_offered: Option<Vec<String>>,
        /// `onvif`: `digest` or `usernametoken`, as the step asked.
        pub auth_mode: String,
        /// Why the surface could not be reached or no session could be set up (with `reachable = false`).
        pub error: String,
    }
}

observations! {
    /// What `wait` observes.
    pub struct WaitObservations {
        /// Seconds waited.
        pub waited_s: f64,
    }
}

observations! {
    /// What `ports` observes.
    pub struct PortsObservations {
        /// Open ports, sorted: list of `{port, service, banner, probe}` (service, banner and probe
        /// may be null; `probe` names what we sent a silent port, `rtsp-options`, `http-head` or
        /// `tls-client-hello`, when its answer is the banner).
        pub open: Vec<Value>,
        /// Open port numbers, sorted.
        pub open_ports: Vec<u16>,
        /// Open ports not in the target's `declared.open_tcp_ports`.
        pub undeclared: Option<Vec<u16>>,
        /// Ports in `declared.open_tcp_ports` found closed.
        pub declared_closed: Option<Vec<u16>>,
        /// Whether the target declares `open_tcp_ports` at all (else `undeclared` is null).
        pub declared_given: bool,
        /// Open ports from the profile's `risky_ports` (debug consoles, vendor back doors).
        pub risky_open: Vec<u16>,
        /// How many ports the sweep tried.
        pub ports_tried: u64,
        /// Ports the target file's `exclude_ports` says are not the device's; not swept.
        pub excluded_ports: Vec<u16>,
        /// `full` (every port), `profile` (every port was asked for but the target file's `port_sweep
        /// = "profile"` narrowed it to the declared, profile and common camera ports) or `list` (the
        /// step named its ports).
        pub sweep_scope: String,
        /// Ports that refused the connection.
        pub closed_count: u64,
        /// Ports that did not answer within the connect timeout.
        pub filtered_count: u64,
        /// Smoothed connect round trip of the sweep in microseconds (null when no port answered).
        pub rtt_us: Option<u64>,
        /// Connect timeout of the sweep's first pass, adapted to the round trip (at least 100 ms, at
        /// most the full timeout).
        pub connect_timeout_ms: u64,
        /// Ports the first pass timed out and the retry pass tried again.
        pub retried_count: u64,
        /// Connect timeout of the retry pass: the full one, or the adaptive one when the device
        /// dropped SYNs to more than two full waves of ports (null when nothing was retried).
        pub retry_timeout_ms: Option<u64>,
        /// Ports found open only by the retry pass (slow to accept).
        pub open_on_retry_count: u64,
        /// Ports whose connect failed locally (not refused, not timed out).
        pub failed_count: u64,
        /// Milliseconds the sweep and its banner grabs took.
        pub elapsed_ms: u64,
    }
}

observations! {
    /// What `tls` observes.
    pub struct TlsObservations {
        /// One entry per version tried: `{version, accepted, cipher_suites, weak_cipher_suites}`
        /// (IANA suite names), plus `refused_with` or `error` when not accepted.
        pub versions: Vec<Value>,
        /// Leaf certificate: `sha256`, `self_signed`, `key_type`, `key_bits`, `signature_algorithm`,
        /// `not_before`, `not_after`, `subject_alt_names`; null when none was obtained.
        pub certificate: Option<Value>,
        /// Names of the versions the server accepted (`TLSv1.2`, `TLSv1.3`…).
        pub accepted_versions: Vec<String>,
        /// Accepted cipher suites considered weak (NULL, EXPORT, RC4, DES/3DES/IDEA, anonymous, MD5
        /// MAC; CBC with SHA-1 MAC in TLS 1.1 or older).
        pub weak_suites: Vec<String>,
        /// False when the port refused the connection (then the only observation); true otherwise.
        pub reachable: bool,
        /// Versions whose hellos got no TLS answer (timeout, garbage): neither accepted nor refused.
        pub undetermined_versions: Vec<String>,
        /// Why `certificate` is null (no handshake succeeded, anonymous suite only…), else null.
        pub certificate_error: Option<String>,
        /// What a modern TLS 1.2/1.3 client (rustls) negotiated: `{version, cipher_suite}`, or null.
        pub negotiated: Option<Value>,
        /// TCP connections the audit opened.
        pub connections: u64,
    }
}

observations! {
    /// What `ssh` observes.
    pub struct SshObservations {
        /// The server's identification line (`SSH-2.0-…`).
        pub banner: String,
        /// Key-exchange algorithms, in the server's order.
        pub kex: Vec<String>,
        /// Host-key algorithms, in the server's order.
        pub host_key: Vec<String>,
        /// Ciphers (server-to-client), in the server's order.
        pub ciphers: Vec<String>,
        /// MACs (server-to-client), in the server's order.
        pub macs: Vec<String>,
        /// Compression methods (server-to-client).
        pub compression: Vec<String>,
        /// Authentication methods the server offers (`publickey`, `password`…).
        pub auth_methods: Option<Vec<String>>,
        /// The offered methods that take a password: `password`, `keyboard-interactive`, or `[]` when
        /// none is (then SSH logins still try `password`, and its refusal shows no password login
        /// exists); null without a session.
        pub password_methods_offered: Option<Vec<String>>,
        /// Offered algorithms considered weak (e.g. `diffie-hellman-group1-sha1`, `ssh-dss`, CBC
        /// ciphers, `hmac-md5`).
        pub weak: Vec<String>,
        /// False when the port refused the connection (then no other observation is present), else
        /// true.
        pub reachable: bool,
        /// Ciphers client-to-server, in the server's order; present only when they differ from
        /// `ciphers`.
        pub ciphers_c2s: Vec<String>,
        /// MACs client-to-server, in the server's order; present only when they differ from `macs`.
        pub macs_c2s: Vec<String>,
        /// Compression client-to-server; present only when it differs from `compression`.
        pub compression_c2s: Vec<String>,
        /// The weak algorithms with why: list of `{algorithm, kind, reason}` (`kind`: `kex`,
        /// `host_key`, `cipher`, `mac`).
        pub weak_detail: Value,
        /// True when the offer includes OpenSSH strict key exchange (`kex-strict-s-v00@openssh.com`,
        /// the Terrapin fix).
        pub strict_kex: bool,
        /// True when ChaCha20-Poly1305, or a CBC cipher with an `-etm` MAC, is offered without strict
        /// key exchange (CVE-2023-48795).
        pub terrapin_vulnerable: bool,
        /// SHA-256 fingerprint of the host key the audit session received (`SHA256:…`); null without
        /// a session.
        pub host_key_fingerprint: Option<String>,
        /// What the audit session agreed on: `{kex, host_key, cipher, mac}`; null without a session.
        pub negotiated: Option<Value>,
        /// True when the server let the `none` method in: a login without any credential.
        pub none_accepted: bool,
        /// Lines the server sent before its identification line; present only when there were some.
        pub pre_banner: Vec<String>,
        /// Why the audit session (methods) could not be set up, e.g. no algorithm in common; absent
        /// when it worked.
        pub session_error: Option<String>,
    }
}

observations! {
    /// What `rtsp` observes.
    pub struct RtspObservations {
        /// False when the port refused the connection (then only `error` is set).
        pub reachable: bool,
        /// Schemes demanded: list of `none` (something was served anonymously), `basic`,
        /// `digest-md5`, `digest-sha256`…, in the order first seen.
        pub auth: Vec<String>,
        /// Paths that exist: `{path, status, authenticated_status}` for each answered 2xx, or 401/403
        /// even with the credential.
        pub routes: Vec<Value>,
        /// Paths served without authentication (2xx to an anonymous DESCRIBE).
        pub open_routes: Vec<String>,
        /// True when a 401 challenged with Basic (a client would send the password readable).
        pub basic_offered: bool,
        /// True when the credential sent with Basic passed authentication, false when refused; null
        /// when not tried (Basic not offered, no credential).
        pub basic_accepted: Option<bool>,
        /// True when a random, non-existent path was answered 2xx (so `routes` proves nothing).
        pub accepts_any_path: bool,
        /// The random path asked first: `{path, status, authenticated_status}` (401 then 404 marks a
        /// camera that checks credentials before paths).
        pub random_path: Option<Value>,
        /// The `Server` header, escaped; null when none was sent.
        pub server: Option<String>,
        /// Methods listed in the OPTIONS response's `Public` header, in order.
        pub public: Vec<String>,
        /// Status of the anonymous OPTIONS request, or null when it failed.
        pub options_status: Option<u16>,
        /// The distinct challenges seen: `{label, scheme, realm, algorithm, qop, stale, params}`.
        pub challenges: Vec<Value>,
        /// Number of distinct candidate paths asked.
        pub paths_tried: u64,
        /// Requests that failed (timeout, closed, garbage): `{path, error}`, `*` for OPTIONS.
        pub errors: Vec<Value>,
        /// Responses only the lenient reader could parse (bare LF, no reason phrase, non-UTF-8
        /// headers).
        pub nonconforming_responses: u64,
        /// The credential used: `anonymous`, `user:password` for public ones, `user:[REDACTED]` for
        /// the target's.
        pub credential: String,
        /// The TCP port probed.
        pub port: u16,
        /// Milliseconds the whole probe took.
        pub elapsed_ms: u64,
        /// Why the port could not be reached (only with `reachable = false`).
        pub error: String,
    }
}

observations! {
    /// What `telnet` observes.
    pub struct TelnetObservations {
        /// True when the port accepted a connection (false when refused, filtered or unreachable).
        pub open: bool,
        /// Text the service printed (negotiation removed), line ends as newlines, other non-printable
        /// bytes and `\` as `\xNN`, trimmed, at most 1024 characters; null when none.
        pub prompt: Option<String>,
        /// What the last line asks for: `login`, `password`, `shell` (a command prompt with no
        /// login), `other`; null without a prompt.
        pub prompt_kind: Option<String>,
        /// Option commands the server sent, in order without repeats (`DO TERMINAL-TYPE`, `WILL
        /// ECHO`…).
        pub negotiation: Vec<Value>,
        /// True when the server sent Telnet IAC commands (a real telnetd, not a raw console).
        pub telnet_protocol: bool,
        /// True when the server closed the connection by itself.
        pub closed_by_server: bool,
        /// True when reading stopped at the 16 KiB bound (an endless banner).
        pub truncated: bool,
        /// Raw bytes received, negotiation included.
        pub bytes_received: u64,
        /// The TCP port probed.
        pub port: u16,
        /// Milliseconds the probe took.
        pub elapsed_ms: u64,
        /// Why the port could not be reached (only with `open = false`).
        pub error: String,
    }
}

observations! {
    /// What `onvif` observes.
    pub struct OnvifObservations {
        /// HTTP status code of the response.
        pub status: u16,
        /// SOAP fault subcode (`ter:NotAuthorized`…), or null when the call succeeded.
        pub fault: Option<String>,
        /// True when the operation returned data without credentials; with `op = "sweep"`, the list
        /// of operations that did.
        pub anonymous_allowed: Value,
        /// The operation's ONVIF access class (`PRE_AUTH`, `READ_SYSTEM`, `READ_SYSTEM_SECRET`,
        /// `WRITE_SYSTEM`, `UNRECOVERABLE`…).
        pub access_class: Option<String>,
        /// `answered`, `refused` (401/403 or `NotAuthorized`), `fault`, `not_soap` or `http_error`.
        pub outcome: String,
        /// True when the device returned a non-fault SOAP answer (HTTP 200).
        pub answered: bool,
        /// SOAP fault code (`env:Sender`, `env:Receiver`), or null.
        pub fault_code: Option<String>,
        /// SOAP fault reason text (bounded), or null.
        pub fault_reason: Option<String>,
        /// What the device demanded: challenge labels (`digest-sha256`, `digest-md5`, `basic`),
        /// `usernametoken` for a `NotAuthorized` fault, `none` when it answered anonymously.
        pub auth: Vec<String>,
        /// Scheme whose credentials were sent (`digest-md5`, `digest-sha256`, `usernametoken`), or
        /// null.
        pub auth_used: Option<String>,
        /// The credential sent: `anonymous`, `user:password` for public ones, `user:[REDACTED]` for
        /// the target's.
        pub credential: String,
        /// GetDeviceInformation fields (`Manufacturer`, `Model`, `FirmwareVersion`, `SerialNumber`,
        /// `HardwareId`) when it answered, else null.
        pub device_information: Value,
        /// Sweep: non-PRE_AUTH operations answered anonymously (each breaks the ONVIF default access
        /// policy).
        pub violations: Value,
        /// Sweep: per-operation objects `{operation, access_class, status, outcome, fault,
        /// anonymous_allowed, error}`.
        pub operations: Vec<Value>,
        /// Sweep: PRE_AUTH operations refused anonymously (clients cannot read the clock before
        /// authenticating).
        pub pre_auth_refused: Value,
        /// Sweep: how protected operations refused anonymous calls: `http-401`,
        /// `soap-not-authorized`, `mixed`, or null.
        pub anonymous_refusal: Value,
        /// Sweep: every refusal was 401 with a Digest challenge or 400 with `ter:NotAuthorized`, as
        /// ONVIF Core requires.
        pub refusals_conformant: Value,
        /// Sweep: the device clock from GetSystemDateAndTime, `{utc, skew_s}`, or null.
        pub device_time: Value,
        /// Sweep with credentials: the GetDeviceInformation call made with them (same fields as a
        /// single call).
        pub authenticated: Value,
        /// With `options.token_checks`: outcomes of a valid, a replayed, a stale and a nonce-less
        /// UsernameToken, and `findings` (weak tokens accepted).
        pub token_checks: Value,
        /// Sweep: protected operations that reached their handler anonymously and faulted on
        /// something other than authorisation.
        pub anonymous_faults: Value,
        /// Sweep: how many calls failed in transport.
        pub errors: Value,
        /// Sweep: why it stopped early after repeated transport failures; null when it ran to the
        /// end.
        pub aborted: Value,
        /// Call: `digest` or `usernametoken`, how the credentials went out.
        pub auth_mode: String,
        /// Labels of the challenges of a 401 (`digest-sha256`, `digest-md5`, `basic`…).
        pub challenges: Vec<String>,
        /// The operation called (single-call steps).
        pub operation: String,
        /// SOAP fault subcodes, in order (empty without a fault).
        pub fault_subcodes: Vec<String>,
        /// Local name of the response element, or null without a SOAP response.
        pub response: Option<String>,
        /// SOAP envelope version of the answer (`1.1`, `1.2`), or null.
        pub soap_version: Value,
        /// Why the answer could not be read as SOAP, or null.
        pub parse_error: Option<String>,
        /// Milliseconds from sending the call to the end of the answer.
        pub elapsed_ms: u64,
    }
}

observations! {
    /// What `password-policy` observes.
    pub struct PasswordPolicyObservations {
        /// The rule tested: `{min_length, required_classes}`.
        pub policy: Value,
        /// One object per weak candidate, in order: `{user, password, rules, outcome, status,
        /// deleted, error}`; `outcome` is `accepted`, `rejected` or `unknown`, `rules` the parts of
        /// the rule the password breaks (`too-short`, `no-upper`, `no-lower`, `no-digit`,
        /// `no-special`, plus `is-user-name`, `common-password`).
        pub candidates: Vec<Value>,
        /// Weak candidates the device accepted, as `password (rules)`: each is a user created with a
        /// password the rule forbids.
        pub weak_accepted: Vec<Value>,
        /// Weak candidates refused by the op's `rejected` classifier (the weak-password refusal).
        pub weak_rejected: Vec<Value>,
        /// Weak candidates whose answer no classifier recognised, or that got no answer.
        pub weak_unknown: Vec<Value>,
        /// True when the compliant random control password was accepted (the device can create users
        /// this way at all).
        pub control_accepted: bool,
        /// HTTP status of the control creation, or null when it got no answer.
        pub control_status: Value,
        /// True when the control user could log in through `login-check`, false when refused; null
        /// when not checked or unclear.
        pub control_login: Option<bool>,
        /// Users that were created but whose deletion was not confirmed: remove them on the device.
        pub leftover_users: Vec<String>,
        /// Users whose creation answer was unclear and whose deletion was not confirmed: they may
        /// exist; check the device's user list.
        pub unconfirmed_users: Vec<String>,
        /// False when the step stopped early because the device stopped answering.
        pub completed: bool,
        /// Transport failures, as `user: error`.
        pub errors: Vec<String>,
    }
}

observations! {
    /// What `web-surface` observes.
    pub struct WebSurfaceObservations {
        /// The target file's `[connection] web`: `auto`, `http` or `https`.
        pub preference: String,
        /// The HTTP port's answer: `{scheme, port, state, status, location, redirect_same_host,
        /// challenge_schemes, certificate_sha256, error}`; `state` is `closed` (refused, or no port
        /// bound), `challenges` (401), `answers` (any other answer of its own, a redirect to a page
        /// on the same port included), `redirects-to-https`, `redirects-elsewhere`, `tls-failed`,
        /// `no-answer` or `error`.
        pub http: Value,
        /// The HTTPS port's answer, in the same form.
        pub https: Value,
        /// Further ports asked because a redirect named them (same host only, at most 3).
        pub followed: Vec<Value>,
        /// True when a port that serves the web API was found.
        pub found: bool,
        /// The surface chosen: `{scheme, port, reason, certificate_sha256}`, or null.
        pub chosen: Option<WebSurfaceUsed>,
        /// Why that surface, or why none was found, in one sentence.
        pub reason: String,
    }
}

observations! {
    /// What `lab-net` observes: the camera's own network as recorded so far, judged against the
    /// target file's `[declared] destinations`.
    pub struct LabNetObservations {
        /// True when the run has a lab network (`--lab-net`); false otherwise, and then every other
        /// observation is null.
        pub lab_net_given: bool,
        /// What the step did before reading the record: `snapshot`, `cut` or `restore`.
        pub op: String,
        /// Seconds waited after the op (`wait_s`, and any wait for `recorded_s`).
        pub waited_s: f64,
        /// Seconds the lab network had been up when the record was read.
        pub recorded_s: Option<f64>,
        /// The lab network's mode (`sinkhole`).
        pub mode: Option<String>,
        /// True when the target file declares `[declared] destinations` (an empty list included):
        /// without it no destination can be judged undeclared.
        pub declared_given: Option<bool>,
        /// True when the run was given a GeoIP file (`--geoip`), so an address's country is known.
        pub geoip_given: Option<bool>,
        /// `{count, destinations}`: every destination the camera used, each `{destination, kind
        /// (name|address), declared, purpose, country, country_source (declared|geoip|null),
        /// protocols, flows}`; `purpose` and `country` are the matching declaration's.
        pub destinations: Value,
        /// `{count, destinations}`: the names and addresses no declaration covers (with
        /// `declared_given = false`, every destination).
        pub undeclared_destinations: Value,
        /// `{count, flows}`: flows the camera opened in a recognised cleartext protocol (`http`,
        /// `rtsp`, `mqtt`, `ftp`, `telnet`, `smtp`), each `{protocol, destination}`; DNS to the lab
        /// resolver is not counted.
        pub cleartext_flows: Value,
        /// `{count, flows}`: cleartext flows that carried a credential, each `{protocol,
        /// destination, kinds}` (`authorization: basic`, `ftp PASS`…); never the value.
        pub cleartext_credentials: Value,
        /// `{count, flows}`: update checks or downloads in clear, each `{protocol, destination,
        /// path, why}`: a cleartext flow to a destination declared for updates, or whose host or
        /// path names `update`, `upgrade`, `firmware` or `ota`.
        pub update_flows_plaintext: Value,
        /// `{count, legacy_tls, unauthenticated, authentication_unknown, flows}`: every update
        /// check or download seen, in clear or over TLS, each `{protocol, destination, path,
        /// why, best_tls_offered, server_authenticated, alert}` (`why` as in
        /// `update_flows_plaintext`). `legacy_tls` counts the TLS ones whose ClientHello offered
        /// nothing newer than TLS 1.1. In sinkhole mode hopquy answers each TLS handshake with a
        /// certificate for the name asked from an authority made up for the run:
        /// `server_authenticated` is true when the device refused it (`alert` says how), false
        /// when it finished the handshake (`unauthenticated` counts those; `path` is then read
        /// inside), null when the handshake decided nothing (no common version, timed out, not
        /// on a sinkhole port: `authentication_unknown` counts those not in clear).
        pub update_flows: Value,
        /// `{answered, rejected, accepted}`: TLS handshakes of the device hopquy answered in
        /// sinkhole mode, those the device refused (it authenticates its server) and those it
        /// finished with the made-up certificate.
        pub tls_authentication: Value,
        /// `{count, flows}`: TLS connections the device finished with hopquy's made-up
        /// certificate, to any destination, each `{destination, server_port, inside_protocol,
        /// inside_path, inside_credentials}`: what it sent inside is readable by anyone on the
        /// path (credential kinds only, never values; query values redacted).
        pub tls_unauthenticated: Value,
        /// True when a declared destination's purpose names updates (`update`, `upgrade`,
        /// `firmware`, `ota`): the device declares an online update function. Null without
        /// `[declared] destinations`.
        pub update_declared: Option<bool>,
        /// `{count, seen, unseen}`: the declared destinations, how many the record shows in use,
        /// and the `host` or `network` of each it does not. Null without a declaration.
        pub declared_services: Value,
        /// True when the declaration is empty (the device contacts nothing) or the record shows
        /// at least one declared service in use: the record saw the device at work. False when it
        /// declares services and used none of them while recorded; null without a declaration.
        pub declared_activity_seen: Option<bool>,
        /// `{count, destinations}`: destinations contacted whose declaration's purpose names
        /// telemetry (`telemetry`, `analytics`, `diagnostics`, `statistics`), each `{destination,
        /// purpose, protocols}`; compare them with the published telemetry information.
        pub telemetry_destinations: Value,
        /// `{count, destinations, unknown_country}`: destinations whose country is not `VN`, each
        /// `{destination, country, country_source}`; `unknown_country` counts those whose country
        /// neither a declaration nor the GeoIP file gives.
        pub foreign_destinations: Value,
        /// Where the target file says the device is set to keep its data
        /// (`[declared.data_storage] location`: `local` or `vietnam`); null when it does not say.
        pub storage_location: Option<String>,
        /// `{count, destinations, unknown_country}` as `foreign_destinations`, over the
        /// destinations that could carry the device's data: those with a flow in any protocol
        /// but NTP, DNS and ICMP (time and name lookups carry no recordings or personal data).
        pub foreign_data_destinations: Value,
        /// `{cuts, restores, last_cut, last_restore}`: the outage events recorded.
        pub outages: Value,
        /// `{restored_at, syns, connections, max_syns_per_second, busiest_second}` over the camera's
        /// TCP SYNs after the last `restore`; null when the uplink was never restored.
        pub syn_rate_after_restore: Value,
        /// The most SYNs the camera sent in any one second after the last `restore` (a connection
        /// storm shows here); null when the uplink was never restored.
        pub max_syns_per_second_after_restore: Option<u64>,
        /// The most SYNs the camera sent in any one second between the last `cut` and the
        /// `restore` after it (or now): a tight retry loop during the outage shows here; null
        /// when the uplink was never cut.
        pub max_syns_per_second_during_outage: Option<u64>,
        /// `{dns_questions, flows, camera_flows, tls_flows, flows_over_cap, frames_dropped}`: how
        /// much the record holds, and what its caps left out.
        pub counts: Value,
    }
}

observations! {
    /// What `firmware` observes.
    pub struct FirmwareObservations {
        /// True when the run was given a firmware image; false otherwise, and then every other
        /// observation is null.
        pub image_given: bool,
        /// The image scanned: `{name, sha256, size, entropy}` (name without directories).
        pub image: Value,
        /// True when at least one file system or archive in the image was unpacked and walked, so an
        /// absent finding means something.
        pub searched: Option<bool>,
        /// Why the image could not be searched (nothing unpacked: encrypted or opaque, with its
        /// entropy), else null.
        pub inconclusive: Option<String>,
        /// Number of scan bounds reached: what lies behind them was not analysed.
        pub limits_hit: Option<u64>,
        /// `{count, fingerprints, paths}`: private keys in the image; fingerprints are SHA-256 of the
        /// public key (or of the key's DER), never key material.
        pub private_keys: Value,
        /// `{count, accounts}`: accounts whose password hash verifies a pair of a credential
        /// dictionary, each `{user, dictionary, path}`; the password is never shown.
        pub default_credentials: Value,
        /// `{count, accounts}`: every other account with a password hash (the same on every unit),
        /// each `{user, path}`.
        pub fixed_accounts: Value,
        /// `{count, accounts}`: accounts with an empty password field, each `{user, path}`.
        pub empty_passwords: Value,
        /// `{count, paths}`: passwords, tokens and keys written in boot scripts and configuration
        /// files.
        pub hardcoded_secrets: Value,
        /// `{count, services}`: Telnet, a serial-console getty or shell, or an SSH server started at
        /// boot, each `{path, title, clauses}`.
        pub debug_services: Value,
        /// `{count, components}`: components past their maintainer's end of life, as `NAME VERSION`
        /// (from the finding's title).
        pub eol_components: Value,
        /// `signed`, `crc_only`, `none_found` or `unknown` (opaque image): what protects the image as
        /// an update; presence only, not validity.
        pub update_integrity: Option<String>,
        /// What the update-integrity verdict rests on: one line per signature, checksum or container
        /// recognised (docs/firmware.md lists them).
        pub update_integrity_evidence: Option<Vec<String>>,
        /// `{count, components}`: the components whose version the scan recognised, as `NAME VERSION`
        /// (the SBOM's inventory).
        pub components: Value,
        /// True when the run was given an offline OSV database (`--vulndb`) to match the components
        /// against.
        pub vulndb_given: Option<bool>,
        /// `{count, items, database}`: known vulnerabilities matched by version, each `{id, aliases,
        /// component, version, fixed}`, and the database's `{name, sha256, files}`; null without
        /// `--vulndb`.
        pub vulnerabilities: Value,
    }
}

observations! {
    /// What `operator` and `document` observe.
    pub struct AnswerObservations {
        /// True when an answer was given (without one the step is inconclusive and observes nothing).
        pub answered: bool,
        /// The answer: `yes`/`no` for yes-no, `done` for confirm, the text for text, the file name
        /// for attachment.
        pub answer: String,
        /// Files attached (names inside the bundle).
        pub attachments: Vec<String>,
        /// The note given with the answer, if any.
        pub note: Option<String>,
    }
}

/// Where a web step's requests went, and why (see `web-surface`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebSurfaceUsed {
    /// `http` or `https`.
    pub scheme: String,
    pub port: u16,
    pub reason: String,
    /// Over HTTPS, hex SHA-256 of the leaf certificate pinned for the run; null over HTTP.
    #[serde(default)]
    pub certificate_sha256: Option<String>,
}

/// One attempt of an `http` step with `repeat` > 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpAttempt {
    pub status: u16,
    /// `accepted`, `rejected`, `locked` or `unknown`.
    pub outcome: String,
}

/// One attempt of a `login` step, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttemptDetail {
    /// 1-based attempt number.
    pub n: u64,
    /// The credential tried, labelled as in `accepted_credentials`.
    pub credential: String,
    /// The surface's answer (see `statuses`).
    pub status: Value,
    /// `accepted`, `rejected`, `locked` or `unknown`.
    pub outcome: String,
    pub elapsed_ms: u64,
    /// Milliseconds from the start of the step to this attempt's end.
    pub t_ms: u64,
}

/// The pacing a credential dictionary (or the factory-default pairs) used, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pacing {
    /// `measured` (a `measures = "lockout"` case found the lock in this run) or `declared`.
    pub source: String,
    pub surface: String,
    pub reason: String,
    pub reset_below: Option<u64>,
    pub window_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_login: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle: Option<bool>,
    /// `factory-default`: the lockout threshold the attempts stay below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u64>,
    /// `factory-default`: the most attempts the step may make (threshold minus 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u64>,
    /// `factory-default`: milliseconds between attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    /// The lock measured on this surface: `{locks, after_failures, lasted_ms, case}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(schema: schemars::Schema, value: Value) -> usize {
        let validator = jsonschema::validator_for(&schema.to_value()).unwrap_or_else(|e| panic!("{e}"));
        validator.iter_errors(&value).count()
    }

    #[test]
    fn the_schema_takes_absent_fields_and_explicit_nulls_only_where_declared() {
        let schema = LoginObservations::schema;
        assert_eq!(errors(schema(), json!({})), 0);
        assert_eq!(
            errors(schema(), json!({"attempts": 3, "first_locked_attempt": null})),
            0
        );
        // `attempts` is a count, never null; an unknown key is drift.
        assert_eq!(errors(schema(), json!({"attempts": null})), 1);
        assert_eq!(errors(schema(), json!({"attempts": "3"})), 1);
        assert_eq!(errors(schema(), json!({"atempts": 3})), 1);
        // Nested structs are held to their own fields.
        assert_eq!(
            errors(
                schema(),
                json!({"detail": [{"n": 1, "credential": "a:b", "status": 401, "outcome": "rejected", "elapsed_ms": 1, "t_ms": 1, "extra": 0}]})
            ),
            1
        );
    }

    #[test]
    fn specs_keep_declaration_order_and_whole_descriptions() {
        let names: Vec<&str> = WaitObservations::SPECS.iter().map(|s| s.name).collect();
        assert_eq!(names, ["waited_s"]);
        let first = HttpObservations::SPECS.first().map(|s| (s.name, s.description()));
        assert_eq!(
            first,
            Some(("status", "HTTP status code of the (last) response, integer."))
        );
        // A description spread over several doc lines is read as one sentence.
        let pacing = LoginObservations::SPECS
            .iter()
            .find(|s| s.name == "pacing")
            .map(|s| s.description());
        assert!(pacing.is_some_and(|d| d.contains("reset_below,\nwindow_s") || d.contains("reset_below, window_s")));
    }

    #[test]
    fn a_present_null_reads_back_as_present() {
        let read: LoginObservations = serde_json::from_value(json!({"first_locked_attempt": null})).unwrap_or_default();
        assert_eq!(read.first_locked_attempt, Some(None));
        assert_eq!(read.into_value(), json!({"first_locked_attempt": null}));
    }
}
