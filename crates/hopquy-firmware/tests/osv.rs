//! Offline OSV matching: the database the lab supplies (a directory, a zip or one file of
//! OSV records) against the inventory of a scanned image.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::*;
use hopquy_firmware::osv::{self, VulnDb, VulnDbError, VulnDbLimits};
use hopquy_firmware::{FirmwareReport, ScanOptions, scan_bytes};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../hopquy-simcam/osv")
}

fn bad_image_report() -> FirmwareReport {
    let image = uimage(
        &gzip(&cpio(&with_dirs(&bad_rootfs_nodes(&bad_shadow())))),
        3,
        1,
        "rootfs",
    );
    scan_bytes("cam.img", &image, &ScanOptions::default())
}

fn good_image_report() -> FirmwareReport {
    let image = uimage(&gzip(&cpio(&with_dirs(&good_rootfs_nodes()))), 3, 1, "rootfs");
    scan_bytes("cam.img", &image, &ScanOptions::default())
}

#[test]
fn an_old_openssl_and_busybox_match_their_advisories() {
    let db = VulnDb::load(&fixture(), &VulnDbLimits::default()).unwrap();
    assert_eq!(db.identity.kind, "directory");
    assert_eq!(db.identity.files, 2, "README.md is not an OSV file");
    assert_eq!(db.identity.advisories_used, 2);
    let mut report = bad_image_report();
    osv::annotate(&mut report, &db);
    let got: Vec<(&str, &str, &str, Option<&str>)> = report
        .vulnerabilities
        .iter()
        .map(|v| {
            (
                v.component.as_str(),
                v.version.as_str(),
                v.id.as_str(),
                v.fixed.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("busybox", "1.31.1", "DEBIAN-CVE-2022-48174", Some("1.35.0")),
            // Matched through the versions list of git tags: no fix version to quote.
            ("openssl", "1.0.2k", "CVE-2017-3735", None),
        ]
    );
    let busybox = &report.vulnerabilities[0];
    assert_eq!(busybox.aliases, vec!["CVE-2022-48174".to_string()]);
    assert_eq!(busybox.source_file, "DEBIAN-CVE-2022-48174.json");
    assert!(busybox.basis.starts_with("version-based"), "{}", busybox.basis);
    assert!(busybox.severity.as_deref().is_some_and(|s| s.starts_with("CVSS:3.1/")));
    assert_eq!(report.vulndb.as_ref().unwrap().listing.len(), 2);
}

#[test]
fn current_components_match_nothing_and_the_report_says_it_looked() {
    let db = VulnDb::load(&fixture(), &VulnDbLimits::default()).unwrap();
    let mut report = good_image_report();
    assert!(!report.inventory.is_empty());
    osv::annotate(&mut report, &db);
    assert!(report.vulnerabilities.is_empty(), "{:?}", report.vulnerabilities);
    assert!(report.vulndb.is_some());
    // Without a database the report says so by leaving `vulndb` out.
    let json = serde_json::to_value(good_image_report()).unwrap();
    assert!(json.get("vulndb").is_none());
    assert_eq!(json["vulnerabilities"], serde_json::json!([]));
}

#[test]
fn the_directory_digest_is_what_sha256sum_gives() {
    let db = VulnDb::load(&fixture(), &VulnDbLimits::default()).unwrap();
    // `sha256sum *.json | sha256sum`, written out: the identity a regulator recomputes.
    let mut listing = String::new();
    for name in ["CVE-2017-3735.json", "DEBIAN-CVE-2022-48174.json"] {
        let bytes = std::fs::read(fixture().join(name)).unwrap();
        listing.push_str(&format!("{}  {name}\n", sha256(&bytes)));
    }
    assert_eq!(db.identity.sha256, sha256(listing.as_bytes()));
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn a_zip_export_and_a_single_file_load_like_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let a = std::fs::read(fixture().join("CVE-2017-3735.json")).unwrap();
    let b = std::fs::read(fixture().join("DEBIAN-CVE-2022-48174.json")).unwrap();
    let zip_path = dir.path().join("all.zip");
    let zip_bytes = zip_of(&[("CVE-2017-3735.json", &a), ("DEBIAN-CVE-2022-48174.json", &b)]);
    std::fs::write(&zip_path, &zip_bytes).unwrap();
    let db = VulnDb::load(&zip_path, &VulnDbLimits::default()).unwrap();
    assert_eq!((db.identity.kind.as_str(), db.identity.files), ("zip", 2));
    assert_eq!(db.identity.sha256, sha256(&zip_bytes));
    let mut report = bad_image_report();
    osv::annotate(&mut report, &db);
    assert_eq!(report.vulnerabilities.len(), 2);
    assert_eq!(report.vulnerabilities[1].source_file, "all.zip!CVE-2017-3735.json");

    let one = VulnDb::load(&fixture().join("CVE-2017-3735.json"), &VulnDbLimits::default()).unwrap();
    assert_eq!(one.identity.kind, "file");
    let mut report = bad_image_report();
    osv::annotate(&mut report, &one);
    assert_eq!(report.vulnerabilities.len(), 1);
}

#[test]
fn a_broken_database_file_is_named_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("GOOD.json"),
        std::fs::read(fixture().join("CVE-2017-3735.json")).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("BAD.json"),
        "{\n  \"id\": \"X-1\",\n  \"affected\": [ { \"versions\": 7 } ]\n}\n",
    )
    .unwrap();
    let err = VulnDb::load(dir.path(), &VulnDbLimits::default()).unwrap_err();
    let shown = err.to_string();
    assert!(matches!(err, VulnDbError::Json { line: 3, .. }), "{shown}");
    assert!(shown.starts_with("BAD.json:3:"), "{shown}");

    std::fs::write(dir.path().join("BAD.json"), "{ \"id\": \"X-1\", \"affected\": [").unwrap();
    let shown = VulnDb::load(dir.path(), &VulnDbLimits::default())
        .unwrap_err()
        .to_string();
    assert!(shown.starts_with("BAD.json:1:"), "{shown}");

    std::fs::write(dir.path().join("BAD.json"), "{ \"summary\": \"no id\" }").unwrap();
    let shown = VulnDb::load(dir.path(), &VulnDbLimits::default())
        .unwrap_err()
        .to_string();
    assert!(shown.contains("BAD.json:1:") && shown.contains("id"), "{shown}");
}

#[test]
fn database_bounds_are_errors_not_allocations() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        std::fs::write(dir.path().join(format!("R{i}.json")), format!("{{\"id\":\"R-{i}\"}}")).unwrap();
    }
    let tight = VulnDbLimits {
        max_files: 2,
        ..VulnDbLimits::default()
    };
    assert!(matches!(
        VulnDb::load(dir.path(), &tight),
        Err(VulnDbError::TooManyFiles { .. })
    ));
    let small = VulnDbLimits {
        max_file_bytes: 8,
        ..VulnDbLimits::default()
    };
    assert!(matches!(
        VulnDb::load(dir.path(), &small),
        Err(VulnDbError::FileTooLarge { .. })
    ));

    // A zip entry that inflates past the per-file bound is stopped at the bound.
    let zip_path = dir.path().join("bomb.zip");
    let big = vec![b' '; 1 << 20];
    std::fs::write(&zip_path, zip_of(&[("A.json", &big)])).unwrap();
    let per_file = VulnDbLimits {
        max_file_bytes: 4096,
        ..VulnDbLimits::default()
    };
    assert!(matches!(
        VulnDb::load(&zip_path, &per_file),
        Err(VulnDbError::FileTooLarge { .. })
    ));

    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        VulnDb::load(empty.path(), &VulnDbLimits::default()),
        Err(VulnDbError::Empty { .. })
    ));
    let other = dir.path().join("db.txt");
    std::fs::write(&other, "x").unwrap();
    assert!(matches!(
        VulnDb::load(&other, &VulnDbLimits::default()),
        Err(VulnDbError::UnknownKind { .. })
    ));
}

#[test]
fn a_withdrawn_advisory_and_one_for_another_package_never_match() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("W.json"),
        r#"{"id":"W-1","withdrawn":"2024-01-01T00:00:00Z","affected":[{"package":{"name":"openssl","ecosystem":"Debian"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("P.json"),
        r#"{"id":"P-1","affected":[{"package":{"name":"openssl-sys","ecosystem":"crates.io"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}"#,
    )
    .unwrap();
    let db = VulnDb::load(dir.path(), &VulnDbLimits::default()).unwrap();
    assert_eq!((db.identity.advisories, db.identity.advisories_used), (2, 0));
    let mut report = bad_image_report();
    osv::annotate(&mut report, &db);
    assert!(report.vulnerabilities.is_empty());
}
