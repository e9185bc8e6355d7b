//! The step actions a case may use: their parameters and the observations they produce.
//!
//! This table is the contract between case authors, the validator, the runner and the probes.
//! `cargo xtask codegen` renders it into docs/case-reference.md, so every description here is
//! user documentation: keep it one precise line.

/// How a parameter's value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A profile operation name, lowercase-kebab (`login-check`).
    ProfileOp,
    /// An ONVIF operation name, PascalCase (`GetDeviceInformation`).
    OnvifOperation,
    /// An HTTP method token (`GET`, `PUT`).
    HttpMethod,
    /// A request path starting with `/` (templates allowed).
    HttpPath,
    /// Free text (templates allowed).
    Text,
    /// A table of header name → value.
    Headers,
    /// A named port (`http`, `rtsp`…) or a number 1–65535 (or a template).
    Port,
    /// `none`, `basic`, `digest` or `profile`.
    Auth,
    /// `none`, `digest` or `usernametoken`.
    OnvifAuth,
    /// A login surface: `http`, `rtsp`, `onvif`, `telnet` or `ssh`.
    Surface,
    /// A profile operation (`http` surface) or an ONVIF operation (`onvif` surface).
    LoginOp,
    /// `none`, `basic`, `digest`, `profile` (`http` surface) or `digest`, `usernametoken` (`onvif`).
    LoginAuth,
    /// `none`, `target`, `wrong-password`, `unknown-user` or `dictionary:<stem>`.
    Credentials,
    /// An integer ≥ 1 (or a whole-value template).
    Count,
    /// A number ≥ 0 (or a whole-value template).
    Duration,
    /// `true` or `false`.
    Bool,
    /// A list of port numbers, `all`, `declared` or `common-camera` (or a template).
    PortSet,
    /// A list of paths starting with `/`, `profile` or `dictionary:<stem>`.
    RtspPaths,
    /// A table passed to the probe as-is.
    Options,
    /// `confirm`, `yes-no`, `text` or `attachment`.
    Answer,
    /// The list of `[[steps.expect]]` tables.
    Expectations,
    /// `error` or `inconclusive`.
    OnError,
    /// An identifier: the step id or action name.
    Identifier,
}

/// One key a step may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: &'static str,
    pub required: bool,
    pub kind: ParamKind,
    pub description: &'static str,
}

/// One observation an action produces; `that = "NAME"` or `"NAME.sub.path"` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObservationSpec {
    pub name: &'static str,
    pub description: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionSpec {
    pub name: &'static str,
    pub description: &'static str,
    /// Parameters beyond the keys every step accepts ([`COMMON_KEYS`]).
    pub params: &'static [ParamSpec],
    pub observations: &'static [ObservationSpec],
    /// Rules that involve several keys, in words (for the reference docs).
    pub rules: &'static [&'static str],
}

impl ActionSpec {
    /// Every key a step with this action may carry, common keys first.
    pub fn allowed_keys(&self) -> impl Iterator<Item = &'static str> + use<> {
        COMMON_KEYS.iter().chain(self.params.iter()).map(|param| param.name)
    }

    pub fn param(&self, key: &str) -> Option<&'static ParamSpec> {
        COMMON_KEYS
            .iter()
            .chain(self.params.iter())
            .find(|param| param.name == key)
    }

    pub fn required_params(&self) -> impl Iterator<Item = &'static ParamSpec> + use<> {
        self.params.iter().filter(|param| param.required)
    }

    pub fn observation(&self, name: &str) -> Option<&'static ObservationSpec> {
        self.observations.iter().find(|observation| observation.name == name)
    }
}

const fn param(name: &'static str, kind: ParamKind, description: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        required: false,
        kind,
        description,
    }
}

const fn required(name: &'static str, kind: ParamKind, description: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        required: true,
        kind,
        description,
    }
}

const fn observation(name: &'static str, description: &'static str) -> ObservationSpec {
    ObservationSpec { name, description }
}

/// Keys every step accepts, whatever its action.
pub const COMMON_KEYS: &[ParamSpec] = &[
    required(
        "id",
        ParamKind::Identifier,
        "Step name, unique in the case; `${steps.ID.…}` refers to it.",
    ),
    required(
        "action",
        ParamKind::Identifier,
        "What the step does: one of the actions below.",
    ),
    param(
        "always",
        ParamKind::Bool,
        "Run even after an earlier step decided the verdict (clean-up, waiting out a lockout). Default false.",
    ),
    param(
        "on_error",
        ParamKind::OnError,
        "Verdict when the step cannot be carried out (transport failure): `error` (default) or `inconclusive`.",
    ),
    param(
        "expect",
        ParamKind::Expectations,
        "Assertions over this step's observations, checked in order.",
    ),
];

const OP_HTTP: ParamSpec = param(
    "op",
    ParamKind::ProfileOp,
    "Profile operation to send (`identity`, `users`…); the profile gives method, path, body, auth and classifiers.",
);
const METHOD: ParamSpec = param(
    "method",
    ParamKind::HttpMethod,
    "Request method (overrides the op's). Default: the op's method, else `GET`.",
);
const PATH: ParamSpec = param(
    "path",
    ParamKind::HttpPath,
    "Request path starting with `/`: a raw request without `op`, or an override of the op's path.",
);
const PORT_HTTP: ParamSpec = param(
    "port",
    ParamKind::Port,
    "Named port from the profile/target, or a number. Default: the op's port, else `http`.",
);
const AUTH: ParamSpec = param(
    "auth",
    ParamKind::Auth,
    "Authentication scheme: `none`, `basic`, `digest` or `profile` (default: the op's scheme, else whatever the device challenges with).",
);
const CREDENTIALS: ParamSpec = param(
    "credentials",
    ParamKind::Credentials,
    "One credential: `none`, `target`, `wrong-password` or `unknown-user`. Default `target`, or `none` with `auth = \"none\"`.",
);
const HEADERS: ParamSpec = param("headers", ParamKind::Headers, "Extra request headers (name → value).");
const BODY: ParamSpec = param(
    "body",
    ParamKind::Text,
    "Request body (overrides the op's body; templates allowed).",
);
const REPEAT: ParamSpec = param(
    "repeat",
    ParamKind::Count,
    "Send the request N times (integer ≥ 1 or a template such as `${params.attempts}`). Default 1.",
);
const FRESH_CONNECTION: ParamSpec = param(
    "fresh_connection",
    ParamKind::Bool,
    "Open a new TCP connection per attempt, so a per-session lockout cannot pass for a real one.",
);
const INTERVAL_MS: ParamSpec = param(
    "interval_ms",
    ParamKind::Duration,
    "Pause between attempts, milliseconds. Default 0.",
);
const OPTIONS: ParamSpec = param(
    "options",
    ParamKind::Options,
    "Action-specific options (a table), passed to the action as-is.",
);

const SURFACE: ParamSpec = param(
    "surface",
    ParamKind::Surface,
    "Where to log in: `http` (the profile's login operation; default), `rtsp` (DESCRIBE of a stream path), `onvif` (a device-service call), `telnet` (the login prompt) or `ssh` (a password login).",
);
const LOGIN_OP: ParamSpec = param(
    "op",
    ParamKind::LoginOp,
    "`http`: profile operation used to test a login (default `login-check`); `onvif`: ONVIF operation (default `GetUsers`, else `GetDeviceInformation`).",
);
const LOGIN_PORT: ParamSpec = param(
    "port",
    ParamKind::Port,
    "Named port from the profile/target, or a number. Default: the op's port, else `http` (`http`, `onvif`); `rtsp`; `telnet` (else 23); `ssh`.",
);
const LOGIN_AUTH: ParamSpec = param(
    "auth",
    ParamKind::LoginAuth,
    "`http`: `none`, `basic`, `digest` or `profile` (default: the op's scheme); `onvif`: `digest` (default) or `usernametoken`. Not used on `rtsp`, `telnet` and `ssh`.",
);
const LOGIN_PATHS: ParamSpec = param(
    "paths",
    ParamKind::RtspPaths,
    "`rtsp` only: candidate stream paths, as for the `rtsp` action. Default: the profile's paths, then `dictionary:rtsp-paths`.",
);

/// Every action, in the order the reference documents them.
pub const ACTIONS: &[ActionSpec] = &[
    ActionSpec {
        name: "http",
        description: "Send an HTTP(S) request, raw or from a profile operation, once or repeatedly, and record the (last) response.",
        params: &[
            OP_HTTP,
            METHOD,
            PATH,
            PORT_HTTP,
            AUTH,
            CREDENTIALS,
            HEADERS,
            BODY,
            REPEAT,
            FRESH_CONNECTION,
            INTERVAL_MS,
        ],
        observations: &[
            observation("status", "HTTP status code of the (last) response, integer."),
            observation("version", "HTTP version of the response (`HTTP/1.1`)."),
            observation(
                "headers",
                "Response headers: lower-cased name → value (repeated headers joined with `, `).",
            ),
            observation(
                "body",
                "Response body as text, cut at the observation limit (see `body_truncated`).",
            ),
            observation("body_len", "Length of the response body in bytes, as received."),
            observation(
                "body_truncated",
                "True when `body` shows only the start of the response body.",
            ),
            observation("body_sha256", "Hex SHA-256 of the response body as received."),
            observation(
                "outcome",
                "`accepted`, `rejected`, `locked` or `unknown`, from the op's classifiers (`unknown` when none matches or there is no op).",
            ),
            observation(
                "challenges",
                "Authentication challenges offered: list of `{scheme, algorithm, realm}` from `WWW-Authenticate`.",
            ),
            observation(
                "challenge_schemes",
                "The offered challenges as short labels (`basic`, `digest-md5`, `digest-sha256`…).",
            ),
            observation(
                "web_surface",
                "Where the request went and why: `{scheme, port, reason, certificate_sha256}` — the discovered web surface (see `web-surface`), or the port the step names.",
            ),
            observation(
                "auth_used",
                "Scheme the harness actually sent (`basic`, `digest`), or null when no credential was sent.",
            ),
            observation(
                "credential",
                "The credential sent: `anonymous`, `user:password` for public ones, `user:[REDACTED]` for the target's.",
            ),
            observation(
                "elapsed_ms",
                "Milliseconds from sending the request to the end of the response.",
            ),
            observation(
                "peer_cert_sha256",
                "Over HTTPS, hex SHA-256 of the server's leaf certificate (DER); null over HTTP.",
            ),
            observation(
                "attempts",
                "With `repeat` > 1: per-attempt objects `{status, outcome}`, in order.",
            ),
            observation(
                "accepted",
                "With `repeat` > 1: number of attempts classified `accepted`.",
            ),
            observation(
                "rejected",
                "With `repeat` > 1: number of attempts classified `rejected`.",
            ),
            observation("locked", "With `repeat` > 1: number of attempts classified `locked`."),
            observation(
                "unknown",
                "With `repeat` > 1: number of attempts no classifier matched.",
            ),
        ],
        rules: &[
            "Give `op` (a profile operation) or `path` (a raw request); with `op`, a step's `method`, `path` and `body` override the operation's.",
            "`http` sends one credential; use `login` for dictionaries.",
        ],
    },
    ActionSpec {
        name: "login",
        description: "Try a credential set against a profile login operation and classify each attempt as accepted, rejected, locked or unknown.",
        params: &[
            SURFACE,
            LOGIN_OP,
            LOGIN_PORT,
            LOGIN_AUTH,
            LOGIN_PATHS,
            required(
                "credentials",
                ParamKind::Credentials,
                "Credential set: `target`, `wrong-password`, `unknown-user`, `none` or `dictionary:<file stem in test-cases/data>`.",
            ),
            param(
                "repeat",
                ParamKind::Count,
                "Try the credential set N times (integer ≥ 1 or a template). Default 1.",
            ),
            param(
                "fresh_connection",
                ParamKind::Bool,
                "Open a new TCP connection per attempt, so a per-session lockout cannot pass for a real one. Default true.",
            ),
            param(
                "stop_on_accept",
                ParamKind::Bool,
                "Stop at the first accepted credential: default true for `dictionary:` sets (one accepted default credential decides the fail), false otherwise; `hopquy run --exhaustive` always tries every pair.",
            ),
            INTERVAL_MS,
            param(
                "options",
                ParamKind::Options,
                "`reset_below`, `window_s`, `control_login` and `settle` (below): lockout-aware pacing of a dictionary.",
            ),
        ],
        observations: &[
            observation("attempts", "Number of login attempts made."),
            observation("accepted", "Number of attempts classified `accepted`."),
            observation("rejected", "Number of attempts classified `rejected`."),
            observation("locked", "Number of attempts classified `locked`."),
            observation("unknown", "Number of attempts no classifier matched."),
            observation(
                "accepted_credentials",
                "Accepted credentials as `user:password` for public dictionary entries, `user:[REDACTED]` for the target's own.",
            ),
            observation(
                "outcomes",
                "Per-attempt outcome, in order: list of `accepted`/`rejected`/`locked`/`unknown`.",
            ),
            observation(
                "statuses",
                "Per-attempt status, in order: the HTTP or RTSP status code; for Telnet the answer's kind (`shell`, `incorrect`, `login`, `unknown`); for SSH `success`, `partial-success`, `failure` or `no-answer`.",
            ),
            observation(
                "distinct_bodies",
                "Number of distinct responses (status + body, digits masked so nonces and clocks do not count): more than one among failures means the error reveals something.",
            ),
            observation(
                "body_fingerprints",
                "Per-attempt hex SHA-256 of (status, body with digits masked), in order.",
            ),
            observation(
                "first_locked_attempt",
                "1-based number of the first attempt classified `locked`, or null.",
            ),
            observation(
                "resets",
                "With `options.reset_below`: control logins made with the target's credentials to reset the failure counter.",
            ),
            observation(
                "aborted",
                "True when a `reset_below` control login was refused (the device locked) and the step stopped early.",
            ),
            observation(
                "stopped_at_accept",
                "True when the step stopped at an accepted credential with attempts left (`stop_on_accept`); `not_tried` says how many.",
            ),
            observation(
                "not_tried",
                "Attempts of the plan that were not made (stopped at an accepted credential or aborted).",
            ),
            observation(
                "paced_ms",
                "With `options.window_s`: milliseconds spent waiting so other user names stay below the threshold per window (the `settle` wait included).",
            ),
            observation(
                "pacing",
                "With pacing options: the pacing used and why, `{source, surface, reason, reset_below, window_s, control_login, settle, settle_ms}` plus `measured` (the lock a `measures = \"lockout\"` case found on this surface, `{locks, after_failures, lasted_ms, case}`) when `source` is `measured`; `declared` when nothing was measured on the surface in this run. Null without pacing options.",
            ),
            observation("duration_ms", "Milliseconds the whole step took."),
            observation(
                "detail",
                "Per-attempt objects `{n, credential, status, outcome, elapsed_ms, t_ms}`.",
            ),
            observation(
                "surface",
                "The surface logged in on: `http`, `rtsp`, `onvif`, `telnet` or `ssh`.",
            ),
            observation(
                "web_surface",
                "`http`: the web surface the attempts went to, `{scheme, port, reason, certificate_sha256}` (see `web-surface`).",
            ),
            observation(
                "reachable",
                "`rtsp`, `onvif`, `telnet`, `ssh`: false when the service could not be reached (then nothing was tried); always true over `http`.",
            ),
            observation(
                "route",
                "`rtsp`: the stream path the attempts DESCRIBE (the first candidate refused without credentials); `onvif`: the operation called; `ssh`: the method the passwords go out with (`password` when offered, else `keyboard-interactive`, else `password`). Null when none demands authentication, or (`ssh`) no session could be set up (then nothing was tried).",
            ),
            observation(
                "anonymous_allowed",
                "`rtsp`: paths served without credentials; `onvif`: candidate operations answered without credentials; `ssh`: `[\"none\"]` when the server let the target's user in without any credential. A route that needs no password cannot test one.",
            ),
            observation(
                "auth_used",
                "`rtsp`, `onvif`: schemes the credentials went out with (`digest-md5`, `digest-sha256`, `basic`, `usernametoken`), in order first used.",
            ),
            observation("port", "`rtsp`, `onvif`, `telnet`, `ssh`: the TCP port logged in on."),
            observation("banner", "`ssh`: the server's identification line."),
            observation(
                "auth_methods",
                "`ssh`: methods the server lists for the target's user (null when no session could be set up).",
            ),
            observation(
                "password_methods_offered",
                "`ssh`: the listed methods that take a password (`password`, `keyboard-interactive`); `[]` when none is.",
            ),
            observation("auth_mode", "`onvif`: `digest` or `usernametoken`, as the step asked."),
            observation(
                "prompt",
                "`telnet`: what the service printed before any login (escaped as for the `telnet` action).",
            ),
            observation(
                "error",
                "`rtsp`, `onvif`, `telnet`, `ssh`: why the service could not be reached (with `reachable = false`), or (`ssh`) why no session could be set up.",
            ),
        ],
        rules: &[
            "`surface = \"http\"` (default): the op must define `accepted`/`rejected` classifiers in the profile, or every attempt is `unknown`.",
            "`surface = \"rtsp\"`: DESCRIBE, one fresh connection per attempt (an anonymous request for the challenge, then Digest; Basic only when Digest is not offered). 2xx (or 404 after authentication: the path was looked up only after the credentials passed) is `accepted`, 401 `rejected`, the profile's `[rtsp] locked` classifier `locked`, anything else `unknown`.",
            "`surface = \"onvif\"`: calls `op` (default: `GetUsers`, else `GetDeviceInformation`, whichever refuses an anonymous call) with `auth = \"digest\"` (default) or `\"usernametoken\"`. An answer is `accepted`; 401/403 or `NotAuthorized` `rejected`; a digest attempt the device never challenged is `unknown` (the credential was not sent).",
            "`surface = \"telnet\"`: answers `login:` and `Password:` on a fresh connection and reads what follows: a shell prompt is `accepted`, `incorrect`/`denied`/`failed` or another login prompt `rejected`, anything else `unknown`.",
            "`surface = \"ssh\"`: one password login per fresh connection, with the `password` method when the server lists it for the user, else `keyboard-interactive` (the password typed into its password prompt). USERAUTH_SUCCESS (or a partial success: the password was right) is `accepted`, USERAUTH_FAILURE `rejected`, no answer or a prompt that is not a password question `unknown`. SSH has no lock signal: a locked account reads `rejected`, never `locked`.",
            "With `credentials = \"wrong-password\"` and `repeat`, each attempt uses a different random password.",
            "`options.reset_below = N` (N ≥ 2) logs in with the target's credentials after N-1 consecutive failures, so a long dictionary does not trip the lockout; a refused control login stops the step with `aborted = true`.",
            "`options.window_s = S` (with `reset_below`): user names other than the target's get at most N-1 failures per S seconds; the step waits where needed.",
            "`options.control_login = false` (with `window_s`): no control logins — for a surface whose accounts are not the target's, such as a Telnet daemon — and every user name, the target's too, is paced per window.",
            "`options.settle = true` (with `window_s`): before the first attempt, wait until a window has passed since the run started and since the last failed login of the run that still counts (another user name's; the target's too without control logins).",
            "A surface measured earlier in the run by a `measures = \"lockout\"` case replaces the declared pacing: shown not to lock, it is not paced (no window, no settle; control logins stay); shown to lock after N failures, `reset_below` becomes N within the declared window. `pacing` says which was used.",
        ],
    },
    ActionSpec {
        name: "recover",
        description: "Poll the login operation with the target's credentials until it is accepted again (a lockout expired), for up to `seconds` + 30 s.",
        params: &[
            SURFACE,
            LOGIN_OP,
            LOGIN_PORT,
            LOGIN_AUTH,
            LOGIN_PATHS,
            param(
                "seconds",
                ParamKind::Duration,
                "Longest expected lock, seconds (at most 3600; the step polls 30 s longer). Default 300.",
            ),
            param(
                "interval_ms",
                ParamKind::Duration,
                "Pause between polls, milliseconds (at least 200). Default 1000.",
            ),
        ],
        observations: &[
            observation(
                "recovered",
                "True when the target's credentials were accepted again before the deadline.",
            ),
            observation("polls", "Number of login attempts made."),
            observation("waited_ms", "Milliseconds spent polling."),
            observation(
                "last_status",
                "Status of the last poll (HTTP or RTSP code, Telnet answer kind, SSH `success`/`failure`/`no-answer`), or the transport error text.",
            ),
            observation(
                "surface",
                "The surface polled: `http`, `rtsp`, `onvif`, `telnet` or `ssh`.",
            ),
            observation(
                "reachable",
                "`rtsp`, `onvif`, `telnet`, `ssh`: false when the service could not be reached (then nothing was polled).",
            ),
            observation(
                "route",
                "`rtsp`: the stream path polled; `onvif`: the operation called; `ssh`: the password method; null when none demands authentication.",
            ),
            observation(
                "web_surface",
                "`http`: the web surface polled, `{scheme, port, reason, certificate_sha256}` (see `web-surface`).",
            ),
            observation(
                "anonymous_allowed",
                "`rtsp`, `onvif`, `ssh`: what answered without credentials while finding the route (as for `login`).",
            ),
            observation("port", "`rtsp`, `onvif`, `telnet`, `ssh`: the TCP port polled."),
            observation("banner", "`ssh`: the server's identification line."),
            observation("auth_methods", "`ssh`: methods the server lists for the target's user."),
            observation(
                "password_methods_offered",
                "`ssh`: the listed methods that take a password.",
            ),
            observation("auth_mode", "`onvif`: `digest` or `usernametoken`, as the step asked."),
        ],
        rules: &[
            "Use with `always = true` after a step that may lock the account, so later cases find the device usable.",
            "`surface`, `op`, `auth`, `paths` and `port` mean what they mean for `login`: a lock is waited out on the surface that was locked.",
        ],
    },
    ActionSpec {
        name: "wait",
        description: "Pause the case for a fixed time (at most 3600 s).",
        params: &[required(
            "seconds",
            ParamKind::Duration,
            "How long to wait, seconds (integer ≥ 0 or a template such as `${params.duration_s}`).",
        )],
        observations: &[observation("waited_s", "Seconds waited.")],
        rules: &[],
    },
    ActionSpec {
        name: "ports",
        description: "TCP connect sweep of the target, with service guesses and banners, compared with the declared open ports.",
        params: &[
            param(
                "ports",
                ParamKind::PortSet,
                "Ports to try: a list of numbers, `all` (1–65535, default), `declared` or `common-camera`.",
            ),
            OPTIONS,
        ],
        observations: &[
            observation(
                "open",
                "Open ports, sorted: list of `{port, service, banner, probe}` (service, banner and probe may be null; `probe` names what we sent a silent port, `rtsp-options`, `http-head` or `tls-client-hello`, when its answer is the banner).",
            ),
            observation("open_ports", "Open port numbers, sorted."),
            observation(
                "undeclared",
                "Open ports not in the target's `declared.open_tcp_ports`.",
            ),
            observation("declared_closed", "Ports in `declared.open_tcp_ports` found closed."),
            observation(
                "declared_given",
                "Whether the target declares `open_tcp_ports` at all (else `undeclared` is null).",
            ),
            observation(
                "risky_open",
                "Open ports from the profile's `risky_ports` (debug consoles, vendor back doors).",
            ),
            observation("ports_tried", "How many ports the sweep tried."),
            observation(
                "excluded_ports",
                "Ports the target file's `exclude_ports` says are not the device's; not swept.",
            ),
            observation(
                "sweep_scope",
                "`full` (every port), `profile` (every port was asked for but the target file's `port_sweep = \"profile\"` narrowed it to the declared, profile and common camera ports) or `list` (the step named its ports).",
            ),
            observation("closed_count", "Ports that refused the connection."),
            observation(
                "filtered_count",
                "Ports that did not answer within the connect timeout.",
            ),
            observation(
                "rtt_us",
                "Smoothed connect round trip of the sweep in microseconds (null when no port answered).",
            ),
            observation(
                "connect_timeout_ms",
                "Connect timeout of the sweep's first pass, adapted to the round trip (at least 100 ms, at most the full timeout).",
            ),
            observation(
                "retried_count",
                "Ports the first pass timed out and the retry pass tried again.",
            ),
            observation(
                "retry_timeout_ms",
                "Connect timeout of the retry pass: the full one, or the adaptive one when the device dropped SYNs to more than two full waves of ports (null when nothing was retried).",
            ),
            observation(
                "open_on_retry_count",
                "Ports found open only by the retry pass (slow to accept).",
            ),
            observation(
                "failed_count",
                "Ports whose connect failed locally (not refused, not timed out).",
            ),
            observation("elapsed_ms", "Milliseconds the sweep and its banner grabs took."),
        ],
        rules: &[],
    },
    ActionSpec {
        name: "tls",
        description: "Handshake with each TLS version and record the accepted versions, cipher suites and the certificate.",
        params: &[
            param("port", ParamKind::Port, "Named port or number. Default `https`."),
            OPTIONS,
        ],
        observations: &[
            observation(
                "versions",
                "One entry per version tried: `{version, accepted, cipher_suites, weak_cipher_suites}` (IANA suite names), plus `refused_with` or `error` when not accepted.",
            ),
            observation(
                "certificate",
                "Leaf certificate: `sha256`, `self_signed`, `key_type`, `key_bits`, `signature_algorithm`, `not_before`, `not_after`, `subject_alt_names`; null when none was obtained.",
            ),
            observation(
                "accepted_versions",
                "Names of the versions the server accepted (`TLSv1.2`, `TLSv1.3`…).",
            ),
            observation(
                "weak_suites",
                "Accepted cipher suites considered weak (NULL, EXPORT, RC4, DES/3DES/IDEA, anonymous, MD5 MAC; CBC with SHA-1 MAC in TLS 1.1 or older).",
            ),
            observation(
                "reachable",
                "False when the port refused the connection (then the only observation); true otherwise.",
            ),
            observation(
                "undetermined_versions",
                "Versions whose hellos got no TLS answer (timeout, garbage): neither accepted nor refused.",
            ),
            observation(
                "certificate_error",
                "Why `certificate` is null (no handshake succeeded, anonymous suite only…), else null.",
            ),
            observation(
                "negotiated",
                "What a modern TLS 1.2/1.3 client (rustls) negotiated: `{version, cipher_suite}`, or null.",
            ),
            observation("connections", "TCP connections the audit opened."),
        ],
        rules: &[
            "`options` may set `versions` (list of `SSLv3`, `TLSv1.0`, `TLSv1.1`, `TLSv1.2`, `TLSv1.3`; default all), `concurrency` (1–64, default 8), `certificate` (default true) and `sni`.",
        ],
    },
    ActionSpec {
        name: "ssh",
        description: "Read the SSH banner and key-exchange offer and the authentication methods; no password is sent (password logins are `login` with `surface = \"ssh\"`).",
        params: &[
            param("port", ParamKind::Port, "Named port or number. Default `ssh`."),
            OPTIONS,
        ],
        observations: &[
            observation("banner", "The server's identification line (`SSH-2.0-…`)."),
            observation("kex", "Key-exchange algorithms, in the server's order."),
            observation("host_key", "Host-key algorithms, in the server's order."),
            observation("ciphers", "Ciphers (server-to-client), in the server's order."),
            observation("macs", "MACs (server-to-client), in the server's order."),
            observation("compression", "Compression methods (server-to-client)."),
            observation(
                "auth_methods",
                "Authentication methods the server offers (`publickey`, `password`…).",
            ),
            observation(
                "password_methods_offered",
                "The offered methods that take a password: `password`, `keyboard-interactive`, or `[]` when none is (then SSH logins still try `password`, and its refusal shows no password login exists); null without a session.",
            ),
            observation(
                "weak",
                "Offered algorithms considered weak (e.g. `diffie-hellman-group1-sha1`, `ssh-dss`, CBC ciphers, `hmac-md5`).",
            ),
            observation(
                "reachable",
                "False when the port refused the connection (then no other observation is present), else true.",
            ),
            observation(
                "ciphers_c2s",
                "Ciphers client-to-server, in the server's order; present only when they differ from `ciphers`.",
            ),
            observation(
                "macs_c2s",
                "MACs client-to-server, in the server's order; present only when they differ from `macs`.",
            ),
            observation(
                "compression_c2s",
                "Compression client-to-server; present only when it differs from `compression`.",
            ),
            observation(
                "weak_detail",
                "The weak algorithms with why: list of `{algorithm, kind, reason}` (`kind`: `kex`, `host_key`, `cipher`, `mac`).",
            ),
            observation(
                "strict_kex",
                "True when the offer includes OpenSSH strict key exchange (`kex-strict-s-v00@openssh.com`, the Terrapin fix).",
            ),
            observation(
                "terrapin_vulnerable",
                "True when ChaCha20-Poly1305, or a CBC cipher with an `-etm` MAC, is offered without strict key exchange (CVE-2023-48795).",
            ),
            observation(
                "host_key_fingerprint",
                "SHA-256 fingerprint of the host key the audit session received (`SHA256:…`); null without a session.",
            ),
            observation(
                "negotiated",
                "What the audit session agreed on: `{kex, host_key, cipher, mac}`; null without a session.",
            ),
            observation(
                "none_accepted",
                "True when the server let the `none` method in: a login without any credential.",
            ),
            observation(
                "pre_banner",
                "Lines the server sent before its identification line; present only when there were some.",
            ),
            observation(
                "session_error",
                "Why the audit session (methods) could not be set up, e.g. no algorithm in common; absent when it worked.",
            ),
        ],
        rules: &["`options` may set `user` (user name for the `none` request that lists the methods; default `root`)."],
    },
    ActionSpec {
        name: "rtsp",
        description: "Probe RTSP: the authentication schemes offered and which stream paths are served, with or without credentials.",
        params: &[
            param("port", ParamKind::Port, "Named port or number. Default `rtsp`."),
            param(
                "paths",
                ParamKind::RtspPaths,
                "Paths to DESCRIBE: a list (of paths starting with `/`, `profile` or `dictionary:<stem>` items), `profile` (the profile's `[rtsp] paths`) or `dictionary:<stem>`. Default: the profile's paths, then `dictionary:rtsp-paths`.",
            ),
            param(
                "credentials",
                ParamKind::Credentials,
                "One credential (`none`, `target`, `wrong-password`, `unknown-user`): paths refused anonymously are asked again with it, and Basic is tried with it when offered. Default `target`.",
            ),
        ],
        observations: &[
            observation(
                "reachable",
                "False when the port refused the connection (then only `error` is set).",
            ),
            observation(
                "auth",
                "Schemes demanded: list of `none` (something was served anonymously), `basic`, `digest-md5`, `digest-sha256`…, in the order first seen.",
            ),
            observation(
                "routes",
                "Paths that exist: `{path, status, authenticated_status}` for each answered 2xx, or 401/403 even with the credential.",
            ),
            observation(
                "open_routes",
                "Paths served without authentication (2xx to an anonymous DESCRIBE).",
            ),
            observation(
                "basic_offered",
                "True when a 401 challenged with Basic (a client would send the password readable).",
            ),
            observation(
                "basic_accepted",
                "True when the credential sent with Basic passed authentication, false when refused; null when not tried (Basic not offered, no credential).",
            ),
            observation(
                "accepts_any_path",
                "True when a random, non-existent path was answered 2xx (so `routes` proves nothing).",
            ),
            observation(
                "random_path",
                "The random path asked first: `{path, status, authenticated_status}` (401 then 404 marks a camera that checks credentials before paths).",
            ),
            observation("server", "The `Server` header, escaped; null when none was sent."),
            observation(
                "public",
                "Methods listed in the OPTIONS response's `Public` header, in order.",
            ),
            observation(
                "options_status",
                "Status of the anonymous OPTIONS request, or null when it failed.",
            ),
            observation(
                "challenges",
                "The distinct challenges seen: `{label, scheme, realm, algorithm, qop, stale, params}`.",
            ),
            observation("paths_tried", "Number of distinct candidate paths asked."),
            observation(
                "errors",
                "Requests that failed (timeout, closed, garbage): `{path, error}`, `*` for OPTIONS.",
            ),
            observation(
                "nonconforming_responses",
                "Responses only the lenient reader could parse (bare LF, no reason phrase, non-UTF-8 headers).",
            ),
            observation(
                "credential",
                "The credential used: `anonymous`, `user:password` for public ones, `user:[REDACTED]` for the target's.",
            ),
            observation("port", "The TCP port probed."),
            observation("elapsed_ms", "Milliseconds the whole probe took."),
            observation(
                "error",
                "Why the port could not be reached (only with `reachable = false`).",
            ),
        ],
        rules: &[
            "Many cameras answer 401 before 404 for any path; with a credential each 401 is asked again, and a 404 then means absent.",
        ],
    },
    ActionSpec {
        name: "telnet",
        description: "Check whether a telnet service answers and what it prints before a login, refusing its options and never typing anything.",
        params: &[param(
            "port",
            ParamKind::Port,
            "Named port or number. Default: the `telnet` port when the target or profile binds one, else 23.",
        )],
        observations: &[
            observation(
                "open",
                "True when the port accepted a connection (false when refused, filtered or unreachable).",
            ),
            observation(
                "prompt",
                "Text the service printed (negotiation removed), line ends as newlines, other non-printable bytes and `\\` as `\\xNN`, trimmed, at most 1024 characters; null when none.",
            ),
            observation(
                "prompt_kind",
                "What the last line asks for: `login`, `password`, `shell` (a command prompt with no login), `other`; null without a prompt.",
            ),
            observation(
                "negotiation",
                "Option commands the server sent, in order without repeats (`DO TERMINAL-TYPE`, `WILL ECHO`…).",
            ),
            observation(
                "telnet_protocol",
                "True when the server sent Telnet IAC commands (a real telnetd, not a raw console).",
            ),
            observation(
                "closed_by_server",
                "True when the server closed the connection by itself.",
            ),
            observation(
                "truncated",
                "True when reading stopped at the 16 KiB bound (an endless banner).",
            ),
            observation("bytes_received", "Raw bytes received, negotiation included."),
            observation("port", "The TCP port probed."),
            observation("elapsed_ms", "Milliseconds the probe took."),
            observation("error", "Why the port could not be reached (only with `open = false`)."),
        ],
        rules: &[],
    },
    ActionSpec {
        name: "onvif",
        description: "Call an ONVIF device-service operation (SOAP) and record whether it answered, faulted or refused; or sweep the read operations anonymously.",
        params: &[
            required(
                "op",
                ParamKind::OnvifOperation,
                "ONVIF operation name, e.g. `GetDeviceInformation`, `GetUsers`; or `sweep` for the anonymous read sweep.",
            ),
            param(
                "credentials",
                ParamKind::Credentials,
                "One credential: `none`, `target`, `wrong-password` or `unknown-user`. Default `target` when `auth` is `digest` or `usernametoken`, else `none` (anonymous).",
            ),
            param(
                "auth",
                ParamKind::OnvifAuth,
                "`digest` (HTTP digest), `usernametoken` (WS-Security) or `none`. Default `digest` when credentials are given.",
            ),
            param(
                "port",
                ParamKind::Port,
                "Named port or number serving `/onvif/device_service`. Default `http`.",
            ),
            OPTIONS,
        ],
        observations: &[
            observation("status", "HTTP status code of the response."),
            observation(
                "fault",
                "SOAP fault subcode (`ter:NotAuthorized`…), or null when the call succeeded.",
            ),
            observation(
                "anonymous_allowed",
                "True when the operation returned data without credentials; with `op = \"sweep\"`, the list of operations that did.",
            ),
            observation(
                "access_class",
                "The operation's ONVIF access class (`PRE_AUTH`, `READ_SYSTEM`, `READ_SYSTEM_SECRET`, `WRITE_SYSTEM`, `UNRECOVERABLE`…).",
            ),
            observation(
                "outcome",
                "`answered`, `refused` (401/403 or `NotAuthorized`), `fault`, `not_soap` or `http_error`.",
            ),
            observation(
                "answered",
                "True when the device returned a non-fault SOAP answer (HTTP 200).",
            ),
            observation("fault_code", "SOAP fault code (`env:Sender`, `env:Receiver`), or null."),
            observation("fault_reason", "SOAP fault reason text (bounded), or null."),
            observation(
                "auth",
                "What the device demanded: challenge labels (`digest-sha256`, `digest-md5`, `basic`), `usernametoken` for a `NotAuthorized` fault, `none` when it answered anonymously.",
            ),
            observation(
                "auth_used",
                "Scheme whose credentials were sent (`digest-md5`, `digest-sha256`, `usernametoken`), or null.",
            ),
            observation(
                "credential",
                "The credential sent: `anonymous`, `user:password` for public ones, `user:[REDACTED]` for the target's.",
            ),
            observation(
                "device_information",
                "GetDeviceInformation fields (`Manufacturer`, `Model`, `FirmwareVersion`, `SerialNumber`, `HardwareId`) when it answered, else null.",
            ),
            observation(
                "violations",
                "Sweep: non-PRE_AUTH operations answered anonymously (each breaks the ONVIF default access policy).",
            ),
            observation(
                "operations",
                "Sweep: per-operation objects `{operation, access_class, status, outcome, fault, anonymous_allowed, error}`.",
            ),
            observation(
                "pre_auth_refused",
                "Sweep: PRE_AUTH operations refused anonymously (clients cannot read the clock before authenticating).",
            ),
            observation(
                "anonymous_refusal",
                "Sweep: how protected operations refused anonymous calls: `http-401`, `soap-not-authorized`, `mixed`, or null.",
            ),
            observation(
                "refusals_conformant",
                "Sweep: every refusal was 401 with a Digest challenge or 400 with `ter:NotAuthorized`, as ONVIF Core requires.",
            ),
            observation(
                "device_time",
                "Sweep: the device clock from GetSystemDateAndTime, `{utc, skew_s}`, or null.",
            ),
            observation(
                "authenticated",
                "Sweep with credentials: the GetDeviceInformation call made with them (same fields as a single call).",
            ),
            observation(
                "token_checks",
                "With `options.token_checks`: outcomes of a valid, a replayed, a stale and a nonce-less UsernameToken, and `findings` (weak tokens accepted).",
            ),
            observation(
                "anonymous_faults",
                "Sweep: protected operations that reached their handler anonymously and faulted on something other than authorisation.",
            ),
            observation("errors", "Sweep: how many calls failed in transport."),
            observation(
                "aborted",
                "Sweep: why it stopped early after repeated transport failures; null when it ran to the end.",
            ),
            observation(
                "auth_mode",
                "Call: `digest` or `usernametoken`, how the credentials went out.",
            ),
        ],
        rules: &[
            "UNRECOVERABLE operations (and `options.include_unrecoverable`) need `--allow-destructive`; a sweep sends reads only unless `options.include_write` is true.",
            "`options.arguments` replaces the request content inside the operation element; `options.path` replaces `/onvif/device_service`.",
        ],
    },
    ActionSpec {
        name: "password-policy",
        description: "Create temporary users (`hq` + 8 random hex digits) through the profile's `create-user` operation with weak passwords derived from the rule, then with one compliant control password, deleting every user at once through `delete-user`.",
        params: &[param(
            "options",
            ParamKind::Options,
            "The rule to test: `min_length` (1–64, default 8), `required_classes` (list of `upper`, `lower`, `digit`, `special`; default all four), `login_check` (log in as the control user through `login-check`; default true). Templates allowed.",
        )],
        observations: &[
            observation("policy", "The rule tested: `{min_length, required_classes}`."),
            observation(
                "candidates",
                "One object per weak candidate, in order: `{user, password, rules, outcome, status, deleted, error}`; `outcome` is `accepted`, `rejected` or `unknown`, `rules` the parts of the rule the password breaks (`too-short`, `no-upper`, `no-lower`, `no-digit`, `no-special`, plus `is-user-name`, `common-password`).",
            ),
            observation(
                "weak_accepted",
                "Weak candidates the device accepted, as `password (rules)`: each is a user created with a password the rule forbids.",
            ),
            observation(
                "weak_rejected",
                "Weak candidates refused by the op's `rejected` classifier (the weak-password refusal).",
            ),
            observation(
                "weak_unknown",
                "Weak candidates whose answer no classifier recognised, or that got no answer.",
            ),
            observation(
                "control_accepted",
                "True when the compliant random control password was accepted (the device can create users this way at all).",
            ),
            observation(
                "control_status",
                "HTTP status of the control creation, or null when it got no answer.",
            ),
            observation(
                "control_login",
                "True when the control user could log in through `login-check`, false when refused; null when not checked or unclear.",
            ),
            observation(
                "leftover_users",
                "Users that were created but whose deletion was not confirmed: remove them on the device.",
            ),
            observation(
                "unconfirmed_users",
                "Users whose creation answer was unclear and whose deletion was not confirmed: they may exist; check the device's user list.",
            ),
            observation(
                "completed",
                "False when the step stopped early because the device stopped answering.",
            ),
            observation("errors", "Transport failures, as `user: error`."),
        ],
        rules: &[
            "Needs the profile operations `create-user` (with `${user.name}` and `${user.password}`, and a `rejected` classifier for the weak-password refusal) and `delete-user` (with `${user.name}`, or `${user.id}` read by `create-user`'s `created_id`). Values are URL-encoded in paths and escaped for XML, JSON or form bodies.",
            "Every user the device may have created is deleted at once, and retried once at the end; the control password is random and redacted from the evidence, the weak candidates are public test values and recorded.",
            "Candidates: one character too short; exactly `min_length` long but missing one required class (one candidate per class); the user name itself; `password1`. Only candidates the rule forbids are sent.",
        ],
    },
    ActionSpec {
        name: "web-surface",
        description: "Ask the HTTP and the HTTPS port for the profile's login check (else `identity`, else `/`) without credentials, following no redirect, and report what each did and which one serves the web API (as the runner's own discovery does before the first web step).",
        params: &[],
        observations: &[
            observation(
                "preference",
                "The target file's `[connection] web`: `auto`, `http` or `https`.",
            ),
            observation(
                "http",
                "The HTTP port's answer: `{scheme, port, state, status, location, redirect_same_host, challenge_schemes, certificate_sha256, error}`; `state` is `closed` (refused, or no port bound), `challenges` (401), `answers` (any other answer of its own, a redirect to a page on the same port included), `redirects-to-https`, `redirects-elsewhere`, `tls-failed`, `no-answer` or `error`.",
            ),
            observation("https", "The HTTPS port's answer, in the same form."),
            observation(
                "followed",
                "Further ports asked because a redirect named them (same host only, at most 3).",
            ),
            observation("found", "True when a port that serves the web API was found."),
            observation(
                "chosen",
                "The surface chosen: `{scheme, port, reason, certificate_sha256}`, or null.",
            ),
            observation("reason", "Why that surface, or why none was found, in one sentence."),
        ],
        rules: &[
            "A redirect to another host is never followed; the profile's HTTPS port on the target's host is asked instead.",
            "Every other web step (`http`, `login`/`recover` on the `http` surface, `onvif`, `password-policy`) without a `port` of its own runs on the surface the runner discovers the same way once per run, and reports it as `web_surface`.",
        ],
    },
    ActionSpec {
        name: "firmware",
        description: "Read the report of the firmware image scanned once for the run (`hopquy run --firmware IMAGE`, as `hopquy firmware scan`; see docs/firmware.md) and summarise its findings. Nothing is sent to the device.",
        params: &[],
        observations: &[
            observation(
                "image_given",
                "True when the run was given a firmware image; false otherwise, and then every other observation is null.",
            ),
            observation(
                "image",
                "The image scanned: `{name, sha256, size, entropy}` (name without directories).",
            ),
            observation(
                "searched",
                "True when at least one file system or archive in the image was unpacked and walked, so an absent finding means something.",
            ),
            observation(
                "inconclusive",
                "Why the image could not be searched (nothing unpacked: encrypted or opaque, with its entropy), else null.",
            ),
            observation(
                "limits_hit",
                "Number of scan bounds reached: what lies behind them was not analysed.",
            ),
            observation(
                "private_keys",
                "`{count, fingerprints, paths}`: private keys in the image; fingerprints are SHA-256 of the public key (or of the key's DER), never key material.",
            ),
            observation(
                "default_credentials",
                "`{count, accounts}`: accounts whose password hash verifies a pair of a credential dictionary, each `{user, dictionary, path}`; the password is never shown.",
            ),
            observation(
                "fixed_accounts",
                "`{count, accounts}`: every other account with a password hash (the same on every unit), each `{user, path}`.",
            ),
            observation(
                "empty_passwords",
                "`{count, accounts}`: accounts with an empty password field, each `{user, path}`.",
            ),
            observation(
                "hardcoded_secrets",
                "`{count, paths}`: passwords, tokens and keys written in boot scripts and configuration files.",
            ),
            observation(
                "debug_services",
                "`{count, services}`: Telnet, a serial-console getty or shell, or an SSH server started at boot, each `{path, title, clauses}`.",
            ),
            observation(
                "eol_components",
                "`{count, components}`: components past their maintainer's end of life, as `NAME VERSION` (from the finding's title).",
            ),
            observation(
                "update_integrity",
                "`signed`, `crc_only`, `none_found` or `unknown` (opaque image): what protects the image as an update; presence only, not validity.",
            ),
            observation(
                "update_integrity_evidence",
                "What the update-integrity verdict rests on: one line per signature, checksum or container recognised (docs/firmware.md lists them).",
            ),
            observation(
                "components",
                "`{count, components}`: the components whose version the scan recognised, as `NAME VERSION` (the SBOM's inventory).",
            ),
            observation(
                "vulndb_given",
                "True when the run was given an offline OSV database (`--vulndb`) to match the components against.",
            ),
            observation(
                "vulnerabilities",
                "`{count, items, database}`: known vulnerabilities matched by version, each `{id, aliases, component, version, fixed}`, and the database's `{name, sha256, files}`; null without `--vulndb`.",
            ),
        ],
        rules: &[
            "The image is scanned once before the run, with the suite's credential dictionaries; its report and SBOM are in the bundle under `firmware/` and every `firmware` step of the run reads the same report.",
            "Cases should first expect `image_given = true` and `searched = true` (otherwise `inconclusive`): a run without an image, or with one that could not be unpacked, proves nothing either way.",
        ],
    },
    ActionSpec {
        name: "operator",
        description: "Ask the person at the bench to act or observe (factory reset, power cycle, read a label) and record the answer.",
        params: &[
            required("prompt", ParamKind::Text, "Instruction in English."),
            required("prompt_vi", ParamKind::Text, "Instruction in Vietnamese."),
            required(
                "answer",
                ParamKind::Answer,
                "Kind of answer expected: `confirm`, `yes-no`, `text` or `attachment`.",
            ),
            param(
                "destructive",
                ParamKind::Bool,
                "The instruction changes the device irreversibly (needs `--allow-destructive`; the case's `effect` must be `destructive`).",
            ),
        ],
        observations: &[
            observation(
                "answered",
                "True when an answer was given (false when run non-interactively without an answers file).",
            ),
            observation(
                "answer",
                "The answer: `yes`/`no` for yes-no, `done` for confirm, the text for text, the file name for attachment.",
            ),
            observation("attachments", "Files attached (names inside the bundle)."),
        ],
        rules: &[],
    },
    ActionSpec {
        name: "document",
        description: "Ask for a document (IXIT, manual, policy) to be reviewed and attached.",
        params: &[
            required("prompt", ParamKind::Text, "What to review and attach, in English."),
            required(
                "prompt_vi",
                ParamKind::Text,
                "What to review and attach, in Vietnamese.",
            ),
            param(
                "answer",
                ParamKind::Answer,
                "Kind of answer expected. Default `attachment`.",
            ),
        ],
        observations: &[
            observation("answered", "True when an answer was given."),
            observation(
                "answer",
                "The answer (the file name for attachment, the text, or yes/no).",
            ),
            observation("attachments", "Files attached (names inside the bundle)."),
        ],
        rules: &[],
    },
];

/// The action called `name`.
pub fn action(name: &str) -> Option<&'static ActionSpec> {
    ACTIONS.iter().find(|spec| spec.name == name)
}

/// Actions that accept `key` as a parameter, for "belongs to action …" hints.
pub fn actions_accepting(key: &str) -> Vec<&'static str> {
    ACTIONS
        .iter()
        .filter(|spec| spec.params.iter().any(|param| param.name == key))
        .map(|spec| spec.name)
        .collect()
}

/// Every key any step may carry (the union over actions).
pub fn all_step_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = COMMON_KEYS.iter().map(|param| param.name).collect();
    for spec in ACTIONS {
        for param in spec.params {
            if !keys.contains(&param.name) {
                keys.push(param.name);
            }
        }
    }
    keys
}

/// Words authors reach for that the format spells differently.
const ALIASES: &[(&str, &str)] = &[
    ("attempts", "repeat"),
    ("count", "repeat"),
    ("times", "repeat"),
    ("retries", "repeat"),
    ("sleep", "seconds"),
    ("duration", "seconds"),
    ("delay_ms", "interval_ms"),
    ("url", "path"),
    ("uri", "path"),
    ("user", "credentials"),
    ("username", "credentials"),
    ("password", "credentials"),
    ("operation", "op"),
    ("type", "action"),
    ("name", "id"),
    ("assert", "expect"),
    ("expects", "expect"),
];

/// A hint for a key that is a known alias, or a near-typo of one.
pub fn alias_hint(key: &str) -> Option<String> {
    let (alias, canonical) = ALIASES.iter().find(|(alias, _)| *alias == key).or_else(|| {
        let close = crate::error::did_you_mean(key, ALIASES.iter().map(|(alias, _)| *alias))?;
        ALIASES.iter().find(|(alias, _)| *alias == close)
    })?;
    Some(format!(
        "did you mean `{canonical}`? (`{alias}` is written `{canonical}` in case files)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_param_is_a_step_field() {
        // The flat StepFile struct must be able to hold every parameter the table allows, or the
        // validator would accept keys that serde then rejects (or the reverse).
        let schema = schemars::schema_for!(crate::model::StepFile);
        let value = serde_json::to_value(&schema).unwrap_or_default();
        let properties = value
            .get("properties")
            .and_then(|properties| properties.as_object())
            .cloned()
            .unwrap_or_default();
        let mut fields: Vec<&str> = properties.keys().map(String::as_str).collect();
        fields.sort_unstable();
        let mut keys = all_step_keys();
        keys.sort_unstable();
        assert_eq!(keys, fields);
    }

    #[test]
    fn names_are_unique() {
        for (index, spec) in ACTIONS.iter().enumerate() {
            assert!(ACTIONS[index + 1..].iter().all(|other| other.name != spec.name));
            let keys: Vec<&str> = spec.allowed_keys().collect();
            for (position, key) in keys.iter().enumerate() {
                assert!(!keys[position + 1..].contains(key), "{} lists {key} twice", spec.name);
            }
            for (position, observation) in spec.observations.iter().enumerate() {
                assert!(
                    spec.observations[position + 1..]
                        .iter()
                        .all(|other| other.name != observation.name),
                    "{} lists observation {} twice",
                    spec.name,
                    observation.name
                );
            }
        }
    }

    #[test]
    fn alias_hint_maps_attempts_to_repeat() {
        let hint = alias_hint("atempts").unwrap_or_default();
        assert!(hint.contains("`repeat`"), "{hint}");
        assert_eq!(alias_hint("zzzzzz"), None);
    }
}
