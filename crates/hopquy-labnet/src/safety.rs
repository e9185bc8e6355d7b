//! The refusals that come before anything is served: an interface that was not named, does
//! not exist, is loopback, carries the host's default route (IPv4 or IPv6), or whose lab
//! subnet collides with a route the host already has elsewhere.

use std::net::Ipv4Addr;

use serde::Serialize;

use crate::config::LabNetConfig;
#[cfg(target_os = "linux")]
use crate::{LabNetError, Result};

/// A route from `/proc/net/route` or `/proc/net/ipv6_route`, as far as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub iface: String,
    pub v4: Option<(Ipv4Addr, Ipv4Addr)>,
    pub default: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTables {
    pub routes: Vec<Route>,
}

impl RouteTables {
    /// `/proc/net/route`: destination and mask are the kernel's `__be32` printed as host
    /// integers, so their native bytes are the address.
    pub fn parse_v4(text: &str) -> Vec<Route> {
        text.lines()
            .skip(1)
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let (iface, dest, mask) = (f.first()?, f.get(1)?, f.get(7)?);
                let dest = Ipv4Addr::from(u32::from_str_radix(dest, 16).ok()?.to_ne_bytes());
                let mask = Ipv4Addr::from(u32::from_str_radix(mask, 16).ok()?.to_ne_bytes());
                Some(Route {
                    iface: iface.to_string(),
                    v4: Some((dest, mask)),
                    default: dest.is_unspecified() && mask.is_unspecified(),
                })
            })
            .collect()
    }

    /// `/proc/net/ipv6_route`: `dest plen src splen nexthop metric refcnt use flags iface`.
    pub fn parse_v6(text: &str) -> Vec<Route> {
        const RTF_REJECT: u32 = 0x0200;
        text.lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() < 10 {
                    return None;
                }
                let flags = u32::from_str_radix(f[8], 16).ok()?;
                let default = f[0].bytes().all(|b| b == b'0') && f[1] == "00" && flags & RTF_REJECT == 0;
                Some(Route {
                    iface: f[9].to_string(),
                    v4: None,
                    default,
                })
            })
            .collect()
    }

    pub fn default_on(&self, iface: &str) -> Option<&'static str> {
        self.routes
            .iter()
            .find(|r| r.default && r.iface == iface)
            .map(|r| if r.v4.is_some() { "IPv4" } else { "IPv6" })
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckReport {
    pub iface: String,
    pub mode: String,
    pub subnet: String,
    pub lab_address: String,
    pub lease_pool: String,
    /// What `start` would do to the host, in order.
    pub would: Vec<String>,
}

#[cfg(target_os = "linux")]
fn read_proc(path: &str) -> Result<String> {
    use std::io::Read;
    let mut s = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(4 * 1024 * 1024).read_to_string(&mut s))
        .map_err(crate::io_err(format!("reading {path}")))?;
    Ok(s)
}

#[cfg(target_os = "linux")]
pub(crate) fn load_routes() -> Result<RouteTables> {
    let mut routes = RouteTables::parse_v4(&read_proc("/proc/net/route")?);
    // A host without IPv6 has no such file: no IPv6 default route either.
    if let Ok(v6) = read_proc("/proc/net/ipv6_route") {
        routes.extend(RouteTables::parse_v6(&v6));
    }
    Ok(RouteTables { routes })
}

/// Refusals that depend on the interface and routes alone (unit-tested on fixtures).
pub(crate) fn check_routes(cfg: &LabNetConfig, tables: &RouteTables) -> Result<(), crate::LabNetError> {
    if let Some(family) = tables.default_on(&cfg.iface) {
        return Err(crate::LabNetError::DefaultRoute {
            iface: cfg.iface.clone(),
            family,
        });
    }
    let lab_mask = cfg.subnet.mask_bits();
    for r in &tables.routes {
        let Some((dest, mask)) = r.v4 else { continue };
        if r.default || r.iface == cfg.iface {
            continue;
        }
        // Two prefixes overlap when they agree on the shorter mask.
        let common = lab_mask & u32::from(mask);
        if u32::from(dest) & common == u32::from(cfg.subnet.network) & common {
            return Err(crate::LabNetError::SubnetConflict {
                subnet: cfg.subnet.to_string(),
                route: format!("{dest}/{}", u32::from(mask).count_ones()),
                iface: r.iface.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(target_os = "linux")]
pub(crate) fn check_host(cfg: &LabNetConfig) -> Result<CheckReport> {
    let sys = std::path::Path::new("/sys/class/net").join(&cfg.iface);
    if !sys.exists() {
        return Err(LabNetError::NoSuchInterface(cfg.iface.clone()));
    }
    const IFF_LOOPBACK: u32 = 0x8;
    let flags = std::fs::read_to_string(sys.join("flags")).unwrap_or_default();
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap_or(0);
    if flags & IFF_LOOPBACK != 0 || cfg.iface == "lo" {
        return Err(LabNetError::Loopback(cfg.iface.clone()));
    }
    check_routes(cfg, &load_routes()?)?;
    if let crate::Mode::Route { .. } = cfg.mode {
        return Err(LabNetError::Unsupported(
            "route mode is not implemented yet; use sinkhole mode (see docs/lab-network.md)".into(),
        ));
    }
    let lab = cfg.subnet.lab_address();
    let pool: Vec<_> = cfg.subnet.pool().collect();
    let ports: Vec<String> = cfg.sinkhole_ports.iter().map(u16::to_string).collect();
    Ok(CheckReport {
        iface: cfg.iface.clone(),
        mode: cfg.mode.name().into(),
        subnet: cfg.subnet.to_string(),
        lab_address: lab.to_string(),
        lease_pool: format!(
            "{}-{}",
            pool.first().map(ToString::to_string).unwrap_or_default(),
            pool.last().map(ToString::to_string).unwrap_or_default()
        ),
        would: vec![
            format!(
                "bring {} up and add {lab}/{} to it (removed again at stop if hopquy added it)",
                cfg.iface, cfg.subnet.prefix
            ),
            format!(
                "switch IPv4 forwarding off for packets arriving on {} (restored at stop)",
                cfg.iface
            ),
            format!("serve DHCP on {} port 67 (router and DNS server = {lab})", cfg.iface),
            format!("answer DNS on {lab}:53: every A question with {lab}"),
            format!(
                "accept TCP on {lab} ports {} and read the first bytes, answering a TLS handshake with a certificate from an authority made up for the run; other ports: the kernel resets, the SYNs are recorded",
                ports.join(", ")
            ),
            format!(
                "capture every frame on {} into {} (at most {} bytes)",
                cfg.iface,
                cfg.pcap_path.display(),
                cfg.caps.max_pcap_bytes
            ),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LabNetError, Subnet};

    const V4: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
eth0\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n\
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";

    const V6: &str = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     wlan0\n\
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n\
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     enp3s0\n";

    fn tables() -> RouteTables {
        let mut routes = RouteTables::parse_v4(V4);
        routes.extend(RouteTables::parse_v6(V6));
        RouteTables { routes }
    }

    #[test]
    fn default_routes_are_found_per_family() {
        let t = tables();
        // Only meaningful on little-endian hosts, where the fixture was taken.
        if cfg!(target_endian = "little") {
            assert_eq!(t.default_on("eth0"), Some("IPv4"));
        }
        assert_eq!(t.default_on("wlan0"), Some("IPv6"));
        assert_eq!(t.default_on("lo"), None, "unreachable route is not a default");
        assert_eq!(t.default_on("enp3s0"), None);
    }

    #[test]
    fn refuses_default_route_and_overlapping_subnet() {
        let t = tables();
        let mut cfg = LabNetConfig::new("wlan0", "/tmp/x.pcap");
        assert!(matches!(
            check_routes(&cfg, &t),
            Err(LabNetError::DefaultRoute { family: "IPv6", .. })
        ));
        cfg.iface = "enp3s0".into();
        assert!(check_routes(&cfg, &t).is_ok());
        if cfg!(target_endian = "little") {
            cfg.subnet = Subnet::parse("192.168.0.0/24").expect("subnet");
            assert!(matches!(
                check_routes(&cfg, &t),
                Err(LabNetError::SubnetConflict { .. })
            ));
            cfg.subnet = Subnet::parse("172.17.5.0/24").expect("subnet");
            let err = check_routes(&cfg, &t).expect_err("inside docker0's /16");
            assert!(err.to_string().contains("docker0"), "{err}");
        }
    }
}
