//! `hopquy firmware scan IMAGE [--json] [--out DIR]`: the firmware image a manufacturer
//! submits becomes a report (containers, findings, components, update integrity) and a
//! CycloneDX SBOM. Exit 0 when the scan completed, whatever it found; 2 when the image is not
//! a readable regular file (or too large); 3 when `--out` cannot be written.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use hopquy_case::Suite;
use hopquy_evidence::sanitize_text;
use hopquy_firmware::osv::{VulnDb, VulnDbLimits};
use hopquy_firmware::{FirmwareReport, KnownCredential, ScanOptions, Severity};

use crate::exit::{self, CliError};

#[derive(Subcommand, Debug)]
pub enum FirmwareCommand {
    /// Unpack a firmware image in memory (bounded) and report keys, fixed accounts, debug
    /// services, components (CycloneDX SBOM) and update integrity.
    Scan(ScanArgs),
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// The firmware image file.
    pub image: PathBuf,
    /// Print the report as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write report.json and sbom.cdx.json into this directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Match the components against an offline OSV database: a directory of OSV .json
    /// files, one .json file, or a .zip export from osv.dev.
    #[arg(long, value_name = "PATH")]
    pub vulndb: Option<PathBuf>,
}

pub fn firmware(suite_root: Option<PathBuf>, cmd: FirmwareCommand) -> Result<u8, CliError> {
    match cmd {
        FirmwareCommand::Scan(args) => scan(suite_root, args),
    }
}

fn scan(suite_root: Option<PathBuf>, args: ScanArgs) -> Result<u8, CliError> {
    if let Some(out) = &args.out
        && out.exists()
        && !out.is_dir()
    {
        return Err(CliError::Usage(format!(
            "--out {}: exists and is not a directory",
            out.display()
        )));
    }
    // The database is read before the image: a broken database file is the lab's to fix, and
    // is better said before a long scan than after it.
    let db = args.vulndb.as_deref().map(load_vulndb).transpose()?;
    let options = ScanOptions {
        credentials: dictionaries(suite_root)?,
        ..ScanOptions::default()
    };
    let mut report = hopquy_firmware::scan(&args.image, &options).map_err(|e| CliError::Input(e.to_string()))?;
    if let Some(db) = &db {
        hopquy_firmware::osv::annotate(&mut report, db);
    }
    let report_json = serde_json::to_string_pretty(&report).unwrap_or_default();
    if let Some(out) = &args.out {
        let sbom = serde_json::to_string_pretty(&hopquy_firmware::sbom::cyclonedx(&report)).unwrap_or_default();
        fs::create_dir_all(out).map_err(CliError::io(format!("cannot create {}", out.display())))?;
        write_atomic(&out.join("report.json"), report_json.as_bytes())?;
        write_atomic(&out.join("sbom.cdx.json"), sbom.as_bytes())?;
    }
    if args.json {
        outln!("{report_json}");
    } else {
        print_human(&report, args.out.as_deref());
    }
    Ok(exit::PASS)
}

/// The suite's credential dictionaries (`test-cases/data/*.toml`). Without a suite the scan
/// still runs; the lab is told that hashes were not checked against any dictionary.
fn dictionaries(suite_root: Option<PathBuf>) -> Result<Vec<KnownCredential>, CliError> {
    let explicit = suite_root.is_some();
    let root = match crate::suite::locate(suite_root) {
        Ok(root) => root,
        Err(e) if !explicit => {
            errln!("warning: {e}; password hashes are not checked against the default-credential dictionaries");
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let suite = crate::suite::load_suite(&root)?;
    Ok(known_credentials(&suite))
}

fn known_credentials(suite: &Suite) -> Vec<KnownCredential> {
    suite
        .credential_dictionaries
        .iter()
        .flat_map(|d| {
            d.dictionary.credential.iter().map(|c| KnownCredential {
                dictionary: d.name.clone(),
                username: c.username.clone(),
                password: c.password.clone(),
            })
        })
        .collect()
}

/// A firmware image scanned for a run (`hopquy run --firmware`): the report the `firmware`
/// steps read and the two files the bundle stores, serialised once so the bundle holds
/// exactly what `hopquy firmware scan --out` would write for the same image.
pub struct ScannedFirmware {
    pub report: Arc<FirmwareReport>,
    pub report_json: String,
    pub sbom_json: String,
}

impl ScannedFirmware {
    fn of(report: FirmwareReport) -> ScannedFirmware {
        let report_json = serde_json::to_string_pretty(&report).unwrap_or_default();
        let sbom_json = serde_json::to_string_pretty(&hopquy_firmware::sbom::cyclonedx(&report)).unwrap_or_default();
        ScannedFirmware {
            report: Arc::new(report),
            report_json,
            sbom_json,
        }
    }
}

/// Reads an OSV database (`--vulndb`); a broken file is an input error naming it.
fn load_vulndb(path: &Path) -> Result<VulnDb, CliError> {
    VulnDb::load(path, &VulnDbLimits::default()).map_err(|e| CliError::Input(format!("--vulndb: {e}")))
}

/// Scans `image` with the run's suite's dictionaries, as `firmware scan` does, and matches
/// its components against `vulndb` when one is given.
pub fn scan_for_run(suite: &Suite, image: &Path, vulndb: Option<&Path>) -> Result<ScannedFirmware, CliError> {
    let db = vulndb.map(load_vulndb).transpose()?;
    let options = ScanOptions {
        credentials: known_credentials(suite),
        ..ScanOptions::default()
    };
    let mut report = hopquy_firmware::scan(image, &options).map_err(|e| CliError::Input(format!("--firmware: {e}")))?;
    if let Some(db) = &db {
        hopquy_firmware::osv::annotate(&mut report, db);
    }
    Ok(ScannedFirmware::of(report))
}

/// Scans an image already in memory (the simulated camera's, for `hopquy demo`) and matches
/// it against the simulated lab's sample OSV database.
pub fn scan_bytes_for_run(suite: &Suite, name: &str, image: &[u8]) -> ScannedFirmware {
    let options = ScanOptions {
        credentials: known_credentials(suite),
        ..ScanOptions::default()
    };
    let mut report = hopquy_firmware::scan_bytes(name, image, &options);
    match VulnDb::from_files(
        "simcam-sample-osv",
        hopquy_simcam::firmware::sample_osv(),
        &VulnDbLimits::default(),
    ) {
        Ok(db) => hopquy_firmware::osv::annotate(&mut report, &db),
        // The sample is built in; should it ever not parse, the case says no database was given.
        Err(e) => tracing::warn!(error = %e, "the simulated lab's OSV sample did not load"),
    }
    ScannedFirmware::of(report)
}

/// The report an earlier run of this bundle stored (`--resume` judges the same image).
pub fn recorded_report(bundle: &Path) -> Result<Option<Arc<FirmwareReport>>, CliError> {
    let path = bundle.join(hopquy_evidence::paths::FIRMWARE_REPORT_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CliError::Io {
                context: format!("cannot read {}", path.display()),
                source: e,
            });
        }
    };
    let report: FirmwareReport =
        serde_json::from_slice(&bytes).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    Ok(Some(Arc::new(report)))
}

/// Temporary file in the same directory, fsync, rename: a reader sees the old file or the
/// whole new one, never half a report.
fn write_atomic(target: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let context = || format!("cannot write {}", target.display());
    let result = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| fs::rename(&tmp, target));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(CliError::Io {
            context: context(),
            source: e,
        });
    }
    Ok(())
}

fn label(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "CRITICAL",
        Severity::High => "HIGH",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::Info => "info",
    }
}

/// The fixed string an enum serialises to (`unpacked`, `crc_only`…), as in report.json.
fn as_str(value: impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn shown_path(path: &str) -> String {
    if path.is_empty() {
        "(image)".into()
    } else {
        sanitize_text(path)
    }
}

fn print_human(report: &FirmwareReport, out: Option<&Path>) {
    let image = &report.image;
    outln!(
        "{}: {} bytes, sha256 {}, entropy {:.3} bits/byte",
        sanitize_text(&image.name),
        image.size,
        image.sha256,
        image.entropy
    );
    outln!("containers ({}):", report.containers.len());
    for c in &report.containers {
        let mut line = format!(
            "  {} at {}@{:#x}, {} bytes, {}",
            c.format,
            shown_path(&c.path),
            c.offset,
            c.size,
            as_str(c.status)
        );
        if let Some(n) = c.entries {
            line.push_str(&format!(", {n} entries"));
        }
        if let Some(h) = c.entropy {
            line.push_str(&format!(", entropy {h:.3}"));
        }
        if let Some(note) = &c.note {
            line.push_str(&format!(" — {}", sanitize_text(note)));
        }
        outln!("{line}");
    }
    let mut by_severity = report.findings.clone();
    by_severity.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.path.cmp(&b.path)));
    outln!("findings ({}):", by_severity.len());
    for f in &by_severity {
        outln!(
            "  {:<8} {}@{:#x}: {}",
            label(f.severity),
            shown_path(&f.path),
            f.offset,
            sanitize_text(&f.title)
        );
        if !f.excerpt.is_empty() {
            outln!("           | {}", sanitize_text(&f.excerpt));
        }
        if let Some(fp) = &f.fingerprint {
            outln!("           fingerprint {fp}");
        }
    }
    let inventory: Vec<String> = report
        .inventory
        .iter()
        .map(|c| format!("{} {}", c.name, c.version))
        .collect();
    outln!(
        "components: {}",
        if inventory.is_empty() {
            "none recognised".into()
        } else {
            sanitize_text(&inventory.join(", "))
        }
    );
    match &report.vulndb {
        None => outln!("known vulnerabilities: not matched (no --vulndb)"),
        Some(db) => {
            outln!(
                "known vulnerabilities ({}), version-based, from {} ({} files, sha256 {}):",
                report.vulnerabilities.len(),
                sanitize_text(&db.name),
                db.files,
                db.sha256
            );
            for v in &report.vulnerabilities {
                let fixed = v
                    .fixed
                    .as_deref()
                    .map(|f| format!(", fixed in {f}"))
                    .unwrap_or_default();
                let aliases = if v.aliases.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", v.aliases.join(", "))
                };
                outln!(
                    "  {}{} — {} {}{fixed}",
                    sanitize_text(&v.id),
                    sanitize_text(&aliases),
                    v.component,
                    sanitize_text(&v.version)
                );
            }
        }
    }
    outln!(
        "update integrity: {} — {}",
        as_str(report.update_integrity.verdict),
        sanitize_text(&report.update_integrity.evidence.join("; "))
    );
    for l in &report.limits_hit {
        outln!(
            "limit reached at {}@{:#x}: {}",
            shown_path(&l.path),
            l.offset,
            sanitize_text(&l.detail)
        );
    }
    if let Some(why) = &report.inconclusive {
        outln!("INCONCLUSIVE: {}", sanitize_text(why));
    }
    if let Some(dir) = out {
        outln!(
            "wrote {} and {}",
            dir.join("report.json").display(),
            dir.join("sbom.cdx.json").display()
        );
    }
}
