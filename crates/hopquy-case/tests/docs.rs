#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

/// The worked example in docs/case-format.md must stay a valid case.
#[test]
fn the_documented_worked_example_loads() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/case-format.md")).unwrap();
    let marker = doc.find("<!-- worked-example").unwrap();
    let block_start = doc[marker..].find("```toml\n").unwrap() + marker + "```toml\n".len();
    let block_end = doc[block_start..].find("\n```").unwrap() + block_start + 1;
    let fixture = common::Fixture::new();
    let path = fixture.write("lockout-http.toml", &doc[block_start..block_end]);
    let loaded = hopquy_case::load_case(&path)
        .unwrap_or_else(|diagnostics| panic!("{}", hopquy_case::render_diagnostics(&diagnostics)));
    assert_eq!(loaded.case.steps.len(), 4);
}

/// The known-vulnerability worked example is the shipped case, word for word, and loads.
#[test]
fn the_known_vulnerability_example_is_the_shipped_case() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("docs/case-format.md")).unwrap();
    let marker = doc.find("<!-- known-vulnerability-example").unwrap();
    let block_start = doc[marker..].find("```toml\n").unwrap() + marker + "```toml\n".len();
    let block_end = doc[block_start..].find("\n```").unwrap() + block_start + 1;
    let shipped =
        root.join("test-cases/2.2-vulnerability-management/known-vulns/cve-2017-7921-hikvision-snapshot.toml");
    assert_eq!(&doc[block_start..block_end], std::fs::read_to_string(&shipped).unwrap());
    let loaded = hopquy_case::load_case(&shipped)
        .unwrap_or_else(|diagnostics| panic!("{}", hopquy_case::render_diagnostics(&diagnostics)));
    assert_eq!(loaded.case.cves[0].id.get_ref(), "CVE-2017-7921");
}

/// The documented operators are exactly the validator's.
#[test]
fn the_documented_operators_are_the_validators() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/case-format.md")).unwrap();
    for operator in hopquy_case::EXPECT_OPERATORS {
        assert!(
            doc.contains(&format!("`{operator}`")),
            "docs/case-format.md does not document `{operator}`"
        );
    }
    for action in hopquy_case::ACTIONS {
        assert!(
            doc.contains(&format!("| `{}` |", action.name)),
            "docs/case-format.md does not list action `{}`",
            action.name
        );
    }
}
