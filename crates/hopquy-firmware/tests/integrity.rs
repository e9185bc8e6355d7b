//! Update integrity: which container signatures the scan recognises (docs/firmware.md).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use ed25519_dalek::{Signer, SigningKey};
use hopquy_firmware::{IntegrityVerdict, ScanOptions, scan_bytes};
use sha2::Digest;

fn with_digest(mut image: Vec<u8>) -> Vec<u8> {
    let digest = sha2::Sha256::digest(&image);
    image.extend_from_slice(&digest);
    image
}

fn rootfs() -> Vec<u8> {
    [b"VNDR".as_slice(), &cpio(&with_dirs(&good_rootfs_nodes()))].concat()
}

fn signed(seed: u8, content: &[u8]) -> Vec<u8> {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let signature = key.sign(content).to_bytes();
    with_digest([content, signature.as_slice()].concat())
}

#[test]
fn a_signature_trailer_is_signed_and_a_bare_digest_is_crc_only() {
    let image = signed(7, &rootfs());
    let report = scan_bytes("fw.bin", &image, &ScanOptions::default());
    assert_eq!(
        report.update_integrity.verdict,
        IntegrityVerdict::Signed,
        "{:?}",
        report.update_integrity
    );
    assert!(
        report
            .update_integrity
            .evidence
            .iter()
            .any(|e| e.contains("Ed25519-form signature trailer"))
    );
    assert!(
        report.filesystems_unpacked >= 1,
        "the container around the file system is still walked"
    );

    let forged = with_digest(rootfs());
    let report = scan_bytes("fw.bin", &forged, &ScanOptions::default());
    assert_eq!(
        report.update_integrity.verdict,
        IntegrityVerdict::CrcOnly,
        "{:?}",
        report.update_integrity
    );
    assert!(report.update_integrity.evidence[0].starts_with("trailing SHA-256"));

    // A digest that does not match is no trailer at all.
    let mut broken = forged.clone();
    let last = broken.len() - 1;
    broken[last] ^= 1;
    let report = scan_bytes("fw.bin", &broken, &ScanOptions::default());
    assert_eq!(report.update_integrity.verdict, IntegrityVerdict::NoneFound);
}

#[test]
fn every_real_signature_has_the_form_and_archive_ends_do_not() {
    let content = rootfs();
    for seed in 0..64u8 {
        let mut c = content.clone();
        c.push(seed);
        let report = scan_bytes("fw.bin", &signed(seed, &c), &ScanOptions::default());
        assert_eq!(
            report.update_integrity.verdict,
            IntegrityVerdict::Signed,
            "key seed {seed}"
        );
    }
    // Digest-only images whose last 64 content bytes are what unsigned images end with:
    // archive trailers, padding, text, a compressed stream's tail.
    let tails: Vec<Vec<u8>> = vec![
        cpio(&with_dirs(&good_rootfs_nodes())),
        vec![0xff; 4096],
        b"#!/bin/sh\necho done\n".repeat(20),
        gzip(b"the end of a kernel"),
    ];
    for tail in tails {
        let report = scan_bytes(
            "fw.bin",
            &with_digest([b"VNDR".as_slice(), &tail].concat()),
            &ScanOptions::default(),
        );
        assert_ne!(
            report.update_integrity.verdict,
            IntegrityVerdict::Signed,
            "{:?}",
            report.update_integrity
        );
    }
}
