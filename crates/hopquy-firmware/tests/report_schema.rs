//! A real report (every finding kind, a vulnerability match) validates against the published
//! docs/schemas/firmware-report.schema.json, which `cargo xtask codegen` generates from the
//! report types: a reader written against the schema reads what the scanner writes.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use hopquy_firmware::osv::{self, VulnDb, VulnDbLimits};
use hopquy_firmware::scan_bytes;
use serde_json::Value;

const SCHEMA: &str = include_str!("../../../docs/schemas/firmware-report.schema.json");

fn errors(report: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    let validator = jsonschema::options().build(&schema).unwrap();
    validator
        .iter_errors(report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

#[test]
fn a_real_report_validates_against_the_published_schema() {
    let image = uimage(
        &gzip(&cpio(&with_dirs(&bad_rootfs_nodes(&bad_shadow())))),
        3,
        1,
        "rootfs",
    );
    let mut report = scan_bytes("cam.img", &image, &dictionary_options());
    let db = VulnDb::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../hopquy-simcam/osv"),
        &VulnDbLimits::default(),
    )
    .unwrap();
    osv::annotate(&mut report, &db);
    assert!(!report.findings.is_empty() && !report.vulnerabilities.is_empty());
    let value = serde_json::to_value(&report).unwrap();
    let problems = errors(&value);
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The schema is strict enough to notice a report it does not describe.
    let mut broken = value.clone();
    broken["update_integrity"]["verdict"] = Value::from("maybe");
    assert!(!errors(&broken).is_empty());
    let mut broken = value;
    broken["vulnerabilities"][0]["component"] = Value::from(7);
    assert!(!errors(&broken).is_empty());
}
