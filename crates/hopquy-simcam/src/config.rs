//! What a simulated camera is: its flaws (each a switch), the named personalities that
//! combine them, and the per-instance configuration (address, ports, account, identity).

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use rand::RngExt;
use rand::seq::{IndexedRandom, SliceRandom};

/// One switchable weakness. Names are kebab-case and stable: case files name them in
/// their `[sim]` fixtures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flaw {
    DefaultPassword,
    InfoDisclosure,
    NoLockout,
    SessionLockout,
    VerboseLoginErrors,
    BasicAuth,
    HttpOnly,
    UnauthConfig,
    TelnetOpen,
    UndeclaredPort,
    VerboseErrors,
    WeakPasswordPolicy,
    LegacyTls,
    RtspNoAuth,
    RtspBasic,
    WeakSsh,
    SshPasswordDefault,
    OnvifAnonymous,
    SharedCertificate,
    RtspNoLockout,
    SshKbdInteractive,
    HttpApi,
    UnsignedFirmware,
    HikCve2017_7921,
    HikCve2021_36260,
    DahuaCve2021_33044,
    DahuaCve2021_33045,
    XmUcHttpd,
    XmCve2017_7577,
    TbkCve2018_9995,
    CatchAll200,
    LoginRedirect,
    DahuaCve2017_7925,
    DahuaCve2017_7925Gen3,
    PhonesHomeUndeclared,
    UplinkCleartextCredential,
    UpdateCheckHttp,
    UplinkTlsNoVerify,
    ReconnectStorm,
    OutageBreaksLocal,
    UplinkStoresAbroad,
}

impl Flaw {
    pub const ALL: &'static [Flaw] = &[
        Flaw::DefaultPassword,
        Flaw::InfoDisclosure,
        Flaw::NoLockout,
        Flaw::SessionLockout,
        Flaw::VerboseLoginErrors,
        Flaw::BasicAuth,
        Flaw::HttpOnly,
        Flaw::UnauthConfig,
        Flaw::TelnetOpen,
        Flaw::UndeclaredPort,
        Flaw::VerboseErrors,
        Flaw::WeakPasswordPolicy,
        Flaw::LegacyTls,
        Flaw::RtspNoAuth,
        Flaw::RtspBasic,
        Flaw::WeakSsh,
        Flaw::SshPasswordDefault,
        Flaw::OnvifAnonymous,
        Flaw::SharedCertificate,
        Flaw::RtspNoLockout,
        Flaw::SshKbdInteractive,
        Flaw::HttpApi,
        Flaw::UnsignedFirmware,
        Flaw::HikCve2017_7921,
        Flaw::HikCve2021_36260,
        Flaw::DahuaCve2021_33044,
        Flaw::DahuaCve2021_33045,
        Flaw::XmUcHttpd,
        Flaw::XmCve2017_7577,
        Flaw::TbkCve2018_9995,
        Flaw::CatchAll200,
        Flaw::LoginRedirect,
        Flaw::DahuaCve2017_7925,
        Flaw::DahuaCve2017_7925Gen3,
        Flaw::PhonesHomeUndeclared,
        Flaw::UplinkCleartextCredential,
        Flaw::UpdateCheckHttp,
        Flaw::UplinkTlsNoVerify,
        Flaw::ReconnectStorm,
        Flaw::OutageBreaksLocal,
        Flaw::UplinkStoresAbroad,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Flaw::DefaultPassword => "default-password",
            Flaw::InfoDisclosure => "info-disclosure",
            Flaw::NoLockout => "no-lockout",
            Flaw::SessionLockout => "session-lockout",
            Flaw::VerboseLoginErrors => "verbose-login-errors",
            Flaw::BasicAuth => "basic-auth",
            Flaw::HttpOnly => "http-only",
            Flaw::UnauthConfig => "unauth-config",
            Flaw::TelnetOpen => "telnet-open",
            Flaw::UndeclaredPort => "undeclared-port",
            Flaw::VerboseErrors => "verbose-errors",
            Flaw::WeakPasswordPolicy => "weak-password-policy",
            Flaw::LegacyTls => "legacy-tls",
            Flaw::RtspNoAuth => "rtsp-no-auth",
            Flaw::RtspBasic => "rtsp-basic",
            Flaw::WeakSsh => "weak-ssh",
            Flaw::SshPasswordDefault => "ssh-password-default",
            Flaw::OnvifAnonymous => "onvif-anonymous",
            Flaw::SharedCertificate => "shared-certificate",
            Flaw::RtspNoLockout => "rtsp-no-lockout",
            Flaw::SshKbdInteractive => "ssh-kbd-interactive",
            Flaw::HttpApi => "http-api",
            Flaw::UnsignedFirmware => "unsigned-firmware",
            Flaw::HikCve2017_7921 => "hik-cve-2017-7921",
            Flaw::HikCve2021_36260 => "hik-cve-2021-36260",
            Flaw::DahuaCve2021_33044 => "dahua-cve-2021-33044",
            Flaw::DahuaCve2021_33045 => "dahua-cve-2021-33045",
            Flaw::XmUcHttpd => "xm-uc-httpd",
            Flaw::XmCve2017_7577 => "xm-cve-2017-7577",
            Flaw::TbkCve2018_9995 => "tbk-cve-2018-9995",
            Flaw::CatchAll200 => "catch-all-200",
            Flaw::LoginRedirect => "login-redirect",
            Flaw::DahuaCve2017_7925 => "dahua-cve-2017-7925",
            Flaw::DahuaCve2017_7925Gen3 => "dahua-cve-2017-7925-gen3",
            Flaw::PhonesHomeUndeclared => "phones-home-undeclared",
            Flaw::UplinkCleartextCredential => "uplink-cleartext-credential",
            Flaw::UpdateCheckHttp => "update-check-http",
            Flaw::UplinkTlsNoVerify => "uplink-tls-no-verify",
            Flaw::ReconnectStorm => "reconnect-storm",
            Flaw::OutageBreaksLocal => "outage-breaks-local",
            Flaw::UplinkStoresAbroad => "uplink-stores-abroad",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Flaw::DefaultPassword => {
                "admin also accepts the factory password 12345 and a hidden service/service account exists (web, ONVIF, RTSP, and Telnet when open)"
            }
            Flaw::InfoDisclosure => {
                "deviceInfo and the user list answer without authentication (no credentials at all)"
            }
            Flaw::NoLockout => "unlimited wrong passwords, no account lock",
            Flaw::SessionLockout => {
                "the failure counter is per TCP connection: a fresh connection per attempt is never locked"
            }
            Flaw::VerboseLoginErrors => "401 bodies tell 'user does not exist' from 'password incorrect'",
            Flaw::BasicAuth => "offers and accepts HTTP Basic authentication, also on cleartext HTTP",
            Flaw::HttpOnly => "no HTTPS listener",
            Flaw::UnauthConfig => "PUT /ISAPI/System/deviceInfo is accepted without authentication",
            Flaw::TelnetOpen => {
                "an undeclared Telnet login prompt is listening (its own accounts: nobody gets in without default-password)"
            }
            Flaw::UndeclaredPort => "a vendor SDK port (Hikvision 8000-like) is open but not declared",
            Flaw::VerboseErrors => "malformed input gets a 500 with a stack trace and internal paths",
            Flaw::WeakPasswordPolicy => "password changes accept any password (no length or character-class rule)",
            Flaw::LegacyTls => {
                "HTTPS also accepts TLS 1.0/1.1 and weak suites (3DES, RC4, CBC-SHA1) with an RSA certificate"
            }
            Flaw::RtspNoAuth => "RTSP streams are described (and would play) without authentication",
            Flaw::RtspBasic => "RTSP also offers and accepts Basic authentication (password readable on the wire)",
            Flaw::WeakSsh => "SSH offers SHA-1 key exchange, CBC ciphers and HMAC-SHA1, with a dropbear 2019 banner",
            Flaw::SshPasswordDefault => "SSH accepts factory root passwords (root/12345, root/xmhdipc)",
            Flaw::OnvifAnonymous => {
                "every ONVIF device-service operation answers without credentials (XM530 pattern, CWE-306)"
            }
            Flaw::SharedCertificate => "the HTTPS key and certificate are fixed and shared by every unit",
            Flaw::RtspNoLockout => {
                "RTSP checks passwords on its own: its failures are not counted and a locked account still streams (a brute-force path around the web lockout)"
            }
            Flaw::HttpApi => {
                "the web API (ISAPI, ONVIF) also answers on cleartext HTTP; without it the HTTP port only redirects to HTTPS and never reads credentials, as current firmware set up by the book does (with http-only there is no HTTPS, so HTTP serves the API)"
            }
            Flaw::UnsignedFirmware => {
                "firmware updates are checked only against the SHA-256 digest carried in the image, not the vendor's signature: anyone who changes an image and recomputes the digest gets it installed"
            }
            Flaw::HikCve2017_7921 => {
                "CVE-2017-7921: a GET carrying the fixed `auth=YWRtaW46MTEK` query parameter (base64 \"admin:11\") is served as admin: user list, deviceInfo, configuration file, snapshot"
            }
            Flaw::HikCve2021_36260 => {
                "CVE-2021-36260: the firmware is a build from before Hikvision's fix (V5.5.800 build 210610), which the device reports in deviceInfo; nothing is executed"
            }
            Flaw::DahuaCve2021_33044 => {
                "CVE-2021-33044: POST /RPC2_Login with clientType NetKeyboard is logged in without a password (without it, /RPC2_Login answers as patched Dahua firmware: a challenge, result false)"
            }
            Flaw::DahuaCve2021_33045 => {
                "CVE-2021-33045: POST /RPC2_Login with loginType Loopback and clientType Local is logged in without a password"
            }
            Flaw::TbkCve2018_9995 => {
                "CVE-2018-9995 (TBK DVR4104/4216 and OEM rebrands): `GET /device.rsp?opt=user&cmd=list` with `Cookie: uid=admin` returns the user list with every password in clear (without the cookie it is refused)"
            }
            Flaw::XmUcHttpd => {
                "the web server announces itself as XiongMai `uc-httpd 1.0.0` (CVE-2017-7577, CVE-2018-10088): only the banner, the bugs themselves are not simulated"
            }
            Flaw::XmCve2017_7577 => {
                "CVE-2017-7577 (XiongMai uc-httpd 1.0.0): a request-target that starts with `../` or `/../` and resolves to `etc/passwd` is answered with a fake /etc/passwd (`Server: uc-httpd 1.0.0`), on HTTP and HTTPS, before any web API or hostile dialect; without it such a target gets hyper's 400 (`../…`) or a 404 (`/../…`)"
            }
            Flaw::CatchAll200 => {
                "hostile dialect: every method and path, over HTTP and HTTPS, is answered 200 with the same login page (nothing else is served)"
            }
            Flaw::LoginRedirect => {
                "hostile dialect: every path, over HTTP and HTTPS, is answered 302 to the login page, which is the only page served"
            }
            Flaw::DahuaCve2017_7925 => {
                "CVE-2017-7925 (Dahua, older generation): `GET /current_config/passwd` returns the account file (`id:name:passwd:groupid:…` lines with each password hash) without authentication (without it the path is absent: 404)"
            }
            Flaw::DahuaCve2017_7925Gen3 => {
                "CVE-2017-7925 (Dahua, newer generation): `GET /current_config/Account1` returns the account database (JSON with `DevInformation` and `Users`, each with its password hash) without authentication (without it the path is absent: 404)"
            }
            Flaw::PhonesHomeUndeclared => {
                "with an uplink (lab network): also contacts a P2P relay its declaration does not name, and a hard-coded address abroad"
            }
            Flaw::UplinkCleartextCredential => {
                "with an uplink: registers with its cloud over plain HTTP, sending the device's cloud password in an Authorization header"
            }
            Flaw::UpdateCheckHttp => "with an uplink: checks for firmware updates over plain HTTP instead of TLS",
            Flaw::UplinkTlsNoVerify => {
                "with an uplink: its TLS client accepts any server certificate, so its cloud, update and telemetry connections go to whoever answers, with the cloud password inside"
            }
            Flaw::ReconnectStorm => {
                "with an uplink: reconnects to its cloud without back-off, several connections at once, however often it fails"
            }
            Flaw::OutageBreaksLocal => {
                "with an uplink: while its cloud is unreachable the local web API and RTSP answer 503 (every login waits for the cloud)"
            }
            Flaw::UplinkStoresAbroad => {
                "with an uplink: set to keep its data in Vietnam, it still uploads its recordings to a cloud-recording service its declaration places in Singapore"
            }
            Flaw::SshKbdInteractive => {
                "SSH takes passwords only through keyboard-interactive (a `Password: ` prompt; the password method is off, as with OpenSSH `PasswordAuthentication no` + PAM): not a weakness, a shape the harness must still log in through"
            }
        }
    }

    /// False for flaws that are declared (they parse and combine) but whose service is
    /// not simulated yet; switching them on changes nothing until that module lands.
    pub fn implemented(self) -> bool {
        // Every declared flaw is simulated now; the question stays for flaws added later.
        let _ = self;
        true
    }
}

impl fmt::Display for Flaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Flaw {
    type Err = SetupError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Flaw::ALL
            .iter()
            .copied()
            .find(|flaw| flaw.name() == s)
            .ok_or_else(|| SetupError::UnknownFlaw {
                given: s.to_string(),
                valid: flaw_names(),
            })
    }
}

/// A named combination of flaws, the starting point of a [`SimSetup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Personality {
    Hardened,
    Legacy,
    DahuaLike,
}

impl Personality {
    pub const ALL: &'static [Personality] = &[Personality::Hardened, Personality::Legacy, Personality::DahuaLike];

    pub fn name(self) -> &'static str {
        match self {
            Personality::Hardened => "hardened",
            Personality::Legacy => "legacy",
            Personality::DahuaLike => "dahua-like",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Personality::Hardened => {
                "no flaws, current firmware's dialect: the HTTP port only redirects to HTTPS, the web API is HTTPS-only with single-use Digest nonces; passes every automated case"
            }
            Personality::Legacy => "every flaw (lockout entirely absent): fails many cases",
            Personality::DahuaLike => "hardened, but the lockout counts failures per TCP connection",
        }
    }

    pub fn flaws(self) -> BTreeSet<Flaw> {
        match self {
            Personality::Hardened => BTreeSet::new(),
            // Legacy has no lockout at all, so the per-connection variant would be moot;
            // keyboard-interactive SSH is a shape, not a weakness, and would only hide the
            // plain password login legacy firmware offers.
            // The hostile dialects replace the whole web API, and uc-httpd (its banner, its
            // traversal) is another vendor's server: neither belongs to an old Hikvision-like firmware.
            Personality::Legacy => Flaw::ALL
                .iter()
                .copied()
                .filter(|flaw| {
                    !matches!(
                        flaw,
                        Flaw::SessionLockout
                            | Flaw::SshKbdInteractive
                            | Flaw::CatchAll200
                            | Flaw::LoginRedirect
                            | Flaw::XmUcHttpd
                            | Flaw::XmCve2017_7577
                            | Flaw::TbkCve2018_9995
                    )
                })
                .collect(),
            Personality::DahuaLike => BTreeSet::from([Flaw::SessionLockout]),
        }
    }

    fn firmware(self) -> (&'static str, &'static str) {
        match self {
            Personality::Hardened => ("V5.7.20 build 240826", "2024-08-26"),
            Personality::Legacy => ("V5.4.0 build 160530", "2016-05-30"),
            Personality::DahuaLike => ("V2.840.0000000.18.R", "2023-11-10"),
        }
    }
}

impl fmt::Display for Personality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a setup string was refused. The messages list the valid names, since the user
/// typed them on a command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error("empty simulator setup; expected personality(+flaw|-flaw)*, personalities: {}", .valid.join(", "))]
    Empty { valid: Vec<&'static str> },
    #[error("unknown personality `{given}`; valid personalities: {}", .valid.join(", "))]
    UnknownPersonality { given: String, valid: Vec<&'static str> },
    #[error("unknown flaw `{given}`; valid flaws: {}", .valid.join(", "))]
    UnknownFlaw { given: String, valid: Vec<&'static str> },
}

fn flaw_names() -> Vec<&'static str> {
    Flaw::ALL.iter().map(|flaw| flaw.name()).collect()
}

fn personality_names() -> Vec<&'static str> {
    Personality::ALL.iter().map(|p| p.name()).collect()
}

/// A personality plus added and removed flaws: `personality(+flaw|-flaw)*`, for example
/// `hardened+no-lockout` or `legacy-telnet-open`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSetup {
    personality: Personality,
    flaws: BTreeSet<Flaw>,
}

impl SimSetup {
    pub fn new(personality: Personality) -> Self {
        SimSetup {
            personality,
            flaws: personality.flaws(),
        }
    }

    pub fn parse(text: &str) -> Result<Self, SetupError> {
        text.parse()
    }

    pub fn with(mut self, flaw: Flaw) -> Self {
        self.flaws.insert(flaw);
        self
    }

    pub fn without(mut self, flaw: Flaw) -> Self {
        self.flaws.remove(&flaw);
        self
    }

    pub fn personality(&self) -> Personality {
        self.personality
    }

    pub fn flaws(&self) -> &BTreeSet<Flaw> {
        &self.flaws
    }

    pub fn has(&self, flaw: Flaw) -> bool {
        self.flaws.contains(&flaw)
    }
}

impl Default for SimSetup {
    fn default() -> Self {
        SimSetup::new(Personality::Hardened)
    }
}

/// Names contain `-`, which is also the removal sign, so a name is matched greedily
/// (longest first) and must end at the end of input or at the next sign.
fn match_name<T: Copy>(input: &str, candidates: &[(&'static str, T)]) -> Option<(T, usize)> {
    let mut sorted: Vec<&(&'static str, T)> = candidates.iter().collect();
    sorted.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    sorted.into_iter().find_map(|(name, value)| {
        let rest = input.strip_prefix(name)?;
        (rest.is_empty() || rest.starts_with(['+', '-'])).then_some((*value, name.len()))
    })
}

fn up_to_plus(input: &str) -> String {
    input.split('+').next().unwrap_or_default().to_string()
}

impl FromStr for SimSetup {
    type Err = SetupError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SetupError::Empty {
                valid: personality_names(),
            });
        }
        let personalities: Vec<(&'static str, Personality)> = Personality::ALL.iter().map(|p| (p.name(), *p)).collect();
        let flaws: Vec<(&'static str, Flaw)> = Flaw::ALL.iter().map(|f| (f.name(), *f)).collect();

        let (personality, used) = match_name(text, &personalities).ok_or_else(|| SetupError::UnknownPersonality {
            given: up_to_plus(text),
            valid: personality_names(),
        })?;
        let mut setup = SimSetup::new(personality);
        let mut rest = &text[used..];
        while let Some(sign) = rest.chars().next() {
            let body = &rest[sign.len_utf8()..];
            let (flaw, used) = match_name(body, &flaws).ok_or_else(|| SetupError::UnknownFlaw {
                given: up_to_plus(body),
                valid: flaw_names(),
            })?;
            setup = if sign == '+' {
                setup.with(flaw)
            } else {
                setup.without(flaw)
            };
            rest = &body[used..];
        }
        Ok(setup)
    }
}

impl fmt::Display for SimSetup {
    /// Canonical form: the personality, then the differences from it in [`Flaw::ALL`] order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.personality.name())?;
        let base = self.personality.flaws();
        for flaw in Flaw::ALL {
            match (base.contains(flaw), self.flaws.contains(flaw)) {
                (false, true) => write!(f, "+{flaw}")?,
                (true, false) => write!(f, "-{flaw}")?,
                _ => {}
            }
        }
        Ok(())
    }
}

/// Decision 724 lockout parameters: `attempts` failures within `window_s` seconds lock the
/// account for `duration_s` seconds. The simulator's defaults are short (an 8 s window, a 4 s
/// lock) so the demo, the tests and a lab's self-check do not wait Decision 724's 30 s and
/// five minutes: dictionary cases pace user names per window and wait one out before they
/// start. The target file declares them as IXIT, so the cases use these values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    pub attempts: u32,
    pub window_s: u32,
    pub duration_s: u32,
}

impl Default for Lockout {
    fn default() -> Self {
        Lockout {
            attempts: 5,
            window_s: 8,
            duration_s: 4,
        }
    }
}

/// What the camera says it is (deviceInfo, the target file's `[device]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    pub vendor: String,
    pub model: String,
    pub firmware: String,
    pub firmware_released: String,
    pub serial: String,
    pub mac: String,
    pub device_id: String,
    pub device_name: String,
}

impl DeviceIdentity {
    /// Random serial, MAC and device ID per instance: cases that compare two units (or a
    /// unit before and after reset) must be able to tell them apart.
    pub fn random(personality: Personality) -> Self {
        let mut rng = rand::rng();
        const SERIAL_CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
        let serial_tail: String = (0..12)
            .map(|_| char::from(*SERIAL_CHARS.choose(&mut rng).unwrap_or(&b'0')))
            .collect();
        let mut mac = [0u8; 6];
        rng.fill(&mut mac[..]);
        // Locally administered, unicast: never collides with a real vendor's OUI.
        mac[0] = (mac[0] | 0x02) & 0xfe;
        let mut id = [0u8; 16];
        rng.fill(&mut id[..]);
        let (firmware, released) = personality.firmware();
        DeviceIdentity {
            vendor: "hopquy-sim".to_string(),
            model: "SIM-CAM-1".to_string(),
            firmware: firmware.to_string(),
            firmware_released: released.to_string(),
            serial: format!("SIMCAM1-{serial_tail}"),
            mac: mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"),
            device_id: format!(
                "{}-{}-{}-{}-{}",
                hex::encode(&id[0..4]),
                hex::encode(&id[4..6]),
                hex::encode(&id[6..8]),
                hex::encode(&id[8..10]),
                hex::encode(&id[10..16])
            ),
            device_name: "IP CAMERA".to_string(),
        }
    }
}

/// Everything needed to start one simulated camera.
#[derive(Clone)]
pub struct SimConfig {
    pub setup: SimSetup,
    /// A loopback address, or any address inside a network namespace other than the host's
    /// (a lab-network test's); [`crate::SimCamera::start`] refuses anything else.
    pub bind: IpAddr,
    /// `None`: every service on an ephemeral port. `Some(base)`: each service on
    /// `base + offset` (offsets in [`crate::ServiceKind::port_offset`]).
    pub fixed_ports: Option<u16>,
    pub admin_user: String,
    /// Strong and random per instance; published only through the target file's env var.
    pub admin_password: String,
    pub lockout: Lockout,
    pub identity: DeviceIdentity,
    /// The camera's own traffic to its cloud, update and telemetry services (`uplink.rs`);
    /// `None` (the default): the camera sends nothing of its own.
    pub uplink: Option<crate::uplink::Uplink>,
}

impl SimConfig {
    pub fn new(setup: SimSetup) -> Self {
        let mut identity = DeviceIdentity::random(setup.personality());
        if setup.has(Flaw::HikCve2021_36260) && !firmware_predates_36260_fix(&identity.firmware) {
            identity.firmware = VULNERABLE_36260_FIRMWARE.0.to_string();
            identity.firmware_released = VULNERABLE_36260_FIRMWARE.1.to_string();
        }
        SimConfig {
            setup,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            fixed_ports: None,
            admin_user: "admin".to_string(),
            admin_password: random_password(),
            lockout: Lockout::default(),
            identity,
            uplink: None,
        }
    }
}

/// A build from before Hikvision's CVE-2021-36260 fix (HSRC-202109-01: fixed builds are dated
/// 210625/210628 and later), for `hik-cve-2021-36260`.
pub const VULNERABLE_36260_FIRMWARE: (&str, &str) = ("V5.5.800 build 210610", "2021-06-10");

/// Whether a firmware string's `build YYMMDD` is older than the fix (legacy's 2016 build is).
fn firmware_predates_36260_fix(firmware: &str) -> bool {
    firmware
        .split("build")
        .nth(1)
        .and_then(|rest| rest.trim().get(..6))
        .and_then(|date| date.parse::<u32>().ok())
        .is_some_and(|date| date < 210_628)
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("setup", &self.setup.to_string())
            .field("bind", &self.bind)
            .field("fixed_ports", &self.fixed_ports)
            .field("admin_user", &self.admin_user)
            .field("admin_password", &"<redacted>")
            .field("lockout", &self.lockout)
            .field("identity", &self.identity)
            .finish()
    }
}

/// 16 characters with at least one upper, lower, digit and special character (Decision 724
/// complexity). Specials are URL-unreserved so the password also works inside an RTSP URL
/// and an unquoted shell assignment.
pub fn random_password() -> String {
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const DIGIT: &[u8] = b"23456789";
    const SPECIAL: &[u8] = b"-_.~";
    let all: Vec<u8> = [UPPER, LOWER, DIGIT, SPECIAL].concat();
    let mut rng = rand::rng();
    let mut chars: Vec<u8> = [UPPER, LOWER, DIGIT, SPECIAL]
        .iter()
        .map(|class| *class.choose(&mut rng).unwrap_or(&b'x'))
        .collect();
    while chars.len() < 16 {
        chars.push(*all.choose(&mut rng).unwrap_or(&b'x'));
    }
    chars.shuffle(&mut rng);
    // A leading '-' could be read as a command-line flag when the password is pasted.
    if let Some(first_letter) = chars.iter().position(|c| c.is_ascii_alphanumeric()) {
        chars.swap(0, first_letter);
    }
    chars.into_iter().map(char::from).collect()
}

/// Decision 724: at least 8 characters with upper case, lower case, a digit and a special
/// character.
pub fn password_is_complex(password: &str) -> bool {
    password.chars().count() >= 8
        && password.chars().any(|c| c.is_uppercase())
        && password.chars().any(|c| c.is_lowercase())
        && password.chars().any(|c| c.is_ascii_digit())
        && password
            .chars()
            .any(|c| !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personalities_parse_to_their_flaw_sets() {
        assert!(SimSetup::parse("hardened").unwrap().flaws().is_empty());
        let legacy = SimSetup::parse("legacy").unwrap();
        assert!(legacy.has(Flaw::NoLockout));
        assert!(legacy.has(Flaw::TelnetOpen));
        assert!(!legacy.has(Flaw::SessionLockout));
        assert!(legacy.has(Flaw::UnsignedFirmware));
        let dahua = SimSetup::parse("dahua-like").unwrap();
        assert_eq!(dahua.flaws(), &BTreeSet::from([Flaw::SessionLockout]));
    }

    #[test]
    fn signs_add_and_remove_flaws_with_dashed_names() {
        let setup = SimSetup::parse("hardened+no-lockout+verbose-login-errors").unwrap();
        assert_eq!(
            setup.flaws(),
            &BTreeSet::from([Flaw::NoLockout, Flaw::VerboseLoginErrors])
        );
        let setup = SimSetup::parse("legacy-telnet-open-http-only").unwrap();
        assert!(!setup.has(Flaw::TelnetOpen));
        assert!(!setup.has(Flaw::HttpOnly));
        assert!(setup.has(Flaw::DefaultPassword));
        let setup = SimSetup::parse("dahua-like-session-lockout+verbose-errors").unwrap();
        assert_eq!(setup.flaws(), &BTreeSet::from([Flaw::VerboseErrors]));
        assert_eq!(setup.personality(), Personality::DahuaLike);
    }

    #[test]
    fn every_flaw_pair_round_trips_through_display() {
        for a in Flaw::ALL {
            for b in Flaw::ALL {
                let setup = SimSetup::new(Personality::Hardened).with(*a).with(*b);
                let text = setup.to_string();
                assert_eq!(SimSetup::parse(&text).unwrap(), setup, "{text}");
                let setup = SimSetup::new(Personality::Legacy).without(*a).without(*b);
                let text = setup.to_string();
                assert_eq!(SimSetup::parse(&text).unwrap(), setup, "{text}");
            }
        }
    }

    #[test]
    fn unknown_names_are_refused_with_the_valid_list() {
        let err = SimSetup::parse("hardened+telnet-opne").unwrap_err();
        assert!(matches!(&err, SetupError::UnknownFlaw { given, .. } if given == "telnet-opne"));
        let message = err.to_string();
        assert!(message.contains("telnet-open"), "{message}");
        assert!(message.contains("no-lockout"), "{message}");

        let err = SimSetup::parse("hardend+no-lockout").unwrap_err();
        assert!(matches!(&err, SetupError::UnknownPersonality { given, .. } if given == "hardend"));
        assert!(err.to_string().contains("dahua-like"));

        assert!(matches!(SimSetup::parse("  "), Err(SetupError::Empty { .. })));
        assert!(SimSetup::parse("hardened+").is_err());
        assert!(SimSetup::parse("hardenedx").is_err());
        assert!(SimSetup::parse("legacy*telnet-open").is_err());
    }

    #[test]
    fn flaw_names_parse_and_display_alike() {
        for flaw in Flaw::ALL {
            assert_eq!(flaw.name().parse::<Flaw>().unwrap(), *flaw);
            assert_eq!(flaw.to_string(), flaw.name());
            assert!(!flaw.description().is_empty());
        }
        assert!("nope".parse::<Flaw>().is_err());
    }

    #[test]
    fn generated_passwords_meet_the_complexity_rule_and_differ() {
        let a = random_password();
        let b = random_password();
        assert_ne!(a, b);
        for password in [a, b] {
            assert_eq!(password.len(), 16);
            assert!(password_is_complex(&password), "{password}");
        }
    }

    #[test]
    fn complexity_rule_needs_every_class_and_eight_characters() {
        assert!(password_is_complex("Abcdef1!"));
        assert!(!password_is_complex("Abcde1!"));
        assert!(!password_is_complex("abcdef1!"));
        assert!(!password_is_complex("ABCDEF1!"));
        assert!(!password_is_complex("Abcdefg!"));
        assert!(!password_is_complex("Abcdefg1"));
        assert!(!password_is_complex("12345"));
    }

    #[test]
    fn config_debug_hides_the_password() {
        let config = SimConfig::new(SimSetup::default());
        let debug = format!("{config:?}");
        assert!(!debug.contains(&config.admin_password));
        assert!(debug.contains("redacted"));
    }

    #[test]
    fn the_36260_flaw_reports_a_build_from_before_the_fix() {
        let hardened = SimConfig::new(SimSetup::parse("hardened").unwrap());
        assert!(!firmware_predates_36260_fix(&hardened.identity.firmware));
        let flawed = SimConfig::new(SimSetup::parse("hardened+hik-cve-2021-36260").unwrap());
        assert_eq!(flawed.identity.firmware, VULNERABLE_36260_FIRMWARE.0);
        assert!(firmware_predates_36260_fix(&flawed.identity.firmware));
        // Legacy's own firmware is older still and stays as it is.
        let legacy = SimConfig::new(SimSetup::parse("legacy").unwrap());
        assert!(legacy.setup.has(Flaw::HikCve2021_36260));
        assert!(legacy.identity.firmware.contains("160530"));
        assert!(!legacy.setup.has(Flaw::CatchAll200) && !legacy.setup.has(Flaw::LoginRedirect));
    }

    #[test]
    fn identities_are_unique_per_instance() {
        let a = DeviceIdentity::random(Personality::Hardened);
        let b = DeviceIdentity::random(Personality::Hardened);
        assert_ne!(a.serial, b.serial);
        assert_ne!(a.mac, b.mac);
        assert_eq!(a.mac.len(), 17);
    }
}
