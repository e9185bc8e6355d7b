//! `/etc/passwd` and `/etc/shadow`: fixed accounts, empty passwords, extra UID-0 accounts,
//! and hashes checked offline against the public default-credential dictionaries.
//!
//! A hash is never written: its scheme and salt are (they say how it was made, not what it
//! hides), and a SHA-256 fingerprint of the whole hash string lets anyone holding the image
//! confirm which line is meant.

use crate::analyze::clean;
use crate::model::{Finding, FindingKind, LimitKind, Severity};
use crate::walk::Scan;

/// Accounts examined per file; a camera has a handful.
const MAX_ACCOUNTS: usize = 256;
/// SHA-crypt rounds beyond this (default 5000) and bcrypt costs beyond this are not
/// checked: a hostile `rounds=999999999` must not stall the scan.
const MAX_SHA_ROUNDS: u64 = 20_000;
const MAX_BCRYPT_COST: u32 = 10;

pub(crate) fn file(scan: &mut Scan<'_>, path: &str, data: &[u8], shadow: bool) {
    let text = String::from_utf8_lossy(data);
    for (line_no, line) in text.lines().enumerate().take(MAX_ACCOUNTS) {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 2 || line.trim_start().starts_with('#') {
            continue;
        }
        let user = fields[0];
        let hash = fields[1];
        let offset = line_offset(&text, line_no);
        if !shadow && fields.len() >= 4 && fields[2] == "0" && user != "root" {
            scan.finding(Finding {
                kind: FindingKind::ExtraRootAccount,
                severity: Severity::High,
                path: path.to_string(),
                offset,
                title: format!("account {:?} has UID 0 besides root", clean(user, 32)),
                excerpt: redacted_line(&fields),
                fingerprint: None,
                clauses: vec!["2.1.1".into(), "2.4.3".into()],
            });
        }
        account(scan, path, offset, &fields, user, hash, shadow);
    }
}

fn account(scan: &mut Scan<'_>, path: &str, offset: u64, fields: &[&str], user: &str, hash: &str, shadow: bool) {
    let shown_user = clean(user, 32);
    // In passwd, `x` means "see shadow"; `*`, `!`… lock the account.
    if (!shadow && hash == "x") || hash.starts_with('!') || hash.starts_with('*') {
        return;
    }
    if hash.is_empty() {
        scan.finding(Finding {
            kind: FindingKind::EmptyPassword,
            severity: Severity::Critical,
            path: path.to_string(),
            offset,
            title: format!("account {shown_user:?} has no password: it logs in with an empty one"),
            excerpt: redacted_line(fields),
            fingerprint: None,
            clauses: vec!["2.1.1".into()],
        });
        return;
    }
    let fingerprint = Some(crate::sha256_hex(hash.as_bytes())).map(|h| format!("sha256:{h}"));
    let scheme = scheme(hash);
    match check_dictionaries(scan, path, offset, user, hash) {
        Some((dictionary, index)) => scan.finding(Finding {
            kind: FindingKind::DefaultCredential,
            severity: Severity::Critical,
            path: path.to_string(),
            offset,
            title: format!(
                "hard-coded default credential: the {scheme} hash of {shown_user:?} matches entry {} of dictionary {dictionary}",
                index + 1
            ),
            excerpt: redacted_line(fields),
            fingerprint,
            clauses: vec!["2.1.1".into(), "2.4.3".into()],
        }),
        None => scan.finding(Finding {
            kind: FindingKind::FixedAccount,
            severity: Severity::Medium,
            path: path.to_string(),
            offset,
            title: format!(
                "fixed account {shown_user:?} with a {scheme} password hash: the same password on every unit unless it must be changed at first use"
            ),
            excerpt: redacted_line(fields),
            fingerprint,
            clauses: vec!["2.1.1".into(), "2.4.3".into()],
        }),
    }
}

/// The dictionary and entry index whose password the hash verifies, trying the entries for
/// this user name first, then every other distinct password (a fixed password is a default
/// whatever the account is called).
fn check_dictionaries(scan: &mut Scan<'_>, path: &str, offset: u64, user: &str, hash: &str) -> Option<(String, usize)> {
    if scan.opts.credentials.is_empty() {
        return None;
    }
    if let Some(why) = too_costly(hash) {
        scan.limit(LimitKind::HashCost, path, offset, why);
        return None;
    }
    let mut order: Vec<usize> = (0..scan.opts.credentials.len()).collect();
    order.sort_by_key(|&i| scan.opts.credentials[i].username != user);
    let mut tried = std::collections::BTreeSet::new();
    for i in order {
        let credential = &scan.opts.credentials[i];
        if !tried.insert(credential.password.as_str()) {
            continue;
        }
        if verify(&credential.password, hash) {
            let dictionary = credential.dictionary.clone();
            let index = scan.opts.credentials[..i]
                .iter()
                .filter(|c| c.dictionary == dictionary)
                .count();
            return Some((dictionary, index));
        }
    }
    None
}

/// pwhash 1.0 decodes salts with `char - 0x20`, which underflows on control characters
/// (a panic with overflow checks); only crypt(3)'s own alphabet is handed to it, and a panic
/// it still has is a failed match, not a failed scan.
fn verify(password: &str, hash: &str) -> bool {
    let crypt_alphabet = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '$' | '=');
    if hash.len() > 256 || !hash.chars().all(crypt_alphabet) {
        return false;
    }
    std::panic::catch_unwind(|| pwhash::unix::verify(password, hash)).unwrap_or(false)
}

fn too_costly(hash: &str) -> Option<String> {
    if let Some(rest) = hash.strip_prefix("$5$").or_else(|| hash.strip_prefix("$6$"))
        && let Some(rounds) = rest.strip_prefix("rounds=")
    {
        let digits: String = rounds.chars().take_while(char::is_ascii_digit).collect();
        let rounds: u64 = digits.parse().unwrap_or(u64::MAX);
        if rounds > MAX_SHA_ROUNDS {
            return Some(format!(
                "SHA-crypt hash with {rounds} rounds not checked against the dictionaries (limit {MAX_SHA_ROUNDS})"
            ));
        }
    }
    if hash.starts_with("$2") {
        let cost: u32 = hash.get(4..6).and_then(|c| c.parse().ok()).unwrap_or(u32::MAX);
        if cost > MAX_BCRYPT_COST {
            return Some(format!(
                "bcrypt hash with cost {cost} not checked against the dictionaries (limit {MAX_BCRYPT_COST})"
            ));
        }
    }
    None
}

fn scheme(hash: &str) -> &'static str {
    match hash {
        h if h.starts_with("$1$") => "MD5-crypt",
        h if h.starts_with("$5$") => "SHA-256-crypt",
        h if h.starts_with("$6$") => "SHA-512-crypt",
        h if h.starts_with("$2") => "bcrypt",
        h if h.starts_with("$y$") => "yescrypt",
        h if h.len() == 13 => "DES-crypt",
        _ => "unrecognised",
    }
}

/// The line with the hash replaced by its scheme and salt: `admin:$1$salt$<redacted>:…`.
fn redacted_line(fields: &[&str]) -> String {
    let mut shown: Vec<String> = fields.iter().map(|f| clean(f, 64)).collect();
    if let Some(hash) = fields.get(1) {
        shown[1] = match *hash {
            "" => String::new(),
            "x" | "*" | "!" => (*hash).to_string(),
            h if h.starts_with('$') => {
                let parts: Vec<&str> = h.split('$').collect();
                // ["", id, salt-or-rounds, …, hash]
                let keep = parts.len().saturating_sub(1).min(3);
                format!("{}$<redacted>", clean(&parts[..keep].join("$"), 64))
            }
            h => format!("<redacted {} chars>", h.len()),
        };
    }
    shown.join(":")
}

fn line_offset(text: &str, line_no: usize) -> u64 {
    text.split_inclusive('\n').take(line_no).map(|l| l.len() as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_redacted_to_scheme_and_salt() {
        let line = redacted_line(&["admin", "$1$abcdefgh$Wq1Z2dx1YyZ4aTbRrQ7q/.", "0", "0"]);
        assert_eq!(line, "admin:$1$abcdefgh$<redacted>:0:0");
        assert!(!line.contains("Wq1Z"));
        assert_eq!(
            redacted_line(&["root", "abJnggxhB/yWI", "0"]),
            "root:<redacted 13 chars>:0"
        );
    }

    #[test]
    fn hostile_hash_strings_are_no_match_and_no_panic() {
        assert!(verify("12345", "$1$hqtest$Q9PtxQkMFXFDIl/gzSpB80"));
        for hostile in [
            "$1$\u{1}\u{2}$abc",
            "\u{7}bcdefghijklm",
            "$6$rounds=\u{0}$x$y",
            "$5$\u{1f}",
        ] {
            assert!(!verify("12345", hostile), "{hostile:?}");
        }
    }

    #[test]
    fn costly_hashes_are_refused_before_hashing() {
        assert!(too_costly("$6$rounds=999999999$salt$hash").is_some());
        assert!(too_costly("$6$salt$hash").is_none());
        assert!(too_costly("$2b$14$abcdefghijklmnopqrstuu").is_some());
        assert!(too_costly("$2b$05$abcdefghijklmnopqrstuu").is_none());
    }
}
