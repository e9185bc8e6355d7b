//! The lab's offline GeoIP file (`hopquy run --geoip FILE`): which country an address is in,
//! for the cases that judge where the camera's traffic goes. A plain CSV the lab makes from its
//! own database, one `network,country` a line (`203.0.113.0/24,SG`); `#` comments, blank lines
//! and one `network,country` header line are allowed. The most specific network wins.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use crate::error::{Diagnostic, SourceFile};
use crate::net::{Network, is_country_code};

/// More networks than this is not a lab's file but a whole database dump: refused, so a run
/// cannot be slowed by it (the file is also bounded in bytes by the loader).
pub const MAX_GEOIP_NETWORKS: usize = 100_000;

/// Networks and their countries, as read from the lab's file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeoIpTable {
    networks: Vec<(Network, String)>,
}

impl GeoIpTable {
    /// The country of `ip` by the most specific network that contains it.
    pub fn country(&self, ip: IpAddr) -> Option<&str> {
        self.networks
            .iter()
            .filter(|(network, _)| network.contains(ip))
            .max_by_key(|(network, _)| network.prefix())
            .map(|(_, country)| country.as_str())
    }

    pub fn len(&self) -> usize {
        self.networks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }
}

/// Reads and checks a GeoIP file (size-bounded like every user file).
pub fn load_geoip(path: impl AsRef<Path>) -> Result<GeoIpTable, Vec<Diagnostic>> {
    let path = path.as_ref();
    let text = crate::load::read_user_file_text(path)?;
    parse_geoip(SourceFile::new(path, &text))
}

/// Parses a GeoIP file; every bad line is a diagnostic at its position.
pub fn parse_geoip(file: SourceFile<'_>) -> Result<GeoIpTable, Vec<Diagnostic>> {
    let mut diagnostics = Vec::new();
    let mut seen: BTreeMap<Network, (String, usize)> = BTreeMap::new();
    let mut networks = Vec::new();
    let mut offset = 0;
    let mut first_data_line = true;
    for (index, raw) in file.text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let span = start..start + line.len();
        let header = first_data_line && trimmed.eq_ignore_ascii_case("network,country");
        first_data_line = false;
        if header {
            continue;
        }
        let fields: Vec<&str> = trimmed.split(',').map(str::trim).collect();
        let [network, country] = fields[..] else {
            diagnostics.push(
                file.error_at(span, format!("line has {} fields", fields.len()))
                    .with_expected("`network,country`, e.g. `203.0.113.0/24,SG`"),
            );
            continue;
        };
        let network = match Network::parse(network) {
            Ok(network) => network,
            Err(error) => {
                diagnostics.push(
                    file.error_at(span, format!("network: {error}"))
                        .with_expected("an address or a CIDR block, e.g. `203.0.113.0/24`"),
                );
                continue;
            }
        };
        if !is_country_code(country) {
            let mut diagnostic = file
                .error_at(span, format!("`{country}` is not an ISO 3166-1 alpha-2 code"))
                .with_expected("two upper-case letters, e.g. `VN`");
            if is_country_code(&country.to_ascii_uppercase()) {
                diagnostic = diagnostic.with_hint(format!("write `{}`", country.to_ascii_uppercase()));
            }
            diagnostics.push(diagnostic);
            continue;
        }
        if let Some((earlier, line)) = seen.get(&network) {
            if earlier != country {
                diagnostics.push(
                    file.error_at(
                        span,
                        format!("{network} is listed again with another country ({country})"),
                    )
                    .with_expected(format!("one country per network; line {line} says {earlier}")),
                );
            }
            continue;
        }
        if networks.len() == MAX_GEOIP_NETWORKS {
            diagnostics.push(
                file.error_at(span, format!("more than {MAX_GEOIP_NETWORKS} networks"))
                    .with_hint("keep the networks the camera may reach (the lab's region and the vendor's clouds)"),
            );
            break;
        }
        seen.insert(network, (country.to_string(), index + 1));
        networks.push((network, country.to_string()));
    }
    if diagnostics.is_empty() {
        Ok(GeoIpTable { networks })
    } else {
        Err(diagnostics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<GeoIpTable, Vec<Diagnostic>> {
        parse_geoip(SourceFile::new(Path::new("geoip.csv"), text))
    }

    #[test]
    fn the_most_specific_network_wins() {
        let table =
            parse("network,country\n# lab fixture\n203.0.113.0/24,SG\n203.0.113.128/25,VN\n\n2001:db8::/32,JP\r\n")
                .unwrap_or_else(|d| panic!("{d:?}"));
        assert_eq!(table.len(), 3);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(table.country(ip("203.0.113.7")), Some("SG"));
        assert_eq!(table.country(ip("203.0.113.200")), Some("VN"));
        assert_eq!(table.country(ip("2001:db8::9")), Some("JP"));
        assert_eq!(table.country(ip("198.51.100.1")), None);
    }

    #[test]
    fn every_bad_line_is_reported_at_its_line() {
        let text = "203.0.113.0/24,SG\n203.0.113.0/24\nexample.com,VN\n198.51.100.0/24,vn\n203.0.113.0/24,JP\n10.0.0.0/8,VN,extra\n";
        let diagnostics = parse(text).err().unwrap_or_default();
        let got: Vec<(usize, &str)> = diagnostics.iter().map(|d| (d.line, d.message.as_str())).collect();
        assert_eq!(
            got,
            [
                (2, "line has 1 fields"),
                (3, "network: `example.com` is not an IP address"),
                (4, "`vn` is not an ISO 3166-1 alpha-2 code"),
                (5, "203.0.113.0/24 is listed again with another country (JP)"),
                (6, "line has 3 fields"),
            ]
        );
        assert_eq!(diagnostics[2].hint.as_deref(), Some("write `VN`"));
    }

    #[test]
    fn a_header_is_only_allowed_first() {
        assert!(parse("10.0.0.0/8,VN\nnetwork,country\n").is_err());
        assert!(parse("").is_ok_and(|t| t.is_empty()));
    }
}
