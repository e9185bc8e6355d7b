//! cramfs, jffs2 and UBI/UBIFS through the packaged tools that read them (no well-kept Rust
//! reader exists): util-linux's `fsck.cramfs --extract`, PyPI's `jefferson` and
//! `ubireader_extract_files` (ubi_reader). This is the one place the scan writes to disk and
//! starts a process, so both are fenced:
//!
//! - the file system's bytes and the tool's output live in a private temporary directory,
//!   removed when the walk is done; the tool runs with no standard input, a time limit, a
//!   per-file size limit (`ulimit -f`) and the directory's total size watched, and is killed
//!   when one is passed (a `limits_hit` entry, the container `limited`);
//! - the directory is then walked like any archive: `symlink_metadata`, never following a
//!   link (links are entries the walker judges, `..` names are findings), every read bounded
//!   by the scan's budgets;
//! - a tool that is not installed is said in the container's note (`unsupported: tool X not
//!   installed — install with …`), never skipped silently.
//!
//! What the tools themselves do with a hostile image is theirs: labs should scan untrusted
//! images as an unprivileged user (the tools create device nodes only as root).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::formats::child;
use crate::model::{ContainerStatus, LimitKind};
use crate::walk::{EntryKind, Fmt, Scan};

/// Where the external unpackers are looked for and how long they may run.
#[derive(Debug, Clone)]
pub struct ToolOptions {
    /// Directories searched first (a venv's `bin/`), before `PATH`.
    pub dirs: Vec<PathBuf>,
    /// Whether `PATH` is searched after `dirs`.
    pub search_path: bool,
    /// Wall-clock time one unpacker may take.
    pub timeout: Duration,
}

impl Default for ToolOptions {
    fn default() -> Self {
        ToolOptions {
            dirs: Vec::new(),
            search_path: true,
            timeout: Duration::from_secs(300),
        }
    }
}

/// Bytes of a tool's stdout/stderr kept (the first line goes into a note).
const MAX_TOOL_OUTPUT: u64 = 16 * 1024;
/// Directories nested deeper than this in the output are not walked.
const MAX_WALK_DEPTH: usize = 64;

struct Tool {
    program: &'static str,
    install: &'static str,
}

fn tool(fmt: Fmt) -> Option<Tool> {
    Some(match fmt {
        Fmt::Cramfs => Tool {
            program: "fsck.cramfs",
            install: "install util-linux (Debian: apt install util-linux; fsck.cramfs is in /usr/sbin)",
        },
        Fmt::Jffs2 => Tool {
            program: "jefferson",
            install: "install jefferson (pipx install jefferson, or pip install jefferson)",
        },
        Fmt::Ubi => Tool {
            program: "ubireader_extract_files",
            install: "install ubi_reader (pipx install ubi_reader, or pip install ubi_reader)",
        },
        _ => return None,
    })
}

fn args(fmt: Fmt, image: &Path, out: &Path) -> Vec<std::ffi::OsString> {
    let mut a: Vec<std::ffi::OsString> = Vec::new();
    match fmt {
        Fmt::Cramfs => {
            let mut extract = std::ffi::OsString::from("--extract=");
            extract.push(out);
            a.push(extract);
            a.push(image.into());
        }
        Fmt::Jffs2 => {
            a.extend(["-f".into(), "-d".into(), out.into(), image.into()]);
        }
        _ => {
            a.extend(["-o".into(), out.into(), image.into()]);
        }
    }
    a
}

fn find(program: &str, opts: &ToolOptions) -> Option<PathBuf> {
    let path_dirs: Vec<PathBuf> = if opts.search_path {
        let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        // fsck.cramfs lives in sbin, which a user's PATH often lacks.
        dirs.extend(["/usr/sbin", "/sbin"].map(PathBuf::from));
        dirs
    } else {
        Vec::new()
    };
    opts.dirs
        .iter()
        .chain(&path_dirs)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// What became of a file system handed to its tool.
pub(crate) enum Outcome {
    /// The tool is missing: the container stays `unsupported` with this note.
    Missing(String),
    /// The tool ran (its output was walked); status and note for the container.
    Ran {
        status: ContainerStatus,
        entries: u64,
        note: String,
    },
}

/// Unpacks `fs` (a cramfs, jffs2 or UBI image found at `path`@`offset`) with its tool and
/// walks what it wrote.
pub(crate) fn unpack(
    scan: &mut Scan<'_>,
    fmt: Fmt,
    path: &str,
    fs: &[u8],
    offset: usize,
    depth: u32,
) -> Option<Outcome> {
    let tool = tool(fmt)?;
    let Some(program) = find(tool.program, &scan.opts.tools) else {
        return Some(Outcome::Missing(format!(
            "unsupported: tool {} not installed — {}",
            tool.program, tool.install
        )));
    };
    let dir = match tempfile::Builder::new().prefix("hopquy-fw-").tempdir() {
        Ok(d) => d,
        Err(e) => {
            return Some(Outcome::Missing(format!(
                "unsupported: no temporary directory for {}: {e}",
                tool.program
            )));
        }
    };
    let image = dir.path().join("image.bin");
    let out = dir.path().join("out");
    if let Err(e) = std::fs::write(&image, fs) {
        return Some(Outcome::Missing(format!(
            "unsupported: cannot stage the image for {}: {e}",
            tool.program
        )));
    }
    let budget = scan.read_cap();
    let root = child(path, fmt, offset);
    let ran = run(
        &program,
        &args(fmt, &image, &out),
        &out,
        budget,
        scan.opts.tools.timeout,
    );
    let (mut status, mut note) = match &ran {
        Ok(Exit::Success) => (ContainerStatus::Unpacked, format!("unpacked with {}", tool.program)),
        Ok(Exit::Failed(msg)) => (
            ContainerStatus::Corrupt,
            format!(
                "{} failed: {}; what it wrote was walked",
                tool.program,
                crate::analyze::clean(msg, 160)
            ),
        ),
        Ok(Exit::TimedOut) => {
            scan.limit(
                LimitKind::ToolTime,
                &root,
                0,
                format!(
                    "{} ran past {} s and was stopped",
                    tool.program,
                    scan.opts.tools.timeout.as_secs()
                ),
            );
            (
                ContainerStatus::Limited,
                format!("{} stopped at its time limit", tool.program),
            )
        }
        Ok(Exit::TooMuch) => {
            scan.limit(
                LimitKind::TotalBytes,
                &root,
                0,
                format!("{} wrote more than {budget} bytes and was stopped", tool.program),
            );
            (
                ContainerStatus::Limited,
                format!("{} stopped at the byte budget", tool.program),
            )
        }
        Err(e) => (ContainerStatus::Corrupt, format!("{} could not run: {e}", tool.program)),
    };
    let mut walked = Walked::default();
    for (volume_root, base) in roots(fmt, &root, &out) {
        walk_dir(scan, fmt, &volume_root, &base, &base, depth, 0, &mut walked);
    }
    if walked.limited {
        status = ContainerStatus::Limited;
    }
    if walked.unreadable > 0 {
        note.push_str(&format!("; {} entries could not be read back", walked.unreadable));
    }
    // A tool that gave up without writing anything has not looked inside for us.
    if walked.entries > 0 || matches!(ran, Ok(Exit::Success)) {
        scan.filesystem_walked();
    }
    Some(Outcome::Ran {
        status,
        entries: walked.entries,
        note,
    })
}

/// The directories the tool's output is walked from, each with its virtual path. ubi_reader
/// writes `OUT/<image sequence>/<volume>/…`; each volume is a file system of its own, named
/// `[volume NAME]` after the UBI container, so `/etc/shadow` is at the volume's root.
fn roots(fmt: Fmt, root: &str, out: &Path) -> Vec<(String, PathBuf)> {
    if !out.is_dir() {
        return Vec::new();
    }
    if fmt != Fmt::Ubi {
        return vec![(root.to_string(), out.to_path_buf())];
    }
    let dirs = |d: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.retain(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()));
        v.sort();
        v
    };
    dirs(out)
        .iter()
        .flat_map(|image| dirs(image))
        .map(|volume| {
            let name = volume
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (format!("{root}[volume {}]", crate::analyze::clean(&name, 64)), volume)
        })
        .collect()
}

enum Exit {
    Success,
    Failed(String),
    TimedOut,
    TooMuch,
}

fn run(
    program: &Path,
    args: &[std::ffi::OsString],
    out: &Path,
    budget: u64,
    timeout: Duration,
) -> std::io::Result<Exit> {
    // `ulimit -f` (512-byte blocks in POSIX sh) bounds each file the tool writes; the
    // directory's total is watched below. No unsafe pre_exec needed for either.
    let blocks = (budget / 512).max(1);
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("ulimit -f {blocks} && exec \"$0\" \"$@\""))
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a stop reaches whatever the tool started too (a child
        // holding the pipes open would otherwise outlive it).
        .process_group(0)
        .spawn()?;
    let stdout = child.stdout.take().map(capped_reader);
    let stderr = child.stderr.take().map(capped_reader);
    let started = Instant::now();
    let mut last_size_check = Instant::now();
    let result = loop {
        if let Some(status) = child.try_wait()? {
            break if status.success() {
                Exit::Success
            } else {
                Exit::Failed(String::new())
            };
        }
        if started.elapsed() > timeout {
            kill(&mut child);
            break Exit::TimedOut;
        }
        if last_size_check.elapsed() > Duration::from_millis(250) {
            last_size_check = Instant::now();
            if dir_size(out, budget) > budget {
                kill(&mut child);
                break Exit::TooMuch;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = |h: Option<std::thread::JoinHandle<String>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
    let (out_text, err_text) = (text(stdout), text(stderr));
    Ok(match result {
        Exit::Failed(_) => {
            let first = err_text
                .lines()
                .chain(out_text.lines())
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no message")
                .to_string();
            Exit::Failed(first)
        }
        other => other,
    })
}

fn kill(child: &mut Child) {
    // kill(1) on the negative pid signals the whole group; std has no safe call for that.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// Keeps the first bytes of a pipe and drains the rest, so a chatty tool never blocks.
fn capped_reader(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let _ = (&mut pipe).take(MAX_TOOL_OUTPUT).read_to_end(&mut kept);
        let _ = std::io::copy(&mut pipe, &mut std::io::sink());
        String::from_utf8_lossy(&kept).into_owned()
    })
}

/// Bytes under `dir`, counting stops once past `stop`.
fn dir_size(dir: &Path, stop: u64) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                total = total.saturating_add(meta.len());
                if total > stop {
                    return total;
                }
            }
        }
    }
    total
}

#[derive(Default)]
struct Walked {
    entries: u64,
    unreadable: u64,
    limited: bool,
}

#[allow(clippy::too_many_arguments)]
fn walk_dir(
    scan: &mut Scan<'_>,
    fmt: Fmt,
    root: &str,
    base: &Path,
    dir: &Path,
    depth: u32,
    nesting: usize,
    walked: &mut Walked,
) {
    if nesting > MAX_WALK_DEPTH {
        walked.limited = true;
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        walked.unreadable += 1;
        return;
    };
    let mut children: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    children.sort();
    for p in children {
        if walked.limited || !scan.admit_entry(root) {
            walked.limited = true;
            return;
        }
        walked.entries += 1;
        let name = p
            .strip_prefix(base)
            .map(|r| r.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            walked.unreadable += 1;
            continue;
        };
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = std::fs::read_link(&p)
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            scan.entry(fmt, root, name.as_bytes(), EntryKind::Symlink(target), depth + 1);
        } else if ft.is_dir() {
            scan.entry(fmt, root, name.as_bytes(), EntryKind::Dir, depth + 1);
            walk_dir(scan, fmt, root, base, &p, depth, nesting + 1, walked);
        } else if ft.is_file() {
            let cap = scan.read_cap();
            let mut content = Vec::new();
            let read = std::fs::File::open(&p).and_then(|f| f.take(cap.saturating_add(1)).read_to_end(&mut content));
            if read.is_err() {
                walked.unreadable += 1;
                continue;
            }
            if content.len() as u64 > cap {
                content.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
                scan.limit(
                    LimitKind::FileBytes,
                    &format!("{root}/{name}"),
                    0,
                    format!("entry stopped at {cap} bytes"),
                );
            }
            scan.spend(content.len());
            scan.entry(fmt, root, name.as_bytes(), EntryKind::File(&content), depth + 1);
        } else {
            scan.entry(
                fmt,
                root,
                name.as_bytes(),
                EntryKind::Special("device node, FIFO or socket"),
                depth + 1,
            );
        }
    }
}
