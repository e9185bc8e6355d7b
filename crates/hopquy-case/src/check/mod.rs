//! Semantic checks, one module per file kind. They read the parsed value and its spanned
//! tree and return every problem found; they never read files (that is `load`'s part).

pub mod answers;
pub mod case;
pub mod dictionary;
pub mod profile;
pub mod regulation;
pub mod suite;
pub mod target;

use toml::de::DeTable;

use crate::doc;

/// Entry tables of `[[key]]` with their spans.
pub(crate) fn entry_tables<'a, 'i>(root: &'a DeTable<'i>, key: &str) -> Vec<&'a DeTable<'i>> {
    root.get(key)
        .and_then(doc::as_array)
        .map(|items| items.iter().filter_map(doc::as_table).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    /// The module graph of this crate has one direction: leaf types (`model`, `typed`,
    /// `loaded`, `names`) ← `check` ← `load`. A `use crate::load` in a check, or a check in a
    /// leaf, would bring the old load ↔ validate circle back.
    #[test]
    fn checks_and_leaf_types_never_reach_back() {
        let checks = [
            ("check/answers.rs", include_str!("answers.rs")),
            ("check/case.rs", include_str!("case.rs")),
            ("check/dictionary.rs", include_str!("dictionary.rs")),
            ("check/mod.rs", include_str!("mod.rs")),
            ("check/profile.rs", include_str!("profile.rs")),
            ("check/regulation.rs", include_str!("regulation.rs")),
            ("check/suite.rs", include_str!("suite.rs")),
            ("check/target.rs", include_str!("target.rs")),
        ];
        let leaves = [
            ("model.rs", include_str!("../model.rs")),
            ("typed.rs", include_str!("../typed.rs")),
            ("loaded.rs", include_str!("../loaded.rs")),
            ("names.rs", include_str!("../names.rs")),
        ];
        let uses = |text: &str, module: &str| {
            let path = format!("crate::{module}");
            text.lines().map(str::trim_start).any(|line| {
                line.starts_with("use ")
                    && line.match_indices(&path).any(|(at, _)| {
                        // `crate::load` but not `crate::loaded`.
                        !line[at + path.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
                    })
            })
        };
        for (name, text) in checks {
            assert!(!uses(text, "load"), "{name} imports load");
        }
        for (name, text) in leaves {
            for module in ["load", "check"] {
                assert!(!uses(text, module), "{name} imports {module}");
            }
        }
    }
}
