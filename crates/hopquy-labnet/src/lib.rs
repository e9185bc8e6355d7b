//! The camera's own network: hopquy serves DHCP and DNS on one dedicated interface the lab
//! names, accepts the connections the camera attempts (sinkhole mode), captures every frame
//! into a bounded pcap, and records what the camera asked for and sent.
//!
//! Observations only: nothing here decides a verdict. Every byte read from the interface is
//! hostile: reads are bounded in size and time, every table has a cap, and a frame or message
//! that does not parse is counted, never a panic.
//!
//! Linux only (AF_PACKET capture, `SO_BINDTODEVICE`, `/proc/net/route`); elsewhere
//! [`LabNet::start`] and [`check`] return [`LabNetError::UnsupportedPlatform`].

mod config;
mod dhcp;
mod dns;
mod flows;
mod inspect;
#[cfg(target_os = "linux")]
mod intercept;
mod record;
mod safety;
#[cfg(target_os = "linux")]
mod sys;

pub use config::{Caps, LabNetConfig, Mode, Subnet};
pub use record::*;
pub use safety::{CheckReport, Route, RouteTables};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LabNetError {
    #[error("the lab network needs Linux (AF_PACKET capture, SO_BINDTODEVICE); this is {0}")]
    UnsupportedPlatform(&'static str),
    #[error("no lab interface was named: hopquy serves DHCP and DNS only on an interface given explicitly")]
    NotNamed,
    #[error("invalid interface name {0:?}: {1}")]
    BadName(String, &'static str),
    #[error("interface {0:?} does not exist (see `ip link`)")]
    NoSuchInterface(String),
    #[error("interface {0:?} is a loopback interface; the lab network needs the camera's own cable")]
    Loopback(String),
    #[error(
        "interface {iface:?} carries this host's {family} default route; hopquy refuses to serve DHCP/DNS on the host's uplink. Use a dedicated interface for the camera"
    )]
    DefaultRoute { iface: String, family: &'static str },
    #[error("the lab subnet {subnet} overlaps route {route} on interface {iface:?}; choose another subnet")]
    SubnetConflict {
        subnet: String,
        route: String,
        iface: String,
    },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("invalid lab network configuration: {0}")]
    Config(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("setting up interface {iface:?} failed: {detail}")]
    Setup { iface: String, detail: String },
    #[error("writing the capture {path}: {detail}")]
    Pcap { path: PathBuf, detail: String },
}

pub type Result<T, E = LabNetError> = std::result::Result<T, E>;

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LabNetError {
    let what = what.into();
    move |source| LabNetError::Io { what, source }
}

/// Runs the safety checks only: what [`LabNet::start`] would refuse, and what it would do.
pub fn check(cfg: &LabNetConfig) -> Result<CheckReport> {
    cfg.validate()?;
    #[cfg(target_os = "linux")]
    {
        safety::check_host(cfg)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(LabNetError::UnsupportedPlatform(std::env::consts::OS))
    }
}

/// Entry point: [`LabNet::start`].
pub struct LabNet;

impl LabNet {
    /// Checks the interface, takes the lab address, and starts DHCP, DNS, the sinkhole
    /// listeners and the capture. Nothing is served before every check passed.
    pub fn start(cfg: LabNetConfig) -> Result<LabNetHandle> {
        cfg.validate()?;
        #[cfg(target_os = "linux")]
        {
            sys::start(cfg).map(|inner| LabNetHandle { inner })
        }
        #[cfg(not(target_os = "linux"))]
        {
            Err(LabNetError::UnsupportedPlatform(std::env::consts::OS))
        }
    }
}

/// A running lab network. Dropping it without [`LabNetHandle::stop`] still stops the
/// services and removes the address it added (the record is then lost).
pub struct LabNetHandle {
    #[cfg(target_os = "linux")]
    inner: sys::Running,
    #[cfg(not(target_os = "linux"))]
    inner: std::convert::Infallible,
}

impl LabNetHandle {
    /// Cuts the camera's uplink: in sinkhole mode DNS questions go unanswered (recorded as
    /// such) and every TCP connection the listeners accept is reset at once.
    pub fn cut_uplink(&self) {
        self.set_outage(true);
    }

    fn set_outage(&self, cut: bool) {
        #[cfg(target_os = "linux")]
        self.inner.set_outage(cut);
        #[cfg(not(target_os = "linux"))]
        match self.inner {}
    }

    /// Restores what [`Self::cut_uplink`] cut.
    pub fn restore_uplink(&self) {
        self.set_outage(false);
    }

    /// What has been recorded so far (the pcap hash is filled in by [`Self::stop`] only).
    pub fn snapshot(&self) -> LabNetRecord {
        #[cfg(target_os = "linux")]
        {
            self.inner.snapshot()
        }
        #[cfg(not(target_os = "linux"))]
        {
            match self.inner {}
        }
    }

    /// Stops every service, closes the capture and returns the whole record.
    pub fn stop(self) -> LabNetRecord {
        #[cfg(target_os = "linux")]
        {
            self.inner.stop()
        }
        #[cfg(not(target_os = "linux"))]
        {
            match self.inner {}
        }
    }
}
