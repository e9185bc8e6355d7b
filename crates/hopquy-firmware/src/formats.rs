//! Container formats: recognising them, and unpacking them through the scan's bounds.
//!
//! Each unpacker returns the number of bytes the container occupies in its parent when it
//! recognised one (even a corrupt one, which is recorded), or `None` for a false magic
//! number, which carving then skips silently.

use std::io::{Cursor, Read};

use memchr::memmem;

use crate::analyze::clean;
use crate::model::{ContainerStatus, LimitKind};
use crate::walk::{Counted, End, EntryKind, Fmt, Scan};

/// A header may declare any dictionary size; liblzma refuses to allocate beyond this.
const LZMA_MEMLIMIT: u64 = 256 << 20;
const UIMAGE_MAGIC: &[u8] = &[0x27, 0x05, 0x19, 0x56];
const FDT_MAGIC: &[u8] = &[0xd0, 0x0d, 0xfe, 0xed];
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b, 0x08];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const SQUASHFS_MAGIC: &[u8] = b"hsqs";
const SQUASHFS_BE_MAGIC: &[u8] = b"sqsh";
const CPIO_NEWC: &[u8] = b"070701";
const CPIO_CRC: &[u8] = b"070702";
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const USTAR: &[u8] = b"ustar";
const CRAMFS_LE: &[u8] = &[0x45, 0x3d, 0xcd, 0x28];
const CRAMFS_BE: &[u8] = &[0x28, 0xcd, 0x3d, 0x45];
const UBI_MAGIC: &[u8] = b"UBI#";
/// JFFS2 node magic 0x1985 followed by a node type that file systems start with
/// (dirent, inode, clean marker), little and big endian.
const JFFS2_MAGICS: [&[u8]; 6] = [
    &[0x85, 0x19, 0x01, 0xe0],
    &[0x85, 0x19, 0x02, 0xe0],
    &[0x85, 0x19, 0x03, 0x20],
    &[0x19, 0x85, 0xe0, 0x01],
    &[0x19, 0x85, 0xe0, 0x02],
    &[0x19, 0x85, 0x20, 0x03],
];

/// Magic-number candidates at every offset, sorted by offset.
pub(crate) fn candidates(data: &[u8], max: usize) -> Vec<(usize, Fmt)> {
    let mut found: Vec<(usize, Fmt)> = Vec::new();
    let mut add = |magic: &[u8], fmt: Fmt, back: usize| {
        for at in memmem::find_iter(data, magic).take(max) {
            if let Some(start) = at.checked_sub(back) {
                found.push((start, fmt));
            }
        }
    };
    add(UIMAGE_MAGIC, Fmt::UImage, 0);
    add(GZIP_MAGIC, Fmt::Gzip, 0);
    add(XZ_MAGIC, Fmt::Xz, 0);
    add(ZSTD_MAGIC, Fmt::Zstd, 0);
    add(SQUASHFS_MAGIC, Fmt::Squashfs, 0);
    add(SQUASHFS_BE_MAGIC, Fmt::Squashfs, 0);
    add(CPIO_NEWC, Fmt::Cpio, 0);
    add(CPIO_CRC, Fmt::Cpio, 0);
    add(ZIP_MAGIC, Fmt::Zip, 0);
    add(USTAR, Fmt::Tar, 257);
    add(CRAMFS_LE, Fmt::Cramfs, 0);
    add(CRAMFS_BE, Fmt::Cramfs, 0);
    add(UBI_MAGIC, Fmt::Ubi, 0);
    for magic in JFFS2_MAGICS {
        add(magic, Fmt::Jffs2, 0);
    }
    // A bare LZMA header has no magic number; only its plausible first bytes. Looked for
    // at the start of a blob only (a uImage says when its payload is LZMA).
    if lzma_header_plausible(data) {
        found.push((0, Fmt::Lzma));
    }
    if data.starts_with(FDT_MAGIC) {
        found.push((0, Fmt::Fit));
    }
    found.sort();
    found.dedup_by_key(|(offset, _)| *offset);
    found.truncate(max);
    found
}

/// The format a file starts with, if any (without searching the rest of it).
pub(crate) fn detect_at_start(data: &[u8]) -> Option<Fmt> {
    let starts = |magic: &[u8]| data.starts_with(magic);
    Some(match () {
        _ if starts(UIMAGE_MAGIC) => Fmt::UImage,
        _ if starts(FDT_MAGIC) => Fmt::Fit,
        _ if starts(GZIP_MAGIC) => Fmt::Gzip,
        _ if starts(XZ_MAGIC) => Fmt::Xz,
        _ if starts(ZSTD_MAGIC) => Fmt::Zstd,
        _ if starts(SQUASHFS_MAGIC) || starts(SQUASHFS_BE_MAGIC) => Fmt::Squashfs,
        _ if starts(CPIO_NEWC) || starts(CPIO_CRC) => Fmt::Cpio,
        _ if starts(ZIP_MAGIC) => Fmt::Zip,
        _ if data.get(257..262) == Some(USTAR) => Fmt::Tar,
        _ if starts(CRAMFS_LE) || starts(CRAMFS_BE) => Fmt::Cramfs,
        _ if starts(UBI_MAGIC) => Fmt::Ubi,
        _ if JFFS2_MAGICS.iter().any(|m| starts(m)) => Fmt::Jffs2,
        _ if lzma_header_plausible(data) => Fmt::Lzma,
        _ => return None,
    })
}

fn lzma_header_plausible(data: &[u8]) -> bool {
    if data.len() < 13 || data[0] != 0x5d {
        return false;
    }
    let dict = u32::from_le_bytes([data[1], data[2], data[3], data[4]]);
    let size = u64::from_le_bytes([
        data[5], data[6], data[7], data[8], data[9], data[10], data[11], data[12],
    ]);
    dict.is_power_of_two() && (1 << 16..=1 << 26).contains(&dict) && (size == u64::MAX || size < 1 << 32)
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn le16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at + 2)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn le32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn le64(data: &[u8], at: usize) -> Option<u64> {
    let b = data.get(at..at + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

pub(crate) fn child(path: &str, fmt: Fmt, offset: usize) -> String {
    format!("{path}[{}@{offset:#x}]", fmt.name())
}

// -------------------------------------------------------------------------------------
// uImage (U-Boot legacy header) and FIT
// -------------------------------------------------------------------------------------

pub(crate) fn uimage(scan: &mut Scan<'_>, path: &str, data: &[u8], offset: usize, depth: u32) -> Option<usize> {
    let header = data.get(offset..offset + 64)?;
    let stored_hcrc = be32(header, 4)?;
    let mut zeroed = header.to_vec();
    zeroed[4..8].fill(0);
    if crc32(&zeroed) != stored_hcrc {
        // A magic number without a valid header CRC is chance, except at the very start,
        // where the image claims to be a uImage and the lab must hear that it is broken.
        if offset == 0 {
            scan.container(
                Fmt::UImage,
                path,
                offset,
                64,
                ContainerStatus::Corrupt,
                None,
                Some("header CRC32 does not match".into()),
                None,
            );
        }
        return None;
    }
    let size = be32(header, 12)? as usize;
    let stored_dcrc = be32(header, 24)?;
    let (os, arch, kind, comp) = (header[28], header[29], header[30], header[31]);
    let name_bytes = &header[32..64];
    let name_end = name_bytes.iter().position(|&b| b == 0).unwrap_or(name_bytes.len());
    let name = clean(&String::from_utf8_lossy(&name_bytes[..name_end]), 32);
    let start = offset + 64;
    let end = start.saturating_add(size).min(data.len());
    let payload = &data[start..end];
    let truncated = payload.len() < size;
    let dcrc_ok = !truncated && crc32(payload) == stored_dcrc;
    let kind_name = match kind {
        2 => "kernel",
        3 => "ramdisk",
        4 => "multi",
        5 => "firmware",
        6 => "script",
        7 => "filesystem",
        8 => "flat_dt",
        _ => "other",
    };
    let (comp_name, hint) = match comp {
        0 => ("none", None),
        1 => ("gzip", Some(Fmt::Gzip)),
        2 => ("bzip2", None),
        3 => ("lzma", Some(Fmt::Lzma)),
        4 => ("lzo", None),
        5 => ("lz4", None),
        6 => ("zstd", Some(Fmt::Zstd)),
        _ => ("unknown", None),
    };
    let note = format!(
        "name {name:?}, type {kind_name}, os {os}, arch {arch}, compression {comp_name}, header CRC32 ok, data CRC32 {}",
        if truncated {
            "not checked (truncated)"
        } else if dcrc_ok {
            "ok"
        } else {
            "MISMATCH"
        }
    );
    scan.crc_evidence.push(format!(
        "uImage legacy header at {}{offset:#x}: CRC32 checksums only, which anyone can recompute",
        if path.is_empty() { "" } else { path }
    ));
    let status = if truncated {
        ContainerStatus::Truncated
    } else if !dcrc_ok {
        ContainerStatus::Corrupt
    } else if hint.is_none() && comp != 0 {
        ContainerStatus::Unsupported
    } else {
        ContainerStatus::Unpacked
    };
    let unsupported = status == ContainerStatus::Unsupported;
    scan.container(
        Fmt::UImage,
        path,
        offset,
        64 + payload.len(),
        status,
        None,
        Some(note),
        unsupported.then_some(payload),
    );
    if !unsupported && !scan.too_deep(Fmt::UImage, path, offset, 64 + payload.len(), depth) {
        scan.carve(&child(path, Fmt::UImage, offset), payload, depth + 1, hint);
    }
    Some(64 + payload.len())
}

pub(crate) fn fit(scan: &mut Scan<'_>, path: &str, data: &[u8], offset: usize, depth: u32) -> Option<usize> {
    let total = be32(data, offset + 4)? as usize;
    if total < 0x28 {
        return None;
    }
    let end = offset.saturating_add(total).min(data.len());
    let blob = &data[offset..end];
    // FIT signature nodes are named `signature` or `signature@N`/`signature-N`; hash
    // nodes alone are an unkeyed digest.
    let signed = memmem::find(blob, b"signature").is_some();
    let where_ = format!("{}{offset:#x}", if path.is_empty() { "" } else { path });
    if signed {
        scan.signed_evidence
            .push(format!("FIT image at {where_} with a signature node"));
    } else if memmem::find(blob, b"hash").is_some() {
        scan.crc_evidence.push(format!(
            "FIT image at {where_} with hash nodes and no signature node (an unkeyed digest)"
        ));
    }
    let status = if blob.len() < total {
        ContainerStatus::Truncated
    } else {
        ContainerStatus::Unpacked
    };
    scan.container(
        Fmt::Fit,
        path,
        offset,
        blob.len(),
        status,
        None,
        Some(
            if signed {
                "signature node present"
            } else {
                "no signature node"
            }
            .into(),
        ),
        None,
    );
    if !scan.too_deep(Fmt::Fit, path, offset, blob.len(), depth) {
        // The images a FIT carries are property values: carving its body finds them.
        scan.carve(
            &child(path, Fmt::Fit, offset),
            blob.get(0x28..).unwrap_or(&[]),
            depth + 1,
            None,
        );
    }
    Some(blob.len())
}

// -------------------------------------------------------------------------------------
// Compressed streams
// -------------------------------------------------------------------------------------

/// Shortest output a carved stream that then fails must have produced to be recorded: less
/// is what random bytes after a chance magic number decode to.
const MIN_CARVED_OUTPUT: usize = 64;

pub(crate) fn stream(
    scan: &mut Scan<'_>,
    fmt: Fmt,
    path: &str,
    data: &[u8],
    offset: usize,
    depth: u32,
) -> Option<usize> {
    let input = &data[offset..];
    // gzip: reserved flag bits clear and a known OS byte, or it is chance.
    if fmt == Fmt::Gzip && offset != 0 {
        let flags = *input.get(3)?;
        let os = *input.get(9)?;
        if flags & 0xe0 != 0 || !(os <= 13 || os == 255) {
            return None;
        }
    }
    if scan.too_deep(fmt, path, offset, input.len(), depth) {
        return Some(input.len());
    }
    let (counted, used) = Counted::new(input);
    let drained = match fmt {
        Fmt::Gzip => scan.drain(&mut flate2::bufread::GzDecoder::new(counted), &used, path, offset),
        Fmt::Xz => {
            let stream = match liblzma::stream::Stream::new_stream_decoder(LZMA_MEMLIMIT, 0) {
                Ok(s) => s,
                Err(_) => return None,
            };
            scan.drain(
                &mut liblzma::bufread::XzDecoder::new_stream(counted, stream),
                &used,
                path,
                offset,
            )
        }
        Fmt::Lzma => {
            let stream = match liblzma::stream::Stream::new_lzma_decoder(LZMA_MEMLIMIT) {
                Ok(s) => s,
                Err(_) => return None,
            };
            scan.drain(
                &mut liblzma::bufread::XzDecoder::new_stream(counted, stream),
                &used,
                path,
                offset,
            )
        }
        Fmt::Zstd => match zstd::stream::read::Decoder::with_buffer(counted) {
            Ok(d) => scan.drain(&mut d.single_frame(), &used, path, offset),
            Err(_) => return None,
        },
        _ => return None,
    };
    let consumed = used.get().min(input.len());
    let (status, note) = match &drained.end {
        End::Complete => (ContainerStatus::Unpacked, None),
        End::Truncated => (ContainerStatus::Truncated, Some("stream ends early".to_string())),
        End::Corrupt(e) => (ContainerStatus::Corrupt, Some(clean(e, 200))),
        End::Limited => (
            ContainerStatus::Limited,
            Some("stopped at a limit (see limits_hit)".to_string()),
        ),
    };
    // A carved magic number that decodes to nothing is chance, not a broken stream.
    if drained.bytes.len() < MIN_CARVED_OUTPUT
        && !matches!(status, ContainerStatus::Unpacked | ContainerStatus::Limited)
        && offset != 0
    {
        return None;
    }
    let note = Some(match note {
        Some(n) => format!("{} bytes out; {n}", drained.bytes.len()),
        None => format!("{} bytes out", drained.bytes.len()),
    });
    scan.container(fmt, path, offset, consumed, status, None, note, None);
    scan.carve(&child(path, fmt, offset), &drained.bytes, depth + 1, None);
    Some(consumed.max(1))
}

// -------------------------------------------------------------------------------------
// cpio (newc and crc), hand-written: the format is 110 bytes of hex fields
// -------------------------------------------------------------------------------------

pub(crate) fn cpio(scan: &mut Scan<'_>, path: &str, data: &[u8], offset: usize, depth: u32) -> Option<usize> {
    let archive = &data[offset..];
    let hex = |at: usize| -> Option<usize> {
        let field = archive.get(at..at + 8)?;
        usize::from_str_radix(std::str::from_utf8(field).ok()?, 16).ok()
    };
    // The first header must parse completely, or this was a chance "070701".
    hex(6 + 11 * 8)?;
    if scan.too_deep(Fmt::Cpio, path, offset, archive.len(), depth) {
        return Some(archive.len());
    }
    let root = child(path, Fmt::Cpio, offset);
    let align4 = |n: usize| n.checked_add(3).map(|n| n & !3);
    let mut pos = 0usize;
    let mut entries = 0u64;
    let mut status = ContainerStatus::Truncated;
    let mut note = None;
    while let Some(head) = archive.get(pos..pos + 6) {
        if head != CPIO_NEWC && head != CPIO_CRC {
            status = ContainerStatus::Corrupt;
            note = Some(format!("bad header magic at {pos:#x}"));
            break;
        }
        let fields: Option<Vec<usize>> = (0..13).map(|i| hex(pos + 6 + i * 8)).collect();
        let Some(f) = fields else {
            status = ContainerStatus::Corrupt;
            note = Some(format!("bad header field at {pos:#x}"));
            break;
        };
        let (mode, filesize, namesize) = (f[1], f[6], f[11]);
        let name_start = pos + 110;
        let Some(name_end) = name_start.checked_add(namesize) else {
            break;
        };
        let Some(raw_name) = archive.get(name_start..name_end) else {
            break;
        };
        let raw_name = raw_name.strip_suffix(&[0]).unwrap_or(raw_name);
        let Some(data_start) = align4(name_end) else { break };
        let Some(data_end) = data_start.checked_add(filesize) else {
            break;
        };
        if raw_name == b"TRAILER!!!" {
            status = ContainerStatus::Unpacked;
            pos = align4(data_end).unwrap_or(data_end).min(archive.len());
            break;
        }
        let Some(content) = archive.get(data_start..data_end) else {
            note = Some(format!("entry data runs past the end at {pos:#x}"));
            break;
        };
        if !scan.admit_entry(&root) {
            status = ContainerStatus::Limited;
            break;
        }
        entries += 1;
        let kind = match mode & 0o170000 {
            0o100000 => {
                if filesize as u64 > scan.read_cap() {
                    scan.limit(
                        LimitKind::FileBytes,
                        &format!("{root}{}", String::from_utf8_lossy(raw_name)),
                        0,
                        format!("{filesize}-byte entry not analysed"),
                    );
                    EntryKind::Dir
                } else {
                    scan.spend(filesize);
                    EntryKind::File(content)
                }
            }
            0o040000 => EntryKind::Dir,
            0o120000 => EntryKind::Symlink(String::from_utf8_lossy(content).into_owned()),
            0o020000 => EntryKind::Special("character device"),
            0o060000 => EntryKind::Special("block device"),
            0o010000 => EntryKind::Special("FIFO"),
            0o140000 => EntryKind::Special("socket"),
            _ => EntryKind::Special("unknown type"),
        };
        scan.entry(Fmt::Cpio, &root, raw_name, kind, depth + 1);
        let Some(next) = align4(data_end) else { break };
        pos = next;
    }
    scan.filesystem_walked();
    scan.container(
        Fmt::Cpio,
        path,
        offset,
        pos.min(archive.len()),
        status,
        Some(entries),
        note,
        None,
    );
    Some(pos.max(110).min(archive.len()))
}

// -------------------------------------------------------------------------------------
// tar and zip, through their crates
// -------------------------------------------------------------------------------------

pub(crate) fn tar(scan: &mut Scan<'_>, path: &str, data: &[u8], offset: usize, depth: u32) -> Option<usize> {
    let archive_bytes = &data[offset..];
    let header = archive_bytes.get(..512)?;
    // The header checksum: the sum of its bytes with the checksum field read as spaces.
    let stored = std::str::from_utf8(&header[148..156])
        .ok()
        .and_then(|s| usize::from_str_radix(s.trim_matches(|c: char| c == '\0' || c == ' '), 8).ok())?;
    let sum: usize = header
        .iter()
        .enumerate()
        .map(|(i, &b)| if (148..156).contains(&i) { 32 } else { usize::from(b) })
        .sum();
    if sum != stored {
        return None;
    }
    if scan.too_deep(Fmt::Tar, path, offset, archive_bytes.len(), depth) {
        return Some(archive_bytes.len());
    }
    let root = child(path, Fmt::Tar, offset);
    let mut archive = ::tar::Archive::new(archive_bytes);
    let mut entries = 0u64;
    let mut status = ContainerStatus::Unpacked;
    let mut note = None;
    match archive.entries() {
        Err(e) => {
            status = ContainerStatus::Corrupt;
            note = Some(clean(&e.to_string(), 200));
        }
        Ok(iter) => {
            for entry in iter {
                let mut entry = match entry {
                    Ok(e) => e,
                    Err(e) => {
                        status = ContainerStatus::Corrupt;
                        note = Some(clean(&e.to_string(), 200));
                        break;
                    }
                };
                if !scan.admit_entry(&root) {
                    status = ContainerStatus::Limited;
                    break;
                }
                entries += 1;
                let name = entry.path_bytes().into_owned();
                let link = entry
                    .link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .unwrap_or_default();
                let size = entry.size();
                use ::tar::EntryType as T;
                let entry_type = entry.header().entry_type();
                let mut content = Vec::new();
                let kind = match entry_type {
                    T::Regular | T::Continuous | T::GNUSparse => {
                        let cap = scan.read_cap();
                        if size > cap {
                            scan.limit(
                                LimitKind::FileBytes,
                                &format!("{root}{}", String::from_utf8_lossy(&name)),
                                0,
                                format!("{size}-byte entry not analysed"),
                            );
                            EntryKind::Dir
                        } else {
                            if let Err(e) = (&mut entry).take(cap).read_to_end(&mut content) {
                                status = ContainerStatus::Truncated;
                                note = Some(clean(&e.to_string(), 200));
                            }
                            scan.spend(content.len());
                            EntryKind::File(&content)
                        }
                    }
                    T::Directory => EntryKind::Dir,
                    T::Symlink => EntryKind::Symlink(link),
                    T::Link => EntryKind::Hardlink(link),
                    T::Char => EntryKind::Special("character device"),
                    T::Block => EntryKind::Special("block device"),
                    T::Fifo => EntryKind::Special("FIFO"),
                    _ => EntryKind::Dir,
                };
                scan.entry(Fmt::Tar, &root, &name, kind, depth + 1);
                if status == ContainerStatus::Truncated {
                    break;
                }
            }
        }
    }
    scan.filesystem_walked();
    scan.container(
        Fmt::Tar,
        path,
        offset,
        archive_bytes.len(),
        status,
        Some(entries),
        note,
        None,
    );
    Some(archive_bytes.len())
}

pub(crate) fn zip(scan: &mut Scan<'_>, path: &str, data: &[u8], offset: usize, depth: u32) -> Option<usize> {
    let archive_bytes = &data[offset..];
    let mut archive = match ::zip::ZipArchive::new(Cursor::new(archive_bytes)) {
        Ok(a) => a,
        Err(e) => {
            if offset == 0 {
                scan.container(
                    Fmt::Zip,
                    path,
                    offset,
                    archive_bytes.len(),
                    ContainerStatus::Corrupt,
                    None,
                    Some(clean(&e.to_string(), 200)),
                    None,
                );
                return Some(archive_bytes.len());
            }
            return None;
        }
    };
    if scan.too_deep(Fmt::Zip, path, offset, archive_bytes.len(), depth) {
        return Some(archive_bytes.len());
    }
    let root = child(path, Fmt::Zip, offset);
    let mut entries = 0u64;
    let mut status = ContainerStatus::Unpacked;
    let mut notes: Vec<String> = Vec::new();
    for index in 0..archive.len() {
        if !scan.admit_entry(&root) {
            status = ContainerStatus::Limited;
            break;
        }
        entries += 1;
        let mut file = match archive.by_index(index) {
            Ok(f) => f,
            Err(e) => {
                status = ContainerStatus::Corrupt;
                if notes.len() < 5 {
                    notes.push(format!("entry {index}: {}", clean(&e.to_string(), 120)));
                }
                continue;
            }
        };
        let name = file.name_raw().to_vec();
        if file.is_dir() {
            scan.entry(Fmt::Zip, &root, &name, EntryKind::Dir, depth + 1);
            continue;
        }
        let compressed = file.compressed_size();
        let symlink = file.is_symlink();
        // The ratio bound applies before reading: an entry may produce at most this much.
        let by_ratio = compressed
            .max(1)
            .saturating_mul(scan.opts.max_ratio)
            .max(scan.opts.ratio_floor_bytes);
        let cap = scan.read_cap().min(by_ratio);
        let mut content = Vec::new();
        let read = (&mut file).take(cap.saturating_add(1)).read_to_end(&mut content);
        if let Err(e) = read {
            status = ContainerStatus::Corrupt;
            if notes.len() < 5 {
                notes.push(format!("entry {index}: {}", clean(&e.to_string(), 120)));
            }
        }
        let entry_path = format!("{root}{}", crate::walk::normalise(&String::from_utf8_lossy(&name)).0);
        if content.len() as u64 > cap {
            content.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
            let (kind, what) = if cap == by_ratio {
                (
                    LimitKind::Ratio,
                    format!("decompression bomb: more than {cap} bytes out of {compressed}"),
                )
            } else {
                (LimitKind::FileBytes, format!("entry stopped at {cap} bytes"))
            };
            scan.limit(kind, &entry_path, 0, what);
        }
        scan.spend(content.len());
        let kind = if symlink {
            EntryKind::Symlink(String::from_utf8_lossy(&content).into_owned())
        } else {
            EntryKind::File(&content)
        };
        scan.entry(Fmt::Zip, &root, &name, kind, depth + 1);
    }
    scan.filesystem_walked();
    scan.container(
        Fmt::Zip,
        path,
        offset,
        archive_bytes.len(),
        status,
        Some(entries),
        (!notes.is_empty()).then(|| notes.join("; ")),
        None,
    );
    Some(archive_bytes.len())
}

// -------------------------------------------------------------------------------------
// squashfs, through backhand
// -------------------------------------------------------------------------------------

/// Runs backhand on image bytes, turning a panic into an error. Backhand indexes some tables
/// with values from the image (a file's fragment index, a fragment's offset) without a
/// bounds check; a crafted image must give a `corrupt` file system, not end the scan.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|_| "malformed file system: the squashfs reader stopped on an out-of-range value".to_string())
}

pub(crate) fn squashfs(scan: &mut Scan<'_>, path: &str, data: &[u8], offset: usize, depth: u32) -> Option<usize> {
    let fs_bytes = &data[offset..];
    let sb = fs_bytes.get(..96)?;
    if sb.starts_with(SQUASHFS_BE_MAGIC) {
        scan.container(
            Fmt::Squashfs,
            path,
            offset,
            fs_bytes.len(),
            ContainerStatus::Unsupported,
            None,
            Some("big-endian (squashfs 3.x or older) is not unpacked".into()),
            Some(fs_bytes),
        );
        return Some(fs_bytes.len());
    }
    let inodes = le32(sb, 4)?;
    let block_size = le32(sb, 12)?;
    let compressor = le16(sb, 20)?;
    let block_log = le16(sb, 22)?;
    let major = le16(sb, 28)?;
    let bytes_used = le64(sb, 40)?;
    let log_matches = 1u32.checked_shl(u32::from(block_log)) == Some(block_size);
    if !(block_size.is_power_of_two() && (4096..=1 << 20).contains(&block_size) && log_matches) {
        return None;
    }
    if major != 4 {
        scan.container(
            Fmt::Squashfs,
            path,
            offset,
            fs_bytes.len(),
            ContainerStatus::Unsupported,
            None,
            Some(format!("squashfs version {major}; only version 4 is unpacked")),
            Some(fs_bytes),
        );
        return Some(fs_bytes.len());
    }
    let comp_name = match compressor {
        1 => "gzip",
        2 => "lzma",
        3 => "lzo",
        4 => "xz",
        5 => "lz4",
        6 => "zstd",
        _ => "unknown",
    };
    let size = usize::try_from(bytes_used).unwrap_or(usize::MAX);
    if size > fs_bytes.len() {
        scan.container(
            Fmt::Squashfs,
            path,
            offset,
            fs_bytes.len(),
            ContainerStatus::Truncated,
            None,
            Some(format!(
                "superblock says {bytes_used} bytes, {} present; compression {comp_name}",
                fs_bytes.len()
            )),
            None,
        );
        return Some(fs_bytes.len());
    }
    let fs_bytes = &fs_bytes[..size];
    if matches!(compressor, 2 | 3) || comp_name == "unknown" {
        scan.container(
            Fmt::Squashfs,
            path,
            offset,
            size,
            ContainerStatus::Unsupported,
            None,
            Some(format!("compression {comp_name} is not unpacked by this version")),
            Some(fs_bytes),
        );
        return Some(size);
    }
    if scan.too_deep(Fmt::Squashfs, path, offset, size, depth) {
        return Some(size);
    }
    if u64::from(inodes) > scan.opts.max_entries {
        scan.container(
            Fmt::Squashfs,
            path,
            offset,
            size,
            ContainerStatus::Limited,
            None,
            Some(format!("{inodes} inodes")),
            None,
        );
        scan.limit(
            LimitKind::Entries,
            path,
            offset as u64,
            format!(
                "squashfs declares {inodes} inodes, more than the {} entry limit",
                scan.opts.max_entries
            ),
        );
        return Some(size);
    }
    // Everything backhand decompresses (tables and file blocks) shares what is left of the
    // scan's budget; the walk below reads the files, so it runs inside the same bound.
    let budget = scan.opts.max_total_bytes.saturating_sub(scan.produced());
    let _ = crate::squashfs_codec::with_budget(budget, || {
        let corrupt = |scan: &mut Scan<'_>, why: String| {
            scan.container(
                Fmt::Squashfs,
                path,
                offset,
                size,
                ContainerStatus::Corrupt,
                None,
                Some(format!("compression {comp_name}; {}", clean(&why, 200))),
                None,
            );
        };
        let squashfs = match guarded(|| {
            backhand::Squashfs::from_reader_with_offset_and_kind(
                Cursor::new(fs_bytes),
                0,
                backhand::kind::Kind::new_v4(&crate::squashfs_codec::BOUNDED),
            )
        }) {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return corrupt(scan, e.to_string()),
            Err(why) => return corrupt(scan, why),
        };
        let remaining_entries = scan.opts.max_entries.saturating_sub(scan.entries_walked());
        match crate::squashfs_tree::check(&squashfs, remaining_entries) {
            Ok(_) => {}
            Err(crate::squashfs_tree::Refusal::Malformed(why)) => return corrupt(scan, why),
            Err(crate::squashfs_tree::Refusal::Entries(left)) => {
                scan.container(
                    Fmt::Squashfs,
                    path,
                    offset,
                    size,
                    ContainerStatus::Limited,
                    None,
                    Some(format!(
                        "compression {comp_name}; more entries than the {left} the scan may still walk"
                    )),
                    None,
                );
                scan.limit(
                    LimitKind::Entries,
                    path,
                    offset as u64,
                    format!("squashfs holds more than the {left} entries left of the entry limit; not walked"),
                );
                return;
            }
        }
        let reader = match guarded(|| squashfs.into_filesystem_reader()) {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return corrupt(scan, e.to_string()),
            Err(why) => return corrupt(scan, why),
        };
        let root = child(path, Fmt::Squashfs, offset);
        let mut entries = 0u64;
        let mut status = ContainerStatus::Unpacked;
        let mut errors: Vec<String> = Vec::new();
        for node in reader.files() {
            if !scan.admit_entry(&root) {
                status = ContainerStatus::Limited;
                break;
            }
            entries += 1;
            let name = node.fullpath.to_string_lossy().into_owned();
            let mut content = Vec::new();
            let kind = match &node.inner {
                backhand::InnerNode::File(file) => {
                    let len = file.file_len() as u64;
                    let cap = scan.read_cap();
                    if len > cap {
                        scan.limit(
                            LimitKind::FileBytes,
                            &format!("{root}{}", crate::walk::normalise(&name).0),
                            0,
                            format!("{len}-byte file not analysed"),
                        );
                        EntryKind::Dir
                    } else {
                        // Backhand indexes the fragment table with this unchecked.
                        let fragment = file.frag_index();
                        let fragments = reader.fragments.as_ref().map_or(0, Vec::len);
                        let read = if fragment != 0xffff_ffff && fragment >= fragments {
                            Err(format!("fragment {fragment} of a {fragments}-entry table"))
                        } else {
                            guarded(|| {
                                reader
                                    .file(file)
                                    .reader()
                                    .take(cap.saturating_add(1))
                                    .read_to_end(&mut content)
                                    .map_err(|e| e.to_string())
                            })
                            .and_then(|r| r)
                        };
                        if let Err(e) = read {
                            status = ContainerStatus::Corrupt;
                            if errors.len() < 5 {
                                errors.push(format!("{}: {}", clean(&name, 80), clean(&e.to_string(), 120)));
                            }
                        }
                        content.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
                        scan.spend(content.len());
                        EntryKind::File(&content)
                    }
                }
                backhand::InnerNode::Dir(_) => EntryKind::Dir,
                backhand::InnerNode::Symlink(link) => EntryKind::Symlink(link.link.to_string_lossy().into_owned()),
                backhand::InnerNode::CharacterDevice(_) => EntryKind::Special("character device"),
                backhand::InnerNode::BlockDevice(_) => EntryKind::Special("block device"),
                backhand::InnerNode::NamedPipe => EntryKind::Special("FIFO"),
                backhand::InnerNode::Socket => EntryKind::Special("socket"),
            };
            scan.entry(Fmt::Squashfs, &root, name.as_bytes(), kind, depth + 1);
        }
        scan.filesystem_walked();
        let mut note = format!("compression {comp_name}, block size {block_size}");
        if !errors.is_empty() {
            note.push_str("; unreadable: ");
            note.push_str(&errors.join("; "));
        }
        scan.container(
            Fmt::Squashfs,
            path,
            offset,
            size,
            status,
            Some(entries),
            Some(note),
            None,
        );
    });
    Some(size)
}

// -------------------------------------------------------------------------------------
// Recognised, not unpacked
// -------------------------------------------------------------------------------------

pub(crate) fn unsupported(
    scan: &mut Scan<'_>,
    fmt: Fmt,
    path: &str,
    data: &[u8],
    offset: usize,
    depth: u32,
) -> Option<usize> {
    let rest = &data[offset..];
    let (size, note) = match fmt {
        Fmt::Cramfs => {
            if rest.get(16..32) != Some(&b"Compressed ROMFS"[..]) {
                return None;
            }
            let size = le32(rest, 4).map(|s| s as usize).filter(|&s| s >= 76)?;
            (size.min(rest.len()), "cramfs recognised")
        }
        // Erase-block file systems run to the end of their partition; with no partition
        // table that is the end of the blob.
        Fmt::Jffs2 => {
            if !jffs2_header_crc_ok(rest) {
                return None;
            }
            (rest.len(), "jffs2 recognised")
        }
        Fmt::Ubi => {
            // Erase-counter header: version 1, then three zero padding bytes.
            if rest.get(4..8) != Some(&[1, 0, 0, 0][..]) {
                return None;
            }
            (rest.len(), "UBI/UBIFS recognised")
        }
        _ => return None,
    };
    if scan.too_deep(fmt, path, offset, size, depth) {
        return Some(size);
    }
    match crate::external::unpack(scan, fmt, path, &rest[..size], offset, depth) {
        Some(crate::external::Outcome::Ran { status, entries, note }) => {
            scan.container(fmt, path, offset, size, status, Some(entries), Some(note), None);
        }
        Some(crate::external::Outcome::Missing(why)) => scan.container(
            fmt,
            path,
            offset,
            size,
            ContainerStatus::Unsupported,
            None,
            Some(format!("{note}: {why}")),
            Some(&rest[..size]),
        ),
        None => scan.container(
            fmt,
            path,
            offset,
            size,
            ContainerStatus::Unsupported,
            None,
            Some(note.into()),
            Some(&rest[..size]),
        ),
    }
    Some(size)
}

/// Linux `crc32(0, …)` as JFFS2 uses it: no pre- or post-inversion, so not zlib's value.
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

/// A JFFS2 node header carries the CRC of its first 8 bytes in the file system's byte order.
fn jffs2_header_crc_ok(node: &[u8]) -> bool {
    let Some(head) = node.get(..12) else { return false };
    let stored = [head[8], head[9], head[10], head[11]];
    let crc = crc32_linux(&head[..8]);
    if head[0] == 0x85 {
        u32::from_le_bytes(stored) == crc
    } else {
        u32::from_be_bytes(stored) == crc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jffs2_magic_needs_its_header_crc() {
        let mut node = vec![0x85, 0x19, 0x03, 0x20, 0x0c, 0, 0, 0];
        assert!(!jffs2_header_crc_ok(&[node.clone(), vec![1, 2, 3, 4]].concat()));
        node.extend(crc32_linux(&node).to_le_bytes());
        assert!(jffs2_header_crc_ok(&node));
    }

    #[test]
    fn files_are_recognised_by_their_first_bytes_only() {
        assert_eq!(detect_at_start(b"hsqs...."), Some(Fmt::Squashfs));
        assert_eq!(detect_at_start(b"070701"), Some(Fmt::Cpio));
        assert_eq!(detect_at_start(b"text then hsqs"), None);
    }
}
