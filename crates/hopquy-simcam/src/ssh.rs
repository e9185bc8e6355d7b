//! The camera's SSH service on a russh server.
//!
//! Hardened: a neutral banner and modern algorithms only (hybrid post-quantum and
//! Curve25519 key exchange with strict-kex, AEAD/CTR ciphers, encrypt-then-MAC SHA-2).
//! `weak-ssh`: a dropbear 2019-style banner and offer with SHA-1 key exchange (Oakley
//! groups 1 and 14), CBC ciphers and HMAC-SHA1. Password logins for the admin account
//! follow the same lockout semantics as HTTP (Decision 724: attempts within a window lock
//! the account; per TCP connection under `session-lockout`; never under `no-lockout`) but
//! keep their own counter. `ssh-password-default` also lets in [`SSH_DEFAULT_ACCOUNTS`].
//! `ssh-kbd-interactive` turns the `password` method off and asks for the same password
//! through keyboard-interactive ([`KBD_PASSWORD_PROMPT`]), as OpenSSH with PAM does.
//! Each instance has a fresh random Ed25519 host key.

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use russh::keys::ssh_key::{Algorithm, PrivateKey};
use russh::server::{Auth, Handler};
use russh::{MethodKind, MethodSet, Preferred, SshId, cipher, compression, kex, mac};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::auth::{LockPolicy, LoginGuard, constant_time_eq};
use crate::config::{Flaw, SimConfig, SimSetup};
use crate::http::SimState;
use crate::net::accept_loop;

/// Hardened firmware does not advertise its SSH implementation or version.
pub const HARDENED_BANNER: &str = "SSH-2.0-SIMCAM";
/// What many IP cameras still ship (dropbear 2019.78), under `weak-ssh`.
pub const LEGACY_BANNER: &str = "SSH-2.0-dropbear_2019.78";
/// Factory root accounts `ssh-password-default` lets in: Hikvision's old default password
/// on root, and the static Xiongmai root password (both in the public default-credential
/// dictionary).
pub const SSH_DEFAULT_ACCOUNTS: &[(&str, &str)] = &[("root", "12345"), ("root", "xmhdipc")];
/// The one prompt of the keyboard-interactive login, worded as Linux-PAM's.
pub const KBD_PASSWORD_PROMPT: &str = "Password: ";
/// The delay russh adds to every rejection; its 1 s default makes lockout tests crawl.
pub const AUTH_REJECTION_TIME: Duration = Duration::from_millis(50);
/// OpenSSH's default MaxAuthTries: the connection is closed after this many failures.
const MAX_AUTH_ATTEMPTS: usize = 6;
/// Idle sessions are dropped, so no client holds a connection slot forever.
const INACTIVITY_TIMEOUT: Duration = Duration::from_secs(120);

/// The algorithm lists the service offers, exactly as its KEXINIT sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshOffer {
    pub banner: &'static str,
    pub kex: Vec<String>,
    pub host_key: Vec<String>,
    pub ciphers: Vec<String>,
    pub macs: Vec<String>,
    pub compression: Vec<String>,
}

const HARDENED_KEX: &[kex::Name] = &[
    kex::MLKEM768X25519_SHA256,
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    kex::EXTENSION_SUPPORT_AS_SERVER,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
];
const HARDENED_CIPHERS: &[cipher::Name] = &[
    cipher::CHACHA20_POLY1305,
    cipher::AES_256_GCM,
    cipher::AES_128_GCM,
    cipher::AES_256_CTR,
    cipher::AES_128_CTR,
];
const HARDENED_MACS: &[mac::Name] = &[mac::HMAC_SHA512_ETM, mac::HMAC_SHA256_ETM];

// dropbear 2019.78's defaults, minus what russh cannot serve (ECDH P-curves are left out
// to keep the list short; they are not the finding).
const WEAK_KEX: &[kex::Name] = &[
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    kex::DH_G14_SHA256,
    kex::DH_G14_SHA1,
    kex::DH_G1_SHA1,
];
const WEAK_CIPHERS: &[cipher::Name] = &[
    cipher::AES_128_CTR,
    cipher::AES_256_CTR,
    cipher::AES_128_CBC,
    cipher::AES_256_CBC,
];
const WEAK_MACS: &[mac::Name] = &[mac::HMAC_SHA1, mac::HMAC_SHA256];

const HOST_KEYS: &[Algorithm] = &[Algorithm::Ed25519];
const COMPRESSION: &[compression::Name] = &[compression::NONE];

fn preferred(setup: &SimSetup) -> Preferred {
    let weak = setup.has(Flaw::WeakSsh);
    Preferred {
        kex: Cow::Borrowed(if weak { WEAK_KEX } else { HARDENED_KEX }),
        key: Cow::Borrowed(HOST_KEYS),
        host_key_certificates: Cow::Borrowed(&[]),
        cipher: Cow::Borrowed(if weak { WEAK_CIPHERS } else { HARDENED_CIPHERS }),
        mac: Cow::Borrowed(if weak { WEAK_MACS } else { HARDENED_MACS }),
        compression: Cow::Borrowed(COMPRESSION),
    }
}

/// What a camera with this setup offers over SSH (for tests and documentation).
pub fn offer(setup: &SimSetup) -> SshOffer {
    let p = preferred(setup);
    SshOffer {
        banner: if setup.has(Flaw::WeakSsh) {
            LEGACY_BANNER
        } else {
            HARDENED_BANNER
        },
        kex: p.kex.iter().map(|n| n.as_ref().to_owned()).collect(),
        host_key: p.key.iter().map(ToString::to_string).collect(),
        ciphers: p.cipher.iter().map(|n| n.as_ref().to_owned()).collect(),
        macs: p.mac.iter().map(|n| n.as_ref().to_owned()).collect(),
        compression: p.compression.iter().map(|n| n.as_ref().to_owned()).collect(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LockKey {
    Account(String),
    Connection(SocketAddr),
}

/// Everything the per-connection handlers share.
pub(crate) struct SshService {
    config: Arc<russh::server::Config>,
    state: SimState,
    admin_user: String,
    defaults_open: bool,
    keyboard_interactive: bool,
    per_connection: bool,
    policy: LockPolicy,
    guard: Mutex<LoginGuard<LockKey>>,
}

impl SshService {
    pub(crate) fn new(config: &SimConfig, state: SimState) -> Result<Arc<SshService>, russh::keys::ssh_key::Error> {
        let setup = &config.setup;
        let host_key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)?;
        let server_config = russh::server::Config {
            server_id: SshId::Standard(Cow::Borrowed(offer(setup).banner)),
            methods: MethodSet::from(
                &[
                    MethodKind::PublicKey,
                    if setup.has(Flaw::SshKbdInteractive) {
                        MethodKind::KeyboardInteractive
                    } else {
                        MethodKind::Password
                    },
                ][..],
            ),
            auth_rejection_time: AUTH_REJECTION_TIME,
            // The `none` request only asks which methods exist; no need to slow it down.
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: vec![host_key],
            preferred: preferred(setup),
            max_auth_attempts: MAX_AUTH_ATTEMPTS,
            inactivity_timeout: Some(INACTIVITY_TIMEOUT),
            nodelay: true,
            ..russh::server::Config::default()
        };
        Ok(Arc::new(SshService {
            config: Arc::new(server_config),
            state,
            admin_user: config.admin_user.clone(),
            defaults_open: setup.has(Flaw::SshPasswordDefault),
            keyboard_interactive: setup.has(Flaw::SshKbdInteractive),
            per_connection: setup.has(Flaw::SessionLockout),
            policy: LockPolicy {
                enabled: !setup.has(Flaw::NoLockout),
                attempts: config.lockout.attempts,
                window: Duration::from_secs(config.lockout.window_s.into()),
                duration: Duration::from_secs(config.lockout.duration_s.into()),
            },
            guard: Mutex::new(LoginGuard::default()),
        }))
    }

    fn guard(&self) -> MutexGuard<'_, LoginGuard<LockKey>> {
        // A panic while holding the lock leaves at worst a stale counter; keep serving.
        self.guard.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn check_password(&self, user: &str, password: &str, peer: Option<SocketAddr>) -> bool {
        let key = match peer {
            Some(peer) if self.per_connection => LockKey::Connection(peer),
            _ => LockKey::Account(user.to_owned()),
        };
        let now = Instant::now();
        let mut guard = self.guard();
        // A locked account refuses even the right password, and the refusal is not counted.
        if self.policy.enabled && guard.locked_for(&key, now).is_some() {
            return false;
        }
        let admin =
            user == self.admin_user && constant_time_eq(password.as_bytes(), self.state.admin_password().as_bytes());
        let factory = self.defaults_open
            && SSH_DEFAULT_ACCOUNTS
                .iter()
                .any(|(u, p)| *u == user && constant_time_eq(p.as_bytes(), password.as_bytes()));
        if admin || factory {
            guard.record_success(&key);
            true
        } else {
            guard.record_failure(&key, now, &self.policy);
            false
        }
    }
}

struct Connection {
    service: Arc<SshService>,
    peer: Option<SocketAddr>,
}

impl Handler for Connection {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if self.service.keyboard_interactive {
            // The method is off; russh refuses it unoffered, this only makes sure.
            return Ok(Auth::reject());
        }
        // What was typed is deliberately neither kept nor logged: it may be a password.
        Ok(if self.service.check_password(user, password, self.peer) {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        if !self.service.keyboard_interactive {
            return Ok(Auth::reject());
        }
        let Some(mut response) = response else {
            return Ok(Auth::Partial {
                name: Cow::Borrowed(""),
                instructions: Cow::Borrowed(""),
                prompts: Cow::Borrowed(&[(Cow::Borrowed(KBD_PASSWORD_PROMPT), false)]),
            });
        };
        // Not valid UTF-8 cannot be the password; it is checked (and counted) as a wrong one.
        let password = response
            .next()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        Ok(if self.service.check_password(user, &password, self.peer) {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        _offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        // No authorised keys are installed on the camera.
        Ok(Auth::reject())
    }
}

pub(crate) async fn serve(listener: TcpListener, service: Arc<SshService>) {
    accept_loop(listener, "ssh", move |stream, peer| {
        let service = service.clone();
        async move {
            let closer = CloseOnDrop::default();
            let stream = ClosableStream {
                inner: stream,
                signal: closer.0.clone(),
            };
            let config = service.config.clone();
            let handler = Connection {
                service,
                peer: Some(peer),
            };
            if let Ok(session) = russh::server::run_stream(config, stream, handler).await {
                let _ = session.await;
            }
            drop(closer);
        }
    })
    .await;
}

/// russh runs each session in a task of its own, which aborting the accept loop would not
/// reach. Dropping the connection's future (shutdown) makes the stream read end-of-file,
/// so the session task ends and closes the socket.
#[derive(Default)]
struct CloseSignal {
    closed: AtomicBool,
    reader: Mutex<Option<Waker>>,
}

#[derive(Default)]
struct CloseOnDrop(Arc<CloseSignal>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::SeqCst);
        let waker = self.0.reader.lock().ok().and_then(|mut slot| slot.take());
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

struct ClosableStream {
    inner: TcpStream,
    signal: Arc<CloseSignal>,
}

impl ClosableStream {
    fn closed(&self) -> bool {
        self.signal.closed.load(Ordering::SeqCst)
    }
}

impl AsyncRead for ClosableStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.closed() {
            return Poll::Ready(Ok(()));
        }
        if let Ok(mut slot) = this.signal.reader.lock() {
            *slot = Some(cx.waker().clone());
        }
        // Checked again: the signal may have fired between the first check and storing the waker.
        if this.closed() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClosableStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.closed() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        Pin::new(&mut this.inner).poll_write(cx, data)
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
    use crate::config::Personality;

    fn service(setup: &str) -> Arc<SshService> {
        let config = SimConfig::new(SimSetup::parse(setup).unwrap());
        let state = SimState::new(&config);
        SshService::new(&config, state).unwrap()
    }

    #[test]
    fn offers_follow_the_weak_ssh_flaw() {
        let hardened = offer(&SimSetup::new(Personality::Hardened));
        assert_eq!(hardened.banner, HARDENED_BANNER);
        assert!(hardened.kex.iter().any(|k| k == "kex-strict-s-v00@openssh.com"));
        assert!(!hardened.kex.iter().any(|k| k.ends_with("-sha1")));
        assert!(!hardened.ciphers.iter().any(|c| c.contains("-cbc")));
        assert!(hardened.macs.iter().all(|m| m.ends_with("-etm@openssh.com")));
        let weak = offer(&SimSetup::new(Personality::Hardened).with(Flaw::WeakSsh));
        assert_eq!(weak.banner, LEGACY_BANNER);
        for needle in ["diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1"] {
            assert!(weak.kex.iter().any(|k| k == needle), "{needle}");
        }
        assert!(weak.ciphers.iter().any(|c| c == "aes128-cbc"));
        assert!(weak.macs.iter().any(|m| m == "hmac-sha1"));
        assert_eq!(weak.host_key, ["ssh-ed25519"]);
    }

    #[test]
    fn admin_password_and_lockout() {
        let svc = service("hardened");
        let password = svc.state.admin_password();
        assert!(svc.check_password("admin", &password, None));
        assert!(!svc.check_password("admin", "wrong", None));
        assert!(
            !svc.check_password("root", "12345", None),
            "defaults are closed without the flaw"
        );
        for _ in 1..svc.policy.attempts {
            assert!(!svc.check_password("admin", "wrong", None));
        }
        assert!(
            !svc.check_password("admin", &password, None),
            "locked after the threshold"
        );
    }

    #[test]
    fn default_accounts_only_with_the_flaw_and_no_lockout_never_locks() {
        let svc = service("hardened+ssh-password-default+no-lockout");
        for (user, password) in SSH_DEFAULT_ACCOUNTS {
            assert!(svc.check_password(user, password, None), "{user}");
        }
        for _ in 0..20 {
            assert!(!svc.check_password("admin", "wrong", None));
        }
        assert!(svc.check_password("admin", &svc.state.admin_password(), None));
    }

    #[test]
    fn session_lockout_counts_per_connection() {
        let svc = service("hardened+session-lockout");
        let a: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        for _ in 0..svc.policy.attempts {
            assert!(!svc.check_password("admin", "wrong", Some(a)));
        }
        let password = svc.state.admin_password();
        assert!(!svc.check_password("admin", &password, Some(a)));
        assert!(svc.check_password("admin", &password, Some(b)));
    }
}
