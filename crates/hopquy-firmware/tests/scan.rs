//! The pass/fail setups: a "bad" camera image with every finding the issue names, a "good"
//! one with none of them, and re-run determinism.
#![allow(clippy::unwrap_used)]

mod common;

use backhand::compression::Compressor;
use common::*;
use hopquy_firmware::{
    ContainerStatus, FindingKind, FirmwareReport, IntegrityVerdict, ScanOptions, sbom, scan, scan_bytes,
};

fn kinds(report: &FirmwareReport, kind: FindingKind) -> Vec<&hopquy_firmware::Finding> {
    report.findings.iter().filter(|f| f.kind == kind).collect()
}

fn container<'a>(report: &'a FirmwareReport, format: &str) -> &'a hopquy_firmware::Container {
    report
        .containers
        .iter()
        .find(|c| c.format == format)
        .unwrap_or_else(|| panic!("no {format} container in {:#?}", report.containers))
}

/// uImage (ramdisk, gzip) holding a newc cpio: the shape of many camera initramfs images.
fn bad_image() -> Vec<u8> {
    let files = bad_rootfs_nodes(&bad_shadow());
    let archive = cpio(&with_dirs(&files));
    uimage(&gzip(&archive), 3, 1, "IPC-bad rootfs")
}

#[test]
fn the_bad_image_gives_every_finding() {
    let report = scan_bytes("bad.img", &bad_image(), &dictionary_options());

    assert_eq!(container(&report, "uimage").status, ContainerStatus::Unpacked);
    assert_eq!(container(&report, "gzip").path, "[uimage@0x0]");
    let cpio = container(&report, "cpio");
    assert_eq!(
        (cpio.status, cpio.path.as_str()),
        (ContainerStatus::Unpacked, "[uimage@0x0][gzip@0x0]")
    );
    assert_eq!(report.filesystems_unpacked, 1);
    assert_eq!(report.inconclusive, None);

    // The private key: type, size, and the public-key fingerprint OpenSSL computes.
    let keys = kinds(&report, FindingKind::PrivateKey);
    assert_eq!(keys.len(), 1, "{keys:#?}");
    let key = keys[0];
    assert_eq!(key.path, "[uimage@0x0][gzip@0x0][cpio@0x0]/etc/ssl/private/server.key");
    assert!(key.title.contains("RSA 2048-bit"), "{}", key.title);
    assert_eq!(
        key.fingerprint.as_deref(),
        Some(format!("sha256:{}", test_key().spki_sha256).as_str())
    );
    assert!(
        key.title.contains("certificate at"),
        "key not linked to its certificate: {}",
        key.title
    );
    assert_eq!(kinds(&report, FindingKind::Certificate).len(), 1);

    // admin:12345 from the project's dictionary, found offline in /etc/shadow.
    let defaults = kinds(&report, FindingKind::DefaultCredential);
    assert_eq!(defaults.len(), 1, "{:#?}", report.findings);
    assert!(defaults[0].path.ends_with("/etc/shadow"));
    assert!(defaults[0].title.contains("\"admin\"") && defaults[0].title.contains("default-credentials"));
    // What the runner's `firmware` action reads: user and dictionary, no password.
    assert_eq!(defaults[0].account(), Some("admin"));
    assert_eq!(defaults[0].dictionary(), Some("default-credentials"));
    assert!(
        defaults[0].excerpt.starts_with("admin:$1$hqtest$<redacted>"),
        "{}",
        defaults[0].excerpt
    );

    // Debug services at boot: telnetd and a serial getty in inittab, dropbear in rcS.
    let services = kinds(&report, FindingKind::DebugService);
    let titles: Vec<(&str, &str)> = services
        .iter()
        .map(|f| (f.path.rsplit('/').next().unwrap(), f.title.as_str()))
        .collect();
    assert!(
        titles.iter().any(|(p, t)| *p == "inittab" && t.contains("telnetd")),
        "{titles:?}"
    );
    assert!(
        titles
            .iter()
            .any(|(p, t)| *p == "inittab" && t.contains("serial console")),
        "{titles:?}"
    );
    assert!(
        titles.iter().any(|(p, t)| *p == "rcS" && t.contains("SSH server")),
        "{titles:?}"
    );

    // Hard-coded secrets in the boot script, redacted.
    let secrets = kinds(&report, FindingKind::HardcodedSecret);
    assert_eq!(secrets.len(), 2, "{secrets:#?}");

    // The inventory and the end-of-life OpenSSL.
    let inventory: Vec<(&str, &str)> = report
        .inventory
        .iter()
        .map(|c| (c.name.as_str(), c.version.as_str()))
        .collect();
    assert!(inventory.contains(&("busybox", "1.31.1")), "{inventory:?}");
    assert!(inventory.contains(&("openssl", "1.0.2k")), "{inventory:?}");
    assert_eq!(kinds(&report, FindingKind::EndOfLifeComponent).len(), 1);

    // A uImage carries CRCs only.
    assert_eq!(report.update_integrity.verdict, IntegrityVerdict::CrcOnly);

    // No secret reaches the report in clear.
    let json = serde_json::to_string(&report).unwrap();
    let key_body_line = test_key().key_pem.lines().nth(1).unwrap();
    for secret in [
        key_body_line,
        "Q9PtxQkMFXFDIl",
        "Hik12345Secret",
        "9f8e7d6c5b4a39281706",
    ] {
        assert!(!json.contains(secret), "{secret} leaked into the report");
    }
}

#[test]
fn the_good_image_gives_none_of_them() {
    // A squashfs (xz) root file system after a kernel uImage, followed by a PKCS#7 signature.
    let files = good_rootfs_nodes();
    let rootfs = squashfs(&with_dirs(&files), Compressor::Xz);
    let kernel = uimage(
        &gzip(b"\0\0Linux version 5.10.110 (builder@host) (gcc 10) #1 SMP\0"),
        2,
        1,
        "Linux-5.10.110",
    );
    let mut image = kernel.clone();
    image.resize(64 * 1024, 0xff);
    image.extend_from_slice(&rootfs);
    // DER prefix of a CMS ContentInfo: SEQUENCE { OID signedData, … }.
    image.extend_from_slice(&[
        0x30, 0x82, 0x01, 0x00, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
    ]);
    image.extend_from_slice(&[0u8; 256]);

    let report = scan_bytes("good.img", &image, &dictionary_options());

    let fs = container(&report, "squashfs");
    assert_eq!(
        (fs.status, fs.offset),
        (ContainerStatus::Unpacked, 64 * 1024),
        "{fs:#?}"
    );
    assert!(fs.entries.unwrap() >= 7);
    for kind in [
        FindingKind::PrivateKey,
        FindingKind::DefaultCredential,
        FindingKind::FixedAccount,
        FindingKind::EmptyPassword,
        FindingKind::DebugService,
        FindingKind::HardcodedSecret,
        FindingKind::EndOfLifeComponent,
        FindingKind::UnsafeEntry,
    ] {
        assert!(kinds(&report, kind).is_empty(), "{kind:?}: {:#?}", kinds(&report, kind));
    }
    let inventory: Vec<(&str, &str)> = report
        .inventory
        .iter()
        .map(|c| (c.name.as_str(), c.version.as_str()))
        .collect();
    assert!(inventory.contains(&("busybox", "1.36.1")), "{inventory:?}");
    assert!(inventory.contains(&("openssl", "3.0.13")), "{inventory:?}");
    assert!(inventory.contains(&("linux", "5.10.110")), "{inventory:?}");
    assert_eq!(
        report.update_integrity.verdict,
        IntegrityVerdict::Signed,
        "{:?}",
        report.update_integrity
    );
}

#[test]
fn a_rerun_is_byte_identical_and_the_file_entry_point_agrees() {
    let image = bad_image();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.img");
    std::fs::write(&path, &image).unwrap();
    let options = dictionary_options();
    let first = serde_json::to_vec(&scan(&path, &options).unwrap()).unwrap();
    let second = serde_json::to_vec(&scan(&path, &options).unwrap()).unwrap();
    assert_eq!(first, second);
    let from_memory = serde_json::to_vec(&scan_bytes("bad.img", &image, &options)).unwrap();
    assert_eq!(first, from_memory);
    let report: FirmwareReport = serde_json::from_slice(&first).unwrap();
    assert_eq!(report.image.size, image.len() as u64);
    assert_eq!(report.image.sha256.len(), 64);
    let mut sorted = report.findings.clone();
    sorted.sort_by(|a, b| (&a.path, a.offset).cmp(&(&b.path, b.offset)));
    assert_eq!(
        sorted.iter().map(|f| (&f.path, f.offset)).collect::<Vec<_>>(),
        report.findings.iter().map(|f| (&f.path, f.offset)).collect::<Vec<_>>()
    );
}

#[test]
fn without_dictionaries_the_hash_is_a_fixed_account_not_a_default() {
    let report = scan_bytes("bad.img", &bad_image(), &ScanOptions::default());
    assert!(kinds(&report, FindingKind::DefaultCredential).is_empty());
    let fixed = kinds(&report, FindingKind::FixedAccount);
    assert_eq!(fixed.len(), 1, "{fixed:#?}");
    assert!(fixed[0].title.contains("MD5-crypt"));
    assert_eq!(fixed[0].account(), Some("admin"));
    assert_eq!(fixed[0].dictionary(), None);
}

#[test]
fn a_unique_strong_hash_is_fixed_but_not_a_default() {
    let shadow = format!("admin:{UNIQUE_SHA512}:19000:0:99999:7:::\n");
    let image = gzip(&cpio(&with_dirs(&bad_rootfs_nodes(&shadow))));
    let report = scan_bytes("img", &image, &dictionary_options());
    assert!(kinds(&report, FindingKind::DefaultCredential).is_empty());
    assert_eq!(kinds(&report, FindingKind::FixedAccount).len(), 1);
}

#[test]
fn the_sbom_is_cyclonedx_1_5_with_the_inventory() {
    let report = scan_bytes("bad.img", &bad_image(), &ScanOptions::default());
    let bom = sbom::cyclonedx(&report);
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.5");
    assert_eq!(
        bom["metadata"]["component"]["hashes"][0]["content"],
        report.image.sha256.as_str()
    );
    let names: Vec<&str> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["purl"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"pkg:generic/busybox@1.31.1"), "{names:?}");
    assert!(names.contains(&"pkg:generic/openssl@1.0.2k"), "{names:?}");
    assert!(bom["serialNumber"].as_str().unwrap().starts_with("urn:uuid:"));
}

#[test]
fn other_streams_and_archives_are_unpacked() {
    let files = bad_rootfs_nodes(&bad_shadow());
    let archive = cpio(&with_dirs(&files));
    for (name, image) in [
        ("xz", xz(&archive)),
        ("zstd", zstd(&archive)),
        ("squashfs-gzip", squashfs(&with_dirs(&files), Compressor::Gzip)),
        ("squashfs-zstd", squashfs(&with_dirs(&files), Compressor::Zstd)),
        (
            "zip",
            zip(&files
                .iter()
                .map(|(n, d)| (n.as_str(), d.as_slice()))
                .collect::<Vec<_>>()),
        ),
        (
            "tar",
            tar_raw(
                &files
                    .iter()
                    .map(|(n, d)| (n.as_str(), b'0', d.as_slice(), ""))
                    .collect::<Vec<_>>(),
            ),
        ),
    ] {
        let report = scan_bytes(name, &image, &dictionary_options());
        assert_eq!(report.filesystems_unpacked, 1, "{name}: {:#?}", report.containers);
        assert_eq!(kinds(&report, FindingKind::DefaultCredential).len(), 1, "{name}");
        assert_eq!(kinds(&report, FindingKind::PrivateKey).len(), 1, "{name}");
        assert!(
            kinds(&report, FindingKind::DebugService)
                .iter()
                .any(|f| f.title.contains("telnetd")),
            "{name}"
        );
    }
}
