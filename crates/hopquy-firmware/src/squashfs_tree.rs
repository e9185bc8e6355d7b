//! Checks a squashfs directory tree before backhand walks it. Backhand builds its node list
//! by recursing into every directory entry and refuses only a directory that lists itself:
//! a loop through two directories recurses until the stack overflows (an abort, not an
//! error), and a directory listed under many parents is walked once per listing, which
//! nested a few levels deep multiplies without bound. Here every directory may be listed
//! once, the nesting is bounded, and so is the number of entries.

use std::collections::HashSet;

use backhand::Squashfs;
use backhand::v4::inode::{Inode, InodeInner};

/// Deeper than any real root file system, shallow enough for backhand's recursion.
const MAX_DIRECTORY_DEPTH: usize = 128;
/// Directory entry type of a directory (extended inodes are listed by their basic type).
const DIRECTORY_TYPES: [u16; 2] = [1, 8];

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

pub(crate) enum Refusal {
    /// More entries than the scan may still walk: a limit, not a defect.
    Entries(u64),
    Malformed(String),
}

/// The number of entries, or why backhand must not be given this tree.
pub(crate) fn check(sq: &Squashfs<'_>, max_entries: u64) -> Result<u64, Refusal> {
    check_inner(sq, max_entries).map_err(|e| match e {
        Problem::Entries => Refusal::Entries(max_entries),
        Problem::Malformed(why) => Refusal::Malformed(why),
    })
}

enum Problem {
    Entries,
    Malformed(String),
}

impl From<String> for Problem {
    fn from(why: String) -> Self {
        Problem::Malformed(why)
    }
}

impl From<&str> for Problem {
    fn from(why: &str) -> Self {
        Problem::Malformed(why.to_string())
    }
}

fn check_inner(sq: &Squashfs<'_>, max_entries: u64) -> Result<u64, Problem> {
    let (index, table) = &sq.dir_blocks;
    let mut seen: HashSet<u32> = HashSet::new();
    seen.insert(sq.root_inode.header.inode_number);
    let mut stack: Vec<(&Inode, usize)> = vec![(&sq.root_inode, 0)];
    let mut entries = 0u64;
    while let Some((inode, depth)) = stack.pop() {
        let (block_index, size, block_offset) = match &inode.inner {
            InodeInner::BasicDirectory(d) => (
                u64::from(d.block_index),
                u32::from(d.file_size),
                usize::from(d.block_offset),
            ),
            InodeInner::ExtendedDirectory(d) => (u64::from(d.block_index), d.file_size, usize::from(d.block_offset)),
            _ => return Err("a directory entry names an inode that is not a directory".into()),
        };
        // As backhand reads it: a listing is `size - 3` bytes; under 4 means empty.
        if size < 4 {
            continue;
        }
        let listing = index
            .get(&block_index)
            .and_then(|&start| table.get(usize::try_from(start).ok()?..))
            .and_then(|block| block.get(block_offset..))
            .and_then(|rest| rest.get(..size as usize - 3))
            .ok_or("a directory listing lies outside the directory table")?;
        let mut at = 0usize;
        while let (Some(count), Some(base)) = (le32(listing, at), le32(listing, at + 8)) {
            at += 12;
            let count = u64::from(count) + 1;
            if count > 256 {
                break;
            }
            for _ in 0..count {
                let Some(entry) = listing.get(at..at + 8) else { break };
                let inode_offset = i16::from_le_bytes([entry[2], entry[3]]);
                let kind = u16::from_le_bytes([entry[4], entry[5]]);
                let name_len = usize::from(u16::from_le_bytes([entry[6], entry[7]])) + 1;
                at += 8 + name_len;
                entries += 1;
                if entries > max_entries {
                    return Err(Problem::Entries);
                }
                if !DIRECTORY_TYPES.contains(&kind) {
                    continue;
                }
                let Ok(key) = u32::try_from(i64::from(base) + i64::from(inode_offset)) else {
                    return Err("a directory entry names an impossible inode number".into());
                };
                if !seen.insert(key) {
                    return Err(format!("directory inode {key} is listed twice (a loop or a shared directory)").into());
                }
                if depth + 1 > MAX_DIRECTORY_DEPTH {
                    return Err(format!("directories nested deeper than {MAX_DIRECTORY_DEPTH} levels").into());
                }
                let child = sq
                    .inodes
                    .get(&key)
                    .ok_or_else(|| format!("a directory entry names missing inode {key}"))?;
                stack.push((child, depth + 1));
            }
        }
    }
    Ok(entries)
}
