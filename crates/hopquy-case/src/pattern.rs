//! A regular expression as a case writes it, compiled once, the first time it is used.
//!
//! Cases are loaded once per run and their expectations evaluated per step, per fixture and
//! per device of a fleet: compiling `matches = '…'` at each evaluation was wasted work.
//! Compilation is lazy (not at parse time) so an invalid pattern still reaches the validator,
//! which reports it at its file:line:col with a hint; an invalid pattern never matches.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Default)]
pub struct Pattern {
    source: String,
    compiled: Arc<OnceLock<Option<regex::Regex>>>,
    /// The same expression over bytes, for patterns applied to raw answers (`redact`).
    compiled_bytes: Arc<OnceLock<Option<regex::bytes::Regex>>>,
}

impl Pattern {
    pub fn new(source: impl Into<String>) -> Self {
        Pattern {
            source: source.into(),
            compiled: Arc::default(),
            compiled_bytes: Arc::default(),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The compiled expression; `None` when the pattern is not valid (validation reports it).
    pub fn regex(&self) -> Option<&regex::Regex> {
        self.compiled
            .get_or_init(|| regex::Regex::new(&self.source).ok())
            .as_ref()
    }

    /// The compiled expression over bytes; `None` when the pattern is not valid.
    pub fn bytes_regex(&self) -> Option<&regex::bytes::Regex> {
        self.compiled_bytes
            .get_or_init(|| regex::bytes::Regex::new(&self.source).ok())
            .as_ref()
    }
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl std::ops::Deref for Pattern {
    type Target = str;
    fn deref(&self) -> &str {
        &self.source
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Pattern::new)
    }
}

impl schemars::JsonSchema for Pattern {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Pattern".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }

    fn inline_schema() -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_once_and_shares_the_result_between_clones() {
        let pattern = Pattern::new("^cam-[0-9]+$");
        let clone = pattern.clone();
        assert!(pattern.regex().is_some_and(|re| re.is_match("cam-12")));
        // The clone sees the same compiled expression, not a second compilation.
        assert!(std::ptr::eq(
            pattern.regex().map_or(std::ptr::null(), |r| r as *const _),
            clone.regex().map_or(std::ptr::null(), |r| r as *const _)
        ));
        assert!(Pattern::new("(unclosed").regex().is_none());
        assert!(pattern.bytes_regex().is_some_and(|re| re.is_match(b"cam-7")));
        assert!(Pattern::new("(unclosed").bytes_regex().is_none());
        assert_eq!(Pattern::new("a+").as_str(), "a+");
    }
}
