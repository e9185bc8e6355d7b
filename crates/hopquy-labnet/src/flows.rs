//! The flow table: every frame the capture sees, sliced by etherparse, folded into one entry
//! per 5-tuple oriented client → server. Bounded: `max_flows` entries, `INSPECT_BYTES` kept
//! per direction for inspection, `MAX_SYN_TIMES` attempt timestamps per flow.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

use crate::inspect::{self, INSPECT_BYTES};
use crate::record::Flow;

const MAX_SYN_TIMES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    proto: u8,
    client: SocketAddr,
    server: SocketAddr,
}

#[derive(Debug)]
struct Entry {
    flow: Flow,
    client_bytes: Vec<u8>,
    server_bytes: Vec<u8>,
    /// The server's last bytes were a password prompt: the client's bytes up to its next
    /// line end are a secret, whatever protocol this is (Telnet, SMTP `AUTH LOGIN`, a
    /// vendor console).
    secret_line_pending: bool,
}

/// What one frame was, for the capture's counters and the pcap's masking.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    Ip {
        /// Where the TCP payload sits in the frame, so credentials can be masked there.
        tcp_payload: Option<Range<usize>>,
        /// Bytes of the frame the client typed after a password prompt: masked in the pcap.
        secret: Option<Range<usize>>,
    },
    NonIp,
    Malformed,
}

pub struct FlowTable {
    lab: Ipv4Addr,
    max_flows: usize,
    entries: HashMap<Key, Entry>,
    order: Vec<Key>,
    pub over_cap: u64,
}

fn proto_name(p: u8) -> String {
    match p {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        58 => "icmpv6".into(),
        n => format!("ip-{n}"),
    }
}

impl FlowTable {
    pub fn new(lab: Ipv4Addr, max_flows: usize) -> Self {
        FlowTable {
            lab,
            max_flows,
            entries: HashMap::new(),
            order: Vec::new(),
            over_cap: 0,
        }
    }

    pub fn observe(&mut self, frame: &[u8], time: &str) -> Seen {
        let Ok(packet) = SlicedPacket::from_ethernet(frame) else {
            return Seen::Malformed;
        };
        let (src, dst, proto) = match &packet.net {
            Some(NetSlice::Ipv4(v4)) => (
                IpAddr::V4(v4.header().source_addr()),
                IpAddr::V4(v4.header().destination_addr()),
                v4.payload_ip_number().0,
            ),
            Some(NetSlice::Ipv6(v6)) => (
                IpAddr::V6(v6.header().source_addr()),
                IpAddr::V6(v6.header().destination_addr()),
                v6.payload().ip_number.0,
            ),
            Some(NetSlice::Arp(_)) | None => return Seen::NonIp,
        };
        let mut tcp_payload = None;
        let (sport, dport, payload, syn, rst) = match &packet.transport {
            Some(TransportSlice::Tcp(tcp)) => {
                let p = tcp.payload();
                let start = (p.as_ptr() as usize).saturating_sub(frame.as_ptr() as usize);
                if !p.is_empty() && start + p.len() <= frame.len() {
                    tcp_payload = Some(start..start + p.len());
                }
                (
                    tcp.source_port(),
                    tcp.destination_port(),
                    p,
                    tcp.syn() && !tcp.ack(),
                    tcp.rst(),
                )
            }
            Some(TransportSlice::Udp(udp)) => (udp.source_port(), udp.destination_port(), udp.payload(), false, false),
            _ => (0, 0, &[][..], false, false),
        };
        let a = SocketAddr::new(src, sport);
        let b = SocketAddr::new(dst, dport);
        let lab = IpAddr::V4(self.lab);
        let forward = Key {
            proto,
            client: a,
            server: b,
        };
        let reverse = Key {
            proto,
            client: b,
            server: a,
        };
        let (key, outbound) = if self.entries.contains_key(&forward) {
            (forward, true)
        } else if self.entries.contains_key(&reverse) {
            (reverse, false)
        } else if src == lab && dst != lab && !syn {
            // hopquy answering first (a DHCP offer, a SYN-ACK whose SYN was not captured):
            // the camera is still the client.
            (reverse, false)
        } else {
            (forward, true)
        };
        if !self.entries.contains_key(&key) {
            if self.entries.len() >= self.max_flows {
                self.over_cap += 1;
                return Seen::Ip {
                    tcp_payload,
                    secret: None,
                };
            }
            self.order.push(key);
            self.entries.insert(
                key,
                Entry {
                    flow: Flow {
                        proto: proto_name(proto),
                        client: key.client.to_string(),
                        server: key.server.to_string(),
                        packets_out: 0,
                        bytes_out: 0,
                        packets_in: 0,
                        bytes_in: 0,
                        first_seen: time.to_string(),
                        last_seen: time.to_string(),
                        tcp_syn_count: 0,
                        tcp_syn_times: vec![],
                        tcp_rst_count: 0,
                        answered_by: String::new(),
                        tls: None,
                        plaintext: None,
                        interception: None,
                    },
                    client_bytes: vec![],
                    server_bytes: vec![],
                    secret_line_pending: false,
                },
            );
        }
        let Some(entry) = self.entries.get_mut(&key) else {
            return Seen::Ip {
                tcp_payload,
                secret: None,
            };
        };
        let len = frame.len() as u64;
        entry.flow.last_seen = time.to_string();
        if outbound {
            entry.flow.packets_out += 1;
            entry.flow.bytes_out += len;
        } else {
            entry.flow.packets_in += 1;
            entry.flow.bytes_in += len;
        }
        if syn && outbound {
            entry.flow.tcp_syn_count += 1;
            if entry.flow.tcp_syn_times.len() < MAX_SYN_TIMES {
                entry.flow.tcp_syn_times.push(time.to_string());
            }
        }
        if rst {
            entry.flow.tcp_rst_count += 1;
        }
        let kept = if outbound {
            &mut entry.client_bytes
        } else {
            &mut entry.server_bytes
        };
        if !payload.is_empty() && kept.len() < INSPECT_BYTES {
            let room = INSPECT_BYTES - kept.len();
            kept.extend_from_slice(&payload[..payload.len().min(room)]);
        }
        let mut secret = None;
        if let Some(range) = tcp_payload.clone() {
            if !outbound && inspect::ends_with_password_prompt(payload) {
                entry.secret_line_pending = true;
            } else if outbound && entry.secret_line_pending {
                let line_end = payload.iter().position(|&b| matches!(b, b'\r' | b'\n' | 0));
                if line_end.is_some() {
                    entry.secret_line_pending = false;
                }
                let len = line_end.unwrap_or(payload.len());
                secret = (len > 0).then(|| range.start..range.start + len);
            }
        }
        Seen::Ip { tcp_payload, secret }
    }

    /// The flows in first-seen order, with what their first bytes showed. `listening` says
    /// which TCP ports of the lab address had a sinkhole listener.
    pub fn flows(&self, listening: &[u16], sinkhole: bool) -> Vec<Flow> {
        let lab = IpAddr::V4(self.lab);
        self.order
            .iter()
            .filter_map(|k| self.entries.get(k).map(|e| (k, e)))
            .map(|(k, e)| {
                let mut flow = e.flow.clone();
                let tcp = k.proto == 6;
                if let Some(mut tls) = tcp.then(|| inspect::client_hello(&e.client_bytes)).flatten() {
                    match inspect::server_hello(&e.server_bytes) {
                        Some((v, c)) => {
                            tls.negotiated_version = Some(v);
                            tls.negotiated_cipher = Some(c);
                        }
                        None if sinkhole => {
                            tls.note =
                                Some("negotiated version not visible in sinkhole mode (TLS is not terminated)".into());
                        }
                        None => tls.note = Some("no ServerHello captured".into()),
                    }
                    flow.tls = Some(tls);
                } else {
                    flow.plaintext =
                        inspect::plaintext(&e.client_bytes, &e.server_bytes, k.server.port(), k.proto == 17);
                }
                if sinkhole && tcp {
                    flow.answered_by = if k.server.ip() != lab {
                        "not addressed to hopquy (not forwarded)".into()
                    } else if listening.contains(&k.server.port()) {
                        "sinkhole listener".into()
                    } else {
                        "no listener (kernel reset)".into()
                    };
                }
                flow
            })
            .collect()
    }

    /// Source addresses that sent IP traffic, for telling a camera with a static address
    /// from one that never spoke.
    pub fn clients(&self) -> Vec<IpAddr> {
        let unicast = |ip: &IpAddr| match ip {
            IpAddr::V4(v4) => !v4.is_broadcast() && !v4.is_multicast() && !v4.is_unspecified(),
            IpAddr::V6(v6) => !v6.is_multicast() && !v6.is_unspecified(),
        };
        let mut out: Vec<IpAddr> = self.order.iter().map(|k| k.client.ip()).filter(unicast).collect();
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    const CAM: [u8; 4] = [10, 77, 0, 100];
    const LAB: [u8; 4] = [10, 77, 0, 1];

    fn tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, syn: bool, ack: bool, payload: &[u8]) -> Vec<u8> {
        let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src, dst, 64)
            .tcp(sport, dport, 1, 65535);
        if syn {
            b = b.syn();
        }
        if ack {
            b = b.ack(1);
        }
        let mut out = Vec::new();
        b.write(&mut out, payload).expect("builds");
        out
    }

    #[test]
    fn a_connection_is_one_flow_with_attempts_and_payload() {
        let mut t = FlowTable::new(Ipv4Addr::from(LAB), 16);
        for _ in 0..3 {
            t.observe(&tcp(CAM, LAB, 40000, 80, true, false, b""), "t0");
        }
        t.observe(&tcp(LAB, CAM, 80, 40000, true, true, b""), "t1");
        let req = b"POST /x HTTP/1.1\r\nHost: cloud.example\r\n\r\n";
        let seen = t.observe(&tcp(CAM, LAB, 40000, 80, false, true, req), "t2");
        let Seen::Ip {
            tcp_payload: Some(range),
            secret: None,
        } = seen
        else {
            panic!("payload range: {seen:?}")
        };
        assert_eq!(range.len(), req.len());
        t.observe(&tcp(CAM, LAB, 41000, 9999, true, false, b""), "t3");
        let flows = t.flows(&[80], true);
        assert_eq!(flows.len(), 2);
        let f = &flows[0];
        assert_eq!(
            (f.client.as_str(), f.server.as_str()),
            ("10.77.0.100:40000", "10.77.0.1:80")
        );
        assert_eq!((f.packets_out, f.packets_in, f.tcp_syn_count), (4, 1, 3));
        assert_eq!(f.answered_by, "sinkhole listener");
        let p = f.plaintext.as_ref().expect("http seen");
        assert_eq!(
            (p.protocol.as_str(), p.host.as_deref()),
            ("http", Some("cloud.example"))
        );
        assert_eq!(flows[1].answered_by, "no listener (kernel reset)");
        assert_eq!(t.clients(), vec![IpAddr::V4(Ipv4Addr::from(CAM))]);
        // hopquy's broadcast DHCP answer: the broadcast address is nobody's address.
        let mut offer = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [0xff; 6])
            .ipv4(LAB, [255; 4], 64)
            .udp(67, 68)
            .write(&mut offer, b"offer")
            .expect("builds");
        t.observe(&offer, "t4");
        assert_eq!(t.clients(), vec![IpAddr::V4(Ipv4Addr::from(CAM))]);
    }

    #[test]
    fn what_the_client_types_after_a_password_prompt_is_marked_secret() {
        let mut t = FlowTable::new(Ipv4Addr::from(LAB), 16);
        let secret_of = |seen: Seen| match seen {
            Seen::Ip { tcp_payload, secret } => secret.map(|s| {
                let p = tcp_payload.expect("payload");
                (s.start - p.start, s.len())
            }),
            other => panic!("{other:?}"),
        };
        let cam = |t: &mut FlowTable, payload: &[u8]| {
            secret_of(t.observe(&tcp(CAM, LAB, 40000, 23, false, true, payload), "t"))
        };
        let lab = |t: &mut FlowTable, payload: &[u8]| t.observe(&tcp(LAB, CAM, 23, 40000, false, true, payload), "t");
        t.observe(&tcp(CAM, LAB, 40000, 23, true, false, b""), "t");
        lab(&mut t, b"\xff\xfb\x01login: ");
        assert_eq!(cam(&mut t, b"admin\r\n"), None, "a user name is not masked");
        lab(&mut t, b"Password: ");
        // Character mode: one byte per segment until the line ends.
        assert_eq!(cam(&mut t, b"h"), Some((0, 1)));
        assert_eq!(cam(&mut t, b"unter2"), Some((0, 6)));
        assert_eq!(cam(&mut t, b"\r\n"), None);
        assert_eq!(
            cam(&mut t, b"ls\r\n"),
            None,
            "the shell's input after the line is not a secret"
        );
        lab(&mut t, b"334 UGFzc3dvcmQ6\r\n");
        assert_eq!(cam(&mut t, b"aHVudGVyMg==\r\n"), Some((0, 12)));
    }

    #[test]
    fn caps_and_garbage_are_counted() {
        let mut t = FlowTable::new(Ipv4Addr::from(LAB), 2);
        for port in 1..=5 {
            t.observe(&tcp(CAM, LAB, 1000 + port, 80, true, false, b""), "t");
        }
        assert_eq!(t.flows(&[], true).len(), 2);
        assert_eq!(t.over_cap, 3);
        let frame = tcp(CAM, LAB, 1, 2, true, false, b"abc");
        for cut in 0..frame.len() {
            // Never a panic, whatever the cut; a cut inside the headers is malformed.
            let _ = t.observe(&frame[..cut], "t");
        }
        assert_eq!(t.observe(&frame[..20], "t"), Seen::Malformed);
        assert_eq!(t.observe(&[0u8; 3], "t"), Seen::Malformed);
    }
}
