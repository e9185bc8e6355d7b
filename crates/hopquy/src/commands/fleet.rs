//! `hopquy fleet run` and `hopquy fleet report`: the inspection suite over an inventory of
//! cameras in service, on this machine, with a bundle per device (the one run pipeline,
//! `run::execute`), results in the fleet store as each device finishes, and a fleet report.
//!
//! Layout of a fleet directory: `fleet.sqlite` (the store), `targets/<id>.toml` (each
//! device's generated target file, no secret), `devices/<id>/` (its evidence bundle),
//! `fleet-report.{html,csv,json}`.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hopquy_case::{LoadedTarget, ResolvedProfile, Suite};
use hopquy_evidence::{ReportContext, paths};
use hopquy_fleet::store::{CaseRow, STORE_FILE};
use hopquy_fleet::{
    DeviceEntry, DeviceRecord, DeviceStatus, FleetReport, FleetStore, INSPECTION_SUITE, Inventory, RunMeta, SqliteStore,
};
use hopquy_runner::Operator;
use indicatif::{ProgressBar, ProgressStyle};

use crate::commands::run::{self, Mode, RunSpec};
use crate::exit::{self, CliError};
use crate::operator::{Answers, BenchOperator};
use crate::suite;
use crate::{FleetReportArgs, FleetRunArgs};

const TARGETS_DIR: &str = "targets";
const DEVICES_DIR: &str = "devices";
/// The variable name a generated target file reads a `credentials_file` password through;
/// the fleet runner answers it itself, so it is never exported.
const FILE_PASSWORD_VAR: &str = "HOPQUY_FLEET_CREDENTIALS_FILE";

/// One device ready to audit: its entry, its password (never printed) and its target.
struct Prepared {
    entry: DeviceEntry,
    password: String,
    target_text: String,
    password_var: String,
}

pub async fn run(suite_root: Option<PathBuf>, args: FleetRunArgs) -> Result<u8, CliError> {
    if args.concurrency == 0 {
        return Err(CliError::Usage("--concurrency must be at least 1".into()));
    }
    let root = suite::locate(suite_root)?;
    let suite = suite::load_suite(&root)?;
    let profiles = profile_names(&root);
    let inventory =
        hopquy_fleet::load_inventory(&args.inventory, &profiles).map_err(|e| CliError::Input(e.to_string()))?;
    let reg = suite
        .regulation(&args.regulation)
        .ok_or_else(|| CliError::Usage(format!("unknown regulation `{}`", args.regulation)))?;
    let cases: Vec<hopquy_case::Case> = suite.cases.iter().map(|c| c.case.clone()).collect();
    let ids = hopquy_fleet::inspection_cases(&cases, &reg.regulation).map_err(|e| CliError::Usage(e.to_string()))?;
    // Every device checked before any is contacted: one bad line audits nothing.
    let prepared = prepare(&inventory, &root)?;

    let out = &args.out;
    let mut store = if args.resume {
        let store = SqliteStore::open_existing(out).map_err(|e| {
            CliError::Input(format!(
                "{e}; --resume continues a fleet run started with --out {}",
                out.display()
            ))
        })?;
        let meta = store
            .run()
            .map_err(store_err)?
            .ok_or_else(|| CliError::Input(format!("{}: no fleet run to resume", out.display())))?;
        if meta.inventory_digest != inventory.digest {
            return Err(CliError::Input(format!(
                "{} changed since fleet run {} started (its devices would not compare); start a new run with another --out",
                args.inventory.display(),
                meta.run_id
            )));
        }
        if meta.cases != ids.iter().cloned().collect::<Vec<_>>() {
            return Err(CliError::Input(format!(
                "the inspection suite changed since fleet run {} started; start a new run with another --out",
                meta.run_id
            )));
        }
        store
    } else {
        if out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
            return Err(CliError::Usage(format!(
                "{} exists and is not empty; choose a new --out, or continue it with --resume",
                out.display()
            )));
        }
        std::fs::create_dir_all(out).map_err(CliError::io(format!("creating {}", out.display())))?;
        let mut store = SqliteStore::open(out).map_err(store_err)?;
        store
            .start_run(&RunMeta {
                run_id: format!(
                    "fleet-{}-{:08x}",
                    chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
                    rand::random::<u32>()
                ),
                started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                inventory: args.inventory.display().to_string(),
                inventory_digest: inventory.digest.clone(),
                suite: INSPECTION_SUITE.into(),
                regulation: args.regulation.clone(),
                cases: ids.iter().cloned().collect(),
                tool_version: env!("CARGO_PKG_VERSION").into(),
                device_count: inventory.devices.len(),
            })
            .map_err(store_err)?;
        store
    };
    let meta = store
        .run()
        .map_err(store_err)?
        .ok_or_else(|| CliError::Input("no fleet run".into()))?;
    let recorded = store.finished_devices().map_err(store_err)?;
    for dir in [TARGETS_DIR, DEVICES_DIR] {
        std::fs::create_dir_all(out.join(dir)).map_err(|e| CliError::Storage(format!("creating {dir}/: {e}")))?;
    }
    let mut pending: Vec<Prepared> = prepared
        .into_iter()
        .filter(|p| !recorded.contains(&p.entry.id))
        .collect();
    if let Some(max) = args.max_devices {
        pending.truncate(max);
    }
    for p in &pending {
        set_aside_unrecorded(out, &p.entry.id)?;
    }
    errln!(
        "fleet run {}: {} devices, {} already recorded, {} to audit now with {} read-only cases, {} at a time",
        meta.run_id,
        inventory.devices.len(),
        recorded.len(),
        pending.len(),
        ids.len(),
        args.concurrency
    );

    let stop = Arc::new(AtomicBool::new(false));
    let ctrl_c = {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::SeqCst);
            }
        })
    };
    let progress = FleetProgress::new(pending.len(), recorded.len(), inventory.devices.len());
    let store_failure: Mutex<Option<String>> = Mutex::new(None);
    let locked = Mutex::new(&mut store);
    let ctx = DeviceContext {
        suite: &suite,
        root: &root,
        out,
        regulation: &args.regulation,
        ids: &ids,
        run_id: &meta.run_id,
        inventory: &args.inventory,
        stop: &stop,
        device_timeout: Duration::from_secs(args.device_timeout_s),
    };
    futures::stream::iter(pending.iter())
        .map(|p| {
            let ctx = &ctx;
            let store = &locked;
            let progress = &progress;
            let store_failure = &store_failure;
            async move {
                if ctx.stop.load(Ordering::SeqCst) {
                    return;
                }
                match audit(ctx, p).await {
                    Ok(Some(record)) => {
                        let written = match store.lock() {
                            Ok(mut s) => s.record(&record).map_err(|e| e.to_string()),
                            Err(_) => Err("the store lock was poisoned".into()),
                        };
                        match written {
                            Ok(()) => progress.finished(&record),
                            Err(e) => {
                                ctx.stop.store(true, Ordering::SeqCst);
                                note(store_failure, format!("recording device `{}`: {e}", record.device));
                            }
                        }
                    }
                    // Interrupted: not recorded, so --resume audits it again.
                    Ok(None) => {}
                    Err(e) => {
                        ctx.stop.store(true, Ordering::SeqCst);
                        note(store_failure, format!("device `{}`: {e}", p.entry.id));
                    }
                }
            }
        })
        .buffer_unordered(args.concurrency)
        .collect::<Vec<()>>()
        .await;
    ctrl_c.abort();
    progress.done();
    let store = locked
        .into_inner()
        .map_err(|_| CliError::Storage("the store lock was poisoned".into()))?;

    let records = store.devices().map_err(store_err)?;
    let report =
        hopquy_fleet::build_report(&meta, &records).with_clause_titles(&clause_titles(&suite, &args.regulation));
    report
        .write_all(out, None)
        .map_err(|e| CliError::Storage(e.to_string()))?;
    print_report(&report, out);
    if let Some(failure) = store_failure.into_inner().ok().flatten() {
        return Err(CliError::Storage(format!(
            "the fleet run stopped: {failure}. Nothing recorded is lost; free space or fix the cause, then `hopquy fleet run --inventory {} --out {} --resume`",
            args.inventory.display(),
            out.display()
        )));
    }
    if stop.load(Ordering::SeqCst) {
        errln!(
            "interrupted: finish with `hopquy fleet run --inventory {} --out {} --resume`",
            args.inventory.display(),
            out.display()
        );
        return Ok(exit::INCONCLUSIVE);
    }
    Ok(exit_code(&report))
}

fn note(slot: &Mutex<Option<String>>, what: String) {
    if let Ok(mut s) = slot.lock()
        && s.is_none()
    {
        tracing::error!("{what}");
        *s = Some(what);
    }
}

fn store_err(e: hopquy_fleet::StoreError) -> CliError {
    CliError::Storage(e.to_string())
}

/// Fail when a camera fails a clause; inconclusive when some camera could not be audited or
/// the run is not finished; pass only when every camera of the inventory passed.
fn exit_code(report: &FleetReport) -> u8 {
    let t = &report.totals;
    if t.failing > 0 {
        exit::FAIL
    } else if t.unreachable + t.errors > 0 || report.not_audited > 0 || t.passing < t.audited {
        exit::INCONCLUSIVE
    } else {
        exit::PASS
    }
}

fn profile_names(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("profiles"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension().is_some_and(|x| x == "toml"))
                .then(|| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .flatten()
        })
        .collect();
    names.sort();
    names
}

/// Resolves every device's password and checks its generated target file and profile, so
/// the run starts only when every device can be audited. The messages name the inventory line.
fn prepare(inventory: &Inventory, root: &Path) -> Result<Vec<Prepared>, CliError> {
    let scratch = tempfile::tempdir().map_err(CliError::io("creating a temporary directory"))?;
    let env = |var: &str| std::env::var(var).ok();
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for entry in &inventory.devices {
        let at = entry.location(&inventory.path);
        let password = match entry.resolve_password(&env) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("{at}: device `{}`: {e}", entry.id));
                continue;
            }
        };
        let password_var = match &entry.credentials {
            hopquy_fleet::CredentialRef::Env(var) => var.clone(),
            hopquy_fleet::CredentialRef::File(_) => FILE_PASSWORD_VAR.to_owned(),
        };
        let target_text = entry.target_toml(&password_var);
        match load_target(scratch.path(), &entry.id, &target_text, &password_var, &password)
            .and_then(|t| suite::resolve_profile(root, &t).map(|_| ()))
        {
            Ok(()) => out.push(Prepared {
                entry: entry.clone(),
                password,
                target_text,
                password_var,
            }),
            Err(diags) => {
                for d in diags {
                    problems.push(format!("{at}: device `{}`: {}", entry.id, d.message));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(CliError::Input(format!(
            "the inventory cannot be audited; nothing was contacted:\n  {}",
            problems.join("\n  ")
        )));
    }
    Ok(out)
}

fn load_target(
    dir: &Path,
    id: &str,
    text: &str,
    var: &str,
    password: &str,
) -> Result<LoadedTarget, Vec<hopquy_case::Diagnostic>> {
    let path = dir.join(format!("{id}.toml"));
    std::fs::write(&path, text)
        .map_err(|e| vec![hopquy_case::Diagnostic::whole_file(&path, format!("cannot write: {e}"))])?;
    hopquy_case::load_target_with(&path, |v| (v == var).then(|| password.to_owned()))
}

/// A device not recorded in the store whose bundle directory exists was cut off (Ctrl-C, a
/// crash, a full disk before its commit): that bundle is moved aside, never reused, so the
/// device's recorded result always comes from one whole run.
fn set_aside_unrecorded(out: &Path, id: &str) -> Result<(), CliError> {
    let dir = out.join(DEVICES_DIR).join(id);
    if !dir.exists() {
        return Ok(());
    }
    let aside = out.join(DEVICES_DIR).join(".unrecorded");
    std::fs::create_dir_all(&aside).map_err(|e| CliError::Storage(format!("creating {}: {e}", aside.display())))?;
    let to = aside.join(format!("{id}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")));
    std::fs::rename(&dir, &to).map_err(|e| CliError::Storage(format!("moving {} aside: {e}", dir.display())))?;
    tracing::info!("unrecorded bundle of `{id}` moved to {}", to.display());
    Ok(())
}

struct DeviceContext<'a> {
    suite: &'a Suite,
    root: &'a Path,
    out: &'a Path,
    regulation: &'a str,
    ids: &'a BTreeSet<String>,
    run_id: &'a str,
    inventory: &'a Path,
    stop: &'a Arc<AtomicBool>,
    device_timeout: Duration,
}

/// Audits one device. `Ok(None)`: interrupted by Ctrl-C (not recorded); `Err`: the fleet
/// must stop (the evidence cannot be written).
async fn audit(ctx: &DeviceContext<'_>, p: &Prepared) -> Result<Option<DeviceRecord>, String> {
    let started = now();
    let id = &p.entry.id;
    let record =
        |status: DeviceStatus, detail: Option<String>, bundle: Option<String>, cases: Vec<CaseRow>| DeviceRecord {
            device: id.clone(),
            host: p.entry.host.clone(),
            site: p.entry.site.clone(),
            owner: p.entry.owner.clone(),
            profile: p.entry.profile.clone(),
            status,
            detail,
            bundle,
            started: started.clone(),
            finished: now(),
            cases,
        };
    let targets = ctx.out.join(TARGETS_DIR);
    let target = match load_target(&targets, id, &p.target_text, &p.password_var, &p.password) {
        Ok(t) => t,
        Err(d) => {
            let detail = d.first().map_or_else(|| "bad target".to_owned(), |d| d.message.clone());
            return Ok(Some(record(DeviceStatus::Error, Some(detail), None, Vec::new())));
        }
    };
    let profile: ResolvedProfile = match suite::resolve_profile(ctx.root, &target) {
        Ok(p) => p,
        Err(d) => {
            let detail = d
                .first()
                .map_or_else(|| "bad profile".to_owned(), |d| d.message.clone());
            return Ok(Some(record(DeviceStatus::Error, Some(detail), None, Vec::new())));
        }
    };
    let bundle_rel = format!("{DEVICES_DIR}/{id}");
    let bundle = ctx.out.join(&bundle_rel);
    // The device's own stop flag: set on Ctrl-C (the fleet's flag) or when its time is up.
    let cancel = Arc::new(AtomicBool::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (cancel, timed_out, stop, limit) =
            (cancel.clone(), timed_out.clone(), ctx.stop.clone(), ctx.device_timeout);
        tokio::spawn(async move {
            let begun = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if stop.load(Ordering::SeqCst) {
                    cancel.store(true, Ordering::SeqCst);
                    return;
                }
                if begun.elapsed() >= limit {
                    timed_out.store(true, Ordering::SeqCst);
                    cancel.store(true, Ordering::SeqCst);
                    return;
                }
            }
        })
    };
    let operator: Arc<dyn Operator> = Arc::new(BenchOperator::new(Answers::default(), true));
    let spec = RunSpec {
        suite: ctx.suite,
        answered: Vec::new(),
        regulation: ctx.regulation,
        profile: &profile,
        target: &target,
        out: &bundle,
        only: Some(ctx.ids.clone()),
        selection: hopquy_fleet::inspection_selection().criteria(),
        // Whatever the flags: a fleet audit never runs a destructive step.
        allow_destructive: false,
        exhaustive: false,
        json: false,
        report: ReportContext {
            remarks: Some(format!(
                "Fleet run {} (inspection suite), device `{id}`, {}.",
                ctx.run_id,
                p.entry.location(ctx.inventory)
            )),
            ..Default::default()
        },
        signing_key: None,
        mode: Mode::Fresh,
        quiet: true,
        cancel: Some(cancel),
    };
    let outcome = run::execute(spec, operator).await;
    watcher.abort();
    match outcome {
        Ok(finished) if finished.interrupted => {
            if timed_out.load(Ordering::SeqCst) {
                Ok(Some(record(
                    DeviceStatus::Error,
                    Some(format!(
                        "the audit did not finish within {} s; its bundle is left incomplete",
                        ctx.device_timeout.as_secs()
                    )),
                    Some(bundle_rel),
                    Vec::new(),
                )))
            } else {
                Ok(None)
            }
        }
        Ok(finished) => {
            let cases = finished
                .results
                .cases
                .iter()
                .map(|c| CaseRow {
                    case: c.id.clone(),
                    verdict: c.verdict,
                    clauses: c.clauses.clone(),
                    summary: c.summary.clone(),
                })
                .collect();
            Ok(Some(record(DeviceStatus::Audited, None, Some(bundle_rel), cases)))
        }
        Err(CliError::Unreachable(m)) => Ok(Some(record(DeviceStatus::Unreachable, Some(m), None, Vec::new()))),
        Err(CliError::Storage(m)) => Err(m),
        Err(e) => {
            let bundle = bundle.join(paths::EVENTS_FILE).exists().then_some(bundle_rel);
            Ok(Some(record(
                DeviceStatus::Error,
                Some(e.to_string()),
                bundle,
                Vec::new(),
            )))
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Devices done / failing / unreachable, the rate and the ETA: a live line on a terminal, one
/// line per finished device otherwise.
struct FleetProgress {
    bar: Option<ProgressBar>,
    state: Mutex<Counts>,
    total: usize,
    already: usize,
    inventory: usize,
    started: Instant,
}

#[derive(Default)]
struct Counts {
    done: usize,
    failing: usize,
    unreachable: usize,
    errors: usize,
}

impl FleetProgress {
    fn new(total: usize, already: usize, inventory: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{pos}/{len}] {elapsed_precise} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        FleetProgress {
            bar,
            state: Mutex::new(Counts::default()),
            total,
            already,
            inventory,
            started: Instant::now(),
        }
    }

    fn finished(&self, r: &DeviceRecord) {
        let Ok(mut c) = self.state.lock() else { return };
        c.done += 1;
        let failing: Vec<&str> = {
            let mut cl: BTreeSet<&str> = BTreeSet::new();
            for case in r.cases.iter().filter(|c| c.verdict == hopquy_evidence::Verdict::Fail) {
                cl.extend(case.clauses.iter().map(String::as_str));
            }
            cl.into_iter().collect()
        };
        match r.status {
            DeviceStatus::Audited if !failing.is_empty() => c.failing += 1,
            DeviceStatus::Audited => {}
            DeviceStatus::Unreachable => c.unreachable += 1,
            DeviceStatus::Error => c.errors += 1,
        }
        let what = match r.status {
            DeviceStatus::Audited if failing.is_empty() => "no clause fails".to_owned(),
            DeviceStatus::Audited => format!("fails {}", failing.join(", ")),
            DeviceStatus::Unreachable => "unreachable".to_owned(),
            DeviceStatus::Error => format!("error: {}", r.detail.as_deref().unwrap_or("")),
        };
        let line = format!(
            "[{}/{}] {} ({}): {what}",
            c.done + self.already,
            self.inventory,
            r.device,
            r.host
        );
        let status = self.status(&c);
        match &self.bar {
            Some(b) => {
                b.println(line);
                b.inc(1);
                b.set_message(status);
            }
            None => errln!("{line} — {status}"),
        }
    }

    /// `done 3/6 · failing 2 · unreachable 1 · error 0 · 1.5 devices/min · ~2 min left`.
    fn status(&self, c: &Counts) -> String {
        let elapsed = self.started.elapsed().as_secs_f64().max(1.0);
        let rate = c.done as f64 / elapsed * 60.0;
        let left = self.total.saturating_sub(c.done);
        let eta = if c.done > 0 {
            let secs = elapsed / c.done as f64 * left as f64;
            format!(
                " · ~{} left",
                hopquy_runner::estimate::human(Duration::from_secs(secs as u64))
            )
        } else {
            String::new()
        };
        format!(
            "done {}/{} · failing {} · unreachable {} · error {} · {rate:.1} devices/min{eta}",
            c.done + self.already,
            self.inventory,
            c.failing,
            c.unreachable,
            c.errors
        )
    }

    fn done(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn print_report(report: &FleetReport, dir: &Path) {
    let t = &report.totals;
    errln!();
    errln!(
        "fleet: {} devices — {} audited ({} failing a clause, {} passing), {} unreachable, {} error, {} not audited yet",
        t.devices,
        t.audited,
        t.failing,
        t.passing,
        t.unreachable,
        t.errors,
        report.not_audited
    );
    for c in report.clauses.iter().filter(|c| c.failing > 0) {
        let noun = if c.failing == 1 { "device" } else { "devices" };
        errln!("  {:<10} failed by {} {noun}", c.clause, c.failing);
    }
    for d in &report.devices {
        match d.status {
            DeviceStatus::Audited if d.failing_clauses.is_empty() => {}
            DeviceStatus::Audited => errln!("  {:<24} fails {}", d.id, d.failing_clauses.join(", ")),
            _ => errln!(
                "  {:<24} {}: {}",
                d.id,
                d.status.as_str(),
                d.detail.as_deref().unwrap_or("")
            ),
        }
    }
    errln!(
        "fleet report: {} ({} and {} beside it); store: {}",
        dir.join(hopquy_fleet::report::REPORT_HTML).display(),
        hopquy_fleet::report::REPORT_CSV,
        hopquy_fleet::report::REPORT_JSON,
        dir.join(STORE_FILE).display()
    );
}

/// `id → (title_vi, title_en)` of the regulation's clauses, for the report.
fn clause_titles(suite: &Suite, regulation: &str) -> std::collections::BTreeMap<String, (String, String)> {
    suite
        .regulation(regulation)
        .map(|r| {
            r.regulation
                .clauses
                .iter()
                .map(|c| (c.id.clone(), (c.title_vi.clone(), c.title_en.clone())))
                .collect()
        })
        .unwrap_or_default()
}

fn load_report(dir: &Path, suite: Option<&Suite>) -> Result<FleetReport, CliError> {
    let store = SqliteStore::open_existing(dir).map_err(|e| CliError::Input(e.to_string()))?;
    let meta = store
        .run()
        .map_err(store_err)?
        .ok_or_else(|| CliError::Input(format!("{}: no fleet run", dir.display())))?;
    let records = store.devices().map_err(store_err)?;
    let titles = suite.map(|s| clause_titles(s, &meta.regulation)).unwrap_or_default();
    Ok(hopquy_fleet::build_report(&meta, &records).with_clause_titles(&titles))
}

/// `hopquy fleet report DIR [--diff OTHER]`: the report written again from the store, and
/// what changed since OTHER (the earlier run).
pub fn report(suite_root: Option<PathBuf>, args: FleetReportArgs) -> Result<u8, CliError> {
    // Clause titles only: a report is written from the store even where no suite is found.
    let suite = suite::locate(suite_root)
        .ok()
        .and_then(|root| suite::load_suite(&root).ok());
    let report = load_report(&args.dir, suite.as_ref())?;
    let diff = match &args.diff {
        Some(other) => Some(hopquy_fleet::diff_reports(
            &load_report(other, suite.as_ref())?,
            &report,
        )),
        None => None,
    };
    report
        .write_all(&args.dir, diff.as_ref())
        .map_err(|e| CliError::Storage(e.to_string()))?;
    if args.json {
        let value = serde_json::json!({ "report": report, "diff": diff });
        outln!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
    } else {
        print_report(&report, &args.dir);
    }
    if let (Some(d), Some(other)) = (&diff, &args.diff) {
        errln!("compared with {}: {}", other.display(), d.headline());
        for (id, clauses) in &d.newly_failing {
            errln!("  regressed {id}: now fails {}", clauses.join(", "));
        }
        for id in &d.fixed {
            errln!("  fixed     {id}");
        }
    }
    Ok(exit_code(&report))
}
