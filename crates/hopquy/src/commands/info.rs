//! `list`, `explain`, `validate`: reading the suite without touching a device.

use std::path::{Path, PathBuf};

use hopquy_case::{Case, CaseKind, LoginStep, LoginSurface, RecoverStep, StepAction, Suite, render_diagnostics};

use crate::exit::{self, CliError};
use crate::suite;
use crate::{ExplainArgs, ListArgs, ValidateArgs};

pub fn list(suite_root: Option<PathBuf>, args: ListArgs) -> Result<u8, CliError> {
    let root = suite::locate(suite_root)?;
    let suite = suite::load_suite(&root)?;
    let reg = regulation(&suite, &args.regulation)?;
    let mut cases: Vec<&Case> = suite
        .cases
        .iter()
        .map(|c| &c.case)
        .filter(|c| c.clauses.contains_key(&args.regulation))
        .collect();
    cases.sort_by_key(|c| clause_key(c, &args.regulation));
    if args.cve {
        return list_cves(&cases, &args);
    }
    if args.json {
        let items: Vec<serde_json::Value> = cases
            .iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.id.get_ref(),
                    "title": c.title,
                    "kind": c.kind.as_str(),
                    "effect": effect_name(c),
                    "clauses": clauses_of(c, &args.regulation),
                    "needs": c.needs.iter().map(|n| n.get_ref()).collect::<Vec<_>>(),
                    "cves": c.cves.iter().map(|cve| cve.id.get_ref()).collect::<Vec<_>>(),
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&items).unwrap_or_default());
        return Ok(exit::PASS);
    }
    outln!("{} — {} cases", reg.id, cases.len());
    let rows: Vec<[String; 5]> = cases
        .iter()
        .map(|c| {
            [
                c.id.get_ref().clone(),
                c.kind.as_str().to_owned(),
                effect_name(c),
                clauses_of(c, &args.regulation).join(","),
                c.title.clone(),
            ]
        })
        .collect();
    for line in aligned(&rows) {
        outln!("{line}");
    }
    Ok(exit::PASS)
}

/// `hopquy list --cve`: one row per (CVE, case), by CVE id, so a lab sees which known
/// vulnerabilities a run checks and how (`effect` says which ones never run by default).
fn list_cves(cases: &[&Case], args: &ListArgs) -> Result<u8, CliError> {
    let mut entries: Vec<(&Case, &hopquy_case::CveEntry)> = cases
        .iter()
        .flat_map(|case| case.cves.iter().map(move |cve| (*case, cve)))
        .collect();
    entries.sort_by(|(a, x), (b, y)| {
        x.id.get_ref()
            .cmp(y.id.get_ref())
            .then(a.id.get_ref().cmp(b.id.get_ref()))
    });
    if args.json {
        let items: Vec<serde_json::Value> = entries
            .iter()
            .map(|(case, cve)| {
                serde_json::json!({
                    "cve": cve.id.get_ref(),
                    "cvss": cve.cvss.get_ref(),
                    "kev": cve.kev,
                    "affected": cve.affected,
                    "url": cve.url.get_ref(),
                    "case": case.id.get_ref(),
                    "effect": effect_name(case),
                    "clauses": clauses_of(case, &args.regulation),
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&items).unwrap_or_default());
        return Ok(exit::PASS);
    }
    outln!("{} — {} known vulnerabilities checked", args.regulation, entries.len());
    let mut rows: Vec<[String; 6]> = vec![[
        "CVE".to_owned(),
        "CVSS".to_owned(),
        "KEV".to_owned(),
        "case".to_owned(),
        "effect".to_owned(),
        "affected".to_owned(),
    ]];
    rows.extend(entries.iter().map(|(case, cve)| {
        [
            cve.id.get_ref().clone(),
            format!("{:.1}", cve.cvss.get_ref()),
            if cve.kev { "yes" } else { "no" }.to_owned(),
            case.id.get_ref().clone(),
            effect_name(case),
            cve.affected.as_deref().map(str::trim).unwrap_or("—").replace('\n', " "),
        ]
    }));
    for line in aligned(&rows) {
        outln!("{line}");
    }
    Ok(exit::PASS)
}

/// Rows as columns padded to their widest cell (in characters), so a long id never pushes
/// its row out of line; the last column is not padded.
pub(crate) fn aligned<const N: usize>(rows: &[[String; N]]) -> Vec<String> {
    let mut widths = [0usize; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .enumerate()
                .map(|(i, (cell, width))| {
                    if i + 1 == N {
                        cell.clone()
                    } else {
                        format!("{cell:<width$}")
                    }
                })
                .collect();
            format!("  {}", cells.join(" ")).trim_end().to_owned()
        })
        .collect()
}

/// What running the case does to the device, as written in case files (`configures`).
fn effect_name(c: &Case) -> String {
    serde_name(&c.effect)
}

/// The name a case file spells an enum value with (`locks-account`, `functional`).
fn serde_name(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub fn explain(suite_root: Option<PathBuf>, args: ExplainArgs) -> Result<u8, CliError> {
    let root = suite::locate(suite_root)?;
    let suite = suite::load_suite(&root)?;
    if let Some(c) = suite.case(&args.what) {
        print_case(&c.case, &c.relative_path);
        return Ok(exit::PASS);
    }
    let reg = regulation(&suite, &args.regulation)?;
    let Some(clause) = reg.clauses.iter().find(|c| c.id == args.what) else {
        let known = suite
            .cases
            .iter()
            .map(|c| c.case.id.get_ref().as_str())
            .chain(reg.clauses.iter().map(|c| c.id.as_str()));
        let hint = hopquy_case::error::did_you_mean(&args.what, known)
            .map(|id| format!("; did you mean `{id}`?"))
            .unwrap_or_default();
        return Err(CliError::Usage(format!(
            "`{}` is neither a case id nor a clause of {}{hint} (try `hopquy list`)",
            args.what, args.regulation
        )));
    };
    outln!("{} {} — {}", reg.id, clause.id, clause.title_en);
    outln!("{}", clause.title_vi);
    outln!();
    outln!("Requirement: {}", clause.requirement);
    outln!(
        "Source confidence: {:?}{}",
        clause.confidence,
        if clause.inferred {
            " (wording inferred from the EN 303 645 mapping; correct it in the catalogue file)"
        } else {
            ""
        }
    );
    if !clause.en303645.is_empty() {
        outln!("EN 303 645: {}", clause.en303645.join(", "));
    }
    if !clause.decision724.is_empty() {
        outln!("Decision 724/QĐ-BTTTT: {}", clause.decision724.join(", "));
    }
    for (other, ids) in &clause.crosswalk {
        outln!("Crosswalk {other}: {}", ids.join(", "));
    }
    let cases: Vec<&Case> = suite
        .cases
        .iter()
        .map(|c| &c.case)
        .filter(|c| {
            c.clauses
                .get(&args.regulation)
                .is_some_and(|v| v.iter().any(|x| x.get_ref() == &clause.id))
        })
        .collect();
    outln!();
    if cases.is_empty() {
        outln!("No case covers this clause yet: a run reports it as not tested, with no evidence.");
    }
    for c in cases {
        outln!("• {} [{}] {}", c.id.get_ref(), c.kind.as_str(), c.title);
        operator_needs(c);
    }
    Ok(exit::PASS)
}

fn print_case(c: &Case, path: &Path) {
    outln!("{} — {}", c.id.get_ref(), c.title);
    outln!("{}", c.title_vi);
    outln!("file: test-cases/{}", path.display());
    outln!(
        "kind: {}, method: {}, effect: {}",
        c.kind.as_str(),
        serde_name(&c.method),
        effect_name(c)
    );
    for (reg, ids) in &c.clauses {
        outln!(
            "clauses ({reg}): {}",
            ids.iter().map(|i| i.get_ref().as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    if !c.needs.is_empty() {
        outln!(
            "needs profile operations: {}",
            c.needs
                .iter()
                .map(|n| n.get_ref().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    outln!();
    outln!("{}", c.summary.trim());
    if let Some(vi) = &c.summary_vi {
        outln!();
        outln!("{}", vi.trim());
    }
    if !c.params.is_empty() {
        outln!();
        outln!("parameters:");
        for (name, p) in &c.params {
            outln!(
                "  {name} = {} {}{}",
                p.default,
                p.declared
                    .as_ref()
                    .map(|d| format!("(overridden by [declared] {})", d.get_ref()))
                    .unwrap_or_default(),
                p.source.as_ref().map(|s| format!(" — {s}")).unwrap_or_default()
            );
        }
    }
    outln!();
    outln!("steps:");
    for s in &c.steps {
        outln!("  {} ({})", s.id.get_ref(), s.name());
        if let Some(surface) = web_surface_note(s) {
            outln!("    runs on: {surface}");
        }
        // The question belongs to the step that asks it, before what is checked of it.
        if let Some(question) = question(s) {
            outln!("{question}");
        }
        for e in &s.expect {
            outln!("    expect {}: {}", e.that.get_ref(), e.because);
        }
    }
}

/// What an operator or document step asks, for the step's own entry in `explain`.
fn question(s: &hopquy_case::Step) -> Option<String> {
    let (answer, prompt) = match s.action.get_ref() {
        StepAction::Operator(operator) => (Some(*operator.answer.get_ref()), &operator.prompt),
        StepAction::Document(document) => (document.answer.as_ref().map(|a| *a.get_ref()), &document.prompt),
        _ => return None,
    };
    Some(format!(
        "    operator supplies ({}): {}",
        answer.map_or("confirm", |a| a.as_str()),
        // A long prompt's later lines stay indented under the step.
        prompt
            .trim()
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join("\n      ")
    ))
}

/// Where a web step's requests go, for `explain`: the surface is found at run time, so the
/// lab reads here how it will be chosen (the bundle says which one was).
fn web_surface_note(step: &hopquy_case::Step) -> Option<String> {
    let (web, port) = match step.action.get_ref() {
        StepAction::WebSurface(_) => {
            return Some(
                "the HTTP and the HTTPS port, each asked without credentials; no redirect is followed".to_owned(),
            );
        }
        StepAction::Http(http) => (true, &http.port),
        StepAction::Onvif(onvif) => (true, &onvif.port),
        StepAction::PasswordPolicy(_) => (true, &None),
        StepAction::Login(LoginStep { target, .. }) | StepAction::Recover(RecoverStep { target, .. }) => (
            matches!(target.surface(), LoginSurface::Http | LoginSurface::Onvif),
            &target.port,
        ),
        _ => (false, &None),
    };
    if !web {
        return None;
    }
    Some(match port {
        Some(port) => format!("the {port} port the step names"),
        None => "the web API surface found for the run: the profile's HTTP port when it serves the request, \
                 else its HTTPS port (when HTTP redirects to HTTPS, refuses or is closed); `[connection] web` \
                 in the target file overrides; results.json `web_surface` and the report say which was used and why"
            .to_owned(),
    })
}

fn operator_needs(c: &Case) {
    if c.kind == CaseKind::Automated {
        return;
    }
    for question in c.steps.iter().filter_map(question) {
        outln!("{question}");
    }
}

pub fn validate(suite_root: Option<PathBuf>, args: ValidateArgs) -> Result<u8, CliError> {
    let mut diags = Vec::new();
    let mut checked = 0usize;
    if args.paths.is_empty() {
        let root = suite::locate(suite_root)?;
        // Suite::load checks the cases against the catalogue itself.
        let (suite, d) = Suite::load(root.join("test-cases"));
        diags.extend(d);
        checked += suite.cases.len() + suite.regulations.len();
        for entry in std::fs::read_dir(root.join("profiles"))
            .map_err(CliError::io("reading profiles/"))?
            .flatten()
        {
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "toml") {
                checked += 1;
                if let Err(d) = hopquy_case::load_profile(&p.to_string_lossy(), root.join("profiles")) {
                    diags.extend(d);
                }
            }
        }
        let table = root.join(hopquy_case::identify::FINGERPRINTS_FILE);
        if table.is_file() {
            checked += 1;
            if let Err(d) = hopquy_case::identify::load_fingerprints(&table, &suite::profile_names(&root)) {
                diags.extend(d);
            }
        }
    } else {
        let root = suite::locate(suite_root).ok();
        for p in &args.paths {
            checked += 1;
            diags.extend(validate_path(p, root.as_deref()));
        }
    }
    if diags.is_empty() {
        outln!("ok: {checked} files valid");
        Ok(exit::PASS)
    } else {
        Err(CliError::Input(render_diagnostics(&diags)))
    }
}

/// Guess a file's kind from where it lives and what it holds.
fn validate_path(p: &Path, root: Option<&Path>) -> Vec<hopquy_case::Diagnostic> {
    if p.is_dir() {
        let (_, d) = Suite::load(p);
        return d;
    }
    let text = std::fs::read_to_string(p).unwrap_or_default();
    let in_dir = |name: &str| p.components().any(|c| c.as_os_str() == name);
    // The suite a lone case or answers file is checked against: the catalogue's clauses,
    // the cases' step ids. Its own problems are reported by validating the suite.
    let suite = || root.map(|r| Suite::load(r.join("test-cases")).0);
    let result = if in_dir("identify") && in_dir("profiles") {
        let names = root.map(suite::profile_names).unwrap_or_default();
        hopquy_case::identify::load_fingerprints(p, &names).map(|_| ())
    } else if in_dir("profiles") {
        let profiles = root
            .map(|r| r.join("profiles"))
            .unwrap_or_else(|| PathBuf::from("profiles"));
        hopquy_case::load_profile(&p.to_string_lossy(), profiles).map(|_| ())
    } else if in_dir("regulations") {
        hopquy_case::load_regulation(p).map(|_| ())
    } else if text.contains("[connection]") {
        // Offline: the password variable is looked up only when a run needs it.
        hopquy_case::check_target_file(p).and_then(|target| {
            if let Some(var) = &target.target.credentials.password_env
                && std::env::var_os(var).is_none()
            {
                errln!(
                    "note: {}: `{var}` is not set here; `hopquy run` will need it",
                    p.display()
                );
            }
            match root {
                Some(root) => crate::suite::resolve_profile(root, &target).map(|_| ()),
                None => Ok(()),
            }
        })
    } else if text.contains("[[answer]]") {
        match suite() {
            Some(suite) => {
                let cases: Vec<&Case> = suite.cases.iter().map(|loaded| &loaded.case).collect();
                hopquy_case::load_answers_for(p, &cases).map(|_| ())
            }
            None => hopquy_case::load_answers(p).map(|_| ()),
        }
    } else {
        hopquy_case::load_case(p).and_then(|loaded| match suite() {
            Some(suite) if !suite.regulations.is_empty() => {
                let d = hopquy_case::validate_against_catalogue(std::slice::from_ref(&loaded), &suite.regulations);
                if d.is_empty() { Ok(()) } else { Err(d) }
            }
            _ => Ok(()),
        })
    };
    result.err().unwrap_or_default()
}

pub(crate) fn regulation<'s>(suite: &'s Suite, id: &str) -> Result<&'s hopquy_case::Regulation, CliError> {
    suite.regulation(id).map(|r| &r.regulation).ok_or_else(|| {
        let known: Vec<&str> = suite.regulations.iter().map(|r| r.regulation.id.as_str()).collect();
        CliError::Usage(format!("unknown regulation `{id}`; known: {}", known.join(", ")))
    })
}

fn clauses_of(c: &Case, reg: &str) -> Vec<String> {
    c.clauses
        .get(reg)
        .map(|v| v.iter().map(|s| s.get_ref().clone()).collect())
        .unwrap_or_default()
}

fn clause_key(c: &Case, reg: &str) -> (Vec<u32>, String) {
    let first = clauses_of(c, reg).into_iter().next().unwrap_or_default();
    (
        first.split('.').filter_map(|p| p.parse().ok()).collect(),
        c.id.get_ref().clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_columns_stay_aligned_for_long_ids() {
        let row = |id: &str, kind: &str, title: &str| {
            [
                id.to_owned(),
                kind.to_owned(),
                "reads".to_owned(),
                "2.1.1".to_owned(),
                title.to_owned(),
            ]
        };
        let lines = aligned(&[
            row("a-rather-long-case-identifier-beyond-34-chars", "automated", "First"),
            row("short", "document", "Second"),
            row("vừa-phải", "operator", "Third"),
        ]);
        let column = |line: &str, word: &str| line.find(word).map(|at| line[..at].chars().count());
        let kinds: Vec<Option<usize>> = lines
            .iter()
            .zip(["automated", "document", "operator"])
            .map(|(l, k)| column(l, k))
            .collect();
        assert!(kinds.iter().all(|k| *k == kinds[0] && k.is_some()), "{lines:#?}");
        let titles: Vec<Option<usize>> = lines
            .iter()
            .zip(["First", "Second", "Third"])
            .map(|(l, t)| column(l, t))
            .collect();
        assert!(titles.iter().all(|t| *t == titles[0]), "{lines:#?}");
    }
}
