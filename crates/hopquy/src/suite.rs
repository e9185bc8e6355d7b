//! Finding and loading the definitions a run uses: suite, catalogue, profile, target.

use std::path::{Path, PathBuf};

use hopquy_case::{LoadedTarget, ResolvedProfile, Suite, render_diagnostics};
use hopquy_runner::RunInput;

use crate::exit::CliError;

/// The directory holding `test-cases/` and `profiles/`: `--suite`/`$HOPQUY_SUITE`, else the
/// current directory or one of its parents, else next to the executable, else the source
/// tree it was built from.
pub fn locate(explicit: Option<PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(p) = explicit {
        return if p.join("test-cases").is_dir() || p.ends_with("test-cases") {
            Ok(if p.ends_with("test-cases") {
                p.parent().map(Path::to_path_buf).unwrap_or(p)
            } else {
                p
            })
        } else {
            Err(CliError::Usage(format!(
                "{} holds no test-cases/ directory",
                p.display()
            )))
        };
    }
    let mut candidates = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        candidates.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    candidates.push(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")));
    candidates
        .into_iter()
        .find(|c| c.join("test-cases").is_dir() && c.join("profiles").is_dir())
        .ok_or_else(|| {
            CliError::Usage("cannot find the test suite (test-cases/ and profiles/); pass --suite DIR".into())
        })
}

pub fn load_suite(root: &Path) -> Result<Suite, CliError> {
    let (suite, diags) = Suite::load(root.join("test-cases"));
    if !diags.is_empty() {
        return Err(CliError::Input(render_diagnostics(&diags)));
    }
    Ok(suite)
}

pub fn load_target(path: &Path) -> Result<LoadedTarget, CliError> {
    hopquy_case::load_target(path).map_err(|d| CliError::Input(render_diagnostics(&d)))
}

/// A target file for what sends nothing (`plan`, `answers template`): its password
/// variable need not be set.
pub fn load_target_offline(path: &Path) -> Result<LoadedTarget, CliError> {
    hopquy_case::load::check_target_file(path).map_err(|d| CliError::Input(render_diagnostics(&d)))
}

pub fn load_profile(root: &Path, target: &LoadedTarget) -> Result<ResolvedProfile, CliError> {
    resolve_profile(root, target).map_err(|d| CliError::Input(render_diagnostics(&d)))
}

/// The target's profile, or why not; a profile that does not exist is reported at the
/// target file's `profile =` line, where the mistake is.
pub fn resolve_profile(root: &Path, target: &LoadedTarget) -> Result<ResolvedProfile, Vec<hopquy_case::Diagnostic>> {
    let name = target.target.connection.profile.get_ref();
    // A relative profile path is relative to the target file, like every path a lab writes.
    let name = if name.contains('/') || name.ends_with(".toml") {
        let p = Path::new(name.as_str());
        if p.is_absolute() {
            name.clone()
        } else {
            target
                .path
                .parent()
                .unwrap_or(Path::new("."))
                .join(p)
                .to_string_lossy()
                .into_owned()
        }
    } else {
        name.clone()
    };
    hopquy_case::load_profile(&name, root.join("profiles")).map_err(|mut d| {
        if d.first()
            .is_some_and(|first| first.message.starts_with("profile `") && first.message.ends_with("` not found"))
        {
            let first = d.remove(0);
            d.insert(0, target.at_profile_line(first));
        }
        d
    })
}

/// Assemble the runner's input from loaded definitions.
pub fn run_input(
    suite: &Suite,
    regulation: &str,
    profile: &ResolvedProfile,
    target: &LoadedTarget,
) -> Result<RunInput, CliError> {
    RunInput::from_definitions(suite, regulation, profile, target).map_err(|e| CliError::Usage(e.to_string()))
}

/// The profile names in `root/profiles/` (the fingerprint table's directory is not one).
pub fn profile_names(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("profiles"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.is_file() && p.extension().is_some_and(|x| x == "toml"))
                .then(|| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .flatten()
        })
        .collect();
    names.sort();
    names
}

/// Whether the target asks for its profile to be identified (`profile = "auto"`).
pub fn wants_identification(target: &LoadedTarget) -> bool {
    target.target.connection.profile.get_ref() == hopquy_case::identify::AUTO_PROFILE
}

/// What `profile = "auto"` found: the profile to run with (none: unidentified), how it was
/// chosen, and the exchanges that chose it (for `identify/exchanges.jsonl`).
pub struct Identified {
    pub profile: Option<ResolvedProfile>,
    pub found: hopquy_evidence::ProfileIdentified,
    pub exchanges: Vec<serde_json::Value>,
}

/// Identifies the target's profile from the device's answers with the suite's fingerprint
/// table (checked first: a bad table contacts nothing).
pub async fn identify_profile(root: &Path, target: &LoadedTarget) -> Result<Identified, CliError> {
    let names = profile_names(root);
    let table = hopquy_case::identify::load_fingerprints(&root.join(hopquy_case::identify::FINGERPRINTS_FILE), &names)
        .map_err(|d| CliError::Input(render_diagnostics(&d)))?;
    let mut ancestors = std::collections::BTreeMap::new();
    for name in &names {
        let resolved = hopquy_case::load_profile(name, root.join("profiles"))
            .map_err(|d| CliError::Input(render_diagnostics(&d)))?;
        ancestors.insert(
            name.clone(),
            resolved
                .chain
                .iter()
                .skip(1)
                .map(|s| s.name.clone())
                .collect::<Vec<_>>(),
        );
    }
    let (mut found, exchanges) = hopquy_runner::identify::identify_target(target, &table, &ancestors).await;
    found.exchanges = Some(hopquy_evidence::paths::IDENTIFY_EXCHANGES_FILE.to_owned());
    let profile = match &found.profile {
        Some(name) => Some(
            hopquy_case::load_profile(name, root.join("profiles"))
                .map_err(|d| CliError::Input(render_diagnostics(&d)))?,
        ),
        None => None,
    };
    Ok(Identified {
        profile,
        found,
        exchanges,
    })
}
