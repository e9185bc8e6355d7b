//! Private keys (PEM, DER, OpenSSH, Dropbear host keys) and certificates. A key is reported by
//! type, size and a SHA-256 fingerprint, never its bytes; for RSA and OpenSSH keys the
//! fingerprint is of the *public* half, so it matches the certificate or host key the camera
//! serves on the network.

use base64::Engine;
use memchr::memmem;
use sha2::{Digest, Sha256};

use crate::der::{self, INTEGER, OCTET_STRING, OID, SEQUENCE};
use crate::model::{Finding, FindingKind, Severity};
use crate::walk::Scan;

/// A PEM block longer than this is not a key or a certificate.
const MAX_PEM_BYTES: usize = 64 * 1024;
/// PEM blocks looked at per file: a hostile file of nothing but BEGIN lines must not cost more.
const MAX_PEM_PER_FILE: usize = 256;

const KEY_CLAUSES: [&str; 2] = ["2.4.3", "2.4.4"];

struct KeyFacts {
    description: String,
    fingerprint: String,
}

/// Looks for PEM keys and certificates anywhere in `data`.
pub(crate) fn pem(scan: &mut Scan<'_>, path: &str, data: &[u8], base: u64) {
    for begin in memmem::find_iter(data, b"-----BEGIN ").take(MAX_PEM_PER_FILE) {
        let label_start = begin + 11;
        let Some(label_len) = memmem::find(&data[label_start..data.len().min(label_start + 64)], b"-----") else {
            continue;
        };
        let label = String::from_utf8_lossy(&data[label_start..label_start + label_len]).into_owned();
        let is_key = label.ends_with("PRIVATE KEY");
        let is_cert = label == "CERTIFICATE" || label == "X509 CERTIFICATE" || label == "TRUSTED CERTIFICATE";
        if !is_key && !is_cert {
            continue;
        }
        let body_start = label_start + label_len + 5;
        let window_end = data.len().min(body_start + MAX_PEM_BYTES);
        let end_marker = format!("-----END {label}-----");
        let Some(body_len) = memmem::find(&data[body_start..window_end], end_marker.as_bytes()) else {
            continue;
        };
        let body = &data[body_start..body_start + body_len];
        let offset = base + begin as u64;
        let (encrypted, der) = pem_body(body);
        if is_cert {
            if let Some(der) = der {
                certificate(scan, path, offset, &der);
            }
            continue;
        }
        let facts = match (&der, label.as_str()) {
            (Some(d), "OPENSSH PRIVATE KEY") => openssh(d),
            (Some(d), _) if !encrypted => private_der(d, &label),
            (Some(d), _) => Some(KeyFacts {
                description: format!("{} (encrypted PEM)", label.to_lowercase()),
                fingerprint: format!("sha256:{}", hex::encode(Sha256::digest(d))),
            }),
            (None, _) => None,
        };
        let facts = facts.unwrap_or_else(|| KeyFacts {
            description: format!("{} (unparsed)", label.to_lowercase()),
            fingerprint: format!("sha256:{}", hex::encode(Sha256::digest(body))),
        });
        scan.finding(Finding {
            kind: FindingKind::PrivateKey,
            severity: if encrypted { Severity::Medium } else { Severity::High },
            path: path.to_string(),
            offset,
            title: format!(
                "{}{}: the same key is in every unit built from this image",
                facts.description,
                if encrypted { ", passphrase-protected" } else { "" }
            ),
            excerpt: format!(
                "-----BEGIN {label}----- <redacted {} bytes> -----END {label}-----",
                body.len()
            ),
            fingerprint: Some(facts.fingerprint),
            clauses: KEY_CLAUSES.iter().map(|s| s.to_string()).collect(),
        });
    }
}

/// (encrypted, decoded DER). Legacy encrypted PEM carries `Proc-Type`/`DEK-Info` headers.
fn pem_body(body: &[u8]) -> (bool, Option<Vec<u8>>) {
    let text = String::from_utf8_lossy(body);
    let mut encrypted = false;
    let mut b64 = String::new();
    for line in text.lines() {
        if line.contains(':') {
            encrypted |= line.contains("ENCRYPTED");
            continue;
        }
        b64.extend(line.chars().filter(|c| !c.is_whitespace()));
    }
    let der = base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()).ok();
    (encrypted, der)
}

fn fingerprint_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// PKCS#1 RSA, SEC1 EC, or PKCS#8 (RSA, EC, Ed25519; `ENCRYPTED PRIVATE KEY` is opaque).
fn private_der(d: &[u8], label: &str) -> Option<KeyFacts> {
    let (tag, seq, _) = der::tlv(d)?;
    if tag != SEQUENCE {
        return None;
    }
    if label == "ENCRYPTED PRIVATE KEY" {
        return Some(KeyFacts {
            description: "PKCS#8 encrypted private key".into(),
            fingerprint: fingerprint_of(d),
        });
    }
    if let Some(facts) = rsa_pkcs1(seq) {
        return Some(facts);
    }
    if let Some(facts) = ec_sec1(seq, d) {
        return Some(facts);
    }
    // PKCS#8: version, AlgorithmIdentifier, OCTET STRING
    let (t, _, rest) = der::tlv(seq)?;
    if t != INTEGER {
        return None;
    }
    let (t, alg, rest) = der::tlv(rest)?;
    if t != SEQUENCE {
        return None;
    }
    let (t, oid, params) = der::tlv(alg)?;
    if t != OID {
        return None;
    }
    let (t, inner, _) = der::tlv(rest)?;
    if t != OCTET_STRING {
        return None;
    }
    if oid == der::RSA_ENCRYPTION {
        let (_, inner_seq, _) = der::tlv(inner)?;
        return rsa_pkcs1(inner_seq).map(|mut f| {
            f.description = f.description.replace("PKCS#1", "PKCS#8");
            f
        });
    }
    if oid == der::EC_PUBLIC_KEY {
        let curve = der::tlv(params)
            .filter(|(t, _, _)| *t == OID)
            .map(|(_, c, _)| der::curve_name(c))
            .unwrap_or("unknown curve");
        return Some(KeyFacts {
            description: format!("EC {curve} private key (PKCS#8)"),
            fingerprint: fingerprint_of(d),
        });
    }
    if oid == der::ED25519 {
        return Some(KeyFacts {
            description: "Ed25519 private key (PKCS#8)".into(),
            fingerprint: fingerprint_of(d),
        });
    }
    None
}

fn rsa_pkcs1(seq: &[u8]) -> Option<KeyFacts> {
    let (t, version, rest) = der::tlv(seq)?;
    if t != INTEGER || version != [0] {
        return None;
    }
    let (t, n, rest) = der::tlv(rest)?;
    let (t2, e, rest) = der::tlv(rest)?;
    let (t3, _d, _) = der::tlv(rest)?;
    if t != INTEGER || t2 != INTEGER || t3 != INTEGER {
        return None;
    }
    let bits = der::int_bits(n);
    Some(KeyFacts {
        description: format!("RSA {bits}-bit private key (PKCS#1)"),
        fingerprint: fingerprint_of(&der::rsa_spki(n, e)),
    })
}

fn ec_sec1(seq: &[u8], whole: &[u8]) -> Option<KeyFacts> {
    let (t, version, rest) = der::tlv(seq)?;
    if t != INTEGER || version != [1] {
        return None;
    }
    let (t, _private, rest) = der::tlv(rest)?;
    if t != OCTET_STRING {
        return None;
    }
    let curve = der::tlv(rest)
        .filter(|(t, _, _)| *t == 0xa0)
        .and_then(|(_, p, _)| der::tlv(p))
        .filter(|(t, _, _)| *t == OID)
        .map(|(_, c, _)| der::curve_name(c))
        .unwrap_or("unknown curve");
    Some(KeyFacts {
        description: format!("EC {curve} private key (SEC1)"),
        fingerprint: fingerprint_of(whole),
    })
}

/// SSH wire strings: u32 length + bytes.
fn ssh_string(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(data.get(..4)?.try_into().ok()?) as usize;
    let body = data.get(4..4usize.checked_add(len)?)?;
    Some((body, &data[4 + len..]))
}

fn ssh_fingerprint(public_blob: &[u8]) -> String {
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(public_blob))
    )
}

fn openssh(d: &[u8]) -> Option<KeyFacts> {
    let rest = d.strip_prefix(b"openssh-key-v1\0")?;
    let (cipher, rest) = ssh_string(rest)?;
    let (_kdf, rest) = ssh_string(rest)?;
    let (_kdf_options, rest) = ssh_string(rest)?;
    let rest = rest.get(4..)?;
    let (public, _) = ssh_string(rest)?;
    let (key_type, _) = ssh_string(public)?;
    let key_type = String::from_utf8_lossy(key_type);
    Some(KeyFacts {
        description: format!(
            "OpenSSH {} private key{}",
            crate::analyze::clean(&key_type, 40),
            if cipher == b"none" {
                ""
            } else {
                " (passphrase-protected)"
            }
        ),
        fingerprint: ssh_fingerprint(public),
    })
}

/// Dropbear's own host-key file format: the SSH public fields, then the private ones.
pub(crate) fn dropbear(scan: &mut Scan<'_>, path: &str, data: &[u8]) {
    if data.len() > 16 * 1024 {
        return;
    }
    let Some((key_type, rest)) = ssh_string(data) else {
        return;
    };
    let public_fields = match key_type {
        b"ssh-rsa" => 2,
        b"ssh-dss" => 4,
        t if t.starts_with(b"ecdsa-sha2-") => 2,
        b"ssh-ed25519" => 0,
        _ => return,
    };
    let mut blob = data[..4 + key_type.len()].to_vec();
    let mut rest = rest;
    for _ in 0..public_fields {
        let Some((field, next)) = ssh_string(rest) else { return };
        blob.extend_from_slice(&rest[..4 + field.len()]);
        rest = next;
    }
    if key_type == b"ssh-ed25519" {
        // One string: the 32-byte seed followed by the 32-byte public key.
        let Some((both, _)) = ssh_string(rest) else { return };
        let Some(public) = both.get(32..64) else { return };
        blob.extend_from_slice(&32u32.to_be_bytes());
        blob.extend_from_slice(public);
    }
    let key_type = String::from_utf8_lossy(key_type).into_owned();
    scan.finding(Finding {
        kind: FindingKind::PrivateKey,
        severity: Severity::High,
        path: path.to_string(),
        offset: 0,
        title: format!("Dropbear {key_type} host key: every unit built from this image has the same SSH host key"),
        excerpt: format!("<redacted {} bytes of dropbear host key>", data.len()),
        fingerprint: Some(ssh_fingerprint(&blob)),
        clauses: KEY_CLAUSES.iter().map(|s| s.to_string()).collect(),
    });
}

/// A raw DER private key file (`*.der`, `*.key` without PEM armour).
pub(crate) fn der_file(scan: &mut Scan<'_>, path: &str, data: &[u8]) {
    if data.len() > 16 * 1024 || data.first() != Some(&SEQUENCE) {
        return;
    }
    let Some(facts) = private_der(data, "PRIVATE KEY") else {
        return;
    };
    scan.finding(Finding {
        kind: FindingKind::PrivateKey,
        severity: Severity::High,
        path: path.to_string(),
        offset: 0,
        title: format!(
            "{} (DER): the same key is in every unit built from this image",
            facts.description
        ),
        excerpt: format!("<redacted {} bytes of DER>", data.len()),
        fingerprint: Some(facts.fingerprint),
        clauses: KEY_CLAUSES.iter().map(|s| s.to_string()).collect(),
    });
}

fn certificate(scan: &mut Scan<'_>, path: &str, offset: u64, d: &[u8]) {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(d) else {
        return;
    };
    let key = match cert.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => format!("RSA {}-bit", rsa.key_size()),
        Ok(x509_parser::public_key::PublicKey::EC(ec)) => format!("EC {}-bit", ec.key_size()),
        Ok(_) => "other key".into(),
        Err(_) => "unparsed key".into(),
    };
    let subject = crate::analyze::clean(&cert.subject().to_string(), 160);
    let issuer = crate::analyze::clean(&cert.issuer().to_string(), 160);
    let not_after = cert.validity().not_after.to_datetime().date();
    let self_signed = cert.subject() == cert.issuer();
    scan.finding(Finding {
        kind: FindingKind::Certificate,
        severity: Severity::Info,
        path: path.to_string(),
        offset,
        title: format!(
            "certificate {subject:?} ({key}{}), valid until {not_after}",
            if self_signed { ", self-signed" } else { "" }
        ),
        excerpt: format!(
            "subject {subject:?}, issuer {issuer:?}, public key {}",
            fingerprint_of(cert.public_key().raw)
        ),
        fingerprint: Some(fingerprint_of(d)),
        clauses: vec!["2.4.4".into()],
    });
}

/// A private key whose public half is a certificate's in the image: that certificate's
/// identity is shared by every unit.
pub(crate) fn link_keys_to_certificates(findings: &mut [Finding]) {
    let certs: Vec<(String, String)> = findings
        .iter()
        .filter(|f| f.kind == FindingKind::Certificate)
        .map(|f| (f.excerpt.clone(), f.path.clone()))
        .collect();
    for finding in findings.iter_mut().filter(|f| f.kind == FindingKind::PrivateKey) {
        let Some(fp) = finding.fingerprint.clone() else {
            continue;
        };
        let marker = format!("public key {fp}");
        let mut paths: Vec<&str> = certs
            .iter()
            .filter(|(excerpt, _)| excerpt.contains(&marker))
            .map(|(_, p)| p.as_str())
            .collect();
        paths.sort();
        paths.dedup();
        if let Some(first) = paths.first() {
            finding
                .title
                .push_str(&format!("; it is the key of the certificate at {first}"));
            finding.severity = Severity::Critical;
        }
    }
}
