//! `cargo xtask codegen [--check]`: generated docs (case reference, clause coverage matrix,
//! JSON schemas). `cargo xtask test`: everything CI checks, in the order that fails fastest.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod fleet;

use hopquy_case::{ACTIONS, COMMON_KEYS, CaseKind, EXPECT_OPERATORS, Suite, render_diagnostics};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    let result = match args.first().map(String::as_str) {
        Some("codegen") => codegen(&root, args.iter().any(|a| a == "--check")),
        Some("test") => test(&root),
        Some("bench") => bench(&root, &args[1..]),
        _ => Err("usage: cargo xtask codegen [--check] | cargo xtask test | cargo xtask bench [NAME…] | cargo xtask bench fleet [--devices N,N…] [--concurrency N] [--loss PCT] [--no-nmap]".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn test(root: &Path) -> Result<(), String> {
    run(root, "cargo", &["fmt", "--all", "--", "--check"])?;
    codegen(root, true)?;
    run(
        root,
        "cargo",
        &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"],
    )?;
    // Benchmarks are not tests: `cargo xtask bench` runs them (clippy above still compiles them).
    run(root, "cargo", &["test", "--workspace"])?;
    Ok(())
}

/// Every probe benchmark (each times hopquy and the peer tool side by side on one loopback
/// server), or the named ones; `suite` (a full run against the simulated camera beside the
/// waits its lockout forces, minutes long) and `firmware` (a 50 MiB image through the release
/// CLI beside binwalk/unblob) only when named. Results go to stdout;
/// docs/benchmarks.md records them. `fleet` (a simulated fleet audited beside nmap; its own
/// options follow it) only when named, alone.
fn bench(root: &Path, names: &[String]) -> Result<(), String> {
    if names.first().map(String::as_str) == Some("fleet") {
        return fleet::bench(root, &names[1..]);
    }
    const ALL: &[&str] = &["ports", "tls", "ssh", "rtsp", "onvif"];
    let chosen: Vec<&str> = if names.is_empty() {
        ALL.to_vec()
    } else {
        names.iter().map(String::as_str).collect()
    };
    for name in chosen {
        if name == "suite" {
            run(root, "cargo", &["bench", "-p", "hopquy", "--bench", "suite"])?;
            continue;
        }
        if name == "firmware" {
            // The bench runs the release CLI as a lab would, beside binwalk/unblob.
            run(root, "cargo", &["build", "--release", "-p", "hopquy"])?;
            run(
                root,
                "cargo",
                &["bench", "-p", "hopquy-firmware", "--bench", "firmware"],
            )?;
            continue;
        }
        if !ALL.contains(&name) {
            return Err(format!(
                "unknown benchmark `{name}`; known: {}, suite, firmware, fleet",
                ALL.join(", ")
            ));
        }
        run(root, "cargo", &["bench", "-p", "hopquy-probe", "--bench", name])?;
    }
    Ok(())
}

pub(crate) fn run(root: &Path, program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

/// Every generated file: (path relative to the root, content).
fn generated(root: &Path) -> Result<Vec<(String, String)>, String> {
    let (suite, diags) = Suite::load(root.join("test-cases"));
    if !diags.is_empty() {
        return Err(format!("the suite does not load:\n{}", render_diagnostics(&diags)));
    }
    let mut files = vec![
        ("docs/case-reference.md".to_owned(), case_reference()),
        ("docs/coverage.md".to_owned(), coverage(&suite)),
    ];
    for (name, schema) in hopquy_case::json_schemas() {
        files.push((format!("docs/schemas/{name}.schema.json"), pretty(&schema)));
    }
    for action in hopquy_case::ACTIONS {
        files.push((
            format!("docs/schemas/observations/{}.schema.json", action.name),
            pretty(&(action.observation_schema)().to_value()),
        ));
    }
    files.push((
        "docs/schemas/results.schema.json".to_owned(),
        pretty(&schemars::schema_for!(hopquy_evidence::Results).to_value()),
    ));
    files.push((
        "docs/schemas/event.schema.json".to_owned(),
        pretty(&schemars::schema_for!(hopquy_evidence::Event).to_value()),
    ));
    files.push((
        "docs/schemas/firmware-report.schema.json".to_owned(),
        pretty(&schemars::schema_for!(hopquy_firmware::FirmwareReport).to_value()),
    ));
    Ok(files)
}

fn pretty(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

fn codegen(root: &Path, check: bool) -> Result<(), String> {
    let mut stale = Vec::new();
    for (rel, content) in generated(root)? {
        let path = root.join(&rel);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == content {
            continue;
        }
        if check {
            stale.push(rel);
        } else {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            std::fs::write(&path, content).map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!("updated {rel}");
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "generated files are stale: {}\nrun `cargo xtask codegen` and commit the result",
            stale.join(", ")
        ))
    }
}

const HEADER: &str = "<!-- Generated by `cargo xtask codegen`; do not edit. -->\n\n";

fn case_reference() -> String {
    let mut s = String::from(HEADER);
    s.push_str("# Case reference: step actions\n\n");
    s.push_str("Every step has `id` and `action`; the keys below are what each action accepts. ");
    s.push_str("See [case-format.md](case-format.md) for the file layout, templates and verdict rules.\n\n");
    s.push_str("## Keys every step accepts\n\n| key | required | meaning |\n|---|---|---|\n");
    for p in COMMON_KEYS {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} |",
            p.name,
            if p.required { "yes" } else { "no" },
            p.description
        );
    }
    s.push_str("\n## Expectation operators\n\n");
    s.push_str("Each `[[steps.expect]]` has `that` (an observation path), exactly one of: ");
    s.push_str(
        &EXPECT_OPERATORS
            .iter()
            .map(|o| format!("`{o}`"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    s.push_str(", `because` (required) and optionally `otherwise` (`fail` by default, `inconclusive`, `not_applicable`, `error`).\n");
    for a in ACTIONS {
        let _ = writeln!(s, "\n## `{}`\n\n{}\n", a.name, a.description);
        if !a.params.is_empty() {
            s.push_str("| parameter | required | meaning |\n|---|---|---|\n");
            for p in a.params {
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {} |",
                    p.name,
                    if p.required { "yes" } else { "no" },
                    p.description
                );
            }
        }
        if !a.rules.is_empty() {
            s.push('\n');
            for r in a.rules {
                let _ = writeln!(s, "- {r}");
            }
        }
        if !a.observations.is_empty() {
            let _ = writeln!(
                s,
                "\nObservations (JSON Schema: [schemas/observations/{0}.schema.json](schemas/observations/{0}.schema.json)):",
                a.name
            );
            s.push_str("\n| observation | meaning |\n|---|---|\n");
            for o in a.observations {
                let _ = writeln!(s, "| `{}` | {} |", o.name, o.description());
            }
        }
    }
    s
}

fn coverage(suite: &Suite) -> String {
    let mut s = String::from(HEADER);
    s.push_str("# Clause coverage\n\n");
    s.push_str("For each regulation, every clause with the cases that test it. *automated* cases need no person; ");
    s.push_str("*operator* cases pause for a person to act, then check; *document* cases record reviewed evidence. ");
    s.push_str("A clause without a case is reported `not_applicable` with no evidence: that is a gap, not a pass.\n");
    for reg in &suite.regulations {
        let r = &reg.regulation;
        let _ = writeln!(
            s,
            "\n## {} — {}{}\n",
            r.id,
            r.title_en,
            if r.provisional { " (provisional catalogue)" } else { "" }
        );
        let covered = r
            .clauses
            .iter()
            .filter(|cl| suite.cases.iter().any(|c| maps(&c.case, &r.id, &cl.id)))
            .count();
        let automated = r
            .clauses
            .iter()
            .filter(|cl| {
                suite
                    .cases
                    .iter()
                    .any(|c| c.case.kind == CaseKind::Automated && maps(&c.case, &r.id, &cl.id))
            })
            .count();
        let _ = writeln!(
            s,
            "{} clauses; {covered} with at least one case, {automated} with an automated case.\n",
            r.clauses.len()
        );
        s.push_str("| clause | title | confidence | cases | kinds | automated |\n|---|---|---|---|---|---|\n");
        for cl in &r.clauses {
            let cases: Vec<&hopquy_case::Case> = suite
                .cases
                .iter()
                .map(|c| &c.case)
                .filter(|c| maps(c, &r.id, &cl.id))
                .collect();
            let ids = cases
                .iter()
                .map(|c| format!("`{}`", c.id.get_ref()))
                .collect::<Vec<_>>()
                .join("<br>");
            let mut kinds: Vec<&str> = cases.iter().map(|c| c.kind.as_str()).collect();
            kinds.sort_unstable();
            kinds.dedup();
            let auto = cases.iter().any(|c| c.kind == CaseKind::Automated);
            let _ = writeln!(
                s,
                "| {} | {} | {:?}{} | {} | {} | {} |",
                cl.id,
                cl.title_en.replace('|', "\\|"),
                cl.confidence,
                if cl.inferred { " (inferred)" } else { "" },
                if ids.is_empty() { "—".into() } else { ids },
                if kinds.is_empty() {
                    "—".into()
                } else {
                    kinds.join(", ")
                },
                if auto { "yes" } else { "no" }
            );
        }
    }
    s
}

fn maps(c: &hopquy_case::Case, reg: &str, clause: &str) -> bool {
    c.clauses
        .get(reg)
        .is_some_and(|v| v.iter().any(|x| x.get_ref() == clause))
}
