//! Which offered SSH algorithms count as weak, and why: the one table the `weak`
//! observation comes from.
//!
//! Reference: ssh-audit 3.9.0's algorithm database (`ssh_audit/ssh2_kexdb.py`), the tool labs
//! use by hand. Everything ssh-audit marks `[fail]` for a broken primitive is here with the
//! same reason; from its `[warn]` class we add CBC modes (plaintext recovery, CVE-2008-5161)
//! and 64-bit MAC tags, because EN 303 645 5.5-1 asks for "best practice cryptography" and
//! camera firmware that still offers them is exactly what the regulation targets. We do
//! *not* flag the NIST P-curves (ssh-audit's "suspected backdoor" fail): they are approved by
//! NIST and ENISA and a regulation finding must rest on a recognised weakness. Each name
//! gets the reason of the first rule that matches, so put specific rules before general ones.

use serde::{Deserialize, Serialize};

use super::kexinit::KexInit;

/// Which name-list an algorithm was offered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlgorithmKind {
    Kex,
    HostKey,
    Cipher,
    Mac,
}

impl AlgorithmKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlgorithmKind::Kex => "kex",
            AlgorithmKind::HostKey => "host_key",
            AlgorithmKind::Cipher => "cipher",
            AlgorithmKind::Mac => "mac",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern {
    Exact(&'static str),
    Prefix(&'static str),
    Suffix(&'static str),
    Contains(&'static str),
}

impl Pattern {
    fn matches(self, name: &str) -> bool {
        match self {
            Pattern::Exact(p) => name == p,
            Pattern::Prefix(p) => name.starts_with(p),
            Pattern::Suffix(p) => name.ends_with(p),
            Pattern::Contains(p) => name.contains(p),
        }
    }
}

struct Rule {
    kind: AlgorithmKind,
    pattern: Pattern,
    reason: &'static str,
}

const fn rule(kind: AlgorithmKind, pattern: Pattern, reason: &'static str) -> Rule {
    Rule { kind, pattern, reason }
}

use AlgorithmKind::{Cipher, HostKey, Kex, Mac};
use Pattern::{Contains, Exact, Prefix, Suffix};

const SHA1_EXCHANGE: &str = "SHA-1 exchange hash (broken hash function)";
const SHA1_SIGNATURE: &str = "RSA signatures with SHA-1 (ssh-rsa; disabled by default since OpenSSH 8.8)";
const DSA: &str = "DSA host key: 1024-bit key and SHA-1 signatures (disabled since OpenSSH 7.0)";
const CBC: &str = "CBC mode (SSH CBC plaintext recovery, CVE-2008-5161)";

static RULES: &[Rule] = &[
    // Key exchange.
    rule(
        Kex,
        Exact("diffie-hellman-group1-sha1"),
        "1024-bit Oakley group 2 (Logjam) with a SHA-1 exchange hash",
    ),
    rule(
        Kex,
        Prefix("gss-group1-sha1-"),
        "1024-bit Oakley group 2 (Logjam) with a SHA-1 exchange hash",
    ),
    rule(Kex, Exact("diffie-hellman-group1-sha256"), "1024-bit modulus"),
    rule(
        Kex,
        Exact("rsa1024-sha1"),
        "1024-bit RSA key exchange with a SHA-1 exchange hash",
    ),
    rule(Kex, Suffix("-sha1"), SHA1_EXCHANGE),
    rule(Kex, Contains("-sha1-"), SHA1_EXCHANGE),
    rule(
        Kex,
        Exact("kexAlgoDH1SHA1"),
        "1024-bit Oakley group 2 (Logjam) with a SHA-1 exchange hash",
    ),
    rule(Kex, Exact("kexAlgoDH14SHA1"), SHA1_EXCHANGE),
    // Host keys.
    rule(HostKey, Exact("ssh-rsa"), SHA1_SIGNATURE),
    rule(HostKey, Prefix("ssh-rsa-cert-"), SHA1_SIGNATURE),
    rule(HostKey, Exact("ssh-rsa1"), SHA1_SIGNATURE),
    rule(HostKey, Exact("x509v3-sign-rsa"), SHA1_SIGNATURE),
    rule(HostKey, Exact("x509v3-sign-rsa-sha1"), SHA1_SIGNATURE),
    rule(HostKey, Exact("x509v3-ssh-rsa"), SHA1_SIGNATURE),
    rule(HostKey, Prefix("ssh-dss"), DSA),
    rule(HostKey, Exact("ssh-dsa"), DSA),
    rule(HostKey, Prefix("x509v3-sign-dss"), DSA),
    rule(HostKey, Exact("x509v3-ssh-dss"), DSA),
    rule(HostKey, Exact("null"), "no host authentication"),
    // Ciphers.
    rule(Cipher, Exact("none"), "no encryption"),
    rule(Cipher, Prefix("arcfour"), "RC4 stream cipher (broken)"),
    rule(Cipher, Prefix("3des"), "3DES: 64-bit block (Sweet32) and deprecated"),
    rule(Cipher, Prefix("des"), "single DES: 56-bit key (broken)"),
    rule(
        Cipher,
        Prefix("blowfish"),
        "Blowfish: 64-bit block (Sweet32) and deprecated",
    ),
    rule(
        Cipher,
        Prefix("cast128"),
        "CAST-128: 64-bit block (Sweet32) and deprecated",
    ),
    rule(Cipher, Prefix("idea"), "IDEA: 64-bit block and deprecated"),
    rule(Cipher, Contains("-cbc"), CBC),
    // MACs.
    rule(Mac, Exact("none"), "no integrity protection"),
    rule(Mac, Prefix("hmac-md5"), "MD5 (broken hash function)"),
    rule(Mac, Prefix("hmac-sha1"), "SHA-1 (broken hash function)"),
    rule(Mac, Prefix("hmac-ripemd"), "RIPEMD-160 (deprecated hash function)"),
    rule(Mac, Prefix("umac-64"), "64-bit authentication tag"),
];

/// Why `name` offered in the `kind` list is weak, or `None` when it is not.
pub fn weakness(kind: AlgorithmKind, name: &str) -> Option<&'static str> {
    RULES
        .iter()
        .find(|r| r.kind == kind && r.pattern.matches(name))
        .map(|r| r.reason)
}

/// One weak algorithm an audit found on offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeakAlgorithm {
    pub algorithm: String,
    pub kind: AlgorithmKind,
    pub reason: String,
}

/// Every weak algorithm in the offer, in list order (kex, host key, ciphers, MACs; each
/// server-to-client first, then client-to-server names not already listed).
pub fn weak_algorithms(k: &KexInit) -> Vec<WeakAlgorithm> {
    let groups: [(AlgorithmKind, &[&Vec<String>]); 4] = [
        (Kex, &[&k.kex]),
        (HostKey, &[&k.host_key]),
        (Cipher, &[&k.ciphers_s2c, &k.ciphers_c2s]),
        (Mac, &[&k.macs_s2c, &k.macs_c2s]),
    ];
    let mut found: Vec<WeakAlgorithm> = Vec::new();
    for (kind, lists) in groups {
        for name in lists.iter().flat_map(|l| l.iter()) {
            if found.iter().any(|w| w.kind == kind && &w.algorithm == name) {
                continue;
            }
            if let Some(reason) = weakness(kind, name) {
                found.push(WeakAlgorithm {
                    algorithm: name.clone(),
                    kind,
                    reason: reason.to_owned(),
                });
            }
        }
    }
    found
}

/// OpenSSH's strict key exchange marker (the Terrapin fix, CVE-2023-48795).
pub const STRICT_KEX_SERVER: &str = "kex-strict-s-v00@openssh.com";

/// Terrapin (CVE-2023-48795) needs ChaCha20-Poly1305, or a CBC cipher with an
/// encrypt-then-MAC MAC, without strict key exchange (ssh-audit's rule).
pub fn terrapin_vulnerable(k: &KexInit) -> bool {
    let ciphers = || k.ciphers_s2c.iter().chain(&k.ciphers_c2s);
    let macs = || k.macs_s2c.iter().chain(&k.macs_c2s);
    let chacha = ciphers().any(|c| c == "chacha20-poly1305@openssh.com");
    let cbc_etm = ciphers().any(|c| c.contains("-cbc")) && macs().any(|m| m.ends_with("-etm@openssh.com"));
    (chacha || cbc_etm) && !k.kex.iter().any(|x| x == STRICT_KEX_SERVER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legacy_families_from_the_brief_are_flagged() {
        for (kind, name) in [
            (Kex, "diffie-hellman-group1-sha1"),
            (Kex, "diffie-hellman-group14-sha1"),
            (Kex, "diffie-hellman-group-exchange-sha1"),
            (Kex, "gss-gex-sha1-toWM5Slw5Ew8Mqkay+al2g=="),
            (HostKey, "ssh-rsa"),
            (HostKey, "ssh-dss"),
            (HostKey, "ssh-rsa-cert-v01@openssh.com"),
            (Cipher, "aes128-cbc"),
            (Cipher, "aes256-cbc"),
            (Cipher, "rijndael-cbc@lysator.liu.se"),
            (Cipher, "3des-cbc"),
            (Cipher, "arcfour"),
            (Cipher, "arcfour256"),
            (Cipher, "blowfish-cbc"),
            (Cipher, "none"),
            (Mac, "hmac-md5"),
            (Mac, "hmac-md5-96"),
            (Mac, "hmac-sha1"),
            (Mac, "hmac-sha1-96"),
            (Mac, "hmac-sha1-etm@openssh.com"),
            (Mac, "umac-64@openssh.com"),
            (Mac, "umac-64-etm@openssh.com"),
            (Mac, "hmac-ripemd160"),
        ] {
            assert!(weakness(kind, name).is_some(), "{kind:?} {name} should be weak");
        }
        assert_eq!(
            weakness(Cipher, "3des-cbc"),
            Some("3DES: 64-bit block (Sweet32) and deprecated")
        );
        assert!(weakness(Kex, "diffie-hellman-group1-sha1").is_some_and(|r| r.contains("Logjam")));
    }

    #[test]
    fn modern_algorithms_are_not_flagged() {
        for (kind, name) in [
            (Kex, "curve25519-sha256"),
            (Kex, "curve25519-sha256@libssh.org"),
            (Kex, "mlkem768x25519-sha256"),
            (Kex, "sntrup761x25519-sha512@openssh.com"),
            (Kex, "diffie-hellman-group14-sha256"),
            (Kex, "diffie-hellman-group-exchange-sha256"),
            (Kex, "ecdh-sha2-nistp256"),
            (Kex, "ext-info-s"),
            (Kex, STRICT_KEX_SERVER),
            (HostKey, "ssh-ed25519"),
            (HostKey, "rsa-sha2-512"),
            (HostKey, "rsa-sha2-256"),
            (HostKey, "ecdsa-sha2-nistp256"),
            (Cipher, "chacha20-poly1305@openssh.com"),
            (Cipher, "aes256-gcm@openssh.com"),
            (Cipher, "aes128-ctr"),
            (Mac, "hmac-sha2-256-etm@openssh.com"),
            (Mac, "hmac-sha2-512"),
            (Mac, "umac-128-etm@openssh.com"),
        ] {
            assert_eq!(weakness(kind, name), None, "{kind:?} {name} should not be weak");
        }
        // The same name means different things in different lists.
        assert_eq!(weakness(Kex, "none"), None);
        assert!(weakness(Mac, "none").is_some());
    }

    #[test]
    fn collects_each_weak_name_once_in_offer_order() {
        let k = KexInit {
            kex: vec![
                "curve25519-sha256".into(),
                "diffie-hellman-group14-sha1".into(),
                "diffie-hellman-group1-sha1".into(),
            ],
            host_key: vec!["ssh-ed25519".into(), "ssh-rsa".into()],
            ciphers_s2c: vec!["aes128-ctr".into(), "aes128-cbc".into()],
            ciphers_c2s: vec!["aes128-cbc".into(), "3des-cbc".into()],
            macs_s2c: vec!["hmac-sha1".into()],
            macs_c2s: vec!["hmac-sha1".into()],
            ..KexInit::default()
        };
        let names: Vec<(AlgorithmKind, String)> =
            weak_algorithms(&k).into_iter().map(|w| (w.kind, w.algorithm)).collect();
        assert_eq!(
            names,
            vec![
                (Kex, "diffie-hellman-group14-sha1".to_string()),
                (Kex, "diffie-hellman-group1-sha1".to_string()),
                (HostKey, "ssh-rsa".to_string()),
                (Cipher, "aes128-cbc".to_string()),
                (Cipher, "3des-cbc".to_string()),
                (Mac, "hmac-sha1".to_string()),
            ]
        );
    }

    #[test]
    fn terrapin_needs_chacha_or_cbc_etm_without_strict_kex() {
        let mut k = KexInit {
            kex: vec!["curve25519-sha256".into()],
            ciphers_s2c: vec!["chacha20-poly1305@openssh.com".into()],
            ..KexInit::default()
        };
        assert!(terrapin_vulnerable(&k));
        k.kex.push(STRICT_KEX_SERVER.into());
        assert!(!terrapin_vulnerable(&k));
        let k = KexInit {
            kex: vec!["curve25519-sha256".into()],
            ciphers_s2c: vec!["aes128-cbc".into()],
            macs_s2c: vec!["hmac-sha2-256".into()],
            ..KexInit::default()
        };
        assert!(!terrapin_vulnerable(&k), "CBC with encrypt-and-MAC is not affected");
        let k = KexInit {
            macs_c2s: vec!["hmac-sha2-256-etm@openssh.com".into()],
            ..k
        };
        assert!(terrapin_vulnerable(&k));
    }
}
