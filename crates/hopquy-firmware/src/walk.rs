//! The recursive, bounded walk: carving containers out of blobs, decompressing streams,
//! walking archive entries, handing every file's bytes to the analysers, and assembling the
//! sorted report.
//!
//! Virtual paths: a container's content is named after its parent with `[format@0xOFFSET]`
//! appended, and a file inside an archive by its normalised path after that, so
//! `[uimage@0x0][gzip@0x0][cpio@0x0]/etc/shadow` is the `/etc/shadow` of the cpio archive
//! inside the gzip stream that is the payload of the uImage at the start of the image.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read};
use std::rc::Rc;

use crate::model::*;
use crate::{ScanOptions, analyze, entropy, formats, sha256_hex};

/// Gaps at least this long with at least this entropy are reported as opaque data.
const OPAQUE_MIN_BYTES: usize = 64 * 1024;
const OPAQUE_MIN_ENTROPY: f64 = 7.5;
/// Carving stops looking after this many magic-number candidates in one blob: random data
/// holds some by chance, a hostile blob made of nothing else must not cost a parse each.
const MAX_CANDIDATES: usize = 4096;
/// Evidence paths kept per component.
const MAX_COMPONENT_EVIDENCE: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Fmt {
    UImage,
    Fit,
    Gzip,
    Xz,
    Lzma,
    Zstd,
    Squashfs,
    Cpio,
    Tar,
    Zip,
    Cramfs,
    Jffs2,
    Ubi,
}

impl Fmt {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Fmt::UImage => "uimage",
            Fmt::Fit => "fit",
            Fmt::Gzip => "gzip",
            Fmt::Xz => "xz",
            Fmt::Lzma => "lzma",
            Fmt::Zstd => "zstd",
            Fmt::Squashfs => "squashfs",
            Fmt::Cpio => "cpio",
            Fmt::Tar => "tar",
            Fmt::Zip => "zip",
            Fmt::Cramfs => "cramfs",
            Fmt::Jffs2 => "jffs2",
            Fmt::Ubi => "ubi",
        }
    }
}

/// What an archive walker hands over for each entry.
pub(crate) enum EntryKind<'a> {
    File(&'a [u8]),
    Dir,
    Symlink(String),
    Hardlink(String),
    Special(&'static str),
}

/// The scan's state: budgets spent and everything found so far.
pub(crate) struct Scan<'o> {
    pub(crate) opts: &'o ScanOptions,
    produced: u64,
    entries: u64,
    entries_exhausted: bool,
    total_exhausted: bool,
    containers: Vec<Container>,
    findings: Vec<Finding>,
    limits_hit: Vec<LimitHit>,
    components: BTreeMap<(String, String), (String, BTreeSet<String>)>,
    pub(crate) signed_evidence: Vec<String>,
    pub(crate) crc_evidence: Vec<String>,
    filesystems: u32,
    /// Device nodes and other special entries per archive, reported as one finding each.
    specials: BTreeMap<String, Vec<String>>,
}

pub(crate) fn run(name: &str, image: &[u8], opts: &ScanOptions) -> FirmwareReport {
    let mut scan = Scan {
        opts,
        produced: 0,
        entries: 0,
        entries_exhausted: false,
        total_exhausted: false,
        containers: Vec::new(),
        findings: Vec::new(),
        limits_hit: Vec::new(),
        components: BTreeMap::new(),
        signed_evidence: Vec::new(),
        crc_evidence: Vec::new(),
        filesystems: 0,
        specials: BTreeMap::new(),
    };
    scan.carve("", image, 0, None);
    analyze::trailers(&mut scan, image);
    scan.finish(name, image)
}

impl Scan<'_> {
    // ---------------------------------------------------------------------------------
    // Recording
    // ---------------------------------------------------------------------------------

    pub(crate) fn finding(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    pub(crate) fn limit(&mut self, limit: LimitKind, path: &str, offset: u64, detail: String) {
        tracing::info!(?limit, path = ?path, offset, "firmware scan limit reached");
        self.limits_hit.push(LimitHit {
            limit,
            path: path.to_string(),
            offset,
            detail,
        });
    }

    pub(crate) fn component(&mut self, name: &str, version: &str, component_type: &str, path: &str) {
        let entry = self
            .components
            .entry((name.to_string(), version.to_string()))
            .or_insert_with(|| (component_type.to_string(), BTreeSet::new()));
        entry.1.insert(if path.is_empty() {
            "(image)".into()
        } else {
            path.to_string()
        });
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn container(
        &mut self,
        fmt: Fmt,
        path: &str,
        offset: usize,
        size: usize,
        status: ContainerStatus,
        entries: Option<u64>,
        note: Option<String>,
        entropy_of: Option<&[u8]>,
    ) {
        tracing::debug!(format = fmt.name(), path = ?path, offset, ?status, "container");
        self.containers.push(Container {
            format: fmt.name().to_string(),
            path: path.to_string(),
            offset: offset as u64,
            size: size as u64,
            status,
            entropy: entropy_of.map(entropy),
            entries,
            note,
        });
    }

    /// Bytes one more decompression or entry may produce: the per-file bound, or what is
    /// left of the total budget.
    pub(crate) fn read_cap(&self) -> u64 {
        self.opts
            .max_file_bytes
            .min(self.opts.max_total_bytes.saturating_sub(self.produced))
    }

    pub(crate) fn entries_walked(&self) -> u64 {
        self.entries
    }

    pub(crate) fn produced(&self) -> u64 {
        self.produced
    }

    /// Accounts for `n` produced bytes.
    pub(crate) fn spend(&mut self, n: usize) {
        self.produced = self.produced.saturating_add(n as u64);
    }

    /// Records, once, that the total budget ran out; true when it has.
    pub(crate) fn total_exhausted(&mut self, path: &str, offset: u64) -> bool {
        if self.produced < self.opts.max_total_bytes {
            return false;
        }
        if !self.total_exhausted {
            self.total_exhausted = true;
            self.limit(
                LimitKind::TotalBytes,
                path,
                offset,
                format!(
                    "{} bytes extracted in total; nothing after this was unpacked",
                    self.opts.max_total_bytes
                ),
            );
        }
        true
    }

    /// True (and the limit recorded) when a container at `depth + 1` would be too deep.
    pub(crate) fn too_deep(&mut self, fmt: Fmt, path: &str, offset: usize, size: usize, depth: u32) -> bool {
        if depth < self.opts.max_depth {
            return false;
        }
        self.container(
            fmt,
            path,
            offset,
            size,
            ContainerStatus::Limited,
            None,
            Some("nested too deep".into()),
            None,
        );
        self.limit(
            LimitKind::Depth,
            path,
            offset as u64,
            format!(
                "{} container nested deeper than {} levels",
                fmt.name(),
                self.opts.max_depth
            ),
        );
        true
    }

    // ---------------------------------------------------------------------------------
    // Blobs
    // ---------------------------------------------------------------------------------

    /// A blob with no file-system context (the image, a decompressed stream, a uImage
    /// payload): containers are looked for at every offset, and what lies between them is
    /// analysed as raw bytes.
    pub(crate) fn carve(&mut self, path: &str, data: &[u8], depth: u32, hint: Option<Fmt>) {
        let mut candidates = formats::candidates(data, MAX_CANDIDATES);
        if let Some(hint) = hint {
            candidates.retain(|&(offset, _)| offset != 0);
            candidates.insert(0, (0, hint));
        }
        let mut claimed: Vec<(usize, usize)> = Vec::new();
        let mut next = 0usize;
        for (offset, fmt) in candidates {
            if offset < next {
                continue;
            }
            if let Some(len) = self.try_container(fmt, path, data, offset, depth) {
                let end = offset.saturating_add(len.max(1)).min(data.len());
                claimed.push((offset, end));
                next = end;
            }
        }
        let mut start = 0usize;
        let mut gaps = Vec::new();
        for &(s, e) in &claimed {
            if s > start {
                gaps.push((start, s));
            }
            start = start.max(e);
        }
        if start < data.len() {
            gaps.push((start, data.len()));
        }
        for (s, e) in gaps {
            let gap = &data[s..e];
            analyze::raw(self, path, gap, s as u64);
            if depth == 0 {
                analyze::signature_markers(self, gap, s as u64);
            }
            if gap.len() >= OPAQUE_MIN_BYTES {
                let h = entropy(gap);
                if h >= OPAQUE_MIN_ENTROPY {
                    self.containers.push(Container {
                        format: "unknown".into(),
                        path: path.to_string(),
                        offset: s as u64,
                        size: gap.len() as u64,
                        status: ContainerStatus::Opaque,
                        entropy: Some(h),
                        entries: None,
                        note: Some("no known format; entropy this high means encrypted or compressed data".into()),
                    });
                }
            }
        }
    }

    /// A file inside an archive: a container when it starts with one, else analysed.
    fn file(&mut self, path: &str, fs_path: &str, data: &[u8], depth: u32) {
        if let Some(fmt) = formats::detect_at_start(data)
            && self.try_container(fmt, path, data, 0, depth).is_some()
        {
            return;
        }
        analyze::file(self, path, fs_path, data);
    }

    fn try_container(&mut self, fmt: Fmt, path: &str, data: &[u8], offset: usize, depth: u32) -> Option<usize> {
        if self.total_exhausted(path, offset as u64) {
            return None;
        }
        match fmt {
            Fmt::UImage => formats::uimage(self, path, data, offset, depth),
            Fmt::Fit => formats::fit(self, path, data, offset, depth),
            Fmt::Gzip | Fmt::Xz | Fmt::Lzma | Fmt::Zstd => formats::stream(self, fmt, path, data, offset, depth),
            Fmt::Squashfs => formats::squashfs(self, path, data, offset, depth),
            Fmt::Cpio => formats::cpio(self, path, data, offset, depth),
            Fmt::Tar => formats::tar(self, path, data, offset, depth),
            Fmt::Zip => formats::zip(self, path, data, offset, depth),
            Fmt::Cramfs | Fmt::Jffs2 | Fmt::Ubi => formats::unsupported(self, fmt, path, data, offset, depth),
        }
    }

    // ---------------------------------------------------------------------------------
    // Streams
    // ---------------------------------------------------------------------------------

    /// Reads a decoder to its end within the read cap and the ratio bound. `used` counts
    /// the compressed bytes the decoder has consumed so far.
    pub(crate) fn drain(&mut self, reader: &mut dyn Read, used: &Cell<usize>, path: &str, offset: usize) -> Drained {
        let cap = self.read_cap();
        let mut out = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut chunk) {
                Ok(0) => {
                    self.spend(out.len());
                    return Drained {
                        bytes: out,
                        end: End::Complete,
                    };
                }
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(e) => {
                    self.spend(out.len());
                    let end = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        End::Truncated
                    } else {
                        End::Corrupt(e.to_string())
                    };
                    return Drained { bytes: out, end };
                }
            }
            let produced = out.len() as u64;
            if produced > cap {
                out.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
                self.spend(out.len());
                let kind = if cap < self.opts.max_file_bytes {
                    LimitKind::TotalBytes
                } else {
                    LimitKind::FileBytes
                };
                self.limit(
                    kind,
                    path,
                    offset as u64,
                    format!("decompressed output stopped at {cap} bytes; the first {cap} were analysed"),
                );
                return Drained {
                    bytes: out,
                    end: End::Limited,
                };
            }
            let consumed = used.get().max(1) as u64;
            if produced > self.opts.ratio_floor_bytes && produced > consumed.saturating_mul(self.opts.max_ratio) {
                self.spend(out.len());
                self.limit(
                    LimitKind::Ratio,
                    path,
                    offset as u64,
                    format!(
                        "decompression bomb: {produced} bytes out of {consumed} compressed (more than {}:1); stopped",
                        self.opts.max_ratio
                    ),
                );
                return Drained {
                    bytes: out,
                    end: End::Limited,
                };
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // Archive entries
    // ---------------------------------------------------------------------------------

    /// Counts an entry against the entry bound; false (and the limit recorded once) when
    /// the walk must stop.
    pub(crate) fn admit_entry(&mut self, path: &str) -> bool {
        if self.entries >= self.opts.max_entries {
            if !self.entries_exhausted {
                self.entries_exhausted = true;
                self.limit(
                    LimitKind::Entries,
                    path,
                    0,
                    format!(
                        "{} archive entries walked in total; the rest were not",
                        self.opts.max_entries
                    ),
                );
            }
            return false;
        }
        self.entries += 1;
        true
    }

    pub(crate) fn filesystem_walked(&mut self) {
        self.filesystems += 1;
    }

    /// One archive entry. `root` is the archive's content path, `raw_name` the name as the
    /// archive spells it. Nothing is created anywhere: the entry's bytes are analysed in
    /// memory, and names that would escape an extraction root are findings.
    pub(crate) fn entry(&mut self, format: Fmt, root: &str, raw_name: &[u8], kind: EntryKind<'_>, depth: u32) {
        let name = String::from_utf8_lossy(raw_name);
        let (fs_path, escapes) = normalise(&name);
        let vpath = format!("{root}{fs_path}");
        let shown = analyze::clean(&name, 120);
        if name.starts_with('/') && format != Fmt::Squashfs {
            self.finding(unsafe_entry(
                &vpath,
                format!("{} entry with an absolute name", format.name()),
                format!("name {shown:?}"),
            ));
        } else if escapes {
            self.finding(unsafe_entry(
                &vpath,
                format!("{} entry whose name climbs out of the archive root", format.name()),
                format!("name {shown:?}"),
            ));
        }
        match kind {
            EntryKind::File(bytes) => self.file(&vpath, &fs_path, bytes, depth),
            EntryKind::Dir => {}
            EntryKind::Symlink(target) | EntryKind::Hardlink(target) => {
                // An absolute target resolves inside the image root once chrooted (that is
                // how root file systems are built); a relative one that climbs above the
                // root would reach the extracting machine.
                if !target.starts_with('/') {
                    let parent = fs_path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                    let (_, climbs) = normalise(&format!("{parent}/{target}"));
                    if climbs {
                        self.finding(unsafe_entry(
                            &vpath,
                            "link whose target climbs out of the archive root".into(),
                            format!("{} -> {}", analyze::clean(&fs_path, 120), analyze::clean(&target, 120)),
                        ));
                    }
                }
            }
            EntryKind::Special(what) => {
                self.specials
                    .entry(root.to_string())
                    .or_default()
                    .push(format!("{fs_path} ({what})"));
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // The report
    // ---------------------------------------------------------------------------------

    fn finish(mut self, name: &str, image: &[u8]) -> FirmwareReport {
        for (root, mut list) in std::mem::take(&mut self.specials) {
            list.sort();
            let count = list.len();
            let shown: Vec<String> = list.iter().take(10).map(|s| analyze::clean(s, 120)).collect();
            self.findings.push(Finding {
                kind: FindingKind::SpecialEntry,
                severity: Severity::Info,
                path: root,
                offset: 0,
                title: format!("{count} device node(s), FIFO(s) or socket(s) in the archive; none created"),
                excerpt: shown.join(", "),
                fingerprint: None,
                clauses: Vec::new(),
            });
        }
        crate::keys::link_keys_to_certificates(&mut self.findings);

        let opaque: u64 = self
            .containers
            .iter()
            .filter(|c| c.status == ContainerStatus::Opaque && c.path.is_empty())
            .map(|c| c.size)
            .sum();
        let image_entropy = entropy(image);
        let inconclusive = if self.filesystems == 0 {
            Some(if opaque > 0 {
                format!(
                    "no file system or archive could be unpacked; {opaque} bytes are opaque (image entropy \
                     {image_entropy:.3} bits/byte: likely encrypted or an unknown vendor container)"
                )
            } else {
                format!(
                    "no file system or archive could be unpacked (image entropy {image_entropy:.3} bits/byte); \
                     the findings cover raw bytes only"
                )
            })
        } else {
            None
        };
        let verdict = if !self.signed_evidence.is_empty() {
            IntegrityVerdict::Signed
        } else if !self.crc_evidence.is_empty() {
            IntegrityVerdict::CrcOnly
        } else if inconclusive.is_some() && opaque > 0 {
            IntegrityVerdict::Unknown
        } else {
            IntegrityVerdict::NoneFound
        };
        let mut evidence: Vec<String> = self.signed_evidence.iter().chain(&self.crc_evidence).cloned().collect();
        evidence.sort();
        evidence.dedup();
        if evidence.is_empty() {
            evidence.push(match verdict {
                IntegrityVerdict::Unknown => "the image is opaque; a signature cannot be looked for".into(),
                _ => "no signature block and no checksummed header outside the file systems".into(),
            });
        }

        let mut inventory: Vec<Component> = self
            .components
            .into_iter()
            .map(|((name, version), (component_type, paths))| Component {
                name,
                version,
                component_type,
                evidence: paths.into_iter().take(MAX_COMPONENT_EVIDENCE).collect(),
            })
            .collect();
        inventory.sort();
        let eol = crate::analyze::end_of_life(&inventory);
        self.findings.extend(eol);

        self.containers
            .sort_by(|a, b| (&a.path, a.offset, &a.format).cmp(&(&b.path, b.offset, &b.format)));
        self.containers.dedup();
        self.findings.sort_by(|a, b| {
            (&a.path, a.offset, a.kind, &a.title, &a.excerpt).cmp(&(&b.path, b.offset, b.kind, &b.title, &b.excerpt))
        });
        self.findings.dedup();
        self.limits_hit.sort();
        self.limits_hit.dedup();

        FirmwareReport {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: "hopquy".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            image: ImageFacts {
                name: name.to_string(),
                size: image.len() as u64,
                sha256: sha256_hex(image),
                entropy: image_entropy,
            },
            limits: self.opts.limits(),
            containers: self.containers,
            findings: self.findings,
            inventory,
            update_integrity: UpdateIntegrity { verdict, evidence },
            limits_hit: self.limits_hit,
            filesystems_unpacked: self.filesystems,
            inconclusive,
            vulndb: None,
            vulnerabilities: Vec::new(),
        }
    }
}

pub(crate) struct Drained {
    pub(crate) bytes: Vec<u8>,
    pub(crate) end: End,
}

pub(crate) enum End {
    Complete,
    Truncated,
    Corrupt(String),
    Limited,
}

/// A `&[u8]` reader that counts what a decoder consumed, for the ratio bound and for the
/// length a carved stream occupies in its parent.
pub(crate) struct Counted<'a> {
    rest: &'a [u8],
    used: Rc<Cell<usize>>,
}

impl<'a> Counted<'a> {
    pub(crate) fn new(data: &'a [u8]) -> (Self, Rc<Cell<usize>>) {
        let used = Rc::new(Cell::new(0));
        (
            Counted {
                rest: data,
                used: Rc::clone(&used),
            },
            used,
        )
    }
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.rest.read(buf)?;
        self.used.set(self.used.get() + n);
        Ok(n)
    }
}

impl BufRead for Counted<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        Ok(self.rest)
    }
    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.rest.len());
        self.rest = &self.rest[amt..];
        self.used.set(self.used.get() + amt);
    }
}

fn unsafe_entry(path: &str, title: String, excerpt: String) -> Finding {
    Finding {
        kind: FindingKind::UnsafeEntry,
        severity: Severity::Medium,
        path: path.to_string(),
        offset: 0,
        title: format!("{title}; not followed (nothing is extracted to disk)"),
        excerpt,
        fingerprint: None,
        clauses: Vec::new(),
    }
}

/// `/`-rooted path with `.`, empty and `..` components resolved, and whether a `..` tried to
/// climb above the root (it is clamped there).
pub(crate) fn normalise(name: &str) -> (String, bool) {
    let mut parts: Vec<&str> = Vec::new();
    let mut escapes = false;
    for part in name.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    escapes = true;
                }
            }
            p => parts.push(p),
        }
    }
    (format!("/{}", parts.join("/")), escapes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_clamps_and_reports_climbing_names() {
        assert_eq!(normalise("./etc/shadow"), ("/etc/shadow".into(), false));
        assert_eq!(normalise("etc/../etc//passwd"), ("/etc/passwd".into(), false));
        assert_eq!(normalise("../../etc/cron"), ("/etc/cron".into(), true));
        assert_eq!(normalise("a/../../x"), ("/x".into(), true));
        assert_eq!(normalise("/"), ("/".into(), false));
    }
}
