//! The IANA TLS cipher suite registry (names exactly as IANA spells them) with the
//! properties the audit needs: which protocol versions may negotiate a suite, and why a suite
//! is weak.
//!
//! Weak means: no encryption (NULL), export-grade keys, RC4, single DES, 3DES or IDEA
//! (64-bit blocks, SWEET32), RC2, no server authentication (anonymous), an MD5 MAC, or — only
//! when negotiated in TLS 1.1 or older — CBC with an HMAC-SHA1 MAC (BEAST/Lucky13 era
//! constructions that TLS 1.2 deployments keep only for compatibility).
//!
//! Source: the IANA "TLS Cipher Suites" registry, as transcribed with key exchange, cipher and
//! MAC columns in tls-parser's `scripts/tls-ciphersuites.txt` (signalling values such as
//! `TLS_EMPTY_RENEGOTIATION_INFO_SCSV` are left out: they are never negotiated).

use super::TlsVersion;

/// Property bits of one suite.
type Flags = u16;
/// Only TLS 1.3 may negotiate it (it names no key exchange).
const TLS13: Flags = 1;
/// AEAD or SHA-2 PRF suites: TLS 1.2 only.
const TLS12: Flags = 1 << 1;
const NULL_CIPHER: Flags = 1 << 2;
const EXPORT: Flags = 1 << 3;
const RC4: Flags = 1 << 4;
const RC2: Flags = 1 << 5;
const DES: Flags = 1 << 6;
const TRIPLE_DES: Flags = 1 << 7;
const IDEA: Flags = 1 << 8;
const ANON: Flags = 1 << 9;
const MD5: Flags = 1 << 10;
/// CBC mode with an HMAC-SHA1 MAC: weak only in TLS 1.1 and older.
const CBC_SHA1: Flags = 1 << 11;

/// One registered cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CipherSuite {
    pub id: u16,
    /// IANA name, e.g. `TLS_RSA_WITH_AES_128_CBC_SHA`.
    pub name: &'static str,
    flags: Flags,
}

impl CipherSuite {
    /// Whether a server may legitimately negotiate this suite in `version`.
    pub fn usable_in(&self, version: TlsVersion) -> bool {
        if self.flags & TLS13 != 0 {
            version == TlsVersion::Tls13
        } else if self.flags & TLS12 != 0 {
            version == TlsVersion::Tls12
        } else {
            version != TlsVersion::Tls13
        }
    }

    /// Why the suite is weak when negotiated in `version`, or `None` when it is not.
    pub fn weakness(&self, version: TlsVersion) -> Option<&'static str> {
        let f = self.flags;
        let reason = if f & NULL_CIPHER != 0 {
            "no encryption (NULL)"
        } else if f & ANON != 0 {
            "no server authentication (anonymous)"
        } else if f & EXPORT != 0 {
            "export-grade key length"
        } else if f & RC4 != 0 {
            "RC4 stream cipher"
        } else if f & RC2 != 0 {
            "RC2 cipher"
        } else if f & DES != 0 {
            "single DES (56-bit key)"
        } else if f & TRIPLE_DES != 0 {
            "3DES: 64-bit block (SWEET32)"
        } else if f & IDEA != 0 {
            "IDEA: 64-bit block (SWEET32)"
        } else if f & MD5 != 0 {
            "MD5 MAC"
        } else if f & CBC_SHA1 != 0 && version <= TlsVersion::Tls11 {
            "CBC with HMAC-SHA1 in TLS 1.1 or older"
        } else {
            return None;
        };
        Some(reason)
    }

    pub fn is_weak(&self, version: TlsVersion) -> bool {
        self.weakness(version).is_some()
    }

    /// No server authentication: the server sends no certificate.
    pub fn is_anonymous(&self) -> bool {
        self.flags & ANON != 0
    }
}

/// The suite registered under `id`.
pub fn by_id(id: u16) -> Option<&'static CipherSuite> {
    SUITES.binary_search_by_key(&id, |s| s.id).ok().map(|i| &SUITES[i])
}

/// The IANA name of `id`, or `0xNNNN` for an unregistered value (a server may answer with
/// one; the audit reports it rather than dropping it).
pub fn name_of(id: u16) -> String {
    by_id(id).map_or_else(|| format!("0x{id:04X}"), |s| s.name.to_owned())
}

/// Every registered suite a server may negotiate in `version`, in registry order.
pub fn candidates(version: TlsVersion) -> Vec<u16> {
    SUITES.iter().filter(|s| s.usable_in(version)).map(|s| s.id).collect()
}

const fn suite(id: u16, name: &'static str, flags: Flags) -> CipherSuite {
    CipherSuite { id, name, flags }
}

/// Sorted by id (binary search relies on it; a test checks).
pub static SUITES: &[CipherSuite] = &[
    suite(0x0000, "TLS_NULL_WITH_NULL_NULL", NULL_CIPHER | ANON),
    suite(0x0001, "TLS_RSA_WITH_NULL_MD5", NULL_CIPHER | MD5),
    suite(0x0002, "TLS_RSA_WITH_NULL_SHA", NULL_CIPHER),
    suite(0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5", EXPORT | RC4 | MD5),
    suite(0x0004, "TLS_RSA_WITH_RC4_128_MD5", RC4 | MD5),
    suite(0x0005, "TLS_RSA_WITH_RC4_128_SHA", RC4),
    suite(0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5", EXPORT | RC2 | MD5),
    suite(0x0007, "TLS_RSA_WITH_IDEA_CBC_SHA", IDEA | CBC_SHA1),
    suite(0x0008, "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA", EXPORT | DES | CBC_SHA1),
    suite(0x0009, "TLS_RSA_WITH_DES_CBC_SHA", DES | CBC_SHA1),
    suite(0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", TRIPLE_DES | CBC_SHA1),
    suite(0x000b, "TLS_DH_DSS_EXPORT_WITH_DES40_CBC_SHA", EXPORT | DES | CBC_SHA1),
    suite(0x000c, "TLS_DH_DSS_WITH_DES_CBC_SHA", DES | CBC_SHA1),
    suite(0x000d, "TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA", TRIPLE_DES | CBC_SHA1),
    suite(0x000e, "TLS_DH_RSA_EXPORT_WITH_DES40_CBC_SHA", EXPORT | DES | CBC_SHA1),
    suite(0x000f, "TLS_DH_RSA_WITH_DES_CBC_SHA", DES | CBC_SHA1),
    suite(0x0010, "TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA", TRIPLE_DES | CBC_SHA1),
    suite(0x0011, "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA", EXPORT | DES | CBC_SHA1),
    suite(0x0012, "TLS_DHE_DSS_WITH_DES_CBC_SHA", DES | CBC_SHA1),
    suite(0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA", TRIPLE_DES | CBC_SHA1),
    suite(0x0014, "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA", EXPORT | DES | CBC_SHA1),
    suite(0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA", DES | CBC_SHA1),
    suite(0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", TRIPLE_DES | CBC_SHA1),
    suite(0x0017, "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5", EXPORT | RC4 | ANON | MD5),
    suite(0x0018, "TLS_DH_anon_WITH_RC4_128_MD5", RC4 | ANON | MD5),
    suite(
        0x0019,
        "TLS_DH_anon_EXPORT_WITH_DES40_CBC_SHA",
        EXPORT | DES | ANON | CBC_SHA1,
    ),
    suite(0x001a, "TLS_DH_anon_WITH_DES_CBC_SHA", DES | ANON | CBC_SHA1),
    suite(
        0x001b,
        "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA",
        TRIPLE_DES | ANON | CBC_SHA1,
    ),
    suite(0x001e, "TLS_KRB5_WITH_DES_CBC_SHA", DES | CBC_SHA1),
    suite(0x001f, "TLS_KRB5_WITH_3DES_EDE_CBC_SHA", TRIPLE_DES | CBC_SHA1),
    suite(0x0020, "TLS_KRB5_WITH_RC4_128_SHA", RC4),
    suite(0x0021, "TLS_KRB5_WITH_IDEA_CBC_SHA", IDEA | CBC_SHA1),
    suite(0x0022, "TLS_KRB5_WITH_DES_CBC_MD5", DES | MD5),
    suite(0x0023, "TLS_KRB5_WITH_3DES_EDE_CBC_MD5", TRIPLE_DES | MD5),
    suite(0x0024, "TLS_KRB5_WITH_RC4_128_MD5", RC4 | MD5),
    suite(0x0025, "TLS_KRB5_WITH_IDEA_CBC_MD5", IDEA | MD5),
    suite(0x0026, "TLS_KRB5_EXPORT_WITH_DES_CBC_40_SHA", EXPORT | DES | CBC_SHA1),
    suite(0x0027, "TLS_KRB5_EXPORT_WITH_RC2_CBC_40_SHA", EXPORT | RC2 | CBC_SHA1),
    suite(0x0028, "TLS_KRB5_EXPORT_WITH_RC4_40_SHA", EXPORT | RC4),
    suite(0x0029, "TLS_KRB5_EXPORT_WITH_DES_CBC_40_MD5", EXPORT | DES | MD5),
    suite(0x002a, "TLS_KRB5_EXPORT_WITH_RC2_CBC_40_MD5", EXPORT | RC2 | MD5),
    suite(0x002b, "TLS_KRB5_EXPORT_WITH_RC4_40_MD5", EXPORT | RC4 | MD5),
    suite(0x002c, "TLS_PSK_WITH_NULL_SHA", NULL_CIPHER),
    suite(0x002d, "TLS_DHE_PSK_WITH_NULL_SHA", NULL_CIPHER),
    suite(0x002e, "TLS_RSA_PSK_WITH_NULL_SHA", NULL_CIPHER),
    suite(0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA", CBC_SHA1),
    suite(0x0030, "TLS_DH_DSS_WITH_AES_128_CBC_SHA", CBC_SHA1),
    suite(0x0031, "TLS_DH_RSA_WITH_AES_128_CBC_SHA", CBC_SHA1),
    suite(0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA", CBC_SHA1),
    suite(0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", CBC_SHA1),
    suite(0x0034, "TLS_DH_anon_WITH_AES_128_CBC_SHA", ANON | CBC_SHA1),
    suite(0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", CBC_SHA1),
    suite(0x0036, "TLS_DH_DSS_WITH_AES_256_CBC_SHA", CBC_SHA1),
    suite(0x0037, "TLS_DH_RSA_WITH_AES_256_CBC_SHA", CBC_SHA1),
    suite(0x0038, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA", CBC_SHA1),
    suite(0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", CBC_SHA1),
    suite(0x003a, "TLS_DH_anon_WITH_AES_256_CBC_SHA", ANON | CBC_SHA1),
    suite(0x003b, "TLS_RSA_WITH_NULL_SHA256", TLS12 | NULL_CIPHER),
    suite(0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256", TLS12),
    suite(0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256", TLS12),
    suite(0x003e, "TLS_DH_DSS_WITH_AES_128_CBC_SHA256", TLS12),
    suite(0x003f, "TLS_DH_RSA_WITH_AES_128_CBC_SHA256", TLS12),
    suite(0x0040, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256", TLS12),
    suite(0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA", CBC_SHA1),
    suite(0x0042, "TLS_DH_DSS_WITH_CAMELLIA_128_CBC_SHA", CBC_SHA1),
    suite(0x0043, "TLS_DH_RSA_WITH_CAMELLIA_128_CBC_SHA", CBC_SHA1),
    suite(0x0044, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA", CBC_SHA1),
    suite(0x0045, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA", CBC_SHA1),
    suite(0x0046, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA", ANON | CBC_SHA1),
    suite(0x0060, "TLS_RSA_EXPORT1024_WITH_RC4_56_MD5", EXPORT | RC4 | MD5),
    suite(0x0061, "TLS_RSA_EXPORT1024_WITH_RC2_CBC_56_MD5", EXPORT | RC2 | MD5),
    suite(0x0062, "TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA", EXPORT | DES | CBC_SHA1),
    suite(
        0x0063,
        "TLS_DHE_DSS_EXPORT1024_WITH_DES_CBC_SHA",
        EXPORT | DES | CBC_SHA1,
    ),
    suite(0x0064, "TLS_RSA_EXPORT1024_WITH_RC4_56_SHA", EXPORT | RC4),
    suite(0x0065, "TLS_DHE_DSS_EXPORT1024_WITH_RC4_56_SHA", EXPORT | RC4),
    suite(0x0066, "TLS_DHE_DSS_WITH_RC4_128_SHA", RC4),
    suite(0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", TLS12),
    suite(0x0068, "TLS_DH_DSS_WITH_AES_256_CBC_SHA256", TLS12),
    suite(0x0069, "TLS_DH_RSA_WITH_AES_256_CBC_SHA256", TLS12),
    suite(0x006a, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256", TLS12),
    suite(0x006b, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", TLS12),
    suite(0x006c, "TLS_DH_anon_WITH_AES_128_CBC_SHA256", TLS12 | ANON),
    suite(0x006d, "TLS_DH_anon_WITH_AES_256_CBC_SHA256", TLS12 | ANON),
    suite(0x0084, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA", CBC_SHA1),
    suite(0x0085, "TLS_DH_DSS_WITH_CAMELLIA_256_CBC_SHA", CBC_SHA1),
    suite(0x0086, "TLS_DH_RSA_WITH_CAMELLIA_256_CBC_SHA", CBC_SHA1),
    suite(0x0087, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA", CBC_SHA1),
    suite(0x0088, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA", CBC_SHA1),
    suite(0x0089, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA", ANON | CBC_SHA1),
    suite(0x008a, "TLS_PSK_WITH_RC4_128_SHA", RC4),
    suite(0x008b, "TLS_PSK_WITH_3DES_EDE_CBC_SHA", TRIPLE_DES | CBC_SHA1),
    suite(0x008c, "TLS_PSK_WITH_AES_128_CBC_SHA", CBC_SHA1),
    suite(0x008d, "TLS_PSK_WITH_AES_256_CBC_SHA", CBC_SHA1),
    suite(0x008e, "TLS_DHE_PSK_WITH_RC4_128_SHA", RC4),
    suite(0x008f, "TLS_DHE_PSK_WITH_3DES_EDE_CBC_SHA", TRIPLE_DES | CBC_SHA1),
    suite(0x0090, "TLS_DHE_PSK_WITH_AES_128_CBC_SHA", CBC_SHA1),
    suite(0x0091, "TLS_DHE_PSK_WITH_AES_256_CBC_SHA", CBC_SHA1),
    suite(0x0092, "TLS_RSA_PSK_WITH_RC4_128_SHA", RC4),
    suite(0x0093, "TLS_RSA_PSK_WITH_3DES_EDE_CBC_SHA", TRIPLE_DES | CBC_SHA1),
    suite(0x0094, "TLS_RSA_PSK_WITH_AES_128_CBC_SHA", CBC_SHA1),
    suite(0x0095, "TLS_RSA_PSK_WITH_AES_256_CBC_SHA", CBC_SHA1),
    suite(0x0096, "TLS_RSA_WITH_SEED_CBC_SHA", CBC_SHA1),
    suite(0x0097, "TLS_DH_DSS_WITH_SEED_CBC_SHA", CBC_SHA1),
    suite(0x0098, "TLS_DH_RSA_WITH_SEED_CBC_SHA", CBC_SHA1),
    suite(0x0099, "TLS_DHE_DSS_WITH_SEED_CBC_SHA", CBC_SHA1),
    suite(0x009a, "TLS_DHE_RSA_WITH_SEED_CBC_SHA", CBC_SHA1),
    suite(0x009b, "TLS_DH_anon_WITH_SEED_CBC_SHA", ANON | CBC_SHA1),
    suite(0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256", TLS12),
    suite(0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384", TLS12),
    suite(0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", TLS12),
    suite(0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", TLS12),
    suite(0x00a0, "TLS_DH_RSA_WITH_AES_128_GCM_SHA256", TLS12),
    suite(0x00a1, "TLS_DH_RSA_WITH_AES_256_GCM_SHA384", TLS12),
    suite(0x00a2, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256", TLS12),
    suite(0x00a3, "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384", TLS12),
    suite(0x00a4, "TLS_DH_DSS_WITH_AES_128_GCM_SHA256", TLS12),
    suite(0x00a5, "TLS_DH_DSS_WITH_AES_256_GCM_SHA384", TLS12),
    suite(0x00a6, "TLS_DH_anon_WITH_AES_128_GCM_SHA256", TLS12 | ANON),
    suite(0x00a7, "TLS_DH_anon_WITH_AES_256_GCM_SHA384", TLS12 | ANON),
    suite(0x00a8, "TLS_PSK_WITH_AES_128_GCM_SHA256", TLS12),
    suite(0x00a9, "TLS_PSK_WITH_AES_256_GCM_SHA384", TLS12),
    suite(0x00aa, "TLS_DHE_PSK_WITH_AES_128_GCM_SHA256", TLS12),
    suite(0x00ab, "TLS_DHE_PSK_WITH_AES_256_GCM_SHA384", TLS12),
    suite(0x00ac, "TLS_RSA_PSK_WITH_AES_128_GCM_SHA256", TLS12),
    suite(0x00ad, "TLS_RSA_PSK_WITH_AES_256_GCM_SHA384", TLS12),
    suite(0x00ae, "TLS_PSK_WITH_AES_128_CBC_SHA256", TLS12),
    suite(0x00af, "TLS_PSK_WITH_AES_256_CBC_SHA384", TLS12),
    suite(0x00b0, "TLS_PSK_WITH_NULL_SHA256", TLS12 | NULL_CIPHER),
    suite(0x00b1, "TLS_PSK_WITH_NULL_SHA384", TLS12 | NULL_CIPHER),
    suite(0x00b2, "TLS_DHE_PSK_WITH_AES_128_CBC_SHA256", TLS12),
    suite(0x00b3, "TLS_DHE_PSK_WITH_AES_256_CBC_SHA384", TLS12),
    suite(0x00b4, "TLS_DHE_PSK_WITH_NULL_SHA256", TLS12 | NULL_CIPHER),
    suite(0x00b5, "TLS_DHE_PSK_WITH_NULL_SHA384", TLS12 | NULL_CIPHER),
    suite(0x00b6, "TLS_RSA_PSK_WITH_AES_128_CBC_SHA256", TLS12),
    suite(0x00b7, "TLS_RSA_PSK_WITH_AES_256_CBC_SHA384", TLS12),
    suite(0x00b8, "TLS_RSA_PSK_WITH_NULL_SHA256", TLS12 | NULL_CIPHER),
    suite(0x00b9, "TLS_RSA_PSK_WITH_NULL_SHA384", TLS12 | NULL_CIPHER),
    suite(0x00ba, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256", TLS12),
    suite(0x00bb, "TLS_DH_DSS_WITH_CAMELLIA_128_CBC_SHA256", TLS12),
    suite(0x00bc, "TLS_DH_RSA_WITH_CAMELLIA_128_CBC_SHA256", TLS12),
    suite(0x00bd, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA256", TLS12),
    suite(0x00be, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256", TLS12),
    suite(0x00bf, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA256", TLS12 | ANON),
    suite(0x00c0, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256", TLS12),
    suite(0x00c1, "TLS_DH_DSS_WITH_CAMELLIA_256_CBC_SHA256", TLS12),
    suite(0x00c2, "TLS_DH_RSA_WITH_CAMELLIA_256_CBC_SHA256", TLS12),
    suite(0x00c3, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256", TLS12),
    suite(0x00c4, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256", TLS12),
    suite(0x00c5, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA256", TLS12 | ANON),
    suite(0x00c6, "TLS_SM4_GCM_SM3", TLS13),
    suite(0x00c7, "TLS_SM4_CCM_SM3", TLS13),
    suite(0x1301, "TLS_AES_128_GCM_SHA256", TLS13),
    suite(0x1302, "TLS_AES_256_GCM_SHA384", TLS13),
    suite(0x1303, "TLS_CHACHA20_POLY1305_SHA256", TLS13),
    suite(0x1304, "TLS_AES_128_CCM_SHA256", TLS13),
    suite(0x1305, "TLS_AES_128_CCM_8_SHA256", TLS13),
    suite(0x1306, "TLS_AEGIS_256_SHA512", TLS13),
    suite(0x1307, "TLS_AEGIS_128L_SHA256", TLS13),
    suite(0xc001, "TLS_ECDH_ECDSA_WITH_NULL_SHA", NULL_CIPHER),
    suite(0xc002, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA", RC4),
    suite(0xc003, "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA", TRIPLE_DES | CBC_SHA1),
    suite(0xc004, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA", CBC_SHA1),
    suite(0xc005, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA", CBC_SHA1),
    suite(0xc006, "TLS_ECDHE_ECDSA_WITH_NULL_SHA", NULL_CIPHER),
    suite(0xc007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", RC4),
    suite(0xc008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA", TRIPLE_DES | CBC_SHA1),
    suite(0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", CBC_SHA1),
    suite(0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", CBC_SHA1),
    suite(0xc00b, "TLS_ECDH_RSA_WITH_NULL_SHA", NULL_CIPHER),
    suite(0xc00c, "TLS_ECDH_RSA_WITH_RC4_128_SHA", RC4),
    suite(0xc00d, "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA", TRIPLE_DES | CBC_SHA1),
    suite(0xc00e, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA", CBC_SHA1),
    suite(0xc00f, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA", CBC_SHA1),
    suite(0xc010, "TLS_ECDHE_RSA_WITH_NULL_SHA", NULL_CIPHER),
    suite(0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA", RC4),
    suite(0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", TRIPLE_DES | CBC_SHA1),
    suite(0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", CBC_SHA1),
    suite(0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", CBC_SHA1),
    suite(0xc015, "TLS_ECDH_anon_WITH_NULL_SHA", NULL_CIPHER | ANON),
    suite(0xc016, "TLS_ECDH_anon_WITH_RC4_128_SHA", RC4 | ANON),
    suite(
        0xc017,
        "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA",
        TRIPLE_DES | ANON | CBC_SHA1,
    ),
    suite(0xc018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA", ANON | CBC_SHA1),
    suite(0xc019, "TLS_ECDH_anon_WITH_AES_256_CBC_SHA", ANON | CBC_SHA1),
    suite(0xc01a, "TLS_SRP_SHA_WITH_3DES_EDE_CBC_SHA", TRIPLE_DES | CBC_SHA1),
    suite(0xc01b, "TLS_SRP_SHA_RSA_WITH_3DES_EDE_CBC_SHA", TRIPLE_DES | CBC_SHA1),
    suite(0xc01c, "TLS_SRP_SHA_DSS_WITH_3DES_EDE_CBC_SHA", TRIPLE_DES | CBC_SHA1),
    suite(0xc01d, "TLS_SRP_SHA_WITH_AES_128_CBC_SHA", CBC_SHA1),
    suite(0xc01e, "TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA", CBC_SHA1),
    suite(0xc01f, "TLS_SRP_SHA_DSS_WITH_AES_128_CBC_SHA", CBC_SHA1),
    suite(0xc020, "TLS_SRP_SHA_WITH_AES_256_CBC_SHA", CBC_SHA1),
    suite(0xc021, "TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA", CBC_SHA1),
    suite(0xc022, "TLS_SRP_SHA_DSS_WITH_AES_256_CBC_SHA", CBC_SHA1),
    suite(0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", TLS12),
    suite(0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", TLS12),
    suite(0xc025, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256", TLS12),
    suite(0xc026, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384", TLS12),
    suite(0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", TLS12),
    suite(0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", TLS12),
    suite(0xc029, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256", TLS12),
    suite(0xc02a, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384", TLS12),
    suite(0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", TLS12),
    suite(0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", TLS12),
    suite(0xc02d, "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256", TLS12),
    suite(0xc02e, "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384", TLS12),
    suite(0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", TLS12),
    suite(0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", TLS12),
    suite(0xc031, "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256", TLS12),
    suite(0xc032, "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384", TLS12),
    suite(0xc033, "TLS_ECDHE_PSK_WITH_RC4_128_SHA", RC4),
    suite(0xc034, "TLS_ECDHE_PSK_WITH_3DES_EDE_CBC_SHA", TRIPLE_DES | CBC_SHA1),
    suite(0xc035, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA", CBC_SHA1),
    suite(0xc036, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA", CBC_SHA1),
    suite(0xc037, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256", TLS12),
    suite(0xc038, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384", TLS12),
    suite(0xc039, "TLS_ECDHE_PSK_WITH_NULL_SHA", NULL_CIPHER),
    suite(0xc03a, "TLS_ECDHE_PSK_WITH_NULL_SHA256", TLS12 | NULL_CIPHER),
    suite(0xc03b, "TLS_ECDHE_PSK_WITH_NULL_SHA384", TLS12 | NULL_CIPHER),
    suite(0xc03c, "TLS_RSA_WITH_ARIA_128_CBC_SHA256", TLS12),
    suite(0xc03d, "TLS_RSA_WITH_ARIA_256_CBC_SHA384", TLS12),
    suite(0xc03e, "TLS_DH_DSS_WITH_ARIA_128_CBC_SHA256", TLS12),
    suite(0xc03f, "TLS_DH_DSS_WITH_ARIA_256_CBC_SHA384", TLS12),
    suite(0xc040, "TLS_DH_RSA_WITH_ARIA_128_CBC_SHA256", TLS12),
    suite(0xc041, "TLS_DH_RSA_WITH_ARIA_256_CBC_SHA384", TLS12),
    suite(0xc042, "TLS_DHE_DSS_WITH_ARIA_128_CBC_SHA256", TLS12),
    suite(0xc043, "TLS_DHE_DSS_WITH_ARIA_256_CBC_SHA384", TLS12),
    suite(0xc044, "TLS_DHE_RSA_WITH_ARIA_128_CBC_SHA256", TLS12),
    suite(0xc045, "TLS_DHE_RSA_WITH_ARIA_256_CBC_SHA384", TLS12),
    suite(0xc046, "TLS_DH_anon_WITH_ARIA_128_CBC_SHA256", TLS12 | ANON),
    suite(0xc047, "TLS_DH_anon_WITH_ARIA_256_CBC_SHA384", TLS12 | ANON),
    suite(0xc048, "TLS_ECDHE_ECDSA_WITH_ARIA_128_CBC_SHA256", TLS12),
    suite(0xc049, "TLS_ECDHE_ECDSA_WITH_ARIA_256_CBC_SHA384", TLS12),
    suite(0xc04a, "TLS_ECDH_ECDSA_WITH_ARIA_128_CBC_SHA256", TLS12),
    suite(0xc04b, "TLS_ECDH_ECDSA_WITH_ARIA_256_CBC_SHA384", TLS12),
    suite(0xc04c, "TLS_ECDHE_RSA_WITH_ARIA_128_CBC_SHA256", TLS12),
    suite(0xc04d, "TLS_ECDHE_RSA_WITH_ARIA_256_CBC_SHA384", TLS12),
    suite(0xc04e, "TLS_ECDH_RSA_WITH_ARIA_128_CBC_SHA256", TLS12),
    suite(0xc04f, "TLS_ECDH_RSA_WITH_ARIA_256_CBC_SHA384", TLS12),
    suite(0xc050, "TLS_RSA_WITH_ARIA_128_GCM_SHA256", TLS12),
    suite(0xc051, "TLS_RSA_WITH_ARIA_256_GCM_SHA384", TLS12),
    suite(0xc052, "TLS_DHE_RSA_WITH_ARIA_128_GCM_SHA256", TLS12),
    suite(0xc053, "TLS_DHE_RSA_WITH_ARIA_256_GCM_SHA384", TLS12),
    suite(0xc054, "TLS_DH_RSA_WITH_ARIA_128_GCM_SHA256", TLS12),
    suite(0xc055, "TLS_DH_RSA_WITH_ARIA_256_GCM_SHA384", TLS12),
    suite(0xc056, "TLS_DHE_DSS_WITH_ARIA_128_GCM_SHA256", TLS12),
    suite(0xc057, "TLS_DHE_DSS_WITH_ARIA_256_GCM_SHA384", TLS12),
    suite(0xc058, "TLS_DH_DSS_WITH_ARIA_128_GCM_SHA256", TLS12),
    suite(0xc059, "TLS_DH_DSS_WITH_ARIA_256_GCM_SHA384", TLS12),
    suite(0xc05a, "TLS_DH_anon_WITH_ARIA_128_GCM_SHA256", TLS12 | ANON),
    suite(0xc05b, "TLS_DH_anon_WITH_ARIA_256_GCM_SHA384", TLS12 | ANON),
    suite(0xc05c, "TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256", TLS12),
    suite(0xc05d, "TLS_ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384", TLS12),
    suite(0xc05e, "TLS_ECDH_ECDSA_WITH_ARIA_128_GCM_SHA256", TLS12),
    suite(0xc05f, "TLS_ECDH_ECDSA_WITH_ARIA_256_GCM_SHA384", TLS12),
    suite(0xc060, "TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256", TLS12),
    suite(0xc061, "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384", TLS12),
    suite(0xc062, "TLS_ECDH_RSA_WITH_ARIA_128_GCM_SHA256", TLS12),
    suite(0xc063, "TLS_ECDH_RSA_WITH_ARIA_256_GCM_SHA384", TLS12),
    suite(0xc064, "TLS_PSK_WITH_ARIA_128_CBC_SHA256", TLS12),
    suite(0xc065, "TLS_PSK_WITH_ARIA_256_CBC_SHA384", TLS12),
    suite(0xc066, "TLS_DHE_PSK_WITH_ARIA_128_CBC_SHA256", TLS12),
    suite(0xc067, "TLS_DHE_PSK_WITH_ARIA_256_CBC_SHA384", TLS12),
    suite(0xc068, "TLS_RSA_PSK_WITH_ARIA_128_CBC_SHA256", TLS12),
    suite(0xc069, "TLS_RSA_PSK_WITH_ARIA_256_CBC_SHA384", TLS12),
    suite(0xc06a, "TLS_PSK_WITH_ARIA_128_GCM_SHA256", TLS12),
    suite(0xc06b, "TLS_PSK_WITH_ARIA_256_GCM_SHA384", TLS12),
    suite(0xc06c, "TLS_DHE_PSK_WITH_ARIA_128_GCM_SHA256", TLS12),
    suite(0xc06d, "TLS_DHE_PSK_WITH_ARIA_256_GCM_SHA384", TLS12),
    suite(0xc06e, "TLS_RSA_PSK_WITH_ARIA_128_GCM_SHA256", TLS12),
    suite(0xc06f, "TLS_RSA_PSK_WITH_ARIA_256_GCM_SHA384", TLS12),
    suite(0xc070, "TLS_ECDHE_PSK_WITH_ARIA_128_CBC_SHA256", TLS12),
    suite(0xc071, "TLS_ECDHE_PSK_WITH_ARIA_256_CBC_SHA384", TLS12),
    suite(0xc072, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256", TLS12),
    suite(0xc073, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384", TLS12),
    suite(0xc074, "TLS_ECDH_ECDSA_WITH_CAMELLIA_128_CBC_SHA256", TLS12),
    suite(0xc075, "TLS_ECDH_ECDSA_WITH_CAMELLIA_256_CBC_SHA384", TLS12),
    suite(0xc076, "TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256", TLS12),
    suite(0xc077, "TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384", TLS12),
    suite(0xc078, "TLS_ECDH_RSA_WITH_CAMELLIA_128_CBC_SHA256", TLS12),
    suite(0xc079, "TLS_ECDH_RSA_WITH_CAMELLIA_256_CBC_SHA384", TLS12),
    suite(0xc07a, "TLS_RSA_WITH_CAMELLIA_128_GCM_SHA256", TLS12),
    suite(0xc07b, "TLS_RSA_WITH_CAMELLIA_256_GCM_SHA384", TLS12),
    suite(0xc07c, "TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256", TLS12),
    suite(0xc07d, "TLS_DHE_RSA_WITH_CAMELLIA_256_GCM_SHA384", TLS12),
    suite(0xc07e, "TLS_DH_RSA_WITH_CAMELLIA_128_GCM_SHA256", TLS12),
    suite(0xc07f, "TLS_DH_RSA_WITH_CAMELLIA_256_GCM_SHA384", TLS12),
    suite(0xc080, "TLS_DHE_DSS_WITH_CAMELLIA_128_GCM_SHA256", TLS12),
    suite(0xc081, "TLS_DHE_DSS_WITH_CAMELLIA_256_GCM_SHA384", TLS12),
    suite(0xc082, "TLS_DH_DSS_WITH_CAMELLIA_128_GCM_SHA256", TLS12),
    suite(0xc083, "TLS_DH_DSS_WITH_CAMELLIA_256_GCM_SHA384", TLS12),
    suite(0xc084, "TLS_DH_anon_WITH_CAMELLIA_128_GCM_SHA256", TLS12 | ANON),
    suite(0xc085, "TLS_DH_anon_WITH_CAMELLIA_256_GCM_SHA384", TLS12 | ANON),
    suite(0xc086, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_GCM_SHA256", TLS12),
    suite(0xc087, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_GCM_SHA384", TLS12),
    suite(0xc088, "TLS_ECDH_ECDSA_WITH_CAMELLIA_128_GCM_SHA256", TLS12),
    suite(0xc089, "TLS_ECDH_ECDSA_WITH_CAMELLIA_256_GCM_SHA384", TLS12),
    suite(0xc08a, "TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256", TLS12),
    suite(0xc08b, "TLS_ECDHE_RSA_WITH_CAMELLIA_256_GCM_SHA384", TLS12),
    suite(0xc08c, "TLS_ECDH_RSA_WITH_CAMELLIA_128_GCM_SHA256", TLS12),
    suite(0xc08d, "TLS_ECDH_RSA_WITH_CAMELLIA_256_GCM_SHA384", TLS12),
    suite(0xc08e, "TLS_PSK_WITH_CAMELLIA_128_GCM_SHA256", TLS12),
    suite(0xc08f, "TLS_PSK_WITH_CAMELLIA_256_GCM_SHA384", TLS12),
    suite(0xc090, "TLS_DHE_PSK_WITH_CAMELLIA_128_GCM_SHA256", TLS12),
    suite(0xc091, "TLS_DHE_PSK_WITH_CAMELLIA_256_GCM_SHA384", TLS12),
    suite(0xc092, "TLS_RSA_PSK_WITH_CAMELLIA_128_GCM_SHA256", TLS12),
    suite(0xc093, "TLS_RSA_PSK_WITH_CAMELLIA_256_GCM_SHA384", TLS12),
    suite(0xc094, "TLS_PSK_WITH_CAMELLIA_128_CBC_SHA256", TLS12),
    suite(0xc095, "TLS_PSK_WITH_CAMELLIA_256_CBC_SHA384", TLS12),
    suite(0xc096, "TLS_DHE_PSK_WITH_CAMELLIA_128_CBC_SHA256", TLS12),
    suite(0xc097, "TLS_DHE_PSK_WITH_CAMELLIA_256_CBC_SHA384", TLS12),
    suite(0xc098, "TLS_RSA_PSK_WITH_CAMELLIA_128_CBC_SHA256", TLS12),
    suite(0xc099, "TLS_RSA_PSK_WITH_CAMELLIA_256_CBC_SHA384", TLS12),
    suite(0xc09a, "TLS_ECDHE_PSK_WITH_CAMELLIA_128_CBC_SHA256", TLS12),
    suite(0xc09b, "TLS_ECDHE_PSK_WITH_CAMELLIA_256_CBC_SHA384", TLS12),
    suite(0xc09c, "TLS_RSA_WITH_AES_128_CCM", TLS12),
    suite(0xc09d, "TLS_RSA_WITH_AES_256_CCM", TLS12),
    suite(0xc09e, "TLS_DHE_RSA_WITH_AES_128_CCM", TLS12),
    suite(0xc09f, "TLS_DHE_RSA_WITH_AES_256_CCM", TLS12),
    suite(0xc0a0, "TLS_RSA_WITH_AES_128_CCM_8", TLS12),
    suite(0xc0a1, "TLS_RSA_WITH_AES_256_CCM_8", TLS12),
    suite(0xc0a2, "TLS_DHE_RSA_WITH_AES_128_CCM_8", TLS12),
    suite(0xc0a3, "TLS_DHE_RSA_WITH_AES_256_CCM_8", TLS12),
    suite(0xc0a4, "TLS_PSK_WITH_AES_128_CCM", TLS12),
    suite(0xc0a5, "TLS_PSK_WITH_AES_256_CCM", TLS12),
    suite(0xc0a6, "TLS_DHE_PSK_WITH_AES_128_CCM", TLS12),
    suite(0xc0a7, "TLS_DHE_PSK_WITH_AES_256_CCM", TLS12),
    suite(0xc0a8, "TLS_PSK_WITH_AES_128_CCM_8", TLS12),
    suite(0xc0a9, "TLS_PSK_WITH_AES_256_CCM_8", TLS12),
    suite(0xc0aa, "TLS_PSK_DHE_WITH_AES_128_CCM_8", TLS12),
    suite(0xc0ab, "TLS_PSK_DHE_WITH_AES_256_CCM_8", TLS12),
    suite(0xc0ac, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", TLS12),
    suite(0xc0ad, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM", TLS12),
    suite(0xc0ae, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", TLS12),
    suite(0xc0af, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8", TLS12),
    suite(0xc0b0, "TLS_ECCPWD_WITH_AES_128_GCM_SHA256", TLS12),
    suite(0xc0b1, "TLS_ECCPWD_WITH_AES_256_GCM_SHA384", TLS12),
    suite(0xc0b2, "TLS_ECCPWD_WITH_AES_128_CCM_SHA256", TLS12),
    suite(0xc0b3, "TLS_ECCPWD_WITH_AES_256_CCM_SHA384", TLS12),
    suite(0xc0b4, "TLS_SHA256_SHA256", TLS13 | NULL_CIPHER),
    suite(0xc0b5, "TLS_SHA384_SHA384", TLS13 | NULL_CIPHER),
    suite(0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", TLS12),
    suite(0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", TLS12),
    suite(0xccaa, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", TLS12),
    suite(0xccab, "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256", TLS12),
    suite(0xccac, "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256", TLS12),
    suite(0xccad, "TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256", TLS12),
    suite(0xccae, "TLS_RSA_PSK_WITH_CHACHA20_POLY1305_SHA256", TLS12),
    suite(0xd001, "TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256", TLS12),
    suite(0xd002, "TLS_ECDHE_PSK_WITH_AES_256_GCM_SHA384", TLS12),
    suite(0xd003, "TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256", TLS12),
    suite(0xd005, "TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256", TLS12),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(SUITES.windows(2).all(|w| w[0].id < w[1].id));
        assert!(SUITES.iter().all(|s| s.name.starts_with("TLS_")));
    }

    #[test]
    fn lookups_by_id() {
        assert_eq!(name_of(0x002f), "TLS_RSA_WITH_AES_128_CBC_SHA");
        assert_eq!(name_of(0xc02f), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(name_of(0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(name_of(0xcca8), "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");
        assert_eq!(name_of(0x0a0a), "0x0A0A");
        assert!(by_id(0x00ff).is_none(), "signalling values are not suites");
    }

    #[test]
    fn weakness_labels() {
        let weak = |id: u16, v: TlsVersion| by_id(id).map(|s| s.is_weak(v));
        use TlsVersion::*;
        // RC4, 3DES, DES, NULL, EXPORT, anon, MD5: weak in every version.
        for id in [
            0x0005, 0x000a, 0x0009, 0x0002, 0x0003, 0x0034, 0x0001, 0xc011, 0xc012, 0x0007,
        ] {
            assert_eq!(weak(id, Tls12), Some(true), "{}", name_of(id));
            assert_eq!(weak(id, Tls10), Some(true), "{}", name_of(id));
        }
        // CBC-SHA1: weak only in TLS 1.1 and older.
        assert_eq!(weak(0x002f, Tls10), Some(true));
        assert_eq!(weak(0x002f, Tls11), Some(true));
        assert_eq!(weak(0x002f, Tls12), Some(false));
        assert_eq!(weak(0xc013, Ssl3), Some(true));
        // Modern suites.
        for id in [0xc02f, 0xc030, 0xcca8, 0x009e, 0xc027] {
            assert_eq!(weak(id, Tls12), Some(false), "{}", name_of(id));
        }
        assert_eq!(weak(0x1301, Tls13), Some(false));
        assert_eq!(weak(0xc0b4, Tls13), Some(true), "integrity-only TLS 1.3 suite");
        assert!(by_id(0x0034).is_some_and(CipherSuite::is_anonymous));
        assert!(!by_id(0x002f).is_some_and(CipherSuite::is_anonymous));
    }

    #[test]
    fn candidates_follow_the_version_rules() {
        let t12 = candidates(TlsVersion::Tls12);
        let t10 = candidates(TlsVersion::Tls10);
        let t13 = candidates(TlsVersion::Tls13);
        assert!(t12.contains(&0xc02f) && t12.contains(&0x002f));
        assert!(!t10.contains(&0xc02f), "GCM is TLS 1.2 only");
        assert!(t10.contains(&0x002f) && t10.contains(&0x0005));
        assert!(t13.contains(&0x1301) && !t13.contains(&0x002f));
        assert!(!t12.contains(&0x1301));
        assert_eq!(candidates(TlsVersion::Ssl3), t10);
    }
}
