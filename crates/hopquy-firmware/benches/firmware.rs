//! Firmware scan on a large, realistic image: hopquy's release binary beside `binwalk -e`
//! and `unblob` when they are installed, one run each, wall-clock time and peak RSS (from
//! `/usr/bin/time`). Timings are printed for docs/benchmarks.md, never asserted.
//!
//!     cargo xtask bench firmware      (builds the release `hopquy` first)
//!
//! The image: a gzip'd "kernel" with its version string, then a gzip squashfs root file
//! system of several thousand files (configs, scripts, libraries with version strings,
//! incompressible blobs standing in for binaries, web assets) holding a nested tar.gz and an
//! xz stream, about 50 MiB in all. Built in memory with the same writers the tests use.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::*;

fn image() -> Vec<u8> {
    let mut files: Vec<(String, Vec<u8>)> = good_rootfs_nodes();
    for i in 0..2500 {
        files.push((
            format!("etc/conf.d/service-{i:04}.conf"),
            format!(
                "[service]\nname = svc{i}\nport = {}\nlog_level = info\n# generated\n",
                1024 + i
            )
            .repeat(8)
            .into_bytes(),
        ));
    }
    for i in 0..1500 {
        files.push((
            format!("www/static/js/module-{i:04}.js"),
            format!("export function f{i}(x) {{ return x * {i} + 1; }}\n")
                .repeat(40)
                .into_bytes(),
        ));
    }
    // Incompressible "binaries": 80 × 512 KiB.
    for i in 0..80u64 {
        let mut bin = vec![0x7f, b'E', b'L', b'F', 1, 1, 1, 0];
        bin.extend(noise(512 << 10, 0x5eed + i));
        files.push((format!("usr/bin/app{i:02}"), bin));
    }
    let mut libssl = vec![0x7f, b'E', b'L', b'F', 1, 1, 1, 0];
    libssl.extend(noise(256 << 10, 7));
    libssl.extend(b"\0OpenSSL 1.1.1w  11 Sep 2023\0");
    files.push(("usr/lib/libssl.so.1.1".into(), libssl));
    // Nested containers inside the file system.
    let inner: Vec<(String, Vec<u8>)> = (0..200)
        .map(|i| {
            (
                format!("update/part{i:03}.txt"),
                format!("part {i}\n").repeat(200).into_bytes(),
            )
        })
        .collect();
    let inner_tar = tar_raw(
        &inner
            .iter()
            .map(|(n, d)| (n.as_str(), b'0', d.as_slice(), ""))
            .collect::<Vec<_>>(),
    );
    files.push(("opt/update.tar.gz".into(), gzip(&inner_tar)));
    files.push(("lib/modules/extra.ko.xz".into(), xz(&noise(2 << 20, 11))));
    let rootfs = squashfs(&with_dirs(&files), backhand::compression::Compressor::Gzip);
    let mut kernel = b"Linux version 4.9.129 (builder@ci) (gcc version 6.5.0) #1 SMP PREEMPT\0".to_vec();
    kernel.extend(noise(6 << 20, 3));
    [gzip(&kernel), rootfs].concat()
}

/// The release `hopquy` next to this bench binary (target/release/deps/… → target/release).
fn hopquy_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().join("hopquy")
}

fn which(program: &str) -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/peers/firmware-venv/bin");
    let mut dirs = vec![venv];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter().map(|d| d.join(program)).find(|p| p.is_file())
}

/// One run under `/usr/bin/time -f "%e %M"`: (seconds, peak RSS in MiB, exit ok).
fn timed(program: &Path, args: &[&str], cwd: &Path) -> Option<(f64, f64, bool)> {
    let started = Instant::now();
    let o = Command::new("/usr/bin/time")
        .args(["-f", "TIME %e %M"])
        .arg(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .ok()?;
    let wall = started.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err.lines().rev().find(|l| l.starts_with("TIME "))?;
    let kib: f64 = line.split_whitespace().nth(2)?.parse().ok()?;
    Some((wall, kib / 1024.0, o.status.success()))
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let built = Instant::now();
    let bytes = image();
    let path = dir.path().join("bench-fw.bin");
    std::fs::write(&path, &bytes).unwrap();
    println!(
        "image: {:.1} MiB, built in {:.1} s",
        bytes.len() as f64 / (1 << 20) as f64,
        built.elapsed().as_secs_f64()
    );
    let image = path.to_str().unwrap();
    println!("{:<28} {:>9} {:>13}  notes", "tool", "time (s)", "peak RSS (MiB)");
    let hopquy = hopquy_bin();
    if hopquy.is_file() {
        let out = dir.path().join("hopquy-out");
        match timed(
            &hopquy,
            &["firmware", "scan", image, "--out", out.to_str().unwrap()],
            dir.path(),
        ) {
            Some((t, rss, ok)) => {
                let report: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap_or_default())
                        .unwrap_or_default();
                println!(
                    "{:<28} {t:>9.2} {rss:>13.1}  exit ok: {ok}; {} containers, {} findings, {} components, {} limits hit",
                    "hopquy firmware scan",
                    report["containers"].as_array().map_or(0, Vec::len),
                    report["findings"].as_array().map_or(0, Vec::len),
                    report["inventory"].as_array().map_or(0, Vec::len),
                    report["limits_hit"].as_array().map_or(0, Vec::len),
                );
            }
            None => println!("{:<28} /usr/bin/time did not report", "hopquy firmware scan"),
        }
    } else {
        println!(
            "hopquy: {} missing — run `cargo build --release -p hopquy` (cargo xtask bench firmware does)",
            hopquy.display()
        );
    }
    // binwalk 2.x refuses to extract as root unless told to (its extractors run as that user).
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let mut binwalk = vec!["-e", "-q", "-C", "binwalk-out"];
    if root {
        binwalk.push("--run-as=root");
    }
    binwalk.push(image);
    let peers: [(&str, Vec<&str>); 2] = [("binwalk", binwalk), ("unblob", vec!["-e", "unblob-out", image])];
    for (name, args) in peers {
        match which(name) {
            None => println!("{name:<28} not installed (Debian: apt install binwalk; unblob: pip install unblob)"),
            Some(program) => match timed(&program, &args, dir.path()) {
                Some((t, rss, ok)) => {
                    let label = format!("{name} {}", args[..args.len() - 1].join(" "));
                    println!("{label:<28} {t:>9.2} {rss:>13.1}  exit ok: {ok}; extracts to disk");
                }
                None => println!("{name:<28} /usr/bin/time did not report"),
            },
        }
    }
}
