//! The sinkhole resolver (hickory-proto for the wire format): every A question is answered
//! with hopquy's address, everything else with an empty NOERROR; during an outage nothing is
//! answered. Every question is recorded within the cap.

use std::net::{Ipv4Addr, SocketAddr};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};

use crate::record::{DnsQuestion, DnsRecord};

/// TTL of sinkhole answers: short, so a camera re-resolves after an outage and that shows.
const TTL: u32 = 30;
/// More questions in one message than any resolver sends; the rest are not answered.
const MAX_QUESTIONS: usize = 4;

pub struct DnsSinkhole {
    lab: Ipv4Addr,
    max_records: usize,
    pub record: DnsRecord,
}

impl DnsSinkhole {
    pub fn new(lab: Ipv4Addr, max_records: usize) -> Self {
        DnsSinkhole {
            lab,
            max_records,
            record: DnsRecord::default(),
        }
    }

    pub fn handle(&mut self, datagram: &[u8], client: SocketAddr, outage: bool, time: &str) -> Option<Vec<u8>> {
        let Ok(query) = Message::from_vec(datagram) else {
            self.record.malformed += 1;
            return None;
        };
        if query.message_type() != MessageType::Query || query.op_code() != OpCode::Query {
            self.record.malformed += 1;
            return None;
        }
        let mut reply = Message::new();
        reply
            .set_id(query.id())
            .set_message_type(MessageType::Response)
            .set_op_code(OpCode::Query)
            .set_authoritative(true)
            .set_recursion_desired(query.recursion_desired())
            .set_recursion_available(true)
            .set_response_code(ResponseCode::NoError);
        for q in query.queries().iter().take(MAX_QUESTIONS) {
            let answer = if outage {
                "none: uplink cut".to_string()
            } else if q.query_type() == RecordType::A {
                let mut r = Record::from_rdata(q.name().clone(), TTL, RData::A(A(self.lab)));
                r.set_dns_class(q.query_class());
                reply.add_answer(r);
                format!("A {}", self.lab)
            } else {
                "no data".to_string()
            };
            reply.add_query(q.clone());
            if self.record.questions.len() < self.max_records {
                let mut name = q.name().to_ascii();
                name.truncate(255);
                self.record.questions.push(DnsQuestion {
                    time: time.to_string(),
                    client: client.to_string(),
                    name,
                    qtype: q.query_type().to_string(),
                    answer,
                });
            } else {
                self.record.questions_over_cap += 1;
            }
        }
        if outage {
            return None;
        }
        reply.to_vec().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;
    use std::str::FromStr;

    fn query(name: &str, t: RecordType) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(77).set_recursion_desired(true);
        m.add_query(Query::query(Name::from_str(name).expect("name"), t));
        m.to_vec().expect("encodes")
    }

    fn client() -> SocketAddr {
        "10.77.0.100:5353".parse().expect("addr")
    }

    #[test]
    fn every_name_resolves_to_hopquy() {
        let mut d = DnsSinkhole::new(Ipv4Addr::new(10, 77, 0, 1), 10);
        let r = d
            .handle(&query("p2p.vendor.example.", RecordType::A), client(), false, "t")
            .expect("answer");
        let r = Message::from_vec(&r).expect("decodes");
        assert_eq!(r.id(), 77);
        assert_eq!(r.answers().len(), 1);
        assert_eq!(r.answers()[0].data(), &RData::A(A(Ipv4Addr::new(10, 77, 0, 1))));
        let r6 = d
            .handle(&query("p2p.vendor.example.", RecordType::AAAA), client(), false, "t")
            .expect("answer");
        assert!(Message::from_vec(&r6).expect("decodes").answers().is_empty());
        let q = &d.record.questions;
        assert_eq!(
            (q[0].name.as_str(), q[0].qtype.as_str(), q[0].answer.as_str()),
            ("p2p.vendor.example.", "A", "A 10.77.0.1")
        );
        assert_eq!(q[1].answer, "no data");
    }

    #[test]
    fn outage_garbage_and_cap() {
        let mut d = DnsSinkhole::new(Ipv4Addr::new(10, 77, 0, 1), 2);
        assert!(
            d.handle(&query("a.example.", RecordType::A), client(), true, "t")
                .is_none()
        );
        assert_eq!(d.record.questions[0].answer, "none: uplink cut");
        assert!(d.handle(&[0u8; 5], client(), false, "t").is_none());
        assert!(d.handle(&[0xff; 512], client(), false, "t").is_none());
        assert_eq!(d.record.malformed, 2);
        for _ in 0..5 {
            d.handle(&query("b.example.", RecordType::A), client(), false, "t");
        }
        assert_eq!(d.record.questions.len(), 2);
        assert_eq!(d.record.questions_over_cap, 4);
    }
}
