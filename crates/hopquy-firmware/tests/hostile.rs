//! Hostile images: each gives a recorded finding, container status or limit — never a write
//! outside the work directory, an unbounded allocation, a hang or a panic.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use backhand::compression::Compressor;
use common::*;
use hopquy_firmware::{
    ContainerStatus, FindingKind, FirmwareReport, IntegrityVerdict, LimitKind, ScanOptions, scan, scan_bytes,
};

fn limits(report: &FirmwareReport, kind: LimitKind) -> Vec<&hopquy_firmware::LimitHit> {
    report.limits_hit.iter().filter(|l| l.limit == kind).collect()
}

fn findings(report: &FirmwareReport, kind: FindingKind) -> Vec<&hopquy_firmware::Finding> {
    report.findings.iter().filter(|f| f.kind == kind).collect()
}

fn small_limits() -> ScanOptions {
    ScanOptions {
        max_total_bytes: 8 << 20,
        max_file_bytes: 4 << 20,
        max_ratio: 100,
        ratio_floor_bytes: 1 << 20,
        ..ScanOptions::default()
    }
}

#[test]
fn a_gzip_bomb_is_stopped_at_the_ratio_bound() {
    let bomb = gzip(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    let report = scan_bytes("bomb.gz", &bomb, &small_limits());
    let hit = limits(&report, LimitKind::Ratio);
    assert_eq!(hit.len(), 1, "{:#?}", report.limits_hit);
    assert!(hit[0].detail.contains("decompression bomb"));
    let gz = report.containers.iter().find(|c| c.format == "gzip").unwrap();
    assert_eq!(gz.status, ContainerStatus::Limited);
}

#[test]
fn a_zip_bomb_entry_is_stopped_before_it_is_read_whole() {
    let zeros = vec![0u8; 8 << 20];
    let bomb = zip(&[("firmware/part.bin", zeros.as_slice())]);
    let report = scan_bytes("bomb.zip", &bomb, &small_limits());
    assert_eq!(limits(&report, LimitKind::Ratio).len(), 1, "{:#?}", report.limits_hit);
}

#[test]
fn per_file_and_total_budgets_are_limits_not_crashes() {
    // Incompressible data, so the ratio bound does not fire first.
    let big = noise(5 << 20, 7);
    let report = scan_bytes("big.gz", &gzip(&big), &small_limits());
    assert_eq!(
        limits(&report, LimitKind::FileBytes).len(),
        1,
        "{:#?}",
        report.limits_hit
    );

    // Three streams of 3 MiB each, each within the 4 MiB file bound: the third crosses the
    // 8 MiB total.
    let mut image = Vec::new();
    for seed in 0..3 {
        image.extend(gzip(&noise(3 << 20, 11 + seed)));
    }
    let report = scan_bytes("many.gz", &image, &small_limits());
    assert_eq!(
        limits(&report, LimitKind::TotalBytes).len(),
        1,
        "{:#?}",
        report.limits_hit
    );
    assert!(
        limits(&report, LimitKind::FileBytes).is_empty(),
        "{:#?}",
        report.limits_hit
    );
    let gzips: Vec<_> = report.containers.iter().filter(|c| c.format == "gzip").collect();
    assert_eq!(gzips.len(), 3, "{gzips:#?}");
    assert_eq!(gzips[2].status, ContainerStatus::Limited);
}

#[test]
fn names_and_links_that_escape_are_findings_and_nothing_is_written() {
    let tar = tar_raw(&[
        ("../../etc/cron.d/evil", b'0', b"* * * * * root sh", ""),
        ("/abs/path", b'0', b"x", ""),
        ("etc/link", b'2', b"", "../../../../etc/shadow"),
        ("bin/sh", b'2', b"", "/bin/busybox"),
        ("etc/hard", b'1', b"", "../../outside"),
    ]);
    let cpio_image = cpio(&[
        Node::Dir("etc"),
        Node::Symlink("etc/escape", "../../../root/.ssh/authorized_keys"),
        Node::Symlink("bin/ok", "busybox"),
        Node::CharDev("dev/console"),
        Node::File("../outside.txt", b"x"),
    ]);
    let zip_image = zip(&[("../../zip-evil.txt", b"x"), ("..\\..\\win-evil.txt", b"x")]);

    let dir = tempfile::tempdir().unwrap();
    for (name, image, expected) in [("t.tar", tar, 4), ("c.cpio", cpio_image, 2), ("z.zip", zip_image, 2)] {
        let path = dir.path().join(name);
        std::fs::write(&path, &image).unwrap();
        let report = scan(&path, &ScanOptions::default()).unwrap();
        let unsafe_entries = findings(&report, FindingKind::UnsafeEntry);
        assert_eq!(unsafe_entries.len(), expected, "{name}: {unsafe_entries:#?}");
        assert!(unsafe_entries.iter().all(|f| f.title.contains("not followed")));
    }
    let mut left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["c.cpio", "t.tar", "z.zip"], "the scan wrote something");
    for escaped in ["etc/cron.d/evil", "zip-evil.txt", "outside.txt"] {
        assert!(!dir.path().join("..").join(escaped).exists());
    }
}

#[test]
fn device_nodes_are_recorded_once_per_archive() {
    let image = cpio(&[
        Node::Dir("dev"),
        Node::CharDev("dev/console"),
        Node::CharDev("dev/null"),
        Node::CharDev("dev/ttyS0"),
    ]);
    let report = scan_bytes("dev.cpio", &image, &ScanOptions::default());
    let special = findings(&report, FindingKind::SpecialEntry);
    assert_eq!(special.len(), 1, "{special:#?}");
    assert!(special[0].title.starts_with("3 device node"));
    assert!(special[0].excerpt.contains("/dev/console (character device)"));

    let fs = squashfs(&[Node::Dir("dev"), Node::CharDev("dev/mem")], Compressor::Gzip);
    let report = scan_bytes("dev.sqfs", &fs, &ScanOptions::default());
    assert_eq!(
        findings(&report, FindingKind::SpecialEntry).len(),
        1,
        "{:#?}",
        report.findings
    );
}

#[test]
fn deep_nesting_stops_at_the_depth_bound() {
    let mut image = b"innermost: BusyBox v1.20.0 (".to_vec();
    for _ in 0..40 {
        image = gzip(&image);
    }
    let options = ScanOptions {
        max_depth: 8,
        ..ScanOptions::default()
    };
    let report = scan_bytes("nested.gz", &image, &options);
    let hit = limits(&report, LimitKind::Depth);
    assert_eq!(hit.len(), 1, "{:#?}", report.limits_hit);
    assert_eq!(report.containers.iter().filter(|c| c.format == "gzip").count(), 9);
    assert!(
        report.inventory.is_empty(),
        "the innermost layer must not have been reached"
    );
}

#[test]
fn truncated_and_corrupt_containers_are_recorded() {
    let files = bad_rootfs_nodes(&bad_shadow());

    // squashfs cut short: the superblock promises more than is there.
    let fs = squashfs(&with_dirs(&files), Compressor::Xz);
    let report = scan_bytes("cut.sqfs", &fs[..fs.len() / 2], &ScanOptions::default());
    let sq = report.containers.iter().find(|c| c.format == "squashfs").unwrap();
    assert_eq!(sq.status, ContainerStatus::Truncated, "{sq:#?}");

    // gzip cut short: what was decompressed is still analysed.
    let archive = cpio(&with_dirs(&files));
    let gz = gzip(&archive);
    let report = scan_bytes("cut.gz", &gz[..gz.len() - 20], &ScanOptions::default());
    let g = report.containers.iter().find(|c| c.format == "gzip").unwrap();
    assert_eq!(g.status, ContainerStatus::Truncated, "{g:#?}");

    // A cpio whose third header is garbage.
    let mut broken = archive.clone();
    let second = memchr::memmem::find_iter(&broken, b"070701").nth(2).unwrap();
    broken[second..second + 6].copy_from_slice(b"XXXXXX");
    let report = scan_bytes("bad.cpio", &broken, &ScanOptions::default());
    let c = report.containers.iter().find(|c| c.format == "cpio").unwrap();
    assert_eq!(c.status, ContainerStatus::Corrupt, "{c:#?}");

    // A uImage whose header CRC is wrong, at the start of the image.
    let mut image = uimage(&gzip(&archive), 3, 1, "rootfs");
    image[40] ^= 0xff;
    let report = scan_bytes("bad.uimage", &image, &ScanOptions::default());
    let u = report.containers.iter().find(|c| c.format == "uimage").unwrap();
    assert_eq!(u.status, ContainerStatus::Corrupt, "{u:#?}");
    // The gzip stream after the broken header is still found by carving.
    assert_eq!(report.filesystems_unpacked, 1);

    // A uImage whose payload was altered after the CRC was computed.
    let mut image = uimage(&gzip(&archive), 3, 1, "rootfs");
    let last = image.len() - 1;
    image[last] ^= 0x01;
    let report = scan_bytes("tampered.uimage", &image, &ScanOptions::default());
    let u = report.containers.iter().find(|c| c.format == "uimage").unwrap();
    assert!(u.note.as_deref().unwrap().contains("data CRC32 MISMATCH"), "{u:#?}");
}

#[test]
fn an_encrypted_container_is_inconclusive_with_its_entropy() {
    let mut image = b"VNDRENC1".to_vec();
    image.extend(noise(512 * 1024, 42));
    let report = scan_bytes("enc.bin", &image, &ScanOptions::default());
    let reason = report.inconclusive.as_deref().unwrap();
    assert!(reason.contains("opaque"), "{reason}");
    let opaque = report
        .containers
        .iter()
        .find(|c| c.status == ContainerStatus::Opaque)
        .unwrap();
    assert!(opaque.entropy.unwrap() > 7.9, "{opaque:#?}");
    assert_eq!(report.update_integrity.verdict, IntegrityVerdict::Unknown);
    assert_eq!(report.filesystems_unpacked, 0);
}

#[test]
fn the_entry_bound_stops_a_walk() {
    let names: Vec<String> = (0..100).map(|i| format!("f{i}")).collect();
    let nodes: Vec<Node<'_>> = names.iter().map(|n| Node::File(n.as_str(), b"x")).collect();
    let options = ScanOptions {
        max_entries: 10,
        ..ScanOptions::default()
    };
    let report = scan_bytes("many.cpio", &cpio(&nodes), &options);
    assert_eq!(limits(&report, LimitKind::Entries).len(), 1);
    let c = report.containers.iter().find(|c| c.format == "cpio").unwrap();
    assert_eq!((c.status, c.entries), (ContainerStatus::Limited, Some(10)));
}

#[test]
fn a_costly_hash_is_a_limit_not_a_stall() {
    let shadow = "admin:$6$rounds=999999999$salt$abcdefghijklmnopqrstuvwxyz:19000::::::\n";
    let image = cpio(&with_dirs(&[("etc/shadow".to_string(), shadow.as_bytes().to_vec())]));
    let started = Instant::now();
    let report = scan_bytes("slow.cpio", &image, &dictionary_options());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        limits(&report, LimitKind::HashCost).len(),
        1,
        "{:#?}",
        report.limits_hit
    );
    assert_eq!(findings(&report, FindingKind::FixedAccount).len(), 1);
}

#[test]
fn mutilated_images_never_panic() {
    // Truncations at every 97th length and byte flips at deterministic places, over a
    // uImage + gzip + cpio image and a squashfs one: each must scan to a report.
    let files = bad_rootfs_nodes(&bad_shadow());
    let archive = cpio(&with_dirs(&files));
    let images = [
        uimage(&gzip(&archive), 3, 1, "rootfs"),
        squashfs(&with_dirs(&files), Compressor::Gzip),
    ];
    let options = small_limits();
    let mut scanned = 0;
    for image in &images {
        for cut in (0..image.len()).step_by(97) {
            let report = scan_bytes("cut", &image[..cut], &options);
            assert_eq!(report.image.size, cut as u64);
            scanned += 1;
        }
        let flips = noise(120, 99);
        for pair in flips.chunks(2) {
            let mut copy = image.clone();
            let at = (usize::from(pair[0]) << 8 | usize::from(pair[1])) % copy.len();
            copy[at] ^= 0x5a;
            let report = scan_bytes("flip", &copy, &options);
            assert_eq!(report.image.size, copy.len() as u64);
            scanned += 1;
        }
    }
    assert!(scanned > 100);
}

#[test]
fn a_directory_is_refused_as_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let err = scan(dir.path(), &ScanOptions::default()).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    let options = ScanOptions {
        max_image_bytes: 10,
        ..ScanOptions::default()
    };
    let path = dir.path().join("big.img");
    std::fs::write(&path, [0u8; 11]).unwrap();
    let err = scan(&path, &options).unwrap_err();
    assert!(err.to_string().contains("image limit"), "{err}");
}

#[test]
fn file_systems_without_a_reader_are_recognised_and_measured() {
    fn crc32_linux(bytes: &[u8]) -> u32 {
        let mut crc = 0u32;
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
        crc
    }
    let mut jffs2 = vec![0x85, 0x19, 0x03, 0x20, 0x0c, 0, 0, 0];
    jffs2.extend(crc32_linux(&jffs2).to_le_bytes());
    jffs2.extend(noise(4096, 3));
    let mut ubi = b"UBI#\x01\0\0\0".to_vec();
    ubi.extend(noise(4096, 4));
    let mut cramfs = vec![0x45, 0x3d, 0xcd, 0x28];
    cramfs.extend(8192u32.to_le_bytes());
    cramfs.extend([0u8; 8]);
    cramfs.extend(b"Compressed ROMFS");
    cramfs.extend(noise(8192 - 32, 5));
    // Without their external unpackers they are recognised and said to be unsupported.
    let no_tools = ScanOptions {
        tools: hopquy_firmware::ToolOptions {
            dirs: Vec::new(),
            search_path: false,
            ..Default::default()
        },
        ..ScanOptions::default()
    };
    for (format, bytes) in [("jffs2", &jffs2), ("ubi", &ubi), ("cramfs", &cramfs)] {
        let mut image = vec![0u8; 512];
        image.extend(bytes);
        let report = scan_bytes(format, &image, &no_tools);
        let c = report
            .containers
            .iter()
            .find(|c| c.format == format)
            .unwrap_or_else(|| panic!("{format}: {:#?}", report.containers));
        assert_eq!((c.status, c.offset), (ContainerStatus::Unsupported, 512), "{c:#?}");
        assert!(c.entropy.unwrap() > 7.0, "{c:#?}");
        let note = c.note.as_deref().unwrap_or_default();
        assert!(note.contains("not installed — install"), "{note}");
        assert!(report.inconclusive.is_some(), "{format}: nothing was unpacked");
        // With whatever unpackers this machine has, noise behind a header is still no file
        // system: corrupt or unsupported, never a panic, and nothing claimed as searched.
        let report = scan_bytes(format, &image, &ScanOptions::default());
        let c = report.containers.iter().find(|c| c.format == format).unwrap();
        assert!(
            matches!(c.status, ContainerStatus::Unsupported | ContainerStatus::Corrupt),
            "{c:#?}"
        );
        assert!(report.inconclusive.is_some(), "{format}: {c:#?}");
    }
    // The same magic numbers without their header checks are chance, not containers.
    let mut chance = vec![0u8; 512];
    chance.extend(b"UBI#\x07\x07\x07\x07");
    chance.extend([0x85, 0x19, 0x03, 0x20, 0x0c, 0, 0, 0, 1, 2, 3, 4]);
    chance.extend([0x45, 0x3d, 0xcd, 0x28, 0, 0x20, 0, 0]);
    let report = scan_bytes("chance", &chance, &ScanOptions::default());
    assert!(report.containers.is_empty(), "{:#?}", report.containers);
}

/// Writes squashfs data blocks that decompress to 40 times their block: what a crafted
/// bomb block inside an otherwise valid file system does.
struct Inflating;

impl backhand::compression::CompressionAction for Inflating {
    type Error = backhand::BackhandError;
    type Compressor = Compressor;
    type FilesystemCompressor = backhand::FilesystemCompressor;
    type SuperBlock = backhand::SuperBlock;

    fn decompress(&self, bytes: &[u8], out: &mut Vec<u8>, c: Compressor) -> Result<(), Self::Error> {
        backhand::compression::DefaultCompressor.decompress(bytes, out, c)
    }

    fn compress(&self, bytes: &[u8], fc: Self::FilesystemCompressor, block_size: u32) -> Result<Vec<u8>, Self::Error> {
        if bytes.len() == block_size as usize {
            use std::io::Write;
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
            for _ in 0..40 {
                e.write_all(bytes).unwrap();
            }
            return Ok(e.finish().unwrap());
        }
        backhand::compression::DefaultCompressor.compress(bytes, fc, block_size)
    }
}

static INFLATING: Inflating = Inflating;

#[test]
fn a_squashfs_block_that_expands_past_the_block_size_is_refused() {
    let zeros = vec![0u8; 512 * 1024];
    let mut fs = backhand::FilesystemWriter::default();
    fs.set_kind(backhand::kind::Kind::new_v4(&INFLATING));
    fs.set_compressor(backhand::FilesystemCompressor::new(Compressor::Gzip, None).unwrap());
    fs.push_file(
        std::io::Cursor::new(zeros),
        "zeros.bin",
        backhand::NodeHeader::default(),
    )
    .unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    fs.write(&mut out).unwrap();
    let image = out.into_inner();
    assert!(image.len() < 64 * 1024, "{}", image.len());

    let report = scan_bytes("bomb.sqfs", &image, &ScanOptions::default());
    let sq = report.containers.iter().find(|c| c.format == "squashfs").unwrap();
    assert_eq!(sq.status, ContainerStatus::Corrupt, "{sq:#?}");
    assert!(
        sq.note.as_deref().unwrap().contains("beyond the largest block size"),
        "{sq:#?}"
    );
}

/// Makes every block "compress" to something larger, so the writer stores metadata
/// uncompressed and the test can edit directory listings in place.
struct Stored;

impl backhand::compression::CompressionAction for Stored {
    type Error = backhand::BackhandError;
    type Compressor = Compressor;
    type FilesystemCompressor = backhand::FilesystemCompressor;
    type SuperBlock = backhand::SuperBlock;

    fn decompress(&self, bytes: &[u8], out: &mut Vec<u8>, c: Compressor) -> Result<(), Self::Error> {
        backhand::compression::DefaultCompressor.decompress(bytes, out, c)
    }

    fn compress(&self, bytes: &[u8], _: Self::FilesystemCompressor, _: u32) -> Result<Vec<u8>, Self::Error> {
        Ok([bytes, &[0u8]].concat())
    }
}

static STORED: Stored = Stored;

/// A directory entry in an uncompressed listing: (offset of the entry, header base inode).
fn listing_entry(image: &[u8], name: u8) -> (usize, u32) {
    // The entry is the first of its listing: type 1 (directory), name_size 0, the name.
    let at = memchr::memmem::find(image, &[0x01, 0x00, 0x00, 0x00, name]).unwrap() - 4;
    let base = u32::from_le_bytes(image[at - 4..at].try_into().unwrap());
    (at, base)
}

#[test]
fn a_squashfs_directory_loop_is_refused_before_it_is_walked() {
    let mut fs = backhand::FilesystemWriter::default();
    fs.set_kind(backhand::kind::Kind::new_v4(&STORED));
    let h = backhand::NodeHeader::default();
    fs.push_dir("a", h).unwrap();
    fs.push_dir("a/b", h).unwrap();
    fs.push_dir("a/b/c", h).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    fs.write(&mut out).unwrap();
    let mut image = out.into_inner();

    // Point /a/b/c at /a: a loop backhand would recurse around until the stack overflows.
    let (a_at, a_base) = listing_entry(&image, b'a');
    let a_key = i64::from(a_base) + i64::from(i16::from_le_bytes([image[a_at + 2], image[a_at + 3]]));
    let (c_at, c_base) = listing_entry(&image, b'c');
    let offset = i16::try_from(a_key - i64::from(c_base)).unwrap();
    image[c_at + 2..c_at + 4].copy_from_slice(&offset.to_le_bytes());

    let report = scan_bytes("loop.sqfs", &image, &ScanOptions::default());
    let sq = report.containers.iter().find(|c| c.format == "squashfs").unwrap();
    assert_eq!(sq.status, ContainerStatus::Corrupt, "{sq:#?}");
    assert!(sq.note.as_deref().unwrap().contains("listed twice"), "{sq:#?}");
}

#[test]
fn a_squashfs_file_with_an_out_of_range_fragment_is_corrupt_not_a_crash() {
    let mut fs = backhand::FilesystemWriter::default();
    fs.set_kind(backhand::kind::Kind::new_v4(&STORED));
    let content = vec![b'x'; 1234];
    fs.push_file(
        std::io::Cursor::new(content),
        "tail.bin",
        backhand::NodeHeader::default(),
    )
    .unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    fs.write(&mut out).unwrap();
    let mut image = out.into_inner();

    // Basic file inode: … frag_index (0), block_offset (0), file_size (1234).
    let pattern = [0, 0, 0, 0, 0, 0, 0, 0, 0xd2, 0x04, 0, 0];
    let at = memchr::memmem::find(&image, &pattern).unwrap();
    image[at..at + 4].copy_from_slice(&0x1000u32.to_le_bytes());

    let report = scan_bytes("frag.sqfs", &image, &ScanOptions::default());
    let sq = report.containers.iter().find(|c| c.format == "squashfs").unwrap();
    assert_eq!(sq.status, ContainerStatus::Corrupt, "{sq:#?}");
    assert!(sq.note.as_deref().unwrap().contains("tail.bin"), "{sq:#?}");
}

#[test]
fn values_that_overflowed_under_fuzzing_are_handled() {
    // A squashfs block_log of 40 (a shift past 32 bits).
    let mut fs = squashfs(&with_dirs(&bad_rootfs_nodes(&bad_shadow())), Compressor::Gzip);
    fs[22..24].copy_from_slice(&40u16.to_le_bytes());
    let report = scan_bytes("log.sqfs", &fs, &ScanOptions::default());
    assert!(
        report.containers.iter().all(|c| c.format != "squashfs"),
        "{:#?}",
        report.containers
    );

    // Control characters in a hash, which pwhash 1.0 underflows on.
    let shadow = "admin:$1$\u{1}\u{2}\u{3}$Q9PtxQkMFXFDIl/gzSpB80:19000::::::\nroot:\u{7}bcdefghijklm:1::::::\n";
    let image = cpio(&with_dirs(&[("etc/shadow".to_string(), shadow.as_bytes().to_vec())]));
    let report = scan_bytes("ctl.cpio", &image, &dictionary_options());
    assert_eq!(
        findings(&report, FindingKind::FixedAccount).len(),
        2,
        "{:#?}",
        report.findings
    );
    assert!(findings(&report, FindingKind::DefaultCredential).is_empty());
}
