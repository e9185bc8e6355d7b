//! What is looked for in the bytes: components and their versions, keys, and — by path — the
//! account files, boot configuration (debug services) and secrets in scripts and configs.

use std::sync::LazyLock;

use memchr::memmem;
use regex::Regex;
use regex::bytes::Regex as BytesRegex;

use crate::model::{Component, Finding, FindingKind, Severity};
use crate::walk::Scan;
use crate::{accounts, keys};

/// Text files larger than this are not read line by line (configs and scripts are small).
const MAX_TEXT_BYTES: usize = 1 << 20;
/// Findings of one kind per file: a generated config with a thousand keys is one problem.
const MAX_PER_FILE: usize = 20;

/// Version strings as the components print them. One alternation, so the bytes are
/// scanned once; the group that matched says which component it is.
static COMPONENTS: LazyLock<BytesRegex> = LazyLock::new(|| {
    BytesRegex::new(concat!(
        r"BusyBox v(?P<busybox>\d+\.\d+(?:\.\d+)?)",
        r"|OpenSSL (?P<openssl>\d+\.\d+\.\d+[a-z]{0,2})(?:-fips)? +\d{1,2} [A-Z][a-z]{2} \d{4}",
        r"|wolfSSL(?: version)? v?(?P<wolfssl>\d+\.\d+\.\d+)",
        r"|[Mm]bed TLS (?P<mbedtls>\d+\.\d+\.\d+)",
        r"|dropbear_(?P<dropbear>\d{4}\.\d{2,3})",
        r"|OpenSSH_(?P<openssh>\d+\.\d+(?:p\d+)?)",
        r"|lighttpd/(?P<lighttpd>\d+\.\d+\.\d+)",
        r"|Boa/(?P<boa>\d+\.\d+\.\d+(?:rc\d+)?)",
        r"|thttpd/(?P<thttpd>\d+\.\d+[a-z]?)",
        r"|uClibc(?:-ng)? (?P<uclibc>\d+\.\d+\.\d+(?:\.\d+)?)",
        r"|GNU C Library \([^)\x00]{0,80}\) (?:stable )?release version (?P<glibc>\d+\.\d+)",
        r"|Linux version (?P<linux>\d+\.\d+\.\d+)[^ \x00]{0,64} \(",
    ))
    .expect("static regex is valid")
});

const COMPONENT_NAMES: [(&str, &str, &str); 12] = [
    ("busybox", "busybox", "application"),
    ("openssl", "openssl", "library"),
    ("wolfssl", "wolfssl", "library"),
    ("mbedtls", "mbedtls", "library"),
    ("dropbear", "dropbear", "application"),
    ("openssh", "openssh", "application"),
    ("lighttpd", "lighttpd", "application"),
    ("boa", "boa", "application"),
    ("thttpd", "thttpd", "application"),
    ("uclibc", "uclibc", "library"),
    ("glibc", "glibc", "library"),
    ("linux", "linux", "operating-system"),
];

/// File names that carry a version: `libuClibc-0.9.33.2.so`, `libc-2.31.so`.
static LIB_NAMES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"/(?:lib(?:uClibc|uClibc-ng)|ld-uClibc)-(?P<uclibc>\d+\.\d+\.\d+(?:\.\d+)?)\.so$|/libc-(?P<glibc>\d+\.\d+)\.so$")
        .expect("static regex is valid")
});

static SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)(?P<key>\b[a-z0-9_]*(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|auth[_-]?key)\b)\s*[=:]\s*["']?(?P<value>[^\s"'#;&|<>]{3,128})"#,
    )
    .expect("static regex is valid")
});

/// Makes image text safe and short for a report line: control and bidirectional characters
/// become visible escapes, and long text is cut.
pub(crate) fn clean(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i >= max_chars {
            out.push('…');
            break;
        }
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Raw bytes with no file context (a gap between containers, a kernel).
pub(crate) fn raw(scan: &mut Scan<'_>, path: &str, data: &[u8], base: u64) {
    components(scan, path, data);
    keys::pem(scan, path, data, base);
}

/// Markers of a signature outside any file system (checked at the top level only).
pub(crate) fn signature_markers(scan: &mut Scan<'_>, data: &[u8], base: u64) {
    // id-signedData, as DER: a PKCS#7/CMS signature block.
    const SIGNED_DATA: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
    let markers: [(&[u8], &str); 4] = [
        (SIGNED_DATA, "PKCS#7/CMS SignedData block"),
        (b"-----BEGIN PGP SIGNATURE-----", "OpenPGP signature block"),
        (b"-----BEGIN PKCS7-----", "PEM PKCS#7 block"),
        (b"-----BEGIN CMS-----", "PEM CMS block"),
    ];
    for (marker, what) in markers {
        if let Some(at) = memmem::find(data, marker) {
            scan.signed_evidence
                .push(format!("{what} at {:#x}, outside any file system", base + at as u64));
        }
    }
}

/// Integrity trailers at the very end of the image, in the one layout recognised:
/// `content ‖ [Ed25519 signature, 64 bytes] ‖ SHA-256(everything before the digest)`.
///
/// The digest is checked exactly (it is unkeyed, so it is a checksum: `crc_only`). The 64
/// bytes before it count as a signature only when they have an Ed25519 signature's form:
/// its scalar half `S` is below the group order (a random 32-byte value is, about 1 in 16
/// times) and the 64 bytes look random (at least 40 distinct byte values, which padding,
/// text and archive trailers never reach). Without the vendor's public key the signature is
/// not verified — its presence is recorded, its validity stays with the update cases.
pub(crate) fn trailers(scan: &mut Scan<'_>, image: &[u8]) {
    use sha2::Digest;
    const DIGEST: usize = 32;
    const SIGNATURE: usize = 64;
    let Some(split) = image.len().checked_sub(DIGEST) else {
        return;
    };
    let (content, digest) = image.split_at(split);
    if content.len() < SIGNATURE + 16 || sha2::Sha256::digest(content).as_slice() != digest {
        return;
    }
    scan.crc_evidence.push(format!(
        "trailing SHA-256 at {split:#x} over the {split} bytes before it (unkeyed: whoever changes the image recomputes it)"
    ));
    let signature = &content[content.len() - SIGNATURE..];
    if ed25519_form(signature) {
        scan.signed_evidence.push(format!(
            "detached Ed25519-form signature trailer at {:#x} (64 bytes before the SHA-256 trailer); not verified: the vendor's public key is not in the image",
            content.len() - SIGNATURE
        ));
    }
}

/// `S < L` (RFC 8032 5.1.7's canonical check) and random-looking bytes; see [`trailers`].
fn ed25519_form(signature: &[u8]) -> bool {
    // The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let Some(s) = signature.get(32..64) else {
        return false;
    };
    let below_order = s
        .iter()
        .rev()
        .zip(L.iter().rev())
        .find(|(a, b)| a != b)
        .is_some_and(|(a, b)| a < b);
    let mut seen = [false; 256];
    for &b in signature {
        seen[usize::from(b)] = true;
    }
    below_order && seen.iter().filter(|&&x| x).count() >= 40
}

fn components(scan: &mut Scan<'_>, path: &str, data: &[u8]) {
    let mut seen = 0;
    for caps in COMPONENTS.captures_iter(data) {
        for (group, name, kind) in COMPONENT_NAMES {
            if let Some(m) = caps.name(group) {
                let version = String::from_utf8_lossy(m.as_bytes()).into_owned();
                scan.component(name, &version, kind, path);
            }
        }
        seen += 1;
        if seen >= 256 {
            break;
        }
    }
}

/// A file inside an archive or file system.
pub(crate) fn file(scan: &mut Scan<'_>, path: &str, fs_path: &str, data: &[u8]) {
    raw(scan, path, data, 0);
    if let Some(caps) = LIB_NAMES.captures(fs_path) {
        for group in ["uclibc", "glibc"] {
            if let Some(m) = caps.name(group) {
                scan.component(group, m.as_str(), "library", path);
            }
        }
    }
    let lower = fs_path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or("");
    if lower.contains("dropbear") || name.ends_with("_host_key") {
        keys::dropbear(scan, path, data);
    }
    if name.ends_with(".der") || name.ends_with(".key") {
        keys::der_file(scan, path, data);
    }
    if data.len() > MAX_TEXT_BYTES || data.iter().take(8192).any(|&b| b == 0) {
        return;
    }
    match fs_path {
        "/etc/shadow" | "/etc/shadow-" => accounts::file(scan, path, data, true),
        "/etc/passwd" | "/etc/passwd-" => accounts::file(scan, path, data, false),
        "/etc/inittab" => inittab(scan, path, data),
        "/etc/inetd.conf" => inetd(scan, path, data),
        _ => {}
    }
    let boot_script = is_boot_script(&lower);
    if boot_script {
        script(scan, path, data);
    }
    if boot_script || is_config(&lower) {
        secrets(scan, path, data);
    }
}

fn is_boot_script(lower: &str) -> bool {
    lower.starts_with("/etc/init.d/")
        || lower.starts_with("/etc/rc.d/")
        || lower.starts_with("/etc/rc")
        || lower.starts_with("/etc/init/")
        || lower.starts_with("/etc/systemd/system/")
        || lower.starts_with("/lib/systemd/system/")
        || lower.starts_with("/usr/lib/systemd/system/")
        || lower == "/etc/profile"
        || lower.ends_with(".sh")
}

fn is_config(lower: &str) -> bool {
    const EXTENSIONS: [&str; 9] = [
        ".conf",
        ".cfg",
        ".ini",
        ".json",
        ".xml",
        ".properties",
        ".cnf",
        ".env",
        ".config",
    ];
    (lower.starts_with("/etc/") && !lower.starts_with("/etc/ssl/") && !lower.ends_with(".pem"))
        || EXTENSIONS.iter().any(|e| lower.ends_with(e))
}

struct Line<'a> {
    offset: u64,
    text: &'a str,
}

/// Lines that are not comments, with their byte offsets.
fn live_lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    let mut offset = 0u64;
    text.split_inclusive('\n').filter_map(move |raw| {
        let here = offset;
        offset += raw.len() as u64;
        let line = raw.trim();
        (!line.is_empty() && !line.starts_with('#') && !line.starts_with("//")).then_some(Line {
            offset: here,
            text: line,
        })
    })
}

fn debug_service(path: &str, offset: u64, title: String, line: &str, severity: Severity, clause: &str) -> Finding {
    Finding {
        kind: FindingKind::DebugService,
        severity,
        path: path.to_string(),
        offset,
        title,
        excerpt: redact_secrets(&clean(line, 200)),
        fingerprint: None,
        clauses: vec![clause.to_string()],
    }
}

static SERIAL_TTY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:tty(?:S|AMA|O|SAC|MSM|HS|PS|mxc|GS|AM)\d+|console)\b").expect("static regex is valid")
});
static TELNETD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(?:u?telnetd|in\.telnetd)\b").expect("static regex is valid"));
static SSHD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(?:dropbear|sshd)\b").expect("static regex is valid"));
static SHELL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^-?/bin/(?:a|ba|da)?sh\b").expect("static regex is valid"));

/// BusyBox/SysV inittab: `id:runlevels:action:process`.
fn inittab(scan: &mut Scan<'_>, path: &str, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in live_lines(&text).take(512) {
        let fields: Vec<&str> = line.text.splitn(4, ':').collect();
        let [id, _, action, process] = fields[..] else { continue };
        if matches!(action, "shutdown" | "ctrlaltdel" | "restart") {
            continue;
        }
        let process = process.trim();
        if TELNETD.is_match(process) {
            scan.finding(debug_service(
                path,
                line.offset,
                "telnetd started at boot from inittab".into(),
                line.text,
                Severity::High,
                "2.6.1",
            ));
        } else if SSHD.is_match(process) {
            scan.finding(debug_service(
                path,
                line.offset,
                "SSH server started at boot from inittab".into(),
                line.text,
                Severity::Medium,
                "2.6.1",
            ));
        } else if process.contains("getty") && (SERIAL_TTY.is_match(process) || SERIAL_TTY.is_match(id)) {
            scan.finding(debug_service(
                path,
                line.offset,
                "login prompt (getty) on a serial console".into(),
                line.text,
                Severity::Medium,
                "2.6.3",
            ));
        } else if SHELL.is_match(process) && matches!(action, "askfirst" | "respawn" | "once" | "wait" | "sysinit") {
            scan.finding(debug_service(
                path,
                line.offset,
                format!("root shell without login on the console (inittab `{action}`)"),
                line.text,
                Severity::High,
                "2.6.3",
            ));
        }
    }
}

fn inetd(scan: &mut Scan<'_>, path: &str, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in live_lines(&text).take(512) {
        if TELNETD.is_match(line.text) || line.text.starts_with("telnet") {
            scan.finding(debug_service(
                path,
                line.offset,
                "telnet enabled in inetd.conf".into(),
                line.text,
                Severity::High,
                "2.6.1",
            ));
        }
    }
}

/// Init scripts and service units: telnetd, SSH servers and serial gettys they start.
fn script(scan: &mut Scan<'_>, path: &str, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut found = 0;
    for line in live_lines(&text).take(4096) {
        if found >= MAX_PER_FILE {
            break;
        }
        let t = line.text;
        // Stopping or testing for a daemon is not starting it.
        if t.contains("kill")
            || t.contains(" stop")
            || t.starts_with("if ")
            || t.starts_with("[ ")
            || t.contains("echo ")
        {
            continue;
        }
        let (title, severity, clause) = if TELNETD.is_match(t) {
            ("telnetd started by a boot script", Severity::High, "2.6.1")
        } else if SSHD.is_match(t) && !t.contains("dropbearkey") && !t.contains("ssh-keygen") {
            ("SSH server started by a boot script", Severity::Medium, "2.6.1")
        } else if t.contains("getty") && SERIAL_TTY.is_match(t) {
            (
                "login prompt (getty) on a serial console started by a boot script",
                Severity::Medium,
                "2.6.3",
            )
        } else {
            continue;
        };
        found += 1;
        scan.finding(debug_service(path, line.offset, title.into(), t, severity, clause));
    }
}

/// `password=…`, `token: …` and the like with a literal value.
fn secrets(scan: &mut Scan<'_>, path: &str, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut found = 0;
    for line in live_lines(&text).take(8192) {
        if found >= MAX_PER_FILE {
            break;
        }
        let Some(caps) = SECRET.captures(line.text) else {
            continue;
        };
        let (Some(key), Some(value)) = (caps.name("key"), caps.name("value")) else {
            continue;
        };
        let v = value.as_str();
        // Variables, command substitutions and placeholders are not hard-coded values.
        if v.starts_with('$') || v.starts_with('%') || v.starts_with('`') || v.starts_with('{') || v.starts_with('(') {
            continue;
        }
        let lower = v.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "none" | "null" | "true" | "false" | "yes" | "no" | "required" | "optional" | "changeme_at_first_login"
        ) {
            continue;
        }
        found += 1;
        let dictionary = scan
            .opts
            .credentials
            .iter()
            .find(|c| c.password == v)
            .map(|c| format!(" (a {} dictionary password)", c.dictionary))
            .unwrap_or_default();
        let fingerprint = format!("sha256:{}", crate::sha256_hex(v.as_bytes()));
        let excerpt = format!(
            "{}<redacted {} chars, {}>{}",
            clean(&line.text[..value.start()], 120),
            v.chars().count(),
            &fingerprint[..19],
            clean(&line.text[value.end()..], 60)
        );
        scan.finding(Finding {
            kind: FindingKind::HardcodedSecret,
            severity: if dictionary.is_empty() {
                Severity::Medium
            } else {
                Severity::High
            },
            path: path.to_string(),
            offset: line.offset + key.start() as u64,
            title: format!("hard-coded value for `{}`{dictionary}", clean(key.as_str(), 40)),
            excerpt,
            fingerprint: Some(fingerprint),
            clauses: vec!["2.4.3".into()],
        });
    }
}

/// Redacts secret values inside an excerpt taken for another reason (a boot line).
fn redact_secrets(line: &str) -> String {
    match SECRET.captures(line).and_then(|c| c.name("value")) {
        Some(v) => format!("{}<redacted>{}", &line[..v.start()], &line[v.end()..]),
        None => line.to_string(),
    }
}

/// Components past their upstream end of life (dates from the projects' own pages).
pub(crate) fn end_of_life(inventory: &[Component]) -> Vec<Finding> {
    let mut out = Vec::new();
    for c in inventory {
        let eol = match c.name.as_str() {
            "openssl" if c.version.starts_with("0.") => Some("OpenSSL 0.9.x (end of life 2015-12-31)"),
            "openssl" if c.version.starts_with("1.0.") => Some("OpenSSL 1.0.x (end of life 2019-12-31)"),
            "openssl" if c.version.starts_with("1.1.0") => Some("OpenSSL 1.1.0 (end of life 2019-09-11)"),
            "openssl" if c.version.starts_with("1.1.1") => Some("OpenSSL 1.1.1 (end of life 2023-09-11)"),
            _ => None,
        };
        if let Some(what) = eol {
            out.push(Finding {
                kind: FindingKind::EndOfLifeComponent,
                severity: Severity::High,
                path: c.evidence.first().cloned().unwrap_or_default(),
                offset: 0,
                title: format!("{what}: {} {} gets no security fixes", c.name, c.version),
                excerpt: format!("{} {}", c.name, c.version),
                fingerprint: None,
                // The 2.2 group (vulnerability management) as a whole: QCVN 135 states it as
                // one disclosure clause, and an unmaintained component bears on the group.
                clauses: vec!["2.2".into()],
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_escapes_controls_and_cuts() {
        assert_eq!(clean("a\u{1b}[31m", 10), "a\\u{1b}[31m");
        assert_eq!(clean("abcdef", 3), "abc…");
        assert_eq!(clean("evil\u{202e}", 10), "evil\\u{202e}");
    }

    #[test]
    fn secrets_in_boot_lines_are_redacted() {
        let shown = redact_secrets("/usr/bin/app --password=hunter22 &");
        assert!(!shown.contains("hunter22"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn component_strings_are_recognised() {
        let caps = COMPONENTS.captures(b"xx OpenSSL 1.0.2k  26 Jan 2017\0").unwrap();
        assert_eq!(caps.name("openssl").unwrap().as_bytes(), b"1.0.2k");
        let caps = COMPONENTS.captures(b"BusyBox v1.31.1 (2020-01-01)").unwrap();
        assert_eq!(caps.name("busybox").unwrap().as_bytes(), b"1.31.1");
        let caps = COMPONENTS.captures(b"Linux version 4.9.37 (root@build) #1").unwrap();
        assert_eq!(caps.name("linux").unwrap().as_bytes(), b"4.9.37");
        assert!(COMPONENTS.captures(b"OpenSSL 1.0.2 is old").is_none());
    }
}
