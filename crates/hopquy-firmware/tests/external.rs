//! cramfs, jffs2 and UBI through their packaged tools (util-linux `fsck.cramfs`, PyPI
//! `jefferson` and `ubi_reader`), on tiny images built here with the tools that write them
//! (`mkfs.cramfs`, mtd-utils' `mkfs.jffs2`, `mkfs.ubifs` and `ubinize`). A missing tool skips
//! its test with the reason printed, unless HOPQUY_REQUIRE_PEERS is set (CI), where it fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use hopquy_firmware::{ContainerStatus, FindingKind, ScanOptions, ToolOptions, scan};

/// The venv `.ci/run` installs the PyPI unpackers into (apart from the TLS/SSH peers: ubi-reader
/// and sslyze pin incompatible `cryptography` versions).
fn venv_bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/peers/firmware-venv/bin")
}

fn which(program: &str) -> Option<PathBuf> {
    let mut dirs = vec![venv_bin(), PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter().map(|d| d.join(program)).find(|p| p.is_file())
}

/// All the tools, or None after saying which is missing (a failure where peers are required).
fn tools(names: &[&str]) -> Option<Vec<PathBuf>> {
    let found: Vec<Option<PathBuf>> = names.iter().map(|n| which(n)).collect();
    let missing: Vec<&str> = names
        .iter()
        .zip(&found)
        .filter(|(_, f)| f.is_none())
        .map(|(n, _)| *n)
        .collect();
    if missing.is_empty() {
        return Some(found.into_iter().flatten().collect());
    }
    let why = format!(
        "skipped: {} not installed (util-linux, mtd-utils, pip install jefferson ubi_reader)",
        missing.join(", ")
    );
    if std::env::var_os("HOPQUY_REQUIRE_PEERS").is_some() {
        panic!("{why}");
    }
    eprintln!("{why}");
    None
}

/// A root file system with a default credential, telnetd at boot and a link climbing out.
fn rootfs(dir: &Path) {
    std::fs::create_dir_all(dir.join("etc/init.d")).unwrap();
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nadmin:x:1000:1000::/home/admin:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/shadow"), bad_shadow()).unwrap();
    std::fs::write(
        dir.join("etc/inittab"),
        "::sysinit:/etc/init.d/rcS\n::respawn:/usr/sbin/telnetd -F\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("../../../../../etc/hostname", dir.join("etc/escape")).unwrap();
}

fn options() -> ScanOptions {
    ScanOptions {
        tools: ToolOptions {
            dirs: vec![venv_bin()],
            ..ToolOptions::default()
        },
        ..dictionary_options()
    }
}

fn run(program: &Path, args: &[&str]) {
    let o = Command::new(program).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{program:?} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn assert_walked(image: &Path, format: &str) {
    let report = scan(image, &options()).unwrap();
    let c = report
        .containers
        .iter()
        .find(|c| c.format == format)
        .unwrap_or_else(|| panic!("no {format}: {:#?}", report.containers));
    assert_eq!(c.status, ContainerStatus::Unpacked, "{c:#?}");
    assert!(c.entries.unwrap_or(0) >= 4, "{c:#?}");
    assert!(report.inconclusive.is_none(), "{:?}", report.inconclusive);
    let kinds: Vec<(FindingKind, &str)> = report.findings.iter().map(|f| (f.kind, f.path.as_str())).collect();
    for kind in [
        FindingKind::DefaultCredential,
        FindingKind::DebugService,
        FindingKind::UnsafeEntry,
    ] {
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.kind == kind && f.path.contains(&format!("[{format}@"))),
            "{format}: no {kind:?} in {kinds:?}"
        );
    }
}

#[test]
fn cramfs_is_unpacked_with_fsck_cramfs() {
    let Some(t) = tools(&["mkfs.cramfs", "fsck.cramfs"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    rootfs(&root);
    let image = dir.path().join("fs.cramfs");
    run(&t[0], &[root.to_str().unwrap(), image.to_str().unwrap()]);
    assert_walked(&image, "cramfs");
}

#[test]
fn jffs2_is_unpacked_with_jefferson() {
    let Some(t) = tools(&["mkfs.jffs2", "jefferson"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    rootfs(&root);
    let image = dir.path().join("fs.jffs2");
    run(
        &t[0],
        &[
            "-r",
            root.to_str().unwrap(),
            "-o",
            image.to_str().unwrap(),
            "-e",
            "0x10000",
            "-l",
        ],
    );
    assert_walked(&image, "jffs2");
}

#[test]
fn ubi_is_unpacked_with_ubi_reader() {
    let Some(t) = tools(&["mkfs.ubifs", "ubinize", "ubireader_extract_files"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    rootfs(&root);
    let ubifs = dir.path().join("root.ubifs");
    run(
        &t[0],
        &[
            "-r",
            root.to_str().unwrap(),
            "-m",
            "2048",
            "-e",
            "126976",
            "-c",
            "64",
            "-o",
            ubifs.to_str().unwrap(),
        ],
    );
    let cfg = dir.path().join("ubinize.cfg");
    std::fs::write(
        &cfg,
        format!(
            "[rootfs]\nmode=ubi\nimage={}\nvol_id=0\nvol_type=dynamic\nvol_name=rootfs\nvol_flags=autoresize\n",
            ubifs.display()
        ),
    )
    .unwrap();
    let image = dir.path().join("fs.ubi");
    run(
        &t[1],
        &[
            "-o",
            image.to_str().unwrap(),
            "-m",
            "2048",
            "-p",
            "128KiB",
            "-s",
            "2048",
            cfg.to_str().unwrap(),
        ],
    );
    assert_walked(&image, "ubi");
}

#[test]
fn a_missing_tool_is_said_not_skipped() {
    let Some(t) = tools(&["mkfs.cramfs"]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    rootfs(&root);
    let image = dir.path().join("fs.cramfs");
    run(&t[0], &[root.to_str().unwrap(), image.to_str().unwrap()]);
    let none = ScanOptions {
        tools: ToolOptions {
            dirs: Vec::new(),
            search_path: false,
            ..ToolOptions::default()
        },
        ..ScanOptions::default()
    };
    let report = scan(&image, &none).unwrap();
    let c = report.containers.iter().find(|c| c.format == "cramfs").unwrap();
    assert_eq!(c.status, ContainerStatus::Unsupported);
    assert_eq!(
        c.note.as_deref(),
        Some(
            "cramfs recognised: unsupported: tool fsck.cramfs not installed — install util-linux (Debian: apt install util-linux; fsck.cramfs is in /usr/sbin)"
        )
    );
    assert!(report.inconclusive.is_some());
}

/// A cramfs header the recogniser accepts, over noise: enough to hand to a (fake) tool.
fn fake_cramfs() -> Vec<u8> {
    let mut cramfs = vec![0x45, 0x3d, 0xcd, 0x28];
    cramfs.extend(8192u32.to_le_bytes());
    cramfs.extend([0u8; 8]);
    cramfs.extend(b"Compressed ROMFS");
    cramfs.extend(noise(8192 - 32, 5));
    cramfs
}

fn fake_tool(dir: &Path, script: &str) -> ToolOptions {
    use std::os::unix::fs::PermissionsExt;
    let tool = dir.join("fsck.cramfs");
    std::fs::write(&tool, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    ToolOptions {
        dirs: vec![dir.to_path_buf()],
        search_path: false,
        timeout: std::time::Duration::from_millis(500),
    }
}

#[test]
fn a_tool_that_hangs_or_floods_is_stopped_at_its_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let hang = ScanOptions {
        tools: fake_tool(dir.path(), "sleep 30"),
        ..ScanOptions::default()
    };
    let started = std::time::Instant::now();
    let report = hopquy_firmware::scan_bytes("fw", &fake_cramfs(), &hang);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let c = report.containers.iter().find(|c| c.format == "cramfs").unwrap();
    assert_eq!(c.status, ContainerStatus::Limited, "{c:#?}");
    assert!(
        report
            .limits_hit
            .iter()
            .any(|l| l.limit == hopquy_firmware::LimitKind::ToolTime)
    );

    // `--extract=DIR` is the tool's first argument; it writes 4 MiB where 64 KiB may go.
    let flood = ScanOptions {
        tools: fake_tool(
            dir.path(),
            "d=${1#--extract=}; mkdir -p \"$d\"; head -c 4194304 /dev/zero > \"$d/big\"; sleep 5",
        ),
        max_file_bytes: 64 << 10,
        ..ScanOptions::default()
    };
    let report = hopquy_firmware::scan_bytes("fw", &fake_cramfs(), &flood);
    let c = report.containers.iter().find(|c| c.format == "cramfs").unwrap();
    assert!(
        matches!(c.status, ContainerStatus::Limited | ContainerStatus::Corrupt),
        "{c:#?}"
    );
    assert!(report.limits_hit.iter().all(|l| l.detail.len() < 200));
    // Whatever was written, no more than the bound was read back.
    assert!(report.containers.iter().all(|c| c.size <= 8192));
}
