//! Executing a plan: steps, expectations, verdicts, events.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hopquy_case::{Case, Otherwise, ProfileFile, Regulation};
use hopquy_evidence::{
    CaseKind, CaseResult, Cause, CauseClass, ClauseResult, DeviceInfo, Event, Results, StepResult, StepStatus,
    ToolInfo, UntestedClause, Verdict, aggregate, distinct_causes, paths,
};
use hopquy_probe::{Credential, Device, Limits, ProbeError, Recorder, Redactor};
use serde_json::{Value, json};

use crate::actions::{self, ActionError, RunContext};
use crate::estimate;
use crate::expect;
use crate::plan::{self, PlannedCase, Skip};
use crate::template;

/// The device under test, as the runner needs it.
#[derive(Clone)]
pub struct Target {
    pub device: DeviceInfo,
    pub host: String,
    pub username: String,
    pub password: String,
    /// Port overrides from the target file (name → number).
    pub ports: BTreeMap<String, u16>,
    /// The `[declared]` table (IXIT) as JSON.
    pub declared: Value,
    pub limits: Limits,
    /// `[connection] web`: where the web API lives (`auto` discovers it).
    pub web: hopquy_case::WebPreference,
    /// `[connection] port_sweep`: what a sweep of every port covers.
    pub port_sweep: hopquy_case::PortSweep,
    /// `[connection] exclude_ports`: not the device's; sweeps skip them.
    pub exclude_ports: BTreeSet<u16>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("device", &self.device)
            .field("host", &self.host)
            .field("username", &self.username)
            .field("password", &hopquy_probe::exchange::REDACTED)
            .finish()
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub regulation: String,
    pub allow_destructive: bool,
    /// Dictionaries try every pair instead of stopping at the first accepted one.
    pub exhaustive: bool,
    /// Only these case ids (None = all mapped to the regulation).
    pub only: Option<BTreeSet<String>>,
    /// How the lab chose `only` (`--clause`, `--skip-effect`…), recorded in the evidence.
    pub selection: Option<hopquy_evidence::SelectionCriteria>,
    /// Case ids already finished (resume): reported from `previous`, not re-run.
    pub done: BTreeSet<String>,
    pub run_id: String,
    pub tool_version: String,
}

pub struct RunInput {
    pub cases: Vec<Case>,
    pub regulation: Regulation,
    pub profile_name: String,
    pub profile: ProfileFile,
    pub target: Target,
    /// Credential dictionaries by file stem (`default-credentials`).
    pub credential_dictionaries: BTreeMap<String, Vec<(String, String)>>,
    /// Path dictionaries by file stem (`rtsp-paths`).
    pub path_dictionaries: BTreeMap<String, Vec<String>>,
    /// Results of cases finished in an earlier, interrupted run of this bundle.
    pub previous: Vec<CaseResult>,
    /// The firmware image scanned for this run (`--firmware`), read by `firmware` steps;
    /// `None` when the run was given no image.
    pub firmware: Option<Arc<hopquy_firmware::FirmwareReport>>,
    /// The camera's own network when the run was given one (`--lab-net`); `None` otherwise.
    pub lab_net: Option<Arc<dyn crate::LabNetControl>>,
    /// The lab's GeoIP file (`--geoip`), read by `lab-net` steps; `None` without one.
    pub geoip: Option<Arc<hopquy_case::GeoIpTable>>,
}

/// A question for the person at the bench.
#[derive(Debug, Clone)]
pub struct OperatorRequest {
    pub case_id: String,
    pub case_title: String,
    pub step_id: String,
    pub prompt_en: String,
    pub prompt_vi: String,
    /// `confirm`, `yes-no`, `text`, `attachment`.
    pub answer_kind: String,
}

#[derive(Debug, Clone, Default)]
pub struct OperatorAnswer {
    /// `yes`/`no` for yes-no, `done` for confirm, free text for text.
    pub answer: String,
    /// Files to attach (absolute or relative to the answers file).
    pub attachments: Vec<std::path::PathBuf>,
    pub note: Option<String>,
    /// Who answered (operator name) if known.
    pub by: Option<String>,
}

/// Supplies operator answers: from an answers file, a terminal, or nobody.
pub trait Operator: Send + Sync {
    /// `None` = no answer available (non-interactive and not in the answers file).
    fn ask(&self, request: &OperatorRequest) -> Option<OperatorAnswer>;

    /// Whether `ask` may prompt a person on the terminal (progress displays step aside).
    fn prompts_on_terminal(&self) -> bool {
        false
    }
}

/// Everything one case produced, handed over before the next case starts.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    pub result: CaseResult,
    /// Redacted exchanges, each tagged with the step id.
    pub exchanges: Vec<Value>,
    /// Operator answers by step id.
    pub answers: BTreeMap<String, Value>,
    /// Files the operator attached, by step id.
    pub attachments: Vec<(String, std::path::PathBuf)>,
}

pub trait RunObserver: Send + Sync {
    fn event(&self, event: &Event);
    fn case_done(&self, outcome: &CaseOutcome);
}

#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub results: Results,
    pub interrupted: bool,
}

pub struct Runner {
    pub cancel: Arc<AtomicBool>,
}

impl Default for Runner {
    fn default() -> Self {
        Runner {
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// A step after which the device may present another certificate (and another web surface)
/// for a legitimate reason: in a destructive case, a person's action (factory reset, firmware
/// update, power cut) or a destructive profile operation. The next web step then discovers the
/// surface and pins the certificate anew; everywhere else a changed certificate stays an error.
fn may_change_web_identity(case: &Case, step: &hopquy_case::Step, ctx: &RunContext<'_>) -> bool {
    if case.effect != hopquy_case::Effect::Destructive {
        return false;
    }
    let destructive_op = |op: &Option<toml::Spanned<String>>| {
        op.as_ref()
            .and_then(|op| ctx.profile.ops.get(op.get_ref()))
            .is_some_and(|op| op.destructive == Some(true))
    };
    match step.action.get_ref() {
        hopquy_case::StepAction::Operator(_) => true,
        hopquy_case::StepAction::Http(http) => destructive_op(&http.op),
        hopquy_case::StepAction::Login(login) => destructive_op(&login.target.op),
        hopquy_case::StepAction::Recover(recover) => destructive_op(&recover.target.op),
        _ => false,
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Convenience: run without cancellation.
pub async fn run(
    input: RunInput,
    opts: RunOptions,
    observer: &dyn RunObserver,
    operator: Arc<dyn Operator>,
) -> RunOutcome {
    Runner::default().run(input, opts, observer, operator).await
}

impl Runner {
    pub async fn run(
        &self,
        input: RunInput,
        opts: RunOptions,
        observer: &dyn RunObserver,
        operator: Arc<dyn Operator>,
    ) -> RunOutcome {
        let started = now();
        let plan = plan::plan(
            &input.cases,
            &opts.regulation,
            &input.profile,
            opts.only.as_ref(),
            opts.allow_destructive,
            input.lab_net.is_some(),
            &opts.done,
        );
        let estimate = estimate::estimate(
            &plan,
            &input.target,
            &input.profile,
            &input.credential_dictionaries,
            &input.path_dictionaries,
        );
        observer.event(&Event::RunStarted {
            ts: started.clone(),
            run_id: opts.run_id.clone(),
            regulation: opts.regulation.clone(),
            planned_cases: plan.cases.iter().map(|(p, _)| p.case.id.get_ref().clone()).collect(),
            selection: opts.selection.clone(),
            estimated_s: Some(estimate.total.as_secs()),
        });

        let mut redactor = Redactor::new();
        redactor.add_secret(&input.target.username, &input.target.password);
        let redactor = Arc::new(redactor);
        let device = Device::new(input.target.host.clone(), input.target.limits.clone());
        let mut ctx = RunContext::new(
            device,
            &input.profile,
            &input.target,
            &input.credential_dictionaries,
            &input.path_dictionaries,
            operator,
            redactor.clone(),
            opts.allow_destructive,
        );
        ctx.exhaustive = opts.exhaustive;
        ctx.firmware = input.firmware.clone();
        ctx.lab_net = input.lab_net.clone();
        ctx.geoip = input.geoip.clone();

        let previous: BTreeMap<&str, &CaseResult> = input.previous.iter().map(|c| (c.id.as_str(), c)).collect();
        let total = plan.cases.len();
        let mut case_results = Vec::with_capacity(total);
        let mut interrupted = false;
        for (index, (planned, skip)) in plan.cases.iter().enumerate() {
            let id = planned.case.id.get_ref().clone();
            if skip == &Some(Skip::AlreadyDone)
                && let Some(prev) = previous.get(id.as_str())
            {
                // A resumed run keeps what the finished cases measured.
                if let Ok(mut measured) = ctx.measured.lock() {
                    measured.record_case(&planned.case, prev);
                }
                case_results.push((*prev).clone());
                continue;
            }
            if self.cancel.load(Ordering::SeqCst) {
                interrupted = true;
                break;
            }
            observer.event(&Event::CaseStarted {
                ts: now(),
                case: id.clone(),
                index: index + 1,
                total,
                estimated_s: estimate.of(&id).map(|e| e.duration.as_secs()),
            });
            let outcome = match skip {
                Some(Skip::MissingOps(missing)) => skipped_case(
                    planned,
                    Verdict::NotApplicable,
                    format!(
                        "not applicable: profile `{}` binds no operation {} (the device family does not offer it)",
                        input.profile_name,
                        missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
                    ),
                ),
                Some(Skip::DestructiveNotAllowed) => skipped_case(
                    planned,
                    Verdict::Inconclusive,
                    "inconclusive: destructive case not run (pass --allow-destructive to run it)".to_owned(),
                ),
                Some(Skip::IntrusiveNotAllowed) => skipped_case(
                    planned,
                    Verdict::Inconclusive,
                    "inconclusive: intrusive case not run: its only proof could disturb the device (pass --allow-destructive on a bench unit to run it)".to_owned(),
                ),
                _ => match self.execute_case(planned, &ctx, &input.target, observer).await {
                    Some(outcome) => outcome,
                    None => {
                        interrupted = true;
                        break;
                    }
                },
            };
            observer.event(&Event::CaseFinished {
                ts: now(),
                case: id.clone(),
                verdict: outcome.result.verdict,
                summary: outcome.result.summary.clone(),
                cause: outcome.result.cause.as_ref().map(|cause| cause.class),
            });
            observer.case_done(&outcome);
            if let Ok(mut measured) = ctx.measured.lock() {
                measured.record_case(&planned.case, &outcome.result);
            }
            case_results.push(outcome.result);
        }
        if self.cancel.load(Ordering::SeqCst) {
            interrupted = true;
        }

        let (clauses, clauses_not_tested) = split_clauses(&input.regulation, &case_results);
        let selection = selection_of(
            &input.cases,
            &opts.regulation,
            opts.only.as_ref(),
            input.lab_net.is_some(),
        );
        let finished = now();
        observer.event(&Event::RunFinished {
            ts: finished.clone(),
            complete: !interrupted,
        });
        RunOutcome {
            results: Results {
                schema_version: hopquy_evidence::RESULTS_SCHEMA_VERSION,
                regulation: opts.regulation.clone(),
                tool: ToolInfo {
                    name: "hopquy".into(),
                    version: opts.tool_version.clone(),
                },
                device: input.target.device.clone(),
                started,
                finished,
                clauses,
                cases: case_results,
                profile: Some(input.profile_name.clone()),
                run_id: Some(opts.run_id.clone()),
                complete: !interrupted,
                web_surface: ctx.discovered_web_surface().map(|s| hopquy_evidence::WebSurfaceInfo {
                    scheme: s.scheme.as_str().to_owned(),
                    port: s.port,
                    reason: s.reason.clone(),
                    certificate_sha256: s.certificate_sha256.clone(),
                }),
                firmware: input.firmware.as_ref().map(|f| hopquy_evidence::FirmwareImageInfo {
                    name: f.image.name.clone(),
                    sha256: f.image.sha256.clone(),
                    size: f.image.size,
                }),
                // The CLI identifies the profile before the run and records how.
                profile_identified: None,
                // Set by the CLI, which writes the record into the bundle.
                lab_net: None,
                warnings: Vec::new(),
                selection_criteria: opts.selection.clone().filter(|_| selection.is_some()),
                selection,
                clauses_not_tested,
            },
            interrupted,
        }
    }

    async fn execute_case(
        &self,
        planned: &PlannedCase,
        ctx: &RunContext<'_>,
        target: &Target,
        observer: &dyn RunObserver,
    ) -> Option<CaseOutcome> {
        let case = &planned.case;
        let mut run = CaseRun::new(case, target);
        for step in &case.steps {
            if self.cancel.load(Ordering::SeqCst) {
                return None;
            }
            if run.decided.is_some() && !step.always {
                run.skip(step);
                continue;
            }
            let recorder = Recorder::new(ctx.redactor.clone());
            // An interrupt stops the step at once (a step may be waiting out a lockout
            // window); the unfinished case is dropped and redone by `--resume`.
            let result = tokio::select! {
                r = actions::execute(step, case, ctx, &run.template_ctx, &recorder) => r,
                _ = cancelled(&self.cancel) => return None,
            };
            if may_change_web_identity(case, step, ctx) {
                ctx.forget_web_surface().await;
            }
            run.keep_exchanges(step, &recorder);
            let judged = run.judge(step, result, ctx);
            observer.event(&Event::StepFinished {
                ts: now(),
                case: case.id.get_ref().clone(),
                step: step.id.get_ref().clone(),
                status: judged.status,
                message: judged.message.clone(),
            });
            run.record(step, judged);
        }
        Some(run.finish(planned))
    }
}

/// What one case has produced so far, step by step: the evidence, the first decisive
/// verdict, and the observations later steps' templates read.
struct CaseRun {
    started: String,
    template_ctx: Value,
    /// The first unmet expectation or failed step decides; later ones are only recorded.
    decided: Option<(Verdict, String, Option<CauseClass>)>,
    steps: Vec<StepResult>,
    exchanges: Vec<Value>,
    answers: BTreeMap<String, Value>,
    attachments: Vec<(String, std::path::PathBuf)>,
    expectations_checked: usize,
}

/// A step's outcome as the case records it.
struct Judged {
    status: StepStatus,
    message: Option<String>,
    observations: Value,
}

impl CaseRun {
    fn new(case: &Case, target: &Target) -> CaseRun {
        CaseRun {
            started: now(),
            template_ctx: template_context(case, target),
            decided: None,
            steps: Vec::new(),
            exchanges: Vec::new(),
            answers: BTreeMap::new(),
            attachments: Vec::new(),
            expectations_checked: 0,
        }
    }

    fn decide(&mut self, verdict: Verdict, text: String, cause: Option<CauseClass>) {
        if self.decided.is_none() {
            self.decided = Some((verdict, text, cause));
        }
    }

    fn skip(&mut self, step: &hopquy_case::Step) {
        self.steps.push(StepResult {
            id: step.id.get_ref().clone(),
            action: step.name().to_owned(),
            status: StepStatus::Skipped,
            message: Some("skipped: the verdict was already decided".into()),
            observations: Value::Null,
        });
    }

    /// The step's exchanges (already redacted by the recorder), each tagged with the step.
    fn keep_exchanges(&mut self, step: &hopquy_case::Step, recorder: &Recorder) {
        for ex in recorder.drain() {
            let mut v = serde_json::to_value(&ex).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut v {
                map.insert("step".into(), Value::String(step.id.get_ref().clone()));
            }
            self.exchanges.push(v);
        }
    }

    /// The step's status: its expectations checked in order over its (redacted)
    /// observations, or its failure read through `on_error`.
    fn judge(
        &mut self,
        step: &hopquy_case::Step,
        result: Result<actions::ActionOutput, ActionError>,
        ctx: &RunContext<'_>,
    ) -> Judged {
        let step_id = step.id.get_ref();
        let out = match result {
            Ok(out) => out,
            Err(err) => {
                let (verdict, cause) = failed_step(&err, step.on_error.as_ref().map(|s| *s.get_ref()));
                let text = format!(
                    "{verdict}: step `{step_id}`: {}",
                    ctx.redactor.redact_str(&err.to_string())
                );
                self.decide(verdict, text.clone(), cause);
                return Judged {
                    status: StepStatus::Error,
                    message: Some(text),
                    observations: Value::Null,
                };
            }
        };
        if let Some(answer) = out.answer {
            self.answers.insert(step_id.clone(), answer);
        }
        for path in out.attachments {
            self.attachments.push((step_id.clone(), path));
        }
        let observations = redact_value(out.observations, &ctx.redactor);
        for exp in &step.expect {
            match expect::check(exp, &observations, &self.template_ctx) {
                Ok(checked) if checked.held => self.expectations_checked += 1,
                Ok(checked) => {
                    self.expectations_checked += 1;
                    let (verdict, cause) = unmet_expectation(exp);
                    let text = format!(
                        "{} (step `{step_id}`: expected {}, observed {})",
                        exp.because,
                        checked.description,
                        short(&checked.observed)
                    );
                    self.decide(verdict, text.clone(), cause);
                    return Judged {
                        status: StepStatus::FailedExpectation,
                        message: Some(text),
                        observations,
                    };
                }
                Err(e) => {
                    // A bug in the case, not something the lab can fix: no cause.
                    self.decide(Verdict::Error, format!("case definition error: {e}"), None);
                    return Judged {
                        status: StepStatus::Error,
                        message: Some(e.to_string()),
                        observations,
                    };
                }
            }
        }
        Judged {
            status: StepStatus::Ok,
            message: None,
            observations,
        }
    }

    /// Keeps the step's result, and its observations for the next steps' templates.
    fn record(&mut self, step: &hopquy_case::Step, judged: Judged) {
        let step_id = step.id.get_ref().clone();
        if let Value::Object(map) = &mut self.template_ctx["steps"] {
            map.insert(step_id.clone(), judged.observations.clone());
        }
        self.steps.push(StepResult {
            id: step_id,
            action: step.name().to_owned(),
            status: judged.status,
            message: judged.message,
            observations: judged.observations,
        });
    }

    /// The verdict: the first decisive step's, else a pass when some expectation held — a
    /// case whose every step ran without one evaluated cannot carry a verdict.
    fn finish(self, planned: &PlannedCase) -> CaseOutcome {
        let case = &planned.case;
        let case_id = case.id.get_ref().clone();
        let (verdict, summary, cause) = match self.decided {
            Some(d) => d,
            None if self.expectations_checked == 0 => (
                Verdict::Error,
                "error: no expectation was evaluated, so the evidence cannot carry a verdict".to_owned(),
                None,
            ),
            None => (
                Verdict::Pass,
                case.pass_summary
                    .clone()
                    .unwrap_or_else(|| format!("all {} expectations held", self.expectations_checked)),
                None,
            ),
        };
        // A cause explains an undecided verdict; a pass, fail or not-applicable needs none.
        let cause = cause
            .filter(|_| matches!(verdict, Verdict::Inconclusive | Verdict::Error))
            .map(Cause::of);
        let mut evidence = Vec::new();
        if !self.exchanges.is_empty() {
            evidence.push(paths::case_exchanges(&case_id));
        }
        if !self.answers.is_empty() {
            evidence.push(paths::case_answers(&case_id));
        }
        // A firmware step judged the run's scan: the report is this case's evidence too, so
        // `diff` compares its hash between two bundles as it does a case's exchanges.
        if self
            .steps
            .iter()
            .any(|s| s.action == "firmware" && s.observations["image_given"] == Value::Bool(true))
        {
            evidence.push(paths::FIRMWARE_REPORT_FILE.to_owned());
        }
        CaseOutcome {
            result: CaseResult {
                id: case_id,
                clauses: planned.clauses.clone(),
                kind: evidence_kind(case.kind),
                verdict,
                summary,
                evidence,
                title: Some(case.title.clone()),
                started: Some(self.started),
                finished: Some(now()),
                steps: self.steps,
                cause,
                cves: cve_refs(case),
            },
            exchanges: self.exchanges,
            answers: self.answers,
            attachments: self.attachments,
        }
    }
}

/// What a case's templates (`${params.attempts}`, `${target.host}`…) read, before any step
/// has run; each step's observations are added under `steps` as it finishes.
pub fn template_context(case: &Case, target: &Target) -> Value {
    json!({
        "params": resolve_params(case, &target.declared),
        "declared": target.declared,
        // The fields hopquy-case's TARGET_FIELDS allows; never the password.
        "target": {
            "username": target.username,
            "host": target.host,
            "vendor": target.device.vendor,
            "model": target.device.model,
            "firmware": target.device.firmware,
            "serial": target.device.serial,
        },
        "steps": {},
    })
}

/// The evidence model's name for a case kind; it depends on no hopquy crate, so it has its
/// own enum, and a new kind must be given its results.json string here.
fn evidence_kind(kind: hopquy_case::CaseKind) -> CaseKind {
    match kind {
        hopquy_case::CaseKind::Automated => CaseKind::Automated,
        hopquy_case::CaseKind::Operator => CaseKind::Operator,
        hopquy_case::CaseKind::Document => CaseKind::Document,
    }
}

/// Resolves once the run is asked to stop.
async fn cancelled(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn skipped_case(planned: &PlannedCase, verdict: Verdict, summary: String) -> CaseOutcome {
    let ts = now();
    CaseOutcome {
        result: CaseResult {
            id: planned.case.id.get_ref().clone(),
            clauses: planned.clauses.clone(),
            kind: evidence_kind(planned.case.kind),
            verdict,
            summary,
            evidence: Vec::new(),
            title: Some(planned.case.title.clone()),
            started: Some(ts.clone()),
            finished: Some(ts),
            steps: Vec::new(),
            cause: None,
            cves: cve_refs(&planned.case),
        },
        exchanges: Vec::new(),
        answers: BTreeMap::new(),
        attachments: Vec::new(),
    }
}

/// The case's `[[cves]]` as results.json names them.
fn cve_refs(case: &Case) -> Vec<hopquy_evidence::CveRef> {
    case.cves
        .iter()
        .map(|cve| hopquy_evidence::CveRef {
            id: cve.id.get_ref().clone(),
            cvss: *cve.cvss.get_ref(),
            kev: cve.kev,
            url: cve.url.get_ref().clone(),
        })
        .collect()
}

/// Parameter values: the target's declaration (IXIT) wins over the case default.
pub fn resolve_params(case: &Case, declared: &Value) -> Value {
    let mut map = serde_json::Map::new();
    for (name, p) in &case.params {
        let from_declared = p
            .declared
            .as_ref()
            .and_then(|path| template::lookup(declared, path.get_ref()))
            .filter(|v| !v.is_null())
            .cloned();
        let value = from_declared.unwrap_or_else(|| template::resolve(&p.default, &Value::Null).unwrap_or(Value::Null));
        map.insert(name.clone(), value);
    }
    Value::Object(map)
}

/// One entry per clause of the regulation, in catalogue order: every clause is reported,
/// and a clause no case covers is `not_applicable` with an empty case list.
/// The clauses some case of the run tested, with their verdicts, and those none of whose
/// cases ran: not tested, which is no verdict at all (never `not_applicable`).
pub fn split_clauses(regulation: &Regulation, cases: &[CaseResult]) -> (Vec<ClauseResult>, Vec<UntestedClause>) {
    let mut tested = Vec::new();
    let mut untested = Vec::new();
    for cl in &regulation.clauses {
        let mine: Vec<&CaseResult> = cases.iter().filter(|c| c.clauses.iter().any(|x| x == &cl.id)).collect();
        if mine.is_empty() {
            untested.push(UntestedClause {
                id: cl.id.clone(),
                title_en: Some(cl.title_en.clone()),
                title_vi: Some(cl.title_vi.clone()),
            });
            continue;
        }
        tested.push(ClauseResult {
            id: cl.id.clone(),
            verdict: aggregate(mine.iter().map(|c| c.verdict)),
            cases: mine.iter().map(|c| c.id.clone()).collect(),
            title_en: Some(cl.title_en.clone()),
            title_vi: Some(cl.title_vi.clone()),
            causes: distinct_causes(mine.iter().copied()),
        });
    }
    (tested, untested)
}

/// The selection a run records: the `only` ids that are cases of the regulation, when they
/// leave out some case the full plan would have run (a rerun passes the original's ids).
/// The cases a partial run selected, as the plan has them: mapped to the regulation and
/// belonging to a run with (or without) a lab network. `None` when that is every case.
fn selection_of(
    cases: &[Case],
    regulation: &str,
    only: Option<&BTreeSet<String>>,
    lab_net: bool,
) -> Option<Vec<String>> {
    let only = only?;
    let mapped: BTreeSet<&String> = cases
        .iter()
        .filter(|c| c.clauses.get(regulation).is_some_and(|cl| !cl.is_empty()))
        .filter(|c| hopquy_case::LabNetUse::runs_with(c.lab_net, lab_net))
        .map(|c| c.id.get_ref())
        .collect();
    if mapped.iter().all(|id| only.contains(*id)) {
        return None;
    }
    Some(only.iter().filter(|id| mapped.contains(id)).cloned().collect())
}

/// The verdict of an unmet expectation and, when it leaves the case undecided, its cause:
/// the case's `cause`; else, for an inconclusive one, an answer the case does not recognise
/// (what an unmet control check means). An `error` expectation without a cause says what
/// to do in its `because` (remove leftover users…), which no class would say better.
fn unmet_expectation(exp: &hopquy_case::Expectation) -> (Verdict, Option<CauseClass>) {
    let cause = exp.cause.map(cause_class);
    match exp.otherwise.unwrap_or(Otherwise::Fail) {
        Otherwise::Fail => (Verdict::Fail, None),
        Otherwise::NotApplicable => (Verdict::NotApplicable, None),
        Otherwise::Inconclusive => (
            Verdict::Inconclusive,
            Some(cause.unwrap_or(CauseClass::UnrecognisedAnswer)),
        ),
        Otherwise::Error => (Verdict::Error, cause),
    }
}

/// The verdict of a step whose action failed (`on_error` as the case wrote it) and its cause.
fn failed_step(err: &ActionError, on_error: Option<hopquy_case::OnError>) -> (Verdict, Option<CauseClass>) {
    let verdict = match (err, on_error) {
        (ActionError::NoAnswer(_) | ActionError::SurfaceNotFound(_), _) => Verdict::Inconclusive,
        (ActionError::NotApplicable(_), _) => Verdict::NotApplicable,
        (_, Some(hopquy_case::OnError::Inconclusive)) => Verdict::Inconclusive,
        _ => Verdict::Error,
    };
    let cause = match err {
        ActionError::NoAnswer(_) => Some(CauseClass::AnswerMissing),
        ActionError::SurfaceNotFound(_) => Some(CauseClass::SurfaceNotFound),
        ActionError::Probe(probe) => match probe {
            ProbeError::Timeout(_) | ProbeError::Refused(_) | ProbeError::Unreachable(_) | ProbeError::Closed(_) => {
                Some(CauseClass::NoAnswer)
            }
            ProbeError::TooLarge(_) | ProbeError::Protocol(_) => Some(CauseClass::UnrecognisedAnswer),
            ProbeError::Tls(_) => Some(CauseClass::SurfaceNotFound),
            // This machine or the request failed, not the device: nothing the lab's target
            // file or device explains.
            ProbeError::Invalid(_) | ProbeError::Local(_) => None,
            // Another certificate than the pinned one: an error the lab investigates (someone
            // may be in the middle), not an undecided case with a routine fix.
            ProbeError::CertificateChanged(_) => None,
        },
        // The case or this build is wrong, which a lab cannot fix in its target file.
        ActionError::Template(_) | ActionError::Definition(_) | ActionError::Unsupported(_) => None,
        ActionError::NotApplicable(_) => None,
    };
    (verdict, cause)
}

/// The case file's cause vocabulary, as the evidence records it.
fn cause_class(cause: hopquy_case::Cause) -> CauseClass {
    match cause {
        hopquy_case::Cause::TargetCredentials => CauseClass::TargetCredentials,
        hopquy_case::Cause::DeclarationIncomplete => CauseClass::DeclarationIncomplete,
        hopquy_case::Cause::SurfaceNotFound => CauseClass::SurfaceNotFound,
        hopquy_case::Cause::DeviceLocked => CauseClass::DeviceLocked,
        hopquy_case::Cause::AnswerMissing => CauseClass::AnswerMissing,
        hopquy_case::Cause::NoAnswer => CauseClass::NoAnswer,
        hopquy_case::Cause::UnrecognisedAnswer => CauseClass::UnrecognisedAnswer,
        hopquy_case::Cause::NarrowedByTarget => CauseClass::NarrowedByTarget,
        hopquy_case::Cause::NoFirmwareImage => CauseClass::NoFirmwareImage,
        hopquy_case::Cause::NoVulndb => CauseClass::NoVulndb,
        hopquy_case::Cause::NoLabNetwork => CauseClass::NoLabNetwork,
        hopquy_case::Cause::CaptureIncomplete => CauseClass::CaptureIncomplete,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 160 {
        format!("{}…", s.chars().take(160).collect::<String>())
    } else {
        s
    }
}

fn redact_value(v: Value, r: &Redactor) -> Value {
    if r.is_empty() {
        return v;
    }
    match v {
        Value::String(s) => Value::String(r.redact_str(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(|i| redact_value(i, r)).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, redact_value(v, r))).collect()),
        other => other,
    }
}

/// Build a target credential (secret).
pub fn target_credential(t: &Target) -> Credential {
    Credential {
        username: t.username.clone(),
        password: t.password.clone(),
        secret: true,
    }
}

/// Why definitions cannot be assembled into a run.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("unknown regulation `{id}`; known: {known}")]
    UnknownRegulation { id: String, known: String },
}

impl RunInput {
    /// Assemble the runner's input from loaded, validated definitions.
    pub fn from_definitions(
        suite: &hopquy_case::Suite,
        regulation: &str,
        profile: &hopquy_case::ResolvedProfile,
        target: &hopquy_case::LoadedTarget,
    ) -> Result<RunInput, InputError> {
        let reg = suite
            .regulation(regulation)
            .ok_or_else(|| InputError::UnknownRegulation {
                id: regulation.to_owned(),
                known: suite
                    .regulations
                    .iter()
                    .map(|r| r.regulation.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let t = &target.target;
        let limits = target_limits(target);
        Ok(RunInput {
            cases: suite.cases.iter().map(|c| c.case.clone()).collect(),
            regulation: reg.regulation.clone(),
            profile_name: profile.name.clone(),
            profile: profile.profile.clone(),
            target: Target {
                device: DeviceInfo {
                    vendor: t.device.vendor.clone(),
                    model: t.device.model.clone(),
                    firmware: t.device.firmware.clone(),
                    serial: t.device.serial.clone(),
                },
                host: t.connection.host.clone(),
                username: t.credentials.username.clone(),
                password: target.password().to_owned(),
                ports: t.connection.ports.clone(),
                declared: serde_json::to_value(&t.declared).unwrap_or(Value::Null),
                limits,
                web: t.connection.web.unwrap_or_default(),
                port_sweep: t.connection.port_sweep.unwrap_or_default(),
                exclude_ports: t.connection.exclude_ports.iter().copied().collect(),
            },
            credential_dictionaries: suite
                .credential_dictionaries
                .iter()
                .map(|d| {
                    let pairs = d
                        .dictionary
                        .credential
                        .iter()
                        .map(|c| (c.username.clone(), c.password.clone()));
                    (d.name.clone(), pairs.collect())
                })
                .collect(),
            path_dictionaries: suite
                .path_dictionaries
                .iter()
                .map(|d| {
                    (
                        d.name.clone(),
                        d.dictionary.path.iter().map(|p| p.path.clone()).collect(),
                    )
                })
                .collect(),
            previous: Vec::new(),
            firmware: None,
            lab_net: None,
            geoip: None,
        })
    }
}

/// The connection cap, pacing and timeout a target file sets for its device.
pub fn target_limits(target: &hopquy_case::LoadedTarget) -> Limits {
    let t = &target.target;
    let mut limits = Limits::default();
    if let Some(n) = t.connection.max_connections {
        limits.max_connections = n.max(1);
    }
    if let Some(ms) = t.connection.min_connect_gap_ms {
        limits.min_connect_gap = std::time::Duration::from_millis(ms);
    }
    if let Some(s) = t.connection.timeout_s {
        limits.io_timeout = std::time::Duration::from_secs(s.max(1));
    }
    limits
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use hopquy_probe::Limits;

    use super::*;
    use crate::actions::test_support::{context, target};

    fn expectation(extra: &str) -> hopquy_case::Expectation {
        toml::from_str(&format!("that = \"status\"\nequals = 401\nbecause = \"x\"\n{extra}")).unwrap()
    }

    #[test]
    fn an_unmet_expectation_names_a_cause_only_when_it_leaves_the_case_undecided() {
        let table = [
            ("", Verdict::Fail, None),
            ("otherwise = \"not_applicable\"", Verdict::NotApplicable, None),
            (
                "otherwise = \"inconclusive\"",
                Verdict::Inconclusive,
                Some(CauseClass::UnrecognisedAnswer),
            ),
            (
                "otherwise = \"inconclusive\"\ncause = \"target-credentials\"",
                Verdict::Inconclusive,
                Some(CauseClass::TargetCredentials),
            ),
            (
                "otherwise = \"error\"\ncause = \"no-answer\"",
                Verdict::Error,
                Some(CauseClass::NoAnswer),
            ),
            ("otherwise = \"error\"", Verdict::Error, None),
        ];
        for (extra, verdict, cause) in table {
            assert_eq!(unmet_expectation(&expectation(extra)), (verdict, cause), "{extra:?}");
        }
    }

    #[test]
    fn a_failed_step_names_what_the_lab_can_act_on() {
        let probe = |e: ProbeError| ActionError::Probe(e);
        let table = [
            (
                ActionError::NoAnswer("q".into()),
                None,
                Verdict::Inconclusive,
                Some(CauseClass::AnswerMissing),
            ),
            (
                ActionError::SurfaceNotFound("no web service".into()),
                None,
                Verdict::Inconclusive,
                Some(CauseClass::SurfaceNotFound),
            ),
            (
                probe(ProbeError::Timeout("reading".into())),
                Some(hopquy_case::OnError::Inconclusive),
                Verdict::Inconclusive,
                Some(CauseClass::NoAnswer),
            ),
            (
                probe(ProbeError::Refused("127.0.0.1:1".into())),
                None,
                Verdict::Error,
                Some(CauseClass::NoAnswer),
            ),
            (
                probe(ProbeError::Unreachable("x".into())),
                None,
                Verdict::Error,
                Some(CauseClass::NoAnswer),
            ),
            (
                probe(ProbeError::Closed("x".into())),
                Some(hopquy_case::OnError::Inconclusive),
                Verdict::Inconclusive,
                Some(CauseClass::NoAnswer),
            ),
            (
                probe(ProbeError::Protocol("garbage".into())),
                None,
                Verdict::Error,
                Some(CauseClass::UnrecognisedAnswer),
            ),
            (probe(ProbeError::Local("threads".into())), None, Verdict::Error, None),
            (ActionError::Definition("bad".into()), None, Verdict::Error, None),
            (
                ActionError::NotApplicable("no port".into()),
                Some(hopquy_case::OnError::Inconclusive),
                Verdict::NotApplicable,
                None,
            ),
        ];
        for (err, on_error, verdict, cause) in table {
            assert_eq!(failed_step(&err, on_error), (verdict, cause), "{err:?} {on_error:?}");
        }
    }

    /// A case of `steps` (TOML) on the loopback target with nobody at the bench.
    async fn execute(steps: &str, ports: &[(&str, u16)]) -> CaseResult {
        let text = format!(
            "id = \"c\"\ntitle = \"t\"\ntitle_vi = \"t\"\nkind = \"automated\"\nmethod = \"functional\"\n\
             since = \"0.1.0\"\nsummary = \"s\"\n[clauses]\nqcvn135-2024 = [\"2.1.1\"]\n{steps}"
        );
        let case: Case = toml::from_str(&text).unwrap();
        let planned = PlannedCase {
            case,
            clauses: vec!["2.1.1".into()],
        };
        let profile = ProfileFile::default();
        let target = target("Target-Secret-9", ports);
        let (credentials, paths) = (BTreeMap::new(), BTreeMap::new());
        let limits = Limits {
            io_timeout: std::time::Duration::from_millis(800),
            ..Limits::default()
        };
        let ctx = context(limits, &profile, &target, &credentials, &paths);
        struct Quiet;
        impl RunObserver for Quiet {
            fn event(&self, _: &Event) {}
            fn case_done(&self, _: &CaseOutcome) {}
        }
        Runner::default()
            .execute_case(&planned, &ctx, &target, &Quiet)
            .await
            .unwrap()
            .result
    }

    #[tokio::test]
    async fn an_unanswered_question_is_answer_missing_with_its_hint() {
        let result = execute(
            "[[steps]]\nid = \"ask\"\naction = \"operator\"\nanswer = \"yes-no\"\nprompt = \"ok?\"\nprompt_vi = \"ok?\"\n\
             [[steps.expect]]\nthat = \"answer\"\nequals = \"yes\"\nbecause = \"no\"",
            &[],
        )
        .await;
        assert_eq!(result.verdict, Verdict::Inconclusive, "{}", result.summary);
        let cause = result.cause.unwrap();
        assert_eq!(cause.class, CauseClass::AnswerMissing);
        assert_eq!(cause.hint, CauseClass::AnswerMissing.hint());
    }

    #[tokio::test]
    async fn a_refused_connection_is_no_answer_and_a_finding_has_no_cause() {
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let result = execute(
            "[[steps]]\nid = \"get\"\naction = \"http\"\npath = \"/\"\nport = \"http\"\n\
             on_error = \"inconclusive\"\n[[steps.expect]]\nthat = \"status\"\nequals = 401\nbecause = \"x\"",
            &[("http", closed)],
        )
        .await;
        assert_eq!(result.verdict, Verdict::Inconclusive, "{}", result.summary);
        assert_eq!(result.cause.map(|c| c.class), Some(CauseClass::NoAnswer));

        // A service that answers 200 where 401 is expected is a finding: no cause.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 2048];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            }
        });
        let found = execute(
            "[[steps]]\nid = \"get\"\naction = \"http\"\npath = \"/\"\nport = \"http\"\nauth = \"none\"\n\
             credentials = \"none\"\n[[steps.expect]]\nthat = \"status\"\nequals = 401\nbecause = \"x\"",
            &[("http", port)],
        )
        .await;
        server.abort();
        assert_eq!(found.verdict, Verdict::Fail, "{}", found.summary);
        assert_eq!(found.cause, None);
    }

    #[test]
    fn case_kinds_keep_their_results_json_strings() {
        for kind in [
            hopquy_case::CaseKind::Automated,
            hopquy_case::CaseKind::Operator,
            hopquy_case::CaseKind::Document,
        ] {
            assert_eq!(evidence_kind(kind).as_str(), kind.as_str());
        }
    }

    fn result_of(id: &str, clause: &str, verdict: Verdict) -> CaseResult {
        CaseResult {
            id: id.into(),
            clauses: vec![clause.into()],
            kind: CaseKind::Automated,
            verdict,
            summary: String::new(),
            evidence: Vec::new(),
            title: None,
            started: None,
            finished: None,
            steps: Vec::new(),
            cause: None,
            cves: Vec::new(),
        }
    }

    #[test]
    fn a_clause_none_of_whose_cases_ran_is_not_tested_rather_than_not_applicable() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../test-cases/regulations/qcvn135-2024.toml"
        ))
        .unwrap();
        let regulation: Regulation = toml::from_str(&text).unwrap();
        let cases = vec![
            result_of("lockout-http", "2.1.5", Verdict::Pass),
            result_of("telnet-closed", "2.6.3", Verdict::NotApplicable),
        ];
        let (tested, untested) = split_clauses(&regulation, &cases);
        let verdicts: Vec<(&str, Verdict)> = tested.iter().map(|c| (c.id.as_str(), c.verdict)).collect();
        assert_eq!(verdicts, [("2.1.5", Verdict::Pass), ("2.6.3", Verdict::NotApplicable)]);
        assert_eq!(untested.len(), regulation.clauses.len() - 2);
        assert!(untested.iter().any(|c| c.id == "2.1.1" && c.title_en.is_some()));
        assert!(!untested.iter().any(|c| c.id == "2.1.5"));
    }
}
