//! `hopquy firmware scan` through the built binary: the report and SBOM it writes, its exit
//! codes, and that no secret from the image reaches stdout, stderr or the files.

use std::path::Path;
use std::process::{Command, Output};

use hopquy_tests::repo_root;

const TEST_KEY_PEM: &str = include_str!("../../crates/hopquy-firmware/tests/data/test-rsa-pkcs1.pem");
/// `openssl passwd -1 -salt hqtest 12345`: admin:12345 is in test-cases/data/default-credentials.toml.
const ADMIN_12345_MD5: &str = "$1$hqtest$Q9PtxQkMFXFDIl/gzSpB80";

fn hopquy(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hopquy"))
        .args(args)
        .current_dir(cwd)
        .env("HOPQUY_SUITE", repo_root())
        .output()
        .expect("run hopquy")
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn newc(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let entries = files.iter().copied().chain([("TRAILER!!!", &b""[..])]);
    for (i, (name, data)) in entries.enumerate() {
        let mode = if name == "TRAILER!!!" { 0 } else { 0o100644 };
        out.extend(
            format!(
                "070701{:08X}{mode:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
                i + 1,
                0,
                0,
                1,
                0,
                data.len(),
                0,
                0,
                0,
                0,
                name.len() + 1,
                0
            )
            .bytes(),
        );
        out.extend(name.bytes());
        out.push(0);
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    out
}

/// An uncompressed uImage ramdisk around a newc cpio.
fn camera_image() -> Vec<u8> {
    let shadow = format!("root:!:19000::::::\nadmin:{ADMIN_12345_MD5}:19000::::::\n");
    let payload = newc(&[
        ("etc/shadow", shadow.as_bytes()),
        ("etc/inittab", b"::respawn:/usr/sbin/telnetd -F\n"),
        ("etc/ssl/server.key", TEST_KEY_PEM.as_bytes()),
        ("bin/busybox", b"\x7fELF\0BusyBox v1.24.1 (2019-01-01)\0"),
    ]);
    let mut h = vec![0u8; 64];
    h[0..4].copy_from_slice(&[0x27, 0x05, 0x19, 0x56]);
    h[12..16].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    h[24..28].copy_from_slice(&crc32(&payload).to_be_bytes());
    h[28..32].copy_from_slice(&[5, 2, 3, 0]);
    h[32..38].copy_from_slice(b"rootfs");
    let hcrc = crc32(&h);
    h[4..8].copy_from_slice(&hcrc.to_be_bytes());
    h.extend(payload);
    h
}

#[test]
fn firmware_scan_reports_writes_report_and_sbom_and_keeps_secrets_out() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("cam.img");
    std::fs::write(&image, camera_image()).unwrap();
    let out = dir.path().join("fw-evidence");

    let json_run = hopquy(
        &[
            "firmware",
            "scan",
            image.to_str().unwrap(),
            "--json",
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(
        json_run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&json_run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&json_run.stdout).unwrap();
    let kinds: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    for kind in ["default_credential", "debug_service", "private_key"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert_eq!(report["update_integrity"]["verdict"], "crc_only");

    let written = std::fs::read(out.join("report.json")).unwrap();
    let written: serde_json::Value = serde_json::from_slice(&written).unwrap();
    assert_eq!(written, report);
    let sbom: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("sbom.cdx.json")).unwrap()).unwrap();
    assert_eq!(sbom["specVersion"], "1.5");
    assert_eq!(sbom["components"][0]["purl"], "pkg:generic/busybox@1.24.1");
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["report.json", "sbom.cdx.json"], "no temporary file left behind");

    // A second run replaces the files with identical ones.
    let first = std::fs::read(out.join("report.json")).unwrap();
    let again = hopquy(
        &[
            "firmware",
            "scan",
            image.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(std::fs::read(out.join("report.json")).unwrap(), first);

    let human = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(human.contains("CRITICAL") && human.contains("/etc/shadow"), "{human}");
    assert!(human.contains("update integrity: crc_only"), "{human}");

    let key_line = TEST_KEY_PEM.lines().nth(1).unwrap();
    let everything = [
        json_run.stdout.clone(),
        json_run.stderr.clone(),
        again.stdout.clone(),
        again.stderr.clone(),
        first,
        std::fs::read(out.join("sbom.cdx.json")).unwrap(),
    ]
    .concat();
    let everything = String::from_utf8_lossy(&everything);
    for secret in [key_line, "Q9PtxQkMFXFDIl"] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
}

#[test]
fn firmware_scan_refuses_what_is_not_an_image_file() {
    let dir = tempfile::tempdir().unwrap();
    let o = hopquy(&["firmware", "scan", dir.path().to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a regular file"));
    let o = hopquy(&["firmware", "scan", "does-not-exist.img"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let file = dir.path().join("x.img");
    std::fs::write(&file, b"x").unwrap();
    let o = hopquy(
        &[
            "firmware",
            "scan",
            file.to_str().unwrap(),
            "--out",
            file.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "--out naming a file is a usage error");
}
