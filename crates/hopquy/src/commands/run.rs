//! `hopquy run`, and the run pipeline `demo` shares with it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hopquy_case::{LoadedTarget, ResolvedProfile, Suite, render_diagnostics};
use hopquy_evidence::{BundleWriter, FinishOptions, ReportContext, Results, Verdict};
use hopquy_runner::{Operator, RunOptions, Runner};

use crate::RunArgs;
use crate::bundle::BundleObserver;
use crate::exit::{self, CliError};
use crate::operator::{Answers, BenchOperator};
use crate::progress::Progress;
use crate::suite;

pub async fn run(suite_root: Option<PathBuf>, args: RunArgs) -> Result<u8, CliError> {
    let root = suite::locate(suite_root)?;
    let suite = suite::load_suite(&root)?;
    let target = suite::load_target(&args.target)?;
    let profile = suite::load_profile(&root, &target)?;
    let answers = match &args.answers {
        Some(p) => Answers::load(p).map_err(CliError::Input)?,
        None => Answers::default(),
    };
    let report = match &args.lab {
        Some(p) => load_lab(p)?,
        None => ReportContext::default(),
    };
    let signing_key = match &args.sign {
        Some(p) => Some(hopquy_evidence::load_signing_key(p).map_err(|e| CliError::Input(e.to_string()))?),
        None => None,
    };
    let out = args.out.clone().unwrap_or_else(|| default_out(&target));
    let operator: Arc<dyn Operator> = Arc::new(BenchOperator::new(answers, args.non_interactive));
    let spec = RunSpec {
        suite: &suite,
        regulation: &args.regulation,
        profile: &profile,
        target: &target,
        out: &out,
        only: (!args.cases.is_empty()).then(|| args.cases.iter().cloned().collect()),
        allow_destructive: args.allow_destructive,
        json: args.json,
        report,
        signing_key: signing_key.as_ref(),
    };
    let finished = execute(spec, operator).await?;
    print_summary(&finished.results, &finished.dir, args.json);
    Ok(if finished.interrupted {
        exit::INCONCLUSIVE
    } else {
        exit::for_results(&finished.results)
    })
}

pub struct RunSpec<'a> {
    pub suite: &'a Suite,
    pub regulation: &'a str,
    pub profile: &'a ResolvedProfile,
    pub target: &'a LoadedTarget,
    pub out: &'a Path,
    pub only: Option<BTreeSet<String>>,
    pub allow_destructive: bool,
    pub json: bool,
    pub report: ReportContext,
    pub signing_key: Option<&'a hopquy_evidence::SigningKey>,
}

pub struct Finished {
    pub results: Results,
    pub dir: PathBuf,
    pub interrupted: bool,
}

/// Validate, check reachability, run, and write the bundle.
pub async fn execute(spec: RunSpec<'_>, operator: Arc<dyn Operator>) -> Result<Finished, CliError> {
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
    let input = suite::run_input(spec.suite, spec.regulation, spec.profile, spec.target)?;
    check_reachable(&input).await?;

    let mut writer = BundleWriter::create(spec.out).map_err(|e| CliError::Input(e.to_string()))?;
    write_definitions(&mut writer, spec.suite, spec.profile, spec.target)?;
    let observer = BundleObserver::new(writer, Progress::new(spec.json));

    let runner = Runner::default();
    let cancel = runner.cancel.clone();
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.store(true, Ordering::SeqCst);
        }
    });
    let opts = RunOptions {
        regulation: spec.regulation.to_owned(),
        allow_destructive: spec.allow_destructive,
        only: spec.only.clone(),
        done: BTreeSet::new(),
        run_id: run_id(),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let outcome = runner.run(input, opts, &observer, operator).await;
    ctrl_c.abort();

    let (writer, failure) = observer.take();
    let writer = writer.map_err(CliError::CannotStart)?;
    if let Some(f) = failure {
        return Err(CliError::CannotStart(format!(
            "the evidence bundle could not be written: {f}"
        )));
    }
    let dir = writer.dir().to_path_buf();
    if outcome.interrupted {
        // Left incomplete on purpose: verify says so, and nothing already recorded is lost.
        eprintln!("interrupted: bundle {} left incomplete", dir.display());
        return Ok(Finished {
            results: outcome.results,
            dir,
            interrupted: true,
        });
    }
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
        .map_err(|e| CliError::CannotStart(format!("finishing the bundle: {e}")))?;
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
    let err = |e: hopquy_evidence::EvidenceError| CliError::CannotStart(format!("writing definitions: {e}"));
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
        .write_file("target.toml", target.redacted_toml().as_bytes())
        .map_err(err)?;
    Ok(())
}

/// The run cannot start if no port the profile or target names answers at all.
async fn check_reachable(input: &hopquy_runner::RunInput) -> Result<(), CliError> {
    let mut ports: Vec<u16> = input.target.ports.values().copied().collect();
    ports.extend(input.profile.ports.values().copied());
    ports.sort_unstable();
    ports.dedup();
    let device = hopquy_probe::Device::new(input.target.host.clone(), input.target.limits.clone());
    let mut last = String::from("no port to try");
    for port in &ports {
        match device.connect_tcp(*port).await {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(CliError::CannotStart(format!(
        "device {} is unreachable on every port of its profile ({}): {last}",
        input.target.host,
        ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
    )))
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

fn load_lab(path: &Path) -> Result<ReportContext, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
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
    eprintln!();
    eprintln!("Kết quả theo điều khoản / Results by clause — {}", results.regulation);
    for c in &results.clauses {
        let title = c.title_en.as_deref().unwrap_or("");
        let title: String = title.chars().take(60).collect();
        eprintln!(
            "  {:<8} {:<15} {:<60} {}",
            c.id,
            c.verdict.as_str(),
            title,
            c.cases.len()
        );
    }
    let count = |v: Verdict| results.clauses.iter().filter(|c| c.verdict == v).count();
    eprintln!(
        "clauses: {} pass, {} fail, {} inconclusive, {} error, {} not applicable",
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Inconclusive),
        count(Verdict::Error),
        count(Verdict::NotApplicable)
    );
    eprintln!("evidence bundle: {}", dir.display());
}
