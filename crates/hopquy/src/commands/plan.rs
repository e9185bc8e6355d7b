//! `hopquy plan` (and `run --dry-run`): what a run will do, before anything is sent; and
//! `hopquy answers template`: every question that run will ask, as an answers file to fill in.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use hopquy_case::{Case, LoadedTarget, ResolvedProfile, Suite};
use hopquy_evidence::SelectionCriteria;
use hopquy_runner::estimate::{self, human};
use hopquy_runner::selection::{EffectFilter, effects_of, parse_kind, parse_method};
use hopquy_runner::{RunInput, Selection, Skip};
use serde::Serialize;

use crate::commands::info::{aligned, regulation};
use crate::exit::{self, CliError};
use crate::operator::Answers;
use crate::{AnswersTemplateArgs, PlanArgs, SelectionArgs, suite};

/// A sweep longer than this is worth a second thought before a session: the plan says so and
/// offers the narrower sweep.
const SWEEP_BUDGET: Duration = Duration::from_secs(15 * 60);

impl SelectionArgs {
    /// clap has already checked the vocabularies (kind, method, effect).
    pub fn selection(&self) -> Selection {
        Selection {
            cases: self.cases.iter().cloned().collect(),
            clauses: self.clauses.iter().cloned().collect(),
            kinds: self.kinds.iter().filter_map(|k| parse_kind(k)).collect(),
            methods: self.methods.iter().filter_map(|m| parse_method(m)).collect(),
            effects: self.effects.iter().filter_map(|e| EffectFilter::parse(e)).collect(),
            skip_effects: self
                .skip_effects
                .iter()
                .filter_map(|e| EffectFilter::parse(e))
                .collect(),
            skip: self.skip.iter().cloned().collect(),
        }
    }
}

/// The case ids a selection keeps (None = every case of the regulation) and the criteria to
/// record. A typo in an id or clause is a usage error with a suggestion.
pub fn resolve_selection(
    suite: &Suite,
    regulation_id: &str,
    selection: &Selection,
) -> Result<(Option<BTreeSet<String>>, Option<SelectionCriteria>), CliError> {
    let reg = regulation(suite, regulation_id)?;
    let cases: Vec<Case> = suite.cases.iter().map(|c| c.case.clone()).collect();
    let only = selection
        .resolve(&cases, reg)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    Ok((only, selection.criteria()))
}

#[derive(Debug, Serialize)]
pub struct PlanView {
    pub regulation: String,
    pub host: String,
    pub profile: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection: Option<SelectionCriteria>,
    pub cases: Vec<PlannedView>,
    /// Cases of the regulation the selection leaves out.
    pub not_selected: Vec<String>,
    /// Machine time of the cases that run, in seconds.
    pub total_s: u64,
    /// Operator and document questions the run will ask.
    pub operator_steps: usize,
    /// Of those, the ones the answers file does not answer.
    pub unanswered_steps: usize,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct PlannedView {
    pub index: usize,
    pub id: String,
    pub title: String,
    pub kind: String,
    /// `read-only`, `locks-account`, `configures`, `intrusive`, `destructive`, `needs-operator`.
    pub effects: Vec<String>,
    /// Profile operations the case calls.
    pub needs: Vec<String>,
    pub clauses: Vec<String>,
    pub estimate_s: u64,
    pub basis: Vec<String>,
    pub operator_steps: usize,
    /// Why the case will not run its steps, and the verdict it gets instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<SkipView>,
}

#[derive(Debug, Serialize)]
pub struct SkipView {
    pub verdict: String,
    pub reason: String,
}

pub fn plan(suite_root: Option<PathBuf>, args: PlanArgs) -> Result<u8, CliError> {
    let target = suite::load_target_offline(&args.target)?;
    let root = suite::locate(suite_root)?;
    let suite = suite::load_suite(&root)?;
    let profile = suite::load_profile(&root, &target)?;
    let (only, criteria) = resolve_selection(&suite, &args.regulation, &args.select.selection())?;
    let answered = match &args.answers {
        Some(p) => Answers::load_for(p, &suite).map_err(CliError::Input)?.answered(),
        None => Vec::new(),
    };
    let view = build(
        &suite,
        &profile,
        &target,
        &args.regulation,
        only.as_ref(),
        criteria,
        args.allow_destructive,
        args.lab_net.is_some(),
        &answered,
    )?;
    show(&view, args.json);
    Ok(exit::PASS)
}

/// The plan of a run, as `run` would make it, with its estimates.
#[allow(clippy::too_many_arguments)]
pub fn build(
    suite: &Suite,
    profile: &ResolvedProfile,
    target: &LoadedTarget,
    regulation_id: &str,
    only: Option<&BTreeSet<String>>,
    selection: Option<SelectionCriteria>,
    allow_destructive: bool,
    lab_net: bool,
    answered: &[(String, String)],
) -> Result<PlanView, CliError> {
    let input = suite::run_input(suite, regulation_id, profile, target)?;
    let plan = hopquy_runner::plan::plan(
        &input.cases,
        regulation_id,
        &input.profile,
        only,
        allow_destructive,
        lab_net,
        &BTreeSet::new(),
    );
    let est = estimate::estimate(
        &plan,
        &input.target,
        &input.profile,
        &input.credential_dictionaries,
        &input.path_dictionaries,
    );
    let answered: BTreeSet<(&str, &str)> = answered.iter().map(|(c, s)| (c.as_str(), s.as_str())).collect();
    let mut cases = Vec::new();
    let mut unanswered_steps = 0;
    let mut warnings = Vec::new();
    for (index, ((planned, skip), e)) in plan.cases.iter().zip(&est.cases).enumerate() {
        let case = &planned.case;
        let id = case.id.get_ref().clone();
        let skipped = skip.as_ref().map(|s| skip_view(s, &input));
        if skipped.is_none() {
            unanswered_steps += questions(case)
                .filter(|s| !answered.contains(&(id.as_str(), s.id.get_ref().as_str())))
                .count();
            for sweep in e.sweeps.iter().filter(|s| s.duration > SWEEP_BUDGET && !s.narrowed) {
                warnings.push(format!(
                    "`{id}` step `{}`: sweeping {} ports {} takes about {}, more than the {} a session can spare; \
                     to sweep the profile's and the declared ports instead, set `port_sweep = \"profile\"` under \
                     [connection] in the target file (the case then says it swept fewer ports and stays inconclusive: \
                     fine for a pre-test, not for certification), or lower `min_connect_gap_ms` if the device takes it",
                    sweep.step,
                    sweep.ports,
                    sweep.pace,
                    human(sweep.duration),
                    human(SWEEP_BUDGET)
                ));
            }
        }
        cases.push(PlannedView {
            index: index + 1,
            title: case.title.clone(),
            kind: case.kind.as_str().to_owned(),
            effects: effects_of(case).iter().map(|e| e.as_str().to_owned()).collect(),
            needs: case.needs.iter().map(|n| n.get_ref().clone()).collect(),
            clauses: planned.clauses.clone(),
            estimate_s: e.duration.as_secs(),
            basis: e.basis.clone(),
            operator_steps: e.operator_steps,
            skipped,
            id,
        });
    }
    let planned_ids: BTreeSet<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    let not_selected = input
        .cases
        .iter()
        .filter(|c| c.clauses.get(regulation_id).is_some_and(|cl| !cl.is_empty()))
        .map(|c| c.id.get_ref().clone())
        .filter(|id| !planned_ids.contains(id.as_str()))
        .collect();
    if unanswered_steps > 0 {
        warnings.push(format!(
            "{unanswered_steps} operator or document questions have no answer in an answers file: they are asked on \
             the terminal, or stay inconclusive with --non-interactive (`hopquy answers template` lists them)"
        ));
    }
    Ok(PlanView {
        regulation: regulation_id.to_owned(),
        host: input.target.host.clone(),
        profile: input.profile_name.clone(),
        selection,
        total_s: est.total.as_secs(),
        operator_steps: est.operator_steps,
        unanswered_steps,
        cases,
        not_selected,
        warnings,
    })
}

fn skip_view(skip: &Skip, input: &RunInput) -> SkipView {
    match skip {
        Skip::MissingOps(ops) => SkipView {
            verdict: "not_applicable".into(),
            reason: format!(
                "profile `{}` binds no operation {}",
                input.profile_name,
                ops.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", ")
            ),
        },
        Skip::DestructiveNotAllowed => SkipView {
            verdict: "inconclusive".into(),
            reason: "destructive: not run without --allow-destructive".into(),
        },
        Skip::IntrusiveNotAllowed => SkipView {
            verdict: "inconclusive".into(),
            reason: "intrusive (its only proof could disturb the device): not run without --allow-destructive".into(),
        },
        Skip::AlreadyDone => SkipView {
            verdict: "kept".into(),
            reason: "already finished in the bundle being resumed".into(),
        },
    }
}

/// The steps of a case that ask a person.
fn questions(case: &Case) -> impl Iterator<Item = &hopquy_case::Step> {
    case.steps.iter().filter(|s| s.action.get_ref().is_interactive())
}

pub fn show(view: &PlanView, json: bool) {
    if json {
        outln!("{}", serde_json::to_string_pretty(view).unwrap_or_default());
        return;
    }
    let running: Vec<&PlannedView> = view.cases.iter().filter(|c| c.skipped.is_none()).collect();
    outln!(
        "plan: {} cases against {} on {} (profile {}), about {} of machine time{}",
        running.len(),
        view.regulation,
        view.host,
        view.profile,
        human(Duration::from_secs(view.total_s)),
        if view.operator_steps > 0 {
            format!(", plus {} questions for the operator", view.operator_steps)
        } else {
            String::new()
        }
    );
    if let Some(selection) = &view.selection {
        outln!(
            "selection: {} (a partial run: the clauses it leaves out are not tested)",
            selection.describe()
        );
    }
    outln!("");
    let mut rows = vec![[
        "#".to_owned(),
        "case".to_owned(),
        "effect".to_owned(),
        "needs".to_owned(),
        "estimate".to_owned(),
        "why it takes long".to_owned(),
    ]];
    for c in &running {
        rows.push([
            c.index.to_string(),
            c.id.clone(),
            c.effects.join(","),
            if c.needs.is_empty() {
                "-".into()
            } else {
                c.needs.join(",")
            },
            human(Duration::from_secs(c.estimate_s)),
            c.basis.join("; "),
        ]);
    }
    for line in aligned(&rows) {
        outln!("  {line}");
    }
    let skipped: Vec<&PlannedView> = view.cases.iter().filter(|c| c.skipped.is_some()).collect();
    if !skipped.is_empty() {
        outln!("\nplanned but not run ({}):", skipped.len());
        let rows: Vec<[String; 3]> = skipped
            .iter()
            .filter_map(|c| {
                let s = c.skipped.as_ref()?;
                Some([c.id.clone(), s.verdict.clone(), s.reason.clone()])
            })
            .collect();
        for line in aligned(&rows) {
            outln!("  {line}");
        }
    }
    if !view.not_selected.is_empty() {
        outln!(
            "\nnot selected ({}): {}",
            view.not_selected.len(),
            view.not_selected.join(", ")
        );
    }
    for w in &view.warnings {
        outln!("\nwarning: {w}");
    }
}

pub fn answers_template(suite_root: Option<PathBuf>, args: AnswersTemplateArgs) -> Result<u8, CliError> {
    let target = suite::load_target_offline(&args.target)?;
    let root = suite::locate(suite_root)?;
    let suite = suite::load_suite(&root)?;
    let profile = suite::load_profile(&root, &target)?;
    let (only, _) = resolve_selection(&suite, &args.regulation, &args.select.selection())?;
    let input = suite::run_input(&suite, &args.regulation, &profile, &target)?;
    let plan = hopquy_runner::plan::plan(
        &input.cases,
        &args.regulation,
        &input.profile,
        only.as_ref(),
        args.allow_destructive,
        args.lab_net.is_some(),
        &BTreeSet::new(),
    );
    let cases: Vec<&Case> = plan
        .cases
        .iter()
        .filter(|(_, skip)| skip.is_none())
        .map(|(p, _)| &p.case)
        .collect();
    let text = template_text(&cases, &args.regulation, &args.target.display().to_string());
    match &args.out {
        None => outln!("{text}"),
        Some(path) => {
            // A filled-in answers file is a day's work: never overwrite one.
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(CliError::io(format!(
                    "creating {} (it must not exist yet)",
                    path.display()
                )))?;
            file.write_all(text.as_bytes())
                .map_err(CliError::io(format!("writing {}", path.display())))?;
            let count = cases.iter().map(|c| questions(c).count()).sum::<usize>();
            errln!("{count} questions written to {}", path.display());
        }
    }
    Ok(exit::PASS)
}

/// An answers file with one entry per question, in plan order, each with its prompts as
/// comments. Entries are left with an empty `answer`, which the answers loader refuses, so a
/// half-filled template can never answer for the lab (a blank `confirm` is not "done").
pub fn template_text(cases: &[&Case], regulation: &str, target: &str) -> String {
    let mut out = String::new();
    let count: usize = cases.iter().map(|c| questions(c).count()).sum();
    out.push_str(&format!(
        "# hopquy answers for the {count} operator and document questions of a {regulation} run against {target}.\n\
         # Câu trả lời của kiểm định viên cho {count} câu hỏi của lần chạy này.\n\
         #\n\
         # Fill in `answer` (and `attachments`, paths relative to this file) for each step, then\n\
         # `hopquy validate THIS_FILE` and `hopquy run --target {target} --answers THIS_FILE`.\n\
         # An entry still empty is an error that `hopquy validate` names with its line, so none is\n\
         # forgotten; delete the entries you will rather answer on the terminal.\n"
    ));
    for case in cases {
        let clauses = case
            .clauses
            .get(regulation)
            .map(|c| c.iter().map(|s| s.get_ref().as_str()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        for step in questions(case) {
            let Some((prompt_en, prompt_vi, kind)) = step.action.get_ref().question() else {
                continue;
            };
            let kind = kind.as_str();
            out.push_str(&format!("\n# ── {} — {} ({clauses})\n", case.id.get_ref(), case.title));
            comment(&mut out, "en", prompt_en);
            comment(&mut out, "vi", prompt_vi);
            out.push_str(&format!("# answer: {}\n", answer_hint(kind)));
            out.push_str("[[answer]]\n");
            out.push_str(&format!("case = {}\n", toml_string(case.id.get_ref())));
            out.push_str(&format!("step = {}\n", toml_string(step.id.get_ref())));
            out.push_str("answer = \"\"\n");
            if kind == "attachment" {
                out.push_str("attachments = []\n");
            } else {
                out.push_str("# attachments = []\n");
            }
            out.push_str("# note = \"\"\n# by = \"\"\n");
        }
    }
    out
}

fn answer_hint(kind: &str) -> &'static str {
    match kind {
        "yes-no" => "\"yes\" or \"no\"",
        "confirm" => "\"done\" once you have done it",
        "attachment" => "attach the document under `attachments`; `answer` may stay empty",
        _ => "free text",
    }
}

/// A prompt as comment lines of at most ~96 characters, words kept whole.
fn comment(out: &mut String, lang: &str, text: &str) {
    let mut line = format!("# {lang}:");
    for word in text.split_whitespace() {
        if line.chars().count() + word.chars().count() + 1 > 96 {
            out.push_str(&line);
            out.push('\n');
            line = "#    ".to_owned();
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_template_lists_each_question_and_loads_back_as_unanswered() {
        let case: Case = toml::from_str(
            "id = \"power-cut\"\ntitle = \"Power cut\"\ntitle_vi = \"t\"\nkind = \"operator\"\nmethod = \"functional\"\n\
             effect = \"read-only\"\nsince = \"0.1.0\"\nsummary = \"s\"\n[clauses]\nqcvn135-2024 = [\"2.8.1\"]\n\
             [[steps]]\nid = \"cut\"\naction = \"operator\"\nprompt = \"Cut the power for \\\"ten\\\" seconds.\"\nprompt_vi = \"Ngắt điện.\"\nanswer = \"yes-no\"\n\
             [[steps]]\nid = \"manual\"\naction = \"document\"\nprompt = \"Attach the manual.\"\nprompt_vi = \"Đính kèm hướng dẫn.\"\n",
        )
        .unwrap();
        let text = template_text(&[&case], "qcvn135-2024", "cam.toml");
        let file: hopquy_case::AnswersFile = toml::from_str(&text).unwrap();
        let steps: Vec<(&str, &str, &str)> = file
            .answer
            .iter()
            .map(|a| (a.case.as_str(), a.step.as_str(), a.answer.as_str()))
            .collect();
        assert_eq!(steps, [("power-cut", "cut", ""), ("power-cut", "manual", "")]);
        assert!(text.contains("# en: Cut the power for \"ten\" seconds."), "{text}");
        assert!(text.contains("# vi: Ngắt điện."), "{text}");
        assert!(text.contains("# answer: \"yes\" or \"no\""), "{text}");
        assert!(text.contains("2 operator and document questions"), "{text}");
    }
}
