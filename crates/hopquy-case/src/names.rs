//! Name rules shared by every file kind.

/// `login-check`, `hardened`: lowercase letters and digits in dash-separated words.
pub fn is_kebab(name: &str) -> bool {
    !name.is_empty()
        && name
            .split('-')
            .all(|word| !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
}

/// Step ids and param names: letters, digits, `-`, `_`, starting with a letter.
pub(crate) fn is_identifier(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `personality(+flaw|-flaw)*` with lowercase-kebab names, e.g. `hardened+telnet-open`.
pub fn is_sim_fixture(text: &str) -> bool {
    let bytes = text.as_bytes();
    let is_separator = |b: u8| b == b'+' || b == b'-';
    !bytes.is_empty()
        && !is_separator(bytes[0])
        && !is_separator(bytes[bytes.len() - 1])
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || is_separator(*b))
        && !bytes
            .windows(2)
            .any(|pair| is_separator(pair[0]) && is_separator(pair[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_fixture_syntax() {
        for good in [
            "hardened",
            "hardened+no-lockout",
            "legacy-telnet",
            "legacy-telnet-open+weak-tls",
            "a1",
        ] {
            assert!(is_sim_fixture(good), "{good}");
        }
        for bad in [
            "",
            "Hardened",
            "hardened+",
            "+x",
            "hardened++x",
            "hard ened",
            "hardened_x",
            "a+-b",
        ] {
            assert!(!is_sim_fixture(bad), "{bad}");
        }
    }

    #[test]
    fn kebab_names() {
        assert!(is_kebab("login-check"));
        assert!(!is_kebab("login_check"));
        assert!(!is_kebab("-x"));
        assert!(!is_kebab("LoginCheck"));
    }
}
