//! The step actions a case may use: their parameters and the observations they produce.
//!
//! This table is the contract between case authors, the validator, the runner and the probes.
//! `cargo xtask codegen` renders it into docs/case-reference.md, so every description here is
//! user documentation: keep it one precise line.

pub use crate::observations::ObservationSpec;
use crate::observations::*;

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
    /// A request-target sent byte for byte: 1–2048 bytes, no space or control byte, no `://`.
    RequestTarget,
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
    /// A regular expression with at least one capture group (what the groups match is a secret).
    SecretPattern,
    /// `confirm`, `yes-no`, `text` or `attachment`.
    Answer,
    /// `snapshot`, `cut` or `restore`.
    LabNetOp,
    /// Seconds from 0 to 600 (or a whole-value template).
    LabNetWait,
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

#[derive(Debug, Clone, Copy)]
pub struct ActionSpec {
    pub name: &'static str,
    pub description: &'static str,
    /// Parameters beyond the keys every step accepts ([`COMMON_KEYS`]).
    pub params: &'static [ParamSpec],
    /// The fields of the action's observation struct, in declaration order.
    pub observations: &'static [ObservationSpec],
    /// That struct's JSON Schema (docs/schemas/observations/, and the test that holds every
    /// step's observations to it).
    pub observation_schema: fn() -> schemars::Schema,
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
const REQUEST_TARGET: ParamSpec = param(
    "request_target",
    ParamKind::RequestTarget,
    "A request-target sent to the device byte for byte, instead of `op` and `path` (`../../etc/passwd`: what a path would lose to URL normalisation); 1–2048 bytes, no space or control byte, no `://`. Anonymous only.",
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
            REQUEST_TARGET,
            PORT_HTTP,
            AUTH,
            CREDENTIALS,
            HEADERS,
            BODY,
            REPEAT,
            FRESH_CONNECTION,
            INTERVAL_MS,
            param(
                "redact",
                ParamKind::SecretPattern,
                "A regular expression whose capture groups match secrets the answer carries (a disclosure bug's proof: the device's passwords); each is replaced by `[REDACTED]` before the answer is recorded, observed or judged. Write groups that stop at the end of the answer (`((?:[^\"\\\\]|\\\\.)*)`), so a cut answer leaks nothing either.",
            ),
        ],
        observations: HttpObservations::SPECS,
        observation_schema: <HttpObservations as Observations>::schema,
        rules: &[
            "Give `op` (a profile operation) or `path` (a raw request); with `op`, a step's `method`, `path` and `body` override the operation's.",
            "`request_target` replaces both `op` and `path`: it takes no `op`, `path` or `body`, `auth` absent or `none`, `credentials` absent or `none`, and no `Host`, `Connection`, framing or authorization header. Its request goes on a connection of its own, recorded byte for byte.",
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
                "Credential set: `target`, `wrong-password`, `unknown-user`, `none`, `factory-default` (the profile's documented `factory_default` pairs; `login` only) or `dictionary:<file stem in test-cases/data>`.",
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
        observations: LoginObservations::SPECS,
        observation_schema: <LoginObservations as Observations>::schema,
        rules: &[
            "`surface = \"http\"` (default): the op must define `accepted`/`rejected` classifiers in the profile, or every attempt is `unknown`.",
            "`surface = \"rtsp\"`: DESCRIBE, one fresh connection per attempt (an anonymous request for the challenge, then Digest; Basic only when Digest is not offered). 2xx (or 404 after authentication: the path was looked up only after the credentials passed) is `accepted`, 401 `rejected`, the profile's `[rtsp] locked` classifier `locked`, anything else `unknown`.",
            "`surface = \"onvif\"`: calls `op` (default: `GetUsers`, else `GetDeviceInformation`, whichever refuses an anonymous call) with `auth = \"digest\"` (default) or `\"usernametoken\"`. An answer is `accepted`; 401/403 or `NotAuthorized` `rejected`; a digest attempt the device never challenged is `unknown` (the credential was not sent).",
            "`surface = \"telnet\"`: answers `login:` and `Password:` on a fresh connection and reads what follows: a shell prompt is `accepted`, `incorrect`/`denied`/`failed` or another login prompt `rejected`, anything else `unknown`.",
            "`surface = \"ssh\"`: one password login per fresh connection, with the `password` method when the server lists it for the user, else `keyboard-interactive` (the password typed into its password prompt). USERAUTH_SUCCESS (or a partial success: the password was right) is `accepted`, USERAUTH_FAILURE `rejected`, no answer or a prompt that is not a password question `unknown`. SSH has no lock signal: a locked account reads `rejected`, never `locked`.",
            "With `credentials = \"wrong-password\"` and `repeat`, each attempt uses a different random password.",
            "`credentials = \"factory-default\"`: each of the profile's `factory_default` pairs (at most 2) once, never more attempts than the lockout threshold minus 2 (`params.attempts`, else the declared `lockout.attempts`, else Decision 724's 5), stopping at the first accepted; `pacing` says the threshold and the limit. A profile without pairs makes the step not applicable.",
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
        observations: RecoverObservations::SPECS,
        observation_schema: <RecoverObservations as Observations>::schema,
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
        observations: WaitObservations::SPECS,
        observation_schema: <WaitObservations as Observations>::schema,
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
        observations: PortsObservations::SPECS,
        observation_schema: <PortsObservations as Observations>::schema,
        rules: &[],
    },
    ActionSpec {
        name: "tls",
        description: "Handshake with each TLS version and record the accepted versions, cipher suites and the certificate.",
        params: &[
            param("port", ParamKind::Port, "Named port or number. Default `https`."),
            OPTIONS,
        ],
        observations: TlsObservations::SPECS,
        observation_schema: <TlsObservations as Observations>::schema,
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
        observations: SshObservations::SPECS,
        observation_schema: <SshObservations as Observations>::schema,
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
        observations: RtspObservations::SPECS,
        observation_schema: <RtspObservations as Observations>::schema,
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
        observations: TelnetObservations::SPECS,
        observation_schema: <TelnetObservations as Observations>::schema,
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
        observations: OnvifObservations::SPECS,
        observation_schema: <OnvifObservations as Observations>::schema,
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
        observations: PasswordPolicyObservations::SPECS,
        observation_schema: <PasswordPolicyObservations as Observations>::schema,
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
        observations: WebSurfaceObservations::SPECS,
        observation_schema: <WebSurfaceObservations as Observations>::schema,
        rules: &[
            "A redirect to another host is never followed; the profile's HTTPS port on the target's host is asked instead.",
            "Every other web step (`http`, `login`/`recover` on the `http` surface, `onvif`, `password-policy`) without a `port` of its own runs on the surface the runner discovers the same way once per run, and reports it as `web_surface`.",
        ],
    },
    ActionSpec {
        name: "firmware",
        description: "Read the report of the firmware image scanned once for the run (`hopquy run --firmware IMAGE`, as `hopquy firmware scan`; see docs/firmware.md) and summarise its findings. Nothing is sent to the device.",
        params: &[],
        observations: FirmwareObservations::SPECS,
        observation_schema: <FirmwareObservations as Observations>::schema,
        rules: &[
            "The image is scanned once before the run, with the suite's credential dictionaries; its report and SBOM are in the bundle under `firmware/` and every `firmware` step of the run reads the same report.",
            "Cases should first expect `image_given = true` and `searched = true` (otherwise `inconclusive`): a run without an image, or with one that could not be unpacked, proves nothing either way.",
        ],
    },
    ActionSpec {
        name: "lab-net",
        description: "Act on the camera's own network (`hopquy run --lab-net IFACE`; see docs/lab-network.md): read its record so far, cut the uplink or restore it; then judge what the camera sent against the target file's `[declared] destinations`. Nothing is sent to the device.",
        params: &[
            required(
                "op",
                ParamKind::LabNetOp,
                "`snapshot` (read the record), `cut` (cut the uplink: DNS unanswered, connections reset) or `restore` (end the outage). Every op reads the record afterwards.",
            ),
            param(
                "wait_s",
                ParamKind::LabNetWait,
                "Seconds to let pass after the op before the record is read (0–600, default 0): how long the camera has to reconnect after `restore`.",
            ),
            param(
                "recorded_s",
                ParamKind::LabNetWait,
                "Before the record is read (after `wait_s`), wait until the lab network has been up at least this many seconds (0–600): a snapshot then covers the camera's first contacts however early in the run the step comes.",
            ),
        ],
        observations: LabNetObservations::SPECS,
        observation_schema: <LabNetObservations as Observations>::schema,
        rules: &[
            "Without `--lab-net` the step still succeeds with `lab_net_given = false` and every other observation null: cases expect `lab_net_given = true` first (`otherwise = \"inconclusive\"`, `cause = \"no-lab-network\"`).",
            "A destination is a name the camera asked (DNS), or the address of a flow it opened that no asked name explains (a hard-coded address); hopquy's own probes, DHCP and the lab's DNS server are not destinations. A name is declared when a `host` equals it (or `*.` a suffix of it); an address when a `network` contains it.",
            "Countries: a declared destination's `country`; an address's from the lab's GeoIP file (`hopquy run --geoip FILE`, CSV `network,country`), the most specific network winning. A name no declaration covers has no known country (sinkhole mode resolves every name to hopquy).",
            "Values are never observed: cleartext flows and credentials are reported by protocol, destination and kind only.",
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
        observations: AnswerObservations::SPECS,
        observation_schema: <AnswerObservations as Observations>::schema,
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
        observations: AnswerObservations::SPECS,
        observation_schema: <AnswerObservations as Observations>::schema,
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
