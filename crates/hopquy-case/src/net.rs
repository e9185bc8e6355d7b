//! Networks as target files and the lab's GeoIP file write them (`203.0.113.0/24`,
//! `2001:db8::/32`, or a bare address for one host). Parsed here once so the target check and
//! the runner's matching agree on what a network is.

use std::fmt;
use std::net::IpAddr;

/// An IPv4 or IPv6 network: an address with a prefix length, host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

/// Why a network did not parse, in words a diagnostic can quote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    #[error("`{0}` is not an IP address")]
    Address(String),
    #[error("prefix `/{0}` is not a number")]
    Prefix(String),
    #[error("prefix /{prefix} is longer than an {family} address ({max} bits)")]
    PrefixTooLong { prefix: u32, family: &'static str, max: u8 },
    #[error("`{given}` has host bits set (the network is `{network}`)")]
    HostBits { given: String, network: String },
}

impl Network {
    pub fn parse(text: &str) -> Result<Network, NetworkError> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| NetworkError::Address(addr.to_string()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => {
                let value: u32 = p
                    .parse()
                    .ok()
                    .filter(|_| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
                    .ok_or_else(|| NetworkError::Prefix(p.to_string()))?;
                if value > u32::from(max) {
                    return Err(NetworkError::PrefixTooLong {
                        prefix: value,
                        family: if addr.is_ipv4() { "IPv4" } else { "IPv6" },
                        max,
                    });
                }
                value as u8
            }
        };
        let network = Network {
            addr: mask(addr, prefix),
            prefix,
        };
        if network.addr != addr {
            return Err(NetworkError::HostBits {
                given: text.to_string(),
                network: network.to_string(),
            });
        }
        Ok(network)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = if prefix == 0 {
                0
            } else {
                bits & (u32::MAX << (32 - u32::from(prefix)))
            };
            IpAddr::V4(kept.into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = if prefix == 0 {
                0
            } else {
                bits & (u128::MAX << (128 - u32::from(prefix)))
            };
            IpAddr::V6(kept.into())
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An ISO 3166-1 alpha-2 code's shape: two upper-case ASCII letters. (Whether the pair is
/// assigned is not checked: the lab's GeoIP file is the authority on the codes it uses.)
pub fn is_country_code(text: &str) -> bool {
    text.len() == 2 && text.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_and_contain() {
        let net = Network::parse("203.0.113.0/24").unwrap_or_else(|e| panic!("{e}"));
        assert!(net.contains("203.0.113.77".parse().unwrap_or_else(|e| panic!("{e}"))));
        assert!(!net.contains("203.0.114.1".parse().unwrap_or_else(|e| panic!("{e}"))));
        assert!(!net.contains("::1".parse().unwrap_or_else(|e| panic!("{e}"))));
        let host = Network::parse("198.51.100.7").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(host.prefix(), 32);
        let v6 = Network::parse("2001:db8::/32").unwrap_or_else(|e| panic!("{e}"));
        assert!(v6.contains("2001:db8:1::1".parse().unwrap_or_else(|e| panic!("{e}"))));
        assert!(Network::parse("0.0.0.0/0").is_ok_and(|n| n.contains([8, 8, 8, 8].into())));
    }

    #[test]
    fn bad_networks_say_why() {
        assert!(matches!(
            Network::parse("cloud.example/24"),
            Err(NetworkError::Address(_))
        ));
        assert!(matches!(Network::parse("10.0.0.0/x"), Err(NetworkError::Prefix(_))));
        assert!(matches!(Network::parse("10.0.0.0/+8"), Err(NetworkError::Prefix(_))));
        assert!(matches!(
            Network::parse("10.0.0.0/33"),
            Err(NetworkError::PrefixTooLong { .. })
        ));
        let err = Network::parse("10.0.0.1/24").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("`10.0.0.1/24` has host bits set (the network is `10.0.0.0/24`)")
        );
    }

    #[test]
    fn country_codes_are_two_capitals() {
        assert!(is_country_code("VN"));
        assert!(!is_country_code("vn") && !is_country_code("VNM") && !is_country_code(""));
    }
}
