use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use serde::Serialize;

use crate::{LabNetError, Result};

/// How the camera's outbound traffic is treated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Mode {
    /// Nothing leaves the lab network: every name resolves to hopquy's address, hopquy
    /// accepts TCP on the configured ports, and the kernel is told not to forward anything
    /// that arrives on the lab interface.
    Sinkhole,
    /// Forward to a named uplink and a named resolver. Not implemented in this slice:
    /// [`crate::LabNet::start`] answers [`LabNetError::Unsupported`].
    Route {
        upstream_iface: String,
        upstream_dns: IpAddr,
    },
}

impl Mode {
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Sinkhole => "sinkhole",
            Mode::Route { .. } => "route",
        }
    }
}

/// The lab subnet. hopquy takes the first host address; leases are handed from `.100` to
/// `.199` of the subnet's first /24.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Default for Subnet {
    fn default() -> Self {
        Subnet {
            network: Ipv4Addr::new(10, 77, 0, 0),
            prefix: 24,
        }
    }
}

impl Subnet {
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || LabNetError::Config(format!("subnet {s:?} is not of the form A.B.C.D/16..24"));
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let network: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let subnet = Subnet { network, prefix };
        subnet.validate()?;
        Ok(subnet)
    }

    fn validate(&self) -> Result<()> {
        // Below /24 the fixed .100-.199 pool would not fit; above /16 nobody needs.
        if !(16..=24).contains(&self.prefix) {
            return Err(LabNetError::Config(format!(
                "subnet prefix /{} is outside /16../24",
                self.prefix
            )));
        }
        if u32::from(self.network) & !self.mask_bits() != 0 {
            return Err(LabNetError::Config(format!(
                "{}/{} has host bits set",
                self.network, self.prefix
            )));
        }
        Ok(())
    }

    pub fn mask_bits(&self) -> u32 {
        u32::MAX << (32 - u32::from(self.prefix))
    }

    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask_bits())
    }

    /// hopquy's own address on the lab network.
    pub fn lab_address(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask_bits() == u32::from(self.network)
    }

    pub fn pool(&self) -> impl Iterator<Item = Ipv4Addr> + use<> {
        let base = u32::from(self.network);
        (100..=199).map(move |h| Ipv4Addr::from(base + h))
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Bounds on everything the camera can make hopquy keep. Reaching one is counted in the
/// record, never an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Caps {
    pub max_flows: usize,
    pub max_dns_records: usize,
    pub max_dhcp_records: usize,
    /// Bytes of pcap written (headers included); frames past it are counted, not written.
    pub max_pcap_bytes: u64,
    /// Frames per second examined and written; the rest of that second is counted only.
    pub max_packet_rate: u32,
    /// Sinkhole connections served at once; more are reset.
    pub max_connections: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            max_flows: 4096,
            max_dns_records: 10_000,
            max_dhcp_records: 1000,
            max_pcap_bytes: 64 * 1024 * 1024,
            max_packet_rate: 5000,
            max_connections: 64,
        }
    }
}

/// Ports a camera is commonly seen calling home on; the sinkhole accepts TCP on each.
pub const DEFAULT_SINKHOLE_PORTS: &[u16] = &[80, 443, 1883, 8883, 554, 8000, 8080, 8443, 34567];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabNetConfig {
    /// The camera's interface. Must be named by the lab; there is no default.
    pub iface: String,
    pub mode: Mode,
    pub subnet: Subnet,
    /// TCP ports the sinkhole listens on (lab address only).
    pub sinkhole_ports: Vec<u16>,
    pub caps: Caps,
    /// Where the pcap is written while the run goes on.
    pub pcap_path: PathBuf,
    pub lease_secs: u32,
}

impl LabNetConfig {
    pub fn new(iface: impl Into<String>, pcap_path: impl Into<PathBuf>) -> Self {
        LabNetConfig {
            iface: iface.into(),
            mode: Mode::Sinkhole,
            subnet: Subnet::default(),
            sinkhole_ports: DEFAULT_SINKHOLE_PORTS.to_vec(),
            caps: Caps::default(),
            pcap_path: pcap_path.into(),
            lease_secs: 3600,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        validate_iface_name(&self.iface)?;
        self.subnet.validate()?;
        if let Mode::Route { upstream_iface, .. } = &self.mode {
            validate_iface_name(upstream_iface)?;
            if upstream_iface == &self.iface {
                return Err(LabNetError::Config(
                    "the upstream interface cannot be the lab interface".into(),
                ));
            }
        }
        if self.sinkhole_ports.contains(&0) {
            return Err(LabNetError::Config("sinkhole port 0 is not a port".into()));
        }
        if self.lease_secs < 60 {
            return Err(LabNetError::Config("lease time below 60 s".into()));
        }
        Ok(())
    }
}

/// Interface names as the kernel accepts them (IFNAMSIZ 16 with the NUL), and never one
/// that could become a path outside `/sys/class/net` or `/proc/sys/net/ipv4/conf`.
pub(crate) fn validate_iface_name(name: &str) -> Result<()> {
    let bad = |why| Err(LabNetError::BadName(name.to_string(), why));
    if name.is_empty() {
        return Err(LabNetError::NotNamed);
    }
    if name.len() > 15 {
        return bad("longer than 15 bytes");
    }
    if name == "." || name == ".." || name == "all" || name == "default" {
        return bad("reserved name");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b)) {
        return bad("only letters, digits and - _ . @ are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_parses_and_refuses() {
        let s = Subnet::parse("10.77.0.0/24").expect("valid");
        assert_eq!(s.lab_address(), Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(s.pool().next(), Some(Ipv4Addr::new(10, 77, 0, 100)));
        assert_eq!(s.pool().count(), 100);
        assert!(s.contains(Ipv4Addr::new(10, 77, 0, 250)));
        assert!(!s.contains(Ipv4Addr::new(10, 78, 0, 1)));
        assert!(Subnet::parse("10.77.0.1/24").is_err(), "host bits");
        assert!(Subnet::parse("10.77.0.0/28").is_err(), "too small for the pool");
        assert!(Subnet::parse("10.77.0.0").is_err());
    }

    #[test]
    fn interface_names_are_checked() {
        assert!(matches!(validate_iface_name(""), Err(LabNetError::NotNamed)));
        assert!(validate_iface_name("enp3s0").is_ok());
        assert!(validate_iface_name("veth-cam.1").is_ok());
        for bad in ["../x", "a/b", "all", "sixteen-chars-xx", "eth 0"] {
            assert!(validate_iface_name(bad).is_err(), "{bad}");
        }
    }
}
