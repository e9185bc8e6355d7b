//! sbom.cdx.json against the official CycloneDX 1.5 schema (vendored in tests/schemas/, see
//! its README).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use hopquy_firmware::{ScanOptions, sbom, scan_bytes};
use serde_json::Value;

fn schema(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas").join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn errors(bom: &Value) -> Vec<String> {
    let registry = jsonschema::Registry::new()
        .add(
            "http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json",
            schema("spdx.SNAPSHOT.schema.json"),
        )
        .unwrap()
        .add(
            "http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json",
            schema("jsf-0.82.SNAPSHOT.schema.json"),
        )
        .unwrap()
        .prepare()
        .unwrap();
    let validator = jsonschema::options()
        .with_registry(&registry)
        .should_validate_formats(true)
        .build(&schema("bom-1.5.SNAPSHOT.schema.json"))
        .unwrap();
    validator
        .iter_errors(bom)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

#[test]
fn the_sbom_is_valid_cyclonedx_1_5() {
    let files = bad_rootfs_nodes(&bad_shadow());
    let image = uimage(&gzip(&cpio(&with_dirs(&files))), 3, 1, "rootfs");
    let report = scan_bytes("cam.img", &image, &ScanOptions::default());
    assert!(report.inventory.len() >= 2);
    let bom = sbom::cyclonedx(&report);
    let problems = errors(&bom);
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // With a database, the matched advisories are CycloneDX vulnerabilities.
    let db = hopquy_firmware::osv::VulnDb::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../hopquy-simcam/osv"),
        &hopquy_firmware::osv::VulnDbLimits::default(),
    )
    .unwrap();
    let mut matched = report.clone();
    hopquy_firmware::osv::annotate(&mut matched, &db);
    let with_vulns = sbom::cyclonedx(&matched);
    assert_eq!(with_vulns["vulnerabilities"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        with_vulns["vulnerabilities"][0]["affects"][0]["ref"],
        "pkg:generic/busybox@1.31.1"
    );
    assert_eq!(with_vulns["vulnerabilities"][0]["ratings"][0]["method"], "CVSSv31");
    let problems = errors(&with_vulns);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(bom.get("vulnerabilities").is_none(), "no database, no claim");

    // The validator is strict enough to notice a broken document.
    let mut broken = bom.clone();
    broken["components"][0]["type"] = Value::from("gadget");
    assert!(!errors(&broken).is_empty());
}
