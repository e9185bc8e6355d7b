//! The DHCP server's decisions (dhcproto for the wire format): one lease pool, one lease per
//! client MAC, every message recorded. The socket lives in `sys`.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use dhcproto::v4::{self, DhcpOption, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};

use crate::config::Subnet;
use crate::record::{DhcpExchange, DhcpRecord, Lease};

pub struct DhcpServer {
    subnet: Subnet,
    lease_secs: u32,
    max_records: usize,
    leases: HashMap<String, Lease>,
    lease_order: Vec<String>,
    pub record: DhcpRecord,
}

fn mac_string(chaddr: &[u8]) -> String {
    chaddr
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn bounded_text(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(128)]).into_owned()
}

impl DhcpServer {
    pub fn new(subnet: Subnet, lease_secs: u32, max_records: usize) -> Self {
        DhcpServer {
            subnet,
            lease_secs,
            max_records,
            leases: HashMap::new(),
            lease_order: vec![],
            record: DhcpRecord::default(),
        }
    }

    fn lease_for(&mut self, mac: &str, hostname: &Option<String>, time: &str) -> Option<Ipv4Addr> {
        if let Some(l) = self.leases.get(mac) {
            return l.ip.parse().ok();
        }
        let taken: Vec<String> = self.leases.values().map(|l| l.ip.clone()).collect();
        let ip = self.subnet.pool().find(|ip| !taken.contains(&ip.to_string()))?;
        self.leases.insert(
            mac.to_string(),
            Lease {
                client_mac: mac.to_string(),
                ip: ip.to_string(),
                hostname: hostname.clone(),
                first_leased: time.to_string(),
            },
        );
        self.lease_order.push(mac.to_string());
        Some(ip)
    }

    pub fn leases(&self) -> Vec<Lease> {
        self.lease_order
            .iter()
            .filter_map(|m| self.leases.get(m).cloned())
            .collect()
    }

    /// One datagram from port 68: the reply to broadcast, if any. Everything is recorded
    /// (within `max_records`); a datagram that does not decode is counted.
    pub fn handle(&mut self, datagram: &[u8], time: &str) -> Option<Vec<u8>> {
        let Ok(msg) = v4::Message::decode(&mut Decoder::new(datagram)) else {
            self.record.malformed += 1;
            return None;
        };
        if msg.opcode() != v4::Opcode::BootRequest {
            self.record.malformed += 1;
            return None;
        }
        let mac = mac_string(msg.chaddr());
        let opts = msg.opts();
        let hostname = match opts.get(OptionCode::Hostname) {
            Some(DhcpOption::Hostname(h)) => Some(bounded_text(h.as_bytes())),
            _ => None,
        };
        let vendor_class = match opts.get(OptionCode::ClassIdentifier) {
            Some(DhcpOption::ClassIdentifier(v)) => Some(bounded_text(v)),
            _ => None,
        };
        let requested = match opts.get(OptionCode::RequestedIpAddress) {
            Some(DhcpOption::RequestedIpAddress(ip)) => Some(*ip),
            _ => None,
        };
        let server_id = match opts.get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
            _ => None,
        };
        let lab = self.subnet.lab_address();
        let kind = opts.msg_type();
        let (reply_type, yiaddr, reply_text) = match kind {
            Some(MessageType::Discover) => match self.lease_for(&mac, &hostname, time) {
                Some(ip) => (Some(MessageType::Offer), ip, format!("offer {ip}")),
                None => (None, Ipv4Addr::UNSPECIFIED, "none: lease pool exhausted".into()),
            },
            Some(MessageType::Request) if server_id.is_some_and(|s| s != lab) => {
                (None, Ipv4Addr::UNSPECIFIED, "none: request for another server".into())
            }
            Some(MessageType::Request) => {
                let wanted = requested.unwrap_or(msg.ciaddr());
                match self.lease_for(&mac, &hostname, time) {
                    Some(ip) if ip == wanted => (Some(MessageType::Ack), ip, format!("ack {ip}")),
                    _ => (
                        Some(MessageType::Nak),
                        Ipv4Addr::UNSPECIFIED,
                        format!("nak (asked for {wanted})"),
                    ),
                }
            }
            Some(MessageType::Inform) => (Some(MessageType::Ack), Ipv4Addr::UNSPECIFIED, "ack (inform)".into()),
            Some(MessageType::Release) => {
                // The address stays reserved for this MAC: a camera that comes back gets the
                // same one, which keeps flows of one device under one address.
                (None, Ipv4Addr::UNSPECIFIED, "none: release noted".into())
            }
            Some(MessageType::Decline) => (None, Ipv4Addr::UNSPECIFIED, "none: decline noted".into()),
            _ => (None, Ipv4Addr::UNSPECIFIED, "none: not a client message".into()),
        };
        if self.record.exchanges.len() < self.max_records {
            self.record.exchanges.push(DhcpExchange {
                time: time.to_string(),
                message: kind.map_or_else(|| "none".to_string(), |k| format!("{k:?}").to_ascii_lowercase()),
                client_mac: mac,
                xid: format!("{:08x}", msg.xid()),
                hostname,
                vendor_class,
                requested_ip: requested.map(|ip| ip.to_string()),
                reply: reply_text,
            });
        } else {
            self.record.exchanges_over_cap += 1;
        }
        let reply_type = reply_type?;
        let chaddr = &msg.chaddr()[..msg.chaddr().len().min(16)];
        let mut reply = v4::Message::new_with_id(msg.xid(), Ipv4Addr::UNSPECIFIED, yiaddr, lab, msg.giaddr(), chaddr);
        reply.set_opcode(v4::Opcode::BootReply).set_flags(msg.flags());
        let o = reply.opts_mut();
        o.insert(DhcpOption::MessageType(reply_type));
        o.insert(DhcpOption::ServerIdentifier(lab));
        if reply_type != MessageType::Nak {
            o.insert(DhcpOption::SubnetMask(self.subnet.mask()));
            o.insert(DhcpOption::Router(vec![lab]));
            o.insert(DhcpOption::DomainNameServer(vec![lab]));
            if reply_type != MessageType::Ack || yiaddr != Ipv4Addr::UNSPECIFIED {
                o.insert(DhcpOption::AddressLeaseTime(self.lease_secs));
            }
        }
        reply.to_vec().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_msg(kind: MessageType, mac: [u8; 6], requested: Option<Ipv4Addr>) -> Vec<u8> {
        let mut m = v4::Message::new_with_id(
            0x1234_5678,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &mac,
        );
        let o = m.opts_mut();
        o.insert(DhcpOption::MessageType(kind));
        o.insert(DhcpOption::Hostname("IPC-cam".into()));
        o.insert(DhcpOption::ClassIdentifier(b"udhcp 1.36".to_vec()));
        if let Some(ip) = requested {
            o.insert(DhcpOption::RequestedIpAddress(ip));
        }
        m.to_vec().expect("encodes")
    }

    fn reply(bytes: &[u8]) -> v4::Message {
        v4::Message::decode(&mut Decoder::new(bytes)).expect("reply decodes")
    }

    #[test]
    fn discover_request_gives_a_lease_and_a_record() {
        let mut s = DhcpServer::new(Subnet::default(), 3600, 100);
        let mac = [2, 0, 0, 0, 0, 9];
        let offer = reply(
            &s.handle(&client_msg(MessageType::Discover, mac, None), "t0")
                .expect("offer"),
        );
        assert_eq!(offer.opts().msg_type(), Some(MessageType::Offer));
        assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 77, 0, 100));
        assert!(matches!(
            offer.opts().get(OptionCode::DomainNameServer),
            Some(DhcpOption::DomainNameServer(d)) if d == &vec![Ipv4Addr::new(10, 77, 0, 1)]
        ));
        let ack = s
            .handle(&client_msg(MessageType::Request, mac, Some(offer.yiaddr())), "t1")
            .expect("ack");
        assert_eq!(reply(&ack).opts().msg_type(), Some(MessageType::Ack));
        let nak = s.handle(
            &client_msg(MessageType::Request, mac, Some(Ipv4Addr::new(10, 77, 0, 150))),
            "t2",
        );
        assert_eq!(reply(&nak.expect("nak")).opts().msg_type(), Some(MessageType::Nak));
        let ex = &s.record.exchanges;
        assert_eq!(ex.len(), 3);
        assert_eq!(ex[0].message, "discover");
        assert_eq!(ex[0].client_mac, "02:00:00:00:00:09");
        assert_eq!(ex[0].hostname.as_deref(), Some("IPC-cam"));
        assert_eq!(ex[0].vendor_class.as_deref(), Some("udhcp 1.36"));
        assert_eq!(ex[1].reply, "ack 10.77.0.100");
        assert_eq!(s.leases().len(), 1);
    }

    #[test]
    fn pool_exhaustion_garbage_and_caps_are_bounded() {
        let mut s = DhcpServer::new(Subnet::default(), 3600, 50);
        for i in 0..120u8 {
            let _ = s.handle(&client_msg(MessageType::Discover, [2, 0, 0, 0, 1, i], None), "t");
        }
        assert_eq!(s.leases().len(), 100, "one pool of 100");
        assert_eq!(s.record.exchanges.len(), 50);
        assert_eq!(s.record.exchanges_over_cap, 70);
        let before = s.record.malformed;
        assert!(s.handle(&[0u8; 7], "t").is_none());
        assert!(s.handle(&[0xffu8; 600], "t").is_none());
        assert_eq!(s.record.malformed, before + 2);
    }
}
