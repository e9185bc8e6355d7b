//! The server's certificate: fetched with a full rustls handshake (a verifier that accepts
//! any chain, because judging the chain is the case's job, not the probe's) and described
//! with x509-parser. Servers that speak only TLS ≤ 1.1 or only legacy suites are handled by
//! the caller, which reads the cleartext Certificate message of a hand-built handshake.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use x509_parser::prelude::*;

/// Facts about the leaf certificate (DESIGN §5 names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateFacts {
    /// Hex SHA-256 of the leaf certificate's DER.
    pub sha256: String,
    /// Issuer equals subject and the certificate's own key verifies its signature.
    pub self_signed: bool,
    /// `RSA`, `EC`, `Ed25519`, `Ed448`, `DSA`, or the key algorithm's OID.
    pub key_type: String,
    /// RSA modulus bits, EC curve order bits (256/384/521), as OpenSSL counts them.
    pub key_bits: u32,
    /// Named curve of an EC key (`prime256v1`, `secp384r1`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_curve: Option<String>,
    /// OpenSSL short name of the signature algorithm (`sha256WithRSAEncryption`).
    pub signature_algorithm: String,
    /// RFC 3339, UTC.
    pub not_before: String,
    pub not_after: String,
    /// DNS names and IP addresses (other kinds prefixed, e.g. `email:`, `URI:`).
    pub subject_alt_names: Vec<String>,
    pub subject: String,
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// Certificates the server sent, leaf included.
    pub chain_length: usize,
}

/// Describe the leaf (first) certificate of `chain`.
pub fn describe(chain: &[Vec<u8>]) -> Result<CertificateFacts, String> {
    let leaf = chain.first().ok_or("the server sent no certificate")?;
    let (_, cert) = X509Certificate::from_der(leaf).map_err(|e| format!("leaf certificate does not parse: {e}"))?;
    let registry = x509_parser::objects::oid_registry();
    let name_of = |oid: &x509_parser::der_parser::oid::Oid| {
        x509_parser::objects::oid2sn(oid, registry).map_or_else(|_| oid.to_id_string(), str::to_owned)
    };

    let spki = cert.public_key();
    let (key_type, key_bits, key_curve) = key_facts(spki, &name_of);
    let same_name = cert.subject().as_raw() == cert.issuer().as_raw();
    let self_signed = same_name && cert.verify_signature(None).is_ok();

    let mut subject_alt_names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            subject_alt_names.push(match name {
                GeneralName::DNSName(d) => (*d).to_owned(),
                GeneralName::IPAddress(raw) => ip_text(raw),
                GeneralName::RFC822Name(m) => format!("email:{m}"),
                GeneralName::URI(u) => format!("URI:{u}"),
                other => format!("{other}"),
            });
        }
    }

    Ok(CertificateFacts {
        sha256: hex::encode(Sha256::digest(leaf)),
        self_signed,
        key_type,
        key_bits,
        key_curve,
        signature_algorithm: name_of(&cert.signature_algorithm.algorithm),
        not_before: rfc3339(cert.validity().not_before.timestamp()),
        not_after: rfc3339(cert.validity().not_after.timestamp()),
        subject_alt_names,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: hex::encode(cert.raw_serial()),
        chain_length: chain.len(),
    })
}

fn key_facts(
    spki: &SubjectPublicKeyInfo<'_>,
    name_of: &dyn Fn(&x509_parser::der_parser::oid::Oid) -> String,
) -> (String, u32, Option<String>) {
    let algorithm = spki.algorithm.algorithm.to_id_string();
    match algorithm.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => {
            let bits = match spki.parsed() {
                Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => significant_bits(rsa.modulus),
                _ => 0,
            };
            ("RSA".into(), bits, None)
        }
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| name_of(&oid));
            let bits = match curve.as_deref() {
                Some("prime256v1" | "secp256r1" | "brainpoolP256r1" | "secp256k1") => 256,
                Some("secp384r1" | "brainpoolP384r1") => 384,
                Some("secp521r1") => 521,
                Some("brainpoolP512r1") => 512,
                Some("secp224r1") => 224,
                Some("prime192v1") => 192,
                _ => match spki.parsed() {
                    Ok(key) => u32::try_from(key.key_size()).unwrap_or(0),
                    Err(_) => 0,
                },
            };
            ("EC".into(), bits, curve)
        }
        "1.3.101.112" => ("Ed25519".into(), 253, None),
        "1.3.101.113" => ("Ed448".into(), 456, None),
        "1.2.840.10040.4.1" => {
            // DSA strength is the size of p, the first parameter.
            let bits = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_sequence().ok())
                .and_then(|seq| first_der_integer(&seq.content).map(significant_bits))
                .unwrap_or(0);
            ("DSA".into(), bits, None)
        }
        other => (other.to_owned(), 0, None),
    }
}

/// The content octets of the DER INTEGER that starts `der`.
fn first_der_integer(der: &[u8]) -> Option<&[u8]> {
    if *der.first()? != 0x02 {
        return None;
    }
    let first_len = *der.get(1)?;
    let (len, start) = if first_len & 0x80 == 0 {
        (usize::from(first_len), 2)
    } else {
        let count = usize::from(first_len & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let len = der
            .get(2..2 + count)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + count)
    };
    der.get(start..start.checked_add(len)?)
}

/// Bit length of a big-endian unsigned integer (leading zero bytes and bits ignored).
fn significant_bits(bytes: &[u8]) -> u32 {
    let trimmed: &[u8] = match bytes.iter().position(|b| *b != 0) {
        Some(i) => &bytes[i..],
        None => return 0,
    };
    let len = u32::try_from(trimmed.len()).unwrap_or(0);
    len.saturating_mul(8).saturating_sub(trimmed[0].leading_zeros())
}

fn ip_text(raw: &[u8]) -> String {
    match raw.len() {
        4 => std::net::Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]).to_string(),
        16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(raw);
            std::net::Ipv6Addr::from(octets).to_string()
        }
        _ => format!("IP:{}", hex::encode(raw)),
    }
}

fn rfc3339(timestamp: i64) -> String {
    chrono::DateTime::from_timestamp(timestamp, 0).map_or_else(
        || timestamp.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// Accepts every certificate chain and handshake signature: the audit records what the
/// server presents; whether it is trustworthy is for the case to decide.
#[derive(Debug)]
pub(crate) struct AcceptAnyCertificate {
    schemes: Vec<SignatureScheme>,
}

impl AcceptAnyCertificate {
    pub(crate) fn new(provider: &rustls::crypto::CryptoProvider) -> Self {
        AcceptAnyCertificate {
            schemes: provider.signature_verification_algorithms.supported_schemes(),
        }
    }
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

/// Bytes seen in each direction, kept up to a bound.
#[derive(Debug, Default)]
pub(crate) struct Tap {
    pub sent: Vec<u8>,
    pub sent_len: usize,
    pub received: Vec<u8>,
    pub received_len: usize,
}

/// A stream that copies what passes through it into a [`Tap`], so the rustls handshake is
/// recorded byte-exact like the hand-built ones.
pub(crate) struct TapStream<S> {
    pub inner: S,
    pub tap: Arc<Mutex<Tap>>,
    pub keep: usize,
}

impl<S: AsyncRead + Unpin> AsyncRead for TapStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &result {
            let fresh = &buf.filled()[before..];
            if let Ok(mut tap) = self.tap.lock() {
                tap.received_len += fresh.len();
                let room = self.keep.saturating_sub(tap.received.len());
                tap.received.extend_from_slice(&fresh[..fresh.len().min(room)]);
            }
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TapStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = &result {
            let written = &data[..(*n).min(data.len())];
            if let Ok(mut tap) = self.tap.lock() {
                tap.sent_len += written.len();
                let room = self.keep.saturating_sub(tap.sent.len());
                tap.sent.extend_from_slice(&written[..written.len().min(room)]);
            }
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn der_integers() {
        assert_eq!(
            first_der_integer(&[0x02, 0x02, 0x00, 0x80, 0xff]),
            Some(&[0x00, 0x80][..])
        );
        let mut long = vec![0x02, 0x82, 0x01, 0x01, 0x00];
        long.extend_from_slice(&[0xab; 256]);
        assert_eq!(first_der_integer(&long).map(significant_bits), Some(2048));
        assert_eq!(first_der_integer(&[0x02, 0x05, 0x01]), None, "overrun");
        assert_eq!(first_der_integer(&[0x30, 0x00]), None);
        assert_eq!(first_der_integer(&[]), None);
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(significant_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(significant_bits(&[0x7f, 0xff]), 15);
        assert_eq!(significant_bits(&[0, 0]), 0);
        assert_eq!(significant_bits(&[]), 0);
    }

    #[test]
    fn describes_an_rcgen_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["cam.example".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2024, 1, 2);
        params.not_after = rcgen::date_time_ymd(2034, 1, 2);
        let cert = params.self_signed(&key).unwrap();
        let der = cert.der().to_vec();
        let facts = describe(std::slice::from_ref(&der)).unwrap();
        assert_eq!(facts.sha256, hex::encode(Sha256::digest(&der)));
        assert!(facts.self_signed);
        assert_eq!(facts.key_type, "EC");
        assert_eq!(facts.key_bits, 256);
        assert_eq!(facts.key_curve.as_deref(), Some("prime256v1"));
        assert_eq!(facts.signature_algorithm, "ecdsa-with-SHA256");
        assert_eq!(facts.not_before, "2024-01-02T00:00:00Z");
        assert_eq!(facts.not_after, "2034-01-02T00:00:00Z");
        assert_eq!(
            facts.subject_alt_names,
            vec!["cam.example".to_string(), "127.0.0.1".to_string()]
        );
        assert_eq!(facts.chain_length, 1);
    }

    #[test]
    fn a_certificate_signed_by_another_key_is_not_self_signed() {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Camera CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["cam.example".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let facts = describe(&[leaf.der().to_vec(), ca.der().to_vec()]).unwrap();
        assert!(!facts.self_signed);
        assert_eq!(facts.chain_length, 2);
        assert!(facts.issuer.contains("Camera CA"), "{}", facts.issuer);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(describe(&[]).is_err());
        assert!(describe(&[b"not a certificate".to_vec()]).is_err());
    }
}
