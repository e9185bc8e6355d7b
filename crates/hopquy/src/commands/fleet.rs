//! `hopquy fleet run` and `hopquy fleet report`: the inspection suite over an inventory of
//! cameras in service, on this machine, with a bundle per device (the one run pipeline,
//! `run::execute`), results in the fleet store as each device finishes, and a fleet report.
//! `hopquy fleet submit|worker` and `report --nats` share one run across machines through
//! NATS JetStream (`hopquy_fleet::nats`); a worker audits with the same `audit`.
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
use hopquy_fleet::nats::{FleetQueue, NatsError, QueuedRun, Work, WorkQueue};
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
use crate::{FleetReportArgs, FleetRunArgs, FleetSubmitArgs, FleetWorkerArgs};

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
    let profiles = suite::profile_names(&root);
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
    } else if t.unreachable + t.errors + t.unidentified + t.gave_up > 0
        || report.not_audited > 0
        || t.passing < t.audited
    {
        exit::INCONCLUSIVE
    } else {
        exit::PASS
    }
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
        match prepare_one(entry, root, scratch.path(), &env) {
            Ok(p) => out.push(p),
            Err(found) => problems.extend(found.into_iter().map(|m| format!("{at}: device `{}`: {m}", entry.id))),
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

/// One device's password (through `env`), generated target file and profile, checked.
fn prepare_one(
    entry: &DeviceEntry,
    root: &Path,
    scratch: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Prepared, Vec<String>> {
    let password = entry.resolve_password(env).map_err(|e| vec![e])?;
    let password_var = match &entry.credentials {
        hopquy_fleet::CredentialRef::Env(var) => var.clone(),
        hopquy_fleet::CredentialRef::File(_) => FILE_PASSWORD_VAR.to_owned(),
    };
    let target_text = entry.target_toml(&password_var);
    let target = load_target(scratch, &entry.id, &target_text, &password_var, &password)
        .map_err(|diags| diags.into_iter().map(|d| d.message).collect::<Vec<_>>())?;
    if suite::wants_identification(&target) {
        // Identified when audited; the table it is identified with is checked now.
        let table = root.join(hopquy_case::identify::FINGERPRINTS_FILE);
        hopquy_case::identify::load_fingerprints(&table, &suite::profile_names(root))
            .map_err(|diags| diags.into_iter().map(|d| d.render()).collect::<Vec<_>>())?;
    } else {
        suite::resolve_profile(root, &target)
            .map_err(|diags| diags.into_iter().map(|d| d.message).collect::<Vec<_>>())?;
    }
    Ok(Prepared {
        entry: entry.clone(),
        password,
        target_text,
        password_var,
    })
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
            bundle_host: bundle.as_ref().map(|_| host_name()),
            bundle_path: bundle.as_ref().map(|b| absolute(&ctx.out.join(b))),
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
    let identified = if suite::wants_identification(&target) {
        match suite::identify_profile(ctx.root, &target).await {
            Ok(found) => Some(found),
            Err(e) => return Ok(Some(record(DeviceStatus::Error, Some(e.to_string()), None, Vec::new()))),
        }
    } else {
        None
    };
    let chosen = identified.as_ref().map(|i| i.profile.clone());
    let profile: ResolvedProfile = match chosen {
        Some(Some(p)) => p,
        Some(None) => {
            let reason = identified.as_ref().map(|i| i.found.reason.clone());
            return Ok(Some(record(DeviceStatus::Unidentified, reason, None, Vec::new())));
        }
        None => match suite::resolve_profile(ctx.root, &target) {
            Ok(p) => p,
            Err(d) => {
                let detail = d
                    .first()
                    .map_or_else(|| "bad profile".to_owned(), |d| d.message.clone());
                return Ok(Some(record(DeviceStatus::Error, Some(detail), None, Vec::new())));
            }
        },
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
        identified: identified.as_ref(),
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
            let mut audited = record(DeviceStatus::Audited, None, Some(bundle_rel), cases);
            if let Some(found) = identified.as_ref().map(|i| &i.found) {
                // The store and report say which profile ran and why; the bundle has the rest.
                audited.profile = found.profile.clone().unwrap_or_default();
                audited.detail = Some(format!(
                    "profile auto → {} ({}, {} confidence): {}",
                    audited.profile,
                    found.outcome.as_str(),
                    found.confidence.as_str(),
                    found.reason
                ));
            }
            Ok(Some(audited))
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

/// This machine's name, as the report says where a bundle is kept.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .or_else(|| std::env::var("COMPUTERNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unknown-host".into())
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
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
            DeviceStatus::Error | DeviceStatus::Unidentified | DeviceStatus::GaveUp => c.errors += 1,
        }
        let what = match r.status {
            DeviceStatus::Audited if failing.is_empty() => "no clause fails".to_owned(),
            DeviceStatus::Audited => format!("fails {}", failing.join(", ")),
            DeviceStatus::Unreachable => "unreachable".to_owned(),
            DeviceStatus::Error => format!("error: {}", r.detail.as_deref().unwrap_or("")),
            DeviceStatus::Unidentified => format!("unidentified: {}", r.detail.as_deref().unwrap_or("")),
            DeviceStatus::GaveUp => format!("gave up: {}", r.detail.as_deref().unwrap_or("")),
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
        "fleet: {} devices — {} audited ({} failing a clause, {} passing), {} unreachable, {} error, {} unidentified, {} gave up, {} not audited yet",
        t.devices,
        t.audited,
        t.failing,
        t.passing,
        t.unreachable,
        t.errors,
        t.unidentified,
        t.gave_up,
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
/// what changed since OTHER (the earlier run). With `--nats URL --run ID --out DIR`, the
/// run's results are collected from the server into DIR's store first.
pub async fn report(suite_root: Option<PathBuf>, args: FleetReportArgs) -> Result<u8, CliError> {
    // Clause titles only: a report is written from the store even where no suite is found.
    let suite = suite::locate(suite_root)
        .ok()
        .and_then(|root| suite::load_suite(&root).ok());
    let dir = match (&args.nats, &args.run, &args.out, &args.dir) {
        (Some(url), Some(run), Some(out), _) => {
            collect(url, run, out).await?;
            out.clone()
        }
        (None, _, _, Some(dir)) => dir.clone(),
        _ => {
            return Err(CliError::Usage(
                "give a fleet directory, or --nats URL --run ID --out DIR".into(),
            ));
        }
    };
    let report = load_report(&dir, suite.as_ref())?;
    let diff = match &args.diff {
        Some(other) => Some(hopquy_fleet::diff_reports(
            &load_report(other, suite.as_ref())?,
            &report,
        )),
        None => None,
    };
    report
        .write_all(&dir, diff.as_ref())
        .map_err(|e| CliError::Storage(e.to_string()))?;
    if args.json {
        let value = serde_json::json!({ "report": report, "diff": diff });
        outln!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
    } else {
        print_report(&report, &dir);
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

fn nats_err(e: NatsError) -> CliError {
    match e {
        NatsError::RunId(_) => CliError::Usage(e.to_string()),
        NatsError::Exists { .. } | NatsError::NoRun(_) | NatsError::Invalid { .. } => CliError::Input(e.to_string()),
        NatsError::Connect { .. } | NatsError::JetStream { .. } => CliError::CannotStart(e.to_string()),
    }
}

/// Opens (creating) the store in `out` for `run`; a store of another run is refused.
fn open_run_store(out: &Path, run: &RunMeta) -> Result<SqliteStore, CliError> {
    std::fs::create_dir_all(out).map_err(CliError::io(format!("creating {}", out.display())))?;
    let mut store = SqliteStore::open(out).map_err(store_err)?;
    match store.run().map_err(store_err)? {
        None => store.start_run(run).map_err(store_err)?,
        Some(m) if m.run_id == run.run_id => {}
        Some(m) => {
            return Err(CliError::Usage(format!(
                "{} holds fleet run `{}`, not `{}`; choose another --out",
                out.display(),
                m.run_id,
                run.run_id
            )));
        }
    }
    Ok(store)
}

/// Every device's result of a shared run into `out`'s store, each device once.
async fn collect(url: &str, run: &str, out: &Path) -> Result<(), CliError> {
    let queue = FleetQueue::connect(url, run).await.map_err(nats_err)?;
    let queued = queue.run().await.map_err(nats_err)?;
    let results = queue.results().await.map_err(nats_err)?;
    let mut store = open_run_store(out, &queued.run)?;
    let recorded = store.finished_devices().map_err(store_err)?;
    let mut added = 0;
    for record in results.iter().filter(|r| !recorded.contains(&r.device)) {
        store.record(record).map_err(store_err)?;
        added += 1;
    }
    errln!(
        "fleet run {run}: {} of {} devices have a result on {} ({added} new here)",
        results.len(),
        queued.run.device_count,
        queue.url()
    );
    Ok(())
}

/// `hopquy fleet submit`: the inventory checked here (profiles, target files; passwords are
/// the workers' business), then queued, one message per device.
pub async fn submit(suite_root: Option<PathBuf>, args: FleetSubmitArgs) -> Result<u8, CliError> {
    if !hopquy_fleet::nats::valid_run_id(&args.run) {
        return Err(nats_err(NatsError::RunId(args.run.clone())));
    }
    if args.device_timeout_s == 0 {
        return Err(CliError::Usage("--device-timeout-s must be at least 1".into()));
    }
    if args.max_deliver == 0 {
        return Err(CliError::Usage("--max-deliver must be at least 1".into()));
    }
    let root = suite::locate(suite_root)?;
    let suite = suite::load_suite(&root)?;
    let inventory = hopquy_fleet::load_inventory(&args.inventory, &suite::profile_names(&root))
        .map_err(|e| CliError::Input(e.to_string()))?;
    let reg = suite
        .regulation(&args.regulation)
        .ok_or_else(|| CliError::Usage(format!("unknown regulation `{}`", args.regulation)))?;
    let cases: Vec<hopquy_case::Case> = suite.cases.iter().map(|c| c.case.clone()).collect();
    let ids = hopquy_fleet::inspection_cases(&cases, &reg.regulation).map_err(|e| CliError::Usage(e.to_string()))?;
    // The target files are checked with a stand-in password: no device is contacted here, and
    // the real one is read by the worker that audits the device.
    let scratch = tempfile::tempdir().map_err(CliError::io("creating a temporary directory"))?;
    let stand_in = |_: &str| Some("stand-in".to_owned());
    let mut problems = Vec::new();
    for entry in &inventory.devices {
        let mut checked = entry.clone();
        checked.credentials = hopquy_fleet::CredentialRef::Env(FILE_PASSWORD_VAR.into());
        if let Err(found) = prepare_one(&checked, &root, scratch.path(), &stand_in) {
            let at = entry.location(&inventory.path);
            problems.extend(found.into_iter().map(|m| format!("{at}: device `{}`: {m}", entry.id)));
        }
    }
    if !problems.is_empty() {
        return Err(CliError::Input(format!(
            "the inventory cannot be audited; nothing was queued:\n  {}",
            problems.join("\n  ")
        )));
    }
    let queued = QueuedRun {
        run: RunMeta {
            run_id: args.run.clone(),
            started: now(),
            inventory: args.inventory.display().to_string(),
            inventory_digest: inventory.digest.clone(),
            suite: INSPECTION_SUITE.into(),
            regulation: args.regulation.clone(),
            cases: ids.iter().cloned().collect(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            device_count: inventory.devices.len(),
        },
        device_timeout_s: args.device_timeout_s,
        max_deliver: args.max_deliver,
    };
    let queue = FleetQueue::connect(&args.nats, &args.run).await.map_err(nats_err)?;
    let done = queue.submit(&queued, &inventory.devices).await.map_err(nats_err)?;
    queue.flush().await;
    let url = queue.url();
    let resumed = if done.resumed {
        format!(
            " (resumed: {} already queued, {} already audited)",
            done.already_queued, done.already_done
        )
    } else {
        String::new()
    };
    errln!(
        "fleet run {}: {} devices queued on {}{resumed} ({} read-only cases each; a device is redelivered after {} s of silence from its worker, and given up after {} lost deliveries)",
        args.run,
        done.queued,
        url,
        ids.len(),
        hopquy_fleet::nats::ack_wait(Duration::from_secs(args.device_timeout_s)).as_secs(),
        args.max_deliver
    );
    errln!(
        "next: `hopquy fleet worker --nats {url} --run {} --out DIR` on each machine, then `hopquy fleet report --nats {url} --run {} --out DIR`",
        args.run,
        args.run
    );
    Ok(exit::PASS)
}

/// What the worker's loops share.
struct Shared<'a> {
    queue: &'a FleetQueue,
    work: &'a WorkQueue,
    store: &'a Mutex<SqliteStore>,
    root: &'a Path,
    scratch: &'a Path,
    progress: &'a FleetProgress,
    failure: &'a Mutex<Option<String>>,
    heartbeat: Duration,
    audited: &'a std::sync::atomic::AtomicUsize,
    /// Deliveries of a device that may lose their worker before it is given up.
    max_deliver: u32,
}

/// `hopquy fleet worker`: pulls devices until the run's queue is empty, each audited with the
/// same pipeline as `fleet run`, recorded here, published, then acknowledged.
pub async fn worker(suite_root: Option<PathBuf>, args: FleetWorkerArgs) -> Result<u8, CliError> {
    if args.concurrency == 0 {
        return Err(CliError::Usage("--concurrency must be at least 1".into()));
    }
    let root = suite::locate(suite_root)?;
    let suite = suite::load_suite(&root)?;
    let queue = FleetQueue::connect(&args.nats, &args.run).await.map_err(nats_err)?;
    let queued = queue.run().await.map_err(nats_err)?;
    let meta = &queued.run;
    let reg = suite
        .regulation(&meta.regulation)
        .ok_or_else(|| CliError::Input(format!("this machine's suite has no regulation `{}`", meta.regulation)))?;
    let cases: Vec<hopquy_case::Case> = suite.cases.iter().map(|c| c.case.clone()).collect();
    let ids = hopquy_fleet::inspection_cases(&cases, &reg.regulation).map_err(|e| CliError::Usage(e.to_string()))?;
    if ids.iter().cloned().collect::<Vec<_>>() != meta.cases {
        return Err(CliError::Input(format!(
            "this machine's inspection suite differs from the one fleet run {} was submitted with (its devices would not compare); install the same hopquy and suite",
            meta.run_id
        )));
    }
    let store = open_run_store(&args.out, meta)?;
    for dir in [TARGETS_DIR, DEVICES_DIR] {
        std::fs::create_dir_all(args.out.join(dir)).map_err(|e| CliError::Storage(format!("creating {dir}/: {e}")))?;
    }
    let work = queue.work().await.map_err(nats_err)?;
    let device_timeout = Duration::from_secs(queued.device_timeout_s);
    let heartbeat = (hopquy_fleet::nats::ack_wait(device_timeout) / 4).min(Duration::from_secs(30));
    errln!(
        "fleet worker for run {} on {}: {} devices in the run, {} at a time here",
        meta.run_id,
        queue.url(),
        meta.device_count,
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
    let scratch = tempfile::tempdir().map_err(CliError::io("creating a temporary directory"))?;
    let progress = FleetProgress::new(meta.device_count, 0, meta.device_count);
    let failure: Mutex<Option<String>> = Mutex::new(None);
    let store = Mutex::new(store);
    let audited = std::sync::atomic::AtomicUsize::new(0);
    let inventory = PathBuf::from(&meta.inventory);
    let ctx = DeviceContext {
        suite: &suite,
        root: &root,
        out: &args.out,
        regulation: &meta.regulation,
        ids: &ids,
        run_id: &meta.run_id,
        inventory: &inventory,
        stop: &stop,
        device_timeout,
    };
    let shared = Shared {
        queue: &queue,
        work: &work,
        store: &store,
        root: &root,
        scratch: scratch.path(),
        progress: &progress,
        failure: &failure,
        heartbeat,
        audited: &audited,
        max_deliver: queued.max_deliver,
    };
    let lost_watch = async {
        while !stop.load(Ordering::SeqCst) {
            if queue.lost() {
                stop.store(true, Ordering::SeqCst);
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let loops = futures::future::join_all((0..args.concurrency).map(|_| work_loop(&ctx, &shared)));
    tokio::select! {
        _ = loops => {}
        () = async { lost_watch.await; std::future::pending::<()>().await } => {}
    }
    ctrl_c.abort();
    progress.done();
    let n = audited.load(Ordering::SeqCst);
    if queue.lost() {
        return Err(CliError::CannotStart(format!(
            "lost the connection to the NATS server at {}; this worker stopped. Devices it had not acknowledged stay queued and are redelivered; the {n} it recorded are in {} and are published again when `hopquy fleet worker --nats {} --run {} --out {}` starts once the server is back",
            queue.url(),
            args.out.display(),
            queue.url(),
            args.run,
            args.out.display()
        )));
    }
    if let Some(f) = failure.into_inner().ok().flatten() {
        return Err(CliError::Storage(format!(
            "the fleet worker stopped: {f}. Devices not acknowledged stay queued for the other workers"
        )));
    }
    if stop.load(Ordering::SeqCst) {
        errln!("interrupted: {n} devices audited here; the rest stay queued");
        return Ok(exit::INCONCLUSIVE);
    }
    errln!(
        "fleet run {}: the queue is empty; {n} devices were audited by this worker",
        meta.run_id
    );
    Ok(exit::PASS)
}

/// One of the worker's `--concurrency` loops: one device at a time until the queue is empty.
async fn work_loop(ctx: &DeviceContext<'_>, shared: &Shared<'_>) {
    while !ctx.stop.load(Ordering::SeqCst) {
        let work = match shared.work.next(Duration::from_secs(2)).await {
            Ok(Some(w)) => w,
            Ok(None) => {
                // Nothing came: done only when no device is left unacknowledged anywhere (one
                // held by a worker that died is redelivered once its ack wait ends).
                match shared.work.remaining().await {
                    Ok(0) => return,
                    Ok(_) => continue,
                    Err(e) if !shared.queue.lost() => {
                        ctx.stop.store(true, Ordering::SeqCst);
                        note(shared.failure, e.to_string());
                        return;
                    }
                    Err(_) => return,
                }
            }
            Err(e @ NatsError::Invalid { .. }) => {
                tracing::error!("{e}");
                continue;
            }
            Err(e) => {
                if !shared.queue.lost() {
                    ctx.stop.store(true, Ordering::SeqCst);
                    note(shared.failure, e.to_string());
                }
                return;
            }
        };
        if let Err(e) = one_device(ctx, shared, &work).await {
            ctx.stop.store(true, Ordering::SeqCst);
            if !shared.queue.lost() {
                note(shared.failure, e);
            }
            return;
        }
    }
}

/// TEST ONLY: `HOPQUY_TEST_CRASH_ON_DEVICE=<id>` makes the worker exit at once, unrecorded
/// and unacknowledged, when it starts auditing device `<id>` — a device whose audit kills its
/// worker, for tests/it/fleet_nats.rs. Not for production use; no other effect.
fn test_crash_hook(id: &str) {
    if std::env::var("HOPQUY_TEST_CRASH_ON_DEVICE").is_ok_and(|v| v == id) {
        errln!("{id}: HOPQUY_TEST_CRASH_ON_DEVICE: this worker exits now");
        std::process::exit(101);
    }
}

/// The result of a device every delivery of which lost its worker.
fn gave_up(entry: &DeviceEntry, lost: i64) -> DeviceRecord {
    DeviceRecord {
        device: entry.id.clone(),
        host: entry.host.clone(),
        site: entry.site.clone(),
        owner: entry.owner.clone(),
        profile: entry.profile.clone(),
        status: DeviceStatus::GaveUp,
        detail: Some(format!(
            "gave up after {lost} deliveries: each worker that took this device stopped (killed or crashed) before recording it; its partial bundles, if any, are in devices/.unrecorded/ or devices/{} on those workers",
            entry.id
        )),
        bundle: None,
        bundle_host: None,
        bundle_path: None,
        started: now(),
        finished: now(),
        cases: Vec::new(),
    }
}

/// Audits, records, publishes and acknowledges one device. `Err`: the worker must stop.
async fn one_device(ctx: &DeviceContext<'_>, shared: &Shared<'_>, work: &Work) -> Result<(), String> {
    let id = &work.device.id;
    let recorded = {
        let store = shared
            .store
            .lock()
            .map_err(|_| "the store lock was poisoned".to_owned())?;
        if store.finished_devices().map_err(|e| e.to_string())?.contains(id) {
            store
                .devices()
                .map_err(|e| e.to_string())?
                .into_iter()
                .find(|d| &d.device == id)
        } else {
            None
        }
    };
    let record = match recorded {
        // Recorded here before this worker stopped, but not acknowledged: published again.
        Some(record) => {
            errln!("{id}: already recorded here; publishing its result again");
            record
        }
        // Every earlier delivery lost its worker: recorded as given up, not audited again.
        None if work.delivered > i64::from(shared.max_deliver) => {
            let lost = work.delivered - 1;
            errln!("{id}: gave up after {lost} deliveries");
            let record = gave_up(&work.device, lost);
            let written = match shared.store.lock() {
                Ok(mut s) => s.record(&record).map_err(|e| e.to_string()),
                Err(_) => Err("the store lock was poisoned".into()),
            };
            if let Err(e) = written {
                work.nak().await;
                return Err(format!("recording device `{id}`: {e}"));
            }
            shared.progress.finished(&record);
            record
        }
        None => {
            errln!("auditing {id} (delivery {})", work.delivered);
            let env = |var: &str| std::env::var(var).ok();
            let prepared = match prepare_one(&work.device, shared.root, shared.scratch, &env) {
                Ok(p) => p,
                Err(problems) => {
                    // Another worker may have what this one lacks (a password variable).
                    work.nak().await;
                    return Err(format!(
                        "device `{id}` cannot be audited on this machine: {}",
                        problems.join("; ")
                    ));
                }
            };
            set_aside_unrecorded(ctx.out, id).map_err(|e| e.to_string())?;
            let heartbeat = work.heartbeat(shared.heartbeat);
            test_crash_hook(id);
            let outcome = audit(ctx, &prepared).await;
            heartbeat.abort();
            let record = match outcome {
                Ok(Some(record)) => record,
                Ok(None) => {
                    work.nak().await;
                    return Ok(());
                }
                Err(e) => {
                    work.nak().await;
                    return Err(format!("device `{id}`: {e}"));
                }
            };
            let written = match shared.store.lock() {
                Ok(mut s) => s.record(&record).map_err(|e| e.to_string()),
                Err(_) => Err("the store lock was poisoned".into()),
            };
            if let Err(e) = written {
                work.nak().await;
                return Err(format!("recording device `{id}`: {e}"));
            }
            shared.audited.fetch_add(1, Ordering::SeqCst);
            shared.progress.finished(&record);
            record
        }
    };
    // Stored here first, then published, then acknowledged: a stop between any two steps
    // loses nothing (not acknowledged: redelivered; recorded: published again on restart).
    shared
        .queue
        .publish_result(&record)
        .await
        .map_err(|e| format!("publishing the result of `{id}`: {e}"))?;
    work.ack().await.map_err(|e| format!("acknowledging `{id}`: {e}"))?;
    Ok(())
}
