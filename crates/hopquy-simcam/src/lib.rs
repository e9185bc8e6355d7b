//! A simulated IP camera with switchable flaws, bound to loopback.
//!
//! `hopquy demo` runs the suite against it, the black-box tests check every automated case
//! passes against one setup and fails against another, and labs self-check an installation
//! with it. It behaves like a Hikvision-ISAPI camera (Digest over HTTP and HTTPS, XML
//! bodies, `userCheck` lock signalling), plus optional Telnet and vendor SDK listeners.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use hopquy_simcam::{SimCamera, SimConfig, SimSetup};
//! let camera = SimCamera::start(SimConfig::new(SimSetup::parse("hardened+no-lockout")?)).await?;
//! println!("{}", camera.target_toml("simcam", "SIM_PASSWORD"));
//! camera.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Adding a service (RTSP, SSH, ONVIF, a legacy-TLS listener): put it in its own module
//! with a `serve(TcpListener, …)` function, add a [`ServiceKind`] variant (name, port
//! offset, when it runs, whether it is declared), and one arm in
//! `SimCamera::spawn_service`. Nothing else needs to change.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod auth;
pub mod config;
pub mod dossier;
pub mod firmware;
pub mod http;
mod legacy_tls;
mod net;
mod rtsp;
mod sdk;
pub mod ssh;
mod telnet;
mod tls;
pub mod uplink;
mod xml;

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::info;

pub use config::{
    DeviceIdentity, Flaw, Lockout, Personality, SetupError, SimConfig, SimSetup, password_is_complex, random_password,
};
pub use http::{
    DAHUA_SECOND_USER_HASH, MAX_EXTRA_USERS, MAX_USER_NAME, MAX_USER_PASSWORD, SimState, TBK_VIEWER_PASSWORD,
    XM_ROOT_HASH, firmware_image, forged_firmware_image, router, simulated_vendor_key,
};
pub use rtsp::{PUBLIC_METHODS as RTSP_PUBLIC_METHODS, STREAM_PATHS as RTSP_STREAM_PATHS};
pub use sdk::banner as sdk_banner;
pub use telnet::{LOGIN_PROMPT as TELNET_LOGIN_PROMPT, NEGOTIATION as TELNET_NEGOTIATION};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(
        "the simulated camera listens on loopback only (or inside a network namespace of its own); {0} is not a loopback address"
    )]
    NonLoopback(IpAddr),
    #[error("port for {service} is out of range: base {base} + offset {offset} > 65535")]
    PortOutOfRange {
        service: &'static str,
        base: u16,
        offset: u16,
    },
    #[error("cannot listen on {address} for {service}: {source}")]
    Bind {
        service: &'static str,
        address: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot generate the HTTPS certificate: {0}")]
    Certificate(String),
    #[error("cannot configure TLS: {0}")]
    Tls(String),
    #[error("cannot generate the SSH host key: {0}")]
    HostKey(String),
}

/// The camera's network services: the one place a new listener is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceKind {
    Http,
    Https,
    Rtsp,
    Ssh,
    Telnet,
    Sdk,
}

impl ServiceKind {
    pub const ALL: &'static [ServiceKind] = &[
        ServiceKind::Http,
        ServiceKind::Https,
        ServiceKind::Rtsp,
        ServiceKind::Ssh,
        ServiceKind::Telnet,
        ServiceKind::Sdk,
    ];

    /// The key in [`SimCamera::ports`] and in the target file's `[connection] ports`.
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Http => "http",
            ServiceKind::Https => "https",
            ServiceKind::Rtsp => "rtsp",
            ServiceKind::Ssh => "ssh",
            ServiceKind::Telnet => "telnet",
            ServiceKind::Sdk => "sdk",
        }
    }

    /// Port relative to [`SimConfig::fixed_ports`]. Reserved for later modules: 2 rtsp,
    /// 3 ssh, 6 onvif, 7 legacy-tls.
    pub fn port_offset(self) -> u16 {
        match self {
            ServiceKind::Http => 0,
            ServiceKind::Https => 1,
            ServiceKind::Rtsp => 2,
            ServiceKind::Ssh => 3,
            ServiceKind::Telnet => 4,
            ServiceKind::Sdk => 5,
        }
    }

    pub fn runs(self, setup: &SimSetup) -> bool {
        match self {
            ServiceKind::Http => true,
            ServiceKind::Https => !setup.has(Flaw::HttpOnly),
            ServiceKind::Rtsp => true,
            ServiceKind::Ssh => true,
            ServiceKind::Telnet => setup.has(Flaw::TelnetOpen),
            ServiceKind::Sdk => setup.has(Flaw::UndeclaredPort),
        }
    }

    /// Whether the manufacturer's declaration (IXIT) lists the port as open. Telnet and
    /// the SDK port are exactly the services a camera must not have open undeclared.
    pub fn declared(self) -> bool {
        match self {
            ServiceKind::Http | ServiceKind::Https | ServiceKind::Rtsp | ServiceKind::Ssh => true,
            ServiceKind::Telnet | ServiceKind::Sdk => false,
        }
    }
}

struct RunningService {
    kind: ServiceKind,
    port: u16,
    task: JoinHandle<()>,
}

impl Drop for RunningService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A running simulated camera. Dropping it stops every listener and connection.
pub struct SimCamera {
    config: SimConfig,
    state: SimState,
    services: Vec<RunningService>,
    certificate_der: Option<Vec<u8>>,
    /// The HTTPS identity, kept so a power cycle comes back with the same key, as a camera
    /// keeps its key in flash; a factory reset discards it.
    tls_identity: Option<tls::TlsIdentity>,
    /// The uplink agents (`uplink.rs`), aborted with the camera.
    uplink: Vec<JoinHandle<()>>,
}

impl Drop for SimCamera {
    fn drop(&mut self) {
        for agent in &self.uplink {
            agent.abort();
        }
    }
}

impl SimCamera {
    /// Binds every service the setup runs (ephemeral ports unless `fixed_ports`) and
    /// starts serving. Refuses a non-loopback `bind` unless the process is in a network
    /// namespace of its own (a lab-network test's), where no address reaches a real network.
    pub async fn start(config: SimConfig) -> Result<SimCamera, SimError> {
        if !config.bind.is_loopback() && !in_private_network_namespace() {
            return Err(SimError::NonLoopback(config.bind));
        }
        let state = SimState::new(&config);
        let router = http::web_router(state.clone());
        let mut camera = SimCamera {
            config,
            state,
            services: Vec::new(),
            certificate_der: None,
            tls_identity: None,
            uplink: Vec::new(),
        };
        // Every listener is bound before any service starts: the HTTP port's redirect names
        // the HTTPS port.
        let mut bound = Vec::new();
        for &kind in ServiceKind::ALL {
            if !kind.runs(&camera.config.setup) {
                continue;
            }
            let listener = camera.bind(kind).await?;
            let address = listener.local_addr().map_err(|source| SimError::Bind {
                service: kind.name(),
                address: SocketAddr::new(camera.config.bind, 0),
                source,
            })?;
            bound.push((kind, listener, address));
        }
        let https_port = bound
            .iter()
            .find(|(kind, _, _)| *kind == ServiceKind::Https)
            .map(|(_, _, address)| address.port());
        let hostile = http::hostile_router(&camera.config.setup).is_some();
        let http_router = match https_port {
            // A hostile dialect answers its one page on every web port, redirecting nothing.
            Some(port) if !camera.config.setup.has(Flaw::HttpApi) && !hostile => {
                http::redirect_router(SocketAddr::new(camera.config.bind, port))
            }
            _ => router.clone(),
        };
        for (kind, listener, address) in bound {
            let service_router = if kind == ServiceKind::Http {
                &http_router
            } else {
                &router
            };
            // On an early return `camera` drops, aborting the services already started.
            let task = camera.spawn_service(kind, listener, service_router)?;
            info!(service = kind.name(), %address, "simulated camera service listening");
            camera.services.push(RunningService {
                kind,
                port: address.port(),
                task,
            });
        }
        if let Some(uplink) = &camera.config.uplink {
            camera.uplink = uplink::start(uplink, &camera.config.setup, &camera.config.identity, &camera.state);
            info!(resolver = %uplink.resolver, "simulated camera uplink agents started");
        }
        Ok(camera)
    }

    async fn bind(&self, kind: ServiceKind) -> Result<TcpListener, SimError> {
        let port = match self.config.fixed_ports {
            None => 0,
            Some(base) => base.checked_add(kind.port_offset()).ok_or(SimError::PortOutOfRange {
                service: kind.name(),
                base,
                offset: kind.port_offset(),
            })?,
        };
        let address = SocketAddr::new(self.config.bind, port);
        TcpListener::bind(address).await.map_err(|source| SimError::Bind {
            service: kind.name(),
            address,
            source,
        })
    }

    /// Hands a bound listener to its service module.
    fn spawn_service(
        &mut self,
        kind: ServiceKind,
        listener: TcpListener,
        router: &axum::Router,
    ) -> Result<JoinHandle<()>, SimError> {
        let uc_traversal = self.config.setup.has(Flaw::XmCve2017_7577);
        Ok(match kind {
            ServiceKind::Http => tokio::spawn(http::serve(listener, router.clone(), uc_traversal)),
            ServiceKind::Https => {
                let identity = match &self.tls_identity {
                    Some(identity) => identity.clone(),
                    None => tls::TlsIdentity::generate(&self.config.identity, self.config.bind, &self.config.setup)?,
                };
                self.certificate_der = Some(identity.certificate_der.clone());
                self.tls_identity = Some(identity.clone());
                tokio::spawn(tls::serve(listener, identity, router.clone(), uc_traversal))
            }
            ServiceKind::Rtsp => {
                let service = rtsp::RtspService::new(&self.config, self.state.clone());
                tokio::spawn(rtsp::serve(listener, std::sync::Arc::new(service)))
            }
            ServiceKind::Ssh => {
                let service = ssh::SshService::new(&self.config, self.state.clone())
                    .map_err(|e| SimError::HostKey(e.to_string()))?;
                tokio::spawn(ssh::serve(listener, service))
            }
            ServiceKind::Telnet => tokio::spawn(telnet::serve(listener, self.config.setup.clone())),
            ServiceKind::Sdk => tokio::spawn(sdk::serve(listener)),
        })
    }

    /// Every listening service by name (`http`, `https`, `telnet`, `sdk`).
    pub fn ports(&self) -> BTreeMap<String, u16> {
        self.services
            .iter()
            .map(|service| (service.kind.name().to_string(), service.port))
            .collect()
    }

    /// The ports the target file declares open (sorted): everything but the services a
    /// flaw opened behind the manufacturer's back.
    pub fn declared_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .services
            .iter()
            .filter(|service| service.kind.declared())
            .map(|service| service.port)
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// Ports of this machine that answer on the camera's address too (listeners on every
    /// address): the bench's, not the camera's. The target file excludes them from sweeps
    /// (`exclude_ports`), so a sweep judges the camera alone and its declaration stays its own.
    pub fn bench_ports(&self) -> Vec<u16> {
        let own: Vec<u16> = self.services.iter().map(|s| s.port).collect();
        let mut ports: Vec<u16> = host_wildcard_listeners()
            .into_iter()
            .filter(|p| !own.contains(p))
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// A fresh address in 127.0.0.0/8 for one simulated camera, so a port sweep of it sees
    /// that camera and not the other simulators (or services) on 127.0.0.1.
    pub fn unique_loopback() -> IpAddr {
        let n: u32 = rand::random();
        // 127.64.0.0/10 avoids 127.0.0.1 and the 127.0.x addresses other tools favour.
        let [_, b, c, d] = (0x4000_0000 | (n & 0x3FFF_FFFF)).to_be_bytes();
        let d = d.clamp(1, 254);
        IpAddr::V4(std::net::Ipv4Addr::new(127, 64 | (b & 0x3F), c, d))
    }

    pub fn host(&self) -> IpAddr {
        self.config.bind
    }

    pub fn setup(&self) -> &SimSetup {
        &self.config.setup
    }

    /// The firmware image this camera runs, as its manufacturer would submit it
    /// (`firmware::rootfs_image`: its contents follow the setup's flaws).
    pub fn firmware_image(&self) -> Vec<u8> {
        firmware::rootfs_image(&self.config.setup)
    }

    pub fn identity(&self) -> &DeviceIdentity {
        &self.config.identity
    }

    pub fn admin_user(&self) -> &str {
        &self.config.admin_user
    }

    /// The admin password in force now. Hand it to the harness through the environment
    /// variable named in the target file; never print it.
    pub fn admin_password(&self) -> String {
        self.state.admin_password()
    }

    pub fn state(&self) -> &SimState {
        &self.state
    }

    /// DER of the HTTPS leaf certificate, when HTTPS runs.
    pub fn tls_certificate_der(&self) -> Option<&[u8]> {
        self.certificate_der.as_deref()
    }

    /// A complete target file (DESIGN §5) for this instance. The password is never in it:
    /// `[credentials] password_env` names the variable that must hold it.
    pub fn target_toml(&self, profile: &str, password_env: &str) -> String {
        let identity = &self.config.identity;
        let lockout = self.config.lockout;
        let ports = self
            .ports()
            .iter()
            .map(|(name, port)| format!("{name} = {port}"))
            .collect::<Vec<_>>()
            .join(", ");
        let declared = self
            .declared_ports()
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let bench = self.bench_ports();
        let exclude = if bench.is_empty() {
            String::new()
        } else {
            format!(
                "# This machine listens on these ports on every address, so a sweep of the camera's\n\
                 # address sees them too; they are the bench's, not the camera's.\n\
                 exclude_ports = [{}]\n",
                bench.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
            )
        };
        format!(
            "# Target file for a hopquy simulated camera (setup {setup}).\n\
             # The admin password is not in this file; it is read from the environment variable\n\
             # named by password_env.\n\
             \n\
             [device]\n\
             vendor = {vendor}\n\
             model = {model}\n\
             firmware = {firmware}\n\
             serial = {serial}\n\
             \n\
             [connection]\n\
             host = {host}\n\
             profile = {profile}\n\
             ports = {{ {ports} }}\n\
             {exclude}\
             \n\
             [credentials]\n\
             username = {username}\n\
             password_env = {password_env}\n\
             \n\
             [declared]\n\
             open_tcp_ports = [{declared}]\n\
             lockout = {{ attempts = {attempts}, window_s = {window_s}, duration_s = {duration_s} }}\n\
             {uplink}",
            uplink = self.uplink_declarations(),
            setup = toml_string(&self.config.setup.to_string()),
            vendor = toml_string(&identity.vendor),
            model = toml_string(&identity.model),
            firmware = toml_string(&identity.firmware),
            serial = toml_string(&identity.serial),
            host = toml_string(&self.config.bind.to_string()),
            profile = toml_string(profile),
            username = toml_string(&self.config.admin_user),
            password_env = toml_string(password_env),
            attempts = lockout.attempts,
            window_s = lockout.window_s,
            duration_s = lockout.duration_s,
        )
    }

    /// With an uplink: the associated services the manufacturer declares, and how the camera
    /// uses its network (what the lab-network cases judge and wait for).
    fn uplink_declarations(&self) -> String {
        let Some(uplink) = &self.config.uplink else {
            return String::new();
        };
        let destinations: Vec<String> = uplink::declared_destinations(&self.config.setup)
            .iter()
            .map(|(host, purpose, country, protocol)| {
                format!(
                    "  {{ host = {}, purpose = {}, country = {}, protocol = {} }},\n",
                    toml_string(host),
                    toml_string(purpose),
                    toml_string(country),
                    toml_string(protocol)
                )
            })
            .collect();
        let period = uplink.period.as_secs().max(1);
        format!(
            "destinations = [\n{}]\n\
             # The simulated camera repeats its update check and telemetry every {period} s and\n\
             # notices a lost cloud within its back-off (at most 16 s).\n\
             connectivity = {{ contacts_within_s = {contacts}, outage_noticed_within_s = 4, reconnects_within_s = 20, max_connects_per_s = 10 }}\n\
             # The camera is set to keep its recordings on its SD card.\n\
             data_storage = {{ location = \"local\" }}\n",
            destinations.concat(),
            contacts = period + 2,
        )
    }

    /// A power cut: every listener and connection goes away, then the camera comes back on
    /// the same address and ports with its configuration (accounts, passwords, HTTPS key)
    /// intact, because that lives in the camera's "flash" ([`SimState`]), not in a connection.
    pub async fn power_cycle(&mut self, off_for: std::time::Duration) -> Result<(), SimError> {
        self.restart(off_for, false).await
    }

    /// A factory reset: the camera comes back on the same address and ports with its
    /// factory state — no added users, a new HTTPS key, and a new per-unit admin password
    /// (the one printed on the sample's label; read it with [`SimCamera::admin_password`]).
    /// Every earlier password stops working, so a lab's "the reset happened" check sees it.
    pub async fn factory_reset(&mut self) -> Result<(), SimError> {
        self.restart(std::time::Duration::ZERO, true).await
    }

    async fn restart(&mut self, off_for: std::time::Duration, factory: bool) -> Result<(), SimError> {
        let ports: Vec<(ServiceKind, u16)> = self.services.iter().map(|s| (s.kind, s.port)).collect();
        // A camera without power phones nobody: its uplink agents stop with its services and
        // start afresh (first contact, then their back-off from the start) when it boots.
        for mut agent in self.uplink.drain(..) {
            agent.abort();
            let _ = (&mut agent).await;
        }
        for service in &mut self.services {
            service.task.abort();
            let _ = (&mut service.task).await;
        }
        self.services.clear();
        tokio::time::sleep(off_for).await;
        if factory {
            self.config.admin_password = random_password();
            self.state = SimState::new(&self.config);
            self.tls_identity = None;
            self.certificate_der = None;
        }
        let router = http::web_router(self.state.clone());
        for (kind, port) in ports {
            let address = SocketAddr::new(self.config.bind, port);
            // tokio sets SO_REUSEADDR, so the port is free again once the old listener closed.
            let listener = TcpListener::bind(address).await.map_err(|source| SimError::Bind {
                service: kind.name(),
                address,
                source,
            })?;
            let task = self.spawn_service(kind, listener, &router)?;
            self.services.push(RunningService { kind, port, task });
        }
        if let Some(uplink) = &self.config.uplink {
            self.uplink = uplink::start(uplink, &self.config.setup, &self.config.identity, &self.state);
        }
        info!(factory, "simulated camera restarted");
        Ok(())
    }

    /// Stops every service and waits until their listeners are closed.
    pub async fn shutdown(mut self) {
        for agent in &self.uplink {
            agent.abort();
        }
        for service in &self.services {
            service.task.abort();
        }
        for service in &mut self.services {
            let _ = (&mut service.task).await;
        }
    }
}

impl std::fmt::Debug for SimCamera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCamera")
            .field("setup", &self.config.setup.to_string())
            .field("host", &self.config.bind)
            .field("ports", &self.ports())
            .finish_non_exhaustive()
    }
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Every flaw with its one-line description, in [`Flaw::ALL`] order (`hopquy sim --list`).
pub fn describe_flaws() -> Vec<(&'static str, &'static str)> {
    Flaw::ALL.iter().map(|flaw| (flaw.name(), flaw.description())).collect()
}

/// Every personality with the flaws it switches on.
pub fn personalities() -> Vec<(&'static str, Vec<Flaw>)> {
    Personality::ALL
        .iter()
        .map(|personality| (personality.name(), personality.flaws().into_iter().collect()))
        .collect()
}

/// TCP ports the *host* listens on for every address (0.0.0.0 / ::). The simulated camera
/// shares its host's network stack, so these answer on its address too; they are the test
/// bench's, not the camera's, and the camera's declaration lists them so that a port sweep
/// judges the camera alone. Read from /proc/net/tcp{,6} (Linux); elsewhere none are known.
fn host_wildcard_listeners() -> Vec<u16> {
    let mut ports = Vec::new();
    for (file, any) in [
        ("/proc/net/tcp", "00000000"),
        ("/proc/net/tcp6", "00000000000000000000000000000000"),
    ] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is "ADDR:PORT" in hex; state 0A is LISTEN.
            let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
                continue;
            };
            if *state != "0A" {
                continue;
            }
            if let Some((addr, port)) = local.split_once(':')
                && addr == any
                && let Ok(port) = u16::from_str_radix(port, 16)
            {
                ports.push(port);
            }
        }
    }
    ports
}

/// True when this process's network namespace is not the host's (PID 1's): inside one a
/// test created, an address such as the lab network's 10.77.0.100 reaches only the veth
/// pair the test made. Where PID 1's namespace cannot be read (a container may refuse it
/// even to root), a namespace `ip netns add` made (bound under /run/netns) counts as one of
/// its own. Unknown (not Linux, /proc unreadable) counts as the host's.
fn in_private_network_namespace() -> bool {
    let Ok(own) = std::fs::read_link("/proc/self/ns/net") else {
        return false;
    };
    if let Ok(host) = std::fs::read_link("/proc/1/ns/net") {
        return own != host;
    }
    is_named_network_namespace()
}

#[cfg(target_os = "linux")]
fn is_named_network_namespace() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(own) = std::fs::metadata("/proc/self/ns/net") else {
        return false;
    };
    let Ok(named) = std::fs::read_dir("/run/netns") else {
        return false;
    };
    named
        .filter_map(Result::ok)
        .any(|entry| std::fs::metadata(entry.path()).is_ok_and(|m| m.dev() == own.dev() && m.ino() == own.ino()))
}

#[cfg(not(target_os = "linux"))]
fn is_named_network_namespace() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn connects(host: IpAddr, port: u16) -> bool {
        tokio::net::TcpStream::connect(SocketAddr::new(host, port))
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn power_cycle_keeps_the_configuration_and_factory_reset_discards_it() {
        let mut config = SimConfig::new(SimSetup::new(Personality::Hardened));
        config.bind = SimCamera::unique_loopback();
        let mut camera = SimCamera::start(config).await.unwrap();
        let ports = camera.ports();
        let password = camera.admin_password();
        let certificate = camera.tls_certificate_der().map(<[u8]>::to_vec);

        camera.power_cycle(std::time::Duration::from_millis(50)).await.unwrap();
        assert_eq!(camera.ports(), ports);
        assert_eq!(camera.admin_password(), password);
        assert_eq!(camera.tls_certificate_der().map(<[u8]>::to_vec), certificate);
        assert!(connects(camera.host(), ports["http"]).await);

        camera.factory_reset().await.unwrap();
        assert_eq!(camera.ports(), ports);
        assert_ne!(camera.admin_password(), password, "a new per-unit password");
        assert_ne!(
            camera.tls_certificate_der().map(<[u8]>::to_vec),
            certificate,
            "a new HTTPS key"
        );
        assert!(connects(camera.host(), ports["https"]).await);
        camera.shutdown().await;
    }
}
