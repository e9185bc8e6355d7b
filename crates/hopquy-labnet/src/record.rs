//! What a lab-network run recorded: `labnet/record.json` in the bundle. Field names are a
//! contract with the cases that judge them (additive changes only).

use serde::Serialize;

use crate::config::{Caps, Mode};

/// Bumped only for a change that is not additive.
pub const RECORD_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LabNetRecord {
    pub schema_version: u32,
    pub iface: String,
    pub mode: Mode,
    pub subnet: String,
    pub lab_address: String,
    pub started: String,
    pub stopped: Option<String>,
    pub caps: Caps,
    pub sinkhole_ports: Vec<u16>,
    /// What hopquy changed on the host to run (address added, forwarding switched off) and
    /// anything that went wrong in a service after start.
    pub setup: Vec<String>,
    pub errors: Vec<String>,
    pub dhcp: DhcpRecord,
    pub dns: DnsRecord,
    pub flows: Vec<Flow>,
    /// Flows not tracked because `caps.max_flows` was reached (their frames still count).
    pub flows_over_cap: u64,
    pub outages: Vec<OutageEvent>,
    pub sinkhole: SinkholeStats,
    pub capture: CaptureStats,
    pub pcap: Option<PcapInfo>,
    /// Plain statements a reader needs (no DHCP seen, caps reached…), derived at stop.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DhcpRecord {
    pub exchanges: Vec<DhcpExchange>,
    pub exchanges_over_cap: u64,
    pub malformed: u64,
    pub leases: Vec<Lease>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DhcpExchange {
    pub time: String,
    /// `discover`, `request`, `release`, `inform`, `decline`, or what the client sent.
    pub message: String,
    pub client_mac: String,
    pub xid: String,
    pub hostname: Option<String>,
    pub vendor_class: Option<String>,
    pub requested_ip: Option<String>,
    /// What hopquy answered: `offer 10.77.0.100`, `ack 10.77.0.100`, `nak`, or `none: why`.
    pub reply: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Lease {
    pub client_mac: String,
    pub ip: String,
    pub hostname: Option<String>,
    pub first_leased: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DnsRecord {
    pub questions: Vec<DnsQuestion>,
    pub questions_over_cap: u64,
    pub malformed: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DnsQuestion {
    pub time: String,
    pub client: String,
    pub name: String,
    pub qtype: String,
    /// `A 10.77.0.1`, `no data`, or `none: uplink cut`.
    pub answer: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Flow {
    /// `tcp`, `udp`, `icmp`, `icmpv6`, or `ip-<n>`.
    pub proto: String,
    /// The side that spoke first (the camera, for anything it sent).
    pub client: String,
    pub server: String,
    pub packets_out: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
    pub first_seen: String,
    pub last_seen: String,
    /// SYNs without ACK from the client: connection attempts, so retries and back-off show.
    pub tcp_syn_count: u64,
    pub tcp_syn_times: Vec<String>,
    pub tcp_rst_count: u64,
    /// Who answered in sinkhole mode: `sinkhole listener`, `no listener (kernel reset)`,
    /// `not addressed to hopquy (not forwarded)`, or empty where it does not apply.
    pub answered_by: String,
    pub tls: Option<TlsSeen>,
    pub plaintext: Option<Plaintext>,
    /// Sinkhole mode: how the camera took hopquy's answer to this flow's TLS handshake (a
    /// certificate for the name it asked, from an authority made up for the run).
    pub interception: Option<Interception>,
}

/// One TLS handshake hopquy answered in sinkhole mode.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Interception {
    pub time: String,
    /// The camera's `ip:port`, as in the flow.
    pub client: String,
    pub server_port: u16,
    pub sni: Option<String>,
    pub outcome: InterceptionOutcome,
    /// The alert the camera sent (`unknown_ca`, `bad_certificate`…), RFC 8446 spelling.
    pub alert: Option<String>,
    pub detail: Option<String>,
    /// What the camera sent inside an accepted handshake, inspected like cleartext (kinds of
    /// credentials only, query values redacted).
    pub inside: Option<Plaintext>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InterceptionOutcome {
    /// The camera refused hopquy's certificate (an alert, or it hung up after it, or it never
    /// went on): it authenticates its server.
    Rejected,
    /// The camera finished the handshake with a certificate no authority it could trust
    /// signed: it accepts any server.
    Accepted,
    /// No handshake to judge: no common version or cipher (TLS 1.1 and older, which hopquy's
    /// TLS server does not speak), or a hello that did not parse.
    Failed,
    /// The camera's hello did not get as far as hopquy's certificate within the connection's
    /// time (or the run ended first). A camera that sat on the certificate until then
    /// counts as `rejected`: it sent nothing to the server it could not authenticate.
    TimedOut,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TlsSeen {
    pub sni: Option<String>,
    pub client_hello_version: Option<String>,
    pub offered_versions: Vec<String>,
    pub offered_cipher_count: usize,
    pub negotiated_version: Option<String>,
    pub negotiated_cipher: Option<String>,
    /// Why the negotiated values are absent (sinkhole mode does not terminate TLS).
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Plaintext {
    /// `http`, `rtsp`, `mqtt`, `ftp`, `telnet`, `smtp`, `dns`, `unknown`.
    pub protocol: String,
    pub method: Option<String>,
    pub host: Option<String>,
    /// Path with query values replaced by `<redacted>`.
    pub path: Option<String>,
    /// A credential was sent in clear (its kind only, e.g. `authorization: basic`,
    /// `ftp PASS`, `mqtt password`, `url userinfo`); the value is never recorded.
    pub credentials: Vec<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutageEvent {
    pub time: String,
    /// `cut` or `restore`.
    pub event: String,
    /// What the cut does in this mode.
    pub effect: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CaptureStats {
    pub frames_seen: u64,
    pub frames_written: u64,
    pub bytes_seen: u64,
    pub dropped_rate_cap: u64,
    pub dropped_pcap_cap: u64,
    /// Frames etherparse could not slice (truncated or inconsistent headers).
    pub malformed: u64,
    pub non_ip: u64,
    /// Bytes of credentials masked in the pcap copy (the TCP checksum of such a frame no
    /// longer matches).
    pub pcap_bytes_redacted: u64,
    pub read_errors: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PcapInfo {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SinkholeStats {
    /// Connections the listeners accepted and read from.
    pub accepted: u64,
    /// Connections reset at once because the uplink was cut.
    pub reset_during_outage: u64,
    /// Connections reset because `caps.max_connections` were already being served.
    pub reset_over_cap: u64,
    /// TLS handshakes hopquy answered, and those not recorded past `caps.max_flows`.
    pub tls_intercepted: u64,
    pub tls_intercepted_over_cap: u64,
}
