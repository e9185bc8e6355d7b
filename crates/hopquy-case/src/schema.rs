//! JSON Schemas of the user file formats, for editors (taplo, VS Code Even Better TOML) and
//! for docs/schemas/. Semantic rules (which keys an action accepts, template references)
//! are not expressible here; `hopquy validate` checks those.

use crate::model::{AnswersFile, CaseFile, CredentialDictionary, PathDictionary, ProfileFile, Regulation, TargetFile};

/// (name, schema) for each file kind; xtask writes them as `docs/schemas/<name>.schema.json`.
pub fn json_schemas() -> Vec<(&'static str, serde_json::Value)> {
    let schemas = [
        ("case", schemars::schema_for!(CaseFile)),
        ("profile", schemars::schema_for!(ProfileFile)),
        ("target", schemars::schema_for!(TargetFile)),
        ("regulation", schemars::schema_for!(Regulation)),
        ("credential-dictionary", schemars::schema_for!(CredentialDictionary)),
        ("path-dictionary", schemars::schema_for!(PathDictionary)),
        ("answers", schemars::schema_for!(AnswersFile)),
    ];
    schemas
        .into_iter()
        .map(|(name, schema)| (name, schema.to_value()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_describe_required_keys() {
        let schemas = json_schemas();
        let names: Vec<&str> = schemas.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "case",
                "profile",
                "target",
                "regulation",
                "credential-dictionary",
                "path-dictionary",
                "answers"
            ]
        );
        let case = &schemas[0].1;
        let required = case["required"].as_array().cloned().unwrap_or_default();
        for key in ["id", "kind", "steps", "clauses"] {
            assert!(
                required.iter().any(|value| value == key),
                "case schema should require {key}"
            );
        }
        assert_eq!(case["properties"]["id"]["type"], "string");
        // deny_unknown_fields must survive into the schema, so editors flag typos too.
        assert_eq!(case["additionalProperties"], false);
    }
}
