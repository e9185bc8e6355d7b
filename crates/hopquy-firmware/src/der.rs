//! The little DER this crate reads (private-key structures) and writes (an RSA
//! SubjectPublicKeyInfo, so that a key found in the image and a certificate, in the image or
//! served by the camera, can be matched by one fingerprint).

/// One tag-length-value: (tag, content, rest). Lengths beyond 4 bytes are refused.
pub(crate) fn tlv(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = data.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const OID: u8 = 0x06;

/// Bits of a non-negative INTEGER's content.
pub(crate) fn int_bits(content: &[u8]) -> usize {
    let trimmed: &[u8] = {
        let start = content.iter().position(|&b| b != 0).unwrap_or(content.len());
        &content[start..]
    };
    match trimmed.first() {
        None => 0,
        Some(&b) => (trimmed.len() - 1) * 8 + (8 - b.leading_zeros() as usize),
    }
}

fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// rsaEncryption SubjectPublicKeyInfo from the modulus and exponent INTEGER contents (as
/// encoded in the private key, so already minimal with their sign byte).
pub(crate) fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut key = encode(INTEGER, n);
    key.extend(encode(INTEGER, e));
    let key = encode(SEQUENCE, &key);
    let mut bits = vec![0u8];
    bits.extend(key);
    let mut alg = encode(OID, RSA_ENCRYPTION);
    alg.extend([0x05, 0x00]);
    let mut spki = encode(SEQUENCE, &alg);
    spki.extend(encode(0x03, &bits));
    encode(SEQUENCE, &spki)
}

pub(crate) const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
pub(crate) const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
pub(crate) const ED25519: &[u8] = &[0x2b, 0x65, 0x70];

pub(crate) fn curve_name(oid: &[u8]) -> &'static str {
    match oid {
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07] => "P-256",
        [0x2b, 0x81, 0x04, 0x00, 0x22] => "P-384",
        [0x2b, 0x81, 0x04, 0x00, 0x23] => "P-521",
        _ => "unknown curve",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_and_bits_are_counted() {
        let long = vec![7u8; 300];
        let encoded = encode(OCTET_STRING, &long);
        let (tag, content, rest) = tlv(&encoded).unwrap();
        assert_eq!((tag, content.len(), rest.len()), (OCTET_STRING, 300, 0));
        assert_eq!(int_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(int_bits(&[0x01]), 1);
        assert!(tlv(&[0x30, 0x85, 1, 2, 3, 4, 5]).is_none());
        assert!(tlv(&[0x30, 0x05, 1]).is_none());
    }
}
