//! `hopquy run`, and the run pipeline `demo` shares with it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hopquy_case::{LoadedTarget, ResolvedProfile, Suite, render_diagnostics};
use hopquy_evidence::{BundleWriter, CaseResult, FinishOptions, ReportContext, Results, Verdict, paths};
use hopquy_runner::{Operator, RunOptions, Runner};

use crate::bundle::BundleObserver;
use crate::commands::firmware::{self, ScannedFirmware};
use crate::commands::labnet::{LabNetSpec, RunLabNet};
use crate::commands::plan;
use crate::exit::{self, CliError};
use crate::operator::{Answers, BenchOperator};
use crate::progress::Progress;
use crate::suite;
use crate::{RerunArgs, RunArgs};

pub async fn run(suite_root: Option<PathBuf>, args: RunArgs) -> Result<u8, CliError> {
    // A dry run sends nothing, so it needs no password.
    let target = if args.dry_run {
        suite::load_target_offline(&args.target)?
    } else {
        suite::load_target(&args.target)?
    };
    let report = match &args.lab {
        Some(p) => load_lab(p)?,
        None => ReportContext::default(),
    };
    let signing_key = load_key(args.sign.as_deref())?;
    let mut identified = None;
    let (suite, profile, out, mode, regulation) = match &args.resume {
        Some(bundle) => {
            // A resumed run uses the definitions recorded in the bundle, so the finished and
            // the remaining cases come from the same case set.
            let (suite, profile) = bundle_definitions(bundle, &target, None)?;
            let previous = finished_cases(bundle)?;
            let regulation = recorded_regulation(bundle).unwrap_or_else(|| args.regulation.clone());
            errln!(
                "resuming {}: {} cases already finished",
                bundle.display(),
                previous.len()
            );
            (suite, profile, bundle.clone(), Mode::Resume { previous }, regulation)
        }
        None => {
            let root = suite::locate(suite_root)?;
            let suite = suite::load_suite(&root)?;
            let profile = if suite::wants_identification(&target) {
                if args.dry_run {
                    return Err(CliError::Usage(
                        "`profile = \"auto\"` identifies the device from its answers, and --dry-run sends nothing: name the profile in the target file to plan".into(),
                    ));
                }
                let found = suite::identify_profile(&root, &target).await?;
                errln!("profile auto: {}", found.found.reason);
                match found.profile.clone() {
                    Some(p) => {
                        identified = Some(found);
                        p
                    }
                    None => {
                        return Err(CliError::CannotStart(format!(
                            "the device is unidentified: {}",
                            found.found.reason
                        )));
                    }
                }
            } else {
                suite::load_profile(&root, &target)?
            };
            let out = args.out.clone().unwrap_or_else(|| default_out(&target));
            (suite, profile, out, Mode::Fresh, args.regulation.clone())
        }
    };
    let answers = match &args.answers {
        Some(p) => Answers::load_for(p, &suite).map_err(CliError::Input)?,
        None => Answers::default(),
    };
    let answered = answers.answered();
    let firmware = match (&args.resume, &args.firmware) {
        (Some(_), Some(_)) => {
            return Err(CliError::Usage(
                "--firmware cannot be combined with --resume: the resumed run judges the image its bundle recorded"
                    .into(),
            ));
        }
        (Some(bundle), None) => firmware::recorded_report(bundle)?.map(Firmware::Recorded),
        // A dry run sends nothing and judges nothing; the image is not read either.
        (None, Some(image)) if !args.dry_run => Some(Firmware::Scanned(firmware::scan_for_run(
            &suite,
            image,
            args.vulndb.as_deref(),
        )?)),
        (None, _) => None,
    };
    // A resumed partial run keeps the cases it planned and the selection they came from.
    let (only, selection) = match &args.resume {
        Some(bundle) => match recorded_plan(bundle) {
            Some((planned, selection)) => (Some(planned), selection),
            None => (None, None),
        },
        None => plan::resolve_selection(&suite, &regulation, &args.select.selection())?,
    };
    if args.dry_run {
        let view = plan::build(
            &suite,
            &profile,
            &target,
            &regulation,
            only.as_ref(),
            selection,
            args.allow_destructive,
            args.lab_net.is_some(),
            &answered,
        )?;
        plan::show(&view, args.json);
        return Ok(exit::PASS);
    }
    let operator: Arc<dyn Operator> = Arc::new(BenchOperator::new(answers, args.non_interactive));
    let spec = RunSpec {
        suite: &suite,
        regulation: &regulation,
        answered,
        profile: &profile,
        target: &target,
        out: &out,
        only,
        selection,
        allow_destructive: args.allow_destructive,
        exhaustive: args.exhaustive,
        json: args.json,
        report,
        signing_key: signing_key.as_ref(),
        mode,
        quiet: false,
        cancel: None,
        identified: identified.as_ref(),
    };
    let lab_net = args.lab_net.clone().map(|iface| LabNetSpec {
        iface,
        mode: args.lab_net_mode,
        geoip: args.geoip.clone(),
        wait: Duration::from_secs(args.lab_net_wait),
        extra_ports: args.lab_net_port.clone(),
    });
    let finished = execute_full(spec, operator, firmware, lab_net).await?;
    if finished.interrupted {
        return Ok(exit::INCONCLUSIVE);
    }
    print_summary(&finished.results, &finished.dir, args.json);
    Ok(exit::for_results(&finished.results))
}

/// `hopquy rerun BUNDLE --target FILE`: the bundle's exact definitions against a device.
pub async fn rerun(args: RerunArgs) -> Result<u8, CliError> {
    let target = suite::load_target(&args.target)?;
    let original = hopquy_evidence::read_results(&args.bundle).map_err(|e| CliError::Input(e.to_string()))?;
    let (suite, profile) = bundle_definitions(&args.bundle, &target, original.profile.as_deref())?;
    if let Ok(manifest) = hopquy_evidence::read_manifest(&args.bundle)
        && let Some(recorded) = manifest.case_set_digest.as_deref()
        && recorded != suite.digest()
    {
        return Err(CliError::Input(format!(
            "{}: the definitions no longer match the manifest's case-set digest; verify the bundle first",
            args.bundle.display()
        )));
    }
    let answers = match &args.answers {
        Some(p) => Answers::load_for(p, &suite).map_err(CliError::Input)?,
        None => Answers::default(),
    };
    let answered = answers.answered();
    let signing_key = load_key(args.sign.as_deref())?;
    let firmware = args
        .firmware
        .as_deref()
        .map(|image| firmware::scan_for_run(&suite, image, args.vulndb.as_deref()))
        .transpose()?;
    match (&original.firmware, &firmware) {
        (Some(before), None) => errln!(
            "warning: the original run judged firmware image {} (sha256 {}); without --firmware its firmware cases are inconclusive",
            hopquy_evidence::sanitize_text(&before.name),
            before.sha256
        ),
        (Some(before), Some(now)) if before.sha256 != now.report.image.sha256 => errln!(
            "warning: --firmware is not the original run's image (sha256 {} there, {} here)",
            before.sha256,
            now.report.image.sha256
        ),
        _ => {}
    }
    let operator: Arc<dyn Operator> = Arc::new(BenchOperator::new(answers, args.non_interactive));
    let out = args.out.clone().unwrap_or_else(|| default_out(&target));
    let spec = RunSpec {
        suite: &suite,
        answered,
        regulation: &original.regulation,
        profile: &profile,
        target: &target,
        out: &out,
        // The same selection of cases as the original run, so verdicts compare one to one and
        // a partial run stays partial (the runner records no selection when it is the whole
        // plan). A bundle from before `selection` was recorded: the cases it ran.
        only: Some(match &original.selection {
            Some(ids) => ids.iter().cloned().collect(),
            None => original.cases.iter().map(|c| c.id.clone()).collect(),
        }),
        selection: original.selection_criteria.clone(),
        allow_destructive: args.allow_destructive,
        exhaustive: args.exhaustive,
        json: args.json,
        report: ReportContext {
            remarks: Some(format!(
                "Re-run of bundle {} (run {}).",
                args.bundle.display(),
                original.run_id.as_deref().unwrap_or("?")
            )),
            ..Default::default()
        },
        signing_key: signing_key.as_ref(),
        mode: Mode::Fresh,
        quiet: false,
        cancel: None,
        identified: None,
    };
    let finished = execute_with_firmware(spec, operator, firmware.map(Firmware::Scanned)).await?;
    print_summary(&finished.results, &finished.dir, args.json);
    if !args.json {
        let d = hopquy_evidence::diff(&original, &finished.results);
        errln!("\ncompared with {}:\n{d}", args.bundle.display());
    }
    Ok(if finished.interrupted {
        exit::INCONCLUSIVE
    } else {
        exit::for_results(&finished.results)
    })
}

fn load_key(path: Option<&Path>) -> Result<Option<hopquy_evidence::SigningKey>, CliError> {
    path.map(|p| hopquy_evidence::load_signing_key(p).map_err(|e| CliError::Input(e.to_string())))
        .transpose()
}

/// The suite and profile recorded in a bundle's definitions/.
fn bundle_definitions(
    bundle: &Path,
    target: &LoadedTarget,
    recorded_profile: Option<&str>,
) -> Result<(Suite, ResolvedProfile), CliError> {
    let defs = bundle.join(paths::DEFINITIONS_DIR);
    if !defs.join("test-cases").is_dir() {
        return Err(CliError::Input(format!(
            "{} holds no definitions/test-cases",
            bundle.display()
        )));
    }
    let (suite, diags) = Suite::load(defs.join("test-cases"));
    if !diags.is_empty() {
        return Err(CliError::Input(render_diagnostics(&diags)));
    }
    let wanted = target.target.connection.profile.get_ref();
    let stem = Path::new(wanted.as_str())
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = recorded_profile.map(str::to_owned).unwrap_or(stem.clone());
    if name != stem {
        errln!("note: the bundle was run with profile `{name}`; using it, not the target file's `{stem}`");
    }
    let profile =
        hopquy_case::load_profile(&name, defs.join("profiles")).map_err(|d| CliError::Input(render_diagnostics(&d)))?;
    Ok((suite, profile))
}

/// Results of cases an interrupted run already finished (cases/<id>/result.json).
fn finished_cases(bundle: &Path) -> Result<Vec<CaseResult>, CliError> {
    let mut out = Vec::new();
    let dir = bundle.join(paths::CASES_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    for e in entries.flatten() {
        let path = e.path().join(paths::CASE_RESULT_FILE);
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let result: CaseResult =
            serde_json::from_slice(&bytes).map_err(|err| CliError::Input(format!("{}: {err}", path.display())))?;
        out.push(result);
    }
    Ok(out)
}

/// The cases an interrupted run planned and the selection they came from (its first event).
fn recorded_plan(bundle: &Path) -> Option<(BTreeSet<String>, Option<hopquy_evidence::SelectionCriteria>)> {
    let events = hopquy_evidence::read_events(bundle).ok()?;
    events.iter().find_map(|e| match e {
        hopquy_evidence::Event::RunStarted {
            planned_cases,
            selection,
            ..
        } => Some((planned_cases.iter().cloned().collect(), selection.clone())),
        _ => None,
    })
}

fn recorded_regulation(bundle: &Path) -> Option<String> {
    let events = hopquy_evidence::read_events(bundle).ok()?;
    events.iter().find_map(|e| match e {
        hopquy_evidence::Event::RunStarted { regulation, .. } => Some(regulation.clone()),
        _ => None,
    })
}

pub struct RunSpec<'a> {
    pub suite: &'a Suite,
    /// The (case, step) pairs the answers file answers: one whose case the run does not
    /// plan is a warning in the evidence and on the terminal.
    pub answered: Vec<(String, String)>,
    pub regulation: &'a str,
    pub profile: &'a ResolvedProfile,
    pub target: &'a LoadedTarget,
    pub out: &'a Path,
    pub only: Option<BTreeSet<String>>,
    /// How `only` was chosen, recorded in the bundle.
    pub selection: Option<hopquy_evidence::SelectionCriteria>,
    pub allow_destructive: bool,
    /// Dictionaries try every pair (`--exhaustive`) instead of stopping at the first accepted.
    pub exhaustive: bool,
    pub json: bool,
    pub report: ReportContext,
    pub signing_key: Option<&'a hopquy_evidence::SigningKey>,
    pub mode: Mode,
    /// Print nothing (no progress, no warnings): a fleet run shows its own progress.
    pub quiet: bool,
    /// Stops the run when set. `None`: this run stops on Ctrl-C itself; a fleet run passes
    /// its own flag, set on Ctrl-C or when the device's time is up.
    pub cancel: Option<Arc<AtomicBool>>,
    /// How `profile = "auto"` chose `profile`: its exchanges go into the bundle and its
    /// conclusion into results.json.
    pub identified: Option<&'a suite::Identified>,
}

pub enum Mode {
    Fresh,
    /// Continue an incomplete bundle; these cases are kept as they are.
    Resume {
        previous: Vec<CaseResult>,
    },
}

pub struct Finished {
    pub results: Results,
    pub dir: PathBuf,
    pub interrupted: bool,
}

/// The firmware image a run judges.
pub enum Firmware {
    /// Scanned for this run: its files go into the new bundle.
    Scanned(ScannedFirmware),
    /// Already in the bundle being resumed.
    Recorded(Arc<hopquy_firmware::FirmwareReport>),
}

/// Validate, check reachability, run, and write the bundle (no firmware image).
pub async fn execute(spec: RunSpec<'_>, operator: Arc<dyn Operator>) -> Result<Finished, CliError> {
    execute_with_firmware(spec, operator, None).await
}

/// [`execute`], with the firmware image the `firmware` steps judge.
pub async fn execute_with_firmware(
    spec: RunSpec<'_>,
    operator: Arc<dyn Operator>,
    firmware: Option<Firmware>,
) -> Result<Finished, CliError> {
    execute_full(spec, operator, firmware, None).await
}

/// [`execute_with_firmware`], with the camera's own network (`--lab-net`): started before
/// the device is first contacted (the camera may need its DHCP lease to be reachable) and
/// stopped after the last case, its record and capture written into the bundle.
pub async fn execute_full(
    spec: RunSpec<'_>,
    operator: Arc<dyn Operator>,
    firmware: Option<Firmware>,
    lab_net: Option<LabNetSpec>,
) -> Result<Finished, CliError> {
    let diags = hopquy_case::validate_against_catalogue(&spec.suite.cases, &spec.suite.regulations);
    if !diags.is_empty() {
        return Err(CliError::Input(render_diagnostics(&diags)));
    }
    if let Some(only) = &spec.only {
        let unknown: Vec<&String> = only.iter().filter(|id| spec.suite.case(id).is_none()).collect();
        if !unknown.is_empty() {
            return Err(CliError::Usage(format!(
                "unknown case id(s): {}",
                unknown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let mut input = suite::run_input(spec.suite, spec.regulation, spec.profile, spec.target)?;
    // Dropped on any early return: the network stops and hopquy's address is removed.
    // Read before the network starts, so a bad file changes nothing on the host.
    if let Some(path) = lab_net.as_ref().and_then(|spec| spec.geoip.as_ref()) {
        let table = hopquy_case::load_geoip(path).map_err(|d| CliError::Input(render_diagnostics(&d)))?;
        input.geoip = Some(Arc::new(table));
    }
    let lab_net_spec = lab_net;
    let lab_net = match &lab_net_spec {
        Some(spec) => Some(RunLabNet::start(spec)?),
        None => None,
    };
    input.lab_net = lab_net.clone().map(|l| l as Arc<dyn hopquy_runner::LabNetControl>);
    let wait = match (&lab_net, &lab_net_spec) {
        (Some(_), Some(spec)) => spec.wait,
        _ => Duration::ZERO,
    };
    check_reachable(&input, wait).await?;
    input.firmware = firmware.as_ref().map(|f| match f {
        Firmware::Scanned(scanned) => scanned.report.clone(),
        Firmware::Recorded(report) => report.clone(),
    });

    let mut done = BTreeSet::new();
    let writer = match spec.mode {
        Mode::Fresh => {
            let mut writer = BundleWriter::create(spec.out).map_err(|e| CliError::Input(e.to_string()))?;
            write_definitions(&mut writer, spec.suite, spec.profile, spec.target)?;
            if let Some(identified) = spec.identified {
                write_identification(&mut writer, identified)?;
            }
            if let Some(Firmware::Scanned(scanned)) = &firmware {
                write_firmware(&mut writer, scanned)?;
            }
            writer
        }
        Mode::Resume { previous } => {
            done = previous.iter().map(|c| c.id.clone()).collect();
            input.previous = previous;
            BundleWriter::resume(spec.out).map_err(|e| CliError::Input(e.to_string()))?
        }
    };
    let progress = if spec.quiet {
        Progress::silent()
    } else {
        Progress::new(spec.json, operator.prompts_on_terminal())
    };
    let observer = BundleObserver::new(writer, progress);

    let (runner, ctrl_c) = match spec.cancel.clone() {
        Some(cancel) => (Runner { cancel }, None),
        None => {
            let runner = Runner::default();
            let cancel = runner.cancel.clone();
            let ctrl_c = tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    cancel.store(true, Ordering::SeqCst);
                }
            });
            (runner, Some(ctrl_c))
        }
    };
    let opts = RunOptions {
        regulation: spec.regulation.to_owned(),
        allow_destructive: spec.allow_destructive,
        exhaustive: spec.exhaustive,
        only: spec.only.clone(),
        selection: spec.selection.clone(),
        done,
        run_id: run_id(),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let outcome = runner.run(input, opts, &observer, operator).await;
    if let Some(ctrl_c) = ctrl_c {
        ctrl_c.abort();
    }

    let (writer, failure) = observer.take();
    let mut writer = writer.map_err(CliError::Storage)?;
    let mut outcome = outcome;
    if let Some(lab_net) = &lab_net {
        // Written even for an interrupted run: what the camera sent is evidence either way.
        outcome.results.lab_net = lab_net.finish(&mut writer)?;
    }
    if let Some(f) = failure {
        return Err(CliError::Storage(format!(
            "the evidence bundle could not be written: {f}"
        )));
    }
    let dir = writer.dir().to_path_buf();
    let ran: BTreeSet<&str> = outcome.results.cases.iter().map(|c| c.id.as_str()).collect();
    let unused: Vec<String> = spec
        .answered
        .iter()
        .filter(|(case, _)| !ran.contains(case.as_str()))
        .map(|(case, step)| {
            format!("the answer to `{case}`/`{step}` was not used: case `{case}` was not planned in this run")
        })
        .collect();
    if !spec.quiet {
        for warning in &unused {
            errln!("warning: {warning}");
        }
    }
    outcome.results.warnings.extend(unused);
    if outcome.interrupted {
        // Left incomplete on purpose: verify says so, and nothing already recorded is lost.
        if !spec.quiet {
            errln!(
                "interrupted: bundle {} left incomplete; finish it with `hopquy run --target … --resume {}`",
                dir.display(),
                dir.display()
            );
        }
        return Ok(Finished {
            results: outcome.results,
            dir,
            interrupted: true,
        });
    }
    outcome.results.profile_identified = spec.identified.map(|i| i.found.clone());
    let mut report = spec.report;
    report.case_set_digest = Some(spec.suite.digest());
    if let Some(reg) = spec.suite.regulation(spec.regulation) {
        report.regulation_title.get_or_insert_with(|| {
            format!(
                "{} — {} ({})",
                reg.regulation.title_vi, reg.regulation.title_en, reg.regulation.issued_by
            )
        });
        for cl in &reg.regulation.clauses {
            report
                .clause_titles
                .insert(cl.id.clone(), (cl.title_vi.clone(), cl.title_en.clone()));
        }
    }
    writer
        .finish(
            &outcome.results,
            FinishOptions {
                signing_key: spec.signing_key,
                report,
            },
        )
        .map_err(|e| CliError::Storage(format!("finishing the bundle: {e}")))?;
    Ok(Finished {
        results: outcome.results,
        dir,
        interrupted: false,
    })
}

fn write_definitions(
    writer: &mut BundleWriter,
    suite: &Suite,
    profile: &ResolvedProfile,
    target: &LoadedTarget,
) -> Result<(), CliError> {
    let err = |e: hopquy_evidence::EvidenceError| CliError::Storage(format!("writing definitions: {e}"));
    for (rel, text) in suite.files() {
        writer
            .write_definition(&format!("test-cases/{rel}"), text.as_bytes())
            .map_err(err)?;
    }
    for src in &profile.chain {
        writer
            .write_definition(&format!("profiles/{}.toml", src.name), src.text.as_bytes())
            .map_err(err)?;
    }
    writer
        .write_file(paths::TARGET_FILE, target.redacted_toml().as_bytes())
        .map_err(err)?;
    Ok(())
}

/// What identification read, as exchanges.jsonl lines, through the writer (so the manifest
/// hashes it).
fn write_identification(writer: &mut BundleWriter, identified: &suite::Identified) -> Result<(), CliError> {
    let mut bytes = Vec::new();
    for exchange in &identified.exchanges {
        serde_json::to_writer(&mut bytes, exchange)
            .map_err(|e| CliError::Storage(format!("writing the identification: {e}")))?;
        bytes.push(b'\n');
    }
    writer
        .write_file(paths::IDENTIFY_EXCHANGES_FILE, &bytes)
        .map_err(|e| CliError::Storage(format!("writing the identification: {e}")))
}

/// The scan's report and SBOM, through the writer so the manifest hashes them and `verify`
/// checks them like any evidence.
fn write_firmware(writer: &mut BundleWriter, scanned: &ScannedFirmware) -> Result<(), CliError> {
    let err = |e: hopquy_evidence::EvidenceError| CliError::Storage(format!("writing the firmware report: {e}"));
    writer
        .write_file(paths::FIRMWARE_REPORT_FILE, scanned.report_json.as_bytes())
        .map_err(err)?;
    writer
        .write_file(paths::FIRMWARE_SBOM_FILE, scanned.sbom_json.as_bytes())
        .map_err(err)
}

/// The run cannot start if no port the profile or target names answers at all. On the
/// lab network the camera is still booting when the network comes up, so every port is
/// tried again each second until `wait` has passed.
async fn check_reachable(input: &hopquy_runner::RunInput, wait: Duration) -> Result<(), CliError> {
    let mut ports: Vec<u16> = input.target.ports.values().copied().collect();
    ports.extend(input.profile.ports.values().copied());
    ports.sort_unstable();
    ports.dedup();
    let device = hopquy_probe::Device::new(input.target.host.clone(), input.target.limits.clone());
    let deadline = tokio::time::Instant::now() + wait;
    let mut announced = false;
    loop {
        let mut last = String::from("no port to try");
        for port in &ports {
            match device.connect_tcp(*port).await {
                Ok(_) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
        }
        if tokio::time::Instant::now() >= deadline {
            let waited = if wait.is_zero() {
                String::new()
            } else {
                format!(" after waiting {} s (--lab-net-wait)", wait.as_secs())
            };
            return Err(CliError::Unreachable(format!(
                "device {} is unreachable on every port of its profile ({}){waited}: {last}",
                input.target.host,
                ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
            )));
        }
        if !announced {
            tracing::info!(host = %input.target.host, wait_s = wait.as_secs(), "waiting for the camera to answer");
            announced = true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn run_id() -> String {
    let n: u64 = rand::random();
    format!("{}-{:08x}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"), n as u32)
}

fn default_out(target: &LoadedTarget) -> PathBuf {
    let d = &target.target.device;
    let safe: String = format!(
        "{}-{}-{}",
        d.model,
        d.firmware,
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    )
    .chars()
    .map(|c| {
        if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
            c
        } else {
            '_'
        }
    })
    .collect();
    PathBuf::from(format!("hopquy-{safe}"))
}

/// Keys of [`ReportContext`] the run itself sets: a lab file that sets them would be
/// silently overwritten, so they are errors there.
const RUN_SET_LAB_KEYS: [&str; 3] = ["case_set_digest", "signed", "signer_fingerprint"];

/// The `--lab` file (format: docs/examples/lab.toml).
fn load_lab(path: &Path) -> Result<ReportContext, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    if let Ok(table) = text.parse::<toml::Table>()
        && let Some(key) = RUN_SET_LAB_KEYS.iter().find(|key| table.contains_key(**key))
    {
        return Err(CliError::Input(format!(
            "{}: `{key}` is set by the run, not by the lab file (see docs/examples/lab.toml)",
            path.display()
        )));
    }
    toml::from_str::<ReportContext>(&text).map_err(|e| {
        let (line, col) = e
            .span()
            .map(|s| {
                let before = &text[..s.start.min(text.len())];
                (
                    before.matches('\n').count() + 1,
                    before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
                )
            })
            .unwrap_or((1, 1));
        CliError::Input(format!("{}:{line}:{col}: {}", path.display(), e.message()))
    })
}

/// Per-clause summary on stderr (stdout carries `--json` events).
pub fn print_summary(results: &Results, dir: &Path, json: bool) {
    if json {
        return;
    }
    errln!();
    for line in summary_lines(results) {
        errln!("{line}");
    }
    errln!("evidence bundle: {}", dir.display());
}

const TITLE_CHARS: usize = 60;
/// The not-tested clause ids on the count line before "…": the full list is in results.json
/// and report.html.
const NOT_TESTED_CHARS: usize = 120;

/// What a partial run covers, so a reader of the terminal never takes it for a full test.
fn partial_line(results: &Results) -> String {
    let tested = results.clauses.len();
    let total = tested + results.clauses_not_tested.len();
    let ids: Vec<&str> = results.clauses.iter().map(|c| c.id.as_str()).collect();
    let mut line = format!(
        "PARTIAL RUN: {tested} of {total} clauses tested ({}); the others are not tested",
        if ids.is_empty() {
            "none".to_owned()
        } else {
            ids.join(", ")
        }
    );
    if let Some(criteria) = &results.selection_criteria {
        line.push_str(&format!(" — selection: {}", criteria.describe()));
    }
    if let Some(selection) = &results.selection {
        line.push_str(&format!(" — cases selected: {}", selection.join(", ")));
    }
    line
}

/// Case ids listed per cause before "and N more": enough to find them, short enough to read.
const CAUSE_CASES_SHOWN: usize = 4;

/// The clause table, the verdict counts and, when some case is undecided, one "what to do"
/// line per distinct cause.
fn summary_lines(results: &Results) -> Vec<String> {
    let mut lines = vec![format!(
        "Kết quả theo điều khoản / Results by clause — {}",
        results.regulation
    )];
    if results.is_partial() {
        lines.push(partial_line(results));
    }
    let width = results
        .clauses
        .iter()
        .map(|c| c.id.chars().count())
        .max()
        .unwrap_or(8)
        .max(8);
    for c in &results.clauses {
        let title = shorten_at_word(c.title_en.as_deref().unwrap_or(""), TITLE_CHARS);
        let mut line = format!(
            "  {:<width$} {:<15} {:<TITLE_CHARS$} {}",
            c.id,
            c.verdict.as_str(),
            title,
            c.cases.len()
        );
        if !c.causes.is_empty() {
            let causes: Vec<&str> = c.causes.iter().map(|cause| cause.as_str()).collect();
            line.push_str(&format!("  [{}]", causes.join(", ")));
        }
        lines.push(line.trim_end().to_owned());
    }
    let count = |v: Verdict| results.clauses.iter().filter(|c| c.verdict == v).count();
    let mut counts = format!(
        "clauses: {} pass, {} fail, {} inconclusive, {} error, {} not applicable",
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Inconclusive),
        count(Verdict::Error),
        count(Verdict::NotApplicable)
    );
    if !results.clauses_not_tested.is_empty() {
        let ids: Vec<&str> = results.clauses_not_tested.iter().map(|c| c.id.as_str()).collect();
        counts.push_str(&format!(
            "; {} not tested: {}",
            ids.len(),
            shorten_at_word(&ids.join(", "), NOT_TESTED_CHARS)
        ));
    }
    lines.push(counts);
    let classes = hopquy_evidence::distinct_causes(&results.cases);
    if !classes.is_empty() {
        lines.push("what to do about the undecided cases:".to_owned());
    }
    for class in classes {
        let cases: Vec<&CaseResult> = results
            .cases
            .iter()
            .filter(|c| c.cause.as_ref().is_some_and(|cause| cause.class == class))
            .collect();
        // The recorded hint: a resumed bundle says what its own run said.
        let hint = cases
            .first()
            .and_then(|c| c.cause.as_ref())
            .map_or(class.hint(), |cause| cause.hint.as_str());
        let ids: Vec<&str> = cases.iter().take(CAUSE_CASES_SHOWN).map(|c| c.id.as_str()).collect();
        let more = cases.len().saturating_sub(CAUSE_CASES_SHOWN);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let noun = if cases.len() == 1 { "case" } else { "cases" };
        lines.push(format!("  {class} ({} {noun}: {}{more})", cases.len(), ids.join(", ")));
        lines.push(format!("    → {hint}"));
    }
    lines
}

/// At most `max` characters, cut at a word boundary with "…" when cut, so a title never
/// ends in half a word.
pub(crate) fn shorten_at_word(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_owned();
    }
    // Room for the ellipsis.
    let head: String = text.chars().take(max.saturating_sub(1)).collect();
    let next_is_space = text.chars().nth(head.chars().count()).is_some_and(char::is_whitespace);
    let cut = if next_is_space {
        head.as_str()
    } else {
        match head.rfind(char::is_whitespace) {
            Some(at) => &head[..at],
            // One long word: cutting it is all that is left.
            None => head.as_str(),
        }
    };
    format!(
        "{}…",
        cut.trim_end_matches(|c: char| c.is_whitespace() || c == ',' || c == ';')
    )
}

#[cfg(test)]
mod tests {
    use hopquy_evidence::{Cause, CauseClass, ClauseResult, DeviceInfo, ToolInfo};

    use super::*;

    /// A finished full run with these cases and one clause; tests change what they vary.
    fn results_of(cases: Vec<CaseResult>, clause: ClauseResult) -> Results {
        Results {
            schema_version: hopquy_evidence::RESULTS_SCHEMA_VERSION,
            regulation: "qcvn135-2024".into(),
            tool: ToolInfo {
                name: "hopquy".into(),
                version: "0".into(),
            },
            device: DeviceInfo::default(),
            started: String::new(),
            finished: String::new(),
            clauses: vec![clause],
            cases,
            profile: None,
            run_id: None,
            complete: true,
            web_surface: None,
            firmware: None,
            profile_identified: None,
            lab_net: None,
            warnings: Vec::new(),
            selection: None,
            clauses_not_tested: Vec::new(),
            selection_criteria: None,
        }
    }

    #[test]
    fn the_example_lab_file_loads_and_run_set_keys_are_refused() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/lab.toml");
        let lab = load_lab(&example).unwrap();
        assert_eq!(lab.accreditation.as_deref(), Some("VILAS 000"));
        assert_eq!(lab.report_id.as_deref(), Some("KD-2026-0042"));
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("lab.toml");
        std::fs::write(&bad, "lab_name = \"A\"\nsigned = true\n").unwrap();
        let err = load_lab(&bad).unwrap_err().to_string();
        assert!(err.contains("`signed` is set by the run"), "{err}");
        std::fs::write(&bad, "lab_nam = \"A\"\n").unwrap();
        let err = load_lab(&bad).unwrap_err().to_string();
        assert!(err.contains("lab.toml:1:1"), "{err}");
    }

    #[test]
    fn long_titles_are_cut_between_words() {
        assert_eq!(shorten_at_word("short title", 60), "short title");
        let cut = shorten_at_word("No universal default passwords on any interface of the device", 30);
        assert_eq!(cut, "No universal default…");
        assert!(cut.chars().count() <= 30);
        assert_eq!(shorten_at_word("abcdefghij", 5), "abcd…");
    }

    fn case(id: &str, verdict: Verdict, cause: Option<CauseClass>) -> CaseResult {
        CaseResult {
            id: id.into(),
            clauses: vec!["2.1.5".into()],
            kind: hopquy_evidence::CaseKind::Automated,
            verdict,
            summary: "s".into(),
            evidence: Vec::new(),
            title: None,
            started: None,
            finished: None,
            steps: Vec::new(),
            cause: cause.map(Cause::of),
            cves: Vec::new(),
        }
    }

    #[test]
    fn each_distinct_cause_is_listed_once_with_its_hint() {
        let cases = vec![
            case(
                "lockout-http",
                Verdict::Inconclusive,
                Some(CauseClass::TargetCredentials),
            ),
            case(
                "lockout-rtsp",
                Verdict::Inconclusive,
                Some(CauseClass::TargetCredentials),
            ),
            case("tls-https", Verdict::Error, Some(CauseClass::NoAnswer)),
            case("default-credentials-http", Verdict::Pass, None),
        ];
        let clause = ClauseResult {
            id: "2.1.5".into(),
            verdict: Verdict::Error,
            cases: cases.iter().map(|c| c.id.clone()).collect(),
            title_en: Some("Brute-force protection of every network authentication mechanism".into()),
            title_vi: None,
            causes: hopquy_evidence::distinct_causes(&cases),
        };
        let results = results_of(cases, clause);
        assert_eq!(exit::for_results(&results), exit::INCONCLUSIVE);
        let lines = summary_lines(&results);
        let text = lines.join("\n");
        assert!(lines[1].ends_with("[target-credentials, no-answer]"), "{}", lines[1]);
        assert!(
            lines[1].contains("Brute-force protection of every network authentication…"),
            "{}",
            lines[1]
        );
        let hint = CauseClass::TargetCredentials.hint();
        assert_eq!(text.matches(hint).count(), 1, "{text}");
        assert!(
            text.contains("  target-credentials (2 cases: lockout-http, lockout-rtsp)"),
            "{text}"
        );
        assert!(text.contains("  no-answer (1 case: tls-https)"), "{text}");
        assert!(text.contains(CauseClass::NoAnswer.hint()), "{text}");
        assert!(!text.contains("unrecognised-answer"), "{text}");
    }

    #[test]
    fn a_partial_run_says_so_and_its_untested_clauses_count_as_nothing() {
        let cases = vec![case("lockout-http", Verdict::Pass, None)];
        let mut results = results_of(
            cases,
            ClauseResult {
                id: "2.1.5".into(),
                verdict: Verdict::Pass,
                cases: vec!["lockout-http".into()],
                title_en: None,
                title_vi: None,
                causes: Vec::new(),
            },
        );
        results.selection = Some(vec!["lockout-http".into()]);
        results.clauses_not_tested = vec![hopquy_evidence::UntestedClause {
            id: "2.1.1".into(),
            title_en: None,
            title_vi: None,
        }];
        let text = summary_lines(&results).join("\n");
        assert!(
            text.contains("PARTIAL RUN: 1 of 2 clauses tested (2.1.5)")
                && text.contains("cases selected: lockout-http"),
            "{text}"
        );
        assert!(text.contains("0 not applicable; 1 not tested: 2.1.1"), "{text}");
        assert!(!text.lines().any(|l| l.trim_start().starts_with("2.1.1")), "{text}");
        assert_eq!(exit::for_results(&results), exit::PASS);
        // Nothing tested at all is no pass.
        results.clauses.clear();
        assert_eq!(exit::for_results(&results), exit::INCONCLUSIVE);
    }
}
