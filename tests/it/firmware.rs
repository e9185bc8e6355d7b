//! `hopquy firmware scan` through the built binary: the report and SBOM it writes, its exit
//! codes, and that no secret from the image reaches stdout, stderr or the files.

use std::path::Path;
use std::process::{Command, Output};

use crate::bin::hopquy;
use hopquy_tests::repo_root;

/// A throwaway RSA key made by OpenSSL for this run (never committed: secret scanners
/// would flag a private key in the repository).
fn test_key_pem() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let o = Command::new("openssl")
            .args(["genrsa", "-traditional", "2048"])
            .output()
            .expect("the firmware tests need the openssl command");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    })
}
/// `openssl passwd -1 -salt hqtest 12345`: admin:12345 is in test-cases/data/default-credentials.toml.
const ADMIN_12345_MD5: &str = "$1$hqtest$Q9PtxQkMFXFDIl/gzSpB80";

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
        ("etc/ssl/server.key", test_key_pem().as_bytes()),
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

    let key_line = test_key_pem().lines().nth(1).unwrap();
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

// ---------------------------------------------------------------------------------------
// `hopquy run --firmware`: the scan as evidence in a bundle, judged by the firmware cases
// ---------------------------------------------------------------------------------------

const FIRMWARE_CASES: &str = "firmware-no-private-keys,firmware-no-default-accounts,firmware-no-debug-services";

fn run_with(sim: &hopquy_tests::Sim, out: &Path, extra: &[&str]) -> Output {
    let target = sim.dir.path().join("target.toml");
    Command::new(crate::bin::hopquy_bin())
        .args([
            "run",
            "--target",
            target.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--non-interactive",
            "--cases",
            FIRMWARE_CASES,
        ])
        .args(extra)
        .env("HOPQUY_SUITE", repo_root())
        .env(hopquy_tests::PASSWORD_VAR, sim.camera().admin_password())
        .output()
        .expect("run hopquy")
}

fn results(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap()
}

fn verdicts(results: &serde_json::Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = results["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

fn bundle_text(dir: &Path) -> String {
    let mut all = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                all.extend(std::fs::read(&p).unwrap());
            }
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firmware_run_stores_the_scan_in_the_bundle_and_the_cases_judge_it() {
    let legacy = hopquy_tests::start_sim("legacy").await;
    let dir = legacy.dir.path().to_path_buf();
    let image = dir.join("legacy-fw.bin");
    let bytes = legacy.camera().firmware_image();
    std::fs::write(&image, &bytes).unwrap();

    let out = dir.join("bundle");
    let o = run_with(&legacy, &out, &["--firmware", image.to_str().unwrap()]);
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let r = results(&out);
    let failed: Vec<(String, String)> = FIRMWARE_CASES
        .split(',')
        .map(|c| (c.to_owned(), "fail".to_owned()))
        .collect();
    let mut failed_sorted = failed.clone();
    failed_sorted.sort();
    assert_eq!(verdicts(&r), failed_sorted, "{log}");
    for case in r["cases"].as_array().unwrap() {
        assert_eq!(case["evidence"], serde_json::json!(["firmware/report.json"]), "{case}");
    }
    use sha2::Digest;
    let sha256: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(r["firmware"]["sha256"], sha256);
    assert_eq!(r["firmware"]["size"], bytes.len());
    assert_eq!(r["firmware"]["name"], "legacy-fw.bin");

    // The bundle's report is the one `firmware scan` writes for the same image.
    let scanned = hopquy(&["firmware", "scan", image.to_str().unwrap(), "--json"], &dir);
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("firmware/report.json")).unwrap()).unwrap();
    assert_eq!(
        stored,
        serde_json::from_slice::<serde_json::Value>(&scanned.stdout).unwrap()
    );
    let sbom: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("firmware/sbom.cdx.json")).unwrap()).unwrap();
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("firmware/report.json") && manifest.contains("firmware/sbom.cdx.json"));

    // What a failing case says: the user and dictionary, never the hash or the key.
    let everything = bundle_text(&out) + &log;
    assert!(everything.contains("default-credentials"));
    let key_line = hopquy_simcam_key_line(&bytes);
    for secret in [key_line.as_str(), "Q9PtxQkMFXFDIl"] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked into the bundle or the terminal"
        );
    }

    let verify = |o: &Path| {
        Command::new(crate::bin::hopquy_bin())
            .args(["verify", o.to_str().unwrap()])
            .output()
            .unwrap()
    };
    assert_eq!(verify(&out).status.code(), Some(0));

    // A re-run of the same image: the same report, byte for byte, and the same verdicts.
    let again = dir.join("again");
    let target = dir.join("target.toml");
    let o = Command::new(crate::bin::hopquy_bin())
        .args([
            "rerun",
            out.to_str().unwrap(),
            "--target",
            target.to_str().unwrap(),
            "--out",
            again.to_str().unwrap(),
            "--non-interactive",
            "--firmware",
            image.to_str().unwrap(),
        ])
        .env(hopquy_tests::PASSWORD_VAR, legacy.camera().admin_password())
        .output()
        .unwrap();
    assert_eq!(
        verdicts(&results(&again)),
        failed_sorted,
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read(again.join("firmware/report.json")).unwrap(),
        std::fs::read(out.join("firmware/report.json")).unwrap()
    );

    // diff compares the report like a case's exchanges: another image is an evidence change.
    let hardened_image = dir.join("other-fw.bin");
    std::fs::write(
        &hardened_image,
        hopquy_simcam::firmware::rootfs_image(&"hardened".parse().unwrap()),
    )
    .unwrap();
    let other = dir.join("other");
    run_with(&legacy, &other, &["--firmware", hardened_image.to_str().unwrap()]);
    let o = Command::new(crate::bin::hopquy_bin())
        .args(["diff", out.to_str().unwrap(), other.to_str().unwrap()])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(shown.contains("firmware/report.json"), "{shown}");

    // Evidence like any other: a changed report no longer verifies.
    let report_path = out.join("firmware/report.json");
    let tampered = std::fs::read_to_string(&report_path)
        .unwrap()
        .replace("\"critical\"", "\"info\"");
    std::fs::write(&report_path, tampered).unwrap();
    assert_eq!(verify(&out).status.code(), Some(1));

    // --resume keeps the bundle's image; a second one is refused.
    let o = run_with(
        &legacy,
        &dir.join("x"),
        &["--resume", out.to_str().unwrap(), "--firmware", image.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    legacy.shutdown().await;

    // The hardened camera's image passes; without an image nothing passes.
    let hardened = hopquy_tests::start_sim("hardened").await;
    let image = hardened.dir.path().join("hardened-fw.bin");
    std::fs::write(&image, hardened.camera().firmware_image()).unwrap();
    let out = hardened.dir.path().join("pass");
    run_with(&hardened, &out, &["--firmware", image.to_str().unwrap()]);
    let passed: Vec<(String, String)> = failed_sorted
        .iter()
        .map(|(c, _)| (c.clone(), "pass".to_owned()))
        .collect();
    assert_eq!(verdicts(&results(&out)), passed);
    let out = hardened.dir.path().join("none");
    run_with(&hardened, &out, &[]);
    let r = results(&out);
    for case in r["cases"].as_array().unwrap() {
        assert_eq!(case["verdict"], "inconclusive", "{case}");
        assert_eq!(case["cause"]["class"], "no-firmware-image", "{case}");
        assert!(
            case["cause"]["hint"].as_str().unwrap().contains("--firmware IMAGE"),
            "{case}"
        );
    }
    assert!(r.get("firmware").is_none());
    assert!(!out.join("firmware").exists());

    // An encrypted-looking image: nothing unpacked, so no finding proves anything.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let opaque: Vec<u8> = (0..256 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let image = hardened.dir.path().join("encrypted.bin");
    std::fs::write(&image, opaque).unwrap();
    let out = hardened.dir.path().join("opaque");
    run_with(&hardened, &out, &["--firmware", image.to_str().unwrap()]);
    let r = results(&out);
    assert!(r["firmware"]["sha256"].is_string());
    for case in r["cases"].as_array().unwrap() {
        assert_eq!(case["verdict"], "inconclusive", "{case}");
        assert!(
            case["summary"]
                .as_str()
                .unwrap()
                .contains("could be unpacked (encrypted or opaque)"),
            "{case}"
        );
    }
    hardened.shutdown().await;
}

fn run_cases(sim: &hopquy_tests::Sim, cases: &str, out: &Path, extra: &[&str]) -> Output {
    let target = sim.dir.path().join("target.toml");
    Command::new(crate::bin::hopquy_bin())
        .args([
            "run",
            "--target",
            target.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(["--non-interactive", "--cases", cases])
        .args(extra)
        .env("HOPQUY_SUITE", repo_root())
        .env(hopquy_tests::PASSWORD_VAR, sim.camera().admin_password())
        .output()
        .expect("run hopquy")
}

fn causes(results: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = results["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["verdict"].as_str().unwrap().to_owned(),
                c["cause"]["class"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

const VULN_AND_UPDATE_CASES: &str = "firmware-known-vulnerabilities,firmware-update-signed";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firmware_known_vulnerabilities_and_update_signature_judge_the_scan() {
    let db = hopquy_tests::osv_fixture();
    let db = db.to_str().unwrap();
    let triple = |id: &str, verdict: &str, cause: &str| (id.to_owned(), verdict.to_owned(), cause.to_owned());

    // Legacy: OpenSSL 1.0.2k matches CVE-2017-3735, and the image carries only a digest.
    let legacy = hopquy_tests::start_sim("legacy").await;
    let dir = legacy.dir.path().to_path_buf();
    let image = dir.join("legacy-fw.bin");
    std::fs::write(&image, legacy.camera().firmware_image()).unwrap();
    let out = dir.join("legacy");
    let o = run_cases(
        &legacy,
        VULN_AND_UPDATE_CASES,
        &out,
        &["--firmware", image.to_str().unwrap(), "--vulndb", db],
    );
    let r = results(&out);
    assert_eq!(
        causes(&r),
        vec![
            triple("firmware-known-vulnerabilities", "fail", ""),
            triple("firmware-update-signed", "fail", ""),
        ],
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("firmware/report.json")).unwrap()).unwrap();
    assert_eq!(report["vulnerabilities"][0]["id"], "CVE-2017-3735");
    assert_eq!(report["vulnerabilities"][0]["component"], "openssl");
    assert_eq!(report["vulndb"]["files"], 2);
    assert!(report["vulndb"]["sha256"].as_str().unwrap().len() == 64);
    assert_eq!(report["update_integrity"]["verdict"], "crc_only");
    let sbom: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("firmware/sbom.cdx.json")).unwrap()).unwrap();
    assert_eq!(sbom["vulnerabilities"][0]["id"], "CVE-2017-3735");

    // `firmware scan --vulndb` says the same on the terminal.
    let scanned = hopquy(&["firmware", "scan", image.to_str().unwrap(), "--vulndb", db], &dir);
    let shown = String::from_utf8_lossy(&scanned.stdout);
    assert!(
        shown.contains("known vulnerabilities (1)") && shown.contains("CVE-2017-3735"),
        "{shown}"
    );
    // A broken database file stops before the scan, naming the file, line and column.
    let broken = dir.join("broken-db");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join("X.json"), "{\n  \"id\": 1\n}\n").unwrap();
    let o = hopquy(
        &[
            "firmware",
            "scan",
            image.to_str().unwrap(),
            "--vulndb",
            broken.to_str().unwrap(),
        ],
        &dir,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("X.json:2:"), "{err}");
    // --vulndb means nothing without an image to match.
    let o = run_cases(&legacy, VULN_AND_UPDATE_CASES, &dir.join("nope"), &["--vulndb", db]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    legacy.shutdown().await;

    // Hardened: current components, a signature trailer.
    let hardened = hopquy_tests::start_sim("hardened").await;
    let dir = hardened.dir.path().to_path_buf();
    let image = dir.join("hardened-fw.bin");
    std::fs::write(&image, hardened.camera().firmware_image()).unwrap();
    let out = dir.join("pass");
    run_cases(
        &hardened,
        VULN_AND_UPDATE_CASES,
        &out,
        &["--firmware", image.to_str().unwrap(), "--vulndb", db],
    );
    assert_eq!(
        causes(&results(&out)),
        vec![
            triple("firmware-known-vulnerabilities", "pass", ""),
            triple("firmware-update-signed", "pass", ""),
        ]
    );
    // Without a database nothing is claimed about vulnerabilities; without an image, nothing at all.
    let out = dir.join("nodb");
    run_cases(
        &hardened,
        VULN_AND_UPDATE_CASES,
        &out,
        &["--firmware", image.to_str().unwrap()],
    );
    assert_eq!(
        causes(&results(&out)),
        vec![
            triple("firmware-known-vulnerabilities", "inconclusive", "no-vulndb"),
            triple("firmware-update-signed", "pass", ""),
        ]
    );
    let out = dir.join("none");
    run_cases(&hardened, VULN_AND_UPDATE_CASES, &out, &[]);
    assert_eq!(
        causes(&results(&out)),
        vec![
            triple("firmware-known-vulnerabilities", "inconclusive", "no-firmware-image"),
            triple("firmware-update-signed", "inconclusive", "no-firmware-image"),
        ]
    );
    hardened.shutdown().await;
}

/// A base64 line from the middle of the PEM key the legacy image carries.
fn hopquy_simcam_key_line(image: &[u8]) -> String {
    let text = String::from_utf8_lossy(image);
    let start = text
        .find("-----BEGIN PRIVATE KEY-----")
        .expect("the legacy image holds the shared key");
    text[start..].lines().nth(2).unwrap().to_owned()
}
